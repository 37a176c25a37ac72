//! CRC-32 (IEEE) of the short spans an append checksums for every record: a record header's
//! 16 bytes after its magic, and a small record's payload and trailer prefix. crc32fast is built
//! for long inputs (below 128 bytes it goes byte table by byte table, behind a call and a state
//! to clone and finalize); these spans are tens of bytes, two per record, so they take a
//! slice-by-16 table and, on x86-64 with carry-less multiplication, 16-byte folding. The values
//! are crc32fast's (`Hasher::new_with_initial(crc)`, `update`, `finalize`); longer spans go to
//! crc32fast.

/// Spans from this length on go to crc32fast, whose folding of four blocks at a time is faster.
const LONG: usize = 256;

/// `crc` (a finished CRC-32 of some bytes) continued over `data`: the CRC-32 of those bytes
/// followed by `data`, as crc32fast computes it.
pub(crate) fn update(crc: u32, data: &[u8]) -> u32 {
    if data.len() >= LONG {
        let mut h = crc32fast::Hasher::new_with_initial(crc);
        h.update(data);
        return h.finalize();
    }
    #[cfg(target_arch = "x86_64")]
    if data.len() >= 16
        && std::arch::is_x86_feature_detected!("pclmulqdq")
        && std::arch::is_x86_feature_detected!("sse4.1")
    {
        // SAFETY: the CPU has the carry-less multiplication and the byte shuffles and blends
        // the function is compiled for (checked just above; the answers are cached by std).
        return !unsafe { fold(!crc, data) };
    }
    !table(!crc, data)
}

/// Byte-shuffle masks for [`fold`]'s last, partial block: from `SHIFTS[t..]`, byte `i` takes byte
/// `i - (16 - t)` (moved up 16 - t bytes; 0x80, a zero byte, below); from `SHIFTS[16 + t..]`, byte
/// `i + t` (moved down t bytes; zero above).
#[cfg(target_arch = "x86_64")]
static SHIFTS: [u8; 48] = {
    let mut t = [0x80u8; 48];
    let mut i = 0;
    while i < 16 {
        t[16 + i] = i as u8;
        i += 1;
    }
    t
};

/// The slice-by-16 tables of the reflected polynomial 0xEDB88320: `TABLES[0]` is the byte
/// table; `TABLES[k][b]` is byte `b` followed by `k` zero bytes.
static TABLES: [[u32; 256]; 16] = tables();

const fn tables() -> [[u32; 256]; 16] {
    let mut t = [[0u32; 256]; 16];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
            bit += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut k = 1;
        while k < 16 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            k += 1;
        }
        i += 1;
    }
    t
}

/// `crc` continued over 16 bytes given as two little-endian words (`lo` the first eight):
/// a record header's bytes after its magic, straight from the values being encoded.
pub(crate) fn update16(crc: u32, lo: u64, hi: u64) -> u32 {
    !block(!crc, lo, hi)
}

/// The CRC register `reg` (not inverted) after 16 more bytes, the little-endian words `lo`
/// and `hi`.
#[inline]
fn block(reg: u32, lo: u64, hi: u64) -> u32 {
    let t = &TABLES;
    let lo = lo ^ u64::from(reg);
    let byte = |w: u64, i: u32| ((w >> (8 * i)) & 0xff) as usize;
    t[15][byte(lo, 0)]
        ^ t[14][byte(lo, 1)]
        ^ t[13][byte(lo, 2)]
        ^ t[12][byte(lo, 3)]
        ^ t[11][byte(lo, 4)]
        ^ t[10][byte(lo, 5)]
        ^ t[9][byte(lo, 6)]
        ^ t[8][byte(lo, 7)]
        ^ t[7][byte(hi, 0)]
        ^ t[6][byte(hi, 1)]
        ^ t[5][byte(hi, 2)]
        ^ t[4][byte(hi, 3)]
        ^ t[3][byte(hi, 4)]
        ^ t[2][byte(hi, 5)]
        ^ t[1][byte(hi, 6)]
        ^ t[0][byte(hi, 7)]
}

/// The register `reg` after `data`, by the tables.
fn table(mut reg: u32, data: &[u8]) -> u32 {
    let mut blocks = data.chunks_exact(16);
    for b in &mut blocks {
        let word = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        reg = block(reg, word(0), word(8));
    }
    for &b in blocks.remainder() {
        reg = (reg >> 8) ^ TABLES[0][((reg ^ u32::from(b)) & 0xff) as usize];
    }
    reg
}

