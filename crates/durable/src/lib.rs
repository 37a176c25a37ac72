//! Save files so that no crash can leave them empty or half-written, and keep checksummed
//! record logs that tell a write cut short by a crash from damage.
//!
//! # Motivation
//!
//! `std::fs::write(path, data)` truncates the file and then writes it: a crash in between
//! leaves it empty or half-written. Writing a temporary file and renaming it over the target
//! fixes that for readers, but not for a power loss: unless the file is flushed before the
//! rename and the directory after it, the machine can come back with the new name pointing at
//! data that never reached the disk, or with the old file after the program reported success.
//! This crate takes every one of those steps, checks every result, and reports a failed flush
//! as a failure.
//!
//! # The guarantee
//!
//! After [`save`] returns `Ok`, the target holds the new content and (at the default
//! [`SyncLevel::Full`]) that content and the name pointing at it have been flushed to stable
//! storage. If the process, the kernel or the power fails at any moment before that, the target
//! holds either its complete old content or the complete new content — never an empty file,
//! never a mix (for the atomic and journal strategies; see [`Strategy::InPlace`]).
//!
//! Records appended with [`log::append`] are on stable storage when the call returns `Ok` (at
//! the default sync level), and an append is all or nothing: after a crash, a reader sees all
//! of its records or none. (By default one call is one append; a stream can be committed in
//! groups as it arrives, each group an append: [`log::Commit`].)
//!
//! # How it works
//!
//! The atomic strategy ([`Strategy::Atomic`], the default):
//!
//! ```text
//! fd = open(".NAME.<random>.durable-tmp", O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0600)
//! write(fd, …)                      # streamed, bounded memory
//! fchown(fd); fsetxattr(fd, …); fchmod(fd, mode)   # the old file's owner, xattrs and mode
//! fsync(fd)                         # fdatasync at SyncLevel::Data, F_FULLFSYNC on macOS
//! close(fd)                         # checked: some filesystems report write-back errors here
//! rename(".NAME.<random>.durable-tmp", "NAME")     # atomic for readers
//! fsync(open(dir, O_DIRECTORY))     # makes the rename itself durable
//! ```
//!
//! The journal strategy ([`Strategy::Journal`]) keeps the target's inode:
//!
//! ```text
//! write ".NAME.durable-journal": a checksummed header and the new content; fsync it; fsync(dir)
//! pwrite(target, new content); ftruncate(target); fsync(target)
//! unlink(".NAME.durable-journal"); fsync(dir)
//! ```
//!
//! An interrupted journaled save is completed (or, if its journal is incomplete, rolled back)
//! by the next save of the same target, or by [`recover::recover`]. The in-place strategy
//! ([`Strategy::InPlace`]) is the middle line alone: it keeps the inode and is not
//! crash-atomic. [`plan`] lists the steps a given save would run, with their system calls,
//! without changing anything; [`SaveReport::steps`] lists the ones it ran. The project's
//! DURABILITY document (`docs/DURABILITY.md` in its repository) gives every step of every
//! strategy and what a crash after each one leaves behind.
//!
//! A native log (the format [`log::append`] creates) is a 64-byte header, then records, each
//! with a header (length, sequence number, flags), the payload, and a trailer with a checksum
//! (CRC-32 or SHA-256) keyed by a random salt from the log's header. An append is one `write`
//! and one `fsync` under an exclusive lock on the log, and its first and last records are
//! marked, so a reader can tell an append a crash cut short (a **torn tail**: safe to cut off)
//! from damage to records that had been acknowledged (**corruption**: a person decides). The
//! project's FORMAT document (`docs/FORMAT.md`) has the byte layout and the rule.
//!
//! # Examples
//!
//! ## Saving a file
//!
//! [`save`] reads the new content from an [`Input`]: bytes in memory (`&[u8]`), a
//! [`FileInput`], [`StdinInput`], or a [`Producer`] command whose failure cancels the save.
//! [`SaveOptions`] chooses the strategy, the flush, the mode and more; the [`SaveReport`] says
//! what was done.
//!
//! ```
//! use durable::{SaveOptions, SaveOutcome, Strategy, SyncLevel, save};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("app.conf");
//! let opts = SaveOptions {
//!     strategy: Strategy::Atomic,
//!     sync: SyncLevel::Full,
//!     mode: Some(0o640),
//!     // Same content and mode as the file already has: leave it alone, mtime included.
//!     if_changed: true,
//!     ..SaveOptions::default()
//! };
//!
//! let report = save(&path, &mut &b"port = 8080\n"[..], &opts, &mut ())?;
//! assert_eq!(report.outcome, SaveOutcome::Written);
//! assert!(report.created);
//! assert_eq!(report.bytes, 12);
//! // Every step that ran, in order: create-temp, write-temp, metadata, sync-temp, …
//! let steps: Vec<&str> = report.steps.iter().map(|s| s.step.name()).collect();
//! assert_eq!(steps.first(), Some(&"create-temp"));
//! assert_eq!(&steps[steps.len() - 2..], ["rename", "sync-dir"]);
//!
//! let again = save(&path, &mut &b"port = 8080\n"[..], &opts, &mut ())?;
//! assert_eq!(again.outcome, SaveOutcome::Unchanged);
//! assert_eq!(std::fs::read(&path)?, b"port = 8080\n");
//! # Ok(())
//! # }
//! ```
//!
//! The last argument is an [`Observer`], told of each step as it completes (`&mut ()` ignores
//! them; a closure `|record: &StepRecord| …` works too).
//!
//! ## Appending records to a log
//!
//! [`log::append`] takes its records from a [`log::RecordSource`]: a [`log::RecordList`] of
//! arguments or files (one append: all or nothing), or a stream split on a separator
//! ([`log::Delimited`]) or taken whole ([`log::Whole`]). The log is created on the first append.
//! With [`log::Commit::Groups`] the records are committed in groups as they arrive; the source
//! is then read and encoded on a second thread, one group ahead, while the calling thread
//! writes and flushes (so a source is `Send`, and one that blocks inside
//! [`log::RecordSource::next_record`] delays the end of a failed append until it returns:
//! [`log::RecordSource::ready_within`] lets the append wait in short steps instead).
//!
//! ```
//! use durable::log::{self, AppendOptions, Delimited, Listed, RecordList};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("events.log");
//!
//! let mut records = RecordList::new(vec![
//!     Listed::Arg("user 42 logged in".into()),
//!     Listed::Arg("user 42 logged out".into()),
//! ]);
//! let appended = log::append(&path, &mut records, &AppendOptions::default(), &mut ())?;
//! assert!(appended.created);
//! assert_eq!((appended.count, appended.seqs), (2, Some((0, 1))));
//!
//! // Any `Read` split on newlines: here, bytes in memory.
//! let mut lines = Delimited::new(&b"disk full\ndisk ok\n"[..], b'\n', "the alerts");
//! let appended = log::append(&path, &mut lines, &AppendOptions::default(), &mut ())?;
//! assert_eq!(appended.seqs, Some((2, 3)));
//! # Ok(())
//! # }
//! ```
//!
//! ## Reading records back
//!
//! [`log::open`] detects the format; [`log::Log::records`] yields each record of the log's
//! valid part with its payload, and ends with an error if the log is damaged after it.
//!
//! ```
//! use durable::log::{self, AppendOptions, Listed, OpenOptions, RecordList};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("events.log");
//! # let mut records = RecordList::new(vec![Listed::Arg("one".into()), Listed::Arg("two".into())]);
//! # log::append(&path, &mut records, &AppendOptions::default(), &mut ())?;
//! let log = log::open(&path, &OpenOptions::default())?;
//! let mut payloads = Vec::new();
//! for item in log.records()? {
//!     let (record, payload) = item?;
//!     assert_eq!(record.seq, payloads.len() as u64);
//!     payloads.push(String::from_utf8(payload)?);
//! }
//! assert_eq!(payloads, ["one", "two"]);
//! # Ok(())
//! # }
//! ```
//!
//! ## Verifying a log
//!
//! [`log::verify`] checks every record and gives a [`log::Verification`] whose
//! [`status`](log::Verification::status) is one of:
//!
//! - [`Clean`](log::Status::Clean): every record is valid and the file ends right after the
//!   last one;
//! - [`TornTail`](log::Status::TornTail): the file ends in an append that never completed (the
//!   file stops inside it, or blocks of it read back as zeros, as a crash leaves them). Its
//!   records were never acknowledged; [`recover::recover_log`] cuts them off;
//! - [`Corrupt`](log::Status::Corrupt): damage that a crash cannot leave, or damage followed by
//!   a later append (which proves the damaged records had been acknowledged). Cutting it off
//!   would lose records, so nothing does that unless forced: a person decides.
//!
//! ```
//! use durable::log::{self, AppendOptions, Listed, OpenOptions, RecordList, Status};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("events.log");
//! for record in ["one", "two"] {
//!     let mut list = RecordList::new(vec![Listed::Arg(record.into())]);
//!     log::append(&path, &mut list, &AppendOptions::default(), &mut ())?;
//! }
//! let v = log::verify(&path, &OpenOptions::default(), |_done, _total| {})?;
//! assert_eq!((v.status, v.records), (Status::Clean, 2));
//!
//! // A crash cut the last append short: 3 bytes of it never reached the disk.
//! let file = std::fs::OpenOptions::new().write(true).open(&path)?;
//! file.set_len(file.metadata()?.len() - 3)?;
//! let v = log::verify(&path, &OpenOptions::default(), |_, _| {})?;
//! assert_eq!(v.status, Status::TornTail);
//! assert_eq!(v.records_before_damage, 1);
//! println!("valid up to byte {}; {}", v.valid_end, v.defects[0].kind.name());
//! # Ok(())
//! # }
//! ```
//!
//! ## Recovering a log
//!
//! [`recover::recover_log`] cuts a torn tail (and [`recover::recover`] does that for every log
//! in a directory, finishes interrupted journaled saves and removes stale temporary files).
//! With [`dry_run`](recover::RecoverOptions::dry_run) it only says what it would do. The bytes it
//! removes are first kept, flushed, in a **sidecar**:
//! `.durable-recovered/NAME.OFFSET.durable-sidecar` beside the log (or in
//! [`backup_dir`](recover::RecoverOptions::backup_dir)); [`recover::restore`] puts them back,
//! and [`recover::Sidecar`] reads them as records. Corruption is left alone unless
//! [`force`](recover::RecoverOptions::force) is set.
//!
//! ```
//! use durable::log::{self, AppendOptions, Listed, OpenOptions, RecordList, Status};
//! use durable::recover::{self, LogAction, RecoverOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("events.log");
//! # for record in ["one", "two"] {
//! #     let mut list = RecordList::new(vec![Listed::Arg(record.into())]);
//! #     log::append(&path, &mut list, &AppendOptions::default(), &mut ())?;
//! # }
//! # let file = std::fs::OpenOptions::new().write(true).open(&path)?;
//! # file.set_len(file.metadata()?.len() - 3)?;
//! // `events.log` ends in a torn tail, as in the example above.
//! let size = std::fs::metadata(&path)?.len();
//! let dry = RecoverOptions { dry_run: true, ..RecoverOptions::default() };
//! let plan = recover::recover_log(&path, &dry, &mut ())?;
//! assert_eq!((plan.status, plan.action), (Status::TornTail, LogAction::WouldTruncate));
//! assert_eq!(std::fs::metadata(&path)?.len(), size); // nothing changed
//!
//! let done = recover::recover_log(&path, &RecoverOptions::default(), &mut ())?;
//! assert_eq!(done.action, LogAction::Truncated);
//! assert_eq!(done.bytes_kept + done.bytes_removed, size);
//! let sidecar = done.sidecar.expect("the removed bytes are kept");
//! assert!(sidecar.starts_with(dir.path().join(".durable-recovered")));
//! assert!(std::fs::metadata(&sidecar)?.len() > 0);
//!
//! let v = log::verify(&path, &OpenOptions::default(), |_, _| {})?;
//! assert_eq!((v.status, v.records), (Status::Clean, 1));
//! # Ok(())
//! # }
//! ```
//!
//! # Errors
//!
//! Every failure is an [`Error`]: one sentence naming the file (also in [`Error::path`] when
//! the error is about one file), the cause and the state things were left in. [`Error::aftermath`] is that state as an
//! [`Aftermath`], which is what a caller decides on:
//!
//! - [`Unchanged`](Aftermath::Unchanged): nothing visible changed. Fix the cause (or tell the
//!   user the sentence) and run the whole operation again if you like.
//! - [`Unconfirmed`](Aftermath::Unconfirmed): the new content is in place, but a flush after
//!   it failed, so it may not survive a power loss. Tell the user; saving again writes and
//!   flushes everything anew. Never retry only the flush: after a failed `fsync` the page cache
//!   can show data that never reached the disk.
//! - [`Pending`](Aftermath::Pending): the new content is complete in a journal; the next save of
//!   the target, or [`recover::recover`], completes it.
//! - [`EarlierPending`](Aftermath::EarlierPending): an earlier interrupted journaled save could
//!   not be completed, so nothing new was written; run a recovery, or ask a person.
//! - [`Damaged`](Aftermath::Damaged): (in-place strategy only) the target may hold a mix of old
//!   and new bytes: write it again, or restore it from a backup.
//! - [`LeftBehind`](Aftermath::LeftBehind): (in-place strategy, new target only) the file the
//!   save created could not be removed after the failure (an append-only directory): the
//!   message names it; remove it, or write it again.
//!
//! Some variants carry more for a program: [`Error::LogDamaged`] and [`Error::TornTail`] say
//! whether a log's damage is a torn tail or corruption, [`Error::Locked`] and
//! [`Error::TargetLocked`] that another process holds the file (asked not to wait).
//!
//! ```
//! use durable::{Aftermath, Error, SaveOptions, save};
//!
//! /// What a program might do next, decided on the aftermath alone.
//! fn next_step(error: &Error) -> &'static str {
//!     match error.aftermath() {
//!         Aftermath::Unchanged => "nothing changed: fix the cause, then try again",
//!         Aftermath::Unconfirmed => "written but not confirmed durable: save again",
//!         Aftermath::Pending | Aftermath::EarlierPending => "run a recovery of the target",
//!         Aftermath::Damaged => "the target may be mixed: write it again or restore it",
//!         Aftermath::LeftBehind => "a partial new file is left: remove it or write it again",
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let missing = dir.path().join("no-such-dir");
//! let target = missing.join("app.conf");
//!
//! match save(&target, &mut &b"port = 8080\n"[..], &SaveOptions::default(), &mut ()) {
//!     Err(error @ Error::MissingParent { .. }) => {
//!         assert_eq!(error.path(), Some(missing.as_path()));
//!         assert!(next_step(&error).starts_with("nothing changed"));
//!         // "the directory /tmp/.tmpXXXXXX/no-such-dir does not exist"
//!         assert!(error.to_string().ends_with("no-such-dir does not exist"));
//!     }
//!     other => panic!("expected a missing directory, got {other:?}"),
//! }
//! assert!(!missing.exists());
//! # Ok(())
//! # }
//! ```
//!
//! # Logs of other programs
//!
//! [`log`] also reads three formats of other programs through the same [`log::Reader`]
//! interface, so verifying, reading and recovering work the same for them:
//!
//! - `lines`: a text log of one entry per line: the entry, a space, its SHA-256 as 64
//!   lowercase hex digits, a newline ([`log::append`] writes it too, with
//!   [`AppendOptions::format`](log::AppendOptions::format));
//! - `proglog`: a store of records (an 8-byte big-endian length, then the data) and its index
//!   of 12-byte entries;
//! - `aof`: files of the Go `aof` package, zero-filled past the data, with a magic number after
//!   each write.
//!
//! # Notes and limitations
//!
//! - Unix only for now; Linux is tested, macOS is not.
//! - Durability is only as good as the storage stack's honesty about flushes: a disk that
//!   acknowledges a flush it has not done defeats any program.
//! - The journal strategy protects against crashes, not against concurrent readers, who can
//!   see a mix while the target is being written; use the atomic strategy when they must not.
//! - An atomic save gives the target a new inode: other hard links keep the old content, which
//!   is why a hard-linked target is refused by default ([`HardLinks`]).
//! - [`SyncLevel::None`] flushes nothing: atomic for readers, not durable across a power loss.

