//! Kill storm: for a bounded time, several processes hammer one target and one
//! log at once while a killer thread sends SIGKILL to random writers.
//!
//! - **savers** run `durable save TARGET`, each writing complete, self-describing versions: a
//!   header line `STORM writer=W version=V len=L crc=C` and a body of L bytes whose CRC-32 is C,
//!   fed to durable's stdin in two halves with a pause in between (so a writer that exposes
//!   partial content exposes it for milliseconds, not nanoseconds);
//! - **appenders** run `durable log append LOG` with 1 to 4 records `storm appender=A seq=S …`
//!   on stdin (now and then one of up to 512 KiB, so a kill can tear the write), streamed (a
//!   pause in the input splits it into commit groups) or, one time in four, `--atomic`; an
//!   append refused for a torn tail (exit 1, left by a killed appender) runs `durable recover
//!   LOG` and retries the same records, as a script would, and an append that stopped partway
//!   (exit 5: a later group met a torn tail) owes the records its message names. After a kill,
//!   recover followed by append must get through: an appender refused 50 times in a row, each
//!   time after a recover that exited 0, reports a wedged log;
//! - **readers** read TARGET in a loop: every read must be one complete version;
//! - **verifiers** run `durable log verify LOG`: a torn tail (exit 1) is allowed while appends are
//!   in flight, corruption (exit 3) never. verify takes no lock, so when a recover cuts the log
//!   under it, it stops with "the file became shorter while it was read" (exit 2): counted
//!   apart, not a violation; any other exit 2 is one;
//! - the **killer** SIGKILLs a random writer (save, append, or the recover an appender runs).
//!
//! Afterwards: `durable recover DIR` exits 0 and removes every temporary file the killed saves
//! left, `durable log verify LOG` is clean, the target is a complete version, and every record
//! of an append that exited 0 is in the log, once, in its appender's order.
//!
//! `DURABLE_STORM_SECS` sets the duration (default 4 s); with `DURABLE_RELIABILITY_OUT=FILE` the
//! figures are appended to FILE as one JSON line. `cargo test --test integration storm:: --
//! --nocapture` prints the table.
//!
//! A check that cannot fail proves nothing, so `kill_storm_checks_catch_broken_writers` runs the
//! same storm with one writer replaced by a broken one (an in-place `cat > TARGET`, an appender
//! that reports success without appending, a process scribbling into the middle of the log) and
//! expects the matching violations.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::common::{self, Durable, Env, run};

const TARGET: &str = "target.txt";
const LOG: &str = "events.log";

/// A writer replaced by a broken one, to show the checks catch it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Broken {
    /// Everything is `durable`.
    Nothing,
    /// Saver 0 writes in place: `sh -c 'cat > TARGET'` (truncate, then write).
    InPlaceSaver,
    /// Appender 0 reports success without appending anything (`sh -c 'cat > /dev/null'`).
    LyingAppender,
    /// A thread flips a byte inside the log's first record once the storm is under way.
    Scribbler,
}

struct Config {
    seconds: f64,
    savers: usize,
    appenders: usize,
    readers: usize,
    verifiers: usize,
    broken: Broken,
}

/// Violation categories (what the report and the broken-writer test count).
const READ: &str = "read";
const SAVE: &str = "save";
const APPEND: &str = "append";
const RECOVER: &str = "recover";
const VERIFY: &str = "verify";
const LOST: &str = "lost-or-reordered";
const FINAL: &str = "final";

#[derive(Default)]
struct Counts {
    saves_ok: AtomicU64,
    saves_killed: AtomicU64,
    appends_ok: AtomicU64,
    appends_killed: AtomicU64,
    appends_refused_torn: AtomicU64,
    /// Stopped partway (exit 5): some groups committed, then a later group met a torn tail.
    appends_partial: AtomicU64,
    recovers: AtomicU64,
    recovers_killed: AtomicU64,
    /// Refused because an appender held the log's lock (exit 2, "in use"): the append retries.
    recovers_in_use: AtomicU64,
    kills: AtomicU64,
    reads: AtomicU64,
    verifies: AtomicU64,
    verifies_torn: AtomicU64,
    /// Verifies that met a log cut by a concurrent recover (exit 2, "became shorter").
    verifies_raced_cut: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// Everything the storm's threads share.
struct Storm<'c> {
    cfg: &'c Config,
    dir: PathBuf,
    target: PathBuf,
    log: PathBuf,
    stop: AtomicBool,
    /// One per killable writer (savers first, then appenders): the process it runs right now.
    slots: Vec<Mutex<Option<Child>>>,
    counts: Counts,
    violations: Mutex<Vec<(&'static str, String)>>,
    /// Payloads of records whose append exited 0.
    acked: Mutex<Vec<String>>,
}

impl Storm<'_> {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn violation(&self, kind: &'static str, what: String) {
        self.violations.lock().unwrap().push((kind, what));
    }
}

