//! Shared by every fuzz target and by the `cargo test` replay of committed inputs
//! (tests/integration/fuzz_regressions.rs, which includes this directory with `#[path]`): the
//! allocation guard, scratch directories on tmpfs, a byte reader for structure-aware inputs,
//! byte-level mutations, the native log's builder, reference reader and checks, and the open
//! bugs a fuzz run skips.
//!
//! Only `std` and `durable` (and `durable`'s own dependencies) are used here, so the same
//! source compiles inside the main crate's integration tests without libFuzzer.

// Each target uses a different part of this module.
#![allow(dead_code)]

pub mod alloc;
pub mod cursor;
pub mod foreign;
pub mod known;
pub mod mutate;
pub mod native;
pub mod scratch;

/// Run `f` again while it fails only because the file is locked. Nothing else locks our scratch
/// files, but under `cargo test` other tests spawn processes, and a child forked while `f` held
/// its `flock` keeps the lock until it `exec`s. Never needed under libFuzzer (one thread).
pub fn retry_in_use<T>(mut f: impl FnMut() -> durable::Result<T>) -> durable::Result<T> {
    for _ in 0..200 {
        match f() {
            Err(durable::Error::InUse { .. } | durable::Error::Busy { .. }) => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            other => return other,
        }
    }
    f()
}

/// The bytes a sidecar of `durable recover` keeps: everything before its trailer, whose length
/// is the little-endian u32 16 bytes from the end (docs/FORMAT.md, "Sidecars").
pub fn sidecar_data(sidecar: &[u8]) -> &[u8] {
    assert!(sidecar.len() >= 16, "a sidecar of {} bytes", sidecar.len());
    let at = sidecar.len() - 16;
    let trailer = u32::from_le_bytes(sidecar[at..at + 4].try_into().unwrap()) as usize;
    &sidecar[..sidecar.len() - trailer]
}

/// Where the bytes a sidecar keeps were in the log: the trailer's offset field (8 bytes into
/// the trailer).
pub fn sidecar_offset(sidecar: &[u8]) -> u64 {
    let kept = sidecar_data(sidecar).len();
    u64::from_le_bytes(sidecar[kept + 8..kept + 16].try_into().unwrap())
}

/// The records of a scan.
pub fn records(items: &[durable::log::Item]) -> Vec<durable::log::Record> {
    items
        .iter()
        .filter_map(|i| match i {
            durable::log::Item::Record(r) => Some(*r),
            _ => None,
        })
        .collect()
}

/// The defects of a scan.
pub fn defects(items: &[durable::log::Item]) -> Vec<durable::log::Defect> {
    items
        .iter()
        .filter_map(|i| match i {
            durable::log::Item::Defect(d) => Some(*d),
            _ => None,
        })
        .collect()
}
