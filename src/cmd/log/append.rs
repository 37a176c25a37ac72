//! `durable log append`: records from arguments, files or standard input into a log, and what
//! the command says about them.

use std::io::{self, IsTerminal};
use std::time::Duration;

use anyhow::anyhow;
use durable::SyncLevel;
use durable::log::{
    self, Algorithm, AppendOptions, Commit, Committed, Delimited, GroupLimits, Listed, RecordList,
    RecordSource, Whole,
};
use durable::quote::quoted;

use super::{failure, usage};
use crate::cli::{AppendArgs, ChecksumArg, SyncArg};
use crate::cmd::{Failure, print_stdout};
use crate::exit::Exit;

pub(super) fn append(args: AppendArgs) -> Result<Exit, Failure> {
    if log::stream::is_stdin(&args.log) {
        return Err(usage(
            "log append writes to the file LOG, and `-` names none (records come from standard input by default); to append to a file named -, write ./-".to_string(),
        ));
    }
    if args
        .files
        .iter()
        .filter(|f| log::stream::is_stdin(f))
        .count()
        > 1
    {
        return Err(usage(
            "--file - reads all of standard input as one record, so it can be given once: a second would be empty".to_string(),
        ));
    }
    let mut opts = AppendOptions {
        sync: match args.sync {
            SyncArg::Full => SyncLevel::Full,
            SyncArg::Data => SyncLevel::Data,
            SyncArg::None => SyncLevel::None,
        },
        algorithm: args.checksum.map(|c| match c {
            ChecksumArg::Crc32 => Algorithm::Crc32,
            ChecksumArg::Sha256 => Algorithm::Sha256,
        }),
        no_wait: args.no_wait,
        verify: args.verify,
        keep_offsets: args.print_offsets,
        format: args.log_format.map(Into::into),
        commit: Commit::Atomic,
    };
    let source: Box<dyn RecordSource> = if !args.records.is_empty() || !args.files.is_empty() {
        let mut items: Vec<Listed> = args.records.iter().cloned().map(Listed::Arg).collect();
        items.extend(args.files.iter().cloned().map(Listed::File));
        Box::new(RecordList::new(items))
    } else {
        if io::stdin().is_terminal() {
            eprintln!(
                "durable: reading records for {} from the terminal, one per line; end with Ctrl-D",
                quoted(&args.log)
            );
        }
        if args.whole {
            Box::new(Whole::new(io::stdin(), "standard input"))
        } else {
            if !args.atomic {
                opts.commit = Commit::Groups(GroupLimits::default());
            }
            let separator = if args.null { 0 } else { b'\n' };
            Box::new(Delimited::streaming(
                io::stdin(),
                separator,
                "standard input",
            ))
        }
    };
    let mut source = Counted {
        inner: source,
        progress: crate::cmd::progress::Progress::new(
            format!("appending to {}", quoted(&args.log)),
            None,
        ),
        bytes: 0,
        records: 0,
        due: 0,
    };
    // Signals are noted, and the append stops at the next group boundary (see `--help`).
    if let Err(e) = durable::defer_interrupts() {
        eprintln!("durable: warning: could not install the interrupt handler: {e}");
    }
    let mut printed: Result<(), Failure> = Ok(());
    let mut committed = Tracked::default();
    let mut on_commit = |group: &Committed<'_>| {
        committed.add(group);
        if args.print_offsets && printed.is_ok() {
            let mut text = String::with_capacity(group.offsets.len() * 12);
            for offset in group.offsets {
                text.push_str(&offset.to_string());
                text.push('\n');
            }
            printed = print_stdout(&text);
        }
    };
    let mut waiting = Waiting;
    let result = log::append_with(&args.log, &mut source, &opts, &mut waiting, &mut on_commit)
        .map_err(|e| {
            e.or_protected(
                "log append opens it for writing, to cut an append that fails back off it, which that forbids",
            )
        });
    printed?;
    let path = quoted(&args.log);
    match result {
        Ok(appended) => match appended.interrupted {
            None => Ok(Exit::Success),
            Some(signal) if appended.count == 0 => Err(Failure {
                exit: Exit::Error,
                error: anyhow!("interrupted by {signal}; nothing was appended to {path}"),
            }),
            Some(signal) => Err(Failure {
                exit: Exit::Partial,
                error: anyhow!(
                    "interrupted by {signal}: {}; {}",
                    match committed.rotated(&args.log) {
                        None => format!(
                            "{} appended to {path} and flushed{}",
                            crate::cmd::plural(appended.count, "record"),
                            seq_range(&appended)
                        ),
                        Some(rotated) => format!("appended and flushed {rotated}"),
                    },
                    match appended.unappended {
                        0 => "the rest of the input was not read".to_string(),
                        n => format!(
                            "the {} read after them, and the rest of the input, were not appended",
                            crate::cmd::plural(n, "record")
                        ),
                    }
                ),
            }),
        },
        Err(error) if committed.count > 0 => {
            let shown = crate::cmd::sentence(&error);
            let mut f = failure(error);
            let error = shown;
            f.error = match committed.rotated(&args.log) {
                None => {
                    let range = match committed.now.seqs {
                        Some((a, b)) => format!(" (sequence numbers {a} to {b})"),
                        None => String::new(),
                    };
                    anyhow!(
                        "{error}; what was committed before it is in {path}, flushed: {}{range}; nothing after them was appended",
                        crate::cmd::plural(committed.count, "record")
                    )
                }
                Some(rotated) => anyhow!(
                    "{error}; what was committed before it was flushed, {rotated}; nothing after them was appended"
                ),
            };
            // Whatever stopped it (a torn tail left by another appender, a bad record, a
            // failed write), earlier groups are in: a retry of the whole input would duplicate
            // them. Only "written, not confirmed" says more.
            if f.exit != Exit::Unconfirmed {
                f.exit = Exit::Partial;
            }
            Err(f)
        }
        Err(error) => Err(failure(error)),
    }
}

