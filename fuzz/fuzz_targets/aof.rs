//! Fuzz target `aof`: the reader of the Go `aof` package's files (tail and checkpoint magics,
//! zero fill; docs/FORMAT.md) on arbitrary bytes. The analysis agrees with the package's rule
//! (the last non-zero 8 bytes, else the last checkpoint) as checked here; segments are the
//! file's bytes up to the logical end, split at checkpoint magics; `verify` sums them up;
//! `recover` (with and without force) zero-fills from verify's `valid_end`, keeps the size,
//! puts the overwritten bytes in the sidecar and leaves a file the package reads as tail or
//! checkpoint; a second recover changes nothing; detection never panics.
#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
#[path = "../common/mod.rs"]
mod common;
#[cfg(test)]
use super::common;

use durable::log::aof::{self, CHECKPOINT, Outcome, TAIL};
use durable::log::{Item, LogFormat};

use common::foreign;

#[cfg(not(test))]
libfuzzer_sys::fuzz_target!(|data: &[u8]| check(data));

/// Check one input. The first byte picks a shape: 0x01 end with zero padding to a 4 KiB page
/// (preallocated-looking, so a torn file is detected); the rest is the file.
pub fn check(data: &[u8]) {
    let (flags, rest) = data.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
    let mut bytes = rest.to_vec();
    if flags & 1 != 0 {
        bytes.resize(bytes.len().div_ceil(4096).max(1) * 4096, 0);
    }
    let data = &bytes[..];
    let dir = common::scratch::Scratch::new();
    let path = dir.write("fuzz.aof", data);
    let _armed = common::alloc::arm(data.len());
    let _ = foreign::detect(&path);

    // The package's rule, by hand.
    let nz = data.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    let last_cp = memchr::memmem::rfind(&data[..nz], &CHECKPOINT);
    let (outcome, end) = if nz == 0 {
        (Outcome::Empty, 0)
    } else if nz >= 8 && data[nz - 8..nz] == TAIL {
        (Outcome::Tail, nz - 8)
    } else if nz >= 8 && data[nz - 8..nz] == CHECKPOINT {
        (Outcome::Checkpoint, nz)
    } else if let Some(c) = last_cp {
        (Outcome::Torn, c + 8)
    } else {
        (Outcome::Corrupted, 0)
    };
    let a = aof::analyse(
        &std::fs::File::open(&path).expect("open"),
        data.len() as u64,
    )
    .expect("analyse");
    assert_eq!(
        (a.outcome, a.logical_end, a.nonzero_end),
        (outcome, end as u64, nz as u64)
    );

    let (items, v) = foreign::check_verify(&path, LogFormat::Aof, data);
    // Segments: back to back from 0 to the logical end, split after each checkpoint magic.
    let mut at = 0u64;
    for r in foreign::records(&items) {
        assert_eq!(r.offset, at, "segments back to back");
        let seg = &data[r.data as usize..][..r.len as usize];
        assert!(
            memchr::memmem::find(seg, &CHECKPOINT).is_none(),
            "a checkpoint inside a segment"
        );
        at = r.end;
    }
    // The last segment ends at the logical end, with the tail magic after it.
    let tail = if outcome == Outcome::Tail { 8 } else { 0 };
    if outcome != Outcome::Corrupted {
        assert_eq!(at, end as u64 + tail, "segments end at the logical end");
    }
    assert!(
        items
            .iter()
            .filter(|i| matches!(i, Item::Defect(_)))
            .count()
            <= 1
    );
    foreign::check_recover(&[("fuzz.aof", data)], LogFormat::Aof, &v, &items);
}
