//! Sidecars: the bytes `durable recover` removes from a log (or overwrites), kept in a file of
//! their own, flushed, before the log changes; read back by `durable log dump SIDECAR` and put
//! back by `durable log restore SIDECAR`.
//!
//! A sidecar holds the kept bytes at offset 0, exactly as they were in the log (runs of zero
//! blocks are left as holes, so a zero-filled tail costs no space), followed by a trailer that
//! describes them: which log they came from, where, in what format, and what that format needs
//! to decode them (a native log's 64-byte file header, with its salt and checksum algorithm).
//! The bytes come first so that every format's reader reads them unchanged. Layout in
//! docs/FORMAT.md, "Sidecars".

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::disk::{NewFile, OnExisting, SyncLevel};
use crate::error::{Aftermath, Error, FailedStep, Result};
use crate::log::aof::{self, Analysis, AofReader};
use crate::log::format::{Algorithm, FILE_HEADER_LEN, FileHeader};
use crate::log::lines::LinesReader;
use crate::log::proglog::{IndexReader, StoreReader};
use crate::log::{
    Defect, DefectKind, Extra, Item, Layout, NativeReader, OnDamage, Reader, Record, Start,
};
use crate::platform;
use crate::step::{Observer, Step, StepError, Tracker};

/// The last 8 bytes of every sidecar.
pub const MAGIC: [u8; 8] = [0x89, b'D', b'S', b'I', b'D', b'\r', b'\n', 0x1a];
/// The end of every sidecar's name: `NAME.OFFSET.durable-sidecar`.
pub const SUFFIX: &str = ".durable-sidecar";
/// The directory recover keeps sidecars in by default (docs/FORMAT.md, "Where sidecars go").
pub const DIR_NAME: &str = ".durable-recovered";

/// Bytes of the trailer's fixed fields, before the path.
const FIXED: u64 = 128;
/// Bytes after the path: trailer length, CRC, magic.
const END: u64 = 16;
/// The longest source path a trailer may hold (Linux's PATH_MAX is 4096).
const MAX_PATH: u64 = 16 << 10;
/// The version written.
const VERSION: u16 = 1;
/// Zero runs of this many bytes (aligned in the sidecar) become holes.
const BLOCK: u64 = 4096;
/// Bytes copied per read.
const CHUNK: u64 = 1 << 20;

/// The format of the log a sidecar's bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    /// durable's own: decoded with the file header the trailer holds.
    Native,
    /// `ENTRY SHA256HEX` lines.
    Lines,
    /// A proglog store.
    ProglogStore,
    /// A proglog index (the sidecar holds the whole old index).
    ProglogIndex,
    /// A file of the Go aof package.
    Aof,
}

impl SourceFormat {
    /// "a lines", "a native", …: a log of this format, in a sentence.
    pub fn article(self) -> &'static str {
        match self {
            SourceFormat::Native => "a native",
            SourceFormat::Lines => "a lines",
            SourceFormat::ProglogStore => "a proglog store",
            SourceFormat::ProglogIndex => "a proglog index",
            SourceFormat::Aof => "an aof",
        }
    }

    fn code(self) -> u8 {
        match self {
            SourceFormat::Native => 1,
            SourceFormat::Lines => 2,
            SourceFormat::ProglogStore => 3,
            SourceFormat::ProglogIndex => 4,
            SourceFormat::Aof => 5,
        }
    }

    fn from_code(code: u8) -> Option<SourceFormat> {
        Some(match code {
            1 => SourceFormat::Native,
            2 => SourceFormat::Lines,
            3 => SourceFormat::ProglogStore,
            4 => SourceFormat::ProglogIndex,
            5 => SourceFormat::Aof,
            _ => return None,
        })
    }

    /// The stable name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            SourceFormat::Native => "native",
            SourceFormat::Lines => "lines",
            SourceFormat::ProglogStore => "proglog store",
            SourceFormat::ProglogIndex => "proglog index",
            SourceFormat::Aof => "aof",
        }
    }
}

/// What recover did to the bytes a sidecar keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The log was cut at the offset: the bytes were its tail.
    Cut,
    /// The bytes were overwritten with zeros, the size kept (aof).
    ZeroFilled,
    /// The whole file was rewritten (a proglog index rebuilt from its store).
    Rewritten,
}

impl Change {
    fn code(self) -> u8 {
        match self {
            Change::Cut => 1,
            Change::ZeroFilled => 2,
            Change::Rewritten => 3,
        }
    }

    fn from_code(code: u8) -> Option<Change> {
        Some(match code {
            1 => Change::Cut,
            2 => Change::ZeroFilled,
            3 => Change::Rewritten,
            _ => return None,
        })
    }

    /// The stable name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Change::Cut => "cut",
            Change::ZeroFilled => "zero-filled",
            Change::Rewritten => "rewritten",
        }
    }
}

/// What a sidecar's trailer says about the bytes before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trailer {
    /// The log they came from (absolute, symlinks resolved).
    pub source: PathBuf,
    /// Its format.
    pub format: SourceFormat,
    /// What recover did to them.
    pub change: Change,
    /// Where they were in the log.
    pub offset: u64,
    /// How many there are (they fill the sidecar from offset 0).
    pub len: u64,
    /// The log's size before recover changed it.
    pub size_before: u64,
    /// The log's size right after.
    pub size_after: u64,
    /// Records (lines, entries, segments) of the log before `offset`: the index of the first
    /// record the bytes hold, and for a native log the sequence number expected there.
    pub first_index: u64,
    /// A native log's 64-byte file header (salt, checksum algorithm).
    pub native_header: Option<[u8; FILE_HEADER_LEN as usize]>,
    /// CRC-32 of the kept bytes.
    pub data_crc: u32,
}

