//! `log append`: records go into the log in appends (commit groups), each written (in pieces of
//! at most 1 MiB) and then flushed once under the log's exclusive lock, and each marked as a
//! whole by its first and last record, so that a reader can tell an append that never completed
//! from damage. A stream is committed group by group as it arrives, with the lock released in
//! between; listed records (and `--atomic`) are one append, all or nothing.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::time::{Duration, Instant};

use super::format::{self, FILE_HEADER_LEN};
use super::{
    Algorithm, FileHeader, Item, Layout, LogFormat, MAX_RECORD, NativeReader, OnDamage, Reader,
    RecordSource, Status, Verification, lines, reader, summarize,
};
use crate::disk::{IfLocked, NewFile, OnExisting, SyncLevel};
use crate::error::{Aftermath, Error, FailedStep, Result};
use crate::platform;
use crate::quote::quoted;
use crate::recover::sidecar::{self, EmptiedBy, SourceFormat};
use crate::step::{Observer, Step, Tracker};

/// How the records of one append call are committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Commit {
    /// All of them as one append (one flush): all or nothing. The lock is held while the input
    /// is read, and the next append's tail check reads this whole append back.
    #[default]
    Atomic,
    /// In groups, as the input arrives: each group is one append (written, then flushed once,
    /// under the lock, which is released between groups). The source is read and encoded on
    /// a second thread, one group ahead of the calling thread, which makes every call on the
    /// log; at most two groups are in memory.
    Groups(GroupLimits),
}

/// When a commit group closes. A record waits at most about `max_delay` (plus the flush)
/// before it is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupLimits {
    /// The group's records take at least this many bytes in the log.
    pub max_bytes: usize,
    /// The group's first record has waited this long.
    pub max_delay: Duration,
    /// No further record arrives within this time.
    pub pause: Duration,
}

impl Default for GroupLimits {
    fn default() -> Self {
        GroupLimits {
            max_bytes: 4 << 20,
            max_delay: Duration::from_millis(50),
            pause: Duration::from_millis(10),
        }
    }
}

/// Options of an append.
#[derive(Debug, Clone, Default)]
pub struct AppendOptions {
    /// How hard to flush the appended records.
    pub sync: SyncLevel,
    /// The checksum for a new log; for an existing log, an explicit choice that differs from its
    /// header is an error.
    pub algorithm: Option<Algorithm>,
    /// Fail at once if another appender holds the lock when the first group is written,
    /// instead of waiting. (Later groups wait: another appender holds the lock only while it
    /// writes and flushes one group.)
    pub no_wait: bool,
    /// Re-read and check each group after flushing it.
    pub verify: bool,
    /// Report each record's offset in [`Committed::offsets`].
    pub keep_offsets: bool,
    /// The log's format: `None` detects an existing log's (native or lines) and creates native;
    /// `Some(Lines)` creates a lines log.
    pub format: Option<LogFormat>,
    /// One append, or commit groups.
    pub commit: Commit,
}

/// One commit group, reported as soon as its flush returned.
#[derive(Debug, Clone)]
pub struct Committed<'a> {
    /// Sequence number of its first record (native; a lines log has none).
    pub first_seq: Option<u64>,
    /// Its records.
    pub count: u64,
    /// Offset of its first record.
    pub start: u64,
    /// Its bytes in the log.
    pub bytes: u64,
    /// Each record's offset, when asked for.
    pub offsets: &'a [u64],
    /// It went into another log than the group before it: the file that was at the path then
    /// was renamed, removed or emptied by another program (a rotation), so the earlier groups
    /// are not in the log at the path (nor, if it was emptied, anywhere this call knows of).
    pub new_log: bool,
    /// The log it went into (open as this call holds it): where the group is, whatever
    /// happens to the path later.
    pub log: &'a File,
}

/// What an append call did.
#[derive(Debug, Clone)]
pub struct Appended {
    /// The log was created by this call.
    pub created: bool,
    /// Its checksum algorithm.
    pub algorithm: Algorithm,
    /// Records appended (all flushed, at the sync level asked for).
    pub count: u64,
    /// Commit groups they went out in.
    pub groups: u64,
    /// Sequence numbers of the first and the last record appended (native, when any were) to
    /// the log the last group went into: records committed to an earlier log (see
    /// [`Committed::new_log`]) are not in this range.
    pub seqs: Option<(u64, u64)>,
    /// Records appended to earlier logs: committed to a file that was the log then and was
    /// renamed, removed or emptied by another program before a later group (a rotation).
    pub elsewhere: u64,
    /// Other appenders' records lie between this call's groups.
    pub interleaved: bool,
    /// Offset of the first record appended.
    pub start: u64,
    /// Bytes appended.
    pub bytes: u64,
    /// The append stopped early because of this signal (see [`crate::defer_interrupts`]): the
    /// log holds exactly the groups reported, and the rest of the input was not appended.
    pub interrupted: Option<&'static str>,
    /// Records read from the input but not appended because of the interrupt.
    pub unappended: u64,
}

impl Appended {
    /// Nothing appended yet to a log with `algorithm` (`created` by this call).
    fn nothing(created: bool, algorithm: Algorithm) -> Appended {
        Appended {
            created,
            algorithm,
            count: 0,
            groups: 0,
            seqs: None,
            elsewhere: 0,
            interleaved: false,
            start: 0,
            bytes: 0,
            interrupted: None,
            unappended: 0,
        }
    }
}

/// Append every record of `source` to the log at `path` (creating it if absent), as one
/// append or in commit groups ([`AppendOptions::commit`]). Each group is written and flushed
/// under the log's exclusive lock; if anything fails before its flush completes, the log is cut
/// back to where the group started: groups already reported stay, the failed one is not in.
pub fn append(
    path: &Path,
    source: &mut dyn RecordSource,
    opts: &AppendOptions,
    observer: &mut dyn Observer,
) -> Result<Appended> {
    append_with(path, source, opts, observer, &mut |_| {})
}

/// [`append`], calling `on_commit` after each group's flush returned.
pub fn append_with(
    path: &Path,
    source: &mut dyn RecordSource,
    opts: &AppendOptions,
    observer: &mut dyn Observer,
    on_commit: &mut dyn FnMut(&Committed<'_>),
) -> Result<Appended> {
    // The step records of a stream that runs for days must not pile up.
    let mut t = Tracker::unrecorded(observer);
    check_format_options(path, opts)?;
    // Read the first record before touching the log, so that a missing --file, an unreadable
    // input or an oversized first record changes nothing, not even by creating an empty log.
    let mut first = Vec::new();
    let has_first = source
        .next_record(&mut first)
        .map_err(interrupted(path))
        .map_err(|e| match opts.format {
            Some(LogFormat::Lines) => lines_limit(path, e),
            _ => e,
        })?;
    if has_first && opts.format == Some(LogFormat::Lines) {
        check_line(path, &first, source.describe(0))?;
    }
    let mut log = open_log(path, opts, &mut t)?;
    let lines = matches!(log.writer, Writer::Lines);
    let mut input = Input::new(path, source, has_first.then_some(first), lines, opts);
    let mut run = Run {
        path,
        opts,
        on_commit,
        out: Appended::nothing(log.created, log.algorithm()),
        offsets: Vec::new(),
        told_waiting: false,
        changed: std::cell::Cell::new(false),
        moved: false,
        seen: None,
        fresh_end: std::cell::Cell::new(None),
    };
    let result = match opts.commit {
        Commit::Atomic => run.atomic(&mut log, &mut input, &mut t),
        Commit::Groups(limits) => run.groups(&mut log, &mut input, limits, &mut t),
    };
    run.out.unappended = input.read - run.out.count;
    if let Some(signal) = platform::pending_interrupt()
        && (run.out.unappended > 0 || !input.exhausted)
    {
        run.out.interrupted = Some(signal);
    }
    if run.out.count == 0 && (result.is_err() || run.out.interrupted.is_some()) {
        // Nothing went in: take back the log this call created, or the header it wrote into
        // an empty file.
        if log.created {
            withdraw_new_log(path, log.header_len());
        } else if log.started {
            unstart_log(&log.file, path);
        }
    }
    result?;
    Ok(run.out)
}

/// Bytes of our last group kept to recognise the log's end as ours (a native record's trailer
/// and checksum, a lines entry's hash).
const OURS_TAIL: usize = 16;

/// The log being appended to.
struct Appending {
    file: File,
    created: bool,
    writer: Writer,
    /// An existing empty file (made by `touch`, logrotate's `create`) to be started as a native
    /// log: its header is written under the lock, before the first group.
    unstarted: bool,
    /// This call wrote that header.
    started: bool,
    /// Where our last group ended, and the sequence number after it: if the log still ends
    /// there under the lock, no other appender got in and the tail needs no check.
    ours: Option<(u64, u64)>,
    /// The last bytes of our last group (right-aligned) and how many there are: checked with
    /// `ours` before the tail check is skipped.
    ours_tail: ([u8; OURS_TAIL], usize),
}

impl Appending {
    fn algorithm(&self) -> Algorithm {
        match &self.writer {
            Writer::Native(h, _) => h.algorithm,
            Writer::Lines => Algorithm::Sha256,
        }
    }

    fn header_len(&self) -> u64 {
        match self.writer {
            Writer::Native(..) => FILE_HEADER_LEN,
            Writer::Lines => 0,
        }
    }
}

/// One append call in progress: the committing side (the log, the lock, what was appended).
struct Run<'a> {
    path: &'a Path,
    opts: &'a AppendOptions,
    on_commit: &'a mut dyn FnMut(&Committed<'_>),
    out: Appended,
    offsets: Vec<u64>,
    /// The observer was told that the first group waits for another appender's lock.
    told_waiting: bool,
    /// The log did not end where a write was to start: another program changed it.
    changed: std::cell::Cell<bool>,
    /// The log was opened again (another file at the path, another log in it) or started anew
    /// (emptied) since the last group: the next group goes into another log.
    moved: bool,
    /// The log's size as [`Run::same_log`] just read it under the lock (then the header a
    /// start wrote), for the tail check: one `fstat` fewer per group.
    seen: Option<u64>,
    /// Where a streamed group's write starts, the log's size as the tail check just read it
    /// under the lock: that write need not read it again.
    fresh_end: std::cell::Cell<Option<u64>>,
}

