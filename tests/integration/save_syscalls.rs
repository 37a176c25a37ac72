//! The system calls `durable save` really makes, observed with strace: the temporary file is
//! created exclusively and privately, flushed before it is closed, closed before it is renamed,
//! and the directory is flushed after the rename; the journal is durable before the target is
//! touched and removed only after the target is flushed; `--sync none` flushes nothing.
//!
//! A small parser turns strace's output into [`Syscall`]s, a [`Trace`] follows each file
//! descriptor back to the `openat` that created it (so a call is attributed to the right file
//! even after a rename changes the name strace prints for it), and the `check_*` functions return
//! every ordering violation they find. The `checker_*` tests feed the checkers hand-written
//! traces with a step missing or moved, so a checker that accepts anything cannot pass.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::common::{self, Env};
use crate::strace_parse::{
    Syscall, absolute, fd_and_path, has_flag, parse_trace, run_under_strace, unquote,
};

/// The calls traced: everything that creates, writes, flushes, renames or removes a file.
const TRACED: &str = "openat,open,creat,write,pwrite64,fsync,fdatasync,close,rename,renameat,\
                      renameat2,link,linkat,unlink,unlinkat,ftruncate,fchmod,fchown,flock";

/// Calls whose first argument is a file descriptor.
const FD_CALLS: &[&str] = &[
    "write",
    "pwrite64",
    "fsync",
    "fdatasync",
    "close",
    "ftruncate",
    "fchmod",
    "fchown",
    "flock",
];

const WRITES: &[&str] = &["write", "pwrite64"];
const SYNCS: &[&str] = &["fsync", "fdatasync"];

// ---------------------------------------------------------------------------------------------
// A trace: calls attributed to the files they act on
// ---------------------------------------------------------------------------------------------

/// A successful open: which call, the path it named, its flags and mode.
#[derive(Debug, Clone)]
struct Open {
    /// Index of the opening call in [`Trace::calls`].
    at: usize,
    /// The path it opened, made absolute (relative paths against the dirfd or working directory).
    path: PathBuf,
    /// The path strace printed for the returned descriptor (`-y`).
    fd_path: Option<PathBuf>,
    flags: String,
    mode: Option<String>,
}

/// A rename, in any of its forms.
#[derive(Debug, Clone)]
struct Rename {
    at: usize,
    from: PathBuf,
    to: PathBuf,
    flags: String,
    ok: bool,
}

#[derive(Debug)]
struct Trace {
    calls: Vec<Syscall>,
    /// For each call on a descriptor (or an open), the index of the [`Open`] it refers to.
    handle: Vec<Option<usize>>,
    opens: Vec<Open>,
    cwd: PathBuf,
}

impl Trace {
    fn parse(text: &str, cwd: &Path) -> Result<Trace, String> {
        let calls = parse_trace(text)?;
        let mut handle = vec![None; calls.len()];
        let mut opens: Vec<Open> = Vec::new();
        let mut live: HashMap<i64, usize> = HashMap::new();
        for (i, call) in calls.iter().enumerate() {
            let args = call.arg_list();
            let (path_arg, base, flags, mode) = match call.name.as_str() {
                "openat" => (
                    args.get(1),
                    args.first().and_then(|a| fd_and_path(a).1),
                    args.get(2).cloned().unwrap_or_default(),
                    args.get(3).cloned(),
                ),
                "open" => (
                    args.first(),
                    None,
                    args.get(1).cloned().unwrap_or_default(),
                    args.get(2).cloned(),
                ),
                "creat" => (
                    args.first(),
                    None,
                    "O_WRONLY|O_CREAT|O_TRUNC".to_string(),
                    args.get(1).cloned(),
                ),
                name if FD_CALLS.contains(&name) => {
                    if let Some(fd) = call.fd() {
                        handle[i] = live.get(&fd).copied();
                        if name == "close" {
                            // close releases the descriptor even when it reports an error.
                            live.remove(&fd);
                        }
                    }
                    continue;
                }
                _ => continue,
            };
            if !call.ok() {
                continue;
            }
            let Some(path) = path_arg.and_then(|p| unquote(p)) else {
                continue;
            };
            let path = absolute(&path, base.as_deref().map(Path::new).unwrap_or(cwd));
            let fd_path = fd_and_path(&call.ret_text).1.map(PathBuf::from);
            live.insert(call.ret, opens.len());
            handle[i] = Some(opens.len());
            opens.push(Open {
                at: i,
                path,
                fd_path,
                flags,
                mode,
            });
        }
        Ok(Trace {
            calls,
            handle,
            opens,
            cwd: cwd.to_path_buf(),
        })
    }

    /// Successful opens of `path` (by the name given, or the name strace resolved).
    fn opens_of(&self, path: &Path) -> Vec<usize> {
        (0..self.opens.len())
            .filter(|&o| {
                self.opens[o].path == path || self.opens[o].fd_path.as_deref() == Some(path)
            })
            .collect()
    }

    /// Indices of the calls named one of `names` on the descriptor from open `o`.
    fn calls_on(&self, o: usize, names: &[&str]) -> Vec<usize> {
        (0..self.calls.len())
            .filter(|&i| {
                self.handle[i] == Some(o)
                    && self.opens[o].at != i
                    && names.contains(&self.calls[i].name.as_str())
            })
            .collect()
    }

    /// Indices of successful calls named one of `names` on the descriptor from open `o`.
    fn ok_calls_on(&self, o: usize, names: &[&str]) -> Vec<usize> {
        self.calls_on(o, names)
            .into_iter()
            .filter(|&i| self.calls[i].ok())
            .collect()
    }

    /// Indices of successful fsyncs of a descriptor opened `O_DIRECTORY` on `dir`.
    fn dir_syncs(&self, dir: &Path) -> Vec<usize> {
        (0..self.calls.len())
            .filter(|&i| {
                self.calls[i].name == "fsync"
                    && self.calls[i].ok()
                    && self.handle[i].is_some_and(|o| {
                        let open = &self.opens[o];
                        has_flag(&open.flags, "O_DIRECTORY")
                            && (open.path == dir || open.fd_path.as_deref() == Some(dir))
                    })
            })
            .collect()
    }

