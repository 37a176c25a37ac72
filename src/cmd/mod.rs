//! Turning parsed arguments into library calls, and library results into output and exit codes.

mod failure;
mod generate;
mod json;
mod log;
mod output;
mod progress;
mod recover;
mod save;

use crate::cli::{Cli, Command};
use crate::exit::Exit;
pub(crate) use failure::{Op, exit_for, sentence};
pub(crate) use output::{print_stdout, stdout_written};

/// A command that failed: the error to print (by `main`, the only place that prints a fatal
/// error) and the exit status.
pub struct Failure {
    pub exit: Exit,
    pub error: anyhow::Error,
}

/// Any error, with the exit status and sentence [`failure`] gives a library error.
impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        let error = error.into();
        match error.downcast_ref::<durable::Error>() {
            Some(e) => Failure {
                exit: failure::exit_for(e, Op::Write),
                error: anyhow::anyhow!(failure::sentence(e)),
            },
            None => Failure {
                exit: Exit::Error,
                error,
            },
        }
    }
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> Result<Exit, Failure> {
    durable::init_process();
    match cli.command {
        Command::Save(args) => save::run(args),
        Command::Log(command) => log::run(command),
        Command::Recover(args) => recover::run(args),
        Command::Completions { shell } => generate::print_completion(shell),
        Command::Man { command } => generate::print_man_page(command.as_deref()),
    }
}

/// `--with-index INDEX` names the index of one proglog store: with several paths or a
/// directory it could not say whose, and would do nothing for the others. The sentence to refuse
/// it with, if so.
pub(crate) fn with_index_misused(
    paths: &[std::path::PathBuf],
    with_index: Option<&std::path::Path>,
) -> Option<String> {
    let index = with_index?;
    match paths {
        [one] if !one.is_dir() => None,
        _ => Some(format!(
            "--with-index {} names the index of one proglog store: give that store as the only PATH",
            durable::quote::quoted(index)
        )),
    }
}

/// "1 record", "2 records": counts in sentences for people.
pub(crate) fn plural(n: u64, word: &str) -> String {
    match (n, word.strip_suffix('y')) {
        (1, _) => format!("1 {word}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        _ => format!("{n} {word}s"),
    }
}

/// The threads a command may use: `--threads N`, else one per CPU core up to
/// [`DEFAULT_MAX_THREADS`].
pub(crate) fn threads(asked: Option<u16>) -> usize {
    asked.map_or_else(
        || {
            std::thread::available_parallelism()
                .map_or(1, usize::from)
                .min(DEFAULT_MAX_THREADS)
        },
        usize::from,
    )
}

/// Each thread holds its own read window (about 2 MiB of peak memory a thread), so the default
/// stops here to keep a verify within 16 MiB on a machine with many cores; reading is usually
/// bound by the disk or memory bandwidth well before that. `--threads N` goes further.
pub(crate) const DEFAULT_MAX_THREADS: usize = 4;
