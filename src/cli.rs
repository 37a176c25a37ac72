//! Command-line definitions (clap derive) and nothing else.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::exit::EXIT_STATUS;

/// Save files so no crash can leave them empty or half-written.
#[derive(Debug, Parser)]
#[command(
    name = "durable",
    version,
    about = "Save files so no crash can leave them empty or half-written",
    long_about = "Save files so that no crash, kill or power loss can leave them empty or \
half-written: the file holds its complete old content or its complete new content, and once \
durable exits 0 the new content is on stable storage.",
    after_help = EXIT_STATUS,
    propagate_version = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replace a file's content durably (from stdin, a file, or a command's output).
    #[command(
        long_about = "Replace TARGET's content durably. The new content comes from standard input, \
from --from FILE, or from the standard output of a command given after `--`; a command that \
exits non-zero leaves TARGET untouched.

After durable save exits 0, TARGET holds the complete new content and (at --sync full or data) \
it is on stable storage. A crash at any moment before that leaves TARGET with its complete old \
content or its complete new content (atomic and journal strategies). Before the rename (or, for \
journal, before the journal is flushed) nothing visible has changed.",
        after_help = "Examples:
  generate-config | durable save /etc/app.conf
  durable save /etc/app.conf --from new.conf --backup
  durable save report.json -- ./make-report --format json    # saved only if it exits 0
  durable save --strategy journal /var/lib/app/state < state.new
  durable save --explain /etc/app.conf                       # print the syscall plan only
  durable save -v --json out.txt < in.txt

Exit status: 0 saved (or unchanged with --if-changed); 2 error, TARGET unchanged;
4 written, but the final flush failed, so it may not survive a power loss.
See `durable --help` for the contract shared by all commands."
    )]
    Save(SaveArgs),
    /// Print a shell completion script to stdout.
    #[command(after_help = "Examples:
  durable completions bash > ~/.local/share/bash-completion/completions/durable
  durable completions zsh > ~/.zfunc/_durable
  durable completions fish > ~/.config/fish/completions/durable.fish")]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print a man page (roff) to stdout: durable(1), or one command's page.
    #[command(after_help = "Examples:
  durable man | man -l -
  durable man save > /usr/local/share/man/man1/durable-save.1")]
    Man {
        /// The command whose page to print (default: the overview page).
        #[arg(value_parser = ["save", "completions", "man"])]
        command: Option<String>,
    },
}

/// Shells completions can be generated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// Bash.
    Bash,
    /// Zsh.
    Zsh,
    /// Fish.
    Fish,
    /// Elvish.
    Elvish,
    /// PowerShell.
    Powershell,
}

/// `durable save`.
#[derive(Debug, clap::Args)]
pub struct SaveArgs {
    /// The file to write.
    pub target: PathBuf,

    /// Read the new content from FILE instead of standard input.
    #[arg(long, value_name = "FILE", conflicts_with = "producer")]
    pub from: Option<PathBuf>,

    /// How to replace the content: atomic (temp file + rename; new inode), in-place (keeps the
    /// inode; NOT crash-atomic), journal (in place, via a flushed journal; crash-safe).
    #[arg(long, value_enum, default_value_t = StrategyArg::Atomic)]
    pub strategy: StrategyArg,

    /// How hard to flush: full (fsync; F_FULLFSYNC on macOS), data (fdatasync), none (no
    /// flushing: atomic for readers, not durable across power loss).
    #[arg(long, value_enum, default_value_t = SyncArg::Full)]
    pub sync: SyncArg,

    /// Permission bits for TARGET, in octal (default: keep the existing file's, or 0666 & ~umask
    /// for a new file).
    #[arg(long, value_name = "OCTAL", value_parser = parse_mode)]
    pub mode: Option<u32>,

    /// If TARGET is a symlink, replace the link itself with a regular file (default: write
    /// through to the file it points to, keeping the link).
    #[arg(long)]
    pub no_follow: bool,

    /// What to do when TARGET has several hard links (atomic strategy): refuse, or break (only
    /// this name gets the new content). --strategy in-place or journal updates every name.
    #[arg(long, value_enum, default_value_t = HardLinksArg::Refuse, value_name = "WHAT")]
    pub hardlinks: HardLinksArg,

    /// Fail if TARGET already exists (race-free: renameat2 RENAME_NOREPLACE, or O_EXCL).
    #[arg(long)]
    pub no_clobber: bool,

    /// Keep the previous version as TARGET.bak (replacing an older one).
    #[arg(long)]
    pub backup: bool,

    /// Leave TARGET alone, mtime included, when the new content equals the current content.
    #[arg(long)]
    pub if_changed: bool,

    /// Re-read what was written and compare it (length and CRC-32) before reporting success.
    #[arg(long)]
    pub verify: bool,

    /// Print the system calls the save would make, and change nothing.
    #[arg(long)]
    pub explain: bool,

    /// Print each durability step with its duration on stderr.
    #[arg(short, long)]
    pub verbose: bool,

    /// Print the result as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,

    /// A command whose standard output is the new content; TARGET is written only if it exits 0.
    #[arg(last = true, value_name = "CMD")]
    pub producer: Vec<OsString>,
}

/// `--strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    /// Temp file in the same directory, fsync, close, rename, fsync the directory.
    Atomic,
    /// Overwrite the existing file (keeps the inode); not crash-atomic.
    InPlace,
    /// In place after writing and flushing a journal; crash-safe.
    Journal,
}

/// `--sync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SyncArg {
    /// fsync (F_FULLFSYNC on macOS) the file and the directory.
    Full,
    /// fdatasync the file; fsync the directory.
    Data,
    /// No flushing.
    None,
}

/// `--hardlinks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HardLinksArg {
    /// Refuse to save, naming the choices.
    Refuse,
    /// Replace only this name.
    Break,
}

fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o7777 => Ok(mode),
        _ => Err(format!(
            "`{text}` is not an octal mode between 0 and 7777 (for example 644 or 0600)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn modes_parse_as_octal() {
        assert_eq!(parse_mode("644"), Ok(0o644));
        assert_eq!(parse_mode("0600"), Ok(0o600));
        assert_eq!(parse_mode("0o755"), Ok(0o755));
        assert!(parse_mode("888").is_err());
        assert!(parse_mode("17777").is_err());
        assert!(parse_mode("").is_err());
    }
}