    fn renames(&self) -> Vec<Rename> {
        let mut out = Vec::new();
        for (i, call) in self.calls.iter().enumerate() {
            let args = call.arg_list();
            let (from, from_base, to, to_base, flags) = match call.name.as_str() {
                "rename" => (args.first(), None, args.get(1), None, String::new()),
                "renameat" | "renameat2" => (
                    args.get(1),
                    args.first().and_then(|a| fd_and_path(a).1),
                    args.get(3),
                    args.get(2).and_then(|a| fd_and_path(a).1),
                    args.get(4).cloned().unwrap_or_default(),
                ),
                _ => continue,
            };
            let (Some(from), Some(to)) =
                (from.and_then(|a| unquote(a)), to.and_then(|a| unquote(a)))
            else {
                continue;
            };
            let base = |b: &Option<String>| {
                b.as_deref()
                    .map(PathBuf::from)
                    .unwrap_or_else(|| self.cwd.clone())
            };
            out.push(Rename {
                at: i,
                from: absolute(&from, &base(&from_base)),
                to: absolute(&to, &base(&to_base)),
                flags,
                ok: call.ok(),
            });
        }
        out
    }

    /// Indices of successful unlinks of `path`.
    fn unlinks_of(&self, path: &Path) -> Vec<usize> {
        (0..self.calls.len())
            .filter(|&i| {
                let call = &self.calls[i];
                let args = call.arg_list();
                let (arg, base) = match call.name.as_str() {
                    "unlink" => (args.first(), None),
                    "unlinkat" => (args.get(1), args.first().and_then(|a| fd_and_path(a).1)),
                    _ => return false,
                };
                let base = base.map(PathBuf::from).unwrap_or_else(|| self.cwd.clone());
                call.ok()
                    && arg
                        .and_then(|a| unquote(a))
                        .is_some_and(|p| absolute(&p, &base) == path)
            })
            .collect()
    }

    /// Every write (`write`/`pwrite64`) to a file under `dir`.
    fn writes_under(&self, dir: &Path) -> Vec<usize> {
        (0..self.calls.len())
            .filter(|&i| {
                WRITES.contains(&self.calls[i].name.as_str())
                    && match self.handle[i] {
                        Some(o) => {
                            self.opens[o].path.starts_with(dir)
                                || self.opens[o]
                                    .fd_path
                                    .as_ref()
                                    .is_some_and(|p| p.starts_with(dir))
                        }
                        None => self.calls[i]
                            .arg(0)
                            .and_then(|a| fd_and_path(&a).1)
                            .is_some_and(|p| Path::new(&p).starts_with(dir)),
                    }
            })
            .collect()
    }

    fn count(&self, names: &[&str]) -> usize {
        self.calls
            .iter()
            .filter(|c| names.contains(&c.name.as_str()))
            .count()
    }

    fn show(&self, i: usize) -> String {
        let c = &self.calls[i];
        format!("#{i} {}({}) = {}", c.name, c.args, c.ret_text)
    }
}

// ---------------------------------------------------------------------------------------------
// Order checkers: each returns every violation it finds (empty = the trace is right)
// ---------------------------------------------------------------------------------------------

/// Check that `open` was exclusive and private.
fn check_exclusive_private(t: &Trace, o: usize, what: &str, v: &mut Vec<String>) {
    let open = &t.opens[o];
    for flag in ["O_CREAT", "O_EXCL", "O_CLOEXEC"] {
        if !has_flag(&open.flags, flag) {
            v.push(format!(
                "{what} is opened without {flag}: {}",
                t.show(open.at)
            ));
        }
    }
    if has_flag(&open.flags, "O_TRUNC") {
        v.push(format!(
            "{what} is opened with O_TRUNC: {}",
            t.show(open.at)
        ));
    }
    if open.mode.as_deref() != Some("0600") {
        v.push(format!(
            "{what} is not created with mode 0600: {}",
            t.show(open.at)
        ));
    }
}

