//! Logs written by other programs, through the real binary: a checksummed text log of one entry
//! per line (`lines`), proglog's store and index (`proglog`) and files of the Go `aof` package
//! (`aof`). The contract is docs/FORMAT.md; the fixtures are built here from the layouts,
//! independently of durable's readers:
//!
//! - lines: `ENTRY SP sha256hex(ENTRY) LF` per entry (its writer's `"%s %s\n"`);
//! - proglog store: per record an 8-byte big-endian length and the data; index: 12-byte entries,
//!   a 4-byte big-endian relative offset and an 8-byte big-endian store position, trimmed on a
//!   clean close, zero-padded to its maximum size (1024 here) after an ungraceful shutdown;
//! - aof: the data of each write followed by the tail magic (the next write overwrites it),
//!   zeros to the size the package grows the file to (one page here, then `Geometry.Next`);
//!   `Finish` replaces the tail magic with the checkpoint magic and cuts the file to its exact
//!   size (`Checkpoint()` writes nothing in the package's version the corpus comes from).
//!
//! Submodules: `lines`, `proglog`, `aof` (each format on its own), `detect` (detection matrix,
//! `--log-format`, directories), `commands` (round trips, selection, bad inputs, locks,
//! salvage), `recover_crash` (a crash or an error at each recovery step converges), `append`
//! (`log append --log-format lines`).

#![allow(dead_code)] // not every submodule uses every helper

mod aof;
mod append;
mod commands;
mod corpus;
mod detect;
mod lines;
mod proglog;
mod recover_crash;

use std::collections::BTreeMap;
use std::fs;

use std::path::{Path, PathBuf};

use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

pub(crate) use crate::common::KillOnDrop;
use crate::common::{
    self, Env, Run, Seen, assert_one_line_error, assert_same, changes, run, s, snapshot,
};
pub(crate) use crate::log::{json_lines, payload_of, pseudo_random, terminated};

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

/// One line of a lines log: `ENTRY SP sha256hex LF`.
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

/// The aof package's page: a new file's size (`Geometry.SizeNow`) and, in these fixtures, its
/// growth step.
pub(crate) const AOF_SIZE: usize = 4096;

/// An aof file as the package's `Write` and `Finish` leave it.
pub(crate) struct Aof {
    pub bytes: Vec<u8>,
    /// The data written: the one segment a reader shows.
    pub data: Vec<u8>,
    /// Where the magic after the data is: the tail magic (unfinished) or the checkpoint magic
    /// (finished); the data's length.
    pub magic: usize,
    /// `Finish` ran: the checkpoint magic replaced the tail magic and the file was cut to its
    /// exact size.
    pub finished: bool,
}

/// The package's `Geometry.Next` with a one-page `SizeNow` and step: the size a file grows to
/// when `size` bytes do not fit.
pub(crate) fn aof_next(size: usize) -> usize {
    if size < AOF_SIZE {
        AOF_SIZE
    } else {
        size + size % AOF_SIZE + AOF_SIZE
    }
}

/// An aof file after `writes` (each followed by the tail magic, which the next one overwrites;
/// the file grown as the package grows it), then `Finish` if `finish`.
pub(crate) fn aof(writes: &[&[u8]], finish: bool) -> Aof {
    let mut size = AOF_SIZE;
    let mut data = Vec::new();
    for w in writes {
        let needed = data.len() + w.len() + 8;
        if needed > size {
            size = aof_next(needed);
        }
        data.extend_from_slice(w);
    }
    let magic = data.len();
    let mut bytes = data.clone();
    if finish {
        bytes.extend_from_slice(&CKPT);
    } else {
        bytes.extend_from_slice(&TAIL);
        bytes.resize(size, 0);
    }
    Aof {
        bytes,
        data,
        magic,
        finished: finish,
    }
}

/// The standard aof fixture: five writes, not finished (it ends with the tail magic and zeros to
/// the page). One segment, "alpha-betagammadelta-epsilon".
pub(crate) fn aof_standard() -> Aof {
    aof(
        &[b"alpha-", b"beta", b"gamma", b"delta-", b"epsilon"],
        false,
    )
}

/// An unfinished aof file the package grew past its first page (by `Geometry.Next`: not a page
/// multiple), from `n` writes.
pub(crate) fn aof_grown(n: usize) -> Aof {
    let writes: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("<{i}>0123456789").into_bytes())
        .collect();
    let refs: Vec<&[u8]> = writes.iter().map(Vec::as_slice).collect();
    let grown = aof(&refs, false);
    assert_ne!(
        grown.bytes.len() % AOF_SIZE,
        0,
        "fixture: not a page multiple"
    );
    grown
}

/// `a` after a crash during its next `Write` of `write`: the first `k` bytes copied over the tail
/// magic, no tail magic written after them.
pub(crate) fn cut_short(a: &Aof, write: &[u8], k: usize) -> Vec<u8> {
    let mut bytes = a.bytes.clone();
    bytes[a.magic..a.magic + k].copy_from_slice(&write[..k]);
    bytes
}

