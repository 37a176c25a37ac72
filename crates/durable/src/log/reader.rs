//! The one reader interface every log format sits behind, and the opening of a log of any
//! format: detection by content (and, for proglog, by file name), or the format the user names.
//! `verify`, `dump`, `recover` and `salvage` only ever see a [`Reader`], so every output format,
//! selection option and exit code works the same for all formats.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::format::{FILE_HEADER_LEN, FileHeader, HeaderError};
use super::item::{Item, OnDamage, Record, Skipped};
use super::native::NativeReader;
use super::{aof, lines, proglog};
use crate::error::{Error, Result};
use crate::platform;

/// Why a file is not a log, when detection found none of the formats durable reads in it (and
/// none was named).
pub const UNKNOWN_FORMAT: &str =
    "it is in none of the formats durable reads (native, lines, proglog, aof)";

/// Why a file is not a log, when detection found none of the formats and the file can be a
/// lines log whose first line was cut short ([`lines::torn_first_line`]): only the user can
/// say it is one (`--log-format lines`).
pub const TORN_LINES: &str = "it holds no newline, so it is in none of the formats durable reads \
                              (native, lines, proglog, aof), unless it is a lines log whose \
                              first line was cut short";

/// Why a file is not a log, when detection found none of the formats and the file starts as a
/// Redis append-only file or snapshot does ([`aof::is_redis`]).
pub const REDIS: &str = "it is a Redis append-only file or snapshot (RESP commands or an RDB), \
                         which is in none of the formats durable reads (native, lines, proglog, \
                         aof)";

/// Why a file is not a log, when it is empty (where `log append` starts one).
pub const EMPTY: &str = "it is empty";

/// Why `log append` refuses a native log whose header is lost (its salt recovered).
pub const LOST_HEADER: &str = "its header is lost (zeroed, damaged, or not its records'), but \
     native records follow it; nothing was appended";

/// Whether `file` (`size` bytes) is a native log whose header is lost (its salt recovered or
/// not): for refusals.
pub(crate) fn header_lost(file: &File, size: u64) -> io::Result<Option<super::lost::Lost>> {
    let (raw, got) = super::lost::raw_start(file, size)?;
    super::lost::find(file, size, &raw[..got])
}

/// Why a native log whose header is lost cannot be read: its records are SHA-256 ones, whose
/// checksums do not give the salt back (docs/FORMAT.md, "A lost header").
pub const LOST_NO_SALT: &str = "its header is lost (zeroed or damaged) and native SHA-256 records \
     follow it, but their salt cannot be recovered from them (a SHA-256 checksum does not give it \
     back), so none of them can be checked; only its first 64 bytes, put back from a copy of the \
     log, make them readable again";

/// Why a file is not a log, when it holds only zero bytes.
pub const ZEROS: &str = "it holds only zero bytes";

/// Bytes a reader keeps in memory at once: payloads are checked and handed over in pieces of at
/// most this size, whatever the record or file size.
pub const WINDOW: usize = 1 << 20;

/// Make `buf` hold at least `want` bytes (at most [`WINDOW`]): a reader of a small file never
/// allocates (and zeroes) a whole window.
pub(crate) fn grow(buf: &mut Vec<u8>, want: usize) {
    if buf.len() < want {
        buf.resize(want.max(64 << 10).min(WINDOW.max(want)), 0);
    }
}

/// Read up to `want` bytes of `file` from `at` into the start of `buf` (grown to hold them),
/// fewer only at the end of the file; returns how many. Counts the calls and the bytes in
/// `(reads, bytes)`, the figures the benchmarks report.
pub(crate) fn fill(
    file: &File,
    buf: &mut Vec<u8>,
    at: u64,
    want: usize,
    (reads, bytes): (&mut u64, &mut u64),
) -> io::Result<usize> {
    grow(buf, want);
    let mut filled = 0;
    while filled < want {
        let n = platform::read_at(file, &mut buf[filled..want], at + filled as u64)?;
        *reads += 1;
        if n == 0 {
            break;
        }
        filled += n;
        *bytes += n as u64;
    }
    Ok(filled)
}

/// A forward reader of records and defects, whatever the format.
pub trait Reader {
    /// The next record or defect.
    fn next_item(&mut self) -> io::Result<Item>;

    /// The payload of the record just returned, if the reader still holds it in memory.
    fn payload(&self, _record: &Record) -> Option<&[u8]> {
        None
    }

    /// Feed a record's payload to `f` in pieces of at most [`WINDOW`] bytes.
    fn read_payload(
        &mut self,
        record: &Record,
        f: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()>;

    /// Step over the valid records that follow, while they start before `limit`, where the
    /// reader can tell them valid without building an [`Item`] for each (durable's own CRC-32
    /// records already in its window): what they add up to. It stops before anything else
    /// (damage, a record it cannot check this way, the end of its window), and the next
    /// [`Reader::next_item`] goes on from there exactly as if each had been returned. Readers
    /// that cannot do this step over none (the default).
    fn skip_valid(&mut self, _limit: u64) -> io::Result<Skipped> {
        Ok(Skipped::default())
    }

    /// Where the next record would start (after a torn tail: the end of the valid prefix).
    fn position(&self) -> u64;

    /// Take a new look at the file's size (`dump --follow`); `Ok(true)` if it changed.
    fn refresh(&mut self) -> io::Result<bool>;

    /// Bytes and read calls made so far.
    fn io_stats(&self) -> (u64, u64);

    /// The last `n` records without reading the whole file, if the format allows it; `None`:
    /// read forward.
    fn last_records(&mut self, _n: u64) -> io::Result<Option<Vec<Record>>> {
        Ok(None)
    }
}

/// The log formats durable reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// durable's own (docs/FORMAT.md).
    Native,
    /// A text log of one entry per line: the entry, a space, its SHA-256 as 64 lowercase hex
    /// digits, a newline.
    Lines,
    /// proglog's store (8-byte big-endian length + data) and index (12-byte entries).
    Proglog,
    /// Files of the Go `aof` package (tail and checkpoint magics, zero-filled).
    Aof,
}

