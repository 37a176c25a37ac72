//! `durable save`: replace a file's content so that a crash at any moment leaves either the old
//! or the new content, by one of three strategies (atomic rename, in place, journaled in place).
//!
//! The steps a save runs come from one list, [`crate::plan`]'s script, which `--explain` prints;
//! a test checks that the steps a save performs are the steps its plan listed.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::disk::{Create, IfLocked, NewFile, OnExisting, SyncLevel, TempFile};
use crate::error::{Aftermath, Error, FailedStep, Result};
use crate::input::{FileInput, Input};
use crate::journal::{self, CHUNK, HEADER_LEN, Header, ReadAt, Settled};
use crate::meta;
use crate::plan;
use crate::platform;
use crate::step::{Observer, Script, Step, StepError, StepRecord, Tracker};
use crate::target::{self, Symlinks, Target};

/// How the new content replaces the old.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Temporary file in the target's directory, flushed, closed, renamed over the target, and
    /// the directory flushed. Crash-atomic; gives the target a new inode.
    #[default]
    Atomic,
    /// Write over the existing file. Keeps the inode (hard links, bind mounts, watchers); not
    /// crash-atomic on its own.
    InPlace,
    /// In place, but the new content is first written and flushed to a journal next to the
    /// target, so an interrupted write is completed by the next save (or `durable recover`).
    Journal,
}

impl Strategy {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Atomic => "atomic",
            Strategy::InPlace => "in-place",
            Strategy::Journal => "journal",
        }
    }
}

/// What to do with a target that has several hard links (atomic strategy only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HardLinks {
    /// Refuse, naming the choices.
    #[default]
    Refuse,
    /// Replace only this name; the other names keep the old content.
    Break,
}

/// Options of a save.
#[derive(Debug, Clone, Default)]
pub struct SaveOptions {
    /// How to replace the content.
    pub strategy: Strategy,
    /// How hard to flush.
    pub sync: SyncLevel,
    /// Permission bits for the file; default: the existing file's, or `0666 & ~umask`.
    pub mode: Option<u32>,
    /// Replace a symlink at the target itself instead of writing through it.
    pub no_follow: bool,
    /// What to do with a hard-linked target.
    pub hardlinks: HardLinks,
    /// Fail if the target exists.
    pub no_clobber: bool,
    /// Keep the previous version as `TARGET.bak`.
    pub backup: bool,
    /// Leave the target alone (not even its mtime) when the new content equals the old and the
    /// metadata asked for (`mode`) is already the target's.
    pub if_changed: bool,
    /// Replace a non-empty target with empty content; without it, empty input is refused
    /// ([`Error::EmptyInput`]), since an empty file is the outcome this crate exists to prevent.
    pub allow_empty: bool,
    /// Re-read what was written and compare before reporting success.
    pub verify: bool,
    /// Fail at once ([`Error::TargetLocked`], [`Error::Busy`]) instead of waiting when another
    /// save of the target is in progress.
    pub no_wait: bool,
}

/// What a save did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOutcome {
    /// The new content is in place (and flushed, at the chosen sync level).
    Written,
    /// [`SaveOptions::if_changed`] found the content identical; nothing was written.
    Unchanged,
}

impl SaveOutcome {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            SaveOutcome::Written => "written",
            SaveOutcome::Unchanged => "unchanged",
        }
    }
}

/// The result of a successful save.
#[derive(Debug, Clone)]
pub struct SaveReport {
    /// The resolved target.
    pub target: Target,
    /// The strategy used.
    pub strategy: Strategy,
    /// The sync level used.
    pub sync: SyncLevel,
    /// Bytes of new content.
    pub bytes: u64,
    /// Written or unchanged.
    pub outcome: SaveOutcome,
    /// The target did not exist before.
    pub created: bool,
    /// Where the previous version was kept ([`SaveOptions::backup`]).
    pub backup: Option<PathBuf>,
    /// A leftover journal that was settled first.
    pub settled: Option<Settled>,
    /// Every step performed, in order, with its duration.
    pub steps: Vec<StepRecord>,
    /// Things the user should know that did not stop the save.
    pub warnings: Vec<String>,
}

/// Resolve the target and check it against the options: what both [`plan`] and [`save`] do
/// before anything else.
pub(crate) fn prepare(given: &Path, opts: &SaveOptions) -> Result<Target> {
    let target = target::resolve(
        given,
        if opts.no_follow {
            Symlinks::Replace
        } else {
            Symlinks::FollowProtected("save")
        },
    )?;
    if target.existing.is_some()
        && let Some(protection) = target::protection(&target.path)
    {
        // Every strategy fails on such a file (rename over it, or open it for writing), the
        // atomic one only after reading all the input: say so before reading any.
        return Err(Error::Protected {
            path: target.path,
            protection,
            why: "no strategy of durable save can replace or rewrite its content",
        });
    }
    // An in-place save of an existing file without a backup changes no name: it is not asked.
    let renames_nothing =
        opts.strategy == Strategy::InPlace && target.existing.is_some() && !opts.backup;
    if !renames_nothing
        && let Some(protection) = target::protection(&target.dir)
        && let Some(why) = dir_refusal(&target, opts, protection)
    {
        // An append-only directory lets a file be created in it but never renamed or removed:
        // the temporary file would be left behind; an immutable one refuses even the create.
        return Err(Error::Protected {
            path: target.dir,
            protection,
            why,
        });
    }
    if opts.backup && target.existing.is_some() {
        let bak = backup_path(&target);
        if let Some(protection) = target::protection(&bak) {
            // The backup is renamed over it, which its attribute forbids.
            return Err(Error::Protected {
                path: bak,
                protection,
                why: "it is the file's backup, which --backup replaces",
            });
        }
        if opts.strategy == Strategy::InPlace
            && let Err(source) = platform::check_writable(&target.dir)
        {
            // In place needs only the file, but its backup is made in the directory: say so
            // now rather than after the input was read.
            return Err(Error::BackupDirNotWritable {
                file_writable: platform::may_write(&target.path),
                dir: target.dir,
                path: target.path,
                backup: bak,
                source,
            });
        }
    }
    if opts.strategy != Strategy::Atomic && target.replaces_symlink {
        return Err(Error::SymlinkInPlace { path: target.path });
    }
    if opts.no_clobber && (target.existing.is_some() || target.replaces_symlink) {
        return Err(Error::Exists { path: target.path });
    }
    if opts.strategy == Strategy::Atomic
        && opts.hardlinks == HardLinks::Refuse
        && let Some(existing) = target.existing.filter(|e| e.links > 1)
    {
        return Err(Error::HardLinked {
            path: target.path,
            links: existing.links,
        });
    }
    if opts.strategy == Strategy::Journal {
        journal::path_for(&target)?;
    }
    Ok(target)
}

