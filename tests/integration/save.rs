//! `durable save`: round trips and options.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::SystemTime;

use predicates::prelude::*;
use serde_json::Value;

use crate::common::{Durable, Env, Run, is_root, skip};

const STRATEGIES: [&str; 3] = ["atomic", "in-place", "journal"];

/// Deterministic bytes of every value (NULs and invalid UTF-8 included), `len` long.
fn pseudo_random(len: usize, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        })
        .collect()
}

/// Run `durable save ARGS` with `stdin`; what it did, whatever the exit status.
pub(crate) fn save(env: &Env, args: &[&str], stdin: impl Into<Vec<u8>>) -> Run {
    env.cmd(&["save"]).args(args).stdin(stdin).run()
}

/// Like [`save`], but fail the test unless it exits 0.
fn save_ok(env: &Env, args: &[&str], stdin: impl Into<Vec<u8>>) -> Run {
    let out = save(env, args, stdin);
    assert_eq!(out.code, 0, "durable save {args:?} failed: {}", out.show());
    out
}

/// Run `durable save ARGS` under `umask MASK`.
fn save_with_umask(env: &Env, umask: &str, args: &[&str], stdin: &[u8]) -> Run {
    env.cmd(&["save"])
        .args(args)
        .umask(umask)
        .stdin(stdin)
        .run()
}

/// The stderr of a failed run, which must be exactly one line; returned for further checks.
fn one_line(out: &Run) -> String {
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line on stderr: {}",
        out.show()
    );
    lines[0].to_string()
}

/// The JSON object a `--json` run printed on stdout.
fn json(out: &Run) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {}", out.show()))
}

/// The step names of a `--json` result or `--explain --json` plan, in order.
fn step_names(value: &Value) -> Vec<String> {
    value["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no steps array in {value}"))
        .iter()
        .map(|s| {
            s["step"]
                .as_str()
                .unwrap_or_else(|| panic!("step without a name in {value}"))
                .to_string()
        })
        .collect()
}

fn ino(path: &Path) -> u64 {
    fs::metadata(path).expect("stat").ino()
}

fn mtime(path: &Path) -> SystemTime {
    fs::metadata(path).expect("stat").modified().expect("mtime")
}

/// Set a file's mtime to 2001-01-01 (so a rewrite is visible in it).
fn age(path: &Path) {
    let status = std::process::Command::new("touch")
        .args(["-d", "2001-01-01"])
        .arg(path)
        .status()
        .expect("run touch");
    assert!(status.success(), "touch -d failed");
}

