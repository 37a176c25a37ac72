//! `durable log append|verify|dump`: arguments to library calls, and the text, hex, JSON and raw
//! output.

use std::collections::VecDeque;
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::anyhow;
use durable::log::{
    self, Algorithm, AppendOptions, Commit, Committed, Defect, Delimited, Extra, GroupLimits, Item,
    Layout, Listed, LogFormat, MAX_RECORD, OnDamage, OpenOptions, Reader, Record, RecordList,
    RecordSource, Status, Verification, Whole,
};
use durable::quote::quoted;
use durable::recover::Sidecar;
use durable::{Aftermath, Error, SyncLevel};

use super::json::{self, Data, DumpDamage, DumpRecord, DumpStats, ErrorLine, VerifyResult};
use super::{Failure, print_stdout};
use crate::cli::{AppendArgs, ChecksumArg, DumpArgs, DumpFormat, LogCommand, SyncArg, VerifyArgs};
use crate::exit::Exit;

pub(super) fn run(command: LogCommand) -> Result<Exit, Failure> {
    match command {
        LogCommand::Append(args) => append(args),
        LogCommand::Verify(args) => verify(args),
        LogCommand::Dump(args) => dump(args),
        LogCommand::Salvage(args) => super::recover::salvage(args),
        LogCommand::Restore(args) => super::recover::restore(args),
    }
}

/// The exit status and sentence for a library error from a log command.
fn failure(error: Error) -> Failure {
    let suffix = match (&error, error.aftermath()) {
        (
            Error::Step { .. }
            | Error::Input { .. }
            | Error::RecordTooLarge { .. }
            | Error::Protected { .. },
            Aftermath::Unchanged,
        ) => "; nothing was appended",
        (_, Aftermath::Unconfirmed) => "; the records may not survive a power loss",
        _ => "",
    };
    Failure {
        exit: super::exit_for(&error, super::Op::Write),
        error: anyhow!("{}{suffix}", super::sentence(&error)),
    }
}

fn append(args: AppendArgs) -> Result<Exit, Failure> {
    if log::stream::is_stdin(&args.log) {
        return Err(usage(
            "log append writes to the file LOG, and `-` names none (records come from standard input by default); to append to a file named -, write ./-".to_string(),
        ));
    }
    if args
        .files
        .iter()
        .filter(|f| log::stream::is_stdin(f))
        .count()
        > 1
    {
        return Err(usage(
            "--file - reads all of standard input as one record, so it can be given once: a second would be empty".to_string(),
        ));
    }
    let mut opts = AppendOptions {
        sync: match args.sync {
            SyncArg::Full => SyncLevel::Full,
            SyncArg::Data => SyncLevel::Data,
            SyncArg::None => SyncLevel::None,
        },
        algorithm: args.checksum.map(|c| match c {
            ChecksumArg::Crc32 => Algorithm::Crc32,
            ChecksumArg::Sha256 => Algorithm::Sha256,
        }),
        no_wait: args.no_wait,
        verify: args.verify,
        keep_offsets: args.print_offsets,
        format: args.log_format.map(Into::into),
        commit: Commit::Atomic,
    };
    let source: Box<dyn RecordSource> = if !args.records.is_empty() || !args.files.is_empty() {
        let mut items: Vec<Listed> = args.records.iter().cloned().map(Listed::Arg).collect();
        items.extend(args.files.iter().cloned().map(Listed::File));
        Box::new(RecordList::new(items))
    } else {
        if io::stdin().is_terminal() {
            eprintln!(
                "durable: reading records for {} from the terminal, one per line; end with Ctrl-D",
                quoted(&args.log)
            );
        }
        if args.whole {
            Box::new(Whole::new(io::stdin().lock(), "standard input"))
        } else {
            if !args.atomic {
                opts.commit = Commit::Groups(GroupLimits::default());
            }
            let separator = if args.null { 0 } else { b'\n' };
            Box::new(Delimited::streaming(
                io::stdin().lock(),
                separator,
                "standard input",
            ))
        }
    };
    let mut source = Counted {
        inner: source,
        progress: super::progress::Progress::new(
            format!("appending to {}", quoted(&args.log)),
            None,
        ),
        bytes: 0,
        records: 0,
        due: 0,
    };
    // Signals are noted, and the append stops at the next group boundary (see `--help`).
    if let Err(e) = durable::defer_interrupts() {
        eprintln!("durable: warning: could not install the interrupt handler: {e}");
    }
    let mut printed: Result<(), Failure> = Ok(());
    let mut committed = (0u64, None::<(u64, u64)>);
    let mut on_commit = |group: &Committed<'_>| {
        committed.0 += group.count;
        if let Some(first) = group.first_seq {
            let last = first + group.count - 1;
            committed.1 = Some((committed.1.map_or(first, |(a, _)| a), last));
        }
        if args.print_offsets && printed.is_ok() {
            let mut text = String::with_capacity(group.offsets.len() * 12);
            for offset in group.offsets {
                text.push_str(&offset.to_string());
                text.push('\n');
            }
            printed = print_stdout(&text);
        }
    };
    let result = log::append_with(&args.log, &mut source, &opts, &mut (), &mut on_commit)
        .map_err(|e| {
            e.or_protected(
                "log append opens it for writing, to cut an append that fails back off it, which that forbids",
            )
        });
    printed?;
    let path = quoted(&args.log);
    match result {
        Ok(appended) => match appended.interrupted {
            None => Ok(Exit::Success),
            Some(signal) if appended.count == 0 => Err(Failure {
                exit: Exit::Error,
                error: anyhow!("interrupted by {signal}; nothing was appended to {path}"),
            }),
            Some(signal) => Err(Failure {
                exit: Exit::Partial,
                error: anyhow!(
                    "interrupted by {signal}: {} appended to {path} and flushed{}; {}",
                    super::plural(appended.count, "record"),
                    seq_range(&appended),
                    match appended.unappended {
                        0 => "the rest of the input was not read".to_string(),
                        n => format!(
                            "the {} read after them, and the rest of the input, were not appended",
                            super::plural(n, "record")
                        ),
                    }
                ),
            }),
        },
        Err(error) if committed.0 > 0 => {
            let shown = super::sentence(&error);
            let mut f = failure(error);
            let error = shown;
            let range = match committed.1 {
                Some((a, b)) => format!(" (sequence numbers {a} to {b})"),
                None => String::new(),
            };
            f.error = anyhow!(
                "{error}; what was committed before it is in {path}, flushed: {}{range}; nothing after them was appended",
                super::plural(committed.0, "record")
            );
            // Whatever stopped it (a torn tail left by another appender, a bad record, a
            // failed write), earlier groups are in: a retry of the whole input would duplicate
            // them. Only "written, not confirmed" says more.
            if f.exit != Exit::Unconfirmed {
                f.exit = Exit::Partial;
            }
            Err(f)
        }
        Err(error) => Err(failure(error)),
    }
}

