//! The `lines` format, a checksummed text log: one entry per line, then a space and the
//! SHA-256 of the entry as 64 lowercase hex digits, then a newline. The checksum is the LAST
//! field, so entries may contain spaces. Reading (entries of any length, hashed in bounded
//! memory), detection by the shape of the lines, and the encoding an append to a lines log
//! uses.

use std::fs::File;
use std::io;

use sha2::{Digest, Sha256};

use super::format::Checksum;
use super::item::{Defect, DefectKind, Extra, Item, OnDamage, Record};
use super::reader::{Reader, Window};

/// Bytes after the entry: a space and 64 hex digits (the newline not counted).
pub const SUFFIX: u64 = 65;

/// The line for one entry (the caller refuses entries holding a newline).
pub fn encode(out: &mut Vec<u8>, entry: &[u8]) {
    out.reserve(entry.len() + SUFFIX as usize + 1);
    out.extend_from_slice(entry);
    end_line(out, &Sha256::digest(entry).into());
}

/// The end of the line of an entry whose SHA-256 is `digest` (written before it, as a stream):
/// a space, the digest as 64 lowercase hex digits, a newline.
pub fn end_line(out: &mut Vec<u8>, digest: &[u8; 32]) {
    out.push(b' ');
    let mut hexed = [0u8; 64];
    // hex::encode_to_slice cannot fail with a buffer of exactly twice the input's length.
    if hex::encode_to_slice(digest, &mut hexed).is_ok() {
        out.extend_from_slice(&hexed);
    }
    out.push(b'\n');
}

/// What is at a line's start.
enum Line {
    /// A valid line: entry length, checksum, offset after the line (after its newline, or the
    /// end of the file for a last line without one).
    Valid(u64, [u8; 32], u64),
    /// A complete but damaged line ending at the given offset (after its newline).
    Bad(DefectKind, u64),
    /// No newline before the end of the file, and not a valid line either.
    Incomplete,
}

/// Forward reader of a lines log.
pub struct LinesReader<'f> {
    win: Window<'f>,
    pos: u64,
    index: u64,
    on_damage: OnDamage,
    done: bool,
    /// The end of the last record if it was a line without a newline at the end of the file:
    /// when the file grows (`dump --follow`), the newline that completes it is skipped.
    unterminated: Option<u64>,
}

