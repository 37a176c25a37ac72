//! A native log whose file header is lost (its first 64 bytes zeroed, as a disk that loses a
//! sector leaves them, or damaged) keeps its records: verify calls it corrupt and says so,
//! `log salvage` copies every record, `recover --force` writes a new header with the salt
//! recovered from the records' checksums (docs/FORMAT.md, "A lost header"); and nothing else
//! is taken for such a log.

use std::fs;
use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use serde_json::Value;

use crate::common::{Env, run, run_hint, s};

const HEADER_LEN: usize = 64;

fn verify_json(env: &Env, log: &Path) -> (i32, Value) {
    let r = run(env, &["log", "verify", "--json", s(log)], b"");
    let out = r.out();
    let v = serde_json::from_str(out.lines().next().unwrap_or("null")).expect("json");
    (r.code, v)
}

fn payloads_of(env: &Env, log: &Path) -> Vec<String> {
    payloads(env, log)
}

fn payloads(env: &Env, log: &Path) -> Vec<String> {
    let r = run(env, &["log", "dump", "--format", "raw", s(log)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    r.out().lines().map(str::to_string).collect()
}

fn zero_header(log: &Path) {
    let mut bytes = fs::read(log).expect("read");
    bytes[..HEADER_LEN].fill(0);
    fs::write(log, bytes).expect("write");
}

/// A log of `n` records (`1`..`n`) made by single appends or by one streamed append.
fn make_log(env: &Env, name: &str, checksum: &str, n: usize, streamed: bool) -> std::path::PathBuf {
    let log = env.path(name);
    if streamed {
        let input: String = (1..=n).map(|i| format!("{i}\n")).collect();
        let r = run(
            env,
            &[
                "log",
                "append",
                "--sync",
                "none",
                "--checksum",
                checksum,
                s(&log),
            ],
            input.as_bytes(),
        );
        assert_eq!(r.code, 0, "{}", r.show());
    } else {
        for i in 1..=n {
            let r = run(
                env,
                &[
                    "log",
                    "append",
                    "--sync",
                    "none",
                    "--checksum",
                    checksum,
                    s(&log),
                    &i.to_string(),
                ],
                b"",
            );
            assert_eq!(r.code, 0, "{}", r.show());
        }
    }
    log
}

/// The whole journey: the header lost -> verify (exit 3, header lost) -> recover refuses ->
/// recover --force (or salvage) -> verify clean with every record -> append -> verify -> dump.
fn journey(checksum: &str, n: usize, streamed: bool, damage: fn(&Path), by_salvage: bool) {
    journey_with(
        checksum,
        n,
        streamed,
        &|_: &Env, log: &Path| damage(log),
        by_salvage,
        Lost::Damaged,
    );
}

/// How the header was lost: what verify says of it.
#[derive(Clone, Copy)]
enum Lost {
    /// Zeroed or damaged: `header-lost`.
    Damaged,
    /// It decodes, but is not its records': `header-mismatch`.
    NotItsOwn,
}

impl Lost {
    fn evidence(self) -> &'static str {
        match self {
            Lost::Damaged => "header-lost",
            Lost::NotItsOwn => "header-mismatch",
        }
    }

    fn says(self) -> &'static str {
        match self {
            Lost::Damaged => "its header is lost",
            Lost::NotItsOwn => "its header does not match its records",
        }
    }
}

