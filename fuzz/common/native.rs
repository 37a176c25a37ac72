//! The native log under fuzzing: a builder of valid logs from fuzz-chosen records with
//! fuzz-chosen damage; a reference reader written from docs/FORMAT.md on an in-memory copy,
//! independent of `log::scan` (which works through a window, has a CRC-32 fast path and reuses
//! one verdict for later damage): it decodes records itself and decides where the log ends by
//! the rule of "Where a log ends: torn tail or corruption", afresh for every defect; and the
//! checks that hold the library's readers to it.

use std::path::Path;

use durable::Error;
use durable::log::format::{
    self, Algorithm, Checksum, Encoder, FILE_HEADER_LEN, FLAG_FIRST, FLAG_LAST, FLAGS_KNOWN,
    FileHeader, MAX_RECORD, RECORD_HEADER_LEN, RECORD_MAGIC, RecordHeader, RecordHeaderError,
    TRAILER_MAGIC, TYPE_DATA,
};
use durable::log::{
    self, Defect, DefectKind, Evidence, Extra, HeaderLoss, Item, LogFormat, NativeLog,
    NativeReader, OnDamage, OpenOptions, Record, Status, Verification,
};
use sha2::{Digest, Sha256};

use super::alloc::WINDOW;
use super::cursor::Cursor;
use super::mutate;

/// The longest file the builder makes (one record over the window, a few smaller ones, and
/// room for appended damage).
pub const MAX_BUILT: usize = 2 << 20;

/// The sector size of the torn-write signature (docs/FORMAT.md).
pub const SECTOR: u64 = 512;

/// A log made by [`build`], and where its records are.
pub struct Built {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// Offsets worth aiming mutations at: record starts and their fields.
    pub marks: Vec<usize>,
}

/// Build a log from the fuzz input: algorithm, salt, appends of one or more records, flagged
/// first and last as `log append` flags them (plain payloads, long runs of zeros, copies of
/// record images inside payloads, one over the window), then damage: headers rewritten with a
/// valid CRC but hostile fields or flags, records re-encoded with another sequence number,
/// records and whole appends replayed, a whole later append added (evidence: earlier damage
/// reads as corruption), a torn append added (its first record lost, later ones kept), zeroed
/// 512-byte sectors (anywhere, or inside the last append: what a write that never reached the
/// disk leaves), the file cut at a record boundary inside a multi-record append, an unfinished
/// append followed by a later one (a record flagged first inside an unfinished append), a
/// record resealed with other append marks, and the byte-level mutations of [`mutate::apply`].
pub fn build(c: &mut Cursor) -> Built {
    let flags = c.byte();
    let algorithm = if flags & 1 == 0 {
        Algorithm::Crc32
    } else {
        Algorithm::Sha256
    };
    let salt = [c.byte(); 16];
    let header = FileHeader::new(algorithm, salt, 1_700_000_000);
    let encoder = Encoder::new(&header);
    let mut bytes = header.encode().to_vec();
    // (start, payload length, seq, flags) of each record.
    let mut records: Vec<(usize, usize, u64, u8)> = Vec::new();
    // (start, end) of each append.
    let mut appends: Vec<(usize, usize)> = Vec::new();
    let count = u64::from(c.byte() % 12);
    let mut append_start = bytes.len();
    for seq in 0..count {
        let kind = c.byte();
        let payload: Vec<u8> = if seq == 0 && flags & 0x0e == 0x0e {
            // Over the window: the streaming paths of the scanner and of `read_payload`. Rare
            // (one input in eight), since hashing a megabyte many times slows every run.
            pattern(WINDOW + usize::from(c.u16()), kind)
        } else {
            match kind % 4 {
                0 | 1 => {
                    let len = usize::from(c.byte());
                    fill(c, len, kind)
                }
                2 => {
                    // A record image of this very log inside a payload, with an earlier, equal or
                    // later sequence number and any flags: resync must not be fooled by the
                    // earlier ones, nor take a lone image for a whole append.
                    let prefix = usize::from(c.byte() % 8);
                    let mut image = c.bytes(prefix).to_vec();
                    let inner = c.byte();
                    let inner_seq = (seq + u64::from(inner % 4)).saturating_sub(2);
                    let inner_flags = (inner >> 2) & FLAGS_KNOWN;
                    let inner_len = usize::from(c.byte() % 64);
                    let payload = fill(c, inner_len, kind);
                    let _ = encoder.encode(&mut image, inner_seq, inner_flags, &payload);
                    image
                }
                _ if kind & 0xc0 == 0xc0 => {
                    // A long run of zeros (a payload that is genuinely zero, which the torn
                    // signature may take for a sector that never reached the disk), with a
                    // few bytes of the input at its ends.
                    let head = usize::from(c.byte() % 4);
                    let mut p = c.bytes(head).to_vec();
                    p.resize(p.len() + 256 + usize::from(c.u16() % 4096), 0);
                    p.extend_from_slice(c.bytes(usize::from(kind % 3)));
                    p
                }
                _ => pattern(usize::from(c.u16() % 8192), kind),
            }
        };
        // The append goes on (bit 5 of the kind byte) unless this is the log's last record.
        let first = bytes.len() == append_start;
        let last = kind & 0x20 == 0 || seq + 1 == count;
        let record_flags = if first { FLAG_FIRST } else { 0 } | if last { FLAG_LAST } else { 0 };
        records.push((bytes.len(), payload.len(), seq, record_flags));
        encoder
            .encode(&mut bytes, seq, record_flags, &payload)
            .expect("payloads are under the maximum");
        if last {
            appends.push((append_start, bytes.len()));
            append_start = bytes.len();
        }
    }
    let mut marks = vec![bytes.len()];
    for &(start, len, _, _) in &records {
        let trailer = start + RECORD_HEADER_LEN as usize + len;
        marks.extend([
            start,
            start + 4,
            start + 5,
            start + 8,
            start + 12,
            start + 20,
            start + 24,
        ]);
        marks.extend([trailer, trailer + 4, trailer + 8]);
    }
    // Where the last append added at the end starts (the last append of the log, until damage
    // changes it).
    let mut last_start = appends.last().map_or(bytes.len(), |a| a.0);
    for _ in 0..c.byte() % 4 {
        let op = c.byte() % 11;
        match op {
            4 | 5 | 8 => {
                // A new append at the end: whole (evidence of corruption for damage before
                // it), or torn the way a power loss tears one (its first records lost, later
                // ones kept), or (8) an unfinished append of one or two records followed by a
                // whole one (a record flagged first inside an unfinished append).
                let n = 1 + u64::from(c.byte() % 3);
                let mut seq = count + u64::from(c.byte() % 3);
                let at = bytes.len();
                let mut add = |c: &mut Cursor, bytes: &mut Vec<u8>, n: u64, last: bool| {
                    let start = bytes.len();
                    let mut ends = Vec::new();
                    for i in 0..n {
                        let f = if i == 0 { FLAG_FIRST } else { 0 }
                            | if last && i + 1 == n { FLAG_LAST } else { 0 };
                        let len = usize::from(c.byte() % 32);
                        let payload = fill(c, len, op);
                        let _ = encoder.encode(bytes, seq, f, &payload);
                        seq += 1;
                        ends.push(bytes.len());
                    }
                    (start, ends)
                };
                if op == 8 {
                    let unfinished = 1 + u64::from(c.byte() % 2);
                    add(c, &mut bytes, unfinished, false);
                }
                let (start, ends) = add(c, &mut bytes, n, true);
                marks.push(at);
                if start != at {
                    marks.push(start);
                }
                last_start = start;
                if op == 5 {
                    // Lose the first record (zeros, or another append's bytes).
                    bytes[start..ends[0]].fill(c.byte() & 0x0f);
                }
            }
            6 | 9 => {
                // A zeroed, aligned 512-byte sector (the file's last, shorter one included):
                // anywhere after the file header (6), or inside the last append (9).
                let from = if op == 9 {
                    last_start
                } else {
                    FILE_HEADER_LEN as usize
                };
                let first = from / SECTOR as usize;
                let sectors = bytes.len().div_ceil(SECTOR as usize).saturating_sub(first);
                if sectors > 0 {
                    let s = (first + c.below(sectors)) * SECTOR as usize;
                    let s = s.max(FILE_HEADER_LEN as usize);
                    let e = ((s / SECTOR as usize + 1) * SECTOR as usize).min(bytes.len());
                    bytes[s..e].fill(0);
                    marks.push(s);
                }
            }
            7 => {
                // Cut at the end of a record that does not end its append: the file ends at a
                // record boundary inside a multi-record append.
                let inside: Vec<usize> = records
                    .iter()
                    .filter(|r| r.3 & FLAG_LAST == 0)
                    .map(|r| r.0 + algorithm.record_len(r.1 as u64) as usize)
                    .filter(|&end| end <= bytes.len())
                    .collect();
                if !inside.is_empty() {
                    bytes.truncate(inside[c.below(inside.len())]);
                }
            }
            10 => {
                // A record resealed with its own sequence number and other append marks (its
                // checksum made to match): marks out of order, nothing else wrong.
                if records.is_empty() {
                    break;
                }
                let (start, len, seq, record_flags) = records[c.below(records.len())];
                let end = start + encoder.record_len(len as u32);
                if end <= bytes.len() {
                    let flags = record_flags ^ (1 + c.byte() % 3);
                    encoder.reseal(&mut bytes[start..end], seq, flags);
                }
            }
            _ => {
                if records.is_empty() {
                    break;
                }
                damage(c, op, &mut bytes, &records, &appends, &encoder, &salt);
            }
        }
    }
    mutate::apply(c, &mut bytes, &marks, MAX_BUILT);
    Built { bytes, marks }
}