impl<'f> LinesReader<'f> {
    /// Read `file` (of `size` bytes) from `offset`, a line start.
    pub fn new(file: &'f File, size: u64, offset: u64, on_damage: OnDamage) -> LinesReader<'f> {
        LinesReader {
            win: Window::new(file, size),
            pos: offset,
            index: 0,
            on_damage,
            done: false,
            unterminated: None,
        }
    }

    /// The offset of the first newline at or after `start`, if there is one.
    fn find_newline(&mut self, start: u64) -> io::Result<Option<u64>> {
        self.find_newline_before(start, self.win.size)
    }

    /// The first newline at or after `start` and before `limit`.
    fn find_newline_before(&mut self, start: u64, limit: u64) -> io::Result<Option<u64>> {
        let limit = limit.min(self.win.size);
        let mut at = start;
        while at < limit {
            if !self.win.holds(at) {
                // A hole of a sparse file holds no newline: step over it, do not read its zeros.
                at = self.win.next_data(at)?;
                if at >= limit {
                    break;
                }
            }
            let chunk = self.win.chunk(at)?;
            let chunk = &chunk[..chunk.len().min((limit - at) as usize)];
            if let Some(i) = memchr::memchr(b'\n', chunk) {
                return Ok(Some(at + i as u64));
            }
            at += chunk.len() as u64;
        }
        Ok(None)
    }

    /// The checksum field of the line `[start, end)` (newline excluded), if the line has the
    /// shape of one: a space and 64 lowercase hex digits at its end.
    fn shape(&mut self, start: u64, end: u64) -> io::Result<Option<[u8; 32]>> {
        if end - start < SUFFIX {
            return Ok(None);
        }
        let tail = self.win.get(end - SUFFIX, SUFFIX as usize)?;
        let mut stored = [0u8; 32];
        let shaped = tail[0] == b' '
            && tail[1..]
                .iter()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
            && hex::decode_to_slice(&tail[1..], &mut stored).is_ok();
        Ok(shaped.then_some(stored))
    }

    /// Whether the SHA-256 of bytes `[start, start + len)` is `stored`, hashing them in pieces
    /// (an entry may be far longer than the read window).
    fn matches(&mut self, start: u64, len: u64, stored: &[u8; 32]) -> io::Result<bool> {
        let mut hasher = Sha256::new();
        if len <= super::reader::WINDOW as u64 {
            hasher.update(self.win.get(start, len as usize)?);
        } else {
            self.win.stream(start, len, &mut |piece| {
                hasher.update(piece);
                Ok(())
            })?;
        }
        Ok(hasher.finalize()[..] == stored[..])
    }

    /// The line `[start, end)` (newline excluded): its entry length and checksum, or what is
    /// wrong with it.
    fn check(&mut self, start: u64, end: u64) -> io::Result<Result<(u64, [u8; 32]), DefectKind>> {
        let Some(stored) = self.shape(start, end)? else {
            return Ok(Err(DefectKind::NoChecksum));
        };
        let len = end - start - SUFFIX;
        Ok(if self.matches(start, len, &stored)? {
            Ok((len, stored))
        } else {
            Err(DefectKind::ChecksumMismatch)
        })
    }

    fn line(&mut self, start: u64) -> io::Result<Line> {
        match self.find_newline(start)? {
            Some(nl) => Ok(match self.check(start, nl)? {
                Ok((len, sum)) => Line::Valid(len, sum, nl + 1),
                Err(kind) => Line::Bad(kind, nl + 1),
            }),
            // A last line without its newline: valid if it checks out (the format's original
            // Go verifier reads it), else a write cut short.
            None => Ok(match self.check(start, self.win.size)? {
                Ok((len, sum)) => Line::Valid(len, sum, self.win.size),
                Err(_) => Line::Incomplete,
            }),
        }
    }

    /// The first valid line at or after the line start `from`.
    fn find_next_valid(&mut self, mut from: u64) -> io::Result<Option<u64>> {
        while from < self.win.size {
            match self.line(from)? {
                Line::Valid(..) => return Ok(Some(from)),
                Line::Bad(_, next) => from = next,
                Line::Incomplete => return Ok(None),
            }
        }
        Ok(None)
    }
}

impl Reader for LinesReader<'_> {
    fn next_item(&mut self) -> io::Result<Item> {
        if let Some(end) = self.unterminated
            && self.pos == end
            && end < self.win.size
        {
            // The line returned last had no newline, and the file has grown since.
            self.unterminated = None;
            if self.win.get(end, 1)? == b"\n" {
                self.pos += 1;
            }
        }
        if self.done || self.pos >= self.win.size {
            self.done = true;
            return Ok(Item::End);
        }
        let start = self.pos;
        let (kind, after) = match self.line(start)? {
            Line::Valid(len, sum, end) => {
                let record = Record {
                    index: self.index,
                    offset: start,
                    len,
                    data: start,
                    end,
                    seq: self.index,
                    checksum: Some(Checksum::Sha256(sum)),
                    extra: Extra::None,
                };
                if end == self.win.size && self.win.get(end - 1, 1)? != b"\n" {
                    self.unterminated = Some(end);
                }
                self.index += 1;
                self.pos = end;
                return Ok(Item::Record(record));
            }
            Line::Bad(kind, after) => (kind, Some(after)),
            Line::Incomplete => (DefectKind::Truncated, None),
        };
        if self.win.all_zero_from(start)? {
            self.done = true;
            return Ok(Item::Defect(Defect::new(start, DefectKind::ZeroFill, None)));
        }
        let next_valid = match after {
            Some(after) => self.find_next_valid(after)?,
            None => None,
        };
        match (next_valid, self.on_damage) {
            (Some(next), OnDamage::Resync) => self.pos = next,
            _ => self.done = true,
        }
        Ok(Item::Defect(Defect::new(start, kind, next_valid)))
    }

    fn read_payload(
        &mut self,
        record: &Record,
        f: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        if record.len <= super::reader::WINDOW as u64 {
            return f(self.win.get(record.data, record.len as usize)?);
        }
        self.win.stream(record.data, record.len, f)
    }

    fn position(&self) -> u64 {
        self.pos
    }

    fn refresh(&mut self) -> io::Result<bool> {
        let grew = self.win.refresh()?;
        if grew {
            self.done = false;
        }
        Ok(grew)
    }

    fn io_stats(&self) -> (u64, u64) {
        self.win.stats()
    }
}

