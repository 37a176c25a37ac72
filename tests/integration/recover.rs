//! `durable recover` and `durable log salvage` through the real binary: a torn tail cut at every
//! possible point (sidecar + log == the damaged file, idempotent), corruption before the tail
//! (refused, forced, salvaged), a crash or an I/O error at each step of a recovery (converges to
//! the uninterrupted result), a directory tree of every kind of file, `--dry-run`, the order of
//! the system calls (strace), a log locked by an appender, and bad inputs.
//!
//! The byte layout the tests parse (docs/FORMAT.md): a 64-byte file header; each record is a
//! 24-byte header (magic `D5 'R' 'E' 'C'`, …, u32 LE payload length at bytes 8..12, …), the
//! payload, and a trailer of 8 bytes plus the checksum (4 bytes for CRC-32, the default).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::{
    self, Cases, Durable, Env, assert_one_line_error, changes, durable_path, fault_switch, run, s,
    snapshot,
};
use crate::log::{append_each, json_lines, verify_json};

/// Length of the native log's file header.
const HEADER: usize = 64;

/// Five records of different lengths.
const PAYLOADS: [&str; 5] = [
    "first",
    "second record",
    "3",
    "fourth, a somewhat longer record payload",
    "fifth",
];

/// The steps of recovering a torn tail with a sidecar, in order (the first time: the sidecar
/// directory is created too).
const RECOVER_STEPS: [&str; 10] = [
    "create-dir",
    "create-temp",
    "write-temp",
    "metadata",
    "sync-temp",
    "close-temp",
    "rename",
    "sync-dir",
    "truncate",
    "sync-log",
];

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Create the log `rel` holding `payloads`, one append per record (each is then a whole append,
/// the evidence that damage before it is corruption rather than a torn tail: docs/FORMAT.md);
/// its bytes.
fn make_log(env: &Env, rel: &str, payloads: &[&str]) -> Vec<u8> {
    let log = env.path(rel);
    if let Some(parent) = log.parent() {
        fs::create_dir_all(parent).expect("create parent");
    }
    append_each(env, &log, payloads);
    fs::read(&log).expect("read the new log")
}

/// The (start, end) of each record of a valid CRC-32 log, parsed from the bytes by the
/// documented layout (independently of durable's reader).
fn layout(bytes: &[u8]) -> Vec<(usize, usize)> {
    assert_eq!(bytes[10], 1, "the tests build CRC-32 logs");
    crate::log::layout(bytes)
}

/// Assert that `path` verifies clean with exactly `records` records and `bytes` bytes.
fn assert_clean(env: &Env, path: &Path, records: usize, bytes: usize, case: &str) {
    let (code, v) = verify_json(env, path);
    assert_eq!(code, 0, "{case}: {path:?} does not verify clean: {v}");
    assert_eq!(v["status"], "clean", "{case}: {v}");
    assert_eq!(v["records"], records, "{case}: record count: {v}");
    assert_eq!(v["bytes"], bytes, "{case}: size: {v}");
}

/// The sidecar of `log` cut at `offset`.
fn sidecar(log: &Path, offset: usize) -> PathBuf {
    common::sidecar_path(log, offset as u64)
}

/// The bytes a sidecar keeps, if it exists.
fn sidecar_bytes(side: &Path) -> std::io::Result<Vec<u8>> {
    let bytes = fs::read(side)?;
    if !bytes.ends_with(b"\x89DSID\r\n\x1a") {
        return Err(std::io::Error::other("not a sidecar"));
    }
    Ok(common::parse_sidecar(&bytes).0)
}

/// Names of our temporary files under `root`.
fn temps(root: &Path) -> Vec<String> {
    snapshot(root, false)
        .into_keys()
        .filter(|n| n.ends_with(".durable-tmp"))
        .collect()
}

/// The bound on a run that must not wait (a FIFO opened for reading): a hang fails the case
/// instead of the suite.
const BOUND: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// 1. A torn tail at every cut point
// ---------------------------------------------------------------------------------------------

// Guards: torn tail cut at the prefix end, log + sidecar == damaged, rerun and clean log no-ops.
#[test]
fn torn_tail_at_every_cut_point_is_cut_with_a_sidecar_and_idempotent() {
    let test = "recover::torn_tail_at_every_cut_point_is_cut_with_a_sidecar_and_idempotent";
    let env = Env::new();
    let full = make_log(&env, "original.log", &PAYLOADS);
    let bounds: Vec<usize> = std::iter::once(HEADER)
        .chain(layout(&full).into_iter().map(|(_, end)| end))
        .collect();
    assert_eq!(bounds.len(), 6, "five records");
    let mut cases = Cases::default();
    for len in HEADER + 1..full.len() {
        if bounds.contains(&len) {
            continue;
        }
        cases.check(|| {
            let case = format!("{test}: log cut to {len} of {} bytes", full.len());
            let damaged = &full[..len];
            let valid_end = *bounds.iter().rfind(|&&b| b <= len).expect("a boundary");
            let records = bounds.iter().filter(|&&b| b > HEADER && b <= len).count();

            let dir = env.path(&format!("cut-{len}"));
            fs::create_dir(&dir).expect("mkdir");
            let log = dir.join("log");
            fs::write(&log, damaged).expect("write damaged log");
            let r = run(&env, &["recover", s(&log)], b"");
            assert_eq!(r.code, 0, "{case}: {}", r.show());
            let kept = fs::read(&log).expect("read log");
            let side = sidecar_bytes(&sidecar(&log, valid_end)).unwrap_or_else(|e| {
                panic!(
                    "{case}: no sidecar {:?}: {e}; {}",
                    sidecar(&log, valid_end),
                    r.show()
                )
            });
            assert_eq!(
                kept.len(),
                valid_end,
                "{case}: cut at the wrong offset (valid prefix ends at {valid_end})"
            );
            assert_eq!(
                [kept.as_slice(), side.as_slice()].concat(),
                damaged,
                "{case}: log + sidecar must be the damaged file"
            );
            assert_clean(&env, &log, records, valid_end, &case);
            let names = snapshot(&dir, false);
            assert_eq!(
                names.keys().collect::<Vec<_>>(),
                [
                    ".durable-recovered".to_string(),
                    format!(".durable-recovered/log.{valid_end}.durable-sidecar"),
                    "log".to_string()
                ]
                .iter()
                .collect::<Vec<_>>(),
                "{case}: only the log and its sidecar"
            );

            // A second run: clean, changes nothing, writes no new sidecar.
            let again = run(&env, &["recover", s(&log)], b"");
            assert_eq!(again.code, 0, "{case}: second run: {}", again.show());
            assert!(
                again.out().contains("clean"),
                "{case}: second run should report clean: {}",
                again.show()
            );
            assert_eq!(
                changes(&names, &snapshot(&dir, false)),
                Vec::<String>::new(),
                "{case}: the second run changed something"
            );

            // --no-backup: the same cut, no sidecar.
            let nb_dir = env.path(&format!("nb-{len}"));
            fs::create_dir(&nb_dir).expect("mkdir");
            let nb = nb_dir.join("log");
            fs::write(&nb, damaged).expect("write damaged log");
            let r = run(&env, &["recover", "--no-backup", s(&nb)], b"");
            assert_eq!(r.code, 0, "{case}: --no-backup: {}", r.show());
            assert_eq!(
                fs::read(&nb).expect("read"),
                &damaged[..valid_end],
                "{case}: --no-backup cut"
            );
            assert_eq!(
                snapshot(&nb_dir, false).into_keys().collect::<Vec<_>>(),
                ["log"],
                "{case}: --no-backup left a sidecar or something else"
            );
        });
    }
    // Record boundaries (a header-only log included): clean, nothing written.
    for &len in &bounds {
        cases.check(|| {
            let case = format!("{test}: log of {len} bytes (a record boundary)");
            let dir = env.path(&format!("whole-{len}"));
            fs::create_dir(&dir).expect("mkdir");
            let log = dir.join("log");
            fs::write(&log, &full[..len]).expect("write log");
            let before = snapshot(&dir, true);
            let r = run(&env, &["recover", s(&log)], b"");
            assert_eq!(r.code, 0, "{case}: {}", r.show());
            assert!(r.out().contains("clean"), "{case}: {}", r.show());
            assert_eq!(
                changes(&before, &snapshot(&dir, true)),
                Vec::<String>::new(),
                "{case}: a clean log was changed"
            );
        });
    }
    cases.assert_all_passed(test);
}

// ---------------------------------------------------------------------------------------------
// 2. Corruption before the tail
// ---------------------------------------------------------------------------------------------

/// Make `rel` a 5-record log with a byte of the 2nd record's payload flipped: (its bytes, the
/// extents of the records).
fn corrupt_log(env: &Env, rel: &str) -> (Vec<u8>, Vec<(usize, usize)>) {
    let mut damaged = make_log(env, rel, &PAYLOADS);
    let records = layout(&damaged);
    damaged[records[1].0 + 24 + 2] ^= 0x20;
    fs::write(env.path(rel), &damaged).expect("write corrupt log");
    (damaged, records)
}

// Guards: mid-log damage refused (exit 3), --force keeps all removed bytes, salvage is exact.
#[test]
fn corruption_before_the_tail_is_refused_forced_or_salvaged() {
    let env = Env::new();
    let (damaged, records) = corrupt_log(&env, "c.log");
    let damage = records[1].0;
    let log = env.path("c.log");

    // Refused.
    let before = snapshot(env.dir.path(), true);
    let r = run(&env, &["recover", "c.log"], b"");
    assert_eq!(r.code, 3, "{}", r.show());
    assert!(
        r.out().contains(&format!("offset {damage}")),
        "the report should name the damage offset {damage}: {}",
        r.show()
    );
    assert!(
        r.out().contains("3 valid records"),
        "the report should count the 3 valid records after the damage: {}",
        r.show()
    );
    assert_eq!(
        changes(&before, &snapshot(env.dir.path(), true)),
        Vec::<String>::new(),
        "a refused recover changed something (or wrote a sidecar)"
    );

    // Salvage into a new log.
    let r = run(&env, &["log", "salvage", "c.log", "s.log"], b"");
    assert_eq!(r.code, 0, "salvage: {}", r.show());
    assert_eq!(
        fs::read(&log).expect("read"),
        damaged,
        "salvage changed SRC"
    );
    assert_clean(
        &env,
        &env.path("s.log"),
        4,
        fs::metadata(env.path("s.log")).expect("stat").len() as usize,
        "salvaged log",
    );
    let dump = run(&env, &["log", "dump", "--format", "json", "s.log"], b"");
    assert_eq!(dump.code, 0, "dump: {}", dump.show());
    let got: Vec<String> = json_lines(&dump.stdout)
        .iter()
        .map(|v| crate::common::data_text(&v["payload"]))
        .collect();
    assert_eq!(
        got,
        [PAYLOADS[0], PAYLOADS[2], PAYLOADS[3], PAYLOADS[4]],
        "salvaged payloads"
    );
    let skipped = records[1].1 - records[1].0;
    assert!(
        r.out()
            .contains(&format!("skipped {skipped} bytes at offset {damage}")),
        "the salvage report should list the skipped region ({skipped} bytes at {damage}): {}",
        r.show()
    );

    // Salvage onto an existing DST: refused, DST unchanged.
    let dst = env.write("exists.log", b"precious, not a log\n");
    let r = run(&env, &["log", "salvage", "c.log", "exists.log"], b"");
    assert_eq!(r.code, 2, "salvage over an existing file: {}", r.show());
    assert_eq!(fs::read(&dst).expect("read"), b"precious, not a log\n");
    assert_eq!(
        fs::read(&log).expect("read"),
        damaged,
        "salvage changed SRC"
    );
    assert_eq!(temps(env.dir.path()), Vec::<String>::new(), "temp left");

    // --force: cut at the damage, everything removed kept.
    let r = run(&env, &["recover", "--force", "c.log"], b"");
    assert_eq!(r.code, 0, "--force: {}", r.show());
    let kept = fs::read(&log).expect("read");
    let side = sidecar_bytes(&sidecar(&log, damage)).expect("--force writes a sidecar");
    assert_eq!(kept.len(), damage, "--force cuts at the damage");
    assert_eq!(
        [kept, side].concat(),
        damaged,
        "log + sidecar == the file before --force"
    );
    assert_clean(&env, &log, 1, damage, "--force");
}

// ---------------------------------------------------------------------------------------------
// 3. Crashes and errors inside recover
// ---------------------------------------------------------------------------------------------

/// The damaged file of the crash tests (5 records, cut inside the 4th), the end of its valid
/// prefix, and the result of an uninterrupted recover: (log, sidecar, names).
struct Reference {
    damaged: Vec<u8>,
    valid_end: usize,
    log: Vec<u8>,
    sidecar: Vec<u8>,
    names: Vec<String>,
}

fn reference() -> Reference {
    let env = Env::new();
    let full = make_log(&env, "full", &PAYLOADS);
    let records = layout(&full);
    let damaged = full[..records[3].0 + 30].to_vec();
    let valid_end = records[2].1;
    fs::remove_file(env.path("full")).expect("rm");
    let log = env.write("log", &damaged);
    let r = run(&env, &["recover", "log"], b"");
    assert_eq!(r.code, 0, "uninterrupted recover: {}", r.show());
    Reference {
        log: fs::read(&log).expect("read"),
        sidecar: sidecar_bytes(&sidecar(&log, valid_end)).expect("reference sidecar"),
        names: env.names(),
        damaged,
        valid_end,
    }
}

// Guards: a crash after any recover step loses no record; rerunning converges to the same result.
#[test]
fn crash_after_any_recover_step_converges_to_the_uninterrupted_result() {
    let test = "recover::crash_after_any_recover_step_converges_to_the_uninterrupted_result";
    if !fault_switch(test) {
        return;
    }
    let want = reference();
    let mut cases = Cases::default();
    for (i, step) in RECOVER_STEPS.iter().enumerate() {
        cases.check(|| {
            let case = format!("{test}: crash after {step}");
            let env = Env::new();
            let log = env.write("log", &want.damaged);
            let side = sidecar(&log, want.valid_end);
            let out = Durable::new(env.dir.path())
                .args(&["recover", "log"])
                .fault(&format!("{step}:crash"))
                .stdin(b"")
                .run();
            assert_eq!(
                out.status.signal(),
                Some(libc::SIGABRT),
                "{case}: expected an abort right after the step: {}",
                out.show()
            );
            // No valid record lost; the log is the damaged file or already cut.
            let truncated = i >= RECOVER_STEPS.iter().position(|s| *s == "truncate").unwrap();
            let now = fs::read(&log).expect("read");
            assert_eq!(
                now,
                if truncated {
                    &want.damaged[..want.valid_end]
                } else {
                    &want.damaged[..]
                },
                "{case}: the log after the crash"
            );
            let (_, v) = verify_json(&env, &log);
            assert_eq!(
                v["records"], 3,
                "{case}: valid records after the crash: {v}"
            );
            let renamed = i >= RECOVER_STEPS.iter().position(|s| *s == "rename").unwrap();
            if renamed {
                assert_eq!(
                    sidecar_bytes(&side).ok(),
                    Some(want.sidecar.clone()),
                    "{case}: the sidecar after the crash"
                );
            }
            let left = temps(env.dir.path());
            let made = i
                >= RECOVER_STEPS
                    .iter()
                    .position(|s| *s == "create-temp")
                    .unwrap();
            assert_eq!(
                left.len(),
                usize::from(made && !renamed),
                "{case}: the crash leaves the sidecar's temp until it is renamed: {left:?}"
            );

            // Recover the log again, without faults.
            let r = run(&env, &["recover", "log"], b"");
            assert_eq!(r.code, 0, "{case}: second run: {}", r.show());
            assert_eq!(fs::read(&log).expect("read"), want.log, "{case}: final log");
            assert_eq!(
                sidecar_bytes(&side).ok(),
                Some(want.sidecar.clone()),
                "{case}: final sidecar"
            );
            // Writing the sidecar again removes the temp a crash left before its rename (the
            // same sidecar's, held open by no process), wherever the sidecar directory is.
            assert_eq!(
                temps(env.dir.path()),
                Vec::<String>::new(),
                "{case}: the rerun left the crash's temp"
            );
            let r = run(&env, &["recover", "."], b"");
            assert_eq!(r.code, 0, "{case}: recover DIR: {}", r.show());
            assert_eq!(
                temps(env.dir.path()),
                Vec::<String>::new(),
                "{case}: `recover DIR` must remove the stale temp: {}",
                r.show()
            );
            assert_eq!(env.names(), want.names, "{case}: final names");
            assert_eq!(fs::read(&log).expect("read"), want.log, "{case}: final log");
            assert_eq!(
                sidecar_bytes(&side).expect("read"),
                want.sidecar,
                "{case}: final sidecar"
            );
        });
    }
    cases.assert_all_passed(test);
}

// Guards: EIO in any recover step exits 2 (4 unflushed cut), leaves a valid log, rerun converges.
#[test]
fn error_in_any_recover_step_exits_2_or_4_and_converges() {
    let test = "recover::error_in_any_recover_step_exits_2_or_4_and_converges";
    if !fault_switch(test) {
        return;
    }
    let want = reference();
    let mut cases = Cases::default();
    for step in RECOVER_STEPS {
        cases.check(|| {
            let case = format!("{test}: EIO in {step}");
            let env = Env::new();
            let log = env.write("log", &want.damaged);
            let out = Durable::new(env.dir.path())
                .args(&["recover", "log"])
                .fault(&format!("{step}:eio"))
                .stdin(b"")
                .run();
            let expected = if step == "sync-log" { 4 } else { 2 };
            assert_eq!(out.code, expected, "{case}: {}", out.show());
            assert!(
                out.stderr.contains("could not") && out.stderr.lines().count() == 1,
                "{case}: one \"could not …\" line: {}",
                out.show()
            );
            let now = fs::read(&log).expect("read");
            assert!(
                now == want.damaged || now == want.log,
                "{case}: the log is neither the damaged file nor its valid prefix"
            );
            let (code, v) = verify_json(&env, &log);
            assert!(
                code == 0 || code == 1,
                "{case}: the log must still verify (clean or torn): {v}"
            );
            assert_eq!(v["records"], 3, "{case}: valid records: {v}");
            assert_eq!(
                temps(env.dir.path()),
                Vec::<String>::new(),
                "{case}: a failed step left a temp"
            );
            let r = run(&env, &["recover", "log"], b"");
            assert_eq!(r.code, 0, "{case}: second run: {}", r.show());
            assert_eq!(env.names(), want.names, "{case}: final names");
            assert_eq!(fs::read(&log).expect("read"), want.log, "{case}: final log");
            assert_eq!(
                sidecar_bytes(&sidecar(&log, want.valid_end)).expect("read"),
                want.sidecar,
                "{case}: final sidecar"
            );
        });
    }
    cases.assert_all_passed(test);
}

// ---------------------------------------------------------------------------------------------
// 4 and 5. A directory tree
// ---------------------------------------------------------------------------------------------

const JOURNAL_CONTENT: &[u8] = b"T's new content, from the journal\n";
const T_OLD: &[u8] = b"T's old content\n";
const U_CONTENT: &[u8] = b"U must stay as it is\n";
const HELD: &str = ".h.fedcba9876543210.durable-tmp";
const STALE: [&str; 2] = [
    ".x.0123456789abcdef.durable-tmp",
    "sub/.y.0123456789abcdef.durable-tmp",
];
const UNRELATED: [&str; 4] = ["notes.txt", "sub/old.bak", ".x.durable-tmp", "empty"];

/// A tree `tree/` (with `tree/sub/`) holding one file of every kind recover meets.
struct Tree {
    root: PathBuf,
    torn_valid_end: usize,
    torn_damaged: Vec<u8>,
    _holder: common::Holder,
}

fn build_tree(env: &Env) -> Tree {
    let root = env.path("tree");
    fs::create_dir_all(root.join("sub")).expect("mkdir tree/sub");
    make_log(env, "tree/clean.log", &PAYLOADS[..2]);
    let full = make_log(env, "tree/sub/torn.log", &PAYLOADS);
    let records = layout(&full);
    let torn_damaged = full[..records[4].0 + 10].to_vec();
    fs::write(root.join("sub/torn.log"), &torn_damaged).expect("tear");
    corrupt_log(env, "tree/sub/corrupt.log");
    // A valid journal: a journaled save killed once its journal is durable.
    fs::write(root.join("T"), T_OLD).expect("write T");
    let out = Durable::new(&root)
        .args(&["save", "--strategy", "journal", "T"])
        .fault("sync-dir-journal:crash")
        .stdin(JOURNAL_CONTENT)
        .run();
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "setup: journaled save crash: {}",
        out.show()
    );
    let journal = fs::read(root.join(".T.durable-journal")).expect("setup: a journal is left");
    assert_eq!(
        &journal[64..],
        JOURNAL_CONTENT,
        "setup: the journal's content"
    );
    assert_eq!(fs::read(root.join("T")).expect("read T"), T_OLD, "setup: T");
    // An invalid journal next to an existing target.
    fs::write(root.join("sub/U"), U_CONTENT).expect("write U");
    let garbage: Vec<u8> = (0..200u32).map(|i| (i * 37 + 11) as u8).collect();
    fs::write(root.join("sub/.U.durable-journal"), garbage).expect("write bad journal");
    for stale in STALE {
        fs::write(root.join(stale), b"stale temp of an interrupted save").expect("write temp");
    }
    fs::write(root.join(HELD), b"a save in progress").expect("write held temp");
    let holder = common::Holder::spawn(&root.join(HELD));
    fs::write(root.join("notes.txt"), b"some notes\n").expect("write");
    fs::write(root.join("sub/old.bak"), b"a backup\n").expect("write");
    fs::write(root.join(".x.durable-tmp"), b"not our pattern\n").expect("write");
    fs::write(root.join("empty"), b"").expect("write");
    Tree {
        root,
        torn_valid_end: records[4].0,
        torn_damaged,
        _holder: holder,
    }
}

