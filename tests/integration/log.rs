//! `durable log append|verify|dump` through the real binary: bad inputs, damage classification,
//! directories, concurrent appenders, the tail check before append, checksums, the maximum
//! record size, the lock, offsets, the O(1) `--last`, selection, damage in dumps, a closed
//! stdout, `--follow`, and the system calls of an append (strace). The properties (round trips,
//! every truncation point, every bit flip) are in `log_props.rs`; the helpers here serve both.
//!
//! The byte layout the tests craft and parse (docs/FORMAT.md): a 64-byte file header whose bytes
//! 16..32 are the salt; each record is a 24-byte header (magic `D5 'R' 'E' 'C'`, type 1, flags 0,
//! 2 reserved, u32 LE length, u64 LE sequence number, u32 LE CRC-32 of salt ‖ bytes 0..20), the
//! payload, and a trailer (u32 LE length, magic `D5 'E' 'N' 'D'`, CRC-32 LE or SHA-256).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{
    self, Durable, Env, KillOnDrop, Running, assert_one_line_error, assert_same, run, s,
};
use crate::strace_parse::{Event, fd_and_path, parse_events};

/// Length of the file header.
pub(crate) const HEADER_LEN: usize = 64;
/// The documented maximum payload of a record (16 MiB).
pub(crate) const MAX_RECORD: usize = 16 << 20;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Append text records given as arguments (no flush: these tests are about the bytes).
pub(crate) fn append_args(env: &Env, log: &Path, records: &[&str]) {
    let mut args = vec!["log", "append", "--sync", "none", s(log)];
    args.extend_from_slice(records);
    let r = run(env, &args, b"");
    assert_eq!(r.code, 0, "append {records:?}: {}", r.stderr);
}

/// Append each record by an invocation of its own: every record is then a whole append, the
/// evidence that damage before it is corruption, not a torn tail (docs/FORMAT.md).
pub(crate) fn append_each(env: &Env, log: &Path, records: &[&str]) {
    for record in records {
        append_args(env, log, &[record]);
    }
}

/// Create the log `rel` holding `payloads` (any bytes: each goes through `--file`), with the
/// given `--checksum`.
pub(crate) fn create_log(env: &Env, rel: &str, payloads: &[&[u8]], checksum: &str) -> PathBuf {
    let log = env.path(rel);
    let mut files = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        files.push(env.write(&format!("payloads/{rel}.{i}"), p));
    }
    let mut args = vec![
        "log",
        "append",
        "--sync",
        "none",
        "--checksum",
        checksum,
        s(&log),
    ];
    for f in &files {
        args.push("--file");
        args.push(s(f));
    }
    let r = run(env, &args, b"");
    assert_eq!(r.code, 0, "create {rel}: {}", r.stderr);
    log
}

/// `log verify --json PATH`: the exit code and the one JSON object.
pub(crate) fn verify_json(env: &Env, path: &Path) -> (i32, Value) {
    let r = run(env, &["log", "verify", "--json", s(path)], b"");
    let lines = json_lines(&r.stdout);
    assert_eq!(lines.len(), 1, "verify --json {path:?}: {}", r.out());
    (r.code, lines.into_iter().next().expect("one line"))
}

/// `log verify --json` of many files (relative to the scratch directory) in one run: the
/// report of each, by path.
pub(crate) fn verify_many(env: &Env, names: &[String]) -> HashMap<String, Value> {
    let mut args = vec!["log", "verify", "--json"];
    args.extend(names.iter().map(String::as_str));
    let r = run(env, &args, b"");
    let mut out = HashMap::new();
    for v in json_lines(&r.stdout) {
        let path = common::data_text(&v["path"]);
        out.insert(path, v);
    }
    assert_eq!(out.len(), names.len(), "one report per file");
    out
}

/// Parse JSON lines.
pub(crate) fn json_lines(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8(bytes.to_vec())
        .expect("JSON output is UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// `log dump --format json EXTRA… LOG`: exit code and the objects.
pub(crate) fn dump_json(env: &Env, log: &Path, extra: &[&str]) -> (i32, Vec<Value>) {
    let mut args = vec!["log", "dump", "--format", "json"];
    args.extend_from_slice(extra);
    args.push(s(log));
    let r = run(env, &args, b"");
    (r.code, json_lines(&r.stdout))
}

/// What `dump --format raw` prints for `payloads`: each one followed by `sep`.
pub(crate) fn terminated(payloads: &[&[u8]], sep: u8) -> Vec<u8> {
    let mut out = Vec::new();
    for p in payloads {
        out.extend_from_slice(p);
        out.push(sep);
    }
    out
}

/// A record's payload from its JSON object.
pub(crate) fn payload_of(v: &Value) -> Vec<u8> {
    common::data_bytes(&v["payload"])
}

/// The payloads of a clean log, in order.
pub(crate) fn payloads(env: &Env, log: &Path) -> Vec<Vec<u8>> {
    let (code, records) = dump_json(env, log, &[]);
    assert_eq!(code, 0, "dump {log:?}");
    records.iter().map(payload_of).collect()
}

/// The (start, end) of each record of a valid log, parsed from the bytes by the documented
/// layout (independently of durable's reader).
pub(crate) fn layout(bytes: &[u8]) -> Vec<(usize, usize)> {
    let checksum_len = match bytes[10] {
        1 => 4,
        2 => 32,
        other => panic!("unknown algorithm byte {other}"),
    };
    let mut at = HEADER_LEN;
    let mut out = Vec::new();
    while at < bytes.len() {
        assert_eq!(
            bytes[at..at + 4],
            [0xD5, b'R', b'E', b'C'],
            "record magic at {at}"
        );
        let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().expect("4 bytes")) as usize;
        let end = at + 24 + len + 8 + checksum_len;
        out.push((at, end));
        at = end;
    }
    assert_eq!(at, bytes.len(), "records end at the end of the file");
    out
}

/// A record header with a valid header CRC for the log whose header is `file_header`.
pub(crate) fn record_header(file_header: &[u8], len: u32, seq: u64) -> [u8; 24] {
    let mut h = [0u8; 24];
    h[0..4].copy_from_slice(&[0xD5, b'R', b'E', b'C']);
    h[4] = 1;
    h[8..12].copy_from_slice(&len.to_le_bytes());
    h[12..20].copy_from_slice(&seq.to_le_bytes());
    seal_header(file_header, &mut h);
    h
}

/// Make a record header's CRC (its last 4 bytes) match its first 20 bytes, for the log whose
/// header is `file_header` (the CRC covers the log's salt, then those bytes).
pub(crate) fn seal_header(file_header: &[u8], header: &mut [u8]) {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&file_header[16..32]);
    crc.update(&header[0..20]);
    header[20..24].copy_from_slice(&crc.finalize().to_le_bytes());
}

/// `n` reproducible pseudo-random bytes.
pub(crate) fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

use common::wait_until;

/// Wait for a child, up to `limit`; `None` if it is still running.
fn wait_child(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------------------------------
// Zero-filled tails
// ---------------------------------------------------------------------------------------------

/// Guards: a log grown with zeros (preallocation, `truncate -s`) is a torn tail with a
/// zero-fill defect at the old end, and append refuses to write after it.
#[test]
fn zero_filled_tail_is_a_torn_tail() {
    let env = Env::new();
    let log = env.path("z.log");
    append_args(&env, &log, &["one", "two", "three"]);
    let old = fs::metadata(&log).expect("stat").len();
    let f = fs::OpenOptions::new().write(true).open(&log).expect("open");
    f.set_len(old + 8192).expect("grow");
    drop(f);
    let (code, v) = verify_json(&env, &log);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["status"], "torn-tail");
    assert_eq!(v["records"], 3);
    assert_eq!(v["valid_end"], old);
    assert_eq!(v["defects"][0]["offset"], old);
    assert_eq!(v["defects"][0]["kind"], "zero-fill");
    assert_eq!(v["defects"][0]["next_valid"], Value::Null);

    let before = fs::read(&log).expect("read");
    let r = run(&env, &["log", "append", s(&log), "four"], b"");
    assert_eq!(r.code, 1, "append after zeros: {}", r.stderr);
    assert_eq!(fs::read(&log).expect("read"), before, "log changed");
}

/// Guards: zeros over the last record are a torn tail at the start of that record when they
/// have the shape a write that never reached the disk leaves (all of it: zero-fill; from a
/// 512-byte sector boundary inside it to the end); zeros at an unaligned place inside a record
/// that is otherwise whole are damage, not a torn write (exit 3, nothing cut without --force).
#[test]
fn zeros_over_the_last_record_are_a_torn_tail() {
    let env = Env::new();
    let log = env.path("z.log");
    let big = "x".repeat(2000);
    append_args(&env, &log, &["one", "two", &big]);
    let bytes = fs::read(&log).expect("read");
    let records = layout(&bytes);
    let (last_start, end) = records[2];
    // The whole three-record append is the last one: a torn one is cut whole.
    let append_start = records[0].0;

    let mut whole = bytes.clone();
    whole[last_start..end].fill(0);
    let all = env.write("all.log", &whole);
    let (code, v) = verify_json(&env, &all);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["status"], "torn-tail");
    assert_eq!(v["records"], 2);
    assert_eq!(v["records_unfinished"], 2);
    assert_eq!(v["valid_end"], append_start);
    assert_eq!(v["defects"][0]["kind"], "zero-fill");
    assert_eq!(v["defects"][0]["offset"], last_start);
    assert_eq!(v["defects"][0]["cut"], append_start);

    // From each 512-byte boundary inside the last record to the end.
    let first_boundary = (last_start / 512 + 1) * 512;
    for from in (first_boundary..end).step_by(512) {
        let mut tail = bytes.clone();
        tail[from..end].fill(0);
        let cut = env.write(&format!("tail{from}.log"), &tail);
        let (code, v) = verify_json(&env, &cut);
        assert_eq!(code, 1, "zeros from {from}: {v}");
        assert_eq!(v["status"], "torn-tail");
        assert_eq!(v["valid_end"], append_start);
        assert_eq!(v["defects"][0]["offset"], last_start);
        assert_eq!(v["defects"][0]["evidence"], "zeros", "{v}");
        assert_eq!(v["defects"][0]["evidence_offset"], from, "{v}");
    }

    // A few zero bytes at the end, not on a sector boundary: a whole-length record with
    // damaged bytes is not what a crash leaves.
    for n in [1, 4, 10] {
        let mut tail = bytes.clone();
        tail[end - n..end].fill(0);
        let cut = env.write(&format!("unaligned{n}.log"), &tail);
        let (code, v) = verify_json(&env, &cut);
        assert_eq!(code, 3, "last {n} bytes zeroed: {v}");
        assert_eq!(v["status"], "corrupt");
        assert_eq!(v["defects"][0]["evidence"], "not-a-torn-write", "{v}");
        let r = run(&env, &["recover", s(&cut)], b"");
        assert_eq!(r.code, 3, "{}", r.stderr);
        assert_eq!(fs::read(&cut).expect("read"), tail, "recover changed it");
    }
}

/// Guards: a header followed only by zeros is a torn tail (zero-fill at 64) with no records,
/// never a record parsed out of zeros.
#[test]
fn header_then_zeros_has_no_records() {
    let env = Env::new();
    let log = env.path("h.log");
    let r = run(&env, &["log", "append", s(&log)], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut bytes = fs::read(&log).expect("read");
    assert_eq!(bytes.len(), HEADER_LEN);
    bytes.resize(HEADER_LEN + 4096, 0);
    fs::write(&log, &bytes).expect("write");
    let (code, v) = verify_json(&env, &log);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["status"], "torn-tail");
    assert_eq!(v["records"], 0);
    assert_eq!(v["valid_end"], HEADER_LEN);
    assert_eq!(v["defects"][0]["kind"], "zero-fill");
    let (code, records) = dump_json(&env, &log, &[]);
    assert_eq!(code, 1);
    assert!(
        records.iter().all(|r| r.get("damage").is_some()),
        "{records:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Bad inputs
// ---------------------------------------------------------------------------------------------

/// Guards: a record header with a valid CRC announcing 4 GiB - 1 bytes is reported as
/// bad-length (corruption: at the end, followed by garbage, it is no torn write; in the middle,
/// the next record is the evidence), quickly, without reading or allocating on its word, and
/// nothing is changed.
#[test]
fn a_4_gib_length_is_bad_length() {
    let env = Env::new();
    let log = env.path("huge.log");
    append_each(&env, &log, &["zero", "one", "two"]);
    let bytes = fs::read(&log).expect("read");
    let records = layout(&bytes);

    // At the end, followed by some garbage.
    let mut tail = bytes.clone();
    tail.extend_from_slice(&record_header(&bytes, u32::MAX, 3));
    tail.extend_from_slice(&pseudo_random(100, 7));
    let tail_log = env.write("tail.log", &tail);
    let (code, v) = verify_json(&env, &tail_log);
    // A header whose own CRC holds but whose length is impossible, then garbage: no crash
    // writes that, so it is damage for a human to look at, not a torn tail to cut.
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["status"], "corrupt");
    assert_eq!(v["records"], 3);
    assert_eq!(v["valid_end"], bytes.len());
    assert_eq!(v["defects"][0]["kind"], "bad-length");
    assert_eq!(v["defects"][0]["evidence"], "not-a-torn-write");
    let r = run(&env, &["log", "dump", s(&tail_log)], b"");
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.out().contains("bad-length"), "{}", r.out());
    let r = run(&env, &["log", "append", s(&tail_log), "x"], b"");
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(fs::read(&tail_log).expect("read"), tail, "changed");

    // In the middle: record 1's header replaced (same size), record 2 still valid after it.
    let mut middle = bytes.clone();
    let (start, _) = records[1];
    middle[start..start + 24].copy_from_slice(&record_header(&bytes, u32::MAX, 1));
    let mid_log = env.write("middle.log", &middle);
    let (code, v) = verify_json(&env, &mid_log);
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["status"], "corrupt");
    assert_eq!(v["valid_end"], start);
    assert_eq!(v["defects"][0]["kind"], "bad-length");
    assert_eq!(v["defects"][0]["next_valid"], records[2].0);
    assert_eq!(v["records_after_damage"], 1);
    assert_eq!(fs::read(&mid_log).expect("read"), middle, "changed");
}

