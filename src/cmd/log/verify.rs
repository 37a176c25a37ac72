//! `durable log verify`: check logs (files, directories, standard input) and report each one.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use anyhow::anyhow;
use durable::Error;
use durable::log::{self, LogFormat, OpenOptions};
use durable::quote::quoted;
use durable::walk::Entry;

use super::print::verification_text;
use super::{status_exit, usage};
use crate::cli::VerifyArgs;
use crate::cmd::Failure;
use crate::cmd::json::{self, Data, ErrorLine, VerifyResult};
use crate::cmd::output::Output;
use crate::exit::Exit;

pub(super) fn verify(args: VerifyArgs) -> Result<Exit, Failure> {
    let mut worst = Exit::Success;
    let mut out = Output::stdout();
    if let Some(why) = crate::cmd::with_index_misused(&args.paths, args.read.with_index.as_deref())
    {
        if args.json {
            out.line(&json::line(&ErrorLine::status(
                None,
                why.clone(),
                Exit::Error,
            ))?)?;
            out.flush()?;
        }
        return Err(usage(why));
    }
    // How many threads the machine gives is asked only when a log is large enough to cut
    // into pieces or several files are listed: for one small log it would be several reads of
    // /proc and /sys (cgroup quotas) for nothing.
    let found = std::cell::OnceCell::new();
    let threads = || *found.get_or_init(|| crate::cmd::threads(args.read.threads));
    // Logs large enough to be cut into pieces are checked one at a time with every thread;
    // the runs of smaller ones between them, several at a time, one thread each (standard
    // input and pipes alone). Reports come out in the order of the list either way. The list is
    // taken from the walk a chunk at a time, so reports stream and memory stays bounded
    // whatever the size of the tree.
    let mut jobs = jobs(&args);
    loop {
        let chunk: Vec<Job> = jobs.by_ref().take(JOBS_AT_ONCE).collect();
        if chunk.is_empty() {
            break;
        }
        worst = worst.worst(run_chunk(&chunk, &threads, &args, &mut out)?);
    }
    out.flush()?;
    Ok(worst)
}

/// Files listed ahead of the one being reported: enough to keep every core busy on small
/// files, few enough that the first report comes at once.
const JOBS_AT_ONCE: usize = 256;

/// Check one chunk of the list, in runs of small files (several at a time) and big ones (one at
/// a time with every thread).
fn run_chunk(
    jobs: &[Job],
    threads: &dyn Fn() -> usize,
    args: &VerifyArgs,
    out: &mut Output,
) -> Result<Exit, Failure> {
    let mut worst = Exit::Success;
    let mut rest = jobs;
    while let Some(first) = rest.first() {
        let run = if first.alone() {
            1
        } else {
            rest.iter().position(Job::alone).unwrap_or(rest.len())
        };
        let (batch, after) = rest.split_at(run);
        rest = after;
        let exit = match batch {
            [job] if job.splits() => run_each(batch, threads(), args, out)?,
            [_] => run_each(batch, 1, args, out)?,
            _ => match threads().min(batch.len()) {
                1 => run_each(batch, 1, args, out)?,
                workers => run_batch(batch, workers, args, out)?,
            },
        };
        worst = worst.worst(exit);
    }
    Ok(worst)
}

/// One entry of the list `log verify` works through, in report order.
enum Job {
    /// A file to check (`explicit`: named by the user, not found in a directory); `size` as
    /// listed, to plan the threads; `stream`: standard input or a pipe, read alone (two
    /// readers of one stdin would each get part of it).
    Check {
        path: PathBuf,
        explicit: bool,
        size: u64,
        stream: bool,
    },
    /// A directory passed over, and why.
    Skipped { path: PathBuf, reason: String },
    /// A directory entry that could not be read.
    Unreadable { at: PathBuf, error: String },
}

impl Job {
    /// Checked on its own, not beside others: a stream (read alone) or a log large enough to be
    /// cut into pieces (checked with every thread).
    fn alone(&self) -> bool {
        match self {
            Job::Check { stream, .. } => *stream || self.splits(),
            Job::Skipped { .. } | Job::Unreadable { .. } => false,
        }
    }

    /// A log large enough to be cut into pieces, given the threads.
    fn splits(&self) -> bool {
        matches!(self, Job::Check { size, .. } if log::pieces(*size, usize::MAX) > 1)
    }

    /// Check it into `report`, with `threads` threads for the file.
    fn run(
        &self,
        args: &VerifyArgs,
        threads: usize,
        progress: bool,
        report: &mut Report,
    ) -> Result<Exit, Failure> {
        match self {
            Job::Check { path, explicit, .. } => {
                verify_one(path, *explicit, args, threads, progress, report)
            }
            Job::Skipped { path, reason } => {
                skipped(args, report, path, reason.clone())?;
                Ok(Exit::Success)
            }
            Job::Unreadable { at, error } => {
                report_error(args, report, at, &anyhow!("{error}"))?;
                Ok(Exit::Error)
            }
        }
    }
}

