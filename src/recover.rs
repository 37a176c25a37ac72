//! `durable recover`: bring logs, interrupted journaled saves and stale temporary files back to a
//! clean state. Every valid record is kept, only discarded bytes are backed up (to a sidecar
//! whose name holds the offset), and a log that another process holds locked is not touched.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::disk::{self, SyncLevel, TempFile};
use crate::error::{Aftermath, Error, Result, StepResultExt};
use crate::journal::{self, Settled};
use crate::log::{self, Input, Item, Kind, LogFormat, OnDamage, Status, format, proglog};
use crate::platform;
use crate::step::{Observer, Step, Tracker};
use crate::target;

/// Options of a recovery.
#[derive(Debug, Clone, Default)]
pub struct RecoverOptions {
    /// Say what would be done, change nothing.
    pub dry_run: bool,
    /// Cut a log at corruption before its tail too (the sidecar keeps everything removed).
    pub force: bool,
    /// Do not keep the removed bytes in a sidecar.
    pub no_backup: bool,
    /// How hard to flush.
    pub sync: SyncLevel,
    /// Read logs as this format instead of detecting it.
    pub format: Option<LogFormat>,
    /// A proglog index to repair with the store given (instead of `<base>.index`).
    pub index: Option<PathBuf>,
}

/// What was (or, with `dry_run`, would be) done to a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogAction {
    /// Nothing to do: it was clean.
    Clean,
    /// Cut at the end of its valid prefix.
    Truncated,
    /// `dry_run`: would be cut.
    WouldTruncate,
    /// Corruption before the tail, not forced: left as it was.
    Refused,
    /// aof: the damaged bytes after the last checkpoint were zero-filled (size kept).
    ZeroFilled,
    /// `dry_run`: would be zero-filled.
    WouldZeroFill,
}

/// What was (or would be) done to a proglog pair's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexAction {
    /// It matched the store.
    Clean,
    /// Rewritten from the first wrong byte to match the store.
    Rebuilt,
    /// `dry_run`: would be rebuilt.
    WouldRebuild,
}

/// The report for a proglog pair's index.
#[derive(Debug, Clone)]
pub struct IndexRecovery {
    /// The index.
    pub path: PathBuf,
    /// Its state before.
    pub status: Status,
    /// What was done.
    pub action: IndexAction,
    /// Entries it holds now (or would).
    pub entries: u64,
    /// Bytes kept as they were: where the first wrong byte was.
    pub bytes_kept: u64,
    /// Old bytes replaced or removed from there on.
    pub bytes_removed: u64,
    /// Where those old bytes were (or would be) saved.
    pub sidecar: Option<PathBuf>,
}

/// The report for one log.
#[derive(Debug, Clone)]
pub struct LogRecovery {
    /// The log.
    pub path: PathBuf,
    /// Its format.
    pub format: LogFormat,
    /// Its state before.
    pub status: Status,
    /// What was done.
    pub action: LogAction,
    /// Valid records kept (before the cut).
    pub records: u64,
    /// Bytes kept: where the log is (or would be) cut.
    pub bytes_kept: u64,
    /// Bytes removed (or that would be).
    pub bytes_removed: u64,
    /// Where the removed bytes were (or would be) saved.
    pub sidecar: Option<PathBuf>,
    /// Valid records after the damage (corruption only).
    pub records_after_damage: u64,
    /// Their bytes.
    pub bytes_after_damage: u64,
    /// A proglog store's index, made to match the store.
    pub index: Option<IndexRecovery>,
}

/// What was done to one path.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A native log.
    Log(LogRecovery),
    /// An interrupted journaled save: completed, rolled back, or (dry run) would be.
    Journal {
        /// The save's target.
        target: PathBuf,
        /// The journal.
        journal: PathBuf,
        /// What was done; `None` in a dry run.
        settled: Option<Settled>,
        /// Dry run: whether the journal is complete (it would be completed, else rolled back).
        would_complete: bool,
    },
    /// A temporary file of an interrupted save.
    Temp {
        /// The file.
        path: PathBuf,
        /// Removed (or would be); `false`: kept because a process has it open.
        removed: bool,
    },
    /// Not ours, left alone (only inside directories).
    Untouched {
        /// The file.
        path: PathBuf,
    },
}

