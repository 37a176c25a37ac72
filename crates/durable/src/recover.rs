//! Bring logs, interrupted journaled saves and stale temporary files back to a clean state,
//! changing nothing else (what `durable recover` does); [`RecoverOptions::dry_run`] only says what
//! would be done. Files are inspected read-only; only a file about to be changed is opened for
//! writing. Every valid record is kept; the bytes a repair removes are first kept, flushed, in a
//! sidecar ([`sidecar`]) outside the log's directory when its owner reads that directory whole; a
//! log that another process holds locked is not touched. Directories are walked as a stream, in
//! bounded memory, skipping pseudo-filesystems.

pub mod sidecar;

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::disk::{self, NewFile, OnExisting, SyncLevel};
use crate::error::{Aftermath, Error, FailedStep, Result};
use crate::journal::{self, Class, Settled};
use crate::log::{self, Item, Layout, LogFormat, OnDamage, Status, format, proglog};
use crate::platform;
use crate::step::{Observer, Step, Tracker};
use crate::target::{self, Symlinks};
use crate::walk::Entry;

pub use sidecar::{Beside, Restore, RestoreOptions, Restored, Sidecar, restore};

/// Options of a recovery.
#[derive(Debug, Clone, Default)]
pub struct RecoverOptions {
    /// Say what would be done, change nothing.
    pub dry_run: bool,
    /// Cut a log at corruption before its tail too (the sidecar keeps everything removed).
    pub force: bool,
    /// Do not keep the removed bytes in a sidecar.
    pub no_backup: bool,
    /// How hard to flush.
    pub sync: SyncLevel,
    /// Read logs as this format instead of detecting it.
    pub format: Option<LogFormat>,
    /// A proglog index to repair with the store given (instead of `<base>.index`).
    pub index: Option<PathBuf>,
    /// Keep sidecars in this (existing) directory instead of the default place.
    pub backup_dir: Option<PathBuf>,
    /// When walking a directory, stay on its filesystem (like `find -xdev`).
    pub one_file_system: bool,
    /// Threads to check a log with before repairing it ([`log::verify_with_threads`]); 0 or 1:
    /// one.
    pub threads: usize,
    /// The sidecar names a dry run has promised so far (shared by the clones of these
    /// options, so one command's runs over several paths see each other's).
    pub promised: Promised,
}

/// What a dry run promised so far: sidecar paths, each with the log (absolute) it keeps bytes
/// of (a real run would have made them by the time it reaches the next log, so the dry run
/// does not promise one twice; one entry per sidecar planned), and the files it said it would
/// change, by (device, inode), with its report: a real run reaches the same file again by
/// another path (a symlink, a hard link, `./`) after changing it, and finds it clean.
#[derive(Debug, Clone, Default)]
pub struct Promised(std::sync::Arc<std::sync::Mutex<PromisedSoFar>>);

/// The contents of [`Promised`].
#[derive(Debug, Default)]
struct PromisedSoFar {
    sidecars: std::collections::HashMap<PathBuf, PathBuf>,
    changed: std::collections::HashMap<(u64, u64), LogRecovery>,
}

/// The most files a dry run remembers it would change ([`Promised`]), a few hundred bytes each:
/// past that, another path to one of the others is reported as if it were met first.
const MAX_PROMISED_CHANGES: usize = 1 << 16;

impl Promised {
    fn lock(&self) -> std::sync::MutexGuard<'_, PromisedSoFar> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The log `sidecar` was promised to.
    fn get(&self, sidecar: &Path) -> Option<PathBuf> {
        self.lock().sidecars.get(sidecar).cloned()
    }

    fn insert(&self, sidecar: PathBuf, log: PathBuf) {
        self.lock().sidecars.insert(sidecar, log);
    }

    /// What the dry run said it would do to the file `id`, if it did.
    fn changed(&self, id: (u64, u64)) -> Option<LogRecovery> {
        self.lock().changed.get(&id).cloned()
    }

    /// Remember that the dry run would change the file `id` as `recovery` says.
    fn change(&self, id: (u64, u64), recovery: &LogRecovery) {
        let mut so_far = self.lock();
        if so_far.changed.len() < MAX_PROMISED_CHANGES {
            so_far.changed.insert(id, recovery.clone());
        }
    }
}

/// The report a real run gives for `path`, another path to a file it has just changed as
/// `done` says: clean, as the change left it.
fn changed_before(path: &Path, done: &LogRecovery) -> LogRecovery {
    LogRecovery {
        path: path.to_path_buf(),
        status: Status::Clean,
        action: LogAction::Clean,
        bytes_removed: 0,
        sidecar: None,
        records_after_damage: 0,
        bytes_after_damage: 0,
        damage: None,
        damage_after_header: None,
        index: done.index.as_ref().map(|i| IndexRecovery {
            status: Status::Clean,
            action: IndexAction::Clean,
            bytes_kept: i.entries * proglog::ENTRY_WIDTH,
            bytes_removed: 0,
            sidecar: None,
            foreign: None,
            ..i.clone()
        }),
        ..done.clone()
    }
}

/// Whether a real run, having done what `r` says, leaves the file clean for the next path to
/// it: a cut or zero-filled log, or a rebuilt index, not a header written (damage after it is
/// left for the next run) nor a log emptied (an empty file is no log).
fn leaves_clean(r: &LogRecovery) -> bool {
    let log = match r.action {
        LogAction::WouldTruncate => r.bytes_kept > 0,
        LogAction::WouldZeroFill => true,
        LogAction::Clean => false,
        _ => return false,
    };
    let index = r.index.as_ref().map(|i| i.action);
    match index {
        Some(IndexAction::Refused) => false,
        Some(IndexAction::WouldRebuild) => r.action == LogAction::Clean || log,
        _ => log,
    }
}

/// What was (or, with `dry_run`, would be) done to a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogAction {
    /// Nothing to do: it was clean.
    Clean,
    /// Cut at the end of its valid prefix.
    Truncated,
    /// `dry_run`: would be cut.
    WouldTruncate,
    /// Corruption before the tail, not forced: left as it was.
    Refused,
    /// aof: the damaged bytes after the last checkpoint were zero-filled (size kept).
    ZeroFilled,
    /// `dry_run`: would be zero-filled.
    WouldZeroFill,
    /// native, its header lost: a new header written at offset 0, with the salt and
    /// algorithm recovered from its records (`force`).
    HeaderWritten,
    /// `dry_run`: a new header would be written.
    WouldWriteHeader,
}

/// What was (or would be) done to a proglog pair's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexAction {
    /// It matched the store.
    Clean,
    /// Rewritten from the first wrong byte to match the store.
    Rebuilt,
    /// `dry_run`: would be rebuilt.
    WouldRebuild,
    /// Left as it is: it is whole, but another store's index
    /// ([`crate::log::proglog::foreign_index`]); `force` rebuilds it.
    Refused,
}

/// The report for a proglog pair's index.
#[derive(Debug, Clone)]
pub struct IndexRecovery {
    /// The index.
    pub path: PathBuf,
    /// Its state before.
    pub status: Status,
    /// What was done.
    pub action: IndexAction,
    /// Entries it holds now (or would).
    pub entries: u64,
    /// Bytes kept as they were: where the first wrong byte was.
    pub bytes_kept: u64,
    /// Old bytes replaced or removed from there on.
    pub bytes_removed: u64,
    /// Where the whole old index was (or would be) saved.
    pub sidecar: Option<PathBuf>,
    /// The index is another store's: how many entries were compared, how many match, the first
    /// that does not ([`proglog::ForeignIndex`]).
    pub foreign: Option<proglog::ForeignIndex>,
}