/// Damage a record (ops 0 to 3 of [`build`]): a header rewritten with a valid CRC and hostile
/// fields; the record re-encoded with another sequence number and perhaps other flags; the
/// record, or (3) a whole append, replayed at the end (their sequence numbers are too low to be
/// evidence).
fn damage(
    c: &mut Cursor,
    op: u8,
    bytes: &mut Vec<u8>,
    records: &[(usize, usize, u64, u8)],
    appends: &[(usize, usize)],
    encoder: &Encoder,
    salt: &[u8; 16],
) {
    let (start, len, seq, record_flags) = records[c.below(records.len())];
    let end = start + encoder.record_len(len as u32);
    if end > bytes.len() {
        return;
    }
    match op {
        0 => {
            // A header whose CRC checks out but whose fields do not.
            let hostile = RecordHeader {
                kind: [TYPE_DATA, 0, 2, c.byte()][usize::from(c.byte() % 4)],
                flags: match c.byte() % 5 {
                    0 | 1 => record_flags,
                    2 => record_flags ^ FLAG_FIRST,
                    3 => record_flags ^ FLAG_LAST,
                    _ => c.byte(),
                },
                len: match c.byte() % 7 {
                    0 => len as u32,
                    1 => u32::MAX,
                    2 => MAX_RECORD as u32,
                    3 => MAX_RECORD as u32 + 1,
                    4 => len as u32 + 1,
                    5 => (len as u32).saturating_sub(1),
                    _ => c.u32(),
                },
                seq: match c.byte() % 6 {
                    0 => seq,
                    1 => seq + 1,
                    2 => seq.saturating_sub(1),
                    3 => u64::MAX,
                    4 => u64::MAX - 1,
                    _ => u64::from(c.u16()),
                },
            };
            bytes[start..start + RECORD_HEADER_LEN as usize].copy_from_slice(&hostile.encode(salt));
        }
        1 => {
            // The same payload, validly re-encoded with another sequence number and perhaps
            // other flags.
            let payload = bytes[start + RECORD_HEADER_LEN as usize..][..len].to_vec();
            let mut image = Vec::new();
            let b = c.byte();
            let new_seq = seq.wrapping_add(u64::from(b)).wrapping_sub(128);
            let new_flags = if b & 1 == 0 {
                record_flags
            } else {
                c.byte() & FLAGS_KNOWN
            };
            let _ = encoder.encode(&mut image, new_seq, new_flags, &payload);
            bytes[start..end].copy_from_slice(&image);
        }
        2 => {
            // A record replayed at the end.
            let copy = bytes[start..end].to_vec();
            bytes.extend_from_slice(&copy);
        }
        _ => {
            // A whole append replayed at the end.
            let (a, b) = appends[c.below(appends.len())];
            if b <= bytes.len() {
                let copy = bytes[a..b].to_vec();
                bytes.extend_from_slice(&copy);
            }
        }
    }
}

