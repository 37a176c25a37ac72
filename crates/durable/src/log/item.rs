//! What every log reader yields, whatever the format: valid records ([`Record`], with the facts
//! only some formats have in [`Extra`]), damaged regions ([`Defect`]: what is wrong there, and
//! the [`Evidence`] that makes it a torn tail or corruption), and the [`Item`]s a scan steps
//! through. The readers (native, lines, proglog, aof) produce them; `verify`, `dump`,
//! `recover` and `salvage` consume them.

use super::format::Checksum;

/// Valid records a reader stepped over in one go ([`super::Reader::skip_valid`]), added up: what
/// returning each as an [`Item::Record`] would have told a count of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    /// How many.
    pub count: u64,
    /// Their bytes in the file, framing included.
    pub bytes: u64,
    /// Where the last one ends.
    pub end: u64,
    /// The last of them that starts an append: its offset, and how many of them came before it.
    pub last_append_start: Option<(u64, u64)>,
}

/// A valid record, in any of the formats durable reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Its position among the valid records read so far (0-based).
    pub index: u64,
    /// Offset of its framing (native: the record header; lines: the line; proglog: the length
    /// field; aof: the segment) in the file.
    pub offset: u64,
    /// Payload length.
    pub len: u64,
    /// Offset of the payload.
    pub data: u64,
    /// Offset just past the record's framing: where the next record starts.
    pub end: u64,
    /// Its sequence number as stored (native); formats without one count from 0.
    pub seq: u64,
    /// Its stored checksum; `None` for formats that have none.
    pub checksum: Option<Checksum>,
    /// What only some formats have.
    pub extra: Extra,
}

/// Format-specific facts about a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Extra {
    /// Nothing more (lines).
    #[default]
    None,
    /// A native record: where it stands in its append (one write and one flush of `log
    /// append`). A one-record append is both first and last.
    Native {
        /// The first record of its append.
        starts_append: bool,
        /// The last record of its append.
        ends_append: bool,
    },
    /// A proglog store record read with its index: the index's entry for it, if there is one
    /// (relative offset, position).
    StoreEntry(Option<(u32, u64)>),
    /// A proglog index entry read alone: (relative offset, position in the store).
    IndexEntry(u32, u64),
    /// An aof segment: the magic that ends it and where.
    AofSegment {
        /// The magic after the segment, if any.
        ends_with: Option<AofMagic>,
        /// Its offset.
        magic_offset: Option<u64>,
    },
}

/// The two magics of the Go aof package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AofMagic {
    /// Written after each write.
    Tail,
    /// Marks the end of a chunk.
    Checkpoint,
}

impl AofMagic {
    /// The stable name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            AofMagic::Tail => "tail",
            AofMagic::Checkpoint => "checkpoint",
        }
    }
}

impl Record {
    /// Offset of the payload.
    pub fn payload_offset(&self) -> u64 {
        self.data
    }

    /// Whether the record starts an append. Formats without append marks commit each record on
    /// its own, as far as a reader can tell.
    pub fn starts_append(&self) -> bool {
        match self.extra {
            Extra::Native { starts_append, .. } => starts_append,
            _ => true,
        }
    }

    /// Whether the record ends an append (see [`Record::starts_append`]).
    pub fn ends_append(&self) -> bool {
        match self.extra {
            Extra::Native { ends_append, .. } => ends_append,
            _ => true,
        }
    }
}

