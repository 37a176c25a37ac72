//! The journal of the journaled in-place strategy: a sidecar `.NAME.durable-journal` next to the
//! target that holds the complete new content, synced before the target is touched, so an
//! interrupted in-place write can always be completed; and settling a journal left behind.
//!
//! Layout (all integers little-endian), a 64-byte header then the content:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0  | 8  | magic `DURJNL\0\x01` (the last byte is the version) |
//! | 8  | 8  | content length |
//! | 16 | 32 | SHA-256 of the content |
//! | 48 | 4  | permission bits for the target |
//! | 52 | 4  | flags: bit 0 = apply those bits even if the target exists (`--mode`) |
//! | 56 | 4  | reserved, zero |
//! | 60 | 4  | CRC-32 of bytes 0..60 |
//!
//! A journal is valid only if its header checks out, its size is exactly 64 + length, and the
//! content hashes to the recorded SHA-256. The header is written last (after the content), so a
//! journal interrupted while being written is never valid.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::disk::{self, Create, SyncLevel};
use crate::error::{Aftermath, Error, FailedStep, NotApplied, Result};
use crate::platform;
use crate::step::{Script, Step, Tracker};
use crate::target::Target;

const MAGIC: &[u8; 8] = b"DURJNL\0\x01";
/// Size of the journal header in bytes.
pub(crate) const HEADER_LEN: u64 = 64;
pub(crate) const CHUNK: usize = 1 << 20;

/// The decoded header of a journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub len: u64,
    pub sha256: [u8; 32],
    pub mode: u32,
    pub force_mode: bool,
}

impl Header {
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN as usize] {
        let mut out = [0u8; HEADER_LEN as usize];
        out[0..8].copy_from_slice(MAGIC);
        out[8..16].copy_from_slice(&self.len.to_le_bytes());
        out[16..48].copy_from_slice(&self.sha256);
        out[48..52].copy_from_slice(&self.mode.to_le_bytes());
        out[52..56].copy_from_slice(&u32::from(self.force_mode).to_le_bytes());
        let crc = crc32fast::hash(&out[0..60]);
        out[60..64].copy_from_slice(&crc.to_le_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8; HEADER_LEN as usize]) -> Option<Header> {
        if &bytes[0..8] != MAGIC {
            return None;
        }
        let crc = u32::from_le_bytes(bytes[60..64].try_into().ok()?);
        let flags = u32::from_le_bytes(bytes[52..56].try_into().ok()?);
        if crc != crc32fast::hash(&bytes[0..60]) || flags > 1 || bytes[56..60] != [0; 4] {
            return None;
        }
        Some(Header {
            len: u64::from_le_bytes(bytes[8..16].try_into().ok()?),
            sha256: bytes[16..48].try_into().ok()?,
            mode: u32::from_le_bytes(bytes[48..52].try_into().ok()?),
            force_mode: flags == 1,
        })
    }
}

/// What settling a leftover journal did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// The journal was valid: its content was written to the target, then it was removed.
    Completed {
        /// The journal that was replayed.
        journal: PathBuf,
        /// Bytes written to the target.
        bytes: u64,
    },
    /// The journal was incomplete (the save was interrupted before the target was touched): it
    /// was removed and the target left as it was.
    RolledBack {
        /// The journal that was removed.
        journal: PathBuf,
        /// Why it was not valid.
        reason: String,
    },
}

/// The journal path for a target.
pub(crate) fn path_for(target: &Target) -> Result<PathBuf> {
    let name = disk::journal_name(&target.name).ok_or_else(|| Error::NameTooLong {
        path: target.path.clone(),
        what: "journal",
    })?;
    Ok(disk::in_dir(&target.dir, name))
}

/// Whether a journal exists for the target (used by `--explain`): its own, or one of another
/// hard link's ([`leftover_for`]).
pub(crate) fn exists_for(target: &Target) -> bool {
    leftover_for(target).is_ok_and(|j| j.is_some())
}

/// The leftover journal a save of `target` settles before it writes: its own (beside it, under
/// its name), or else, when the file has other hard links, a complete journal of ours in its
/// directory whose target name is another link of the same file (device and inode, the name
/// itself not followed): a save interrupted under that name, completed now, as the next save
/// completes an interrupted one (left there, `recover` would later write it over this save). A
/// second complete journal for the file is refused when this one is decided ([`Rivals`]). Only
/// a file with more than one link has its directory listed; a journal beside a link in another
/// directory is not seen.
pub(crate) fn leftover_for(target: &Target) -> Result<Option<PathBuf>> {
    let own = path_for(target)?;
    if own.symlink_metadata().is_ok() {
        return Ok(Some(own));
    }
    let Some(existing) = target.existing.filter(|e| e.links > 1) else {
        return Ok(None);
    };
    let Ok(entries) = std::fs::read_dir(&target.dir) else {
        return Ok(None);
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(named) = disk::journal_target_name(&name) else {
            continue;
        };
        if named == target.name {
            continue;
        }
        let same_file = disk::in_dir(&target.dir, &named)
            .symlink_metadata()
            .is_ok_and(|m| m.is_file() && platform::file_id(&m) == (existing.dev, existing.ino));
        let journal = disk::in_dir(&target.dir, &name);
        if same_file
            && journal.symlink_metadata().is_ok_and(|m| m.is_file())
            && matches!(classify(&journal), Ok(Class::Ours { complete: true }))
        {
            return Ok(Some(journal));
        }
    }
    Ok(None)
}