impl Trailer {
    fn encode(&self) -> Vec<u8> {
        let path = platform::name_bytes(self.source.as_os_str());
        let total = FIXED + path.len() as u64 + END;
        let mut out = vec![0u8; FIXED as usize];
        out[0..2].copy_from_slice(&VERSION.to_le_bytes());
        out[2] = self.format.code();
        out[3] = self.change.code();
        out[8..16].copy_from_slice(&self.offset.to_le_bytes());
        out[16..24].copy_from_slice(&self.len.to_le_bytes());
        out[24..32].copy_from_slice(&self.size_before.to_le_bytes());
        out[32..40].copy_from_slice(&self.size_after.to_le_bytes());
        out[40..48].copy_from_slice(&self.first_index.to_le_bytes());
        if let Some(h) = &self.native_header {
            out[48..112].copy_from_slice(h);
        }
        out[112..116].copy_from_slice(&self.data_crc.to_le_bytes());
        out[116..120].copy_from_slice(&(path.len() as u32).to_le_bytes());
        out.extend_from_slice(path);
        out.extend_from_slice(&(total as u32).to_le_bytes());
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&MAGIC);
        out
    }

    /// The trailer of a file of `size` bytes, or `None` if it does not end with a valid one.
    fn read(file: &File, size: u64) -> io::Result<Option<Trailer>> {
        if size < FIXED + END {
            return Ok(None);
        }
        let mut end = [0u8; END as usize];
        read_exact_at(file, &mut end, size - END)?;
        if end[8..16] != MAGIC {
            return Ok(None);
        }
        let total = u64::from(u32::from_le_bytes([end[0], end[1], end[2], end[3]]));
        if !(FIXED + END..=FIXED + MAX_PATH + END).contains(&total) || total > size {
            return Ok(None);
        }
        // Bounded by MAX_PATH above, whatever the file says.
        let mut raw = vec![0u8; total as usize];
        read_exact_at(file, &mut raw, size - total)?;
        let crc_at = raw.len() - 12;
        let stored = u32::from_le_bytes([
            raw[crc_at],
            raw[crc_at + 1],
            raw[crc_at + 2],
            raw[crc_at + 3],
        ]);
        if crc32fast::hash(&raw[..crc_at]) != stored {
            return Ok(None);
        }
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&raw[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let u32_at =
            |at: usize| u32::from_le_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
        let path_len = u64::from(u32_at(116));
        let (Some(format), Some(change)) =
            (SourceFormat::from_code(raw[2]), Change::from_code(raw[3]))
        else {
            return Ok(None);
        };
        let len = u64_at(16);
        if u16::from_le_bytes([raw[0], raw[1]]) != VERSION
            || path_len != total - FIXED - END
            || len.checked_add(total) != Some(size)
        {
            return Ok(None);
        }
        let mut header = [0u8; FILE_HEADER_LEN as usize];
        header.copy_from_slice(&raw[48..112]);
        let path = raw[FIXED as usize..(FIXED + path_len) as usize].to_vec();
        Ok(Some(Trailer {
            source: PathBuf::from(platform::name_from_bytes(path)),
            format,
            change,
            offset: u64_at(8),
            len,
            size_before: u64_at(24),
            size_after: u64_at(32),
            first_index: u64_at(40),
            native_header: (format == SourceFormat::Native).then_some(header),
            data_crc: u32_at(112),
        }))
    }
}

fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    let mut got = 0;
    while got < buf.len() {
        let n = platform::read_at(file, &mut buf[got..], offset + got as u64)?;
        if n == 0 {
            return Err(crate::log::reader::shrank());
        }
        got += n;
    }
    Ok(())
}

/// Whether `file` (of `size` bytes) is a sidecar: the check detection makes before anything
/// else, so a sidecar is never read as a log.
pub(crate) fn identify(file: &File, size: u64) -> io::Result<Option<Trailer>> {
    Trailer::read(file, size)
}

/// The error for a sidecar given where a log was expected.
pub(crate) fn is_sidecar_error(path: &Path, trailer: &Trailer) -> Error {
    Error::IsSidecar {
        path: path.to_path_buf(),
        log: trailer.source.clone(),
        offset: trailer.offset,
        bytes: trailer.len,
    }
}

/// A sidecar, open for reading.
pub struct Sidecar {
    /// Its path.
    pub path: PathBuf,
    /// What its trailer says.
    pub trailer: Trailer,
    file: File,
}

impl Sidecar {
    /// Open `path` as a sidecar.
    pub fn open(path: &Path) -> Result<Sidecar> {
        let file = File::open(path).map_err(|source| Error::Inspect {
            path: path.to_path_buf(),
            source,
        })?;
        Sidecar::from_file(path, file)
    }

    /// A sidecar already open (read from a stream), named `path` in messages.
    pub fn from_file(path: &Path, file: File) -> Result<Sidecar> {
        let io = |source| Error::Inspect {
            path: path.to_path_buf(),
            source,
        };
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(Error::NotRegular {
                path: path.to_path_buf(),
                kind: platform::kind_of(meta.file_type()),
            });
        }
        let trailer = Trailer::read(&file, meta.len())
            .map_err(io)?
            .ok_or_else(|| Error::NotASidecar {
                path: path.to_path_buf(),
            })?;
        Ok(Sidecar {
            path: path.to_path_buf(),
            trailer,
            file,
        })
    }

    /// The kind of log its bytes are read as.
    pub fn layout(&self) -> Result<Layout> {
        Ok(match self.trailer.format {
            SourceFormat::Native => match self.start() {
                Some(start) => Layout::Unstarted(start),
                None => Layout::Native(self.native_header()?),
            },
            SourceFormat::Lines => Layout::Lines,
            SourceFormat::ProglogStore => Layout::ProglogStore,
            SourceFormat::ProglogIndex => Layout::ProglogIndex,
            SourceFormat::Aof => Layout::Aof(self.aof_analysis()),
        })
    }

    /// The 64 bytes `recover --force` replaced with a new header (a lost header, or one that
    /// was not its records'), when this sidecar keeps them: a whole old header (or what was in
    /// its place), not records. `None` for any other sidecar.
    pub fn replaced_header(&self) -> Result<Option<[u8; FILE_HEADER_LEN as usize]>> {
        let t = &self.trailer;
        if t.format != SourceFormat::Native
            || t.change != Change::Rewritten
            || t.offset != 0
            || t.len != FILE_HEADER_LEN
        {
            return Ok(None);
        }
        let mut raw = [0u8; FILE_HEADER_LEN as usize];
        read_exact_at(&self.file, &mut raw, 0).map_err(|source| Error::Inspect {
            path: self.path.clone(),
            source,
        })?;
        Ok(Some(raw))
    }

    /// A native log cut at offset 0 (its start torn, or only zeros): the kept bytes are the
    /// whole file, with no header to read records with.
    fn start(&self) -> Option<Start> {
        let t = &self.trailer;
        (t.format == SourceFormat::Native && t.offset == 0).then(|| {
            Start::of(&self.file, t.len, true)
                .ok()
                .flatten()
                .unwrap_or(Start::Torn)
        })
    }

    fn native_header(&self) -> Result<FileHeader> {
        let raw = self
            .trailer
            .native_header
            .unwrap_or([0; FILE_HEADER_LEN as usize]);
        FileHeader::decode(&raw).map_err(|_| Error::NotALog {
            path: self.path.clone(),
            why: "the native file header kept in this sidecar is damaged",
            damaged_header: true,
            format: None,
        })
    }

    /// aof bytes cut after the last checkpoint hold no magic at their end: shown as data up to
    /// their end, as one segment.
    fn aof_analysis(&self) -> Analysis {
        let len = self.trailer.len;
        Analysis {
            size: len,
            outcome: aof::Outcome::Checkpoint,
            logical_end: len,
            tail: None,
            checkpoint: None,
            nonzero_end: len,
            reported_tail: len,
        }
    }

    /// A reader of the kept bytes in their log's format, with the offsets and record numbers
    /// they had in the log.
    pub fn reader(&self, on_damage: OnDamage) -> Result<Box<dyn Reader + '_>> {
        let t = &self.trailer;
        let inner: Box<dyn Reader + '_> = match t.format {
            SourceFormat::Native if let Some(start) = self.start() => {
                crate::log::reader::start_reader(start)
            }
            SourceFormat::Native => Box::new(NativeReader::new(
                &self.file,
                self.native_header()?,
                t.len,
                0,
                t.first_index,
                on_damage,
            )),
            SourceFormat::Lines => Box::new(LinesReader::new(&self.file, t.len, 0, on_damage)),
            SourceFormat::ProglogStore => {
                Box::new(StoreReader::new(&self.file, t.len, None, on_damage))
            }
            SourceFormat::ProglogIndex => Box::new(IndexReader::new(&self.file, t.len)),
            SourceFormat::Aof => Box::new(AofReader::new(&self.file, self.aof_analysis())),
        };
        Ok(Box::new(Shifted {
            inner,
            delta: t.offset,
            first_index: t.first_index,
            native: t.format == SourceFormat::Native,
        }))
    }
}

