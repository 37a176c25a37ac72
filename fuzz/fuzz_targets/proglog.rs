//! Fuzz target `proglog`: the readers of proglog's store (8-byte big-endian length + data) and
//! index (12-byte entries; docs/FORMAT.md) on arbitrary bytes: a store alone, an index alone,
//! or a pair (the input split in two files `seg.store` and `seg.index`). Records are the
//! store's bytes, chained by their lengths; lengths are never trusted for an allocation;
//! a length the index contradicts is corruption only where index entries prove later records
//! (zeroed entries stepped over), or where it is zeros the index contradicts with written bytes
//! after them (never a torn tail), or where zeros covering an aligned 512-byte sector have
//! written bytes after them (with an index or without: never empty records);
//! `verify` sums the scan up (the index's verdict apart); `recover` (with and without force)
//! keeps exactly verify's valid prefix and every record before the first defect, and makes a
//! pair's index match its store; a second recover changes nothing; detection never panics.
#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
#[path = "../common/mod.rs"]
mod common;
#[cfg(test)]
use super::common;

use durable::log::LogFormat;

use common::cursor::Cursor;
use common::foreign;

#[cfg(not(test))]
libfuzzer_sys::fuzz_target!(|data: &[u8]| check(data));

/// Rule 2 of docs/FORMAT.md ("Detection"), written here: a file named `.store` is proglog's
/// when it is empty, when its lengths chain from 0 through a complete non-empty record to the
/// end or to a record cut short whose length is under 4 GiB (the bytes of it that are there:
/// up to 4, all zero), or when its index beside it starts with entry (0, 0) (12 zero
/// bytes) and the store's first 4 bytes are zero and it is not all zeros (an index that reads
/// as one also vouches for it: not modelled here, so only a true answer is held to); an index
/// alone is when it is empty, or entry 0 is (0, 0) and entry 1, if any, is numbered 1 or is
/// padding, and it is not all zeros.
fn by_name(mode: u8, files: &[(&str, &[u8])]) -> bool {
    let be = |b: &[u8]| u64::from_be_bytes(b[..8].try_into().expect("8"));
    if mode == 1 {
        let x = files[0].1;
        return match x.len() {
            0 => true,
            n if n < 12 => false,
            n => {
                x[..12].iter().all(|b| *b == 0)
                    && x.iter().any(|b| *b != 0)
                    && (n < 24
                        || u32::from_be_bytes(x[12..16].try_into().expect("4")) == 1
                        || x[12..24].iter().all(|b| *b == 0))
            }
        };
    }
    let st = files[0].1;
    if st.is_empty() {
        return true;
    }
    // Beside an index starting with 12 zero bytes, a chain with no complete record will do.
    let zero_index = files
        .get(1)
        .is_some_and(|(_, x)| x.len() >= 12 && x[..12].iter().all(|b| *b == 0))
        && st.iter().any(|b| *b != 0);
    let (mut at, mut nonempty) = (0usize, false);
    // A record cut short ends the chain if its length (what of it is there) is under 4 GiB.
    let plausible = |at: usize| st[at..st.len().min(at + 4)].iter().all(|b| *b == 0);
    for _ in 0..4096 {
        if at == st.len() {
            break;
        }
        if st.len() - at < 8 {
            return (nonempty || zero_index) && plausible(at);
        }
        let len = be(&st[at..]);
        if len > (st.len() - at - 8) as u64 {
            return (nonempty || zero_index) && plausible(at);
        }
        nonempty |= len > 0;
        at += 8 + len as usize;
    }
    nonempty || zero_index
}

/// Record `i`'s position in the store for `i` = 1, 2, …: where record `i - 1` ends, while it
/// is complete and the next one starts inside the store.
fn positions(st: &[u8]) -> impl Iterator<Item = u64> + '_ {
    let mut at = 0u64;
    std::iter::from_fn(move || {
        let rest = st.get(at as usize..)?;
        let len = u64::from_be_bytes(rest.get(..8)?.try_into().expect("8"));
        if len > (rest.len() - 8) as u64 {
            return None;
        }
        at += 8 + len;
        (at < st.len() as u64).then_some(at)
    })
}