/// Whether the caller of [`apply`] holds the target's lock, and if not, whether to wait for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TargetLocking {
    /// The caller holds it (a save in place of an existing target).
    Held,
    /// Take it, waiting for a save in place that holds it.
    Wait,
    /// Take it, or fail at once with [`Error::TargetLocked`] (`recover`, which never waits).
    NoWait,
}

/// How [`apply`] writes a journal over its target.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Apply {
    pub sync: SyncLevel,
    pub verify: bool,
    pub no_clobber: bool,
    pub locking: TargetLocking,
}

/// Finish or roll back the journal `journal` left for `target` (normally [`path_for`] it; a
/// journal beside a symlink named to `recover` is applied to the file the link points to), if
/// there is one. A journal another process holds locked is [`Error::Busy`]; one that cannot be
/// applied to the target as it is, [`Error::JournalNotApplied`] (see [`decide`]).
///
/// `link`: the final file `target` was reached through this symlink
/// (a link named to `recover` with the journal beside it, or the path a save or a recover was
/// given, followed to the file the journal is beside): written through the link only as
/// [`plan_apply`] allows. `rivals`: the other journals looked at, kept across a walk.
pub(crate) fn settle_via(
    target: &Target,
    journal: &Path,
    link: Option<&Path>,
    sync: SyncLevel,
    locking: TargetLocking,
    rivals: &mut Rivals,
    tracker: &mut Tracker<'_>,
) -> Result<Option<Settled>> {
    let journal = journal.to_path_buf();
    // Read-only: a journal is only read, locked (`flock` needs no write access) and unlinked
    // (which its directory allows), so one the user may not write is settled as the dry run
    // says.
    let file = match File::open(&journal) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Inspect {
                path: journal,
                source,
            });
        }
    };
    lock(&file, target, &journal)?;
    if !platform::is_at_path(&file, &journal) {
        // Its save finished and removed it between our open and our lock: replaying it now
        // could write old content over a later save's.
        return Ok(None);
    }
    match decide(&file, &journal, &target.path, link, rivals)? {
        Decision::Complete(header, plan) => {
            let how = Apply {
                sync,
                verify: false,
                no_clobber: false,
                locking,
            };
            apply_planned(&file, &header, plan, &journal, target, how, tracker)?;
            Ok(Some(Settled::Completed {
                journal,
                bytes: header.len,
            }))
        }
        Decision::RollBack(reason) => {
            tracker
                .run(Step::RemoveJournal, &journal, || {
                    std::fs::remove_file(&journal)
                })
                .failure_leaves(Aftermath::Unchanged)?;
            if sync != SyncLevel::None {
                let dir = dir_of(&journal);
                tracker
                    .run(Step::SyncDirFinal, &dir, || platform::sync_dir(&dir, sync))
                    .failure_leaves(Aftermath::Unconfirmed)?;
            }
            Ok(Some(Settled::RolledBack { journal, reason }))
        }
    }
}

/// What [`settle_via`] would do, decided the same way and changing nothing: the journal's lock
/// and the target's are tested (taken without waiting, and released at once), so a journal or a
/// target another process holds is the same refusal as in the real run. `Ok(None)`: no journal.
pub(crate) fn decide_settle(
    target: &Target,
    journal: &Path,
    link: Option<&Path>,
    rivals: &mut Rivals,
) -> Result<Option<Decision>> {
    let file = match File::open(journal) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Inspect {
                path: journal.to_path_buf(),
                source,
            });
        }
    };
    lock(&file, target, journal)?;
    if !platform::is_at_path(&file, journal) {
        return Ok(None);
    }
    let decision = decide(&file, journal, &target.path, link, rivals)?;
    if let Decision::Complete(_, plan) = &decision
        && !plan.created
    {
        // As the real run takes it (TargetLocking::NoWait), on a read-only descriptor (never
        // blocking on a FIFO put there meanwhile).
        if let Ok(out) = platform::open_no_follow(&target.path, false)
            && let Err(std::fs::TryLockError::WouldBlock) = out.try_lock()
        {
            return Err(Error::Step {
                step: Step::OpenTarget,
                path: target.path.clone(),
                aftermath: Aftermath::Pending,
                source: target_busy(),
            });
        }
    }
    Ok(Some(decision))
}

/// The error of a target another process holds locked, for a caller that does not wait.
fn target_busy() -> io::Error {
    io::Error::new(
        io::ErrorKind::ResourceBusy,
        "another process holds its lock (a save in place?)",
    )
}

/// The directory a path is in (`.` when it has none).
fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// What settling a journal does, decided without changing anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// It is valid: its content is written over the target, as the plan says.
    Complete(Header, Plan),
    /// It is not valid (why): it is removed, the target untouched.
    RollBack(String),
}

/// How a valid journal is written over its target, decided before anything is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The target does not exist: it is created.
    pub created: bool,
    /// The permission bits it gets (the journal's, without set-id bits for another user's).
    pub mode: u32,
    /// A new target is given to this owner and group (the journal's author, not the applier).
    pub give_to: Option<(u32, u32)>,
    /// The existing target decided on (device, inode): the file opened to be written must be
    /// this one (a file swapped in at its name since is not written).
    pub existing: Option<(u64, u64)>,
}

