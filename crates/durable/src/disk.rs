//! The durable-write primitives every command shares: sync levels, exclusive temporary files in
//! our own recognisable name pattern, the registry that lets a signal handler remove them, and
//! [`NewFile`], the one sequence by which a new file is made durable under its name.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::platform;
use crate::step::{Step, StepError, Tracker};

/// How hard to flush written data before reporting success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncLevel {
    /// Flush data and metadata (`fsync`; `F_FULLFSYNC` on macOS), and the directory after a
    /// rename or create. The default.
    #[default]
    Full,
    /// Flush data and the metadata needed to read it back (`fdatasync`), and the directory.
    Data,
    /// No flushing at all: atomic for readers, not durable across a power loss.
    None,
}

impl SyncLevel {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            SyncLevel::Full => "full",
            SyncLevel::Data => "data",
            SyncLevel::None => "none",
        }
    }
}

/// What creating a file does when its name is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Create {
    /// Open the existing file; never create one.
    Never,
    /// Create it; fail (`AlreadyExists`) if the name is taken.
    Exclusive,
}

/// What renaming a finished file to its name does when the name is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnExisting {
    /// Replace what is there, atomically.
    Replace,
    /// Fail with `AlreadyExists` (no-clobber), race-free.
    Fail,
}

/// What to do when another process holds a lock that is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IfLocked {
    /// Wait until it is released.
    Wait,
    /// Fail at once.
    Fail,
}

/// Suffix of every temporary file name we create: `.NAME.<16 hex digits>.durable-tmp`.
pub const TEMP_SUFFIX: &str = ".durable-tmp";
/// Suffix of every journal name: `.NAME.durable-journal`.
pub const JOURNAL_SUFFIX: &str = ".durable-journal";
const RANDOM_HEX: usize = 16;

/// If `file_name` is one of our temporary files, the name of the target it was for (possibly
/// shortened when the target's name is too long to fit).
pub fn temp_target_name(file_name: &OsStr) -> Option<OsString> {
    let bytes = platform::name_bytes(file_name);
    let rest = bytes.strip_prefix(b".")?;
    let rest = rest.strip_suffix(TEMP_SUFFIX.as_bytes())?;
    let (name, random) = rest.split_at_checked(rest.len().checked_sub(RANDOM_HEX + 1)?)?;
    let random = random.strip_prefix(b".")?;
    let is_hex = random
        .iter()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b));
    (is_hex && !name.is_empty()).then(|| platform::name_from_bytes(name.to_vec()))
}

/// A fresh temporary name for `target_name`: `.NAME.<16 random hex digits>.durable-tmp`. A name
/// too long for the filesystem is shortened (the pattern, not the name, is what a sweep needs).
pub(crate) fn temp_name(target_name: &OsStr) -> io::Result<OsString> {
    let mut random = [0u8; RANDOM_HEX / 2];
    platform::random_bytes(&mut random)?;
    let overhead = 1 + 1 + RANDOM_HEX + TEMP_SUFFIX.len();
    let name = platform::name_bytes(target_name);
    let keep = name.len().min(platform::NAME_MAX - overhead);
    let mut out = Vec::with_capacity(keep + overhead);
    out.push(b'.');
    out.extend_from_slice(&name[..keep]);
    out.push(b'.');
    for b in random {
        out.extend_from_slice(format!("{b:02x}").as_bytes());
    }
    out.extend_from_slice(TEMP_SUFFIX.as_bytes());
    Ok(platform::name_from_bytes(out))
}

/// The length of a [`temp_name`] for `target_name`.
pub(crate) fn temp_name_len(target_name: &OsStr) -> usize {
    let overhead = 1 + 1 + RANDOM_HEX + TEMP_SUFFIX.len();
    platform::name_bytes(target_name)
        .len()
        .min(platform::NAME_MAX - overhead)
        + overhead
}

/// `dir/name`, or just `name` when `dir` is `.` (so messages show `name`, not `./name`).
pub(crate) fn in_dir(dir: &Path, name: impl AsRef<OsStr>) -> PathBuf {
    if dir == Path::new(".") {
        PathBuf::from(name.as_ref())
    } else {
        dir.join(name.as_ref())
    }
}

