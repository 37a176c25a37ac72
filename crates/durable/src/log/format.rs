//! The native log format's byte layout: the file header, the record header and trailer, and the
//! checksums that tie them together. docs/FORMAT.md describes the same layout for people.
//!
//! ```text
//! file:    header (64) | record | record | …
//! record:  record header (24) | payload (length bytes) | trailer (8 + checksum size)
//! ```

use sha2::{Digest, Sha256};

/// The file's first eight bytes. The high first byte and the CR LF / SUB bytes catch a file that
/// went through a text-mode transfer, as PNG's signature does.
pub const FILE_MAGIC: [u8; 8] = *b"\x89DLOG\r\n\x1a";
/// The format version written by this library.
pub const VERSION: u16 = 1;
/// Length of the file header.
pub const FILE_HEADER_LEN: u64 = 64;
/// First bytes of every record header.
pub const RECORD_MAGIC: [u8; 4] = [0xD5, b'R', b'E', b'C'];
/// Bytes 4..8 of every record trailer.
pub const TRAILER_MAGIC: [u8; 4] = [0xD5, b'E', b'N', b'D'];
/// Length of a record header.
pub const RECORD_HEADER_LEN: u64 = 24;
/// The largest payload a record may carry (16 MiB). Enforced on append; a header announcing more
/// is damaged.
pub const MAX_RECORD: u64 = 16 << 20;
/// The record type of ordinary data records. 0 is never valid (so zero-filled bytes never parse);
/// other values are reserved for later record kinds (checkpoints, segment markers).
pub const TYPE_DATA: u8 = 1;
/// Record flag: the first record of one append (one write and one flush).
pub const FLAG_FIRST: u8 = 0x01;
/// Record flag: the last record of one append. A power loss can keep a later block of an
/// append without an earlier one; these two flags let a reader tell such a torn append (no
/// complete append after the damage) from corruption before the tail (a complete one after it).
pub const FLAG_LAST: u8 = 0x02;
/// Every flag a record may carry.
pub const FLAGS_KNOWN: u8 = FLAG_FIRST | FLAG_LAST;

/// The checksum algorithm of a log, fixed when it is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// CRC-32 (IEEE), 4 bytes: catches torn writes and bit rot, fast.
    #[default]
    Crc32,
    /// SHA-256, 32 bytes: for when CRC-32's one-in-four-billion chance of missing random damage
    /// is too much. (The salt is stored in the header, so neither is a defence against someone
    /// rewriting the log on purpose.)
    Sha256,
}

impl Algorithm {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "crc32",
            Algorithm::Sha256 => "sha256",
        }
    }

    /// The byte stored in the file header.
    fn code(self) -> u8 {
        match self {
            Algorithm::Crc32 => 1,
            Algorithm::Sha256 => 2,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Algorithm> {
        match code {
            1 => Some(Algorithm::Crc32),
            2 => Some(Algorithm::Sha256),
            _ => None,
        }
    }

    /// Size of the checksum in a record trailer.
    pub fn checksum_len(self) -> u64 {
        match self {
            Algorithm::Crc32 => 4,
            Algorithm::Sha256 => 32,
        }
    }

    /// Length of a record trailer: length (4), magic (4), checksum.
    pub fn trailer_len(self) -> u64 {
        8 + self.checksum_len()
    }

    /// Bytes a record with `payload_len` bytes of payload takes in the file.
    pub fn record_len(self, payload_len: u64) -> u64 {
        RECORD_HEADER_LEN + payload_len + self.trailer_len()
    }
}

/// The decoded file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    /// Format version.
    pub version: u16,
    /// Checksum algorithm of every record.
    pub algorithm: Algorithm,
    /// Random per-log salt, mixed into every checksum so records copied from another log (or
    /// from this log's own payloads) never validate here.
    pub salt: [u8; 16],
    /// Creation time, seconds since the Unix epoch (informational).
    pub created: u64,
}