/// What is wrong at a defect's offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefectKind {
    /// A record header or record runs past the end of the file (an append cut short).
    Truncated,
    /// No record magic, or the record header's own checksum does not match.
    BadHeader,
    /// The header checks out but its length is over the maximum, or the trailer disagrees.
    BadLength,
    /// The payload does not match the record's checksum.
    ChecksumMismatch,
    /// A valid record whose sequence number is not the next one (records lost or duplicated).
    Sequence {
        /// The sequence number expected here.
        expected: u64,
        /// The one found.
        found: u64,
    },
    /// Only zero bytes from here to the end of the file (preallocation, or a file grown by
    /// truncate).
    ZeroFill,
    /// native: the append that started at the defect's `cut` never got its last record: the
    /// file ends after some of its records (a crash during the append), or a new append starts.
    UnfinishedAppend,
    /// native: a valid record that continues an append although the one before it ended its
    /// append (its first-of-append mark is missing).
    BrokenAppend,
    /// lines: the line's last field is not 64 lowercase hex digits.
    NoChecksum,
    /// proglog index: an entry that does not name record `i` at its position.
    IndexMismatch {
        /// The entry's number.
        entry: u64,
        /// The store position it should hold (`None`: the index alone, nothing to compare to).
        expected: Option<u64>,
        /// The position it holds.
        found: u64,
        /// The relative offset it holds (the entry's number when only the position is wrong).
        found_offset: u64,
    },
    /// proglog index: store records from here on have no index entry.
    IndexMissing {
        /// Records without an entry.
        records: u64,
    },
    /// proglog index: non-zero entries for records the store does not have.
    IndexBeyondStore,
    /// aof: the last non-zero bytes are not a magic. `checkpoint` is where the last checkpoint
    /// magic ends (the package's recovery lands there), `None` when the file has none at all
    /// (the package calls it corrupted).
    NoMagic {
        /// End of the last checkpoint magic.
        checkpoint: Option<u64>,
    },
}

impl DefectKind {
    /// The stable name used in reports.
    pub fn name(&self) -> &'static str {
        match self {
            DefectKind::Truncated => "truncated",
            DefectKind::BadHeader => "bad-header",
            DefectKind::BadLength => "bad-length",
            DefectKind::ChecksumMismatch => "checksum-mismatch",
            DefectKind::Sequence { .. } => "sequence",
            DefectKind::ZeroFill => "zero-fill",
            DefectKind::UnfinishedAppend => "unfinished-append",
            DefectKind::BrokenAppend => "broken-append",
            DefectKind::NoChecksum => "no-checksum",
            DefectKind::IndexMismatch { .. } => "index-mismatch",
            DefectKind::IndexMissing { .. } => "index-missing",
            DefectKind::IndexBeyondStore => "index-beyond-store",
            DefectKind::NoMagic { .. } => "no-magic",
        }
    }

    /// Damage that is never a crash's torn tail, whatever follows it.
    pub fn always_corrupt(&self) -> bool {
        matches!(
            self,
            DefectKind::IndexMismatch { .. } | DefectKind::NoMagic { checkpoint: None }
        )
    }
}

/// Why a defect is a torn tail (a write that never reached the disk: safe to cut) or corruption
/// (damage to data that was acknowledged: a human decides). docs/FORMAT.md has the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// Torn: the file ends inside the damaged record or append.
    EndOfFile,
    /// Torn: only zero bytes from the damage to the end of the file.
    ZeroFill,
    /// Torn: all-zero bytes at this offset, where a record's framing or a whole 512-byte sector
    /// lies in the damaged span: what a write that never reached the disk reads back as.
    Zeros(u64),
    /// Torn (formats without append marks): nothing valid follows the damage.
    NothingAfter,
    /// Corrupt: a later append starts at this offset, so the damaged one had been acknowledged
    /// (an append starts only after the one before it was flushed).
    LaterAppend(u64),
    /// Corrupt: damage at this offset that a write which never reached the disk cannot leave:
    /// no zeros where the damage is, and the file does not end inside it.
    NotTorn(u64),
    /// Corrupt (formats without append marks): a valid record follows at this offset.
    ValidAfter(u64),
    /// Corrupt: the whole file is zero bytes, no header: a log's start that never reached the
    /// disk cannot be told from a log whose acknowledged bytes were zeroed.
    ZeroFile,
    /// Corrupt: the file header is lost (zeroed or damaged) and the records after it validate
    /// under a salt recovered from their own checksums (docs/FORMAT.md, "A lost header").
    HeaderLost,
    /// Corrupt: the file header decodes, its checksum checks, but the records after it do not
    /// validate under its salt or checksum algorithm and do under a salt recovered from their
    /// own checksums: another log's header, or its salt or algorithm changed (docs/FORMAT.md,
    /// "A lost header").
    HeaderMismatch,
}

impl Evidence {
    /// Whether this evidence makes the damage a torn tail.
    pub fn is_torn(self) -> bool {
        matches!(
            self,
            Evidence::EndOfFile | Evidence::ZeroFill | Evidence::Zeros(_) | Evidence::NothingAfter
        )
    }

