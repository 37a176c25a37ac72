//! `durable log verify`: check logs (files, directories, standard input) and report each one.

use std::io::{self, IsTerminal};
use std::path::Path;

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
    if let Some(why) = crate::cmd::with_index_misused(&args.paths, args.with_index.as_deref()) {
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
    for path in &args.paths {
        let is_dir = std::fs::metadata(path).is_ok_and(|m| m.is_dir());
        if !is_dir {
            // An index given together with its store is verified with it, once.
            if log::reader::is_paired_index(path)
                && args
                    .paths
                    .iter()
                    .any(|p| Some(p) == log::reader::proglog_sibling(path).as_ref())
            {
                continue;
            }
            worst = worst.worst(verify_one(path, true, &args, &mut out)?);
            continue;
        }
        for entry in durable::walk::walk(path, false) {
            match entry {
                Ok(Entry::File(file)) => {
                    // A proglog pair is reported once, under its store.
                    if log::reader::is_paired_index(&file) {
                        continue;
                    }
                    worst = worst.worst(verify_one(&file, false, &args, &mut out)?);
                }
                Ok(Entry::Skipped { path, filesystem }) => {
                    let reason =
                        format!("a {filesystem} filesystem (kernel pseudo-files, not data)");
                    skipped(&args, &mut out, &path, reason)?;
                }
                Ok(_) => {}
                Err(e) => {
                    let at = e.path().unwrap_or(path).to_path_buf();
                    report_error(&args, &mut out, &at, &anyhow!(crate::cmd::sentence(&e)))?;
                    worst = worst.worst(Exit::Error);
                }
            }
        }
    }
    out.flush()?;
    Ok(worst)
}

/// Verify one file; inside a directory (`explicit` false) a file that is not a log is skipped.
pub(super) fn verify_one(
    path: &Path,
    explicit: bool,
    args: &VerifyArgs,
    out: &mut Output,
) -> Result<Exit, Failure> {
    let show_progress = !args.quiet && io::stderr().is_terminal();
    let mut shown_progress = false;
    let opts = OpenOptions {
        format: args.log_format.map(Into::into),
        index: args.with_index.clone(),
        write: false,
        index_alone: false,
        force: false,
    };
    let result = log::verify(path, &opts, |done: u64, total: u64| {
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
        Ok(v) if args.with_index.is_some() && (v.format != LogFormat::Proglog || v.index_alone) => {
            let why = anyhow!(
                "{}: --with-index names the index of a proglog store, and this is {}: it would do nothing",
                quoted(path),
                if v.index_alone {
                    "a proglog index".to_string()
                } else {
                    format!("a {} log", v.format.name())
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
                    out.text(&verification_text(&v, log::stream::is_stream(path)))?;
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
            let what = format.map_or("a log".to_string(), |f| format!("a {f} log"));
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
    out: &mut Output,
    path: &Path,
    error: &anyhow::Error,
) -> Result<(), Failure> {
    if args.json {
        let line = ErrorLine::status(Some(path), format!("{error:#}"), Exit::Error);
        out.line(&json::line(&line)?)?;
    }
    // Errors go to stderr in every mode, -q included: they are not the data.
    out.flush()?;
    eprintln!("durable: {error:#}");
    Ok(())
}

/// A file or directory a walk passed over, and why (it is not a log, a sidecar, a
/// pseudo-filesystem).
fn skipped(
    args: &VerifyArgs,
    out: &mut Output,
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
