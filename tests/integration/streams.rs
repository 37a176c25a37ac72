//! `-` and other streams where a file is read, and `log dump --follow` of a log that is cut or
//! replaced.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::common::{Durable, Env, KillOnDrop, Run, Seen, assert_same, collect, run, wait_until};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A shell command line, run in the scratch directory with `$D` naming durable.
fn sh(env: &Env, script: &str) -> Run {
    Durable::bash(env.dir.path(), script).no_stdin().run()
}

fn append(env: &Env, log: &str, records: &[&str]) {
    let out = env.cmd(&["log", "append", log]).args(records).run();
    assert!(out.status.success(), "append: {}", out.stderr);
}

// Guards: `log verify -` and `log dump -` read standard input from a pipe, and so do
// `/dev/stdin` and a shell's `<(…)` (refused as FIFOs before); `--last` reads forward; the
// report names `-`, and a torn tail's hint says to save the stream first (it used to suggest
// `durable recover ./-`, a file that does not exist).
#[test]
fn log_commands_read_standard_input() {
    let env = Env::new();
    append(&env, "a.log", &["one", "two", "three"]);
    let log = env.read("a.log");
    let out = run(&env, &["log", "verify", "-"], &log);
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    assert!(
        out.out().starts_with("-: clean, 3 records"),
        "{}",
        out.out()
    );
    let out = run(&env, &["log", "verify", "--json", "-"], &log);
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["path"], serde_json::json!({"text": "-"}));
    assert_eq!(v["records"], 3);
    let out = run(&env, &["log", "dump", "--format", "raw", "-"], &log);
    assert_same(&out.stdout, "one\ntwo\nthree\n", &out.stderr);
    let out = run(
        &env,
        &["log", "dump", "--format", "raw", "--last", "2", "-"],
        &log,
    );
    assert_same(&out.stdout, "two\nthree\n", &out.stderr);
    for script in [
        "cat a.log | \"$D\" log verify /dev/stdin",
        "\"$D\" log verify <(cat a.log)",
        "\"$D\" log verify - < a.log",
    ] {
        let out = sh(&env, script);
        assert_eq!(out.status.code(), Some(0), "{script}: {}", out.stderr);
        assert!(out.out().contains("clean, 3 records"), "{script}");
    }
    let out = run(&env, &["log", "verify", "-"], &log[..log.len() - 2]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let report = out.out();
    assert!(
        report.contains("torn tail") && report.contains("after saving the stream"),
        "{report}"
    );
    assert!(!report.contains("./-"), "{report}");
    let out = run(&env, &["log", "salvage", "-", "copy.log"], &log);
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    let out = run(&env, &["log", "dump", "--format", "raw", "copy.log"], b"");
    assert_same(&out.stdout, "one\ntwo\nthree\n", "stdout");
    // Another format, detected from the whole stream.
    let out = run(
        &env,
        &[
            "log",
            "append",
            "--log-format",
            "lines",
            "l.log",
            "x y",
            "z",
        ],
        b"",
    );
    assert!(out.status.success());
    let out = run(
        &env,
        &["log", "dump", "--format", "raw", "-"],
        &env.read("l.log"),
    );
    assert_same(&out.stdout, "x y\nz\n", &out.stderr);
}

// Guards: a native log piped into `log dump -` is printed as it arrives (reading only what
// detection needs first), not after the stream ends.
#[test]
fn dump_of_a_stream_prints_records_as_they_arrive() {
    let env = Env::new();
    append(&env, "a.log", &["first"]);
    let one = env.read("a.log");
    append(&env, "a.log", &["second"]);
    let both = env.read("a.log");
    let mut child = KillOnDrop(
        env.cmd(&["log", "dump", "--format", "raw", "-"])
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn dump"),
    );
    let mut stdin = child.0.stdin.take().expect("stdin");
    let seen = collect(child.0.stdout.take().expect("stdout"));
    stdin.write_all(&one).expect("feed");
    stdin.flush().expect("flush");
    let shows = |want: &'static str, seen: &Arc<Mutex<Vec<u8>>>| {
        let seen = Arc::clone(seen);
        move || text(&seen.lock().expect("lock")).contains(want)
    };
    assert!(
        wait_until(Duration::from_secs(20), shows("first\n", &seen)),
        "the first record was not printed while the stream was open: {:?}",
        text(&seen.lock().expect("lock"))
    );
    stdin.write_all(&both[one.len()..]).expect("feed");
    drop(stdin);
    let status = child.0.wait().expect("wait");
    assert!(wait_until(
        Duration::from_secs(20),
        shows("second\n", &seen)
    ));
    assert_eq!(status.code(), Some(0));
    assert_eq!(text(&seen.lock().expect("lock")), "first\nsecond\n");
}