impl LogFormat {
    /// The stable name used in reports and by `--log-format`.
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Native => "native",
            LogFormat::Lines => "lines",
            LogFormat::Proglog => "proglog",
            LogFormat::Aof => "aof",
        }
    }

    /// A file of this format, in a sentence ("a lines log", "an aof file"; a proglog file is
    /// called a store: [`Layout::described`] tells a store from an index).
    pub fn described(self) -> &'static str {
        match self {
            LogFormat::Native => "a native log",
            LogFormat::Lines => "a lines log",
            LogFormat::Proglog => "a proglog store",
            LogFormat::Aof => "an aof file",
        }
    }
}

/// A file that belongs to an open log.
pub struct Part {
    /// Its path.
    pub path: PathBuf,
    /// The file.
    pub file: File,
    /// Its size when opened.
    pub size: u64,
}

impl Part {
    /// Whether the path still names this file (following symlinks), as `tail -F` checks: a
    /// `NotFound` error when nothing is there now.
    pub fn at_path(&self) -> io::Result<bool> {
        let now = std::fs::metadata(&self.path)?;
        Ok(platform::same_file(&now, &self.file.metadata()?))
    }
}

/// What an open log is.
#[derive(Debug, Clone, Copy)]
pub enum Layout {
    /// A native log with this header.
    Native(FileHeader),
    /// A lines log.
    Lines,
    /// A proglog store, with its index in [`Log::index`] if there is one.
    ProglogStore,
    /// A proglog index read alone (no store).
    ProglogIndex,
    /// An aof file, analysed when opened.
    Aof(aof::Analysis),
    /// A native log whose header is lost (zeroed or damaged) or not its own, read with this
    /// header: the salt and algorithm recovered from its records ([`super::lost`]).
    Lost(FileHeader, HeaderLoss),
    /// A file with no native header in which a native log may have been started
    /// (docs/FORMAT.md, "A log's start"): nothing in it can be read as a record.
    Unstarted(Start),
}

/// How a [`Layout::Lost`] log lost its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderLoss {
    /// Its first 64 bytes do not decode as a header (zeroed, or damaged).
    Damaged,
    /// They decode, with a valid checksum, but name a salt or checksum algorithm its records
    /// do not validate under (another log's header, or its salt or algorithm byte changed and
    /// the checksum fixed): the records' own, recovered from them, reads them.
    NotItsOwn,
}

/// What a file that holds no native header is, where a native log may have been started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Shorter than a header and the start of a valid one, or no longer than a header and only
    /// zero bytes: a start cut short by a crash (a header written in place into an empty
    /// file). It cannot hold an acknowledged record: a torn tail at offset 0.
    Torn,
    /// Only zero bytes, more than a header's length: a start that never reached the disk, or a
    /// log whose bytes were zeroed; the bytes cannot tell, so it is corruption, which only
    /// `--force` cuts.
    Zeros,
}

impl Start {
    /// What the file at `file` (`size` bytes, more than 0) is, if it is either. `named`: the
    /// user named the file (a walk passes over files of only zeros, whatever their length).
    pub(crate) fn of(file: &File, size: u64, named: bool) -> io::Result<Option<Start>> {
        let mut raw = [0u8; FILE_HEADER_LEN as usize];
        let got = read_prefix(file, size, &mut raw)?;
        // In a walk, at least the whole magic: a file of a byte or two that happen to start
        // it (`0x89` starts PNG's signature too) is not provably ours.
        let magic = super::format::FILE_MAGIC.len() as u64;
        if size > 0
            && size < FILE_HEADER_LEN
            && (named || size >= magic)
            && super::format::is_header_prefix(&raw[..got])
        {
            return Ok(Some(Start::Torn));
        }
        if size > 0 && raw[..got].iter().all(|b| *b == 0) && all_zero(file, size)? {
            // No longer than a header: no record can be in it, so nothing acknowledged can be
            // lost by cutting it (the size of a header written in place reached the disk, its
            // bytes did not, as XFS and others leave a file extended just before a power loss).
            if named && size <= FILE_HEADER_LEN {
                return Ok(Some(Start::Torn));
            }
            return Ok(Some(Start::Zeros));
        }
        Ok(None)
    }

    /// The checksum algorithm a torn start names, if it holds the byte that says it (offset 10
    /// of the header): the algorithm of the log that was being started. `file` holds the start
    /// at offset 0 (a log, or a sidecar's kept bytes), `size` bytes of it.
    pub(crate) fn algorithm(file: &File, size: u64) -> Option<super::format::Algorithm> {
        let mut raw = [0u8; FILE_HEADER_LEN as usize];
        let got = read_prefix(file, size.min(FILE_HEADER_LEN - 1), &mut raw).ok()?;
        if got <= 10 || !super::format::is_header_prefix(&raw[..got]) {
            return None;
        }
        super::format::Algorithm::from_code(raw[10])
    }

    /// The one defect such a file holds: at offset 0, cut there.
    pub(crate) fn defect(self) -> super::item::Defect {
        use super::item::{Defect, DefectKind, Evidence};
        let (kind, evidence) = match self {
            Start::Torn => (DefectKind::Truncated, Evidence::EndOfFile),
            Start::Zeros => (DefectKind::ZeroFill, Evidence::ZeroFile),
        };
        Defect {
            offset: 0,
            kind,
            next_valid: None,
            in_index: false,
            cut: 0,
            evidence,
        }
    }
}

/// Whether a file of only zero bytes at `path` may be a native log whose start is lost: not
/// when its name is one the aof package or proglog gives its (preallocated, zero-filled) files.
pub(crate) fn zeros_may_be_native(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    ![".aof", ".store", ".index"]
        .iter()
        .any(|suffix| name.ends_with(suffix))
}

