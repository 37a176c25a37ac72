//! Logs written by other programs (issue 6), through the real binary: the seed notes'
//! checksummed text log (`lines`), proglog's store and index (`proglog`) and files of the Go
//! `aof` package (`aof`). The contract is /work/notes/formats-spec.md (summarised in
//! docs/FORMAT.md); the fixtures are built here from the layouts, independently of durable's
//! readers:
//!
//! - lines: `ENTRY SP sha256hex(ENTRY) LF` per entry (the seed writer's `"%s %s\n"`);
//! - proglog store: per record an 8-byte big-endian length and the data; index: 12-byte entries,
//!   a 4-byte big-endian relative offset and an 8-byte big-endian store position, trimmed on a
//!   clean close, zero-padded to its maximum size (1024 here) after an ungraceful shutdown;
//! - aof: the data of each write followed by the tail magic (the next write overwrites it),
//!   checkpoint magics that stay, and zeros to the mapped size (4096 here).
//!
//! Submodules: `lines`, `proglog`, `aof` (each format on its own), `detect` (detection matrix,
//! `--log-format`, directories), `commands` (round trips, selection, bad inputs, locks,
//! salvage), `crash` (a crash or an error at each recovery step converges), `append`
//! (`log append --log-format lines`).

#![allow(dead_code)] // not every submodule uses every helper

mod aof;
mod append;
mod commands;
mod crash;
mod detect;
mod lines;
mod proglog;

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::{self, Env, durable_path};
pub(crate) use crate::log::{Run, json_lines, payload_of, pseudo_random, run, s};

// ---------------------------------------------------------------------------------------------
// Fixtures: lines
// ---------------------------------------------------------------------------------------------

/// Entries of the standard lines fixture: spaces inside and at the end, an empty entry, bytes
/// that are not UTF-8, a tab and a backslash. No LF, no NUL (they round-trip through raw).
pub(crate) const LINE_ENTRIES: [&[u8]; 6] = [
    b"first entry",
    b"entry  with  spaces ",
    b"",
    b"\xff\xfe not utf-8 \xc3",
    b"tab\there \\ back",
    b"last",
];

/// SHA-256 of `data` as 64 lowercase hex digits.
pub(crate) fn sha_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// One line of the seed notes' log: `ENTRY SP sha256hex LF`.
pub(crate) fn line(entry: &[u8]) -> Vec<u8> {
    let mut out = entry.to_vec();
    out.push(b' ');
    out.extend_from_slice(sha_hex(entry).as_bytes());
    out.push(b'\n');
    out
}

/// A lines log of `entries`.
pub(crate) fn lines_log(entries: &[&[u8]]) -> Vec<u8> {
    entries.iter().flat_map(|e| line(e)).collect()
}

