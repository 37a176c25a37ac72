//! The output contract scripts rely on: raw dumps that work with line tools, an exact
//! single-payload mode, JSON that matches docs/json-schema.json on any file name (and the
//! schema matching docs/JSON.md), the text dump for people, file names a shell reads back, and
//! options that would do nothing refused.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::common::{self, Cases, Durable, Env, Run, assert_same, run, s, snapshot};
use crate::formats::{INDEX_MAX, LINE_ENTRIES, STORE_RECORDS, index_for, lines_log, padded, store};
use crate::log::{append_each, json_lines, layout};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A path in the scratch directory from raw bytes (names that are not UTF-8).
fn bytes_path(env: &Env, name: &[u8]) -> PathBuf {
    env.dir.path().join(OsStr::from_bytes(name))
}

/// Run a shell script in the scratch directory with `$D` set to the durable binary, stdin
/// closed, killed after a minute: a regression that makes durable wait (an option silently
/// ignored by `--follow`) fails the test instead of hanging the suite.
fn sh(env: &Env, script: &str) -> Run {
    Durable::sh(env.dir.path(), script)
        .no_stdin()
        .bound(BOUND)
        .run()
}

/// The bound on a run that must not wait.
const BOUND: Duration = Duration::from_secs(60);

/// Payloads of a log, from `log dump --format json`.
fn payloads(env: &Env, log: &Path) -> Vec<Vec<u8>> {
    let r = run(env, &["log", "dump", "--format", "json", s(log)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    json_lines(&r.stdout)
        .iter()
        .map(|v| common::data_bytes(&v["payload"]))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Raw output for line tools, and an exact mode for one payload
// ---------------------------------------------------------------------------------------------

/// Guards: `dump --format raw` ends every payload with a newline (NUL with -0), the last one
/// too, so `wc -l`, `while read -r` and `dump --format raw | log append` see every record, empty
/// ones included (the last record empty too). The last payload used to lack its newline: three
/// records gave `wc -l` = 2 and `while read` lost the last one.
#[test]
fn raw_dump_works_with_line_tools() {
    let env = Env::new();
    let records: [&str; 5] = ["first", "", "with  spaces", "ünïcode", ""];
    let log = env.path("a.log");
    let r = run(
        &env,
        &["log", "append", "--sync", "none", s(&log)],
        b"first\n\nwith  spaces\n\xc3\xbcn\xc3\xafcode\n\n",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(payloads(&env, &log), records.map(|r| r.as_bytes().to_vec()));

    let r = sh(&env, r#""$D" log dump --format raw a.log | wc -l"#);
    assert_eq!(
        r.out().trim(),
        "5",
        "wc -l counts every record: {}",
        r.show()
    );

    let r = sh(
        &env,
        r#""$D" log dump --format raw a.log | while IFS= read -r line; do printf '<%s>\n' "$line"; done"#,
    );
    assert_same(
        &r.stdout,
        "<first>\n<>\n<with  spaces>\n<ünïcode>\n<>\n",
        &format!("while read sees every record: {}", r.show()),
    );
    let r = sh(
        &env,
        r#""$D" log dump --format raw --first 1 a.log | while read -r line; do echo "got $line"; done"#,
    );
    assert_same(&r.stdout, "got first\n", &r.show());

    // The README's round trip, and its NUL form.
    let r = sh(
        &env,
        r#""$D" log dump --format raw a.log | "$D" log append --sync none b.log"#,
    );
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(payloads(&env, &env.path("b.log")), payloads(&env, &log));
    let r = sh(
        &env,
        r#""$D" log dump --format raw -0 a.log | "$D" log append -0 --sync none c.log"#,
    );
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(payloads(&env, &env.path("c.log")), payloads(&env, &log));
    let r = run(
        &env,
        &["log", "dump", "--format", "raw", "-0", "a.log"],
        b"",
    );
    assert_same(
        &r.stdout,
        b"first\0\0with  spaces\0\xc3\xbcn\xc3\xafcode\0\0",
        "-0 ends every payload with NUL",
    );
}

/// Guards: a payload holding the separator makes raw output ambiguous; durable still prints it
/// (exit 0) but says so on stderr, naming the way out.
#[test]
fn raw_dump_warns_about_payloads_holding_the_separator() {
    let env = Env::new();
    let log = env.path("nl.log");
    let file = env.write("two-lines.txt", b"one\ntwo");
    let r = run(
        &env,
        &[
            "log",
            "append",
            "--sync",
            "none",
            s(&log),
            "--file",
            s(&file),
        ],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    let r = run(&env, &["log", "dump", "--format", "raw", s(&log)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_same(&r.stdout, b"one\ntwo\n", "stdout");
    assert!(
        r.stderr.contains("warning") && r.stderr.contains("-0"),
        "{}",
        r.show()
    );
    let r = run(
        &env,
        &["log", "dump", "--format", "raw", "-0", s(&log)],
        b"",
    );
    assert!(r.stderr.is_empty(), "no NUL, no warning: {}", r.show());
}

/// Guards: `--format blob` prints one record's payload byte for byte (what `--whole` stored),
/// and refuses a selection of none or several records with exit 2 and nothing on stdout.
#[test]
fn blob_prints_exactly_one_payload() {
    let env = Env::new();
    let log = env.path("blobs.log");
    let photo: Vec<u8> = (0..3000u32)
        .map(|i| (i * 7 % 256) as u8)
        .chain(*b"\n\n")
        .collect();
    for content in [&photo[..], b"second\n"] {
        let r = run(
            &env,
            &["log", "append", "--whole", "--sync", "none", s(&log)],
            content,
        );
        assert_eq!(r.code, 0, "{}", r.show());
    }
    let r = run(
        &env,
        &["log", "dump", "--format", "blob", "--index", "0", s(&log)],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(r.stdout == photo, "--index 0: exact bytes");
    let r = run(
        &env,
        &["log", "dump", "--format", "blob", "--last", "1", s(&log)],
        b"",
    );
    assert_same(&r.stdout, b"second\n", &r.show());

    for (what, extra) in [
        ("several records", vec![]),
        ("--first 2", vec!["--first", "2"]),
        ("no record", vec!["--index", "5"]),
    ] {
        let mut args = vec!["log", "dump", "--format", "blob"];
        args.extend(extra);
        args.push(s(&log));
        let r = run(&env, &args, b"");
        assert_eq!(r.code, 2, "{what}: {}", r.show());
        assert!(r.stdout.is_empty(), "{what}: nothing printed: {}", r.show());
        assert_eq!(
            r.stderr.lines().count(),
            1,
            "{what}: one sentence: {}",
            r.show()
        );
        // A selection no record of the log falls in is refused by the rule for every format
        // (docs/FORMAT.md), which names the log's records.
        let says = match what {
            "no record" => "--index 5 selects none of its 2 records",
            _ => "exactly one record",
        };
        assert!(r.stderr.contains(says), "{what}: {}", r.show());
    }
}

// ---------------------------------------------------------------------------------------------
// 2 and 3. JSON: never a panic, one representation for bytes, a schema
// ---------------------------------------------------------------------------------------------

/// docs/json-schema.json, and a validator for the part of JSON Schema it uses (any other
/// keyword fails the test, so the schema cannot drift into what is not checked).
struct Schema {
    root: Value,
}

impl Schema {
    fn load() -> Schema {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/json-schema.json");
        let text = fs::read_to_string(&path).expect("read docs/json-schema.json");
        Schema {
            root: serde_json::from_str(&text).expect("docs/json-schema.json is JSON"),
        }
    }

    fn def(&self, name: &str) -> &Value {
        self.root["$defs"]
            .get(name)
            .unwrap_or_else(|| panic!("no $defs/{name} in the schema"))
    }

    /// Every shape any command prints, from the schema's top-level `oneOf` (what a generic
    /// validator checks a line against).
    fn top_level(&self) -> Vec<String> {
        let mut names: Vec<String> = self.root["oneOf"]
            .as_array()
            .expect("a top-level oneOf")
            .iter()
            .map(|r| {
                let r = r["$ref"].as_str().expect("$ref");
                r.strip_prefix("#/$defs/")
                    .expect("#/$defs/NAME")
                    .to_string()
            })
            .collect();
        names.sort();
        names
    }

    /// The shapes `command` may print.
    fn shapes(&self, command: &str) -> Vec<String> {
        self.root["x-commands"][command]
            .as_array()
            .unwrap_or_else(|| panic!("no x-commands entry for {command:?}"))
            .iter()
            .map(|n| n.as_str().expect("shape name").to_string())
            .collect()
    }

    /// The one shape of `command` that `v` matches.
    fn shape_of(&self, command: &str, v: &Value) -> Result<String, String> {
        let mut matched = Vec::new();
        let mut why = Vec::new();
        for name in self.shapes(command) {
            match self.check(self.def(&name), v, &name) {
                Ok(()) => matched.push(name),
                Err(e) => why.push(e),
            }
        }
        match matched.len() {
            1 => Ok(matched.remove(0)),
            0 => Err(format!(
                "{command}: {v} matches none of its shapes:\n  {}",
                why.join("\n  ")
            )),
            _ => Err(format!(
                "{command}: {v} matches several shapes: {matched:?}"
            )),
        }
    }

    fn check(&self, s: &Value, v: &Value, at: &str) -> Result<(), String> {
        let schema = s.as_object().expect("a schema is an object");
        for (key, want) in schema {
            match key.as_str() {
                "$schema" | "title" | "description" | "x-commands" | "$defs" => {}
                "$ref" => {
                    let name = want
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/$defs/"))
                        .expect("$ref to #/$defs/NAME");
                    self.check(self.def(name), v, &format!("{at}>{name}"))?;
                }
                "type" => {
                    let types: Vec<&str> = match want {
                        Value::String(t) => vec![t.as_str()],
                        Value::Array(ts) => ts.iter().map(|t| t.as_str().expect("type")).collect(),
                        _ => panic!("bad type in the schema at {at}"),
                    };
                    if !types.iter().any(|t| is_type(t, v)) {
                        return Err(format!("{at}: {v} is not {types:?}"));
                    }
                }
                "const" => {
                    if v != want {
                        return Err(format!("{at}: {v} is not {want}"));
                    }
                }
                "enum" => {
                    if !want.as_array().expect("enum array").contains(v) {
                        return Err(format!("{at}: {v} is not one of {want}"));
                    }
                }
                "minimum" => {
                    if let (Some(x), Some(min)) = (v.as_f64(), want.as_f64())
                        && x < min
                    {
                        return Err(format!("{at}: {v} < {want}"));
                    }
                }
                "properties" => {
                    if let Some(obj) = v.as_object() {
                        for (name, sub) in want.as_object().expect("properties object") {
                            if let Some(x) = obj.get(name) {
                                self.check(sub, x, &format!("{at}.{name}"))?;
                            }
                        }
                    }
                }
                "required" => {
                    if let Some(obj) = v.as_object() {
                        for name in want.as_array().expect("required array") {
                            let name = name.as_str().expect("name");
                            if !obj.contains_key(name) {
                                return Err(format!("{at}: {name} is missing from {v}"));
                            }
                        }
                    }
                }
                "additionalProperties" => {
                    assert_eq!(want, &Value::Bool(false), "only false is supported");
                    let known = schema["properties"].as_object().expect("properties");
                    if let Some(obj) = v.as_object()
                        && let Some(extra) = obj.keys().find(|k| !known.contains_key(*k))
                    {
                        return Err(format!("{at}: {extra} is not in the schema ({v})"));
                    }
                }
                "items" => {
                    if let Some(items) = v.as_array() {
                        for (i, x) in items.iter().enumerate() {
                            self.check(want, x, &format!("{at}[{i}]"))?;
                        }
                    }
                }
                "oneOf" => {
                    let options = want.as_array().expect("oneOf array");
                    let ok = options
                        .iter()
                        .filter(|o| self.check(o, v, at).is_ok())
                        .count();
                    if ok != 1 {
                        return Err(format!("{at}: {v} matches {ok} of {want}, not exactly one"));
                    }
                }
                other => panic!("the schema uses {other:?}, which this validator does not check"),
            }
        }
        Ok(())
    }
}

fn is_type(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_u64() || v.is_i64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        other => panic!("unknown type {other}"),
    }
}

/// Check every line `command` printed against the schema; returns the lines, each with its
/// shape.
fn check_lines(schema: &Schema, command: &str, r: &Run) -> Vec<(String, Value)> {
    assert_ne!(r.code, 101, "{command} panicked: {}", r.show());
    assert!(!r.stderr.contains("panicked"), "{command}: {}", r.show());
    let text = String::from_utf8(r.stdout.clone())
        .unwrap_or_else(|_| panic!("{command}: JSON output is not UTF-8: {}", r.show()));
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{command}: every line ends with a newline: {}",
        r.show()
    );
    text.lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{command}: not JSON ({e}): {line}"));
            assert!(
                line.starts_with(r#"{"schema":1,"#),
                "{command}: the schema version comes first: {line}"
            );
            let shape = schema
                .shape_of(command, &v)
                .unwrap_or_else(|e| panic!("{e}"));
            (shape, v)
        })
        .collect()
}

/// Where the non-UTF-8 fixtures go: one directory, every kind of file the JSON commands meet.
struct Fixtures {
    dir: PathBuf,
    log: PathBuf,
    torn: PathBuf,
    corrupt: PathBuf,
    bad_header: PathBuf,
    lines: PathBuf,
    store: PathBuf,
    index_alone: PathBuf,
    aof: PathBuf,
}

fn non_utf8_fixtures(env: &Env) -> Fixtures {
    let dir = bytes_path(env, b"d\xe9ir");
    fs::create_dir(&dir).expect("mkdir");
    let at = |name: &[u8]| dir.join(OsStr::from_bytes(name));
    let payload_file = env.write("payload.bin", b"\xff\xfe binary \x00 payload");

    // A clean native log with a binary payload, an empty one and UTF-8.
    let log = at(b"caf\xe9.log");
    let r = run(
        env,
        &[
            OsStr::new("log"),
            OsStr::new("append"),
            OsStr::new("--sync"),
            OsStr::new("none"),
            log.as_os_str(),
            OsStr::new("ünïcode"),
            OsStr::new(""),
            OsStr::new("--file"),
            payload_file.as_os_str(),
        ],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());

    // Torn: a whole log cut inside its last record.
    let torn = at(b"torn\xff.log");
    fs::copy(&log, &torn).expect("copy");
    common::shorten(&torn, 3);

    // Corrupt before the tail: three appends, the middle payload flipped.
    let plain = env.path("plain.log");
    append_each(env, &plain, &["alpha", "bravo", "charlie"]);
    let mut bytes = fs::read(&plain).expect("read");
    let records = layout(&bytes);
    bytes[records[1].0 + 24] ^= 0xff;
    let corrupt = at(b"corrupt\xfe.log");
    fs::write(&corrupt, &bytes).expect("write");

    // A native log whose header checksum does not match.
    let mut bytes = fs::read(&log).expect("read");
    bytes[20] ^= 0xff;
    let bad_header = at(b"header\xfd.log");
    fs::write(&bad_header, &bytes).expect("write");

    let lines = at(b"lines\xfc.txt");
    fs::write(&lines, lines_log(&LINE_ENTRIES)).expect("write");
    let store_path = at(b"0\xfb.store");
    fs::write(&store_path, store(&STORE_RECORDS)).expect("write");
    fs::write(
        at(b"0\xfb.index"),
        padded(&index_for(&STORE_RECORDS), INDEX_MAX),
    )
    .expect("write");
    let index_alone = at(b"alone\xfa.index");
    fs::write(&index_alone, index_for(&STORE_RECORDS)).expect("write");
    let aof = at(b"state\xf9.aof");
    fs::write(&aof, crate::formats::aof_standard().bytes).expect("write");

    // What recover meets in a directory besides logs.
    fs::write(at(b"\xf8U"), b"target of an interrupted save\n").expect("write");
    // A journal of ours: a journaled save stopped (by the test-only fault switch) after its
    // journal was flushed, before the target was written.
    let saved = Durable::new(env.dir.path())
        .args(&["save", "--strategy", "journal"])
        .arg(at(b"\xf8U"))
        .fault("sync-dir-journal:crash")
        .stdin(b"new content\n".to_vec())
        .run();
    assert!(!saved.status.success(), "the fault switch stopped the save");
    assert!(
        at(b".\xf8U.durable-journal").exists(),
        "the interrupted save left its journal"
    );
    fs::write(
        at(b".\xf7.0123456789abcdef.durable-tmp"),
        b"stale temp of an interrupted save",
    )
    .expect("write");
    fs::write(at(b"notes\xf6.txt"), b"notes\n").expect("write");
    Fixtures {
        dir,
        log,
        torn,
        corrupt,
        bad_header,
        lines,
        store: store_path,
        index_alone,
        aof,
    }
}

fn os_args(args: &[&dyn AsRef<OsStr>]) -> Vec<OsString> {
    args.iter().map(|a| a.as_ref().to_os_string()).collect()
}

/// Guards: every `--json` command (and `dump --format json`, `dump --stats`), on file names and
/// payloads that are not UTF-8, prints lines that each match exactly one of its documented
/// shapes, with the bytes of every name kept (each of them used to panic with exit 101).
#[test]
fn json_on_names_that_are_not_utf8_matches_the_schema() {
    let env = Env::new();
    let schema = Schema::load();
    let f = non_utf8_fixtures(&env);
    let mut seen: std::collections::BTreeSet<String> = Default::default();
    let mut cases = Cases::default();
    let mut go = |command: &str, args: Vec<OsString>, stdin: &[u8], code: i32| {
        let r = run(&env, &args, stdin);
        let lines = check_lines(&schema, command, &r);
        assert_eq!(r.code, code, "{command} {args:?}: {}", r.show());
        assert!(
            !lines.is_empty(),
            "{command} {args:?} printed nothing: {}",
            r.show()
        );
        for (shape, v) in &lines {
            seen.insert(shape.clone());
            // The exit status is the worst of the lines'.
            assert!(v["exit_code"].as_i64().is_none_or(|c| c <= 4), "{v}");
        }
        lines
    };

    // save: a new file, a failure, a plan.
    let target = bytes_path(&env, b"out\xe9.conf");
    let lines = go(
        "save",
        os_args(&[&"save", &"--json", &target]),
        b"content\n",
        0,
    );
    assert_eq!(
        common::data_bytes(&lines[0].1["target"]),
        target.as_os_str().as_bytes(),
        "the name's bytes are kept"
    );
    go(
        "save",
        os_args(&[&"save", &"--json", &"--no-clobber", &target]),
        b"x",
        2,
    );
    go(
        "save --explain",
        os_args(&[&"save", &"--json", &"--explain", &target]),
        b"",
        0,
    );

    // log verify: every format, a damaged header, a directory (skipped files), a missing file.
    for (path, code) in [
        (&f.log, 0),
        (&f.torn, 1),
        (&f.corrupt, 3),
        (&f.bad_header, 3),
        (&f.lines, 0),
        (&f.store, 1),
        (&f.index_alone, 0),
        (&f.aof, 0),
    ] {
        cases.check(|| {
            let lines = go(
                "log verify",
                os_args(&[&"log", &"verify", &"--json", path]),
                b"",
                code,
            );
            assert_eq!(
                common::data_bytes(&lines[0].1["path"]),
                path.as_os_str().as_bytes()
            );
        });
    }
    // A proglog pair whose base name is not UTF-8 is still read as a pair.
    let lines = go(
        "log verify",
        os_args(&[&"log", &"verify", &"--json", &f.store]),
        b"",
        1,
    );
    assert_eq!(
        common::data_bytes(&lines[0].1["index"]),
        f.dir
            .join(OsStr::from_bytes(b"0\xfb.index"))
            .as_os_str()
            .as_bytes()
    );
    go(
        "log verify",
        os_args(&[&"log", &"verify", &"--json", &f.dir]),
        b"",
        3,
    );
    let missing = bytes_path(&env, b"missing\xe9.log");
    go(
        "log verify",
        os_args(&[&"log", &"verify", &"--json", &missing]),
        b"",
        2,
    );

    // log dump --format json: binary payloads, damage, every format's extra fields, an error.
    for (path, extra, code) in [
        (&f.log, vec![], 0),
        (&f.torn, vec![], 1),
        (&f.corrupt, vec!["--resync"], 3),
        (&f.lines, vec![], 0),
        (&f.store, vec![], 1),
        (&f.index_alone, vec![], 0),
        (&f.aof, vec![], 0),
        (&missing, vec![], 2),
    ] {
        cases.check(|| {
            let mut args = os_args(&[&"log", &"dump", &"--format", &"json"]);
            args.extend(extra.iter().map(OsString::from));
            args.push(path.as_os_str().to_os_string());
            go("log dump --format json", args, b"", code);
        });
    }
    let lines = go(
        "log dump --format json",
        os_args(&[&"log", &"dump", &"--format", &"json", &f.log]),
        b"",
        0,
    );
    assert_eq!(
        common::data_bytes(&lines[2].1["payload"]),
        b"\xff\xfe binary \x00 payload",
        "a binary payload round-trips through base64"
    );
    let r = run(
        &env,
        &os_args(&[&"log", &"dump", &"--stats", &"--format", &"raw", &f.log]),
        b"",
    );
    let stats = Run {
        stdout: r.stderr.clone().into_bytes(),
        stderr: String::new(),
        ..r
    };
    let stats_shapes: Vec<String> = check_lines(&schema, "log dump --stats", &stats)
        .into_iter()
        .map(|(shape, _)| shape)
        .collect();

    // recover: a dry run over the directory (every kind), then for real, then a missing path.
    go(
        "recover",
        os_args(&[&"recover", &"--json", &"--dry-run", &f.dir]),
        b"",
        3,
    );
    go("recover", os_args(&[&"recover", &"--json", &f.dir]), b"", 3);
    go(
        "recover",
        os_args(&[&"recover", &"--json", &missing]),
        b"",
        2,
    );
    // A kernel pseudo-filesystem is skipped.
    go(
        "recover",
        os_args(&[&"recover", &"--json", &"--dry-run", &"/proc"]),
        b"",
        0,
    );

    // log salvage: a copy, then a refusal (the destination exists).
    let dst = bytes_path(&env, b"salvaged\xe9.log");
    go(
        "log salvage",
        os_args(&[&"log", &"salvage", &"--json", &f.corrupt, &dst]),
        b"",
        0,
    );
    go(
        "log salvage",
        os_args(&[&"log", &"salvage", &"--json", &f.corrupt, &dst]),
        b"",
        2,
    );
    // A header sidecar (recover --force of a log whose header is zeroed), dumped.
    let lost = bytes_path(&env, b"lost\xe9.log");
    let mut bytes = fs::read(&f.log).expect("read");
    bytes[..64].fill(0);
    fs::write(&lost, bytes).expect("write");
    let r = run(&env, &os_args(&[&"recover", &"--force", &lost]), b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let sidecar = env
        .dir
        .path()
        .join(".durable-recovered")
        .join(OsStr::from_bytes(b"lost\xe9.log.0.durable-sidecar"));
    go(
        "log dump --format json",
        os_args(&[&"log", &"dump", &"--format", &"json", &sidecar]),
        b"",
        0,
    );
    cases.assert_all_passed("json_on_names_that_are_not_utf8_matches_the_schema");
    seen.extend(stats_shapes);

    // Every shape the schema names for a command was printed at least once.
    let all: std::collections::BTreeSet<String> = schema.root["x-commands"]
        .as_object()
        .expect("x-commands")
        .values()
        .flat_map(|v| v.as_array().expect("names").iter())
        .map(|n| n.as_str().expect("name").to_string())
        .collect();
    let missed: Vec<_> = all.difference(&seen).collect();
    assert!(missed.is_empty(), "shapes never printed here: {missed:?}");
}

/// Guards: every failure of a command given `--json` is a JSON object on stdout too (`log salvage
/// --json` used to print none), with an `error` and the exit code the process returns.
#[test]
fn json_failures_are_json_objects() {
    let env = Env::new();
    let schema = Schema::load();
    let log = env.path("a.log");
    append_each(&env, &log, &["one"]);
    let dst = env.write("exists.log", b"already here");
    let cases: Vec<(&str, Vec<&str>, i32)> = vec![
        (
            "log salvage",
            vec!["log", "salvage", "--json", s(&log), s(&dst)],
            2,
        ),
        (
            "log salvage",
            vec!["log", "salvage", "--json", "missing.log", "new.log"],
            2,
        ),
        (
            "log verify",
            vec!["log", "verify", "--json", "missing.log"],
            2,
        ),
        ("recover", vec!["recover", "--json", "missing.log"], 2),
        (
            "log dump --format json",
            vec!["log", "dump", "--format", "json", "missing.log"],
            2,
        ),
        ("save", vec!["save", "--json", "--no-clobber", s(&log)], 2),
        (
            "save",
            vec!["save", "--json", "--from", "missing.txt", "out.txt"],
            2,
        ),
        (
            "save",
            vec![
                "save",
                "--json",
                "--strategy",
                "in-place",
                "--hardlinks",
                "break",
                "x",
            ],
            2,
        ),
        (
            "log verify",
            vec![
                "log",
                "verify",
                "--json",
                "--with-index",
                "x.index",
                s(&log),
            ],
            2,
        ),
        (
            "recover",
            vec!["recover", "--json", "--with-index", "x.index", s(&log)],
            2,
        ),
        (
            "log dump --format json",
            vec!["log", "dump", "--format", "json", "-0", s(&log)],
            2,
        ),
    ];
    let mut all = Cases::default();
    for (command, args, code) in cases {
        all.check(|| {
            let r = run(&env, &args, b"");
            assert_eq!(r.code, code, "{args:?}: {}", r.show());
            let lines = check_lines(&schema, command, &r);
            assert_eq!(lines.len(), 1, "{args:?}: one failure object: {}", r.show());
            let v = &lines[0].1;
            assert!(v["error"].is_string(), "{args:?}: {v}");
            assert_eq!(v["exit_code"], code, "{args:?}: {v}");
            assert!(
                r.stderr.contains(v["error"].as_str().expect("error")),
                "{args:?}: the same sentence on stderr: {}",
                r.show()
            );
        });
    }
    all.assert_all_passed("json_failures_are_json_objects");
    assert_eq!(fs::read(&dst).expect("read"), b"already here");
}

/// A Markdown table row's cells.
fn cells(row: &str) -> Vec<String> {
    row.trim()
        .trim_start_matches('|')
        .trim_end_matches('|')
        .split('|')
        .map(|c| c.trim().to_string())
        .collect()
}

/// How docs/JSON.md writes the type of a schema node.
fn doc_type(s: &Value) -> String {
    if let Some(c) = s.get("const") {
        return c.to_string();
    }
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        return r.trim_start_matches("#/$defs/").to_string();
    }
    if let Some(options) = s.get("oneOf").and_then(Value::as_array) {
        return options
            .iter()
            .map(doc_type)
            .collect::<Vec<_>>()
            .join(" or ");
    }
    let types: Vec<&str> = match &s["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        other => panic!("no type in {other}"),
    };
    types
        .iter()
        .map(|t| match *t {
            "array" => format!("array of {}", doc_type(&s["items"])),
            t => t.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Guards: docs/JSON.md and docs/json-schema.json describe the same objects, with the same
/// fields, the same types, the same required fields (`always`), and every
/// allowed string value written out in the doc; the schema's top-level `oneOf` names every
/// shape the commands print.
#[test]
fn json_doc_and_schema_agree() {
    let schema = Schema::load();
    // The top-level oneOf (what a generic validator uses) lists every shape a command prints,
    // and only those: `recover`'s skipped directory was missing from it.
    let mut printed: Vec<String> = schema.root["x-commands"]
        .as_object()
        .expect("x-commands")
        .keys()
        .flat_map(|command| schema.shapes(command))
        .collect();
    printed.sort();
    printed.dedup();
    assert_eq!(schema.top_level(), printed, "docs/json-schema.json: oneOf");
    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/JSON.md");
    let doc = fs::read_to_string(doc_path).expect("read docs/JSON.md");
    // Sections: "### `Name`" and the table rows under it.
    let mut sections: Vec<(String, Vec<Vec<String>>)> = Vec::new();
    for line in doc.lines() {
        if let Some(name) = line.strip_prefix("### `").and_then(|l| l.strip_suffix('`')) {
            sections.push((name.to_string(), Vec::new()));
        } else if line.starts_with("| `")
            && let Some((_, rows)) = sections.last_mut()
        {
            rows.push(cells(line));
        }
    }
    let defs = schema.root["$defs"].as_object().expect("$defs");
    let documented: Vec<&String> = sections.iter().map(|(n, _)| n).collect();
    let mut in_schema: Vec<&String> = defs.keys().collect();
    let mut doc_sorted = documented.clone();
    doc_sorted.sort();
    in_schema.sort();
    assert_eq!(
        doc_sorted, in_schema,
        "the doc's ### sections are the schema's $defs"
    );

    let mut problems = Vec::new();
    for (name, rows) in &sections {
        let def = &defs[name.as_str()];
        let Some(props) = def.get("properties").and_then(Value::as_object) else {
            assert!(
                rows.is_empty(),
                "{name} has no fields, but the doc has a table"
            );
            continue;
        };
        let required: Vec<&str> = def["required"]
            .as_array()
            .expect("required")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let mut doc_fields: Vec<String> = rows.iter().map(|r| r[0].replace('`', "")).collect();
        doc_fields.sort();
        let schema_fields: Vec<&String> = props.keys().collect(); // sorted: a BTreeMap
        if doc_fields.iter().collect::<Vec<_>>() != schema_fields {
            problems.push(format!(
                "{name}: doc fields {doc_fields:?}, schema fields {schema_fields:?}"
            ));
            continue;
        }
        for row in rows {
            let field = row[0].replace('`', "");
            let node = &props[&field];
            let ty = row[1].replace('`', "");
            if ty != doc_type(node) {
                problems.push(format!(
                    "{name}.{field}: doc type {ty:?}, schema {:?}",
                    doc_type(node)
                ));
            }
            if (row[2] == "always") != required.contains(&field.as_str()) {
                problems.push(format!(
                    "{name}.{field}: doc says present {:?}, schema required: {}",
                    row[2],
                    required.contains(&field.as_str())
                ));
            }
            for value in node["enum"].as_array().into_iter().flatten() {
                if let Some(v) = value.as_str()
                    && !row[3].contains(&format!("`{v}`"))
                {
                    problems.push(format!("{name}.{field}: value `{v}` is not in the doc"));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "docs/JSON.md and the schema differ:\n{}",
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// 4. The text dump, and file names for people
// ---------------------------------------------------------------------------------------------

/// Guards: the text dump shows printable UTF-8 as it is (`ünïcode` used to be shown as
/// `\xc3\xbcn\xc3\xafcode`) and escapes control characters, bidirectional-text controls and bytes
/// that are not UTF-8; a long payload is cut between characters.
#[test]
fn text_dump_shows_printable_utf8() {
    let env = Env::new();
    let log = env.path("u.log");
    let long: String = "é".repeat(600);
    let payloads: Vec<Vec<u8>> = vec![
        "ünïcode ✓ 日本".as_bytes().to_vec(),
        b"bell\x07 esc\x1b[31m nul\x00 tab\t back\\slash".to_vec(),
        "evil\u{202e}txt.exe \u{85}".as_bytes().to_vec(),
        b"bad \xff\xfe bytes \xc3".to_vec(),
        long.as_bytes().to_vec(),
    ];
    let files: Vec<PathBuf> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| env.write(&format!("p{i}"), p))
        .collect();
    let mut args = vec!["log", "append", "--sync", "none", s(&log)];
    for f in &files {
        args.extend(["--file", s(f)]);
    }
    let r = run(&env, &args, b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let r = run(&env, &["log", "dump", s(&log)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let out = r.out();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].ends_with("  ünïcode ✓ 日本"), "{out}");
    assert!(
        lines[1].ends_with(r"  bell\x07 esc\x1b[31m nul\x00 tab\t back\\slash"),
        "{out}"
    );
    assert!(lines[2].ends_with(r"  evil\u{202e}txt.exe \u{85}"), "{out}");
    assert!(lines[3].ends_with(r"  bad \xff\xfe bytes \xc3"), "{out}");
    // 1024 bytes shown: 512 whole `é`, none cut in half.
    assert!(
        lines[4].ends_with(&format!("  {}… (+176 bytes)", "é".repeat(512))),
        "{}",
        lines[4]
    );
}

/// Guards: `#N` in the text and hex dumps is the record's sequence number: after `--resync`
/// skips a damaged record, the next one is `#2`, not `#1` (it used to be its position in the
/// output).
#[test]
fn text_dump_numbers_records_by_sequence_number() {
    let env = Env::new();
    let log = env.path("c.log");
    append_each(&env, &log, &["alpha", "bravo", "charlie"]);
    let mut bytes = fs::read(&log).expect("read");
    let records = layout(&bytes);
    bytes[records[0].0 + 24] ^= 0xff;
    fs::write(&log, &bytes).expect("write");
    let r = run(&env, &["log", "dump", "--resync", s(&log)], b"");
    assert_eq!(r.code, 3, "{}", r.show());
    let out = r.out();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains("DAMAGE"), "{out}");
    assert!(
        lines[1].contains("#1 ") && lines[1].ends_with("bravo"),
        "{out}"
    );
    assert!(
        lines[2].contains("#2 ") && lines[2].ends_with("charlie"),
        "{out}"
    );
    let r = run(
        &env,
        &["log", "dump", "--resync", "--format", "hex", s(&log)],
        b"",
    );
    assert!(r.out().contains("record #2 at offset"), "{}", r.show());
    assert!(!r.out().contains("record #0 "), "{}", r.show());
}

/// Guards: with `--last N` the damage line appears where the damage is, in file order (a torn
/// tail used to be printed before the last records), and damage before the records shown is
/// counted on stderr, so the exit status is explained.
#[test]
fn dump_last_keeps_damage_in_file_order() {
    let env = Env::new();
    let log = env.path("t.log");
    append_each(&env, &log, &["r0", "r1", "r2", "r3", "r4"]);
    let full = fs::read(&log).expect("read");
    fs::write(&log, &full[..full.len() - 3]).expect("tear");
    let r = run(&env, &["log", "dump", "--last", "2", s(&log)], b"");
    assert_eq!(r.code, 1, "{}", r.show());
    let out = r.out();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].ends_with("r2") && lines[1].ends_with("r3"),
        "{out}"
    );
    assert!(
        lines[2].contains("DAMAGE"),
        "the torn tail comes last: {out}"
    );

    // Corruption in the middle too, read with --resync (a log that ends in a valid record is
    // read from its end, where there is no damage to show).
    let mut bytes = full[..full.len() - 3].to_vec();
    let records = layout(&full);
    bytes[records[1].0 + 24] ^= 0xff;
    fs::write(&log, &bytes).expect("write");
    let r = run(
        &env,
        &["log", "dump", "--resync", "--last", "2", s(&log)],
        b"",
    );
    assert_eq!(r.code, 3, "{}", r.show());
    let out = r.out();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[0].contains("DAMAGE"),
        "r1's damage, after r0 (not shown): {out}"
    );
    assert!(
        lines[1].ends_with("r2") && lines[2].ends_with("r3"),
        "{out}"
    );
    assert!(lines[3].contains("DAMAGE"), "the torn tail last: {out}");
    // Damage before a record that is not shown is not shown either, but counted on stderr.
    let r = run(
        &env,
        &["log", "dump", "--resync", "--last", "1", s(&log)],
        b"",
    );
    assert_eq!(r.code, 3, "{}", r.show());
    let out = r.out();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].ends_with("r3") && lines[1].contains("DAMAGE"),
        "{out}"
    );
    assert!(
        r.stderr
            .contains("1 damaged region before the last 1 record"),
        "{}",
        r.show()
    );
    let (code, objs) = crate::log::dump_json(&env, &log, &["--resync", "--last", "2"]);
    assert_eq!(code, 3);
    assert!(objs[0].get("damage").is_some(), "{objs:?}");
    assert_eq!(common::data_text(&objs[1]["payload"]), "r2");
    assert_eq!(common::data_text(&objs[2]["payload"]), "r3");
    assert!(objs[3].get("damage").is_some(), "{objs:?}");
}

/// Guards: a file name that is not UTF-8 is printed in `$'…'` form (not as U+FFFD, which names
/// no file), in reports, errors and hints, and pasting it into a shell names the file:
/// the hint `durable recover $'…'` works when run.
#[test]
fn names_that_are_not_utf8_paste_back_into_a_shell() {
    let env = Env::new();
    let have_bash = common::have("bash");
    let log = bytes_path(&env, b"caf\xe9 torn.log");
    let r = run(
        &env,
        &[
            OsStr::new("log"),
            OsStr::new("append"),
            log.as_os_str(),
            OsStr::new("a"),
            OsStr::new("b"),
        ],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    common::shorten(&log, 1);
    let name = OsString::from_vec(b"caf\xe9 torn.log".to_vec());
    let r = run(&env, &[OsStr::new("log"), OsStr::new("verify"), &name], b"");
    assert_eq!(r.code, 1, "{}", r.show());
    let out = r.out();
    assert!(out.starts_with(r"$'caf\xe9 torn.log': torn tail"), "{out}");
    let hint = out
        .split('`')
        .nth(1)
        .unwrap_or_else(|| panic!("a hint in backquotes: {out}"));
    assert_eq!(hint, r"durable recover $'caf\xe9 torn.log'");

    // Errors from the library quote the same way.
    let missing = OsString::from_vec(b"gone\xff.log".to_vec());
    let r = run(
        &env,
        &[OsStr::new("log"), OsStr::new("dump"), &missing],
        b"",
    );
    assert_eq!(r.code, 2, "{}", r.show());
    assert!(r.stderr.contains(r"$'gone\xff.log'"), "{}", r.show());
    assert!(!r.stderr.contains('\u{fffd}'), "{}", r.show());

    if !have_bash {
        common::skip(
            "output::names_that_are_not_utf8_paste_back_into_a_shell",
            "bash is not installed: the hint was checked, not run",
        );
        return;
    }
    let script = format!("\"$D\" {}", hint.trim_start_matches("durable "));
    let out = Durable::bash(env.dir.path(), &script).run();
    assert!(
        out.status.success(),
        "the hint works when pasted: {}",
        out.show()
    );
    let r = run(&env, &[OsStr::new("log"), OsStr::new("verify"), &name], b"");
    assert_eq!(r.code, 0, "recovered: {}", r.show());
}

// ---------------------------------------------------------------------------------------------
// 6. Options that would do nothing
// ---------------------------------------------------------------------------------------------

/// Guards: options that would do nothing with the rest of the command line are refused (exit 2,
/// a message naming the option, no file changed, nothing on stdout) instead of being ignored as
/// they used to be; `--format` on `log append` is no longer an alias of `--log-format`.
#[test]
fn options_that_would_do_nothing_are_refused() {
    let env = Env::new();
    let log = env.path("a.log");
    append_each(&env, &log, &["one", "two"]);
    env.write("in.txt", b"x\n");
    env.write("target", b"old\n");
    fs::write(env.path("s.store"), store(&STORE_RECORDS)).expect("write");
    fs::write(env.path("x.aof"), crate::formats::aof_standard().bytes).expect("write");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("--whole", vec!["log", "append", "--whole", "a.log", "rec"]),
        (
            "--whole",
            vec!["log", "append", "--whole", "a.log", "--file", "in.txt"],
        ),
        ("--null", vec!["log", "append", "-0", "a.log", "rec"]),
        (
            "--format",
            vec!["log", "append", "--format", "lines", "new.log", "rec"],
        ),
        ("-0", vec!["log", "dump", "-0", "a.log"]),
        ("-0", vec!["log", "dump", "--format", "text", "-0", "a.log"]),
        ("-0", vec!["log", "dump", "--format", "hex", "-0", "a.log"]),
        (
            "-0",
            vec![
                "log", "dump", "--format", "blob", "-0", "--last", "1", "a.log",
            ],
        ),
        (
            "--follow",
            vec!["log", "dump", "--format", "blob", "--follow", "a.log"],
        ),
        (
            "--stats",
            vec!["log", "dump", "--stats", "--follow", "a.log"],
        ),
        // Regression: these selected nothing (or could never show a new record) and exited 0.
        (
            "--start",
            vec!["log", "dump", "--start", "100", "--end", "50", "a.log"],
        ),
        (
            "--follow",
            vec!["log", "dump", "--follow", "--end", "100", "a.log"],
        ),
        (
            "--follow",
            vec!["log", "dump", "--follow", "--index", "1", "a.log"],
        ),
        ("--resync", vec!["log", "dump", "--resync", "x.aof"]),
        ("--resync", vec!["log", "dump", "--resync", "s.store"]),
        (
            "--with-index",
            vec!["log", "dump", "--with-index", "s.index", "a.log"],
        ),
        (
            "--with-index",
            vec!["log", "verify", "--with-index", "s.index", "a.log"],
        ),
        (
            "--with-index",
            vec![
                "log",
                "verify",
                "--with-index",
                "s.index",
                "s.store",
                "a.log",
            ],
        ),
        (
            "--with-index",
            vec!["log", "verify", "--with-index", "s.index", "."],
        ),
        (
            "--with-index",
            vec!["recover", "--with-index", "s.index", "a.log"],
        ),
        (
            "--with-index",
            vec!["recover", "--with-index", "s.index", "."],
        ),
        (
            "--hardlinks",
            vec![
                "save",
                "--strategy",
                "in-place",
                "--hardlinks",
                "break",
                "target",
            ],
        ),
        (
            "--hardlinks",
            vec![
                "save",
                "--strategy",
                "journal",
                "--hardlinks",
                "refuse",
                "target",
            ],
        ),
        ("--backup", vec!["save", "--no-clobber", "--backup", "new"]),
        (
            "--if-changed",
            vec!["save", "--no-clobber", "--if-changed", "new"],
        ),
    ];
    let before = snapshot(env.dir.path(), true);
    let mut all = Cases::default();
    for (option, args) in cases {
        all.check(|| {
            let r = env.cmd(&args).no_stdin().bound(BOUND).run();
            assert_eq!(r.code, 2, "{args:?}: {}", r.show());
            assert!(r.stdout.is_empty(), "{args:?}: {}", r.show());
            let first = r.stderr.lines().next().unwrap_or("");
            let named = option.trim_start_matches('-');
            assert!(
                first.contains(named),
                "{args:?}: the message names {option}: {}",
                r.show()
            );
            assert!(!r.stderr.contains("panicked"), "{args:?}: {}", r.show());
        });
    }
    all.assert_all_passed("options_that_would_do_nothing_are_refused");
    crate::formats::assert_unchanged(&env, &before, "refused options");
}

/// Guards (regression): `--last N` showed records of an append that never finished (a log cut
/// after some records of a multi-record append; an `--atomic` append still being written) with
/// exit 0, records a full dump reports as damage and recover cuts; and with a damaged record
/// early in the last append, `--last 1` showed the append's last record (exit 0) while `--last
/// 2` showed the damage (exit 3). Now `--last N` shows only whole, checked appends: for every N
/// it agrees with a full dump about where the log ends, and its exit code is the dump's.
#[test]
fn dump_last_shows_only_whole_appends() {
    let env = Env::new();
    let log = env.path("a.log");
    let r = run(
        &env,
        &["log", "append", s(&log), "one", "two", "three"],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    let r = run(&env, &["log", "append", s(&log), "four"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let r = run(&env, &["log", "append", s(&log)], b"five\nsix\n");
    assert_eq!(r.code, 0, "{}", r.show());
    let full = fs::read(&log).expect("read");
    // Cut after "two", a record boundary inside the first append; and one changed byte in
    // "five", the first record of the last append.
    let two_end = full.windows(3).position(|w| w == b"two").expect("two") + 3 + 8 + 4;
    let mut changed = full.clone();
    let five = full.windows(4).rposition(|w| w == b"five").expect("five");
    changed[five] ^= 0xff;
    for (name, bytes) in [("cut.log", &full[..two_end]), ("changed.log", &changed[..])] {
        let path = env.path(name);
        fs::write(&path, bytes).expect("write");
        let whole = run(&env, &["log", "dump", s(&path)], b"");
        assert_ne!(whole.code, 0, "{name}: {}", whole.show());
        let damage = whole
            .out()
            .lines()
            .find(|l| l.contains("DAMAGE"))
            .expect("a DAMAGE line")
            .to_string();
        for n in 1..=7 {
            let r = run(
                &env,
                &["log", "dump", "--last", &n.to_string(), s(&path)],
                b"",
            );
            assert_eq!(r.code, whole.code, "{name} --last {n}: {}", r.show());
            assert!(r.out().contains(&damage), "{name} --last {n}: {}", r.show());
        }
    }
    // A whole log: --last N is the last N records of a full dump, exit 0.
    let whole = run(&env, &["log", "dump", s(&log)], b"").out();
    let lines: Vec<&str> = whole.lines().collect();
    for n in 1..=7 {
        let r = run(
            &env,
            &["log", "dump", "--last", &n.to_string(), s(&log)],
            b"",
        );
        assert_eq!(r.code, 0, "--last {n}: {}", r.show());
        let want = lines[lines.len().saturating_sub(n)..].join("\n") + "\n";
        assert_eq!(r.out(), want, "--last {n}");
    }
}

/// Guards (regression): `recover DIR` and `log verify DIR` passed over the symlinks, FIFOs and
/// sockets they met without a word, though docs/FORMAT.md says everything left untouched is
/// listed. Each is listed as a skipped regular file is, with what it is and why, in text and in
/// JSON that matches the schema; nothing is followed or opened, and nothing changes.
#[test]
fn a_walk_lists_symlinks_fifos_and_sockets_with_the_reason() {
    let env = Env::new();
    let schema = Schema::load();
    env.write("outside", b"not in the tree\n");
    env.write("tree/plain", b"text\n");
    std::os::unix::fs::symlink(env.path("outside"), env.path("tree/link")).expect("symlink");
    let mkfifo = std::process::Command::new("mkfifo")
        .arg(env.path("tree/fifo"))
        .status()
        .expect("mkfifo");
    assert!(mkfifo.success());
    let _socket = std::os::unix::net::UnixListener::bind(env.path("tree/sock")).expect("socket");
    let before = snapshot(env.dir.path(), true);
    let expected = [
        (
            "fifo",
            "special",
            "a FIFO, not a regular file, never opened",
        ),
        ("link", "symlink", "a symlink, not followed"),
        (
            "sock",
            "special",
            "a socket, not a regular file, never opened",
        ),
    ];
    let tree = env.path("tree");
    let r = run(&env, &["recover", s(&tree)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let v = run(&env, &["log", "verify", s(&tree)], b"");
    assert_eq!(v.code, 0, "{}", v.show());
    for (name, _, why) in expected {
        let path = tree.join(name);
        let line = format!("{}: untouched, {why}", path.display());
        assert!(
            r.out().lines().any(|l| l == line),
            "{line:?} in {}",
            r.show()
        );
        let line = format!("{}: skipped, {why}", path.display());
        assert!(
            v.out().lines().any(|l| l == line),
            "{line:?} in {}",
            v.show()
        );
    }
    let r = run(&env, &["recover", "--json", s(&tree)], b"");
    let lines = check_lines(&schema, "recover", &r);
    for (name, kind, why) in expected {
        let (_, v) = lines
            .iter()
            .find(|(_, v)| common::data_text(&v["path"]).ends_with(&format!("/{name}")))
            .unwrap_or_else(|| panic!("no object for {name}: {}", r.show()));
        assert_eq!(
            (&v["kind"], &v["outcome"], &v["reason"]),
            (
                &Value::from(kind),
                &Value::from("untouched"),
                &Value::from(why)
            ),
            "{v}"
        );
    }
    let v = run(&env, &["log", "verify", "--json", s(&tree)], b"");
    let lines = check_lines(&schema, "log verify", &v);
    assert_eq!(lines.len(), 4, "{}", v.show());
    assert_eq!(
        common::changes(&before, &snapshot(env.dir.path(), true)),
        Vec::<String>::new()
    );
}

/// The JSON about a native log whose header is lost (docs/FORMAT.md, "A lost header") matches
/// the schema: verify's `header-lost` evidence, recover's `would-write-header` and
/// `header-written`, salvage's `header_lost`.
#[test]
fn json_about_a_lost_header_matches_the_schema() {
    let schema = Schema::load();
    let env = Env::new();
    let log = env.path("a.log");
    let r = run(
        &env,
        &["log", "append", "--sync", "none", s(&log), "a", "b"],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    let mut bytes = fs::read(&log).expect("read");
    bytes[..64].fill(0);
    fs::write(&log, bytes).expect("write");
    let new = env.path("new.log");
    for (command, args, code, field, want) in [
        (
            "log verify",
            vec!["log", "verify", "--json", s(&log)],
            3,
            "status",
            "corrupt",
        ),
        (
            "recover",
            vec!["recover", "--json", "--dry-run", "--force", s(&log)],
            3,
            "outcome",
            "would-write-header",
        ),
        (
            "log salvage",
            vec!["log", "salvage", "--json", s(&log), s(&new)],
            0,
            "header_lost",
            "crc32",
        ),
        (
            "recover",
            vec!["recover", "--json", "--force", s(&log)],
            0,
            "outcome",
            "header-written",
        ),
    ] {
        let r = run(&env, &args, b"");
        assert_eq!(r.code, code, "{command}: {}", r.show());
        let lines = check_lines(&schema, command, &r);
        assert_eq!(lines[0].1[field], want, "{command}: {}", r.show());
    }
    // Its header sidecar, dumped: the old 64 bytes (zeros: nothing decodes), exit 0.
    let sidecar = env.path(".durable-recovered/a.log.0.durable-sidecar");
    let command = "log dump --format json";
    let r = run(&env, &["log", "dump", "--format", "json", s(&sidecar)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let lines = check_lines(&schema, command, &r);
    assert_eq!(lines.len(), 1, "{}", r.show());
    assert_eq!(lines[0].0, "DumpOldHeader", "{}", r.show());
    assert_eq!(lines[0].1["old_header"]["decodes"], false, "{}", r.show());
}

/// Regression: `evidence_offset` was `null` for `header-lost` and `header-mismatch`, though
/// JSON.md said it is `null` only for evidence without a place. The evidence of a lost header
/// (or one not its own) is the records that validate under the recovered salt: the first of
/// them (`next_valid`). A file of only zeros has none: `null`, as JSON.md now says.
#[test]
fn evidence_offset_names_the_records_a_lost_header_is_recovered_from() {
    let schema = Schema::load();
    let env = Env::new();
    let verify = |log: &Path| -> Value {
        let r = run(&env, &["log", "verify", "--json", s(log)], b"");
        assert_eq!(r.code, 3, "{}", r.show());
        let lines = check_lines(&schema, "log verify", &r);
        lines[0].1["defects"][0].clone()
    };
    let make = |name: &str| {
        let log = env.path(name);
        let r = run(
            &env,
            &["log", "append", "--sync", "none", s(&log), "a", "b", "c"],
            b"",
        );
        assert_eq!(r.code, 0, "{}", r.show());
        log
    };
    // Lost: zeroed.
    let lost = make("lost.log");
    let mut bytes = fs::read(&lost).expect("read");
    bytes[..64].fill(0);
    fs::write(&lost, &bytes).expect("write");
    let d = verify(&lost);
    assert_eq!(d["evidence"], "header-lost", "{d}");
    assert_eq!(d["evidence_offset"], 64, "{d}");
    assert_eq!(d["next_valid"], 64, "{d}");
    // Not its own: another log's header.
    let other = make("other.log");
    let mine = make("mine.log");
    let mut bytes = fs::read(&mine).expect("read");
    bytes[..64].copy_from_slice(&fs::read(&other).expect("read")[..64]);
    fs::write(&mine, &bytes).expect("write");
    let d = verify(&mine);
    assert_eq!(d["evidence"], "header-mismatch", "{d}");
    assert_eq!(d["evidence_offset"], 64, "{d}");
    // Only zeros: no place.
    let zeros = env.path("zeros.log");
    fs::write(&zeros, vec![0u8; 4096]).expect("write");
    let d = verify(&zeros);
    assert_eq!(d["evidence"], "zero-file", "{d}");
    assert_eq!(d["evidence_offset"], Value::Null, "{d}");
}
