//! Which steps a save runs, in order: one list ([`Script`]), built here from the target and the
//! options before anything is written, that [`crate::save()`] follows (a step that is not on it
//! is not run) and [`plan()`] prints with the system calls of each step (`durable save
//! --explain`). The replay of a journal takes its list from here too, so a journaled save, the
//! next save and `durable recover` completing it run the same steps.

use std::path::{Path, PathBuf};

use crate::disk::{self, SyncLevel};
use crate::error::Result;
use crate::journal;
use crate::meta;
use crate::platform;
use crate::quote::{c_quoted, quoted};
use crate::save::{self, SaveOptions, Strategy};
use crate::step::{Script, Step};
use crate::target::Target;

/// One step of a plan, with the system calls it makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStep {
    /// The step.
    pub step: Step,
    /// The system calls, written out.
    pub calls: String,
}

/// What a save would do, without doing it (`--explain`).
#[derive(Debug, Clone)]
pub struct Plan {
    /// The resolved target.
    pub target: Target,
    /// The strategy.
    pub strategy: Strategy,
    /// The sync level.
    pub sync: SyncLevel,
    /// The steps, in order.
    pub steps: Vec<PlannedStep>,
    /// Remarks: steps that depend on the input, symlinks followed, and so on.
    pub notes: Vec<Note>,
}

/// A remark on a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Note {
    /// The path given is a symlink: the save writes through it to the file it names.
    ThroughSymlink {
        /// The path given.
        link: PathBuf,
        /// The file written.
        file: PathBuf,
    },
    /// The target is a symlink that the save replaces by a regular file
    /// ([`SaveOptions::no_follow`]).
    ReplacesSymlink {
        /// The link.
        link: PathBuf,
    },
    /// [`SaveOptions::if_changed`]: if the new content equals the current one, the steps after
    /// writing are skipped.
    SkippedIfUnchanged,
    /// [`SaveOptions::if_changed`] cannot skip the save: the mode asked for is not the file's.
    ModeDiffers {
        /// The mode asked for.
        mode: u32,
    },
    /// Empty content is refused (the target is not emptied) without
    /// [`SaveOptions::allow_empty`].
    EmptyRefused,
    /// The in-place strategy is not crash-atomic: a crash while it writes leaves a mix of old
    /// and new bytes.
    NotCrashAtomic,
}

/// The steps a save of `target` with `opts` runs, in order (it may stop early: `--if-changed`
/// with the same content stops after writing).
pub(crate) fn script(target: &Target, opts: &SaveOptions) -> Script {
    let exists = target.existing.is_some();
    let sync = opts.sync != SyncLevel::None;
    let mut s = Script::default();
    s.push_if(locks_target(target, opts), Step::LockTarget);
    s.push_if(journal::exists_for(target), Step::SettleJournal);
    let backup = opts.backup && exists;
    match opts.strategy {
        Strategy::Atomic => {
            s.push(Step::CreateTemp);
            s.push(Step::WriteTemp);
            s.push(Step::Metadata);
            s.push_if(sync, Step::SyncTemp);
            s.push_if(opts.verify, Step::Verify);
            s.push(Step::CloseTemp);
            s.push_if(backup, Step::Backup);
            s.push(Step::Rename);
            s.push_if(sync, Step::SyncDir);
        }
        Strategy::InPlace => {
            // The backup is made inside write-target, before its first write (or before the
            // truncate, when no chunk was written), and ends first, so it is listed first, as a
            // save reports it.
            write_in_place(&mut s, InPlaceWrite::of(target, opts), backup);
        }
        Strategy::Journal => {
            // The backup is made inside write-journal (once the journal holds the content,
            // before its header) and ends first, so it is listed first, as a save reports it.
            s.push_if(backup, Step::Backup);
            s.push(Step::WriteJournal);
            s.push_if(sync, Step::SyncJournal);
            s.push_if(sync, Step::SyncDirJournal);
            replay(&mut s, InPlaceWrite::of(target, opts));
        }
    }
    s
}

/// Whether a save takes the target's lock: one that writes an existing target where it is.
pub(crate) fn locks_target(target: &Target, opts: &SaveOptions) -> bool {
    opts.strategy != Strategy::Atomic && target.existing.is_some()
}

/// What decides the steps of writing a target in place.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InPlaceWrite {
    /// The target does not exist yet.
    pub(crate) created: bool,
    /// A mode was asked for (`--mode`, or recorded in the journal).
    pub(crate) set_mode: bool,
    /// How hard to flush.
    pub(crate) sync: SyncLevel,
    /// Read back and compare (`--verify`).
    pub(crate) verify: bool,
}

