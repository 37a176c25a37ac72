//! Crash-state explorer: a deterministic power-loss model applied to the real binary's system
//! calls.
//!
//! Each scenario runs a real command under `strace -f`, turns the trace into file-system
//! operations ([`ops`]), and for a crash after every operation enumerates the directory
//! contents a pessimistic model of the disk allows ([`model`]): unflushed data lost, kept or
//! kept in part per 4 KiB block, unflushed directory changes happened or not. Each state is
//! written into a scratch directory and handed to what a user would run next (`durable
//! recover`, `durable log verify`, a read of the target), whose result is checked against the
//! command's promise ([`check`]). The tests print a table of operations, states and
//! violations (`cargo test --test integration explore:: -- --nocapture`) and, when
//! `DURABLE_RELIABILITY_OUT=FILE` is set, append one JSON line per scenario to FILE
//! (`scripts/reliability.sh` turns them into docs/RELIABILITY.md's figures).
//!
//! The explorer proves it can fail: the naive truncate-write-fsync, the in-place strategy
//! (documented as not crash-atomic) and real atomic-save traces with the temp's fsync or the
//! directory's fsync removed must all show violations.
//!
//! The default run is small (contents of 1-2 blocks, a few records) so it stays well under a
//! minute in a debug build; `DURABLE_EXPLORE_FULL=1` explores larger contents and more option
//! combinations.

mod check;
mod model;
mod ops;

use std::path::{Path, PathBuf};

use check::{Oracle, Outcome, Scenario, explore};
use ops::{Ino, Op, Ops};

use crate::common::{self, Durable};

/// Whether the bigger exploration was asked for.
fn full() -> bool {
    std::env::var_os("DURABLE_EXPLORE_FULL").is_some_and(|v| v != "0" && !v.is_empty())
}

/// Crash states explored at one crash point before the model samples instead.
fn max_states() -> usize {
    if full() { 20_000 } else { 2_000 }
}

/// Sizes of the old and new content of a save: the old fits one 4 KiB block, the new spans two
/// (three with DURABLE_EXPLORE_FULL), so a mix of blocks is visible.
fn save_sizes() -> (usize, usize) {
    if full() {
        (6_000, 11_000)
    } else {
        (3_000, 5_000)
    }
}

/// Size of each log record: four per 4 KiB block, so appends cross block boundaries, but (see
/// [`a_torn_append_across_a_block_boundary_is_only_a_torn_tail`]) no append puts a whole
/// record past a boundary it crosses.
const RECORD_LEN: usize = 900;

/// Text of `len` bytes made of numbered lines, distinct for each `tag`.
fn text(tag: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut n = 0;
    while out.len() < len {
        out.extend_from_slice(format!("{tag} line {n:04}: the quick brown fox\n").as_bytes());
        n += 1;
    }
    out.truncate(len);
    out
}