/// Every name under the scratch directory with the content of the regular files.
fn snapshot(env: &Env) -> Vec<(String, Option<Vec<u8>>)> {
    env.names()
        .into_iter()
        .map(|name| {
            let path = env.path(&name);
            let meta = fs::symlink_metadata(&path).expect("lstat");
            let content = meta.is_file().then(|| fs::read(&path).expect("read"));
            (name, content)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Round trips

// Guards: stdin reaches the target byte for byte, for every strategy.
#[test]
fn stdin_round_trips() {
    for strategy in STRATEGIES {
        let env = Env::new();
        env.write("T", "old content that is longer than the new one\n");
        save_ok(&env, &["--strategy", strategy, "T"], "new\n");
        assert_eq!(env.read("T"), b"new\n", "{strategy}");
        env.assert_no_leftovers();
    }
}

// Guards: --from FILE is read instead of stdin (stdin is ignored).
#[test]
fn from_file_round_trips() {
    for strategy in STRATEGIES {
        let env = Env::new();
        env.write("T", "old\n");
        env.write("input", "from the file\n");
        save_ok(
            &env,
            &["--strategy", strategy, "--from", "input", "T"],
            "from stdin\n",
        );
        assert_eq!(env.read("T"), b"from the file\n", "{strategy}");
        assert_eq!(env.read("input"), b"from the file\n");
        env.assert_no_leftovers();
    }
}

// Guards: a producer's stdout becomes the content when it exits 0.
#[test]
fn producer_round_trips() {
    for strategy in STRATEGIES {
        let env = Env::new();
        env.write("T", "old\n");
        save_ok(
            &env,
            &[
                "--strategy",
                strategy,
                "T",
                "--",
                "sh",
                "-c",
                "printf 'made by\\na producer\\n'",
            ],
            "",
        );
        assert_eq!(env.read("T"), b"made by\na producer\n", "{strategy}");
        env.assert_no_leftovers();
    }
}

// Guards: binary content (NULs, invalid UTF-8, CR) is not altered, from stdin and --from.
#[test]
fn binary_content_round_trips() {
    let mut content = b"\0\xff\xfe\x80\xc3\x28 text\r\n\0\0".to_vec();
    content.extend(pseudo_random(4096, 7));
    for strategy in STRATEGIES {
        let env = Env::new();
        env.write("T", "old\n");
        save_ok(&env, &["--strategy", strategy, "T"], content.clone());
        assert_eq!(env.read("T"), content, "{strategy} from stdin");
        env.write("bin", &content[..100]);
        save_ok(&env, &["--strategy", strategy, "--from", "bin", "T"], "");
        assert_eq!(env.read("T"), &content[..100], "{strategy} from --from");
        env.assert_no_leftovers();
    }
}

// Guards: with --allow-empty, an empty input empties an existing file; an empty new file is
// created without it.
#[test]
fn empty_input_round_trips() {
    for strategy in STRATEGIES {
        let env = Env::new();
        env.write("T", "old content\n");
        save_ok(&env, &["--allow-empty", "--strategy", strategy, "T"], "");
        assert_eq!(env.read("T"), b"", "{strategy} existing");
        save_ok(&env, &["--strategy", strategy, "new"], "");
        assert_eq!(env.read("new"), b"", "{strategy} new");
        save_ok(&env, &["--strategy", strategy, "new"], "");
        assert_eq!(env.read("new"), b"", "{strategy} empty over empty");
        env.assert_no_leftovers();
    }
}

// Guards: empty input never silently replaces a non-empty file: from
// stdin, a closed stdin, an empty --from file and a producer that prints nothing, with every
// strategy: exit 2, one sentence, the target unchanged (inode and mtime too), nothing left.
#[test]
fn empty_input_never_empties_a_file_without_allow_empty() {
    for strategy in STRATEGIES {
        for how in ["stdin", "closed stdin", "--from", "producer"] {
            let env = Env::new();
            let t = env.write("T", "precious content\n");
            env.write("empty", "");
            age(&t);
            let (time, inode) = (mtime(&t), ino(&t));
            let out = match how {
                "stdin" => save(&env, &["--strategy", strategy, "T"], ""),
                "--from" => save(&env, &["--strategy", strategy, "--from", "empty", "T"], ""),
                "producer" => save(&env, &["--strategy", strategy, "T", "--", "true"], ""),
                _ => Durable::sh(
                    env.dir.path(),
                    &format!("exec \"$D\" save --strategy {strategy} T <&-"),
                )
                .run(),
            };
            let case = format!("{strategy}, empty input from {how}");
            assert_eq!(out.code, 2, "{case}: {}", out.show());
            let line = one_line(&out);
            assert!(
                line.contains("is empty")
                    && line.contains("--allow-empty")
                    && line.contains("T was not changed"),
                "{case}: {line}"
            );
            assert_eq!(env.read("T"), b"precious content\n", "{case}");
            assert_eq!((mtime(&t), ino(&t)), (time, inode), "{case}: touched");
            env.assert_no_leftovers();
        }
    }
}

// Guards: an input larger than the 1 MiB internal chunk is written completely and in order.
#[test]
fn large_input_round_trips() {
    let content = pseudo_random(5 * 1024 * 1024 + 123, 42);
    for strategy in STRATEGIES {
        let env = Env::new();
        env.write("T", pseudo_random(7 * 1024 * 1024, 1));
        save_ok(&env, &["--strategy", strategy, "T"], content.clone());
        assert!(env.read("T") == content, "{strategy}: content differs");
        env.write("big", &content);
        save_ok(&env, &["--strategy", strategy, "--from", "big", "new"], "");
        assert!(env.read("new") == content, "{strategy}: --from differs");
        env.assert_no_leftovers();
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Failing producer

// Guards: a producer that fails after writing output vetoes the save in every strategy (in-place
// must spool, not write as it reads), with one line naming the producer.
#[test]
fn failing_producer_leaves_target_untouched() {
    for strategy in STRATEGIES {
        let env = Env::new();
        env.write("T", "old content\n");
        let out = save(
            &env,
            &[
                "--strategy",
                strategy,
                "T",
                "--",
                "sh",
                "-c",
                "printf partial; exit 3",
            ],
            "",
        );
        assert_eq!(
            out.status.code(),
            Some(2),
            "{strategy}: {}",
            out.stderr.clone()
        );
        let line = one_line(&out);
        assert!(line.contains("`sh`"), "{strategy}: {line}");
        assert!(line.contains("status 3"), "{strategy}: {line}");
        assert!(line.contains("T was not changed"), "{strategy}: {line}");
        assert_eq!(env.read("T"), b"old content\n", "{strategy}");
        env.assert_no_leftovers();
        assert_eq!(env.names(), ["T"], "{strategy}");
    }
}

// Guards: a failing producer does not create a new target either.
#[test]
fn failing_producer_does_not_create_target() {
    for strategy in STRATEGIES {
        let env = Env::new();
        let out = save(
            &env,
            &[
                "--strategy",
                strategy,
                "T",
                "--",
                "sh",
                "-c",
                "printf partial; exit 1",
            ],
            "",
        );
        assert_eq!(out.status.code(), Some(2), "{strategy}");
        assert!(env.names().is_empty(), "{strategy}: {:?}", env.names());
    }
}

// Guards: the producer's stderr passes through to ours (on success and on failure).
#[test]
fn producer_stderr_passes_through() {
    let env = Env::new();
    env.write("T", "old\n");
    env.durable()
        .args([
            "save",
            "T",
            "--",
            "sh",
            "-c",
            "echo producer-says-hello >&2; printf ok",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains("producer-says-hello"));
    assert_eq!(env.read("T"), b"ok");
    let out = save(
        &env,
        &[
            "T",
            "--",
            "sh",
            "-c",
            "echo producer-complains >&2; printf x; exit 5",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    let text = out.stderr.clone();
    assert!(text.contains("producer-complains"), "{text}");
    assert!(text.contains("status 5"), "{text}");
    assert_eq!(env.read("T"), b"ok");
}

// ---------------------------------------------------------------------------------------------
// 3. Metadata

// Guards: a 0600 file stays 0600 (a secret never gets wider permissions).
#[test]
fn existing_mode_is_kept() {
    for strategy in STRATEGIES {
        for mode in [0o600, 0o751] {
            let env = Env::new();
            let t = env.write("T", "secret\n");
            fs::set_permissions(&t, fs::Permissions::from_mode(mode)).unwrap();
            save_ok(&env, &["--strategy", strategy, "T"], "new secret\n");
            assert_eq!(env.mode("T"), mode, "{strategy} {mode:o}");
            assert_eq!(env.read("T"), b"new secret\n");
        }
    }
}

// Guards: a new file gets 0666 & ~umask, as any program creating a file would.
#[test]
fn new_file_mode_follows_umask() {
    for strategy in STRATEGIES {
        for (umask, expected) in [("027", 0o640), ("077", 0o600), ("022", 0o644)] {
            let env = Env::new();
            let out = save_with_umask(&env, umask, &["--strategy", strategy, "T"], b"x\n");
            assert_eq!(out.status.code(), Some(0), "{}", out.stderr.clone());
            assert_eq!(
                env.mode("T"),
                expected,
                "{strategy} umask {umask}: got {:o}",
                env.mode("T")
            );
        }
    }
}

// Guards: --mode sets the bits on new and existing files, not masked by the umask.
#[test]
fn explicit_mode_is_applied() {
    for strategy in STRATEGIES {
        let env = Env::new();
        let t = env.write("T", "old\n");
        fs::set_permissions(&t, fs::Permissions::from_mode(0o604)).unwrap();
        let out = save_with_umask(
            &env,
            "077",
            &["--strategy", strategy, "--mode", "0640", "T"],
            b"new\n",
        );
        assert_eq!(out.status.code(), Some(0), "{}", out.stderr.clone());
        assert_eq!(env.mode("T"), 0o640, "{strategy} existing");
        assert_eq!(env.read("T"), b"new\n");
        let out = save_with_umask(
            &env,
            "077",
            &["--strategy", strategy, "--mode", "0640", "N"],
            b"new\n",
        );
        assert_eq!(out.status.code(), Some(0), "{}", out.stderr.clone());
        assert_eq!(env.mode("N"), 0o640, "{strategy} new");
        env.assert_no_leftovers();
    }
}

// Guards: the owner and group of the replaced file are kept (the atomic save makes a new inode
// that must be chowned; the journal writes in place).
#[test]
fn owner_and_group_are_kept() {
    if !is_root() {
        skip(
            "owner_and_group_are_kept",
            "needs root to chown to 1234:5678",
        );
        return;
    }
    for strategy in ["atomic", "journal"] {
        let env = Env::new();
        let t = env.write("T", "old\n");
        std::os::unix::fs::chown(&t, Some(1234), Some(5678)).unwrap();
        let before = ino(&t);
        save_ok(&env, &["--strategy", strategy, "T"], "new\n");
        let meta = fs::metadata(&t).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (1234, 5678), "{strategy}");
        assert_eq!(env.read("T"), b"new\n");
        if strategy == "atomic" {
            assert_ne!(meta.ino(), before, "atomic save should make a new inode");
        }
    }
}

// Guards (regression): root saving another user's file with --backup gives TARGET.bak the
// target's owner, group and permission bits, as the target keeps them; the backup used to be
// owned by root, with every strategy.
#[test]
fn the_backup_keeps_the_owner_group_and_mode() {
    if !is_root() {
        skip(
            "the_backup_keeps_the_owner_group_and_mode",
            "needs root to chown to 1234:5678",
        );
        return;
    }
    for strategy in STRATEGIES {
        let env = Env::new();
        let t = env.write("T", "old\n");
        std::os::unix::fs::chown(&t, Some(1234), Some(5678)).unwrap();
        fs::set_permissions(&t, fs::Permissions::from_mode(0o640)).unwrap();
        let out = save_ok(&env, &["--backup", "--strategy", strategy, "T"], "new\n");
        assert_eq!(env.read("T.bak"), b"old\n", "{strategy}");
        let bak = fs::metadata(env.path("T.bak")).unwrap();
        assert_eq!(
            (bak.uid(), bak.gid()),
            (1234, 5678),
            "{strategy}: the backup's owner"
        );
        assert_eq!(env.mode("T.bak"), 0o640, "{strategy}: the backup's mode");
        let meta = fs::metadata(&t).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (1234, 5678), "{strategy}");
        assert!(out.stderr.is_empty(), "{strategy}: {}", out.show());
        env.assert_no_leftovers();
    }
}

// Guards: extended attributes (where ACLs and SELinux labels live) survive an atomic save.
#[test]
fn xattrs_survive_atomic_save() {
    let env = Env::new();
    let t = env.write("T", "old\n");
    match rustix::fs::setxattr(
        &t,
        "user.durable_test",
        b"kept value",
        rustix::fs::XattrFlags::empty(),
    ) {
        Ok(()) => {}
        Err(e) if e == rustix::io::Errno::NOTSUP => {
            skip(
                "xattrs_survive_atomic_save",
                "the scratch filesystem has no user xattrs",
            );
            return;
        }
        Err(e) => panic!("setxattr: {e}"),
    }
    let before = ino(&t);
    save_ok(&env, &["T"], "new\n");
    assert_ne!(ino(&t), before, "atomic save should make a new inode");
    let mut buf = [0u8; 64];
    let n = rustix::fs::getxattr(&t, "user.durable_test", &mut buf[..])
        .expect("user.durable_test is gone after the save");
    assert_eq!(&buf[..n], b"kept value");
    assert_eq!(env.read("T"), b"new\n");
}

// Guards (regression): `--backup` dropped the file's extended attributes, so a user a POSIX ACL
// keeps from reading the file could read TARGET.bak (same permission bits, no ACL). The backup
// now gets every attribute the file has (the ACL, a user attribute), with every strategy.
#[test]
fn a_backup_keeps_the_acl_and_extended_attributes() {
    let test = "save::a_backup_keeps_the_acl_and_extended_attributes";
    // user::rw-, user:65534:---, group::r--, mask::r--, other::r-- (setfacl -m u:nobody:--- T).
    let mut acl = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [
        (1u16, 6u16, u32::MAX),
        (2, 0, 65534),
        (4, 4, u32::MAX),
        (0x10, 4, u32::MAX),
        (0x20, 4, u32::MAX),
    ] {
        acl.extend_from_slice(&tag.to_le_bytes());
        acl.extend_from_slice(&perm.to_le_bytes());
        acl.extend_from_slice(&id.to_le_bytes());
    }
    for strategy in ["atomic", "in-place", "journal"] {
        let env = Env::new();
        let t = env.write("T", "old\n");
        for (name, value) in [
            ("system.posix_acl_access", &acl[..]),
            ("user.durable_test", b"kept value"),
        ] {
            match rustix::fs::setxattr(&t, name, value, rustix::fs::XattrFlags::empty()) {
                Ok(()) => {}
                Err(e) if e == rustix::io::Errno::NOTSUP => {
                    skip(test, &format!("the scratch filesystem has no {name}"));
                    return;
                }
                Err(e) => panic!("setxattr {name}: {e}"),
            }
        }
        save_ok(&env, &["--backup", "--strategy", strategy, "T"], "new\n");
        let bak = env.path("T.bak");
        assert_eq!(env.read("T.bak"), b"old\n", "{strategy}");
        for (name, value) in [
            ("system.posix_acl_access", &acl[..]),
            ("user.durable_test", b"kept value"),
        ] {
            let mut buf = [0u8; 256];
            let n = rustix::fs::getxattr(&bak, name, &mut buf[..])
                .unwrap_or_else(|e| panic!("{strategy}: {name} is not on the backup: {e}"));
            assert_eq!(&buf[..n], value, "{strategy}: {name}");
        }
    }
}

// Guards (regression): `--help`, `--explain` and the docs said the in-place backup is made "only
// once the save is sure to change TARGET", but without `--if-changed` every chunk is written,
// identical or not, so the backup is made before the first chunk (an identical save replaces
// an older backup); with `--if-changed` an identical save leaves it alone. The texts now say so.
#[test]
fn the_in_place_backup_is_made_before_the_first_write_as_documented() {
    let env = Env::new();
    env.write("f", "v1\n");
    env.write("f.bak", "v0\n");
    save_ok(
        &env,
        &["--strategy", "in-place", "--backup", "--if-changed", "f"],
        "v1\n",
    );
    assert_eq!(
        env.read("f.bak"),
        b"v0\n",
        "--if-changed: nothing to change"
    );
    save_ok(&env, &["--strategy", "in-place", "--backup", "f"], "v1\n");
    assert_eq!(
        env.read("f.bak"),
        b"v1\n",
        "every chunk is written, identical or not"
    );
    let explain = save_ok(
        &env,
        &["--strategy", "in-place", "--backup", "--explain", "f"],
        "",
    );
    assert!(
        explain
            .out()
            .contains("the first pwrite, of any chunk without --if-changed"),
        "{}",
        explain.out()
    );
    let help = env
        .durable()
        .args(["save", "--help"])
        .output()
        .expect("help");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("before the first chunk, identical or")
            && !help.contains("is sure to change"),
        "{help}"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Symlinks

// Guards: saving through a symlink updates the file it points to and keeps the link.
#[test]
fn symlink_is_written_through() {
    for strategy in STRATEGIES {
        let env = Env::new();
        env.write("file", "old\n");
        std::os::unix::fs::symlink("file", env.path("link")).unwrap();
        save_ok(&env, &["--strategy", strategy, "link"], "new\n");
        assert_eq!(env.read("file"), b"new\n", "{strategy}");
        let meta = fs::symlink_metadata(env.path("link")).unwrap();
        assert!(meta.file_type().is_symlink(), "{strategy}: link replaced");
        assert_eq!(fs::read_link(env.path("link")).unwrap(), Path::new("file"));
        env.assert_no_leftovers();
    }
}

// Guards: through a link into another directory, the temp file goes in the target's directory
// (so the rename never crosses filesystems) and nothing is left in either directory.
#[test]
fn symlink_to_other_directory_uses_that_directory() {
    let env = Env::new();
    env.write("b/file", "old\n");
    fs::create_dir(env.path("a")).unwrap();
    std::os::unix::fs::symlink("../b/file", env.path("a/link")).unwrap();
    let out = save_ok(&env, &["--json", "a/link"], "new\n");
    assert_eq!(env.read("b/file"), b"new\n");
    assert!(
        fs::symlink_metadata(env.path("a/link"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(env.read("a/link"), b"new\n");
    let result = json(&out);
    let create = result["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "create-temp")
        .expect("create-temp step");
    let temp_dir = env.path(&crate::common::data_text(&create["path"]));
    assert_eq!(
        fs::canonicalize(temp_dir).unwrap(),
        fs::canonicalize(env.path("b")).unwrap(),
        "temp file was not created in the link target's directory"
    );
    env.assert_no_leftovers();
    assert_eq!(env.names(), ["a", "a/link", "b", "b/file"]);
}

// Guards: --no-follow replaces the link itself and leaves the old link target alone.
#[test]
fn no_follow_replaces_the_link() {
    let env = Env::new();
    env.write("file", "old\n");
    std::os::unix::fs::symlink("file", env.path("link")).unwrap();
    save_ok(&env, &["--no-follow", "link"], "new\n");
    let meta = fs::symlink_metadata(env.path("link")).unwrap();
    assert!(meta.file_type().is_file(), "link was not replaced");
    assert_eq!(env.read("link"), b"new\n");
    assert_eq!(env.read("file"), b"old\n");
    env.assert_no_leftovers();
}

// Guards: --no-follow with an in-place strategy on a symlink is refused, changing nothing.
#[test]
fn no_follow_in_place_on_symlink_is_refused() {
    for strategy in ["in-place", "journal"] {
        let env = Env::new();
        env.write("file", "old\n");
        std::os::unix::fs::symlink("file", env.path("link")).unwrap();
        let out = save(
            &env,
            &["--no-follow", "--strategy", strategy, "link"],
            "new\n",
        );
        assert_eq!(out.status.code(), Some(2), "{strategy}");
        let line = one_line(&out);
        assert!(line.contains("link"), "{line}");
        assert!(line.contains("symlink"), "{line}");
        assert!(
            fs::symlink_metadata(env.path("link"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(env.read("file"), b"old\n");
        assert_eq!(env.names(), ["file", "link"]);
    }
}

// Guards: a dangling symlink creates the file at the link's destination and keeps the link.
#[test]
fn dangling_symlink_creates_its_destination() {
    for strategy in STRATEGIES {
        let env = Env::new();
        fs::create_dir(env.path("d")).unwrap();
        std::os::unix::fs::symlink("d/dest", env.path("link")).unwrap();
        save_ok(&env, &["--strategy", strategy, "link"], "created\n");
        assert_eq!(env.read("d/dest"), b"created\n", "{strategy}");
        assert!(
            fs::symlink_metadata(env.path("link"))
                .unwrap()
                .file_type()
                .is_symlink(),
            "{strategy}"
        );
        env.assert_no_leftovers();
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Hard links

// Guards: an atomic save would split a hard-linked file; by default it is refused, naming both
// ways out, and nothing changes.
#[test]
fn hard_linked_target_is_refused_by_default() {
    let env = Env::new();
    let a = env.write("a", "old\n");
    fs::hard_link(&a, env.path("b")).unwrap();
    let out = save(&env, &["a"], "new\n");
    assert_eq!(out.status.code(), Some(2));
    let line = one_line(&out);
    assert!(line.contains("--hardlinks break"), "{line}");
    assert!(line.contains("in-place"), "{line}");
    assert!(line.contains("a was not changed"), "{line}");
    assert_eq!(env.read("a"), b"old\n");
    assert_eq!(env.read("b"), b"old\n");
    assert_eq!(ino(&a), ino(&env.path("b")));
    env.assert_no_leftovers();
}

// Guards: --hardlinks break gives only the named path the new content.
#[test]
fn hardlinks_break_splits_the_names() {
    let env = Env::new();
    let a = env.write("a", "old\n");
    fs::hard_link(&a, env.path("b")).unwrap();
    save_ok(&env, &["--hardlinks", "break", "a"], "new\n");
    assert_eq!(env.read("a"), b"new\n");
    assert_eq!(env.read("b"), b"old\n");
    assert_ne!(ino(&a), ino(&env.path("b")));
    env.assert_no_leftovers();
}

// Guards: in-place and journal update every name of a hard-linked file (same inode).
#[test]
fn in_place_strategies_update_every_hard_link() {
    for strategy in ["in-place", "journal"] {
        let env = Env::new();
        let a = env.write("a", "old content\n");
        fs::hard_link(&a, env.path("b")).unwrap();
        let before = ino(&a);
        save_ok(&env, &["--strategy", strategy, "a"], "new\n");
        assert_eq!(env.read("a"), b"new\n", "{strategy}");
        assert_eq!(env.read("b"), b"new\n", "{strategy}");
        assert_eq!(ino(&a), before, "{strategy}");
        assert_eq!(ino(&env.path("b")), before, "{strategy}");
        env.assert_no_leftovers();
    }
}

// ---------------------------------------------------------------------------------------------
// 6. --no-clobber

// Guards: --no-clobber refuses an existing target and creates a new one, in every strategy.
#[test]
fn no_clobber() {
    for strategy in STRATEGIES {
        let env = Env::new();
        env.write("T", "old\n");
        let out = save(
            &env,
            &["--no-clobber", "--strategy", strategy, "T"],
            "new\n",
        );
        assert_eq!(out.status.code(), Some(2), "{strategy}");
        let line = one_line(&out);
        assert!(line.contains("already exists"), "{strategy}: {line}");
        assert_eq!(env.read("T"), b"old\n", "{strategy}");
        save_ok(
            &env,
            &["--no-clobber", "--strategy", strategy, "N"],
            "new\n",
        );
        assert_eq!(env.read("N"), b"new\n", "{strategy}");
        env.assert_no_leftovers();
        assert_eq!(env.names(), ["N", "T"], "{strategy}");
    }
}

// ---------------------------------------------------------------------------------------------
// 7. --backup

// Guards: --backup keeps the previous version in TARGET.bak (with the original's permissions),
// replaces it on the next save, and makes none for a new file.
#[test]
fn backup_keeps_previous_version() {
    for strategy in STRATEGIES {
        let env = Env::new();
        let t = env.write("T", "first\n");
        fs::set_permissions(&t, fs::Permissions::from_mode(0o600)).unwrap();
        save_ok(&env, &["--backup", "--strategy", strategy, "T"], "second\n");
        assert_eq!(env.read("T"), b"second\n", "{strategy}");
        assert_eq!(env.read("T.bak"), b"first\n", "{strategy}");
        assert_eq!(env.mode("T.bak"), 0o600, "{strategy}: backup of a secret");
        save_ok(&env, &["--backup", "--strategy", strategy, "T"], "third\n");
        assert_eq!(env.read("T"), b"third\n", "{strategy}");
        assert_eq!(env.read("T.bak"), b"second\n", "{strategy}");
        save_ok(&env, &["--backup", "--strategy", strategy, "N"], "new\n");
        assert!(!env.path("N.bak").exists(), "{strategy}: backup of nothing");
        env.assert_no_leftovers();
        assert_eq!(env.names(), ["N", "T", "T.bak"], "{strategy}");
    }
}

// Guards (regression): a save that is refused (empty input, a failing producer) or has nothing
// to change (--if-changed) leaves TARGET.bak as it was; journal and in-place saves used to
// replace it with a copy of the unchanged target, losing the older version. The atomic
// strategy never did.
#[test]
fn a_refused_or_unchanged_save_keeps_the_older_backup() {
    for strategy in STRATEGIES {
        let env = Env::new();
        env.write("T", "current\n");
        env.write("T.bak", "older\n");
        let cases: [(&[&str], &str, i32); 3] = [
            (&["--backup", "--strategy", strategy, "T"], "", 2),
            (
                &[
                    "--backup",
                    "--strategy",
                    strategy,
                    "T",
                    "--",
                    "sh",
                    "-c",
                    "echo x; exit 1",
                ],
                "",
                2,
            ),
            (
                &["--backup", "--if-changed", "--strategy", strategy, "T"],
                "current\n",
                0,
            ),
        ];
        for (args, stdin, code) in cases {
            let out = save(&env, args, stdin);
            assert_eq!(out.code, code, "{strategy} {args:?}: {}", out.show());
            assert_eq!(env.read("T"), b"current\n", "{strategy} {args:?}");
            assert_eq!(
                env.read("T.bak"),
                b"older\n",
                "{strategy} {args:?}: the backup"
            );
        }
        env.assert_no_leftovers();
    }
}

// Guards: in place, the backup is made just before the first byte of the target changes, so it
// holds the whole old content whichever change comes first: a chunk that differs after an
// identical start (--if-changed writes only what differs), a truncate after an identical
// prefix, emptying (--allow-empty). The steps are the ones --explain lists, in its order.
#[test]
fn an_in_place_backup_holds_the_old_content_whatever_changes_first() {
    let big_old: String = "0123456789abcdef\n".repeat(40_000);
    let big_new = format!("{}CHANGED\n", &big_old[..big_old.len() - 8]);
    let cases: [(&str, &str, &[&str]); 4] = [
        ("current content\n", "current", &["--if-changed"]),
        (&big_old, &big_new, &["--if-changed"]),
        ("current content\n", "", &["--allow-empty"]),
        ("current content\n", "other\n", &[]),
    ];
    for (old, new, extra) in cases {
        let env = Env::new();
        env.write("T", old);
        env.write("T.bak", "older\n");
        let mut args = vec!["--backup", "--strategy", "in-place"];
        args.extend_from_slice(extra);
        args.push("T");
        let mut explain = vec!["--explain", "--json"];
        explain.extend_from_slice(&args);
        let plan = save_ok(&env, &explain, "");
        let mut real = vec!["--json"];
        real.extend_from_slice(&args);
        let out = save_ok(&env, &real, new);
        let case = format!("{args:?} {} bytes", new.len());
        assert_eq!(env.read("T"), new.as_bytes(), "{case}");
        assert!(env.read("T.bak") == old.as_bytes(), "{case}: the backup");
        assert_eq!(step_names(&json(&plan)), step_names(&json(&out)), "{case}");
        env.assert_no_leftovers();
    }
}

// ---------------------------------------------------------------------------------------------
// 8. --if-changed

// Guards: identical content leaves the file alone (mtime and inode) and reports "unchanged".
#[test]
fn if_changed_skips_identical_content() {
    let content = pseudo_random(3 * 1024 * 1024 + 5, 3);
    for strategy in STRATEGIES {
        for body in [b"same content\n".to_vec(), content.clone(), Vec::new()] {
            let env = Env::new();
            let t = env.write("T", &body);
            age(&t);
            let (before_time, before_ino) = (mtime(&t), ino(&t));
            let out = save_ok(
                &env,
                &["--if-changed", "--json", "--strategy", strategy, "T"],
                body.clone(),
            );
            assert_eq!(json(&out)["outcome"], "unchanged", "{strategy}");
            assert_eq!(mtime(&t), before_time, "{strategy}: mtime changed");
            assert_eq!(ino(&t), before_ino, "{strategy}: inode changed");
            assert!(env.read("T") == body, "{strategy}");
            env.assert_no_leftovers();
        }
    }
}

// Guards: --if-changed with a --mode the file does not have is a change:
// the bits asked for are applied, never "unchanged" with the old bits; with the bits it has,
// the file is left alone.
#[test]
fn if_changed_applies_a_different_mode() {
    for strategy in STRATEGIES {
        let env = Env::new();
        let t = env.write("T", "same content\n");
        fs::set_permissions(&t, fs::Permissions::from_mode(0o644)).expect("chmod");
        let out = save_ok(
            &env,
            &[
                "--if-changed",
                "--mode",
                "600",
                "--json",
                "--strategy",
                strategy,
                "T",
            ],
            "same content\n",
        );
        assert_eq!(json(&out)["outcome"], "written", "{strategy}");
        assert_eq!(env.mode("T"), 0o600, "{strategy}: --mode not applied");
        assert_eq!(env.read("T"), b"same content\n", "{strategy}");
        age(&t);
        let (time, inode) = (mtime(&t), ino(&t));
        let out = save_ok(
            &env,
            &[
                "--if-changed",
                "--mode",
                "600",
                "--json",
                "--strategy",
                strategy,
                "T",
            ],
            "same content\n",
        );
        assert_eq!(json(&out)["outcome"], "unchanged", "{strategy}: same bits");
        assert_eq!((mtime(&t), ino(&t)), (time, inode), "{strategy}: touched");
        env.assert_no_leftovers();
    }
}

// Guards: different content is written, including inputs that share a prefix with the old
// content but are longer or shorter, and a change only in a late chunk of a large file.
#[test]
fn if_changed_writes_different_content() {
    let big = pseudo_random(3 * 1024 * 1024, 9);
    let mut big_changed = big.clone();
    *big_changed.last_mut().unwrap() ^= 1;
    let cases: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        (
            "different",
            b"old content\n".to_vec(),
            b"new content\n".to_vec(),
        ),
        ("longer", b"prefix".to_vec(), b"prefix and more".to_vec()),
        ("shorter", b"prefix and more".to_vec(), b"prefix".to_vec()),
        ("emptied", b"something".to_vec(), Vec::new()),
        ("late change", big, big_changed),
    ];
    for strategy in STRATEGIES {
        for (what, old, new) in &cases {
            let env = Env::new();
            let t = env.write("T", old);
            age(&t);
            let before = mtime(&t);
            let out = save_ok(
                &env,
                &[
                    "--if-changed",
                    "--allow-empty",
                    "--json",
                    "--strategy",
                    strategy,
                    "T",
                ],
                new.clone(),
            );
            assert_eq!(json(&out)["outcome"], "written", "{strategy} {what}");
            assert!(env.read("T") == *new, "{strategy} {what}: wrong content");
            assert_ne!(mtime(&t), before, "{strategy} {what}: mtime kept");
            env.assert_no_leftovers();
        }
    }
}

// Guards: --if-changed on a new target creates it.
#[test]
fn if_changed_creates_a_new_target() {
    for strategy in STRATEGIES {
        let env = Env::new();
        let out = save_ok(
            &env,
            &["--if-changed", "--json", "--strategy", strategy, "N"],
            "",
        );
        assert_eq!(json(&out)["outcome"], "written", "{strategy}");
        assert_eq!(env.read("N"), b"", "{strategy}");
    }
}

// ---------------------------------------------------------------------------------------------
// 9. --verify

// Guards: --verify runs a verify step and succeeds on a normal save.
#[test]
fn verify_succeeds() {
    for strategy in STRATEGIES {
        let env = Env::new();
        env.write("T", "old\n");
        let out = save_ok(
            &env,
            &["--verify", "--json", "--strategy", strategy, "T"],
            "new\n",
        );
        let steps = step_names(&json(&out));
        assert!(steps.iter().any(|s| s == "verify"), "{strategy}: {steps:?}");
        assert_eq!(env.read("T"), b"new\n");
    }
}

// ---------------------------------------------------------------------------------------------
// 10. --explain

// Guards: --explain changes nothing (not even for a new target) and prints the plan.
#[test]
fn explain_changes_nothing() {
    for strategy in STRATEGIES {
        for target in ["T", "new"] {
            let env = Env::new();
            env.write("T", "old\n");
            let before = snapshot(&env);
            let out = save(
                &env,
                &["--explain", "--backup", "--strategy", strategy, target],
                "new content\n",
            );
            assert_eq!(out.code, 0, "{}", out.show());
            assert_eq!(snapshot(&env), before, "{strategy} {target}");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("Nothing was changed"), "{text}");
            let plan = save(
                &env,
                &[
                    "--explain",
                    "--json",
                    "--backup",
                    "--strategy",
                    strategy,
                    target,
                ],
                "",
            );
            assert_eq!(snapshot(&env), before, "{strategy} {target} (json)");
            let names = step_names(&json(&plan));
            assert!(!names.is_empty());
            for name in names {
                assert!(text.contains(&name), "{name} missing from {text}");
            }
        }
    }
}

// Guards: --explain is honest: its steps are exactly the steps the real save then performs.
#[test]
fn explain_lists_the_steps_the_save_performs() {
    let extras: [&[&str]; 7] = [
        &[],
        &["--backup"],
        &["--verify"],
        &["--backup", "--verify"],
        &["--mode", "0640"],
        &["--if-changed"],
        &["--no-clobber"],
    ];
    for strategy in STRATEGIES {
        for existing in [true, false] {
            for extra in extras {
                if existing && extra.contains(&"--no-clobber") {
                    continue; // refused, tested in no_clobber
                }
                for sync in ["full", "data", "none"] {
                    let env = Env::new();
                    if existing {
                        env.write("T", "old content\n");
                    }
                    let mut args = vec!["--strategy", strategy, "--sync", sync];
                    args.extend_from_slice(extra);
                    args.push("T");
                    let case = format!("{args:?} existing={existing}");
                    let mut explain_args = vec!["--explain", "--json"];
                    explain_args.extend_from_slice(&args);
                    let plan = save_ok(&env, &explain_args, "");
                    let mut real_args = vec!["--json"];
                    real_args.extend_from_slice(&args);
                    let real = save_ok(&env, &real_args, "new content\n");
                    assert_eq!(step_names(&json(&plan)), step_names(&json(&real)), "{case}");
                    assert_eq!(env.read("T"), b"new content\n", "{case}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 11. --json

// Guards: the --json result is one valid object with the documented fields and types.
#[test]
fn json_result_has_the_documented_fields() {
    let env = Env::new();
    env.write("T", "old\n");
    let out = save_ok(&env, &["--json", "--sync", "data", "T"], "12345");
    let v = json(&out);
    assert_eq!(v["target"], crate::common::json_path("T"));
    assert!(
        v["path"]["text"].as_str().is_some_and(|p| p.ends_with('T')),
        "{v}"
    );
    assert_eq!(v["outcome"], "written");
    assert_eq!(v["strategy"], "atomic");
    assert_eq!(v["sync"], "data");
    assert_eq!(v["bytes"], 5);
    assert_eq!(v["created"], false);
    assert_eq!(v["exit_code"], 0);
    let steps = v["steps"].as_array().expect("steps array");
    assert!(!steps.is_empty());
    for step in steps {
        assert!(step["step"].as_str().is_some(), "{step}");
        assert!(step["micros"].as_u64().is_some(), "{step}");
    }

    let out = save_ok(&env, &["--json", "--strategy", "journal", "N"], "");
    let v = json(&out);
    assert_eq!(v["target"], crate::common::json_path("N"));
    assert_eq!(v["strategy"], "journal");
    assert_eq!(v["sync"], "full");
    assert_eq!(v["bytes"], 0);
    assert_eq!(v["created"], true);
    assert!(out.stderr.clone().is_empty(), "{}", out.stderr.clone());
}

// ---------------------------------------------------------------------------------------------
// 12. -v

// Guards: -v prints one line per step on stderr, in the order performed, durable steps in the
// documented order (write, flush, close, rename, flush the directory).
#[test]
fn verbose_traces_each_step_in_order() {
    for strategy in STRATEGIES {
        let env = Env::new();
        env.write("T", "old\n");
        let out = save_ok(
            &env,
            &["-v", "--json", "--strategy", strategy, "T"],
            "new\n",
        );
        let traced: Vec<String> = out
            .stderr
            .clone()
            .lines()
            .map(|line| {
                let rest = line
                    .strip_prefix("durable: ")
                    .unwrap_or_else(|| panic!("unexpected line {line:?}"));
                rest.split_whitespace().next().unwrap().to_string()
            })
            .collect();
        assert_eq!(traced, step_names(&json(&out)), "{strategy}");
    }

    let env = Env::new();
    env.write("T", "old\n");
    let out = save_ok(&env, &["-v", "T"], "new\n");
    let text = out.stderr.clone();
    let pos = |step: &str| {
        text.lines()
            .position(|l| l.split_whitespace().nth(1) == Some(step))
            .unwrap_or_else(|| panic!("{step} not traced: {text}"))
    };
    let order = [
        "create-temp",
        "write-temp",
        "sync-temp",
        "close-temp",
        "rename",
        "sync-dir",
    ];
    for pair in order.windows(2) {
        assert!(pos(pair[0]) < pos(pair[1]), "{pair:?} out of order: {text}");
    }
    assert!(
        text.lines().last().unwrap().contains("written"),
        "no summary line: {text}"
    );
}

// ---------------------------------------------------------------------------------------------
// 13. Interrupted journaled saves

/// Leave a valid journal for T (new content `content`) by crashing right after it is flushed.
fn crash_after_journal(env: &Env, content: &str) {
    let out = env
        .cmd(&["save", "--strategy", "journal", "T"])
        .fault("sync-dir-journal:crash")
        .stdin(content)
        .run();
    assert!(!out.status.success(), "the planned crash did not happen");
    assert!(
        env.path(".T.durable-journal").exists(),
        "no journal left: {:?}",
        env.names()
    );
}

// Guards: the next save completes an interrupted journaled save before its own.
#[test]
fn next_save_completes_interrupted_journal() {
    if !crate::common::fault_switch("next_save_completes_interrupted_journal") {
        return;
    }
    let env = Env::new();
    env.write("T", "old\n");
    crash_after_journal(&env, "journaled\n");
    assert_eq!(
        env.read("T"),
        b"old\n",
        "crash came before the target write"
    );

    let out = save_ok(&env, &["--backup", "--json", "T"], "second\n");
    let text = out.stderr.clone();
    assert!(text.contains("completed an interrupted"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert_eq!(env.read("T"), b"second\n");
    // The journal was replayed first, so it is the version the backup kept.
    assert_eq!(env.read("T.bak"), b"journaled\n");
    assert_eq!(json(&out)["settled_journal"]["action"], "completed");
    env.assert_no_leftovers();
}

// Guards (regression): a journaled save of `f` interrupted after its journal, then a save of
// `g`, another hard link of the same file: the save did not see `.f.durable-journal` (its own
// journal is `.g.durable-journal`), wrote NEWER (exit 0), and `recover .` later replayed the
// old journal over it. A save of a file with other links settles a complete journal of another
// link in its directory first, whatever the strategy, as recover would decide it; two such
// journals are refused, and nothing is written.
#[test]
fn a_save_settles_a_journal_another_hard_link_left() {
    if !crate::common::fault_switch("a_save_settles_a_journal_another_hard_link_left") {
        return;
    }
    for strategy in STRATEGIES {
        let env = Env::new();
        env.write("f", "old\n");
        fs::hard_link(env.path("f"), env.path("g")).expect("link");
        let out = env
            .cmd(&["save", "--strategy", "journal", "f"])
            .fault("sync-dir-journal:crash")
            .stdin("STALE\n")
            .run();
        assert!(!out.status.success(), "the planned crash did not happen");
        assert!(env.path(".f.durable-journal").exists(), "{:?}", env.names());
        let mut args = vec!["--strategy", strategy];
        if strategy == "atomic" {
            args.extend(["--hardlinks", "break"]);
        }
        args.push("g");
        let out = save_ok(&env, &args, "NEWER\n");
        assert!(
            out.stderr.contains("completed an interrupted"),
            "{strategy}: {}",
            out.show()
        );
        assert!(
            !env.path(".f.durable-journal").exists(),
            "{strategy}: {:?}",
            env.names()
        );
        assert_eq!(env.read("g"), b"NEWER\n", "{strategy}");
        // The journal came first: an atomic save gives only `g` the new content.
        let f: &[u8] = if strategy == "atomic" {
            b"STALE\n"
        } else {
            b"NEWER\n"
        };
        assert_eq!(env.read("f"), f, "{strategy}");
        let out = env.cmd(&["recover", "."]).run();
        assert_eq!(out.code, 0, "{strategy}: {}", out.show());
        assert_eq!(
            env.read("g"),
            b"NEWER\n",
            "{strategy}: the later save was undone"
        );
        assert_eq!(env.read("f"), f, "{strategy}");
    }
    // Two complete journals of two other links: which came last cannot be told, so the save
    // is refused before it writes, both kept.
    let env = Env::new();
    env.write("f", "old\n");
    fs::hard_link(env.path("f"), env.path("g")).expect("link");
    fs::hard_link(env.path("f"), env.path("h")).expect("link");
    env.write(
        ".f.durable-journal",
        crate::recover_boot::journal_of(b"one"),
    );
    env.write(
        ".h.durable-journal",
        crate::recover_boot::journal_of(b"two"),
    );
    for strategy in ["in-place", "journal"] {
        let out = save(&env, &["--strategy", strategy, "g"], "NEWER\n");
        assert_eq!(out.code, 2, "{strategy}: {}", out.show());
        assert!(
            out.stderr.contains("are for the same file"),
            "{}",
            out.show()
        );
        assert_eq!(env.read("g"), b"old\n", "{strategy}");
        assert!(env.path(".f.durable-journal").exists() && env.path(".h.durable-journal").exists());
    }
}

// Guards (regression): a save of `g` that settled `.f.durable-journal`, left by an interrupted
// save of `f`, another hard link of the same file, said "completed an interrupted journaled
// save of g from .f.durable-journal": the journal is `f`'s. The sentence names the journal and
// the link it belongs to, and the name saved; the save's own journal is still named as before.
#[test]
fn settling_another_hard_links_journal_names_that_link() {
    let env = Env::new();
    env.write("f", "old\n");
    fs::hard_link(env.path("f"), env.path("g")).expect("link");
    env.write(
        ".f.durable-journal",
        crate::recover_boot::journal_of(b"STALE\n"),
    );
    let out = save_ok(&env, &["--strategy", "journal", "g"], "NEWER\n");
    assert_eq!(
        one_line(&out),
        "durable: completed an interrupted journaled save of f (another name of g) from \
         .f.durable-journal (6 bytes) before this one",
        "{}",
        out.show()
    );
    assert_eq!(env.read("f"), b"NEWER\n");
    env.write(
        ".g.durable-journal",
        crate::recover_boot::journal_of(b"STALE\n"),
    );
    let out = save_ok(&env, &["--strategy", "journal", "g"], "NEWEST\n");
    assert_eq!(
        one_line(&out),
        "durable: completed an interrupted journaled save of g from .g.durable-journal (6 \
         bytes) before this one",
        "{}",
        out.show()
    );
}

// Guards: a completed journal creates a target that did not exist, then the new save runs.
#[test]
fn interrupted_journal_of_a_new_file_is_completed() {
    if !crate::common::fault_switch("interrupted_journal_of_a_new_file_is_completed") {
        return;
    }
    let env = Env::new();
    crash_after_journal(&env, "journaled\n");
    assert!(!env.path("T").exists());
    save_ok(&env, &["--backup", "T"], "second\n");
    assert_eq!(env.read("T"), b"second\n");
    assert_eq!(env.read("T.bak"), b"journaled\n");
    env.assert_no_leftovers();
}

// Guards: --explain lists the settling of a leftover journal, then the same steps as the save.
#[test]
fn explain_lists_settling_a_leftover_journal() {
    if !crate::common::fault_switch("explain_lists_settling_a_leftover_journal") {
        return;
    }
    let env = Env::new();
    env.write("T", "old\n");
    crash_after_journal(&env, "journaled\n");
    let before = snapshot(&env);
    let plan = step_names(&json(&save_ok(&env, &["--explain", "--json", "T"], "")));
    assert_eq!(snapshot(&env), before, "--explain settled the journal");
    assert_eq!(plan.first().map(String::as_str), Some("settle-journal"));
    let real = step_names(&json(&save_ok(&env, &["--json", "T"], "second\n")));
    // Settling reports as the one step `settle-journal`, exactly as the plan lists it.
    assert_eq!(plan, real);
}

// Guards: an invalid leftover journal is rolled back (removed, target untouched) by the next save.
#[test]
fn next_save_rolls_back_invalid_journal() {
    let env = Env::new();
    env.write("T", "old\n");
    env.write(
        ".T.durable-journal",
        "this is not a journal at all, just garbage",
    );
    assert_eq!(env.read("T"), b"old\n");
    let out = save_ok(&env, &["--backup", "T"], "second\n");
    let text = out.stderr.clone();
    assert!(text.contains("rolled back"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert_eq!(env.read("T"), b"second\n");
    assert_eq!(
        env.read("T.bak"),
        b"old\n",
        "the garbage journal was applied"
    );
    env.assert_no_leftovers();
}

/// A `durable save` running in the background: its stdin stays open until [`Running::finish`],
/// and its stderr is collected as it comes.
struct Running {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Running {
    fn start(env: &Env, args: &[&str]) -> Running {
        use std::process::Stdio;
        let mut child = env
            .cmd(&["save"])
            .args(args)
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn durable save");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Running {
            stdin: child.stdin.take(),
            child,
            stderr,
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.stdin
            .as_mut()
            .expect("stdin open")
            .write_all(bytes)
            .expect("feed");
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn exited(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_some()
    }

    /// Close stdin and wait; the exit code and stderr.
    fn finish(mut self) -> (Option<i32>, String) {
        drop(self.stdin.take());
        let status = self.child.wait().expect("wait");
        // The reader thread ends with the pipe; give it the moment it needs.
        common::wait_until(Duration::from_secs(5), || {
            !self.stderr().is_empty() || status.success()
        });
        (status.code(), self.stderr())
    }
}

use std::time::Duration;

use crate::common;

// Guards: two in-place saves of one file take turns: a second save started
// while the first is halfway through its input waits for it (and says so), so the file ends as
// exactly the second input; it was a mix of both before.
#[test]
fn concurrent_in_place_saves_take_turns() {
    for strategy in ["in-place", "journal"] {
        let env = Env::new();
        let half = 200_000;
        env.write("T", vec![b'o'; 2 * half]);
        let mut first = Running::start(&env, &["--strategy", strategy, "T"]);
        first.feed(&vec![b'a'; half]);
        // Readiness, not timing: the first save has started writing (in place: the target's
        // first bytes; journal: its journal).
        let started = common::wait_until(Duration::from_secs(20), || match strategy {
            "in-place" => env.read("T").first() == Some(&b'a'),
            _ => env.path(".T.durable-journal").exists(),
        });
        assert!(started, "{strategy}: the first save never started writing");
        let mut second = Running::start(&env, &["--strategy", strategy, "T"]);
        // From a thread: a save waiting for the lock reads nothing yet.
        let mut stdin = second.stdin.take().expect("stdin");
        let feeder = std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&vec![b'b'; 2 * half]);
        });
        // The second save either finished (no lock: the bug) or says it waits.
        assert!(
            common::wait_until(Duration::from_secs(20), || {
                second.exited()
                    || second
                        .stderr()
                        .contains("waiting for another `durable save` of T")
            }),
            "{strategy}: the second save neither finished nor said it waits: {:?}",
            second.stderr()
        );
        first.feed(&vec![b'a'; half]);
        let (code, err) = first.finish();
        assert_eq!(code, Some(0), "{strategy}: first save: {err}");
        let (code, err) = second.finish();
        feeder.join().expect("feeder");
        assert_eq!(code, Some(0), "{strategy}: second save: {err}");
        assert!(!err.contains("could not finish"), "{strategy}: {err}");
        let got = env.read("T");
        assert!(
            got == vec![b'b'; 2 * half],
            "{strategy}: the file is not exactly the second input ({} a, {} b, {} o)",
            got.iter().filter(|b| **b == b'a').count(),
            got.iter().filter(|b| **b == b'b').count(),
            got.iter().filter(|b| **b == b'o').count()
        );
        env.assert_no_leftovers();
    }
}

// Guards: with --no-wait, a save that finds another in progress fails at once with "another
// `durable save` of T is in progress", never "could not finish the interrupted earlier save",
// and changes nothing.
#[test]
fn no_wait_says_another_save_is_in_progress() {
    for strategy in ["in-place", "journal"] {
        for second_strategy in ["atomic", "in-place", "journal"] {
            // An atomic save waits only for a journal (it takes no lock of its own).
            if strategy == "in-place" && second_strategy == "atomic" {
                continue;
            }
            let env = Env::new();
            env.write("T", "old\n");
            let mut first = Running::start(&env, &["--strategy", strategy, "T"]);
            first.feed(b"new");
            let started = common::wait_until(Duration::from_secs(20), || match strategy {
                "in-place" => env.read("T").starts_with(b"new"),
                _ => env.path(".T.durable-journal").exists(),
            });
            assert!(started, "{strategy}: the first save never started writing");
            let out = save(
                &env,
                &["--no-wait", "--strategy", second_strategy, "T"],
                "other\n",
            );
            let case = format!("{second_strategy} --no-wait during {strategy}");
            assert_eq!(out.code, 2, "{case}: {}", out.show());
            let line = one_line(&out);
            assert!(
                line.contains("another `durable save` of T is in progress")
                    && !line.contains("could not finish"),
                "{case}: {line}"
            );
            first.feed(b" content\n");
            let (code, err) = first.finish();
            assert_eq!(code, Some(0), "{case}: first save: {err}");
            assert_eq!(env.read("T"), b"new content\n", "{case}");
            env.assert_no_leftovers();
        }
    }
}

// Guards: many concurrent saves of one file, every strategy mixed, a new file or an existing
// one: every save exits 0 and the file is exactly one of the inputs, with nothing left over.
#[test]
fn concurrent_saves_leave_exactly_one_input() {
    for existing in [true, false] {
        let env = Env::new();
        if existing {
            env.write("T", vec![b'o'; 300_000]);
        }
        let inputs: Vec<Vec<u8>> = (0..12u8).map(|i| vec![b'A' + i; 300_000]).collect();
        let runs: Vec<_> = inputs
            .iter()
            .enumerate()
            .map(|(i, input)| {
                let strategy = STRATEGIES[i % 3];
                let mut run = Running::start(&env, &["--strategy", strategy, "T"]);
                // From a thread of its own: a save that waits for the lock reads nothing yet.
                let mut stdin = run.stdin.take().expect("stdin");
                let input = input.clone();
                std::thread::spawn(move || {
                    use std::io::Write;
                    let _ = stdin.write_all(&input);
                });
                run
            })
            .collect();
        for run in runs {
            let (code, err) = run.finish();
            assert_eq!(code, Some(0), "existing {existing}: {err}");
        }
        let got = env.read("T");
        assert!(
            inputs.contains(&got),
            "existing {existing}: the file is not one of the inputs ({} bytes, first {:?})",
            got.len(),
            got.first()
        );
        env.assert_no_leftovers();
    }
}

// Guards: a journaled save created its journal and locked it a moment later; a concurrent save
// that settled leftovers in between found the new, still empty journal unlocked, took it for an
// interrupted one and removed it, and the first save then failed ("could not remove the
// journal …", exit 4). The journal now has its name only once it is locked. Made certain with
// strace: the first save is held for a second right after any call that gives the journal its
// name; a second save runs while the journal exists.
#[test]
fn a_concurrent_save_never_removes_a_journal_being_written() {
    let test = "save::a_concurrent_save_never_removes_a_journal_being_written";
    if !crate::common::have("strace") {
        crate::common::skip(test, "strace is not installed");
        return;
    }
    let env = Env::new();
    env.write("a", vec![b'a'; 4096]);
    env.write("b", vec![b'b'; 4096]);
    let journal = env.path(".T.durable-journal");
    let first = env
        .cmd(&["save", "--strategy", "journal", "--from", "a", "T"])
        .wrap(&[
            "strace",
            "-f",
            "-o",
            "/dev/null",
            // Relative, as durable names it (strace compares the names).
            "-P",
            ".T.durable-journal",
            "-e",
            "inject=openat,renameat2,renameat,rename,link,linkat:delay_exit=1000000",
        ])
        .spawn();
    let mut first = first;
    // Wait until the journal has its name (or the save is over without it being seen).
    let started = std::time::Instant::now();
    let mut seen = false;
    while started.elapsed() < std::time::Duration::from_secs(20) {
        if journal.symlink_metadata().is_ok() {
            seen = true;
            break;
        }
        if first.child.0.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    if seen {
        let second = env.cmd(&["save", "--from", "b", "T"]).run();
        assert_eq!(second.code, 0, "{}", second.show());
    }
    let status = first.child.0.wait().expect("wait for the first save");
    let stderr = String::from_utf8_lossy(&first.stderr.lock().expect("lock")).into_owned();
    assert_eq!(status.code(), Some(0), "the journaled save: {stderr}");
    let got = env.read("T");
    assert!(
        got == vec![b'a'; 4096] || got == vec![b'b'; 4096],
        "T is neither input"
    );
    env.assert_no_leftovers();
}

/// Regression (found by a hunt): when a save met two journals for one file, its refusal carried
/// recover's ways out after a colon with the hint's last `)` cut off and its first word
/// capitalised ("settled: Keep …would undo"); the ways out now read as part of the sentence, with
/// their own parentheses whole.
#[test]
fn a_save_refused_by_two_journals_prints_the_ways_out_whole() {
    let env = Env::new();
    let f = env.write("f", b"old");
    std::os::unix::fs::symlink("f", env.path("L")).expect("symlink");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for (name, content) in [
        (".f.durable-journal", &b"JF"[..]),
        (".L.durable-journal", b"JL"),
    ] {
        let j = env.write(name, crate::recover_boot::journal_of(content));
        fs::File::options()
            .write(true)
            .open(&j)
            .and_then(|file| file.set_modified(old))
            .expect("mtime");
    }
    // The file changed after the journals were written (its ctime): the link's journal is one
    // recover would not apply even alone, and its way out says why in parentheses.
    fs::set_permissions(&f, fs::Permissions::from_mode(0o600)).expect("chmod");
    let r = crate::common::run(&env, &["save", "f"], b"new");
    assert_eq!(r.code, 2, "{}", r.show());
    let line = r.stderr.trim_end();
    assert!(
        line.contains("until that journal is settled: keep the one wanted"),
        "{line}"
    );
    assert!(line.ends_with("would undo)"), "{line}");
    assert_eq!(
        line.matches('(').count(),
        line.matches(')').count(),
        "{line}"
    );
    assert_eq!(fs::read(&f).expect("read"), b"old");
}