/// Why a directory with `protection` refuses the save, if it does: the atomic strategy creates
/// and renames its temporary file, the journal strategy creates, renames and removes its
/// journal, and `--backup` creates its copy and renames it to `TARGET.bak`, which an
/// append-only directory (create only) and an immutable one (nothing) forbid; an in-place save
/// of a new target creates the file, which only an immutable directory forbids. An in-place save
/// of an existing target without `--backup` changes no name.
fn dir_refusal(
    target: &Target,
    opts: &SaveOptions,
    protection: target::Protection,
) -> Option<&'static str> {
    let exists = target.existing.is_some();
    if protection == target::Protection::Immutable {
        return match opts.strategy {
            _ if opts.backup && exists => Some(
                "--backup would create its copy of the file there, and nothing can be created in an immutable directory",
            ),
            Strategy::Atomic if exists => Some(
                "the atomic strategy would create a temporary file there, and nothing can be created in an immutable directory (--strategy in-place creates nothing)",
            ),
            Strategy::Atomic => Some(
                "the atomic strategy would create a temporary file there, and nothing can be created in an immutable directory",
            ),
            Strategy::Journal if exists => Some(
                "the journal strategy would create its journal there, and nothing can be created in an immutable directory (--strategy in-place creates nothing)",
            ),
            Strategy::Journal => Some(
                "the journal strategy would create its journal there, and nothing can be created in an immutable directory",
            ),
            Strategy::InPlace if exists => None,
            Strategy::InPlace => Some(
                "the file does not exist yet, and nothing can be created in an immutable directory",
            ),
        };
    }
    match opts.strategy {
        _ if opts.backup && exists => Some(
            "--backup would copy the file to a temporary file there and could neither rename it to the .bak name nor remove it",
        ),
        Strategy::Atomic if exists => Some(
            "the atomic strategy would create a temporary file there and could neither rename it over the file nor remove it (--strategy in-place renames nothing)",
        ),
        Strategy::Atomic => Some(
            "the atomic strategy would create a temporary file there and could neither rename it to the new name nor remove it",
        ),
        Strategy::Journal if exists => Some(
            "the journal strategy would create its journal there and could neither rename nor remove it (--strategy in-place renames nothing)",
        ),
        Strategy::Journal => Some(
            "the journal strategy would create its journal there and could neither rename nor remove it",
        ),
        Strategy::InPlace => None,
    }
}

/// What the rename does when the target's name is taken: `--no-clobber` fails.
fn on_existing(opts: &SaveOptions) -> OnExisting {
    if opts.no_clobber {
        OnExisting::Fail
    } else {
        OnExisting::Replace
    }
}

/// What to do when another save holds the target's lock: `--no-wait` fails.
fn if_locked(opts: &SaveOptions) -> IfLocked {
    if opts.no_wait {
        IfLocked::Fail
    } else {
        IfLocked::Wait
    }
}

/// Whether `--if-changed` may leave the target alone when the content is the same: not when
/// `--mode` asks for permission bits the file does not have (that is a change too).
pub(crate) fn may_skip_unchanged(opts: &SaveOptions, target: &Target) -> bool {
    opts.if_changed
        && target
            .existing
            .is_some_and(|e| opts.mode.is_none_or(|m| m == e.mode))
}

/// Refuse to replace a non-empty target with empty content unless `--allow-empty` (checked
/// once the input has ended, before anything is committed).
fn check_not_emptied(
    opts: &SaveOptions,
    target: &Target,
    len: u64,
    input: &dyn Input,
) -> Result<()> {
    match target.existing {
        Some(existing) if len == 0 && existing.len > 0 && !opts.allow_empty => {
            Err(Error::EmptyInput {
                path: target.path.clone(),
                input: input.describe(),
                old_len: existing.len,
            })
        }
        _ => Ok(()),
    }
}

/// The path of the backup of `target`.
pub(crate) fn backup_path(target: &Target) -> PathBuf {
    let mut name = target.name.clone();
    name.push(".bak");
    crate::disk::in_dir(&target.dir, name)
}

