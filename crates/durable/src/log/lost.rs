//! A native log whose file header is lost (zeroed, or damaged) but whose records are still
//! there: found from the records at offset 64, and its salt recovered from their checksums
//! (docs/FORMAT.md, "A lost header").
//!
//! Every record's header CRC is CRC-32 over salt ‖ record header bytes 0..20, and a CRC-32
//! record's checksum is CRC-32 over salt ‖ header bytes 0..20 ‖ payload ‖ trailer bytes 0..8.
//! CRC-32 is affine over GF(2) in its input bits, so for the bytes that follow the salt fixed,
//! each stored CRC is 32 linear equations on the 128 salt bits: column `i` of the system is the
//! CRC with salt bit `i` set minus the CRC with a zero salt, which `crc32fast`'s `combine`
//! computes without reading the bytes again. The equations are solved by Gaussian elimination
//! on `u128` rows.
//!
//! What the CRCs can tell: the salt's contribution to a CRC-32 over salt ‖ m further bytes is
//! its polynomial times x^(8m+32) modulo the CRC polynomial, so every equation depends on the
//! salt modulo that polynomial only: 32 of its 128 bits. Every salt with the same residue gives
//! every header CRC and every CRC-32 record checksum of the log exactly as the lost one did, so
//! for a CRC-32 log any solution is as good as the salt itself (its records validate under it,
//! and only under salts of that class, whatever they hold), and the rest of the equations (32
//! per CRC beyond the first) check it. A SHA-256 record's checksum is not linear: its salt
//! cannot be recovered from the records, only checked; a damaged header whose salt bytes are
//! intact still gives it (its bytes are tried first, and accepted only if the records'
//! SHA-256s confirm them).

use std::fs::File;
use std::io;

use super::format::{
    Algorithm, FILE_HEADER_LEN, FLAG_FIRST, FLAGS_KNOWN, FileHeader, MAX_RECORD, RECORD_HEADER_LEN,
    RECORD_MAGIC, RecordHasher, RecordHeader, TYPE_DATA, decode_trailer_prefix,
};
use super::reader::{read_prefix, read_range};
use crate::platform;

/// Records looked at after offset 64, at most: the work is bounded whatever the file's size.
pub const LOOK: usize = 16;

/// Records that must validate under a recovered salt (all of them when fewer are framed).
pub const CONFIRM: usize = 5;

/// Bytes after offset 64 searched for the first chain of records when record 0 does not
/// frame there (a lost first sector, record 0 damaged with the header).
pub const SEARCH: u64 = 64 << 10;

/// A native log whose header is lost, found from its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lost {
    /// The header its records validate under (its salt recovered), or `None` when the salt
    /// cannot be determined (a SHA-256 log whose header's salt bytes are gone).
    pub header: Option<FileHeader>,
    /// The checksum algorithm, from the trailers' size.
    pub algorithm: Algorithm,
    /// Records framed from offset 64 (at most [`LOOK`]).
    pub framed: usize,
    /// Of those, the ones that validate under the recovered salt.
    pub validated: usize,
    /// The salt is the one in the damaged header's own bytes (the records confirm it).
    pub salt_from_header: bool,
}

/// A record framed from its bytes alone (magic, fields, trailer), not yet checked.
struct Framed {
    offset: u64,
    head: [u8; RECORD_HEADER_LEN as usize],
    len: u32,
    /// The stored checksum (4 or 32 bytes).
    stored: [u8; 32],
    /// CRC-32 of header bytes 0..20 ‖ payload ‖ trailer bytes 0..8 (CRC-32 logs), and that
    /// length.
    rest_crc: u32,
    rest_len: u64,
}

