//! How the log commands print: the text of a verification and of a defect, and the records of a
//! dump in each output format (text, hex, JSON lines, raw, blob).

use std::path::Path;

use durable::log::{
    self, Defect, Extra, LogFormat, MAX_RECORD, Reader, Record, Status, Verification,
};
use durable::quote::quoted;

use super::{read_failure, usage};
use crate::cli::{DumpArgs, DumpFormat};
use crate::cmd::Failure;
use crate::cmd::json::{self, Data, DumpDamage, DumpOldHeader, DumpRecord, OldHeader};
use crate::cmd::output::Output;

/// The format as reports name it: "native, crc32", "lines, sha256", "proglog store+index …".
pub(super) fn format_desc(v: &Verification) -> String {
    match v.format {
        LogFormat::Native | LogFormat::Lines => format!(
            "{}, {}{}",
            v.format.name(),
            v.algorithm.map_or(
                if v.format == LogFormat::Native {
                    // A start cut short before the byte that names it.
                    "checksum unknown"
                } else {
                    "no checksum"
                },
                |a| a.name()
            ),
            if v.unterminated {
                "; its last line has no newline, which the next append adds"
            } else {
                ""
            }
        ),
        LogFormat::Proglog if v.index_alone => "proglog index".to_string(),
        LogFormat::Proglog => match &v.index {
            Some(index) => format!(
                "proglog store+index {}, no checksums: lengths checked",
                quoted(index)
            ),
            None => "proglog store without index, no checksums: lengths checked".to_string(),
        },
        LogFormat::Aof => match v.aof {
            Some(a) => match (a.tail, a.checkpoint) {
                (Some(t), _) => format!("aof, tail magic at {t}"),
                (None, Some(c)) => format!("aof, outcome {} at {c}", a.outcome.name()),
                _ => format!("aof, outcome {}", a.outcome.name()),
            },
            None => "aof".to_string(),
        },
    }
}

/// What the units of a format are called.
pub(super) fn noun(v: &Verification) -> &'static str {
    match v.format {
        LogFormat::Aof => "segment",
        LogFormat::Proglog if v.index_alone => "entry",
        _ => "record",
    }
}

