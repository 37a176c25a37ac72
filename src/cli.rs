//! Command-line definitions (clap derive), and [`parse`], which reads the command line with
//! them.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::exit::EXIT_STATUS;

/// The command line, parsed. A `durable save` command line of the plain form scripts write
/// (see [`quick_save`]) is read directly into [`SaveArgs`]; every other command line, and every
/// command line that asks for help or has a mistake in it, goes to clap, which the definitions
/// below describe and which prints help and every usage error.
///
/// Why: a small save is mostly process start-up, and building clap's command tree and matching
/// against it was the largest part of durable's own share of it: about 30 page faults and
/// 0.2 ms per save (docs/PERFORMANCE.md, "Saving files").
pub fn parse() -> Result<Cli, clap::Error> {
    let args: Vec<OsString> = std::env::args_os().collect();
    if let Some(save) = args.get(1..).and_then(quick_save) {
        return Ok(Cli {
            command: Command::Save(save),
        });
    }
    Cli::try_parse_from(args)
}

/// `save`'s arguments read without clap, or `None` to leave them to clap. Accepted: `save`, one
/// TARGET that does not start with `-`, each of save's options at most once (`--opt VALUE` or
/// `--opt=VALUE`, with a value clap would accept that does not start with `-`), options in any
/// order, and a non-empty command after `--`. Anything else (help, `--version`, an unknown or
/// repeated option, conflicting options, `-` or an empty string as a value, a value that is not
/// UTF-8 where text is expected) returns `None`, so clap decides it, with its own messages. The
/// tests check, over generated command lines, that whatever this accepts clap parses to the same
/// [`SaveArgs`], and that it accepts every plain combination of save's options.
fn quick_save(args: &[OsString]) -> Option<SaveArgs> {
    let (first, rest) = args.split_first()?;
    if first != "save" {
        return None;
    }
    let mut target: Option<PathBuf> = None;
    let mut from: Option<PathBuf> = None;
    let mut strategy: Option<StrategyArg> = None;
    let mut sync: Option<SyncArg> = None;
    let mut mode: Option<u32> = None;
    let mut hardlinks: Option<HardLinksArg> = None;
    let mut flags: Vec<&str> = Vec::new();
    let mut producer: Vec<OsString> = Vec::new();
    let mut rest = rest.iter();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            producer = rest.cloned().collect();
            if producer.is_empty() {
                return None;
            }
            break;
        }
        if !arg.as_encoded_bytes().starts_with(b"-") {
            if arg.is_empty() || target.is_some() {
                return None;
            }
            target = Some(PathBuf::from(arg));
            continue;
        }
        // Option names are ASCII; a name that is not UTF-8 is unknown, so clap's to report.
        let text = arg.to_str()?;
        let (name, inline) = match text.split_once('=') {
            Some((name, value)) => (name, Some(OsStr::new(value))),
            None => (text, None),
        };
        let name = if name == "-v" { "--verbose" } else { name };
        if flags.contains(&name) {
            return None;
        }
        flags.push(name);
        match name {
            "--from" | "--strategy" | "--sync" | "--mode" | "--hardlinks" => {
                let value = match inline {
                    Some(value) => value,
                    None => rest.next()?,
                };
                if value.is_empty() || value.as_encoded_bytes().starts_with(b"-") {
                    return None;
                }
                match name {
                    "--from" => from = Some(PathBuf::from(value)),
                    "--strategy" => {
                        strategy = Some(StrategyArg::from_str(value.to_str()?, false).ok()?)
                    }
                    "--sync" => sync = Some(SyncArg::from_str(value.to_str()?, false).ok()?),
                    "--mode" => mode = Some(parse_mode(value.to_str()?).ok()?),
                    _ => hardlinks = Some(HardLinksArg::from_str(value.to_str()?, false).ok()?),
                }
            }
            "--no-follow" | "--no-clobber" | "--backup" | "--if-changed" | "--allow-empty"
            | "--verify" | "--no-wait" | "--explain" | "--verbose" | "--json"
                if inline.is_none() => {}
            _ => return None,
        }
    }
    let flag = |name: &str| flags.contains(&name);
    if (from.is_some() && !producer.is_empty())
        || (flag("--no-clobber") && (flag("--backup") || flag("--if-changed")))
    {
        return None;
    }
    // Every field is named (no `..`), so a new option cannot be added to SaveArgs without
    // deciding here how it is read.
    Some(SaveArgs {
        target: target?,
        from,
        strategy: strategy.unwrap_or(StrategyArg::Atomic),
        sync: sync.unwrap_or(SyncArg::Full),
        mode,
        no_follow: flag("--no-follow"),
        hardlinks,
        no_clobber: flag("--no-clobber"),
        backup: flag("--backup"),
        if_changed: flag("--if-changed"),
        allow_empty: flag("--allow-empty"),
        verify: flag("--verify"),
        no_wait: flag("--no-wait"),
        explain: flag("--explain"),
        verbose: flag("--verbose"),
        json: flag("--json"),
        producer,
    })
}

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
///
/// `defer`: a subcommand's options are built only when it is the one run, which keeps clap out
/// of a short command's start-up (docs/PERFORMANCE.md). The option structs below therefore have
/// plain comments, not doc comments: clap would apply a struct's doc comment after the
/// subcommand's own help text and replace it.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
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
  durable save --strategy in-place --no-wait /etc/app.conf < new.conf   # fail if another save runs
  printf '' | durable save --allow-empty list.txt            # empty input is refused without it

