//! Running one scenario end to end: trace the real command under strace, turn the trace into
//! operations, enumerate the crash states at every point, write each state into a scratch
//! directory, run what a user would run next (`durable recover`, `durable log verify`, a read of
//! the target) and judge the result against the command's promise.
//!
//! What the user runs next depends on the state only, so each distinct state is observed once
//! and its observation reused at every crash point where it occurs; the judgement depends on the
//! point too (after `durable save` exited 0, only the new content is acceptable).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::model::{CrashState, Entry, crash_states, from_disk, no_crash};
use super::ops::{self, Op, Ops, TRACED};
use crate::common::{self, Durable, Env, Run};
use crate::strace_parse::{parse_events, run_under_strace};

/// What the command promises, and how to check it on a crashed directory.
pub enum Oracle {
    /// `durable recover DIR`, then the target holds `old` (`None`: no file) or `new`, and only
    /// `new` once the command exited 0. An empty file is not "no file": it is a violation
    /// (unless one of the two contents is empty). Recover must exit 0 and leave no temporary
    /// file or journal of ours behind (a journal the crash caught before its header was
    /// written is not provably ours: recover leaves it, and the next save settles it). With `without_recover`, a plain read of the target before
    /// recover must already see `old` or `new` (the atomic strategy's promise to readers).
    Save {
        target: String,
        old: Option<Vec<u8>>,
        new: Vec<u8>,
        without_recover: bool,
    },
    /// `durable log verify LOG` sees a clean log or a torn tail (exit 0 or 1, never 3); after
    /// `durable recover LOG` it is clean and its records are a prefix of `before` followed by
    /// each invocation's records, holding every record of every invocation that exited 0. Then
    /// the user's journey goes on: `durable log append` works and `log verify` is clean. A
    /// missing log is fine only while no record is owed.
    Log {
        log: String,
        before: Vec<Vec<u8>>,
        appends: Vec<Vec<Vec<u8>>>,
    },
    /// Running `durable recover LOG` again ends where the uninterrupted run ended: the same log
    /// bytes and the same sidecar (`.durable-recovered/LOG.P.durable-sidecar`) keeping the
    /// same bytes; a further sidecar `LOG.P.N.durable-sidecar` (bytes the crash changed in the
    /// cut tail) is allowed.
    Recover { log: String },
}

/// The record a user appends after recovering a crash state.
const JOURNEY_RECORD: &str = "appended after recover";

/// What one crash state led to.
#[derive(Debug, Clone)]
enum Observed {
    Save {
        before: Option<Vec<u8>>,
        recover: Verdict,
        target: Option<Vec<u8>>,
        leftovers: Vec<String>,
    },
    LogAbsent,
    Log {
        verify_before: Verdict,
        recover: Verdict,
        verify_after: Verdict,
        records: Result<Vec<Vec<u8>>, String>,
        /// The user's next steps after recover: append, verify, dump.
        append: Verdict,
        verify_final: Verdict,
        final_records: Result<Vec<Vec<u8>>, String>,
    },
    Recover {
        recover: Verdict,
        files: BTreeMap<String, Vec<u8>>,
    },
}

/// Exit code and the first line of output of one command: what the oracles judge.
#[derive(Debug, Clone)]
struct Verdict {
    code: Option<i32>,
    stderr: String,
}

impl Verdict {
    /// The exit code and the first line of stderr (of stdout when stderr is empty: `log
    /// verify` reports its verdict there).
    fn of(output: &Run) -> Verdict {
        let first = |bytes: &[u8]| {
            String::from_utf8_lossy(bytes)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string()
        };
        let mut stderr = first(output.stderr.as_bytes());
        if stderr.is_empty() {
            stderr = first(&output.stdout);
        }
        Verdict {
            code: output.status.code(),
            stderr,
        }
    }

    fn show(&self, what: &str) -> String {
        match self.code {
            Some(c) => format!("{what} exited {c}: {}", self.stderr),
            None => format!("{what} was killed by a signal"),
        }
    }
}

/// A change to the traced operations; returns how many it changed.
pub type Edit = Box<dyn Fn(&mut Ops) -> usize>;