/// ", sequence numbers A to B" for a native append's records.
fn seq_range(appended: &log::Appended) -> String {
    match appended.seqs {
        Some((a, b)) if appended.interleaved => {
            format!(" (sequence numbers {a} to {b}, with other appenders' records among them)")
        }
        Some((a, b)) => format!(" (sequence numbers {a} to {b})"),
        None => String::new(),
    }
}

/// Records read for an append, counted for a progress line on a terminal: updated about once
/// per MiB, so a stream pays one comparison per record.
struct Counted {
    inner: Box<dyn RecordSource>,
    progress: super::progress::Progress,
    bytes: u64,
    records: u64,
    due: u64,
}

impl RecordSource for Counted {
    fn next_record(&mut self, buf: &mut Vec<u8>) -> durable::Result<bool> {
        let more = self.inner.next_record(buf)?;
        if more {
            self.records += 1;
            self.bytes += buf.len() as u64 + 1;
            if self.bytes >= self.due {
                self.due = self.bytes + (1 << 20);
                self.progress
                    .update(self.bytes, Some(super::plural(self.records, "record")));
            }
        } else {
            self.progress.finish();
        }
        Ok(more)
    }

    fn describe(&self, index: u64) -> String {
        self.inner.describe(index)
    }

    fn ready_within(&mut self, timeout: Duration) -> durable::Result<bool> {
        self.inner.ready_within(timeout)
    }
}

fn status_exit(status: Status) -> Exit {
    match status {
        Status::Clean => Exit::Success,
        Status::TornTail => Exit::TornTail,
        Status::Corrupt => Exit::Corruption,
    }
}

fn verify(args: VerifyArgs) -> Result<Exit, Failure> {
    let mut worst = Exit::Success;
    let mut out = Output::stdout();
    if let Some(why) = super::with_index_misused(&args.paths, args.with_index.as_deref()) {
        if args.json {
            out.line(&json::line(&ErrorLine::status(
                None,
                why.clone(),
                Exit::Error,
            ))?)?;
            out.flush()?;
        }
        return Err(usage(why));
    }
    for path in &args.paths {
        let is_dir = std::fs::metadata(path).is_ok_and(|m| m.is_dir());
        if !is_dir {
            // An index given together with its store is verified with it, once.
            if log::reader::is_paired_index(path)
                && args
                    .paths
                    .iter()
                    .any(|p| Some(p) == log::reader::proglog_sibling(path).as_ref())
            {
                continue;
            }
            worst = worst.worst(verify_one(path, true, &args, &mut out)?);
            continue;
        }
        for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
            match entry {
                Ok(entry) if entry.file_type().is_file() => {
                    // A proglog pair is reported once, under its store.
                    if log::reader::is_paired_index(entry.path()) {
                        continue;
                    }
                    worst = worst.worst(verify_one(entry.path(), false, &args, &mut out)?);
                }
                Ok(_) => {}
                Err(e) => {
                    let at = e.path().unwrap_or(path).to_path_buf();
                    let error = anyhow!(
                        "could not read {}: {}",
                        quoted(&at),
                        e.io_error()
                            .map_or_else(|| e.to_string(), |io| io.to_string())
                    );
                    report_error(&args, &mut out, &at, &error)?;
                    worst = worst.worst(Exit::Error);
                }
            }
        }
    }
    out.flush()?;
    Ok(worst)
}

/// Verify one file; inside a directory (`explicit` false) a file that is not a log is skipped.
fn verify_one(
    path: &Path,
    explicit: bool,
    args: &VerifyArgs,
    out: &mut Output,
) -> Result<Exit, Failure> {
    let show_progress = !args.quiet && io::stderr().is_terminal();
    let mut shown_progress = false;
    let opts = OpenOptions {
        format: args.log_format.map(Into::into),
        index: args.with_index.clone(),
        write: false,
        index_alone: false,
        force: false,
    };
    let result = log::verify(path, &opts, |done: u64, total: u64| {
        if show_progress && total >= 256 << 20 && done < total {
            eprint!(
                "\rverifying {}: {}%",
                quoted(path),
                done * 100 / total.max(1)
            );
            shown_progress = true;
        }
    });
    if shown_progress {
        eprint!("\r\x1b[K");
    }
    match result {
        Ok(v) if args.with_index.is_some() && (v.format != LogFormat::Proglog || v.index_alone) => {
            let why = anyhow!(
                "{}: --with-index names the index of a proglog store, and this is {}: it would do nothing",
                quoted(path),
                if v.index_alone {
                    "a proglog index".to_string()
                } else {
                    format!("a {} log", v.format.name())
                }
            );
            report_error(args, out, path, &why)?;
            Ok(Exit::Error)
        }
        Ok(v) => {
            if !args.quiet {
                if args.json {
                    out.line(&json::line(&VerifyResult::new(&v, status_exit(v.status)))?)?;
                } else {
                    out.text(&verification_text(&v, log::stream::is_stream(path)))?;
                }
            }
            Ok(status_exit(v.status))
        }
        Err(Error::NotALog {
            path,
            why,
            damaged_header: false,
            format,
        }) if !explicit => {
            let what = format.map_or("a log".to_string(), |f| format!("a {f} log"));
            if args.json {
                out.line(&json::line(&json::VerifySkipped {
                    path: Data::path(&path),
                    status: "skipped",
                    reason: format!("not {what}: {why}"),
                    exit_code: Exit::Success,
                })?)?;
            } else if !args.quiet {
                out.text(&format!("{}: skipped, not {what} ({why})\n", quoted(&path)))?;
            }
            Ok(Exit::Success)
        }
        Err(Error::IsSidecar {
            path,
            log,
            offset,
            bytes,
        }) if !explicit => {
            let reason = format!(
                "a sidecar kept by durable recover ({bytes} bytes of {} from offset {offset})",
                quoted(&log)
            );
            if args.json {
                out.line(&json::line(&json::VerifySkipped {
                    path: Data::path(&path),
                    status: "skipped",
                    reason,
                    exit_code: Exit::Success,
                })?)?;
            } else if !args.quiet {
                out.text(&format!("{}: skipped, {reason}\n", quoted(&path)))?;
            }
            Ok(Exit::Success)
        }
        Err(Error::NotALog {
            path,
            why,
            damaged_header: true,
            ..
        }) => {
            // It starts like a log: a log whose header is damaged needs a human.
            if args.json {
                let size = std::fs::metadata(&path).map_or(0, |m| m.len());
                out.line(&json::line(&VerifyResult::bad_header(&path, size, why))?)?;
            } else if !args.quiet {
                out.text(&format!(
                    "{}: corrupt: bad-header at offset 0 ({why}); no record can be checked\n",
                    quoted(&path)
                ))?;
            }
            Ok(Exit::Corruption)
        }
        Err(error) => {
            report_error(args, out, path, &anyhow!(super::sentence(&error)))?;
            Ok(Exit::Error)
        }
    }
}

