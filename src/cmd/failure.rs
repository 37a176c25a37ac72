//! Library errors as the command line reports them: the exit status of each error, in one
//! function, and the sentence, which adds to the library's message the options and commands
//! that help (the library names none).

use durable::Aftermath;
use durable::Error;
use durable::NotApplied;
use durable::log::Algorithm;
use durable::log::{EMPTY, TORN_LINES, UNKNOWN_FORMAT};
use durable::quote::shell_word;
use durable::recover::sidecar::{EmptiedBy, SourceFormat, emptied_by_recover};

use crate::exit::Exit;

/// Which kind of command met an error: an interrupted save that recover could not finish is
/// still pending in its journal, which for `save` means "written, not confirmed" (4: the next
/// save completes it) but for `recover` means "not done" (2: nothing it was asked to finish was
/// finished).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// `save`, `log append|verify|dump`.
    Write,
    /// `recover`, `log salvage|restore`.
    Repair,
}

/// The exit status for a library error.
pub(crate) fn exit_for(error: &Error, op: Op) -> Exit {
    match error {
        // A log found damaged: appending to it was refused, or reading it stopped there.
        Error::TornTail { corrupt, .. } | Error::LogDamaged { corrupt, .. } => {
            if *corrupt {
                Exit::Corruption
            } else {
                Exit::TornTail
            }
        }
        // Only zero bytes where a log should be: a human (recover --force) decides.
        Error::ZeroFile { .. } => Exit::Corruption,
        // It starts like a log but its header is cut short or damaged: a damaged log.
        Error::NotALog {
            damaged_header: true,
            ..
        } => Exit::Corruption,
        _ => match error.aftermath() {
            Aftermath::Unconfirmed => Exit::Unconfirmed,
            Aftermath::Pending if op == Op::Write => Exit::Unconfirmed,
            Aftermath::Pending
            | Aftermath::Unchanged
            | Aftermath::Damaged
            | Aftermath::LeftBehind
            | Aftermath::EarlierPending => Exit::Error,
        },
    }
}

/// The library's message with the command-line way forward, where there is one.
pub(crate) fn sentence(error: &Error) -> String {
    match hint(error) {
        Some(hint) => format!("{error}{hint}"),
        None => error.to_string(),
    }
}

/// `--log-format F ` for a format detection would not find, to put in a command of a hint.
fn format_option(format: Option<&str>) -> String {
    format.map_or(String::new(), |f| format!("--log-format {f} "))
}

/// Where a journal is moved aside to: a name no save or recover takes for a journal.
fn aside(journal: &std::path::Path) -> std::path::PathBuf {
    let mut name = journal.as_os_str().to_os_string();
    name.push(".aside");
    std::path::PathBuf::from(name)
}

/// One way out of two journals for one file ([`NotApplied::TwoJournals`]): keeping `keep` (of
/// `target`), `drop` moved aside. `blocked`: why `durable recover TARGET` would not apply it
/// even alone; then its content is saved to `file` (what both targets resolve to) from where it
/// was moved aside instead, so that every command printed works as printed.
fn keep_journal(
    keep: &std::path::Path,
    target: &std::path::Path,
    blocked: Option<&str>,
    drop: &std::path::Path,
    file: &std::path::Path,
) -> String {
    match blocked {
        None => format!(
            "to keep {}, `mv {} {}` and then `durable recover {}`",
            shell_word(keep),
            shell_word(drop),
            shell_word(&aside(drop)),
            shell_word(target)
        ),
        Some(why) => format!(
            "to keep {}, `mv {} {}`, `mv {} {}` and then `tail -c +65 {} | durable save --strategy journal --allow-empty {}` saves its content (recover would not apply it even alone: {why})",
            shell_word(keep),
            shell_word(drop),
            shell_word(&aside(drop)),
            shell_word(keep),
            shell_word(&aside(keep)),
            shell_word(&aside(keep)),
            shell_word(file)
        ),
    }
}

/// What to add to the library's message: the option or command that gets past the error.
/// Whether the file at `path` has no write permission bit at all.
fn read_only(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o222 == 0)
}

/// The longest file name the system allows (Linux).
const NAME_MAX: usize = 255;

