//! Typed errors of the library. Every error names the file it is about, and says what state the
//! target was left in ([`Error::aftermath`]), so a caller can pick its exit code without parsing
//! messages. The messages describe what happened in the library's terms; they name no
//! command-line option (the `durable` binary adds the options and commands that help).

use std::io;
use std::path::{Path, PathBuf};

use crate::quote::{quoted, shell_word};
use crate::step::{Step, StepError};

/// What a failed operation left behind at the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aftermath {
    /// Nothing visible changed: the target (if any) holds its old content.
    Unchanged,
    /// The new content is in place but a later flush failed, so it may not survive a power loss.
    Unconfirmed,
    /// The target may hold a mix of old and new bytes (in-place strategy only).
    Damaged,
    /// The new content is complete and flushed in the journal, but the target was not (fully)
    /// updated from it: the next save of the target (or a recovery) completes it.
    Pending,
    /// Nothing new was written: an earlier, interrupted journaled save of the same target could
    /// not be settled (by this save, or by a recovery) and is still pending in its journal.
    EarlierPending,
    /// The target did not exist; the save created it (in place) and, after failing, could not
    /// remove it again (its directory is append-only, say): a file holding none or part of the
    /// new content is left at the target's name (the message says which and how long).
    LeftBehind,
}

/// Errors of the library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A step's system call failed.
    #[error("could not {} {}: {source}", .step.action(), quoted(&.path))]
    Step {
        /// The step that failed.
        step: Step,
        /// The path it acted on.
        path: PathBuf,
        /// What the target was left as.
        aftermath: Aftermath,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Reading the input failed.
    #[error("could not read {what}: {source}")]
    Input {
        /// Which input (stdin, a file path, a producer).
        what: String,
        /// What the target was left as.
        aftermath: Aftermath,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Inspecting a path failed before anything was written.
    #[error("could not inspect {}: {source}", quoted(&.path))]
    Inspect {
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The producer command could not be started or exited unsuccessfully.
    #[error("the producer `{program}` {status}")]
    Producer {
        /// The program as the user wrote it.
        program: String,
        /// "exited with status 3", "was killed by signal 9", "could not be started: …".
        status: String,
    },
    /// The target's directory does not exist.
    #[error("the directory {} does not exist", quoted(&.path))]
    MissingParent {
        /// The directory.
        path: PathBuf,
    },
    /// A directory in the target's path is something else (a regular file, …), so the target
    /// cannot be there.
    #[error("{} is {kind}, not a directory", quoted(&.path))]
    ParentNotADirectory {
        /// The path that should be a directory.
        path: PathBuf,
        /// "a regular file", …
        kind: &'static str,
    },
    /// The target is something other than a regular file.
    #[error("{} is {kind}, not a regular file", quoted(&.path))]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// "a directory", "a FIFO", …
        kind: &'static str,
    },
    /// The target exists and no-clobber was asked for.
    #[error("{} already exists", quoted(&.path))]
    Exists {
        /// The path.
        path: PathBuf,
    },
    /// The target has several names; renaming over it would split them.
    #[error(
        "{} has {links} hard links; an atomic save would give only this name the new content",
        quoted(&.path)
    )]
    HardLinked {
        /// The path.
        path: PathBuf,
        /// Its link count.
        links: u64,
    },
    /// A symlink chain that loops or is too long.
    #[error("{} is a symlink chain that loops or is longer than 40 links", quoted(&.path))]
    SymlinkLoop {
        /// Where the chain started.
        path: PathBuf,
    },
    /// A command that writes through a path (`save`, `log append`, `log salvage`, `recover`,
    /// `log restore`) would follow a symlink the kernel's `fs.protected_symlinks` rule does not
    /// follow: another user's link in a sticky world-writable directory whose owner does not
    /// own it either.
    #[error(
        "{} is a symlink of user {owner}'s in {}, a sticky directory anyone may write (user {dir_owner}'s): durable {command} follows such a link only for its owner, or when the directory's owner owns it (the rule of the kernel's fs.protected_symlinks, applied whatever that setting is), so nothing was changed{}",
        quoted(&.link),
        quoted(&.dir),
        including(.file.as_deref())
    )]
    StickySymlink {
        /// The command that refused: "save", "log append", "log salvage", "recover", "log
        /// restore".
        command: &'static str,
        /// The file the command was working on, when the link is not on its own path (the
        /// sidecar directory of a log recover would repair).
        file: Option<PathBuf>,
        /// The link.
        link: PathBuf,
        /// Whether the link is the file's own name (the path given, or a link a chain of
        /// links reached), not a directory on the way to it.
        last: bool,
        /// Its owner.
        owner: u32,
        /// The sticky world-writable directory it is in.
        dir: PathBuf,
        /// That directory's owner.
        dir_owner: u32,
    },
    /// A symlink cannot be replaced in place.
    #[error(
        "{} is a symlink: only the atomic strategy can replace the link itself",
        quoted(&.path)
    )]
    SymlinkInPlace {
        /// The link.
        path: PathBuf,
    },
    /// The target's name is too long to derive a temporary or journal name from.
    #[error("the file name of {} is too long for a {what} name next to it", quoted(&.path))]
    NameTooLong {
        /// The target.
        path: PathBuf,
        /// "journal".
        what: &'static str,
    },
    /// Another save of the same target holds its journal.
    #[error("another `durable save` of {} is in progress (its journal {} is locked)", quoted(&.target), quoted(&.journal))]
    Busy {
        /// The target.
        target: PathBuf,
        /// The journal.
        journal: PathBuf,
    },
    /// The input was empty and would have replaced a non-empty target ([`SaveOptions::allow_empty`](crate::SaveOptions::allow_empty)
    /// allows it).
    #[error(
        "the new content for {} is empty ({input} gave 0 bytes) and {} holds {old_len} bytes: refusing to empty it",
        quoted(&.path), quoted(&.path)
    )]
    EmptyInput {
        /// The target.
        path: PathBuf,
        /// Where the content came from: "standard input", a path, a command.
        input: String,
        /// The target's size.
        old_len: u64,
    },
    /// The file has an attribute that forbids what was to be done to it.
    #[error(
        "{} is {}: {why}; `{} {}` (as root) lifts that",
        quoted(&.path), .protection.describe(), .protection.lift(), shell_word(.path)
    )]
    Protected {
        /// The file.
        path: PathBuf,
        /// Its attribute.
        protection: crate::target::Protection,
        /// What needed to be done that the attribute forbids.
        why: &'static str,
    },
    /// A save failed, and the temporary file it made could not be removed either (the same
    /// cause often forbids both, as an append-only directory does): it is named so that it can
    /// be removed by hand (or by `durable recover`).
    #[error(
        "{error}; the temporary file {} could not be removed either ({source}): remove it by hand",
        quoted(&.temp)
    )]
    TempLeftBehind {
        /// Why the save failed.
        error: Box<Error>,
        /// The temporary file left behind.
        temp: PathBuf,
        /// Why it could not be removed.
        source: io::Error,
    },
    /// An atomic or journaled save cannot create its file in the target's directory.
    #[error(
        "cannot create {what} in the directory {} ({source}), which the {strategy} strategy needs{}",
        quoted(&.dir),
        if *.file_writable {
            format!("; {} itself is writable, which the in-place strategy needs", quoted(&.path))
        } else {
            String::new()
        }
    )]
    DirNotWritable {
        /// The directory.
        dir: PathBuf,
        /// The target.
        path: PathBuf,
        /// "a temporary file", "the journal".
        what: &'static str,
        /// The strategy that needs it.
        strategy: &'static str,
        /// The target exists and this process may write it.
        file_writable: bool,
        /// A backup was asked for: it is made in the directory too, whatever the strategy.
        backup: bool,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// An in-place save with a backup cannot create the backup's copy in the target's directory
    /// (refused before anything is written).
    #[error(
        "cannot create the backup {} in the directory {} ({}), which a backup needs whatever the strategy",
        quoted(&.backup), quoted(&.dir), cause(.source)
    )]
    BackupDirNotWritable {
        /// The directory.
        dir: PathBuf,
        /// The target.
        path: PathBuf,
        /// The backup's name.
        backup: PathBuf,
        /// This process may write the target (an in-place save without a backup would work).
        file_writable: bool,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The file at the target's path is no longer the one the save found when it resolved the
    /// target (renamed, removed, or replaced by another file or a symlink): the save reads,
    /// backs up and writes only the file it checked, so it stopped before changing anything.
    #[error("{} changed while it was being saved ({now})", quoted(&.path))]
    TargetChanged {
        /// The target.
        path: PathBuf,
        /// What is there now: "it is a symlink now", …
        now: &'static str,
    },
    /// A save's own journal was committed (flushed) but could not be applied to the target as
    /// things are now (the target was replaced by a symlink, say): the target was not written,
    /// and the journal is kept with the new content.
    #[error("{}: the new content of {} is flushed in this journal, but it was not written over {}: {reason}", quoted(&.journal), quoted(&.target), quoted(&.target))]
    JournalKept {
        /// The journal.
        journal: PathBuf,
        /// The target as named beside the journal.
        target: PathBuf,
        /// Why it was not applied.
        reason: NotApplied,
    },
    /// An in-place save of a new target failed, and the file it had created at the target's
    /// name could not be removed again (an append-only directory forbids it).
    #[error(
        "{error}; {}, which this save had created, could not be removed again{}: it is left there, {len} bytes long ({}), with mode {:04o}; remove it by hand",
        quoted(&.path),
        .why.as_ref().map(|w| format!(" ({w})")).unwrap_or_default(),
        if *.len == 0 { "empty" } else { "holding what was written of the new content" },
        .mode
    )]
    NewTargetLeftBehind {
        /// Why the save failed.
        error: Box<Error>,
        /// The file left behind (the target).
        path: PathBuf,
        /// Its size.
        len: u64,
        /// Its permission bits as they are (0600 until the save gives it its final mode).
        mode: u32,
        /// Why it could not be removed, when known: "its directory is append-only (chattr +a)".
        why: Option<String>,
    },
    /// Another process holds the target's lock (a save in place of it) and the save was
    /// asked not to wait ([`SaveOptions::no_wait`](crate::SaveOptions::no_wait)).
    #[error("another `durable save` of {} is in progress (a process holds its lock)", quoted(&.path))]
    TargetLocked {
        /// The target.
        path: PathBuf,
    },
    /// Read-back after writing did not match what was written.
    #[error("verification failed: {} does not read back as what was written", quoted(&.path))]
    VerifyMismatch {
        /// The file that was re-read.
        path: PathBuf,
        /// What the target was left as.
        aftermath: Aftermath,
    },
    /// A journal left by an earlier interrupted save could not be settled, so this save did not
    /// start.
    #[error("could not finish the interrupted earlier save of {}: {source}", quoted(&.target))]
    Settle {
        /// The target.
        target: PathBuf,
        /// Why.
        #[source]
        source: Box<Error>,
    },
    /// A file given as a log is not one.
    #[error("{} is not a {}: {why}", quoted(&.path), .format.map_or("log durable can read".to_string(), format_noun))]
    NotALog {
        /// The file.
        path: PathBuf,
        /// Why: "it is empty", "it does not start with the log magic", …
        why: &'static str,
        /// It does start like a log, but its header is cut short or damaged (a damaged log
        /// rather than some other file).
        damaged_header: bool,
        /// The format it was named as (by the caller) and is not, if one was.
        format: Option<&'static str>,
    },
    /// An explicit checksum algorithm
    /// ([`AppendOptions::algorithm`](crate::log::AppendOptions::algorithm)) differs from the
    /// existing log's.
    #[error("{} uses {existing} checksums; {requested} can only be chosen for a new log", quoted(&.path))]
    ChecksumConflict {
        /// The log.
        path: PathBuf,
        /// Its algorithm.
        existing: &'static str,
        /// The one asked for.
        requested: &'static str,
    },
    /// An operation this file's format does not support.
    #[error("{}: {why}", quoted(&.path))]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What cannot be done, and why.
        why: String,
    },
    /// A record that the log's format cannot hold (a newline in a lines entry).
    #[error("{what} cannot go into {}: {why}", quoted(&.path))]
    Unencodable {
        /// The log.
        path: PathBuf,
        /// Which record.
        what: String,
        /// Why not.
        why: &'static str,
    },
    /// A record is larger than the maximum.
    #[error("{what} is {}", too_large(*.len))]
    RecordTooLarge {
        /// Which record.
        what: String,
        /// Its size, or the maximum plus one when reading stopped there (a stream's size is not
        /// known before its end).
        len: u64,
    },
    /// Another process holds the log's lock and the append was asked not to wait
    /// ([`AppendOptions::no_wait`](crate::log::AppendOptions::no_wait)).
    #[error("{} is locked by another appender", quoted(&.path))]
    Locked {
        /// The log.
        path: PathBuf,
    },
    /// The log does not end with a valid record; appending after it would make the new
    /// records unreachable.
    #[error(
        "{} {}",
        quoted(&.path),
        if *.corrupt {
            format!("is damaged from offset {offset} on, and the damage is not a torn write: appending is refused until a human looks")
        } else {
            format!("has a torn tail from offset {offset} (an append that never completed): appending after it would make the new records unreachable until it is recovered")
        }
    )]
    TornTail {
        /// The log.
        path: PathBuf,
        /// Where its valid prefix ends.
        offset: u64,
        /// The damage is corruption with valid records after it, not a torn tail.
        corrupt: bool,
        /// The format `recover` must be told (`--log-format`), when detection does not find
        /// it (a lines log whose first line was cut short).
        format: Option<&'static str>,
    },
    /// A log to append to holds only zero bytes (no header): a native log whose start never
    /// reached the disk cannot be told from one whose acknowledged records were zeroed, so
    /// nothing is appended until `recover --force` empties it (docs/FORMAT.md, "A log's start").
    #[error(
        "{} holds only zero bytes ({len} bytes), no log header: a log whose start never reached the disk cannot be told from one whose records were zeroed, so nothing was appended",
        quoted(&.path)
    )]
    ZeroFile {
        /// The log.
        path: PathBuf,
        /// Its size.
        len: u64,
    },
    /// A log read record by record ([`crate::log::Log::records`]) does not end with a valid
    /// record: every record before `offset` was handed over, none from there on.
    #[error(
        "{} {}",
        quoted(&.path),
        if *.corrupt {
            format!("is damaged from offset {offset} on, and the damage is not a torn write: the records before it were read, the {records_after} valid records after it were not")
        } else {
            format!("ends in a torn tail from offset {offset} (an append that never completed): every record before it was read")
        }
    )]
    LogDamaged {
        /// The log.
        path: PathBuf,
        /// Where its valid part ends: what [`crate::recover::recover_log`] would cut.
        offset: u64,
        /// The damage is corruption (acknowledged records may be lost), not a torn tail.
        corrupt: bool,
        /// Valid records after the damage, not handed over.
        records_after: u64,
    },
    /// A signal stopped the operation before anything was changed (or, with another
    /// aftermath, after a partial write that could not be taken back).
    #[error(
        "interrupted by {signal}; {}",
        if *.aftermath == Aftermath::Unchanged {
            format!("nothing was appended to {}", quoted(&.path))
        } else {
            format!("the records written so far could not be cut back: {} ends in an unfinished append, which recovering it removes", quoted(&.path))
        }
    )]
    AppendInterrupted {
        /// The log.
        path: PathBuf,
        /// The signal's name.
        signal: &'static str,
        /// What the log was left as.
        aftermath: Aftermath,
    },
    /// A file given to `recover` that is none of the things it recovers.
    #[error("{} is not a log ({why}), a journal, or a temporary file of an interrupted save: nothing to recover", quoted(&.path))]
    NothingToRecover {
        /// The file.
        path: PathBuf,
        /// Why it is not a log.
        why: &'static str,
    },
    /// A log that another process holds locked (an append in progress).
    #[error("{} is in use: another process holds its lock (an append in progress?); it was not touched", quoted(&.path))]
    InUse {
        /// The log.
        path: PathBuf,
    },
    /// A file recover was asked about, or met in a directory, that could not be read.
    #[error("could not read {}: {}; it was not checked or changed", quoted(&.path), cause(.source))]
    NotChecked {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A repair (or a restore) needed to write to a file and could not open or change it;
    /// nothing was written.
    #[error("{}: could not {doing}: {}; {} was not changed", quoted(&.path), cause(.source), quoted(&.path))]
    CannotChange {
        /// The file.
        path: PathBuf,
        /// What was being done: "cut its torn tail at offset 123 (opening it for writing)".
        doing: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The bytes a repair would remove could not be kept in a sidecar, so the log was left
    /// alone.
    #[error(
        "could not {} {}: {}; {} was not changed, since the {bytes} bytes recover would remove from it could not be kept in {}",
        .step.action(), quoted(&.at), sidecar_cause(.source), quoted(&.log), quoted(&.dir)
    )]
    Sidecar {
        /// The log.
        log: PathBuf,
        /// Where the sidecar was to go.
        dir: PathBuf,
        /// Bytes to keep.
        bytes: u64,
        /// The step that failed.
        step: Step,
        /// The path it acted on.
        at: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A sidecar was given where a log was expected.
    #[error(
        "{} is not a log: it is a sidecar kept by durable recover ({bytes} bytes it removed from {} at offset {offset})",
        quoted(&.path), quoted(&.log)
    )]
    IsSidecar {
        /// The sidecar.
        path: PathBuf,
        /// The log its bytes came from.
        log: PathBuf,
        /// Where they were in the log.
        offset: u64,
        /// How many.
        bytes: u64,
    },
    /// A file given to `log restore` that is not a sidecar.
    #[error("{} is not a sidecar kept by durable recover (it does not end with a valid sidecar trailer); nothing was changed", quoted(&.path))]
    NotASidecar {
        /// The file.
        path: PathBuf,
    },
    /// A sidecar whose bytes no longer match the checksum it recorded.
    #[error("{} is damaged: its bytes do not match the checksum recorded when it was written; {} was not changed", quoted(&.path), quoted(&.log))]
    SidecarDamaged {
        /// The sidecar.
        path: PathBuf,
        /// The log it belongs to.
        log: PathBuf,
    },
    /// `log restore` found the log in another state than the one the sidecar was cut from.
    #[error("cannot put the bytes of {} back: {why}; {} was not changed", quoted(&.sidecar), quoted(&.log))]
    RestoreRefused {
        /// The sidecar.
        sidecar: PathBuf,
        /// The log.
        log: PathBuf,
        /// What is different.
        why: String,
    },
    /// A lines log was asked for with a checksum other than its own.
    #[error("{}: a lines log carries SHA-256 checksums, not {requested}", quoted(&.path))]
    LinesChecksum {
        /// The log.
        path: PathBuf,
        /// The algorithm asked for.
        requested: &'static str,
    },
    /// An existing log was named as another format than its own for an append.
    #[error("{}: it is a {existing} log; only a new log or a {requested} log is appended to as {requested}", quoted(&.path))]
    FormatConflict {
        /// The log.
        path: PathBuf,
        /// Its format.
        existing: &'static str,
        /// The format asked for.
        requested: &'static str,
    },
    /// No default place for a sidecar: a proglog segment's directory with no directory above
    /// it (proglog reads its own directory whole).
    #[error("{}: there is no directory above its directory to keep the bytes recover removes in (proglog reads its own directory whole)", quoted(&.path))]
    NoSidecarPlace {
        /// The file to repair.
        path: PathBuf,
    },
    /// A complete journal of ours that cannot be applied to its target as things are: nothing
    /// was written, and the journal is kept (it still holds the save's content).
    #[error("{}: the interrupted journaled save of {} was not completed: {reason}; nothing was changed", quoted(&.journal), quoted(&.target))]
    JournalNotApplied {
        /// The journal.
        journal: PathBuf,
        /// The file it would be written over (as named beside the journal).
        target: PathBuf,
        /// Why not.
        reason: NotApplied,
    },
    /// The journal of an interrupted save that this process may not read (another user's,
    /// mode 0600): whether it is complete cannot be told, so it is left to its author.
    #[error("{}: the journal of an interrupted save of {} cannot be read ({}): {}; nothing was changed", quoted(&.journal), quoted(&.target), cause(.source), completed_by(*.author))]
    JournalUnreadable {
        /// The journal.
        journal: PathBuf,
        /// Its target.
        target: PathBuf,
        /// The journal's owner.
        author: u32,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A walk met a path longer than the system allows (`PATH_MAX`): it cannot be opened by
    /// its path, so it (and for a directory everything below it) was not looked at.
    #[error("{}: not checked: its path is {len} bytes long, more than the {} bytes the system allows (PATH_MAX){}; it was not changed", quoted(&.path), crate::platform::PATH_MAX, if *.dir { ", so nothing below this directory was looked at" } else { "" })]
    PathTooLong {
        /// The directory or file.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
        /// It is a directory.
        dir: bool,
    },
    /// With `-x` (`one_file_system`), the default place of a proglog segment's sidecar, the
    /// directory above the segment's, is on another filesystem than the segment.
    #[error("{}: its sidecar would go to {}, above its own directory (which proglog reads whole), and that is on another filesystem, which -x keeps recover off; it was not changed", quoted(&.path), quoted(&.dir))]
    SidecarOffFilesystem {
        /// The file to repair.
        path: PathBuf,
        /// Where its sidecar would go.
        dir: PathBuf,
    },
    /// The directory recover keeps a log's sidecars in by default (`.durable-recovered`)
    /// belongs to another user than the one recovering, root or the log's owner: that user could
    /// remove what recover set aside there.
    #[error("{}: its sidecar would go to {}, which belongs to user {owner} (not to the user recovering, root or the log's owner), who could remove what recover keeps there; it was not changed", quoted(&.path), quoted(&.dir))]
    SidecarDirForeign {
        /// The file to repair.
        path: PathBuf,
        /// The directory.
        dir: PathBuf,
        /// Its owner.
        owner: u32,
    },
    /// The directory recover keeps a log's sidecars in by default (`.durable-recovered`, or a
    /// segment directory under it) is a symlink another user than the one recovering or root
    /// owns: followed, it would put what recover keeps wherever that user points it.
    #[error("{}: its sidecar would go to {}, a symlink that belongs to user {owner} (not to the user recovering or root), which recover does not follow; it was not changed", quoted(&.path), quoted(&.link))]
    SidecarDirLink {
        /// The file to repair.
        path: PathBuf,
        /// The link.
        link: PathBuf,
        /// Its owner.
        owner: u32,
    },
    /// The save was interrupted by a signal.
    #[error("interrupted by {signal}")]
    Interrupted {
        /// The signal's name.
        signal: &'static str,
    },
}

