//! The native log under fuzzing: a builder of valid logs from fuzz-chosen records with
//! fuzz-chosen damage, a reference reader written from docs/FORMAT.md on an in-memory copy
//! (independent of `log::scan`, which works through a window and has a CRC-32 fast path), and
//! the checks that hold the library's readers to it.

use std::path::Path;

use durable::Error;
use durable::log::format::{
    self, Algorithm, Checksum, Encoder, FILE_HEADER_LEN, FLAG_FIRST, FLAG_LAST, FLAGS_KNOWN,
    FileHeader, MAX_RECORD, RECORD_HEADER_LEN, RECORD_MAGIC, RecordHeader, RecordHeaderError,
    TRAILER_MAGIC, TYPE_DATA,
};
use durable::log::{
    self, DefectKind, Item, LogFormat, OnDamage, OpenLog, OpenOptions, Record, Scanner, Status,
};
use sha2::{Digest, Sha256};

use super::alloc::WINDOW;
use super::cursor::Cursor;
use super::mutate;

/// The longest file the builder makes (one record over the window, a few smaller ones, and
/// room for appended damage).
pub const MAX_BUILT: usize = 2 << 20;

/// A log made by [`build`], and where its records are.
pub struct Built {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// Offsets worth aiming mutations at: record starts and their fields.
    pub marks: Vec<usize>,
}

/// Build a log from the fuzz input: algorithm, salt, appends of one or more records, flagged
/// first and last as `log append` flags them (plain payloads, copies of record images inside
/// payloads, one over the window), then damage (headers rewritten with a valid CRC but hostile
/// fields or flags, records re-encoded with another sequence number, records and whole appends
/// replayed, a whole later append added (evidence: earlier damage reads as corruption), a torn
/// append added (its first records lost, later ones kept: no evidence), and the byte-level
/// mutations of [`mutate::apply`]).
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
    for _ in 0..c.byte() % 4 {
        let op = c.byte() % 6;
        if op >= 4 {
            // A new append at the end: whole (evidence of corruption for damage before it), or
            // torn the way a power loss tears one (its first records lost, later ones kept).
            let n = 1 + u64::from(c.byte() % 3);
            let first_seq = count + u64::from(c.byte() % 3);
            let at = bytes.len();
            let mut ends = Vec::new();
            for i in 0..n {
                let f =
                    if i == 0 { FLAG_FIRST } else { 0 } | if i + 1 == n { FLAG_LAST } else { 0 };
                let len = usize::from(c.byte() % 32);
                let payload = fill(c, len, op);
                let _ = encoder.encode(&mut bytes, first_seq + i, f, &payload);
                ends.push(bytes.len());
            }
            marks.push(at);
            if op == 5 {
                // Lose the first record (zeros, or another append's bytes).
                bytes[at..ends[0]].fill(c.byte() & 0x0f);
            }
            continue;
        }
        if records.is_empty() {
            break;
        }
        let (start, len, seq, record_flags) = records[c.below(records.len())];
        let end = start + algorithm.record_len(len as u64) as usize;
        if end > bytes.len() {
            continue;
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
                bytes[start..start + RECORD_HEADER_LEN as usize]
                    .copy_from_slice(&hostile.encode(&salt));
            }
            1 => {
                // The same payload, validly re-encoded with another sequence number and
                // perhaps other flags.
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
                // A whole append replayed at the end (its sequence numbers are too low to be
                // evidence).
                let (a, b) = appends[c.below(appends.len())];
                if b <= bytes.len() {
                    let copy = bytes[a..b].to_vec();
                    bytes.extend_from_slice(&copy);
                }
            }
        }
    }
    mutate::apply(c, &mut bytes, &marks, MAX_BUILT);
    Built { bytes, marks }
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

