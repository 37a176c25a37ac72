//! Where a native log ends, through the user's journey: logs built by every kind of append
//! (single-record, multi-record, streamed in groups, with records larger than the reader's
//! window), damaged in every shape crashes and disks produce (every truncation point, every
//! changed byte, every zeroed 512-byte sector), then verify → recover → append → verify →
//! dump → salvage. The commands must agree with each other and with the rule in
//! docs/FORMAT.md ("Where a log ends"), and the next operation must work:
//!
//! - verify, dump, recover and append give the same verdict (exit 0, 1 or 3);
//! - a cut (or a zeroed sector inside the last append) is a torn tail whose valid part ends at
//!   the start of the append it hit; recover cuts exactly there, the sidecar holds exactly what
//!   was cut, and then append and verify succeed;
//! - a changed byte is never a torn write: corruption (exit 3), recover refuses and changes
//!   nothing, and no record of an acknowledged append is cut;
//! - salvage keeps every valid record verify counts, into a log that verifies clean.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::common::Env;
use crate::common::{run, s};
use crate::log::{HEADER_LEN, json_lines, pseudo_random};

/// An append of the original log: where it starts and ends, and its records' (start, end).
#[derive(Debug, Clone)]
struct Append {
    start: usize,
    end: usize,
    records: Vec<(usize, usize)>,
}

/// The appends of a clean log, read from the bytes by the documented layout (flags in byte 5
/// of each record header), independently of durable's reader.
fn appends(bytes: &[u8]) -> Vec<Append> {
    let checksum = if bytes[10] == 2 { 32 } else { 4 };
    let mut out: Vec<Append> = Vec::new();
    let mut at = HEADER_LEN;
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().expect("len")) as usize;
        let end = at + 24 + len + 8 + checksum;
        let flags = bytes[at + 5];
        if flags & 1 != 0 {
            out.push(Append {
                start: at,
                end,
                records: Vec::new(),
            });
        }
        let last = out.last_mut().expect("a first record starts every append");
        last.records.push((at, end));
        last.end = end;
        at = end;
    }
    assert_eq!(at, bytes.len());
    out
}

/// What the rule says about one damaged copy, from the original's appends.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    Clean,
    /// Torn, the valid log ending at this offset.
    Torn(usize),
    /// Corrupt, the valid log ending at this offset (where `--force` cuts).
    Corrupt(usize),
    /// Either (the documented ambiguity: zeros over an append boundary).
    Either,
}

struct Case {
    name: String,
    bytes: Vec<u8>,
    want: Want,
}

/// The append that holds byte `at`.
fn append_at(appends: &[Append], at: usize) -> &Append {
    appends
        .iter()
        .find(|a| a.start <= at && at < a.end)
        .expect("a byte inside some append")
}

