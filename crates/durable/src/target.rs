//! Resolving what a save will actually write: following symlinks to the final file, and
//! describing the file that is there now; and the symlink rule every command that writes
//! through a path applies ([`refuse_sticky_links`]).

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::platform;

/// The longest symlink chain followed, as Linux's `MAXSYMLINKS`.
const MAX_SYMLINK_HOPS: u32 = 40;

/// The file a save writes, after following symlinks.
#[derive(Debug, Clone)]
pub struct Target {
    /// The path as the user gave it.
    pub given: PathBuf,
    /// The file that will be written (the symlink's final target when following links).
    pub path: PathBuf,
    /// The directory holding `path` (where the temporary file and journal go).
    pub dir: PathBuf,
    /// The file name of `path`.
    pub name: OsString,
    /// The file there now, if any.
    pub existing: Option<Existing>,
    /// `given` is a symlink that was followed.
    pub via_symlink: bool,
    /// `given` is a symlink that the save will replace (not follow).
    pub replaces_symlink: bool,
}

/// What we keep of the file that is there now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Existing {
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Permission bits (including setuid/setgid/sticky).
    pub mode: u32,
    /// Number of hard links.
    pub links: u64,
    /// Size in bytes.
    pub len: u64,
    /// The device it is on.
    pub dev: u64,
    /// Its inode number: with `dev`, which file was found (a save reads and backs up that file,
    /// and refuses one that took its name since).
    pub ino: u64,
}

/// A file attribute that forbids rewriting a file whatever its permission bits (and to root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// `chattr +a`: it can only be appended to (opened for writing with `O_APPEND`).
    AppendOnly,
    /// `chattr +i`: it cannot be changed, renamed over or removed at all.
    Immutable,
}

impl Protection {
    /// The attribute as a person knows it: "append-only (chattr +a)".
    pub fn describe(self) -> &'static str {
        match self {
            Protection::AppendOnly => "append-only (chattr +a)",
            Protection::Immutable => "immutable (chattr +i)",
        }
    }

    /// The command that lifts it (as root), without the path.
    pub fn lift(self) -> &'static str {
        match self {
            Protection::AppendOnly => "chattr -a",
            Protection::Immutable => "chattr -i",
        }
    }
}

/// The attribute of the file (or directory) at `path` that forbids rewriting it, if it has
/// one. Read-only and best effort: one `statx` where the OS answers that way (every save asks,
/// of its target and its directory), else an open (never blocking, never through a symlink)
/// and `FS_IOC_GETFLAGS`; a path that cannot be asked has none as far as this can tell.
pub fn protection(path: &Path) -> Option<Protection> {
    from_flags(platform::path_protection(path))
}

/// [`protection`] of a file already open.
pub(crate) fn file_protection(file: &std::fs::File) -> Option<Protection> {
    from_flags(platform::rewrite_protection(file))
}

/// The protection (append-only, immutable) flags say, immutable first.
fn from_flags((append_only, immutable): (bool, bool)) -> Option<Protection> {
    match (append_only, immutable) {
        (_, true) => Some(Protection::Immutable),
        (true, false) => Some(Protection::AppendOnly),
        (false, false) => None,
    }
}

/// What a symlink at the target's path stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Symlinks {
    /// The file it points to (through any chain of links): that file is the target.
    Follow,
    /// [`Symlinks::Follow`], as the commands that write follow (the command named, for the
    /// refusal): a link the kernel's `fs.protected_symlinks` rule would not follow is refused
    /// ([`refuse_sticky_links`]), whatever that setting is.
    FollowProtected(&'static str),
    /// Itself: the link is the target, to be replaced by a regular file.
    Replace,
}

/// Resolve `given` (following symlinks or not, as `symlinks` says) to the final path, and check
/// it is a regular file or absent, and that its directory exists.
pub(crate) fn resolve(given: &Path, symlinks: Symlinks) -> Result<Target> {
    let mut path = given.to_path_buf();
    let mut hops = 0;
    loop {
        match symlinks {
            // The directories on the way here; the path's own name below, from its metadata.
            Symlinks::FollowProtected(command) => refuse_sticky_dir_links(&path, command)?,
            // The link itself is replaced, but the directories on the way are still followed
            // (by the kernel, when the temporary file is made beside it).
            Symlinks::Replace => refuse_sticky_dir_links(&path, "save")?,
            Symlinks::Follow => {}
        }
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return absent(given, path, hops > 0);
            }
            Err(e) if e.raw_os_error() == Some(platform::errno::ENOTDIR) => {
                return Err(not_a_directory(&path).unwrap_or(Error::Inspect { path, source: e }));
            }
            Err(source) => return Err(Error::Inspect { path, source }),
        };
        let file_type = meta.file_type();
        if file_type.is_symlink() {
            if symlinks == Symlinks::Replace {
                let (dir, name) = split(&path)?;
                return Ok(Target {
                    given: given.to_path_buf(),
                    path,
                    dir,
                    name,
                    existing: None,
                    via_symlink: false,
                    replaces_symlink: true,
                });
            }
            if let Symlinks::FollowProtected(command) = symlinks
                && let Some(refusal) = sticky_link_refusal(&path, &meta, command, true)
            {
                return Err(refusal);
            }
            hops += 1;
            if hops > MAX_SYMLINK_HOPS {
                return Err(Error::SymlinkLoop {
                    path: given.to_path_buf(),
                });
            }
            let link = std::fs::read_link(&path).map_err(|source| Error::Inspect {
                path: path.clone(),
                source,
            })?;
            path = match path.parent() {
                Some(parent) if link.is_relative() => parent.join(link),
                _ => link,
            };
            continue;
        }
        if !file_type.is_file() {
            return Err(Error::NotRegular {
                path,
                kind: platform::kind_of(file_type),
            });
        }
        let (uid, gid, mode, links) = platform::owner_mode_links(&meta);
        let (dev, ino) = platform::dev_ino(&meta);
        let (dir, name) = split(&path)?;
        return Ok(Target {
            given: given.to_path_buf(),
            path,
            dir,
            name,
            existing: Some(Existing {
                uid,
                gid,
                mode,
                links,
                len: meta.len(),
                dev,
                ino,
            }),
            via_symlink: hops > 0,
            replaces_symlink: false,
        });
    }
}