/// The entry (relative offset, position) at `i`.
fn entry(x: &[u8], i: usize) -> (u32, u64) {
    let e = &x[i * 12..][..12];
    (
        u32::from_be_bytes(e[..4].try_into().expect("4")),
        u64::from_be_bytes(e[4..].try_into().expect("8")),
    )
}

/// Detection rule 5 (an index by content), up to 64 entries.
fn reads_as_index(x: &[u8]) -> bool {
    foreign::reads_as_index(x)
}

/// Whether an index is another store's: (compared, matching, first mismatch: entry, named,
/// record).
fn foreign(st: &[u8], x: &[u8]) -> Option<(u64, u64, u64, u64, u64)> {
    if !reads_as_index(x) {
        return None;
    }
    let (mut compared, mut matching, mut first) = (0u64, 0u64, None);
    for (i, record) in (1..64.min(x.len() / 12)).zip(positions(st)) {
        let (rel, named) = entry(x, i);
        if (rel == 0 && named == 0) || named >= st.len() as u64 {
            break;
        }
        compared += 1;
        if named == record {
            matching += 1;
        } else {
            first.get_or_insert((i as u64, named, record));
        }
    }
    let (entry, named, record) = first.unwrap_or_default();
    (compared >= 2 && 2 * matching < compared).then_some((compared, matching, entry, named, record))
}

/// Whether an index is paired with the store beside it: it starts with 12 zero bytes (or is
/// shorter and all zero), or one of its entries 1.. (up to 64) is exactly (i, position of
/// record i) for a record that starts inside the store.
fn pairs(st: &[u8], x: &[u8]) -> bool {
    x[..x.len().min(12)].iter().all(|b| *b == 0)
        || (1..64.min(x.len() / 12))
            .zip(positions(st))
            .any(|(i, p)| entry(x, i) == (i as u32, p))
}

/// Whether the zeros at `at` run over a whole aligned 512-byte sector to a non-zero byte
/// (docs/FORMAT.md, "Zeros in the store"): that byte's position, if so. The run starts at the
/// start of `at`'s sector when every byte from there to `at` is zero (a sector zeroed from
/// inside a record's data over the next lengths).
fn long_zeros(st: &[u8], at: usize) -> Option<usize> {
    let nz = at + st.get(at..)?.iter().position(|b| *b != 0)?;
    let sector = at / 512 * 512;
    let from = if st[sector..at].iter().all(|b| *b == 0) {
        sector
    } else {
        at
    };
    (from.div_ceil(512) * 512 + 512 <= nz).then_some(nz)
}

