//! The JSON every command prints (`--json`, `log dump --format json`): one typed struct per
//! shape, so a shape is defined in one place. docs/JSON.md documents every field and
//! docs/json-schema.json is the machine-readable schema; a test checks the output against the
//! schema, and the schema against the doc.
//!
//! Every line is one object with `"schema": SCHEMA_VERSION` first ([`line`] adds it). Paths
//! and payloads are [`Data`]: `{"text": …}` when they are UTF-8, `{"bytes": base64}` when they
//! are not, so nothing a file system or a log holds can make the output invalid or lossy.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use durable::log::{Defect as LogDefect, DefectKind, Extra, Verification};
use serde::Serialize;

use super::Failure;
use crate::exit::Exit;

/// The version of the JSON shapes; it changes when a field is removed or changes meaning (a
/// new field does not change it).
pub const SCHEMA_VERSION: u32 = 1;

/// One JSON line: `value` with the schema version first.
pub fn line<T: Serialize>(value: &T) -> Result<String, Failure> {
    #[derive(Serialize)]
    struct Line<'a, T> {
        schema: u32,
        #[serde(flatten)]
        value: &'a T,
    }
    serde_json::to_string(&Line {
        schema: SCHEMA_VERSION,
        value,
    })
    .map_err(|e| {
        anyhow::Error::new(e)
            .context("could not format the JSON output")
            .into()
    })
}

/// A path or a payload: `{"text": "…"}` when its bytes are UTF-8, else `{"bytes": "<base64>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Data {
    /// The bytes, which are UTF-8.
    Text(String),
    /// The bytes in standard base64 (RFC 4648, with padding).
    Bytes(String),
}

impl Data {
    pub fn bytes(bytes: &[u8]) -> Data {
        match std::str::from_utf8(bytes) {
            Ok(text) => Data::Text(text.to_string()),
            Err(_) => Data::Bytes(BASE64.encode(bytes)),
        }
    }

    pub fn path(path: &Path) -> Data {
        use std::os::unix::ffi::OsStrExt;
        Data::bytes(path.as_os_str().as_bytes())
    }

    pub fn opt_path(path: Option<&Path>) -> Option<Data> {
        path.map(Data::path)
    }
}

/// Base64 of a payload too large to hold in memory, written as it is read: whole 3-byte
/// groups go out at once, the rest waits for the next chunk.
#[derive(Default)]
pub struct Base64Stream {
    carry: Vec<u8>,
}

impl Base64Stream {
    /// The base64 text of `chunk` that can be written now.
    pub fn feed(&mut self, mut chunk: &[u8]) -> String {
        let mut out = String::new();
        if !self.carry.is_empty() {
            let take = (3 - self.carry.len()).min(chunk.len());
            self.carry.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.carry.len() < 3 {
                return out;
            }
            BASE64.encode_string(&self.carry, &mut out);
            self.carry.clear();
        }
        let whole = chunk.len() / 3 * 3;
        BASE64.encode_string(&chunk[..whole], &mut out);
        self.carry.extend_from_slice(&chunk[whole..]);
        out
    }

