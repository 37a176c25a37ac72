//! The forward reader of native logs: yields records and defects with their offsets in bounded
//! memory (one window of [`WINDOW`] bytes, whatever the record or file size), and classifies
//! each defect as a torn tail (nothing valid follows) or corruption before the tail (it looks
//! ahead for a later valid record and names it as evidence).

use std::fs::File;
use std::io;
use std::path::Path;

use super::format::{
    Algorithm, Checksum, FILE_HEADER_LEN, FLAG_FIRST, FLAG_LAST, FLAGS_KNOWN, FileHeader,
    RECORD_HEADER_LEN, RECORD_MAGIC, RecordHasher, RecordHeader, RecordHeaderError,
    decode_trailer_prefix,
};
use super::item::{Defect, DefectKind, Evidence, Extra, Item, OnDamage, Record, Skipped};
use super::reader::{Reader, WINDOW, fill, shrank};
use crate::error::{Error, Result};
use crate::platform;

/// Bytes read at a time when walking back from the end of the file (the tail check, `dump
/// --last`): enough for many small records per read, little for a few large ones.
const BACK: usize = 16 << 10;

/// A native log open for reading: its file, header and size when opened.
pub struct NativeLog {
    /// The file.
    pub file: File,
    /// Its header.
    pub header: FileHeader,
    /// Its size when opened.
    pub size: u64,
}