/// Save the content of `input` to `given`.
pub fn save(
    given: &Path,
    input: &mut dyn Input,
    opts: &SaveOptions,
    observer: &mut dyn Observer,
) -> Result<SaveReport> {
    let mut tracker = Tracker::new(observer);
    // A producer's output is read whole before an in-place save touches anything (it can still
    // fail after its last byte), and before the target's lock is taken: a slow producer must
    // not hold other saves of the target off.
    let mut spooled;
    let input: &mut dyn Input = if opts.strategy == Strategy::InPlace && input.can_veto() {
        // Refusals that need no input come first (a missing directory, a protected target).
        prepare(given, opts)?;
        spooled = spool(input)?;
        &mut spooled
    } else {
        input
    };
    let mut settled = None;
    let mut changes = 0;
    loop {
        let target = prepare(given, opts)?;
        // In place, the target is written where it is: its lock is held for the whole save, so
        // saves in place of one file take turns (docs/DURABILITY.md, "Locking").
        let lock = if plan::locks_target(&target, opts) {
            match lock_target(&target, if_locked(opts), &mut tracker)? {
                Some(lock) => Some(lock),
                // Replaced or removed while we waited: look again.
                None => continue,
            }
        } else {
            None
        };
        // Listed once the lock is held: a journal may have been left while we waited for it.
        let script = plan::script(&target, opts);
        if script.has(Step::SettleJournal) {
            match settle_leftover(&target, opts, locking(&lock), &mut tracker) {
                // Replaying may have created the target or changed it: look again.
                Ok(Some(done)) => {
                    settled = Some(done);
                    continue;
                }
                Ok(None) => {}
                Err(Error::Busy { journal, .. }) if !opts.no_wait => {
                    // Another save holds the journal: wait for it with nothing held (it may
                    // need the target's lock to finish), then start again.
                    drop(lock);
                    wait_for_journal(&journal, &mut tracker)?;
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        let mut report = SaveReport {
            created: target.existing.is_none(),
            target,
            strategy: opts.strategy,
            sync: opts.sync,
            bytes: 0,
            outcome: SaveOutcome::Written,
            backup: None,
            settled: settled.clone(),
            steps: Vec::new(),
            warnings: Vec::new(),
        };
        let held = locking(&lock);
        let done = match opts.strategy {
            Strategy::Atomic => {
                save_atomic(input, opts, &script, &mut tracker, &mut report).map(|()| true)
            }
            Strategy::InPlace => save_in_place(input, opts, &script, &mut tracker, &mut report),
            Strategy::Journal => {
                save_journal(input, opts, &script, held, &mut tracker, &mut report)
            }
        };
        match done {
            Ok(true) => {
                drop(lock);
                report.steps = tracker.records;
                return Ok(report);
            }
            // Another save created the target first: it is an existing one now.
            Ok(false) => continue,
            Err(Error::Busy { journal, .. }) if !opts.no_wait => {
                drop(lock);
                wait_for_journal(&journal, &mut tracker)?;
            }
            // Renamed over or removed between resolving it and opening it (another save's
            // rename, say), before any input was read: look again, a few times.
            Err(Error::TargetChanged { .. }) if changes < MAX_CHANGES => {
                changes += 1;
                drop(lock);
            }
            Err(e) => return Err(e),
        }
    }
}

/// How many times a save looks again at a target that changed between resolving and opening it
/// before it gives up ([`Error::TargetChanged`]).
const MAX_CHANGES: u32 = 8;

/// Whether a step that writes the target in place must take its lock: not when this save
/// already holds it.
fn locking(lock: &Option<TargetLock>) -> journal::TargetLocking {
    match lock {
        Some(_) => journal::TargetLocking::Held,
        None => journal::TargetLocking::Wait,
    }
}

/// The lock of a save in place on its target: `flock` on a descriptor of the target's inode,
/// released when dropped.
struct TargetLock(#[allow(dead_code)] File);

/// Take the target's lock, waiting for another save in place (or a program that holds a
/// `flock` on it) as `if_locked` says. `Ok(None)`: the path no longer names the file that was
/// locked (replaced or removed meanwhile), so the caller looks again.
fn lock_target(
    target: &Target,
    if_locked: IfLocked,
    t: &mut Tracker<'_>,
) -> Result<Option<TargetLock>> {
    let path = &target.path;
    let started = t
        .start(Step::LockTarget, path)
        .failure_leaves(Aftermath::Unchanged)?;
    let failed = |source| Error::Step {
        step: Step::LockTarget,
        path: path.clone(),
        aftermath: Aftermath::Unchanged,
        source,
    };
    let file = match platform::open_to_lock(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(failed(e)),
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) if if_locked == IfLocked::Fail => {
            return Err(Error::TargetLocked { path: path.clone() });
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            t.waiting(path);
            file.lock().map_err(failed)?;
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(failed(e)),
    }
    if !platform::is_at_path(&file, path) {
        return Ok(None);
    }
    t.finish(Step::LockTarget, path, started);
    Ok(Some(TargetLock(file)))
}

/// Settle the journal an interrupted save left, as the single step `settle-journal` (which is
/// what `--explain` lists; its own steps still honour the fault switch). `Ok(None)`: it was
/// gone. A journal another save holds is [`Error::Busy`], never "could not finish".
fn settle_leftover(
    target: &Target,
    opts: &SaveOptions,
    locking: journal::TargetLocking,
    t: &mut Tracker<'_>,
) -> Result<Option<Settled>> {
    let started = t
        .start(Step::SettleJournal, &target.path)
        .failure_leaves(Aftermath::Unchanged)?;
    let mut quiet = ();
    let Some(journal) = journal::leftover_for(target)? else {
        t.finish(Step::SettleJournal, &target.path, started);
        return Ok(None);
    };
    // Another hard link's journal is applied to the name it is beside (the same file).
    let named;
    let settled_target = match journal::beside_name(&journal) {
        Some(name) if name != target.path => {
            named = crate::target::named(&name)?;
            &named
        }
        _ => target,
    };
    crate::disk::mark_settling(true);
    // Decided as `recover` decides (the one rule, in journal::decide): through the path given
    // when it was a symlink followed to the target.
    let settled = journal::settle_via(
        settled_target,
        &journal,
        target.via_symlink.then_some(target.given.as_path()),
        opts.sync,
        locking,
        &mut journal::Rivals::default(),
        &mut Tracker::new(&mut quiet),
    );
    crate::disk::mark_settling(false);
    let settled = settled.map_err(|source| match source {
        Error::Busy { .. } | Error::TargetLocked { .. } => source,
        _ => Error::Settle {
            target: target.path.clone(),
            source: Box::new(source),
        },
    })?;
    t.finish(Step::SettleJournal, &target.path, started);
    Ok(settled)
}

/// Wait until no process holds the journal's lock (the save it belongs to has finished).
fn wait_for_journal(journal: &Path, t: &mut Tracker<'_>) -> Result<()> {
    let file = match File::open(journal) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::Inspect {
                path: journal.to_path_buf(),
                source,
            });
        }
    };
    if file.try_lock().is_err() {
        t.waiting(journal);
        file.lock().map_err(|source| Error::Inspect {
            path: journal.to_path_buf(),
            source,
        })?;
    }
    Ok(())
}

fn save_atomic(
    input: &mut dyn Input,
    opts: &SaveOptions,
    script: &Script,
    t: &mut Tracker<'_>,
    report: &mut SaveReport,
) -> Result<()> {
    let target = &report.target;
    let old = open_existing(target)?;
    let mut new = NewFile::create(t, &target.dir, &target.name)
        .map_err(|e| not_writable(e, target, "a temporary file", opts))?;
    let compare = old.as_ref().filter(|_| may_skip_unchanged(opts, target));
    let pumped = {
        let mut file = new.file();
        let to = WriteStep {
            step: Step::WriteTemp,
            path: new.path(),
            hash: verify_hash(opts),
            written: Written::Unseen,
        };
        write_step(t, to, input, compare, |_, chunk, _| file.write_all(chunk))?
    };
    input.finish()?;
    report.bytes = pumped.len;
    if pumped.identical {
        report.outcome = SaveOutcome::Unchanged;
        return Ok(()); // dropping `new` removes the temporary file
    }
    check_not_emptied(opts, target, pumped.len, input)?;
    let mode = meta::final_mode(opts.mode, target.existing.as_ref());
    let from = old.as_ref().zip(target.existing.as_ref());
    t.run(Step::Metadata, new.path(), || {
        meta::apply(new.file(), from, mode, &mut report.warnings)
    })
    .failure_leaves(Aftermath::Unchanged)?;
    new.sync(t, opts.sync)
        .failure_leaves(Aftermath::Unchanged)?;
    if script.has(Step::Verify) {
        verify_step(t, new.file(), new.path(), &pumped, Aftermath::Unchanged)?;
    }
    new.close(t).failure_leaves(Aftermath::Unchanged)?;
    if script.has(Step::Backup)
        && let Some(old) = &old
    {
        report.backup = Some(backup_copy(target, old, opts.sync, t, &mut report.warnings)?.0);
    }
    // Marked committed before the rename's mark is cleared: a signal between the two finds
    // one of them set.
    crate::disk::mark_renaming(true);
    let renamed = new.rename(t, &target.path, on_existing(opts));
    if renamed.is_ok() {
        crate::disk::mark_committed();
    }
    crate::disk::mark_renaming(false);
    if let Err(e) = renamed {
        let error = match e.source.kind() {
            io::ErrorKind::AlreadyExists if opts.no_clobber => Error::Exists {
                path: target.path.clone(),
            },
            _ if e.source.raw_os_error() == Some(platform::errno::EPERM) => {
                // Not a permission bit (that is EACCES): most likely the directory became
                // append-only or immutable after it was checked.
                match target::protection(&target.dir) {
                    Some(protection) => Error::Protected {
                        path: target.dir.clone(),
                        protection,
                        why: "the temporary file could not be renamed over the file there",
                    },
                    None => Error::step(e, Aftermath::Unchanged),
                }
            }
            _ => Error::step(e, Aftermath::Unchanged),
        };
        // What forbade the rename may forbid removing the temporary file too: then say where
        // it is, rather than leave it unmentioned.
        return Err(match new.discard() {
            Ok(()) => error,
            Err((temp, source)) => Error::TempLeftBehind {
                error: Box::new(error),
                temp,
                source,
            },
        });
    }
    crate::disk::mark_committed();
    new.sync_dir(t, opts.sync)
        .failure_leaves(Aftermath::Unconfirmed)
}

fn save_in_place(
    input: &mut dyn Input,
    opts: &SaveOptions,
    script: &Script,
    t: &mut Tracker<'_>,
    report: &mut SaveReport,
) -> Result<bool> {
    let target = report.target.clone();
    let created = target.existing.is_none();
    let mode = meta::final_mode(opts.mode, target.existing.as_ref());
    let opened = t.run(Step::OpenTarget, &target.path, || {
        if created {
            // A new target is ours until it is complete: created exclusively (0600 until
            // its content is in), locked, and removed on any failure or interrupt before
            // that.
            let temp = TempFile::create_target(target.path.clone())?;
            match temp.file().try_lock() {
                Ok(()) => Ok(InPlace::New(temp)),
                Err(std::fs::TryLockError::WouldBlock) => {
                    // Another save locked it in the instant after we created it, and writes
                    // it whole: it is not ours to remove any more; we go after it.
                    let (_, file) = temp.keep();
                    let file = file.ok_or_else(|| io::Error::other("the new file was closed"))?;
                    file.lock()?;
                    Ok(InPlace::Existing(file))
                }
                Err(std::fs::TryLockError::Error(e)) => Err(e),
            }
        } else {
            platform::open_for_update(&target.path, Create::Never, mode).map(InPlace::Existing)
        }
    });
    let out = match opened {
        Ok(out) => out,
        // Another save created it after we looked: unless it must not exist, it is an
        // existing target now, saved under its lock.
        Err(e) if e.source.kind() == io::ErrorKind::AlreadyExists && !opts.no_clobber => {
            return Ok(false);
        }
        Err(e) if e.source.kind() == io::ErrorKind::AlreadyExists => {
            return Err(Error::Exists {
                path: target.path.clone(),
            });
        }
        // A symlink or nothing at the name now: not the file that was checked (and locked).
        Err(e)
            if !created
                && (e.source.raw_os_error() == Some(platform::errno::ELOOP)
                    || e.source.kind() == io::ErrorKind::NotFound) =>
        {
            return Err(changed_or(&target, e.source));
        }
        Err(e) => {
            return Err(Error::step(e, Aftermath::Unchanged).or_protected(
                "the file does not exist yet, and nothing can be created in an immutable directory",
            ));
        }
    };
    if let InPlace::Existing(file) = &out
        && !created
    {
        // Written (and backed up) only if it is the file that was checked and locked.
        check_same(&target, file)?;
    }
    // Which file a new target is, to tell whether a failure could remove it again.
    let made = match &out {
        InPlace::New(temp) => temp.file().metadata().ok().map(|m| platform::dev_ino(&m)),
        InPlace::Existing(_) => None,
    };
    let done = write_in_place(out, input, opts, script, t, report, mode);
    match (done, made) {
        (Err(error), Some(made)) if error.aftermath() == Aftermath::Unchanged => {
            Err(left_behind(error, &target, made))
        }
        (done, _) => done,
    }
}

/// A failed in-place save of a new target removed the file it had created (dropping it does):
/// if that file is still there (an append-only directory refuses the removal), the error says
/// so, naming it and saying what it holds.
fn left_behind(error: Error, target: &Target, made: (u64, u64)) -> Error {
    match std::fs::symlink_metadata(&target.path) {
        Ok(meta) if platform::dev_ino(&meta) == made => Error::NewTargetLeftBehind {
            error: Box::new(error),
            path: target.path.clone(),
            len: meta.len(),
            mode: platform::owner_mode_links(&meta).2,
            why: target::protection(&target.dir)
                .map(|p| format!("its directory is {}", p.describe())),
        },
        _ => error,
    }
}

/// The steps of an in-place save after `open-target`. A new target (`out` is
/// [`InPlace::New`]) is removed when `out` is dropped on failure.
fn write_in_place(
    out: InPlace,
    input: &mut dyn Input,
    opts: &SaveOptions,
    script: &Script,
    t: &mut Tracker<'_>,
    report: &mut SaveReport,
    mode: u32,
) -> Result<bool> {
    let target = report.target.clone();
    // What a failure leaves: a new target is removed (nothing changed); an existing one may hold
    // a mix of old and new bytes.
    let fresh = matches!(out, InPlace::New(_));
    let broken = if fresh {
        Aftermath::Unchanged
    } else {
        Aftermath::Damaged
    };
    let file = out.file();
    let compare = may_skip_unchanged(opts, &target).then_some(file);
    // `--backup` is made inside write-target, just before the first write to the target: before
    // the first chunk written (without `--if-changed`, every chunk is written, identical or
    // not; with it, the first chunk that differs from what is there), or, when no chunk was
    // written, before the truncate. A save refused for empty input or with nothing to change
    // (`--if-changed`) never reaches it and leaves TARGET.bak as it was. The backup is copied
    // from `file`, the target as it was opened and checked, with `pread`.
    let wants_backup = script.has(Step::Backup) && !fresh;
    let mut backup: Option<PathBuf> = None;
    let mut nested = std::time::Duration::ZERO;
    let mut backup_failed: Option<Error> = None;
    // Whether a byte of an existing target was (or may have been) written: chunks identical to
    // what is there are skipped, so an input that fails after them has changed nothing.
    let mut touched = false;
    let started = t
        .start(Step::WriteTarget, &target.path)
        .failure_leaves(Aftermath::Unchanged)?;
    let total = input.len_hint();
    let pumped = {
        // The progress callback and the backup both report to the tracker, one at a time.
        let tracker = std::cell::RefCell::new(&mut *t);
        pump(
            input,
            total,
            compare,
            verify_hash(opts),
            &mut |done| tracker.borrow_mut().progress(done, total),
            |offset, chunk, identical_so_far| {
                if identical_so_far {
                    return Ok(()); // the bytes are already there
                }
                if wants_backup && backup.is_none() {
                    match backup_copy(
                        &target,
                        file,
                        opts.sync,
                        &mut tracker.borrow_mut(),
                        &mut report.warnings,
                    ) {
                        Ok((bak, took)) => {
                            backup = Some(bak);
                            nested = took;
                        }
                        Err(e) => {
                            backup_failed = Some(e);
                            return Err(io::Error::other("the backup failed"));
                        }
                    }
                }
                if !fresh {
                    touched = true;
                    crate::disk::mark_touched();
                }
                platform::write_all_at(file, chunk, offset)
            },
        )
    };
    if let Some(e) = backup_failed {
        return Err(e); // before the first write: the target is unchanged
    }
    let written = if touched {
        Written::InPlace
    } else {
        Written::Unseen
    };
    let pumped = pumped.map_err(|failure| {
        write_failure(failure, Step::WriteTarget, &target.path, input, written)
    })?;
    input.finish()?;
    report.bytes = pumped.len;
    if pumped.identical {
        t.finish(Step::WriteTarget, &target.path, started);
        report.outcome = SaveOutcome::Unchanged;
        return Ok(true);
    }
    // Empty input wrote nothing, so the target is still whole here.
    check_not_emptied(opts, &target, pumped.len, input)?;
    if wants_backup && backup.is_none() {
        // No chunk was written (every one was already there): the truncate (or --mode) is the
        // first change.
        let (bak, took) = backup_copy(&target, file, opts.sync, t, &mut report.warnings)?;
        backup = Some(bak);
        nested = took;
    }
    report.backup = backup;
    // The backup, timed as a step of its own, is not counted twice.
    t.finish_without(Step::WriteTarget, &target.path, started, nested);
    if !fresh {
        crate::disk::mark_touched();
    }
    t.run(Step::Truncate, &target.path, || file.set_len(pumped.len))
        .failure_leaves(broken)?;
    if script.has(Step::Metadata) {
        t.run(Step::Metadata, &target.path, || {
            platform::set_mode(file, mode)
        })
        .failure_leaves(broken)?;
    }
    if script.has(Step::SyncTarget) {
        t.run(Step::SyncTarget, &target.path, || {
            platform::sync_file(file, opts.sync)
        })
        .failure_leaves(broken)?;
    }
    if script.has(Step::Verify) {
        verify_step(t, file, &target.path, &pumped, broken)?;
    }
    t.run(Step::CloseTarget, &target.path, || out.close())
        .failure_leaves(if fresh {
            Aftermath::Unchanged
        } else {
            Aftermath::Unconfirmed
        })?;
    // Written and closed (a new target is kept from here): only the directory's flush is left.
    crate::disk::mark_committed();
    if script.has(Step::SyncDirTarget) {
        t.run(Step::SyncDirTarget, &target.dir, || {
            platform::sync_dir(&target.dir, opts.sync)
        })
        .failure_leaves(Aftermath::Unconfirmed)?;
    }
    Ok(true)
}

/// The file an in-place save writes: a target it created (removed unless completed) or the
/// existing one.
enum InPlace {
    New(TempFile),
    Existing(File),
}

impl InPlace {
    fn file(&self) -> &File {
        match self {
            InPlace::New(temp) => temp.file(),
            InPlace::Existing(file) => file,
        }
    }

    /// Close the file, checking the result; a new target is kept from here on.
    fn close(self) -> io::Result<()> {
        match self {
            InPlace::New(mut temp) => {
                temp.close()?;
                temp.keep();
                Ok(())
            }
            InPlace::Existing(file) => platform::close(file),
        }
    }
}

fn save_journal(
    input: &mut dyn Input,
    opts: &SaveOptions,
    script: &Script,
    locking: journal::TargetLocking,
    t: &mut Tracker<'_>,
    report: &mut SaveReport,
) -> Result<bool> {
    let target = report.target.clone();
    let journal_path = journal::path_for(&target)?;
    let old = open_existing(&target)?;
    let mode = meta::final_mode(opts.mode, target.existing.as_ref());
    // The target must be able to take the content once the journal is durable: a journal for a
    // file this process may not write could never be applied, and would hold every later save
    // of it off. Refused here, before anything is written (as in place refuses).
    if target.existing.is_some() {
        platform::check_writable(&target.path).map_err(|source| Error::Step {
            step: Step::OpenTarget,
            path: target.path.clone(),
            aftermath: Aftermath::Unchanged,
            source,
        })?;
    }
    let started = t
        .start(Step::WriteJournal, &journal_path)
        .failure_leaves(Aftermath::Unchanged)?;
    // Locked under a name of its own, then moved to the journal's name: a save settling
    // leftovers must never find the journal unlocked while it is being written (it would take
    // it for an interrupted one and remove it).
    let not_created = |source: io::Error| {
        if source.kind() == io::ErrorKind::AlreadyExists {
            // Another save created it after we settled: it is that save's.
            Error::Busy {
                target: target.path.clone(),
                journal: journal_path.clone(),
            }
        } else {
            let e = StepError {
                step: Step::WriteJournal,
                path: journal_path.clone(),
                source,
            };
            not_writable(e, &target, "the journal", opts)
        }
    };
    let mut journal = TempFile::create_in(&target.dir, &target.name).map_err(not_created)?;
    journal::lock(journal.file(), &target, &journal_path)?;
    journal
        .rename_open(journal_path.clone())
        .map_err(not_created)?;
    let compare = old.as_ref().filter(|_| may_skip_unchanged(opts, &target));
    let file = journal.file();
    let total = input.len_hint();
    let pumped = pump(
        input,
        total,
        compare,
        ContentHash::Sha256,
        &mut |done| t.progress(done, total),
        |offset, chunk, _| platform::write_all_at(file, chunk, HEADER_LEN + offset),
    )
    .map_err(|e| {
        e.into_error(
            Step::WriteJournal,
            &journal_path,
            input,
            Aftermath::Unchanged,
        )
    })?;
    input.finish()?;
    report.bytes = pumped.len;
    if pumped.identical {
        report.outcome = SaveOutcome::Unchanged;
        return Ok(true); // dropping `journal` removes it
    }
    check_not_emptied(opts, &target, pumped.len, input)?;
    // The backup once the save is known to go ahead (the input ended well, it is not empty
    // against the target, it differs), and before the journal's header makes it valid: a
    // refused save leaves TARGET.bak as it was, and a save interrupted before the header is
    // rolled back, with its backup made or not.
    let mut nested = std::time::Duration::ZERO;
    if script.has(Step::Backup)
        && let Some(old) = &old
    {
        let (bak, took) = backup_copy(&target, old, opts.sync, t, &mut report.warnings)?;
        report.backup = Some(bak);
        nested = took;
    }
    let header = Header {
        len: pumped.len,
        sha256: pumped.sha256.unwrap_or_default(),
        mode,
        force_mode: opts.mode.is_some(),
    };
    // The header goes last: until it is written the journal is invalid and would be rolled back.
    platform::write_all_at(file, &header.encode(), 0).map_err(|source| Error::Step {
        step: Step::WriteJournal,
        path: journal_path.clone(),
        aftermath: Aftermath::Unchanged,
        source,
    })?;
    // The backup, timed as a step of its own, is not counted twice.
    t.finish_without(Step::WriteJournal, &journal_path, started, nested);
    if script.has(Step::SyncJournal) {
        t.run(Step::SyncJournal, &journal_path, || {
            platform::sync_file(file, opts.sync)
        })
        .failure_leaves(Aftermath::Unchanged)?;
        t.run(Step::SyncDirJournal, &target.dir, || {
            platform::sync_dir(&target.dir, opts.sync)
        })
        .failure_leaves(Aftermath::Unchanged)?;
    }
    // From here the journal is durable: it must survive any failure so the next save completes.
    let (journal_path, file) = journal.keep();
    crate::disk::mark_committed();
    let Some(file) = file else {
        unreachable!("the journal is closed only by dropping it")
    };
    journal::apply(
        &file,
        &header,
        &journal_path,
        &target,
        journal::Apply {
            sync: opts.sync,
            verify: opts.verify,
            no_clobber: opts.no_clobber,
            locking,
        },
        t,
    )
    .map(|()| true)
    .map_err(|e| journal_kept(e, &target))
}

/// An error applying a save's own journal, which is committed (flushed) by then: it is kept, so
/// whatever stopped the apply, the new content is pending in it (exit 4), never "not changed".
/// A target that appeared meanwhile with `no_clobber` is the one exception: that journal is
/// dropped (nothing was written).
fn journal_kept(e: Error, target: &Target) -> Error {
    match e {
        Error::JournalNotApplied {
            journal,
            target,
            reason,
        } => Error::JournalKept {
            journal,
            target,
            reason,
        },
        Error::Inspect { path, source } => Error::Step {
            step: Step::OpenTarget,
            path,
            aftermath: Aftermath::Pending,
            source,
        },
        Error::Exists { .. } => e,
        e if e.aftermath() == Aftermath::Unchanged => {
            let what = e.to_string();
            Error::Step {
                step: Step::OpenTarget,
                path: target.path.clone(),
                aftermath: Aftermath::Pending,
                source: io::Error::other(what),
            }
        }
        e => e,
    }
}

/// A file that could not be created in the target's directory: when that is for lack of
/// permission, say which strategy needs the directory and whether in place would do.
fn not_writable(e: StepError, target: &Target, what: &'static str, opts: &SaveOptions) -> Error {
    if e.source.kind() != io::ErrorKind::PermissionDenied {
        return Error::step(e, Aftermath::Unchanged);
    }
    Error::DirNotWritable {
        dir: target.dir.clone(),
        path: target.path.clone(),
        what,
        strategy: opts.strategy.name(),
        file_writable: target.existing.is_some() && platform::may_write(&target.path),
        backup: opts.backup && target.existing.is_some(),
        source: e.source,
    }
}

/// Open the current target for reading (its xattrs, the old content for `--if-changed`, and the
/// backup's source): never through a symlink, and only the very file [`prepare`] found there
/// (same device and inode), else [`Error::TargetChanged`]. Everything the save reads of the old
/// file is read from this descriptor, never by its path again: a name swapped meanwhile (for a
/// symlink to a file the user may not read, say) is never read or copied.
fn open_existing(target: &Target) -> Result<Option<File>> {
    if target.existing.is_none() {
        return Ok(None);
    }
    match platform::open_no_follow(&target.path, false) {
        Ok(file) => check_same(target, &file).map(|()| Some(file)),
        Err(source) => Err(changed_or(target, source)),
    }
}

/// [`Error::TargetChanged`] unless `file` is the file [`prepare`] found at the target's path.
fn check_same(target: &Target, file: &File) -> Result<()> {
    let Some(existing) = target.existing else {
        return Ok(());
    };
    let meta = file.metadata().map_err(|source| Error::Inspect {
        path: target.path.clone(),
        source,
    })?;
    if platform::dev_ino(&meta) == (existing.dev, existing.ino) {
        Ok(())
    } else {
        Err(Error::TargetChanged {
            path: target.path.clone(),
            now: "another file has its name now",
        })
    }
}

/// The error of opening the existing target by its path: a symlink there now (`O_NOFOLLOW`
/// refuses it) or no file at all is [`Error::TargetChanged`].
fn changed_or(target: &Target, source: io::Error) -> Error {
    let now = match source.raw_os_error() {
        Some(platform::errno::ELOOP) => "it is a symlink now",
        _ if source.kind() == io::ErrorKind::NotFound => "it was renamed or removed",
        _ => {
            return Error::Inspect {
                path: target.path.clone(),
                source,
            };
        }
    };
    Error::TargetChanged {
        path: target.path.clone(),
        now,
    }
}

/// Copy the file open as `from` (the target, as the save found and checked it) to `TARGET.bak`
/// durably (temp, flush, rename, flush the directory), with its owner, group, extended
/// attributes (ACLs, SELinux labels) and permission bits, as the atomic strategy gives them to
/// its new file: an owner the OS refuses to give away is a warning, an attribute that cannot be
/// copied an error (a backup without the ACL that restricts the file would widen access). The
/// content is read with `pread` from offset 0, so `from` may be the descriptor an in-place save
/// writes through. Returns the backup's path and how long the step took.
fn backup_copy(
    target: &Target,
    from: &File,
    sync: SyncLevel,
    t: &mut Tracker<'_>,
    warnings: &mut Vec<String>,
) -> Result<(PathBuf, std::time::Duration)> {
    let bak = backup_path(target);
    let started = std::time::Instant::now();
    t.run(Step::Backup, &bak, || {
        // One step `backup` for the caller; its parts are the commit sequence of any new file.
        let mut quiet = ();
        let t = &mut Tracker::inner(&mut quiet);
        let mut copy = NewFile::create(t, &target.dir, &target.name).map_err(|e| e.source)?;
        let mut reader = ReadAt::new(from, 0);
        io::copy(&mut reader, &mut copy.file())?;
        let meta = from.metadata()?;
        let (uid, gid, mode, _) = platform::owner_mode_links(&meta);
        // The owner first: chown clears the setuid and setgid bits that the mode may hold.
        match platform::set_owner(copy.file(), uid, gid) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(platform::errno::EPERM) => {
                warnings.push(format!(
                    "could not give the backup {} owner {uid} and group {gid} (not permitted); it is owned by this user",
                    crate::quote::quoted(&bak),
                ));
            }
            Err(e) => return Err(e),
        }
        meta::copy_xattrs(from, copy.file())?;
        platform::set_mode(copy.file(), mode)?;
        copy.seal(t, sync).map_err(|e| e.source)?;
        copy.rename(t, &bak, OnExisting::Replace)
            .map_err(|e| e.source)?;
        copy.sync_dir(t, sync).map_err(|e| e.source)
    })
    .failure_leaves(Aftermath::Unchanged)?;
    Ok((bak, started.elapsed()))
}

