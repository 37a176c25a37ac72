//! The `durable` binary: parse the command line, run the command, map the outcome to an exit
//! code. This is the only place a fatal error is printed.

mod cli;
mod cmd;
mod exit;

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // --help and --version are not errors; bad usage is exit 2, as the contract says.
            return if e.use_stderr() {
                exit::Exit::Error.into()
            } else {
                exit::Exit::Success.into()
            };
        }
    };
    match cmd::run(cli) {
        Ok(exit) => exit.into(),
        Err(failure) => {
            eprintln!("durable: {:#}", failure.error);
            failure.exit.into()
        }
    }
}
