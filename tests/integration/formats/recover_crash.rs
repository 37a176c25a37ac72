//! A crash (abort) or an I/O error at each step of recovering a foreign log, then a plain rerun:
//! the result is the uninterrupted one (the lines log cut, the proglog store cut and its index
//! rebuilt, the aof zero-filled with its size kept), and the sidecars of the uninterrupted run
//! exist with the same bytes.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::process::ExitStatusExt;

use super::*;
use crate::common::{Cases, Durable, Env, fault_switch};

/// The steps a recovery of a foreign log can take, in order (sidecar, then the file itself).
const STEPS: [&str; 11] = [
    "create-dir",
    "create-temp",
    "write-temp",
    "metadata",
    "sync-temp",
    "close-temp",
    "rename",
    "sync-dir",
    "write-log",
    "truncate",
    "sync-log",
];

/// Write the damaged fixtures into `dir`: a torn lines log, a torn store with a padded index, a
/// torn aof.
fn damaged(env: &Env, dir: &str) {
    let lines = lines_log(&LINE_ENTRIES);
    env.write(&format!("{dir}/app.lines"), &lines[..lines.len() - 9]);
    let st = store(&STORE_RECORDS);
    env.write(&format!("{dir}/0.store"), &st[..st.len() - 1]);
    env.write(
        &format!("{dir}/0.index"),
        padded(&index_for(&STORE_RECORDS), INDEX_MAX),
    );
    env.write(&format!("{dir}/data.aof"), aof_torn().0);
}

/// The regular files of `dir` (name -> bytes), leaving out our temporary files, and the
/// sidecars kept for them (`sidecar NAME` -> the kept bytes: their trailer names the log by its
/// absolute path, which differs from one directory to the next): those of the lines log and the
/// aof in `dir/.durable-recovered/`, those of the proglog segment in
/// `.durable-recovered/DIR/` beside `dir`.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out: BTreeMap<String, Vec<u8>> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry"))
        .filter(|e| e.file_type().expect("type").is_file())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(n, _)| !n.ends_with(".durable-tmp"))
        .map(|(n, p)| (n, fs::read(p).expect("read")))
        .collect();
    for side_dir in sidecar_dirs(dir) {
        let Ok(entries) = fs::read_dir(&side_dir) else {
            continue;
        };
        for e in entries {
            let e = e.expect("entry");
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".durable-sidecar") {
                let bytes = fs::read(e.path()).expect("read sidecar");
                out.insert(
                    format!("sidecar {name}"),
                    crate::common::parse_sidecar(&bytes).0,
                );
            }
        }
    }
    out
}

/// Where the sidecars of the logs in `dir` go.
fn sidecar_dirs(dir: &Path) -> [PathBuf; 2] {
    [
        dir.join(crate::common::SIDECAR_DIR),
        dir.with_file_name(crate::common::SIDECAR_DIR)
            .join(dir.file_name().expect("name")),
    ]
}

/// Run `durable recover FILES…` in `dir` with `DURABLE_FAULT`.
fn recover_with_fault(dir: &Path, fault: &str) -> Run {
    Durable::new(dir)
        .args(&["recover", "app.lines", "0.store", "data.aof"])
        .fault(fault)
        .run()
}

/// Guards: a crash right after any step of a recovery, or an error in that step, followed by a
/// plain `recover` of the directory, ends exactly where an uninterrupted recovery ends, with
/// the same sidecars; an error exits 2 or 4, never 0.
#[test]
fn crash_or_error_at_any_step_converges() {
    let test = "formats::recover_crash::crash_or_error_at_any_step_converges";
    if !fault_switch(test) {
        return;
    }
    let env = Env::new();
    damaged(&env, "reference");
    let r = run(
        &env,
        &[
            "recover",
            "reference/app.lines",
            "reference/0.store",
            "reference/data.aof",
        ],
        b"",
    );
    assert_eq!(r.code, 0, "uninterrupted recovery: {}", r.show());
    let want = files(&env.path("reference"));
    assert!(
        want.keys().filter(|n| n.starts_with("sidecar ")).count() >= 4,
        "a sidecar for the lines log, the store, the index and the aof: {:?}",
        want.keys()
    );

    let mut cases = Cases::default();
    for step in STEPS {
        for action in ["crash", "eio"] {
            cases.check(|| {
                let case = format!("{step}:{action}");
                let rel = format!("{step}-{action}");
                damaged(&env, &rel);
                let dir = env.path(&rel);
                let out = recover_with_fault(&dir, &case);
                let stderr = &out.stderr;
                match action {
                    "crash" => assert!(
                        out.status.signal() == Some(6) || out.status.code() == Some(0),
                        "{case}: aborted, or the step never ran: {:?} {stderr}",
                        out.status
                    ),
                    _ => assert!(
                        [Some(0), Some(2), Some(4)].contains(&out.status.code()),
                        "{case}: {:?} {stderr}",
                        out.status
                    ),
                }
                let r = run(&env, &["recover", &rel], b"");
                assert_eq!(r.code, 0, "{case}: the rerun: {}", r.show());
                let got = files(&dir);
                for (name, bytes) in &want {
                    let g = got
                        .get(name)
                        .unwrap_or_else(|| panic!("{case}: {name} missing; have {:?}", got.keys()));
                    assert!(
                        g == bytes,
                        "{case}: {name} differs from the uninterrupted result"
                    );
                }
                for name in ["app.lines", "0.store", "0.index", "data.aof"] {
                    assert_eq!(got[name], want[name], "{case}: {name}");
                }
                let left: Vec<String> = std::iter::once(dir.clone())
                    .chain(sidecar_dirs(&dir))
                    .filter_map(|d| fs::read_dir(d).ok())
                    .flatten()
                    .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".durable-tmp"))
                    .collect();
                assert!(left.is_empty(), "{case}: temporary files left: {left:?}");
            });
        }
    }
    cases.assert_all_passed(test);
}