/// xorshift64*: enough randomness for timings and sizes, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

// ---------------------------------------------------------------------------------------------
// Versions of the target
// ---------------------------------------------------------------------------------------------

/// A complete version: a header line naming writer, version, body length and the body's CRC-32,
/// then the body (1 to 64 KiB of lines of letters).
fn version_content(writer: usize, version: u64, rng: &mut Rng) -> Vec<u8> {
    let len = 1024 + rng.below(63 * 1024) as usize;
    let mut body = Vec::with_capacity(len);
    while body.len() < len {
        body.push(if body.len() % 64 == 63 {
            b'\n'
        } else {
            b'a' + rng.below(26) as u8
        });
    }
    let mut out = format!(
        "STORM writer={writer} version={version} len={len} crc={:08x}\n",
        crc32fast::hash(&body)
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// `Ok((writer, version))` if `bytes` is one complete version, else what is wrong with it.
fn check_version(bytes: &[u8]) -> Result<(u64, u64), String> {
    let describe = || {
        format!(
            "{} bytes starting {:?}",
            bytes.len(),
            String::from_utf8_lossy(&bytes[..bytes.len().min(60)])
        )
    };
    let nl = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| format!("no header line: {}", describe()))?;
    let header = std::str::from_utf8(&bytes[..nl]).map_err(|_| describe())?;
    let body = &bytes[nl + 1..];
    let fields: HashMap<&str, &str> = header
        .strip_prefix("STORM ")
        .ok_or_else(|| format!("not a version header: {}", describe()))?
        .split(' ')
        .filter_map(|f| f.split_once('='))
        .collect();
    let num = |k: &str| fields.get(k).and_then(|v| v.parse::<u64>().ok());
    let (Some(writer), Some(version), Some(len)) = (num("writer"), num("version"), num("len"))
    else {
        return Err(format!("bad header fields: {}", describe()));
    };
    let crc = fields
        .get("crc")
        .and_then(|c| u32::from_str_radix(c, 16).ok())
        .ok_or_else(|| format!("bad crc field: {}", describe()))?;
    if body.len() as u64 != len {
        return Err(format!(
            "writer {writer} version {version}: body of {} bytes, header says {len} (partial or mixed): {}",
            body.len(),
            describe()
        ));
    }
    if crc32fast::hash(body) != crc {
        return Err(format!(
            "writer {writer} version {version}: body checksum mismatch (mixed content): {}",
            describe()
        ));
    }
    Ok((writer, version))
}

/// Our temporary-file pattern, `.NAME.<16 lowercase hex>.durable-tmp` (checked independently
/// of durable's own matcher).
fn is_temp_name(name: &str) -> bool {
    let Some(rest) = name
        .strip_prefix('.')
        .and_then(|r| r.strip_suffix(".durable-tmp"))
    else {
        return false;
    };
    match rest.rsplit_once('.') {
        Some((stem, hex)) => {
            !stem.is_empty()
                && hex.len() == 16
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }
        None => false,
    }
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------------
// Processes that may be killed
// ---------------------------------------------------------------------------------------------

/// Run `cmd` as the process of `slot` (where the killer can find it), feeding `input` in two
/// halves with a pause between them; returns its status and stderr. The child is reaped under
/// the slot's lock, so the killer never signals a pid that was reaped (and possibly reused).
fn run_killable(
    slot: &Mutex<Option<Child>>,
    mut cmd: Command,
    input: Option<(&[u8], Duration)>,
) -> (ExitStatus, String) {
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .env_remove("DURABLE_FAULT");
    let mut child = cmd.spawn().expect("spawn a writer");
    let stdin = child.stdin.take();
    let mut stderr = child.stderr.take().expect("stderr pipe");
    *slot.lock().unwrap() = Some(child);
    if let (Some(mut pipe), Some((bytes, pause))) = (stdin, input) {
        let half = bytes.len() / 2;
        // A killed writer closes the pipe: EPIPE, which is expected.
        let _ = pipe.write_all(&bytes[..half]).and_then(|()| {
            thread::sleep(pause);
            pipe.write_all(&bytes[half..])
        });
    }
    // EOF on stderr: the process has ended (or is ending).
    let mut text = String::new();
    let _ = stderr.read_to_string(&mut text);
    let mut guard = slot.lock().unwrap();
    let status = guard
        .as_mut()
        .expect("our child is in the slot")
        .wait()
        .expect("wait for a writer");
    *guard = None;
    (status, text)
}

/// The records an append that stopped partway (exit 5) says it committed: "… flushed: N
/// records …" or "… N records appended to LOG and flushed …".
fn committed_count(stderr: &str) -> Option<usize> {
    let words: Vec<&str> = stderr.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| *w == "record" || w.starts_with("records"))?;
    words.get(at.checked_sub(1)?)?.parse().ok()
}

fn killed(status: &ExitStatus) -> bool {
    status.signal() == Some(libc::SIGKILL)
}

/// `durable` in `dir`, to spawn as a killable child (arguments added by the caller).
fn durable_cmd(dir: &Path) -> Command {
    Durable::new(dir).command()
}

// ---------------------------------------------------------------------------------------------
// The storm's threads
// ---------------------------------------------------------------------------------------------

fn saver(storm: &Storm<'_>, w: usize, mut rng: Rng) {
    let sync = ["full", "data", "none"][w % 3];
    let mut version = 0u64;
    while !storm.stopped() {
        version += 1;
        let content = version_content(w, version, &mut rng);
        let pause = Duration::from_millis(1 + rng.below(8));
        let cmd = if storm.cfg.broken == Broken::InPlaceSaver && w == 0 {
            let mut c = Command::new("sh");
            c.args(["-c", "exec cat > \"$1\"", "sh"])
                .arg(&storm.target)
                .current_dir(&storm.dir);
            c
        } else {
            let mut c = durable_cmd(&storm.dir);
            c.args(["save", "--sync", sync]).arg(&storm.target);
            c
        };
        let (status, stderr) = run_killable(&storm.slots[w], cmd, Some((&content, pause)));
        if status.code() == Some(0) {
            bump(&storm.counts.saves_ok);
        } else if killed(&status) {
            bump(&storm.counts.saves_killed);
        } else {
            storm.violation(
                SAVE,
                format!("saver {w} version {version}: {status}: {}", stderr.trim()),
            );
        }
    }
}

fn appender(storm: &Storm<'_>, a: usize, mut rng: Rng) {
    let slot = &storm.slots[storm.cfg.savers + a];
    let sync = if a.is_multiple_of(2) { "full" } else { "none" };
    let lying = storm.cfg.broken == Broken::LyingAppender && a == 0;
    let mut seq = 0u64;
    // Refusals for a torn tail in a row, each after a recover that exited 0: a log that recover
    // calls clean but append refuses is wedged (the bug of a crash during a multi-record
    // append), and only that makes this grow without bound.
    let mut refused_after_recover = 0u32;
    'batches: while !storm.stopped() {
        let n = 1 + rng.below(4);
        // Mostly small records; now and then a big one, so that a kill can land in the middle
        // of the write and leave a torn tail (which the next append must refuse).
        let big = rng.below(6) == 0;
        let records: Vec<String> = (0..n)
            .map(|i| {
                seq += 1;
                let pad = if big && i == 0 {
                    64 * 1024 + rng.below(448 * 1024) as usize
                } else {
                    rng.below(200) as usize
                };
                format!("storm appender={a} seq={seq} {}", "x".repeat(pad))
            })
            .collect();
        let input: Vec<u8> = records
            .iter()
            .flat_map(|r| [r.as_bytes(), b"\n"].concat())
            .collect();
        // Streamed (committed in groups as the lines arrive; a pause of 20 ms or more splits
        // the input into two groups) or, one time in four, --atomic.
        let atomic = rng.below(4) == 0;
        let pause = if rng.below(3) == 0 {
            20 + rng.below(20)
        } else {
            rng.below(3)
        };
        loop {
            let cmd = if lying {
                let mut c = Command::new("sh");
                c.args(["-c", "cat > /dev/null"]);
                c
            } else {
                let mut c = durable_cmd(&storm.dir);
                c.args(["log", "append", "--sync", sync]);
                if atomic {
                    c.arg("--atomic");
                }
                c.arg(&storm.log);
                c
            };
            let (status, stderr) =
                run_killable(slot, cmd, Some((&input, Duration::from_millis(pause))));
            match status.code() {
                Some(0) => {
                    bump(&storm.counts.appends_ok);
                    storm.acked.lock().unwrap().extend(records);
                    refused_after_recover = 0;
                    continue 'batches;
                }
                Some(5) => {
                    // Stopped partway (a later group met a torn tail left by a killed
                    // appender): the message names the records committed, which are owed.
                    bump(&storm.counts.appends_partial);
                    match committed_count(&stderr) {
                        Some(n) if n <= records.len() => storm
                            .acked
                            .lock()
                            .unwrap()
                            .extend(records.into_iter().take(n)),
                        _ => storm.violation(
                            APPEND,
                            format!("appender {a}: exit 5 without a count: {}", stderr.trim()),
                        ),
                    }
                    continue 'batches;
                }
                Some(1) => {
                    // A killed appender left a torn tail: nothing was appended; recover, retry.
                    bump(&storm.counts.appends_refused_torn);
                    let mut c = durable_cmd(&storm.dir);
                    c.arg("recover").arg(&storm.log);
                    let (status, stderr) = run_killable(slot, c, None);
                    if status.code() == Some(0) {
                        bump(&storm.counts.recovers);
                        refused_after_recover += 1;
                        if refused_after_recover > 50 {
                            storm.violation(
                                RECOVER,
                                format!(
                                    "appender {a}: refused for a torn tail 50 times in a row, each time after recover exited 0: the log is wedged"
                                ),
                            );
                            break 'batches;
                        }
                    } else if killed(&status) {
                        bump(&storm.counts.recovers_killed);
                    } else if status.code() == Some(2) && stderr.contains("in use") {
                        bump(&storm.counts.recovers_in_use);
                    } else {
                        storm.violation(
                            RECOVER,
                            format!("recover during the storm: {status}: {}", stderr.trim()),
                        );
                    }
                    if storm.stopped() {
                        break 'batches;
                    }
                }
                _ if killed(&status) => {
                    bump(&storm.counts.appends_killed);
                    continue 'batches;
                }
                _ => {
                    storm.violation(APPEND, format!("appender {a}: {status}: {}", stderr.trim()));
                    continue 'batches;
                }
            }
        }
    }
}

