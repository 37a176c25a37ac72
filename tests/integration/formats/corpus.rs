//! Files written, and crashed, by the real programs of each format (tests/fixtures/corpus/,
//! provenance and each program's verdict in its PROVENANCE.md): durable's answer must agree
//! with the program's (records read, outcome and Tail, which entries fail), never call a file
//! the program reads or diagnoses "not a log", and never cut without --force what it reads; a
//! recovered file verifies clean, and a second recover changes nothing.

use std::fs;
use std::process::Command;

use super::*;
use crate::common::{self, Cases, Env};

/// The corpus fixtures directory.
fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus")
}

/// Copy the corpus file or directory `rel` into the scratch directory (writable copies: the
/// package leaves finished aof files read-only); its path there.
fn copy(env: &Env, rel: &str) -> PathBuf {
    let src = corpus().join(rel);
    if src.is_dir() {
        for entry in fs::read_dir(&src).expect("read_dir") {
            let entry = entry.expect("entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            env.write(
                &format!("{rel}/{name}"),
                fs::read(entry.path()).expect("read"),
            );
        }
        env.path(rel)
    } else {
        env.write(rel, fs::read(&src).expect("read fixture"))
    }
}

/// Start offsets of the lines of `bytes` (one per line, the last one with or without its LF).
fn line_starts(bytes: &[u8]) -> Vec<usize> {
    let mut out = vec![0];
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\n' && i + 1 < bytes.len() {
            out.push(i + 1);
        }
    }
    out
}

/// Recover `path` (`extra` options), then: verify is clean and a second recover changes
/// nothing.
#[track_caller]
fn recover_then_clean(env: &Env, case: &str, path: &Path, extra: &[&str]) {
    let (r, _) = recover(env, extra, &[path]);
    assert_eq!(r.code, 0, "{case}: recover: {}", r.show());
    let (code, v) = verify(env, path, extra);
    assert_eq!(code, 0, "{case}: verify after recover: {v}");
    let before = snapshot(env.dir.path(), true);
    let (r, _) = recover(env, extra, &[path]);
    assert_eq!(r.code, 0, "{case}: second recover: {}", r.show());
    assert_unchanged(env, &before, &format!("{case}: second recover"));
}