/// One traced command and what it must guarantee.
pub struct Scenario {
    pub command: &'static str,
    pub strategy: &'static str,
    pub case: String,
    /// Prepares the scratch directory (the initial, durable state).
    pub setup: Box<dyn Fn(&Path)>,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub stdin: Vec<u8>,
    pub oracle: Oracle,
    /// Edits the traced operations before exploring (a deliberately broken sequence); returns
    /// how many operations it changed, which must not be 0.
    pub edit: Option<Edit>,
    /// Shown beside the figures (e.g. a known bug's test name).
    pub note: &'static str,
}

/// The figures of one explored scenario.
#[derive(Debug, Clone)]
pub struct Row {
    pub command: &'static str,
    pub strategy: &'static str,
    pub case: String,
    /// File-system operations in the (edited) sequence.
    pub operations: usize,
    /// Crash states, counted once per crash point at which they occur.
    pub states: usize,
    /// Distinct states materialised and checked.
    pub checked: usize,
    /// Crash states (per point) that break the promise.
    pub violations: usize,
    pub exhaustive: bool,
    pub note: &'static str,
}

/// A scenario's figures, the first few violations, and the operation list.
pub struct Outcome {
    pub row: Row,
    pub examples: Vec<String>,
    /// The distinct reasons given (at most 50).
    pub reasons: BTreeSet<String>,
    pub listing: String,
}

/// Trace and explore one scenario; `None` (after saying why) when strace cannot run here.
pub fn explore(test: &str, scenario: &Scenario, max_states: usize) -> Option<Outcome> {
    let env = Env::new();
    let root = env.dir.path().join("run");
    std::fs::create_dir(&root).expect("create run directory");
    let root = root.canonicalize().expect("canonical run directory");
    (scenario.setup)(&root);
    let (names, initial) = ops::snapshot(&root)
        .unwrap_or_else(|e| panic!("{test}: cannot take the initial state: {e}"));
    let trace_set = format!("trace={TRACED}");
    let args: Vec<&str> = scenario.args.iter().map(String::as_str).collect();
    let run = run_under_strace(
        test,
        &["-f", "-y", "-xx", "-s", "1048576", "-e", &trace_set],
        &scenario.program,
        &args,
        &root,
        &scenario.stdin,
    )?;
    assert!(
        run.output.status.success(),
        "{test}: the traced command failed ({}): {}",
        run.output.status,
        String::from_utf8_lossy(&run.output.stderr)
    );
    let events =
        parse_events(&run.text).unwrap_or_else(|e| panic!("{test}: cannot parse the trace: {e}"));
    let mut ops = ops::build(&events, &root, names, initial)
        .unwrap_or_else(|e| panic!("{test}: cannot model the trace: {e}"));
    // Without a crash, the model must end where the real run ended, byte for byte: otherwise a
    // write, offset or rename was modelled wrong and every crash state would be suspect.
    let (after_names, after_contents) =
        ops::snapshot(&root).unwrap_or_else(|e| panic!("{test}: cannot take the final state: {e}"));
    let real = from_disk(&after_names, &after_contents);
    let modelled = no_crash(&ops, ops.ops.len());
    assert!(
        real == modelled,
        "{test}: the modelled run ends in [{}], the real run in [{}]\n{ops}",
        modelled.summary(),
        real.summary()
    );
    if let Some(edit) = &scenario.edit {
        let changed = edit(&mut ops);
        assert!(
            changed > 0,
            "{test}: the edit of the operations changed nothing:\n{ops}"
        );
    }
    // What an uninterrupted run left: the reference for the recover oracle.
    let reference = sidecar_files(&root, &scenario.oracle);

    let scratch = env.dir.path().join("crash");
    let mut cache: HashMap<CrashState, Observed> = HashMap::new();
    let mut row = Row {
        command: scenario.command,
        strategy: scenario.strategy,
        case: scenario.case.clone(),
        operations: ops.fs_ops(),
        states: 0,
        checked: 0,
        violations: 0,
        exhaustive: true,
        note: scenario.note,
    };
    let mut examples = Vec::new();
    let mut all_reasons = BTreeSet::new();
    for k in 0..=ops.ops.len() {
        let point = crash_states(&ops, k, max_states);
        row.exhaustive &= point.exhaustive;
        // Commands that exited 0 before this point have promised their result (durable's:
        // a scenario's shell may run other programs, such as `sleep`, too).
        let committed = ops.ops[..k]
            .iter()
            .filter(|o| {
                matches!(o, Op::Exit { program, code: Some(0) } if program.starts_with("durable"))
            })
            .count();
        for state in point.states {
            row.states += 1;
            let observed = cache
                .entry(state.clone())
                .or_insert_with(|| {
                    row.checked += 1;
                    write_state(&scratch, &state);
                    observe(&scenario.oracle, &scratch)
                })
                .clone();
            let reasons = judge(&scenario.oracle, &observed, committed, reference.as_ref());
            if !reasons.is_empty() {
                row.violations += 1;
                for r in &reasons {
                    if all_reasons.len() < 50 {
                        all_reasons.insert(r.clone());
                    }
                }
                if examples.len() < 5 {
                    let after = match k {
                        0 => "before the first operation".to_string(),
                        _ => format!("after op {k} ({})", ops.show(k - 1)),
                    };
                    examples.push(format!(
                        "crash {after}, directory: {}\n      {}",
                        state.summary(),
                        reasons.join("\n      ")
                    ));
                }
            }
        }
    }
    Some(Outcome {
        row,
        examples,
        reasons: all_reasons,
        listing: ops.to_string(),
    })
}