Saves in place (--strategy in-place, journal) of one file take turns: a save waits for
another in progress (and says so) unless --no-wait. Empty input never replaces a non-empty
TARGET without --allow-empty.

Exit status: 0 saved (or unchanged with --if-changed); 2 error, TARGET unchanged;
4 written, but the final flush failed, so it may not survive a power loss.
See `durable --help` for the contract shared by all commands."
    )]
    Save(SaveArgs),
    /// Append, verify and dump checksummed record logs.
    #[command(subcommand)]
    Log(LogCommand),
    /// Repair logs (cut torn tails), finish interrupted journaled saves, remove stale temp files.
    #[command(
        long_about = "Bring each PATH back to a clean state, changing nothing else. Files are \
inspected read-only; only a file about to be repaired is opened for writing, so recover works on \
a read-only filesystem and on files it may not write when there is nothing to repair, and is \
safe to run at every boot on any directory.

A log with a torn tail is cut at the end of its valid prefix. The bytes removed are first kept, \
flushed, in a sidecar (unless --no-backup): by default in .durable-recovered/ beside the log, \
named LOG.OFFSET.durable-sidecar (for a proglog segment, whose program reads its directory \
whole, in .durable-recovered/SEGDIR/ beside the segment's directory); --backup-dir DIR puts them \
in DIR instead. `durable log dump SIDECAR` shows the records a sidecar holds and `durable log \
restore SIDECAR` puts its bytes back. A log with corruption before its tail (valid records after \
the damage) is left alone, because cutting it would lose those records: exit 3, with where the \
damage is; --force cuts it anyway (the sidecar keeps everything removed), and `durable log \
salvage` copies every valid record into a new log instead. A native log whose header is lost \
(zeroed or damaged) but whose records give its salt back is corruption too; --force writes a new \
header with that salt (the old 64 bytes kept in the sidecar); damage after the header is left \
for the next run, and the exit status says so (1: a torn tail, which `durable recover LOG` cuts; \
3: other damage). A save target with a journal of \
ours (it starts with durable's journal header) is completed or rolled back. A log another \
process holds locked is never touched. Running recover again changes nothing.

--dry-run makes the same plan and checks what the change needs without making it (write access \
to the log, the sidecar's directory and name), so it fails where the run would, with the same \
message, and names the sidecar the run makes. A log this user may not write is not made \
writable (recover never changes a file's permissions): the aof package's Finish leaves its files \
read-only (0444), so `chmod u+w FILE` one first if it may be repaired.

A directory is walked as a stream (each result printed as it is found, in bounded memory), \
without following symlinks, skipping kernel pseudo-filesystems (/proc, /sys, …), and, with \
-x, other filesystems. Only what is provably ours is removed or rewritten: logs it repairs, \
journals of ours, and temporary files in our exact name pattern that no process has open. \
Everything else is left untouched and listed, with the reason for a file that looks like ours \
but is not (a journal name without our header, a temporary file held open, a sidecar) and for \
what is not a regular file (a symlink, not followed; a FIFO, a socket or a device, never \
opened). A journal is applied with its author's authority and only over a regular file or a \
missing one; one that cannot be (its target is a symlink or a directory, another user's file, \
a new file only root may create as its author's) is kept, and the message says how to settle \
it; --dry-run decides the same. A directory whose path is longer than PATH_MAX is reported \
and not walked into. A symlink named on the command line is followed: the log is repaired \
through its link, and its sidecar goes beside the file it points to; a journal beside the link \
is applied through it, as `durable save` writes through links.

Logs of other programs are recovered too (format detected, or --log-format): a lines log's torn \
tail is cut; a proglog store's torn tail is cut and its index (<base>.index, or --with-index) is \
rebuilt from the store (zero padding trimmed, missing or wrong entries rewritten; the whole old \
index is kept); an aof file's junk after its checkpoint magic is zero-filled, keeping the file's \
size. Each keeps the bytes it changes in a sidecar first. What the program itself still reads is \
never cut without --force: a proglog store whose index proves records after a damaged length, an \
aof file with no magic (a write cut short), and a file named as lines in which no line checks out \
are left alone.",
        after_help = "Examples:
  durable recover events.log
  durable recover data/00000000000000000000.store  # proglog: cut the store, rebuild the index
  durable recover --log-format aof state.aof
  durable recover --dry-run /var/lib/app/         # print the plan, change nothing
  durable recover -x --json / | jq 'select(.outcome != \"untouched\")'
  durable recover --backup-dir /var/backups/app /var/lib/app/
  durable recover --force events.log              # cut at corruption too
  durable log dump .durable-recovered/events.log.4096.durable-sidecar
  durable log restore .durable-recovered/events.log.4096.durable-sidecar

Exit status: 0 clean or recovered (files left alone included); 1 (with --dry-run)
a torn tail would be cut; 3 corruption before the tail, left alone; 2 error (a
missing path, a FIFO, a file that is none of the above, a log in use, a file that
could not be read or repaired: the message names the cause and says it was not
changed). The most severe wins."
    )]
    Recover(RecoverArgs),
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
        #[arg(value_parser = ["save", "log", "recover", "completions", "man"])]
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

// `durable save`.
#[derive(Debug, PartialEq, clap::Args)]
pub struct SaveArgs {
    /// The file to write.
    pub target: PathBuf,

    /// Read the new content from FILE instead of standard input (`-`: standard input).
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

    /// What to do when TARGET has several hard links (atomic strategy only): refuse (the
    /// default), or break (only this name gets the new content). --strategy in-place or journal
    /// updates every name.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub hardlinks: Option<HardLinksArg>,

