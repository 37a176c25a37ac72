//! Injected faults: one matrix over every command × every step it runs × {EIO, ENOSPC}, a sweep
//! that fails each real `fsync` under strace, and real ENOSPC on a small tmpfs for every command.
//!
//! **The matrix** (`fault_matrix_every_command_step_and_errno`: it uses the
//! test-only switch `DURABLE_FAULT=STEP:eio|enospc`). Scenarios: `save` with each strategy, for an
//! existing target (plain, and with `--backup --verify`) and a new one; `log append` to a new
//! log, to an existing one, and with `--verify`; `recover` of a torn log with and without a
//! sidecar; `recover DIR` of a directory with an interrupted journal (valid: completed; invalid:
//! rolled back) and a stale temporary file. The steps are not hard-coded: for each scenario every
//! name in `Step::ALL` is tried as `STEP:crash`, and the steps after which the process aborts are
//! the steps it runs (for `save`, that set must equal the `steps` of its `--json` report: `log
//! append` and `recover` print no step trace). A new step is therefore covered without editing
//! this file. Each case must end with:
//!
//! - the exit status of its side of the commit point — 2 before, 4 after (docs/DURABILITY.md's
//!   table for save; for the other commands, the point docs/FORMAT.md names: the log's flush for
//!   append, the cut for recover, the target's completion for a journal). Whether a step comes
//!   after the commit point is itself probed, with `COMMIT:crash,STEP:eio`: an abort means the
//!   commit step ran first;
//! - one stderr line `durable: could not <the step's action> <a path in the scratch dir>: <the
//!   error text>`;
//! - no user data lost: save — exit 2 leaves the old content (in-place: or says it may be
//!   mixed), exit 4 the new content (in place, or in a valid journal); append — exit 2 leaves the
//!   log byte-identical (a new log: none at all), exit 4 has every new record; recover — the valid records kept and every
//!   removed byte still in the log or in the sidecar; journals — the journal kept until its
//!   target is complete;
//! - no temporary file left (the stale one planted for `recover DIR` swept), and afterwards a
//!   clean run converges (`recover`, or the next append).
//!
//! **Failed fsyncs** (`failed_fsync_is_never_retried_into_success`): each scenario runs under
//! `strace -e inject=fsync:error=EIO:when=K` for every K up to its number of `fsync` (and
//! `fdatasync`) calls — a real syscall failure, not the switch, so flushes outside any step (the
//! directory flush after sweeping a temp) are covered too. After the failed call the process
//! must not flush the same file descriptor again before closing it (a retry: after a failed fsync
//! Linux may have dropped the dirty pages, so a second fsync "succeeds" without the data), and it
//! must not exit 0.
//!
//! **Real ENOSPC** on a 1 MiB tmpfs (root only; otherwise skipped with the reason): `log
//! append` filling the filesystem mid-append (cut back to its old bytes, exit 2), `recover`
//! unable to write its sidecar (log unchanged, exit 2), and `save --strategy in-place`
//! (save_refusals.rs covers atomic and journal).
//!
//! With `DURABLE_RELIABILITY_OUT=FILE`, each sweep appends its figures to FILE as a JSON line.
//! `DURABLE_FAULT_SCENARIO=TEXT` limits both sweeps to the scenarios whose name contains TEXT
//! (for a quick run while working on one command; the completeness checks are then skipped).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use durable::Step;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::{self, Durable, Env, Run, fault_switch, have, skip, small_tmpfs};
use crate::strace_parse::{fd_and_path, parse_trace};

const OLD: &[u8] = b"old content: the previous version of the target, longer than the new one\n";
/// Shorter than OLD: an in-place write that is not truncated yet shows a mix.
const NEW: &[u8] = b"NEW content\n";
/// Saved over a pending journal of NEW.
const THIRD: &[u8] = b"third content, saved over an interrupted journaled save\n";
const OLD_RECORDS: [&str; 3] = ["alpha", "bravo", "charlie"];
const NEW_RECORDS: [&str; 2] = ["delta", "echo"];
const NEXT_RECORD: &str = "foxtrot";
const TORN_RECORDS: [&str; 5] = [
    "first",
    "second record",
    "3",
    "fourth, a somewhat longer record payload",
    "fifth",
];
const TARGET: &str = "t";
const LOG: &str = "events.log";
const JOURNAL: &str = ".t.durable-journal";
const STALE_TEMP: &str = ".t.0123456789abcdef.durable-tmp";
const ERRNOS: [(&str, &str); 2] = [
    ("eio", "Input/output error"),
    ("enospc", "No space left on device"),
];

/// Cases that fail because of a known bug in the tool: (scenario name, step). The matrix runs
/// them and reports them apart; `known_bug_*` tests (ignored) fail on them until they are fixed.
const KNOWN_BUGS: &[(&str, &str)] = &[];

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Save {
        strategy: &'static str,
        existing: bool,
        extra: &'static [&'static str],
    },
    /// `save --strategy atomic` of THIRD over a target whose journaled save of NEW was
    /// interrupted once its journal was durable: the save first settles (completes) it.
    SaveOverJournal,
    AppendNew,
    /// `log append` to an existing empty file (logrotate's `create`): started as a new log.
    AppendEmpty,
    AppendExisting {
        verify: bool,
    },
    RecoverTorn {
        sidecar: bool,
    },
    RecoverJournal {
        valid: bool,
    },
}

impl Kind {
    fn command(self) -> &'static str {
        match self {
            Kind::Save { .. } | Kind::SaveOverJournal => "save",
            Kind::AppendNew | Kind::AppendEmpty | Kind::AppendExisting { .. } => "log append",
            Kind::RecoverTorn { .. } | Kind::RecoverJournal { .. } => "recover",
        }
    }

    fn name(self) -> String {
        match self {
            Kind::Save {
                strategy,
                existing,
                extra,
            } => format!(
                "save --strategy {strategy}{}{}",
                extra.iter().map(|e| format!(" {e}")).collect::<String>(),
                if existing {
                    " over an existing target"
                } else {
                    " to a new target"
                }
            ),
            Kind::SaveOverJournal => {
                "save --strategy atomic over a target with an interrupted journal".into()
            }
            Kind::AppendNew => "log append to a new log".into(),
            Kind::AppendEmpty => "log append to an existing empty file".into(),
            Kind::AppendExisting { verify: false } => "log append to an existing log".into(),
            Kind::AppendExisting { verify: true } => {
                "log append --verify to an existing log".into()
            }
            Kind::RecoverTorn { sidecar: true } => "recover a torn log (sidecar)".into(),
            Kind::RecoverTorn { sidecar: false } => "recover --no-backup a torn log".into(),
            Kind::RecoverJournal { valid: true } => {
                "recover DIR with an interrupted journal (valid: completed) and a stale temp".into()
            }
            Kind::RecoverJournal { valid: false } => {
                "recover DIR with an interrupted journal (invalid: rolled back) and a stale temp"
                    .into()
            }
        }
    }

    /// The step whose completion is the commit point: a failure in a step that runs after it
    /// exits 4, a failure in it or before it exits 2. `None`: every failure exits 2.
    fn commit(self) -> Option<&'static str> {
        match self {
            // docs/DURABILITY.md, "Failures, and what exit status they give".
            Kind::Save {
                strategy: "atomic", ..
            } => Some("rename"),
            Kind::Save {
                strategy: "journal",
                ..
            } => Some("sync-dir-journal"),
            Kind::Save {
                existing: false, ..
            } => Some("close-target"),
            Kind::Save { .. } => Some("sync-target"),
            // Settling the earlier save is not this save's commit: its rename is.
            Kind::SaveOverJournal => Some("rename"),
            // docs/FORMAT.md: anything failing before the flush completes appends nothing.
            Kind::AppendNew | Kind::AppendEmpty | Kind::AppendExisting { .. } => Some("sync-log"),
            // The sidecar is durable before a byte of the log goes away; the cut is the change.
            Kind::RecoverTorn { .. } => Some("truncate"),
            // Completing: once the target is complete and closed only the journal's removal is
            // left (4); before, the journal is still needed and a rerun completes it (2).
            Kind::RecoverJournal { valid: true } => Some("close-target"),
            // Rolling back: removing the journal is the change.
            Kind::RecoverJournal { valid: false } => Some("remove-journal"),
        }
    }

    /// Steps after the commit point that still exit 2 (documented exceptions).
    fn exit_2_after_commit(self, step: &str) -> bool {
        // In place, a failed verification means the content may be wrong: "may be mixed", 2.
        matches!(
            self,
            Kind::Save {
                strategy: "in-place",
                existing: true,
                ..
            }
        ) && step == "verify"
    }
}

