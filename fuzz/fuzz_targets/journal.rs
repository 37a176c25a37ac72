//! Fuzz target `journal`: the journal of an interrupted journaled save, and what
//! `durable recover` does with it, on arbitrary bytes (or on a journal built from the input and
//! then damaged). The journal parser is private to the library, so the target goes through
//! `recover::recover`, as `durable recover` does.
//!
//! Invariants: a journal that does not start with our header (magic and checksum) is not
//! provably ours and is left alone, with the target, by a dry run and a real one; for one of
//! ours, a dry run says "would complete" exactly when the journal is valid by the layout in
//! src/journal.rs (checked here independently) and changes nothing; recovering completes a
//! valid journal (the target holds exactly its content, with its mode when the target is new or
//! the mode was forced) and rolls back any other (the target as it was, or still absent); either
//! way the journal is gone and nothing else is left behind. Input: one byte of flags (1 build
//! the journal, 2 the target exists, 4/8 recover through the journal's path / the directory
//! instead of the target's), then the journal (or the builder's input).
#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
#[path = "../common/mod.rs"]
mod common;
#[cfg(test)]
use super::common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use durable::recover::{self, Outcome, RecoverOptions};
use durable::{Settled, SyncLevel};
use sha2::{Digest, Sha256};

use common::cursor::Cursor;
use common::scratch::Scratch;

#[cfg(not(test))]
libfuzzer_sys::fuzz_target!(|data: &[u8]| check(data));

const MAGIC: &[u8; 8] = b"DURJNL\0\x01";
const HEADER_LEN: usize = 64;
const OLD: &[u8] = b"the target's old content\n";
const OLD_MODE: u32 = 0o640;

/// What a valid journal says: content length, mode bits, and whether they are forced.
type Valid = (u64, u32, bool);

/// The journal's layout (src/journal.rs), written again from its description.
fn validate(j: &[u8]) -> Option<Valid> {
    let h = j.get(..HEADER_LEN)?;
    let le32 = |at: usize| u32::from_le_bytes(h[at..at + 4].try_into().unwrap());
    let len = u64::from_le_bytes(h[8..16].try_into().unwrap());
    let ok = h[..8] == *MAGIC
        && le32(60) == crc32fast::hash(&h[..60])
        && le32(52) <= 1
        && le32(56) == 0
        && Some(j.len() as u64) == len.checked_add(HEADER_LEN as u64)
        && Sha256::digest(&j[HEADER_LEN..])[..] == h[16..48];
    ok.then(|| (len, le32(48), le32(52) == 1))
}

/// A valid journal for content and mode taken from the input, then damaged by it.
fn build(c: &mut Cursor) -> Vec<u8> {
    let len = usize::from(c.u16() % 2048);
    let content = c.bytes(len).to_vec();
    let mode = match c.byte() % 5 {
        0 => 0o644,
        1 => 0o600,
        2 => 0,
        3 => 0o7777,
        _ => c.u32(),
    };
    let mut j = vec![0u8; HEADER_LEN];
    j[..8].copy_from_slice(MAGIC);
    j[8..16].copy_from_slice(&(content.len() as u64).to_le_bytes());
    j[16..48].copy_from_slice(&Sha256::digest(&content));
    j[48..52].copy_from_slice(&mode.to_le_bytes());
    j[52..56].copy_from_slice(&u32::from(c.byte() & 1).to_le_bytes());
    let crc = crc32fast::hash(&j[..60]);
    j[60..64].copy_from_slice(&crc.to_le_bytes());
    j.extend_from_slice(&content);
    let marks = [0, 8, 16, 48, 52, 56, 60, HEADER_LEN, j.len()];
    common::mutate::apply(c, &mut j, &marks, 1 << 16);
    j
}