impl NativeLog {
    /// A forward reader from the first record.
    pub fn reader(&self, on_damage: OnDamage) -> NativeReader<'_> {
        NativeReader::new(
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
pub fn open(path: &Path) -> Result<NativeLog> {
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
    Ok(NativeLog { file, header, size })
}

fn read_header(file: &File, path: &Path) -> Result<(FileHeader, u64)> {
    let size = file
        .metadata()
        .map_err(|source| Error::Inspect {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    Ok((super::reader::native_header(file, path, size)?, size))
}

/// Forward reader over an open log file.
pub struct NativeReader<'f> {
    file: &'f File,
    header: FileHeader,
    size: u64,
    buf: Vec<u8>,
    win_start: u64,
    win_len: usize,
    pos: u64,
    next_seq: u64,
    index: u64,
    on_damage: OnDamage,
    done: bool,
    /// The payload of the last record, if it lies in the window.
    last_payload: Option<(usize, usize)>,
    bytes_read: u64,
    reads: u64,
    /// Read only what is asked for (tail access), not a whole window ahead.
    precise: bool,
    /// The CRC-32 of the salt and the record magic: every record header's CRC continues it
    /// (and a CRC-32 record checksum continues the header's).
    magic_crc: u32,
    /// The last record read did not end its append.
    in_append: bool,
    /// Where the append being read started.
    append_start: u64,
    /// The reader started mid-log ([`NativeReader::resume`]) inside an append that began
    /// before it: `append_start` is found from the trailers when a defect needs it.
    append_start_unknown: bool,
    /// Where a resumed reader started, and the append start it found from there, if it did.
    resumed: Option<(u64, Option<u64>)>,
    /// A record at this offset was just reported as a framing defect; take it as it is now.
    accept_at: Option<u64>,
    /// The last verdict reached by looking ahead, reused for later damage it covers.
    judged: Option<Judged>,
    /// A non-zero byte known to lie at this offset (so no zero fill starts before it).
    nonzero_at: Option<u64>,
    /// The first record (offset, sequence number) of the last whole append, found from the end;
    /// `None` until looked for.
    last_append: Option<Option<(u64, u64)>>,
}

/// A verdict on damage, valid for every later damage in `from..until` whose expected sequence
/// number is at most `max_seq`.
#[derive(Debug, Clone, Copy)]
struct Judged {
    from: u64,
    until: u64,
    max_seq: u64,
    evidence: Evidence,
}

impl<'f> NativeReader<'f> {
    /// Scan `file` (whose header is `header`) from `offset` (a record boundary), expecting
    /// sequence number `next_seq` there.
    pub fn new(
        file: &'f File,
        header: FileHeader,
        size: u64,
        offset: u64,
        next_seq: u64,
        on_damage: OnDamage,
    ) -> NativeReader<'f> {
        NativeReader {
            file,
            header,
            size,
            buf: Vec::new(),
            win_start: 0,
            win_len: 0,
            pos: offset,
            next_seq,
            index: 0,
            on_damage,
            done: false,
            last_payload: None,
            bytes_read: 0,
            reads: 0,
            precise: false,
            magic_crc: super::crc::update(crc32fast::hash(&header.salt), &RECORD_MAGIC),
            in_append: false,
            append_start: offset,
            append_start_unknown: false,
            resumed: None,
            accept_at: None,
            judged: None,
            nonzero_at: None,
            last_append: None,
        }
    }

    /// A resyncing reader that starts at `offset`, where [`NativeReader::find_record`] found a
    /// valid record with header `first`, as if a scan from the first record had reached it with
    /// nothing wrong before: it expects `first`'s sequence number there and takes its append
    /// marks as they are. Records that continue an append begun before `offset` have their
    /// append's start found from the trailers, walking back, if a defect needs it. Used by the
    /// parallel verification, which checks that the scan before it does end there.
    pub(crate) fn resume(
        file: &'f File,
        header: FileHeader,
        size: u64,
        offset: u64,
        first: &RecordHeader,
    ) -> NativeReader<'f> {
        let mut reader = NativeReader::new(file, header, size, offset, first.seq, OnDamage::Resync);
        reader.accept_at = Some(offset);
        reader.in_append = first.flags & FLAG_FIRST == 0;
        reader.append_start_unknown = reader.in_append;
        reader.resumed = Some((offset, None));
        reader
    }

    /// The first valid record at or after `from`, whatever its sequence number (the start of a
    /// piece of a parallel verification).
    pub(crate) fn find_record(&mut self, from: u64) -> io::Result<Option<(u64, RecordHeader)>> {
        self.find_next_valid(from.max(FILE_HEADER_LEN), 0)
    }

    /// Whether the last record read left an append open (it was not flagged last).
    pub(crate) fn in_append(&self) -> bool {
        self.in_append
    }

    /// Whether a reader freshly [resumed](NativeReader::resume) at the current position would
    /// go on exactly as this one, provided no damage before [`NativeReader::verdict_until`]
    /// follows and the append start it finds is [`NativeReader::open_append`]: nothing is
    /// pending from damage just read but the record here being taken as it is (as a resumed
    /// reader takes its first).
    pub(crate) fn settled(&self) -> bool {
        !self.done && self.accept_at.is_none_or(|at| at == self.pos)
    }

    /// Where the verdict kept from the last damage stops applying: later damage before it may
    /// be judged by that verdict instead of a look of its own.
    pub(crate) fn verdict_until(&self) -> u64 {
        self.judged.map_or(0, |j| j.until)
    }

    /// The start of the append being read, if one is open.
    pub(crate) fn open_append(&self) -> Option<u64> {
        (self.in_append && !self.append_start_unknown).then_some(self.append_start)
    }

    /// For a resumed reader: the start of the append it started in, if it had to find it from
    /// the trailers (the caller checks it against the scan before it).
    pub(crate) fn append_start_found(&self) -> Option<u64> {
        self.resumed.and_then(|(_, found)| found)
    }

    /// Where the append being read started; for a resumed reader that started inside an append,
    /// found by walking back from where it started to the record flagged first.
    fn append_start(&mut self) -> io::Result<u64> {
        if self.append_start_unknown
            && let Some((from, _)) = self.resumed
        {
            self.precise = true;
            let found = self.walk_back_to_first(from);
            self.precise = false;
            let Some(start) = found? else {
                return Err(io::Error::other(
                    "no valid record starting an append before the piece",
                ));
            };
            self.append_start = start;
            self.append_start_unknown = false;
            self.resumed = Some((from, Some(start)));
        }
        Ok(self.append_start)
    }

    /// The record flagged first of the append that the valid records ending at `end` belong
    /// to, walking back through their trailers.
    fn walk_back_to_first(&mut self, mut end: u64) -> io::Result<Option<u64>> {
        let mut after: Option<u64> = None;
        loop {
            let Some((start, rh, _, _)) = self.record_ending_at(end)? else {
                return Ok(None);
            };
            if after.is_some_and(|a| a != rh.seq + 1) || rh.flags & FLAG_LAST != 0 {
                return Ok(None);
            }
            if rh.flags & FLAG_FIRST != 0 {
                return Ok(Some(start));
            }
            after = Some(rh.seq);
            end = start;
        }
    }

    /// The last `n` records, found from the end of the file through their trailers, checked,
    /// and returned in file order. Only whole appends count: the last record must end its
    /// append, and the walk goes on back to the start of the append of the first record shown
    /// (each record checked, the append marks in order), so it reads those appends and nothing
    /// else, whatever the log's size. `None` when the file does not end that way (a torn or
    /// damaged tail, an append not finished): the caller then scans forward, which reports it.
    pub fn last_records(&mut self, n: u64) -> io::Result<Option<Vec<Record>>> {
        self.precise = true;
        let result = self.walk_back(n);
        self.precise = false;
        result
    }

    fn walk_back(&mut self, n: u64) -> io::Result<Option<Vec<Record>>> {
        let mut end = self.size;
        let mut out: Vec<Record> = Vec::new();
        // The record walked before this one (the next in the file): its sequence number and
        // whether it starts an append. The end of the file counts as the start of one.
        let mut after: Option<u64> = None;
        let mut after_starts = true;
        while end > super::format::FILE_HEADER_LEN {
            if (out.len() as u64) >= n && after_starts {
                break;
            }
            let Some((start, rh, total, checksum)) = self.record_ending_at(end)? else {
                return Ok(None);
            };
            // A record ends its append exactly when the one after it starts one.
            if after.is_some_and(|a| a != rh.seq + 1) || (rh.flags & FLAG_LAST != 0) != after_starts
            {
                return Ok(None);
            }
            if (out.len() as u64) < n {
                out.push(native_record(rh.seq, start, &rh, total, checksum));
            }
            after = Some(rh.seq);
            after_starts = rh.flags & FLAG_FIRST != 0;
            end = start;
        }
        if !after_starts {
            // The first record of the file continues an append: not what an append leaves.
            return Ok(None);
        }
        out.reverse();
        Ok(Some(out))
    }

    /// The valid record that ends exactly at `end`, found through its trailer.
    fn record_ending_at(
        &mut self,
        end: u64,
    ) -> io::Result<Option<(u64, RecordHeader, u64, Checksum)>> {
        let algorithm = self.header.algorithm;
        let trailer_len = algorithm.trailer_len();
        if end < super::format::FILE_HEADER_LEN + RECORD_HEADER_LEN + trailer_len {
            return Ok(None);
        }
        // The whole trailer, so that the window read here (backwards from `end`) also holds
        // the record that ends at `end`, and the trailers before it.
        let t = self.window(end - trailer_len, trailer_len as usize)?;
        let Some(len) = decode_trailer_prefix(&self.buf[t..t + 8]) else {
            return Ok(None);
        };
        let Some(start) = end
            .checked_sub(algorithm.record_len(u64::from(len)))
            .filter(|s| *s >= super::format::FILE_HEADER_LEN)
        else {
            return Ok(None);
        };
        // The whole record in the window (ending at `end`) before it is checked, or the check
        // would read its header into a window that ends there and then read again.
        if end - start <= WINDOW as u64 {
            self.window(start, (end - start) as usize)?;
        }
        let Ok((rh, total, checksum)) = self.try_record(start)? else {
            return Ok(None);
        };
        Ok((start + total == end).then_some((start, rh, total, checksum)))
    }

    /// The tail check before an append: the log's last append must be whole, walked back from
    /// the end through the trailers (a record flagged last, then back to one flagged first, each
    /// valid, sequence numbers without gaps). Reads only that append's records, whatever the
    /// log's size. Returns the sequence number for the next record, or `None` if the last append
    /// is not whole (a torn tail, or damage).
    pub fn last_append_whole(&mut self) -> io::Result<Option<u64>> {
        Ok(self.last_append()?.map(|(_, _, next)| next))
    }

    /// The log's last append, if it is whole: its first record's offset and sequence number,
    /// and the sequence number after it (for a log without records: the header's end, 0, 0).
    fn last_append(&mut self) -> io::Result<Option<(u64, u64, u64)>> {
        self.precise = true;
        let result = self.walk_last_append();
        self.precise = false;
        result
    }

    fn walk_last_append(&mut self) -> io::Result<Option<(u64, u64, u64)>> {
        if self.size == super::format::FILE_HEADER_LEN {
            return Ok(Some((self.size, 0, 0)));
        }
        let mut end = self.size;
        let mut next: Option<u64> = None;
        let mut after: Option<u64> = None;
        loop {
            let Some((start, rh, _, _)) = self.record_ending_at(end)? else {
                return Ok(None);
            };
            if after.is_none() && rh.flags & FLAG_LAST == 0 {
                return Ok(None);
            }
            if after.is_some_and(|a| a != rh.seq + 1) {
                return Ok(None);
            }
            let next = *next.get_or_insert(rh.seq + 1);
            if rh.flags & FLAG_FIRST != 0 {
                return Ok(Some((start, rh.seq, next)));
            }
            after = Some(rh.seq);
            end = start;
        }
    }

    /// Offset of the next record to read (after the last valid record, when the scan ended on
    /// a torn tail: the end of the valid prefix).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The sequence number expected next.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Bytes and `pread` calls made so far (for `--stats` and the tests that prove a tail read
    /// is O(1)).
    pub fn io_stats(&self) -> (u64, u64) {
        (self.bytes_read, self.reads)
    }

    /// Take a new look at the file's size (`--follow`); a scan that ended at the end of the
    /// file or on a torn tail resumes from the end of its valid prefix.
    pub fn refresh(&mut self) -> io::Result<bool> {
        let size = self.file.metadata()?.len();
        let grew = size != self.size;
        if grew {
            self.size = size;
            self.done = false;
            // Bytes past the old end may have been read as a partial window: drop it, and
            // every conclusion drawn from the old end.
            self.win_len = 0;
            self.judged = None;
            self.nonzero_at = None;
            self.last_append = None;
        }
        Ok(grew)
    }

    /// The payload of the record just returned, if it fits the window (records up to 1 MiB do).
    /// Larger payloads are read with [`NativeReader::read_payload`].
    pub fn payload(&self, record: &Record) -> Option<&[u8]> {
        let (start, len) = self.last_payload?;
        let at = usize::try_from(record.payload_offset().checked_sub(self.win_start)?).ok()?;
        (at == start && len as u64 == record.len).then(|| &self.buf[start..start + len])
    }

    /// Feed a record's payload to `f` in pieces of at most [`WINDOW`] bytes (from the window if
    /// it is there, else read again from the file).
    pub fn read_payload(
        &mut self,
        record: &Record,
        mut f: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        if let Some(p) = self.payload(record) {
            return f(p);
        }
        let (bytes, reads) = super::reader::read_range(self.file, record.data, record.len, &mut f)?;
        self.bytes_read += bytes;
        self.reads += reads;
        Ok(())
    }

    /// The next record or defect.
    pub fn next_item(&mut self) -> io::Result<Item> {
        self.last_payload = None;
        if self.done {
            return Ok(Item::End);
        }
        if self.pos >= self.size {
            self.done = true;
            if self.in_append {
                // The file ends after some records of an append and before its last one.
                let cut = self.append_start()?;
                self.in_append = false;
                return Ok(Item::Defect(Defect {
                    cut,
                    evidence: Evidence::EndOfFile,
                    ..Defect::new(self.pos, DefectKind::UnfinishedAppend, None)
                }));
            }
            return Ok(Item::End);
        }
        let (rh, total, checksum) = match self.try_record(self.pos)? {
            Ok(found) => found,
            Err(kind) => return self.defect(self.pos, kind),
        };
        if rh.seq != self.next_seq {
            let kind = DefectKind::Sequence {
                expected: self.next_seq,
                found: rh.seq,
            };
            return self.defect(self.pos, kind);
        }
        let starts = rh.flags & FLAG_FIRST != 0;
        if self.accept_at.take() != Some(self.pos) && starts == self.in_append {
            // Append marks out of order: a new append before the last one ended, or a record
            // continuing an append that had ended.
            return self.framing_defect(starts);
        }
        if starts || !self.in_append {
            self.append_start = self.pos;
            self.append_start_unknown = false;
        }
        self.in_append = rh.flags & FLAG_LAST == 0;
        let record = native_record(self.index, self.pos, &rh, total, checksum);
        self.index += 1;
        self.next_seq = rh.seq + 1;
        self.pos += total;
        Ok(Item::Record(record))
    }

    /// A valid record at `pos` whose append marks do not fit the one before it.
    fn framing_defect(&mut self, starts: bool) -> io::Result<Item> {
        let pos = self.pos;
        let defect = if starts {
            // The append before never ended; this later one proves it had been acknowledged.
            Defect {
                cut: self.append_start()?,
                evidence: Evidence::LaterAppend(pos),
                ..Defect::new(pos, DefectKind::UnfinishedAppend, Some(pos))
            }
        } else {
            Defect {
                evidence: Evidence::NotTorn(pos),
                ..Defect::new(pos, DefectKind::BrokenAppend, Some(pos))
            }
        };
        match self.on_damage {
            // The record itself is valid: go on with it.
            OnDamage::Resync => {
                self.accept_at = Some(pos);
                self.in_append = false;
            }
            OnDamage::Stop => self.done = true,
        }
        Ok(Item::Defect(defect))
    }

    /// Classify damage at `offset` and decide where the scan goes on.
    fn defect(&mut self, offset: u64, kind: DefectKind) -> io::Result<Item> {
        self.last_payload = None;
        let cut = if self.in_append {
            self.append_start()?
        } else {
            offset
        };
        let expected = self.next_seq;
        let (kind, next, evidence) = if self.all_zero_from(offset)? {
            (DefectKind::ZeroFill, None, Evidence::ZeroFill)
        } else {
            let next = self.resync_from(offset, kind, expected)?;
            let evidence = self.judge(offset, kind, expected, next)?;
            (kind, next, evidence)
        };
        let defect = Defect {
            cut,
            evidence,
            ..Defect::new(offset, kind, next.map(|(at, _)| at))
        };
        match (next, self.on_damage) {
            (Some((at, rh)), OnDamage::Resync) => {
                // Continue there, with the sequence number that record carries, inside the
                // damaged append unless that record starts one.
                self.pos = at;
                self.next_seq = rh.seq;
                self.in_append = rh.flags & FLAG_FIRST == 0;
                self.append_start = if self.in_append { cut } else { at };
                self.append_start_unknown = false;
                self.accept_at = Some(at);
            }
            _ => self.done = true,
        }
        Ok(Item::Defect(defect))
    }

    /// Where reading goes on after damage at `offset`: the record itself when it is valid but
    /// numbered past the expected one (records before it were lost; it is kept), else the next
    /// valid record after it.
    fn resync_from(
        &mut self,
        offset: u64,
        kind: DefectKind,
        expected: u64,
    ) -> io::Result<Option<(u64, RecordHeader)>> {
        if let DefectKind::Sequence { expected, found } = kind
            && found > expected
            && let Ok((rh, _, _)) = self.try_record(offset)?
        {
            return Ok(Some((offset, rh)));
        }
        self.find_next_valid(offset + 1, expected)
    }

    /// Torn tail or corruption, for damage at `offset` (of `kind`; the record there should have
    /// carried sequence number `expected`; `next` is the first valid record after it). The rule
    /// (docs/FORMAT.md): corruption if a later append starts after the damage (the damaged one
    /// was acknowledged before it began), or if any damage from here to the end lacks the
    /// signature of a write that never reached the disk; else a torn tail. Each verdict covers
    /// the stretch it looked at, so a resyncing scan reads every byte a bounded number of times.
    fn judge(
        &mut self,
        offset: u64,
        kind: DefectKind,
        expected: u64,
        next: Option<(u64, RecordHeader)>,
    ) -> io::Result<Evidence> {
        if let Some(j) = self.judged
            && (j.from..j.until).contains(&offset)
            && expected <= j.max_seq
        {
            if j.evidence.is_torn() {
                // Torn from an earlier look; name this damage's own signature.
                let end = next.map_or(self.size, |(at, _)| at);
                return Ok(self
                    .torn_signature(offset, end, kind)?
                    .unwrap_or(j.evidence));
            }
            return Ok(j.evidence);
        }
        let (evidence, until, max_seq) = self.look_ahead(offset, kind, expected, next)?;
        self.judged = Some(Judged {
            from: offset,
            until,
            max_seq,
            evidence,
        });
        Ok(evidence)
    }

    /// Read on from damage at `offset` for the verdict of [`NativeReader::judge`]. Returns the
    /// evidence, the end of the stretch it holds for, and the highest expected sequence number
    /// it holds for.
    fn look_ahead(
        &mut self,
        offset: u64,
        kind: DefectKind,
        expected: u64,
        next: Option<(u64, RecordHeader)>,
    ) -> io::Result<(Evidence, u64, u64)> {
        // The cheap answer first: the last append, walked back from the end, starts after the
        // damage (reads only that append).
        if self.last_append.is_none() {
            self.last_append = Some(self.last_append()?.map(|(at, seq, _)| (at, seq)));
        }
        if let Some(Some((first, seq))) = self.last_append
            && first > offset
            && seq >= expected
        {
            return Ok((Evidence::LaterAppend(first), first, seq));
        }
        let mut first_signature = None;
        let (mut at, mut kind, mut expected, mut next) = (offset, kind, expected, next);
        loop {
            // A damaged record whose header still checks out says where its append ends when
            // it is flagged last: anything but zeros after that end is a later append's.
            if let Some(end) = self.append_end_at(at)?
                && !self.all_zero_from(end)?
            {
                return Ok((Evidence::LaterAppend(end), end, expected));
            }
            // The damaged span runs to the next valid record (or the end).
            let end = next.map_or(self.size, |(n, _)| n);
            let Some(signature) = self.torn_signature(at, end, kind)? else {
                return Ok((Evidence::NotTorn(at), at + 1, expected));
            };
            let signature = *first_signature.get_or_insert(signature);
            let Some((mut p, rh)) = next else {
                return Ok((signature, self.size, u64::MAX));
            };
            // Follow the records after it; any that starts an append is a later append.
            let (mut seq, mut ended) = (rh.seq, false);
            loop {
                if p >= self.size {
                    return Ok((signature, self.size, u64::MAX));
                }
                match self.try_record(p)? {
                    Ok((rh, _, _)) if rh.flags & FLAG_FIRST != 0 && rh.seq >= seq => {
                        return Ok((Evidence::LaterAppend(p), p, rh.seq));
                    }
                    Ok((rh, total, _)) if rh.seq == seq => {
                        if ended {
                            // A record continuing an append that had ended: not what a crash
                            // leaves.
                            return Ok((Evidence::NotTorn(p), p + 1, expected));
                        }
                        ended = rh.flags & FLAG_LAST != 0;
                        seq += 1;
                        p += total;
                    }
                    Ok((rh, _, _)) => {
                        let found = rh.seq;
                        (at, expected) = (p, seq);
                        kind = DefectKind::Sequence { expected, found };
                        break;
                    }
                    Err(k) => {
                        (at, kind, expected) = (p, k, seq);
                        break;
                    }
                }
            }
            if self.all_zero_from(at)? {
                return Ok((signature, self.size, u64::MAX));
            }
            next = self.find_next_valid(at + 1, expected)?;
        }
    }

    /// Where the append of the record at `offset` ends, if that record's header checks out,
    /// says it is the last of its append, and the record fits the file.
    fn append_end_at(&mut self, offset: u64) -> io::Result<Option<u64>> {
        if offset + RECORD_HEADER_LEN > self.size {
            return Ok(None);
        }
        let h = self.window(offset, RECORD_HEADER_LEN as usize)?;
        let header = &self.buf[h..h + RECORD_HEADER_LEN as usize];
        let Ok(rh) = RecordHeader::decode(header, &self.header.salt) else {
            return Ok(None);
        };
        let end = offset + self.header.algorithm.record_len(u64::from(rh.len));
        Ok((rh.flags & FLAG_LAST != 0 && end <= self.size).then_some(end))
    }

    /// The signature of a write that never reached the disk, in damage at `offset` (of `kind`)
    /// whose span runs to `end`: the file ends inside the record, with nothing valid after it;
    /// or bytes that cannot be zero
    /// read as zeros: the record magic at `offset` (zero up to the next 512-byte boundary), or a
    /// whole 512-byte-aligned sector inside the span (the file's last, shorter sector counts).
    /// On ext4, XFS and btrfs, blocks a crash kept from being written read back as zeros.
    fn torn_signature(
        &mut self,
        offset: u64,
        end: u64,
        kind: DefectKind,
    ) -> io::Result<Option<Evidence>> {
        const SECTOR: u64 = 512;
        // A record that runs past the end of the file is a write cut short only if nothing valid
        // follows it: a valid record inside its extent means its length field was changed
        // after the records behind it were written (or its payload holds a log), and the bytes
        // cannot say which.
        if kind == DefectKind::Truncated && end >= self.size {
            return Ok(Some(Evidence::EndOfFile));
        }
        // A valid record with the wrong sequence number is there whole: no write of it was
        // lost, whatever zeros its payload holds.
        if matches!(kind, DefectKind::Sequence { .. }) {
            return Ok(None);
        }
        if self.all_zero_from(offset)? {
            return Ok(Some(Evidence::ZeroFill));
        }
        // Zeros from the damage to the next sector boundary (however few bytes that is: a
        // block lost from where the append began), not cut short by a valid record.
        let head_end = ((offset / SECTOR + 1) * SECTOR).min(self.size);
        if self.all_zero(offset, head_end)? {
            return Ok(Some(Evidence::Zeros(offset)));
        }
        let mut sector = offset.div_ceil(SECTOR) * SECTOR;
        while sector < end {
            let sector_end = (sector + SECTOR).min(self.size);
            if sector_end > end {
                break;
            }
            if self.all_zero(sector, sector_end)? {
                return Ok(Some(Evidence::Zeros(sector)));
            }
            sector += SECTOR;
        }
        Ok(None)
    }

    /// Check the record at `offset`: its header, that it fits the file, its trailer and its
    /// checksum. Returns the header, the record's size in the file and its checksum.
    #[allow(clippy::type_complexity)]
    fn try_record(
        &mut self,
        offset: u64,
    ) -> io::Result<Result<(RecordHeader, u64, Checksum), DefectKind>> {
        let algorithm = self.header.algorithm;
        if offset + RECORD_HEADER_LEN > self.size {
            return Ok(Err(DefectKind::Truncated));
        }
        if algorithm == Algorithm::Crc32
            && let Some(verdict) = self.try_small_crc32_record(offset)?
        {
            return Ok(verdict);
        }
        let h = self.window(offset, RECORD_HEADER_LEN as usize)?;
        let rh = match RecordHeader::decode(
            &self.buf[h..h + RECORD_HEADER_LEN as usize],
            &self.header.salt,
        ) {
            Ok(rh) => rh,
            Err(RecordHeaderError::NoMagic | RecordHeaderError::Damaged) => {
                return Ok(Err(DefectKind::BadHeader));
            }
            Err(RecordHeaderError::BadLength) => return Ok(Err(DefectKind::BadLength)),
        };
        let total = algorithm.record_len(u64::from(rh.len));
        // The length was checked by the header's CRC and the maximum; it still must fit the file
        // before anything is read on its word.
        if offset + total > self.size {
            return Ok(Err(DefectKind::Truncated));
        }
        let trailer_at = offset + RECORD_HEADER_LEN + u64::from(rh.len);
        let trailer_len = algorithm.trailer_len() as usize;
        if total as usize <= WINDOW {
            let start = self.window(offset, total as usize)?;
            let header_bytes = &self.buf[start..start + RECORD_HEADER_LEN as usize];
            let p = start + RECORD_HEADER_LEN as usize;
            let payload = &self.buf[p..p + rh.len as usize];
            let trailer = &self.buf[p + rh.len as usize..p + rh.len as usize + trailer_len];
            let verdict = check(
                algorithm,
                &self.header.salt,
                header_bytes,
                &[payload],
                trailer,
                rh.len,
            );
            if let Ok(checksum) = verdict {
                self.last_payload = Some((p, rh.len as usize));
                return Ok(Ok((rh, total, checksum)));
            }
            return Ok(Err(verdict.err().unwrap_or(DefectKind::ChecksumMismatch)));
        }
        // A record larger than the window: its trailer first (a length that does not lead to
        // one is found without reading the payload), then its payload through the checksum.
        let s = self.window(trailer_at, trailer_len)?;
        if decode_trailer_prefix(&self.buf[s..s + trailer_len]) != Some(rh.len) {
            return Ok(Err(DefectKind::BadLength));
        }
        let header_bytes: [u8; RECORD_HEADER_LEN as usize] = {
            let s = self.window(offset, RECORD_HEADER_LEN as usize)?;
            let mut b = [0u8; RECORD_HEADER_LEN as usize];
            b.copy_from_slice(&self.buf[s..s + RECORD_HEADER_LEN as usize]);
            b
        };
        let mut hasher = RecordHasher::new(algorithm, &self.header.salt, &header_bytes);
        let mut at = offset + RECORD_HEADER_LEN;
        while at < trailer_at {
            let n = usize::try_from(trailer_at - at)
                .unwrap_or(WINDOW)
                .min(WINDOW);
            let s = self.window(at, n)?;
            hasher.update(&self.buf[s..s + n]);
            at += n as u64;
        }
        let s = self.window(trailer_at, trailer_len)?;
        let trailer = &self.buf[s..s + trailer_len];
        hasher.update(&trailer[..8]);
        let computed = hasher.finish();
        if computed.as_bytes() == &trailer[8..] {
            Ok(Ok((rh, total, computed)))
        } else {
            Ok(Err(DefectKind::ChecksumMismatch))
        }
    }

    /// The hot path of [`NativeReader::try_record`] for CRC-32 logs and records that fit the window:
    /// the header CRC and the record checksum share their prefix (salt, then header bytes), so
    /// the checksum continues the header's CRC over the rest of the record in one piece.
    /// `None` when the record is larger than the window (the general path streams it).
    #[allow(clippy::type_complexity)]
    fn try_small_crc32_record(
        &mut self,
        offset: u64,
    ) -> io::Result<Option<Result<(RecordHeader, u64, Checksum), DefectKind>>> {
        const H: usize = RECORD_HEADER_LEN as usize;
        let h = self.window(offset, H)?;
        let (header, header_crc) = match small_header(&self.buf[h..h + H], self.magic_crc) {
            Ok(found) => found,
            Err(kind) => return Ok(Some(Err(kind))),
        };
        let total = Algorithm::Crc32.record_len(u64::from(header.len));
        if offset + total > self.size {
            return Ok(Some(Err(DefectKind::Truncated)));
        }
        if total as usize > WINDOW {
            return Ok(None);
        }
        let s = self.window(offset, total as usize)?;
        let record = &self.buf[s..s + total as usize];
        match small_body(record, header.len, header_crc) {
            Ok(sum) => {
                self.last_payload = Some((s + H, header.len as usize));
                Ok(Some(Ok((header, total, Checksum::Crc32(sum)))))
            }
            Err(kind) => Ok(Some(Err(kind))),
        }
    }

    /// [`Reader::skip_valid`]: the CRC-32 records that are whole in the window, valid, next in
    /// sequence and in their append's order, checked as [`NativeReader::next_item`] checks them
    /// and counted instead of returned. Anything else is left to `next_item`: the state is that
    /// of having returned each record stepped over.
    pub fn skip_valid(&mut self, limit: u64) -> Skipped {
        const H: usize = RECORD_HEADER_LEN as usize;
        let mut skipped = Skipped::default();
        if self.done
            || self.precise
            || self.accept_at.is_some()
            || self.header.algorithm != Algorithm::Crc32
        {
            return skipped;
        }
        let limit = limit.min(self.size);
        let win_end = self.win_start + self.win_len as u64;
        while self.pos < limit && self.pos >= self.win_start && self.pos + H as u64 <= win_end {
            let at = (self.pos - self.win_start) as usize;
            let Ok((header, header_crc)) = small_header(&self.buf[at..at + H], self.magic_crc)
            else {
                break;
            };
            let total = Algorithm::Crc32.record_len(u64::from(header.len));
            let starts = header.flags & FLAG_FIRST != 0;
            if self.pos + total > win_end
                || self.pos + total > self.size
                || header.seq != self.next_seq
                || starts == self.in_append
            {
                break;
            }
            let record = &self.buf[at..at + total as usize];
            let Ok(_) = small_body(record, header.len, header_crc) else {
                break;
            };
            if starts {
                self.append_start = self.pos;
                self.append_start_unknown = false;
                skipped.last_append_start = Some((self.pos, skipped.count));
            }
            self.in_append = header.flags & FLAG_LAST == 0;
            self.last_payload = Some((at + H, header.len as usize));
            self.index += 1;
            self.next_seq = header.seq + 1;
            self.pos += total;
            skipped.count += 1;
            skipped.bytes += total;
            skipped.end = self.pos;
        }
        skipped
    }

    /// The first valid record at or after `from` whose sequence number is not below `expected`
    /// (a copy of an earlier record inside a payload is not taken for it): its offset and
    /// header. Searches for the record magic in the window, reading each byte once.
    fn find_next_valid(
        &mut self,
        from: u64,
        expected: u64,
    ) -> io::Result<Option<(u64, RecordHeader)>> {
        let finder = memchr::memmem::Finder::new(&RECORD_MAGIC);
        let magic = RECORD_MAGIC.len() as u64;
        let mut at = from;
        while at + RECORD_HEADER_LEN <= self.size {
            let (s, n) = self.ahead(at, magic)?;
            let Some(hit) = finder.find(&self.buf[s..s + n]) else {
                // Keep the last 3 bytes: the magic may straddle the window's edge.
                at += (n as u64).saturating_sub(magic - 1).max(1);
                continue;
            };
            let candidate = at + hit as u64;
            let saved = self.last_payload;
            let verdict = self.try_record(candidate)?;
            self.last_payload = saved;
            match verdict {
                Ok((rh, _, _)) if rh.seq >= expected => return Ok(Some((candidate, rh))),
                // A whole record, but a copy of an earlier one; or framing intact (header
                // checksum, length, the trailer where the length says) and only the payload's
                // checksum wrong: a damaged record. The search goes on after it: searching
                // inside it would checksum its bytes again for every record magic in it,
                // quadratic on a file built that way.
                Ok((_, total, _)) => at = candidate + total,
                Err(DefectKind::ChecksumMismatch) => at = candidate + self.framed_len(candidate)?,
                _ => at = candidate + 1,
            }
        }
        Ok(None)
    }

    /// The size in the file of the record whose header (checked) is at `offset`; at least 1.
    fn framed_len(&mut self, offset: u64) -> io::Result<u64> {
        let h = self.window(offset, RECORD_HEADER_LEN as usize)?;
        Ok(
            match RecordHeader::decode(
                &self.buf[h..h + RECORD_HEADER_LEN as usize],
                &self.header.salt,
            ) {
                Ok(rh) => self.header.algorithm.record_len(u64::from(rh.len)),
                Err(_) => 1,
            },
        )
    }

    /// Whether every byte from `from` to the end of the file is zero. Holes of a sparse file
    /// are skipped, not read; a non-zero byte found is remembered, so asking again for a later
    /// offset before it costs nothing.
    fn all_zero_from(&mut self, from: u64) -> io::Result<bool> {
        if self.nonzero_at.is_some_and(|z| z >= from) {
            return Ok(false);
        }
        let mut at = from;
        // A window of data at a time, asking again after each where the next data is.
        while let Some(data) = platform::next_data(self.file, at)?
            && data < self.size
        {
            let end = (data + WINDOW as u64).min(self.size);
            if let Some(z) = self.first_nonzero(data, end)? {
                self.nonzero_at = Some(z);
                return Ok(false);
            }
            at = end;
        }
        Ok(true)
    }

    /// Whether bytes `[from, to)` are all zero.
    fn all_zero(&mut self, from: u64, to: u64) -> io::Result<bool> {
        Ok(self.first_nonzero(from, to)?.is_none())
    }

    /// The first non-zero byte in `[from, to)`.
    fn first_nonzero(&mut self, from: u64, to: u64) -> io::Result<Option<u64>> {
        let mut at = from;
        while at < to {
            let (s, n) = self.ahead(at, 1)?;
            let n = n.min(usize::try_from(to - at).unwrap_or(usize::MAX));
            if let Some(i) = self.buf[s..s + n].iter().position(|b| *b != 0) {
                return Ok(Some(at + i as u64));
            }
            at += n as u64;
        }
        Ok(None)
    }

    /// The bytes from `offset` on that the window holds (reading a new window if fewer than
    /// `min` are there, or the end of the file): their start in `buf` and their count. Unlike
    /// [`NativeReader::window`], it does not re-read what the window already holds.
    fn ahead(&mut self, offset: u64, min: u64) -> io::Result<(usize, usize)> {
        let win_end = self.win_start + self.win_len as u64;
        if offset >= self.win_start && offset < win_end {
            let n = (win_end - offset) as usize;
            if n as u64 >= min || win_end >= self.size {
                return Ok(((offset - self.win_start) as usize, n));
            }
        }
        let n = usize::try_from(self.size - offset)
            .unwrap_or(WINDOW)
            .min(WINDOW);
        let s = self.window(offset, n)?;
        Ok((s, n))
    }

    /// Make `[offset, offset + len)` (with `len <= WINDOW`, inside the file) available in the
    /// window; returns its start in `buf`.
    fn window(&mut self, offset: u64, len: usize) -> io::Result<usize> {
        if offset >= self.win_start && offset + len as u64 <= self.win_start + self.win_len as u64 {
            return Ok((offset - self.win_start) as usize);
        }
        // Walking back from the end (`precise`), read a little before what is asked for, where
        // the previous records are; reading forward, a whole window ahead.
        let start = if self.precise {
            (offset + len as u64)
                .saturating_sub(BACK.max(len) as u64)
                .min(offset)
        } else {
            offset
        };
        let ahead = if self.precise {
            (offset - start) as usize + len
        } else {
            WINDOW
        };
        let want = usize::try_from(self.size - start)
            .unwrap_or(WINDOW)
            .min(ahead);
        let filled = fill(
            self.file,
            &mut self.buf,
            start,
            want,
            (&mut self.reads, &mut self.bytes_read),
        )?;
        self.win_start = start;
        self.win_len = filled;
        if filled < (offset - start) as usize + len {
            return Err(shrank());
        }
        Ok((offset - start) as usize)
    }
}

/// Check a CRC-32 log's record header (its 24 bytes): the magic, its CRC (continuing
/// `magic_crc`, the CRC-32 of the salt and the magic) and its fields. Returns the header and its
/// CRC, which the record checksum continues.
fn small_header(hb: &[u8], magic_crc: u32) -> Result<(RecordHeader, u32), DefectKind> {
    if hb[0..4] != RECORD_MAGIC {
        return Err(DefectKind::BadHeader);
    }
    let le32 = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let le64 = |b: &[u8]| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[..8]);
        u64::from_le_bytes(w)
    };
    // Bytes 4..20 are two words after the salt and magic.
    let header_crc = super::crc::update16(magic_crc, le64(&hb[4..12]), le64(&hb[12..20]));
    if header_crc != le32(&hb[20..24]) {
        return Err(DefectKind::BadHeader);
    }
    let len = le32(&hb[8..12]);
    let seq = le64(&hb[12..20]);
    if hb[4] != super::format::TYPE_DATA
        || hb[5] & !FLAGS_KNOWN != 0
        || hb[6..8] != [0, 0]
        || u64::from(len) > super::format::MAX_RECORD
        || seq == u64::MAX
    {
        return Err(DefectKind::BadLength);
    }
    let header = RecordHeader {
        kind: super::format::TYPE_DATA,
        flags: hb[5],
        len,
        seq,
    };
    Ok((header, header_crc))
}