/// Every scenario, or those whose name contains `DURABLE_FAULT_SCENARIO` (for a quick run while
/// working on one command).
fn scenarios() -> Vec<Kind> {
    let mut out = all_scenarios();
    if let Ok(only) = std::env::var("DURABLE_FAULT_SCENARIO") {
        out.retain(|k| k.name().contains(&only));
    }
    out
}

fn all_scenarios() -> Vec<Kind> {
    let mut out = Vec::new();
    for strategy in ["atomic", "in-place", "journal"] {
        for (existing, extra) in [
            (true, &[][..]),
            (true, &["--backup", "--verify"][..]),
            (false, &[][..]),
        ] {
            out.push(Kind::Save {
                strategy,
                existing,
                extra,
            });
        }
    }
    out.extend([
        Kind::SaveOverJournal,
        Kind::AppendNew,
        Kind::AppendEmpty,
        Kind::AppendExisting { verify: false },
        Kind::AppendExisting { verify: true },
        Kind::RecoverTorn { sidecar: true },
        Kind::RecoverTorn { sidecar: false },
        Kind::RecoverJournal { valid: true },
        Kind::RecoverJournal { valid: false },
    ]);
    out
}

// ---------------------------------------------------------------------------------------------
// Fixtures: the files a scenario starts from, built once and copied for each case
// ---------------------------------------------------------------------------------------------

struct Fixture {
    kind: Kind,
    template: Env,
    /// The log before the command (append to an existing log, recover a torn log).
    log_before: Option<Vec<u8>>,
    /// The end of the torn log's valid prefix.
    valid_end: usize,
}

/// `durable ARGS` in `dir` with `stdin`, the fault switch set to `fault` if given.
fn durable_in(dir: &Path, args: &[OsString], stdin: &[u8], fault: Option<&str>) -> Durable {
    Durable::new(dir)
        .args(args)
        .stdin(stdin)
        .fault_if(fault)
        .bound(BOUND)
}

/// The bound on one run: a hang fails the case instead of the suite.
const BOUND: Duration = Duration::from_secs(60);

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Payloads of a log, through `log dump --format json`.
fn payloads(dir: &Path, log: &Path) -> Vec<String> {
    let out = durable_in(
        dir,
        &[
            "log".into(),
            "dump".into(),
            "--format".into(),
            "json".into(),
            log.into(),
        ],
        b"",
        None,
    )
    .run();
    out.out()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["payload"]["text"].as_str().map(str::to_string))
        .collect()
}

/// `log verify --json`: (exit code, report).
fn verify(dir: &Path, log: &Path) -> (Option<i32>, Value) {
    let out = durable_in(
        dir,
        &["log".into(), "verify".into(), "--json".into(), log.into()],
        b"",
        None,
    )
    .run();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), v)
}

impl Fixture {
    /// Build the starting files of `kind`; `None` if that needs the fault switch and this build
    /// has none.
    fn build(kind: Kind) -> Option<Fixture> {
        let template = Env::new();
        let dir = template.dir.path().to_path_buf();
        let mut fx = Fixture {
            kind,
            log_before: None,
            valid_end: 0,
            template,
        };
        match kind {
            Kind::Save { existing, .. } => {
                if existing {
                    let t = fx.template.write(TARGET, OLD);
                    fs::set_permissions(t, fs::Permissions::from_mode(0o640)).expect("chmod");
                }
            }
            Kind::AppendNew => {}
            Kind::AppendEmpty => {
                fx.template.write(LOG, b"");
                fx.log_before = Some(Vec::new());
            }
            Kind::AppendExisting { .. } => {
                let mut args = os(&["log", "append", "--sync", "none", LOG]);
                args.extend(OLD_RECORDS.iter().map(OsString::from));
                let out = durable_in(&dir, &args, b"", None).run();
                assert!(out.status.success(), "fixture: {}", out.show());
                fx.log_before = Some(fx.template.read(LOG));
            }
            Kind::RecoverTorn { .. } => {
                // Two appends: three records, then two more.
                for records in [&TORN_RECORDS[..3], &TORN_RECORDS[3..]] {
                    let mut args = os(&["log", "append", "--sync", "none", LOG]);
                    args.extend(records.iter().map(OsString::from));
                    let out = durable_in(&dir, &args, b"", None).run();
                    assert!(out.status.success(), "fixture: {}", out.show());
                }
                // Cut inside the fourth record, the first of the second append: three valid
                // records and a torn tail.
                let out = durable_in(
                    &dir,
                    &os(&["log", "dump", "--format", "json", LOG]),
                    b"",
                    None,
                )
                .run();
                let fourth: Value = out
                    .out()
                    .lines()
                    .nth(3)
                    .and_then(|l| serde_json::from_str(l).ok())
                    .expect("fixture: the fourth record");
                let start = fourth["offset"].as_u64().expect("offset") as usize;
                let full = fx.template.read(LOG);
                let damaged = full[..start + 30].to_vec();
                fx.template.write(LOG, &damaged);
                let (code, v) = verify(&dir, &dir.join(LOG));
                assert_eq!(code, Some(1), "fixture: a torn tail: {v}");
                assert_eq!(v["valid_end"].as_u64(), Some(start as u64), "fixture: {v}");
                fx.valid_end = start;
                fx.log_before = Some(damaged);
            }
            Kind::RecoverJournal { valid: false } => {
                fx.template.write(TARGET, OLD);
                // Ours (our header, magic and checksum: docs/DURABILITY.md, "Journal format"),
                // but its content never reached the disk: rolled back. (A file without our
                // header is not provably ours and is left alone.)
                let content = b"new content that never reached the disk
";
                let mut journal = vec![0u8; 64];
                journal[..8].copy_from_slice(b"DURJNL\0\x01");
                journal[8..16].copy_from_slice(&(content.len() as u64).to_le_bytes());
                journal[16..48].copy_from_slice(&Sha256::digest(content));
                journal[48..52].copy_from_slice(&0o644u32.to_le_bytes());
                let crc = crc32fast::hash(&journal[..60]);
                journal[60..64].copy_from_slice(&crc.to_le_bytes());
                journal.extend(std::iter::repeat_n(0u8, content.len()));
                fx.template.write(JOURNAL, journal);
                fx.template
                    .write(STALE_TEMP, b"stale temp of an interrupted save\n");
            }
            Kind::RecoverJournal { valid: true } | Kind::SaveOverJournal => {
                fx.template.write(TARGET, OLD);
                if !durable::fault::enabled() {
                    return None;
                }
                // A journaled save killed once its journal is durable: target O, journal N.
                let out = durable_in(
                    &dir,
                    &os(&["save", "--strategy", "journal", TARGET]),
                    NEW,
                    Some("sync-dir-journal:crash"),
                )
                .run();
                assert_eq!(out.status.signal(), Some(libc::SIGABRT), "fixture: {out:?}");
                assert_eq!(
                    valid_journal(&fx.template.read(JOURNAL)).as_deref(),
                    Some(NEW),
                    "fixture: a valid journal"
                );
                if kind != Kind::SaveOverJournal {
                    fx.template
                        .write(STALE_TEMP, b"stale temp of an interrupted save\n");
                }
            }
        }
        Some(fx)
    }