/// Why a file header was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// Shorter than a header.
    Truncated,
    /// The first eight bytes are not the magic: not a native log.
    NotALog,
    /// The magic is right but the header's CRC is not.
    Damaged,
    /// A version or algorithm this library does not know.
    Unsupported,
}

impl FileHeader {
    /// A header for a new log.
    pub fn new(algorithm: Algorithm, salt: [u8; 16], created: u64) -> FileHeader {
        FileHeader {
            version: VERSION,
            algorithm,
            salt,
            created,
        }
    }

    /// The 64 header bytes.
    pub fn encode(&self) -> [u8; FILE_HEADER_LEN as usize] {
        let mut out = [0u8; FILE_HEADER_LEN as usize];
        out[0..8].copy_from_slice(&FILE_MAGIC);
        out[8..10].copy_from_slice(&self.version.to_le_bytes());
        out[10] = self.algorithm.code();
        out[11] = 0; // flags
        out[12..16].copy_from_slice(&(FILE_HEADER_LEN as u32).to_le_bytes());
        out[16..32].copy_from_slice(&self.salt);
        out[32..40].copy_from_slice(&self.created.to_le_bytes());
        let crc = crc32fast::hash(&out[0..60]);
        out[60..64].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decode the first bytes of a file.
    pub fn decode(bytes: &[u8]) -> Result<FileHeader, HeaderError> {
        if bytes.len() < FILE_MAGIC.len() || bytes[..FILE_MAGIC.len()] != FILE_MAGIC {
            // A prefix of the magic (a file cut inside it) is a truncated log, not "not a log".
            let n = bytes.len().min(FILE_MAGIC.len());
            return Err(if n > 0 && bytes[..n] == FILE_MAGIC[..n] {
                HeaderError::Truncated
            } else {
                HeaderError::NotALog
            });
        }
        let Some(h) = bytes.get(..FILE_HEADER_LEN as usize) else {
            return Err(HeaderError::Truncated);
        };
        if u32::from_le_bytes([h[60], h[61], h[62], h[63]]) != crc32fast::hash(&h[0..60]) {
            return Err(HeaderError::Damaged);
        }
        let version = u16::from_le_bytes([h[8], h[9]]);
        let algorithm = Algorithm::from_code(h[10]).ok_or(HeaderError::Unsupported)?;
        let header_len = u32::from_le_bytes([h[12], h[13], h[14], h[15]]);
        if version != VERSION || h[11] != 0 || u64::from(header_len) != FILE_HEADER_LEN {
            return Err(HeaderError::Unsupported);
        }
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&h[16..32]);
        let mut created = [0u8; 8];
        created.copy_from_slice(&h[32..40]);
        Ok(FileHeader {
            version,
            algorithm,
            salt,
            created: u64::from_le_bytes(created),
        })
    }
}

/// Whether `bytes`, shorter than a file header, are the start of a valid one: what an in-place
/// start of a log (the header written into an existing empty file) leaves when a crash cuts it
/// short (a *torn start*, docs/FORMAT.md). Every field that is whole (or begun) is checked
/// against what [`FileHeader::encode`] writes; the salt and the time can be anything, and the
/// checksum is never whole in a prefix.
pub fn is_header_prefix(bytes: &[u8]) -> bool {
    if bytes.is_empty() || bytes.len() >= FILE_HEADER_LEN as usize {
        return false;
    }
    let mut expected = [0u8; 16];
    expected[..8].copy_from_slice(&FILE_MAGIC);
    expected[8..10].copy_from_slice(&VERSION.to_le_bytes());
    expected[12..16].copy_from_slice(&(FILE_HEADER_LEN as u32).to_le_bytes());
    bytes.iter().enumerate().all(|(i, b)| match i {
        // The checksum algorithm: one this version writes.
        10 => Algorithm::from_code(*b).is_some(),
        0..16 => *b == expected[i],
        // Salt and creation time.
        16..40 => true,
        // Reserved, written as zeros.
        40..60 => *b == 0,
        // The start of the checksum, which only the whole header can be checked with.
        _ => true,
    })
}