fn record(i: usize, len: usize) -> Vec<u8> {
    text(&format!("record {i}"), len)
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/// `durable save t` with `strategy` and `extra` options, over an existing target or none.
fn save(strategy: &'static str, existing: bool, extra: &[&str], label: &str) -> Scenario {
    let (old_len, new_len) = save_sizes();
    let old = text("old", old_len);
    let new = text("NEW", new_len);
    let mut args = strings(&["save", "--strategy", strategy]);
    args.extend(strings(extra));
    args.push("t".into());
    let setup_old = old.clone();
    Scenario {
        command: "durable save",
        strategy,
        case: format!(
            "{}{label}",
            if existing {
                "existing target"
            } else {
                "new target"
            }
        ),
        setup: Box::new(move |root| {
            if existing {
                std::fs::write(root.join("t"), &setup_old).expect("write the old target");
            }
        }),
        program: common::durable_path(),
        args,
        stdin: new.clone(),
        oracle: Oracle::Save {
            target: "t".into(),
            old: existing.then_some(old),
            new,
            without_recover: strategy == "atomic",
        },
        edit: None,
        note: "",
    }
}

/// Append `records` to `log` in `root`, untraced (setting up an initial state).
fn append_untraced(root: &Path, log: &str, records: &[Vec<u8>]) {
    let text: Vec<&str> = records
        .iter()
        .map(|r| std::str::from_utf8(r).expect("text records"))
        .collect();
    let out = Durable::new(root)
        .args(&["log", "append", log])
        .args(&text)
        .run();
    assert!(
        out.status.success(),
        "setting up the log failed: {}",
        out.show()
    );
}

/// Three `durable log append` invocations in one traced shell (2, 1 and 2 records of `len`
/// bytes), on a new log or on one that already holds two records.
fn log_append(existing: bool, len: usize, extra: &[&str], label: &str) -> Scenario {
    let before: Vec<Vec<u8>> = if existing {
        vec![record(0, len), record(1, len)]
    } else {
        vec![]
    };
    let appends = vec![
        vec![record(10, len), record(11, len)],
        vec![record(12, len)],
        vec![record(13, len), record(14, len)],
    ];
    let opts = extra.join(" ");
    let script = format!(
        "\"$0\" log append {opts} l.log \"$1\" \"$2\" && \"$0\" log append {opts} l.log \"$3\" \
         && \"$0\" log append {opts} l.log \"$4\" \"$5\""
    );
    let mut args = vec!["-c".to_string(), script];
    args.push(common::durable_path().display().to_string());
    for r in appends.iter().flatten() {
        args.push(String::from_utf8(r.clone()).expect("text records"));
    }
    let setup_before = before.clone();
    Scenario {
        command: "durable log append",
        strategy: "-",
        case: format!(
            "{}, 3 appends of {len}-byte records{label}",
            if existing {
                "log with 2 records"
            } else {
                "new log"
            }
        ),
        setup: Box::new(move |root| {
            if !setup_before.is_empty() {
                append_untraced(root, "l.log", &setup_before);
            }
        }),
        program: PathBuf::from("sh"),
        args,
        stdin: Vec::new(),
        oracle: Oracle::Log {
            log: "l.log".into(),
            before,
            appends,
        },
        edit: None,
        note: "",
    }
}

/// One `durable log append` fed lines through a pipe in three bursts with pauses between them,
/// so that it commits three groups (each one write and one flush) in one invocation, on a log
/// that holds two records. Its records are owed only once it exited 0 (the oracle does not
/// credit the groups one by one: a weaker promise than the real one, still checked whole).
fn log_append_streamed(len: usize) -> Scenario {
    // One line each: the records' own newlines would split them.
    let line = |i: usize| {
        record(i, len)
            .iter()
            .map(|b| if *b == b'\n' { b' ' } else { *b })
            .collect::<Vec<u8>>()
    };
    let before = vec![line(0), line(1)];
    let bursts = [
        vec![line(20), line(21)],
        vec![line(22)],
        vec![line(23), line(24), line(25)],
    ];
    let script = "(printf '%s\\n' \"$1\" \"$2\"; sleep 0.3; printf '%s\\n' \"$3\"; sleep 0.3; \
         printf '%s\\n' \"$4\" \"$5\" \"$6\") | \"$0\" log append l.log"
        .to_string();
    let mut args = vec!["-c".to_string(), script];
    args.push(common::durable_path().display().to_string());
    for r in bursts.iter().flatten() {
        args.push(String::from_utf8(r.clone()).expect("text records"));
    }
    let setup_before = before.clone();
    Scenario {
        command: "durable log append",
        strategy: "-",
        case: format!("log with 2 records, 6 {len}-byte lines streamed in 3 groups"),
        setup: Box::new(move |root| append_untraced(root, "l.log", &setup_before)),
        program: PathBuf::from("sh"),
        args,
        stdin: Vec::new(),
        oracle: Oracle::Log {
            log: "l.log".into(),
            before,
            appends: vec![bursts.concat()],
        },
        edit: None,
        note: "",
    }
}

/// `durable recover l.log` on a log of three records followed by a torn fourth (cut 500 bytes
/// short, so the tail spans a 4 KiB boundary).
fn recover_torn_tail() -> Scenario {
    Scenario {
        command: "durable recover",
        strategy: "-",
        case: "torn tail, with sidecar".into(),
        setup: Box::new(|root| {
            append_untraced(
                root,
                "l.log",
                &[
                    record(0, RECORD_LEN),
                    record(1, RECORD_LEN),
                    record(2, RECORD_LEN),
                ],
            );
            append_untraced(root, "l.log", &[text("record 3", 2_000)]);
            let log = std::fs::OpenOptions::new()
                .write(true)
                .open(root.join("l.log"))
                .expect("open the log");
            let len = log.metadata().expect("stat the log").len();
            log.set_len(len - 500).expect("tear the log");
        }),
        program: common::durable_path(),
        args: strings(&["recover", "l.log"]),
        stdin: Vec::new(),
        oracle: Oracle::Recover {
            log: "l.log".into(),
        },
        edit: None,
        note: "",
    }
}

/// The naive in-place save a script does: `open(O_TRUNC)`, write, fsync, close (GNU dd).
fn naive_dd() -> Scenario {
    let (old_len, new_len) = save_sizes();
    let old = text("old", old_len);
    let new = text("NEW", new_len);
    let setup_old = old.clone();
    Scenario {
        command: "dd conv=fsync (naive in-place)",
        strategy: "-",
        case: "existing target".into(),
        setup: Box::new(move |root| {
            std::fs::write(root.join("t"), &setup_old).expect("write the old target");
        }),
        program: PathBuf::from("dd"),
        args: strings(&["of=t", "bs=1M", "conv=fsync", "status=none"]),
        stdin: new.clone(),
        oracle: Oracle::Save {
            target: "t".into(),
            old: Some(old),
            new,
            without_recover: true,
        },
        edit: None,
        note: "",
    }
}

/// Inodes created under our temporary-file pattern.
fn temp_inodes(ops: &Ops) -> Vec<Ino> {
    ops.ops
        .iter()
        .filter_map(|o| match o {
            Op::Create { path, ino } if path.ends_with(".durable-tmp") => Some(*ino),
            _ => None,
        })
        .collect()
}

/// Drop the operations `drop` selects; returns how many went.
fn drop_ops(ops: &mut Ops, drop: impl Fn(&Op) -> bool) -> usize {
    let before = ops.ops.len();
    ops.ops.retain(|o| !drop(o));
    before - ops.ops.len()
}

// ---------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------

/// What a scenario must show.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The command keeps its promise: no violation.
    Clean,
    /// A sequence that is not crash-safe (documented or deliberately broken): violations, one
    /// of them mentioning the given text if there is one.
    Violations(Option<&'static str>),
}

/// Explore each scenario, print the table, append the JSON lines, then check every
/// expectation (all scenarios run before the first failure is reported).
fn run(test: &str, scenarios: Vec<(Scenario, Expect)>) {
    let mut results: Vec<(Outcome, Expect)> = Vec::new();
    for (scenario, expect) in scenarios {
        match explore(test, &scenario, max_states()) {
            Some(outcome) => results.push((outcome, expect)),
            None => return, // strace missing: explore said so
        }
    }
    print_table(test, &results);
    append_json(&results);
    let mut failures = Vec::new();
    for (outcome, expect) in &results {
        let row = &outcome.row;
        let name = format!("{} ({}, {})", row.command, row.strategy, row.case);
        match expect {
            Expect::Clean if row.violations > 0 => failures.push(format!(
                "{name}: {} crash states break the promise, e.g.\n    {}\n  operations:\n{}",
                row.violations,
                outcome.examples.join("\n    "),
                outcome.listing
            )),
            Expect::Violations(_) if row.violations == 0 => failures.push(format!(
                "{name}: a sequence that is not crash-safe passed all {} crash states: the \
                 explorer cannot see the damage\n  operations:\n{}",
                row.states, outcome.listing
            )),
            Expect::Violations(Some(text)) if !outcome.reasons.iter().any(|r| r.contains(text)) => {
                failures.push(format!(
                    "{name}: no violation says {text:?}; they say {:?}\n  operations:\n{}",
                    outcome.reasons, outcome.listing
                ))
            }
            _ => {}
        }
        if row.states == 0 || row.operations == 0 {
            failures.push(format!("{name}: nothing was explored\n{}", outcome.listing));
        }
    }
    assert!(failures.is_empty(), "{test}:\n{}", failures.join("\n\n"));
}

fn print_table(test: &str, results: &[(Outcome, Expect)]) {
    let mut out = format!(
        "\n{test}\n| command | strategy | case | operations | crash states | distinct checked | violations | expected | exhaustive | note |\n|---|---|---|---:|---:|---:|---:|---|---|---|\n"
    );
    for (o, expect) in results {
        let r = &o.row;
        out += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.command,
            r.strategy,
            r.case,
            r.operations,
            r.states,
            r.checked,
            r.violations,
            if *expect == Expect::Clean { "0" } else { "> 0" },
            if r.exhaustive { "yes" } else { "sampled" },
            r.note
        );
        if *expect != Expect::Clean
            && let Some(first) = o.examples.first()
        {
            out += &format!("|   e.g. {} |\n", first.replace('\n', " "));
        }
    }
    println!("{out}");
}