    /// A fresh copy of the starting files.
    fn instance(&self) -> Env {
        let env = Env::new();
        for name in self.template.names() {
            let from = self.template.path(&name);
            let to = env.path(&name);
            fs::copy(&from, &to).unwrap_or_else(|e| panic!("copy {from:?}: {e}"));
        }
        env
    }

    /// The command line, with absolute paths (so every message names a path in `dir`).
    fn args(&self, dir: &Path, json: bool) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        match self.kind {
            Kind::Save {
                strategy, extra, ..
            } => {
                args.extend(os(&["save", "--strategy", strategy]));
                args.extend(os(extra));
                if json {
                    args.push("--json".into());
                }
                args.push(dir.join(TARGET).into());
            }
            Kind::SaveOverJournal => {
                args.extend(os(&["save", "--strategy", "atomic"]));
                if json {
                    args.push("--json".into());
                }
                args.push(dir.join(TARGET).into());
            }
            Kind::AppendNew | Kind::AppendEmpty | Kind::AppendExisting { .. } => {
                args.extend(os(&["log", "append"]));
                if self.kind == (Kind::AppendExisting { verify: true }) {
                    args.push("--verify".into());
                }
                args.push(dir.join(LOG).into());
                args.extend(NEW_RECORDS.iter().map(OsString::from));
            }
            Kind::RecoverTorn { sidecar } => {
                args.push("recover".into());
                if !sidecar {
                    args.push("--no-backup".into());
                }
                args.push(dir.join(LOG).into());
            }
            Kind::RecoverJournal { .. } => {
                args.push("recover".into());
                args.push(dir.into());
            }
        }
        args
    }

    fn stdin(&self) -> &'static [u8] {
        match self.kind {
            Kind::Save { .. } => NEW,
            Kind::SaveOverJournal => THIRD,
            _ => b"",
        }
    }

    fn run(&self, env: &Env, fault: Option<&str>) -> Run {
        durable_in(
            env.dir.path(),
            &self.args(env.dir.path(), false),
            self.stdin(),
            fault,
        )
        .run()
    }
}

/// The content of a journal if it is valid (header magic and CRC, length, SHA-256), following
/// the layout in docs/DURABILITY.md ("Journal format").
fn valid_journal(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.len() < 64 {
        return None;
    }
    let (header, content) = bytes.split_at(64);
    let crc = u32::from_le_bytes(header[60..64].try_into().unwrap());
    let len = u64::from_le_bytes(header[8..16].try_into().unwrap());
    let valid = &header[0..8] == b"DURJNL\0\x01"
        && crc == crc32fast::hash(&header[..60])
        && content.len() as u64 == len
        && Sha256::digest(content)[..] == header[16..48];
    valid.then(|| content.to_vec())
}