/// The one decision of what settling the journal open as `file` (at `journal`) over the file
/// at `target` does, made from the journal and the target as they are now: what `recover
/// --dry-run` reports and what [`settle_via`] then does. An invalid journal is rolled back whatever
/// the target is (it is not touched); a valid one is applied only where [`plan_apply`] allows.
/// Either way the journal is removed at the end: a journal (or a directory) whose attribute
/// forbids that (`chattr +i`, `+a`) is refused first, as is a target that may not be rewritten.
/// A valid journal whose target resolves to the same file as another complete journal's
/// ([`Rivals`]) is not applied, whichever of the two is decided first.
pub(crate) fn decide(
    file: &File,
    journal: &Path,
    target: &Path,
    link: Option<&Path>,
    rivals: &mut Rivals,
) -> Result<Decision> {
    removable(file, journal)?;
    let checked = validate(file).map_err(|source| Error::Inspect {
        path: journal.to_path_buf(),
        source,
    })?;
    match checked {
        Ok(header) => {
            // Two saves' journals for one file: which came last cannot be told, so neither is
            // applied (each applied in turn would write one over the other).
            let own = platform::file_id(&file.metadata().map_err(|source| Error::Inspect {
                path: journal.to_path_buf(),
                source,
            })?);
            if let Some((other, other_target)) = rivals.of(journal, own) {
                let (blocked, file) = alone(journal);
                let (other_blocked, _) = alone(&other);
                return Err(Error::JournalNotApplied {
                    journal: journal.to_path_buf(),
                    target: beside_name(journal).unwrap_or_else(|| target.to_path_buf()),
                    reason: NotApplied::TwoJournals {
                        other,
                        other_target,
                        alone: Box::new(crate::error::Alone {
                            blocked,
                            other_blocked,
                            file,
                        }),
                    },
                });
            }
            let plan = plan_apply(file, &header, journal, target, link)?;
            writable(target, &plan)?;
            Ok(Decision::Complete(header, plan))
        }
        Err(reason) => Ok(Decision::RollBack(reason)),
    }
}

fn protected(path: &Path, protection: crate::target::Protection, why: &'static str) -> Error {
    Error::Protected {
        path: path.to_path_buf(),
        protection,
        why,
    }
}

/// Settling ends with removing the journal: a journal (or a directory) whose attribute forbids
/// that (`chattr +i`, `+a`), or one this user may not remove, is refused before anything is
/// done.
fn removable(file: &File, journal: &Path) -> Result<()> {
    if let Some(p) = crate::target::file_protection(file) {
        return Err(protected(
            journal,
            p,
            "settling an interrupted save's journal ends with removing it, which that forbids, so nothing was changed",
        ));
    }
    let dir = dir_of(journal);
    if let Some(p) = crate::target::protection(&dir) {
        return Err(protected(
            &dir,
            p,
            "settling the journal of an interrupted save in it ends with removing the journal, which that forbids, so nothing was changed",
        ));
    }
    // Nor may this user remove it (a directory it may not write, a sticky one): applied, it
    // would be replayed by every later save and recover, over whatever was saved since.
    if let Err(source) = platform::may_remove(journal) {
        return Err(Error::CannotChange {
            path: journal.to_path_buf(),
            doing: "settle this journal of an interrupted save (settling ends with removing it, \
                    which this user may not do in its directory; the directory's owner or root \
                    can)"
                .into(),
            source,
        });
    }
    Ok(())
}

/// An existing target that may not be rewritten in place (`chattr +i`, `+a`) is refused.
fn writable(target: &Path, plan: &Plan) -> Result<()> {
    // Opened without blocking, never through a link (a FIFO or a link put there since).
    if !plan.created
        && let Some(p) = platform::open_no_follow(target, false)
            .ok()
            .and_then(|f| crate::target::file_protection(&f))
    {
        return Err(protected(
            target,
            p,
            "the interrupted save's content is written over it in place, which that forbids, so nothing was changed",
        ));
    }
    Ok(())
}

/// What `durable recover NAME` (NAME the name the complete journal `journal` is beside) would do
/// with it were it the only journal of its file, decided as [`decide`] decides for that command
/// (a NAME that is a symlink followed as a link named to `recover`): `None` it would apply it,
/// or why not; and the file NAME stands for (followed, when it is a link). For the way out of
/// [`NotApplied::TwoJournals`]: each way it names must work as printed.
fn alone(journal: &Path) -> (Option<String>, PathBuf) {
    let Some(name) = beside_name(journal) else {
        return (
            Some("it is not named as a journal".into()),
            journal.to_path_buf(),
        );
    };
    let linked = name
        .symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink());
    let resolved = if linked {
        crate::target::resolve(&name, crate::target::Symlinks::Follow).map(|t| t.path)
    } else {
        Ok(name.clone())
    };
    let file = resolved.as_ref().unwrap_or(&name).clone();
    let why = |e: Error| match e {
        Error::JournalNotApplied { reason, .. } => reason.to_string(),
        Error::NotRegular { kind, .. } => NotApplied::NotRegular { kind }.to_string(),
        other => other.to_string(),
    };
    let decided = (|| -> std::result::Result<(), String> {
        let target = resolved.map_err(why)?;
        let opened = File::open(journal).map_err(|source| {
            why(Error::Inspect {
                path: journal.to_path_buf(),
                source,
            })
        })?;
        removable(&opened, journal).map_err(why)?;
        let header = match validate(&opened) {
            Ok(Ok(header)) => header,
            Ok(Err(reason)) => return Err(reason),
            Err(e) => return Err(e.to_string()),
        };
        let plan = plan_apply(
            &opened,
            &header,
            journal,
            &target,
            linked.then_some(name.as_path()),
        )
        .map_err(why)?;
        writable(&target, &plan).map_err(why)
    })();
    (decided.err(), file)
}