    /// Fail if TARGET already exists (race-free: renameat2 RENAME_NOREPLACE, or O_EXCL).
    #[arg(long, conflicts_with_all = ["backup", "if_changed"])]
    pub no_clobber: bool,

    /// Keep the previous version as TARGET.bak (replacing an older one), made just before the
    /// first write to TARGET (in place without --if-changed: before the first chunk, identical or
    /// not), never when the save is refused first or --if-changed finds nothing to change.
    #[arg(long)]
    pub backup: bool,

    /// Leave TARGET alone, mtime included, when the new content equals the current content (a
    /// --mode that differs from TARGET's bits counts as a change).
    #[arg(long)]
    pub if_changed: bool,

    /// Let empty input replace a non-empty TARGET (refused by default: exit 2, TARGET unchanged).
    #[arg(long)]
    pub allow_empty: bool,

    /// Re-read what was written and compare it (length and CRC-32) before reporting success.
    #[arg(long)]
    pub verify: bool,

    /// Fail at once (exit 2) if another save of TARGET is in progress, instead of waiting for it.
    #[arg(long)]
    pub no_wait: bool,

    /// Print the system calls the save would make, and change nothing.
    #[arg(long)]
    pub explain: bool,

    /// Print each durability step with its duration on stderr.
    #[arg(short, long)]
    pub verbose: bool,

    /// Print the result as one JSON object on stdout (docs/JSON.md).
    #[arg(long)]
    pub json: bool,

    /// A command whose standard output is the new content; TARGET is written only if it exits 0.
    #[arg(last = true, value_name = "CMD")]
    pub producer: Vec<OsString>,
}

/// `durable log …`.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum LogCommand {
    /// Append records to a log durably: all at once, or a stream as it arrives.
    #[command(
        long_about = "Append records to LOG, creating it if needed. Records come from the \
arguments, from --file (one record per file), or from standard input: one per line, NUL-separated \
with -0, or the whole input as one record with --whole.

Records go into the log in appends: each append is written, then flushed once, under the log's \
exclusive lock (so two appenders never interleave inside one), and it is all or nothing: if \
anything fails before its flush returns, the log is cut back to where the append started. \
Arguments, --file and --whole are one append. Lines (or -0 records) from standard input are \
committed as they arrive, in groups: a group closes after 4 MiB, once its first record has waited \
50 ms, or when the input pauses for 10 ms, and the lock is released between groups. So \
`daemon | durable log append events.log` makes each record durable and visible within about \
50 ms plus one flush, and never locks other appenders out for longer than one group. The next \
group is read and encoded while one is written and flushed (on a second thread), so a fast stream \
is held up by writing and flushing, not by encoding. --atomic makes all of standard input one \
append instead (the lock is then held while it is read, and the next append's tail check reads \
that whole append back).

The tail is checked first, through the last append's trailers (the cost of one group, whatever \
the log's size): appending after an append that never completed would make the new records \
unreachable, so it is refused with exit 1 (run `durable recover LOG`), or 3 when the damage is not \
a torn write.

SIGINT, SIGTERM and SIGHUP stop the append at the next group boundary: a group being written or \
flushed completes, records read but not yet written are not appended, and the message names \
exactly which sequence numbers are in (exit 2 when none are, 5 when some are). A second signal \
does not cut a flush short; SIGKILL loses at most the records not yet reported (the group being \
written and the one being read).

--log-format lines writes a greppable text log instead: one line per record, the record, a \
space, its SHA-256 as 64 lowercase hex digits (a record holding a newline is refused). An \
existing lines log is appended to as such without the flag; if its last line is valid but has no \
newline, the append writes one first. A file given with --log-format lines in which no line \
checks out (a text file) is not a lines log: refused, unchanged. An empty file that `durable \
recover` emptied of a lines log (its only line torn by a crash) goes on as lines, as the sidecar \
recover kept beside it records (said on stderr); --log-format native starts a native log instead. \
Likewise a native log whose start was torn (recover emptied it) is started again with the \
checksum algorithm its torn header names (SHA-256 said on stderr), unless --checksum names one.

Records given as arguments or with --file leave standard input unread, so -0, --whole and \
--atomic (which say how to read standard input) are refused with them.",
        after_help = "Examples:
  durable log append events.log 'user 42 logged in' 'user 42 logged out'
  journalctl -f -o cat | durable log append sys.log       # committed as lines arrive
  find . -print0 | durable log append -0 files.log
  durable log append --atomic batch.log < batch.txt       # all lines or none
  durable log dump --format raw a.log | durable log append b.log   # copy every record
  durable log append --whole blobs.log < photo.jpg
  durable log append --print-offsets --verify events.log < batch.txt
  durable log append --log-format lines audit.txt 'deploy 42 by alice'   # greppable text log

Exit status: 0 appended; 1 the log has a torn tail (run `durable recover LOG`);
2 error or interrupted, nothing appended; 3 the log has damage that is not a torn write;
4 appended, but the flush failed and the records could not be removed again;
5 stopped partway (interrupted, or an error after some groups were committed): the
message says which records are in."
    )]
    Append(AppendArgs),
    /// Check every record of logs (files or whole directories).
    #[command(
        long_about = "Check the header and every record of each log, and report: records, bytes, \
the end of the valid prefix, and each defect with its offset and kind (truncated, bad-header, \
bad-length, checksum-mismatch, sequence, zero-fill). A defect with nothing valid after it is a \
torn tail (safe to recover: exit 1); a defect with valid records after it is corruption before \
the tail (exit 3), and the report names the next valid record as evidence. A torn tail found \
while another process appends to the log (it holds the log's lock, or the log grows while it is \
read) is reported as that append, still being written: verify again once it is done (still exit \
1; `durable recover` refuses a log in use). Directories are walked (without following symlinks, \
skipping kernel pseudo-filesystems such as /proc and /sys); \
files in them that are not logs are listed as skipped.