/// Read a vetoing input (a producer) to the end into an unnamed temporary file, and check it
/// succeeded, before anything touches the target.
fn spool(input: &mut dyn Input) -> Result<FileInput> {
    // An unnamed file in $TMPDIR, as a stream a log command reads is spooled: nothing to leave
    // behind, and the target's directory need not be writable (in place is the way to save
    // into a directory one may not create files in).
    let dir = std::env::temp_dir();
    let file = platform::anonymous_file(&dir).map_err(|source| Error::Step {
        step: Step::CreateTemp,
        path: dir.clone(),
        aftermath: Aftermath::Unchanged,
        source,
    })?;
    let mut writer = &file;
    let len_hint = input.len_hint();
    pump(
        input,
        len_hint,
        None,
        ContentHash::None,
        &mut |_| {},
        |_, chunk, _| writer.write_all(chunk),
    )
    .map_err(|e| e.into_error(Step::WriteTemp, &dir, input, Aftermath::Unchanged))?;
    input.finish()?;
    let mut reader = file;
    io::Seek::rewind(&mut reader).map_err(|source| Error::Inspect {
        path: dir.clone(),
        source,
    })?;
    Ok(FileInput::spooled(dir, reader, input.describe()))
}

/// What streaming the input produced.
struct Pumped {
    len: u64,
    crc: Option<u32>,
    sha256: Option<[u8; 32]>,
    identical: bool,
}

