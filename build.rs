//! Link the `durable` binary so that it starts fast. Most of a short command's time (one small
//! save, one append) is starting the process (docs/PERFORMANCE.md, "Saving files"), and most of
//! that is the dynamic loader: finding and mapping libc, libm and libgcc_s, their relocations and
//! constructors (libgcc_s's probes the CPU with `cpuid`, slow in a virtual machine).
//!
//! On native Linux/glibc builds, this script links the binary as a static PIE when the C
//! toolchain can: glibc's static libraries (`libc.a` and the rest, from the libc development
//! package) are installed and a probe program built with `cc -static-pie` runs. Rust asks the linker
//! for the shared libraries by name (`-lgcc_s -lc …`, after `-Bdynamic`); a directory searched
//! first that holds the static archives under those names makes the linker take them, and
//! `-static-pie` picks the start-up files of a static program (address randomisation stays). When
//! glibc's static libraries are missing, only the unwinder is linked statically (the compiler's
//! `libgcc_eh.a` under libgcc_s's name, as `-static-libgcc` does for C). Anywhere else (another
//! OS or C library, a cross build, a build with `crt-static` already, no C compiler to ask) and
//! with `DURABLE_LINK=dynamic` in the environment, nothing changes: the binary links as Rust
//! links it by default. `DURABLE_LINK=static` asks for the static link and warns when it cannot
//! be made.
//!
//! Only the binary is affected (`rustc-link-arg-bins`): the library crate, the tests and the
//! proc-macro crates build as they always do, which is why this is done here and not with
//! `-C target-feature=+crt-static` (that would also apply to proc-macros and break a plain
//! `cargo install --path .`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The libraries Rust's standard library asks the linker for on Linux/glibc. Since glibc 2.34 all
/// but libc and libm are empty archives kept for old link lines.
const LIBC_ARCHIVES: [&str; 6] = ["c", "m", "pthread", "rt", "dl", "util"];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DURABLE_LINK");
    println!("cargo:rerun-if-env-changed=CC");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let native_gnu_linux = var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu"
        && var("TARGET") == var("HOST")
        && !var("CARGO_CFG_TARGET_FEATURE")
            .split(',')
            .any(|f| f == "crt-static");
    let mode = var("DURABLE_LINK");
    if !matches!(mode.as_str(), "" | "static" | "dynamic") {
        println!("cargo:warning=DURABLE_LINK={mode} is neither `static` nor `dynamic`; ignored");
    }
    if !native_gnu_linux || mode == "dynamic" {
        return;
    }
    let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let out = PathBuf::from(var("OUT_DIR"));
    let dir = out.join("link");
    let _ = std::fs::remove_dir_all(&dir);
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let Some(unwinder) = print_file_name(&cc, "libgcc_eh.a") else {
        return;
    };
    if std::fs::copy(&unwinder, dir.join("libgcc_s.a")).is_err() {
        return;
    }
    println!("cargo:rustc-link-search=native={}", dir.display());
    // glibc's archives go in a directory of their own that only the binary's link searches: a
    // test program linked with them but without `-static-pie` would crash at start.
    let libc_dir = out.join("link-static");
    let _ = std::fs::remove_dir_all(&libc_dir);
    if static_pie_works(&cc, &out)
        && std::fs::create_dir_all(&libc_dir).is_ok()
        && place_libc_archives(&cc, &libc_dir)
    {
        println!("cargo:rustc-link-arg-bins=-L{}", libc_dir.display());
        println!("cargo:rustc-link-arg-bins=-static-pie");
    } else if mode == "static" {
        println!(
            "cargo:warning=DURABLE_LINK=static: glibc's static libraries are missing or \
             `cc -static-pie` does not build a program that runs; linking dynamically"
        );
    }
}

/// Whether the C toolchain builds a static PIE that runs.
fn static_pie_works(cc: &OsString, out: &Path) -> bool {
    let source = out.join("probe.c");
    let program = out.join("probe");
    if std::fs::write(&source, "int main(void) { return 0; }\n").is_err() {
        return false;
    }
    let built = Command::new(cc)
        .arg("-static-pie")
        .arg("-o")
        .arg(&program)
        .arg(&source)
        .output()
        .is_ok_and(|o| o.status.success());
    built && Command::new(&program).status().is_ok_and(|s| s.success())
}

/// Puts glibc's static archives in `dir` under the names the linker looks for; false if any is
/// missing (the directory is then not given to the linker).
fn place_libc_archives(cc: &OsString, dir: &Path) -> bool {
    LIBC_ARCHIVES.iter().all(|name| {
        let file = format!("lib{name}.a");
        print_file_name(cc, &file).is_some_and(|from| std::fs::copy(from, dir.join(&file)).is_ok())
    })
}

/// The path of a file the C compiler links from its own directories, if it has it.
fn print_file_name(cc: &OsString, file: &str) -> Option<PathBuf> {
    let out = Command::new(cc)
        .arg(format!("-print-file-name={file}"))
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    // Without the file, the compiler prints the bare name back.
    (out.status.success() && path.is_absolute() && path.is_file()).then_some(path)
}