/// Check one input.
pub fn check(data: &[u8]) {
    let mut c = Cursor::new(data);
    let flags = c.byte();
    let journal_bytes = if flags & 1 != 0 {
        build(&mut c)
    } else {
        c.rest().to_vec()
    };
    let existed = flags & 2 != 0;
    let dir = Scratch::new();
    let target = dir.path("t");
    let journal = dir.write(".t.durable-journal", &journal_bytes);
    if existed {
        dir.write("t", OLD);
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(OLD_MODE))
            .expect("chmod the target");
    }
    let _armed = common::alloc::arm(journal_bytes.len() + OLD.len());
    let valid = validate(&journal_bytes);
    let via = match flags >> 2 & 3 {
        // Only the journal's name leads to a target that does not exist yet.
        0 if existed => target.clone(),
        0 | 1 => journal.clone(),
        _ => dir.path(""),
    };
    let mut opts = RecoverOptions {
        dry_run: true,
        force: false,
        no_backup: false,
        sync: SyncLevel::None,
        ..RecoverOptions::default()
    };
    let names = dir.names();
    let ours = is_ours(&journal_bytes);

    let outcome = recover_one(&via, &opts);
    if !ours {
        // Not provably ours (no header of ours): left alone by a dry run and a real one.
        for dry_run in [true, false] {
            opts.dry_run = dry_run;
            match recover_one(&via, &opts) {
                Ok(Some(Outcome::Untouched { path, .. })) => assert_eq!(path, journal),
                // Named directly, a target with a journal that is not ours is just a file.
                Err(durable::Error::NothingToRecover { .. }) if via == target => {}
                other => panic!("a journal that is not ours: {other:?}"),
            }
            assert!(
                std::fs::read(&journal).unwrap() == journal_bytes,
                "recover changed a journal that is not ours"
            );
            assert_eq!(dir.names(), names, "recover changed the directory");
            check_target(&target, existed.then_some((OLD, OLD_MODE)));
        }
        return;
    }
    let Ok(Some(Outcome::Journal {
        target: reported,
        journal: reported_journal,
        settled,
        would_complete,
    })) = outcome
    else {
        panic!("a journal recovered as something else: {outcome:?}");
    };
    assert_eq!(
        (reported, reported_journal),
        (target.clone(), journal.clone())
    );
    assert_eq!(settled, None, "a dry run settled the journal");
    assert_eq!(
        would_complete,
        valid.is_some(),
        "dry run: would it complete?"
    );
    assert!(
        std::fs::read(&journal).unwrap() == journal_bytes,
        "a dry run changed the journal"
    );
    assert_eq!(dir.names(), names, "a dry run changed the directory");
    check_target(&target, existed.then_some((OLD, OLD_MODE)));

    opts.dry_run = false;
    let Ok(Some(Outcome::Journal { settled, .. })) = recover_one(&via, &opts) else {
        panic!("a journal recovered as something else");
    };
    match (valid, settled) {
        (Some((len, mode, forced)), Some(Settled::Completed { journal: j, bytes })) => {
            assert_eq!((j, bytes), (journal.clone(), len));
            let mode = if existed && !forced { OLD_MODE } else { mode };
            check_target(&target, Some((&journal_bytes[HEADER_LEN..], mode)));
        }
        (None, Some(Settled::RolledBack { journal: j, .. })) => {
            assert_eq!(j, journal);
            check_target(&target, existed.then_some((OLD, OLD_MODE)));
        }
        (valid, settled) => panic!("journal valid: {valid:?}, but recover: {settled:?}"),
    }
    let left: &[&str] = if existed || valid.is_some() {
        &["t"]
    } else {
        &[]
    };
    assert_eq!(dir.names(), left, "after recover");
}

/// Whether the journal is provably ours: it starts with our header, magic and checksum (the
/// header's own checks: flags and reserved bytes too). Anything else recover leaves alone.
fn is_ours(j: &[u8]) -> bool {
    let Some(h) = j.get(..HEADER_LEN) else {
        return false;
    };
    let le32 = |at: usize| u32::from_le_bytes(h[at..at + 4].try_into().unwrap());
    h[..8] == *MAGIC && le32(60) == crc32fast::hash(&h[..60]) && le32(52) <= 1 && le32(56) == 0
}

/// `recover::recover` on `path`: the outcome for the journal (or, through its target, the
/// target), or the first error. Other files (the target, in a directory) may be reported too.
fn recover_one(path: &Path, opts: &RecoverOptions) -> durable::Result<Option<Outcome>> {
    let mut outcomes = Vec::new();
    common::retry_in_use(|| {
        outcomes.clear();
        // Inside a directory errors are reported, not returned: return the first one.
        let mut reported = None;
        recover::recover(
            path,
            opts,
            &mut (),
            |o| outcomes.push(o),
            |e| {
                reported.get_or_insert(e);
            },
        )?;
        reported.map_or(Ok(()), Err)
    })?;
    assert!(outcomes.len() <= 2, "{outcomes:?}");
    Ok(outcomes
        .into_iter()
        .find(|o| !matches!(o, Outcome::Untouched { path, .. } if path.ends_with("t"))))
}

/// The target holds `want` (content, mode bits), or does not exist.
fn check_target(target: &Path, want: Option<(&[u8], u32)>) {
    match want {
        None => assert!(target.symlink_metadata().is_err(), "the target appeared"),
        Some((content, mode)) => {
            let got = std::fs::metadata(target).unwrap().permissions().mode();
            // Set-group-ID may be dropped by chmod for a group the process is not in.
            assert_eq!(got & 0o5777, mode & 0o5777, "the target's mode");
            // The journal's mode may forbid reading (0o000), and not everyone runs as root.
            std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o600)).unwrap();
            assert!(
                std::fs::read(target).unwrap() == content,
                "the target's content"
            );
            std::fs::set_permissions(target, std::fs::Permissions::from_mode(got)).unwrap();
        }
    }
}