/// SHA-256 of bytes fed in pieces, all but the last [`SUFFIX`] of them: when a line's end is
/// found, it is the digest of the entry the line holds if it has the shape of one.
#[derive(Clone)]
struct Lagged {
    hasher: Sha256,
    carry: [u8; SUFFIX as usize],
    held: usize,
}

impl Lagged {
    fn new() -> Lagged {
        Lagged {
            hasher: Sha256::new(),
            carry: [0; SUFFIX as usize],
            held: 0,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        const LAG: usize = SUFFIX as usize;
        if bytes.len() >= LAG {
            self.hasher.update(&self.carry[..self.held]);
            let cut = bytes.len() - LAG;
            self.hasher.update(&bytes[..cut]);
            self.carry.copy_from_slice(&bytes[cut..]);
            self.held = LAG;
        } else {
            let mut both = [0u8; 2 * SUFFIX as usize];
            let n = self.held + bytes.len();
            both[..self.held].copy_from_slice(&self.carry[..self.held]);
            both[self.held..n].copy_from_slice(bytes);
            let cut = n.saturating_sub(LAG);
            self.hasher.update(&both[..cut]);
            self.carry[..n - cut].copy_from_slice(&both[cut..n]);
            self.held = n - cut;
        }
    }

    /// The digest of all but the last `SUFFIX` bytes, if that many were fed.
    fn finish(self) -> Option<[u8; 32]> {
        (self.held == SUFFIX as usize).then(|| self.hasher.finalize().into())
    }
}

/// What one read of a file's first line found: detection asks about that line several times
/// (whether it checks out, where its last control byte is, whether it is a torn first line),
/// and a file of one long line was read and hashed once for each question.
#[derive(Clone, Copy)]
struct FirstLine {
    /// Where it ends: its newline, or the end of a file of at most `DETECT_LIMIT` bytes
    /// without one; `None`: no newline in the first `DETECT_LIMIT` bytes of a longer file.
    end: Option<u64>,
    /// Whether a newline ends it.
    newline: bool,
    /// Its last control byte ([`is_control`]; a hole of a sparse file is zeros).
    last_control: Option<u64>,
    /// Whether its bytes were hashed (no hole in it): the digests below are known.
    hashed: bool,
    /// SHA-256 of its bytes but the last `SUFFIX` (its entry, if it has the shape of a line).
    digest: Option<[u8; 32]>,
    /// SHA-256 of its bytes after its last control byte but the last `SUFFIX`.
    after_control: Option<[u8; 32]>,
}

impl FirstLine {
    /// Read the first line once: up to its newline, within `DETECT_LIMIT` bytes.
    fn read(reader: &mut LinesReader<'_>) -> io::Result<FirstLine> {
        let size = reader.win.size;
        let limit = size.min(DETECT_LIMIT);
        let (mut all, mut after) = (Lagged::new(), None::<Lagged>);
        let (mut at, mut newline, mut last_control, mut hashed) = (0u64, None, None, true);
        while at < limit {
            if !reader.win.holds(at) {
                let data = reader.win.next_data(at)?.min(limit);
                if data > at {
                    // A hole: zeros, which hold no newline and are not read (nor hashed: a
                    // question about a line holding one reads it again).
                    hashed = false;
                    last_control = Some(data - 1);
                    at = data;
                    continue;
                }
            }
            let chunk = reader.win.chunk(at)?;
            let chunk = &chunk[..chunk.len().min((limit - at) as usize)];
            if chunk.is_empty() {
                break;
            }
            let found = memchr::memchr(b'\n', chunk);
            let piece = &chunk[..found.unwrap_or(chunk.len())];
            if hashed {
                all.update(piece);
            }
            match piece.iter().rposition(|&b| is_control(b)) {
                Some(i) => {
                    last_control = Some(at + i as u64);
                    let mut fresh = Lagged::new();
                    fresh.update(&piece[i + 1..]);
                    after = Some(fresh);
                }
                None => {
                    if let Some(a) = after.as_mut() {
                        a.update(piece);
                    }
                }
            }
            if let Some(i) = found {
                newline = Some(at + i as u64);
                break;
            }
            at += chunk.len() as u64;
        }
        let end = match newline {
            Some(nl) => Some(nl),
            None if size <= DETECT_LIMIT => Some(size),
            None => None,
        };
        Ok(FirstLine {
            end,
            newline: newline.is_some(),
            last_control,
            hashed,
            digest: if hashed { all.finish() } else { None },
            after_control: if hashed {
                after.and_then(Lagged::finish)
            } else {
                None
            },
        })
    }
}

/// Detection's questions about a file's lines, the answers about its first line read once.
struct Probe<'f> {
    reader: LinesReader<'f>,
    first: Option<FirstLine>,
}