Logs written by other programs are read too, detected from their content (and, for proglog, the \
.store/.index names), or named with --log-format: `lines` (ENTRY SHA256HEX per line; no-checksum \
and checksum-mismatch defects; a valid last line without its newline is noted), `proglog` (a store \
and its index checked against each other: index-mismatch, index-missing, index-beyond-store, \
zero-fill padding, and bad-length where the index proves records after a damaged length; a store \
has no checksums, so only its lengths can be checked), `aof` (the Go package's tail and checkpoint \
magics, read as its own recovery reads them: outcome empty, tail, checkpoint or corrupted, with \
its Tail). The report names the format.",
        after_help = "Examples:
  durable log verify events.log
  durable log verify --json /var/lib/app/logs/ | jq 'select(.status != \"clean\")'
  durable log verify -q events.log || durable recover events.log
  curl -s https://host/events.log | durable log verify -      # standard input
  durable log verify --threads 1 big.log                     # one thread, leave the other cores

Exit status: 0 all clean; 1 a torn tail; 3 corruption before the tail; 2 an error
(a file given explicitly that is not a log, an unreadable file). The most severe wins."
    )]
    Verify(VerifyArgs),
    /// Print a log's records as text, hex, JSON lines or raw payloads.
    #[command(
        long_about = "Print the records of LOG. Damaged records are shown as damage with their \
offset, in file order; --resync goes on with the valid records after corruption. Damage at the \
end of a log that another process is appending to (it holds the log's lock, or the log grew while \
it was read) is most likely that append, still being written, and a note on standard error says \
so. --last N reads only the end of the log: the appends its records belong to, which must be \
whole. --follow keeps printing records as they are appended, waiting for a \
record that is being written to be complete; like tail -F, it says so and goes on when the log \
is cut below what it showed (by durable recover) or replaced by a new file (rotation).

LOG `-` is standard input (a native log is printed as it arrives; --follow is refused: a \
stream is printed until it ends).

--format text prints one line per record: offset, #N (its sequence number), length, checksum and \
the payload (printable UTF-8 as is; control characters and bytes that are not UTF-8 escaped). \
--format raw ends every payload with a newline (NUL with -0), so `wc -l`, `while read` and \
`log append` see every record; --format blob prints the payload of exactly one selected record, \
byte for byte. --format json prints one object per record (docs/JSON.md).

Other programs' logs are dumped the same way (see `durable log verify --help` for detection): \
lines entries, proglog store records with their index entries (a .index file named alone shows its \
entries), an aof file's data up to its tail or checkpoint magic as one segment (hex by default).",
        after_help = "Examples:
  durable log dump events.log
  durable log dump --format json data/0.store      # proglog records and index entries
  durable log dump state.aof                       # aof data up to its logical end, in hex
  durable log dump --last 10 events.log
  durable log dump --format json events.log | jq -r .payload.text
  durable log dump --format raw events.log | wc -l                       # count records
  durable log dump --format raw a.log | durable log append b.log         # copy a log
  durable log dump --format raw -0 a.log | durable log append -0 b.log   # payloads with newlines
  durable log dump --format blob --index 3 blobs.log > photo.jpg         # one payload, exactly
  durable log dump --follow events.log                      # like tail -F
  ssh host cat events.log | durable log dump --last 5 -     # standard input

Exit status: 0 no damage seen; 1 a torn tail; 3 corruption before the tail; 2 error."
    )]
    Dump(DumpArgs),
    /// Copy every valid record of a damaged log, in order, into a new log.
    #[command(
        long_about = "Write every valid record of SRC, in order, skipping damaged regions, into a \
new log DST (which must not exist), created atomically: temporary file, flushed, renamed, \
directory flushed. Reports each region skipped. SRC is not changed.

The new log is in SRC's format where durable writes it: a native log gets a new salt and \
sequence numbers without gaps; a lines log stays a lines log (each entry on its line with its \
SHA-256), so it can replace SRC. A proglog store's or an aof file's records go into a native \
log, which the program that wrote SRC cannot read (durable does not write those formats): \
`durable log dump DST` reads it, and the report says so. --json's dst_format names the format \
written.",
        after_help = "Examples:
  durable log salvage events.log events.salvaged.log && mv events.salvaged.log events.log
                                             # native or lines: DST is in SRC's format
  durable log salvage data/0.store salvaged.log    # proglog (or aof): DST is a native log
  durable log dump --format raw salvaged.log       # its records, one per line"
    )]
    Salvage(SalvageArgs),
    /// Put the bytes a sidecar of `durable recover` keeps back into their log.
    #[command(
        long_about = "Put the bytes that `durable recover` removed from a log, and kept in \
SIDECAR, back where they were: appended at the offset where the log was cut, written back over \
the zeros of an aof file, the whole old index of a proglog index, or the old 64 bytes of a native \
log whose lost header recover replaced. The sidecar names \
its log (by absolute path) and says where the bytes were. They are put back only if the log is \
still as recover left it (cut at that offset; zero-filled there; of the size recover left it \
when it rebuilt an index or rewrote a lost header) and, for a native log cut after its \
header, starts with the same file header; otherwise nothing is changed and the sentence says \
what differs. The sidecar's own checksum is checked first. The log is locked as an appender \
would, and the bytes are flushed before the command exits 0. The sidecar is left in place; \
restoring it again is a no-op. `durable log dump SIDECAR` shows the bytes and says whether this \
command would put them back now (and if not, why).",
        after_help = "Examples:
  durable log dump .durable-recovered/events.log.4096.durable-sidecar   # look first
  durable log restore --dry-run .durable-recovered/events.log.4096.durable-sidecar
  durable log restore .durable-recovered/events.log.4096.durable-sidecar