/// Whether the file at `file` (`size` bytes), whose first 64 bytes are `raw` (not a valid
/// header), is a native log whose header is lost: native records chain from offset 64 and
/// their checksums agree on one salt. `raw`'s salt bytes are tried first when it starts with
/// the log magic (a damaged header). `None`: not such a log.
pub fn find(file: &File, size: u64, raw: &[u8]) -> io::Result<Option<Lost>> {
    if size < FILE_HEADER_LEN + RECORD_HEADER_LEN {
        return Ok(None);
    }
    // A whole header whose checksum checks is not lost: one this durable does not know (a later
    // version, flags or header length) is refused as such, never read or rewritten as a v1 one.
    if matches!(
        super::format::FileHeader::decode(raw),
        Err(super::format::HeaderError::Unsupported)
    ) {
        return Ok(None);
    }
    let mut magic = [0u8; 4];
    let at_64 = platform::read_at(file, &mut magic, FILE_HEADER_LEN)? == 4 && magic == RECORD_MAGIC;
    // The salt bytes of what is left of the header, whatever else in it is damaged (a
    // zeroed header gives a zero salt, which its records confirm only by chance).
    let header_salt = (raw.len() >= 32).then(|| {
        let mut s = [0u8; 16];
        s.copy_from_slice(&raw[16..32]);
        s
    });
    let mut best: Option<Lost> = None;
    let mut window: Option<Vec<u8>> = None;
    for algorithm in [Algorithm::Crc32, Algorithm::Sha256] {
        // Record 0 at offset 64, if it frames; otherwise (record 0 damaged or gone with the
        // header: a lost first sector) the first chain of records found after it, within
        // [`SEARCH`] bytes.
        // A chain that frames at 64 is judged alone (its records decide, the bar as it is).
        let mut found = None;
        let mut at_64_frames = false;
        if at_64 {
            let (framed, at_end) = frame(file, size, algorithm, FILE_HEADER_LEN, 0)?;
            if !framed.is_empty() {
                at_64_frames = true;
                found = judge(file, algorithm, &framed, at_end, header_salt)?;
            }
        }
        // The bytes searched are read once for both algorithms (a walk asks this of every
        // file no format reads).
        if !at_64_frames && window.is_none() {
            window = Some(search_window(file, size)?);
        }
        if !at_64_frames
            && let Some((at, seq)) =
                search(window.as_deref().unwrap_or_default(), file, size, algorithm)?
        {
            let (framed, at_end) = frame(file, size, algorithm, at, seq)?;
            // One record alone, away from offset 64, vouches for nothing (a database row
            // can hold one): a chain of at least two.
            if framed.len() >= 2 {
                found = judge(file, algorithm, &framed, at_end, header_salt)?;
            }
        }
        let Some(found) = found else { continue };
        best = match best {
            Some(b) if rank(&b) >= rank(&found) => Some(b),
            _ => Some(found),
        };
    }
    Ok(best)
}

/// Whether the native log at `file` (`size` bytes), whose header `header` decodes with a valid
/// checksum, is read by a header that is not its own (another log's, or its salt or checksum
/// algorithm changed with the checksum fixed): record 0 does not frame under it
/// ([`first_record_fits`]: the only cost on a valid log), and a salt recovered from the records
/// (both algorithms, the header's salt and its 1-bit flips first, as for a lost header) is
/// accepted under the same bar, and is not the header's own. `None`: the header is the log's
/// (damage in its records is theirs), or no salt is accepted (the header is taken at its word).
pub fn not_its_own(file: &File, size: u64, header: &FileHeader) -> io::Result<Option<Lost>> {
    if first_record_fits(file, size, header)? || first_record_validates(file, size, header)? {
        return Ok(None);
    }
    let (raw, got) = raw_start(file, size)?;
    let Some(lost) = find(file, size, &raw[..got])? else {
        return Ok(None);
    };
    let Some(found) = lost.header else {
        return Ok(None);
    };
    // The records confirm the header's own salt and algorithm: the damage is in the records.
    if lost.algorithm == header.algorithm && same_salt(lost.algorithm, &found.salt, &header.salt) {
        return Ok(None);
    }
    Ok(Some(lost))
}

/// Whether two salts read every record alike: for CRC-32, the same class (the salt counts
/// modulo the CRC polynomial only, and CRC-32 of the salt alone tells the class: the module
/// comment); for SHA-256, the same bytes.
fn same_salt(algorithm: Algorithm, a: &[u8; 16], b: &[u8; 16]) -> bool {
    match algorithm {
        Algorithm::Crc32 => crc32fast::hash(a) == crc32fast::hash(b),
        Algorithm::Sha256 => a == b,
    }
}

