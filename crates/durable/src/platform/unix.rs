//! Unix implementation of the platform calls (Linux tested; macOS branches untested).

use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, IntoRawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus};

use crate::disk::{Create, ProcessGroup, SyncLevel};

/// Create `path` exclusively (`O_CREAT|O_EXCL|O_CLOEXEC`, std adds `O_CLOEXEC`) with `mode`
/// before the umask. Never follows a symlink at `path`: `O_EXCL` fails on any existing name.
pub(crate) fn create_exclusive(path: &Path, mode: u32) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .read(true)
        .create_new(true)
        .mode(mode)
        .open(path)
}

/// Open `path` for writing without truncating, creating it with `mode` as `create` says.
/// `O_NOFOLLOW` refuses a symlink at the last component.
pub(crate) fn open_for_update(path: &Path, create: Create, mode: u32) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options
        .read(true)
        .write(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW);
    match create {
        Create::Exclusive => options.create_new(true),
        Create::Never => &mut options,
    };
    options.open(path)
}

/// Open the directory `dir` that holds the open file `beside`, known as `beside_name` there:
/// without following a symlink at its last component, and checked to hold `beside` under that
/// name still, so that a directory on the path swapped for a link (or another directory) after
/// a decision was made is never written in. Returned open read-only, so that what is done next
/// in it (creating the file ([`create_in`]), removing `beside`, flushing it) is done in that
/// same directory, wherever it has been moved since, never by its path.
pub(crate) fn open_dir_holding(
    dir: &Path,
    beside: &File,
    beside_name: &std::ffi::OsStr,
) -> io::Result<File> {
    use rustix::fs::{AtFlags, Mode, OFlags};
    use std::os::unix::fs::MetadataExt;
    let dirfd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let there = rustix::fs::statat(&dirfd, beside_name, AtFlags::SYMLINK_NOFOLLOW)?;
    let meta = beside.metadata()?;
    if (there.st_dev as u64, there.st_ino as u64) != (meta.dev(), meta.ino()) {
        return Err(io::Error::other(
            "its directory is not the one it was checked in any more (a directory on its path was replaced); nothing was written",
        ));
    }
    Ok(File::from(dirfd))
}

/// Create `name` in the open directory `dir` (`openat`): exclusively, never through a symlink,
/// mode `mode`.
pub(crate) fn create_in(dir: &File, name: &std::ffi::OsStr, mode: u32) -> io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    )?;
    Ok(File::from(fd))
}

/// Remove the entry `name` from the open directory `dir` (`unlinkat`), whatever the
/// directory's path is now.
pub(crate) fn remove_in(dir: &File, name: &std::ffi::OsStr) -> io::Result<()> {
    rustix::fs::unlinkat(dir, name, rustix::fs::AtFlags::empty()).map_err(io::Error::from)
}

/// A file with no name in `dir`, open for reading and writing, gone when closed (the process
/// ends, even by SIGKILL).
///
/// # Platform specific behavior
/// Linux: `O_TMPFILE`. Where that is not supported (other systems, some filesystems): a file
/// created exclusively (mode 0600) under a random name in our temporary-file pattern, then
/// unlinked at once.
pub(crate) fn anonymous_file(dir: &Path) -> io::Result<File> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        match OpenOptions::new()
            .read(true)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_TMPFILE)
            .open(dir)
        {
            Ok(file) => return Ok(file),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL | libc::ENOENT)
                ) => {}
            Err(e) => return Err(e),
        }
    }
    let name = crate::disk::temp_name(std::ffi::OsStr::new("durable-stream"))?;
    let path = dir.join(name);
    let file = create_exclusive(&path, 0o600)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

/// Whether `meta` describes an anonymous pipe (what `/dev/stdin` on a pipe, `/dev/fd/N` and a
/// shell's `<(…)` name), read as a stream. A named FIFO is not: opening one blocks until a
/// writer comes, so it is refused like any other special file.
///
/// # Platform specific behavior
/// Compares the device with that of a pipe made for the purpose (Linux: pipefs).
pub(crate) fn is_anonymous_pipe(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    static PIPE_DEV: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    let pipe_dev = PIPE_DEV.get_or_init(|| {
        let (read, _write) = std::io::pipe().ok()?;
        File::from(std::os::fd::OwnedFd::from(read))
            .metadata()
            .ok()
            .map(|m| m.dev())
    });
    meta.file_type().is_fifo() && Some(meta.dev()) == *pipe_dev
}

