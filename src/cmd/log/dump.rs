//! `durable log dump`: read a log and print its records, following it if asked.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use durable::Error;
use durable::log::{self, Defect, Item, Layout, LogFormat, OnDamage, OpenOptions, Reader, Record};
use durable::quote::quoted;
use durable::recover::Sidecar;

use super::print::Dumper;
use super::{failure, read_failure, usage};
use crate::cli::{DumpArgs, DumpFormat};
use crate::cmd::json::{self, DumpStats, ErrorLine};
use crate::cmd::output::Output;
use crate::cmd::{Failure, print_stdout};
use crate::exit::Exit;

pub(super) fn dump(args: DumpArgs) -> Result<Exit, Failure> {
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
pub(super) fn format_name(format: DumpFormat) -> &'static str {
    match format {
        DumpFormat::Text => "text",
        DumpFormat::Hex => "hex",
        DumpFormat::Json => "json",
        DumpFormat::Raw => "raw",
        DumpFormat::Blob => "blob",
    }
}

/// Options that would do nothing together are refused before the log is opened.
pub(super) fn check_dump_args(args: &DumpArgs) -> Result<(), Failure> {
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
    match selects_nothing(args, Known::Options) {
        Some(refusal) => Err(usage(refusal)),
        None => Ok(()),
    }
}

/// What is known of the log when [`selects_nothing`] judges a selection.
pub(super) enum Known {
    /// Only the options: the log is not open yet.
    Options,
    /// Its size: a file, not followed, before it is read.
    Size(u64),
    /// It was read to its end, or to the first record past the selection, and no record was
    /// selected (not followed, no damage met).
    Read {
        /// Records read.
        records: u64,
        /// The offset of the first.
        first: Option<u64>,
        /// Where reading ended (the end of the log when no record is past the selection).
        end: u64,
        /// The first record past the selection (index, offset), if reading stopped there.
        past: Option<(u64, u64)>,
    },
}

/// The one rule for selections of nothing: a selection (`--first`, `--last`, `--start`,
/// `--end`, `--index`) that cannot select any record of the log as it is would print nothing
/// and exit 0, as for a log without records, so it is refused (exit 2) with one sentence
/// quoting the options as typed and naming the log's records or size. `--follow` waits for
/// records appended at the end, so a selection open at the end is not refused when followed;
/// one that ends before them is. `None`: not refused (on what is known).
pub(super) fn selects_nothing(args: &DumpArgs, known: Known) -> Option<String> {
    // The selection as typed.
    let typed = || {
        let mut parts = Vec::new();
        if let Some(start) = args.start {
            parts.push(format!("--start {start}"));
        }
        if let Some(end) = args.end {
            parts.push(format!("--end {end}"));
        }
        if let Some(range) = args.index {
            parts.push(format!("--index {range}"));
        }
        parts.join(" ")
    };
    match known {
        Known::Options => {
            if args.first == Some(0) || args.last == Some(0) {
                return Some(format!(
                    "--{} 0 selects no record, so it would print nothing; give a count of at least 1",
                    if args.first == Some(0) {
                        "first"
                    } else {
                        "last"
                    }
                ));
            }
            if let Some(range) = args.index
                && range.to == Some(range.from)
            {
                return Some(format!(
                    "--index {range} selects no record (the end of a range is excluded), so it would print nothing; --index {} selects record {}",
                    range.from, range.from
                ));
            }
            if args.end == Some(0) {
                return Some(
                    "--end 0 selects no record (it selects those that start before byte 0), so it would print nothing".to_string(),
                );
            }
            if let (Some(start), Some(end)) = (args.start, args.end)
                && start >= end
            {
                return Some(format!(
                    "--start {start} is not before --end {end}: no record lies between them"
                ));
            }
            // --follow waits for records appended at the end; a selection that ends before
            // them would make it wait for nothing.
            let ends = match (args.end, args.index) {
                (Some(end), _) => Some(format!("--end {end}")),
                (None, Some(range)) if range.to.is_some() => Some(format!("--index {range}")),
                _ => None,
            };
            match ends {
                Some(ends) if args.follow => Some(format!(
                    "--follow waits for records appended at the end of the log, and {ends} selects none of them, so it would wait for nothing; drop one of them"
                )),
                _ => None,
            }
        }
        // Followed, the log grows past what there is now.
        _ if args.follow => None,
        Known::Size(size) => match args.start {
            Some(start) if start > 0 && start >= size => Some(format!(
                "{}: --start {start} is at or past its end (byte {size}), where no record starts, so it would print nothing; --follow waits for records appended there",
                quoted(&args.log)
            )),
            _ => None,
        },
        Known::Read {
            records,
            first,
            end,
            past,
        } => {
            let log = quoted(&args.log);
            let selection = typed();
            if selection.is_empty() {
                return None;
            }
            Some(match (past, first) {
                (Some((index, offset)), _) => format!(
                    "{log}: {selection} selects no record of it (record #{index}, at byte {offset}, is the first past the selection), so it would print nothing"
                ),
                (None, Some(first)) => format!(
                    "{log}: {selection} selects none of its {} (indexes 0 to {}, from byte {first} to its end at byte {end}), so it would print nothing",
                    crate::cmd::plural(records, "record"),
                    records.saturating_sub(1)
                ),
                (None, None) => format!(
                    "{log}: {selection} selects no record: it holds none ({end} bytes), so it would print nothing"
                ),
            })
        }
    }
}