/// Whether record 0 validates in full under `header` (header CRC, trailer, checksum): when it
/// does, the header is its own whatever follows. Only asked when [`first_record_fits`] says
/// no: its payload is read (in bounded pieces) on that path only.
fn first_record_validates(file: &File, size: u64, header: &FileHeader) -> io::Result<bool> {
    let mut head = [0u8; RECORD_HEADER_LEN as usize];
    if size < FILE_HEADER_LEN + RECORD_HEADER_LEN
        || read_exact(file, &mut head, FILE_HEADER_LEN).is_err()
    {
        return Ok(false);
    }
    let Ok(record) = RecordHeader::decode(&head, &header.salt) else {
        return Ok(false);
    };
    let algorithm = header.algorithm;
    if size - FILE_HEADER_LEN < algorithm.record_len(u64::from(record.len)) {
        return Ok(false);
    }
    let mut tail = [0u8; 40];
    let tail = &mut tail[..algorithm.trailer_len() as usize];
    let tail_at = FILE_HEADER_LEN + RECORD_HEADER_LEN + u64::from(record.len);
    if read_exact(file, tail, tail_at).is_err() || decode_trailer_prefix(tail) != Some(record.len) {
        return Ok(false);
    }
    let mut h = RecordHasher::new(algorithm, &header.salt, &head);
    read_range(
        file,
        FILE_HEADER_LEN + RECORD_HEADER_LEN,
        u64::from(record.len),
        &mut |chunk| {
            h.update(chunk);
            Ok(())
        },
    )?;
    h.update(&tail[..8]);
    Ok(h.finish().as_bytes() == &tail[8..])
}

/// Whether record 0 frames under `header` as a log's own header reads it: its header CRC
/// checks under the header's salt, its trailer is where its length says, and after it (by the
/// header's checksum algorithm) the file ends or record 1's header checks too. Two small reads
/// of what a reader reads first anyway, no payload; a file with no room for record 0 fits.
fn first_record_fits(file: &File, size: u64, header: &FileHeader) -> io::Result<bool> {
    const H: usize = RECORD_HEADER_LEN as usize;
    if size < FILE_HEADER_LEN + RECORD_HEADER_LEN {
        return Ok(true);
    }
    // One read holds all of it for a record 0 of up to about 200 bytes; a longer one takes a
    // second for its trailer and record 1's header.
    let mut first = [0u8; 256];
    let got = (size - FILE_HEADER_LEN).min(first.len() as u64) as usize;
    // A file that shrinks as it is read: taken at its word, as before.
    if read_exact(file, &mut first[..got], FILE_HEADER_LEN).is_err() {
        return Ok(true);
    }
    let Ok(record) = RecordHeader::decode(&first[..H], &header.salt) else {
        return Ok(false);
    };
    let algorithm = header.algorithm;
    let tail_at = FILE_HEADER_LEN + RECORD_HEADER_LEN + u64::from(record.len);
    let next = FILE_HEADER_LEN + algorithm.record_len(u64::from(record.len));
    if next > size {
        return Ok(false);
    }
    // The trailer, and record 1's header when the file does not end with record 0.
    let want = (algorithm.trailer_len() + RECORD_HEADER_LEN.min(size - next)) as usize;
    let mut more = [0u8; 40 + H];
    let from = (tail_at - FILE_HEADER_LEN) as usize;
    let buf = if from + want <= got {
        &first[from..from + want]
    } else {
        if read_exact(file, &mut more[..want], tail_at).is_err() {
            return Ok(true);
        }
        &more[..want]
    };
    if decode_trailer_prefix(buf) != Some(record.len) {
        return Ok(false);
    }
    Ok(next == size
        || RecordHeader::decode(&buf[algorithm.trailer_len() as usize..], &header.salt).is_ok())
}

/// Where the first chain of records after offset 64 starts, searched for in the
/// [`SEARCH`] bytes after it: the first place where the record magic starts a record that
/// frames (its fields, its trailer where its length says) with a sequence number its offset
/// allows (`n` records before it take at least `n` times the shortest record's length) and
/// not 0 (a record 0 away from offset 64 is the start of a log held inside something else,
/// an archive or a database, not a log whose header is lost). `None`: no such place.
/// `buf`: the bytes from offset 65 on that [`search_window`] read.
fn search(
    buf: &[u8],
    file: &File,
    size: u64,
    algorithm: Algorithm,
) -> io::Result<Option<(u64, u64)>> {
    let from = FILE_HEADER_LEN + 1;
    let shortest = algorithm.record_len(0);
    let mut i = 0;
    while i + RECORD_HEADER_LEN as usize <= buf.len() && (i as u64) < SEARCH {
        let Some(k) = buf[i..].windows(4).position(|w| w == RECORD_MAGIC) else {
            break;
        };
        i += k;
        if i + RECORD_HEADER_LEN as usize > buf.len() {
            break;
        }
        let at = from + i as u64;
        let mut head = [0u8; RECORD_HEADER_LEN as usize];
        head.copy_from_slice(&buf[i..i + RECORD_HEADER_LEN as usize]);
        if let Some((len, seq)) = fields(&head) {
            let total = algorithm.record_len(u64::from(len));
            if size - at >= total && trailer_fits(file, at, len)? {
                if seq == 0 {
                    return Ok(None);
                }
                if seq
                    .checked_mul(shortest)
                    .is_some_and(|b| b <= at - FILE_HEADER_LEN)
                {
                    return Ok(Some((at, seq)));
                }
            }
        }
        i += 1;
    }
    Ok(None)
}