/// A reader over a sidecar's bytes that reports the offsets and record numbers they had in the
/// log (the bytes sit at offset 0 of the sidecar, record 0 of its reader).
struct Shifted<'f> {
    inner: Box<dyn Reader + 'f>,
    delta: u64,
    first_index: u64,
    native: bool,
}

/// Which coordinates a record read from a sidecar is moved to.
#[derive(Clone, Copy)]
enum Toward {
    /// The log's: what the reader reports.
    Log,
    /// The sidecar's: where its bytes are.
    Sidecar,
}

impl Shifted<'_> {
    /// `r` moved to the log's coordinates, or back to the sidecar's.
    fn moved(&self, mut r: Record, toward: Toward) -> Record {
        let by = |x: u64, n: u64| match toward {
            Toward::Log => x + n,
            Toward::Sidecar => x - n,
        };
        r.index = by(r.index, self.first_index);
        if !self.native {
            r.seq = by(r.seq, self.first_index);
        }
        r.offset = by(r.offset, self.delta);
        r.data = by(r.data, self.delta);
        r.end = by(r.end, self.delta);
        if let Extra::AofSegment {
            ends_with,
            magic_offset,
        } = r.extra
        {
            r.extra = Extra::AofSegment {
                ends_with,
                magic_offset: magic_offset.map(|m| by(m, self.delta)),
            };
        }
        r
    }

    fn shift_defect(&self, d: Defect) -> Defect {
        let mut d = d.moved_by(self.delta);
        if let DefectKind::NoMagic {
            checkpoint: Some(c),
        } = d.kind
        {
            d.kind = DefectKind::NoMagic {
                checkpoint: Some(c + self.delta),
            };
        }
        d
    }
}

impl Reader for Shifted<'_> {
    fn next_item(&mut self) -> io::Result<Item> {
        Ok(match self.inner.next_item()? {
            Item::Record(r) => Item::Record(self.moved(r, Toward::Log)),
            Item::Defect(d) => Item::Defect(self.shift_defect(d)),
            Item::End => Item::End,
        })
    }

    fn payload(&self, record: &Record) -> Option<&[u8]> {
        self.inner.payload(&self.moved(*record, Toward::Sidecar))
    }

    fn read_payload(
        &mut self,
        record: &Record,
        f: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        let r = self.moved(*record, Toward::Sidecar);
        self.inner.read_payload(&r, f)
    }

    fn position(&self) -> u64 {
        self.inner.position() + self.delta
    }

    fn refresh(&mut self) -> io::Result<bool> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "a sidecar cannot be followed (it never grows)",
        ))
    }

    fn io_stats(&self) -> (u64, u64) {
        self.inner.io_stats()
    }
}

/// What to keep in a sidecar, and where it came from.
pub(crate) struct Keep<'a> {
    /// The log as the user named it (for messages).
    pub log: &'a Path,
    /// The log open for reading.
    pub file: &'a File,
    /// The trailer to write; `len` and `data_crc` are filled in from the copy.
    pub trailer: Trailer,
}

/// Where a log's sidecars go by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beside {
    /// `.durable-recovered/` in the log's directory.
    Log,
    /// `.durable-recovered/SEGDIR/` in the directory above the log's: for a file of a proglog
    /// segment, whose directory proglog reads whole (every name in it becomes a segment).
    LogDir,
}

impl Beside {
    /// Where the sidecars of a log of this layout go.
    pub(crate) fn of(layout: &Layout) -> Beside {
        match layout {
            Layout::ProglogStore | Layout::ProglogIndex => Beside::LogDir,
            _ => Beside::Log,
        }
    }
}

/// Where the sidecars of the log at `log` go by default (see [`Beside`]). Returns (an existing
/// directory, the components to create under it); `None` when the path does not name the
/// directory above (`0.store`, `./0.store`): the caller then asks again with the absolute path.
pub(crate) fn default_dir(log: &Path, beside: Beside) -> Option<(PathBuf, Vec<PathBuf>)> {
    let parent_of = |p: &Path| match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir = parent_of(log);
    if beside == Beside::Log {
        return Some((dir, vec![PathBuf::from(DIR_NAME)]));
    }
    let seg = dir.file_name()?;
    Some((
        parent_of(&dir),
        vec![PathBuf::from(DIR_NAME), PathBuf::from(seg)],
    ))
}

/// A sidecar `durable recover` left when it emptied a log: the format the log was in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emptied {
    /// The sidecar.
    pub sidecar: PathBuf,
    /// The format of the log it was cut from.
    pub format: SourceFormat,
    /// The checksum algorithm of that log, when the kept bytes say it: a native log's torn
    /// start that holds the header's algorithm byte (SHA-256 for a lines log).
    pub algorithm: Option<Algorithm>,
}

/// What the sidecars beside an empty log say about the format `durable recover` emptied it of
/// (see [`emptied_by_recover`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmptiedBy {
    /// No sidecar records that recover emptied it.
    Unknown,
    /// Every such sidecar records this format, and those that record a checksum algorithm
    /// record the same one (the first of those is named, else the first one).
    Format(Emptied),
    /// Two of them disagree on the format (an emptied log of one format was started again in
    /// the other, and emptied again) or, both native, on the checksum algorithm: the bytes
    /// cannot say which it is now.
    Conflict(Emptied, Emptied),
}

/// The most sidecars of one log at offset 0 looked at (as many as recover makes there).
const MAX_EMPTIED: usize = 1000;

