//! Properties of native logs through the binary: arbitrary payloads survive append → dump raw →
//! append byte for byte; every truncation point and every single-bit flip of a small log is
//! detected and classified (torn tail, corruption before the tail, damaged header, not a log)
//! with the right offsets.
//!
//! The exhaustive checks verify all damaged copies in one `log verify --json` run (one report
//! per file, each with its exit code), and run a sample of them one by one to confirm that the
//! process exit code is the report's.

use std::fs;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use serde_json::Value;

use crate::common::{Env, line_diff, run, s};
use crate::log::{
    HEADER_LEN, MAX_RECORD, create_log, dump_json, layout, payload_of, pseudo_random, verify_json,
    verify_many,
};

// ---------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------

/// Bytes biased towards the ones that break naive framing.
fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        6 => any::<u8>(),
        1 => Just(b'\n'),
        1 => Just(0u8),
        1 => Just(b'\r'),
        1 => Just(0xffu8),
    ]
}

/// Mostly small payloads; some empty; a few large ones up to 1 MiB.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => Just(Vec::new()),
        20 => prop::collection::vec(byte(), 0..256),
        4 => prop::collection::vec(byte(), 256..8192),
        2 => (8192usize..=1 << 20, any::<u64>()).prop_map(|(n, seed)| pseudo_random(n, seed)),
    ]
}