/// The bytes [`search`] looks through: from offset 65 on, at most [`SEARCH`] (+ a record
/// header) bytes, whatever the file's size.
fn search_window(file: &File, size: u64) -> io::Result<Vec<u8>> {
    let from = FILE_HEADER_LEN + 1;
    if size <= from {
        return Ok(Vec::new());
    }
    let span = (size - from).min(SEARCH + RECORD_HEADER_LEN);
    let mut buf = vec![0u8; span as usize];
    let got = read_upto(file, from, &mut buf)?;
    buf.truncate(got);
    Ok(buf)
}

/// A record header's length and sequence number, if its fields are those of a data record
/// (magic, type, known flags, zero reserved bytes, a length within [`MAX_RECORD`]).
fn fields(head: &[u8; RECORD_HEADER_LEN as usize]) -> Option<(u32, u64)> {
    let len = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
    let seq = u64::from_le_bytes([
        head[12], head[13], head[14], head[15], head[16], head[17], head[18], head[19],
    ]);
    (head[0..4] == RECORD_MAGIC
        && head[4] == TYPE_DATA
        && head[5] & !FLAGS_KNOWN == 0
        && head[6..8] == [0, 0]
        && u64::from(len) <= MAX_RECORD)
        .then_some((len, seq))
}

/// Whether the record at `at` with length `len` has its trailer (the length again and the
/// trailer magic) where the length says.
fn trailer_fits(file: &File, at: u64, len: u32) -> io::Result<bool> {
    let mut tail = [0u8; 8];
    let tail_at = at + RECORD_HEADER_LEN + u64::from(len);
    Ok(read_exact(file, &mut tail, tail_at).is_ok() && decode_trailer_prefix(&tail) == Some(len))
}

/// Which of two readings wins: a recovered salt, then more validated and framed records.
fn rank(l: &Lost) -> (bool, usize, usize) {
    (l.header.is_some(), l.validated, l.framed)
}

/// Up to [`LOOK`] records framed from `start` with `algorithm`'s trailer size, their
/// sequence numbers consecutive from `first_seq` (record 0, at offset 64, flagged *first*),
/// and whether the last of them ends the file.
fn frame(
    file: &File,
    size: u64,
    algorithm: Algorithm,
    start: u64,
    first_seq: u64,
) -> io::Result<(Vec<Framed>, bool)> {
    let mut out = Vec::new();
    let mut at = start;
    let trailer = algorithm.trailer_len();
    while out.len() < LOOK {
        if at == size {
            return Ok((out, true));
        }
        let mut head = [0u8; RECORD_HEADER_LEN as usize];
        if size - at < RECORD_HEADER_LEN || read_exact(file, &mut head, at).is_err() {
            break;
        }
        let Some((len, seq)) = fields(&head) else {
            break;
        };
        let first_ok = first_seq > 0 || !out.is_empty() || head[5] & FLAG_FIRST != 0;
        if Some(seq) != first_seq.checked_add(out.len() as u64) || !first_ok {
            break;
        }
        let total = algorithm.record_len(u64::from(len));
        if size - at < total {
            break;
        }
        let mut tail = [0u8; 40];
        let tail = &mut tail[..trailer as usize];
        let tail_at = at + RECORD_HEADER_LEN + u64::from(len);
        if read_exact(file, tail, tail_at).is_err() || decode_trailer_prefix(tail) != Some(len) {
            break;
        }
        let mut stored = [0u8; 32];
        stored[..(trailer - 8) as usize].copy_from_slice(&tail[8..]);
        let (rest_crc, rest_len) = if algorithm == Algorithm::Crc32 {
            let mut h = crc32fast::Hasher::new();
            h.update(&head[..20]);
            read_range(file, at + RECORD_HEADER_LEN, u64::from(len), &mut |chunk| {
                h.update(chunk);
                Ok(())
            })?;
            h.update(&tail[..8]);
            (h.finalize(), 20 + u64::from(len) + 8)
        } else {
            (0, 0)
        };
        out.push(Framed {
            offset: at,
            head,
            len,
            stored,
            rest_crc,
            rest_len,
        });
        at += total;
    }
    Ok((out, false))
}