/// `len` bytes from the input, then a pattern once the input runs out.
fn fill(c: &mut Cursor, len: usize, seed: u8) -> Vec<u8> {
    let mut out = c.bytes(len).to_vec();
    let have = out.len();
    out.extend(pattern(len - have, seed));
    out
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// A record as the reference reader sees it: header, bytes in the file, checksum.
pub type Found = (RecordHeader, u64, Checksum);

/// The record header at `offset` of `data`, checked as docs/FORMAT.md says (magic; CRC-32 of
/// salt ‖ header bytes 0..20; type, flags, reserved bytes, length, sequence number), or the
/// defect kind the format gives it. Written from the format's tables, not with the library's
/// decoder, which must agree.
pub fn header_at(
    data: &[u8],
    header: &FileHeader,
    offset: u64,
) -> Result<RecordHeader, DefectKind> {
    if offset + RECORD_HEADER_LEN > data.len() as u64 {
        return Err(DefectKind::Truncated);
    }
    let h = &data[offset as usize..][..RECORD_HEADER_LEN as usize];
    let mut crc = crc32fast::Hasher::new();
    crc.update(&header.salt);
    crc.update(&h[..20]);
    let ours = if h[..4] != RECORD_MAGIC || crc.finalize() != le32(&h[20..24]) {
        Err(DefectKind::BadHeader)
    } else {
        let (kind, flags, len) = (h[4], h[5], le32(&h[8..12]));
        let seq = u64::from_le_bytes(h[12..20].try_into().expect("8 bytes"));
        if kind != TYPE_DATA
            || flags & !(FLAG_FIRST | FLAG_LAST) != 0
            || h[6..8] != [0, 0]
            || u64::from(len) > MAX_RECORD
            || seq == u64::MAX
        {
            Err(DefectKind::BadLength)
        } else {
            Ok(RecordHeader {
                kind,
                flags,
                len,
                seq,
            })
        }
    };
    let theirs = RecordHeader::decode(h, &header.salt).map_err(|e| match e {
        RecordHeaderError::NoMagic | RecordHeaderError::Damaged => DefectKind::BadHeader,
        RecordHeaderError::BadLength => DefectKind::BadLength,
    });
    assert_eq!(ours, theirs, "RecordHeader::decode at {offset}");
    ours
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// The reference reader: is there a valid record at `offset` of `data`, and if not, which
/// defect kind does docs/FORMAT.md give it? (Before the sequence-number and append-mark checks,
/// which depend on what came before.) The record checksum covers salt ‖ header bytes 0..20 ‖
/// payload ‖ trailer bytes 0..8 (not the header CRC).
pub fn record_at(data: &[u8], header: &FileHeader, offset: u64) -> Result<Found, DefectKind> {
    let rh = header_at(data, header, offset)?;
    let total = header.algorithm.record_len(u64::from(rh.len));
    if offset + total > data.len() as u64 {
        return Err(DefectKind::Truncated);
    }
    let at = offset as usize;
    let h = &data[at..at + RECORD_HEADER_LEN as usize];
    let payload = &data[at + RECORD_HEADER_LEN as usize..][..rh.len as usize];
    let trailer = &data[at + RECORD_HEADER_LEN as usize + rh.len as usize..at + total as usize];
    if le32(&trailer[..4]) != rh.len || trailer[4..8] != TRAILER_MAGIC {
        return Err(DefectKind::BadLength);
    }
    let sum = match header.algorithm {
        Algorithm::Crc32 => {
            let mut crc = crc32fast::Hasher::new();
            for part in [&header.salt[..], &h[..20], payload, &trailer[..8]] {
                crc.update(part);
            }
            Checksum::Crc32(crc.finalize().to_le_bytes())
        }
        Algorithm::Sha256 => {
            let mut sha = Sha256::new();
            for part in [&header.salt[..], &h[..20], payload, &trailer[..8]] {
                sha.update(part);
            }
            Checksum::Sha256(sha.finalize().into())
        }
    };
    if sum.as_bytes() != &trailer[8..] {
        return Err(DefectKind::ChecksumMismatch);
    }
    Ok((rh, total, sum))
}

/// Assert that `r`, a record a reader returned, is the record the reference found there.
pub fn assert_same(r: &Record, found: &Found, what: &str) {
    let (rh, total, sum) = found;
    assert_eq!(
        (r.len, r.seq, r.checksum, r.data, r.end),
        (
            u64::from(rh.len),
            rh.seq,
            Some(*sum),
            r.offset + RECORD_HEADER_LEN,
            r.offset + total
        ),
        "{what}: the record at {}",
        r.offset
    );
    assert_eq!(
        r.extra,
        Extra::Native {
            starts_append: rh.flags & FLAG_FIRST != 0,
            ends_append: rh.flags & FLAG_LAST != 0,
        },
        "{what}: the append marks of the record at {}",
        r.offset
    );
}

/// The options that open a file as a native log, whatever it holds.
pub fn native_opts() -> OpenOptions {
    OpenOptions {
        format: Some(LogFormat::Native),
        ..OpenOptions::default()
    }
}

/// The first valid record at or after `from` whose sequence number is not below `expected`
/// (where a resyncing read goes on after damage; a copy of an earlier record inside a payload
/// is not taken for it): its offset. The search steps over whole records (docs/FORMAT.md,
/// "Reading on from D"): a valid copy of an earlier record, and a record whose framing is
/// intact (header, length, trailer) and only whose checksum fails, are passed over, not
/// searched inside.
pub fn next_valid(data: &[u8], header: &FileHeader, from: u64, expected: u64) -> Option<u64> {
    let mut at = from;
    loop {
        let q = magics(data, at).next()?;
        at = match record_at(data, header, q) {
            Ok((rh, _, _)) if rh.seq >= expected => return Some(q),
            Ok((_, total, _)) => q + total,
            Err(DefectKind::ChecksumMismatch) => {
                let rh = header_at(data, header, q).expect("a framed record's header checks out");
                q + header.algorithm.record_len(u64::from(rh.len))
            }
            Err(_) => q + 1,
        };
    }
}

/// The valid record that ends exactly at `end`, found through its trailer.
pub fn record_ending_at(data: &[u8], header: &FileHeader, end: u64) -> Option<(u64, Found)> {
    let trailer_len = header.algorithm.trailer_len();
    let t = end.checked_sub(trailer_len)? as usize;
    if end > data.len() as u64 || data[t + 4..t + 8] != TRAILER_MAGIC {
        return None;
    }
    let len = le32(&data[t..t + 4]);
    let start = end
        .checked_sub(header.algorithm.record_len(u64::from(len)))
        .filter(|s| *s >= FILE_HEADER_LEN)?;
    let found = record_at(data, header, start).ok()?;
    (start + found.1 == end).then_some((start, found))
}

/// The log's last append, walked back from the end as the tail check of `log append` does (a
/// record flagged last, then valid records with consecutive sequence numbers back to one
/// flagged first): its first record's offset and sequence number, and the sequence number for
/// the next record; `None` if it is not whole. A log without records: (64, 0, 0).
pub fn last_append(data: &[u8], header: &FileHeader) -> Option<(u64, u64, u64)> {
    let size = data.len() as u64;
    if size == FILE_HEADER_LEN {
        return Some((size, 0, 0));
    }
    let mut end = size;
    // The sequence number of the record after the one at hand (walking back).
    let mut later: Option<u64> = None;
    let mut next: Option<u64> = None;
    loop {
        let (start, (rh, _, _)) = record_ending_at(data, header, end)?;
        if later.is_none() && rh.flags & FLAG_LAST == 0 {
            return None;
        }
        if later.is_some_and(|s| s != rh.seq + 1) {
            return None;
        }
        let next = *next.get_or_insert(rh.seq + 1);
        if rh.flags & FLAG_FIRST != 0 {
            return Some((start, rh.seq, next));
        }
        later = Some(rh.seq);
        end = start;
    }
}

/// Offsets of the record magic at or after `from`. (memmem, not a loop over every byte: the
/// fuzzer instruments each comparison in this crate, which made that loop the hot spot.)
pub fn magics(data: &[u8], from: u64) -> impl Iterator<Item = u64> + '_ {
    let hay = data.get(from as usize..).unwrap_or_default();
    memchr::memmem::find_iter(hay, &RECORD_MAGIC).map(move |i| from + i as u64)
}

/// Whether every byte is zero (compared a page at a time, for the same reason).
pub fn all_zero(bytes: &[u8]) -> bool {
    const ZEROS: [u8; 4096] = [0; 4096];
    bytes.chunks(ZEROS.len()).all(|c| c == &ZEROS[..c.len()])
}

/// The reference's verdict on one defect: docs/FORMAT.md, "Where a log ends".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The torn signature of the damaged span at the defect (`None`: it has none).
    pub signature: Option<Evidence>,
    /// Every reason the rule gives for corruption: the last append, walked back, starting after
    /// the damage first; then, reading on from the damage, each later append (a valid record
    /// flagged first, or the bytes after a damaged record flagged last), each span without the
    /// torn signature and each record continuing an ended append, in the order they are met.
    /// Empty: a torn tail.
    pub reasons: Vec<Evidence>,
}

