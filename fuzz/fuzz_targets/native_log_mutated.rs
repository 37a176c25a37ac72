//! Fuzz target `native_log_mutated`: the checks of `native_log` on logs built from the input
//! rather than taken from it: appends of one or more valid records, flagged first and last as
//! `log append` flags them (CRC-32 or SHA-256, one over the 1 MiB window, record images inside
//! payloads) with fuzz-chosen damage (headers with a valid CRC and hostile fields or flags,
//! re-sequenced and replayed records and appends, a whole later append, a torn append, bit
//! flips, truncation, zero-fill, splices, zeroed sectors, cuts inside an append, append marks
//! out of order), written as a sparse file (pages of zeros are holes). Raw bytes almost never
//! get a checksum right; these inputs get past every check into resync and the rule for where
//! a log ends.
#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
#[path = "../common/mod.rs"]
mod common;
#[cfg(test)]
use super::common;

#[cfg(not(test))]
libfuzzer_sys::fuzz_target!(|data: &[u8]| check(data));

/// Check one input.
pub fn check(data: &[u8]) {
    let built = common::native::build(&mut common::cursor::Cursor::new(data));
    // To see what a recipe builds: DURABLE_FUZZ_DUMP=FILE ./target/debug/native_log_mutated RECIPE
    if let Some(out) = std::env::var_os("DURABLE_FUZZ_DUMP") {
        std::fs::write(out, &built.bytes).expect("write DURABLE_FUZZ_DUMP");
    }
    let dir = common::scratch::Scratch::new();
    // Sparse: pages of zeros (zero-fill, zero payloads, zeroed sectors) are holes, which the
    // scanner skips rather than reads.
    let path = dir.write_sparse("fuzz.log", &built.bytes);
    let _armed = common::alloc::arm(built.bytes.len());
    common::native::check_log(&built.bytes, &path);
}