/// Up to `buf.len()` bytes of `file` from `at` (fewer at the end of the file): how many.
fn read_upto(file: &File, at: u64, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        let n = platform::read_at(file, &mut buf[got..], at + got as u64)?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(got)
}

fn read_exact(file: &File, buf: &mut [u8], at: u64) -> io::Result<()> {
    let mut got = 0;
    while got < buf.len() {
        let n = platform::read_at(file, &mut buf[got..], at + got as u64)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        got += n;
    }
    Ok(())
}

/// The salt (if any) the framed records agree on, and how many validate under it.
fn judge(
    file: &File,
    algorithm: Algorithm,
    framed: &[Framed],
    at_end: bool,
    header_salt: Option<[u8; 16]>,
) -> io::Result<Option<Lost>> {
    let need = framed.len().min(CONFIRM);
    let lost = |salt: Option<[u8; 16]>, validated: usize, from_header: bool| Lost {
        header: salt.map(|salt| FileHeader::new(algorithm, salt, 0)),
        algorithm,
        framed: framed.len(),
        validated,
        salt_from_header: from_header,
    };
    // The damaged header's own salt bytes, or those bytes with one bit flipped (the damage
    // may be in the salt itself), if the records confirm them: the first record's header CRC
    // sorts out the candidates (a CRC-32 tells every single-bit change), its checksum and the
    // others' confirm the one left.
    if let Some(salt) = header_salt {
        for flip in 0..=128usize {
            let mut candidate = salt;
            if flip < 128 {
                candidate[flip / 8] ^= 1 << (flip % 8);
            }
            // Record 0 may be damaged too: the first two records' header CRCs sort them.
            if !framed
                .iter()
                .take(2)
                .any(|f| RecordHeader::decode(&f.head, &candidate).is_ok())
            {
                continue;
            }
            let n = validated(file, algorithm, framed, &candidate)?;
            if n >= need {
                return Ok(Some(lost(Some(candidate), n, true)));
            }
        }
    }
    let equations: Vec<Vec<Equation>> = framed
        .iter()
        .map(|f| {
            let mut e = vec![Equation::header(f)];
            if algorithm == Algorithm::Crc32 {
                e.push(Equation::checksum(f));
            }
            e
        })
        .collect();
    // From all the records framed, then (a damaged one among them contradicting the others)
    // from fewer; then the same without the first (a damaged record whose framing is
    // intact): at most 2 × [`LOOK`] small systems.
    let mut solved = None;
    'solve: for skip in 0..framed.len().min(2) {
        for k in (skip + 1..=framed.len()).rev() {
            let mut system = System::default();
            for e in equations[skip..k].iter().flatten() {
                system.add(e);
            }
            if let Some(salt) = system.solve() {
                solved = Some(salt);
                if algorithm == Algorithm::Sha256
                    || validated(file, algorithm, framed, &salt)? >= need
                {
                    break 'solve;
                }
            }
        }
    }
    let Some(salt) = solved else {
        // The records' CRCs agree on no salt: not one log's records.
        return Ok(None);
    };
    match algorithm {
        Algorithm::Crc32 => {
            let n = validated(file, algorithm, framed, &salt)?;
            Ok((n >= need).then(|| lost(Some(salt), n, false)))
        }
        // The header CRCs agree (32 bits of each beyond the first checked), but a SHA-256
        // checksum cannot be solved for the other 96 bits of the salt. Without a second
        // record nothing but the framing vouches for it: only a whole file of framed records
        // (or several agreeing ones) counts.
        Algorithm::Sha256 => Ok((framed.len() >= 2 || at_end).then(|| lost(None, 0, false))),
    }
}