/// Which side of the stream failed.
enum PumpError {
    Input(io::Error),
    Output(io::Error),
    Compare(io::Error),
}

/// A failed stream and how many bytes had already been handed to the output.
struct PumpFailure {
    error: PumpError,
    at: u64,
}

impl PumpFailure {
    fn into_error(self, step: Step, path: &Path, input: &dyn Input, aftermath: Aftermath) -> Error {
        match self.error {
            PumpError::Input(source) => Error::Input {
                what: input.describe(),
                aftermath,
                source,
            },
            PumpError::Output(source) => Error::Step {
                step,
                path: path.to_path_buf(),
                aftermath,
                source,
            },
            PumpError::Compare(source) => Error::Inspect {
                path: path.to_path_buf(),
                source,
            },
        }
    }
}

/// Which hash of the streamed content to compute.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ContentHash {
    None,
    /// For `--verify` (cheap).
    Crc32,
    /// For a journal's header.
    Sha256,
}

/// The smallest read buffer: the size of std's buffer for standard input, which a read at least
/// this big bypasses (no second copy).
const MIN_BUFFER: usize = 8 << 10;

/// The first read buffer's size for content of `len_hint` bytes: one more than that, so the
/// first read takes it all and the next sees the end, within [`MIN_BUFFER`]..=[`CHUNK`]; of
/// unknown length (a pipe), [`MIN_BUFFER`]. A small save then needs no 1 MiB buffer, which the
/// allocator maps and unmaps (two system calls in every process). [`pump`] doubles the buffer
/// whenever a read fills it, so long content is read in pieces of up to [`CHUNK`] after a few
/// reads (a pipe hands over at most its capacity, 64 KiB by default, per read anyway).
fn buffer_len(len_hint: Option<u64>) -> usize {
    len_hint
        .and_then(|len| usize::try_from(len).ok())
        .map_or(MIN_BUFFER, |len| {
            len.saturating_add(1).clamp(MIN_BUFFER, CHUNK)
        })
}