impl<'f> Probe<'f> {
    fn new(file: &'f File, size: u64) -> Probe<'f> {
        Probe {
            reader: LinesReader::new(file, size, 0, OnDamage::Stop),
            first: None,
        }
    }

    fn first(&mut self) -> io::Result<FirstLine> {
        match self.first {
            Some(first) => Ok(first),
            None => {
                let first = FirstLine::read(&mut self.reader)?;
                self.first = Some(first);
                Ok(first)
            }
        }
    }

    /// Whether the entry `[at, at + len)` has the SHA-256 `stored`.
    fn matches(&mut self, at: u64, len: u64, stored: &[u8; 32]) -> io::Result<bool> {
        if at == 0 {
            let first = self.first()?;
            if first.hashed && first.end == Some(len + SUFFIX) {
                return Ok(first.digest.is_some_and(|d| d == *stored));
            }
        }
        self.reader.matches(at, len, stored)
    }
}

/// Bytes at the start of a file whose lines detection looks at (the lines that start in them,
/// and always the first line, whatever its length).
const SAMPLE: u64 = 64 << 10;
/// The most lines detection looks at.
const SAMPLE_LINES: u64 = 1024;
/// Detection reads no further than this: the first line must end within it, and when none of
/// the sampled lines checks out, a line that does is looked for up to it.
const DETECT_LIMIT: u64 = 64 << 20;

/// Whether the file reads as a lines log, by the shape of its lines rather than by any one of
/// them: of the lines that start in its first `SAMPLE` bytes, and after it until one has the
/// shape (at most `SAMPLE_LINES`, each ending within `DETECT_LIMIT`), up to the last one that ends with a
/// space and 64 lowercase hex digits, at least half have that shape, and one line that starts
/// in the first `DETECT_LIMIT` bytes checks out (one of the sample's, or, when damage covers
/// the sample, one after it). Lines after the last shaped one do not count: a crash can leave
/// any garbage after the entries (a torn tail), and a last line without a newline that lacks
/// the shape is a write cut short or zero fill. A log whose first entries are damaged is still
/// a log; a text file is not, nor is one whose lines only look like checksummed lines (no
/// checksum matches), nor is another program's file that holds entries after bytes of its own
/// ([`holds_entries`]: an archive, a database, a note).
pub fn looks_like_lines(file: &File, size: u64) -> io::Result<bool> {
    Probe::new(file, size).looks_like_lines()
}

impl Probe<'_> {
    /// [`looks_like_lines`], with what is known of the first line.
    fn looks_like_lines(&mut self) -> io::Result<bool> {
        let size = self.reader.win.size;
        let reader = self;
        // A line is only looked at if it ends within DETECT_LIMIT bytes (a file without newlines
        // is not read to its end); the first line's end is the one read ([`FirstLine`]).
        let line_end = |reader: &mut Probe<'_>, at: u64| -> io::Result<Option<u64>> {
            if at == 0 {
                return Ok(reader.first()?.end);
            }
            Ok(match reader.reader.find_newline_before(at, DETECT_LIMIT)? {
                Some(nl) => Some(nl),
                None if size <= DETECT_LIMIT => Some(size),
                None => None,
            })
        };
        // The lines starting in [from, from + SAMPLE), and after them until one has the shape
        // (damage at the start of a log, zeros, garbage, a long damaged line, must not hide the
        // lines after it): (lines, lines up to the last shaped one, shaped, one checks out, where
        // the sample ends, where the first shaped line starts).
        let sample = |reader: &mut Probe<'_>, from: u64| -> io::Result<_> {
            let (mut lines, mut counted, mut shaped, mut valid) = (0u64, 0u64, 0u64, false);
            let (mut at, mut first) = (from, None);
            while at < size && (at < from + SAMPLE || shaped == 0) && lines < SAMPLE_LINES {
                let Some(end) = line_end(reader, at)? else {
                    break;
                };
                lines += 1;
                if let Some(stored) = reader.reader.shape(at, end)? {
                    shaped += 1;
                    counted = lines;
                    first.get_or_insert(at);
                    valid = valid || reader.matches(at, end - at - SUFFIX, &stored)?;
                }
                at = end + 1;
            }
            Ok((counted, shaped, valid, at, first))
        };
        if holds_entries(reader, &line_end)? {
            return Ok(false);
        }
        let (mut counted, mut shaped, mut valid, mut at, first) = sample(reader, 0)?;
        // Too few lines with the shape, all the others before the first one that has it, and
        // those not text (control bytes: garbage over the log's start, not the lines of a text
        // file that quotes entries): that damage says nothing about the lines after it, which are
        // sampled alone.
        if shaped * 2 < counted
            && let Some(first) = first
            && !is_text(&mut reader.reader, first)?
        {
            (counted, shaped, valid, at, _) = sample(reader, first)?;
        }
        if shaped == 0 || shaped * 2 < counted {
            return Ok(false);
        }
        // The sample has the shape but none of its lines checks out: damage at the start of a log
        // (or a first entry longer than the sample) hides the valid lines after it. A log has one
        // further on; a file of lines ending in hashes of something else has none.
        while !valid && at < size {
            let Some(end) = line_end(reader, at)? else {
                break;
            };
            if let Some(stored) = reader.reader.shape(at, end)? {
                valid = reader.matches(at, end - at - SUFFIX, &stored)?;
            }
            at = end + 1;
        }
        Ok(valid)
    }
}

