//! Files of the Go `aof` package (github.com/moontrade/kirana/aof): memory-mapped append-only
//! files grown in steps and zero-filled past the data, with the tail magic after the data of
//! each write (the next write overwrites it) and, once `Finish` has run, the checkpoint magic in
//! its place (the file then cut to its exact size and made read-only). The package defines no
//! record format inside the data, so durable does not invent one: it finds the end of the data
//! the way the package's own recovery (`RecoverWithMagic`) does, and detects a file by the
//! shapes the package leaves.

use std::fs::File;
use std::io;

use memchr::memmem;

use super::item::{AofMagic, Defect, DefectKind, Extra, Item, Record};
use super::reader::{Reader, WINDOW, Window};

/// The tail magic, as stored (little-endian 4727544184288126122).
pub const TAIL: [u8; 8] = [0xaa, 0x24, 0x75, 0x54, 0x63, 0x9c, 0x9b, 0x41];
/// The checkpoint magic, as stored (little-endian 17904250147343162156).
pub const CHECKPOINT: [u8; 8] = [0x2c, 0xdb, 0x1f, 0xf2, 0xa5, 0xac, 0x78, 0xf8];

/// The package's recovery outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Empty or only zeros.
    Empty,
    /// The last non-zero bytes are the tail magic.
    Tail,
    /// The last non-zero bytes are a checkpoint magic (a finished file).
    Checkpoint,
    /// Neither, but a checkpoint magic earlier: the package lands on it (its `Checkpoint`
    /// outcome); the bytes after it are damage.
    Torn,
    /// Neither, and no checkpoint magic at all.
    Corrupted,
}

impl Outcome {
    /// The package's name for it: a torn file is its `checkpoint` outcome too (found by
    /// searching back), with the damage reported as a defect.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Empty => "empty",
            Outcome::Tail => "tail",
            Outcome::Checkpoint | Outcome::Torn => "checkpoint",
            Outcome::Corrupted => "corrupted",
        }
    }
}

/// Where an aof file's data ends, found as the package finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Analysis {
    /// File size.
    pub size: u64,
    /// The outcome.
    pub outcome: Outcome,
    /// Where the trusted data ends: the tail magic's offset, or the end of the checkpoint magic
    /// the package lands on; 0 for an empty or corrupted file.
    pub logical_end: u64,
    /// The tail magic's offset (outcome `Tail`).
    pub tail: Option<u64>,
    /// The checkpoint magic the package reports: the one the data ends with (`Checkpoint`,
    /// `Torn`), or the last one before the tail magic (`Tail`; in this version of the package
    /// only user data can hold one there).
    pub checkpoint: Option<u64>,
    /// One past the last non-zero byte (0 if none): the end of what a repair zero-fills.
    pub nonzero_end: u64,
    /// The `Tail` that `RecoverWithMagic` reports: the tail magic's offset (`Tail`), the end of
    /// the checkpoint magic (`Checkpoint`, `Torn`), one past the last non-zero byte
    /// (`Corrupted`), 0 (`Empty`).
    pub reported_tail: u64,
}

/// Size granularity of the package's unfinished files: it creates (and, before its recovery
/// runs, grows) a file to at least one page.
const PAGE: u64 = 4096;

/// Bytes after a checkpoint magic (a finished file) that detection still takes for damage of
/// an aof file rather than for a file that merely holds the magic's bytes: less than a sector.
const JUNK: u64 = 512;

/// The last span of at most a window that ends at or below `end`, starts at or after `floor`
/// and holds data, as (start, end). Holes of a sparse file are stepped over, not read: the span
/// looked at back from `end` doubles while it is all hole and halves while it holds data but is
/// wider than a window, so a hole costs a few calls whatever its size.
fn last_data_window(file: &File, floor: u64, mut end: u64) -> io::Result<Option<(u64, u64)>> {
    let window = WINDOW as u64;
    let mut span = window;
    while end > floor {
        let start = end.saturating_sub(span).max(floor);
        match crate::platform::next_data(file, start)? {
            Some(d) if d < end => {
                if end - start > window {
                    // Data somewhere in a wide span: look at its upper half first.
                    span = (end - start) / 2;
                    continue;
                }
                return Ok(Some((start.max(d), end)));
            }
            // [start, end) is a hole.
            _ => {
                end = start;
                span = span.saturating_mul(2);
            }
        }
    }
    Ok(None)
}