/// Open `path`, never through a symlink at the last component (`O_NOFOLLOW`): for a file found
/// beside another (a proglog store's index), which the user did not name.
pub(crate) fn open_no_follow(path: &Path, write: bool) -> io::Result<File> {
    // O_NONBLOCK: a FIFO put there since the name was looked at must not block the open.
    OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

/// Open `path` to take a lock on it: read-only (`flock` needs no write access), never through a
/// symlink at the last component.
pub(crate) fn open_to_lock(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Whether `file` is still the file at `path` (same device and inode), after waiting for its
/// lock: another process may have renamed a new file over the name or removed it meanwhile.
pub(crate) fn is_at_path(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => same_file(&a, &b),
        _ => false,
    }
}

/// Flush `file` at `level`.
///
/// # Platform specific behavior
/// Linux: `fsync` for full, `fdatasync` for data. macOS: `fcntl(F_FULLFSYNC)` for both, because
/// plain `fsync` there does not ask the drive to flush its cache.
pub(crate) fn sync_file(file: &File, level: SyncLevel) -> io::Result<()> {
    match level {
        SyncLevel::None => Ok(()),
        #[cfg(target_vendor = "apple")]
        SyncLevel::Full | SyncLevel::Data => {
            rustix::fs::fcntl_fullfsync(file.as_fd()).map_err(io::Error::from)
        }
        #[cfg(not(target_vendor = "apple"))]
        SyncLevel::Full => rustix::fs::fsync(file.as_fd()).map_err(io::Error::from),
        #[cfg(not(target_vendor = "apple"))]
        SyncLevel::Data => rustix::fs::fdatasync(file.as_fd()).map_err(io::Error::from),
    }
}

/// The system call [`sync_file`] makes at `level`, as `durable save --explain` names it; `None`
/// when it makes none.
pub(crate) fn sync_call(level: SyncLevel) -> Option<&'static str> {
    match level {
        SyncLevel::None => None,
        #[cfg(target_vendor = "apple")]
        SyncLevel::Full | SyncLevel::Data => Some("fcntl(F_FULLFSYNC)"),
        #[cfg(not(target_vendor = "apple"))]
        SyncLevel::Full => Some("fsync"),
        #[cfg(not(target_vendor = "apple"))]
        SyncLevel::Data => Some("fdatasync"),
    }
}

/// The system calls [`sync_dir`] makes on `dir` (written as strace shows it), as `durable save
/// --explain` names them.
pub(crate) fn sync_dir_calls(dir: &str) -> String {
    let call = sync_call(SyncLevel::Full).unwrap_or("fsync");
    format!("open({dir}, O_RDONLY|O_DIRECTORY); {call}(dir); close(dir)")
}

/// Open a directory so it can be flushed.
pub(crate) fn open_dir(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(path)
}

/// Flush the directory `dir` so that creates, renames and unlinks in it survive a power loss.
/// A directory is flushed with the same call as a file (`fsync`); `SyncLevel::Data` uses `fsync`
/// too, since a directory's entries are its metadata.
pub(crate) fn sync_dir(dir: &Path, level: SyncLevel) -> io::Result<()> {
    if level == SyncLevel::None {
        return Ok(());
    }
    let handle = open_dir(dir)?;
    sync_file(&handle, SyncLevel::Full)?;
    close(handle)
}

/// Close `file` and report the error `close(2)` returns (NFS, for one, reports write-back
/// failures there), which `File`'s destructor would silently drop.
pub(crate) fn close(file: File) -> io::Result<()> {
    let fd = file.into_raw_fd();
    // SAFETY: `fd` was just released from an owned `File`, so it is open and nothing else owns it;
    // it is closed exactly once, here.
    let rc = unsafe { libc::close(fd) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Rename `from` to `to`, failing with `AlreadyExists` if `to` exists. Uses
/// `renameat2(RENAME_NOREPLACE)`; where the filesystem or kernel answers `EINVAL`/`ENOSYS`, falls
/// back to `link(from, to)` (which refuses an existing `to`) followed by `unlink(from)`.
pub(crate) fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(()),
            Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {}
            Err(e) => return Err(e.into()),
        }
    }
    std::fs::hard_link(from, to)?;
    std::fs::remove_file(from)
}

/// The system calls [`rename_noreplace`] makes, as `durable save --explain` names them.
pub(crate) fn rename_noreplace_calls(from: &str, to: &str) -> String {
    if cfg!(any(target_os = "linux", target_os = "android")) {
        format!("renameat2({from}, {to}, RENAME_NOREPLACE)")
    } else {
        format!("link({from}, {to}); unlink({from})")
    }
}

/// Rename `from` over `to` (atomically replacing it).
pub(crate) fn rename(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::rename(from, to)
}

/// The process's umask (read by setting and restoring it; done before any thread that creates
/// files is started).
pub(crate) fn umask() -> u32 {
    let mask = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    rustix::process::umask(mask);
    mask.as_raw_mode() as u32
}

/// Set the permission bits of an open file (`fchmod`).
pub(crate) fn set_mode(file: &File, mode: u32) -> io::Result<()> {
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

/// The owner and group of an open file.
pub(crate) fn owner_of(file: &File) -> io::Result<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata()?;
    Ok((meta.uid(), meta.gid()))
}

/// This process's effective user id.
pub(crate) fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Whether this process may give a file it creates to another user (`fchown` to any owner).
///
/// # Platform specific behavior
/// Root only: on Linux `CAP_CHOWN` without root is possible but rare, and is not looked for
/// (such a process is told to run as root instead).
pub(crate) fn may_give_files_away() -> bool {
    effective_uid() == 0
}

/// Set the owner and group of an open file (`fchown`).
pub(crate) fn set_owner(file: &File, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::fchown(file, Some(uid), Some(gid))
}