/// Whether the first `size` bytes of `file` are all zero (read in windows of bounded size).
pub(crate) fn all_zero(file: &File, size: u64) -> io::Result<bool> {
    let mut zero = true;
    let stop = || io::Error::other("non-zero");
    match read_range(file, 0, size, &mut |chunk| {
        if chunk.iter().all(|b| *b == 0) {
            Ok(())
        } else {
            zero = false;
            Err(stop())
        }
    }) {
        Ok(_) => Ok(zero),
        Err(_) if !zero => Ok(false),
        Err(e) => Err(e),
    }
}

/// The reader of an [`Layout::Unstarted`] file (or of its bytes kept in a sidecar).
pub(crate) fn start_reader<'a>(start: Start) -> Box<dyn Reader + 'a> {
    Box::new(StartReader { start, done: false })
}

/// The reader of an [`Layout::Unstarted`] file: its one defect, then the end.
struct StartReader {
    start: Start,
    done: bool,
}

impl Reader for StartReader {
    fn next_item(&mut self) -> io::Result<Item> {
        if std::mem::replace(&mut self.done, true) {
            return Ok(Item::End);
        }
        Ok(Item::Defect(self.start.defect()))
    }

    fn read_payload(
        &mut self,
        _record: &Record,
        _f: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        Ok(())
    }

    fn position(&self) -> u64 {
        0
    }

    fn refresh(&mut self) -> io::Result<bool> {
        Ok(false)
    }

    fn io_stats(&self) -> (u64, u64) {
        (0, 0)
    }
}

/// The reader of a [`Layout::Lost`] log: the lost header's defect (corruption at offset 0),
/// then its records as the recovered header reads them. The defect names where the first valid
/// record is, so the first item after it is read before the defect is returned, and held.
struct LostReader<'f> {
    reported: bool,
    stop: bool,
    loss: HeaderLoss,
    /// The item read to find the first valid record, not yet returned.
    held: Option<Item>,
    inner: NativeReader<'f>,
}

/// The defect a native log whose header is lost holds at offset 0: `next_valid`, where its
/// first valid record is (64 unless record 0 is damaged or gone with the header).
pub(crate) fn lost_header_defect(loss: HeaderLoss, next_valid: Option<u64>) -> super::item::Defect {
    super::item::Defect {
        offset: 0,
        kind: super::item::DefectKind::BadHeader,
        next_valid,
        in_index: false,
        cut: 0,
        evidence: match loss {
            HeaderLoss::Damaged => super::item::Evidence::HeaderLost,
            HeaderLoss::NotItsOwn => super::item::Evidence::HeaderMismatch,
        },
    }
}

impl Reader for LostReader<'_> {
    fn next_item(&mut self) -> io::Result<Item> {
        if !self.reported {
            let first = self.inner.next_item()?;
            let next_valid = match &first {
                Item::Record(r) => Some(r.offset),
                Item::Defect(d) => d.next_valid,
                Item::End => None,
            };
            self.reported = true;
            self.held = Some(first);
            return Ok(Item::Defect(lost_header_defect(self.loss, next_valid)));
        }
        if self.stop {
            return Ok(Item::End);
        }
        if let Some(item) = self.held.take() {
            return Ok(item);
        }
        self.inner.next_item()
    }

    fn payload(&self, record: &Record) -> Option<&[u8]> {
        self.inner.payload(record)
    }

    fn read_payload(
        &mut self,
        record: &Record,
        f: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        self.inner.read_payload(record, f)
    }

    fn skip_valid(&mut self, limit: u64) -> io::Result<Skipped> {
        if !self.reported || self.stop || self.held.is_some() {
            return Ok(Skipped::default());
        }
        Ok(self.inner.skip_valid(limit))
    }

    fn position(&self) -> u64 {
        match &self.held {
            _ if !self.reported => 0,
            Some(Item::Record(r)) => r.offset,
            Some(Item::Defect(d)) => d.offset,
            _ => self.inner.position(),
        }
    }

    fn refresh(&mut self) -> io::Result<bool> {
        self.inner.refresh()
    }

    fn io_stats(&self) -> (u64, u64) {
        self.inner.io_stats()
    }
}

impl Layout {
    /// The format.
    pub fn format(&self) -> LogFormat {
        match self {
            Layout::Native(_) | Layout::Lost(..) | Layout::Unstarted(_) => LogFormat::Native,
            Layout::Lines => LogFormat::Lines,
            Layout::ProglogStore | Layout::ProglogIndex => LogFormat::Proglog,
            Layout::Aof(_) => LogFormat::Aof,
        }
    }

    /// What the file is, in a sentence: "a native log", "a proglog index", "an aof file" (the
    /// one wording every message uses).
    pub fn described(&self) -> &'static str {
        match self {
            Layout::Native(_) => "a native log",
            Layout::Lines => "a lines log",
            Layout::ProglogStore => "a proglog store",
            Layout::ProglogIndex => "a proglog index",
            Layout::Aof(_) => "an aof file",
            Layout::Unstarted(_) => "a native log whose start is lost",
            Layout::Lost(..) => "a native log whose header is lost",
        }
    }
}

/// A log of any format, open for reading.
pub struct Log {
    /// How its bytes are read.
    pub layout: Layout,
    /// The main file: the log (the store for a proglog pair, the index for an index alone).
    pub main: Part,
    /// The index of a proglog store.
    pub index: Option<Part>,
}