/// The sidecar that keeps the bytes removed from `log` at `offset`.
pub fn sidecar_path(log: &Path, offset: u64) -> PathBuf {
    let mut name = log.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".discarded-{offset}"));
    log.with_file_name(name)
}

/// Recover one path given by the user: a log, a journaled save's target or journal, a stale
/// temporary file, or a directory of them. Errors on single files are returned; inside a
/// directory, each file's error is reported through `on_error` and the walk goes on.
pub fn recover(
    path: &Path,
    opts: &RecoverOptions,
    observer: &mut dyn Observer,
    mut report: impl FnMut(Outcome),
    mut on_error: impl FnMut(Error),
) -> Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        // An interrupted journaled save of a new file: the target does not exist yet, its
        // journal does.
        Err(e)
            if e.kind() == io::ErrorKind::NotFound
                && path
                    .file_name()
                    .and_then(disk::journal_name)
                    .is_some_and(|j| path.with_file_name(j).symlink_metadata().is_ok()) =>
        {
            report(settle(path, opts, observer)?);
            return Ok(());
        }
        Err(source) => {
            return Err(Error::Inspect {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if meta.is_dir() {
        let mut files: Vec<PathBuf> = Vec::new();
        for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
            match entry {
                Ok(e) if e.file_type().is_file() => files.push(e.into_path()),
                Ok(_) => {}
                Err(e) => on_error(Error::Inspect {
                    path: e.path().unwrap_or(path).to_path_buf(),
                    source: io::Error::other(e.to_string()),
                }),
            }
        }
        // Journals first: settling one rewrites its target, which must not be taken for
        // anything else afterwards.
        let mut targets = Vec::new();
        for file in &files {
            if let Some(name) = file.file_name().and_then(disk::journal_target_name) {
                let target = file.with_file_name(name);
                match settle(&target, opts, observer) {
                    Ok(outcome) => report(outcome),
                    Err(e) => on_error(e),
                }
                targets.push(target);
            }
        }
        for file in &files {
            let name = file.file_name().unwrap_or_default();
            if disk::journal_target_name(name).is_some() || targets.contains(file) {
                continue;
            }
            // A proglog pair is recovered once, through its store.
            if opts.index.is_none() && log::reader::is_paired_index(file) {
                continue;
            }
            let result = if disk::temp_target_name(name).is_some() {
                sweep_temp(file, opts)
            } else {
                match recover_log(file, opts, observer) {
                    Err(Error::NotALog {
                        damaged_header: false,
                        ..
                    }) => Ok(Outcome::Untouched { path: file.clone() }),
                    other => other.map(Outcome::Log),
                }
            };
            match result {
                Ok(outcome) => report(outcome),
                Err(e) => on_error(e),
            }
        }
        return Ok(());
    }
    if !meta.is_file() {
        return Err(Error::NotRegular {
            path: path.to_path_buf(),
            kind: platform::kind_of(meta.file_type()),
        });
    }
    let name = path.file_name().unwrap_or_default();
    if let Some(target_name) = disk::journal_target_name(name) {
        report(settle(&path.with_file_name(target_name), opts, observer)?);
        return Ok(());
    }
    if disk::temp_target_name(name).is_some() {
        report(sweep_temp(path, opts)?);
        return Ok(());
    }
    let has_journal =
        disk::journal_name(name).is_some_and(|j| path.with_file_name(j).symlink_metadata().is_ok());
    if has_journal {
        report(settle(path, opts, observer)?);
        return Ok(());
    }
    match recover_log(path, opts, observer) {
        Ok(recovery) => {
            report(Outcome::Log(recovery));
            Ok(())
        }
        Err(Error::NotALog {
            path,
            why,
            damaged_header: false,
            format: None,
        }) => Err(Error::NothingToRecover { path, why }),
        Err(e) => Err(e),
    }
}

/// Finish or roll back the journal of `target`.
fn settle(target: &Path, opts: &RecoverOptions, observer: &mut dyn Observer) -> Result<Outcome> {
    let resolved = target::resolve(target, false)?;
    let journal = journal::path_for(&resolved)?;
    if opts.dry_run {
        let would_complete = journal::is_valid(&journal).map_err(|source| Error::Inspect {
            path: journal.clone(),
            source,
        })?;
        return Ok(Outcome::Journal {
            target: target.to_path_buf(),
            journal,
            settled: None,
            would_complete,
        });
    }
    let mut t = Tracker::new(observer);
    let settled = journal::settle(&resolved, opts.sync, &mut t)?;
    Ok(Outcome::Journal {
        target: target.to_path_buf(),
        journal,
        would_complete: matches!(settled, Some(Settled::Completed { .. })),
        settled,
    })
}

/// Remove a stale temporary file, unless a process has it open.
fn sweep_temp(path: &Path, opts: &RecoverOptions) -> Result<Outcome> {
    let in_use = platform::open_by_a_process(path).map_err(|source| Error::Inspect {
        path: path.to_path_buf(),
        source,
    })?;
    if in_use {
        return Ok(Outcome::Temp {
            path: path.to_path_buf(),
            removed: false,
        });
    }
    if !opts.dry_run {
        std::fs::remove_file(path).map_err(|source| Error::Inspect {
            path: path.to_path_buf(),
            source,
        })?;
        if opts.sync != SyncLevel::None
            && let Some(dir) = path.parent()
        {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            platform::sync_dir(dir, opts.sync).map_err(|source| Error::Inspect {
                path: dir.to_path_buf(),
                source,
            })?;
        }
    }
    Ok(Outcome::Temp {
        path: path.to_path_buf(),
        removed: true,
    })
}

fn inspect(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Inspect {
        path: path.to_path_buf(),
        source,
    }
}

/// Recover one log of any format: cut a torn tail (aof: zero-fill it), and make a proglog
/// store's index match the store.
pub fn recover_log(
    path: &Path,
    opts: &RecoverOptions,
    observer: &mut dyn Observer,
) -> Result<LogRecovery> {
    let mut input = log::open_input(
        path,
        &log::OpenOptions {
            format: opts.format,
            index: opts.index.clone(),
            write: !opts.dry_run,
            index_alone: false,
            force: opts.force,
        },
    )?;
    let path = input.main.path.clone();
    let path = path.as_path();
    // Locked: an appender at work must not have its log cut under it.
    match input.main.file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(Error::InUse {
                path: path.to_path_buf(),
            });
        }
        Err(std::fs::TryLockError::Error(source)) => return Err(inspect(path)(source)),
    }
    // Under the lock, look again: an append may have finished since it was opened.
    // An aof file is analysed again only if its size changed (its analysis reads it whole).
    let opened_size = input.main.size;
    input.main.size = input.main.file.metadata().map_err(inspect(path))?.len();
    if let Kind::Aof(_) = input.kind
        && input.main.size != opened_size
    {
        input.kind =
            Kind::Aof(log::aof::analyse(&input.main.file, input.main.size).map_err(inspect(path))?);
    }
    let v = log::verify_open(&input, |_, _| {})?;
    let size = input.main.size;
    let status = v.main_status;
    let (from, to) = match input.kind {
        // aof: the damaged bytes are zero-filled up to the last non-zero one; the size stays.
        Kind::Aof(a) => (v.valid_end, a.nonzero_end.max(v.valid_end)),
        _ => (v.valid_end, size),
    };
    let aof = matches!(input.kind, Kind::Aof(_));
    let sidecar = (!opts.no_backup && from < to).then(|| sidecar_path(path, from));
    let mut recovery = LogRecovery {
        path: path.to_path_buf(),
        format: input.format(),
        status,
        action: LogAction::Clean,
        records: v.records_before_damage,
        bytes_kept: from,
        bytes_removed: to - from,
        sidecar: sidecar.clone(),
        records_after_damage: v.records_after_damage,
        bytes_after_damage: v.bytes_after_damage,
        index: None,
    };
    let mut t = Tracker::new(observer);
    match status {
        Status::Clean => {
            recovery.sidecar = None;
            recovery.bytes_kept = v.valid_end;
            recovery.bytes_removed = 0;
        }
        Status::Corrupt if !opts.force => recovery.action = LogAction::Refused,
        _ if opts.dry_run => {
            recovery.action = if aof {
                LogAction::WouldZeroFill
            } else {
                LogAction::WouldTruncate
            };
        }
        _ => {
            let file = &input.main.file;
            if let Some(sidecar) = &sidecar {
                recovery.sidecar = Some(write_sidecar(
                    file, path, sidecar, from, to, opts.sync, &mut t,
                )?);
            }
            // The sidecar is durable before a byte of the log goes away.
            if aof {
                t.run(Step::WriteLog, path, || zero_fill(file, from, to))
                    .left(Aftermath::Damaged)?;
                recovery.action = LogAction::ZeroFilled;
            } else {
                t.run(Step::Truncate, path, || file.set_len(from))
                    .left(Aftermath::Unchanged)?;
                recovery.action = LogAction::Truncated;
            }
            if opts.sync != SyncLevel::None {
                t.run(Step::SyncLog, path, || platform::sync_file(file, opts.sync))
                    .left(Aftermath::Unconfirmed)?;
            }
        }
    }
    // A store refused for corruption leaves its index as it is: the index is the evidence of
    // the records after the damage, and rebuilding it from the store would drop them.
    if let Some(index) = input
        .index
        .as_ref()
        .filter(|_| recovery.action != LogAction::Refused)
    {
        // The store's length once recovered.
        let store_len = if status == Status::Clean { size } else { from };
        recovery.index = Some(repair_index(
            &input,
            index,
            store_len,
            v.index_status,
            opts,
            &mut t,
        )?);
    }
    Ok(recovery)
}

