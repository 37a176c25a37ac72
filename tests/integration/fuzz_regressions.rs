//! The fuzz targets' checks, run on committed inputs by every `cargo test` (no libFuzzer): each
//! file under tests/fuzz_regressions/<target>/ goes through the same `check` that
//! fuzz/fuzz_targets/<target>.rs runs under libFuzzer (those files, and the code they share in
//! fuzz/common/, are included here as modules), allocation guard included. A crash the fuzzer
//! found is committed there, so the fix stays fixed; the seeds there keep the checks themselves
//! from rotting. Inputs that still fail sit in <target>/open/, each with an ignored test below
//! that names the bug. See fuzz/README.md.

use std::path::{Path, PathBuf};

#[path = "../../fuzz/common/mod.rs"]
mod common;

#[path = "../../fuzz/fuzz_targets/aof.rs"]
mod aof;
#[path = "../../fuzz/fuzz_targets/journal.rs"]
mod journal;
#[path = "../../fuzz/fuzz_targets/lines.rs"]
mod lines;
#[path = "../../fuzz/fuzz_targets/native_log.rs"]
mod native_log;
#[path = "../../fuzz/fuzz_targets/native_log_mutated.rs"]
mod native_log_mutated;
#[path = "../../fuzz/fuzz_targets/proglog.rs"]
mod proglog;
#[path = "../../fuzz/fuzz_targets/recover_agree.rs"]
mod recover_agree;

fn inputs_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target)
}

/// Run `check` on one committed input, turning a panic into a message naming the file.
fn run_one(path: &Path, check: fn(&[u8])) -> Result<(), String> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    std::panic::catch_unwind(|| check(&data)).map_err(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        format!("{}: {why}", path.display())
    })
}

/// Run `check` on every input committed for `target` (not those in `open/`).
fn replay(target: &str, check: fn(&[u8])) {
    let dir = inputs_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|e| e.expect("list").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no inputs committed in {}",
        dir.display()
    );
    let failed: Vec<String> = files
        .iter()
        .filter_map(|f| run_one(f, check).err())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} inputs fail:\n{}",
        failed.len(),
        files.len(),
        failed.join("\n")
    );
}

/// Run `check` on the input `name` in `<target>/open/` (a bug not fixed yet).
#[allow(dead_code)] // Used only while a bug is open.
fn replay_open(target: &str, name: &str, check: fn(&[u8])) {
    let path = inputs_dir(target).join("open").join(name);
    if let Err(failure) = run_one(&path, check) {
        panic!("{failure}");
    }
}

#[test]
fn native_log_inputs() {
    replay("native_log", native_log::check);
}

#[test]
fn native_log_mutated_inputs() {
    replay("native_log_mutated", native_log_mutated::check);
}

#[test]
fn recover_agree_inputs() {
    replay("recover_agree", recover_agree::check);
}

#[test]
fn journal_inputs() {
    replay("journal", journal::check);
}

#[test]
fn lines_inputs() {
    replay("lines", lines::check);
}

#[test]
fn proglog_inputs() {
    replay("proglog", proglog::check);
}

#[test]
fn aof_inputs() {
    replay("aof", aof::check);
}

#[test]
fn the_allocation_guard_is_the_global_allocator() {
    // If it were not installed, every check above would pass without bounding anything.
    let armed = common::alloc::arm(100);
    let buf = vec![1u8; 5000];
    assert!(
        armed.largest() >= 5000,
        "the guard did not see a 5000-byte allocation"
    );
    assert_eq!(
        armed.limit(),
        common::alloc::WINDOW + 200 + common::alloc::SLACK
    );
    drop(buf);
}

// Open bugs (fuzz/common/known.rs): none now. An open bug's inputs sit in <target>/open/, each
// with a test like this one, so that `cargo test -- --ignored` shows them failing:
//
// #[test]
// #[ignore = "open bug: what goes wrong"]
// fn open_what_goes_wrong() {
//     replay_open("native_log", "the-input", native_log::check);
// }
