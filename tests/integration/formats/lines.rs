//! The seed notes' checksummed text log (`lines`): clean, torn at every cut point, corrupt in
//! the middle, damaged checksum fields, an over-long line, and each command on it.

use std::fs;
use std::io::Write;
use std::process::Stdio;
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

    let r = go(&env, &["log", "verify", s(&path)]);
    assert_eq!(r.code, 0, "{}", show(&r));
    let want = format!(
        "{}: clean, {n} records, {} bytes (lines, sha256)",
        s(&path),
        bytes.len()
    );
    assert!(
        r.out().contains(&want),
        "text report should say {want:?}: {}",
        show(&r)
    );

    let r = go(&env, &["log", "verify", "-q", s(&path)]);
    assert_eq!((r.code, r.out().as_str()), (0, ""), "{}", show(&r));

    // The same with the format named.
    let rep = verify(&env, &path, &["--log-format", "lines"]);
    check_report("--log-format lines", &rep, "clean", n, bytes.len(), None);
}

/// Guards: dump of a lines log in every output format: JSON (index, offset = line start,
/// length = entry bytes, checksum = the hex field, payload or payload_hex = the entry without
/// the checksum, the space and the LF, seq null), text (offset and escaped entry), hex (the
/// entry's bytes), raw (entries separated by LF, or NUL with -0).
#[test]
fn dump_lines_in_every_format() {
    let env = Env::new();
    let (path, bytes, bounds) = standard(&env, "app.log");

    let (r, objs) = dump(&env, &path, &[]);
    assert_eq!(r.code, 0, "{}", show(&r));
    assert_eq!(objs.len(), LINE_ENTRIES.len(), "{}", show(&r));
    for (i, (v, entry)) in objs.iter().zip(LINE_ENTRIES).enumerate() {
        assert_eq!(v["index"], i, "{v}");
        assert_eq!(v["offset"], bounds[i], "{v}");
        assert_eq!(v["length"], entry.len(), "{v}");
        assert_eq!(v["checksum"], sha_hex(entry), "{v}");
        assert!(v["seq"].is_null(), "lines have no sequence numbers: {v}");
        assert_eq!(payload_of(v), entry, "{v}");
        if std::str::from_utf8(entry).is_err() {
            assert!(v.get("payload_hex").is_some(), "non-UTF-8 entry: {v}");
        }
    }

    let r = go(&env, &["log", "dump", s(&path)]);
    assert_eq!(r.code, 0, "{}", show(&r));
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

    let r = go(&env, &["log", "dump", "--format", "hex", s(&path)]);
    assert_eq!(r.code, 0, "{}", show(&r));
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

    let r = go(&env, &["log", "dump", "--format", "raw", s(&path)]);
    assert_eq!(r.code, 0, "{}", show(&r));
    assert_eq!(r.stdout, LINE_ENTRIES.join(&b'\n'), "raw dump");
    let r = go(&env, &["log", "dump", "--format", "raw", "-0", s(&path)]);
    assert_eq!(r.stdout, LINE_ENTRIES.join(&0u8), "raw -0 dump");
    assert_eq!(
        fs::read(&path).expect("read"),
        bytes,
        "dump changed the log"
    );
}