// Guards: `recover DIR` handles each kind of file as documented and leaves the others identical.
#[test]
fn recover_directory_handles_each_kind_and_nothing_else() {
    let env = Env::new();
    let tree = build_tree(&env);
    let root = &tree.root;
    let before = snapshot(root, false);
    let r = run(&env, &["recover", "tree"], b"");
    assert_eq!(
        r.code,
        3,
        "the corrupt log is refused, so exit 3: {}",
        r.show()
    );
    let after = snapshot(root, false);

    // The torn log: cut, with its sidecar.
    let torn = root.join("sub/torn.log");
    let kept = fs::read(&torn).expect("read torn log");
    let side = sidecar_bytes(&sidecar(&torn, tree.torn_valid_end)).expect("the torn log's sidecar");
    assert_eq!(
        kept.len(),
        tree.torn_valid_end,
        "torn log cut: {}",
        r.show()
    );
    assert_eq!([kept, side].concat(), tree.torn_damaged, "log + sidecar");
    // The valid journal: completed.
    assert_eq!(
        fs::read(root.join("T")).expect("read T"),
        JOURNAL_CONTENT,
        "T completed from its journal: {}",
        r.show()
    );
    assert!(
        !root.join(".T.durable-journal").exists(),
        "journal of T left"
    );
    // A journal name without our header: not provably ours, so left alone, with the reason.
    assert_eq!(fs::read(root.join("sub/U")).expect("read U"), U_CONTENT);
    assert!(
        root.join("sub/.U.durable-journal").exists(),
        "a journal that is not ours was removed"
    );
    let stdout = r.out();
    let line = stdout
        .lines()
        .find(|l| l.contains(".U.durable-journal"))
        .unwrap_or_else(|| panic!("no report line for the look-alike journal: {}", r.show()));
    assert!(
        line.contains("untouched") && line.contains("journal header"),
        "the report should say why it was left alone: {line:?}"
    );
    // Temps.
    for stale in STALE {
        assert!(
            !root.join(stale).exists(),
            "stale temp {stale} not removed: {}",
            r.show()
        );
    }
    assert!(root.join(HELD).exists(), "the temp held open was removed");
    let held_line = stdout
        .lines()
        .find(|l| l.contains(HELD))
        .unwrap_or_else(|| panic!("no report line for the held temp: {}", r.show()));
    assert!(
        held_line.contains("in use") || held_line.contains("open"),
        "the report should say the temp is in use: {held_line:?}"
    );
    // Everything else byte-identical; nothing else appeared or went away.
    let changed: Vec<String> = changes(&before, &after);
    let mut expected = vec![
        ".T.durable-journal".to_string(),
        STALE[0].to_string(),
        STALE[1].to_string(),
        "T".to_string(),
        "sub/.durable-recovered".to_string(),
        format!(
            "sub/.durable-recovered/torn.log.{}.durable-sidecar",
            tree.torn_valid_end
        ),
        "sub/torn.log".to_string(),
    ];
    expected.sort();
    let mut changed_names: Vec<String> = changed
        .iter()
        .map(|c| c.split(':').next().expect("name").to_string())
        .collect();
    changed_names.sort();
    assert_eq!(
        changed_names, expected,
        "exactly these names may change; all changes: {changed:#?}"
    );
    for name in UNRELATED.iter().chain(&[
        "sub/corrupt.log",
        "clean.log",
        HELD,
        "sub/U",
        "sub/.U.durable-journal",
    ]) {
        assert_eq!(before.get(*name), after.get(*name), "{name} changed");
    }
}