fn journey_with(
    checksum: &str,
    n: usize,
    streamed: bool,
    damage: &dyn Fn(&Env, &Path),
    by_salvage: bool,
    lost: Lost,
) {
    let env = Env::new();
    let log = make_log(&env, "a.log", checksum, n, streamed);
    let before = payloads(&env, &log);
    damage(&env, &log);
    let damaged = fs::read(&log).expect("read");
    let case = format!("{checksum} n={n} streamed={streamed} salvage={by_salvage}");

    let r = run(&env, &["log", "verify", s(&log)], b"");
    assert_eq!(r.code, 3, "{case}: {}", r.show());
    assert!(r.out().contains(lost.says()), "{case}: {}", r.show());
    let (code, v) = verify_json(&env, &log);
    assert_eq!(code, 3, "{case}: {v}");
    assert_eq!(v["status"], "corrupt", "{case}: {v}");
    assert_eq!(v["records"], n, "{case}: {v}");
    assert_eq!(v["defects"][0]["kind"], "bad-header", "{case}: {v}");
    assert_eq!(v["defects"][0]["offset"], 0, "{case}: {v}");
    assert_eq!(v["defects"][0]["evidence"], lost.evidence(), "{case}: {v}");
    assert_eq!(v["defects"][0]["next_valid"], HEADER_LEN, "{case}: {v}");
    assert_eq!(v["checksum"], checksum, "{case}: {v}");

    // Refused without --force, the log unchanged; the dry run says what --force does.
    let r = run(&env, &["recover", s(&log)], b"");
    assert_eq!(r.code, 3, "{case}: {}", r.show());
    assert!(r.out().contains("--force"), "{case}: {}", r.show());
    let r = run(&env, &["recover", "--dry-run", "--force", s(&log)], b"");
    assert_eq!(r.code, 3, "{case}: {}", r.show());
    assert_eq!(fs::read(&log).expect("read"), damaged, "{case}: changed");
    // So does append.
    let r = run(&env, &["log", "append", s(&log), "more"], b"");
    assert_eq!(r.code, 3, "{case}: {}", r.show());
    assert!(r.stderr.contains("recover --force"), "{case}: {}", r.show());
    assert_eq!(fs::read(&log).expect("read"), damaged, "{case}: changed");

    let repaired = if by_salvage {
        let new = env.path("new.log");
        let r = run(&env, &["log", "salvage", s(&log), s(&new)], b"");
        assert_eq!(r.code, 0, "{case}: {}", r.show());
        assert!(
            r.out().contains(&format!("copied {n} valid record")),
            "{case}: {}",
            r.show()
        );
        assert!(r.out().contains("header of"), "{case}: {}", r.show());
        assert!(r.out().contains("is lost"), "{case}: {}", r.show());
        new
    } else {
        // The hint verify printed, run as printed.
        let r = run(&env, &["log", "verify", "a.log"], b"");
        run_hint(&env, &r.out(), "recover --force");
        log.clone()
    };
    let (code, v) = verify_json(&env, &repaired);
    assert_eq!(code, 0, "{case}: {v}");
    assert_eq!(v["records"], n, "{case}: {v}");
    assert_eq!(payloads(&env, &repaired), before, "{case}");
    let r = run(&env, &["log", "append", s(&repaired), "next"], b"");
    assert_eq!(r.code, 0, "{case}: {}", r.show());
    let (code, v) = verify_json(&env, &repaired);
    assert_eq!(code, 0, "{case}: {v}");
    assert_eq!(v["records"], n + 1, "{case}: {v}");
    let mut want = before.clone();
    want.push("next".into());
    assert_eq!(payloads(&env, &repaired), want, "{case}");
}

fn damage_header(log: &Path) {
    let mut bytes = fs::read(log).expect("read");
    // The magic and the reserved bytes changed, the salt kept: a damaged header.
    bytes[1] ^= 0x20;
    bytes[44] = 0x7f;
    fs::write(log, bytes).expect("write");
}

/// Regression: a native log whose first 64 bytes were zeroed was "not a log" (exit 2) for
/// verify, recover and salvage, its 20 acknowledged records beyond reach; now its salt is
/// recovered from the records' CRC-32s and recover --force (the hint verify prints) or salvage
/// brings every record back, and the log goes on.
#[test]
fn a_crc32_log_whose_header_is_zeroed_keeps_its_records() {
    journey("crc32", 20, false, zero_header, false);
    journey("crc32", 20, false, zero_header, true);
    journey("crc32", 1000, true, zero_header, false);
    journey("crc32", 1, false, zero_header, true);
}

/// Regression: a damaged header (the magic changed: "not a log", exit 2; or only its checksum
/// wrong: no record could be checked) gives its salt back, confirmed by the records, for
/// SHA-256 logs too.
#[test]
fn a_log_whose_header_is_damaged_keeps_its_records() {
    journey("crc32", 20, false, damage_header, false);
    journey("sha256", 20, false, damage_header, false);
    journey("sha256", 1000, true, damage_header, true);
    journey("sha256", 3, false, damage_header, true);
}