/// How many of `framed` validate fully under `salt`: header CRC and record checksum.
fn validated(
    file: &File,
    algorithm: Algorithm,
    framed: &[Framed],
    salt: &[u8; 16],
) -> io::Result<usize> {
    let mut n = 0;
    for f in framed {
        if RecordHeader::decode(&f.head, salt).is_err() {
            continue;
        }
        if algorithm == Algorithm::Crc32 {
            // The payload's CRC was taken once, when the record was framed: combined with the
            // salt's, it is the record checksum, without reading the payload again.
            let sum = joined(salt, f.rest_crc, f.rest_len).to_le_bytes();
            n += usize::from(sum == f.stored[..4]);
            continue;
        }
        // SHA-256 (a damaged header's salt bytes): each record is read once per candidate
        // whose header CRC fits, and no further than needed.
        if n >= CONFIRM {
            break;
        }
        let mut h = RecordHasher::new(algorithm, salt, &f.head);
        let payload_at = f.offset + RECORD_HEADER_LEN;
        read_range(file, payload_at, u64::from(f.len), &mut |chunk| {
            h.update(chunk);
            Ok(())
        })?;
        h.update(&super::format::trailer_prefix(f.len));
        let sum = h.finish();
        if sum.as_bytes() == &f.stored[..algorithm.checksum_len() as usize] {
            n += 1;
        }
    }
    Ok(n)
}

/// 32 equations on the salt's 128 bits: `coef[j] · salt = rhs` bit `j`.
struct Equation {
    coef: [u128; 32],
    rhs: u32,
}

/// CRC-32 of `prefix` ‖ (`rest_len` bytes whose own CRC-32 is `rest_crc`).
fn joined(prefix: &[u8; 16], rest_crc: u32, rest_len: u64) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(prefix);
    h.combine(&crc32fast::Hasher::new_with_initial_len(rest_crc, rest_len));
    h.finalize()
}

impl Equation {
    /// The equations that a stored CRC-32 over salt ‖ (bytes with CRC `rest_crc`, `rest_len`
    /// long) gives.
    fn of(stored: u32, rest_crc: u32, rest_len: u64) -> Equation {
        let base = joined(&[0; 16], rest_crc, rest_len);
        let mut coef = [0u128; 32];
        for bit in 0..128 {
            let mut salt = [0u8; 16];
            salt[bit / 8] = 1 << (bit % 8);
            let col = joined(&salt, rest_crc, rest_len) ^ base;
            for (j, row) in coef.iter_mut().enumerate() {
                if col >> j & 1 == 1 {
                    *row |= 1 << bit;
                }
            }
        }
        Equation {
            coef,
            rhs: stored ^ base,
        }
    }

    fn header(f: &Framed) -> Equation {
        let stored = u32::from_le_bytes([f.head[20], f.head[21], f.head[22], f.head[23]]);
        Equation::of(stored, crc32fast::hash(&f.head[..20]), 20)
    }

    fn checksum(f: &Framed) -> Equation {
        let stored = u32::from_le_bytes([f.stored[0], f.stored[1], f.stored[2], f.stored[3]]);
        Equation::of(stored, f.rest_crc, f.rest_len)
    }
}

/// A linear system over GF(2) in reduced row-echelon form as it is built: at most 128 pivot
/// rows, each `(coefficients, right-hand side)`, and whether an equation contradicted them.
#[derive(Default)]
struct System {
    rows: Vec<(u128, bool)>,
    inconsistent: bool,
}

impl System {
    fn add(&mut self, eq: &Equation) {
        for (j, coef) in eq.coef.iter().enumerate() {
            self.add_row(*coef, eq.rhs >> j & 1 == 1);
        }
    }

    fn add_row(&mut self, mut coef: u128, mut rhs: bool) {
        for (c, r) in &self.rows {
            let pivot = 1u128 << c.trailing_zeros();
            if coef & pivot != 0 {
                coef ^= c;
                rhs ^= r;
            }
        }
        if coef == 0 {
            self.inconsistent |= rhs;
            return;
        }
        let pivot = 1u128 << coef.trailing_zeros();
        for (c, r) in &mut self.rows {
            if *c & pivot != 0 {
                *c ^= coef;
                *r ^= rhs;
            }
        }
        self.rows.push((coef, rhs));
    }

