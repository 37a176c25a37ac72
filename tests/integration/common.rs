//! Test environment: a scratch directory, the `durable` binary, and readable assertions.

#![allow(dead_code)] // not every test module uses every helper

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// A scratch directory that disappears after the test.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::Builder::new()
                .prefix("durable-test-")
                .tempdir()
                .expect("create scratch directory"),
        }
    }

    /// A path inside the scratch directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Write a file (creating parent directories).
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent");
        }
        fs::write(&path, content).expect("write fixture");
        path
    }

    /// Read a file.
    pub fn read(&self, rel: &str) -> Vec<u8> {
        fs::read(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// Read a file as text.
    pub fn read_string(&self, rel: &str) -> String {
        String::from_utf8(self.read(rel)).expect("utf-8")
    }

    /// Permission bits of a file.
    pub fn mode(&self, rel: &str) -> u32 {
        fs::metadata(self.path(rel))
            .expect("stat")
            .permissions()
            .mode()
            & 0o7777
    }

    /// `durable` with the scratch directory as working directory and no fault switch.
    pub fn durable(&self) -> Command {
        let mut cmd = durable();
        cmd.current_dir(self.dir.path());
        cmd
    }

    /// All names under the scratch directory, recursively, sorted (for "nothing else changed").
    pub fn names(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(self.dir.path(), self.dir.path(), &mut out);
        out.sort();
        out
    }

    /// Fail if any of our temporary files or journals is left anywhere in the scratch directory.
    pub fn assert_no_leftovers(&self) {
        let left: Vec<_> = self
            .names()
            .into_iter()
            .filter(|n| n.ends_with(".durable-tmp") || n.ends_with(".durable-journal"))
            .collect();
        assert!(left.is_empty(), "leftover temporary files: {left:?}");
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in fs::read_dir(dir).expect("read_dir") {
        let entry = entry.expect("dir entry");
        let path = entry.path();
        out.push(
            path.strip_prefix(root)
                .expect("under root")
                .display()
                .to_string(),
        );
        if entry.file_type().expect("file type").is_dir() {
            walk(root, &path, out);
        }
    }
}

/// The `durable` binary built for this test run, with no fault switch inherited.
pub fn durable() -> Command {
    let mut cmd = Command::cargo_bin("durable").expect("durable binary");
    cmd.env_remove("DURABLE_FAULT");
    cmd
}

/// Path of the `durable` binary (for wrappers such as strace or sh -c).
pub fn durable_path() -> PathBuf {
    assert_cmd::cargo::cargo_bin("durable")
}

/// Whether a system tool is on PATH; tests that need one print why they skip.
pub fn have(tool: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether we run as root (some tests need it to set up read-only mounts or other owners).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Print why a test is skipped, in a form `cargo test -- --nocapture` shows.
pub fn skip(test: &str, why: &str) {
    eprintln!("SKIPPED {test}: {why}");
}

/// Unmount on drop (lazily if busy), even when the test fails.
pub struct Mounted(pub PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let ok = std::process::Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
}

/// A 1 MiB tmpfs at `env/mnt`, or `None` (having said why) when it cannot be mounted.
pub fn small_tmpfs(env: &Env, test: &str) -> Option<(PathBuf, Mounted)> {
    if !is_root() {
        skip(test, "mounting a tmpfs needs root");
        return None;
    }
    let mnt = env.path("mnt");
    fs::create_dir(&mnt).expect("mkdir mnt");
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mnt)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip(test, "mount -t tmpfs failed (no CAP_SYS_ADMIN here?)");
        return None;
    }
    let guard = Mounted(mnt.clone());
    Some((mnt, guard))
}

/// Run `cmd` (stdin null, output piped), killing it after `limit`: a hang (a FIFO opened for
/// reading, a lock never released) fails the test instead of hanging the suite.
pub fn output_bounded(
    mut cmd: std::process::Command,
    what: &str,
    limit: std::time::Duration,
) -> std::process::Output {
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn durable");
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().expect("try_wait").is_none() {
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: durable blocked (killed after {limit:?})");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.wait_with_output().expect("collect output")
}

/// Wait until `done()` holds, for up to `limit`.
pub fn wait_until(limit: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    done()
}

/// Whether this build honours `DURABLE_FAULT`; say so and skip if it does not (a build without
/// the library's `fault-injection` feature, which the tests' dev-dependency turns on).
pub fn fault_switch(test: &str) -> bool {
    if !durable::fault::enabled() {
        skip(
            test,
            "the fault switch is compiled out (the library was built without its fault-injection feature)",
        );
    }
    durable::fault::enabled()
}

/// Runs many cases and reports every one that failed, not just the first, so one run of a test
/// shows the whole picture.
#[derive(Default)]
pub struct Cases {
    run: usize,
    failed: Vec<String>,
}

impl Cases {
    /// Run one case, catching its panic.
    pub fn check(&mut self, case: impl FnOnce()) {
        self.run += 1;
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(case)) {
            self.failed.push(panic_text(panic.as_ref()));
        }
    }

    /// Fail with every failed case's message.
    pub fn assert_all_passed(&self, test: &str) {
        assert!(
            self.failed.is_empty(),
            "{test}: {} of {} cases failed:\n\n{}",
            self.failed.len(),
            self.run,
            self.failed.join("\n\n")
        );
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panicked".into())
}

/// Run `durable ARGS` in `env`'s directory under `strace -f -o TRACE STRACE_ARGS…` with stdin
/// closed; the trace's text (the run must succeed). Callers check `have("strace")` first.
pub fn strace_durable(env: &Env, strace_args: &[&str], args: &[&str]) -> String {
    let trace = env.path("strace.out");
    let out = std::process::Command::new("strace")
        .args(["-f", "-o"])
        .arg(&trace)
        .args(strace_args)
        .arg(durable_path())
        .args(args)
        .current_dir(env.dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run strace");
    assert!(
        out.status.success(),
        "strace durable {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = fs::read_to_string(&trace).expect("read trace");
    fs::remove_file(&trace).expect("rm trace");
    text
}

/// The bytes a JSON `Data` value stands for (docs/JSON.md): `{"text": "…"}` or
/// `{"bytes": "<base64>"}`.
pub fn data_bytes(v: &serde_json::Value) -> Vec<u8> {
    use base64::Engine as _;
    match (v.get("text"), v.get("bytes")) {
        (Some(serde_json::Value::String(text)), None) => text.as_bytes().to_vec(),
        (None, Some(serde_json::Value::String(b64))) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap_or_else(|e| panic!("bad base64 in {v}: {e}")),
        _ => panic!("not a Data object (text or bytes): {v}"),
    }
}

/// The text of a JSON `Data` value that must hold UTF-8 (`{"text": "…"}`).
pub fn data_text(v: &serde_json::Value) -> String {
    match v.get("text") {
        Some(serde_json::Value::String(text)) => text.clone(),
        _ => panic!("not a text Data object: {v}"),
    }
}

/// A UTF-8 path as JSON shows it: `{"text": "…"}`.
pub fn json_path(path: impl AsRef<Path>) -> serde_json::Value {
    serde_json::json!({"text": path.as_ref().to_str().expect("UTF-8 test path")})
}

/// Cut the last `by` bytes off a file (a torn write).
pub fn shorten(path: &Path, by: u64) {
    let len = fs::metadata(path).expect("stat").len();
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open")
        .set_len(len - by)
        .expect("cut");
}

/// The directory `durable recover` keeps sidecars in by default, beside a log.
pub const SIDECAR_DIR: &str = ".durable-recovered";

/// Where `durable recover` keeps the bytes it removes from `log` at `offset` by default
/// (docs/FORMAT.md, "Sidecars"): `.durable-recovered/NAME.OFFSET.durable-sidecar` beside it.
pub fn sidecar_path(log: &Path, offset: u64) -> PathBuf {
    let name = log.file_name().expect("file name").to_string_lossy();
    log.with_file_name(SIDECAR_DIR)
        .join(format!("{name}.{offset}.durable-sidecar"))
}

/// The same for a file of a proglog segment, whose directory proglog reads whole: in
/// `.durable-recovered/SEGDIR/` beside the segment's directory.
pub fn proglog_sidecar_path(file: &Path, offset: u64) -> PathBuf {
    let dir = file.parent().expect("segment directory");
    let seg = dir.file_name().expect("segment directory name");
    let name = file.file_name().expect("file name").to_string_lossy();
    dir.with_file_name(SIDECAR_DIR)
        .join(seg)
        .join(format!("{name}.{offset}.durable-sidecar"))
}

/// A sidecar's trailer, parsed from the bytes by the documented layout (independently of
/// durable's reader): everything after the kept bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SidecarTrailer {
    pub format: u8,
    pub change: u8,
    pub offset: u64,
    pub len: u64,
    pub size_before: u64,
    pub size_after: u64,
    pub first_index: u64,
    pub native_header: Vec<u8>,
    pub data_crc: u32,
    pub source: PathBuf,
}

/// Split a sidecar into the bytes it keeps and its trailer, checking the trailer's magic,
/// length and checksum.
pub fn parse_sidecar(bytes: &[u8]) -> (Vec<u8>, SidecarTrailer) {
    use std::os::unix::ffi::OsStrExt;
    let n = bytes.len();
    assert!(n >= 144, "a sidecar of {n} bytes");
    assert_eq!(&bytes[n - 8..], b"\x89DSID\r\n\x1a", "the sidecar magic");
    let le32 = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let le64 = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let total = le32(bytes, n - 16) as usize;
    let t = &bytes[n - total..];
    assert_eq!(
        le32(t, total - 12),
        crc32fast::hash(&t[..total - 12]),
        "the trailer's CRC"
    );
    assert_eq!(u16::from_le_bytes([t[0], t[1]]), 1, "version");
    let path_len = le32(t, 116) as usize;
    assert_eq!(path_len, total - 144, "the path's length");
    let trailer = SidecarTrailer {
        format: t[2],
        change: t[3],
        offset: le64(t, 8),
        len: le64(t, 16),
        size_before: le64(t, 24),
        size_after: le64(t, 32),
        first_index: le64(t, 40),
        native_header: t[48..112].to_vec(),
        data_crc: le32(t, 112),
        source: PathBuf::from(std::ffi::OsStr::from_bytes(&t[128..128 + path_len])),
    };
    let data = bytes[..n - total].to_vec();
    assert_eq!(trailer.len as usize, data.len(), "the kept length");
    assert_eq!(
        trailer.data_crc,
        crc32fast::hash(&data),
        "the kept bytes' CRC"
    );
    (data, trailer)
}

/// The bytes a sidecar keeps.
pub fn read_sidecar(path: &Path) -> Vec<u8> {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("read sidecar {}: {e}", path.display()));
    parse_sidecar(&bytes).0
}

/// A process that holds a file open (`sh -c 'exec 3<"$1"; exec sleep 30'`), killed on drop: a
/// save in progress, a reader.
pub struct Holder(pub std::process::Child);

impl Holder {
    pub fn spawn(path: &Path) -> Holder {
        use std::os::unix::fs::MetadataExt;
        let child = std::process::Command::new("sh")
            .args(["-c", "exec 3<\"$1\"; exec sleep 30", "sh"])
            .arg(path)
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("spawn sh");
        let holder = Holder(child);
        // Wait until it really has the file open (not a timing assertion: a readiness wait).
        let want = fs::metadata(path).expect("stat held file").ino();
        let fd = PathBuf::from(format!("/proc/{}/fd/3", holder.0.id()));
        assert!(
            wait_until(std::time::Duration::from_secs(20), || {
                fs::metadata(&fd).is_ok_and(|m| m.ino() == want)
            }),
            "the holder never opened {path:?}"
        );
        holder
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