fn report_error(
    args: &VerifyArgs,
    out: &mut Output,
    path: &Path,
    error: &anyhow::Error,
) -> Result<(), Failure> {
    if args.json {
        let line = ErrorLine::status(Some(path), format!("{error:#}"), Exit::Error);
        out.line(&json::line(&line)?)?;
    }
    // Errors go to stderr in every mode, -q included: they are not the data.
    out.flush()?;
    eprintln!("durable: {error:#}");
    Ok(())
}

/// The format as reports name it: "native, crc32", "lines, sha256", "proglog store+index …".
fn format_desc(v: &Verification) -> String {
    match v.format {
        LogFormat::Native | LogFormat::Lines => format!(
            "{}, {}{}",
            v.format.name(),
            v.algorithm.map_or("no checksum", |a| a.name()),
            if v.unterminated {
                "; its last line has no newline, which the next append adds"
            } else {
                ""
            }
        ),
        LogFormat::Proglog if v.index_alone => "proglog index".to_string(),
        LogFormat::Proglog => match &v.index {
            Some(index) => format!(
                "proglog store+index {}, no checksums: lengths checked",
                quoted(index)
            ),
            None => "proglog store without index, no checksums: lengths checked".to_string(),
        },
        LogFormat::Aof => match v.aof {
            Some(a) => match (a.tail, a.checkpoint) {
                (Some(t), _) => format!("aof, tail magic at {t}"),
                (None, Some(c)) => format!("aof, outcome {} at {c}", a.outcome.name()),
                _ => format!("aof, outcome {}", a.outcome.name()),
            },
            None => "aof".to_string(),
        },
    }
}

/// What the units of a format are called.
fn noun(v: &Verification) -> &'static str {
    match v.format {
        LogFormat::Aof => "segment",
        LogFormat::Proglog if v.index_alone => "entry",
        _ => "record",
    }
}

/// The report of `log verify` for a person; `streamed`: the log was read from a stream (`-`, a
/// pipe), which recover cannot repair where it is, so the hint says to save it first.
fn verification_text(v: &Verification, streamed: bool) -> String {
    let path = quoted(&v.path);
    let word = if streamed {
        "FILE` (after saving the stream to FILE)".to_string()
    } else {
        format!("{}`", durable::quote::shell_word(&v.path))
    };
    let noun = noun(v);
    let desc = format_desc(v);
    let fix = match v.format {
        LogFormat::Aof => "zero-fills",
        _ => "cuts",
    };
    let mut s = match (v.status, v.main_status) {
        (Status::Clean, _) => format!(
            "{path}: clean, {}, {} bytes ({desc})\n",
            super::plural(v.records, noun),
            v.bytes,
        ),
        (Status::TornTail, Status::Clean) => format!(
            "{path}: its index needs repair: {}, {} bytes ({desc}); `durable recover {word} rebuilds the index from the store\n",
            super::plural(v.records, noun),
            v.bytes,
        ),
        (Status::TornTail, _) => format!(
            "{path}: torn tail at offset {}: {} before it, valid prefix ends at byte {} of {} ({desc}); `durable recover {word} {fix} the {} bytes after it{}\n",
            v.valid_end,
            super::plural(v.records_before_damage, &format!("valid {noun}")),
            v.valid_end,
            v.bytes,
            match v.aof {
                Some(a) => a.nonzero_end.saturating_sub(v.valid_end),
                None => v.bytes - v.valid_end,
            },
            match v.records_unfinished + v.records_after_damage {
                0 => String::new(),
                n => format!(
                    ", {} of an append that never completed among them",
                    super::plural(n, &format!("valid {noun}"))
                ),
            }
        ),
        (Status::Corrupt, Status::Corrupt) if v.format == LogFormat::Aof => format!(
            "{path}: corrupt: no tail or checkpoint magic anywhere ({desc}); the aof package's own recovery calls it corrupted, with its tail at {} (after the last non-zero byte), and does not open it\n",
            v.aof.map_or(0, |a| a.reported_tail)
        ),
        // Damage that is corruption by its kind (an index entry out of order), not by evidence.
        (Status::Corrupt, Status::Corrupt) if v.records_after_damage == 0 => format!(
            "{path}: corrupt at offset {}: {} before it, {} bytes ({desc})\n",
            v.defects.first().map_or(v.valid_end, |d| d.offset),
            super::plural(v.records, &format!("valid {noun}")),
            v.bytes,
        ),
        (Status::Corrupt, Status::Corrupt) => format!(
            "{path}: corrupt before the tail: damage at offset {}, and {} ({} bytes) after it; {} in all, {} bytes ({desc})\n",
            v.defects.first().map_or(v.valid_end, |d| d.offset),
            super::plural(v.records_after_damage, &format!("valid {noun}")),
            v.bytes_after_damage,
            super::plural(v.records, &format!("valid {noun}")),
            v.bytes,
        ),
        (Status::Corrupt, _) => format!(
            "{path}: its index is corrupt (entries that do not match the store): {}, {} bytes ({desc}); `durable recover {word} rebuilds the index from the store\n",
            super::plural(v.records, noun),
            v.bytes,
        ),
    };
    for d in &v.defects {
        let mut text = defect_text(d);
        if d.in_index && v.main_status == Status::Corrupt {
            // recover leaves the index of a store it refuses alone; --force cuts the store first.
            text = text.replace("; recover rebuilds", "; recover --force rebuilds");
        }
        s.push_str(&format!("  {text}\n"));
    }
    if v.defect_count > v.defects.len() as u64 {
        s.push_str(&format!(
            "  … and {} more defects\n",
            v.defect_count - v.defects.len() as u64
        ));
    }
    s
}

