//! Files of the Go `aof` package: the outcomes (empty, tail, checkpoint, corrupted), dump
//! (segments between magics, hex by default), damage after the last checkpoint at every
//! position (recover zero-fills it, keeping the file's size), and what cannot be checked.

use std::fs;

use super::*;
use crate::common::{Cases, Env};

/// Guards: a clean aof ending in the tail magic: verify reports outcome tail, the logical end
/// (the tail magic's offset), the tail and checkpoint offsets, one record per segment, format
/// aof and no checksum; in text, "aof, tail at O".
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
    assert_eq!(v["logical_end"], a.logical_end, "{v}");
    assert_eq!(v["tail"], a.tail.expect("tail"), "{v}");
    // "checkpoint" is the checkpoint the outcome rests on: none for a tail outcome.
    let ck = a.checkpoint.expect("checkpoint");
    assert!(
        v["checkpoint"].is_null() || v["checkpoint"] == ck || v["checkpoint"] == ck + 8,
        "last checkpoint {ck}: {v}"
    );
    assert_eq!(v["records"], a.segments.len(), "{v}");
    assert_eq!(v["bytes"], AOF_SIZE, "{v}");
    assert_eq!(v["defect_count"], 0, "{v}");

    let r = go(&env, &["log", "verify", s(&path)]);
    assert_eq!(r.code, 0, "{}", show(&r));
    assert!(
        r.out().contains(&format!("{}: clean", s(&path))),
        "{}",
        show(&r)
    );
    assert!(
        r.out().contains("(aof, tail") && r.out().contains(&format!(" at {})", a.logical_end)),
        "{}",
        show(&r)
    );
    let r = go(&env, &["log", "verify", "-q", s(&path)]);
    assert_eq!((r.code, r.stdout.len()), (0, 0), "{}", show(&r));
}

/// Guards: an aof whose last non-zero bytes are a checkpoint magic: outcome checkpoint, logical
/// end after that magic, no tail; one whose writes never checkpointed: outcome tail, one
/// segment.
#[test]
fn checkpoint_outcome_and_no_checkpoints() {
    let env = Env::new();
    let a = aof(
        &[
            Op::Write(b"one"),
            Op::Checkpoint,
            Op::Write(b"two"),
            Op::Checkpoint,
        ],
        AOF_SIZE,
    );
    let path = env.write("ck.aof", &a.bytes);
    let (code, v) = verify(&env, &path, &[]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["outcome"], "checkpoint", "{v}");
    assert_eq!(v["logical_end"], a.logical_end, "{v}");
    assert!(v["tail"].is_null(), "{v}");
    assert_eq!(v["records"], 2, "{v}");
    let (r, objs) = dump(&env, &path, &[]);
    assert_eq!(r.code, 0, "{}", show(&r));
    assert_eq!(
        payloads_of(&objs),
        vec![b"one".to_vec(), b"two".to_vec()],
        "{}",
        show(&r)
    );
    assert!(
        objs.iter().all(|o| o["ends_with"] == "checkpoint"),
        "{objs:?}"
    );

    let a = aof(&[Op::Write(b"just"), Op::Write(b" writes")], 512);
    let path = env.write("plain.aof", &a.bytes);
    let (code, v) = verify(&env, &path, &[]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["outcome"], "tail", "{v}");
    assert_eq!(v["logical_end"], 11, "{v}");
    assert!(v["checkpoint"].is_null(), "{v}");
    assert_eq!(v["records"], 1, "{v}");

    // Trimmed to its logical size (no zero fill at all) is the same.
    let path = env.write("trim.aof", &a.bytes[..a.logical_end + 8]);
    let (code, v) = verify(&env, &path, &[]);
    assert_eq!((code, &v["outcome"]), (0, &Value::from("tail")), "{v}");
}

/// Guards: an empty file and an all-zero file named as aof are outcome empty (clean, no
/// records); neither is detected without the flag.
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
        assert_eq!(v["records"], 0, "{name}: {v}");
        let (r, objs) = dump(&env, &path, &["--log-format", "aof"]);
        assert_eq!((r.code, objs.len()), (0, 0), "{name}: {}", show(&r));
        let r = go(&env, &["log", "verify", s(&path)]);
        assert_eq!(r.code, 2, "{name} is not detected: {}", show(&r));
        let before = snapshot(env.dir.path());
        let (r, _) = recover(&env, &["--log-format", "aof"], &[&path]);
        assert_eq!(r.code, 0, "{name}: {}", show(&r));
        assert_unchanged(&env, &before, name);
    }
}