/// The header's bytes with `change` made, its checksum (the last 4 bytes) fixed, as a tool or
/// a careless repair that rewrites a header whole leaves them.
fn rewrite_header(log: &Path, change: impl Fn(&mut [u8])) {
    let mut bytes = fs::read(log).expect("read");
    change(&mut bytes[..HEADER_LEN]);
    let crc = crc32fast::hash(&bytes[..HEADER_LEN - 4]);
    bytes[HEADER_LEN - 4..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
    fs::write(log, bytes).expect("write");
}

/// Put another log's header (`checksum`) in front of `log`'s records.
fn swap_header(env: &Env, log: &Path, checksum: &str) {
    let other = make_log(env, "other.log", checksum, 3, false);
    let mut bytes = fs::read(log).expect("read");
    bytes[..HEADER_LEN].copy_from_slice(&fs::read(&other).expect("read")[..HEADER_LEN]);
    fs::write(log, bytes).expect("write");
    fs::remove_file(other).expect("remove");
}

/// Regression: another log's valid header in front of a log's records (a header copied over
/// the wrong file) made every record damage: verify said "corrupt at offset 64: 0 valid
/// records", salvage copied none, and `recover --force` cut every record into its sidecar.
/// The header decodes, but its records validate under the salt recovered from them: the
/// verdict of a lost header, and recover --force writes their own header back.
#[test]
fn a_log_behind_another_logs_header_keeps_its_records() {
    let swap =
        |checksum: &'static str| move |env: &Env, log: &Path| swap_header(env, log, checksum);
    journey_with("crc32", 20, false, &swap("crc32"), false, Lost::NotItsOwn);
    journey_with("crc32", 20, false, &swap("crc32"), true, Lost::NotItsOwn);
    journey_with("crc32", 20, false, &swap("sha256"), false, Lost::NotItsOwn);
    journey_with("crc32", 1000, true, &swap("crc32"), false, Lost::NotItsOwn);
}

/// Regression: a salt byte changed and the header's checksum fixed: the same (0 valid
/// records, salvage copies none). A SHA-256 log's salt cannot be solved from its records, but
/// one bit changed in it is found as for a damaged header.
#[test]
fn a_log_whose_salt_was_changed_keeps_its_records() {
    let byte = |_: &Env, log: &Path| rewrite_header(log, |h| h[20] ^= 0xa5);
    let bit = |_: &Env, log: &Path| rewrite_header(log, |h| h[27] ^= 0x04);
    journey_with("crc32", 20, false, &byte, false, Lost::NotItsOwn);
    journey_with("crc32", 20, false, &byte, true, Lost::NotItsOwn);
    journey_with("crc32", 1, false, &byte, true, Lost::NotItsOwn);
    journey_with("sha256", 20, false, &bit, false, Lost::NotItsOwn);
    journey_with("sha256", 20, false, &bit, true, Lost::NotItsOwn);
}

/// Regression: the checksum algorithm byte changed (CRC-32 to SHA-256 and back) and the
/// header's checksum fixed: the same. The trailers' size says which algorithm the records
/// have, and the recovered header names it.
#[test]
fn a_log_whose_algorithm_byte_was_changed_keeps_its_records() {
    let to = |algorithm: u8| move |_: &Env, log: &Path| rewrite_header(log, |h| h[10] = algorithm);
    journey_with("crc32", 20, false, &to(2), false, Lost::NotItsOwn);
    journey_with("crc32", 20, false, &to(2), true, Lost::NotItsOwn);
    journey_with("sha256", 20, false, &to(1), false, Lost::NotItsOwn);
    journey_with("sha256", 1, false, &to(1), true, Lost::NotItsOwn);
}

/// A SHA-256 log whose salt changed in more than one bit, its checksum fixed: the salt is not
/// in its records, so nothing is recovered and it reads as before (corrupt at offset 64).
#[test]
fn a_sha256_log_whose_salt_was_changed_is_read_as_before() {
    let env = Env::new();
    let log = make_log(&env, "s.log", "sha256", 10, false);
    rewrite_header(&log, |h| h[20] ^= 0xa5);
    let (code, v) = verify_json(&env, &log);
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["records"], 0, "{v}");
    assert_eq!(v["defects"][0]["offset"], HEADER_LEN, "{v}");
    assert_eq!(v["defects"][0]["kind"], "bad-header", "{v}");
}

/// A log whose header is its own stays as it was read: clean when it is, and damage in its
/// records (record 0's payload, record 0's header CRC, a later record) is reported at the
/// record, not as a header that is not the log's.
#[test]
fn damage_in_the_records_is_not_a_header_that_is_not_its_own() {
    let env = Env::new();
    for checksum in ["crc32", "sha256"] {
        let log = make_log(&env, &format!("{checksum}.log"), checksum, 12, false);
        let clean = fs::read(&log).expect("read");
        let (code, v) = verify_json(&env, &log);
        assert_eq!((code, &v["records"]), (0, &Value::from(12)), "{v}");
        // (byte changed, offset of the damage, records left): record 0's trailer, header CRC,
        // payload; a later record.
        for (at, damage_at, left) in [
            (HEADER_LEN + 24 + 1, HEADER_LEN, 11),
            (HEADER_LEN + 21, HEADER_LEN, 11),
            (HEADER_LEN + 24, HEADER_LEN, 11),
            (clean.len() / 2, 0, 11),
        ] {
            let mut bytes = clean.clone();
            bytes[at] ^= 0x10;
            fs::write(&log, &bytes).expect("write");
            let (code, v) = verify_json(&env, &log);
            let case = format!("{checksum} byte {at}: {v}");
            assert_eq!(code, 3, "{case}");
            assert_eq!(v["records"], left, "{case}");
            let first = &v["defects"][0];
            assert_ne!(first["evidence"], "header-mismatch", "{case}");
            assert!(first["offset"].as_u64() > Some(0), "{case}");
            if damage_at > 0 {
                assert_eq!(first["offset"], damage_at, "{case}");
            }
        }
        fs::write(&log, &clean).expect("write");
    }
}