/// Guards: every lines file of the corpus, against the original verifier (the Go functions
/// that wrote them: tests/fixtures/corpus/PROVENANCE.md). Where it says OK
/// (spaces, UTF-8, empty entries: vacuously), durable reads every entry valid; where it fails at
/// entry N, durable's first defect is line N and every other line is valid (corrupt when valid
/// lines follow, exit 3, recover refuses; a torn tail at the last line, which recover cuts);
/// garbage or zeros after 200 entries (the verifier stops there, OK) is a torn tail after the same
/// 200 entries; a last line without its LF is valid and kept. crlf.log is where the reference
/// verifier is wrong (its `Fscanf` drops the `\r` the writer hashed): durable checks the
/// entry the writer wrote, and it is valid.
#[test]
fn lines_files_agree_with_the_original_verifier() {
    let env = Env::new();
    // (file, entries, the entry the verifier fails at (1-based), what follows the entries).
    let table: [(&str, usize, Option<usize>, &str); 12] = [
        ("plain.log", 5, None, ""),
        ("spaces.log", 3, None, ""),
        ("unicode.log", 4, None, ""),
        ("empty_first.log", 3, None, ""),
        ("empty_mid.log", 3, None, ""),
        ("crlf.log", 2, None, ""),
        ("flip_first.log", 200, Some(1), ""),
        ("flip_mid.log", 200, Some(101), ""),
        ("flip_last.log", 200, Some(200), ""),
        ("garbage_bin.log", 200, None, "no-checksum"),
        ("garbage_zeros.log", 200, None, "zero-fill"),
        ("last_line_no_lf.log", 1, None, ""),
    ];
    let mut cases = Cases::default();
    for (name, entries, fails_at, after) in table {
        cases.check(|| {
            let rel = format!("lines/{name}");
            let path = copy(&env, &rel);
            let bytes = fs::read(&path).expect("read");
            let starts = line_starts(&bytes);
            let (code, v) = verify(&env, &path, &[]);
            assert_eq!(v["format"], "lines", "{name}: detected: {v}");
            match (fails_at, after) {
                (None, "") => {
                    check_report(
                        name,
                        &(code, v.clone()),
                        "clean",
                        entries,
                        bytes.len(),
                        None,
                    );
                    assert_eq!(v["unterminated"], !bytes.ends_with(b"\n"), "{name}: {v}");
                    let before = snapshot(env.dir.path(), true);
                    let (r, _) = recover(&env, &[], &[&path]);
                    assert_eq!(r.code, 0, "{name}: {}", r.show());
                    assert_unchanged(&env, &before, name);
                }
                (None, kind) => {
                    let end = starts[entries];
                    check_report(
                        name,
                        &(code, v.clone()),
                        "torn-tail",
                        entries,
                        end,
                        Some((kind, end)),
                    );
                    recover_then_clean(&env, name, &path, &[]);
                    assert_eq!(
                        fs::read(&path).expect("read"),
                        &bytes[..end],
                        "{name}: kept"
                    );
                }
                (Some(n), _) => {
                    let at = starts[n - 1];
                    let status = if n < entries { "corrupt" } else { "torn-tail" };
                    check_report(
                        name,
                        &(code, v.clone()),
                        status,
                        entries - 1,
                        at,
                        Some(("checksum-mismatch", at)),
                    );
                    assert_eq!(v["records_before_damage"], n - 1, "{name}: {v}");
                    if n < entries {
                        assert_eq!(v["defects"][0]["next_valid"], starts[n], "{name}: {v}");
                        let before = snapshot(env.dir.path(), true);
                        let (r, _) = recover(&env, &[], &[&path]);
                        assert_eq!(r.code, 3, "{name}: refused: {}", r.show());
                        assert_unchanged(&env, &before, name);
                    } else {
                        recover_then_clean(&env, name, &path, &[]);
                        assert_eq!(fs::read(&path).expect("read"), &bytes[..at], "{name}");
                    }
                }
            }
        });
    }
    cases.assert_all_passed("formats::corpus::lines_files_agree_with_the_original_verifier");
}

/// The records of each store of a proglog directory, by verify (store name -> records), and
/// the worst exit code.
fn proglog_records(env: &Env, dir: &Path) -> (BTreeMap<String, u64>, i32) {
    let r = run(env, &["log", "verify", "--json", s(dir)], b"");
    let mut out = BTreeMap::new();
    for v in json_lines(&r.stdout) {
        assert_eq!(v["format"], "proglog", "{v}");
        let path = PathBuf::from(crate::common::data_text(&v["path"]));
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        out.insert(name, v["records"].as_u64().expect("records"));
    }
    (out, r.code)
}