/// Stream `input` to `out(offset, chunk, identical_so_far)` in bounded chunks, computing the
/// asked-for hash and whether the content so far equals `compare` (for `--if-changed`).
/// `len_hint` is `input.len_hint()`, passed in because asking may cost a system call.
fn pump(
    input: &mut dyn Input,
    len_hint: Option<u64>,
    compare: Option<&File>,
    hash: ContentHash,
    progress: &mut dyn FnMut(u64),
    mut out: impl FnMut(u64, &[u8], bool) -> io::Result<()>,
) -> std::result::Result<Pumped, PumpFailure> {
    let size = buffer_len(len_hint);
    let mut buf = vec![0u8; size];
    let mut old = vec![0u8; if compare.is_some() { size } else { 0 }];
    let mut crc = (hash == ContentHash::Crc32).then(crc32fast::Hasher::new);
    let mut sha = (hash == ContentHash::Sha256).then(Sha256::new);
    let mut identical = compare.is_some();
    let mut len = 0u64;
    let fail = |error, at| PumpFailure { error, at };
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(fail(PumpError::Input(e), len)),
        };
        let chunk = &buf[..n];
        if identical && let Some(old_file) = compare {
            let got = read_full_at(old_file, &mut old[..n], len)
                .map_err(|e| fail(PumpError::Compare(e), len))?;
            identical = got == n && old[..n] == *chunk;
        }
        out(len, chunk, identical).map_err(|e| fail(PumpError::Output(e), len))?;
        if let Some(crc) = &mut crc {
            crc.update(chunk);
        }
        if let Some(sha) = &mut sha {
            sha.update(chunk);
        }
        len += n as u64;
        progress(len);
        if n == buf.len() && n < CHUNK {
            // Longer than announced (a file still being written), or of unknown length: read on
            // in bigger pieces.
            let grown = n.saturating_mul(2).min(CHUNK);
            buf.resize(grown, 0);
            if compare.is_some() {
                old.resize(grown, 0);
            }
        }
    }
    if identical && let Some(old_file) = compare {
        // Identical so far; the old content must also end here.
        let mut probe = [0u8; 1];
        identical = platform::read_at(old_file, &mut probe, len)
            .map_err(|e| fail(PumpError::Compare(e), len))?
            == 0;
    }
    Ok(Pumped {
        len,
        crc: crc.map(crc32fast::Hasher::finalize),
        sha256: sha.map(|s| s.finalize().into()),
        identical,
    })
}