impl Verdict {
    /// A torn tail: every damaged span from the defect to the end carries the torn signature
    /// and no later append started after it.
    pub fn torn(&self) -> bool {
        self.reasons.is_empty()
    }
}

/// A defect as the reference expects a resyncing scan to report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// Where the damage is.
    pub offset: u64,
    /// What it is.
    pub kind: DefectKind,
    /// Where a resyncing scan goes on.
    pub next_valid: Option<u64>,
    /// The start of the append the damage is in.
    pub cut: u64,
    /// Torn or corrupt, and why.
    pub verdict: Verdict,
}

/// One step of the reference's resyncing read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A valid record at this offset.
    Record(u64, Found),
    /// A defect.
    Defect(Expected),
    /// The end.
    End,
}

/// The reference's reading of a whole log: what a resyncing forward scan must yield, and what
/// verify must sum it up to.
pub struct Model {
    /// The file's size.
    pub size: u64,
    /// Every step, the last one `End`.
    pub steps: Vec<Step>,
}

/// What the reference reads in `data` (whose header is `header`), from the first record on:
/// records while the log is a sequence of whole appends, then at each damage a defect (its
/// kind, cut and verdict), and on at the next valid record whose sequence number is not below
/// the expected one, inside the damaged append unless that record starts one. A valid record
/// whose append marks do not fit (a record flagged first inside an append: `unfinished-append`;
/// one not flagged first after an append ended: `broken-append`) is a defect at its offset, and
/// the read goes on with it.
pub fn reference(data: &[u8], header: &FileHeader) -> Model {
    let size = data.len() as u64;
    let mut steps = Vec::new();
    let mut pos = FILE_HEADER_LEN;
    let mut expected = 0u64;
    // The start of the append being read; `None` between appends.
    let mut open: Option<u64> = None;
    // A valid record the read goes on with after a defect, whatever its append marks.
    let mut take: Option<u64> = None;
    loop {
        if pos >= size {
            if let Some(cut) = open {
                // The file ends inside an append.
                let kind = DefectKind::UnfinishedAppend;
                steps.push(Step::Defect(Expected {
                    offset: pos,
                    kind,
                    next_valid: None,
                    cut,
                    verdict: judge(data, header, pos, kind, expected),
                }));
            }
            break;
        }
        let found = record_at(data, header, pos);
        let damage = match found {
            Err(kind) => Some(kind),
            Ok((rh, _, _)) if rh.seq != expected => Some(DefectKind::Sequence {
                expected,
                found: rh.seq,
            }),
            Ok(_) => None,
        };
        if let Some(kind) = damage {
            let cut = open.unwrap_or(pos);
            let (kind, next) = if all_zero(&data[pos as usize..]) {
                (DefectKind::ZeroFill, None)
            } else {
                // A valid record numbered past the expected one is kept: reading goes on at it.
                let next = match kind {
                    DefectKind::Sequence { expected, found } if found > expected => Some(pos),
                    _ => next_valid(data, header, pos + 1, expected),
                };
                (kind, next)
            };
            steps.push(Step::Defect(Expected {
                offset: pos,
                kind,
                next_valid: next,
                cut,
                verdict: judge(data, header, pos, kind, expected),
            }));
            let Some(q) = next else { break };
            let (rh, _, _) = record_at(data, header, q).expect("a valid record");
            pos = q;
            expected = rh.seq;
            // Inside the damaged append (whose start is the cut) unless q starts one.
            open = (rh.flags & FLAG_FIRST == 0).then_some(cut);
            take = Some(q);
            continue;
        }
        let found = found.expect("checked above");
        let (rh, total, _) = found;
        let first = rh.flags & FLAG_FIRST != 0;
        if take != Some(pos) && first == open.is_some() {
            let kind = if first {
                DefectKind::UnfinishedAppend
            } else {
                DefectKind::BrokenAppend
            };
            steps.push(Step::Defect(Expected {
                offset: pos,
                kind,
                next_valid: Some(pos),
                cut: open.unwrap_or(pos),
                verdict: judge(data, header, pos, kind, expected),
            }));
            open = None;
            take = Some(pos);
            continue;
        }
        take = None;
        if first || open.is_none() {
            open = Some(pos);
        }
        if rh.flags & FLAG_LAST != 0 {
            open = None;
        }
        steps.push(Step::Record(pos, found));
        expected = rh.seq + 1;
        pos += total;
    }
    steps.push(Step::End);
    Model { size, steps }
}

/// Where reading on from damage is.
enum At {
    /// Damage at this offset, of this kind, where this sequence number was expected.
    Damage(u64, DefectKind, u64),
    /// Following valid records: the next offset, the sequence number expected there, and
    /// whether the record before ended its append.
    Follow(u64, u64, bool),
}