/// Every cut, every changed byte and every zeroed sector of `bytes` (a sample of each when
/// `stride` > 1), with what the rule says.
fn cases(label: &str, bytes: &[u8], stride: usize) -> Vec<Case> {
    let appends = appends(bytes);
    let last = appends.last().expect("records").start;
    let boundary = |at: usize| at == HEADER_LEN || appends.iter().any(|a| a.end == at);
    // Sampled runs still take every place next to a record boundary.
    let near = if stride > 1 { 2 } else { 3 };
    let near_record = |at: usize| {
        appends
            .iter()
            .flat_map(|a| &a.records)
            .any(|r| r.0.abs_diff(at) < near || r.1.abs_diff(at) < near)
    };
    let mut out = Vec::new();
    for len in HEADER_LEN..bytes.len() {
        if len % stride != 0 && !near_record(len) {
            continue;
        }
        let want = if boundary(len) {
            Want::Clean
        } else {
            Want::Torn(append_at(&appends, len).start)
        };
        out.push(Case {
            name: format!("{label}-cut{len}"),
            bytes: bytes[..len].to_vec(),
            want,
        });
    }
    for at in HEADER_LEN..bytes.len() {
        if at % stride != 0 && !near_record(at) {
            continue;
        }
        let mut damaged = bytes.to_vec();
        damaged[at] ^= 0x5a;
        out.push(Case {
            name: format!("{label}-byte{at}"),
            bytes: damaged,
            want: Want::Corrupt(append_at(&appends, at).start),
        });
    }
    for sector in (512..bytes.len()).step_by(512) {
        if (sector / 512) % stride.div_ceil(512) != 0 && !near_record(sector) {
            continue;
        }
        let end = (sector + 512).min(bytes.len());
        if bytes[sector..end].iter().all(|b| *b == 0) {
            continue;
        }
        let mut damaged = bytes.to_vec();
        damaged[sector..end].fill(0);
        let want = if sector >= last {
            // Inside the last append: a block that never reached the disk.
            Want::Torn(last)
        } else if end <= last {
            // Before the last (whole) append: it had been acknowledged.
            let first_hit = appends
                .iter()
                .flat_map(|a| &a.records)
                .find(|r| r.1 > sector)
                .expect("a record");
            Want::Corrupt(append_at(&appends, first_hit.0).start)
        } else {
            Want::Either
        };
        out.push(Case {
            name: format!("{label}-zeros{sector}"),
            bytes: damaged,
            want,
        });
    }
    out
}

/// Run `durable ARGS` in the scratch directory; the exit code and stdout as JSON lines.
fn json_run(env: &Env, args: &[&str]) -> (i32, Vec<Value>) {
    let r = run(env, args, b"");
    (r.code, json_lines(&r.stdout))
}

/// The reports of one `durable CMD --json` run over many files, by path.
fn by_path(values: Vec<Value>) -> HashMap<String, Value> {
    values
        .into_iter()
        .map(|v| (crate::common::data_text(&v["path"]), v))
        .collect()
}

fn exit_of(want: Want) -> Option<i64> {
    match want {
        Want::Clean => Some(0),
        Want::Torn(_) => Some(1),
        Want::Corrupt(_) => Some(3),
        Want::Either => None,
    }
}

