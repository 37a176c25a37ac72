//! `durable log …`: one file per command (append, verify, dump; salvage and restore share
//! recover's code), the errors they share, and `print`, which formats what they report.

mod append;
mod dump;
mod print;
mod verify;

use std::io::{self};
use std::path::Path;

use anyhow::anyhow;
use durable::log::Status;
use durable::{Aftermath, Error};

use crate::cli::LogCommand;
use crate::cmd::Failure;
use crate::exit::Exit;

pub(super) fn run(command: LogCommand) -> Result<Exit, Failure> {
    match command {
        LogCommand::Append(args) => append::append(args),
        LogCommand::Verify(args) => verify::verify(args),
        LogCommand::Dump(args) => dump::dump(args),
        LogCommand::Salvage(args) => super::recover::salvage(args),
        LogCommand::Restore(args) => super::recover::restore(args),
    }
}

/// The exit status and sentence for a library error from a log command.
pub(super) fn failure(error: Error) -> Failure {
    let suffix = match (&error, error.aftermath()) {
        (
            Error::Step { .. }
            | Error::Input { .. }
            | Error::RecordTooLarge { .. }
            | Error::Protected { .. },
            Aftermath::Unchanged,
        ) => "; nothing was appended",
        (_, Aftermath::Unconfirmed) => "; the records may not survive a power loss",
        _ => "",
    };
    Failure {
        exit: crate::cmd::exit_for(&error, crate::cmd::Op::Write),
        error: anyhow!("{}{suffix}", crate::cmd::sentence(&error)),
    }
}

pub(super) fn status_exit(status: Status) -> Exit {
    match status {
        Status::Clean => Exit::Success,
        Status::TornTail => Exit::TornTail,
        Status::Corrupt => Exit::Corruption,
    }
}

/// A usage error: exit 2, nothing read or printed.
pub(super) fn usage(text: String) -> Failure {
    Failure {
        exit: Exit::Error,
        error: anyhow!(text),
    }
}

pub(super) fn read_failure(path: &Path, e: io::Error) -> Failure {
    failure(Error::Inspect {
        path: path.to_path_buf(),
        source: e,
    })
}