impl Log {
    /// A forward reader from the first record.
    pub fn reader(&self, on_damage: OnDamage) -> Box<dyn Reader + '_> {
        match self.layout {
            Layout::Native(header) => Box::new(NativeReader::new(
                &self.main.file,
                header,
                self.main.size,
                FILE_HEADER_LEN,
                0,
                on_damage,
            )),
            Layout::Lines => Box::new(lines::LinesReader::new(
                &self.main.file,
                self.main.size,
                0,
                on_damage,
            )),
            Layout::ProglogStore => Box::new(proglog::StoreReader::new(
                &self.main.file,
                self.main.size,
                self.index.as_ref().map(|i| (&i.file, i.size)),
                on_damage,
            )),
            Layout::ProglogIndex => {
                Box::new(proglog::IndexReader::new(&self.main.file, self.main.size))
            }
            Layout::Aof(analysis) => Box::new(aof::AofReader::new(&self.main.file, analysis)),
            Layout::Unstarted(start) => Box::new(StartReader { start, done: false }),
            Layout::Lost(header, loss) => Box::new(LostReader {
                reported: false,
                stop: on_damage == OnDamage::Stop,
                loss,
                held: None,
                inner: NativeReader::new(
                    &self.main.file,
                    header,
                    self.main.size,
                    FILE_HEADER_LEN,
                    0,
                    on_damage,
                ),
            }),
        }
    }

    /// The format.
    pub fn format(&self) -> LogFormat {
        self.layout.format()
    }
}

/// How to open a log.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// The format, instead of detecting it.
    pub format: Option<LogFormat>,
    /// A proglog index to read with the store (instead of `<base>.index`).
    pub index: Option<PathBuf>,
    /// Open the files for writing too (recover).
    pub write: bool,
    /// A proglog index named by the user is read alone, even with its store beside it (`dump`
    /// of an index shows its entries).
    pub index_alone: bool,
    /// Read a file named as a lines log even if none of its lines checks out (`recover
    /// --force`); otherwise such a file is not a lines log.
    pub force: bool,
    /// A file that holds only zero bytes is read as a native log whose start is lost
    /// ([`Start::Zeros`]: corrupt) rather than as no log: for a file named by the user (a
    /// directory walk passes over such files, which are most often not logs at all). Also: a
    /// file detection finds no format in is said to be perhaps a lines log whose first line
    /// was cut short ([`TORN_LINES`]) when it can be one.
    pub zeros: bool,
}

impl OpenOptions {
    fn access(&self) -> Access {
        if self.write {
            Access::ReadWrite
        } else {
            Access::Read
        }
    }
}

fn inspect(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Inspect {
        path: path.to_path_buf(),
        source,
    }
}

/// How a log's files are opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// For reading only (every command but a repair).
    Read,
    /// For reading and writing (a repair).
    ReadWrite,
}

impl Part {
    /// Open a file found beside the one named (a proglog store's index or store) as a [`Part`]:
    /// a regular file, never through a symlink (`O_NOFOLLOW`; one put there since it was
    /// looked at is an error, not followed).
    pub fn open_sibling(path: &Path, access: Access) -> Result<Part> {
        let file =
            platform::open_no_follow(path, access == Access::ReadWrite).map_err(inspect(path))?;
        let meta = file.metadata().map_err(inspect(path))?;
        if !meta.is_file() {
            return Err(Error::NotRegular {
                path: path.to_path_buf(),
                kind: platform::kind_of(meta.file_type()),
            });
        }
        Ok(Part {
            path: path.to_path_buf(),
            file,
            size: meta.len(),
        })
    }

    /// Open a regular file as a [`Part`]; `-` (standard input), a FIFO or a socket is read to its
    /// end first (see [`super::stream`]), and cannot be opened for writing.
    pub fn open(path: &Path, access: Access) -> Result<Part> {
        match super::stream::open(path)? {
            None => {}
            Some(_) if access == Access::ReadWrite => {
                return Err(Error::Unsupported {
                    path: path.to_path_buf(),
                    why: "a stream (standard input, a pipe) cannot be repaired in place: save it to a file and name that".into(),
                });
            }
            Some(super::stream::Opened::File(part)) => return Ok(part),
            Some(super::stream::Opened::Stream(mut stream)) => {
                stream.read_to_end()?;
                return stream.part();
            }
        }
        let meta = std::fs::metadata(path).map_err(inspect(path))?;
        if !meta.is_file() {
            return Err(Error::NotRegular {
                path: path.to_path_buf(),
                kind: platform::kind_of(meta.file_type()),
            });
        }
        let file = File::options()
            .read(true)
            .write(access == Access::ReadWrite)
            .open(path)
            .map_err(inspect(path))?;
        let size = file.metadata().map_err(inspect(path))?.len();
        Ok(Part {
            path: path.to_path_buf(),
            file,
            size,
        })
    }
}

/// The proglog file that goes with `path` by name (`<base>.store` and `<base>.index`): a regular
/// file, not a symlink, and the pair's index starts as every proglog index does (see
/// [`index_vouches`]). The user did not name it, so it is never followed and never taken on its
/// name alone: recover rewrites an index, and a link beside a store could point anywhere
/// (outside the tree walked, to a file of another user), a file named so could be anything.
pub fn proglog_sibling(path: &Path) -> Option<PathBuf> {
    // Named through a symlink: the file beside the one it points to, as recover (which
    // follows the link first) pairs it; a link's own directory holds no segment.
    let resolved;
    let path = if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        resolved = crate::target::resolve(path, crate::target::Symlinks::Follow)
            .ok()?
            .path;
        resolved.as_path()
    } else {
        path
    };
    // Bytes, not str: a base name that is not UTF-8 pairs too.
    let name = crate::platform::name_bytes(path.file_name()?);
    let (other, is_index) = if let Some(base) = name.strip_suffix(b".store") {
        ([base, b".index"].concat(), false)
    } else {
        ([name.strip_suffix(b".index")?, b".store"].concat(), true)
    };
    let sibling = path.with_file_name(crate::platform::name_from_bytes(other));
    let regular = std::fs::symlink_metadata(&sibling).is_ok_and(|m| m.file_type().is_file());
    let (index, store) = if is_index {
        (path, sibling.as_path())
    } else {
        (sibling.as_path(), path)
    };
    (regular && index_vouches(index, store)).then_some(sibling)
}