/// The report of `log verify` for a person; `streamed`: the log was read from standard input
/// (`-`, whatever it is) or a pipe, which recover cannot repair where it is, so the hint says to
/// save it first.
/// `format`: a format to name in the commands of hints (`--log-format`), one detection would
/// not find.
pub(super) fn verification_text(v: &Verification, streamed: bool, format: Option<&str>) -> String {
    let path = quoted(&v.path);
    // An index named with --with-index (not the `<base>.index` beside the store) goes into
    // the hint too: without it, recover would look beside the store and find nothing to do.
    let with_index = match &v.index {
        Some(index)
            if !v.index_alone
                && durable::log::reader::proglog_sibling(&v.path).as_deref()
                    != Some(index.as_path()) =>
        {
            format!("--with-index {} ", durable::quote::shell_word(index))
        }
        _ => String::new(),
    };
    // Read from standard input or a pipe, the log has no name recover could repair it by
    // (`./-` is no file): the hint names the file it is to be saved to, with the options it
    // was read with.
    let log_word = if streamed {
        "FILE".to_string()
    } else {
        durable::quote::shell_word(&v.path)
    };
    let word = format!(
        "{}{with_index}{log_word}`{}",
        format.map_or(String::new(), |f| format!("--log-format {f} ")),
        if streamed {
            " (after saving the stream to FILE)"
        } else {
            ""
        }
    );
    let noun = noun(v);
    let desc = format_desc(v);
    let fix = match v.format {
        LogFormat::Aof => "zero-fills",
        _ => "cuts",
    };
    let mut s = match (v.status, v.main_status) {
        (Status::Clean, _) => format!(
            "{path}: clean, {}, {} bytes ({desc})\n",
            crate::cmd::plural(v.records, noun),
            v.bytes,
        ),
        (Status::TornTail, Status::Clean) => format!(
            "{path}: its index needs repair: {}, {} bytes ({desc}); `durable recover {word} rebuilds the index from the store\n",
            crate::cmd::plural(v.records, noun),
            v.bytes,
        ),
        (Status::TornTail, _) => {
            let after = match v.aof {
                Some(a) => a.nonzero_end.saturating_sub(v.valid_end),
                None => v.bytes - v.valid_end,
            };
            let unfinished = match v.records_unfinished + v.records_after_damage {
                0 => String::new(),
                n => format!(
                    ", {} of an append that {} among them",
                    crate::cmd::plural(n, &format!("valid {noun}")),
                    if v.appending {
                        "is not complete yet"
                    } else {
                        "never completed"
                    }
                ),
            };
            // An appender at work: its append in progress reads as a torn tail, and recover
            // would refuse the log in use; the advice is to look again.
            let advice = if v.appending {
                format!(
                    "another process is appending to it (it holds the log's lock, or the log grew while it was read): the {after} bytes after it are most likely that append, still being written{unfinished}; verify again once it is done"
                )
            } else {
                format!("`durable recover {word} {fix} the {after} bytes after it{unfinished}")
            };
            format!(
                "{path}: torn tail at offset {}: {} before it, valid prefix ends at byte {} of {} ({desc}); {advice}\n",
                v.valid_end,
                crate::cmd::plural(v.records_before_damage, &format!("valid {noun}")),
                v.valid_end,
                v.bytes,
            )
        }
        // A native log whose header is lost, or not its own: its records read with the salt
        // recovered from them.
        (Status::Corrupt, Status::Corrupt)
            if matches!(
                v.defects.first().map(|d| d.evidence),
                Some(log::Evidence::HeaderLost | log::Evidence::HeaderMismatch)
            ) =>
        {
            let what = if v.defects.first().map(|d| d.evidence)
                == Some(log::Evidence::HeaderMismatch)
            {
                "its header does not match its records (another log's, or its salt or checksum changed)"
            } else {
                "its header is lost (zeroed or damaged)"
            };
            format!(
                "{path}: corrupt: {what}, but the salt of the records after it is recovered from them: {} ({} bytes) after it; {} in all, {} bytes ({desc}); `durable recover --force {word} writes a new header with that salt (keeping the old 64 bytes in a sidecar), or `durable log salvage {} NEW` copies every valid record into a new log\n",
                crate::cmd::plural(v.records_after_damage, &format!("valid {noun}")),
                v.bytes_after_damage,
                crate::cmd::plural(v.records, &format!("valid {noun}")),
                v.bytes,
                log_word,
            )
        }
        (Status::Corrupt, Status::Corrupt) if v.format == LogFormat::Aof => format!(
            "{path}: corrupt: no tail or checkpoint magic anywhere ({desc}); the aof package's own recovery calls it corrupted, with its tail at {} (after the last non-zero byte), and does not open it\n",
            v.aof.map_or(0, |a| a.reported_tail)
        ),
        // Damage that is corruption by its kind (an index entry out of order), not by evidence.
        (Status::Corrupt, Status::Corrupt) if v.records_after_damage == 0 => format!(
            "{path}: corrupt at offset {}: {} before it, {} bytes ({desc})\n",
            v.defects.first().map_or(v.valid_end, |d| d.offset),
            crate::cmd::plural(v.records, &format!("valid {noun}")),
            v.bytes,
        ),
        (Status::Corrupt, Status::Corrupt) => format!(
            "{path}: corrupt before the tail: damage at offset {}, and {} ({} bytes) after it; {} in all, {} bytes ({desc})\n",
            v.defects.first().map_or(v.valid_end, |d| d.offset),
            crate::cmd::plural(v.records_after_damage, &format!("valid {noun}")),
            v.bytes_after_damage,
            crate::cmd::plural(v.records, &format!("valid {noun}")),
            v.bytes,
        ),
        (Status::Corrupt, _) => match v.foreign_index {
            Some(f) => format!(
                "{path}: its index is another store's (whole, but only {} of {} entries compared match the store; entry {} names position {}, where record {} is at {}): {}, {} bytes ({desc}); `durable recover --force {word} rebuilds the index from the store\n",
                f.matching,
                f.compared,
                f.entry,
                f.named,
                f.entry,
                f.record,
                crate::cmd::plural(v.records, noun),
                v.bytes,
            ),
            None => format!(
                "{path}: its index is corrupt (entries that do not match the store): {}, {} bytes ({desc}); `durable recover {word} rebuilds the index from the store\n",
                crate::cmd::plural(v.records, noun),
                v.bytes,
            ),
        },
    };
    for d in &v.defects {
        let mut text = defect_text(d);
        if d.in_index && (v.main_status == Status::Corrupt || v.foreign_index.is_some()) {
            // recover leaves the index of a store it refuses alone (--force cuts the store
            // first), and another store's index (--force rebuilds it).
            text = text.replace("; recover rebuilds", "; recover --force rebuilds");
        }
        s.push_str(&format!("  {text}\n"));
    }
    if v.defect_count > v.defects.len() as u64 {
        s.push_str(&format!(
            "  … and {} more defects\n",
            v.defect_count - v.defects.len() as u64
        ));
    }
    s
}