/// Why a complete journal of ours was not applied to its target ([`Error::JournalNotApplied`]).
/// Decided from the journal's owner and the target as it is, before anything is written, by
/// the same code for `recover --dry-run` and for the settle itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotApplied {
    /// The target is a symlink. A save writes its journal beside the file itself (it writes
    /// through links), so the link was put there after the journal was written; a link met in a
    /// walk is never followed.
    Symlink,
    /// The target is a directory, a FIFO, a socket or a device: not a file to write over.
    NotRegular {
        /// What it is: "a directory", "a FIFO", …
        kind: &'static str,
    },
    /// Another user wrote the journal, and does not own the target.
    NotAuthorsTarget {
        /// The journal's owner.
        author: u32,
        /// The target's owner.
        owner: u32,
    },
    /// The target is reached through a symlink, and the journal is not this user's or a link
    /// on the way is another user's (not root's): a link can point anywhere, so a journal is
    /// written through one only by its author, and only through links the author (or root)
    /// owns.
    Link {
        /// The journal's owner.
        author: u32,
        /// The owner of the (first) link that is neither this user's nor root's, or of the
        /// link named when the journal is not this user's.
        link_owner: u32,
        /// The user applying it.
        applier: u32,
    },
    /// Another complete journal's target resolves to the same file (the same device and
    /// inode, or, where no file is, the same path): a journal beside a symlink and one beside
    /// the file it points to, or beside two hard links. Which of the two saves came last cannot
    /// be told, so neither is applied.
    TwoJournals {
        /// The other journal.
        other: PathBuf,
        /// Its target, as it names it (beside it).
        other_target: PathBuf,
        /// What `durable recover` of each target would do were its journal alone: the way out
        /// keeps each as that command can.
        alone: Box<Alone>,
    },
    /// The journal is beside the file itself, but that file was reached through a symlink (the
    /// path given to `save` or `recover`), and the journal is not this user's or a link on the
    /// way is another user's (not root's): the rule of [`NotApplied::Link`].
    ThroughLink {
        /// The symlink the path given was.
        link: PathBuf,
        /// The journal's owner.
        author: u32,
        /// The owner of the (first) link that is neither this user's nor root's, or of the
        /// link when the journal is not this user's.
        link_owner: u32,
        /// The user applying it.
        applier: u32,
    },
    /// The target is a symlink now (put there after the journal was written), and the file it
    /// leads to changed (ctime) at or after the journal was last written: its content may be a
    /// later save's (a save of that file does not see this journal), which the journal's must
    /// not replace. Nothing the journal records tells the file it was written for.
    ChangedSince,
    /// The journal is beside a symlink named to `recover` that points to no file: a new file
    /// is created only beside its journal, never through a link.
    NewThroughLink,
    /// Another user wrote the journal for a new file, which would have to be created as
    /// theirs: only root may give a file to another user.
    CannotCreateAsAuthor {
        /// The journal's owner.
        author: u32,
    },
}