/// The owner of the first symlink from `link` on, following the chain, that is neither `me`'s
/// nor root's (`None`: every link is): the links of the chain, and the links among the
/// directories each of them names (`L -> d/file` with `d` another user's link to a directory).
/// The directories of `link` itself, as given, are not looked at. A chain that loops is left to
/// the caller's resolution.
fn untrusted_link(link: &Path, me: u32) -> io::Result<Option<u32>> {
    let trusted = |meta: &std::fs::Metadata| {
        let owner = platform::owner_mode_links(meta).0;
        (owner == me || owner == 0).then_some(()).ok_or(owner)
    };
    let given: Vec<&Path> = link.ancestors().skip(1).collect();
    let mut path = link.to_path_buf();
    for _ in 0..=40 {
        for dir in path.ancestors().skip(1) {
            if dir.as_os_str().is_empty() || given.contains(&dir) {
                continue;
            }
            if let Ok(meta) = dir.symlink_metadata()
                && meta.file_type().is_symlink()
                && let Err(owner) = trusted(&meta)
            {
                return Ok(Some(owner));
            }
        }
        let meta = match path.symlink_metadata() {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if !meta.file_type().is_symlink() {
            return Ok(None);
        }
        if let Err(owner) = trusted(&meta) {
            return Ok(Some(owner));
        }
        let next = std::fs::read_link(&path)?;
        path = match path.parent() {
            Some(parent) if next.is_relative() => parent.join(next),
            _ => next,
        };
    }
    Ok(None)
}

/// Whether `journal` is the journal of `target` (beside it, under its name), as spelled.
fn is_beside(journal: &Path, target: &Path) -> bool {
    dir_of(journal) == dir_of(target)
        && target.file_name().and_then(disk::journal_name).as_deref() == journal.file_name()
}

/// The name a journal is the journal of, in its directory (`.f.durable-journal`: `f`).
pub(crate) fn beside_name(journal: &Path) -> Option<PathBuf> {
    let name = disk::journal_target_name(journal.file_name()?)?;
    Some(journal.with_file_name(name))
}

/// What a journal's target name stands for, following symlinks: the file there (device,
/// inode: a hard link is the same file), or, where there is none, the path of the file its
/// content would create (its directory made canonical). `None`: nothing a journal could be
/// written over (a directory, a FIFO, a loop, a path that cannot be looked at).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Resolves {
    File(u64, u64),
    Absent(PathBuf),
}

/// [`Resolves`] for the name `named`, with the directory of the file it resolves to.
fn resolves(named: &Path) -> Option<(Resolves, PathBuf)> {
    let target = crate::target::resolve(named, crate::target::Symlinks::Follow).ok()?;
    let key = match target.existing {
        Some(e) => Resolves::File(e.dev, e.ino),
        None => Resolves::Absent(std::fs::canonicalize(&target.dir).ok()?.join(&target.name)),
    };
    Some((key, target.dir))
}

/// A journal met in a directory, and what its target name resolves to.
#[derive(Debug)]
struct Listed {
    journal: PathBuf,
    named: PathBuf,
    id: (u64, u64),
    key: Option<Resolves>,
}

/// The journals of the directories looked at for [`Rivals::of`], each listed once: a walk
/// keeps one for the whole tree (the directories above the one being walked, and a few
/// others), so a directory of many journals is listed once, not once per journal.
#[derive(Debug, Default)]
pub(crate) struct Rivals {
    dirs: Vec<(PathBuf, Vec<Listed>)>,
    /// For a walk ([`Rivals::walked`]): the complete journals of the whole tree whose targets
    /// resolve to one existing file (device, inode) shared with another such journal, grouped
    /// by that file, found before any journal is applied.
    shared: std::collections::HashMap<(u64, u64), Vec<Listed>>,
}

/// How many complete journals of files [`Rivals::walked`] keeps from one tree (a few hundred
/// bytes each): past that, the rest are looked for in their directories only, as when named.
const WALKED_JOURNALS: usize = 1 << 18;

/// How many directories besides the ones above the current one [`Rivals`] keeps.
const RIVAL_DIRS: usize = 8;

impl Rivals {
    /// Another complete journal of ours whose target resolves to the same file as the target
    /// of `journal` (the file open as `own`, device and inode): (that journal, its target as
    /// it names it). Looked for in the journal's directory and in the directory of the file its
    /// target resolves to (a journal beside a link elsewhere that points here is not seen), and,
    /// in a walk, among the journals of the whole tree listed before it ([`Rivals::walked`]).
    pub(crate) fn of(&mut self, journal: &Path, own: (u64, u64)) -> Option<(PathBuf, PathBuf)> {
        let (key, final_dir) = resolves(&beside_name(journal)?)?;
        // Met anywhere in the tree walked: hard links in other directories (or links there).
        if let Resolves::File(dev, ino) = key
            && let Some(group) = self.shared.get(&(dev, ino))
            && let Some(l) = group.iter().find(|l| l.id != own && still_complete(l))
        {
            return Some((l.journal.clone(), l.named.clone()));
        }
        let home = dir_of(journal);
        let mut dirs = vec![home.clone()];
        if final_dir != home {
            dirs.push(final_dir);
        }
        for dir in dirs {
            let at = self.listed(&dir, &home, journal);
            let found = self.dirs[at]
                .1
                .iter()
                .find(|l| l.id != own && l.key.as_ref() == Some(&key) && still_complete(l));
            if let Some(l) = found {
                return Some((l.journal.clone(), l.named.clone()));
            }
        }
        None
    }

