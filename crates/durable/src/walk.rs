//! Walking a directory tree, for the commands that take one (`log verify DIR`, `recover DIR`):
//! one walk, so they agree on what they look at.
//!
//! Entries come as a stream in name order, so memory stays bounded by the largest directory
//! whatever the size of the tree. Regular files are handed out as [`Entry::File`]; symlinks
//! (never followed), FIFOs, sockets and devices (never opened) as [`Entry::Special`], so a
//! report can list them. Directories on kernel pseudo-filesystems (`/proc`, `/sys`, …) are not
//! walked into; they are handed out as [`Entry::Skipped`] so a report can say so. A file that
//! disappears while the tree is walked (another program's temporary file) is passed over
//! silently. A directory or file whose path is longer than the system allows (`PATH_MAX`) is
//! one [`Error::PathTooLong`], and the walk goes on with the rest of the tree.

use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::platform;

/// What a walk finds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Entry {
    /// A regular file.
    File(PathBuf),
    /// A symlink (not followed), a FIFO, a socket or a device (not opened).
    Special {
        /// The entry.
        path: PathBuf,
        /// What it is: "a symlink", "a FIFO", "a socket", "a block device", "a character
        /// device".
        kind: &'static str,
    },
    /// A directory on a kernel pseudo-filesystem, not walked into.
    Skipped {
        /// The directory.
        path: PathBuf,
        /// The filesystem's name: "proc", "sysfs", …
        filesystem: &'static str,
    },
}

/// The regular files under a directory: see [the module](self). An entry that cannot be read
/// (a directory it may not search) is an [`Error::NotChecked`], and the walk goes on.
pub struct Walk {
    root: PathBuf,
    entries: walkdir::IntoIter,
}

/// Walk `root`; with `one_file_system`, stay on its filesystem (like `find -xdev`).
pub fn walk(root: &Path, one_file_system: bool) -> Walk {
    Walk {
        root: root.to_path_buf(),
        entries: walkdir::WalkDir::new(root)
            .follow_links(false)
            .same_file_system(one_file_system)
            .sort_by_file_name()
            .into_iter(),
    }
}

impl Iterator for Walk {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        loop {
            let entry = match self.entries.next()? {
                Ok(entry) => entry,
                Err(e)
                    if e.io_error()
                        .is_some_and(|e| e.kind() == io::ErrorKind::NotFound) =>
                {
                    continue;
                }
                Err(e) => {
                    let path = e.path().unwrap_or(&self.root).to_path_buf();
                    let source = e
                        .into_io_error()
                        .unwrap_or_else(|| io::Error::other("a symlink loop"));
                    if source.raw_os_error() == Some(platform::errno::ENAMETOOLONG) {
                        return Some(Err(too_long(path, true)));
                    }
                    return Some(Err(Error::NotChecked { path, source }));
                }
            };
            if platform::too_long(entry.path()) {
                // Nothing can be done with it by its path: a directory could not be read (the
                // error above, for its entries), a file opened.
                let dir = entry.file_type().is_dir();
                if dir {
                    self.entries.skip_current_dir();
                }
                return Some(Err(too_long(entry.into_path(), dir)));
            }
            let file_type = entry.file_type();
            if file_type.is_dir() {
                // An error here (a directory we may not search) shows up when it is read.
                if let Ok(Some(filesystem)) = platform::pseudo_filesystem(entry.path()) {
                    self.entries.skip_current_dir();
                    return Some(Ok(Entry::Skipped {
                        path: entry.into_path(),
                        filesystem,
                    }));
                }
                continue;
            }
            if file_type.is_file() {
                return Some(Ok(Entry::File(entry.into_path())));
            }
            // The root is followed when it is a symlink (it was named), not listed as one.
            if entry.depth() == 0 && file_type.is_symlink() {
                continue;
            }
            return Some(Ok(Entry::Special {
                kind: platform::kind_of(file_type),
                path: entry.into_path(),
            }));
        }
    }
}

/// The error for a path too long to use.
fn too_long(path: PathBuf, dir: bool) -> Error {
    Error::PathTooLong {
        len: path.as_os_str().len(),
        path,
        dir,
    }
}
