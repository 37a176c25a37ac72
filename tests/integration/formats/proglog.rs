//! proglog's store and index: a clean pair, a store torn at every cut point (alone and with its
//! index), the zero padding of an ungraceful shutdown, missing, wrong and extra index entries
//! (rebuilt from the store: the result equals what proglog writes), an index alone, and
//! `--with-index PATH`.

use std::fs;

use super::*;
use crate::common::{Cases, Env};

/// A store and its index `<base>.store` / `<base>.index` in the scratch directory (`index`
/// `None`: no index file).
struct Pair {
    store: PathBuf,
    index: PathBuf,
}

fn pair(env: &Env, dir: &str, store_bytes: &[u8], index_bytes: Option<&[u8]>) -> Pair {
    let store = env.write(&format!("{dir}/0.store"), store_bytes);
    let index = env.path(&format!("{dir}/0.index"));
    if let Some(b) = index_bytes {
        fs::write(&index, b).expect("write index");
    }
    Pair { store, index }
}

/// The kind of a torn store tail: a length or record cut short, or, when the bytes past the
/// last whole record are all zero (the start of a cut length field), zero fill.
fn torn_kind(rest: &[u8]) -> &'static str {
    if rest.iter().all(|&b| b == 0) {
        "zero-fill"
    } else {
        "truncated"
    }
}

/// The first byte where `old` and `new` differ (or the shorter length).
#[allow(dead_code)]
fn first_difference(old: &[u8], new: &[u8]) -> usize {
    old.iter().zip(new).take_while(|(a, b)| a == b).count()
}

/// The recover object for `path` among `objs`.
fn object_for<'a>(objs: &'a [Value], path: &Path) -> &'a Value {
    objs.iter()
        .find(|v| v["path"] == common::json_path(path))
        .unwrap_or_else(|| panic!("no recover object for {path:?} in {objs:?}"))
}

/// Check that recover made the index equal to what proglog writes for `records`, keeping the
/// whole old index in the index's sidecar (at offset 0) when it changed any byte of it.
#[track_caller]
fn check_rebuilt(case: &str, p: &Pair, old_index: &[u8], records: &[&[u8]]) {
    let want = index_for(records);
    let got = fs::read(&p.index).expect("read index");
    assert_eq!(
        hex::encode(&got),
        hex::encode(&want),
        "{case}: rebuilt index"
    );
    let side = sidecar(&p.index, 0);
    // An empty index has nothing to keep.
    if old_index != want && !old_index.is_empty() {
        assert_eq!(
            read_sidecar(&side).unwrap_or_else(|e| panic!("{case}: index sidecar {side:?}: {e}")),
            old_index,
            "{case}: the index sidecar holds the whole old index"
        );
    } else {
        assert!(
            !side.exists(),
            "{case}: a sidecar for an index that did not change"
        );
    }
}

