//! `log append --log-format lines`: the bytes it writes are the lines format's, an existing
//! lines log is appended to without the flag, and what it refuses (an entry with LF, `--checksum crc32`, a torn or corrupt tail, a foreign format that
//! cannot be appended to) leaves the file byte-identical.

use std::fs;

use super::*;
use crate::common::{Cases, Env};

/// Parse a lines log by the format's rules, independently of durable: each line is
/// `ENTRY SP 64-lowercase-hex LF` with the hex the SHA-256 of ENTRY. The entries.
fn parse_lines_log(bytes: &[u8]) -> Vec<Vec<u8>> {
    assert!(bytes.is_empty() || bytes.ends_with(b"\n"), "ends with LF");
    let mut out = Vec::new();
    for l in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        assert!(
            l.len() >= 65,
            "line too short: {:?}",
            String::from_utf8_lossy(l)
        );
        let (entry, rest) = l.split_at(l.len() - 65);
        assert_eq!(rest[0], b' ', "a space before the checksum");
        let hexed = std::str::from_utf8(&rest[1..]).expect("hex is ASCII");
        assert!(
            hexed
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)),
            "lowercase hex: {hexed}"
        );
        assert_eq!(
            hexed,
            sha_hex(entry),
            "checksum of {:?}",
            String::from_utf8_lossy(entry)
        );
        out.push(entry.to_vec());
    }
    out
}

