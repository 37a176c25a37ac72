//! The seed notes' checksummed text log (`lines`): one entry per line, then a space and the
//! SHA-256 of the entry as 64 lowercase hex digits. The checksum is the LAST field, so entries
//! may contain spaces. Reading, detection, and the encoding `log append --log-format lines` uses.

use std::fs::File;
use std::io;

use sha2::{Digest, Sha256};

use super::format::{Checksum, MAX_RECORD};
use super::reader::{Reader, Window};
use super::scan::{Defect, DefectKind, Extra, Item, OnDamage, Record};

/// Bytes after the entry: a space and 64 hex digits (the newline not counted).
pub const SUFFIX: u64 = 65;

/// The longest line read: an entry of [`MAX_RECORD`] bytes, the suffix and the newline. A longer
/// line is a `bad-length` defect (memory stays bounded whatever the file holds).
pub const MAX_LINE: u64 = MAX_RECORD + SUFFIX + 1;

/// The line for one entry (the caller refuses entries holding a newline).
pub fn encode(out: &mut Vec<u8>, entry: &[u8]) {
    out.reserve(entry.len() + SUFFIX as usize + 1);
    out.extend_from_slice(entry);
    out.push(b' ');
    let digest = Sha256::digest(entry);
    let mut hexed = [0u8; 64];
    // hex::encode_to_slice cannot fail with a buffer of exactly twice the input's length.
    if hex::encode_to_slice(digest, &mut hexed).is_ok() {
        out.extend_from_slice(&hexed);
    }
    out.push(b'\n');
}

/// What is at a line's start.
enum Line {
    /// A valid line: entry length, checksum, offset after the newline.
    Valid(u64, [u8; 32], u64),
    /// A complete but damaged line ending at the given offset (after its newline).
    Bad(DefectKind, u64),
    /// No newline before the end of the file.
    Incomplete,
}

/// Forward reader of a lines log.
pub struct LinesReader<'f> {
    win: Window<'f>,
    pos: u64,
    index: u64,
    on_damage: OnDamage,
    done: bool,
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
        }
    }

    /// The offset of the newline ending the line at `start`, looking at most `limit` bytes
    /// ahead; `Err(true)` if the limit was reached, `Err(false)` if the file ended first.
    fn find_newline(&mut self, start: u64, limit: u64) -> io::Result<Result<u64, bool>> {
        let mut at = start;
        while at < self.win.size {
            if at - start >= limit {
                return Ok(Err(true));
            }
            let chunk = self.win.get(at, super::scan::WINDOW)?;
            if let Some(i) = memchr::memchr(b'\n', chunk) {
                let nl = at + i as u64;
                // `limit` counts the newline too.
                return Ok(if nl - start >= limit {
                    Err(true)
                } else {
                    Ok(nl)
                });
            }
            at += chunk.len() as u64;
        }
        Ok(Err(false))
    }

    fn line(&mut self, start: u64) -> io::Result<Line> {
        let nl = match self.find_newline(start, MAX_LINE)? {
            Ok(nl) => nl,
            Err(false) => return Ok(Line::Incomplete),
            Err(true) => {
                // Too long to be an entry: find where it ends (no memory kept) to go on after it.
                return Ok(match self.find_newline(start, u64::MAX)? {
                    Ok(nl) => Line::Bad(DefectKind::BadLength, nl + 1),
                    Err(_) => Line::Incomplete,
                });
            }
        };
        let len = nl - start;
        if len < SUFFIX {
            return Ok(Line::Bad(DefectKind::NoChecksum, nl + 1));
        }
        let entry_len = len - SUFFIX;
        let tail = self.win.get(nl - SUFFIX, SUFFIX as usize)?;
        let mut stored = [0u8; 32];
        if tail[0] != b' '
            || !tail[1..]
                .iter()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
            || hex::decode_to_slice(&tail[1..], &mut stored).is_err()
        {
            return Ok(Line::Bad(DefectKind::NoChecksum, nl + 1));
        }
        let mut hasher = Sha256::new();
        if entry_len <= super::scan::WINDOW as u64 {
            hasher.update(self.win.get(start, entry_len as usize)?);
        } else {
            self.win.stream(start, entry_len, &mut |piece| {
                hasher.update(piece);
                Ok(())
            })?;
        }
        if hasher.finalize()[..] != stored {
            return Ok(Line::Bad(DefectKind::ChecksumMismatch, nl + 1));
        }
        Ok(Line::Valid(entry_len, stored, nl + 1))
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
        if record.len <= super::scan::WINDOW as u64 {
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

/// Whether the file starts with a valid line (its checksum matching its entry).
pub fn looks_like_lines(file: &File, size: u64) -> io::Result<bool> {
    let mut reader = LinesReader::new(file, size, 0, OnDamage::Stop);
    Ok(matches!(reader.line(0)?, Line::Valid(..)))
}

/// Bytes at the end of a lines log that the tail check before an append reads.
pub const TAIL_CHECK: u64 = 64 << 10;

/// The tail check before an append: the file is empty, or ends with a newline and every line
/// starting in its last [`TAIL_CHECK`] bytes is valid (at least the last line, however long).
/// The format has no marks where an append starts, so a power loss inside a multi-line append
/// can leave a damaged line followed by valid lines of the same append; checking more than the
/// last line keeps a new append from landing behind such damage, within that window.
pub fn tail_intact(file: &File, size: u64) -> io::Result<bool> {
    if size == 0 {
        return Ok(true);
    }
    let mut reader = LinesReader::new(file, size, 0, OnDamage::Stop);
    if reader.win.get(size - 1, 1)? != b"\n" {
        return Ok(false);
    }
    let from = size.saturating_sub(TAIL_CHECK);
    let start = if from == 0 {
        0
    } else {
        // The first line that starts inside the window; if none does (one long last line),
        // the last line.
        match reader.find_newline(from - 1, TAIL_CHECK)? {
            Ok(nl) if nl + 1 < size => nl + 1,
            _ => match last_line_start(file, size)? {
                Some(start) => start,
                None => return Ok(false),
            },
        }
    };
    reader.pos = start;
    loop {
        match reader.next_item()? {
            Item::Record(_) => {}
            Item::Defect(_) => return Ok(false),
            Item::End => return Ok(true),
        }
    }
}

/// The start of the last line of a file that ends with a newline, looking back at most
/// [`MAX_LINE`] bytes; `None` if no line start is found that close (the caller then scans).
pub fn last_line_start(file: &File, size: u64) -> io::Result<Option<u64>> {
    if size == 0 {
        return Ok(Some(0));
    }
    let mut win = Window::new(file, size);
    // Skip the final newline, then look back for the one before it.
    let end = size - 1;
    let floor = end.saturating_sub(MAX_LINE);
    let mut at = end;
    while at > floor {
        let from = at.saturating_sub(super::scan::WINDOW as u64).max(floor);
        let chunk = win.get(from, (at - from) as usize)?;
        if let Some(i) = memchr::memrchr(b'\n', chunk) {
            return Ok(Some(from + i as u64 + 1));
        }
        at = from;
    }
    Ok((floor == 0).then_some(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_the_seed_writers() {
        // fmt.Sprintf("%s %s\n", entry, sha256hex(entry)), with the known digest of "abc".
        let mut out = Vec::new();
        encode(&mut out, b"abc");
        assert_eq!(
            out,
            b"abc ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n"
        );
    }
}
