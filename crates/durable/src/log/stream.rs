//! Logs read from a stream: `-` (standard input), `/dev/stdin` on a pipe, a shell's `<(…)`. The readers need to look ahead (to tell a torn tail from damage) and back
//! (a record's payload), so what is read is kept in an unnamed temporary file in the temporary
//! directory (`$TMPDIR`, else `/tmp`), which disappears with the process: memory stays bounded
//! whatever the stream's size, and the stream itself is read once, front to back.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use super::reader::Part;
use crate::error::{Error, Result};
use crate::platform;

/// What a path given to a log command names.
pub enum Opened {
    /// A regular file (`-` too, when standard input is one): read it where it is.
    File(Part),
    /// A stream, not read yet.
    Stream(Stream),
}

/// Whether `path` means standard input (`-`).
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Whether `path` names a stream: `-` on anything but a regular file, or an anonymous pipe
/// (`/dev/stdin` on a pipe, `<(…)`).
pub fn is_stream(path: &Path) -> bool {
    if is_stdin(path) {
        return !std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map(File::from)
            .and_then(|f| f.metadata())
            .is_ok_and(|m| m.is_file());
    }
    std::fs::metadata(path).is_ok_and(|m| platform::is_anonymous_pipe(&m))
}

/// Open `path` as a log command reads it: `-` is standard input; an anonymous pipe is read as
/// a stream; anything else (a named FIFO included) is left to the caller (`Ok(None)`).
pub fn open(path: &Path) -> Result<Option<Opened>> {
    let inspect = |source| Error::Inspect {
        path: path.to_path_buf(),
        source,
    };
    if is_stdin(path) {
        let file = File::from(
            std::io::stdin()
                .as_fd()
                .try_clone_to_owned()
                .map_err(inspect)?,
        );
        let meta = file.metadata().map_err(inspect)?;
        if meta.is_file() {
            // `< file`: a file after all, read in place (from its start, whatever the shell's
            // offset: every read is positioned).
            return Ok(Some(Opened::File(Part {
                path: path.to_path_buf(),
                size: meta.len(),
                file,
            })));
        }
        if std::io::IsTerminal::is_terminal(&file) {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                why: "standard input is a terminal, not a log: pipe one in (`cat x.log | durable …`) or name the file".into(),
            });
        }
        if meta.is_dir() {
            return Err(Error::NotRegular {
                path: path.to_path_buf(),
                kind: "a directory",
            });
        }
        claim_stdin(path)?;
        return Stream::new(path, file).map(|s| Some(Opened::Stream(s)));
    }
    match std::fs::metadata(path) {
        Ok(meta) if platform::is_anonymous_pipe(&meta) => {
            let file = File::open(path).map_err(inspect)?;
            Stream::new(path, file).map(|s| Some(Opened::Stream(s)))
        }
        _ => Ok(None),
    }
}

/// Standard input can be read once: a second `-` (`--with-index -` with `-`) would find it
/// already read, and is refused.
fn claim_stdin(path: &Path) -> Result<()> {
    use std::sync::atomic::{AtomicBool, Ordering};
    static CLAIMED: AtomicBool = AtomicBool::new(false);
    if CLAIMED.swap(true, Ordering::SeqCst) {
        return Err(Error::Unsupported {
            path: path.to_path_buf(),
            why: "standard input is already read for another file of this command: `-` can stand for one file only".into(),
        });
    }
    Ok(())
}

/// A stream being read into an unnamed temporary file.
pub struct Stream {
    name: PathBuf,
    source: File,
    spool: File,
    size: u64,
    ended: bool,
    buf: Vec<u8>,
}

/// Bytes read from the stream at a time.
const CHUNK: usize = 1 << 20;
/// The most [`Stream::more`] reads at once before the reader gets to see it.
const BURST: u64 = 16 << 20;

impl Stream {
    fn new(name: &Path, source: File) -> Result<Stream> {
        let dir = std::env::temp_dir();
        let spool = platform::anonymous_file(&dir).map_err(|source| Error::Inspect {
            path: dir.clone(),
            source: io::Error::new(
                source.kind(),
                format!("could not make a temporary file to read the stream into: {source}"),
            ),
        })?;
        Ok(Stream {
            name: name.to_path_buf(),
            source,
            spool,
            size: 0,
            ended: false,
            buf: Vec::new(),
        })
    }

    /// The name it was given by (`-`, or the FIFO's path).
    pub fn name(&self) -> &Path {
        &self.name
    }

    /// Bytes read so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether the stream has ended (everything is read).
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Read once (waiting for input), appending to the spool; `Ok(false)` at the end.
    fn read_once(&mut self) -> Result<bool> {
        if self.ended {
            return Ok(false);
        }
        if self.buf.is_empty() {
            self.buf = vec![0; CHUNK];
        }
        let n = loop {
            match self.source.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(Error::Input {
                        what: crate::quote::quoted(&self.name).to_string(),
                        aftermath: crate::Aftermath::Unchanged,
                        source,
                    });
                }
            }
        };
        if n == 0 {
            self.ended = true;
            return Ok(false);
        }
        platform::write_all_at(&self.spool, &self.buf[..n], self.size).map_err(|source| {
            Error::Inspect {
                path: std::env::temp_dir(),
                source: io::Error::new(
                    source.kind(),
                    format!(
                        "could not keep what was read from {} in a temporary file: {source}",
                        crate::quote::quoted(&self.name)
                    ),
                ),
            }
        })?;
        self.size += n as u64;
        Ok(true)
    }

    /// Read what the stream has now: wait for the first bytes (or the end), then take what
    /// more is there without waiting (at most 16 MiB). `Ok(false)` if it ended with nothing
    /// more.
    pub fn more(&mut self) -> Result<bool> {
        let before = self.size;
        if !self.read_once()? {
            return Ok(false);
        }
        while self.size - before < BURST
            && platform::wait_readable(self.source.as_fd(), Some(std::time::Duration::ZERO))
                .unwrap_or(false)
        {
            if !self.read_once()? {
                break;
            }
        }
        Ok(true)
    }

    /// Read until at least `len` bytes are in (or the stream ends).
    pub fn fill(&mut self, len: u64) -> Result<()> {
        while self.size < len && self.read_once()? {}
        Ok(())
    }

    /// Read the whole stream.
    pub fn read_to_end(&mut self) -> Result<()> {
        while self.read_once()? {}
        Ok(())
    }

    /// What is read so far, as a [`Part`] named like the stream (its file is the spool; its
    /// size grows as more is read, which a reader's `refresh` sees).
    pub fn part(&self) -> Result<Part> {
        let file = self.spool.try_clone().map_err(|source| Error::Inspect {
            path: self.name.clone(),
            source,
        })?;
        Ok(Part {
            path: self.name.clone(),
            file,
            size: self.size,
        })
    }

    /// The first bytes read (up to `buf.len()`); how many.
    pub fn head(&self, buf: &mut [u8]) -> Result<usize> {
        super::reader::read_prefix(&self.spool, self.size, buf).map_err(|source| Error::Inspect {
            path: self.name.clone(),
            source,
        })
    }
}
