//! Bugs the fuzzer has found that are not fixed yet. While fuzzing, an input that hits one is
//! skipped, so that a run goes on to find other bugs instead of the same one again; in
//! `cargo test` nothing is skipped, and each bug's inputs sit in
//! tests/fuzz_regressions/<target>/open/ with an ignored test that names it. Fixing a bug:
//! delete its function here, move its inputs up out of `open/`, delete the ignored test.
//! `DURABLE_FUZZ_ALL_BUGS=1` turns the skipping off.

use std::sync::OnceLock;

use durable::log::format::FileHeader;

use super::native::{magics, record_at};

/// Whether inputs that hit a known bug are skipped (while fuzzing, unless told otherwise).
fn skipping() -> bool {
    static SKIP: OnceLock<bool> = OnceLock::new();
    *SKIP.get_or_init(|| !cfg!(test) && std::env::var_os("DURABLE_FUZZ_ALL_BUGS").is_none())
}

/// The open bug a native log hits, if any (and if skipping is on).
pub fn native_log(data: &[u8], header: &FileHeader) -> Option<&'static str> {
    if !skipping() {
        return None;
    }
    sequence_overflow(data, header).then_some("sequence-overflow")
}

/// A valid record with sequence number `u64::MAX`: the scanner (scan.rs, `next_seq = seq + 1`
/// after accepting it, reached through resync), `last_records` (`seq + 1` when walking back
/// over it) and `log append` (`first_seq = last.seq + 1`) overflow. Debug builds panic;
/// release builds wrap to 0. Inputs: tests/fuzz_regressions/native_log*/open/seq-overflow-*.
fn sequence_overflow(data: &[u8], header: &FileHeader) -> bool {
    magics(data, 0).any(|at| record_at(data, header, at).is_ok_and(|(rh, _, _)| rh.seq == u64::MAX))
}
