//! `durable recover` and `durable log salvage`: arguments to library calls, reports in text or
//! JSON lines, and the worst exit status across everything handled.

use std::path::Path;

use anyhow::anyhow;
use durable::recover::{
    self, IndexAction, IndexRecovery, LogAction, Outcome, RecoverOptions, Restore, Untouched,
};
use durable::{Error, Settled, SyncLevel, shell_word};
use serde_json::{Value, json};

use super::{Failure, print_stdout};
use crate::cli::{RecoverArgs, RestoreArgs, SalvageArgs};
use crate::exit::Exit;

pub(super) fn run(args: RecoverArgs) -> Result<Exit, Failure> {
    let opts = RecoverOptions {
        dry_run: args.dry_run,
        force: args.force,
        no_backup: args.no_backup,
        sync: SyncLevel::Full,
        format: args.log_format.map(Into::into),
        index: args.with_index.clone(),
        backup_dir: args.backup_dir.clone(),
        one_file_system: args.one_file_system,
    };
    if let Some(dir) = &args.backup_dir
        && !std::fs::metadata(dir).is_ok_and(|m| m.is_dir())
    {
        return Err(usage(format!(
            "the backup directory {} does not exist or is not a directory; nothing was changed",
            dir.display()
        )));
    }
    if args.one_file_system && !args.paths.iter().any(|p| p.is_dir()) {
        return Err(usage(
            "-x/--one-file-system only applies to directories, and no PATH is one; nothing was changed"
                .into(),
        ));
    }
    // Each result is printed as it is found (a big tree streams), each error as it happens.
    let printer = std::cell::RefCell::new(Printer {
        json: args.json,
        worst: Exit::Success,
        progress: Progress::new(),
        failed: None,
    });
    for path in &args.paths {
        let result = recover::recover(
            path,
            &opts,
            &mut (),
            |outcome| printer.borrow_mut().outcome(&outcome, &opts),
            |error| printer.borrow_mut().error(&error, path),
        );
        if let Err(error) = result {
            printer.borrow_mut().error(&error, path);
        }
    }
    let mut printer = printer.into_inner();
    printer.progress.clear();
    match printer.failed {
        Some(failure) => Err(failure),
        None => Ok(printer.worst),
    }
}

/// Prints recover's results as they come, keeps the worst exit status, and shows progress.
struct Printer {
    json: bool,
    worst: Exit,
    progress: Progress,
    /// Writing to stdout failed (not a closed pipe): stop printing, report it at the end.
    failed: Option<Failure>,
}

impl Printer {
    fn outcome(&mut self, outcome: &Outcome, opts: &RecoverOptions) {
        self.worst = self.worst.worst(outcome_exit(outcome, opts));
        let text: String = if self.json {
            outcome_json(outcome, opts)
                .iter()
                .map(|v| format!("{v}\n"))
                .collect()
        } else {
            outcome_text(outcome, opts)
        };
        self.progress.clear();
        if self.failed.is_none()
            && let Err(f) = print_stdout(&text)
        {
            self.failed = Some(f);
        }
        self.progress.tick(outcome);
    }

    fn error(&mut self, error: &Error, given: &Path) {
        let exit = error_exit(error);
        self.worst = self.worst.worst(exit);
        self.progress.clear();
        if self.json && self.failed.is_none() {
            let line = json!({"path": error_path(error, given), "outcome": "error", "error": error.to_string(), "exit_code": exit.code()});
            if let Err(f) = print_stdout(&format!("{line}\n")) {
                self.failed = Some(f);
            }
        }
        eprintln!("durable: {error}");
    }
}

/// A count of the files looked at, on stderr, while stderr is a terminal and stdout is not
/// (when both are, the results themselves show the progress).
struct Progress {
    on: bool,
    files: u64,
    shown: bool,
    last: std::time::Instant,
}

impl Progress {
    fn new() -> Progress {
        use std::io::IsTerminal;
        Progress {
            on: std::io::stderr().is_terminal() && !std::io::stdout().is_terminal(),
            files: 0,
            shown: false,
            last: std::time::Instant::now(),
        }
    }

