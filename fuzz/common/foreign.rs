//! Checks shared by the targets of the foreign formats (lines, proglog, aof): the reader on any
//! bytes ends, stays bounded and returns records that are really in the file; `verify` sums the
//! scan up; `recover` agrees with `verify` on the valid prefix (bytes kept = `valid_end`),
//! never loses a record verify called valid (aof: zero-fills and keeps the size, the sidecar
//! holding the overwritten bytes), leaves a file named as lines in which no line checks out
//! alone unless forced, and a second recover changes nothing; detection never panics.

use std::path::{Path, PathBuf};

use durable::SyncLevel;
use durable::log::aof::{self, Outcome};
use durable::log::{
    self, Item, Layout, LogFormat, OnDamage, OpenOptions, Record, Status, Verification,
};
use durable::recover::{self, LogAction, RecoverOptions};

use super::alloc::WINDOW;
use super::scratch::Scratch;

/// Read every item of `input` (`data`: its main file's bytes), checking each record's payload
/// against the file; fails on a scan that does not end.
pub fn scan(input: &log::Log, on_damage: OnDamage, data: &[u8]) -> Vec<Item> {
    let mut reader = input.reader(on_damage);
    let mut items = Vec::new();
    let mut prev_end = 0u64;
    loop {
        let item = reader.next_item().expect("reading a file in tmpfs");
        items.push(item);
        assert!(
            items.len() <= data.len() + 4,
            "the reader does not terminate: {} items from {} bytes",
            items.len(),
            data.len()
        );
        match item {
            Item::Record(r) => {
                assert!(
                    prev_end <= r.offset
                        && r.offset <= r.data
                        && r.data + r.len <= r.end
                        && r.end <= data.len() as u64,
                    "a record out of place: {r:?} (previous end {prev_end}, size {})",
                    data.len()
                );
                prev_end = r.end;
                let want = &data[r.data as usize..][..r.len as usize];
                let mut got = Vec::new();
                reader
                    .read_payload(&r, &mut |piece| {
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

/// Options that open a file as `format` (a file named as lines even if no line checks out, as
/// `recover --force` does).
pub fn opts(format: LogFormat) -> OpenOptions {
    OpenOptions {
        format: Some(format),
        force: true,
        ..OpenOptions::default()
    }
}

/// The reference rule for a lines log's first line cut short: not empty, no newline, no control
/// byte but tab, vertical tab, form feed, carriage return and escape (at most 64 MiB).
pub fn torn_first_line(data: &[u8]) -> bool {
    !data.is_empty()
        && data.len() <= 64 << 20
        && !data
            .iter()
            .any(|&b| b == b'\n' || matches!(b, 0x00..=0x08 | 0x0e..=0x1a | 0x1c..=0x1f | 0x7f))
}

/// Detection on any bytes must not panic (and may fail only with "not a log" or the like).
pub fn detect(path: &Path) -> Option<LogFormat> {
    log::open(path, &OpenOptions::default())
        .ok()
        .map(|i| i.format())
}

/// `verify` sums up the resyncing scan; returns the scan's items and the verification.
pub fn check_verify(path: &Path, format: LogFormat, data: &[u8]) -> (Vec<Item>, Verification) {
    let input = log::open(path, &opts(format)).expect("open a file as a named format");
    let items = scan(&input, OnDamage::Resync, data);
    let v = log::verify_open(&input, |_, _| {}).expect("verify");
    let all = records(&items);
    let found = defects(&items);
    assert_eq!(v.format, format);
    assert_eq!(v.records, all.len() as u64, "verify's record count");
    assert_eq!(v.defect_count, found.len() as u64, "verify's defect count");
    assert_eq!(
        v.defects[..],
        found[..found.len().min(log::MAX_DEFECTS_KEPT)]
    );
    let first_main = found.iter().find(|d| !d.in_index);
    let logical_end = match input.layout {
        Layout::Aof(a) => a.logical_end,
        _ => data.len() as u64,
    };
    assert_eq!(v.valid_end, first_main.map_or(logical_end, |d| d.offset));
    let before = first_main.map_or(all.len(), |d| {
        all.iter().take_while(|r| r.offset < d.offset).count()
    });
    assert_eq!(v.records_before_damage, before as u64);
    let worst = |in_index: bool| {
        found
            .iter()
            .filter(|d| d.in_index == in_index)
            .fold(Status::Clean, |s, d| {
                s.worst(if d.is_torn_tail() {
                    Status::TornTail
                } else {
                    Status::Corrupt
                })
            })
    };
    assert_eq!(
        (v.main_status, v.index_status),
        (worst(false), worst(true)),
        "verify's verdicts"
    );
    assert_eq!(v.status, v.main_status.worst(v.index_status));
    (items, v)
}

/// Every file in the directory, by name, with its bytes.
fn snapshot(dir: &Scratch) -> Vec<(String, Vec<u8>)> {
    dir.names()
        .into_iter()
        .filter(|n| dir.path(n).is_file())
        .map(|n| {
            let bytes = std::fs::read(dir.path(&n)).expect("read a scratch file");
            (n, bytes)
        })
        .collect()
}

/// Detection rule 5 of docs/FORMAT.md (a proglog index by content), up to 64 entries.
pub fn reads_as_index(x: &[u8]) -> bool {
    if x.len() < 24 {
        return false;
    }
    let entry = |i: usize| {
        let e = &x[i * 12..][..12];
        (
            u32::from_be_bytes(e[..4].try_into().expect("4")),
            u64::from_be_bytes(e[4..].try_into().expect("8")),
        )
    };
    let mut last = 0;
    for i in 0..64.min(x.len() / 12) {
        let (rel, pos) = entry(i);
        if i >= 2 && rel == 0 && pos == 0 {
            return x[i * 12..].iter().all(|b| *b == 0);
        }
        if rel as usize != i || if i == 0 { pos != 0 } else { pos <= last } {
            return false;
        }
        last = pos;
    }
    x.len() / 12 > 64 || x[x.len() / 12 * 12..].iter().all(|b| *b == 0)
}

/// The reference rule for a file named as a proglog store (`--log-format proglog`, unforced;
/// docs/FORMAT.md, "Detection"): it is one when it is empty, when the index read with it reads
/// as an index, or when its lengths chain from 0 (over empty records) to its end, through a
/// complete non-empty record, or to a record cut short whose length is under 4 GiB (the bytes
/// of it that are there, up to 4, all zero), or over zeros from 0 that cover a whole 512-byte
/// sector before a non-zero byte. Else it is not a proglog store: left as it is.
pub fn proglog_named_store(st: &[u8], index: Option<&[u8]>) -> bool {
    if st.is_empty() || index.is_some_and(reads_as_index) {
        return true;
    }
    let mut at = 0usize;
    for _ in 0..4096 {
        if at == st.len() {
            return true;
        }
        let rest = &st[at..];
        if rest.len() >= 8 {
            let len = u64::from_be_bytes(rest[..8].try_into().expect("8"));
            if len <= (rest.len() - 8) as u64 {
                if len > 0 {
                    return true;
                }
                at += 8;
                continue;
            }
        }
        // A length under 4 GiB (a first record cut short), or zeros from the start over a
        // whole 512-byte sector before the first non-zero byte (a zeroed sector: corruption).
        return rest[..rest.len().min(4)].iter().all(|b| *b == 0)
            || rest
                .iter()
                .position(|b| *b != 0)
                .is_some_and(|k| at + k >= 512);
    }
    true
}

/// Recover copies of the files (`files`: name and bytes; the first is the log given to
/// recover), without and with `--force`, and hold the result to `v`, verify's verdict on the
/// original, and `items`, its scan.
pub fn check_recover(files: &[(&str, &[u8])], format: LogFormat, v: &Verification, items: &[Item]) {
    let original = files[0].1;
    let before: Vec<Record> = records(items)
        .into_iter()
        .take(v.records_before_damage as usize)
        .collect();
    for force in [false, true] {
        let dir = Scratch::new();
        // In a directory of their own: a proglog segment's sidecars go beside its directory.
        std::fs::create_dir(dir.path("log")).expect("create the log's directory");
        for (name, bytes) in files {
            dir.write(&format!("log/{name}"), bytes);
        }
        let path: PathBuf = dir.path(&format!("log/{}", files[0].0));
        let ropts = RecoverOptions {
            force,
            sync: SyncLevel::None,
            format: Some(format),
            ..RecoverOptions::default()
        };
        let r = super::retry_in_use(|| recover::recover_log(&path, &ropts, &mut ()));
        // Named as lines, a file in which no line checks out is not one: left alone unless
        // forced, or unless it can be the start of a first line cut short (no newline, only
        // text), which is a torn tail at 0 (docs/FORMAT.md, "A log's start").
        if format == LogFormat::Lines
            && !force
            && v.records == 0
            && !original.is_empty()
            && !torn_first_line(original)
        {
            assert!(
                matches!(
                    r,
                    Err(durable::Error::NotALog {
                        format: Some("lines"),
                        ..
                    })
                ),
                "recover of a file with no valid line: {r:?}"
            );
            assert!(
                std::fs::read(&path).expect("read") == original,
                "changed a file that is not a lines log"
            );
            continue;
        }
        // Named as proglog, a file in which nothing is proglog's is not a store: left alone
        // unless forced.
        if format == LogFormat::Proglog
            && !force
            && !v.index_alone
            && !proglog_named_store(original, v.index.as_ref().map(|_| files[1].1))
        {
            assert!(
                matches!(
                    r,
                    Err(durable::Error::NotALog {
                        format: Some("proglog"),
                        ..
                    })
                ),
                "recover of a file with nothing of proglog's: {r:?}"
            );
            for (name, bytes) in files {
                assert!(
                    std::fs::read(dir.path(&format!("log/{name}"))).expect("read") == *bytes,
                    "changed a file that is not a proglog store"
                );
            }
            continue;
        }
        let r = r.expect("recover");
        assert_eq!(r.status, v.main_status, "recover's verdict");
        assert_eq!(r.bytes_kept, v.valid_end, "recover keeps the valid prefix");
        let now = std::fs::read(&path).expect("read the log");
        let aof_analysis = match format {
            LogFormat::Aof => Some(
                aof::analyse(
                    &std::fs::File::open(&path).expect("open"),
                    original.len() as u64,
                )
                .expect("analyse"),
            ),
            _ => None,
        };
        // A store read with another store's index is not changed unless forced.
        let cuts = (v.main_status == Status::TornTail
            || (v.main_status == Status::Corrupt && force))
            && (force || v.foreign_index.is_none());
        let cut = v.valid_end as usize;
        if !cuts {
            assert!(now == original, "recover changed a log it did not cut");
            assert!(
                matches!(r.action, LogAction::Clean | LogAction::Refused),
                "{:?}",
                r.action
            );
        } else if format == LogFormat::Aof {
            // The size stays; the damaged bytes are zeros; the sidecar holds them.
            assert_eq!(r.action, LogAction::ZeroFilled);
            let to = cut + r.bytes_removed as usize;
            assert_eq!(now.len(), original.len(), "an aof recover keeps the size");
            assert!(now[..cut] == original[..cut] && now[to..] == original[to..]);
            assert!(super::native::all_zero(&now[cut..to]), "zero-filled");
            if let Some(side) = &r.sidecar {
                let kept = std::fs::read(side).expect("read the sidecar");
                assert!(
                    super::sidecar_data(&kept) == &original[cut..to],
                    "the sidecar holds the overwritten bytes"
                );
            }
            let after = aof_analysis.expect("analysed");
            assert!(
                matches!(
                    after.outcome,
                    Outcome::Tail | Outcome::Checkpoint | Outcome::Empty
                ),
                "after recover, the package lands on {:?}",
                after.outcome
            );
            assert_eq!(
                after.logical_end, v.valid_end,
                "the logical end after recover"
            );
        } else {
            assert_eq!(r.action, LogAction::Truncated);
            assert!(
                now == original[..cut],
                "the kept log is not the valid prefix"
            );
            if let Some(side) = &r.sidecar {
                // The cut bytes (a proglog index alone: the whole old index).
                let kept = std::fs::read(side).expect("read the sidecar");
                let at = super::sidecar_offset(&kept) as usize;
                assert!(
                    at == cut || at == 0,
                    "the sidecar's offset {at}, cut at {cut}"
                );
                assert!(
                    super::sidecar_data(&kept) == &original[at..],
                    "the sidecar holds the cut bytes"
                );
            }
        }
        // Every record verify called valid before the first defect is still there.
        if cuts || v.main_status == Status::Clean {
            let (items2, v2) = check_verify(&path, format, &now);
            assert_eq!(v2.main_status, Status::Clean, "the log after recover");
            if files.len() > 1 && format == LogFormat::Proglog {
                // Another store's index (docs/FORMAT.md) is rebuilt only when forced.
                if v.foreign_index.is_some() && !force && v.index.is_some() {
                    let now = std::fs::read(dir.path(&format!("log/{}", files[1].0)))
                        .expect("read the index");
                    assert!(
                        now == files[1].1,
                        "another store's index rewritten unforced"
                    );
                } else {
                    assert_eq!(v2.index_status, Status::Clean, "the index after recover");
                }
            }
            let kept = records(&items2);
            assert!(kept.len() >= before.len(), "recover lost records");
            for (a, b) in kept.iter().zip(&before) {
                assert_eq!((a.offset, a.len, a.data), (b.offset, b.len, b.data));
                assert!(
                    now[a.data as usize..][..a.len as usize]
                        == original[b.data as usize..][..b.len as usize]
                );
            }
        }
        // A second recover changes nothing.
        let snap = snapshot(&dir);
        let again = super::retry_in_use(|| recover::recover_log(&path, &ropts, &mut ()))
            .expect("recover again");
        if cuts {
            assert_eq!(again.status, Status::Clean, "a recovered log is clean");
        }
        assert!(snapshot(&dir) == snap, "a second recover changed something");
    }
}

/// Whether `head` starts as a Redis file (docs/FORMAT.md, "Detection", rule 8), written from
/// the rule, not from aof.rs: after any number of annotation lines (`#`, printable ASCII,
/// CRLF), `*`, 1 to 10 digits, CRLF, `$`, 1 to 10 digits, CRLF; or `REDIS` and 4 digits.
pub fn redis_reference(head: &[u8]) -> bool {
    if head.len() >= 9 && &head[..5] == b"REDIS" {
        return head[5..9].iter().all(|c| c.is_ascii_digit());
    }
    let mut i = 0;
    while head.get(i) == Some(&b'#') {
        i += 1;
        while head.get(i).is_some_and(|c| (0x20..0x7f).contains(c)) {
            i += 1;
        }
        if head.get(i..i + 2) != Some(b"\r\n") {
            return false;
        }
        i += 2;
    }
    for lead in [b'*', b'$'] {
        if head.get(i) != Some(&lead) {
            return false;
        }
        i += 1;
        let digits = head[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 10 || head.get(i + digits..i + digits + 2) != Some(b"\r\n") {
            return false;
        }
        i += digits + 2;
    }
    true
}