/// Replace the scratch directory's content with `state`.
fn write_state(dir: &Path, state: &CrashState) {
    if dir.exists() {
        std::fs::remove_dir_all(dir).expect("clear the crash directory");
    }
    std::fs::create_dir(dir).expect("create the crash directory");
    for (name, entry) in &state.entries {
        let path = dir.join(name);
        match entry {
            Entry::Dir => std::fs::create_dir(&path).expect("create a directory"),
            Entry::File { link, content } => {
                let first = &state.entries[*link].0;
                if first == name {
                    std::fs::write(&path, content.as_slice()).expect("write a file");
                } else {
                    std::fs::hard_link(dir.join(first), &path).expect("link a file");
                }
            }
        }
    }
}

/// `durable ARGS` in a crash state's directory; a signal ending it is a verdict, not a test
/// failure.
fn durable_in(dir: &Path, args: &[&str]) -> Run {
    Durable::new(dir).args(args).may_be_killed().run()
}

fn observe(oracle: &Oracle, dir: &Path) -> Observed {
    match oracle {
        Oracle::Save { target, .. } => {
            let before = std::fs::read(dir.join(target)).ok();
            let recover = Verdict::of(&durable_in(dir, &["recover", "."]));
            let leftovers = ops::snapshot(dir)
                .expect("list the crash directory")
                .0
                .into_keys()
                .filter(|n| {
                    n.ends_with(".durable-tmp")
                        || (n.ends_with(".durable-journal")
                            && std::fs::read(dir.join(n)).is_ok_and(|b| journal_header_ok(&b)))
                })
                .collect();
            Observed::Save {
                before,
                recover,
                target: std::fs::read(dir.join(target)).ok(),
                leftovers,
            }
        }
        Oracle::Log { log, .. } => {
            if !dir.join(log).exists() {
                return Observed::LogAbsent;
            }
            let verify_before = Verdict::of(&durable_in(dir, &["log", "verify", log]));
            let recover = Verdict::of(&durable_in(dir, &["recover", log]));
            let verify_after = Verdict::of(&durable_in(dir, &["log", "verify", log]));
            let dump = durable_in(dir, &["log", "dump", log, "--format", "json"]);
            let append = Verdict::of(&durable_in(dir, &["log", "append", log, JOURNEY_RECORD]));
            let verify_final = Verdict::of(&durable_in(dir, &["log", "verify", log]));
            let final_dump = durable_in(dir, &["log", "dump", log, "--format", "json"]);
            Observed::Log {
                verify_before,
                recover,
                verify_after,
                records: payloads(&dump),
                append,
                verify_final,
                final_records: payloads(&final_dump),
            }
        }
        Oracle::Recover { log } => {
            let recover = Verdict::of(&durable_in(dir, &["recover", log]));
            Observed::Recover {
                recover,
                files: sidecar_files(dir, oracle).unwrap_or_default(),
            }
        }
    }
}