/// How many earlier logs of a streamed append (rotated away while it ran) its report names,
/// each held open: the records of older ones are counted, not placed.
const EARLIER_LOGS: usize = 8;

/// The groups of a streamed append as they were committed, by the log they went into (another
/// program may rename, remove or empty the log between two groups: a rotation).
#[derive(Default)]
struct Tracked {
    /// Records committed in all.
    count: u64,
    /// Those in the log the last group went into.
    now: Part,
    /// Those in earlier logs, and the last [`EARLIER_LOGS`] of those logs, first to last (as
    /// this process holds them open).
    earlier: u64,
    earlier_logs: Vec<(Part, std::fs::File)>,
    /// The log the last group went into, and where that group ended in it.
    file: Option<(std::fs::File, u64)>,
}

/// Records committed to one log: how many, and their sequence numbers (native).
#[derive(Default, Clone, Copy)]
struct Part {
    count: u64,
    seqs: Option<(u64, u64)>,
}

impl Part {
    fn add(&mut self, group: &Committed<'_>) {
        self.count += group.count;
        if let Some(first) = group.first_seq {
            let last = first + group.count - 1;
            self.seqs = Some((self.seqs.map_or(first, |(a, _)| a), last));
        }
    }

    /// "3 records (sequence numbers 5 to 7)", "1 record (sequence number 5)".
    fn show(&self) -> String {
        let n = crate::cmd::plural(self.count, "record");
        match self.seqs {
            Some((a, b)) if a == b => format!("{n} (sequence number {a})"),
            Some((a, b)) => format!("{n} (sequence numbers {a} to {b})"),
            None => n,
        }
    }
}

impl Tracked {
    fn add(&mut self, group: &Committed<'_>) {
        self.count += group.count;
        if group.new_log {
            self.earlier += self.now.count;
            // The file held open for the earlier log is the one the groups went into.
            let part = std::mem::take(&mut self.now);
            if let Some((file, _)) = self.file.take() {
                if self.earlier_logs.len() == EARLIER_LOGS {
                    // The oldest is counted among "earlier files", no longer named.
                    self.earlier_logs.remove(0);
                }
                self.earlier_logs.push((part, file));
            }
        }
        self.now.add(group);
        match &mut self.file {
            Some((_, end)) if !group.new_log => *end = group.start + group.bytes,
            _ => {
                self.file = group
                    .log
                    .try_clone()
                    .ok()
                    .map(|file| (file, group.start + group.bytes));
            }
        }
    }

    /// Where the records are when they are not all in the log at `path` now (it was renamed,
    /// removed or emptied by another program after they went in): "N (…) in X, …", else `None`.
    fn rotated(&mut self, path: &std::path::Path) -> Option<String> {
        // Unknown (the file could not be held): taken to be there, as before rotations counted.
        let still_there = self.file.as_ref().is_none_or(|(file, end)| {
            let (Ok(at), Ok(held)) = (std::fs::metadata(path), file.metadata()) else {
                return false;
            };
            same_file(&at, &held) && held.len() >= *end
        });
        if still_there && self.earlier == 0 {
            return None;
        }
        let log = quoted(path);
        let mut parts = Vec::new();
        let named: u64 = self.earlier_logs.iter().map(|(part, _)| part.count).sum();
        let before = self.earlier - named;
        if before > 0 {
            parts.push(format!(
                "{} in earlier files that were {log} when they went in",
                crate::cmd::plural(before, "record")
            ));
        }
        for (part, file) in &self.earlier_logs {
            parts.push(format!("{} {}", part.show(), gone_to(file, path)));
        }
        if self.now.count > 0 {
            if still_there {
                parts.push(format!("{} in {log}", self.now.show()));
            } else if let Some((file, _)) = &self.file {
                parts.push(format!("{} {}", self.now.show(), gone_to(file, path)));
            }
        }
        Some(match parts.len() {
            1 => parts.join(""),
            _ => format!(
                "{}: {}",
                crate::cmd::plural(self.count, "record"),
                parts.join(", and ")
            ),
        })
    }
}