fn reader(storm: &Storm<'_>, mut rng: Rng) {
    while !storm.stopped() {
        match fs::read(&storm.target) {
            Ok(bytes) => {
                if let Err(why) = check_version(&bytes) {
                    storm.violation(READ, format!("a reader saw {why}"));
                }
            }
            Err(e) => storm.violation(READ, format!("a reader could not read the target: {e}")),
        }
        bump(&storm.counts.reads);
        thread::sleep(Duration::from_micros(200 + rng.below(800)));
    }
}

fn verifier(storm: &Storm<'_>) {
    while !storm.stopped() {
        // A run the storm reports on (a violation), rather than one that fails at once.
        let out = Durable::new(&storm.dir)
            .args(&["log", "verify"])
            .arg(&storm.log)
            .no_stdin()
            .may_be_killed()
            .run();
        bump(&storm.counts.verifies);
        let stderr = &out.stderr;
        match out.status.code() {
            Some(0) => {}
            Some(1) => bump(&storm.counts.verifies_torn),
            // verify takes no lock: a recover cutting a torn tail while it reads makes it stop
            // with this honest error (exit 2, nothing changed). Not corruption; counted apart.
            Some(2) if stderr.contains("became shorter while it was read") => {
                bump(&storm.counts.verifies_raced_cut)
            }
            _ => storm.violation(
                VERIFY,
                format!(
                    "log verify during the storm: {}: {}{}",
                    out.status,
                    out.out().trim(),
                    stderr.trim()
                ),
            ),
        }
    }
}

