//! Every format through the same commands: the raw round trip into a native log, the selection
//! options, and bad inputs (a directory, a FIFO, a missing or unreadable file, a 4 GiB length
//! field, a 2^63 position), each with one sentence, the right exit code and nothing changed.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;

use super::*;
use crate::common::{self, Cases, Durable, Env};

/// A fixture of every readable shape: (file to name, --log-format name, records it holds).
fn fixtures(env: &Env) -> Vec<(PathBuf, &'static str, Vec<Vec<u8>>)> {
    let st = store(&STORE_RECORDS);
    env.write("pair/0.store", &st);
    env.write("pair/0.index", index_for(&STORE_RECORDS));
    env.write("alone/5.store", &st);
    let a = aof_standard();
    env.write("data.aof", &a.bytes);
    let ck = aof(&[b"one", b"two"], true);
    env.write("ck.aof", &ck.bytes);
    env.write("app.lines", lines_log(&LINE_ENTRIES));
    let own = |v: &[&[u8]]| v.iter().map(|r| r.to_vec()).collect::<Vec<_>>();
    vec![
        (env.path("app.lines"), "lines", own(&LINE_ENTRIES)),
        (env.path("pair/0.store"), "proglog", own(&STORE_RECORDS)),
        (env.path("alone/5.store"), "proglog", own(&STORE_RECORDS)),
        (env.path("data.aof"), "aof", vec![a.data.clone()]),
        (env.path("ck.aof"), "aof", vec![b"onetwo".to_vec()]),
    ]
}

/// Guards: `durable log dump --format raw OTHER | durable log append NATIVE` copies every
/// record of every format into a native log (one record per record, aof: one per segment),
/// with the payloads byte for byte; also with -0 where no payload holds a NUL.
#[test]
fn raw_dump_round_trips_into_a_native_log() {
    let env = Env::new();
    let mut cases = Cases::default();
    for (k, (src, format, records)) in fixtures(&env).into_iter().enumerate() {
        for nul in [false, true] {
            if nul && records.iter().any(|r| r.contains(&0)) {
                continue;
            }
            cases.check(|| {
                let case = format!("{format} {src:?}{}", if nul { " -0" } else { "" });
                let dst = env.path(&format!("copy{k}{nul}.log"));
                let z = if nul { "-0" } else { "" };
                let script = format!(
                    "\"$D\" log dump --format raw {z} \"$1\" | \"$D\" log append --sync none {z} \"$2\"; \
                     echo \"$?\" >&2"
                );
                let out = Durable::sh(env.dir.path(), &script).arg(&src).arg(&dst).run();
                let stderr = &out.stderr;
                assert_eq!(stderr.trim(), "0", "{case}: the pipeline failed: {stderr}");
                let (r, objs) = dump(&env, &dst, &[]);
                assert_eq!(r.code, 0, "{case}: {}", r.show());
                assert_eq!(payloads_of(&objs), records, "{case}: payloads of the copy");
                assert_eq!(&fs::read(&dst).expect("read")[..8], b"\x89DLOG\r\n\x1a", "{case}: native");
            });
        }
    }
    cases.assert_all_passed("formats::commands::raw_dump_round_trips_into_a_native_log");
}

/// Guards: --first, --last, --start, --end and --index select the same records for every
/// format as for native logs (checked against the full JSON dump), with or without
/// --log-format. (An aof file is one segment, too few to select from.)
#[test]
fn selection_options_work_for_every_format() {
    let env = Env::new();
    let mut all: Vec<_> = fixtures(&env)
        .into_iter()
        .filter(|(_, format, _)| *format != "aof")
        .collect();
    env.write("orphan.index", index_for(&STORE_RECORDS));
    all.push((env.path("orphan.index"), "proglog", vec![Vec::new(); 5]));
    let mut cases = Cases::default();
    for (path, format, records) in all {
        cases.check(|| {
            let (r, full) = dump(&env, &path, &[]);
            assert_eq!(r.code, 0, "{path:?}: {}", r.show());
            let n = records.len();
            assert_eq!(full.len(), n, "{path:?}: {}", r.show());
            assert!(n >= 2, "fixture too small");
            let off = |i: usize| full[i]["offset"].as_u64().expect("offset");
            let sel: Vec<(String, std::ops::Range<usize>)> = vec![
                ("--first 2".into(), 0..2),
                ("--first 99".into(), 0..n),
                ("--last 2".into(), n - 2..n),
                ("--last 1".into(), n - 1..n),
                ("--last 99".into(), 0..n),
                (format!("--start {}", off(1)), 1..n),
                (format!("--start {}", off(1) + 1), 2..n),
                (format!("--end {}", off(1)), 0..1),
                (format!("--end {}", off(1) + 1), 0..2),
                (format!("--start {} --end {}", off(1), off(n - 1)), 1..n - 1),
                ("--index 1".into(), 1..2),
                ("--index 1..".into(), 1..n),
                ("--index ..2".into(), 0..2),
                (format!("--index 0..{}", n - 1), 0..n - 1),
                ("--index 1.. --first 1".into(), 1..2),
                ("--index ..2 --last 1".into(), 1..2),
            ];
            for (args, want) in sel {
                for named in [false, true] {
                    let mut a: Vec<&str> = args.split_whitespace().collect();
                    if named {
                        a.extend(["--log-format", format]);
                    }
                    let (r, got) = dump(&env, &path, &a);
                    assert_eq!(r.code, 0, "{path:?} {a:?}: {}", r.show());
                    assert_eq!(
                        got,
                        full[want.clone()].to_vec(),
                        "{path:?} {a:?} selects {want:?}"
                    );
                }
            }
        });
    }
    cases.assert_all_passed("formats::commands::selection_options_work_for_every_format");
}

