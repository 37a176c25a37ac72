//! Fuzz target `recover_agree`: `log::verify`, `recover::recover_log` and `recover::salvage`
//! must agree on a log (raw bytes, or built by `common::native::build`).
//!
//! Invariants: recover's report matches verify's (status, records and bytes kept, the cut at
//! `valid_end`); a dry run changes nothing; recover refuses corruption before the tail unless
//! forced, and then changes nothing; when it cuts, the kept log is exactly the original's first
//! `valid_end` bytes, every record verify found before the first defect is still there and the
//! log verifies clean, and the sidecar holds the rest (kept + sidecar == original), never
//! written over an existing sidecar; a second recover is a no-op; salvage copies exactly the
//! records verify counted, payloads intact, and skips exactly its defects. Input: one byte of
//! flags (1 force, 2 no backup, 4 build the log, 8 plant a sidecar at the cut, 16 with the same
//! bytes: an earlier recover's), then the file (or the builder's input).
#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
#[path = "../common/mod.rs"]
mod common;
#[cfg(test)]
use super::common;

use durable::log::{self, FileHeader, Item, LogFormat, OnDamage, Record, Status};
use durable::recover::{self, LogAction, LogRecovery, RecoverOptions};
use durable::{Error, SyncLevel};

use common::cursor::Cursor;
use common::native;
use common::scratch::Scratch;

#[cfg(not(test))]
libfuzzer_sys::fuzz_target!(|data: &[u8]| check(data));