    /// Before a walk of `root` applies any journal: the complete journals of ours met anywhere
    /// in the tree (the same walk, so spelled as it spells them), grouped by the existing file
    /// their target names resolve to (device, inode, following links); the groups of two or
    /// more are kept for [`Rivals::of`], so two hard links' journals in different directories
    /// are refused wherever each is met. Only journal names are looked at (their header read),
    /// and kept only when their file has several names (hard links, or the journal is beside a
    /// symlink); at most [`WALKED_JOURNALS`] are kept.
    pub(crate) fn walked(&mut self, root: &Path, one_file_system: bool) {
        let mut met: std::collections::HashMap<(u64, u64), Vec<Listed>> =
            std::collections::HashMap::new();
        let mut kept = 0usize;
        for entry in crate::walk::walk(root, one_file_system) {
            let Ok(crate::walk::Entry::File(journal)) = entry else {
                continue;
            };
            let Some(named) = beside_name(&journal) else {
                continue;
            };
            if kept >= WALKED_JOURNALS {
                break;
            }
            // Only a file with several names can have journals in several directories: a hard
            // link's, or one beside a symlink to it (a journal beside the file itself and one
            // beside a link to it are found in their directories, as when named).
            let linked = named
                .symlink_metadata()
                .is_ok_and(|m| m.file_type().is_symlink());
            let Ok(crate::target::Target {
                existing: Some(file),
                ..
            }) = crate::target::resolve(&named, crate::target::Symlinks::Follow)
            else {
                continue;
            };
            if file.links < 2 && !linked {
                continue;
            }
            let (dev, ino) = (file.dev, file.ino);
            let Ok(meta) = journal.symlink_metadata() else {
                continue;
            };
            if !meta.is_file() || !matches!(classify(&journal), Ok(Class::Ours { complete: true }))
            {
                continue;
            }
            kept += 1;
            met.entry((dev, ino)).or_default().push(Listed {
                journal,
                named,
                id: platform::file_id(&meta),
                key: Some(Resolves::File(dev, ino)),
            });
        }
        met.retain(|_, group| group.len() > 1);
        self.shared = met;
    }

    /// The index in `dirs` of `dir`'s journals, listed now if they were not (a directory that
    /// cannot be read lists none); in `home`, spelled as `journal` is.
    fn listed(&mut self, dir: &Path, home: &Path, journal: &Path) -> usize {
        if let Some(at) = self.dirs.iter().position(|(d, _)| d == dir) {
            return at;
        }
        // Keep the directories above the journal's and the most recent others.
        let mut others = 0;
        for at in (0..self.dirs.len()).rev() {
            if home.starts_with(&self.dirs[at].0) {
                continue;
            }
            others += 1;
            if others >= RIVAL_DIRS {
                self.dirs.remove(at);
            }
        }
        let mut list = Vec::new();
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(target) = disk::journal_target_name(&name) else {
                    continue;
                };
                let spell = |name: &std::ffi::OsStr| {
                    if dir == home {
                        journal.with_file_name(name)
                    } else {
                        disk::in_dir(dir, name)
                    }
                };
                let journal = spell(&name);
                let Ok(meta) = journal.symlink_metadata() else {
                    continue;
                };
                if !meta.is_file() {
                    continue;
                }
                let named = spell(&target);
                list.push(Listed {
                    key: resolves(&named).map(|(key, _)| key),
                    journal,
                    named,
                    id: platform::file_id(&meta),
                });
            }
        }
        self.dirs.push((dir.to_path_buf(), list));
        self.dirs.len() - 1
    }
}

/// Whether a journal listed is still there (the same file) and still complete.
fn still_complete(l: &Listed) -> bool {
    matches!(classify(&l.journal), Ok(Class::Ours { complete: true }))
        && l.journal
            .symlink_metadata()
            .is_ok_and(|m| platform::file_id(&m) == l.id)
}