/// Bytes at the end of a line that does not check out in which detection looks for a whole
/// entry that does (another program's bytes glued before it).
const GLUED: u64 = 1 << 10;
/// Lowercase hex digits at the end of a line of text before the first entry that make it the
/// remains of a line of the format (text written over a log's start), not a document's own.
const HEX_END: u64 = 8;

/// Whether the file is another program's that holds lines-log entries rather than a lines log
/// (damaged or not): its first line does not check out, and the bytes before its entries are
/// another format's, not damage over a log's start. Of the lines before the first one with the
/// shape (at most `SAMPLE_LINES`, each ending within `DETECT_LIMIT`):
///
/// - the file starts with another format's signature (an archive, an executable, a database:
///   [`super::aof::SIGNATURES`]); or
/// - those lines are text, one of them shorter than any line of the format (an empty line, a
///   header, a sentence), the last one does not end in `HEX_END` lowercase hex digits (what
///   text written over a log's start leaves of the line it ends in), and the shaped line
///   checks out: a note, an email or an export with its own text before the entries; or
/// - the shaped line does not check out, but ends in a whole entry that does, starting in its
///   last `GLUED` bytes or right after its last control byte, and what is before that entry is
///   neither a line of the format that lost its newline (the shape, then one byte) nor zeros:
///   another format's header glued to the first entry (a tar, cpio or zip member, a database
///   record). Damage over a log's start ends inside a line and leaves no whole entry there.
fn holds_entries(
    probe: &mut Probe<'_>,
    line_end: &dyn Fn(&mut Probe<'_>, u64) -> io::Result<Option<u64>>,
) -> io::Result<bool> {
    let size = probe.reader.win.size;
    let (mut at, mut lines, mut short, mut hex_end) = (0u64, 0u64, false, false);
    while at < size && lines < SAMPLE_LINES {
        let Some(end) = line_end(probe, at)? else {
            return Ok(false);
        };
        let reader = &mut probe.reader;
        let Some(stored) = reader.shape(at, end)? else {
            if at == 0 && starts_with_signature(reader)? {
                return Ok(true);
            }
            short = short || end - at < SUFFIX;
            // What text written over a log's start leaves of the line it ends in: the end of
            // that line's checksum.
            hex_end = end - at >= HEX_END
                && reader
                    .win
                    .get(end - HEX_END, HEX_END as usize)?
                    .iter()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b));
            lines += 1;
            at = end + 1;
            continue;
        };
        let entry = end - at - SUFFIX;
        if probe.matches(at, entry, &stored)? {
            return Ok(at > 0 && short && !hex_end && is_text(&mut probe.reader, at)?);
        }
        // The first line's last control byte, and the digest of what follows it, are known.
        let first = match at {
            0 => Some(probe.first()?).filter(|f| f.hashed),
            _ => None,
        };
        let reader = &mut probe.reader;
        if starts_with_signature(reader)? {
            return Ok(true);
        }
        if entry == 0 {
            return Ok(false);
        }
        // A whole entry after other bytes: in the line's last GLUED bytes, or right after its
        // last control byte (a binary header's last byte, the zero padding of an archive).
        let from = at + entry.saturating_sub(GLUED).max(1);
        let tail = reader.win.get(from, (at + entry - from) as usize)?.to_vec();
        let mut glued = (0..=tail.len())
            .find(|&i| Sha256::digest(&tail[i..])[..] == stored[..])
            .map(|i| from + i as u64);
        let control = match first {
            Some(first) => first.last_control,
            None => last_control(reader, at, at + entry)?,
        };
        if glued.is_none()
            && let Some(c) = control
            && c + 1 < from
            && match first {
                Some(first) => first.after_control == Some(stored),
                None => reader.matches(c + 1, at + entry - c - 1, &stored)?,
            }
        {
            glued = Some(c + 1);
        }
        return Ok(match glued {
            // A line of the format and the byte that was its newline, or zeros over the start
            // up to an entry: a damaged log.
            Some(p) => reader.shape(at, p - 1)?.is_none() && !all_zero(reader, at, p)?,
            None => false,
        });
    }
    Ok(false)
}