/// Whether a file named `.index` is the index of the store beside it: it starts as every
/// proglog index does (empty, or its first 12 bytes, entry 0, which is (0, 0), or zero padding,
/// all zero), or one of its later entries is exactly the one the store calls for
/// ([`proglog::index_agrees`]: its own index with a damaged entry 0). Only such a file is
/// paired with the store beside it (an index named with `--with-index` is paired whatever it
/// holds).
fn index_vouches(path: &Path, store: &Path) -> bool {
    let Ok(file) = platform::open_no_follow(path, false) else {
        return false;
    };
    let size = file.metadata().map_or(0, |m| m.len());
    let mut first = [0u8; FILE_HEADER_LEN as usize];
    let got = read_prefix(&file, size, &mut first).unwrap_or(0);
    let entry = (proglog::ENTRY_WIDTH as usize).min(got);
    if first[..entry].iter().all(|b| *b == 0) {
        // Unless it is a native log whose zeroed header was all of it, its salt recovered from
        // its records: those validate, where an index has no checksum to refuse them
        // (docs/FORMAT.md, "A lost header"); it is read alone, as a native log.
        return !(got == first.len()
            && first.iter().all(|b| *b == 0)
            && header_lost(&file, size).is_ok_and(|l| l.is_some_and(|l| l.header.is_some())));
    }
    let Ok(store) = platform::open_no_follow(store, false) else {
        return false;
    };
    let store_size = store.metadata().map_or(0, |m| m.len());
    proglog::index_agrees(&store, store_size, &file, size).unwrap_or(false)
}

/// A `<base>.index` whose `<base>.store` is beside it: read (and reported) with its store.
pub fn is_paired_index(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| crate::platform::name_bytes(n).ends_with(b".index"))
        && proglog_sibling(path).is_some()
}

/// Open the log at `path`, detecting its format unless `opts.format` names it.
pub fn open(path: &Path, opts: &OpenOptions) -> Result<Log> {
    Log::from_part(Part::open(path, opts.access())?, opts)
}

impl Log {
    /// [`open`] on a file already open (a stream's spool, standard input).
    pub fn from_part(main: Part, opts: &OpenOptions) -> Result<Log> {
        let path = main.path.clone();
        let path = path.as_path();
        // A sidecar kept by recover is never read as a log, whatever its bytes look like.
        if let Some(trailer) =
            crate::recover::sidecar::identify(&main.file, main.size).map_err(inspect(path))?
        {
            return Err(crate::recover::sidecar::is_sidecar_error(path, &trailer));
        }
        // Only the suffix matters to detection, so a name that is not UTF-8 is read lossily.
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let (format, analysed) = match opts.format {
            Some(f) => (f, None),
            None => match detect(&main, &name, opts.index.as_deref(), opts.zeros) {
                Err(Error::NotALog { why: ZEROS, .. })
                    if opts.zeros && zeros_may_be_native(path) =>
                {
                    (LogFormat::Native, None)
                }
                // A byte or a few of the magic, met in a walk: not provably ours (named, a
                // torn start: [`Start`]).
                Ok((LogFormat::Native, _))
                    if !opts.zeros && main.size < super::format::FILE_MAGIC.len() as u64 =>
                {
                    return Err(Error::NotALog {
                        path: path.to_path_buf(),
                        why: "it is shorter than the log magic",
                        damaged_header: false,
                        format: None,
                    });
                }
                // Records of a native log whose header is lost (zeroed by the disk, say):
                // only a chain of native records at offset 64 that agree on one salt.
                Err(Error::NotALog { why, .. })
                    if why != EMPTY
                        && why != ZEROS
                        && header_lost(&main.file, main.size)
                            .map_err(inspect(path))?
                            .is_some() =>
                {
                    (LogFormat::Native, None)
                }
                detected => detected?,
            },
        };
        let layout = match format {
            LogFormat::Native => match read_native_header(&main) {
                // A header that decodes but is not its records' (docs/FORMAT.md, "A lost
                // header"): looked into only when record 0 does not frame under it.
                Ok(header) => match super::lost::not_its_own(&main.file, main.size, &header)
                    .map_err(inspect(path))?
                    .and_then(|lost| lost.header)
                {
                    Some(own) => Layout::Lost(own, HeaderLoss::NotItsOwn),
                    None => Layout::Native(header),
                },
                Err(e) => {
                    match Start::of(&main.file, main.size, opts.zeros).map_err(inspect(path))? {
                        Some(Start::Zeros) if !opts.zeros => return Err(e),
                        Some(start) => Layout::Unstarted(start),
                        None => lost_layout(&main).map_err(inspect(path))?.ok_or(e)??,
                    }
                }
            },
            LogFormat::Lines => {
                // Named as lines: a file in which no line checks out cannot be told from a text
                // file, and must not be read (and cut) as a damaged log; but one that holds no
                // newline and only text, named so (the file itself, not met in a walk), is a
                // log whose first line was cut short (a torn tail at 0, docs/FORMAT.md "A log's
                // start").
                let mut questions = lines::Questions::new(&main.file, main.size);
                if opts.format.is_some()
                    && !opts.force
                    && main.size > 0
                    && !questions.any_valid_line().map_err(inspect(path))?
                    && !(opts.zeros && questions.torn_first_line().map_err(inspect(path))?)
                {
                    return Err(Error::NotALog {
                        path: path.to_path_buf(),
                        why: "none of its lines ends with a space and the SHA-256 of its entry; \
                              it was left as it is",
                        damaged_header: false,
                        format: Some(LogFormat::Lines.name()),
                    });
                }
                Layout::Lines
            }
            LogFormat::Aof => Layout::Aof(match analysed {
                Some(a) => a,
                None => aof::analyse(&main.file, main.size).map_err(inspect(path))?,
            }),
            LogFormat::Proglog => {
                // A file named `.index`, or an index by content, read alone unless its store is
                // there; everything else is a store.
                let is_index = name.ends_with(".index")
                    || (!name.ends_with(".store")
                        && opts.index.is_none()
                        && proglog::looks_like_index(&main.file, main.size)
                            .map_err(inspect(path))?);
                if is_index && opts.index.is_none() {
                    if let Some(store) = proglog_sibling(path).filter(|_| !opts.index_alone) {
                        let index = main;
                        let main = Part::open_sibling(&store, opts.access())?;
                        return named_store(
                            Log {
                                layout: Layout::ProglogStore,
                                main,
                                index: Some(index),
                            },
                            opts,
                        );
                    }
                    Layout::ProglogIndex
                } else {
                    let index = match &opts.index {
                        Some(i) => Some(named_index(&main, Part::open(i, opts.access())?)?),
                        None => match proglog_sibling(path) {
                            Some(i) => Some(Part::open_sibling(&i, opts.access())?),
                            None => None,
                        },
                    };
                    return named_store(
                        Log {
                            layout: Layout::ProglogStore,
                            main,
                            index,
                        },
                        opts,
                    );
                }
            }
        };
        Ok(Log {
            layout,
            main,
            index: None,
        })
    }
}