/// Check the rest of a CRC-32 record whose header [`small_header`] passed (`record`: all of it):
/// the trailer's length and magic, and the checksum, which continues the header's CRC over the
/// payload and the trailer prefix (skipping the header CRC: see `RecordHasher::new`).
fn small_body(record: &[u8], len: u32, header_crc: u32) -> Result<[u8; 4], DefectKind> {
    let le32 = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let t = RECORD_HEADER_LEN as usize + len as usize;
    if le32(&record[t..t + 4]) != len || record[t + 4..t + 8] != super::format::TRAILER_MAGIC {
        return Err(DefectKind::BadLength);
    }
    let sum = super::crc::update(header_crc, &record[24..t + 8]).to_le_bytes();
    if record[t + 8..t + 12] != sum {
        return Err(DefectKind::ChecksumMismatch);
    }
    Ok(sum)
}

fn native_record(
    index: u64,
    offset: u64,
    header: &RecordHeader,
    total: u64,
    checksum: Checksum,
) -> Record {
    Record {
        index,
        offset,
        len: u64::from(header.len),
        data: offset + RECORD_HEADER_LEN,
        end: offset + total,
        seq: header.seq,
        checksum: Some(checksum),
        extra: Extra::Native {
            starts_append: header.flags & FLAG_FIRST != 0,
            ends_append: header.flags & FLAG_LAST != 0,
        },
    }
}