/// Where a file that was the log at `path` when records went into it is now: renamed (and
/// where to, if known), removed, or emptied at the path (copytruncate).
fn gone_to(file: &std::fs::File, path: &std::path::Path) -> String {
    let log = quoted(path);
    let at_path = std::fs::metadata(path)
        .ok()
        .zip(file.metadata().ok())
        .is_some_and(|(at, held)| same_file(&at, &held));
    if at_path {
        return format!(
            "in {log} before another program emptied or cut it (a rotation by copytruncate? then in the copy it made)"
        );
    }
    match now_named(file) {
        Some(Err(())) => format!(
            "in the file that was {log} when they went in, which another program removed since (a rotation?)"
        ),
        Some(Ok(now)) if now != path => format!(
            "in {}, which was {log} when they went in (another program renamed it since: a rotation?)",
            quoted(&now)
        ),
        _ => format!(
            "in the file that was {log} when they went in, which another program renamed, replaced or removed since (a rotation?)"
        ),
    }
}

/// Whether two metadata describe the same file.
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        a.dev() == b.dev() && a.ino() == b.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        false
    }
}

/// The name an open file has now, where the system says (Linux: its `/proc/self/fd` link):
/// `Err` for a removed file, `None` when unknown.
fn now_named(file: &std::fs::File) -> Option<Result<std::path::PathBuf, ()>> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let link = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()?;
        if link.as_os_str().as_encoded_bytes().ends_with(b" (deleted)") {
            return Some(Err(()));
        }
        link.is_absolute().then_some(Ok(link))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = file;
        None
    }
}

/// ", sequence numbers A to B" for a native append's records.
pub(super) fn seq_range(appended: &log::Appended) -> String {
    match appended.seqs {
        Some((a, b)) if appended.interleaved => {
            format!(" (sequence numbers {a} to {b}, with other appenders' records among them)")
        }
        Some((a, b)) => format!(" (sequence numbers {a} to {b})"),
        None => String::new(),
    }
}

/// Records read for an append, counted for a progress line on a terminal: updated about once
/// per MiB, so a stream pays one comparison per record.
pub(super) struct Counted {
    pub(super) inner: Box<dyn RecordSource>,
    pub(super) progress: crate::cmd::progress::Progress,
    pub(super) bytes: u64,
    pub(super) records: u64,
    pub(super) due: u64,
}

impl RecordSource for Counted {
    fn next_record(&mut self, buf: &mut Vec<u8>) -> durable::Result<bool> {
        let more = self.inner.next_record(buf)?;
        if more {
            self.records += 1;
            self.bytes += buf.len() as u64 + 1;
            if self.bytes >= self.due {
                self.due = self.bytes + (1 << 20);
                self.progress
                    .update(self.bytes, Some(crate::cmd::plural(self.records, "record")));
            }
        } else {
            self.progress.finish();
        }
        Ok(more)
    }

    fn describe(&self, index: u64) -> String {
        self.inner.describe(index)
    }

    fn ready_within(&mut self, timeout: Duration) -> durable::Result<bool> {
        self.inner.ready_within(timeout)
    }
}

/// Says why an append waits: another process holds the log's lock (the first group only;
/// `--no-wait` fails at once instead, so it never waits then).
struct Waiting;

impl durable::Observer for Waiting {
    fn step(&mut self, _: &durable::StepRecord) {}

    fn waiting(&mut self, path: &std::path::Path) {
        eprintln!(
            "durable: waiting for another process to release its lock on {} (another append in progress); --no-wait fails instead",
            quoted(path)
        );
    }

    fn continues_format(
        &mut self,
        log: &std::path::Path,
        format: &'static str,
        sidecar: &std::path::Path,
    ) {
        eprintln!(
            "durable: {} is empty, and durable recover emptied it of a {format} log ({} keeps what it cut): appending to it as {format}; `--log-format native` starts a native log instead",
            quoted(log),
            quoted(sidecar)
        );
    }

    fn continues_checksum(
        &mut self,
        log: &std::path::Path,
        algorithm: &'static str,
        sidecar: &std::path::Path,
    ) {
        eprintln!(
            "durable: {} is empty, and durable recover emptied it of a native log with {algorithm} checksums ({} keeps what it cut): starting it again with {algorithm}; `--checksum crc32` starts it with CRC-32 instead",
            quoted(log),
            quoted(sidecar)
        );
    }
}