/// Guards: dump of an aof: hex by default, one record per segment between magics (payload
/// excludes the magics; JSON ends_with and magic_offset), raw joins the segments, text shows
/// them; --follow is refused with one sentence.
#[test]
fn dump_segments() {
    let env = Env::new();
    let a = aof_standard();
    let path = env.write("data.aof", &a.bytes);
    let (r, objs) = dump(&env, &path, &[]);
    assert_eq!(r.code, 0, "{}", show(&r));
    assert_eq!(objs.len(), a.segments.len(), "{}", show(&r));
    for (i, (v, (payload, offset, ends, magic))) in objs.iter().zip(&a.segments).enumerate() {
        assert_eq!(v["index"], i, "{v}");
        assert_eq!(payload_of(v), *payload, "{v}");
        assert_eq!(v["offset"], *offset, "{v}");
        assert_eq!(v["length"], payload.len(), "{v}");
        assert_eq!(v["ends_with"], *ends, "{v}");
        assert_eq!(v["magic_offset"], *magic, "{v}");
    }

    let default = go(&env, &["log", "dump", s(&path)]);
    let hex = go(&env, &["log", "dump", "--format", "hex", s(&path)]);
    assert_eq!(default.code, 0, "{}", show(&default));
    assert_eq!(
        default.stdout, hex.stdout,
        "the default format for aof is hex"
    );
    assert!(
        hex.out().contains("67 61 6d 6d 61"),
        "hex of `gamma`: {}",
        show(&hex)
    );
    assert!(
        !hex.out().contains("2c db 1f f2"),
        "magics are not payload: {}",
        show(&hex)
    );

    let r = go(&env, &["log", "dump", "--format", "text", s(&path)]);
    assert_eq!(r.code, 0, "{}", show(&r));
    assert!(r.out().contains("delta-epsilon"), "{}", show(&r));
    let r = go(&env, &["log", "dump", "--format", "raw", s(&path)]);
    assert_eq!(
        r.stdout,
        b"alpha-beta\ngamma\ndelta-epsilon",
        "{}",
        show(&r)
    );

    let before = snapshot(env.dir.path());
    let mut cmd = durable_cmd(&env);
    cmd.args(["log", "dump", "--follow", s(&path)]);
    let r = run_bounded(cmd, "--follow on an aof");
    assert_one_line_error(&r, "data.aof", "--follow on an aof");
    assert_unchanged(&env, &before, "--follow refused");
}

/// Whether detection takes a torn aof for one: only a preallocated-looking file (whole 4 KiB
/// pages, a zero last byte), so that a binary merely holding the checkpoint magic's bytes is
/// never recovered as an aof.
fn torn_detected(bytes: &[u8]) -> bool {
    bytes.len().is_multiple_of(4096) && bytes.last() == Some(&0)
}

