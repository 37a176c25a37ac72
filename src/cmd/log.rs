//! `durable log append|verify|dump`: arguments to library calls, and the text, hex, JSON and raw
//! output.

use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::anyhow;
use durable::log::{
    self, Algorithm, AppendOptions, Defect, Delimited, Extra, Item, Kind, Listed, LogFormat,
    MAX_RECORD, OnDamage, OpenOptions, Reader, Record, RecordSource, Records, Status, Verification,
    Whole,
};
use durable::recover::Sidecar;
use durable::{Aftermath, Error, SyncLevel};
use serde_json::json;

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
    let exit = match &error {
        Error::TornTail { corrupt: false, .. } => Exit::TornTail,
        Error::TornTail { corrupt: true, .. } => Exit::Corruption,
        // It starts like a log but its header is cut short or damaged: a damaged log.
        Error::NotALog {
            damaged_header: true,
            ..
        } => Exit::Corruption,
        _ => match error.aftermath() {
            Aftermath::Unconfirmed | Aftermath::Pending => Exit::Unconfirmed,
            _ => Exit::Error,
        },
    };
    let suffix = match (&error, error.aftermath()) {
        (
            Error::Step { .. } | Error::Input { .. } | Error::RecordTooLarge { .. },
            Aftermath::Unchanged,
        ) => "; nothing was appended",
        (_, Aftermath::Unconfirmed) => "; the records may not survive a power loss",
        _ => "",
    };
    Failure {
        exit,
        error: anyhow!("{error}{suffix}"),
    }
}

fn append(args: AppendArgs) -> Result<Exit, Failure> {
    let opts = AppendOptions {
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
    };
    let mut source: Box<dyn RecordSource> = if !args.records.is_empty() || !args.files.is_empty() {
        let mut items: Vec<Listed> = args.records.iter().cloned().map(Listed::Arg).collect();
        items.extend(args.files.iter().cloned().map(Listed::File));
        Box::new(Records::new(items))
    } else {
        if io::stdin().is_terminal() {
            eprintln!(
                "durable: reading records for {} from the terminal, one per line; end with Ctrl-D",
                args.log.display()
            );
        }
        if args.whole {
            Box::new(Whole::new(io::stdin().lock(), "standard input"))
        } else {
            let separator = if args.null { 0 } else { b'\n' };
            Box::new(Delimited::new(
                io::stdin().lock(),
                separator,
                "standard input",
            ))
        }
    };
    install_interrupt_report(&args.log);
    let appended = log::append(&args.log, source.as_mut(), &opts, &mut ()).map_err(failure)?;
    if args.print_offsets {
        let mut text = String::with_capacity(appended.offsets.len() * 12);
        for offset in &appended.offsets {
            text.push_str(&offset.to_string());
            text.push('\n');
        }
        print_stdout(&text)?;
    }
    Ok(Exit::Success)
}

