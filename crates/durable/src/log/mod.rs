//! Checksummed append-only record logs: [`append`] records, [`verify`] a log, read its records
//! back ([`Log::records`]), or step through records and damage with a [`Reader`].
//!
//! durable's own (native) format has its byte layout in [`mod@format`] (the project's FORMAT
//! document, `docs/FORMAT.md`, describes it for people) and its reader in [`native`]; the
//! formats of other programs are read by [`lines`], [`proglog`] and [`aof`]. [`open`] detects
//! the format; every reader sits behind the one [`Reader`] interface and yields the same
//! vocabulary of [`Record`]s and [`Defect`]s, which verifying, reading, recovering
//! ([`crate::recover`]) and salvaging build on.

pub mod aof;
mod append;
mod crc;
pub mod format;
mod item;
pub mod lines;
pub mod lost;
pub mod native;
mod parallel;
pub mod proglog;
pub mod reader;
mod records;
mod source;
pub mod stream;

use std::path::{Path, PathBuf};

pub use append::{AppendOptions, Appended, Commit, Committed, GroupLimits, append, append_with};
pub use format::{Algorithm, FileHeader, MAX_RECORD};
pub use item::{AofMagic, Defect, DefectKind, Evidence, Extra, Item, OnDamage, Record, Skipped};
pub use native::{NativeLog, NativeReader};
pub use parallel::{PARALLEL_MIN, pieces};
pub use reader::{
    Access, EMPTY, HeaderLoss, Layout, Log, LogFormat, OpenOptions, Part, REDIS, Reader, Start,
    TORN_LINES, UNKNOWN_FORMAT, open,
};
pub use records::Records;
pub(crate) use records::read_whole_payload;
pub use source::{Delimited, Listed, RecordList, RecordSource, Whole};

use crate::error::{Error, Result};

/// The overall state of a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Every record is valid and the file ends right after the last one.
    Clean,
    /// The file ends in damage with nothing valid after it: safe to cut off.
    TornTail,
    /// Damage with valid records after it: cutting it off would lose them.
    Corrupt,
}