pub(super) fn defect_text(d: &Defect) -> String {
    let detail = match d.kind {
        log::DefectKind::Sequence { expected, found } => {
            format!(" (sequence number {found} where {expected} was expected)")
        }
        log::DefectKind::IndexMismatch {
            entry,
            expected: Some(expected),
            found,
            found_offset,
        } if found_offset != entry => {
            let position = if found == expected {
                format!("its position {found} is right")
            } else {
                format!("it holds position {found}, where record {entry} is at {expected}")
            };
            format!(
                " (entry {entry} holds relative offset {found_offset}, not {entry}; {position})"
            )
        }
        log::DefectKind::IndexMismatch {
            entry,
            expected: Some(expected),
            found,
            ..
        } => format!(" (entry {entry} holds position {found}; record {entry} is at {expected})"),
        log::DefectKind::IndexMismatch {
            entry,
            expected: None,
            found,
            ..
        } => format!(
            " (entry {entry}, naming position {found}, is out of order: its relative offset is not {entry} or its position not between the ones around it)"
        ),
        log::DefectKind::IndexMissing { records } => {
            format!(
                " ({} of the store without an index entry)",
                crate::cmd::plural(records, "record")
            )
        }
        log::DefectKind::NoMagic {
            checkpoint: Some(c),
        } => format!(" (the last non-zero bytes are not a magic; the last checkpoint ends at {c})"),
        log::DefectKind::NoMagic { checkpoint: None } => {
            " (no tail or checkpoint magic in the file)".to_string()
        }
        _ => String::new(),
    };
    let place = if d.in_index { "index offset" } else { "offset" };
    let verdict = match d.evidence {
        _ if d.in_index && d.is_torn_tail() => "; recover rebuilds the index".to_string(),
        _ if d.in_index => "; recover rebuilds the index from the store".to_string(),
        _ if d.kind.always_corrupt() => "; corruption".to_string(),
        log::Evidence::NothingAfter => "; nothing valid after it (torn tail)".to_string(),
        log::Evidence::ValidAfter(next) => format!("; next valid record at offset {next}"),
        log::Evidence::EndOfFile => "; torn tail: the file ends inside it".to_string(),
        log::Evidence::ZeroFill => "; torn tail: only zeros from here to the end".to_string(),
        log::Evidence::Zeros(at) => {
            format!("; torn tail: zeros at offset {at}, where a write never reached the disk")
        }
        log::Evidence::LaterAppend(at) => format!(
            "; corruption: a later append starts at offset {at}, so this one had been acknowledged"
        ),
        log::Evidence::NotTorn(at)
            if at == d.offset
                && matches!(
                    d.kind,
                    log::DefectKind::Sequence { .. } | log::DefectKind::BrokenAppend
                ) =>
        {
            "; corruption: the record there checks out whole, so no write of it was lost".to_string()
        }
        log::Evidence::NotTorn(at) if at == d.offset => {
            "; corruption: not what a write that never reached the disk leaves (no zeros, and the file does not end inside it)".to_string()
        }
        log::Evidence::HeaderLost => "; corruption: the file header is lost (zeroed or damaged); the salt and checksum of the records after it are recovered from them".to_string(),
        log::Evidence::HeaderMismatch => "; corruption: the file header does not match its records (it checks, but none of them validates under its salt and checksum: another log's header, or its salt or checksum changed); the salt and checksum of the records after it are recovered from them".to_string(),
        log::Evidence::ZeroFile => "; corruption: the whole file is zero bytes, no header: a log whose start never reached the disk cannot be told from one whose records were zeroed".to_string(),
        log::Evidence::NotTorn(at) => format!(
            "; corruption: the damage at offset {at} after it is not what an unfinished write leaves"
        ),
    };
    let resync = match (d.next_valid, d.evidence) {
        (Some(next), e) if !matches!(e, log::Evidence::ValidAfter(_)) && !d.in_index => {
            format!("; next valid record at offset {next}")
        }
        _ => String::new(),
    };
    let cut = if d.cut < d.offset {
        format!(" (in the append that starts at offset {})", d.cut)
    } else {
        String::new()
    };
    format!(
        "{place} {}{cut}: {}{detail}{verdict}{resync}",
        d.offset,
        d.kind.name()
    )
}

