//! Fuzz target `recover_agree`: `log::verify`, `recover::recover_log` and `recover::salvage`
//! must agree with each other and with the reference reader's rule for where a log ends
//! (`common::native::reference`, docs/FORMAT.md) on a log (raw bytes, or built by
//! `common::native::build`).
//!
//! Invariants: verify sums the log up as the reference does (`check_summary`); recover reports
//! the reference's status, the records before the cut and the bytes kept; a dry run changes
//! nothing; recover refuses corruption unless forced, and then changes nothing; it never cuts
//! before the valid end, and cuts exactly there for a torn tail (or forced corruption): the
//! kept log is the original's first `valid_end` bytes (the start of the first damaged append),
//! holds every record before it, verifies clean and passes the tail check of `log append`; the
//! sidecar holds the rest (kept + sidecar == original), never written over an existing sidecar;
//! a second recover is a no-op; salvage copies every record the resyncing scan finds, payloads
//! intact, and skips exactly the defects. Input: one byte of flags (1 force, 2 no backup, 4
//! build the log, 8 plant a sidecar at the cut, 16 with the same bytes: an earlier recover's),
//! then the file (or the builder's input).
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
    let model = FileHeader::decode(&original)
        .ok()
        .map(|header| native::reference(&original, &header));
    if model.as_ref().is_some_and(|m| m.open_bug().is_some()) {
        return;
    }

    // No header (docs/FORMAT.md, "A log's start"): a header cut short that is the start of a
    // valid one (a torn start) is cut to empty; a file of only zeros (named, as here) only with
    // --force. What is cut is kept in a sidecar (unless --no-backup), from offset 0.
    let torn = native::torn_start(&original, true);
    if torn || (!original.is_empty() && original.iter().all(|b| *b == 0)) {
        let r = common::retry_in_use(|| recover::recover_log(&path, &opts, &mut ()))
            .expect("recover a file with no header");
        let cuts = torn || opts.force;
        assert_eq!(read(&path).len(), if cuts { 0 } else { original.len() });
        match &r.sidecar {
            Some(side) if cuts => {
                assert!(!opts.no_backup);
                assert_eq!(&read(side)[..original.len()], &original[..]);
            }
            Some(_) => assert!(!opts.no_backup),
            None => assert!(opts.no_backup || !cuts),
        }
        return;
    }
    // A log whose header is lost (docs/FORMAT.md, "A lost header"): refused unless forced;
    // forced, a new header with the recovered salt is written over the old 64 bytes (kept in a
    // sidecar unless --no-backup), every record reads again, and nothing else changes.
    if let Some((header, loss)) = native::lost_header(&path) {
        let v = log::verify(&path, &native::native_opts(), |_, _| {}).expect("verify");
        native::check_lost(&original, &header, loss, &v);
        let r = common::retry_in_use(|| recover::recover_log(&path, &opts, &mut ()))
            .expect("recover a log whose header is lost");
        let now = read(&path);
        assert_eq!(now.len(), original.len());
        assert!(now[64..] == original[64..], "recover changed a record");
        if !opts.force {
            assert_eq!(r.action, LogAction::Refused);
            assert!(now == original, "refused, but changed");
            assert_eq!(dir.names(), ["fuzz.log"]);
            return;
        }
        assert_eq!(r.action, LogAction::HeaderWritten);
        let written = FileHeader::decode(&now).expect("the new header decodes");
        assert_eq!(
            (written.salt, written.algorithm),
            (header.salt, header.algorithm)
        );
        match &r.sidecar {
            Some(side) => assert_eq!(&read(side)[..64], &original[..64]),
            None => assert!(opts.no_backup),
        }
        let after = log::verify(&path, &native::native_opts(), |_, _| {}).expect("verify");
        assert_eq!(after.records, v.records);
        assert_eq!(after.defect_count + 1, v.defect_count);
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
    let model = model.expect("a log that verifies has a header");
    native::check_summary(&v, &model);
    let size = original.len() as u64;
    let cut = model.valid_end();
    let status = model.status();
    let (kept, _) = model.before_damage();
    let opened = log::native::open(&path).expect("open a log that verifies");
    let items = native::scan(&mut opened.reader(OnDamage::Resync), &original);
    drop(opened);
    native::check_resync_scan(&items, &model);
    let all = native::records(&items);
    let before = &all[..kept as usize];
    let payload = |r: &Record| &original[r.payload_offset() as usize..][..r.len as usize];

    // Salvage keeps every record the resyncing scan finds, in order, and skips exactly the
    // defects.
    let dst = dir.path("salvaged.log");
    let salvaged = recover::salvage(
        &path,
        &dst,
        Some(LogFormat::Native),
        SyncLevel::None,
        &mut (),
    )
    .expect("salvage");
    assert_eq!(salvaged.records, all.len() as u64);
    // Damage that skips no bytes (append marks out of order, a sequence gap) is no region.
    let skipped: Vec<(u64, u64)> = model
        .defects()
        .map(|d| {
            (
                d.offset,
                d.next_valid.unwrap_or(size).max(d.offset) - d.offset,
            )
        })
        .filter(|&(_, n)| n > 0)
        .collect();
    assert_eq!(salvaged.skipped, skipped);
    let copy = read(&dst);
    let s = log::verify(&dst, &native::native_opts(), |_, _| {}).expect("verify the salvaged log");
    assert_eq!(
        (s.status, s.records),
        (Status::Clean, all.len() as u64),
        "salvaged log"
    );
    let copied = log::native::open(&dst).expect("open the salvaged log");
    let got = native::records(&native::scan(&mut copied.reader(OnDamage::Stop), &copy));
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
    let sidecar =
        recover::sidecar_path(&path, recover::Beside::Log, cut).expect("the sidecar's path");
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

    let cuts = status == Status::TornTail || (status == Status::Corrupt && opts.force);
    let same_report = |r: &LogRecovery| {
        assert_eq!(r.status, status);
        assert_eq!(r.records, kept);
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
    let expected = match status {
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
                let side_bytes = read(side);
                let removed = common::sidecar_data(&side_bytes);
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
    }

    if r.action == LogAction::Clean || r.action == LogAction::Truncated {
        // Recover succeeded: the log holds every record before the cut, verifies clean, and
        // the tail check of the next `log append` accepts it.
        let after =
            log::verify(&path, &native::native_opts(), |_, _| {}).expect("verify after recover");
        assert_eq!((after.status, after.records), (Status::Clean, kept));
        let kept_log = log::native::open(&path).expect("open the recovered log");
        let items = native::scan(&mut kept_log.reader(OnDamage::Stop), &now);
        let key = |r: &Record| (r.offset, r.len, r.seq, r.checksum, r.extra);
        assert!(
            native::records(&items)
                .iter()
                .map(key)
                .eq(before.iter().map(key))
        );
        assert_eq!(items.last(), Some(&Item::End));
        let next = kept_log
            .reader(OnDamage::Stop)
            .last_append_whole()
            .expect("reading a file in tmpfs");
        assert_eq!(
            next,
            Some(before.last().map_or(0, |r| r.seq + 1)),
            "the tail check after a recover"
        );
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
        assert_eq!(again.records, kept);
    } else {
        same_report(&again);
        assert_eq!(again.action, expected);
    }
    assert!(read(&path) == now, "a second recover changed the log");
    assert_eq!(dir.names(), names, "a second recover changed the directory");
}
