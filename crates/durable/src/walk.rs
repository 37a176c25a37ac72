//! Walking a directory tree, for the commands that take one (`log verify DIR`, `recover DIR`):
//! one walk, so they agree on what they look at.
//!
//! Entries come as a stream in name order, so memory stays bounded by the largest directory
//! whatever the size of the tree. Symlinks are not followed and only regular files are handed
//! out (FIFOs, sockets and devices are never opened). Directories on kernel pseudo-filesystems
//! (`/proc`, `/sys`, …) are not walked into; they are handed out as [`Entry::Skipped`] so a
//! report can say so. A file that disappears while the tree is walked (another program's
//! temporary file) is passed over silently.

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
                    return Some(Err(Error::NotChecked { path, source }));
                }
            };
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
        }
    }
}