impl Status {
    /// The stable name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Status::Clean => "clean",
            Status::TornTail => "torn-tail",
            Status::Corrupt => "corrupt",
        }
    }

    /// The worse of two verdicts.
    pub fn worst(self, other: Status) -> Status {
        let rank = |s| match s {
            Status::Clean => 0,
            Status::TornTail => 1,
            Status::Corrupt => 2,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// The most defects a verification keeps (the count goes on).
pub const MAX_DEFECTS_KEPT: usize = 100;

/// What `verify` found in one log.
#[derive(Debug, Clone)]
pub struct Verification {
    /// The log (a proglog pair: the store).
    pub path: PathBuf,
    /// Its format.
    pub format: LogFormat,
    /// Its checksum algorithm (`None`: the format has none).
    pub algorithm: Option<Algorithm>,
    /// proglog: the index read with the store.
    pub index: Option<PathBuf>,
    /// proglog: the file is an index read alone.
    pub index_alone: bool,
    /// aof: where the data ends and why.
    pub aof: Option<aof::Analysis>,
    /// Valid records, including those after damage.
    pub records: u64,
    /// File size.
    pub bytes: u64,
    /// End of the valid part: where `recover` cuts. For a native log, the start of the append
    /// the first damage is in (an append is kept whole or not at all); for other formats, where
    /// the first defect starts. The file size when there is no damage.
    pub valid_end: u64,
    /// Valid records before `valid_end`: the ones `recover` keeps.
    pub records_before_damage: u64,
    /// Valid records between `valid_end` and the first damage: the part of a native append
    /// that the damage (or the end of the file) cut short. They go with the tail.
    pub records_unfinished: u64,
    /// The first [`MAX_DEFECTS_KEPT`] defects.
    pub defects: Vec<Defect>,
    /// All defects.
    pub defect_count: u64,
    /// Valid records after the first defect (the evidence of corruption before the tail).
    pub records_after_damage: u64,
    /// Bytes of those records.
    pub bytes_after_damage: u64,
    /// The verdict (the worse of the file's and, for a proglog pair, its index's).
    pub status: Status,
    /// The verdict on the main file alone.
    pub main_status: Status,
    /// The verdict on a proglog pair's index (`Clean` when there is none).
    pub index_status: Status,
    /// lines: the last line is valid but has no newline (an append adds it).
    pub unterminated: bool,
    /// The verdict is a torn tail and another process was appending to the log as it was
    /// checked: it held the log's lock (as `log append` does while it writes), or the file grew
    /// while it was read. The tail is then most likely that append, still being written, not
    /// one a crash left. Looked at by [`verify`] and [`verify_with_threads`] only (`recover`
    /// holds the lock itself); `false` for other verdicts.
    pub appending: bool,
    /// Valid records larger than a native record may be (16 MiB): a lines log's entries or an
    /// aof file's data can be; `log salvage` cannot copy them into a native log.
    pub oversized: u64,
    /// proglog: the index read with the store is whole but another store's
    /// ([`proglog::foreign_index`]): how many of its entries were compared, how many match,
    /// the first that does not. `recover` rebuilds it only with `--force`.
    pub foreign_index: Option<proglog::ForeignIndex>,
}

/// Check every record of the log at `path` (format detected unless `opts` names it).
/// `progress(done, total)` is called as bytes are checked.
pub fn verify(
    path: &Path,
    opts: &OpenOptions,
    progress: impl FnMut(u64, u64),
) -> Result<Verification> {
    verify_with_threads(path, opts, 1, progress)
}

/// [`verify`] with up to `threads` threads: a native log of at least [`PARALLEL_MIN`] bytes
/// is cut into [`pieces`] checked at the same time. The result is the one [`verify`] gives,
/// whatever the log holds: damage, or pieces that do not join exactly, are left to a single
/// scan.
pub fn verify_with_threads(
    path: &Path,
    opts: &OpenOptions,
    threads: usize,
    progress: impl FnMut(u64, u64),
) -> Result<Verification> {
    let input = open(path, opts)?;
    let mut v = verify_open_with_threads(&input, threads, progress)?;
    v.appending = v.status == Status::TornTail && appending(&input);
    Ok(v)
}

/// Whether another process is appending to the open log `input` now: it holds the log's lock
/// (as `log append` does while it writes and flushes), or the file has grown since it was
/// opened. For a reader that found the log ending inside a record: that is then most likely an
/// append still being written. The lock is only tested (a shared lock taken and released at
/// once, never waited for); a file whose lock or size cannot be read counts as not appended to.
pub fn appending(input: &Log) -> bool {
    let file = &input.main.file;
    let grew = file.metadata().is_ok_and(|m| m.len() > input.main.size);
    grew || match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            false
        }
        Err(std::fs::TryLockError::WouldBlock) => true,
        Err(std::fs::TryLockError::Error(_)) => false,
    }
}

/// [`verify_with_threads`] on a log already open.
pub fn verify_open_with_threads(
    input: &Log,
    threads: usize,
    mut progress: impl FnMut(u64, u64),
) -> Result<Verification> {
    if let Layout::Native(header) = input.layout {
        let n = pieces(input.main.size, threads);
        if n > 1
            && let Some(v) = parallel::verify(input, header, n, &mut progress)
        {
            return Ok(v);
        }
    }
    verify_open(input, progress)
}

/// The checksum algorithm a log's records carry.
pub fn algorithm_of(layout: &Layout) -> Option<Algorithm> {
    match layout {
        Layout::Native(header) | Layout::Lost(header, _) => Some(header.algorithm),
        Layout::Lines => Some(Algorithm::Sha256),
        _ => None,
    }
}