/// A decoded record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// Record type ([`TYPE_DATA`]).
    pub kind: u8,
    /// [`FLAG_FIRST`] and [`FLAG_LAST`].
    pub flags: u8,
    /// Payload length.
    pub len: u32,
    /// Sequence number: the record's 0-based index in the log.
    pub seq: u64,
}

/// Why a record header was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordHeaderError {
    /// The record magic is missing.
    NoMagic,
    /// The header's CRC does not match (a damaged length, type or sequence number).
    Damaged,
    /// The header checks out but announces more than [`MAX_RECORD`] bytes, or an unknown type.
    BadLength,
}

impl RecordHeader {
    /// The 24 header bytes for `salt`.
    pub fn encode(&self, salt: &[u8; 16]) -> [u8; RECORD_HEADER_LEN as usize] {
        let mut out = [0u8; RECORD_HEADER_LEN as usize];
        out[0..4].copy_from_slice(&RECORD_MAGIC);
        out[4] = self.kind;
        out[5] = self.flags;
        out[8..12].copy_from_slice(&self.len.to_le_bytes());
        out[12..20].copy_from_slice(&self.seq.to_le_bytes());
        let crc = header_crc(salt, &out[0..20]);
        out[20..24].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decode and check a record header (its own CRC; not the payload).
    pub fn decode(bytes: &[u8], salt: &[u8; 16]) -> Result<RecordHeader, RecordHeaderError> {
        let Some(h) = bytes.get(..RECORD_HEADER_LEN as usize) else {
            return Err(RecordHeaderError::NoMagic);
        };
        if h[0..4] != RECORD_MAGIC {
            return Err(RecordHeaderError::NoMagic);
        }
        if u32::from_le_bytes([h[20], h[21], h[22], h[23]]) != header_crc(salt, &h[0..20]) {
            return Err(RecordHeaderError::Damaged);
        }
        let len = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&h[12..20]);
        // The last sequence number is never written (nothing could follow it), so a reader may
        // always compute the next one.
        if h[4] != TYPE_DATA
            || h[5] & !FLAGS_KNOWN != 0
            || h[6..8] != [0, 0]
            || u64::from(len) > MAX_RECORD
            || u64::from_le_bytes(seq) == u64::MAX
        {
            return Err(RecordHeaderError::BadLength);
        }
        Ok(RecordHeader {
            kind: h[4],
            flags: h[5],
            len,
            seq: u64::from_le_bytes(seq),
        })
    }
}

fn header_crc(salt: &[u8; 16], bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(salt);
    h.update(bytes);
    h.finalize()
}

/// The first eight bytes of a trailer: the payload length again and the trailer magic.
pub fn trailer_prefix(len: u32) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[0..4].copy_from_slice(&len.to_le_bytes());
    out[4..8].copy_from_slice(&TRAILER_MAGIC);
    out
}

/// Read the payload length from a trailer prefix, if its magic is right.
pub fn decode_trailer_prefix(bytes: &[u8]) -> Option<u32> {
    let t = bytes.get(..8)?;
    (t[4..8] == TRAILER_MAGIC).then(|| u32::from_le_bytes([t[0], t[1], t[2], t[3]]))
}

/// A record checksum in progress: salt, record header, payload (in pieces), trailer prefix.
pub enum RecordHasher {
    /// CRC-32.
    Crc32(crc32fast::Hasher),
    /// SHA-256.
    Sha256(Box<Sha256>),
}

impl RecordHasher {
    /// Start a checksum for a record whose 24 header bytes are `header`. The header's own CRC
    /// (bytes 20..24) is left out: a CRC-32 run over a message followed by that message's CRC
    /// always ends in the same state, which would make the record checksum blind to the salt
    /// and to every header field.
    pub fn new(algorithm: Algorithm, salt: &[u8; 16], header: &[u8]) -> RecordHasher {
        let mut h = match algorithm {
            Algorithm::Crc32 => RecordHasher::Crc32(crc32fast::Hasher::new()),
            Algorithm::Sha256 => RecordHasher::Sha256(Box::new(Sha256::new())),
        };
        h.update(salt);
        h.update(&header[..header.len().min(20)]);
        h
    }