/// The whole journey for every case of `label`'s log.
fn journey(env: &Env, label: &str, bytes: &[u8], stride: usize, deep_every: usize) {
    let cases = cases(label, bytes, stride);
    assert!(!cases.is_empty());
    let dir = format!("{label}-cases");
    for c in &cases {
        env.write(&format!("{dir}/{}", c.name), &c.bytes);
    }
    let names: Vec<String> = cases.iter().map(|c| format!("{dir}/{}", c.name)).collect();
    let args = |cmd: &[&'static str]| {
        let mut a: Vec<&str> = cmd.to_vec();
        a.extend(names.iter().map(String::as_str));
        a
    };

    // verify: the verdict of the rule.
    let (_, reports) = json_run(env, &args(&["log", "verify", "--json"]));
    let verified = by_path(reports);
    let mut failures = Vec::new();
    for (c, name) in cases.iter().zip(&names) {
        let v = &verified[name];
        let code = v["exit_code"].as_i64().expect("exit_code");
        let ok = match c.want {
            Want::Clean => code == 0 && v["valid_end"].as_u64() == Some(c.bytes.len() as u64),
            Want::Torn(end) => code == 1 && v["valid_end"].as_u64() == Some(end as u64),
            Want::Corrupt(end) => code == 3 && v["valid_end"].as_u64() == Some(end as u64),
            Want::Either => code == 1 || code == 3,
        };
        if !ok {
            failures.push(format!("{name}: want {:?}, verify says {v}", c.want));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures[..failures.len().min(10)].join("\n")
    );

    // recover: the same verdict; a torn tail cut exactly at the end of the valid log, into a
    // sidecar that holds exactly what was cut; corruption refused, the file unchanged.
    let (_, reports) = json_run(env, &args(&["recover", "--json"]));
    let recovered = by_path(reports);
    for (c, name) in cases.iter().zip(&names) {
        let v = &verified[name];
        let r = &recovered[name];
        let after = fs::read(env.path(name)).expect("read");
        let valid_end = v["valid_end"].as_u64().expect("valid_end") as usize;
        match v["exit_code"].as_i64() {
            Some(0) => assert_eq!(after, c.bytes, "{name}: recover changed a clean log"),
            Some(1) => {
                assert_eq!(r["exit_code"], 0, "{name}: {r}");
                assert_eq!(
                    after,
                    &c.bytes[..valid_end],
                    "{name}: not cut at {valid_end}"
                );
                let sidecar = crate::common::data_text(&r["sidecar"]);
                let kept = crate::common::read_sidecar(&env.path(&sidecar));
                assert!(
                    kept == c.bytes[valid_end..],
                    "{name}: the sidecar does not hold the cut bytes"
                );
                // No record of an acknowledged append is cut: only the last append goes.
                if let Want::Torn(end) = c.want {
                    assert_eq!(valid_end, end, "{name}");
                }
            }
            _ => {
                assert_eq!(r["exit_code"], 3, "{name}: {r}");
                assert_eq!(after, c.bytes, "{name}: recover changed a corrupt log");
            }
        }
    }
    // A second recover changes nothing; verify agrees with it.
    let (_, reports) = json_run(env, &args(&["log", "verify", "--json"]));
    for (name, v) in by_path(reports) {
        let before = &verified[&name];
        let want = if before["exit_code"] == 3 { 3 } else { 0 };
        assert_eq!(v["exit_code"], want, "{name} after recover: {v}");
    }

    // append, verify, dump, salvage on a sample: the next operation works.
    for (i, (c, name)) in cases.iter().zip(&names).enumerate() {
        if i % deep_every != 0 {
            continue;
        }
        let path = env.path(name);
        let before = fs::read(&path).expect("read");
        let corrupt = verified[name]["exit_code"] == 3;
        let r = run(env, &["log", "append", "--sync", "none", name, "next"], b"");
        if corrupt {
            // The tail check refuses only damage in the last append; damage further back does
            // not stop an append (verify finds it).
            assert!(r.code == 0 || r.code == 3, "{name}: {}", r.stderr);
            if r.code == 3 {
                assert_eq!(fs::read(&path).expect("read"), before, "{name}");
            }
        } else {
            assert_eq!(r.code, 0, "{name} after recover: {}", r.stderr);
        }
        let (code, v) = json_run(env, &["log", "verify", "--json", name]);
        assert_eq!(code, if corrupt { 3 } else { 0 }, "{name}: {v:?}");
        let dump = run(env, &["log", "dump", "--format", "json", name], b"");
        assert_eq!(
            i64::from(dump.code),
            i64::from(code),
            "{name}: dump and verify disagree"
        );
        if !corrupt {
            let records = json_lines(&dump.stdout);
            assert_eq!(
                records
                    .last()
                    .map(|r| crate::common::data_text(&r["payload"])),
                Some("next".to_string()),
                "{name}"
            );
        }
        let salvaged = format!("{dir}/salvaged-{i}.log");
        let r = run(env, &["log", "salvage", name, &salvaged], b"");
        assert_eq!(r.code, 0, "{name}: salvage: {}", r.stderr);
        let (code, sv) = json_run(env, &["log", "verify", "--json", &salvaged]);
        assert_eq!(code, 0, "{salvaged}: {sv:?}");
        assert_eq!(
            sv[0]["records"], v[0]["records"],
            "{name}: salvage kept a different number of records"
        );
        let _ = exit_of(c.want);
    }
}

/// Append `records` as arguments: one append.
fn append_args(env: &Env, log: &Path, records: &[&str]) {
    let mut args = vec!["log", "append", "--sync", "none", s(log)];
    args.extend_from_slice(records);
    let r = run(env, &args, b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// Stream `batches` of lines into one `log append`, pausing between batches long enough for
/// each batch to become a commit group of its own.
fn append_streamed(env: &Env, log: &Path, batches: &[Vec<String>]) {
    let (child, mut stdin) = spawn_append(env, &["--sync", "none", s(log)]);
    for batch in batches {
        let mut text = batch.join("\n");
        text.push('\n');
        stdin.write_all(text.as_bytes()).expect("feed durable");
        stdin.flush().expect("flush");
        std::thread::sleep(Duration::from_millis(150));
    }
    drop(stdin);
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `durable log append ARGS` reading from a pipe: the child and the pipe's writing end.
fn spawn_append(env: &Env, args: &[&str]) -> (std::process::Child, std::process::ChildStdin) {
    let mut child = env
        .cmd(&["log", "append"])
        .args(args)
        .command()
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn durable");
    let stdin = child.stdin.take().expect("stdin");
    (child, stdin)
}

fn lines(prefix: &str, n: usize, width: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{prefix}{i:03} {}", "z".repeat(width)))
        .collect()
}

/// Guards: single-record appends (each one is evidence for the ones before it).
#[test]
fn single_record_appends_through_every_damage() {
    let env = Env::new();
    let log = env.path("single.log");
    for r in ["alpha", "", "gamma gamma gamma", "delta"] {
        append_args(&env, &log, &[r]);
    }
    // Enough bytes for zeroed sectors: one longer record.
    append_args(&env, &log, &[&"e".repeat(700)]);
    journey(&env, "single", &fs::read(&log).expect("read"), 1, 7);
}

/// Guards: multi-record appends (a crash during one was the wedge: recover kept part of it and
/// the next append refused it).
#[test]
fn multi_record_appends_through_every_damage() {
    let env = Env::new();
    let log = env.path("multi.log");
    append_args(&env, &log, &["a"]);
    append_args(&env, &log, &["b", "c", "d"]);
    append_args(&env, &log, &["e", "ffff"]);
    let many = lines("g", 30, 20);
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    append_args(&env, &log, &many);
    journey(&env, "multi", &fs::read(&log).expect("read"), 1, 9);
}

/// Guards: a streamed append committed in groups (each group is an append of its own).
#[test]
fn streamed_groups_through_every_damage() {
    let env = Env::new();
    let log = env.path("stream.log");
    append_streamed(
        &env,
        &log,
        &[lines("s", 10, 30), lines("t", 5, 60), lines("u", 20, 10)],
    );
    let bytes = fs::read(&log).expect("read");
    assert!(appends(&bytes).len() >= 3, "the pauses made groups");
    journey(&env, "stream", &bytes, 2, 13);
}

/// Guards: records larger than the reader's 1 MiB window (sampled damage).
#[test]
fn huge_records_through_sampled_damage() {
    let env = Env::new();
    let log = env.path("huge.log");
    let big = env.write("big", pseudo_random((1 << 20) + 3000, 11));
    append_args(&env, &log, &["small"]);
    let r = run(
        &env,
        &[
            "log",
            "append",
            "--sync",
            "none",
            s(&log),
            "--file",
            s(&big),
            "mid",
        ],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    append_args(&env, &log, &["tail", "end"]);
    let bytes = fs::read(&log).expect("read");
    journey(&env, "huge", &bytes, 131_071, 5);
}

// ---------------------------------------------------------------------------------------------
// The bugs of the end-of-log decision, one by one
// ---------------------------------------------------------------------------------------------

/// Guards: a crash during a multi-record append used to wedge the log: recover kept the first
/// records of the unfinished append, the next append refused the tail, recover called it
/// clean, and only salvage got out. Now recover cuts the unfinished append whole.
#[test]
fn a_crash_inside_a_multi_record_append_no_longer_wedges_the_log() {
    let env = Env::new();
    let log = env.path("w.log");
    append_args(&env, &log, &["a"]);
    let r = run(&env, &["log", "append", s(&log)], b"b\nc\nd\n");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let bytes = fs::read(&log).expect("read");
    fs::write(&log, &bytes[..bytes.len() - 2]).expect("truncate");
    let (code, v) = json_run(&env, &["log", "verify", "--json", s(&log)]);
    assert_eq!(code, 1, "{v:?}");
    assert_eq!(v[0]["valid_end"], 101, "{v:?}");
    assert_eq!(v[0]["records_unfinished"], 2, "{v:?}");
    let r = run(&env, &["recover", s(&log)], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The sidecar holds the unfinished append, shown at the offsets it had in the log.
    let side = crate::common::sidecar_path(&log, 101);
    let (code, items) = json_run(&env, &["log", "dump", "--format", "json", s(&side)]);
    assert_eq!(code, 1, "{items:?}");
    let offsets: Vec<u64> = items.iter().filter_map(|v| v["offset"].as_u64()).collect();
    assert_eq!(offsets, [101, 138], "{items:?}");
    let damage = &items.last().expect("the damage")["damage"];
    assert_eq!(
        (&damage["offset"], &damage["cut"]),
        (&Value::from(175), &Value::from(101)),
        "{items:?}"
    );
    let r = run(&env, &["log", "append", s(&log), "e"], b"");
    assert_eq!(r.code, 0, "append after recover: {}", r.stderr);
    let (code, v) = json_run(&env, &["log", "verify", "--json", s(&log)]);
    assert_eq!(code, 0, "{v:?}");
    let (_, records) = json_run(&env, &["log", "dump", "--format", "json", s(&log)]);
    let got: Vec<String> = records
        .iter()
        .map(|r| crate::common::data_text(&r["payload"]))
        .collect();
    assert_eq!(got, ["a", "e"]);
}

/// Guards: one changed byte at offset 88 (inside record 0) of an acknowledged 100,000-record
/// append used to be a "torn tail" with 0 valid records, and recover moved 99,999 intact records
/// away. It is corruption: verify exits 3 naming the 99,999 records after it, recover refuses
/// and changes nothing, salvage keeps all 99,999.
#[test]
fn a_changed_byte_in_a_100000_record_append_is_corruption_not_a_torn_tail() {
    let env = Env::new();
    let log = env.path("big.log");
    let input: String = (1..=100_000).map(|i| format!("{i}\n")).collect();
    let r = run(
        &env,
        &["log", "append", "--atomic", "--sync", "none", s(&log)],
        input.as_bytes(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut bytes = fs::read(&log).expect("read");
    bytes[88] = b'X';
    fs::write(&log, &bytes).expect("write");
    let (code, v) = json_run(&env, &["log", "verify", "--json", s(&log)]);
    assert_eq!(code, 3, "{v:?}");
    assert_eq!(v[0]["records_after_damage"], 99_999, "{v:?}");
    let r = run(&env, &["recover", s(&log)], b"");
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        fs::read(&log).expect("read") == bytes,
        "recover changed the log"
    );
    let salvaged = env.path("salvaged.log");
    let r = run(&env, &["log", "salvage", s(&log), s(&salvaged)], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (code, v) = json_run(&env, &["log", "verify", "--json", s(&salvaged)]);
    assert_eq!((code, v[0]["records"].as_u64()), (0, Some(99_999)), "{v:?}");
}

/// Guards (regression): a length field of the last append rewritten to run past the end of the
/// file (its header checksum made to match) was a torn tail "the file ends inside it", though a
/// complete record follows; recover cut the whole acknowledged append without `--force`. A
/// valid record after it makes it corruption: verify exits 3, recover refuses and changes
/// nothing.
#[test]
fn a_length_that_runs_past_the_end_before_a_valid_record_is_corruption() {
    let env = Env::new();
    let log = env.path("a.log");
    append_args(&env, &log, &["one", "two", "three"]);
    append_args(&env, &log, &["four"]);
    let r = run(&env, &["log", "append", s(&log)], b"five\nsix\n");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut bytes = fs::read(&log).expect("read");
    // Record "five": the last append's first record.
    let at = bytes.windows(4).rposition(|w| w == b"five").expect("five") - 24;
    bytes[at + 8..at + 12].copy_from_slice(&1000u32.to_le_bytes());
    let file_header = bytes[..HEADER_LEN].to_vec();
    crate::log::seal_header(&file_header, &mut bytes[at..at + 24]);
    fs::write(&log, &bytes).expect("write");
    let (code, v) = json_run(&env, &["log", "verify", "--json", s(&log)]);
    assert_eq!(
        (code, &v[0]["status"]),
        (3, &Value::from("corrupt")),
        "{v:?}"
    );
    let r = run(&env, &["recover", s(&log)], b"");
    assert_eq!(r.code, 3, "{}", r.show());
    assert!(
        fs::read(&log).expect("read") == bytes,
        "recover changed the log"
    );
}

/// `log dump --resync --stats` of `log`: the bytes it read.
fn bytes_read(env: &Env, log: &Path) -> u64 {
    let r = run(
        env,
        &[
            "log",
            "dump",
            "--resync",
            "--stats",
            "--format",
            "raw",
            s(log),
        ],
        b"",
    );
    let stats: Value = r
        .stderr
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no --stats line: {}", r.stderr));
    stats["bytes_read"].as_u64().expect("bytes_read")
}

/// Guards (regression): a file holding a record header every 24 bytes, each with a valid header
/// checksum, a length of L and the trailer where L says, but payloads that do not check out,
/// took verify, dump and salvage O(N x L): the search for the next record after damage
/// checksummed each candidate's L bytes, candidate after candidate (6 MB: 17 s). A record whose
/// framing is intact is now stepped over whole, as is a whole copy of an earlier record: every
/// byte is checksummed a bounded number of times.
#[test]
fn stacked_record_headers_are_read_in_linear_time() {
    let env = Env::new();
    let log = env.path("q.log");
    append_args(&env, &log, &["first"]);
    let base = fs::read(&log).expect("read");
    // Records larger than the read window (1 MiB): each candidate's payload is read from the file.
    let (n, len) = (300usize, 2usize << 20);
    let mut bytes = base.clone();
    bytes.resize(base.len() + n * 24 + len + n * 24 + 100, b'A');
    for k in 0..n {
        let at = base.len() + k * 24;
        // Flagged first and last, sequence number 1 (the record after "first").
        let mut h = crate::log::record_header(&base, len as u32, 1);
        h[5] = 3;
        crate::log::seal_header(&base, &mut h);
        bytes[at..at + 24].copy_from_slice(&h);
        let t = at + 24 + len;
        bytes[t..t + 4].copy_from_slice(&(len as u32).to_le_bytes());
        bytes[t + 4..t + 8].copy_from_slice(&[0xD5, b'E', b'N', b'D']);
    }
    fs::write(&log, &bytes).expect("write");
    let read = bytes_read(&env, &log);
    let size = bytes.len() as u64;
    assert!(read <= 8 * size, "read {read} bytes of a {size}-byte file");
    let (code, v) = json_run(&env, &["log", "verify", "--json", s(&log)]);
    assert_eq!((code, &v[0]["records"]), (3, &Value::from(1)), "{v:?}");
}

/// Guards: one damaged byte used to make reading quadratic (every record after the damage
/// re-read a whole 1 MiB window while looking for evidence). Reading a damaged log now costs
/// about what reading the clean one does, whatever the damage is and wherever it lies.
#[test]
fn reading_a_damaged_log_reads_each_byte_a_bounded_number_of_times() {
    let env = Env::new();
    let log = env.path("l.log");
    let input: String = (0..200_000).map(|i| format!("record {i}\n")).collect();
    let r = run(
        &env,
        &["log", "append", "--sync", "none", s(&log)],
        input.as_bytes(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let clean = fs::read(&log).expect("read");
    let size = clean.len() as u64;
    let clean_read = bytes_read(&env, &log);
    let shapes: [(&str, usize, u8); 4] = [
        ("a changed byte near the start", 100, b'X'),
        ("a changed byte in the middle", clean.len() / 2, b'X'),
        ("a zeroed byte near the end", clean.len() - 5000, 0),
        ("a header magic byte", HEADER_LEN, 0),
    ];
    for (what, at, value) in shapes {
        let mut damaged = clean.clone();
        damaged[at] = value;
        fs::write(&log, &damaged).expect("write");
        let read = bytes_read(&env, &log);
        assert!(
            read <= clean_read + clean_read / 5 + (8 << 20),
            "{what}: read {read} bytes of a {size}-byte log; the clean log took {clean_read}"
        );
    }
}

/// Guards: the tail check before an append used to read the whole last append (117 MB after
/// one 77 MB append). A streamed append goes in groups of about 4 MiB, and the tail check reads
/// one group back, whatever the log's size.
#[test]
fn the_tail_check_reads_one_commit_group() {
    let env = Env::new();
    let log = env.path("t.log");
    let line = format!("{}\n", "q".repeat(200));
    let input = line.repeat(100_000); // 20 MB
    let r = run(
        &env,
        &["log", "append", "--sync", "none", s(&log)],
        input.as_bytes(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(fs::metadata(&log).expect("stat").len() > 20 << 20);
    let Some(read) = crate::common::traced_pread_bytes(
        &env,
        "log_end::the_tail_check_reads_one_commit_group",
        &["log", "append", "--sync", "none", s(&log), "one more"],
    ) else {
        return;
    };
    assert!(read < 8 << 20, "the tail check read {read} bytes");
}

/// Guards: piped input used to be committed only at EOF, with the lock held all along. Now a
/// record becomes visible (and durable) while the producer is still running, and another
/// appender (even with --no-wait) gets in between groups.
#[test]
fn a_streamed_append_commits_as_it_goes_and_lets_others_in() {
    let env = Env::new();
    let log = env.path("s.log");
    let (child, mut stdin) = spawn_append(&env, &[s(&log)]);
    let payloads = |env: &Env| -> Vec<String> {
        let r = run(env, &["log", "dump", "--format", "json", s(&log)], b"");
        json_lines(&r.stdout)
            .iter()
            .map(|v| crate::common::data_text(&v["payload"]))
            .collect()
    };
    stdin.write_all(b"first\n").expect("write");
    stdin.flush().expect("flush");
    let visible = crate::common::wait_until(Duration::from_secs(10), || {
        log.exists() && payloads(&env) == ["first"]
    });
    assert!(
        visible,
        "the first record never became visible while the stream ran"
    );
    // The record is visible once written; the lock is released after its flush. A refusal in
    // that moment is right, so the other appender tries again; one that held the lock until
    // EOF would keep it out for good.
    let mut refused = String::new();
    let got_in = crate::common::wait_until(Duration::from_secs(10), || {
        let r = run(
            &env,
            &["log", "append", "--no-wait", s(&log), "between"],
            b"",
        );
        refused = r.stderr;
        r.code == 0
    });
    assert!(got_in, "another appender was locked out: {refused}");
    stdin.write_all(b"second\n").expect("write");
    drop(stdin);
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(payloads(&env), ["first", "between", "second"]);
    let (code, v) = json_run(&env, &["log", "verify", "--json", s(&log)]);
    assert_eq!(code, 0, "{v:?}");
}

/// Guards: a valid record numbered past the expected one (records before it were lost) was
/// skipped by `dump --resync` and `log salvage`, though it checks out: it is kept now.
#[test]
fn a_record_after_a_sequence_gap_is_kept() {
    let env = Env::new();
    let log = env.path("gap.log");
    for r in ["zero", "one", "two", "three"] {
        append_args(&env, &log, &[r]);
    }
    let bytes = fs::read(&log).expect("read");
    let records = appends(&bytes);
    // Records 1 and 2 taken out: 0, then 3.
    let mut gap = bytes[..records[1].start].to_vec();
    gap.extend_from_slice(&bytes[records[3].start..]);
    fs::write(&log, &gap).expect("write");
    let (code, v) = json_run(&env, &["log", "verify", "--json", s(&log)]);
    assert_eq!(code, 3, "{v:?}");
    assert_eq!(v[0]["defects"][0]["kind"], "sequence", "{v:?}");
    assert_eq!(v[0]["records"], 2, "{v:?}");
    let salvaged = env.path("salvaged.log");
    let r = run(
        &env,
        &["log", "salvage", "--json", s(&log), s(&salvaged)],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        json_lines(&r.stdout)[0]["skipped"],
        Value::Array(vec![]),
        "{}",
        r.out()
    );
    let (_, dumped) = json_run(&env, &["log", "dump", "--format", "json", s(&salvaged)]);
    let got: Vec<String> = dumped
        .iter()
        .map(|r| crate::common::data_text(&r["payload"]))
        .collect();
    assert_eq!(got, ["zero", "three"]);
}

#[test]
fn verify_and_dump_of_a_log_being_appended_to_say_so_instead_of_sending_the_user_to_recover() {
    // A log read while an append writes its tail reads as a torn tail. verify said to run
    // `durable recover` (which refuses a log in use), as if a crash had left it; dump showed
    // the damage without a word.
    let env = Env::new();
    let log = env.path("live.log");
    append_args(&env, &log, &["a", "b", "c"]);
    append_args(&env, &log, &["d", "e", "f"]);
    crate::common::shorten(&log, 3);
    // The lock `log append` holds while it writes.
    let appender = fs::File::open(&log).expect("open");
    appender.lock().expect("lock");
    let r = run(&env, &["log", "verify", s(&log)], b"");
    let out = r.out();
    assert_eq!(r.code, 1, "{out}{}", r.stderr);
    assert!(
        out.contains("another process is appending to it")
            && out.contains("verify again once it is done")
            && !out.contains("durable recover"),
        "{out}"
    );
    let (code, v) = json_run(&env, &["log", "verify", "--json", s(&log)]);
    assert_eq!(code, 1);
    assert_eq!(
        (&v[0]["status"], &v[0]["appending"]),
        (&Value::from("torn-tail"), &Value::from(true)),
        "{v:?}"
    );
    // dump prints the damage as it is, and says what it most likely is.
    let r = run(&env, &["log", "dump", s(&log)], b"");
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.out().contains("DAMAGE") && r.stderr.contains("another process is appending to"),
        "{}{}",
        r.out(),
        r.stderr
    );
    // The advice not to recover now is right: recover refuses a log in use.
    let r = run(&env, &["recover", s(&log)], b"");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("in use"), "{}", r.stderr);
    // Once the appender is gone, a torn tail is what a crash left.
    // Unlocked, not only closed: a child another test forks meanwhile holds a copy of the
    // descriptor until it execs, and with it the lock.
    appender.unlock().expect("unlock");
    drop(appender);
    let r = run(&env, &["log", "verify", s(&log)], b"");
    let out = r.out();
    assert_eq!(r.code, 1, "{out}{}", r.stderr);
    assert!(
        out.contains("`durable recover ") && !out.contains("appending"),
        "{out}"
    );
    let (_, v) = json_run(&env, &["log", "verify", "--json", s(&log)]);
    assert_eq!(v[0]["appending"], Value::from(false), "{v:?}");
    let r = run(&env, &["log", "dump", s(&log)], b"");
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!r.stderr.contains("appending"), "{}", r.stderr);
}