/// Where a streamed payload goes: `Ok(false)` once stdout is closed.
pub(super) type Sink<'a> = dyn FnMut(&mut Output, &[u8]) -> Result<bool, Failure> + 'a;

/// Bytes of a payload shown by `--format text`.
pub(super) const SHOWN: usize = 1024;

/// Prints records and damage in the chosen output format.
pub(super) struct Dumper<'a> {
    pub(super) args: &'a DumpArgs,
    pub(super) format: DumpFormat,
    pub(super) checksum_name: &'static str,
    pub(super) native: bool,
    /// Damage with valid records after it gets a hint that --resync reads on.
    pub(super) resync_hint: bool,
    /// `--format blob`: the one record selected, printed at the end.
    pub(super) blob: Option<Record>,
    /// `--format raw`: payloads holding the separator (how many, and the first's number).
    pub(super) split: Option<(u64, u64)>,
}

/// Feed the payload of `record` to `f`, from memory if the reader holds it. A failure of `f`
/// (stdout) is kept apart from read errors; `Ok(false)` once stdout is closed.
pub(super) fn stream_payload(
    reader: &mut dyn Reader,
    log: &Path,
    record: &Record,
    out: &mut Output,
    f: &mut Sink<'_>,
) -> Result<bool, Failure> {
    if let Some(p) = reader.payload(record) {
        return f(out, p);
    }
    let mut result: Result<bool, Failure> = Ok(true);
    reader
        .read_payload(record, &mut |chunk| {
            if let Ok(true) = result {
                result = f(out, chunk);
            }
            Ok(())
        })
        .map_err(|e| read_failure(log, e))?;
    result
}