/// What a failed write leaves behind once bytes may have reached its output.
#[derive(Clone, Copy)]
enum Written {
    /// A file no one else sees yet (a temporary file, a target we created), or an existing
    /// target not written to yet (its first chunks were already there): nothing changed.
    Unseen,
    /// The existing target, in place: a mix of old and new bytes.
    InPlace,
}

/// The step that streams the content: which step it is, the file it writes, the hash it
/// computes, and what a failure leaves.
struct WriteStep<'a> {
    step: Step,
    path: &'a Path,
    hash: ContentHash,
    written: Written,
}

/// [`pump`] as a timed step.
fn write_step(
    t: &mut Tracker<'_>,
    to: WriteStep<'_>,
    input: &mut dyn Input,
    compare: Option<&File>,
    out: impl FnMut(u64, &[u8], bool) -> io::Result<()>,
) -> Result<Pumped> {
    let WriteStep {
        step,
        path,
        hash,
        written,
    } = to;
    let started = t.start(step, path).failure_leaves(Aftermath::Unchanged)?;
    let total = input.len_hint();
    let pumped = pump(
        input,
        total,
        compare,
        hash,
        &mut |done| t.progress(done, total),
        out,
    );
    match pumped {
        Ok(pumped) => {
            t.finish(step, path, started);
            Ok(pumped)
        }
        Err(failure) => Err(write_failure(failure, step, path, input, written)),
    }
}