pub(super) fn dump_log(args: &DumpArgs) -> Result<Exit, Failure> {
    check_dump_args(args)?;
    let opts = OpenOptions {
        format: args.log_format.map(Into::into),
        index: args.with_index.clone(),
        write: false,
        index_alone: true,
        force: false,
        zeros: true,
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
        None => {
            let part = log::Part::open(&args.log, log::Access::Read).map_err(failure)?;
            if args.follow && part.size == 0 {
                // Nothing written yet (a log rotated with `create`): wait for a log to be
                // started in it, as after a rotation.
                reopen(args, &opts, Wait::Start)?
            } else {
                match open_dump_source(part, &opts)? {
                    src if args.follow && unstarted(&src) => reopen(args, &opts, Wait::Start)?,
                    src => src,
                }
            }
        }
    };
    // --start at or past the end selects nothing in a file that is not followed (followed, it
    // waits for the log to grow past it). A native log being read from a stream has no end
    // yet.
    if stream.is_none() {
        let end = match &source {
            DumpSource::Log(input) => input.main.size,
            DumpSource::Sidecar(side) => side.trailer.offset.saturating_add(side.trailer.len),
        };
        if let Some(refusal) = selects_nothing(args, Known::Size(end)) {
            return Err(usage(refusal));
        }
    }
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
                source = reopen(args, &opts, Wait::Again)?;
            }
        }
    }
}

/// What `--follow` has shown, to tell which records are new after the log was cut below it
/// (the cut may have been followed by appends before it was noticed).
#[derive(Default)]
pub(super) struct Shown {
    /// The last records shown (offset, end, sequence number, checksum), oldest first.
    pub(super) recent: VecDeque<(u64, u64, u64, Option<log::format::Checksum>)>,
    /// The end of the last record shown.
    pub(super) upto: u64,
}

/// How many shown records [`Shown`] remembers: a cut deeper than that is assumed to have
/// left the older ones as they were.
pub(super) const SHOWN_KEPT: usize = 4096;

impl Shown {
    pub(super) fn key(r: &Record) -> (u64, u64, u64, Option<log::format::Checksum>) {
        (r.offset, r.end, r.seq, r.checksum)
    }

    pub(super) fn note(&mut self, r: &Record) {
        if self.recent.len() == SHOWN_KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back(Shown::key(r));
        self.upto = self.upto.max(r.end);
    }

    /// Whether `r`, read again after the log was cut, was shown already: below what was
    /// shown and either older than what is remembered or remembered as it is.
    pub(super) fn already(&self, r: &Record) -> bool {
        r.offset < self.upto
            && match self.recent.front() {
                Some(first) if r.offset >= first.0 => self.recent.contains(&Shown::key(r)),
                _ => true,
            }
    }