/// The atomic strategy over `target`: temp created `O_CREAT|O_EXCL|O_CLOEXEC` 0600; the content
/// written to it and to no other file in the directory; its mode set (to `mode`, if given) and
/// `sync` (fsync or fdatasync) called on it before it is closed; closed before the rename over
/// the target; the directory fsynced after the rename; the target never opened for writing.
fn check_atomic(
    t: &Trace,
    target: &Path,
    sync: &str,
    mode: Option<&str>,
    content: Option<&str>,
) -> Vec<String> {
    let mut v = Vec::new();
    let dir = target.parent().expect("target has a directory");
    let renames: Vec<Rename> = t
        .renames()
        .into_iter()
        .filter(|r| r.ok && r.to == target)
        .collect();
    let Some(rename) = renames.first() else {
        v.push(format!("nothing is renamed over {}", target.display()));
        return v;
    };
    if renames.len() > 1 {
        v.push(format!("{} renames over the target", renames.len()));
    }
    let temp_path = &rename.from;
    let name_ok = temp_path.parent() == Some(dir)
        && temp_path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".durable-tmp"));
    if !name_ok {
        v.push(format!(
            "the file renamed over the target is not a temporary file in its directory: {}",
            temp_path.display()
        ));
    }
    let creates: Vec<usize> = t
        .opens_of(temp_path)
        .into_iter()
        .filter(|&o| t.opens[o].at < rename.at)
        .collect();
    let Some(&temp) = creates.first() else {
        v.push(format!(
            "the renamed file {} is never opened",
            temp_path.display()
        ));
        return v;
    };
    if creates.len() > 1 {
        v.push(format!(
            "the temporary file is opened {} times",
            creates.len()
        ));
    }
    check_exclusive_private(t, temp, "the temporary file", &mut v);

    // The content goes to the temporary file, and only there.
    let writes = t.ok_calls_on(temp, WRITES);
    if writes.is_empty() {
        v.push("nothing is written to the temporary file".into());
    }
    if let Some(content) = content {
        let found = writes.iter().any(|&i| {
            t.calls[i]
                .arg(1)
                .and_then(|a| unquote(&a))
                .is_some_and(|s| s.contains(content))
        });
        if !found {
            v.push(format!(
                "no write to the temporary file carries the content {content:?}"
            ));
        }
    }
    for i in t.writes_under(dir) {
        if t.handle[i] != Some(temp) {
            v.push(format!(
                "a write goes to a file other than the temporary file: {}",
                t.show(i)
            ));
        }
    }

    // Metadata, then the flush, then the close, then the rename, then the directory flush.
    let syncs = t.ok_calls_on(temp, &[sync]);
    let other = if sync == "fsync" {
        "fdatasync"
    } else {
        "fsync"
    };
    for i in t.calls_on(temp, &[other]) {
        v.push(format!(
            "the temporary file is flushed with {other}, not {sync}: {}",
            t.show(i)
        ));
    }
    let Some(&synced) = syncs.first() else {
        v.push(format!("the temporary file is never flushed with {sync}"));
        return v;
    };
    if let Some(&last) = writes.last()
        && last > synced
    {
        v.push(format!(
            "the temporary file is written after its flush: {}",
            t.show(last)
        ));
    }
    let chmods = t.ok_calls_on(temp, &["fchmod"]);
    match chmods.last() {
        None => v.push("the temporary file's mode is never set (fchmod)".into()),
        Some(&i) => {
            if i > synced {
                v.push(format!(
                    "fchmod of the temporary file comes after its flush: {}",
                    t.show(i)
                ));
            }
            if let Some(mode) = mode
                && t.calls[i].arg(1).as_deref() != Some(mode)
            {
                v.push(format!(
                    "the temporary file gets a mode other than {mode}: {}",
                    t.show(i)
                ));
            }
        }
    }
    let closes = t.ok_calls_on(temp, &["close"]);
    match closes.first() {
        None => v.push("the temporary file is never closed (successfully)".into()),
        Some(&closed) => {
            if closed < synced {
                v.push(format!(
                    "the temporary file is closed before it is flushed: {}",
                    t.show(closed)
                ));
            }
            if closed > rename.at {
                v.push(format!(
                    "the temporary file is still open at the rename: {} comes after {}",
                    t.show(closed),
                    t.show(rename.at)
                ));
            }
        }
    }
    if synced > rename.at {
        v.push(format!(
            "the temporary file is flushed after the rename: {} comes after {}",
            t.show(synced),
            t.show(rename.at)
        ));
    }
    if !t.dir_syncs(dir).iter().any(|&i| i > rename.at) {
        v.push(format!(
            "the directory {} is not flushed after the rename",
            dir.display()
        ));
    }

    // The target itself is only ever read.
    for o in t.opens_of(target) {
        let flags = &t.opens[o].flags;
        if ["O_WRONLY", "O_RDWR", "O_TRUNC", "O_CREAT"]
            .iter()
            .any(|f| has_flag(flags, f))
        {
            v.push(format!(
                "the target is opened for writing: {}",
                t.show(t.opens[o].at)
            ));
        }
    }
    v
}

/// The journal strategy over `target`: the journal created `O_CREAT|O_EXCL|O_CLOEXEC` 0600 and
/// locked; the journal written and flushed, and the directory flushed, before the first write to
/// the target; the target truncated and flushed after its last write and before the journal is
/// unlinked; the directory flushed after the unlink.
fn check_journal(t: &Trace, target: &Path, sync: &str) -> Vec<String> {
    let mut v = Vec::new();
    let dir = target.parent().expect("target has a directory");
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .expect("utf-8 name");
    let journal_path = dir.join(format!(".{name}.durable-journal"));
    // The journal is created under a name of its own, locked, then renamed (no-replace) to
    // its name: it must never have that name unlocked (a concurrent save would take it for an
    // interrupted journal and remove it).
    let Some(named) = t
        .renames()
        .into_iter()
        .find(|r| r.ok && r.to == journal_path)
    else {
        v.push(format!(
            "the journal {} is never given its name by a rename",
            journal_path.display()
        ));
        return v;
    };
    if !has_flag(&named.flags, "RENAME_NOREPLACE") {
        v.push(format!(
            "the rename that names the journal may replace another: {}",
            t.show(named.at)
        ));
    }
    let Some(journal) = t
        .opens_of(&named.from)
        .into_iter()
        .rev()
        .find(|&o| has_flag(&t.opens[o].flags, "O_CREAT") && t.opens[o].at < named.at)
    else {
        v.push(format!(
            "the file renamed to the journal, {}, is never created",
            named.from.display()
        ));
        return v;
    };
    check_exclusive_private(t, journal, "the journal", &mut v);
    if !t
        .ok_calls_on(journal, &["flock"])
        .iter()
        .any(|&i| i < named.at && t.calls[i].args.contains("LOCK_EX"))
    {
        v.push(format!(
            "the journal has its name before it is locked: {}",
            t.show(named.at)
        ));
    }
    let writers: Vec<usize> = t
        .opens_of(target)
        .into_iter()
        .filter(|&o| {
            has_flag(&t.opens[o].flags, "O_RDWR") || has_flag(&t.opens[o].flags, "O_WRONLY")
        })
        .collect();
    let Some(&out) = writers.first() else {
        v.push("the target is never opened for writing".into());
        return v;
    };
    if writers.len() > 1 {
        v.push(format!(
            "the target is opened for writing {} times",
            writers.len()
        ));
    }
    let target_writes = t.ok_calls_on(out, WRITES);
    let Some(&first_write) = target_writes.first() else {
        v.push("nothing is written to the target".into());
        return v;
    };
    let journal_writes = t.ok_calls_on(journal, WRITES);
    if journal_writes.is_empty() {
        v.push("nothing is written to the journal".into());
    }
    if !t
        .ok_calls_on(journal, &["flock"])
        .iter()
        .any(|&i| i < first_write && t.calls[i].args.contains("LOCK_EX"))
    {
        v.push("the journal is not locked (flock LOCK_EX) before the target is written".into());
    }
    match t.ok_calls_on(journal, &[sync]).first() {
        None => v.push(format!("the journal is never flushed with {sync}")),
        Some(&synced) => {
            if synced > first_write {
                v.push(format!(
                    "the journal is flushed only after the target is written: {} comes after {}",
                    t.show(synced),
                    t.show(first_write)
                ));
            }
            if let Some(&late) = journal_writes.iter().find(|&&i| i > synced) {
                v.push(format!(
                    "the journal is written after its flush: {}",
                    t.show(late)
                ));
            }
        }
    }
    if !t
        .dir_syncs(dir)
        .iter()
        .any(|&i| i > named.at && i < first_write)
    {
        v.push(
            "the directory is not flushed between naming the journal and writing the target".into(),
        );
    }
    let last_write = *target_writes.last().expect("not empty");
    let target_syncs: Vec<usize> = t
        .ok_calls_on(out, &[sync])
        .into_iter()
        .filter(|&i| i > last_write)
        .collect();
    let Some(&target_synced) = target_syncs.first() else {
        v.push(format!(
            "the target is not flushed with {sync} after its last write"
        ));
        return v;
    };
    if !t
        .ok_calls_on(out, &["ftruncate"])
        .iter()
        .any(|&i| i < target_synced)
    {
        v.push("the target is not truncated before it is flushed".into());
    }
    let unlinks = t.unlinks_of(&journal_path);
    let Some(&unlinked) = unlinks.first() else {
        v.push("the journal is never unlinked".into());
        return v;
    };
    if unlinked < target_synced {
        v.push(format!(
            "the journal is unlinked before the target is flushed: {} comes before {}",
            t.show(unlinked),
            t.show(target_synced)
        ));
    }
    if !t.dir_syncs(dir).iter().any(|&i| i > unlinked) {
        v.push("the directory is not flushed after the journal is unlinked".into());
    }
    v
}