/// The journal name for `target_name`, or `None` if it would be too long.
pub fn journal_name(target_name: &OsStr) -> Option<OsString> {
    let name = platform::name_bytes(target_name);
    if name.len() + 1 + JOURNAL_SUFFIX.len() > platform::NAME_MAX {
        return None;
    }
    let mut out = Vec::with_capacity(name.len() + 1 + JOURNAL_SUFFIX.len());
    out.push(b'.');
    out.extend_from_slice(name);
    out.extend_from_slice(JOURNAL_SUFFIX.as_bytes());
    Some(platform::name_from_bytes(out))
}

/// If `file_name` is a journal, the name of its target.
pub fn journal_target_name(file_name: &OsStr) -> Option<OsString> {
    let bytes = platform::name_bytes(file_name);
    let name = bytes
        .strip_prefix(b".")?
        .strip_suffix(JOURNAL_SUFFIX.as_bytes())?;
    (!name.is_empty()).then(|| platform::name_from_bytes(name.to_vec()))
}

/// How far a save had got when SIGINT, SIGTERM or SIGHUP ended it: what the line the interrupt
/// handler prints must say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupted {
    /// Nothing had been written to the target, and no temporary file (or journal) of ours was
    /// there to remove: the target is untouched.
    Untouched,
    /// The temporary file (or unfinished journal, or half-made new target, or backup copy) was
    /// removed; the target is untouched.
    Removed,
    /// An in-place save had begun overwriting the target: it may hold a mix of old and new bytes.
    PartlyWritten,
    /// A journal an earlier interrupted save left was being applied: it is kept, and the next
    /// save completes it; this save wrote nothing of its own.
    Settling,
    /// The new content was committed (renamed into place, its journal flushed, or written in
    /// place and closed); only a final flush may not have run.
    Committed,
    /// The new target an in-place save was creating could not be removed (its directory is
    /// append-only, say): it is left, holding none or part of the new content.
    LeftBehind,
    /// A journaled save had written its content over the target and removed its journal: the
    /// target holds the new content, and only the final flush of the journal's directory may
    /// not have run.
    Applied,
    /// A temporary file of the save could not be removed (its directory is append-only, say):
    /// it is left beside the target, which was not changed.
    TempLeftBehind,
}

impl Interrupted {
    /// Every state, in the order of their indexes.
    pub const ALL: [Interrupted; 8] = [
        Interrupted::Untouched,
        Interrupted::Removed,
        Interrupted::PartlyWritten,
        Interrupted::Settling,
        Interrupted::Committed,
        Interrupted::LeftBehind,
        Interrupted::Applied,
        Interrupted::TempLeftBehind,
    ];
}

/// What the interrupt handler prints for one signal and [`Interrupted`] state, prepared before
/// any signal can arrive.
#[derive(Debug, Clone, Default)]
pub struct InterruptReport {
    /// The line for standard error (without its newline).
    pub message: String,
    /// A line for standard output, if any (a `--json` failure object; without its newline).
    pub stdout: Option<String>,
    /// The exit status (SIGINT ends the process by re-raising itself whatever this says).
    pub code: i32,
}

/// Install the SIGINT/SIGTERM/SIGHUP handler that removes every live temporary file and stops
/// every producer before the process ends. `report(signal_name, state)` gives what to print
/// and the exit status for each [`Interrupted`] state. SIGINT always ends the process by
/// re-raising itself, so a shell loop sees the interrupt.
///
/// The handler uses only async-signal-safe calls on state prepared in advance, so it costs no
/// thread and no allocation at start-up.
pub fn install_interrupt_cleanup(
    report: impl Fn(&str, Interrupted) -> InterruptReport,
) -> io::Result<()> {
    platform::install_interrupt_handler(report)
}

/// Handle SIGINT, SIGTERM and SIGHUP by noting them, for a long operation that stops at its own
/// safe points instead of at an arbitrary instruction: [`crate::log::append`] ends after the
/// commit group it is flushing, and reports exactly what is in the log. Blocking reads and lock
/// waits return early so the note is seen soon.
pub fn defer_interrupts() -> io::Result<()> {
    platform::defer_interrupts()
}

