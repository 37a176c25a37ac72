//! The one integration-test binary (it links once, which keeps `cargo test` fast). Each module
//! tests one area through the real `durable` binary.

mod common;

mod cli;
mod explore;
mod fault_injection;
mod formats;
mod fuzz_regressions;
mod header_lost;
mod limits;
mod linking;
mod log;
mod log_end;
mod log_props;
mod output;
mod progress;
mod recover;
mod recover_boot;
mod save;
mod save_crash_points;
mod save_refusals;
mod save_syscalls;
mod storm;
mod strace_parse;
mod streams;
mod verify_parallel;