/// Check a record held in memory: trailer length and magic, then the checksum.
pub(crate) fn check(
    algorithm: Algorithm,
    salt: &[u8; 16],
    header: &[u8],
    payload: &[&[u8]],
    trailer: &[u8],
    len: u32,
) -> Result<Checksum, DefectKind> {
    if decode_trailer_prefix(trailer) != Some(len) {
        return Err(DefectKind::BadLength);
    }
    let mut hasher = RecordHasher::new(algorithm, salt, header);
    for piece in payload {
        hasher.update(piece);
    }
    hasher.update(&trailer[..8]);
    let computed = hasher.finish();
    if computed.as_bytes() == &trailer[8..] {
        Ok(computed)
    } else {
        Err(DefectKind::ChecksumMismatch)
    }
}

impl Reader for NativeReader<'_> {
    fn next_item(&mut self) -> io::Result<Item> {
        NativeReader::next_item(self)
    }
    fn payload(&self, record: &Record) -> Option<&[u8]> {
        NativeReader::payload(self, record)
    }
    fn read_payload(
        &mut self,
        record: &Record,
        f: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        NativeReader::read_payload(self, record, f)
    }
    fn skip_valid(&mut self, limit: u64) -> io::Result<Skipped> {
        Ok(NativeReader::skip_valid(self, limit))
    }
    fn position(&self) -> u64 {
        NativeReader::position(self)
    }
    fn refresh(&mut self) -> io::Result<bool> {
        NativeReader::refresh(self)
    }
    fn io_stats(&self) -> (u64, u64) {
        NativeReader::io_stats(self)
    }
    fn last_records(&mut self, n: u64) -> io::Result<Option<Vec<Record>>> {
        NativeReader::last_records(self, n)
    }
}