fn defect_text(d: &Defect) -> String {
    let detail = match d.kind {
        log::DefectKind::Sequence { expected, found } => {
            format!(" (sequence number {found} where {expected} was expected)")
        }
        log::DefectKind::IndexMismatch {
            entry,
            expected: Some(expected),
            found,
        } => format!(" (entry {entry} holds position {found}; record {entry} is at {expected})"),
        log::DefectKind::IndexMismatch {
            entry,
            expected: None,
            found,
        } => format!(
            " (entry {entry}, naming position {found}, is out of order: its relative offset is not {entry} or its position not past the one before)"
        ),
        log::DefectKind::IndexMissing { records } => {
            format!(
                " ({} of the store without an index entry)",
                super::plural(records, "record")
            )
        }
        log::DefectKind::NoMagic {
            checkpoint: Some(c),
        } => format!(" (the last non-zero bytes are not a magic; the last checkpoint ends at {c})"),
        log::DefectKind::NoMagic { checkpoint: None } => {
            " (no tail or checkpoint magic in the file)".to_string()
        }
        _ => String::new(),
    };
    let place = if d.in_index { "index offset" } else { "offset" };
    let verdict = match d.evidence {
        _ if d.in_index && d.is_torn_tail() => "; recover rebuilds the index".to_string(),
        _ if d.in_index => "; recover rebuilds the index from the store".to_string(),
        _ if d.kind.always_corrupt() => "; corruption".to_string(),
        log::Evidence::NothingAfter => "; nothing valid after it (torn tail)".to_string(),
        log::Evidence::ValidAfter(next) => format!("; next valid record at offset {next}"),
        log::Evidence::EndOfFile => "; torn tail: the file ends inside it".to_string(),
        log::Evidence::ZeroFill => "; torn tail: only zeros from here to the end".to_string(),
        log::Evidence::Zeros(at) => {
            format!("; torn tail: zeros at offset {at}, where a write never reached the disk")
        }
        log::Evidence::LaterAppend(at) => format!(
            "; corruption: a later append starts at offset {at}, so this one had been acknowledged"
        ),
        log::Evidence::NotTorn(at)
            if at == d.offset
                && matches!(
                    d.kind,
                    log::DefectKind::Sequence { .. } | log::DefectKind::BrokenAppend
                ) =>
        {
            "; corruption: the record there checks out whole, so no write of it was lost".to_string()
        }
        log::Evidence::NotTorn(at) if at == d.offset => {
            "; corruption: not what a write that never reached the disk leaves (no zeros, and the file does not end inside it)".to_string()
        }
        log::Evidence::NotTorn(at) => format!(
            "; corruption: the damage at offset {at} after it is not what an unfinished write leaves"
        ),
    };
    let resync = match (d.next_valid, d.evidence) {
        (Some(next), e) if !matches!(e, log::Evidence::ValidAfter(_)) && !d.in_index => {
            format!("; next valid record at offset {next}")
        }
        _ => String::new(),
    };
    let cut = if d.cut < d.offset {
        format!(" (in the append that starts at offset {})", d.cut)
    } else {
        String::new()
    };
    format!(
        "{place} {}{cut}: {}{detail}{verdict}{resync}",
        d.offset,
        d.kind.name()
    )
}

fn dump(args: DumpArgs) -> Result<Exit, Failure> {
    let result = dump_log(&args);
    if args.format == Some(DumpFormat::Json)
        && let Err(failure) = &result
    {
        // With --format json a failure is a JSON line too, after the records printed before it.
        let line = ErrorLine::status(
            Some(&args.log),
            format!("{:#}", failure.error),
            failure.exit,
        );
        // Best effort: the failure being reported is the one that counts.
        if let Ok(text) = json::line(&line) {
            let _ = print_stdout(&format!("{text}\n"));
        }
    }
    result
}

/// The name of an output format, as --format takes it.
fn format_name(format: DumpFormat) -> &'static str {
    match format {
        DumpFormat::Text => "text",
        DumpFormat::Hex => "hex",
        DumpFormat::Json => "json",
        DumpFormat::Raw => "raw",
        DumpFormat::Blob => "blob",
    }
}

/// A usage error: exit 2, nothing read or printed.
fn usage(text: String) -> Failure {
    Failure {
        exit: Exit::Error,
        error: anyhow!(text),
    }
}

/// Options that would do nothing together are refused before the log is opened.
fn check_dump_args(args: &DumpArgs) -> Result<(), Failure> {
    if args.null && args.format != Some(DumpFormat::Raw) {
        return Err(usage(match args.format {
            Some(f) => format!(
                "-0 ends each payload of --format raw with NUL instead of a newline; it would do nothing with --format {}",
                format_name(f)
            ),
            None => "-0 ends each payload of --format raw with NUL instead of a newline; add --format raw".to_string(),
        }));
    }
    if args.stats && args.follow {
        return Err(usage(
            "--stats prints its figures when the dump ends, and --follow does not end (it is stopped by a signal), so it would print nothing".to_string(),
        ));
    }
    if args.format == Some(DumpFormat::Blob) && args.follow {
        return Err(usage(
            "--format blob prints the payload of exactly one record, so it cannot --follow new ones; select the record with --index N or --last 1".to_string(),
        ));
    }
    Ok(())
}

fn dump_log(args: &DumpArgs) -> Result<Exit, Failure> {
    check_dump_args(args)?;
    let opts = OpenOptions {
        format: args.log_format.map(Into::into),
        index: args.with_index.clone(),
        write: false,
        index_alone: true,
        force: false,
    };
    let mut stream = None;
    let mut source = match log::stream::open(&args.log).map_err(failure)? {
        Some(log::stream::Opened::Stream(mut s)) => {
            if args.follow {
                return Err(usage(format!(
                    "{} is a stream (standard input, a pipe), which is printed as it arrives until it ends: --follow, which waits for a file to grow, would do nothing; name a file to follow it",
                    quoted(&args.log)
                )));
            }
            // A native log is known by its first bytes and printed as it arrives; any other
            // format is only known from the whole stream (an aof file by its last bytes).
            s.fill(log::format::FILE_HEADER_LEN).map_err(failure)?;
            let mut head = [0u8; 8];
            let got = s.head(&mut head).map_err(failure)?;
            let native = match opts.format {
                Some(f) => f == LogFormat::Native,
                None => got == head.len() && head == log::format::FILE_MAGIC,
            };
            if !native {
                s.read_to_end().map_err(failure)?;
            }
            let part = s.part().map_err(failure)?;
            if native && !s.ended() {
                stream = Some(s);
            }
            open_dump_source(part, &opts)?
        }
        Some(log::stream::Opened::File(part)) => open_dump_source(part, &opts)?,
        None => open_dump_source(
            log::Part::open(&args.log, log::Access::Read).map_err(failure)?,
            &opts,
        )?,
    };
    let mut out = Output::stdout();
    let mut shown = Shown::default();
    loop {
        match dump_pass(args, &source, stream.as_mut(), &mut shown, &mut out)? {
            Pass::Done(exit) => return Ok(exit),
            Pass::Reopen { cut } => {
                if !cut {
                    // A new file: everything in it is new.
                    shown = Shown::default();
                }
                source = reopen(args, &opts)?;
            }
        }
    }
}

/// What `--follow` has shown, to tell which records are new after the log was cut below it
/// (the cut may have been followed by appends before it was noticed).
#[derive(Default)]
struct Shown {
    /// The last records shown (offset, end, sequence number, checksum), oldest first.
    recent: VecDeque<(u64, u64, u64, Option<log::format::Checksum>)>,
    /// The end of the last record shown.
    upto: u64,
}

/// How many shown records [`Shown`] remembers: a cut deeper than that is assumed to have
/// left the older ones as they were.
const SHOWN_KEPT: usize = 4096;