    /// The base64 text of what is left, with padding.
    pub fn finish(&mut self) -> String {
        let out = BASE64.encode(&self.carry);
        self.carry.clear();
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Errors shared by the commands.

/// A failure, on the line where the object it stands for would have been: `status` (log
/// verify, log dump) or `outcome` (recover, log salvage) is `"error"`, as the command's other
/// objects name their verdict.
#[derive(Debug, Serialize)]
pub struct ErrorLine {
    #[serde(flatten)]
    tag: ErrorTag,
    /// The file the error is about (`null` when it is about none).
    path: Option<Data>,
    /// The sentence printed on stderr.
    error: String,
    exit_code: Exit,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum ErrorTag {
    Status { status: &'static str },
    Outcome { outcome: &'static str },
}

impl ErrorLine {
    /// An error of `log verify` or `log dump`.
    pub fn status(path: Option<&Path>, error: String, exit_code: Exit) -> ErrorLine {
        ErrorLine {
            tag: ErrorTag::Status { status: "error" },
            path: Data::opt_path(path),
            error,
            exit_code,
        }
    }

    /// An error of `recover` or `log salvage`.
    pub fn outcome(path: Option<&Path>, error: String, exit_code: Exit) -> ErrorLine {
        ErrorLine {
            tag: ErrorTag::Outcome { outcome: "error" },
            path: Data::opt_path(path),
            error,
            exit_code,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// durable save

/// `save --json`: a save that succeeded.
#[derive(Debug, Serialize)]
pub struct SaveResult {
    pub target: Data,
    pub path: Data,
    pub outcome: &'static str,
    pub strategy: &'static str,
    pub sync: &'static str,
    pub bytes: u64,
    pub created: bool,
    pub backup: Option<Data>,
    pub settled_journal: Option<SettledJournal>,
    pub warnings: Vec<String>,
    pub steps: Vec<StepDone>,
    pub exit_code: Exit,
}

/// `save --json`: a save that failed.
#[derive(Debug, Serialize)]
pub struct SaveFailure {
    pub target: Data,
    pub outcome: &'static str,
    pub aftermath: &'static str,
    pub error: String,
    pub exit_code: Exit,
    pub steps: Vec<StepDone>,
}

/// `save --explain --json`.
#[derive(Debug, Serialize)]
pub struct SavePlan {
    pub explain: bool,
    pub target: Data,
    pub path: Data,
    pub strategy: &'static str,
    pub sync: &'static str,
    pub steps: Vec<PlannedStep>,
    pub notes: Vec<String>,
    pub exit_code: Exit,
}

/// A step a save performed.
#[derive(Debug, Serialize)]
pub struct StepDone {
    pub step: &'static str,
    pub path: Data,
    pub micros: u64,
}

impl From<&durable::StepRecord> for StepDone {
    fn from(s: &durable::StepRecord) -> Self {
        StepDone {
            step: s.step.name(),
            path: Data::path(&s.path),
            micros: u64::try_from(s.duration.as_micros()).unwrap_or(u64::MAX),
        }
    }
}

/// A step of a plan.
#[derive(Debug, Serialize)]
pub struct PlannedStep {
    pub step: &'static str,
    pub calls: String,
}

/// An interrupted journaled save settled before this one.
#[derive(Debug, Serialize)]
pub struct SettledJournal {
    pub action: &'static str,
    pub journal: Data,
    /// Completed: bytes written to the target.
    pub bytes: Option<u64>,
    /// Rolled back: why the journal was not valid.
    pub reason: Option<String>,
}

impl From<&durable::Settled> for SettledJournal {
    fn from(s: &durable::Settled) -> Self {
        match s {
            durable::Settled::Completed { journal, bytes } => SettledJournal {
                action: "completed",
                journal: Data::path(journal),
                bytes: Some(*bytes),
                reason: None,
            },
            durable::Settled::RolledBack { journal, reason } => SettledJournal {
                action: "rolled-back",
                journal: Data::path(journal),
                bytes: None,
                reason: Some(reason.clone()),
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// durable log verify

/// `log verify --json`: one checked file.
#[derive(Debug, Serialize)]
pub struct VerifyResult {
    pub path: Data,
    pub format: &'static str,
    pub checksum: Option<&'static str>,
    pub status: &'static str,
    pub records: u64,
    pub bytes: u64,
    pub valid_end: u64,
    pub records_before_damage: u64,
    pub records_unfinished: u64,
    pub records_after_damage: u64,
    pub bytes_after_damage: u64,
    pub defect_count: u64,
    pub defects: Vec<Defect>,
    pub appending: bool,
    pub exit_code: Exit,
    #[serde(flatten)]
    pub proglog: Option<VerifyProglog>,
    #[serde(flatten)]
    pub aof: Option<VerifyAof>,
    #[serde(flatten)]
    pub lines: Option<VerifyLines>,
}

/// What `log verify` adds for lines.
#[derive(Debug, Serialize)]
pub struct VerifyLines {
    pub unterminated: bool,
}

/// What `log verify` adds for proglog.
#[derive(Debug, Serialize)]
pub struct VerifyProglog {
    pub store: Option<Data>,
    pub index: Option<Data>,
    pub index_status: &'static str,
    pub index_foreign: bool,
}

/// What `log verify` adds for aof.
#[derive(Debug, Serialize)]
pub struct VerifyAof {
    pub outcome: &'static str,
    pub logical_end: u64,
    pub tail: u64,
    pub checkpoint: Option<u64>,
}

impl VerifyResult {
    pub fn new(v: &Verification, exit_code: Exit) -> VerifyResult {
        VerifyResult {
            path: Data::path(&v.path),
            format: v.format.name(),
            checksum: v.algorithm.map(|a| a.name()),
            status: v.status.name(),
            records: v.records,
            bytes: v.bytes,
            valid_end: v.valid_end,
            records_before_damage: v.records_before_damage,
            records_unfinished: v.records_unfinished,
            records_after_damage: v.records_after_damage,
            bytes_after_damage: v.bytes_after_damage,
            defect_count: v.defect_count,
            defects: v.defects.iter().map(Defect::from).collect(),
            appending: v.appending,
            exit_code,
            proglog: (v.format == durable::log::LogFormat::Proglog).then(|| VerifyProglog {
                store: (!v.index_alone).then(|| Data::path(&v.path)),
                index: if v.index_alone {
                    Some(Data::path(&v.path))
                } else {
                    Data::opt_path(v.index.as_deref())
                },
                // An index read alone is the file verified: its verdict is the index's.
                index_status: if v.index_alone {
                    v.main_status.name()
                } else {
                    v.index_status.name()
                },
                index_foreign: v.foreign_index.is_some(),
            }),
            aof: v.aof.map(|a| VerifyAof {
                outcome: a.outcome.name(),
                logical_end: a.logical_end,
                // The package's own recovery result: its Tail and Checkpoint.
                tail: a.reported_tail,
                checkpoint: a.checkpoint,
            }),
            lines: (v.format == durable::log::LogFormat::Lines).then_some(VerifyLines {
                unterminated: v.unterminated,
            }),
        }
    }

    /// A file that starts like a native log but whose header is damaged: no record can be
    /// checked.
    pub fn bad_header(path: &Path, size: u64, why: &str) -> VerifyResult {
        VerifyResult {
            path: Data::path(path),
            format: durable::log::LogFormat::Native.name(),
            checksum: None,
            status: durable::log::Status::Corrupt.name(),
            records: 0,
            bytes: size,
            valid_end: 0,
            records_before_damage: 0,
            records_unfinished: 0,
            records_after_damage: 0,
            bytes_after_damage: 0,
            defect_count: 1,
            // A log is created whole (its header flushed, then renamed into place), so a header
            // cut short or damaged is not what a crash leaves: corruption, not a torn tail.
            defects: vec![Defect {
                detail: Some(why.to_string()),
                ..Defect::from(&LogDefect {
                    evidence: durable::log::Evidence::NotTorn(0),
                    ..LogDefect::new(0, DefectKind::BadHeader, None)
                })
            }],
            appending: false,
            exit_code: Exit::Corruption,
            proglog: None,
            aof: None,
            lines: None,
        }
    }
}

/// `log verify --json`: a file in a directory that is not a log.
#[derive(Debug, Serialize)]
pub struct VerifySkipped {
    pub path: Data,
    pub status: &'static str,
    pub reason: String,
    pub exit_code: Exit,
}

/// One defect of a log (in `log verify` and `log dump`).
#[derive(Debug, Serialize)]
pub struct Defect {
    pub offset: u64,
    pub kind: &'static str,
    pub torn_tail: bool,
    pub evidence: &'static str,
    pub evidence_offset: Option<u64>,
    pub cut: u64,
    pub next_valid: Option<u64>,
    pub file: &'static str,
    #[serde(flatten)]
    pub facts: DefectFacts,
    /// bad-header found by `log verify`: why the header was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What some defect kinds add.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum DefectFacts {
    None {},
    Sequence {
        expected_seq: u64,
        found_seq: u64,
    },
    IndexMismatch {
        entry: u64,
        expected_position: Option<u64>,
        found_position: u64,
        found_offset: u64,
    },
    IndexMissing {
        records_without_entry: u64,
    },
    NoMagic {
        checkpoint_end: Option<u64>,
    },
}

impl From<&LogDefect> for Defect {
    fn from(d: &LogDefect) -> Self {
        Defect {
            offset: d.offset,
            kind: d.kind.name(),
            torn_tail: d.is_torn_tail(),
            evidence: d.evidence.name(),
            evidence_offset: d.evidence_offset(),
            cut: d.cut,
            next_valid: d.next_valid,
            file: if d.in_index { "index" } else { "log" },
            facts: match d.kind {
                DefectKind::Sequence { expected, found } => DefectFacts::Sequence {
                    expected_seq: expected,
                    found_seq: found,
                },
                DefectKind::IndexMismatch {
                    entry,
                    expected,
                    found,
                    found_offset,
                } => DefectFacts::IndexMismatch {
                    entry,
                    expected_position: expected,
                    found_position: found,
                    found_offset,
                },
                DefectKind::IndexMissing { records } => DefectFacts::IndexMissing {
                    records_without_entry: records,
                },
                DefectKind::NoMagic { checkpoint } => DefectFacts::NoMagic {
                    checkpoint_end: checkpoint,
                },
                _ => DefectFacts::None {},
            },
            detail: None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// durable log dump --format json

/// One record. `payload` is left out when it is streamed after the rest ([`DumpRecord`] is
/// then printed by hand around the base64; see `cmd::log`).
#[derive(Debug, Serialize)]
pub struct DumpRecord {
    pub index: u64,
    pub offset: u64,
    pub seq: Option<u64>,
    pub length: u64,
    pub checksum: Option<String>,
    #[serde(flatten)]
    pub extra: DumpExtra,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Data>,
}

/// What some formats add to a record.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum DumpExtra {
    None {},
    /// A native record: its place in its append.
    Native {
        starts_append: bool,
        ends_append: bool,
    },
    /// A proglog store record read with its index.
    StoreEntry {
        index_entry: Option<IndexEntry>,
    },
    /// A proglog index entry read alone.
    IndexEntry {
        entry_offset: u32,
        position: u64,
    },
    /// An aof segment.
    AofSegment {
        ends_with: Option<&'static str>,
        magic_offset: Option<u64>,
    },
}

/// A proglog index entry.
#[derive(Debug, Serialize)]
pub struct IndexEntry {
    pub offset: u32,
    pub position: u64,
}

impl From<Extra> for DumpExtra {
    fn from(extra: Extra) -> Self {
        match extra {
            Extra::None => DumpExtra::None {},
            Extra::Native {
                starts_append,
                ends_append,
            } => DumpExtra::Native {
                starts_append,
                ends_append,
            },
            Extra::StoreEntry(entry) => DumpExtra::StoreEntry {
                index_entry: entry.map(|(offset, position)| IndexEntry { offset, position }),
            },
            Extra::IndexEntry(entry_offset, position) => DumpExtra::IndexEntry {
                entry_offset,
                position,
            },
            Extra::AofSegment {
                ends_with,
                magic_offset,
            } => DumpExtra::AofSegment {
                ends_with: ends_with.map(|m| m.name()),
                magic_offset,
            },
        }
    }
}

/// Damage met while dumping.
#[derive(Debug, Serialize)]
pub struct DumpDamage {
    pub damage: Defect,
}

/// The bytes a header sidecar keeps, shown by `log dump`.
#[derive(Debug, Serialize)]
pub struct DumpOldHeader {
    pub old_header: OldHeader,
}

/// The 64 bytes `recover --force` replaced with a new header, decoded when they decode.
#[derive(Debug, Serialize)]
pub struct OldHeader {
    pub offset: u64,
    pub length: u64,
    pub decodes: bool,
    pub version: Option<u16>,
    pub checksum: Option<&'static str>,
    pub salt: Option<String>,
    pub created: Option<u64>,
}

/// `log dump --stats`, on stderr.
#[derive(Debug, Serialize)]
pub struct DumpStats {
    pub bytes_read: u64,
    pub reads: u64,
}

// ---------------------------------------------------------------------------------------------
// durable recover

/// A log recovered (or checked, or refused).
#[derive(Debug, Serialize)]
pub struct RecoverLog {
    pub path: Data,
    pub kind: &'static str,
    pub format: &'static str,
    pub status: &'static str,
    pub outcome: &'static str,
    pub records: u64,
    pub bytes_kept: u64,
    pub bytes_removed: u64,
    pub sidecar: Option<Data>,
    pub records_after_damage: u64,
    pub bytes_after_damage: u64,
    pub dry_run: bool,
    pub exit_code: Exit,
}

/// A proglog store's index, after its store.
#[derive(Debug, Serialize)]
pub struct RecoverIndex {
    pub path: Data,
    pub kind: &'static str,
    pub format: &'static str,
    pub part: &'static str,
    pub store: Data,
    pub status: &'static str,
    pub outcome: &'static str,
    pub entries: u64,
    pub bytes_kept: u64,
    pub bytes_removed: u64,
    pub sidecar: Option<Data>,
    pub dry_run: bool,
    pub exit_code: Exit,
}

/// An interrupted journaled save.
#[derive(Debug, Serialize)]
pub struct RecoverJournal {
    pub path: Data,
    pub kind: &'static str,
    pub journal: Data,
    pub outcome: &'static str,
    pub dry_run: bool,
    pub exit_code: Exit,
}

/// A temporary file of an interrupted save.
#[derive(Debug, Serialize)]
pub struct RecoverTemp {
    pub path: Data,
    pub kind: &'static str,
    pub outcome: &'static str,
    pub dry_run: bool,
    pub exit_code: Exit,
}

/// A file that recover leaves alone: not ours (in a directory), a sidecar, or a file named
/// like a journal without our header.
#[derive(Debug, Serialize)]
pub struct RecoverOther {
    pub path: Data,
    pub kind: &'static str,
    pub outcome: &'static str,
    /// A sidecar: the log its bytes came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<Data>,
    /// A sidecar: where they were in that log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// A journal look-alike: why it may not be ours.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub exit_code: Exit,
}

/// A directory recover did not walk into: a kernel pseudo-filesystem.
#[derive(Debug, Serialize)]
pub struct RecoverSkipped {
    pub path: Data,
    pub kind: &'static str,
    pub outcome: &'static str,
    pub filesystem: &'static str,
    pub exit_code: Exit,
}

// ---------------------------------------------------------------------------------------------
// durable log salvage

/// `log salvage --json`.
#[derive(Debug, Serialize)]
pub struct SalvageResult {
    pub src: Data,
    pub dst: Data,
    pub outcome: &'static str,
    pub records: u64,
    pub skipped: Vec<SkippedRegion>,
    pub skipped_bytes: u64,
    /// SRC's header was lost: the checksum its records were read with (their salt recovered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_lost: Option<&'static str>,
    /// The format SRC was read as.
    pub src_format: &'static str,
    /// The new log's format: `lines` for a lines log, else `native`; `empty` when a lines
    /// salvage copied no entry (the new file is empty).
    pub dst_format: &'static str,
    pub exit_code: Exit,
}

/// A damaged region salvage skipped.
#[derive(Debug, Serialize)]
pub struct SkippedRegion {
    pub offset: u64,
    pub bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_text_for_utf8_and_base64_otherwise() {
        assert_eq!(
            serde_json::to_string(&Data::bytes("ünï".as_bytes())).unwrap(),
            r#"{"text":"ünï"}"#
        );
        assert_eq!(
            serde_json::to_string(&Data::bytes(b"a\xff")).unwrap(),
            r#"{"bytes":"Yf8="}"#
        );
    }

    #[test]
    fn streamed_base64_equals_base64_of_the_whole() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        for split in [1, 2, 3, 4, 5, 7, 64, 999] {
            let mut s = Base64Stream::default();
            let mut out = String::new();
            for chunk in data.chunks(split) {
                out.push_str(&s.feed(chunk));
            }
            out.push_str(&s.finish());
            assert_eq!(out, BASE64.encode(&data), "chunks of {split}");
        }
    }

    #[test]
    fn every_line_starts_with_the_schema_version() {
        let text = line(&DumpStats {
            bytes_read: 1,
            reads: 2,
        })
        .ok()
        .unwrap();
        assert_eq!(text, r#"{"schema":1,"bytes_read":1,"reads":2}"#);
    }
}