fn killer(storm: &Storm<'_>, mut rng: Rng) {
    while !storm.stopped() {
        thread::sleep(Duration::from_millis(2 + rng.below(24)));
        let slot = &storm.slots[rng.below(storm.slots.len() as u64) as usize];
        let mut guard = slot.lock().unwrap();
        if let Some(child) = guard.as_mut()
            && matches!(child.try_wait(), Ok(None))
            && child.kill().is_ok()
        {
            bump(&storm.counts.kills);
        }
    }
}

/// Flip one byte inside the first record's payload, once, after a while.
fn scribbler(storm: &Storm<'_>) {
    thread::sleep(Duration::from_millis(300));
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&storm.log)
        .expect("open the log to scribble");
    // 64-byte file header, 24-byte record header: offset 90 is in the first payload.
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, 90).expect("read");
    byte[0] ^= 0x20;
    file.write_all_at(&byte, 90).expect("scribble");
}

// ---------------------------------------------------------------------------------------------
// Running a storm and checking what it left
// ---------------------------------------------------------------------------------------------

struct Report {
    seconds: f64,
    counts: Counts,
    violations: Vec<(&'static str, String)>,
    stale_temps_removed: usize,
    log_records: usize,
    acked_records: usize,
}

impl Report {
    fn count(&self, kind: &str) -> usize {
        self.violations.iter().filter(|(k, _)| *k == kind).count()
    }

