//! `durable`: save files so that no crash can leave them empty or half-written.
//!
//! # The guarantee
//!
//! After [`save`] returns `Ok`, the target holds the new content and (at the default
//! [`SyncLevel::Full`]) that content and the name pointing at it have been flushed to stable
//! storage. If the process, the kernel or the power fails at any moment before that, the target
//! holds either its complete old content or the complete new content — never an empty file,
//! never a mix (for the atomic and journal strategies; see [`Strategy::InPlace`]).
//!
//! # How it works
//!
//! The atomic strategy (the default):
//!
//! ```text
//! fd = open(".NAME.<random>.durable-tmp", O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0600)
//! write(fd, …)                      # streamed, bounded memory
//! fchown(fd); fsetxattr(fd, …); fchmod(fd, mode)   # the old file's owner, xattrs and mode
//! fsync(fd)                         # fdatasync at --sync data, F_FULLFSYNC on macOS
//! close(fd)                         # checked: some filesystems report write-back errors here
//! rename(".NAME.<random>.durable-tmp", "NAME")     # atomic for readers
//! fsync(open(dir, O_DIRECTORY))     # makes the rename itself durable
//! ```
//!
//! The journal strategy writes and flushes `.NAME.durable-journal` (a checksummed copy of the new
//! content) and its directory first, then writes the target in place, flushes it, and removes the
//! journal; an interrupted journaled save is completed (or, if the journal is incomplete, rolled
//! back) by the next save of the same target. docs/DURABILITY.md lists every step of every
//! strategy and what a crash after each one leaves behind.
//!
//! # Failures
//!
//! A failed `fsync` is an error, never retried into success: after a failed flush the page cache
//! may show data that never reached the disk. Every [`Error`] names the file it is about and
//! says, through [`Error::aftermath`], whether the target is unchanged, written but not confirmed
//! durable (the rename succeeded and the directory flush failed), or pending in a journal.
//!
//! # Logs
//!
//! [`log`] appends to, verifies and reads checksummed record logs in durable's own format, and
//! reads three formats of other programs through the same [`log::Reader`] interface: the seed
//! notes' text log (`lines`, also written by [`log::append`]), proglog segments (store and
//! index) and Go `aof` files. [`recover`] repairs all of them. docs/FORMAT.md has the layouts.
//!
//! # Notes and limitations
//!
//! - Unix only for now; Linux is tested, macOS is not. See docs/DURABILITY.md.
//! - Durability is only as good as the storage stack's honesty about flushes.

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
    JOURNAL_SUFFIX, SyncLevel, TEMP_SUFFIX, defer_interrupts, install_interrupt_cleanup,
    journal_name, journal_target_name, pending_interrupt, temp_target_name,
};
pub use error::{Aftermath, Error, Result};
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
