//! Detection: a matrix of every format and of files that are no log at all (each detected as
//! what it is, never as another format), `--log-format` overriding detection, and directories
//! holding a mix of formats (a proglog pair reported once).

use std::collections::HashMap;
use std::fs;

use super::*;
use crate::common::{Cases, Env};
use crate::log::create_log;

/// What detection should say about a file: a format (and its checksum), or not a log.
#[derive(Clone, Copy, Debug)]
enum Want {
    Format(&'static str, Option<&'static str>),
    NotALog,
    /// Only zero bytes, named: a native log whose start is lost (docs/FORMAT.md, "A log's
    /// start"): corrupt (exit 3) for verify, dump and recover, unless its name is a foreign
    /// format's.
    Zeros,
}

/// Build every file of the matrix in `env` (some in their own directory); (name, expectation).
fn matrix(env: &Env) -> Vec<(String, Want)> {
    use Want::*;
    let mut out: Vec<(String, Want)> = Vec::new();
    let mut add = |name: &str, bytes: &[u8], want: Want| {
        env.write(name, bytes);
        out.push((name.to_string(), want));
    };
    // Foreign formats.
    add(
        "lines.log",
        &lines_log(&LINE_ENTRIES),
        Format("lines", Some("sha256")),
    );
    add(
        "one-line.txt",
        &lines_log(&[b"only entry"]),
        Format("lines", Some("sha256")),
    );
    add(
        "empty-first-entry.txt",
        &lines_log(&[b"", b"x"]),
        Format("lines", Some("sha256")),
    );
    let st = store(&STORE_RECORDS);
    add("pair/0.store", &st, Format("proglog", None));
    add(
        "pair/0.index",
        &index_for(&STORE_RECORDS),
        Format("proglog", None),
    );
    add("alone/7.store", &st, Format("proglog", None));
    add(
        "alone/torn.store",
        &st[..st.len() - 3],
        Format("proglog", None),
    );
    add(
        "alone/9.index",
        &padded(&index_for(&STORE_RECORDS), INDEX_MAX),
        Format("proglog", None),
    );
    add("store-by-content.dat", &st, Format("proglog", None));
    add(
        "index-by-content.bin",
        &index_for(&STORE_RECORDS),
        Format("proglog", None),
    );
    add(
        "padded-index-by-content.bin",
        &padded(&index_for(&STORE_RECORDS), INDEX_MAX),
        Format("proglog", None),
    );
    let a = aof_standard();
    add("tail.aof.bin", &a.bytes, Format("aof", None));
    add(
        "tail-trimmed.bin",
        &a.bytes[..a.magic + 8],
        Format("aof", None),
    );
    let ck = aof(&[b"x"], true);
    add("checkpoint.bin", &ck.bytes, Format("aof", None));
    add("finished-plus-junk.bin", &aof_torn().0, Format("aof", None));
    // A write cut short (no magic at all): a page, data, then the zeros where the tail magic
    // was to go.
    let mut cut = a.bytes.clone();
    cut[a.magic..a.magic + 8].copy_from_slice(b"cut shor");
    add("write-cut-short.aof", &cut, Format("aof", None));
    // The same bytes under another name: nothing in them is the package's (databases, caches
    // and locale files also hold data followed by zeros), so the name is needed.
    add("write-cut-short.bin", &cut, NotALog);
    // A write cut short in an aof file whose data is a lines log: the name says whose file it
    // is (regression: read as lines, recover cut it and changed its size).
    let lines_cut = padded(
        &[lines_log(&LINE_ENTRIES), b"partial entry".to_vec()].concat(),
        8192,
    );
    add("lines-cut-short.aof", &lines_cut, Format("aof", None));
    add(
        "lines-cut-short.log",
        &lines_cut,
        Format("lines", Some("sha256")),
    );
    // An aof file whose data is a lines log: the magic at the end decides.
    let holding_lines = aof(&[&lines_log(&LINE_ENTRIES)], false);
    add(
        "aof-holding-lines.bin",
        &holding_lines.bytes,
        Format("aof", None),
    );
    let mut binary = pseudo_random(8192, 78);
    binary[100..108].copy_from_slice(&CKPT);
    binary[5000..].fill(0);
    add(
        "page-sized-with-checkpoint.aof",
        &binary,
        Format("aof", None),
    );
    add("page-sized-with-checkpoint.bin", &binary, NotALog);
    // Look-alikes: a binary that merely holds a magic's bytes, data without the zeros a crash
    // leaves or shorter than a page, files of other formats that end in zeros.
    let mut binary = pseudo_random(5000, 77);
    binary[1234..1242].copy_from_slice(&CKPT);
    add("binary-with-checkpoint-bytes.bin", &binary, NotALog);
    let mut binary = pseudo_random(5000, 79);
    binary[1234..1242].copy_from_slice(&TAIL);
    add("binary-with-tail-bytes.bin", &binary, NotALog);
    let mut torn_full = a.bytes.clone();
    torn_full[AOF_SIZE - 1] = 1;
    add("nonzero-last-byte.bin", &torn_full, NotALog);
    add(
        "short-data-and-zeros.bin",
        &padded(b"some bytes, then zeros", 2048),
        NotALog,
    );
    let mut elf = pseudo_random(6000, 80);
    elf[..4].copy_from_slice(b"\x7fELF");
    elf[5000..].fill(0);
    elf[3000..3008].copy_from_slice(&CKPT);
    add("elf-ending-in-zeros", &elf, NotALog);
    let mut tar = padded(b"notes.txt", 10240);
    tar[257..262].copy_from_slice(b"ustar");
    tar[512..530].copy_from_slice(b"contents of a file");
    add("archive.tar", &tar, NotALog);
    // A tar archive whose last member is a finished aof file: its checkpoint magic, then less
    // than 512 bytes (regression: read as a finished aof file with junk, and recover
    // zero-filled the end of the archive).
    let mut tar_aof = padded(b"data/a.aof", 1024);
    tar_aof[257..262].copy_from_slice(b"ustar");
    tar_aof[1016..1024].copy_from_slice(&CKPT);
    tar_aof.extend_from_slice(b"data/sub/ and a little more");
    add("backup.tar", &tar_aof, NotALog);
    let mut gz = pseudo_random(5000, 81);
    gz[..2].copy_from_slice(b"\x1f\x8b");
    gz[4000..].fill(0);
    add("zeros-at-end.gz", &gz, NotALog);

    // Files that are no log.
    for (n, seed) in [
        (1, 1),
        (7, 2),
        (8, 3),
        (12, 4),
        (13, 5),
        (24, 6),
        (100, 7),
        (4096, 8),
        (65536, 9),
    ] {
        add(&format!("random-{n}.bin"), &pseudo_random(n, seed), NotALog);
    }
    add("empty.log", b"", NotALog);
    add("zeros.bin", &[0u8; 4096], Zeros);
    add("zeros-12.index.bin", &[0u8; 12], Zeros);
    add("text.txt", b"hello world\nthis is not a log\n", NotALog);
    // Lines look-alikes: hashes at the end of lines that are not of the line (none checks out),
    // a minority of checksummed lines in a text, one damaged line.
    add(
        "hash-list.txt",
        format!(
            "a.tar {}\nb.tar {}\nc.tar {}\n",
            sha_hex(b"a"),
            sha_hex(b"b"),
            sha_hex(b"c")
        )
        .as_bytes(),
        NotALog,
    );
    add(
        "mostly-text.txt",
        [
            b"line one\nline two\nline three\n".as_slice(),
            &line(b"one real entry"),
            b"line four\n",
        ]
        .concat()
        .as_slice(),
        NotALog,
    );
    let mut one_bad = line(b"only entry");
    one_bad[0] ^= 1;
    add("one-damaged-line.txt", &one_bad, NotALog);
    add("newline.txt", b"\n", NotALog);
    add(
        "SHA256SUMS",
        format!(
            "{}  lines.log\n{}  text.txt\n",
            sha_hex(&lines_log(&LINE_ENTRIES)),
            sha_hex(b"hello world\nthis is not a log\n")
        )
        .as_bytes(),
        NotALog,
    );
    add(
        "wrong-hash.txt",
        format!(
            "commit {}\nnext {}\n",
            sha_hex(b"something else"),
            sha_hex(b"next!")
        )
        .as_bytes(),
        NotALog,
    );
    add(
        "uppercase-hash.txt",
        format!("entry {}\n", sha_hex(b"entry").to_uppercase()).as_bytes(),
        NotALog,
    );
    add(
        "data.json",
        br#"{"records": [1, 2, 3], "ok": true}"#,
        NotALog,
    );
    add(
        "lengths-not-chaining.bin",
        &[0, 0, 0, 0, 0, 0, 0, 3, b'a', b'b'],
        NotALog,
    );
    add("zero-lengths-only.bin", &[0u8; 24], Zeros);
    // Twelve zero bytes: a file of zeros like any other.
    add("one-index-entry.bin", &index(&[(0, 0)]), Zeros);
    out
}