/// Owner, group, mode (permission bits only) and link count of a file.
pub(crate) fn owner_mode_links(meta: &std::fs::Metadata) -> (u32, u32, u32, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.uid(), meta.gid(), meta.mode() & 0o7777, meta.nlink())
}

/// Whether another process has a file open ([`open_by_a_process`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Held {
    /// A process has it open.
    Yes,
    /// No process has it open.
    No,
    /// Not known: a process of the file's owner could not be looked into (another user's).
    Unknown,
}

/// Whether any other process has the file at `path` open.
///
/// # Platform specific behavior
/// Linux: looks through `/proc/*/fd` for a descriptor of the same device and inode. A process
/// whose descriptors cannot be read (another user's) that runs as the file's owner may hold it
/// (only the owner or root can open our 0600 temporary files): the answer is then
/// [`Held::Unknown`] unless another process is seen holding it. Without `/proc` (macOS) the
/// answer is always [`Held::Unknown`]: the file is kept rather than risked.
pub(crate) fn open_by_a_process(path: &Path) -> io::Result<Held> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)?;
    let me = std::process::id();
    let procs = match std::fs::read_dir("/proc") {
        Ok(procs) => procs,
        Err(_) => return Ok(Held::Unknown),
    };
    let mut unknown = false;
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let fds = match std::fs::read_dir(entry.path().join("fd")) {
            Ok(fds) => fds,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                if entry.metadata().is_ok_and(|m| m.uid() == meta.uid()) {
                    unknown = true;
                }
                continue;
            }
            // The process ended meanwhile.
            Err(_) => continue,
        };
        for fd in fds.flatten() {
            if let Ok(m) = std::fs::metadata(fd.path())
                && m.dev() == meta.dev()
                && m.ino() == meta.ino()
            {
                return Ok(Held::Yes);
            }
        }
    }
    Ok(if unknown { Held::Unknown } else { Held::No })
}

