//! Where appended records come from: command-line arguments, whole files, or a stream split on
//! newlines or NULs (or taken whole). Every source stops reading a record once it passes the
//! maximum record size, so a missing separator cannot make memory grow without bound.

use std::ffi::OsString;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::format::MAX_RECORD;
use crate::error::{Aftermath, Error, Result};

/// A source of records to append. It is `Send`: an append in commit groups reads and encodes
/// the records on a second thread while the calling thread writes and flushes the group before.
pub trait RecordSource: Send {
    /// Put the next record in `buf` (cleared first); `Ok(false)` when there are no more.
    fn next_record(&mut self, buf: &mut Vec<u8>) -> Result<bool>;

    /// Name record number `index` (0-based, in this source) for a message.
    fn describe(&self, index: u64) -> String;

    /// Whether the next call to [`RecordSource::next_record`] can return without waiting for
    /// input (a record, or the end of the input, is there), waiting at most `timeout` for it.
    /// Sources that never wait say yes at once.
    fn ready_within(&mut self, _timeout: Duration) -> Result<bool> {
        Ok(true)
    }
}

/// One listed record: a command-line argument, or a file whose whole content is one record.
#[derive(Debug, Clone)]
pub enum Listed {
    /// The bytes of an argument.
    Arg(OsString),
    /// A file, read whole.
    File(PathBuf),
}

/// Records listed up front (arguments, then `--file`s).
#[derive(Debug, Clone)]
pub struct RecordList {
    items: Vec<Listed>,
    next: usize,
}

impl RecordList {
    /// The records `items`, in order.
    pub fn new(items: Vec<Listed>) -> Self {
        RecordList { items, next: 0 }
    }
}

impl RecordSource for RecordList {
    fn next_record(&mut self, buf: &mut Vec<u8>) -> Result<bool> {
        buf.clear();
        let Some(item) = self.items.get(self.next) else {
            return Ok(false);
        };
        self.next += 1;
        match item {
            Listed::Arg(arg) => {
                buf.extend_from_slice(crate::platform::name_bytes(arg));
                if buf.len() as u64 > MAX_RECORD {
                    return Err(Error::RecordTooLarge {
                        what: self.describe(self.next as u64 - 1),
                        len: buf.len() as u64,
                    });
                }
            }
            Listed::File(path) if super::stream::is_stdin(path) => {
                // `--file -`: all of standard input, one record.
                read_bounded(io::stdin().lock(), buf).map_err(|e| match e {
                    Bounded::Io(source) => Error::Input {
                        what: "standard input".into(),
                        aftermath: Aftermath::Unchanged,
                        source,
                    },
                    Bounded::TooLarge(len) => Error::RecordTooLarge {
                        what: "standard input".into(),
                        len,
                    },
                })?;
            }
            Listed::File(path) => {
                let file = std::fs::File::open(path).map_err(|source| Error::Input {
                    what: crate::quote::quoted(path).to_string(),
                    aftermath: Aftermath::Unchanged,
                    source,
                })?;
                read_bounded(file, buf).map_err(|e| match e {
                    Bounded::Io(source) => Error::Input {
                        what: crate::quote::quoted(path).to_string(),
                        aftermath: Aftermath::Unchanged,
                        source,
                    },
                    // A file's size is known: say it, not where reading stopped.
                    Bounded::TooLarge(len) => Error::RecordTooLarge {
                        what: format!("the file {}", crate::quote::quoted(path)),
                        len: std::fs::metadata(path).map_or(len, |m| m.len().max(len)),
                    },
                })?;
            }
        }
        Ok(true)
    }

    fn describe(&self, index: u64) -> String {
        match usize::try_from(index).ok().and_then(|i| self.items.get(i)) {
            Some(Listed::Arg(_)) => format!("record argument {}", index + 1),
            Some(Listed::File(path)) if super::stream::is_stdin(path) => "standard input".into(),
            Some(Listed::File(path)) => format!("the file {}", crate::quote::quoted(path)),
            None => format!("record {}", index + 1),
        }
    }
}

/// A stream split into records on a separator byte (newline or NUL). A final piece without a
/// separator is a record too; a separator at the very end does not start an empty one, so
/// `printf 'a\nb\n'` is two records.
pub struct Delimited<R: Read> {
    reader: R,
    buf: Vec<u8>,
    /// The unread bytes are `buf[start..end]`; the first `searched` of them hold no separator.
    start: usize,
    end: usize,
    searched: usize,
    /// The next separator, once found (asking whether a record is ready finds it, and reading
    /// the record then uses it instead of searching again).
    found: Option<usize>,
    eof: bool,
    separator: u8,
    what: String,
    /// How to wait for input without reading it (a pipe or terminal); `None`: cannot tell,
    /// input is taken as always ready.
    wait: Option<Wait<R>>,
}

