//! `durable recover`: bring logs, interrupted journaled saves and stale temporary files back to a
//! clean state. Every valid record is kept, only discarded bytes are backed up (to a sidecar
//! whose name holds the offset), and a log that another process holds locked is not touched.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::disk::{self, SyncLevel, TempFile};
use crate::error::{Aftermath, Error, Result, StepResultExt};
use crate::journal::{self, Settled};
use crate::log::{self, Item, OnDamage, Status, format};
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
}

/// The report for one log.
#[derive(Debug, Clone)]
pub struct LogRecovery {
    /// The log.
    pub path: PathBuf,
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
    let meta = std::fs::symlink_metadata(path).map_err(|source| Error::Inspect {
        path: path.to_path_buf(),
        source,
    })?;
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

/// Recover one native log.
pub fn recover_log(
    path: &Path,
    opts: &RecoverOptions,
    observer: &mut dyn Observer,
) -> Result<LogRecovery> {
    let opened = log::open(path)?;
    // Writable, and locked: an appender at work must not have its log cut under it.
    let file = File::options()
        .read(true)
        .write(!opts.dry_run)
        .open(path)
        .map_err(|source| Error::Inspect {
            path: path.to_path_buf(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(Error::InUse {
                path: path.to_path_buf(),
            });
        }
        Err(std::fs::TryLockError::Error(source)) => {
            return Err(Error::Inspect {
                path: path.to_path_buf(),
                source,
            });
        }
    }
    // Under the lock, look again: an append may have finished since `open`.
    let size = file
        .metadata()
        .map_err(|source| Error::Inspect {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    let locked = log::OpenLog {
        file,
        header: opened.header,
        size,
    };
    drop(opened);
    let v = log::verify_open(&locked, path, |_, _| {})?;
    let file = locked.file;
    let (status, records, records_after, bytes_after) = (
        v.status,
        v.records_before_damage,
        v.records_after_damage,
        v.bytes_after_damage,
    );
    let first_damage = (v.defect_count > 0).then_some(v.valid_end);
    let cut = first_damage.unwrap_or(size);
    let sidecar = (!opts.no_backup && cut < size).then(|| sidecar_path(path, cut));
    let mut recovery = LogRecovery {
        path: path.to_path_buf(),
        status,
        action: LogAction::Clean,
        records,
        bytes_kept: cut,
        bytes_removed: size - cut,
        sidecar: sidecar.clone(),
        records_after_damage: records_after,
        bytes_after_damage: bytes_after,
    };
    if status == Status::Clean {
        recovery.sidecar = None;
        return Ok(recovery);
    }
    if status == Status::Corrupt && !opts.force {
        recovery.action = LogAction::Refused;
        return Ok(recovery);
    }
    if opts.dry_run {
        recovery.action = LogAction::WouldTruncate;
        return Ok(recovery);
    }
    let mut t = Tracker::new(observer);
    if let Some(sidecar) = &sidecar {
        recovery.sidecar = Some(write_sidecar(
            &file, path, sidecar, cut, size, opts.sync, &mut t,
        )?);
    }
    // The sidecar is durable before a byte of the log goes away.
    t.run(Step::Truncate, path, || file.set_len(cut))
        .left(Aftermath::Unchanged)?;
    if opts.sync != SyncLevel::None {
        t.run(Step::SyncLog, path, || {
            platform::sync_file(&file, opts.sync)
        })
        .left(Aftermath::Unconfirmed)?;
    }
    recovery.action = LogAction::Truncated;
    Ok(recovery)
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
                    format!("{} became shorter while it was copied", path.display()),
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
    sync: SyncLevel,
    observer: &mut dyn Observer,
) -> Result<Salvaged> {
    let opened = log::open(src)?;
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
    let header = format::FileHeader::new(opened.header.algorithm, salt, opened.header.created);
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
    let mut scanner = opened.scanner(OnDamage::Resync);
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
                payload.clear();
                scanner
                    .read_payload(&record, |chunk| {
                        payload.extend_from_slice(chunk);
                        Ok(())
                    })
                    .map_err(|source| Error::Inspect {
                        path: src.to_path_buf(),
                        source,
                    })?;
                // Within the maximum: the record was valid in the source.
                let _ = encoder.encode(&mut batch, out.records, &payload);
                out.records += 1;
                if batch.len() >= 4 << 20 {
                    platform::write_all_at(temp.file(), &batch, at).map_err(write_err)?;
                    at += batch.len() as u64;
                    batch.clear();
                }
            }
            Item::Defect(d) => {
                let end = d.next_valid.unwrap_or(opened.size);
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
