//! `durable recover` run unattended, at every boot, on any directory: it changes nothing but
//! what it repairs (no write open of anything else, under strace; a read-only mount, files it
//! may not write and a running executable are fine), removes or rewrites only what is provably
//! ours (look-alike journals are left alone, with the reason), keeps what it removes in sidecars
//! outside any directory the log's owner reads whole (proglog), never takes a sidecar for a log,
//! dumps and restores sidecars, keeps zeros as holes, skips pseudo-filesystems, stays on one
//! filesystem with `-x`, streams its results in bounded memory, and every command it suggests
//! works when run.
//!
//! Sidecars are parsed by their documented layout (docs/FORMAT.md, "Sidecars") in
//! `common::parse_sidecar`, independently of durable's reader.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::common::{
    self, Durable, Env, KillOnDrop, Mounted, Run, assert_one_line_error, assert_same, changes,
    durable_path, have, is_root, run, s, skip, snapshot,
};
use crate::formats::{
    INDEX_MAX, LINE_ENTRIES, STORE_RECORDS, aof_standard, index_for, lines_log, padded, store,
};
use crate::log::{append_each, json_lines, layout, payload_of};

/// Records of the native logs made here (one append each: every record is a whole append).
const RECORDS: [&str; 5] = ["first", "second record", "3", "fourth, longer", "fifth"];

/// A native log at `rel` holding [`RECORDS`]; its bytes.
fn native_log(env: &Env, rel: &str) -> Vec<u8> {
    let path = env.path(rel);
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    append_each(env, &path, &RECORDS);
    fs::read(&path).expect("read the new log")
}

/// A native log at `rel` with its last record torn (cut short by 5 bytes): (its bytes, the end
/// of its valid prefix).
fn torn_log(env: &Env, rel: &str) -> (Vec<u8>, usize) {
    let full = native_log(env, rel);
    let valid_end = layout(&full)[3].1;
    let torn = full[..full.len() - 5].to_vec();
    fs::write(env.path(rel), &torn).expect("tear");
    (torn, valid_end)
}

/// A tree with nothing to repair, holding one file of every kind a tree at boot may hold: clean
/// logs of every format, a sidecar of an earlier recovery, plain and unwritable files, an
/// executable, look-alike journals, a temporary file held open, a FIFO, a symlink.
struct CleanTree {
    root: PathBuf,
    _holder: common::Holder,
}

fn clean_tree(env: &Env) -> CleanTree {
    let root = env.path("tree");
    native_log(env, "tree/clean.log");
    // A log recovered earlier: its sidecar is in the tree now.
    torn_log(env, "tree/old.log");
    let r = run(env, &["recover", "tree/old.log"], b"");
    assert_eq!(r.code, 0, "setup: {}", r.show());
    env.write("tree/app.lines", lines_log(&LINE_ENTRIES));
    env.write("tree/seg/0.store", store(&STORE_RECORDS));
    env.write("tree/seg/0.index", index_for(&STORE_RECORDS));
    env.write("tree/data.aof", aof_standard().bytes);
    env.write("tree/notes.txt", b"some notes\n");
    let ro = env.write("tree/readonly.conf", b"key = value\n");
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o444)).expect("chmod");
    fs::copy("/bin/true", root.join("prog")).expect("copy an executable");
    env.write("tree/.short.durable-journal", b"abc");
    env.write("tree/.zeros.durable-journal", [0u8; 64]);
    let held = env.write(
        "tree/.busy.0123456789abcdef.durable-tmp",
        b"a save in progress",
    );
    let holder = common::Holder::spawn(&held);
    let fifo = root.join("fifo");
    let ok = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "setup: mkfifo");
    std::os::unix::fs::symlink("clean.log", root.join("link.log")).expect("symlink");
    CleanTree {
        root,
        _holder: holder,
    }
}

/// The lines of the trace that change something: an open for writing or creating, and every
/// call that creates, removes, renames, truncates or re-modes a name.
fn writes_in(trace: &str) -> Vec<&str> {
    trace
        .lines()
        .filter(|l| {
            let call = l.split_once(' ').map_or(*l, |(pid, rest)| {
                if pid.chars().all(|c| c.is_ascii_digit()) {
                    rest.trim_start()
                } else {
                    l
                }
            });
            let opens = call.starts_with("open") || call.starts_with("creat");
            (opens
                && ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC"]
                    .iter()
                    .any(|f| call.contains(f)))
                || [
                    "mkdir",
                    "unlink",
                    "rmdir",
                    "rename",
                    "truncate",
                    "ftruncate",
                    "link",
                    "symlink",
                    "chmod",
                    "fchmod",
                    "chown",
                    "fchown",
                    "utime",
                ]
                .iter()
                .any(|c| call.starts_with(&format!("{c}(")) || call.starts_with(&format!("{c}at(")))
        })
        .collect()
}

// Guards: a real `recover DIR` opened every regular file O_RDWR (an inotify IN_CLOSE_WRITE on
// each, exit 2 on files it may not write). A tree with nothing to repair now sees no write open
// and no change of any kind, under strace, and exits 0.
#[test]
fn strace_recover_of_a_tree_with_nothing_to_repair_opens_nothing_for_writing() {
    let test =
        "recover_boot::strace_recover_of_a_tree_with_nothing_to_repair_opens_nothing_for_writing";
    if !have("strace") {
        skip(test, "strace is not installed");
        return;
    }
    let env = Env::new();
    let tree = clean_tree(&env);
    let before = snapshot(&tree.root, true);
    let trace = env.path("trace.out");
    let out = env
        .cmd(&["recover", "tree"])
        .wrap(&[
            "strace",
            "-f",
            "-o",
            s(&trace),
            "-e",
            "trace=open,openat,openat2,creat,mkdir,mkdirat,unlink,unlinkat,rmdir,rename,renameat,renameat2,truncate,ftruncate,link,linkat,symlink,symlinkat,chmod,fchmod,fchmodat,chown,fchown,fchownat,utimensat",
        ])
        .no_stdin()
        .run();
    if !out.status.success() && out.stderr.contains("ptrace") {
        skip(test, &format!("strace cannot trace here: {}", out.stderr));
        return;
    }
    assert_eq!(out.code, 0, "{}", out.show());
    let text = fs::read_to_string(&trace).expect("read trace");
    let writes = writes_in(&text);
    assert!(
        writes.is_empty(),
        "calls that write or change a name:\n{}",
        writes.join("\n")
    );
    assert_eq!(
        changes(&before, &snapshot(&tree.root, true)),
        Vec::<String>::new(),
        "the tree changed"
    );
}