/// The records of one append call as they are read and encoded: on the calling thread for one
/// append, on a second thread for commit groups (see [`Run::groups`]).
struct Input<'a> {
    path: &'a Path,
    source: &'a mut dyn RecordSource,
    /// A record read but not yet encoded.
    pending: Option<Vec<u8>>,
    /// Records read from the source so far.
    read: u64,
    /// The source said it has no more records.
    exhausted: bool,
    /// The log is a lines log (its size limit is worded as such).
    lines: bool,
    keep_offsets: bool,
    /// Records encoded so far.
    encoded: u64,
}

/// Records encoded for one group, not yet (all) written.
struct Group {
    batch: Vec<u8>,
    /// Start of the last record in `batch` (its flags change when the group closes).
    last: usize,
    /// Records in the group.
    count: u64,
    /// Sequence number the records were encoded with.
    first_seq: u64,
    /// Records of this append call encoded before the group's first.
    stream_index: u64,
    /// The input ended with the group's last record.
    ends_input: bool,
    /// The log the records were encoded for (another may be at the path by the time the lock
    /// is taken).
    writer: Writer,
    /// Each record's offset from the start of the group (when asked for).
    offsets: Vec<u64>,
    /// Bytes of the group already written, before `batch`.
    written: u64,
    /// Bytes before its first record: a newline that ends a lines log's unterminated last line.
    lead: u64,
}

impl Group {
    fn new(writer: Writer, first_seq: u64, stream_index: u64, batch: Vec<u8>) -> Group {
        Group {
            batch,
            last: 0,
            count: 0,
            first_seq,
            stream_index,
            ends_input: false,
            writer,
            offsets: Vec::new(),
            written: 0,
            lead: 0,
        }
    }

    /// Start the group with a newline (before any record, written or not).
    fn lead_with_newline(&mut self) {
        self.batch.insert(0, b'\n');
        self.lead = 1;
        if self.count > 0 {
            self.last += 1;
        }
        for offset in &mut self.offsets {
            *offset += 1;
        }
    }
}

/// Bytes gathered before a write within one append.
const BATCH: usize = 4 << 20;

/// The most bytes given to one write call. On Linux (ext4, 6.18), writing a 4 MiB group in one
/// call and flushing it, group after group, spent 2 to 7 times as long in the kernel (copying
/// into the page cache) as writing it in pieces of 1 MiB: 0.97-2.55 s against 0.66-0.67 s for
/// 1000 MB, five runs each, a write-and-flush loop with nothing else in it.
const WRITE_PIECE: usize = 1 << 20;

/// Records encoded between two reads of the clock while the input is already buffered.
const CLOCK_EVERY: u32 = 64;

/// How long the encoding thread waits for input at a time before it looks again whether the
/// append is to stop (the committing side failed, or a signal was noted on another thread).
const WAKE: Duration = Duration::from_millis(50);

impl<'a> Input<'a> {
    /// The input of an append to `path` from `source`, whose `first` record (if any) was read
    /// already; `lines`: the log is a lines log.
    fn new(
        path: &'a Path,
        source: &'a mut dyn RecordSource,
        first: Option<Vec<u8>>,
        lines: bool,
        opts: &AppendOptions,
    ) -> Input<'a> {
        Input {
            path,
            source,
            read: u64::from(first.is_some()),
            exhausted: first.is_none(),
            pending: first,
            lines,
            keep_offsets: opts.keep_offsets,
            encoded: 0,
        }
    }
}

impl Input<'_> {
    /// The next record into `buf`; `Ok(false)` at the end of the input or on an interrupt.
    fn next(&mut self, buf: &mut Vec<u8>) -> Result<bool> {
        if let Some(p) = self.pending.take() {
            *buf = p;
            return Ok(true);
        }
        if platform::pending_interrupt().is_some() {
            return Ok(false);
        }
        match self.source.next_record(buf) {
            Ok(true) => {
                self.read += 1;
                Ok(true)
            }
            Ok(false) => {
                self.exhausted = true;
                Ok(false)
            }
            Err(_) if platform::pending_interrupt().is_some() => Ok(false),
            Err(e) => Err(self.failed(e)),
        }
    }

    /// An error of the source, worded for the log it goes to.
    fn failed(&self, error: Error) -> Error {
        if self.lines {
            lines_limit(self.path, error)
        } else {
            error
        }
    }

    /// Encode `record` as the next one of `group`.
    fn encode(&mut self, group: &mut Group, record: &[u8]) -> Result<()> {
        let seq = group.first_seq.wrapping_add(group.count);
        if seq == u64::MAX {
            return Err(seqs_used_up(self.path));
        }
        let at = group.batch.len();
        match &group.writer {
            Writer::Native(_, encoder) => {
                let flags = if group.count == 0 {
                    format::FLAG_FIRST
                } else {
                    0
                };
                encoder
                    .encode(&mut group.batch, seq, flags, record)
                    .map_err(|len| Error::RecordTooLarge {
                        what: self.source.describe(self.encoded),
                        len,
                    })?;
            }
            Writer::Lines => {
                check_line(self.path, record, self.source.describe(self.encoded))?;
                lines::encode(&mut group.batch, record);
            }
        }
        if self.keep_offsets {
            group.offsets.push(group.written + at as u64);
        }
        group.last = at;
        group.count += 1;
        self.encoded += 1;
        Ok(())
    }

    /// Wait until a record (or the end of the input) is there to read without waiting, at most
    /// `timeout` (`None`: as long as it takes), looking every [`WAKE`] whether to stop instead
    /// (`stop` is set, or a signal was noted, maybe on the other thread). `Ok(false)` if the
    /// time ran out or it is to stop.
    fn wait_ready(&mut self, timeout: Option<Duration>, stop: &AtomicBool) -> Result<bool> {
        if self.pending.is_some() {
            return Ok(true);
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if stop.load(Ordering::SeqCst) || platform::pending_interrupt().is_some() {
                return Ok(false);
            }
            let slice = match deadline {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()).min(WAKE),
                None => WAKE,
            };
            match self.source.ready_within(slice) {
                Ok(true) => return Ok(true),
                Ok(false) if deadline.is_some_and(|d| Instant::now() >= d) => return Ok(false),
                Ok(false) => {}
                Err(_) if platform::pending_interrupt().is_some() => return Ok(false),
                Err(e) => return Err(self.failed(e)),
            }
        }
    }

    /// The encoding side of [`Run::groups`]: read and encode records for `writer`, close each
    /// group at `limits` and hand it over through `groups`. The group's first sequence number
    /// is `base` plus the records encoded before it (the committing side moves `base` when it
    /// renumbers a group). Returns the input's error, if one ended it (after handing over the
    /// records before it).
    fn produce(
        &mut self,
        writer: Writer,
        limits: GroupLimits,
        base: &AtomicU64,
        stop: &AtomicBool,
        groups: &SyncSender<Group>,
        spares: Receiver<Vec<u8>>,
    ) -> Option<Error> {
        let mut record = Vec::new();
        loop {
            match self.wait_ready(None, stop) {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => return Some(e),
            }
            let first_seq = base.load(Ordering::SeqCst).wrapping_add(self.encoded);
            // Room for a whole group up front: growing a buffer by doubling would copy it and
            // hold the old and the new copy at once.
            let mut batch = spares.try_recv().unwrap_or_else(|_| {
                Vec::with_capacity(limits.max_bytes.min(64 << 20) + (64 << 10))
            });
            batch.clear();
            let mut group = Group::new(writer, first_seq, self.encoded, batch);
            // When the group's first record arrived (not when the wait for it began).
            let mut opened = None;
            // An input error ends the stream, after the records before it are committed.
            let mut failed = None;
            let mut more = true;
            // Records since the clock was last read.
            let mut unclocked = 0u32;
            loop {
                match self.next(&mut record) {
                    Ok(true) => {}
                    Ok(false) => more = false,
                    Err(e) => failed = Some(e),
                }
                if !more || failed.is_some() {
                    break;
                }
                let opened = *opened.get_or_insert_with(Instant::now);
                if let Err(e) = self.encode(&mut group, &record) {
                    failed = Some(e);
                    break;
                }
                if group.batch.len() >= limits.max_bytes {
                    break;
                }
                // While records are already buffered the clock is read only now and then: a
                // record takes a fraction of a microsecond, a clock read a good part of that.
                let mut ready = self.source.ready_within(Duration::ZERO);
                unclocked += 1;
                if !matches!(ready, Ok(true)) || unclocked >= CLOCK_EVERY {
                    unclocked = 0;
                    let waited = opened.elapsed();
                    if waited >= limits.max_delay {
                        break;
                    }
                    if matches!(ready, Ok(false)) {
                        let pause = limits.pause.min(limits.max_delay - waited);
                        ready = self.wait_ready(Some(pause), stop);
                    }
                }
                match ready {
                    Ok(true) if platform::pending_interrupt().is_none() => {}
                    Ok(_) => break,
                    Err(_) if platform::pending_interrupt().is_some() => break,
                    Err(e) => {
                        failed = Some(self.failed(e));
                        break;
                    }
                }
            }
            group.ends_input = self.exhausted;
            let last = !more || failed.is_some();
            // Records read after an interrupt are not appended (unless the input had ended).
            if group.count > 0
                && (self.exhausted || platform::pending_interrupt().is_none())
                && groups.send(group).is_err()
            {
                // The committing side stopped (it failed): nothing more goes in.
                return failed;
            }
            if last || platform::pending_interrupt().is_some() || stop.load(Ordering::SeqCst) {
                return failed;
            }
        }
    }
}