/// Check one input.
pub fn check(data: &[u8]) {
    let mut c = Cursor::new(data);
    let flags = c.byte();
    let original = if flags & 4 != 0 {
        native::build(&mut c).bytes
    } else {
        c.rest().to_vec()
    };
    let opts = RecoverOptions {
        dry_run: false,
        force: flags & 1 != 0,
        no_backup: flags & 2 != 0,
        sync: SyncLevel::None,
        format: Some(LogFormat::Native),
        ..RecoverOptions::default()
    };
    let dir = Scratch::new();
    let path = dir.write("fuzz.log", &original);
    let _armed = common::alloc::arm(original.len());
    let read = |p: &std::path::Path| std::fs::read(p).expect("read a scratch file");
    if let Ok(header) = FileHeader::decode(&original)
        && common::known::native_log(&original, &header).is_some()
    {
        return;
    }

    let v = match log::verify(&path, &native::native_opts(), |_, _| {}) {
        Ok(v) => v,
        Err(e) => {
            assert!(matches!(e, Error::NotALog { .. }), "verify: {e}");
            let r = common::retry_in_use(|| recover::recover_log(&path, &opts, &mut ()));
            assert!(matches!(r, Err(Error::NotALog { .. })), "recover: {r:?}");
            assert!(
                read(&path) == original,
                "recover changed a file that is not a log"
            );
            assert_eq!(dir.names(), ["fuzz.log"]);
            return;
        }
    };
    let size = original.len() as u64;
    let cut = v.valid_end;
    let opened = log::open(&path).expect("open a log that verifies");
    let items = native::scan(&mut opened.scanner(OnDamage::Resync), &original);
    drop(opened);
    let all = native::records(&items);
    let before = &all[..v.records_before_damage as usize];
    let payload = |r: &Record| &original[r.payload_offset() as usize..][..r.len as usize];

    // Salvage keeps every valid record, in order, and skips exactly the defects.
    let dst = dir.path("salvaged.log");
    let salvaged = recover::salvage(
        &path,
        &dst,
        Some(LogFormat::Native),
        SyncLevel::None,
        &mut (),
    )
    .expect("salvage");
    assert_eq!(salvaged.records, v.records);
    let skipped: Vec<(u64, u64)> = native::defects(&items)
        .iter()
        .map(|d| (d.offset, d.next_valid.unwrap_or(size) - d.offset))
        .collect();
    assert_eq!(salvaged.skipped, skipped);
    let copy = read(&dst);
    let s = log::verify(&dst, &native::native_opts(), |_, _| {}).expect("verify the salvaged log");
    assert_eq!(
        (s.status, s.records),
        (Status::Clean, v.records),
        "salvaged log"
    );
    let copied = log::open(&dst).expect("open the salvaged log");
    let got = native::records(&native::scan(&mut copied.scanner(OnDamage::Stop), &copy));
    assert_eq!(got.len(), all.len());
    for (new, old) in got.iter().zip(&all) {
        assert!(copy[new.payload_offset() as usize..][..new.len as usize] == *payload(old));
        assert_eq!(new.seq, new.index, "salvage numbers records without gaps");
    }
    drop(copied);
    std::fs::remove_file(&dst).expect("remove the salvaged log");
    drop(copy);

    // An earlier recovery's sidecar at the same offset: the same bytes (a rerun after a crash
    // once the sidecar was in place: made by recovering, then putting the log back), or others.
    let sidecar = recover::sidecar_path(&path, false, cut).expect("the sidecar's path");
    let planted = (flags & 8 != 0 && cut < size)
        .then(|| {
            if flags & 16 != 0 {
                common::retry_in_use(|| recover::recover_log(&path, &opts, &mut ()))
                    .expect("an earlier recover");
                std::fs::write(&path, &original).expect("put the log back");
            } else {
                std::fs::create_dir_all(sidecar.parent().unwrap()).expect("sidecar directory");
                std::fs::write(&sidecar, b"another recovery's bytes").expect("plant a sidecar");
            }
            // Nothing was cut (a refused or clean log, or no backup): nothing planted.
            sidecar.exists().then(|| read(&sidecar))
        })
        .flatten();
    let names = dir.names();

    let cuts = v.status == Status::TornTail || (v.status == Status::Corrupt && opts.force);
    let same_report = |r: &LogRecovery| {
        assert_eq!(r.status, v.status);
        assert_eq!(r.records, v.records_before_damage);
        assert_eq!((r.bytes_kept, r.bytes_removed), (cut, size - cut));
        assert_eq!(r.records_after_damage, v.records_after_damage);
        assert_eq!(r.bytes_after_damage, v.bytes_after_damage);
    };

    let dry_opts = RecoverOptions {
        dry_run: true,
        ..opts.clone()
    };
    let dry = common::retry_in_use(|| recover::recover_log(&path, &dry_opts, &mut ()))
        .expect("recover --dry-run");
    same_report(&dry);
    let expected = match v.status {
        Status::Clean => LogAction::Clean,
        _ if cuts => LogAction::WouldTruncate,
        _ => LogAction::Refused,
    };
    assert_eq!(dry.action, expected);
    assert!(read(&path) == original, "a dry run changed the log");
    assert_eq!(dir.names(), names, "a dry run changed the directory");

    let r = common::retry_in_use(|| recover::recover_log(&path, &opts, &mut ())).expect("recover");
    same_report(&r);
    let now = read(&path);
    if !cuts {
        assert_eq!(r.action, expected);
        assert!(now == original, "recover changed a log it did not cut");
        assert_eq!(dir.names(), names);
    } else {
        assert_eq!(r.action, LogAction::Truncated);
        assert!(
            now == original[..cut as usize],
            "the kept log is not the valid prefix"
        );
        let mut names_now = names.clone();
        match (&r.sidecar, opts.no_backup) {
            (None, true) => {}
            (Some(side), false) => {
                let kept = read(side);
                let removed = common::sidecar_data(&kept);
                assert!(removed == &original[cut as usize..], "the sidecar's bytes");
                assert!([now.as_slice(), removed].concat() == original);
                let at_name = match &planted {
                    Some(bytes) => {
                        assert!(
                            read(&sidecar) == *bytes,
                            "an existing sidecar was overwritten"
                        );
                        flags & 16 != 0
                    }
                    None => true,
                };
                if at_name {
                    assert_eq!(*side, sidecar);
                } else {
                    assert_eq!(
                        side.file_name(),
                        Some(format!("fuzz.log.{cut}.2.durable-sidecar").as_ref())
                    );
                }
                for name in [".durable-recovered".to_string(), {
                    let name = side.file_name().unwrap().to_string_lossy();
                    format!(".durable-recovered/{name}")
                }] {
                    if !names_now.contains(&name) {
                        names_now.push(name);
                        names_now.sort();
                    }
                }
            }
            (side, no_backup) => panic!("sidecar {side:?} with no_backup {no_backup}"),
        }
        assert_eq!(dir.names(), names_now, "recover left other files behind");

        // Every record verify found before the first defect is still there, and verifies.
        let after =
            log::verify(&path, &native::native_opts(), |_, _| {}).expect("verify after recover");
        assert_eq!(
            (after.status, after.records),
            (Status::Clean, before.len() as u64)
        );
        let kept = log::open(&path).expect("open the recovered log");
        let items = native::scan(&mut kept.scanner(OnDamage::Stop), &now);
        let key = |r: &Record| (r.offset, r.len, r.seq, r.checksum);
        assert!(
            native::records(&items)
                .iter()
                .map(key)
                .eq(before.iter().map(key))
        );
        assert_eq!(items.last(), Some(&Item::End));
    }

    // A second recover changes nothing.
    let names = dir.names();
    let again = common::retry_in_use(|| recover::recover_log(&path, &opts, &mut ()))
        .expect("recover again");
    if cuts {
        assert_eq!(
            (again.action, again.status),
            (LogAction::Clean, Status::Clean)
        );
        assert_eq!(again.records, before.len() as u64);
    } else {
        same_report(&again);
        assert_eq!(again.action, expected);
    }
    assert!(read(&path) == now, "a second recover changed the log");
    assert_eq!(dir.names(), names, "a second recover changed the directory");
}