/// Guards: a directory, a FIFO or a missing path given where a log is expected, for each
/// format and command: exit 2, one line on stderr naming it, no blocking, nothing changed.
#[test]
fn directory_fifo_and_missing_path_are_errors() {
    let env = Env::new();
    fs::create_dir(env.path("adir")).expect("mkdir");
    for name in ["fifo", "f.store", "f.index"] {
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            env.path(name),
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .expect("mkfifo");
    }
    let before = snapshot(env.dir.path(), true);
    let mut cases = Cases::default();
    for format in ["lines", "proglog", "aof", ""] {
        for (name, what, commands) in [
            ("adir", "a directory", &[&["log", "dump"][..]][..]),
            (
                "fifo",
                "a FIFO",
                &[
                    &["log", "verify"][..],
                    &["log", "dump"][..],
                    &["recover"][..],
                ][..],
            ),
            (
                "f.store",
                "a FIFO named .store",
                &[
                    &["log", "verify"][..],
                    &["log", "dump"][..],
                    &["recover"][..],
                ][..],
            ),
            (
                "f.index",
                "a FIFO named .index",
                &[
                    &["log", "verify"][..],
                    &["log", "dump"][..],
                    &["recover"][..],
                ][..],
            ),
            (
                "missing.log",
                "a missing path",
                &[
                    &["log", "verify"][..],
                    &["log", "dump"][..],
                    &["recover"][..],
                ][..],
            ),
        ] {
            for cmd in commands {
                cases.check(|| {
                    let mut args: Vec<&str> = cmd.to_vec();
                    if !format.is_empty() {
                        args.extend(["--log-format", format]);
                    }
                    args.push(name);
                    let case = format!("{what}: {args:?}");
                    let r = env.cmd(&args).no_stdin().bound(BOUND).run();
                    assert_one_line_error(&r, &[name], &case);
                });
            }
        }
    }
    cases.check(|| {
        // --index naming a directory, a FIFO or nothing.
        env.write("s/a.store", store(&STORE_RECORDS));
        for idx in ["adir", "fifo", "missing.idx"] {
            for cmd in [&["log", "verify"][..], &["recover"][..]] {
                let mut args = cmd.to_vec();
                args.extend(["--with-index", idx, "s/a.store"]);
                let r = env.cmd(&args).no_stdin().bound(BOUND).run();
                assert_one_line_error(&r, &[idx], &format!("{args:?}"));
            }
        }
        fs::remove_dir_all(env.path("s")).expect("rm");
    });
    cases.assert_all_passed("formats::commands::directory_fifo_and_missing_path_are_errors");
    assert_unchanged(&env, &before, "bad paths");
}

/// Guards: a store whose sibling `.index` is a FIFO or a directory never blocks or panics, and
/// nothing changes on a dry run.
#[test]
fn odd_sibling_index_never_blocks() {
    let env = Env::new();
    env.write("f/0.store", store(&STORE_RECORDS));
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        env.path("f/0.index"),
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .expect("mkfifo");
    env.write("d/0.store", store(&STORE_RECORDS));
    fs::create_dir(env.path("d/0.index")).expect("mkdir");
    let before = snapshot(env.dir.path(), true);
    for st in ["f/0.store", "d/0.store"] {
        for args in [
            vec!["log", "verify", st],
            vec!["log", "dump", st],
            vec!["recover", "--dry-run", st],
            vec!["log", "verify", "f"],
        ] {
            let r = env.cmd(&args).no_stdin().bound(BOUND).run();
            assert!(!r.stderr.contains("panicked"), "{args:?}: {}", r.show());
            assert!(r.stderr.lines().count() <= 1, "{args:?}: {}", r.show());
            if r.code == 2 {
                assert!(
                    r.stderr.contains("0.index"),
                    "{args:?}: name the odd index: {}",
                    r.show()
                );
            }
        }
    }
    assert_unchanged(&env, &before, "odd sibling index");
}