impl Run<'_> {
    /// All records as one append, written in pieces under the lock as they are read.
    fn atomic(
        &mut self,
        log: &mut Appending,
        input: &mut Input<'_>,
        t: &mut Tracker<'_>,
    ) -> Result<()> {
        let mut record = Vec::new();
        if !input.next(&mut record)? {
            return Ok(());
        }
        let Some(tail) = self.lock(log, self.if_locked_first(), t)? else {
            return Ok(());
        };
        let result = self.atomic_locked(log, input, tail, record, t);
        unlock(log);
        result
    }

    fn atomic_locked(
        &mut self,
        log: &mut Appending,
        input: &mut Input<'_>,
        tail: Tail,
        mut record: Vec<u8>,
        t: &mut Tracker<'_>,
    ) -> Result<()> {
        let start = tail.end;
        let mut group = Group::new(log.writer, tail.seq, 0, Vec::with_capacity(1 << 16));
        if tail.newline {
            group.lead_with_newline();
        }
        let filled = (|| {
            loop {
                input.encode(&mut group, &record)?;
                if group.batch.len() >= BATCH {
                    // Everything but the last record, whose flags are not known yet.
                    let last = group.last;
                    self.write(log, start + group.written, &group.batch[..last], t)?;
                    group.written += last as u64;
                    group.batch.drain(..last);
                    group.last = 0;
                }
                if !input.next(&mut record)? {
                    return Ok(());
                }
            }
        })();
        if filled.is_ok() && (input.exhausted || platform::pending_interrupt().is_none()) {
            return self.finish_group(log, start, &mut group, t);
        }
        // All or nothing: cut back what was written (not in a file another program changed).
        let cut = group.written == 0 || self.changed.get() || log.file.set_len(start).is_ok();
        match filled {
            Err(e) if cut => Err(e),
            Err(e) => Err(e.with_aftermath(Aftermath::Unconfirmed)),
            Ok(()) if cut => Ok(()),
            Ok(()) => Err(Error::AppendInterrupted {
                path: self.path.to_path_buf(),
                signal: platform::pending_interrupt().unwrap_or("a signal"),
                aftermath: Aftermath::Unconfirmed,
            }),
        }
    }

    /// Commit groups as the input arrives: each closes at `limits` and is written and flushed
    /// under the lock, which is released in between.
    ///
    /// Reading and encoding run on a second thread, one group ahead of this one, which does
    /// every call on the log (lock, write, flush, unlock) and reports each group: the kernel's
    /// copy and flush of one group overlap the encoding of the next. At most two groups are in
    /// memory (the hand-over waits for this thread to take the next one).
    fn groups(
        &mut self,
        log: &mut Appending,
        input: &mut Input<'_>,
        limits: GroupLimits,
        t: &mut Tracker<'_>,
    ) -> Result<()> {
        let writer = log.writer;
        let base = AtomicU64::new(0);
        let stop = AtomicBool::new(false);
        let (hand_over, groups) = mpsc::sync_channel::<Group>(0);
        let (give_back, spares) = mpsc::channel::<Vec<u8>>();
        let (base, stop) = (&base, &stop);
        std::thread::scope(|scope| {
            // The sender moves to the encoding thread: the hand-over closes when it ends.
            let encoding = std::thread::Builder::new()
                .name("durable-encode".into())
                .spawn_scoped(scope, move || {
                    // Signals go to the calling thread, whose wait for the lock they must cut
                    // short; this one sees them through `pending_interrupt` within `WAKE`.
                    platform::block_interrupts_in_this_thread();
                    input.produce(writer, limits, base, stop, &hand_over, spares)
                })
                .map_err(|source| Error::Inspect {
                    path: self.path.to_path_buf(),
                    source,
                })?;
            let committed = self.commit_groups(log, &groups, &give_back, base, t);
            // Stop the encoding side if it is still going (a failure here, or an interrupt).
            stop.store(true, Ordering::SeqCst);
            drop(groups);
            let failed = match encoding.join() {
                Ok(failed) => failed,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            committed?;
            failed.map_or(Ok(()), Err)
        })
    }

    /// The committing side of [`Run::groups`]: each group handed over, under the lock, until
    /// the input ends, a signal is noted or a commit fails.
    fn commit_groups(
        &mut self,
        log: &mut Appending,
        groups: &Receiver<Group>,
        give_back: &mpsc::Sender<Vec<u8>>,
        base: &AtomicU64,
        t: &mut Tracker<'_>,
    ) -> Result<()> {
        for mut group in groups {
            // Read but never written: not appended.
            if platform::pending_interrupt().is_some() && !group.ends_input {
                return Ok(());
            }
            let if_locked = if self.out.groups == 0 {
                self.if_locked_first()
            } else {
                IfLocked::Wait
            };
            let Some(tail) = self.lock(log, if_locked, t)? else {
                return Ok(());
            };
            // The group is encoded whole: its write follows the tail check at once.
            self.fresh_end.set(Some(tail.end));
            let committed = self.commit_group(log, tail, &mut group, t);
            self.fresh_end.set(None);
            unlock(log);
            committed?;
            // The next groups are numbered on from this one's sequence numbers.
            if let Some((_, next)) = log.ours {
                let index = group.stream_index + group.count;
                base.store(next.wrapping_sub(index), Ordering::SeqCst);
            }
            group.batch.clear();
            let _ = give_back.send(group.batch);
        }
        Ok(())
    }

    /// Write and flush one whole group at `start` (the log's end, under the lock), whose next
    /// sequence number is `seq`.
    fn commit_group(
        &mut self,
        log: &mut Appending,
        tail: Tail,
        group: &mut Group,
        t: &mut Tracker<'_>,
    ) -> Result<()> {
        match (log.writer, group.writer) {
            (Writer::Native(header, encoder), Writer::Native(was, old)) => {
                // The last record takes `tail.seq + count - 1`, at most u64::MAX - 1 (the last
                // sequence number is never written).
                if tail.seq.checked_add(group.count).is_none() {
                    return Err(seqs_used_up(self.path));
                }
                if header != was {
                    // Another log is at the path now (the one opened was removed while this
                    // append waited for the lock): the records are sealed with its salt.
                    reencode(&old, &encoder, group, tail.seq).map_err(|len| {
                        Error::RecordTooLarge {
                            what: format!("a record of {len} bytes"),
                            len,
                        }
                    })?;
                } else if tail.seq != group.first_seq {
                    renumber(&encoder, &mut group.batch, tail.seq);
                }
                group.first_seq = tail.seq;
            }
            (Writer::Lines, Writer::Lines) => {}
            // The log at the path is in the other format now (an empty file another appender
            // started so, a log replaced): an append that named no format goes on in it.
            (now @ Writer::Lines, Writer::Native(_, old)) if self.opts.format.is_none() => {
                convert(self.path, group, now, |record| {
                    let len = u32::from_le_bytes([record[8], record[9], record[10], record[11]]);
                    let data = format::RECORD_HEADER_LEN as usize;
                    (&record[data..data + len as usize], old.record_len(len))
                })?;
            }
            (now @ Writer::Native(..), Writer::Lines) if self.opts.format.is_none() => {
                convert(self.path, group, now, |line| {
                    let end = line.iter().position(|b| *b == b'\n').unwrap_or(line.len());
                    (&line[..end.saturating_sub(lines::SUFFIX as usize)], end + 1)
                })?;
                return self.commit_group(log, tail, group, t);
            }
            (now, _) => {
                return Err(Error::Unsupported {
                    path: self.path.to_path_buf(),
                    why: format!(
                        "it was replaced by a {} log while this append waited for its lock; \
                         the records not yet committed were not appended",
                        match now {
                            Writer::Native(..) => LogFormat::Native.name(),
                            Writer::Lines => LogFormat::Lines.name(),
                        }
                    ),
                });
            }
        }
        if tail.newline {
            group.lead_with_newline();
        }
        self.finish_group(log, tail.end, group, t)
    }

    /// Mark the group's last record, write what is left of it, flush, report.
    fn finish_group(
        &mut self,
        log: &mut Appending,
        start: u64,
        group: &mut Group,
        t: &mut Tracker<'_>,
    ) -> Result<()> {
        if let Writer::Native(_, encoder) = &log.writer {
            let last = group.last;
            let flags = group.batch[last + 5] | format::FLAG_LAST;
            let seq = group.first_seq + group.count - 1;
            encoder.reseal(&mut group.batch[last..], seq, flags);
        }
        let at = start + group.written;
        let written = self.write(log, at, &group.batch, t).and_then(|()| {
            if self.opts.sync == SyncLevel::None {
                return Ok(());
            }
            t.run(Step::SyncLog, self.path, || {
                platform::sync_file(&log.file, self.opts.sync)
            })
            .failure_leaves(Aftermath::Unchanged)
        });
        let bytes = group.written + group.batch.len() as u64;
        if let Err(error) = written {
            // Nothing of this group may count as appended: cut the log back to its start.
            if self.changed.get() || log.file.metadata().is_ok_and(|m| m.len() == start) {
                return Err(error);
            }
            return Err(match log.file.set_len(start) {
                Ok(()) => error,
                Err(_) => error.with_aftermath(Aftermath::Unconfirmed),
            });
        }
        crate::disk::mark_committed();
        if self.opts.verify {
            self.verify_group(log, start, bytes, group, t)?;
        }
        let seqs = match log.writer {
            Writer::Native(..) => Some((group.first_seq, group.first_seq + group.count - 1)),
            Writer::Lines => None,
        };
        // Another log than our last group's: opened again, started anew, or (lines, which
        // has no header to tell by) shorter than where our last group ended.
        let moved = std::mem::take(&mut self.moved);
        let new_log = self.out.groups > 0 && (moved || log.ours.is_none_or(|(end, _)| start < end));
        let out = &mut self.out;
        if out.groups == 0 {
            out.start = start + group.lead;
        } else if new_log {
            out.elsewhere = out.count;
        } else if log.ours.is_none_or(|(end, _)| end != start) {
            out.interleaved = true;
        }
        out.seqs = match (out.seqs, seqs) {
            (Some((first, _)), Some((_, last))) if !new_log => Some((first, last)),
            (_, s) => s,
        };
        out.count += group.count;
        out.groups += 1;
        out.bytes += bytes;
        log.ours = Some((start + bytes, group.first_seq + group.count));
        let n = group.batch.len().min(OURS_TAIL);
        log.ours_tail.0[OURS_TAIL - n..].copy_from_slice(&group.batch[group.batch.len() - n..]);
        log.ours_tail.1 = n;
        self.offsets.clear();
        self.offsets.extend(group.offsets.iter().map(|o| start + o));
        (self.on_commit)(&Committed {
            first_seq: seqs.map(|(first, _)| first),
            count: group.count,
            start: start + group.lead,
            bytes,
            offsets: &self.offsets,
            new_log,
            log: &log.file,
        });
        Ok(())
    }

    fn write(&self, log: &Appending, at: u64, bytes: &[u8], t: &mut Tracker<'_>) -> Result<()> {
        // The log must end where this write starts. It does under the lock unless a program
        // that ignores the lock changed it meanwhile (a rotation by copytruncate while an
        // --atomic append read its input): writing at the old offset would leave the records
        // behind a hole, in another log. The file is not theirs to cut back either.
        // A streamed group's first write: the tail check just read the size under the lock.
        let fresh = self.fresh_end.take() == Some(at);
        if !fresh && log.file.metadata().map_err(inspect(self.path))?.len() != at {
            self.changed.set(true);
            return Err(Error::Unsupported {
                path: self.path.to_path_buf(),
                why: "it was truncated or rewritten by another program while this append held \
                      its lock (a rotation by copytruncate?): the rest of this append was not \
                      written to it, and nothing of it is in it"
                    .into(),
            });
        }
        t.run(Step::WriteLog, self.path, || {
            let mut at = at;
            for piece in bytes.chunks(WRITE_PIECE) {
                platform::write_all_at(&log.file, piece, at)?;
                at += piece.len() as u64;
            }
            Ok(())
        })
        .failure_leaves(Aftermath::Unchanged)
    }

    /// Re-read the group just flushed and check it holds exactly its records.
    fn verify_group(
        &self,
        log: &Appending,
        start: u64,
        bytes: u64,
        group: &Group,
        t: &mut Tracker<'_>,
    ) -> Result<()> {
        let end = start + bytes;
        let mut check: Box<dyn Reader> = match &log.writer {
            Writer::Native(header, _) => Box::new(NativeReader::new(
                &log.file,
                *header,
                end,
                start,
                group.first_seq,
                OnDamage::Stop,
            )),
            Writer::Lines => Box::new(lines::LinesReader::new(
                &log.file,
                end,
                start + group.lead,
                OnDamage::Stop,
            )),
        };
        let ok = t
            .run(Step::Verify, self.path, || {
                let mut n = 0;
                loop {
                    match check.next_item()? {
                        Item::Record(_) => n += 1,
                        Item::End => return Ok(n == group.count),
                        Item::Defect(_) => return Ok(false),
                    }
                }
            })
            .failure_leaves(Aftermath::Unconfirmed)?;
        if ok {
            Ok(())
        } else {
            Err(Error::VerifyMismatch {
                path: self.path.to_path_buf(),
                aftermath: Aftermath::Unconfirmed,
            })
        }
    }

    /// Take the lock and find where the log ends and the sequence number to go on with: from
    /// our last group if the log still ends there, else from the tail check. `Ok(None)`: an
    /// interrupt arrived while waiting for the lock (it is not held then).
    fn lock(
        &mut self,
        log: &mut Appending,
        if_locked: IfLocked,
        t: &mut Tracker<'_>,
    ) -> Result<Option<Tail>> {
        let path = self.path;
        loop {
            // Told once, and only before the first group: later groups wait for one group of
            // another appender at most.
            let first = self.out.groups == 0;
            let told = &mut self.told_waiting;
            let mut on_wait = || {
                if first && !std::mem::replace(told, true) {
                    t.waiting(path);
                }
            };
            match lock(&log.file, path, if_locked, &mut on_wait) {
                Ok(()) => {}
                Err(_) if platform::pending_interrupt().is_some() => return Ok(None),
                Err(e) => return Err(e),
            }
            // Another appender may have removed a log it had just created (its append failed)
            // while we waited for the lock: append only to the file that is at the path now.
            // And the file there may hold another log than the one opened: an empty file
            // another appender started, a log emptied by a rotation (copytruncate) and started
            // anew: read that one.
            // One fstat for both checks (and the tail check after them).
            let held = log.file.metadata().map_err(inspect(path));
            let held = held.inspect_err(|_| unlock(log))?;
            let at_path = std::fs::metadata(path).is_ok_and(|b| platform::same_file(&held, &b));
            let current = at_path
                && self
                    .same_log(log, held.len())
                    .inspect_err(|_| unlock(log))?
                && (!log.unstarted || self.start(log).inspect_err(|_| unlock(log))?);
            if current {
                break;
            }
            unlock(log);
            self.moved = true;
            *log = open_log(path, self.opts, &mut Tracker::unrecorded(&mut ()))?;
        }
        let checked = self.check_tail(log);
        if checked.is_err() {
            unlock(log);
        }
        checked.map(Some)
    }

    /// Whether the file (under the lock; `size`: its size, read there) still holds the log
    /// this append opened: for a native log, its header is the one opened (a rotation that emptied the file, then another
    /// process's new log, has another salt; a log of the same size is no proof); for a lines
    /// log, it is not a native log. An empty file is started again (native: with the same
    /// header, so the records encoded go in as they are). `Ok(false)`: open it again.
    fn same_log(&mut self, log: &mut Appending, size: u64) -> Result<bool> {
        let path = self.path;
        self.seen = Some(size);
        let mut head = [0u8; FILE_HEADER_LEN as usize];
        let got = reader::read_prefix(&log.file, size, &mut head).map_err(inspect(path))?;
        Ok(match log.writer {
            Writer::Native(..) if size == 0 => {
                // Emptied after a group of ours went in: the next one starts another log.
                self.moved |= log.ours.is_some();
                log.unstarted = true;
                log.ours = None;
                true
            }
            // Empty when opened, not any more: another appender started it.
            Writer::Native(..) if log.unstarted => false,
            Writer::Native(header, _) => got == head.len() && head == header.encode(),
            Writer::Lines => {
                let n = got.min(format::FILE_MAGIC.len());
                n == 0 || head[..n] != format::FILE_MAGIC[..n]
            }
        })
    }

    /// Write the header of an empty file being started as a native log (under the lock), and
    /// flush it before the first group is written: so a crash leaves either a start cut short
    /// (a prefix of the header, or zeros: nothing was acknowledged) or the whole header and a
    /// torn tail after it, never records behind a header that did not reach the disk
    /// (docs/FORMAT.md, "A log's start"). `Ok(false)`: the file is not empty any more (another
    /// appender started it). A failed write or flush takes the file back to empty.
    fn start(&mut self, log: &mut Appending) -> Result<bool> {
        let path = self.path;
        if log.file.metadata().map_err(inspect(path))?.len() != 0 {
            return Ok(false);
        }
        let Writer::Native(header, _) = log.writer else {
            return Ok(true);
        };
        let mut quiet = ();
        let mut t = Tracker::unrecorded(&mut quiet);
        let sync = self.opts.sync;
        let written = t
            .run(Step::WriteLog, path, || {
                platform::write_all_at(&log.file, &header.encode(), 0)
            })
            .and_then(|()| {
                if sync == SyncLevel::None {
                    return Ok(());
                }
                t.run(Step::SyncLog, path, || platform::sync_file(&log.file, sync))
            });
        if written.is_err() {
            let _ = log.file.set_len(0);
        }
        written.failure_leaves(Aftermath::Unchanged)?;
        log.unstarted = false;
        log.started = true;
        self.seen = Some(FILE_HEADER_LEN);
        Ok(true)
    }

    /// What taking the lock for the first group does when another appender holds it:
    /// `no_wait` fails; later groups always wait (part of the input is in by then).
    fn if_locked_first(&self) -> IfLocked {
        if self.opts.no_wait {
            IfLocked::Fail
        } else {
            IfLocked::Wait
        }
    }

    fn check_tail(&mut self, log: &Appending) -> Result<Tail> {
        let path = self.path;
        // Read under this lock by same_log, just before.
        let size = match self.seen.take() {
            Some(size) => size,
            None => log.file.metadata().map_err(inspect(path))?.len(),
        };
        // Our last group's last bytes still there too: a log rewritten by another program to
        // the same size (the same header, other records) is checked as any other.
        if let Some((end, seq)) = log.ours
            && end == size
            && {
                let mut last = [0u8; OURS_TAIL];
                let n = (end as usize).min(OURS_TAIL).min(log.ours_tail.1);
                platform::read_at(&log.file, &mut last[..n], end - n as u64)
                    .is_ok_and(|got| got == n)
                    && last[..n] == log.ours_tail.0[OURS_TAIL - n..]
            }
        {
            return Ok(Tail {
                end: size,
                seq,
                newline: false,
            });
        }
        let next = match &log.writer {
            // The last append must be whole, walked back from the end through the trailers:
            // reads that append only, whatever the log's size.
            Writer::Native(header, _) => {
                NativeReader::new(&log.file, *header, size, FILE_HEADER_LEN, 0, OnDamage::Stop)
                    .last_append_whole()
                    .map_err(inspect(path))?
                    .map(|seq| (seq, false))
            }
            // The lines at the end of the log (lines::tail_state); a valid last line without
            // its newline gets one before the new lines.
            Writer::Lines => match lines::tail_state(&log.file, size).map_err(inspect(path))? {
                lines::Tail::Intact => Some((0, false)),
                lines::Tail::Unterminated => Some((0, true)),
                lines::Tail::Damaged => None,
            },
        };
        match next {
            Some((seq, newline)) => Ok(Tail {
                end: size,
                seq,
                newline,
            }),
            None => {
                let layout = match &log.writer {
                    Writer::Native(header, _) => Layout::Native(*header),
                    Writer::Lines => Layout::Lines,
                };
                Err(torn_tail(path, &log.file, layout, size))
            }
        }
    }
}