Exit status: 0 put back (or already there); 2 error: not a sidecar, a damaged sidecar, a log
that changed since, one in use, or a failed write or flush (undone); the log was not changed."
    )]
    Restore(RestoreArgs),
}

// `durable recover`.
#[derive(Debug, clap::Args)]
pub struct RecoverArgs {
    /// Logs, save targets, journals, temporary files, or directories of them.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Print what would be done; change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Cut a log at corruption before its tail too (the sidecar keeps what is removed).
    #[arg(long)]
    pub force: bool,

    /// Do not keep the removed bytes in a sidecar.
    #[arg(long)]
    pub no_backup: bool,

    /// Keep sidecars in DIR (an existing directory) instead of .durable-recovered/ beside each
    /// log (beside a proglog segment's directory).
    #[arg(long, value_name = "DIR", conflicts_with = "no_backup")]
    pub backup_dir: Option<PathBuf>,

    /// When walking a directory, do not cross into other filesystems (like `find -xdev`).
    #[arg(short = 'x', long)]
    pub one_file_system: bool,

    /// One JSON object per file handled, one per line (docs/JSON.md).
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub read: ReadArgs,
}

// How `log verify` and `recover` read the logs they check.
#[derive(Debug, clap::Args)]
pub struct ReadArgs {
    /// Read the files as this format instead of detecting it.
    #[arg(long, value_enum, value_name = "NAME")]
    pub log_format: Option<LogFormatArg>,

    /// The proglog index that goes with the store given (default: `<base>.index` beside it).
    #[arg(long = "with-index", value_name = "INDEX")]
    pub with_index: Option<PathBuf>,

    /// Check each log with at most N threads (default: one per CPU core, at most 4, so memory
    /// stays under 16 MiB). A native log of 64 MiB or more is cut into pieces checked at the
    /// same time, and several logs are checked at the same time; the report is the same, in
    /// the same order. `--threads 1`: one file at a time, each from start to end.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
}

// `durable log restore`.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// Sidecars kept by `durable recover`.
    #[arg(required = true, value_name = "SIDECAR")]
    pub sidecars: Vec<PathBuf>,

    /// Print what would be put back; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

// `durable log salvage`.
#[derive(Debug, clap::Args)]
pub struct SalvageArgs {
    /// The damaged log.
    pub src: PathBuf,

    /// The new log (must not exist).
    pub dst: PathBuf,

    /// Read SRC as this format instead of detecting it.
    #[arg(long, value_enum, value_name = "NAME")]
    pub log_format: Option<LogFormatArg>,

    /// Print the result as one JSON object (docs/JSON.md).
    #[arg(long)]
    pub json: bool,
}

// `durable log append`.
#[derive(Debug, clap::Args)]
pub struct AppendArgs {
    /// The log (created if it does not exist; an empty file is started as a new log, in the
    /// format recover emptied it of, if its sidecar says).
    pub log: PathBuf,

    /// Records to append (default: read standard input).
    #[arg(value_name = "RECORD")]
    pub records: Vec<OsString>,

    /// Standard input holds NUL-terminated records instead of lines.
    #[arg(short = '0', long = "null", conflicts_with_all = ["whole", "records", "files"])]
    pub null: bool,

    /// Standard input is one record, whole.
    #[arg(long, conflicts_with_all = ["records", "files"])]
    pub whole: bool,

    /// Make all of standard input one append (all or nothing), instead of committing it in
    /// groups as it arrives.
    #[arg(long, conflicts_with_all = ["records", "files", "whole"])]
    pub atomic: bool,

    /// Append the content of FILE as one record (repeatable; `-`: all of standard input, once).
    #[arg(long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Checksum for a new log (an existing log keeps its own, a different explicit choice is an
    /// error; one recover emptied keeps the one its sidecar records, unless this names one).
    #[arg(long, value_enum, value_name = "ALGORITHM")]
    pub checksum: Option<ChecksumArg>,

    /// How hard to flush: full (fsync), data (fdatasync), none.
    #[arg(long, value_enum, default_value_t = SyncArg::Full)]
    pub sync: SyncArg,

    /// Fail at once if another appender holds the log's lock, instead of waiting (a wait is
    /// announced on stderr).
    #[arg(long)]
    pub no_wait: bool,

    /// Re-read and check the appended records after flushing them.
    #[arg(long)]
    pub verify: bool,

    /// Print each appended record's offset, one per line, as soon as its group is flushed.
    #[arg(long)]
    pub print_offsets: bool,

    /// The log's format: `native` or `lines` (`ENTRY SHA256HEX` per line). An existing log
    /// keeps its own, and so does one recover emptied; a new log is native unless this says
    /// lines.
    #[arg(long, value_enum, value_name = "NAME")]
    pub log_format: Option<LogFormatArg>,
}

