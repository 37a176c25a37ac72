//! `log append`: records go into the log in appends (commit groups), each one write and one
//! flush under the log's exclusive lock, and each marked as a whole by its first and last
//! record, so that a reader can tell an append that never completed from damage. A stream is
//! committed group by group as it arrives, with the lock released in between; listed records
//! (and `--atomic`) are one append, all or nothing.

use std::fs::File;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use super::format::{self, FILE_HEADER_LEN};
use super::{
    Algorithm, FileHeader, Item, Layout, LogFormat, MAX_RECORD, NativeReader, OnDamage, Reader,
    RecordSource, Status, Verification, lines, reader, summarize,
};
use crate::disk::{IfLocked, NewFile, OnExisting, SyncLevel};
use crate::error::{Aftermath, Error, FailedStep, Result};
use crate::platform;
use crate::step::{Observer, Step, Tracker};

/// How the records of one append call are committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Commit {
    /// All of them as one append (one flush): all or nothing. The lock is held while the input
    /// is read, and the next append's tail check reads this whole append back.
    #[default]
    Atomic,
    /// In groups, as the input arrives: each group is one append (one write and one flush
    /// under the lock, which is released between groups).
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
    /// Sequence numbers of the first and the last record appended (native, when any were).
    pub seqs: Option<(u64, u64)>,
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
    let mut run = Run {
        path,
        opts,
        source,
        on_commit,
        pending: has_first.then_some(first),
        read: u64::from(has_first),
        exhausted: !has_first,
        lines: matches!(log.writer, Writer::Lines),
        out: Appended {
            created: log.created,
            algorithm: log.algorithm(),
            count: 0,
            groups: 0,
            seqs: None,
            interleaved: false,
            start: 0,
            bytes: 0,
            interrupted: None,
            unappended: 0,
        },
        offsets: Vec::new(),
    };
    let result = match opts.commit {
        Commit::Atomic => run.atomic(&mut log, &mut t),
        Commit::Groups(limits) => run.groups(&mut log, limits, &mut t),
    };
    run.out.unappended = run.read - run.out.count;
    if let Some(signal) = platform::pending_interrupt()
        && (run.out.unappended > 0 || !run.exhausted)
    {
        run.out.interrupted = Some(signal);
    }
    if log.created && run.out.count == 0 && (result.is_err() || run.out.interrupted.is_some()) {
        // Nothing went in: take back the log this call created.
        withdraw_new_log(path, log.header_len());
    }
    result?;
    Ok(run.out)
}

/// The log being appended to.
struct Appending {
    file: File,
    created: bool,
    writer: Writer,
    /// Where our last group ended, and the sequence number after it: if the log still ends
    /// there under the lock, no other appender got in and the tail needs no check.
    ours: Option<(u64, u64)>,
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

/// One append call in progress.
struct Run<'a> {
    path: &'a Path,
    opts: &'a AppendOptions,
    source: &'a mut dyn RecordSource,
    on_commit: &'a mut dyn FnMut(&Committed<'_>),
    /// A record read but not yet encoded.
    pending: Option<Vec<u8>>,
    /// Records read from the source so far.
    read: u64,
    /// The source said it has no more records.
    exhausted: bool,
    /// The log is a lines log (its size limit is worded as such).
    lines: bool,
    out: Appended,
    offsets: Vec<u64>,
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
    /// Each record's offset from the start of the group (when asked for).
    offsets: Vec<u64>,
    /// Bytes of the group already written, before `batch`.
    written: u64,
    /// Bytes before its first record: a newline that ends a lines log's unterminated last line.
    lead: u64,
}

impl Group {
    fn new(first_seq: u64) -> Group {
        Group {
            batch: Vec::with_capacity(1 << 16),
            last: 0,
            count: 0,
            first_seq,
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

/// Records encoded between two reads of the clock while the input is already buffered.
const CLOCK_EVERY: u32 = 64;

impl Run<'_> {
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
            Err(e) if self.lines => Err(lines_limit(self.path, e)),
            Err(e) => Err(e),
        }
    }

    /// Encode `record` as the next one of `group`.
    fn encode(&mut self, log: &Appending, group: &mut Group, record: &[u8]) -> Result<()> {
        let seq = group.first_seq + group.count;
        if seq == u64::MAX {
            return Err(Error::Unsupported {
                path: self.path.to_path_buf(),
                why: "its sequence numbers are used up (the last one is never written)".into(),
            });
        }
        let at = group.batch.len();
        match &log.writer {
            Writer::Native(_, encoder) => {
                let flags = if group.count == 0 {
                    format::FLAG_FIRST
                } else {
                    0
                };
                encoder
                    .encode(&mut group.batch, seq, flags, record)
                    .map_err(|len| Error::RecordTooLarge {
                        what: self.source.describe(self.out.count + group.count),
                        len,
                    })?;
            }
            Writer::Lines => {
                check_line(
                    self.path,
                    record,
                    self.source.describe(self.out.count + group.count),
                )?;
                lines::encode(&mut group.batch, record);
            }
        }
        if self.opts.keep_offsets {
            group.offsets.push(group.written + at as u64);
        }
        group.last = at;
        group.count += 1;
        Ok(())
    }