/// On SIGINT/SIGTERM/SIGHUP during an append: the log is cut back (nothing appended, exit 2),
/// unless every record was already written (exit 4: written, flush not confirmed).
fn install_interrupt_report(log: &Path) {
    let log = log.display().to_string();
    let installed = durable::install_interrupt_cleanup(|signal, state| match state {
        1 => (
            format!(
                "durable: interrupted by {signal} after the records were written to {log}; their flush may not have run"
            ),
            i32::from(Exit::Unconfirmed.code()),
        ),
        _ => (
            format!("durable: interrupted by {signal}; nothing was appended to {log}"),
            i32::from(Exit::Error.code()),
        ),
    });
    if let Err(e) = installed {
        eprintln!("durable: warning: could not install the interrupt handler: {e}");
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
                    let shown = e.path().unwrap_or(path).display().to_string();
                    report_error(&args, &mut out, Path::new(&shown), &anyhow!("{e}"))?;
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
    };
    let result = log::verify(path, &opts, |done: u64, total: u64| {
        if show_progress && total >= 256 << 20 && done < total {
            eprint!(
                "\rverifying {}: {}%",
                path.display(),
                done * 100 / total.max(1)
            );
            shown_progress = true;
        }
    });
    if shown_progress {
        eprint!("\r\x1b[K");
    }
    match result {
        Ok(v) => {
            if !args.quiet {
                if args.json {
                    out.line(&verification_json(&v).to_string())?;
                } else {
                    out.text(&verification_text(&v))?;
                }
            }
            Ok(status_exit(v.status))
        }
        Err(Error::NotALog {
            path,
            why,
            damaged_header: false,
        }) if !explicit => {
            if args.json {
                out.line(&json!({"path": path, "status": "skipped", "reason": format!("not a log: {why}")}).to_string())?;
            } else if !args.quiet {
                out.text(&format!("{}: skipped, not a log ({why})\n", path.display()))?;
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
                log.display()
            );
            if args.json {
                out.line(
                    &json!({"path": path, "status": "skipped", "reason": reason}).to_string(),
                )?;
            } else if !args.quiet {
                out.text(&format!("{}: skipped, {reason}\n", path.display()))?;
            }
            Ok(Exit::Success)
        }
        Err(Error::NotALog {
            path,
            why,
            damaged_header: true,
        }) => {
            // It starts like a log: a log whose header is damaged needs a human.
            if args.json {
                out.line(&json!({"path": path, "status": "corrupt", "format": "native", "defects": [{"offset": 0, "kind": "bad-header", "detail": why}], "exit_code": 3}).to_string())?;
            } else if !args.quiet {
                out.text(&format!(
                    "{}: corrupt: bad-header at offset 0 ({why}); no record can be checked\n",
                    path.display()
                ))?;
            }
            Ok(Exit::Corruption)
        }
        Err(error) => {
            report_error(args, out, path, &anyhow!("{error}"))?;
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
        out.line(&json!({"path": path, "status": "error", "error": format!("{error:#}"), "exit_code": 2}).to_string())?;
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
            "{}, {}",
            v.format.name(),
            v.algorithm.map_or("no checksum", |a| a.name())
        ),
        LogFormat::Proglog if v.index_alone => "proglog index".to_string(),
        LogFormat::Proglog => match &v.index {
            Some(index) => format!(
                "proglog store+index {}, no checksums: lengths checked",
                index.display()
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

fn verification_text(v: &Verification) -> String {
    let path = v.path.display();
    let word = durable::shell_word(&v.path);
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
            "{path}: its index needs repair: {}, {} bytes ({desc}); `durable recover {word}` rebuilds the index from the store\n",
            super::plural(v.records, noun),
            v.bytes,
        ),
        (Status::TornTail, _) => format!(
            "{path}: torn tail at offset {}: {}, valid prefix ends at byte {} of {} ({desc}); `durable recover {word}` {fix} the {} bytes after it\n",
            v.valid_end,
            super::plural(v.records, &format!("valid {noun}")),
            v.valid_end,
            v.bytes,
            match v.aof {
                Some(a) => a.nonzero_end.saturating_sub(v.valid_end),
                None => v.bytes - v.valid_end,
            }
        ),
        (Status::Corrupt, Status::Corrupt) if v.format == LogFormat::Aof => format!(
            "{path}: corrupt: no tail or checkpoint magic anywhere ({desc}); the aof package's own recovery calls it corrupted\n"
        ),
        // Damage that is corruption by its kind (an index entry out of order), not by evidence.
        (Status::Corrupt, Status::Corrupt) if v.records_after_damage == 0 => format!(
            "{path}: corrupt at offset {}: {} before it, {} bytes ({desc})\n",
            v.valid_end,
            super::plural(v.records, &format!("valid {noun}")),
            v.bytes,
        ),
        (Status::Corrupt, Status::Corrupt) => format!(
            "{path}: corrupt before the tail: damage at offset {}, and {} ({} bytes) after it; {} in all, {} bytes ({desc})\n",
            v.valid_end,
            super::plural(v.records_after_damage, &format!("valid {noun}")),
            v.bytes_after_damage,
            super::plural(v.records, &format!("valid {noun}")),
            v.bytes,
        ),
        (Status::Corrupt, _) => format!(
            "{path}: its index is corrupt (entries that do not match the store): {}, {} bytes ({desc}); `durable recover {word}` rebuilds the index from the store\n",
            super::plural(v.records, noun),
            v.bytes,
        ),
    };
    for d in &v.defects {
        s.push_str(&format!("  {}\n", defect_text(d)));
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
    let verdict = match d.next_valid {
        _ if d.in_index && d.is_torn_tail() => "; recover rebuilds the index".to_string(),
        _ if d.in_index => "; recover rebuilds the index from the store".to_string(),
        None if d.is_torn_tail() => "; nothing valid after it (torn tail)".to_string(),
        None => "; corruption".to_string(),
        Some(next) => format!("; next valid record at offset {next}"),
    };
    format!("{place} {}: {}{detail}{verdict}", d.offset, d.kind.name())
}

fn defect_json(d: &Defect) -> serde_json::Value {
    let mut v = json!({
        "offset": d.offset,
        "kind": d.kind.name(),
        "torn_tail": d.is_torn_tail(),
        "next_valid": d.next_valid,
        "file": if d.in_index { "index" } else { "log" },
    });
    match d.kind {
        log::DefectKind::Sequence { expected, found } => {
            v["expected_seq"] = json!(expected);
            v["found_seq"] = json!(found);
        }
        log::DefectKind::IndexMismatch {
            entry,
            expected,
            found,
        } => {
            v["entry"] = json!(entry);
            v["expected_position"] = json!(expected);
            v["found_position"] = json!(found);
        }
        log::DefectKind::IndexMissing { records } => v["records_without_entry"] = json!(records),
        log::DefectKind::NoMagic { checkpoint } => v["checkpoint_end"] = json!(checkpoint),
        _ => {}
    }
    v
}

fn verification_json(v: &Verification) -> serde_json::Value {
    let mut j = json!({
        "path": v.path,
        "format": v.format.name(),
        "checksum": v.algorithm.map(|a| a.name()),
        "status": v.status.name(),
        "records": v.records,
        "bytes": v.bytes,
        "valid_end": v.valid_end,
        "records_before_damage": v.records_before_damage,
        "records_after_damage": v.records_after_damage,
        "bytes_after_damage": v.bytes_after_damage,
        "defect_count": v.defect_count,
        "defects": v.defects.iter().map(defect_json).collect::<Vec<_>>(),
        "exit_code": status_exit(v.status).code(),
    });
    if v.format == LogFormat::Proglog {
        j["store"] = json!((!v.index_alone).then_some(&v.path));
        j["index"] = json!(if v.index_alone {
            Some(&v.path)
        } else {
            v.index.as_ref()
        });
        j["index_status"] = json!(v.index_status.name());
    }
    if let Some(a) = v.aof {
        j["outcome"] = json!(a.outcome.name());
        j["logical_end"] = json!(a.logical_end);
        j["tail"] = json!(a.tail);
        j["checkpoint"] = json!(a.checkpoint);
    }
    j
}

fn dump(args: DumpArgs) -> Result<Exit, Failure> {
    let opts = OpenOptions {
        format: args.log_format.map(Into::into),
        index: args.with_index.clone(),
        write: false,
        index_alone: true,
    };
    let on_damage = if args.resync {
        OnDamage::Resync
    } else {
        OnDamage::Stop
    };
    // A sidecar kept by recover is dumped as the records it holds, read in its log's format.
    let (input, sidecar) = match log::open_input(&args.log, &opts) {
        Ok(input) => (Some(input), None),
        Err(Error::IsSidecar { .. }) => (None, Some(Sidecar::open(&args.log).map_err(failure)?)),
        Err(e) => return Err(failure(e)),
    };
    let kind = match (&input, &sidecar) {
        (Some(input), _) => input.kind,
        (None, Some(side)) => side.kind().map_err(failure)?,
        (None, None) => unreachable!("one of them is open"),
    };
    let format = args.format.unwrap_or(match kind {
        Kind::Aof(_) => DumpFormat::Hex,
        _ => DumpFormat::Text,
    });
    let unsupported = |why: &str| Failure {
        exit: Exit::Error,
        error: anyhow!("{}: {why}", args.log.display()),
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
    if args.follow && matches!(kind, Kind::Aof(_) | Kind::ProglogIndex) {
        return Err(unsupported(&format!(
            "--follow is not supported for {} files (they are preallocated and memory-mapped, so their size says nothing about new data)",
            if matches!(kind, Kind::Aof(_)) {
                "aof"
            } else {
                "proglog index"
            }
        )));
    }
    if format == DumpFormat::Raw && matches!(kind, Kind::ProglogIndex) {
        return Err(unsupported(
            "a proglog index holds no record data to print raw; dump its store, or use --format text or json for the entries",
        ));
    }
    let mut reader = match (&input, &sidecar) {
        (Some(input), _) => input.reader(on_damage),
        (None, Some(side)) => side.reader(on_damage).map_err(failure)?,
        (None, None) => unreachable!("one of them is open"),
    };
    let d = Dumper {
        args: &args,
        format,
        checksum_name: log::algorithm_of(&kind).map_or("-", |a| a.name()),
        native: matches!(kind, Kind::Native(_)),
    };
    let mut out = Output::stdout();
    if let Some(side) = &sidecar
        && matches!(format, DumpFormat::Text | DumpFormat::Hex)
    {
        let t = &side.trailer;
        out.text(&format!(
            "# {}: {} bytes that durable recover {} {} at offset {} ({}; offsets below are the log's); `durable log restore {}` puts them back\n",
            args.log.display(),
            t.len,
            match t.change {
                durable::recover::sidecar::Change::Cut => "cut from",
                durable::recover::sidecar::Change::ZeroFilled => "zero-filled in",
                durable::recover::sidecar::Change::Rewritten => "replaced in",
            },
            t.source.display(),
            t.offset,
            t.format.name(),
            durable::shell_word(&args.log),
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
    {
        // The fast path where the format has one: walk back from the end.
        let tail = reader
            .last_records(n)
            .map_err(|e| read_failure(&args.log, e))?;
        if let Some(records) = tail {
            for record in records {
                if !d.record(&mut out, reader.as_mut(), &record)? {
                    break;
                }
            }
            return finish_dump(&args, out, reader.as_ref(), worst);
        }
        // Not available, or the log does not end with a valid record: read forward.
    }

    let mut kept: std::collections::VecDeque<Record> = std::collections::VecDeque::new();
    loop {
        let item = reader.next_item().map_err(|e| read_failure(&args.log, e))?;
        match item {
            Item::Record(record) => {
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
                    kept.push_back(record);
                    if kept.len() as u64 > n {
                        kept.pop_front();
                    }
                    continue;
                }
                if args.first.is_some_and(|n| printed >= n) {
                    break;
                }
                if !d.record(&mut out, reader.as_mut(), &record)? {
                    return finish_dump(&args, out, reader.as_ref(), worst);
                }
                printed += 1;
            }
            Item::Defect(defect) => {
                if args.follow && defect.is_torn_tail() && !defect.in_index {
                    // An append in progress: wait for the record to be complete.
                    out.flush()?;
                    wait_for_growth(reader.as_mut(), &args.log)?;
                    continue;
                }
                worst = worst.worst(if defect.is_torn_tail() {
                    Exit::TornTail
                } else {
                    Exit::Corruption
                });
                if !d.defect(&mut out, &defect)? {
                    return finish_dump(&args, out, reader.as_ref(), worst);
                }
            }
            Item::End => {
                if args.follow {
                    out.flush()?;
                    wait_for_growth(reader.as_mut(), &args.log)?;
                    continue;
                }
                break;
            }
        }
    }
    for record in kept {
        // Records kept by a forward `--last` are re-read for their payloads.
        if !d.record(&mut out, reader.as_mut(), &record)? {
            break;
        }
    }
    finish_dump(&args, out, reader.as_ref(), worst)
}

fn finish_dump(
    args: &DumpArgs,
    mut out: Output,
    reader: &dyn Reader,
    worst: Exit,
) -> Result<Exit, Failure> {
    out.flush()?;
    if args.stats {
        let (bytes, reads) = reader.io_stats();
        eprintln!("{}", json!({"bytes_read": bytes, "reads": reads}));
    }
    Ok(worst)
}

fn read_failure(path: &Path, e: io::Error) -> Failure {
    failure(Error::Inspect {
        path: path.to_path_buf(),
        source: e,
    })
}

fn wait_for_growth(reader: &mut dyn Reader, path: &Path) -> Result<(), Failure> {
    loop {
        if reader.refresh().map_err(|e| read_failure(path, e))? {
            return Ok(());
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
}

impl Dumper<'_> {
    /// Print one record; `false` when stdout is closed (stop quietly). Payloads are streamed:
    /// memory stays bounded whatever a record's length.
    fn record(
        &self,
        out: &mut Output,
        reader: &mut dyn Reader,
        record: &Record,
    ) -> Result<bool, Failure> {
        let checksum = record.checksum.map_or("-".to_string(), |c| c.to_hex());
        // Feed the payload to `f`, from memory if the reader holds it; a failure of `f` (stdout)
        // is kept apart from read errors.
        let mut stream = |out: &mut Output, f: &mut Sink<'_>| -> Result<bool, Failure> {
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
                .map_err(|e| read_failure(&self.args.log, e))?;
            result
        };
        let ok = match self.format {
            DumpFormat::Raw => {
                let sep: &[u8] = if self.args.null { b"\0" } else { b"\n" };
                (out.records_written == 0 || out.bytes(sep)?)
                    && stream(out, &mut |out, chunk| out.bytes(chunk))?
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
                    record.index,
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
                    record.index,
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
                let mut v = json!({
                    "index": record.index,
                    "offset": record.offset,
                    // Only native records carry a sequence number.
                    "seq": self.native.then_some(record.seq),
                    "length": record.len,
                    "checksum": record.checksum.map(|c| c.to_hex()),
                });
                match record.extra {
                    Extra::None => {}
                    Extra::StoreEntry(entry) => {
                        v["index_entry"] =
                            json!(entry.map(|(o, p)| json!({"offset": o, "position": p})));
                    }
                    Extra::IndexEntry(rel, pos) => {
                        v["entry_offset"] = json!(rel);
                        v["position"] = json!(pos);
                    }
                    Extra::AofSegment {
                        ends_with,
                        magic_offset,
                    } => {
                        v["ends_with"] = json!(ends_with.map(|m| m.name()));
                        v["magic_offset"] = json!(magic_offset);
                    }
                }
                if record.len <= MAX_RECORD {
                    let mut payload = Vec::new();
                    stream(out, &mut |_, chunk| {
                        payload.extend_from_slice(chunk);
                        Ok(true)
                    })?;
                    match std::str::from_utf8(&payload) {
                        Ok(text) => v["payload"] = json!(text),
                        Err(_) => v["payload_hex"] = json!(hex::encode(&payload)),
                    }
                    out.line(&v.to_string())?
                } else {
                    // Larger than any record durable writes (an aof segment, a proglog record):
                    // hex, streamed, so memory stays bounded.
                    let text = v.to_string();
                    let open = &text[..text.len() - 1];
                    out.text(open)?
                        && out.text(",\"payload_hex\":\"")?
                        && stream(out, &mut |out, chunk| out.text(&hex::encode(chunk)))?
                        && out.line("\"}")?
                }
            }
        };
        out.records_written += 1;
        Ok(ok)
    }

    fn defect(&self, out: &mut Output, defect: &Defect) -> Result<bool, Failure> {
        match self.format {
            DumpFormat::Json => out.line(&json!({"damage": defect_json(defect)}).to_string()),
            DumpFormat::Raw => {
                // Not into the data stream: on stderr.
                out.flush()?;
                eprintln!(
                    "durable: {}: {}",
                    self.args.log.display(),
                    defect_text(defect)
                );
                Ok(true)
            }
            DumpFormat::Text | DumpFormat::Hex => {
                let mut s = format!("{:>10}  DAMAGE {}\n", defect.offset, defect_text(defect));
                if defect.next_valid.is_some() && !self.args.resync {
                    s.push_str(
                        "            (--resync continues with the records after the damage)\n",
                    );
                }
                out.text(&s)
            }
        }
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

/// A payload for a terminal: printable ASCII as is, everything else escaped, long payloads cut.
fn escape(payload: &[u8], total: u64) -> String {
    let mut s = String::with_capacity(payload.len().min(SHOWN) + 16);
    for &b in payload.iter().take(SHOWN) {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    if total > payload.len() as u64 {
        s.push_str(&format!("… (+{} bytes)", total - payload.len() as u64));
    }
    s
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
    records_written: u64,
}

impl Output {
    fn stdout() -> Output {
        Output {
            inner: io::BufWriter::with_capacity(256 << 10, io::stdout()),
            closed: false,
            records_written: 0,
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