/// Whether and how a valid journal may be written over `target`. A journal is applied with the
/// authority of whoever wrote it: another user applying it (root, recovering at boot) must not
/// write what its author could not. So the target must be a regular file (not written through
/// a link met beside the journal: the save that wrote the journal wrote through links already)
/// or absent; an existing target must be the author's; a new one is created as the author's,
/// which only root may do; set-id bits are never given to another user's file (anyone who can
/// write in a directory can leave a file with a journal's header there).
///
/// `link`: `target` was reached through this symlink: the journal is beside the link (named to
/// `recover`), or beside `target` itself (the path a save or a recover was given was a link to
/// it). A link can point anywhere, and whoever owns it chooses where: the journal is written
/// through it only if it is this user's own journal and every link on the way is this user's
/// or root's. (A file with a second complete journal is refused before, by [`decide`].)
pub(crate) fn plan_apply(
    journal_file: &File,
    header: &Header,
    journal: &Path,
    target: &Path,
    link: Option<&Path>,
) -> Result<Plan> {
    // The journal beside the final file (a save's, or a recover's given a link to it) or
    // beside a link named to `recover`: the target is named as the journal names it.
    let beside_target = is_beside(journal, target);
    let shown = match link {
        Some(link) if !beside_target => link,
        _ => target,
    };
    let refuse = |reason| Error::JournalNotApplied {
        journal: journal.to_path_buf(),
        target: shown.to_path_buf(),
        reason,
    };
    let inspect = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Inspect { path, source }
    };
    let (author, author_group) = platform::owner_of(journal_file).map_err(inspect(journal))?;
    let me = platform::effective_uid();
    // Through a link (named, or met at the target's name): this user's journal, and links of
    // this user's or root's only.
    let link_refusal = |link: &Path| -> Result<Option<NotApplied>> {
        let named_owner =
            platform::owner_mode_links(&link.symlink_metadata().map_err(inspect(link))?).0;
        let untrusted = untrusted_link(link, me).map_err(inspect(link))?;
        Ok(if author != me {
            Some(named_owner)
        } else {
            untrusted
        }
        .map(|link_owner| NotApplied::Link {
            author,
            link_owner,
            applier: me,
        }))
    };
    // A journal beside a link (named to `recover`, or met at the target's name): the link was
    // put there after the journal was written, and a file it leads to that changed since may
    // be a later save's (a save of the file itself does not see this journal).
    let beside_link = match link {
        Some(link) if !beside_target => Some(link),
        _ => target
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
            .then_some(target),
    };
    if let Some(link) = beside_link
        && changed_since(journal_file, link)
    {
        return Err(refuse(NotApplied::ChangedSince));
    }
    if let Some(link) = link
        && let Some(reason) = link_refusal(link)?
    {
        return Err(refuse(match reason {
            NotApplied::Link {
                author,
                link_owner,
                applier,
            } if beside_target => NotApplied::ThroughLink {
                link: link.to_path_buf(),
                author,
                link_owner,
                applier,
            },
            other => other,
        }));
    }
    let existing = match target.symlink_metadata() {
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(Error::Inspect {
                path: target.to_path_buf(),
                source,
            });
        }
    };
    // A new file is created only beside its journal (in the directory it is checked to be in
    // when it is created): through a link, a directory on the way could be swapped meanwhile.
    if link.is_some() && existing.is_none() && !beside_target {
        return Err(refuse(NotApplied::NewThroughLink));
    }
    if let Some(meta) = &existing {
        let file_type = meta.file_type();
        if file_type.is_symlink() {
            return Err(refuse(link_refusal(target)?.unwrap_or(NotApplied::Symlink)));
        }
        if !file_type.is_file() {
            return Err(refuse(NotApplied::NotRegular {
                kind: platform::kind_of(file_type),
            }));
        }
    }
    let foreign = author != me;
    if foreign {
        match &existing {
            Some(meta) if platform::owner_mode_links(meta).0 != author => {
                return Err(refuse(NotApplied::NotAuthorsTarget {
                    author,
                    owner: platform::owner_mode_links(meta).0,
                }));
            }
            None if !platform::may_give_files_away() => {
                return Err(refuse(NotApplied::CannotCreateAsAuthor { author }));
            }
            _ => {}
        }
    }
    Ok(Plan {
        created: existing.is_none(),
        mode: if foreign {
            header.mode & !0o6000
        } else {
            header.mode
        },
        give_to: (foreign && existing.is_none()).then_some((author, author_group)),
        existing: existing.as_ref().map(platform::file_id),
    })
}

/// Whether the regular file `link` leads to (followed) changed (its ctime) at or after the last
/// write of the journal open as `journal_file` (its mtime; the same clock tick counts as after,
/// since timestamps are coarse): its content since then may be a later save's. A link to no
/// file, or one that cannot be followed, is left to the other rules.
fn changed_since(journal_file: &File, link: &Path) -> bool {
    let (Ok(journal), Ok(file)) = (journal_file.metadata(), std::fs::metadata(link)) else {
        return false;
    };
    file.is_file() && platform::changed_at(&file) >= platform::modified_at(&journal)
}

/// What a file named like a journal is, read without changing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Class {
    /// It starts with our header (magic and header checksum): one of ours; `complete` if its
    /// size and content check out too (it would be completed, else rolled back).
    Ours {
        /// Valid in full.
        complete: bool,
    },
    /// Not provably ours: why.
    NotOurs(String),
}

/// Classify the file at `path` (opened read-only). Only a file with our header is ours: a save
/// writes the header last, so a journal interrupted before it cannot be told from someone
/// else's file and is left alone (the next save of its target settles it).
pub(crate) fn classify(path: &Path) -> io::Result<Class> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    if size < HEADER_LEN {
        return Ok(Class::NotOurs(format!(
            "it is {size} bytes long, shorter than a journal's {HEADER_LEN}-byte header"
        )));
    }
    let mut raw = [0u8; HEADER_LEN as usize];
    if platform::read_at(&file, &mut raw, 0)? < raw.len() || Header::decode(&raw).is_none() {
        return Ok(Class::NotOurs(
            "it does not start with durable's journal header (magic and checksum)".into(),
        ));
    }
    Ok(Class::Ours {
        complete: validate(&file)?.is_ok(),
    })
}

/// Take the journal's exclusive lock without waiting: a locked journal belongs to a save that is
/// still running.
pub(crate) fn lock(file: &File, target: &Target, journal: &Path) -> Result<()> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Busy {
            target: target.path.clone(),
            journal: journal.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(Error::Inspect {
            path: journal.to_path_buf(),
            source,
        }),
    }
}

