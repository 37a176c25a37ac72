//! File names as people see them: in messages, reports and hints. A name a shell reads back
//! unchanged is printed as it is; any other is quoted so that it can be pasted back into a
//! command line and name the same file, whatever bytes it holds.
//!
//! The rules, in order:
//! - only letters, digits (any script) and `/ . _ - + , : @ %` (and `=` or `~` after the first
//!   character): as is, `events.log`, `données/ünïcode.log`;
//! - otherwise, printable UTF-8: single quotes, `'my log.txt'`, `'it'\''s'`;
//! - otherwise (bytes that are not UTF-8, control characters, bidirectional-text controls):
//!   `$'…'` with `\xNN` escapes, `$'bad\xff.log'`, `$'two\nlines'`, as bash, zsh, ksh and
//!   POSIX.1-2024 `sh` read it.
//!
//! [`c_quoted`] is the other form, for the system calls `--explain` prints: a C string literal
//! as strace shows one.

use std::ffi::OsStr;
use std::fmt::{self, Display, Write};

use crate::platform;

/// A file name (or any OS string) shown for a person; see the module docs for the rules.
#[derive(Debug, Clone, Copy)]
pub struct Quoted<'a>(&'a [u8]);

/// `name` as [`Quoted`] shows it.
pub fn quoted<S: AsRef<OsStr> + ?Sized>(name: &S) -> Quoted<'_> {
    Quoted(platform::name_bytes(name.as_ref()))
}

/// What a name needs to read back unchanged (with its text, when it is UTF-8).
#[derive(Debug, PartialEq, Eq)]
enum Need<'a> {
    Nothing(&'a str),
    SingleQuotes(&'a str),
    Escapes,
}

fn need(bytes: &[u8]) -> Need<'_> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Need::Escapes;
    };
    if text.is_empty() {
        return Need::SingleQuotes(text);
    }
    if text.chars().any(is_hidden) {
        return Need::Escapes;
    }
    let plain = text.chars().enumerate().all(|(i, c)| {
        c.is_alphanumeric()
            || matches!(c, '/' | '.' | '_' | '-' | '+' | ',' | ':' | '@' | '%')
            || (i > 0 && matches!(c, '=' | '~'))
    });
    if plain {
        Need::Nothing(text)
    } else {
        Need::SingleQuotes(text)
    }
}

/// Characters a terminal does not show as themselves: controls (C0, DEL, C1) and the
/// bidirectional-text controls that reorder what follows them. Output for people escapes them.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

impl Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match need(self.0) {
            Need::Nothing(text) => f.write_str(text),
            Need::SingleQuotes(text) => {
                f.write_char('\'')?;
                for (i, part) in text.split('\'').enumerate() {
                    if i > 0 {
                        f.write_str("'\\''")?;
                    }
                    f.write_str(part)?;
                }
                f.write_char('\'')
            }
            Need::Escapes => {
                f.write_str("$'")?;
                write_escaped(f, self.0, '\'')?;
                f.write_char('\'')
            }
        }
    }
}

/// `bytes` inside a quoted string that reads backslash escapes (`$'…'`, a C string literal):
/// printable UTF-8 as it is; the backslash, the `quote` character, newline, tab, carriage
/// return, hidden characters (each of their bytes) and bytes that are not UTF-8 escaped.
fn write_escaped(f: &mut fmt::Formatter<'_>, bytes: &[u8], quote: char) -> fmt::Result {
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\t' => f.write_str("\\t")?,
                '\r' => f.write_str("\\r")?,
                c if c == quote => {
                    f.write_char('\\')?;
                    f.write_char(c)?;
                }
                c if is_hidden(c) => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        write!(f, "\\x{b:02x}")?;
                    }
                }
                c => f.write_char(c)?,
            }
        }
        for b in chunk.invalid() {
            write!(f, "\\x{b:02x}")?;
        }
    }
    Ok(())
}

/// A name as a C string literal, the way strace prints the arguments of system calls:
/// `"/etc/app.conf"`, `"bad\xff.log"`.
#[derive(Debug, Clone, Copy)]
pub struct CQuoted<'a>(&'a [u8]);