/// The verdict on damage at `d` of `kind` where sequence number `expected` was due, from
/// scratch (docs/FORMAT.md, "Where a log ends"): corruption if a later append started after
/// it (the last append, walked back, is whole and starts after `d` with a sequence number not
/// below `expected`; or reading on, a valid record flagged first; or a damaged record whose
/// header checks out, flagged last, followed by anything but zeros), or if some damage from
/// `d` to the end lacks the torn signature; else a torn tail.
pub fn judge(data: &[u8], header: &FileHeader, d: u64, kind: DefectKind, expected: u64) -> Verdict {
    let size = data.len() as u64;
    let mut v = Verdict {
        signature: None,
        reasons: Vec::new(),
    };
    if let Some((start, seq, _)) = last_append(data, header)
        && start > d
        && seq >= expected
    {
        v.reasons.push(Evidence::LaterAppend(start));
    }
    let mut first_span = true;
    let mut at = match kind {
        DefectKind::UnfinishedAppend if d == size => {
            v.signature = Some(Evidence::EndOfFile);
            None
        }
        DefectKind::UnfinishedAppend | DefectKind::BrokenAppend => {
            // A valid record whose append marks do not fit: a later append (it is flagged
            // first), or a record continuing an append that had ended. Read on after it.
            let (rh, total, _) = record_at(data, header, d).expect("a valid record");
            v.reasons.push(if kind == DefectKind::UnfinishedAppend {
                Evidence::LaterAppend(d)
            } else {
                Evidence::NotTorn(d)
            });
            Some(At::Follow(d + total, rh.seq + 1, rh.flags & FLAG_LAST != 0))
        }
        _ => Some(At::Damage(d, kind, expected)),
    };
    while let Some(here) = at {
        at = match here {
            At::Damage(p, kind, exp) => {
                // A damaged record whose own header checks out and says it ends its append:
                // bytes after it that are not zeros belong to a later append.
                if let Ok(rh) = header_at(data, header, p)
                    && rh.flags & FLAG_LAST != 0
                {
                    let end = p + header.algorithm.record_len(u64::from(rh.len));
                    if end < size && !all_zero(&data[end as usize..]) {
                        v.reasons.push(Evidence::LaterAppend(end));
                    }
                }
                // The damaged span runs to the next valid record not below the expected
                // sequence number, or to the end.
                let next = if all_zero(&data[p as usize..]) {
                    None
                } else {
                    next_valid(data, header, p + 1, exp)
                };
                let end = next.unwrap_or(size);
                let signature = span_signature(data, p, end, kind);
                if signature.is_none() {
                    v.reasons.push(Evidence::NotTorn(p));
                }
                if first_span {
                    v.signature = signature;
                    first_span = false;
                }
                next.map(|q| {
                    let (rh, _, _) = record_at(data, header, q).expect("a valid record");
                    At::Follow(q, rh.seq, false)
                })
            }
            At::Follow(p, seq, ended) => {
                if p >= size {
                    // The end of the file, after an append or inside one (torn: the file ends
                    // inside it).
                    None
                } else {
                    match record_at(data, header, p) {
                        Ok((rh, total, _)) if rh.flags & FLAG_FIRST != 0 && rh.seq >= seq => {
                            v.reasons.push(Evidence::LaterAppend(p));
                            Some(At::Follow(p + total, rh.seq + 1, rh.flags & FLAG_LAST != 0))
                        }
                        Ok((rh, total, _)) if rh.seq == seq => {
                            if ended {
                                v.reasons.push(Evidence::NotTorn(p));
                            }
                            Some(At::Follow(p + total, seq + 1, rh.flags & FLAG_LAST != 0))
                        }
                        Ok((rh, _, _)) => Some(At::Damage(
                            p,
                            DefectKind::Sequence {
                                expected: seq,
                                found: rh.seq,
                            },
                            seq,
                        )),
                        Err(k) => Some(At::Damage(p, k, seq)),
                    }
                }
            }
        };
    }
    v
}

/// The torn signature of a damaged span `[p, end)` of `kind` (docs/FORMAT.md): the file ends
/// inside the damaged record (`truncated`) with nothing valid after it (`end` is the end of
/// the file); only zeros from `p` to the end of the file; zeros
/// from `p` (where a record magic should be) to the next 512-byte boundary, however few bytes
/// that is; or a whole 512-byte-aligned sector of zeros inside the span (the file's last,
/// shorter sector counts). A valid record with a wrong sequence number, or one continuing an
/// ended append, has none: its bytes check out, so they were written.
pub fn span_signature(data: &[u8], p: u64, end: u64, kind: DefectKind) -> Option<Evidence> {
    match kind {
        DefectKind::Sequence { .. } | DefectKind::BrokenAppend | DefectKind::UnfinishedAppend => {
            return None;
        }
        DefectKind::Truncated if end >= data.len() as u64 => return Some(Evidence::EndOfFile),
        _ => {}
    }
    let size = data.len() as u64;
    if all_zero(&data[p as usize..]) {
        return Some(Evidence::ZeroFill);
    }
    let boundary = ((p / SECTOR + 1) * SECTOR).min(size);
    if all_zero(&data[p as usize..boundary as usize]) {
        return Some(Evidence::Zeros(p));
    }
    first_zero_sector(data, p, end).map(Evidence::Zeros)
}

/// The first 512-byte-aligned sector of zeros inside `[p, end)` (the file's last, shorter
/// sector counts when the span runs to the end of the file).
fn first_zero_sector(data: &[u8], p: u64, end: u64) -> Option<u64> {
    let size = data.len() as u64;
    let mut s = p.div_ceil(SECTOR) * SECTOR;
    while s < end {
        let e = (s + SECTOR).min(size);
        if e > end {
            return None;
        }
        if all_zero(&data[s as usize..e as usize]) {
            return Some(s);
        }
        s += SECTOR;
    }
    None
}

impl Model {
    /// The records, in order.
    pub fn records(&self) -> impl Iterator<Item = (u64, &Found)> {
        self.steps.iter().filter_map(|s| match s {
            Step::Record(at, found) => Some((*at, found)),
            _ => None,
        })
    }

    /// The defects, in order.
    pub fn defects(&self) -> impl Iterator<Item = &Expected> {
        self.steps.iter().filter_map(|s| match s {
            Step::Defect(d) => Some(d),
            _ => None,
        })
    }

    /// The verdict on the log: the worst over its defects.
    pub fn status(&self) -> Status {
        self.defects().fold(Status::Clean, |s, d| {
            s.worst(if d.verdict.torn() {
                Status::TornTail
            } else {
                Status::Corrupt
            })
        })
    }

