//! The native log under fuzzing: a builder of valid logs from fuzz-chosen records with
//! fuzz-chosen damage, a reference reader written from docs/FORMAT.md on an in-memory copy
//! (independent of `log::scan`, which works through a window and has a CRC-32 fast path), and
//! the checks that hold the library's readers to it.

use std::path::Path;

use durable::Error;
use durable::log::format::{
    self, Algorithm, Checksum, Encoder, FILE_HEADER_LEN, FileHeader, MAX_RECORD, RECORD_HEADER_LEN,
    RECORD_MAGIC, RecordHasher, RecordHeader, RecordHeaderError, TYPE_DATA,
};
use durable::log::{self, Defect, DefectKind, Item, OnDamage, OpenLog, Record, Scanner, Status};

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

/// Build a log from the fuzz input: algorithm, salt, records (plain, copies of record images
/// inside payloads, one over the window), then damage (headers rewritten with a valid CRC but
/// hostile fields, records re-encoded with another sequence number, duplicated records, and the
/// byte-level mutations of [`mutate::apply`]).
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
    // (start, payload length, seq) of each record.
    let mut records: Vec<(usize, usize, u64)> = Vec::new();
    let count = u64::from(c.byte() % 12);
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
                    // later sequence number: resync must not be fooled by the earlier ones.
                    let prefix = usize::from(c.byte() % 8);
                    let mut image = c.bytes(prefix).to_vec();
                    let inner_seq = (seq + u64::from(c.byte() % 4)).saturating_sub(2);
                    let inner_len = usize::from(c.byte() % 64);
                    let inner = fill(c, inner_len, kind);
                    let _ = encoder.encode(&mut image, inner_seq, &inner);
                    image
                }
                _ => pattern(usize::from(c.u16() % 8192), kind),
            }
        };
        records.push((bytes.len(), payload.len(), seq));
        encoder
            .encode(&mut bytes, seq, &payload)
            .expect("payloads are under the maximum");
    }
    let mut marks = vec![bytes.len()];
    for &(start, len, _) in &records {
        let trailer = start + RECORD_HEADER_LEN as usize + len;
        marks.extend([
            start,
            start + 4,
            start + 8,
            start + 12,
            start + 20,
            start + 24,
        ]);
        marks.extend([trailer, trailer + 4, trailer + 8]);
    }
    for _ in 0..c.byte() % 4 {
        if records.is_empty() {
            break;
        }
        let (start, len, seq) = records[c.below(records.len())];
        let end = start + algorithm.record_len(len as u64) as usize;
        if end > bytes.len() {
            continue;
        }
        match c.byte() % 3 {
            0 => {
                // A header whose CRC checks out but whose fields do not.
                let hostile = RecordHeader {
                    kind: [TYPE_DATA, 0, 2, c.byte()][usize::from(c.byte() % 4)],
                    len: match c.byte() % 7 {
                        0 => len as u32,
                        1 => u32::MAX,
                        2 => MAX_RECORD as u32,
                        3 => MAX_RECORD as u32 + 1,
                        4 => len as u32 + 1,
                        5 => (len as u32).saturating_sub(1),
                        _ => c.u32(),
                    },
                    seq: match c.byte() % 5 {
                        0 => seq,
                        1 => seq + 1,
                        2 => seq.saturating_sub(1),
                        3 => u64::MAX,
                        _ => u64::from(c.u16()),
                    },
                };
                bytes[start..start + RECORD_HEADER_LEN as usize]
                    .copy_from_slice(&hostile.encode(&salt));
            }
            1 => {
                // The same payload, validly re-encoded with another sequence number.
                let payload = bytes[start + RECORD_HEADER_LEN as usize..][..len].to_vec();
                let mut image = Vec::new();
                let new_seq = seq.wrapping_add(u64::from(c.byte())).wrapping_sub(128);
                let _ = encoder.encode(&mut image, new_seq, &payload);
                bytes[start..end].copy_from_slice(&image);
            }
            _ => {
                // A record replayed at the end.
                let copy = bytes[start..end].to_vec();
                bytes.extend_from_slice(&copy);
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
/// on the scan.)
pub fn record_at(data: &[u8], header: &FileHeader, offset: u64) -> Result<Found, DefectKind> {
    let size = data.len() as u64;
    let algorithm = header.algorithm;
    if offset + RECORD_HEADER_LEN > size {
        return Err(DefectKind::Truncated);
    }
    let at = offset as usize;
    let header_bytes = &data[at..at + RECORD_HEADER_LEN as usize];
    let rh = match RecordHeader::decode(header_bytes, &header.salt) {
        Ok(rh) => rh,
        Err(RecordHeaderError::NoMagic | RecordHeaderError::Damaged) => {
            return Err(DefectKind::BadHeader);
        }
        Err(RecordHeaderError::BadLength) => return Err(DefectKind::BadLength),
    };
    let total = algorithm.record_len(u64::from(rh.len));
    if offset + total > size {
        return Err(DefectKind::Truncated);
    }
    let payload = &data[at + RECORD_HEADER_LEN as usize..][..rh.len as usize];
    let trailer = &data[at + RECORD_HEADER_LEN as usize + rh.len as usize..at + total as usize];
    if format::decode_trailer_prefix(trailer) != Some(rh.len) {
        return Err(DefectKind::BadLength);
    }
    let mut hasher = RecordHasher::new(algorithm, &header.salt, header_bytes);
    hasher.update(payload);
    hasher.update(&trailer[..8]);
    let sum = hasher.finish();
    if sum.as_bytes() != &trailer[8..] {
        return Err(DefectKind::ChecksumMismatch);
    }
    Ok((rh, total, sum))
}

/// The reference resync: the first valid record at or after `from` whose sequence number is at
/// least `expected`.
pub fn next_valid(data: &[u8], header: &FileHeader, from: u64, expected: u64) -> Option<u64> {
    magics(data, from)
        .find(|&q| record_at(data, header, q).is_ok_and(|(rh, _, _)| rh.seq >= expected))
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

/// The records of a scan.
pub fn records(items: &[Item]) -> Vec<Record> {
    items
        .iter()
        .filter_map(|i| match i {
            Item::Record(r) => Some(*r),
            _ => None,
        })
        .collect()
}

/// The defects of a scan.
pub fn defects(items: &[Item]) -> Vec<Defect> {
    items
        .iter()
        .filter_map(|i| match i {
            Item::Defect(d) => Some(*d),
            _ => None,
        })
        .collect()
}

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
                let (rh, total, sum) = record_at(data, header, pos)
                    .unwrap_or_else(|k| panic!("record at {pos} invalid to the reference: {k:?}"));
                assert_eq!(
                    (r.len, r.seq, r.checksum),
                    (rh.len, rh.seq, sum),
                    "at {pos}"
                );
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
            let verified = log::verify(path, |_, _| {});
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

    let v = log::verify(path, |_, _| {}).expect("verify of a log that opens");
    let all = records(&resync);
    let found = defects(&resync);
    assert_eq!(v.algorithm, header.algorithm);
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
        after
            .iter()
            .map(|r| header.algorithm.record_len(u64::from(r.len)))
            .sum::<u64>()
    );
    let status = if found.is_empty() {
        Status::Clean
    } else if found.iter().any(|d| d.next_valid.is_some()) {
        Status::Corrupt
    } else {
        Status::TornTail
    };
    assert_eq!(v.status, status);

    // A scan started anywhere (not on a record boundary, with any expectation) must still end,
    // and whatever it calls a record is one.
    for (start, next_seq) in [(size / 2, 0), (FILE_HEADER_LEN + 1, 1), (0, 0)] {
        let mut mid = Scanner::new(&log.file, header, size, start, next_seq, OnDamage::Resync);
        for r in records(&scan(&mut mid, data)) {
            let (rh, _, sum) = record_at(data, &header, r.offset).expect("a record mid-file");
            assert_eq!((r.len, r.seq, r.checksum), (rh.len, rh.seq, sum));
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
            let (rh, total, sum) = record_at(data, &header, r.offset)
                .unwrap_or_else(|k| panic!("last_records({n}) gave an invalid record: {k:?}"));
            assert_eq!(
                r.offset + total,
                end,
                "last_records({n}) record {i} is not contiguous"
            );
            assert_eq!((r.len, r.seq, r.checksum), (rh.len, rh.seq, sum));
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
