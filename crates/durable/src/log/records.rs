//! Reading a log back as records: [`Log::records`], an iterator over the payloads of the valid
//! part of a log of any format, built on its [`Reader`] and on [`verify_open`]'s verdict.

use std::path::Path;

use super::{Item, Log, MAX_RECORD, OnDamage, Reader, Record, Status, Verification, verify_open};
use crate::error::{Error, Result};
use crate::quote::quoted;

/// The records of a log, in order, each with its payload: see [`Log::records`].
pub struct Records<'a> {
    path: &'a Path,
    reader: Box<dyn Reader + 'a>,
    verification: Verification,
    done: bool,
}

impl Log {
    /// The records of the log's valid part, in order, each with its payload.
    ///
    /// The log is checked whole first (as [`super::verify`] does), so that only what was
    /// acknowledged is handed over: the iterator yields every record before the
    /// [`Verification::valid_end`] (for a native log, whole appends only: none of the records
    /// of an append that never completed), then, if the log does not end there,
    /// [`Error::LogDamaged`] once, which says whether the rest is a torn tail
    /// ([`crate::recover::recover_log`] cuts it) or corruption (a person decides). A failed read
    /// is [`Error::Inspect`], and a record over [`MAX_RECORD`] bytes (possible in the lines,
    /// proglog and aof formats) is [`Error::RecordTooLarge`]; both end the iteration.
    ///
    /// The log is read twice, with one payload in memory at a time. To read past damage, or to
    /// stream payloads of any size, use [`Log::reader`] with [`OnDamage::Resync`]. The
    /// iterator reads the main file: for a proglog store, its index's verdict is in
    /// [`Records::verification`].
    ///
    /// ```
    /// use durable::Error;
    /// use durable::log::{self, AppendOptions, Listed, OpenOptions, RecordList};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("events.log");
    /// for record in ["one", "two"] {
    ///     let mut list = RecordList::new(vec![Listed::Arg(record.into())]);
    ///     log::append(&path, &mut list, &AppendOptions::default(), &mut ())?;
    /// }
    /// // A crash cut the second append short.
    /// let file = std::fs::OpenOptions::new().write(true).open(&path)?;
    /// file.set_len(file.metadata()?.len() - 1)?;
    ///
    /// let log = log::open(&path, &OpenOptions::default())?;
    /// let mut records = log.records()?;
    /// let (record, payload) = records.next().expect("one record")?;
    /// assert_eq!((record.seq, payload.as_slice()), (0, &b"one"[..]));
    /// match records.next() {
    ///     // Never acknowledged: safe to cut off (recover::recover_log does).
    ///     Some(Err(Error::LogDamaged { corrupt: false, offset, .. })) => {
    ///         assert_eq!(offset, record.end)
    ///     }
    ///     other => panic!("expected a torn tail, got {other:?}"),
    /// }
    /// assert!(records.next().is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub fn records(&self) -> Result<Records<'_>> {
        let verification = verify_open(self, |_, _| {})?;
        Ok(Records {
            path: &self.main.path,
            reader: self.reader(OnDamage::Resync),
            verification,
            done: false,
        })
    }
}

impl Records<'_> {
    /// What checking the log found: its status, record count, where its valid part ends.
    pub fn verification(&self) -> &Verification {
        &self.verification
    }

    /// The error that ends the valid part at `offset`.
    fn damage(&self, offset: u64, corrupt: bool) -> Error {
        Error::LogDamaged {
            path: self.path.to_path_buf(),
            offset,
            corrupt,
            records_after: self.verification.records_after_damage,
        }
    }

    fn next_record(&mut self) -> Option<Result<(Record, Vec<u8>)>> {
        let v = &self.verification;
        let (valid_end, corrupt) = (v.valid_end, v.main_status == Status::Corrupt);
        loop {
            let item = match self.reader.next_item() {
                Ok(item) => item,
                Err(source) => {
                    return Some(Err(Error::Inspect {
                        path: self.path.to_path_buf(),
                        source,
                    }));
                }
            };
            return match item {
                Item::Record(record) if record.end <= valid_end => {
                    let mut payload = Vec::new();
                    Some(
                        read_whole_payload(self.reader.as_mut(), self.path, &record, &mut payload)
                            .map(|()| (record, payload)),
                    )
                }
                // A proglog index's damage does not touch the store's records.
                Item::Defect(defect) if defect.in_index => continue,
                // The file changed since it was checked: stop at what this pass saw.
                Item::Defect(defect) if defect.cut < valid_end => {
                    Some(Err(self.damage(defect.cut, !defect.is_torn_tail())))
                }
                Item::Record(_) | Item::Defect(_) | Item::End => (self.verification.main_status
                    != Status::Clean)
                    .then(|| Err(self.damage(valid_end, corrupt))),
            };
        }
    }
}