fn temps(env: &Env) -> Vec<String> {
    env.names()
        .into_iter()
        .filter(|n| n.ends_with(".durable-tmp"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Discovery: which steps a scenario runs, and which of them come after its commit point
// ---------------------------------------------------------------------------------------------

struct Plan {
    /// The steps the command runs (in `--json` order for save, else in `Step::ALL` order).
    steps: Vec<&'static str>,
    /// Those that run after the commit step.
    after_commit: BTreeSet<&'static str>,
}

fn discover(fx: &Fixture, problems: &mut Vec<String>) -> Plan {
    let name = fx.kind.name();
    let mut ran: Vec<&'static str> = Vec::new();
    for step in Step::ALL {
        let env = fx.instance();
        let out = fx.run(&env, Some(&format!("{}:crash", step.name())));
        if out.status.signal() == Some(libc::SIGABRT) {
            ran.push(step.name());
        } else if out.status.code() != Some(0) {
            problems.push(format!(
                "{name}: with {}:crash planned (a step it does not run) it should succeed: {}",
                step.name(),
                out.show()
            ));
        }
    }
    assert!(!ran.is_empty(), "{name}: no step ran");
    let mut steps = ran.clone();
    if matches!(fx.kind, Kind::Save { .. } | Kind::SaveOverJournal) {
        let env = fx.instance();
        let out = durable_in(
            env.dir.path(),
            &fx.args(env.dir.path(), true),
            fx.stdin(),
            None,
        )
        .run();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let reported: Vec<&'static str> = report["steps"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s["step"].as_str())
                    .filter_map(Step::from_name)
                    .map(Step::name)
                    .collect()
            })
            .unwrap_or_default();
        // Settling a journal runs its own steps but reports as the single step
        // `settle-journal` (src/save.rs): only then may the switch stop steps --json omits.
        let unreported: Vec<&'static str> = ran
            .iter()
            .copied()
            .filter(|s| !reported.contains(s))
            .collect();
        let phantom: Vec<&'static str> = reported
            .iter()
            .copied()
            .filter(|s| !ran.contains(s))
            .collect();
        if !phantom.is_empty() || (!unreported.is_empty() && !reported.contains(&"settle-journal"))
        {
            problems.push(format!(
                "{name}: the steps its --json report lists ({reported:?}) are not the steps the \
                 fault switch can stop ({ran:?}); {}",
                out.show()
            ));
        }
        if !reported.is_empty() {
            steps = reported;
            steps.extend(unreported);
        }
    }
    let mut after_commit = BTreeSet::new();
    if let Some(commit) = fx.kind.commit() {
        if !ran.contains(&commit) {
            problems.push(format!(
                "{name}: its commit step {commit} does not run (steps: {ran:?})"
            ));
        }
        for &step in &ran {
            if step == commit {
                continue;
            }
            // If the commit step runs first, the process aborts right after it, before the
            // injected error; if `step` runs first, it fails and the process exits.
            let env = fx.instance();
            let out = fx.run(&env, Some(&format!("{commit}:crash,{step}:eio")));
            if out.status.signal() == Some(libc::SIGABRT) {
                after_commit.insert(step);
            }
        }
    }
    Plan {
        steps,
        after_commit,
    }
}

// ---------------------------------------------------------------------------------------------
// One case: a step failing with an errno
// ---------------------------------------------------------------------------------------------

/// Run `fx`'s command with `step` failing with `errno` and return every contract violation.
fn fail_step(fx: &Fixture, plan: &Plan, step: &'static str, errno: (&str, &str)) -> Vec<String> {
    let (errno, errno_text) = errno;
    let kind = fx.kind;
    let case = format!("{} with {step}:{errno}", kind.name());
    let mut v: Vec<String> = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            v.push(format!("{case}: {what}"));
        }
    };
    let env = fx.instance();
    let dir = env.dir.path();
    let out = fx.run(&env, Some(&format!("{step}:{errno}")));
    let stderr = out.stderr.clone();
    let code = out.status.code();
    let committed = plan.after_commit.contains(step) && !kind.exit_2_after_commit(step);
    let expected = if committed { 4 } else { 2 };
    check(
        code == Some(expected),
        format!(
            "{}, expected exit {expected} (the step comes {} the commit point); {}",
            out.status,
            if committed { "after" } else { "before" },
            out.show()
        ),
    );
    // One sentence naming the step, a path and the error.
    let action = Step::from_name(step).expect("a step name").action();
    let lines: Vec<&str> = stderr.lines().collect();
    let line = lines.first().copied().unwrap_or("");
    check(
        lines.len() == 1
            && line.starts_with("durable: could not ")
            && line.contains(&format!("could not {action} "))
            && line.contains(errno_text)
            && line.contains(&dir.display().to_string()),
        format!(
            "expected one line \"durable: could not … {action} <path in {}>: {errno_text}…\", got {stderr:?}",
            dir.display()
        ),
    );
    let left = temps(&env);
    check(left.is_empty(), format!("temporary files left: {left:?}"));

    match kind {
        Kind::Save { strategy, .. } => {
            let target = fs::read(dir.join(TARGET)).ok();
            let journal = fs::read(dir.join(JOURNAL)).ok();
            let journaled = journal.as_deref().and_then(valid_journal);
            let before = fs::read(fx.template.path(TARGET)).ok();
            if let Ok(bak) = fs::read(dir.join("t.bak")) {
                check(
                    Some(&bak) == before.as_ref(),
                    "the backup is not the old content".into(),
                );
            }
            if code == Some(2) {
                let mixed = strategy == "in-place" && line.contains("mix");
                check(
                    mixed || line.contains("not changed"),
                    format!(
                        "exit 2 but the message does not say the target was not changed: {line:?}"
                    ),
                );
                check(
                    mixed || target == before,
                    format!(
                        "exit 2 ({line:?}) but the target changed: {:?}",
                        target.as_deref().map(text)
                    ),
                );
                check(journal.is_none(), "exit 2 but a journal is left".into());
            } else if code == Some(4) {
                check(
                    journaled.as_deref().or(target.as_deref()) == Some(NEW),
                    format!(
                        "exit 4 but the new content is neither in the target ({:?}) nor in a valid journal",
                        target.as_deref().map(text)
                    ),
                );
                check(
                    line.contains("new content"),
                    format!(
                        "exit 4 but the message does not say where the new content is: {line:?}"
                    ),
                );
            }
            // Converge: recover settles any journal; the target is then old or new, as reported.
            let r = durable_in(dir, &["recover".into(), dir.into()], b"", None).run();
            check(
                r.status.code() == Some(0),
                format!("recover DIR afterwards: {}", r.show()),
            );
            let now = fs::read(dir.join(TARGET)).ok();
            let mixed_in_place = strategy == "in-place" && code == Some(2) && line.contains("mix");
            let want = if code == Some(4) {
                Some(NEW.to_vec())
            } else {
                before
            };
            check(
                mixed_in_place || now == want,
                format!(
                    "after recover the target is {:?}, expected {:?}",
                    now.as_deref().map(text),
                    want.as_deref().map(text)
                ),
            );
            check(
                !dir.join(JOURNAL).exists() && temps(&env).is_empty(),
                format!("after recover: {:?}", env.names()),
            );
        }
        Kind::SaveOverJournal => {
            // Exit 2: this save wrote nothing, and the earlier save's journaled content survives
            // (completed into the target, or still in its valid journal). Exit 4: THIRD is in.
            let target = fs::read(dir.join(TARGET)).ok();
            let journal = fs::read(dir.join(JOURNAL)).ok();
            let recovered = journal
                .as_deref()
                .and_then(valid_journal)
                .or_else(|| target.clone());
            let want: &[u8] = if code == Some(4) { THIRD } else { NEW };
            check(
                recovered.as_deref() == Some(want),
                format!(
                    "exit {code:?} but what is recoverable is {:?} (target {:?}), expected {:?}",
                    recovered.as_deref().map(text),
                    target.as_deref().map(text),
                    text(want)
                ),
            );
            let r = durable_in(dir, &["recover".into(), dir.into()], b"", None).run();
            check(
                r.status.code() == Some(0),
                format!("recover DIR afterwards: {}", r.show()),
            );
            check(
                fs::read(dir.join(TARGET)).ok().as_deref() == Some(want),
                "after recover the target does not hold the content that should win".into(),
            );
            check(
                env.names() == [TARGET],
                format!("after recover: {:?}", env.names()),
            );
        }
        Kind::AppendNew | Kind::AppendEmpty | Kind::AppendExisting { .. } => {
            let log = dir.join(LOG);
            let old: Vec<String> = if fx.log_before.as_ref().is_some_and(|b| !b.is_empty()) {
                OLD_RECORDS.iter().map(|s| s.to_string()).collect()
            } else {
                Vec::new()
            };
            let with_new: Vec<String> = old
                .iter()
                .cloned()
                .chain(NEW_RECORDS.iter().map(|s| s.to_string()))
                .collect();
            let now = fs::read(&log).ok();
            if code == Some(2) {
                check(
                    line.contains("nothing was appended"),
                    format!("exit 2 but the message does not say nothing was appended: {line:?}"),
                );
                match (&fx.log_before, &now) {
                    (Some(before), now) => check(
                        now.as_ref() == Some(before),
                        "exit 2 but the log is not byte-identical to before".into(),
                    ),
                    (None, None) => {}
                    // As limits.rs expects too: a failed first append leaves no empty log.
                    (None, Some(_)) => check(
                        false,
                        format!(
                            "exit 2 but a new log was left behind ({} records)",
                            payloads(dir, &log).len()
                        ),
                    ),
                }
            } else if code == Some(4) {
                check(
                    line.contains("may not survive"),
                    format!(
                        "exit 4 but the message does not say the flush is unconfirmed: {line:?}"
                    ),
                );
                check(
                    now.is_some() && payloads(dir, &log) == with_new,
                    format!(
                        "exit 4 (written, durability not confirmed) but the log holds {:?}, not {with_new:?}",
                        now.as_ref().map(|_| payloads(dir, &log))
                    ),
                );
            }
            // An empty file left empty is not a log yet (verify and recover say so, exit 2).
            let started = now.as_ref().is_some_and(|n| !n.is_empty());
            if started {
                let (vcode, report) = verify(dir, &log);
                check(
                    matches!(vcode, Some(0 | 1)),
                    format!("the log does not verify clean or torn-tail-only: {report}"),
                );
            }
            // Converge: recover (a no-op on a clean log), then the next append works.
            if started {
                let r = durable_in(dir, &["recover".into(), log.clone().into()], b"", None).run();
                check(
                    r.status.code() == Some(0),
                    format!("recover afterwards: {}", r.show()),
                );
            }
            let r = durable_in(
                dir,
                &[
                    "log".into(),
                    "append".into(),
                    log.clone().into(),
                    NEXT_RECORD.into(),
                ],
                b"",
                None,
            )
            .run();
            check(
                r.status.code() == Some(0),
                format!("the next append: {}", r.show()),
            );
            let mut want = if code == Some(4) { with_new } else { old };
            want.push(NEXT_RECORD.into());
            let got = payloads(dir, &log);
            check(
                got == want,
                format!("after the next append the log holds {got:?}, expected {want:?}"),
            );
        }
        Kind::RecoverTorn { sidecar } => {
            let log = dir.join(LOG);
            let damaged = fx.log_before.as_deref().expect("torn log");
            let (prefix, tail) = damaged.split_at(fx.valid_end);
            let side_path = common::sidecar_path(&log, fx.valid_end as u64);
            let now = fs::read(&log).expect("the log is still there");
            let side = fs::read(&side_path)
                .ok()
                .map(|b| common::parse_sidecar(&b).0);
            check(
                now == damaged || now == prefix,
                format!(
                    "the log ({} bytes) is neither the damaged file nor its valid prefix",
                    now.len()
                ),
            );
            if code == Some(2) {
                check(now == damaged, "exit 2 but the log was cut".into());
            } else if code == Some(4) {
                check(now == prefix, "exit 4 but the log was not cut".into());
            }
            if sidecar {
                if let Some(side) = &side {
                    check(
                        side == tail,
                        "the sidecar does not hold exactly the removed bytes".into(),
                    );
                }
                check(
                    now == damaged || side.as_deref() == Some(tail),
                    "bytes were cut from the log without a complete sidecar".into(),
                );
            } else {
                check(side.is_none(), "--no-backup wrote a sidecar".into());
            }
            let (vcode, report) = verify(dir, &log);
            check(
                matches!(vcode, Some(0 | 1)) && report["records"].as_u64() == Some(3),
                format!("the valid records are not all there: {report}"),
            );
            // Converge: a rerun finishes the job.
            let r = durable_in(dir, &fx.args(dir, false), b"", None).run();
            check(
                r.status.code() == Some(0),
                format!("the rerun: {}", r.show()),
            );
            check(
                fs::read(&log).ok().as_deref() == Some(prefix),
                "after the rerun the log is not its valid prefix".into(),
            );
            let mut want = vec![LOG.to_string()];
            if sidecar {
                want.push(common::SIDECAR_DIR.to_string());
                want.push(format!(
                    "{}/{LOG}.{}.durable-sidecar",
                    common::SIDECAR_DIR,
                    fx.valid_end
                ));
                want.sort();
                check(
                    fs::read(&side_path)
                        .ok()
                        .map(|b| common::parse_sidecar(&b).0)
                        .as_deref()
                        == Some(tail),
                    "after the rerun the sidecar does not hold the removed bytes".into(),
                );
            }
            check(
                env.names() == want,
                format!("after the rerun: {:?}, expected {want:?}", env.names()),
            );
        }
        Kind::RecoverJournal { valid } => {
            let target = fs::read(dir.join(TARGET)).ok();
            let journal = fs::read(dir.join(JOURNAL)).ok();
            let settled: &[u8] = if valid { NEW } else { OLD };
            if code == Some(4) {
                check(
                    target.as_deref() == Some(settled),
                    format!(
                        "exit 4 but the target is {:?}, not the settled content",
                        target.as_deref().map(text)
                    ),
                );
            } else if code == Some(2) {
                check(journal.is_some(), "exit 2 but the journal is gone".into());
            }
            if valid {
                let journaled = journal.as_deref().and_then(valid_journal);
                check(
                    journaled.as_deref().or(target.as_deref()) == Some(NEW),
                    "the journal's content is lost".into(),
                );
            } else {
                check(
                    target.as_deref() == Some(OLD),
                    "rolling back changed the target".into(),
                );
            }
            check(
                !dir.join(STALE_TEMP).exists(),
                "the stale temporary file was not swept".into(),
            );
            // Converge: a rerun settles the journal.
            let r = durable_in(dir, &fx.args(dir, false), b"", None).run();
            check(
                r.status.code() == Some(0),
                format!("the rerun: {}", r.show()),
            );
            check(
                fs::read(dir.join(TARGET)).ok().as_deref() == Some(settled),
                "after the rerun the target is not the settled content".into(),
            );
            check(
                env.names() == [TARGET],
                format!("after the rerun: {:?}", env.names()),
            );
        }
    }
    v
}