    /// All records as one append, written in pieces under the lock as they are read.
    fn atomic(&mut self, log: &mut Appending, t: &mut Tracker<'_>) -> Result<()> {
        let mut record = Vec::new();
        if !self.next(&mut record)? {
            return Ok(());
        }
        let Some(tail) = self.lock(log, self.if_locked_first())? else {
            return Ok(());
        };
        let result = self.atomic_locked(log, tail, record, t);
        unlock(log);
        result
    }

    fn atomic_locked(
        &mut self,
        log: &mut Appending,
        tail: Tail,
        mut record: Vec<u8>,
        t: &mut Tracker<'_>,
    ) -> Result<()> {
        let start = tail.end;
        let mut group = Group::new(tail.seq);
        if tail.newline {
            group.lead_with_newline();
        }
        let filled = (|| {
            loop {
                self.encode(log, &mut group, &record)?;
                if group.batch.len() >= BATCH {
                    // Everything but the last record, whose flags are not known yet.
                    let last = group.last;
                    self.write(log, start + group.written, &group.batch[..last], t)?;
                    group.written += last as u64;
                    group.batch.drain(..last);
                    group.last = 0;
                }
                if !self.next(&mut record)? {
                    return Ok(());
                }
            }
        })();
        if filled.is_ok() && (self.exhausted || platform::pending_interrupt().is_none()) {
            return self.finish_group(log, start, group, t);
        }
        // All or nothing: cut back what was written.
        let cut = group.written == 0 || log.file.set_len(start).is_ok();
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
    fn groups(
        &mut self,
        log: &mut Appending,
        limits: GroupLimits,
        t: &mut Tracker<'_>,
    ) -> Result<()> {
        let mut record = Vec::new();
        loop {
            // Encoded with the sequence number the log should be at; renumbered under the
            // lock if another appender got in first.
            let expected = log.ours.map_or(0, |(_, seq)| seq);
            let mut group = Group::new(expected);
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
                if let Err(e) = self.encode(log, &mut group, &record) {
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
                        ready = self
                            .source
                            .ready_within(limits.pause.min(limits.max_delay - waited));
                    }
                }
                match ready {
                    Ok(true) if platform::pending_interrupt().is_none() => {}
                    Ok(_) => break,
                    Err(_) if platform::pending_interrupt().is_some() => break,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            let stop = !more || failed.is_some();
            if group.count > 0 && (self.exhausted || platform::pending_interrupt().is_none()) {
                let if_locked = if self.out.groups == 0 {
                    self.if_locked_first()
                } else {
                    IfLocked::Wait
                };
                let Some(tail) = self.lock(log, if_locked)? else {
                    return Ok(());
                };
                let committed = self.commit_group(log, tail, group, t);
                unlock(log);
                committed?;
            }
            if let Some(e) = failed {
                return Err(e);
            }
            // Read but never written: not appended.
            if stop || platform::pending_interrupt().is_some() {
                return Ok(());
            }
        }
    }

    /// Write and flush one whole group at `start` (the log's end, under the lock), whose next
    /// sequence number is `seq`.
    fn commit_group(
        &mut self,
        log: &mut Appending,
        tail: Tail,
        mut group: Group,
        t: &mut Tracker<'_>,
    ) -> Result<()> {
        if let Writer::Native(_, encoder) = &log.writer
            && tail.seq != group.first_seq
        {
            renumber(encoder, &mut group.batch, tail.seq);
            group.first_seq = tail.seq;
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
        mut group: Group,
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
            if log.file.metadata().is_ok_and(|m| m.len() == start) {
                return Err(error);
            }
            return Err(match log.file.set_len(start) {
                Ok(()) => error,
                Err(_) => error.with_aftermath(Aftermath::Unconfirmed),
            });
        }
        crate::disk::mark_committed();
        if self.opts.verify {
            self.verify_group(log, start, bytes, &group, t)?;
        }
        let seqs = match log.writer {
            Writer::Native(..) => Some((group.first_seq, group.first_seq + group.count - 1)),
            Writer::Lines => None,
        };
        let out = &mut self.out;
        if out.groups == 0 {
            out.start = start + group.lead;
        } else if log.ours.is_none_or(|(end, _)| end != start) {
            out.interleaved = true;
        }
        out.seqs = match (out.seqs, seqs) {
            (Some((first, _)), Some((_, last))) => Some((first, last)),
            (_, s) => s,
        };
        out.count += group.count;
        out.groups += 1;
        out.bytes += bytes;
        log.ours = Some((start + bytes, group.first_seq + group.count));
        self.offsets.clear();
        self.offsets.extend(group.offsets.iter().map(|o| start + o));
        (self.on_commit)(&Committed {
            first_seq: seqs.map(|(first, _)| first),
            count: group.count,
            start: start + group.lead,
            bytes,
            offsets: &self.offsets,
        });
        Ok(())
    }

    fn write(&self, log: &Appending, at: u64, bytes: &[u8], t: &mut Tracker<'_>) -> Result<()> {
        t.run(Step::WriteLog, self.path, || {
            platform::write_all_at(&log.file, bytes, at)
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
    fn lock(&mut self, log: &mut Appending, if_locked: IfLocked) -> Result<Option<Tail>> {
        let path = self.path;
        loop {
            match lock(&log.file, path, if_locked) {
                Ok(()) => {}
                Err(_) if platform::pending_interrupt().is_some() => return Ok(None),
                Err(e) => return Err(e),
            }
            // Another appender may have removed a log it had just created (its append failed)
            // while we waited for the lock: append only to the file that is at the path now.
            if is_at_path(&log.file, path) {
                break;
            }
            unlock(log);
            *log = open_log(path, self.opts, &mut Tracker::unrecorded(&mut ()))?;
        }
        let checked = self.check_tail(log);
        if checked.is_err() {
            unlock(log);
        }
        checked.map(Some)
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

    fn check_tail(&self, log: &Appending) -> Result<Tail> {
        let path = self.path;
        let size = log.file.metadata().map_err(inspect(path))?.len();
        if let Some((end, seq)) = log.ours
            && end == size
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
    let writer = writer_for(&file, path, size, created, opts)?;
    Ok(Appending {
        file,
        created,
        writer,
        ours: None,
    })
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
                "{what} is {len} bytes: durable appends entries of at most its maximum record \
                 size, 16 MiB (16777216 bytes), to a lines log too (it reads and verifies longer \
                 entries other programs wrote); nothing was appended"
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
) -> Result<Writer> {
    // A sidecar kept by recover is never a log to append to (`log restore` puts its bytes back).
    if !created
        && let Some(trailer) =
            crate::recover::sidecar::identify(file, size).map_err(inspect(path))?
    {
        return Err(crate::recover::sidecar::is_sidecar_error(path, &trailer));
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
            if !created && size > 0 && !lines::any_valid_line(file, size).map_err(inspect(path))? {
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
        Some(_) => false,
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
    let header = reader::native_header(file, path, size)?;
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

/// Open the log for appending, creating it (header, flushed, renamed into place, directory
/// flushed) if it does not exist.
fn open_or_create(path: &Path, opts: &AppendOptions, t: &mut Tracker<'_>) -> Result<(File, bool)> {
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
        Ok(file) => return Ok((check_regular(file, path)?, false)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => return Err(inspect(path)(source)),
    }
    let target = crate::target::resolve(path, crate::target::Symlinks::Follow)?;
    let mut salt = [0u8; 16];
    platform::random_bytes(&mut salt).map_err(inspect(path))?;
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let header = FileHeader::new(opts.algorithm.unwrap_or_default(), salt, created);
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
    Ok((check_regular(file, path)?, we_created))
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
fn lock(file: &File, path: &Path, if_locked: IfLocked) -> Result<()> {
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
        IfLocked::Wait => file.lock(),
    };
    result.map_err(inspect(path))
}

/// The error for a log whose last append is not whole: the same verdict `verify` gives (torn
/// tail or corruption) and the end of the valid part, from a full read. Only on this refusal
/// path is the whole log read.
fn torn_tail(path: &Path, file: &File, layout: Layout, size: u64) -> Error {
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
    let mut v = Verification::start(path, &layout, size);
    match summarize(reader.as_mut(), &mut v, |_, _| {}) {
        Ok(_) if v.status != Status::Clean => Error::TornTail {
            path: path.to_path_buf(),
            offset: v.valid_end,
            corrupt: v.status == Status::Corrupt,
        },
        // The whole log reads back valid (it was appended to while we looked, or it could not
        // be read): refuse anyway rather than guess; a retry will find the tail.
        _ => Error::TornTail {
            path: path.to_path_buf(),
            offset: reader.position(),
            corrupt: false,
        },
    }
}