/// Guards: the proglog directories of the corpus, against what proglog reads when it reopens
/// them. A_close (clean): all 200 records, clean, and recover changes nothing. B_selfkill (killed
/// mid-stream; proglog reads 186 records: the first 47, 47, 48 and 43 of four full segments
/// and the first of the last one, whose index is zero-padded): durable reads each of those and
/// more (the rest of the last store), calls the partial records torn tails, and recover keeps
/// every record and leaves each index exactly one entry per record, as proglog needs to reopen
/// it. C_reopen_kill (proglog sees 1 of 463 records): the same for one segment.
#[test]
fn proglog_directories_agree_with_proglog() {
    let env = Env::new();
    let a = copy(&env, "proglog/A_close");
    let (records, code) = proglog_records(&env, &a);
    assert_eq!((code, records.len()), (0, 16), "A_close: {records:?}");
    assert_eq!(records.values().sum::<u64>(), 200, "A_close: {records:?}");
    let before = snapshot(env.dir.path(), true);
    let r = run(&env, &["recover", s(&a)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_unchanged(&env, &before, "recover of a cleanly closed proglog");

    // The records proglog reads per segment (base offset -> count).
    for (dir, reads) in [
        (
            "proglog/B_selfkill",
            &[
                ("0", 47u64),
                ("50", 47),
                ("100", 48),
                ("150", 43),
                ("200", 1),
            ][..],
        ),
        ("proglog/C_reopen_kill", &[("0", 1)][..]),
    ] {
        let path = copy(&env, dir);
        let (before, code) = proglog_records(&env, &path);
        assert_eq!(code, 1, "{dir}: torn tails: {before:?}");
        assert_eq!(before.len(), reads.len(), "{dir}: {before:?}");
        for (base, n) in reads {
            let got = before[&format!("{base}.store")];
            assert!(got >= *n, "{dir}: {base}: durable reads {got}, proglog {n}");
        }
        for (base, _) in reads {
            let store = path.join(format!("{base}.store"));
            let index = path.join(format!("{base}.index"));
            recover_then_clean(&env, &format!("{dir}/{base}"), &store, &[]);
            let st = fs::read(&store).expect("read");
            // The index proglog writes for the kept store: entry i = (i, position of record i).
            let mut want = Vec::new();
            let mut pos = 0usize;
            let mut i = 0u32;
            while pos < st.len() {
                want.extend_from_slice(&i.to_be_bytes());
                want.extend_from_slice(&(pos as u64).to_be_bytes());
                let len = u64::from_be_bytes(st[pos..pos + 8].try_into().expect("8"));
                pos += 8 + usize::try_from(len).expect("len");
                i += 1;
            }
            assert_eq!(
                pos,
                st.len(),
                "{dir}/{base}: the kept store chains to its end"
            );
            assert!(
                fs::read(&index).expect("read") == want,
                "{dir}/{base}: index"
            );
            assert_eq!(
                u64::from(i),
                before[&format!("{base}.store")],
                "{dir}/{base}: kept"
            );
        }
    }
}

/// Decompress the corpus's killbig_4096_1.aof.gz into the scratch directory with gzip(1); `None`
/// (having said why) without gzip.
fn killbig(env: &Env, test: &str) -> Option<PathBuf> {
    if !common::have("gzip") {
        common::skip(test, "killbig_4096_1.aof.gz needs gzip(1) to decompress");
        return None;
    }
    let out = Command::new("gzip")
        .arg("-dc")
        .arg(corpus().join("aof/killbig_4096_1.aof.gz"))
        .output()
        .expect("run gzip");
    assert!(out.status.success(), "gzip -dc failed");
    assert_eq!(
        sha_hex(&out.stdout),
        "9ab13c5763472a5798e5ac15031c9bd83e03919bb52fbee495d4b08caebb754c",
        "the decompressed fixture (PROVENANCE.md)"
    );
    Some(env.write("aof/killbig_4096_1.aof", out.stdout))
}

/// Guards: every aof file of the corpus, against `RecoverWithMagic`: the same outcome, Tail and
/// Checkpoint (JSON `outcome`, `tail`, `checkpoint`), at any size (none is a page multiple but
/// close.aof). close, finish, selfkill: clean, recover changes nothing. finish_plus_garbage
/// (once "not a log"): detected, a torn tail after the checkpoint; recover zero-fills the
/// junk, and the package then reads the same checkpoint. tail_zeroed (once "not a log"):
/// detected, corrupted with the package's Tail, refused. killbig (all zeros): empty when named,
/// never detected as anything.
#[test]
fn aof_files_agree_with_recover_with_magic() {
    let env = Env::new();
    // (file, outcome, Checkpoint, Tail, status).
    let table: [(&str, &str, Option<u64>, u64, &str); 5] = [
        ("close.aof", "tail", None, 3700, "clean"),
        ("finish.aof", "checkpoint", Some(3700), 3708, "clean"),
        (
            "finish_plus_garbage.aof",
            "checkpoint",
            Some(3700),
            3708,
            "torn-tail",
        ),
        ("selfkill.aof", "tail", None, 185000, "clean"),
        ("tail_zeroed.aof", "corrupted", None, 3700, "corrupt"),
    ];
    let mut cases = Cases::default();
    for (name, outcome, checkpoint, tail, status) in table {
        cases.check(|| {
            let path = copy(&env, &format!("aof/{name}"));
            let bytes = fs::read(&path).expect("read");
            assert_eq!(
                recover_with_magic(&bytes),
                (outcome, checkpoint.map(|c| c as usize), tail as usize),
                "{name}: the test's model of the package"
            );
            let (code, v) = verify(&env, &path, &[]);
            assert_eq!(v["format"], "aof", "{name}: detected: {v}");
            assert_eq!(
                (code, &v["status"]),
                (code_of(status), &Value::from(status)),
                "{name}: {v}"
            );
            assert_eq!(v["outcome"], outcome, "{name}: {v}");
            assert_eq!(v["tail"], tail, "{name}: {v}");
            assert_eq!(
                v["checkpoint"],
                checkpoint.map_or(Value::Null, Value::from),
                "{name}: {v}"
            );
            match status {
                "clean" => {
                    let before = snapshot(env.dir.path(), true);
                    let (r, _) = recover(&env, &[], &[&path]);
                    assert_eq!(r.code, 0, "{name}: {}", r.show());
                    assert_unchanged(&env, &before, name);
                }
                "torn-tail" => {
                    recover_then_clean(&env, name, &path, &[]);
                    let now = fs::read(&path).expect("read");
                    assert_eq!(now.len(), bytes.len(), "{name}: size kept");
                    assert_eq!(now[..tail as usize], bytes[..tail as usize], "{name}");
                    assert_eq!(recover_with_magic(&now), ("checkpoint", Some(3700), 3708));
                }
                _ => {
                    let before = snapshot(env.dir.path(), true);
                    let (r, _) = recover(&env, &[], &[&path]);
                    assert_eq!(r.code, 3, "{name}: refused: {}", r.show());
                    assert_unchanged(&env, &before, name);
                }
            }
        });
    }
    cases.assert_all_passed("formats::corpus::aof_files_agree_with_recover_with_magic");

    let Some(path) = killbig(
        &env,
        "formats::corpus::aof_files_agree_with_recover_with_magic",
    ) else {
        return;
    };
    let (code, v) = verify(&env, &path, &["--log-format", "aof"]);
    assert_eq!(
        (code, &v["outcome"], &v["tail"]),
        (0, &Value::from("empty"), &Value::from(0)),
        "{v}"
    );
    assert_eq!(v["bytes"], 20077072, "{v}");
    let r = run(&env, &["log", "verify", s(&path)], b"");
    assert_eq!(r.code, 2, "all zeros are not detected: {}", r.show());
    assert!(r.stderr.contains("only zero bytes"), "{}", r.show());
}

/// A store named through a symlink in another directory pairs with the index beside the file
/// it points to, in verify as in recover: verify read it as a store without index (its lengths
/// alone) while recover, which follows the link first, rebuilt that index.
#[test]
fn a_store_named_through_a_symlink_pairs_as_recover_pairs_it() {
    let env = Env::new();
    let dir = copy(&env, "proglog/C_reopen_kill");
    fs::create_dir(env.path("links")).expect("mkdir");
    std::os::unix::fs::symlink(dir.join("0.store"), env.path("links/0.store")).expect("symlink");
    let link = env.path("links/0.store");
    let verify = run(&env, &["log", "verify", s(&link)], b"");
    assert_eq!(verify.code, 1, "{}", verify.stderr);
    let out = verify.out();
    assert!(out.contains("proglog store+index"), "{out}");
    assert!(out.contains("index-beyond-store"), "{out}");
    let dry = run(&env, &["recover", "--dry-run", s(&link)], b"");
    assert_eq!(dry.code, 1, "{}", dry.stderr);
    assert!(
        dry.out().contains("would rebuild the index"),
        "{}",
        dry.out()
    );
}
