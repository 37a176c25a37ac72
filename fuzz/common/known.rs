//! Bugs the fuzzer has found that are not fixed yet. While fuzzing, an input that hits one is
//! skipped, so that a run goes on to find other bugs instead of the same one again; in
//! `cargo test` nothing is skipped, and each bug's inputs sit in
//! tests/fuzz_regressions/<target>/open/ with an ignored test that names it. Fixing a bug:
//! delete its function here, move its inputs up out of `open/`, delete the ignored test.
//! `DURABLE_FUZZ_ALL_BUGS=1` turns the skipping off.

use std::sync::OnceLock;

use super::native::Model;

/// Whether inputs that hit a known bug are skipped (while fuzzing, unless told otherwise).
fn skipping() -> bool {
    static SKIP: OnceLock<bool> = OnceLock::new();
    *SKIP.get_or_init(|| !cfg!(test) && std::env::var_os("DURABLE_FUZZ_ALL_BUGS").is_none())
}

/// The open bug a native log hits, if any (and if skipping is on), recognised from the
/// reference's reading of it: a shape of damage, met reading on from some defect, that the
/// library reads otherwise than docs/FORMAT.md.
pub fn native_log(model: &Model) -> Option<&'static str> {
    if !skipping() {
        return None;
    }
    let mut shapes = model.defects().map(|d| d.verdict.shapes);
    shapes.find_map(|s| {
        if s.zeros_in_valid_record {
            Some("a valid record with a wrong sequence number and an all-zero sector is torn")
        } else if s.zeros_to_next_record {
            Some("zeros up to a valid record in the same sector are torn")
        } else if s.short_zeros_to_boundary {
            Some("fewer than 4 zero bytes up to a sector boundary are not torn")
        } else {
            None
        }
    })
}