/// A file's identity: (device, inode).
pub(crate) fn file_id(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

/// When a file's inode last changed (`st_ctime`: its content, its metadata, a link or rename
/// of it), as (seconds, nanoseconds) since the epoch.
pub(crate) fn changed_at(meta: &std::fs::Metadata) -> (i64, i64) {
    use std::os::unix::fs::MetadataExt;
    (meta.ctime(), meta.ctime_nsec())
}

/// When a file's content was last written (`st_mtime`), as (seconds, nanoseconds).
pub(crate) fn modified_at(meta: &std::fs::Metadata) -> (i64, i64) {
    use std::os::unix::fs::MetadataExt;
    (meta.mtime(), meta.mtime_nsec())
}

/// Send SIGTERM to this process (the test-only fault switch's `term`).
pub(crate) fn raise_terminate() {
    // SAFETY: raise(3) has no preconditions; the handler installed for SIGTERM (if any) runs.
    unsafe {
        libc::raise(libc::SIGTERM);
    }
}

/// The device and inode numbers of a file: which file it is.
pub(crate) fn dev_ino(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

/// Whether two metadata describe the same file (device and inode).
pub(crate) fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// Names of the extended attributes of an open file.
pub(crate) fn list_xattrs(file: &File) -> io::Result<Vec<OsString>> {
    let mut buf = Vec::new();
    loop {
        // rustix answers an empty buffer with 0, not the size: ask for the size explicitly.
        let size = rustix::fs::flistxattr_query(file.as_fd()).map_err(io::Error::from)?;
        if size == 0 {
            return Ok(Vec::new());
        }
        buf.resize(size, 0);
        match rustix::fs::flistxattr(file.as_fd(), &mut buf[..]) {
            Ok(n) => {
                buf.truncate(n);
                break;
            }
            // The list grew between the two calls: ask again.
            Err(rustix::io::Errno::RANGE) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(buf
        .split(|b| *b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| OsString::from_vec(name.to_vec()))
        .collect())
}

/// The value of one extended attribute of an open file.
pub(crate) fn get_xattr(file: &File, name: &OsStr) -> io::Result<Vec<u8>> {
    loop {
        let size =
            rustix::fs::fgetxattr_query(file.as_fd(), name.as_bytes()).map_err(io::Error::from)?;
        if size == 0 {
            return Ok(Vec::new());
        }
        let mut value = vec![0; size];
        match rustix::fs::fgetxattr(file.as_fd(), name.as_bytes(), &mut value[..]) {
            Ok(n) => {
                value.truncate(n);
                return Ok(value);
            }
            // The value grew between the two calls: ask again.
            Err(rustix::io::Errno::RANGE) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Set one extended attribute on an open file.
pub(crate) fn set_xattr(file: &File, name: &OsStr, value: &[u8]) -> io::Result<()> {
    rustix::fs::fsetxattr(
        file.as_fd(),
        name.as_bytes(),
        value,
        rustix::fs::XattrFlags::empty(),
    )
    .map_err(io::Error::from)
}

/// Bytes of a file name, for building temp and journal names.
pub(crate) fn name_bytes(name: &OsStr) -> &[u8] {
    name.as_bytes()
}

/// A file name from bytes.
pub(crate) fn name_from_bytes(bytes: Vec<u8>) -> OsString {
    OsString::from_vec(bytes)
}

/// The longest file name the platform accepts, in bytes.
pub(crate) const NAME_MAX: usize = 255;

/// The size of the regular file behind `fd`, or `None` for anything else (a pipe, a terminal)
/// or if it cannot be asked: one `fstat`, where `File::metadata` needs the descriptor duplicated
/// into a `File` first (three calls).
pub(crate) fn regular_file_len(fd: std::os::fd::BorrowedFd<'_>) -> Option<u64> {
    let stat = rustix::fs::fstat(fd).ok()?;
    let regular =
        rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::RegularFile;
    regular.then(|| u64::try_from(stat.st_size).ok()).flatten()
}

/// Fill `buf` with unpredictable bytes from the OS. On Linux, the `getrandom` system call itself
/// (see Cargo.toml for why not the getrandom crate); it blocks only until the kernel's generator
/// is first seeded, early in boot, as the crate's would.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn random_bytes(mut buf: &mut [u8]) -> io::Result<()> {
    use rustix::rand::{GetRandomFlags, getrandom};
    while !buf.is_empty() {
        match getrandom(&mut *buf, GetRandomFlags::empty()) {
            Ok(0) => return Err(io::Error::other("getrandom returned no bytes")),
            Ok(n) => buf = &mut buf[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Fill `buf` with unpredictable bytes from the OS.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn random_bytes(buf: &mut [u8]) -> io::Result<()> {
    getrandom::fill(buf).map_err(|e| io::Error::other(e.to_string()))
}

/// Make a write past `ulimit -f` fail with `EFBIG` instead of killing the process with
/// `SIGXFSZ`, so the temporary file is removed and the user gets a sentence.
pub(crate) fn ignore_file_size_signal() {
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler code and is allowed
    // at any time; it runs once at start-up.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// A short name for a file type, for messages.
/// Whether two existing paths are on the same filesystem (the same device).
pub(crate) fn same_filesystem(a: &Path, b: &Path) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata(a)?.dev() == std::fs::metadata(b)?.dev())
}

/// The longest path the system takes, in bytes, without its terminating NUL.
pub(crate) const PATH_MAX: usize = libc::PATH_MAX as usize - 1;

/// Whether `path` is too long for a system call to take it whole (`ENAMETOOLONG`).
pub(crate) fn too_long(path: &Path) -> bool {
    path.as_os_str().len() > PATH_MAX
}

pub(crate) fn kind_of(file_type: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_symlink() {
        "a symlink"
    } else {
        "a regular file"
    }
}

/// Read at `offset` without moving the file's position (`pread`).
pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    file.read_at(buf, offset)
}

/// Wait until `fd` has input to read (or its end), at most `timeout` (`None`: no limit).
/// `Ok(false)` when the time ran out; an `Interrupted` error when a signal arrived.
pub(crate) fn wait_readable(
    fd: std::os::fd::BorrowedFd<'_>,
    timeout: Option<std::time::Duration>,
) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    let mut poll = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.map_or(-1, |t| {
        // Round up, so a short wait is not a busy loop of zero-length polls.
        libc::c_int::try_from(t.as_micros().div_ceil(1000)).unwrap_or(libc::c_int::MAX)
    });
    // SAFETY: `poll` is a valid pollfd for the duration of the call, and the count is 1.
    let n = unsafe { libc::poll(&mut poll, 1, ms) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n > 0)
}

/// Write all of `buf` at `offset` without moving the file's position (`pwrite`).
pub(crate) fn write_all_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    file.write_all_at(buf, offset)
}

/// Start the command in a process group of its own, so it and its children can be signalled
/// together.
pub(crate) fn own_process_group(command: &mut Command) {
    command.process_group(0);
}

/// Kill a child process (and its group, if it leads one) with SIGKILL.
pub(crate) fn kill_child(pid: u32, group: ProcessGroup) {
    use rustix::process::{Pid, Signal, kill_process, kill_process_group};
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return;
    };
    let _ = match group {
        ProcessGroup::Own => kill_process_group(pid, Signal::KILL),
        ProcessGroup::Ours => kill_process(pid, Signal::KILL),
    };
}

/// How a process ended, for messages: "exited with status 3", "was killed by signal 9".
pub(crate) fn describe_exit(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => format!("failed ({status})"),
    }
}

/// The attributes of an open file that forbid rewriting it whatever its permission bits:
/// `(append_only, immutable)` (`chattr +a`, `chattr +i`).
///
/// # Platform specific behavior
/// Linux: `ioctl(FS_IOC_GETFLAGS)`; a filesystem without such flags answers `(false, false)`.
/// Elsewhere: always `(false, false)`.
pub(crate) fn rewrite_protection(file: &File) -> (bool, bool) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::IFlags;
        match rustix::fs::ioctl_getflags(file.as_fd()) {
            Ok(flags) => (
                flags.contains(IFlags::APPEND),
                flags.contains(IFlags::IMMUTABLE),
            ),
            Err(_) => (false, false),
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = file;
        (false, false)
    }
}

/// [`rewrite_protection`] of the file at `path` (a directory, here), asked without opening it
/// where the OS can tell: one `statx` on Linux, which reports both attributes on the
/// filesystems that have them (ext4, XFS, btrfs, …); elsewhere, or when `statx` does not say,
/// an open and `ioctl(FS_IOC_GETFLAGS)`. `(false, false)` when it cannot be told.
pub(crate) fn path_protection(path: &Path) -> (bool, bool) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::{AtFlags, CWD, StatxAttributes, StatxFlags};
        let both = StatxAttributes::APPEND | StatxAttributes::IMMUTABLE;
        if let Ok(st) = rustix::fs::statx(CWD, path, AtFlags::empty(), StatxFlags::empty())
            && st.stx_attributes_mask.contains(both)
        {
            return (
                st.stx_attributes.contains(StatxAttributes::APPEND),
                st.stx_attributes.contains(StatxAttributes::IMMUTABLE),
            );
        }
    }
    // Never blocking (a FIFO put at the name meanwhile) nor through a symlink.
    match open_no_follow(path, false) {
        Ok(file) => rewrite_protection(&file),
        Err(_) => (false, false),
    }
}

/// Whether this process may write to `path` (`access(W_OK)`).
pub(crate) fn may_write(path: &Path) -> bool {
    check_writable(path).is_ok()
}

/// `Ok` if this process may write to `path` (`access(W_OK)`), else why not.
/// Whether this process may remove `path` from its directory: it may write and search the
/// directory, and in a sticky one (`/tmp`) it owns the file or the directory or is root.
/// `PermissionDenied` otherwise, the error `unlink` would give.
pub(crate) fn may_remove(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    rustix::fs::access(
        dir,
        rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK,
    )
    .map_err(io::Error::from)?;
    let me = effective_uid();
    let dir_meta = std::fs::metadata(dir)?;
    if me != 0 && dir_meta.mode() & 0o1000 != 0 && dir_meta.uid() != me {
        let file_meta = std::fs::symlink_metadata(path)?;
        if file_meta.uid() != me {
            return Err(io::Error::from_raw_os_error(libc::EPERM));
        }
    }
    Ok(())
}

/// `Ok` if this process (its effective ids) may create and rename files in the directory
/// `dir` (`access(W_OK|X_OK)`), else the error creating one would give (`EACCES`, `EROFS`).
pub(crate) fn check_dir_writable(dir: &Path) -> io::Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    rustix::fs::accessat(
        rustix::fs::CWD,
        dir,
        rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK,
        rustix::fs::AtFlags::EACCESS,
    )
    .map_err(io::Error::from)
}