type Wait<R> = fn(&R, Option<Duration>) -> io::Result<bool>;

/// Bytes read at a time.
const CHUNK: usize = 1 << 20;

impl<R: Read> Delimited<R> {
    /// Split `reader` (described as `what` in messages) on `separator`.
    pub fn new(reader: R, separator: u8, what: impl Into<String>) -> Self {
        Delimited {
            reader,
            buf: vec![0; CHUNK],
            start: 0,
            end: 0,
            searched: 0,
            found: None,
            eof: false,
            separator,
            what: what.into(),
            wait: None,
        }
    }

    /// The offset of the next separator in the buffer, if it holds one.
    fn find(&mut self) -> Option<usize> {
        if self.found.is_some() {
            return self.found;
        }
        let from = self.start + self.searched;
        match memchr::memchr(self.separator, &self.buf[from..self.end]) {
            Some(i) => {
                self.found = Some(from + i);
                self.found
            }
            None => {
                self.searched = self.end - self.start;
                None
            }
        }
    }

    /// Read once more into the buffer (making room first), or note the end of the input.
    fn fill(&mut self) -> Result<()> {
        let pending = self.end - self.start;
        if pending as u64 > MAX_RECORD {
            // Its end is not read: only "larger than the maximum" is known (what was buffered
            // is not its size).
            return Err(Error::RecordTooLarge {
                what: format!("a record of {}", self.what),
                len: MAX_RECORD + 1,
            });
        }
        if self.start > 0 && self.end + CHUNK / 4 > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end, self.found) = (0, pending, None);
        }
        if self.end == self.buf.len() {
            // One record longer than the buffer: grow it, up to the maximum record size.
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let n = read_retrying(&mut self.reader, &mut self.buf[self.end..]).map_err(|source| {
            Error::Input {
                what: self.what.clone(),
                aftermath: Aftermath::Unchanged,
                source,
            }
        })?;
        if n == 0 {
            self.eof = true;
        }
        self.end += n;
        Ok(())
    }
}

impl<R: Read + AsFd> Delimited<R> {
    /// Like [`Delimited::new`], for a stream that can be waited on (standard input): lets
    /// [`RecordSource::ready_within`] tell a pause in the input, so records are committed as
    /// they arrive.
    pub fn streaming(reader: R, separator: u8, what: impl Into<String>) -> Self {
        Delimited {
            wait: Some(|r, timeout| crate::platform::wait_readable(r.as_fd(), timeout)),
            ..Delimited::new(reader, separator, what)
        }
    }
}

impl<R: Read + Send> RecordSource for Delimited<R> {
    fn next_record(&mut self, out: &mut Vec<u8>) -> Result<bool> {
        out.clear();
        loop {
            if let Some(i) = self.find() {
                out.extend_from_slice(&self.buf[self.start..i]);
                (self.start, self.searched, self.found) = (i + 1, 0, None);
                return Ok(true);
            }
            if self.eof {
                if self.start == self.end {
                    return Ok(false);
                }
                out.extend_from_slice(&self.buf[self.start..self.end]);
                (self.start, self.searched) = (self.end, 0);
                return Ok(true);
            }
            self.fill()?;
        }
    }

    fn ready_within(&mut self, timeout: Duration) -> Result<bool> {
        let Some(wait) = self.wait else {
            return Ok(true);
        };
        // A record already in the buffer needs neither the clock nor a system call: the common
        // case when the input comes faster than it is appended, asked after every record.
        if self.eof || self.find().is_some() {
            return Ok(true);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let readable = wait(&self.reader, Some(left)).map_err(|source| Error::Input {
                what: self.what.clone(),
                aftermath: Aftermath::Unchanged,
                source,
            })?;
            if !readable {
                return Ok(false);
            }
            self.fill()?;
            if self.eof || self.find().is_some() {
                return Ok(true);
            }
        }
    }

    fn describe(&self, index: u64) -> String {
        format!("record {} of {}", index + 1, self.what)
    }
}

/// Read into `buf`, retrying a read cut short by a signal, unless the signal asks the append
/// to stop ([`crate::pending_interrupt`]): then the `Interrupted` error is returned.
fn read_retrying(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e)
                if e.kind() == io::ErrorKind::Interrupted
                    && crate::platform::pending_interrupt().is_none() => {}
            other => return other,
        }
    }
}