impl Shown {
    fn key(r: &Record) -> (u64, u64, u64, Option<log::format::Checksum>) {
        (r.offset, r.end, r.seq, r.checksum)
    }

    fn note(&mut self, r: &Record) {
        if self.recent.len() == SHOWN_KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back(Shown::key(r));
        self.upto = self.upto.max(r.end);
    }

    /// Whether `r`, read again after the log was cut, was shown already: below what was
    /// shown and either older than what is remembered or remembered as it is.
    fn already(&self, r: &Record) -> bool {
        r.offset < self.upto
            && match self.recent.front() {
                Some(first) if r.offset >= first.0 => self.recent.contains(&Shown::key(r)),
                _ => true,
            }
    }

    /// Whether damage at `offset`, read again after a cut, lies in what was shown before the
    /// remembered records (and so was reported already).
    fn before_recent(&self, offset: u64) -> bool {
        offset < self.upto && self.recent.front().is_none_or(|first| offset < first.0)
    }
}

/// What `log dump` reads: a log, or a sidecar kept by recover (the records it holds).
enum DumpSource {
    Log(log::Log),
    Sidecar(Sidecar),
}

fn open_dump_source(part: log::Part, opts: &OpenOptions) -> Result<DumpSource, Failure> {
    let path = part.path.clone();
    let file = part.file.try_clone().map_err(|e| read_failure(&path, e))?;
    match log::Log::from_part(part, opts) {
        Ok(input) => Ok(DumpSource::Log(input)),
        Err(Error::IsSidecar { .. }) => Ok(DumpSource::Sidecar(
            Sidecar::from_file(&path, file).map_err(failure)?,
        )),
        Err(e) => Err(failure(e)),
    }
}