/// The reference reader: is there a valid record at `offset` of `data`, and if not, which
/// defect kind does docs/FORMAT.md give it? (Before the sequence-number check, which depends
/// on the scan.) Written from the format's tables, not with the library's decoders: the header
/// CRC covers salt ‖ header bytes 0..20; the record checksum covers salt ‖ header bytes 0..20
/// ‖ payload ‖ trailer bytes 0..8 (not the header CRC).
pub fn record_at(data: &[u8], header: &FileHeader, offset: u64) -> Result<Found, DefectKind> {
    let size = data.len() as u64;
    let algorithm = header.algorithm;
    if offset + RECORD_HEADER_LEN > size {
        return Err(DefectKind::Truncated);
    }
    let at = offset as usize;
    let h = &data[at..at + RECORD_HEADER_LEN as usize];
    let le32 = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
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
    // The library's header decoder must agree.
    let theirs = RecordHeader::decode(h, &header.salt).map_err(|e| match e {
        RecordHeaderError::NoMagic | RecordHeaderError::Damaged => DefectKind::BadHeader,
        RecordHeaderError::BadLength => DefectKind::BadLength,
    });
    assert_eq!(ours, theirs, "RecordHeader::decode at {offset}");
    let rh = ours?;
    let total = algorithm.record_len(u64::from(rh.len));
    if offset + total > size {
        return Err(DefectKind::Truncated);
    }
    let payload = &data[at + RECORD_HEADER_LEN as usize..][..rh.len as usize];
    let trailer = &data[at + RECORD_HEADER_LEN as usize + rh.len as usize..at + total as usize];
    if le32(&trailer[..4]) != rh.len || trailer[4..8] != TRAILER_MAGIC {
        return Err(DefectKind::BadLength);
    }
    let sum = match algorithm {
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

/// Assert that `r`, a record a reader returned at `at`, is the record the reference found there.
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
    assert_eq!(r.extra, durable::log::Extra::None, "{what}");
}

/// The options that open a file as a native log, whatever it holds.
pub fn native_opts() -> OpenOptions {
    OpenOptions {
        format: Some(LogFormat::Native),
        ..OpenOptions::default()
    }
}

/// Whether a whole append starts at `offset`: a valid record flagged first whose sequence
/// number is at least `expected`, then valid records with consecutive sequence numbers, none
/// flagged first, up to one flagged last (docs/FORMAT.md, "Torn tail versus corruption").
pub fn whole_append_at(data: &[u8], header: &FileHeader, offset: u64, expected: u64) -> bool {
    let Ok((mut rh, total, _)) = record_at(data, header, offset) else {
        return false;
    };
    if rh.flags & FLAG_FIRST == 0 || rh.seq < expected {
        return false;
    }
    let mut at = offset + total;
    while rh.flags & FLAG_LAST == 0 {
        let Ok((next, total, _)) = record_at(data, header, at) else {
            return false;
        };
        if next.seq != rh.seq + 1 || next.flags & FLAG_FIRST != 0 {
            return false;
        }
        rh = next;
        at += total;
    }
    true
}

/// The reference resync: the first whole append at or after `from` (the evidence that damage
/// before it is corruption, not a torn tail).
pub fn next_valid(data: &[u8], header: &FileHeader, from: u64, expected: u64) -> Option<u64> {
    magics(data, from).find(|&q| whole_append_at(data, header, q, expected))
}

/// The valid record that ends exactly at `end`, found through its trailer.
pub fn record_ending_at(data: &[u8], header: &FileHeader, end: u64) -> Option<(u64, Found)> {
    let trailer_len = header.algorithm.trailer_len();
    let t = end.checked_sub(trailer_len)? as usize;
    if end > data.len() as u64 || data[t + 4..t + 8] != TRAILER_MAGIC {
        return None;
    }
    let len = u32::from_le_bytes(data[t..t + 4].try_into().expect("4 bytes"));
    let start = end
        .checked_sub(header.algorithm.record_len(u64::from(len)))
        .filter(|s| *s >= FILE_HEADER_LEN)?;
    let found = record_at(data, header, start).ok()?;
    (start + found.1 == end).then_some((start, found))
}

/// The reference tail check of `log append`: walk back from the end over the last append (a
/// record flagged last, then valid records with consecutive sequence numbers back to one
/// flagged first). The sequence number for the next record, or `None` if it is not whole.
pub fn last_append(data: &[u8], header: &FileHeader) -> Option<u64> {
    let size = data.len() as u64;
    if size == FILE_HEADER_LEN {
        return Some(0);
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
            return Some(next);
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

/// Run a scanner to its end, checking each record's payload against the file; fails if it
/// yields more items than the file could hold (a scan that does not move on).
pub fn scan(scanner: &mut Scanner<'_>, data: &[u8]) -> Vec<Item> {
    let mut items = Vec::new();
    loop {
        let item = scanner.next_item().expect("reading a file in tmpfs");
        items.push(item);
        assert!(
            items.len() <= data.len() + 2,
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

/// Hold a resyncing forward scan from the first record to the reference reader: every record
/// is valid where it is said to be, in sequence, back to back; every defect has the kind
/// docs/FORMAT.md gives it, and its `next_valid` is the reference resync's answer.
pub fn check_resync_scan(items: &[Item], data: &[u8], header: &FileHeader) {
    let size = data.len() as u64;
    let mut pos = FILE_HEADER_LEN;
    let mut expected = 0u64;
    let mut index = 0u64;
    let mut after_torn_tail = false;
    for (i, item) in items.iter().enumerate() {
        assert!(
            !after_torn_tail || *item == Item::End,
            "item {i} after a torn tail: {item:?}"
        );
        match *item {
            Item::Record(r) => {
                assert_eq!(
                    r.offset, pos,
                    "record {index} is not where the last one ended"
                );
                let found = record_at(data, header, pos)
                    .unwrap_or_else(|k| panic!("record at {pos} invalid to the reference: {k:?}"));
                assert_same(&r, &found, "resync scan");
                let total = found.1;
                assert_eq!(r.seq, expected, "record at {pos} out of sequence");
                assert_eq!(r.index, index, "record at {pos}");
                index += 1;
                expected = r.seq + 1;
                pos += total;
            }
            Item::Defect(d) => {
                assert_eq!(
                    d.offset, pos,
                    "defect {d:?} is not where the last record ended"
                );
                if all_zero(&data[pos as usize..]) {
                    assert_eq!(
                        (d.kind, d.next_valid),
                        (DefectKind::ZeroFill, None),
                        "at {pos}"
                    );
                    after_torn_tail = true;
                    continue;
                }
                let kind = match record_at(data, header, pos) {
                    Ok((rh, _, _)) => {
                        assert_ne!(rh.seq, expected, "a valid record reported as {d:?}");
                        DefectKind::Sequence {
                            expected,
                            found: rh.seq,
                        }
                    }
                    Err(kind) => kind,
                };
                assert_eq!(d.kind, kind, "defect kind at {pos}");
                let next = next_valid(data, header, pos + 1, expected);
                assert_eq!(
                    d.next_valid, next,
                    "next valid record after the defect at {pos}"
                );
                match next {
                    Some(q) => {
                        pos = q;
                        expected = record_at(data, header, q).map(|(rh, _, _)| rh.seq).unwrap();
                    }
                    None => after_torn_tail = true,
                }
            }
            Item::End => {
                assert_eq!(i, items.len() - 1, "items after the end");
                assert!(
                    after_torn_tail || pos == size,
                    "the scan ended at {pos} of {size} bytes with no defect"
                );
            }
        }
    }
}

/// Everything the native reader promises about one file, `data`, already written at `path`:
/// open agrees with the header decoder; the resyncing scan agrees with the reference reader;
/// the stopping scan is its prefix; `last_records` agrees with the forward scan; `verify` sums
/// the resyncing scan up correctly; a scan started mid-file yields only valid records.
pub fn check_log(data: &[u8], path: &Path) {
    let decoded = FileHeader::decode(data);
    let opened = log::open(path);
    let log = match (opened, decoded) {
        (Ok(log), Ok(header)) => {
            assert_eq!(log.header, header);
            assert_eq!(log.size, data.len() as u64);
            log
        }
        (Err(Error::NotALog { damaged_header, .. }), Err(e)) => {
            assert_eq!(damaged_header, e != format::HeaderError::NotALog, "{e:?}");
            let verified = log::verify(path, &native_opts(), |_, _| {});
            assert!(
                matches!(verified, Err(Error::NotALog { .. })),
                "{verified:?}"
            );
            return;
        }
        (opened, decoded) => panic!(
            "open and the header decoder disagree: {:?} / {decoded:?}",
            opened.map(|l| l.header)
        ),
    };
    let header = log.header;
    let size = log.size;
    if super::known::native_log(data, &header).is_some() {
        return;
    }

    let resync = scan(&mut log.scanner(OnDamage::Resync), data);
    check_resync_scan(&resync, data, &header);

    // Stop: the same up to the first defect, then the end.
    let stop = scan(&mut log.scanner(OnDamage::Stop), data);
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
    let clean = first_defect.is_none();

    check_last_records(&log, data, &forward, clean);

    let v = log::verify(path, &native_opts(), |_, _| {}).expect("verify of a log that opens");
    let all = records(&resync);
    let found = defects(&resync);
    assert_eq!(v.format, LogFormat::Native);
    assert_eq!(v.algorithm, Some(header.algorithm));
    assert_eq!(v.bytes, size);
    assert_eq!(v.records, all.len() as u64);
    assert_eq!(v.records_before_damage, forward.len() as u64);
    assert_eq!(v.defect_count, found.len() as u64);
    assert_eq!(
        v.defects[..],
        found[..found.len().min(log::MAX_DEFECTS_KEPT)]
    );
    assert_eq!(v.valid_end, found.first().map_or(size, |d| d.offset));
    let after = &all[forward.len()..];
    assert_eq!(v.records_after_damage, after.len() as u64);
    assert_eq!(
        v.bytes_after_damage,
        after.iter().map(|r| r.end - r.offset).sum::<u64>()
    );
    let status = if found.is_empty() {
        Status::Clean
    } else if found.iter().any(|d| d.next_valid.is_some()) {
        Status::Corrupt
    } else {
        Status::TornTail
    };
    assert_eq!(v.status, status);
    assert_eq!((v.main_status, v.index_status), (status, Status::Clean));
    for d in &v.defects {
        assert!(!d.in_index, "{d:?}");
        assert_eq!(d.is_torn_tail(), d.next_valid.is_none(), "{d:?}");
    }

    // The tail check of `log append` walks back over exactly the last append.
    let mut scanner = log.scanner(OnDamage::Stop);
    assert_eq!(
        scanner
            .last_append_whole()
            .expect("reading a file in tmpfs"),
        last_append(data, &header),
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
        let mut mid = Scanner::new(&log.file, header, size, start, next_seq, OnDamage::Resync);
        for r in records(&scan(&mut mid, data)) {
            let found = record_at(data, &header, r.offset).expect("a record mid-file");
            assert_same(&r, &found, "a scan started mid-file");
        }
    }
}

/// `last_records(n)` walks back a chain of valid records that ends at the end of the file; on a
/// clean log it is the tail of the forward scan.
fn check_last_records(log: &OpenLog, data: &[u8], forward: &[Record], clean: bool) {
    let header = log.header;
    for n in [1, 3, u64::MAX] {
        let mut scanner = log.scanner(OnDamage::Stop);
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
            // A chain from the first record with sequence numbers from 0 is a clean log.
            panic!("last_records({n}) read the whole file as valid, the forward scan did not");
        }
    }
}