/// Write zeros over bytes `[from, to)`.
fn zero_fill(file: &File, from: u64, to: u64) -> io::Result<()> {
    let zeros = vec![0u8; (to - from).min(1 << 20) as usize];
    let mut at = from;
    while at < to {
        let n = (to - at).min(zeros.len() as u64) as usize;
        platform::write_all_at(file, &zeros[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

/// Make a proglog index match its store (the first `store_len` bytes): one entry per record,
/// (i, position). The old bytes from the first wrong one are kept in a sidecar first.
fn repair_index(
    input: &Input,
    index: &log::reader::Part,
    store_len: u64,
    status: Status,
    opts: &RecoverOptions,
    t: &mut Tracker<'_>,
) -> Result<IndexRecovery> {
    let ipath = index.path.as_path();
    let diff = proglog::index_diff(&input.main.file, store_len, &index.file, index.size)
        .map_err(inspect(ipath))?;
    let mut report = IndexRecovery {
        path: ipath.to_path_buf(),
        status,
        action: IndexAction::Clean,
        entries: index.size / proglog::ENTRY_WIDTH,
        bytes_kept: index.size,
        bytes_removed: 0,
        sidecar: None,
    };
    let Some((first, right_len)) = diff else {
        return Ok(report);
    };
    report.entries = right_len / proglog::ENTRY_WIDTH;
    report.bytes_kept = first;
    report.bytes_removed = index.size - first;
    let sidecar = (!opts.no_backup && first < index.size).then(|| sidecar_path(ipath, first));
    report.sidecar = sidecar.clone();
    if opts.dry_run {
        report.action = IndexAction::WouldRebuild;
        return Ok(report);
    }
    if let Some(sidecar) = &sidecar {
        report.sidecar = Some(write_sidecar(
            &index.file,
            ipath,
            sidecar,
            first,
            index.size,
            opts.sync,
            t,
        )?);
    }
    t.run(Step::WriteLog, ipath, || {
        proglog::write_index_from(&input.main.file, store_len, &index.file, first).map(|_| ())
    })
    .left(Aftermath::Damaged)?;
    t.run(Step::Truncate, ipath, || index.file.set_len(right_len))
        .left(Aftermath::Damaged)?;
    if opts.sync != SyncLevel::None {
        t.run(Step::SyncLog, ipath, || {
            platform::sync_file(&index.file, opts.sync)
        })
        .left(Aftermath::Unconfirmed)?;
    }
    report.action = IndexAction::Rebuilt;
    Ok(report)
}

/// Copy bytes `[from, to)` of the log into a durable sidecar: temporary file, flushed, renamed
/// into place (never over another sidecar), directory flushed. Returns the sidecar's path.
fn write_sidecar(
    file: &File,
    path: &Path,
    sidecar: &Path,
    from: u64,
    to: u64,
    sync: SyncLevel,
    t: &mut Tracker<'_>,
) -> Result<PathBuf> {
    let dir = match sidecar.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = sidecar.file_name().unwrap_or_default().to_os_string();
    let mut temp = t
        .run(Step::CreateTemp, &dir, || TempFile::create_in(&dir, &name))
        .left(Aftermath::Unchanged)?;
    t.run(Step::WriteTemp, temp.path(), || {
        let mut buf = vec![0u8; 1 << 20];
        let mut at = from;
        while at < to {
            let n = usize::try_from(to - at).unwrap_or(buf.len()).min(buf.len());
            let got = platform::read_at(file, &mut buf[..n], at)?;
            if got == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "{} became shorter while it was copied",
                        crate::quote::quoted(path)
                    ),
                ));
            }
            platform::write_all_at(temp.file(), &buf[..got], at - from)?;
            at += got as u64;
        }
        Ok(())
    })
    .left(Aftermath::Unchanged)?;
    crate::step::seal(t, &mut temp, sync)?;
    // Never over an existing sidecar: an earlier recovery may have cut the log at the same
    // offset, and its bytes must not be lost. One with the same bytes is a rerun's (a crash
    // after this step): keep it and drop ours. Otherwise take the next free `.N` name.
    let placed = t
        .run(Step::Rename, sidecar, || {
            let mut name = sidecar.to_path_buf();
            for n in 2..=1000u32 {
                match temp.persist(&name, true) {
                    Ok(()) => return Ok(name),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        if same_bytes(&name, file, from, to)? {
                            return Ok(name);
                        }
                        let mut next = sidecar.as_os_str().to_os_string();
                        next.push(format!(".{n}"));
                        name = PathBuf::from(next);
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "too many sidecars for the same offset",
            ))
        })
        .left(Aftermath::Unchanged)?;
    if sync != SyncLevel::None {
        t.run(Step::SyncDir, &dir, || platform::sync_dir(&dir, sync))
            .left(Aftermath::Unchanged)?;
    }
    Ok(placed)
}

