//! Test environment: a scratch directory, the `durable` binary, and readable assertions.

#![allow(dead_code)] // not every test module uses every helper

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

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

    /// `durable` with the scratch directory as working directory and no fault switch, as an
    /// `assert_cmd` command (for `.assert()` chains).
    pub fn durable(&self) -> Command {
        let mut cmd = durable();
        cmd.current_dir(self.dir.path());
        cmd
    }

    /// `durable ARGS` to run in the scratch directory: see [`Durable`] for the options.
    pub fn cmd<A: AsRef<OsStr>>(&self, args: &[A]) -> Durable {
        Durable::new(self.dir.path()).args(args)
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

// ---------------------------------------------------------------------------------------------
// Running durable
// ---------------------------------------------------------------------------------------------

/// How long a run may take before it is killed and the test fails: a hang (a FIFO opened for
/// reading, a lock never released, an option that makes durable wait) fails one test instead
/// of hanging the suite. Generous, since a loaded machine runs slowly: this is a bound on a
/// hang, not a timing assertion.
pub const RUN_BOUND: Duration = Duration::from_secs(300);

/// What one run of `durable` did.
#[derive(Debug)]
pub struct Run {
    /// How the process ended.
    pub status: ExitStatus,
    /// The exit code; -1 when a signal ended the process (only a run that allows it, such as
    /// [`Durable::fault`], gets that far: any other run fails the test when killed).
    pub code: i32,
    pub stdout: Vec<u8>,
    /// Standard error, as text (invalid UTF-8 replaced).
    pub stderr: String,
}

impl Run {
    /// The same account of a process that a test ran itself (under strace, as a child it
    /// killed): the exit code is -1 when a signal ended it.
    pub fn of(output: std::process::Output) -> Run {
        Run {
            status: output.status,
            code: output.status.code().unwrap_or(-1),
            stdout: output.stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Standard output as text (invalid UTF-8 replaced).
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// The signal that ended the process, if one did.
    pub fn signal(&self) -> Option<i32> {
        self.status.signal()
    }

    /// A readable account of the run, for assertion messages.
    pub fn show(&self) -> String {
        let end = match self.signal() {
            Some(sig) => format!("killed by signal {sig}"),
            None => format!("exit {}", self.code),
        };
        format!("{end}\nstdout: {}\nstderr: {}", self.out(), self.stderr)
    }
}

/// One run of `durable` (or of a shell script that calls it as `$D`), set up step by step:
/// arguments, standard input, the fault switch, a memory bound, and a bound on its time. Every
/// run starts without an inherited `DURABLE_FAULT`.
///
/// ```ignore
/// let r = env.cmd(&["log", "append", "a.log"]).stdin(b"one\n").run();
/// let r = Durable::new(dir).args(&["recover", "a.log"]).fault("rename:crash").run();
/// ```
pub struct Durable {
    dir: PathBuf,
    /// `None`: the durable binary; `Some((SHELL, SCRIPT))`: `SHELL -c SCRIPT` with `$D` set to
    /// it.
    script: Option<(&'static str, String)>,
    /// A program durable runs under (strace and its options).
    wrapper: Vec<OsString>,
    args: Vec<OsString>,
    stdin: Option<Vec<u8>>,
    envs: Vec<(OsString, OsString)>,
    fault: Option<String>,
    memory_kib: Option<u64>,
    umask: Option<String>,
    bound: Duration,
    may_be_killed: bool,
    user: Option<(u32, u32)>,
}

impl Durable {
    /// `durable` with `dir` as its working directory, no arguments, an empty standard input.
    pub fn new(dir: &Path) -> Durable {
        Durable {
            dir: dir.to_path_buf(),
            script: None,
            wrapper: Vec::new(),
            args: Vec::new(),
            stdin: Some(Vec::new()),
            envs: Vec::new(),
            fault: None,
            memory_kib: None,
            umask: None,
            bound: RUN_BOUND,
            may_be_killed: false,
            user: None,
        }
    }

    /// `sh -c SCRIPT` in `dir`, with `$D` set to the durable binary (pipelines, redirections);
    /// arguments added with [`Durable::args`] are `$1`….
    pub fn sh(dir: &Path, script: &str) -> Durable {
        let mut run = Durable::new(dir);
        run.script = Some(("sh", script.to_string()));
        run
    }

    /// The same with bash, for what only bash has (`<(…)`, a hint pasted into bash).
    pub fn bash(dir: &Path, script: &str) -> Durable {
        let mut run = Durable::new(dir);
        run.script = Some(("bash", script.to_string()));
        run
    }

    /// Add arguments (`&str`, or `OsStr` for names that are not UTF-8).
    pub fn args<A: AsRef<OsStr>>(mut self, args: &[A]) -> Durable {
        self.args
            .extend(args.iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Add one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Durable {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    /// Feed `bytes` on standard input (then close it).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Durable {
        self.stdin = Some(bytes.into());
        self
    }

    /// Standard input from /dev/null instead of an empty pipe.
    pub fn no_stdin(mut self) -> Durable {
        self.stdin = None;
        self
    }

    /// Set an environment variable.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Durable {
        self.envs
            .push((key.as_ref().to_os_string(), value.as_ref().to_os_string()));
        self
    }

    /// Run with the test-only fault switch `DURABLE_FAULT=SPEC` and core dumps off: a planned
    /// crash is an abort, so the run may end by a signal (see [`Run::signal`]).
    pub fn fault(mut self, spec: &str) -> Durable {
        self.fault = Some(spec.to_string());
        self.may_be_killed = true;
        self
    }

    /// [`Durable::fault`] when `spec` is given; a plain run otherwise.
    pub fn fault_if(self, spec: Option<&str>) -> Durable {
        match spec {
            Some(spec) => self.fault(spec),
            None => self,
        }
    }

    /// Limit the address space to `kib` KiB (`ulimit -v`), core dumps off: an allocation sized
    /// by an untrusted length fails the run instead of passing unnoticed.
    pub fn memory_kib(mut self, kib: u64) -> Durable {
        self.memory_kib = Some(kib);
        self
    }

    /// Run under `umask MASK`.
    pub fn umask(mut self, mask: &str) -> Durable {
        self.umask = Some(mask.to_string());
        self
    }

    /// Kill the run (and fail the test) after `limit` instead of [`RUN_BOUND`].
    pub fn bound(mut self, limit: Duration) -> Durable {
        self.bound = limit;
        self
    }

    /// Run as user `uid`, group `gid` (the test runs as root).
    pub fn user(mut self, uid: u32, gid: u32) -> Durable {
        self.user = Some((uid, gid));
        self
    }

    /// Let a signal end the process without failing the test (its [`Run::code`] is then -1).
    pub fn may_be_killed(mut self) -> Durable {
        self.may_be_killed = true;
        self
    }

    /// Run durable under another program: `PREFIX… durable ARGS…` (strace and its options).
    pub fn wrap<A: AsRef<OsStr>>(mut self, prefix: &[A]) -> Durable {
        self.wrapper
            .extend(prefix.iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// The command this run stands for, standard streams not set: for a test that spawns it
    /// itself (a child it kills, a `--follow` it reads while it runs).
    pub fn command(&self) -> std::process::Command {
        let mut limits = String::new();
        if let Some(kib) = self.memory_kib {
            limits.push_str(&format!("ulimit -v {kib}; "));
        }
        if self.fault.is_some() || self.memory_kib.is_some() {
            limits.push_str("ulimit -c 0; ");
        }
        if let Some(mask) = &self.umask {
            limits.push_str(&format!("umask {mask}; "));
        }
        let mut argv = self.wrapper.clone();
        argv.push(durable_path().into_os_string());
        argv.extend(self.args.iter().cloned());
        let mut cmd = match &self.script {
            Some((shell, script)) => {
                assert!(self.wrapper.is_empty(), "a script runs durable itself");
                let mut cmd = std::process::Command::new(shell);
                cmd.arg("-c").arg(format!("{limits}{script}"));
                cmd.arg(shell).args(&self.args);
                cmd
            }
            None if limits.is_empty() => {
                let mut cmd = std::process::Command::new(&argv[0]);
                cmd.args(&argv[1..]);
                cmd
            }
            None => {
                let mut cmd = std::process::Command::new("sh");
                cmd.arg("-c")
                    .arg(format!("{limits}exec \"$0\" \"$@\""))
                    .args(&argv);
                cmd
            }
        };
        cmd.current_dir(&self.dir)
            .env_remove("DURABLE_FAULT")
            .env("D", durable_path());
        if let Some(fault) = &self.fault {
            cmd.env("DURABLE_FAULT", fault);
        }
        for (key, value) in &self.envs {
            cmd.env(key, value);
        }
        if let Some((uid, gid)) = self.user {
            use std::os::unix::process::CommandExt;
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    /// What this run is, for messages: `durable ARGS…` or the script.
    fn describe(&self) -> String {
        match &self.script {
            Some((shell, script)) => format!("{shell} -c {script:?}"),
            None if self.wrapper.is_empty() => format!("durable {:?}", self.args),
            None => format!("{:?} durable {:?}", self.wrapper, self.args),
        }
    }

    /// Start the run in the background with standard input closed (`--follow`, a command that
    /// waits): see [`Running`].
    pub fn spawn(&self) -> Running {
        let mut child = self
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: spawn: {e}", self.describe()));
        let stdout = collect(child.stdout.take().expect("piped stdout"));
        let stderr = collect(child.stderr.take().expect("piped stderr"));
        Running {
            child: KillOnDrop(child),
            stdout,
            stderr,
        }
    }

    /// Start the run with standard input a pipe for the test to feed (and keep open as long as
    /// it likes), standard output discarded and standard error piped.
    pub fn spawn_fed(&self) -> std::process::Child {
        self.command()
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: spawn: {e}", self.describe()))
    }

    /// Run to the end (killed after the bound) and collect what it did. Fails the test if the
    /// run hangs, or if a signal ends it when that was not allowed.
    pub fn run(self) -> Run {
        let what = self.describe();
        let mut cmd = self.command();
        cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{what}: spawn: {e}"));
        // Feed and drain on threads, so a child that writes much before reading (or never
        // reads) cannot deadlock the test.
        let feeder = child.stdin.take().map(|mut pipe| {
            let input = self.stdin.clone().unwrap_or_default();
            std::thread::spawn(move || {
                // A child may exit without reading all its input: not an error here.
                let _ = pipe.write_all(&input);
            })
        });
        let stdout = drain(child.stdout.take().expect("piped stdout"));
        let stderr = drain(child.stderr.take().expect("piped stderr"));
        let deadline = Instant::now() + self.bound;
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what}: durable blocked (killed after {:?})", self.bound);
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        if let Some(feeder) = feeder {
            feeder.join().expect("stdin thread");
        }
        let run = Run::of(std::process::Output {
            status,
            stdout: stdout.join().expect("stdout thread"),
            stderr: stderr.join().expect("stderr thread"),
        });
        if run.signal().is_some() && !self.may_be_killed {
            panic!("{what} was killed: {}", run.show());
        }
        run
    }
}

/// What a running child has printed so far, filled by a thread as it arrives.
pub type Seen = std::sync::Arc<std::sync::Mutex<Vec<u8>>>;

/// A child killed (and reaped) when dropped, even by a panic.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Read everything a child's pipe gives into a shared buffer, on a thread.
pub fn collect(mut pipe: impl Read + Send + 'static) -> Seen {
    let seen = Seen::default();
    let sink = std::sync::Arc::clone(&seen);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().expect("lock").extend_from_slice(&buf[..n]);
        }
    });
    seen
}

/// A `durable` running in the background ([`Durable::spawn`]): killed and reaped when dropped,
/// with what it has printed so far.
pub struct Running {
    pub child: KillOnDrop,
    pub stdout: Seen,
    pub stderr: Seen,
}

/// Read a pipe to its end on a thread.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// `durable ARGS` in the scratch directory with `stdin` as standard input: the common case of
/// [`Env::cmd`].
pub fn run<A: AsRef<OsStr>>(env: &Env, args: &[A], stdin: &[u8]) -> Run {
    env.cmd(args).stdin(stdin).run()
}

/// A path as an argument.
pub fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 scratch path")
}

/// The error contract for bad input and failures: exit 2, exactly one line on stderr, starting
/// `durable: ` and saying each of `says` (the file's name among them), no panic. `case` says
/// which case failed. The line, for more checks. (With `--json` the error is also reported on
/// stdout, so stdout is the caller's to check.)
#[track_caller]
pub fn assert_one_line_error(r: &Run, says: &[&str], case: &str) -> String {
    assert_eq!(r.code, 2, "{case}: {}", r.show());
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{case}: one line on stderr: {}", r.show());
    assert!(
        lines[0].starts_with("durable: "),
        "{case}: stderr should start with `durable: `: {}",
        r.show()
    );
    for what in says {
        assert!(
            lines[0].contains(what),
            "{case}: stderr should say {what:?}: {}",
            r.show()
        );
    }
    assert!(!r.stderr.contains("panicked"), "{case}: {}", r.show());
    lines[0].to_string()
}

// ---------------------------------------------------------------------------------------------
// Comparing output
// ---------------------------------------------------------------------------------------------

/// Fail unless `actual` equals `expected`, showing a line diff (`-` expected, `+` actual) when
/// they differ, so a changed line in a long output is seen at once. Bytes that are not UTF-8
/// are shown replaced; the comparison itself is of the bytes.
#[track_caller]
pub fn assert_same(actual: impl AsRef<[u8]>, expected: impl AsRef<[u8]>, what: &str) {
    let (actual, expected) = (actual.as_ref(), expected.as_ref());
    if actual != expected {
        panic!("{what}: output differs\n{}", line_diff(expected, actual));
    }
}

/// A unified diff of two outputs, line by line (`-` expected, `+` actual), after a summary of
/// where they first differ. The diff gives up after a second, and is skipped for outputs over
/// 1 MiB (payloads of megabytes): the summary then says enough.
pub fn line_diff(expected: &[u8], actual: &[u8]) -> String {
    const MAX: usize = 1 << 20;
    let at = expected
        .iter()
        .zip(actual)
        .take_while(|(a, b)| a == b)
        .count();
    let summary = format!(
        "lengths {} (expected) and {} (actual), first difference at byte {at}",
        expected.len(),
        actual.len()
    );
    if expected.len() > MAX || actual.len() > MAX {
        return summary;
    }
    let (old, new) = (
        String::from_utf8_lossy(expected),
        String::from_utf8_lossy(actual),
    );
    let diff = similar::TextDiff::configure()
        .timeout(Duration::from_secs(1))
        .diff_lines(old.as_ref(), new.as_ref())
        .unified_diff()
        .context_radius(3)
        .header("expected", "actual")
        .to_string();
    format!("{summary}\n{diff}")
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
    strace_durable_exiting(env, strace_args, args, 0)
}

/// [`strace_durable`] of a run that must exit with `code`.
pub fn strace_durable_exiting(env: &Env, strace_args: &[&str], args: &[&str], code: i32) -> String {
    let trace = env.path("strace.out");
    let mut strace = vec!["strace", "-f", "-o", s(&trace)];
    strace.extend_from_slice(strace_args);
    let out = env.cmd(args).wrap(&strace).no_stdin().run();
    assert!(
        out.status.code() == Some(code),
        "strace durable {args:?}: {}",
        out.show()
    );
    let text = fs::read_to_string(&trace).expect("read trace");
    fs::remove_file(&trace).expect("rm trace");
    text
}

/// With `DURABLE_RELIABILITY_OUT=FILE` (scripts/reliability.sh), append `lines` to FILE, one
/// JSON object a line, in one write: tests running in parallel do not interleave them.
pub fn append_figures(lines: &[serde_json::Value]) {
    let Some(path) = std::env::var_os("DURABLE_RELIABILITY_OUT") else {
        return;
    };
    let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("open DURABLE_RELIABILITY_OUT {path:?}: {e}"))
        .write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("write DURABLE_RELIABILITY_OUT {path:?}: {e}"));
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

/// Every name under `root` (relative, sorted) with what it is: a regular file's SHA-256, a
/// directory or another kind of file; and its mtime if `mtimes`.
pub fn snapshot(root: &Path, mtimes: bool) -> BTreeMap<String, String> {
    use sha2::Digest as _;
    fn walk(root: &Path, dir: &Path, mtimes: bool, out: &mut BTreeMap<String, String>) {
        for entry in fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("dir entry").path();
            let meta = fs::symlink_metadata(&path).expect("lstat");
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .display()
                .to_string();
            let time = if mtimes {
                format!(" mtime {}.{:09}", meta.mtime(), meta.mtime_nsec())
            } else {
                String::new()
            };
            if meta.is_dir() {
                out.insert(rel, format!("dir{time}"));
                walk(root, &path, mtimes, out);
            } else if !meta.is_file() {
                // Never open a FIFO or a device (opening a FIFO blocks).
                out.insert(rel, format!("{:?}{time}", meta.file_type()));
            } else {
                let hash = hex::encode(sha2::Sha256::digest(fs::read(&path).expect("read")));
                out.insert(
                    rel,
                    format!("file {} bytes sha256 {hash}{time}", meta.len()),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, mtimes, &mut out);
    out
}

/// The entries that differ between two snapshots, for a readable failure.
pub fn changes(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (name, was) in before {
        match after.get(name) {
            None => out.push(format!("{name}: removed (was {was})")),
            Some(now) if now != was => out.push(format!("{name}: {was} -> {now}")),
            Some(_) => {}
        }
    }
    for (name, now) in after {
        if !before.contains_key(name) {
            out.push(format!("{name}: new ({now})"));
        }
    }
    out
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

/// The comparison helper shows the changed line, not two walls of text.
#[test]
fn line_diff_shows_the_changed_lines() {
    let diff = line_diff(b"one\ntwo\nthree\n", b"one\n2\nthree\n");
    assert!(diff.contains("first difference at byte 4"), "{diff}");
    assert!(diff.contains("\n-two\n+2\n"), "{diff}");
    let panic = std::panic::catch_unwind(|| assert_same(b"a\nb\n", b"a\nc\n", "case"))
        .expect_err("different outputs must fail");
    let text = panic_text(panic.as_ref());
    assert!(text.starts_with("case: output differs"), "{text}");
    assert!(text.contains("\n-c\n+b\n"), "{text}");
}

/// Run, as a shell would, the first command between backticks in `text` (a hint), which must
/// mention `mentions`, with the built `durable` first on the PATH; it must exit 0. The hint.
#[track_caller]
pub fn run_hint(env: &Env, text: &str, mentions: &str) -> String {
    let hint = text
        .split('`')
        .nth(1)
        .expect("a hint between backticks")
        .to_string();
    assert!(hint.contains(mentions), "{hint}");
    let path = format!(
        "{}:{}",
        durable_path().parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Durable::sh(env.dir.path(), &hint)
        .env("PATH", &path)
        .no_stdin()
        .run();
    assert_eq!(out.code, 0, "`{hint}`: {}", out.show());
    hint
}

// ---------------------------------------------------------------------------------------------
// The kernel's protected_symlinks rule, as durable applies it (docs/DURABILITY.md, "Symlinks")
// ---------------------------------------------------------------------------------------------

/// The uid (and gid) the sticky-directory tests give links to: `nobody`.
pub const NOBODY: u32 = 65534;

/// Make `rel` (created if missing) a sticky directory anyone may write, as `/tmp` (mode 1777,
/// root's), and return it.
pub fn sticky_dir(env: &Env, rel: &str) -> PathBuf {
    let dir = env.path(rel);
    fs::create_dir_all(&dir).expect("mkdir");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o1777)).expect("chmod");
    std::os::unix::fs::lchown(&dir, Some(0), Some(0)).expect("chown");
    dir
}

/// A symlink `link` to `to`, owned (the link itself) by `uid`.
pub fn link_owned_by(to: &Path, link: &Path, uid: u32) -> PathBuf {
    let _ = fs::remove_file(link);
    std::os::unix::fs::symlink(to, link).expect("symlink");
    std::os::unix::fs::lchown(link, Some(uid), Some(uid)).expect("lchown");
    link.to_path_buf()
}

/// `chown` of `path` itself (a directory, a link) to `uid`.
pub fn give(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid)).expect("lchown");
}

/// The refusal of `durable COMMAND` to follow another user's link in a sticky directory: one
/// line, exit 2, naming the link (as given: `shown`), its owner, the command and the rule.
#[track_caller]
pub fn assert_sticky_refusal(r: &Run, command: &str, shown: &str, case: &str) -> String {
    assert_one_line_error(
        r,
        &[
            &format!("{shown} is a symlink of user {NOBODY}'s"),
            "a sticky directory anyone may write",
            &format!("durable {command} follows such a link only for its owner"),
            "fs.protected_symlinks",
            "nothing was changed",
        ],
        case,
    )
}

/// The bytes `durable ARGS` read with pread64, from strace; `None` (with a note) without strace.
pub fn traced_pread_bytes(env: &Env, test: &str, args: &[&str]) -> Option<u64> {
    traced_pread_bytes_exiting(env, test, args, 0)
}

/// [`traced_pread_bytes`] of a run that must exit with `code`.
pub fn traced_pread_bytes_exiting(env: &Env, test: &str, args: &[&str], code: i32) -> Option<u64> {
    if !have("strace") {
        skip(test, "strace is not installed (.ci/run installs it)");
        return None;
    }
    let text = strace_durable_exiting(env, &["-e", "trace=pread64"], args, code);
    Some(
        text.lines()
            .filter(|l| l.contains("pread64("))
            .filter_map(|l| {
                l.rsplit_once("= ")
                    .and_then(|(_, n)| n.trim().parse::<u64>().ok())
            })
            .sum(),
    )
}