/// Check the torn aof `damaged` (derived from a file whose last checkpoint ends at `ck_end`):
/// verify says torn tail (no-magic at the checkpoint's end, outcome checkpoint); recover
/// zero-fills from there to the last non-zero byte with those bytes in the sidecar, keeping the
/// size; the result is clean (checkpoint) and a second recover changes nothing. It is detected
/// only if it looks preallocated ([`torn_detected`]); otherwise it is "not a log" and every
/// command is given `--log-format aof`.
fn check_torn(env: &Env, case: &str, rel: &str, damaged: &[u8], ck_end: usize, records: usize) {
    let path = env.write(rel, damaged);
    let last = last_nonzero(damaged).expect("non-zero");
    let flag: &[&str] = if torn_detected(damaged) {
        &[]
    } else {
        let r = go(env, &["log", "verify", s(&path)]);
        assert_eq!(
            r.code,
            2,
            "{case}: not preallocated-looking, not detected: {}",
            show(&r)
        );
        assert!(says_not_a_log(&r.stderr), "{case}: {}", show(&r));
        &["--log-format", "aof"]
    };
    let (code, v) = verify(env, &path, flag);
    assert_eq!(v["format"], "aof", "{case}: detected: {v}");
    check_report(
        case,
        &(code, v.clone()),
        "torn-tail",
        records,
        ck_end,
        Some(("no-magic", ck_end)),
    );
    assert_eq!(v["outcome"], "checkpoint", "{case}: {v}");
    assert_eq!(v["logical_end"], ck_end, "{case}: {v}");

    let (r, objs) = recover(env, flag, &[&path]);
    assert_eq!(r.code, 0, "{case}: recover: {}", show(&r));
    assert_eq!(objs[0]["format"], "aof", "{case}: {}", show(&r));
    let now = fs::read(&path).expect("read");
    assert_eq!(now.len(), damaged.len(), "{case}: the file keeps its size");
    let mut want = damaged.to_vec();
    want[ck_end..=last].fill(0);
    assert!(
        now == want,
        "{case}: zero-filled from {ck_end} to {last}, nothing else"
    );
    assert_eq!(
        read_sidecar(&sidecar(&path, ck_end)).unwrap_or_else(|e| panic!("{case}: sidecar: {e}")),
        &damaged[ck_end..=last],
        "{case}: the sidecar holds the overwritten bytes"
    );
    let (code, v) = verify(env, &path, &[]);
    assert_eq!(
        (code, &v["outcome"]),
        (0, &Value::from("checkpoint")),
        "{case}: after (ends with a checkpoint magic: detected): {v}"
    );
    let before = snapshot(env.dir.path());
    let (r, _) = recover(env, &[], &[&path]);
    assert_eq!(r.code, 0, "{case}: second recover: {}", show(&r));
    assert_unchanged(env, &before, &format!("{case}: second recover"));
}

/// Guards: every torn write after the last checkpoint (each prefix of the last write and its
/// tail magic) is a torn tail at the checkpoint's end, recovered by zero-filling with a sidecar.
#[test]
fn torn_last_write_at_every_length() {
    let env = Env::new();
    let a = aof_standard();
    let ck_end = a.checkpoint.expect("ck") + 8;
    let end = a.logical_end + 8;
    let mut cases = Cases::default();
    for cut in ck_end + 1..end {
        cases.check(|| {
            let damaged = padded(&a.bytes[..cut], AOF_SIZE);
            check_torn(
                &env,
                &format!("last write torn at {cut}"),
                &format!("t{cut}.aof"),
                &damaged,
                ck_end,
                2,
            );
        });
    }
    cases.assert_all_passed("formats::aof::torn_last_write_at_every_length");
}

/// Guards: a non-zero byte anywhere after the tail magic (in the zero fill) hides the tail: a
/// torn tail at the last checkpoint's end, recovered as above (the data after the checkpoint is
/// lost, as with the package's own recovery).
#[test]
fn garbage_after_the_tail_at_every_position() {
    let env = Env::new();
    let a = aof_standard();
    let ck_end = a.checkpoint.expect("ck") + 8;
    let end = a.logical_end + 8;
    let positions: Vec<usize> = (end..end + 80)
        .chain([1000, 2047, 2048, AOF_SIZE - 1])
        .collect();
    let mut cases = Cases::default();
    for p in positions {
        for garbage in [0x01u8, 0xaa] {
            cases.check(|| {
                let mut damaged = a.bytes.clone();
                damaged[p] = garbage;
                check_torn(
                    &env,
                    &format!("byte {garbage:#x} at {p}"),
                    &format!("g{p}-{garbage}.aof"),
                    &damaged,
                    ck_end,
                    2,
                );
            });
        }
    }
    // The next write torn over the previous write's tail magic: "delta-" + TAIL was complete,
    // then "epsilon" overwrote only the first k bytes of that magic.
    for k in 1..8 {
        cases.check(|| {
            let mut damaged = a.bytes[..ck_end].to_vec();
            damaged.extend_from_slice(b"delta-");
            damaged.extend_from_slice(&b"epsilon"[..k]);
            damaged.extend_from_slice(&TAIL[k..]);
            let damaged = padded(&damaged, AOF_SIZE);
            check_torn(
                &env,
                &format!("write torn over the tail after {k} bytes"),
                &format!("w{k}.aof"),
                &damaged,
                ck_end,
                2,
            );
        });
    }
    // A partial tail magic written over the zeros after a complete one.
    cases.check(|| {
        let mut damaged = a.bytes.clone();
        damaged[end..end + 5].copy_from_slice(&TAIL[..5]);
        check_torn(&env, "partial second tail", "pt.aof", &damaged, ck_end, 2);
    });
    cases.assert_all_passed("formats::aof::garbage_after_the_tail_at_every_position");
}

