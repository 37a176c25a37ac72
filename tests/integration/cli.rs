//! The command-line surface: help, usage errors, and the committed completions and man pages.

use std::path::{Path, PathBuf};

use predicates::prelude::*;

use crate::common::{Durable, durable, line_diff};

/// Committed generated files: (path under the repository, arguments that print it).
fn generated() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("completions/durable.bash", vec!["completions", "bash"]),
        ("completions/_durable", vec!["completions", "zsh"]),
        ("completions/durable.fish", vec!["completions", "fish"]),
        ("completions/durable.elv", vec!["completions", "elvish"]),
        (
            "completions/_durable.ps1",
            vec!["completions", "powershell"],
        ),
        ("completions/man/durable.1", vec!["man"]),
        ("completions/man/durable-save.1", vec!["man", "save"]),
        ("completions/man/durable-log.1", vec!["man", "log"]),
        ("completions/man/durable-recover.1", vec!["man", "recover"]),
        (
            "completions/man/durable-completions.1",
            vec!["man", "completions"],
        ),
        ("completions/man/durable-man.1", vec!["man", "man"]),
    ]
}

/// The committed completions and man pages equal what the binary generates now from cli.rs.
/// Regenerate them with `DURABLE_BLESS=1 cargo test --test integration generated_files`.
#[test]
fn generated_files_are_fresh() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bless = std::env::var_os("DURABLE_BLESS").is_some();
    let mut stale = Vec::new();
    for (rel, args) in generated() {
        let output = Durable::new(&root).args(&args).run();
        assert!(
            output.status.success(),
            "durable {args:?} failed: {}",
            output.show()
        );
        let path = root.join(rel);
        if bless {
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, &output.stdout).expect("write generated file");
        } else {
            let committed = std::fs::read(&path).unwrap_or_default();
            if committed != output.stdout {
                stale.push(format!("{rel}: {}", line_diff(&committed, &output.stdout)));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated files (run `DURABLE_BLESS=1 cargo test --test integration generated_files` and commit):\n{}",
        stale.join("\n")
    );
}

/// The man pages carry the exit-code contract and the examples.
#[test]
fn man_pages_document_exit_status_and_examples() {
    durable()
        .args(["man"])
        .assert()
        .success()
        .stdout(predicate::str::contains(".SH \"EXIT STATUS\""))
        .stdout(predicate::str::contains("torn tail found"))
        .stdout(predicate::str::contains(
            "written, but durability not confirmed",
        ));
    durable()
        .args(["man", "save"])
        .assert()
        .success()
        .stdout(predicate::str::contains(".SH \"EXAMPLES\""))
        .stdout(
            predicate::str::contains("generate\\-config | durable save")
                .or(predicate::str::contains("generate-config | durable save")),
        )
        .stdout(predicate::str::contains("\\-\\-strategy"));
}

/// `--help` shows examples and the exit-status contract.
#[test]
fn help_shows_examples_and_exit_codes() {
    durable()
        .args(["save", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Examples:"))
        .stdout(predicate::str::contains(
            "durable save /etc/app.conf --from",
        ));
    durable()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "4  written, but durability not confirmed",
        ));
}

/// Bad usage is exit 2 with clap's message on stderr and nothing on stdout.
#[test]
fn bad_usage_is_exit_2() {
    durable()
        .args(["save"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("TARGET"));
    durable()
        .args(["frobnicate"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unrecognized subcommand"));
    durable()
        .args(["save", "x", "--strategy", "sideways"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("sideways"));
    durable()
        .args(["save", "x", "--from", "a", "--", "true"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot be used with"));
}

/// --version and --help are successes, on stdout.
#[test]
fn version_is_success() {
    durable()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("durable "));
}

/// A closed standard descriptor is opened on /dev/null before durable opens anything (std's
/// start-up does it; src/start.rs does it where durable starts itself): otherwise the log it
/// opens takes fd 1 or 2 and the report ("appended …", or an error message) is written into
/// the log, corrupting it.
#[test]
fn closed_standard_descriptors_never_receive_a_file() {
    // Stdout closed; stdout and stderr closed; all three closed (nothing reads stdin here).
    for close in [">&-", ">&- 2>&-", "<&- >&- 2>&-"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = format!(
            "\"$D\" log append L first {close}; \"$D\" log append --print-offsets L second {close}; exit 0"
        );
        let run = Durable::sh(dir.path(), &script).run();
        let verify = Durable::new(dir.path())
            .args(&["log", "dump", "--format", "raw", "L"])
            .run();
        assert_eq!(
            verify.code,
            0,
            "closing {close}: {}{}",
            run.show(),
            verify.show()
        );
        assert_eq!(verify.out(), "first\nsecond\n", "closing {close}");
    }
}

/// A closed stdout (`durable man | head -1`, `durable --help | head -1`) is not an error: the
/// pipe's read end is closed before durable starts, so its first write gets EPIPE every time.
#[test]
fn broken_pipe_is_not_an_error() {
    for args in [
        vec!["man", "save"],
        vec!["completions", "bash"],
        vec!["--help"],
        vec!["--version"],
        vec!["log", "--help"],
    ] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let output = Durable::new(Path::new("."))
            .args(&args)
            .command()
            .stdout(writer)
            .output()
            .expect("run durable");
        assert_eq!(
            output.status.code(),
            Some(0),
            "durable {args:?} on a closed pipe: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// `--help` and `--version` that cannot be written (a full disk behind `>`) are an error, as
/// for any other output (`log dump > /dev/full`): exit 2 and one sentence on stderr
/// (regression: clap's print result was dropped, so they exited 0 having printed nothing).
#[test]
fn help_and_version_write_errors_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("a.log");
    durable()
        .args(["log", "append"])
        .arg(&log)
        .arg("x")
        .assert()
        .success();
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        eprintln!("SKIPPED help_and_version_write_errors_are_errors: no /dev/full");
        return;
    };
    let log_arg = log.to_str().expect("utf-8 temp path");
    for args in [
        vec!["--help"],
        vec!["-h"],
        vec!["--version"],
        vec!["log", "--help"],
        vec!["log", "restore", "--help"],
        vec!["log", "dump", log_arg],
    ] {
        let output = Durable::new(dir.path())
            .args(&args)
            .command()
            .stdout(full.try_clone().expect("dup /dev/full"))
            .output()
            .expect("run durable");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "durable {args:?} > /dev/full: {stderr}"
        );
        assert_eq!(
            stderr.trim_end(),
            "durable: could not write to standard output: No space left on device (os error 28)",
            "durable {args:?} > /dev/full"
        );
    }
}