/// The signal that [`defer_interrupts`] noted, if any (`"SIGINT"`, `"SIGTERM"` or `"SIGHUP"`).
pub fn pending_interrupt() -> Option<&'static str> {
    platform::pending_interrupt()
}

/// Record that the new content is committed (renamed into place, or its journal flushed), for
/// the interrupt report.
pub(crate) fn mark_committed() {
    platform::mark_committed();
}

/// Record that a journal was removed once its content was in the target, for the interrupt
/// report: after this save's commit, an interrupt leaves the new content in the target, not in a
/// journal.
pub(crate) fn mark_journal_removed() {
    platform::mark_journal_removed();
}

/// Record that an in-place save is about to change the target's first byte, for the interrupt
/// report.
pub(crate) fn mark_touched() {
    platform::mark_touched();
}

/// Record that a leftover journal is (or is no longer) being applied, for the interrupt report.
pub(crate) fn mark_settling(settling: bool) {
    platform::mark_settling(settling);
}

/// Record that the rename that commits an atomic save is (or is no longer) running, for the
/// interrupt report.
pub(crate) fn mark_renaming(renaming: bool) {
    platform::mark_renaming(renaming);
}

/// Whether a producer leads a process group of its own (so that it and everything it started
/// are signalled together) or stays in ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProcessGroup {
    /// It leads its own group.
    Own,
    /// It is in our group (it may read the terminal).
    Ours,
}

/// Kill a producer (and its process group, if it leads one) with SIGKILL.
pub(crate) fn kill_child(pid: u32, group: ProcessGroup) {
    platform::kill_child(pid, group);
}

/// Tell the interrupt handler about a producer, so that a signal stops it too.
pub(crate) fn register_child(pid: u32, group: ProcessGroup) {
    platform::register_child(pid, group);
}

pub(crate) fn unregister_child(pid: u32) {
    platform::unregister_child(pid);
}

/// A temporary file we created. Removed on drop, and on SIGINT/SIGTERM/SIGHUP once
/// [`install_interrupt_cleanup`] ran, unless it was renamed into place or kept.
#[derive(Debug)]
pub(crate) struct TempFile {
    path: PathBuf,
    file: Option<File>,
    /// Its slot in the interrupt registry, if it got one.
    slot: Option<usize>,
}

