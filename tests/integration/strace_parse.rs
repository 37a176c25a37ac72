//! Reading strace output: a line parser (calls, arguments split at top-level commas, `-y` path
//! annotations, split `<unfinished ...>` / `<... resumed>` lines joined, process exits) and a
//! runner that starts a program under strace or says clearly why it cannot. Shared by the
//! syscall-order checks (`save_syscalls.rs`, an append's in `log.rs`), the failed-fsync sweep
//! (`fault_injection.rs`) and the crash-state explorer (`explore/`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common;

/// One completed system call, as strace printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syscall {
    /// The thread that made it.
    pub pid: u32,
    /// The call's name (`openat`, `fsync`, …).
    pub name: String,
    /// The text between the parentheses, as printed.
    pub args: String,
    /// The numeric return value (`-1` for a failed call).
    pub ret: i64,
    /// Everything after `= `, e.g. `6</tmp/x/t>` or `-1 ENOENT (No such file or directory)`.
    pub ret_text: String,
}

impl Syscall {
    /// The arguments split at top-level commas (not inside strings or brackets).
    pub fn arg_list(&self) -> Vec<String> {
        split_args(&self.args)
    }

    pub fn arg(&self, i: usize) -> Option<String> {
        self.arg_list().into_iter().nth(i)
    }

    /// The file descriptor in the first argument (`6</tmp/x/t>` → 6).
    pub fn fd(&self) -> Option<i64> {
        fd_and_path(&self.arg(0)?).0
    }

    pub fn ok(&self) -> bool {
        self.ret >= 0
    }
}

/// One line of a trace that matters here: a completed call, or the end of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Call(Syscall),
    /// `+++ exited with N +++` (`code` = N) or `+++ killed by SIG… +++` (`code` = None).
    Exit {
        pid: u32,
        code: Option<i32>,
    },
}

/// Parse a whole strace `-f -y` output file into calls. Lines strace splits because another
/// thread ran in between (`<unfinished ...>` / `<... NAME resumed>`) are joined; exit and signal
/// lines (`+++ …`, `--- …`) are skipped.
pub fn parse_trace(text: &str) -> Result<Vec<Syscall>, String> {
    Ok(parse_events(text)?
        .into_iter()
        .filter_map(|e| match e {
            Event::Call(call) => Some(call),
            Event::Exit { .. } => None,
        })
        .collect())
}

/// Parse a whole strace `-f -y` output file into calls and process exits, in the order strace
/// printed them (a split call counts where it completed).
pub fn parse_events(text: &str) -> Result<Vec<Event>, String> {
    let mut events = Vec::new();
    let mut unfinished: HashMap<u32, String> = HashMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        if line.is_empty() {
            continue;
        }
        let (pid, rest) = split_pid(line);
        if let Some(end) = rest.strip_prefix("+++ ") {
            let code = end
                .strip_prefix("exited with ")
                .and_then(|c| c.trim_end_matches(" +++").trim().parse().ok());
            events.push(Event::Exit { pid, code });
            continue;
        }
        if rest.starts_with("---") {
            continue;
        }
        if let Some(head) = rest.strip_suffix("<unfinished ...>") {
            unfinished.insert(pid, head.trim_end().to_string());
            continue;
        }
        let joined;
        let rest = if let Some(resumed) = rest.strip_prefix("<... ") {
            let (_, tail) = resumed
                .split_once(" resumed>")
                .ok_or_else(|| format!("line {}: bad resumed line: {line}", n + 1))?;
            let head = unfinished
                .remove(&pid)
                .ok_or_else(|| format!("line {}: resumed call never started: {line}", n + 1))?;
            joined = format!("{head}{tail}");
            joined.as_str()
        } else {
            rest
        };
        events.push(Event::Call(
            parse_call(pid, rest).map_err(|e| format!("line {}: {e}: {line}", n + 1))?,
        ));
    }
    Ok(events)
}

/// `12345  rest` → (12345, "rest"); a line without a pid gets pid 0.
fn split_pid(line: &str) -> (u32, &str) {
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    match line[..digits].parse() {
        Ok(pid) if line[digits..].starts_with(' ') => (pid, line[digits..].trim_start()),
        _ => (0, line),
    }
}

