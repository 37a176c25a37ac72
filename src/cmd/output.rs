//! Standard output for the commands: buffered, and quiet when the reader goes away (`| head`).

use std::io::{self, Write};

use super::Failure;

/// Buffered stdout that turns a closed pipe into a quiet stop.
pub(crate) struct Output {
    inner: io::BufWriter<io::Stdout>,
    closed: bool,
}

impl Output {
    pub(crate) fn stdout() -> Output {
        Output {
            inner: io::BufWriter::with_capacity(256 << 10, io::stdout()),
            closed: false,
        }
    }

    /// Write bytes; `Ok(false)` once stdout is closed.
    pub(crate) fn bytes(&mut self, b: &[u8]) -> Result<bool, Failure> {
        if self.closed {
            return Ok(false);
        }
        match self.inner.write_all(b) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(false)
            }
            Err(e) => Err(write_failed(e)),
        }
    }

    pub(crate) fn text(&mut self, s: &str) -> Result<bool, Failure> {
        self.bytes(s.as_bytes())
    }

    pub(crate) fn line(&mut self, s: &str) -> Result<bool, Failure> {
        Ok(self.text(s)? && self.text("\n")?)
    }

    pub(crate) fn flush(&mut self) -> Result<(), Failure> {
        if self.closed {
            return Ok(());
        }
        match self.inner.flush() {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            Err(e) => Err(write_failed(e)),
        }
    }
}

/// Write to stdout; a closed stdout (`| head`) is not an error.
pub(crate) fn print_stdout(text: &str) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(write_failed(e)),
    }
}

/// The result of something else writing to stdout (clap's `--help` and `--version`), flushed,
/// as [`print_stdout`] reports its own: a closed stdout (`| head`) is not an error.
pub(crate) fn stdout_written(written: io::Result<()>) -> Result<(), Failure> {
    match written.and_then(|()| io::stdout().lock().flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(write_failed(e)),
    }
}

/// Writing to stdout failed for another reason than a closed pipe (a full disk behind `>`).
fn write_failed(e: io::Error) -> Failure {
    anyhow::Error::new(e)
        .context("could not write to standard output")
        .into()
}