// Guards: what cannot apply to a stream is refused with one sentence, exit 2, nothing
// changed: `dump --follow -`, `recover -`, `log restore -`, `log append -` (and `--file -`
// twice); `durable save -` and `log salvage SRC -` name ./- and never create a file named "-".
#[test]
fn what_needs_a_file_is_refused_for_a_stream() {
    let env = Env::new();
    append(&env, "a.log", &["one"]);
    let log = env.read("a.log");
    for (args, says) in [
        (&["log", "dump", "--follow", "-"][..], "--follow"),
        (&["recover", "-"][..], "save the stream to a file"),
        (&["log", "restore", "-"][..], "a file named - is ./-"),
        (&["log", "append", "-", "x"][..], "./-"),
        (
            &["log", "append", "b.log", "--file", "-", "--file", "-"][..],
            "given once",
        ),
        (&["save", "-"][..], "./-"),
        // Regression: salvage created a file named "-".
        (&["log", "salvage", "a.log", "-"][..], "./-"),
    ] {
        let out = run(&env, args, &log);
        let err = out.stderr;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(env.names(), ["a.log"], "{args:?} changed something");
        assert_eq!(env.read("a.log"), log);
    }
}

// Guards: `save --from -` and `log append --file -` read standard input (they failed with
// "could not read -").
#[test]
fn save_from_and_append_file_read_standard_input() {
    let env = Env::new();
    let out = run(&env, &["save", "--from", "-", "T"], b"new content\n");
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    assert_eq!(env.read("T"), b"new content\n");
    let out = run(
        &env,
        &["log", "append", "b.log", "x", "--file", "-"],
        b"two\nlines\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    let out = run(&env, &["log", "dump", "--format", "json", "b.log"], b"");
    let payloads: Vec<String> = out
        .out()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("json")["payload"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(payloads, ["x", "two\nlines\n"]);
}

/// `durable log dump --follow --format raw PATH`: the child, and its stdout and stderr so far.
fn follow(env: &Env, path: &Path) -> (KillOnDrop, Seen, Seen) {
    let follow = env
        .cmd(&["log", "dump", "--follow", "--format", "raw"])
        .arg(path)
        .spawn();
    (follow.child, follow.stdout, follow.stderr)
}

fn holds(buf: &Arc<Mutex<Vec<u8>>>, want: &str) -> bool {
    text(&buf.lock().expect("lock")).contains(want)
}

// Guards: `dump --follow` notices that recover cut the log below what it showed (an append
// that never completed), says so, and goes on with the records appended after the cut (it
// went on reading at its old offset, inside the new records).
#[test]
fn follow_notices_a_cut_by_recover() {
    let env = Env::new();
    let log = env.path("f.log");
    append(&env, "f.log", &["zero"]);
    append(&env, "f.log", &["a", "b", "c"]);
    crate::common::shorten(&log, 3);
    let (_child, out, err) = follow(&env, &log);
    assert!(
        wait_until(Duration::from_secs(20), || holds(&out, "zero\na\nb\n")),
        "{:?}",
        text(&out.lock().unwrap())
    );
    let rec = run(&env, &["recover", "--no-backup", "f.log"], b"");
    assert!(rec.status.success(), "{}", rec.stderr);
    append(&env, "f.log", &["after the cut"]);
    assert!(
        wait_until(Duration::from_secs(20), || holds(&out, "after the cut\n")),
        "the record appended after the cut was not shown: {:?} / {:?}",
        text(&out.lock().unwrap()),
        text(&err.lock().unwrap())
    );
    assert!(
        holds(&err, "was cut to"),
        "{:?}",
        text(&err.lock().unwrap())
    );
    assert_eq!(text(&out.lock().unwrap()), "zero\na\nb\nafter the cut\n");
}

// Guards: `dump --follow` notices that the log was replaced by a new file at its path
// (rotation), says so and follows the new file from its start, like `tail -F`.
#[test]
fn follow_reopens_a_replaced_log() {
    let env = Env::new();
    let log = env.path("r.log");
    append(&env, "r.log", &["old"]);
    let (_child, out, err) = follow(&env, &log);
    assert!(wait_until(Duration::from_secs(20), || holds(&out, "old\n")));
    fs::rename(&log, env.path("r.log.1")).expect("rotate");
    append(&env, "r.log", &["fresh"]);
    assert!(
        wait_until(Duration::from_secs(20), || holds(&out, "fresh\n")),
        "the new log was not followed: {:?} / {:?}",
        text(&out.lock().unwrap()),
        text(&err.lock().unwrap())
    );
    assert!(
        holds(&err, "was replaced"),
        "{:?}",
        text(&err.lock().unwrap())
    );
    assert_eq!(text(&out.lock().unwrap()), "old\nfresh\n");
}

/// Guards (regression): the hints of `log verify` for standard input redirected from a file
/// said `durable recover ./-` (no such file); from a pipe they said `durable recover FILE`
/// without the `--log-format` or `--with-index` the log was read with. Whatever standard input
/// is, the hint names FILE, to save the stream to, with the options it was read with.
#[test]
fn verify_hints_for_standard_input_name_a_file_with_its_options() {
    let env = Env::new();
    let mut lines: Vec<u8> = Vec::new();
    for entry in ["one", "two"] {
        let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(entry.as_bytes()));
        lines.extend_from_slice(format!("{entry} {hash}\n").as_bytes());
    }
    lines.extend_from_slice(b"\x01\x02garbage");
    fs::write(env.path("torn.log"), &lines).expect("write");
    let save = " (after saving the stream to FILE)";
    for (how, script, says) in [
        (
            "redirected",
            "$D log verify - < torn.log",
            "`durable recover FILE`",
        ),
        (
            "piped",
            "cat torn.log | $D log verify -",
            "`durable recover FILE`",
        ),
        (
            "redirected, format named",
            "$D log verify --log-format lines - < torn.log",
            "`durable recover --log-format lines FILE`",
        ),
        (
            "piped, format named",
            "cat torn.log | $D log verify --log-format lines -",
            "`durable recover --log-format lines FILE`",
        ),
    ] {
        let r = sh(&env, script);
        assert_eq!(r.code, 1, "{how}: {}", r.show());
        assert!(
            r.out().contains(&format!("{says}{save} cuts the ")),
            "{how}: {}",
            r.show()
        );
        assert!(!r.out().contains("./-"), "{how}: {}", r.show());
    }

    // A proglog store read with an index named: the index goes into the hint.
    let mut store = Vec::new();
    let mut index = Vec::new();
    for (i, rec) in [&b"first"[..], b"second"].iter().enumerate() {
        index.extend_from_slice(&(i as u32).to_be_bytes());
        index.extend_from_slice(&(store.len() as u64).to_be_bytes());
        store.extend_from_slice(&(rec.len() as u64).to_be_bytes());
        store.extend_from_slice(rec);
    }
    store.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    fs::write(env.path("seg.store"), &store).expect("write");
    fs::write(env.path("other.index"), &index).expect("write");
    let r = sh(
        &env,
        "$D log verify --log-format proglog --with-index other.index - < seg.store",
    );
    assert_eq!(r.code, 1, "{}", r.show());
    assert!(
        r.out().contains(&format!(
            "`durable recover --log-format proglog --with-index other.index FILE`{save}"
        )),
        "{}",
        r.show()
    );
}