/// The kernel's `fs.protected_symlinks` rule, applied by durable itself to every symlink a
/// path a command writes through goes through (the directories on it, which the kernel follows
/// when the path is opened, and `path` itself), whatever that setting says (it may be off, or
/// the kernel may not have it; and a save follows links itself, where the kernel never sees
/// them): a symlink in a directory that is sticky and world-writable (`/tmp`) is followed only
/// by its owner, or when the directory's owner owns it too. Otherwise whoever may create names
/// there (anyone) could point a name another user (root) is about to write at any file. The one
/// check for every command that writes (`save`, `log append`, `log salvage`, `recover`, `log
/// restore`, and the sidecar directory recover writes in); `command` names the command in the
/// refusal ([`Error::StickySymlink`]).
pub(crate) fn refuse_sticky_links(path: &Path, command: &'static str) -> Result<()> {
    sticky_links_from(path, 0, command)
}

/// [`refuse_sticky_links`] for the directories on `path` only, not its last name: for a path
/// whose own link is replaced, never followed (`save --no-follow`).
pub(crate) fn refuse_sticky_dir_links(path: &Path, command: &'static str) -> Result<()> {
    sticky_links_from(path, 1, command)
}

/// [`refuse_sticky_links`] for the ancestors of `path` after the first `skip`.
fn sticky_links_from(path: &Path, skip: usize, command: &'static str) -> Result<()> {
    let refusal = path
        .ancestors()
        .skip(skip)
        // The root is no link, and needs no look.
        .filter(|p| !p.as_os_str().is_empty() && p.parent().is_some())
        .find_map(|p| {
            let meta = std::fs::symlink_metadata(p).ok()?;
            if !meta.file_type().is_symlink() {
                return None;
            }
            sticky_link_refusal(p, &meta, command, p == path)
        });
    refusal.map_or(Ok(()), Err)
}

/// [`refuse_sticky_links`] for one symlink, `link` (its metadata `meta`). `None`: it may be
/// followed.
fn sticky_link_refusal(
    link: &Path,
    meta: &std::fs::Metadata,
    command: &'static str,
    last: bool,
) -> Option<Error> {
    let dir = match link.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let dir_meta = std::fs::metadata(dir).ok()?;
    let (dir_owner, _, dir_mode, _) = platform::owner_mode_links(&dir_meta);
    if dir_mode & 0o1002 != 0o1002 {
        return None;
    }
    let owner = platform::owner_mode_links(meta).0;
    if owner == platform::effective_uid() || owner == dir_owner {
        return None;
    }
    Some(Error::StickySymlink {
        command,
        file: None,
        link: link.to_path_buf(),
        last,
        owner,
        dir: dir.to_path_buf(),
        dir_owner,
    })
}

/// The target of a journal as it is named beside the journal, whatever is there (a symlink, a
/// directory, nothing): not followed and not checked, so that [`crate::journal::decide`] alone
/// says what may be done with it. `existing` is not filled in.
pub(crate) fn named(given: &Path) -> Result<Target> {
    let (dir, name) = split(given)?;
    Ok(Target {
        given: given.to_path_buf(),
        path: given.to_path_buf(),
        dir,
        name,
        existing: None,
        via_symlink: false,
        replaces_symlink: false,
    })
}

fn absent(given: &Path, path: PathBuf, via_symlink: bool) -> Result<Target> {
    let (dir, name) = split(&path)?;
    match std::fs::metadata(&dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(meta) => {
            return Err(Error::ParentNotADirectory {
                path: dir,
                kind: platform::kind_of(meta.file_type()),
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::MissingParent { path: dir });
        }
        Err(e) if e.raw_os_error() == Some(platform::errno::ENOTDIR) => {
            return Err(not_a_directory(&dir).unwrap_or(Error::Inspect {
                path: dir,
                source: e,
            }));
        }
        Err(source) => return Err(Error::Inspect { path: dir, source }),
    }
    Ok(Target {
        given: given.to_path_buf(),
        path,
        dir,
        name,
        existing: None,
        via_symlink,
        replaces_symlink: false,
    })
}

/// For a path the OS answered `ENOTDIR` for: the first of its directories that is something
/// else (a regular file, …), as [`Error::ParentNotADirectory`].
fn not_a_directory(path: &Path) -> Option<Error> {
    let mut ancestors: Vec<&Path> = path.ancestors().skip(1).collect();
    ancestors.reverse();
    ancestors
        .into_iter()
        .filter(|a| !a.as_os_str().is_empty())
        .find_map(|dir| match std::fs::metadata(dir) {
            Ok(meta) if !meta.is_dir() => Some(Error::ParentNotADirectory {
                path: dir.to_path_buf(),
                kind: platform::kind_of(meta.file_type()),
            }),
            _ => None,
        })
}

/// Split a path into its directory (`.` when it has none) and file name.
fn split(path: &Path) -> Result<(PathBuf, OsString)> {
    let name = path.file_name().ok_or_else(|| Error::NotRegular {
        path: path.to_path_buf(),
        kind: "a directory",
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name.to_os_string()))
}