    /// Where the valid log ends: the first defect's cut, else the end of the file.
    pub fn valid_end(&self) -> u64 {
        self.defects().next().map_or(self.size, |d| d.cut)
    }

    /// The records before the first defect: (those before the cut, those after it).
    pub fn before_damage(&self) -> (u64, u64) {
        let cut = self.valid_end();
        let mut kept = 0;
        let mut unfinished = 0;
        for s in &self.steps {
            match s {
                Step::Record(at, _) if *at < cut => kept += 1,
                Step::Record(..) => unfinished += 1,
                _ => break,
            }
        }
        (kept, unfinished)
    }

    /// The records after the first defect: (count, bytes).
    pub fn after_damage(&self) -> (u64, u64) {
        let first = self.steps.iter().position(|s| matches!(s, Step::Defect(_)));
        self.steps[first.map_or(self.steps.len(), |i| i + 1)..]
            .iter()
            .filter_map(|s| match s {
                Step::Record(_, (_, total, _)) => Some(*total),
                _ => None,
            })
            .fold((0, 0), |(n, b), t| (n + 1, b + t))
    }

    /// Whether a library check may stop at a bug that is known and still open (`known.rs`).
    pub fn open_bug(&self) -> Option<&'static str> {
        super::known::native_log(self)
    }
}

/// Run a scanner to its end, checking each record's payload against the file; fails if it
/// yields more items than the file could hold (a scan that does not move on).
pub fn scan(scanner: &mut NativeReader<'_>, data: &[u8]) -> Vec<Item> {
    let mut items = Vec::new();
    loop {
        let item = scanner.next_item().expect("reading a file in tmpfs");
        items.push(item);
        assert!(
            items.len() <= 2 * data.len() + 2,
            "the scanner does not terminate: {} items from {} bytes",
            items.len(),
            data.len()
        );
        match item {
            Item::Record(r) => {
                let want = &data[r.payload_offset() as usize..][..r.len as usize];
                if let Some(p) = scanner.payload(&r) {
                    assert_eq!(p, want, "payload() of the record at {}", r.offset);
                }
                let mut got = Vec::new();
                scanner
                    .read_payload(&r, |piece| {
                        assert!(piece.len() <= WINDOW, "a payload piece over the window");
                        got.extend_from_slice(piece);
                        Ok(())
                    })
                    .expect("reading a payload");
                assert!(got == want, "read_payload() of the record at {}", r.offset);
            }
            Item::Defect(_) => {}
            Item::End => return items,
        }
    }
}

pub use super::{defects, records};

/// Assert that `d`, a defect the library reported, is the one the reference expects: the same
/// offset, kind, resync point and cut; a torn tail exactly when the reference finds one, with
/// the signature of the damaged span at the defect; corruption with evidence that is one of
/// the reasons the rule gives (which one the library names first is not checked: see
/// fuzz/README.md).
pub fn check_defect(d: &Defect, e: &Expected) {
    let at = e.offset;
    assert_eq!(
        (d.offset, d.kind, d.next_valid, d.in_index),
        (e.offset, e.kind, e.next_valid, false),
        "the defect at {at}"
    );
    assert_eq!(d.cut, e.cut, "the cut of the defect at {at} ({:?})", e.kind);
    if e.verdict.torn() {
        let signature = e.verdict.signature.expect("a torn tail has a signature");
        assert_eq!(
            d.evidence, signature,
            "the defect at {at} ({:?}) is a torn tail, evidence {signature:?}",
            e.kind
        );
    } else {
        assert!(
            e.verdict.reasons.contains(&d.evidence),
            "the defect at {at} ({:?}) is corrupt: the library says {:?}, the reasons are {:?}",
            e.kind,
            d.evidence,
            e.verdict.reasons
        );
    }
    assert_eq!(d.is_torn_tail(), e.verdict.torn(), "the defect at {at}");
}

/// Hold a resyncing forward scan from the first record to the reference reader, item by item.
pub fn check_resync_scan(items: &[Item], model: &Model) {
    assert_eq!(
        items.len(),
        model.steps.len(),
        "the scan yields {} items, the reference {}: {items:?}",
        items.len(),
        model.steps.len()
    );
    let mut index = 0;
    for (item, step) in items.iter().zip(&model.steps) {
        match (item, step) {
            (Item::Record(r), Step::Record(at, found)) => {
                assert_eq!(r.offset, *at, "record {index}");
                assert_same(r, found, "resync scan");
                assert_eq!(r.index, index, "the record at {at}");
                index += 1;
            }
            (Item::Defect(d), Step::Defect(e)) => check_defect(d, e),
            (Item::End, Step::End) => {}
            (item, step) => panic!("the scan yields {item:?} where the reference has {step:?}"),
        }
    }
}

/// Hold `verify`'s summary to the reference: counts, where the valid log ends (the first
/// defect's cut), the records kept before it and those of the unfinished append between it and
/// the damage, the records after the damage, the defects, and the status (the worst over the
/// defects).
pub fn check_summary(v: &Verification, model: &Model) {
    let defects: Vec<&Expected> = model.defects().collect();
    let (kept, unfinished) = model.before_damage();
    let (after, after_bytes) = model.after_damage();
    let status = model.status();
    assert_eq!(v.format, LogFormat::Native);
    assert_eq!(v.bytes, model.size);
    assert_eq!(v.records, model.records().count() as u64, "records");
    assert_eq!(v.valid_end, model.valid_end(), "valid_end");
    assert_eq!(
        (v.records_before_damage, v.records_unfinished),
        (kept, unfinished),
        "records before the cut, and between it and the damage"
    );
    assert_eq!(
        (v.records_after_damage, v.bytes_after_damage),
        (after, after_bytes),
        "records after the damage"
    );
    assert_eq!(v.defect_count, defects.len() as u64);
    assert_eq!(
        v.defects.len(),
        defects.len().min(log::MAX_DEFECTS_KEPT),
        "defects kept"
    );
    for (d, e) in v.defects.iter().zip(&defects) {
        check_defect(d, e);
    }
    assert_eq!(v.status, status, "status");
    assert_eq!((v.main_status, v.index_status), (status, Status::Clean));
    // The valid log ends on a whole append: what recover keeps, the next tail check accepts.
    let last_kept = model
        .records()
        .take_while(|(at, _)| *at < v.valid_end)
        .last();
    assert!(
        last_kept.is_none_or(|(_, (rh, _, _))| rh.flags & FLAG_LAST != 0),
        "the valid log ends inside an append"
    );
}