/// Guards: each file of the matrix is detected as its format (verify's "format" and
/// "checksum"; dump and recover --dry-run agree with verify's exit code) or, if it is no log,
/// is "not a log" for verify, dump and recover (exit 2, one line naming it) and nothing changes.
#[test]
fn detection_matrix() {
    let env = Env::new();
    let mut files = matrix(&env);
    create_log(&env, "native-crc32.log", &[b"a", b"b c"], "crc32");
    create_log(&env, "native-sha256.log", &[b"a", b""], "sha256");
    create_log(&env, "native-named.store", &[b"x"], "crc32");
    create_log(&env, "native-named.index", &[b"x"], "crc32");
    files.push((
        "native-crc32.log".into(),
        Want::Format("native", Some("crc32")),
    ));
    files.push((
        "native-sha256.log".into(),
        Want::Format("native", Some("sha256")),
    ));
    files.push((
        "native-named.store".into(),
        Want::Format("native", Some("crc32")),
    ));
    files.push((
        "native-named.index".into(),
        Want::Format("native", Some("crc32")),
    ));
    fs::remove_dir_all(env.path("payloads")).expect("rm payloads");

    let mut cases = Cases::default();
    for (name, want) in files {
        cases.check(|| {
            let path = env.path(&name);
            let before = snapshot(env.dir.path(), true);
            match want {
                Want::Format(format, checksum) => {
                    let (code, v) = verify(&env, &path, &[]);
                    assert_eq!(
                        v["format"], format,
                        "{name}: detected as {}: {v}",
                        v["format"]
                    );
                    assert_eq!(
                        v["checksum"],
                        checksum.map_or(Value::Null, Value::from),
                        "{name}: {v}"
                    );
                    assert!([0, 1, 3].contains(&code), "{name}: {v}");
                    let r = run(&env, &["log", "dump", "--format", "json", s(&path)], b"");
                    assert!(
                        !says_not_a_log(&r.stderr),
                        "{name}: dump disagrees: {}",
                        r.show()
                    );
                    let r = run(&env, &["recover", "--dry-run", "--json", s(&path)], b"");
                    assert_ne!(
                        r.code,
                        2,
                        "{name}: recover --dry-run disagrees: {}",
                        r.show()
                    );
                    assert!(
                        json_lines(&r.stdout).iter().all(|o| o["format"] == format),
                        "{name}: {}",
                        r.show()
                    );
                }
                // No longer than a header (64 bytes): a torn start, cut by recover as a torn
                // tail at 0 (checked in log.rs), so here only verify (which changes nothing).
                Want::Zeros if fs::metadata(&path).map(|m| m.len()).unwrap_or(0) <= 64 => {
                    let (code, v) = verify(&env, &path, &[]);
                    assert_eq!(code, 1, "{name}: {v}");
                    assert_eq!(v["status"], "torn-tail", "{name}: {v}");
                }
                Want::Zeros => {
                    let (code, v) = verify(&env, &path, &[]);
                    assert_eq!(code, 3, "{name}: {v}");
                    assert_eq!(v["defects"][0]["evidence"], "zero-file", "{name}: {v}");
                    for cmd in [&["log", "dump"][..], &["recover"][..]] {
                        let mut args = cmd.to_vec();
                        args.push(&name);
                        let r = run(&env, &args, b"");
                        assert_eq!(r.code, 3, "{name}: {cmd:?}: {}", r.show());
                    }
                }
                Want::NotALog => {
                    for cmd in [
                        &["log", "verify"][..],
                        &["log", "verify", "--json"][..],
                        &["log", "dump"][..],
                        &["recover"][..],
                    ] {
                        let mut args = cmd.to_vec();
                        args.push(&name);
                        let r = run(&env, &args, b"");
                        // An empty file named: no log yet, nothing to recover (docs/FORMAT.md,
                        // "A log's start").
                        if path.metadata().is_ok_and(|m| m.len() == 0) && cmd == ["recover"] {
                            assert_eq!(r.code, 0, "{name}: {}", r.show());
                            assert!(r.out().contains("it is empty"), "{name}: {}", r.show());
                            continue;
                        }
                        assert_one_line_error(&r, &[&name], &format!("{name}: {cmd:?}"));
                        assert!(says_not_a_log(&r.stderr), "{name}: {cmd:?}: {}", r.show());
                    }
                }
            }
            assert_unchanged(&env, &before, &name);
        });
    }
    cases.assert_all_passed("formats::detect::detection_matrix");
}

