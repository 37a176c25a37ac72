//! The named durability steps every command is made of, and the tracker that runs them.
//!
//! Each step is timed (for `-v` and `--json`), reported to an [`Observer`] as it completes, and is
//! the unit at which the test-only fault switch (see [`crate::fault`]) injects errors and crashes.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::fault;

/// One durability step. The kebab-case name ([`Step::name`]) appears in `-v` traces, `--json`
/// output, `--explain` plans and the `DURABLE_FAULT` switch, so it is part of the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// Take the target's lock (a save in place), waiting for another save that holds it.
    LockTarget,
    /// Finish or roll back a journal left behind by an interrupted journaled save.
    SettleJournal,
    /// Create the temporary file (`O_CREAT|O_EXCL|O_CLOEXEC`, mode 0600).
    CreateTemp,
    /// Stream the input into the temporary file.
    WriteTemp,
    /// Give the temporary file the target's owner, extended attributes and mode.
    Metadata,
    /// Flush the temporary file (`fsync`, `fdatasync` or `F_FULLFSYNC`).
    SyncTemp,
    /// Close the temporary file and check the result.
    CloseTemp,
    /// Re-read what was written and compare it with what was sent.
    Verify,
    /// Keep the previous version under `TARGET.bak`.
    Backup,
    /// Rename the temporary file over the target.
    Rename,
    /// Flush the directory that holds the target, making the rename durable.
    SyncDir,
    /// Create the journal next to the target and write the new content into it.
    WriteJournal,
    /// Flush the journal.
    SyncJournal,
    /// Flush the directory, making the journal's name durable.
    SyncDirJournal,
    /// Open the target for writing in place.
    OpenTarget,
    /// Write the new content over the target, in place.
    WriteTarget,
    /// Cut the target to the new content's length.
    Truncate,
    /// Flush the target.
    SyncTarget,
    /// Close the target and check the result.
    CloseTarget,
    /// Flush the directory after creating a new target in place.
    SyncDirTarget,
    /// Remove the journal once the target holds the new content.
    RemoveJournal,
    /// Flush the directory, making the journal's removal durable.
    SyncDirFinal,
    /// Write appended records to the log.
    WriteLog,
    /// Flush the log after appending.
    SyncLog,
    /// Create a directory (recover's sidecar directory) and flush its parent.
    CreateDir,
}

