//! Progress lines on a terminal for long saves and appends: drawn when
//! stderr is a terminal (a pseudo-terminal here), never into a pipe, without colour under
//! `NO_COLOR`.

use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Stdio;

use crate::common::{Env, run, skip};

/// A pseudo-terminal: (master, slave).
fn pty() -> Option<(File, File)> {
    // SAFETY: plain libc calls on descriptors this function owns; `name` is a buffer of the
    // size passed, NUL-terminated by ptsname_r on success.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        if master < 0 {
            return None;
        }
        let master = File::from(OwnedFd::from_raw_fd(master));
        use std::os::fd::AsRawFd;
        if libc::grantpt(master.as_raw_fd()) != 0 || libc::unlockpt(master.as_raw_fd()) != 0 {
            return None;
        }
        let mut name = [0 as libc::c_char; 256];
        if libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()) != 0 {
            return None;
        }
        let slave = libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
        if slave < 0 {
            return None;
        }
        Some((master, File::from(OwnedFd::from_raw_fd(slave))))
    }
}

/// Run durable with `args` in `env`, stdin from `input`, stderr on a terminal; what the
/// terminal showed, and the exit code.
fn on_terminal(
    env: &Env,
    args: &[&str],
    input: &str,
    no_color: bool,
) -> Option<(String, Option<i32>)> {
    let (mut master, slave) = pty()?;
    let mut cmd = env.cmd(args).command();
    cmd.env_remove("NO_COLOR")
        .stdin(File::open(env.path(input)).expect("input"))
        .stdout(Stdio::null())
        .stderr(slave);
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let mut child = cmd.spawn().expect("spawn durable");
    drop(cmd); // our copy of the slave: the master reads EOF (EIO) once the child is gone
    let reader = std::thread::spawn(move || {
        let mut shown = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            shown.extend_from_slice(&buf[..n]);
        }
        shown
    });
    let status = child.wait().expect("wait");
    let shown = reader.join().expect("reader");
    Some((String::from_utf8_lossy(&shown).into_owned(), status.code()))
}

// Guards: a save and an append of more than 64 MiB draw a progress line on a terminal, in
// colour unless NO_COLOR is set, and nothing on a pipe.
#[test]
fn long_saves_and_appends_show_progress_on_a_terminal_only() {
    let test = "progress::long_saves_and_appends_show_progress_on_a_terminal_only";
    let env = Env::new();
    let line = "a line of a long input for the progress test\n";
    env.write("big", line.repeat((70 << 20) / line.len()));
    let Some((shown, code)) = on_terminal(&env, &["save", "T"], "big", false) else {
        skip(test, "no pseudo-terminal could be opened here");
        return;
    };
    assert_eq!(code, Some(0), "{shown}");
    assert!(
        shown.contains("saving T") && shown.contains("MiB"),
        "{shown:?}"
    );
    assert!(shown.contains("\x1b[3"), "expected colour: {shown:?}");
    let (shown, code) = on_terminal(&env, &["save", "T2"], "big", true).expect("pty");
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("saving T2"), "{shown:?}");
    assert!(
        !shown.contains("\x1b[3"),
        "colour despite NO_COLOR: {shown:?}"
    );
    let (shown, code) = on_terminal(
        &env,
        &["log", "append", "--sync", "none", "l.log"],
        "big",
        false,
    )
    .expect("pty");
    assert_eq!(code, Some(0), "{shown}");
    assert!(
        shown.contains("appending to l.log") && shown.contains("records"),
        "{shown:?}"
    );
    // On a pipe: nothing but what a failure would say.
    let out = run(&env, &["save", "T3"], &env.read("big"));
    assert!(out.status.success(), "{}", out.show());
    assert!(out.stderr.is_empty(), "{:?}", out.stderr);
    let out = run(
        &env,
        &["log", "append", "--sync", "none", "l2.log"],
        &env.read("big"),
    );
    assert!(out.status.success(), "{}", out.show());
    assert!(out.stderr.is_empty(), "{:?}", out.stderr);
}