/// `name` as [`CQuoted`] shows it.
pub fn c_quoted<S: AsRef<OsStr> + ?Sized>(name: &S) -> CQuoted<'_> {
    CQuoted(platform::name_bytes(name.as_ref()))
}

impl Display for CQuoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        write_escaped(f, self.0, '"')?;
        f.write_char('"')
    }
}

/// A path as one shell word, quoted only when it needs to be (the form [`quoted`] prints, so a
/// name that is not UTF-8 survives too), so a command printed as a hint works when pasted
/// (`durable recover 'my logs/a.log'`); a name starting with `-` gets `./` first, or it would be
/// read as an option.
pub fn shell_word(path: &std::path::Path) -> String {
    if crate::platform::name_bytes(path.as_os_str()).starts_with(b"-") {
        return quoted(&std::path::Path::new(".").join(path)).to_string();
    }
    quoted(path).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    fn q(bytes: &[u8]) -> String {
        quoted(OsStr::from_bytes(bytes)).to_string()
    }

    #[test]
    fn plain_names_are_shown_as_they_are() {
        assert_eq!(q(b"events.log"), "events.log");
        assert_eq!(q(b"/var/lib/app/0.store"), "/var/lib/app/0.store");
        assert_eq!(q("données/ünïcode.log".as_bytes()), "données/ünïcode.log");
        assert_eq!(q(b"a=b~c"), "a=b~c");
    }

    #[test]
    fn names_a_shell_would_split_or_expand_are_single_quoted() {
        assert_eq!(q(b"my log.txt"), "'my log.txt'");
        assert_eq!(q(b"it's"), "'it'\\''s'");
        assert_eq!(q(b"~x"), "'~x'");
        assert_eq!(q(b"=x"), "'=x'");
        assert_eq!(q(b"a*b"), "'a*b'");
        assert_eq!(q(b"$HOME"), "'$HOME'");
        assert_eq!(q(b""), "''");
    }

    #[test]
    fn bytes_that_are_not_printable_utf8_are_escaped() {
        assert_eq!(q(b"bad\xff.log"), "$'bad\\xff.log'");
        assert_eq!(q(b"two\nlines"), "$'two\\nlines'");
        assert_eq!(q(b"it's\x01"), "$'it\\'s\\x01'");
        assert_eq!(q("ü\u{202e}x".as_bytes()), "$'ü\\xe2\\x80\\xaex'");
        assert_eq!(q(b"back\\slash\x7f"), "$'back\\\\slash\\x7f'");
    }

    #[test]
    fn c_strings_escape_like_strace() {
        let c = |b: &[u8]| c_quoted(OsStr::from_bytes(b)).to_string();
        assert_eq!(c(b"/etc/app.conf"), "\"/etc/app.conf\"");
        assert_eq!(c(b"bad\xff \"x\"\n"), "\"bad\\xff \\\"x\\\"\\n\"");
    }

    /// What a shell makes of the quoted form is the name itself.
    #[test]
    fn bash_reads_every_quoted_name_back() {
        let have_bash = std::process::Command::new("bash")
            .args(["-c", "true"])
            .status()
            .is_ok_and(|s| s.success());
        if !have_bash {
            eprintln!("SKIPPED bash_reads_every_quoted_name_back: bash is not installed");
            return;
        }
        let names: Vec<Vec<u8>> = vec![
            b"plain.log".to_vec(),
            b"my log's copy".to_vec(),
            b"bad\xff\xfe.log".to_vec(),
            b"tab\there\nnew\rline\\".to_vec(),
            "ünï\u{202e}code\u{85}".as_bytes().to_vec(),
            b"$(touch pwned)`x`;|&<>*?[]{}!#^\"'".to_vec(),
            (1u8..=255).collect(),
        ];
        let script: String = names
            .iter()
            .map(|n| format!("printf '%s\\0' {}\n", q(n)))
            .collect();
        let out = std::process::Command::new("bash")
            .args(["-c", &script])
            .output()
            .expect("run bash");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let back: Vec<&[u8]> = out.stdout.split(|&b| b == 0).collect();
        for (i, name) in names.iter().enumerate() {
            assert_eq!(back[i], &name[..], "{}", q(name));
        }
    }
}