impl Iterator for Records<'_> {
    type Item = Result<(Record, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_record();
        // The first error is the last item.
        self.done = !matches!(next, Some(Ok(_)));
        next
    }
}

/// Put the payload of `record` (just returned by `reader`, from the log at `path`) into `buf`,
/// replacing what it held; a payload over [`MAX_RECORD`] bytes is refused before any is read.
pub(crate) fn read_whole_payload(
    reader: &mut dyn Reader,
    path: &Path,
    record: &Record,
    buf: &mut Vec<u8>,
) -> Result<()> {
    if record.len > MAX_RECORD {
        return Err(Error::RecordTooLarge {
            what: format!("record {} of {}", record.index, quoted(path)),
            len: record.len,
        });
    }
    buf.clear();
    reader
        .read_payload(record, &mut |chunk| {
            buf.extend_from_slice(chunk);
            Ok(())
        })
        .map_err(|source| Error::Inspect {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;
    use std::path::PathBuf;

    use super::*;
    use crate::log::{AppendOptions, Listed, LogFormat, OpenOptions, RecordList, append, open};

    fn append_args(path: &Path, records: &[&str], format: Option<LogFormat>) {
        let mut list = RecordList::new(
            records
                .iter()
                .map(|r| Listed::Arg(OsString::from(r)))
                .collect(),
        );
        let opts = AppendOptions {
            format,
            ..Default::default()
        };
        append(path, &mut list, &opts, &mut ()).unwrap();
    }

    /// The payloads read back, and the error that ended them.
    fn read_back(path: &Path) -> (Vec<String>, Option<Error>) {
        let log = open(path, &OpenOptions::default()).unwrap();
        let mut payloads = Vec::new();
        for item in log.records().unwrap() {
            match item {
                Ok((_, payload)) => payloads.push(String::from_utf8(payload).unwrap()),
                Err(e) => return (payloads, Some(e)),
            }
        }
        (payloads, None)
    }

    fn cut(path: &Path, bytes: u64) {
        let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        let len = file.metadata().unwrap().len();
        file.set_len(len - bytes).unwrap();
    }

    fn log_in(dir: &tempfile::TempDir) -> PathBuf {
        dir.path().join("events.log")
    }

    #[test]
    fn every_record_of_a_clean_log_in_order() {
        for format in [None, Some(LogFormat::Lines)] {
            let dir = tempfile::tempdir().unwrap();
            let path = log_in(&dir);
            append_args(&path, &["one", "two"], format);
            append_args(&path, &["three"], format);
            let (payloads, error) = read_back(&path);
            assert_eq!(payloads, ["one", "two", "three"], "{format:?}");
            assert!(error.is_none(), "{error:?}");
        }
    }

    #[test]
    fn an_append_that_never_completed_is_left_out_and_named_torn() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_in(&dir);
        append_args(&path, &["kept"], None);
        let before = std::fs::metadata(&path).unwrap().len();
        append_args(&path, &["first of two", "second of two"], None);
        // The crash cut the append inside its last record: its first record is valid, but
        // the append was never acknowledged, so it is not handed over.
        cut(&path, 3);
        let (payloads, error) = read_back(&path);
        assert_eq!(payloads, ["kept"]);
        match error {
            Some(Error::LogDamaged {
                offset,
                corrupt: false,
                records_after: 0,
                ..
            }) => assert_eq!(offset, before),
            other => panic!("expected a torn tail, got {other:?}"),
        }
    }

    #[test]
    fn corruption_before_the_tail_ends_the_records_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_in(&dir);
        append_args(&path, &["one"], None);
        let damaged = std::fs::metadata(&path).unwrap().len();
        append_args(&path, &["two"], None);
        append_args(&path, &["three"], None);
        // Flip a payload byte of "two": a later append proves it had been acknowledged.
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.windows(3).position(|w| w == b"two").unwrap();
        bytes[at] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        let (payloads, error) = read_back(&path);
        assert_eq!(payloads, ["one"]);
        match error {
            Some(Error::LogDamaged {
                offset,
                corrupt: true,
                records_after: 1,
                ..
            }) => assert_eq!(offset, damaged),
            other => panic!("expected corruption, got {other:?}"),
        }
    }

    #[test]
    fn the_error_is_the_last_item() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_in(&dir);
        append_args(&path, &["one"], None);
        append_args(&path, &["two"], None);
        cut(&path, 1);
        let log = open(&path, &OpenOptions::default()).unwrap();
        let mut records = log.records().unwrap();
        assert_eq!(records.verification().status, Status::TornTail);
        assert!(matches!(records.next(), Some(Ok(_))));
        assert!(matches!(
            records.next(),
            Some(Err(Error::LogDamaged { .. }))
        ));
        assert!(records.next().is_none());
        assert!(records.next().is_none());
    }
}
