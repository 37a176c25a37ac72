//! `log verify` with several threads says exactly what it says with one: for random native logs
//! (appends of one or many records, payloads that hold copies of whole records, both checksums)
//! damaged in every way the other log tests damage them (cuts, changed bytes, zeroed sectors,
//! zeros to the end, a record written twice, a record missing, records out of order, garbage
//! inserted), the text and JSON reports and the exit code are byte for byte those of
//! `--threads 1`.
//!
//! The parallel verification cuts only large logs (64 MiB) into pieces; test builds honour
//! `DURABLE_TEST_PIECE_BYTES`, which makes it cut these small logs into pieces of that size.

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

use crate::common::{Env, Run, assert_same, run, s};
use crate::log::{HEADER_LEN, layout, pseudo_random};

/// How to build one log: per append, its payloads' lengths and whether a payload is a copy of
/// earlier records; the checksum.
#[derive(Debug, Clone)]
struct Spec {
    appends: Vec<Vec<(usize, bool)>>,
    sha256: bool,
    seed: u64,
}

fn spec() -> impl Strategy<Value = Spec> {
    let payload = prop_oneof![
        6 => (0usize..200).prop_map(|n| (n, false)),
        1 => (200usize..3000).prop_map(|n| (n, false)),
        1 => Just((0, true)),
    ];
    (
        prop::collection::vec(prop::collection::vec(payload, 1..12), 1..12),
        prop::bool::weighted(0.2),
        any::<u64>(),
    )
        .prop_map(|(appends, sha256, seed)| Spec {
            appends,
            sha256,
            seed,
        })
}

/// Build the log of `spec` at `path`; its bytes.
fn build(env: &Env, path: &std::path::Path, spec: &Spec) -> Vec<u8> {
    let checksum = if spec.sha256 { "sha256" } else { "crc32" };
    let mut seed = spec.seed;
    for (a, payloads) in spec.appends.iter().enumerate() {
        let mut args: Vec<String> = ["log", "append", "--sync", "none", "--checksum", checksum]
            .map(String::from)
            .to_vec();
        args.push(s(path).to_string());
        for (i, (len, copy)) in payloads.iter().enumerate() {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            let bytes = match std::fs::read(path) {
                // A payload that holds whole records of the log so far (the reader must not
                // take them for the log's own when it looks for where a piece starts).
                Ok(log) if *copy && log.len() > HEADER_LEN => {
                    let records = layout(&log);
                    let from = records[seed as usize % records.len()].0;
                    let to = records[(seed >> 20) as usize % records.len()].1.max(from);
                    log[from..to.min(from + 5000)].to_vec()
                }
                _ => pseudo_random(*len, seed),
            };
            let file = env.write(&format!("payloads/{a}-{i}"), &bytes);
            args.push("--file".into());
            args.push(s(&file).to_string());
        }
        let r = run(env, &args, b"");
        assert_eq!(r.code, 0, "append: {}", r.stderr);
    }
    std::fs::read(path).expect("read log")
}