    fn tick(&mut self, outcome: &Outcome) {
        self.files += 1;
        if !self.on || self.last.elapsed() < std::time::Duration::from_millis(200) {
            return;
        }
        self.last = std::time::Instant::now();
        let path = match outcome {
            Outcome::Log(r) => &r.path,
            Outcome::Journal { target, .. } => target,
            Outcome::Temp { path, .. }
            | Outcome::Untouched { path, .. }
            | Outcome::Skipped { path, .. } => path,
        };
        let dir = path.parent().unwrap_or(path).display().to_string();
        let dir: String = dir.chars().take(60).collect();
        eprint!("\r\x1b[Krecover: {} files looked at, in {dir}", self.files);
        self.shown = true;
    }

    fn clear(&mut self) {
        if self.shown {
            eprint!("\r\x1b[K");
            self.shown = false;
        }
    }
}

fn usage(message: String) -> Failure {
    Failure {
        exit: Exit::Error,
        error: anyhow!(message),
    }
}

fn error_exit(error: &Error) -> Exit {
    match error {
        Error::NotALog {
            damaged_header: true,
            ..
        } => Exit::Corruption,
        e if e.aftermath() == durable::Aftermath::Unconfirmed => Exit::Unconfirmed,
        _ => Exit::Error,
    }
}

fn error_path(error: &Error, fallback: &Path) -> String {
    match error {
        Error::Inspect { path, .. }
        | Error::NotALog { path, .. }
        | Error::NotRegular { path, .. }
        | Error::InUse { path }
        | Error::NotChecked { path, .. }
        | Error::CannotChange { path, .. }
        | Error::IsSidecar { path, .. }
        | Error::Sidecar { log: path, .. }
        | Error::NothingToRecover { path, .. } => path.display().to_string(),
        _ => fallback.display().to_string(),
    }
}

fn outcome_exit(outcome: &Outcome, opts: &RecoverOptions) -> Exit {
    match outcome {
        Outcome::Log(r) => {
            let main = match r.action {
                LogAction::Clean | LogAction::Truncated | LogAction::ZeroFilled => Exit::Success,
                LogAction::WouldTruncate | LogAction::WouldZeroFill
                    if r.status == durable::log::Status::Corrupt =>
                {
                    Exit::Corruption
                }
                LogAction::WouldTruncate | LogAction::WouldZeroFill => Exit::TornTail,
                LogAction::Refused => Exit::Corruption,
            };
            let index = match &r.index {
                Some(i) if i.action == IndexAction::WouldRebuild => match i.status {
                    durable::log::Status::Corrupt => Exit::Corruption,
                    _ => Exit::TornTail,
                },
                _ => Exit::Success,
            };
            main.worst(index)
        }
        Outcome::Journal { .. }
        | Outcome::Temp { .. }
        | Outcome::Untouched { .. }
        | Outcome::Skipped { .. } => {
            let _ = opts;
            Exit::Success
        }
    }
}

fn outcome_text(outcome: &Outcome, opts: &RecoverOptions) -> String {
    match outcome {
        Outcome::Log(r) => {
            let mut text = log_text(r);
            if let Some(index) = &r.index {
                text.push_str(&index_text(index));
            }
            text
        }
        other => other_text(other, opts),
    }
}

fn index_text(i: &IndexRecovery) -> String {
    let path = i.path.display();
    let sidecar = i
        .sidecar
        .as_ref()
        .map(|s| {
            format!(
                "; the old index is kept in {} (`durable log restore {}` puts it back)",
                s.display(),
                shell_word(s)
            )
        })
        .unwrap_or_default();
    match i.action {
        IndexAction::Clean => format!(
            "{path}: index matches the store, {}; nothing to do\n",
            super::plural(i.entries, "entry")
        ),
        IndexAction::Rebuilt => format!(
            "{path}: index rebuilt from the store from byte {}: {} now, {} bytes{sidecar}\n",
            i.bytes_kept,
            super::plural(i.entries, "entry"),
            i.entries * 12
        ),
        IndexAction::WouldRebuild => format!(
            "{path}: would rebuild the index from the store from byte {}: {}, replacing {} bytes{}\n",
            i.bytes_kept,
            super::plural(i.entries, "entry"),
            i.bytes_removed,
            i.sidecar
                .as_ref()
                .map(|s| format!(" (kept in {})", s.display()))
                .unwrap_or_default()
        ),
    }
}