    /// Whether damage at `offset`, read again after a cut, lies in what was shown before the
    /// remembered records (and so was reported already).
    pub(super) fn before_recent(&self, offset: u64) -> bool {
        offset < self.upto && self.recent.front().is_none_or(|first| offset < first.0)
    }
}

/// What `log dump` reads: a log, or a sidecar kept by recover (the records it holds).
pub(super) enum DumpSource {
    Log(log::Log),
    Sidecar(Sidecar),
}

pub(super) fn open_dump_source(part: log::Part, opts: &OpenOptions) -> Result<DumpSource, Failure> {
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

/// Whether a source is a log whose start is not complete yet (docs/FORMAT.md, "A log's
/// start"): a header being written in place, or one cut short by a crash (a torn tail at 0,
/// which `recover` cuts). Followed, it is waited on until it holds a log.
fn unstarted(src: &DumpSource) -> bool {
    matches!(
        src,
        DumpSource::Log(log::Log {
            layout: Layout::Unstarted(log::Start::Torn),
            ..
        })
    )
}

/// Why [`reopen`] waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wait {
    /// The path named holds no log yet (empty, or a start not complete).
    Start,
    /// The followed log was cut or replaced.
    Again,
}

/// Open the followed path (again: it was cut or replaced), waiting while it is missing or not a
/// log yet (a rotation that has not created the new log, an empty file, a log whose header is
/// not complete), as `tail -F` does.
pub(super) fn reopen(
    args: &DumpArgs,
    opts: &OpenOptions,
    wait: Wait,
) -> Result<DumpSource, Failure> {
    let mut told = false;
    loop {
        match log::open(&args.log, opts) {
            Ok(input) if matches!(input.layout, Layout::Unstarted(log::Start::Torn)) => {}
            Ok(input) => return Ok(DumpSource::Log(input)),
            Err(Error::Inspect { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            Err(Error::NotALog {
                damaged_header: false,
                ..
            }) => {}
            Err(e) => return Err(failure(e)),
        }
        if !told {
            match wait {
                Wait::Start => eprintln!(
                    "durable: {}: no log in it yet (it is empty, or its start is not complete); waiting for one",
                    quoted(&args.log)
                ),
                Wait::Again => eprintln!(
                    "durable: {}: waiting for a log at that path again",
                    quoted(&args.log)
                ),
            }
            told = true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What `durable log restore` of the sidecar being dumped would do now, decided as it decides
/// ([`durable::recover::sidecar::restorable`]), so that the hint is true when printed: the
/// command when it would put the bytes back, otherwise why not.
fn restore_hint(side: &Sidecar, named: &std::path::Path) -> String {
    use durable::recover::sidecar::{Restore, restorable};
    match restorable(side) {
        // Read from standard input: restore takes a sidecar by its name only.
        // (`restorable` never says `Restored`: it changes nothing.)
        Ok(Restore::WouldRestore | Restore::Restored) if log::stream::is_stdin(named) => {
            "; log restore of a copy of it in a file puts them back".into()
        }
        Ok(Restore::WouldRestore | Restore::Restored) => format!(
            "; `durable log restore {}` puts them back",
            durable::quote::shell_word(named)
        ),
        Ok(Restore::AlreadyThere) => format!(
            "; {} holds them again (log restore put them back)",
            quoted(&side.trailer.source)
        ),
        Err(Error::RestoreRefused { why, .. }) => {
            format!("; log restore cannot put them back: {why}")
        }
        Err(Error::InUse { path }) => format!(
            "; log restore cannot put them back now: {} is in use (another process holds its lock)",
            quoted(&path)
        ),
        Err(e) => format!(
            "; log restore cannot put them back now: {}",
            super::super::sentence(&e)
        ),
    }
}

/// How one pass over a source ended.
pub(super) enum Pass {
    Done(Exit),
    /// Following, the file was cut below what was shown (`cut`: skip what was shown) or
    /// replaced (show the new file whole).
    Reopen {
        cut: bool,
    },
}

/// Print one source (`--follow`: until it is cut or replaced); a stream is read as it arrives.
pub(super) fn dump_pass(
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
    let kind_name = kind.described();
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
    // A store read with its index: the index proves where the records after a damaged length
    // start, and the reader goes on there (as verify and salvage do).
    let paired = input.is_some_and(|i| i.index.is_some());
    let resyncs = match kind {
        Layout::Native(_) | Layout::Lost(..) | Layout::Lines => true,
        Layout::ProglogStore => paired,
        Layout::ProglogIndex | Layout::Aof(_) | Layout::Unstarted(_) => false,
    };
    if args.resync && !resyncs {
        let what = match kind {
            Layout::ProglogStore => "a proglog store read without its index",
            _ => kind_name,
        };
        return Err(unsupported(&format!(
            "--resync would do nothing: {what} has no record marks to find the next valid record by, so damage ends what can be read"
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
        native: matches!(kind, Layout::Native(_) | Layout::Lost(..)),
        resync_hint: resyncs && !args.resync,
        blob: None,
        split: None,
    };
    if let Some(side) = &sidecar
        && matches!(format, DumpFormat::Text | DumpFormat::Hex)
    {
        let t = &side.trailer;
        out.text(&format!(
            "# {}: {} bytes that durable recover {} {} at offset {} ({}; offsets below are the log's){}\n",
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
            restore_hint(side, &args.log),
        ))?;
    }
    // A header sidecar keeps a whole old header (or what was in its place), not records.
    if let Some(side) = &sidecar
        && let Some(raw) = side.replaced_header().map_err(failure)?
    {
        d.old_header(out, &raw)?;
        return finish_dump(args, out, reader.as_ref(), Exit::Success).map(Pass::Done);
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
    // For a selection of nothing: records read, the first's offset, records selected, the
    // first record past the selection.
    let (mut records, mut first, mut selected, mut past) = (0u64, None, 0u64, None);
    loop {
        let item = reader.next_item().map_err(|e| read_failure(&args.log, e))?;
        match item {
            Item::Record(record) => {
                if shown.already(&record) {
                    continue; // shown before the file was cut
                }
                records += 1;
                first.get_or_insert(record.offset);
                if !wanted(&record) {
                    if args.end.is_some_and(|e| record.offset >= e)
                        || args
                            .index
                            .is_some_and(|i| i.to.is_some_and(|t| record.index >= t))
                    {
                        past = Some((record.index, record.offset));
                        break;
                    }
                    continue;
                }
                selected += 1;
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
                if defect.is_torn_tail()
                    && !defect.in_index
                    && let DumpSource::Log(input) = src
                    && log::appending(input)
                {
                    // Not a crash's torn tail: an append being written (as verify says).
                    eprintln!(
                        "durable: another process is appending to {}: the damage at its end is most likely that append, still being written (--follow prints its records once they are complete)",
                        quoted(&args.log)
                    );
                }
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
    if selected == 0
        && worst == Exit::Success
        && let Some(refusal) = selects_nothing(
            args,
            Known::Read {
                records,
                first,
                end: reader.position(),
                past,
            },
        )
    {
        return Err(usage(refusal));
    }
    if let Some((count, first)) = left_out {
        eprintln!(
            "durable: {}: {} before the last {} not shown (the first at offset {}: {}); `durable log verify {}` lists every defect",
            quoted(&args.log),
            crate::cmd::plural(count, "damaged region"),
            crate::cmd::plural(args.last.unwrap_or(0), "record"),
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

pub(super) fn finish_dump(
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

/// What follows the end of what has been read.
pub(super) enum More {
    /// More is there to read.
    Read,
    /// Following: the log was cut or replaced.
    Pass(Pass),
    /// Nothing more will come.
    Ended,
}

/// At the end of what has been read: read more of a stream, or (`--follow`) wait for the log
/// to grow, be cut or be replaced.
pub(super) fn more(
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
pub(super) fn follow_wait(
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