/// [`verify`] on a log already open (and perhaps locked, as `recover` holds it).
pub fn verify_open(input: &Log, progress: impl FnMut(u64, u64)) -> Result<Verification> {
    let mut v = Verification::start(&input.main.path, &input.layout, input.main.size);
    v.index = input.index.as_ref().map(|i| i.path.clone());
    // A start cut short names its checksum algorithm if the byte that holds it is there.
    if let Layout::Unstarted(Start::Torn) = input.layout {
        v.algorithm = Start::algorithm(&input.main.file, input.main.size);
    }
    let mut reader = input.reader(OnDamage::Resync);
    let last_end = summarize(reader.as_mut(), &mut v, progress)?;
    if let Layout::Lines = input.layout
        && v.records > 0
        && last_end == v.bytes
    {
        v.unterminated =
            lines::unterminated(&input.main.file, v.bytes).map_err(|source| Error::Inspect {
                path: v.path.clone(),
                source,
            })?;
    }
    // An index that proves records after a damaged length (`bad-length`) is this store's.
    if let Some(index) = &input.index
        && v.index_status != Status::Clean
        && !v
            .defects
            .iter()
            .any(|d| !d.in_index && d.kind == DefectKind::BadLength)
    {
        v.foreign_index =
            proglog::foreign_index(&input.main.file, input.main.size, &index.file, index.size)
                .map_err(|source| Error::Inspect {
                    path: index.path.clone(),
                    source,
                })?;
    }
    Ok(v)
}

impl Verification {
    /// Nothing read yet of the `size`-byte log at `path`.
    pub(crate) fn start(path: &Path, layout: &Layout, size: u64) -> Verification {
        let aof = match layout {
            Layout::Aof(a) => Some(*a),
            _ => None,
        };
        Verification {
            path: path.to_path_buf(),
            format: layout.format(),
            algorithm: algorithm_of(layout),
            index: None,
            index_alone: matches!(layout, Layout::ProglogIndex),
            aof,
            records: 0,
            bytes: size,
            valid_end: aof.map_or(size, |a| a.logical_end),
            records_before_damage: 0,
            records_unfinished: 0,
            defects: Vec::new(),
            defect_count: 0,
            records_after_damage: 0,
            bytes_after_damage: 0,
            status: Status::Clean,
            main_status: Status::Clean,
            index_status: Status::Clean,
            unterminated: false,
            appending: false,
            oversized: 0,
            foreign_index: None,
        }
    }
}

/// Read every item of `reader` into `v`: the one place that turns a reader's records and
/// defects into the log's verdict and the end of its valid part, for `verify`, `recover` and
/// the refusal of `log append`. Returns where the last valid record ends.
pub(crate) fn summarize(
    reader: &mut dyn Reader,
    v: &mut Verification,
    mut progress: impl FnMut(u64, u64),
) -> Result<u64> {
    let size = v.bytes;
    let mut tally = Tally::default();
    let mut last_report = 0u64;
    let inspect = |source| Error::Inspect {
        path: v.path.clone(),
        source,
    };
    loop {
        // Runs of valid records in one go where the reader can (one item each otherwise).
        let skipped = reader.skip_valid(u64::MAX).map_err(inspect)?;
        tally.add_skipped(&skipped);
        let item = reader.next_item().map_err(inspect)?;
        if !tally.add(&item) {
            break;
        }
        if matches!(item, Item::Record(_)) || skipped.count > 0 {
            let at = reader.position();
            if at.saturating_sub(last_report) >= 64 << 20 {
                progress(at, size);
                last_report = at;
            }
        }
    }
    progress(size, size);
    let last_end = tally.last_end;
    tally.apply(v, &Tally::default());
    Ok(last_end)
}