/// The error of a failed write step, with what it leaves.
fn write_failure(
    failure: PumpFailure,
    step: Step,
    path: &Path,
    input: &dyn Input,
    written: Written,
) -> Error {
    // A failed write may have put part of its chunk in place (write_all stops at the first
    // error, after what went before it), so an output error in place is damage even in the
    // first chunk.
    let wrote = failure.at > 0 || matches!(failure.error, PumpError::Output(_));
    let aftermath = match written {
        Written::InPlace if wrote => Aftermath::Damaged,
        _ => Aftermath::Unchanged,
    };
    failure.into_error(step, path, input, aftermath)
}

/// The hash `--verify` compares the content read back with.
fn verify_hash(opts: &SaveOptions) -> ContentHash {
    if opts.verify {
        ContentHash::Crc32
    } else {
        ContentHash::None
    }
}

/// Read until `buf` is full or the file ends; returns the bytes read.
fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match platform::read_at(file, &mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Re-read `file` from the start and compare its length and CR-32 with what was written.
fn verify_step(
    t: &mut Tracker<'_>,
    file: &File,
    path: &Path,
    pumped: &Pumped,
    aftermath: Aftermath,
) -> Result<()> {
    let matches = t
        .run(Step::Verify, path, || {
            let mut reader = ReadAt::new(file, 0);
            let mut buf = vec![0u8; CHUNK];
            let mut crc = crc32fast::Hasher::new();
            let mut len = 0u64;
            loop {
                let n = reader.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                crc.update(&buf[..n]);
                len += n as u64;
            }
            Ok(len == pumped.len && Some(crc.finalize()) == pumped.crc)
        })
        .failure_leaves(aftermath)?;
    if matches {
        Ok(())
    } else {
        Err(Error::VerifyMismatch {
            path: path.to_path_buf(),
            aftermath,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Content whose announced length is wrong, like a file that grows or shrinks while it is
    /// read, or not announced, like a pipe's.
    struct Misreported {
        content: Vec<u8>,
        at: usize,
        hint: Option<u64>,
    }

    impl io::Read for Misreported {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = (self.content.len() - self.at).min(buf.len());
            buf[..n].copy_from_slice(&self.content[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    impl Input for Misreported {
        fn describe(&self) -> String {
            "content of a misreported length".into()
        }

        fn len_hint(&self) -> Option<u64> {
            self.hint
        }
    }

    #[test]
    fn the_read_buffer_fits_the_announced_length_up_to_a_chunk() {
        assert_eq!(buffer_len(Some(4096)), MIN_BUFFER);
        assert_eq!(buffer_len(Some(0)), MIN_BUFFER);
        assert_eq!(buffer_len(Some(10_000)), 10_001);
        assert_eq!(buffer_len(Some(200_000)), 200_001);
        assert_eq!(buffer_len(None), MIN_BUFFER);
        assert_eq!(buffer_len(Some(CHUNK as u64 - 1)), CHUNK);
        assert_eq!(buffer_len(Some(CHUNK as u64)), CHUNK);
        assert_eq!(buffer_len(Some(u64::MAX)), CHUNK);
    }

    #[test]
    fn content_longer_shorter_or_not_announced_is_saved_whole_by_every_strategy() {
        let dir = tempfile::tempdir().expect("scratch directory");
        let path = dir.path().join("t");
        let content: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i * 7 % 251) as u8).collect();
        for strategy in [Strategy::Atomic, Strategy::InPlace, Strategy::Journal] {
            for (len, hint) in [
                (content.len(), Some(1)),
                (content.len(), Some(0)),
                (5, Some(10 << 20)),
                (content.len(), None),
                (5, None),
            ] {
                let what = format!("{strategy:?}, {len} bytes announced as {hint:?}");
                std::fs::write(&path, b"old").expect("write the old content");
                let input = || Misreported {
                    content: content[..len].to_vec(),
                    at: 0,
                    hint,
                };
                let opts = SaveOptions {
                    strategy,
                    sync: SyncLevel::None,
                    ..SaveOptions::default()
                };
                save(&path, &mut input(), &opts, &mut ()).expect(&what);
                assert_eq!(
                    std::fs::read(&path).expect("read"),
                    &content[..len],
                    "{what}"
                );
                // --if-changed compares the old content in buffers of the same size.
                let opts = SaveOptions {
                    if_changed: true,
                    ..opts
                };
                let report = save(&path, &mut input(), &opts, &mut ()).expect(&what);
                assert_eq!(report.outcome, SaveOutcome::Unchanged, "{what}");
            }
        }
    }

    /// Input that fails after `ok` bytes of `content`.
    struct FailsAfter {
        content: Vec<u8>,
        at: usize,
        ok: usize,
    }

    impl io::Read for FailsAfter {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.at >= self.ok {
                return Err(io::Error::other("the input broke"));
            }
            let n = (self.ok - self.at).min(buf.len());
            buf[..n].copy_from_slice(&self.content[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    impl Input for FailsAfter {
        fn describe(&self) -> String {
            "input that fails".into()
        }

        fn len_hint(&self) -> Option<u64> {
            None
        }
    }

    /// Was a bug: an in-place `--if-changed` save whose input failed after chunks identical to
    /// the target's content (skipped, never written) said the target may be mixed; nothing had
    /// been written, and it is unchanged. Once a differing chunk is written, it is damage.
    #[test]
    fn an_in_place_input_failure_after_identical_chunks_changed_nothing() {
        let dir = tempfile::tempdir().expect("scratch directory");
        let path = dir.path().join("t");
        let content: Vec<u8> = (0..3 * CHUNK).map(|i| (i * 7 % 251) as u8).collect();
        let opts = SaveOptions {
            strategy: Strategy::InPlace,
            sync: SyncLevel::None,
            if_changed: true,
            ..SaveOptions::default()
        };
        std::fs::write(&path, &content).expect("write the old content");
        let mut input = FailsAfter {
            content: content.clone(),
            at: 0,
            ok: 2 * CHUNK,
        };
        let e = save(&path, &mut input, &opts, &mut ()).expect_err("the input fails");
        assert_eq!(e.aftermath(), Aftermath::Unchanged, "{e}");
        assert_eq!(std::fs::read(&path).expect("read"), content);
        // The first chunk differs: written, so a failure after it leaves a mix.
        let mut changed = content.clone();
        changed[0] ^= 1;
        let mut input = FailsAfter {
            content: changed,
            at: 0,
            ok: 2 * CHUNK,
        };
        let e = save(&path, &mut input, &opts, &mut ()).expect_err("the input fails");
        assert_eq!(e.aftermath(), Aftermath::Damaged, "{e}");
    }
}