fn log_text(r: &durable::recover::LogRecovery) -> String {
    {
        {
            let path = r.path.display();
            let sidecar = r
                .sidecar
                .as_ref()
                .map(|s| {
                    format!(
                        ", saved to {} (`durable log restore {}` puts them back)",
                        s.display(),
                        shell_word(s)
                    )
                })
                .unwrap_or_else(|| ", not backed up (--no-backup)".into());
            match r.action {
                LogAction::Clean => {
                    format!(
                        "{path}: clean, {}; nothing to do\n",
                        super::plural(r.records, "record")
                    )
                }
                LogAction::Truncated => format!(
                    "{path}: cut at offset {}{}: kept {} ({} bytes), removed {} bytes{sidecar}\n",
                    r.bytes_kept,
                    if r.status == durable::log::Status::Corrupt {
                        format!(
                            " (--force: {} after the damage removed too)",
                            super::plural(r.records_after_damage, "valid record")
                        )
                    } else {
                        " (torn tail)".into()
                    },
                    super::plural(r.records, "record"),
                    r.bytes_kept,
                    r.bytes_removed
                ),
                LogAction::ZeroFilled => format!(
                    "{path}: zero-filled {} bytes from offset {} (after the last checkpoint; the file keeps its size){sidecar}\n",
                    r.bytes_removed, r.bytes_kept
                ),
                LogAction::WouldZeroFill => format!(
                    "{path}: would zero-fill {} bytes from offset {} (after the last checkpoint){}\n",
                    r.bytes_removed,
                    r.bytes_kept,
                    r.sidecar
                        .as_ref()
                        .map(|s| format!(", saving them in {}", s.display()))
                        .unwrap_or_default()
                ),
                LogAction::WouldTruncate => format!(
                    "{path}: would cut at offset {}: keep {} ({} bytes), remove {} bytes{}\n",
                    r.bytes_kept,
                    super::plural(r.records, "record"),
                    r.bytes_kept,
                    r.bytes_removed,
                    r.sidecar
                        .as_ref()
                        .map(|s| format!(" into {}", s.display()))
                        .unwrap_or_default()
                ),
                LogAction::Refused => format!(
                    "{path}: corrupt before the tail: damage at offset {}, and {} ({} bytes) after it; not changed. `durable log salvage {} NEW` copies every valid record into a new log; --force cuts at the damage{}\n",
                    r.bytes_kept,
                    super::plural(r.records_after_damage, "valid record"),
                    r.bytes_after_damage,
                    shell_word(&r.path),
                    r.sidecar
                        .as_ref()
                        .map(|s| format!(" (keeping what it removes in {})", s.display()))
                        .unwrap_or_default()
                ),
            }
        }
    }
}