/// Reference for a torn start: shorter than a header, and equal to the header that the file's
/// own salt, time and checksum algorithm (where it has them) encode to, up to its checksum; or
/// (`named`: the user named the file) no longer than a header and only zeros. Not named, a
/// prefix needs the whole magic.
pub fn torn_start(data: &[u8], named: bool) -> bool {
    const LEN: usize = format::FILE_HEADER_LEN as usize;
    if named && !data.is_empty() && data.len() <= LEN && all_zero(data) {
        return true;
    }
    // Not named (a walk), at least the whole magic.
    if data.is_empty() || data.len() >= LEN || (!named && data.len() < format::FILE_MAGIC.len()) {
        return false;
    }
    let algorithm = match data.get(10) {
        None | Some(1) => format::Algorithm::Crc32,
        Some(2) => format::Algorithm::Sha256,
        Some(_) => return false,
    };
    let mut padded = [0u8; LEN];
    padded[..data.len()].copy_from_slice(data);
    let mut salt = [0u8; 16];
    salt.copy_from_slice(&padded[16..32]);
    let created = u64::from_le_bytes(padded[32..40].try_into().expect("8 bytes"));
    let model = FileHeader::new(algorithm, salt, created).encode();
    let n = data.len().min(LEN - 4);
    data[..n] == model[..n]
}

/// The header `log::open` reads a file whose own header is lost (or not its own) with (its
/// salt recovered from its records), and how it was lost, if it is such a file.
pub fn lost_header(path: &Path) -> Option<(FileHeader, HeaderLoss)> {
    match log::open(path, &native_opts()) {
        Ok(opened) => match opened.layout {
            log::Layout::Lost(header, loss) => Some((header, loss)),
            _ => None,
        },
        Err(_) => None,
    }
}

/// What a log whose header is lost promises (docs/FORMAT.md, "A lost header"), checked with the
/// reference reader: the header does not decode (`HeaderLoss::Damaged`), or it decodes and
/// names another salt class or checksum algorithm than the recovered one (`NotItsOwn`); a
/// record starts at offset 64, and records validate in full under the recovered salt (record
/// 0 may be damaged itself); verify reports the lost header as corruption at offset 0
/// (`bad-header`, evidence `header-lost` or `header-mismatch`, cut 0, the next valid record:
/// the reference's first record, or where it goes on after its first defect), then exactly
/// what the reference reads with that header, every record counted after the damage.
pub fn check_lost(data: &[u8], header: &FileHeader, loss: HeaderLoss, v: &Verification) {
    match (loss, FileHeader::decode(data)) {
        (HeaderLoss::Damaged, decoded) => assert!(decoded.is_err(), "a lost header that decodes"),
        (HeaderLoss::NotItsOwn, Ok(own)) => {
            // Not the records' salt (its class, for CRC-32) and algorithm.
            let same = own.algorithm == header.algorithm
                && match own.algorithm {
                    Algorithm::Crc32 => crc32fast::hash(&own.salt) == crc32fast::hash(&header.salt),
                    Algorithm::Sha256 => own.salt == header.salt,
                };
            assert!(
                !same,
                "a header its records validate under read as not its own"
            );
            // Record 0 does not validate under the header it has.
            let model = reference(data, &own);
            assert!(
                !matches!(model.steps.first(), Some(Step::Record(at, _)) if *at == FILE_HEADER_LEN),
                "record 0 validates under the header called not its own"
            );
        }
        (HeaderLoss::NotItsOwn, Err(e)) => {
            panic!("a header not its own that does not decode: {e:?}")
        }
    }
    // A whole header with a valid checksum that names an unknown version is not lost.
    assert!(
        !matches!(
            FileHeader::decode(data),
            Err(durable::log::format::HeaderError::Unsupported)
        ),
        "an unknown header read as lost"
    );
    // Record 0 at offset 64, or (it does not frame there: a lost first sector) a chain found
    // after it (docs/FORMAT.md, "A lost header"): the record magic somewhere after 64.
    assert!(data.len() as u64 > FILE_HEADER_LEN && has_record_magic(&data[64..]));
    let model = reference(data, header);
    if model.open_bug().is_some() {
        return;
    }
    let records = model.records().count() as u64;
    assert!(records > 0, "no record validates under the recovered salt");
    assert_eq!(v.status, Status::Corrupt, "{v:?}");
    assert_eq!(v.records, records, "{v:?}");
    assert_eq!(v.records_after_damage, records, "{v:?}");
    assert_eq!((v.valid_end, v.records_before_damage), (0, 0), "{v:?}");
    assert_eq!(v.algorithm, Some(header.algorithm));
    let next_valid = match model.steps.first() {
        Some(Step::Record(at, _)) => Some(*at),
        Some(Step::Defect(d)) => d.next_valid,
        _ => None,
    };
    let evidence = match loss {
        HeaderLoss::Damaged => Evidence::HeaderLost,
        HeaderLoss::NotItsOwn => Evidence::HeaderMismatch,
    };
    let first = v.defects[0];
    assert_eq!(
        (
            first.offset,
            first.kind,
            first.cut,
            first.evidence,
            first.next_valid
        ),
        (0, DefectKind::BadHeader, 0, evidence, next_valid),
        "{v:?}"
    );
    assert_eq!(v.defect_count, model.defects().count() as u64 + 1, "{v:?}");
}

/// Whether the record magic is anywhere in `bytes`.
fn has_record_magic(bytes: &[u8]) -> bool {
    bytes.windows(4).any(|w| w == RECORD_MAGIC)
}