/// A whole stream as one record (`--whole`); an empty stream is one empty record.
pub struct Whole<R: Read> {
    reader: Option<R>,
    what: String,
}

impl<R: Read> Whole<R> {
    /// Take all of `reader` (described as `what`) as one record.
    pub fn new(reader: R, what: impl Into<String>) -> Self {
        Whole {
            reader: Some(reader),
            what: what.into(),
        }
    }
}

impl<R: Read + Send> RecordSource for Whole<R> {
    fn next_record(&mut self, buf: &mut Vec<u8>) -> Result<bool> {
        buf.clear();
        let Some(reader) = self.reader.take() else {
            return Ok(false);
        };
        read_bounded(reader, buf).map_err(|e| match e {
            Bounded::Io(source) => Error::Input {
                what: self.what.clone(),
                aftermath: Aftermath::Unchanged,
                source,
            },
            Bounded::TooLarge(len) => Error::RecordTooLarge {
                what: self.what.clone(),
                len,
            },
        })?;
        Ok(true)
    }

    fn describe(&self, _: u64) -> String {
        self.what.clone()
    }
}

enum Bounded {
    Io(io::Error),
    TooLarge(u64),
}

/// Read all of `reader` into `buf`, failing as soon as it passes the maximum record size.
fn read_bounded(reader: impl Read, buf: &mut Vec<u8>) -> std::result::Result<(), Bounded> {
    let mut limited = reader.take(MAX_RECORD + 1);
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let n = read_retrying(&mut limited, &mut chunk).map_err(Bounded::Io)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    if buf.len() as u64 > MAX_RECORD {
        return Err(Bounded::TooLarge(buf.len() as u64));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(input: &[u8], sep: u8) -> Vec<Vec<u8>> {
        let mut source = Delimited::new(input, sep, "test input");
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while source.next_record(&mut buf).unwrap() {
            out.push(buf.clone());
        }
        out
    }

    #[test]
    fn lines_are_terminated_not_separated() {
        assert_eq!(split(b"a\nb\n", b'\n'), vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(split(b"a\nb", b'\n'), vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(
            split(b"a\n\nb\n", b'\n'),
            vec![b"a".to_vec(), vec![], b"b".to_vec()]
        );
        assert_eq!(split(b"", b'\n'), Vec::<Vec<u8>>::new());
        assert_eq!(split(b"\n", b'\n'), vec![Vec::<u8>::new()]);
        assert_eq!(split(b"x\0y\0", 0), vec![b"x".to_vec(), b"y".to_vec()]);
        assert_eq!(split(b"x\ny", 0), vec![b"x\ny".to_vec()]);
    }

    /// A reader that hands out its bytes in pieces of varying size.
    struct Pieces<'a>(&'a [u8], usize);

    impl Read for Pieces<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.1 = (self.1 * 7 + 3) % 70_001;
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn many_short_lines_split_as_the_bytes_say() {
        // Reads that end anywhere and a buffer that is compacted: every line comes out
        // once, in order.
        let mut input = Vec::new();
        for i in 0..300_000usize {
            input.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, i % 5));
            input.push(b'\n');
        }
        input.extend_from_slice(b"unterminated");
        let mut expected: Vec<Vec<u8>> = input.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
        let mut source = Delimited::new(Pieces(&input, 1), b'\n', "test input");
        let mut got = Vec::new();
        let mut buf = Vec::new();
        while source.next_record(&mut buf).unwrap() {
            got.push(buf.clone());
        }
        assert_eq!(got.len(), expected.len());
        assert!(got == expected);
        expected.pop();
        assert_eq!(split(&input[..input.len() - 12], b'\n'), expected);
    }

    #[test]
    fn an_endless_line_stops_at_the_maximum() {
        let endless = std::io::repeat(b'x');
        let mut source = Delimited::new(endless, b'\n', "standard input");
        let mut buf = Vec::new();
        assert!(matches!(
            source.next_record(&mut buf),
            Err(Error::RecordTooLarge { .. })
        ));
        assert!(buf.len() as u64 <= MAX_RECORD);
        let mut whole = Whole::new(std::io::repeat(b'y'), "standard input");
        assert!(matches!(
            whole.next_record(&mut buf),
            Err(Error::RecordTooLarge { .. })
        ));
    }

    #[test]
    fn whole_input_is_one_record_even_when_empty() {
        let mut whole = Whole::new(&b""[..], "standard input");
        let mut buf = vec![1];
        assert!(whole.next_record(&mut buf).unwrap());
        assert!(buf.is_empty());
        assert!(!whole.next_record(&mut buf).unwrap());
    }
}