/// Whether the file at `path` holds exactly bytes `[from, to)` of `log`.
fn same_bytes(path: &Path, log: &File, from: u64, to: u64) -> io::Result<bool> {
    let other = File::open(path)?;
    if other.metadata()?.len() != to - from {
        return Ok(false);
    }
    let mut a = vec![0u8; 1 << 16];
    let mut b = vec![0u8; 1 << 16];
    let mut at = 0u64;
    while at < to - from {
        let n = usize::try_from(to - from - at)
            .unwrap_or(a.len())
            .min(a.len());
        let got_a = platform::read_at(&other, &mut a[..n], at)?;
        let got_b = platform::read_at(log, &mut b[..n], from + at)?;
        if got_a == 0 || got_a != got_b || a[..got_a] != b[..got_b] {
            return Ok(false);
        }
        at += got_a as u64;
    }
    Ok(true)
}

/// What `salvage` did.
#[derive(Debug, Clone)]
pub struct Salvaged {
    /// Records copied.
    pub records: u64,
    /// Damaged regions skipped: (offset, bytes).
    pub skipped: Vec<(u64, u64)>,
}

/// Write every valid record of `src`, in order, skipping damaged regions, into a new log `dst`
/// (which must not exist), created atomically: temporary file, flushed, renamed with no-clobber,
/// directory flushed.
pub fn salvage(
    src: &Path,
    dst: &Path,
    format: Option<LogFormat>,
    sync: SyncLevel,
    observer: &mut dyn Observer,
) -> Result<Salvaged> {
    let input = log::open_input(
        src,
        &log::OpenOptions {
            format,
            ..Default::default()
        },
    )?;
    if let Kind::ProglogIndex = input.kind {
        return Err(Error::Unsupported {
            path: src.to_path_buf(),
            why: "a proglog index holds no record data to salvage; salvage its store".into(),
        });
    }
    // A native source keeps its checksum and creation time; other formats get the default.
    let (algorithm, created) = match input.kind {
        Kind::Native(h) => (h.algorithm, h.created),
        _ => (
            format::Algorithm::default(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        ),
    };
    let dst_target = target::resolve(dst, true)?;
    if dst_target.existing.is_some() {
        return Err(Error::Exists {
            path: dst.to_path_buf(),
        });
    }
    let mut t = Tracker::new(observer);
    let mut salt = [0u8; 16];
    platform::random_bytes(&mut salt).map_err(|source| Error::Inspect {
        path: dst.to_path_buf(),
        source,
    })?;
    let header = format::FileHeader::new(algorithm, salt, created);
    let mut temp = t
        .run(Step::CreateTemp, &dst_target.dir, || {
            TempFile::create_in(&dst_target.dir, &dst_target.name)
        })
        .left(Aftermath::Unchanged)?;
    let mut out = Salvaged {
        records: 0,
        skipped: Vec::new(),
    };
    let started = t
        .start(Step::WriteTemp, temp.path())
        .left(Aftermath::Unchanged)?;
    let write_err = |source| Error::Step {
        step: Step::WriteTemp,
        path: dst.to_path_buf(),
        aftermath: Aftermath::Unchanged,
        source,
    };
    platform::write_all_at(temp.file(), &header.encode(), 0).map_err(write_err)?;
    let mut at = format::FILE_HEADER_LEN;
    let mut scanner = input.reader(OnDamage::Resync);
    let encoder = format::Encoder::new(&header);
    let mut batch = Vec::new();
    let mut payload = Vec::new();
    loop {
        let item = scanner.next_item().map_err(|source| Error::Inspect {
            path: src.to_path_buf(),
            source,
        })?;
        match item {
            Item::Record(record) => {
                if record.len > format::MAX_RECORD {
                    return Err(Error::RecordTooLarge {
                        what: format!("record {} of {}", record.index, crate::quote::quoted(src)),
                        len: record.len,
                    });
                }
                payload.clear();
                scanner
                    .read_payload(&record, &mut |chunk| {
                        payload.extend_from_slice(chunk);
                        Ok(())
                    })
                    .map_err(|source| Error::Inspect {
                        path: src.to_path_buf(),
                        source,
                    })?;
                encoder
                    // Each record flagged as a whole append of its own: the new log appears
                    // whole, by rename, and every record is evidence against later damage.
                    .encode(
                        &mut batch,
                        out.records,
                        format::FLAG_FIRST | format::FLAG_LAST,
                        &payload,
                    )
                    .map_err(|len| Error::RecordTooLarge {
                        what: format!("record {} of {}", record.index, crate::quote::quoted(src)),
                        len,
                    })?;
                out.records += 1;
                if batch.len() >= 4 << 20 {
                    platform::write_all_at(temp.file(), &batch, at).map_err(write_err)?;
                    at += batch.len() as u64;
                    batch.clear();
                }
            }
            Item::Defect(d) => {
                if d.in_index {
                    continue;
                }
                let end = d.next_valid.unwrap_or(input.main.size).max(d.offset);
                out.skipped.push((d.offset, end - d.offset));
            }
            Item::End => break,
        }
    }
    platform::write_all_at(temp.file(), &batch, at).map_err(write_err)?;
    t.finish(Step::WriteTemp, temp.path(), started);
    platform::set_mode(temp.file(), crate::meta::final_mode(None, None)).map_err(write_err)?;
    crate::step::seal(&mut t, &mut temp, sync)?;
    t.run(Step::Rename, dst, || temp.persist(dst, true))
        .map_err(|e| match e.source.kind() {
            io::ErrorKind::AlreadyExists => Error::Exists {
                path: dst.to_path_buf(),
            },
            _ => Error::step(e, Aftermath::Unchanged),
        })?;
    if sync != SyncLevel::None {
        t.run(Step::SyncDir, &dst_target.dir, || {
            platform::sync_dir(&dst_target.dir, sync)
        })
        .left(Aftermath::Unconfirmed)?;
    }
    Ok(out)
}
