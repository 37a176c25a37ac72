//! The checksummed text log of one entry per line (`lines`): clean, torn at every cut point,
//! corrupt in the middle, damaged checksum fields, an over-long line, and each command on it.

use std::fs;
use std::io::Write;
use std::time::Duration;

use super::*;
use crate::common::{Cases, Env};

/// Write the standard lines fixture as `rel`; its bytes and line bounds.
fn standard(env: &Env, rel: &str) -> (PathBuf, Vec<u8>, Vec<usize>) {
    let bytes = lines_log(&LINE_ENTRIES);
    let path = env.write(rel, &bytes);
    (path, bytes, line_bounds(&LINE_ENTRIES))
}

/// Guards: a clean lines log is detected (no flag) and reported clean by verify in text, JSON
/// (format lines, checksum sha256) and -q, with the record count and size.
#[test]
fn clean_lines_log_verifies_in_every_output() {
    let env = Env::new();
    let (path, bytes, bounds) = standard(&env, "app.log");
    let n = LINE_ENTRIES.len();

    let rep = verify(&env, &path, &[]);
    check_report("clean", &rep, "clean", n, bytes.len(), None);
    assert_eq!(rep.1["format"], "lines", "{}", rep.1);
    assert_eq!(rep.1["checksum"], "sha256", "{}", rep.1);
    assert_eq!(rep.1["bytes"], bytes.len(), "{}", rep.1);
    assert_eq!(*bounds.last().expect("end"), bytes.len());

    let r = run(&env, &["log", "verify", s(&path)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let want = format!(
        "{}: clean, {n} records, {} bytes (lines, sha256)",
        s(&path),
        bytes.len()
    );
    assert!(
        r.out().contains(&want),
        "text report should say {want:?}: {}",
        r.show()
    );

    let r = run(&env, &["log", "verify", "-q", s(&path)], b"");
    assert_eq!((r.code, r.out().as_str()), (0, ""), "{}", r.show());

    // The same with the format named.
    let rep = verify(&env, &path, &["--log-format", "lines"]);
    check_report("--log-format lines", &rep, "clean", n, bytes.len(), None);
}

/// Guards: dump of a lines log in every output format: JSON (index, offset = line start,
/// length = entry bytes, checksum = the hex field, payload (text or base64 bytes) = the entry without
/// the checksum, the space and the LF, seq null), text (offset and escaped entry), hex (the
/// entry's bytes), raw (entries separated by LF, or NUL with -0).
#[test]
fn dump_lines_in_every_format() {
    let env = Env::new();
    let (path, bytes, bounds) = standard(&env, "app.log");

    let (r, objs) = dump(&env, &path, &[]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(objs.len(), LINE_ENTRIES.len(), "{}", r.show());
    for (i, (v, entry)) in objs.iter().zip(LINE_ENTRIES).enumerate() {
        assert_eq!(v["index"], i, "{v}");
        assert_eq!(v["offset"], bounds[i], "{v}");
        assert_eq!(v["length"], entry.len(), "{v}");
        assert_eq!(v["checksum"], sha_hex(entry), "{v}");
        assert!(v["seq"].is_null(), "lines have no sequence numbers: {v}");
        assert_eq!(payload_of(v), entry, "{v}");
        if std::str::from_utf8(entry).is_err() {
            assert!(v["payload"].get("bytes").is_some(), "non-UTF-8 entry: {v}");
        }
    }

    let r = run(&env, &["log", "dump", s(&path)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    let text = r.out();
    assert!(text.lines().count() >= LINE_ENTRIES.len(), "{text}");
    for (i, entry) in LINE_ENTRIES.iter().enumerate() {
        assert!(
            text.contains(&bounds[i].to_string()),
            "offset {}: {text}",
            bounds[i]
        );
        if let Ok(t) = std::str::from_utf8(entry)
            && !t.contains('\t')
            && !t.contains('\\')
        {
            assert!(text.contains(t), "entry {t:?}: {text}");
        }
    }
    assert!(!text.contains(&sha_hex(b"xx")), "sanity");
    assert!(
        !String::from_utf8_lossy(&r.stdout).contains('\u{fffd}'),
        "text escapes non-printable bytes: {text}"
    );

    let r = run(&env, &["log", "dump", "--format", "hex", s(&path)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(
        r.out().contains("ff fe 20 6e 6f 74"),
        "hex of entry 3: {}",
        r.out()
    );
    assert!(
        r.out().contains("6c 61 73 74"),
        "hex of `last`: {}",
        r.out()
    );

    let r = run(&env, &["log", "dump", "--format", "raw", s(&path)], b"");
    assert_eq!(r.code, 0, "{}", r.show());
    assert_same(&r.stdout, terminated(&LINE_ENTRIES, b'\n'), "raw dump");
    let r = run(
        &env,
        &["log", "dump", "--format", "raw", "-0", s(&path)],
        b"",
    );
    assert_same(&r.stdout, terminated(&LINE_ENTRIES, 0), "raw -0 dump");
    assert_eq!(
        fs::read(&path).expect("read"),
        bytes,
        "dump changed the log"
    );
}

/// Guards: a lines log cut at every length: a cut at a line boundary is clean with the
/// complete lines; a cut that only drops the last line's LF leaves a valid last line (clean,
/// noted as unterminated: the original verifier reads it, and recover keeps it); any other cut is
/// a torn tail (kind truncated) at the start of the partial line (exit 1). Recover cuts it there
/// with a sidecar (sidecar + kept bytes == the damaged file), a second recover finds it clean
/// and changes nothing. Once a line is whole the format is detected without the flag, and gives
/// the same verdict; before that no line checks out: not detected (the refusal names
/// `--log-format lines`), and named so, a torn tail at 0 (the first line cut short), which
/// recover cuts to empty with a sidecar.
#[test]
fn torn_at_every_cut_point() {
    let env = Env::new();
    let full = lines_log(&LINE_ENTRIES);
    let bounds = line_bounds(&LINE_ENTRIES);
    let n = LINE_ENTRIES.len();
    let mut cases = Cases::default();
    for cut in 1..=full.len() {
        cases.check(|| {
            let case = format!("lines cut at {cut}");
            let rel = format!("cut{cut}.log");
            let path = env.write(&rel, &full[..cut]);
            let complete = bounds
                .iter()
                .rposition(|&b| b <= cut)
                .expect("0 is a bound");
            let unterminated = complete < n && cut + 1 == bounds[complete + 1];
            let (records, at) = if unterminated {
                (complete + 1, cut)
            } else {
                (complete, bounds[complete])
            };
            if records == 0 {
                // The first line cut short: not detected (no line checks out), and the refusal
                // names the format; named so, a torn tail at 0 that recover cuts.
                let before = snapshot(env.dir.path(), true);
                for cmd in [&["log", "verify"][..], &["recover"][..]] {
                    let mut args = cmd.to_vec();
                    args.push(s(&path));
                    let r = run(&env, &args, b"");
                    assert_one_line_error(&r, &[&rel], &format!("{case}: {cmd:?}"));
                    assert!(
                        r.stderr.contains("--log-format lines"),
                        "{case}: {}",
                        r.show()
                    );
                }
                assert_unchanged(&env, &before, &case);
                let rep = verify(&env, &path, &["--log-format", "lines"]);
                check_report(&case, &rep, "torn-tail", 0, 0, Some(("truncated", 0)));
                let (r, _) = recover(&env, &["--log-format", "lines"], &[&path]);
                assert_eq!(r.code, 0, "{case}: recover: {}", r.show());
                assert_eq!(fs::read(&path).expect("read"), b"", "{case}: kept bytes");
                let side = sidecar(&path, 0);
                assert_eq!(
                    read_sidecar(&side).unwrap_or_else(|e| panic!("{case}: sidecar {side:?}: {e}")),
                    &full[..cut],
                    "{case}: sidecar + kept bytes == the damaged file"
                );
                fs::remove_file(&path).expect("rm");
                let _ = fs::remove_file(&side);
                return;
            }
            let rep = verify(&env, &path, &["--log-format", "lines"]);
            if at == cut {
                check_report(&case, &rep, "clean", records, cut, None);
                assert_eq!(rep.1["unterminated"], unterminated, "{case}: {}", rep.1);
            } else {
                check_report(
                    &case,
                    &rep,
                    "torn-tail",
                    records,
                    at,
                    Some(("truncated", at)),
                );
            }
            assert_eq!(rep.1["format"], "lines", "{case}: {}", rep.1);
            let detected = verify(&env, &path, &[]);
            assert_eq!(
                detected.1["format"], "lines",
                "{case}: detection: {}",
                detected.1
            );
            assert_eq!(
                detected.0, rep.0,
                "{case}: detected vs named: {}",
                detected.1
            );

            let (r, objs) = recover(&env, &["--log-format", "lines"], &[&path]);
            assert_eq!(r.code, 0, "{case}: recover: {}", r.show());
            assert_eq!(objs.len(), 1, "{case}: {}", r.show());
            assert_eq!(objs[0]["format"], "lines", "{case}: {}", r.show());
            assert_eq!(
                fs::read(&path).expect("read"),
                &full[..at],
                "{case}: kept bytes"
            );
            let side = sidecar(&path, at);
            if at == cut {
                assert!(!side.exists(), "{case}: sidecar for a clean log");
            } else {
                assert_eq!(
                    read_sidecar(&side).unwrap_or_else(|e| panic!("{case}: sidecar {side:?}: {e}")),
                    &full[at..cut],
                    "{case}: sidecar + kept bytes == the damaged file"
                );
            }
            let before = snapshot(env.dir.path(), true);
            let (r, objs) = recover(&env, &["--log-format", "lines"], &[&path]);
            assert_eq!(r.code, 0, "{case}: second recover: {}", r.show());
            assert_eq!(
                objs[0]["status"],
                "clean",
                "{case}: second recover: {}",
                r.show()
            );
            assert_unchanged(&env, &before, &format!("{case}: second recover"));
            let rep = verify(&env, &path, &[]);
            check_report(
                &format!("{case}, recovered"),
                &rep,
                "clean",
                records,
                at,
                None,
            );
            fs::remove_file(&path).expect("rm");
            let _ = fs::remove_file(&side);
        });
    }
    cases.assert_all_passed("formats::lines::torn_at_every_cut_point");
}

/// Guards: an empty file named as lines is a lines log with no records (clean); it is not
/// detected without the flag.
#[test]
fn empty_file_with_log_format_lines() {
    let env = Env::new();
    let path = env.write("empty.log", b"");
    let rep = verify(&env, &path, &["--log-format", "lines"]);
    check_report("empty lines", &rep, "clean", 0, 0, None);
    let r = run(&env, &["log", "verify", s(&path)], b"");
    assert_eq!(r.code, 2, "an empty file is not detected: {}", r.show());
}

/// The standard fixture with line `i`'s entry damaged (first byte flipped).
fn with_bad_entry(i: usize) -> Vec<u8> {
    let mut bytes = lines_log(&LINE_ENTRIES);
    let bounds = line_bounds(&LINE_ENTRIES);
    assert!(!LINE_ENTRIES[i].is_empty());
    bytes[bounds[i]] ^= 0x01;
    bytes
}

/// Guards: a line whose checksum does not match, with valid lines after it, is corruption
/// before the tail (exit 3, checksum-mismatch at the line's offset, the next line as
/// evidence); recover refuses it and changes nothing (also --dry-run); --force cuts at the
/// damage keeping the rest in the sidecar; salvage copies the other lines into a lines log.
#[test]
fn corruption_in_the_middle_is_refused_forced_or_salvaged() {
    let env = Env::new();
    let bounds = line_bounds(&LINE_ENTRIES);
    let bytes = with_bad_entry(1);
    let path = env.write("bad.log", &bytes);
    let n = LINE_ENTRIES.len();

    let rep = verify(&env, &path, &[]);
    check_report(
        "corrupt",
        &rep,
        "corrupt",
        n - 1,
        bounds[1],
        Some(("checksum-mismatch", bounds[1])),
    );
    assert_eq!(rep.1["defects"][0]["next_valid"], bounds[2], "{}", rep.1);
    assert_eq!(rep.1["records_before_damage"], 1, "{}", rep.1);
    assert_eq!(rep.1["records_after_damage"], n - 2, "{}", rep.1);
    let r = run(&env, &["log", "verify", s(&path)], b"");
    assert_eq!(r.code, 3);
    assert!(
        r.out()
            .contains(&format!("{}: corrupt before the tail", s(&path))),
        "{}",
        r.show()
    );

    let before = snapshot(env.dir.path(), true);
    for extra in [&[][..], &["--dry-run"][..]] {
        let (r, objs) = recover(&env, extra, &[&path]);
        assert_eq!(r.code, 3, "recover {extra:?}: {}", r.show());
        assert_eq!(objs[0]["format"], "lines", "{}", r.show());
        assert_unchanged(
            &env,
            &before,
            &format!("recover {extra:?} of a corrupt lines log"),
        );
    }
    let r = run(&env, &["recover", "--force", "--dry-run", s(&path)], b"");
    assert_eq!(r.code, 3, "{}", r.show());
    assert_unchanged(&env, &before, "recover --force --dry-run");

    let dst = env.path("salvaged.log");
    let r = run(&env, &["log", "salvage", s(&path), s(&dst)], b"");
    assert_eq!(r.code, 0, "salvage: {}", r.show());
    let (r, objs) = dump(&env, &dst, &[]);
    assert_eq!(r.code, 0, "{}", r.show());
    let want: Vec<Vec<u8>> = LINE_ENTRIES
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, e)| e.to_vec())
        .collect();
    assert_eq!(payloads_of(&objs), want, "salvaged records");
    // A lines log, as SRC is: the lines that check out, as they were.
    let mut lines = bytes[..bounds[1]].to_vec();
    lines.extend_from_slice(&bytes[bounds[2]..]);
    assert_eq!(fs::read(&dst).expect("read"), lines, "a lines log");
    assert_eq!(fs::read(&path).expect("read"), bytes, "salvage changed SRC");

    let (r, _) = recover(&env, &["--force"], &[&path]);
    assert_eq!(r.code, 0, "recover --force: {}", r.show());
    assert_eq!(fs::read(&path).expect("read"), &bytes[..bounds[1]]);
    assert_eq!(
        read_sidecar(&sidecar(&path, bounds[1])).expect("sidecar"),
        &bytes[bounds[1]..],
        "the sidecar keeps everything removed"
    );
    let rep = verify(&env, &path, &[]);
    check_report("forced", &rep, "clean", 1, bounds[1], None);
}

/// Guards: damage on the last line only (nothing valid after it) is a torn tail (exit 1), and
/// recover cuts it without --force.
#[test]
fn damaged_last_line_is_a_torn_tail() {
    let env = Env::new();
    let bounds = line_bounds(&LINE_ENTRIES);
    let last = LINE_ENTRIES.len() - 1;
    let bytes = with_bad_entry(last);
    let path = env.write("tail.log", &bytes);
    let rep = verify(&env, &path, &[]);
    check_report(
        "bad last line",
        &rep,
        "torn-tail",
        last,
        bounds[last],
        Some(("checksum-mismatch", bounds[last])),
    );
    let (r, _) = recover(&env, &[], &[&path]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(fs::read(&path).expect("read"), &bytes[..bounds[last]]);
    assert_eq!(
        read_sidecar(&sidecar(&path, bounds[last])).expect("sidecar"),
        &bytes[bounds[last]..]
    );
}

/// Guards: a checksum field that is not 64 lowercase hex digits (a non-hex digit, uppercase
/// hex, 63 digits, no space before it) is a `no-checksum` defect at the line's offset; with a
/// valid line after it, corruption (exit 3).
#[test]
fn malformed_checksum_field_is_no_checksum() {
    let env = Env::new();
    let good = |e: &[u8]| line(e);
    let hexed = sha_hex(b"middle");
    let variants: Vec<(&str, Vec<u8>)> = vec![
        (
            "a non-hex digit",
            format!("middle {}g\n", &hexed[..63]).into_bytes(),
        ),
        (
            "uppercase hex",
            format!("middle {}\n", hexed.to_uppercase()).into_bytes(),
        ),
        (
            "63 digits",
            format!("middle {}\n", &hexed[..63]).into_bytes(),
        ),
        ("no space", format!("middle{hexed}\n").into_bytes()),
        ("no checksum at all", b"middle\n".to_vec()),
    ];
    let mut cases = Cases::default();
    for (what, bad) in variants {
        cases.check(|| {
            let first = good(b"first");
            let bytes = [first.clone(), bad.clone(), good(b"after")].concat();
            let path = env.write(&format!("{}.log", what.replace(' ', "-")), &bytes);
            let rep = verify(&env, &path, &["--log-format", "lines"]);
            check_report(
                what,
                &rep,
                "corrupt",
                2,
                first.len(),
                Some(("no-checksum", first.len())),
            );
            assert_eq!(
                rep.1["defects"][0]["next_valid"],
                first.len() + bad.len(),
                "{what}: {}",
                rep.1
            );
        });
    }
    cases.assert_all_passed("formats::lines::malformed_checksum_field_is_no_checksum");
}

/// Guards: entries over 16 MiB (its writer writes and verifies them; durable used to call one
/// "torn" when last and cut 17 MB of valid data, and "not a log" when first) are valid, first,
/// in the middle and last: read and hashed in bounded memory (verify and recover run with less
/// address space than one entry), detected without the flag, dumped whole, kept by recover.
#[test]
fn entries_over_16_mib_are_valid() {
    const LIMIT_KIB: u64 = 15 * 1024;
    let env = Env::new();
    let big = vec![b'e'; (16 << 20) + 1000];
    let small = line(b"small");
    let long = line(&big);
    let mut cases = Cases::default();
    for (name, parts) in [
        ("first", vec![long.clone(), small.clone()]),
        ("middle", vec![small.clone(), long.clone(), small.clone()]),
        ("last", vec![small.clone(), long.clone()]),
        (
            "only, without its LF",
            vec![long[..long.len() - 1].to_vec()],
        ),
    ] {
        cases.check(|| {
            let bytes = parts.concat();
            let path = env.write(&format!("{name}.log"), &bytes);
            // Less address space than one entry: the entry is hashed in pieces, never held.
            let r = env
                .cmd(&["log", "verify", "--json", s(&path)])
                .memory_kib(LIMIT_KIB)
                .no_stdin()
                .run();
            let v = json_lines(&r.stdout);
            assert_eq!(v.len(), 1, "{name}: {}", r.show());
            check_report(
                name,
                &(r.code, v[0].clone()),
                "clean",
                parts.len(),
                bytes.len(),
                None,
            );
            assert_eq!(v[0]["format"], "lines", "{name}: {}", v[0]);
            let r = env
                .cmd(&["recover", s(&path)])
                .memory_kib(LIMIT_KIB)
                .no_stdin()
                .run();
            assert_eq!(r.code, 0, "{name}: {}", r.show());
            assert_eq!(
                fs::read(&path).expect("read").len(),
                bytes.len(),
                "{name}: kept"
            );
            let r = run(&env, &["log", "dump", "--format", "raw", s(&path)], b"");
            assert_eq!(r.code, 0, "{name}: {}", r.show());
            // Every payload terminated by a newline (docs/FORMAT.md, raw framing).
            let want: Vec<u8> = parts
                .iter()
                .map(|p| p.strip_suffix(b"\n").unwrap_or(p))
                .flat_map(|p| [&p[..p.len() - 65], b"\n"].concat())
                .collect();
            assert!(r.stdout == want, "{name}: raw dump of the entries");
            fs::remove_file(&path).expect("rm");
        });
    }
    cases.check(|| {
        // Regression: with damage before such an entry, recover suggested `log salvage`, which
        // fails on an entry larger than a native record. It says why salvage cannot help.
        let mut first = small.clone();
        first[0] ^= 1;
        let path = env.write("damaged.log", [first, long.clone(), small.clone()].concat());
        let r = run(&env, &["recover", s(&path)], b"");
        assert_eq!(r.code, 3, "{}", r.show());
        assert!(
            !r.out().contains("`durable log salvage")
                && r.out().contains("`log salvage` cannot copy it")
                && r.out().contains("1 of its records is larger"),
            "{}",
            r.show()
        );
        fs::remove_file(&path).expect("rm");
    });
    cases.assert_all_passed("formats::lines::entries_over_16_mib_are_valid");
}

/// Guards: dump stops at a damaged line (text DAMAGE, JSON {"damage"}, exit 3) unless --resync,
/// which goes on with the valid lines after it; raw puts the damage note on stderr.
#[test]
fn dump_shows_damage_and_resyncs() {
    let env = Env::new();
    let bounds = line_bounds(&LINE_ENTRIES);
    let path = env.write("bad.log", with_bad_entry(1));

    let (r, objs) = dump(&env, &path, &[]);
    assert_eq!(r.code, 3, "{}", r.show());
    assert_eq!(
        payloads_of(&objs),
        vec![LINE_ENTRIES[0].to_vec()],
        "{}",
        r.show()
    );
    let damage: Vec<&Value> = objs.iter().filter(|v| v.get("damage").is_some()).collect();
    assert_eq!(damage.len(), 1, "{}", r.show());
    assert_eq!(damage[0]["damage"]["offset"], bounds[1]);
    assert_eq!(damage[0]["damage"]["kind"], "checksum-mismatch");

    let (r, objs) = dump(&env, &path, &["--resync"]);
    assert_eq!(r.code, 3, "{}", r.show());
    let want: Vec<Vec<u8>> = [0, 2, 3, 4, 5]
        .iter()
        .map(|&i| LINE_ENTRIES[i].to_vec())
        .collect();
    assert_eq!(payloads_of(&objs), want, "--resync: {}", r.show());
    let offsets: Vec<&Value> = objs
        .iter()
        .filter(|v| v.get("damage").is_none())
        .map(|v| &v["offset"])
        .collect();
    let want_offsets: Vec<Value> = [0, 2, 3, 4, 5]
        .iter()
        .map(|&i| Value::from(bounds[i]))
        .collect();
    assert_eq!(
        offsets,
        want_offsets.iter().collect::<Vec<_>>(),
        "--resync offsets"
    );

    let r = run(&env, &["log", "dump", s(&path)], b"");
    assert_eq!(r.code, 3);
    assert!(r.out().contains("DAMAGE"), "{}", r.show());
    assert!(r.out().contains(&bounds[1].to_string()), "{}", r.show());

    let r = run(&env, &["log", "dump", "--format", "raw", s(&path)], b"");
    assert_eq!(r.code, 3);
    assert_same(&r.stdout, b"first entry\n", "raw keeps damage off stdout");
    assert!(r.stderr.contains("checksum-mismatch"), "{}", r.show());
}

/// Guards: `dump --follow` on a lines log prints lines appended later (by `durable log append`
/// or by hand), and waits for a line that is only partly written.
#[test]
fn dump_follow_sees_new_lines() {
    let env = Env::new();
    let path = env.write("follow.log", lines_log(&[b"zero"]));
    let (child, seen) = spawn_follow(&env, "raw", &path);
    let shows = |t: &'static str| {
        let seen = std::sync::Arc::clone(&seen);
        move || String::from_utf8_lossy(&seen.lock().expect("lock")).contains(t)
    };
    assert!(
        wait_until(Duration::from_secs(10), shows("zero")),
        "existing line"
    );
    let r = run(
        &env,
        &["log", "append", "--sync", "none", s(&path), "one more"],
        b"",
    );
    assert_eq!(r.code, 0, "append to a lines log: {}", r.show());
    assert!(
        wait_until(Duration::from_secs(10), shows("one more")),
        "appended line"
    );

    let next = line(b"by hand");
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open");
    f.write_all(&next[..20]).expect("write part");
    let before = seen.lock().expect("lock").len();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        seen.lock().expect("lock").len(),
        before,
        "printed a partial line"
    );
    assert!(shows("one more")(), "sanity");
    f.write_all(&next[20..]).expect("write rest");
    assert!(
        wait_until(Duration::from_secs(10), shows("by hand")),
        "completed line"
    );
    drop(child);
}

/// Guards: generated damage of every kind the corpus shows, checking the principles. One bit
/// flipped at every byte of a log (entries, spaces, checksums, newlines); garbage after the
/// entries (binary with newlines, zeros, text); a zeroed block in the middle. Each is detected
/// as lines (never "not a log": valid entries remain); every line that still checks out is read;
/// recover without --force never removes one (corruption is refused, unchanged; only damage
/// with nothing valid after it is cut); afterwards verify is clean and a second recover changes
/// nothing.
#[test]
fn generated_damage_never_loses_a_valid_line() {
    let env = Env::new();
    let entries: [&[u8]; 4] = [b"alpha", b"with two  spaces", b"", b"last entry"];
    let full = lines_log(&entries);
    let bounds = line_bounds(&entries);
    // The entries that check out in `bytes`, by the format's rule, with their line starts.
    let valid_lines = |bytes: &[u8]| -> Vec<(usize, Vec<u8>)> {
        let mut out = Vec::new();
        let mut at = 0;
        for l in bytes.split_inclusive(|&b| b == b'\n') {
            let body = l.strip_suffix(b"\n").unwrap_or(l);
            if body.len() >= 65
                && body[body.len() - 65] == b' '
                && sha_hex(&body[..body.len() - 65]).as_bytes() == &body[body.len() - 64..]
            {
                out.push((at, body[..body.len() - 65].to_vec()));
            }
            at += l.len();
        }
        out
    };
    let mut damaged: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..full.len() {
        let mut b = full.clone();
        b[i] ^= 1 << (i % 8);
        damaged.push((format!("bit {} of byte {i}", i % 8), b));
    }
    for (what, tail) in [
        ("binary garbage", pseudo_random(700, 5)),
        (
            "binary with newlines",
            b"\x01\x02\n\xff\xfe\n\x00\x10".to_vec(),
        ),
        ("zeros", vec![0u8; 4096]),
        ("text", b"a line someone typed\n".to_vec()),
    ] {
        damaged.push((
            format!("{what} after the entries"),
            [full.clone(), tail].concat(),
        ));
    }
    let mut zeroed = full.clone();
    zeroed[bounds[1]..bounds[2]].fill(0);
    damaged.push(("a zeroed line in the middle".into(), zeroed));

    let mut cases = Cases::default();
    for (k, (case, bytes)) in damaged.into_iter().enumerate() {
        cases.check(|| {
            let path = env.write(&format!("d{k}.log"), &bytes);
            let valid = valid_lines(&bytes);
            let (code, v) = verify(&env, &path, &[]);
            assert_eq!(v["format"], "lines", "{case}: detected: {v}");
            assert_eq!(
                v["records"],
                valid.len(),
                "{case}: every valid line read: {v}"
            );
            let (r, objs) = dump(&env, &path, &["--resync"]);
            let got: Vec<(usize, Vec<u8>)> = objs
                .iter()
                .filter(|o| o.get("damage").is_none())
                .map(|o| {
                    (
                        o["offset"].as_u64().expect("offset") as usize,
                        payload_of(o),
                    )
                })
                .collect();
            assert_eq!(got, valid, "{case}: dump --resync: {}", r.show());
            let before = snapshot(env.dir.path(), true);
            let (r, _) = recover(&env, &[], &[&path]);
            let now = fs::read(&path).expect("read");
            if code == 3 {
                assert_eq!(r.code, 3, "{case}: refused: {}", r.show());
                assert_unchanged(&env, &before, &case);
            } else {
                assert_eq!(r.code, 0, "{case}: recover: {}", r.show());
                assert_eq!(
                    valid_lines(&now),
                    valid,
                    "{case}: recover lost a valid line"
                );
                let (code, v) = verify(&env, &path, &[]);
                assert_eq!(code, 0, "{case}: verify after recover: {v}");
                let before = snapshot(env.dir.path(), true);
                let (r, _) = recover(&env, &[], &[&path]);
                assert_eq!(r.code, 0, "{case}: second recover: {}", r.show());
                assert_unchanged(&env, &before, &format!("{case}: second recover"));
            }
            for leftover in [
                path.clone(),
                sidecar(&path, v["valid_end"].as_u64().unwrap_or(0) as usize),
            ] {
                let _ = fs::remove_file(leftover);
            }
        });
    }
    cases.assert_all_passed("formats::lines::generated_damage_never_loses_a_valid_line");
}

/// Guards: reading a lines log reads each byte a bounded number of times (it read a whole 1 MiB
/// window again for each line and each damaged line: 195 GB of reads, 12 s, to verify a 15 MB
/// log). `dump --stats` counts the bytes read: at most a few times the file's size, for a clean
/// log and for one in which every other line is damaged.
#[test]
fn reading_is_linear_in_the_file() {
    let env = Env::new();
    let entries: Vec<Vec<u8>> = (0..40_000)
        .map(|i| format!("entry number {i}").into_bytes())
        .collect();
    let refs: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
    let clean = lines_log(&refs);
    let mut damaged = clean.clone();
    for b in line_bounds(&refs)
        .iter()
        .skip(1)
        .step_by(2)
        .take(entries.len() / 2)
    {
        damaged[*b] ^= 1;
    }
    for (name, bytes) in [("clean.log", &clean), ("damaged.log", &damaged)] {
        let path = env.write(name, bytes);
        for extra in [&[][..], &["--resync"][..]] {
            let mut args = vec!["log", "dump", "--stats", "--format", "raw"];
            args.extend_from_slice(extra);
            args.push(s(&path));
            let r = run(&env, &args, b"");
            let stats: Value = r
                .stderr
                .lines()
                .find_map(|l| serde_json::from_str(l).ok())
                .unwrap_or_else(|| panic!("{name}: no stats: {}", r.show()));
            let read = stats["bytes_read"].as_u64().expect("bytes_read");
            assert!(
                read <= 4 * bytes.len() as u64,
                "{name} {extra:?}: read {read} bytes of a {}-byte log",
                bytes.len()
            );
        }
    }
}

/// Guards: `dump --follow` on a log whose last line has no newline prints that line (it is
/// valid), then, when the newline and more lines arrive, the new lines, never calling the
/// newline damage.
#[test]
fn dump_follow_after_an_unterminated_line() {
    let env = Env::new();
    let first = line(b"zero");
    let path = env.write("follow.log", &first[..first.len() - 1]);
    let (child, seen) = spawn_follow(&env, "json", &path);
    // The complete lines printed so far.
    let objects = || {
        let bytes = seen.lock().expect("lock").clone();
        let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        json_lines(&bytes[..end])
    };
    assert!(
        wait_until(Duration::from_secs(10), || objects().len() == 1),
        "the unterminated line: {:?}",
        objects()
    );
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open");
    f.write_all(&[b"\n".as_slice(), &line(b"one")].concat())
        .expect("append");
    assert!(
        wait_until(Duration::from_secs(10), || objects().len() == 2),
        "the next line: {:?}",
        objects()
    );
    let all = objects();
    assert!(all.iter().all(|o| o.get("damage").is_none()), "{all:?}");
    assert_eq!(payloads_of(&all), vec![b"zero".to_vec(), b"one".to_vec()]);
    assert_eq!(all[1]["offset"], first.len());
    drop(child);
}