/// One JSON line per scenario to `$DURABLE_RELIABILITY_OUT`, if set.
fn append_json(results: &[(Outcome, Expect)]) {
    let lines: Vec<_> = results
        .iter()
        .map(|(o, expect)| {
            let r = &o.row;
            serde_json::json!({
                "part": "explorer",
                "command": r.command,
                "strategy": r.strategy,
                "case": r.case,
                "operations": r.operations,
                "states": r.states,
                "violations": r.violations,
                "expected": if *expect == Expect::Clean { "0" } else { ">0" },
                "exhaustive": r.exhaustive,
                "note": r.note,
            })
        })
        .collect();
    common::append_figures(&lines);
}

// ---------------------------------------------------------------------------------------------
// The promises of the real binary
// ---------------------------------------------------------------------------------------------

#[test]
fn atomic_save_is_old_or_new_at_every_crash_point() {
    let mut scenarios = vec![
        (save("atomic", true, &[], ""), Expect::Clean),
        (save("atomic", false, &[], ""), Expect::Clean),
    ];
    if full() {
        scenarios.extend([
            (
                save("atomic", true, &["--sync", "data"], ", --sync data"),
                Expect::Clean,
            ),
            (
                save("atomic", true, &["--backup"], ", --backup"),
                Expect::Clean,
            ),
            (
                save("atomic", false, &["--no-clobber"], ", --no-clobber"),
                Expect::Clean,
            ),
        ]);
    }
    run(
        "explore::atomic_save_is_old_or_new_at_every_crash_point",
        scenarios,
    );
}