/// Regression: the lost header's defect said "next valid record at 64" when record 0 was gone
/// with it (the first 512 bytes zeroed): it names the first valid record, and salvage counts
/// the header's 64 bytes once (it reported them as a region up to that record, and the bytes
/// from 64 to it again).
#[test]
fn the_lost_header_names_the_first_valid_record() {
    let env = Env::new();
    let log = make_log(&env, "a.log", "crc32", 40, false);
    let mut bytes = fs::read(&log).expect("read");
    bytes[..512].fill(0);
    fs::write(&log, &bytes).expect("write");
    let (code, v) = verify_json(&env, &log);
    assert_eq!(code, 3, "{v}");
    let first = v["defects"][1]["next_valid"]
        .as_u64()
        .expect("a next valid record");
    assert!(first > 512, "{v}");
    assert_eq!(v["defects"][0]["evidence"], "header-lost", "{v}");
    assert_eq!(v["defects"][0]["next_valid"], first, "{v}");
    let r = run(&env, &["log", "verify", s(&log)], b"");
    assert!(
        r.out()
            .contains(&format!("next valid record at offset {first}")),
        "{}",
        r.show()
    );
    let r = run(
        &env,
        &["log", "salvage", s(&log), s(&env.path("n.log"))],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(
        r.out().contains(&format!("damaged regions, {first} bytes")),
        "{}",
        r.show()
    );
    assert!(
        r.out().contains("skipped 64 bytes at offset 0"),
        "{}",
        r.show()
    );
}

/// Regression: a header-lost native log named `z.index` beside a real proglog `z.store` was
/// paired with it as its index (its zeroed header looks like index entry 0): a walk reported
/// only the store, and `recover` of the directory would rebuild the "index" over the native
/// log's records. Its records, validated under the recovered salt, make it a native log read
/// alone; the store is read without an index.
#[test]
fn a_header_lost_log_named_index_beside_a_store_is_read_as_native() {
    let env = Env::new();
    fs::create_dir(env.path("d")).expect("mkdir");
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus/proglog/A_close/0.store");
    let store = env.write("d/z.store", fs::read(fixture).expect("read"));
    let log = make_log(&env, "d/z.index", "crc32", 20, false);
    zero_header(&log);
    let damaged = fs::read(&log).expect("read");
    let (code, v) = verify_json(&env, &log);
    assert_eq!(code, 3, "{v}");
    assert_eq!(
        (&v["format"], &v["records"]),
        (&Value::from("native"), &Value::from(20)),
        "{v}"
    );
    let r = run(&env, &["log", "verify", s(&store)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(r.out().contains("without index"), "{}", r.show());
    let r = run(&env, &["log", "verify", s(&env.path("d"))], b"");
    assert_eq!(r.code, 3, "{}", r.show());
    assert!(
        r.out().contains("z.index: corrupt: its header is lost"),
        "{}",
        r.show()
    );
    let r = run(
        &env,
        &["recover", "--dry-run", "--force", s(&env.path("d"))],
        b"",
    );
    assert_eq!(r.code, 3, "{}", r.show());
    assert!(!r.out().contains("rebuild"), "{}", r.show());
    assert!(r.out().contains("new header"), "{}", r.show());
    assert_eq!(fs::read(&log).expect("read"), damaged);
}

/// A SHA-256 log whose header is zeroed: its salt is not in the records (a SHA-256 does not
/// give it back), so it is corrupt, nothing can be checked, and nothing changes it, --force
/// included; the message says so and what can be done.
#[test]
fn a_sha256_log_whose_header_is_zeroed_is_corrupt_and_left_alone() {
    let env = Env::new();
    let log = make_log(&env, "s.log", "sha256", 20, false);
    zero_header(&log);
    let damaged = fs::read(&log).expect("read");
    let r = run(&env, &["log", "verify", s(&log)], b"");
    assert_eq!(r.code, 3, "{}", r.show());
    assert!(r.out().contains("cannot be recovered"), "{}", r.show());
    for args in [
        vec!["recover", s(&log)],
        vec!["recover", "--force", s(&log)],
        vec!["log", "append", s(&log), "x"],
    ] {
        let r = run(&env, &args, b"");
        assert_eq!(r.code, 3, "{args:?}: {}", r.show());
        assert!(
            r.stderr.contains("cannot be recovered"),
            "{args:?}: {}",
            r.show()
        );
    }
    let r = run(
        &env,
        &["log", "salvage", s(&log), s(&env.path("n.log"))],
        b"",
    );
    assert_eq!(r.code, 3, "{}", r.show());
    assert!(!env.path("n.log").exists());
    assert_eq!(fs::read(&log).expect("read"), damaged);
}

/// Regression: a whole header whose checksum checks but which names a version, flags or header
/// length this durable does not know (a later format) was read as "lost", and `recover --force`
/// rewrote it as a version-1 header. It is refused as unknown, by every command, unchanged.
#[test]
fn a_header_this_durable_does_not_know_is_not_lost() {
    let env = Env::new();
    // (offset, bytes): version 2; flags 1; header length 128.
    for (i, (at, value)) in [
        (8, &[2u8, 0][..]),
        (11, &[1][..]),
        (12, &[128, 0, 0, 0][..]),
    ]
    .into_iter()
    .enumerate()
    {
        let log = make_log(&env, &format!("v{i}.log"), "crc32", 10, false);
        let mut bytes = fs::read(&log).expect("read");
        bytes[at..at + value.len()].copy_from_slice(value);
        let crc = crc32fast::hash(&bytes[..60]);
        bytes[60..64].copy_from_slice(&crc.to_le_bytes());
        fs::write(&log, &bytes).expect("write");
        let r = run(&env, &["log", "verify", s(&log)], b"");
        assert_eq!(r.code, 3, "{at}: {}", r.show());
        assert!(r.out().contains("does not know"), "{at}: {}", r.show());
        assert!(!r.out().contains("lost"), "{at}: {}", r.show());
        for args in [
            vec!["recover", "--force", s(&log)],
            vec!["log", "append", s(&log), "x"],
        ] {
            let r = run(&env, &args, b"");
            assert_ne!(r.code, 0, "{at} {args:?}: {}", r.show());
            assert!(
                r.stderr.contains("does not know"),
                "{at} {args:?}: {}",
                r.show()
            );
        }
        assert_eq!(fs::read(&log).expect("read"), bytes, "{at}: changed");
    }
}

/// recover --force keeps the old 64 bytes in a sidecar that `log restore` puts back.
#[test]
fn the_header_recover_force_replaces_is_restorable() {
    let env = Env::new();
    let log = make_log(&env, "a.log", "crc32", 5, true);
    zero_header(&log);
    let damaged = fs::read(&log).expect("read");
    let r = run(&env, &["recover", "--force", "--json", s(&log)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let v: Value = serde_json::from_str(r.out().trim()).expect("json");
    assert_eq!(v["outcome"], "header-written", "{v}");
    let sidecar = v["sidecar"]["text"]
        .as_str()
        .expect("a sidecar")
        .to_string();
    assert_ne!(fs::read(&log).expect("read"), damaged);
    let r = run(&env, &["log", "restore", &sidecar], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(r.out().contains("old file header"), "{}", r.show());
    assert_eq!(fs::read(&log).expect("read"), damaged);
}

/// In a walk a header-lost log is reported as the corrupt log it is; files of only zeros are
/// still passed over.
#[test]
fn a_walk_reports_a_header_lost_log_and_passes_over_zeros() {
    let env = Env::new();
    fs::create_dir(env.path("d")).expect("mkdir");
    let log = make_log(&env, "d/a.log", "crc32", 4, false);
    zero_header(&log);
    env.write("d/zeros", vec![0u8; 4096]);
    let r = run(&env, &["log", "verify", "d"], b"");
    assert_eq!(r.code, 3, "{}", r.show());
    assert!(r.out().contains("its header is lost"), "{}", r.show());
    assert!(r.out().contains("zeros: skipped"), "{}", r.show());
    let r = run(&env, &["recover", "d"], b"");
    assert_eq!(r.code, 3, "{}", r.show());
}

/// Regression: a SHA-256 log's header cut short was described as "(native, no checksum)",
/// though its bytes name the algorithm; one cut before that byte says the checksum is unknown.
#[test]
fn a_torn_start_names_the_algorithm_its_bytes_hold() {
    let env = Env::new();
    let full = make_log(&env, "s.log", "sha256", 1, false);
    let bytes = fs::read(&full).expect("read");
    env.write("t.log", &bytes[..20]);
    env.write("u.log", &bytes[..8]);
    let r = run(&env, &["log", "verify", s(&env.path("t.log"))], b"");
    assert_eq!(r.code, 1, "{}", r.show());
    assert!(r.out().contains("(native, sha256)"), "{}", r.show());
    let r = run(&env, &["log", "verify", s(&env.path("u.log"))], b"");
    assert_eq!(r.code, 1, "{}", r.show());
    assert!(r.out().contains("checksum unknown"), "{}", r.show());
    assert!(!r.out().contains("no checksum"), "{}", r.show());
}

/// The records `dump --resync` reads from `log` (damage skipped), and its exit code.
fn resynced(env: &Env, log: &Path) -> (i32, Vec<String>) {
    let r = run(
        env,
        &["log", "dump", "--resync", "--format", "raw", s(log)],
        b"",
    );
    (r.code, r.out().lines().map(str::to_string).collect())
}

/// Regression: a lost first sector (512 bytes zeroed: the header and the first records) was
/// "not a log" (exit 2) for verify, with `--log-format native` too, and salvage copied
/// nothing: the records that chain after the damage now give the salt back, salvage copies
/// all 32 of them, and recover --force writes the header, after which the 32 records read
/// (the damage before them is ordinary corruption), append goes on and dump shows them.
#[test]
fn a_lost_first_sector_keeps_the_records_after_it() {
    let env = Env::new();
    let log = env.path("big.log");
    for i in 1..=40 {
        let r = run(
            &env,
            &[
                "log",
                "append",
                "--sync",
                "none",
                s(&log),
                &format!("payload-number-{i}-abcdefghij"),
            ],
            b"",
        );
        assert_eq!(r.code, 0, "{}", r.show());
    }
    let before = payloads(&env, &log);
    let mut bytes = fs::read(&log).expect("read");
    bytes[..512].fill(0);
    fs::write(&log, &bytes).expect("write");
    let kept = before[before.len() - 32..].to_vec();

    for named in [false, true] {
        let mut args = vec!["log", "verify", "--json"];
        if named {
            args.extend(["--log-format", "native"]);
        }
        args.push(s(&log));
        let r = run(&env, &args, b"");
        assert_eq!(r.code, 3, "{}", r.show());
        let v: Value = serde_json::from_str(r.out().trim()).expect("json");
        assert_eq!(v["records"], 32, "{v}");
        assert_eq!(v["defects"][0]["evidence"], "header-lost", "{v}");
        assert_eq!(v["defects"][1]["offset"], 64, "{v}");
    }

    let new = env.path("new.log");
    let r = run(&env, &["log", "salvage", s(&log), s(&new)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(payloads(&env, &new), kept);

    // Exit 3: the damage after the header remains (a run that exits 0 leaves nothing).
    let r = run(&env, &["recover", "--force", s(&log)], b"");
    assert_eq!(r.code, 3, "{}", r.show());
    assert_eq!(
        fs::read(&log).expect("read")[64..],
        bytes[64..],
        "only the header written"
    );
    // The header written, the rest is damage like any other: the report says how to see it
    // and how to keep every record (it said to run recover "once the header is written").
    assert!(
        !r.out().contains("once the header is written"),
        "{}",
        r.show()
    );
    assert!(
        r.out().contains("`durable log salvage ")
            && r.out().contains(" NEW` copies every valid record"),
        "{}",
        r.show()
    );
    let (code, v) = verify_json(&env, &log);
    assert_eq!((code, &v["records"]), (3, &Value::from(32)), "{v}");
    assert_eq!(v["defects"][0]["offset"], 64, "{v}");
    let r = run(&env, &["log", "append", s(&log), "next"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let (code, v) = verify_json(&env, &log);
    assert_eq!((code, &v["records"]), (3, &Value::from(33)), "{v}");
    let (code, got) = resynced(&env, &log);
    assert_eq!(code, 3);
    let mut want = kept.clone();
    want.push("next".into());
    assert_eq!(got, want);
}

/// Regression: the header zeroed and one payload byte of record 0 changed was "not a log"
/// (exit 2), though records 1.. are intact: record 0's checksum contradicted the others, and
/// the salt was only solved from systems that held it.
#[test]
fn record_zero_damaged_with_the_header_keeps_the_others() {
    let env = Env::new();
    let log = make_log(&env, "a.log", "crc32", 40, false);
    let before = payloads(&env, &log);
    let mut bytes = fs::read(&log).expect("read");
    bytes[..HEADER_LEN].fill(0);
    bytes[88] ^= b'Z';
    fs::write(&log, &bytes).expect("write");
    let (code, v) = verify_json(&env, &log);
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["records"], 39, "{v}");
    assert_eq!(v["defects"][0]["evidence"], "header-lost", "{v}");
    assert_eq!(v["defects"][1]["kind"], "checksum-mismatch", "{v}");
    let new = env.path("new.log");
    let r = run(&env, &["log", "salvage", s(&log), s(&new)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(payloads(&env, &new), before[1..]);
}

/// Regression: a SHA-256 log whose header is damaged (its salt bytes kept) and whose record
/// 0's header CRC is damaged too could not be checked ("its salt cannot be recovered"):
/// the damaged header's salt was only tried against record 0. Record 1 confirms it now.
#[test]
fn a_sha256_log_with_its_header_and_record_zero_damaged_keeps_the_others() {
    let env = Env::new();
    let log = make_log(&env, "s.log", "sha256", 12, false);
    let before = payloads(&env, &log);
    damage_header(&log);
    let mut bytes = fs::read(&log).expect("read");
    bytes[64 + 21] ^= 0x40; // record 0's header CRC
    fs::write(&log, &bytes).expect("write");
    let (code, v) = verify_json(&env, &log);
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["records"], 11, "{v}");
    assert_eq!(v["checksum"], "sha256", "{v}");
    assert_eq!(v["defects"][0]["evidence"], "header-lost", "{v}");
    let new = env.path("new.log");
    let r = run(&env, &["log", "salvage", s(&log), s(&new)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(payloads(&env, &new), before[1..]);
}

/// Regression: a header-lost native log named `.index` was read as a damaged proglog index
/// ("corrupt at offset 12"), and `recover --dry-run --force` of its directory would have cut
/// it at 12, removing valid records: its records, validated under the recovered salt, win.
#[test]
fn a_header_lost_log_named_index_is_read_as_native() {
    let env = Env::new();
    fs::create_dir(env.path("d")).expect("mkdir");
    let log = make_log(&env, "d/z.index", "crc32", 10, false);
    zero_header(&log);
    let damaged = fs::read(&log).expect("read");
    let (code, v) = verify_json(&env, &log);
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["format"], "native", "{v}");
    assert_eq!(v["records"], 10, "{v}");
    assert_eq!(v["defects"][0]["evidence"], "header-lost", "{v}");
    let r = run(
        &env,
        &["recover", "--dry-run", "--force", s(&env.path("d"))],
        b"",
    );
    assert_eq!(r.code, 3, "{}", r.show());
    assert!(r.out().contains("new header"), "{}", r.show());
    assert!(!r.out().contains("cut"), "{}", r.show());
    assert_eq!(fs::read(&log).expect("read"), damaged);
}

/// The foreign fixtures (files that hold a native log somewhere inside: a tar, a zip, an ar
/// archive, SQLite rows; a RocksDB WAL), whole and with their first 64 or 512 bytes zeroed,
/// are never read as a native log whose header is lost.
#[test]
fn foreign_files_are_never_header_lost_logs() {
    let env = Env::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/foreign");
    for entry in fs::read_dir(&dir).expect("fixtures") {
        let path = entry.expect("entry").path();
        let mut bytes = fs::read(&path).expect("read");
        for zeroed in [0, HEADER_LEN, 512] {
            let n = bytes.len().min(zeroed);
            bytes[..n].fill(0);
            let copy = env.write("f.bin", &bytes);
            let r = run(&env, &["log", "verify", "--json", s(&copy)], b"");
            assert!(
                !r.out().contains("header-lost") && !r.stderr.contains("header is lost"),
                "{}: {}",
                path.display(),
                r.show()
            );
        }
    }
}

fn config() -> Config {
    Config {
        cases: 24,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

/// A native log of `payloads` made through the binary: appends of `group` records given as
/// arguments, or (`group` 0) one streamed append of lines.
fn binary_log(env: &Env, checksum: &str, payloads: &[String], group: usize) -> Vec<u8> {
    let log = env.path("p.log");
    let _ = fs::remove_file(&log);
    let base = [
        "log",
        "append",
        "--sync",
        "none",
        "--checksum",
        checksum,
        s(&log),
    ];
    if group == 0 {
        let input: String = payloads.iter().map(|p| format!("{p}\n")).collect();
        let r = run(env, &base, input.as_bytes());
        assert_eq!(r.code, 0, "{}", r.show());
    } else {
        for chunk in payloads.chunks(group) {
            let mut args: Vec<&str> = base.to_vec();
            args.extend(chunk.iter().map(String::as_str));
            let r = run(env, &args, b"");
            assert_eq!(r.code, 0, "{}", r.show());
        }
    }
    fs::read(&log).expect("read")
}

proptest! {
    #![proptest_config(config())]

    /// Property: zeroing a random native log's header (CRC-32), or damaging random header
    /// bytes (either algorithm; the salt bytes kept, or one bit of them flipped), is
    /// corruption whose salvage recovers every record; random bytes are never such a log.
    #[test]
    fn a_lost_header_never_loses_a_record(
        payloads in prop::collection::vec("[a-z0-9 ]{1,60}", 1..40),
        group in 0usize..6,
        sha in any::<bool>(),
        zero in any::<bool>(),
        hits in prop::collection::vec((0usize..64, 1u8..=255), 1..6),
        salt_bit in prop::option::of(0usize..128),
        noise in prop::collection::vec(any::<u8>(), 0..4096),
    ) {
        let env = Env::new();
        let mut bytes = binary_log(&env, if sha { "sha256" } else { "crc32" }, &payloads, group);
        let header: Vec<u8> = bytes[..HEADER_LEN].to_vec();
        let zeroed = zero && !sha;
        if zeroed {
            bytes[..HEADER_LEN].fill(0);
        } else {
            for (at, x) in &hits {
                if !(16..32).contains(at) {
                    bytes[*at] ^= x;
                }
            }
            if let Some(bit) = salt_bit {
                bytes[16 + bit / 8] ^= 1 << (bit % 8);
            }
        }
        prop_assume!(bytes[..HEADER_LEN] != header[..]);
        let damaged = env.write("d.log", &bytes);
        let (code, v) = verify_json(&env, &damaged);
        prop_assert_eq!(code, 3, "{}", v);
        prop_assert_eq!(&v["defects"][0]["evidence"], "header-lost", "{}", v);
        prop_assert_eq!(&v["records"], payloads.len(), "{}", v);
        let new = env.path("n.log");
        let _ = fs::remove_file(&new);
        let r = run(&env, &["log", "salvage", s(&damaged), s(&new)], b"");
        prop_assert_eq!(r.code, 0, "{}", r.show());
        prop_assert_eq!(&payloads_of(&env, &new), &payloads);

        let random = env.write("r.bin", &noise);
        let r = run(&env, &["log", "verify", "--json", s(&random)], b"");
        prop_assert!(!r.out().contains("header-lost"), "{}", r.show());
    }
}

/// Another log's header over `a.log`'s records and a torn append after them: the log of the
/// brief's reproduction (a header that is not its own, then 5 bytes of a record's start).
fn not_its_own_header_and_a_torn_tail(env: &Env, name: &str) -> std::path::PathBuf {
    let log = make_log(env, name, "crc32", 3, false);
    swap_header(env, &log, "crc32");
    let mut bytes = fs::read(&log).expect("read");
    bytes.extend_from_slice(b"\xd5REC\x01");
    fs::write(&log, bytes).expect("write");
    log
}

/// Regression: `recover --force` of a log whose header is not its own, with a torn tail after
/// its records, wrote the header and exited 0 though the torn tail remained (verify then exited
/// 1), naming `log verify` and `log salvage`; the dry run said something else. A run that exits
/// 0 leaves nothing for the next: it exits 1 (a torn tail remains), names `durable recover LOG`,
/// which cuts it, and the dry run says the same.
#[test]
fn a_header_written_over_a_torn_tail_says_the_tail_remains() {
    let env = Env::new();
    let log = not_its_own_header_and_a_torn_tail(&env, "mt.log");
    let twin = env.path("twin.log");
    fs::copy(&log, &twin).expect("copy");
    let dry = run(&env, &["recover", "--force", "--dry-run", s(&twin)], b"");
    assert_eq!(dry.code, 3, "{}", dry.show());
    let r = run(&env, &["recover", "--force", s(&log)], b"");
    assert_eq!(r.code, 1, "a torn tail remains: {}", r.show());
    let rest = |text: &str| -> String {
        text.split_once("; a torn tail at offset")
            .map(|(_, rest)| rest.to_string())
            .unwrap_or_else(|| panic!("the torn tail named: {text}"))
    };
    assert_eq!(
        rest(&dry.out()).replace("twin.log", "mt.log"),
        rest(&r.out()),
        "the dry run says what the run does"
    );
    let hint = rest(&r.out())
        .split('`')
        .nth(1)
        .expect("a command")
        .to_string();
    assert_eq!(hint, format!("durable recover {}", s(&log)), "{}", r.show());
    let r = run(&env, &["recover", s(&log)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(r.out().contains("torn tail"), "{}", r.show());
    let r = run(&env, &["recover", s(&log)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(r.out().contains("nothing to do"), "{}", r.show());
    assert_eq!(payloads(&env, &log), ["1", "2", "3"]);
}

/// The same with damage after the header that is not a torn tail: exit 3, and the ways out
/// recover names for any corruption.
#[test]
fn a_header_written_over_damage_says_the_damage_remains() {
    let env = Env::new();
    let log = make_log(&env, "mc.log", "crc32", 3, false);
    swap_header(&env, &log, "crc32");
    let mut bytes = fs::read(&log).expect("read");
    let second = HEADER_LEN + (bytes.len() - HEADER_LEN) / 3 + 10;
    bytes[second] ^= 0xff;
    fs::write(&log, bytes).expect("write");
    let r = run(&env, &["recover", "--force", s(&log)], b"");
    assert_eq!(r.code, 3, "damage remains: {}", r.show());
    assert!(
        r.out().contains("remains, which is not a torn tail"),
        "{}",
        r.show()
    );
    assert!(
        r.out()
            .contains(&format!("`durable log salvage {} NEW`", s(&log))),
        "{}",
        r.show()
    );
    let r = run(&env, &["recover", s(&log)], b"");
    assert_eq!(r.code, 3, "{}", r.show());
}

/// Regression: `log dump` of the header sidecar `recover --force` keeps printed `DAMAGE offset
/// 0: truncated; torn tail` and exited 1, though the 64 bytes are a whole header kept as the
/// bytes replaced. It shows them as the old header, decoded (another log's header here), with
/// the restore line, exit 0; a zeroed header is shown as zeros.
#[test]
fn a_header_sidecar_dumps_as_the_old_header() {
    let env = Env::new();
    let log = not_its_own_header_and_a_torn_tail(&env, "mt.log");
    let r = run(&env, &["recover", "--force", "--json", s(&log)], b"");
    let v: Value = serde_json::from_str(r.out().trim()).expect("json");
    let sidecar = v["sidecar"]["text"]
        .as_str()
        .expect("a sidecar")
        .to_string();
    let r = run(&env, &["log", "dump", &sidecar], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(!r.out().contains("DAMAGE"), "{}", r.show());
    assert!(
        r.out()
            .contains("OLD HEADER version 1, checksum crc32, salt "),
        "{}",
        r.show()
    );
    assert!(r.out().contains("`durable log restore "), "{}", r.show());
    let r = run(&env, &["log", "dump", "--format", "raw", &sidecar], b"");
    assert_eq!((r.code, r.out().as_str()), (0, ""), "{}", r.show());

    let log = make_log(&env, "z.log", "crc32", 2, false);
    zero_header(&log);
    let r = run(&env, &["recover", "--force", "--json", s(&log)], b"");
    let v: Value = serde_json::from_str(r.out().trim()).expect("json");
    let sidecar = v["sidecar"]["text"]
        .as_str()
        .expect("a sidecar")
        .to_string();
    let r = run(&env, &["log", "dump", &sidecar], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(r.out().contains("OLD HEADER 64 zero bytes"), "{}", r.show());
}