/// What a run of items adds to a verification: [`summarize`] counts a whole log in one, the
/// parallel verification a piece of it in each, then joins them in file order with
/// [`Tally::then`] (so both reach the same figures the same way).
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    /// Valid records.
    pub(crate) records: u64,
    /// Valid records before the first damage in the main file.
    pub(crate) before_damage: u64,
    /// The last record that started an append before that damage: its offset, and the records
    /// before it.
    pub(crate) last_first: Option<(u64, u64)>,
    /// The first damage in the main file.
    pub(crate) first_damage: Option<Defect>,
    /// Every defect's verdict, the first [`MAX_DEFECTS_KEPT`] defects and their count.
    pub(crate) main_status: Option<Status>,
    pub(crate) index_status: Option<Status>,
    pub(crate) defects: Vec<Defect>,
    pub(crate) defect_count: u64,
    /// Valid records after the first damage, and their bytes.
    pub(crate) after_damage: u64,
    pub(crate) bytes_after_damage: u64,
    /// Where the last valid record ends.
    pub(crate) last_end: u64,
    /// Bytes of all valid records.
    pub(crate) record_bytes: u64,
    /// Valid records larger than [`MAX_RECORD`].
    pub(crate) oversized: u64,
}

impl Tally {
    /// Count one item; `false` at the end.
    pub(crate) fn add(&mut self, item: &Item) -> bool {
        match item {
            Item::Record(record) => {
                let damaged = self.first_damage.is_some();
                if !damaged && record.starts_append() {
                    self.last_first = Some((record.offset, self.records));
                }
                self.records += 1;
                self.oversized += u64::from(record.len > MAX_RECORD);
                self.last_end = record.end;
                self.record_bytes += record.end - record.offset;
                if damaged {
                    self.after_damage += 1;
                    self.bytes_after_damage += record.end - record.offset;
                } else {
                    self.before_damage += 1;
                }
            }
            Item::Defect(defect) => {
                if !defect.in_index && self.first_damage.is_none() {
                    self.first_damage = Some(*defect);
                }
                self.defect_count += 1;
                if self.defects.len() < MAX_DEFECTS_KEPT {
                    self.defects.push(*defect);
                }
                let part = if defect.in_index {
                    &mut self.index_status
                } else {
                    &mut self.main_status
                };
                let status = if defect.is_torn_tail() {
                    Status::TornTail
                } else {
                    Status::Corrupt
                };
                *part = Some(part.map_or(status, |p| p.worst(status)));
            }
            Item::End => return false,
        }
        true
    }

    /// Count valid records stepped over in one go: as [`Tally::add`] of each would.
    pub(crate) fn add_skipped(&mut self, skipped: &Skipped) {
        if skipped.count == 0 {
            return;
        }
        let damaged = self.first_damage.is_some();
        if !damaged && let Some((offset, before)) = skipped.last_append_start {
            self.last_first = Some((offset, self.records + before));
        }
        self.records += skipped.count;
        self.last_end = skipped.end;
        self.record_bytes += skipped.bytes;
        if damaged {
            self.after_damage += skipped.count;
            self.bytes_after_damage += skipped.bytes;
        } else {
            self.before_damage += skipped.count;
        }
    }

    /// This tally of the items that follow those of `before`: their records counted after its
    /// records, after its damage if it found any.
    pub(crate) fn then(mut self, before: &Tally) -> Tally {
        if before.first_damage.is_some() {
            let mut t = before.clone();
            t.records += self.records;
            t.oversized += self.oversized;
            t.after_damage += self.records;
            t.bytes_after_damage += self.record_bytes;
            t.record_bytes += self.record_bytes;
            if self.records > 0 {
                t.last_end = self.last_end;
            }
            let room = MAX_DEFECTS_KEPT.saturating_sub(t.defects.len());
            t.defects.extend(self.defects.into_iter().take(room));
            t.defect_count += self.defect_count;
            let worst = |a: Option<Status>, b: Option<Status>| match (a, b) {
                (Some(a), Some(b)) => Some(a.worst(b)),
                (a, b) => a.or(b),
            };
            t.main_status = worst(t.main_status, self.main_status);
            t.index_status = worst(t.index_status, self.index_status);
            return t;
        }
        self.record_bytes += before.record_bytes;
        self.last_first = self
            .last_first
            .map(|(offset, n)| (offset, before.records + n))
            .or(before.last_first);
        self.records += before.records;
        self.oversized += before.oversized;
        self.before_damage += before.records;
        if self.records == before.records {
            self.last_end = before.last_end;
        }
        self
    }

