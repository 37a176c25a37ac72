//! `durable log append|verify|dump`: arguments to library calls, and the text, hex, JSON and raw
//! output.

use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::anyhow;
use durable::log::{
    self, Algorithm, AppendOptions, Defect, Delimited, Item, Listed, OnDamage, Record,
    RecordSource, Records, Status, Verification, Whole,
};
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
            worst = worst.worst(verify_one(path, true, &args, &mut out)?);
            continue;
        }
        for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
            match entry {
                Ok(entry) if entry.file_type().is_file() => {
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
    let result = log::verify(path, |done, total| {
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
                out.line(&json!({"path": path, "status": "skipped", "reason": format!("not a durable log: {why}")}).to_string())?;
            } else if !args.quiet {
                out.text(&format!(
                    "{}: skipped, not a durable log ({why})\n",
                    path.display()
                ))?;
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

fn verification_text(v: &Verification) -> String {
    let path = v.path.display();
    let mut s = match v.status {
        Status::Clean => format!(
            "{path}: clean, {}, {} bytes (native, {})\n",
            super::plural(v.records, "record"),
            v.bytes,
            v.algorithm.name()
        ),
        Status::TornTail => format!(
            "{path}: torn tail at offset {}: {}, valid prefix ends at byte {} of {}; `durable recover {path}` cuts the {} bytes after it\n",
            v.valid_end,
            super::plural(v.records, "valid record"),
            v.valid_end,
            v.bytes,
            v.bytes - v.valid_end
        ),
        Status::Corrupt => format!(
            "{path}: corrupt before the tail: damage at offset {}, and {} ({} bytes) after it; {} in all, {} bytes (native, {})\n",
            v.valid_end,
            super::plural(v.records_after_damage, "valid record"),
            v.bytes_after_damage,
            super::plural(v.records, "valid record"),
            v.bytes,
            v.algorithm.name()
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
        _ => String::new(),
    };
    match d.next_valid {
        None => format!(
            "offset {}: {}{detail}; nothing valid after it (torn tail)",
            d.offset,
            d.kind.name()
        ),
        Some(next) => format!(
            "offset {}: {}{detail}; next valid record at offset {next}",
            d.offset,
            d.kind.name()
        ),
    }
}

fn defect_json(d: &Defect) -> serde_json::Value {
    let mut v = json!({
        "offset": d.offset,
        "kind": d.kind.name(),
        "torn_tail": d.is_torn_tail(),
        "next_valid": d.next_valid,
    });
    if let log::DefectKind::Sequence { expected, found } = d.kind {
        v["expected_seq"] = json!(expected);
        v["found_seq"] = json!(found);
    }
    v
}

fn verification_json(v: &Verification) -> serde_json::Value {
    json!({
        "path": v.path,
        "format": "native",
        "checksum": v.algorithm.name(),
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
    })
}

fn dump(args: DumpArgs) -> Result<Exit, Failure> {
    let opened = log::open(&args.log).map_err(failure)?;
    let on_damage = if args.resync {
        OnDamage::Resync
    } else {
        OnDamage::Stop
    };
    let mut scanner = opened.scanner(on_damage);
    let mut out = Output::stdout();
    let mut worst = Exit::Success;
    let mut printed = 0u64;
    let algorithm = opened.header.algorithm;
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
        // The fast path: walk back from the end through the trailers.
        let tail = scanner
            .last_records(n)
            .map_err(|e| read_failure(&args.log, e))?;
        if let Some(records) = tail {
            for record in records {
                if !emit_record(&args, &mut out, &mut scanner, &record, algorithm)? {
                    break;
                }
            }
            return finish_dump(&args, out, &scanner, worst);
        }
        // The log does not end with a valid record: read forward and keep the last N.
    }

    let mut kept: std::collections::VecDeque<Record> = std::collections::VecDeque::new();
    loop {
        let item = scanner
            .next_item()
            .map_err(|e| read_failure(&args.log, e))?;
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
                if !emit_record(&args, &mut out, &mut scanner, &record, algorithm)? {
                    return finish_dump(&args, out, &scanner, worst);
                }
                printed += 1;
            }
            Item::Defect(defect) => {
                if args.follow && defect.is_torn_tail() {
                    // An append in progress: wait for the record to be complete.
                    out.flush()?;
                    wait_for_growth(&mut scanner, &args.log)?;
                    continue;
                }
                worst = worst.worst(if defect.is_torn_tail() {
                    Exit::TornTail
                } else {
                    Exit::Corruption
                });
                if !emit_defect(&args, &mut out, &defect)? {
                    return finish_dump(&args, out, &scanner, worst);
                }
            }
            Item::End => {
                if args.follow {
                    out.flush()?;
                    wait_for_growth(&mut scanner, &args.log)?;
                    continue;
                }
                break;
            }
        }
    }
    for record in kept {
        // Records kept by a forward `--last` are re-read for their payloads.
        if !emit_record(&args, &mut out, &mut scanner, &record, algorithm)? {
            break;
        }
    }
    finish_dump(&args, out, &scanner, worst)
}

fn finish_dump(
    args: &DumpArgs,
    mut out: Output,
    scanner: &log::Scanner<'_>,
    worst: Exit,
) -> Result<Exit, Failure> {
    out.flush()?;
    if args.stats {
        let (bytes, reads) = scanner.io_stats();
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

fn wait_for_growth(scanner: &mut log::Scanner<'_>, path: &Path) -> Result<(), Failure> {
    loop {
        if scanner.refresh().map_err(|e| read_failure(path, e))? {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Print one record; `false` when stdout is closed (stop quietly).
fn emit_record(
    args: &DumpArgs,
    out: &mut Output,
    scanner: &mut log::Scanner<'_>,
    record: &Record,
    algorithm: Algorithm,
) -> Result<bool, Failure> {
    let mut payload = Vec::new();
    let need_all = !matches!(args.format, DumpFormat::Raw);
    if need_all || scanner.payload(record).is_none() {
        scanner
            .read_payload(record, |chunk| {
                payload.extend_from_slice(chunk);
                Ok(())
            })
            .map_err(|e| read_failure(&args.log, e))?;
    }
    let payload: &[u8] = match scanner.payload(record) {
        Some(p) if payload.is_empty() => p,
        _ => &payload,
    };
    let ok = match args.format {
        DumpFormat::Raw => {
            let sep = if args.null { b"\0" } else { b"\n" };
            (out.records_written == 0 || out.bytes(sep)?) && out.bytes(payload)?
        }
        DumpFormat::Text => out.text(&format!(
            "{:>10}  #{:<6} len {:<8} {} {}  {}\n",
            record.offset,
            record.index,
            record.len,
            algorithm.name(),
            record.checksum.to_hex(),
            escape(payload)
        ))?,
        DumpFormat::Hex => {
            let mut s = format!(
                "record #{} at offset {}, {} bytes, {} {}\n",
                record.index,
                record.offset,
                record.len,
                algorithm.name(),
                record.checksum.to_hex()
            );
            hexdump(&mut s, payload);
            out.text(&s)?
        }
        DumpFormat::Json => {
            let mut v = json!({
                "index": record.index,
                "offset": record.offset,
                "seq": record.seq,
                "length": record.len,
                "checksum": record.checksum.to_hex(),
            });
            match std::str::from_utf8(payload) {
                Ok(text) => v["payload"] = json!(text),
                Err(_) => v["payload_hex"] = json!(hex::encode(payload)),
            }
            out.line(&v.to_string())?
        }
    };
    out.records_written += 1;
    Ok(ok)
}

fn emit_defect(args: &DumpArgs, out: &mut Output, defect: &Defect) -> Result<bool, Failure> {
    match args.format {
        DumpFormat::Json => out.line(&json!({"damage": defect_json(defect)}).to_string()),
        DumpFormat::Raw => {
            // Not into the data stream: on stderr.
            out.flush()?;
            eprintln!("durable: {}: {}", args.log.display(), defect_text(defect));
            Ok(true)
        }
        DumpFormat::Text | DumpFormat::Hex => {
            let mut s = format!("{:>10}  DAMAGE {}\n", defect.offset, defect_text(defect));
            if defect.next_valid.is_some() && !args.resync {
                s.push_str("            (--resync continues with the records after the damage)\n");
            }
            out.text(&s)
        }
    }
}

/// A payload for a terminal: printable ASCII as is, everything else escaped, long payloads cut.
fn escape(payload: &[u8]) -> String {
    const SHOWN: usize = 1024;
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
    if payload.len() > SHOWN {
        s.push_str(&format!("… (+{} bytes)", payload.len() - SHOWN));
    }
    s
}

/// `hexdump -C` style lines.
fn hexdump(s: &mut String, payload: &[u8]) {
    for (i, line) in payload.chunks(16).enumerate() {
        s.push_str(&format!("  {:08x}  ", i * 16));
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
