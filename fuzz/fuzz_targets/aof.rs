//! Fuzz target `aof`: the reader of the Go `aof` package's files (tail and checkpoint magics,
//! zero fill; docs/FORMAT.md) on arbitrary bytes. The analysis agrees with the package's
//! `RecoverWithMagic` as written here (outcome, Tail, Checkpoint); the data up to the logical end
//! is one segment ending with its magic; detection agrees with the rule written here (a magic at
//! the end; or the shape a crash leaves: a page, zeros where the tail magic goes, no other
//! format's signature, a Redis file's start among them; or a finished file with less than 512
//! bytes of junk after it); `verify`
//! sums it up; `recover` (with and without force) zero-fills from verify's `valid_end`, keeps the
//! size, puts the overwritten bytes in the sidecar and leaves a file the package reads as tail,
//! checkpoint or empty; a second recover changes nothing; detection never panics.
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

/// `RecoverWithMagic`, by hand: (outcome, Checkpoint, Tail, one past the last non-zero byte).
fn package(data: &[u8]) -> (Outcome, Option<usize>, usize, usize) {
    // Words are read back from the end: the first len % 8 bytes of a file of a page or more are
    // never looked at (a smaller file is grown to a page first).
    let unseen = if data.len() >= 4096 {
        data.len() % 8
    } else {
        0
    };
    let nz = data[unseen..]
        .iter()
        .rposition(|b| *b != 0)
        .map_or(0, |i| unseen + i + 1);
    // A checkpoint magic that starts after offset 0 and ends at or before `end`.
    let search = |end: usize| {
        (1..=end.saturating_sub(8))
            .rev()
            .find(|&c| data[c..c + 8] == CHECKPOINT)
    };
    if nz == 0 {
        (Outcome::Empty, None, 0, 0)
    } else if nz >= 8 && data[nz - 8..nz] == TAIL {
        (Outcome::Tail, search(nz - 8), nz - 8, nz)
    } else if nz >= 8 && data[nz - 8..nz] == CHECKPOINT {
        (Outcome::Checkpoint, Some(nz - 8), nz, nz)
    } else if let Some(c) = search(nz - 1).filter(|_| nz >= 8) {
        (Outcome::Torn, Some(c), c + 8, nz)
    } else {
        (Outcome::Corrupted, None, nz, nz)
    }
}

/// Whether the file carries the signature of another format (the policy table of aof.rs: a
/// list of well-known formats, not logic to check), or starts as a Redis file (the rule,
/// written in `foreign::redis_reference`).
fn other_format(data: &[u8]) -> bool {
    aof::SIGNATURES
        .iter()
        .any(|(at, sig)| data.get(*at..*at + sig.len()) == Some(*sig))
        || foreign::redis_reference(&data[..data.len().min(aof::HEAD)])
}

/// Check one input. The first byte picks a shape: 0x01 end with zero padding to a 4 KiB page
/// (the shape a crash leaves); the rest is the file.
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

    let (outcome, checkpoint, tail, nz) = package(data);
    let a = aof::analyse(
        &std::fs::File::open(&path).expect("open"),
        data.len() as u64,
    )
    .expect("analyse");
    assert_eq!(
        (a.outcome, a.checkpoint, a.reported_tail, a.nonzero_end),
        (
            outcome,
            checkpoint.map(|c| c as u64),
            tail as u64,
            nz as u64
        ),
        "the package's recovery"
    );
    let end = match outcome {
        Outcome::Tail | Outcome::Checkpoint | Outcome::Torn => tail,
        Outcome::Empty | Outcome::Corrupted => 0,
    };
    assert_eq!(a.logical_end, end as u64);

    // Detection: a format detected first, an aof by the rule, or nothing.
    let crashed = data.len() >= 4096 && data.len() - nz >= 8 && !other_format(data);
    let aof_like = match outcome {
        Outcome::Tail | Outcome::Checkpoint => true,
        Outcome::Empty => false,
        Outcome::Torn => crashed || (nz - tail < 512 && !other_format(data)),
        Outcome::Corrupted => crashed,
    };
    // (A file that starts like a native log is one, damaged header or not.)
    let magic = &durable::log::format::FILE_MAGIC;
    let native = !data.is_empty() && data[..data.len().min(8)] == magic[..data.len().min(8)];
    match foreign::detect(&path) {
        Some(LogFormat::Aof) => assert!(aof_like, "detected as aof against the rule"),
        None if !native => assert!(!aof_like, "an aof by the rule, not detected"),
        _ => {}
    }

    let (items, v) = foreign::check_verify(&path, LogFormat::Aof, data);
    // One segment from 0 to the magic the data ends with.
    let records = foreign::records(&items);
    match outcome {
        Outcome::Tail | Outcome::Checkpoint | Outcome::Torn => {
            let magic = if outcome == Outcome::Tail {
                tail
            } else {
                tail - 8
            };
            assert_eq!(records.len(), 1, "one segment");
            let r = records[0];
            assert_eq!(
                (r.offset, r.data, r.len, r.end),
                (0, 0, magic as u64, magic as u64 + 8)
            );
        }
        Outcome::Empty | Outcome::Corrupted => assert!(records.is_empty(), "no segment"),
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