/// A proglog store read so because the format was named (`--log-format proglog`): a file in
/// which nothing is proglog's ([`proglog::forced_store_is_proglog`]: no record chains and the
/// bytes are no store whose first record was cut short) is not a proglog store (exit 2, left
/// as it is), as a file named as lines in which no line checks out is not a lines log: read as
/// "a torn tail at offset 0", `recover` would empty any file. `--force` reads it anyway.
fn named_store(log: Log, opts: &OpenOptions) -> Result<Log> {
    if opts.format.is_none() || opts.force {
        return Ok(log);
    }
    let index = log.index.as_ref().map(|i| (&i.file, i.size));
    if proglog::forced_store_is_proglog(&log.main.file, log.main.size, index)
        .map_err(inspect(&log.main.path))?
    {
        return Ok(log);
    }
    Err(Error::NotALog {
        path: log.main.path.clone(),
        why: proglog::NOT_A_STORE,
        damaged_header: false,
        format: Some(LogFormat::Proglog.name()),
    })
}

/// The layout of a native log whose header is lost, if `main` is one: its records' header
/// (`Err`: the salt cannot be recovered, corruption that nothing can be checked in).
fn lost_layout(main: &Part) -> io::Result<Option<Result<Layout>>> {
    let (raw, got) = super::lost::raw_start(&main.file, main.size)?;
    let Some(lost) = super::lost::find(&main.file, main.size, &raw[..got])? else {
        return Ok(None);
    };
    Ok(Some(match lost.header {
        Some(header) => Ok(Layout::Lost(header, HeaderLoss::Damaged)),
        None => Err(Error::NotALog {
            path: main.path.clone(),
            why: LOST_NO_SALT,
            damaged_header: true,
            format: None,
        }),
    }))
}

/// An index the user named for a store (`--with-index`): `recover` rewrites it from the store,
/// so it must be another file than the store, and not a log of another format by its content
/// (a native or lines log, an aof file, a proglog store).
fn named_index(store: &Part, index: Part) -> Result<Part> {
    let meta = |p: &Part| p.file.metadata().map_err(inspect(&p.path));
    let refuse = |why: String| {
        Err(Error::Unsupported {
            path: index.path.clone(),
            why,
        })
    };
    if platform::same_file(&meta(store)?, &meta(&index)?) {
        return refuse(format!(
            "given with --with-index, it is the store itself ({}), not its index; nothing was \
             changed",
            crate::quote::quoted(&store.path)
        ));
    }
    // By content only: an empty name takes no name-based rule.
    let other = match detect(&index, "", None, false) {
        Ok((LogFormat::Proglog, _)) => {
            let store_like = !proglog::looks_like_index(&index.file, index.size)
                .map_err(inspect(&index.path))?
                && proglog::looks_like_store(&index.file, index.size)
                    .map_err(inspect(&index.path))?;
            store_like.then_some("a proglog store")
        }
        Ok((LogFormat::Aof, _)) => Some("an aof file"),
        Ok((LogFormat::Lines, _)) => Some("a lines log"),
        Ok((LogFormat::Native, _)) => Some("a native log"),
        // Damaged or zero-padded entries are an index to rebuild.
        Err(Error::NotALog { .. }) => None,
        Err(e) => return Err(e),
    };
    if let Some(other) = other {
        return refuse(format!(
            "given with --with-index, it reads as {other}, not a proglog index (recover would \
             overwrite it with the store's index); nothing was changed"
        ));
    }
    Ok(index)
}

fn read_native_header(part: &Part) -> Result<FileHeader> {
    native_header(&part.file, &part.path, part.size)
}

/// The native header of `file` (`size` bytes), or why it has none.
pub(crate) fn native_header(file: &File, path: &Path, size: u64) -> Result<FileHeader> {
    let mut raw = [0u8; FILE_HEADER_LEN as usize];
    let got = read_prefix(file, size, &mut raw).map_err(inspect(path))?;
    let why = match FileHeader::decode(&raw[..got]) {
        Ok(header) => return Ok(header),
        Err(HeaderError::NotALog) if size == 0 => EMPTY,
        Err(HeaderError::NotALog) => "it does not start with the log magic",
        Err(HeaderError::Truncated) => "its header is cut short",
        Err(HeaderError::Damaged) => "its header is damaged (checksum mismatch)",
        Err(HeaderError::Unsupported) => {
            "its header names a version or checksum this durable does not know"
        }
    };
    Err(Error::NotALog {
        path: path.to_path_buf(),
        why,
        damaged_header: !matches!(FileHeader::decode(&raw[..got]), Err(HeaderError::NotALog)),
        format: None,
    })
}

