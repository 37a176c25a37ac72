//! Fuzz target `lines`: the reader of the seed notes' text log (`ENTRY SP 64-lowercase-hex LF`,
//! docs/FORMAT.md) on arbitrary bytes. The reader's records and defects must equal those of an
//! independent parse by the seed's rule (split each line at its last space; the checksum is the
//! last field), allocations stay bounded, `verify` sums the scan up, `recover` (with and without
//! force) keeps exactly verify's valid prefix and every record before the first defect, a second
//! recover changes nothing, and detection never panics and says `lines` only for a file whose
//! first line is valid.
#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
#[path = "../common/mod.rs"]
mod common;
#[cfg(test)]
use super::common;

use durable::log::format::Checksum;
use durable::log::{Defect, DefectKind, Item, LogFormat, OnDamage};
use sha2::{Digest, Sha256};

use common::foreign;

#[cfg(not(test))]
libfuzzer_sys::fuzz_target!(|data: &[u8]| check(data));

/// One line by the seed's rule: `Ok((entry length, checksum))` or the defect kind.
fn parse(line: &[u8]) -> Result<(u64, [u8; 32]), DefectKind> {
    let Some(space) = line.iter().rposition(|b| *b == b' ') else {
        return Err(DefectKind::NoChecksum);
    };
    let (entry, hex) = (&line[..space], &line[space + 1..]);
    let lower_hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
    if hex.len() != 64 || !hex.iter().all(lower_hex) {
        return Err(DefectKind::NoChecksum);
    }
    let mut sum = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16).expect("hex") as u8;
        sum[i] = digit(pair[0]) << 4 | digit(pair[1]);
    }
    if Sha256::digest(entry)[..] != sum {
        return Err(DefectKind::ChecksumMismatch);
    }
    Ok((entry.len() as u64, sum))
}

/// The items a resyncing reader must return for `data`.
fn reference(data: &[u8]) -> Vec<Item> {
    // (start, end after the LF or None, parse).
    let mut lines = Vec::new();
    let mut at = 0;
    while at < data.len() {
        match memchr::memchr(b'\n', &data[at..]) {
            Some(i) => {
                lines.push((at, Some(at + i + 1), parse(&data[at..at + i])));
                at += i + 1;
            }
            None => {
                lines.push((at, None, Err(DefectKind::Truncated)));
                at = data.len();
            }
        }
    }
    let mut items = Vec::new();
    let mut index = 0;
    let mut k = 0;
    while k < lines.len() {
        let (start, end, parsed) = lines[k];
        match (end, parsed) {
            (Some(end), Ok((len, sum))) => {
                items.push(Item::Record(durable::log::Record {
                    index,
                    offset: start as u64,
                    len,
                    data: start as u64,
                    end: end as u64,
                    seq: index,
                    checksum: Some(Checksum::Sha256(sum)),
                    extra: durable::log::Extra::None,
                }));
                index += 1;
                k += 1;
            }
            (_, parsed) => {
                if common::native::all_zero(&data[start..]) {
                    items.push(Item::Defect(Defect::new(
                        start as u64,
                        DefectKind::ZeroFill,
                        None,
                    )));
                    break;
                }
                let kind = parsed.err().unwrap_or(DefectKind::Truncated);
                let next = lines[k + 1..]
                    .iter()
                    .position(|(_, end, p)| end.is_some() && p.is_ok())
                    .map(|j| k + 1 + j);
                items.push(Item::Defect(Defect::new(
                    start as u64,
                    kind,
                    next.map(|j| lines[j].0 as u64),
                )));
                match next {
                    Some(j) => k = j,
                    None => break,
                }
            }
        }
    }
    items.push(Item::End);
    items
}

/// Check one input.
pub fn check(data: &[u8]) {
    let dir = common::scratch::Scratch::new();
    let path = dir.write("fuzz.log", data);
    let _armed = common::alloc::arm(data.len());

    let first_valid = memchr::memchr(b'\n', data).is_some_and(|i| parse(&data[..i]).is_ok());
    let native_magic = !data.is_empty()
        && data[..data.len().min(8)] == durable::log::format::FILE_MAGIC[..data.len().min(8)];
    let detected = foreign::detect(&path);
    if detected == Some(LogFormat::Lines) {
        assert!(first_valid, "detected as lines without a valid first line");
    }
    if first_valid && !native_magic {
        assert_eq!(
            detected,
            Some(LogFormat::Lines),
            "a valid first line, not detected"
        );
    }

    let (items, v) = foreign::check_verify(&path, LogFormat::Lines, data);
    assert_eq!(
        items,
        reference(data),
        "the reader and the seed's rule disagree"
    );
    assert_eq!(v.algorithm, Some(durable::log::Algorithm::Sha256));
    // Stop: the same up to the first defect, then the end.
    let input = durable::log::open_input(&path, &foreign::opts(LogFormat::Lines)).expect("open");
    let stop = foreign::scan(&input, OnDamage::Stop, data);
    match items.iter().position(|i| matches!(i, Item::Defect(_))) {
        Some(k) => {
            assert_eq!(stop[..=k], items[..=k]);
            assert_eq!(stop[k + 1..], [Item::End]);
        }
        None => assert_eq!(stop, items),
    }
    drop(input);
    foreign::check_recover(&[("fuzz.log", data)], LogFormat::Lines, &v, &items);
}