/// Guards: a record header claiming the last sequence number (2^64 - 1, never written) is
/// damage (bad-length), not a panic or a wrap to 0, for verify, dump --last and append.
#[test]
fn the_last_sequence_number_is_bad_length() {
    let env = Env::new();
    let log = env.path("max.log");
    append_each(&env, &log, &["zero", "one"]);
    let mut bytes = fs::read(&log).expect("read");
    let records = layout(&bytes);
    let (start, _) = records[1];
    let header = record_header(&bytes, 3, u64::MAX);
    bytes[start..start + 24].copy_from_slice(&header);
    fs::write(&log, &bytes).expect("write");
    let (code, v) = verify_json(&env, &log);
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["defects"][0]["kind"], "bad-length", "{v}");
    let r = run(&env, &["log", "dump", "--last", "2", s(&log)], b"");
    assert_eq!(r.code, 3, "{}", r.stderr);
    let r = run(&env, &["log", "append", s(&log), "two"], b"");
    assert_eq!(r.code, 3, "{}", r.stderr);
}

/// Guards: random bytes are "not a log durable can read" for verify, dump and append: exit 2, one line
/// naming the file, the file unchanged.
#[test]
fn random_bytes_are_not_a_log() {
    let env = Env::new();
    let mut junk = pseudo_random(4096, 42);
    junk[0] = b'R';
    let path = env.write("random.bin", &junk);
    for args in [
        vec!["log", "verify", s(&path)],
        vec!["log", "dump", s(&path)],
        vec!["log", "append", s(&path), "x"],
    ] {
        let r = run(&env, &args, b"");
        assert_one_line_error(
            &r,
            &[s(&path), "not a log durable can read"],
            &format!("{args:?}"),
        );
        assert!(r.stdout.is_empty(), "stdout: {}", r.out());
        assert_eq!(
            fs::read(&path).expect("read"),
            junk,
            "{args:?} changed the file"
        );
    }
    // A text file given to append: refused, unchanged.
    let text = env.write("notes.txt", "just some notes\n");
    let r = run(&env, &["log", "append", s(&text), "x"], b"");
    assert_one_line_error(&r, &[s(&text), "not a log durable can read"], "append");
    assert!(r.stdout.is_empty(), "stdout: {}", r.out());
    assert_eq!(env.read("notes.txt"), b"just some notes\n");
    env.assert_no_leftovers();
}

/// Guards: an empty file is "not a durable log: it is empty" (exit 2) for verify and dump.
#[test]
fn empty_file_is_not_a_log() {
    let env = Env::new();
    let path = env.write("empty.log", "");
    for cmd in ["verify", "dump"] {
        let r = run(&env, &["log", cmd, s(&path)], b"");
        assert_one_line_error(&r, &[s(&path), "it is empty"], cmd);
        assert!(r.stdout.is_empty(), "stdout: {}", r.out());
    }
    assert_eq!(env.read("empty.log"), b"");
}

/// Was a bug: `log append` to an existing empty file (logrotate's `create`, `touch`) was
/// refused ("it is empty"), with --log-format native too. It starts a new log there now: the
/// format and checksum asked for, or native; an empty input leaves the file empty; appenders
/// racing to start it write one header, and every record goes in once.
#[test]
fn append_to_an_existing_empty_file_starts_a_log() {
    let env = Env::new();
    for (name, flags, format, checksum) in [
        ("plain.log", &[][..], "native", "crc32"),
        (
            "named.log",
            &["--log-format", "native", "--checksum", "sha256"][..],
            "native",
            "sha256",
        ),
        (
            "lines.log",
            &["--log-format", "lines"][..],
            "lines",
            "sha256",
        ),
    ] {
        let log = env.write(name, "");
        let mut args = vec!["log", "append"];
        args.extend_from_slice(flags);
        args.push(s(&log));
        let r = run(&env, &args, b"");
        assert_eq!(
            (r.code, env.read(name).len()),
            (0, 0),
            "{name} empty input: {}",
            r.stderr
        );
        let r = run(&env, &args, b"one\ntwo\n");
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        let (code, v) = verify_json(&env, &log);
        assert_eq!(code, 0, "{name}: {v}");
        assert_eq!(
            (v["format"].as_str(), v["records"].as_u64()),
            (Some(format), Some(2))
        );
        assert_eq!(v["checksum"], checksum, "{name}: {v}");
        let r = run(&env, &["log", "append", s(&log), "three"], b"");
        assert_eq!(r.code, 0, "{name} next append: {}", r.stderr);
        let (_, records) = dump_json(&env, &log, &[]);
        let got: Vec<Vec<u8>> = records.iter().map(payload_of).collect();
        assert_eq!(got, [&b"one"[..], b"two", b"three"], "{name}");
    }
    // Racing appenders: one header, every record once.
    const PROCS: usize = 6;
    let log = env.write("race.log", "");
    let barrier = Arc::new(Barrier::new(PROCS));
    let threads: Vec<_> = (0..PROCS)
        .map(|i| {
            let (barrier, log) = (Arc::clone(&barrier), log.clone());
            let dir = env.dir.path().to_path_buf();
            std::thread::spawn(move || {
                barrier.wait();
                let out = Durable::new(&dir)
                    .args(&["log", "append", "--sync", "none"])
                    .arg(&log)
                    .args(&[format!("p{i}-a"), format!("p{i}-b")])
                    .no_stdin()
                    .run();
                assert!(out.status.success(), "p{i}: {}", out.stderr);
            })
        })
        .collect();
    for t in threads {
        t.join().expect("appender thread");
    }
    let (code, v) = verify_json(&env, &log);
    assert_eq!(
        (code, v["records"].as_u64()),
        (0, Some(2 * PROCS as u64)),
        "{v}"
    );
}