/// Where the log ends under the lock, the sequence number to go on with, and whether its last
/// line needs a newline first (a lines log whose last valid line has none).
#[derive(Debug, Clone, Copy)]
struct Tail {
    end: u64,
    seq: u64,
    newline: bool,
}

/// Give every record of an encoded group new sequence numbers from `first_seq` on.
fn renumber(encoder: &format::Encoder, batch: &mut [u8], first_seq: u64) {
    let mut at = 0;
    let mut seq = first_seq;
    while at < batch.len() {
        let len =
            u32::from_le_bytes([batch[at + 8], batch[at + 9], batch[at + 10], batch[at + 11]]);
        let total = encoder.record_len(len);
        let flags = batch[at + 5];
        encoder.reseal(&mut batch[at..at + total], seq, flags);
        at += total;
        seq += 1;
    }
}

/// Re-encode the records of `group`, encoded by `old`, with `new` (another log's salt, perhaps
/// another checksum) and sequence numbers from `first_seq` on, keeping their flags. Fails with
/// a payload's length if `new` cannot hold it (never: both take the same payloads).
fn reencode(
    old: &format::Encoder,
    new: &format::Encoder,
    group: &mut Group,
    first_seq: u64,
) -> std::result::Result<(), u64> {
    let mut batch = Vec::with_capacity(group.batch.len());
    let keep_offsets = !group.offsets.is_empty();
    group.offsets.clear();
    let (mut at, mut seq) = (0, first_seq);
    while at < group.batch.len() {
        let record = &group.batch[at..];
        let len = u32::from_le_bytes([record[8], record[9], record[10], record[11]]);
        let payload = &record[format::RECORD_HEADER_LEN as usize..][..len as usize];
        group.last = batch.len();
        if keep_offsets {
            group.offsets.push(group.written + batch.len() as u64);
        }
        new.encode(&mut batch, seq, record[5], payload)?;
        at += old.record_len(len);
        seq += 1;
    }
    group.batch = batch;
    Ok(())
}