    /// Feed payload bytes (or the trailer prefix).
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            RecordHasher::Crc32(h) => h.update(bytes),
            RecordHasher::Sha256(h) => h.update(bytes),
        }
    }

    /// The checksum bytes as stored in the trailer (CRC-32 little-endian, or SHA-256).
    pub fn finish(self) -> Checksum {
        match self {
            RecordHasher::Crc32(h) => Checksum::Crc32(h.finalize().to_le_bytes()),
            RecordHasher::Sha256(h) => Checksum::Sha256(h.finalize().into()),
        }
    }
}

/// A record's stored checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    /// CRC-32, little-endian.
    Crc32([u8; 4]),
    /// SHA-256.
    Sha256([u8; 32]),
}

impl Checksum {
    /// The bytes as stored.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Checksum::Crc32(b) => b,
            Checksum::Sha256(b) => b,
        }
    }

    /// The checksum as lowercase hex (CRC-32 as the 8-digit number, SHA-256 as its 64 digits).
    pub fn to_hex(&self) -> String {
        match self {
            Checksum::Crc32(b) => format!("{:08x}", u32::from_le_bytes(*b)),
            Checksum::Sha256(b) => hex::encode(b),
        }
    }

    /// Read a stored checksum of `algorithm` from `bytes`.
    pub fn from_bytes(algorithm: Algorithm, bytes: &[u8]) -> Option<Checksum> {
        match algorithm {
            Algorithm::Crc32 => Some(Checksum::Crc32(bytes.get(..4)?.try_into().ok()?)),
            Algorithm::Sha256 => Some(Checksum::Sha256(bytes.get(..32)?.try_into().ok()?)),
        }
    }
}

/// Encodes records for one log. The CRC-32 of the salt and of the salt and record magic are
/// computed once; the header CRC and a CRC-32 record checksum share their prefix (salt, then
/// header bytes), so the record checksum continues from the header CRC over the rest of the
/// record in one piece straight from the output buffer.
#[derive(Debug, Clone, Copy)]
pub struct Encoder {
    header: FileHeader,
    /// CRC-32 of the salt.
    salt_crc: u32,
    /// CRC-32 of the salt and [`RECORD_MAGIC`]: a header's CRC is this continued over its
    /// bytes 4..20.
    magic_crc: u32,
}

impl Encoder {
    /// An encoder for the log whose header is `header`.
    pub fn new(header: &FileHeader) -> Encoder {
        let salt_crc = crc32fast::hash(&header.salt);
        Encoder {
            header: *header,
            salt_crc,
            magic_crc: super::crc::update(salt_crc, &RECORD_MAGIC),
        }
    }

    /// Append one whole record (header with `flags`, payload, trailer) to `out`. Fails with the
    /// payload's length, leaving `out` as it was, if it is over [`MAX_RECORD`].
    pub fn encode(
        &self,
        out: &mut Vec<u8>,
        seq: u64,
        flags: u8,
        payload: &[u8],
    ) -> Result<(), u64> {
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|l| u64::from(*l) <= MAX_RECORD)
            .ok_or(payload.len() as u64)?;
        let algorithm = self.header.algorithm;
        let start = out.len();
        out.reserve(algorithm.record_len(u64::from(len)) as usize);
        out.extend_from_slice(&RECORD_MAGIC);
        out.extend_from_slice(&[TYPE_DATA, flags, 0, 0]);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&seq.to_le_bytes());
        // Bytes 4..20: type, flags, two zero bytes, length; then the sequence number.
        let word = u64::from(TYPE_DATA) | u64::from(flags) << 8 | u64::from(len) << 32;
        let header_crc = super::crc::update16(self.magic_crc, word, seq);
        out.extend_from_slice(&header_crc.to_le_bytes());
        out.extend_from_slice(payload);
        out.extend_from_slice(&trailer_prefix(len));
        // The record checksum skips the header CRC (bytes 20..24): see RecordHasher::new.
        match algorithm {
            Algorithm::Crc32 => {
                let sum = super::crc::update(header_crc, &out[start + 24..]);
                out.extend_from_slice(&sum.to_le_bytes());
            }
            Algorithm::Sha256 => {
                let mut sha = Sha256::new();
                sha.update(self.header.salt);
                sha.update(&out[start..start + 20]);
                sha.update(&out[start + 24..]);
                out.extend_from_slice(&sha.finalize());
            }
        }
        Ok(())
    }
}

