//! Byte-level mutations chosen by the fuzz input: bit flips, truncation, zero-fill, copies
//! (splices), insertions, deletions and hostile 32-bit values (lengths), at random offsets or
//! near `marks` (offsets where a field starts, which random offsets seldom hit).

use super::cursor::Cursor;

/// 32-bit values that make interesting lengths: none, all ones, the maximum record size and
/// just over it.
const HOSTILE: [u32; 4] = [0, u32::MAX, 16 << 20, (16 << 20) + 1];

/// Pick an offset in `0..=len`: anywhere, or within ±128 bytes of one of `marks`.
pub fn offset(c: &mut Cursor, len: usize, marks: &[usize]) -> usize {
    if c.byte() & 1 == 1 && !marks.is_empty() {
        let mark = marks[c.below(marks.len())];
        let delta = c.byte() as i8 as isize;
        mark.saturating_add_signed(delta).min(len)
    } else {
        c.below(len + 1)
    }
}

/// Apply up to four mutations to `bytes`, keeping it at most `max_len` bytes long.
pub fn apply(c: &mut Cursor, bytes: &mut Vec<u8>, marks: &[usize], max_len: usize) {
    let count = c.byte() % 5;
    for _ in 0..count {
        let len = bytes.len();
        let at = offset(c, len, marks);
        match c.byte() % 8 {
            0 => {
                if len > 0 {
                    bytes[at.min(len - 1)] ^= 1 << (c.byte() % 8);
                }
            }
            1 => bytes.truncate(at),
            2 => {
                let end = at.saturating_add(usize::from(c.byte()) + 1).min(len);
                bytes[at..end].fill(0);
            }
            3 => {
                let n = usize::from(c.u16() % 4096);
                bytes.resize(len + n, 0);
            }
            4 => {
                // Splice: copy a piece of the file over another place (a record written twice,
                // a page landing at the wrong offset).
                let from = offset(c, len, marks);
                let n = usize::from(c.byte()).min(len - from);
                let piece = bytes[from..from + n].to_vec();
                let end = (at + n).min(len);
                bytes[at..end].copy_from_slice(&piece[..end - at]);
            }
            5 => {
                let n = usize::from(c.byte() % 32);
                let piece = c.bytes(n).to_vec();
                bytes.splice(at..at, piece);
            }
            6 => {
                let end = at.saturating_add(usize::from(c.byte())).min(len);
                bytes.drain(at..end);
            }
            _ => {
                let value = match c.byte() % 6 {
                    i @ 0..=3 => HOSTILE[usize::from(i)],
                    4 => len as u32,
                    _ => c.u32(),
                };
                let end = (at + 4).min(len);
                bytes[at..end].copy_from_slice(&value.to_le_bytes()[..end - at]);
            }
        }
        bytes.truncate(max_len);
    }
}