/// The files the arguments name, in the order they are reported: each path given, and the
/// files of each directory by name, as the walk finds them (a stream: a tree of any size is
/// never listed whole).
fn jobs(args: &VerifyArgs) -> impl Iterator<Item = Job> + '_ {
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    args.paths
        .iter()
        .flat_map(move |path| -> Box<dyn Iterator<Item = Job> + '_> {
            let meta = std::fs::metadata(path).ok();
            if !meta.as_ref().is_some_and(std::fs::Metadata::is_dir) {
                // An index given together with its store is verified with it, once.
                if log::reader::is_paired_index(path)
                    && args
                        .paths
                        .iter()
                        .any(|p| Some(p) == log::reader::proglog_sibling(path).as_ref())
                {
                    return Box::new(std::iter::empty());
                }
                return Box::new(std::iter::once(Job::Check {
                    path: path.clone(),
                    explicit: true,
                    size: meta.map_or(0, |m| m.len()),
                    stream: path.as_os_str() == "-" || log::stream::is_stream(path),
                }));
            }
            Box::new(
                durable::walk::walk(path, false).filter_map(move |entry| match entry {
                    // A proglog pair is reported once, under its store.
                    Ok(Entry::File(file)) if log::reader::is_paired_index(&file) => None,
                    Ok(Entry::File(file)) => Some(Job::Check {
                        size: size(&file),
                        path: file,
                        explicit: false,
                        stream: false,
                    }),
                    Ok(Entry::Skipped { path, filesystem }) => Some(Job::Skipped {
                        path,
                        reason: format!(
                            "a {filesystem} filesystem (kernel pseudo-files, not data)"
                        ),
                    }),
                    Ok(Entry::Special { path, kind }) => Some(Job::Skipped {
                        path,
                        reason: format!(
                            "{kind}, {}",
                            durable::recover::Untouched::special_why(kind)
                        ),
                    }),
                    Ok(_) => None,
                    Err(e) => Some(Job::Unreadable {
                        at: e.path().unwrap_or(path).to_path_buf(),
                        error: crate::cmd::sentence(&e),
                    }),
                }),
            )
        })
}

/// Check the jobs of `batch` one after the other, `threads` threads each, with progress.
fn run_each(
    batch: &[Job],
    threads: usize,
    args: &VerifyArgs,
    out: &mut Output,
) -> Result<Exit, Failure> {
    let mut worst = Exit::Success;
    for job in batch {
        let mut report = Report::default();
        let exit = job.run(args, threads, true, &mut report)?;
        report.print(out)?;
        worst = worst.worst(exit);
    }
    Ok(worst)
}

/// Check `batch` with `workers` threads (one per file), printing each report in list order as
/// soon as those before it are printed.
fn run_batch(
    batch: &[Job],
    workers: usize,
    args: &VerifyArgs,
    out: &mut Output,
) -> Result<Exit, Failure> {
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let (done_tx, done) = mpsc::channel::<(usize, Report, Result<Exit, Failure>)>();
        let mut started = 0;
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let next = &next;
            let spawned = std::thread::Builder::new().spawn_scoped(scope, move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = batch.get(i) else { break };
                    let mut report = Report::default();
                    let result = job.run(args, 1, false, &mut report);
                    if done_tx.send((i, report, result)).is_err() {
                        break;
                    }
                }
            });
            // Fewer threads than asked for if the system will not start more.
            started += usize::from(spawned.is_ok());
        }
        drop(done_tx);
        if started == 0 {
            return run_each(batch, 1, args, out);
        }
        let mut worst = Exit::Success;
        let mut ready: BTreeMap<usize, (Report, Result<Exit, Failure>)> = BTreeMap::new();
        let mut printed = 0;
        for (i, report, result) in done {
            ready.insert(i, (report, result));
            while let Some((report, result)) = ready.remove(&printed) {
                printed += 1;
                let failed = match result {
                    Ok(exit) => {
                        worst = worst.worst(exit);
                        None
                    }
                    Err(failure) => Some(failure),
                };
                report.print(out)?;
                if let Some(failure) = failed {
                    // The workers stop at their next file.
                    next.store(batch.len(), Ordering::Relaxed);
                    return Err(failure);
                }
            }
        }
        Ok(worst)
    })
}

/// What checking one file prints, kept until its turn: its standard output, and the messages
/// for standard error (printed after it).
#[derive(Default)]
pub(super) struct Report {
    out: String,
    err: String,
}

impl Report {
    fn line(&mut self, s: &str) -> Result<(), Failure> {
        self.out.push_str(s);
        self.out.push('\n');
        Ok(())
    }

    fn text(&mut self, s: &str) -> Result<(), Failure> {
        self.out.push_str(s);
        Ok(())
    }

    fn print(self, out: &mut Output) -> Result<(), Failure> {
        out.text(&self.out)?;
        if !self.err.is_empty() {
            // Errors go to stderr in every mode, -q included: they are not the data.
            out.flush()?;
            eprint!("{}", self.err);
        }
        Ok(())
    }
}

