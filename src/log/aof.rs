//! Files of the Go `aof` package: memory-mapped append-only files, zero-filled past the data,
//! with a tail magic after each write and checkpoint magics that mark the end of a chunk. The
//! package defines no record format inside the data, so durable does not invent one: it finds
//! the logical end the way the package's own recovery does, and shows the data split only at
//! the magics the file holds.

use std::fs::File;
use std::io;

use memchr::memmem;

use super::reader::{Reader, Window};
use super::scan::{AofMagic, Defect, DefectKind, Extra, Item, Record, WINDOW};

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
    /// The last non-zero bytes are a checkpoint magic.
    Checkpoint,
    /// Neither, but a checkpoint magic earlier: the data after it is damaged (a torn write).
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
    /// Where the data ends: the tail magic's offset, or the end of the checkpoint it lands on.
    pub logical_end: u64,
    /// The tail magic's offset (outcome `Tail`).
    pub tail: Option<u64>,
    /// The offset of the checkpoint magic the logical end is after (`Checkpoint`, `Torn`).
    pub checkpoint: Option<u64>,
    /// One past the last non-zero byte (0 if none): the end of what a repair zero-fills.
    pub nonzero_end: u64,
}

/// One past the last non-zero byte of the file.
fn nonzero_end(win: &mut Window<'_>) -> io::Result<u64> {
    let mut end = win.size;
    while end > 0 {
        let from = end.saturating_sub(WINDOW as u64);
        let chunk = win.get(from, (end - from) as usize)?;
        if let Some(i) = chunk.iter().rposition(|b| *b != 0) {
            return Ok(from + i as u64 + 1);
        }
        end = from;
    }
    Ok(0)
}

/// The offset of the last `needle` that ends at or before `end`.
fn rfind(win: &mut Window<'_>, needle: &[u8; 8], end: u64) -> io::Result<Option<u64>> {
    let finder = memmem::FinderRev::new(needle);
    let mut end = end;
    while end >= 8 {
        let from = end.saturating_sub(WINDOW as u64);
        let chunk = win.get(from, (end - from) as usize)?;
        if let Some(i) = finder.rfind(chunk) {
            return Ok(Some(from + i as u64));
        }
        if from == 0 {
            break;
        }
        // Overlap by 7 bytes: a magic may straddle the chunks' edge.
        end = from + 7;
    }
    Ok(None)
}

/// Find the logical end of an aof file.
pub fn analyse(file: &File, size: u64) -> io::Result<Analysis> {
    let mut win = Window::new(file, size);
    let nz = nonzero_end(&mut win)?;
    let mut a = Analysis {
        size,
        outcome: Outcome::Empty,
        logical_end: 0,
        tail: None,
        checkpoint: None,
        nonzero_end: nz,
    };
    if nz == 0 {
        return Ok(a);
    }
    if nz >= 8 {
        let last = win.get(nz - 8, 8)?;
        if last == TAIL {
            a.outcome = Outcome::Tail;
            a.tail = Some(nz - 8);
            a.logical_end = nz - 8;
            return Ok(a);
        }
        if last == CHECKPOINT {
            a.outcome = Outcome::Checkpoint;
            a.checkpoint = Some(nz - 8);
            a.logical_end = nz;
            return Ok(a);
        }
    }
    match rfind(&mut win, &CHECKPOINT, nz)? {
        Some(c) => {
            a.outcome = Outcome::Torn;
            a.checkpoint = Some(c);
            a.logical_end = c + 8;
        }
        None => a.outcome = Outcome::Corrupted,
    }
    Ok(a)
}

/// Size granularity of the package's files (it grows them a page at a time).
const PAGE: u64 = 4096;

impl Analysis {
    /// Whether the file reads as an aof file: its last non-zero bytes are a magic; or it holds
    /// a checkpoint magic and looks preallocated (a whole number of pages, zeros at the end),
    /// which keeps a program that merely contains the magic's bytes (a compiled binary) from
    /// being taken for a torn aof file and "repaired".
    pub fn looks_like_aof(&self) -> bool {
        match self.outcome {
            Outcome::Tail | Outcome::Checkpoint => true,
            Outcome::Torn => self.size.is_multiple_of(PAGE) && self.nonzero_end < self.size,
            Outcome::Empty | Outcome::Corrupted => false,
        }
    }
}

