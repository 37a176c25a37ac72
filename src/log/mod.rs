//! Checksummed append-only record logs in the native format: opening, verifying, reading and
//! appending. The format is in [`format`] (and docs/FORMAT.md); the forward and backward
//! readers in [`scan`]; the writer here. `recover` builds on the same reader and writer.

pub mod aof;
pub mod format;
pub mod lines;
pub mod proglog;
pub mod reader;
pub mod scan;
mod source;

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

pub use format::{Algorithm, FileHeader, MAX_RECORD};
pub use reader::{Input, Kind, LogFormat, OpenOptions, Reader, open_input};
pub use scan::{AofMagic, Defect, DefectKind, Extra, Item, OnDamage, Record, Scanner};
pub use source::{Delimited, Listed, RecordSource, Records, Whole};

use crate::disk::{SyncLevel, TempFile};
use crate::error::{Aftermath, Error, Result, StepResultExt};
use crate::platform;
use crate::step::{Observer, Step, Tracker};
use format::FILE_HEADER_LEN;

/// An open log: its file, header and size when opened.
pub struct OpenLog {
    /// The file.
    pub file: File,
    /// Its header.
    pub header: FileHeader,
    /// Its size when opened.
    pub size: u64,
}

impl OpenLog {
    /// A forward scanner from the first record.
    pub fn scanner(&self, on_damage: OnDamage) -> Scanner<'_> {
        Scanner::new(
            &self.file,
            self.header,
            self.size,
            FILE_HEADER_LEN,
            0,
            on_damage,
        )
    }
}