/// For [`NotApplied::TwoJournals`]: what `durable recover TARGET` would do with each of the two
/// journals were it the only journal of the file, decided as it decides.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Alone {
    /// Why it would not apply this journal (`None`: it would).
    pub blocked: Option<String>,
    /// Why it would not apply the other journal (`None`: it would).
    pub other_blocked: Option<String>,
    /// The file both targets resolve to (the target followed, when it is a link).
    pub file: PathBuf,
}

impl std::fmt::Display for NotApplied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotApplied::Symlink => write!(
                f,
                "the target is a symlink now (a save writes its journal beside the file a link points to, so this link was put there after the journal was written), and a link is followed only when it is named itself"
            ),
            NotApplied::ChangedSince => write!(
                f,
                "the target is a symlink now (put there after the journal was written), and the file it points to was changed after the journal was written, maybe by a later save, which replaying the journal would undo"
            ),
            NotApplied::NotRegular { kind } => write!(
                f,
                "the target is {kind}, and a journal's content is only ever written over a regular file"
            ),
            NotApplied::NotAuthorsTarget { author, owner } => write!(
                f,
                "it was written by user {author}, who does not own the target (user {owner}): another user's journal is not applied to it"
            ),
            NotApplied::Link {
                author,
                link_owner,
                applier,
            } => {
                if author != applier {
                    write!(
                        f,
                        "the target is a symlink (user {link_owner}'s) and the journal was written by user {author}: a link can point anywhere, so a journal is written through one only by its own author"
                    )
                } else {
                    write!(
                        f,
                        "the target is a symlink, and a link on the way is user {link_owner}'s: a link can point anywhere, so a journal is written through links of its author's (or root's) only"
                    )
                }
            }
            NotApplied::TwoJournals {
                other,
                other_target,
                ..
            } => write!(
                f,
                "it and the complete journal {} (of {}) are for the same file, and which of the two saves came last cannot be told, so neither is applied",
                quoted(other),
                quoted(other_target)
            ),
            NotApplied::ThroughLink {
                link,
                author,
                link_owner,
                applier,
            } => {
                if author != applier {
                    write!(
                        f,
                        "the path given, {}, is a symlink (user {link_owner}'s) to it and the journal was written by user {author}: a link can point anywhere, so a journal is written through one only by its own author",
                        quoted(link)
                    )
                } else {
                    write!(
                        f,
                        "the path given, {}, is a symlink to it, and a link on the way is user {link_owner}'s: a link can point anywhere, so a journal is written through links of its author's (or root's) only",
                        quoted(link)
                    )
                }
            }
            NotApplied::NewThroughLink => write!(
                f,
                "the link points to no file, and a new file is created only beside its journal, never through a link (a directory on the way could be replaced meanwhile)"
            ),
            NotApplied::CannotCreateAsAuthor { author } => write!(
                f,
                "it was written by user {author}, and the target does not exist: another user's journal creates it as theirs, and only root may give a file to another user"
            ),
        }
    }
}