// Guards: a 3-byte `.z.durable-journal` without our magic, and a 64-byte all-zero one, were
// deleted as "rolled back". Only a journal that starts with our header is ours; the others are
// left alone and listed with the reason.
#[test]
fn look_alike_journals_are_left_alone_with_the_reason() {
    let env = Env::new();
    env.write("d/z", b"z's content\n");
    env.write("d/.z.durable-journal", b"abc");
    env.write("d/y", b"y's content\n");
    env.write("d/.y.durable-journal", [0u8; 64]);
    // A save interrupted before it wrote the journal's header: its content, no header. Not
    // provably ours either.
    env.write(
        "d/.x.durable-journal",
        [vec![0u8; 64], b"new x\n".to_vec()].concat(),
    );
    let before = snapshot(&env.path("d"), true);
    for args in [
        &["recover", "--json", "d"][..],
        &["recover", "--json", "d/.z.durable-journal"],
        &["recover", "--json", "d/.y.durable-journal"],
        &["recover", "--json", "--dry-run", "d"],
    ] {
        let r = run(&env, args, b"");
        assert_eq!(r.code, 0, "{args:?}: {}", r.show());
        let objects = json_lines(&r.stdout);
        for name in [
            ".z.durable-journal",
            ".y.durable-journal",
            ".x.durable-journal",
        ] {
            let path = format!("d/{name}");
            if args.len() == 3 && args[2] != path && args[2] != "d" {
                continue;
            }
            let v = objects
                .iter()
                .find(|v| v["path"] == common::json_path(&path))
                .unwrap_or_else(|| panic!("{args:?}: no report for {path}: {}", r.show()));
            assert_eq!(
                (&v["kind"], &v["outcome"]),
                (&Value::from("journal"), &Value::from("untouched")),
                "{args:?}: {v}"
            );
            assert!(
                v["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("journal header") || r.contains("shorter than")),
                "{args:?}: the reason: {v}"
            );
        }
        assert_eq!(
            changes(&before, &snapshot(&env.path("d"), true)),
            Vec::<String>::new(),
            "{args:?} changed something"
        );
    }
    let r = run(&env, &["recover", "d"], b"");
    assert!(
        r.out().contains("d/.z.durable-journal: untouched") && r.out().contains("may not be ours"),
        "{}",
        r.show()
    );
}

// Guards: on a read-only mount even clean logs and non-logs gave exit 2 ("could not inspect").
// A read-only bind mount with nothing to repair exits 0; a torn log there is exit 2 with the
// real cause and "was not changed".
#[test]
fn read_only_bind_mount() {
    let test = "recover_boot::read_only_bind_mount";
    if !is_root() {
        skip(test, "a bind mount needs root");
        return;
    }
    let env = Env::new();
    let tree = clean_tree(&env);
    let ro = env.path("ro");
    fs::create_dir(&ro).expect("mkdir");
    let bind = |args: &[&str]| {
        Command::new("mount")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !bind(&["--bind", s(&tree.root), s(&ro)]) {
        skip(test, "mount --bind failed (no CAP_SYS_ADMIN here?)");
        return;
    }
    let _guard = Mounted(ro.clone());
    if !bind(&["-o", "remount,bind,ro", s(&ro)]) {
        skip(test, "remounting the bind mount read-only failed");
        return;
    }
    let before = snapshot(&tree.root, true);
    let r = run(&env, &["recover", "ro"], b"");
    assert_eq!(
        r.code,
        0,
        "nothing to repair on a read-only mount: {}",
        r.show()
    );
    assert!(r.stderr.is_empty(), "{}", r.show());
    assert_eq!(
        changes(&before, &snapshot(&tree.root, true)),
        Vec::<String>::new()
    );

    // Something to repair: a torn log, and a complete journal of ours (its save interrupted
    // once the journal was flushed). Each is refused with the cause, and left as it was.
    drop(_guard);
    let (torn, _) = torn_log(&env, "tree/torn.log");
    env.write("tree/cfg", b"old\n");
    let journal = env.write("tree/.cfg.durable-journal", journal_of(b"new\n"));
    assert!(bind(&["--bind", s(&tree.root), s(&ro)]), "bind again");
    let _guard = Mounted(ro.clone());
    assert!(bind(&["-o", "remount,bind,ro", s(&ro)]), "read-only again");
    let before = snapshot(&tree.root, true);
    let r = run(&env, &["recover", "ro"], b"");
    assert_eq!(r.code, 2, "{}", r.show());
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "one sentence each: {}", r.show());
    for (line, file) in lines.iter().zip(["ro/.cfg.durable-journal", "ro/torn.log"]) {
        assert!(
            line.contains(file)
                && line.contains("read-only")
                && line.contains(&format!("{file} was not changed")),
            "cause and state: {line}"
        );
    }
    assert_eq!(
        changes(&before, &snapshot(&tree.root, true)),
        Vec::<String>::new()
    );
    assert_eq!(fs::read(tree.root.join("torn.log")).expect("read"), torn);
    assert!(journal.exists());
}

/// A complete journal of `durable save` for `content` (docs/DURABILITY.md, "Journal format").
/// Wait past a clock tick of file timestamps (coarse on many kernels): a journal written after
/// this is later than every change made before it, as a journal beside a link must be to be
/// applied through it (a file the link leads to changed since may hold a later save).
pub(crate) fn tick() {
    std::thread::sleep(std::time::Duration::from_millis(25));
}

pub(crate) fn journal_of(content: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    let mut j = vec![0u8; 64];
    j[..8].copy_from_slice(b"DURJNL\0\x01");
    j[8..16].copy_from_slice(&(content.len() as u64).to_le_bytes());
    j[16..48].copy_from_slice(&sha2::Sha256::digest(content));
    j[48..52].copy_from_slice(&0o644u32.to_le_bytes());
    let crc = crc32fast::hash(&j[..60]);
    j[60..64].copy_from_slice(&crc.to_le_bytes());
    j.extend_from_slice(content);
    j
}

/// `durable ARGS…` as the unprivileged user `nobody` (root only), in the scratch directory.
fn as_nobody(env: &Env, args: &[&str]) -> Option<Run> {
    if !is_root() || !have("setpriv") {
        return None;
    }
    // A copy of the binary everyone can run, whatever the build directory's permissions.
    let bin = env.path("durable-bin");
    if !bin.exists() {
        fs::copy(durable_path(), &bin).expect("copy the binary");
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let setpriv = || {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&bin)
            .args(args)
            .current_dir(env.dir.path())
            .env_remove("DURABLE_FAULT")
            .stdin(Stdio::null())
            .output()
            .expect("run setpriv")
    };
    // The copy's write descriptor can still be open in a child another test forked meanwhile
    // (until that child's exec closes it): executing the copy is then ETXTBSY for a moment.
    let mut out = setpriv();
    for _ in 0..50 {
        if !String::from_utf8_lossy(&out.stderr).contains("Text file busy") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        out = setpriv();
    }
    let run = Run::of(out);
    assert!(
        run.signal().is_none(),
        "durable {args:?} was killed: {}",
        run.show()
    );
    Some(run)
}

// Guards: any file the user cannot write gave exit 2. As an unprivileged user, a tree of
// root's files (readable, not writable) with nothing to repair exits 0; a torn log there is
// exit 2, "permission denied", and unchanged.
#[test]
fn files_the_user_cannot_write() {
    let test = "recover_boot::files_the_user_cannot_write";
    let env = Env::new();
    let tree = clean_tree(&env);
    fs::set_permissions(env.dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let before = snapshot(&tree.root, true);
    let Some(r) = as_nobody(&env, &["recover", "tree"]) else {
        skip(test, "running as another user needs root and setpriv");
        return;
    };
    // The held temporary file is root's, open by root's process: kept, not an error.
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(r.stderr.is_empty(), "{}", r.show());
    assert_eq!(
        changes(&before, &snapshot(&tree.root, true)),
        Vec::<String>::new()
    );

    let (torn, _) = torn_log(&env, "tree/torn.log");
    let r = as_nobody(&env, &["recover", "tree/torn.log"]).expect("as nobody");
    assert_eq!(r.code, 2, "{}", r.show());
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one sentence: {}", r.show());
    assert!(
        lines[0].contains("permission denied")
            && lines[0].contains("tree/torn.log was not changed"),
        "cause and state: {}",
        lines[0]
    );
    assert_eq!(fs::read(env.path("tree/torn.log")).expect("read"), torn);
    assert!(
        !env.path("tree/.durable-recovered/torn.log.0.durable-sidecar")
            .exists()
            && fs::read_dir(env.path("tree/.durable-recovered"))
                .expect("sidecar dir")
                .all(|e| !e
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .starts_with("torn.log")),
        "a sidecar for a log that could not be changed"
    );
}

// Guards: a running executable in the tree gave "could not inspect X: Text file busy" (exit 2).
#[test]
fn a_running_executable_in_the_tree() {
    let env = Env::new();
    native_log(&env, "tree/clean.log");
    let prog = env.path("tree/sleeper");
    fs::copy("/bin/sleep", &prog).expect("copy sleep");
    let child = Command::new(&prog)
        .arg("60")
        .stdin(Stdio::null())
        .spawn()
        .expect("run the copy");
    let _child = KillOnDrop(child);
    // Running: its /proc/PID/exe is the copy.
    let pid = _child.0.id();
    assert!(
        common::wait_until(std::time::Duration::from_secs(20), || {
            fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p.ends_with("sleeper"))
        }),
        "setup: the copy never ran"
    );
    let r = run(&env, &["recover", "tree"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(r.stderr.is_empty(), "{}", r.show());
    assert!(r.out().contains("tree/sleeper: untouched"), "{}", r.show());
}

/// The default sidecar directory of a log in `dir`, and of a proglog segment directory `seg`.
fn side_dir(dir: &Path) -> PathBuf {
    dir.join(common::SIDECAR_DIR)
}

fn sidecar_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Copy the proglog fixture (written and crashed by proglog itself; see
/// tests/fixtures/recover/PROVENANCE.md) into `dir`.
fn proglog_fixture(dir: &Path) {
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recover/proglog-B_selfkill");
    fs::create_dir_all(dir).expect("mkdir");
    for entry in fs::read_dir(src).expect("fixture") {
        let entry = entry.expect("entry");
        fs::copy(entry.path(), dir.join(entry.file_name())).expect("copy fixture");
    }
}

// Guards: recover keeps proglog's directory proglog's own. The sidecars recover left inside a
// proglog directory made proglog open segment 0 twice at its next start, and the index sidecars
// were taken for proglog indexes, so `log verify DIR` right after exited 1 and a second recover
// trimmed durable's own backup. Now proglog's directory holds exactly its own files after recover,
// verify is clean, and a second recover (of the segment directory or above it) changes nothing.
#[test]
fn a_proglog_directory_holds_nothing_new_and_a_second_recover_is_a_no_op() {
    let env = Env::new();
    let seg = env.path("app/log");
    proglog_fixture(&seg);
    let names_before = sidecar_names(&seg);
    let (code, _) = crate::formats::verify(&env, &seg.join("0.store"), &[]);
    assert_eq!(code, 1, "setup: the fixture has torn segments");

    let r = run(&env, &["recover", "app/log"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(
        sidecar_names(&seg),
        names_before,
        "recover left something in proglog's directory"
    );
    let kept = sidecar_names(&side_dir(&env.path("app")).join("log"));
    assert_eq!(
        kept.len(),
        10,
        "a sidecar for each store and each index, beside the directory: {kept:?}"
    );
    for dir in ["app/log", "app"] {
        let r = run(&env, &["log", "verify", dir], b"");
        assert_eq!(r.code, 0, "verify {dir} right after recover: {}", r.show());
    }
    let r = run(&env, &["log", "verify", "app"], b"");
    assert_eq!(
        r.out()
            .matches("skipped, a sidecar kept by durable recover")
            .count(),
        10,
        "sidecars are listed as such: {}",
        r.show()
    );
    let before = snapshot(&env.path("app"), true);
    for dir in ["app/log", "app"] {
        let r = run(&env, &["recover", dir], b"");
        assert_eq!(r.code, 0, "recover {dir} again: {}", r.show());
        assert_eq!(
            changes(&before, &snapshot(&env.path("app"), true)),
            Vec::<String>::new(),
            "recover {dir} again changed something"
        );
    }
}

// Guards: sidecars sat next to the log and were detected as logs by the next verify/recover.
// For native, lines and aof logs they go to .durable-recovered/ beside the log (or to
// --backup-dir), verify lists them as skipped, recover leaves them alone, and a sidecar named
// where a log is expected is one sentence naming the commands that apply.
#[test]
fn sidecars_are_never_taken_for_logs() {
    let env = Env::new();
    let (native, native_end) = torn_log(&env, "d/events.log");
    let lines = lines_log(&LINE_ENTRIES);
    env.write("d/app.lines", &lines[..lines.len() - 9]);
    let a = finished_aof_with_junk();
    env.write("d/data.aof", &a);
    let r = run(&env, &["recover", "d"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let kept = sidecar_names(&side_dir(&env.path("d")));
    assert_eq!(kept.len(), 3, "{kept:?}");
    assert!(
        kept.contains(&format!("events.log.{native_end}.durable-sidecar")),
        "{kept:?}"
    );
    let side = side_dir(&env.path("d")).join(format!("events.log.{native_end}.durable-sidecar"));
    let (data, trailer) = common::parse_sidecar(&fs::read(&side).expect("read"));
    assert_eq!(data, &native[native_end..]);
    assert_eq!(trailer.offset, native_end as u64);
    assert_eq!(trailer.size_before, native.len() as u64);
    assert_eq!(trailer.size_after, native_end as u64);
    assert_eq!(trailer.first_index, 4, "records kept before the cut");
    assert_eq!(trailer.format, 1, "native");
    assert_eq!(trailer.change, 1, "cut");
    assert_eq!(
        trailer.native_header,
        &native[..64],
        "the log's file header"
    );
    assert_eq!(
        trailer.source,
        fs::canonicalize(env.path("d/events.log")).expect("canonical")
    );
    assert_eq!(
        fs::metadata(&side).expect("stat").permissions().mode() & 0o7777,
        fs::metadata(env.path("d/events.log"))
            .expect("stat")
            .permissions()
            .mode()
            & 0o666,
        "a sidecar has its log's permission bits (no execute or set-id bit)"
    );

    let r = run(&env, &["log", "verify", "d"], b"");
    assert_eq!(r.code, 0, "verify right after recover: {}", r.show());
    assert_eq!(
        r.out()
            .matches("skipped, a sidecar kept by durable recover")
            .count(),
        3,
        "{}",
        r.show()
    );
    let before = snapshot(&env.path("d"), true);
    let r = run(&env, &["recover", "--json", "d"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let sidecars: Vec<Value> = json_lines(&r.stdout)
        .into_iter()
        .filter(|v| v["kind"] == "sidecar")
        .collect();
    assert_eq!(sidecars.len(), 3, "{}", r.show());
    assert!(
        sidecars.iter().all(|v| v["outcome"] == "untouched"),
        "{sidecars:?}"
    );
    assert_eq!(
        changes(&before, &snapshot(&env.path("d"), true)),
        Vec::<String>::new()
    );

    for args in [
        &["log", "verify", s(&side)][..],
        &["recover", s(&side)],
        &["log", "salvage", s(&side), "new.log"],
        &["log", "append", s(&side), "a record"],
    ] {
        let before = fs::read(&side).expect("read");
        let r = run(&env, args, b"");
        assert_eq!(r.code, 2, "{args:?}: {}", r.show());
        assert_eq!(
            fs::read(&side).expect("read"),
            before,
            "{args:?} changed it"
        );
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.show());
        assert!(
            r.stderr
                .contains("is not a log: it is a sidecar kept by durable recover")
                && r.stderr.contains("durable log restore"),
            "{args:?}: {}",
            r.show()
        );
    }

    // --backup-dir: anywhere, for any format; a verify there lists the sidecars as such.
    let backups = env.path("backups");
    fs::create_dir(&backups).expect("mkdir");
    torn_log(&env, "e/other.log");
    let r = run(&env, &["recover", "--backup-dir", "backups", "e"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(
        sidecar_names(&backups).len(),
        1,
        "{:?}",
        sidecar_names(&backups)
    );
    assert!(!side_dir(&env.path("e")).exists());
    let r = run(&env, &["log", "verify", "backups"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let r = run(&env, &["recover", "--backup-dir", "missing", "e"], b"");
    assert_eq!(r.code, 2, "{}", r.show());
    let r = run(
        &env,
        &["recover", "--backup-dir", "backups", "--no-backup", "e"],
        b"",
    );
    assert_eq!(r.code, 2, "conflicting flags: {}", r.show());
}

// Guards: a sidecar of native records could not be read by any durable command ("does not start
// with the log magic"). `log dump SIDECAR` reads each format with what its trailer keeps (a
// native log's header: salt and checksum), at the offsets and record numbers of the log.
#[test]
fn dump_sidecar_shows_the_records_at_the_log_offsets() {
    let env = Env::new();
    let full = native_log(&env, "c.log");
    let bounds = layout(&full);
    let mut damaged = full.clone();
    damaged[bounds[1].0 + 30] ^= 0x10;
    fs::write(env.path("c.log"), &damaged).expect("damage record 1");
    let r = run(&env, &["recover", "--force", "c.log"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let side = common::sidecar_path(&env.path("c.log"), bounds[1].0 as u64);
    let r = run(
        &env,
        &["log", "dump", "--format", "json", "--resync", s(&side)],
        b"",
    );
    assert_eq!(r.code, 3, "damage then valid records: {}", r.show());
    let objects = json_lines(&r.stdout);
    assert_eq!(objects[0]["damage"]["offset"], bounds[1].0, "{}", r.show());
    let records: Vec<&Value> = objects
        .iter()
        .filter(|v| v.get("damage").is_none())
        .collect();
    assert_eq!(records.len(), 3, "{}", r.show());
    for (v, i) in records.iter().zip(2..) {
        // `index` counts valid records (record 1 is the damaged one), `seq` is as stored.
        assert_eq!(v["index"], i - 1, "{v}");
        assert_eq!(v["seq"], i, "{v}");
        assert_eq!(v["offset"], bounds[i].0, "{v}");
        assert_eq!(payload_of(v), RECORDS[i].as_bytes(), "{v}");
    }
    let r = run(&env, &["log", "dump", s(&side)], b"");
    assert!(
        r.out().starts_with(&format!("# {}: ", s(&side)))
            && r.out().contains("cut from")
            && r.out().contains("durable log restore"),
        "text dump names what the sidecar holds: {}",
        r.show()
    );
    let r = run(
        &env,
        &["log", "dump", "--format", "raw", "--resync", s(&side)],
        b"",
    );
    let want: String = RECORDS[2..].iter().map(|r| format!("{r}\n")).collect();
    assert_same(&r.stdout, want, &r.show());
    // Flags that would do nothing on a sidecar are errors.
    for flag in [
        &["--follow"][..],
        &["--log-format", "lines"],
        &["--with-index", "x"],
    ] {
        let mut args = vec!["log", "dump"];
        args.extend_from_slice(flag);
        args.push(s(&side));
        let r = run(&env, &args, b"");
        assert_eq!(r.code, 2, "{flag:?} on a sidecar: {}", r.show());
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.show());
        assert!(r.stdout.is_empty(), "{}", r.show());
    }

    // The other formats, in their own terms.
    let lines = lines_log(&LINE_ENTRIES);
    let cut = lines.len() - 9;
    env.write("l/app.lines", &lines[..cut]);
    let r = run(&env, &["recover", "--force", "l/app.lines"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let line_start = crate::formats::line_bounds(&LINE_ENTRIES)[LINE_ENTRIES.len() - 1];
    let side = common::sidecar_path(&env.path("l/app.lines"), line_start as u64);
    let r = run(&env, &["log", "dump", "--format", "json", s(&side)], b"");
    let objects = json_lines(&r.stdout);
    assert_eq!(
        objects.last().expect("a line")["damage"]["offset"],
        line_start,
        "{}",
        r.show()
    );

    proglog_fixture(&env.path("p/seg"));
    let r = run(&env, &["recover", "p/seg/0.store"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let index_side = common::proglog_sidecar_path(&env.path("p/seg/0.index"), 0);
    let r = run(
        &env,
        &["log", "dump", "--format", "json", s(&index_side)],
        b"",
    );
    let objects = json_lines(&r.stdout);
    let entries: Vec<&Value> = objects
        .iter()
        .filter(|v| v.get("entry_offset").is_some())
        .collect();
    assert!(entries.len() >= 47, "the old index's entries: {}", r.show());
    for (i, v) in entries.iter().enumerate() {
        assert_eq!(
            (&v["index"], &v["entry_offset"]),
            (&Value::from(i), &Value::from(i)),
            "{v}"
        );
    }
}

// Guards: "one documented command puts them back": `log restore SIDECAR` makes the log exactly
// what it was before recover, for every change recover makes; a second restore is a no-op; a
// log that changed since, a log replaced by another, or a damaged sidecar is refused, unchanged.
#[test]
fn restore_puts_the_bytes_back_only_where_they_were() {
    let env = Env::new();
    // Native: cut.
    let (torn, valid_end) = torn_log(&env, "n/events.log");
    let log = env.path("n/events.log");
    let r = run(&env, &["recover", "n/events.log"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let side = common::sidecar_path(&log, valid_end as u64);
    let r = run(&env, &["log", "restore", "--dry-run", s(&side)], b"");
    assert!(
        r.code == 0 && r.out().contains("would put back"),
        "{}",
        r.show()
    );
    assert_eq!(
        fs::read(&log).expect("read").len(),
        valid_end,
        "--dry-run changed the log"
    );
    let r = run(&env, &["log", "restore", s(&side)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(
        fs::read(&log).expect("read"),
        torn,
        "restored byte for byte"
    );
    let r = run(&env, &["log", "restore", s(&side)], b"");
    assert!(
        r.code == 0 && r.out().contains("nothing to do"),
        "{}",
        r.show()
    );
    // Recovering again reuses the sidecar (same bytes), no second one.
    let r = run(&env, &["recover", "n/events.log"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(sidecar_names(&side_dir(&env.path("n"))).len(), 1);

    // The log changed since: refused.
    let r = run(&env, &["log", "append", "n/events.log", "later"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let now = fs::read(&log).expect("read");
    let r = run(&env, &["log", "restore", s(&side)], b"");
    assert_eq!(r.code, 2, "{}", r.show());
    assert!(
        r.stderr.lines().count() == 1
            && r.stderr.contains("changed since")
            && r.stderr.contains("was not changed"),
        "{}",
        r.show()
    );
    assert_eq!(fs::read(&log).expect("read"), now);
    // Another log at the same path, of the right length: its header differs.
    let other = env.path("n/other.log");
    append_each(&env, &other, &RECORDS[..3]);
    let mut replaced = fs::read(&other).expect("read");
    replaced.resize(valid_end, 0);
    fs::write(&log, &replaced).expect("replace");
    let r = run(&env, &["log", "restore", s(&side)], b"");
    assert_eq!(r.code, 2, "{}", r.show());
    assert!(r.stderr.contains("file header"), "{}", r.show());
    assert_eq!(fs::read(&log).expect("read"), replaced);
    // A damaged sidecar: refused.
    fs::write(&log, &torn[..valid_end]).expect("put the cut log back");
    let mut bytes = fs::read(&side).expect("read");
    bytes[0] ^= 1;
    fs::write(&side, &bytes).expect("damage the sidecar");
    let r = run(&env, &["log", "restore", s(&side)], b"");
    assert_eq!(r.code, 2, "{}", r.show());
    assert!(r.stderr.contains("is damaged"), "{}", r.show());
    assert_eq!(fs::read(&log).expect("read"), &torn[..valid_end]);
    let r = run(&env, &["log", "restore", "n/events.log"], b"");
    assert_eq!(r.code, 2, "not a sidecar: {}", r.show());

    // aof: zero-filled, size kept.
    let a = finished_aof_with_junk();
    let aof = env.write("a/data.aof", &a);
    let r = run(&env, &["recover", "--json", "a/data.aof"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let v = &json_lines(&r.stdout)[0];
    let side = PathBuf::from(common::data_text(&v["sidecar"]));
    assert_ne!(fs::read(&aof).expect("read"), a);
    let r = run(&env, &["log", "restore", s(&side)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read(&aof).expect("read"), a, "aof restored");

    // proglog: the store cut and the whole index rebuilt; both put back.
    let seg = env.path("p/seg");
    proglog_fixture(&seg);
    let original: BTreeMap<String, Vec<u8>> = ["0.store", "0.index"]
        .iter()
        .map(|n| (n.to_string(), fs::read(seg.join(n)).expect("read")))
        .collect();
    let r = run(&env, &["recover", "--json", "p/seg/0.store"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    for v in json_lines(&r.stdout) {
        let side = common::data_text(&v["sidecar"]);
        let r = run(&env, &["log", "restore", &side], b"");
        assert_eq!(r.code, 0, "{}", r.show());
    }
    for (name, bytes) in &original {
        assert_eq!(
            &fs::read(seg.join(name)).expect("read"),
            bytes,
            "{name} restored"
        );
    }
}

// Guards: `log dump SIDECAR` said "`durable log restore SIDECAR` puts them back" whatever the
// log had become: after the next append to a log recover emptied (or any change), restore
// refused what the hint promised. The hint is now decided as restore decides: the command when
// it works (and pasted, it does), why not otherwise, and never `log restore -` for a sidecar read
// from standard input (restore takes a file).
#[test]
fn dump_of_a_sidecar_offers_restore_only_when_it_works() {
    let env = Env::new();
    // What the first line of `log dump SIDECAR` says about restoring it.
    let hint = |side: &str| {
        let r = run(&env, &["log", "dump", side], b"");
        let first = r.out().lines().next().unwrap_or_default().to_string();
        assert!(first.starts_with(&format!("# {side}: ")), "{}", r.show());
        first
    };
    let torn_start = {
        let full = native_log(&env, "n.log");
        full[..30].to_vec()
    };
    for (case, log, torn, flags) in [
        ("a native log's torn start", "n.log", torn_start, &[][..]),
        (
            "a lines log's torn first line",
            "l.log",
            b"abc".to_vec(),
            &["--log-format", "lines"][..],
        ),
    ] {
        env.write(log, &torn);
        let mut args = vec!["recover"];
        args.extend_from_slice(flags);
        args.push(log);
        let r = run(&env, &args, b"");
        assert_eq!(r.code, 0, "{case}: {}", r.show());
        assert_eq!(
            fs::read(env.path(log)).expect("read").len(),
            0,
            "{case}: emptied"
        );
        let side = format!(".durable-recovered/{log}.0.durable-sidecar");
        let restore = format!("durable log restore {side}");
        let first = hint(&side);
        assert!(
            first.contains(&format!("`{restore}` puts them back")),
            "{case}: {first}"
        );
        // Pasted, it works.
        let r = run(&env, &["log", "restore", &side], b"");
        assert_eq!(r.code, 0, "{case}: {}", r.show());
        assert_eq!(
            fs::read(env.path(log)).expect("read"),
            torn,
            "{case}: restored"
        );
        let first = hint(&side);
        assert!(
            !first.contains("puts them back") && first.contains("holds them again"),
            "{case}, restored: {first}"
        );
        // Emptied again, then appended to: restore refuses, and the dump says so.
        let r = run(&env, &args, b"");
        assert_eq!(r.code, 0, "{case}: {}", r.show());
        let r = run(&env, &["log", "append", log, "next"], b"");
        assert_eq!(r.code, 0, "{case}: {}", r.show());
        let first = hint(&side);
        assert!(
            !first.contains("puts them back")
                && first.contains("log restore cannot put them back")
                && first.contains("changed since"),
            "{case}, appended to: {first}"
        );
        let r = run(&env, &["log", "restore", &side], b"");
        assert_eq!(r.code, 2, "{case}: {}", r.show());
        // `recover DIR` lists the sidecar with a command that works whatever the log became.
        let r = run(&env, &["recover", "."], b"");
        let listed = r
            .out()
            .lines()
            .find(|l| l.starts_with(&format!("./{side}: untouched")))
            .unwrap_or_default()
            .to_string();
        assert!(
            !listed.contains("puts them back")
                && listed.contains(&format!("`durable log dump ./{side}`")),
            "{case}, recover DIR: {}",
            r.show()
        );
        // Read from standard input: no command naming `-` (restore refuses it).
        let r = run(
            &env,
            &["log", "dump", "-"],
            &fs::read(env.path(&side)).expect("read"),
        );
        let first = r.out().lines().next().unwrap_or_default().to_string();
        assert!(
            first.starts_with("# -: ") && !first.contains("restore -") && !first.contains("./-"),
            "{case}, from stdin: {first}"
        );
    }
}

// Guards: a 4 GiB sparse zero tail produced a fully allocated 4.1 GB sidecar. A 1 GiB one now
// gives a sidecar that allocates almost nothing (`du`), and restoring it keeps the log sparse.
#[test]
fn a_sparse_zero_tail_gives_a_sparse_sidecar() {
    let test = "recover_boot::a_sparse_zero_tail_gives_a_sparse_sidecar";
    const TAIL: u64 = 1 << 30;
    let env = Env::new();
    let full = native_log(&env, "z/big.log");
    let log = env.path("z/big.log");
    let file = fs::OpenOptions::new().write(true).open(&log).expect("open");
    file.set_len(full.len() as u64 + TAIL).expect("extend");
    drop(file);
    let allocated = |p: &Path| fs::metadata(p).expect("stat").blocks() * 512;
    if allocated(&log) > 1 << 20 {
        skip(test, "this filesystem does not keep holes in sparse files");
        return;
    }
    let r = run(&env, &["recover", "z/big.log"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read(&log).expect("read"), full, "cut at the zero fill");
    let side = common::sidecar_path(&log, full.len() as u64);
    let meta = fs::metadata(&side).expect("the sidecar");
    assert!(
        meta.len() > TAIL,
        "it keeps the whole tail: {} bytes",
        meta.len()
    );
    assert!(
        allocated(&side) < 1 << 20,
        "the sidecar allocates {} bytes for a tail of zeros",
        allocated(&side)
    );
    let r = run(&env, &["log", "restore", s(&side)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(
        fs::metadata(&log).expect("stat").len(),
        full.len() as u64 + TAIL,
        "restored size"
    );
    assert!(allocated(&log) < 1 << 20, "the restored log is sparse");
    let (code, v) = crate::formats::verify(&env, &log, &[]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["valid_end"], full.len(), "{v}");
}

// Guards: `recover --dry-run /` walked /proc and /sys (15k "could not inspect" errors, exit 3);
// `log verify /` did the same. Kernel pseudo-filesystems are skipped by both commands, named
// explicitly or met in a walk.
#[test]
fn pseudo_filesystems_are_skipped() {
    let test = "recover_boot::pseudo_filesystems_are_skipped";
    let env = Env::new();
    let r = run(&env, &["log", "verify", "/proc", "/sys"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_same(
        &r.stdout,
        "/proc: skipped, a proc filesystem (kernel pseudo-files, not data)\n\
         /sys: skipped, a sysfs filesystem (kernel pseudo-files, not data)\n",
        &r.show(),
    );
    let r = run(&env, &["recover", "--dry-run", "/proc", "/sys"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(r.stderr.is_empty(), "{}", r.show());
    assert!(
        r.out().contains("/proc: skipped, a proc filesystem")
            && r.out().contains("/sys: skipped, a sysfs filesystem"),
        "{}",
        r.show()
    );
    assert_eq!(
        r.out().lines().count(),
        2,
        "nothing below them: {}",
        r.show()
    );

    if !is_root() {
        skip(
            test,
            "mounting proc and sysfs inside a tree needs root (the walk part)",
        );
        return;
    }
    native_log(&env, "tree/a.log");
    let mut guards = Vec::new();
    for (fs_type, dir) in [("proc", "tree/p"), ("sysfs", "tree/s")] {
        let mnt = env.path(dir);
        fs::create_dir_all(&mnt).expect("mkdir");
        let ok = Command::new("mount")
            .args(["-t", fs_type, fs_type])
            .arg(&mnt)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            skip(test, &format!("mount -t {fs_type} failed here"));
            return;
        }
        guards.push(Mounted(mnt));
    }
    for extra in [&[][..], &["--dry-run"]] {
        let mut args = vec!["recover"];
        args.extend_from_slice(extra);
        args.push("tree");
        let r = run(&env, &args, b"");
        assert_eq!(r.code, 0, "{args:?}: {}", r.show());
        assert!(r.stderr.is_empty(), "{}", r.show());
        assert!(
            r.out().contains("tree/p: skipped, a proc filesystem")
                && r.out().contains("tree/s: skipped, a sysfs filesystem"),
            "{}",
            r.show()
        );
        assert!(
            !r.out().contains("tree/p/") && !r.out().contains("tree/s/"),
            "walked into a pseudo-filesystem: {}",
            r.show()
        );
    }
    let r = run(&env, &["log", "verify", "tree"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(r.stderr.is_empty(), "{}", r.show());
    let lines: Vec<String> = r.out().lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 3, "the log and the two skipped: {}", r.show());
    assert!(lines[0].starts_with("tree/a.log: clean"), "{}", r.show());
    assert_eq!(
        lines[1..],
        [
            "tree/p: skipped, a proc filesystem (kernel pseudo-files, not data)",
            "tree/s: skipped, a sysfs filesystem (kernel pseudo-files, not data)",
        ],
        "{}",
        r.show()
    );
}

// Guards: `-x/--one-file-system`, like `du -x` and `find -xdev`: a filesystem mounted inside the
// tree is not walked; without it, it is. A flag that would do nothing is an error.
#[test]
fn one_file_system() {
    let test = "recover_boot::one_file_system";
    let env = Env::new();
    torn_log(&env, "tree/here.log");
    let r = run(&env, &["recover", "-x", "tree/here.log"], b"");
    assert_eq!(r.code, 2, "-x with no directory: {}", r.show());
    let Some((mnt, _guard)) = ({
        // The tmpfs of common::small_tmpfs, mounted at tree/mnt.
        if !is_root() {
            None
        } else {
            let mnt = env.path("tree/mnt");
            fs::create_dir(&mnt).expect("mkdir");
            let ok = Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
                .arg(&mnt)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            ok.then(|| (mnt.clone(), Mounted(mnt)))
        }
    }) else {
        skip(test, "mounting a tmpfs inside the tree needs root");
        return;
    };
    torn_log(&env, "tree/mnt/there.log");
    let r = run(&env, &["recover", "--dry-run", "-x", "tree"], b"");
    assert_eq!(r.code, 1, "{}", r.show());
    assert!(r.out().contains("tree/here.log: would cut"), "{}", r.show());
    assert!(
        !r.out().contains("there.log"),
        "-x crossed into the mount: {}",
        r.show()
    );
    let r = run(&env, &["recover", "--dry-run", "tree"], b"");
    assert!(
        r.out().contains("tree/mnt/there.log: would cut"),
        "without -x the mount is walked: {}",
        r.show()
    );
    let _ = mnt;
}

/// The peak resident memory of `durable ARGS…`, in KiB, as GNU time measures it (`%M`, from
/// the `wait4` of its own child). Not `wait4` on our own child: it is started by a `vfork`-like
/// spawn, and the kernel counts the test process's peak into it at `exec`.
fn peak_kib(env: &Env, args: &[&str]) -> u64 {
    let report = env.path("peak.txt");
    let out = env
        .cmd(args)
        .wrap(&["/usr/bin/time", "-f", "%M", "-o", s(&report)])
        .no_stdin()
        .run();
    assert!(out.status.success(), "durable {args:?}: {}", out.show());
    let text = fs::read_to_string(&report).expect("read the report");
    text.trim()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("GNU time said {text:?}"))
}

// Guards: `recover --dry-run /` reached 239 MB of memory: every path was gathered before the
// first was handled, every result before the first was printed. On a tree of 100,000 files
// the peak memory is now that of a tree of 1,000 (no timing involved).
#[test]
fn memory_is_bounded_on_a_tree_of_100000_files() {
    let test = "recover_boot::memory_is_bounded_on_a_tree_of_100000_files";
    let gnu_time = Command::new("/usr/bin/time")
        .args(["-f", "%M", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !gnu_time {
        skip(
            test,
            "GNU time (/usr/bin/time) is not installed: it measures the peak memory",
        );
        return;
    }
    let env = Env::new();
    let root = env.path("big");
    for d in 0..100 {
        let dir = root.join(format!("d{d:03}"));
        fs::create_dir_all(&dir).expect("mkdir");
        // Names are what a walk holds: hard links make them quickly (a new inode each is ten
        // times slower to make here, and no different to walk).
        let first = dir.join("file-0000.dat");
        fs::File::create(&first).expect("create");
        for f in 1..1000 {
            fs::hard_link(&first, dir.join(format!("file-{f:04}.dat"))).expect("link");
        }
    }
    let small = peak_kib(&env, &["recover", "big/d000"]);
    let large = peak_kib(&env, &["recover", "big"]);
    eprintln!("peak memory: {small} KiB for 1,000 files, {large} KiB for 100,000");
    assert!(
        large < small + (4 << 10),
        "peak memory grows with the tree: {small} KiB for 1,000 files, {large} KiB for 100,000"
    );
}

// Guards: recover printed nothing until the whole walk was done. Each result is now printed as
// it is found: with the first result read and the output pipe left full, the log that sorts
// last in the tree has not been touched yet; once the output is read, it is.
#[test]
fn results_stream_while_the_tree_is_walked() {
    let env = Env::new();
    native_log(&env, "tree/a/first.log");
    let many = env.path("tree/m");
    fs::create_dir_all(&many).expect("mkdir");
    for f in 0..5000 {
        fs::File::create(many.join(format!("untouched-file-{f:05}"))).expect("create");
    }
    let (torn, valid_end) = torn_log(&env, "tree/z/last.log");
    let mut child = env
        .cmd(&["recover", "tree"])
        .command()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn durable");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let child = KillOnDrop(child);
    let mut first = String::new();
    out.read_line(&mut first).expect("read the first result");
    assert!(first.starts_with("tree/a/first.log: clean"), "{first:?}");
    // 5,000 lines do not fit the pipe: durable is blocked writing, far from tree/z.
    assert_eq!(
        fs::read(env.path("tree/z/last.log")).expect("read"),
        torn,
        "the last log was cut before the first result was read"
    );
    let rest: Vec<String> = out.lines().map(|l| l.expect("line")).collect();
    assert_eq!(rest.len(), 5001, "every file reported once");
    drop(child);
    assert_eq!(
        fs::read(env.path("tree/z/last.log")).expect("read").len(),
        valid_end
    );
}

/// The commands a text quotes between backticks that start with `durable `.
fn hints(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|h| h.starts_with("durable "))
        .map(str::to_string)
        .collect()
}

// Guards: `verify` of a symlinked log suggested "`durable recover rec2/link.log` cuts …", and
// that command exited 2 ("is a symlink, not a regular file"). Every "`durable …`" that verify,
// recover, dump, restore and append print is run as printed (through a shell, so quoting is
// tested too, with a directory name holding a space) and works: exit 0 (a dump of a sidecar:
// 0 or 1, as dump exits 1 when what it shows is a torn tail).
#[test]
fn every_hint_printed_works_when_run() {
    let env = Env::new();
    let d = "my logs";
    torn_log(&env, &format!("{d}/real.log"));
    std::os::unix::fs::symlink("real.log", env.path(&format!("{d}/link.log"))).expect("symlink");
    let full = native_log(&env, &format!("{d}/c.log"));
    let mut damaged = full.clone();
    damaged[layout(&full)[1].0 + 30] ^= 0x10;
    env.write(&format!("{d}/c.log"), &damaged);
    env.write(&format!("{d}/seg/0.store"), store(&STORE_RECORDS));
    env.write(
        &format!("{d}/seg/0.index"),
        padded(&index_for(&STORE_RECORDS), INDEX_MAX),
    );
    let a = finished_aof_with_junk();
    env.write(&format!("{d}/data.aof"), &a);
    let lines = lines_log(&LINE_ENTRIES);
    env.write(&format!("{d}/app.lines"), &lines[..lines.len() - 9]);
    torn_log(&env, "-dash.log");

    let mut printed: Vec<(String, String)> = Vec::new();
    let mut collect = |what: &str, r: &Run| {
        for h in hints(&format!("{}\n{}", r.out(), r.stderr)) {
            printed.push((what.to_string(), h));
        }
    };
    let p = |rel: &str| format!("{d}/{rel}");
    for rel in ["link.log", "c.log", "seg/0.store", "data.aof", "app.lines"] {
        let r = run(&env, &["log", "verify", &p(rel)], b"");
        collect("verify", &r);
    }
    let r = run(&env, &["log", "verify", "--", "-dash.log"], b"");
    collect("verify", &r);
    let r = run(&env, &["log", "append", &p("link.log"), "x"], b"");
    assert_eq!(r.code, 1, "{}", r.show());
    collect("append", &r);
    let r = run(&env, &["recover", d], b"");
    collect("recover", &r);
    let r = run(&env, &["recover", d], b"");
    collect("recover again", &r);
    let side = common::sidecar_path(&env.path(&p("real.log")), layout(&full)[3].1 as u64);
    for args in [
        &["log", "dump", s(&side)][..],
        &["log", "verify", s(&side)],
        &["log", "restore", "--dry-run", s(&side)],
    ] {
        let r = run(&env, args, b"");
        collect(&format!("{args:?}"), &r);
    }
    let kinds: Vec<&str> = printed.iter().map(|(_, h)| h.as_str()).collect();
    for needle in [
        "durable recover 'my logs/link.log'",
        "durable recover ./-dash.log",
        "durable log salvage 'my logs/c.log' NEW",
        "durable recover 'my logs/seg/0.store'",
        "durable recover 'my logs/data.aof'",
        "durable log restore",
        "durable log dump",
    ] {
        assert!(
            kinds.iter().any(|h| h.starts_with(needle)),
            "no hint {needle:?} among {kinds:#?}"
        );
    }
    let path = format!(
        "{}:{}",
        durable_path().parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (n, (what, hint)) in printed.iter().enumerate() {
        let command = hint.replace(" NEW", &format!(" 'salvaged {n}.log'"));
        let out = Durable::sh(env.dir.path(), &command)
            .env("PATH", &path)
            .no_stdin()
            .run();
        let code = out.code;
        let ok = code == 0 || (hint.starts_with("durable log dump") && code == 1);
        assert!(ok, "the hint `{hint}` printed by {what}: {}", out.show());
    }
}

// Guards: `recover LINK` of a symlinked log was exit 2 ("is a symlink, not a regular file"). It
// is repaired through its link, as `save` writes through links: the link stays a link, the file
// it points to is cut, and the sidecar goes beside that file.
#[test]
fn a_symlinked_log_is_recovered_through_its_link() {
    let env = Env::new();
    let (_, valid_end) = torn_log(&env, "data/real.log");
    fs::create_dir(env.path("links")).expect("mkdir");
    std::os::unix::fs::symlink("../data/real.log", env.path("links/app.log")).expect("symlink");
    let r = run(&env, &["recover", "--json", "links/app.log"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let v = &json_lines(&r.stdout)[0];
    assert_eq!(v["path"], common::json_path("links/app.log"), "{v}");
    assert_eq!(v["outcome"], "truncated", "{v}");
    assert!(
        fs::symlink_metadata(env.path("links/app.log"))
            .expect("lstat")
            .file_type()
            .is_symlink(),
        "the link was replaced"
    );
    assert_eq!(
        fs::read(env.path("data/real.log")).expect("read").len(),
        valid_end
    );
    let side = common::sidecar_path(&env.path("data/real.log"), valid_end as u64);
    assert!(side.exists(), "the sidecar beside the file: {v}");
    assert!(!env.path("links/.durable-recovered").exists());
}

/// A finished aof file (its data ends with the checkpoint magic) with 4 bytes of junk after it:
/// the package recovers it to its checkpoint, and so does recover, zero-filling the junk.
fn finished_aof_with_junk() -> Vec<u8> {
    let mut a = crate::formats::aof(&[b"alpha-", b"beta", b"gamma"], true).bytes;
    a.extend_from_slice(b"junk");
    a
}

/// Undo `chattr +a`/`+i` on drop, even when the test fails.
struct Attribute(PathBuf, &'static str);

impl Drop for Attribute {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg(self.1).arg(&self.0).status();
    }
}

// Guards: repairing a torn log that carries `chattr +a` or `+i` said only "permission denied",
// which reads like a file mode problem; the sentence names the attribute, the command that
// lifts it, and that the log was not changed (exit 2, no sidecar).
#[test]
fn an_append_only_or_immutable_log_is_named_as_such() {
    let test = "recover_boot::an_append_only_or_immutable_log_is_named_as_such";
    let env = Env::new();
    let (torn, _) = torn_log(&env, "t.log");
    let log = env.path("t.log");
    for (set, unset, named) in [
        ("+a", "-a", "append-only (chattr +a)"),
        ("+i", "-i", "immutable (chattr +i)"),
    ] {
        let made = have("chattr")
            && Command::new("chattr")
                .arg(set)
                .arg(&log)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
        if !made {
            skip(
                test,
                "chattr does not work here (not root, or a filesystem without attributes)",
            );
            return;
        }
        let undo = Attribute(log.clone(), unset);
        let r = run(&env, &["recover", "t.log"], b"");
        assert_one_line_error(
            &r,
            &[
                &format!("t.log is {named}"),
                &format!("`chattr {unset} t.log`"),
                "not changed",
            ],
            set,
        );
        drop(undo);
        assert_eq!(fs::read(&log).expect("read"), torn, "{set}");
        assert_eq!(
            sidecar_names(&side_dir(env.dir.path())),
            Vec::<String>::new(),
            "a sidecar for a log that could not be changed"
        );
    }
}

/// Guards (regression): a journal anyone could write in a walked directory was applied by root
/// at boot as root's: a forged `.tool.durable-journal` with mode 4755 became a root-owned
/// set-user-id file, and one for an existing root-owned file overwrote it. A journal is now
/// applied with its author's authority: a new target is created as the author's, without
/// set-id bits, and an existing target that is not the author's is left alone (exit 2, one
/// sentence, nothing changed).
#[test]
fn another_users_journal_is_applied_with_that_users_authority() {
    let test = "recover_boot::another_users_journal_is_applied_with_that_users_authority";
    if !is_root() {
        skip(test, "it needs root to give files to another user");
        return;
    }
    let env = Env::new();
    let nobody = 65534;
    let dir = env.path("app");
    fs::create_dir(&dir).expect("mkdir");
    std::os::unix::fs::chown(&dir, Some(nobody), Some(nobody)).expect("chown");
    let mut forged = journal_of(b"#!/bin/sh\necho hi\n");
    forged[48..52].copy_from_slice(&0o4755u32.to_le_bytes());
    let crc = crc32fast::hash(&forged[..60]);
    forged[60..64].copy_from_slice(&crc.to_le_bytes());
    let j = env.write("app/.tool.durable-journal", &forged);
    std::os::unix::fs::chown(&j, Some(nobody), Some(nobody)).expect("chown");
    let r = run(&env, &["recover", "-x", s(&dir)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let meta = fs::metadata(env.path("app/tool")).expect("the target was created");
    assert_eq!(
        (meta.uid(), meta.gid()),
        (nobody, nobody),
        "the author's file"
    );
    assert_eq!(meta.mode() & 0o7777, 0o755, "no set-id bits");

    let owned = env.write("app/config", b"root's\n");
    let j = env.write(
        "app/.config.durable-journal",
        journal_of(b"someone else's\n"),
    );
    std::os::unix::fs::chown(&j, Some(nobody), Some(nobody)).expect("chown");
    let before = snapshot(&dir, true);
    let r = run(&env, &["recover", "-x", s(&dir)], b"");
    assert_eq!(r.code, 2, "{}", r.show());
    assert!(r.show().contains("another user's journal"), "{}", r.show());
    assert_eq!(
        changes(&before, &snapshot(&dir, true)),
        Vec::<String>::new()
    );
    assert_eq!(fs::read(&owned).expect("read"), b"root's\n");
}

/// Run a hint `durable …` as printed, through a shell, with the built binary first on PATH.
fn paste(env: &Env, hint: &str) -> Run {
    let path = format!(
        "{}:{}",
        durable_path().parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    common::Durable::sh(env.dir.path(), hint)
        .env("PATH", &path)
        .no_stdin()
        .run()
}

// Guards (regression): `recover --dry-run` said a journal "would complete" when its target was
// a symlink, a directory or a FIFO, and the real run refused it (exit 2, a raw "Too many levels
// of symbolic links" for the link), at every boot. One decision serves both: the dry run gives
// the same exit status and the same sentence, and neither changes anything. The journal beside
// a symlink (written before the link was put there) was never settled: naming the link, as the
// sentence says, applies it through the link, as `durable save LINK` writes.
#[test]
fn a_journal_whose_target_is_not_a_regular_file_is_refused_alike_by_the_dry_run() {
    let env = Env::new();
    let dir = env.path("app");
    env.write("app/real", b"old\n");
    tick();
    for name in ["lnk", "sub", "fifo"] {
        env.write(
            &format!("app/.{name}.durable-journal"),
            journal_of(b"new content\n"),
        );
    }
    std::os::unix::fs::symlink("real", dir.join("lnk")).expect("symlink");
    fs::create_dir(dir.join("sub")).expect("mkdir");
    let mkfifo = Command::new("mkfifo")
        .arg(dir.join("fifo"))
        .status()
        .expect("mkfifo");
    assert!(mkfifo.success());
    let before = snapshot(&dir, true);
    let dry = run(&env, &["recover", "--dry-run", "app"], b"");
    let real = run(&env, &["recover", "app"], b"");
    assert_eq!(
        (dry.code, real.code),
        (2, 2),
        "{}\n{}",
        dry.show(),
        real.show()
    );
    assert_eq!(
        dry.stderr, real.stderr,
        "the dry run says what the run does"
    );
    assert!(!dry.out().contains("would complete"), "{}", dry.show());
    for (name, what) in [
        ("lnk", "is a symlink"),
        ("sub", "is a directory"),
        ("fifo", "is a FIFO"),
    ] {
        let line = real
            .stderr
            .lines()
            .find(|l| l.contains(&format!(".{name}.durable-journal")))
            .unwrap_or_else(|| panic!("no sentence for {name}: {}", real.show()));
        assert!(
            line.contains(what) && line.contains("nothing was changed"),
            "{line}"
        );
    }
    assert_eq!(
        changes(&before, &snapshot(&dir, true)),
        Vec::<String>::new()
    );
    // The way forward for the link, pasted: the content goes through the link.
    let hint = hints(&real.stderr)
        .into_iter()
        .find(|h| h.contains("lnk"))
        .expect("a hint for the link");
    assert_eq!(hint, "durable recover app/lnk");
    let dry = run(&env, &["recover", "--dry-run", "app/lnk"], b"");
    assert_eq!(dry.code, 0, "{}", dry.show());
    assert!(dry.out().contains("would complete"), "{}", dry.show());
    let out = paste(&env, &hint);
    assert_eq!(out.code, 0, "`{hint}`: {}", out.show());
    assert_eq!(fs::read(dir.join("real")).expect("read"), b"new content\n");
    assert!(
        fs::symlink_metadata(dir.join("lnk"))
            .expect("link")
            .file_type()
            .is_symlink(),
        "the link stays a link"
    );
    assert!(!dir.join(".lnk.durable-journal").exists());
    // An incomplete journal is rolled back whatever its target is: the target is not touched.
    let mut torn = journal_of(b"never applied\n");
    torn.truncate(70);
    env.write("app/.sub.durable-journal", &torn);
    let dry = run(
        &env,
        &["recover", "--dry-run", "app/.sub.durable-journal"],
        b"",
    );
    assert_eq!(dry.code, 0, "{}", dry.show());
    assert!(dry.out().contains("would roll back"), "{}", dry.show());
    let r = run(&env, &["recover", "app/.sub.durable-journal"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(!dir.join(".sub.durable-journal").exists());
    assert!(dir.join("sub").is_dir());
}

// Guards (regression): a user other than root completing another user's journal for a new
// file failed at fchown ("Operation not permitted"), after creating the file, and the journal
// stayed pending. Only root may create a file as another user: the journal is refused before
// anything is written, with the reason and that root completes it, and the dry run says the
// same; root then completes it with the command printed, the file its author's.
#[test]
fn another_users_journal_for_a_new_file_is_left_to_root() {
    let test = "recover_boot::another_users_journal_for_a_new_file_is_left_to_root";
    let env = Env::new();
    fs::set_permissions(env.dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let dir = env.path("app");
    fs::create_dir(&dir).expect("mkdir");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).expect("chmod");
    let j = env.write(
        "app/.tool.durable-journal",
        journal_of(b"root's new file\n"),
    );
    // Writable by all, as the report had it: the open succeeded and fchown failed.
    fs::set_permissions(&j, fs::Permissions::from_mode(0o666)).expect("chmod");
    let before = snapshot(&dir, true);
    let Some(dry) = as_nobody(&env, &["recover", "--dry-run", "app"]) else {
        skip(test, "running as another user needs root and setpriv");
        return;
    };
    let real = as_nobody(&env, &["recover", "app"]).expect("as nobody");
    assert_eq!(
        (dry.code, real.code),
        (2, 2),
        "{}\n{}",
        dry.show(),
        real.show()
    );
    assert_eq!(
        dry.stderr, real.stderr,
        "the dry run says what the run does"
    );
    let lines: Vec<&str> = real.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one sentence: {}", real.show());
    for needle in [
        "app/.tool.durable-journal",
        "app/tool",
        "written by user 0",
        "only root may give a file to another user",
        "nothing was changed",
    ] {
        assert!(lines[0].contains(needle), "{needle:?} in {}", lines[0]);
    }
    assert_eq!(
        changes(&before, &snapshot(&dir, true)),
        Vec::<String>::new()
    );
    let hint = hints(&real.stderr).pop().expect("a hint");
    assert_eq!(hint, "durable recover app/tool");
    let out = paste(&env, &hint);
    assert_eq!(out.code, 0, "`{hint}` as root: {}", out.show());
    assert_eq!(
        fs::read(dir.join("tool")).expect("read"),
        b"root's new file\n"
    );
    assert_eq!(fs::metadata(dir.join("tool")).expect("stat").uid(), 0);
}

// Guards (regression): a tree deeper than PATH_MAX gave a raw "File name too long (os error
// 36)". The directory whose path is too long is one sentence that names it and says why and
// what was not looked at (exit 2), and the walk goes on with the rest of the tree, for
// `recover` and `log verify` alike.
#[test]
fn a_tree_deeper_than_path_max_is_one_sentence_and_the_walk_goes_on() {
    let env = Env::new();
    env.write("tree/a.txt", b"first\n");
    env.write("tree/z.txt", b"last\n");
    // 300 levels of 20-character names, made one level at a time (relative to each).
    let name = "d".repeat(20);
    let script = format!(
        "cd tree && i=0 && while [ $i -lt 300 ]; do mkdir {name} && cd -P {name} || exit 1; i=$((i+1)); done && echo deep > leaf"
    );
    let made = Command::new("sh")
        .args(["-c", &script])
        .current_dir(env.dir.path())
        .status()
        .expect("sh");
    assert!(made.success(), "the deep tree");
    for args in [&["recover", "tree"][..], &["log", "verify", "tree"]] {
        let r = run(&env, args, b"");
        assert_eq!(r.code, 2, "{args:?}: {}", r.show());
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: one sentence: {}", r.show());
        let line = lines[0];
        assert!(
            line.contains("not checked: its path is")
                && line.contains("PATH_MAX")
                && line.contains("nothing below this directory was looked at")
                && !line.contains("os error"),
            "{line}"
        );
        let dir = line
            .trim_start_matches("durable: ")
            .split(": not checked")
            .next()
            .expect("the directory");
        assert!(dir.starts_with("tree/") && dir.ends_with(&name), "{dir}");
        assert!(dir.len() > 4095 && dir.len() <= 4095 + 21, "{}", dir.len());
        for file in ["tree/a.txt", "tree/z.txt"] {
            assert!(
                r.out().contains(file),
                "{args:?}: {file} listed: {}",
                r.show()
            );
        }
    }
}

// Guards (regression): with -x, the sidecars of a proglog segment whose directory is a mount
// point went into the directory above it, on another filesystem. They stay off it: recover
// refuses the repair, saying where the sidecar would have gone and why, and how to keep it on
// the segment's filesystem (exit 2, nothing changed), the dry run alike; without -x they go
// above the segment's directory as before, and the hint works when followed.
#[test]
fn with_x_a_segments_sidecars_stay_on_its_filesystem() {
    let test = "recover_boot::with_x_a_segments_sidecars_stay_on_its_filesystem";
    let env = Env::new();
    let seg = env.path("app/log");
    fs::create_dir_all(&seg).expect("mkdir");
    if !is_root() {
        skip(test, "mounting a tmpfs needs root");
        return;
    }
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(&seg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip(test, "mounting a tmpfs failed (no CAP_SYS_ADMIN here?)");
        return;
    }
    let _guard = Mounted(seg.clone());
    proglog_fixture(&seg);
    let before = snapshot(&env.path("app"), true);
    for args in [
        &["recover", "-x", "--dry-run", "app/log"][..],
        &["recover", "-x", "app/log"],
    ] {
        let r = run(&env, args, b"");
        assert_eq!(r.code, 2, "{args:?}: {}", r.show());
        let line = r.stderr.lines().next().expect("a sentence");
        assert!(
            line.contains("another filesystem")
                && line.contains("app/.durable-recovered")
                && line.contains("--backup-dir DIR (any directory outside the segment's directory"),
            "{args:?}: {line}"
        );
        assert_eq!(
            changes(&before, &snapshot(&env.path("app"), true)),
            Vec::<String>::new(),
            "{args:?}"
        );
        assert!(!side_dir(&env.path("app")).exists(), "{args:?}");
    }
    // The ways the sentence gives (regression: it asked for "a directory on its filesystem",
    // and proglog reads its own directory whole, so a tmpfs holding only it has none): any
    // directory outside the segment's, or --no-backup.
    fs::create_dir(env.path("bk")).expect("mkdir");
    let r = run(
        &env,
        &["recover", "-x", "--backup-dir", "bk", "app/log"],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(!sidecar_names(&env.path("bk")).is_empty(), "{}", r.show());
    proglog_fixture(&seg);
    let r = run(&env, &["recover", "-x", "--no-backup", "app/log"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    // Without -x, the documented place, above the segment's directory.
    proglog_fixture(&seg);
    let r = run(&env, &["recover", "app/log"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(
        !sidecar_names(&side_dir(&env.path("app")).join("log")).is_empty(),
        "{}",
        r.show()
    );
}

// Guards (regression): `recover L` and `log verify L`, L a symlink to a directory, listed "L:
// untouched, a symlink, not followed" and then walked through it. A symlink named on the
// command line is followed (docs/FORMAT.md): the root is not listed as a symlink.
#[test]
fn a_symlink_named_as_the_root_of_a_walk_is_not_listed_as_untouched() {
    let env = Env::new();
    env.write("realdir/.a.0123456789abcdef.durable-tmp", b"x");
    std::os::unix::fs::symlink("realdir", env.path("L")).expect("symlink");
    for args in [
        &["recover", "--dry-run", "L"][..],
        &["recover", "--dry-run", "--json", "L"],
        &["log", "verify", "L"],
    ] {
        let r = run(&env, args, b"");
        assert_eq!(r.code, 0, "{args:?}: {}", r.show());
        assert!(!r.out().contains("symlink"), "{args:?}: {}", r.show());
        assert!(
            r.out().contains("L/.a.0123456789abcdef.durable-tmp"),
            "{args:?}: {}",
            r.show()
        );
    }
}

// Guards (regression): as an unprivileged user, a stale temporary file of root's that no
// process had open was reported "in use" ("a process has this temporary file open"), because
// other users' open files cannot be looked into. It is kept, and the report says that this
// could not be checked (JSON outcome "unchecked"); root sees it is stale.
#[test]
fn a_temp_file_that_cannot_be_checked_is_not_called_in_use() {
    let test = "recover_boot::a_temp_file_that_cannot_be_checked_is_not_called_in_use";
    let env = Env::new();
    fs::set_permissions(env.dir.path(), fs::Permissions::from_mode(0o777)).expect("chmod");
    let temp = env.write(".t.0123456789abcdef.durable-tmp", b"x");
    let Some(r) = as_nobody(&env, &["recover", "--json", "."]) else {
        skip(test, "running as another user needs root and setpriv");
        return;
    };
    assert_eq!(r.code, 0, "{}", r.show());
    let line = json_lines(&r.stdout)
        .into_iter()
        .find(|v| v["kind"] == "temp")
        .expect("the temporary file");
    assert_eq!(line["outcome"], "unchecked", "{}", r.show());
    let r = as_nobody(&env, &["recover", "."]).expect("as nobody");
    assert!(
        r.out()
            .contains("kept: could not check whether another user's process has it open")
            && !r.out().contains("a process has this temporary file open"),
        "{}",
        r.show()
    );
    assert!(temp.exists());
    let r = run(&env, &["recover", "--dry-run", "."], b"");
    assert!(
        r.out().contains("would remove the temporary file"),
        "{}",
        r.show()
    );
}

/// `chown` of the path itself (a symlink stays a symlink) to `nobody`.
fn give_to_nobody(path: &Path) {
    std::os::unix::fs::lchown(path, Some(65534), Some(65534)).expect("lchown");
}

// Guards (regression, security): root's `recover ./L` applied another user's journal through
// that user's symlink L into a directory that user cannot write, creating a file there, and the
// walk printed that very command as its hint; and root's own journal beside a name another user
// had replaced with a symlink to a root-only file was written through the link into it. A
// journal is written through a link only by its own author, and only through links of the
// author's (or root's): both are refused, the dry run alike, nothing is created or changed, and
// no hint tells root to run what was refused.
#[test]
fn a_journal_is_written_through_a_link_only_by_its_author_and_only_through_their_links() {
    let test = "recover_boot::a_journal_is_written_through_a_link_only_by_its_author_and_only_through_their_links";
    if !is_root() {
        skip(test, "it needs root to own files as another user");
        return;
    }
    let env = Env::new();
    fs::set_permissions(env.dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let dir = env.path("app");
    fs::create_dir(&dir).expect("mkdir");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o1777)).expect("chmod");
    let rootonly = env.path("rootonly");
    fs::create_dir(&rootonly).expect("mkdir");
    // Another user's journal beside that user's link into a directory only root may write.
    let j = env.write(
        "app/.L.durable-journal",
        journal_of(b"content chosen by nobody"),
    );
    give_to_nobody(&j);
    std::os::unix::fs::symlink(rootonly.join("planted"), dir.join("L")).expect("symlink");
    give_to_nobody(&dir.join("L"));
    // Root's own journal beside a name another user replaced with a link to a root-only file.
    let secret = env.write("secret", b"TOPSECRET");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).expect("chmod");
    tick();
    env.write("app/.f.durable-journal", journal_of(b"root's new content"));
    std::os::unix::fs::symlink(&secret, dir.join("f")).expect("symlink");
    give_to_nobody(&dir.join("f"));
    let before = snapshot(env.dir.path(), true);
    for args in [
        &["recover", "--dry-run", "app"][..],
        &["recover", "app"],
        &["recover", "--dry-run", "app/L"],
        &["recover", "app/L"],
        &["recover", "--dry-run", "app/f"],
        &["recover", "app/f"],
    ] {
        let r = run(&env, args, b"");
        assert_eq!(r.code, 2, "{args:?}: {}", r.show());
        assert!(!r.out().contains("complete"), "{args:?}: {}", r.show());
        for line in r.stderr.lines() {
            assert!(
                line.contains("a link can point anywhere") && line.contains("nothing was changed"),
                "{args:?}: {line}"
            );
            // Root is never told to run what was refused: only the author, as themselves, or
            // once the link is gone.
            if !hints(line).is_empty() {
                assert!(
                    line.contains("run as that user") || line.contains("once the link is removed"),
                    "{args:?}: {line}"
                );
            }
        }
        if args.contains(&"app/L") || args.contains(&"app") {
            assert!(r.stderr.contains("written by user 65534"), "{}", r.show());
        }
        if args.contains(&"app/f") || args.contains(&"app") {
            assert!(
                r.stderr.contains("a link on the way is user 65534's"),
                "{}",
                r.show()
            );
        }
        assert_eq!(
            changes(&before, &snapshot(env.dir.path(), true)),
            Vec::<String>::new(),
            "{args:?}"
        );
        assert!(!rootonly.join("planted").exists(), "{args:?}");
        assert_eq!(fs::read(&secret).expect("read"), b"TOPSECRET", "{args:?}");
    }
    // The author, as themselves, has no more authority through the link than without it.
    let r = as_nobody(&env, &["recover", "app/L"]).expect("as nobody");
    assert_eq!(r.code, 2, "{}", r.show());
    assert!(!rootonly.join("planted").exists());
    // Root's own link is followed for root's own journal (as `durable save LINK` writes).
    fs::remove_file(dir.join("f")).expect("rm");
    std::os::unix::fs::symlink(&secret, dir.join("f")).expect("symlink");
    let r = run(&env, &["recover", "app/f"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read(&secret).expect("read"), b"root's new content");
}

// Guards (regression): `recover ./L`, L a symlink to a directory or a FIFO with a journal of
// ours beside it, said only that the target was not a regular file, never naming the journal;
// and with a second journal beside the file a link points to, one run applied one journal and
// the next run the other. The journal beside the link is named with the way to settle it (and
// a directory is still walked); two journals for one file are refused, both kept, until one is
// removed.
#[test]
fn a_journal_beside_a_link_is_named_when_not_applied() {
    let env = Env::new();
    fs::create_dir(env.path("realdir")).expect("mkdir");
    env.write("realdir/.a.0123456789abcdef.durable-tmp", b"x");
    env.write(".L.durable-journal", journal_of(b"J"));
    std::os::unix::fs::symlink("realdir", env.path("L")).expect("symlink");
    let r = run(&env, &["recover", "--dry-run", "./L"], b"");
    assert_eq!(r.code, 2, "{}", r.show());
    assert_one_line_error(
        &r,
        &[
            "./.L.durable-journal",
            "the target is a directory",
            "`rm ./.L.durable-journal` drops it",
        ],
        "directory",
    );
    assert!(
        r.out().contains("would remove the temporary file"),
        "{}",
        r.show()
    );
    fs::remove_file(env.path("L")).expect("rm");
    let fifo = Command::new("mkfifo")
        .arg(env.path("ff"))
        .status()
        .expect("mkfifo");
    assert!(fifo.success());
    std::os::unix::fs::symlink("ff", env.path("L")).expect("symlink");
    let r = run(&env, &["recover", "./L"], b"");
    assert_one_line_error(
        &r,
        &["./.L.durable-journal", "the target is a FIFO"],
        "fifo",
    );
    // Two journals for the file the link points to.
    fs::remove_file(env.path("L")).expect("rm");
    let real = env.write("real", b"old");
    env.write(
        ".real.durable-journal",
        journal_of(b"from the file's own journal"),
    );
    std::os::unix::fs::symlink("real", env.path("L")).expect("symlink");
    for args in [&["recover", "--dry-run", "./L"][..], &["recover", "./L"]] {
        let r = run(&env, args, b"");
        assert_eq!(r.code, 2, "{args:?}: {}", r.show());
        assert_one_line_error(
            &r,
            &["are for the same file", "./.real.durable-journal"],
            "two",
        );
        assert_eq!(fs::read(&real).expect("read"), b"old");
    }
    assert!(env.path(".L.durable-journal").exists() && env.path(".real.durable-journal").exists());
}

// Guards (regression): a journal left for `L` while it was a regular file, `L` since replaced
// by a symlink to `f`, and `f` saved after (a save of `f` does not see `.L.durable-journal`):
// `recover .` printed "`durable recover ./L` writes its content through the link", and that
// command wrote the old journal over the later save. The journal records nothing of the file
// it was written for, so a journal beside a link to a file changed (ctime) at or after the
// journal's last write is not applied through it, however recover is run; the hint shows its
// content and drops it, and both commands work as printed. A link to a file unchanged since
// the journal was written is still followed when named.
#[test]
fn a_journal_beside_a_link_to_a_file_changed_since_is_not_applied() {
    let env = Env::new();
    env.write(".L.durable-journal", journal_of(b"STALE-L"));
    env.write("f", b"old");
    std::os::unix::fs::symlink("f", env.path("L")).expect("symlink");
    let r = run(&env, &["save", "f"], b"NEWER");
    assert_eq!(r.code, 0, "{}", r.show());
    for args in [
        &["recover", "."][..],
        &["recover", "--dry-run", "."],
        &["recover", "./L"],
        &["recover", "--dry-run", "./L"],
        &["recover", ".L.durable-journal"],
    ] {
        let r = run(&env, args, b"");
        assert_eq!(r.code, 2, "{args:?}: {}", r.show());
        assert!(
            r.stderr
                .contains("was changed after the journal was written"),
            "{args:?}: {}",
            r.show()
        );
        assert!(hints(&r.stderr).is_empty(), "{args:?}: {}", r.show());
        assert_eq!(fs::read(env.path("f")).expect("read"), b"NEWER", "{args:?}");
        assert!(env.path(".L.durable-journal").exists(), "{args:?}");
    }
    let r = run(&env, &["recover", "./L"], b"");
    let shown = common::run_hint(&env, &r.stderr, "tail -c +65");
    let out = Durable::sh(env.dir.path(), &shown).no_stdin().run();
    assert_eq!(out.stdout, b"STALE-L", "{}", out.show());
    let dropped = r.stderr.split('`').nth(3).expect("a second hint");
    assert!(dropped.starts_with("rm "), "{dropped}");
    common::run_hint(&env, &format!("`{dropped}`"), ".L.durable-journal");
    let r = run(&env, &["recover", "."], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read(env.path("f")).expect("read"), b"NEWER");
    // A file last changed before the journal was written (a clock tick apart).
    env.write("g", b"unchanged");
    tick();
    env.write(".M.durable-journal", journal_of(b"from M's journal"));
    std::os::unix::fs::symlink("g", env.path("M")).expect("symlink");
    let r = run(&env, &["recover", "."], b"");
    assert_eq!(r.code, 2, "{}", r.show());
    assert!(
        hints(&r.stderr).iter().any(|h| h == "durable recover ./M"),
        "{}",
        r.show()
    );
    let r = run(&env, &["recover", "./M"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read(env.path("g")).expect("read"), b"from M's journal");
}

// Guards (regression): `recover --dry-run` said "would complete" (exit 0) for a journal whose
// target another process held locked (or whose journal it held), and the real run refused it
// (exit 2). The dry run tests both locks, without waiting, and gives the real run's sentence
// and exit status; nothing is changed, and once the lock is gone the journal is completed.
#[test]
fn the_dry_run_tests_the_locks_the_real_run_takes() {
    let env = Env::new();
    let t = env.write("t", b"orig");
    let j = env.write(".t.durable-journal", journal_of(b"JOURNALED"));
    for held in [&t, &j] {
        let holder = fs::File::open(held).expect("open");
        holder.lock().expect("lock");
        let dry = run(&env, &["recover", "--dry-run", "t"], b"");
        let real = run(&env, &["recover", "t"], b"");
        assert_eq!(
            (dry.code, real.code),
            (2, 2),
            "{}\n{}",
            dry.show(),
            real.show()
        );
        assert_eq!(
            dry.stderr, real.stderr,
            "the dry run says what the run does"
        );
        assert!(!dry.out().contains("would complete"), "{}", dry.show());
        assert!(
            dry.stderr.contains("lock") || dry.stderr.contains("locked"),
            "{}",
            dry.show()
        );
        assert_eq!(fs::read(&t).expect("read"), b"orig");
        assert!(j.exists());
    }
    // A child another test forks meanwhile may share the dropped lock until it execs: retried.
    let mut r = run(&env, &["recover", "t"], b"");
    common::wait_until(std::time::Duration::from_secs(5), || {
        if r.code == 2 && r.stderr.contains("lock") {
            r = run(&env, &["recover", "t"], b"");
        }
        r.code != 2 || !r.stderr.contains("lock")
    });
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read(&t).expect("read"), b"JOURNALED");
}

// Guards (regression): a journal made immutable (chattr +i): the dry run predicted "would
// complete" (exit 0) and the real run wrote the target, then failed to remove the journal with
// a raw EPERM, exit 4 (a value JSON.md does not allow there); a stale temporary file made
// immutable: "would remove", then "permission denied". Both are decided up front: the dry run
// and the real run give the same one sentence naming the attribute and `chattr -i`, exit 2,
// and nothing is changed.
#[test]
fn an_immutable_journal_or_temp_file_is_refused_up_front() {
    let test = "recover_boot::an_immutable_journal_or_temp_file_is_refused_up_front";
    let env = Env::new();
    let t = env.write("t", b"old");
    let j = env.write(".t.durable-journal", journal_of(b"FROMJOURNAL"));
    let temp = env.write(".u.0123456789abcdef.durable-tmp", b"x");
    for (file, name) in [
        (&j, ".t.durable-journal"),
        (&temp, ".u.0123456789abcdef.durable-tmp"),
    ] {
        let made = have("chattr")
            && Command::new("chattr")
                .arg("+i")
                .arg(file)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
        if !made {
            skip(
                test,
                "chattr does not work here (not root, or a filesystem without attributes)",
            );
            return;
        }
        let _undo = Attribute(file.clone(), "-i");
        let dry = run(&env, &["recover", "--dry-run", "--json", name], b"");
        let real = run(&env, &["recover", "--json", name], b"");
        assert_eq!(
            (dry.code, real.code),
            (2, 2),
            "{}\n{}",
            dry.show(),
            real.show()
        );
        assert_eq!(
            dry.stderr, real.stderr,
            "the dry run says what the run does"
        );
        assert_one_line_error(
            &real,
            &[
                &format!("{name} is immutable (chattr +i)"),
                &format!("`chattr -i {name}`"),
            ],
            name,
        );
        let line = &json_lines(&real.stdout)[0];
        assert_eq!(line["exit_code"], 2, "{}", real.show());
        assert_eq!(fs::read(&t).expect("read"), b"old");
        assert!(file.exists());
    }
}

// Guards (regression): another user's journal planted beside root's file made every save of it
// fail with "the earlier save is still pending in its journal (the next durable save of t tries
// again)", which was untrue: no save ever would. The sentence says whose journal it is, why it
// is not applied, that no save goes ahead until it is settled, and how (`rm JOURNAL`, or give
// the file to its author and recover), in one sentence; recover gives the same way forward.
#[test]
fn another_users_journal_beside_a_file_says_how_it_is_settled() {
    let test = "recover_boot::another_users_journal_beside_a_file_says_how_it_is_settled";
    if !is_root() {
        skip(test, "it needs root to own files as another user");
        return;
    }
    let env = Env::new();
    let t = env.write("t", b"ROOT DATA");
    let j = env.write(".t.durable-journal", journal_of(b"anything"));
    give_to_nobody(&j);
    for strategy in ["atomic", "in-place"] {
        let r = run(&env, &["save", "--strategy", strategy, "t"], b"NEW");
        assert_eq!(r.code, 2, "{strategy}: {}", r.show());
        let line = assert_one_line_error(
            &r,
            &[
                "written by user 65534",
                "does not own the target (user 0)",
                "no save of t goes ahead until that journal is settled",
                "`rm .t.durable-journal` drops it",
                "`chown 65534 t`",
                "`durable recover t`",
            ],
            strategy,
        );
        assert!(!line.contains("tries again"), "{line}");
        assert_eq!(fs::read(&t).expect("read"), b"ROOT DATA");
    }
    let r = run(&env, &["recover", "t"], b"");
    assert_one_line_error(
        &r,
        &[
            "written by user 65534",
            "`rm .t.durable-journal` drops it",
            "`chown 65534 t` first, and `durable recover t` completes it",
        ],
        "recover",
    );
    // The way forward, followed: the file given to the journal's author, then recovered.
    std::os::unix::fs::chown(&t, Some(65534), Some(65534)).expect("chown");
    let r = run(&env, &["recover", "t"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read(&t).expect("read"), b"anything");
}

// Guards (regression): an unprivileged user recovering a file whose journal is root's (0600)
// was told "t is not … a journal …: nothing to recover", and the walk gave a bare "could not
// read …: permission denied" and listed t as not ours. Both say, once, that the journal of an
// interrupted save of t cannot be read, whose it is, and that root completes it; exit 2, the
// dry run alike, nothing changed.
#[test]
fn a_journal_the_user_cannot_read_is_left_to_its_author() {
    let test = "recover_boot::a_journal_the_user_cannot_read_is_left_to_its_author";
    let env = Env::new();
    fs::set_permissions(env.dir.path(), fs::Permissions::from_mode(0o777)).expect("chmod");
    let t = env.write("t", b"orig");
    fs::set_permissions(&t, fs::Permissions::from_mode(0o666)).expect("chmod");
    let j = env.write(".t.durable-journal", journal_of(b"ROOTS"));
    fs::set_permissions(&j, fs::Permissions::from_mode(0o600)).expect("chmod");
    let before = snapshot(env.dir.path(), true);
    let Some(_) = as_nobody(&env, &["--version"]) else {
        skip(test, "running as another user needs root and setpriv");
        return;
    };
    for args in [
        &["recover", "--dry-run", "t"][..],
        &["recover", "t"],
        &["recover", "--dry-run", "."],
        &["recover", "."],
    ] {
        let r = as_nobody(&env, args).expect("as nobody");
        assert_eq!(r.code, 2, "{args:?}: {}", r.show());
        assert_one_line_error(
            &r,
            &[
                "the journal of an interrupted save of",
                "cannot be read (permission denied)",
                "it is root's, and root (its author) completes it",
                "nothing was changed",
            ],
            &format!("{args:?}"),
        );
        assert!(!r.out().contains("t: untouched"), "{args:?}: {}", r.show());
    }
    let files: Vec<_> = before
        .keys()
        .filter(|k| !k.contains("durable-bin"))
        .collect();
    let after = snapshot(env.dir.path(), true);
    for f in files {
        assert_eq!(before.get(f), after.get(f), "{f}");
    }
}

// Was a bug (data loss): a journal its applier may not remove (a directory the user may no
// longer write, another user's journal in a sticky one) was applied, then could not be removed:
// every later save and recover replayed it over whatever had been saved since, the save saying
// it wrote nothing. And `recover --dry-run` said "would remove" of a temporary file the real run
// could not remove. Both are refused before anything is written, by the dry run alike.
#[test]
fn a_journal_or_temp_file_the_user_may_not_remove_is_not_applied() {
    let test = "recover_boot::a_journal_or_temp_file_the_user_may_not_remove_is_not_applied";
    if !is_root() {
        skip(test, "it needs root to own files as another user");
        return;
    }
    if !have("setpriv") {
        skip(test, "setpriv (to drop to nobody) is not installed");
        return;
    }
    let env = Env::new();
    let dir = env.path("d");
    fs::create_dir(&dir).expect("mkdir");
    let target = env.write("d/t", "newer data\n");
    let journal = env.write("d/.t.durable-journal", journal_of(b"stale\n"));
    let temp = env.write("d/.a.0123456789abcdef.durable-tmp", "x");
    for p in [&dir, &target, &journal, &temp] {
        give_to_nobody(p);
    }
    // nobody's files in a directory nobody may no longer write.
    std::os::unix::fs::lchown(&dir, Some(0), Some(0)).expect("chown");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod");
    fs::set_permissions(env.dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    for args in [
        vec![
            "save",
            "--strategy",
            "in-place",
            s(&target),
            "--",
            "echo",
            "newest",
        ],
        vec!["recover", "--dry-run", s(&target)],
        vec!["recover", s(&target)],
        vec!["recover", "--dry-run", s(&temp)],
        vec!["recover", s(&temp)],
    ] {
        let r = as_nobody(&env, &args).expect("as nobody");
        let err = &r.stderr;
        assert_eq!(r.code, 2, "{args:?}: {err}");
        assert!(err.contains("permission denied"), "{args:?}: {err}");
        assert_eq!(
            fs::read(&target).expect("read"),
            b"newer data\n",
            "{args:?}"
        );
        assert!(journal.exists() && temp.exists(), "{args:?}");
    }
}

// Was a bug (security): root's `recover DIR` decided to create another user's new file beside
// its journal in that user's directory `x`, then created it by path: the user, swapping `x` for
// a symlink to a directory only root may write in between, had the file (content, owner, mode
// theirs) made there. The new file is created in the directory that still holds the journal,
// opened without following a link; a swapped directory is refused, nothing is made.
#[test]
fn a_directory_swapped_before_a_new_file_is_created_is_not_written_in() {
    let test = "recover_boot::a_directory_swapped_before_a_new_file_is_created_is_not_written_in";
    if !is_root() {
        skip(test, "it needs root to own files as another user");
        return;
    }
    if !common::fault_switch(test) {
        return;
    }
    let env = Env::new();
    let rootonly = env.path("rootonly");
    fs::create_dir(&rootonly).expect("mkdir");
    let x = env.path("w/x");
    fs::create_dir_all(&x).expect("mkdir");
    give_to_nobody(&x);
    let journal = env.write("w/x/.t.durable-journal", journal_of(b"planted content\n"));
    give_to_nobody(&journal);
    let child = Durable::new(env.dir.path())
        .args(&["recover".as_ref(), env.path("w").as_os_str()])
        .fault("open-target:slow")
        .no_stdin()
        .command()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut child = common::KillOnDrop(child);
    // open-target waits half a second: swap the directory for a link meanwhile.
    std::thread::sleep(std::time::Duration::from_millis(200));
    fs::rename(&x, env.path("w/x.old")).expect("rename");
    std::os::unix::fs::symlink(&rootonly, &x).expect("symlink");
    let status = child.0.wait().expect("wait");
    assert_ne!(
        status.code(),
        Some(0),
        "the swapped directory was not refused"
    );
    assert_eq!(
        fs::read_dir(&rootonly).expect("ls").count(),
        0,
        "a file was created in the directory the link points to"
    );
}

// Guards (regression, security): the links checked before a journal is written through a named
// link were only those of the chain itself: root's own link `L -> d/planted`, with `d` another
// user's symlink to a directory only root may write, had root's journal written there. A link
// among the directories a link names counts as a link on the way.
#[test]
fn a_link_among_the_directories_a_link_names_is_on_the_way() {
    let test = "recover_boot::a_link_among_the_directories_a_link_names_is_on_the_way";
    if !is_root() {
        skip(test, "it needs root to own files as another user");
        return;
    }
    let env = Env::new();
    let rootonly = env.path("rootonly");
    fs::create_dir(&rootonly).expect("mkdir");
    env.write("app/.L.durable-journal", journal_of(b"root's content"));
    std::os::unix::fs::symlink("d/planted", env.path("app/L")).expect("symlink");
    std::os::unix::fs::symlink(&rootonly, env.path("app/d")).expect("symlink");
    give_to_nobody(&env.path("app/d"));
    for args in [
        &["recover", "--dry-run", "app/L"][..],
        &["recover", "app/L"],
    ] {
        let r = run(&env, args, b"");
        assert_one_line_error(
            &r,
            &["a link on the way is user 65534's", "nothing was changed"],
            &format!("{args:?}"),
        );
        assert!(!rootonly.join("planted").exists(), "{args:?}");
    }
    // Root's own link there instead: a file the links lead to is written, as `durable save
    // app/L` writes; but a new file is created only beside its journal, never through a link
    // (a directory on the way could be swapped between the decision and the create).
    fs::remove_file(env.path("app/d")).expect("rm");
    std::os::unix::fs::symlink(&rootonly, env.path("app/d")).expect("symlink");
    let r = run(&env, &["recover", "app/L"], b"");
    assert_one_line_error(
        &r,
        &["the link points to no file", "nothing was changed"],
        "a new file through a link",
    );
    assert!(!rootonly.join("planted").exists());
    fs::write(rootonly.join("planted"), b"old").expect("write");
    // Written again a clock tick later: a file the link leads to that changed after the
    // journal was written is never written through it (it may hold a later save).
    tick();
    env.write("app/.L.durable-journal", journal_of(b"root's content"));
    let r = run(&env, &["recover", "app/L"], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(
        fs::read(rootonly.join("planted")).expect("read"),
        b"root's content"
    );
}

/// Every command a text quotes between backticks (`mv …`, `durable …`), in order.
fn quoted_commands(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The state of two journals for one file: `f` (content "old"), the symlink `L -> f`, a
/// complete journal beside each name, and (`hard`) a hard link `g` to `f` with a journal too.
fn two_journals(env: &Env, hard: bool) {
    let _ = fs::remove_dir_all(env.path("two"));
    fs::create_dir(env.path("two")).expect("mkdir");
    env.write("two/f", b"old");
    tick();
    std::os::unix::fs::symlink("f", env.path("two/L")).expect("symlink");
    env.write("two/.L.durable-journal", journal_of(b"saved through L"));
    env.write("two/.f.durable-journal", journal_of(b"saved as f"));
    if hard {
        fs::hard_link(env.path("two/f"), env.path("two/g")).expect("link");
        env.write("two/.g.durable-journal", journal_of(b"saved as g"));
    }
}

// Guards (regression): with a symlink L -> f and both `.L.durable-journal` and
// `.f.durable-journal` beside them, `recover DIR` applied `.f…` and refused `.L…` with the hint
// `durable recover L`, and that hint then wrote the other journal over the first; named
// directly, the file's own journal was applied whatever was beside the link (and two hard links'
// journals each in turn). Two journals whose targets resolve to the same file are refused alike
// by the walk, by every direct form and by the dry run: nothing is written, both are kept, one
// sentence names both and says how to keep one, and both ways it prints work when run as printed.
#[test]
fn two_journals_for_one_file_are_both_refused_however_recover_is_run() {
    let env = Env::new();
    for hard in [false, true] {
        two_journals(&env, hard);
        for args in [
            &["recover", "--dry-run", "two"][..],
            &["recover", "two"],
            &["recover", "two/L"],
            &["recover", "two/f"],
            &["recover", "two/.L.durable-journal"],
            &["recover", "two/.f.durable-journal"],
            &["recover", "--dry-run", "two/f"],
        ] {
            let case = format!("{args:?} hard={hard}");
            let r = run(&env, args, b"");
            assert_eq!(r.code, 2, "{case}: {}", r.show());
            assert!(!r.out().contains("complete"), "{case}: {}", r.show());
            assert!(!r.stderr.is_empty(), "{case}: {}", r.show());
            for line in r.stderr.lines() {
                assert!(
                    line.contains("are for the same file")
                        && line.contains("neither is applied")
                        && line.contains("nothing was changed"),
                    "{case}: {line}"
                );
            }
            if !hard && args[1] == "two" {
                assert_eq!(
                    r.stderr.lines().count(),
                    1,
                    "{case}: one sentence: {}",
                    r.show()
                );
            }
            assert_eq!(fs::read(env.path("two/f")).expect("read"), b"old", "{case}");
            for j in [".L", ".f"] {
                assert!(
                    env.path(&format!("two/{j}.durable-journal")).exists(),
                    "{case}"
                );
            }
        }
    }
    // Each way out the walk prints, run as printed (in a fresh copy of the state), applies the
    // journal it keeps and nothing else.
    two_journals(&env, false);
    let r = run(&env, &["recover", "two"], b"");
    let line = r.stderr.lines().next().expect("a refusal").to_string();
    let commands = quoted_commands(&line);
    assert_eq!(commands.len(), 4, "two ways, two commands each: {line}");
    let path = format!(
        "{}:{}",
        durable_path().parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for way in commands.chunks(2) {
        two_journals(&env, false);
        let script = format!("{} && {}", way[0], way[1]);
        let out = Durable::sh(env.dir.path(), &script)
            .env("PATH", &path)
            .no_stdin()
            .run();
        assert_eq!(out.code, 0, "`{script}`: {}", out.show());
        let kept = if way[1].ends_with("L") {
            "saved through L"
        } else {
            "saved as f"
        };
        assert_eq!(
            String::from_utf8_lossy(&fs::read(env.path("two/f")).expect("read")),
            kept,
            "`{script}`"
        );
        let names: Vec<String> = fs::read_dir(env.path("two"))
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".durable-journal"))
            .collect();
        assert!(names.is_empty(), "`{script}`: journals left: {names:?}");
    }
}

// Guards (regression): two journals for one file, `.L.durable-journal` beside the link `L -> f`
// and `.f.durable-journal`, with `f` changed after both were written: the refusal said "to keep
// .L.durable-journal, `mv .f.durable-journal …` and then `durable recover L`", and that recover
// then refused (exit 2): a journal beside a link to a file changed since is never applied. Each
// way out the refusal prints is for what recover would do were the journal alone: the one it
// would apply is recovered, the one it would not is set aside and its content saved; every way
// printed, run in bash as printed (in a fresh copy of the state), exits 0, leaves the kept
// content in `f` and no journal. Alike when neither can be applied (two links' journals).
#[test]
fn each_way_out_of_two_journals_works_as_printed_when_one_cannot_be_applied() {
    let env = Env::new();
    let path = format!(
        "{}:{}",
        durable_path().parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // `f` changed (a later save) after the journals; with `links`, the journals are beside the
    // links `L -> f` and `M -> f` only.
    let state = |links: bool| {
        two_journals(&env, false);
        if links {
            fs::remove_file(env.path("two/.f.durable-journal")).expect("rm");
            std::os::unix::fs::symlink("f", env.path("two/M")).expect("symlink");
            env.write("two/.M.durable-journal", journal_of(b"saved through M"));
        }
        tick();
        env.write("two/f", b"a later save");
    };
    for links in [false, true] {
        state(links);
        let r = run(&env, &["recover", "two"], b"");
        assert_eq!(r.code, 2, "links={links}: {}", r.show());
        let line = r.stderr.lines().next().expect("a refusal").to_string();
        let (_, ways) = line
            .split_once("Keep the one wanted and move the other aside: ")
            .unwrap_or_else(|| panic!("no way out: {line}"));
        let ways: Vec<&str> = ways.split("; to keep ").collect();
        assert_eq!(ways.len(), 2, "two ways: {line}");
        for way in ways {
            state(links);
            let commands = quoted_commands(way);
            let journal = way
                .trim_start_matches("to keep ")
                .split(',')
                .next()
                .expect("the journal kept");
            let kept = String::from_utf8_lossy(&journal_payload(&env.path(journal))).into_owned();
            if way.contains("would not apply it even alone") {
                assert_eq!(commands.len(), 3, "{way}");
                assert!(commands[2].starts_with("tail -c +65 "), "{way}");
            } else {
                assert!(!links, "neither is applied through a link here: {way}");
            }
            let script = commands.join(" && ");
            let out = Durable::bash(env.dir.path(), &script)
                .env("PATH", &path)
                .no_stdin()
                .run();
            assert_eq!(out.code, 0, "links={links}: `{script}`: {}", out.show());
            assert_eq!(
                String::from_utf8_lossy(&fs::read(env.path("two/f")).expect("read")),
                kept,
                "`{script}`"
            );
            let names: Vec<String> = fs::read_dir(env.path("two"))
                .expect("ls")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".durable-journal"))
                .collect();
            assert!(names.is_empty(), "`{script}`: journals left: {names:?}");
        }
    }
}

/// The content a journal holds (after its 64-byte header).
fn journal_payload(journal: &Path) -> Vec<u8> {
    fs::read(journal).expect("read journal")[64..].to_vec()
}

/// Hard links of one file in different directories, each with a complete journal: `hl/a`
/// (content "old") with `hl/.a.durable-journal`, `hl/sub/b` with `hl/sub/.b.durable-journal`,
/// and (`third`) `hl/sub2/c` with `hl/sub2/.c.durable-journal`.
fn linked_journals(env: &Env, third: bool) {
    let _ = fs::remove_dir_all(env.path("hl"));
    fs::create_dir_all(env.path("hl/sub")).expect("mkdir");
    env.write("hl/a", b"old");
    fs::hard_link(env.path("hl/a"), env.path("hl/sub/b")).expect("link");
    env.write("hl/.a.durable-journal", journal_of(b"saved as a"));
    env.write("hl/sub/.b.durable-journal", journal_of(b"saved as b"));
    if third {
        fs::create_dir_all(env.path("hl/sub2")).expect("mkdir");
        fs::hard_link(env.path("hl/a"), env.path("hl/sub2/c")).expect("link");
        env.write("hl/sub2/.c.durable-journal", journal_of(b"saved as c"));
    }
}

/// The journals (`.NAME.durable-journal`, not set aside) under `hl`.
fn journals_under_hl(env: &Env) -> Vec<String> {
    let mut names = Vec::new();
    for dir in ["hl", "hl/sub", "hl/sub2"] {
        let Ok(entries) = fs::read_dir(env.path(dir)) else {
            continue;
        };
        for e in entries {
            let name = e.expect("entry").file_name().to_string_lossy().into_owned();
            if name.ends_with(".durable-journal") {
                names.push(format!("{dir}/{name}"));
            }
        }
    }
    names.sort();
    names
}

// Guards (regression): two hard links of one file in different directories of the walked tree,
// each with a complete journal: `recover DIR` (and its dry run) completed both, exit 0, the file
// ending as one journal's content and the other acknowledged save gone, while two journals of
// one file in one directory were refused. The walk finds the complete journals of the whole
// tree before it applies any: it refuses all of one file's (exit 2, one sentence per pair, the
// same as in one directory), changes nothing, and each way out it prints works as printed.
#[test]
fn a_walk_refuses_two_hard_links_journals_in_different_directories() {
    let env = Env::new();
    for third in [false, true] {
        for args in [&["recover", "--dry-run", "hl"][..], &["recover", "hl"]] {
            linked_journals(&env, third);
            let case = format!("{args:?} third={third}");
            let r = run(&env, args, b"");
            assert_eq!(r.code, 2, "{case}: {}", r.show());
            assert!(!r.out().contains("complete"), "{case}: {}", r.show());
            let lines: Vec<&str> = r.stderr.lines().collect();
            assert_eq!(
                lines.len(),
                if third { 2 } else { 1 },
                "{case}: {}",
                r.show()
            );
            for line in &lines {
                assert!(
                    line.contains("are for the same file")
                        && line.contains("neither is applied")
                        && line.contains("nothing was changed"),
                    "{case}: {line}"
                );
            }
            assert_eq!(fs::read(env.path("hl/a")).expect("read"), b"old", "{case}");
            let mut all = vec!["hl/.a.durable-journal", "hl/sub/.b.durable-journal"];
            if third {
                all.push("hl/sub2/.c.durable-journal");
            }
            assert_eq!(journals_under_hl(&env), all, "{case}: all kept");
        }
    }
    // Each way out printed, run as printed in a fresh copy of the state, applies the journal it
    // keeps (to every name of the file) and leaves no journal to be replayed later.
    linked_journals(&env, false);
    let r = run(&env, &["recover", "hl"], b"");
    let line = r.stderr.lines().next().expect("a refusal").to_string();
    let commands = quoted_commands(&line);
    assert_eq!(commands.len(), 4, "two ways, two commands each: {line}");
    let path = format!(
        "{}:{}",
        durable_path().parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for way in commands.chunks(2) {
        linked_journals(&env, false);
        let script = format!("{} && {}", way[0], way[1]);
        let out = Durable::sh(env.dir.path(), &script)
            .env("PATH", &path)
            .no_stdin()
            .run();
        assert_eq!(out.code, 0, "`{script}`: {}", out.show());
        let kept = if way[1].ends_with("b") {
            "saved as b"
        } else {
            "saved as a"
        };
        for name in ["hl/a", "hl/sub/b"] {
            assert_eq!(
                String::from_utf8_lossy(&fs::read(env.path(name)).expect("read")),
                kept,
                "`{script}`: {name}"
            );
        }
        assert!(
            journals_under_hl(&env).is_empty(),
            "`{script}`: journals left: {:?}",
            journals_under_hl(&env)
        );
        // The journal set aside is not taken for one by a later walk.
        let again = run(&env, &["recover", "hl"], b"");
        assert_eq!(again.code, 0, "`{script}`, then recover: {}", again.show());
        assert_eq!(
            String::from_utf8_lossy(&fs::read(env.path("hl/a")).expect("read")),
            kept,
            "`{script}`, then recover"
        );
    }
}

// Guards (regression): a log its owner may not write (mode 0444: the Go aof package's
// Finish leaves its files so), in a directory that owner may not write. The dry run said
// "would zero-fill" / "would cut" and exited 1 while the run was refused with exit 2: the
// dry run now checks the access the change needs (without opening the log for writing) and
// fails as the run does, with the same sentence; recover does not chmod the file.
#[test]
fn dry_run_predicts_a_read_only_log_its_owner_recovers() {
    let test = "recover_boot::dry_run_predicts_a_read_only_log_its_owner_recovers";
    let env = Env::new();
    fs::set_permissions(env.dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
    let dir = env.path("w");
    fs::create_dir(&dir).expect("mkdir");
    let aof = dir.join("f.aof");
    let lines = dir.join("g.log");
    fs::copy(corpus.join("aof/finish_plus_garbage.aof"), &aof).expect("copy");
    fs::copy(corpus.join("lines/flip_last.log"), &lines).expect("copy");
    for f in [&aof, &lines] {
        fs::set_permissions(f, fs::Permissions::from_mode(0o444)).expect("chmod");
        std::os::unix::fs::chown(f, Some(65534), Some(65534)).expect("chown");
    }
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).expect("chown");
    let before = snapshot(&dir, true);
    for writable_dir in [false, true] {
        let mode = if writable_dir { 0o755 } else { 0o555 };
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).expect("chmod");
        let Some(dry) = as_nobody(&env, &["recover", "--dry-run", "w/f.aof", "w/g.log"]) else {
            skip(test, "running as another user needs root and setpriv");
            return;
        };
        let real = as_nobody(&env, &["recover", "w/f.aof", "w/g.log"]).expect("as nobody");
        assert_eq!(
            (dry.code, real.code),
            (2, 2),
            "the dry run fails as the run does:\n{}\n{}",
            dry.show(),
            real.show()
        );
        assert_eq!(
            dry.stderr, real.stderr,
            "the dry run says what the run does"
        );
        assert!(dry.stdout.is_empty(), "{}", dry.show());
        let lines: Vec<&str> = real.stderr.lines().collect();
        assert_eq!(lines.len(), 2, "one sentence a log: {}", real.show());
        for (line, name) in lines.iter().zip(["w/f.aof", "w/g.log"]) {
            for needle in [
                "permission denied",
                &format!("{name} was not changed"),
                "read-only",
                &format!("chmod u+w {name}"),
            ] {
                assert!(line.contains(needle), "{needle:?} in {line}");
            }
        }
        assert_eq!(
            changes(&before, &snapshot(&dir, true)),
            Vec::<String>::new()
        );
    }
}