/// Damaged copies of `bytes`: every kind, at places chosen by `seed`.
fn damaged(bytes: &[u8], seed: u64) -> Vec<(String, Vec<u8>)> {
    let records = layout(bytes);
    let n = bytes.len();
    let body = n - HEADER_LEN;
    let mut x = seed | 1;
    let mut next = |m: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % m.max(1) as u64) as usize
    };
    let mut out = vec![("clean".to_string(), bytes.to_vec())];
    for i in 0..3 {
        let at = HEADER_LEN + next(body);
        out.push((format!("cut{i}-{at}"), bytes[..at].to_vec()));
        let mut b = bytes.to_vec();
        let at = HEADER_LEN + next(body);
        b[at] ^= 1 << next(8);
        out.push((format!("bit{i}-{at}"), b));
        let mut b = bytes.to_vec();
        let sector = (HEADER_LEN + next(body)) / 512 * 512;
        let end = (sector + 512).min(n);
        b[sector.max(HEADER_LEN)..end].fill(0);
        out.push((format!("sector{i}-{sector}"), b));
    }
    let mut b = bytes.to_vec();
    let at = HEADER_LEN + next(body);
    b[at..].fill(0);
    out.push((format!("zeros-to-end-{at}"), b));
    let (from, to) = records[next(records.len())];
    let mut b = bytes[..to].to_vec();
    b.extend_from_slice(&bytes[from..]);
    out.push((format!("twice-{from}"), b));
    let mut b = bytes[..from].to_vec();
    b.extend_from_slice(&bytes[to..]);
    out.push((format!("missing-{from}"), b));
    if records.len() > 2 {
        let k = next(records.len() - 1);
        let (a, b_) = (records[k], records[k + 1]);
        let mut b = bytes[..a.0].to_vec();
        b.extend_from_slice(&bytes[b_.0..b_.1]);
        b.extend_from_slice(&bytes[a.0..a.1]);
        b.extend_from_slice(&bytes[b_.1..]);
        out.push((format!("swapped-{}", a.0), b));
    }
    let at = HEADER_LEN + next(body);
    let mut b = bytes[..at].to_vec();
    b.extend_from_slice(&pseudo_random(1 + next(3000), seed));
    b.extend_from_slice(&bytes[at..]);
    out.push((format!("garbage-{at}"), b));
    out
}

/// The log of `spec` and its damaged copies (seeded by `seed`), written under `dir(i)` for the
/// i-th copy: their names.
fn write_cases(
    env: &Env,
    spec: &Spec,
    seed: u64,
    dir: impl Fn(usize) -> &'static str,
) -> (Vec<u8>, Vec<String>) {
    let bytes = build(env, &env.path("orig.log"), spec);
    let names = damaged(&bytes, seed)
        .into_iter()
        .enumerate()
        .map(|(i, (name, b))| {
            let name = format!("{}/{name}", dir(i));
            env.write(&name, &b);
            name
        })
        .collect();
    (bytes, names)
}

/// The same exit code, stdout and stderr.
#[track_caller]
fn same_report(one: &Run, many: &Run, what: &str) {
    assert_eq!(one.code, many.code, "{what}");
    assert_same(&many.stdout, &one.stdout, what);
    assert_same(&many.stderr, &one.stderr, what);
}

fn check(spec: &Spec, pieces: u64, threads: u8) -> Result<(), TestCaseError> {
    let env = Env::new();
    let (_, names) = write_cases(&env, spec, spec.seed, |_| "cases");
    for json in [true, false] {
        let verify = |threads: String, pieces: Option<u64>| {
            let mut cmd = env.cmd(&["log", "verify", "--threads", &threads]);
            if json {
                cmd = cmd.arg("--json");
            }
            cmd = cmd.args(&names);
            if let Some(p) = pieces {
                cmd = cmd.env("DURABLE_TEST_PIECE_BYTES", p.to_string());
            }
            cmd.run()
        };
        let one = verify("1".into(), None);
        let many = verify(threads.to_string(), Some(pieces));
        prop_assert_eq!(one.code, many.code);
        prop_assert_eq!(
            String::from_utf8_lossy(&one.stdout),
            String::from_utf8_lossy(&many.stdout),
            "pieces of {} bytes, {} threads",
            pieces,
            threads
        );
        prop_assert_eq!(one.stderr, many.stderr);
    }
    Ok(())
}

proptest! {
    #![proptest_config(Config {
        cases: 24,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    })]

    #[test]
    fn parallel_verify_is_the_sequential_verify(
        spec in spec(),
        pieces in prop_oneof![1u64..200, 200u64..5000],
        threads in 2u8..9,
    ) {
        check(&spec, pieces, threads)?;
    }
}