/// Guards: a clean store + index is one proglog log: verify reports it clean under the store's
/// path (format proglog, no checksum, both paths), says the store has no checksums, and dump
/// shows each record with its index entry.
#[test]
fn clean_pair_verifies_and_dumps() {
    let env = Env::new();
    let bytes = store(&STORE_RECORDS);
    let bounds = store_bounds(&STORE_RECORDS);
    let p = pair(&env, "seg", &bytes, Some(&index_for(&STORE_RECORDS)));

    let rep = verify(&env, &p.store, &[]);
    check_report("clean pair", &rep, "clean", 5, bytes.len(), None);
    assert_eq!(rep.1["format"], "proglog", "{}", rep.1);
    assert!(rep.1["checksum"].is_null(), "{}", rep.1);
    assert_eq!(rep.1["path"], common::json_path(&p.store), "{}", rep.1);
    assert_eq!(rep.1["store"], common::json_path(&p.store), "{}", rep.1);
    assert_eq!(rep.1["index"], common::json_path(&p.index), "{}", rep.1);

    let r = run(&env, &["log", "verify", s(&p.store)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(
        r.out()
            .contains(&format!("{}: clean, 5 records", s(&p.store))),
        "{}",
        r.show()
    );
    assert!(
        r.out().contains("no checksums: lengths checked"),
        "{}",
        r.show()
    );

    // Named by its index, it is the same pair.
    let rep = verify(&env, &p.index, &[]);
    assert_eq!(rep.0, 0, "{}", rep.1);
    assert_eq!(rep.1["format"], "proglog", "{}", rep.1);
    assert_eq!(rep.1["store"], common::json_path(&p.store), "{}", rep.1);

    let (r, objs) = dump(&env, &p.store, &[]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(objs.len(), 5, "{}", r.show());
    for (i, v) in objs.iter().enumerate() {
        assert_eq!(v["index"], i, "{v}");
        assert_eq!(
            v["offset"], bounds[i],
            "offset = the length field's offset: {v}"
        );
        assert_eq!(v["length"], STORE_RECORDS[i].len(), "{v}");
        assert!(v["checksum"].is_null(), "{v}");
        assert_eq!(payload_of(v), STORE_RECORDS[i], "{v}");
        assert_eq!(v["index_entry"]["offset"], i, "{v}");
        assert_eq!(v["index_entry"]["position"], bounds[i], "{v}");
    }
    let r = run(&env, &["log", "dump", "--format", "raw", s(&p.store)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_same(&r.stdout, terminated(&STORE_RECORDS, b'\n'), "stdout");
    for format in ["text", "hex"] {
        let r = run(&env, &["log", "dump", "--format", format, s(&p.store)], b"");
        assert_eq!(r.code, 0, "{format}: {}", r.show());
        assert!(
            r.out().contains(&bounds[3].to_string()),
            "{format}: {}",
            r.show()
        );
    }
    let r = run(&env, &["log", "dump", "--format", "hex", s(&p.store)], b"");
    assert!(
        r.out().contains("70 72 6f 67 6c 6f 67"),
        "hex of `proglog`: {}",
        r.show()
    );
    let r = run(&env, &["log", "dump", s(&p.store)], b"");
    assert!(
        r.out().contains("proglog record"),
        "text shows the payload: {}",
        r.show()
    );

    // A store record without an index entry: index_entry null.
    fs::write(&p.index, &index_for(&STORE_RECORDS)[..36]).expect("shorten index");
    let (r, objs) = dump(&env, &p.store, &[]);
    assert_eq!(r.code, 1, "records without index entries: {}", r.show());
    let objs: Vec<Value> = objs
        .into_iter()
        .filter(|o| o.get("damage").is_none())
        .collect();
    assert_eq!(objs.len(), 5, "{objs:?}");
    assert!(objs[3]["index_entry"].is_null(), "{}", objs[3]);
    assert!(!objs[2]["index_entry"].is_null(), "{}", objs[2]);
}

/// Guards: a store alone cut at every length: a cut at a record boundary is clean, any other
/// cut a torn tail (truncated, exit 1) at the last boundary; recover cuts it there with the
/// sidecar (sidecar + kept == damaged), and a second recover changes nothing. Cut inside its
/// first record, a store without an index is not a log (its name is all that says proglog) and
/// nothing touches it; named as proglog, it is a torn tail at 0.
#[test]
fn store_alone_torn_at_every_cut_point() {
    let env = Env::new();
    let full = store(&STORE_RECORDS);
    let bounds = store_bounds(&STORE_RECORDS);
    let mut cases = Cases::default();
    for cut in 1..=full.len() {
        cases.check(|| {
            let case = format!("store alone cut at {cut}");
            let path = env.write(&format!("c{cut}/seg.store"), &full[..cut]);
            let complete = bounds.iter().rposition(|&b| b <= cut).expect("0");
            let at = bounds[complete];
            if complete == 0 {
                // No complete record and no index: nothing but the name says proglog, and any
                // program may name a file so. Not a log unless the format is named.
                let before = snapshot(env.dir.path(), true);
                for cmd in [&["log", "verify"][..], &["recover"][..]] {
                    let r = run(&env, &[cmd, &[s(&path)]].concat(), b"");
                    assert_eq!(r.code, 2, "{case}: {cmd:?}: {}", r.show());
                    assert!(r.stderr.contains("is not a log"), "{case}: {}", r.show());
                }
                assert_unchanged(&env, &before, &case);
                let rep = verify(&env, &path, &["--log-format", "proglog"]);
                check_report(
                    &case,
                    &rep,
                    "torn-tail",
                    0,
                    0,
                    Some((torn_kind(&full[..cut]), 0)),
                );
                fs::remove_dir_all(env.path(&format!("c{cut}"))).expect("rm");
                return;
            }
            let rep = verify(&env, &path, &[]);
            if at == cut {
                check_report(&case, &rep, "clean", complete, cut, None);
            } else {
                check_report(
                    &case,
                    &rep,
                    "torn-tail",
                    complete,
                    at,
                    Some((torn_kind(&full[at..cut]), at)),
                );
            }
            assert_eq!(rep.1["format"], "proglog", "{case}: {}", rep.1);
            assert!(rep.1["index"].is_null(), "{case}: no index: {}", rep.1);

            let (r, objs) = recover(&env, &[], &[&path]);
            assert_eq!(r.code, 0, "{case}: {}", r.show());
            assert_eq!(
                objs.len(),
                1,
                "{case}: one object for a store alone: {}",
                r.show()
            );
            assert_eq!(fs::read(&path).expect("read"), &full[..at], "{case}: kept");
            if at != cut {
                assert_eq!(
                    read_sidecar(&sidecar(&path, at)).expect("sidecar"),
                    &full[at..cut],
                    "{case}: sidecar"
                );
            }
            let before = snapshot(env.dir.path(), true);
            let (r, _) = recover(&env, &[], &[&path]);
            assert_eq!(r.code, 0, "{case}: second recover: {}", r.show());
            assert_unchanged(&env, &before, &format!("{case}: second recover"));
            fs::remove_dir_all(env.path(&format!("c{cut}"))).expect("rm");
        });
    }
    cases.assert_all_passed("formats::proglog::store_alone_torn_at_every_cut_point");
}

/// Guards: a store cut at every length next to its complete index: the store's torn tail and
/// the entries past its valid end are a torn tail (exit 1); recover cuts the store (sidecar),
/// drops the entries past it (index sidecar from the first dropped entry), leaving exactly the
/// index proglog writes for the kept records; a second recover changes nothing.
#[test]
fn pair_torn_at_every_cut_point() {
    let env = Env::new();
    let full = store(&STORE_RECORDS);
    let bounds = store_bounds(&STORE_RECORDS);
    let old_index = index_for(&STORE_RECORDS);
    let n = STORE_RECORDS.len();
    let mut cases = Cases::default();
    for cut in 1..=full.len() {
        cases.check(|| {
            let case = format!("pair, store cut at {cut}");
            let dir = format!("p{cut}");
            let p = pair(&env, &dir, &full[..cut], Some(&old_index));
            let complete = bounds.iter().rposition(|&b| b <= cut).expect("0");
            let at = bounds[complete];
            let (code, v) = verify(&env, &p.store, &[]);
            assert_eq!(v["format"], "proglog", "{case}: {v}");
            assert_eq!(v["records"], complete, "{case}: {v}");
            assert_eq!(v["valid_end"], at, "{case}: {v}");
            if cut == full.len() {
                assert_eq!(
                    (code, &v["status"]),
                    (0, &Value::from("clean")),
                    "{case}: {v}"
                );
            } else {
                assert_eq!(
                    (code, &v["status"]),
                    (1, &Value::from("torn-tail")),
                    "{case}: {v}"
                );
                if at != cut {
                    assert!(
                        has_defect(&v, torn_kind(&full[at..cut]), Some(at)),
                        "{case}: truncated store: {v}"
                    );
                }
                if complete < n {
                    assert!(has_defect(&v, "index-beyond-store", None), "{case}: {v}");
                }
            }

            let (r, objs) = recover(&env, &[], &[&p.store]);
            assert_eq!(r.code, 0, "{case}: recover: {}", r.show());
            assert_eq!(
                objs.len(),
                2,
                "{case}: store and index objects: {}",
                r.show()
            );
            assert_eq!(object_for(&objs, &p.store)["format"], "proglog", "{case}");
            let want_outcome = if complete < n { "rebuilt" } else { "clean" };
            assert_eq!(
                object_for(&objs, &p.index)["outcome"],
                want_outcome,
                "{case}: {}",
                r.show()
            );
            assert_eq!(
                fs::read(&p.store).expect("read"),
                &full[..at],
                "{case}: store kept"
            );
            if at != cut {
                assert_eq!(
                    read_sidecar(&sidecar(&p.store, at)).expect("store sidecar"),
                    &full[at..cut],
                    "{case}: store sidecar"
                );
            }
            check_rebuilt(&case, &p, &old_index, &STORE_RECORDS[..complete]);

            let before = snapshot(env.dir.path(), true);
            let (r, objs) = recover(&env, &[], &[&p.store]);
            assert_eq!(r.code, 0, "{case}: second recover: {}", r.show());
            assert_eq!(
                object_for(&objs, &p.index)["outcome"],
                "clean",
                "{case}: {}",
                r.show()
            );
            assert_unchanged(&env, &before, &format!("{case}: second recover"));
            let rep = verify(&env, &p.store, &[]);
            check_report(
                &format!("{case}, recovered"),
                &rep,
                "clean",
                complete,
                at,
                None,
            );
            fs::remove_dir_all(env.path(&dir)).expect("rm");
        });
    }
    cases.assert_all_passed("formats::proglog::pair_torn_at_every_cut_point");
}

/// Guards: the shape a killed proglog leaves in its active segment (the corpus's B_selfkill and
/// C_reopen_kill): the store cut anywhere (it is written through a buffer) while the
/// memory-mapped index holds an entry for every record and then zero padding. At every cut:
/// a torn tail; recover keeps every record that fits and makes the index exactly one entry per
/// record (what proglog needs to reopen the segment: it then reads them all, where before it saw
/// one), never cutting a record proglog read; verify is then clean and a second recover changes
/// nothing.
#[test]
fn killed_active_segment_at_every_cut_point() {
    let env = Env::new();
    let full = store(&STORE_RECORDS);
    let bounds = store_bounds(&STORE_RECORDS);
    let old_index = padded(&index_for(&STORE_RECORDS), INDEX_MAX);
    let mut cases = Cases::default();
    for cut in 1..full.len() {
        cases.check(|| {
            let case = format!("store cut at {cut}, index padded");
            let dir = format!("k{cut}");
            let p = pair(&env, &dir, &full[..cut], Some(&old_index));
            let complete = bounds.iter().rposition(|&b| b <= cut).expect("0");
            let (code, v) = verify(&env, &p.store, &[]);
            assert_eq!(
                (code, &v["records"]),
                (1, &Value::from(complete)),
                "{case}: {v}"
            );
            let (r, _) = recover(&env, &[], &[&p.store]);
            assert_eq!(r.code, 0, "{case}: {}", r.show());
            assert_eq!(
                fs::read(&p.store).expect("read"),
                &full[..bounds[complete]],
                "{case}"
            );
            assert_eq!(
                fs::read(&p.index).expect("read"),
                index_for(&STORE_RECORDS[..complete]),
                "{case}: one entry per record"
            );
            let (code, v) = verify(&env, &p.store, &[]);
            assert_eq!(code, 0, "{case}: after: {v}");
            let before = snapshot(env.dir.path(), true);
            let (r, _) = recover(&env, &[], &[&p.store]);
            assert_eq!(r.code, 0, "{case}: second recover: {}", r.show());
            assert_unchanged(&env, &before, &format!("{case}: second recover"));
            fs::remove_dir_all(env.path(&dir)).expect("rm");
        });
    }
    cases.assert_all_passed("formats::proglog::killed_active_segment_at_every_cut_point");
}

/// Guards: the index of an ungraceful shutdown (entries, then zeros to its maximum size) is a
/// torn tail (zero-fill at the end of the entries, exit 1) with the store's records all
/// readable; --dry-run changes nothing; recover trims it (sidecar: the zeros), leaves the store
/// alone, and a second run changes nothing; --no-backup trims without a sidecar.
#[test]
fn padded_index_is_trimmed() {
    let env = Env::new();
    let bytes = store(&STORE_RECORDS);
    let entries = index_for(&STORE_RECORDS);
    let old = padded(&entries, INDEX_MAX);
    let p = pair(&env, "seg", &bytes, Some(&old));

    let (code, v) = verify(&env, &p.store, &[]);
    assert_eq!((code, &v["status"]), (1, &Value::from("torn-tail")), "{v}");
    assert_eq!(v["records"], 5, "{v}");
    assert!(
        has_defect(&v, "zero-fill", Some(entries.len())),
        "zero-fill at 60: {v}"
    );
    let (r, objs) = dump(&env, &p.store, &[]);
    assert_eq!(
        payloads_of(&objs),
        STORE_RECORDS.map(<[u8]>::to_vec),
        "{}",
        r.show()
    );

    let before = snapshot(env.dir.path(), true);
    let (r, objs) = recover(&env, &["--dry-run"], &[&p.store]);
    assert_eq!(r.code, 1, "dry run of a torn index: {}", r.show());
    assert_eq!(
        object_for(&objs, &p.index)["outcome"],
        "would-rebuild",
        "{}",
        r.show()
    );
    assert_unchanged(&env, &before, "--dry-run");

    let (r, objs) = recover(&env, &[], &[&p.store]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(
        object_for(&objs, &p.index)["outcome"],
        "rebuilt",
        "{}",
        r.show()
    );
    assert_eq!(
        object_for(&objs, &p.index)["format"],
        "proglog",
        "{}",
        r.show()
    );
    check_rebuilt("padded index", &p, &old, &STORE_RECORDS);
    assert_eq!(
        fs::read(&p.store).expect("read"),
        bytes,
        "the store is not touched"
    );
    assert!(
        sidecars_of(&p.store).is_empty(),
        "no store sidecar: {:?}",
        sidecars_of(&p.store)
    );
    let before = snapshot(env.dir.path(), true);
    let (r, _) = recover(&env, &[], &[&p.store]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert_unchanged(&env, &before, "second recover");
    let rep = verify(&env, &p.store, &[]);
    check_report("trimmed", &rep, "clean", 5, bytes.len(), None);

    let q = pair(&env, "nb", &bytes, Some(&old));
    let (r, _) = recover(&env, &["--no-backup"], &[&q.store]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read(&q.index).expect("read"), entries);
    assert!(
        sidecars_of(&q.index).is_empty(),
        "--no-backup: {:?}",
        sidecars_of(&q.index)
    );
}

/// Guards: every kind of index damage next to a sound store is reported with its kind and
/// severity, and recover (without --force: the index is derived data) makes the index exactly
/// what proglog writes for the store, keeping the old bytes from the first difference in the
/// sidecar, never touching the store; a second recover changes nothing.
#[test]
fn index_damage_is_rebuilt_from_the_store() {
    let env = Env::new();
    let bytes = store(&STORE_RECORDS);
    let bounds = store_bounds(&STORE_RECORDS);
    let good = index_for(&STORE_RECORDS);
    let entry = |rel: u32, pos: u64| index(&[(rel, pos)]);
    let replace = |i: usize, e: Vec<u8>| {
        let mut b = good.clone();
        b[i * 12..i * 12 + 12].copy_from_slice(&e);
        b
    };
    let end = bytes.len() as u64;
    let variants: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "missing entries",
            good[..24].to_vec(),
            "torn-tail",
            "index-missing",
        ),
        ("no entries", Vec::new(), "torn-tail", "index-missing"),
        (
            "missing entries then padding",
            padded(&good[..36], INDEX_MAX),
            "torn-tail",
            "index-missing|zero-fill",
        ),
        (
            "all zeros",
            vec![0; INDEX_MAX],
            "torn-tail",
            "index-missing|zero-fill",
        ),
        (
            "a torn entry",
            good[..30].to_vec(),
            "torn-tail",
            "index-missing",
        ),
        (
            "entries past the store",
            [good.clone(), entry(5, end), entry(6, end + 20)].concat(),
            "torn-tail",
            "index-beyond-store",
        ),
        (
            "a 2^63 position",
            [good.clone(), entry(5, 1 << 63)].concat(),
            "torn-tail",
            "index-beyond-store",
        ),
        (
            "a u64::MAX position",
            [good.clone(), entry(5, u64::MAX)].concat(),
            "torn-tail",
            "index-beyond-store",
        ),
        (
            "a wrong position",
            replace(2, entry(2, bounds[3] as u64)),
            "corrupt",
            "index-mismatch",
        ),
        (
            // Not proof of a damaged length: the store's chain meets the entries after it.
            "a position far past the store (a flipped high bit)",
            replace(1, entry(1, 1 << 40)),
            "corrupt",
            "index-mismatch",
        ),
        (
            "a position inside a record",
            replace(1, entry(1, bounds[1] as u64 + 3)),
            "corrupt",
            "index-mismatch",
        ),
        (
            "a wrong relative offset",
            replace(3, entry(9, bounds[3] as u64)),
            "corrupt",
            "index-mismatch",
        ),
        (
            "two entries swapped",
            {
                let mut b = replace(1, entry(2, bounds[2] as u64));
                b[24..36].copy_from_slice(&entry(1, bounds[1] as u64));
                b
            },
            "corrupt",
            "index-mismatch",
        ),
    ];
    let mut cases = Cases::default();
    for (k, (what, old, status, kind)) in variants.into_iter().enumerate() {
        cases.check(|| {
            let p = pair(&env, &format!("v{k}"), &bytes, Some(&old));
            let (code, v) = verify(&env, &p.store, &[]);
            assert_eq!(v["status"], status, "{what}: {v}");
            assert_eq!(code, code_of(status), "{what}: {v}");
            // `a|b`: either kind describes the damage (padding where entries are missing).
            assert!(
                kind.split('|').any(|k| has_defect(&v, k, None)),
                "{what}: a {kind} defect: {v}"
            );
            assert_eq!(v["records"], 5, "{what}: the store's records: {v}");

            let (r, objs) = recover(&env, &[], &[&p.store]);
            assert_eq!(
                r.code,
                0,
                "{what}: recover rebuilds without --force: {}",
                r.show()
            );
            assert_eq!(
                object_for(&objs, &p.index)["outcome"],
                "rebuilt",
                "{what}: {}",
                r.show()
            );
            check_rebuilt(what, &p, &old, &STORE_RECORDS);
            assert_eq!(
                fs::read(&p.store).expect("read"),
                bytes,
                "{what}: store touched"
            );
            assert!(sidecars_of(&p.store).is_empty(), "{what}: store sidecar");
            let before = snapshot(env.dir.path(), true);
            let (r, _) = recover(&env, &[], &[&p.store]);
            assert_eq!(r.code, 0, "{what}: second recover: {}", r.show());
            assert_unchanged(&env, &before, &format!("{what}: second recover"));
        });
    }
    cases.assert_all_passed("formats::proglog::index_damage_is_rebuilt_from_the_store");
}

/// Guards: a store with no index file is verified alone, and recover does not invent an index.
#[test]
fn store_without_index_gets_no_index() {
    let env = Env::new();
    let p = pair(&env, "s", &store(&STORE_RECORDS), None);
    let (r, _) = recover(&env, &[], &[&p.store]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(!p.index.exists(), "recover created an index");
}

/// Guards: an index alone (no store): verify checks its entries (clean, zero-fill torn tail,
/// wrong entries corrupt), dump shows its entries (JSON index, offset, entry_offset,
/// position), raw is refused (an index holds no record data), --follow is refused; recover
/// trims its padding but refuses wrong entries (no store to rebuild them from).
#[test]
fn index_alone() {
    let env = Env::new();
    let bounds = store_bounds(&STORE_RECORDS);
    let entries = index_for(&STORE_RECORDS);
    // In a directory of its own: proglog reads its directory whole, so recover keeps sidecars
    // beside it (here: in the scratch directory).
    let path = env.write("seg/orphan.index", &entries);

    let rep = verify(&env, &path, &[]);
    check_report("index alone", &rep, "clean", 5, entries.len(), None);
    assert_eq!(rep.1["format"], "proglog", "{}", rep.1);
    assert!(rep.1["store"].is_null(), "{}", rep.1);
    assert_eq!(rep.1["index"], common::json_path(&path), "{}", rep.1);

    let (r, objs) = dump(&env, &path, &[]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(objs.len(), 5, "{}", r.show());
    for (i, v) in objs.iter().enumerate() {
        assert_eq!(v["index"], i, "{v}");
        assert_eq!(v["offset"], 12 * i, "{v}");
        assert_eq!(v["entry_offset"], i, "{v}");
        assert_eq!(v["position"], bounds[i], "{v}");
    }
    for format in ["text", "hex"] {
        let r = run(&env, &["log", "dump", "--format", format, s(&path)], b"");
        assert_eq!(r.code, 0, "{format}: {}", r.show());
        assert!(
            r.out().contains(&bounds[4].to_string())
                || r.out().contains(&format!("{:x}", bounds[4])),
            "{format}: {}",
            r.show()
        );
    }
    let before = snapshot(env.dir.path(), true);
    let r = run(&env, &["log", "dump", "--format", "raw", s(&path)], b"");
    assert_one_line_error(&r, &["orphan.index"], "raw dump of an index alone");
    assert!(r.stdout.is_empty());
    let r = env
        .cmd(&["log", "dump", "--follow", s(&path)])
        .no_stdin()
        .bound(BOUND)
        .run();
    assert_one_line_error(&r, &["orphan.index"], "--follow on an index alone");
    assert_unchanged(&env, &before, "refused dumps");

    // Padding: torn tail, trimmed by recover.
    let old = padded(&entries, INDEX_MAX);
    fs::write(&path, &old).expect("pad");
    let rep = verify(&env, &path, &[]);
    check_report(
        "padded index alone",
        &rep,
        "torn-tail",
        5,
        entries.len(),
        Some(("zero-fill", entries.len())),
    );
    let (r, _) = recover(&env, &[], &[&path]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read(&path).expect("read"), entries, "trimmed");
    // The whole old index, so that the sidecar reads back as an index.
    assert_eq!(read_sidecar(&sidecar(&path, 0)).expect("sidecar"), old);

    // A wrong entry: corrupt, and nothing to rebuild it from.
    let mut wrong = entries.clone();
    wrong[2 * 12 + 3] = 7; // entry 2's relative offset becomes 7
    let wrong_path = env.write("seg/wrong.index", &wrong);
    let rep = verify(&env, &wrong_path, &[]);
    assert_eq!(rep.0, 3, "{}", rep.1);
    assert!(has_defect(&rep.1, "index-mismatch", Some(24)), "{}", rep.1);
    let before = snapshot(env.dir.path(), true);
    let (r, _) = recover(&env, &[], &[&wrong_path]);
    assert_eq!(r.code, 3, "{}", r.show());
    assert_unchanged(&env, &before, "recover of a wrong index alone");
}

/// Guards: `--with-index PATH` pairs a store with an index of any name, for verify and recover.
#[test]
fn index_option_pairs_any_name() {
    let env = Env::new();
    let bytes = store(&STORE_RECORDS);
    let entries = index_for(&STORE_RECORDS);
    let st = env.write("seg/events.store", &bytes);
    let idx = env.write("seg/custom.idx", padded(&entries, INDEX_MAX));
    let (code, v) = verify(&env, &st, &["--with-index", s(&idx)]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["index"], common::json_path(&idx), "{v}");
    assert!(has_defect(&v, "zero-fill", Some(entries.len())), "{v}");
    let (r, _) = recover(&env, &["--with-index", s(&idx)], &[&st]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read(&idx).expect("read"), entries, "trimmed");
    assert_eq!(fs::read(&st).expect("read"), bytes);
}

/// A store named anything (not `.store`) is read as one when its index is named with
/// `--with-index`, as docs/FORMAT.md says: it was "not a log" unless `--log-format proglog` was
/// given too.
#[test]
fn index_option_makes_a_store_of_any_name() {
    let env = Env::new();
    // Cut inside a record after the last one: its own bytes chain to no end.
    let mut bytes = store(&STORE_RECORDS);
    bytes.extend_from_slice(&100u64.to_be_bytes());
    bytes.extend_from_slice(b"cut");
    let entries = index_for(&STORE_RECORDS);
    let st = env.write("seg/events.dat", &bytes);
    let idx = env.write("seg/events.idx", &entries);
    let (code, v) = verify(&env, &st, &["--with-index", s(&idx)]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["status"], "torn-tail", "{v}");
    assert_eq!(v["format"], "proglog", "{v}");
    assert_eq!(v["records"], STORE_RECORDS.len(), "{v}");
    assert_eq!(v["index"], common::json_path(&idx), "{v}");
    let r = run(
        &env,
        &[
            "log",
            "dump",
            "--format",
            "raw",
            "--with-index",
            s(&idx),
            s(&st),
        ],
        b"",
    );
    assert_eq!(r.code, 1, "{}", r.show());
    assert_eq!(r.out().lines().count(), STORE_RECORDS.len(), "{}", r.out());
}

/// Guards: `dump --follow` on a store prints records appended later, and waits for a record
/// whose length field or data is only partly written.
#[test]
fn dump_follow_on_a_store() {
    use std::io::Write;
    use std::time::Duration;

    let env = Env::new();
    let path = env.write("f/0.store", store(&[b"zero"]));
    let (child, seen) = spawn_follow(&env, "raw", &path);
    let shows = |t: &'static str| {
        let seen = std::sync::Arc::clone(&seen);
        move || String::from_utf8_lossy(&seen.lock().expect("lock")).contains(t)
    };
    assert!(
        wait_until(Duration::from_secs(10), shows("zero")),
        "existing record"
    );
    let next = store(&[b"appended later"]);
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open");
    for part in [&next[..5], &next[5..12]] {
        f.write_all(part).expect("write part");
        let before = seen.lock().expect("lock").len();
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            seen.lock().expect("lock").len(),
            before,
            "printed a partial record"
        );
    }
    f.write_all(&next[12..]).expect("write rest");
    assert!(
        wait_until(Duration::from_secs(10), shows("appended later")),
        "completed record: {:?}",
        String::from_utf8_lossy(&seen.lock().expect("lock"))
    );
    drop(child);
}

/// Guards: `recover` given the index of a pair recovers the pair (the index is rebuilt from
/// its store), as when given the store.
#[test]
fn recover_by_the_index_name() {
    let env = Env::new();
    let bytes = store(&STORE_RECORDS);
    let old = padded(&index_for(&STORE_RECORDS), INDEX_MAX);
    let p = pair(&env, "seg", &bytes, Some(&old));
    let (r, _) = recover(&env, &[], &[&p.index]);
    assert_eq!(r.code, 0, "{}", r.show());
    check_rebuilt("recover INDEX", &p, &old, &STORE_RECORDS);
    assert_eq!(fs::read(&p.store).expect("read"), bytes);
}

/// The records proglog itself reads from a store and a trimmed index (a clean close): through
/// each index entry (relative offset, position), the length at that position and the data after
/// it, if they fit in the store. (index entry, payload) for each.
fn proglog_reads(store_bytes: &[u8], index_bytes: &[u8]) -> Vec<(usize, Vec<u8>)> {
    index_bytes
        .chunks_exact(12)
        .enumerate()
        .filter_map(|(i, e)| {
            let pos = usize::try_from(u64::from_be_bytes(e[4..].try_into().expect("8"))).ok()?;
            let len_bytes = store_bytes.get(pos..pos.checked_add(8)?)?;
            let len = usize::try_from(u64::from_be_bytes(len_bytes.try_into().expect("8"))).ok()?;
            let data = store_bytes.get(pos + 8..(pos + 8).checked_add(len)?)?;
            Some((i, data.to_vec()))
        })
        .collect()
}

/// Guards: one flipped bit in a store's length field (mid-segment, it used to be called a torn
/// tail, and recover cut 39 records that proglog itself still reads), for every record and
/// several bits. Mid-segment, the intact index entries after it prove the later records:
/// corruption (exit 3), bad-length at the damaged record with the next entry's record as
/// evidence, every other record read (by verify, and by dump --resync); recover without
/// --force changes nothing (the index included), --force cuts at the damage and rebuilds the index, after which verify is clean
/// and a second recover changes nothing. In the last record nothing proves anything after it: a
/// torn tail, and recover keeps every record proglog reads.
#[test]
fn flipped_length_bit_is_corruption_when_the_index_proves_later_records() {
    let env = Env::new();
    let records: Vec<Vec<u8>> = (0..12)
        .map(|i| format!("record {i}: {}", "payload ".repeat(i % 4 + 1)).into_bytes())
        .collect();
    let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
    let good = store(&refs);
    let bounds = store_bounds(&refs);
    let idx = index_for(&refs);
    let n = records.len();
    let mut cases = Cases::default();
    for k in 0..n {
        for bit in [0usize, 1, 3, 7, 20, 40, 63] {
            cases.check(|| {
                let case = format!("record {k}, bit {bit}");
                let dir = format!("f{k}-{bit}");
                let mut bytes = good.clone();
                let at = bounds[k] + 7 - bit / 8;
                bytes[at] ^= 1 << (bit % 8);
                let p = pair(&env, &dir, &bytes, Some(&idx));
                let reads = proglog_reads(&bytes, &idx);
                let (code, v) = verify(&env, &p.store, &[]);
                if k + 1 < n {
                    assert_eq!(
                        (code, &v["status"]),
                        (3, &Value::from("corrupt")),
                        "{case}: {v}"
                    );
                    let d = &v["defects"][0];
                    assert_eq!(
                        (&d["kind"], &d["offset"], &d["next_valid"]),
                        (
                            &Value::from("bad-length"),
                            &Value::from(bounds[k]),
                            &Value::from(bounds[k + 1])
                        ),
                        "{case}: {v}"
                    );
                    assert_eq!(v["records"], n - 1, "{case}: {v}");
                    assert_eq!(v["records_after_damage"], n - k - 1, "{case}: {v}");
                    // dump --resync reads on where verify and salvage do (it was refused for
                    // every proglog file).
                    let (r, objs) = dump(&env, &p.store, &["--resync"]);
                    assert_eq!(r.code, 3, "{case}: dump --resync: {}", r.show());
                    let mut want = refs.clone();
                    want.remove(k);
                    assert_eq!(payloads_of(&objs), want, "{case}: dump --resync");
                    let before = snapshot(env.dir.path(), true);
                    for extra in [&[][..], &["--dry-run"][..]] {
                        let (r, _) = recover(&env, extra, &[&p.store]);
                        assert_eq!(r.code, 3, "{case}: {extra:?}: {}", r.show());
                        assert_unchanged(&env, &before, &format!("{case}: recover {extra:?}"));
                    }
                    let (r, _) = recover(&env, &["--force"], &[&p.store]);
                    assert_eq!(r.code, 0, "{case}: --force: {}", r.show());
                    assert_eq!(fs::read(&p.store).expect("read"), &bytes[..bounds[k]]);
                    assert_eq!(fs::read(&p.index).expect("read"), index_for(&refs[..k]));
                } else {
                    assert_eq!(code, 1, "{case}: {v}");
                    let (r, _) = recover(&env, &[], &[&p.store]);
                    assert_eq!(r.code, 0, "{case}: {}", r.show());
                    let now_store = fs::read(&p.store).expect("read");
                    let now_index = fs::read(&p.index).expect("read");
                    let after = proglog_reads(&now_store, &now_index);
                    for read in &reads {
                        assert!(
                            after.contains(read),
                            "{case}: recover lost record {}",
                            read.0
                        );
                    }
                }
                let rep = verify(&env, &p.store, &[]);
                assert_eq!(rep.0, 0, "{case}: verify after recover: {}", rep.1);
                let before = snapshot(env.dir.path(), true);
                let (r, _) = recover(&env, &[], &[&p.store]);
                assert_eq!(r.code, 0, "{case}: second recover: {}", r.show());
                assert_unchanged(&env, &before, &format!("{case}: second recover"));
                fs::remove_dir_all(env.path(&dir)).expect("rm");
            });
        }
    }
    cases.assert_all_passed(
        "formats::proglog::flipped_length_bit_is_corruption_when_the_index_proves_later_records",
    );
}

/// Guards (regression): in a dry run where only the index is wrong, the store's JSON object
/// said `"status": "clean"` with `"exit_code": 3`, the index's state; each object's exit code
/// is its own (docs/JSON.md), and the process exits with the worst.
#[test]
fn dry_run_objects_carry_their_own_exit_codes() {
    let env = Env::new();
    let st = env.write("seg/0.store", store(&STORE_RECORDS));
    let mut x = index_for(&STORE_RECORDS);
    x[2 * 12 + 11] ^= 1;
    env.write("seg/0.index", &x);
    let (r, objs) = recover(&env, &["--dry-run"], &[&st]);
    assert_eq!(r.code, 3, "{}", r.show());
    assert_eq!(objs.len(), 2, "{}", r.show());
    assert_eq!(
        (&objs[0]["status"], &objs[0]["exit_code"]),
        (&Value::from("clean"), &Value::from(0)),
        "the store: {}",
        objs[0]
    );
    assert_eq!(
        (&objs[1]["outcome"], &objs[1]["exit_code"]),
        (&Value::from("would-rebuild"), &Value::from(3)),
        "the index: {}",
        objs[1]
    );
}

/// The proglog directories of the corpus (files written, and crashed, by proglog itself).
fn corpus_proglog(rel: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/corpus/proglog")
        .join(rel);
    fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// Was a bug: an all-zero file named `.index` (Kafka's preallocated offset index, beside its
/// `.log`) was read as a proglog index alone, and `recover DIR` cut it to 12 bytes, making a
/// `.durable-recovered` directory in Kafka's log directory; an all-zero `.store` beside an
/// all-zero `.index` read as 512 empty records, and recover wrote 512 index entries. Zeros are
/// no one's format: such files are skipped, nothing changes. An all-zero index beside a store
/// whose bytes agree by themselves still pairs (and the torn first append of a new segment,
/// `formats::detect::names_alone_do_not_make_a_log`, is still a torn store).
/// Was a bug (another program's files changed): a `.store` starting with an empty record (8
/// zero bytes) and then bytes whose "length" is far over 4 GiB, beside an all-zero preallocated
/// `.index` (a Kafka-like first segment), was paired as a torn proglog store and `recover DIR`
/// cut it to 8 bytes and rewrote the index. Beside such an index a store's chain must still end
/// in a record proglog could have written; these are left alone.
#[test]
fn a_store_whose_chain_ends_in_an_impossible_length_is_not_paired_with_a_zero_index() {
    let env = Env::new();
    let mut st = vec![0u8; 8];
    st.extend_from_slice(&[0, 0, 0, 0x3d, 0, 0, 0, 2]);
    st.extend_from_slice(&pseudo_random(3000, 5));
    env.write("k/00000000000000000000.store", &st);
    env.write("k/00000000000000000000.index", vec![0u8; 1 << 20]);
    let before = snapshot(env.dir.path(), true);
    let r = run(&env, &["recover", s(&env.path("k"))], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_unchanged(
        &env,
        &before,
        "a store that is not proglog's beside a zero index",
    );
}

#[test]
fn all_zero_files_named_index_or_store_are_not_proglog() {
    let env = Env::new();
    env.write(
        "kafka/__consumer_offsets-7/00000000000000000000.index",
        vec![0u8; 10 << 20],
    );
    env.write("kafka/__consumer_offsets-7/00000000000000000000.log", b"");
    env.write("zz/X.store", [0u8; 4096]);
    env.write("zz/X.index", [0u8; 4096]);
    let before = snapshot(env.dir.path(), true);
    for dir in ["kafka", "zz"] {
        let r = run(&env, &["recover", s(&env.path(dir))], b"");
        assert_eq!(r.code, 0, "{dir}: {}", r.show());
        assert!(!r.out().contains("cut at"), "{dir}: {}", r.show());
        let r = run(&env, &["log", "verify", s(&env.path(dir))], b"");
        assert_eq!(r.code, 0, "{dir}: {}", r.show());
    }
    assert_unchanged(
        &env,
        &before,
        "recover of all-zero files named .index and .store",
    );
    assert!(!env.path("kafka/.durable-recovered").exists());
    for f in [
        "kafka/__consumer_offsets-7/00000000000000000000.index",
        "zz/X.store",
    ] {
        let r = run(&env, &["log", "verify", s(&env.path(f))], b"");
        assert_eq!(r.code, 2, "{f}: {}", r.show());
        assert!(says_not_a_log(&r.stderr), "{f}: {}", r.show());
    }
    // A store that is one by its own bytes pairs with an all-zero index beside it.
    let p = pair(&env, "own", &store(&STORE_RECORDS), Some(&[0u8; 4096]));
    let (code, v) = verify(&env, &p.store, &[]);
    assert_eq!((code, &v["format"]), (1, &Value::from("proglog")), "{v}");
    assert!(v["index"].is_object(), "{v}");
    let r = run(&env, &["recover", s(&p.store)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read(&p.index).expect("read"), index_for(&STORE_RECORDS));
}

/// Was a bug: zeros in a store read with its index were read as empty records (8 zero bytes
/// each). 200 zero bytes after a clean segment's store were 25 records proglog never appended,
/// and recover wrote 39 index entries for them; a store whose last block was lost (zeros to the
/// end) with its index intact was corrupt, "25 valid records after it", all zeros, proven by
/// the index. Zeros to the end of the store that the index does not name as empty records are
/// a zero-fill torn tail, and zero "records" prove nothing; a real empty record the index names
/// is read, at the end of the store too.
#[test]
fn zeros_in_a_store_are_not_records() {
    let env = Env::new();
    let st = corpus_proglog("A_close/0.store");
    let ix = corpus_proglog("A_close/0.index");
    let p = pair(&env, "a", &padded(&st, st.len() + 200), Some(&ix));
    let (code, v) = verify(&env, &p.store, &[]);
    assert_eq!((code, &v["records"]), (1, &Value::from(14)), "{v}");
    assert!(has_defect(&v, "zero-fill", Some(st.len())), "{v}");
    let r = run(&env, &["recover", s(&p.store)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read(&p.store).expect("read"), st);
    assert_eq!(fs::read(&p.index).expect("read"), ix);

    let p = pair(&env, "b", &padded(&st[..1528], 1528 + 650), Some(&ix));
    let (code, v) = verify(&env, &p.store, &[]);
    assert_eq!(
        (code, &v["status"], &v["records_after_damage"]),
        (1, &Value::from("torn-tail"), &Value::from(0)),
        "{v}"
    );
    assert!(has_defect(&v, "zero-fill", Some(1528)), "{v}");
    let r = run(&env, &["recover", s(&p.store)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read(&p.store).expect("read"), &st[..1528]);
    let (code, v) = verify(&env, &p.store, &[]);
    assert_eq!((code, &v["records"]), (0, &Value::from(9)), "{v}");

    // Real empty records, named by the index: in the middle (STORE_RECORDS[2]) and at the end.
    let recs: [&[u8]; 3] = [b"one", b"", b""];
    for (dir, records) in [("c", &STORE_RECORDS[..]), ("d", &recs[..])] {
        let p = pair(
            &env,
            dir,
            &store(records),
            Some(&padded(&index_for(records), INDEX_MAX)),
        );
        let (code, v) = verify(&env, &p.store, &[]);
        assert_eq!(
            (code, &v["records"], &v["status"]),
            (1, &Value::from(records.len()), &Value::from("torn-tail")),
            "{dir}: {v}"
        );
        assert!(
            v["defects"]
                .as_array()
                .expect("defects")
                .iter()
                .all(|d| d["file"] == "index"),
            "{dir}: {v}"
        );
        let r = run(&env, &["recover", s(&p.store)], b"");
        assert_eq!(r.code, 0, "{}", r.show());
        assert_eq!(fs::read(&p.store).expect("read"), store(records));
        assert_eq!(fs::read(&p.index).expect("read"), index_for(records));
    }
}

/// Was a bug: one flipped bit in entry 0 of a segment's own index unpaired it (pairing needed
/// its first 12 bytes zero): recover cut the store, left the broken index as it was (exit 0),
/// and proglog still failed on it. An index one of whose later entries is exactly the entry
/// the store calls for (its number, the position of that record) is the store's: paired, and
/// rebuilt.
#[test]
fn own_index_with_a_damaged_entry_0_is_paired_and_rebuilt() {
    let env = Env::new();
    let st = corpus_proglog("B_selfkill/50.store");
    let mut ix = corpus_proglog("B_selfkill/50.index");
    ix[11] ^= 1;
    let p = pair(&env, "f0", &st, Some(&ix));
    let (code, v) = verify(&env, &p.store, &[]);
    assert_eq!(code, 3, "{v}");
    assert!(v["index"].is_object(), "paired: {v}");
    let r = run(&env, &["recover", s(&env.path("f0"))], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(r.out().contains("index rebuilt"), "{}", r.show());
    let (code, v) = verify(&env, &p.store, &[]);
    assert_eq!(
        (code, &v["index_status"]),
        (0, &Value::from("clean")),
        "{v}"
    );
    assert_eq!(fs::read(&p.index).expect("read")[..12], [0u8; 12]);
}

/// Was a bug: the "another store's index" rule (no entry of the first 64 names its record's
/// position) was wrong both ways: a 2-record segment's own index with entry 1 flipped was
/// refused as another store's (exit 3), and another store's index with one entry that happens
/// to coincide was rebuilt without `--force`. Now at least 2 entries are compared (inside the
/// store, for records it has) and fewer than half of them match; `log verify --json` says so in
/// `index_foreign`.
#[test]
fn another_stores_index_is_told_by_most_of_its_entries() {
    let env = Env::new();
    let st = corpus_proglog("A_close/0.store");
    let mut ix = corpus_proglog("A_close/0.index")[..24].to_vec();
    ix[23] ^= 3;
    let two = pair(&env, "two", &st[..77], Some(&ix));
    let (code, v) = verify(&env, &two.store, &[]);
    assert_eq!((code, &v["index_foreign"]), (3, &Value::from(false)), "{v}");
    let r = run(&env, &["recover", s(&env.path("two"))], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(
        fs::read(&two.index).expect("read"),
        &corpus_proglog("A_close/0.index")[..24]
    );

    let x = env.write("x/114.store", corpus_proglog("A_close/114.store"));
    let theirs = env.write("x/114.index", corpus_proglog("A_close/187.index"));
    let (code, v) = verify(&env, &x, &[]);
    assert_eq!((code, &v["index_foreign"]), (3, &Value::from(true)), "{v}");
    let before = snapshot(env.dir.path(), true);
    let r = run(&env, &["recover", s(&env.path("x"))], b"");
    assert_eq!(r.code, 3, "{}", r.show());
    assert!(r.out().contains("another store's"), "{}", r.show());
    assert_unchanged(
        &env,
        &before,
        "another store's index with one coinciding entry",
    );
    assert_eq!(
        fs::read(&theirs).expect("read"),
        corpus_proglog("A_close/187.index")
    );
}

/// Was a bug: an entry whose relative offset was zeroed was reported as "entry 1 holds position
/// 19; record 1 is at 19" (self-contradictory), and a zeroed entry with entries after it as
/// every record from there on missing. The report names the wrong relative offset (JSON
/// `found_offset`) and counts only the records without an entry.
#[test]
fn index_defects_say_what_is_wrong() {
    let env = Env::new();
    let mut ix = index_for(&STORE_RECORDS);
    ix[12..16].fill(0);
    let p = pair(&env, "rel", &store(&STORE_RECORDS), Some(&ix));
    let r = run(&env, &["log", "verify", s(&p.store)], b"");
    assert_eq!(r.code, 3, "{}", r.show());
    assert!(
        r.out()
            .contains("entry 1 holds relative offset 0, not 1; its position 13 is right"),
        "{}",
        r.show()
    );
    let (_, v) = verify(&env, &p.store, &[]);
    assert_eq!(v["defects"][0]["found_offset"], 0, "{v}");
    let mut ix = index_for(&STORE_RECORDS);
    ix[12..24].fill(0);
    let p = pair(&env, "zeroed", &store(&STORE_RECORDS), Some(&ix));
    let (code, v) = verify(&env, &p.store, &[]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["defects"][0]["records_without_entry"], 1, "{v}");
}

/// The store's chain of complete records from the start: (position, end) of each.
fn chain_of(store_bytes: &[u8]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while let Some(len) = store_bytes.get(pos..pos + 8) {
        let len = u64::from_be_bytes(len.try_into().expect("8"));
        let Some(end) = usize::try_from(len)
            .ok()
            .and_then(|l| (pos + 8).checked_add(l))
            .filter(|e| *e <= store_bytes.len())
        else {
            break;
        };
        out.push((pos as u64, end as u64));
        pos = end;
    }
    out
}

/// The ends of the records an index proves in a (damaged) store: entry `j` is (`j`, `p`) (zeroed
/// entries name nothing), the store has a record at `p` that is not empty (a zeroed length
/// proves nothing), and it ends where entry `j + 1` starts, if that entry names anything.
fn proven_ends(store_bytes: &[u8], index_bytes: &[u8]) -> Vec<u64> {
    let entries: Vec<Option<u64>> = index_bytes
        .chunks_exact(12)
        .enumerate()
        .map(|(j, e)| {
            let rel = u64::from(u32::from_be_bytes(e[..4].try_into().expect("4")));
            let p = u64::from_be_bytes(e[4..].try_into().expect("8"));
            (rel == j as u64 && (j == 0 || p != 0)).then_some(p)
        })
        .collect();
    let mut ends = Vec::new();
    for (j, p) in entries.iter().enumerate() {
        let Some(p) = p.and_then(|p| usize::try_from(p).ok()) else {
            continue;
        };
        let Some(len) = store_bytes.get(p..p.saturating_add(8)) else {
            continue;
        };
        let len = u64::from_be_bytes(len.try_into().expect("8"));
        let end = (p as u64 + 8).saturating_add(len);
        if len == 0 || end > store_bytes.len() as u64 {
            continue;
        }
        if entries
            .get(j + 1)
            .copied()
            .flatten()
            .is_none_or(|next| next == end)
        {
            ends.push(end);
        }
    }
    ends
}

/// A damaged copy of a corpus segment: (case, store, index, the index whose proof counts).
type Damaged = (String, Vec<u8>, Vec<u8>, Vec<u8>);

/// Guards: zeroed 512-byte sectors of every store of the proglog corpus (written and crashed
/// by proglog itself), zeroed runs of 1 to 3 index entries, and a damaged length with 1 to 3
/// zeroed entries right after it: `recover` (without --force)
/// never cuts a record the intact index still proves, and never writes an index entry for a
/// record that is not in the store (every entry it writes is one the undamaged store calls
/// for). Was a bug: a zeroed sector inside a store chained as empty "records" (8 zero bytes
/// each) that outvoted the index, and recover cut the records after them and wrote index
/// entries for the phantoms; a damaged length followed by zeroed index entries stopped the
/// index proving the records after it, and recover cut them. Through the library (dry runs
/// would not show the index written), no sync, no sidecars, to stay fast.
#[test]
fn zeroed_sectors_and_index_entries_never_cost_proven_records() {
    use durable::recover::{IndexAction, LogAction, RecoverOptions, recover_log};
    let env = Env::new();
    let opts = RecoverOptions {
        no_backup: true,
        sync: durable::SyncLevel::None,
        ..RecoverOptions::default()
    };
    let mut cases = 0usize;
    let mut failures = Vec::new();
    for dir in ["A_close", "B_selfkill", "C_reopen_kill"] {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/corpus/proglog")
            .join(dir);
        let mut bases: Vec<String> = fs::read_dir(&root)
            .expect("read_dir")
            .filter_map(|e| {
                let name = e.expect("entry").file_name().into_string().ok()?;
                name.strip_suffix(".store").map(str::to_owned)
            })
            .collect();
        bases.sort();
        for base in bases {
            let st = corpus_proglog(&format!("{dir}/{base}.store"));
            let ix = corpus_proglog(&format!("{dir}/{base}.index"));
            let truth: Vec<[u8; 12]> = chain_of(&st)
                .iter()
                .enumerate()
                .map(|(i, &(pos, _))| {
                    let mut e = [0u8; 12];
                    e[..4].copy_from_slice(&(i as u32).to_be_bytes());
                    e[4..].copy_from_slice(&pos.to_be_bytes());
                    e
                })
                .collect();
            let used = ix
                .chunks_exact(12)
                .enumerate()
                .take_while(|(j, e)| *j == 0 || e.iter().any(|b| *b != 0))
                .count();
            // (case, store, index, the index whose proof counts: the intact one, or for a damaged
            // length the damaged one, all that is left to prove anything).
            let mut damaged: Vec<Damaged> = Vec::new();
            for sector in 0..st.len().div_ceil(512) {
                let mut s = st.clone();
                let to = (sector * 512 + 512).min(s.len());
                s[sector * 512..to].fill(0);
                damaged.push((
                    format!("{dir}/{base}.store sector {sector}"),
                    s,
                    ix.clone(),
                    ix.clone(),
                ));
            }
            // Runs from every entry of the small indexes, every 3rd or 8th of the larger ones
            // (to stay fast: about 4 s of CPU in a debug build).
            let stride = match used {
                0..=20 => 1,
                21..=100 => 3,
                _ => 8,
            };
            for first in (0..used).step_by(stride) {
                for n in 1..=3 {
                    let mut x = ix.clone();
                    let to = ((first + n) * 12).min(x.len());
                    x[first * 12..to].fill(0);
                    damaged.push((
                        format!("{dir}/{base}.index entries {first}+{n}"),
                        st.clone(),
                        x,
                        ix.clone(),
                    ));
                }
            }
            // A damaged length (a huge one) with zeroed index entries right after it.
            let records = chain_of(&st);
            for (k, &(pos, _)) in records.iter().enumerate().step_by(stride) {
                let n = 1 + k % 3;
                let mut s = st.clone();
                // A length under 4 GiB (proglog could write it): the pair is still detected.
                s[pos as usize + 5] ^= 0xff;
                let mut x = ix.clone();
                let from = ((k + 1) * 12).min(x.len());
                let to = ((k + 1 + n) * 12).min(x.len());
                x[from..to].fill(0);
                damaged.push((
                    format!("{dir}/{base}.store length {k}, entries {}+{n}", k + 1),
                    s,
                    x.clone(),
                    x,
                ));
            }
            // One directory per segment, its two files written over for each case.
            let seg = env.path(&format!("{dir}-{base}"));
            fs::create_dir(&seg).expect("mkdir");
            let sp = seg.join(format!("{base}.store"));
            let xp = seg.join(format!("{base}.index"));
            for (case, s, x, proof) in damaged {
                cases += 1;
                fs::write(&sp, &s).expect("write");
                fs::write(&xp, &x).expect("write");
                // Another test's child process, between its fork and exec, may still hold the
                // descriptor (and so the lock) of the case before: retried, briefly.
                let mut result = recover_log(&sp, &opts, &mut ());
                for _ in 0..50 {
                    if !matches!(result, Err(durable::Error::InUse { .. })) {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    result = recover_log(&sp, &opts, &mut ());
                }
                let r = match result {
                    Ok(r) => r,
                    Err(e) => {
                        failures.push(format!("{case}: recover failed: {e}"));
                        continue;
                    }
                };
                if matches!(r.action, LogAction::Truncated) {
                    let lost: Vec<u64> = proven_ends(&s, &proof)
                        .into_iter()
                        .filter(|e| *e > r.bytes_kept)
                        .collect();
                    if !lost.is_empty() {
                        failures.push(format!(
                            "{case}: cut at {} records the index proves (ending at {lost:?})",
                            r.bytes_kept
                        ));
                    }
                }
                if r.index
                    .as_ref()
                    .is_some_and(|i| i.action == IndexAction::Rebuilt)
                {
                    let now = fs::read(&xp).expect("read");
                    let bad = now
                        .chunks(12)
                        .enumerate()
                        .find(|(k, e)| truth.get(*k).is_none_or(|t| t[..] != e[..]));
                    if let Some((k, e)) = bad {
                        failures.push(format!(
                            "{case}: rebuilt entry {k} {} names no record of the store",
                            hex::encode(e)
                        ));
                    }
                }
            }
        }
    }
    assert!(cases > 1200, "{cases} cases");
    assert!(
        failures.is_empty(),
        "{} of {cases} cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The corpus segment `dir/base` copied into `seg/` of the scratch directory, its store and
/// index changed by `damage`.
fn damaged_corpus_pair(
    env: &Env,
    dir: &str,
    base: &str,
    damage: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>),
) -> (Pair, Vec<u8>, Vec<u8>) {
    let mut st = corpus_proglog(&format!("{dir}/{base}.store"));
    let mut ix = corpus_proglog(&format!("{dir}/{base}.index"));
    damage(&mut st, &mut ix);
    let store = env.write(&format!("seg/{base}.store"), &st);
    let index = env.write(&format!("seg/{base}.index"), &ix);
    (Pair { store, index }, st, ix)
}

/// Corruption in the middle of a proglog store: recover without --force (and --dry-run)
/// changes nothing, the index included; salvage copies `want` (the records proglog reads
/// around the damage); --force cuts at `damage`, keeping the rest in the sidecar, and rebuilds
/// the index for what is left, with no entry past the cut.
#[track_caller]
fn refused_salvaged_forced(env: &Env, p: &Pair, st: &[u8], damage: usize, want: &[Vec<u8>]) {
    let before = snapshot(env.dir.path(), true);
    for extra in [&[][..], &["--dry-run"][..]] {
        let (r, _) = recover(env, extra, &[&p.store]);
        assert_eq!(r.code, 3, "recover {extra:?}: {}", r.show());
        assert_unchanged(env, &before, &format!("recover {extra:?}"));
    }
    let dst = env.path("salvaged.log");
    let r = run(env, &["log", "salvage", s(&p.store), s(&dst)], b"");
    assert_eq!(r.code, 0, "salvage: {}", r.show());
    let (r, objs) = dump(env, &dst, &[]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(payloads_of(&objs), want, "salvaged records");
    let (r, _) = recover(env, &["--force"], &[&p.store]);
    assert_eq!(r.code, 0, "recover --force: {}", r.show());
    assert_eq!(fs::read(&p.store).expect("read"), &st[..damage]);
    assert_eq!(
        read_sidecar(&sidecar(&p.store, damage)).expect("sidecar"),
        &st[damage..],
        "the sidecar keeps everything removed"
    );
    let index = fs::read(&p.index).expect("read");
    let chain = chain_of(&st[..damage]);
    assert_eq!(index.len(), chain.len() * 12, "rebuilt index");
    let (code, v) = verify(env, &p.store, &[]);
    assert_eq!(code, 0, "verify after --force: {v}");
}

/// Was a bug: a zeroed 512-byte sector inside a store (records 9 and 10 of corpus segment
/// A_close/176 lose their lengths; record 10's data after the sector is intact) read as 47
/// empty "records" of 8 zero bytes, outnumbering the index's 11 entries: verify called it a
/// torn tail at 2042 with 45 records missing from the index, and recover cut the data after
/// it and rebuilt the index with 56 entries (past the next segment's base offset, 187). Zeros
/// the index contradicts, with bytes after them that were written, are damage in the middle:
/// corrupt (exit 3) at the first zeroed length, no phantom records, recover refuses without
/// --force.
#[test]
fn a_zeroed_sector_inside_a_store_does_not_outvote_its_index() {
    let env = Env::new();
    let (p, st, _) = damaged_corpus_pair(&env, "A_close", "176", |st, _| {
        st[1536..2048].fill(0);
    });
    let (code, v) = verify(&env, &p.store, &[]);
    assert_eq!(
        (code, &v["status"], &v["records"]),
        (3, &Value::from("corrupt"), &Value::from(9)),
        "{v}"
    );
    assert!(has_defect(&v, "bad-length", Some(1666)), "{v}");
    assert!(!has_defect(&v, "index-missing", None), "{v}");
    let d = &v["defects"][0];
    assert_eq!(d["next_valid"], Value::Null, "{v}");
    let r = run(&env, &["log", "verify", s(&p.store)], b"");
    assert!(r.out().contains("offset 2048"), "{}", r.show());
    let want: Vec<Vec<u8>> = proglog_reads(&st, &corpus_proglog("A_close/176.index"))
        .into_iter()
        .take(9)
        .map(|(_, d)| d)
        .collect();
    refused_salvaged_forced(&env, &p, &st, 1666, &want);
    assert_eq!(
        fs::read(&p.index).expect("read"),
        corpus_proglog("A_close/176.index")[..9 * 12]
    );
}

/// Was a bug: a damaged length (record 1 of corpus segment B_selfkill/50) with index entries
/// 2 to 4 zeroed right after it: the search for an entry proving a later record stopped at the
/// first zeroed entry, so verify called it a torn tail at 72 and recover cut the 45 records
/// after it that proglog still reads. Zeroed entries are stepped over: entry 5 proves record 5,
/// corrupt (exit 3), bad-length at 72; recover refuses without --force, salvage keeps the
/// proven records. Was a bug too: reading went on at record 5, so salvage kept 43 of the 46
/// whole records, skipping records 2 to 4, which the store's chain leads from the damage into
/// record 5 (exactly the 3 records the index puts between): the next valid record is 181.
#[test]
fn zeroed_index_entries_after_a_damaged_length_do_not_stop_the_proof() {
    let env = Env::new();
    let (p, st, _) = damaged_corpus_pair(&env, "B_selfkill", "50", |st, ix| {
        st[77] ^= 0xff;
        ix[24..60].fill(0);
    });
    let (code, v) = verify(&env, &p.store, &[]);
    assert_eq!((code, &v["status"]), (3, &Value::from("corrupt")), "{v}");
    let d = &v["defects"][0];
    assert_eq!(
        (&d["kind"], &d["offset"], &d["next_valid"]),
        (
            &Value::from("bad-length"),
            &Value::from(72),
            &Value::from(181)
        ),
        "{v}"
    );
    // Records 2 to 46 (the last whole one): proven, read after the damage.
    assert_eq!(v["records_after_damage"], 45, "{v}");
    // (Read through the intact index: the damaged one names record 0 for entries 2 to 4.)
    let reads = proglog_reads(&st, &corpus_proglog("B_selfkill/50.index"));
    let want: Vec<Vec<u8>> = reads
        .iter()
        .filter(|(i, _)| *i == 0 || (2..47).contains(i))
        .map(|(_, d)| d.clone())
        .collect();
    refused_salvaged_forced(&env, &p, &st, 72, &want);
}

/// `n` records of 56 bytes (`r00000-xxx…`), 64 in the store each: (records, store, index).
fn sixty_four_byte_records(n: usize) -> (Vec<Vec<u8>>, Vec<u8>, Vec<u8>) {
    let records: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let mut d = format!("r{i:05}-").into_bytes();
            d.resize(56, b'x');
            d
        })
        .collect();
    let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
    let (st, ix) = (store(&refs), index_for(&refs));
    (records, st, ix)
}

/// The records numbered in `keep`.
fn numbered(records: &[Vec<u8>], keep: impl Fn(usize) -> bool) -> Vec<Vec<u8>> {
    records
        .iter()
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .map(|(_, r)| r.clone())
        .collect()
}

/// Was a bug: a zeroed sector (records 8 to 15) inside a store whose index has only its first
/// 8 entries (then padding: a crashed index names nothing there) read as 64 empty records:
/// verify said 88 records with 80 missing from the index (exit 1), and recover (without
/// --force) rebuilt the index with 88 entries, 64 for phantom records, renumbering the real
/// ones after them. A run of zeros covering an aligned sector with written bytes after it is
/// damage: bad-length at 512, the records after it found again from the store's own chain
/// (1024, which chains to the end); recover refuses, salvage keeps the 24 real records,
/// --force cuts at 512.
#[test]
fn a_zeroed_sector_the_index_does_not_reach_is_no_empty_records() {
    let env = Env::new();
    let (records, mut st, ix) = sixty_four_byte_records(32);
    st[512..1024].fill(0);
    let mut x = ix[..96].to_vec();
    x.resize(1024, 0);
    let p = pair(&env, "r4", &st, Some(&x));
    let (code, v) = verify(&env, &p.store, &[]);
    assert_eq!((code, &v["status"]), (3, &Value::from("corrupt")), "{v}");
    let d = &v["defects"][0];
    assert_eq!(
        (&d["kind"], &d["offset"], &d["next_valid"]),
        (
            &Value::from("bad-length"),
            &Value::from(512),
            &Value::from(1024)
        ),
        "{v}"
    );
    assert_eq!(v["records"], 24, "{v}");
    let want = numbered(&records, |i| !(8..16).contains(&i));
    refused_salvaged_forced(&env, &p, &st, 512, &want);
}

/// Was a bug: a zeroed sector (records 8 to 15) with the index entries over it zeroed too
/// (entries 8 to 30: a lost page of the memory-mapped index): the zeros chained as empty
/// records, as many as the index's entry count, so verify put the damage at 688 (not 512),
/// salvage copied 22 empty phantoms and skipped real records, and recover --force kept
/// phantoms with index entries. Now bad-length at 512, the records after it found again at
/// 1024 (their chain meets entry 31), no phantom anywhere.
#[test]
fn a_zeroed_sector_under_zeroed_index_entries_is_no_empty_records() {
    let env = Env::new();
    let (records, mut st, mut ix) = sixty_four_byte_records(40);
    ix[8 * 12..31 * 12].fill(0);
    st[512..1024].fill(0);
    let p = pair(&env, "r5", &st, Some(&ix));
    let (code, v) = verify(&env, &p.store, &[]);
    assert_eq!((code, &v["status"]), (3, &Value::from("corrupt")), "{v}");
    let d = &v["defects"][0];
    assert_eq!(
        (&d["kind"], &d["offset"], &d["next_valid"]),
        (
            &Value::from("bad-length"),
            &Value::from(512),
            &Value::from(1024)
        ),
        "{v}"
    );
    assert_eq!(v["records"], 32, "{v}");
    let (r, objs) = dump(&env, &p.store, &["--resync"]);
    assert_eq!(r.code, 3, "{}", r.show());
    assert!(
        objs.iter()
            .filter(|o| o.get("length").is_some())
            .all(|o| o["length"] != 0),
        "no empty record: {objs:?}"
    );
    let want = numbered(&records, |i| !(8..16).contains(&i));
    refused_salvaged_forced(&env, &p, &st, 512, &want);
}

/// Was a bug: a damaged length (record 10 runs past the end) with index entries 11 to 30
/// zeroed: the 16-entry search for an entry proving later records counted the zeroed ones and
/// still reads. Zeroed entries are not counted: entry 31 proves record 31, corruption (exit 3),
/// recover refuses. Salvage keeps records 0 to 9 and 11 to 31: the store's chain from 704 runs
/// through the 20 records the index puts between into record 31 (it kept only 31 before).
#[test]
fn zeroed_index_entries_do_not_use_up_the_search_for_proof() {
    let env = Env::new();
    let (records, mut st, mut ix) = sixty_four_byte_records(32);
    st[646] ^= 0x10;
    ix[132..372].fill(0);
    let p = pair(&env, "r6", &st, Some(&ix));
    let (code, v) = verify(&env, &p.store, &[]);
    assert_eq!((code, &v["status"]), (3, &Value::from("corrupt")), "{v}");
    let d = &v["defects"][0];
    assert_eq!(
        (&d["kind"], &d["offset"], &d["next_valid"]),
        (
            &Value::from("bad-length"),
            &Value::from(640),
            &Value::from(704)
        ),
        "{v}"
    );
    let want = numbered(&records, |i| i != 10);
    refused_salvaged_forced(&env, &p, &st, 640, &want);
}

/// Guards: real empty records (proglog appends zero-length ones) are records: 3 in the middle
/// and 3 at the end of a store, its index intact, are clean, with the index and without; so
/// are 63 in a row (504 bytes: they cover no aligned 512-byte sector).
#[test]
fn a_few_real_empty_records_are_clean() {
    let env = Env::new();
    let few: Vec<&[u8]> = vec![b"one", b"two", b"", b"", b"", b"three", b"", b"", b""];
    let mut row: Vec<&[u8]> = vec![b"one"];
    row.extend(std::iter::repeat_n(&b""[..], 63));
    row.push(b"two");
    for (case, rs) in [("few", few), ("row", row)] {
        let st = store(&rs);
        let ix = index_for(&rs);
        for with_index in [true, false] {
            let dir = format!("{case}-{with_index}");
            let p = pair(&env, &dir, &st, with_index.then_some(&ix[..]));
            let (code, v) = verify(&env, &p.store, &[]);
            assert_eq!(code, 0, "{dir}: {v}");
            assert_eq!(v["records"], rs.len(), "{dir}: {v}");
        }
    }
}

/// One damaged store (and its index, or none) read by every command through the library:
/// returns a description of each way they disagree, invent a record or lose one.
/// `original`: the undamaged store, whose chain of records is the truth; `must_keep`: records
/// (position, end) that the index or the store's chain into a proven record proves, which
/// salvage must copy; `seg`: the scratch directory the files are written into.
fn read_every_way(
    seg: &Path,
    base: &str,
    store_bytes: &[u8],
    index_bytes: Option<&[u8]>,
    original: &[(u64, u64)],
    must_keep: &[(u64, u64)],
) -> Vec<String> {
    use durable::log::{self, Item, LogFormat, OnDamage, OpenOptions, Status};
    use durable::recover::{LogAction, RecoverOptions, recover_log};
    let mut bad = Vec::new();
    let _ = fs::remove_dir_all(seg);
    fs::create_dir_all(seg).expect("mkdir");
    let sp = seg.join(format!("{base}.store"));
    fs::write(&sp, store_bytes).expect("write");
    if let Some(x) = index_bytes {
        fs::write(seg.join(format!("{base}.index")), x).expect("write");
    }
    let named = OpenOptions {
        format: Some(LogFormat::Proglog),
        ..OpenOptions::default()
    };
    // dump --resync (the records read on after damage), and verify.
    let input = match log::open(&sp, &named) {
        Ok(i) => i,
        Err(e) => return vec![format!("open: {e}")],
    };
    let mut read = Vec::new();
    let mut reader = input.reader(OnDamage::Resync);
    loop {
        match reader.next_item() {
            Ok(Item::Record(r)) => read.push((r.offset, r.end)),
            Ok(Item::Defect(_)) => {}
            Ok(Item::End) => break,
            Err(e) => return vec![format!("read: {e}")],
        }
        if read.len() > store_bytes.len() {
            return vec!["the reader does not end".into()];
        }
    }
    drop(reader);
    let v = log::verify_open(&input, |_, _| {}).expect("verify");
    drop(input);
    // Never a record the store was not written with (an empty one in the zeros above all).
    // (A store alone has nothing to tell zeros to its end from empty records by: read as
    // records, docs/FORMAT.md.)
    // With the index, zeros to the end where its last entry names a record (its length lost
    // with the sector) are that record, empty: what the index names is kept.
    let zero_tail = |p: u64| {
        (index_bytes.is_none() || original.iter().any(|r| r.0 == p))
            && store_bytes[p as usize..].iter().all(|b| *b == 0)
    };
    // A store alone has no index to tell a record whose length was zeroed from its data read
    // as a length by chance when the chain after it holds: such a "record", ending where a
    // written one ends, is read (docs/FORMAT.md, a known limit); never with the index.
    let piece = |r: &(u64, u64)| index_bytes.is_none() && original.iter().any(|o| r.1 == o.1);
    if let Some(r) = read
        .iter()
        .find(|r| !original.contains(r) && !zero_tail(r.0) && !piece(r))
    {
        bad.push(format!("read a record that was never written: {r:?}"));
    }
    if v.records != read.len() as u64 {
        bad.push(format!(
            "verify counts {} records, dump --resync reads {}",
            v.records,
            read.len()
        ));
    }
    for r in must_keep {
        if !read.contains(r) {
            bad.push(format!("a proven record is not read: {r:?}"));
        }
    }
    // salvage copies exactly what is read.
    let dst = seg.with_extension("salvaged");
    let _ = fs::remove_file(&dst);
    match durable::recover::salvage(
        &sp,
        &dst,
        Some(LogFormat::Proglog),
        durable::SyncLevel::None,
        &mut (),
    ) {
        Ok(s) if s.records != read.len() as u64 => bad.push(format!(
            "salvage copies {} records, dump --resync reads {}",
            s.records,
            read.len()
        )),
        Ok(_) => {}
        Err(e) => bad.push(format!("salvage: {e}")),
    }
    let _ = fs::remove_file(&dst);
    // recover --dry-run agrees with verify; recover --force leaves a log verify calls clean,
    // holding only records that were written.
    let opts = RecoverOptions {
        no_backup: true,
        sync: durable::SyncLevel::None,
        format: Some(LogFormat::Proglog),
        ..RecoverOptions::default()
    };
    let dry = RecoverOptions {
        dry_run: true,
        ..opts.clone()
    };
    // Another test's child process, between its fork and exec, may still hold the descriptor
    // (and so the lock) of the case before: retried, briefly.
    let recover_log = |path: &Path, o: &RecoverOptions, obs: &mut ()| {
        let mut result = recover_log(path, o, obs);
        for _ in 0..50 {
            if !matches!(result, Err(durable::Error::InUse { .. })) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            result = recover_log(path, o, obs);
        }
        result
    };
    match recover_log(&sp, &dry, &mut ()) {
        Ok(r) => {
            let agrees = match v.status {
                Status::Clean => {
                    matches!(r.action, LogAction::Clean | LogAction::WouldTruncate)
                        && r.bytes_kept == store_bytes.len() as u64
                }
                Status::TornTail => {
                    r.action == LogAction::WouldTruncate && r.bytes_kept == v.valid_end
                }
                Status::Corrupt => r.action == LogAction::Refused,
            };
            if !agrees || r.status != v.status {
                bad.push(format!(
                    "recover --dry-run {:?} {:?} kept {}, verify {:?} valid_end {}",
                    r.status, r.action, r.bytes_kept, v.status, v.valid_end
                ));
            }
        }
        Err(e) => bad.push(format!("recover --dry-run: {e}")),
    }
    let force = RecoverOptions {
        force: true,
        ..opts.clone()
    };
    match recover_log(&sp, &force, &mut ()) {
        Ok(_) => match log::open(&sp, &named).and_then(|i| log::verify_open(&i, |_, _| {})) {
            Ok(after) if after.status != Status::Clean => {
                bad.push(format!("after recover --force: {:?}", after.status))
            }
            Ok(after) => {
                let kept = chain_of(&fs::read(&sp).expect("read"));
                if after.records != kept.len() as u64
                    || kept
                        .iter()
                        .any(|r| !original.contains(r) && !zero_tail(r.0) && !piece(r))
                {
                    bad.push(format!(
                        "recover --force kept records never written: {kept:?}"
                    ));
                }
            }
            Err(e) => bad.push(format!("verify after recover --force: {e}")),
        },
        Err(e) => bad.push(format!("recover --force: {e}")),
    }
    bad
}

/// Guards: every aligned 512-byte sector of every store of the proglog corpus zeroed, wherever
/// it starts (inside a record's data, over the next records' lengths, or at a record), with
/// the store's index and without it; and a damaged length (record `k`) with 1 to 3 index
/// entries after it zeroed. `log dump --resync`, `log verify`, `log salvage`, `recover
/// --dry-run` and `recover --force` (through the library) agree: no record that was never
/// written is read (no empty record in the zeros), verify counts and salvage copies what dump
/// reads, recover --dry-run says what verify says, --force leaves a clean log of written
/// records; with the index, every record the index proves, and every record the store's chain
/// leads from the damage into a proven one, is read and salvaged. Was a bug: a sector zeroed
/// from inside a record's data read as dozens of empty records (a store alone: a torn tail,
/// recover cut the records after it); records between a damaged length and the first index
/// entry after zeroed ones were skipped by salvage.
#[test]
fn zeroed_sectors_anywhere_and_damaged_lengths_agree_across_commands() {
    let env = Env::new();
    let mut cases = 0usize;
    let mut failures = Vec::new();
    for dir in ["A_close", "B_selfkill", "C_reopen_kill"] {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/corpus/proglog")
            .join(dir);
        let mut bases: Vec<String> = fs::read_dir(&root)
            .expect("read_dir")
            .filter_map(|e| {
                let name = e.expect("entry").file_name().into_string().ok()?;
                name.strip_suffix(".store").map(str::to_owned)
            })
            .collect();
        bases.sort();
        for base in bases {
            let st = corpus_proglog(&format!("{dir}/{base}.store"));
            let ix = corpus_proglog(&format!("{dir}/{base}.index"));
            let original = chain_of(&st);
            let seg = env.path(&format!("every-{dir}-{base}"));
            for sector in (0..st.len()).step_by(512) {
                let to = (sector + 512).min(st.len());
                let mut s = st.clone();
                s[sector..to].fill(0);
                for with_index in [true, false] {
                    // Proven: records the index names whose bytes are untouched.
                    let must_keep: Vec<(u64, u64)> = if with_index {
                        let ends = proven_ends(&s, &ix);
                        original
                            .iter()
                            .filter(|(p, e)| {
                                ends.contains(e) && (*e as usize <= sector || *p as usize >= to)
                            })
                            .copied()
                            .collect()
                    } else {
                        Vec::new()
                    };
                    cases += 1;
                    for f in read_every_way(
                        &seg,
                        &base,
                        &s,
                        with_index.then_some(&ix[..]),
                        &original,
                        &must_keep,
                    ) {
                        failures.push(format!(
                            "{dir}/{base} sector {sector} {}: {f}",
                            if with_index { "paired" } else { "alone" }
                        ));
                    }
                }
            }
            // A damaged length with index entries after it zeroed: every other whole record
            // is proven (by its entry, or by the chain into the first proven one).
            let stride = if original.len() > 100 { 7 } else { 1 };
            let used = ix.len() / 12;
            for (k, &(pos, _)) in original.iter().enumerate().step_by(stride) {
                if k + 4 >= original.len() || k + 4 >= used {
                    continue;
                }
                let n = 1 + k % 3;
                let mut s = st.clone();
                s[pos as usize + 5] ^= 0xff;
                let mut x = ix.clone();
                x[(k + 1) * 12..(k + 1 + n) * 12].fill(0);
                let must_keep: Vec<(u64, u64)> = original
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != k && *i < used)
                    .map(|(_, r)| *r)
                    .collect();
                cases += 1;
                for f in read_every_way(&seg, &base, &s, Some(&x), &original, &must_keep) {
                    failures.push(format!(
                        "{dir}/{base} length {k}, entries {}+{n}: {f}",
                        k + 1
                    ));
                }
            }
        }
    }
    assert!(cases > 600, "{cases} cases");
    assert!(
        failures.is_empty(),
        "{} of {cases} cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Was a bug: an aligned sector zeroed from inside a record's data (1024 to 1536 of corpus
/// segment A_close/176: the end of record 5's data, the lengths of records 6 to 8) read, in
/// the store alone, as 57 empty records then a torn tail at 1534, which recover cut with the
/// two records after it. The zeros are the sector, not the part after the record boundary:
/// bad-length at 1078, no empty record, recover refuses, and its hints (the format named, as
/// detection does not find the damaged store) work as printed. With the index, the same
/// defect, records 9 and 10 proven after it.
#[test]
fn a_sector_zeroed_from_inside_a_record_is_no_empty_records() {
    let env = Env::new();
    let st = corpus_proglog("A_close/176.store");
    let ix = corpus_proglog("A_close/176.index");
    let mut damaged = st.clone();
    damaged[1024..1536].fill(0);
    let reads = proglog_reads(&damaged, &ix);
    // Records 0 to 5 (record 5's data partly zeroed: no checksum tells) are read.
    let before: Vec<Vec<u8>> = reads.iter().take(6).map(|(_, d)| d.clone()).collect();

    // The store alone.
    let p = pair(&env, "alone", &damaged, None);
    let named = ["--log-format", "proglog"];
    let (code, v) = verify(&env, &p.store, &named);
    assert_eq!((code, &v["status"]), (3, &Value::from("corrupt")), "{v}");
    assert!(has_defect(&v, "bad-length", Some(1078)), "{v}");
    let (r, objs) = dump(&env, &p.store, &named);
    assert_eq!(r.code, 3, "{}", r.show());
    assert_eq!(payloads_of(&objs), before, "no empty record");
    let r = run(
        &env,
        &["recover", "--log-format", "proglog", s(&p.store)],
        b"",
    );
    assert_eq!(r.code, 3, "{}", r.show());
    assert_eq!(fs::read(&p.store).expect("read"), damaged, "not changed");
    // The hints, run as printed (the commands between backquotes).
    let out = r.out();
    let commands: Vec<&str> = out.split('`').skip(1).step_by(2).collect();
    let salvage = commands
        .iter()
        .find(|c| c.starts_with("durable log salvage"))
        .unwrap_or_else(|| panic!("a salvage hint: {out}"));
    let dst = env.path("alone.salvaged");
    let cmd = salvage.replace("NEW", s(&dst));
    let args: Vec<&str> = cmd.split(' ').skip(1).collect();
    let r = run(&env, &args, b"");
    assert_eq!(r.code, 0, "{cmd}: {}", r.show());
    let (_, objs) = dump(&env, &dst, &[]);
    assert_eq!(payloads_of(&objs), before, "salvaged");
    let force = commands
        .iter()
        .find(|c| c.starts_with("durable recover --force"))
        .unwrap_or_else(|| panic!("a --force hint: {out}"));
    let args: Vec<&str> = force.split(' ').skip(1).collect();
    let r = run(&env, &args, b"");
    assert_eq!(r.code, 0, "{force}: {}", r.show());
    assert_eq!(fs::read(&p.store).expect("read"), &damaged[..1078]);
    let (code, v) = verify(&env, &p.store, &named);
    assert_eq!(code, 0, "{v}");

    // With the index: records 9 and 10 are proven after the damage.
    let p = pair(&env, "paired", &damaged, Some(&ix));
    let (code, v) = verify(&env, &p.store, &[]);
    assert_eq!((code, &v["status"]), (3, &Value::from("corrupt")), "{v}");
    assert!(has_defect(&v, "bad-length", Some(1078)), "{v}");
    let (_, objs) = dump(&env, &p.store, &["--resync"]);
    let mut want = before.clone();
    want.extend(reads[9..].iter().map(|(_, d)| d.clone()));
    assert_eq!(payloads_of(&objs), want, "no empty record");
    refused_salvaged_forced(&env, &p, &damaged, 1078, &want);
}

/// Was a bug: a zeroed sector holding more records than the 16 index entries looked at after
/// it (records 32 to 63, 16 bytes each) with the index intact: the store's chain from 1024 met
/// none of those entries (they name positions in the zeros), so reading went on from 1024
/// with record 32's number, and every record after it was reported as an index-mismatch
/// (entry 32 names 512, not 1024: "the index is corrupt"). The entry naming 1024 is found by
/// its position (entry 64): the records after the damage keep their numbers and entries, and
/// the index is not called wrong. Where no entry names them (the index ends before), their
/// numbers are unknown: they are not compared with the index, and show no index entry.
#[test]
fn records_found_again_after_zeros_keep_the_numbers_the_index_gives() {
    let env = Env::new();
    let records: Vec<Vec<u8>> = (0..80).map(|i| format!("r{i:06}x").into_bytes()).collect();
    let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
    let (mut st, ix) = (store(&refs), index_for(&refs));
    assert_eq!(st.len(), 80 * 16);
    st[512..1024].fill(0);
    let p = pair(&env, "numbered", &st, Some(&ix));
    let (code, v) = verify(&env, &p.store, &[]);
    assert_eq!((code, &v["status"]), (3, &Value::from("corrupt")), "{v}");
    assert_eq!(v["index_status"], "clean", "{v}");
    assert_eq!(v["defect_count"], 1, "{v}");
    let d = &v["defects"][0];
    assert_eq!(
        (&d["kind"], &d["offset"], &d["next_valid"]),
        (
            &Value::from("bad-length"),
            &Value::from(512),
            &Value::from(1024)
        ),
        "{v}"
    );
    let (_, objs) = dump(&env, &p.store, &["--resync"]);
    let at_1024 = objs
        .iter()
        .find(|o| o["offset"] == 1024)
        .unwrap_or_else(|| panic!("{objs:?}"));
    assert_eq!(at_1024["index_entry"]["offset"], 64, "{at_1024}");
    let want = numbered(&records, |i| !(32..64).contains(&i));
    refused_salvaged_forced(&env, &p, &st, 512, &want);

    // The index ends at entry 32: nothing numbers the records after the zeros.
    let mut short = ix[..32 * 12].to_vec();
    short.resize(80 * 12, 0);
    let p = pair(&env, "unknown", &st, Some(&short));
    let (code, v) = verify(&env, &p.store, &[]);
    assert_eq!(code, 3, "{v}");
    assert!(!has_defect(&v, "index-mismatch", None), "{v}");
    let (_, objs) = dump(&env, &p.store, &["--resync"]);
    let after: Vec<&Value> = objs
        .iter()
        .filter(|o| o["offset"].as_u64().is_some_and(|o| o >= 1024))
        .collect();
    assert_eq!(after.len(), 16, "{objs:?}");
    assert!(
        after.iter().all(|o| o.get("index_entry").is_none()),
        "numbers unknown: no index entry shown: {after:?}"
    );
}

/// Was a bug: a damaged length that still fits in the store (record 10's length 1081, not 56:
/// it swallows records 11 to 26 and ends inside record 27), with index entries 11 to 13
/// zeroed: entry 11 being zeroed, the record's end was checked against nothing, so it was
/// read as one record, then reading failed in record 27's data; salvage copied the bogus
/// record and skipped records 11 to 27 (in a larger store, where the chain from there ran off
/// the end, it was a torn tail and recover cut every record after it). A record that ends past
/// the position the next non-zero entry gives a later record is suspect as when entry 11 names
/// another position: bad-length at 640, records 11 to 13 found by the chain into record 14.
#[test]
fn a_damaged_length_that_fits_is_checked_past_zeroed_entries() {
    let env = Env::new();
    let (records, mut st, mut ix) = sixty_four_byte_records(64);
    st[646] ^= 0x04;
    st[647] ^= 0x01;
    ix[11 * 12..14 * 12].fill(0);
    let p = pair(&env, "fits", &st, Some(&ix));
    let (code, v) = verify(&env, &p.store, &[]);
    assert_eq!((code, &v["status"]), (3, &Value::from("corrupt")), "{v}");
    let d = &v["defects"][0];
    assert_eq!(
        (&d["kind"], &d["offset"], &d["next_valid"]),
        (
            &Value::from("bad-length"),
            &Value::from(640),
            &Value::from(704)
        ),
        "{v}"
    );
    let want = numbered(&records, |i| i != 10);
    refused_salvaged_forced(&env, &p, &st, 640, &want);
}

/// Was a bug (data loss, a sidecar could undo it): `recover --log-format proglog` read any file
/// as a store with "a torn tail at offset 0, 0 records" and emptied it, exit 0, named or in a
/// walk (a text file, an SQLite database, every object of a git repository), and `log verify
/// --log-format proglog` offered the command that empties it. A file named as proglog in
/// which no record chains and whose first length proglog never writes (4 GiB or more) is not a
/// proglog store: exit 2, left as it is; skipped in a walk. `--force` still reads it. Torn
/// stores (the corpus's, one cut inside its first record, alone or with its index) still are.
#[test]
fn a_file_named_as_proglog_in_which_nothing_chains_is_not_emptied() {
    let env = Env::new();
    let text: Vec<u8> = (1..=100)
        .map(|i| format!("{i}\n"))
        .collect::<String>()
        .into();
    let mut db = b"SQLite format 3\0".to_vec();
    db.extend_from_slice(&pseudo_random(8176, 9));
    env.write("d/notes.txt", &text);
    env.write("d/app.db", &db);
    let mut zeros_then_text = vec![0u8; 8];
    zeros_then_text.extend_from_slice(&text);
    env.write("d/z.bin", &zeros_then_text);
    let before = snapshot(env.dir.path(), true);
    let r = run(
        &env,
        &["recover", "--log-format", "proglog", s(&env.path("d"))],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(!r.out().contains("cut at"), "{}", r.show());
    for f in ["d/notes.txt", "d/app.db", "d/z.bin"] {
        for cmd in [
            &["recover", "--log-format", "proglog"][..],
            &["log", "verify", "--log-format", "proglog"],
        ] {
            let path = env.path(f);
            let mut args = cmd.to_vec();
            args.push(s(&path));
            let r = run(&env, &args, b"");
            assert_eq!(r.code, 2, "{f} {cmd:?}: {}", r.show());
            assert_one_line_error(&r, &["is not a proglog store", "left as it is"], f);
            assert!(!r.stderr.contains("durable recover"), "{}", r.show());
        }
    }
    assert_unchanged(&env, &before, "files named as proglog that are not");
    // --force reads it as a store, as the user asked (the sidecar keeps it).
    let r = run(
        &env,
        &[
            "recover",
            "--force",
            "--log-format",
            "proglog",
            s(&env.path("d/notes.txt")),
        ],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(
        fs::metadata(env.path("d/notes.txt")).expect("meta").len(),
        0
    );

    // Stores cut inside their first record (alone, or with an index beside) still are torn.
    let st = store(&STORE_RECORDS);
    let first = 8 + STORE_RECORDS[0].len();
    for (dir, index) in [("alone", None), ("with", Some(&[0u8; 120][..]))] {
        let p = pair(&env, dir, &st[..first - 2], index);
        let r = run(
            &env,
            &["recover", "--log-format", "proglog", s(&p.store)],
            b"",
        );
        assert_eq!(r.code, 0, "{dir}: {}", r.show());
        assert_eq!(fs::metadata(&p.store).expect("meta").len(), 0, "{dir}");
    }
    // The corpus's torn stores are read as before.
    for seg in ["B_selfkill/200.store", "C_reopen_kill/0.store"] {
        let p = env.write(&format!("corpus/{seg}"), corpus_proglog(seg));
        let (code, v) = verify(&env, &p, &["--log-format", "proglog"]);
        assert_eq!(code, 1, "{seg}: {v}");
    }
}

/// Was a bug: a segment whose store recover emptied without a sidecar (`--no-backup`, its first
/// record torn) was taken by `log append` for an empty file and started as a native log, in
/// proglog's directory (the program that owns it could no longer open it). An empty `.store`
/// or `.index` with its other file beside it is refused (exit 2, unchanged) unless a format is
/// named.
#[test]
fn append_to_an_emptied_segment_file_is_refused() {
    let env = Env::new();
    let st = corpus_proglog("A_close/0.store");
    let p = pair(&env, "c", &st[..10], Some(b""));
    let r = run(
        &env,
        &[
            "recover",
            "--log-format",
            "proglog",
            "--no-backup",
            s(&p.store),
        ],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::metadata(&p.store).expect("meta").len(), 0);
    let before = snapshot(env.dir.path(), true);
    for (file, other) in [(&p.store, "its index"), (&p.index, "its store")] {
        let r = run(&env, &["log", "append", s(file), "hello"], b"");
        assert_eq!(r.code, 2, "{file:?}: {}", r.show());
        assert_one_line_error(
            &r,
            &["empty proglog", other, "nothing was appended"],
            "append to an emptied segment",
        );
    }
    assert_unchanged(&env, &before, "append to an emptied segment");
    // Named, the format decides.
    let r = run(
        &env,
        &[
            "log",
            "append",
            "--log-format",
            "native",
            s(&p.store),
            "hello",
        ],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
}

/// Was a bug: `recover` of a damaged proglog index alone said "corrupt before the tail … 0
/// valid records after it" and offered `log salvage`, which refuses an index. It says the
/// entry is wrong and offers what works: recover with its store (`--with-index`), or `--force`.
#[test]
fn a_damaged_index_alone_is_offered_what_works() {
    let env = Env::new();
    let mut x = vec![0u8; 12];
    x.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 50]);
    x.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 40]);
    x.extend_from_slice(&[0u8; 100]);
    let index = env.write("c.index", &x);
    let r = run(&env, &["recover", s(&index)], b"");
    assert_eq!(r.code, 3, "{}", r.show());
    let out = r.out();
    assert!(!out.contains("salvage"), "{}", r.show());
    assert!(!out.contains("after it"), "{}", r.show());
    assert!(
        out.contains("is wrong (2 valid entries before it)"),
        "{}",
        r.show()
    );
    let hint = format!("`durable recover --with-index {} STORE`", s(&index));
    assert!(out.contains(&hint), "{}", r.show());
    assert!(out.contains("`durable recover --force "), "{}", r.show());
    assert_eq!(fs::read(&index).expect("read"), x, "unchanged");
    // The command works as printed, with the store named.
    let st = env.write("data/seg", store(&STORE_RECORDS));
    let r = run(&env, &["recover", "--with-index", s(&index), s(&st)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read(&index).expect("read"), index_for(&STORE_RECORDS));
}

/// Was a bug (JSON contradicting docs/JSON.md): for an index read alone `"index_status"` was
/// always `"clean"`, whatever `"status"` said; and `index-mismatch` defects carried
/// `"evidence": "nothing-valid-after"`, which JSON.md lists as torn-tail evidence, beside
/// `"torn_tail": false`. An index alone's `index_status` is its verdict, and a wrong entry's
/// evidence is `not-a-torn-write` at the entry (no crash writes one).
#[test]
fn index_json_fields_agree_with_the_verdict() {
    let env = Env::new();
    let torn = env.write("alone.index", corpus_proglog("C_reopen_kill/0.index"));
    let (code, v) = verify(&env, &torn, &[]);
    assert_eq!((code, &v["status"]), (1, &Value::from("torn-tail")), "{v}");
    assert_eq!(v["index_status"], "torn-tail", "{v}");

    let mut x = vec![0u8; 12];
    x.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 50]);
    x.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 40]);
    x.extend_from_slice(&[0u8; 100]);
    let bad = env.write("c.index", &x);
    let (code, v) = verify(&env, &bad, &[]);
    assert_eq!((code, &v["status"]), (3, &Value::from("corrupt")), "{v}");
    assert_eq!(v["index_status"], "corrupt", "{v}");
    let d = &v["defects"][0];
    assert_eq!(d["kind"], "index-mismatch", "{v}");
    assert_eq!(
        (&d["torn_tail"], &d["evidence"], &d["evidence_offset"]),
        (
            &Value::from(false),
            &Value::from("not-a-torn-write"),
            &Value::from(24)
        ),
        "{v}"
    );

    // A closed segment with one flipped index byte: the index's defect says the same.
    let mut ix = corpus_proglog("A_close/0.index");
    ix[12 * 3 + 11] ^= 1;
    let p = pair(&env, "flip", &corpus_proglog("A_close/0.store"), Some(&ix));
    let (code, v) = verify(&env, &p.store, &[]);
    assert_eq!(
        (code, &v["index_status"]),
        (3, &Value::from("corrupt")),
        "{v}"
    );
    let d = v["defects"]
        .as_array()
        .expect("defects")
        .iter()
        .find(|d| d["kind"] == "index-mismatch")
        .unwrap_or_else(|| panic!("no index-mismatch: {v}"));
    assert_eq!(
        (&d["torn_tail"], &d["evidence"], &d["file"]),
        (
            &Value::from(false),
            &Value::from("not-a-torn-write"),
            &Value::from("index")
        ),
        "{v}"
    );
}

/// Was a bug: `recover --backup-dir DIR` with DIR the segment's own directory (`.`, as the
/// refusal for an unwritable parent suggests a `--backup-dir`) wrote
/// `0.store.N.durable-sidecar` into it, a name proglog's `setup()` parses as a segment's base
/// offset. Such a `--backup-dir` is refused (exit 2, nothing changed, nothing left there).
#[test]
fn a_backup_dir_that_is_the_segments_own_directory_is_refused() {
    let env = Env::new();
    let seg = env.path("seg");
    fs::create_dir(&seg).expect("mkdir");
    for f in ["200.store", "200.index"] {
        fs::write(seg.join(f), corpus_proglog(&format!("B_selfkill/{f}"))).expect("write");
    }
    let before = snapshot(env.dir.path(), true);
    for (cwd, dir, store) in [
        (
            env.dir.path(),
            s(&seg).to_string(),
            s(&seg.join("200.store")).to_string(),
        ),
        (seg.as_path(), ".".to_string(), "200.store".to_string()),
    ] {
        for dry in [false, true] {
            let mut args = vec!["recover", "--backup-dir", &dir, &store];
            if dry {
                args.insert(1, "--dry-run");
            }
            let r = crate::common::Durable::new(cwd).args(&args).run();
            assert_eq!(r.code, 2, "{args:?}: {}", r.show());
            assert_one_line_error(
                &r,
                &["own directory", "not changed", "outside"],
                "backup-dir in the segment",
            );
        }
    }
    assert_unchanged(&env, &before, "--backup-dir in the segment's directory");
    // Elsewhere it works.
    let out = env.path("kept");
    fs::create_dir(&out).expect("mkdir");
    let r = run(
        &env,
        &[
            "recover",
            "--backup-dir",
            s(&out),
            s(&seg.join("200.store")),
        ],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read_dir(&seg).expect("ls").count(), 2);
}

/// Was a bug (wrong verdict): stale bytes after a torn store write (a killed segment whose
/// file got 130 bytes of an old block after the cut) chained as two records ending exactly at
/// the end of the store; verify blamed the index ("entry 26 holds position 4377; record 26 is
/// at 4158") and recover rebuilt it to 27 entries, blessing the stale records. proglog writes
/// index entry i + 1 only after handing record i to the store, so the index's own chain (entries
/// i + 1 and i + 2 in order) proves where record i ends: where the store's lengths contradict
/// it and reach no later entry, the store is torn at record i. A flipped entry of a clean
/// segment (one entry wrong, the store's chain meeting the next) is still the index's fault.
#[test]
fn stale_bytes_after_a_torn_store_write_are_not_records() {
    let env = Env::new();
    let st = corpus_proglog("B_selfkill/200.store");
    let ix = corpus_proglog("B_selfkill/200.index");
    for (case, stale) in [("short", 2080..2210), ("long", 1000..1700)] {
        let mut bytes = st.clone();
        bytes.extend_from_slice(&st[stale]);
        let p = pair(&env, case, &bytes, Some(&ix));
        let (code, v) = verify(&env, &p.store, &[]);
        assert_eq!(
            (code, &v["status"]),
            (1, &Value::from("torn-tail")),
            "{case}: {v}"
        );
        assert_eq!(v["valid_end"], 4127, "{case}: {v}");
        assert_eq!(v["records_before_damage"], 25, "{case}: {v}");
        let r = run(&env, &["recover", s(&p.store)], b"");
        assert_eq!(r.code, 0, "{case}: {}", r.show());
        assert_eq!(fs::read(&p.store).expect("read"), bytes[..4127], "{case}");
        let rebuilt = fs::read(&p.index).expect("read");
        assert_eq!(
            rebuilt,
            ix[..25 * 12],
            "{case}: 25 entries, the index's own"
        );
    }
    // Guards: one flipped entry of a closed segment (low or high byte, in the middle or the
    // last but one) is the index's damage; the store stays whole.
    let st = corpus_proglog("A_close/0.store");
    let ix = corpus_proglog("A_close/0.index");
    let n = ix.len() / 12;
    for (k, byte) in [
        (3, 11),
        (3, 5),
        (n - 2, 11),
        (n - 2, 6),
        (n - 1, 11),
        (n - 1, 4),
    ] {
        let mut x = ix.clone();
        x[k * 12 + byte] ^= 0x10;
        let p = pair(&env, &format!("flip-{k}-{byte}"), &st, Some(&x));
        let (code, v) = verify(&env, &p.store, &[]);
        assert_eq!(code, 3, "entry {k} byte {byte}: {v}");
        assert_eq!(v["valid_end"], st.len(), "entry {k} byte {byte}: {v}");
        let r = run(&env, &["recover", s(&p.store)], b"");
        assert_eq!(r.code, 0, "{}", r.show());
        assert_eq!(fs::read(&p.store).expect("read"), st);
        assert_eq!(fs::read(&p.index).expect("read"), ix);
    }
}

/// An index read alone whose entry 3 has a damaged high byte (position 1 GiB: still past entry
/// 2's) is damaged at entry 3, not at entry 4, which chains from entry 2 as every later entry
/// does: blaming entry 4 kept the bad entry, and `recover --force` left an index that verified
/// clean with it.
#[test]
fn an_index_alone_blames_the_entry_that_overshoots() {
    let env = Env::new();
    let records: Vec<Vec<u8>> = (0..10)
        .map(|i| format!("record {i}").into_bytes())
        .collect();
    let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
    let mut entries = index_for(&refs);
    entries[3 * 12 + 8] ^= 0x40; // entry 3's position, a high byte
    let idx = env.write("ia/0.index", &entries);
    let (code, v) = verify(&env, &idx, &[]);
    assert_eq!(code, 3, "{v}");
    assert!(has_defect(&v, "index-mismatch", Some(36)), "{v}");
    assert_eq!(v["records"], 3, "{v}");
    let (r, _) = recover(&env, &["--force"], &[&idx]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read(&idx).expect("read"), entries[..36].to_vec());
    let (code, v) = verify(&env, &idx, &[]);
    assert_eq!((code, &v["records"]), (0, &serde_json::json!(3)), "{v}");
}