/// The way out of a sidecar that could not be made, by its cause: room is needed only when the
/// disk or quota is full.
fn sidecar_way_out(source: &std::io::Error, at: &std::path::Path) -> &'static str {
    use std::io::ErrorKind as K;
    match source.kind() {
        // The sidecar's own name too long (the log's name and `.OFFSET.durable-sidecar`): no
        // directory takes it.
        K::InvalidFilename if at.file_name().is_some_and(|n| n.len() > NAME_MAX) => {
            ": pass --no-backup to keep nothing, or rename or copy the log to a shorter name and recover that"
        }
        K::StorageFull | K::QuotaExceeded => {
            ": make room there, choose another directory with --backup-dir DIR, or pass --no-backup to keep nothing"
        }
        K::AlreadyExists | K::NotADirectory => {
            ": move that file out of the way, choose another directory with --backup-dir DIR, or pass --no-backup to keep nothing"
        }
        K::InvalidFilename => {
            ": choose a directory with a shorter path with --backup-dir DIR, or pass --no-backup to keep nothing"
        }
        K::PermissionDenied | K::ReadOnlyFilesystem => {
            ": choose a directory you can write with --backup-dir DIR, or pass --no-backup to keep nothing"
        }
        _ => {
            ": choose another directory with --backup-dir DIR, or pass --no-backup to keep nothing"
        }
    }
}