/// Re-encode the records of `group` for `to`, the other format: `split(bytes)` gives the
/// payload of the record at the start of `bytes` and the record's length. The sequence numbers
/// are left to the caller (native: the records are numbered from `group.first_seq`, renumbered
/// as usual when committed).
fn convert(
    path: &Path,
    group: &mut Group,
    to: Writer,
    split: impl Fn(&[u8]) -> (&[u8], usize),
) -> Result<()> {
    let old = std::mem::take(&mut group.batch);
    let keep_offsets = !group.offsets.is_empty();
    group.offsets.clear();
    let (mut at, mut i) = (0usize, 0u64);
    while at < old.len() {
        let (payload, len) = split(&old[at..]);
        group.last = group.batch.len();
        if keep_offsets {
            group.offsets.push(group.written + group.batch.len() as u64);
        }
        match &to {
            Writer::Native(_, encoder) => {
                let flags = if i == 0 { format::FLAG_FIRST } else { 0 };
                let seq = group.first_seq.wrapping_add(i);
                encoder
                    .encode(&mut group.batch, seq, flags, payload)
                    .map_err(|len| Error::RecordTooLarge {
                        what: format!("a record of {len} bytes"),
                        len,
                    })?;
            }
            Writer::Lines => {
                // Named by its place in the input, as a record refused on its way in is.
                check_line(
                    path,
                    payload,
                    format!("record {} of the input", group.stream_index + i + 1),
                )?;
                lines::encode(&mut group.batch, payload);
            }
        }
        at += len;
        i += 1;
    }
    group.writer = to;
    Ok(())
}

fn seqs_used_up(path: &Path) -> Error {
    Error::Unsupported {
        path: path.to_path_buf(),
        why: "its sequence numbers are used up (the last one is never written)".into(),
    }
}

fn unlock(log: &Appending) {
    // Closing would release the lock too; the file stays open for the next group.
    let _ = log.file.unlock();
}

fn inspect(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Inspect {
        path: path.to_path_buf(),
        source,
    }
}

/// An input error, or the interrupt that cut the input short before anything was touched.
fn interrupted(path: &Path) -> impl FnOnce(Error) -> Error + '_ {
    move |error| match platform::pending_interrupt() {
        Some(signal) => Error::AppendInterrupted {
            path: path.to_path_buf(),
            signal,
            aftermath: Aftermath::Unchanged,
        },
        None => error,
    }
}