/// Everything the native reader promises about one file, `data`, already written at `path`:
/// open agrees with the header decoder; the resyncing scan agrees with the reference reader;
/// the stopping scan is its prefix; `last_records` agrees with the forward scan; the tail check
/// walks back over the last append as the reference does; `verify` sums the scan up as the
/// reference does; a scan started mid-file yields only valid records.
pub fn check_log(data: &[u8], path: &Path) {
    let decoded = FileHeader::decode(data);
    let opened = log::native::open(path);
    let log = match (opened, decoded) {
        (Ok(log), Ok(header)) => {
            assert_eq!(log.header, header);
            assert_eq!(log.size, data.len() as u64);
            log
        }
        (Err(Error::NotALog { damaged_header, .. }), Err(e)) => {
            assert_eq!(damaged_header, e != format::HeaderError::NotALog, "{e:?}");
            let verified = log::verify(path, &native_opts(), |_, _| {});
            // A header cut short that is the start of a valid one: a torn start, a torn tail
            // at offset 0 (docs/FORMAT.md, "A log's start").
            if torn_start(data, false) {
                let v = verified.expect("a torn start verifies");
                assert_eq!(v.status, Status::TornTail, "{v:?}");
                assert_eq!((v.valid_end, v.records, v.defect_count), (0, 0, 1), "{v:?}");
                assert_eq!(v.defects[0].kind, DefectKind::Truncated, "{v:?}");
                return;
            }
            // Native records at offset 64 that agree on a salt: a log whose header is lost
            // (docs/FORMAT.md, "A lost header"); otherwise not a log.
            if let Some((header, loss)) = lost_header(path) {
                check_lost(
                    data,
                    &header,
                    loss,
                    &verified.expect("a lost header verifies"),
                );
                return;
            }
            match verified {
                Err(Error::NotALog { why, .. }) if why == log::reader::LOST_NO_SALT => {
                    assert!(data.len() as u64 > FILE_HEADER_LEN && has_record_magic(&data[64..]));
                }
                verified => assert!(
                    matches!(verified, Err(Error::NotALog { .. })),
                    "{verified:?}"
                ),
            }
            return;
        }
        (opened, decoded) => panic!(
            "open and the header decoder disagree: {:?} / {decoded:?}",
            opened.map(|l| l.header)
        ),
    };
    let header = log.header;
    let size = log.size;
    let model = reference(data, &header);
    if model.open_bug().is_some() {
        return;
    }

    let resync = scan(&mut log.reader(OnDamage::Resync), data);
    check_resync_scan(&resync, &model);

    // Stop: the same up to the first defect, then the end.
    let stop = scan(&mut log.reader(OnDamage::Stop), data);
    let first_defect = resync.iter().position(|i| matches!(i, Item::Defect(_)));
    match first_defect {
        Some(k) => {
            assert_eq!(
                stop[..=k],
                resync[..=k],
                "Stop and Resync before the first defect"
            );
            assert_eq!(stop[k + 1..], [Item::End], "Stop goes on after a defect");
        }
        None => assert_eq!(stop, resync),
    }
    let forward = records(&stop);
    let first = first_defect.map(|k| match resync[k] {
        Item::Defect(d) => d,
        _ => unreachable!("a defect"),
    });
    check_last_records(&log, data, &forward, first.as_ref());

    let v = log::verify(path, &native_opts(), |_, _| {}).expect("verify of a log that opens");
    // A header that decodes but is not its records' (docs/FORMAT.md, "A lost header"): verify
    // reads them as the recovered header does.
    if let Some((own, loss)) = lost_header(path) {
        assert_eq!(loss, HeaderLoss::NotItsOwn);
        check_lost(data, &own, loss, &v);
    } else {
        check_summary(&v, &model);
        assert_eq!(v.algorithm, Some(header.algorithm));
        assert_eq!(v.defects[..], defects(&resync)[..v.defects.len()]);
    }

    // The tail check of `log append` walks back over exactly the last append.
    let mut scanner = log.reader(OnDamage::Stop);
    assert_eq!(
        scanner
            .last_append_whole()
            .expect("reading a file in tmpfs"),
        last_append(data, &header).map(|(_, _, next)| next),
        "last_append_whole"
    );
    // Verify through detection reads the same (a file with the native magic is native).
    let detected = log::verify(path, &OpenOptions::default(), |_, _| {})
        .expect("verify of a log that opens, detected");
    assert_eq!(
        (
            detected.status,
            detected.records,
            detected.valid_end,
            detected.format
        ),
        (v.status, v.records, v.valid_end, LogFormat::Native)
    );

    // A scan started anywhere (not on a record boundary, with any expectation) must still end,
    // and whatever it calls a record is one.
    for (start, next_seq) in [(size / 2, 0), (FILE_HEADER_LEN + 1, 1), (0, 0)] {
        let mut mid = NativeReader::new(&log.file, header, size, start, next_seq, OnDamage::Resync);
        for r in records(&scan(&mut mid, data)) {
            let found = record_at(data, &header, r.offset).expect("a record mid-file");
            assert_same(&r, &found, "a scan started mid-file");
        }
    }
}

/// `last_records(n)` walks back a chain of valid records that ends at the end of the file; on a
/// clean log it is the tail of the forward scan.
fn check_last_records(
    log: &NativeLog,
    data: &[u8],
    forward: &[Record],
    first_defect: Option<&Defect>,
) {
    let clean = first_defect.is_none();
    let header = log.header;
    for n in [1, 3, u64::MAX] {
        let mut scanner = log.reader(OnDamage::Stop);
        let back = scanner.last_records(n).expect("reading a file in tmpfs");
        let Some(back) = back else {
            assert!(!clean, "last_records({n}) found no chain on a clean log");
            continue;
        };
        assert!(back.len() as u64 <= n);
        let mut end = log.size;
        for (i, r) in back.iter().enumerate().rev() {
            let found = record_at(data, &header, r.offset)
                .unwrap_or_else(|k| panic!("last_records({n}) gave an invalid record: {k:?}"));
            let total = found.1;
            assert_eq!(
                r.offset + total,
                end,
                "last_records({n}) record {i} is not contiguous"
            );
            assert_same(r, &found, "last_records");
            if i + 1 < back.len() {
                assert_eq!(r.seq + 1, back[i + 1].seq, "last_records({n}): sequence");
            }
            let mut got = Vec::new();
            scanner
                .read_payload(r, |p| {
                    got.extend_from_slice(p);
                    Ok(())
                })
                .expect("reading a payload");
            assert!(got == data[r.payload_offset() as usize..][..r.len as usize]);
            end = r.offset;
        }
        if (back.len() as u64) < n {
            assert_eq!(end, FILE_HEADER_LEN, "last_records({n}) stopped early");
        }
        let key = |r: &Record| (r.offset, r.len, r.seq, r.checksum);
        if clean {
            assert!(
                back.len() <= forward.len(),
                "last_records({n}) found extra records"
            );
            let tail = &forward[forward.len() - back.len()..];
            assert!(
                back.iter().map(key).eq(tail.iter().map(key)),
                "last_records({n}) disagrees with the forward scan"
            );
            if (back.len() as u64) < n {
                assert_eq!(back.len(), forward.len());
            }
        } else if (back.len() as u64) < n && back.first().is_some_and(|r| r.seq == 0) {
            // A chain of valid records from the first one, with sequence numbers from 0, to the
            // end: the forward scan finds the same records, and only their append marks can be
            // wrong (the file ends inside an append, or marks out of order).
            assert!(
                matches!(
                    first_defect.map(|d| d.kind),
                    Some(DefectKind::UnfinishedAppend | DefectKind::BrokenAppend)
                ),
                "last_records({n}) read the whole file as valid, the forward scan found {first_defect:?}"
            );
            let key = |r: &Record| (r.offset, r.len, r.seq, r.checksum);
            assert!(
                forward
                    .iter()
                    .map(key)
                    .eq(back[..forward.len()].iter().map(key)),
                "last_records({n}) and the forward scan read different records"
            );
        }
    }
}