pub(crate) fn hint(error: &Error) -> Option<String> {
    Some(match error {
        Error::Exists { .. } => " (--no-clobber)".into(),
        Error::HardLinked { .. } => ": pass --hardlinks break to do that anyway, or --strategy in-place (or journal) to update every name".into(),
        Error::SymlinkInPlace { .. } => " (--no-follow with --strategy atomic)".into(),
        Error::StickySymlink {
            command: "save",
            last: true,
            ..
        } => "; name the file it points to, or pass --no-follow to replace the link itself".into(),
        Error::StickySymlink { last: false, .. } => {
            "; name the file by a path that does not go through that link".into()
        }
        Error::StickySymlink { link, .. }
            if link.file_name() == Some(std::ffi::OsStr::new(durable::recover::sidecar::DIR_NAME)) =>
        {
            ": pass --backup-dir DIR to keep the bytes a repair removes elsewhere".into()
        }
        Error::StickySymlink { .. } => {
            "; name the file it points to instead, if that is the one meant".into()
        }
        Error::EmptyInput { .. } => " (pass --allow-empty if that is what you want)".into(),
        Error::DirNotWritable {
            file_writable: true,
            backup: false,
            ..
        } => {
            ": --strategy in-place writes it where it is (keeping its inode, but not crash-atomic)".into()
        }
        Error::DirNotWritable {
            file_writable: true,
            backup: true,
            ..
        }
        | Error::BackupDirNotWritable {
            file_writable: true,
            ..
        } => {
            ": --strategy in-place without --backup writes it where it is (keeping its inode, but not crash-atomic)".into()
        }
        Error::TargetLocked { .. } => " and --no-wait was given".into(),
        Error::Locked { .. } => " (--no-wait)".into(),
        Error::ChecksumConflict { .. } => " (--checksum)".into(),
        Error::LinesChecksum { .. } => " (--checksum does not apply)".into(),
        Error::FormatConflict { .. } => " (--log-format)".into(),
        Error::NotALog { why, format: None, .. } if *why == UNKNOWN_FORMAT => {
            "; name one with --log-format".into()
        }
        Error::NotALog {
            path,
            why,
            format: None,
            ..
        }
        | Error::NothingToRecover { path, why } if *why == TORN_LINES => format!(
            "; nothing was changed. If it is one, `durable recover --log-format lines {}` keeps its bytes in a sidecar and empties it, and `durable log append --log-format lines {}` starts it again",
            shell_word(path),
            shell_word(path)
        ),
        // An empty file recover emptied: what it was, and what the next append does.
        Error::NotALog {
            path,
            why,
            format: None,
            ..
        } if *why == EMPTY => match emptied_by_recover(path) {
            EmptiedBy::Unknown => return None,
            EmptiedBy::Format(e) => format!(
                "; durable recover emptied it of {} log (`durable log dump {}` shows what it cut), and the next log append to it {}",
                e.format.article(),
                shell_word(&e.sidecar),
                match (e.format, e.algorithm) {
                    (SourceFormat::Native, Some(a)) if a != Algorithm::default() => format!(
                        "starts a native log with {} checksums in it again",
                        a.name()
                    ),
                    (SourceFormat::Native, _) => "starts a native log in it again".into(),
                    (SourceFormat::Lines, _) => "goes on as lines".into(),
                    _ => "is refused".into(),
                }
            ),
            EmptiedBy::Conflict(a, b) if a.format == b.format => {
                "; durable recover emptied it, and its sidecars disagree on the checksum of the native log it was: name it on the next log append to it (--checksum crc32 or sha256)".into()
            }
            EmptiedBy::Conflict(..) => {
                "; durable recover emptied it, and its sidecars disagree on the log it was: name the format on the next log append to it (--log-format lines or native)".into()
            }
        },
        Error::NotALog { path, why, .. } if *why == durable::log::reader::LOST_HEADER => {
            format!(
                ": `durable recover --force {}` writes a new header with the salt its records were checked with (keeping the old 64 bytes in a sidecar)",
                shell_word(path)
            )
        }
        Error::TornTail {
            path,
            corrupt: true,
            format,
            ..
        } => format!(
            " (`durable log verify {}{}`)",
            format_option(*format),
            shell_word(path)
        ),
        Error::TornTail { path, format, .. } => format!(
            "; run `durable recover {}{}` first",
            format_option(*format),
            shell_word(path)
        ),
        Error::ZeroFile { path, .. } => format!(
            "; `durable recover --force {}` keeps its bytes in a sidecar and empties it, and the next append starts it",
            shell_word(path)
        ),
        Error::AppendInterrupted {
            path, aftermath, ..
        } if *aftermath != Aftermath::Unchanged => {
            format!(" (`durable recover {}`)", shell_word(path))
        }
        Error::Sidecar { source, at, .. } => sidecar_way_out(source, at).into(),
        Error::CannotChange { path, source, .. }
            if source.kind() == std::io::ErrorKind::PermissionDenied && read_only(path) =>
        {
            format!(
                ": it is read-only (no write permission in its mode), and recover does not change a file's permissions: `chmod u+w {}` first if it may be repaired",
                shell_word(path)
            )
        }
        Error::NoSidecarPlace { .. } => ": pass --backup-dir DIR, or --no-backup".into(),
        Error::SidecarDirForeign { .. } | Error::SidecarDirLink { .. } => {
            ": pass --backup-dir DIR, a directory of your own, or --no-backup".into()
        }
        Error::SidecarOffFilesystem { .. } => {
            ": pass --backup-dir DIR (any directory outside the segment's directory; -x does not apply to it), or --no-backup".into()
        }
        Error::IsSidecar { path, .. } => format!(
            "; `durable log dump {}` shows them and `durable log restore {}` puts them back",
            shell_word(path),
            shell_word(path)
        ),
        Error::JournalNotApplied {
            journal,
            target,
            reason,
        }
        | Error::JournalKept {
            journal,
            target,
            reason,
        } => match reason {
            NotApplied::Symlink => format!(
                ". `durable recover {}` writes its content through the link, as `durable save` does; `rm {}` drops it",
                shell_word(target),
                shell_word(journal)
            ),
            NotApplied::ChangedSince => format!(
                ". `tail -c +65 {}` shows the content it holds; `rm {}` drops it",
                shell_word(journal),
                shell_word(journal)
            ),
            NotApplied::NotRegular { .. } => format!(
                ". Once {} is moved out of the way, `durable recover {}` completes it; `rm {}` drops it",
                shell_word(target),
                shell_word(target),
                shell_word(journal)
            ),
            NotApplied::CannotCreateAsAuthor { author } => format!(
                ". Root (or user {author}) completes it: `durable recover {}`",
                shell_word(target)
            ),
            NotApplied::NotAuthorsTarget { author, .. } => format!(
                ". `rm {}` drops it; if {} is to be user {author}'s, `chown {author} {}` first, and `durable recover {}` completes it",
                shell_word(journal),
                shell_word(target),
                shell_word(target),
                shell_word(target)
            ),
            NotApplied::Link {
                author,
                link_owner,
                applier,
            } if author != applier && author == link_owner => format!(
                ". User {author}, its author, may apply it through the link: `durable recover {}` run as that user; `rm {}` drops it",
                shell_word(target),
                shell_word(journal)
            ),
            NotApplied::Link { .. } | NotApplied::NewThroughLink => format!(
                ". `rm {}` drops it; or, once the link is removed (`rm {}`), `durable recover {}` writes a new file at its name",
                shell_word(journal),
                shell_word(target),
                shell_word(target)
            ),
            NotApplied::TwoJournals {
                other,
                other_target,
                alone,
            } => format!(
                ". Keep the one wanted and move the other aside: {}; {}",
                keep_journal(journal, target, alone.blocked.as_deref(), other, &alone.file),
                keep_journal(
                    other,
                    other_target,
                    alone.other_blocked.as_deref(),
                    journal,
                    &alone.file
                )
            ),
            NotApplied::ThroughLink { .. } => format!(
                ". `durable recover {}` settles it, naming the file itself rather than the link; `rm {}` drops it",
                shell_word(target),
                shell_word(journal)
            ),
            _ => return None,
        },
        Error::JournalUnreadable { target, author, .. } => format!(
            " (as {}: `durable recover {}`)",
            if *author == 0 {
                "root".to_string()
            } else {
                format!("user {author} or root")
            },
            shell_word(target)
        ),
        Error::Settle { source, .. } => return hint(source),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn torn(corrupt: bool) -> Error {
        Error::TornTail {
            path: PathBuf::from("-a b.log"),
            offset: 7,
            corrupt,
            format: None,
        }
    }

    #[test]
    fn each_kind_of_error_has_its_exit_status() {
        assert_eq!(exit_for(&torn(false), Op::Write), Exit::TornTail);
        assert_eq!(exit_for(&torn(true), Op::Write), Exit::Corruption);
        let damaged = |corrupt| Error::LogDamaged {
            path: PathBuf::from("x"),
            offset: 7,
            corrupt,
            records_after: 0,
        };
        assert_eq!(exit_for(&damaged(false), Op::Write), Exit::TornTail);
        assert_eq!(exit_for(&damaged(true), Op::Write), Exit::Corruption);
        let not_a_log = |damaged_header| Error::NotALog {
            path: PathBuf::from("x"),
            why: "it is empty",
            damaged_header,
            format: None,
        };
        assert_eq!(exit_for(&not_a_log(true), Op::Write), Exit::Corruption);
        assert_eq!(exit_for(&not_a_log(false), Op::Write), Exit::Error);
        let step = |aftermath| Error::Step {
            step: durable::Step::SyncDir,
            path: PathBuf::from("x"),
            aftermath,
            source: std::io::Error::from_raw_os_error(5),
        };
        assert_eq!(
            exit_for(&step(Aftermath::Unchanged), Op::Write),
            Exit::Error
        );
        assert_eq!(exit_for(&step(Aftermath::Damaged), Op::Write), Exit::Error);
        assert_eq!(
            exit_for(&step(Aftermath::LeftBehind), Op::Write),
            Exit::Error
        );
        assert_eq!(
            exit_for(&step(Aftermath::EarlierPending), Op::Write),
            Exit::Error
        );
        assert_eq!(
            exit_for(&step(Aftermath::Unconfirmed), Op::Write),
            Exit::Unconfirmed
        );
        assert_eq!(
            exit_for(&step(Aftermath::Pending), Op::Write),
            Exit::Unconfirmed
        );
        assert_eq!(exit_for(&step(Aftermath::Pending), Op::Repair), Exit::Error);
        assert_eq!(
            exit_for(&step(Aftermath::Unconfirmed), Op::Repair),
            Exit::Unconfirmed
        );
        assert_eq!(exit_for(&torn(true), Op::Repair), Exit::Corruption);
        assert_eq!(
            exit_for(
                &Error::Locked {
                    path: PathBuf::from("x")
                },
                Op::Write
            ),
            Exit::Error
        );
    }

    #[test]
    fn hints_name_commands_that_work_when_pasted() {
        // A name starting with '-' would be read as an option, and a space splits words.
        assert!(sentence(&torn(false)).ends_with("; run `durable recover './-a b.log'` first"));
        assert!(sentence(&torn(true)).ends_with(" (`durable log verify './-a b.log'`)"));
        let unknown = Error::NotALog {
            path: PathBuf::from("x"),
            why: UNKNOWN_FORMAT,
            damaged_header: false,
            format: None,
        };
        assert!(sentence(&unknown).ends_with("; name one with --log-format"));
    }
}