impl Encoder {
    /// Bytes a record with `len` bytes of payload takes.
    pub fn record_len(&self, len: u32) -> usize {
        self.header.algorithm.record_len(u64::from(len)) as usize
    }

    /// Give the encoded record in `record` (exactly one record, as [`Encoder::encode`] wrote
    /// it) a new sequence number and flags, recomputing its header CRC and checksum in place.
    /// Lets a writer encode records before it knows how its append ends (the last record's
    /// flag) or which sequence number it starts at (another appender got in first).
    pub fn reseal(&self, record: &mut [u8], seq: u64, flags: u8) {
        let len = record.len() - self.header.algorithm.checksum_len() as usize;
        record[5] = flags;
        record[12..20].copy_from_slice(&seq.to_le_bytes());
        let header_crc = super::crc::update(self.salt_crc, &record[0..20]);
        record[20..24].copy_from_slice(&header_crc.to_le_bytes());
        match self.header.algorithm {
            Algorithm::Crc32 => {
                let sum = super::crc::update(header_crc, &record[24..len]);
                record[len..].copy_from_slice(&sum.to_le_bytes());
            }
            Algorithm::Sha256 => {
                let mut sha = Sha256::new();
                sha.update(self.header.salt);
                sha.update(&record[0..20]);
                sha.update(&record[24..len]);
                record[len..].copy_from_slice(&sha.finalize());
            }
        }
    }
}