/// What the sidecars `durable recover` keeps by default (`.durable-recovered/` beside the log,
/// or beside a proglog segment's directory) say about the format of the log at `log`, which it
/// cut to empty: those whose trailer names this file (its absolute path, symlinks resolved),
/// cut at offset 0, leaving 0 bytes. Sidecars elsewhere (`--backup-dir`) and logs recovered
/// with `--no-backup` leave nothing to find: [`EmptiedBy::Unknown`]. A native log's sidecar also
/// says the log's checksum algorithm when its torn start holds the header's algorithm byte.
/// Reads one directory listing, and the trailers (and, of a native log's, the first 63 kept
/// bytes) of at most a thousand files; an unreadable one is passed over.
pub fn emptied_by_recover(log: &Path) -> EmptiedBy {
    let Ok(source) = std::fs::canonicalize(log) else {
        return EmptiedBy::Unknown;
    };
    let Some(log_name) = source.file_name() else {
        return EmptiedBy::Unknown;
    };
    // Only a sidecar that the log's owner, the user asking or root made says what the log was:
    // in a shared directory anyone may leave files named like sidecars.
    let Ok(log_meta) = std::fs::metadata(&source) else {
        return EmptiedBy::Unknown;
    };
    let trusted = [
        platform::owner_mode_links(&log_meta).0,
        platform::effective_uid(),
        0,
    ];
    // Where recover put them: beside the path it was given (the log's, or a link's to it).
    let mut dirs: Vec<PathBuf> = Vec::new();
    for beside in [Beside::Log, Beside::LogDir] {
        for base in [log, source.as_path()] {
            if let Some((base, parts)) = default_dir(base, beside) {
                let dir = join(&base, &parts);
                let same = |d: &PathBuf| {
                    d == &dir || std::fs::canonicalize(d).ok() == std::fs::canonicalize(&dir).ok()
                };
                if dir.is_dir() && !dirs.iter().any(same) {
                    dirs.push(dir);
                }
            }
        }
    }
    // `NAME.0.durable-sidecar` (n = 1) and `NAME.0.N.durable-sidecar`.
    let prefix = {
        let mut p = platform::name_bytes(log_name).to_vec();
        p.extend_from_slice(b".0");
        p
    };
    let mut found: Vec<(u32, Emptied)> = Vec::new();
    let mut looked = 0;
    for dir in &dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(rest) = platform::name_bytes(&name).strip_prefix(prefix.as_slice()) else {
                continue;
            };
            let Some(n) = rest
                .strip_suffix(SUFFIX.as_bytes())
                .and_then(|mid| match mid {
                    [] => Some(1),
                    [b'.', digits @ ..] => std::str::from_utf8(digits).ok()?.parse::<u32>().ok(),
                    _ => None,
                })
            else {
                continue;
            };
            if looked == MAX_EMPTIED {
                break;
            }
            looked += 1;
            // A regular file, not through a link.
            if !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let path = entry.path();
            let Ok(file) = File::open(&path) else {
                continue;
            };
            let Ok(meta) = file.metadata() else {
                continue;
            };
            if !trusted.contains(&platform::owner_mode_links(&meta).0) {
                continue;
            }
            if let Ok(Some(t)) = Trailer::read(&file, meta.len())
                && t.source == source
                && t.offset == 0
                && t.size_after == 0
                && t.change == Change::Cut
            {
                let algorithm = match t.format {
                    SourceFormat::Native => Start::algorithm(&file, t.len),
                    SourceFormat::Lines => Some(Algorithm::Sha256),
                    _ => None,
                };
                found.push((
                    n,
                    Emptied {
                        sidecar: path,
                        format: t.format,
                        algorithm,
                    },
                ));
            }
        }
    }
    found.sort_by(|a, b| (a.0, &a.1.sidecar).cmp(&(b.0, &b.1.sidecar)));
    let mut found = found.into_iter().map(|(_, e)| e);
    let Some(first) = found.next() else {
        return EmptiedBy::Unknown;
    };
    // A start torn before its algorithm byte (or zeros) says nothing about the algorithm.
    let mut said: Option<Emptied> = first.algorithm.is_some().then(|| first.clone());
    for e in found {
        if e.format != first.format {
            return EmptiedBy::Conflict(first, e);
        }
        match &said {
            Some(s) if e.algorithm.is_some() && e.algorithm != s.algorithm => {
                return EmptiedBy::Conflict(s.clone(), e);
            }
            None if e.algorithm.is_some() => said = Some(e),
            _ => {}
        }
    }
    EmptiedBy::Format(said.unwrap_or(first))
}

/// `base/parts…`, without a leading `./`.
pub(crate) fn join(base: &Path, parts: &[PathBuf]) -> PathBuf {
    let mut dir = if base == Path::new(".") {
        PathBuf::new()
    } else {
        base.to_path_buf()
    };
    for p in parts {
        dir.push(p);
    }
    dir
}

/// The name of the sidecar for `log_name` at `offset` (the `n`th one there, from 1).
fn name(log_name: &std::ffi::OsStr, offset: u64, n: u32) -> std::ffi::OsString {
    let mut out = log_name.to_os_string();
    if n > 1 {
        out.push(format!(".{offset}.{n}{SUFFIX}"));
    } else {
        out.push(format!(".{offset}{SUFFIX}"));
    }
    out
}

/// The path the first sidecar for `log_name` at `offset` gets in `dir`.
pub(crate) fn first_path(dir: &Path, log_name: &std::ffi::OsStr, offset: u64) -> PathBuf {
    dir.join(name(log_name, offset, 1))
}

/// Where a sidecar goes and under what name: the one plan a dry run reports and a real run
/// carries out ([`plan`]).
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// The directory it goes in (`base/parts…`; parts of it may not exist yet).
    pub dir: PathBuf,
    /// Its name's number there: 1 for `NAME.OFFSET.durable-sidecar`, n for `NAME.OFFSET.n.…`.
    pub n: u32,
    /// Its path.
    pub path: PathBuf,
}

/// What [`plan`] checks.
pub(crate) struct Planning<'a> {
    /// The existing directory and the components to create under it.
    pub base: &'a Path,
    /// The components to create under `base`.
    pub parts: &'a [PathBuf],
    /// The log's file (open), whose bytes `[from, to)` are to be kept.
    pub file: &'a File,
    /// The trailer the sidecar gets (its `data_crc` is not compared).
    pub trailer: &'a Trailer,
    /// Bytes `[from, to)` of the log.
    pub from: u64,
    /// End of the kept bytes.
    pub to: u64,
    /// Check that the directories can be made and the sidecar written there (access, names in
    /// the way, path lengths), without changing anything: for a log about to be changed, or a
    /// dry run of that. Off: only name it (a log recover refuses to change).
    pub probe: bool,
    /// Sidecar paths a dry run of this recover already promised to another log (absolute
    /// source path of that log), which a real run would have taken by then.
    pub promised: &'a dyn Fn(&Path) -> Option<PathBuf>,
}