// `durable log verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Logs, or directories to search for logs (`-`: standard input).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// One JSON object per file, one per line (docs/JSON.md).
    #[arg(long)]
    pub json: bool,

    /// Print nothing; the exit status says it all.
    #[arg(short, long, conflicts_with = "json")]
    pub quiet: bool,

    #[command(flatten)]
    pub read: ReadArgs,
}

// `durable log dump`.
#[derive(Debug, clap::Args)]
pub struct DumpArgs {
    /// The log (`-`: standard input).
    pub log: PathBuf,

    /// Output: text (offset, sequence number, length, checksum, escaped payload), hex (a
    /// hexdump per record), json (one object per record, docs/JSON.md), raw (each payload
    /// followed by a newline, or NUL with -0), blob (the payload of exactly one record, byte for
    /// byte). Default: text; hex for aof files.
    #[arg(long, value_enum)]
    pub format: Option<DumpFormat>,

    /// With --format raw: end each payload with NUL instead of a newline.
    #[arg(short = '0', long = "null")]
    pub null: bool,

    /// Only the first N records.
    #[arg(long, value_name = "N")]
    pub first: Option<u64>,

    /// Only the last N records (reads only the end of the log).
    #[arg(long, value_name = "N", conflicts_with = "first")]
    pub last: Option<u64>,

    /// Only records at or after this byte offset (at or past the end of the file: refused,
    /// unless --follow waits for records appended there).
    #[arg(long, value_name = "OFFSET")]
    pub start: Option<u64>,

    /// Only records before this byte offset (selecting none of the log's records: refused).
    #[arg(long, value_name = "OFFSET")]
    pub end: Option<u64>,

    /// Only records with these indexes: N, N.., ..M or N..M (0-based, M excluded; selecting
    /// none of the log's records: refused, unless --follow waits for records appended).
    #[arg(long, value_name = "RANGE", value_parser = parse_range)]
    pub index: Option<IndexRange>,

    /// Keep printing records as they are appended (like tail -f).
    #[arg(long, conflicts_with_all = ["last", "first"])]
    pub follow: bool,

    /// Go on after corruption with the next valid record.
    #[arg(long)]
    pub resync: bool,

    /// Print the bytes read and read calls made, as JSON on stderr, at the end.
    #[arg(long)]
    pub stats: bool,

    /// Read the file as this format instead of detecting it.
    #[arg(long, value_enum, value_name = "NAME")]
    pub log_format: Option<LogFormatArg>,

    /// The proglog index that goes with the store given (default: `<base>.index` beside it).
    #[arg(long = "with-index", value_name = "INDEX")]
    pub with_index: Option<PathBuf>,
}

/// `log dump --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DumpFormat {
    /// Offset, length, checksum, payload with non-printable bytes escaped.
    Text,
    /// A hexdump of each record's payload.
    Hex,
    /// One JSON object per record.
    Json,
    /// Payloads only, each followed by a newline (or a NUL with -0).
    Raw,
    /// The payload of exactly one selected record, byte for byte, nothing added.
    Blob,
}

/// `--checksum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChecksumArg {
    /// CRC-32 (fast; the default).
    Crc32,
    /// SHA-256.
    Sha256,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    /// durable's own checksummed format (docs/FORMAT.md).
    Native,
    /// One entry per line, then a space and its SHA-256 in hex.
    Lines,
    /// proglog's store (8-byte length + data) and index (12-byte entries).
    Proglog,
    /// Files of the Go aof package (tail and checkpoint magics).
    Aof,
}

impl From<LogFormatArg> for durable::log::LogFormat {
    fn from(f: LogFormatArg) -> Self {
        match f {
            LogFormatArg::Native => durable::log::LogFormat::Native,
            LogFormatArg::Lines => durable::log::LogFormat::Lines,
            LogFormatArg::Proglog => durable::log::LogFormat::Proglog,
            LogFormatArg::Aof => durable::log::LogFormat::Aof,
        }
    }
}

/// A record index range for `--index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexRange {
    /// First index included.
    pub from: u64,
    /// First index excluded (`None`: to the end).
    pub to: Option<u64>,
    /// How it was written, to quote it in messages as typed: `N` (`Some(true)`), `N..M` or
    /// `N..` (`Some(false)`), `..M` (`None`).
    pub single: Option<bool>,
}

impl std::fmt::Display for IndexRange {
    /// The range as it was typed (`5`, `3..`, `..0`, `2..7`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.single == Some(true) {
            return write!(f, "{}", self.from);
        }
        if self.single.is_some() {
            write!(f, "{}", self.from)?;
        }
        f.write_str("..")?;
        match self.to {
            Some(to) => write!(f, "{to}"),
            None => Ok(()),
        }
    }
}

