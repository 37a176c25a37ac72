//! Operating-system specific calls, one file per platform family with the same function names.
//!
//! Only Unix is implemented and tested (Linux in CI; macOS compiles the `F_FULLFSYNC` branch but
//! is untested). Windows is not supported yet: see docs/DURABILITY.md.

#[cfg_attr(unix, path = "unix.rs")]
mod imp;

pub(crate) use imp::*;

#[cfg(not(unix))]
compile_error!("durable supports Unix only for now; see docs/DURABILITY.md (Windows)");