/// The standard aof fixture finished (`Finish`), then 4 junk bytes written after it, as in the
/// corpus's finish_plus_garbage.aof: a torn tail that recover zero-fills back to the checkpoint.
/// The bytes and the end of the checkpoint magic.
pub(crate) fn aof_torn() -> (Vec<u8>, usize) {
    let a = aof(&[b"alpha-", b"beta", b"gamma", b"delta-", b"epsilon"], true);
    let end = a.bytes.len();
    ([a.bytes, b"junk".to_vec()].concat(), end)
}

/// What the package's `RecoverWithMagic` says about `bytes`, written here from the package's
/// documented behaviour (independently of durable): (outcome, Checkpoint, Tail). It reads 8-byte
/// words back from the end (a file of a page or more: the first `len % 8` bytes are never
/// looked at) to the last non-zero byte; the 8 bytes ending there are the tail magic (tail) or
/// the checkpoint magic (checkpoint); else it searches back for a checkpoint magic that starts
/// after offset 0 and ends before that byte (checkpoint, Tail after it), and failing that says
/// corrupted with Tail one past the last non-zero byte.
pub(crate) fn recover_with_magic(bytes: &[u8]) -> (&'static str, Option<usize>, usize) {
    let unseen = if bytes.len() >= AOF_SIZE {
        bytes.len() % 8
    } else {
        0
    };
    let Some(last) = bytes[unseen..]
        .iter()
        .rposition(|&b| b != 0)
        .map(|i| i + unseen)
    else {
        return ("empty", None, 0);
    };
    let search = |end: usize| {
        (1..end.saturating_sub(7))
            .rev()
            .find(|&c| bytes[c..c + 8] == CKPT)
    };
    if last >= 7 {
        let word = &bytes[last - 7..=last];
        if word == TAIL {
            return ("tail", search(last - 7), last - 7);
        }
        if word == CKPT {
            return ("checkpoint", Some(last - 7), last + 1);
        }
        if let Some(c) = search(last) {
            return ("checkpoint", Some(c), c + 8);
        }
    }
    ("corrupted", None, last + 1)
}

/// The offset of the last non-zero byte of `bytes`.
pub(crate) fn last_nonzero(bytes: &[u8]) -> Option<usize> {
    bytes.iter().rposition(|&b| b != 0)
}

// ---------------------------------------------------------------------------------------------
// Running durable
// ---------------------------------------------------------------------------------------------

/// `log verify --json EXTRA… PATH`: exit code and the one report.
pub(crate) fn verify(env: &Env, path: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["log", "verify", "--json"];
    args.extend_from_slice(extra);
    args.push(s(path));
    let r = run(env, &args, b"");
    let lines = json_lines(&r.stdout);
    assert_eq!(
        lines.len(),
        1,
        "verify --json {extra:?} {path:?}: one report expected; {}",
        r.show()
    );
    (r.code, lines.into_iter().next().expect("one"))
}

/// `log dump --format json EXTRA… PATH`: the run and its objects.
pub(crate) fn dump(env: &Env, path: &Path, extra: &[&str]) -> (Run, Vec<Value>) {
    let mut args = vec!["log", "dump", "--format", "json"];
    args.extend_from_slice(extra);
    args.push(s(path));
    let r = run(env, &args, b"");
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
    let r = run(env, &args, b"");
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

/// Assert that nothing under the scratch directory changed since `before`.
#[track_caller]
pub(crate) fn assert_unchanged(env: &Env, before: &BTreeMap<String, String>, case: &str) {
    let now = snapshot(env.dir.path(), true);
    assert_eq!(
        changes(before, &now),
        Vec::<String>::new(),
        "{case}: files changed"
    );
}

/// Run `durable CMD… FLAGS… PATH` for each of `commands`: each must be refused with one
/// sentence naming `name` (exit 2). The runs, for more checks.
#[track_caller]
pub(crate) fn each_refuses(
    env: &Env,
    commands: &[&[&str]],
    flags: &[&str],
    path: &Path,
    name: &str,
) -> Vec<Run> {
    commands
        .iter()
        .map(|cmd| {
            let mut args = cmd.to_vec();
            args.extend_from_slice(flags);
            args.push(s(path));
            let r = run(env, &args, b"");
            assert_one_line_error(&r, &[name], &format!("{cmd:?} {flags:?}"));
            r
        })
        .collect()
}

/// The readers: verify, dump and recover.
pub(crate) const READERS: [&[&str]; 3] = [&["log", "verify"], &["log", "dump"], &["recover"]];

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

pub(crate) use common::wait_until;

/// The bound on a run that must not wait (a FIFO opened for reading, `--follow` of a file it
/// refuses): a hang fails the case instead of the suite.
pub(crate) const BOUND: Duration = Duration::from_secs(20);

/// `durable log dump --follow --format FORMAT PATH`, running: the child (killed when dropped)
/// and what it has printed so far.
pub(crate) fn spawn_follow(env: &Env, format: &str, path: &Path) -> (KillOnDrop, Seen) {
    let follow = env
        .cmd(&["log", "dump", "--follow", "--format", format, s(path)])
        .spawn();
    (follow.child, follow.stdout)
}