/// A target created by an in-place (or journaled) save: after the `openat(O_CREAT)` that created
/// it and the flush of its content, the directory is flushed. Also returns the index of that
/// directory flush.
fn check_created_then_dir_synced(
    t: &Trace,
    target: &Path,
    sync: &str,
) -> (Vec<String>, Option<usize>) {
    let mut v = Vec::new();
    let dir = target.parent().expect("target has a directory");
    let creates: Vec<usize> = t
        .opens_of(target)
        .into_iter()
        .filter(|&o| has_flag(&t.opens[o].flags, "O_CREAT"))
        .collect();
    let Some(&created) = creates.first() else {
        v.push("the target is never created (openat with O_CREAT)".into());
        return (v, None);
    };
    let synced = t.ok_calls_on(created, &[sync]).first().copied();
    if synced.is_none() {
        v.push(format!("the new target is never flushed with {sync}"));
    }
    let after = synced.unwrap_or(t.opens[created].at);
    let dir_synced = t.dir_syncs(dir).into_iter().find(|&i| i > after);
    if dir_synced.is_none() {
        v.push(format!(
            "the directory {} is not flushed after the target is created and flushed",
            dir.display()
        ));
    }
    (v, dir_synced)
}

fn assert_clean(violations: &[String], what: &str, trace: &str) {
    assert!(
        violations.is_empty(),
        "{what}: the system calls break the durability protocol:\n  - {}\n--- trace ---\n{trace}",
        violations.join("\n  - ")
    );
}

// ---------------------------------------------------------------------------------------------
// Running durable under strace
// ---------------------------------------------------------------------------------------------

struct Traced {
    trace: Trace,
    text: String,
    code: Option<i32>,
    stderr: String,
}

/// A scratch directory with its canonical path (strace prints resolved paths).
fn scratch() -> (Env, PathBuf) {
    let env = Env::new();
    let root = env
        .dir
        .path()
        .canonicalize()
        .expect("canonical scratch dir");
    (env, root)
}

/// Run `durable save ARGS…` under strace with `input` on stdin. `None` (after saying why) when
/// strace is missing or cannot trace here.
fn traced_save(test: &str, root: &Path, args: &[&str], input: &str) -> Option<Traced> {
    let trace_set = format!("trace={TRACED}");
    let mut full = vec!["save"];
    full.extend_from_slice(args);
    let run = run_under_strace(
        test,
        &["-f", "-y", "-s", "256", "-e", &trace_set],
        &common::durable_path(),
        &full,
        root,
        input.as_bytes(),
    )?;
    let trace = Trace::parse(&run.text, root)
        .unwrap_or_else(|e| panic!("{test}: cannot parse the trace: {e}\n{}", run.text));
    Some(Traced {
        trace,
        code: run.output.status.code(),
        stderr: String::from_utf8_lossy(&run.output.stderr).into_owned(),
        text: run.text,
    })
}

fn assert_saved(test: &str, traced: &Traced, target: &Path, content: &str) {
    assert_eq!(
        traced.code,
        Some(0),
        "{test}: durable save failed under strace: {}",
        traced.stderr
    );
    assert_eq!(
        std::fs::read_to_string(target).expect("read target"),
        content,
        "{test}: the target does not hold the new content"
    );
}

const OLD: &str = "old content: the previous version, longer than the new one\n";
const NEW: &str = "NEW-CONTENT-7f3a\n";

// ---------------------------------------------------------------------------------------------
// Tests of the real binary
// ---------------------------------------------------------------------------------------------

#[test]
fn atomic_save_flushes_closes_renames_then_flushes_the_directory() {
    let test = "save_syscalls::atomic_save_flushes_closes_renames_then_flushes_the_directory";
    let (env, root) = scratch();
    let target = env.write("t", OLD);
    std::fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(0o640))
        .expect("chmod");
    let target = root.join("t");
    let Some(traced) = traced_save(test, &root, &[target.to_str().unwrap()], NEW) else {
        return;
    };
    assert_saved(test, &traced, &target, NEW);
    let v = check_atomic(&traced.trace, &target, "fsync", Some("0640"), Some(NEW));
    assert_clean(&v, test, &traced.text);
    env.assert_no_leftovers();
}

