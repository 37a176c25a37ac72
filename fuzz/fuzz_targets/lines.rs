//! Fuzz target `lines`: the reader of the lines text log (`ENTRY SP 64-lowercase-hex LF`,
//! docs/FORMAT.md) on arbitrary bytes. The reader's records and defects must equal those of an
//! independent parse by the format's rule (split each line at its last space; the checksum is the
//! last field; a last line without its LF counts if it checks out), allocations stay bounded,
//! `verify` sums the scan up, `recover` (with and without force) keeps exactly verify's valid
//! prefix and every record before the first defect (a file in which no line checks out is not a
//! lines log, and only `--force` cuts it), a second recover changes nothing, and detection never
//! panics and says `lines` exactly when the shape rule (written here) holds.
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

/// One line by the format's rule: `Ok((entry length, checksum))` or the defect kind.
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
                // A last line without its LF: valid if it checks out, else a write cut short.
                let parsed = parse(&data[at..]).map_err(|_| DefectKind::Truncated);
                lines.push((at, None, parsed));
                at = data.len();
            }
        }
    }
    let mut items = Vec::new();
    let mut index = 0;
    let mut k = 0;
    while k < lines.len() {
        let (start, end, parsed) = lines[k];
        match (end.or((k + 1 == lines.len()).then_some(data.len())), parsed) {
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
                    .position(|(_, _, p)| p.is_ok())
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

/// The detection rule (docs/FORMAT.md): not another program's file holding entries (below);
/// of the lines starting in the first 64 KiB, and after them until one has the shape (at most
/// 1024, each ending within the first 64 MiB), up to the last one with the shape (a space and
/// 64 lowercase hex digits at its end), at least half have it; and one line starting in the
/// first 64 MiB checks out: one of those, or one after them. When too few have it and the
/// bytes before the first one that has it are not text (a control byte other than tab, LF, VT,
/// FF, CR, ESC), the sample is taken the same way from that line.
fn looks_like_lines(data: &[u8]) -> bool {
    const LIMIT: usize = 64 << 20;
    let line_end = |at: usize| match memchr::memchr(b'\n', &data[at..]) {
        Some(i) if at + i < LIMIT => Some(at + i),
        Some(_) => None,
        None => (data.len() <= LIMIT).then_some(data.len()),
    };
    if holds_entries(data, &line_end) {
        return false;
    }
    let sample = |from: usize| {
        let (mut lines, mut counted, mut shaped, mut valid) = (0usize, 0usize, 0usize, false);
        let (mut at, mut first) = (from, None);
        while at < data.len() && (at < from + (64 << 10) || shaped == 0) && lines < 1024 {
            let Some(end) = line_end(at) else { break };
            lines += 1;
            match parse(&data[at..end]) {
                Err(DefectKind::NoChecksum) => {}
                parsed => {
                    shaped += 1;
                    counted = lines;
                    first.get_or_insert(at);
                    valid |= parsed.is_ok();
                }
            }
            at = end + 1;
        }
        (counted, shaped, valid, at, first)
    };
    let (mut counted, mut shaped, mut valid, mut at, first) = sample(0);
    // Too few shaped lines, and control bytes before the first one: resampled from there.
    if shaped * 2 < counted
        && let Some(first) = first
        && data[..first].iter().any(control)
    {
        (counted, shaped, valid, at, _) = sample(first);
    }
    if shaped == 0 || shaped * 2 < counted {
        return false;
    }
    while !valid && at < data.len() {
        let Some(end) = line_end(at) else { break };
        valid = parse(&data[at..end]).is_ok();
        at = end + 1;
    }
    valid
}

/// A byte that text does not hold.
fn control(b: &u8) -> bool {
    matches!(b, 0x00..=0x08 | 0x0e..=0x1a | 0x1c..=0x1f | 0x7f)
}

/// Another program's file holding entries (docs/FORMAT.md, rule 4): of the lines before the
/// first one with the shape (at most 1024, each ending within 64 MiB), when the first line does
/// not check out: the file starts with another format's signature; or those lines are text,
/// one of them shorter than 65 bytes, the last one not ending in 8 lowercase hex digits, and
/// the shaped line checks out; or the shaped line does not check out but ends in a whole entry
/// that does, starting in the entry's last 1 KiB or right after its last control byte, with
/// neither a line of the format (the shape) before the byte before that entry nor only zeros
/// before it.
fn holds_entries(data: &[u8], line_end: &dyn Fn(usize) -> Option<usize>) -> bool {
    let signature = durable::log::aof::SIGNATURES
        .iter()
        .any(|(at, sig)| data[..data.len().min(512)].get(*at..*at + sig.len()) == Some(*sig))
        || foreign::redis_reference(&data[..data.len().min(512)]);
    let (mut at, mut lines, mut short, mut hex_end) = (0usize, 0usize, false, false);
    while at < data.len() && lines < 1024 {
        let Some(end) = line_end(at) else {
            return false;
        };
        match parse(&data[at..end]) {
            Err(DefectKind::NoChecksum) => {
                if at == 0 && signature {
                    return true;
                }
                short |= end - at < 65;
                hex_end = end - at >= 8
                    && data[end - 8..end]
                        .iter()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b));
                lines += 1;
                at = end + 1;
            }
            Ok(_) => return at > 0 && short && !hex_end && !data[..at].iter().any(control),
            Err(_) => {
                if signature {
                    return true;
                }
                let entry_end = end - 65;
                let digit = |c: u8| (c as char).to_digit(16).expect("hex") as u8;
                let stored: Vec<u8> = data[end - 64..end]
                    .chunks(2)
                    .map(|pair| digit(pair[0]) << 4 | digit(pair[1]))
                    .collect();
                let after_control = data[at..entry_end]
                    .iter()
                    .rposition(control)
                    .map(|c| at + c + 1);
                let glued = ((at + 1).max(entry_end.saturating_sub(1024))..=entry_end)
                    .chain(after_control)
                    .filter(|&p| p > at)
                    .find(|&p| Sha256::digest(&data[p..entry_end])[..] == stored[..]);
                return match glued {
                    Some(p) => {
                        parse(&data[at..p - 1]) == Err(DefectKind::NoChecksum)
                            && data[at..p].iter().any(|b| *b != 0)
                    }
                    None => false,
                };
            }
        }
    }
    false
}