    fn table(&self, title: &str, cfg: &Config) -> String {
        let c = &self.counts;
        let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
        for (k, _) in &self.violations {
            *by_kind.entry(k).or_default() += 1;
        }
        let mut out = format!(
            "{title}: {:.1} s, {} savers, {} appenders, {} readers, {} verifiers, broken writer: {:?}\n",
            self.seconds, cfg.savers, cfg.appenders, cfg.readers, cfg.verifiers, cfg.broken
        );
        let mut row = |k: &str, v: String| out.push_str(&format!("  {k:<11} {v}\n"));
        row(
            "saves",
            format!(
                "ok {:>6}   killed {:>5}",
                get(&c.saves_ok),
                get(&c.saves_killed)
            ),
        );
        row(
            "appends",
            format!(
                "ok {:>6}   killed {:>5}   refused (torn tail) {}   stopped partway {}",
                get(&c.appends_ok),
                get(&c.appends_killed),
                get(&c.appends_refused_torn),
                get(&c.appends_partial)
            ),
        );
        row(
            "recovers",
            format!(
                "ok {:>6}   killed {:>5}   in use {} (run by appenders after a torn tail)",
                get(&c.recovers),
                get(&c.recovers_killed),
                get(&c.recovers_in_use)
            ),
        );
        row("kills", format!("{:>9}", get(&c.kills)));
        row("reads", format!("{:>9}", get(&c.reads)));
        row(
            "verifies",
            format!(
                "{:>9}   (torn tail seen {}, cut under it by a recover {})",
                get(&c.verifies),
                get(&c.verifies_torn),
                get(&c.verifies_raced_cut)
            ),
        );
        row(
            "final",
            format!(
                "stale temps removed by recover {}; log records {}, of which acknowledged {} (the rest: killed appends that got through)",
                self.stale_temps_removed, self.log_records, self.acked_records
            ),
        );
        row(
            "violations",
            format!("{:>9}   {by_kind:?}", self.violations.len()),
        );
        for (k, v) in self.violations.iter().take(12) {
            out.push_str(&format!("    [{k}] {}\n", v.trim().replace('\n', " | ")));
        }
        if self.violations.len() > 12 {
            out.push_str(&format!("    … and {} more\n", self.violations.len() - 12));
        }
        out
    }

    fn json(&self) -> Value {
        let c = &self.counts;
        json!({
            "part": "kill-storm",
            "seconds": (self.seconds * 10.0).round() / 10.0,
            "saves": {"ok": get(&c.saves_ok), "killed": get(&c.saves_killed)},
            "appends": {
                "ok": get(&c.appends_ok),
                "killed": get(&c.appends_killed),
                "refused_torn_tail": get(&c.appends_refused_torn),
                "stopped_partway": get(&c.appends_partial),
            },
            "recovers": {
                "ok": get(&c.recovers),
                "killed": get(&c.recovers_killed),
                "in_use": get(&c.recovers_in_use),
            },
            "kills": get(&c.kills),
            "reads": get(&c.reads),
            "verifies": get(&c.verifies),
            "verifies_torn_tail": get(&c.verifies_torn),
            "verifies_raced_recover_cut": get(&c.verifies_raced_cut),
            "stale_temps_removed": self.stale_temps_removed,
            "log_records": self.log_records,
            "acked_records": self.acked_records,
            "violations": self.violations.len(),
        })
    }
}

fn run_storm(cfg: &Config) -> Report {
    let env = Env::new();
    let dir = env.dir.path().to_path_buf();
    let storm = Storm {
        cfg,
        target: dir.join(TARGET),
        log: dir.join(LOG),
        dir: dir.clone(),
        stop: AtomicBool::new(false),
        slots: (0..cfg.savers + cfg.appenders)
            .map(|_| Mutex::new(None))
            .collect(),
        counts: Counts::default(),
        violations: Mutex::new(Vec::new()),
        acked: Mutex::new(Vec::new()),
    };
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);