#[test]
fn the_temporary_name_comes_from_the_getrandom_call_not_a_device_file() {
    // A statically linked binary cannot find libc's getrandom with dlsym; the getrandom crate then
    // opened /dev/random and /dev/urandom (five more calls a save) instead of asking the kernel.
    let test = "save_syscalls::the_temporary_name_comes_from_the_getrandom_call_not_a_device_file";
    let (_env, root) = scratch();
    let target = root.join("t");
    let Some(traced) = traced_save(test, &root, &[target.to_str().unwrap()], NEW) else {
        return;
    };
    assert_saved(test, &traced, &target, NEW);
    let devices: Vec<&Open> = (traced.trace.opens.iter())
        .filter(|o| o.path.starts_with("/dev"))
        .collect();
    assert!(
        devices.is_empty(),
        "{test}: the save opened {:?}\n{}",
        devices.iter().map(|o| &o.path).collect::<Vec<_>>(),
        traced.text
    );
}

#[test]
fn a_small_save_from_a_file_or_a_pipe_maps_no_megabyte_buffer() {
    // The read buffer fits content of a known length and starts small from a pipe; a 1 MiB
    // buffer for 4 KiB of content cost every small save an mmap and an munmap (the allocator
    // maps buffers that big).
    let test = "save_syscalls::a_small_save_from_a_file_or_a_pipe_maps_no_megabyte_buffer";
    let (env, root) = scratch();
    let content = vec![b'x'; 4096];
    let input = env.write("in", &content);
    let target = root.join("t");
    let from_file = [
        "save",
        "--from",
        input.to_str().unwrap(),
        target.to_str().unwrap(),
    ];
    let from_pipe = ["save", target.to_str().unwrap()];
    for (args, stdin, what) in [
        (&from_file[..], &b""[..], "--from FILE"),
        (&from_pipe[..], &content[..], "a pipe"),
    ] {
        let Some(run) = run_under_strace(
            test,
            &["-f", "-e", "trace=mmap,munmap"],
            &common::durable_path(),
            args,
            &root,
            stdin,
        ) else {
            return;
        };
        assert!(
            run.output.status.success(),
            "{test}: the save from {what} failed"
        );
        assert_eq!(std::fs::read(&target).expect("read the target"), content);
        let big: Vec<&str> = (run.text.lines())
            .filter(|line| {
                line.contains("MAP_ANONYMOUS")
                    && line
                        .split(", ")
                        .nth(1)
                        .and_then(|len| len.parse::<u64>().ok())
                        .is_some_and(|len| len >= 1 << 20)
            })
            .collect();
        assert!(
            big.is_empty(),
            "{test}: a 4 KiB save from {what} mapped {big:?}\n{}",
            run.text
        );
    }
}

#[test]
fn atomic_save_with_sync_data_uses_fdatasync_and_still_flushes_the_directory() {
    let test =
        "save_syscalls::atomic_save_with_sync_data_uses_fdatasync_and_still_flushes_the_directory";
    let (env, root) = scratch();
    env.write("t", OLD);
    let target = root.join("t");
    let Some(traced) = traced_save(
        test,
        &root,
        &["--sync", "data", target.to_str().unwrap()],
        NEW,
    ) else {
        return;
    };
    assert_saved(test, &traced, &target, NEW);
    let v = check_atomic(&traced.trace, &target, "fdatasync", None, Some(NEW));
    assert_clean(&v, test, &traced.text);
}

#[test]
fn sync_none_flushes_nothing_in_any_strategy() {
    let test = "save_syscalls::sync_none_flushes_nothing_in_any_strategy";
    for strategy in ["atomic", "in-place", "journal"] {
        for (existing, backup) in [(true, false), (true, true), (false, false)] {
            let (env, root) = scratch();
            if existing {
                env.write("t", OLD);
            }
            let target = root.join("t");
            let mut args = vec!["--sync", "none", "--strategy", strategy];
            if backup {
                args.push("--backup");
            }
            args.push(target.to_str().unwrap());
            let Some(traced) = traced_save(test, &root, &args, NEW) else {
                return;
            };
            let case =
                format!("{test} ({strategy}, existing target: {existing}, --backup: {backup})");
            assert_saved(&case, &traced, &target, NEW);
            let flushes: Vec<String> = (0..traced.trace.calls.len())
                .filter(|&i| SYNCS.contains(&traced.trace.calls[i].name.as_str()))
                .map(|i| traced.trace.show(i))
                .collect();
            assert!(
                flushes.is_empty(),
                "{case}: --sync none still flushes: {flushes:?}\n--- trace ---\n{}",
                traced.text
            );
            assert_eq!(traced.trace.count(SYNCS), 0);
            env.assert_no_leftovers();
        }
    }
}

#[test]
fn journal_is_durable_before_the_target_is_written_and_removed_after_it_is_flushed() {
    let test = "save_syscalls::journal_is_durable_before_the_target_is_written_and_removed_after_it_is_flushed";
    for sync in ["full", "data"] {
        let (env, root) = scratch();
        env.write("t", OLD);
        let target = root.join("t");
        let Some(traced) = traced_save(
            test,
            &root,
            &[
                "--strategy",
                "journal",
                "--sync",
                sync,
                target.to_str().unwrap(),
            ],
            NEW,
        ) else {
            return;
        };
        let case = format!("{test} (--sync {sync})");
        assert_saved(&case, &traced, &target, NEW);
        let call = if sync == "full" { "fsync" } else { "fdatasync" };
        let v = check_journal(&traced.trace, &target, call);
        assert_clean(&v, &case, &traced.text);
        env.assert_no_leftovers();
    }
}

#[test]
fn no_clobber_renames_with_renameat2_noreplace() {
    let test = "save_syscalls::no_clobber_renames_with_renameat2_noreplace";
    let (_env, root) = scratch();
    let target = root.join("t");
    let Some(traced) = traced_save(
        test,
        &root,
        &["--no-clobber", target.to_str().unwrap()],
        NEW,
    ) else {
        return;
    };
    assert_saved(test, &traced, &target, NEW);
    let renames: Vec<Rename> = traced
        .trace
        .renames()
        .into_iter()
        .filter(|r| r.to == target)
        .collect();
    assert!(
        renames.iter().any(|r| r.ok
            && traced.trace.calls[r.at].name == "renameat2"
            && has_flag(&r.flags, "RENAME_NOREPLACE")),
        "{test}: no successful renameat2(…, RENAME_NOREPLACE) onto the target\n--- trace ---\n{}",
        traced.text
    );
    for r in &renames {
        assert!(
            has_flag(&r.flags, "RENAME_NOREPLACE"),
            "{test}: a rename onto the target may replace it: {}",
            traced.trace.show(r.at)
        );
    }
    let v = check_atomic(&traced.trace, &target, "fsync", None, Some(NEW));
    assert_clean(&v, test, &traced.text);
}