/// Open (or create) the log and decide how to write to it. No lock yet.
fn open_log(path: &Path, opts: &AppendOptions, t: &mut Tracker<'_>) -> Result<Appending> {
    let (file, created) = open_or_create(path, opts, t)?;
    let size = file.metadata().map_err(inspect(path))?.len();
    // An empty file that recover emptied keeps the format it had, and a native log its
    // checksum algorithm, as the sidecar it kept says (docs/FORMAT.md, "A log's start"); a
    // format named on the command line decides the format, `--checksum` the algorithm.
    let emptied = if !created
        && size == 0
        && (opts.format.is_none()
            || (opts.format == Some(LogFormat::Native) && opts.algorithm.is_none()))
    {
        sidecar::emptied_by_recover(path)
    } else {
        EmptiedBy::Unknown
    };
    let writer = writer_for(&file, path, size, created, opts, &emptied)?;
    match (&writer, &emptied) {
        (Writer::Lines, EmptiedBy::Format(e)) => {
            t.continues_format(path, LogFormat::Lines.name(), &e.sidecar);
        }
        (Writer::Native(header, _), EmptiedBy::Format(e))
            if opts.algorithm.is_none()
                && e.format == SourceFormat::Native
                && e.algorithm == Some(header.algorithm)
                && header.algorithm != Algorithm::default() =>
        {
            t.continues_checksum(path, header.algorithm.name(), &e.sidecar);
        }
        _ => {}
    }
    Ok(Appending {
        file,
        created,
        writer,
        unstarted: !created && size == 0 && matches!(writer, Writer::Native(..)),
        started: false,
        ours: None,
        ours_tail: ([0; OURS_TAIL], 0),
    })
}

/// Whether `path` is named as a file of a proglog segment (`<base>.store` or `<base>.index`)
/// whose other file is beside it (a regular file, not a symlink): which it is, and that file.
fn proglog_segment_file(path: &Path) -> Option<(&'static str, PathBuf)> {
    let name = platform::name_bytes(path.file_name()?);
    let (what, other) = if let Some(base) = name.strip_suffix(b".store") {
        ("store", [base, b".index"].concat())
    } else {
        ("index", [name.strip_suffix(b".index")?, b".store"].concat())
    };
    let sibling = path.with_file_name(platform::name_from_bytes(other));
    std::fs::symlink_metadata(&sibling)
        .is_ok_and(|m| m.file_type().is_file())
        .then_some((what, sibling))
}

/// Refuse, before anything is touched, the options no log could be appended with.
fn check_format_options(path: &Path, opts: &AppendOptions) -> Result<()> {
    match (opts.format, opts.algorithm) {
        (Some(f @ (LogFormat::Proglog | LogFormat::Aof)), _) => Err(Error::Unsupported {
            path: path.to_path_buf(),
            why: format!(
                "durable appends only to native and lines logs, not {}",
                f.name()
            ),
        }),
        (Some(LogFormat::Lines), Some(a)) if a != Algorithm::Sha256 => Err(Error::LinesChecksum {
            path: path.to_path_buf(),
            requested: a.name(),
        }),
        _ => Ok(()),
    }
}

/// A record over the maximum record size, refused on its way into a lines log: say that the
/// limit is durable's own (the format has none, and durable reads longer entries).
fn lines_limit(path: &Path, error: Error) -> Error {
    match error {
        Error::RecordTooLarge { what, len } => Error::Unsupported {
            path: path.to_path_buf(),
            why: format!(
                "{what} is {}durable's maximum record size of 16 MiB (16777216 bytes), which \
                 holds for appends to a lines log too (it reads and verifies longer entries \
                 other programs wrote); nothing was appended",
                // One past the maximum: where reading stopped, not its size.
                if len == MAX_RECORD + 1 {
                    "larger than ".to_string()
                } else {
                    format!("{len} bytes, more than ")
                }
            ),
        },
        other => other,
    }
}

/// Whether `entry` can be a line of a lines log.
fn check_line(path: &Path, entry: &[u8], what: String) -> Result<()> {
    if entry.len() as u64 > MAX_RECORD {
        return Err(lines_limit(
            path,
            Error::RecordTooLarge {
                what,
                len: entry.len() as u64,
            },
        ));
    }
    if entry.contains(&b'\n') {
        return Err(Error::Unencodable {
            path: path.to_path_buf(),
            what,
            why: "it holds a newline, and a lines log has one entry per line",
        });
    }
    Ok(())
}

/// How records are written: the format of the log being appended to.
#[derive(Clone, Copy)]
enum Writer {
    Native(FileHeader, format::Encoder),
    Lines,
}

/// Decide the format of the log being appended to (just created, or existing), and check that
/// an explicit `--checksum` fits it.
fn writer_for(
    file: &File,
    path: &Path,
    size: u64,
    created: bool,
    opts: &AppendOptions,
    emptied: &EmptiedBy,
) -> Result<Writer> {
    // A sidecar kept by recover is never a log to append to (`log restore` puts its bytes back).
    if !created && let Some(trailer) = sidecar::identify(file, size).map_err(inspect(path))? {
        return Err(sidecar::is_sidecar_error(path, &trailer));
    }
    // A native log recover emptied keeps its checksum algorithm (unless `--checksum` says):
    // the one its sidecars agree on.
    let kept_algorithm = match emptied {
        _ if opts.algorithm.is_some() => None,
        EmptiedBy::Format(e) if e.format == SourceFormat::Native => e.algorithm,
        EmptiedBy::Conflict(a, b)
            if a.format == SourceFormat::Native && b.format == SourceFormat::Native =>
        {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                why: format!(
                    "it is empty, and the sidecars durable recover kept when it emptied it \
                     disagree on the checksum of the native log it was: {} holds the start of \
                     a {} log, {} of a {} one; nothing was appended (name it: `--checksum {}` \
                     or `--checksum {}`)",
                    quoted(&a.sidecar),
                    a.algorithm.map_or("-", |x| x.name()),
                    quoted(&b.sidecar),
                    b.algorithm.map_or("-", |x| x.name()),
                    a.algorithm.map_or("-", |x| x.name()),
                    b.algorithm.map_or("-", |x| x.name()),
                ),
            });
        }
        _ => None,
    };
    // The format: decided by the sidecars only when no format is named.
    let emptied = match opts.format {
        None => emptied,
        Some(_) => &EmptiedBy::Unknown,
    };
    // An empty file recover emptied of a lines log is one still.
    let emptied_lines = match emptied {
        EmptiedBy::Unknown => None,
        EmptiedBy::Format(e) if e.format == SourceFormat::Native => None,
        EmptiedBy::Format(e) if e.format == SourceFormat::Lines => Some(&e.sidecar),
        // Native both, disagreeing on the checksum, which `--checksum` named (refused above
        // otherwise).
        EmptiedBy::Conflict(a, b) if a.format == b.format => None,
        EmptiedBy::Format(e) => {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                why: format!(
                    "it is empty, and durable recover emptied it of {} ({} keeps the bytes it \
                     cut), which durable does not append to; nothing was appended \
                     (`--log-format native` starts a native log in it)",
                    match e.format {
                        SourceFormat::Aof => "an aof file",
                        SourceFormat::ProglogIndex => "a proglog index",
                        _ => "a proglog store",
                    },
                    quoted(&e.sidecar)
                ),
            });
        }
        EmptiedBy::Conflict(a, b) => {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                why: format!(
                    "it is empty, and the sidecars durable recover kept when it emptied it \
                     disagree on the log it was: {} holds {} log's bytes, {} {} log's; nothing \
                     was appended (name the format: `--log-format lines` or `--log-format \
                     native`)",
                    quoted(&a.sidecar),
                    a.format.article(),
                    quoted(&b.sidecar),
                    b.format.article(),
                ),
            });
        }
    };
    if let Some(kept) = emptied_lines
        && let Some(asked) = opts.algorithm
        && asked != Algorithm::Sha256
    {
        return Err(Error::Unsupported {
            path: path.to_path_buf(),
            why: format!(
                "it is empty, and durable recover emptied it of a lines log ({} keeps the bytes \
                 it cut), whose entries carry SHA-256 checksums, not {}; nothing was appended \
                 (`--log-format native` starts a native log in it)",
                quoted(kept),
                asked.name()
            ),
        });
    }
    let mut head = [0u8; 8];
    let got = reader::read_prefix(file, size, &mut head).map_err(inspect(path))?;
    let native_magic = got > 0 && head[..got] == format::FILE_MAGIC[..got];
    let lines = match opts.format {
        Some(LogFormat::Lines) if native_magic && !created => {
            return Err(Error::FormatConflict {
                path: path.to_path_buf(),
                existing: LogFormat::Native.name(),
                requested: LogFormat::Lines.name(),
            });
        }
        Some(LogFormat::Lines) => {
            // Named as lines: an existing file must be one (a text file is not), or its
            // "damage" would be refused with advice to recover it, which would empty it.
            // One that holds no newline, only text, is a lines log whose first line was cut
            // short: a torn tail at 0, refused as any torn tail is (by the tail check).
            let mut questions = lines::Questions::new(file, size);
            if !created
                && size > 0
                && !questions.any_valid_line().map_err(inspect(path))?
                && !questions.torn_first_line().map_err(inspect(path))?
            {
                return Err(Error::NotALog {
                    path: path.to_path_buf(),
                    why: "none of its lines ends with a space and the SHA-256 of its entry; \
                          nothing was appended",
                    damaged_header: false,
                    format: Some(LogFormat::Lines.name()),
                });
            }
            true
        }
        // Named as native: a lines log is the other format, not "no log magic".
        Some(_)
            if !created
                && !native_magic
                && got > 0
                && lines::looks_like_lines(file, size).map_err(inspect(path))? =>
        {
            return Err(Error::FormatConflict {
                path: path.to_path_buf(),
                existing: LogFormat::Lines.name(),
                requested: LogFormat::Native.name(),
            });
        }
        Some(_) => false,
        None if emptied_lines.is_some() => true,
        None => {
            !created
                && got > 0
                && !native_magic
                && lines::looks_like_lines(file, size).map_err(inspect(path))?
        }
    };
    if lines {
        if let Some(asked) = opts.algorithm
            && asked != Algorithm::Sha256
        {
            return Err(Error::ChecksumConflict {
                path: path.to_path_buf(),
                existing: "sha256 (a lines log)",
                requested: asked.name(),
            });
        }
        return Ok(Writer::Lines);
    }
    // An empty file of a proglog segment (recover emptied its store, or its index, and left no
    // sidecar saying so): a native log written there would break the program that owns the
    // segment's directory. Only a format named on the command line starts a log in it.
    if size == 0
        && !created
        && opts.format.is_none()
        && let Some((what, sibling)) = proglog_segment_file(path)
    {
        return Err(Error::Unsupported {
            path: path.to_path_buf(),
            why: format!(
                "it is an empty proglog {what} (its {} {} is beside it), and durable appends \
                 only to native and lines logs; nothing was appended",
                if what == "store" { "index" } else { "store" },
                quoted(&sibling)
            ),
        });
    }
    // An existing empty file is started as a new log (the header is written under the lock).
    let header = if size == 0 && !created {
        new_header(path, opts.algorithm.or(kept_algorithm))?
    } else if opts.format.is_none() && !native_magic && got > 0 {
        // A log of a format durable reads but does not append to: name it.
        if let Some(f @ (LogFormat::Proglog | LogFormat::Aof)) =
            reader::format_of(file, path, size)?
        {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                why: format!(
                    "it is {} file, and durable appends only to native and lines logs; nothing \
                     was appended",
                    match f {
                        LogFormat::Aof => "an aof",
                        _ => "a proglog",
                    }
                ),
            });
        }
        // Only zero bytes: a native log whose start never reached the disk, or one zeroed.
        if reader::zeros_may_be_native(path)
            && let Some(start) = reader::Start::of(file, size, true).map_err(inspect(path))?
        {
            return Err(start_refusal(start, path, size));
        }
        if let Some(refusal) = lost_refusal(file, path, size)? {
            return Err(refusal);
        }
        // Neither format: say so for both (a lines log whose first lines are damaged reads as
        // neither, and `--log-format lines` is the way to append to it).
        // No newline, only text: perhaps a lines log whose first line was cut short, which
        // only the user can say (`--log-format lines`, named in the hint).
        if lines::torn_first_line(file, size).map_err(inspect(path))? {
            return Err(Error::NotALog {
                path: path.to_path_buf(),
                why: reader::TORN_LINES,
                damaged_header: false,
                format: None,
            });
        }
        return Err(Error::NotALog {
            path: path.to_path_buf(),
            why: "it does not start with the log magic, and its first lines are not a lines \
                  log's (text, a space, the SHA-256 of the text); nothing was appended",
            damaged_header: false,
            format: None,
        });
    } else {
        // A start cut short by a crash (docs/FORMAT.md, "A log's start") is a torn tail at 0,
        // refused as any torn tail is; only zero bytes (named as native) as above.
        match reader::native_header(file, path, size) {
            Ok(header) => header,
            Err(e) => {
                return Err(match reader::Start::of(file, size, true) {
                    Ok(Some(start)) => start_refusal(start, path, size),
                    _ => lost_refusal(file, path, size)?.unwrap_or(e),
                });
            }
        }
    };
    if let Some(asked) = opts.algorithm
        && asked != header.algorithm
        && !created
    {
        return Err(Error::ChecksumConflict {
            path: path.to_path_buf(),
            existing: header.algorithm.name(),
            requested: asked.name(),
        });
    }
    Ok(Writer::Native(header, format::Encoder::new(&header)))
}