/// Guards: the durable binary, which holds both aof magics and ends in zero bytes (as ELF files
/// do), is not a log: verify says so and recover leaves it alone.
#[test]
fn an_executable_holding_the_magics_is_not_a_log() {
    let env = Env::new();
    let path = env.write(
        "durable-copy",
        fs::read(crate::common::durable_path()).expect("read"),
    );
    let before = snapshot(env.dir.path(), true);
    for cmd in [&["log", "verify"][..], &["recover"][..]] {
        let mut args = cmd.to_vec();
        args.push(s(&path));
        let r = run(&env, &args, b"");
        assert_one_line_error(&r, &["durable-copy"], &format!("{cmd:?}"));
        assert!(says_not_a_log(&r.stderr), "{cmd:?}: {}", r.show());
    }
    let r = run(&env, &["recover", "--json", s(env.dir.path())], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_unchanged(&env, &before, "the durable binary");
}

/// Guards: `--log-format` overrides detection: it reads files detection cannot place (a torn
/// store with another name, a write cut short in an aof smaller than a page), it wins over a
/// file name (a lines log named `.store`), a native reader refuses a foreign file, and an
/// unknown name is a usage error. A lines log with a damaged first line needs no flag (it
/// used to be "not a log"); a file of lines none of which checks out (text) is not a lines log
/// even when named so, but a torn one-line log (no newline, only text), named so, is a lines log
/// whose first line was cut short: a torn tail at 0.
#[test]
fn log_format_overrides_detection() {
    let env = Env::new();
    let one = line(b"only entry");
    let torn = env.write("torn-one.log", &one[..30]);
    let text = env.write("text.log", b"a line of text\nand another one\n");
    let mut first_bad = lines_log(&LINE_ENTRIES);
    first_bad[0] ^= 1;
    let first_bad = env.write("first-bad.log", &first_bad);
    let st = store(&STORE_RECORDS);
    let torn_store = env.write("raw.bin", &st[..st.len() - 2]);
    let lines_named_store = env.write("trick.store", lines_log(&LINE_ENTRIES));
    let small_aof = env.write("small.bin", padded(b"data, no magic", 100));
    let before = snapshot(env.dir.path(), true);

    let mut cases = Cases::default();
    for (path, format, status, records) in [
        (&first_bad, "lines", "corrupt", LINE_ENTRIES.len() - 1),
        (&small_aof, "aof", "corrupt", 0),
        (&torn_store, "proglog", "torn-tail", STORE_RECORDS.len() - 1),
        (&lines_named_store, "lines", "clean", LINE_ENTRIES.len()),
    ] {
        cases.check(|| {
            let (code, v) = verify(&env, path, &["--log-format", format]);
            assert_eq!(v["format"], format, "{path:?}: {v}");
            assert_eq!(v["status"], status, "{path:?}: {v}");
            assert_eq!(code, code_of(status), "{path:?}: {v}");
            assert_eq!(v["records"], records, "{path:?}: {v}");
            let (r, objs) = dump(&env, path, &["--log-format", format]);
            assert_eq!(r.code, code, "{path:?}: dump: {}", r.show());
            assert_eq!(
                payloads_of(&objs).len(),
                if status == "corrupt" { 0 } else { records },
                "{path:?}: {}",
                r.show()
            );
        });
    }
    cases.check(|| {
        for path in [&torn, &torn_store, &small_aof] {
            let r = run(&env, &["log", "verify", s(path)], b"");
            assert_eq!(r.code, 2, "{path:?} is not detected: {}", r.show());
        }
        let (code, v) = verify(&env, &first_bad, &[]);
        assert_eq!((code, &v["format"]), (3, &Value::from("lines")), "{v}");
        for r in each_refuses(
            &env,
            &READERS,
            &["--log-format", "lines"],
            &text,
            "text.log",
        ) {
            assert!(
                r.stderr.contains("text.log is not a lines log"),
                "{}",
                r.show()
            );
        }
        let (code, v) = verify(&env, &torn, &["--log-format", "lines"]);
        assert_eq!(
            (code, &v["status"], &v["valid_end"]),
            (1, &Value::from("torn-tail"), &Value::from(0)),
            "{v}"
        );
        let r = run(
            &env,
            &["recover", "--dry-run", "--log-format", "lines", s(&torn)],
            b"",
        );
        assert_eq!(r.code, 1, "{}", r.show());
        assert!(r.out().contains("would cut at offset 0"), "{}", r.show());
        let (_, v) = verify(&env, &lines_named_store, &[]);
        assert_eq!(
            v["format"], "lines",
            "a name is not enough when the bytes disagree: {v}"
        );
    });
    cases.check(|| {
        let lines = env.write("l.log", lines_log(&LINE_ENTRIES));
        each_refuses(&env, &READERS, &["--log-format", "native"], &lines, "l.log");
        assert_eq!(fs::read(&lines).expect("read"), lines_log(&LINE_ENTRIES));
        fs::remove_file(&lines).expect("rm");
    });
    cases.check(|| {
        let r = run(
            &env,
            &["log", "verify", "--log-format", "bogus", s(&torn)],
            b"",
        );
        assert_eq!(r.code, 2, "{}", r.show());
        assert!(r.stderr.contains("bogus"), "{}", r.show());
    });
    cases.assert_all_passed("formats::detect::log_format_overrides_detection");
    assert_unchanged(&env, &before, "reading with --log-format");
}

/// A tree with every format, clean and damaged, and files that are no log.
fn mixed_tree(env: &Env) {
    fs::create_dir_all(env.path("tree")).expect("mkdir");
    create_log(env, "tree/native.log", &[b"one", b"two"], "crc32");
    fs::remove_dir_all(env.path("payloads")).expect("rm payloads");
    let lines = lines_log(&LINE_ENTRIES);
    env.write("tree/torn.lines", &lines[..lines.len() - 10]);
    env.write("tree/clean.lines", &lines);
    let st = store(&STORE_RECORDS);
    env.write("tree/seg/0.store", &st);
    env.write(
        "tree/seg/0.index",
        padded(&index_for(&STORE_RECORDS), INDEX_MAX),
    );
    env.write("tree/seg/16.store", &st);
    env.write("tree/seg/16.index", index_for(&STORE_RECORDS));
    let a = aof_standard();
    env.write("tree/aof/clean.aof", &a.bytes);
    env.write("tree/aof/torn.aof", aof_torn().0);
    env.write("tree/notes.txt", "not a log\n");
    env.write("tree/random.bin", pseudo_random(500, 11));
    env.write("tree/zeros.bin", [0u8; 512]);
}

/// Guards: verify of a directory with every format reports each log once with its format and
/// status (a proglog pair once, under its store), skips the files that are no log, and exits
/// with the worst status.
#[test]
fn directory_verify_mixes_formats() {
    let env = Env::new();
    mixed_tree(&env);
    let r = run(&env, &["log", "verify", "--json", "tree"], b"");
    assert_eq!(r.code, 1, "worst is a torn tail: {}", r.show());
    let objs = json_lines(&r.stdout);
    let mut seen: HashMap<String, (String, String)> = HashMap::new();
    for o in &objs {
        let path = common::data_text(&o["path"]);
        let fmt = o["format"].as_str().unwrap_or("").to_string();
        let st = o["status"].as_str().expect("status").to_string();
        assert!(
            seen.insert(path.clone(), (fmt, st)).is_none(),
            "{path} reported twice: {}",
            r.show()
        );
    }
    let want: HashMap<String, (String, String)> = [
        ("tree/native.log", "native", "clean"),
        ("tree/torn.lines", "lines", "torn-tail"),
        ("tree/clean.lines", "lines", "clean"),
        ("tree/seg/0.store", "proglog", "torn-tail"),
        ("tree/seg/16.store", "proglog", "clean"),
        ("tree/aof/clean.aof", "aof", "clean"),
        ("tree/aof/torn.aof", "aof", "torn-tail"),
        ("tree/notes.txt", "", "skipped"),
        ("tree/random.bin", "", "skipped"),
        ("tree/zeros.bin", "", "skipped"),
    ]
    .into_iter()
    .map(|(p, f, st)| (p.to_string(), (f.to_string(), st.to_string())))
    .collect();
    assert_eq!(seen, want, "{}", r.show());

    let r = run(&env, &["log", "verify", "tree"], b"");
    assert_eq!(r.code, 1, "{}", r.show());
    assert!(
        !r.out().lines().any(|l| l.starts_with("tree/seg/0.index")),
        "pair once: {}",
        r.show()
    );
    assert!(
        r.out().contains("tree/aof/torn.aof: torn tail"),
        "{}",
        r.show()
    );
    let r = run(&env, &["log", "verify", "-q", "tree"], b"");
    assert_eq!((r.code, r.stdout.len()), (1, 0), "{}", r.show());

    let mut bad = lines_log(&LINE_ENTRIES);
    bad[line_bounds(&LINE_ENTRIES)[1] + 3] ^= 1;
    env.write("tree/bad.lines", &bad);
    let r = run(&env, &["log", "verify", "-q", "tree"], b"");
    assert_eq!(r.code, 3, "worst is corruption: {}", r.show());
}

/// Guards: recover of a directory with every format repairs each damaged log as its format
/// does (lines cut, index trimmed, aof zero-filled), leaves clean logs and files that are no
/// log untouched, and a second run changes nothing.
#[test]
fn directory_recover_mixes_formats() {
    let env = Env::new();
    mixed_tree(&env);
    let untouched = [
        "tree/native.log",
        "tree/clean.lines",
        "tree/seg/0.store",
        "tree/seg/16.store",
        "tree/seg/16.index",
        "tree/aof/clean.aof",
        "tree/notes.txt",
        "tree/random.bin",
        "tree/zeros.bin",
    ];
    let before: Vec<Vec<u8>> = untouched.iter().map(|n| env.read(n)).collect();
    let torn_aof = env.read("tree/aof/torn.aof");
    let r = run(&env, &["recover", "--json", "tree"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let objs = json_lines(&r.stdout);
    let by_path: HashMap<String, &Value> = objs
        .iter()
        .map(|o| (common::data_text(&o["path"]), o))
        .collect();
    assert_eq!(
        by_path.len(),
        objs.len(),
        "one object per file: {}",
        r.show()
    );
    for (name, format) in [
        ("tree/torn.lines", "lines"),
        ("tree/seg/0.store", "proglog"),
        ("tree/seg/0.index", "proglog"),
        ("tree/aof/torn.aof", "aof"),
        ("tree/native.log", "native"),
    ] {
        let o = by_path
            .get(name)
            .unwrap_or_else(|| panic!("no object for {name}: {}", r.show()));
        assert_eq!(o["format"], format, "{name}: {o}");
    }
    assert_eq!(
        by_path["tree/seg/0.index"]["outcome"],
        "rebuilt",
        "{}",
        r.show()
    );
    assert_eq!(
        by_path["tree/notes.txt"]["outcome"],
        "untouched",
        "{}",
        r.show()
    );
    for (n, was) in untouched.iter().zip(&before) {
        assert!(env.read(n) == *was, "{n} changed");
    }
    let lines = lines_log(&LINE_ENTRIES);
    let bounds = line_bounds(&LINE_ENTRIES);
    assert_eq!(
        env.read("tree/torn.lines"),
        &lines[..bounds[LINE_ENTRIES.len() - 1]]
    );
    assert_eq!(env.read("tree/seg/0.index"), index_for(&STORE_RECORDS));
    let fixed = env.read("tree/aof/torn.aof");
    assert_eq!(fixed.len(), torn_aof.len(), "aof keeps its size");
    let ck_end = aof_torn().1;
    assert!(
        fixed[ck_end..].iter().all(|&b| b == 0),
        "aof zero-filled after the checkpoint"
    );

    let snap = snapshot(env.dir.path(), true);
    let r = run(&env, &["recover", "tree"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_unchanged(&env, &snap, "second directory recover");
    let r = run(&env, &["log", "verify", "-q", "tree"], b"");
    assert_eq!(r.code, 0, "all clean after recover: {}", r.show());
}

/// Guards: the sidecars recover writes for each foreign format (garbage cut from a lines log,
/// zeros cut after one, a proglog store's torn tail and its index's padding, junk zero-filled in
/// an aof file) are never detected as a log of a foreign format, nor are those of a native log
/// cut before a zero-filled tail of more than a page (what a preallocated log leaves).
#[test]
fn sidecars_are_not_taken_for_foreign_logs() {
    let env = Env::new();
    let lines = lines_log(&LINE_ENTRIES);
    env.write("l1.lines", [lines.clone(), pseudo_random(3000, 9)].concat());
    env.write("l2.lines", [lines.clone(), vec![0u8; 8192]].concat());
    let mut st = store(&STORE_RECORDS);
    st.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x10, 0]);
    st.extend_from_slice(&pseudo_random(5000, 10));
    env.write("seg/0.store", &st);
    env.write("seg/0.index", padded(&index_for(&STORE_RECORDS), 64 * 1024));
    env.write("a.aof", [aof_torn().0, pseudo_random(400, 11)].concat());
    let native = create_log(&env, "n.log", &[b"one", b"two"], "crc32");
    fs::remove_dir_all(env.path("payloads")).expect("rm payloads");
    let mut bytes = fs::read(&native).expect("read");
    let torn_record = bytes[64..100].to_vec();
    bytes.extend_from_slice(&torn_record);
    bytes.resize(bytes.len() + 8192, 0);
    fs::write(&native, &bytes).expect("write");

    let mut sidecars = Vec::new();
    for name in ["l1.lines", "l2.lines", "seg/0.store", "a.aof", "n.log"] {
        let (r, objs) = recover(&env, &[], &[&env.path(name)]);
        assert_eq!(r.code, 0, "{name}: {}", r.show());
        sidecars.extend(
            objs.iter()
                .filter(|o| o["sidecar"].is_object())
                .map(|o| PathBuf::from(crate::common::data_text(&o["sidecar"]))),
        );
    }
    assert_eq!(sidecars.len(), 6, "{sidecars:?}");
    for side in &sidecars {
        let r = run(&env, &["log", "verify", "--json", s(side)], b"");
        for v in json_lines(&r.stdout) {
            assert!(
                !["lines", "proglog", "aof"].contains(&v["format"].as_str().unwrap_or("")),
                "{side:?} read as a foreign log: {v}"
            );
        }
    }
}

/// Guards (regression): a name is not a format. A text file named `.store`, a binary named
/// `.index`, and data followed by zeros under any name but `.aof` (what databases, caches and
/// locale files look like) were read as proglog or aof: `recover DIR` emptied the `.store` and
/// the walk exited 3 on the rest. Now a walk skips them, nothing changes, and the exit is 0;
/// a proglog segment whose first append was torn (the index beside it zero-padded) is still a
/// torn store.
#[test]
fn names_alone_do_not_make_a_log() {
    let env = Env::new();
    env.write("app/credentials.store", b"user=alice\npassword=secret\n");
    env.write("app/search.index", b"some binary index data here");
    let mut db = b"MYAPPDB\x01".to_vec();
    db.resize(8192, 0);
    db[100..140].copy_from_slice(&[7u8; 40]);
    env.write("app/pg_control", &db);
    env.write("app/cache.bin", &db);
    // An index beside that starts with zero bytes (as proglog's do) does not make a text file
    // or a lines log a store: proglog's first length is under 4 GiB, text never starts with
    // a zero byte (regression: a lines log named .store beside 12 zero bytes was emptied).
    env.write("app/notes.store", b"data\n");
    env.write("app/notes.index", vec![0u8; 4096]);
    env.write("app/events.store", lines_log(&LINE_ENTRIES));
    env.write("app/events.index", [0u8; 12]);
    // One big-endian length-prefixed record, then other bytes (regression: read as a proglog
    // store with a torn tail, which recover cut): the "length" after it is text, over 4 GiB.
    let mut cache = 5u64.to_be_bytes().to_vec();
    cache.extend_from_slice(b"hello, then the rest of another program's file\n");
    env.write("app/cache.store", &cache);
    let before = snapshot(env.dir.path(), true);
    let r = run(&env, &["log", "verify", s(&env.path("app"))], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(
        r.out().matches("skipped, not a log").count(),
        6,
        "{}",
        r.show()
    );
    assert!(
        r.out().contains("events.store: clean") && r.out().contains("(lines, sha256)"),
        "{}",
        r.show()
    );
    let r = run(&env, &["recover", s(&env.path("app"))], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_unchanged(&env, &before, "recover of a directory of look-alikes");

    // The first append of a new segment torn: the store holds part of record 0, the index only
    // its zero padding. Both files say proglog.
    let full = store(&STORE_RECORDS);
    let seg = env.write("seg/0.store", &full[..9]);
    env.write("seg/0.index", vec![0u8; INDEX_MAX]);
    let (code, v) = verify(&env, &seg, &[]);
    assert_eq!(
        (code, &v["format"], &v["status"]),
        (1, &Value::from("proglog"), &Value::from("torn-tail")),
        "{v}"
    );
}

/// Guards: a text file that quotes a lines log's entries after its own text (over 64 KiB of
/// it, or in a short note) is not a lines log: its lines are text, and they are not resampled
/// as damage (only bytes that are not text, garbage over a log's start, are).
#[test]
fn a_text_file_quoting_entries_is_not_a_lines_log() {
    let env = Env::new();
    let text: Vec<u8> = (0..2000)
        .flat_map(|i| format!("paragraph {i} of an ordinary document, with words.\n").into_bytes())
        .collect();
    let quoted = lines_log(&LINE_ENTRIES);
    env.write("docs/long.txt", [text.clone(), quoted.clone()].concat());
    // A build's output in colour (escape codes are text), then two entries it quotes.
    let coloured =
        b"\x1b[1;32m==> build ok\x1b[0m\n\x1b[33mwarning: 3 files changed\x1b[0m\naudit entries:\n";
    env.write(
        "docs/ci-output.log",
        [coloured.to_vec(), lines_log(&LINE_ENTRIES[..2])].concat(),
    );
    // 20 lines of text, then the 5 entries: most lines are text.
    let twenty = text
        .split_inclusive(|b| *b == b'\n')
        .take(20)
        .flatten()
        .copied();
    env.write("docs/short.txt", [twenty.collect(), quoted].concat());
    let before = snapshot(env.dir.path(), true);
    let r = run(&env, &["log", "verify", s(&env.path("docs"))], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(
        r.out().matches("skipped, not a log").count(),
        3,
        "{}",
        r.show()
    );
    let r = run(&env, &["recover", s(&env.path("docs"))], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_unchanged(&env, &before, "recover of text files that quote entries");
}

/// Guards (regression): a lines log whose damage covers all the lines detection samples (a
/// damaged first entry longer than the sample; the first 1100 entries each with a changed
/// byte; 70 000 zero bytes over its start; a 65 535-byte line of garbage before it) is a
/// damaged lines log, not "not a log"; a directory walk used to skip it with exit 0.
#[test]
fn a_lines_log_damaged_at_its_start_is_still_a_lines_log() {
    let env = Env::new();
    let mut long_first = line(&vec![b'A'; 100_000]);
    long_first[500] ^= 1;
    let entries: Vec<Vec<u8>> = (0..100)
        .map(|i| format!("entry {i}").into_bytes())
        .collect();
    let rest: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
    env.write("long/audit.log", [long_first, lines_log(&rest)].concat());
    let many: Vec<Vec<u8>> = (0..3000)
        .map(|i| format!("event number {i}").into_bytes())
        .collect();
    let mut log = Vec::new();
    for (i, e) in many.iter().enumerate() {
        let mut l = line(e);
        if i < 1100 {
            l[0] ^= 1;
        }
        log.extend_from_slice(&l);
    }
    env.write("many/audit.log", &log);
    // Damage without the shape of a line: 70 000 zero bytes over the start (the line they end
    // in has lost part of its hash), and a 65 535-byte line of garbage before the entries.
    let valid_tail: Vec<u8> = many[1100..].iter().flat_map(|e| line(e)).collect();
    let mut head = lines_log(&rest);
    head.extend_from_slice(&valid_tail);
    let cut = 70_000.min(head.len() - 1);
    head[..cut].fill(0);
    let after_zeros = head[cut..]
        .iter()
        .position(|b| *b == b'\n')
        .expect("a newline after the zeros");
    let valid_after_zeros = head[cut + after_zeros + 1..]
        .iter()
        .filter(|b| **b == b'\n')
        .count();
    env.write("zeroed/audit.log", &head);
    let garbage = [vec![b'g'; 65_535], b"\n".to_vec(), lines_log(&rest)].concat();
    env.write("garbage/audit.log", &garbage);
    // Random bytes over the start (regression: from about 50 KiB of them, more garbage lines
    // than entries in the sample, it was "not a log"): 60 KiB (a few entries left in the
    // first 64 KiB) and 100 KiB.
    let whole: Vec<u8> = many.iter().flat_map(|e| line(e)).collect();
    let mut overwritten = Vec::new();
    for (dir, kib) in [("random60", 60), ("random100", 100)] {
        let mut log = whole.clone();
        let junk = pseudo_random(kib << 10, kib as u64);
        log[..junk.len()].copy_from_slice(&junk);
        // The entries after the junk: from the first newline after it.
        let from = junk.len()
            + log[junk.len()..]
                .iter()
                .position(|b| *b == b'\n')
                .expect("nl")
            + 1;
        let valid = log[from..].iter().filter(|b| **b == b'\n').count();
        env.write(&format!("{dir}/audit.log"), &log);
        overwritten.push((dir, valid));
    }
    for (dir, valid) in [
        ("long", 100),
        ("many", 1900),
        ("zeroed", valid_after_zeros),
        ("garbage", 100),
    ]
    .into_iter()
    .chain(overwritten)
    {
        let (code, v) = verify(&env, &env.path(&format!("{dir}/audit.log")), &[]);
        assert_eq!(
            (code, &v["format"], &v["status"]),
            (3, &Value::from("lines"), &Value::from("corrupt")),
            "{dir}: {v}"
        );
        assert_eq!(v["records"], valid, "{dir}: {v}");
        let r = run(&env, &["log", "verify", s(&env.path(dir))], b"");
        assert_eq!(r.code, 3, "{dir}: a walk reports it: {}", r.show());
    }
}

/// A newc cpio archive (the layout `cpio -o -H newc` writes) of the files given.
fn cpio_newc(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let trailer = [("TRAILER!!!", &b""[..])];
    for (ino, (name, data)) in files.iter().chain(&trailer).enumerate() {
        let fields = [
            ino + 1,
            0o100644,
            0,
            0,
            1,
            1_700_000_000,
            data.len(),
            0,
            0,
            0,
            0,
            name.len() + 1,
            0,
        ];
        out.extend_from_slice(b"070701");
        for f in fields {
            out.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.resize(out.len().next_multiple_of(4), 0);
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(4), 0);
    }
    out.resize(out.len().next_multiple_of(512), 0);
    out
}

/// Guards (regression): files of other programs that hold a lines log's bytes (archives,
/// databases, a write-ahead log of binary records, a note, an email, an export with a header)
/// are not logs: verify says "not a log", a walk skips them and recover leaves them alone. They
/// were read as lines logs corrupt at offset 0 (their first line is another format's header
/// glued to the first entry, or their own text): `recover DIR` exited 3 and `--force` would
/// have cut them. The archives and databases are the real programs' files
/// (tests/fixtures/foreign/PROVENANCE.md); the rest are built here.
#[test]
fn other_programs_files_holding_entries_are_not_logs() {
    let env = Env::new();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/foreign");
    let mut names = Vec::new();
    for entry in fs::read_dir(&fixtures).expect("fixtures") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        if name != "PROVENANCE.md" {
            env.write(&format!("home/{name}"), fs::read(&path).expect("read"));
            names.push(name);
        }
    }
    assert_eq!(names.len(), 5, "{names:?}");
    let log = lines_log(&LINE_ENTRIES);
    // Entries longer than the 1 KiB detection searches at a line's end: a cpio archive, and
    // a record of a binary format durable knows nothing of.
    let long: Vec<Vec<u8>> = (0..5)
        .map(|i| format!("{{\"i\":{i},\"blob\":\"{}\"}}", "x".repeat(3000)).into_bytes())
        .collect();
    let long: Vec<&[u8]> = long.iter().map(Vec::as_slice).collect();
    let long_log = lines_log(&long);
    let mut generated: Vec<(&str, Vec<u8>)> = vec![
        ("small.cpio", cpio_newc(&[("small.log", &log)])),
        ("long.cpio", cpio_newc(&[("long.log", &long_log)])),
    ];
    // One record of a binary format without a signature: a CRC-32 and a 32-bit length, then
    // the log as its data.
    let mut record = crc32fast::hash(&long_log).to_le_bytes().to_vec();
    record.extend_from_slice(&(long_log.len() as u32).to_le_bytes());
    record.extend_from_slice(&long_log);
    generated.push(("record.bin", record));
    generated.push((
        "note.txt",
        [b"Here is what the server wrote: ".to_vec(), log.clone()].concat(),
    ));
    generated.push((
        "mail.eml",
        [
            b"From: alice@example.com\nTo: bob@example.com\nSubject: the log\n\nHi Bob,\n\n"
                .to_vec(),
            log.clone(),
        ]
        .concat(),
    ));
    generated.push((
        "export.txt",
        [b"# exported by app on host x\n".to_vec(), log.clone()].concat(),
    ));
    for (name, bytes) in &generated {
        env.write(&format!("home/{name}"), bytes);
        names.push(name.to_string());
    }
    let before = snapshot(env.dir.path(), true);
    let mut cases = Cases::default();
    for name in &names {
        cases.check(|| {
            let r = run(&env, &["log", "verify", &format!("home/{name}")], b"");
            assert_eq!(r.code, 2, "{name}: {}", r.show());
            assert!(says_not_a_log(&r.stderr), "{name}: {}", r.show());
        });
    }
    cases.check(|| {
        let r = run(&env, &["log", "verify", "--json", "home"], b"");
        assert_eq!(r.code, 0, "{}", r.show());
        let objs = json_lines(&r.stdout);
        assert_eq!(objs.len(), names.len(), "{}", r.show());
        assert!(
            objs.iter().all(|o| o["status"] == "skipped"),
            "{}",
            r.show()
        );
        let r = run(&env, &["recover", "--dry-run", "home"], b"");
        assert_eq!(r.code, 0, "{}", r.show());
        let r = run(&env, &["recover", "home"], b"");
        assert_eq!(r.code, 0, "{}", r.show());
    });
    assert_unchanged(&env, &before, "recover of other programs' files");
    cases.assert_all_passed("formats::detect::other_programs_files_holding_entries_are_not_logs");
}

/// Guards: damage at a log's start that leaves a whole entry after other bytes on its first
/// line is still damage when those bytes are a line of the format that lost its newline (one
/// byte changed): the log is a corrupt lines log, not another program's file.
#[test]
fn a_first_line_that_lost_its_newline_is_a_damaged_lines_log() {
    let env = Env::new();
    let mut log = lines_log(&LINE_ENTRIES);
    let nl = line_bounds(&LINE_ENTRIES)[1] - 1;
    assert_eq!(log[nl], b'\n');
    log[nl] = b'J';
    let path = env.write("merged.log", &log);
    let (code, v) = verify(&env, &path, &[]);
    assert_eq!(
        (code, &v["format"], &v["status"]),
        (3, &Value::from("lines"), &Value::from("corrupt")),
        "{v}"
    );
    assert_eq!(v["records"], LINE_ENTRIES.len() - 2, "{v}");
}

/// Guards: text written over a log's start, ending inside a line's checksum, and zeros over
/// its start ending exactly where an entry begins, are damage to a lines log (corrupt), not
/// another program's text or header before the entries.
#[test]
fn text_or_zeros_over_a_logs_start_are_damage() {
    let env = Env::new();
    let entries: Vec<Vec<u8>> = (0..200)
        .map(|i| format!("event {i} happened").into_bytes())
        .collect();
    let entries: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
    let log = lines_log(&entries);
    let bounds = line_bounds(&entries);
    // Text with short lines over the first 7 lines and all but the last 20 digits of the
    // 8th line's checksum.
    let text_end = bounds[8] - 21;
    let mut text = log.clone();
    let words = b"some other file's text\nshort\n\n";
    for (i, b) in text[..text_end].iter_mut().enumerate() {
        *b = words[i % words.len()];
    }
    let texted = env.write("texted.log", &text);
    let mut zeroed = log.clone();
    zeroed[..bounds[9]].fill(0);
    let zeroed = env.write("zeroed.log", &zeroed);
    for (path, records) in [(&zeroed, 190), (&texted, 192)] {
        let (code, v) = verify(&env, path, &[]);
        assert_eq!(
            (code, &v["format"], &v["status"]),
            (3, &Value::from("lines"), &Value::from("corrupt")),
            "{path:?}: {v}"
        );
        assert_eq!(v["records"], records, "{path:?}: {v}");
    }
}

/// Detection reads little of a large file that is no log: a 24 MiB file of random bytes
/// holding the aof checkpoint magic near its start (as any large binary may) was read back to
/// that magic, whole (the aof search for a checkpoint before the last non-zero bytes, which
/// detection needs only within 512 bytes of them). Named `.aof` with the shape a crash leaves,
/// the same bytes are the package's, and the checkpoint far back is still where it ends.
#[test]
fn detection_reads_little_of_a_large_file_that_is_no_log() {
    let env = Env::new();
    let mut bytes = pseudo_random(24 << 20, 11);
    bytes[1000..1008].copy_from_slice(&CKPT);
    *bytes.last_mut().expect("bytes") = b'x';
    let path = env.write("data/big.bin", &bytes);
    let r = run(&env, &["log", "verify", s(&path)], b"");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("not a log"), "{}", r.stderr);
    // A walk (which succeeds, as the trace needs) meets it as it meets every file.
    if let Some(read) = crate::common::traced_pread_bytes(
        &env,
        "detection_reads_little_of_a_large_file_that_is_no_log",
        &["log", "verify", s(&env.path("data"))],
    ) {
        assert!(
            read < 8 << 20,
            "read {read} bytes of a 24 MiB file that is no log"
        );
    }
    bytes.extend_from_slice(&[0u8; AOF_SIZE]);
    let aof = env.write("crashed.aof", &bytes);
    let r = run(&env, &["recover", "--dry-run", s(&aof)], b"");
    assert_eq!(r.code, 1, "{}", r.stderr);
    let out = r.out();
    assert!(
        out.contains("would zero-fill") && out.contains("from offset 1008"),
        "{out}"
    );
}

/// A large file of one line (no newline: a binary without that byte, minified JSON) is read
/// once for the first line's end, not once for each question lines detection asks of it.
#[test]
fn detection_reads_a_file_of_one_long_line_once() {
    let env = Env::new();
    let bytes: Vec<u8> = pseudo_random(24 << 20, 12)
        .into_iter()
        .map(|b| if b == b'\n' { b'n' } else { b })
        .collect();
    env.write("data/one-line.json", &bytes);
    if let Some(read) = crate::common::traced_pread_bytes(
        &env,
        "detection_reads_a_file_of_one_long_line_once",
        &["log", "verify", s(&env.path("data"))],
    ) {
        assert!(
            read < (24 << 20) + (8 << 20),
            "read {read} bytes of a 24 MiB file of one line"
        );
    }
    // Guards (regression): one line with the shape of a lines-log line (a space and 64 hex
    // digits at its end) was read and hashed again for each question about it (whether it
    // holds entries, the sample, the search for a valid line, the torn first line): a 24 MiB
    // file was read five times by `log verify FILE`, four times in a walk.
    let mut hashed = vec![b'a'; 24 << 20];
    hashed.push(b' ');
    hashed.extend_from_slice(&[b'0'; 64]);
    hashed.push(b'\n');
    env.write("hashed/one.log", &hashed);
    let named = env.path("hashed/one.log");
    // Named, it is not a log (exit 2); in a walk, it is not one of the logs found (exit 0).
    for (what, target, code) in [
        ("named", s(&named), 2),
        ("walked", s(&env.path("hashed")), 0),
    ] {
        if let Some(read) = crate::common::traced_pread_bytes_exiting(
            &env,
            "detection_reads_a_file_of_one_long_line_once",
            &["log", "verify", target],
            code,
        ) {
            assert!(
                read < (24 << 20) + (8 << 20),
                "{what}: read {read} bytes of a 24 MiB file of one hashed line"
            );
        }
    }
    // The same line checking out: detection reads it once, then verify reads it.
    let good = env.write("good/one.log", line(&vec![b'a'; 24 << 20]));
    let r = run(&env, &["log", "verify", s(&good)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    if let Some(read) = crate::common::traced_pread_bytes(
        &env,
        "detection_reads_a_file_of_one_long_line_once",
        &["log", "verify", s(&good)],
    ) {
        assert!(
            read < 3 * (24 << 20) + (8 << 20),
            "read {read} bytes of a lines log of one 24 MiB line"
        );
    }
}

/// Guards the exceptions README and docs/FORMAT.md name ("Detection", at its end) to "a file
/// the real program reads or diagnoses is never 'not a log'": a finished aof file (under a
/// page) whose checkpoint magic was zeroed, and a lines log converted to CRLF line endings, are
/// not a log unless the format is named (then: corrupt, exit 3; a CRLF log has no line that
/// checks out).
#[test]
fn the_documented_exceptions_are_not_a_log_until_named() {
    let env = Env::new();
    let a = aof(&[b"alpha-", b"beta"], true);
    let mut zeroed = a.bytes.clone();
    let n = zeroed.len();
    zeroed[n - 8..].fill(0);
    assert!(zeroed.len() < AOF_SIZE);
    let path = env.write("finished.aof", &zeroed);
    let r = run(&env, &["log", "verify", s(&path)], b"");
    assert_one_line_error(&r, &["finished.aof", "not a log"], "zeroed checkpoint");
    let (code, v) = verify(&env, &path, &["--log-format", "aof"]);
    assert_eq!((code, &v["outcome"]), (3, &Value::from("corrupted")), "{v}");

    let crlf: Vec<u8> = lines_log(&[b"one", b"two"])
        .split_inclusive(|b| *b == b'\n')
        .flat_map(|l| [&l[..l.len() - 1], b"\r\n"].concat())
        .collect();
    let path = env.write("crlf.log", &crlf);
    let r = run(&env, &["log", "verify", s(&path)], b"");
    assert_one_line_error(&r, &["crlf.log", "not a log"], "CRLF");
    // dos2unix puts it back.
    let path = env.write(
        "lf.log",
        crlf.iter()
            .copied()
            .filter(|b| *b != b'\r')
            .collect::<Vec<u8>>(),
    );
    let (code, v) = verify(&env, &path, &[]);
    assert_eq!((code, &v["records"]), (0, &Value::from(2)), "{v}");
}
