//! The `durable` binary: parse the command line, run the command, map the outcome to an exit
//! code. This is the only place a fatal error is printed.
// On Linux with glibc the process starts at `start::main` (see src/start.rs): std's own start-up
// is a sixth of a small save's time, and the part of it durable needs is done there instead.
#![cfg_attr(all(target_os = "linux", target_env = "gnu", not(test)), no_main)]

mod cli;
mod cmd;
mod exit;
#[cfg(all(target_os = "linux", target_env = "gnu", not(test)))]
mod start;

use std::process::ExitCode;

#[cfg_attr(
    all(target_os = "linux", target_env = "gnu", not(test)),
    allow(dead_code)
)]
fn main() -> ExitCode {
    run().into()
}

/// The whole program, from the command line to the outcome.
fn run() -> exit::Exit {
    let cli = match cli::parse() {
        Ok(cli) => cli,
        // Bad usage is exit 2, as the contract says; nothing more to say if stderr fails.
        Err(e) if e.use_stderr() => {
            let _ = e.print();
            return exit::Exit::Error;
        }
        // --help and --version are not errors, but failing to print them is, as for any
        // output (a closed pipe excepted: `durable --help | head -1`).
        Err(e) => {
            return match cmd::stdout_written(e.print()) {
                Ok(()) => exit::Exit::Success,
                Err(failure) => {
                    eprintln!("durable: {:#}", failure.error);
                    failure.exit
                }
            };
        }
    };
    match cmd::run(cli) {
        Ok(exit) => exit,
        Err(failure) => {
            eprintln!("durable: {:#}", failure.error);
            failure.exit
        }
    }
}