/// `log verify DIR` checks several files at a time and reports them in the same order, with
/// the same text, as one thread does: clean, torn and corrupt logs, files that are not logs,
/// a damaged header, in nested directories, given alongside single files.
#[test]
fn a_directory_is_reported_in_the_same_order_whatever_the_threads() {
    let env = Env::new();
    let spec = Spec {
        appends: vec![
            vec![(10, false), (300, false)],
            vec![(5, false)],
            vec![(70, false); 4],
        ],
        sha256: false,
        seed: 7,
    };
    let (bytes, names) = write_cases(&env, &spec, 11, |i| {
        ["logs", "logs/a", "logs/a/b", "logs/c"][i % 4]
    });
    env.write("logs/a/notes.txt", b"not a log\n");
    env.write("logs/c/empty", b"");
    let mut header = bytes[..HEADER_LEN].to_vec();
    header[20] ^= 1;
    env.write("logs/a/bad-header.log", &header);
    let single = names[0].clone();
    for json in [false, true] {
        let verify = |threads: &str| {
            let mut cmd = env.cmd(&["log", "verify", "--threads", threads]);
            if json {
                cmd = cmd.arg("--json");
            }
            cmd.args(&["logs", &single, "logs/a"]).run()
        };
        let one = verify("1");
        assert!(
            String::from_utf8_lossy(&one.stdout).lines().count() >= names.len() + 3,
            "{}",
            String::from_utf8_lossy(&one.stdout)
        );
        for threads in ["2", "3", "16"] {
            same_report(&one, &verify(threads), &format!("--threads {threads}"));
        }
    }
}

/// `--threads 0` would do nothing: refused.
#[test]
fn zero_threads_is_a_usage_error() {
    let env = Env::new();
    let r = run(&env, &["log", "verify", "--threads", "0", "x.log"], b"");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--threads"), "{}", r.stderr);
}

/// `recover` decides from the same check: with the log cut into pieces it plans exactly what it
/// plans with one thread (dry runs over every kind of damage).
#[test]
fn recover_plans_the_same_whatever_the_threads() {
    let env = Env::new();
    let spec = Spec {
        appends: vec![
            vec![(40, false); 3],
            vec![(500, false)],
            vec![(9, false); 6],
        ],
        sha256: false,
        seed: 3,
    };
    let (_, names) = write_cases(&env, &spec, 5, |_| "cases");
    let plan = |threads: &str, pieces: Option<&str>| {
        let mut cmd = env
            .cmd(&["recover", "--dry-run", "--json", "--threads", threads])
            .args(&names);
        if let Some(p) = pieces {
            cmd = cmd.env("DURABLE_TEST_PIECE_BYTES", p);
        }
        cmd.run()
    };
    let one = plan("1", None);
    assert!(one.stdout.len() > 100, "{}", one.stderr);
    for pieces in ["7", "300"] {
        same_report(
            &one,
            &plan("4", Some(pieces)),
            &format!("pieces of {pieces} bytes"),
        );
    }
}

// Guards: `log verify DIR` listed the whole tree before printing its first report (memory
// growing with the number of files, nothing shown for a long walk). Reports stream: with the
// first one read and the output pipe left full, the walk has not yet read the directory that
// sorts last, so a log created there now is still found and reported.
#[test]
fn reports_stream_while_the_tree_is_walked() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let env = Env::new();
    let first = env.path("tree/a/first.log");
    std::fs::create_dir_all(first.parent().expect("parent")).expect("mkdir");
    crate::log::append_each(&env, &first, &["one", "two"]);
    let many = env.path("tree/m");
    std::fs::create_dir_all(&many).expect("mkdir");
    // More report lines than the pipe and durable's output buffer hold together.
    for f in 0..20_000 {
        std::fs::File::create(many.join(format!("not-a-log-{f:05}"))).expect("create");
    }
    std::fs::create_dir_all(env.path("tree/z")).expect("mkdir");
    let mut child = env
        .cmd(&["log", "verify", "--threads", "2", "tree"])
        .command()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn durable");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let _child = crate::common::KillOnDrop(child);
    let mut line = String::new();
    out.read_line(&mut line).expect("read the first report");
    assert!(line.starts_with("tree/a/first.log: clean"), "{line:?}");
    std::fs::copy(&first, env.path("tree/z/late.log")).expect("copy");
    let rest: Vec<String> = out.lines().map(|l| l.expect("line")).collect();
    assert_eq!(rest.len(), 20_001, "every file reported once");
    assert!(
        rest.last()
            .is_some_and(|l| l.starts_with("tree/z/late.log: clean")),
        "the log created after the first report was not found: {:?}",
        rest.last()
    );
}