/// The refusal of an append to a native log whose header is lost (corruption: `recover
/// --force` writes a new header), if the file at `path` is one.
fn lost_refusal(file: &File, path: &Path, size: u64) -> Result<Option<Error>> {
    let lost = reader::header_lost(file, size).map_err(inspect(path))?;
    Ok(lost.map(|lost| Error::NotALog {
        path: path.to_path_buf(),
        why: if lost.header.is_some() {
            reader::LOST_HEADER
        } else {
            reader::LOST_NO_SALT
        },
        damaged_header: true,
        format: None,
    }))
}

/// Open the log for appending, creating it (header, flushed, renamed into place, directory
/// flushed) if it does not exist.
fn open_or_create(path: &Path, opts: &AppendOptions, t: &mut Tracker<'_>) -> Result<(File, bool)> {
    // The kernel's protected_symlinks rule, whatever the setting: checked before the open, and
    // again after it (a name swapped for a link in between is refused; swapped back, the file
    // opened is no longer the one at the path, which the append checks under the lock).
    crate::target::refuse_sticky_links(path, "log append")?;
    if let Ok(meta) = std::fs::metadata(path)
        && !meta.is_file()
    {
        return Err(Error::NotRegular {
            path: path.to_path_buf(),
            kind: platform::kind_of(meta.file_type()),
        });
    }
    let open = || File::options().read(true).write(true).open(path);
    match open() {
        Ok(file) => {
            crate::target::refuse_sticky_links(path, "log append")?;
            return Ok((check_regular(file, path)?, false));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        // A log this user may read but not write (or on a read-only filesystem).
        Err(source)
            if matches!(
                source.kind(),
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
            ) && path.exists() =>
        {
            return Err(Error::CannotChange {
                path: path.to_path_buf(),
                doing: "open it for appending".into(),
                source,
            });
        }
        Err(source) => return Err(inspect(path)(source)),
    }
    let target =
        crate::target::resolve(path, crate::target::Symlinks::FollowProtected("log append"))?;
    let header = new_header(path, opts.algorithm)?;
    // A new lines log starts empty; a native one with its header.
    let lines = opts.format == Some(LogFormat::Lines);
    let mut new =
        NewFile::create(t, &target.dir, &target.name).failure_leaves(Aftermath::Unchanged)?;
    t.run(Step::WriteTemp, new.path(), || {
        if !lines {
            platform::write_all_at(new.file(), &header.encode(), 0)?;
        }
        platform::set_mode(new.file(), crate::meta::final_mode(None, None))
    })
    .failure_leaves(Aftermath::Unchanged)?;
    new.seal(t, opts.sync)
        .failure_leaves(Aftermath::Unchanged)?;
    // No-clobber: if another appender created the log meanwhile, theirs wins and we use it.
    let we_created = match new.rename(t, &target.path, OnExisting::Fail) {
        Ok(()) => true,
        Err(e) if e.source.kind() == io::ErrorKind::AlreadyExists => false,
        Err(e) => return Err(Error::step(e, Aftermath::Unchanged)),
    };
    if we_created && let Err(e) = new.sync_dir(t, opts.sync) {
        // Nothing is appended yet: take the new, empty log back rather than leave it behind
        // (its name may not even survive a power loss).
        withdraw_new_log(path, if lines { 0 } else { FILE_HEADER_LEN });
        return Err(Error::step(e, Aftermath::Unchanged));
    }
    let file = open().map_err(inspect(path))?;
    crate::target::refuse_sticky_links(path, "log append")?;
    Ok((check_regular(file, path)?, we_created))
}

/// The header of a new native log: the checksum asked for, a random salt, the time now.
fn new_header(path: &Path, algorithm: Option<Algorithm>) -> Result<FileHeader> {
    let mut salt = [0u8; 16];
    platform::random_bytes(&mut salt).map_err(inspect(path))?;
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Ok(FileHeader::new(
        algorithm.unwrap_or_default(),
        salt,
        created,
    ))
}

/// Take an empty file this append started as a log back to empty if nothing went in: under
/// its lock, and only while it holds just the header. Best effort, as [`withdraw_new_log`].
fn unstart_log(file: &File, path: &Path) {
    if file.lock().is_err() || !is_at_path(file, path) {
        return;
    }
    if file.metadata().is_ok_and(|m| m.len() == FILE_HEADER_LEN) {
        let _ = file.set_len(0);
    }
    let _ = file.unlock();
}

/// Remove the log this append just created, if it is still empty (`header_len` bytes): under
/// its lock, so that an appender that opened it meanwhile either finds it gone when it re-checks
/// the path after locking, or has appended and keeps it. Best effort: on any error it stays.
fn withdraw_new_log(path: &Path, header_len: u64) {
    let Ok(file) = File::options().read(true).write(true).open(path) else {
        return;
    };
    if file.lock().is_err() || !is_at_path(&file, path) {
        return;
    }
    if file.metadata().is_ok_and(|m| m.len() == header_len) {
        let _ = std::fs::remove_file(path);
    }
}

/// Whether `file` is still the file at `path` (same device and inode).
fn is_at_path(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => platform::same_file(&a, &b),
        _ => false,
    }
}

