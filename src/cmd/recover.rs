//! `durable recover` and `durable log salvage`: arguments to library calls, reports in text or
//! JSON lines, and the worst exit status across everything handled.

use std::path::Path;

use anyhow::anyhow;
use durable::quote::quoted;
use durable::quote::shell_word;
use durable::recover::{
    self, IndexAction, IndexRecovery, LogAction, Outcome, RecoverOptions, Restore, Untouched,
};
use durable::{Error, Settled, SyncLevel};

use super::json::{
    self, Data, ErrorLine, RecoverIndex, RecoverJournal, RecoverLog, RecoverOther, RecoverSkipped,
    RecoverTemp, SalvageResult, SkippedRegion,
};
use super::{Failure, print_stdout};
use crate::cli::{RecoverArgs, RestoreArgs, SalvageArgs};
use crate::exit::Exit;

pub(super) fn run(args: RecoverArgs) -> Result<Exit, Failure> {
    let opts = RecoverOptions {
        dry_run: args.dry_run,
        force: args.force,
        no_backup: args.no_backup,
        sync: SyncLevel::Full,
        format: args.read.log_format.map(Into::into),
        index: args.read.with_index.clone(),
        backup_dir: args.backup_dir.clone(),
        one_file_system: args.one_file_system,
        threads: crate::cmd::threads(args.read.threads),
        promised: Default::default(),
    };
    let stdin = args
        .paths
        .iter()
        .chain(&args.read.with_index)
        .find(|p| durable::log::stream::is_stdin(p));
    let why = match stdin {
        Some(_) => Some(
            "recover repairs files where they are, and `-` (standard input) is not one: save the stream to a file and run `durable recover FILE` on it (a file named - is ./-)".to_string(),
        ),
        None => with_index_misuse(&args),
    };
    if let Some(why) = why {
        if args.json {
            // The path only when there is one: with several, the misuse is about none of them.
            let path = match args.paths.as_slice() {
                [one] => Some(one.as_path()),
                _ => None,
            };
            let line = ErrorLine::outcome(path, why.clone(), Exit::Error);
            print_stdout(&format!("{}\n", json::line(&line)?))?;
        }
        return Err(anyhow!(why).into());
    }
    if let Some(dir) = &args.backup_dir
        && !std::fs::metadata(dir).is_ok_and(|m| m.is_dir())
    {
        return Err(usage(format!(
            "the backup directory {} does not exist or is not a directory; nothing was changed",
            quoted(dir)
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
        let text = if self.json {
            outcome_json(outcome, opts)
        } else {
            Ok(outcome_text(outcome, opts))
        };
        self.progress.clear();
        if self.failed.is_none()
            && let Err(f) = text.and_then(|text| print_stdout(&text))
        {
            self.failed = Some(f);
        }
        self.progress.tick(outcome);
    }

    fn error(&mut self, error: &Error, given: &Path) {
        let exit = super::exit_for(error, super::Op::Repair);
        self.worst = self.worst.worst(exit);
        self.progress.clear();
        if self.json && self.failed.is_none() {
            let line =
                ErrorLine::outcome(Some(error_path(error, given)), super::sentence(error), exit);
            if let Err(f) = json::line(&line).and_then(|l| print_stdout(&format!("{l}\n"))) {
                self.failed = Some(f);
            }
        }
        eprintln!("durable: {}", super::sentence(error));
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

/// `--with-index` given where it would do nothing: with several paths, a directory, or a file
/// that is not a proglog store (checked before anything is changed).
fn with_index_misuse(args: &RecoverArgs) -> Option<String> {
    let index = args.read.with_index.as_deref()?;
    if let Some(why) = super::with_index_misused(&args.paths, Some(index)) {
        return Some(why);
    }
    let path = &args.paths[0];
    let opts = durable::log::OpenOptions {
        format: args.read.log_format.map(Into::into),
        index: Some(index.to_path_buf()),
        write: false,
        index_alone: false,
        force: args.force,
        zeros: true,
    };
    match durable::log::open(path, &opts) {
        Ok(input) if matches!(input.layout, durable::log::Layout::ProglogStore) => None,
        // The index itself is at fault (the store, another format's file, a FIFO, missing):
        // say that alone, as verify and dump do.
        Err(e) if e.path() == Some(index) => Some(crate::cmd::sentence(&e)),
        Err(e) => Some(format!(
            "--with-index names the index of a proglog store, and {} cannot be read as one: {e}",
            quoted(path)
        )),
        Ok(input) => Some(format!(
            "{}: --with-index names the index of a proglog store, and this is {}: it would do nothing",
            quoted(path),
            input.layout.described()
        )),
    }
}

fn error_path<'a>(error: &'a Error, fallback: &'a Path) -> &'a Path {
    error.path().unwrap_or(fallback)
}

/// The exit status of a log's own part of a recovery (a proglog store without its index).
fn log_exit(r: &durable::recover::LogRecovery) -> Exit {
    match r.action {
        LogAction::Clean | LogAction::Truncated | LogAction::ZeroFilled => Exit::Success,
        // The header is written, but damage after it remains for the next run: its exit
        // says what that run will meet.
        LogAction::HeaderWritten => match r.damage_after_header {
            None => Exit::Success,
            Some(d) if d.torn_tail => Exit::TornTail,
            Some(_) => Exit::Corruption,
        },
        LogAction::WouldWriteHeader => Exit::Corruption,
        LogAction::WouldTruncate | LogAction::WouldZeroFill
            if r.status == durable::log::Status::Corrupt =>
        {
            Exit::Corruption
        }
        LogAction::WouldTruncate | LogAction::WouldZeroFill => Exit::TornTail,
        LogAction::Refused => Exit::Corruption,
    }
}

/// The exit status of a proglog index's part: a rebuild a dry run would do is reported as the
/// state it fixes.
fn index_exit(i: &durable::recover::IndexRecovery) -> Exit {
    match (i.action, i.status) {
        (IndexAction::WouldRebuild, durable::log::Status::Corrupt) => Exit::Corruption,
        (IndexAction::WouldRebuild, _) => Exit::TornTail,
        (IndexAction::Refused, _) => Exit::Corruption,
        _ => Exit::Success,
    }
}

fn outcome_exit(outcome: &Outcome, opts: &RecoverOptions) -> Exit {
    match outcome {
        Outcome::Log(r) => r
            .index
            .as_ref()
            .map_or(Exit::Success, index_exit)
            .worst(log_exit(r)),
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
            let mut text = log_text(r, opts);
            if let Some(index) = &r.index {
                text.push_str(&index_text(r, index));
            }
            text
        }
        other => other_text(other, opts),
    }
}

fn index_text(r: &durable::recover::LogRecovery, i: &IndexRecovery) -> String {
    let path = quoted(&i.path);
    let sidecar = i
        .sidecar
        .as_ref()
        .map(|s| {
            format!(
                "; the whole old index ({} bytes) is kept in {} (`durable log restore {}` puts it back)",
                i.bytes_kept + i.bytes_removed,
                quoted(s),
                shell_word(s)
            )
        })
        .unwrap_or_default();
    // The sidecar holds the whole old index (named for offset 0, where its bytes start); the
    // rewrite starts at the first byte that differs.
    let changed = format!(
        "the old index's {} bytes from byte {} on",
        i.bytes_removed, i.bytes_kept
    );
    match i.action {
        IndexAction::Clean => format!(
            "{path}: index matches the store, {}; nothing to do\n",
            super::plural(i.entries, "entry")
        ),
        IndexAction::Rebuilt => format!(
            "{path}: index rebuilt from the store: {} now, {} bytes, replacing {changed}{sidecar}\n",
            super::plural(i.entries, "entry"),
            i.entries * 12,
        ),
        IndexAction::Refused => {
            let f = i.foreign.unwrap_or(durable::log::proglog::ForeignIndex {
                compared: 0,
                matching: 0,
                entry: 0,
                named: 0,
                record: 0,
            });
            // The index goes into the hint when it is not the one beside the store.
            let with_index = if durable::log::reader::proglog_sibling(&r.path).as_deref()
                == Some(i.path.as_path())
            {
                String::new()
            } else {
                format!("--with-index {} ", shell_word(&i.path))
            };
            format!(
                "{path}: not rebuilt: it reads as a whole proglog index, but another store's (only {} of {} entries compared match the store; entry {} names position {}, where record {} of {} is at {}); nothing was changed; `durable recover --force {with_index}{}` rebuilds it from the store, keeping the old index in a sidecar\n",
                f.matching,
                f.compared,
                f.entry,
                f.named,
                f.entry,
                quoted(&r.path),
                f.record,
                shell_word(&r.path)
            )
        }
        IndexAction::WouldRebuild => format!(
            "{path}: would rebuild the index from the store: {}, {} bytes, replacing {changed}{}\n",
            super::plural(i.entries, "entry"),
            i.entries * 12,
            i.sidecar
                .as_ref()
                .map(|s| format!(
                    " (the whole old index, {} bytes, kept in {})",
                    i.bytes_kept + i.bytes_removed,
                    quoted(s)
                ))
                .unwrap_or_default()
        ),
    }
}

/// For a lines log, or a native log with SHA-256 checksums, cut to empty whose sidecar the next
/// `log append` will not find (`--no-backup`, `--backup-dir`): how to keep it a lines log, or
/// its checksums (docs/FORMAT.md, "A log's start").
fn emptied_lines(r: &durable::recover::LogRecovery) -> String {
    use durable::log::{Algorithm, LogFormat};
    use durable::recover::sidecar::{EmptiedBy, SourceFormat, emptied_by_recover};
    if r.bytes_kept != 0 {
        return String::new();
    }
    match r.format {
        LogFormat::Lines => match emptied_by_recover(&r.path) {
            EmptiedBy::Format(e) if e.format == SourceFormat::Lines => String::new(),
            _ => "; it is empty now, and no sidecar beside it says it was a lines log: name --log-format lines on the next log append to it to keep it one".into(),
        },
        LogFormat::Native if r.algorithm == Some(Algorithm::Sha256) => {
            match emptied_by_recover(&r.path) {
                EmptiedBy::Format(e) if e.algorithm == Some(Algorithm::Sha256) => String::new(),
                _ => "; it is empty now, and no sidecar beside it says its checksums were sha256: name --checksum sha256 on the next log append to it to keep them".into(),
            }
        }
        _ => String::new(),
    }
}

/// `--log-format NAME ` for the commands a hint prints, when the format was named and detection
/// would not find it (`log salvage` and `recover` run as printed must read the file so too).
fn format_flag(r: &durable::recover::LogRecovery, opts: &RecoverOptions) -> String {
    match opts.format {
        Some(f) if named_format_needed(&r.path, f) => format!("--log-format {} ", f.name()),
        _ => String::new(),
    }
}

/// Whether a file read as `format` because it was named so is not found to be that format by
/// detection (a damaged proglog store alone, a lines log whose first line is torn).
pub(crate) fn named_format_needed(path: &std::path::Path, format: durable::log::LogFormat) -> bool {
    !durable::log::open(path, &durable::log::OpenOptions::default())
        .is_ok_and(|input| input.format() == format)
}

fn log_text(r: &durable::recover::LogRecovery, opts: &RecoverOptions) -> String {
    {
        {
            let path = quoted(&r.path);
            let sidecar = r
                .sidecar
                .as_ref()
                .map(|s| {
                    format!(
                        ", saved to {} (`durable log restore {}` puts them back)",
                        quoted(s),
                        shell_word(s)
                    )
                })
                .unwrap_or_else(|| ", not backed up (--no-backup)".into());
            match r.action {
                LogAction::Clean => {
                    // An aof file's data is one segment, as verify counts it.
                    let noun = match r.format {
                        durable::log::LogFormat::Aof => "segment",
                        _ => "record",
                    };
                    format!(
                        "{path}: clean, {}; nothing to do\n",
                        super::plural(r.records, noun)
                    )
                }
                LogAction::Truncated => format!(
                    "{path}: cut at offset {}{}: kept {} ({} bytes), removed {} bytes{sidecar}{}\n",
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
                    r.bytes_removed,
                    emptied_lines(r)
                ),
                LogAction::ZeroFilled => format!(
                    "{path}: zero-filled {} bytes from offset {} ({}; the file keeps its size){sidecar}\n",
                    r.bytes_removed,
                    r.bytes_kept,
                    zero_fill_from(r)
                ),
                LogAction::WouldZeroFill => format!(
                    "{path}: would zero-fill {} bytes from offset {} ({}){}\n",
                    r.bytes_removed,
                    r.bytes_kept,
                    zero_fill_from(r),
                    r.sidecar
                        .as_ref()
                        .map(|s| format!(", saving them in {}", quoted(s)))
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
                        .map(|s| format!(" into {}", quoted(s)))
                        .unwrap_or_default()
                ),
                // An aof file without any magic: there are no records to salvage, and the
                // only repair is to zero its data, which leaves a file the package opens as
                // empty.
                LogAction::Refused if r.format == durable::log::LogFormat::Aof => format!(
                    "{path}: corrupt: no tail or checkpoint magic, so the aof package will not open it; not changed. --force zero-fills its data, up to its last non-zero byte{}, leaving a file the package opens as empty\n",
                    r.sidecar
                        .as_ref()
                        .map(|s| format!(" (keeping those bytes in {})", quoted(s)))
                        .unwrap_or_default()
                ),
                LogAction::HeaderWritten => format!(
                    "{path}: its lost header rewritten with the salt and checksum ({}) recovered from its records: {} ({} bytes) read again{sidecar}{}\n",
                    r.algorithm.map_or("unknown", |a| a.name()),
                    super::plural(r.records, "valid record"),
                    r.bytes_after_damage,
                    lost_rest(r, opts),
                ),
                LogAction::WouldWriteHeader => format!(
                    "{path}: would write a new header over its lost one, with the salt and checksum ({}) recovered from its records: {} ({} bytes) would read again{}{}\n",
                    r.algorithm.map_or("unknown", |a| a.name()),
                    super::plural(r.records, "valid record"),
                    r.bytes_after_damage,
                    r.sidecar
                        .as_ref()
                        .map(|s| format!(", keeping its first 64 bytes in {}", quoted(s)))
                        .unwrap_or_default(),
                    lost_rest(r, opts),
                ),
                LogAction::Refused if r.header_lost => format!(
                    "{path}: corrupt: its header is lost (zeroed, damaged, or not its records'), but the salt and checksum ({}) of the records after it are recovered from them: {} ({} bytes) check out; not changed. `durable recover --force {}` writes a new header with them{}, or `durable log salvage {} NEW` copies every valid record into a new log\n",
                    r.algorithm.map_or("unknown", |a| a.name()),
                    super::plural(r.records, "valid record"),
                    r.bytes_after_damage,
                    shell_word(&r.path),
                    r.sidecar
                        .as_ref()
                        .map(|s| format!(" (keeping the old 64 bytes in {})", quoted(s)))
                        .unwrap_or_default(),
                    shell_word(&r.path),
                ),
                // No header, nothing but zeros: no record to salvage, and no way to tell a
                // start that never reached the disk from a log that was zeroed.
                LogAction::Refused if r.zero_file => format!(
                    "{path}: corrupt: it holds only zero bytes ({} bytes), no log header: a log whose start never reached the disk cannot be told from one whose records were zeroed; not changed. `durable recover --force {}{}` empties it{}, and the next append starts it\n",
                    format_flag(r, opts),
                    r.bytes_removed,
                    shell_word(&r.path),
                    r.sidecar
                        .as_ref()
                        .map(|s| format!(" (keeping its bytes in {})", quoted(s)))
                        .unwrap_or_default()
                ),
                LogAction::Refused if r.index.as_ref().is_some_and(|i| i.foreign.is_some()) => {
                    format!(
                        "{path}: not changed: the index read with it is another store's (below), so it is no evidence about this store's {}; --force cuts it at offset {} and rebuilds the index\n",
                        if r.status == durable::log::Status::Corrupt {
                            "damage"
                        } else {
                            "torn tail"
                        },
                        r.bytes_kept,
                    )
                }
                // An index alone has no record data to salvage and no store to rebuild its
                // entries from: its store rebuilds it, or --force cuts it.
                LogAction::Refused if r.index_alone => format!(
                    "{path}: corrupt: a proglog index read alone, its entry at offset {} is wrong ({} before it); not changed. `durable recover --with-index {} STORE` rebuilds it from its store; `durable recover --force {}{}` cuts it at offset {}{}\n",
                    r.damage.unwrap_or(r.bytes_kept),
                    super::plural(r.records, "valid entry"),
                    shell_word(&r.path),
                    format_flag(r, opts),
                    shell_word(&r.path),
                    r.bytes_kept,
                    r.sidecar
                        .as_ref()
                        .map(|s| format!(" (keeping the whole old index in {})", quoted(s)))
                        .unwrap_or_default()
                ),
                LogAction::Refused => {
                    // Only for a refusal: detection reads the file again.
                    let flag = format_flag(r, opts);
                    // A valid entry too large for a native record: salvage would fail on it.
                    let salvage = match r.oversized {
                        0 => format!(
                            "`durable log salvage {flag}{} NEW` copies every valid record into a new log",
                            shell_word(&r.path)
                        ),
                        1 => "`log salvage` cannot copy it into a native log (1 of its records is larger than a native record's maximum, 16 MiB)".to_string(),
                        n => format!(
                            "`log salvage` cannot copy it into a native log ({n} of its records are larger than a native record's maximum, 16 MiB)"
                        ),
                    };
                    // Named as a format detection does not find: the command, as it must be run.
                    let force = if flag.is_empty() {
                        "--force".to_string()
                    } else {
                        format!("`durable recover --force {flag}{}`", shell_word(&r.path))
                    };
                    format!(
                        "{path}: corrupt before the tail: damage at offset {}, and {} ({} bytes) after it; not changed. {salvage}; {force} cuts it at offset {}{}\n",
                        r.damage.unwrap_or(r.bytes_kept),
                        super::plural(r.records_after_damage, "valid record"),
                        r.bytes_after_damage,
                        r.bytes_kept,
                        r.sidecar
                            .as_ref()
                            .map(|s| format!(" (keeping what it removes in {})", quoted(s)))
                            .unwrap_or_default()
                    )
                }
            }
        }
    }
}

/// What remains of a log whose header was (or would be) rewritten: other damage after it,
/// which the next `recover` judges as any other log's (the same words for a dry run and the
/// real one), with the command that settles it.
fn lost_rest(r: &durable::recover::LogRecovery, opts: &RecoverOptions) -> String {
    let Some(d) = r.damage_after_header else {
        return String::new();
    };
    let flag = format_flag(r, opts);
    let path = shell_word(&r.path);
    if d.torn_tail {
        format!(
            "; a torn tail at offset {} remains, which `durable recover {flag}{path}` cuts next (at offset {})",
            d.offset, d.cut
        )
    } else {
        format!(
            "; damage at offset {} remains, which is not a torn tail: `durable log salvage {flag}{path} NEW` copies every valid record into a new log, or `durable recover --force {flag}{path}` cuts it at offset {}",
            d.offset, d.cut
        )
    }
}

/// Where an aof zero-fill starts: after the checkpoint the package lands on, or, for a file
/// with no magic at all (`--force`), at its start.
fn zero_fill_from(r: &durable::recover::LogRecovery) -> &'static str {
    if r.bytes_kept == 0 {
        "the whole data: the file has no magic"
    } else {
        "after the last checkpoint"
    }
}

fn other_text(outcome: &Outcome, opts: &RecoverOptions) -> String {
    match outcome {
        Outcome::Log(r) => log_text(r, opts),
        Outcome::Journal {
            target,
            journal,
            settled,
            would_complete,
        } => match settled {
            Some(Settled::Completed { bytes, .. }) => format!(
                "{}: completed the interrupted journaled save from {} ({bytes} bytes)\n",
                quoted(&target),
                quoted(&journal)
            ),
            Some(Settled::RolledBack { reason, .. }) => format!(
                "{}: rolled back the interrupted journaled save: removed {} because {reason}\n",
                quoted(&target),
                quoted(&journal)
            ),
            None if opts.dry_run => format!(
                "{}: would {} the interrupted journaled save in {}\n",
                quoted(&target),
                if *would_complete {
                    "complete"
                } else {
                    "roll back"
                },
                quoted(&journal)
            ),
            None => format!("{}: no journal left; nothing to do\n", quoted(&target)),
        },
        Outcome::Temp {
            path,
            removed,
            unsure,
        } => match (removed, opts.dry_run) {
            (false, _) if *unsure => format!(
                "{}: kept: could not check whether another user's process has it open (their open files cannot be read by this user; recover as root can tell)\n",
                quoted(&path)
            ),
            (true, false) => format!(
                "{}: removed the temporary file of an interrupted save\n",
                quoted(&path)
            ),
            (true, true) => format!(
                "{}: would remove the temporary file of an interrupted save\n",
                quoted(&path)
            ),
            (false, _) => format!(
                "{}: kept: a process has this temporary file open (a save in progress)\n",
                quoted(&path)
            ),
        },
        Outcome::Untouched { path, reason } => match reason {
            Untouched::NotOurs => format!(
                "{}: untouched (not a log, a journal or a temporary file of ours)\n",
                quoted(&path)
            ),
            Untouched::Empty => format!(
                "{}: nothing to recover: it is empty (an empty file is where `durable log append` starts a log)\n",
                quoted(&path)
            ),
            Untouched::Sidecar { log, offset } => format!(
                "{}: untouched: a sidecar kept by recover, bytes of {} from offset {offset} (`durable log dump {}` says whether log restore can put them back)\n",
                quoted(&path),
                quoted(&log),
                shell_word(path)
            ),
            Untouched::NotOurJournal { why } => format!(
                "{}: untouched: named like a journal of durable save, but {why}, so it may not be ours\n",
                quoted(&path)
            ),
            Untouched::Special { kind } => format!(
                "{}: untouched, {kind}, {}\n",
                quoted(&path),
                Untouched::special_why(kind)
            ),
        },
        Outcome::Skipped { path, filesystem } => format!(
            "{}: skipped, a {filesystem} filesystem (kernel pseudo-files, not data)\n",
            quoted(&path)
        ),
    }
}

/// One JSON line per file handled: a proglog pair gives two (store and index).
fn outcome_json(outcome: &Outcome, opts: &RecoverOptions) -> Result<String, Failure> {
    let mut lines = one_json(outcome, opts)? + "\n";
    if let Outcome::Log(r) = outcome
        && let Some(i) = &r.index
    {
        let exit = index_exit(i);
        lines += &json::line(&RecoverIndex {
            path: Data::path(&i.path),
            kind: "log",
            format: "proglog",
            part: "index",
            store: Data::path(&r.path),
            status: i.status.name(),
            outcome: match i.action {
                IndexAction::Clean => "clean",
                IndexAction::Rebuilt => "rebuilt",
                IndexAction::WouldRebuild => "would-rebuild",
                IndexAction::Refused => "refused",
            },
            entries: i.entries,
            bytes_kept: i.bytes_kept,
            bytes_removed: i.bytes_removed,
            // As for a refused log: nothing was kept, since nothing changed.
            sidecar: Data::opt_path(
                i.sidecar
                    .as_deref()
                    .filter(|_| i.action != IndexAction::Refused),
            ),
            dry_run: opts.dry_run,
            exit_code: exit,
        })?;
        lines += "\n";
    }
    Ok(lines)
}

fn one_json(outcome: &Outcome, opts: &RecoverOptions) -> Result<String, Failure> {
    // Each object's own status: a store's index has an object of its own.
    let exit = match outcome {
        Outcome::Log(r) => log_exit(r),
        _ => outcome_exit(outcome, opts),
    };
    match outcome {
        Outcome::Log(r) => json::line(&RecoverLog {
            path: Data::path(&r.path),
            kind: "log",
            format: r.format.name(),
            status: r.status.name(),
            outcome: match r.action {
                LogAction::Clean => "clean",
                LogAction::Truncated => "truncated",
                LogAction::WouldTruncate => "would-truncate",
                LogAction::Refused => "refused",
                LogAction::ZeroFilled => "zero-filled",
                LogAction::WouldZeroFill => "would-zero-fill",
                LogAction::HeaderWritten => "header-written",
                LogAction::WouldWriteHeader => "would-write-header",
            },
            records: r.records,
            bytes_kept: r.bytes_kept,
            bytes_removed: r.bytes_removed,
            // Only a sidecar that exists (or, in a dry run, would): a refused log has none.
            sidecar: if r.action == LogAction::Refused {
                None
            } else {
                Data::opt_path(r.sidecar.as_deref())
            },
            records_after_damage: r.records_after_damage,
            bytes_after_damage: r.bytes_after_damage,
            dry_run: opts.dry_run,
            exit_code: exit,
        }),
        Outcome::Journal {
            target,
            journal,
            settled,
            would_complete,
        } => json::line(&RecoverJournal {
            path: Data::path(target),
            kind: "journal",
            journal: Data::path(journal),
            outcome: match settled {
                Some(Settled::Completed { .. }) => "completed",
                Some(Settled::RolledBack { .. }) => "rolled-back",
                None if *would_complete => "would-complete",
                None => "would-roll-back",
            },
            dry_run: opts.dry_run,
            exit_code: exit,
        }),
        Outcome::Temp {
            path,
            removed,
            unsure,
        } => json::line(&RecoverTemp {
            path: Data::path(path),
            kind: "temp",
            outcome: match (removed, opts.dry_run) {
                (true, false) => "removed",
                (true, true) => "would-remove",
                (false, _) if *unsure => "unchecked",
                (false, _) => "in-use",
            },
            dry_run: opts.dry_run,
            exit_code: exit,
        }),
        Outcome::Untouched { path, reason } => json::line(&RecoverOther {
            path: Data::path(path),
            kind: match reason {
                Untouched::NotOurs => "other",
                Untouched::Empty => "empty",
                Untouched::Sidecar { .. } => "sidecar",
                Untouched::NotOurJournal { .. } => "journal",
                Untouched::Special { kind: "a symlink" } => "symlink",
                Untouched::Special { .. } => "special",
            },
            outcome: "untouched",
            log: match reason {
                Untouched::Sidecar { log, .. } => Some(Data::path(log)),
                _ => None,
            },
            offset: match reason {
                Untouched::Sidecar { offset, .. } => Some(*offset),
                _ => None,
            },
            reason: match reason {
                Untouched::NotOurJournal { why } => {
                    Some(format!("named like a journal of durable save, but {why}"))
                }
                Untouched::Special { kind } => {
                    Some(format!("{kind}, {}", Untouched::special_why(kind)))
                }
                _ => None,
            },
            exit_code: exit,
        }),
        Outcome::Skipped { path, filesystem } => json::line(&RecoverSkipped {
            path: Data::path(path),
            kind: "directory",
            outcome: "skipped",
            filesystem,
            exit_code: exit,
        }),
    }
}

pub(super) fn salvage(args: SalvageArgs) -> Result<Exit, Failure> {
    if durable::log::stream::is_stdin(&args.dst) {
        // `-` is standard input everywhere else; a new log must be a file to be durable.
        return Err(Failure {
            exit: Exit::Error,
            error: anyhow!(
                "log salvage writes a new log to the file NEW, and `-` names none; to create a file named -, write ./-"
            ),
        });
    }
    let done = recover::salvage(
        &args.src,
        &args.dst,
        args.log_format.map(Into::into),
        SyncLevel::Full,
        &mut (),
    )
    .map_err(|e| {
        let exit = super::exit_for(&e, super::Op::Repair);
        let message = match &e {
            // Salvage has no --no-clobber (the hint `save` gets): it never replaces a file.
            durable::Error::Exists { path } => format!(
                "{} already exists, and log salvage writes only a new file (it never replaces one); it was not changed: name a NEW that does not exist, or remove it first",
                quoted(path)
            ),
            _ => format!(
                "{}; {} was not created",
                super::sentence(&e),
                quoted(&args.dst)
            ),
        };
        if args.json {
            let line = ErrorLine::outcome(Some(error_path(&e, &args.src)), message.clone(), exit);
            if let Ok(text) = json::line(&line) {
                let _ = print_stdout(&format!("{text}\n"));
            }
        }
        Failure {
            exit,
            error: anyhow!(message),
        }
    })?;
    let skipped: u64 = done.skipped.iter().map(|(_, n)| n).sum();
    let text = if args.json {
        let result = SalvageResult {
            src: Data::path(&args.src),
            dst: Data::path(&args.dst),
            outcome: "salvaged",
            records: done.records,
            skipped: done
                .skipped
                .iter()
                .map(|&(offset, bytes)| SkippedRegion { offset, bytes })
                .collect(),
            skipped_bytes: skipped,
            header_lost: done.header_lost.map(|a| a.name()),
            src_format: done.src_format.name(),
            dst_format: salvaged_format_name(&done),
            exit_code: Exit::Success,
        };
        format!("{}\n", json::line(&result)?)
    } else {
        let mut s = format!(
            "{}: copied {} from {}, skipping {}, {} bytes\n",
            quoted(&args.dst),
            super::plural(done.records, "valid record"),
            quoted(&args.src),
            super::plural(done.skipped.len() as u64, "damaged region"),
            skipped
        );
        for (offset, n) in &done.skipped {
            s.push_str(&format!("  skipped {n} bytes at offset {offset}\n"));
        }
        s.push_str(&salvaged_format_line(&args.src, &args.dst, &done));
        if let Some(algorithm) = done.header_lost {
            s.push_str(&format!(
                "  the header of {} is lost (zeroed, damaged, or not its records'): its records were checked with the salt and checksum ({}) recovered from them\n",
                quoted(&args.src),
                algorithm.name()
            ));
        }
        s
    };
    print_stdout(&text)?;
    Ok(Exit::Success)
}

/// `dst_format` of `log salvage --json`: the new log's format, or `empty` when a lines
/// salvage copied no entry (an empty file is no format yet; a native log has its header).
fn salvaged_format_name(done: &recover::Salvaged) -> &'static str {
    match done.dst_format {
        durable::log::LogFormat::Lines if done.records == 0 => "empty",
        f => f.name(),
    }
}

/// The line of `log salvage`'s report that says what format the new log is in, when it says
/// more than "a native log, as SRC is": a lines log stays one; a proglog store's or an aof
/// file's records go into a native log, which the program that wrote SRC cannot read.
fn salvaged_format_line(src: &Path, dst: &Path, done: &recover::Salvaged) -> String {
    use durable::log::LogFormat;
    match (done.src_format, done.dst_format) {
        // No entry copied: the new file is empty, which is no format yet (the next append
        // without --log-format would start a native log in it).
        (LogFormat::Lines, LogFormat::Lines) if done.records == 0 => format!(
            "  {} is empty: no entry of {} checks out; `durable log append --log-format lines {} ENTRY` keeps it a lines log\n",
            quoted(dst),
            quoted(src),
            shell_word(dst)
        ),
        (LogFormat::Lines, LogFormat::Lines) => format!(
            "  {} is a lines log, as {} is: each entry on its line with its SHA-256\n",
            quoted(dst),
            quoted(src)
        ),
        (from @ (LogFormat::Proglog | LogFormat::Aof), _) => format!(
            "  {} is a native log, not {}: the program that wrote {} cannot read it; `durable log dump {}` reads it\n",
            quoted(dst),
            match from {
                LogFormat::Aof => "an aof file",
                _ => "a proglog store",
            },
            quoted(src),
            shell_word(dst)
        ),
        _ => String::new(),
    }
}

pub(super) fn restore(args: RestoreArgs) -> Result<Exit, Failure> {
    if args
        .sidecars
        .iter()
        .any(|p| durable::log::stream::is_stdin(p))
    {
        return Err(anyhow!(
            "log restore reads a sidecar by its name (.durable-recovered/LOG.OFFSET.durable-sidecar beside the log) and puts its bytes back into the log it names; `-` (standard input) is not a sidecar file (a file named - is ./-)"
        )
        .into());
    }
    let mut worst = Exit::Success;
    for path in &args.sidecars {
        match recover::restore(
            path,
            &recover::RestoreOptions {
                dry_run: args.dry_run,
                sync: SyncLevel::Full,
            },
            &mut (),
        ) {
            Ok(done) => {
                let t = &done.trailer;
                let log = quoted(&t.source);
                let what = match t.change {
                    recover::sidecar::Change::Cut => {
                        format!("{} bytes at offset {}", t.len, t.offset)
                    }
                    recover::sidecar::Change::ZeroFilled => {
                        format!("{} bytes over the zeros from offset {}", t.len, t.offset)
                    }
                    recover::sidecar::Change::Rewritten
                        if t.format == recover::sidecar::SourceFormat::Native =>
                    {
                        format!("the old file header ({} bytes)", t.len)
                    }
                    recover::sidecar::Change::Rewritten => {
                        format!("the old index ({} bytes)", t.len)
                    }
                };
                print_stdout(&match done.outcome {
                    Restore::Restored => format!(
                        "{log}: put back {what} from {}; the sidecar can be removed now\n",
                        quoted(path)
                    ),
                    Restore::WouldRestore => {
                        format!("{log}: would put back {what} from {}\n", quoted(path))
                    }
                    Restore::AlreadyThere => format!(
                        "{log}: already holds the bytes of {}; nothing to do\n",
                        quoted(path)
                    ),
                })?;
            }
            Err(error) => {
                worst = worst.worst(super::exit_for(&error, super::Op::Repair));
                eprintln!("durable: {}", super::sentence(&error));
            }
        }
    }
    Ok(worst)
}
