//! The process's entry point on Linux with glibc, in place of std's.
//!
//! Before `main`, std reads `/proc/self/maps` to find the main thread's stack, maps an
//! alternate signal stack and installs SIGSEGV and SIGBUS handlers (to print "has overflowed
//! its stack" instead of dying silently), and unmaps it all at exit: about fifteen system calls
//! and a fifth of a millisecond of a 1.3 ms save (docs/PERFORMANCE.md). durable keeps the two
//! parts of that set-up it relies on, done here the way std does them:
//!
//! - file descriptors 0, 1 and 2 are open: a closed one is opened on `/dev/null`, so that no
//!   file durable opens (a log, a temporary file) becomes the standard output or error that a
//!   message is then written into;
//! - SIGPIPE is ignored, so a closed pipe is an error durable reports, not a silent death
//!   (children get the default back: std's `Command` resets it before `exec`).
//!
//! The arguments and the environment are still read by std (glibc hands them to std's
//! initialiser, which runs before this function); a panic still exits with 101 after std's
//! message; `std::process::exit` flushes standard output as returning from std's `main` would.

use std::ffi::{c_char, c_int};

#[unsafe(export_name = "main")]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    open_standard_fds();
    // SAFETY: setting a signal's disposition to "ignore" has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let code = match std::panic::catch_unwind(super::run) {
        Ok(exit) => i32::from(exit.code()),
        // std's panic hook has printed the message; 101 is what std's `main` exits with.
        Err(_) => 101,
    };
    std::process::exit(code)
}

/// Open `/dev/null` on each of fds 0, 1 and 2 that is closed.
fn open_standard_fds() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` is a valid array of three `pollfd`s; a zero timeout returns at once.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
    for pollfd in &fds {
        let closed = if polled >= 0 {
            pollfd.revents & libc::POLLNVAL != 0
        } else {
            // poll can fail (EINTR, ENOMEM); ask each descriptor instead.
            // SAFETY: F_GETFD on any integer is safe; it fails with EBADF if it is not open.
            (unsafe { libc::fcntl(pollfd.fd, libc::F_GETFD) }) == -1
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::EBADF)
        };
        if closed {
            // SAFETY: the path is a valid NUL-terminated string. The lowest free descriptor is
            // the closed one (those below it are open or were just opened). If even this fails
            // there is nothing better to do than std's: abort rather than run with fd 1 or 2
            // free for a file durable opens.
            let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
            if fd != pollfd.fd {
                std::process::abort();
            }
        }
    }
}