fn other_text(outcome: &Outcome, opts: &RecoverOptions) -> String {
    match outcome {
        Outcome::Log(r) => log_text(r),
        Outcome::Journal {
            target,
            journal,
            settled,
            would_complete,
        } => match settled {
            Some(Settled::Completed { bytes, .. }) => format!(
                "{}: completed the interrupted journaled save from {} ({bytes} bytes)\n",
                target.display(),
                journal.display()
            ),
            Some(Settled::RolledBack { reason, .. }) => format!(
                "{}: rolled back the interrupted journaled save: removed {} because {reason}\n",
                target.display(),
                journal.display()
            ),
            None if opts.dry_run => format!(
                "{}: would {} the interrupted journaled save in {}\n",
                target.display(),
                if *would_complete {
                    "complete"
                } else {
                    "roll back"
                },
                journal.display()
            ),
            None => format!("{}: no journal left; nothing to do\n", target.display()),
        },
        Outcome::Temp { path, removed } => match (removed, opts.dry_run) {
            (true, false) => format!(
                "{}: removed the temporary file of an interrupted save\n",
                path.display()
            ),
            (true, true) => format!(
                "{}: would remove the temporary file of an interrupted save\n",
                path.display()
            ),
            (false, _) => format!(
                "{}: kept: a process has this temporary file open (a save in progress)\n",
                path.display()
            ),
        },
        Outcome::Untouched { path, reason } => match reason {
            Untouched::NotOurs => format!(
                "{}: untouched (not a log, a journal or a temporary file of ours)\n",
                path.display()
            ),
            Untouched::Sidecar { log, offset } => format!(
                "{}: untouched: a sidecar kept by recover, bytes of {} from offset {offset} (`durable log restore {}` puts them back)\n",
                path.display(),
                log.display(),
                shell_word(path)
            ),
            Untouched::NotOurJournal { why } => format!(
                "{}: untouched: named like a journal of durable save, but {why}, so it may not be ours\n",
                path.display()
            ),
        },
        Outcome::Skipped { path, filesystem } => format!(
            "{}: skipped, a {filesystem} filesystem (kernel pseudo-files, not data)\n",
            path.display()
        ),
    }
}

/// One JSON object per file handled: a proglog pair gives two (store and index).
fn outcome_json(outcome: &Outcome, opts: &RecoverOptions) -> Vec<Value> {
    let mut values = vec![one_json(outcome, opts)];
    if let Outcome::Log(r) = outcome
        && let Some(i) = &r.index
    {
        let exit = match (i.action, i.status) {
            (IndexAction::WouldRebuild, durable::log::Status::Corrupt) => Exit::Corruption,
            (IndexAction::WouldRebuild, _) => Exit::TornTail,
            _ => Exit::Success,
        };
        values.push(json!({
            "path": i.path,
            "kind": "log",
            "format": "proglog",
            "part": "index",
            "store": r.path,
            "status": i.status.name(),
            "outcome": match i.action {
                IndexAction::Clean => "clean",
                IndexAction::Rebuilt => "rebuilt",
                IndexAction::WouldRebuild => "would-rebuild",
            },
            "entries": i.entries,
            "bytes_kept": i.bytes_kept,
            "bytes_removed": i.bytes_removed,
            "sidecar": i.sidecar,
            "dry_run": opts.dry_run,
            "exit_code": exit.code(),
        }));
    }
    values
}

fn one_json(outcome: &Outcome, opts: &RecoverOptions) -> Value {
    let exit = outcome_exit(outcome, opts).code();
    match outcome {
        Outcome::Log(r) => json!({
            "path": r.path,
            "kind": "log",
            "format": r.format.name(),
            "status": r.status.name(),
            "outcome": match r.action {
                LogAction::Clean => "clean",
                LogAction::Truncated => "truncated",
                LogAction::WouldTruncate => "would-truncate",
                LogAction::Refused => "refused",
                LogAction::ZeroFilled => "zero-filled",
                LogAction::WouldZeroFill => "would-zero-fill",
            },
            "records": r.records,
            "bytes_kept": r.bytes_kept,
            "bytes_removed": r.bytes_removed,
            // Only a sidecar that exists (or, in a dry run, would): a refused log has none.
            "sidecar": if r.action == LogAction::Refused { None } else { r.sidecar.as_ref() },
            "records_after_damage": r.records_after_damage,
            "bytes_after_damage": r.bytes_after_damage,
            "dry_run": opts.dry_run,
            "exit_code": exit,
        }),
        Outcome::Journal {
            target,
            journal,
            settled,
            would_complete,
        } => json!({
            "path": target,
            "kind": "journal",
            "journal": journal,
            "outcome": match settled {
                Some(Settled::Completed { .. }) => "completed",
                Some(Settled::RolledBack { .. }) => "rolled-back",
                None if *would_complete => "would-complete",
                None => "would-roll-back",
            },
            "dry_run": opts.dry_run,
            "exit_code": exit,
        }),
        Outcome::Temp { path, removed } => json!({
            "path": path,
            "kind": "temp",
            "outcome": match (removed, opts.dry_run) {
                (true, false) => "removed",
                (true, true) => "would-remove",
                (false, _) => "in-use",
            },
            "dry_run": opts.dry_run,
            "exit_code": exit,
        }),
        Outcome::Untouched { path, reason } => {
            let (kind, why) = match reason {
                Untouched::NotOurs => ("other", None),
                Untouched::Sidecar { .. } => ("sidecar", None),
                Untouched::NotOurJournal { why } => ("journal", Some(why.as_str())),
            };
            let mut v = json!({
                "path": path,
                "kind": kind,
                "outcome": "untouched",
                "exit_code": exit,
            });
            match reason {
                Untouched::Sidecar { log, offset } => {
                    v["log"] = json!(log);
                    v["offset"] = json!(offset);
                }
                Untouched::NotOurJournal { .. } => {
                    v["reason"] = json!(format!(
                        "named like a journal of durable save, but {}",
                        why.unwrap_or_default()
                    ));
                }
                Untouched::NotOurs => {}
            }
            v
        }
        Outcome::Skipped { path, filesystem } => json!({
            "path": path,
            "kind": "directory",
            "outcome": "skipped",
            "filesystem": filesystem,
            "exit_code": exit,
        }),
    }
}