fn parse_range(text: &str) -> Result<IndexRange, String> {
    let bad = || format!("`{text}` is not an index range: use N, N.., ..M or N..M");
    let num = |s: &str| s.parse::<u64>().map_err(|_| bad());
    match text.split_once("..") {
        None => {
            let n = num(text)?;
            Ok(IndexRange {
                from: n,
                to: n.checked_add(1),
                single: Some(true),
            })
        }
        Some((a, b)) => {
            let from = if a.is_empty() { 0 } else { num(a)? };
            let to = if b.is_empty() { None } else { Some(num(b)?) };
            if to.is_some_and(|t| t < from) {
                return Err(bad());
            }
            Ok(IndexRange {
                from,
                to,
                single: (!a.is_empty()).then_some(false),
            })
        }
    }
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
    fn index_ranges_parse() {
        let parsed = |text: &str| parse_range(text).map(|r| (r.from, r.to, r.to_string()));
        assert_eq!(parsed("5"), Ok((5, Some(6), "5".to_string())));
        assert_eq!(parsed("2..7"), Ok((2, Some(7), "2..7".to_string())));
        assert_eq!(parsed("3.."), Ok((3, None, "3..".to_string())));
        assert_eq!(parsed("..4"), Ok((0, Some(4), "..4".to_string())));
        assert_eq!(parsed("..0"), Ok((0, Some(0), "..0".to_string())));
        // The largest index: no overflow (a debug build panicked), to the end.
        assert_eq!(
            parsed(&u64::MAX.to_string()),
            Ok((u64::MAX, None, u64::MAX.to_string()))
        );
        assert!(parse_range("7..2").is_err());
        assert!(parse_range("x").is_err());
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

    fn os(parts: &[&str]) -> Vec<OsString> {
        parts.iter().map(OsString::from).collect()
    }

    /// What clap makes of `durable ARGS`: the save arguments, or None (an error, help, or
    /// another command).
    fn clap_save(args: &[OsString]) -> Option<SaveArgs> {
        let argv = std::iter::once(OsString::from("durable")).chain(args.iter().cloned());
        match Cli::try_parse_from(argv) {
            Ok(Cli {
                command: Command::Save(save),
            }) => Some(save),
            _ => None,
        }
    }

    #[test]
    fn quick_save_reads_the_command_lines_scripts_write_as_clap_does() {
        for line in [
            &["save", "T"][..],
            &["save", "--sync", "none", "T"],
            &["save", "T", "--sync=data", "--strategy", "in-place", "-v"],
            &["save", "/etc/app.conf", "--from", "new.conf", "--backup"],
            &[
                "save",
                "report.json",
                "--",
                "./make-report",
                "--format",
                "json",
                "--",
            ],
            &[
                "save",
                "--strategy=journal",
                "--no-clobber",
                "--mode",
                "0o600",
                "s",
            ],
            &[
                "save",
                "--hardlinks",
                "break",
                "--json",
                "--if-changed",
                "--allow-empty",
                "--verify",
                "--no-wait",
                "--no-follow",
                "--explain",
                "--verbose",
                "--mode=644",
                "out",
            ],
        ] {
            let args = os(line);
            let quick = quick_save(&args);
            assert!(quick.is_some(), "{line:?} was left to clap");
            assert_eq!(quick, clap_save(&args), "{line:?}");
        }
    }

    #[test]
    fn quick_save_leaves_help_mistakes_and_unusual_forms_to_clap() {
        for line in [
            &["save"][..],
            &["save", "--help"],
            &["save", "-h", "T"],
            &["save", "T", "--version"],
            &["save", "T", "U"],
            &["save", "--sync", "T"],
            &["save", "--sync", "fast", "T"],
            &["save", "--sync", "NONE", "T"],
            &["save", "--mode", "888", "T"],
            &["save", "--json", "--json", "T"],
            &["save", "-v", "--verbose", "T"],
            &["save", "-vv", "T"],
            &["save", "--json=true", "T"],
            &["save", "--jsn", "T"],
            &["save", "--no-clobber", "--backup", "T"],
            &["save", "--if-changed", "--no-clobber", "T"],
            &["save", "--from", "a", "T", "--", "cmd"],
            &["save", "-"],
            &["save", ""],
            &["save", "--from", "-", "T"],
            &["save", "--from=", "T"],
            &["save", "T", "--"],
            &["save", "--", "cmd"],
            &["log", "verify", "x"],
            &["--version"],
            &[],
        ] {
            assert_eq!(quick_save(&os(line)), None, "{line:?}");
        }
        // A non-UTF-8 TARGET is read like any other; a non-UTF-8 option name goes to clap.
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStringExt;
            let name = OsString::from_vec(b"caf\xe9".to_vec());
            let args = vec![OsString::from("save"), name.clone()];
            assert_eq!(quick_save(&args), clap_save(&args));
            assert!(quick_save(&args).is_some());
            let mut option = b"--".to_vec();
            option.extend_from_slice(name.as_encoded_bytes());
            let args = vec!["save".into(), OsString::from_vec(option), "T".into()];
            assert_eq!(quick_save(&args), None);
        }
    }

    /// save's options with a value, and values that are valid for one, another, or none.
    const VALUED: [&str; 5] = ["--from", "--strategy", "--sync", "--mode", "--hardlinks"];
    const FLAGS: [&str; 11] = [
        "--no-follow",
        "--no-clobber",
        "--backup",
        "--if-changed",
        "--allow-empty",
        "--verify",
        "--no-wait",
        "--explain",
        "--verbose",
        "-v",
        "--json",
    ];

    #[test]
    fn every_option_of_save_is_read_by_quick_save() {
        let mut top = Cli::command();
        top.build();
        let save = top.find_subcommand("save").expect("save is a command");
        let mut names: Vec<String> = save
            .get_arguments()
            .filter_map(|arg| arg.get_long())
            .filter(|long| !matches!(*long, "help" | "version"))
            .map(|long| format!("--{long}"))
            .collect();
        names.sort();
        let mut known: Vec<String> = VALUED
            .iter()
            .chain(FLAGS.iter().filter(|f| f.starts_with("--")))
            .map(|s| s.to_string())
            .collect();
        known.sort();
        assert_eq!(
            names, known,
            "save's options and the ones quick_save reads differ"
        );
    }

    mod generated {
        use super::*;
        use proptest::prelude::*;

        fn valid_value(option: &str) -> Vec<&'static str> {
            match option {
                "--from" => vec!["new.conf", "dir/in put", "+x", "k=v"],
                "--strategy" => vec!["atomic", "in-place", "journal"],
                "--sync" => vec!["full", "data", "none"],
                "--mode" => vec!["644", "0o600", "7777", "+644", "0"],
                _ => vec!["refuse", "break"],
            }
        }

        /// One piece of a command line: anything, valid or not.
        fn piece() -> impl Strategy<Value = Vec<OsString>> {
            let values = vec![
                "atomic", "in-place", "IN-PLACE", "journal", "full", "data", "none", "refuse",
                "break", "644", "0o600", "10000", "+644", "-1", "-", "", "new.conf", "x", "--json",
                "a=b",
            ];
            prop_oneof![
                prop::sample::select(
                    FLAGS
                        .iter()
                        .copied()
                        .chain([
                            "-vv",
                            "--json=1",
                            "--jsn",
                            "-h",
                            "--help",
                            "--version",
                            "--",
                            "-x"
                        ])
                        .collect::<Vec<_>>()
                )
                .prop_map(|flag| vec![OsString::from(flag)]),
                (
                    prop::sample::select(VALUED.to_vec()),
                    prop::sample::select(values),
                    any::<bool>()
                )
                    .prop_map(|(option, value, inline)| if inline {
                        vec![OsString::from(format!("{option}={value}"))]
                    } else {
                        vec![OsString::from(option), OsString::from(value)]
                    }),
                prop::sample::select(vec!["T", "dir/file", "save", "-", "", "-T", "a b", "x=y"])
                    .prop_map(|target| vec![OsString::from(target)]),
                Just(vec![non_utf8()]),
            ]
        }

        fn non_utf8() -> OsString {
            #[cfg(unix)]
            {
                use std::os::unix::ffi::OsStringExt;
                OsString::from_vec(b"caf\xe9".to_vec())
            }
            #[cfg(not(unix))]
            OsString::from("café")
        }

        /// A plain save command line: a target, some of save's options each once with a
        /// valid value, in any order, and maybe a command after `--`.
        fn plain() -> impl Strategy<Value = Vec<OsString>> {
            let flags = prop::sample::subsequence(
                FLAGS
                    .iter()
                    .copied()
                    .filter(|f| *f != "-v")
                    .collect::<Vec<_>>(),
                0..=10,
            );
            let valued =
                prop::sample::subsequence(VALUED.to_vec(), 0..=5).prop_flat_map(|options| {
                    options
                        .into_iter()
                        .map(|option| {
                            (prop::sample::select(valid_value(option)), any::<bool>()).prop_map(
                                move |(value, inline)| {
                                    if inline {
                                        vec![OsString::from(format!("{option}={value}"))]
                                    } else {
                                        vec![OsString::from(option), OsString::from(value)]
                                    }
                                },
                            )
                        })
                        .collect::<Vec<_>>()
                });
            let target = prop::sample::select(vec!["T", "dir/file", "save", "a b"])
                .prop_map(|t| vec![OsString::from(t)]);
            (flags, valued, target, any::<bool>(), any::<bool>())
                .prop_flat_map(|(flags, valued, target, short_verbose, command)| {
                    let mut pieces: Vec<Vec<OsString>> = flags
                        .into_iter()
                        .map(|f| {
                            let f = if f == "--verbose" && short_verbose {
                                "-v"
                            } else {
                                f
                            };
                            vec![OsString::from(f)]
                        })
                        .collect();
                    pieces.extend(valued);
                    pieces.push(target);
                    (Just(pieces).prop_shuffle(), Just(command))
                })
                .prop_map(|(pieces, command)| {
                    let mut args = vec![OsString::from("save")];
                    args.extend(pieces.into_iter().flatten());
                    if command {
                        args.extend(os(&["--", "./make", "-o", "--", "x"]));
                    }
                    args
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            /// Whatever quick_save reads, clap reads the same way.
            #[test]
            fn quick_save_agrees_with_clap(
                pieces in prop::collection::vec(piece(), 0..7),
                command in prop::option::of(prop::collection::vec(
                    prop::sample::select(vec!["cmd", "-n", "--", "--json"]), 0..3)),
                first in prop::sample::select(vec!["save", "save", "save", "log", "--json"]),
            ) {
                let mut args = vec![OsString::from(first)];
                args.extend(pieces.into_iter().flatten());
                if let Some(words) = command {
                    args.push("--".into());
                    args.extend(words.into_iter().map(OsString::from));
                }
                if let Some(quick) = quick_save(&args) {
                    prop_assert_eq!(Some(quick), clap_save(&args), "{:?}", args);
                }
            }

            /// Every plain save command line is read without clap, as clap reads it (a
            /// command with --from, and --no-clobber with --backup or --if-changed, are
            /// mistakes clap reports).
            #[test]
            fn quick_save_reads_every_plain_command_line(args in plain()) {
                let has = |name: &str| args.iter().any(|a| a.to_str().is_some_and(|a| a == name || a.starts_with(&format!("{name}="))));
                let conflict = (has("--from") && has("--"))
                    || (has("--no-clobber") && (has("--backup") || has("--if-changed")));
                let quick = quick_save(&args);
                if conflict {
                    prop_assert_eq!(quick, None, "{:?}", args);
                    prop_assert_eq!(clap_save(&args), None, "{:?}", args);
                } else {
                    prop_assert!(quick.is_some(), "{:?} was left to clap", args);
                    prop_assert_eq!(quick, clap_save(&args), "{:?}", args);
                }
            }
        }
    }
}