    // A first version and an empty log, so readers and verifiers have something from the start.
    let first = version_content(999, 0, &mut Rng::new(seed));
    let out = run(&env, &["save", TARGET], &first);
    assert!(out.status.success(), "first save: {out:?}");
    let out = run(&env, &["log", "append", LOG], b"");
    assert!(out.status.success(), "create the log: {out:?}");

    let started = Instant::now();
    thread::scope(|s| {
        let storm = &storm;
        for w in 0..cfg.savers {
            s.spawn(move || saver(storm, w, Rng::new(seed ^ ((w as u64 + 1) * 1000))));
        }
        for a in 0..cfg.appenders {
            s.spawn(move || appender(storm, a, Rng::new(seed ^ ((a as u64 + 1) * 2000))));
        }
        for r in 0..cfg.readers {
            s.spawn(move || reader(storm, Rng::new(seed ^ ((r as u64 + 1) * 3000))));
        }
        for _ in 0..cfg.verifiers {
            s.spawn(move || verifier(storm));
        }
        s.spawn(move || killer(storm, Rng::new(seed ^ 4000)));
        if cfg.broken == Broken::Scribbler {
            s.spawn(move || scribbler(storm));
        }
        thread::sleep(Duration::from_secs_f64(cfg.seconds));
        storm.stop.store(true, Ordering::Relaxed);
    });
    let seconds = started.elapsed().as_secs_f64();

    // After the storm: recover the directory, then check what is left.
    let stale: Vec<String> = dir_names(&dir)
        .into_iter()
        .filter(|n| is_temp_name(n))
        .collect();
    let out = Durable::new(&dir)
        .args(&["recover", "--json"])
        .arg(&dir)
        .no_stdin()
        .may_be_killed()
        .run();
    let recover_text = format!("{}{}", out.out(), out.stderr);
    if out.status.code() != Some(0) {
        storm.violation(
            FINAL,
            format!(
                "recover DIR after the storm: {}: {}",
                out.status,
                recover_text.trim()
            ),
        );
    }
    let left: Vec<String> = dir_names(&dir)
        .into_iter()
        .filter(|n| is_temp_name(n) || n.ends_with(".durable-journal"))
        .collect();
    if !left.is_empty() {
        storm.violation(
            FINAL,
            format!(
                "recover DIR left temporary files or journals: {left:?}; it said: {}",
                recover_text.trim()
            ),
        );
    }
    let out = Durable::new(&dir)
        .args(&["log", "verify"])
        .arg(&storm.log)
        .may_be_killed()
        .run();
    if out.status.code() != Some(0) {
        storm.violation(
            FINAL,
            format!(
                "log verify after recover: {}: {}",
                out.status,
                out.out().trim()
            ),
        );
    }
    match fs::read(&storm.target) {
        Ok(bytes) => {
            if let Err(why) = check_version(&bytes) {
                storm.violation(FINAL, format!("the target after the storm: {why}"));
            }
        }
        Err(e) => storm.violation(FINAL, format!("the target after the storm: {e}")),
    }