/// Whether bytes `[start, end)` are all zero.
fn all_zero(reader: &mut LinesReader<'_>, start: u64, end: u64) -> io::Result<bool> {
    let mut at = start;
    while at < end {
        let bytes = reader.win.get(at, (end - at) as usize)?;
        if bytes.is_empty() || bytes.iter().any(|&b| b != 0) {
            return Ok(bytes.is_empty());
        }
        at += bytes.len() as u64;
    }
    Ok(true)
}

/// The last control byte (see [`is_text`]) in `[start, end)`, if any, looking back from the end.
fn last_control(reader: &mut LinesReader<'_>, start: u64, end: u64) -> io::Result<Option<u64>> {
    let mut at = end;
    while at > start {
        let from = at.saturating_sub(super::reader::WINDOW as u64).max(start);
        let bytes = reader.win.get(from, (at - from) as usize)?;
        if let Some(i) = bytes.iter().rposition(|&b| is_control(b)) {
            return Ok(Some(from + i as u64));
        }
        at = from;
    }
    Ok(None)
}

/// A byte text does not hold: a control byte but tab, newline, vertical tab, form feed,
/// carriage return and escape (terminal colours in a build's output).
fn is_control(b: u8) -> bool {
    matches!(b, 0x00..=0x08 | 0x0e..=0x1a | 0x1c..=0x1f | 0x7f)
}

/// Whether the file starts with the signature of another format (an archive, an executable,
/// an image: [`super::aof::SIGNATURES`]): its bytes before a lines log's entries are that
/// format's, not damage over a log's start (a tar holding a lines log is a tar).
fn starts_with_signature(reader: &mut LinesReader<'_>) -> io::Result<bool> {
    let n = reader.win.size.min(super::aof::HEAD as u64) as usize;
    Ok(super::aof::has_signature(reader.win.get(0, n)?))
}

/// Whether the file's first `len` bytes are text: no control byte but tab, newline, vertical
/// tab, form feed, carriage return and escape (terminal colours in a build's output).
fn is_text(reader: &mut LinesReader<'_>, len: u64) -> io::Result<bool> {
    let mut at = 0;
    while at < len {
        let n = (len - at).min(super::reader::WINDOW as u64) as usize;
        let bytes = reader.win.get(at, n)?;
        if bytes.iter().any(|&b| is_control(b)) {
            return Ok(false);
        }
        at += n as u64;
    }
    Ok(true)
}

/// Whether any line of the file checks out: what a file named as a lines log
/// (`--log-format lines`) must have to be one. A file in which no entry is valid cannot be told
/// from a text file, and is never cut as a damaged log without `--force`.
pub fn any_valid_line(file: &File, size: u64) -> io::Result<bool> {
    Probe::new(file, size).any_valid_line()
}

impl Probe<'_> {
    /// [`any_valid_line`], with what is known of the first line.
    fn any_valid_line(&mut self) -> io::Result<bool> {
        let first = self.first()?;
        // The first line, read once, answers for itself when it was hashed whole.
        let from = match first.end {
            Some(end) if first.hashed => {
                if let Some(stored) = self.reader.shape(0, end)?
                    && first.digest == Some(stored)
                {
                    return Ok(true);
                }
                if !first.newline {
                    return Ok(false);
                }
                end + 1
            }
            _ => 0,
        };
        Ok(self.reader.find_next_valid(from)?.is_some())
    }

    /// [`torn_first_line`], with what is known of the first line.
    fn torn_first_line(&mut self) -> io::Result<bool> {
        let size = self.reader.win.size;
        if size == 0 || size > DETECT_LIMIT {
            return Ok(false);
        }
        let first = self.first()?;
        Ok(!first.newline && first.last_control.is_none())
    }
}