/// Encode one whole record (header, payload, trailer) onto `out`, as an append of its own.
pub fn encode_record(
    out: &mut Vec<u8>,
    header: &FileHeader,
    seq: u64,
    payload: &[u8],
) -> Result<(), u64> {
    Encoder::new(header).encode(out, seq, FLAG_FIRST | FLAG_LAST, payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(algorithm: Algorithm) -> FileHeader {
        FileHeader::new(algorithm, [7; 16], 1_700_000_000)
    }

    #[test]
    fn file_header_round_trips_and_every_bit_flip_is_caught() {
        for algorithm in [Algorithm::Crc32, Algorithm::Sha256] {
            let h = header(algorithm);
            let bytes = h.encode();
            assert_eq!(FileHeader::decode(&bytes), Ok(h));
            for bit in 0..bytes.len() * 8 {
                let mut damaged = bytes;
                damaged[bit / 8] ^= 1 << (bit % 8);
                assert!(
                    FileHeader::decode(&damaged).is_err(),
                    "bit {bit} not caught"
                );
            }
            for cut in 0..bytes.len() {
                assert_eq!(
                    FileHeader::decode(&bytes[..cut]),
                    Err(if cut == 0 {
                        HeaderError::NotALog
                    } else {
                        HeaderError::Truncated
                    })
                );
            }
        }
        assert_eq!(FileHeader::decode(&[0; 64]), Err(HeaderError::NotALog));
        assert_eq!(
            FileHeader::decode(b"hello world"),
            Err(HeaderError::NotALog)
        );
    }

    #[test]
    fn record_header_round_trips_and_rejects_damage() {
        let salt = [3; 16];
        let rh = RecordHeader {
            kind: TYPE_DATA,
            flags: FLAG_FIRST,
            len: 1234,
            seq: 42,
        };
        let bytes = rh.encode(&salt);
        assert_eq!(RecordHeader::decode(&bytes, &salt), Ok(rh));
        assert!(
            RecordHeader::decode(&bytes, &[4; 16]).is_err(),
            "salt ignored"
        );
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes;
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(RecordHeader::decode(&damaged, &salt).is_err(), "bit {bit}");
        }
        assert_eq!(
            RecordHeader::decode(&[0; 24], &salt),
            Err(RecordHeaderError::NoMagic)
        );
        let huge = RecordHeader {
            kind: TYPE_DATA,
            flags: 0,
            len: u32::MAX,
            seq: 0,
        }
        .encode(&salt);
        assert_eq!(
            RecordHeader::decode(&huge, &salt),
            Err(RecordHeaderError::BadLength)
        );
    }

    #[test]
    fn the_encoder_matches_the_record_layout() {
        // The fast encoder must produce exactly what the layout functions describe.
        for algorithm in [Algorithm::Crc32, Algorithm::Sha256] {
            let h = header(algorithm);
            let mut out = Vec::new();
            Encoder::new(&h)
                .encode(&mut out, 9, FLAG_LAST, b"payload")
                .unwrap();
            let rh = RecordHeader {
                kind: TYPE_DATA,
                flags: FLAG_LAST,
                len: 7,
                seq: 9,
            }
            .encode(&h.salt);
            assert_eq!(out[..24], rh);
            let mut hasher = RecordHasher::new(algorithm, &h.salt, &rh);
            hasher.update(b"payload");
            hasher.update(&trailer_prefix(7));
            assert_eq!(&out[24 + 7 + 8..], hasher.finish().as_bytes());
        }
    }

    #[test]
    fn the_record_checksum_covers_the_salt_and_every_header_field() {
        // A CRC-32 over a message and its own CRC ends in a constant: were the header CRC
        // inside the record checksum, the checksum would not depend on the salt or the header,
        // and payloads of equal length could be swapped between records unnoticed.
        for algorithm in [Algorithm::Crc32, Algorithm::Sha256] {
            let sum = |salt: u8, seq: u64, flags: u8| {
                let h = FileHeader::new(algorithm, [salt; 16], 0);
                let mut out = Vec::new();
                Encoder::new(&h)
                    .encode(&mut out, seq, flags, b"same payload")
                    .unwrap();
                out[out.len() - algorithm.checksum_len() as usize..].to_vec()
            };
            let base = sum(1, 5, FLAG_FIRST);
            assert_ne!(
                base,
                sum(2, 5, FLAG_FIRST),
                "{algorithm:?}: salt not covered"
            );
            assert_ne!(
                base,
                sum(1, 6, FLAG_FIRST),
                "{algorithm:?}: sequence not covered"
            );
            assert_ne!(
                base,
                sum(1, 5, FLAG_LAST),
                "{algorithm:?}: flags not covered"
            );
        }
    }

    #[test]
    fn a_resealed_record_equals_one_encoded_that_way() {
        for algorithm in [Algorithm::Crc32, Algorithm::Sha256] {
            let encoder = Encoder::new(&header(algorithm));
            let (mut a, mut b) = (Vec::new(), Vec::new());
            encoder
                .encode(&mut a, 3, FLAG_FIRST, b"some payload")
                .unwrap();
            encoder
                .encode(&mut b, 77, FLAG_FIRST | FLAG_LAST, b"some payload")
                .unwrap();
            encoder.reseal(&mut a, 77, FLAG_FIRST | FLAG_LAST);
            assert_eq!(a, b, "{algorithm:?}");
        }
    }

    #[test]
    fn encoded_records_have_the_documented_size() {
        for algorithm in [Algorithm::Crc32, Algorithm::Sha256] {
            let h = header(algorithm);
            let mut out = Vec::new();
            encode_record(&mut out, &h, 0, b"hello").unwrap();
            assert_eq!(out.len() as u64, algorithm.record_len(5));
            assert_eq!(decode_trailer_prefix(&out[24 + 5..]), Some(5));
        }
        let mut out = Vec::new();
        let too_big = vec![0u8; (MAX_RECORD + 1) as usize];
        assert_eq!(
            encode_record(&mut out, &header(Algorithm::Crc32), 0, &too_big),
            Err(MAX_RECORD + 1)
        );
        assert!(out.is_empty());
    }
}