/// `name(args) = ret`
fn parse_call(pid: u32, text: &str) -> Result<Syscall, String> {
    let open = text.find('(').ok_or("no '('")?;
    let name = &text[..open];
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!("bad call name {name:?}"));
    }
    let close = matching_paren(text, open).ok_or("no matching ')'")?;
    let args = text[open + 1..close].trim().to_string();
    let after = text[close + 1..].trim_start();
    let ret_text = after
        .strip_prefix('=')
        .ok_or("no '=' after the arguments")?
        .trim()
        .to_string();
    let digits: String = ret_text
        .chars()
        .enumerate()
        .take_while(|(i, c)| c.is_ascii_digit() || (*i == 0 && *c == '-'))
        .map(|(_, c)| c)
        .collect();
    let ret = digits
        .parse()
        .map_err(|_| format!("return value {ret_text:?} is not a number"))?;
    Ok(Syscall {
        pid,
        name: name.to_string(),
        args,
        ret,
        ret_text,
    })
}

/// Each character of `text` with whether it is code: not inside a quoted string and not inside
/// a `-y` path annotation (`3</a, (b)>`, `AT_FDCWD</dir>`), where commas and brackets mean nothing.
fn classify(text: &str) -> Vec<(usize, char, bool)> {
    let mut out = Vec::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut in_path = false;
    for (i, c) in text.char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            out.push((i, c, false));
        } else if in_path {
            in_path = c != '>';
            out.push((i, c, false));
        } else if c == '"' {
            in_string = true;
            out.push((i, c, false));
        } else if c == '<'
            && (text[..i].ends_with(|p: char| p.is_ascii_digit())
                || text[..i].ends_with("AT_FDCWD"))
        {
            in_path = true;
            out.push((i, c, false));
        } else {
            out.push((i, c, true));
        }
    }
    out
}