impl Dumper<'_> {
    /// Print one record; `false` when stdout is closed (stop quietly). Payloads are streamed:
    /// memory stays bounded whatever a record's length.
    pub(super) fn record(
        &mut self,
        out: &mut Output,
        reader: &mut dyn Reader,
        record: &Record,
    ) -> Result<bool, Failure> {
        let log = self.args.log.as_path();
        let mut stream =
            |out: &mut Output, f: &mut Sink<'_>| stream_payload(reader, log, record, out, f);
        let checksum = record.checksum.map_or("-".to_string(), |c| c.to_hex());
        let ok = match self.format {
            DumpFormat::Blob => {
                if let Some(first) = &self.blob {
                    return Err(usage(format!(
                        "{}: --format blob prints exactly one record, and the selection holds more (#{} at offset {} and #{} at offset {}); narrow it with --index N, --first 1 or --last 1",
                        quoted(log),
                        first.seq,
                        first.offset,
                        record.seq,
                        record.offset
                    )));
                }
                self.blob = Some(*record);
                true
            }
            DumpFormat::Raw => {
                // Every payload is terminated, the last one too, as every line tool expects.
                let sep = if self.args.null { 0 } else { b'\n' };
                let mut split = false;
                let ok = stream(out, &mut |out, chunk| {
                    split |= memchr::memchr(sep, chunk).is_some();
                    out.bytes(chunk)
                })? && out.bytes(&[sep])?;
                if split {
                    let first = self.split.map_or(record.seq, |(_, first)| first);
                    let count = self.split.map_or(0, |(count, _)| count);
                    self.split = Some((count + 1, first));
                }
                ok
            }
            DumpFormat::Text => {
                let mut head = Vec::new();
                stream(out, &mut |_, chunk| {
                    let room = SHOWN.saturating_sub(head.len());
                    head.extend_from_slice(&chunk[..room.min(chunk.len())]);
                    Ok(true)
                })?;
                let shown = match record.extra {
                    Extra::IndexEntry(rel, pos) => format!("entry offset {rel} position {pos}"),
                    _ => escape(&head, record.len),
                };
                out.text(&format!(
                    "{:>10}  #{:<6} len {:<8} {} {}{}  {}\n",
                    record.offset,
                    record.seq,
                    record.len,
                    self.checksum_name,
                    checksum,
                    extra_text(record),
                    shown
                ))?
            }
            DumpFormat::Hex => {
                let title = format!(
                    "record #{} at offset {}, {} bytes, {} {}{}\n",
                    record.seq,
                    record.offset,
                    record.len,
                    self.checksum_name,
                    checksum,
                    extra_text(record)
                );
                let mut hex = HexDump::default();
                out.text(&title)?
                    && stream(out, &mut |out, chunk| {
                        let mut s = String::new();
                        hex.feed(&mut s, chunk);
                        out.text(&s)
                    })?
                    && {
                        let mut s = String::new();
                        hex.finish(&mut s);
                        out.text(&s)?
                    }
            }
            DumpFormat::Json => {
                let mut line = DumpRecord {
                    index: record.index,
                    offset: record.offset,
                    // Only native records carry a sequence number.
                    seq: self.native.then_some(record.seq),
                    length: record.len,
                    checksum: record.checksum.map(|c| c.to_hex()),
                    extra: record.extra.into(),
                    payload: None,
                };
                if record.len <= MAX_RECORD {
                    let mut payload = Vec::new();
                    stream(out, &mut |_, chunk| {
                        payload.extend_from_slice(chunk);
                        Ok(true)
                    })?;
                    line.payload = Some(Data::bytes(&payload));
                    out.line(&json::line(&line)?)?
                } else {
                    // Larger than any record durable writes (an aof segment, a proglog record):
                    // base64, streamed, so memory stays bounded.
                    let text = json::line(&line)?;
                    let open = text.strip_suffix('}').unwrap_or(&text);
                    let mut base64 = json::Base64Stream::default();
                    let mut ok = out.text(open)? && out.text(",\"payload\":{\"bytes\":\"")?;
                    ok = ok && stream(out, &mut |out, chunk| out.text(&base64.feed(chunk)))?;
                    ok && out.text(&base64.finish())? && out.line("\"}}")?
                }
            }
        };
        Ok(ok)
    }

    /// The 64 bytes a header sidecar keeps (`recover --force` replaced them with a new
    /// header): the old header, decoded when it decodes; no records, no damage.
    pub(super) fn old_header(&self, out: &mut Output, raw: &[u8; 64]) -> Result<bool, Failure> {
        let decoded = durable::log::format::FileHeader::decode(raw);
        let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let json = OldHeader {
            offset: 0,
            length: raw.len() as u64,
            decodes: decoded.is_ok(),
            version: decoded.as_ref().ok().map(|h| h.version),
            checksum: decoded.as_ref().ok().map(|h| h.algorithm.name()),
            salt: decoded.as_ref().ok().map(|h| hex(&h.salt)),
            created: decoded.as_ref().ok().map(|h| h.created),
        };
        let text = match &decoded {
            Ok(h) => format!(
                "version {}, checksum {}, salt {}, created {} (Unix seconds)",
                h.version,
                h.algorithm.name(),
                hex(&h.salt),
                h.created
            ),
            Err(_) if raw.iter().all(|b| *b == 0) => "64 zero bytes: no header".to_string(),
            Err(e) => format!(
                "it does not decode: {}",
                match e {
                    durable::log::format::HeaderError::NotALog => "no log magic",
                    durable::log::format::HeaderError::Damaged => "its checksum does not match",
                    durable::log::format::HeaderError::Unsupported =>
                        "a version, flags or checksum this durable does not know",
                    durable::log::format::HeaderError::Truncated => "it is cut short",
                }
            ),
        };
        match self.format {
            DumpFormat::Json => out.line(&json::line(&DumpOldHeader { old_header: json })?),
            // No records in them: nothing for the data stream.
            DumpFormat::Raw | DumpFormat::Blob => Ok(true),
            DumpFormat::Text => out.text(&format!("{:>10}  OLD HEADER {text}\n", 0)),
            DumpFormat::Hex => {
                let mut s = format!("old header at offset 0, 64 bytes: {text}\n");
                let mut dump = HexDump::default();
                dump.feed(&mut s, raw);
                dump.finish(&mut s);
                out.text(&s)
            }
        }
    }

    pub(super) fn defect(&self, out: &mut Output, defect: &Defect) -> Result<bool, Failure> {
        match self.format {
            DumpFormat::Json => out.line(&json::line(&DumpDamage {
                damage: defect.into(),
            })?),
            DumpFormat::Raw | DumpFormat::Blob => {
                // Not into the data stream: on stderr.
                out.flush()?;
                eprintln!(
                    "durable: {}: {}",
                    quoted(&self.args.log),
                    defect_text(defect)
                );
                Ok(true)
            }
            DumpFormat::Text | DumpFormat::Hex => {
                let mut s = format!("{:>10}  DAMAGE {}\n", defect.offset, defect_text(defect));
                if defect.next_valid.is_some() && self.resync_hint {
                    s.push_str(
                        "            (--resync continues with the records after the damage)\n",
                    );
                }
                out.text(&s)
            }
        }
    }

    /// After the last record: the blob, and what raw output could not frame.
    pub(super) fn finish(
        &mut self,
        out: &mut Output,
        reader: &mut dyn Reader,
    ) -> Result<(), Failure> {
        let log = self.args.log.as_path();
        if self.format == DumpFormat::Blob {
            let Some(record) = self.blob.take() else {
                return Err(usage(format!(
                    "{}: --format blob prints exactly one record, and the selection holds none",
                    quoted(log)
                )));
            };
            stream_payload(reader, log, &record, out, &mut |out, chunk| {
                out.bytes(chunk)
            })?;
        }
        if let Some((count, first)) = self.split {
            out.flush()?;
            let (what, option) = if self.args.null {
                ("a NUL", "--format json")
            } else {
                (
                    "a newline",
                    "-0 (if no payload holds a NUL) or --format json",
                )
            };
            eprintln!(
                "durable: warning: {}: {} (the first #{first}) {} {what}, so {} cannot be told apart from record ends in --format raw; use {option}",
                quoted(log),
                crate::cmd::plural(count, "payload"),
                if count == 1 { "holds" } else { "hold" },
                if count == 1 { "it" } else { "they" },
            );
        }
        Ok(())
    }
}