#![warn(missing_docs, unreachable_pub, clippy::undocumented_unsafe_blocks)]

mod disk;
mod error;
pub mod fault;
mod input;
mod journal;
pub mod log;
mod meta;
mod plan;
mod platform;
pub mod quote;
pub mod recover;
mod save;
mod step;
mod target;
pub mod walk;

pub use disk::{
    InterruptReport, Interrupted, JOURNAL_SUFFIX, SyncLevel, TEMP_SUFFIX, defer_interrupts,
    install_interrupt_cleanup, journal_name, journal_target_name, pending_interrupt,
    temp_target_name,
};
pub use error::{Aftermath, Alone, Error, NotApplied, Result, format_noun};
pub use input::{FileInput, Input, Producer, StdinInput};
pub use journal::Settled;
pub use plan::{Note, Plan, PlannedStep, plan};
pub use save::{HardLinks, SaveOptions, SaveOutcome, SaveReport, Strategy, save};
pub use step::{Observer, Step, StepRecord};
pub use target::{Existing, Protection, Target, protection};

/// Process-wide set-up the binary does once at start-up: make writes past `ulimit -f` fail
/// with `EFBIG` (so the temporary file is cleaned up) instead of killing the process.
pub fn init_process() {
    platform::ignore_file_size_signal();
}