/// Guards: `log append --log-format lines` creates a log whose bytes are
/// exactly `ENTRY SP sha256hex LF` per record (entries with spaces, an empty one), which
/// verify then detects as lines.
#[test]
fn creates_the_seed_format() {
    let env = Env::new();
    let entries: [&[u8]; 4] = [b"first entry", b"with  two  spaces ", b"", b"last"];
    let args: Vec<&str> = entries
        .iter()
        .map(|e| std::str::from_utf8(e).expect("utf-8"))
        .collect();
    {
        let flag = "--log-format";
        let path = env.path(&format!("new{flag}.log"));
        let mut a = vec!["log", "append", "--sync", "none", flag, "lines", s(&path)];
        a.extend(&args);
        let r = run(&env, &a, b"");
        assert_eq!(r.code, 0, "{flag} lines: {}", r.show());
        let bytes = fs::read(&path).expect("read");
        assert_eq!(bytes, lines_log(&entries), "{flag} lines: exact bytes");
        assert_eq!(parse_lines_log(&bytes), entries.map(<[u8]>::to_vec));
        let rep = verify(&env, &path, &[]);
        check_report(flag, &rep, "clean", 4, bytes.len(), None);
        assert_eq!(rep.1["format"], "lines");
    }
    // Entries from stdin (one per line, and -0) and from a file (non-UTF-8 bytes).
    let path = env.path("stdin.log");
    let r = run(
        &env,
        &[
            "log",
            "append",
            "--sync",
            "none",
            "--log-format",
            "lines",
            s(&path),
        ],
        b"a b\n\nc\n",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    let f = env.write("bin.entry", b"\xff\xfe bytes");
    let r = run(
        &env,
        &["log", "append", "--sync", "none", s(&path), "--file", s(&f)],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    let r = run(
        &env,
        &["log", "append", "--sync", "none", "-0", s(&path)],
        b"x y\0z",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    let want: [&[u8]; 6] = [b"a b", b"", b"c", b"\xff\xfe bytes", b"x y", b"z"];
    assert_eq!(fs::read(&path).expect("read"), lines_log(&want));
}

/// Guards: an existing lines log (written by another program) is appended to without the flag,
/// in its own format; a new log without the flag is native.
#[test]
fn appends_to_an_existing_lines_log_without_the_flag() {
    let env = Env::new();
    let path = env.write("seed.log", lines_log(&LINE_ENTRIES));
    let r = run(
        &env,
        &[
            "log",
            "append",
            "--sync",
            "none",
            s(&path),
            "next one",
            "and more",
        ],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    let mut want: Vec<&[u8]> = LINE_ENTRIES.to_vec();
    want.extend([&b"next one"[..], b"and more"]);
    assert_eq!(fs::read(&path).expect("read"), lines_log(&want));
    let r = run(
        &env,
        &[
            "log",
            "append",
            "--sync",
            "none",
            "--verify",
            s(&path),
            "verified",
        ],
        b"",
    );
    assert_eq!(r.code, 0, "--verify: {}", r.show());

    let native = env.path("native.log");
    let r = run(
        &env,
        &["log", "append", "--sync", "none", s(&native), "x"],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(
        &fs::read(&native).expect("read")[..8],
        b"\x89DLOG\r\n\x1a",
        "new logs are native"
    );
}

/// Guards: --print-offsets prints each new line's offset, the offsets dump shows.
#[test]
fn print_offsets_are_line_offsets() {
    let env = Env::new();
    let path = env.write("o.log", lines_log(&[b"zero"]));
    let r = run(
        &env,
        &[
            "log",
            "append",
            "--sync",
            "none",
            "--print-offsets",
            s(&path),
            "one",
            "two two",
        ],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    let printed: Vec<String> = r.out().split_whitespace().map(str::to_string).collect();
    let bounds = line_bounds(&[b"zero", b"one", b"two two"]);
    assert_eq!(
        printed,
        vec![bounds[1].to_string(), bounds[2].to_string()],
        "{}",
        r.show()
    );
    let (_, objs) = dump(&env, &path, &[]);
    let offsets: Vec<String> = objs
        .iter()
        .skip(1)
        .map(|o| o["offset"].to_string())
        .collect();
    assert_eq!(offsets, printed);
}

/// Guards: what append refuses with lines leaves everything as it was: an entry containing LF
/// (argument, --file, --whole stdin; exit 2, no new log created), --checksum crc32 (exit 2),
/// a torn tail (exit 1) or a damaged line followed by a torn tail (exit 3) in the log, and appending to a proglog store,
/// index or an aof file (exit 2).
#[test]
fn refusals_change_nothing() {
    let env = Env::new();
    let good = lines_log(&LINE_ENTRIES);
    env.write("ok.log", &good);
    env.write("torn.log", &good[..good.len() - 7]);
    // As for native logs, append checks the tail: a damaged line with a torn tail after it is
    // corruption (exit 3); a damaged last line is a torn tail (exit 1).
    let bounds = line_bounds(&LINE_ENTRIES);
    let mut bad = good.clone();
    bad[bounds[1]] ^= 1;
    bad.truncate(bad.len() - 3);
    env.write("corrupt.log", &bad);
    let mut first_bad = good.clone();
    first_bad[0] ^= 1;
    first_bad.truncate(first_bad.len() - 3);
    env.write("first-bad.log", &first_bad);
    let mut last_bad = good.clone();
    last_bad[bounds[LINE_ENTRIES.len() - 1]] ^= 1;
    env.write("last-bad.log", &last_bad);
    env.write("multi.entry", b"one\ntwo");
    env.write("notes.txt", b"shopping list\nmilk\neggs\n");
    env.write("seg/0.store", store(&STORE_RECORDS));
    env.write("seg/0.index", index_for(&STORE_RECORDS));
    env.write("data.aof", aof_standard().bytes);
    let cases_list: Vec<(&str, Vec<&str>, &[u8], i32)> = vec![
        (
            "LF in an argument",
            vec!["--log-format", "lines", "ok.log", "a", "b\nc"],
            b"",
            2,
        ),
        (
            "LF in an argument, new log",
            vec!["--log-format", "lines", "new.log", "b\nc"],
            b"",
            2,
        ),
        (
            "LF in an argument, detected",
            vec!["ok.log", "b\nc"],
            b"",
            2,
        ),
        (
            "LF in --file",
            vec!["ok.log", "--file", "multi.entry"],
            b"",
            2,
        ),
        ("LF in --whole stdin", vec!["--whole", "ok.log"], b"x\ny", 2),
        (
            "LF in --whole stdin, new log",
            vec!["--log-format", "lines", "--whole", "new.log"],
            b"x\ny",
            2,
        ),
        (
            "--checksum crc32",
            vec![
                "--log-format",
                "lines",
                "--checksum",
                "crc32",
                "new.log",
                "a",
            ],
            b"",
            2,
        ),
        (
            "--checksum crc32, existing",
            vec!["--checksum", "crc32", "ok.log", "a"],
            b"",
            2,
        ),
        ("a torn tail", vec!["torn.log", "a"], b"", 1),
        (
            "a torn tail, named",
            vec!["--log-format", "lines", "torn.log", "a"],
            b"",
            1,
        ),
        ("a damaged last line", vec!["last-bad.log", "a"], b"", 1),
        (
            "a corrupt line and a torn tail",
            vec!["corrupt.log", "a"],
            b"",
            3,
        ),
        (
            "a corrupt first line and a torn tail, named",
            vec!["--log-format", "lines", "first-bad.log", "a"],
            b"",
            3,
        ),
        (
            "a corrupt first line and a torn tail, detected",
            vec!["first-bad.log", "a"],
            b"",
            3,
        ),
        (
            "a text file named as lines",
            vec!["--log-format", "lines", "notes.txt", "x"],
            b"",
            2,
        ),
        ("a proglog store", vec!["seg/0.store", "a"], b"", 2),
        ("a proglog index", vec!["seg/0.index", "a"], b"", 2),
        ("an aof file", vec!["data.aof", "a"], b"", 2),
        (
            "--log-format proglog",
            vec!["--log-format", "proglog", "new.store", "a"],
            b"",
            2,
        ),
        (
            "--log-format aof",
            vec!["--log-format", "aof", "new.aof", "a"],
            b"",
            2,
        ),
    ];
    let mut cases = Cases::default();
    for (what, extra, stdin, code) in cases_list {
        cases.check(|| {
            let before = snapshot(env.dir.path(), true);
            let mut args = vec!["log", "append", "--sync", "none"];
            args.extend(&extra);
            let r = run(&env, &args, stdin);
            assert_eq!(r.code, code, "{what}: {}", r.show());
            assert!(!r.stderr.is_empty(), "{what}: say why: {}", r.show());
            assert!(!r.stderr.contains("panicked"), "{what}: {}", r.show());
            assert_eq!(
                r.stderr.lines().count(),
                1,
                "{what}: one sentence: {}",
                r.show()
            );
            assert_unchanged(&env, &before, what);
        });
    }
    cases.assert_all_passed("formats::append::refusals_change_nothing");
    env.assert_no_leftovers();
}

/// Guards: durable appends entries of at most 16 MiB, to a lines log too (it reads longer
/// ones): an entry over that is refused with a sentence that says so, and nothing is written
/// (no new log, the existing one unchanged), whether the log is named as lines or detected.
#[test]
fn entry_over_16_mib_is_refused_saying_why() {
    let env = Env::new();
    env.write("ok.log", lines_log(&LINE_ENTRIES));
    env.write("big.entry", vec![b'a'; (16 << 20) + 1]);
    let before = snapshot(env.dir.path(), true);
    for args in [
        &["--log-format", "lines", "new.log", "--file", "big.entry"][..],
        &[
            "--log-format",
            "lines",
            "ok.log",
            "small",
            "--file",
            "big.entry",
        ][..],
        &["ok.log", "--file", "big.entry"][..],
    ] {
        let mut a = vec!["log", "append", "--sync", "none"];
        a.extend_from_slice(args);
        let r = run(&env, &a, b"");
        assert_eq!(r.code, 2, "{args:?}: {}", r.show());
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.show());
        assert!(
            r.stderr.contains("16 MiB") && r.stderr.contains("big.entry"),
            "{args:?}: says the limit: {}",
            r.show()
        );
        if args[0] == "--log-format" {
            assert!(r.stderr.contains("lines log"), "{args:?}: {}", r.show());
        }
        assert_unchanged(&env, &before, &format!("{args:?}"));
    }
}

/// Was a bug: `log append` to a proglog store or an aof file said "it does not start with the
/// log magic, and its first lines are not a lines log's" (verify reads both); `--log-format
/// native` on a lines log said only that it lacks the magic; a streamed record over 16 MiB was
/// "16842752 bytes" (what was buffered, not its size). Each sentence now names what it is.
#[test]
fn append_refusals_name_the_format_and_the_size() {
    let env = Env::new();
    env.write("seg/0.store", store(&STORE_RECORDS));
    env.write("data.aof", aof_standard().bytes);
    env.write("audit.log", lines_log(&LINE_ENTRIES));
    let before = snapshot(env.dir.path(), true);
    for (args, says) in [
        (&["seg/0.store", "x"][..], "it is a proglog file"),
        (&["data.aof", "x"][..], "it is an aof file"),
        (
            &["--log-format", "native", "audit.log", "x"][..],
            "it is a lines log",
        ),
    ] {
        let mut a = vec!["log", "append"];
        a.extend_from_slice(args);
        let r = run(&env, &a, b"");
        assert_eq!(r.code, 2, "{args:?}: {}", r.show());
        assert_one_line_error_contains(&r, says, args);
    }
    assert_unchanged(&env, &before, "refused appends");
    let big = vec![b'a'; (16 << 20) + 100_000];
    for args in [&["new.log"][..], &["--log-format", "lines", "new.log"][..]] {
        let mut a = vec!["log", "append"];
        a.extend_from_slice(args);
        let r = run(&env, &a, &big);
        assert_eq!(r.code, 2, "{args:?}: {}", r.show());
        assert_one_line_error_contains(&r, "is larger than", args);
    }
    assert_unchanged(&env, &before, "oversized records");
}

fn assert_one_line_error_contains(r: &common::Run, says: &str, args: &[&str]) {
    assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.show());
    assert!(
        r.stderr.contains(says),
        "{args:?}: wants {says:?}: {}",
        r.show()
    );
}

/// Guards: a lines append that fails mid-way (an entry with LF after good ones) appends
/// nothing: all records of one invocation go in together or not at all.
#[test]
fn one_bad_entry_appends_nothing() {
    let env = Env::new();
    let path = env.write("g.log", lines_log(&[b"zero"]));
    let r = run(
        &env,
        &[
            "log",
            "append",
            "--sync",
            "none",
            "--atomic",
            "-0",
            s(&path),
        ],
        b"one\0two\nthree\0four",
    );
    assert_eq!(r.code, 2, "{}", r.show());
    assert_eq!(fs::read(&path).expect("read"), lines_log(&[b"zero"]));
    // Streamed, the entries before the bad one are committed as they come (exit 5, stopped
    // partway), and the message says so.
    let r = run(
        &env,
        &["log", "append", "--sync", "none", "-0", s(&path)],
        b"one\0two\nthree\0four",
    );
    assert_eq!(r.code, 5, "{}", r.show());
    assert!(r.stderr.contains("1 record"), "{}", r.show());
    assert!(!r.stderr.contains("sequence numbers"), "{}", r.show());
    assert_eq!(
        fs::read(&path).expect("read"),
        lines_log(&[b"zero", b"one"])
    );
}

/// Guards: 4 appenders at once on one lines log never interleave or lose a line: every line
/// checks out, each entry is there once, each invocation's entries are contiguous and in order.
#[test]
fn concurrent_lines_appenders_never_interleave() {
    let env = Env::new();
    let path = env.path("c.log");
    let r = run(
        &env,
        &[
            "log",
            "append",
            "--sync",
            "none",
            "--log-format",
            "lines",
            s(&path),
            "start",
        ],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let path = path.clone();
            std::thread::spawn(move || {
                for i in 0..20 {
                    let recs: Vec<String> = (0..5).map(|k| format!("w{w} i{i} r{k}")).collect();
                    let out = crate::common::durable()
                        .args(["log", "append", "--sync", "none", s(&path)])
                        .args(&recs)
                        .output()
                        .expect("run");
                    assert!(
                        out.status.success(),
                        "{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("appender");
    }
    let bytes = fs::read(&path).expect("read");
    let entries = parse_lines_log(&bytes);
    assert_eq!(entries.len(), 1 + 4 * 20 * 5);
    let text: Vec<String> = entries
        .iter()
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .collect();
    for w in 0..4 {
        let mine: Vec<usize> = text
            .iter()
            .enumerate()
            .filter(|(_, t)| t.starts_with(&format!("w{w} ")))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(mine.len(), 100, "appender {w}");
        for chunk in mine.chunks(5) {
            assert_eq!(
                chunk[4] - chunk[0],
                4,
                "an invocation's lines are contiguous: {chunk:?}"
            );
        }
        let want: Vec<String> = (0..20)
            .flat_map(|i| (0..5).map(move |k| format!("w{w} i{i} r{k}")))
            .collect();
        let got: Vec<String> = mine.iter().map(|&i| text[i].clone()).collect();
        assert_eq!(got, want, "appender {w}: in order");
    }
}

/// Guards: `--log-format lines` naming an existing native log neither damages it nor calls it
/// torn: the log keeps its own format (appended to as native) or the append is refused (exit
/// 2, unchanged); never "a torn tail at offset 0" (exit 1), whose advice, `recover
/// --log-format lines`, would cut the whole log.
#[test]
fn lines_flag_on_an_existing_native_log() {
    let env = Env::new();
    let path = env.path("n.log");
    let r = run(
        &env,
        &["log", "append", "--sync", "none", s(&path), "first"],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    let before = fs::read(&path).expect("read");
    let r = run(
        &env,
        &[
            "log",
            "append",
            "--sync",
            "none",
            "--log-format",
            "lines",
            s(&path),
            "second",
        ],
        b"",
    );
    assert!(
        !r.stderr.contains("torn tail"),
        "a clean native log called torn: {}",
        r.show()
    );
    match r.code {
        0 => {
            let (d, objs) = dump(&env, &path, &[]);
            assert_eq!(d.code, 0, "{}", d.show());
            assert_eq!(
                payloads_of(&objs),
                vec![b"first".to_vec(), b"second".to_vec()]
            );
        }
        2 => assert_eq!(
            fs::read(&path).expect("read"),
            before,
            "refused, but changed"
        ),
        other => panic!("exit {other}: {}", r.show()),
    }
}

/// Guards: a power loss inside a multi-line append can keep a later line and lose an earlier one
/// (zeros where it was). The tail check reads the last 64 KiB of lines, not only the last line,
/// so the next append does not land behind that damage: refused (exit 3: a damaged line with a
/// valid line after it), the log byte-identical.
#[test]
fn append_after_damage_inside_the_last_lines_is_refused() {
    let env = Env::new();
    let entries: [&[u8]; 3] = [b"one", b"two", b"three"];
    let mut bytes = lines_log(&entries);
    let bounds = line_bounds(&entries);
    bytes[bounds[1]..bounds[2] - 1].fill(0);
    let path = env.write("z.log", &bytes);
    let r = run(
        &env,
        &["log", "append", "--log-format", "lines", s(&path), "four"],
        b"",
    );
    assert_eq!(r.code, 3, "{}", r.show());
    assert_eq!(fs::read(&path).expect("read"), bytes, "changed");
}

/// Guards: a valid last line without its newline (the original verifier reads it; durable used
/// to call it a torn tail, and recover dropped it): verify says it is clean and notes the missing
/// newline, recover keeps it, and append writes the newline before the new lines (their offsets
/// and --verify are those of the new lines). A one-line log of this shape is a log.
#[test]
fn append_terminates_an_unterminated_last_line() {
    let env = Env::new();
    for entries in [&[&b"only entry"[..]][..], &LINE_ENTRIES[..]] {
        let full = lines_log(entries);
        let path = env.write("u.log", &full[..full.len() - 1]);
        let (code, v) = verify(&env, &path, &[]);
        assert_eq!((code, &v["format"]), (0, &Value::from("lines")), "{v}");
        assert_eq!(
            (&v["records"], &v["unterminated"]),
            (&Value::from(entries.len()), &Value::from(true)),
            "{v}"
        );
        let r = run(&env, &["log", "verify", s(&path)], b"");
        assert!(r.out().contains("no newline"), "{}", r.show());
        let before = snapshot(env.dir.path(), true);
        let (r, _) = recover(&env, &[], &[&path]);
        assert_eq!(r.code, 0, "{}", r.show());
        assert_unchanged(&env, &before, "recover keeps a valid unterminated line");

        let r = run(
            &env,
            &[
                "log",
                "append",
                "--sync",
                "none",
                "--verify",
                "--print-offsets",
                s(&path),
                "next",
                "and next",
            ],
            b"",
        );
        assert_eq!(r.code, 0, "{}", r.show());
        let mut want: Vec<&[u8]> = entries.to_vec();
        want.extend([&b"next"[..], b"and next"]);
        assert_eq!(fs::read(&path).expect("read"), lines_log(&want));
        let bounds = line_bounds(&want);
        assert_eq!(
            r.out().split_whitespace().collect::<Vec<_>>(),
            vec![
                bounds[entries.len()].to_string(),
                bounds[entries.len() + 1].to_string()
            ],
            "{}",
            r.show()
        );
        let (code, v) = verify(&env, &path, &[]);
        assert_eq!((code, &v["unterminated"]), (0, &Value::from(false)), "{v}");
        fs::remove_file(&path).expect("rm");
    }
}

/// Guards: a plain text file named as a lines log (`log append --log-format lines notes.txt x`
/// used to say "torn tail … run durable recover first", and following that advice,
/// `recover --log-format lines notes.txt`, emptied the file): append, recover and verify say
/// "notes.txt is not a lines log" (exit 2) and change nothing. Only `recover --force` cuts such
/// a file, keeping its bytes in the sidecar.
#[test]
fn a_text_file_named_as_lines_is_not_a_lines_log() {
    let env = Env::new();
    let text = b"shopping list\nmilk\neggs and bread\n";
    let path = env.write("notes.txt", text);
    let before = snapshot(env.dir.path(), true);
    for args in [
        &["log", "append", "--log-format", "lines", "notes.txt", "x"][..],
        &["recover", "--log-format", "lines", "notes.txt"][..],
        &["recover", "--dry-run", "--log-format", "lines", "notes.txt"][..],
        &["log", "verify", "--log-format", "lines", "notes.txt"][..],
        &["log", "dump", "--log-format", "lines", "notes.txt"][..],
    ] {
        let r = run(&env, args, b"");
        assert_one_line_error(&r, &["notes.txt"], &format!("{args:?}"));
        assert!(
            r.stderr.contains("notes.txt is not a lines log"),
            "{args:?}: {}",
            r.show()
        );
        assert!(
            !r.stderr.contains("recover"),
            "{args:?}: no advice to recover: {}",
            r.show()
        );
    }
    assert_unchanged(&env, &before, "a text file named as lines");
    let (r, _) = recover(&env, &["--force", "--log-format", "lines"], &[&path]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read(&path).expect("read"), b"");
    assert_eq!(read_sidecar(&sidecar(&path, 0)).expect("sidecar"), text);
}

/// The native log magic, the first 8 bytes of every native log.
const NATIVE_MAGIC: &[u8] = b"\x89DLOG\r\n\x1a";

/// Regression (found by a hunt): another user's file named like a sidecar in
/// `.durable-recovered/` (a shared directory: anyone may leave one there) decided the format of
/// the next append to an empty log of root's, and the message said recover had emptied it. Only a
/// sidecar made by the log's owner, the user appending or root counts.
#[test]
fn another_users_sidecar_does_not_decide_the_format() {
    if !crate::common::is_root() {
        crate::common::skip(
            "another_users_sidecar_does_not_decide_the_format",
            "needs root to give a file to another user",
        );
        return;
    }
    let env = Env::new();
    let path = env.write("l.log", b"abc");
    let (r, _) = recover(&env, &["--log-format", "lines"], &[&path]);
    assert_eq!(r.code, 0, "{}", r.show());
    let side = sidecar(&path, 0);
    // The same sidecar, another user's: ignored; the empty file starts a native log.
    crate::common::give(&side, crate::common::NOBODY);
    let r = run(
        &env,
        &["log", "append", "--sync", "none", s(&path), "x"],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(!r.stderr.contains("emptied it"), "{}", r.show());
    assert!(
        fs::read(&path).expect("read").starts_with(NATIVE_MAGIC),
        "another user's sidecar made it a lines log"
    );
    // The user's own: the lines log goes on as lines (the guard above, in short).
    fs::write(&path, b"").expect("truncate");
    crate::common::give(&side, 0);
    let r = run(
        &env,
        &["log", "append", "--sync", "none", s(&path), "x"],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(!fs::read(&path).expect("read").starts_with(NATIVE_MAGIC));
}

/// Guards: a lines log that `recover` emptied (its only line torn by a crash, or `--force` past
/// a damaged first line) stays a lines log: the next `log append`, without `--log-format`, used
/// to start a native log in the empty file (a binary header the program that owns the log cannot
/// read). It now goes on as lines, as the sidecar recover kept records, and says so on stderr
/// (and verify and dump of the empty file say what recover emptied it of); verify and dump read
/// the appended lines back. `--log-format native` still starts a native log;
/// an empty file with no such sidecar is still started as native; `log restore` still puts the
/// cut bytes back into the emptied file.
#[test]
fn a_lines_log_recover_emptied_stays_lines() {
    let env = Env::new();
    let torn_only_line = b"abc".to_vec();
    let mut damaged_first = line(b"first");
    damaged_first[0] ^= 1;
    damaged_first.extend(line(b"second"));
    for (case, bytes, flags) in [
        (
            "torn only line",
            &torn_only_line,
            &["--log-format", "lines"][..],
        ),
        (
            "damaged first line, --force",
            &damaged_first,
            &["--force"][..],
        ),
    ] {
        let path = env.write("l.log", bytes);
        let (r, _) = recover(&env, flags, &[&path]);
        assert_eq!(r.code, 0, "{case}: {}", r.show());
        assert_eq!(fs::read(&path).expect("read"), b"", "{case}: emptied");
        let side = sidecar(&path, 0);
        assert_eq!(read_sidecar(&side).expect("sidecar"), *bytes, "{case}");
        // verify and dump of the empty file say what it was and what the next append does.
        for command in ["verify", "dump"] {
            let r = run(&env, &["log", command, s(&path)], b"");
            assert_one_line_error(
                &r,
                &[
                    "l.log is not a log durable can read: it is empty; durable recover emptied it of a lines log",
                    "l.log.0.durable-sidecar",
                    "the next log append to it goes on as lines",
                ],
                &format!("{case}: {command}"),
            );
        }

        let r = run(
            &env,
            &[
                "log",
                "append",
                "--sync",
                "none",
                s(&path),
                "hello",
                "world",
            ],
            b"",
        );
        assert_eq!(r.code, 0, "{case}: {}", r.show());
        assert_eq!(
            fs::read(&path).expect("read"),
            lines_log(&[b"hello", b"world"]),
            "{case}: appended as lines"
        );
        assert!(
            r.stderr.contains("appending to it as lines")
                && r.stderr
                    .contains(".durable-recovered/l.log.0.durable-sidecar"),
            "{case}: says so: {}",
            r.show()
        );
        let (code, v) = verify(&env, &path, &[]);
        assert_eq!(
            (code, &v["format"], &v["records"]),
            (0, &Value::from("lines"), &Value::from(2)),
            "{case}: {v}"
        );
        let r = run(&env, &["log", "dump", "--format", "raw", s(&path)], b"");
        assert_eq!(
            (r.code, r.stdout.as_slice()),
            (0, &b"hello\nworld\n"[..]),
            "{case}: {}",
            r.show()
        );
        // A second append goes on as lines (the log is detected now; nothing more is said).
        let r = run(
            &env,
            &["log", "append", "--sync", "none", s(&path), "again"],
            b"",
        );
        assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{case}: {}", r.show());
        assert_eq!(
            fs::read(&path).expect("read"),
            lines_log(&[b"hello", b"world", b"again"])
        );

        // Named native, an emptied lines log is started as a native log.
        fs::write(&path, b"").expect("empty");
        let r = run(
            &env,
            &[
                "log",
                "append",
                "--sync",
                "none",
                "--log-format",
                "native",
                s(&path),
                "n",
            ],
            b"",
        );
        assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{case}: {}", r.show());
        assert!(
            fs::read(&path).expect("read").starts_with(NATIVE_MAGIC),
            "{case}: native"
        );

        // Restored, the log holds the cut bytes again (then appends are refused as before).
        fs::write(&path, b"").expect("empty");
        let r = run(&env, &["log", "restore", s(&side)], b"");
        assert_eq!(r.code, 0, "{case}: restore: {}", r.show());
        assert_eq!(fs::read(&path).expect("read"), *bytes, "{case}: restored");
        fs::remove_dir_all(env.path(".durable-recovered")).expect("rm sidecars");
        fs::remove_file(&path).expect("rm");
    }

    // An empty file with no sidecar of recover's is started as a native log, as before.
    let path = env.write("fresh.log", b"");
    let r = run(
        &env,
        &["log", "append", "--sync", "none", s(&path), "x"],
        b"",
    );
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{}", r.show());
    assert!(fs::read(&path).expect("read").starts_with(NATIVE_MAGIC));
}

/// Guards: what an append to an emptied log cannot decide is refused, with the file left empty:
/// sidecars of recover that disagree on the log's format (a lines log emptied, started again as
/// native, emptied again), `--checksum crc32` for an emptied lines log, and a proglog store
/// recover emptied (durable does not append to proglog; it used to write a native log into the
/// segment's directory, which proglog then could not open).
#[test]
fn an_emptied_log_append_cannot_decide_is_refused() {
    let env = Env::new();
    // Sidecars that disagree.
    let path = env.write("l.log", b"abc");
    let (r, _) = recover(&env, &["--log-format", "lines"], &[&path]);
    assert_eq!(r.code, 0, "{}", r.show());
    let r = run(
        &env,
        &[
            "log",
            "append",
            "--sync",
            "none",
            "--log-format",
            "native",
            s(&path),
            "x",
        ],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    let native = fs::read(&path).expect("read");
    fs::write(&path, &native[..10]).expect("a torn start");
    let (r, _) = recover(&env, &[], &[&path]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(sidecars_of(&path).len(), 2, "two sidecars at 0");
    let before = snapshot(env.dir.path(), true);
    let r = run(
        &env,
        &["log", "append", "--sync", "none", s(&path), "x"],
        b"",
    );
    assert_one_line_error(&r, &["l.log", "disagree", "--log-format lines"], "conflict");
    assert_unchanged(&env, &before, "conflicting sidecars");
    for format in ["lines", "native"] {
        let r = run(
            &env,
            &[
                "log",
                "append",
                "--sync",
                "none",
                "--log-format",
                format,
                s(&path),
                "x",
            ],
            b"",
        );
        assert_eq!(r.code, 0, "{format}: {}", r.show());
        fs::write(&path, b"").expect("empty");
    }
    fs::remove_dir_all(env.path(".durable-recovered")).expect("rm sidecars");

    // --checksum crc32 for an emptied lines log.
    fs::write(&path, b"abc").expect("write");
    let (r, _) = recover(&env, &["--log-format", "lines"], &[&path]);
    assert_eq!(r.code, 0, "{}", r.show());
    let before = snapshot(env.dir.path(), true);
    let r = run(
        &env,
        &["log", "append", "--checksum", "crc32", s(&path), "x"],
        b"",
    );
    assert_one_line_error(
        &r,
        &["l.log", "lines log", "crc32", "--log-format native"],
        "crc32",
    );
    assert_unchanged(&env, &before, "--checksum crc32");

    // A proglog store recover emptied (its only record torn).
    fs::create_dir(env.path("seg")).expect("mkdir");
    let full = store(&[b"only record"]);
    let st = env.write("seg/0.store", &full[..full.len() - 3]);
    env.write("seg/0.index", b"");
    let (r, _) = recover(&env, &["--log-format", "proglog"], &[&st]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read(&st).expect("read"), b"", "emptied");
    let before = snapshot(env.dir.path(), true);
    let r = run(&env, &["log", "append", s(&st), "x"], b"");
    assert_one_line_error(
        &r,
        &["0.store", "proglog store", "nothing was appended"],
        "proglog",
    );
    assert_unchanged(&env, &before, "an emptied proglog store");
}

/// Guards: the native journeys keep their format: a native log whose start was torn (recover
/// empties it) or whose only record was torn (recover cuts it back to the header) is appended to
/// as a native log again, with nothing said about formats.
#[test]
fn a_native_log_recover_emptied_stays_native() {
    let env = Env::new();
    let path = env.path("n.log");
    let r = run(
        &env,
        &["log", "append", "--sync", "none", s(&path), "first"],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    let full = fs::read(&path).expect("read");
    for (case, keep) in [("torn start", 10), ("torn only record", full.len() - 3)] {
        fs::write(&path, &full[..keep]).expect("torn");
        let (r, _) = recover(&env, &[], &[&path]);
        assert_eq!(r.code, 0, "{case}: {}", r.show());
        let r = run(
            &env,
            &["log", "append", "--sync", "none", s(&path), "next"],
            b"",
        );
        assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{case}: {}", r.show());
        assert!(
            fs::read(&path).expect("read").starts_with(NATIVE_MAGIC),
            "{case}"
        );
        let (code, v) = verify(&env, &path, &[]);
        assert_eq!(
            (code, &v["format"], &v["records"]),
            (0, &Value::from("native"), &Value::from(1)),
            "{case}: {v}"
        );
        let r = run(&env, &["log", "dump", "--format", "raw", s(&path)], b"");
        assert_eq!(r.stdout, b"next\n", "{case}: {}", r.show());
        fs::remove_dir_all(env.path(".durable-recovered")).expect("rm sidecars");
    }
}

/// Guards: a SHA-256 native log whose start was torn (recover empties it: its header is gone)
/// was started again as CRC-32 by the next append. The sidecar recover kept holds the torn
/// start, and its algorithm byte: the next append keeps SHA-256 (and says so on stderr);
/// `--checksum` still decides, `--log-format native` alone keeps it too, and sidecars that
/// disagree on the algorithm are refused without `--checksum`, as for the format.
#[test]
fn a_sha256_log_recover_emptied_stays_sha256() {
    let env = Env::new();
    let path = env.path("s.log");
    let started = |algorithm: &str| {
        let seed = env.path(&format!("seed-{algorithm}.log"));
        if !seed.exists() {
            let r = run(
                &env,
                &["log", "append", "--checksum", algorithm, s(&seed), "x"],
                b"",
            );
            assert_eq!(r.code, 0, "{}", r.show());
        }
        // A start cut short after its algorithm byte (offset 10).
        fs::read(&seed).expect("read")[..30].to_vec()
    };
    let checksum_of = |case: &str| {
        let (code, v) = verify(&env, &path, &[]);
        assert_eq!(code, 0, "{case}: {v}");
        v["checksum"].as_str().unwrap_or_default().to_string()
    };
    let tear_and_recover = |case: &str, algorithm: &str| {
        fs::write(&path, started(algorithm)).expect("torn start");
        let (r, _) = recover(&env, &[], &[&path]);
        assert_eq!(r.code, 0, "{case}: {}", r.show());
        assert_eq!(fs::read(&path).expect("read").len(), 0, "{case}: emptied");
    };

    tear_and_recover("sha256", "sha256");
    let r = run(&env, &["log", "verify", s(&path)], b"");
    assert!(
        r.stderr
            .contains("starts a native log with sha256 checksums in it again"),
        "{}",
        r.show()
    );
    let r = run(&env, &["log", "append", s(&path), "next"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(
        r.stderr.contains("starting it again with sha256"),
        "{}",
        r.show()
    );
    assert_eq!(checksum_of("no flag"), "sha256");

    // `--log-format native` names the format only: the algorithm is kept.
    tear_and_recover("sha256 again", "sha256");
    let r = run(
        &env,
        &["log", "append", "--log-format", "native", s(&path), "next"],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(checksum_of("--log-format native"), "sha256");

    // An explicit `--checksum` wins, silently.
    tear_and_recover("sha256, then --checksum crc32", "sha256");
    let r = run(
        &env,
        &["log", "append", "--checksum", "crc32", s(&path), "next"],
        b"",
    );
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{}", r.show());
    assert_eq!(checksum_of("--checksum crc32"), "crc32");

    // Now its sidecars disagree (a SHA-256 start, then a CRC-32 one): refused, unchanged,
    // until `--checksum` says.
    tear_and_recover("crc32", "crc32");
    let r = run(&env, &["log", "append", s(&path), "next"], b"");
    assert_eq!(r.code, 2, "{}", r.show());
    assert!(
        r.stderr.contains("disagree on the checksum") && r.stderr.contains("--checksum sha256"),
        "{}",
        r.show()
    );
    assert_eq!(
        fs::read(&path).expect("read").len(),
        0,
        "refused, unchanged"
    );
    let r = run(
        &env,
        &["log", "append", "--checksum", "sha256", s(&path), "next"],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(checksum_of("conflict, --checksum sha256"), "sha256");

    // A CRC-32 log alone (the default) goes on as before, nothing said.
    fs::remove_dir_all(env.path(".durable-recovered")).expect("rm sidecars");
    tear_and_recover("crc32 alone", "crc32");
    let r = run(&env, &["log", "append", s(&path), "next"], b"");
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{}", r.show());
    assert_eq!(checksum_of("crc32 alone"), "crc32");

    // With no sidecar beside it for the next append to read, recover says how to keep SHA-256.
    fs::create_dir(env.path("bk")).expect("mkdir");
    let hint = "no sidecar beside it says its checksums were sha256: name --checksum sha256 on the next log append to it";
    for (flags, says) in [
        (&["--no-backup"][..], true),
        (&["--backup-dir", "bk"][..], true),
        (&[][..], false),
    ] {
        let _ = fs::remove_dir_all(env.path(".durable-recovered"));
        fs::write(&path, started("sha256")).expect("torn start");
        let mut args = vec!["recover"];
        args.extend_from_slice(flags);
        args.push(s(&path));
        let r = run(&env, &args, b"");
        assert_eq!(r.code, 0, "{flags:?}: {}", r.show());
        assert_eq!(r.out().contains(hint), says, "{flags:?}: {}", r.show());
    }
}

/// Guards: `recover --no-backup` (or `--backup-dir`) that empties a lines log leaves no sidecar
/// beside it for the next append to read the format from: recover says so, and how to keep it a
/// lines log; with its sidecar in the default place, it says nothing more.
#[test]
fn recover_that_empties_a_lines_log_with_no_sidecar_beside_it_says_so() {
    let env = Env::new();
    fs::create_dir(env.path("bk")).expect("mkdir");
    let hint = "it is empty now, and no sidecar beside it says it was a lines log: name --log-format lines on the next log append to it";
    for (flags, says) in [
        (&["--no-backup"][..], true),
        (&["--backup-dir", "bk"][..], true),
        (&[][..], false),
    ] {
        let path = env.write("l.log", b"abc");
        let mut args = vec!["recover", "--log-format", "lines"];
        args.extend_from_slice(flags);
        args.push(s(&path));
        let r = run(&env, &args, b"");
        assert_eq!(r.code, 0, "{flags:?}: {}", r.show());
        assert_eq!(r.out().contains(hint), says, "{flags:?}: {}", r.show());
        fs::remove_file(&path).expect("rm");
    }
}