/// One file's lines asked about several times (detection, then whether a file named a lines
/// log is one or a torn first line): its first line is read once.
pub struct Questions<'f>(Probe<'f>);

impl<'f> Questions<'f> {
    /// Questions about `file`, of `size` bytes.
    pub fn new(file: &'f File, size: u64) -> Questions<'f> {
        Questions(Probe::new(file, size))
    }

    /// [`looks_like_lines`].
    pub fn looks_like_lines(&mut self) -> io::Result<bool> {
        self.0.looks_like_lines()
    }

    /// [`any_valid_line`].
    pub fn any_valid_line(&mut self) -> io::Result<bool> {
        self.0.any_valid_line()
    }

    /// [`torn_first_line`].
    pub fn torn_first_line(&mut self) -> io::Result<bool> {
        self.0.torn_first_line()
    }
}

/// Whether the file can be a lines log whose first line was cut short (docs/FORMAT.md, "A log's
/// start"): a new lines log is renamed into place empty and its first group written at 0, so a
/// crash can leave the start of its first line and nothing else. Such a file holds no newline
/// and only text (no control byte, [`is_text`]): the start of an entry, then perhaps a space
/// and some of its checksum's hex digits. It is not read past [`DETECT_LIMIT`] bytes (a longer
/// file is not one). The bytes cannot prove it a log: only a file the user names as a lines log
/// is read as one (a torn tail at 0); detection only says that it may be one.
pub fn torn_first_line(file: &File, size: u64) -> io::Result<bool> {
    Probe::new(file, size).torn_first_line()
}

/// Bytes at the end of a lines log that the tail check before an append reads.
pub const TAIL_CHECK: u64 = 64 << 10;

/// What the tail check before an append found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// Empty, or every line starting in the last [`TAIL_CHECK`] bytes is valid and the file
    /// ends with a newline.
    Intact,
    /// The same, but the last line has no newline: the append writes one first.
    Unterminated,
    /// A damaged line there: appending would leave the new lines behind damage.
    Damaged,
}

/// The tail check before an append: every line starting in the last [`TAIL_CHECK`] bytes must
/// be valid (at least the last line, however long). The format has no marks where an append
/// starts, so a power loss inside a multi-line append can leave a damaged line followed by
/// valid lines of the same append; checking more than the last line keeps a new append from
/// landing behind such damage, within that window.
pub fn tail_state(file: &File, size: u64) -> io::Result<Tail> {
    if size == 0 {
        return Ok(Tail::Intact);
    }
    let mut reader = LinesReader::new(file, size, 0, OnDamage::Stop);
    let last = last_line_start(file, size)?;
    let from = size.saturating_sub(TAIL_CHECK);
    // The first line that starts inside the window; if none does (one long last line), the
    // last line.
    let start = match from {
        0 => 0,
        _ => match reader.find_newline(from - 1)? {
            Some(nl) if nl < last => nl + 1,
            _ => last,
        },
    };
    reader.pos = start;
    loop {
        match reader.next_item()? {
            Item::Record(_) => {}
            Item::Defect(_) => return Ok(Tail::Damaged),
            Item::End if reader.win.get(size - 1, 1)? == b"\n" => return Ok(Tail::Intact),
            Item::End => return Ok(Tail::Unterminated),
        }
    }
}

/// The start of the last line of a file (a final newline ends that line; it does not start
/// another one).
pub fn last_line_start(file: &File, size: u64) -> io::Result<u64> {
    let mut win = Window::new(file, size);
    if size == 0 {
        return Ok(0);
    }
    let mut at = if win.get(size - 1, 1)? == b"\n" {
        size - 1
    } else {
        size
    };
    while at > 0 {
        let from = at.saturating_sub(super::reader::WINDOW as u64);
        let chunk = win.get(from, (at - from) as usize)?;
        if let Some(i) = memchr::memrchr(b'\n', chunk) {
            return Ok(from + i as u64 + 1);
        }
        at = from;
    }
    Ok(0)
}