/// `Ok` if this process (its effective ids) may open `path` for writing (`access(W_OK)`),
/// else the error the open would give.
pub(crate) fn check_file_writable(path: &Path) -> io::Result<()> {
    rustix::fs::accessat(
        rustix::fs::CWD,
        path,
        rustix::fs::Access::WRITE_OK,
        rustix::fs::AtFlags::EACCESS,
    )
    .map_err(io::Error::from)
}

pub(crate) fn check_writable(path: &Path) -> io::Result<()> {
    rustix::fs::access(path, rustix::fs::Access::WRITE_OK).map_err(io::Error::from)
}

/// Errors the portable code needs to recognise or inject.
pub(crate) mod errno {
    pub(crate) const EIO: i32 = libc::EIO;
    pub(crate) const ENOSPC: i32 = libc::ENOSPC;
    pub(crate) const EPERM: i32 = libc::EPERM;
    pub(crate) const ENOTSUP: i32 = libc::ENOTSUP;
    pub(crate) const ENOTDIR: i32 = libc::ENOTDIR;
    pub(crate) const ENAMETOOLONG: i32 = libc::ENAMETOOLONG;
    pub(crate) const ELOOP: i32 = libc::ELOOP;
}

/// What to clean up when SIGINT, SIGTERM or SIGHUP arrives, in a form a signal handler can use:
/// fixed slots of atomics, no locks and no allocation in the handler.
mod interrupt {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicPtr, Ordering};

    use crate::disk::{InterruptReport, Interrupted};

    const SLOTS: usize = 8;
    /// Temporary files to unlink: leaked `CString`s, null when free.
    static TEMPS: [AtomicPtr<libc::c_char>; SLOTS] =
        [const { AtomicPtr::new(std::ptr::null_mut()) }; SLOTS];
    /// Producers to stop: `pid * 2 + (1 if it leads its group)`, 0 when free.
    static CHILDREN: [AtomicI64; SLOTS] = [const { AtomicI64::new(0) }; SLOTS];
    /// Which temporary files are a target an in-place save is creating (not a temporary name).
    static IS_TARGET: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];
    /// Set once the new content is committed (renamed into place, or its journal flushed).
    static COMMITTED: AtomicBool = AtomicBool::new(false);
    /// Set when a journal is removed after its content was written over the target (reset by
    /// the commit: a leftover journal settled before it is not this save's).
    static JOURNAL_REMOVED: AtomicBool = AtomicBool::new(false);
    /// Set once an in-place save is about to change the target.
    static TOUCHED: AtomicBool = AtomicBool::new(false);
    /// Set while a leftover journal is being applied.
    static SETTLING: AtomicBool = AtomicBool::new(false);
    /// Set while the rename that commits an atomic save runs: a signal handled as it returns
    /// finds the temporary file's name gone if it renamed it.
    static RENAMING: AtomicBool = AtomicBool::new(false);
    /// Interrupts are only noted, for the main thread to act on at its next safe point (an
    /// append between commit groups), instead of ending the process.
    static DEFERRED: AtomicBool = AtomicBool::new(false);
    /// The first signal noted in deferred mode (0: none).
    static PENDING: AtomicI32 = AtomicI32::new(0);
    /// Messages and exit codes, prepared before the handler is installed:
    /// `[signal][state]`, the state indexed as in [`Interrupted::ALL`].
    static REPORTS: OnceLock<[[Report; STATES]; 3]> = OnceLock::new();

    const STATES: usize = Interrupted::ALL.len();

    /// A line for stderr, one for stdout (may be empty), and the exit status to end with.
    type Report = (Vec<u8>, Vec<u8>, i32);

    const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

    /// Register a temporary file; returns its slot, or `None` if all slots are taken (the file
    /// is then only removed by ordinary error handling, not on interrupt).
    pub(crate) fn register_temp(path: &Path) -> Option<usize> {
        let raw = CString::new(path.as_os_str().as_bytes()).ok()?.into_raw();
        for (i, slot) in TEMPS.iter().enumerate() {
            if slot
                .compare_exchange(
                    std::ptr::null_mut(),
                    raw,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                )
                .is_ok()
            {
                return Some(i);
            }
        }
        // SAFETY: `raw` came from `CString::into_raw` just above and was never shared.
        drop(unsafe { CString::from_raw(raw) });
        None
    }

    /// Mark a registered temporary file as the target itself (a new in-place target): left
    /// behind, it is reported as the target, not as a temporary file.
    pub(crate) fn mark_temp_is_target(slot: usize) {
        IS_TARGET[slot].store(true, Ordering::SeqCst);
    }

    /// Forget a temporary file (renamed into place, removed, or kept on purpose).
    pub(crate) fn unregister_temp(slot: usize) {
        IS_TARGET[slot].store(false, Ordering::SeqCst);
        let raw = TEMPS[slot].swap(std::ptr::null_mut(), Ordering::SeqCst);
        if !raw.is_null() {
            // SAFETY: every non-null slot value came from `CString::into_raw` in `register_temp`,
            // and the swap made this call its only owner. The handler never returns to this
            // thread, so it cannot be using the pointer after we free it.
            drop(unsafe { CString::from_raw(raw) });
        }
    }

    /// Register a producer process.
    pub(crate) fn register_child(pid: u32, group: crate::disk::ProcessGroup) {
        let value = i64::from(pid) * 2 + i64::from(group == crate::disk::ProcessGroup::Own);
        for slot in &CHILDREN {
            if slot
                .compare_exchange(0, value, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return;
            }
        }
    }

    /// Forget a producer process.
    pub(crate) fn unregister_child(pid: u32) {
        for slot in &CHILDREN {
            let value = slot.load(Ordering::SeqCst);
            if value != 0 && value / 2 == i64::from(pid) {
                let _ = slot.compare_exchange(value, 0, Ordering::SeqCst, Ordering::SeqCst);
            }
        }
    }

    /// Record that the new content is committed.
    pub(crate) fn mark_committed() {
        JOURNAL_REMOVED.store(false, Ordering::SeqCst);
        COMMITTED.store(true, Ordering::SeqCst);
    }

    /// Record that a journal was removed after being applied.
    pub(crate) fn mark_journal_removed() {
        JOURNAL_REMOVED.store(true, Ordering::SeqCst);
    }

    /// Record that an in-place save is about to change the target.
    pub(crate) fn mark_touched() {
        TOUCHED.store(true, Ordering::SeqCst);
    }

    /// Record that a leftover journal is, or is no longer, being applied.
    pub(crate) fn mark_settling(settling: bool) {
        SETTLING.store(settling, Ordering::SeqCst);
    }

    /// Record that the committing rename is (or is no longer) running.
    pub(crate) fn mark_renaming(renaming: bool) {
        RENAMING.store(renaming, Ordering::SeqCst);
    }

    /// Handle SIGINT, SIGTERM and SIGHUP by noting them only: [`pending`] tells the main
    /// thread, and blocking calls return `EINTR` (no `SA_RESTART`) so it notices soon.
    pub(crate) fn defer() -> std::io::Result<()> {
        DEFERRED.store(true, Ordering::SeqCst);
        install_handler()
    }

    /// Keep SIGINT, SIGTERM and SIGHUP away from the calling thread (a helper thread that
    /// looks at [`pending`] on its own): the kernel then delivers them to a thread that takes
    /// them, the one making the blocking calls that must return `EINTR` (waiting for a lock).
    pub(crate) fn block_in_this_thread() {
        // SAFETY: `set` is initialised by sigemptyset before use; pthread_sigmask only changes
        // the calling thread's mask, and a null old-mask pointer is allowed.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for signal in SIGNALS {
                libc::sigaddset(&mut set, signal);
            }
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        }
    }

    /// The signal noted in deferred mode, if one arrived.
    pub(crate) fn pending() -> Option<&'static str> {
        match PENDING.load(Ordering::SeqCst) {
            libc::SIGINT => Some("SIGINT"),
            libc::SIGTERM => Some("SIGTERM"),
            libc::SIGHUP => Some("SIGHUP"),
            _ => None,
        }
    }

    /// Install the handler for SIGINT, SIGTERM and SIGHUP. `report(signal_name, state)` gives
    /// the lines to print and the exit status for each state. SIGINT ends the process by
    /// re-raising itself whatever the status says, so a shell loop sees the interrupt.
    pub(crate) fn install(
        report: impl Fn(&str, Interrupted) -> InterruptReport,
    ) -> std::io::Result<()> {
        let names = ["SIGINT", "SIGTERM", "SIGHUP"];
        let reports = names.map(|name| {
            Interrupted::ALL.map(|state| {
                let InterruptReport {
                    mut message,
                    stdout,
                    code,
                } = report(name, state);
                message.push('\n');
                let stdout = stdout.map(|mut line| {
                    line.push('\n');
                    line.into_bytes()
                });
                (message.into_bytes(), stdout.unwrap_or_default(), code)
            })
        });
        let _ = REPORTS.set(reports);
        install_handler()
    }

    fn install_handler() -> std::io::Result<()> {
        for signal in SIGNALS {
            // SAFETY: an all-zero `sigaction` is a valid starting value; the fields set below
            // make it a handler with every handled signal blocked while it runs.
            let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
            action.sa_sigaction = handler as extern "C" fn(libc::c_int) as libc::sighandler_t;
            // SAFETY: `sa_mask` is a valid `sigset_t` owned by `action`.
            unsafe {
                libc::sigemptyset(&mut action.sa_mask);
                for other in SIGNALS {
                    libc::sigaddset(&mut action.sa_mask, other);
                }
            }
            // SAFETY: `action` is fully initialised, and `handler` only makes async-signal-safe
            // calls (unlink, kill, write, signal, sigprocmask, raise, _exit) on data prepared
            // before installation.
            if unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }

    extern "C" fn handler(signal: libc::c_int) {
        if DEFERRED.load(Ordering::SeqCst) {
            let _ = PENDING.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
            return;
        }
        let mut removed = false;
        let mut renamed = false;
        let mut left = false;
        let mut left_temp = false;
        for (i, slot) in TEMPS.iter().enumerate() {
            let raw = slot.swap(std::ptr::null_mut(), Ordering::SeqCst);
            if raw.is_null() {
                continue;
            }
            // SAFETY: a non-null slot holds a valid NUL-terminated path (see `register_temp`);
            // it is deliberately leaked, as the process is about to end.
            if unsafe { libc::unlink(raw) } == 0 {
                removed = true;
            } else if std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOENT) {
                // Gone while the committing rename ran: it was renamed into place.
                renamed |= RENAMING.load(Ordering::SeqCst);
            } else {
                // Not "not created yet": it is there and could not be removed (an append-only
                // directory). Reading errno is async-signal-safe.
                if IS_TARGET[i].load(Ordering::SeqCst) {
                    left = true;
                } else {
                    left_temp = true;
                }
            }
        }
        for slot in &CHILDREN {
            let value = slot.swap(0, Ordering::SeqCst);
            if value != 0 {
                let pid = (value / 2) as libc::pid_t;
                let target = if value % 2 == 1 { -pid } else { pid };
                // SAFETY: kill(2) is async-signal-safe; a stale pid fails harmlessly with ESRCH.
                unsafe { libc::kill(target, libc::SIGTERM) };
            }
        }
        let state = if COMMITTED.load(Ordering::SeqCst) || renamed {
            if JOURNAL_REMOVED.load(Ordering::SeqCst) {
                Interrupted::Applied
            } else {
                Interrupted::Committed
            }
        } else if TOUCHED.load(Ordering::SeqCst) {
            Interrupted::PartlyWritten
        } else if SETTLING.load(Ordering::SeqCst) {
            Interrupted::Settling
        } else if left {
            Interrupted::LeftBehind
        } else if left_temp {
            Interrupted::TempLeftBehind
        } else if removed {
            Interrupted::Removed
        } else {
            Interrupted::Untouched
        };
        let index = SIGNALS.iter().position(|s| *s == signal).unwrap_or(1);
        let mut code = 2;
        if let Some(reports) = REPORTS.get() {
            let (line, stdout, c) = &reports[index][state as usize];
            code = *c;
            // SAFETY: write(2) is async-signal-safe; the lines live in a static for the rest of
            // the process. A short or failed write is ignored: we are exiting.
            unsafe {
                if !stdout.is_empty() {
                    libc::write(1, stdout.as_ptr().cast(), stdout.len());
                }
                libc::write(2, line.as_ptr().cast(), line.len());
            }
        }
        if signal == libc::SIGINT {
            // SAFETY: restoring the default action and unblocking SIGINT (blocked while its
            // handler runs) are async-signal-safe; the raise then ends the process by SIGINT.
            unsafe {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGINT);
                libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
                libc::raise(libc::SIGINT);
            }
        }
        // SAFETY: _exit(2) is async-signal-safe and skips destructors, which must not run from
        // inside a signal handler.
        unsafe { libc::_exit(code) }
    }
}