/// The report for one log.
#[derive(Debug, Clone)]
pub struct LogRecovery {
    /// The log (as given: a symlink is reported under its own name).
    pub path: PathBuf,
    /// Its format.
    pub format: LogFormat,
    /// Its state before.
    pub status: Status,
    /// What was done.
    pub action: LogAction,
    /// Valid records kept (before the cut).
    pub records: u64,
    /// Bytes kept: where the log is (or would be) cut.
    pub bytes_kept: u64,
    /// Bytes removed (or that would be).
    pub bytes_removed: u64,
    /// Where the removed bytes were (or would be) saved.
    pub sidecar: Option<PathBuf>,
    /// Valid records after the damage (corruption only).
    pub records_after_damage: u64,
    /// Their bytes.
    pub bytes_after_damage: u64,
    /// A proglog store's index, made to match the store.
    pub index: Option<IndexRecovery>,
    /// Valid records larger than a native record may be (16 MiB), which `log salvage` cannot
    /// copy into a native log.
    pub oversized: u64,
    /// Where the first damage in the log is (`None` for a clean log); the cut, `bytes_kept`, is
    /// the start of the append it is in.
    pub damage: Option<u64>,
    /// The file holds only zero bytes (a native log's start lost, or a log zeroed): refused
    /// without `--force`, which empties it.
    pub zero_file: bool,
    /// A native log whose header is lost (zeroed or damaged), its salt recovered from its
    /// records: refused without `--force`, which writes a new header.
    pub header_lost: bool,
    /// Its checksum algorithm (a native log's, also one whose header is lost, or whose torn
    /// start holds the header's algorithm byte; SHA-256 for a lines log), when known.
    pub algorithm: Option<format::Algorithm>,
    /// Such a log's first damage after its lost header, if any: a header written leaves it
    /// for the next `recover`, which judges it as any other log's damage.
    pub damage_after_header: Option<DamageAfter>,
    /// A proglog index read alone (no store): wrong entries cannot be rebuilt from anything.
    pub index_alone: bool,
}

/// The first damage after a lost header ([`LogRecovery::damage_after_header`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DamageAfter {
    /// Where it is.
    pub offset: u64,
    /// Where `recover` cuts for it (the start of its append).
    pub cut: u64,
    /// It is a torn tail (`recover` cuts it without `--force`), else corruption.
    pub torn_tail: bool,
}

/// Why a file was left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Untouched {
    /// Not a log, a journal or a temporary file of ours.
    NotOurs,
    /// Named on the command line, and empty: no log yet (where `log append` starts one), so
    /// nothing to recover. In a walk an empty file is [`Untouched::NotOurs`].
    Empty,
    /// A sidecar kept by an earlier recovery.
    Sidecar {
        /// The log its bytes came from.
        log: PathBuf,
        /// Where they were in it.
        offset: u64,
    },
    /// Named like a journal of `durable save`, but without its header: not provably ours.
    NotOurJournal {
        /// Why.
        why: String,
    },
    /// Met in a walk, not a regular file: a symlink (not followed), a FIFO, a socket or a
    /// device (not opened).
    Special {
        /// What it is: "a symlink", "a FIFO", …
        kind: &'static str,
    },
}

impl Untouched {
    /// Why a [`Untouched::Special`] entry was left alone, after its kind: "not followed" for a
    /// symlink, "not a regular file, never opened" for the others.
    pub fn special_why(kind: &str) -> &'static str {
        if kind == "a symlink" {
            "not followed"
        } else {
            "not a regular file, never opened"
        }
    }
}

/// What was done to one path.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A log.
    Log(LogRecovery),
    /// An interrupted journaled save: completed, rolled back, or (dry run) would be.
    Journal {
        /// The save's target.
        target: PathBuf,
        /// The journal.
        journal: PathBuf,
        /// What was done; `None` in a dry run.
        settled: Option<Settled>,
        /// Dry run: whether the journal is complete (it would be completed, else rolled back).
        would_complete: bool,
    },
    /// A temporary file of an interrupted save.
    Temp {
        /// The file.
        path: PathBuf,
        /// Removed (or would be); `false`: kept because a process has it open, or (`unsure`)
        /// may have.
        removed: bool,
        /// Kept because whether a process has it open could not be checked: the descriptors
        /// of another user's processes (its owner's) cannot be read by this user.
        unsure: bool,
    },
    /// Left alone, and why.
    Untouched {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: Untouched,
    },
    /// A directory on a kernel pseudo-filesystem, not walked.
    Skipped {
        /// The directory.
        path: PathBuf,
        /// The filesystem ("proc", "sysfs", …).
        filesystem: &'static str,
    },
}

/// Where the first sidecar of `log` cut at `offset` goes by default (before any exists there):
/// `.durable-recovered/NAME.OFFSET.durable-sidecar` beside the log, or for a proglog segment
/// `.durable-recovered/SEGDIR/NAME.OFFSET.durable-sidecar` beside the segment's directory.
/// `None` if `log` does not exist or has no directory above it.
pub fn sidecar_path(log: &Path, beside: Beside, offset: u64) -> Option<PathBuf> {
    let (base, parts) = sidecar::default_dir(log, beside)
        .or_else(|| sidecar::default_dir(&std::fs::canonicalize(log).ok()?, beside))?;
    Some(sidecar::first_path(
        &sidecar::join(&base, &parts),
        log.file_name()?,
        offset,
    ))
}