/// Plan the sidecar of `p.trailer.source`: the first name at that offset that is free or holds
/// exactly these bytes for this log (a rerun after a crash keeps that one), the name the real
/// run's rename takes; with `probe`, the failures a real run would meet making the directories
/// and the file, found without changing anything (the error is the one the real run gives).
pub(crate) fn plan(p: &Planning<'_>) -> std::result::Result<Plan, StepError> {
    let fail = |step: Step, path: &Path, source: io::Error| StepError {
        step,
        path: path.to_path_buf(),
        source,
    };
    let too_long = || {
        io::Error::new(
            io::ErrorKind::InvalidFilename,
            format!(
                "the path would be longer than the {} bytes the system allows (PATH_MAX)",
                platform::PATH_MAX
            ),
        )
    };
    let mut dir = p.base.to_path_buf();
    // Whether `dir` exists so far (after it, every component is to be made).
    let mut exists = true;
    for part in p.parts {
        let parent = dir.clone();
        dir = join(&dir, std::slice::from_ref(part));
        if !p.probe {
            continue;
        }
        if platform::too_long(&dir) {
            return Err(fail(Step::CreateDir, &dir, too_long()));
        }
        if exists {
            match std::fs::metadata(&dir) {
                Ok(meta) if meta.is_dir() => continue,
                Ok(_) => {
                    return Err(fail(
                        Step::CreateDir,
                        &dir,
                        io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            "a file that is not a directory is in the way under that name",
                        ),
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    exists = false;
                    platform::check_dir_writable(&parent)
                        .map_err(|e| fail(Step::CreateDir, &dir, e))?;
                }
                Err(e) => return Err(fail(Step::CreateDir, &dir, e)),
            }
        }
    }
    if p.probe && exists {
        platform::check_dir_writable(&dir).map_err(|e| fail(Step::CreateTemp, &dir, e))?;
    }
    let log_name = p
        .trailer
        .source
        .file_name()
        .unwrap_or_default()
        .to_os_string();
    for n in 1..=MAX_SAME_OFFSET {
        let file_name = name(&log_name, p.from, n);
        let candidate = dir.join(&file_name);
        if p.probe {
            // The temporary file's name is shortened to fit; the sidecar's own is not.
            let temp = crate::disk::temp_name_len(&file_name);
            if file_name.len() > platform::NAME_MAX {
                return Err(fail(
                    Step::Rename,
                    &candidate,
                    io::Error::new(
                        io::ErrorKind::InvalidFilename,
                        format!(
                            "the log's name is too long for a sidecar's (NAME.OFFSET.durable-sidecar would be longer than the {} bytes a file name may have in any directory, NAME_MAX)",
                            platform::NAME_MAX
                        ),
                    ),
                ));
            }
            if dir.as_os_str().len() + 1 + file_name.len().max(temp) > platform::PATH_MAX {
                return Err(fail(Step::CreateTemp, &dir, too_long()));
            }
        }
        match (p.promised)(&candidate) {
            Some(other) if other != p.trailer.source => continue,
            Some(_) => {
                return Ok(Plan {
                    dir,
                    n,
                    path: candidate,
                });
            }
            None => {}
        }
        if !exists {
            return Ok(Plan {
                dir,
                n,
                path: candidate,
            });
        }
        match std::fs::symlink_metadata(&candidate) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(fail(Step::Rename, &candidate, e)),
            Ok(_) => {
                if !holds(&candidate, p).map_err(|e| fail(Step::Rename, &candidate, e))? {
                    continue;
                }
            }
        }
        return Ok(Plan {
            dir,
            n,
            path: candidate,
        });
    }
    Err(fail(
        Step::Rename,
        &dir.join(name(&log_name, p.from, 1)),
        io::Error::other("a thousand sidecars for the same offset already exist"),
    ))
}

/// The most sidecars of one log at one offset (`NAME.OFFSET.n.durable-sidecar`, n ≤ this).
const MAX_SAME_OFFSET: u32 = 1000;

/// Whether the file at `candidate` is the sidecar [`plan`] would write: a regular file (not
/// followed through a link) with the same trailer (but for its checksum of the bytes) and the
/// same bytes as the log holds there.
fn holds(candidate: &Path, p: &Planning<'_>) -> io::Result<bool> {
    let file = match platform::open_no_follow(candidate, false) {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(platform::errno::ELOOP) => return Ok(false),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(false);
    }
    let Some(mut found) = Trailer::read(&file, meta.len())? else {
        return Ok(false);
    };
    let len = p.to - p.from;
    found.data_crc = p.trailer.data_crc;
    let mut expected = p.trailer.clone();
    expected.offset = p.from;
    expected.len = len;
    if found != expected {
        return Ok(false);
    }
    same_range(&file, 0, p.file, p.from, len)
}

/// Create `base/parts…` where missing, flushing each parent so the new name is durable before a
/// sidecar is renamed into it. The directories it creates are pushed on `created` (so that they
/// can be taken back if no sidecar is made after all).
pub(crate) fn ensure_dir(
    base: &Path,
    parts: &[PathBuf],
    sync: SyncLevel,
    t: &mut Tracker<'_>,
    created: &mut Vec<PathBuf>,
) -> std::result::Result<PathBuf, StepError> {
    let mut dir = base.to_path_buf();
    for part in parts {
        let parent = dir.clone();
        dir = join(&dir, std::slice::from_ref(part));
        if dir.is_dir() {
            continue;
        }
        // One step: the directory and its name in the parent, flushed.
        t.run(Step::CreateDir, &dir, || {
            match std::fs::create_dir(&dir) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
                Err(e) => return Err(e),
                Ok(()) => created.push(dir.clone()),
            }
            platform::sync_dir(&parent, sync)
        })?;
    }
    Ok(dir)
}