impl Error {
    /// A [`Error::StickySymlink`] met on the way to something other than `file` itself (its
    /// sidecar directory), naming `file` too; any other error as it is.
    pub(crate) fn for_file(self, file: &Path) -> Error {
        match self {
            Error::StickySymlink {
                command,
                link,
                last,
                owner,
                dir,
                dir_owner,
                ..
            } => Error::StickySymlink {
                command,
                file: Some(file.to_path_buf()),
                link,
                last,
                owner,
                dir,
                dir_owner,
            },
            other => other,
        }
    }

    /// What the target was left as.
    pub fn aftermath(&self) -> Aftermath {
        match self {
            Error::Step { aftermath, .. }
            | Error::VerifyMismatch { aftermath, .. }
            | Error::AppendInterrupted { aftermath, .. }
            | Error::Input { aftermath, .. } => *aftermath,
            Error::Settle { .. } => Aftermath::EarlierPending,
            Error::JournalKept { .. } => Aftermath::Pending,
            Error::NewTargetLeftBehind { .. } => Aftermath::LeftBehind,
            Error::TempLeftBehind { error, .. } => error.aftermath(),
            _ => Aftermath::Unchanged,
        }
    }

    /// The file the error is about, when it names one (for reports that carry it apart from the
    /// sentence, such as `--json`).
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::Step { path, .. }
            | Error::Inspect { path, .. }
            | Error::MissingParent { path }
            | Error::ParentNotADirectory { path, .. }
            | Error::NotRegular { path, .. }
            | Error::Exists { path }
            | Error::HardLinked { path, .. }
            | Error::SymlinkLoop { path }
            | Error::StickySymlink {
                file: Some(path), ..
            }
            | Error::StickySymlink { link: path, .. }
            | Error::SymlinkInPlace { path }
            | Error::NameTooLong { path, .. }
            | Error::VerifyMismatch { path, .. }
            | Error::EmptyInput { path, .. }
            | Error::TargetLocked { path }
            | Error::Protected { path, .. }
            | Error::DirNotWritable { path, .. }
            | Error::BackupDirNotWritable { path, .. }
            | Error::TargetChanged { path, .. }
            | Error::JournalKept { journal: path, .. }
            | Error::NewTargetLeftBehind { path, .. }
            | Error::NotALog { path, .. }
            | Error::ChecksumConflict { path, .. }
            | Error::Unsupported { path, .. }
            | Error::Unencodable { path, .. }
            | Error::Locked { path }
            | Error::TornTail { path, .. }
            | Error::ZeroFile { path, .. }
            | Error::LogDamaged { path, .. }
            | Error::AppendInterrupted { path, .. }
            | Error::NothingToRecover { path, .. }
            | Error::NotChecked { path, .. }
            | Error::CannotChange { path, .. }
            | Error::IsSidecar { path, .. }
            | Error::NotASidecar { path }
            | Error::SidecarDamaged { path, .. }
            | Error::Sidecar { log: path, .. }
            | Error::RestoreRefused { log: path, .. }
            | Error::LinesChecksum { path, .. }
            | Error::FormatConflict { path, .. }
            | Error::NoSidecarPlace { path }
            | Error::JournalNotApplied { journal: path, .. }
            | Error::JournalUnreadable { journal: path, .. }
            | Error::PathTooLong { path, .. }
            | Error::SidecarOffFilesystem { path, .. }
            | Error::SidecarDirForeign { path, .. }
            | Error::SidecarDirLink { path, .. }
            | Error::InUse { path } => Some(path),
            Error::Busy { target, .. } | Error::Settle { target, .. } => Some(target),
            Error::TempLeftBehind { error, .. } => error.path(),
            Error::Input { .. }
            | Error::Producer { .. }
            | Error::RecordTooLarge { .. }
            | Error::Interrupted { .. } => None,
        }
    }

    /// The same error, with a different aftermath (where it has one).
    pub(crate) fn with_aftermath(mut self, new: Aftermath) -> Self {
        match &mut self {
            Error::Step { aftermath, .. }
            | Error::VerifyMismatch { aftermath, .. }
            | Error::AppendInterrupted { aftermath, .. }
            | Error::Input { aftermath, .. } => *aftermath = new,
            _ => {}
        }
        self
    }

    /// The same error, or, if the OS refused it (`EPERM`) because the file it is about is
    /// append-only or immutable, [`Error::Protected`] saying so, with `why`.
    pub fn or_protected(self, why: &'static str) -> Self {
        let refused = match &self {
            Error::Step { source, .. }
            | Error::Inspect { source, .. }
            | Error::CannotChange { source, .. } => {
                source.raw_os_error() == Some(crate::platform::errno::EPERM)
            }
            _ => false,
        };
        match self
            .path()
            .filter(|_| refused)
            .map(|p| (p.to_path_buf(), crate::target::protection(p)))
        {
            Some((path, Some(protection))) => Error::Protected {
                path,
                protection,
                why,
            },
            _ => self,
        }
    }

    pub(crate) fn step(e: StepError, aftermath: Aftermath) -> Self {
        Error::Step {
            step: e.step,
            path: e.path,
            aftermath,
            source: e.source,
        }
    }
}