pub(crate) use interrupt::{
    block_in_this_thread as block_interrupts_in_this_thread, defer as defer_interrupts,
    install as install_interrupt_handler, mark_committed, mark_journal_removed, mark_renaming,
    mark_settling, mark_temp_is_target, mark_touched, pending as pending_interrupt, register_child,
    register_temp, unregister_child, unregister_temp,
};

/// The offset of the first byte at or after `offset` that is not in a hole, or `None` if only a
/// hole follows (a sparse tail). Filesystems without hole reporting answer `offset` itself.
///
/// # Platform specific behavior
/// `lseek(SEEK_DATA)` on Linux, macOS and the BSDs; elsewhere every byte counts as data. It
/// moves the descriptor's file position, which durable never uses (all reads are `pread`).
pub(crate) fn next_data(file: &File, offset: u64) -> io::Result<Option<u64>> {
    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    {
        match rustix::fs::seek(file.as_fd(), rustix::fs::SeekFrom::Data(offset)) {
            Ok(at) => Ok(Some(at)),
            Err(rustix::io::Errno::NXIO) => Ok(None),
            // No hole reporting on this filesystem: read everything.
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => Ok(Some(offset)),
            Err(e) => Err(e.into()),
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
    {
        let _ = file;
        Ok(Some(offset))
    }
}

/// The offset of the first hole at or after `offset` (the end of the file counts as one), for
/// a file of `size` bytes. Filesystems without hole reporting answer `size`.
///
/// # Platform specific behavior
/// `lseek(SEEK_HOLE)` on Linux, macOS and the BSDs; elsewhere the file is all data. It moves
/// the descriptor's file position, which durable never uses (all I/O is positioned).
pub(crate) fn next_hole(file: &File, offset: u64, size: u64) -> io::Result<u64> {
    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    {
        match rustix::fs::seek(file.as_fd(), rustix::fs::SeekFrom::Hole(offset)) {
            Ok(at) => Ok(at.min(size)),
            Err(rustix::io::Errno::NXIO | rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
                Ok(size)
            }
            Err(e) => Err(e.into()),
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
    {
        let _ = (file, offset);
        Ok(size)
    }
}

/// If the directory `path` is the root of a kernel pseudo-filesystem (proc, sysfs, cgroup, …),
/// its name: such trees hold no data files, reading some of their files has side effects or
/// blocks, and they are skipped when a directory is walked.
///
/// # Platform specific behavior
/// Linux: `statfs(2)` and the filesystem's magic number. Elsewhere: always `None`.
pub(crate) fn pseudo_filesystem(path: &Path) -> io::Result<Option<&'static str>> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // The magic numbers of <linux/magic.h>.
        const PSEUDO: &[(u64, &str)] = &[
            (0x9fa0, "proc"),
            (0x6265_6572, "sysfs"),
            (0x1cd1, "devpts"),
            (0x0027_e0eb, "cgroup"),
            (0x6367_7270, "cgroup2"),
            (0x6462_6720, "debugfs"),
            (0x7472_6163, "tracefs"),
            (0x7363_6673, "securityfs"),
            (0x6165_676c, "pstore"),
            (0xcafe_4a11, "bpf"),
            (0x6265_6570, "configfs"),
            (0x6573_5543, "fusectl"),
            (0xf97c_ff8c, "selinuxfs"),
            (0x4341_5d53, "smackfs"),
            (0x1980_0202, "mqueue"),
            (0xde5e_81e4, "efivarfs"),
            (0x4249_4e4d, "binfmt_misc"),
            (0x6e73_6673, "nsfs"),
            (0x6759_6969, "rpc_pipefs"),
        ];
        let stat = rustix::fs::statfs(path).map_err(io::Error::from)?;
        // f_type is signed on some targets: compare its low 32 bits.
        let magic = (stat.f_type as u64) & 0xffff_ffff;
        Ok(PSEUDO.iter().find(|(m, _)| *m == magic).map(|(_, n)| *n))
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = path;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::random_bytes;

    #[test]
    fn random_bytes_fill_the_whole_buffer_with_new_bytes_each_time() {
        // Large enough that a fill stopping after one short read would leave zeroed 64-byte runs.
        let (mut a, mut b) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
        random_bytes(&mut a).expect("random bytes");
        random_bytes(&mut b).expect("random bytes");
        assert_ne!(a, b);
        for buf in [&a, &b] {
            assert!(buf.chunks(64).all(|run| run.iter().any(|&x| x != 0)));
        }
        random_bytes(&mut []).expect("an empty buffer needs no bytes");
    }

    #[test]
    fn regular_file_len_is_the_size_of_a_file_and_none_for_a_pipe() {
        use std::io::Write;
        use std::os::fd::AsFd;
        let mut file = tempfile::tempfile().expect("temp file");
        file.write_all(&[7u8; 5000]).expect("write");
        assert_eq!(super::regular_file_len(file.as_fd()), Some(5000));
        let (reader, _writer) = std::io::pipe().expect("pipe");
        assert_eq!(super::regular_file_len(reader.as_fd()), None);
    }
}