#[test]
fn journaled_save_is_old_or_new_after_recover_at_every_crash_point() {
    let mut scenarios = vec![
        (save("journal", true, &[], ""), Expect::Clean),
        (save("journal", false, &[], ""), Expect::Clean),
    ];
    if full() {
        scenarios.push((
            save("journal", true, &["--sync", "data"], ", --sync data"),
            Expect::Clean,
        ));
    }
    run(
        "explore::journaled_save_is_old_or_new_after_recover_at_every_crash_point",
        scenarios,
    );
}

#[test]
fn log_append_keeps_a_prefix_with_every_acknowledged_record() {
    let mut scenarios = vec![
        (log_append(false, RECORD_LEN, &[], ""), Expect::Clean),
        (log_append(true, RECORD_LEN, &[], ""), Expect::Clean),
        (log_append_streamed(RECORD_LEN), Expect::Clean),
    ];
    if full() {
        scenarios.extend([
            (
                log_append(true, RECORD_LEN, &["--sync", "data"], ", --sync data"),
                Expect::Clean,
            ),
            (
                log_append(
                    false,
                    RECORD_LEN,
                    &["--checksum", "sha256"],
                    ", --checksum sha256",
                ),
                Expect::Clean,
            ),
        ]);
    }
    run(
        "explore::log_append_keeps_a_prefix_with_every_acknowledged_record",
        scenarios,
    );
}

