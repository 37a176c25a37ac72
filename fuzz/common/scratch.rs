//! Scratch directories for the files a check works on: on tmpfs (`/dev/shm`) when there is one,
//! so a fuzz run costs no disk I/O, or under `DURABLE_FUZZ_TMP` when set (scripts/fuzz.sh sets
//! it, so that what a crashed run leaves behind is removed with the run).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A fresh directory, removed on drop.
pub struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    /// A new empty directory.
    pub fn new() -> Scratch {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let base = match std::env::var_os("DURABLE_FUZZ_TMP") {
            Some(dir) => PathBuf::from(dir),
            None if Path::new("/dev/shm").is_dir() => PathBuf::from("/dev/shm"),
            None => std::env::temp_dir(),
        };
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("durable-fuzz-{}-{n}", std::process::id()));
        // A leftover of an earlier process with the same id (it crashed): start afresh.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {dir:?}: {e}"));
        Scratch { dir }
    }

    /// A path in the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Write a file in the directory.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {path:?}: {e}"));
        path
    }

    /// Write a file in the directory with every 4 KiB page of zeros left a hole (never
    /// written), as in a preallocated file or one grown by `truncate`: readers that skip holes
    /// (`SEEK_DATA`) must read the same bytes as in a file written whole.
    pub fn write_sparse(&self, name: &str, bytes: &[u8]) -> PathBuf {
        use std::os::unix::fs::FileExt;
        const PAGE: usize = 4096;
        let path = self.path(name);
        let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("create {path:?}: {e}"));
        for (i, page) in bytes.chunks(PAGE).enumerate() {
            if page != &[0; PAGE][..page.len()] {
                file.write_all_at(page, (i * PAGE) as u64)
                    .unwrap_or_else(|e| panic!("write {path:?}: {e}"));
            }
        }
        file.set_len(bytes.len() as u64)
            .unwrap_or_else(|e| panic!("extend {path:?}: {e}"));
        path
    }

    /// The names in the directory and below it (`.durable-recovered/fuzz.log.9.durable-sidecar`),
    /// sorted.
    pub fn names(&self) -> Vec<String> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).expect("list the scratch directory") {
                let path = entry.expect("list").path();
                let name = path
                    .strip_prefix(root)
                    .expect("under the scratch directory")
                    .to_string_lossy()
                    .into_owned();
                out.push(name);
                if path.is_dir() {
                    walk(root, &path, out);
                }
            }
        }
        let mut names = Vec::new();
        walk(&self.dir, &self.dir, &mut names);
        names.sort();
        names
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
