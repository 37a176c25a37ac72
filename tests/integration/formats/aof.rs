//! Files of the Go `aof` package: the outcomes (empty, tail, checkpoint, corrupted) as the
//! package's `RecoverWithMagic` reports them, dump (the data as one segment, hex by default), and
//! the damage the package's crashes and misuse leave, each at every position: a write cut short
//! (no magic at all: corrupted, refused), junk after a finished file (zero-filled back to the
//! checkpoint, keeping the size), garbage in the zero fill; and what cannot be checked.

use std::fs;

use super::*;
use crate::common::{Cases, Env};

/// Guards: a clean aof ending in the tail magic: verify reports outcome tail, the logical end
/// and the package's Tail (the tail magic's offset), no checkpoint, one segment, format aof and
/// no checksum; in text, "aof, tail magic at O". The file is any size the package grows it to.
#[test]
fn tail_outcome() {
    let env = Env::new();
    let a = aof_standard();
    let path = env.write("data.aof", &a.bytes);
    let rep = verify(&env, &path, &[]);
    let v = &rep.1;
    assert_eq!(rep.0, 0, "{v}");
    assert_eq!(v["status"], "clean", "{v}");
    assert_eq!(v["format"], "aof", "{v}");
    assert!(v["checksum"].is_null(), "{v}");
    assert_eq!(v["outcome"], "tail", "{v}");
    assert_eq!(v["logical_end"], a.magic, "{v}");
    assert_eq!(v["tail"], a.magic, "{v}");
    assert!(v["checkpoint"].is_null(), "{v}");
    assert_eq!(v["records"], 1, "{v}");
    assert_eq!(v["bytes"], AOF_SIZE, "{v}");
    assert_eq!(v["defect_count"], 0, "{v}");

    let r = run(&env, &["log", "verify", s(&path)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(
        r.out().contains(&format!("{}: clean", s(&path)))
            && r.out()
                .contains(&format!("(aof, tail magic at {})", a.magic)),
        "{}",
        r.show()
    );
    let r = run(&env, &["log", "verify", "-q", s(&path)], b"");
    assert_eq!((r.code, r.stdout.len()), (0, 0), "{}", r.show());

    // Grown past a page by Geometry.Next: not a page multiple, still detected.
    let grown = aof_grown(300);
    let path = env.write("grown.aof", &grown.bytes);
    let (code, v) = verify(&env, &path, &[]);
    assert_eq!((code, &v["outcome"]), (0, &Value::from("tail")), "{v}");
    assert_eq!(v["tail"], grown.magic, "{v}");
}

/// Guards: a finished file (`Finish`: the checkpoint magic replaces the tail magic, the file is
/// cut to its exact size): outcome checkpoint, logical end and Tail after the magic, Checkpoint
/// at it, one segment ending with it; an unfinished file trimmed to its logical size is tail.
#[test]
fn checkpoint_outcome() {
    let env = Env::new();
    let a = aof(&[b"one", b"two"], true);
    assert_eq!(a.bytes.len(), a.magic + 8, "Finish cuts to the exact size");
    let path = env.write("ck.aof", &a.bytes);
    let (code, v) = verify(&env, &path, &[]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["outcome"], "checkpoint", "{v}");
    assert_eq!(v["logical_end"], a.magic + 8, "{v}");
    assert_eq!(v["tail"], a.magic + 8, "{v}");
    assert_eq!(v["checkpoint"], a.magic, "{v}");
    assert_eq!(v["records"], 1, "{v}");
    let (r, objs) = dump(&env, &path, &[]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(payloads_of(&objs), vec![b"onetwo".to_vec()], "{}", r.show());
    assert_eq!(objs[0]["ends_with"], "checkpoint", "{objs:?}");
    assert_eq!(objs[0]["magic_offset"], a.magic, "{objs:?}");

    let a = aof(&[b"just", b" writes"], false);
    let path = env.write("trim.aof", &a.bytes[..a.magic + 8]);
    let (code, v) = verify(&env, &path, &[]);
    assert_eq!((code, &v["outcome"]), (0, &Value::from("tail")), "{v}");
    assert_eq!(v["logical_end"], 11, "{v}");
}

/// Guards: an empty file and an all-zero file named as aof are outcome empty (clean, no
/// records, Tail 0); neither is detected without the flag.
#[test]
fn empty_outcome() {
    let env = Env::new();
    for (name, bytes) in [
        ("empty.aof", Vec::new()),
        ("zeros.aof", vec![0u8; AOF_SIZE]),
    ] {
        let path = env.write(name, &bytes);
        let (code, v) = verify(&env, &path, &["--log-format", "aof"]);
        assert_eq!(code, 0, "{name}: {v}");
        assert_eq!(v["status"], "clean", "{name}: {v}");
        assert_eq!(v["outcome"], "empty", "{name}: {v}");
        assert_eq!(v["tail"], 0, "{name}: {v}");
        assert_eq!(v["records"], 0, "{name}: {v}");
        let (r, objs) = dump(&env, &path, &["--log-format", "aof"]);
        assert_eq!((r.code, objs.len()), (0, 0), "{name}: {}", r.show());
        let r = run(&env, &["log", "verify", s(&path)], b"");
        assert_eq!(r.code, 2, "{name} is not detected: {}", r.show());
        let before = snapshot(env.dir.path(), true);
        let (r, _) = recover(&env, &["--log-format", "aof"], &[&path]);
        assert_eq!(r.code, 0, "{name}: {}", r.show());
        assert_unchanged(&env, &before, name);
    }
}

/// Guards: dump of an aof: hex by default, the data as one segment (the magic excluded; JSON
/// ends_with and magic_offset), even when the data holds a checkpoint magic's bytes (in this
/// version of the package only `Finish` writes one, at the end); raw and text show the data;
/// --follow is refused with one sentence.
#[test]
fn dump_one_segment() {
    let env = Env::new();
    let a = aof(&[b"alpha-", &CKPT, b"-omega"], false);
    let path = env.write("data.aof", &a.bytes);
    let (r, objs) = dump(&env, &path, &[]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(objs.len(), 1, "{}", r.show());
    assert_eq!(payload_of(&objs[0]), a.data, "{}", objs[0]);
    assert_eq!(objs[0]["offset"], 0);
    assert_eq!(objs[0]["length"], a.data.len());
    assert_eq!(objs[0]["ends_with"], "tail");
    assert_eq!(objs[0]["magic_offset"], a.magic);
    let (code, v) = verify(&env, &path, &[]);
    assert_eq!((code, &v["checkpoint"]), (0, &Value::from(6)), "{v}");

    let a = aof_standard();
    let path = env.write("std.aof", &a.bytes);
    let default = run(&env, &["log", "dump", s(&path)], b"");
    let hex = run(&env, &["log", "dump", "--format", "hex", s(&path)], b"");
    assert_eq!(default.code, 0, "{}", default.show());
    assert_same(
        &default.stdout,
        &hex.stdout,
        "the default format for aof is hex",
    );
    assert!(
        hex.out().contains("67 61 6d 6d 61"),
        "hex of `gamma`: {}",
        hex.show()
    );
    assert!(
        !hex.out().contains("aa 24 75 54"),
        "the magic is not payload: {}",
        hex.show()
    );
    let r = run(&env, &["log", "dump", "--format", "text", s(&path)], b"");
    assert!(r.out().contains("delta-epsilon"), "{}", r.show());
    let r = run(&env, &["log", "dump", "--format", "raw", s(&path)], b"");
    assert_same(&r.stdout, b"alpha-betagammadelta-epsilon\n", &r.show());

    let before = snapshot(env.dir.path(), true);
    let r = env
        .cmd(&["log", "dump", "--follow", s(&path)])
        .no_stdin()
        .bound(BOUND)
        .run();
    assert_one_line_error(&r, &["std.aof"], "--follow on an aof");
    assert_unchanged(&env, &before, "--follow refused");
}

/// Check a file whose outcome is `corrupted` (no magic at the end, no checkpoint magic before):
/// detected when it has the shape a crash leaves (`detected`), otherwise named; verify says
/// corrupt with the package's Tail, recover refuses and changes nothing (also with --dry-run),
/// --force zero-fills from 0 keeping the size (the sidecar holds the bytes) and leaves an
/// empty aof, which a second forced recover leaves alone.
fn check_corrupted(env: &Env, case: &str, rel: &str, bytes: &[u8], detected: bool) {
    let path = env.write(rel, bytes);
    let (outcome, _, tail) = recover_with_magic(bytes);
    assert_eq!(outcome, "corrupted", "{case}: fixture");
    let flag: &[&str] = if detected {
        &[]
    } else {
        let r = run(env, &["log", "verify", s(&path)], b"");
        assert_eq!(r.code, 2, "{case}: not detected: {}", r.show());
        &["--log-format", "aof"]
    };
    let (code, v) = verify(env, &path, flag);
    assert_eq!(v["format"], "aof", "{case}: {v}");
    assert_eq!(
        (code, &v["status"]),
        (3, &Value::from("corrupt")),
        "{case}: {v}"
    );
    assert_eq!(v["outcome"], "corrupted", "{case}: {v}");
    assert_eq!(v["tail"], tail, "{case}: the package's Tail: {v}");
    assert_eq!(v["records"], 0, "{case}: the package opens nothing: {v}");
    assert!(has_defect(&v, "no-magic", Some(0)), "{case}: {v}");

    let before = snapshot(env.dir.path(), true);
    for extra in [&[][..], &["--dry-run"][..]] {
        let mut args = flag.to_vec();
        args.extend_from_slice(extra);
        let (r, _) = recover(env, &args, &[&path]);
        assert_eq!(r.code, 3, "{case}: refused {extra:?}: {}", r.show());
        assert_unchanged(env, &before, &format!("{case}: recover {extra:?}"));
    }
    // The advice fits a file with no magic (regression: it offered `log salvage`, which copies
    // nothing from such a file, and said --force "cuts at the damage", "after the last
    // checkpoint").
    let text = |extra: &[&str]| {
        let args = [&["recover"][..], flag, extra, &[s(&path)]].concat();
        run(env, &args, b"").out()
    };
    let refused = text(&[]);
    assert!(
        refused.contains("--force zero-fills its data") && !refused.contains("salvage"),
        "{case}: {refused}"
    );
    let plan = text(&["--dry-run", "--force"]);
    assert!(
        plan.contains("the whole data: the file has no magic") && !plan.contains("checkpoint"),
        "{case}: {plan}"
    );
    assert_unchanged(env, &before, &format!("{case}: text runs"));
    let mut forced = flag.to_vec();
    forced.push("--force");
    let (r, _) = recover(env, &forced, &[&path]);
    assert_eq!(r.code, 0, "{case}: forced: {}", r.show());
    let now = fs::read(&path).expect("read");
    assert_eq!(
        now,
        vec![0u8; bytes.len()],
        "{case}: zero-filled, size kept"
    );
    let side = sidecar(&path, 0);
    assert_eq!(
        read_sidecar(&side).expect("sidecar"),
        &bytes[..tail],
        "{case}: the sidecar"
    );
    let (code, v) = verify(env, &path, &["--log-format", "aof"]);
    assert_eq!(
        (code, &v["outcome"]),
        (0, &Value::from("empty")),
        "{case}: {v}"
    );
    let before = snapshot(env.dir.path(), true);
    let (r, _) = recover(env, &["--log-format", "aof", "--force"], &[&path]);
    assert_eq!(r.code, 0, "{case}: second recover: {}", r.show());
    assert_unchanged(env, &before, &format!("{case}: second recover"));
    fs::remove_file(&path).expect("rm");
    fs::remove_file(&side).expect("rm sidecar");
}

/// Guards: a crash in the middle of a write (durable used to say "not a log"), at every byte:
/// the write's data overwrites the previous tail magic and its own is never written, so there
/// is no magic at all. The package says corrupted, Tail one past the last non-zero byte; durable
/// detects the file (a page, data, then the zeros where the tail magic was to go) and says the
/// same, and recover never zero-fills without --force (the package trusts nothing in it).
#[test]
fn write_cut_short_at_every_byte_is_corrupted() {
    let env = Env::new();
    let before_write: [&[u8]; 2] = [b"first write;", b"second write;"];
    let prev = aof(&before_write, false);
    let last: &[u8] = b"the write that was cut short";
    let mut cases = Cases::default();
    for k in 0..=last.len() {
        cases.check(|| {
            let bytes = cut_short(&prev, last, k);
            let case = format!("write cut after {k} bytes");
            if k == 0 {
                // Nothing copied yet: the previous write's tail magic still stands.
                let path = env.write("k0.aof", &bytes);
                let (code, v) = verify(&env, &path, &[]);
                assert_eq!((code, &v["tail"]), (0, &Value::from(prev.magic)), "{v}");
                return;
            }
            check_corrupted(&env, &case, &format!("k{k}.aof"), &bytes, true);
        });
    }
    // The write's data complete, its tail magic not yet written.
    cases.check(|| {
        let bytes = cut_short(&prev, last, last.len());
        check_corrupted(&env, "data complete, no magic", "full.aof", &bytes, true);
    });
    // A file grown past its first page (the corpus's selfkill.aof: not a page multiple), its
    // last write cut short.
    let grown = aof_grown(400);
    for k in [1, 7, 8, 9, last.len()] {
        cases.check(|| {
            let bytes = cut_short(&grown, last, k);
            check_corrupted(
                &env,
                &format!("grown, cut after {k}"),
                &format!("g{k}.aof"),
                &bytes,
                true,
            );
        });
    }
    // The corpus's tail_zeroed.aof: the tail magic of a closed file zeroed.
    cases.check(|| {
        let a = aof_standard();
        let mut bytes = a.bytes.clone();
        bytes[a.magic..a.magic + 8].fill(0);
        check_corrupted(&env, "tail magic zeroed", "tz.aof", &bytes, true);
    });
    cases.assert_all_passed("formats::aof::write_cut_short_at_every_byte_is_corrupted");
}

/// Check a file whose outcome is the package's checkpoint found by searching back (durable's
/// torn tail): verify says torn tail at the checkpoint's end (no-magic), outcome checkpoint;
/// recover zero-fills from there to the last non-zero byte with those bytes in the sidecar,
/// keeping the size; the result is a finished file the package reads as checkpoint (verify
/// clean, detected), and a second recover changes nothing.
fn check_torn(env: &Env, case: &str, rel: &str, damaged: &[u8]) {
    let path = env.write(rel, damaged);
    let (outcome, checkpoint, tail) = recover_with_magic(damaged);
    assert_eq!(outcome, "checkpoint", "{case}: fixture");
    let ck = checkpoint.expect("checkpoint");
    let last = last_nonzero(damaged).expect("non-zero");
    let (code, v) = verify(env, &path, &[]);
    assert_eq!(v["format"], "aof", "{case}: detected: {v}");
    check_report(
        case,
        &(code, v.clone()),
        "torn-tail",
        1,
        tail,
        Some(("no-magic", tail)),
    );
    assert_eq!(v["outcome"], "checkpoint", "{case}: {v}");
    assert_eq!(
        (&v["checkpoint"], &v["tail"]),
        (&Value::from(ck), &Value::from(tail))
    );

    let (r, objs) = recover(env, &[], &[&path]);
    assert_eq!(r.code, 0, "{case}: recover: {}", r.show());
    assert_eq!(objs[0]["format"], "aof", "{case}: {}", r.show());
    let now = fs::read(&path).expect("read");
    assert_eq!(now.len(), damaged.len(), "{case}: the file keeps its size");
    let mut want = damaged.to_vec();
    want[tail..=last].fill(0);
    assert!(
        now == want,
        "{case}: zero-filled from {tail} to {last}, nothing else"
    );
    assert_eq!(
        read_sidecar(&sidecar(&path, tail)).unwrap_or_else(|e| panic!("{case}: sidecar: {e}")),
        &damaged[tail..=last],
        "{case}: the sidecar holds the overwritten bytes"
    );
    assert_eq!(recover_with_magic(&now), ("checkpoint", Some(ck), tail));
    let (code, v) = verify(env, &path, &[]);
    assert_eq!(
        (code, &v["outcome"]),
        (0, &Value::from("checkpoint")),
        "{case}: after: {v}"
    );
    let before = snapshot(env.dir.path(), true);
    let (r, _) = recover(env, &[], &[&path]);
    assert_eq!(r.code, 0, "{case}: second recover: {}", r.show());
    assert_unchanged(env, &before, &format!("{case}: second recover"));
}

/// Guards: junk after a finished file (the corpus's finish_plus_garbage.aof, once "not a log"
/// without the flag), of every length up to a sector: detected, a torn tail at the end of the
/// checkpoint magic, and recover restores what the package then reads as checkpoint.
#[test]
fn junk_after_a_finished_file_at_every_length() {
    let env = Env::new();
    let a = aof(&[b"some data", b", then Finish"], true);
    let mut cases = Cases::default();
    for n in (1..=16).chain([100, 255, 511]) {
        cases.check(|| {
            let junk: Vec<u8> = (0..n).map(|i| (i % 251 + 1) as u8).collect();
            let damaged = [a.bytes.clone(), junk].concat();
            check_torn(
                &env,
                &format!("{n} junk bytes"),
                &format!("j{n}.aof"),
                &damaged,
            );
        });
    }
    cases.assert_all_passed("formats::aof::junk_after_a_finished_file_at_every_length");
}

/// Guards: a write cut short in a file whose data holds a checkpoint magic's bytes: the package
/// lands on them (checkpoint outcome), and so does durable (torn tail there), at every cut.
#[test]
fn write_cut_short_after_checkpoint_bytes_in_the_data() {
    let env = Env::new();
    let prev = aof(&[b"data with ", &CKPT, b" inside"], false);
    let last: &[u8] = b"the next write";
    let mut cases = Cases::default();
    for k in 1..=last.len() {
        cases.check(|| {
            let bytes = cut_short(&prev, last, k);
            check_torn(
                &env,
                &format!("cut after {k}"),
                &format!("c{k}.aof"),
                &bytes,
            );
        });
    }
    cases.assert_all_passed("formats::aof::write_cut_short_after_checkpoint_bytes_in_the_data");
}

/// Guards: a non-zero byte in the zero fill after a good tail magic hides it: the package says
/// corrupted (Tail after that byte), and so does durable, detecting the file while the zeros
/// where a tail magic would go are there (not in the last 8 bytes); recover refuses.
#[test]
fn garbage_in_the_zero_fill_is_corrupted() {
    let env = Env::new();
    let a = aof_standard();
    let end = a.magic + 8;
    let mut cases = Cases::default();
    for p in (end..end + 24).chain([1000, 2048, AOF_SIZE - 9, AOF_SIZE - 8, AOF_SIZE - 1]) {
        cases.check(|| {
            let mut damaged = a.bytes.clone();
            damaged[p] = 0x5a;
            let detected = AOF_SIZE - (p + 1) >= 8;
            check_corrupted(
                &env,
                &format!("a byte at {p}"),
                &format!("g{p}.aof"),
                &damaged,
                detected,
            );
        });
    }
    cases.assert_all_passed("formats::aof::garbage_in_the_zero_fill_is_corrupted");
}

/// Guards: the package defines no checksum, so damage inside the data before an intact tail
/// magic cannot be seen: the file is still clean (tail) and recover leaves it alone.
#[test]
fn damage_inside_the_data_is_not_detectable() {
    let env = Env::new();
    let a = aof_standard();
    let mut bytes = a.bytes.clone();
    bytes[2] ^= 0x20;
    let path = env.write("d.aof", &bytes);
    let (code, v) = verify(&env, &path, &[]);
    assert_eq!((code, &v["outcome"]), (0, &Value::from("tail")), "{v}");
    let before = snapshot(env.dir.path(), true);
    let (r, _) = recover(&env, &[], &[&path]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert_unchanged(&env, &before, "recover of an undetectably damaged aof");
}

/// Guards: `recover --dry-run` on a torn aof prints the plan (exit 1) and changes nothing;
/// `--no-backup` zero-fills without a sidecar.
#[test]
fn dry_run_and_no_backup() {
    let env = Env::new();
    let a = aof(&[b"finished data"], true);
    let bytes = [a.bytes.clone(), b"junk".to_vec()].concat();
    let path = env.write("t.aof", &bytes);
    let before = snapshot(env.dir.path(), true);
    let (r, objs) = recover(&env, &["--dry-run"], &[&path]);
    assert_eq!(r.code, 1, "{}", r.show());
    assert_eq!(objs[0]["format"], "aof", "{}", r.show());
    assert_unchanged(&env, &before, "--dry-run");
    let (r, _) = recover(&env, &["--no-backup"], &[&path]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(sidecars_of(&path).is_empty(), "{:?}", sidecars_of(&path));
    let now = fs::read(&path).expect("read");
    assert_eq!(now.len(), bytes.len());
    assert_eq!(now[..a.bytes.len()], a.bytes[..]);
    assert!(now[a.bytes.len()..].iter().all(|&b| b == 0));
}

/// Redis's append-only files as a power loss leaves them: RESP commands (after Redis 7's
/// `#TS:` annotation, in an incr file), or an RDB preamble (`REDIS0011`), then zeros.
fn redis_resp(commands: usize) -> Vec<u8> {
    (0..commands)
        .flat_map(|i| format!("*3\r\n$3\r\nSET\r\n$4\r\nk{i:03}\r\n$2\r\nvv\r\n").into_bytes())
        .collect()
}

fn zero_filled(mut bytes: Vec<u8>, zeros: usize) -> Vec<u8> {
    bytes.resize(bytes.len() + zeros, 0);
    bytes
}

/// Guards (regression): a Redis append-only file of at least a page ending in zeros (a power
/// loss) was taken for a Go aof file cut short by its `.aof` name alone: `recover` said
/// "corrupt" (exit 3) and offered to zero-fill Redis's data with --force, on every boot. A file
/// that starts with a RESP command or `REDIS` and 4 digits is Redis's: not a log (exit 2 by
/// name, skipped in a walk), and `recover` of a Redis 7 directory (base RDB, incr AOF,
/// manifest) changes nothing.
#[test]
fn redis_append_only_files_are_not_aof_files() {
    let env = Env::new();
    let plain = env.write("appendonly.aof", zero_filled(redis_resp(200), 4096));
    for args in [
        vec!["recover", s(&plain)],
        vec!["log", "verify", s(&plain)],
        vec!["recover", "--force", s(&plain)],
    ] {
        let r = run(&env, &args, b"");
        let line = assert_one_line_error(&r, &["appendonly.aof", "Redis"], &format!("{args:?}"));
        assert!(!line.contains("zero-fill"), "{}", r.show());
    }
    assert_eq!(
        fs::read(&plain).expect("read"),
        zero_filled(redis_resp(200), 4096)
    );

    let dir = env.path("redis");
    fs::create_dir_all(dir.join("appendonlydir")).expect("mkdir");
    let mut rdb = b"REDIS0011\xfa\tredis-ver\x057.2.4\xfa\nredis-bits\xc0@".to_vec();
    rdb.extend_from_slice(&[0xfe, 0, 0xfb, 1, 0, 0, 3, b'k', b'e', b'y', 1, b'v', 0xff]);
    rdb.extend_from_slice(&[0x11; 8]);
    let files: Vec<(&str, Vec<u8>)> = vec![
        (
            "appendonlydir/appendonly.aof.1.base.rdb",
            zero_filled(rdb.clone(), 8192),
        ),
        (
            "appendonlydir/appendonly.aof.1.incr.aof",
            zero_filled(
                [b"#TS:1700000000\r\n".to_vec(), redis_resp(150)].concat(),
                4096,
            ),
        ),
        (
            "appendonlydir/appendonly.aof.manifest",
            b"file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
                .to_vec(),
        ),
        // Redis 6: one file, an RDB preamble, then the commands after it.
        (
            "appendonly.aof",
            zero_filled([rdb, redis_resp(100)].concat(), 4096),
        ),
    ];
    for (name, bytes) in &files {
        env.write(&format!("redis/{name}"), bytes);
    }
    let before = snapshot(&dir, true);
    let r = run(&env, &["recover", s(&dir)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(!r.out().contains("corrupt"), "{}", r.show());
    assert_eq!(
        changes(&before, &snapshot(&dir, true)),
        Vec::<String>::new()
    );
    let r = run(&env, &["log", "verify", s(&dir)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    for (name, _) in &files[..2] {
        let r = run(&env, &["log", "verify", s(&dir.join(name))], b"");
        assert_one_line_error(&r, &["Redis"], name);
    }

    // The package's data may start like a RESP command: a magic at its end still makes it the
    // package's, and so does a write cut short under `--log-format aof`.
    let a = aof(&[&redis_resp(3), b"more"], false);
    let path = env.write("go.aof", &a.bytes);
    let (code, v) = verify(&env, &path, &[]);
    assert_eq!((code, &v["outcome"]), (0, &Value::from("tail")), "{v}");
    let cut = env.write("cut.aof", cut_short(&a, b"write", 5));
    let (code, v) = verify(&env, &cut, &["--log-format", "aof"]);
    assert_eq!((code, &v["outcome"]), (3, &Value::from("corrupted")), "{v}");
}
