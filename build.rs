//! Link the unwinder into the `durable` binary on Linux with glibc, instead of loading
//! libgcc_s.so.1 at every start: the shared library's loading and its constructor (a CPU probe
//! that is slow in a virtual machine) took about a tenth of a short command's time, which is
//! mostly start-up (docs/PERFORMANCE.md, "Saving files"). Rust asks the linker for `gcc_s`; a
//! directory searched first that holds a static `libgcc_s.a` (the compiler's own static
//! unwinder, `libgcc_eh.a`, under that name) makes the linker take it, as `-static-libgcc` does
//! for C. Anywhere else (another OS or C library, a cross build, a static build, no C compiler
//! to ask, no `libgcc_eh.a`) nothing changes: the binary links as it always did.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let native_gnu_linux = var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu"
        && var("TARGET") == var("HOST")
        && !var("CARGO_CFG_TARGET_FEATURE")
            .split(',')
            .any(|f| f == "crt-static");
    if !native_gnu_linux {
        return;
    }
    let Some(unwinder) = static_unwinder() else {
        return;
    };
    let dir = PathBuf::from(var("OUT_DIR")).join("static-unwinder");
    if std::fs::create_dir_all(&dir).is_err()
        || std::fs::copy(&unwinder, dir.join("libgcc_s.a")).is_err()
    {
        return;
    }
    println!("cargo:rustc-link-search=native={}", dir.display());
}

/// The C compiler's static unwinder, if it has one.
fn static_unwinder() -> Option<PathBuf> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    // Without the file, the compiler prints the bare name back.
    (out.status.success() && path.is_absolute() && Path::new(&path).is_file()).then_some(path)
}