/// Whether the file's last byte is not a newline (a last line without one).
pub fn unterminated(file: &File, size: u64) -> io::Result<bool> {
    Ok(size > 0 && Window::new(file, size).get(size - 1, 1)? != b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(bytes: &[u8]) -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f.log");
        std::fs::write(&path, bytes).expect("write");
        let f = File::open(&path).expect("open");
        (dir, f)
    }

    /// Detection of a large sparse file without a newline steps over its holes (it read 64 MiB
    /// of zeros from each such file in a directory walk); a newline after a hole is found.
    #[test]
    fn the_search_for_a_newline_steps_over_holes() {
        let (dir, f) = file(&[b'x'; 100]);
        let g = File::options()
            .write(true)
            .open(dir.path().join("f.log"))
            .expect("open");
        let size = 1u64 << 30;
        g.set_len(size).expect("set_len");
        if crate::platform::next_data(&f, 1 << 20)
            .expect("seek")
            .is_some()
        {
            eprintln!("SKIPPED: this filesystem does not report holes (lseek SEEK_DATA)");
            return;
        }
        let mut reader = LinesReader::new(&f, size, 0, OnDamage::Stop);
        assert_eq!(
            reader.find_newline_before(0, DETECT_LIMIT).expect("find"),
            None
        );
        assert!(
            reader.win.bytes_read <= 2 << 20,
            "read {}",
            reader.win.bytes_read
        );
        assert!(!looks_like_lines(&f, size).expect("detect"));
        crate::platform::write_all_at(&g, b"\n", 40 << 20).expect("write");
        let mut reader = LinesReader::new(&f, size, 0, OnDamage::Stop);
        assert_eq!(
            reader.find_newline_before(0, DETECT_LIMIT).expect("find"),
            Some(40 << 20)
        );
        assert!(
            reader.win.bytes_read <= 4 << 20,
            "read {}",
            reader.win.bytes_read
        );
    }

    fn lines(entries: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for e in entries {
            encode(&mut out, e);
        }
        out
    }

    #[test]
    fn encoding_is_the_original_go_writers() {
        // fmt.Sprintf("%s %s\n", entry, sha256hex(entry)), with the known digest of "abc".
        let mut out = Vec::new();
        encode(&mut out, b"abc");
        assert_eq!(
            out,
            b"abc ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n"
        );
    }

    #[test]
    fn detection_goes_by_the_shape_of_the_lines() {
        let mut log = lines(&[b"one", b"two", b"three"]);
        log[0] ^= 1;
        let (_d, f) = file(&log);
        assert!(looks_like_lines(&f, log.len() as u64).expect("detect"));
        let unterminated = &lines(&[b"only"])[..69];
        let (_d, f) = file(unterminated);
        assert!(looks_like_lines(&f, 69).expect("detect"));
        let mut garbage_after = lines(&[b"one", b"two"]);
        garbage_after.extend_from_slice(b"\x01\n\x02\n\x03\n\x04\n\x05\nno newline");
        let (_d, f) = file(&garbage_after);
        assert!(looks_like_lines(&f, garbage_after.len() as u64).expect("detect"));
        let text = b"hello world\nnot a log\n";
        let (_d, f) = file(text);
        assert!(!looks_like_lines(&f, text.len() as u64).expect("detect"));
        let mut all_bad = lines(&[b"one", b"two"]);
        all_bad[0] ^= 1;
        all_bad[70] ^= 1;
        let (_d, f) = file(&all_bad);
        assert!(!looks_like_lines(&f, all_bad.len() as u64).expect("detect"));
        assert!(!any_valid_line(&f, all_bad.len() as u64).expect("scan"));
    }

    #[test]
    fn the_tail_of_a_log_whose_last_line_lacks_its_newline() {
        let log = lines(&[b"one", b"two"]);
        let (_d, f) = file(&log[..log.len() - 1]);
        assert_eq!(
            tail_state(&f, log.len() as u64 - 1).expect("tail"),
            Tail::Unterminated
        );
        let (_d, f) = file(&log);
        assert_eq!(
            tail_state(&f, log.len() as u64).expect("tail"),
            Tail::Intact
        );
        let (_d, f) = file(&log[..log.len() - 2]);
        assert_eq!(
            tail_state(&f, log.len() as u64 - 2).expect("tail"),
            Tail::Damaged
        );
        assert_eq!(
            last_line_start(&f, log.len() as u64 - 2).expect("start"),
            69
        );
    }
}