impl InPlaceWrite {
    fn of(target: &Target, opts: &SaveOptions) -> InPlaceWrite {
        InPlaceWrite {
            created: target.existing.is_none(),
            set_mode: opts.mode.is_some(),
            sync: opts.sync,
            verify: opts.verify,
        }
    }
}

/// The steps that apply a journal to its target: write it in place, then remove the journal.
pub(crate) fn replay(s: &mut Script, w: InPlaceWrite) {
    write_in_place(s, w, false);
    s.push(Step::RemoveJournal);
    s.push_if(w.sync != SyncLevel::None, Step::SyncDirFinal);
}

/// The steps that write a target in place, from its open to its close (and, for a new target,
/// the flush of its directory): the in-place strategy's (with its `--backup`), and a journal's
/// replay.
pub(crate) fn write_in_place(s: &mut Script, w: InPlaceWrite, backup: bool) {
    let sync = w.sync != SyncLevel::None;
    s.push(Step::OpenTarget);
    s.push_if(backup, Step::Backup);
    s.push(Step::WriteTarget);
    s.push(Step::Truncate);
    // open(2) applied the umask to a new file; the mode asked for is set explicitly.
    s.push_if(w.created || w.set_mode, Step::Metadata);
    s.push_if(sync, Step::SyncTarget);
    s.push_if(w.verify, Step::Verify);
    s.push(Step::CloseTarget);
    s.push_if(w.created && sync, Step::SyncDirTarget);
}

/// What [`crate::save()`] would do with these options, without changing anything.
pub fn plan(given: &Path, opts: &SaveOptions) -> Result<Plan> {
    let target = save::prepare(given, opts)?;
    let script = script(&target, opts);
    let calls = Calls::new(&target, opts)?;
    let steps = script
        .steps()
        .iter()
        .map(|&step| PlannedStep {
            step,
            calls: calls.of(step),
        })
        .collect();
    let notes = notes(&target, opts);
    Ok(Plan {
        target,
        strategy: opts.strategy,
        sync: opts.sync,
        steps,
        notes,
    })
}

/// Remarks on a plan: what depends on the input, symlinks followed, what is not crash-atomic.
fn notes(target: &Target, opts: &SaveOptions) -> Vec<Note> {
    let exists = target.existing.is_some();
    let mut notes = Vec::new();
    if target.via_symlink {
        notes.push(Note::ThroughSymlink {
            link: target.given.clone(),
            file: target.path.clone(),
        });
    }
    if target.replaces_symlink {
        notes.push(Note::ReplacesSymlink {
            link: target.path.clone(),
        });
    }
    if save::may_skip_unchanged(opts, target) {
        notes.push(Note::SkippedIfUnchanged);
    } else if opts.if_changed && exists {
        notes.push(Note::ModeDiffers {
            mode: opts.mode.unwrap_or_default(),
        });
    }
    if exists && !opts.allow_empty {
        notes.push(Note::EmptyRefused);
    }
    if opts.strategy == Strategy::InPlace && !opts.if_changed {
        notes.push(Note::NotCrashAtomic);
    }
    notes
}

/// The system calls of each step of a save, written as strace shows their arguments.
struct Calls<'a> {
    opts: &'a SaveOptions,
    target: &'a Target,
    /// The target's path, as strace shows it.
    path: String,
    /// The temporary file's name pattern.
    tmp: String,
    /// The journal's path (journaled saves, and a leftover journal).
    journal: Option<std::path::PathBuf>,
    /// The mode the file gets.
    mode: u32,
}