#[test]
fn new_file_in_place_flushes_the_directory_after_creating_it() {
    let test = "save_syscalls::new_file_in_place_flushes_the_directory_after_creating_it";
    let (_env, root) = scratch();
    let target = root.join("t");
    let Some(traced) = traced_save(
        test,
        &root,
        &["--strategy", "in-place", target.to_str().unwrap()],
        NEW,
    ) else {
        return;
    };
    assert_saved(test, &traced, &target, NEW);
    let (v, _) = check_created_then_dir_synced(&traced.trace, &target, "fsync");
    assert_clean(&v, test, &traced.text);
}

#[test]
fn new_file_journal_makes_the_name_durable_before_removing_the_journal() {
    let test = "save_syscalls::new_file_journal_makes_the_name_durable_before_removing_the_journal";
    let (_env, root) = scratch();
    let target = root.join("t");
    let Some(traced) = traced_save(
        test,
        &root,
        &["--strategy", "journal", target.to_str().unwrap()],
        NEW,
    ) else {
        return;
    };
    assert_saved(test, &traced, &target, NEW);
    let (mut v, dir_synced) = check_created_then_dir_synced(&traced.trace, &target, "fsync");
    v.extend(check_journal(&traced.trace, &target, "fsync"));
    let journal = root.join(".t.durable-journal");
    if let (Some(synced), Some(&unlinked)) = (dir_synced, traced.trace.unlinks_of(&journal).first())
        && synced > unlinked
    {
        v.push("the new target's name is made durable only after the journal that could recreate it is gone".into());
    }
    assert_clean(&v, test, &traced.text);
}

#[test]
fn checker_catches_steps_dropped_from_or_moved_in_a_real_trace() {
    let test = "save_syscalls::checker_catches_steps_dropped_from_or_moved_in_a_real_trace";
    let (env, root) = scratch();
    env.write("t", OLD);
    let target = root.join("t");
    let Some(traced) = traced_save(test, &root, &[target.to_str().unwrap()], NEW) else {
        return;
    };
    assert_saved(test, &traced, &target, NEW);
    let lines: Vec<&str> = traced.text.lines().collect();
    let find = |pred: &dyn Fn(&str) -> bool| {
        lines
            .iter()
            .position(|l| pred(l))
            .unwrap_or_else(|| panic!("{test}: expected line missing from\n{}", traced.text))
    };
    let temp_fsync = find(&|l| l.contains(" fsync(") && l.contains(".durable-tmp>"));
    let rename = find(&|l| l.contains(" rename(") || l.contains(" renameat"));
    let check = |text: String| {
        let trace = Trace::parse(&text, &root).expect("parses");
        check_atomic(&trace, &target, "fsync", None, Some(NEW))
    };
    let join = |ls: Vec<&str>| ls.into_iter().map(|l| format!("{l}\n")).collect::<String>();

    let mut without = lines.clone();
    without.remove(temp_fsync);
    assert_reports(
        &check(join(without)),
        "never flushed with fsync",
        "a real trace without the temp's fsync",
    );

    // The fsync and the close moved after the rename (an fsync of a closed descriptor would fail).
    let temp_close = find(&|l| l.contains(" close(") && l.contains(".durable-tmp>"));
    assert!(
        temp_fsync < temp_close && temp_close < rename,
        "{test}: unexpected order\n{}",
        traced.text
    );
    let mut late = lines.clone();
    let close_line = late.remove(temp_close);
    let fsync_line = late.remove(temp_fsync);
    // The rename moved up two places, so these land just after it.
    late.insert(rename - 1, close_line);
    late.insert(rename - 1, fsync_line);
    assert_reports(
        &check(join(late)),
        "flushed after the rename",
        "a real trace with the fsync after the rename",
    );

    let mut no_dir_sync = lines.clone();
    no_dir_sync.retain(|l| !l.contains(" fsync(") || l.contains(".durable-tmp>"));
    assert_reports(
        &check(join(no_dir_sync)),
        "not flushed after the rename",
        "a real trace without the directory fsync",
    );
}

// ---------------------------------------------------------------------------------------------
// The parser and the checkers on hand-written traces (no strace needed)
// ---------------------------------------------------------------------------------------------

const D: &str = "/tmp/durable-test-x";