/// Copy `keep`'s bytes `[from, to)` of the log into a new sidecar at `plan` (whose directory
/// exists):
/// temporary file (holes for zero blocks), trailer, flushed, closed, renamed into place without
/// replacing anything, directory flushed. A sidecar already there with the same bytes (a rerun
/// after a crash) is kept instead of a second copy; a different one gets the next free name.
/// Returns the sidecar's path.
pub(crate) fn write(
    keep: Keep<'_>,
    from: u64,
    to: u64,
    plan: &Plan,
    sync: SyncLevel,
    t: &mut Tracker<'_>,
) -> Result<PathBuf> {
    let dir = plan.dir.as_path();
    let log_name = keep
        .trailer
        .source
        .file_name()
        .unwrap_or(keep.log.as_os_str())
        .to_os_string();
    let fail = |e: StepError| Error::Sidecar {
        log: keep.log.to_path_buf(),
        dir: dir.to_path_buf(),
        bytes: to - from,
        step: e.step,
        at: e.path,
        source: e.source,
    };
    let first = plan.path.clone();
    sweep_stale_temps(dir, first.file_name().unwrap_or_default());
    let mut new = NewFile::create(t, dir, first.file_name().unwrap_or_default()).map_err(fail)?;
    let temp_path = new.path().to_path_buf();
    let mut trailer = keep.trailer.clone();
    t.run(Step::WriteTemp, &temp_path, || {
        trailer.data_crc = copy_sparse(keep.file, from, to, new.file())?;
        trailer.offset = from;
        trailer.len = to - from;
        platform::write_all_at(new.file(), &trailer.encode(), to - from)
    })
    .map_err(fail)?;
    // Readable by whoever could read the log, and no one else: its owner (where permitted)
    // and permission bits, without any execute or set-id bit. Given to the log's owner (so
    // that they can read and restore it) only in a directory that owner controls: their own,
    // or one in a directory of theirs (`.durable-recovered` made by root beside their log);
    // never a file of theirs in a directory of someone else's (root's `--backup-dir`).
    t.run(Step::Metadata, &temp_path, || {
        let (uid, gid, mode, _) = platform::owner_mode_links(&keep.file.metadata()?);
        if owner_controls(dir, uid) {
            match platform::set_owner(new.file(), uid, gid) {
                Err(e) if e.raw_os_error() == Some(platform::errno::EPERM) => {}
                other => other?,
            }
        }
        platform::set_mode(new.file(), mode & 0o666)
    })
    .map_err(fail)?;
    new.seal(t, sync).map_err(fail)?;
    let placed = new
        .rename_with(t, &first, |temp| {
            // From the planned name on (the names before it were taken when it was planned).
            for n in plan.n..=MAX_SAME_OFFSET {
                let candidate = dir.join(name(&log_name, from, n));
                match temp.persist(&candidate, OnExisting::Fail) {
                    Ok(()) => return Ok(candidate),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        if same_file_bytes(&candidate, &temp_path)? {
                            return Ok(candidate);
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(io::Error::other(
                "a thousand sidecars for the same offset already exist",
            ))
        })
        .map_err(fail)?;
    new.sync_dir(t, sync).map_err(fail)?;
    Ok(placed)
}

/// Whether user `uid` owns the directory `dir` (symlinks resolved) or the directory it is in.
fn owner_controls(dir: &Path, uid: u32) -> bool {
    let Ok(real) = std::fs::canonicalize(dir) else {
        return false;
    };
    let owns =
        |d: &Path| std::fs::metadata(d).is_ok_and(|m| platform::owner_mode_links(&m).0 == uid);
    owns(&real) || real.parent().is_some_and(owns)
}

/// Remove the temporary files of an earlier attempt at the sidecar `name` in `dir` that a crash
/// left (our exact pattern for that name, held open by no process), so that a rerun leaves
/// nothing behind even where no directory walk goes (a proglog segment's sidecars are outside
/// its directory). Best effort: what cannot be removed stays, as it would have.
fn sweep_stale_temps(dir: &Path, name: &std::ffi::OsStr) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        if crate::disk::temp_target_name(&file_name).as_deref() != Some(name) {
            continue;
        }
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_file())
            && platform::open_by_a_process(&path).is_ok_and(|held| held == platform::Held::No)
        {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Zeros for checksumming holes.
static ZEROS: [u8; 1 << 16] = [0; 1 << 16];

fn crc_zeros(crc: &mut crc32fast::Hasher, mut n: u64) {
    while n > 0 {
        let k = n.min(ZEROS.len() as u64) as usize;
        crc.update(&ZEROS[..k]);
        n -= k as u64;
    }
}

/// A piece of a file met by [`visit`].
enum Piece<'b> {
    /// A hole of this many bytes (reads as zeros; not read).
    Hole(u64),
    /// Bytes read from the file.
    Data(&'b [u8]),
}

/// Walk bytes `[from, to)` of `file` without reading its holes (`SEEK_DATA`): `f(at, piece)`
/// for each hole and each chunk of data (at most [`CHUNK`] bytes, chunks aligned to [`CHUNK`]
/// from `from`), until `f` returns `false`.
fn visit(
    file: &File,
    from: u64,
    to: u64,
    mut f: impl FnMut(u64, Piece<'_>) -> io::Result<bool>,
) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK.min(to.saturating_sub(from)) as usize];
    let mut at = from;
    while at < to {
        let data = platform::next_data(file, at)?.map_or(to, |d| d.min(to));
        if data > at {
            if !f(at, Piece::Hole(data - at))? {
                return Ok(());
            }
            at = data;
            continue;
        }
        let n = (CHUNK - (at - from) % CHUNK).min(to - at) as usize;
        read_exact_at(file, &mut buf[..n], at)?;
        if !f(at, Piece::Data(&buf[..n]))? {
            return Ok(());
        }
        at += n as u64;
    }
    Ok(())
}

/// Copy bytes `[from, to)` of `src` to offset 0 of `dst`, skipping the source's holes and
/// leaving every zero block (aligned in `dst`) unwritten, so zeros stay holes. Returns the
/// CRC-32 of the bytes.
fn copy_sparse(src: &File, from: u64, to: u64, dst: &File) -> io::Result<u32> {
    let mut crc = crc32fast::Hasher::new();
    visit(src, from, to, |at, piece| {
        match piece {
            Piece::Hole(n) => crc_zeros(&mut crc, n),
            Piece::Data(bytes) => {
                crc.update(bytes);
                write_nonzero(dst, bytes, at - from)?;
            }
        }
        Ok(true)
    })?;
    Ok(crc.finalize())
}

/// Write the blocks of `buf` (aligned to [`BLOCK`] in `dst`, where `buf` starts at `out`) that
/// hold a non-zero byte; runs of them go out in one write.
fn write_nonzero(dst: &File, buf: &[u8], out: u64) -> io::Result<()> {
    let mut run: Option<usize> = None;
    let mut i = 0;
    while i < buf.len() {
        let at = out + i as u64;
        let end = (((at / BLOCK) + 1) * BLOCK - out).min(buf.len() as u64) as usize;
        if buf[i..end].iter().all(|b| *b == 0) {
            if let Some(s) = run.take() {
                platform::write_all_at(dst, &buf[s..i], out + s as u64)?;
            }
        } else if run.is_none() {
            run = Some(i);
        }
        i = end;
    }
    if let Some(s) = run {
        platform::write_all_at(dst, &buf[s..], out + s as u64)?;
    }
    Ok(())
}

/// Whether two files hold the same bytes. `a` (a name another sidecar may hold) is opened
/// never through a symlink, and never a FIFO's other end: anything but a regular file there
/// (a link planted at the name) is not the same bytes, and the next name is taken.
fn same_file_bytes(a: &Path, b: &Path) -> io::Result<bool> {
    let fa = match platform::open_no_follow(a, false) {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(platform::errno::ELOOP) => return Ok(false),
        Err(e) => return Err(e),
    };
    if !fa.metadata()?.is_file() {
        return Ok(false);
    }
    let fb = File::open(b)?;
    let len = fa.metadata()?.len();
    if fb.metadata()?.len() != len {
        return Ok(false);
    }
    same_range(&fa, 0, &fb, 0, len)
}

/// Whether `len` bytes of `a` at `a_at` equal those of `b` at `b_at`.
fn same_range(a: &File, a_at: u64, b: &File, b_at: u64, len: u64) -> io::Result<bool> {
    let n = CHUNK.min(len) as usize;
    let (mut x, mut y) = (vec![0u8; n], vec![0u8; n]);
    let mut done = 0u64;
    while done < len {
        let k = (len - done).min(CHUNK) as usize;
        read_exact_at(a, &mut x[..k], a_at + done)?;
        read_exact_at(b, &mut y[..k], b_at + done)?;
        if x[..k] != y[..k] {
            return Ok(false);
        }
        done += k as u64;
    }
    Ok(true)
}

/// The CRC-32 of a sidecar's kept bytes (holes read as zeros without reading them).
fn data_crc(file: &File, len: u64) -> io::Result<u32> {
    let mut crc = crc32fast::Hasher::new();
    visit(file, 0, len, |_, piece| {
        match piece {
            Piece::Hole(n) => crc_zeros(&mut crc, n),
            Piece::Data(bytes) => crc.update(bytes),
        }
        Ok(true)
    })?;
    Ok(crc.finalize())
}

/// What `log restore` did (or, dry, would do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restore {
    /// The bytes were written back.
    Restored,
    /// The log already holds them (restored before): nothing to do.
    AlreadyThere,
    /// Dry run: they would be written back.
    WouldRestore,
}

/// Options of [`restore`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RestoreOptions {
    /// Say what would be put back; change nothing.
    pub dry_run: bool,
    /// How hard to flush what is put back.
    pub sync: SyncLevel,
}

/// The report of `log restore`.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The sidecar.
    pub sidecar: PathBuf,
    /// What its trailer says (the log, the offset, the bytes).
    pub trailer: Trailer,
    /// What was done.
    pub outcome: Restore,
}