impl<'a> Calls<'a> {
    fn new(target: &'a Target, opts: &'a SaveOptions) -> Result<Calls<'a>> {
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(&target.name);
        tmp_name.push(".XXXXXXXXXXXXXXXX");
        tmp_name.push(disk::TEMP_SUFFIX);
        let journal = if opts.strategy == Strategy::Journal || journal::exists_for(target) {
            Some(journal::path_for(target)?)
        } else {
            None
        };
        Ok(Calls {
            opts,
            target,
            path: c_quoted(&target.path).to_string(),
            tmp: c_quoted(&disk::in_dir(&target.dir, tmp_name)).to_string(),
            journal,
            mode: meta::final_mode(opts.mode, target.existing.as_ref()),
        })
    }

    /// `{flush}(what)`, the flush call of the sync level.
    fn flush(&self, what: &str) -> String {
        match platform::sync_call(self.opts.sync) {
            Some(call) => format!("{call}({what})"),
            None => String::new(),
        }
    }

    fn of(&self, step: Step) -> String {
        let Calls {
            opts,
            target,
            path,
            tmp,
            mode,
            ..
        } = self;
        let journal = self
            .journal
            .as_deref()
            .map(|j| c_quoted(j).to_string())
            .unwrap_or_default();
        let exists = target.existing.is_some();
        let journaled = opts.strategy == Strategy::Journal;
        let dir_sync = || platform::sync_dir_calls(&c_quoted(&target.dir).to_string());
        match step {
            Step::LockTarget => format!(
                "open({path}, O_RDONLY|O_NOFOLLOW|O_CLOEXEC); flock(LOCK_EX|LOCK_NB){} (held to the end)",
                if opts.no_wait {
                    ", failing at once if another save in place holds it"
                } else {
                    ", then flock(LOCK_EX) to wait if another save in place holds it"
                }
            ),
            Step::SettleJournal => format!(
                "replay {} onto {} if it is complete, else remove it",
                self.journal
                    .as_deref()
                    .map(quoted)
                    .map(|j| j.to_string())
                    .unwrap_or_default(),
                quoted(&target.path)
            ),
            Step::CreateTemp => format!("open({tmp}, O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0600)"),
            Step::WriteTemp => "write(tmp, …) until the input ends".into(),
            Step::Metadata if opts.strategy == Strategy::Atomic => {
                let mut meta = String::new();
                if let Some(e) = &target.existing {
                    meta.push_str(&format!(
                        "fchown(tmp, {}, {}); fsetxattr(tmp, …) for each extended attribute of {path}; ",
                        e.uid, e.gid
                    ));
                }
                meta.push_str(&format!("fchmod(tmp, {mode:04o})"));
                meta
            }
            Step::Metadata => format!("fchmod(target, {mode:04o})"),
            Step::SyncTemp => self.flush("tmp"),
            Step::Verify if opts.strategy == Strategy::Atomic => {
                "pread(tmp, …) and compare length and CRC-32".into()
            }
            Step::Verify => "pread(target, …) and compare".into(),
            Step::CloseTemp => "close(tmp)".into(),
            Step::Backup => {
                let backup = c_quoted(&save::backup_path(target)).to_string();
                let when = match opts.strategy {
                    Strategy::Journal => {
                        "once the journal below holds the input and before its header: "
                    }
                    Strategy::InPlace => {
                        "just before the first write to the target (the first pwrite, of any chunk without --if-changed and of the first chunk that differs with it; else the ftruncate), never if the save is refused first or --if-changed finds nothing to change: "
                    }
                    Strategy::Atomic => "",
                };
                let text = match platform::sync_call(opts.sync) {
                    Some(call) => format!(
                        "pread {path} (the file opened and checked, never by its name again) into a new temporary file with its owner, xattrs and mode; {call}(it); close; rename(it, {backup}); fsync(dir)"
                    ),
                    None => {
                        format!(
                            "pread {path} (the file opened and checked, never by its name again) into a new temporary file with its owner, xattrs and mode; close; rename(it, {backup})"
                        )
                    }
                };
                format!("{when}{text}")
            }
            Step::Rename if opts.no_clobber => platform::rename_noreplace_calls("tmp", path),
            Step::Rename => format!("rename(tmp, {path})"),
            Step::SyncDir | Step::SyncDirJournal | Step::SyncDirTarget | Step::SyncDirFinal => {
                dir_sync()
            }
            Step::WriteJournal => format!(
                "open(tmp, O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0600); flock(LOCK_EX); {}; \
                 pwrite(journal, …) the input after a 64-byte header, then the header",
                platform::rename_noreplace_calls("tmp", &journal)
            ),
            Step::SyncJournal => self.flush("journal"),
            // Only the file decided on: an existing target still the same inode, a new one
            // created exclusively.
            Step::OpenTarget if journaled => {
                if exists {
                    format!(
                        "open({path}, O_RDWR|O_NOFOLLOW|O_CLOEXEC); fstat (still the same inode)"
                    )
                } else {
                    format!(
                        "open({path}, O_RDWR|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, {mode:04o}); flock(LOCK_EX)"
                    )
                }
            }
            Step::OpenTarget if exists => format!("open({path}, O_RDWR|O_NOFOLLOW|O_CLOEXEC)"),
            Step::OpenTarget => format!(
                "open({path}, O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0600); flock(LOCK_EX) (removed again if the save fails)"
            ),
            Step::WriteTarget if journaled => {
                "pwrite(target, …) the journal's content from offset 0".into()
            }
            Step::WriteTarget => "pwrite(target, …) the input from offset 0".into(),
            Step::Truncate => "ftruncate(target, new length)".into(),
            Step::SyncTarget => self.flush("target"),
            Step::CloseTarget => "close(target)".into(),
            Step::RemoveJournal => format!("unlink({journal})"),
            // Steps of other commands (log append, recover); never in a save's script.
            Step::WriteLog | Step::SyncLog | Step::CreateDir => step.action().to_string(),
        }
    }
}