// Guards: `recover --json DIR` prints exactly one object per file, each with its outcome.
#[test]
fn recover_directory_json_has_one_object_per_file() {
    let env = Env::new();
    let tree = build_tree(&env);
    let r = run(&env, &["recover", "--json", "tree"], b"");
    assert_eq!(r.code, 3, "{}", r.show());
    let mut got: BTreeMap<String, (String, String)> = BTreeMap::new();
    for v in json_lines(&r.stdout) {
        let path = crate::common::data_text(&v["path"]);
        let kind = v["kind"].as_str().unwrap_or("?").to_string();
        let outcome = v["outcome"].as_str().expect("outcome").to_string();
        assert!(
            got.insert(path.clone(), (kind, outcome)).is_none(),
            "{path} reported twice: {}",
            r.out()
        );
    }
    let mut want: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut put = |p: &str, k: &str, o: &str| {
        want.insert(format!("tree/{p}"), (k.to_string(), o.to_string()));
    };
    put("T", "journal", "completed");
    put("sub/.U.durable-journal", "journal", "untouched");
    put("sub/U", "other", "untouched");
    put(STALE[0], "temp", "removed");
    put(STALE[1], "temp", "removed");
    put(HELD, "temp", "in-use");
    put("clean.log", "log", "clean");
    put("sub/torn.log", "log", "truncated");
    put("sub/corrupt.log", "log", "refused");
    for u in UNRELATED {
        put(u, "other", "untouched");
    }
    assert_eq!(got, want, "one object per file: {}", r.out());
    let torn = json_lines(&r.stdout)
        .into_iter()
        .find(|v| v["path"] == crate::common::json_path("tree/sub/torn.log"))
        .expect("torn log object");
    assert_eq!(torn["bytes_kept"], tree.torn_valid_end, "{torn}");
    assert_eq!(
        torn["sidecar"],
        crate::common::json_path(format!(
            "tree/sub/.durable-recovered/torn.log.{}.durable-sidecar",
            tree.torn_valid_end
        )),
        "{torn}"
    );
    let corrupt = json_lines(&r.stdout)
        .into_iter()
        .find(|v| v["path"] == crate::common::json_path("tree/sub/corrupt.log"))
        .expect("corrupt log object");
    assert_eq!(corrupt["exit_code"], 3, "{corrupt}");
}