/// One past the last non-zero byte at or after `from` (holes skipped).
fn nonzero_end(file: &File, win: &mut Window<'_>, from: u64) -> io::Result<u64> {
    let mut end = win.size;
    while let Some((start, stop)) = last_data_window(file, from, end)? {
        let chunk = win.get(start, (stop - start) as usize)?;
        if let Some(i) = chunk.iter().rposition(|b| *b != 0) {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// The offset of the last `needle` that starts at or after `floor` and ends at or before
/// `end` (holes skipped: a magic has no zero byte, so none lies in a hole).
fn rfind(
    file: &File,
    win: &mut Window<'_>,
    needle: &[u8; 8],
    floor: u64,
    end: u64,
) -> io::Result<Option<u64>> {
    let finder = memmem::FinderRev::new(needle);
    let limit = end;
    let mut end = end;
    while let Some((from, stop)) = last_data_window(file, floor, end)? {
        // 7 bytes past the span: a magic may straddle its upper edge. The read stays within
        // a window; what it leaves below is looked at next.
        let to = (stop + 7).min(limit);
        let from = from.max(to.saturating_sub(WINDOW as u64));
        if to >= from + 8 {
            let chunk = win.get(from, (to - from) as usize)?;
            if let Some(i) = finder.rfind(chunk) {
                return Ok(Some(from + i as u64));
            }
        }
        end = from;
    }
    Ok(None)
}

/// The first byte `RecoverWithMagic` looks at: it reads 8-byte words back from the end, so the
/// first `size % 8` bytes of a file of a page or more are never looked at (a smaller file is
/// grown to a page before its recovery runs).
fn first_seen(size: u64) -> u64 {
    if size >= PAGE { size % 8 } else { 0 }
}

/// Whether the last non-zero 8 bytes of the file are the tail or the checkpoint magic (the
/// outcomes tail and checkpoint), reading only from the end back to them.
pub fn ends_with_magic(file: &File, size: u64) -> io::Result<bool> {
    let mut win = Window::new(file, size);
    let nz = nonzero_end(file, &mut win, first_seen(size))?;
    if nz < 8 {
        return Ok(false);
    }
    let last = win.get(nz - 8, 8)?;
    Ok(last == TAIL || last == CHECKPOINT)
}

/// Find the end of an aof file's data as `RecoverWithMagic` does: the last non-zero 8 bytes
/// are the tail magic (outcome tail) or the checkpoint magic (checkpoint); otherwise the last
/// checkpoint magic before them (torn: the package's checkpoint outcome), or none (corrupted).
/// Two details of the package are kept: the bytes it never looks at (`first_seen`), and its
/// search for a checkpoint never finds one at offset 0.
pub fn analyse(file: &File, size: u64) -> io::Result<Analysis> {
    Ok(analyse_to(file, size, false)?.0)
}

/// Detection's question, `analyse(file, size).looks_like_aof(head, named_aof)`, without reading
/// a large file of another kind back to its start in search of a checkpoint magic: the answer
/// depends on one before the last non-zero bytes only when it lies within `JUNK` bytes of them
/// (a finished file with junk after it) or not at all (a crashed `.aof` file). Returns the
/// file's analysis, as complete as [`analyse`]'s, when it reads as an aof file; otherwise
/// whether it holds only zeros.
pub fn detect(
    file: &File,
    size: u64,
    head: &[u8],
    named_aof: bool,
) -> io::Result<Result<Analysis, bool>> {
    let (a, cut_short) = analyse_to(file, size, true)?;
    if !a.looks_like_aof(head, named_aof) {
        return Ok(Err(a.nonzero_end == 0));
    }
    // The same answer either way; the reader needs the checkpoint the package would find.
    Ok(Ok(if cut_short { analyse(file, size)? } else { a }))
}

/// [`analyse`]; with `near`, the search for a checkpoint magic before the last non-zero bytes
/// (outcome torn) stops `JUNK` bytes before them, and the flag returned says it did without
/// finding one (the outcome is then corrupted, which a longer search might have made torn).
fn analyse_to(file: &File, size: u64, near: bool) -> io::Result<(Analysis, bool)> {
    let mut win = Window::new(file, size);
    let nz = nonzero_end(file, &mut win, first_seen(size))?;
    let mut a = Analysis {
        size,
        outcome: Outcome::Empty,
        logical_end: 0,
        tail: None,
        checkpoint: None,
        nonzero_end: nz,
        reported_tail: 0,
    };
    if nz == 0 {
        return Ok((a, false));
    }
    let mut cut_short = false;
    if nz >= 8 {
        let last = win.get(nz - 8, 8)?;
        if last == TAIL {
            a.outcome = Outcome::Tail;
            a.tail = Some(nz - 8);
            a.logical_end = nz - 8;
            a.reported_tail = nz - 8;
            a.checkpoint = rfind(file, &mut win, &CHECKPOINT, 1, nz - 8)?;
            return Ok((a, false));
        }
        if last == CHECKPOINT {
            a.outcome = Outcome::Checkpoint;
            a.checkpoint = Some(nz - 8);
            a.logical_end = nz;
            a.reported_tail = nz;
            return Ok((a, false));
        }
        // The package searches back from the byte before the last non-zero one. Detection
        // takes a checkpoint as the end of the data only if fewer than JUNK bytes follow it.
        let floor = if near {
            (nz - 1).saturating_sub(JUNK + 7).max(1)
        } else {
            1
        };
        if let Some(c) = rfind(file, &mut win, &CHECKPOINT, floor, nz - 1)? {
            a.outcome = Outcome::Torn;
            a.checkpoint = Some(c);
            a.logical_end = c + 8;
            a.reported_tail = c + 8;
            return Ok((a, false));
        }
        cut_short = floor > 1;
    }
    a.outcome = Outcome::Corrupted;
    a.reported_tail = nz;
    Ok((a, cut_short))
}

/// Signatures of common file formats (offset, bytes): a file that carries one is
/// that format, not the data of an aof file that lost its magic. Executables and libraries end
/// in zero bytes (ELF's last section header), archives and images often do.
pub const SIGNATURES: &[(usize, &[u8])] = &[
    (0, b"\x7fELF"),
    (0, b"MZ"),
    (0, b"\xfe\xed\xfa\xce"),
    (0, b"\xfe\xed\xfa\xcf"),
    (0, b"\xce\xfa\xed\xfe"),
    (0, b"\xcf\xfa\xed\xfe"),
    (0, b"\xca\xfe\xba\xbe"),
    (0, b"\x00asm"),
    (0, b"!<arch>\n"),
    (0, b"\x1f\x8b"),
    (0, b"PK\x03\x04"),
    (0, b"PK\x05\x06"),
    (0, b"\xfd7zXZ\x00"),
    (0, b"\x28\xb5\x2f\xfd"),
    (0, b"BZh"),
    (0, b"7z\xbc\xaf\x27\x1c"),
    (257, b"ustar"),
    // cpio: newc, crc, odc, and the old binary header either way round.
    (0, b"070701"),
    (0, b"070702"),
    (0, b"070707"),
    (0, b"\xc7\x71"),
    (0, b"\x71\xc7"),
    // lz4's frame, SQLite's write-ahead log (either byte order), a git pack.
    (0, b"\x04\x22\x4d\x18"),
    (0, b"\x37\x7f\x06\x82"),
    (0, b"\x37\x7f\x06\x83"),
    (0, b"PACK\x00\x00\x00"),
    (0, b"SQLite format 3\x00"),
    (0, b"\x89PNG\r\n\x1a\n"),
    (0, b"\xff\xd8\xff"),
    (0, b"%PDF-"),
    // A native log's record magic: what a sidecar of a native log starts with.
    (0, b"\xd5REC"),
];

/// Bytes at the start of a file that [`Analysis::looks_like_aof`] needs.
pub const HEAD: usize = 512;

/// Whether `head` (a file's first bytes) starts with another format's signature: one of
/// [`SIGNATURES`], or a Redis file ([`is_redis`]).
pub(crate) fn has_signature(head: &[u8]) -> bool {
    SIGNATURES
        .iter()
        .any(|(at, sig)| head.get(*at..*at + sig.len()) == Some(*sig))
        || is_redis(head)
}

/// Whether `head` (a file's first bytes, up to [`HEAD`]) starts as a Redis file does: an
/// append-only file's first command, a RESP array of bulk strings (`*<digits>\r\n$<digits>\r\n`,
/// as Redis writes every command), after any of Redis 7's annotation lines (`#TS:<unix
/// time>\r\n`, `aof-timestamp-enabled`); or an RDB snapshot, which is also what an
/// append-only file with an RDB preamble starts with (`REDIS` and 4 digits of its version).
/// Redis files end in zeros after a power loss as the package's do, and a `.aof` name is theirs
/// too (`appendonly.aof`, Redis 7's `appendonly.aof.1.incr.aof`).
pub fn is_redis(head: &[u8]) -> bool {
    /// `digits` then `\r\n` at the start of `b`: what follows them.
    fn number(b: &[u8]) -> Option<&[u8]> {
        let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=10).contains(&n) {
            return None;
        }
        b[n..].strip_prefix(b"\r\n")
    }
    if let Some(version) = head.strip_prefix(b"REDIS") {
        return version.len() >= 4 && version[..4].iter().all(u8::is_ascii_digit);
    }
    let mut rest = head;
    // Annotation lines: `#`, printable ASCII, CRLF (within the head).
    while let Some(line) = rest.strip_prefix(b"#") {
        let Some(end) = line.iter().position(|c| !(b' '..=b'~').contains(c)) else {
            return false;
        };
        match line[end..].strip_prefix(b"\r\n") {
            Some(next) => rest = next,
            None => return false,
        }
    }
    rest.strip_prefix(b"*")
        .and_then(number)
        .and_then(|b| b.strip_prefix(b"$"))
        .and_then(number)
        .is_some()
}

impl Analysis {
    /// Whether the file reads as an aof file (`head`: its first [`HEAD`] bytes, or all of it).
    /// Its last non-zero bytes are a magic (any size: `Finish` cuts a file to its exact size,
    /// and the package grows files by `size + size % step + step`, not in pages); or it has
    /// the shape a crash during a write leaves (the write overwrote the previous tail magic and
    /// never wrote its own): at least a page, data followed by at least the 8 zero bytes where
    /// the tail magic was to go, not a file of another format, and a name ending in `.aof`
    /// (`named_aof`); or it is a finished file (its checkpoint magic) followed by less than
    /// `JUNK` bytes of junk. A binary that merely holds a magic's bytes somewhere is none of
    /// these. The name is needed for a crashed file because nothing in its bytes is the
    /// package's: databases, caches and locale files also hold data followed by zeros.
    pub fn looks_like_aof(&self, head: &[u8], named_aof: bool) -> bool {
        let crashed = named_aof
            && self.size >= PAGE
            && self.size - self.nonzero_end >= 8
            && !has_signature(head);
        match self.outcome {
            Outcome::Tail | Outcome::Checkpoint => true,
            Outcome::Empty => false,
            // A finished file with junk after it, unless it is another format's (a tar or zip
            // holding a finished aof file ends with its checkpoint magic and a little more).
            Outcome::Torn => {
                crashed || (self.nonzero_end - self.logical_end < JUNK && !has_signature(head))
            }
            Outcome::Corrupted => crashed,
        }
    }
}

/// Forward reader: the data up to the logical end as one segment ending with its magic, then
/// the damage (if any). The package defines no records and, in this version, writes a
/// checkpoint magic only when it finishes a file, so a checkpoint magic's bytes inside the data
/// are data.
pub struct AofReader<'f> {
    win: Window<'f>,
    a: Analysis,
    /// Start of the next item.
    pos: u64,
    /// The segment has been returned.
    segment_done: bool,
    done: bool,
}

impl<'f> AofReader<'f> {
    /// Read `file` as analysed.
    pub fn new(file: &'f File, a: Analysis) -> AofReader<'f> {
        AofReader {
            win: Window::new(file, a.size),
            a,
            pos: 0,
            segment_done: false,
            done: false,
        }
    }

    /// The magic the data ends with, and where.
    fn end_magic(&self) -> Option<(AofMagic, u64)> {
        match self.a.outcome {
            Outcome::Tail => self.a.tail.map(|t| (AofMagic::Tail, t)),
            Outcome::Checkpoint | Outcome::Torn => {
                self.a.checkpoint.map(|c| (AofMagic::Checkpoint, c))
            }
            Outcome::Empty | Outcome::Corrupted => None,
        }
    }
}

impl Reader for AofReader<'_> {
    fn next_item(&mut self) -> io::Result<Item> {
        if self.done {
            return Ok(Item::End);
        }
        if !self.segment_done {
            self.segment_done = true;
            if let Some((magic, at)) = self.end_magic() {
                let record = Record {
                    index: 0,
                    offset: 0,
                    len: at,
                    data: 0,
                    end: at + 8,
                    seq: 0,
                    checksum: None,
                    extra: Extra::AofSegment {
                        ends_with: Some(magic),
                        magic_offset: Some(at),
                    },
                };
                self.pos = record.end;
                return Ok(Item::Record(record));
            }
        }
        self.done = true;
        Ok(match self.a.outcome {
            Outcome::Torn => Item::Defect(Defect::new(
                self.a.logical_end,
                DefectKind::NoMagic {
                    checkpoint: Some(self.a.logical_end),
                },
                None,
            )),
            Outcome::Corrupted => Item::Defect(Defect::new(
                0,
                DefectKind::NoMagic { checkpoint: None },
                None,
            )),
            _ => Item::End,
        })
    }

    fn read_payload(
        &mut self,
        record: &Record,
        f: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        self.win.stream(record.data, record.len, f)
    }

    fn position(&self) -> u64 {
        self.pos
    }

    fn refresh(&mut self) -> io::Result<bool> {
        Err(super::reader::not_followable("an aof file"))
    }

    fn io_stats(&self) -> (u64, u64) {
        self.win.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analysed(bytes: &[u8]) -> Analysis {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f.aof");
        std::fs::write(&path, bytes).expect("write");
        let file = File::open(&path).expect("open");
        analyse(&file, bytes.len() as u64).expect("analyse")
    }

    fn padded(data: &[u8]) -> Vec<u8> {
        let mut v = data.to_vec();
        v.resize(4096, 0);
        v
    }

    /// A sparse file's holes are skipped, not read: a 64 GiB file holding a tail magic at its
    /// start used to be read whole (minutes) to find its last non-zero byte.
    #[test]
    fn the_end_of_a_sparse_file_is_found_without_reading_its_holes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sparse.aof");
        let mut bytes = b"sixteen bytes!!!".to_vec();
        bytes.extend_from_slice(&TAIL);
        std::fs::write(&path, &bytes).expect("write");
        let file = File::options()
            .read(true)
            .write(true)
            .open(&path)
            .expect("open");
        let size = 64u64 << 30;
        file.set_len(size).expect("set_len");
        if crate::platform::next_data(&file, 1 << 20)
            .expect("seek")
            .is_some()
        {
            eprintln!("SKIPPED: this filesystem does not report holes (lseek SEEK_DATA)");
            return;
        }
        let mut win = Window::new(&file, size);
        assert_eq!(nonzero_end(&file, &mut win, 0).expect("end"), 24);
        assert!(win.stats().0 <= 2 * WINDOW as u64, "read {:?}", win.stats());
        let a = analyse(&file, size).expect("analyse");
        assert_eq!((a.outcome, a.tail), (Outcome::Tail, Some(16)));
        // Data in the middle of holes, and zeros written (not a hole) after it.
        crate::platform::write_all_at(&file, &[9u8; 10], 5 << 30).expect("write");
        crate::platform::write_all_at(&file, &[0u8; 4096], (5 << 30) + 4096).expect("write");
        let mut win = Window::new(&file, size);
        assert_eq!(
            nonzero_end(&file, &mut win, 0).expect("end"),
            (5 << 30) + 10
        );
        assert!(win.stats().0 <= 4 * WINDOW as u64, "read {:?}", win.stats());
        // The tail magic at the very end, a checkpoint magic's bytes near the start: the search
        // for the checkpoint steps over the holes between (it read the whole file).
        crate::platform::write_all_at(&file, &CHECKPOINT, 100).expect("write");
        crate::platform::write_all_at(&file, &TAIL, size - 8).expect("write");
        let mut win = Window::new(&file, size);
        assert_eq!(
            rfind(&file, &mut win, &CHECKPOINT, 1, size - 8).expect("rfind"),
            Some(100)
        );
        assert!(win.stats().0 <= 8 * WINDOW as u64, "read {:?}", win.stats());
        let a = analyse(&file, size).expect("analyse");
        assert_eq!(
            (a.outcome, a.tail, a.checkpoint),
            (Outcome::Tail, Some(size - 8), Some(100))
        );
    }

    #[test]
    fn outcomes_follow_the_package() {
        assert_eq!(analysed(&[]).outcome, Outcome::Empty);
        assert_eq!(analysed(&[0; 4096]).outcome, Outcome::Empty);

        let tail = analysed(&padded(&[b"abc".as_slice(), &TAIL].concat()));
        assert_eq!(
            (
                tail.outcome,
                tail.logical_end,
                tail.tail,
                tail.reported_tail
            ),
            (Outcome::Tail, 3, Some(3), 3)
        );

        let cp = analysed(&[b"abc".as_slice(), &CHECKPOINT].concat());
        assert_eq!(
            (cp.outcome, cp.logical_end, cp.reported_tail),
            (Outcome::Checkpoint, 11, 11)
        );

        let torn = analysed(&[b"ab".as_slice(), &CHECKPOINT, b"junk"].concat());
        assert_eq!(
            (torn.outcome, torn.logical_end, torn.nonzero_end),
            (Outcome::Torn, 10, 14)
        );

        let bad = analysed(&padded(b"no magic here"));
        assert_eq!(
            (bad.outcome, bad.logical_end, bad.reported_tail),
            (Outcome::Corrupted, 0, 13)
        );
    }

    #[test]
    fn the_package_never_finds_a_checkpoint_at_offset_0() {
        let a = analysed(&padded(&[&CHECKPOINT[..], b"junk"].concat()));
        assert_eq!((a.outcome, a.reported_tail), (Outcome::Corrupted, 12));
    }

    #[test]
    fn the_first_bytes_of_an_unaligned_file_are_not_looked_at() {
        // 4099 bytes: the package reads 8-byte words from the end down to offset 3.
        let mut data = vec![0u8; 4099];
        data[1] = 7;
        assert_eq!(analysed(&data).outcome, Outcome::Empty);
        data[3] = 7;
        assert_eq!(analysed(&data).outcome, Outcome::Corrupted);
    }

    #[test]
    fn a_checkpoint_straddling_the_search_window_is_found() {
        // The backward search reads 1 MiB at a time: put the magic across a boundary.
        let mut data = vec![1u8; WINDOW + 100];
        let at = data.len() - WINDOW - 4;
        data[at..at + 8].copy_from_slice(&CHECKPOINT);
        let a = analysed(&data);
        assert_eq!((a.outcome, a.checkpoint), (Outcome::Torn, Some(at as u64)));
    }

    #[test]
    fn detection_needs_a_shape_the_package_leaves() {
        let crashed = analysed(&padded(b"data of a write cut short"));
        assert!(crashed.looks_like_aof(b"data", true));
        assert!(
            !crashed.looks_like_aof(b"data", false),
            "a crashed file needs its name"
        );
        assert!(
            !crashed.looks_like_aof(b"\x7fELF\x02\x01", true),
            "an executable"
        );
        let small = analysed(b"data of a write cut short\0\0\0\0\0\0\0\0");
        assert!(!small.looks_like_aof(b"data", true), "smaller than a page");
        let no_zeros = analysed(&vec![1u8; 4096]);
        assert!(
            !no_zeros.looks_like_aof(&[1], true),
            "no zeros where the tail magic goes"
        );
        let finished_junk = analysed(&[b"data".as_slice(), &CHECKPOINT, b"junk"].concat());
        assert!(finished_junk.looks_like_aof(b"data", false));
        // Redis's files: RESP commands (after annotations), an RDB; not the package's data.
        for redis in [
            &b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n"[..],
            b"#TS:1700000000\r\n*3\r\n$3\r\nSET\r\n",
            b"REDIS0011\xfa\tredis-ver",
        ] {
            assert!(is_redis(redis), "{redis:?}");
            assert!(!crashed.looks_like_aof(redis, true), "{redis:?}");
        }
        for not in [
            &b"*3\r\nSET"[..],
            b"*\r\n$3\r\n",
            b"*12345678901\r\n$3\r\n",
            b"#TS:1\n*1\r\n$1\r\n",
            b"REDIS001",
            b"REDISxxxx",
        ] {
            assert!(!is_redis(not), "{not:?}");
        }
        let mut binary = vec![1u8; 5000];
        binary[100..108].copy_from_slice(&CHECKPOINT);
        assert!(!analysed(&binary).looks_like_aof(&binary[..HEAD], true));
    }
}