    /// A solution (the free bits zero), if the equations agree.
    fn solve(&self) -> Option<[u8; 16]> {
        if self.inconsistent {
            return None;
        }
        // Reduced: each row's pivot appears in no other row, so with the free bits zero each
        // pivot bit is its row's right-hand side.
        let mut salt = 0u128;
        for (c, r) in &self.rows {
            if *r {
                salt |= 1 << c.trailing_zeros();
            }
        }
        Some(salt.to_le_bytes())
    }
}

/// The header to write in place of a lost one: the recovered salt and algorithm, creation
/// time `created` (the old one is lost).
pub fn header_for(lost: &Lost, created: u64) -> Option<FileHeader> {
    lost.header
        .map(|h| FileHeader::new(lost.algorithm, h.salt, created))
}

/// The first 64 bytes of `file` (fewer if it is shorter).
pub(crate) fn raw_start(file: &File, size: u64) -> io::Result<([u8; 64], usize)> {
    let mut raw = [0u8; FILE_HEADER_LEN as usize];
    let got = read_prefix(file, size, &mut raw)?;
    Ok((raw, got))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::format::{Encoder, FLAG_LAST};
    use std::io::Write;

    fn log(algorithm: Algorithm, salt: [u8; 16], payloads: &[&[u8]]) -> Vec<u8> {
        let header = FileHeader::new(algorithm, salt, 7);
        let mut out = header.encode().to_vec();
        let enc = Encoder::new(&header);
        for (i, p) in payloads.iter().enumerate() {
            let mut flags = 0;
            if i == 0 {
                flags |= FLAG_FIRST;
            }
            if i + 1 == payloads.len() {
                flags |= FLAG_LAST;
            }
            enc.encode(&mut out, i as u64, flags, p).unwrap();
        }
        out
    }

    fn file(bytes: &[u8]) -> File {
        let mut f = tempfile();
        f.write_all(bytes).unwrap();
        f
    }

    fn tempfile() -> File {
        let dir = std::env::temp_dir();
        let path = dir.join(format!(
            "durable-lost-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        let f = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        f
    }

    fn rand_suffix() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        N.fetch_add(1, Ordering::Relaxed)
    }

    fn recovered(bytes: &[u8]) -> Option<Lost> {
        let f = file(bytes);
        find(&f, bytes.len() as u64, &bytes[..64]).unwrap()
    }

    #[test]
    fn a_zeroed_crc32_header_gives_a_salt_every_record_validates_under() {
        let salt = [0x5a; 16];
        for payloads in [
            vec![&b"one"[..]],
            vec![&b"a"[..], b"bb", b"a", b"", b"dddd", b"e", b"ffffff"],
        ] {
            let mut bytes = log(Algorithm::Crc32, salt, &payloads);
            bytes[..64].fill(0);
            let lost = recovered(&bytes).expect("a lost header");
            let header = lost.header.expect("a recovered salt");
            assert_eq!(lost.algorithm, Algorithm::Crc32);
            assert_eq!(lost.validated, payloads.len());
            // Not the same bytes (only 32 bits of the salt are in the CRCs), but the same
            // class: every record validates.
            let enc = Encoder::new(&header);
            let mut again = Vec::new();
            let mut w = FileHeader::new(Algorithm::Crc32, header.salt, 7)
                .encode()
                .to_vec();
            for (i, p) in payloads.iter().enumerate() {
                let flags = if i == 0 { FLAG_FIRST } else { 0 }
                    | if i + 1 == payloads.len() {
                        FLAG_LAST
                    } else {
                        0
                    };
                again.clear();
                enc.encode(&mut again, i as u64, flags, p).unwrap();
                w.extend_from_slice(&again);
            }
            assert_eq!(w[64..], bytes[64..]);
        }
    }

    #[test]
    fn a_sha256_log_keeps_its_salt_only_in_a_damaged_header() {
        let salt = [0x33; 16];
        let mut bytes = log(Algorithm::Sha256, salt, &[b"x", b"yy", b"zzz"]);
        bytes[3] ^= 0xff; // damaged, the salt bytes intact
        let mut with_magic = bytes.clone();
        with_magic[3] ^= 0xff;
        with_magic[40] = 9;
        let lost = recovered(&with_magic).unwrap();
        assert_eq!(lost.header.map(|h| h.salt), Some(salt));
        assert!(lost.salt_from_header);
        // One bit of the salt itself changed.
        let mut flipped = with_magic.clone();
        flipped[20] ^= 0x10;
        assert_eq!(
            recovered(&flipped).unwrap().header.map(|h| h.salt),
            Some(salt)
        );
        bytes[..64].fill(0);
        let lost = recovered(&bytes).unwrap();
        assert_eq!(lost.algorithm, Algorithm::Sha256);
        assert_eq!(lost.header, None);
    }

    fn not_own(bytes: &[u8]) -> Option<Lost> {
        let f = file(bytes);
        let header = FileHeader::decode(bytes).expect("a header that decodes");
        not_its_own(&f, bytes.len() as u64, &header).unwrap()
    }

    #[test]
    fn a_header_that_decodes_but_is_not_its_records_is_found() {
        let payloads: [&[u8]; 7] = [b"a", b"bb", b"c", b"", b"dddd", b"e", b"ffffff"];
        for algorithm in [Algorithm::Crc32, Algorithm::Sha256] {
            let bytes = log(algorithm, [0x5a; 16], &payloads);
            // Its own header, and damage in its records: not a header problem.
            assert_eq!(not_own(&bytes), None);
            let mut damaged = bytes.clone();
            damaged[64 + 24] ^= 1;
            assert_eq!(not_own(&damaged), None);
            damaged[64 + 21] ^= 1;
            assert_eq!(not_own(&damaged), None);
            // The other algorithm named: the records' own is found, with the salt.
            let mut other = bytes.clone();
            let flipped = match algorithm {
                Algorithm::Crc32 => Algorithm::Sha256,
                Algorithm::Sha256 => Algorithm::Crc32,
            };
            other[..64].copy_from_slice(&FileHeader::new(flipped, [0x5a; 16], 7).encode());
            let lost = not_own(&other).expect("not its own");
            assert_eq!(lost.algorithm, algorithm);
            assert_eq!(lost.header.map(|h| h.salt), Some([0x5a; 16]));
        }
        // Another log's header (another salt): CRC-32's class is recovered.
        let mut swapped = log(Algorithm::Crc32, [0x5a; 16], &payloads);
        swapped[..64].copy_from_slice(&FileHeader::new(Algorithm::Crc32, [7; 16], 9).encode());
        let lost = not_own(&swapped).expect("not its own");
        let salt = lost.header.expect("a salt").salt;
        assert!(same_salt(Algorithm::Crc32, &salt, &[0x5a; 16]));
        assert!(!same_salt(Algorithm::Crc32, &salt, &[7; 16]));
        // A SHA-256 log behind another salt: nothing to recover it from, taken at its word.
        let mut sha = log(Algorithm::Sha256, [0x5a; 16], &payloads);
        sha[..64].copy_from_slice(&FileHeader::new(Algorithm::Sha256, [7; 16], 9).encode());
        assert_eq!(not_own(&sha), None);
    }

    #[test]
    fn random_bytes_and_foreign_records_are_not_a_lost_log() {
        let mut bytes = log(
            Algorithm::Crc32,
            [1; 16],
            &[b"a", b"b", b"c", b"d", b"e", b"f", b"g"],
        );
        bytes[..64].fill(0);
        // A record's checksum changed: the CRCs of the others still agree on a salt.
        let mut changed = bytes.clone();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        let lost = recovered(&changed).unwrap();
        assert_eq!(lost.validated, 6);
        // Record 0's checksum changed: solved from the others, 6 of 7 vouch for it.
        let mut early = bytes.clone();
        early[64 + 24 + 1 + 8] ^= 1;
        assert_eq!(recovered(&early).map(|l| l.validated), Some(6));
        // Too few records vouch for it: 2 of 3.
        let mut few = log(Algorithm::Crc32, [1; 16], &[b"a", b"b", b"c"]);
        few[..64].fill(0);
        few[64 + 24 + 1 + 8] ^= 1;
        assert_eq!(recovered(&few).map(|l| l.header.is_some()), None);
        // A lost first sector: record 0 zeroed with the header, the chain found after it.
        let mut sector = bytes.clone();
        sector[..64 + 37].fill(0);
        assert_eq!(recovered(&sector).map(|l| l.validated), Some(6));
        let mut noise = vec![0u8; 4096];
        let mut x = 0x1234_5678u32;
        for b in noise.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        assert_eq!(recovered(&noise), None);
        noise[64..68].copy_from_slice(&RECORD_MAGIC);
        assert_eq!(recovered(&noise), None);
    }
}