/// Verify one file; inside a directory (`explicit` false) a file that is not a log is skipped.
pub(super) fn verify_one(
    path: &Path,
    explicit: bool,
    args: &VerifyArgs,
    threads: usize,
    progress: bool,
    out: &mut Report,
) -> Result<Exit, Failure> {
    let show_progress = progress && !args.quiet && io::stderr().is_terminal();
    let mut shown_progress = false;
    let opts = OpenOptions {
        format: args.read.log_format.map(Into::into),
        index: args.read.with_index.clone(),
        write: false,
        index_alone: false,
        force: false,
        zeros: explicit,
    };
    let result = log::verify_with_threads(path, &opts, threads, |done: u64, total: u64| {
        if show_progress && total >= 256 << 20 && done < total {
            eprint!(
                "\rverifying {}: {}%",
                quoted(path),
                done * 100 / total.max(1)
            );
            shown_progress = true;
        }
    });
    if shown_progress {
        eprint!("\r\x1b[K");
    }
    match result {
        Ok(v)
            if args.read.with_index.is_some()
                && (v.format != LogFormat::Proglog || v.index_alone) =>
        {
            let why = anyhow!(
                "{}: --with-index names the index of a proglog store, and this is {}: it would do nothing",
                quoted(path),
                if v.index_alone {
                    "a proglog index"
                } else {
                    v.format.described()
                }
            );
            report_error(args, out, path, &why)?;
            Ok(Exit::Error)
        }
        Ok(v) => {
            if !args.quiet {
                if args.json {
                    out.line(&json::line(&VerifyResult::new(&v, status_exit(v.status)))?)?;
                } else {
                    // A log named so that detection does not find (a lines log whose first
                    // line is torn, a proglog store alone with a zeroed sector): the hint must
                    // name the format for recover to read it so.
                    // Standard input (a file redirected into it too: `./-` is not that file)
                    // and pipes are saved to a file first; whether detection finds that file's
                    // format cannot be told from here, so the format named is kept.
                    let streamed = log::stream::is_stdin(path) || log::stream::is_stream(path);
                    let named = args.read.log_format.is_some()
                        && (streamed || crate::cmd::recover::named_format_needed(path, v.format));
                    out.text(&verification_text(
                        &v,
                        streamed,
                        named.then_some(v.format.name()),
                    ))?;
                }
            }
            Ok(status_exit(v.status))
        }
        Err(Error::NotALog {
            path,
            why,
            damaged_header: false,
            format,
        }) if !explicit => {
            let what = format.map_or("a log".to_string(), |f| {
                format!("a {}", durable::format_noun(f))
            });
            skipped(args, out, &path, format!("not {what} ({why})"))?;
            Ok(Exit::Success)
        }
        Err(Error::IsSidecar {
            path,
            log,
            offset,
            bytes,
        }) if !explicit => {
            let reason = format!(
                "a sidecar kept by durable recover ({bytes} bytes of {} from offset {offset})",
                quoted(&log)
            );
            skipped(args, out, &path, reason)?;
            Ok(Exit::Success)
        }
        Err(Error::NotALog {
            path,
            why,
            damaged_header: true,
            ..
        }) => {
            // It starts like a log: a log whose header is damaged needs a human.
            if args.json {
                let size = std::fs::metadata(&path).map_or(0, |m| m.len());
                out.line(&json::line(&VerifyResult::bad_header(&path, size, why))?)?;
            } else if !args.quiet {
                out.text(&format!(
                    "{}: corrupt: bad-header at offset 0 ({why}); no record can be checked\n",
                    quoted(&path)
                ))?;
            }
            Ok(Exit::Corruption)
        }
        Err(error) => {
            report_error(args, out, path, &anyhow!(crate::cmd::sentence(&error)))?;
            Ok(Exit::Error)
        }
    }
}

pub(super) fn report_error(
    args: &VerifyArgs,
    out: &mut Report,
    path: &Path,
    error: &anyhow::Error,
) -> Result<(), Failure> {
    if args.json {
        let line = ErrorLine::status(Some(path), format!("{error:#}"), Exit::Error);
        out.line(&json::line(&line)?)?;
    }
    out.err.push_str(&format!("durable: {error:#}\n"));
    Ok(())
}

/// A file or directory a walk passed over, and why (it is not a log, a sidecar, a
/// pseudo-filesystem).
fn skipped(
    args: &VerifyArgs,
    out: &mut Report,
    path: &Path,
    reason: String,
) -> Result<(), Failure> {
    if args.json {
        out.line(&json::line(&json::VerifySkipped {
            path: Data::path(path),
            status: "skipped",
            reason,
            exit_code: Exit::Success,
        })?)?;
    } else if !args.quiet {
        out.text(&format!("{}: skipped, {reason}\n", quoted(path)))?;
    }
    Ok(())
}