    /// Write the figures into `v`, counting after the items of `before` (which found no
    /// damage).
    pub(crate) fn apply(self, v: &mut Verification, before: &Tally) {
        let t = self.then(before);
        v.records = t.records;
        v.oversized = t.oversized;
        v.records_before_damage = t.before_damage;
        if let Some(defect) = t.first_damage {
            v.valid_end = defect.cut;
            // The damage cut short an append that started before it: its records go with the
            // tail.
            if let Some((offset, n)) = t.last_first
                && defect.cut < defect.offset
                && defect.cut == offset
            {
                v.records_unfinished = t.before_damage - n;
                v.records_before_damage = n;
            }
        }
        v.defects = t.defects;
        v.defect_count = t.defect_count;
        v.records_after_damage = t.after_damage;
        v.bytes_after_damage = t.bytes_after_damage;
        v.main_status = t.main_status.unwrap_or(Status::Clean);
        v.index_status = t.index_status.unwrap_or(Status::Clean);
        v.status = v.main_status.worst(v.index_status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log of two appends of three records, its last 3 bytes cut off: a torn tail.
    fn torn_log(dir: &Path) -> PathBuf {
        let path = dir.join("t.log");
        let opts = AppendOptions {
            sync: crate::SyncLevel::None,
            ..AppendOptions::default()
        };
        for text in ["a\nb\nc\n", "d\ne\nf\n"] {
            let mut source = Delimited::new(text.as_bytes(), b'\n', "test");
            append(&path, &mut source, &opts, &mut ()).expect("append");
        }
        let len = std::fs::metadata(&path).expect("stat").len();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open");
        file.set_len(len - 3).expect("cut");
        path
    }

    #[test]
    fn a_torn_tail_under_an_appenders_lock_is_reported_as_an_append_in_progress() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = torn_log(dir.path());
        let opts = OpenOptions::default();
        let v = verify(&path, &opts, |_, _| {}).expect("verify");
        assert_eq!((v.status, v.appending), (Status::TornTail, false));
        let appender = std::fs::File::open(&path).expect("open");
        appender.lock().expect("lock");
        for threads in [1, 4] {
            let v = verify_with_threads(&path, &opts, threads, |_, _| {}).expect("verify");
            assert_eq!(
                (v.status, v.appending),
                (Status::TornTail, true),
                "{threads}"
            );
        }
        // The lock was only looked at: it is still the appender's, and verify took none.
        assert!(matches!(
            std::fs::File::open(&path).expect("open").try_lock_shared(),
            Err(std::fs::TryLockError::WouldBlock)
        ));
        appender.unlock().expect("unlock");
        let v = verify(&path, &opts, |_, _| {}).expect("verify");
        assert!(!v.appending);
        assert!(
            std::fs::File::open(&path).expect("open").try_lock().is_ok(),
            "verify left a lock behind"
        );
    }

    #[test]
    fn a_torn_tail_of_a_log_that_grows_while_it_is_read_is_an_append_in_progress() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = torn_log(dir.path());
        let mut grown = false;
        let v = verify(&path, &OpenOptions::default(), |_, _| {
            if !grown {
                // What another process's append does while the log is being read.
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .expect("open");
                f.write_all(b"xyz").expect("grow");
                grown = true;
            }
        })
        .expect("verify");
        assert_eq!((v.status, v.appending), (Status::TornTail, true));
    }

    #[test]
    fn a_clean_log_under_a_lock_is_just_clean() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clean = dir.path().join("clean.log");
        let mut source = Delimited::new(&b"a\n"[..], b'\n', "test");
        append(
            &clean,
            &mut source,
            &AppendOptions {
                sync: crate::SyncLevel::None,
                ..AppendOptions::default()
            },
            &mut (),
        )
        .expect("append");
        let appender = std::fs::File::open(&clean).expect("open");
        appender.lock().expect("lock");
        let v = verify(&clean, &OpenOptions::default(), |_, _| {}).expect("verify");
        assert_eq!((v.status, v.appending), (Status::Clean, false));
    }
}