/// The start offset of each line, and the end of the last one (len + 1 values).
pub(crate) fn line_bounds(entries: &[&[u8]]) -> Vec<usize> {
    let mut out = vec![0];
    for e in entries {
        out.push(out.last().expect("one") + e.len() + 66);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Fixtures: proglog
// ---------------------------------------------------------------------------------------------

/// Records of the standard store fixture (no LF: they round-trip through raw; one empty).
pub(crate) const STORE_RECORDS: [&[u8]; 5] = [
    b"hello",
    b"proglog record",
    b"",
    b"\x00\x01\x02 binary \xff",
    b"z",
];

/// The maximum index size the fixtures pad to (proglog's `MaxIndexBytes`).
pub(crate) const INDEX_MAX: usize = 1024;

/// A proglog store of `records` (as `store.Append` writes them).
pub(crate) fn store(records: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        out.extend_from_slice(&(r.len() as u64).to_be_bytes());
        out.extend_from_slice(r);
    }
    out
}

/// The position of each record in the store, and the store's length (len + 1 values).
pub(crate) fn store_bounds(records: &[&[u8]]) -> Vec<usize> {
    let mut out = vec![0];
    for r in records {
        out.push(out.last().expect("one") + 8 + r.len());
    }
    out
}

/// Index bytes of these (relative offset, position) entries, trimmed (a clean close).
pub(crate) fn index(entries: &[(u32, u64)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (off, pos) in entries {
        out.extend_from_slice(&off.to_be_bytes());
        out.extend_from_slice(&pos.to_be_bytes());
    }
    out
}

/// The index proglog writes for a store of `records` (trimmed).
pub(crate) fn index_for(records: &[&[u8]]) -> Vec<u8> {
    let bounds = store_bounds(records);
    let entries: Vec<(u32, u64)> = (0..records.len())
        .map(|i| (i as u32, bounds[i] as u64))
        .collect();
    index(&entries)
}

/// `bytes` zero-padded to `size` (an index after an ungraceful shutdown, a mapped aof).
pub(crate) fn padded(bytes: &[u8], size: usize) -> Vec<u8> {
    assert!(bytes.len() <= size, "fixture larger than its padded size");
    let mut out = bytes.to_vec();
    out.resize(size, 0);
    out
}

// ---------------------------------------------------------------------------------------------
// Fixtures: aof
// ---------------------------------------------------------------------------------------------

/// The aof tail magic (little-endian bytes of 4727544184288126122).
pub(crate) const TAIL: [u8; 8] = [0xaa, 0x24, 0x75, 0x54, 0x63, 0x9c, 0x9b, 0x41];
/// The aof checkpoint magic (little-endian bytes of 17904250147343162156).
pub(crate) const CKPT: [u8; 8] = [0x2c, 0xdb, 0x1f, 0xf2, 0xa5, 0xac, 0x78, 0xf8];

/// The mapped size the aof fixtures are zero-filled to.
pub(crate) const AOF_SIZE: usize = 4096;

/// One operation of an aof writer.
#[derive(Clone, Copy)]
pub(crate) enum Op<'a> {
    /// `Write(b)`: the data, then the tail magic (overwritten by the next operation).
    Write(&'a [u8]),
    /// `Checkpoint()`: the checkpoint magic, which stays.
    Checkpoint,
}

/// An aof file as the package leaves it, with what a reader should find in it.
pub(crate) struct Aof {
    pub bytes: Vec<u8>,
    /// (payload, offset, ends_with, magic_offset) of each segment, split at checkpoint magics.
    pub segments: Vec<(Vec<u8>, usize, &'static str, usize)>,
    /// Offset of the tail magic at the end, if the last operation was a write.
    pub tail: Option<usize>,
    /// Offset of the last checkpoint magic.
    pub checkpoint: Option<usize>,
    /// The logical end: the tail magic's offset, or the end of the last checkpoint magic.
    pub logical_end: usize,
}

/// Build an aof file from `ops`, zero-filled to `size`.
pub(crate) fn aof(ops: &[Op], size: usize) -> Aof {
    let mut data = Vec::new();
    let mut segments = Vec::new();
    let mut seg_start = 0;
    let mut checkpoint = None;
    let mut last_was_write = false;
    for op in ops {
        match op {
            Op::Write(b) => {
                data.extend_from_slice(b);
                last_was_write = true;
            }
            Op::Checkpoint => {
                segments.push((
                    data[seg_start..].to_vec(),
                    seg_start,
                    "checkpoint",
                    data.len(),
                ));
                checkpoint = Some(data.len());
                data.extend_from_slice(&CKPT);
                seg_start = data.len();
                last_was_write = false;
            }
        }
    }
    let (tail, logical_end) = if last_was_write {
        segments.push((data[seg_start..].to_vec(), seg_start, "tail", data.len()));
        let at = data.len();
        data.extend_from_slice(&TAIL);
        (Some(at), at)
    } else {
        (None, data.len())
    };
    Aof {
        bytes: padded(&data, size),
        segments,
        tail,
        checkpoint,
        logical_end,
    }
}

/// The standard aof fixture: two writes, a checkpoint, a write, a checkpoint, two writes; it
/// ends with the tail magic. Three segments: "alpha-beta", "gamma", "delta-epsilon".
pub(crate) fn aof_standard() -> Aof {
    aof(
        &[
            Op::Write(b"alpha-"),
            Op::Write(b"beta"),
            Op::Checkpoint,
            Op::Write(b"gamma"),
            Op::Checkpoint,
            Op::Write(b"delta-"),
            Op::Write(b"epsilon"),
        ],
        AOF_SIZE,
    )
}

/// The offset of the last non-zero byte of `bytes`.
pub(crate) fn last_nonzero(bytes: &[u8]) -> Option<usize> {
    bytes.iter().rposition(|&b| b != 0)
}

// ---------------------------------------------------------------------------------------------
// Running durable
// ---------------------------------------------------------------------------------------------

/// `durable ARGS…` with no input.
pub(crate) fn go(env: &Env, args: &[&str]) -> Run {
    run(env, args, b"")
}

/// A readable account of a run, for assertion messages.
pub(crate) fn show(r: &Run) -> String {
    format!("exit {}\nstdout: {}\nstderr: {}", r.code, r.out(), r.stderr)
}

/// `log verify --json EXTRA… PATH`: exit code and the one report.
pub(crate) fn verify(env: &Env, path: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["log", "verify", "--json"];
    args.extend_from_slice(extra);
    args.push(s(path));
    let r = go(env, &args);
    let lines = json_lines(&r.stdout);
    assert_eq!(
        lines.len(),
        1,
        "verify --json {extra:?} {path:?}: one report expected; {}",
        show(&r)
    );
    (r.code, lines.into_iter().next().expect("one"))
}

/// `log dump --format json EXTRA… PATH`: the run and its objects.
pub(crate) fn dump(env: &Env, path: &Path, extra: &[&str]) -> (Run, Vec<Value>) {
    let mut args = vec!["log", "dump", "--format", "json"];
    args.extend_from_slice(extra);
    args.push(s(path));
    let r = go(env, &args);
    let v = json_lines(&r.stdout);
    (r, v)
}

/// The payloads of the record objects of a JSON dump (damage objects left out).
pub(crate) fn payloads_of(objects: &[Value]) -> Vec<Vec<u8>> {
    objects
        .iter()
        .filter(|v| v.get("damage").is_none())
        .map(payload_of)
        .collect()
}

/// `recover --json EXTRA… PATHS…`: the run and its objects.
pub(crate) fn recover(env: &Env, extra: &[&str], paths: &[&Path]) -> (Run, Vec<Value>) {
    let mut args = vec!["recover", "--json"];
    args.extend_from_slice(extra);
    args.extend(paths.iter().map(|p| s(p)));
    let r = go(env, &args);
    let v = json_lines(&r.stdout);
    (r, v)
}

/// Whether recover treats `path` as a file of a proglog segment (by its name here): its sidecars
/// go beside the segment's directory, not into it.
fn proglog_file(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e == "store" || e == "index")
}

/// The sidecar of `path` cut (or zero-filled) at `offset` (a proglog index: its whole old
/// bytes, at offset 0).
pub(crate) fn sidecar(path: &Path, offset: usize) -> PathBuf {
    if proglog_file(path) {
        crate::common::proglog_sidecar_path(path, offset as u64)
    } else {
        crate::common::sidecar_path(path, offset as u64)
    }
}

/// The bytes a sidecar keeps (its trailer checked and removed), or the error reading it.
pub(crate) fn read_sidecar(side: &Path) -> std::io::Result<Vec<u8>> {
    fs::read(side).map(|b| crate::common::parse_sidecar(&b).0)
}

/// Names of the sidecars of `path` (any offset).
pub(crate) fn sidecars_of(path: &Path) -> Vec<String> {
    let prefix = format!("{}.", path.file_name().expect("name").to_string_lossy());
    let dir = sidecar(path, 0)
        .parent()
        .expect("sidecar directory")
        .to_path_buf();
    let mut out: Vec<String> = match fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&prefix) && n.ends_with(".durable-sidecar"))
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

/// Every name under `root` (relative) with what it is: a regular file's size, SHA-256 and
/// mtime; a directory; or another kind of file (never opened: a FIFO would block).
pub(crate) fn snapshot(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let meta = fs::symlink_metadata(&path).expect("lstat");
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .display()
                .to_string();
            if meta.is_dir() {
                out.insert(rel, "dir".into());
                walk(root, &path, out);
            } else if meta.is_file() {
                let hash = sha_hex(&fs::read(&path).expect("read"));
                out.insert(
                    rel,
                    format!(
                        "{} bytes sha256 {hash} mtime {}.{}",
                        meta.len(),
                        meta.mtime(),
                        meta.mtime_nsec()
                    ),
                );
            } else {
                out.insert(rel, format!("{:?}", meta.file_type()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// What differs between two snapshots.
pub(crate) fn changes(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (name, was) in before {
        match after.get(name) {
            None => out.push(format!("{name}: removed")),
            Some(now) if now != was => out.push(format!("{name}: {was} -> {now}")),
            Some(_) => {}
        }
    }
    for name in after.keys() {
        if !before.contains_key(name) {
            out.push(format!("{name}: new"));
        }
    }
    out
}

/// Assert that nothing under the scratch directory changed since `before`.
#[track_caller]
pub(crate) fn assert_unchanged(env: &Env, before: &BTreeMap<String, String>, case: &str) {
    let now = snapshot(env.dir.path());
    assert_eq!(
        changes(before, &now),
        Vec::<String>::new(),
        "{case}: files changed"
    );
}

/// The error contract for bad input: exit 2, one line on stderr naming `name`, no panic.
#[track_caller]
pub(crate) fn assert_one_line_error(r: &Run, name: &str, case: &str) {
    assert_eq!(r.code, 2, "{case}: {}", show(r));
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{case}: one line on stderr: {}", show(r));
    assert!(
        lines[0].contains(name),
        "{case}: stderr should name {name:?}: {}",
        show(r)
    );
    assert!(!r.stderr.contains("panicked"), "{case}: {}", show(r));
}

/// Whether stderr says the file is not a log (`not a log` or `not a durable log`).
pub(crate) fn says_not_a_log(stderr: &str) -> bool {
    stderr.contains("not a log") || stderr.contains("not a durable log")
}

/// The exit code of each status.
pub(crate) fn code_of(status: &str) -> i32 {
    match status {
        "clean" => 0,
        "torn-tail" => 1,
        "corrupt" => 3,
        other => panic!("unknown status {other}"),
    }
}

/// Check a verify report: status (and the matching exit code), record count and valid end;
/// `defect`: the first defect's kind and offset.
#[track_caller]
pub(crate) fn check_report(
    case: &str,
    (code, v): &(i32, Value),
    status: &str,
    records: usize,
    valid_end: usize,
    defect: Option<(&str, usize)>,
) {
    assert_eq!(v["status"], status, "{case}: status: {v}");
    assert_eq!(*code, code_of(status), "{case}: exit code: {v}");
    assert_eq!(v["exit_code"], code_of(status), "{case}: exit_code: {v}");
    assert_eq!(v["records"], records, "{case}: records: {v}");
    assert_eq!(v["valid_end"], valid_end, "{case}: valid_end: {v}");
    match defect {
        None => assert_eq!(v["defect_count"], 0, "{case}: no defect expected: {v}"),
        Some((kind, offset)) => {
            let d = &v["defects"][0];
            assert_eq!(d["kind"], kind, "{case}: first defect kind: {v}");
            assert_eq!(d["offset"], offset, "{case}: first defect offset: {v}");
            assert_eq!(
                d["torn_tail"],
                status == "torn-tail",
                "{case}: torn_tail flag: {v}"
            );
        }
    }
}

/// Whether the report has a defect of `kind` (at `offset`, if given).
pub(crate) fn has_defect(v: &Value, kind: &str, offset: Option<usize>) -> bool {
    v["defects"].as_array().is_some_and(|ds| {
        ds.iter()
            .any(|d| d["kind"] == kind && offset.is_none_or(|o| d["offset"] == o))
    })
}

/// Run `durable ARGS` under `ulimit -v` (`kib` KiB of address space): an allocation sized by
/// an untrusted length fails instead of passing unnoticed.
pub(crate) fn run_limited(env: &Env, args: &[&str], kib: u64) -> Run {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {kib}; ulimit -c 0; exec \"$0\" \"$@\""))
        .arg(durable_path())
        .args(args)
        .current_dir(env.dir.path())
        .env_remove("DURABLE_FAULT")
        .stdin(Stdio::null())
        .output()
        .expect("run durable under ulimit");
    Run {
        code: out
            .status
            .code()
            .unwrap_or_else(|| panic!("durable {args:?} was killed: {:?}", out.status)),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Run `cmd`, killing it after 20 s: a hang (a FIFO opened for reading) fails the case instead
/// of the suite.
pub(crate) fn run_bounded(cmd: Command, what: &str) -> Run {
    let out = common::output_bounded(cmd, what, Duration::from_secs(20));
    Run {
        code: out
            .status
            .code()
            .unwrap_or_else(|| panic!("{what}: durable was killed: {:?}", out.status)),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A bare `durable` command in the scratch directory.
pub(crate) fn durable_cmd(env: &Env) -> Command {
    let mut cmd = Command::new(durable_path());
    cmd.current_dir(env.dir.path()).env_remove("DURABLE_FAULT");
    cmd
}

pub(crate) use common::wait_until;

/// A child killed and reaped when dropped (even by a panic).
pub(crate) struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Read everything a child's pipe gives into a shared buffer, on a thread.
pub(crate) fn collect(
    mut pipe: impl Read + Send + 'static,
) -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
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