/// Read the first bytes of a file (as many as fit `buf` and the file); returns how many.
pub(crate) fn read_prefix(file: &File, size: u64, buf: &mut [u8]) -> io::Result<usize> {
    let want = buf.len().min(usize::try_from(size).unwrap_or(buf.len()));
    let mut got = 0;
    while got < want {
        let n = platform::read_at(file, &mut buf[got..want], got as u64)?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(got)
}

/// Whether a file named `<base>.store` or `<base>.index` is proglog's: the name is not enough,
/// the store's bytes (or the start of its index) must agree, and an index without its store
/// must read as an index (docs/FORMAT.md, "Detection", rule 2). A store given with an index
/// the user named (`--with-index`) is one: the user said so.
fn proglog_by_name(part: &Part, name: &str, index: Option<&Path>) -> io::Result<bool> {
    if index.is_some() {
        return Ok(true);
    }
    let size_of = |f: &File| f.metadata().map(|m| m.len());
    if name.ends_with(".index") {
        let Some(store) = proglog_sibling(&part.path) else {
            return proglog::named_index_is_proglog(&part.file, part.size);
        };
        let store = platform::open_no_follow(&store, false)?;
        let store_size = size_of(&store)?;
        return proglog::named_store_is_proglog(&store, store_size, Some((&part.file, part.size)));
    }
    // An index that cannot be opened gives no evidence; the store's own bytes still may.
    let index =
        proglog_sibling(&part.path).and_then(|path| platform::open_no_follow(&path, false).ok());
    let index_size = match &index {
        Some(f) => Some(size_of(f)?),
        None => None,
    };
    proglog::named_store_is_proglog(&part.file, part.size, index.as_ref().zip(index_size))
}

/// The format detection finds for the open file `file` (`size` bytes) at `path`, if any: for
/// messages that name what a file is.
pub(crate) fn format_of(file: &File, path: &Path, size: u64) -> Result<Option<LogFormat>> {
    let part = Part {
        path: path.to_path_buf(),
        file: file.try_clone().map_err(inspect(path))?,
        size,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    match detect(&part, &name, None, false) {
        Ok((format, _)) => Ok(Some(format)),
        Err(Error::NotALog { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Decide a file's format from its name and content (docs/FORMAT.md, "Detection"); for an aof
/// file, with the analysis detection made (so the file is not read again to open it). `index`:
/// a proglog index named by the user. `named`: the user named the file (a walk does not say
/// that a file may be a lines log whose first line was cut short, [`TORN_LINES`]).
fn detect(
    part: &Part,
    name: &str,
    index: Option<&Path>,
    named: bool,
) -> Result<(LogFormat, Option<aof::Analysis>)> {
    let io = inspect(&part.path);
    let mut head = [0u8; aof::HEAD];
    let got = read_prefix(&part.file, part.size, &mut head).map_err(io)?;
    let head = &head[..got];
    // Native: the magic (a damaged header is still ours: reported as such).
    if got > 0 && head[..got.min(8)] == super::format::FILE_MAGIC[..got.min(8)] {
        return Ok((LogFormat::Native, None));
    }
    if (name.ends_with(".store") || name.ends_with(".index"))
        && proglog_by_name(part, name, index).map_err(inspect(&part.path))?
    {
        // A native log whose header is lost, named so, also reads as a damaged proglog file
        // (an index has no checksum to refuse it): its records, validated under the salt
        // recovered from them, are the stronger evidence (docs/FORMAT.md, "A lost header").
        if index.is_none()
            && header_lost(&part.file, part.size)
                .map_err(inspect(&part.path))?
                .is_some_and(|l| l.header.is_some())
        {
            return Ok((LogFormat::Native, None));
        }
        return Ok((LogFormat::Proglog, None));
    }
    let io = inspect(&part.path);
    // Asked whether it is a lines log, then perhaps whether it is a torn first line: its first
    // line is read once for both.
    let mut lines_questions = lines::Questions::new(&part.file, part.size);
    let found = (|| -> io::Result<Result<(LogFormat, Option<aof::Analysis>), bool>> {
        if part.size == 0 {
            return Ok(Err(false));
        }
        // An aof file whose data ends with a magic first: 8 magic bytes at the end are the
        // strongest sign there is, and the data before them can be anything (lines included).
        if aof::ends_with_magic(&part.file, part.size)? {
            return Ok(Ok((
                LogFormat::Aof,
                Some(aof::analyse(&part.file, part.size)?),
            )));
        }
        // A file named `.aof` with the shape a write cut short leaves is the package's, whatever
        // its data looks like (a lines log among them): read as lines, recover would cut it and
        // change the size the package maps it at.
        let named_aof = name.ends_with(".aof");
        let aof_named = if named_aof {
            match aof::detect(&part.file, part.size, head, true)? {
                Ok(a) => return Ok(Ok((LogFormat::Aof, Some(a)))),
                Err(zeros) => Some(zeros),
            }
        } else {
            None
        };
        if lines_questions.looks_like_lines()? {
            return Ok(Ok((LogFormat::Lines, None)));
        }
        if proglog::looks_like_index(&part.file, part.size)?
            || proglog::looks_like_store(&part.file, part.size)?
        {
            return Ok(Ok((LogFormat::Proglog, None)));
        }
        // Not detected (an `.aof` file was asked above); say whether it held only zeros.
        let zeros = match aof_named {
            Some(zeros) => zeros,
            None => match aof::detect(&part.file, part.size, head, false)? {
                Ok(a) => return Ok(Ok((LogFormat::Aof, Some(a)))),
                Err(zeros) => zeros,
            },
        };
        Ok(Err(zeros))
    })()
    .map_err(io)?;
    let zeros = match found {
        Ok(detected) => return Ok(detected),
        Err(zeros) => zeros,
    };
    // A store whose index the user named (`--with-index`), whatever its name, that no other
    // format claims: the index says what it is (docs/FORMAT.md, "Detection", rule 2).
    if index.is_some() {
        return Ok((LogFormat::Proglog, None));
    }
    let why = if part.size == 0 {
        EMPTY
    } else if zeros {
        ZEROS
    } else if aof::is_redis(head) {
        REDIS
    } else if named
        && lines_questions
            .torn_first_line()
            .map_err(inspect(&part.path))?
    {
        TORN_LINES
    } else {
        UNKNOWN_FORMAT
    };
    Err(Error::NotALog {
        path: part.path.clone(),
        why,
        damaged_header: false,
        format: None,
    })
}

/// Feed bytes `[offset, offset + len)` of `file` to `f` in pieces of at most
/// [`WINDOW`] bytes. Returns (bytes read, read calls).
pub(crate) fn read_range(
    file: &File,
    offset: u64,
    len: u64,
    f: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<(u64, u64)> {
    let window = WINDOW as u64;
    let mut chunk = vec![0u8; len.min(window) as usize];
    let (mut at, end) = (offset, offset + len);
    let mut reads = 0;
    while at < end {
        let n = (end - at).min(window) as usize;
        let mut filled = 0;
        while filled < n {
            let got = platform::read_at(file, &mut chunk[filled..n], at + filled as u64)?;
            reads += 1;
            if got == 0 {
                return Err(shrank());
            }
            filled += got;
        }
        f(&chunk[..n])?;
        at += n as u64;
    }
    Ok((len, reads))
}

pub(crate) fn shrank() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the file became shorter while it was read",
    )
}

/// A read window over a file for the foreign readers: bounded memory, few `pread` calls.
pub(crate) struct Window<'f> {
    file: &'f File,
    /// The file's size as the reader sees it.
    pub size: u64,
    buf: Vec<u8>,
    start: u64,
    len: usize,
    pub bytes_read: u64,
    pub reads: u64,
}

impl<'f> Window<'f> {
    pub(crate) fn new(file: &'f File, size: u64) -> Window<'f> {
        Window {
            file,
            size,
            buf: Vec::new(),
            start: 0,
            len: 0,
            bytes_read: 0,
            reads: 0,
        }
    }

    /// Up to `len` bytes (at most [`WINDOW`]) from `offset`, fewer at the end of
    /// the file.
    pub(crate) fn get(&mut self, offset: u64, len: usize) -> io::Result<&[u8]> {
        let len = len
            .min(WINDOW)
            .min(usize::try_from(self.size.saturating_sub(offset)).unwrap_or(usize::MAX));
        if offset >= self.start && offset + len as u64 <= self.start + self.len as u64 {
            let s = (offset - self.start) as usize;
            return Ok(&self.buf[s..s + len]);
        }
        let want = usize::try_from(self.size - offset)
            .unwrap_or(WINDOW)
            .min(WINDOW);
        let filled = fill(
            self.file,
            &mut self.buf,
            offset,
            want,
            (&mut self.reads, &mut self.bytes_read),
        )?;
        self.start = offset;
        self.len = filled;
        if filled < len {
            return Err(shrank());
        }
        Ok(&self.buf[..len])
    }

    /// The bytes from `offset` to the end of what is held, reading a new window there if
    /// `offset` is not inside it; empty only at the end of the file. For scans, which take
    /// whatever comes next: asking [`Window::get`] for a whole window at each step would read
    /// a window per step.
    pub(crate) fn chunk(&mut self, offset: u64) -> io::Result<&[u8]> {
        if offset >= self.start && offset < self.start + self.len as u64 {
            let s = (offset - self.start) as usize;
            return Ok(&self.buf[s..self.len]);
        }
        self.get(offset, WINDOW)
    }

    /// Whether `offset` is in what the window holds (reading it costs no call).
    pub(crate) fn holds(&self, offset: u64) -> bool {
        offset >= self.start && offset < self.start + self.len as u64
    }

    /// The first offset at or after `offset` that is not in a hole of a sparse file (the size
    /// if only a hole follows).
    pub(crate) fn next_data(&self, offset: u64) -> io::Result<u64> {
        Ok(platform::next_data(self.file, offset)?.map_or(self.size, |d| d.min(self.size)))
    }

    /// Forget what is held (the file may have changed).
    pub(crate) fn reset(&mut self, size: u64) {
        self.size = size;
        self.len = 0;
    }

    /// Take a new look at the file's size; `true` (and the window dropped) if it changed.
    pub(crate) fn refresh(&mut self) -> io::Result<bool> {
        let size = self.file.metadata()?.len();
        let changed = size != self.size;
        if changed {
            self.reset(size);
        }
        Ok(changed)
    }

    /// Feed bytes `[offset, offset + len)` to `f` in pieces ([`read_range`]), counted.
    pub(crate) fn stream(
        &mut self,
        offset: u64,
        len: u64,
        f: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        let (bytes, reads) = read_range(self.file, offset, len, f)?;
        self.bytes_read += bytes;
        self.reads += reads;
        Ok(())
    }

    /// Whether every byte from `at` to the end of the file is zero.
    pub(crate) fn all_zero_from(&mut self, mut at: u64) -> io::Result<bool> {
        while at < self.size {
            let chunk = self.chunk(at)?;
            if chunk.iter().any(|b| *b != 0) {
                return Ok(false);
            }
            at += chunk.len() as u64;
        }
        Ok(true)
    }

    /// Bytes and read calls so far.
    pub(crate) fn stats(&self) -> (u64, u64) {
        (self.bytes_read, self.reads)
    }
}

/// The error of `dump --follow` on a preallocated, memory-mapped file (aof, proglog index).
pub(crate) fn not_followable(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{what} cannot be followed (it is preallocated and memory-mapped)"),
    )
}