/// Check a journal: `Ok(Ok(header))` if valid, `Ok(Err(reason))` if not.
fn validate(file: &File) -> io::Result<std::result::Result<Header, String>> {
    let size = file.metadata()?.len();
    let mut raw = [0u8; HEADER_LEN as usize];
    if size < HEADER_LEN {
        return Ok(Err(format!(
            "it is {size} bytes long, shorter than its {HEADER_LEN}-byte header"
        )));
    }
    let got = platform::read_at(file, &mut raw, 0)?;
    if got < raw.len() {
        return Ok(Err("its header could not be read in full".into()));
    }
    let Some(header) = Header::decode(&raw) else {
        return Ok(Err("its header is incomplete or damaged".into()));
    };
    if Some(size) != header.len.checked_add(HEADER_LEN) {
        return Ok(Err(format!(
            "its header announces {} bytes of content but it holds {}",
            header.len,
            size - HEADER_LEN
        )));
    }
    let mut hasher = Sha256::new();
    let mut reader = ReadAt::new(file, HEADER_LEN);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    if hasher.finalize()[..] != header.sha256 {
        return Ok(Err("its content does not match its SHA-256".into()));
    }
    Ok(Ok(header))
}

/// Write the journal's content over the target in place, flush it, then remove the journal.
/// Every failure here leaves the journal in place, so the next save completes the job; except a
/// target that appeared meanwhile when `no_clobber`, which abandons the save and the journal.
/// The target is written under its lock (taken here unless the caller holds it), as
/// [`plan_apply`] allows.
pub(crate) fn apply(
    journal_file: &File,
    header: &Header,
    journal: &Path,
    target: &Target,
    how: Apply,
    tracker: &mut Tracker<'_>,
) -> Result<()> {
    let plan = plan_apply(journal_file, header, journal, &target.path, None)?;
    apply_planned(journal_file, header, plan, journal, target, how, tracker)
}

/// [`apply`], with the plan already made.
fn apply_planned(
    journal_file: &File,
    header: &Header,
    plan: Plan,
    journal: &Path,
    target: &Target,
    how: Apply,
    tracker: &mut Tracker<'_>,
) -> Result<()> {
    let Apply {
        sync,
        verify,
        no_clobber,
        locking,
    } = how;
    let pending = Aftermath::Pending;
    let Plan {
        created,
        mode,
        give_to,
        existing,
    } = plan;
    let mut script = Script::default();
    crate::plan::replay(
        &mut script,
        crate::plan::InPlaceWrite {
            created,
            set_mode: header.force_mode,
            sync,
            verify,
        },
    );
    // As decided: a new file is created (never one that appeared since), an existing one is
    // the very file decided on; never through a symlink (O_NOFOLLOW).
    let create = if no_clobber || created {
        Create::Exclusive
    } else {
        Create::Never
    };
    // The directory a new file was created in, open: the journal is removed from it and it is
    // flushed there, even if it has been moved (or another put at its path) since.
    let mut beside_dir: Option<File> = None;
    let out = tracker
        .run(Step::OpenTarget, &target.path, || {
            // A new file is created in the journal's own directory, checked to be it still.
            let out = match (created, journal.file_name(), target.path.file_name()) {
                (true, Some(journal_name), Some(name)) if dir_of(journal) == target.dir => {
                    let dir = platform::open_dir_holding(&target.dir, journal_file, journal_name)?;
                    // Held from here, even if the create fails: a --no-clobber apply that finds
                    // the file made meanwhile removes the journal from this directory.
                    let dir = beside_dir.insert(dir);
                    platform::create_in(dir, name, mode)?
                }
                (true, ..) => {
                    return Err(io::Error::other(
                        "a new file is created only beside its journal; nothing was written",
                    ));
                }
                _ => platform::open_for_update(&target.path, create, mode)?,
            };
            let meta = out.metadata()?;
            if !meta.is_file() || existing.is_some_and(|id| id != platform::file_id(&meta)) {
                return Err(io::Error::other(
                    "another file was put at its name since it was checked; nothing was written",
                ));
            }
            if let Some((uid, gid)) = give_to {
                platform::set_owner(&out, uid, gid)?;
            }
            match locking {
                TargetLocking::Held => {}
                TargetLocking::Wait => out.lock()?,
                TargetLocking::NoWait => match out.try_lock() {
                    Ok(()) => {}
                    Err(std::fs::TryLockError::WouldBlock) => return Err(target_busy()),
                    Err(std::fs::TryLockError::Error(e)) => return Err(e),
                },
            }
            Ok(out)
        })
        .map_err(|e| {
            if no_clobber && e.source.kind() == io::ErrorKind::AlreadyExists {
                // Nothing was written to the target: drop the journal so no one replays it,
                // from the directory it was checked in (held), never by a path that may name
                // another directory since.
                let _ = match (&beside_dir, journal.file_name()) {
                    (Some(dir), Some(name)) => platform::remove_in(dir, name),
                    _ => std::fs::remove_file(journal),
                };
                Error::Exists {
                    path: target.path.clone(),
                }
            } else {
                Error::step(e, pending)
            }
        })?;
    tracker
        .run(Step::WriteTarget, &target.path, || {
            let mut reader = ReadAt::new(journal_file, HEADER_LEN);
            let mut buf = vec![0u8; CHUNK];
            let mut offset = 0u64;
            while offset < header.len {
                let want = usize::try_from(header.len - offset)
                    .unwrap_or(CHUNK)
                    .min(CHUNK);
                reader.read_exact(&mut buf[..want])?;
                platform::write_all_at(&out, &buf[..want], offset)?;
                offset += want as u64;
            }
            Ok(())
        })
        .failure_leaves(pending)?;
    tracker
        .run(Step::Truncate, &target.path, || out.set_len(header.len))
        .failure_leaves(pending)?;
    if script.has(Step::Metadata) {
        // open(2) applied the umask; the recorded bits are what the user asked for.
        tracker
            .run(Step::Metadata, &target.path, || {
                platform::set_mode(&out, mode)
            })
            .failure_leaves(pending)?;
    }
    if script.has(Step::SyncTarget) {
        tracker
            .run(Step::SyncTarget, &target.path, || {
                platform::sync_file(&out, sync)
            })
            .failure_leaves(pending)?;
    }
    if script.has(Step::Verify) {
        let matches = tracker
            .run(Step::Verify, &target.path, || {
                let mut hasher = Sha256::new();
                let len = hash_file(&out, &mut hasher)?;
                Ok(len == header.len && hasher.finalize()[..] == header.sha256)
            })
            .failure_leaves(pending)?;
        if !matches {
            return Err(Error::VerifyMismatch {
                path: target.path.clone(),
                aftermath: pending,
            });
        }
    }
    tracker
        .run(Step::CloseTarget, &target.path, || platform::close(out))
        .failure_leaves(pending)?;
    if script.has(Step::SyncDirTarget) {
        // The new name must be durable before the journal that could recreate it goes away.
        tracker
            .run(Step::SyncDirTarget, &target.dir, || match &beside_dir {
                Some(dir) => platform::sync_file(dir, SyncLevel::Full),
                None => platform::sync_dir(&target.dir, sync),
            })
            .failure_leaves(pending)?;
    }
    tracker
        .run(Step::RemoveJournal, journal, || {
            match (&beside_dir, journal.file_name()) {
                (Some(dir), Some(name)) => platform::remove_in(dir, name),
                _ => std::fs::remove_file(journal),
            }
        })
        .failure_leaves(Aftermath::Unconfirmed)?;
    if script.has(Step::SyncDirFinal) {
        // The journal's directory: the target's, unless it was reached through a link.
        let dir = dir_of(journal);
        tracker
            .run(Step::SyncDirFinal, &dir, || match &beside_dir {
                Some(open) => platform::sync_file(open, SyncLevel::Full),
                None => platform::sync_dir(&dir, sync),
            })
            .failure_leaves(Aftermath::Unconfirmed)?;
    }
    Ok(())
}