/// What text and hex output add for a record of some formats.
pub(super) fn extra_text(record: &Record) -> String {
    match record.extra {
        Extra::StoreEntry(Some((o, p))) => format!(" [index entry {o} -> {p}]"),
        Extra::StoreEntry(None) => " [no index entry]".to_string(),
        Extra::AofSegment {
            ends_with: Some(m),
            magic_offset: Some(at),
        } => format!(" [{} magic at {at}]", m.name()),
        _ => String::new(),
    }
}

/// A payload for a terminal: printable UTF-8 as it is; backslashes, control characters,
/// bidirectional-text controls and bytes that are not UTF-8 escaped; long payloads cut (never
/// inside a character).
pub(super) fn escape(head: &[u8], total: u64) -> String {
    let shown = if total > head.len() as u64 {
        without_cut_char(head)
    } else {
        head
    };
    let mut s = String::with_capacity(shown.len() + 16);
    for chunk in shown.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => s.push_str("\\\\"),
                '\n' => s.push_str("\\n"),
                '\r' => s.push_str("\\r"),
                '\t' => s.push_str("\\t"),
                c if c.is_ascii() && durable::quote::is_hidden(c) => {
                    s.push_str(&format!("\\x{:02x}", u32::from(c)));
                }
                c if durable::quote::is_hidden(c) => {
                    s.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
                }
                c => s.push(c),
            }
        }
        for b in chunk.invalid() {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    if total > shown.len() as u64 {
        s.push_str(&format!("… (+{} bytes)", total - shown.len() as u64));
    }
    s
}