/// The register `reg` after `data` (at least 16 bytes; fewer go to the tables): 16 bytes at a
/// time folded with carry-less multiplication, then reduced to 32 bits (Barrett).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "pclmulqdq,sse4.1")]
fn fold(reg: u32, data: &[u8]) -> u32 {
    use std::arch::x86_64::{
        __m128i, _mm_and_si128, _mm_blendv_epi8, _mm_clmulepi64_si128, _mm_cvtsi32_si128,
        _mm_cvtsi128_si32, _mm_loadu_si128, _mm_set_epi64x, _mm_shuffle_epi8, _mm_srli_si128,
        _mm_xor_si128,
    };
    if data.len() < 16 {
        return table(reg, data);
    }
    let load = |b: &[u8]| -> __m128i {
        let lo = u64::from_le_bytes(b[0..8].try_into().expect("8 bytes"));
        let hi = u64::from_le_bytes(b[8..16].try_into().expect("8 bytes"));
        _mm_set_epi64x(hi as i64, lo as i64)
    };
    // Moving a block 128 bits on keeps its remainder: the constants are x^(128+32) and
    // x^(128-32) modulo the polynomial, bit-reflected (low half, high half).
    let k = _mm_set_epi64x(0x0_ccaa_009e, 0x1_7519_97d0);
    let step = |x: __m128i, next: __m128i| {
        let lo = _mm_clmulepi64_si128::<0x00>(x, k);
        let hi = _mm_clmulepi64_si128::<0x11>(x, k);
        _mm_xor_si128(_mm_xor_si128(lo, hi), next)
    };
    // A register is the same as its bytes xored into the message's first four, run from a
    // zero register.
    let mut blocks = data.chunks_exact(16);
    let mut x = _mm_xor_si128(load(&data[..16]), _mm_cvtsi32_si128(reg as i32));
    blocks.next();
    for b in &mut blocks {
        x = step(x, load(b));
    }
    let tail = blocks.remainder().len();
    if tail > 0 {
        // The folded block and the last `tail` bytes, as two blocks: zero bytes in front of a
        // message leave a zero register zero. The folded block moved up by 16 - `tail` bytes
        // is the first; its top `tail` bytes moved down, under the message's last `tail`
        // bytes, the second (byte shuffles with masks from SHIFTS).
        // SAFETY: SHIFTS has 48 bytes and 0 < tail < 16, so both 16-byte loads from it are in
        // bounds, as is the load of the last 16 bytes of `data` (at least 16 long); none needs
        // alignment.
        let (up, down, end) = unsafe {
            (
                _mm_loadu_si128(SHIFTS.as_ptr().add(tail).cast()),
                _mm_loadu_si128(SHIFTS.as_ptr().add(16 + tail).cast()),
                _mm_loadu_si128(data.as_ptr().add(data.len() - 16).cast()),
            )
        };
        let first = _mm_shuffle_epi8(x, up);
        // Where `up` has its top bit set (the low 16 - `tail` bytes) the shifted-down block,
        // elsewhere the message's last bytes.
        let second = _mm_blendv_epi8(end, _mm_shuffle_epi8(x, down), up);
        x = step(first, second);
    }
    // 128 bits to 64, then to 32, then the remainder by Barrett reduction with the
    // polynomial and its quotient x^64 / P (both bit-reflected, 33 bits).
    let mask32 = _mm_set_epi64x(0, 0xffff_ffff);
    let x = _mm_xor_si128(_mm_clmulepi64_si128::<0x10>(x, k), _mm_srli_si128::<8>(x));
    let x = _mm_xor_si128(
        _mm_clmulepi64_si128::<0x00>(_mm_and_si128(x, mask32), _mm_set_epi64x(0, 0x1_63cd_6124)),
        _mm_srli_si128::<4>(x),
    );
    let poly = _mm_set_epi64x(0x1_f701_1641, 0x1_db71_0641);
    let t = _mm_clmulepi64_si128::<0x10>(_mm_and_si128(x, mask32), poly);
    let t = _mm_clmulepi64_si128::<0x00>(_mm_and_si128(t, mask32), poly);
    _mm_cvtsi128_si32(_mm_srli_si128::<4>(_mm_xor_si128(t, x))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(crc: u32, data: &[u8]) -> u32 {
        let mut h = crc32fast::Hasher::new_with_initial(crc);
        h.update(data);
        h.finalize()
    }

    /// A small deterministic generator (xorshift), so a failure can be replayed.
    fn bytes(seed: u64, len: usize) -> Vec<u8> {
        let mut s = seed | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn equals_crc32fast_on_every_short_length_and_some_long_ones() {
        let lengths = (0..=300).chain([511, 512, 1000, 4096, 65_537]);
        for len in lengths {
            for seed in 0..20u64 {
                let data = bytes(seed * 1_000_003 + len as u64, len);
                let start = bytes(seed, 4);
                let crc = u32::from_le_bytes([start[0], start[1], start[2], start[3]]);
                for crc in [0, u32::MAX, crc] {
                    assert_eq!(
                        update(crc, &data),
                        reference(crc, &data),
                        "length {len}, seed {seed}, from {crc:08x}"
                    );
                    assert_eq!(!table(!crc, &data), reference(crc, &data), "table, {len}");
                    #[cfg(target_arch = "x86_64")]
                    if std::arch::is_x86_feature_detected!("pclmulqdq")
                        && std::arch::is_x86_feature_detected!("sse4.1")
                    {
                        // SAFETY: the CPU has what `fold` is compiled for (checked).
                        let folded = !unsafe { fold(!crc, &data) };
                        assert_eq!(folded, reference(crc, &data), "folded, {len}");
                    }
                }
            }
        }
    }

    #[test]
    fn sixteen_bytes_as_two_words_equal_crc32fast() {
        for seed in 0..1000u64 {
            let data = bytes(seed, 20);
            let word = |i: usize| u64::from_le_bytes(data[i..i + 8].try_into().unwrap());
            let crc = u32::from_le_bytes([data[16], data[17], data[18], data[19]]);
            assert_eq!(update16(crc, word(0), word(8)), reference(crc, &data[..16]));
        }
    }

    #[test]
    fn a_span_can_be_split_anywhere() {
        let data = bytes(7, 200);
        let whole = reference(0, &data);
        for cut in 0..=data.len() {
            assert_eq!(update(update(0, &data[..cut]), &data[cut..]), whole);
        }
    }
}