impl Step {
    /// Every step, for documentation and for tests that iterate over all of them.
    pub const ALL: &'static [Step] = &[
        Step::LockTarget,
        Step::SettleJournal,
        Step::CreateTemp,
        Step::WriteTemp,
        Step::Metadata,
        Step::SyncTemp,
        Step::CloseTemp,
        Step::Verify,
        Step::Backup,
        Step::Rename,
        Step::SyncDir,
        Step::WriteJournal,
        Step::SyncJournal,
        Step::SyncDirJournal,
        Step::OpenTarget,
        Step::WriteTarget,
        Step::Truncate,
        Step::SyncTarget,
        Step::CloseTarget,
        Step::SyncDirTarget,
        Step::RemoveJournal,
        Step::SyncDirFinal,
        Step::WriteLog,
        Step::SyncLog,
        Step::CreateDir,
    ];

    /// The stable kebab-case name of the step.
    pub fn name(self) -> &'static str {
        match self {
            Step::LockTarget => "lock-target",
            Step::SettleJournal => "settle-journal",
            Step::CreateTemp => "create-temp",
            Step::WriteTemp => "write-temp",
            Step::Metadata => "metadata",
            Step::SyncTemp => "sync-temp",
            Step::CloseTemp => "close-temp",
            Step::Verify => "verify",
            Step::Backup => "backup",
            Step::Rename => "rename",
            Step::SyncDir => "sync-dir",
            Step::WriteJournal => "write-journal",
            Step::SyncJournal => "sync-journal",
            Step::SyncDirJournal => "sync-dir-journal",
            Step::OpenTarget => "open-target",
            Step::WriteTarget => "write-target",
            Step::Truncate => "truncate",
            Step::SyncTarget => "sync-target",
            Step::CloseTarget => "close-target",
            Step::SyncDirTarget => "sync-dir-target",
            Step::RemoveJournal => "remove-journal",
            Step::SyncDirFinal => "sync-dir-final",
            Step::WriteLog => "write-log",
            Step::SyncLog => "sync-log",
            Step::CreateDir => "create-dir",
        }
    }

    /// Look a step up by its name.
    pub fn from_name(name: &str) -> Option<Step> {
        Step::ALL.iter().copied().find(|s| s.name() == name)
    }

    /// What the step does, phrased to follow "could not" in an error message.
    pub fn action(self) -> &'static str {
        match self {
            Step::LockTarget => "lock",
            Step::SettleJournal => "settle the leftover journal",
            Step::CreateTemp => "create a temporary file in",
            Step::WriteTemp => "write the temporary file",
            Step::Metadata => "copy ownership and permissions to",
            Step::SyncTemp => "flush (fsync) the temporary file",
            Step::CloseTemp => "close the temporary file",
            Step::Verify => "verify",
            Step::Backup => "back up the previous version to",
            Step::Rename => "rename the temporary file over",
            Step::SyncDir => "flush (fsync) the directory",
            Step::WriteJournal => "write the journal",
            Step::SyncJournal => "flush (fsync) the journal",
            Step::SyncDirJournal => "flush (fsync) the directory of the journal",
            Step::OpenTarget => "open",
            Step::WriteTarget => "write",
            Step::Truncate => "truncate",
            Step::SyncTarget => "flush (fsync)",
            Step::CloseTarget => "close",
            Step::SyncDirTarget => "flush (fsync) the directory",
            Step::RemoveJournal => "remove the journal",
            Step::SyncDirFinal => "flush (fsync) the directory",
            Step::WriteLog => "append to",
            Step::SyncLog => "flush (fsync)",
            Step::CreateDir => "create the directory",
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A completed step: what it was, the file it acted on, and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecord {
    /// The step.
    pub step: Step,
    /// The file or directory the step acted on.
    pub path: PathBuf,
    /// Wall-clock time the step took.
    pub duration: Duration,
}

/// Receives each step as soon as it completes (the `-v` trace prints from here, so a step that
/// hangs is visible while it hangs).
pub trait Observer {
    /// Called once per completed step.
    fn step(&mut self, record: &StepRecord);

    /// Called when a step is about to wait for another process to release `path` (a lock it
    /// holds), so a person can be told why nothing happens.
    fn waiting(&mut self, _path: &Path) {}

    /// Called as the new content is streamed: `done` bytes so far, of `total` if known (for a
    /// progress line). Called about once per MiB.
    fn progress(&mut self, _done: u64, _total: Option<u64>) {}

    /// Called when an append finds the log an empty file that `durable recover` emptied of a
    /// `format` log (`"lines"`), as the sidecar it kept (`sidecar`) records, and goes on in
    /// that format instead of starting a native log (docs/FORMAT.md, "A log's start").
    fn continues_format(&mut self, _log: &Path, _format: &'static str, _sidecar: &Path) {}

    /// Called when an append finds the log an empty file that `durable recover` emptied of a
    /// native log with `algorithm` checksums (`"sha256"`), as the sidecar it kept (`sidecar`)
    /// records, and starts it again with them instead of the default (docs/FORMAT.md, "A log's
    /// start"). Not called when the algorithm kept is the default or `--checksum` named one.
    fn continues_checksum(&mut self, _log: &Path, _algorithm: &'static str, _sidecar: &Path) {}
}

/// An observer that ignores everything.
impl Observer for () {
    fn step(&mut self, _: &StepRecord) {}
}

impl<F: FnMut(&StepRecord)> Observer for F {
    fn step(&mut self, record: &StepRecord) {
        self(record)
    }
}

/// A step that failed: which one, on which path, and the OS error.
#[derive(Debug)]
pub(crate) struct StepError {
    pub step: Step,
    pub path: PathBuf,
    pub source: io::Error,
}

/// Runs steps, records them, and applies the fault switch.
pub(crate) struct Tracker<'o> {
    pub records: Vec<StepRecord>,
    observer: &'o mut dyn Observer,
    /// Keep each step in `records` (off for a stream that may run for days).
    keep: bool,
    /// Consult the fault switch (off for the parts of one bigger step).
    faults: bool,
}

impl<'o> Tracker<'o> {
    pub(crate) fn new(observer: &'o mut dyn Observer) -> Self {
        Tracker {
            records: Vec::new(),
            observer,
            keep: true,
            faults: true,
        }
    }

    /// A tracker that reports steps to `observer` but keeps none of them.
    pub(crate) fn unrecorded(observer: &'o mut dyn Observer) -> Self {
        Tracker {
            keep: false,
            ..Tracker::new(observer)
        }
    }

    /// A tracker for the parts of one bigger step (a backup is the single step `backup`): it
    /// keeps none of them and does not consult the fault switch, since the bigger step is what
    /// is timed, traced and faulted.
    pub(crate) fn inner(observer: &'o mut dyn Observer) -> Self {
        Tracker {
            keep: false,
            faults: false,
            ..Tracker::new(observer)
        }
    }

    /// Tell the observer that a step waits for another process to release `path`.
    pub(crate) fn waiting(&mut self, path: &Path) {
        self.observer.waiting(path);
    }

    /// Tell the observer that an append goes on in the format recover emptied the log of.
    pub(crate) fn continues_format(&mut self, log: &Path, format: &'static str, sidecar: &Path) {
        self.observer.continues_format(log, format, sidecar);
    }

    /// Tell the observer that an append starts a log again with the checksum algorithm of the
    /// native log recover emptied it of.
    pub(crate) fn continues_checksum(
        &mut self,
        log: &Path,
        algorithm: &'static str,
        sidecar: &Path,
    ) {
        self.observer.continues_checksum(log, algorithm, sidecar);
    }

    /// Tell the observer how much of the input has been streamed.
    pub(crate) fn progress(&mut self, done: u64, total: Option<u64>) {
        self.observer.progress(done, total);
    }

    /// Start timing `step`; fails with the injected error, if any.
    pub(crate) fn start(&mut self, step: Step, path: &Path) -> Result<Instant, StepError> {
        if self.faults {
            fault::inject_error(step, path).map_err(|source| StepError {
                step,
                path: path.to_path_buf(),
                source,
            })?;
        }
        Ok(Instant::now())
    }

    /// Record `step` as completed (and crash here if a crash is planned after it).
    pub(crate) fn finish(&mut self, step: Step, path: &Path, started: Instant) {
        self.finish_without(step, path, started, Duration::ZERO);
    }

    /// [`Tracker::finish`] for a step that ran another, recorded on its own, inside it (the
    /// backup inside `write-target` or `write-journal`): its duration is the step's own time,
    /// without `nested`'s, so the durations of a report add up to the save's.
    pub(crate) fn finish_without(
        &mut self,
        step: Step,
        path: &Path,
        started: Instant,
        nested: Duration,
    ) {
        if step == Step::RemoveJournal {
            // The journal's content is in the target and the journal gone: an interrupt from
            // here on must not say the content is safe in the journal.
            crate::disk::mark_journal_removed();
        }
        let record = StepRecord {
            step,
            path: path.to_path_buf(),
            duration: started.elapsed().saturating_sub(nested),
        };
        self.observer.step(&record);
        if self.keep {
            self.records.push(record);
        }
        if self.faults {
            fault::crash_after(step);
        }
    }

    /// Run `f` as `step` acting on `path`. An injected error replaces the step; an injected crash
    /// aborts the process right after the step succeeded.
    pub(crate) fn run<T>(
        &mut self,
        step: Step,
        path: &Path,
        f: impl FnOnce() -> io::Result<T>,
    ) -> Result<T, StepError> {
        let started = self.start(step, path)?;
        match f() {
            Ok(value) => {
                self.finish(step, path, started);
                Ok(value)
            }
            Err(source) => Err(StepError {
                step,
                path: path.to_path_buf(),
                source,
            }),
        }
    }
}

/// The steps an operation runs, in order: built once from what is known before it starts
/// (see `crate::plan`), followed by the operation (a step that is not on the list is not run)
/// and printed by `durable save --explain`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Script(Vec<Step>);

impl Script {
    /// Add `step`.
    pub(crate) fn push(&mut self, step: Step) {
        self.0.push(step);
    }

    /// Add `step` if `runs`.
    pub(crate) fn push_if(&mut self, runs: bool, step: Step) {
        if runs {
            self.0.push(step);
        }
    }

    /// Whether the operation runs `step`.
    pub(crate) fn has(&self, step: Step) -> bool {
        self.0.contains(&step)
    }

    /// The steps, in order.
    pub(crate) fn steps(&self) -> &[Step] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for step in Step::ALL {
            assert!(seen.insert(step.name()), "duplicate name {}", step.name());
            assert_eq!(Step::from_name(step.name()), Some(*step));
        }
        assert_eq!(Step::from_name("no-such-step"), None);
    }
}