impl TempFile {
    /// Create a temporary file for `target_name` in `dir`, exclusively, mode 0600.
    pub(crate) fn create_in(dir: &Path, target_name: &OsStr) -> io::Result<TempFile> {
        let mut attempts = 0;
        loop {
            let path = in_dir(dir, temp_name(target_name)?);
            match TempFile::create_at(path) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 16 => {
                    attempts += 1;
                }
                other => return other,
            }
        }
    }

    /// Create `path` itself exclusively, mode 0600, tracked like a temporary file until
    /// [`TempFile::keep`] is called. Used for journals and new in-place targets.
    pub(crate) fn create_at(path: PathBuf) -> io::Result<TempFile> {
        TempFile::create_named(path, false)
    }

    /// [`TempFile::create_at`] for the target itself (a new in-place target): an interrupt
    /// that cannot remove it reports it as the target left behind, not as a temporary file.
    pub(crate) fn create_target(path: PathBuf) -> io::Result<TempFile> {
        TempFile::create_named(path, true)
    }

    fn create_named(path: PathBuf, is_target: bool) -> io::Result<TempFile> {
        // Registered before it exists, so an interrupt in between finds nothing to remove
        // (ENOENT) rather than missing a file.
        let slot = platform::register_temp(&path);
        if is_target && let Some(slot) = slot {
            platform::mark_temp_is_target(slot);
        }
        match platform::create_exclusive(&path, 0o600) {
            Ok(file) => Ok(TempFile {
                path,
                file: Some(file),
                slot,
            }),
            Err(e) => {
                if let Some(slot) = slot {
                    platform::unregister_temp(slot);
                }
                Err(e)
            }
        }
    }

    /// The temporary file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The open file, until [`TempFile::close`] is called.
    pub(crate) fn file(&self) -> &File {
        self.file
            .as_ref()
            .expect("TempFile::file called after close")
    }

    /// Close the file, checking the result. The name stays until it is renamed or dropped.
    pub(crate) fn close(&mut self) -> io::Result<()> {
        match self.file.take() {
            Some(file) => platform::close(file),
            None => Ok(()),
        }
    }

    /// Rename the (closed) temporary file to `to`, replacing what is there or failing if
    /// anything is. On success the temporary name is gone and nothing is removed on drop.
    pub(crate) fn persist(&mut self, to: &Path, on_existing: OnExisting) -> io::Result<()> {
        match on_existing {
            OnExisting::Fail => platform::rename_noreplace(&self.path, to)?,
            OnExisting::Replace => platform::rename(&self.path, to)?,
        }
        self.forget();
        Ok(())
    }

    /// Give the file, still open, the name `to`, failing if anything has that name, and go on
    /// tracking it there. A file that must be locked before its name appears (a journal: a
    /// save settling leftovers would otherwise take a new, still empty journal for an
    /// interrupted one and remove it) is created under a temporary name, locked, then moved.
    pub(crate) fn rename_open(&mut self, to: PathBuf) -> io::Result<()> {
        platform::rename_noreplace(&self.path, &to)?;
        // Registered after the rename, never before: until then `to` may be another
        // process's file. An interrupt in between leaves `to`, like a crash would.
        let slot = platform::register_temp(&to);
        if let Some(old) = std::mem::replace(&mut self.slot, slot) {
            platform::unregister_temp(old);
        }
        self.path = to;
        Ok(())
    }

    /// Stop tracking the file: it will not be removed on drop or on interrupt. Returns its path
    /// and, unless it was closed, the open file.
    pub(crate) fn keep(mut self) -> (PathBuf, Option<File>) {
        let path = self.path.clone();
        self.forget();
        (path, self.file.take())
    }

    /// Remove the file now, unlike a drop saying whether that worked (a file already gone
    /// counts as removed); on failure, its path and why.
    pub(crate) fn discard(mut self) -> Result<(), (PathBuf, io::Error)> {
        drop(self.file.take());
        let path = self.path.clone();
        let removed = match std::fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound && !path.as_os_str().is_empty() => {
                Err((path, e))
            }
            _ => Ok(()),
        };
        self.forget();
        removed
    }

    fn forget(&mut self) {
        if let Some(slot) = self.slot.take() {
            platform::unregister_temp(slot);
        }
        self.path = PathBuf::new();
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        drop(self.file.take());
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
        if let Some(slot) = self.slot.take() {
            platform::unregister_temp(slot);
        }
    }
}

/// A new file on its way to its name, by the one commit sequence every file durable creates
/// whole goes through: the atomic save, a save's backup, recover's sidecars, `log salvage`'s
/// new log and a new log's header.
///
/// ```text
/// create    open(".NAME.<random>.durable-tmp", O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0600)
/// (write)   the caller's content, metadata, checks: the file is not visible yet
/// sync      fsync / fdatasync / F_FULLFSYNC, as the sync level says (none: skipped)
/// close     close, checked (some filesystems report write-back errors there)
/// rename    rename (or renameat2 RENAME_NOREPLACE) to the file's name: atomic for readers
/// sync_dir  fsync of the directory, which makes the rename itself durable (none: skipped)
/// ```
///
/// Each is a timed [`Step`] of the caller's tracker (`create-temp`, `sync-temp`,
/// `close-temp`, `rename`, `sync-dir`), so it is traced, reported and faulted like any other,
/// and returns the [`StepError`] for the caller to say what a failure leaves. Until the
/// rename, nothing visible has changed, and dropping the `NewFile` removes the temporary file.
#[derive(Debug)]
pub(crate) struct NewFile {
    temp: TempFile,
    dir: PathBuf,
}

impl NewFile {
    /// `create-temp`: a temporary file for `name` in `dir`, the directory its name will be in.
    pub(crate) fn create(
        t: &mut Tracker<'_>,
        dir: &Path,
        name: &OsStr,
    ) -> Result<NewFile, StepError> {
        let temp = t.run(Step::CreateTemp, dir, || TempFile::create_in(dir, name))?;
        Ok(NewFile {
            temp,
            dir: dir.to_path_buf(),
        })
    }