/// Feed a whole file (from offset 0) to a hasher; returns its length.
pub(crate) fn hash_file(file: &File, hasher: &mut impl Digest) -> io::Result<u64> {
    let mut reader = ReadAt::new(file, 0);
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
}

/// Sequential reads with `pread`, leaving the file's own offset alone.
pub(crate) struct ReadAt<'f> {
    file: &'f File,
    offset: u64,
}

impl<'f> ReadAt<'f> {
    pub(crate) fn new(file: &'f File, offset: u64) -> Self {
        ReadAt { file, offset }
    }
}

impl Read for ReadAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = platform::read_at(self.file, buf, self.offset)?;
        self.offset += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_detects_damage() {
        let header = Header {
            len: 1234,
            sha256: [7; 32],
            mode: 0o640,
            force_mode: true,
        };
        let bytes = header.encode();
        assert_eq!(Header::decode(&bytes), Some(header));
        for i in 0..bytes.len() {
            let mut damaged = bytes;
            damaged[i] ^= 0x10;
            assert_eq!(
                Header::decode(&damaged),
                None,
                "flip in byte {i} not caught"
            );
        }
        assert_eq!(Header::decode(&[0; 64]), None);
    }

    /// Guards: the file written is the one decided on. A symlink (to a file the applier may
    /// write, as root may any) or another file put at the target's name after the decision is
    /// not written, nor is a file created where none was decided on; the journal is kept.
    #[test]
    fn a_file_swapped_in_after_the_decision_is_not_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target_path = dir.path().join("t");
        let other = dir.path().join("other");
        let journal = dir.path().join(".t.durable-journal");
        let content = b"new";
        let header = Header {
            len: content.len() as u64,
            sha256: Sha256::digest(content).into(),
            mode: 0o644,
            force_mode: false,
        };
        let mut bytes = header.encode().to_vec();
        bytes.extend_from_slice(content);
        std::fs::write(&journal, &bytes).expect("journal");
        let file = File::open(&journal).expect("open");
        let target = crate::target::named(&target_path).expect("target");
        let how = Apply {
            sync: SyncLevel::None,
            verify: false,
            no_clobber: false,
            locking: TargetLocking::NoWait,
        };
        for case in ["symlink", "another file", "appeared"] {
            std::fs::write(&other, b"other").expect("other");
            let _ = std::fs::remove_file(&target_path);
            if case != "appeared" {
                std::fs::write(&target_path, b"old").expect("target");
            }
            let plan = plan_apply(&file, &header, &journal, &target_path, None).expect("plan");
            // Moved away, not removed: a removed file's inode number may be given at once to
            // the next file made.
            let _ = std::fs::rename(&target_path, dir.path().join("moved"));
            match case {
                "another file" => std::fs::write(&target_path, b"swapped").expect("swap"),
                _ => std::os::unix::fs::symlink(&other, &target_path).expect("symlink"),
            }
            let mut quiet = ();
            let result = apply_planned(
                &file,
                &header,
                plan,
                &journal,
                &target,
                how,
                &mut Tracker::new(&mut quiet),
            );
            assert!(result.is_err(), "{case}: written");
            assert_eq!(std::fs::read(&other).expect("read"), b"other", "{case}");
            if case == "another file" {
                assert_eq!(std::fs::read(&target_path).expect("read"), b"swapped");
            }
            assert!(journal.exists(), "{case}: the journal is kept");
        }
    }
}