/// Guards: a file the user cannot read (run as uid 65534), of each format: verify, dump and
/// recover exit 2 with one line naming it, and nothing changes.
#[test]
fn unreadable_files_are_errors() {
    let test = "formats::commands::unreadable_files_are_errors";
    if !common::is_root() {
        common::skip(test, "needs root to run durable as uid 65534");
        return;
    }
    let env = Env::new();
    fs::set_permissions(env.dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let lines = lines_log(&LINE_ENTRIES);
    let (torn_aof, _) = aof_torn();
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("torn.lines", lines[..lines.len() - 5].to_vec()),
        ("seg/0.store", store(&STORE_RECORDS)),
        ("seg/0.index", padded(&index_for(&STORE_RECORDS), INDEX_MAX)),
        ("solo/1.store", store(&STORE_RECORDS)[..20].to_vec()),
        ("torn.aof", torn_aof),
    ];
    for (name, bytes) in &files {
        let p = env.write(name, bytes);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    for dir in ["seg", "solo"] {
        fs::set_permissions(env.path(dir), fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let mut probe = env.cmd(&["--version"]).command();
    probe.uid(65534).gid(65534);
    if !probe.output().is_ok_and(|o| o.status.success()) {
        common::skip(test, "uid 65534 cannot run the durable binary");
        return;
    }
    let before = snapshot(env.dir.path(), true);
    let mut cases = Cases::default();
    for (name, format) in [
        ("torn.lines", "lines"),
        ("seg/0.store", "proglog"),
        ("seg/0.index", "proglog"),
        ("solo/1.store", "proglog"),
        ("torn.aof", "aof"),
    ] {
        for cmd in [
            &["log", "verify"][..],
            &["log", "dump"][..],
            &["recover"][..],
        ] {
            for named in [false, true] {
                cases.check(|| {
                    let mut args = cmd.to_vec();
                    if named {
                        args.extend(["--log-format", format]);
                    }
                    args.push(name);
                    let r = env
                        .cmd(&args)
                        .user(65534, 65534)
                        .no_stdin()
                        .bound(BOUND)
                        .run();
                    assert_one_line_error(&r, &[name], &format!("unreadable: {args:?}"));
                });
            }
        }
    }
    cases.assert_all_passed(test);
    assert_unchanged(&env, &before, "unreadable files");
}

/// Guards: a store length field of 4 GiB, or of 2^64 - 1 (an overflow trap), is a torn tail
/// at that record (truncated), found in bounded memory (under `ulimit -v`), by verify, dump and
/// a dry-run recover, without changing anything; recover then cuts it.
#[test]
fn huge_store_length_is_a_torn_tail_in_bounded_memory() {
    let env = Env::new();
    let bounds = store_bounds(&STORE_RECORDS);
    let good = store(&STORE_RECORDS);
    let mut cases = Cases::default();
    for (what, len) in [
        ("4 GiB", 1u64 << 32),
        ("2^63", 1 << 63),
        ("2^64 - 1", u64::MAX),
    ] {
        cases.check(|| {
            let dir = format!("h{}", len.trailing_zeros());
            let mut bytes = good.clone();
            bytes.extend_from_slice(&len.to_be_bytes());
            bytes.extend_from_slice(&pseudo_random(100, 5));
            let path = env.write(&format!("{dir}/0.store"), &bytes);
            let idx = env.write(&format!("{dir}/0.index"), index_for(&STORE_RECORDS));
            let before = snapshot(env.dir.path(), true);
            let r = env
                .cmd(&["log", "verify", "--json", s(&path)])
                .memory_kib(256 * 1024)
                .no_stdin()
                .run();
            let v = json_lines(&r.stdout);
            assert_eq!(v.len(), 1, "{what}: {}", r.show());
            let end = *bounds.last().expect("end");
            check_report(
                what,
                &(r.code, v[0].clone()),
                "torn-tail",
                5,
                end,
                Some(("truncated", end)),
            );
            let r = env
                .cmd(&["log", "dump", "--format", "json", s(&path)])
                .memory_kib(256 * 1024)
                .no_stdin()
                .run();
            assert_eq!(r.code, 1, "{what}: dump: {}", r.show());
            assert_eq!(
                payloads_of(&json_lines(&r.stdout)).len(),
                5,
                "{what}: {}",
                r.show()
            );
            let r = env
                .cmd(&["recover", "--dry-run", s(&path)])
                .memory_kib(256 * 1024)
                .no_stdin()
                .run();
            assert_eq!(r.code, 1, "{what}: dry run: {}", r.show());
            assert_unchanged(&env, &before, what);
            let r = env
                .cmd(&["recover", s(&path)])
                .memory_kib(256 * 1024)
                .no_stdin()
                .run();
            assert_eq!(r.code, 0, "{what}: recover: {}", r.show());
            assert_eq!(fs::read(&path).expect("read"), good, "{what}");
            assert_eq!(
                read_sidecar(&sidecar(&path, end)).expect("sidecar"),
                &bytes[end..],
                "{what}"
            );
            assert_eq!(
                fs::read(&idx).expect("read"),
                index_for(&STORE_RECORDS),
                "{what}"
            );
        });
    }
    cases
        .assert_all_passed("formats::commands::huge_store_length_is_a_torn_tail_in_bounded_memory");
}

/// Guards: index positions of 2^63 and 2^64 - 1 never make a reader seek, read or allocate on
/// their word: an index alone dumps them as numbers; next to a store they are wrong entries
/// and recover rebuilds them, in bounded memory.
#[test]
fn huge_index_positions_are_handled() {
    let env = Env::new();
    let entries = index(&[(0, 0), (1, 1 << 63), (2, u64::MAX)]);
    let path = env.write("big.index", &entries);
    let before = snapshot(env.dir.path(), true);
    let r = env
        .cmd(&["log", "dump", "--format", "json", s(&path)])
        .memory_kib(256 * 1024)
        .no_stdin()
        .run();
    assert!(!r.stderr.contains("panicked"), "{}", r.show());
    let objs = json_lines(&r.stdout);
    let positions: Vec<&Value> = objs.iter().filter_map(|o| o.get("position")).collect();
    assert_eq!(
        positions,
        [
            &Value::from(0u64),
            &Value::from(1u64 << 63),
            &Value::from(u64::MAX)
        ],
        "{}",
        r.show()
    );
    let r = env
        .cmd(&["log", "verify", s(&path)])
        .memory_kib(256 * 1024)
        .no_stdin()
        .run();
    assert!([0, 1, 3].contains(&r.code), "{}", r.show());
    assert_unchanged(&env, &before, "index alone with huge positions");

    let st = store(&STORE_RECORDS);
    let pst = env.write("p/0.store", &st);
    let pidx = env.write("p/0.index", index(&[(0, 0), (1, 1 << 63), (2, u64::MAX)]));
    let r = env
        .cmd(&["log", "verify", "--json", s(&pst)])
        .memory_kib(256 * 1024)
        .no_stdin()
        .run();
    let v = json_lines(&r.stdout);
    assert_eq!(v.len(), 1, "{}", r.show());
    // Entry 1 belongs to a record the store has: a wrong entry (index-mismatch), whatever it
    // points at.
    assert!(has_defect(&v[0], "index-mismatch", Some(12)), "{}", v[0]);
    let r = env
        .cmd(&["recover", s(&pst)])
        .memory_kib(256 * 1024)
        .no_stdin()
        .run();
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read(&pidx).expect("read"), index_for(&STORE_RECORDS));
    assert_eq!(fs::read(&pst).expect("read"), st);
}

/// Guards: 20 MiB without a newline after a valid line is read in bounded memory and reported
/// as damage (exit 1: nothing valid after it), not an error or a crash.
#[test]
fn huge_line_without_newline_is_bounded() {
    let env = Env::new();
    let first = line(b"first");
    let bytes = [first.clone(), vec![b'x'; 20 << 20]].concat();
    let path = env.write("big.lines", &bytes);
    let r = env
        .cmd(&["log", "verify", "--json", s(&path)])
        .memory_kib(192 * 1024)
        .no_stdin()
        .run();
    let v = json_lines(&r.stdout);
    assert_eq!(v.len(), 1, "{}", r.show());
    assert_eq!(r.code, 1, "{}", v[0]);
    assert_eq!(v[0]["records"], 1, "{}", v[0]);
    assert_eq!(v[0]["valid_end"], first.len(), "{}", v[0]);
}

/// Guards: recover never repairs a foreign log another process holds locked (`flock`, as
/// `log append` takes it): exit 2, "in use", nothing changed; once unlocked it recovers.
#[test]
fn locked_logs_are_not_touched() {
    let env = Env::new();
    let lines = lines_log(&LINE_ENTRIES);
    let st = store(&STORE_RECORDS);
    let (a, _) = aof_torn();
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("torn.lines", lines[..lines.len() - 4].to_vec()),
        ("l/0.store", st[..st.len() - 1].to_vec()),
        ("torn.aof", a),
    ];
    let mut cases = Cases::default();
    for (name, bytes) in files {
        cases.check(|| {
            let path = env.write(name, &bytes);
            let lock = fs::File::options()
                .read(true)
                .write(true)
                .open(&path)
                .expect("open");
            lock.lock().expect("lock");
            let before = snapshot(env.dir.path(), true);
            let r = run(&env, &["recover", name], b"");
            assert_eq!(r.code, 2, "{name}: {}", r.show());
            assert!(
                r.stderr.contains("in use") && r.stderr.contains(name),
                "{name}: {}",
                r.show()
            );
            assert_unchanged(&env, &before, name);
            drop(lock);
            // A process forked by another test thread may hold a copy of the descriptor (and so
            // the lock) until it execs: wait for that, not for anything of ours.
            let mut r = run(&env, &["recover", name], b"");
            for _ in 0..50 {
                if !(r.code == 2 && r.stderr.contains("in use")) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
                r = run(&env, &["recover", name], b"");
            }
            assert_eq!(r.code, 0, "{name}: after unlocking: {}", r.show());
            assert_ne!(fs::read(&path).expect("read"), bytes, "{name}: recovered");
        });
    }
    cases.assert_all_passed("formats::commands::locked_logs_are_not_touched");
}

/// Guards: `log salvage SRC DST` reads each foreign format (damaged) and writes its valid
/// records into a new log (lines for a lines log, native for the others); SRC is not changed.
#[test]
fn salvage_reads_every_format() {
    let env = Env::new();
    let st = store(&STORE_RECORDS);
    let a = aof_standard();
    let (torn_aof, _) = aof_torn();
    // A write cut short: no magic, so the package (and durable) trust none of it.
    let mut cut_aof = a.bytes.clone();
    cut_aof[a.magic..a.magic + 8].copy_from_slice(b"next wri");
    let lines = lines_log(&LINE_ENTRIES);
    let own = |v: &[&[u8]]| v.iter().map(|r| r.to_vec()).collect::<Vec<_>>();
    type Case = (&'static str, Vec<u8>, Vec<Vec<u8>>);
    let cases_list: Vec<Case> = vec![
        ("cut.aof", cut_aof, Vec::new()),
        (
            "torn.store",
            st[..st.len() - 1].to_vec(),
            own(&STORE_RECORDS[..4]),
        ),
        (
            "torn.lines",
            lines[..lines.len() - 2].to_vec(),
            own(&LINE_ENTRIES[..5]),
        ),
        // A last line without its newline is valid.
        (
            "unterminated.lines",
            lines[..lines.len() - 1].to_vec(),
            own(&LINE_ENTRIES),
        ),
        ("torn.aof", torn_aof, vec![a.data.clone()]),
    ];
    let mut cases = Cases::default();
    for (name, bytes, want) in cases_list {
        cases.check(|| {
            let src = env.write(name, &bytes);
            let dst = env.path(&format!("{name}.native"));
            let r = run(&env, &["log", "salvage", s(&src), s(&dst)], b"");
            assert_eq!(r.code, 0, "{name}: {}", r.show());
            let (r, objs) = dump(&env, &dst, &[]);
            assert_eq!(r.code, 0, "{name}: {}", r.show());
            assert_eq!(payloads_of(&objs), want, "{name}: salvaged records");
            assert_eq!(fs::read(&src).expect("read"), bytes, "{name}: SRC changed");
        });
    }
    cases.assert_all_passed("formats::commands::salvage_reads_every_format");
}

/// Guards (regression): `--with-index` took any file: the store itself, or a lines log, which
/// `recover` then overwrote with index entries (the store's records moved to a sidecar, the
/// lines log lost) without `--force`. Now every command refuses such an index in one sentence
/// naming it (exit 2) and nothing changes; a real index, padded or not, is still rebuilt.
#[test]
fn with_index_refuses_the_store_itself_and_other_formats() {
    let env = Env::new();
    let st = env.write("log/0.store", store(&STORE_RECORDS));
    env.write("log/0.index", index_for(&STORE_RECORDS));
    let lines = env.write("log/other.log", lines_log(&LINE_ENTRIES));
    let before = snapshot(env.dir.path(), true);
    for (index, says) in [
        (&st, "it is the store itself"),
        (&lines, "it reads as a lines log"),
    ] {
        for cmd in [
            &["log", "verify"][..],
            &["log", "dump"][..],
            &["recover"][..],
        ] {
            let args = [cmd, &["--with-index", s(index), s(&st)]].concat();
            let r = run(&env, &args, b"");
            assert_eq!(r.code, 2, "{args:?}: {}", r.show());
            assert_one_line_error(&r, &[says, "nothing was changed"], &format!("{args:?}"));
        }
    }
    assert_unchanged(&env, &before, "an index that is not one");
    let kept = env.write(
        "keep/seg0.idx",
        padded(&index_for(&STORE_RECORDS), INDEX_MAX),
    );
    let r = run(&env, &["recover", "--with-index", s(&kept), s(&st)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read(&kept).expect("read"), index_for(&STORE_RECORDS));
}

/// Run, as a shell would, the first command between backticks in `r`'s output (a hint), which
/// must mention `mentions`, with the built `durable` first on the PATH; it must exit 0.
fn run_printed_hint(env: &Env, r: &common::Run, mentions: &str) -> String {
    common::run_hint(env, &r.out(), mentions)
}

/// Was a bug: another segment's index, whole and well-formed, given with `--with-index` (or
/// copied beside the store) was rewritten by `recover` without `--force`, as if it were this
/// store's damaged index. No crash leaves an index naming the wrong bytes of its store from
/// entry 1 on: verify says it is another store's, recover (and its dry run) leave it as it is
/// (exit 3, `outcome: refused`), and the hint, run as printed, rebuilds it with `--force`.
#[test]
fn another_stores_index_is_rebuilt_only_with_force() {
    let env = Env::new();
    let other: [&[u8]; 4] = [
        b"a much longer first record than the other store's",
        b"b",
        b"c",
        b"d",
    ];
    let st = env.write("s/0.store", store(&STORE_RECORDS));
    let theirs = env.write("t/7.index", index_for(&other));
    env.write("t/7.store", store(&other));
    let beside = env.write("u/0.store", store(&STORE_RECORDS));
    env.write("u/0.index", padded(&index_for(&other), INDEX_MAX));
    let before = snapshot(env.dir.path(), true);
    for args in [
        vec!["recover", "--with-index", s(&theirs), s(&st)],
        vec!["recover", "--dry-run", "--with-index", s(&theirs), s(&st)],
        vec!["recover", s(&beside)],
        vec!["recover", s(&env.path("u"))],
    ] {
        let r = run(&env, &args, b"");
        assert_eq!(r.code, 3, "{args:?}: {}", r.show());
        assert!(
            r.out()
                .contains("not rebuilt: it reads as a whole proglog index, but another store's"),
            "{args:?}: {}",
            r.show()
        );
        assert_unchanged(&env, &before, &format!("{args:?}"));
    }
    let r = run(
        &env,
        &["recover", "--json", "--with-index", s(&theirs), s(&st)],
        b"",
    );
    let stdout = String::from_utf8_lossy(&r.stdout);
    let index_line: Value =
        serde_json::from_str(stdout.lines().nth(1).expect("index line")).expect("json");
    assert_eq!(
        (&index_line["outcome"], &index_line["exit_code"]),
        (&Value::from("refused"), &Value::from(3)),
        "{index_line}"
    );
    assert_unchanged(&env, &before, "--json");
    for (store_path, with) in [(&st, Some(&theirs)), (&beside, None)] {
        let mut args = vec!["log", "verify"];
        if let Some(i) = with {
            args.extend(["--with-index", s(i)]);
        }
        args.push(s(store_path));
        let r = run(&env, &args, b"");
        assert_eq!(r.code, 3, "{}", r.show());
        assert!(
            r.out().contains("its index is another store's"),
            "{}",
            r.show()
        );
        let hint = run_printed_hint(&env, &r, "--force");
        let r = run(&env, &args, b"");
        assert_eq!(r.code, 0, "after `{hint}`: {}", r.show());
    }
    // The other segment itself is untouched by all this.
    assert_eq!(
        fs::read(env.path("t/7.store")).expect("read"),
        store(&other)
    );
    // A torn store read with another store's index is not cut either (that index is no
    // evidence about it), and a second run does the same; --force cuts and rebuilds.
    let mut torn = store(&STORE_RECORDS);
    torn.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 9, b'p']);
    let w = env.write("w/0.store", &torn);
    env.write("w/0.index", index_for(&other));
    let before = snapshot(env.dir.path(), true);
    for _ in 0..2 {
        let r = run(&env, &["recover", s(&w)], b"");
        assert_eq!(r.code, 3, "{}", r.show());
        assert!(
            r.out()
                .contains("not changed: the index read with it is another store's"),
            "{}",
            r.show()
        );
        assert_unchanged(&env, &before, "a torn store with another store's index");
    }
    let r = run(&env, &["recover", "--force", s(&w)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let (code, v) = verify(&env, &w, &[]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(fs::read(&w).expect("read"), store(&STORE_RECORDS));
}

/// Guards (regression): the repair hint for a store read with an index named by
/// `--with-index` left the option out (`durable recover STORE` looked beside the store, found
/// nothing to do, and the index stayed broken). The hint, run as printed, now repairs it.
#[test]
fn the_hint_for_an_index_named_with_with_index_repairs_it() {
    let env = Env::new();
    let st = env.write("log dir/0.store", store(&STORE_RECORDS));
    let idx = env.write(
        "keep/seg 0.idx",
        padded(&index_for(&STORE_RECORDS), INDEX_MAX),
    );
    let r = run(
        &env,
        &["log", "verify", "--with-index", s(&idx), s(&st)],
        b"",
    );
    assert_eq!(r.code, 1, "{}", r.show());
    let hint = run_printed_hint(&env, &r, "--with-index");
    let r = run(
        &env,
        &["log", "verify", "--with-index", s(&idx), s(&st)],
        b"",
    );
    assert_eq!(r.code, 0, "after `{hint}`: {}", r.show());
}

/// Guards (regression): a symlink named `<base>.index` beside a store was followed, and
/// `recover` (walking a directory, or given the store) rewrote the file it pointed to, outside
/// the tree, with index entries. A sibling is never followed: the store is read alone and the
/// link and its target are left as they are.
#[test]
fn a_symlinked_index_beside_a_store_is_not_followed() {
    let env = Env::new();
    let outside = env.write("outside/secret", b"not an index\n");
    env.write("tree/0.store", store(&STORE_RECORDS));
    std::os::unix::fs::symlink(&outside, env.path("tree/0.index")).expect("symlink");
    let before = snapshot(env.dir.path(), true);
    for args in [
        vec!["recover", "-x", s(&env.path("tree"))],
        vec!["recover", s(&env.path("tree/0.store"))],
    ] {
        let r = run(&env, &args, b"");
        assert_eq!(r.code, 0, "{args:?}: {}", r.show());
        assert_unchanged(&env, &before, &format!("{args:?}"));
    }
    let (code, v) = verify(&env, &env.path("tree/0.store"), &[]);
    assert_eq!((code, &v["index"]), (0, &Value::Null), "read alone: {v}");
    assert_eq!(fs::read(&outside).expect("read"), b"not an index\n");
}

/// Guards (regression): a text file named `<base>.index` beside a valid store was taken for its
/// index, and `recover` rewrote it with index entries without `--force`; a torn lines log named
/// so was skipped by a walk as "read with its store" and never repaired. Only a file that starts
/// as every proglog index does (empty, or entry 0 (0, 0) or zero padding) is paired: the notes
/// are left alone and listed, the lines log is reported and repaired as what it is.
#[test]
fn a_file_named_index_that_is_not_one_is_not_paired() {
    let env = Env::new();
    env.write("a/data.store", store(&STORE_RECORDS));
    let notes = env.write("a/data.index", b"my notes, not an index\n".repeat(3));
    let r = run(&env, &["recover", "-x", s(&env.path("a"))], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(
        fs::read(&notes).expect("read"),
        b"my notes, not an index\n".repeat(3)
    );
    assert!(r.out().contains("data.index: untouched"), "{}", r.show());

    env.write("b/r.store", pseudo_random(4096, 9));
    let mut torn = lines_log(&LINE_ENTRIES);
    torn.extend_from_slice(b"torn");
    let log = env.write("b/r.index", &torn);
    let r = run(&env, &["recover", s(&env.path("b"))], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(r.out().contains("r.index: cut at offset"), "{}", r.show());
    assert_eq!(fs::read(&log).expect("read"), lines_log(&LINE_ENTRIES));
}

/// The format `log verify` reads a file as: "lines" or "native" (or what it says).
fn verified_format(env: &Env, path: &Path) -> String {
    let r = run(env, &["log", "verify", "--json", s(path)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let v: Value = serde_json::from_str(r.out().lines().next().unwrap_or("")).expect("json");
    v["format"].as_str().unwrap_or("?").to_string()
}

// Guards (regression): `log salvage` wrote a native (binary) log whatever SRC was, saying
// nothing: `salvage events.log NEW && mv NEW events.log`, as --help showed it, replaced a
// greppable lines log with a binary file. A lines log now salvages into a lines log, byte for
// byte the lines that check out (a last line without its newline gets one; an entry longer
// than a native record's 16 MiB is streamed); a proglog store's or an aof file's records go
// into a native log, and the report says so in a line of its own; --json says both formats.
#[test]
fn salvage_keeps_a_lines_log_lines_and_says_when_it_writes_native() {
    let env = Env::new();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
    let mut cases = Cases::default();

    // Lines: the damaged line (74 bytes at 7292) left out, every other line as it was.
    let flip = fs::read(corpus.join("lines/flip_mid.log")).expect("corpus");
    let mut want = flip[..7292].to_vec();
    want.extend_from_slice(&flip[7366..]);
    let lines = lines_log(&LINE_ENTRIES);
    let big = vec![b'x'; 17 << 20];
    let mut long = lines_log(&[&big, b"after"]);
    long.extend_from_slice(b"torn");
    let long_want = lines_log(&[&big, b"after"]);
    let lines_cases: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        ("flip_mid.log", flip.clone(), want),
        (
            "unterminated.log",
            lines[..lines.len() - 1].to_vec(),
            lines.clone(),
        ),
        ("long.log", long, long_want),
    ];
    for (name, bytes, want) in lines_cases {
        cases.check(|| {
            let src = env.write(name, &bytes);
            let dst = env.path(&format!("{name}.salvaged"));
            let r = run(&env, &["log", "salvage", s(&src), s(&dst)], b"");
            assert_eq!(r.code, 0, "{name}: {}", r.show());
            assert!(
                r.out().contains(&format!("{} is a lines log, as", s(&dst))),
                "{name}: the report says the format: {}",
                r.show()
            );
            assert!(
                fs::read(&dst).expect("read") == want,
                "{name}: the lines that check out"
            );
            assert_eq!(verified_format(&env, &dst), "lines", "{name}");
            assert_eq!(fs::read(&src).expect("read"), bytes, "{name}: SRC changed");
        });
    }
    cases.check(|| {
        let src = env.write("j.log", &flip);
        let dst = env.path("j.salvaged");
        let r = run(&env, &["log", "salvage", "--json", s(&src), s(&dst)], b"");
        assert_eq!(r.code, 0, "{}", r.show());
        let v: Value = serde_json::from_str(r.out().trim()).expect("json");
        assert_eq!(
            (v["src_format"].as_str(), v["dst_format"].as_str()),
            (Some("lines"), Some("lines"))
        );
    });

    // proglog and aof: a native log, said plainly.
    let foreign = [
        ("proglog/A_close/0.store", "a proglog store", "proglog"),
        ("aof/finish_plus_garbage.aof", "an aof file", "aof"),
    ];
    for (rel, what, format) in foreign {
        cases.check(|| {
            let src = corpus.join(rel);
            let dst = env.path(&format!("{format}.salvaged"));
            let r = run(&env, &["log", "salvage", s(&src), s(&dst)], b"");
            assert_eq!(r.code, 0, "{rel}: {}", r.show());
            let said = format!(
                "{} is a native log, not {what}: the program that wrote {} cannot read it; `durable log dump {}` reads it",
                s(&dst),
                s(&src),
                s(&dst)
            );
            assert!(r.out().contains(&said), "{rel}: {said:?} in {}", r.show());
            assert_eq!(verified_format(&env, &dst), "native", "{rel}");
            let json_dst = env.path(&format!("{format}.json.salvaged"));
            let r = run(&env, &["log", "salvage", "--json", s(&src), s(&json_dst)], b"");
            let v: Value = serde_json::from_str(r.out().trim()).expect("json");
            assert_eq!(
                (v["src_format"].as_str(), v["dst_format"].as_str()),
                (Some(format), Some("native")),
                "{rel}"
            );
        });
    }
    cases.assert_all_passed(
        "formats::commands::salvage_keeps_a_lines_log_lines_and_says_when_it_writes_native",
    );
}
/// Guards (regression): `--with-index` on an aof file said "this is a aof log" in verify and
/// recover (dump: "an aof file"): one wording now.
#[test]
fn with_index_on_an_aof_file_says_an_aof_file() {
    let env = Env::new();
    let a = aof_standard();
    let data = env.write("data.aof", &a.bytes);
    env.write("some.index", index(&[(0, 0)]));
    for cmd in [&["log", "verify"][..], &["recover"], &["log", "dump"]] {
        let mut args = cmd.to_vec();
        args.extend(["--with-index", "some.index", s(&data)]);
        let r = run(&env, &args, b"");
        assert_one_line_error(
            &r,
            &["this is an aof file: it would do nothing"],
            &format!("{cmd:?}"),
        );
    }
}

/// Guards (regression): `log salvage` onto an existing file said "(--no-clobber)", a flag
/// salvage does not have; it says that salvage never replaces a file, and the way out.
#[test]
fn salvage_onto_an_existing_file_says_the_way_out() {
    let env = Env::new();
    let lines = env.write("a.log", lines_log(&[b"one"]));
    let taken = env.write("taken.log", b"mine");
    let r = run(&env, &["log", "salvage", s(&lines), s(&taken)], b"");
    let line = assert_one_line_error(
        &r,
        &[
            "taken.log already exists",
            "never replaces one",
            "name a NEW that does not exist",
        ],
        "salvage",
    );
    assert!(!line.contains("--no-clobber"), "{line}");
    assert_eq!(fs::read(&taken).expect("read"), b"mine");
}

/// Guards (regression): a rebuilt index's report said "from byte D" beside a sidecar named
/// `INDEX.0.durable-sidecar` (it holds the whole old index, from offset 0, which `log restore`
/// puts back): the report says so, and where the rewrite began.
#[test]
fn rebuilt_index_report_agrees_with_its_sidecar() {
    let env = Env::new();
    // A store of two records and an index with a third entry past it and padding.
    let st = env.write("seg/0.store", store(&[b"first", b"second"]));
    let mut idx = index(&[(0, 0), (1, 13), (2, 27)]);
    idx.resize(64, 0);
    env.write("seg/0.index", &idx);
    let r = run(&env, &["recover", "--dry-run", s(&st)], b"");
    assert!(
        r.out().contains("would rebuild the index from the store: 2 entries, 24 bytes, replacing the old index's 40 bytes from byte 24 on (the whole old index, 64 bytes, kept in "),
        "{}",
        r.show()
    );
    let r = run(&env, &["recover", s(&st)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(
        r.out().contains("index rebuilt from the store: 2 entries now, 24 bytes, replacing the old index's 40 bytes from byte 24 on; the whole old index (64 bytes) is kept in ")
            && r.out().contains("0.index.0.durable-sidecar"),
        "{}",
        r.show()
    );
}

/// Guards (regression): `log dump` selections of no record (`--first 0`, `--last 0`,
/// `--index N..N`, `--start` at or past the end without `--follow`) printed nothing and exited
/// 0, as for a log without records: now exit 2, one sentence.
#[test]
fn dump_selections_of_no_record_are_refused() {
    let env = Env::new();
    let log = env.write("n.log", b"");
    let r = run(&env, &["log", "append", s(&log), "one", "two"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let size = fs::metadata(&log).expect("stat").len().to_string();
    for (args, says) in [
        (vec!["--first", "0"], "--first 0 selects no record"),
        (vec!["--last", "0"], "--last 0 selects no record"),
        (vec!["--index", "1..1"], "--index 1..1 selects no record"),
        (vec!["--start", &size], "is at or past its end"),
        (vec!["--start", "999999"], "is at or past its end"),
    ] {
        let mut all = vec!["log", "dump"];
        all.extend(&args);
        all.push(s(&log));
        let r = run(&env, &all, b"");
        assert_one_line_error(&r, &[says], &format!("{args:?}"));
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.show());
    }
    // Selections that do select something still work.
    let r = run(
        &env,
        &["log", "dump", "--format", "raw", "--index", "1", s(&log)],
        b"",
    );
    assert_eq!((r.code, r.out()), (0, "two\n".to_string()), "{}", r.show());
}

/// Guards (regression): with a log of 3 records, `--index 5`, `--index 3`, `--end 0` and
/// `--end 64` (a native log's first record starts at 64) printed nothing and exited 0, while
/// `--first 0` and `--start` past the end were refused: one rule now (exit 2, one sentence
/// naming the log's records), and the options quoted as typed (`--index ..0`, not `0..0`).
#[test]
fn dump_selections_no_record_of_the_log_falls_in_are_refused() {
    let env = Env::new();
    let log = env.path("three.log");
    let r = run(
        &env,
        &["log", "append", s(&log), "one", "two", "three"],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    let lines = env.write("three.lines", lines_log(&[b"one", b"two", b"three"]));
    for (file, args, says) in [
        (
            &log,
            vec!["--index", "5"],
            "--index 5 selects none of its 3 records",
        ),
        (
            &log,
            vec!["--index", "3"],
            "--index 3 selects none of its 3 records",
        ),
        (
            &log,
            vec!["--index", "3.."],
            "--index 3.. selects none of its 3 records",
        ),
        (
            &lines,
            vec!["--index", "3"],
            "--index 3 selects none of its 3 records",
        ),
        (&log, vec!["--end", "0"], "--end 0 selects no record"),
        (
            &log,
            vec!["--end", "64"],
            "--end 64 selects no record of it",
        ),
        (
            &log,
            vec!["--index", "..0"],
            "--index ..0 selects no record",
        ),
        (
            &log,
            vec!["--index", "3..3"],
            "--index 3..3 selects no record",
        ),
    ] {
        let mut all = vec!["log", "dump"];
        all.extend(&args);
        all.push(s(file));
        let r = run(&env, &all, b"");
        assert_one_line_error(&r, &[says], &format!("{args:?}"));
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.show());
    }
    // What selects a record still prints it.
    for (args, want) in [
        (vec!["--index", "2"], "three\n"),
        (vec!["--end", "65"], "one\n"),
        (vec!["--index", "..1"], "one\n"),
    ] {
        let mut all = vec!["log", "dump", "--format", "raw"];
        all.extend(&args);
        all.push(s(&log));
        let r = run(&env, &all, b"");
        assert_eq!(
            (r.code, r.out()),
            (0, want.to_string()),
            "{args:?}: {}",
            r.show()
        );
    }
}

/// Guards (regression): a lines salvage that copied no entry said "NEW is a lines log, as SRC
/// is" (--json: dst_format "lines") of an empty file, which the next `log append` without
/// --log-format made a native log. It now says NEW is empty and how to keep it a lines log;
/// --json says "empty". A native salvage of no record is a native log (its header), as said.
#[test]
fn a_lines_salvage_of_no_entry_says_the_new_file_is_empty() {
    let env = Env::new();
    let src = env.write("torn1.log", b"partial entry without newline");
    let dst = env.path("e.out");
    let r = run(
        &env,
        &["log", "salvage", "--log-format", "lines", s(&src), s(&dst)],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read(&dst).expect("read"), b"");
    assert!(!r.out().contains("is a lines log"), "{}", r.show());
    let said = format!(
        "{} is empty: no entry of {} checks out; `durable log append --log-format lines {} ENTRY` keeps it a lines log",
        s(&dst),
        s(&src),
        s(&dst)
    );
    assert!(r.out().contains(&said), "{said:?} in {}", r.show());
    let json_dst = env.path("e.json.out");
    let r = run(
        &env,
        &[
            "log",
            "salvage",
            "--json",
            "--log-format",
            "lines",
            s(&src),
            s(&json_dst),
        ],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    let v: Value = serde_json::from_str(r.out().trim()).expect("json");
    assert_eq!(
        (v["records"].as_u64(), v["dst_format"].as_str()),
        (Some(0), Some("empty")),
        "{v}"
    );
    // The hint works: the file becomes a lines log.
    let r = run(
        &env,
        &["log", "append", "--log-format", "lines", s(&dst), "hello"],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(verified_format(&env, &dst), "lines");

    // A native log whose only record is damaged: a native log of its header.
    let native = env.path("n.log");
    let r = run(&env, &["log", "append", s(&native), "payload"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let mut bytes = fs::read(&native).expect("read");
    let n = bytes.len();
    bytes[n - 3] ^= 1;
    fs::write(&native, &bytes).expect("write");
    let ndst = env.path("n.out");
    let r = run(
        &env,
        &["log", "salvage", "--json", s(&native), s(&ndst)],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    let v: Value = serde_json::from_str(r.out().trim()).expect("json");
    assert_eq!(
        (v["records"].as_u64(), v["dst_format"].as_str()),
        (Some(0), Some("native")),
        "{v}"
    );
    assert_eq!(verified_format(&env, &ndst), "native");
}