// Guards: --dry-run changes nothing (names, contents, mtimes), exits 3 or 1, and says "would".
#[test]
fn dry_run_changes_nothing() {
    let env = Env::new();
    let tree = build_tree(&env);
    let before = snapshot(&tree.root, true);
    let r = run(&env, &["recover", "--dry-run", "tree"], b"");
    assert_eq!(r.code, 3, "{}", r.show());
    assert!(r.out().contains("would"), "{}", r.show());
    assert_eq!(
        changes(&before, &snapshot(&tree.root, true)),
        Vec::<String>::new(),
        "--dry-run changed the tree"
    );

    let only = env.path("only");
    fs::create_dir(&only).expect("mkdir");
    let full = make_log(&env, "only/torn.log", &PAYLOADS);
    fs::write(only.join("torn.log"), &full[..full.len() - 3]).expect("tear");
    let before = snapshot(&only, true);
    let r = run(&env, &["recover", "--dry-run", "only"], b"");
    assert_eq!(r.code, 1, "a torn tail only: {}", r.show());
    assert!(r.out().contains("would"), "{}", r.show());
    assert_eq!(
        changes(&before, &snapshot(&only, true)),
        Vec::<String>::new(),
        "--dry-run changed the torn log's directory"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. The order of the system calls
// ---------------------------------------------------------------------------------------------

// Guards: sidecar fsync, rename and dir fsync precede the log's ftruncate, which is then fsynced.
#[test]
fn strace_sidecar_is_durable_before_the_log_is_cut() {
    let test = "recover::strace_sidecar_is_durable_before_the_log_is_cut";
    if !common::have("strace") {
        common::skip(test, "strace is not installed");
        return;
    }
    let env = Env::new();
    let full = make_log(&env, "t.log", &PAYLOADS);
    let records = layout(&full);
    let valid_end = records[3].1;
    fs::write(env.path("t.log"), &full[..valid_end + 7]).expect("tear");
    let dir = fs::canonicalize(env.dir.path()).expect("canonicalize");
    let log = dir.join("t.log");
    let trace = dir.join("trace.out");
    let out = Durable::new(&dir)
        .args(&["recover", s(&log)])
        .wrap(&[
            "strace",
            "-f",
            "-y",
            "-o",
            s(&trace),
            "-e",
            "trace=openat,write,pwrite64,fsync,fdatasync,ftruncate,rename,renameat2,close,mkdir,mkdirat",
        ])
        .run();
    if out.code != 0 && out.stderr.contains("ptrace") {
        common::skip(test, &format!("strace cannot trace here: {}", out.stderr));
        return;
    }
    assert_eq!(out.code, 0, "{}", out.show());
    let text = fs::read_to_string(&trace).expect("read trace");
    // Drop the "PID " prefix of -f -o.
    let lines: Vec<&str> = text
        .lines()
        .map(|l| {
            l.split_once(' ')
                .filter(|(pid, _)| pid.chars().all(|c| c.is_ascii_digit()))
                .map_or(l, |(_, rest)| rest.trim_start())
        })
        .collect();
    let find = |what: &str, from: usize, pred: &dyn Fn(&str) -> bool| -> usize {
        lines
            .iter()
            .enumerate()
            .skip(from)
            .find(|(_, l)| pred(l))
            .map(|(i, _)| i)
            .unwrap_or_else(|| panic!("no {what} in the trace:\n{text}"))
    };
    let is_sync = |l: &str| l.starts_with("fsync(") || l.starts_with("fdatasync(");
    let side_name = format!("t.log.{valid_end}.durable-sidecar");
    let side_dir = dir.join(".durable-recovered");
    // The sidecar directory is created, and its name flushed, before anything goes into it.
    let mkdir = find("mkdir of the sidecar directory", 0, &|l| {
        (l.starts_with("mkdir(") || l.starts_with("mkdirat(")) && l.contains(".durable-recovered\"")
    });
    let parent_sync = find("fsync of the log's directory", mkdir, &|l| {
        is_sync(l) && l.contains(&format!("<{}>)", dir.display()))
    });
    let temp_sync = find("fsync of the sidecar's temp", 0, &|l| {
        is_sync(l) && l.contains(".durable-tmp>") && l.contains(&format!(".{side_name}."))
    });
    let rename = find("rename of the temp to the sidecar", 0, &|l| {
        (l.starts_with("rename(") || l.starts_with("renameat2("))
            && l.contains(".durable-tmp\"")
            && l.contains(&format!("{side_name}\""))
            && l.contains("= 0")
    });
    let dir_sync = find("fsync of the sidecar directory", rename, &|l| {
        is_sync(l) && l.contains(&format!("<{}>)", side_dir.display()))
    });
    let truncate = find("ftruncate of the log", 0, &|l| {
        l.starts_with("ftruncate(") && l.contains(&format!("<{}>", log.display()))
    });
    assert!(
        lines[truncate].contains(&format!(", {valid_end})")),
        "the log is cut at {valid_end}: {}",
        lines[truncate]
    );
    let log_sync = find("fsync of the log after the cut", truncate, &|l| {
        is_sync(l) && l.contains(&format!("<{}>)", log.display()))
    });
    assert!(
        parent_sync < rename
            && temp_sync < rename
            && rename < dir_sync
            && dir_sync < truncate
            && truncate < log_sync,
        "order: mkdir {mkdir}, parent fsync {parent_sync}, temp fsync {temp_sync}, rename \
         {rename}, dir fsync {dir_sync}, ftruncate {truncate}, log fsync {log_sync}:\n{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// 7. A locked log
// ---------------------------------------------------------------------------------------------

// Guards: a log another process holds locked (an appender at work) is never cut.
#[test]
fn locked_log_is_not_touched() {
    let env = Env::new();
    let full = make_log(&env, "locked.log", &PAYLOADS);
    let torn = &full[..full.len() - 5];
    let log = env.write("locked.log", torn);
    let lock = File::options()
        .read(true)
        .write(true)
        .open(&log)
        .expect("open log");
    lock.lock().expect("lock the log");
    let before = snapshot(env.dir.path(), true);
    let r = run(&env, &["recover", "locked.log"], b"");
    assert_eq!(r.code, 2, "{}", r.show());
    assert!(
        r.stderr.contains("in use") && r.stderr.contains("locked.log"),
        "the message should say the log is in use: {}",
        r.show()
    );
    assert_eq!(
        changes(&before, &snapshot(env.dir.path(), true)),
        Vec::<String>::new(),
        "a locked log was touched"
    );
    // Once the lock is gone, the same command recovers it (the refusal was the lock's doing).
    // Unlocked, not only closed: a child another test forks meanwhile holds a copy of the
    // descriptor until it execs, and with it the lock.
    lock.unlock().expect("unlock");
    drop(lock);
    let r = run(&env, &["recover", "locked.log"], b"");
    assert_eq!(r.code, 0, "after unlocking: {}", r.show());
    assert!(fs::read(&log).expect("read").len() < torn.len());
}

// ---------------------------------------------------------------------------------------------
// 8. Bad input
// ---------------------------------------------------------------------------------------------

// Guards: missing path, FIFO (no blocking), device, non-log: exit 2, one line, nothing changed.
#[test]
fn bad_inputs_exit_2_with_one_line_and_change_nothing() {
    let env = Env::new();
    env.write("notes.txt", b"just some text, not a log\n");
    let mkfifo = Command::new("mkfifo")
        .arg(env.path("fifo"))
        .status()
        .expect("run mkfifo");
    assert!(mkfifo.success(), "mkfifo");
    let mut cases = Cases::default();
    for (what, path) in [
        ("a missing path", "missing.log"),
        ("a FIFO", "fifo"),
        ("a device", "/dev/null"),
        ("a file that is not a log", "notes.txt"),
    ] {
        cases.check(|| {
            let before = snapshot(env.dir.path(), true);
            let out = env.cmd(&["recover", path]).no_stdin().bound(BOUND).run();
            assert_one_line_error(&out, &[path], what);
            assert_eq!(
                changes(&before, &snapshot(env.dir.path(), true)),
                Vec::<String>::new(),
                "{what}: something changed"
            );
        });
    }
    cases.assert_all_passed("recover::bad_inputs_exit_2_with_one_line_and_change_nothing");
}

// Guards: a log the user cannot read gets exit 2 and one line naming it, and is not changed.
#[test]
fn unreadable_log_exits_2_and_changes_nothing() {
    let test = "recover::unreadable_log_exits_2_and_changes_nothing";
    if !common::is_root() {
        common::skip(
            test,
            "needs root to run durable as uid 65534 (root bypasses permissions)",
        );
        return;
    }
    let env = Env::new();
    fs::set_permissions(env.dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod dir");
    let full = make_log(&env, "secret.log", &PAYLOADS);
    let log = env.write("secret.log", &full[..full.len() - 4]);
    fs::set_permissions(&log, fs::Permissions::from_mode(0o600)).expect("chmod log");
    let as_nobody = |args: &[&str]| env.cmd(args).user(65534, 65534);
    match as_nobody(&["--version"]).command().output() {
        Ok(o) if o.status.success() => {}
        other => {
            common::skip(
                test,
                &format!("uid 65534 cannot run {:?}: {other:?}", durable_path()),
            );
            return;
        }
    }
    let before = snapshot(env.dir.path(), true);
    let out = as_nobody(&["recover", "secret.log"])
        .no_stdin()
        .bound(BOUND)
        .run();
    assert_one_line_error(&out, &["secret.log"], "an unreadable log");
    assert_eq!(
        changes(&before, &snapshot(env.dir.path(), true)),
        Vec::<String>::new(),
        "an unreadable log: something changed"
    );
}

// ---------------------------------------------------------------------------------------------
// An earlier sidecar
// ---------------------------------------------------------------------------------------------

// Guards: a later cut at the same offset never overwrites the bytes an earlier sidecar kept.
#[test]
fn a_later_cut_at_the_same_offset_keeps_the_earlier_sidecar() {
    let env = Env::new();
    let full = make_log(&env, "l.log", &PAYLOADS);
    let valid_end = layout(&full)[3].1;
    let log = env.write("l.log", &full[..valid_end + 9]);
    let r = run(&env, &["recover", "l.log"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let first = sidecar_bytes(&sidecar(&log, valid_end)).expect("first sidecar");
    // Torn again at the same offset, with other bytes.
    let second_tail = b"\xD5REC another torn append";
    fs::write(&log, [&full[..valid_end], &second_tail[..]].concat()).expect("tear again");
    let r = run(&env, &["recover", "l.log"], b"");
    assert_eq!(
        sidecar_bytes(&sidecar(&log, valid_end)).expect("first sidecar"),
        first,
        "the earlier sidecar was overwritten: the bytes it kept are lost; {}",
        r.show()
    );
    // The new bytes are kept somewhere too (or the log was left alone).
    let kept_somewhere = fs::read(&log).expect("read").ends_with(second_tail)
        || snapshot(env.dir.path(), false)
            .keys()
            .any(|n| sidecar_bytes(&env.path(n)).is_ok_and(|b| b == second_tail));
    assert!(kept_somewhere, "the second tail was lost: {}", r.show());
}

/// Guards: an interrupted journaled save of a NEW file (only its journal exists) is settled by
/// `durable recover TARGET` too, not only through the journal's name or the directory.
#[test]
fn recover_target_settles_the_journal_of_a_new_file() {
    let test = "recover::recover_target_settles_the_journal_of_a_new_file";
    if !fault_switch(test) {
        return;
    }
    let env = Env::new();
    let r = Durable::new(env.dir.path())
        .args(&["save", "--strategy", "journal", "new.txt"])
        .fault("sync-dir-journal:crash")
        .stdin(b"fresh content\n")
        .run();
    assert_eq!(
        r.status.signal(),
        Some(6),
        "the save was meant to abort: {}",
        r.show()
    );
    assert!(!env.path("new.txt").exists(), "the target exists already");
    assert!(env.path(".new.txt.durable-journal").exists(), "no journal");
    let r = run(&env, &["recover", "new.txt"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(env.read("new.txt"), b"fresh content\n");
    assert!(
        !env.path(".new.txt.durable-journal").exists(),
        "journal left"
    );
}

// ---------------------------------------------------------------------------------------------
// The kernel's protected_symlinks rule, applied whatever the setting (docs/DURABILITY.md,
// "Symlinks"): another user's link in a sticky world-writable directory is not followed
// ---------------------------------------------------------------------------------------------

/// A native log at `rel` holding two records, then four bytes of junk (a torn tail `recover`
/// cuts): the log's bytes, and the length recover leaves.
fn torn_log(env: &Env, rel: &str) -> (PathBuf, u64) {
    let log = env.path(rel);
    append_each(env, &log, &["one", "two"]);
    let clean = fs::metadata(&log).expect("stat").len();
    let mut bytes = fs::read(&log).expect("read");
    bytes.extend_from_slice(b"junk");
    fs::write(&log, bytes).expect("write");
    (log, clean)
}

// Guards (regression, security): `durable recover PATH` followed PATH's links with the kernel's
// open and its own resolution, with no fs.protected_symlinks check when that setting is off:
// root's recover of `pub/L`, another user's link in a /tmp-like directory, cut the log it
// pointed to (and put a sidecar beside it), and of `pub/D`, a link to a directory, repaired
// every log there. The rule is applied as for a save: refused (exit 2, one sentence naming the
// link, its owner, the command and the rule), the dry run alike, the log untouched and no
// sidecar made; followed for root's own link and for a link the directory's owner owns.
#[test]
fn recover_does_not_follow_another_users_link_in_a_sticky_world_writable_directory() {
    use crate::common::{
        NOBODY, assert_sticky_refusal, give, is_root, link_owned_by, skip, sticky_dir,
    };
    let test =
        "recover::recover_does_not_follow_another_users_link_in_a_sticky_world_writable_directory";
    if !is_root() {
        skip(test, "it needs root to own a symlink as another user");
        return;
    }
    let env = Env::new();
    fs::create_dir(env.path("rootonly")).expect("mkdir");
    let (log, clean) = torn_log(&env, "rootonly/events.log");
    let before = fs::read(&log).expect("read");
    let pubdir = sticky_dir(&env, "pub");
    let link = link_owned_by(&log, &pubdir.join("L"), NOBODY);
    link_owned_by(&env.path("rootonly"), &pubdir.join("D"), NOBODY);
    for (name, shown) in [
        ("pub/L", "pub/L"),
        ("pub/D/events.log", "pub/D"),
        ("pub/D", "pub/D"),
    ] {
        for dry in [true, false] {
            let mut args = vec!["recover"];
            if dry {
                args.push("--dry-run");
            }
            args.push(name);
            let r = run(&env, &args, b"");
            assert_sticky_refusal(&r, "recover", shown, &format!("{args:?}"));
            assert_eq!(fs::read(&log).expect("read"), before, "{args:?}");
            assert!(
                !env.path("rootonly/.durable-recovered").exists(),
                "{args:?}"
            );
        }
    }
    // A walk of the directory reports the links, not followed (as it always did).
    let r = run(&env, &["recover", "pub"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read(&log).expect("read"), before);
    // The directory's owner owns the link: followed, the log cut.
    give(&pubdir, NOBODY);
    let r = run(&env, &["recover", "pub/L"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::metadata(&log).expect("stat").len(), clean);
    give(&pubdir, 0);
    // Root's own link: followed.
    fs::write(&log, &before).expect("write");
    give(&link, 0);
    let r = run(&env, &["recover", "pub/L"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::metadata(&log).expect("stat").len(), clean);
}

// Guards (regression, security): `durable log salvage SRC DEST` resolved DEST's links with no
// fs.protected_symlinks check: root's salvage to `pub/N`, another user's dangling link in a
// /tmp-like directory, made its temporary file where the link pointed (and then failed saying
// DEST existed, so that a dangling link of root's own never worked either). Refused as a save
// is (exit 2, one sentence, nothing created); root's own link and the directory owner's are
// followed, the new log created where the link points.
#[test]
fn salvage_does_not_follow_another_users_link_in_a_sticky_world_writable_directory() {
    use crate::common::{
        NOBODY, assert_sticky_refusal, give, is_root, link_owned_by, skip, sticky_dir,
    };
    let test =
        "recover::salvage_does_not_follow_another_users_link_in_a_sticky_world_writable_directory";
    if !is_root() {
        skip(test, "it needs root to own a symlink as another user");
        return;
    }
    let env = Env::new();
    fs::create_dir(env.path("rootonly")).expect("mkdir");
    let (src, _) = torn_log(&env, "src.log");
    let new = env.path("rootonly/new.log");
    let pubdir = sticky_dir(&env, "pub");
    let link = link_owned_by(&new, &pubdir.join("N"), NOBODY);
    link_owned_by(&env.path("rootonly"), &pubdir.join("D"), NOBODY);
    for (name, shown) in [("pub/N", "pub/N"), ("pub/D/new.log", "pub/D")] {
        let r = run(&env, &["log", "salvage", s(&src), name], b"");
        let line = assert_sticky_refusal(&r, "log salvage", shown, name);
        assert!(line.contains(&format!("{name} was not created")), "{line}");
        assert_eq!(
            fs::read_dir(env.path("rootonly")).expect("ls").count(),
            0,
            "{name}"
        );
    }
    // The directory's owner owns the link: followed, the new log where it points.
    give(&pubdir, NOBODY);
    let r = run(&env, &["log", "salvage", s(&src), "pub/N"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(new.is_file());
    assert!(
        fs::symlink_metadata(&link)
            .expect("stat")
            .file_type()
            .is_symlink()
    );
    give(&pubdir, 0);
    // Root's own link: followed.
    fs::remove_file(&new).expect("rm");
    give(&link, 0);
    let r = run(&env, &["log", "salvage", s(&src), "pub/N"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let r = run(&env, &["log", "dump", "--format", "raw", s(&new)], b"");
    assert_eq!(r.out(), "one\ntwo\n", "{}", r.show());
}

// Guards (regression, security): `durable log restore SIDECAR` opened the log the sidecar names
// with the kernel's open, following a link with no fs.protected_symlinks check: once another
// user had replaced root's log in a /tmp-like directory with a link to another root file that
// was cut at the same place, root's restore wrote the kept bytes into that file. Refused (exit
// 2, one sentence), nothing written; root's own link and the directory owner's are followed.
#[test]
fn restore_does_not_follow_another_users_link_in_a_sticky_world_writable_directory() {
    use crate::common::{
        NOBODY, assert_sticky_refusal, give, is_root, link_owned_by, skip, sticky_dir,
    };
    let test =
        "recover::restore_does_not_follow_another_users_link_in_a_sticky_world_writable_directory";
    if !is_root() {
        skip(test, "it needs root to own a symlink as another user");
        return;
    }
    let env = Env::new();
    let pubdir = sticky_dir(&env, "pub");
    fs::create_dir(env.path("rootonly")).expect("mkdir");
    let (log, clean) = torn_log(&env, "pub/events.log");
    let r = run(&env, &["recover", s(&log)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let sidecar = format!("pub/.durable-recovered/events.log.{clean}.durable-sidecar");
    assert!(env.path(&sidecar).is_file(), "{}", r.show());
    // The log, cut, moved to a root-only place, and another user's link put at its name.
    let other = env.path("rootonly/other.log");
    fs::rename(&log, &other).expect("mv");
    let cut = fs::read(&other).expect("read");
    link_owned_by(&other, &log, NOBODY);
    for dry in [true, false] {
        let mut args = vec!["log", "restore"];
        if dry {
            args.push("--dry-run");
        }
        args.push(&sidecar);
        let r = run(&env, &args, b"");
        let shown = log.display().to_string();
        assert_sticky_refusal(&r, "log restore", &shown, &format!("{args:?}"));
        assert_eq!(fs::read(&other).expect("read"), cut, "{args:?}");
    }
    // The directory's owner owns the link: followed, the bytes put back.
    give(&pubdir, NOBODY);
    let r = run(&env, &["log", "restore", &sidecar], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read(&other).expect("read").len(), clean as usize + 4);
    give(&pubdir, 0);
    // Root's own link: followed.
    fs::write(&other, &cut).expect("write");
    give(&log, 0);
    let r = run(&env, &["log", "restore", &sidecar], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read(&other).expect("read").len(), clean as usize + 4);
}

// Guards (regression, security): the sidecar directory `.durable-recovered` beside a log was
// created or used through whatever was at that name: in a /tmp-like directory, another user's
// link planted there sent root's sidecars (the bytes cut from root's log) into any directory
// the link pointed to. A link there, or given as --backup-dir, is followed only as the kernel's
// fs.protected_symlinks rule allows: refused (exit 2, one sentence, the dry run alike), the
// log not cut and nothing written where the link points; root's own link is followed, the
// directory owner's (another user's) is not (a `.durable-recovered` link is followed only when
// it is the recovering user's or root's).
#[test]
fn recover_does_not_put_a_sidecar_through_another_users_link_in_a_sticky_directory() {
    use crate::common::{
        NOBODY, assert_sticky_refusal, give, is_root, link_owned_by, skip, sticky_dir,
    };
    let test =
        "recover::recover_does_not_put_a_sidecar_through_another_users_link_in_a_sticky_directory";
    if !is_root() {
        skip(test, "it needs root to own a symlink as another user");
        return;
    }
    let env = Env::new();
    let pubdir = sticky_dir(&env, "pub");
    let elsewhere = env.path("elsewhere");
    fs::create_dir(&elsewhere).expect("mkdir");
    let (log, clean) = torn_log(&env, "pub/events.log");
    let before = fs::read(&log).expect("read");
    let link = link_owned_by(&elsewhere, &pubdir.join(".durable-recovered"), NOBODY);
    for args in [
        &["recover", "--dry-run", "pub/events.log"][..],
        &["recover", "pub/events.log"],
        &[
            "recover",
            "--backup-dir",
            "pub/.durable-recovered",
            "pub/events.log",
        ],
    ] {
        let r = run(&env, args, b"");
        let line = assert_sticky_refusal(
            &r,
            "recover",
            "pub/.durable-recovered",
            &format!("{args:?}"),
        );
        assert!(line.contains("--backup-dir DIR"), "{line}");
        assert!(
            line.contains("nothing was changed, pub/events.log included"),
            "{line}"
        );
        assert_eq!(fs::read(&log).expect("read"), before, "{args:?}");
        assert_eq!(fs::read_dir(&elsewhere).expect("ls").count(), 0, "{args:?}");
    }
    // The hint works as printed: another directory for the sidecar.
    let r = run(
        &env,
        &["recover", "--backup-dir", "elsewhere", "pub/events.log"],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::metadata(&log).expect("stat").len(), clean);
    assert_eq!(fs::read_dir(&elsewhere).expect("ls").count(), 1);
    fs::remove_dir_all(&elsewhere).expect("rm");
    fs::create_dir(&elsewhere).expect("mkdir");
    // The directory's owner owns the link: not followed either, since a `.durable-recovered`
    // link is followed only when it is the recovering user's or root's (whatever the
    // directory): its owner could point root's sidecar into any directory of root's.
    fs::write(&log, &before).expect("write");
    give(&pubdir, NOBODY);
    let r = run(&env, &["recover", "pub/events.log"], b"");
    assert_one_line_error(
        &r,
        &[
            &format!("a symlink that belongs to user {NOBODY}"),
            "it was not changed",
        ],
        "the directory's owner's link",
    );
    assert_eq!(fs::read(&log).expect("read"), before);
    assert_eq!(fs::read_dir(&elsewhere).expect("ls").count(), 0);
    give(&pubdir, 0);
    // Root's own link: followed.
    fs::remove_dir_all(&elsewhere).expect("rm");
    fs::create_dir(&elsewhere).expect("mkdir");
    fs::write(&log, &before).expect("write");
    give(&link, 0);
    let r = run(&env, &["recover", "pub/events.log"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read_dir(&elsewhere).expect("ls").count(), 1);
}

// Guards (regression, security): `recover st/DL/L`, `L` a symlink with a journal of root's
// beside it and `DL` another user's link to a directory in a sticky world-writable directory,
// applied the journal through `DL` (the links of a named link's own path were not looked at),
// where `save st/DL/L` refuses by the kernel's fs.protected_symlinks rule. Refused the same way
// (exit 2, one sentence naming `st/DL`), the dry run alike, the file and the journal untouched;
// named by a path without that link, the journal is completed.
#[test]
fn recover_of_a_link_with_a_journal_does_not_go_through_another_users_directory_link() {
    use crate::common::{NOBODY, assert_sticky_refusal, is_root, link_owned_by, skip, sticky_dir};
    let test = "recover::recover_of_a_link_with_a_journal_does_not_go_through_another_users_directory_link";
    if !is_root() {
        skip(test, "it needs root to own a symlink as another user");
        return;
    }
    let env = Env::new();
    fs::create_dir(env.path("real")).expect("mkdir");
    env.write("real/f", b"old");
    std::os::unix::fs::symlink("f", env.path("real/L")).expect("symlink");
    crate::recover_boot::tick();
    env.write(
        "real/.L.durable-journal",
        crate::recover_boot::journal_of(b"from the journal"),
    );
    sticky_dir(&env, "st");
    link_owned_by(&env.path("real"), &env.path("st/DL"), NOBODY);
    let r = run(&env, &["save", "st/DL/L"], b"x");
    assert_sticky_refusal(&r, "save", "st/DL", "save");
    for dry in [true, false] {
        let mut args = vec!["recover"];
        if dry {
            args.push("--dry-run");
        }
        args.push("st/DL/L");
        let r = run(&env, &args, b"");
        assert_sticky_refusal(&r, "recover", "st/DL", &format!("{args:?}"));
        assert_eq!(env.read("real/f"), b"old", "{args:?}");
        assert!(env.path("real/.L.durable-journal").exists(), "{args:?}");
    }
    let r = run(&env, &["recover", "real/L"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(env.read("real/f"), b"from the journal");
}

// Regression (found by a hunt): in a shared sticky directory, `.durable-recovered` made by
// another user was used for root's sidecars, which that user could then delete (the torn bytes
// set aside gone). A sidecar directory that is not the user's own, root's or the log's owner's
// is refused (exit 2, nothing changed) with a way out that works: --backup-dir.
#[test]
fn another_users_sidecar_directory_is_not_used() {
    use crate::common::{NOBODY, give, is_root, skip, sticky_dir};
    let test = "recover::another_users_sidecar_directory_is_not_used";
    if !is_root() {
        skip(test, "it needs root to make a directory another user's");
        return;
    }
    let env = Env::new();
    let pubdir = sticky_dir(&env, "pub");
    let side = pubdir.join(".durable-recovered");
    fs::create_dir(&side).expect("mkdir");
    give(&side, NOBODY);
    let log = pubdir.join("q.log");
    append_each(&env, &log, &["r1", "r2"]);
    let whole = fs::read(&log).expect("read");
    fs::write(&log, &whole[..whole.len() - 3]).expect("tear");
    let torn = fs::read(&log).expect("read");
    for args in [
        vec!["recover", s(&log)],
        vec!["recover", "--dry-run", s(&log)],
        vec!["recover", s(&pubdir)],
    ] {
        let r = run(&env, &args, b"");
        assert_eq!(r.code, 2, "{args:?}: {}", r.show());
        assert_one_line_error(
            &r,
            &[
                &format!("which belongs to user {NOBODY}"),
                "it was not changed",
                "--backup-dir DIR",
            ],
            &format!("{args:?}"),
        );
        assert_eq!(fs::read(&log).expect("read"), torn, "{args:?} changed it");
        assert_eq!(fs::read_dir(&side).expect("ls").count(), 0, "{args:?}");
    }
    let own = env.path("mine");
    fs::create_dir(&own).expect("mkdir");
    let r = run(&env, &["recover", "--backup-dir", s(&own), s(&log)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read_dir(&own).expect("ls").count(), 1);
}

// Guards (regression): with `--json`, the refusal of a sidecar directory `.durable-recovered`
// that is another user's link in a sticky directory gave the link as `path`, not the log being
// recovered (docs/JSON.md, OutcomeError: the file it is about); the sentence names the link.
#[test]
fn a_refused_sidecar_directory_is_reported_for_the_log_in_json() {
    use crate::common::{NOBODY, is_root, link_owned_by, skip, sticky_dir};
    let test = "recover::a_refused_sidecar_directory_is_reported_for_the_log_in_json";
    if !is_root() {
        skip(test, "it needs root to own a symlink as another user");
        return;
    }
    let env = Env::new();
    let pubdir = sticky_dir(&env, "pub");
    fs::create_dir(env.path("elsewhere")).expect("mkdir");
    let (log, _) = torn_log(&env, "pub/events.log");
    let before = fs::read(&log).expect("read");
    link_owned_by(
        &env.path("elsewhere"),
        &pubdir.join(".durable-recovered"),
        NOBODY,
    );
    for args in [
        &["recover", "--json", "pub/events.log"][..],
        &["recover", "--json", "--dry-run", "pub/events.log"],
        &["recover", "--json", "pub"],
        &[
            "recover",
            "--json",
            "--backup-dir",
            "pub/.durable-recovered",
            "pub/events.log",
        ],
    ] {
        let r = run(&env, args, b"");
        assert_eq!(r.code, 2, "{args:?}: {}", r.show());
        let errors: Vec<serde_json::Value> = r
            .out()
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON"))
            .filter(|v: &serde_json::Value| v["outcome"] == "error")
            .collect();
        assert_eq!(errors.len(), 1, "{args:?}: {}", r.show());
        assert_eq!(errors[0]["path"]["text"], "pub/events.log", "{args:?}");
        let error = errors[0]["error"].as_str().expect("error");
        assert!(
            error.starts_with("pub/.durable-recovered is a symlink of user"),
            "{args:?}: {error}"
        );
        assert_eq!(fs::read(&log).expect("read"), before, "{args:?}");
    }
}

// Guards (regression, security): a sidecar is created exclusively and renamed into place without
// replacing anything, but a name already taken was compared with the new sidecar through
// whatever was there, following a symlink (and blocking on a FIFO): a link planted at the
// sidecar's name, to a file with the same bytes elsewhere, was taken for the sidecar, so the
// bytes cut from the log were kept only where the link's owner could change or remove them.
// Anything but a regular file at the name is not the sidecar: the next name is taken.
#[test]
fn a_link_planted_at_a_sidecars_name_is_not_taken_for_the_sidecar() {
    let env = Env::new();
    let (log, clean) = torn_log(&env, "events.log");
    let before = fs::read(&log).expect("read");
    let r = run(&env, &["recover", "events.log"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let name = format!(".durable-recovered/events.log.{clean}.durable-sidecar");
    let elsewhere = env.path("elsewhere");
    fs::create_dir(&elsewhere).expect("mkdir");
    fs::rename(env.path(&name), elsewhere.join("kept")).expect("mv");
    std::os::unix::fs::symlink(elsewhere.join("kept"), env.path(&name)).expect("symlink");
    fs::write(&log, &before).expect("write");
    let r = run(&env, &["recover", "events.log"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let second = format!(".durable-recovered/events.log.{clean}.2.durable-sidecar");
    assert!(r.out().contains(&second), "{}", r.show());
    assert!(
        fs::symlink_metadata(env.path(&second))
            .expect("the sidecar")
            .is_file()
    );
    // What it keeps is restorable from it.
    let r = run(&env, &["log", "restore", &second], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read(&log).expect("read"), before);
}

/// A lines log with a torn last line (from the corpus): recover cuts 74 bytes at 14618.
fn torn_lines_log(env: &Env, rel: &str) -> PathBuf {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
    let bytes = fs::read(corpus.join("lines/flip_last.log")).expect("read the corpus");
    env.write(rel, bytes)
}

/// `recover --dry-run ARGS…` and then `recover ARGS…`: the dry run must have said what the run
/// did (the same sidecar names, or the same failure).
fn dry_then_real(env: &Env, args: &[&str]) -> (common::Run, common::Run) {
    let dry: Vec<&str> = ["recover", "--dry-run"]
        .iter()
        .chain(args)
        .copied()
        .collect();
    let real: Vec<&str> = ["recover"].iter().chain(args).copied().collect();
    (run(env, &dry, b""), run(env, &real, b""))
}

/// The sidecar paths a report names, in order.
fn sidecars_named(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter(|w| w.ends_with(".durable-sidecar"))
        .map(|w| w.trim_matches('`').to_string())
        .fold(Vec::new(), |mut all, w| {
            if all.last() != Some(&w) {
                all.push(w);
            }
            all
        })
}

// Guards (regression): the dry run predicts the run. It named the first sidecar name when that
// was taken (the run wrote `.2.`), named one sidecar for two logs of the same name with
// --backup-dir (the run gives them two), and said "would cut" where the run failed: a regular
// file named .durable-recovered in the way (the run said "File exists … make room there"), a
// sidecar path longer than PATH_MAX ("File name too long … make room there"). Each failure is
// now one true sentence, the same in both runs, with a way out that fits it.
#[test]
fn dry_run_names_the_sidecar_the_run_makes_or_fails_as_it_does() {
    let mut cases = Cases::default();
    // The first name taken by another file: the next one, in both.
    cases.check(|| {
        let env = Env::new();
        torn_lines_log(&env, "g.log");
        env.write(
            ".durable-recovered/g.log.14618.durable-sidecar",
            "not ours\n",
        );
        let (dry, real) = dry_then_real(&env, &["g.log"]);
        assert_eq!(
            (dry.code, real.code),
            (1, 0),
            "{}\n{}",
            dry.show(),
            real.show()
        );
        let taken = vec![".durable-recovered/g.log.14618.2.durable-sidecar".to_string()];
        assert_eq!(sidecars_named(&dry.out()), taken, "{}", dry.show());
        assert_eq!(sidecars_named(&real.out()), taken, "{}", real.show());
        assert!(env.path(&taken[0]).is_file());
    });

    // Two logs named x.log, one --backup-dir: two names, the ones the run gives.
    cases.check(|| {
        let env = Env::new();
        torn_lines_log(&env, "a/x.log");
        torn_lines_log(&env, "b/x.log");
        fs::create_dir(env.path("keep")).expect("mkdir");
        let (dry, real) = dry_then_real(&env, &["--backup-dir", "keep", "a/x.log", "b/x.log"]);
        assert_eq!(
            (dry.code, real.code),
            (1, 0),
            "{}\n{}",
            dry.show(),
            real.show()
        );
        let two = vec![
            "keep/x.log.14618.durable-sidecar".to_string(),
            "keep/x.log.14618.2.durable-sidecar".to_string(),
        ];
        assert_eq!(sidecars_named(&dry.out()), two, "{}", dry.show());
        assert_eq!(sidecars_named(&real.out()), two, "{}", real.show());
    });

    // A regular file named .durable-recovered: the same failure, which names the file in the
    // way and the way out.
    cases.check(|| {
        let env = Env::new();
        let log = torn_lines_log(&env, "g.log");
        let before = fs::read(&log).expect("read");
        env.write(".durable-recovered", "a file\n");
        let (dry, real) = dry_then_real(&env, &["g.log"]);
        assert_eq!(
            (dry.code, real.code),
            (2, 2),
            "{}\n{}",
            dry.show(),
            real.show()
        );
        assert_eq!(
            dry.stderr, real.stderr,
            "the dry run says what the run does"
        );
        let line = assert_one_line_error(
            &real,
            &[
                ".durable-recovered",
                "not a directory is in the way",
                "g.log was not changed",
                "--backup-dir",
            ],
            "a file in the way",
        );
        assert!(!line.contains("make room"), "nothing needs room: {line}");
        assert_eq!(fs::read(&log).expect("read"), before);
    });

    // A log 2030 directories deep: the sidecar's path would pass PATH_MAX.
    cases.check(|| {
        let env = Env::new();
        let deep = vec!["a"; 2030].join("/");
        let made = Command::new("sh")
            .args(["-c", r#"mkdir -p "$1" && cat > "$1/x.log""#, "sh", &deep])
            .current_dir(env.dir.path())
            .stdin(fs::File::open(torn_lines_log(&env, "src.log")).expect("open"))
            .status()
            .expect("sh");
        assert!(made.success());
        let log = format!("{deep}/x.log");
        let (dry, real) = dry_then_real(&env, &[&log]);
        assert_eq!(
            (dry.code, real.code),
            (2, 2),
            "{}\n{}",
            dry.show(),
            real.show()
        );
        assert_eq!(
            dry.stderr, real.stderr,
            "the dry run says what the run does"
        );
        let line = assert_one_line_error(
            &real,
            &[
                "PATH_MAX",
                "x.log was not changed",
                "shorter path",
                "--backup-dir",
            ],
            "a path too long",
        );
        assert!(!line.contains("make room"), "nothing needs room: {line}");
    });
    cases.assert_all_passed("recover::dry_run_names_the_sidecar_the_run_makes_or_fails_as_it_does");
}

// Regression (security): root's recover of a directory another user owns followed that user's
// `.durable-recovered` symlink into a root-owned directory, wrote the sidecar there and gave
// it to that user. A `.durable-recovered` symlink is followed only when it is the recovering
// user's or root's (protected_symlinks' idea); another user's is refused (exit 2, the link and
// its owner named, --backup-dir as the way out), in the dry run too, the log unchanged.
#[test]
fn another_users_sidecar_directory_link_is_not_followed() {
    use crate::common::{NOBODY, give, is_root, link_owned_by, skip};
    let test = "recover::another_users_sidecar_directory_link_is_not_followed";
    if !is_root() {
        skip(test, "it needs root to make a link another user's");
        return;
    }
    let env = Env::new();
    let rootonly = env.path("rootonly");
    fs::create_dir(&rootonly).expect("mkdir");
    let nbdir = env.path("nbdir");
    fs::create_dir(&nbdir).expect("mkdir");
    let log = nbdir.join("evil.log");
    append_each(&env, &log, &["a"]);
    let mut bytes = fs::read(&log).expect("read");
    bytes.extend_from_slice(b"JUNK!!");
    fs::write(&log, &bytes).expect("tear");
    give(&log, NOBODY);
    give(&nbdir, NOBODY);
    let link = link_owned_by(&rootonly, &nbdir.join(".durable-recovered"), NOBODY);
    for args in [
        vec!["recover", "--dry-run", s(&log)],
        vec!["recover", s(&log)],
        vec!["recover", "--dry-run", s(&nbdir)],
        vec!["recover", s(&nbdir)],
    ] {
        let r = run(&env, &args, b"");
        assert_eq!(r.code, 2, "{args:?}: {}", r.show());
        assert_one_line_error(
            &r,
            &[
                &format!("a symlink that belongs to user {NOBODY}"),
                s(&link),
                "it was not changed",
                "--backup-dir DIR",
            ],
            &format!("{args:?}"),
        );
        assert_eq!(fs::read(&log).expect("read"), bytes, "{args:?} changed it");
        assert_eq!(fs::read_dir(&rootonly).expect("ls").count(), 0, "{args:?}");
    }
    // Root's own link to root's directory is followed, as before; but the sidecar there is
    // not given to the log's owner (a file of theirs in a directory of root's).
    link_owned_by(&rootonly, &link, 0);
    let r = run(&env, &["recover", s(&log)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let kept: Vec<_> = fs::read_dir(&rootonly).expect("ls").collect();
    assert_eq!(kept.len(), 1);
    let meta = kept[0].as_ref().expect("entry").metadata().expect("stat");
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 0);
    // A `.durable-recovered` root makes in the owner's directory: the sidecar is theirs.
    fs::remove_file(&link).expect("rm");
    let mut bytes = fs::read(&log).expect("read");
    bytes.extend_from_slice(b"JUNK!!");
    fs::write(&log, &bytes).expect("tear");
    let r = run(&env, &["recover", s(&log)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let kept: Vec<_> = fs::read_dir(nbdir.join(".durable-recovered"))
        .expect("ls")
        .collect();
    assert_eq!(kept.len(), 1);
    let meta = kept[0].as_ref().expect("entry").metadata().expect("stat");
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), NOBODY);
}

// Regression: a log whose name is too long for a sidecar's (NAME + `.OFFSET.durable-sidecar`
// over NAME_MAX) was refused with "choose a directory with a shorter path with --backup-dir
// DIR", and --backup-dir failed the same way: no directory takes that name. The message says
// the log's name is the cause and offers what works (--no-backup, a shorter name), and that does.
#[test]
fn a_log_name_too_long_for_a_sidecar_name_gets_a_way_out_that_works() {
    let env = Env::new();
    fs::create_dir(env.path("nm")).expect("mkdir");
    fs::create_dir(env.path("bk2")).expect("mkdir");
    let log = env.path(&format!("nm/{}.log", "n".repeat(240)));
    append_each(&env, &log, &["a", "b"]);
    let mut bytes = fs::read(&log).expect("read");
    bytes.extend_from_slice(b"\xd5RE");
    fs::write(&log, &bytes).expect("tear");
    for args in [
        vec!["recover", s(&log)],
        vec!["recover", "--dry-run", s(&log)],
        vec!["recover", "--backup-dir", s(&env.path("bk2")), s(&log)],
    ] {
        let r = run(&env, &args, b"");
        let line = assert_one_line_error(
            &r,
            &[
                "the log's name is too long for a sidecar's",
                "NAME_MAX",
                "--no-backup",
                "rename or copy the log to a shorter name",
            ],
            &format!("{args:?}"),
        );
        assert!(!line.contains("shorter path"), "{args:?}: {line}");
        assert!(!line.contains("--backup-dir"), "{args:?}: {line}");
        assert_eq!(fs::read(&log).expect("read"), bytes, "{args:?} changed it");
    }
    let short = env.path("nm/s.log");
    fs::copy(&log, &short).expect("copy");
    let r = run(&env, &["recover", s(&short)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let r = run(&env, &["recover", "--no-backup", s(&log)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
}

// Regression: one torn log named by several paths (itself, a symlink to it, `./` before it, a
// hard link) in one dry run was "would cut" each time, where the real run cuts it once and
// finds it clean by the other paths. The dry run remembers the files it would change and
// reports another path to one of them as the real run does: clean, nothing to do.
#[test]
fn a_dry_run_reports_a_log_reached_by_two_paths_as_the_real_run_does() {
    let env = Env::new();
    fs::create_dir(env.path("e")).expect("mkdir");
    let tear = |log: &Path| {
        append_each(&env, log, &["a"]);
        let mut bytes = fs::read(log).expect("read");
        bytes.extend_from_slice(b"\xd5RE");
        fs::write(log, &bytes).expect("tear");
        bytes
    };
    let z = env.path("e/z.log");
    let bytes = tear(&z);
    std::os::unix::fs::symlink("e/z.log", env.path("zlink")).expect("symlink");
    let h1 = env.path("h1");
    let hbytes = tear(&h1);
    fs::hard_link(&h1, env.path("h2")).expect("link");
    for (args, file, before) in [
        (vec!["e/z.log", "zlink", "./e/z.log"], &z, &bytes),
        (vec!["h1", "h2"], &h1, &hbytes),
    ] {
        let mut outs = Vec::new();
        for dry in [true, false] {
            let mut full = vec!["recover"];
            if dry {
                full.push("--dry-run");
            }
            full.extend(&args);
            let r = run(&env, &full, b"");
            // A dry run that would change something exits 1.
            assert_eq!(r.code, i32::from(dry), "{full:?}: {}", r.show());
            if dry {
                assert_eq!(
                    &fs::read(file).expect("read"),
                    before,
                    "{full:?} changed it"
                );
            }
            let out = String::from_utf8_lossy(&r.stdout).into_owned();
            let cut = out.matches("cut").count();
            let clean = out.matches(": clean, 1 record; nothing to do").count();
            assert_eq!(cut, 1, "{full:?}: {}", r.show());
            assert_eq!(clean, args.len() - 1, "{full:?}: {}", r.show());
            outs.push(out.lines().skip(1).map(str::to_string).collect::<Vec<_>>());
        }
        // After the line about the cut, the same lines.
        assert_eq!(outs[0], outs[1], "{args:?}");
    }
}