/// On a log of 3136 bytes, one append of two 1500-byte records writes 3136..6208: the second
/// record lies wholly in the second 4 KiB block. A power loss can keep that block and the new
/// size but not the overwrite of the first block (the model allows it; plausible on ext4's
/// ordered mode, which orders newly allocated blocks before the size, not overwrites of the
/// first block, which already existed), leaving zeros at 3136 followed by a valid record. That
/// record is not a whole append (it is not flagged first), so it is no evidence of corruption:
/// `log verify` must call it a torn tail, and `recover` cut it, since only the unacknowledged
/// append was damaged and cutting at 3136 loses nothing that was promised.
#[test]
fn a_torn_append_across_a_block_boundary_is_only_a_torn_tail() {
    let scenario = log_append(true, 1_500, &[], ", torn across a 4 KiB boundary");
    run(
        "explore::a_torn_append_across_a_block_boundary_is_only_a_torn_tail",
        vec![(scenario, Expect::Clean)],
    );
}

/// The same crash state as above, followed by what a user does next: append. The tail check
/// before the append must see that the last append is not whole (it walks back to the record
/// flagged first) and refuse; a check of the last record alone would let an acknowledged record
/// land behind the damage, where `recover --force` would cut it away.
#[test]
fn an_append_after_a_torn_multi_block_append_never_lands_behind_damage() {
    let env = common::Env::new();
    append_untraced(
        env.dir.path(),
        "l.log",
        &[record(0, 1_500), record(1, 1_500)],
    );
    append_untraced(
        env.dir.path(),
        "l.log",
        &[record(10, 1_500), record(11, 1_500)],
    );
    // The crash state the explorer reports: the second block and the size reached the disk,
    // the overwrite of the first block's tail (from the old end, 3136, to 4096) did not.
    let mut bytes = env.read("l.log");
    assert_eq!(
        bytes.len(),
        6208,
        "record sizes changed; adjust the offsets"
    );
    bytes[3136..4096].fill(0);
    env.write("l.log", &bytes);
    let append = common::run(&env, &["log", "append", "l.log", "acknowledged"], b"");
    let verify = common::run(&env, &["log", "verify", "l.log"], b"");
    assert!(
        !append.status.success() || verify.status.code() == Some(0),
        "log append exited 0, but its record sits behind damage: log verify exited {:?}: {}",
        verify.status.code(),
        verify.out()
    );
}

#[test]
fn interrupted_recover_converges_to_the_uninterrupted_result() {
    run(
        "explore::interrupted_recover_converges_to_the_uninterrupted_result",
        vec![(recover_torn_tail(), Expect::Clean)],
    );
}

// ---------------------------------------------------------------------------------------------
// The explorer can fail: sequences that are not crash-safe
// ---------------------------------------------------------------------------------------------

#[test]
fn in_place_save_is_not_crash_atomic_as_documented() {
    run(
        "explore::in_place_save_is_not_crash_atomic_as_documented",
        vec![
            (save("in-place", true, &[], ""), Expect::Violations(None)),
            (save("in-place", false, &[], ""), Expect::Violations(None)),
        ],
    );
}

#[test]
fn naive_truncate_write_fsync_is_caught() {
    if !common::have("dd") {
        common::skip(
            "explore::naive_truncate_write_fsync_is_caught",
            "dd is not installed",
        );
        return;
    }
    run(
        "explore::naive_truncate_write_fsync_is_caught",
        vec![(naive_dd(), Expect::Violations(None))],
    );
}

#[test]
fn atomic_save_without_the_temp_fsync_or_the_directory_fsync_is_caught() {
    let mut no_temp_sync = save("atomic", true, &[], ", broken: temp fsync removed");
    no_temp_sync.edit = Some(Box::new(|ops| {
        let temps = temp_inodes(ops);
        drop_ops(
            ops,
            |o| matches!(o, Op::Sync { ino } if temps.contains(ino)),
        )
    }));
    let mut no_dir_sync = save("atomic", true, &[], ", broken: directory fsync removed");
    no_dir_sync.edit = Some(Box::new(|ops| {
        drop_ops(ops, |o| matches!(o, Op::DirSync { .. }))
    }));
    run(
        "explore::atomic_save_without_the_temp_fsync_or_the_directory_fsync_is_caught",
        vec![
            (
                no_temp_sync,
                Expect::Violations(Some("neither the old nor the new")),
            ),
            (no_dir_sync, Expect::Violations(Some("the save exited 0"))),
        ],
    );
}