    /// The temporary file's path.
    pub(crate) fn path(&self) -> &Path {
        self.temp.path()
    }

    /// The open temporary file, until it is closed.
    pub(crate) fn file(&self) -> &File {
        self.temp.file()
    }

    /// `sync-temp`: flush the content, unless `sync` is none.
    pub(crate) fn sync(&self, t: &mut Tracker<'_>, sync: SyncLevel) -> Result<(), StepError> {
        if sync == SyncLevel::None {
            return Ok(());
        }
        t.run(Step::SyncTemp, self.temp.path(), || {
            platform::sync_file(self.temp.file(), sync)
        })
    }

    /// `close-temp`: close the file, checking the result.
    pub(crate) fn close(&mut self, t: &mut Tracker<'_>) -> Result<(), StepError> {
        let path = self.temp.path().to_path_buf();
        t.run(Step::CloseTemp, &path, || self.temp.close())
    }

    /// [`NewFile::sync`] then [`NewFile::close`], for a file with no check between them.
    pub(crate) fn seal(&mut self, t: &mut Tracker<'_>, sync: SyncLevel) -> Result<(), StepError> {
        self.sync(t, sync)?;
        self.close(t)
    }

    /// `rename`: give the closed file its name `to` (in the same directory), replacing what is
    /// there or failing with `AlreadyExists`, as `on_existing` says.
    pub(crate) fn rename(
        &mut self,
        t: &mut Tracker<'_>,
        to: &Path,
        on_existing: OnExisting,
    ) -> Result<(), StepError> {
        self.rename_with(t, to, |temp| temp.persist(to, on_existing))
    }

    /// `rename` (reported as acting on `shown`) done by `f`, for a name chosen at the last
    /// moment (the first free one of several).
    pub(crate) fn rename_with<T>(
        &mut self,
        t: &mut Tracker<'_>,
        shown: &Path,
        f: impl FnOnce(&mut TempFile) -> io::Result<T>,
    ) -> Result<T, StepError> {
        t.run(Step::Rename, shown, || f(&mut self.temp))
    }

    /// Remove the temporary file now (see [`TempFile::discard`]).
    pub(crate) fn discard(self) -> Result<(), (PathBuf, io::Error)> {
        self.temp.discard()
    }

    /// `sync-dir`: flush the directory that now holds the name, unless `sync` is none.
    pub(crate) fn sync_dir(&self, t: &mut Tracker<'_>, sync: SyncLevel) -> Result<(), StepError> {
        if sync == SyncLevel::None {
            return Ok(());
        }
        t.run(Step::SyncDir, &self.dir, || {
            platform::sync_dir(&self.dir, sync)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_recognised_and_unpredictable() {
        let a = temp_name(OsStr::new("app.conf")).unwrap();
        let b = temp_name(OsStr::new("app.conf")).unwrap();
        assert_ne!(a, b);
        assert_eq!(temp_target_name(&a).unwrap(), "app.conf");
        assert!(temp_target_name(OsStr::new("app.conf")).is_none());
        assert!(temp_target_name(OsStr::new(".app.conf.tmp.durable-tmp")).is_none());
        assert!(temp_target_name(OsStr::new(".app.0123456789abcdeg.durable-tmp")).is_none());
        assert!(temp_target_name(OsStr::new("..0123456789abcdef.durable-tmp")).is_none());
    }

    #[test]
    fn long_names_are_shortened_to_fit() {
        let long = "x".repeat(255);
        let name = temp_name(OsStr::new(&long)).unwrap();
        assert_eq!(name.len(), 255);
        assert!(temp_target_name(&name).is_some());
        assert!(journal_name(OsStr::new(&long)).is_none());
    }

    #[test]
    fn journal_names_round_trip() {
        let j = journal_name(OsStr::new("a b")).unwrap();
        assert_eq!(j, ".a b.durable-journal");
        assert_eq!(journal_target_name(&j).unwrap(), "a b");
        assert!(journal_target_name(OsStr::new(".durable-journal")).is_none());
    }
}
