//! How the binary is linked (build.rs): as a static PIE where the C toolchain can build one, so
//! that a short command does not spend its time in the dynamic loader (docs/PERFORMANCE.md).

use std::path::Path;
use std::process::Command;

use crate::common::{durable, durable_path, skip};

/// Whether an ELF executable names a program interpreter (the dynamic loader).
fn has_interpreter(elf: &[u8]) -> bool {
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let u64_at = |at: usize| {
        let bytes: [u8; 8] = elf[at..at + 8].try_into().expect("8 bytes");
        u64::from_le_bytes(bytes) as usize
    };
    assert_eq!(
        &elf[..6],
        b"\x7fELF\x02\x01",
        "a 64-bit little-endian ELF file"
    );
    let (table, entry, count) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    (0..count).any(|i| {
        let at = table + i * entry;
        u32::from_le_bytes(elf[at..at + 4].try_into().expect("4 bytes")) == 3 // PT_INTERP
    })
}

/// What build.rs asks of the toolchain before it links statically: a static PIE that runs.
fn toolchain_links_static_pie(scratch: &Path) -> bool {
    let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let (source, program) = (scratch.join("probe.c"), scratch.join("probe"));
    std::fs::write(&source, "int main(void) { return 0; }\n").expect("write the probe");
    Command::new(&cc)
        .arg("-static-pie")
        .arg("-o")
        .arg(&program)
        .arg(&source)
        .output()
        .is_ok_and(|o| o.status.success())
        && Command::new(&program).status().is_ok_and(|s| s.success())
}

#[test]
fn the_binary_starts_without_the_dynamic_loader_where_glibc_links_statically() {
    let test = "linking::the_binary_starts_without_the_dynamic_loader_where_glibc_links_statically";
    if !(cfg!(target_os = "linux") && cfg!(target_env = "gnu")) {
        return skip(test, "the static link is made on Linux with glibc only");
    }
    if std::env::var("DURABLE_LINK").is_ok_and(|v| v == "dynamic") {
        return skip(test, "DURABLE_LINK=dynamic asks for the default link");
    }
    let scratch = tempfile::tempdir().expect("scratch directory");
    if !toolchain_links_static_pie(scratch.path()) {
        return skip(
            test,
            "`cc -static-pie` does not build a program that runs here",
        );
    }
    let elf = std::fs::read(durable_path()).expect("read the binary");
    assert!(
        !has_interpreter(&elf),
        "{} asks for the dynamic loader although this toolchain links static PIEs",
        durable_path().display()
    );
    // And it runs: the library calls a save makes (getrandom, statx, fsync) are all in it.
    let target = scratch.path().join("t");
    durable()
        .arg("save")
        .arg(&target)
        .write_stdin("linked\n")
        .assert()
        .success();
    assert_eq!(
        std::fs::read(&target).expect("read the target"),
        b"linked\n"
    );
}