fn check_regular(file: File, path: &Path) -> Result<File> {
    let meta = file.metadata().map_err(inspect(path))?;
    if meta.is_file() {
        Ok(file)
    } else {
        Err(Error::NotRegular {
            path: path.to_path_buf(),
            kind: platform::kind_of(meta.file_type()),
        })
    }
}

/// Take the log's exclusive lock (`flock`), waiting for another appender or not as
/// `if_locked` says.
fn lock(file: &File, path: &Path, if_locked: IfLocked, on_wait: &mut dyn FnMut()) -> Result<()> {
    let result = match if_locked {
        IfLocked::Fail => match file.try_lock() {
            Ok(()) => Ok(()),
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    path: path.to_path_buf(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        },
        // Said once before blocking, so that a person knows why nothing happens.
        IfLocked::Wait => match file.try_lock() {
            Ok(()) => Ok(()),
            Err(std::fs::TryLockError::WouldBlock) => {
                on_wait();
                file.lock()
            }
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        },
    };
    result.map_err(inspect(path))
}

/// The error for a log whose last append is not whole: the same verdict `verify` gives (torn
/// tail or corruption) and the end of the valid part, from a full read. Only on this refusal
/// path is the whole log read.
fn torn_tail(path: &Path, file: &File, layout: Layout, size: u64) -> Error {
    // A header that is not its records' (docs/FORMAT.md, "A lost header"): refused as a lost
    // header, naming `recover --force`.
    if let Layout::Native(header) = layout {
        match super::lost::not_its_own(file, size, &header) {
            Ok(Some(lost)) if lost.header.is_some() => {
                return Error::NotALog {
                    path: path.to_path_buf(),
                    why: reader::LOST_HEADER,
                    damaged_header: true,
                    format: None,
                };
            }
            Err(e) => return inspect(path)(e),
            _ => {}
        }
    }
    let mut reader: Box<dyn Reader> = match layout {
        Layout::Native(header) => Box::new(NativeReader::new(
            file,
            header,
            size,
            FILE_HEADER_LEN,
            0,
            OnDamage::Resync,
        )),
        _ => Box::new(lines::LinesReader::new(file, size, 0, OnDamage::Resync)),
    };
    // A lines log detection does not find (its first line torn) must be named to recover it.
    let format = (matches!(layout, Layout::Lines)
        && !lines::looks_like_lines(file, size).unwrap_or(false))
    .then_some(LogFormat::Lines.name());
    let mut v = Verification::start(path, &layout, size);
    match summarize(reader.as_mut(), &mut v, |_, _| {}) {
        Ok(_) if v.status != Status::Clean => Error::TornTail {
            path: path.to_path_buf(),
            offset: v.valid_end,
            corrupt: v.status == Status::Corrupt,
            format,
        },
        // The whole log reads back valid (it was appended to while we looked, or it could not
        // be read): refuse anyway rather than guess; a retry will find the tail.
        _ => Error::TornTail {
            path: path.to_path_buf(),
            offset: reader.position(),
            corrupt: false,
            format,
        },
    }
}

/// Why an append refuses a file where a native log's start was lost (docs/FORMAT.md, "A log's
/// start"): a torn start as any torn tail, only zeros as corruption.
fn start_refusal(start: reader::Start, path: &Path, size: u64) -> Error {
    match start {
        reader::Start::Torn => Error::TornTail {
            path: path.to_path_buf(),
            offset: 0,
            corrupt: false,
            format: None,
        },
        reader::Start::Zeros => Error::ZeroFile {
            path: path.to_path_buf(),
            len: size,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{Listed, OpenOptions, RecordList};

    /// Records encoded for the log that was opened, committed to another log that took its
    /// place at the path while the append waited for the lock (the first was removed by an
    /// appender whose creation of it failed): they are sealed again for the log at the path,
    /// salt, checksum and sequence numbers, so that it verifies clean with every payload.
    #[test]
    fn a_group_encoded_for_a_replaced_log_is_sealed_for_the_log_at_the_path() {
        let payloads: [&[u8]; 3] = [b"one", b"", b"three three"];
        // (checksum of the replaced log, of the one at the path, records already in it)
        for (was, now, before) in [
            (Algorithm::Crc32, Algorithm::Crc32, 0),
            (Algorithm::Crc32, Algorithm::Sha256, 2),
            (Algorithm::Sha256, Algorithm::Crc32, 0),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("x.log");
            let opts = AppendOptions {
                algorithm: Some(now),
                keep_offsets: true,
                ..AppendOptions::default()
            };
            let mut initial = RecordList::new(vec![]);
            append(&path, &mut initial, &opts, &mut ()).unwrap();
            for i in 0..before {
                let mut list = RecordList::new(vec![Listed::Arg(format!("before {i}").into())]);
                append(&path, &mut list, &opts, &mut ()).unwrap();
            }
            let header = FileHeader::new(was, [9; 16], 0);
            let writer = Writer::Native(header, format::Encoder::new(&header));
            let mut source = RecordList::new(vec![]);
            let mut input = Input::new(&path, &mut source, None, false, &opts);
            let mut group = Group::new(writer, 0, 0, Vec::new());
            for payload in payloads {
                input.encode(&mut group, payload).unwrap();
            }

            let mut observer = ();
            let mut t = Tracker::unrecorded(&mut observer);
            let mut log = open_log(&path, &opts, &mut t).unwrap();
            let mut offsets = Vec::new();
            let mut on_commit = |c: &Committed<'_>| offsets.extend_from_slice(c.offsets);
            let mut run = Run {
                path: &path,
                opts: &opts,
                on_commit: &mut on_commit,
                out: Appended::nothing(false, now),
                offsets: Vec::new(),
                told_waiting: false,
                changed: std::cell::Cell::new(false),
                moved: false,
                seen: None,
                fresh_end: std::cell::Cell::new(None),
            };
            let tail = run
                .lock(&mut log, IfLocked::Fail, &mut Tracker::unrecorded(&mut ()))
                .unwrap()
                .unwrap();
            run.commit_group(&mut log, tail, &mut group, &mut t)
                .unwrap();
            unlock(&log);
            assert_eq!(run.out.seqs, Some((before, before + 2)));

            let log = crate::log::open(&path, &OpenOptions::default()).unwrap();
            let mut records = log.records().unwrap();
            assert_eq!(records.verification().status, Status::Clean);
            let got: Vec<(u64, u64, Vec<u8>)> = records
                .by_ref()
                .map(|r| r.map(|(record, payload)| (record.offset, record.seq, payload)))
                .collect::<Result<_>>()
                .unwrap();
            let ours = &got[before as usize..];
            assert_eq!(ours.len(), 3, "{was:?} -> {now:?}");
            for (i, (offset, seq, payload)) in ours.iter().enumerate() {
                assert_eq!(*seq, before + i as u64);
                assert_eq!(payload.as_slice(), payloads[i]);
                assert_eq!(*offset, offsets[i], "the offset reported");
            }
        }
    }

    /// A group goes in while its last record's sequence number is below the last one
    /// (u64::MAX, never written), and is refused, with nothing written, once it would reach it.
    #[test]
    fn a_group_may_end_just_before_the_last_sequence_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let opts = AppendOptions::default();
        append(&path, &mut RecordList::new(vec![]), &opts, &mut ()).unwrap();
        let mut observer = ();
        let mut t = Tracker::unrecorded(&mut observer);
        let mut log = open_log(&path, &opts, &mut t).unwrap();
        let size = log.file.metadata().unwrap().len();
        let mut on_commit = |_: &Committed<'_>| {};
        let mut run = Run {
            path: &path,
            opts: &opts,
            on_commit: &mut on_commit,
            out: Appended::nothing(false, Algorithm::Crc32),
            offsets: Vec::new(),
            told_waiting: false,
            changed: std::cell::Cell::new(false),
            moved: false,
            seen: None,
            fresh_end: std::cell::Cell::new(None),
        };
        for (records, fits) in [(4, false), (3, true)] {
            let mut source = RecordList::new(vec![]);
            let mut input = Input::new(&path, &mut source, None, false, &opts);
            let mut group = Group::new(log.writer, 0, 0, Vec::new());
            for _ in 0..records {
                input.encode(&mut group, b"r").unwrap();
            }
            let tail = Tail {
                end: size,
                seq: u64::MAX - 3,
                newline: false,
            };
            let committed = run.commit_group(&mut log, tail, &mut group, &mut t);
            assert_eq!(committed.is_ok(), fits, "{records} records: {committed:?}");
            let now = log.file.metadata().unwrap().len();
            assert_eq!(now > size, fits, "{records} records");
        }
        assert_eq!(run.out.seqs, Some((u64::MAX - 3, u64::MAX - 1)));
    }
}