/// Open the followed path again (it was cut or replaced), waiting while it is missing or not a
/// log yet (a rotation that has not created the new log).
fn reopen(args: &DumpArgs, opts: &OpenOptions) -> Result<DumpSource, Failure> {
    let mut told = false;
    loop {
        match log::open(&args.log, opts) {
            Ok(input) => return Ok(DumpSource::Log(input)),
            Err(Error::Inspect { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            Err(Error::NotALog {
                damaged_header: false,
                ..
            }) => {}
            Err(e) => return Err(failure(e)),
        }
        if !told {
            eprintln!(
                "durable: {}: waiting for a log at that path again",
                quoted(&args.log)
            );
            told = true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// How one pass over a source ended.
enum Pass {
    Done(Exit),
    /// Following, the file was cut below what was shown (`cut`: skip what was shown) or
    /// replaced (show the new file whole).
    Reopen {
        cut: bool,
    },
}

/// Print one source (`--follow`: until it is cut or replaced); a stream is read as it arrives.
fn dump_pass(
    args: &DumpArgs,
    src: &DumpSource,
    mut stream: Option<&mut log::stream::Stream>,
    shown: &mut Shown,
    out: &mut Output,
) -> Result<Pass, Failure> {
    let (input, sidecar) = match src {
        DumpSource::Log(input) => (Some(input), None),
        DumpSource::Sidecar(side) => (None, Some(side)),
    };
    let on_damage = if args.resync {
        OnDamage::Resync
    } else {
        OnDamage::Stop
    };
    let mut seen = input.map_or(0, |i| i.main.size);
    let kind = match (&input, &sidecar) {
        (Some(input), _) => input.layout,
        (None, Some(side)) => side.layout().map_err(failure)?,
        (None, None) => unreachable!("one of them is open"),
    };
    let format = args.format.unwrap_or(match kind {
        Layout::Aof(_) => DumpFormat::Hex,
        _ => DumpFormat::Text,
    });
    let unsupported = |why: &str| usage(format!("{}: {why}", quoted(&args.log)));
    let kind_name = match kind {
        Layout::Native(_) => "a native log",
        Layout::Lines => "a lines log",
        Layout::ProglogStore => "a proglog store",
        Layout::ProglogIndex => "a proglog index",
        Layout::Aof(_) => "an aof file",
    };
    if sidecar.is_some() && (args.log_format.is_some() || args.with_index.is_some()) {
        return Err(unsupported(
            "a sidecar of durable recover is read in the format its trailer names; --log-format and --with-index do not apply",
        ));
    }
    if args.follow && sidecar.is_some() {
        return Err(unsupported(
            "--follow is not supported for a sidecar of durable recover (it never grows)",
        ));
    }
    if args.follow && matches!(kind, Layout::Aof(_) | Layout::ProglogIndex) {
        return Err(unsupported(&format!(
            "--follow is not supported for {kind_name} (it is preallocated and memory-mapped, so its size says nothing about new data)"
        )));
    }
    if matches!(format, DumpFormat::Raw | DumpFormat::Blob) && matches!(kind, Layout::ProglogIndex)
    {
        return Err(unsupported(&format!(
            "a proglog index holds no record data to print with --format {}; dump its store, or use --format text or json for the entries",
            format_name(format)
        )));
    }
    if args.with_index.is_some() && !matches!(kind, Layout::ProglogStore) {
        return Err(unsupported(&format!(
            "--with-index names the index of a proglog store, and this is {kind_name}: it would do nothing"
        )));
    }
    let resyncs = matches!(kind, Layout::Native(_) | Layout::Lines);
    if args.resync && !resyncs {
        return Err(unsupported(&format!(
            "--resync would do nothing: {kind_name} has no record marks to find the next valid record by, so damage ends what can be read"
        )));
    }
    let mut reader = match (&input, &sidecar) {
        (Some(input), _) => input.reader(on_damage),
        (None, Some(side)) => side.reader(on_damage).map_err(failure)?,
        (None, None) => unreachable!("one of them is open"),
    };
    let mut d = Dumper {
        args,
        format,
        checksum_name: log::algorithm_of(&kind).map_or("-", |a| a.name()),
        native: matches!(kind, Layout::Native(_)),
        resync_hint: resyncs && !args.resync,
        blob: None,
        split: None,
    };
    if let Some(side) = &sidecar
        && matches!(format, DumpFormat::Text | DumpFormat::Hex)
    {
        let t = &side.trailer;
        out.text(&format!(
            "# {}: {} bytes that durable recover {} {} at offset {} ({}; offsets below are the log's); `durable log restore {}` puts them back\n",
            quoted(&args.log),
            t.len,
            match t.change {
                durable::recover::sidecar::Change::Cut => "cut from",
                durable::recover::sidecar::Change::ZeroFilled => "zero-filled in",
                durable::recover::sidecar::Change::Rewritten => "replaced in",
            },
            quoted(&t.source),
            t.offset,
            t.format.name(),
            durable::quote::shell_word(&args.log),
        ))?;
    }
    let mut worst = Exit::Success;
    let mut printed = 0u64;
    let wanted = |r: &Record| {
        args.start.is_none_or(|s| r.offset >= s)
            && args.end.is_none_or(|e| r.offset < e)
            && args
                .index
                .is_none_or(|i| r.index >= i.from && i.to.is_none_or(|t| r.index < t))
    };
    let selective = args.start.is_some() || args.end.is_some() || args.index.is_some();

    if let Some(n) = args.last
        && !selective
        && stream.is_none()
    {
        // The fast path where the format has one: walk back from the end.
        let tail = reader
            .last_records(n)
            .map_err(|e| read_failure(&args.log, e))?;
        if let Some(records) = tail {
            for record in records {
                if !d.record(out, reader.as_mut(), &record)? {
                    return finish_dump(args, out, reader.as_ref(), worst).map(Pass::Done);
                }
            }
            d.finish(out, reader.as_mut())?;
            return finish_dump(args, out, reader.as_ref(), worst).map(Pass::Done);
        }
        // Not available, or the log does not end with a valid record: read forward.
    }

    // `--last N` read forward: the last N records and the damage after the last record left
    // out, in file order; earlier damage is only counted.
    let mut kept: VecDeque<Item> = VecDeque::new();
    let mut kept_records = 0u64;
    let mut left_out: Option<(u64, Defect)> = None;
    loop {
        let item = reader.next_item().map_err(|e| read_failure(&args.log, e))?;
        match item {
            Item::Record(record) => {
                if shown.already(&record) {
                    continue; // shown before the file was cut
                }
                if !wanted(&record) {
                    if args.end.is_some_and(|e| record.offset >= e)
                        || args
                            .index
                            .is_some_and(|i| i.to.is_some_and(|t| record.index >= t))
                    {
                        break;
                    }
                    continue;
                }
                if let Some(n) = args.last {
                    kept.push_back(Item::Record(record));
                    kept_records += 1;
                    while kept_records > n {
                        match kept.pop_front() {
                            Some(Item::Record(_)) => kept_records -= 1,
                            Some(Item::Defect(defect)) => match &mut left_out {
                                Some((count, _)) => *count += 1,
                                None => left_out = Some((1, defect)),
                            },
                            _ => {}
                        }
                    }
                    continue;
                }
                if args.first.is_some_and(|n| printed >= n) {
                    break;
                }
                if !d.record(out, reader.as_mut(), &record)? {
                    return finish_dump(args, out, reader.as_ref(), worst).map(Pass::Done);
                }
                if args.follow {
                    shown.note(&record);
                }
                printed += 1;
            }
            Item::Defect(defect) => {
                if shown.before_recent(defect.offset) {
                    continue; // reported before the file was cut
                }
                if defect.is_torn_tail() && !defect.in_index {
                    // An append in progress (following), or the rest of a stream still to
                    // come: wait for more before calling it a torn tail.
                    match more(
                        args,
                        src,
                        stream.as_deref_mut(),
                        reader.as_mut(),
                        &mut seen,
                        out,
                    )? {
                        More::Read => continue,
                        More::Pass(pass) => return Ok(pass),
                        More::Ended => {}
                    }
                }
                worst = worst.worst(if defect.is_torn_tail() {
                    Exit::TornTail
                } else {
                    Exit::Corruption
                });
                if args.last.is_some() {
                    kept.push_back(Item::Defect(defect));
                    continue;
                }
                if !d.defect(out, &defect)? {
                    return finish_dump(args, out, reader.as_ref(), worst).map(Pass::Done);
                }
            }
            Item::End => {
                match more(
                    args,
                    src,
                    stream.as_deref_mut(),
                    reader.as_mut(),
                    &mut seen,
                    out,
                )? {
                    More::Read => continue,
                    More::Pass(pass) => return Ok(pass),
                    More::Ended => break,
                }
            }
        }
    }
    if let Some((count, first)) = left_out {
        eprintln!(
            "durable: {}: {} before the last {} not shown (the first at offset {}: {}); `durable log verify {}` lists every defect",
            quoted(&args.log),
            super::plural(count, "damaged region"),
            super::plural(args.last.unwrap_or(0), "record"),
            first.offset,
            first.kind.name(),
            quoted(&args.log)
        );
    }
    for item in kept {
        // Records kept by a forward `--last` are re-read for their payloads.
        let more = match item {
            Item::Record(record) => d.record(out, reader.as_mut(), &record)?,
            Item::Defect(defect) => d.defect(out, &defect)?,
            Item::End => true,
        };
        if !more {
            return finish_dump(args, out, reader.as_ref(), worst).map(Pass::Done);
        }
    }
    d.finish(out, reader.as_mut())?;
    finish_dump(args, out, reader.as_ref(), worst).map(Pass::Done)
}

fn finish_dump(
    args: &DumpArgs,
    out: &mut Output,
    reader: &dyn Reader,
    worst: Exit,
) -> Result<Exit, Failure> {
    out.flush()?;
    if args.stats {
        let (bytes_read, reads) = reader.io_stats();
        eprintln!("{}", json::line(&DumpStats { bytes_read, reads })?);
    }
    Ok(worst)
}

fn read_failure(path: &Path, e: io::Error) -> Failure {
    failure(Error::Inspect {
        path: path.to_path_buf(),
        source: e,
    })
}

/// What follows the end of what has been read.
enum More {
    /// More is there to read.
    Read,
    /// Following: the log was cut or replaced.
    Pass(Pass),
    /// Nothing more will come.
    Ended,
}

/// At the end of what has been read: read more of a stream, or (`--follow`) wait for the log
/// to grow, be cut or be replaced.
fn more(
    args: &DumpArgs,
    src: &DumpSource,
    stream: Option<&mut log::stream::Stream>,
    reader: &mut dyn Reader,
    seen: &mut u64,
    out: &mut Output,
) -> Result<More, Failure> {
    if let Some(s) = stream {
        out.flush()?;
        if s.more().map_err(failure)? {
            reader.refresh().map_err(|e| read_failure(&args.log, e))?;
            return Ok(More::Read);
        }
    } else if args.follow {
        out.flush()?;
        return Ok(match follow_wait(args, src, reader, seen)? {
            Some(pass) => More::Pass(pass),
            None => More::Read,
        });
    }
    Ok(More::Ended)
}

/// `--follow` at the end of what there is: wait until the log grows (`None`: read on), or
/// notice, as `tail -F` does, that it was cut below what was shown (by `durable recover`) or
/// replaced by a new file at its path (rotation), say so, and start a new pass.
fn follow_wait(
    args: &DumpArgs,
    src: &DumpSource,
    reader: &mut dyn Reader,
    seen: &mut u64,
) -> Result<Option<Pass>, Failure> {
    let DumpSource::Log(input) = src else {
        unreachable!("--follow of a sidecar is refused")
    };
    let path = &args.log;
    let file = &input.main.file;
    let io = |e| read_failure(path, e);
    let mut gone = false;
    loop {
        let size = file.metadata().map_err(io)?.len();
        let pos = reader.position();
        if size < pos {
            eprintln!(
                "durable: {} was cut to {size} bytes, below the records shown (by `durable recover`?): those after the cut are no longer in it; following on from the cut",
                quoted(path)
            );
            return Ok(Some(Pass::Reopen { cut: true }));
        }
        let before = std::mem::replace(seen, size);
        if reader.refresh().map_err(io)? {
            if size < before {
                eprintln!(
                    "durable: {} was cut to {size} bytes, after its last record (its torn tail removed, by `durable recover`?); following on",
                    quoted(path)
                );
            }
            return Ok(None);
        }
        // Standard input (`-` on a file) has no path to look at again.
        let at_path = if log::stream::is_stdin(path) {
            Ok(true)
        } else {
            input.main.at_path()
        };
        match at_path {
            Ok(false) => {
                eprintln!(
                    "durable: {} was replaced by a new file (rotated?); following the new file from its start",
                    quoted(path)
                );
                return Ok(Some(Pass::Reopen { cut: false }));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && !gone => {
                eprintln!(
                    "durable: {} is gone (rotated or removed?); waiting for a new file at that path",
                    quoted(path)
                );
                gone = true;
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Where a streamed payload goes: `Ok(false)` once stdout is closed.
type Sink<'a> = dyn FnMut(&mut Output, &[u8]) -> Result<bool, Failure> + 'a;

/// Bytes of a payload shown by `--format text`.
const SHOWN: usize = 1024;

/// Prints records and damage in the chosen output format.
struct Dumper<'a> {
    args: &'a DumpArgs,
    format: DumpFormat,
    checksum_name: &'static str,
    native: bool,
    /// Damage with valid records after it gets a hint that --resync reads on.
    resync_hint: bool,
    /// `--format blob`: the one record selected, printed at the end.
    blob: Option<Record>,
    /// `--format raw`: payloads holding the separator (how many, and the first's number).
    split: Option<(u64, u64)>,
}

/// Feed the payload of `record` to `f`, from memory if the reader holds it. A failure of `f`
/// (stdout) is kept apart from read errors; `Ok(false)` once stdout is closed.
fn stream_payload(
    reader: &mut dyn Reader,
    log: &Path,
    record: &Record,
    out: &mut Output,
    f: &mut Sink<'_>,
) -> Result<bool, Failure> {
    if let Some(p) = reader.payload(record) {
        return f(out, p);
    }
    let mut result: Result<bool, Failure> = Ok(true);
    reader
        .read_payload(record, &mut |chunk| {
            if let Ok(true) = result {
                result = f(out, chunk);
            }
            Ok(())
        })
        .map_err(|e| read_failure(log, e))?;
    result
}

impl Dumper<'_> {
    /// Print one record; `false` when stdout is closed (stop quietly). Payloads are streamed:
    /// memory stays bounded whatever a record's length.
    fn record(
        &mut self,
        out: &mut Output,
        reader: &mut dyn Reader,
        record: &Record,
    ) -> Result<bool, Failure> {
        let log = self.args.log.as_path();
        let mut stream =
            |out: &mut Output, f: &mut Sink<'_>| stream_payload(reader, log, record, out, f);
        let checksum = record.checksum.map_or("-".to_string(), |c| c.to_hex());
        let ok = match self.format {
            DumpFormat::Blob => {
                if let Some(first) = &self.blob {
                    return Err(usage(format!(
                        "{}: --format blob prints exactly one record, and the selection holds more (#{} at offset {} and #{} at offset {}); narrow it with --index N, --first 1 or --last 1",
                        quoted(log),
                        first.seq,
                        first.offset,
                        record.seq,
                        record.offset
                    )));
                }
                self.blob = Some(*record);
                true
            }
            DumpFormat::Raw => {
                // Every payload is terminated, the last one too, as every line tool expects.
                let sep = if self.args.null { 0 } else { b'\n' };
                let mut split = false;
                let ok = stream(out, &mut |out, chunk| {
                    split |= memchr::memchr(sep, chunk).is_some();
                    out.bytes(chunk)
                })? && out.bytes(&[sep])?;
                if split {
                    let first = self.split.map_or(record.seq, |(_, first)| first);
                    let count = self.split.map_or(0, |(count, _)| count);
                    self.split = Some((count + 1, first));
                }
                ok
            }
            DumpFormat::Text => {
                let mut head = Vec::new();
                stream(out, &mut |_, chunk| {
                    let room = SHOWN.saturating_sub(head.len());
                    head.extend_from_slice(&chunk[..room.min(chunk.len())]);
                    Ok(true)
                })?;
                let shown = match record.extra {
                    Extra::IndexEntry(rel, pos) => format!("entry offset {rel} position {pos}"),
                    _ => escape(&head, record.len),
                };
                out.text(&format!(
                    "{:>10}  #{:<6} len {:<8} {} {}{}  {}\n",
                    record.offset,
                    record.seq,
                    record.len,
                    self.checksum_name,
                    checksum,
                    extra_text(record),
                    shown
                ))?
            }
            DumpFormat::Hex => {
                let title = format!(
                    "record #{} at offset {}, {} bytes, {} {}{}\n",
                    record.seq,
                    record.offset,
                    record.len,
                    self.checksum_name,
                    checksum,
                    extra_text(record)
                );
                let mut hex = HexDump::default();
                out.text(&title)?
                    && stream(out, &mut |out, chunk| {
                        let mut s = String::new();
                        hex.feed(&mut s, chunk);
                        out.text(&s)
                    })?
                    && {
                        let mut s = String::new();
                        hex.finish(&mut s);
                        out.text(&s)?
                    }
            }
            DumpFormat::Json => {
                let mut line = DumpRecord {
                    index: record.index,
                    offset: record.offset,
                    // Only native records carry a sequence number.
                    seq: self.native.then_some(record.seq),
                    length: record.len,
                    checksum: record.checksum.map(|c| c.to_hex()),
                    extra: record.extra.into(),
                    payload: None,
                };
                if record.len <= MAX_RECORD {
                    let mut payload = Vec::new();
                    stream(out, &mut |_, chunk| {
                        payload.extend_from_slice(chunk);
                        Ok(true)
                    })?;
                    line.payload = Some(Data::bytes(&payload));
                    out.line(&json::line(&line)?)?
                } else {
                    // Larger than any record durable writes (an aof segment, a proglog record):
                    // base64, streamed, so memory stays bounded.
                    let text = json::line(&line)?;
                    let open = text.strip_suffix('}').unwrap_or(&text);
                    let mut base64 = json::Base64Stream::default();
                    let mut ok = out.text(open)? && out.text(",\"payload\":{\"bytes\":\"")?;
                    ok = ok && stream(out, &mut |out, chunk| out.text(&base64.feed(chunk)))?;
                    ok && out.text(&base64.finish())? && out.line("\"}}")?
                }
            }
        };
        Ok(ok)
    }

    fn defect(&self, out: &mut Output, defect: &Defect) -> Result<bool, Failure> {
        match self.format {
            DumpFormat::Json => out.line(&json::line(&DumpDamage {
                damage: defect.into(),
            })?),
            DumpFormat::Raw | DumpFormat::Blob => {
                // Not into the data stream: on stderr.
                out.flush()?;
                eprintln!(
                    "durable: {}: {}",
                    quoted(&self.args.log),
                    defect_text(defect)
                );
                Ok(true)
            }
            DumpFormat::Text | DumpFormat::Hex => {
                let mut s = format!("{:>10}  DAMAGE {}\n", defect.offset, defect_text(defect));
                if defect.next_valid.is_some() && self.resync_hint {
                    s.push_str(
                        "            (--resync continues with the records after the damage)\n",
                    );
                }
                out.text(&s)
            }
        }
    }

    /// After the last record: the blob, and what raw output could not frame.
    fn finish(&mut self, out: &mut Output, reader: &mut dyn Reader) -> Result<(), Failure> {
        let log = self.args.log.as_path();
        if self.format == DumpFormat::Blob {
            let Some(record) = self.blob.take() else {
                return Err(usage(format!(
                    "{}: --format blob prints exactly one record, and the selection holds none",
                    quoted(log)
                )));
            };
            stream_payload(reader, log, &record, out, &mut |out, chunk| {
                out.bytes(chunk)
            })?;
        }
        if let Some((count, first)) = self.split {
            out.flush()?;
            let (what, option) = if self.args.null {
                ("a NUL", "--format json")
            } else {
                (
                    "a newline",
                    "-0 (if no payload holds a NUL) or --format json",
                )
            };
            eprintln!(
                "durable: warning: {}: {} (the first #{first}) {} {what}, so {} cannot be told apart from record ends in --format raw; use {option}",
                quoted(log),
                super::plural(count, "payload"),
                if count == 1 { "holds" } else { "hold" },
                if count == 1 { "it" } else { "they" },
            );
        }
        Ok(())
    }
}

/// What text and hex output add for a record of some formats.
fn extra_text(record: &Record) -> String {
    match record.extra {
        Extra::StoreEntry(Some((o, p))) => format!(" [index entry {o} -> {p}]"),
        Extra::StoreEntry(None) => " [no index entry]".to_string(),
        Extra::AofSegment {
            ends_with: Some(m),
            magic_offset: Some(at),
        } => format!(" [{} magic at {at}]", m.name()),
        _ => String::new(),
    }
}

/// A payload for a terminal: printable UTF-8 as it is; backslashes, control characters,
/// bidirectional-text controls and bytes that are not UTF-8 escaped; long payloads cut (never
/// inside a character).
fn escape(head: &[u8], total: u64) -> String {
    let shown = if total > head.len() as u64 {
        without_cut_char(head)
    } else {
        head
    };
    let mut s = String::with_capacity(shown.len() + 16);
    for chunk in shown.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => s.push_str("\\\\"),
                '\n' => s.push_str("\\n"),
                '\r' => s.push_str("\\r"),
                '\t' => s.push_str("\\t"),
                c if c.is_ascii() && durable::quote::is_hidden(c) => {
                    s.push_str(&format!("\\x{:02x}", u32::from(c)));
                }
                c if durable::quote::is_hidden(c) => {
                    s.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
                }
                c => s.push(c),
            }
        }
        for b in chunk.invalid() {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    if total > shown.len() as u64 {
        s.push_str(&format!("… (+{} bytes)", total - shown.len() as u64));
    }
    s
}

/// `bytes` without a UTF-8 character cut short at its end.
fn without_cut_char(bytes: &[u8]) -> &[u8] {
    for i in (bytes.len().saturating_sub(3)..bytes.len()).rev() {
        if bytes[i] & 0xc0 != 0x80 {
            // The last byte that starts a character: is that character complete?
            return match std::str::from_utf8(&bytes[i..]) {
                Err(e) if e.error_len().is_none() => &bytes[..i],
                _ => bytes,
            };
        }
    }
    bytes
}

/// `hexdump -C` style lines, fed a payload in pieces.
#[derive(Default)]
struct HexDump {
    /// Offset of the next line.
    at: usize,
    /// Bytes of a line not yet complete.
    carry: Vec<u8>,
}

impl HexDump {
    fn feed(&mut self, s: &mut String, mut bytes: &[u8]) {
        if !self.carry.is_empty() {
            let take = (16 - self.carry.len()).min(bytes.len());
            self.carry.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.carry.len() < 16 {
                return;
            }
            let line = std::mem::take(&mut self.carry);
            self.line(s, &line);
        }
        let whole = bytes.len() / 16 * 16;
        for line in bytes[..whole].chunks(16) {
            self.line(s, line);
        }
        self.carry.extend_from_slice(&bytes[whole..]);
    }

    fn finish(&mut self, s: &mut String) {
        if !self.carry.is_empty() {
            let line = std::mem::take(&mut self.carry);
            self.line(s, &line);
        }
    }

    fn line(&mut self, s: &mut String, line: &[u8]) {
        s.push_str(&format!("  {:08x}  ", self.at));
        for j in 0..16 {
            match line.get(j) {
                Some(b) => s.push_str(&format!("{b:02x} ")),
                None => s.push_str("   "),
            }
            if j == 7 {
                s.push(' ');
            }
        }
        s.push_str(" |");
        for &b in line {
            s.push(if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            });
        }
        s.push_str("|\n");
        self.at += line.len();
    }
}

/// Buffered stdout that turns a closed pipe into a quiet stop.
struct Output {
    inner: io::BufWriter<io::Stdout>,
    closed: bool,
}

impl Output {
    fn stdout() -> Output {
        Output {
            inner: io::BufWriter::with_capacity(256 << 10, io::stdout()),
            closed: false,
        }
    }

    /// Write bytes; `Ok(false)` once stdout is closed.
    fn bytes(&mut self, b: &[u8]) -> Result<bool, Failure> {
        if self.closed {
            return Ok(false);
        }
        match self.inner.write_all(b) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(false)
            }
            Err(e) => Err(anyhow::Error::new(e)
                .context("could not write to standard output")
                .into()),
        }
    }

    fn text(&mut self, s: &str) -> Result<bool, Failure> {
        self.bytes(s.as_bytes())
    }

    fn line(&mut self, s: &str) -> Result<bool, Failure> {
        Ok(self.text(s)? && self.text("\n")?)
    }

    fn flush(&mut self) -> Result<(), Failure> {
        if self.closed {
            return Ok(());
        }
        match self.inner.flush() {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            Err(e) => Err(anyhow::Error::new(e)
                .context("could not write to standard output")
                .into()),
        }
    }
}