/// Check one input: a byte of mode (% 3: 0 store alone, 1 index alone, 2 pair), for a pair two
/// bytes of split point, then the bytes.
pub fn check(data: &[u8]) {
    let mut c = Cursor::new(data);
    let mode = c.byte() % 3;
    let split = usize::from(c.u16());
    let rest = c.rest();
    let dir = common::scratch::Scratch::new();
    let files: Vec<(&str, &[u8])> = match mode {
        0 => vec![("seg.store", rest)],
        1 => vec![("seg.index", rest)],
        _ => {
            let (store, index) = rest.split_at(split.min(rest.len()));
            vec![("seg.store", store), ("seg.index", index)]
        }
    };
    for (name, bytes) in &files {
        dir.write(name, bytes);
    }
    let plain = dir.write("plain", files[0].1);
    let _armed = common::alloc::arm(rest.len());
    let _ = foreign::detect(&plain);
    let path = dir.path(files[0].0);
    let magic = &durable::log::format::FILE_MAGIC;
    let n = files[0].1.len().min(8);
    if (n == 0 || files[0].1[..n] != magic[..n]) && by_name(mode, &files) {
        // The native magic comes first; then the name, when the bytes agree.
        assert_eq!(
            foreign::detect(&path),
            Some(LogFormat::Proglog),
            "detected by name"
        );
    }

    let main = files[0].1;
    let (items, v) = foreign::check_verify(&path, LogFormat::Proglog, main);
    assert_eq!(v.index_alone, mode == 1);
    // A pair only when the index starts as proglog's do (its first 12 bytes zero, or empty), or
    // agrees with the store.
    let paired = mode == 2 && pairs(files[0].1, files[1].1);
    assert_eq!(v.index.is_some(), paired);
    // Store records chain by their lengths from 0, and from where the index proves the next
    // record after a length it contradicts (only with an index: a store alone has no evidence).
    if mode != 1 {
        let mut at = 0u64;
        for item in &items {
            match item {
                durable::log::Item::Record(r) => {
                    let len = u64::from_be_bytes(main[at as usize..][..8].try_into().expect("8"));
                    assert_eq!((r.offset, r.data, r.len), (at, at + 8, len));
                    // Never an empty record where zeros cover a sector with written bytes after.
                    assert!(
                        len > 0 || long_zeros(main, at as usize).is_none(),
                        "an empty record at {at} in a zeroed sector"
                    );
                    at = r.end;
                }
                durable::log::Item::Defect(d)
                    if !d.in_index && long_zeros(main, at as usize).is_some() =>
                {
                    // A zeroed sector inside the store: bad-length where the zeros start, never
                    // torn; the next record after it, when found (by the index, or the store's
                    // own chain from where the first non-zero byte can be in a length).
                    let nz = long_zeros(main, at as usize).expect("long zeros") as u64;
                    assert_eq!(d.kind, durable::log::DefectKind::BadLength);
                    assert_eq!(d.offset, at);
                    assert!(!d.is_torn_tail());
                    if let Some(next) = d.next_valid {
                        assert!(
                            next + 7 >= nz && (paired || next <= nz),
                            "{next} after {nz}"
                        );
                        at = next;
                    }
                }
                durable::log::Item::Defect(d) if !d.in_index => {
                    if let Some(next) = d.next_valid {
                        assert!(paired, "evidence without an index");
                        assert_eq!(d.kind, durable::log::DefectKind::BadLength);
                        assert!(d.offset == at && next > at);
                        at = next;
                    } else if d.kind == durable::log::DefectKind::Truncated
                        && main.len() as u64 >= at + 8
                        && u64::from_be_bytes(main[at as usize..][..8].try_into().expect("8"))
                            <= main.len() as u64 - at - 8
                    {
                        // A record that fits, cut short where the index's own chain proves
                        // its end (stale bytes after a torn write): only with an index, a
                        // torn tail, never at record 0 nor an empty record.
                        assert!(paired, "a fitting record cut short without an index");
                        assert_eq!(d.offset, at);
                        assert!(at > 0 && d.is_torn_tail());
                        assert!(main[at as usize..][..8].iter().any(|b| *b != 0));
                    } else if d.kind == durable::log::DefectKind::BadLength {
                        // Zeros the index contradicts (an empty record it does not name as
                        // one), with bytes after them that were written: corruption though
                        // nothing after it is proven, never a torn tail (docs/FORMAT.md,
                        // "Zeros in the store").
                        assert!(paired, "zeros against an index without an index");
                        let z = at as usize;
                        assert_eq!(d.offset, at);
                        assert!(
                            main.get(z..z + 8)
                                .is_some_and(|b| b.iter().all(|x| *x == 0))
                        );
                        assert!(main[z..].iter().any(|x| *x != 0), "zeros to the end");
                        assert!(!d.is_torn_tail());
                    }
                }
                _ => {}
            }
        }
    }
    // Another store's index (docs/FORMAT.md, "proglog"): of its entries 1.. (up to 64, before
    // padding) naming a position inside the store for a record the store has, at least 2 are
    // compared and fewer than half name their record's position; only for an index that reads
    // as one, is not clean, and proves no record after a damaged length.
    let bad_length = items.iter().any(|i| {
        matches!(i, durable::log::Item::Defect(d)
            if !d.in_index && d.kind == durable::log::DefectKind::BadLength)
    });
    let expected = (paired && v.index_status != durable::log::Status::Clean && !bad_length)
        .then(|| foreign(main, files[1].1))
        .flatten();
    assert_eq!(
        v.foreign_index
            .map(|f| (f.compared, f.matching, f.entry, f.named, f.record)),
        expected,
        "another store's index"
    );
    drop(dir);
    foreign::check_recover(&files, LogFormat::Proglog, &v, &items);
}