/// The cause of an I/O error, named for a person: "permission denied", "the filesystem is
/// read-only", "no space left on device", … (the OS's own text for anything else).
pub(crate) fn cause(e: &io::Error) -> String {
    use io::ErrorKind as K;
    match e.kind() {
        K::PermissionDenied => "permission denied".into(),
        K::ReadOnlyFilesystem => "the filesystem is read-only".into(),
        K::ExecutableFileBusy => {
            "text file busy (it is the executable of a running program)".into()
        }
        K::StorageFull => "no space left on device".into(),
        K::QuotaExceeded => "disk quota exceeded".into(),
        _ => e.to_string(),
    }
}

/// The cause of a sidecar that could not be made: access and a read-only filesystem said as
/// [`cause`] says them, the rest as the system says it.
fn sidecar_cause(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => cause(e),
        _ => e.to_string(),
    }
}

/// Who completes a journal of `author`'s that this user may not read.
/// ", FILE included" after "nothing was changed", for an error whose file is not the one named
/// first.
fn including(file: Option<&Path>) -> String {
    file.map_or_else(String::new, |f| format!(", {} included", quoted(f)))
}

fn completed_by(author: u32) -> String {
    if author == 0 {
        "it is root's, and root (its author) completes it".into()
    } else {
        format!("it is user {author}'s, and user {author} (its author) or root completes it")
    }
}