/// A hand-written trace: lines with a tag each, so a test can drop or move a step.
type Lines = Vec<(&'static str, String)>;

/// A correct atomic save of /tmp/durable-test-x/t, as strace -f -y prints it; `edit` may drop or
/// move lines (given by their tag) before it is joined.
fn atomic_trace(edit: impl FnOnce(&mut Lines)) -> String {
    let tmp = format!("{D}/.t.0123456789abcdef.durable-tmp");
    let mut lines: Lines = vec![
        (
            "read-target",
            format!("100 openat(AT_FDCWD<{D}>, \"{D}/t\", O_RDONLY|O_CLOEXEC) = 5<{D}/t>"),
        ),
        (
            "create",
            format!(
                "100 openat(AT_FDCWD<{D}>, \"{tmp}\", O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0600) = 6<{tmp}>"
            ),
        ),
        (
            "write",
            format!("100 write(6<{tmp}>, \"NEW-CONTENT-7f3a\\n\", 17) = 17"),
        ),
        ("fchown", format!("100 fchown(6<{tmp}>, 0, 0) = 0")),
        ("fchmod", format!("100 fchmod(6<{tmp}>, 0640) = 0")),
        ("fsync", format!("100 fsync(6<{tmp}>) = 0")),
        ("close", format!("100 close(6<{tmp}>) = 0")),
        ("rename", format!("100 rename(\"{tmp}\", \"{D}/t\") = 0")),
        (
            "open-dir",
            format!("100 openat(AT_FDCWD<{D}>, \"{D}\", O_RDONLY|O_CLOEXEC|O_DIRECTORY) = 6<{D}>"),
        ),
        ("fsync-dir", format!("100 fsync(6<{D}>) = 0")),
        ("close-dir", format!("100 close(6<{D}>) = 0")),
        ("close-target", format!("100 close(5<{D}/t>(deleted)) = 0")),
        ("exit", "100 +++ exited with 0 +++".into()),
    ];
    edit(&mut lines);
    lines.into_iter().map(|(_, l)| l + "\n").collect()
}

fn check_hand_written_atomic(text: &str) -> Vec<String> {
    let trace = Trace::parse(text, Path::new(D)).expect("hand-written trace parses");
    check_atomic(
        &trace,
        &Path::new(D).join("t"),
        "fsync",
        Some("0640"),
        Some(NEW),
    )
}

fn remove(lines: &mut Lines, tag: &str) -> (&'static str, String) {
    let i = lines.iter().position(|(t, _)| *t == tag).expect("tag");
    lines.remove(i)
}

fn move_after(lines: &mut Lines, tag: &str, after: &str) {
    let line = remove(lines, tag);
    let i = lines.iter().position(|(t, _)| *t == after).expect("tag");
    lines.insert(i + 1, line);
}

fn assert_reports(violations: &[String], expected: &str, what: &str) {
    assert!(
        violations.iter().any(|v| v.contains(expected)),
        "the checker missed {what}: expected a violation containing {expected:?}, got {violations:?}"
    );
}

#[test]
fn parser_reads_calls_fds_paths_and_joins_resumed_lines() {
    let text = "\
4242  openat(AT_FDCWD</tmp/a b>, \"x, (y)z\", O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0600) = 3</tmp/a b/x, (y)z>
4243  fsync(3</tmp/a b/x, (y)z> <unfinished ...>
4242  write(3</tmp/a b/x, (y)z>, \"a) = \\\"1\\\"\\n\", 9) = 9
4243  <... fsync resumed>)              = 0
4242  openat(AT_FDCWD</tmp/a b>, \"missing\", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory)
4242  --- SIGABRT {si_signo=SIGABRT, si_code=SI_TKILL, si_pid=4242, si_uid=0} ---
4242  +++ killed by SIGABRT (core dumped) +++
";
    let calls = parse_trace(text).expect("parses");
    assert_eq!(calls.len(), 4, "{calls:#?}");
    assert_eq!(calls[0].name, "openat");
    assert_eq!(calls[0].ret, 3);
    assert_eq!(
        calls[0].arg_list(),
        [
            "AT_FDCWD</tmp/a b>",
            "\"x, (y)z\"",
            "O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC",
            "0600"
        ]
    );
    assert_eq!(unquote(&calls[0].arg(1).unwrap()).unwrap(), "x, (y)z");
    assert_eq!(calls[1].name, "write");
    assert_eq!(calls[1].arg_list().len(), 3);
    assert_eq!(unquote(&calls[1].arg(1).unwrap()).unwrap(), "a) = \"1\"\n");
    assert_eq!(
        (calls[2].pid, calls[2].name.as_str(), calls[2].ret),
        (4243, "fsync", 0)
    );
    assert_eq!(calls[2].fd(), Some(3));
    assert_eq!(calls[3].ret, -1);
    assert!(calls[3].ret_text.contains("ENOENT"));
    assert_eq!(
        fd_and_path("5</tmp/x/t>(deleted)"),
        (Some(5), Some("/tmp/x/t".into()))
    );
    assert_eq!(
        fd_and_path("AT_FDCWD</tmp/x>"),
        (None, Some("/tmp/x".into()))
    );

    // Descriptors are followed back to the open that made them, through reuse of the number.
    let trace = Trace::parse(text, Path::new("/tmp/a b")).expect("parses");
    let opens = trace.opens_of(Path::new("/tmp/a b/x, (y)z"));
    assert_eq!(opens.len(), 1);
    assert_eq!(trace.ok_calls_on(opens[0], &["fsync"]), [2]);
    assert_eq!(trace.ok_calls_on(opens[0], WRITES), [1]);
    assert!(parse_trace("4242  <... fsync resumed>) = 0\n").is_err());
    assert!(parse_trace("4242  garbage\n").is_err());
}

#[test]
fn checker_accepts_a_correct_atomic_trace() {
    assert_eq!(
        check_hand_written_atomic(&atomic_trace(|_| {})),
        Vec::<String>::new()
    );
}

#[test]
fn checker_reports_a_missing_or_misplaced_fsync_in_an_atomic_trace() {
    let missing = check_hand_written_atomic(&atomic_trace(|l| {
        remove(l, "fsync");
    }));
    assert_reports(
        &missing,
        "never flushed with fsync",
        "a missing fsync of the temp",
    );

    let after_rename = check_hand_written_atomic(&atomic_trace(|l| {
        // fsync and close moved after the rename: strace then prints the target's name for the fd.
        let (_, fsync) = remove(l, "fsync");
        let (_, close) = remove(l, "close");
        let i = l.iter().position(|(t, _)| *t == "rename").unwrap();
        let renamed = |s: String| s.replace(".t.0123456789abcdef.durable-tmp", "t");
        l.insert(i + 1, ("fsync", renamed(fsync)));
        l.insert(i + 2, ("close", renamed(close)));
    }));
    assert_reports(
        &after_rename,
        "flushed after the rename",
        "an fsync after the rename",
    );
    assert_reports(
        &after_rename,
        "still open at the rename",
        "a close after the rename",
    );

    // Closed before the flush: the fsync then fails on a closed descriptor.
    let closed_first = check_hand_written_atomic(&atomic_trace(|l| {
        move_after(l, "close", "write");
        let i = l.iter().position(|(t, _)| *t == "fsync").unwrap();
        l[i].1 = "100 fsync(6) = -1 EBADF (Bad file descriptor)".into();
    }));
    assert_reports(
        &closed_first,
        "never flushed with fsync",
        "a close before the fsync",
    );

    let wrong_sync = check_hand_written_atomic(&atomic_trace(|l| {
        let i = l.iter().position(|(t, _)| *t == "fsync").unwrap();
        l[i].1 = l[i].1.replace("fsync(", "fdatasync(");
    }));
    assert_reports(
        &wrong_sync,
        "flushed with fdatasync, not fsync",
        "fdatasync where fsync is due",
    );

    let dir_first = check_hand_written_atomic(&atomic_trace(|l| {
        move_after(l, "open-dir", "close");
        move_after(l, "fsync-dir", "open-dir");
        move_after(l, "close-dir", "fsync-dir");
    }));
    assert_reports(
        &dir_first,
        "not flushed after the rename",
        "a directory fsync before the rename",
    );

    let no_dir = check_hand_written_atomic(&atomic_trace(|l| {
        remove(l, "fsync-dir");
    }));
    assert_reports(
        &no_dir,
        "not flushed after the rename",
        "a missing directory fsync",
    );

    let not_exclusive = check_hand_written_atomic(&atomic_trace(|l| {
        let i = l.iter().position(|(t, _)| *t == "create").unwrap();
        l[i].1 = l[i].1.replace("|O_EXCL", "").replace("0600", "0644");
    }));
    assert_reports(&not_exclusive, "without O_EXCL", "a non-exclusive temp");
    assert_reports(&not_exclusive, "mode 0600", "a temp not created 0600");

    let in_place = check_hand_written_atomic(&atomic_trace(|l| {
        l.insert(
            1,
            (
                "write-target",
                format!(
                    "100 openat(AT_FDCWD<{D}>, \"{D}/t\", O_WRONLY|O_TRUNC|O_CLOEXEC) = 7<{D}/t>"
                ),
            ),
        );
        l.insert(2, ("w", format!("100 write(7<{D}/t>, \"x\", 1) = 1")));
    }));
    assert_reports(
        &in_place,
        "target is opened for writing",
        "an open of the target for writing",
    );
    assert_reports(
        &in_place,
        "other than the temporary file",
        "a write to the target",
    );
}

#[test]
fn checker_reports_a_journal_flushed_after_the_target_is_written() {
    let j = format!("{D}/.t.durable-journal");
    let tmp = format!("{D}/.t.0123456789abcdef.durable-tmp");
    let good: Lines = vec![
        (
            "read",
            format!("9 openat(AT_FDCWD<{D}>, \"{D}/t\", O_RDONLY|O_CLOEXEC) = 5<{D}/t>"),
        ),
        (
            "create",
            format!(
                "9 openat(AT_FDCWD<{D}>, \"{tmp}\", O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0600) = 6<{tmp}>"
            ),
        ),
        ("lock", format!("9 flock(6<{tmp}>, LOCK_EX|LOCK_NB) = 0")),
        (
            "name",
            format!(
                "9 renameat2(AT_FDCWD<{D}>, \"{tmp}\", AT_FDCWD<{D}>, \"{j}\", RENAME_NOREPLACE) = 0"
            ),
        ),
        (
            "jwrite",
            format!("9 pwrite64(6<{j}>, \"new\\n\", 4, 64) = 4"),
        ),
        (
            "jheader",
            format!("9 pwrite64(6<{j}>, \"DURJNL\\0\\1\"..., 64, 0) = 64"),
        ),
        ("jsync", format!("9 fsync(6<{j}>) = 0")),
        (
            "dopen",
            format!("9 openat(AT_FDCWD<{D}>, \"{D}\", O_RDONLY|O_CLOEXEC|O_DIRECTORY) = 7<{D}>"),
        ),
        ("dsync", format!("9 fsync(7<{D}>) = 0")),
        ("dclose", format!("9 close(7<{D}>) = 0")),
        (
            "topen",
            format!(
                "9 openat(AT_FDCWD<{D}>, \"{D}/t\", O_RDWR|O_CREAT|O_NOFOLLOW|O_CLOEXEC, 0644) = 7<{D}/t>"
            ),
        ),
        (
            "twrite",
            format!("9 pwrite64(7<{D}/t>, \"new\\n\", 4, 0) = 4"),
        ),
        ("trunc", format!("9 ftruncate(7<{D}/t>, 4) = 0")),
        ("tsync", format!("9 fsync(7<{D}/t>) = 0")),
        ("tclose", format!("9 close(7<{D}/t>) = 0")),
        ("unlink", format!("9 unlink(\"{j}\") = 0")),
        (
            "d2open",
            format!("9 openat(AT_FDCWD<{D}>, \"{D}\", O_RDONLY|O_CLOEXEC|O_DIRECTORY) = 7<{D}>"),
        ),
        ("d2sync", format!("9 fsync(7<{D}>) = 0")),
        ("d2close", format!("9 close(7<{D}>) = 0")),
    ];
    let check = |edit: &dyn Fn(&mut Lines)| {
        let mut lines = good.clone();
        edit(&mut lines);
        let text: String = lines.into_iter().map(|(_, l)| l + "\n").collect();
        let trace = Trace::parse(&text, Path::new(D)).expect("parses");
        check_journal(&trace, &Path::new(D).join("t"), "fsync")
    };
    assert_eq!(check(&|_| {}), Vec::<String>::new());
    let late = check(&|l| move_after(l, "jsync", "twrite"));
    assert_reports(
        &late,
        "flushed only after the target is written",
        "a late journal fsync",
    );
    let no_dir = check(&|l| {
        remove(l, "dsync");
    });
    assert_reports(
        &no_dir,
        "not flushed between naming the journal",
        "a missing directory fsync",
    );
    let named_unlocked = check(&|l| move_after(l, "lock", "name"));
    assert_reports(
        &named_unlocked,
        "has its name before it is locked",
        "a journal named before it is locked",
    );
    let early_unlink = check(&|l| move_after(l, "unlink", "trunc"));
    assert_reports(
        &early_unlink,
        "unlinked before the target is flushed",
        "an early unlink",
    );
    let no_final = check(&|l| {
        remove(l, "d2sync");
    });
    assert_reports(
        &no_final,
        "not flushed after the journal is unlinked",
        "a missing final fsync",
    );
}