pub(super) fn salvage(args: SalvageArgs) -> Result<Exit, Failure> {
    let done = recover::salvage(
        &args.src,
        &args.dst,
        args.log_format.map(Into::into),
        SyncLevel::Full,
        &mut (),
    )
    .map_err(|e| {
        let exit = error_exit(&e);
        Failure {
            exit,
            error: anyhow!("{e}; {} was not created", args.dst.display()),
        }
    })?;
    let skipped: u64 = done.skipped.iter().map(|(_, n)| n).sum();
    let text = if args.json {
        format!(
            "{}\n",
            json!({
                "src": args.src, "dst": args.dst, "records": done.records,
                "skipped": done.skipped.iter().map(|(o, n)| json!({"offset": o, "bytes": n})).collect::<Vec<_>>(),
                "skipped_bytes": skipped,
            })
        )
    } else {
        let mut s = format!(
            "{}: copied {} from {}, skipping {}, {} bytes\n",
            args.dst.display(),
            super::plural(done.records, "valid record"),
            args.src.display(),
            super::plural(done.skipped.len() as u64, "damaged region"),
            skipped
        );
        for (offset, n) in &done.skipped {
            s.push_str(&format!("  skipped {n} bytes at offset {offset}\n"));
        }
        s
    };
    print_stdout(&text)?;
    Ok(Exit::Success)
}

pub(super) fn restore(args: RestoreArgs) -> Result<Exit, Failure> {
    let mut worst = Exit::Success;
    for path in &args.sidecars {
        match recover::restore(path, args.dry_run, SyncLevel::Full, &mut ()) {
            Ok(done) => {
                let t = &done.trailer;
                let log = t.source.display();
                let what = match t.change {
                    recover::sidecar::Change::Cut => {
                        format!("{} bytes at offset {}", t.len, t.offset)
                    }
                    recover::sidecar::Change::ZeroFilled => {
                        format!("{} bytes over the zeros from offset {}", t.len, t.offset)
                    }
                    recover::sidecar::Change::Rewritten => {
                        format!("the old index ({} bytes)", t.len)
                    }
                };
                print_stdout(&match done.outcome {
                    Restore::Restored => format!(
                        "{log}: put back {what} from {}; the sidecar can be removed now\n",
                        path.display()
                    ),
                    Restore::WouldRestore => {
                        format!("{log}: would put back {what} from {}\n", path.display())
                    }
                    Restore::AlreadyThere => format!(
                        "{log}: already holds the bytes of {}; nothing to do\n",
                        path.display()
                    ),
                })?;
            }
            Err(error) => {
                let exit = error_exit(&error);
                worst = worst.worst(exit);
                eprintln!("durable: {error}");
            }
        }
    }
    Ok(worst)
}