/// Whether a journal starts with our header: magic, checksum, flags and reserved bytes as
/// docs/DURABILITY.md ("Journal format") lays them out.
fn journal_header_ok(b: &[u8]) -> bool {
    let Some(h) = b.get(..64) else {
        return false;
    };
    let le32 = |at: usize| u32::from_le_bytes(h[at..at + 4].try_into().expect("4 bytes"));
    h[..8] == *b"DURJNL\0\x01"
        && le32(60) == crc32fast::hash(&h[..60])
        && le32(52) <= 1
        && le32(56) == 0
}

/// The payloads `log dump --format json` printed.
fn payloads(dump: &Run) -> Result<Vec<Vec<u8>>, String> {
    if !dump.status.success() {
        return Err(format!(
            "log dump exited {}: {}",
            dump.status
                .code()
                .map_or("by a signal".into(), |c| c.to_string()),
            dump.stderr.trim()
        ));
    }
    dump.out()
        .lines()
        .map(|line| {
            let value: serde_json::Value =
                serde_json::from_str(line).map_err(|e| format!("bad dump line {line:?}: {e}"))?;
            match value.get("payload") {
                Some(payload) => Ok(crate::common::data_bytes(payload)),
                None => Err(format!("dump line without a payload: {line}")),
            }
        })
        .collect()
}

/// For the recover oracle: the log and its sidecars (in `dir/.durable-recovered/`), by name.
fn sidecar_files(dir: &Path, oracle: &Oracle) -> Option<BTreeMap<String, Vec<u8>>> {
    let Oracle::Recover { log } = oracle else {
        return None;
    };
    let mut files = BTreeMap::new();
    files.insert(
        log.clone(),
        std::fs::read(dir.join(log)).expect("read the log"),
    );
    let side_dir = dir.join(common::SIDECAR_DIR);
    if let Ok(entries) = std::fs::read_dir(&side_dir) {
        let prefix = format!("{log}.");
        for entry in entries {
            let name = entry
                .expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            if name.starts_with(&prefix) && name.ends_with(".durable-sidecar") {
                let bytes = std::fs::read(side_dir.join(&name)).expect("read a sidecar");
                files.insert(
                    format!("{}/{name}", common::SIDECAR_DIR),
                    common::parse_sidecar(&bytes).0,
                );
            }
        }
    }
    Some(files)
}