/// Index of the `)` closing the `(` at `open`, skipping strings, paths and nested brackets.
fn matching_paren(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c, code) in classify(text) {
        if i < open || !code {
            continue;
        }
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return (c == ')').then_some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Split an argument list at top-level commas.
pub fn split_args(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut depth = 0i32;
    for (_, c, code) in classify(args) {
        if code {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth -= 1,
                ',' if depth == 0 => {
                    out.push(current.trim().to_string());
                    current.clear();
                    continue;
                }
                _ => {}
            }
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

/// `6</tmp/x/t>(deleted)` → (Some(6), Some("/tmp/x/t")); `AT_FDCWD</tmp/x>` → (None, Some(..)).
/// Escapes in the path (`-xx` prints every byte as `\xNN`) are decoded.
pub fn fd_and_path(arg: &str) -> (Option<i64>, Option<String>) {
    let (head, path) = match arg.find('<') {
        Some(lt) => {
            let rest = &arg[lt + 1..];
            let path = rest
                .find('>')
                .map(|gt| String::from_utf8_lossy(&unescape(&rest[..gt])).into_owned());
            (&arg[..lt], path)
        }
        None => (arg, None),
    };
    (head.trim().parse().ok(), path)
}

/// A quoted strace string argument, unescaped (`"a\"b"` → `a"b`); `None` if it is not a string.
pub fn unquote(arg: &str) -> Option<String> {
    unquote_bytes(arg).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// The bytes of a quoted strace string argument; `None` if it is not a string. A string strace
/// cut short (`-s`) ends in `"...`: see [`is_cut`].
pub fn unquote_bytes(arg: &str) -> Option<Vec<u8>> {
    let inner = arg.strip_prefix('"')?;
    let end = inner.rfind('"')?;
    Some(unescape(&inner[..end]))
}

/// Whether strace printed only the first `-s` bytes of a string argument.
pub fn is_cut(arg: &str) -> bool {
    arg.ends_with("\"...")
}

/// Decode strace's C-style escapes: `\xNN` (all bytes with `-xx`), octal `\NNN`, `\n` and kin.
fn unescape(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() / 4 + 1);
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' || i + 1 == bytes.len() {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let c = bytes[i + 1];
        i += 2;
        match c {
            b'x' => {
                let hex: String = text[i..]
                    .chars()
                    .take(2)
                    .take_while(char::is_ascii_hexdigit)
                    .collect();
                out.push(u8::from_str_radix(&hex, 16).unwrap_or(b'x'));
                i += hex.len();
            }
            b'0'..=b'7' => {
                let digits: String = text[i - 1..]
                    .chars()
                    .take(3)
                    .take_while(|d| ('0'..='7').contains(d))
                    .collect();
                out.push(u8::from_str_radix(&digits, 8).unwrap_or(0));
                i += digits.len() - 1;
            }
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'v' => out.push(0x0b),
            b'f' => out.push(0x0c),
            other => out.push(other),
        }
    }
    out
}

/// Whether a flags argument (`O_RDWR|O_CREAT|…`) contains `flag`.
pub fn has_flag(flags: &str, flag: &str) -> bool {
    flags.split('|').any(|f| f.trim() == flag)
}

/// `path` made absolute against `base`, with `.` components dropped.
pub fn absolute(path: &str, base: &Path) -> PathBuf {
    let p = Path::new(path);
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    };
    // Lexically drop `.` components ("dir/." is the directory itself).
    joined.components().collect()
}

/// A program run under strace: what it printed and how it ended, and the trace it left.
pub struct StraceRun {
    pub text: String,
    pub output: Output,
}

/// Run `program args…` under `strace OPTIONS -o FILE` in `cwd` with `stdin`, without the fault
/// switch. `None`, after printing why, when strace is not installed or cannot trace here (CI
/// installs it; a container without ptrace cannot use it).
pub fn run_under_strace(
    test: &str,
    options: &[&str],
    program: &Path,
    args: &[&str],
    cwd: &Path,
    stdin: &[u8],
) -> Option<StraceRun> {
    if !common::have("strace") {
        common::skip(
            test,
            "strace is not installed (CI installs it; apt-get install strace)",
        );
        return None;
    }
    let out_dir = tempfile::tempdir().expect("trace dir");
    let trace_file = out_dir.path().join("trace");
    let output = assert_cmd::Command::new("strace")
        .args(options)
        .arg("-o")
        .arg(&trace_file)
        .arg(program)
        .args(args)
        .current_dir(cwd)
        .env_remove("DURABLE_FAULT")
        .write_stdin(stdin.to_vec())
        .output()
        .expect("run strace");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let text = std::fs::read_to_string(&trace_file).unwrap_or_default();
    if text.is_empty() && (stderr.contains("ptrace") || stderr.contains("Operation not permitted"))
    {
        common::skip(
            test,
            &format!("strace cannot trace in this environment: {}", stderr.trim()),
        );
        return None;
    }
    Some(StraceRun { text, output })
}

#[test]
fn parser_decodes_hex_and_octal_strings_and_reads_process_exits() {
    let text = "\
7  openat(AT_FDCWD<\\x2f\\x74>, \"\\x61\\x2c\\x3e\", O_RDONLY) = 3<\\x2f\\x74\\x2f\\x61\\x2c\\x3e>
7  write(3<\\x2f\\x74\\x2f\\x61\\x2c\\x3e>, \"\\x00\\xff\\x22\", 3) = 3
7  write(3</t/a>, \"\\0\\377\\\"\\n\"..., 9) = 9
7  +++ exited with 4 +++
8  +++ killed by SIGKILL +++
";
    let events = parse_events(text).expect("parses");
    assert_eq!(events.len(), 5, "{events:#?}");
    let Event::Call(open) = &events[0] else {
        panic!("not a call: {:?}", events[0]);
    };
    assert_eq!(unquote(&open.arg(1).unwrap()).unwrap(), "a,>");
    assert_eq!(
        fd_and_path(&open.ret_text),
        (Some(3), Some("/t/a,>".into()))
    );
    let Event::Call(write) = &events[1] else {
        panic!("not a call: {:?}", events[1]);
    };
    let data = write.arg(1).unwrap();
    assert_eq!(unquote_bytes(&data).unwrap(), [0, 0xff, b'"']);
    assert!(!is_cut(&data));
    let Event::Call(cut) = &events[2] else {
        panic!("not a call: {:?}", events[2]);
    };
    let data = cut.arg(1).unwrap();
    assert_eq!(unquote_bytes(&data).unwrap(), [0, 0xff, b'"', b'\n']);
    assert!(is_cut(&data));
    assert_eq!(
        events[3],
        Event::Exit {
            pid: 7,
            code: Some(4)
        }
    );
    assert_eq!(events[4], Event::Exit { pid: 8, code: None });
    assert_eq!(parse_trace(text).expect("parses").len(), 3);
}