/// `bytes` without a UTF-8 character cut short at its end.
pub(super) fn without_cut_char(bytes: &[u8]) -> &[u8] {
    for i in (bytes.len().saturating_sub(3)..bytes.len()).rev() {
        if bytes[i] & 0xc0 != 0x80 {
            // The last byte that starts a character: is that character complete?
            return match std::str::from_utf8(&bytes[i..]) {
                Err(e) if e.error_len().is_none() => &bytes[..i],
                _ => bytes,
            };
        }
    }
    bytes
}

/// `hexdump -C` style lines, fed a payload in pieces.
#[derive(Default)]
pub(super) struct HexDump {
    /// Offset of the next line.
    pub(super) at: usize,
    /// Bytes of a line not yet complete.
    pub(super) carry: Vec<u8>,
}

impl HexDump {
    pub(super) fn feed(&mut self, s: &mut String, mut bytes: &[u8]) {
        if !self.carry.is_empty() {
            let take = (16 - self.carry.len()).min(bytes.len());
            self.carry.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.carry.len() < 16 {
                return;
            }
            let line = std::mem::take(&mut self.carry);
            self.line(s, &line);
        }
        let whole = bytes.len() / 16 * 16;
        for line in bytes[..whole].chunks(16) {
            self.line(s, line);
        }
        self.carry.extend_from_slice(&bytes[whole..]);
    }

    pub(super) fn finish(&mut self, s: &mut String) {
        if !self.carry.is_empty() {
            let line = std::mem::take(&mut self.carry);
            self.line(s, &line);
        }
    }

    pub(super) fn line(&mut self, s: &mut String, line: &[u8]) {
        s.push_str(&format!("  {:08x}  ", self.at));
        for j in 0..16 {
            match line.get(j) {
                Some(b) => s.push_str(&format!("{b:02x} ")),
                None => s.push_str("   "),
            }
            if j == 7 {
                s.push(' ');
            }
        }
        s.push_str(" |");
        for &b in line {
            s.push(if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            });
        }
        s.push_str("|\n");
        self.at += line.len();
    }
}