    // Every acknowledged record is in the log, once, and each appender's records in its order.
    let out = Durable::new(&dir)
        .args(&["log", "dump", "--format", "json"])
        .arg(&storm.log)
        .may_be_killed()
        .run();
    let payloads: Vec<String> = out
        .out()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["payload"]["text"].as_str().map(str::to_string))
        .collect();
    let acked = storm.acked.lock().unwrap().clone();
    let mut seen = HashSet::new();
    let mut last_seq: HashMap<String, u64> = HashMap::new();
    for p in &payloads {
        if !seen.insert(p.as_str()) {
            storm.violation(LOST, format!("record appended twice: {p:.60}"));
        }
        let mut words = p.split(' ');
        let (Some("storm"), Some(who), Some(seq)) = (words.next(), words.next(), words.next())
        else {
            storm.violation(LOST, format!("a record that no appender wrote: {p:.60}"));
            continue;
        };
        let seq: u64 = seq
            .strip_prefix("seq=")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if let Some(prev) = last_seq.insert(who.to_string(), seq)
            && prev >= seq
        {
            storm.violation(
                LOST,
                format!("{who}: seq {seq} after seq {prev} (out of order)"),
            );
        }
    }
    let missing: Vec<&String> = acked
        .iter()
        .filter(|p| !seen.contains(p.as_str()))
        .collect();
    for p in &missing {
        storm.violation(
            LOST,
            format!("an append exited 0 but its record is not in the log: {p:.60}"),
        );
    }

    Report {
        seconds,
        stale_temps_removed: stale.len(),
        log_records: payloads.len(),
        acked_records: acked.len(),
        violations: storm.violations.into_inner().unwrap(),
        counts: storm.counts,
    }
}

fn storm_seconds() -> f64 {
    std::env::var("DURABLE_STORM_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(4.0)
}

// Guards: under SIGKILLs, readers only ever see complete versions, verify never sees corruption,
// acknowledged appends are all kept, and recover DIR leaves a clean log and no temporary files.
#[test]
fn kill_storm_keeps_every_invariant() {
    let cfg = Config {
        seconds: storm_seconds(),
        savers: 3,
        appenders: 3,
        readers: 2,
        verifiers: 1,
        broken: Broken::Nothing,
    };
    let report = run_storm(&cfg);
    let table = report.table("kill storm", &cfg);
    println!("{table}");
    common::append_figures(&[report.json()]);
    assert!(report.violations.is_empty(), "{table}");
    // Not a vacuous storm: every kind of work happened, and kills really hit writers.
    let c = &report.counts;
    for (what, n) in [
        ("saves that succeeded", get(&c.saves_ok)),
        ("appends that succeeded", get(&c.appends_ok)),
        ("kills", get(&c.kills)),
        (
            "writers killed",
            get(&c.saves_killed) + get(&c.appends_killed),
        ),
        ("reads", get(&c.reads)),
        ("verifies", get(&c.verifies)),
    ] {
        assert!(n > 0, "the storm had no {what}:\n{table}");
    }
}

// Guards: the storm's checks are not vacuous — a broken writer of each kind is caught.
#[test]
fn kill_storm_checks_catch_broken_writers() {
    let mut tables = String::new();
    let mut missed = Vec::new();
    for (broken, kind) in [
        (Broken::InPlaceSaver, READ),
        (Broken::LyingAppender, LOST),
        (Broken::Scribbler, VERIFY),
    ] {
        let cfg = Config {
            seconds: 1.5,
            savers: 2,
            appenders: 2,
            readers: 2,
            verifiers: 1,
            broken,
        };
        let report = run_storm(&cfg);
        let table = report.table("kill storm with a broken writer", &cfg);
        println!("{table}");
        if report.count(kind) == 0 {
            missed.push(format!("{broken:?} caused no {kind} violation"));
        }
        tables.push_str(&table);
    }
    assert!(
        missed.is_empty(),
        "the storm's checks missed a broken writer: {missed:?}\n{tables}"
    );
}

#[test]
fn version_check_accepts_complete_and_rejects_partial_or_mixed() {
    let mut rng = Rng::new(7);
    let a = version_content(1, 1, &mut rng);
    let b = version_content(2, 1, &mut rng);
    assert_eq!(check_version(&a), Ok((1, 1)));
    assert!(check_version(&a[..a.len() - 1]).is_err(), "truncated");
    assert!(check_version(&a[..40]).is_err(), "header only");
    assert!(check_version(b"").is_err(), "empty");
    let mut mixed = a.clone();
    let n = mixed.len().min(b.len());
    mixed[n / 2..n].copy_from_slice(&b[n / 2..n]);
    assert!(check_version(&mixed).is_err(), "mixed");
    assert!(is_temp_name(".target.txt.0123456789abcdef.durable-tmp"));
    assert!(!is_temp_name(".target.txt.durable-tmp"));
    assert!(!is_temp_name(".target.txt.0123456789ABCDEF.durable-tmp"));
    assert!(!is_temp_name("target.txt"));
}