/// Open `path` for reading as a native log: a regular file that starts with a valid header.
pub fn open(path: &Path) -> Result<OpenLog> {
    let meta = std::fs::metadata(path).map_err(|source| Error::Inspect {
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.is_file() {
        return Err(Error::NotRegular {
            path: path.to_path_buf(),
            kind: platform::kind_of(meta.file_type()),
        });
    }
    let file = File::open(path).map_err(|source| Error::Inspect {
        path: path.to_path_buf(),
        source,
    })?;
    let (header, size) = read_header(&file, path)?;
    Ok(OpenLog { file, header, size })
}

fn read_header(file: &File, path: &Path) -> Result<(FileHeader, u64)> {
    let size = file
        .metadata()
        .map_err(|source| Error::Inspect {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    Ok((reader::native_header(file, path, size)?, size))
}

/// The overall state of a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Every record is valid and the file ends right after the last one.
    Clean,
    /// The file ends in damage with nothing valid after it: safe to cut off.
    TornTail,
    /// Damage with valid records after it: cutting it off would lose them.
    Corrupt,
}

impl Status {
    /// The stable name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Status::Clean => "clean",
            Status::TornTail => "torn-tail",
            Status::Corrupt => "corrupt",
        }
    }

    /// The worse of two verdicts.
    pub fn worst(self, other: Status) -> Status {
        let rank = |s| match s {
            Status::Clean => 0,
            Status::TornTail => 1,
            Status::Corrupt => 2,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// The most defects a verification keeps (the count goes on).
pub const MAX_DEFECTS_KEPT: usize = 100;

/// What `verify` found in one log.
#[derive(Debug, Clone)]
pub struct Verification {
    /// The log (a proglog pair: the store).
    pub path: PathBuf,
    /// Its format.
    pub format: LogFormat,
    /// Its checksum algorithm (`None`: the format has none).
    pub algorithm: Option<Algorithm>,
    /// proglog: the index read with the store.
    pub index: Option<PathBuf>,
    /// proglog: the file is an index read alone.
    pub index_alone: bool,
    /// aof: where the data ends and why.
    pub aof: Option<aof::Analysis>,
    /// Valid records, including those after damage.
    pub records: u64,
    /// File size.
    pub bytes: u64,
    /// End of the valid prefix: where the first defect starts, or the file size.
    pub valid_end: u64,
    /// Valid records before the first defect.
    pub records_before_damage: u64,
    /// The first [`MAX_DEFECTS_KEPT`] defects.
    pub defects: Vec<Defect>,
    /// All defects.
    pub defect_count: u64,
    /// Valid records after the first defect (the evidence of corruption before the tail).
    pub records_after_damage: u64,
    /// Bytes of those records.
    pub bytes_after_damage: u64,
    /// The verdict (the worse of the file's and, for a proglog pair, its index's).
    pub status: Status,
    /// The verdict on the main file alone.
    pub main_status: Status,
    /// The verdict on a proglog pair's index (`Clean` when there is none).
    pub index_status: Status,
    /// lines: the last line is valid but has no newline (an append adds it).
    pub unterminated: bool,
}

/// Check every record of the log at `path` (format detected unless `opts` names it).
/// `progress(done, total)` is called as bytes are checked.
pub fn verify(
    path: &Path,
    opts: &OpenOptions,
    progress: impl FnMut(u64, u64),
) -> Result<Verification> {
    let input = open_input(path, opts)?;
    verify_open(&input, progress)
}

/// The checksum algorithm a log's records carry.
pub fn algorithm_of(kind: &Kind) -> Option<Algorithm> {
    match kind {
        Kind::Native(header) => Some(header.algorithm),
        Kind::Lines => Some(Algorithm::Sha256),
        _ => None,
    }
}

/// [`verify`] on a log already open (and perhaps locked, as `recover` holds it).
pub fn verify_open(input: &Input, mut progress: impl FnMut(u64, u64)) -> Result<Verification> {
    let path = &input.main.path;
    let size = input.main.size;
    let mut reader = input.reader(OnDamage::Resync);
    let mut v = Verification {
        path: path.clone(),
        format: input.format(),
        algorithm: algorithm_of(&input.kind),
        index: input.index.as_ref().map(|i| i.path.clone()),
        index_alone: matches!(input.kind, Kind::ProglogIndex),
        aof: match input.kind {
            Kind::Aof(a) => Some(a),
            _ => None,
        },
        records: 0,
        bytes: size,
        valid_end: size,
        records_before_damage: 0,
        defects: Vec::new(),
        defect_count: 0,
        records_after_damage: 0,
        bytes_after_damage: 0,
        status: Status::Clean,
        main_status: Status::Clean,
        index_status: Status::Clean,
        unterminated: false,
    };
    if let Some(a) = v.aof {
        v.valid_end = a.logical_end;
    }
    let mut main_damaged = false;
    let mut last_report = 0u64;
    let mut last_end = 0u64;
    loop {
        let item = reader.next_item().map_err(|source| Error::Inspect {
            path: path.clone(),
            source,
        })?;
        match item {
            Item::Record(record) => {
                v.records += 1;
                last_end = record.end;
                if !main_damaged {
                    v.records_before_damage += 1;
                } else {
                    v.records_after_damage += 1;
                    v.bytes_after_damage += record.end - record.offset;
                }
                let at = reader.position();
                if at.saturating_sub(last_report) >= 64 << 20 {
                    progress(at, size);
                    last_report = at;
                }
            }
            Item::Defect(defect) => {
                if !defect.in_index && !main_damaged {
                    v.valid_end = defect.offset;
                    main_damaged = true;
                }
                v.defect_count += 1;
                if v.defects.len() < MAX_DEFECTS_KEPT {
                    v.defects.push(defect);
                }
                let part = if defect.in_index {
                    &mut v.index_status
                } else {
                    &mut v.main_status
                };
                *part = part.worst(if defect.is_torn_tail() {
                    Status::TornTail
                } else {
                    Status::Corrupt
                });
                v.status = v.main_status.worst(v.index_status);
            }
            Item::End => break,
        }
    }
    if let Kind::Lines = input.kind
        && v.records > 0
        && last_end == size
    {
        v.unterminated =
            lines::unterminated(&input.main.file, size).map_err(|source| Error::Inspect {
                path: path.clone(),
                source,
            })?;
    }
    progress(size, size);
    Ok(v)
}

/// Options of an append.
#[derive(Debug, Clone, Default)]
pub struct AppendOptions {
    /// How hard to flush the appended records.
    pub sync: SyncLevel,
    /// The checksum for a new log; for an existing log, an explicit choice that differs from its
    /// header is an error.
    pub algorithm: Option<Algorithm>,
    /// Fail at once if another appender holds the lock, instead of waiting.
    pub no_wait: bool,
    /// Re-read and check what was appended after flushing it.
    pub verify: bool,
    /// Keep each record's offset for the report (8 bytes per record).
    pub keep_offsets: bool,
    /// The log's format: `None` detects an existing log's (native or lines) and creates native;
    /// `Some(Lines)` creates a lines log.
    pub format: Option<LogFormat>,
}

/// What an append did.
#[derive(Debug, Clone)]
pub struct Appended {
    /// The log was created by this append.
    pub created: bool,
    /// Its checksum algorithm.
    pub algorithm: Algorithm,
    /// Records appended.
    pub count: u64,
    /// Sequence number of the first of them (native; 0 for a lines log, which has none).
    pub first_seq: u64,
    /// Offset where they start.
    pub start: u64,
    /// Bytes appended.
    pub bytes: u64,
    /// Each record's offset (when asked for).
    pub offsets: Vec<u64>,
}

/// Bytes gathered before a write; all of them are flushed by one sync at the end.
const BATCH: usize = 4 << 20;

/// Append every record of `source` to the log at `path` (creating it if absent), under an
/// exclusive lock, with one flush at the end. The records go out in writes of up to 4 MiB (one
/// write for a batch that fits). If anything fails before the flush completes, the log is cut
/// back to where it was: nothing is appended.
pub fn append(
    path: &Path,
    source: &mut dyn RecordSource,
    opts: &AppendOptions,
    observer: &mut dyn Observer,
) -> Result<Appended> {
    let mut t = Tracker::new(observer);
    // Read the first record before touching the log, so that a missing --file, an unreadable
    // input or an oversized first record changes nothing, not even by creating an empty log.
    check_format_options(path, opts)?;
    let mut first = Vec::new();
    let has_first = source
        .next_record(&mut first)
        .map_err(|e| match opts.format {
            Some(LogFormat::Lines) => lines_limit(path, e),
            _ => e,
        })?;
    if has_first && opts.format == Some(LogFormat::Lines) {
        check_line(path, &first, source.describe(0))?;
    }
    let (file, created) = loop {
        let (file, created) = open_or_create(path, opts, &mut t)?;
        lock(&file, path, opts.no_wait)?;
        // Another appender may have removed a log it had just created (its append failed)
        // while we waited for the lock: append only to the file that is at the path now.
        if is_at_path(&file, path) {
            break (file, created);
        }
    };
    let size = file
        .metadata()
        .map_err(|source| Error::Inspect {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    let writer = writer_for(&file, path, size, created, opts)?;
    let (header_len, first_seq) = match &writer {
        Writer::Native(header) => {
            // The tail check: the last append must be whole, walked back from the end through
            // the trailers (O(1) in the log's size).
            let mut scanner =
                Scanner::new(&file, *header, size, FILE_HEADER_LEN, 0, OnDamage::Stop);
            let next = scanner
                .last_append_whole()
                .map_err(|source| Error::Inspect {
                    path: path.to_path_buf(),
                    source,
                })?;
            let Some(next) = next else {
                return Err(torn_tail(path, &file, Kind::Native(*header), size));
            };
            (FILE_HEADER_LEN, next)
        }
        Writer::Lines { .. } => (0, 0),
    };
    // The tail check of a lines log: the lines at its end (lines::tail_state); a valid last
    // line without its newline gets one before the new lines.
    let writer = match writer {
        Writer::Lines { .. } => {
            let tail = lines::tail_state(&file, size).map_err(|source| Error::Inspect {
                path: path.to_path_buf(),
                source,
            })?;
            if tail == lines::Tail::Damaged {
                return Err(torn_tail(path, &file, Kind::Lines, size));
            }
            Writer::Lines {
                terminate: tail == lines::Tail::Unterminated,
            }
        }
        native => native,
    };
    let algorithm = match &writer {
        Writer::Native(header) => header.algorithm,
        Writer::Lines { .. } => Algorithm::Sha256,
    };

    let mut out = Appended {
        created,
        algorithm,
        count: 0,
        first_seq,
        start: size,
        bytes: 0,
        offsets: Vec::new(),
    };
    // An interrupt before the records are all written cuts the log back to where it was.
    platform::set_rollback(platform::raw_fd(&file), size);
    let first = has_first.then_some(first);
    let written = write_records(&file, path, &writer, first, source, opts, &mut out, &mut t);
    platform::clear_rollback();
    if written.is_ok() && out.count > 0 {
        crate::disk::mark_committed();
    }
    let synced = written.and_then(|()| {
        if opts.sync == SyncLevel::None || out.count == 0 {
            return Ok(());
        }
        t.run(Step::SyncLog, path, || {
            platform::sync_file(&file, opts.sync)
        })
        .left(Aftermath::Unchanged)
    });
    if let Err(error) = synced {
        // Nothing may count as appended: cut the log back to where it was, and remove it if
        // this append created it (we still hold the lock; a waiting appender re-checks the
        // path after locking).
        if created && size == header_len && std::fs::remove_file(path).is_ok() {
            return Err(error);
        }
        // Nothing written (a record refused before the first write): leave the file, mtime
        // included, alone.
        if file.metadata().is_ok_and(|m| m.len() == size) {
            return Err(error);
        }
        return Err(match file.set_len(size) {
            Ok(()) => error,
            Err(_) => error.with_aftermath(Aftermath::Unconfirmed),
        });
    }
    if opts.verify && out.count > 0 {
        let end = size + out.bytes;
        let mut check: Box<dyn Reader> = match &writer {
            Writer::Native(header) => Box::new(Scanner::new(
                &file,
                *header,
                end,
                size,
                first_seq,
                OnDamage::Stop,
            )),
            Writer::Lines { terminate } => Box::new(lines::LinesReader::new(
                &file,
                end,
                size + u64::from(*terminate),
                OnDamage::Stop,
            )),
        };
        let ok = t
            .run(Step::Verify, path, || {
                let mut n = 0;
                loop {
                    match check.next_item()? {
                        Item::Record(_) => n += 1,
                        Item::End => return Ok(n == out.count),
                        Item::Defect(_) => return Ok(false),
                    }
                }
            })
            .left(Aftermath::Unconfirmed)?;
        if !ok {
            return Err(Error::VerifyMismatch {
                path: path.to_path_buf(),
                aftermath: Aftermath::Unconfirmed,
            });
        }
    }
    Ok(out)
}

/// Refuse, before anything is touched, the options no log could be appended with.
fn check_format_options(path: &Path, opts: &AppendOptions) -> Result<()> {
    let why = match (opts.format, opts.algorithm) {
        (Some(f @ (LogFormat::Proglog | LogFormat::Aof)), _) => format!(
            "durable appends only to native and lines logs, not {}",
            f.name()
        ),
        (Some(LogFormat::Lines), Some(a)) if a != Algorithm::Sha256 => format!(
            "a lines log carries SHA-256 checksums; --checksum {} does not apply",
            a.name()
        ),
        _ => return Ok(()),
    };
    Err(Error::Unsupported {
        path: path.to_path_buf(),
        why,
    })
}

/// A record over the maximum record size, refused on its way into a lines log: say that the
/// limit is durable's own (the format has none, and durable reads longer entries).
fn lines_limit(path: &Path, error: Error) -> Error {
    match error {
        Error::RecordTooLarge { what, len } => Error::Unsupported {
            path: path.to_path_buf(),
            why: format!(
                "{what} is {len} bytes: durable appends entries of at most its maximum record \
                 size, 16 MiB (16777216 bytes), to a lines log too (it reads and verifies longer \
                 entries other programs wrote); nothing was appended"
            ),
        },
        other => other,
    }
}

/// Whether `entry` can be a line of a lines log.
fn check_line(path: &Path, entry: &[u8], what: String) -> Result<()> {
    if entry.len() as u64 > MAX_RECORD {
        return Err(lines_limit(
            path,
            Error::RecordTooLarge {
                what,
                len: entry.len() as u64,
            },
        ));
    }
    if entry.contains(&b'\n') {
        return Err(Error::Unencodable {
            path: path.to_path_buf(),
            what,
            why: "it holds a newline, and a lines log has one entry per line",
        });
    }
    Ok(())
}

/// How records are written: the format of the log being appended to.
enum Writer {
    Native(FileHeader),
    /// `terminate`: the log's last line has no newline; write one before the new lines.
    Lines {
        terminate: bool,
    },
}

/// Decide the format of the log being appended to (just created, or existing), and check that
/// an explicit `--checksum` fits it.
fn writer_for(
    file: &File,
    path: &Path,
    size: u64,
    created: bool,
    opts: &AppendOptions,
) -> Result<Writer> {
    let mut head = [0u8; 8];
    let got = reader::read_prefix(file, size, &mut head).map_err(|source| Error::Inspect {
        path: path.to_path_buf(),
        source,
    })?;
    let native_magic = got > 0 && head[..got] == format::FILE_MAGIC[..got];
    let lines = match opts.format {
        Some(LogFormat::Lines) if native_magic && !created => {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                why: "it is a native log; --log-format lines only applies to a new log or a lines log"
                    .into(),
            });
        }
        Some(LogFormat::Lines) => {
            // Named as lines: an existing file must be one (a text file is not), or its
            // "damage" would be refused with advice to recover it, which would empty it.
            if !created
                && size > 0
                && !lines::any_valid_line(file, size).map_err(|source| Error::Inspect {
                    path: path.to_path_buf(),
                    source,
                })?
            {
                return Err(Error::NotALog {
                    path: path.to_path_buf(),
                    why: "none of its lines ends with a space and the SHA-256 of its entry; \
                          nothing was appended",
                    damaged_header: false,
                    format: Some(LogFormat::Lines.name()),
                });
            }
            true
        }
        Some(_) => false,
        None => {
            !created
                && got > 0
                && !native_magic
                && lines::looks_like_lines(file, size).map_err(|source| Error::Inspect {
                    path: path.to_path_buf(),
                    source,
                })?
        }
    };
    if lines {
        if let Some(asked) = opts.algorithm
            && asked != Algorithm::Sha256
        {
            return Err(Error::ChecksumConflict {
                path: path.to_path_buf(),
                existing: "sha256 (a lines log)",
                requested: asked.name(),
            });
        }
        return Ok(Writer::Lines { terminate: false });
    }
    let (header, _) = read_header(file, path)?;
    if let Some(asked) = opts.algorithm
        && asked != header.algorithm
        && !created
    {
        return Err(Error::ChecksumConflict {
            path: path.to_path_buf(),
            existing: header.algorithm.name(),
            requested: asked.name(),
        });
    }
    Ok(Writer::Native(header))
}

#[allow(clippy::too_many_arguments)]
fn write_records(
    file: &File,
    path: &Path,
    writer: &Writer,
    first: Option<Vec<u8>>,
    source: &mut dyn RecordSource,
    opts: &AppendOptions,
    out: &mut Appended,
    t: &mut Tracker<'_>,
) -> Result<()> {
    let started = t.start(Step::WriteLog, path).left(Aftermath::Unchanged)?;
    let mut batch = Vec::with_capacity(BATCH.min(1 << 16));
    let encoder = match writer {
        Writer::Native(header) => Some(format::Encoder::new(header)),
        Writer::Lines { .. } => None,
    };
    let limit = |e| match writer {
        Writer::Lines { .. } => lines_limit(path, e),
        Writer::Native(_) => e,
    };
    // One record of lookahead, so that the append's last record can be flagged as such.
    let mut record = Vec::new();
    let mut have = match first {
        Some(first) => {
            record = first;
            true
        }
        None => source.next_record(&mut record).map_err(limit)?,
    };
    if have && let Writer::Lines { terminate: true } = writer {
        batch.push(b'\n');
    }
    let mut next = Vec::new();
    let mut at = out.start;
    let flush = |batch: &mut Vec<u8>, at: &mut u64| -> Result<()> {
        platform::write_all_at(file, batch, *at).map_err(|source| Error::Step {
            step: Step::WriteLog,
            path: path.to_path_buf(),
            aftermath: Aftermath::Unchanged,
            source,
        })?;
        *at += batch.len() as u64;
        batch.clear();
        Ok(())
    };
    while have {
        if out
            .first_seq
            .checked_add(out.count)
            .is_none_or(|seq| seq == u64::MAX)
        {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                why: "its sequence numbers are used up (the last one is never written)".into(),
            });
        }
        let more = source.next_record(&mut next).map_err(limit)?;
        let flags = if out.count == 0 {
            format::FLAG_FIRST
        } else {
            0
        } | if more { 0 } else { format::FLAG_LAST };
        let offset = at + batch.len() as u64;
        match &encoder {
            Some(encoder) => encoder
                .encode(&mut batch, out.first_seq + out.count, flags, &record)
                .map_err(|len| Error::RecordTooLarge {
                    what: source.describe(out.count),
                    len,
                })?,
            None => {
                check_line(path, &record, source.describe(out.count))?;
                lines::encode(&mut batch, &record);
            }
        }
        if opts.keep_offsets {
            out.offsets.push(offset);
        }
        out.count += 1;
        if batch.len() >= BATCH {
            flush(&mut batch, &mut at)?;
        }
        std::mem::swap(&mut record, &mut next);
        have = more;
    }
    if !batch.is_empty() {
        flush(&mut batch, &mut at)?;
    }
    out.bytes = at - out.start;
    t.finish(Step::WriteLog, path, started);
    Ok(())
}

/// Open the log for appending, creating it (header, flushed, renamed into place, directory
/// flushed) if it does not exist.
fn open_or_create(path: &Path, opts: &AppendOptions, t: &mut Tracker<'_>) -> Result<(File, bool)> {
    if let Ok(meta) = std::fs::metadata(path)
        && !meta.is_file()
    {
        return Err(Error::NotRegular {
            path: path.to_path_buf(),
            kind: platform::kind_of(meta.file_type()),
        });
    }
    let open = || File::options().read(true).write(true).open(path);
    match open() {
        Ok(file) => return Ok((check_regular(file, path)?, false)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(Error::Inspect {
                path: path.to_path_buf(),
                source,
            });
        }
    }
    let target = crate::target::resolve(path, true)?;
    let mut salt = [0u8; 16];
    platform::random_bytes(&mut salt).map_err(|source| Error::Inspect {
        path: path.to_path_buf(),
        source,
    })?;
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let header = FileHeader::new(opts.algorithm.unwrap_or_default(), salt, created);
    // A new lines log starts empty; a native one with its header.
    let lines = opts.format == Some(LogFormat::Lines);
    let mut temp = t
        .run(Step::CreateTemp, &target.dir, || {
            TempFile::create_in(&target.dir, &target.name)
        })
        .left(Aftermath::Unchanged)?;
    t.run(Step::WriteTemp, temp.path(), || {
        if !lines {
            platform::write_all_at(temp.file(), &header.encode(), 0)?;
        }
        platform::set_mode(temp.file(), crate::meta::final_mode(None, None))
    })
    .left(Aftermath::Unchanged)?;
    crate::step::seal(t, &mut temp, opts.sync)?;
    // No-clobber: if another appender created the log meanwhile, theirs wins and we use it.
    let we_created = match t.run(Step::Rename, &target.path, || {
        temp.persist(&target.path, true)
    }) {
        Ok(()) => true,
        Err(e) if e.source.kind() == io::ErrorKind::AlreadyExists => false,
        Err(e) => return Err(Error::step(e, Aftermath::Unchanged)),
    };
    if we_created
        && opts.sync != SyncLevel::None
        && let Err(e) = t.run(Step::SyncDir, &target.dir, || {
            platform::sync_dir(&target.dir, opts.sync)
        })
    {
        // Nothing is appended yet: take the new, empty log back rather than leave it behind
        // (its name may not even survive a power loss).
        withdraw_new_log(path, if lines { 0 } else { FILE_HEADER_LEN });
        return Err(Error::step(e, Aftermath::Unchanged));
    }
    let file = open().map_err(|source| Error::Inspect {
        path: path.to_path_buf(),
        source,
    })?;
    Ok((check_regular(file, path)?, we_created))
}

/// Remove the log this append just created, if it is still empty (`header_len` bytes): under
/// its lock, so that an appender that opened it meanwhile either finds it gone when it re-checks
/// the path after locking, or has appended and keeps it. Best effort: on any error it stays.
fn withdraw_new_log(path: &Path, header_len: u64) {
    let Ok(file) = File::options().read(true).write(true).open(path) else {
        return;
    };
    if file.lock().is_err() || !is_at_path(&file, path) {
        return;
    }
    if file.metadata().is_ok_and(|m| m.len() == header_len) {
        let _ = std::fs::remove_file(path);
    }
}

/// Whether `file` is still the file at `path` (same device and inode).
fn is_at_path(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => platform::same_file(&a, &b),
        _ => false,
    }
}

fn check_regular(file: File, path: &Path) -> Result<File> {
    let meta = file.metadata().map_err(|source| Error::Inspect {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.is_file() {
        Ok(file)
    } else {
        Err(Error::NotRegular {
            path: path.to_path_buf(),
            kind: platform::kind_of(meta.file_type()),
        })
    }
}

/// Take the log's exclusive lock (`flock`), waiting for another appender unless `no_wait`.
fn lock(file: &File, path: &Path, no_wait: bool) -> Result<()> {
    let result = if no_wait {
        match file.try_lock() {
            Ok(()) => Ok(()),
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    path: path.to_path_buf(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    } else {
        file.lock()
    };
    result.map_err(|source| Error::Inspect {
        path: path.to_path_buf(),
        source,
    })
}

/// The error for a log whose tail is not a valid record: find where the valid prefix ends.
fn torn_tail(path: &Path, file: &File, kind: Kind, size: u64) -> Error {
    let input_reader: Box<dyn Reader> = match kind {
        Kind::Native(header) => Box::new(Scanner::new(
            file,
            header,
            size,
            FILE_HEADER_LEN,
            0,
            OnDamage::Stop,
        )),
        _ => Box::new(lines::LinesReader::new(file, size, 0, OnDamage::Stop)),
    };
    let mut reader = input_reader;
    loop {
        match reader.next_item() {
            Ok(Item::Record(_)) => continue,
            Ok(Item::Defect(defect)) => {
                return Error::TornTail {
                    path: path.to_path_buf(),
                    offset: defect.offset,
                    corrupt: !defect.is_torn_tail(),
                };
            }
            // The whole log reads back valid (it was appended to while we looked): refuse anyway
            // rather than guess; a retry will find the tail.
            Ok(Item::End) | Err(_) => {
                return Error::TornTail {
                    path: path.to_path_buf(),
                    offset: reader.position(),
                    corrupt: false,
                };
            }
        }
    }
}