/// Check one input.
pub fn check(data: &[u8]) {
    let dir = common::scratch::Scratch::new();
    let path = dir.write("fuzz.log", data);
    let _armed = common::alloc::arm(data.len());

    let native_magic = !data.is_empty()
        && data[..data.len().min(8)] == durable::log::format::FILE_MAGIC[..data.len().min(8)];
    let detected = foreign::detect(&path);
    // An aof magic at the end comes first (checked by the aof target).
    let aof_magic = durable::log::aof::ends_with_magic(
        &std::fs::File::open(&path).expect("open"),
        data.len() as u64,
    )
    .expect("read");
    if !native_magic && !aof_magic {
        assert_eq!(
            detected == Some(LogFormat::Lines),
            looks_like_lines(data),
            "detection disagrees with the shape rule"
        );
    }
    // Named as lines, a file in which no line checks out is not a lines log.
    let any_valid = reference(data).iter().any(|i| matches!(i, Item::Record(_)));
    let named = durable::log::open(
        &path,
        &durable::log::OpenOptions {
            format: Some(LogFormat::Lines),
            ..Default::default()
        },
    );
    assert_eq!(
        named.is_ok(),
        data.is_empty() || any_valid,
        "named as lines: opened {}",
        named.is_ok()
    );
    drop(named);

    let (items, v) = foreign::check_verify(&path, LogFormat::Lines, data);
    assert_eq!(
        items,
        reference(data),
        "the reader and the format's rule disagree"
    );
    assert_eq!(v.algorithm, Some(durable::log::Algorithm::Sha256));
    // Stop: the same up to the first defect, then the end.
    let input = durable::log::open(&path, &foreign::opts(LogFormat::Lines)).expect("open");
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
