//! Test-only fault switch: make a named step fail or crash the process right after it.
//!
//! `DURABLE_FAULT=STEP:ACTION[,STEP:ACTION…]`, where `STEP` is a [`Step`] name and `ACTION` is
//! `crash` (abort right after the step succeeded, as a power cut or `kill -9` would: no
//! destructors, no cleanup), `eio` or `enospc` (the step fails with that error instead of running),
//! `term` (SIGTERM arrives as the step starts, as `kill` from outside during the step would),
//! `slow` (the step takes half a second longer, for tests of how steps are timed), or
//! `swap-dir` (as the step starts, the directory holding the step's file is renamed to
//! `DIR.swapped` and an empty directory made at its name, as another process could do then).
//! The switch exists only when the library is built with its `fault-injection` feature, which
//! only test builds turn on (the binary package names it on its dev-dependency, so `cargo test`
//! builds it in, and `cargo build` and `cargo install`, debug or release, never read the
//! variable).

use std::io;

use crate::step::Step;

/// The environment variable that holds the fault plan.
pub const ENV: &str = "DURABLE_FAULT";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Crash,
    Fail(i32),
    Terminate,
    Slow,
    SwapDir,
}

fn planned(step: Step) -> Option<Action> {
    // Compiled in every build (so it cannot rot), consulted only with the feature.
    if !enabled() {
        return None;
    }
    let plan = std::env::var(ENV).ok()?;
    plan.split(',').find_map(|item| {
        let (name, action) = item.trim().split_once(':')?;
        if name != step.name() {
            return None;
        }
        match action {
            "crash" => Some(Action::Crash),
            "eio" => Some(Action::Fail(crate::platform::errno::EIO)),
            "enospc" => Some(Action::Fail(crate::platform::errno::ENOSPC)),
            "term" => Some(Action::Terminate),
            "slow" => Some(Action::Slow),
            "swap-dir" => Some(Action::SwapDir),
            _ => None,
        }
    })
}

/// Fail the step with the planned error, if one is planned for it (or do to the directory of
/// its file, `path`, what is planned).
pub(crate) fn inject_error(step: Step, path: &std::path::Path) -> io::Result<()> {
    match planned(step) {
        Some(Action::SwapDir) => {
            let dir = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => std::path::Path::new("."),
            };
            let mut moved = dir.as_os_str().to_os_string();
            moved.push(".swapped");
            std::fs::rename(dir, &moved)?;
            std::fs::create_dir(dir)
        }
        Some(Action::Fail(errno)) => Err(io::Error::from_raw_os_error(errno)),
        Some(Action::Slow) => {
            std::thread::sleep(std::time::Duration::from_millis(500));
            Ok(())
        }
        Some(Action::Terminate) => {
            crate::platform::raise_terminate();
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Abort the process if a crash is planned right after this step.
pub(crate) fn crash_after(step: Step) {
    if planned(step) == Some(Action::Crash) {
        std::process::abort();
    }
}

/// Whether this build honours the switch (tests skip fault cases when it does not).
pub fn enabled() -> bool {
    cfg!(feature = "fault-injection")
}

/// The environment variable that, in test builds, makes the parallel verification cut logs of
/// any size into pieces of this many bytes (so tests exercise it on small logs).
pub const PIECE_ENV: &str = "DURABLE_TEST_PIECE_BYTES";

/// The piece size [`PIECE_ENV`] asks for, in a build that honours the switch.
pub(crate) fn piece_bytes() -> Option<u64> {
    if !enabled() {
        return None;
    }
    std::env::var(PIECE_ENV)
        .ok()?
        .parse()
        .ok()
        .filter(|n| *n > 0)
}
