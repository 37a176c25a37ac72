//! Fuzz target `native_log`: the native log reader on arbitrary bytes. The input is the whole
//! file; `log::native::open`, the forward scan (Stop and Resync), `last_records(n)`, `verify` and scans
//! started mid-file must not panic, must keep allocations bounded, and must agree with the
//! reference reader of docs/FORMAT.md (`common::native::check_log`).
#![cfg_attr(not(test), no_main)]

// The fuzz binary includes the shared code itself; the `cargo test` replay
// (tests/integration/fuzz_regressions.rs) includes this file as a module (`cfg(test)`), and
// the shared code once for all targets.
#[cfg(not(test))]
#[path = "../common/mod.rs"]
mod common;
#[cfg(test)]
use super::common;

#[cfg(not(test))]
libfuzzer_sys::fuzz_target!(|data: &[u8]| check(data));

/// Check one input.
pub fn check(data: &[u8]) {
    let dir = common::scratch::Scratch::new();
    let path = dir.write("fuzz.log", data);
    let _armed = common::alloc::arm(data.len());
    common::native::check_log(data, &path);
}