// ---------------------------------------------------------------------------------------------
// The matrix
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Tally {
    scenarios: usize,
    steps: BTreeSet<&'static str>,
    cases: usize,
    violations: Vec<String>,
    known: Vec<String>,
    /// Cases that failed only because of a known bug.
    known_cases: usize,
}

fn is_known_bug(kind: Kind, step: &str) -> bool {
    KNOWN_BUGS
        .iter()
        .any(|&(name, s)| name == kind.name() && s == step)
}

/// Run the matrix over `scenarios`, keeping only the cases `select` accepts.
fn matrix(
    scenarios: &[Kind],
    select: impl Fn(Kind, &str) -> bool,
) -> (BTreeMap<&'static str, Tally>, Vec<String>) {
    let mut by_command: BTreeMap<&'static str, Tally> = BTreeMap::new();
    let mut lines = Vec::new();
    for &kind in scenarios {
        let Some(fx) = Fixture::build(kind) else {
            lines.push(format!(
                "{}: skipped (its fixture needs the fault switch)",
                kind.name()
            ));
            continue;
        };
        let tally = by_command.entry(kind.command()).or_default();
        tally.scenarios += 1;
        let mut problems = Vec::new();
        let plan = discover(&fx, &mut problems);
        tally.violations.extend(problems);
        let mut cases = 0;
        let mut bad = 0;
        for &step in &plan.steps {
            if !select(kind, step) {
                continue;
            }
            tally.steps.insert(step);
            for errno in ERRNOS {
                cases += 1;
                let found = fail_step(&fx, &plan, step, errno);
                bad += found.len();
                if is_known_bug(kind, step) {
                    tally.known_cases += usize::from(!found.is_empty());
                    tally.known.extend(found);
                } else {
                    tally.violations.extend(found);
                }
            }
        }
        tally.cases += cases;
        lines.push(format!(
            "{:<82} {:>2} steps, {:>2} cases, {:>2} violations  [{}] after commit: [{}]",
            kind.name(),
            plan.steps.len(),
            cases,
            bad,
            plan.steps.join(" "),
            plan.after_commit
                .iter()
                .copied()
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    (by_command, lines)
}

// Guards: every command × every step it runs × {EIO, ENOSPC}: the exit status of its side of the
// commit point, one sentence naming step, path and error, no data lost, no temp left, converges.
#[test]
fn fault_matrix_every_command_step_and_errno() {
    let test = "fault_injection::fault_matrix_every_command_step_and_errno";
    if !fault_switch(test) {
        return;
    }
    let (by_command, lines) = matrix(&scenarios(), |_, _| true);
    // With DURABLE_FAULT_SCENARIO, only part of the matrix ran: no completeness checks.
    let partial = std::env::var("DURABLE_FAULT_SCENARIO").is_ok();
    let cases: usize = by_command.values().map(|t| t.cases).sum();
    let violations: Vec<&String> = by_command.values().flat_map(|t| &t.violations).collect();
    let known: Vec<&String> = by_command.values().flat_map(|t| &t.known).collect();
    let steps: BTreeSet<&str> = by_command
        .values()
        .flat_map(|t| t.steps.iter().copied())
        .collect();
    println!(
        "fault matrix: {} commands, {} scenarios, {} distinct steps, {} faults injected, {} violations, {} known-bug violations",
        by_command.len(),
        by_command.values().map(|t| t.scenarios).sum::<usize>(),
        steps.len(),
        cases,
        violations.len(),
        known.len()
    );
    for line in &lines {
        println!("  {line}");
    }
    for k in &known {
        println!("  KNOWN BUG (see fault_injection::known_bug_*): {k}");
    }
    let never_run: Vec<&str> = Step::ALL
        .iter()
        .map(|s| s.name())
        .filter(|n| !partial && !steps.contains(n))
        .collect();
    if !never_run.is_empty() {
        println!("  steps no scenario runs: {never_run:?}");
    }
    common::append_figures(&[json!({
        "part": "faults",
        "commands": by_command.len(),
        "steps": steps.len(),
        "cases": cases,
        "violations": violations.len(),
        "known_bug_cases": by_command.values().map(|t| t.known_cases).sum::<usize>(),
        "by_command": by_command.iter().map(|(c, t)| (c.to_string(), json!({
            "scenarios": t.scenarios,
            "steps": t.steps.len(),
            "cases": t.cases,
            "violations": t.violations.len(),
            "known_bug_cases": t.known_cases,
        }))).collect::<serde_json::Map<String, Value>>(),
    })]);
    for (kind, step) in KNOWN_BUGS {
        if !partial
            && !known
                .iter()
                .any(|k| k.starts_with(&format!("{kind} with {step}:")))
        {
            println!(
                "  NOTE: known bug ({kind}, {step}) no longer shows: remove it from KNOWN_BUGS"
            );
        }
    }
    assert!(
        violations.is_empty(),
        "{test}: {} violations in {cases} cases:\n\n{}",
        violations.len(),
        violations
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    );
    assert!(
        cases > 0 && never_run.is_empty(),
        "{test}: steps no scenario runs: {never_run:?} (add a scenario that runs them)"
    );
}

// Was a bug: `log append` to a new log whose directory flush failed exited 4 ("the records may
// not survive a power loss") although no record was written, and left a header-only log. Now:
// exit 2, nothing appended, no log left (the matrix's checks for exit 2).
#[test]
fn append_to_a_new_log_whose_directory_flush_fails_appends_nothing_and_leaves_no_log() {
    let test = "fault_injection::append_to_a_new_log_whose_directory_flush_fails_appends_nothing_and_leaves_no_log";
    if !fault_switch(test) {
        return;
    }
    let (by_command, _) = matrix(&[Kind::AppendNew], |_, step| step == "sync-dir");
    let cases: usize = by_command.values().map(|t| t.cases).sum();
    let violations: Vec<&String> = by_command.values().flat_map(|t| &t.violations).collect();
    assert!(
        cases >= 2,
        "{test}: the sync-dir step was not exercised ({cases} cases)"
    );
    assert!(
        violations.is_empty(),
        "{test}:\n\n{}",
        violations
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

// ---------------------------------------------------------------------------------------------
// A failed fsync is never retried into success (strace fault injection)
// ---------------------------------------------------------------------------------------------

/// One call from `strace -f -y`: name, fd, the path strace shows for it, return text.
#[derive(Debug)]
struct Call {
    name: String,
    fd: Option<i64>,
    path: String,
    ret: String,
}

/// The calls of `strace -f -y` output, read by the shared parser.
fn parse_calls(trace: &str) -> Vec<Call> {
    parse_trace(trace)
        .unwrap_or_else(|e| panic!("cannot parse the trace: {e}\n{trace}"))
        .into_iter()
        .map(|c| Call {
            fd: c.fd(),
            path: c
                .arg(0)
                .and_then(|arg| fd_and_path(&arg).1)
                .unwrap_or_default(),
            ret: c.ret_text,
            name: c.name,
        })
        .collect()
}

const SYNC_CALLS: [&str; 2] = ["fsync", "fdatasync"];

/// Run the scenario's command under strace, failing the `k`-th call of `inject` with EIO.
fn traced(fx: &Fixture, inject: Option<(&str, usize)>) -> (Run, Vec<Call>, Env) {
    let env = fx.instance();
    let dir = env.dir.path();
    let trace = env.path("strace.out");
    let mut strace: Vec<OsString> = os(&["strace", "-f", "-qq", "-y", "-o"]);
    strace.push(trace.clone().into());
    strace.extend(os(&["-e", "trace=fsync,fdatasync,close"]));
    if let Some((call, k)) = inject {
        strace.extend(os(&["-e", &format!("inject={call}:error=EIO:when={k}")]));
    }
    let out = durable_in(dir, &fx.args(dir, false), fx.stdin(), None)
        .wrap(&strace)
        .run();
    let calls = parse_calls(&fs::read_to_string(&trace).unwrap_or_default());
    let _ = fs::remove_file(&trace);
    (out, calls, env)
}

/// Check one injected fsync failure; returns violations and whether the same file was flushed
/// again later through another descriptor (allowed: it flushes a later change, e.g. the
/// journal's removal).
fn check_injected(case: &str, out: &Run, calls: &[Call], env: &Env) -> (Vec<String>, bool) {
    let mut v = Vec::new();
    let Some(at) = calls.iter().position(|c| c.ret.contains("INJECTED")) else {
        return (
            vec![format!(
                "{case}: the injection did not happen; {}",
                out.show()
            )],
            false,
        );
    };
    let failed = &calls[at];
    let mut reflushed_elsewhere = false;
    for c in &calls[at + 1..] {
        if c.fd == failed.fd && c.name == "close" {
            break;
        }
        if c.fd == failed.fd && SYNC_CALLS.contains(&c.name.as_str()) {
            v.push(format!(
                "{case}: after {}({}) failed, the same descriptor was flushed again: {}({}) = {}",
                failed.name, failed.path, c.name, c.path, c.ret
            ));
        }
    }
    reflushed_elsewhere |= calls[at + 1..].iter().any(|c| {
        SYNC_CALLS.contains(&c.name.as_str()) && c.path == failed.path && c.fd != failed.fd
    });
    let stderr = out.stderr.clone();
    if !matches!(out.status.code(), Some(2 | 4)) {
        v.push(format!(
            "{case}: {}({}) failed but the command ended with {} (expected 2 or 4); {}",
            failed.name,
            failed.path,
            out.status,
            out.show()
        ));
    }
    if !(stderr.contains("could not") && stderr.contains("Input/output error")) {
        v.push(format!("{case}: the failure is not reported: {stderr:?}"));
    }
    let left = temps(env);
    if !left.is_empty() {
        v.push(format!("{case}: temporary files left: {left:?}"));
    }
    (v, reflushed_elsewhere)
}

// Guards: when any fsync/fdatasync of any command fails, the process never flushes that
// descriptor again and never exits 0 (a failed flush is never retried into success).
#[test]
fn failed_fsync_is_never_retried_into_success() {
    let test = "fault_injection::failed_fsync_is_never_retried_into_success";
    if !have("strace") {
        skip(test, "strace is not installed");
        return;
    }
    let mut kinds = scenarios();
    // --sync data flushes with fdatasync.
    for strategy in ["atomic", "in-place", "journal"] {
        kinds.push(Kind::Save {
            strategy,
            existing: true,
            extra: &["--sync", "data"],
        });
    }
    let mut violations = Vec::new();
    let mut lines = Vec::new();
    let mut injections = 0;
    let mut by_command: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for kind in kinds {
        let Some(fx) = Fixture::build(kind) else {
            lines.push(format!(
                "{}: skipped (its fixture needs the fault switch)",
                kind.name()
            ));
            continue;
        };
        let (out, calls, _env) = traced(&fx, None);
        if out.status.code() != Some(0) {
            if out.stderr.clone().contains("ptrace") {
                skip(
                    test,
                    &format!("strace cannot trace here: {}", out.stderr.clone()),
                );
                return;
            }
            violations.push(format!(
                "{}: the clean run under strace failed: {}",
                kind.name(),
                out.show()
            ));
            continue;
        }
        let mut row = Vec::new();
        let mut reflushes = 0;
        let before = violations.len();
        for call in SYNC_CALLS {
            let n = calls.iter().filter(|c| c.name == call).count();
            if n > 0 {
                row.push(format!("{n} {call}"));
            }
            for k in 1..=n {
                injections += 1;
                let case = format!("{}: {call} #{k} of {n} fails with EIO", kind.name());
                let (out, calls, env) = traced(&fx, Some((call, k)));
                let (found, elsewhere) = check_injected(&case, &out, &calls, &env);
                violations.extend(found);
                reflushes += usize::from(elsewhere);
                let e = by_command.entry(kind.command()).or_default();
                e.0 += 1;
            }
        }
        by_command.entry(kind.command()).or_default().1 += violations.len() - before;
        lines.push(format!(
            "{:<82} {:<20} violations {:>2}; the same file flushed again later via another descriptor in {reflushes}",
            kind.name(),
            row.join(", "),
            violations.len() - before,
        ));
    }
    println!(
        "failed fsync sweep: {injections} injected fsync/fdatasync failures, {} violations",
        violations.len()
    );
    for line in &lines {
        println!("  {line}");
    }
    common::append_figures(&[json!({
        "part": "faults-fsync",
        "cases": injections,
        "violations": violations.len(),
        "by_command": by_command.iter().map(|(c, (n, bad))| (c.to_string(), json!({"cases": n, "violations": bad}))).collect::<serde_json::Map<String, Value>>(),
    })]);
    assert!(injections > 0, "{test}: no fsync was injected");
    assert!(
        violations.is_empty(),
        "{test}: {} violations:\n\n{}",
        violations.len(),
        violations.join("\n\n")
    );
}

#[test]
fn strace_call_parser_reads_fds_paths_and_injections() {
    let calls = parse_calls(
        "123 fsync(4</tmp/d/.t.0123456789abcdef.durable-tmp>) = -1 EIO (Input/output error) (INJECTED)\n\
         123 close(4</tmp/d/.t.0123456789abcdef.durable-tmp>) = 0\n\
         123 fsync(3</tmp/d>) = 0\n",
    );
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[0].name, "fsync");
    assert_eq!(calls[0].fd, Some(4));
    assert_eq!(calls[0].path, "/tmp/d/.t.0123456789abcdef.durable-tmp");
    assert!(calls[0].ret.contains("INJECTED"));
    assert_eq!(calls[2].path, "/tmp/d");
    // A retry on the same descriptor is caught, a flush after the close is not a retry.
    let env = Env::new();
    let ok = Run::of(Output {
        status: std::process::ExitStatus::from_raw(2 << 8),
        stdout: Vec::new(),
        stderr: b"durable: could not flush: Input/output error\n".to_vec(),
    });
    let (v, _) = check_injected("good", &ok, &calls, &env);
    assert!(v.is_empty(), "{v:?}");
    let retried = parse_calls(
        "1 fsync(4</x>) = -1 EIO (Input/output error) (INJECTED)\n1 fsync(4</x>) = 0\n",
    );
    let success = Run::of(Output {
        status: std::process::ExitStatus::from_raw(0),
        stdout: Vec::new(),
        stderr: ok.stderr.clone().into_bytes(),
    });
    let (v, _) = check_injected("retried", &success, &retried, &env);
    assert_eq!(v.len(), 2, "a retry and an exit 0 are both reported: {v:?}");
}

// ---------------------------------------------------------------------------------------------
// Real ENOSPC on a small tmpfs
// ---------------------------------------------------------------------------------------------

fn free_bytes(path: &Path) -> u64 {
    let s = rustix::fs::statvfs(path).expect("statvfs");
    s.f_bavail * s.f_frsize
}

/// Fill the filesystem of `dir` with `name` until `leave` bytes (rounded to pages) are free.
fn fill(dir: &Path, name: &str, leave: u64) {
    let mut f = fs::File::create(dir.join(name)).expect("create filler");
    let chunk = vec![0x5au8; 4096];
    while free_bytes(dir) > leave {
        if f.write_all(&chunk).is_err() {
            break;
        }
    }
    let _ = f.sync_all();
}

fn one_line_failure(out: &Run, mentions: &[&str]) -> Result<String, String> {
    let stderr = out.stderr.clone();
    let lines: Vec<&str> = stderr.lines().collect();
    if out.status.code() != Some(2) || lines.len() != 1 {
        return Err(format!("expected exit 2 and one line: {}", out.show()));
    }
    for m in mentions {
        if !lines[0].contains(m) {
            return Err(format!("{m:?} missing from {:?}", lines[0]));
        }
    }
    Ok(lines[0].to_string())
}

// Guards: a log append that fills the filesystem midway is cut back to its old bytes (exit 2),
// and creating a log on a full filesystem leaves no log and no temporary file.
#[test]
fn real_enospc_log_append_is_cut_back_to_its_old_bytes() {
    let test = "fault_injection::real_enospc_log_append_is_cut_back_to_its_old_bytes";
    let env = Env::new();
    let Some((mnt, _guard)) = small_tmpfs(&env, test) else {
        return;
    };
    let log = mnt.join(LOG);
    let mut args = vec![OsString::from("log"), "append".into(), log.clone().into()];
    args.extend(OLD_RECORDS.iter().map(OsString::from));
    let out = durable_in(env.dir.path(), &args, b"", None).run();
    assert!(out.status.success(), "{}", out.show());
    let before = fs::read(&log).expect("read log");
    fill(&mnt, "filler", 64 << 10);
    let free = free_bytes(&mnt);
    // 4000 records of 100 bytes: far more than the free space, far less than a 4 MiB batch, so
    // one write runs the filesystem full partway through.
    let records: Vec<u8> = (0..4000)
        .flat_map(|i| format!("{i:06} {}\n", "r".repeat(92)).into_bytes())
        .collect();
    assert!(
        free > 0 && (records.len() as u64) > free,
        "setup: {free} bytes free"
    );
    let out = durable_in(
        env.dir.path(),
        &["log".into(), "append".into(), log.clone().into()],
        &records,
        None,
    )
    .run();
    let log_text = log.display().to_string();
    if let Err(e) = one_line_failure(
        &out,
        &["No space left on device", &log_text, "nothing was appended"],
    ) {
        panic!("{test}: {e}");
    }
    assert_eq!(
        fs::read(&log).expect("read log"),
        before,
        "the log was not cut back to its old bytes"
    );
    assert_eq!(
        free_bytes(&mnt),
        free,
        "the space the partial append took was not given back"
    );
    let (code, v) = verify(env.dir.path(), &log);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["records"], 3, "{v}");
    env.assert_no_leftovers();

    // A new log on a full filesystem: its header cannot be written.
    fill(&mnt, "filler2", 0);
    let new_log = mnt.join("new.log");
    let out = durable_in(
        env.dir.path(),
        &[
            "log".into(),
            "append".into(),
            new_log.clone().into(),
            "x".into(),
        ],
        b"",
        None,
    )
    .run();
    if let Err(e) = one_line_failure(&out, &["No space left on device", "nothing was appended"]) {
        panic!("{test}: new log: {e}");
    }
    assert!(!new_log.exists(), "a new log was left on a full filesystem");
    env.assert_no_leftovers();
}

// Guards: recover on a full filesystem cannot write the sidecar: the log stays unchanged
// (exit 2, no temp left), and once there is space again a rerun recovers it.
#[test]
fn real_enospc_recover_leaves_the_log_unchanged_when_the_sidecar_cannot_be_written() {
    let test = "fault_injection::real_enospc_recover_leaves_the_log_unchanged_when_the_sidecar_cannot_be_written";
    let env = Env::new();
    let Some((mnt, _guard)) = small_tmpfs(&env, test) else {
        return;
    };
    let log = mnt.join(LOG);
    let big = "p".repeat(6000);
    let out = durable_in(
        env.dir.path(),
        &[
            "log".into(),
            "append".into(),
            log.clone().into(),
            "one".into(),
            "two".into(),
        ],
        b"",
        None,
    )
    .run();
    assert!(out.status.success(), "{}", out.show());
    // The big record is an append of its own, so that tearing it keeps the first two.
    let out = durable_in(
        env.dir.path(),
        &[
            "log".into(),
            "append".into(),
            log.clone().into(),
            big.into(),
        ],
        b"",
        None,
    )
    .run();
    assert!(out.status.success(), "{}", out.show());
    let full = fs::read(&log).expect("read log");
    let (_, v) = verify(env.dir.path(), &log);
    let two_end = full.len() - (24 + 6000 + 12);
    let damaged = full[..full.len() - 1000].to_vec();
    fs::write(&log, &damaged).expect("tear the log");
    let (code, v2) = verify(env.dir.path(), &log);
    assert_eq!(code, Some(1), "setup: torn: {v} {v2}");
    assert_eq!(
        v2["valid_end"].as_u64(),
        Some(two_end as u64),
        "setup: {v2}"
    );
    fill(&mnt, "filler", 0);
    let out = durable_in(
        env.dir.path(),
        &["recover".into(), log.clone().into()],
        b"",
        None,
    )
    .run();
    // The cause, the state and the way forward, in one sentence.
    if let Err(e) = one_line_failure(
        &out,
        &[
            "No space left on device",
            &mnt.display().to_string(),
            &format!("{} was not changed", log.display()),
            "--backup-dir DIR",
            "--no-backup",
        ],
    ) {
        panic!("{test}: {e}");
    }
    assert_eq!(
        fs::read(&log).expect("read log"),
        damaged,
        "the log changed"
    );
    let names: Vec<String> = env
        .names()
        .into_iter()
        .filter(|n| n != "mnt/filler")
        .collect();
    assert_eq!(
        names,
        ["mnt", "mnt/events.log"],
        "a sidecar or temp was left"
    );

    // With space again, the same command recovers it.
    fs::remove_file(mnt.join("filler")).expect("rm filler");
    let out = durable_in(
        env.dir.path(),
        &["recover".into(), log.clone().into()],
        b"",
        None,
    )
    .run();
    assert_eq!(out.status.code(), Some(0), "{}", out.show());
    assert_eq!(fs::read(&log).expect("read log"), &damaged[..two_end]);
    assert_eq!(
        common::read_sidecar(&common::sidecar_path(&log, two_end as u64)),
        &damaged[two_end..]
    );
}

/// Save `input` in place to `target` on a full filesystem.
fn save_in_place_on_a_full_fs(env: &Env, mnt: &Path, target: &Path) -> Run {
    fill(mnt, "filler", 0);
    durable_in(
        env.dir.path(),
        &[
            "save".into(),
            "--strategy".into(),
            "in-place".into(),
            target.into(),
        ],
        &vec![b'N'; 256 << 10],
        None,
    )
    .run()
}

// Guards: save --strategy in-place of a new target on a full filesystem (save_refusals.rs covers
// atomic and journal): exit 2, "not changed", and the half-made target removed.
#[test]
fn real_enospc_save_in_place_of_a_new_target_removes_it() {
    let test = "fault_injection::real_enospc_save_in_place_of_a_new_target_removes_it";
    let env = Env::new();
    let Some((mnt, _guard)) = small_tmpfs(&env, test) else {
        return;
    };
    let n = mnt.join("new");
    let out = save_in_place_on_a_full_fs(&env, &mnt, &n);
    let name = n.display().to_string();
    if let Err(e) = one_line_failure(&out, &["No space left on device", &name, "not changed"]) {
        panic!("{test}: {e}");
    }
    assert!(!n.exists(), "a half-made new target was left");
    env.assert_no_leftovers();
}

// Was a bug: save --strategy in-place over an existing target on a full filesystem. The first
// chunk (up to 1 MiB) is written with write_all_at, which writes what fits (here the target's
// first page) and then fails with ENOSPC; the failure was attributed to offset 0, so the tool
// said "T was not changed" although the old content was already overwritten. It must say the
// target may be mixed (src/save.rs: an output error in place is damage, whatever the offset).
#[test]
fn real_enospc_save_in_place_over_an_existing_target_says_it_may_be_mixed() {
    let test =
        "fault_injection::real_enospc_save_in_place_over_an_existing_target_says_it_may_be_mixed";
    let env = Env::new();
    let Some((mnt, _guard)) = small_tmpfs(&env, test) else {
        return;
    };
    let t = mnt.join(TARGET);
    fs::write(&t, OLD).expect("write target");
    let out = save_in_place_on_a_full_fs(&env, &mnt, &t);
    let line = one_line_failure(&out, &["No space left on device", &t.display().to_string()])
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    let now = fs::read(&t).expect("read target");
    assert!(
        line.contains("mix") || now == OLD,
        "{test}: the message says {line:?}, but the target no longer holds the old content: it \
         is {} bytes starting {:?}",
        now.len(),
        text(&now[..now.len().min(40)])
    );
    env.assert_no_leftovers();
}

// Guards (regression): a journal that creates a new file created it through the directory
// opened (O_NOFOLLOW) and checked to hold the journal, but then removed the journal by its
// path: with the directory moved away (and another put at its name) after the file was
// created, "could not remove the journal" (exit 2) and the journal stayed beside the file it
// had completed, to be replayed by the next save or recover. The journal is removed with
// unlinkat in the same open directory, and that directory is the one flushed: exit 0, the file
// complete and its journal gone in the moved directory, nothing made in the new one. For
// `recover` of the journal's target, of its directory, and a journaled save of a new file.
#[test]
fn a_new_files_journal_is_removed_from_the_directory_it_was_created_in() {
    let test =
        "fault_injection::a_new_files_journal_is_removed_from_the_directory_it_was_created_in";
    if !fault_switch(test) {
        return;
    }
    let env = Env::new();
    let cases: [(&str, &[&str]); 3] = [
        ("recover the target", &["recover", "d/new"]),
        ("recover the directory", &["recover", "d"]),
        ("save", &["save", "--strategy", "journal", "d/new"]),
    ];
    for (case, args) in cases {
        let _ = fs::remove_dir_all(env.path("d"));
        let _ = fs::remove_dir_all(env.path("d.swapped"));
        fs::create_dir(env.path("d")).expect("mkdir");
        if args[0] == "recover" {
            env.write(
                "d/.new.durable-journal",
                crate::recover_boot::journal_of(b"journaled content"),
            );
        }
        let r = env
            .cmd(args)
            .stdin(b"journaled content".to_vec())
            .fault("write-target:swap-dir")
            .run();
        assert_eq!(r.code, 0, "{case}: {}", r.show());
        assert_eq!(
            fs::read(env.path("d.swapped/new")).expect("the new file"),
            b"journaled content",
            "{case}"
        );
        let left: Vec<String> = fs::read_dir(env.path("d.swapped"))
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, vec!["new".to_string()], "{case}: {}", r.show());
        assert_eq!(
            fs::read_dir(env.path("d")).expect("ls").count(),
            0,
            "{case}: nothing made in the directory put at its name"
        );
    }
}