/// Guards: a lines log cut at every length: a cut at a line boundary is clean with the
/// complete lines; any other cut is a torn tail (kind truncated) at the start of the partial
/// line (exit 1). Recover cuts it there with a sidecar (sidecar + kept bytes == the damaged
/// file), a second recover finds it clean and changes nothing. Once the first line is whole the
/// format is detected without the flag, and gives the same verdict.
#[test]
fn torn_at_every_cut_point() {
    let env = Env::new();
    let full = lines_log(&LINE_ENTRIES);
    let bounds = line_bounds(&LINE_ENTRIES);
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
            let at = bounds[complete];
            let rep = verify(&env, &path, &["--log-format", "lines"]);
            if at == cut {
                check_report(&case, &rep, "clean", complete, cut, None);
            } else {
                check_report(
                    &case,
                    &rep,
                    "torn-tail",
                    complete,
                    at,
                    Some(("truncated", at)),
                );
            }
            assert_eq!(rep.1["format"], "lines", "{case}: {}", rep.1);
            if cut >= bounds[1] {
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
            }

            let (r, objs) = recover(&env, &["--log-format", "lines"], &[&path]);
            assert_eq!(r.code, 0, "{case}: recover: {}", show(&r));
            assert_eq!(objs.len(), 1, "{case}: {}", show(&r));
            assert_eq!(objs[0]["format"], "lines", "{case}: {}", show(&r));
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
            let before = snapshot(env.dir.path());
            let (r, objs) = recover(&env, &["--log-format", "lines"], &[&path]);
            assert_eq!(r.code, 0, "{case}: second recover: {}", show(&r));
            assert_eq!(
                objs[0]["status"],
                "clean",
                "{case}: second recover: {}",
                show(&r)
            );
            assert_unchanged(&env, &before, &format!("{case}: second recover"));
            if at > 0 {
                let rep = verify(&env, &path, &[]);
                check_report(
                    &format!("{case}, recovered"),
                    &rep,
                    "clean",
                    complete,
                    at,
                    None,
                );
            }
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
    let r = go(&env, &["log", "verify", s(&path)]);
    assert_eq!(r.code, 2, "an empty file is not detected: {}", show(&r));
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
/// damage keeping the rest in the sidecar; salvage copies the other lines into a native log.
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
    let r = go(&env, &["log", "verify", s(&path)]);
    assert_eq!(r.code, 3);
    assert!(
        r.out()
            .contains(&format!("{}: corrupt before the tail", s(&path))),
        "{}",
        show(&r)
    );

    let before = snapshot(env.dir.path());
    for extra in [&[][..], &["--dry-run"][..]] {
        let (r, objs) = recover(&env, extra, &[&path]);
        assert_eq!(r.code, 3, "recover {extra:?}: {}", show(&r));
        assert_eq!(objs[0]["format"], "lines", "{}", show(&r));
        assert_unchanged(
            &env,
            &before,
            &format!("recover {extra:?} of a corrupt lines log"),
        );
    }
    let r = go(&env, &["recover", "--force", "--dry-run", s(&path)]);
    assert_eq!(r.code, 3, "{}", show(&r));
    assert_unchanged(&env, &before, "recover --force --dry-run");

    let dst = env.path("salvaged.log");
    let r = go(&env, &["log", "salvage", s(&path), s(&dst)]);
    assert_eq!(r.code, 0, "salvage: {}", show(&r));
    let (r, objs) = dump(&env, &dst, &[]);
    assert_eq!(r.code, 0, "{}", show(&r));
    let want: Vec<Vec<u8>> = LINE_ENTRIES
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, e)| e.to_vec())
        .collect();
    assert_eq!(payloads_of(&objs), want, "salvaged records");
    assert_eq!(
        &fs::read(&dst).expect("read")[..8],
        b"\x89DLOG\r\n\x1a",
        "native log"
    );
    assert_eq!(fs::read(&path).expect("read"), bytes, "salvage changed SRC");

    let (r, _) = recover(&env, &["--force"], &[&path]);
    assert_eq!(r.code, 0, "recover --force: {}", show(&r));
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
    assert_eq!(r.code, 0, "{}", show(&r));
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