/// What [`restore`] found before writing anything: the log, open (and locked), and whether
/// the bytes are to be put back or are there already.
struct Decided {
    file: File,
    size: u64,
    outcome: Restore,
}

/// How [`decide`] locks the log: as an appender would ([`restore`]), or shared, to look only
/// ([`restorable`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hold {
    Exclusive,
    Shared,
}

/// Whether `log restore` of the sidecar `side` would put its bytes back now
/// ([`Restore::WouldRestore`]), find them there already ([`Restore::AlreadyThere`]), or refuse
/// (the error it would report): the decision [`restore`] makes, changing nothing. For hints
/// (`log dump SIDECAR`) that must be true when printed; the log is locked shared while it is
/// read, so an append in progress makes it [`Error::InUse`].
pub fn restorable(side: &Sidecar) -> Result<Restore> {
    decide(side, Hold::Shared).map(|d| d.outcome)
}

/// The checks of [`restore`], in its order: the sidecar's CRC, the log (there, ours to write
/// through its links, not in use), its file header, and its size and bytes against what
/// recover left.
fn decide(side: &Sidecar, hold: Hold) -> Result<Decided> {
    let path = side.path.as_path();
    let t = &side.trailer;
    let log = t.source.clone();
    let io_side = |source| Error::Inspect {
        path: path.to_path_buf(),
        source,
    };
    if data_crc(&side.file, t.len).map_err(io_side)? != t.data_crc {
        return Err(Error::SidecarDamaged {
            path: path.to_path_buf(),
            log,
        });
    }
    let refuse = |why: String| Error::RestoreRefused {
        sidecar: path.to_path_buf(),
        log: log.clone(),
        why,
    };
    crate::target::refuse_sticky_links(&log, "log restore")?;
    let file = match File::open(&log) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(refuse(format!(
                "{} does not exist",
                crate::quote::quoted(&log)
            )));
        }
        Err(source) => {
            return Err(Error::NotChecked {
                path: log.clone(),
                source,
            });
        }
    };
    let io_log = |source| Error::NotChecked {
        path: log.clone(),
        source,
    };
    let locked = match hold {
        Hold::Exclusive => file.try_lock(),
        Hold::Shared => file.try_lock_shared(),
    };
    match locked {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Err(Error::InUse { path: log.clone() }),
        Err(std::fs::TryLockError::Error(source)) => return Err(io_log(source)),
    }
    let size = file.metadata().map_err(io_log)?.len();
    // A native log cut at offset 0 (its start torn, or only zeros) had no header: the kept
    // bytes are the whole file.
    if let Some(header) = t.native_header.as_ref().filter(|_| t.offset > 0) {
        let mut now = [0u8; FILE_HEADER_LEN as usize];
        let same =
            size >= FILE_HEADER_LEN && read_exact_at(&file, &mut now, 0).is_ok() && now == *header;
        if !same {
            return Err(refuse(format!(
                "{} does not start with the file header recorded in the sidecar, so it is not the log they were cut from (or it was replaced since)",
                crate::quote::quoted(&log)
            )));
        }
    }
    let end = t.offset + t.len;
    // Already put back: the log holds exactly what it held before recover.
    if size == t.size_before
        && size >= end
        && same_range(&file, t.offset, &side.file, 0, t.len).map_err(io_log)?
    {
        return Ok(Decided {
            file,
            size,
            outcome: Restore::AlreadyThere,
        });
    }
    let expected = match t.change {
        Change::Cut => size == t.offset,
        Change::ZeroFilled => {
            size == t.size_after && end <= size && all_zero(&file, t.offset, end).map_err(io_log)?
        }
        Change::Rewritten => size == t.size_after,
    };
    if !expected {
        return Err(refuse(match t.change {
            Change::Cut => format!(
                "{} is {size} bytes long, but recover cut it at {} (it changed since)",
                crate::quote::quoted(&log),
                t.offset
            ),
            Change::ZeroFilled => format!(
                "{} no longer holds only zeros from offset {} to {end}, where recover zero-filled these bytes (it changed since)",
                crate::quote::quoted(&log),
                t.offset
            ),
            Change::Rewritten => format!(
                "{} is {size} bytes long, but recover left it {} bytes long (it changed since)",
                crate::quote::quoted(&log),
                t.size_after
            ),
        }));
    }
    Ok(Decided {
        file,
        size,
        outcome: Restore::WouldRestore,
    })
}

/// Put the bytes a sidecar keeps back into the log they came from, if the log is still as
/// recover left it (cut at the offset, zero-filled there, or the index of the size it was
/// rebuilt to); refuse otherwise. The sidecar is checked against its CRC first, the log is
/// locked as an appender would, and the bytes are flushed before this returns. The sidecar is
/// left in place.
pub fn restore(
    path: &Path,
    opts: &RestoreOptions,
    observer: &mut dyn Observer,
) -> Result<Restored> {
    let RestoreOptions { dry_run, sync } = *opts;
    let side = Sidecar::open(path)?;
    let Decided {
        file,
        size,
        outcome,
    } = decide(&side, Hold::Exclusive)?;
    let t = side.trailer.clone();
    let log = t.source.clone();
    let end = t.offset + t.len;
    if outcome == Restore::AlreadyThere {
        return Ok(Restored {
            sidecar: path.to_path_buf(),
            trailer: t,
            outcome,
        });
    }
    if dry_run {
        return Ok(Restored {
            sidecar: path.to_path_buf(),
            trailer: t,
            outcome: Restore::WouldRestore,
        });
    }
    let out = reopen_for_writing(&file, &log, "put the sidecar's bytes back")?;
    let mut tracker = Tracker::new(observer);
    // Zeros the log does not already hold must be written: in a rewritten index, inside the
    // current size.
    let zeros_needed_below = match t.change {
        Change::Rewritten => size,
        Change::Cut | Change::ZeroFilled => 0,
    };
    let written = tracker
        .run(Step::WriteLog, &log, || {
            copy_back(&side.file, t.len, &out, t.offset, zeros_needed_below)?;
            if out.metadata()?.len() != t.size_before {
                out.set_len(t.size_before)?;
            }
            Ok(())
        })
        .failure_leaves(Aftermath::Unchanged);
    let synced = written.and_then(|()| {
        if sync == SyncLevel::None {
            return Ok(());
        }
        tracker
            .run(Step::SyncLog, &log, || platform::sync_file(&out, sync))
            .failure_leaves(Aftermath::Unchanged)
    });
    if let Err(e) = synced {
        // Nothing may count as restored: take the log back to where recover left it.
        let undone = match t.change {
            Change::Cut => out.set_len(t.offset),
            Change::ZeroFilled => zero_range(&out, t.offset, end),
            // The index is derived data: `durable recover` of its store rebuilds it.
            Change::Rewritten => Err(io::Error::other("not undone")),
        };
        return Err(if undone.is_ok() {
            e
        } else {
            e.with_aftermath(Aftermath::Damaged)
        });
    }
    Ok(Restored {
        sidecar: path.to_path_buf(),
        trailer: t,
        outcome: Restore::Restored,
    })
}