/// Recover one path given by the user: a log, a journaled save's target or journal, a stale
/// temporary file, or a directory of them. A symlink is followed (a log is repaired through its
/// link). Errors on single files are returned; inside a directory, each file's error is
/// reported through `on_error` and the walk goes on. Outcomes are reported as they happen.
pub fn recover(
    path: &Path,
    opts: &RecoverOptions,
    observer: &mut dyn Observer,
    mut report: impl FnMut(Outcome),
    mut on_error: impl FnMut(Error),
) -> Result<()> {
    // A symlink named here with a journal of ours beside it (its save ran before the link was
    // put there): the journal is applied through the link, as `durable save LINK` writes
    // through it, if it is this user's journal and the links on the way are this user's or
    // root's ([`journal::plan_apply`]). A walk never follows a link, and says to name it so
    // when that is allowed. A link to a directory is walked (after saying the journal beside
    // it was not applied).
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
        && path.file_name().and_then(disk::journal_name).is_some()
        && matches!(journal::classify(&journal_of(path)), Ok(Class::Ours { .. }))
    {
        // The directories on the way to the link are followed as a save follows them: another
        // user's link among them in a sticky directory is refused, as `save` refuses it.
        target::refuse_sticky_dir_links(path, "recover")?;
        match settle(
            path,
            &journal_of(path),
            Through::Link,
            opts,
            &mut journal::Rivals::default(),
            observer,
        ) {
            Ok(outcome) => {
                report(outcome);
                return Ok(());
            }
            Err(
                e @ Error::JournalNotApplied {
                    reason:
                        crate::error::NotApplied::NotRegular {
                            kind: "a directory",
                        },
                    ..
                },
            ) => on_error(e),
            Err(e) => return Err(e),
        }
    }
    // A log, a directory, a temporary file: reached through links only as the kernel's
    // protected_symlinks rule allows, whatever the setting (journals through a link named
    // here have the stricter rule above).
    target::refuse_sticky_links(path, "recover")?;
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        // An interrupted journaled save of a new file: the target does not exist yet, its
        // journal does.
        Err(e)
            if e.kind() == io::ErrorKind::NotFound
                && path
                    .file_name()
                    .and_then(disk::journal_name)
                    .is_some_and(|j| path.with_file_name(j).symlink_metadata().is_ok()) =>
        {
            report(settle(
                path,
                &journal_of(path),
                Through::Name,
                opts,
                &mut journal::Rivals::default(),
                observer,
            )?);
            return Ok(());
        }
        Err(source) => {
            return Err(Error::NotChecked {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if meta.is_dir() {
        walk(path, opts, observer, &mut report, &mut on_error);
        return Ok(());
    }
    if !meta.is_file() {
        return Err(Error::NotRegular {
            path: path.to_path_buf(),
            kind: platform::kind_of(meta.file_type()),
        });
    }
    // Through symlinks to the file itself: its name says what it is, and its directory is
    // where its journal, temporary files and sidecars are.
    let resolved = target::resolve(path, Symlinks::FollowProtected("recover"))?;
    let mut rivals = journal::Rivals::default();
    match handle_file(
        &resolved.path,
        path,
        Found::Named,
        opts,
        &mut rivals,
        observer,
    )? {
        Some(outcome) => report(outcome),
        None => {
            // A target whose journal is ours: settled through it, and through the link named
            // as a save through that link would (the same rule for links).
            let through = if resolved.via_symlink {
                Through::Followed(path)
            } else {
                Through::Name
            };
            report(settle(
                &resolved.path,
                &journal_of(&resolved.path),
                through,
                opts,
                &mut rivals,
                observer,
            )?);
        }
    }
    Ok(())
}

/// The journal path of a save target.
fn journal_of(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .and_then(disk::journal_name)
        .unwrap_or_default();
    target.with_file_name(name)
}

/// Walk `root` (see [`crate::walk`]): each file is handled and reported as it is found.
fn walk(
    root: &Path,
    opts: &RecoverOptions,
    observer: &mut dyn Observer,
    report: &mut dyn FnMut(Outcome),
    on_error: &mut dyn FnMut(Error),
) {
    // Targets settled through a journal met before them (a journal `.NAME.durable-journal`
    // sorts before most names): skipped when they come, so a completed target is not taken
    // for anything else. One entry per journal, dropped when its target comes.
    let mut settled: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    // The journals of the directories walked, listed once each, for two journals of one file.
    let mut rivals = journal::Rivals::default();
    // Two complete journals of one file in different directories (hard links): found before
    // either is applied, so neither is, whichever the walk meets first.
    rivals.walked(root, opts.one_file_system);
    for entry in crate::walk::walk(root, opts.one_file_system) {
        let path = match entry {
            Ok(Entry::File(path)) => path,
            Ok(Entry::Skipped { path, filesystem }) => {
                report(Outcome::Skipped { path, filesystem });
                continue;
            }
            Ok(Entry::Special { path, kind }) => {
                report(Outcome::Untouched {
                    path,
                    reason: Untouched::Special { kind },
                });
                continue;
            }
            Err(e) => {
                on_error(e);
                continue;
            }
        };
        if settled.remove(&path) {
            continue;
        }
        let result = handle_file(&path, &path, Found::InWalk, opts, &mut rivals, observer);
        if let Ok(Some(Outcome::Journal { target, .. })) = &result
            && target.file_name() > path.file_name()
        {
            settled.insert(target.clone());
        }
        // A journal that cannot be read is one error, for the journal and its target alike.
        if let Err(Error::JournalUnreadable {
            journal, target, ..
        }) = &result
        {
            let other = if *journal == path { target } else { journal };
            if other.file_name() > path.file_name() {
                settled.insert(other.clone());
            }
        }
        // Two journals of one file are one refusal, naming both: the other, met later in this
        // walk (in this directory, or in one walked after it: the walk goes in path order), is
        // not refused again.
        if let Err(Error::JournalNotApplied {
            reason: crate::error::NotApplied::TwoJournals { other, .. },
            ..
        }) = &result
            && (other.parent() == path.parent() && other.file_name() > path.file_name()
                || other.starts_with(root) && other.as_path() > path.as_path())
        {
            settled.insert(other.clone());
        }
        match result {
            Ok(Some(outcome)) => report(outcome),
            Ok(None) => {}
            Err(Error::NotChecked { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            Err(e) => on_error(e),
        }
    }
}

/// How recover came to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// Named on the command line: a file that is not ours is an error.
    Named,
    /// Met walking a directory: a file that is not ours is reported untouched.
    InWalk,
}

/// Handle one regular file (`path`, reported as `shown`). `None` when it is the target of a
/// journal of ours, which is handled through its journal, or (in a walk) the index of a proglog
/// pair, handled through its store. In a walk, a file that is not ours is reported untouched;
/// named explicitly, it is an error.
fn handle_file(
    path: &Path,
    shown: &Path,
    found: Found,
    opts: &RecoverOptions,
    rivals: &mut journal::Rivals,
    observer: &mut dyn Observer,
) -> Result<Option<Outcome>> {
    let name = path.file_name().unwrap_or_default();
    if let Some(target) = disk::journal_target_name(name) {
        return settle(
            &path.with_file_name(target),
            path,
            Through::Name,
            opts,
            rivals,
            observer,
        )
        .map(Some);
    }
    if disk::temp_target_name(name).is_some() {
        return sweep_temp(path, opts).map(Some);
    }
    let journal = journal_of(path);
    if journal != path && journal.symlink_metadata().is_ok() {
        match journal::classify(&journal) {
            Ok(Class::Ours { .. }) => return Ok(None),
            // Another user's journal (mode 0600) for this file: not a log to look at.
            Err(source) if source.kind() == io::ErrorKind::PermissionDenied => {
                return Err(unreadable_journal(&journal, path, source));
            }
            _ => {}
        }
    }
    let in_walk = found == Found::InWalk;
    if in_walk && opts.index.is_none() && log::reader::is_paired_index(path) {
        return Ok(None);
    }
    match recover_log_as(path, shown, opts, observer, !in_walk) {
        Ok(r) => Ok(Some(Outcome::Log(r))),
        Err(Error::NotALog {
            damaged_header: false,
            ..
        }) if in_walk => Ok(Some(Outcome::Untouched {
            path: shown.to_path_buf(),
            reason: Untouched::NotOurs,
        })),
        // An empty file named: nothing to do (a torn start recovered is left so, and a second
        // run must find it so too).
        Err(Error::NotALog {
            why: log::reader::EMPTY,
            damaged_header: false,
            format: None,
            ..
        }) => Ok(Some(Outcome::Untouched {
            path: shown.to_path_buf(),
            reason: Untouched::Empty,
        })),
        Err(Error::NotALog {
            why,
            damaged_header: false,
            format: None,
            ..
        }) => Err(Error::NothingToRecover {
            path: shown.to_path_buf(),
            why,
        }),
        Err(Error::IsSidecar { log, offset, .. }) if in_walk => Ok(Some(Outcome::Untouched {
            path: shown.to_path_buf(),
            reason: Untouched::Sidecar { log, offset },
        })),
        Err(e) => Err(e),
    }
}

/// How a journal's target is reached from its name beside the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Through<'a> {
    /// The name itself, never followed (a walk, a journal named, a missing target).
    Name,
    /// A symlink named on the command line with the journal beside it: the file it points to.
    Link,
    /// A symlink named on the command line (this path) that points to the target, which the
    /// journal is beside: written through the link only as a journal beside it would be.
    Followed(&'a Path),
}

/// Finish or roll back the journal `journal` of `target`, if it is provably ours (it starts with
/// our header); anything else named like a journal is left alone. A dry run reports what
/// [`journal::decide`] decides, which is what the real run does: the same refusal, or the same
/// completion or roll-back.
fn settle(
    target: &Path,
    journal: &Path,
    through: Through<'_>,
    opts: &RecoverOptions,
    rivals: &mut journal::Rivals,
    observer: &mut dyn Observer,
) -> Result<Outcome> {
    match journal::classify(journal) {
        Ok(Class::NotOurs(why)) => {
            return Ok(Outcome::Untouched {
                path: journal.to_path_buf(),
                reason: Untouched::NotOurJournal { why },
            });
        }
        Ok(Class::Ours { .. }) => {}
        // Gone meanwhile (a save finished it): settling below finds nothing to do.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) if source.kind() == io::ErrorKind::PermissionDenied => {
            return Err(unreadable_journal(journal, target, source));
        }
        Err(source) => {
            return Err(Error::NotChecked {
                path: journal.to_path_buf(),
                source,
            });
        }
    }
    let (resolved, link) = match through {
        Through::Name => (target::named(target)?, None),
        Through::Followed(link) => (target::named(target)?, Some(link)),
        Through::Link => match target::resolve(target, Symlinks::Follow) {
            Ok(resolved) => (resolved, Some(target)),
            // The link points to a directory, a FIFO, …: the journal is not applied.
            Err(Error::NotRegular { kind, .. }) => {
                return Err(Error::JournalNotApplied {
                    journal: journal.to_path_buf(),
                    target: target.to_path_buf(),
                    reason: crate::error::NotApplied::NotRegular { kind },
                });
            }
            Err(e) => return Err(e),
        },
    };
    // The same errors, worded the same, for the dry run and the real run.
    let worded = |e| match e {
        // The journal could not be read: nothing was done.
        Error::Inspect { path, source } => Error::CannotChange {
            path,
            doing: "settle this journal of an interrupted save".into(),
            source,
        },
        // The target could not be opened for writing (a read-only filesystem, permission):
        // nothing was written, and the journal is kept.
        Error::Step {
            step: Step::OpenTarget,
            source,
            ..
        } if matches!(
            source.kind(),
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
        ) =>
        {
            Error::CannotChange {
                path: journal.to_path_buf(),
                doing: format!(
                    "settle this journal of an interrupted save (opening {} for writing)",
                    crate::quote::quoted(&resolved.path)
                ),
                source,
            }
        }
        other => other,
    };
    if opts.dry_run {
        let decision = journal::decide_settle(&resolved, journal, link, rivals).map_err(worded)?;
        return Ok(Outcome::Journal {
            target: target.to_path_buf(),
            journal: journal.to_path_buf(),
            settled: None,
            would_complete: matches!(decision, Some(journal::Decision::Complete(..))),
        });
    }
    let mut t = Tracker::new(observer);
    let settled = journal::settle_via(
        &resolved,
        journal,
        link,
        opts.sync,
        journal::TargetLocking::NoWait,
        rivals,
        &mut t,
    )
    .map_err(worded)?;
    Ok(Outcome::Journal {
        target: target.to_path_buf(),
        journal: journal.to_path_buf(),
        would_complete: matches!(settled, Some(Settled::Completed { .. })),
        settled,
    })
}

/// A journal this process may not read (another user's): [`Error::JournalUnreadable`].
fn unreadable_journal(journal: &Path, target: &Path, source: io::Error) -> Error {
    match journal.symlink_metadata() {
        Ok(meta) => Error::JournalUnreadable {
            journal: journal.to_path_buf(),
            target: target.to_path_buf(),
            author: platform::owner_mode_links(&meta).0,
            source,
        },
        Err(_) => Error::NotChecked {
            path: journal.to_path_buf(),
            source,
        },
    }
}

/// Remove a stale temporary file, unless a process has it open (or may have: another user's
/// processes cannot be looked into). An attribute that forbids removing it (`chattr +i`, `+a`,
/// on it or on its directory) is refused before anything is done, the dry run alike.
fn sweep_temp(path: &Path, opts: &RecoverOptions) -> Result<Outcome> {
    let held = platform::open_by_a_process(path).map_err(|source| Error::NotChecked {
        path: path.to_path_buf(),
        source,
    })?;
    if held != platform::Held::No {
        return Ok(Outcome::Temp {
            path: path.to_path_buf(),
            removed: false,
            unsure: held == platform::Held::Unknown,
        });
    }
    let why = "a stale temporary file of an interrupted save is removed, which that forbids, so it was kept";
    let protected = platform::open_no_follow(path, false)
        .ok()
        .and_then(|f| target::file_protection(&f))
        .map(|p| (path.to_path_buf(), p));
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if let Some((path, protection)) =
        protected.or_else(|| target::protection(dir).map(|p| (dir.to_path_buf(), p)))
    {
        return Err(Error::Protected {
            path,
            protection,
            why,
        });
    }
    // The dry run meets the refusal the removal would.
    platform::may_remove(path).map_err(|source| Error::CannotChange {
        path: path.to_path_buf(),
        doing: "remove this stale temporary file".into(),
        source,
    })?;
    if !opts.dry_run {
        std::fs::remove_file(path).map_err(|source| Error::CannotChange {
            path: path.to_path_buf(),
            doing: "remove this stale temporary file".into(),
            source,
        })?;
        if opts.sync != SyncLevel::None
            && let Some(dir) = path.parent()
        {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            // Removed, but the removal may not survive a power loss: exit 4.
            platform::sync_dir(dir, opts.sync).map_err(|source| Error::Step {
                step: Step::SyncDir,
                path: dir.to_path_buf(),
                aftermath: Aftermath::Unconfirmed,
                source,
            })?;
        }
    }
    Ok(Outcome::Temp {
        path: path.to_path_buf(),
        removed: true,
        unsure: false,
    })
}

fn inspect(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::NotChecked {
        path: path.to_path_buf(),
        source,
    }
}

/// A read failure while opening a log, named as such.
fn unreadable(e: Error) -> Error {
    match e {
        Error::Inspect { path, source } => Error::NotChecked { path, source },
        other => other,
    }
}

/// Recover one log of any format: cut a torn tail (aof: zero-fill it), and make a proglog
/// store's index match the store. The log is inspected read-only and opened for writing only
/// if it is to change.
pub fn recover_log(
    path: &Path,
    opts: &RecoverOptions,
    observer: &mut dyn Observer,
) -> Result<LogRecovery> {
    recover_log_as(path, path, opts, observer, true)
}

/// [`recover_log`] of `path`, reported as `shown`. `named`: the user named it (not found in a
/// walk), so a file of only zero bytes is a native log whose start is lost, not "not a log".
fn recover_log_as(
    path: &Path,
    shown: &Path,
    opts: &RecoverOptions,
    observer: &mut dyn Observer,
    named: bool,
) -> Result<LogRecovery> {
    let mut id = None;
    let recovery = recover_log_once(path, shown, opts, observer, named, &mut id)?;
    if opts.dry_run
        && let Some(id) = id
        && leaves_clean(&recovery)
    {
        opts.promised.change(id, &recovery);
    }
    Ok(recovery)
}

/// [`recover_log_as`], but for remembering what a dry run would change: `id` is set to the
/// log's (device, inode). A dry run that said it would change that file already (reached
/// by another path) reports it as a real run would find it then: clean.
fn recover_log_once(
    path: &Path,
    shown: &Path,
    opts: &RecoverOptions,
    observer: &mut dyn Observer,
    named: bool,
    id: &mut Option<(u64, u64)>,
) -> Result<LogRecovery> {
    let mut input = log::open(
        path,
        &log::OpenOptions {
            format: opts.format,
            index: opts.index.clone(),
            write: false,
            index_alone: false,
            force: opts.force,
            zeros: named,
        },
    )
    .map_err(unreadable)?;
    // Reported under the name given: a symlink's own name; but an index given for a pair is
    // reported under its store, which is what is recovered.
    let reported = if path == shown {
        input.main.path.clone()
    } else {
        shown.to_path_buf()
    };
    let path = input.main.path.clone();
    let path = path.as_path();
    if opts.dry_run {
        let meta = input.main.file.metadata().map_err(inspect(path))?;
        let file_id = platform::file_id(&meta);
        if let Some(done) = opts.promised.changed(file_id) {
            return Ok(changed_before(&reported, &done));
        }
        *id = Some(file_id);
    }
    // Locked: an appender at work must not have its log cut under it. (A shared-or-exclusive
    // flock needs no write access, so a read-only descriptor takes it.)
    match input.main.file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(Error::InUse {
                path: path.to_path_buf(),
            });
        }
        Err(std::fs::TryLockError::Error(source)) => return Err(inspect(path)(source)),
    }
    // Under the lock, look again: an append may have finished since it was opened.
    // An aof file is analysed again only if its size changed (its analysis reads it whole).
    let opened_size = input.main.size;
    input.main.size = input.main.file.metadata().map_err(inspect(path))?.len();
    if let Layout::Aof(_) = input.layout
        && input.main.size != opened_size
    {
        input.layout = Layout::Aof(
            log::aof::analyse(&input.main.file, input.main.size).map_err(inspect(path))?,
        );
    }
    let v = log::verify_open_with_threads(&input, opts.threads, |_, _| {})?;
    let size = input.main.size;
    let status = v.main_status;
    let (from, to) = match input.layout {
        // aof: the damaged bytes are zero-filled up to the last non-zero one; the size stays.
        Layout::Aof(a) => (v.valid_end, a.nonzero_end.max(v.valid_end)),
        _ => (v.valid_end, size),
    };
    let aof = matches!(input.layout, Layout::Aof(_));
    let beside = Beside::of(&input.layout);
    let keeps = !opts.no_backup && from < to;
    // What the sidecar keeps: the bytes removed; for an index alone, the whole old index (as for
    // an index rebuilt with its store), so that it reads back as an index.
    let index_alone = matches!(input.layout, Layout::ProglogIndex);
    let kept_from = if index_alone { 0 } else { from };
    let after = |d: &log::Defect| DamageAfter {
        offset: d.offset,
        cut: d.cut,
        torn_tail: d.is_torn_tail(),
    };
    let mut recovery = LogRecovery {
        path: reported,
        format: input.format(),
        status,
        action: LogAction::Clean,
        records: v.records_before_damage,
        bytes_kept: from,
        bytes_removed: to - from,
        sidecar: None,
        records_after_damage: v.records_after_damage,
        bytes_after_damage: v.bytes_after_damage,
        index: None,
        oversized: v.oversized,
        damage: v.defects.iter().find(|d| !d.in_index).map(|d| d.offset),
        zero_file: matches!(input.layout, Layout::Unstarted(log::Start::Zeros)),
        header_lost: matches!(input.layout, Layout::Lost(..)),
        // A torn start names it when the crash left its byte (verify read it).
        algorithm: log::algorithm_of(&input.layout).or(v.algorithm),
        damage_after_header: v.defects.iter().skip(1).find(|d| !d.in_index).map(after),
        index_alone,
    };
    let mut t = Tracker::new(observer);
    if let Layout::Lost(header, _) = input.layout {
        write_lost_header(&input, header, &v, &mut recovery, opts, &mut t)?;
        return Ok(recovery);
    }
    // A store read with another store's index (docs/FORMAT.md, "proglog") is not changed
    // either: that index is no evidence about it, and was paired by mistake.
    let foreign = v.foreign_index.is_some() && !opts.force;
    // What the sidecar's trailer says (the same for a dry run, a refused log's report and the
    // change itself, so that each names the sidecar the change makes).
    let trailer = || -> Result<sidecar::Trailer> {
        let change = if aof {
            sidecar::Change::ZeroFilled
        } else if index_alone {
            sidecar::Change::Rewritten
        } else {
            sidecar::Change::Cut
        };
        // A native log's start cut (a torn start, zeros) has no header to keep: the sidecar
        // holds the file from offset 0.
        let native_header = match input.layout {
            Layout::Native(_) => Some(raw_header(&input.main.file, path)?),
            _ => None,
        };
        let format = match input.layout {
            Layout::Native(_) | Layout::Lost(..) | Layout::Unstarted(_) => {
                sidecar::SourceFormat::Native
            }
            Layout::Lines => sidecar::SourceFormat::Lines,
            Layout::ProglogStore => sidecar::SourceFormat::ProglogStore,
            Layout::ProglogIndex => sidecar::SourceFormat::ProglogIndex,
            Layout::Aof(_) => sidecar::SourceFormat::Aof,
        };
        Ok(sidecar::Trailer {
            source: std::fs::canonicalize(path).map_err(inspect(path))?,
            format,
            change,
            offset: kept_from,
            len: to - kept_from,
            size_before: size,
            size_after: if aof { size } else { from },
            first_index: if index_alone {
                0
            } else {
                v.records_before_damage
            },
            native_header,
            data_crc: 0,
        })
    };
    let keeping = |probe: bool| -> Result<Keeping> {
        plan_sidecar(
            path,
            &input.main.file,
            beside,
            trailer()?,
            (kept_from, to),
            opts,
            probe,
        )
    };
    match status {
        Status::Clean => {
            recovery.bytes_kept = v.valid_end;
            recovery.bytes_removed = 0;
        }
        _ if foreign || (status == Status::Corrupt && !opts.force) => {
            if keeps {
                recovery.sidecar = Some(keeping(false)?.plan.path);
            }
            recovery.action = LogAction::Refused;
        }
        _ => {
            let doing = if aof {
                format!("zero-fill {} damaged bytes from offset {from}", to - from)
            } else if status == Status::Corrupt {
                format!("cut it at the damage at offset {from}")
            } else {
                format!("cut its torn tail at offset {from}")
            };
            // The same plan, checked the same way, for a dry run and a real one: a dry run
            // checks the access the change needs without opening the log for writing, and
            // where the sidecar would go, so that it fails where the real run would, with
            // the same sentence.
            if opts.dry_run {
                sidecar::check_reopen(path, &doing)?;
                if keeps {
                    recovery.sidecar = Some(keeping(true)?.plan.path);
                }
                recovery.action = if aof {
                    LogAction::WouldZeroFill
                } else {
                    LogAction::WouldTruncate
                };
            } else {
                // Opened for writing only now, and before the sidecar is made: a file that
                // cannot be changed gets no sidecar.
                let file = sidecar::reopen_for_writing(&input.main.file, path, &doing)?;
                if keeps {
                    let plan = keeping(true)?;
                    recovery.sidecar =
                        Some(keep_bytes(path, &input.main.file, plan, opts, &mut t)?);
                }
                // The sidecar is durable before a byte of the log goes away.
                if aof {
                    t.run(Step::WriteLog, path, || {
                        sidecar::zero_range(&file, from, to)
                    })
                    .failure_leaves(Aftermath::Damaged)?;
                    recovery.action = LogAction::ZeroFilled;
                } else {
                    t.run(Step::Truncate, path, || file.set_len(from))
                        .failure_leaves(Aftermath::Unchanged)?;
                    recovery.action = LogAction::Truncated;
                }
                sync_changed(&mut t, path, &file, opts.sync)?;
            }
        }
    }
    // A store refused for corruption leaves its index as it is: the index is the evidence of
    // the records after the damage, and rebuilding it from the store would drop them.
    if let Some(index) = input
        .index
        .as_ref()
        .filter(|_| recovery.action != LogAction::Refused || foreign)
    {
        // The store's length once recovered.
        let store_len = if status == Status::Clean || foreign {
            size
        } else {
            from
        };
        recovery.index = Some(repair_index(
            &input,
            index,
            store_len,
            (v.index_status, v.foreign_index),
            opts,
            &mut t,
        )?);
    }
    Ok(recovery)
}

/// `recover` of a native log whose header is lost ([`Layout::Lost`]): refused without
/// `--force` (corruption); with it, the old 64 bytes are kept in a sidecar (restorable) and a
/// new header with the recovered salt and algorithm is written over them, so every record
/// reads again and the next append continues the log. Other damage after the header is left
/// for the next run (the header comes first: without it nothing after can be repaired).
fn write_lost_header(
    input: &log::Log,
    header: format::FileHeader,
    v: &log::Verification,
    recovery: &mut LogRecovery,
    opts: &RecoverOptions,
    t: &mut Tracker,
) -> Result<()> {
    let path = input.main.path.as_path();
    let len = format::FILE_HEADER_LEN;
    recovery.records = v.records;
    recovery.bytes_kept = input.main.size;
    recovery.bytes_removed = 0;
    recovery.damage = Some(0);
    let beside = Beside::of(&input.layout);
    let size = input.main.size;
    let keeping = |probe: bool| -> Result<Keeping> {
        let trailer = sidecar::Trailer {
            source: std::fs::canonicalize(path).map_err(inspect(path))?,
            format: sidecar::SourceFormat::Native,
            change: sidecar::Change::Rewritten,
            offset: 0,
            len,
            size_before: size,
            size_after: size,
            first_index: 0,
            native_header: None,
            data_crc: 0,
        };
        plan_sidecar(
            path,
            &input.main.file,
            beside,
            trailer,
            (0, len),
            opts,
            probe,
        )
    };
    let doing = "write a new header over its lost one";
    if !opts.force {
        if !opts.no_backup {
            recovery.sidecar = Some(keeping(false)?.plan.path);
        }
        recovery.action = LogAction::Refused;
        return Ok(());
    }
    if opts.dry_run {
        // Checked as the real run would meet it (see recover_log_as).
        sidecar::check_reopen(path, doing)?;
        if !opts.no_backup {
            recovery.sidecar = Some(keeping(true)?.plan.path);
        }
        recovery.action = LogAction::WouldWriteHeader;
        return Ok(());
    }
    let file = sidecar::reopen_for_writing(&input.main.file, path, doing)?;
    if !opts.no_backup {
        let plan = keeping(true)?;
        recovery.sidecar = Some(keep_bytes(path, &input.main.file, plan, opts, t)?);
    }
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let new = format::FileHeader::new(header.algorithm, header.salt, created).encode();
    t.run(Step::WriteLog, path, || {
        platform::write_all_at(&file, &new, 0)
    })
    .failure_leaves(Aftermath::Damaged)?;
    recovery.action = LogAction::HeaderWritten;
    sync_changed(t, path, &file, opts.sync)?;
    Ok(())
}

/// Flush a file recover changed (the log, or a rebuilt index), unless `--sync none`: a failure
/// leaves the change made but not known to be durable.
fn sync_changed(t: &mut Tracker<'_>, path: &Path, file: &File, sync: SyncLevel) -> Result<()> {
    if sync != SyncLevel::None {
        t.run(Step::SyncLog, path, || platform::sync_file(file, sync))
            .failure_leaves(Aftermath::Unconfirmed)?;
    }
    Ok(())
}

/// A native log's 64-byte file header, as it is in the file.
fn raw_header(file: &File, path: &Path) -> Result<[u8; format::FILE_HEADER_LEN as usize]> {
    let mut raw = [0u8; format::FILE_HEADER_LEN as usize];
    let got =
        log::reader::read_prefix(file, format::FILE_HEADER_LEN, &mut raw).map_err(inspect(path))?;
    if got < raw.len() {
        return Err(inspect(path)(log::reader::shrank()));
    }
    Ok(raw)
}

/// The directory sidecars of the log at `path` go to: (an existing directory, the components to
/// create under it).
fn sidecar_home(
    path: &Path,
    beside: Beside,
    opts: &RecoverOptions,
) -> Result<(PathBuf, Vec<PathBuf>)> {
    if let Some(dir) = &opts.backup_dir {
        target::refuse_sticky_links(dir, "recover").map_err(|e| e.for_file(path))?;
        // Not into a proglog segment's own directory, which proglog reads whole: a sidecar
        // there would be taken for a segment (its name parsed as a base offset).
        if beside == Beside::LogDir {
            let own = path.parent().filter(|d| !d.as_os_str().is_empty());
            let own = own.unwrap_or(Path::new("."));
            if let (Ok(a), Ok(b)) = (std::fs::metadata(own), std::fs::metadata(dir))
                && platform::same_file(&a, &b)
            {
                return Err(Error::Unsupported {
                    path: path.to_path_buf(),
                    why: format!(
                        "--backup-dir {} is this proglog segment's own directory, which proglog \
                         reads whole (every file name in it is taken for a segment), so its \
                         sidecar cannot go there; it was not changed (name a directory outside \
                         the segment's)",
                        crate::quote::quoted(dir)
                    ),
                });
            }
        }
        return Ok((dir.clone(), Vec::new()));
    }
    let home = match sidecar::default_dir(path, beside) {
        Some(home) => home,
        None => {
            let resolved = std::fs::canonicalize(path).map_err(inspect(path))?;
            sidecar::default_dir(&resolved, beside).ok_or_else(|| Error::NoSidecarPlace {
                path: path.to_path_buf(),
            })?
        }
    };
    // `.durable-recovered` (and a segment directory under it) a link another user planted in
    // a sticky directory: refused, as the kernel's protected_symlinks rule would.
    let dir = sidecar::join(&home.0, &home.1);
    target::refuse_sticky_links(&dir, "recover").map_err(|e| e.for_file(path))?;
    refuse_foreign_links(path, &home.0, &home.1)?;
    // Another user's `.durable-recovered` (made in a shared directory): what recover keeps
    // there would be at that user's mercy. The user recovering's, root's and the log's owner's
    // are used.
    if let Ok(meta) = std::fs::metadata(&dir) {
        let owner = platform::owner_mode_links(&meta).0;
        let log_owner = std::fs::metadata(path).map_or(owner, |m| platform::owner_mode_links(&m).0);
        if ![platform::effective_uid(), 0, log_owner].contains(&owner) {
            return Err(Error::SidecarDirForeign {
                path: path.to_path_buf(),
                dir,
                owner,
            });
        }
    }
    // A segment's sidecars go above its directory: with -x, only if that is on the segment's
    // filesystem (a segment directory that is a mount point has its parent on another).
    if opts.one_file_system && beside == Beside::LogDir {
        let own = path.parent().filter(|d| !d.as_os_str().is_empty());
        let own = own.unwrap_or(Path::new("."));
        let same = platform::same_filesystem(own, &home.0).map_err(inspect(&home.0))?;
        if !same {
            return Err(Error::SidecarOffFilesystem {
                path: path.to_path_buf(),
                dir: sidecar::join(&home.0, &home.1),
            });
        }
    }
    Ok(home)
}

/// `.durable-recovered` (and a segment directory under it) a symlink that is not the recovering
/// user's or root's: not followed, anywhere (the kernel's protected_symlinks rule applied to
/// every directory, not just sticky ones): its owner could point it into a directory of the
/// recovering user's (root's) that it must not write into. Checked when planned and again just
/// before the sidecar's directory is made.
fn refuse_foreign_links(path: &Path, base: &Path, parts: &[PathBuf]) -> Result<()> {
    let mut dir = base.to_path_buf();
    for part in parts {
        dir = sidecar::join(&dir, std::slice::from_ref(part));
        let Ok(meta) = std::fs::symlink_metadata(&dir) else {
            return Ok(());
        };
        if !meta.file_type().is_symlink() {
            continue;
        }
        let owner = platform::owner_mode_links(&meta).0;
        if owner != platform::effective_uid() && owner != 0 {
            return Err(Error::SidecarDirLink {
                path: path.to_path_buf(),
                link: dir,
                owner,
            });
        }
    }
    Ok(())
}

/// A sidecar planned for the log at a path: where it goes ([`sidecar::plan`]) and what it keeps.
struct Keeping {
    /// The existing directory the sidecar's directories are made under.
    base: PathBuf,
    /// The directories to make under it, where missing.
    parts: Vec<PathBuf>,
    /// The sidecar's directory and name.
    plan: sidecar::Plan,
    /// Its trailer.
    trailer: sidecar::Trailer,
    /// The log's bytes it keeps.
    range: (u64, u64),
}

/// Plan the sidecar keeping bytes `range` of `file` (the log at `path`), with `trailer`: the
/// one plan a dry run reports, a refused log names (`probe` off: it is only named), and a real
/// run carries out. With `probe`, what the real run would fail at making it (a file in the way
/// of its directory, no write access, a path too long) is the error of both; a dry run notes
/// the name it promised, so that another log of the same name planned later in the same run
/// (`--backup-dir`) is given the next one, as the real run gives it.
fn plan_sidecar(
    path: &Path,
    file: &File,
    beside: Beside,
    trailer: sidecar::Trailer,
    range: (u64, u64),
    opts: &RecoverOptions,
    probe: bool,
) -> Result<Keeping> {
    let (base, parts) = sidecar_home(path, beside, opts)?;
    let promised = |p: &Path| opts.promised.get(p);
    let plan = sidecar::plan(&sidecar::Planning {
        base: &base,
        parts: &parts,
        file,
        trailer: &trailer,
        from: range.0,
        to: range.1,
        probe,
        promised: &promised,
    })
    .map_err(|e| Error::Sidecar {
        log: path.to_path_buf(),
        dir: sidecar::join(&base, &parts),
        bytes: range.1 - range.0,
        step: e.step,
        at: e.path,
        source: e.source,
    })?;
    if opts.dry_run && probe {
        opts.promised
            .insert(plan.path.clone(), trailer.source.clone());
    }
    Ok(Keeping {
        base,
        parts,
        plan,
        trailer,
        range,
    })
}

/// Keep the bytes `keeping` plans of `file` (the log at `path`) in a new sidecar, made durable.
fn keep_bytes(
    path: &Path,
    file: &File,
    keeping: Keeping,
    opts: &RecoverOptions,
    t: &mut Tracker<'_>,
) -> Result<PathBuf> {
    let Keeping {
        base,
        parts,
        plan,
        trailer,
        range: (from, to),
    } = keeping;
    // Again just before use: a link swapped in since the plan is not followed.
    refuse_foreign_links(path, &base, &parts)?;
    let mut created = Vec::new();
    let result = sidecar::ensure_dir(&base, &parts, opts.sync, t, &mut created)
        .map_err(|e| Error::Sidecar {
            log: path.to_path_buf(),
            dir: sidecar::join(&base, &parts),
            bytes: to - from,
            step: e.step,
            at: e.path,
            source: e.source,
        })
        .and_then(|_| {
            sidecar::write(
                sidecar::Keep {
                    log: path,
                    file,
                    trailer,
                },
                from,
                to,
                &plan,
                opts.sync,
                t,
            )
        });
    if result.is_err() {
        // No sidecar after all: take back the (empty) directories made for it.
        for dir in created.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
    result
}

/// Make a proglog index match its store (the first `store_len` bytes): one entry per record,
/// (i, position). The whole old index is kept in a sidecar first; the index is opened for
/// writing only if it is to change.
fn repair_index(
    input: &log::Log,
    index: &log::reader::Part,
    store_len: u64,
    (status, foreign): (Status, Option<proglog::ForeignIndex>),
    opts: &RecoverOptions,
    t: &mut Tracker<'_>,
) -> Result<IndexRecovery> {
    let ipath = index.path.as_path();
    let diff = proglog::index_diff(&input.main.file, store_len, &index.file, index.size)
        .map_err(inspect(ipath))?;
    let mut report = IndexRecovery {
        path: ipath.to_path_buf(),
        status,
        action: IndexAction::Clean,
        entries: index.size / proglog::ENTRY_WIDTH,
        bytes_kept: index.size,
        bytes_removed: 0,
        sidecar: None,
        foreign,
    };
    let Some((first, right_len)) = diff else {
        return Ok(report);
    };
    report.entries = right_len / proglog::ENTRY_WIDTH;
    report.bytes_kept = first;
    report.bytes_removed = index.size - first;
    // The whole old index, so that it reads back as an index (entry i at 12·i).
    let keeps = !opts.no_backup && index.size > 0;
    // Another store's index is not rewritten on a guess: it may be the only index of its own
    // store (a human decides, --force).
    let refused = foreign.is_some() && !opts.force;
    let keeping = |probe: bool| -> Result<Keeping> {
        let trailer = sidecar::Trailer {
            source: std::fs::canonicalize(ipath).map_err(inspect(ipath))?,
            format: sidecar::SourceFormat::ProglogIndex,
            change: sidecar::Change::Rewritten,
            offset: 0,
            len: index.size,
            size_before: index.size,
            size_after: right_len,
            first_index: 0,
            native_header: None,
            data_crc: 0,
        };
        plan_sidecar(
            ipath,
            &index.file,
            Beside::LogDir,
            trailer,
            (0, index.size),
            opts,
            probe,
        )
    };
    let doing = "rebuild this proglog index from its store";
    if refused {
        if keeps {
            report.sidecar = Some(keeping(false)?.plan.path);
        }
        report.action = IndexAction::Refused;
        return Ok(report);
    }
    if opts.dry_run {
        // Checked as the real run would meet it (see recover_log_as).
        sidecar::check_reopen(ipath, doing)?;
        if keeps {
            report.sidecar = Some(keeping(true)?.plan.path);
        }
        report.action = IndexAction::WouldRebuild;
        return Ok(report);
    }
    let file = sidecar::reopen_for_writing(&index.file, ipath, doing)?;
    if keeps {
        let plan = keeping(true)?;
        report.sidecar = Some(keep_bytes(ipath, &index.file, plan, opts, t)?);
    }
    t.run(Step::WriteLog, ipath, || {
        proglog::write_index_from(&input.main.file, store_len, &file, first).map(|_| ())
    })
    .failure_leaves(Aftermath::Damaged)?;
    t.run(Step::Truncate, ipath, || file.set_len(right_len))
        .failure_leaves(Aftermath::Damaged)?;
    sync_changed(t, ipath, &file, opts.sync)?;
    report.action = IndexAction::Rebuilt;
    Ok(report)
}

/// `salvage` writes its batch of records out once it holds this many bytes.
const FLUSH_AT: usize = 4 << 20;

/// What `salvage` did.
#[derive(Debug, Clone)]
pub struct Salvaged {
    /// Records copied.
    pub records: u64,
    /// Damaged regions skipped: (offset, bytes).
    pub skipped: Vec<(u64, u64)>,
    /// SRC is a native log whose header is lost: the algorithm its records were read with
    /// (their salt recovered from them).
    pub header_lost: Option<format::Algorithm>,
    /// The format SRC was read as.
    pub src_format: LogFormat,
    /// The format of the new log: lines for a lines log (durable appends to lines logs, so it
    /// writes one), native for the others (proglog and aof are formats durable reads but does
    /// not write).
    pub dst_format: LogFormat,
}

/// The format `log salvage` writes the records of a log read as `src` in: a lines log stays a
/// lines log; every other format is salvaged into a native log.
pub fn salvage_format(src: LogFormat) -> LogFormat {
    match src {
        LogFormat::Lines => LogFormat::Lines,
        _ => LogFormat::Native,
    }
}

/// Write every valid record of `src`, in order, skipping damaged regions, into a new log `dst`
/// (which must not exist), created atomically: temporary file, flushed, renamed with no-clobber,
/// directory flushed. The new log is in [`salvage_format`]: a lines log's entries are written
/// as lines again, each with its SHA-256 (streamed: an entry of any length in bounded memory);
/// the records of the other formats go into a native log.
pub fn salvage(
    src: &Path,
    dst: &Path,
    format: Option<LogFormat>,
    sync: SyncLevel,
    observer: &mut dyn Observer,
) -> Result<Salvaged> {
    // Named by the user: a file of only zeros is read as verify reads it (a lost start).
    let input = log::open(
        src,
        &log::OpenOptions {
            format,
            zeros: true,
            ..Default::default()
        },
    )?;
    if let Layout::ProglogIndex = input.layout {
        return Err(Error::Unsupported {
            path: src.to_path_buf(),
            why: "a proglog index holds no record data to salvage; salvage its store".into(),
        });
    }
    // A native source keeps its checksum and creation time; other formats get the default.
    let (algorithm, created) = match input.layout {
        Layout::Native(h) => (h.algorithm, h.created),
        // Its creation time was in the lost header.
        Layout::Lost(h, _) => (
            h.algorithm,
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        ),
        _ => (
            format::Algorithm::default(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        ),
    };
    let dst_target = target::resolve(dst, Symlinks::FollowProtected("log salvage"))?;
    if dst_target.existing.is_some() {
        return Err(Error::Exists {
            path: dst.to_path_buf(),
        });
    }
    let mut t = Tracker::new(observer);
    let mut salt = [0u8; 16];
    platform::random_bytes(&mut salt).map_err(|source| Error::Inspect {
        path: dst.to_path_buf(),
        source,
    })?;
    let header = format::FileHeader::new(algorithm, salt, created);
    let mut new = NewFile::create(&mut t, &dst_target.dir, &dst_target.name)
        .failure_leaves(Aftermath::Unchanged)?;
    let dst_format = salvage_format(input.format());
    let mut out = Salvaged {
        records: 0,
        skipped: Vec::new(),
        header_lost: match input.layout {
            Layout::Lost(h, _) => Some(h.algorithm),
            _ => None,
        },
        src_format: input.format(),
        dst_format,
    };
    let started = t
        .start(Step::WriteTemp, new.path())
        .failure_leaves(Aftermath::Unchanged)?;
    let write_err = |source| Error::Step {
        step: Step::WriteTemp,
        path: dst.to_path_buf(),
        aftermath: Aftermath::Unchanged,
        source,
    };
    // A lines log has no header.
    let mut at = 0;
    if dst_format == LogFormat::Native {
        platform::write_all_at(new.file(), &header.encode(), 0).map_err(write_err)?;
        at = format::FILE_HEADER_LEN;
    }
    let mut scanner = input.reader(OnDamage::Resync);
    let encoder = format::Encoder::new(&header);
    let mut batch = Vec::new();
    let mut payload = Vec::new();
    loop {
        let item = scanner.next_item().map_err(|source| Error::Inspect {
            path: src.to_path_buf(),
            source,
        })?;
        match item {
            Item::Record(record) if dst_format == LogFormat::Lines => {
                // The entry streamed into the batch (written out as it fills), hashed as it
                // goes; a write error is told from a read error.
                let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
                let mut write_failed = None;
                let read = scanner.read_payload(&record, &mut |chunk| {
                    sha2::Digest::update(&mut hasher, chunk);
                    batch.extend_from_slice(chunk);
                    if batch.len() >= FLUSH_AT {
                        if let Err(e) = platform::write_all_at(new.file(), &batch, at) {
                            write_failed = Some(e);
                            return Err(io::Error::other("the new log could not be written"));
                        }
                        at += batch.len() as u64;
                        batch.clear();
                    }
                    Ok(())
                });
                if let Some(e) = write_failed {
                    return Err(write_err(e));
                }
                read.map_err(|source| Error::Inspect {
                    path: src.to_path_buf(),
                    source,
                })?;
                log::lines::end_line(&mut batch, &sha2::Digest::finalize(hasher).into());
                out.records += 1;
            }
            Item::Record(record) => {
                log::read_whole_payload(scanner.as_mut(), src, &record, &mut payload)?;
                encoder
                    // Each record flagged as a whole append of its own: the new log appears
                    // whole, by rename, and every record is evidence against later damage.
                    .encode(
                        &mut batch,
                        out.records,
                        format::FLAG_FIRST | format::FLAG_LAST,
                        &payload,
                    )
                    .map_err(|len| Error::RecordTooLarge {
                        what: format!("record {} of {}", record.index, crate::quote::quoted(src)),
                        len,
                    })?;
                out.records += 1;
                if batch.len() >= FLUSH_AT {
                    platform::write_all_at(new.file(), &batch, at).map_err(write_err)?;
                    at += batch.len() as u64;
                    batch.clear();
                }
            }
            Item::Defect(d) => {
                if d.in_index {
                    continue;
                }
                // A lost header's region is its 64 bytes: the damage after them, up to the
                // first valid record it names, is the next defect.
                let end = match d.evidence {
                    log::Evidence::HeaderLost | log::Evidence::HeaderMismatch => {
                        format::FILE_HEADER_LEN.min(input.main.size)
                    }
                    _ => d.next_valid.unwrap_or(input.main.size),
                }
                .max(d.offset);
                // Damage that skips no bytes (append marks out of order, a sequence gap: the
                // record there is kept) is no region left out.
                if end > d.offset {
                    out.skipped.push((d.offset, end - d.offset));
                }
            }
            Item::End => break,
        }
    }
    platform::write_all_at(new.file(), &batch, at).map_err(write_err)?;
    t.finish(Step::WriteTemp, new.path(), started);
    platform::set_mode(new.file(), crate::meta::final_mode(None, None)).map_err(write_err)?;
    new.seal(&mut t, sync)
        .failure_leaves(Aftermath::Unchanged)?;
    // To the file a link at `dst` points to (a dangling link names the new log's place, as
    // for a save): renamed over the link, the link would be replaced, not followed.
    new.rename(&mut t, &dst_target.path, OnExisting::Fail)
        .map_err(|e| match e.source.kind() {
            io::ErrorKind::AlreadyExists => Error::Exists {
                path: dst.to_path_buf(),
            },
            _ => Error::step(e, Aftermath::Unchanged),
        })?;
    new.sync_dir(&mut t, sync)
        .failure_leaves(Aftermath::Unconfirmed)?;
    Ok(out)
}