    /// The stable name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Evidence::EndOfFile => "file-ends-inside",
            Evidence::ZeroFill => "zero-fill",
            Evidence::Zeros(_) => "zeros",
            Evidence::NothingAfter => "nothing-valid-after",
            Evidence::LaterAppend(_) => "later-append",
            Evidence::NotTorn(_) => "not-a-torn-write",
            Evidence::ValidAfter(_) => "valid-record-after",
            Evidence::ZeroFile => "zero-file",
            Evidence::HeaderLost => "header-lost",
            Evidence::HeaderMismatch => "header-mismatch",
        }
    }

    /// The offset the evidence points at, if any, from the evidence alone: a lost header's is
    /// the defect's first valid record ([`Defect::evidence_offset`]); a file of only zeros
    /// has none (the whole file is the evidence).
    pub fn offset(self) -> Option<u64> {
        match self {
            Evidence::Zeros(o)
            | Evidence::LaterAppend(o)
            | Evidence::NotTorn(o)
            | Evidence::ValidAfter(o) => Some(o),
            _ => None,
        }
    }
}

/// A damaged region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defect {
    /// Where the damage starts.
    pub offset: u64,
    /// What is wrong there.
    pub kind: DefectKind,
    /// The next valid record after the damage, where a resyncing scan goes on; `None` when
    /// nothing valid follows.
    pub next_valid: Option<u64>,
    /// The damage is in a proglog index read with its store (offsets are the index's).
    pub in_index: bool,
    /// Where the log's valid part ends because of this damage: the start of the append the
    /// damage is in (native; an append is kept whole or not at all), else the damage itself.
    /// `recover` cuts here.
    pub cut: u64,
    /// Why it is a torn tail or corruption.
    pub evidence: Evidence,
}

impl Defect {
    /// A defect in the main file of a format without append marks: a torn tail when nothing
    /// valid follows it.
    pub fn new(offset: u64, kind: DefectKind, next_valid: Option<u64>) -> Defect {
        Defect {
            offset,
            kind,
            next_valid,
            in_index: false,
            cut: offset,
            evidence: match (kind, next_valid) {
                // A proglog index entry that names another record than its own: no crash
                // writes one (a crash leaves entries missing or zero), whatever follows it.
                (DefectKind::IndexMismatch { .. }, _) => Evidence::NotTorn(offset),
                (_, Some(next)) => Evidence::ValidAfter(next),
                (_, None) => Evidence::NothingAfter,
            },
        }
    }

    /// Where the evidence for this damage is: [`Evidence::offset`], and for a lost header (or
    /// one that is not its own) the first valid record, whose checksums gave back the salt
    /// ([`Defect::next_valid`]).
    pub fn evidence_offset(&self) -> Option<u64> {
        match self.evidence {
            Evidence::HeaderLost | Evidence::HeaderMismatch => self.next_valid,
            e => e.offset(),
        }
    }

    /// A write that never reached the disk: safe to cut off (from [`Defect::cut`]).
    pub fn is_torn_tail(&self) -> bool {
        self.evidence.is_torn() && !self.kind.always_corrupt()
    }

    /// The same defect with every offset it names moved by `delta` (bytes read at offset 0
    /// of a sidecar that held them at `delta` in their log).
    pub fn moved_by(self, delta: u64) -> Defect {
        let evidence = match self.evidence {
            Evidence::Zeros(o) => Evidence::Zeros(o + delta),
            Evidence::LaterAppend(o) => Evidence::LaterAppend(o + delta),
            Evidence::NotTorn(o) => Evidence::NotTorn(o + delta),
            Evidence::ValidAfter(o) => Evidence::ValidAfter(o + delta),
            other => other,
        };
        Defect {
            offset: self.offset + delta,
            next_valid: self.next_valid.map(|n| n + delta),
            cut: self.cut + delta,
            evidence,
            ..self
        }
    }
}

/// One step of a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// A valid record.
    Record(Record),
    /// A damaged region. After a torn tail the scan ends; after corruption it goes on at
    /// `next_valid` when resyncing, or ends otherwise.
    Defect(Defect),
    /// The end of the file, right after a valid record (or the header).
    End,
}

/// How a scan deals with damage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDamage {
    /// Report the first defect (classified) and end.
    Stop,
    /// Report each defect and continue with the next valid record.
    Resync,
}