/// Forward reader: the data up to the logical end as segments split at checkpoint magics, then
/// the damage (if any).
pub struct AofReader<'f> {
    win: Window<'f>,
    a: Analysis,
    /// Start of the next segment.
    pos: u64,
    index: u64,
    done: bool,
}

impl<'f> AofReader<'f> {
    /// Read `file` as analysed.
    pub fn new(file: &'f File, a: Analysis) -> AofReader<'f> {
        AofReader {
            win: Window::new(file, a.size),
            a,
            pos: 0,
            index: 0,
            done: false,
        }
    }

    /// The next checkpoint magic that ends at or before the logical end, from `from`.
    fn next_checkpoint(&mut self, from: u64) -> io::Result<Option<u64>> {
        let finder = memmem::Finder::new(&CHECKPOINT);
        let end = self.a.logical_end;
        let mut at = from;
        while at + 8 <= end {
            let n = (end - at).min(WINDOW as u64) as usize;
            let chunk = self.win.get(at, n)?;
            if let Some(i) = finder.find(chunk) {
                return Ok(Some(at + i as u64));
            }
            if at + n as u64 >= end {
                break;
            }
            at += (n as u64).saturating_sub(7).max(1);
        }
        Ok(None)
    }

    fn segment(&mut self, end: u64, magic: Option<(AofMagic, u64)>) -> Item {
        let record = Record {
            index: self.index,
            offset: self.pos,
            len: end - self.pos,
            data: self.pos,
            end: magic.map_or(end, |(_, at)| at + 8),
            seq: self.index,
            checksum: None,
            extra: Extra::AofSegment {
                ends_with: magic.map(|(m, _)| m),
                magic_offset: magic.map(|(_, at)| at),
            },
        };
        self.index += 1;
        self.pos = record.end;
        Item::Record(record)
    }
}

impl Reader for AofReader<'_> {
    fn next_item(&mut self) -> io::Result<Item> {
        if self.done {
            return Ok(Item::End);
        }
        let end = self.a.logical_end;
        if let Some(c) = self.next_checkpoint(self.pos)? {
            return Ok(self.segment(c, Some((AofMagic::Checkpoint, c))));
        }
        if let Some(t) = self.a.tail
            && self.pos <= t
        {
            return Ok(self.segment(t, Some((AofMagic::Tail, t))));
        }
        if self.pos < end {
            // Data up to the logical end with no magic after it cannot happen (the end is a
            // magic's), but stay total.
            return Ok(self.segment(end, None));
        }
        self.done = true;
        Ok(match self.a.outcome {
            Outcome::Torn => Item::Defect(Defect::new(
                end,
                DefectKind::NoMagic {
                    checkpoint: Some(end),
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

    #[test]
    fn outcomes_follow_the_package() {
        assert_eq!(analysed(&[]).outcome, Outcome::Empty);
        assert_eq!(analysed(&[0; 4096]).outcome, Outcome::Empty);

        let tail = analysed(&padded(&[b"abc".as_slice(), &TAIL].concat()));
        assert_eq!(
            (tail.outcome, tail.logical_end, tail.tail),
            (Outcome::Tail, 3, Some(3))
        );

        let cp = analysed(&padded(&[b"abc".as_slice(), &CHECKPOINT].concat()));
        assert_eq!((cp.outcome, cp.logical_end), (Outcome::Checkpoint, 11));

        let torn = analysed(&padded(&[b"ab".as_slice(), &CHECKPOINT, b"torn"].concat()));
        assert_eq!(
            (torn.outcome, torn.logical_end, torn.nonzero_end),
            (Outcome::Torn, 10, 14)
        );

        let bad = analysed(&padded(b"no magic here"));
        assert_eq!((bad.outcome, bad.logical_end), (Outcome::Corrupted, 0));
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
}