/// Guards: the 16 MiB limit of an entry: a line of a 16 MiB entry and its checksum (16 MiB +
/// 65 bytes before the LF) is valid; one byte more is `bad-length` even with a correct
/// checksum (here with a valid line after it: corruption, with that line as evidence); both are
/// read in bounded memory.
#[test]
fn overlong_line_is_bad_length() {
    let env = Env::new();
    let first = line(b"first");
    let after = line(b"after");
    let mut cases = Cases::default();
    for (extra, status) in [(0usize, "clean"), (1, "corrupt")] {
        cases.check(|| {
            let long = line(&vec![b'a'; (16 << 20) + extra]);
            let bytes = [first.clone(), long.clone(), after.clone()].concat();
            let path = env.write(&format!("long{extra}.log"), &bytes);
            let r = run_limited(&env, &["log", "verify", "--json", s(&path)], 192 * 1024);
            let v = json_lines(&r.stdout);
            assert_eq!(v.len(), 1, "{}", show(&r));
            let case = format!("a line of {} bytes", long.len());
            if status == "clean" {
                check_report(
                    &case,
                    &(r.code, v[0].clone()),
                    "clean",
                    3,
                    bytes.len(),
                    None,
                );
            } else {
                check_report(
                    &case,
                    &(r.code, v[0].clone()),
                    "corrupt",
                    2,
                    first.len(),
                    Some(("bad-length", first.len())),
                );
                assert_eq!(v[0]["defects"][0]["next_valid"], first.len() + long.len());
            }
            fs::remove_file(&path).expect("rm");
        });
    }
    cases.assert_all_passed("formats::lines::overlong_line_is_bad_length");
}

/// Guards: dump stops at a damaged line (text DAMAGE, JSON {"damage"}, exit 3) unless --resync,
/// which goes on with the valid lines after it; raw puts the damage note on stderr.
#[test]
fn dump_shows_damage_and_resyncs() {
    let env = Env::new();
    let bounds = line_bounds(&LINE_ENTRIES);
    let path = env.write("bad.log", with_bad_entry(1));

    let (r, objs) = dump(&env, &path, &[]);
    assert_eq!(r.code, 3, "{}", show(&r));
    assert_eq!(
        payloads_of(&objs),
        vec![LINE_ENTRIES[0].to_vec()],
        "{}",
        show(&r)
    );
    let damage: Vec<&Value> = objs.iter().filter(|v| v.get("damage").is_some()).collect();
    assert_eq!(damage.len(), 1, "{}", show(&r));
    assert_eq!(damage[0]["damage"]["offset"], bounds[1]);
    assert_eq!(damage[0]["damage"]["kind"], "checksum-mismatch");

    let (r, objs) = dump(&env, &path, &["--resync"]);
    assert_eq!(r.code, 3, "{}", show(&r));
    let want: Vec<Vec<u8>> = [0, 2, 3, 4, 5]
        .iter()
        .map(|&i| LINE_ENTRIES[i].to_vec())
        .collect();
    assert_eq!(payloads_of(&objs), want, "--resync: {}", show(&r));
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

    let r = go(&env, &["log", "dump", s(&path)]);
    assert_eq!(r.code, 3);
    assert!(r.out().contains("DAMAGE"), "{}", show(&r));
    assert!(r.out().contains(&bounds[1].to_string()), "{}", show(&r));

    let r = go(&env, &["log", "dump", "--format", "raw", s(&path)]);
    assert_eq!(r.code, 3);
    assert_eq!(r.stdout, LINE_ENTRIES[0], "raw keeps damage off stdout");
    assert!(r.stderr.contains("checksum-mismatch"), "{}", show(&r));
}

/// Guards: `dump --follow` on a lines log prints lines appended later (by `durable log append`
/// or by hand), and waits for a line that is only partly written.
#[test]
fn dump_follow_sees_new_lines() {
    let env = Env::new();
    let path = env.write("follow.log", lines_log(&[b"zero"]));
    let mut child = durable_cmd(&env)
        .args(["log", "dump", "--follow", "--format", "raw", s(&path)])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn follow");
    let stdout = child.stdout.take().expect("stdout");
    let child = KillOnDrop(child);
    let seen = collect(stdout);
    let shows = |t: &'static str| {
        let seen = std::sync::Arc::clone(&seen);
        move || String::from_utf8_lossy(&seen.lock().expect("lock")).contains(t)
    };
    assert!(
        wait_until(Duration::from_secs(10), shows("zero")),
        "existing line"
    );
    let r = go(
        &env,
        &["log", "append", "--sync", "none", s(&path), "one more"],
    );
    assert_eq!(r.code, 0, "append to a lines log: {}", show(&r));
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