/// Every way `observed` breaks the promise, given how many commands had exited 0.
fn judge(
    oracle: &Oracle,
    observed: &Observed,
    committed: usize,
    reference: Option<&BTreeMap<String, Vec<u8>>>,
) -> Vec<String> {
    let mut v = Vec::new();
    match (oracle, observed) {
        (
            Oracle::Save {
                target,
                old,
                new,
                without_recover,
            },
            Observed::Save {
                before,
                recover,
                target: got,
                leftovers,
            },
        ) => {
            if recover.code != Some(0) {
                v.push(recover.show("durable recover DIR"));
            }
            let mut check = |got: &Option<Vec<u8>>, when: &str| {
                let shown = describe(got.as_deref(), old.as_deref(), new);
                if committed > 0 && got.as_ref() != Some(new) {
                    v.push(format!(
                        "the save exited 0, but {when} {target} is {shown}, not the new content"
                    ));
                } else if got.as_ref() != Some(new) && got != old {
                    v.push(format!("{when} {target} is {shown}"));
                }
            };
            if *without_recover {
                check(before, "before recover,");
            }
            check(got, "after recover,");
            if !leftovers.is_empty() {
                v.push(format!("durable recover DIR left {leftovers:?}"));
            }
        }
        (
            Oracle::Log {
                before, appends, ..
            },
            Observed::LogAbsent,
        ) => {
            let owed = before.len() + appends[..committed].iter().map(Vec::len).sum::<usize>();
            if owed > 0 {
                v.push(format!(
                    "the log is missing, but {owed} records were durable"
                ));
            }
        }
        (
            Oracle::Log {
                before, appends, ..
            },
            Observed::Log {
                verify_before,
                recover,
                verify_after,
                records,
                append,
                verify_final,
                final_records,
            },
        ) => {
            // The journey goes on after recover: an append works, and the log is then what
            // recover kept plus the new record.
            if append.code != Some(0) {
                v.push(append.show("durable log append after recover"));
            }
            if verify_final.code != Some(0) {
                v.push(verify_final.show("log verify after recover and append"));
            }
            if let (Ok(kept), Ok(last)) = (records, final_records) {
                let mut want = kept.clone();
                want.push(JOURNEY_RECORD.as_bytes().to_vec());
                if *last != want {
                    v.push(format!(
                        "after recover and append the log holds {} records, not the {} kept plus the new one",
                        last.len(),
                        kept.len()
                    ));
                }
            }
            if !matches!(verify_before.code, Some(0 | 1)) {
                v.push(verify_before.show("log verify before recover"));
            }
            if recover.code != Some(0) {
                v.push(recover.show("durable recover LOG"));
            }
            if verify_after.code != Some(0) {
                v.push(verify_after.show("log verify after recover"));
            }
            let expected: Vec<&Vec<u8>> = before.iter().chain(appends.iter().flatten()).collect();
            let owed = before.len() + appends[..committed].iter().map(Vec::len).sum::<usize>();
            match records {
                Err(e) => v.push(e.clone()),
                Ok(got) => {
                    let prefix = got.len() <= expected.len()
                        && got.iter().zip(&expected).all(|(a, b)| a == *b);
                    if !prefix {
                        v.push(format!(
                            "the {} records after recover are not a prefix of the {} appended",
                            got.len(),
                            expected.len()
                        ));
                    } else if got.len() < owed {
                        v.push(format!(
                            "{} records after recover, but {owed} were durable (their append exited 0)",
                            got.len()
                        ));
                    }
                }
            }
        }
        (Oracle::Recover { .. }, Observed::Recover { recover, files }) => {
            if recover.code != Some(0) {
                v.push(recover.show("durable recover LOG (again)"));
            }
            let reference = reference.expect("a reference for the recover oracle");
            // A rerun that finds other bytes in the tail than the first sidecar holds (the
            // crash let part of the cut reach the disk) keeps them in `LOG.P.N.durable-sidecar`
            // instead of overwriting: by design (FORMAT.md), and no byte is lost. Those extra
            // sidecars are allowed; everything else must match.
            let files: BTreeMap<String, Vec<u8>> = files
                .iter()
                .filter(|(name, _)| {
                    !reference.keys().any(|r| {
                        r.strip_suffix(".durable-sidecar")
                            .and_then(|stem| name.strip_prefix(stem))
                            .and_then(|rest| rest.strip_prefix('.'))
                            .and_then(|rest| rest.strip_suffix(".durable-sidecar"))
                            .is_some_and(|n| n.parse::<u32>().is_ok())
                    })
                })
                .map(|(n, b)| (n.clone(), b.clone()))
                .collect();
            let files = &files;
            if files != reference {
                let show = |m: &BTreeMap<String, Vec<u8>>| {
                    m.iter()
                        .map(|(n, b)| format!("{n} ({} B)", b.len()))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                v.push(format!(
                    "recover again left [{}], an uninterrupted recover left [{}]",
                    show(files),
                    show(reference)
                ));
            }
        }
        (_, observed) => panic!("observation {observed:?} does not match its oracle"),
    }
    v
}

/// What a target holds, in words.
fn describe(got: Option<&[u8]>, old: Option<&[u8]>, new: &[u8]) -> String {
    match got {
        None => "missing".into(),
        Some([]) => "empty".into(),
        Some(g) if Some(g) == old => "the old content".into(),
        Some(g) => {
            let from_new = g.iter().zip(new).filter(|(a, b)| a == b).count();
            format!(
                "{} bytes that are neither the old nor the new content ({} match the new at the same offset, {} are zero)",
                g.len(),
                from_new,
                g.iter().filter(|&&b| b == 0).count()
            )
        }
    }
}
