//! Bugs the fuzzer has found that are not fixed yet. While fuzzing, an input that hits one is
//! skipped, so that a run goes on to find other bugs instead of the same one again; in
//! `cargo test` nothing is skipped, and each bug's inputs sit in
//! tests/fuzz_regressions/<target>/open/ with an ignored test that names it. Fixing a bug:
//! delete its function here, move its inputs up out of `open/`, delete the ignored test.
//! `DURABLE_FUZZ_ALL_BUGS=1` turns the skipping off.

use std::sync::OnceLock;

use durable::log::format::FileHeader;

/// Whether inputs that hit a known bug are skipped (while fuzzing, unless told otherwise).
fn skipping() -> bool {
    static SKIP: OnceLock<bool> = OnceLock::new();
    *SKIP.get_or_init(|| !cfg!(test) && std::env::var_os("DURABLE_FUZZ_ALL_BUGS").is_none())
}

/// The open bug a native log hits, if any (and if skipping is on). None is open now; the last
/// one, a record with sequence number `u64::MAX` overflowing `seq + 1`, was fixed by making
/// such a header bad-length (tests/fuzz_regressions/native_log*/seq-overflow-*).
pub fn native_log(_data: &[u8], _header: &FileHeader) -> Option<&'static str> {
    if !skipping() {
        return None;
    }
    None
}