/// The error of a repair that could not open `path` for writing to do `doing`.
fn cannot_open(path: &Path, doing: &str, e: io::Error) -> Error {
    // "Permission denied" for a file whose mode allows writing: name the attribute.
    if e.kind() == io::ErrorKind::PermissionDenied
        && let Some(protection) = crate::target::protection(path)
    {
        return Error::Protected {
            path: path.to_path_buf(),
            protection,
            why: "a repair rewrites it in place, so it was not changed",
        };
    }
    Error::CannotChange {
        path: path.to_path_buf(),
        doing: format!("{doing} (opening it for writing)"),
        source: e,
    }
}

/// What [`reopen_for_writing`] would meet, found without opening it for writing (a dry run):
/// this process's access to write `path` (its mode, its owner, a read-only mount, an
/// immutable attribute), and the same error.
pub(crate) fn check_reopen(path: &Path, doing: &str) -> Result<()> {
    platform::check_file_writable(path).map_err(|e| cannot_open(path, doing, e))
}

/// Open the file `file` was opened from for writing, checking it is still the same file.
pub(crate) fn reopen_for_writing(file: &File, path: &Path, doing: &str) -> Result<File> {
    let cannot = |source| Error::CannotChange {
        path: path.to_path_buf(),
        doing: format!("{doing} (opening it for writing)"),
        source,
    };
    let out = match File::options().read(true).write(true).open(path) {
        Ok(out) => out,
        Err(e) => return Err(cannot_open(path, doing, e)),
    };
    let same = match (file.metadata(), out.metadata()) {
        (Ok(a), Ok(b)) => platform::same_file(&a, &b),
        _ => false,
    };
    if !same {
        return Err(cannot(io::Error::other(
            "it was replaced by another file while it was inspected",
        )));
    }
    Ok(out)
}

/// Copy a sidecar's `len` bytes to `dst` at `offset`. Zero blocks are skipped, except below
/// `zeros_below` (in `dst` offsets), where the destination may hold other bytes.
fn copy_back(src: &File, len: u64, dst: &File, offset: u64, zeros_below: u64) -> io::Result<()> {
    visit(src, 0, len, |at, piece| {
        let at = offset + at;
        match piece {
            Piece::Hole(n) => {
                let end = (at + n).min(zeros_below);
                if at < end {
                    zero_range(dst, at, end)?;
                }
            }
            Piece::Data(bytes) => {
                let split = zeros_below.saturating_sub(at).min(bytes.len() as u64) as usize;
                if split > 0 {
                    platform::write_all_at(dst, &bytes[..split], at)?;
                }
                if split < bytes.len() {
                    write_nonzero(dst, &bytes[split..], at + split as u64)?;
                }
            }
        }
        Ok(true)
    })
}

/// Write zeros over `[from, to)`. A hole of a sparse file already reads as zeros and is
/// stepped over: writing zeros there would allocate its blocks (a preallocated aof file of
/// gigabytes would fill the disk).
pub(crate) fn zero_range(file: &File, from: u64, to: u64) -> io::Result<()> {
    let mut at = from;
    while at < to {
        match platform::next_data(file, at)? {
            Some(data) if data < to => at = data,
            _ => break,
        }
        // To the end of this stretch of data only: a write past it would allocate the hole.
        let end = platform::next_hole(file, at, to)?.clamp(at + 1, to);
        while at < end {
            let n = (end - at).min(ZEROS.len() as u64) as usize;
            platform::write_all_at(file, &ZEROS[..n], at)?;
            at += n as u64;
        }
    }
    Ok(())
}

/// Whether bytes `[from, to)` of `file` are all zero.
fn all_zero(file: &File, from: u64, to: u64) -> io::Result<bool> {
    let mut zero = true;
    visit(file, from, to, |_, piece| {
        if let Piece::Data(bytes) = piece {
            zero = bytes.iter().all(|b| *b == 0);
        }
        Ok(zero)
    })?;
    Ok(zero)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Zeroing a range of a sparse file writes over its data only: the holes between stay holes
    /// (regression: recover's zero-fill of a 1 GiB preallocated aof file allocated 600 MiB).
    #[test]
    fn zero_range_leaves_holes_as_holes() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sparse");
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .expect("open");
        let far = 600u64 << 20;
        platform::write_all_at(&file, &[7u8; 200], 0).expect("write");
        platform::write_all_at(&file, b"junk", far).expect("write");
        file.set_len(1 << 30).expect("set_len");
        if platform::next_data(&file, 1 << 20).expect("seek") != Some(far) {
            eprintln!("SKIPPED: this filesystem does not report holes (lseek SEEK_DATA)");
            return;
        }
        let before = file.metadata().expect("stat").blocks();
        zero_range(&file, 100, far + 4).expect("zero");
        let after = file.metadata().expect("stat").blocks();
        assert!(after <= before, "{before} -> {after} blocks of 512 bytes");
        let mut head = [1u8; 200];
        platform::read_at(&file, &mut head, 0).expect("read");
        assert!(head[..100].iter().all(|b| *b == 7) && head[100..].iter().all(|b| *b == 0));
        let mut tail = [1u8; 4];
        platform::read_at(&file, &mut tail, far).expect("read");
        assert_eq!(tail, [0; 4]);
    }

    fn sample() -> Trailer {
        Trailer {
            source: PathBuf::from("/var/lib/app/events.log"),
            format: SourceFormat::Native,
            change: Change::Cut,
            offset: 1234,
            len: 0,
            size_before: 5678,
            size_after: 1234,
            first_index: 7,
            native_header: Some([3; 64]),
            data_crc: 0,
        }
    }

    fn file_with(bytes: &[u8]) -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s");
        std::fs::write(&path, bytes).expect("write");
        let file = File::open(&path).expect("open");
        (dir, file)
    }

    #[test]
    fn trailer_round_trips_and_any_flip_is_rejected() {
        let data = b"kept bytes";
        let mut t = sample();
        t.len = data.len() as u64;
        let bytes = [data.as_slice(), &t.encode()].concat();
        let (_d, f) = file_with(&bytes);
        assert_eq!(
            Trailer::read(&f, bytes.len() as u64).expect("read"),
            Some(t.clone())
        );
        for i in data.len()..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x04;
            let (_d, f) = file_with(&bad);
            assert_eq!(
                Trailer::read(&f, bad.len() as u64).expect("read"),
                None,
                "flip at {i} accepted"
            );
        }
    }

    #[test]
    fn files_without_a_trailer_are_not_sidecars() {
        for bytes in [&b""[..], &[0u8; 300][..], &[0xffu8; 300][..], &MAGIC[..]] {
            let (_d, f) = file_with(bytes);
            assert_eq!(Trailer::read(&f, bytes.len() as u64).expect("read"), None);
        }
    }

    #[test]
    fn zero_blocks_are_not_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out");
        let out = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .expect("create");
        let mut buf = vec![0u8; 5 * BLOCK as usize];
        buf[10] = 1;
        buf[3 * BLOCK as usize + 5] = 2;
        // Starts 100 bytes into a block of the output.
        write_nonzero(&out, &buf, 100).expect("write");
        out.set_len(100 + buf.len() as u64).expect("extend");
        let back = std::fs::read(&path).expect("read");
        assert_eq!(&back[100..], &buf[..]);
    }
}