/// A native log started in place in an existing empty file (`touch`), holding `records`.
fn started_in_place(env: &Env, name: &str, records: &[&str]) -> Vec<u8> {
    let log = env.write(name, "");
    let mut args = vec!["log", "append", s(&log)];
    args.extend_from_slice(records);
    let r = run(env, &args, b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    env.read(name)
}

/// Was a bug: a log started in place in an existing empty file (its header written there, not
/// renamed into place) that a power loss cut inside its header — every prefix of a header —
/// was refused by verify, append and recover alike ("its header is cut short", exit 3), with
/// no way forward. It cannot hold an acknowledged record: verify calls it a torn tail at offset
/// 0 (exit 1), append refuses it as any torn tail (exit 1, "run `durable recover`"), the hint
/// run as printed cuts it to empty (the bytes kept in a sidecar that `log restore` puts back),
/// and the next append starts the log.
#[test]
fn a_start_cut_inside_the_header_is_a_torn_tail_at_offset_0() {
    let env = Env::new();
    let whole = started_in_place(&env, "model.log", &["one"]);
    for len in 1..64 {
        let name = format!("torn{len}.log");
        let log = env.write(&name, &whole[..len]);
        let (code, v) = verify_json(&env, &log);
        assert_eq!(code, 1, "{len}: {v}");
        assert_eq!(
            (&v["status"], &v["valid_end"], &v["defects"][0]["offset"]),
            (&Value::from("torn-tail"), &Value::from(0), &Value::from(0)),
            "{len}: {v}"
        );
        // Every length for verify; a spread of them for the rest.
        if ![1, 7, 8, 9, 10, 11, 12, 16, 17, 40, 41, 60, 63].contains(&len) {
            continue;
        }
        let r = run(&env, &["log", "append", s(&log), "two"], b"");
        assert_eq!(r.code, 1, "{len}: {}", r.show());
        assert!(
            r.stderr.contains("torn tail from offset 0"),
            "{len}: {}",
            r.show()
        );
        assert_eq!(env.read(&name), &whole[..len], "{len}: append changed it");
        common::run_hint(&env, &r.stderr, "durable recover");
        assert_eq!(env.read(&name), b"", "{len}: recover did not empty it");
        let sidecar = env.path(&format!(".durable-recovered/{name}.0.durable-sidecar"));
        let r = run(&env, &["log", "restore", s(&sidecar)], b"");
        assert_eq!(r.code, 0, "{len} restore: {}", r.show());
        assert_eq!(env.read(&name), &whole[..len], "{len}: restored");
        let r = run(&env, &["recover", s(&log)], b"");
        assert_eq!(r.code, 0, "{len} recover again: {}", r.show());
        let r = run(&env, &["log", "append", s(&log), "two"], b"");
        assert_eq!(r.code, 0, "{len} append after recover: {}", r.show());
        let (code, v) = verify_json(&env, &log);
        assert_eq!((code, v["records"].as_u64()), (0, Some(1)), "{len}: {v}");
    }
    // A header's size of zeros (the size reached the disk, the bytes did not) or less: no
    // record fits, so it is a torn start too, which recover empties without --force.
    for len in [1usize, 63, 64] {
        let name = format!("zeros{len}.log");
        let log = env.write(&name, vec![0u8; len]);
        let (code, v) = verify_json(&env, &log);
        assert_eq!(
            (code, &v["status"], &v["valid_end"]),
            (1, &Value::from("torn-tail"), &Value::from(0)),
            "{len}: {v}"
        );
        let r = run(&env, &["log", "append", s(&log), "two"], b"");
        assert_eq!(r.code, 1, "{len}: {}", r.show());
        assert_eq!(env.read(&name), vec![0u8; len], "{len}: append changed it");
        common::run_hint(&env, &r.stderr, "durable recover");
        assert_eq!(env.read(&name), b"", "{len}: recover did not empty it");
        let r = run(&env, &["log", "append", s(&log), "two"], b"");
        assert_eq!(r.code, 0, "{len} append after recover: {}", r.show());
    }
    // A cut header with bytes that no header holds (a reserved byte set) is not a torn start.
    let mut odd = whole[..50].to_vec();
    odd[45] = 1;
    let log = env.write("odd.log", &odd);
    let (code, v) = verify_json(&env, &log);
    assert_eq!(
        (code, &v["defects"][0]["kind"]),
        (3, &Value::from("bad-header")),
        "{v}"
    );
}

/// Was a bug: `log verify --log-format proglog seg/0.store` of a store whose only record is torn
/// (detection cannot tell such a store from any short file) hinted `durable recover
/// seg/0.store`, which, without the format, answers "not a log ... nothing to recover". A
/// format named with --log-format that detection would not find goes into the hint, and every
/// hint works as printed (a log detection finds is hinted without the flag).
#[test]
fn a_named_format_is_in_verifys_recover_hint() {
    let env = Env::new();
    std::fs::create_dir(env.path("seg")).expect("mkdir");
    // A proglog store: 8-byte big-endian length 10, then 5 of the 10 bytes.
    let store = env.write("seg/0.store", b"\0\0\0\0\0\0\0\x0ahello");
    let r = run(
        &env,
        &["log", "verify", "--log-format", "proglog", s(&store)],
        b"",
    );
    assert_eq!(r.code, 1, "{}", r.show());
    common::run_hint(&env, &r.out(), "durable recover --log-format proglog");
    assert_eq!(
        env.read("seg/0.store"),
        b"",
        "recover did not cut the torn record"
    );
    // A native log and a lines log with a torn tail, named: detection finds them, so the hint
    // needs no flag, and it works as printed.
    for (format, name) in [("native", "n.log"), ("lines", "l.log")] {
        let log = env.path(name);
        let r = run(
            &env,
            &["log", "append", "--log-format", format, s(&log), "one"],
            b"",
        );
        assert_eq!(r.code, 0, "{}", r.show());
        let mut bytes = env.read(name);
        bytes.extend_from_slice(b"torn");
        env.write(name, &bytes);
        let r = run(
            &env,
            &["log", "verify", "--log-format", format, s(&log)],
            b"",
        );
        assert_eq!(r.code, 1, "{format}: {}", r.show());
        common::run_hint(&env, &r.out(), "durable recover ");
        let r = run(&env, &["log", "verify", s(&log)], b"");
        assert_eq!(r.code, 0, "{format} after the hint: {}", r.show());
    }
}

/// Was a bug: a lines log whose first line was torn (a new lines log is renamed into place
/// empty and its first group written at 0, so a crash can leave the start of its first line and
/// nothing else) was "not a lines log" (exit 2) for verify, recover and append alike, named as
/// lines or not, with no way forward. Named as lines, a file with no newline whose bytes are
/// text (the start of an entry, perhaps a space and some of its checksum) is a torn tail at 0:
/// verify exit 1, append refuses it with a `durable recover --log-format lines` hint that works
/// as printed (the bytes kept in a sidecar `log restore` puts back), and the next append starts
/// the log. Not named, the refusal names that way out. A directory walk, format named or not,
/// still leaves such a file alone (not provably a log).
#[test]
fn a_torn_first_line_of_a_lines_log_is_a_torn_tail_at_0_when_named_lines() {
    let env = Env::new();
    let model = env.path("model.txt");
    let r = run(
        &env,
        &[
            "log",
            "append",
            "--log-format",
            "lines",
            s(&model),
            "a1",
            "a2",
        ],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    let whole = env.read("model.txt");
    let first = whole.iter().position(|&b| b == b'\n').expect("a newline");
    assert_eq!(first, 67);
    // Every cut inside the first line but the one that leaves it whole without its newline
    // (a valid last line).
    for len in 1..first {
        let name = format!("torn{len}.txt");
        let log = env.write(&name, &whole[..len]);
        let r = run(
            &env,
            &["log", "verify", "--json", "--log-format", "lines", s(&log)],
            b"",
        );
        let v: Value = serde_json::from_slice(&r.stdout).expect("json");
        assert_eq!(r.code, 1, "{len}: {}", r.show());
        assert_eq!(
            (&v["status"], &v["valid_end"], &v["defects"][0]["offset"]),
            (&Value::from("torn-tail"), &Value::from(0), &Value::from(0)),
            "{len}: {v}"
        );
        if ![1, 2, 3, 4, 30, 40, 66].contains(&len) {
            continue;
        }
        // The text report's hint names the format, which recover needs to read it so.
        let r = run(
            &env,
            &["log", "verify", "--log-format", "lines", s(&log)],
            b"",
        );
        assert!(
            r.out().contains("`durable recover --log-format lines "),
            "{len}: {}",
            r.show()
        );
        // Not named: not provably a lines log, but the refusal names the way out.
        for args in [
            vec!["log", "verify", s(&log)],
            vec!["log", "dump", s(&log)],
            vec!["recover", s(&log)],
            vec!["log", "append", s(&log), "x"],
        ] {
            let r = run(&env, &args, b"");
            assert_eq!(r.code, 2, "{len} {args:?}: {}", r.show());
            assert!(
                r.stderr.contains("--log-format lines"),
                "{len} {args:?}: {}",
                r.show()
            );
            assert_eq!(env.read(&name), &whole[..len], "{len} {args:?} changed it");
        }
        let r = run(
            &env,
            &["log", "append", "--log-format", "lines", s(&log), "x"],
            b"",
        );
        assert_eq!(r.code, 1, "{len}: {}", r.show());
        assert!(
            r.stderr.contains("torn tail from offset 0"),
            "{len}: {}",
            r.show()
        );
        assert_eq!(env.read(&name), &whole[..len], "{len}: append changed it");
        common::run_hint(&env, &r.stderr, "durable recover --log-format lines");
        assert_eq!(env.read(&name), b"", "{len}: recover did not empty it");
        let sidecar = env.path(&format!(".durable-recovered/{name}.0.durable-sidecar"));
        let r = run(&env, &["log", "restore", s(&sidecar)], b"");
        assert_eq!(r.code, 0, "{len} restore: {}", r.show());
        assert_eq!(env.read(&name), &whole[..len], "{len}: restored");
        // The hint of the refusal without the format, run as printed, does the same.
        let r = run(&env, &["log", "append", s(&log), "x"], b"");
        common::run_hint(&env, &r.stderr, "durable recover --log-format lines");
        assert_eq!(env.read(&name), b"", "{len}: recover did not empty it");
        let r = run(&env, &["recover", s(&log)], b"");
        assert_eq!(r.code, 0, "{len} recover again: {}", r.show());
        let r = run(
            &env,
            &["log", "append", "--log-format", "lines", s(&log), "x"],
            b"",
        );
        assert_eq!(r.code, 0, "{len} append after recover: {}", r.show());
        let (code, v) = verify_json(&env, &log);
        assert_eq!(
            (code, v["records"].as_u64(), &v["format"]),
            (0, Some(1), &Value::from("lines")),
            "{len}: {v}"
        );
    }
    // A walk leaves such a file alone, format named or not.
    let dir = env.path("walk");
    fs::create_dir(&dir).expect("mkdir");
    fs::write(dir.join("t.txt"), &whole[..40]).expect("write");
    for args in [
        vec!["recover", s(&dir)],
        vec!["recover", "--log-format", "lines", s(&dir)],
        vec!["log", "verify", s(&dir)],
        vec!["log", "verify", "--log-format", "lines", s(&dir)],
    ] {
        let r = run(&env, &args, b"");
        assert_eq!(r.code, 0, "{args:?}: {}", r.show());
        assert!(!r.out().contains("--log-format"), "{args:?}: {}", r.show());
        assert_eq!(
            fs::read(dir.join("t.txt")).expect("read"),
            &whole[..40],
            "{args:?}"
        );
    }
    // Bytes no line of text holds (a control byte) are not the start of an entry: not a lines
    // log, even named so.
    let log = env.write("binary.txt", b"a1 f5\x01");
    let r = run(&env, &["recover", "--log-format", "lines", s(&log)], b"");
    assert_eq!(r.code, 2, "{}", r.show());
    assert_eq!(env.read("binary.txt"), b"a1 f5\x01");
}

/// Was a bug: `recover` of a log whose start was torn cut it to empty (exit 0), and a second run
/// refused the empty file as "not a log" (exit 2), where a second run on a recovered log must
/// find nothing to do. An empty file named is nothing to recover (exit 0, saying it is empty,
/// `kind` `empty` in JSON), dry run or not; a walk still reports it as not a log of ours.
#[test]
fn recover_of_an_empty_file_named_finds_nothing_to_do() {
    let env = Env::new();
    let whole = started_in_place(&env, "model.log", &["a"]);
    let log = env.write("l.log", &whole[..30]);
    let r = run(&env, &["recover", s(&log)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(env.read("l.log"), b"");
    for args in [
        vec!["recover", s(&log)],
        vec!["recover", "--dry-run", s(&log)],
    ] {
        let r = run(&env, &args, b"");
        assert_eq!(r.code, 0, "{args:?}: {}", r.show());
        assert!(r.out().contains("it is empty"), "{args:?}: {}", r.show());
        assert!(r.stderr.is_empty(), "{args:?}: {}", r.show());
    }
    let r = run(&env, &["recover", "--json", s(&log)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let v: Value = serde_json::from_slice(&r.stdout).expect("json");
    assert_eq!(
        (&v["kind"], &v["outcome"]),
        (&Value::from("empty"), &Value::from("untouched")),
        "{v}"
    );
    // In a walk: not a log (as before).
    let dir = env.path("walk");
    fs::create_dir(&dir).expect("mkdir");
    fs::write(dir.join("e.log"), b"").expect("write");
    let r = run(&env, &["recover", "--json", s(&dir)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let v: Value = serde_json::from_slice(&r.stdout).expect("json");
    assert_eq!(v["kind"], "other", "{v}");
    // verify and dump of an empty file named: not a log yet (exit 2), as documented.
    for args in [vec!["log", "verify", s(&log)], vec!["log", "dump", s(&log)]] {
        let r = run(&env, &args, b"");
        assert_eq!(r.code, 2, "{args:?}: {}", r.show());
        assert!(r.stderr.contains("it is empty"), "{args:?}: {}", r.show());
    }
    // The next append starts the log.
    let r = run(&env, &["log", "append", s(&log), "b"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let (code, v) = verify_json(&env, &log);
    assert_eq!((code, v["records"].as_u64()), (0, Some(1)), "{v}");
}

/// Was a bug: a file of only zero bytes, longer than a header (a log started in place whose
/// bytes never reached the disk, or a log whose bytes were zeroed) was "not a log" (exit 2) for append and recover
/// alike, with no way forward. It may have held acknowledged records, so it is refused as
/// corruption (exit 3, naming the cause) by verify, append and recover; the refusal's hint,
/// run as printed, empties it with `recover --force` (the zeros kept in a sidecar that `log
/// restore` puts back), and the next append starts the log. A directory walk still passes
/// over such files (most are not logs).
#[test]
fn a_file_of_only_zeros_is_refused_until_recover_force_empties_it() {
    let env = Env::new();
    for len in [65usize, 5000] {
        let name = format!("zeros{len}.log");
        let log = env.write(&name, vec![0u8; len]);
        let (code, v) = verify_json(&env, &log);
        assert_eq!(code, 3, "{len}: {v}");
        assert_eq!(v["defects"][0]["evidence"], "zero-file", "{len}: {v}");
        for args in [
            vec!["log", "append", s(&log), "one"],
            vec!["log", "append", "--log-format", "native", s(&log), "one"],
        ] {
            let r = run(&env, &args, b"");
            assert_eq!(r.code, 3, "{len} {args:?}: {}", r.show());
            assert_eq!(r.stderr.lines().count(), 1, "{}", r.show());
            assert!(r.stderr.contains("only zero bytes"), "{}", r.show());
            assert_eq!(env.read(&name), vec![0u8; len], "{len}: append changed it");
        }
        let r = run(&env, &["recover", s(&log)], b"");
        assert_eq!(r.code, 3, "{len} recover: {}", r.show());
        assert!(r.out().contains("only zero bytes"), "{}", r.show());
        assert_eq!(env.read(&name), vec![0u8; len], "{len}: recover changed it");
        // The walk leaves it alone.
        let r = run(&env, &["recover", s(env.dir.path())], b"");
        assert_eq!(r.code, 0, "{len} recover DIR: {}", r.show());
        assert_eq!(
            env.read(&name),
            vec![0u8; len],
            "{len}: recover DIR changed it"
        );
        // The hint of append's refusal, run as printed.
        let r = run(&env, &["log", "append", s(&log), "one"], b"");
        common::run_hint(&env, &r.stderr, "--force");
        assert_eq!(
            env.read(&name),
            b"",
            "{len}: recover --force did not empty it"
        );
        let sidecar = env.path(&format!(".durable-recovered/{name}.0.durable-sidecar"));
        let r = run(&env, &["log", "restore", s(&sidecar)], b"");
        assert_eq!(r.code, 0, "{len} restore: {}", r.show());
        assert_eq!(env.read(&name), vec![0u8; len], "{len}: restored");
        let r = run(&env, &["recover", "--force", "--no-backup", s(&log)], b"");
        assert_eq!(r.code, 0, "{len}: {}", r.show());
        let r = run(&env, &["log", "append", s(&log), "one"], b"");
        assert_eq!(r.code, 0, "{len} append: {}", r.show());
        let (code, v) = verify_json(&env, &log);
        assert_eq!((code, v["records"].as_u64()), (0, Some(1)), "{len}: {v}");
    }
}

/// Was a bug (crash atomicity): a log started in place in an empty file had its header flushed
/// together with its first group, so a power loss could keep the group's bytes and lose the
/// header, leaving records no reader could check. The header is flushed first now: a crash
/// right after that flush (the first `sync-log`) leaves exactly the header (an empty log, which
/// the next append continues), and one after the header's write leaves at most the header.
/// The other crash states of a start (a header cut short, zeros) are covered above.
#[test]
fn a_start_in_place_flushes_the_header_before_the_first_group() {
    let test = "log::a_start_in_place_flushes_the_header_before_the_first_group";
    if !common::fault_switch(test) {
        return;
    }
    let env = Env::new();
    for step in ["write-log", "sync-log"] {
        let name = format!("{step}.log");
        let log = env.write(&name, "");
        let r = env
            .cmd(&["log", "append", s(&log), "one", "two"])
            .fault(&format!("{step}:crash"))
            .no_stdin()
            .may_be_killed()
            .run();
        assert!(r.signal().is_some(), "{step}: {}", r.show());
        assert_eq!(env.read(&name).len(), 64, "{step}: only the header");
        let (code, v) = verify_json(&env, &log);
        assert_eq!((code, v["records"].as_u64()), (0, Some(0)), "{step}: {v}");
        let r = run(&env, &["log", "append", s(&log), "three"], b"");
        assert_eq!(r.code, 0, "{step}: {}", r.show());
        let (code, v) = verify_json(&env, &log);
        assert_eq!((code, v["records"].as_u64()), (0, Some(1)), "{step}: {v}");
    }
}

/// Start `log append ARGS LOG` reading records from a pipe this test writes to.
fn streaming_append(env: &Env, args: &[&str], log: &Path) -> KillOnDrop {
    let mut all = vec!["log", "append"];
    all.extend_from_slice(args);
    all.push(s(log));
    let child = env
        .cmd(&all)
        .command()
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    KillOnDrop(child)
}

/// Wait until `log` holds `n` records.
fn wait_for_records(env: &Env, log: &Path, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !log.exists() || dump_json(env, log, &[]).1.len() < n {
        assert!(Instant::now() < deadline, "the log never held {n} records");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The exit code and stderr of a child once its stdin is closed.
fn finish(mut child: KillOnDrop) -> (Option<i32>, String) {
    drop(child.0.stdin.take());
    let status = wait_child(&mut child.0, Duration::from_secs(20)).expect("the append ends");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    (status.code(), err)
}

/// Was a bug (data loss): a streamed append whose log was emptied by a rotation (logrotate
/// `copytruncate`) and started anew by another appender, to the size the stream's last group
/// had ended at, took the log for its own (same size) and wrote its next records sealed with
/// the old salt: unreadable, even by salvage, and the log refused later appends. Emptied and
/// not restarted, the stream stopped with "a torn tail from offset 64" in a 0-byte file (exit
/// 5). Now the header is checked under the lock: the records go into the log that is there.
#[test]
fn a_streamed_append_follows_a_rotation_that_empties_its_log() {
    let env = Env::new();
    for restarted in [true, false] {
        let log = env.path(&format!("rot-{restarted}.log"));
        let mut child = streaming_append(&env, &[], &log);
        let stdin = child.0.stdin.as_mut().expect("stdin");
        stdin.write_all(b"rec-1\n").expect("write");
        wait_for_records(&env, &log, 1);
        fs::copy(&log, env.path("rotated.1")).expect("copy");
        fs::OpenOptions::new()
            .write(true)
            .open(&log)
            .expect("open")
            .set_len(0)
            .expect("truncate");
        let mut want: Vec<&[u8]> = Vec::new();
        if restarted {
            // Same size as the stream's log had: one record of the same length.
            append_args(&env, &log, &["rec-X"]);
            want.push(b"rec-X");
        }
        let stdin = child.0.stdin.as_mut().expect("stdin");
        stdin.write_all(b"rec-2\nrec-3\n").expect("write");
        let (code, err) = finish(child);
        assert_eq!(code, Some(0), "restarted {restarted}: {err}");
        want.extend([&b"rec-2"[..], b"rec-3"]);
        let (vcode, v) = verify_json(&env, &log);
        assert_eq!(vcode, 0, "restarted {restarted}: {v}");
        assert_eq!(payloads(&env, &log), want, "restarted {restarted}");
        append_args(&env, &log, &["next"]);
    }
    // A stream into a lines log (found so, no --log-format) whose log is emptied and started
    // anew as a native log by another appender: its next records go in as native records.
    let log = env.path("rot-lines.log");
    let r = run(
        &env,
        &["log", "append", "--log-format", "lines", s(&log), "a"],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut child = streaming_append(&env, &[], &log);
    let stdin = child.0.stdin.as_mut().expect("stdin");
    stdin.write_all(b"rec-1\n").expect("write");
    wait_for_records(&env, &log, 2);
    fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .expect("open")
        .set_len(0)
        .expect("truncate");
    append_args(&env, &log, &["native-X"]);
    let stdin = child.0.stdin.as_mut().expect("stdin");
    stdin.write_all(b"rec-2\n").expect("write");
    let (code, err) = finish(child);
    assert_eq!(code, Some(0), "{err}");
    let (vcode, v) = verify_json(&env, &log);
    assert_eq!((vcode, &v["format"]), (0, &Value::from("native")), "{v}");
    assert_eq!(payloads(&env, &log), [&b"native-X"[..], b"rec-2"]);
}

/// Was a bug: a streamed append whose log was renamed by a rotation (and replaced by a log with
/// a torn tail) stopped saying "what was committed before it is in LOG": those records are in
/// the renamed file, not in the file now at LOG. It names where they are now.
#[test]
fn a_failing_stream_after_a_rename_says_where_its_records_went() {
    let env = Env::new();
    let log = env.path("app.log");
    append_args(&env, &log, &["old-1", "old-2", "old-3"]);
    let mut child = streaming_append(&env, &[], &log);
    let stdin = child.0.stdin.as_mut().expect("stdin");
    stdin.write_all(b"rec-1\n").expect("write");
    wait_for_records(&env, &log, 4);
    fs::rename(&log, env.path("app.log.1")).expect("rename");
    // The new log at the path has a torn tail (its start cut short).
    let model = env.path("model.log");
    append_args(&env, &model, &["m"]);
    env.write("app.log", &fs::read(&model).expect("read")[..20]);
    let stdin = child.0.stdin.as_mut().expect("stdin");
    stdin.write_all(b"rec-2\n").expect("write");
    let (code, err) = finish(child);
    assert_eq!(code, Some(5), "{err}");
    assert!(!err.contains("what was committed before it is in"), "{err}");
    assert!(
        err.contains("app.log.1"),
        "names where the records are: {err}"
    );
    assert!(err.contains("(sequence number 3) in"), "{err}");
    assert_eq!(payloads(&env, &env.path("app.log.1")).len(), 4);
}

/// Was a bug: a stream whose log was renamed and replaced by a new log between two of its
/// groups reported its records' sequence numbers as one backwards range ("5 to 1": the first
/// of the old log to the last of the new one). Each log's range is named, first to last.
#[test]
fn sequence_numbers_across_a_replaced_log_are_not_printed_backwards() {
    let env = Env::new();
    let log = env.path("app.log");
    append_args(&env, &log, &["o1", "o2", "o3", "o4", "o5"]);
    let mut child = streaming_append(&env, &[], &log);
    let stdin = child.0.stdin.as_mut().expect("stdin");
    stdin.write_all(b"rec-1\n").expect("write");
    wait_for_records(&env, &log, 6);
    fs::rename(&log, env.path("app.log.1")).expect("rename");
    append_args(&env, &log, &["new-0"]);
    let stdin = child.0.stdin.as_mut().expect("stdin");
    stdin.write_all(b"rec-2\n").expect("write");
    wait_for_records(&env, &log, 2);
    let pid = rustix::process::Pid::from_raw(child.0.id() as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("kill");
    let status = wait_child(&mut child.0, Duration::from_secs(20)).expect("the append ends");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    assert_eq!(status.code(), Some(5), "{err}");
    assert!(!err.contains("5 to 1"), "backwards: {err}");
    assert!(err.contains("(sequence number 1) in"), "{err}");
    assert!(err.contains("(sequence number 5) in"), "{err}");
    assert!(err.contains("app.log.1"), "{err}");
}

/// Was a bug: after two rotations (app.log -> app.log.1 -> app.log.2, as logrotate does) the
/// report of a stopped stream named only the last earlier file: the first records were "in
/// earlier files", with neither the file nor their sequence numbers. Every earlier log is named.
#[test]
fn two_rotations_name_every_file_the_stream_went_into() {
    let env = Env::new();
    let log = env.path("app.log");
    append_args(&env, &log, &["o1"]);
    let mut child = streaming_append(&env, &[], &log);
    let feed = |child: &mut std::process::Child, line: &[u8]| {
        let stdin = child.stdin.as_mut().expect("stdin");
        stdin.write_all(line).expect("write");
    };
    feed(&mut child.0, b"first\n");
    wait_for_records(&env, &log, 2);
    fs::rename(&log, env.path("app.log.1")).expect("rename");
    append_args(&env, &log, &["n1"]);
    feed(&mut child.0, b"second\n");
    wait_for_records(&env, &log, 2);
    fs::rename(env.path("app.log.1"), env.path("app.log.2")).expect("rename");
    fs::rename(&log, env.path("app.log.1")).expect("rename");
    append_args(&env, &log, &["m1"]);
    feed(&mut child.0, b"third\n");
    wait_for_records(&env, &log, 2);
    let pid = rustix::process::Pid::from_raw(child.0.id() as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("kill");
    let status = wait_child(&mut child.0, Duration::from_secs(20)).expect("the append ends");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    assert_eq!(status.code(), Some(5), "{err}");
    assert!(!err.contains("earlier files"), "{err}");
    assert!(err.contains("app.log.2"), "{err}");
    assert!(err.contains("app.log.1"), "{err}");
    assert!(err.contains("(sequence number 1) in"), "{err}");
}

/// Was a bug: a `-0` stream whose records went into a lines log (the native log it began with
/// emptied and started anew as lines by another appender) refused a record holding a newline
/// as "record 1 of this append": the record's place in its commit group, not in the input. It
/// is named by its number in the input.
#[test]
fn a_record_refused_after_conversion_to_lines_is_named_by_its_input_number() {
    let env = Env::new();
    let log = env.path("app.log");
    let mut child = streaming_append(&env, &["-0"], &log);
    let stdin = child.0.stdin.as_mut().expect("stdin");
    stdin.write_all(b"a\0").expect("write");
    wait_for_records(&env, &log, 1);
    fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .expect("open")
        .set_len(0)
        .expect("truncate");
    let r = run(
        &env,
        &["log", "append", "--log-format", "lines", s(&log), "x"],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let stdin = child.0.stdin.as_mut().expect("stdin");
    stdin.write_all(b"b\0c\nd\0").expect("write");
    let (code, err) = finish(child);
    assert_eq!(code, Some(5), "{err}");
    assert!(err.contains("record 3 of"), "{err}");
    assert!(!err.contains("record 2 of this append"), "{err}");
}

/// Was a bug (data loss): a log rewritten, to the same size and header, by a program that
/// ignores the lock (another log's bytes copied over it) between two groups of a stream was
/// taken for the stream's own (the tail check skipped): the next record went in with a
/// sequence number the log did not follow from, a corrupt log, exit 0. And an `--atomic`
/// append holding the lock while a rotation (copytruncate) emptied the log wrote its records at
/// the old offset, behind a hole of zeros, exit 0 even with `--verify`: no record readable.
/// Now the stream checks its last bytes too, and a write checks that the log ends where it
/// starts (exit 2, the new file left as the other program made it).
#[test]
fn a_log_changed_by_a_program_that_ignores_the_lock() {
    let env = Env::new();
    let log = env.path("app.log");
    let mut child = streaming_append(&env, &[], &log);
    let stdin = child.0.stdin.as_mut().expect("stdin");
    stdin.write_all(b"rec1\nrec2\n").expect("write");
    wait_for_records(&env, &log, 2);
    let other = env.path("other.log");
    fs::copy(&log, &other).expect("copy");
    let stdin = child.0.stdin.as_mut().expect("stdin");
    stdin.write_all(b"rec3\nrec4\n").expect("write");
    wait_for_records(&env, &log, 4);
    // Another log, same header and size: rec1, rec2 and one record as long as rec3 and rec4.
    append_args(&env, &other, &["x".repeat(44).as_str()]);
    assert_eq!(
        fs::metadata(&other).expect("stat").len(),
        fs::metadata(&log).expect("stat").len()
    );
    fs::write(&log, fs::read(&other).expect("read")).expect("rewrite");
    let stdin = child.0.stdin.as_mut().expect("stdin");
    stdin.write_all(b"rec5\n").expect("write");
    let (code, err) = finish(child);
    assert_eq!(code, Some(0), "{err}");
    let (vcode, v) = verify_json(&env, &log);
    assert_eq!(vcode, 0, "{v}");
    let x44 = "x".repeat(44).into_bytes();
    assert_eq!(payloads(&env, &log), [&b"rec1"[..], b"rec2", &x44, b"rec5"]);

    // --atomic: the lock held while the input is read; the log emptied meanwhile.
    let log = env.path("r.log");
    append_args(&env, &log, &["first"]);
    let mut child = streaming_append(&env, &["--atomic", "--verify"], &log);
    let stdin = child.0.stdin.as_mut().expect("stdin");
    stdin.write_all(b"one\ntwo\n").expect("write");
    // The append holds the lock once it has its first record.
    let deadline = Instant::now() + Duration::from_secs(20);
    let probe = fs::File::open(&log).expect("open");
    while probe.try_lock().is_ok() {
        probe.unlock().expect("unlock");
        assert!(Instant::now() < deadline, "the append never took the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    fs::copy(&log, env.path("r.log.1")).expect("copy");
    fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .expect("open")
        .set_len(0)
        .expect("truncate");
    let stdin = child.0.stdin.as_mut().expect("stdin");
    stdin.write_all(b"three\n").expect("write");
    let (code, err) = finish(child);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("truncated or rewritten by another program"),
        "{err}"
    );
    assert_eq!(
        fs::read(&log).expect("read"),
        b"",
        "the emptied log was written to"
    );
}

/// Was a bug: an append waiting for the lock on an empty file that another appender then
/// started in the other format: `--log-format lines` said "a torn tail from offset 0" (exit
/// code 1) of a clean native log, and a streamed append without a format refused a lines log
/// that "replaced" the file. Now the first is the format conflict (exit 2, nothing appended) and
/// the second goes on as lines, as an append given the records as arguments already did.
#[test]
fn an_empty_file_started_in_the_other_format_meanwhile() {
    let env = Env::new();
    let native = env.path("native.src");
    append_args(&env, &native, &["hello", "world"]);
    let lines = env.path("lines.src");
    let r = run(
        &env,
        &[
            "log",
            "append",
            "--log-format",
            "lines",
            s(&lines),
            "hello",
            "world",
        ],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    for (args, src, want_code) in [
        (&["--log-format", "lines"][..], &native, Some(2)),
        (&[][..], &lines, Some(0)),
        (&["--atomic"][..], &lines, Some(0)),
    ] {
        let log = env.write("e.log", "");
        let holder = fs::File::open(&log).expect("open");
        holder.lock().expect("lock");
        let mut child = streaming_append(&env, args, &log);
        child
            .0
            .stdin
            .as_mut()
            .expect("stdin")
            .write_all(b"rec\n")
            .expect("write");
        std::thread::sleep(Duration::from_millis(300));
        fs::write(&log, fs::read(src).expect("read")).expect("start it");
        holder.unlock().expect("unlock");
        let (code, err) = finish(child);
        assert_eq!(code, want_code, "{args:?}: {err}");
        let (vcode, v) = verify_json(&env, &log);
        assert_eq!(vcode, 0, "{args:?}: {v}");
        if want_code == Some(2) {
            assert!(err.contains("it is a native log"), "{args:?}: {err}");
            assert_eq!(fs::read(&log).expect("read"), fs::read(src).expect("read"));
        } else {
            assert_eq!(v["format"], "lines", "{args:?}: {v}");
            assert_eq!(payloads(&env, &log), [&b"hello"[..], b"world", b"rec"]);
        }
        fs::remove_file(&log).expect("rm");
    }
}

/// Guards: a log with a header and no records is clean with 0 records, and every dump format
/// prints nothing.
#[test]
fn header_only_log_is_clean_and_dumps_nothing() {
    let env = Env::new();
    let log = env.path("empty.log");
    let r = run(&env, &["log", "append", s(&log)], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(fs::metadata(&log).expect("stat").len(), HEADER_LEN as u64);
    let (code, v) = verify_json(&env, &log);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["status"], "clean");
    assert_eq!(v["records"], 0);
    for format in ["text", "hex", "json", "raw"] {
        let r = run(&env, &["log", "dump", "--format", format, s(&log)], b"");
        assert_eq!(r.code, 0, "{format}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{format}: {}", r.out());
        assert!(r.stderr.is_empty(), "{format}: {}", r.stderr);
    }
    let r = run(&env, &["log", "dump", "--last", "3", s(&log)], b"");
    assert_eq!((r.code, r.stdout.len()), (0, 0), "--last: {}", r.stderr);
}

/// Guards: a log cut inside its header whose bytes no header holds (a reserved byte set; a cut
/// header that is the start of a valid one is a torn start, tested above) is a damaged header
/// (corrupt, exit 3) for verify, an error for dump, and append refuses it; nothing is changed.
#[test]
fn truncated_header_is_damage() {
    let env = Env::new();
    let log = env.path("a.log");
    append_args(&env, &log, &["one"]);
    let mut bytes = fs::read(&log).expect("read");
    bytes[41] = 7;
    let cut = env.write("cut.log", &bytes[..50]);
    let r = run(&env, &["log", "verify", s(&cut)], b"");
    assert_eq!(r.code, 3, "{} {}", r.out(), r.stderr);
    assert!(
        r.out().contains(s(&cut)) && r.out().contains("bad-header"),
        "{}",
        r.out()
    );
    let r = run(&env, &["log", "dump", s(&cut)], b"");
    assert_ne!(r.code, 0);
    assert!(r.stdout.is_empty());
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains(s(&cut)), "{}", r.stderr);
    let r = run(&env, &["log", "append", s(&cut), "x"], b"");
    assert_ne!(r.code, 0);
    assert_eq!(fs::read(&cut).expect("read"), &bytes[..50], "changed");
}

/// Guards: a directory given to dump or append is exit 2 with one line naming it, and nothing
/// appears in it.
#[test]
fn directory_for_dump_and_append_is_an_error() {
    let env = Env::new();
    let dir = env.path("d");
    fs::create_dir(&dir).expect("mkdir");
    for args in [
        vec!["log", "dump", s(&dir)],
        vec!["log", "append", s(&dir), "x"],
    ] {
        let r = run(&env, &args, b"");
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(r.stderr.contains(s(&dir)), "{}", r.stderr);
    }
    assert_eq!(env.names(), vec!["d".to_string()]);
}

/// Guards: a FIFO given to verify is exit 2 at once (it is never opened for reading, which
/// would block).
#[test]
fn fifo_for_verify_does_not_block() {
    let env = Env::new();
    let fifo = env.path("pipe");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .expect("mkfifo");
    let r = env
        .cmd(&["log", "verify", s(&fifo)])
        .no_stdin()
        .bound(Duration::from_secs(10))
        .run();
    let (status, stderr) = (r.status, r.stderr);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(s(&fifo)) && stderr.contains("FIFO"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// Directories
// ---------------------------------------------------------------------------------------------

/// Build a tree with a clean, a torn and a corrupt log and two files that are not logs.
fn mixed_tree(env: &Env) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let clean = env.path("tree/clean.log");
    fs::create_dir_all(env.path("tree/sub/deeper")).expect("mkdir");
    append_args(env, &clean, &["a", "b"]);
    let torn = env.path("tree/sub/torn.log");
    append_args(env, &torn, &["a", "b"]);
    common::shorten(&torn, 3);
    let corrupt = env.path("tree/sub/deeper/corrupt.log");
    append_each(env, &corrupt, &["aaaa", "bbbb", "cccc"]);
    let mut bytes = fs::read(&corrupt).expect("read");
    let first = layout(&bytes)[0];
    bytes[first.0 + 24 + 1] ^= 0x20;
    fs::write(&corrupt, &bytes).expect("write");
    let notes = env.write("tree/notes.txt", "not a log\n");
    env.write("tree/sub/random.bin", pseudo_random(300, 3));
    (clean, torn, corrupt, notes)
}

/// Guards: verify walks a directory recursively, reports each log with its status, lists
/// non-log files as skipped (text and JSON) without failing on them, and exits with the worst.
#[test]
fn verify_walks_directories() {
    let env = Env::new();
    let (clean, torn, corrupt, notes) = mixed_tree(&env);
    let tree = env.path("tree");

    let r = run(&env, &["log", "verify", s(&tree)], b"");
    assert_eq!(r.code, 3, "worst is corruption: {}", r.out());
    let text = r.out();
    assert!(text.contains(&format!("{}: clean", s(&clean))), "{text}");
    assert!(text.contains(&format!("{}: torn tail", s(&torn))), "{text}");
    assert!(
        text.contains(&format!("{}: corrupt", s(&corrupt))),
        "{text}"
    );
    assert!(text.contains(&format!("{}: skipped", s(&notes))), "{text}");
    assert!(text.contains("random.bin: skipped"), "{text}");
    assert!(r.stderr.is_empty(), "{}", r.stderr);

    let r = run(&env, &["log", "verify", "--json", s(&tree)], b"");
    assert_eq!(r.code, 3);
    let status: HashMap<String, String> = json_lines(&r.stdout)
        .iter()
        .map(|v| {
            (
                common::data_text(&v["path"]),
                v["status"].as_str().expect("status").to_string(),
            )
        })
        .collect();
    let expected: HashMap<String, String> = [
        (&clean, "clean"),
        (&torn, "torn-tail"),
        (&corrupt, "corrupt"),
        (&notes, "skipped"),
        (&env.path("tree/sub/random.bin"), "skipped"),
    ]
    .into_iter()
    .map(|(p, st)| (s(p).to_string(), st.to_string()))
    .collect();
    assert_eq!(status, expected);

    let r = run(&env, &["log", "verify", "-q", s(&tree)], b"");
    assert_eq!(r.code, 3);
    assert!(r.stdout.is_empty(), "-q printed {}", r.out());

    // Without the damaged logs: skipped files do not fail the run.
    fs::remove_file(&corrupt).expect("rm");
    fs::remove_file(&torn).expect("rm");
    let r = run(&env, &["log", "verify", s(&tree)], b"");
    assert_eq!(r.code, 0, "{}", r.out());
    let r = run(&env, &["log", "verify", "-q", s(&tree)], b"");
    assert_eq!((r.code, r.stdout.len()), (0, 0));
}

// ---------------------------------------------------------------------------------------------
// Concurrent appenders
// ---------------------------------------------------------------------------------------------

/// Guards: 8 appenders at once on a log that does not exist yet never interleave or lose a
/// record: 4000 records, each once, sequence numbers 0..3999, each invocation's records
/// contiguous and in order, each appender's invocations in order.
///
/// 4000 single-record invocations took ~8 s (23 s with fsync) on 2 cores in a debug build, too
/// much for this suite's budget, so each of the 8 processes appends its 500 records in 50
/// invocations of 10 (the lock and the one-write group commit are what is under test;
/// `--sync none` because flushing is not).
#[test]
fn concurrent_appenders_never_interleave() {
    const PROCS: usize = 8;
    const CALLS: usize = 50;
    const BATCH: usize = 10;
    let env = Env::new();
    let log = env.path("shared.log");
    let barrier = Arc::new(Barrier::new(PROCS));
    let threads: Vec<_> = (0..PROCS)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            let log = log.clone();
            let dir = env.dir.path().to_path_buf();
            std::thread::spawn(move || {
                barrier.wait();
                for call in 0..CALLS {
                    let records: Vec<String> = (0..BATCH)
                        .map(|k| format!("p{i}-{}", call * BATCH + k))
                        .collect();
                    let out = Durable::new(&dir)
                        .args(&["log", "append", "--sync", "none"])
                        .arg(&log)
                        .args(&records)
                        .no_stdin()
                        .run();
                    assert!(out.status.success(), "p{i} call {call}: {}", out.stderr);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("appender thread");
    }
    let total = PROCS * CALLS * BATCH;
    let (code, v) = verify_json(&env, &log);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["records"], total);

    let (code, records) = dump_json(&env, &log, &[]);
    assert_eq!(code, 0);
    assert_eq!(records.len(), total);
    let names: Vec<String> = records
        .iter()
        .map(|r| String::from_utf8(payload_of(r)).expect("text"))
        .collect();
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["seq"], i, "sequence numbers are 0..{total}");
    }
    let unique: HashSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), total, "a record is duplicated");
    let parse = |name: &str| -> (usize, usize) {
        let (p, n) = name[1..].split_once('-').expect("p<i>-<n>");
        (p.parse().expect("i"), n.parse().expect("n"))
    };
    let mut last_of: HashMap<usize, usize> = HashMap::new();
    let mut at = 0;
    while at < total {
        let (p, n) = parse(&names[at]);
        assert_eq!(
            n % BATCH,
            0,
            "record {at} ({}) starts no invocation",
            names[at]
        );
        for k in 0..BATCH {
            assert_eq!(
                names[at + k],
                format!("p{p}-{}", n + k),
                "invocation p{p}-{n}.. interleaved at record {}",
                at + k
            );
        }
        if let Some(prev) = last_of.insert(p, n) {
            assert!(prev < n, "p{p}'s invocations out of order");
        }
        at += BATCH;
    }
    assert_eq!(last_of.len(), PROCS);
    env.assert_no_leftovers();
}

// ---------------------------------------------------------------------------------------------
// The tail check, checksums, the maximum record size
// ---------------------------------------------------------------------------------------------

/// Guards: append after a torn tail is refused with exit 1, a message pointing at `durable
/// recover`, and the file byte-identical (records from arguments and from stdin).
#[test]
fn append_after_torn_tail_is_refused() {
    let env = Env::new();
    let log = env.path("t.log");
    append_args(&env, &log, &["one", "two", "three"]);
    let mut bytes = fs::read(&log).expect("read");
    bytes.truncate(bytes.len() - 5);
    fs::write(&log, &bytes).expect("write");
    for (args, stdin) in [
        (vec!["log", "append", s(&log), "four"], &b""[..]),
        (vec!["log", "append", s(&log)], &b"four\nfive\n"[..]),
    ] {
        let r = run(&env, &args, stdin);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(
            r.stderr.contains(&format!("durable recover {}", s(&log))),
            "{}",
            r.stderr
        );
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert_eq!(fs::read(&log).expect("read"), bytes, "log changed");
    }
    env.assert_no_leftovers();
}

/// Guards: one changed byte inside the last append is corruption (exit 3), not a torn tail,
/// even though no later append follows: a write that never reached the disk leaves zeros or a
/// short file, never a changed byte in a whole-length record. The append is refused, recover
/// refuses without --force and changes nothing, salvage keeps every valid record, and
/// `recover --force` cuts the whole damaged append (keeping it in the sidecar), after which
/// append and verify work.
#[test]
fn a_changed_byte_inside_the_last_append_is_corruption() {
    let env = Env::new();
    let log = env.path("g.log");
    append_args(&env, &log, &["before"]);
    append_args(&env, &log, &["one", "two", "three"]);
    let mut bytes = fs::read(&log).expect("read");
    let records = layout(&bytes);
    let (start, _) = records[1];
    bytes[start + 24] ^= 1;
    fs::write(&log, &bytes).expect("write");
    let (code, v) = verify_json(&env, &log);
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["status"], "corrupt", "{v}");
    assert_eq!(v["valid_end"], start, "{v}");
    assert_eq!(v["records_after_damage"], 2, "{v}");
    assert_eq!(v["defects"][0]["evidence"], "not-a-torn-write", "{v}");
    assert_eq!(v["defects"][0]["next_valid"], records[2].0, "{v}");
    let r = run(&env, &["log", "append", s(&log), "four"], b"");
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("not a torn write"), "{}", r.stderr);
    assert_eq!(fs::read(&log).expect("read"), bytes, "changed");
    let r = run(&env, &["recover", s(&log)], b"");
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(fs::read(&log).expect("read"), bytes, "changed");
    let salvaged = env.path("salvaged.log");
    let r = run(&env, &["log", "salvage", s(&log), s(&salvaged)], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        payloads(&env, &salvaged),
        [&b"before"[..], b"two", b"three"]
    );
    let r = run(&env, &["recover", "--force", s(&log)], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(fs::read(&log).expect("read"), &bytes[..start]);
    append_args(&env, &log, &["four"]);
    assert_eq!(payloads(&env, &log), [&b"before"[..], b"four"]);
}

/// Guards: a zeroed 512-byte sector inside the last append (a block of it that never reached
/// the disk, with later blocks kept) is a torn tail: recover cuts the whole append, and the
/// next append and verify work.
#[test]
fn a_zero_sector_inside_the_last_append_is_a_torn_tail() {
    let env = Env::new();
    let log = env.path("s.log");
    append_args(&env, &log, &["before"]);
    let lines: Vec<String> = (0..200)
        .map(|i| format!("record {i:04} {}", "y".repeat(30)))
        .collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    append_args(&env, &log, &lines);
    let mut bytes = fs::read(&log).expect("read");
    let records = layout(&bytes);
    let append_start = records[1].0;
    let sector = (append_start / 512 + 3) * 512;
    bytes[sector..sector + 512].fill(0);
    fs::write(&log, &bytes).expect("write");
    let (code, v) = verify_json(&env, &log);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["valid_end"], append_start, "{v}");
    assert_eq!(v["records_before_damage"], 1, "{v}");
    assert_eq!(v["defects"][0]["evidence"], "zeros", "{v}");
    assert!(
        v["defects"][0]["next_valid"].is_u64(),
        "later records of it survive: {v}"
    );
    let r = run(&env, &["recover", s(&log)], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(fs::read(&log).expect("read"), &bytes[..append_start]);
    append_args(&env, &log, &["after"]);
    let (code, v) = verify_json(&env, &log);
    assert_eq!(code, 0, "{v}");
    assert_eq!(payloads(&env, &log), [&b"before"[..], b"after"]);
}

/// Guards: damage before a torn tail (valid records after the first defect) refuses the append
/// as corruption (exit 3), file unchanged.
#[test]
fn append_after_corruption_and_torn_tail_is_refused() {
    let env = Env::new();
    let log = env.path("c.log");
    append_each(&env, &log, &["one", "two", "three"]);
    let mut bytes = fs::read(&log).expect("read");
    let first = layout(&bytes)[0];
    bytes[first.0 + 24] ^= 1;
    bytes.truncate(bytes.len() - 2);
    fs::write(&log, &bytes).expect("write");
    let r = run(&env, &["log", "append", s(&log), "four"], b"");
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("durable log verify"), "{}", r.stderr);
    assert_eq!(fs::read(&log).expect("read"), bytes);
}

/// Guards: `--checksum sha256` makes 32-byte checksums; an existing log keeps its algorithm
/// (appended with it without `--checksum`); a conflicting `--checksum` is exit 2, unchanged.
#[test]
fn checksum_algorithm_is_fixed_at_creation() {
    let env = Env::new();
    let sha = env.path("sha.log");
    let r = run(
        &env,
        &["log", "append", "--checksum", "sha256", s(&sha), "one"],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Without --checksum: still sha256.
    append_args(&env, &sha, &["two", "three"]);
    let bytes = fs::read(&sha).expect("read");
    assert_eq!(bytes[10], 2, "algorithm byte");
    let records = layout(&bytes);
    assert_eq!(records.len(), 3);
    assert_eq!(records[1].1 - records[1].0, 24 + 3 + 8 + 32);
    let (code, dumped) = dump_json(&env, &sha, &[]);
    assert_eq!(code, 0);
    for r in &dumped {
        let c = r["checksum"].as_str().expect("checksum");
        assert!(
            c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit()),
            "sha256 checksum {c}"
        );
    }
    let (_, v) = verify_json(&env, &sha);
    assert_eq!(v["checksum"], "sha256");
    let r = run(&env, &["log", "dump", s(&sha)], b"");
    assert!(r.out().contains(dumped[0]["checksum"].as_str().expect("c")));

    // An explicit matching choice is fine.
    let r = run(
        &env,
        &["log", "append", "--checksum", "sha256", s(&sha), "four"],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);

    // crc32 log + --checksum sha256: refused, unchanged.
    let crc = env.path("crc.log");
    append_args(&env, &crc, &["one"]);
    let before = fs::read(&crc).expect("read");
    assert_eq!(before[10], 1);
    let (_, dumped) = dump_json(&env, &crc, &[]);
    assert_eq!(dumped[0]["checksum"].as_str().expect("c").len(), 8);
    let r = run(
        &env,
        &["log", "append", "--checksum", "sha256", s(&crc), "two"],
        b"",
    );
    assert_one_line_error(&r, &[s(&crc), "crc32"], "sha256 append to a crc32 log");
    assert!(r.stdout.is_empty(), "stdout: {}", r.out());
    assert_eq!(fs::read(&crc).expect("read"), before, "changed");
}

/// Guards: a record over 16 MiB (a file, the whole of stdin, a line without newline) is exit 2
/// with "maximum record size", and nothing at all is written, even when records before it in
/// the same invocation were fine.
#[test]
fn records_over_the_maximum_are_refused() {
    let env = Env::new();
    let log = env.path("m.log");
    append_args(&env, &log, &["existing"]);
    let before = fs::read(&log).expect("read");
    let too_big = vec![b'x'; MAX_RECORD + 1];
    let big = env.write("big", &too_big);
    let mut line_after_ok = b"ok\n".to_vec();
    line_after_ok.extend_from_slice(&too_big);
    let cases: Vec<(Vec<&str>, &[u8])> = vec![
        (vec!["log", "append", s(&log), "--file", s(&big)], b""),
        (vec!["log", "append", "--whole", s(&log)], &too_big),
        (vec!["log", "append", s(&log)], &too_big),
        (
            vec!["log", "append", s(&log), "small", "--file", s(&big)],
            b"",
        ),
        (vec!["log", "append", "--atomic", s(&log)], &line_after_ok),
    ];
    for (args, stdin) in cases {
        let r = run(&env, &args, stdin);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(
            r.stderr.contains("maximum record size"),
            "{args:?}: {}",
            r.stderr
        );
        assert_eq!(
            fs::read(&log).expect("read"),
            before,
            "{args:?} changed the log"
        );
    }
    // The size said is the file's (regression: it was where reading stopped, the maximum plus
    // one, whatever the file's size); a stream's size is not known, so it is "larger".
    let bigger = env.write("bigger", vec![b'y'; MAX_RECORD + 4096]);
    let r = run(&env, &["log", "append", s(&log), "--file", s(&bigger)], b"");
    assert!(
        r.stderr
            .contains(&format!("is {} bytes", MAX_RECORD + 4096)),
        "{}",
        r.stderr
    );
    let r = run(&env, &["log", "append", "--whole", s(&log)], &too_big);
    assert!(
        r.stderr.contains("standard input is larger than"),
        "{}",
        r.stderr
    );
    // Streamed lines are committed as they come: the line before the oversized one is in,
    // and the message says so (exit 5: stopped partway).
    let r = run(&env, &["log", "append", s(&log)], &line_after_ok);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("maximum record size"), "{}", r.stderr);
    assert!(
        r.stderr.contains("committed before it is in")
            && r.stderr.contains(": 1 record (sequence numbers 1 to 1)"),
        "{}",
        r.stderr
    );
    assert_eq!(payloads(&env, &log), [&b"existing"[..], b"ok"]);
    env.assert_no_leftovers();
}

/// Guards: a refused oversized record does not leave a new (empty) log behind: exit 2 means
/// nothing changed, whether the oversized record is the first of the invocation or a later one.
#[test]
fn oversized_record_does_not_create_the_log() {
    let env = Env::new();
    let too_big = vec![b'x'; MAX_RECORD + 1];
    let big = env.write("big", &too_big);
    let mut line_after_ok = b"ok\n".to_vec();
    line_after_ok.extend_from_slice(&too_big);
    let logs: Vec<PathBuf> = (0..4).map(|i| env.path(&format!("new{i}.log"))).collect();
    let cases: Vec<(Vec<&str>, &[u8])> = vec![
        (vec!["log", "append", s(&logs[0]), "--file", s(&big)], b""),
        (vec!["log", "append", "--whole", s(&logs[1])], &too_big),
        (
            vec!["log", "append", s(&logs[2]), "small", "--file", s(&big)],
            b"",
        ),
        (
            vec!["log", "append", "--atomic", s(&logs[3])],
            &line_after_ok,
        ),
    ];
    for ((args, stdin), log) in cases.into_iter().zip(&logs) {
        let r = run(&env, &args, stdin);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("maximum record size"), "{}", r.stderr);
        assert!(
            !log.exists(),
            "{args:?}: exit 2 (nothing changed), yet {log:?} was created ({} bytes)",
            fs::metadata(log).map(|m| m.len()).unwrap_or(0)
        );
    }
    env.assert_no_leftovers();
}

// ---------------------------------------------------------------------------------------------
// The lock, offsets, read-back
// ---------------------------------------------------------------------------------------------

/// Guards: with the log locked, `--no-wait` fails at once (exit 2, "locked", unchanged) and a
/// plain append waits for the lock, then appends.
#[test]
fn lock_is_respected() {
    let env = Env::new();
    let log = env.path("l.log");
    append_args(&env, &log, &["first"]);
    let before = fs::read(&log).expect("read");
    let holder = fs::File::open(&log).expect("open");
    holder.lock().expect("lock");

    let r = run(&env, &["log", "append", "--no-wait", s(&log), "x"], b"");
    assert_one_line_error(&r, &[s(&log), "locked"], "--no-wait");
    assert!(r.stdout.is_empty(), "stdout: {}", r.out());
    assert_eq!(fs::read(&log).expect("read"), before);

    let child = env
        .cmd(&["log", "append", s(&log), "second"])
        .command()
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut child = KillOnDrop(child);
    assert!(
        wait_child(&mut child.0, Duration::from_millis(300)).is_none(),
        "append finished while the log was locked"
    );
    assert_eq!(
        fs::read(&log).expect("read"),
        before,
        "written under the lock"
    );
    holder.unlock().expect("unlock");
    let status = wait_child(&mut child.0, Duration::from_secs(20)).expect("append still waits");
    assert_eq!(status.code(), Some(0));
    // Was a bug: it waited without a word. One line says why, and how not to wait.
    let mut said = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().expect("stderr"), &mut said)
        .expect("read stderr");
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(
        said.contains("waiting for another process to release its lock on")
            && said.contains(s(&log))
            && said.contains("--no-wait fails instead"),
        "{said}"
    );
    assert_eq!(
        payloads(&env, &log),
        vec![b"first".to_vec(), b"second".to_vec()]
    );
}

/// Was a bug: a file that is neither a native log nor a lines log was refused with "it does not
/// start with the log magic" only, which says nothing to the user of a lines log; the message
/// names both formats now, and the file is unchanged.
#[test]
fn append_to_a_file_of_neither_format_names_both() {
    let env = Env::new();
    let text = env.write("notes.txt", "hello\nworld\n");
    let r = run(&env, &["log", "append", s(&text), "x"], b"");
    assert_one_line_error(
        &r,
        &[
            s(&text),
            "does not start with the log magic",
            "lines log",
            "nothing was appended",
        ],
        "neither format",
    );
    assert_eq!(r.code, 2);
    assert_eq!(env.read("notes.txt"), b"hello\nworld\n");
}

/// Guards: `--print-offsets` prints one offset per appended record, each where dump says the
/// record is (new log and existing log); `--verify` succeeds on a good append.
#[test]
fn print_offsets_match_dump_and_verify_succeeds() {
    let env = Env::new();
    let log = env.path("o.log");
    let mut printed = Vec::new();
    for (args, stdin) in [
        (vec!["--print-offsets", s(&log), "a", "", "ccc"], &b""[..]),
        (
            vec!["--print-offsets", "--verify", s(&log)],
            &b"dd\neeeee\n"[..],
        ),
        (
            vec!["--verify", "--print-offsets", "--whole", s(&log)],
            &b"f\0g\nh"[..],
        ),
    ] {
        let mut full = vec!["log", "append"];
        full.extend(args);
        let r = run(&env, &full, stdin);
        assert_eq!(r.code, 0, "{}", r.stderr);
        printed.extend(r.out().lines().map(|l| {
            l.parse::<u64>()
                .unwrap_or_else(|_| panic!("offset line {l:?}"))
        }));
    }
    let (code, records) = dump_json(&env, &log, &[]);
    assert_eq!(code, 0);
    let offsets: Vec<u64> = records
        .iter()
        .map(|r| r["offset"].as_u64().expect("offset"))
        .collect();
    assert_eq!(printed, offsets);
    assert_eq!(printed.len(), 6);
    assert_eq!(payload_of(&records[5]), b"f\0g\nh");
    let r = run(&env, &["log", "append", "--verify", s(&log), "z"], b"");
    assert_eq!((r.code, r.stdout.len()), (0, 0), "{}", r.stderr);
}

// ---------------------------------------------------------------------------------------------
// Dump: --last, selection, damage, closed stdout, --follow
// ---------------------------------------------------------------------------------------------

/// Guards: `dump --last 10` on a 50 MB log reads only the tail (--stats: under 1% of the file
/// and 256 KiB) and prints exactly the last 10 records of the full dump.
#[test]
fn dump_last_reads_only_the_tail() {
    let env = Env::new();
    let log = env.path("big.log");
    const LINES: usize = 50_000;
    let mut input = Vec::with_capacity(LINES * 1000);
    for i in 0..LINES {
        let head = format!("line {i:06} ");
        input.extend_from_slice(head.as_bytes());
        input.extend(std::iter::repeat_n(b'.', 999 - head.len()));
        input.push(b'\n');
    }
    let r = run(&env, &["log", "append", "--sync", "none", s(&log)], &input);
    assert_eq!(r.code, 0, "{}", r.stderr);
    drop(input);
    let size = fs::metadata(&log).expect("stat").len();
    assert!(size >= 50_000_000, "{size}");

    for format in ["raw", "json", "text"] {
        let r = run(
            &env,
            &[
                "log",
                "dump",
                "--last",
                "10",
                "--stats",
                "--format",
                format,
                s(&log),
            ],
            b"",
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        let stats: Value =
            serde_json::from_str(r.stderr.lines().last().expect("stats line")).expect("stats JSON");
        let read = stats["bytes_read"].as_u64().expect("bytes_read");
        // The last commit group (one append, at most 4 MiB and a record) is read whole and
        // checked, in windows of up to 1 MiB.
        assert!(
            read < size / 5 && read < 6 << 20,
            "--last 10 read {read} of {size} bytes"
        );
        if format == "raw" {
            let full = run(&env, &["log", "dump", "--format", "raw", s(&log)], b"");
            assert_eq!(full.code, 0);
            let full = full.out();
            let tail: Vec<&str> = full.lines().rev().take(10).collect::<Vec<_>>();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            let last: Vec<String> = r.out().lines().map(str::to_string).collect();
            assert_eq!(last, tail);
            assert!(last[9].starts_with(&format!("line {:06} ", LINES - 1)));
        }
    }
}

/// Guards: `--last N` prints the same lines as the end of the full dump in every format (on a
/// small log, where the full text/JSON dump is cheap), also when the log ends in a torn tail
/// (the forward fallback).
#[test]
fn dump_last_equals_the_end_of_the_full_dump() {
    let env = Env::new();
    let log = env.path("s.log");
    let input: String = (0..300)
        .map(|i| format!("record {i} {}\n", "x".repeat(i % 37)))
        .collect();
    let r = run(
        &env,
        &["log", "append", "--sync", "none", s(&log)],
        input.as_bytes(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    for format in ["text", "json", "raw"] {
        let full = run(&env, &["log", "dump", "--format", format, s(&log)], b"").out();
        let last = run(
            &env,
            &["log", "dump", "--last", "10", "--format", format, s(&log)],
            b"",
        );
        assert_eq!(last.code, 0);
        let want: Vec<&str> = full.lines().skip(290).collect();
        assert_eq!(last.out().lines().collect::<Vec<_>>(), want, "{format}");
    }
    // Torn tail: the last 10 valid records, and exit 1 for the damage.
    let full = run(&env, &["log", "dump", "--format", "raw", s(&log)], b"").out();
    common::shorten(&log, 1);
    let last = run(
        &env,
        &["log", "dump", "--last", "10", "--format", "raw", s(&log)],
        b"",
    );
    assert_eq!(last.code, 1, "{}", last.stderr);
    let want: Vec<&str> = full.lines().skip(289).take(10).collect();
    assert_eq!(last.out().lines().collect::<Vec<_>>(), want);
}

/// Guards: --first, --start/--end and --index select exactly the right records.
#[test]
fn dump_selection() {
    let env = Env::new();
    let log = env.path("sel.log");
    let input: String = (0..20)
        .map(|i| format!("r{i}{}\n", "-".repeat(i * 3)))
        .collect();
    let r = run(
        &env,
        &["log", "append", "--sync", "none", s(&log)],
        input.as_bytes(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (_, all) = dump_json(&env, &log, &[]);
    assert_eq!(all.len(), 20);
    let off = |i: usize| all[i]["offset"].as_u64().expect("offset");
    let (o2, o3, o5, o7, o9) = (off(2), off(3), off(5), off(7), off(9));
    // `--first 0` and `--last 0` select nothing and are refused (exit 2):
    // formats::commands::dump_selections_of_no_record_are_refused.
    let cases: Vec<(String, std::ops::Range<usize>)> = vec![
        ("--first 5".into(), 0..5),
        ("--first 50".into(), 0..20),
        ("--last 3".into(), 17..20),
        (format!("--start {o3}"), 3..20),
        (format!("--start {}", o3 + 1), 4..20),
        (format!("--end {o7}"), 0..7),
        (format!("--end {}", o7 + 1), 0..8),
        (format!("--start {o2} --end {o9}"), 2..9),
        ("--index 5".into(), 5..6),
        ("--index 5..9".into(), 5..9),
        ("--index ..3".into(), 0..3),
        ("--index 17..".into(), 17..20),
        ("--index 4.. --first 2".into(), 4..6),
        ("--index 4..12 --last 3".into(), 9..12),
        (format!("--start {o5} --last 2"), 18..20),
    ];
    for (args, want) in cases {
        let args: Vec<&str> = args.split_whitespace().collect();
        let (code, got) = dump_json(&env, &log, &args);
        assert_eq!(code, 0, "{args:?}");
        assert_eq!(
            got,
            all[want.clone()].to_vec(),
            "{args:?} should select records {want:?}"
        );
    }
}

/// Guards: damage in a dump: text shows DAMAGE with the offset and stops (exit 3) unless
/// --resync, which prints the later records too; raw keeps the note off stdout; JSON emits a
/// {"damage":…} object.
#[test]
fn dump_shows_damage() {
    let env = Env::new();
    let log = env.path("d.log");
    append_each(&env, &log, &["alpha", "bravo", "charlie", "delta"]);
    let mut bytes = fs::read(&log).expect("read");
    let records = layout(&bytes);
    let (bad, next) = (records[1].0, records[2].0);
    bytes[bad + 24 + 2] ^= 0x04;
    fs::write(&log, &bytes).expect("write");

    let r = run(&env, &["log", "dump", s(&log)], b"");
    assert_eq!(r.code, 3, "{}", r.stderr);
    let text = r.out();
    let damage = text
        .lines()
        .find(|l| l.contains("DAMAGE"))
        .expect("DAMAGE line");
    assert!(damage.contains(&bad.to_string()), "{damage}");
    assert!(
        damage.contains(&next.to_string()),
        "names the next valid record: {damage}"
    );
    assert!(text.contains("alpha") && !text.contains("charlie") && !text.contains("delta"));

    let r = run(&env, &["log", "dump", "--resync", s(&log)], b"");
    assert_eq!(r.code, 3);
    let text = r.out();
    assert!(text.contains("DAMAGE"), "{text}");
    for p in ["alpha", "charlie", "delta"] {
        assert!(text.contains(p), "--resync shows {p}: {text}");
    }
    assert!(
        !text.contains("bravo"),
        "the damaged payload is not shown as a record"
    );

    let r = run(&env, &["log", "dump", "--format", "raw", s(&log)], b"");
    assert_eq!(r.code, 3);
    assert_same(&r.stdout, b"alpha\n", "raw stdout carries payloads only");
    assert!(r.stderr.contains(&bad.to_string()), "{}", r.stderr);
    let r = run(
        &env,
        &["log", "dump", "--format", "raw", "--resync", s(&log)],
        b"",
    );
    assert_eq!(r.code, 3);
    assert_same(&r.stdout, b"alpha\ncharlie\ndelta\n", "stdout");
    assert!(r.stderr.contains("checksum-mismatch"), "{}", r.stderr);

    let (code, objects) = dump_json(&env, &log, &["--resync"]);
    assert_eq!(code, 3);
    assert_eq!(objects.len(), 4, "{objects:?}");
    assert_eq!(objects[1]["damage"]["offset"], bad);
    assert_eq!(objects[1]["damage"]["kind"], "checksum-mismatch");
    assert_eq!(objects[1]["damage"]["next_valid"], next);
    assert_eq!(payload_of(&objects[2]), b"charlie");

    // A torn tail in a dump: exit 1, shown as damage with nothing valid after it.
    let mut torn = bytes;
    torn[bad + 24 + 2] ^= 0x04; // repaired: only the torn tail is left
    torn.truncate(torn.len() - 1);
    let torn_log = env.write("torn.log", &torn);
    let (code, objects) = dump_json(&env, &torn_log, &[]);
    assert_eq!(code, 1);
    let last = objects.last().expect("damage");
    assert_eq!(last["damage"]["offset"], records[3].0);
    assert_eq!(last["damage"]["next_valid"], Value::Null);
}

/// Guards: `dump` into a closed pipe (`| head -1`) is exit 0 with nothing on stderr, in every
/// format, for output larger than a pipe buffer.
#[test]
fn dump_into_closed_pipe_is_not_an_error() {
    let env = Env::new();
    let log = env.path("p.log");
    let input: String = (0..1000)
        .map(|i| format!("{i:04} {}\n", "z".repeat(100)))
        .collect();
    let r = run(
        &env,
        &["log", "append", "--sync", "none", s(&log)],
        input.as_bytes(),
    );
    assert_eq!(r.code, 0);
    for format in ["text", "hex", "json", "raw"] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = env
            .cmd(&["log", "dump", "--format", format, s(&log)])
            .command()
            .stdout(writer)
            .output()
            .expect("run durable");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Guards: `dump --follow` prints records appended later, and waits for a record that is only
/// half written instead of printing it or giving up.
#[test]
fn dump_follow_waits_for_complete_records() {
    let env = Env::new();
    let log = env.path("f.log");
    append_args(&env, &log, &["zero"]);
    let Running {
        mut child,
        stdout: seen,
        ..
    } = env
        .cmd(&["log", "dump", "--follow", "--format", "raw", s(&log)])
        .spawn();
    let shows = |text: &str| {
        let seen = Arc::clone(&seen);
        let text = text.to_string();
        move || String::from_utf8_lossy(&seen.lock().expect("lock")).contains(&text)
    };
    assert!(
        wait_until(Duration::from_secs(10), shows("zero")),
        "existing record"
    );

    append_args(&env, &log, &["one"]);
    assert!(
        wait_until(Duration::from_secs(10), shows("one")),
        "appended record"
    );

    // A correctly encoded next record, taken from an append to a copy (same salt).
    let copy = env.path("copy.log");
    fs::copy(&log, &copy).expect("copy");
    append_args(&env, &copy, &["two-and-a-half"]);
    let old_len = fs::metadata(&log).expect("stat").len() as usize;
    let record = fs::read(&copy).expect("read")[old_len..].to_vec();
    let (first, second) = record.split_at(record.len() / 2);
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("open");
    f.write_all(first).expect("write half");
    f.flush().expect("flush");
    let before = seen.lock().expect("lock").len();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        seen.lock().expect("lock").len(),
        before,
        "printed something for half a record: {:?}",
        String::from_utf8_lossy(&seen.lock().expect("lock"))
    );
    assert!(
        child.0.try_wait().expect("try_wait").is_none(),
        "--follow gave up on a record being written"
    );
    f.write_all(second).expect("write rest");
    assert!(
        wait_until(Duration::from_secs(10), shows("two-and-a-half")),
        "completed record: {:?}",
        String::from_utf8_lossy(&seen.lock().expect("lock"))
    );
    assert!(
        String::from_utf8_lossy(&seen.lock().expect("lock"))
            .starts_with("zero\none\ntwo-and-a-half")
    );
    drop(child);
}

/// Was a bug: `dump --follow` of a path whose new file held a torn start (a header written in
/// place, cut short) showed nothing forever, even after `recover` emptied it and an append
/// started the log there; and an empty file named (a rotation's `create`) was refused at once
/// (exit 2) where the same file met after a rotation was waited on. As `tail -F` does, a file
/// with no complete header yet (empty, or a torn start) is waited on until it holds a log,
/// which is then followed from its start.
#[test]
fn dump_follow_waits_on_an_empty_file_or_a_torn_start_until_it_holds_a_log() {
    let env = Env::new();
    let whole = started_in_place(&env, "model.log", &["m"]);
    let shows = |seen: &common::Seen, text: &str| {
        let seen = Arc::clone(seen);
        let text = text.to_string();
        move || String::from_utf8_lossy(&seen.lock().expect("lock")).contains(&text)
    };
    // Rotated, and the new file at the path a torn start; then recovered and appended to.
    let log = env.path("g.log");
    append_args(&env, &log, &["a"]);
    let Running {
        mut child, stdout, ..
    } = env
        .cmd(&["log", "dump", "--follow", "--format", "raw", s(&log)])
        .spawn();
    assert!(
        wait_until(Duration::from_secs(10), shows(&stdout, "a")),
        "existing record"
    );
    fs::rename(&log, env.path("g.log.1")).expect("rotate");
    fs::write(&log, &whole[..30]).expect("torn start");
    std::thread::sleep(Duration::from_millis(300));
    let r = run(&env, &["recover", s(&log)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    append_args(&env, &log, &["c", "d"]);
    assert!(
        wait_until(Duration::from_secs(20), shows(&stdout, "a\nc\nd\n")),
        "records of the log started after the torn start: {:?}",
        String::from_utf8_lossy(&stdout.lock().expect("lock"))
    );
    assert!(
        child.0.try_wait().expect("try_wait").is_none(),
        "--follow ended"
    );
    drop(child);

    // Named empty, or a torn start, from the first: waited on, then followed.
    for (name, start) in [("e.log", &b""[..]), ("t.log", &whole[..30])] {
        let log = env.write(name, start);
        let Running {
            mut child,
            stdout,
            stderr,
        } = env
            .cmd(&["log", "dump", "--follow", "--format", "raw", s(&log)])
            .spawn();
        assert!(
            wait_until(Duration::from_secs(10), shows(&stderr, "waiting")),
            "{name}: {:?}",
            String::from_utf8_lossy(&stderr.lock().expect("lock"))
        );
        assert!(
            child.0.try_wait().expect("try_wait").is_none(),
            "{name}: --follow ended"
        );
        if !start.is_empty() {
            let r = run(&env, &["recover", s(&log)], b"");
            assert_eq!(r.code, 0, "{}", r.show());
        }
        append_args(&env, &log, &["e1", "e2"]);
        assert!(
            wait_until(Duration::from_secs(20), shows(&stdout, "e1\ne2\n")),
            "{name}: {:?} {:?}",
            String::from_utf8_lossy(&stdout.lock().expect("lock")),
            String::from_utf8_lossy(&stderr.lock().expect("lock"))
        );
        drop(child);
    }
}

// ---------------------------------------------------------------------------------------------
// System calls (strace)
// ---------------------------------------------------------------------------------------------

/// One traced call: its name, the path of its fd argument (strace -y), and the whole line.
#[derive(Debug)]
struct Call {
    /// The thread that made it.
    pid: u32,
    name: String,
    fd_path: Option<String>,
    line: String,
}

/// The calls and exits of `strace -f -y -o` output, read by the shared parser.
fn parse_strace(text: &str) -> Vec<Call> {
    parse_events(text)
        .unwrap_or_else(|e| panic!("cannot parse the trace: {e}\n{text}"))
        .into_iter()
        .map(|event| match event {
            Event::Call(c) => Call {
                pid: c.pid,
                fd_path: c.fd().and_then(|_| fd_and_path(&c.arg(0)?).1),
                line: format!("{}({}) = {}", c.name, c.args, c.ret_text),
                name: c.name,
            },
            Event::Exit { pid, code } => Call {
                pid,
                name: "+++".into(),
                fd_path: None,
                line: match code {
                    Some(code) => format!("+++ exited with {code} +++"),
                    None => "+++ killed by a signal +++".into(),
                },
            },
        })
        .collect()
}

fn strace_append(env: &Env, args: &[&str]) -> Vec<Call> {
    parse_strace(&common::strace_durable(
        env,
        &[
            "-y",
            "-e",
            "trace=openat,pwrite64,write,fsync,fdatasync,rename,renameat2,flock,close",
        ],
        args,
    ))
}

/// Guards the order of a streamed append's commit groups: each group's flush returns before its
/// offsets are printed, before the lock is released and before the next group is written, so
/// nothing is acknowledged before it is durable. Enough lines for several groups go through a
/// pipe; strace
/// (`-s 24`, so each stdout write shows its first offset) gives the order of the pwrite64s to
/// the log, its fsyncs and unlocks, and the writes to stdout. It also guards how the work is
/// split: the input is read (and encoded) on a second thread, one group ahead, and every call
/// on the log and every report is made by one thread, the one the crash explorer follows.
#[test]
fn streamed_groups_are_reported_only_after_their_flush() {
    let test = "log::streamed_groups_are_reported_only_after_their_flush";
    let env = Env::new();
    let dir = fs::canonicalize(env.dir.path()).expect("canonical scratch dir");
    let log = dir.join("s.log");
    let lines = 150_000;
    let input: String = (0..lines)
        .map(|i| format!("{i:09} {}\n", "x".repeat(54)))
        .collect();
    let Some(run) = crate::strace_parse::run_under_strace(
        test,
        &[
            "-f",
            "-y",
            "-s",
            "24",
            "-e",
            "trace=pwrite64,write,fsync,flock,read",
        ],
        &common::durable_path(),
        &["log", "append", "--print-offsets", s(&log)],
        &dir,
        input.as_bytes(),
    ) else {
        return;
    };
    assert!(run.output.status.success(), "{run:?}", run = run.output);
    let calls = parse_strace(&run.text);
    let log_name = s(&log).to_string();
    let on_log = |c: &Call, name: &str| c.name == name && c.fd_path.as_deref() == Some(&log_name);
    // The writes of records (the header is written to a temp file first): a group is written
    // in pieces of at most 1 MiB, one after the other, before its flush.
    let writes: Vec<(usize, u64, u64)> = (0..calls.len())
        .filter(|&i| on_log(&calls[i], "pwrite64"))
        .map(|i| {
            let args: Vec<&str> = calls[i].line.rsplit(", ").collect();
            let at = args[0]
                .split(')')
                .next()
                .unwrap_or("")
                .trim()
                .parse()
                .expect("offset");
            let len = args[1].trim().parse().expect("length");
            (i, at, len)
        })
        .collect();
    // The groups: (indexes of its first and last write, offset, bytes) for each run of writes
    // that follow one another in the file with no flush of the log between them.
    let mut groups: Vec<(usize, usize, u64, u64)> = Vec::new();
    for &(i, at, len) in &writes {
        let continues = groups.last().is_some_and(|&(_, last, start, bytes)| {
            start + bytes == at && !(last..i).any(|k| on_log(&calls[k], "fsync"))
        });
        match groups.last_mut() {
            Some(group) if continues => {
                group.1 = i;
                group.3 += len;
            }
            _ => groups.push((i, i, at, len)),
        }
    }
    assert!(
        writes.iter().all(|&(_, _, len)| len <= 1 << 20),
        "a write of more than 1 MiB:\n{}",
        dump_calls(&calls)
    );
    assert!(groups.len() >= 3, "several groups:\n{}", dump_calls(&calls));
    // The first record is read before the log is opened, on the calling thread; once the
    // groups flow, the input is read on the other one.
    let (first_write, committer) = (groups[0].1, calls[groups[0].0].pid);
    let mut reads_after = 0;
    for (i, c) in calls.iter().enumerate() {
        let on_the_log = c.fd_path.as_deref() == Some(&log_name);
        if on_the_log || c.line.starts_with("write(1") {
            assert_eq!(c.pid, committer, "not on the committing thread: {}", c.line);
        }
        if i > first_write && c.line.starts_with("read(0") {
            assert_ne!(
                c.pid, committer,
                "input read on the committing thread: {}",
                c.line
            );
            reads_after += 1;
        }
    }
    assert!(
        reads_after > 0,
        "no read of the input after the first group:\n{}",
        dump_calls(&calls)
    );
    let after = |from: usize, what: &str, pred: &dyn Fn(&Call) -> bool| {
        (from..calls.len())
            .find(|&i| pred(&calls[i]))
            .unwrap_or_else(|| panic!("no {what} after call {from}:\n{}", dump_calls(&calls)))
    };
    let mut synced = Vec::new();
    for (g, &(_, write, _, _)) in groups.iter().enumerate() {
        let sync = after(write, "fsync", &|c| on_log(c, "fsync"));
        let unlock = after(write, "unlock", &|c| {
            on_log(c, "flock") && c.line.contains("LOCK_UN")
        });
        assert!(
            sync < unlock,
            "group {g}: unlocked before its flush returned"
        );
        if let Some(&(next, _, _, _)) = groups.get(g + 1) {
            assert!(
                unlock < next,
                "group {}: written under the previous group's lock",
                g + 1
            );
        }
        synced.push(sync);
    }
    // Every write to stdout prints offsets of one group, flushed before it.
    let mut printed = 0;
    for (i, c) in calls.iter().enumerate() {
        if c.name != "write" || !c.line.starts_with("write(1") {
            continue;
        }
        printed += 1;
        let first: u64 = c
            .line
            .split('"')
            .nth(1)
            .and_then(|t| t.split('\\').next())
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("no offset in {}", c.line));
        let g = groups
            .iter()
            .position(|&(_, _, at, len)| at <= first && first < at + len)
            .unwrap_or_else(|| panic!("offset {first} is in no group"));
        assert!(
            synced[g] < i,
            "group {g}'s offsets printed before its flush returned:\n{}",
            dump_calls(&calls)
        );
    }
    assert!(printed >= groups.len(), "{}", dump_calls(&calls));
    let offsets = String::from_utf8_lossy(&run.output.stdout).lines().count();
    assert_eq!(offsets, lines);
    assert_eq!(payloads(&env, &log).len(), lines);
}

fn find(calls: &[Call], what: &str, pred: impl Fn(&Call) -> bool) -> usize {
    calls
        .iter()
        .position(pred)
        .unwrap_or_else(|| panic!("no {what} in the trace:\n{}", dump_calls(calls)))
}

fn dump_calls(calls: &[Call]) -> String {
    calls.iter().map(|c| format!("{}\n", c.line)).collect()
}

/// Guards the order of an append's system calls: a new log's header goes to a temp file that
/// is flushed, closed and renamed (no-replace) to the log's name, then the directory is flushed,
/// all before the records are written; the records go out in one pwrite64 under the lock,
/// before the log's fsync (fdatasync with --sync data), before exit.
#[test]
fn append_syscall_order() {
    if !common::have("strace") {
        common::skip("append_syscall_order", "strace is not installed");
        return;
    }
    let env = Env::new();
    let dir = fs::canonicalize(env.dir.path()).expect("canonical scratch dir");
    let dir = s(&dir).to_string();
    let log = format!("{dir}/new.log");
    let calls = strace_append(&env, &["log", "append", "new.log", "a", "bb", "ccc"]);
    let is = |c: &Call, name: &str, path: &dyn Fn(&str) -> bool| {
        c.name == name && c.fd_path.as_deref().is_some_and(path)
    };
    let temp = |p: &str| p.starts_with(&format!("{dir}/.new.log")) && p.ends_with(".durable-tmp");
    let the_log = |p: &str| p == log;
    let the_dir = |p: &str| p == dir;

    let create = find(&calls, "exclusive temp", |c| {
        c.name == "openat" && c.line.contains(".durable-tmp") && c.line.contains("O_EXCL")
    });
    let header = find(&calls, "header write", |c| {
        is(c, "pwrite64", &temp) && c.line.contains(", 64, 0)")
    });
    let temp_sync = find(&calls, "temp fsync", |c| is(c, "fsync", &temp));
    let temp_close = find(&calls, "temp close", |c| is(c, "close", &temp));
    let rename = find(&calls, "renameat2 NOREPLACE", |c| {
        c.name == "renameat2"
            && c.line.contains(".durable-tmp")
            && c.line.contains("\"new.log\"")
            && c.line.contains("RENAME_NOREPLACE")
            && c.line.trim_end().ends_with("= 0")
    });
    let dir_sync = find(&calls, "directory fsync", |c| is(c, "fsync", &the_dir));
    let lock = find(&calls, "flock", |c| {
        is(c, "flock", &the_log) && c.line.contains("LOCK_EX")
    });
    let writes: Vec<usize> = (0..calls.len())
        .filter(|&i| is(&calls[i], "pwrite64", &the_log) || is(&calls[i], "write", &the_log))
        .collect();
    assert_eq!(
        writes.len(),
        1,
        "one write for the group:\n{}",
        dump_calls(&calls)
    );
    let write = writes[0];
    let log_sync = find(&calls, "log fsync", |c| is(c, "fsync", &the_log));
    let exit = find(&calls, "exit", |c| c.line.starts_with("+++ exited with 0"));
    let order = [
        ("create temp", create),
        ("write header", header),
        ("fsync temp", temp_sync),
        ("close temp", temp_close),
        ("rename", rename),
        ("fsync dir", dir_sync),
        ("lock", lock),
        ("write records", write),
        ("fsync log", log_sync),
        ("exit", exit),
    ];
    for pair in order.windows(2) {
        assert!(
            pair[0].1 < pair[1].1,
            "{} must come before {}:\n{}",
            pair[0].0,
            pair[1].0,
            dump_calls(&calls)
        );
    }
    assert_eq!(payloads(&env, Path::new(&log)).len(), 3);

    // An existing log with --sync data: write, then fdatasync of the log, then exit; no write
    // to the log after its flush, and no temp file.
    let calls = strace_append(
        &env,
        &["log", "append", "--sync", "data", "new.log", "d", "e"],
    );
    assert!(
        !calls.iter().any(|c| c.line.contains(".durable-tmp")),
        "no temp for an existing log:\n{}",
        dump_calls(&calls)
    );
    let writes: Vec<usize> = (0..calls.len())
        .filter(|&i| is(&calls[i], "pwrite64", &the_log) || is(&calls[i], "write", &the_log))
        .collect();
    assert_eq!(writes.len(), 1, "{}", dump_calls(&calls));
    let sync = find(&calls, "log fdatasync", |c| is(c, "fdatasync", &the_log));
    let exit = find(&calls, "exit", |c| c.line.starts_with("+++ exited with 0"));
    assert!(writes[0] < sync && sync < exit, "{}", dump_calls(&calls));
    assert_eq!(payloads(&env, Path::new(&log)).len(), 5);
}

// Guards (regression, security): `durable log append LOG` opened LOG with the kernel's open,
// which follows a symlink without the fs.protected_symlinks check when that setting is off (0
// on some systems): root's append to `pub/L`, another user's link in a /tmp-like directory,
// appended to whatever log it pointed to (created one where it pointed, for a dangling link).
// durable applies the rule itself, as `durable save` does: in a sticky world-writable directory
// a link (the log's name, or a directory on its path) is followed only for its owner or when
// the directory's owner owns it. Refused with one sentence naming the link, its owner, the
// command and the rule, exit 2, the log untouched and no log created; followed for root's own
// link and for a link the directory's owner owns.
#[test]
fn an_append_does_not_follow_another_users_link_in_a_sticky_world_writable_directory() {
    use crate::common::{
        NOBODY, assert_sticky_refusal, give, is_root, link_owned_by, skip, sticky_dir,
    };
    let test =
        "log::an_append_does_not_follow_another_users_link_in_a_sticky_world_writable_directory";
    if !is_root() {
        skip(test, "it needs root to own a symlink as another user");
        return;
    }
    let env = Env::new();
    let log = env.path("rootonly/events.log");
    fs::create_dir(env.path("rootonly")).expect("mkdir");
    append_args(&env, &log, &["one"]);
    let before = fs::read(&log).expect("read");
    let pubdir = sticky_dir(&env, "pub");
    let link = link_owned_by(&log, &pubdir.join("L"), NOBODY);
    link_owned_by(&env.path("rootonly"), &pubdir.join("D"), NOBODY);
    link_owned_by(&env.path("rootonly/new.log"), &pubdir.join("N"), NOBODY);
    for (name, shown) in [
        ("pub/L", "pub/L"),
        ("pub/D/events.log", "pub/D"),
        ("pub/N", "pub/N"),
        ("pub/D/new.log", "pub/D"),
    ] {
        for lines in [false, true] {
            let mut args = vec!["log", "append"];
            if lines {
                args.extend(["--log-format", "lines"]);
            }
            args.extend([name, "planted"]);
            let r = run(&env, &args, b"");
            assert_sticky_refusal(&r, "log append", shown, &format!("{args:?}"));
            assert_eq!(fs::read(&log).expect("read"), before, "{args:?}");
            assert!(!env.path("rootonly/new.log").exists(), "{args:?}");
        }
    }
    let records = |path: &Path| {
        let r = run(&env, &["log", "dump", "--format", "raw", s(path)], b"");
        assert_eq!(r.code, 0, "{}", r.show());
        r.out()
    };
    // The directory's owner owns the link: followed.
    give(&pubdir, NOBODY);
    let r = run(&env, &["log", "append", "pub/L", "two"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    give(&pubdir, 0);
    // Root's own links: followed, a dangling one creating the log it names.
    give(&link, 0);
    let r = run(&env, &["log", "append", "pub/L", "three"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(records(&log), "one\ntwo\nthree\n");
    give(&pubdir.join("N"), 0);
    let r = run(&env, &["log", "append", "pub/N", "new"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(records(&env.path("rootonly/new.log")), "new\n");
}

/// Was a bug: `recover DIR` emptied any file of a byte or two that start the log magic
/// (`0x89`, which starts PNG's signature too) as a torn start: in a walk a torn start needs the
/// whole magic (8 bytes); shorter ones are not provably ours and are left alone. Named, they
/// are still a torn start (the user says it is a log).
#[test]
fn a_walk_leaves_files_shorter_than_the_magic_alone() {
    let env = Env::new();
    let whole = started_in_place(&env, "model.log", &["one"]);
    fs::remove_file(env.path("model.log")).expect("rm");
    for len in 1..8 {
        env.write(&format!("d/short{len}.bin"), &whole[..len]);
    }
    env.write("d/magic.bin", &whole[..8]);
    let r = run(&env, &["recover", "d"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    for len in 1..8 {
        assert_eq!(
            env.read(&format!("d/short{len}.bin")),
            &whole[..len],
            "{len}"
        );
    }
    assert_eq!(
        env.read("d/magic.bin"),
        b"",
        "the whole magic is a torn start"
    );
    let r = run(&env, &["log", "verify", "d"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(
        r.out().contains("shorter than the log magic"),
        "{}",
        r.show()
    );
    let r = run(&env, &["recover", "d/short1.bin"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(env.read("d/short1.bin"), b"", "named, a torn start");
}

/// Was a bug (commands disagreeing): `log salvage` of a file of only zeros said "not a log"
/// (exit 2) where verify, dump and recover read it as a native log whose start was lost (a torn
/// start up to 64 bytes, corruption beyond). Salvage reads it alike: a new, empty log, the
/// zeros skipped as one damaged region.
#[test]
fn salvage_reads_a_file_of_only_zeros_as_verify_does() {
    let env = Env::new();
    for len in [64usize, 5000] {
        let src = env.write(&format!("z{len}.log"), vec![0u8; len]);
        let dst = env.path(&format!("s{len}.log"));
        let r = run(&env, &["log", "salvage", s(&src), s(&dst)], b"");
        assert_eq!(r.code, 0, "{len}: {}", r.show());
        assert!(r.out().contains("copied 0 valid records"), "{}", r.show());
        let (code, v) = verify_json(&env, &dst);
        assert_eq!((code, v["records"].as_u64()), (0, Some(0)), "{len}: {v}");
        assert_eq!(
            env.read(&format!("z{len}.log")),
            vec![0u8; len],
            "source unchanged"
        );
    }
}