/// Guards: no magic anywhere (needs --log-format aof: not detected) is "corrupted" (exit 3);
/// recover refuses it and changes nothing; --force zero-fills from 0 (sidecar .discarded-0),
/// keeping the size, leaving an empty aof. The same for a torn first write (no checkpoint to
/// fall back to).
#[test]
fn no_magic_is_corrupted() {
    let env = Env::new();
    let standard = aof_standard();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "data without magic",
            padded(b"some data the writer never finished", AOF_SIZE),
        ),
        ("torn first write", padded(&standard.bytes[..4], AOF_SIZE)),
        (
            "torn first checkpoint",
            padded(&standard.bytes[..10 + 3], AOF_SIZE),
        ),
    ];
    for (case, bytes) in cases {
        let path = env.write("c.aof", &bytes);
        let last = last_nonzero(&bytes).expect("non-zero");
        let r = go(&env, &["log", "verify", s(&path)]);
        assert_eq!(
            r.code,
            2,
            "{case}: not detected without the flag: {}",
            show(&r)
        );
        let (code, v) = verify(&env, &path, &["--log-format", "aof"]);
        assert_eq!(code, 3, "{case}: {v}");
        assert_eq!(v["status"], "corrupt", "{case}: {v}");
        assert_eq!(v["outcome"], "corrupted", "{case}: {v}");
        assert!(has_defect(&v, "no-magic", None), "{case}: {v}");

        let before = snapshot(env.dir.path());
        let (r, _) = recover(&env, &["--log-format", "aof"], &[&path]);
        assert_eq!(r.code, 3, "{case}: refused: {}", show(&r));
        assert_unchanged(&env, &before, case);

        let (r, _) = recover(&env, &["--log-format", "aof", "--force"], &[&path]);
        assert_eq!(r.code, 0, "{case}: forced: {}", show(&r));
        let now = fs::read(&path).expect("read");
        assert_eq!(
            now,
            vec![0u8; bytes.len()],
            "{case}: zero-filled, size kept"
        );
        assert_eq!(
            read_sidecar(&sidecar(&path, 0)).expect("sidecar"),
            &bytes[..=last],
            "{case}"
        );
        let (code, v) = verify(&env, &path, &["--log-format", "aof"]);
        assert_eq!(
            (code, &v["outcome"]),
            (0, &Value::from("empty")),
            "{case}: {v}"
        );
        fs::remove_file(sidecar(&path, 0)).expect("rm");
    }
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
    let before = snapshot(env.dir.path());
    let (r, _) = recover(&env, &[], &[&path]);
    assert_eq!(r.code, 0, "{}", show(&r));
    assert_unchanged(&env, &before, "recover of an undetectably damaged aof");
}

/// Guards: `recover --dry-run` on a torn aof prints the plan (exit 1) and changes nothing;
/// `--no-backup` zero-fills without a sidecar.
#[test]
fn dry_run_and_no_backup() {
    let env = Env::new();
    let a = aof_standard();
    let ck_end = a.checkpoint.expect("ck") + 8;
    let mut bytes = a.bytes.clone();
    bytes[3000] = 7;
    let path = env.write("t.aof", &bytes);
    let before = snapshot(env.dir.path());
    let (r, objs) = recover(&env, &["--dry-run"], &[&path]);
    assert_eq!(r.code, 1, "{}", show(&r));
    assert_eq!(objs[0]["format"], "aof", "{}", show(&r));
    assert_unchanged(&env, &before, "--dry-run");
    let (r, _) = recover(&env, &["--no-backup"], &[&path]);
    assert_eq!(r.code, 0, "{}", show(&r));
    assert!(sidecars_of(&path).is_empty(), "{:?}", sidecars_of(&path));
    let now = fs::read(&path).expect("read");
    assert_eq!(now.len(), AOF_SIZE);
    assert!(now[ck_end..].iter().all(|&b| b == 0));
    assert_eq!(now[..ck_end], bytes[..ck_end]);
}