fn config() -> Config {
    Config {
        cases: 64,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

/// append --whole (stdin) → dump blob → append --whole into another log → dump blob; dump raw
/// is the payload and its newline.
fn whole_round_trip(payload: &[u8], check_json: bool) -> Result<(), TestCaseError> {
    let env = Env::new();
    let a = env.path("a.log");
    let b = env.path("b.log");
    let r = run(
        &env,
        &["log", "append", "--whole", "--sync", "none", s(&a)],
        payload,
    );
    prop_assert_eq!(r.code, 0, "append a: {}", r.stderr);
    let dumped = run(&env, &["log", "dump", "--format", "blob", s(&a)], b"");
    prop_assert_eq!(dumped.code, 0, "dump a: {}", dumped.stderr);
    prop_assert!(
        dumped.stdout == payload,
        "dump blob of a: {}",
        line_diff(payload, &dumped.stdout)
    );
    let raw = run(&env, &["log", "dump", "--format", "raw", s(&a)], b"");
    prop_assert_eq!(raw.code, 0, "dump raw a: {}", raw.stderr);
    prop_assert!(
        raw.stdout.strip_suffix(b"\n") == Some(payload),
        "dump raw of a is the payload and a newline: {}",
        line_diff(&[payload, b"\n"].concat(), &raw.stdout)
    );
    if check_json {
        let (code, records) = dump_json(&env, &a, &[]);
        prop_assert_eq!(code, 0);
        prop_assert_eq!(records.len(), 1);
        prop_assert_eq!(records[0]["length"].as_u64(), Some(payload.len() as u64));
        let from_json = payload_of(&records[0]);
        prop_assert!(
            from_json == payload,
            "dump json: {}",
            line_diff(payload, &from_json)
        );
    }
    let r = run(
        &env,
        &["log", "append", "--whole", "--sync", "none", s(&b)],
        &dumped.stdout,
    );
    prop_assert_eq!(r.code, 0, "append b: {}", r.stderr);
    let again = run(&env, &["log", "dump", "--format", "blob", s(&b)], b"");
    prop_assert_eq!(again.code, 0);
    prop_assert!(
        again.stdout == payload,
        "dump blob of b: {}",
        line_diff(payload, &again.stdout)
    );
    Ok(())
}

/// Payloads that do not contain `sep`.
fn records_without(sep: u8) -> impl Strategy<Value = Vec<Vec<u8>>> {
    let record = prop_oneof![
        1 => Just(Vec::new()),
        8 => prop::collection::vec(byte(), 0..64),
        1 => prop::collection::vec(byte(), 64..2048),
    ]
    .prop_map(move |p| {
        p.into_iter()
            .map(|b| if b == sep { b'.' } else { b })
            .collect::<Vec<u8>>()
    });
    // Empty records anywhere, the last one included: raw output terminates every payload.
    prop::collection::vec(record, 0..12)
}

fn separated() -> impl Strategy<Value = (u8, Vec<Vec<u8>>)> {
    prop_oneof![Just(0u8), Just(b'\n')].prop_flat_map(|sep| (Just(sep), records_without(sep)))
}

/// The payloads of a log as dump --format json shows them (and its exit code).
fn json_payloads(env: &Env, log: &std::path::Path) -> (i32, Vec<Vec<u8>>) {
    let (code, records) = dump_json(env, log, &[]);
    (code, records.iter().map(payload_of).collect())
}

proptest! {
    #![proptest_config(config())]

    /// Guards: any payload (empty, newlines, NULs, invalid UTF-8, up to 1 MiB) survives
    /// append --whole → dump blob → append --whole → dump blob byte for byte, and dump json
    /// encodes it losslessly (checked up to 64 KiB, where base64-decoding is cheap).
    #[test]
    fn whole_payloads_round_trip(payload in payload()) {
        whole_round_trip(&payload, payload.len() <= 64 << 10)?;
    }

    /// Guards: `dump --format raw [-0] a | append [-0] b` copies a log: same number of records,
    /// each payload identical (payloads without the separator, empty ones included, the last
    /// one too).
    #[test]
    fn delimited_dump_copies_a_log((sep, records) in separated()) {
        let env = Env::new();
        let a = env.path("a.log");
        let b = env.path("b.log");
        let null: &[&str] = if sep == 0 { &["-0"] } else { &[] };
        let mut input = Vec::new();
        for r in &records {
            input.extend_from_slice(r);
            input.push(sep);
        }
        let mut args = vec!["log", "append", "--sync", "none"];
        args.extend_from_slice(null);
        args.push(s(&a));
        let r = run(&env, &args, &input);
        prop_assert_eq!(r.code, 0, "append a: {}", r.stderr);
        let (code, got) = json_payloads(&env, &a);
        prop_assert_eq!(code, 0);
        prop_assert_eq!(&got, &records, "append split the input wrongly");

        let mut args = vec!["log", "dump", "--format", "raw"];
        args.extend_from_slice(null);
        args.push(s(&a));
        let raw = run(&env, &args, b"");
        prop_assert_eq!(raw.code, 0, "dump a: {}", raw.stderr);
        let mut args = vec!["log", "append", "--sync", "none"];
        args.extend_from_slice(null);
        args.push(s(&b));
        let r = run(&env, &args, &raw.stdout);
        prop_assert_eq!(r.code, 0, "append b: {}", r.stderr);
        let (code, copied) = json_payloads(&env, &b);
        prop_assert_eq!(code, 0);
        prop_assert_eq!(
            &copied,
            &records,
            "the copy differs; dump raw printed {:?}",
            String::from_utf8_lossy(&raw.stdout)
        );
    }
}

/// Guards: a payload of exactly the maximum record size (16 MiB) is accepted and round-trips.
#[test]
fn maximum_size_payload_round_trips() {
    let mut payload = pseudo_random(MAX_RECORD, 0x5eed);
    payload[100] = b'\n';
    payload[MAX_RECORD - 1] = 0;
    if let Err(e) = whole_round_trip(&payload, false) {
        panic!("{e}");
    }
    let env = Env::new();
    let log = env.path("max.log");
    let r = run(
        &env,
        &["log", "append", "--whole", "--sync", "none", s(&log)],
        &payload,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (code, v) = verify_json(&env, &log);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["records"], 1);
    assert_eq!(v["bytes"], (HEADER_LEN + 24 + MAX_RECORD + 12) as u64);
}

// ---------------------------------------------------------------------------------------------
// Exhaustive damage
// ---------------------------------------------------------------------------------------------

/// What verify must say about a damaged copy.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// Exit 0, this many records, valid to the end.
    Clean { records: usize },
    /// Exit 1: `records` valid records in all; the first damage at `damage`, in the append
    /// that starts at `valid_end` (where recover cuts), after `kept` records.
    Torn {
        records: usize,
        kept: usize,
        valid_end: usize,
        damage: usize,
    },
    /// Exit 3: damage at `valid_end`; the next valid record at `next` (if any) and `after`
    /// records after it.
    Corrupt {
        records: usize,
        valid_end: usize,
        next: Option<usize>,
        after: usize,
    },
    /// Exit 3: the file header is lost (damaged), but the records after it validate under
    /// the salt recovered from them (or from the header's own salt bytes): all `records`
    /// read after a bad-header defect at 0 (docs/FORMAT.md, "A lost header").
    HeaderLost { records: usize },
}

fn want_code(want: Want) -> i64 {
    match want {
        Want::Clean { .. } => 0,
        Want::Torn { .. } => 1,
        Want::Corrupt { .. } | Want::HeaderLost { .. } => 3,
    }
}

/// Check one report against `want` (`code`: the process exit code, when run alone).
fn check(v: &Value, code: Option<i32>, want: Want, what: &str) {
    let ctx = format!("{what}: expected {want:?}, got {v}");
    assert_eq!(v["exit_code"].as_i64(), Some(want_code(want)), "{ctx}");
    if let Some(code) = code {
        assert_eq!(i64::from(code), want_code(want), "exit code; {ctx}");
    }
    match want {
        Want::Clean { records } => {
            assert_eq!(v["status"], "clean", "{ctx}");
            assert_eq!(v["records"], records, "{ctx}");
            assert_eq!(v["valid_end"], v["bytes"], "{ctx}");
        }
        Want::Torn {
            records,
            kept,
            valid_end,
            damage,
        } => {
            assert_eq!(v["status"], "torn-tail", "{ctx}");
            assert_eq!(v["records"], records, "{ctx}");
            assert_eq!(v["records_before_damage"], kept, "{ctx}");
            assert_eq!(v["valid_end"], valid_end, "{ctx}");
            assert_eq!(v["defects"][0]["offset"], damage, "{ctx}");
            assert_eq!(v["defects"][0]["cut"], valid_end, "{ctx}");
            assert_eq!(v["defects"][0]["next_valid"], Value::Null, "{ctx}");
            assert_eq!(v["records_after_damage"], 0, "{ctx}");
        }
        Want::Corrupt {
            records,
            valid_end,
            next,
            after,
        } => {
            assert_eq!(v["status"], "corrupt", "{ctx}");
            assert_eq!(v["records"], records, "{ctx}");
            assert_eq!(v["valid_end"], valid_end, "{ctx}");
            assert_eq!(v["defects"][0]["offset"], valid_end, "{ctx}");
            assert_eq!(
                v["defects"][0]["next_valid"].as_u64(),
                next.map(|n| n as u64),
                "{ctx}"
            );
            assert_eq!(v["defect_count"], 1, "{ctx}");
            assert_eq!(v["records_after_damage"], after, "{ctx}");
        }
        Want::HeaderLost { records } => {
            assert_eq!(v["status"], "corrupt", "{ctx}");
            assert_eq!(v["records"], records, "{ctx}");
            assert_eq!(v["records_after_damage"], records, "{ctx}");
            assert_eq!(v["valid_end"], 0, "{ctx}");
            assert_eq!(v["defects"][0]["kind"], "bad-header", "{ctx}");
            assert_eq!(v["defects"][0]["offset"], 0, "{ctx}");
            assert_eq!(v["defects"][0]["next_valid"], HEADER_LEN, "{ctx}");
            assert_eq!(v["defects"][0]["evidence"], "header-lost", "{ctx}");
            // A whole header that does not check out is never what a crash leaves (a header
            // cut short is a torn start): corruption, not a torn tail.
            assert_eq!(v["defects"][0]["torn_tail"], false, "{ctx}");
            assert_eq!(v["defect_count"], 1, "{ctx}");
        }
    }
}

/// Verify every damaged copy (`(name, bytes, want)`) in one run, and `alone` of them one by
/// one.
fn check_all(env: &Env, cases: &[(String, Vec<u8>, Want)], alone: impl Fn(usize) -> bool) {
    for (name, bytes, _) in cases {
        env.write(name, bytes);
    }
    let names: Vec<String> = cases.iter().map(|c| c.0.clone()).collect();
    let reports = verify_many(env, &names);
    for (name, _, want) in cases {
        check(&reports[name], None, *want, name);
    }
    let mut ran = 0;
    for (i, (name, _, want)) in cases.iter().enumerate() {
        if alone(i) {
            let (code, v) = verify_json(env, &env.path(name));
            check(&v, Some(code), *want, name);
            ran += 1;
        }
    }
    assert!(ran > 0);
}

/// The payloads of the multi-record logs.
const FIVE: [&[u8]; 5] = [b"first", b"", b"a\nb\0c", &[0xff; 40], b"last"];

fn every_truncation_point(checksum: &str) {
    let env = Env::new();
    let log = create_log(&env, "full.log", &FIVE, checksum);
    let bytes = fs::read(&log).expect("read");
    let records = layout(&bytes);
    assert_eq!(records.len(), 5);
    let mut cases = Vec::new();
    // The five records are one append: cut anywhere inside it, it never completed, and the
    // valid log ends before it.
    for len in 1..bytes.len() {
        let want = if len < HEADER_LEN {
            // A start cut short (a header written in place into an empty file): no record
            // can have been acknowledged, a torn tail at 0.
            Want::Torn {
                records: 0,
                kept: 0,
                valid_end: 0,
                damage: 0,
            }
        } else {
            let complete = records.iter().filter(|r| r.1 <= len).count();
            if len == HEADER_LEN {
                Want::Clean { records: 0 }
            } else {
                Want::Torn {
                    records: complete,
                    kept: 0,
                    valid_end: HEADER_LEN,
                    damage: records.get(complete).map_or(len, |r| r.0.min(len)),
                }
            }
        };
        cases.push((format!("cut/{len}.log"), bytes[..len].to_vec(), want));
    }
    let boundary = |len: usize| len == HEADER_LEN || records.iter().any(|r| r.1 == len);
    check_all(&env, &cases, |i| {
        let len = i + 1;
        len % 4 == 0 || boundary(len) || boundary(len + 1) || len < 10
    });
}

/// Guards: cutting a CRC-32 log of one five-record append at any length inside the append is a
/// torn tail that cuts the whole append (its last record never reached the disk), also on a
/// record boundary (the append is unfinished); inside the header, a torn start (exit 1, cut at
/// offset 0: docs/FORMAT.md, "A log's start").
#[test]
fn every_truncation_point_crc32() {
    every_truncation_point("crc32");
}

/// Guards: the same for a SHA-256 log (32-byte checksums).
#[test]
fn every_truncation_point_sha256() {
    every_truncation_point("sha256");
}

fn every_bit_flip(checksum: &str, alone_stride: usize) {
    let env = Env::new();
    // Three appends of one record each: a later whole append is the evidence of corruption.
    let mut log = env.path("full.log");
    for payload in [b"a".as_slice(), b"", b"bc"] {
        log = create_log(&env, "full.log", &[payload], checksum);
    }
    let bytes = fs::read(&log).expect("read");
    let records = layout(&bytes);
    let n = records.len();
    let mut cases = Vec::new();
    for pos in 0..bytes.len() {
        // A damaged header, in the magic or anywhere else: its salt is recovered (from its
        // own salt bytes, one of them perhaps flipped, confirmed by the records; or from the
        // CRC-32s), and every record reads.
        let want = if pos < HEADER_LEN {
            Want::HeaderLost { records: n }
        } else {
            let k = records
                .iter()
                .position(|r| r.0 <= pos && pos < r.1)
                .expect("in a record");
            // A flipped bit is never what a write that never reached the disk leaves, so it
            // is corruption wherever it is; before the last append, that append is the
            // evidence too.
            Want::Corrupt {
                records: n - 1,
                valid_end: records[k].0,
                next: records.get(k + 1).map(|r| r.0),
                after: n - 1 - k,
            }
        };
        for bit in 0..8 {
            let mut damaged = bytes.clone();
            damaged[pos] ^= 1 << bit;
            cases.push((format!("flip/{pos}-{bit}.log"), damaged, want));
        }
    }
    // One by one: one bit of every `alone_stride`-th byte (a different bit each time).
    check_all(&env, &cases, |i| {
        let (pos, bit) = (i / 8, i % 8);
        pos % alone_stride == 0 && bit == (pos / alone_stride) % 8
    });
}

/// Guards: every single-bit flip in a 3-record CRC-32 log is detected and classified: in the
/// header (the magic included), a lost header whose records all read (exit 3); in any record,
/// corruption at its start (exit 3), with the next record as evidence when there is one (a
/// flipped bit is not a torn write, even in the last record).
#[test]
fn every_bit_flip_crc32() {
    every_bit_flip("crc32", 1);
}

/// Guards: the same for a SHA-256 log.
#[test]
fn every_bit_flip_sha256() {
    every_bit_flip("sha256", 5);
}