/// Shorthand for results of this library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A step's failure as an [`Error`] that says what it left behind:
/// `t.run(Step::SyncTemp, …).failure_leaves(Aftermath::Unchanged)?` reads "if flushing the
/// temporary file fails, the target is unchanged".
pub(crate) trait FailedStep<T> {
    /// The step's error, if it failed, with the state it left the target in.
    fn failure_leaves(self, aftermath: Aftermath) -> Result<T>;
}

impl<T> FailedStep<T> for std::result::Result<T, StepError> {
    fn failure_leaves(self, aftermath: Aftermath) -> Result<T> {
        self.map_err(|e| Error::step(e, aftermath))
    }
}

/// How a record is too large: its size, or, when reading stopped one byte past the maximum
/// (a stream's size is not known before its end), only that it is larger.
fn too_large(len: u64) -> String {
    const MAX: &str = "the maximum record size of 16 MiB (16777216 bytes)";
    if len == crate::log::MAX_RECORD + 1 {
        format!("larger than {MAX}")
    } else {
        format!("{len} bytes, more than {MAX}")
    }
}

/// What a file of the format `name` is called in "X is not a …": "a proglog store" (a proglog
/// log is a store and its index), "a lines log".
pub fn format_noun(name: &str) -> String {
    if name == "proglog" {
        "proglog store".into()
    } else {
        format!("{name} log")
    }
}
