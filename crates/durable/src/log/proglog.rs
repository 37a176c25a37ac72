//! proglog's log segments: a store (records of an 8-byte big-endian length then the data, no
//! checksum) and an index (12-byte entries: 4-byte big-endian offset relative to the segment's
//! base, 8-byte big-endian position in the store), memory-mapped at its maximum size while open
//! and trimmed on a clean close, so an ungraceful shutdown leaves it zero-padded. Reading a store
//! (with its index, checking each entry), an index alone, detection, and the index rebuild that
//! `recover` does.

use std::collections::VecDeque;
use std::fs::File;
use std::io;

use super::item::{Defect, DefectKind, Evidence, Extra, Item, OnDamage, Record};
use super::reader::{Reader, Window};

/// Bytes of a store record's length field.
pub const LEN_WIDTH: u64 = 8;
/// Bytes of an index entry.
pub const ENTRY_WIDTH: u64 = 12;

fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

fn entry_of(b: &[u8]) -> (u32, u64) {
    (
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        be64(&b[4..12]),
    )
}

/// The bytes of index entry `i` for a record at `position`.
pub fn encode_entry(i: u64, position: u64) -> [u8; 12] {
    let mut e = [0u8; 12];
    // Relative offsets are 4 bytes in proglog; a segment never holds 2^32 records.
    e[..4].copy_from_slice(&(i as u32).to_be_bytes());
    e[4..].copy_from_slice(&position.to_be_bytes());
    e
}

/// The first non-zero byte at or after `at`, skipping the holes of a sparse file; `None` if only
/// zeros follow.
pub(crate) fn first_nonzero(win: &mut Window<'_>, mut at: u64) -> io::Result<Option<u64>> {
    while at < win.size {
        if !win.holds(at) {
            at = win.next_data(at)?;
            if at >= win.size {
                break;
            }
        }
        let chunk = win.chunk(at)?;
        if chunk.is_empty() {
            break;
        }
        if let Some(k) = chunk.iter().position(|b| *b != 0) {
            return Ok(Some(at + k as u64));
        }
        at += chunk.len() as u64;
    }
    Ok(None)
}

/// What the store holds at `pos`: `Ok((len, end))` for a record, `Err(())` if it runs past the
/// end of the file.
fn store_record(win: &mut Window<'_>, pos: u64) -> io::Result<Result<(u64, u64), ()>> {
    if win.size.saturating_sub(pos) < LEN_WIDTH {
        return Ok(Err(()));
    }
    let len = be64(win.get(pos, LEN_WIDTH as usize)?);
    if len > win.size - pos - LEN_WIDTH {
        return Ok(Err(()));
    }
    Ok(Ok((len, pos + LEN_WIDTH + len)))
}

/// Index entries after a record whose length disagrees with the index that are looked at for
/// evidence of later records (zeroed entries, a lost page of the memory-mapped index, are
/// stepped over without counting).
const EVIDENCE_ENTRIES: u64 = 16;

/// Index entries looked at for evidence: (number, position when numbered right).
type Entries = [(u64, Option<u64>); EVIDENCE_ENTRIES as usize];

/// A sector: a run of zeros in a store that covers an aligned one, with written bytes after it,
/// is damage (a zeroed or lost sector), not empty records ([`long_zeros`]).
const SECTOR: u64 = 512;

/// Whether the zeros from `pos` to `nonzero` (the first non-zero byte after them) cover a whole
/// aligned sector: too long a run of empty records to be proglog's (docs/FORMAT.md, "Zeros in
/// the store").
fn long_zeros(pos: u64, nonzero: u64) -> bool {
    pos.div_ceil(SECTOR)
        .checked_mul(SECTOR)
        .and_then(|s| s.checked_add(SECTOR))
        .is_some_and(|end| end <= nonzero)
}

/// Bytes before a record the index proves after damage that are searched for the store's chain
/// into it ([`StoreReader::chain_into`]): the records between, when they fit in this many.
const BACKFILL: u64 = 1 << 20;

/// Entry searches remembered ([`StoreReader::next_entry_from`]): as many as one search for
/// evidence makes, so runs of zeroed entries are read once however many searches cross them.
const ENTRY_SCANS: usize = 2 * EVIDENCE_ENTRIES as usize;

/// Where reading goes on after a long run of zeros, found from the store's own chain
/// ([`StoreReader::resync_at`]): (position, number of the record there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resync {
    /// The chain meets an index entry, and no entry before contradicts it.
    Numbered(u64, u64),
    /// The chain meets an index entry, but its first records are not the index's (entries
    /// name other positions for them): from the first record no entry contradicts, used only
    /// when the index proves no record after the zeros.
    Contradicted(u64, u64),
    /// No index entry is met (none there, or no index): the numbers are unknown.
    Unnumbered(u64),
}

/// What the index says about a record whose length it contradicts ([`StoreReader::evidence`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proof {
    /// Entry `.0` names a record the store has at `.1`, which the store's chain does not reach.
    Proven(u64, u64),
    /// The store's own chain of lengths reaches a later entry's position: the index is wrong.
    StoreConsistent,
    /// No entry proves anything.
    Nothing,
}

/// Forward reader of a store, checking each record's index entry when the index is given.
pub struct StoreReader<'f> {
    win: Window<'f>,
    pos: u64,
    /// Valid records returned so far.
    count: u64,
    /// The number (relative offset) of the record at `pos`: `count` plus the records lost to
    /// damage the index proved.
    entry_no: u64,
    on_damage: OnDamage,
    done: bool,
    queued: VecDeque<Item>,
    index: Option<Window<'f>>,
    /// The first entry that names another record: (entry, expected position, found position,
    /// found relative offset).
    mismatch: Option<(u64, u64, u64, u64)>,
    /// The first record without an entry, and how many records have none.
    missing: Option<(u64, u64)>,
    /// The first non-zero byte found at or after some position looked at (zero-tail cache).
    nonzero_at: Option<u64>,
    /// A position from which only zeros follow to the end of the store.
    zero_from: Option<u64>,
    /// Recent searches for the next non-zero index entry: (from, found; `None` if none).
    entry_scans: VecDeque<(u64, Option<u64>)>,
    /// The records read are past damage where no index entry numbered the record found
    /// again: their numbers are unknown (counted on from the damaged record's, for display
    /// only), and the index is no longer looked at.
    unnumbered: bool,
    /// The number of the damaged record where the numbers became unknown: the index's end
    /// is judged from it.
    numbered_end: u64,
    /// The position of a proven record that the store's chain was followed into from before
    /// ([`StoreReader::chain_into`]): the records up to it are not suspected again.
    chain_to: u64,
}

impl<'f> StoreReader<'f> {
    /// Read the store `file` of `size` bytes, with its index (file, size) if there is one.
    pub fn new(
        file: &'f File,
        size: u64,
        index: Option<(&'f File, u64)>,
        on_damage: OnDamage,
    ) -> StoreReader<'f> {
        StoreReader {
            win: Window::new(file, size),
            pos: 0,
            count: 0,
            entry_no: 0,
            on_damage,
            done: false,
            queued: VecDeque::new(),
            index: index.map(|(f, s)| Window::new(f, s)),
            mismatch: None,
            missing: None,
            nonzero_at: None,
            zero_from: None,
            entry_scans: VecDeque::new(),
            unnumbered: false,
            numbered_end: 0,
            chain_to: 0,
        }
    }

    /// The first index entry at or after `j` (`j` > 0) that is not all zeros and lies whole in
    /// the index; `None` if there is none. Zeroed entries (a lost page of the memory-mapped
    /// index, its padding) are skipped by reading for the next non-zero byte (holes of a sparse
    /// index not read), and recent searches are remembered, so a scan reads each run of zeroed
    /// entries about once.
    fn next_entry_from(&mut self, j: u64) -> io::Result<Option<u64>> {
        if let Some(&(_, found)) = self
            .entry_scans
            .iter()
            .find(|(from, found)| *from <= j && found.is_none_or(|f| j <= f))
        {
            return Ok(found);
        }
        let Some(index) = self.index.as_mut() else {
            return Ok(None);
        };
        let found = match first_nonzero(index, j.saturating_mul(ENTRY_WIDTH))? {
            Some(q) => {
                let k = q / ENTRY_WIDTH;
                (k.saturating_add(1).saturating_mul(ENTRY_WIDTH) <= index.size).then_some(k)
            }
            None => None,
        };
        if self.entry_scans.len() >= ENTRY_SCANS {
            self.entry_scans.pop_front();
        }
        self.entry_scans.push_back((j, found));
        Ok(found)
    }

    /// Whether only zeros follow `pos` to the end of the store (where a write never landed).
    /// Cached both ways, so a scan costs O(size) however many records it asks about.
    fn in_zero_tail(&mut self, pos: u64) -> io::Result<bool> {
        if self.nonzero_at.is_some_and(|nz| pos <= nz) {
            return Ok(false);
        }
        if self.zero_from.is_some_and(|z| pos >= z) {
            return Ok(true);
        }
        match first_nonzero(&mut self.win, pos)? {
            Some(nz) => {
                self.nonzero_at = Some(nz);
                Ok(false)
            }
            None => {
                self.zero_from = Some(pos);
                Ok(true)
            }
        }
    }

    /// Whether the index names an empty record `i` at `pos` (ending at `end`): entry `i` is
    /// (`i`, `pos`), and entry `i + 1` is absent (the index's end or its padding) or (`i + 1`,
    /// `end`). Zeros in the store are a record only so.
    fn empty_record_indexed(&mut self, i: u64, pos: u64, end: u64) -> io::Result<bool> {
        if self.entry_for(i)? != Some(pos) {
            return Ok(false);
        }
        Ok(match self.entry(i + 1)? {
            None => true,
            Some((rel, p)) => u64::from(rel) == i + 1 && p == end,
        })
    }

    /// The index entry for record `i`: `None` past the index's end or where it is zero padding.
    fn entry(&mut self, i: u64) -> io::Result<Option<(u32, u64)>> {
        let Some(index) = self.index.as_mut() else {
            return Ok(None);
        };
        let at = i.saturating_mul(ENTRY_WIDTH);
        if at.saturating_add(ENTRY_WIDTH) > index.size {
            return Ok(None);
        }
        let bytes = index.get(at, ENTRY_WIDTH as usize)?;
        if i > 0 && bytes.iter().all(|b| *b == 0) {
            return Ok(None);
        }
        Ok(Some(entry_of(bytes)))
    }

    /// Entry `j` if it is well formed: it names record `j` (its relative offset is `j`).
    /// The next [`EVIDENCE_ENTRIES`] index entries after entry `i` that are not all zeros (a
    /// lost page of the index zeroes hundreds, and records after it are still proven): each
    /// entry's number, with the position it gives when it is numbered right ([`Self::entry_for`]).
    fn entries_after(&mut self, i: u64) -> io::Result<(Entries, usize)> {
        let mut entries = [(0u64, None); EVIDENCE_ENTRIES as usize];
        let mut n = 0;
        let mut j = i;
        while n < entries.len() {
            let Some(next) = self.next_entry_from(j + 1)? else {
                break;
            };
            j = next;
            entries[n] = (j, self.entry_for(j)?);
            n += 1;
        }
        Ok((entries, n))
    }

    fn entry_for(&mut self, j: u64) -> io::Result<Option<u64>> {
        Ok(match self.entry(j)? {
            Some((rel, position)) if u64::from(rel) == j => Some(position),
            _ => None,
        })
    }

    /// The record `i` at `pos` runs past the end of the store (`end` `None`), or ends at `end`
    /// where the index's next entry does not start, or is an empty record the index does not
    /// name as one: is the store damaged there? Yes ([`Proof::Proven`]) if one of the next
    /// index entries names a record the store really has (it fits, is not empty, and ends where
    /// the entry after it starts, if there is one) that the store's own chain of lengths from
    /// `end` does not reach: proglog, which reads through the index, reads it. Entries that
    /// name nothing usable (zeroed, numbered wrong, not after `pos`: a lost page of the
    /// memory-mapped index, a flipped bit) are stepped over, not the end of the search. If the
    /// chain reaches the entry's position, the store is consistent and the index is what is
    /// wrong ([`Proof::StoreConsistent`]), unless the chain went through empty records and
    /// counts more (or fewer) records to there than the index does: zeros (where a write never
    /// landed, or a zeroed sector; every 8 of them read as an empty record) are no evidence
    /// against the index. The chain is followed for at most twice as many records as entries
    /// are looked at (where the index is wrong, it meets the chain after as many records as
    /// entries were skipped), and its positions are kept (an entry far ahead, a flipped high
    /// bit, does not hide the chain meeting a later one), so each call costs O(1) whatever the
    /// input.
    fn evidence(&mut self, i: u64, pos: u64, end: Option<u64>) -> io::Result<Proof> {
        // The chain from `end`: the position after each record followed (the first is `end`),
        // and whether an empty record was followed to get there.
        const CHAIN: usize = 2 * EVIDENCE_ENTRIES as usize + 1;
        let mut chain = [(0u64, false); CHAIN];
        let mut followed = 0usize;
        let mut open = false;
        if let Some(e) = end {
            chain[0] = (e, false);
            followed = 1;
            open = true;
        }
        let (entries, n) = self.entries_after(i)?;
        for &(j, p) in &entries[..n] {
            let Some(p) = p else {
                continue;
            };
            if p <= pos {
                continue;
            }
            while open && followed < CHAIN && chain[followed - 1].0 < p {
                let (c, empties) = chain[followed - 1];
                match store_record(&mut self.win, c)? {
                    Ok((len, e)) => {
                        chain[followed] = (e, empties || len == 0);
                        followed += 1;
                    }
                    Err(()) => open = false,
                }
            }
            // The chain reaches the entry's position (a wrong entry before it, one far ahead
            // among them, does not hide that): through empty records, only as many as the
            // index says lie between, as zeros that chain as more records than that are no
            // evidence against the index.
            let reached = chain[..followed]
                .iter()
                .enumerate()
                .find(|(_, (c, _))| *c == p);
            if let Some((k, &(_, empties))) = reached
                && (!empties || k as u64 == j - i - 1)
            {
                return Ok(Proof::StoreConsistent);
            }
            // An empty record is 8 zero bytes: zeros (where a write never landed) prove nothing.
            let Ok((len, e)) = store_record(&mut self.win, p)? else {
                continue;
            };
            if len == 0 {
                continue;
            }
            let confirmed = match self.entry_for(j + 1)? {
                Some(next) => e == next,
                None => true,
            };
            if confirmed {
                return Ok(Proof::Proven(j, p));
            }
        }
        Ok(Proof::Nothing)
    }

    /// Whether the store's own chain of lengths from `r` (after a long run of zeros at record
    /// `i`) holds records: it reaches the end of the store exactly, or meets one of `entries`
    /// (the next index entries that are not all zeros, [`Self::entries_after`]) or, further on,
    /// an entry found by its position ([`Self::entry_naming`]), or runs through
    /// `2 * EVIDENCE_ENTRIES` records that fit. Returns where reading goes on and the number of
    /// the record there ([`Resync`]): the met entry's number less the records between, unknown
    /// when no entry is met (the records lost in the zeros are counted by nothing). Where an
    /// entry is met, a record before it in the chain whose own entry names another position is
    /// no record of the index's (a piece of a record's data whose length was zeroed, chained by
    /// chance): [`Resync::Contradicted`], from after it. Bounded work: at most
    /// `2 * EVIDENCE_ENTRIES` records, as many entries, and as many binary searches.
    fn resync_at(
        &mut self,
        i: u64,
        r: u64,
        entries: &[(u64, Option<u64>)],
    ) -> io::Result<Option<Resync>> {
        const CHAIN: usize = 2 * EVIDENCE_ENTRIES as usize + 1;
        let mut chain = [0u64; CHAIN];
        chain[0] = r;
        let mut followed = 1usize;
        let mut whole = false;
        while followed < CHAIN {
            let c = chain[followed - 1];
            if c == self.win.size {
                whole = true;
                break;
            }
            match store_record(&mut self.win, c)? {
                Ok((_, e)) => {
                    chain[followed] = e;
                    followed += 1;
                }
                Err(()) => break,
            }
        }
        // The first record (its length holds the first non-zero byte) must be whole.
        if followed < 2 {
            return Ok(None);
        }
        let mut met = None;
        for &(j, p) in entries {
            let Some(p) = p else {
                continue;
            };
            if let Some(k) = chain[..followed].iter().position(|c| *c == p)
                && j.checked_sub(k as u64).is_some_and(|n| n >= i)
            {
                met = Some((j, k));
                break;
            }
        }
        // Further on in the index (more records than entries looked at were in the zeros): an
        // entry naming one of the chain's positions, found by its position.
        if met.is_none() && !entries.is_empty() {
            for (k, &c) in chain[..followed].iter().enumerate() {
                if let Some(j) = self.entry_naming(i + 1, c)?
                    && j.checked_sub(k as u64).is_some_and(|n| n >= i)
                {
                    met = Some((j, k));
                    break;
                }
            }
        }
        if let Some((j, k)) = met {
            let mut m = k;
            while m > 0 {
                let no = j - (k - m + 1) as u64;
                match self.entry_for(no)? {
                    Some(q) if q != chain[m - 1] => break,
                    _ => m -= 1,
                }
            }
            let no = j - (k - m) as u64;
            return Ok(Some(if m == 0 {
                Resync::Numbered(r, no)
            } else {
                Resync::Contradicted(chain[m], no)
            }));
        }
        Ok((whole || followed == CHAIN).then_some(Resync::Unnumbered(r)))
    }

    /// The index entry at or after `from` that is (its number, `p`), found by a binary search
    /// on positions (they grow with the entry's number); zeroed entries are stepped over to the
    /// next non-zero one. `None` if there is none, or an entry numbered wrong is met (the index
    /// is not to be searched so). O(log entries) entries read, plus zero runs skipped once.
    fn entry_naming(&mut self, from: u64, p: u64) -> io::Result<Option<u64>> {
        let Some(size) = self.index.as_ref().map(|x| x.size) else {
            return Ok(None);
        };
        let (mut lo, mut hi) = (from, size / ENTRY_WIDTH);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let Some(m) = self.next_entry_from(mid)?.filter(|m| *m < hi) else {
                hi = mid;
                continue;
            };
            let Some(at) = self.entry_for(m)? else {
                return Ok(None);
            };
            match at.cmp(&p) {
                std::cmp::Ordering::Equal => return Ok(Some(m)),
                std::cmp::Ordering::Less => lo = m + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        Ok(None)
    }

    /// The records between a damaged record `i` at `pos` and the record `j` at `p` that the
    /// index proves: where the store's own chain meets `p`, so that no record proven so is
    /// skipped (`log salvage`, `dump --resync`, `verify` read on from there). The start of
    /// that chain is the one position after `pos`'s length field from which exactly
    /// `j - i - 1` records, none of them empty (zeros prove nothing), end exactly at `p`: as
    /// many as the index puts between. None if there is no such position, or more than one
    /// (no guess), or the records between would not fit in [`BACKFILL`] bytes. One pass over
    /// at most [`BACKFILL`] bytes, backwards, each position's count of records to `p` taken
    /// from the position its record ends at.
    fn chain_into(&mut self, i: u64, pos: u64, j: u64, p: u64) -> io::Result<Option<u64>> {
        let Some(between) = j.checked_sub(i + 1).filter(|b| *b > 0) else {
            return Ok(None);
        };
        let Ok(between) = u32::try_from(between) else {
            return Ok(None);
        };
        let first = pos.saturating_add(LEN_WIDTH);
        if p <= first {
            return Ok(None);
        }
        let lo = first.max(p - BACKFILL.min(p));
        let n = (p - lo) as usize;
        let bytes = self.win.get(lo, n)?;
        if bytes.len() != n {
            return Ok(None);
        }
        // counts[k]: records from lo + k that chain to exactly p (0: none).
        let mut counts = vec![0u32; n];
        for k in (0..n).rev() {
            if k + LEN_WIDTH as usize > n {
                continue;
            }
            let len = be64(&bytes[k..]);
            if len == 0 {
                continue;
            }
            let end = (k as u64 + LEN_WIDTH).saturating_add(len);
            counts[k] = if end == n as u64 {
                1
            } else if end < n as u64 {
                match counts[end as usize] {
                    0 => 0,
                    c => c.saturating_add(1),
                }
            } else {
                0
            };
        }
        let mut found = counts.iter().enumerate().filter(|(_, c)| **c == between);
        Ok(match (found.next(), found.next()) {
            (Some((k, _)), None) => {
                // The records up to `p` are the chain's: not suspected again (each of them
                // would search, and scan bytes before `p`, once more).
                self.chain_to = p;
                Some(lo + k as u64)
            }
            _ => None,
        })
    }

    /// Record `i` at `pos` is the start of a long run of zeros (an aligned sector or more, up
    /// to the first non-zero byte `nonzero`) with written bytes after it: damage, not empty
    /// records. The records after it are found again from the store's own chain from the first
    /// position whose length holds `nonzero` (checked by [`StoreReader::resync_at`]), else from
    /// an index entry that proves one; `bad-length` at `pos` with that record as evidence, or
    /// without one, corruption with `nonzero` as evidence that it is no torn write.
    fn long_zeros_item(&mut self, i: u64, nonzero: u64) -> io::Result<Item> {
        let pos = self.pos;
        let mut found = None;
        // Listed once for the (up to 8) starts tried; none where the numbers are unknown.
        let indexed = self.index.is_some() && !self.unnumbered;
        let (entries, n) = if indexed {
            self.entries_after(i)?
        } else {
            ([(0, None); EVIDENCE_ENTRIES as usize], 0)
        };
        // A chain that the index contradicts or does not number comes after an index entry
        // that proves a record (such a chain may start in a record's data and jump over
        // records the index names).
        let mut fallback = None;
        for r in nonzero.saturating_sub(LEN_WIDTH - 1).max(pos)..=nonzero {
            match self.resync_at(i, r, &entries[..n])? {
                Some(Resync::Numbered(at, no)) => {
                    found = Some((Some(no), at));
                    break;
                }
                Some(Resync::Contradicted(at, no)) if !matches!(fallback, Some((Some(_), _))) => {
                    fallback = Some((Some(no), at));
                }
                Some(Resync::Unnumbered(at)) => {
                    fallback.get_or_insert((None, at));
                }
                Some(Resync::Contradicted(..)) | None => {}
            }
        }
        if found.is_none()
            && indexed
            && let Proof::Proven(j, p) = self.evidence(i, pos, None)?
        {
            found = Some(match self.chain_into(i, pos, j, p)? {
                Some(r) => (Some(i + 1), r),
                None => (Some(j), p),
            });
        }
        let found = found.or(fallback);
        let Some((j, p)) = found else {
            let defect = Defect {
                evidence: Evidence::NotTorn(nonzero),
                ..Defect::new(pos, DefectKind::BadLength, None)
            };
            self.finish(Some(defect))?;
            return self.next_item();
        };
        match self.on_damage {
            OnDamage::Resync => {
                self.pos = p;
                match j {
                    Some(j) => self.entry_no = j,
                    // No entry numbers the records found again: they are not compared with
                    // the index (which would call its right entries wrong or missing).
                    None if self.index.is_some() && !self.unnumbered => {
                        self.unnumbered = true;
                        self.numbered_end = i;
                    }
                    None => {}
                }
            }
            OnDamage::Stop => self.done = true,
        }
        Ok(Item::Defect(Defect::new(
            pos,
            DefectKind::BadLength,
            Some(p),
        )))
    }

    /// Where the run of zeros that reaches record boundary `pos` starts, as far as it matters
    /// for [`long_zeros`]: the start of `pos`'s sector when every byte from there to `pos` is
    /// zero (a sector zeroed from inside a record's data over the next record's length field is
    /// the same zeroed sector as one that starts at a record), else `pos`. Reads under one
    /// sector.
    fn zero_run_start(&mut self, pos: u64) -> io::Result<u64> {
        let sector = pos / SECTOR * SECTOR;
        if sector == pos {
            return Ok(pos);
        }
        // At most `pos - sector` (< 512) bytes, inside one window.
        let before = self.win.get(sector, (pos - sector) as usize)?;
        Ok(
            if before.len() as u64 == pos - sector && before.iter().all(|b| *b == 0) {
                sector
            } else {
                pos
            },
        )
    }

    /// Whether record `i`, ending at `end`, ends past the position that the next index entry
    /// after it that is not all zeros gives its record (when that entry is numbered right):
    /// the record's length swallows records the index names. One cached search.
    fn ends_past_next_entry(&mut self, i: u64, end: u64) -> io::Result<bool> {
        let Some(j) = self.next_entry_from(i + 1)? else {
            return Ok(false);
        };
        Ok(self.entry_for(j)?.is_some_and(|q| q < end))
    }

    /// Whether record `i` at `pos` (`found`, as the store's length gives it: a record that is
    /// not empty) is cut short where the index proves its end: entry `i` names it (`i` > 0: entry
    /// 0 is (0, 0) in any index), entry `i + 1` names another end than the store's length gives,
    /// one after its length field, and entry `i + 2` a record after that (two entries, each
    /// numbered right and in order, are the index's own chain; one flipped entry is not). The
    /// caller has found that the store's chain reaches none of the next index entries
    /// ([`Proof::Nothing`]). Returns the end the index proves.
    fn stale_after(
        &mut self,
        i: u64,
        pos: u64,
        found: Result<(u64, u64), ()>,
    ) -> io::Result<Option<u64>> {
        let Ok((len, end)) = found else {
            return Ok(None);
        };
        if len == 0 || i == 0 || self.entry_for(i)? != Some(pos) {
            return Ok(None);
        }
        let Some(q) = self.entry_for(i + 1)? else {
            return Ok(None);
        };
        if q == end || q < pos.saturating_add(LEN_WIDTH) {
            return Ok(None);
        }
        Ok(self.entry_for(i + 2)?.is_some_and(|r| r > q).then_some(q))
    }

    /// Whether the empty record `i` at `pos` (ending at `end`, not in a zero tail) is zeros
    /// the index contradicts: entry `i` names a record at `pos` and entry `i + 1` names
    /// another position than `end` (the index says the record is not empty), or entry `i + 1`
    /// is absent and the zeros run on as a second empty record that no entry names.
    fn zeros_against_index(&mut self, i: u64, pos: u64, end: u64) -> io::Result<bool> {
        if self.entry_for(i)? != Some(pos) {
            return Ok(false);
        }
        Ok(match self.entry(i + 1)? {
            Some((rel, q)) => !(u64::from(rel) == i + 1 && q == end),
            None => matches!(store_record(&mut self.win, end)?, Ok((0, _))),
        })
    }

    /// The store has ended (cleanly, or in `store_defect`): queue its defect and the index's.
    fn finish(&mut self, store_defect: Option<Defect>) -> io::Result<()> {
        self.done = true;
        if let Some(d) = store_defect {
            self.queued.push_back(Item::Defect(d));
        }
        let n = if self.unnumbered {
            self.numbered_end
        } else {
            self.entry_no
        };
        let in_index = |offset, kind| Defect {
            in_index: true,
            ..Defect::new(offset, kind, None)
        };
        if let Some((entry, expected, found, found_offset)) = self.mismatch {
            self.queued.push_back(Item::Defect(in_index(
                entry * ENTRY_WIDTH,
                DefectKind::IndexMismatch {
                    entry,
                    expected: Some(expected),
                    found,
                    found_offset,
                },
            )));
        }
        if let Some(index) = self.index.as_mut() {
            let end = n.saturating_mul(ENTRY_WIDTH);
            if let Some((first, records)) = self.missing {
                self.queued.push_back(Item::Defect(in_index(
                    first * ENTRY_WIDTH,
                    DefectKind::IndexMissing { records },
                )));
            } else if index.size > end {
                // Past records of unknown numbers, entries after the last numbered one may be
                // theirs: only zero padding is a finding there.
                let kind = if index.all_zero_from(end)? {
                    Some(DefectKind::ZeroFill)
                } else if self.unnumbered {
                    None
                } else {
                    Some(DefectKind::IndexBeyondStore)
                };
                if let Some(kind) = kind {
                    self.queued.push_back(Item::Defect(in_index(end, kind)));
                }
            }
        }
        self.queued.push_back(Item::End);
        Ok(())
    }
}

impl Reader for StoreReader<'_> {
    fn next_item(&mut self) -> io::Result<Item> {
        if let Some(item) = self.queued.pop_front() {
            return Ok(item);
        }
        if self.done {
            return Ok(Item::End);
        }
        if self.pos >= self.win.size {
            self.finish(None)?;
            return self.next_item();
        }
        let i = self.entry_no;
        let found = store_record(&mut self.win, self.pos)?;
        // Past records whose numbers are unknown, the index says nothing about them.
        let indexed = self.index.is_some() && !self.unnumbered;
        // Zeros to the end of a store read with its index read as empty records; they are
        // records only where the index names them (an empty record proglog appended), else a
        // zero-fill torn tail. (A store alone has nothing to tell them apart by: read as
        // records, so that a cut after a real empty record stays as it is.)
        if let Ok((0, end)) = found
            && indexed
            && self.in_zero_tail(self.pos)?
            && !self.empty_record_indexed(i, self.pos, end)?
        {
            self.finish(Some(Defect::new(self.pos, DefectKind::ZeroFill, None)))?;
            return self.next_item();
        }
        // A run of zeros covering a whole aligned sector, with written bytes after it: a zeroed
        // or lost sector (a write that never landed leaves zeros to the end), not dozens of
        // empty records, with the index or without.
        if let Ok((0, _)) = found
            && !self.in_zero_tail(self.pos)?
            && let Some(nonzero) = self.nonzero_at
            && long_zeros(self.zero_run_start(self.pos)?, nonzero)
        {
            return self.long_zeros_item(i, nonzero);
        }
        if indexed {
            let end = found.ok().map(|(_, e)| e);
            // Zeros the index contradicts, with bytes after them that landed: no torn write
            // (that leaves zeros to the end) and no empty record proglog appended.
            let zeros = match found {
                Ok((0, e)) => {
                    !self.in_zero_tail(self.pos)? && self.zeros_against_index(i, self.pos, e)?
                }
                _ => false,
            };
            let suspect = self.pos >= self.chain_to
                && (zeros
                    || match end {
                        None => true,
                        Some(e) => match self.entry_for(i + 1)? {
                            Some(next) => next != e,
                            // Entry i + 1 zeroed (or numbered wrong): a record that ends past
                            // the position the next usable entry gives a later record (a
                            // damaged length that still fits in the store) is suspect too.
                            None => self.ends_past_next_entry(i, e)?,
                        },
                    });
            let proof = if suspect {
                self.evidence(i, self.pos, end)?
            } else {
                Proof::Nothing
            };
            if let Proof::Proven(j, p) = proof {
                // The record's length disagrees with an index that proves later records; the
                // records between, where the store's chain meets the proven one, are proven too.
                let (j, p) = match self.chain_into(i, self.pos, j, p)? {
                    Some(r) => (i + 1, r),
                    None => (j, p),
                };
                let defect = Defect::new(self.pos, DefectKind::BadLength, Some(p));
                match self.on_damage {
                    OnDamage::Resync => {
                        self.pos = p;
                        self.entry_no = j;
                    }
                    OnDamage::Stop => self.done = true,
                }
                return Ok(Item::Defect(defect));
            }
            // The index proves where record i ends (entry i + 1, and entry i + 2 after it: the
            // index's own chain of records) and the store's chain contradicts it, reaching no
            // later entry: proglog wrote entry i + 1 only after handing record i to the store,
            // so record i is as long as the index says, and the store's bytes from where its
            // write stopped are stale (blocks a torn write left, read as records by chance).
            // A torn tail at record i (the store ends inside it, or holds bytes proglog did not
            // write there), not a wrong index to rebuild around stale records.
            if suspect
                && proof == Proof::Nothing
                && !zeros
                && let Some(q) = self.stale_after(i, self.pos, found)?
            {
                let mut defect = Defect::new(self.pos, DefectKind::Truncated, None);
                if q > self.win.size {
                    defect.evidence = Evidence::EndOfFile;
                }
                self.finish(Some(defect))?;
                return self.next_item();
            }
            if zeros && proof == Proof::Nothing {
                // Damage in the middle, though no record after it can be proven: the bytes
                // after the zeros were written. Not a record (its zeros would chain as phantom
                // empty records), and not a torn tail to cut.
                let after = self.nonzero_at.unwrap_or(self.win.size);
                let defect = Defect {
                    evidence: Evidence::NotTorn(after),
                    ..Defect::new(self.pos, DefectKind::BadLength, None)
                };
                self.finish(Some(defect))?;
                return self.next_item();
            }
        }
        let (len, end) = match found {
            Ok(r) => r,
            Err(()) => {
                let kind = if self.win.all_zero_from(self.pos)? {
                    DefectKind::ZeroFill
                } else {
                    DefectKind::Truncated
                };
                self.finish(Some(Defect::new(self.pos, kind, None)))?;
                return self.next_item();
            }
        };
        let extra = if indexed {
            let entry = self.entry(i)?;
            match entry {
                Some((rel, at)) if u64::from(rel) == i && at == self.pos => {}
                Some((rel, found)) => {
                    self.mismatch
                        .get_or_insert((i, self.pos, found, u64::from(rel)));
                }
                None => {
                    // Counted one by one: a zeroed entry (a lost page of the memory-mapped
                    // index) may have entries after it.
                    self.missing.get_or_insert((i, 0)).1 += 1;
                }
            }
            Extra::StoreEntry(entry)
        } else {
            Extra::None
        };
        let record = Record {
            index: self.count,
            offset: self.pos,
            len,
            data: self.pos + LEN_WIDTH,
            end,
            seq: i,
            checksum: None,
            extra,
        };
        self.count += 1;
        self.entry_no += 1;
        self.pos = end;
        Ok(Item::Record(record))
    }

    fn read_payload(
        &mut self,
        record: &Record,
        f: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        self.win.stream(record.data, record.len, f)
    }

    fn position(&self) -> u64 {
        self.pos
    }

    fn refresh(&mut self) -> io::Result<bool> {
        let grew = self.win.refresh()?;
        if grew {
            self.done = false;
            self.queued.clear();
            self.nonzero_at = None;
            self.zero_from = None;
            self.entry_scans.clear();
        }
        Ok(grew)
    }

    fn io_stats(&self) -> (u64, u64) {
        self.win.stats()
    }
}

/// Forward reader of an index read alone: each entry is a record (its 12 bytes are the payload).
pub struct IndexReader<'f> {
    win: Window<'f>,
    i: u64,
    last_pos: u64,
    done: bool,
}

impl<'f> IndexReader<'f> {
    /// Read the index `file` of `size` bytes.
    pub fn new(file: &'f File, size: u64) -> IndexReader<'f> {
        IndexReader {
            win: Window::new(file, size),
            i: 0,
            last_pos: 0,
            done: false,
        }
    }
}

impl Reader for IndexReader<'_> {
    fn next_item(&mut self) -> io::Result<Item> {
        let at = self.i.saturating_mul(ENTRY_WIDTH);
        if self.done || at >= self.win.size {
            self.done = true;
            return Ok(Item::End);
        }
        self.done = true;
        let zero_rest = self.win.all_zero_from(at)?;
        if self.win.size - at < ENTRY_WIDTH {
            let kind = if zero_rest {
                DefectKind::ZeroFill
            } else {
                DefectKind::Truncated
            };
            return Ok(Item::Defect(Defect::new(at, kind, None)));
        }
        let bytes = self.win.get(at, ENTRY_WIDTH as usize)?;
        let (rel, pos) = entry_of(bytes);
        if self.i > 0 && zero_rest {
            return Ok(Item::Defect(Defect::new(at, DefectKind::ZeroFill, None)));
        }
        let expected_first = self.i == 0 && pos != 0;
        // An entry in order whose next two entries go back below it, in order with each
        // other and past the entry before it, is the damaged one (a flipped high byte of its
        // position): they chain from its predecessor, and blaming the next would keep the bad
        // entry. With one entry after it, which of the two is wrong cannot be told.
        let overshoots =
            self.i > 0 && pos > self.last_pos && self.win.size - at >= 3 * ENTRY_WIDTH && {
                let (r1, p1) = entry_of(self.win.get(at + ENTRY_WIDTH, ENTRY_WIDTH as usize)?);
                let (r2, p2) = entry_of(self.win.get(at + 2 * ENTRY_WIDTH, ENTRY_WIDTH as usize)?);
                u64::from(r1) == self.i + 1
                    && u64::from(r2) == self.i + 2
                    && self.last_pos < p1
                    && p1 < p2
                    && p1 <= pos
            };
        if u64::from(rel) != self.i
            || expected_first
            || (self.i > 0 && pos <= self.last_pos)
            || overshoots
        {
            let kind = DefectKind::IndexMismatch {
                entry: self.i,
                expected: (self.i == 0).then_some(0),
                found: pos,
                found_offset: u64::from(rel),
            };
            return Ok(Item::Defect(Defect::new(at, kind, None)));
        }
        self.done = false;
        let record = Record {
            index: self.i,
            offset: at,
            len: ENTRY_WIDTH,
            data: at,
            end: at + ENTRY_WIDTH,
            seq: self.i,
            checksum: None,
            extra: Extra::IndexEntry(rel, pos),
        };
        self.i += 1;
        self.last_pos = pos;
        Ok(Item::Record(record))
    }

    fn payload(&self, _record: &Record) -> Option<&[u8]> {
        None
    }

    fn read_payload(
        &mut self,
        record: &Record,
        f: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        f(self.win.get(record.data, record.len as usize)?)
    }

    fn position(&self) -> u64 {
        self.i * ENTRY_WIDTH
    }

    fn refresh(&mut self) -> io::Result<bool> {
        Err(super::reader::not_followable("a proglog index"))
    }

    fn io_stats(&self) -> (u64, u64) {
        self.win.stats()
    }
}

/// Entries looked at by detection.
const DETECT_ENTRIES: u64 = 64;

/// Whether the file reads as a proglog index: entry 0 is (0, 0), entry 1 is (1, p > 0), then
/// entries (i, increasing) up to zero padding (only zeros to the end) or `DETECT_ENTRIES`.
pub fn looks_like_index(file: &File, size: u64) -> io::Result<bool> {
    if size < 2 * ENTRY_WIDTH {
        return Ok(false);
    }
    let mut win = Window::new(file, size);
    let mut last = 0u64;
    for i in 0..DETECT_ENTRIES.min(size / ENTRY_WIDTH) {
        let at = i * ENTRY_WIDTH;
        let (rel, pos) = entry_of(win.get(at, ENTRY_WIDTH as usize)?);
        if i >= 2 && rel == 0 && pos == 0 {
            return win.all_zero_from(at);
        }
        let ok = u64::from(rel) == i && if i == 0 { pos == 0 } else { pos > last };
        if !ok {
            return Ok(false);
        }
        last = pos;
    }
    let whole = size / ENTRY_WIDTH * ENTRY_WIDTH;
    Ok(size / ENTRY_WIDTH > DETECT_ENTRIES || win.all_zero_from(whole)?)
}

/// Records detection follows before it believes a store.
const DETECT_RECORDS: u64 = 4096;

/// Whether the file reads as a proglog store: lengths that chain exactly to the end of the file
/// (or over `DETECT_RECORDS` records), at least one of them not zero.
pub fn looks_like_store(file: &File, size: u64) -> io::Result<bool> {
    let mut win = Window::new(file, size);
    let (mut pos, mut nonempty) = (0u64, false);
    for _ in 0..DETECT_RECORDS {
        if pos == size {
            return Ok(nonempty);
        }
        match store_record(&mut win, pos)? {
            Ok((len, end)) => {
                nonempty |= len > 0;
                pos = end;
            }
            Err(()) => return Ok(false),
        }
    }
    Ok(nonempty)
}

/// Whether a file named `<base>.index` without its store is proglog's (docs/FORMAT.md,
/// "Detection", rule 2): empty, or entry 0 is (0, 0) (zero padding reads so too) and entry 1,
/// if there is one, is numbered 1 or is padding, and not all zeros. Later entries may be damaged: that is for the
/// reader to report.
pub fn named_index_is_proglog(file: &File, size: u64) -> io::Result<bool> {
    let mut first = [0u8; 2 * ENTRY_WIDTH as usize];
    let got = super::reader::read_prefix(file, size, &mut first)?;
    let w = ENTRY_WIDTH as usize;
    Ok(match got {
        0 => true,
        n if n < w => false,
        n => {
            first[..w].iter().all(|b| *b == 0)
                && (n < 2 * w || entry_of(&first[w..]).0 == 1 || first[w..].iter().all(|b| *b == 0))
                // All zeros is no one's format (another program's preallocated file, Kafka's
                // offset index among them).
                && !all_zero(file, size)?
        }
    })
}

/// Whether every byte of the file is zero (holes of a sparse file are skipped, not read).
fn all_zero(file: &File, size: u64) -> io::Result<bool> {
    Ok(first_nonzero(&mut Window::new(file, size), 0)?.is_none())
}

/// A store read as proglog's whatever its bytes: an empty one (rule 2), or one whose index beside
/// it has entries that read as proglog's (entry 1 and on, not only entry 0), whatever the
/// store's first bytes are (a damaged first length among them).
fn empty_or_indexed(size: u64, index: Option<(&File, u64)>) -> io::Result<bool> {
    if size == 0 {
        return Ok(true);
    }
    match index {
        Some((index, index_size)) => looks_like_index(index, index_size),
        None => Ok(false),
    }
}

/// Whether a file named `<base>.store` is proglog's (docs/FORMAT.md, "Detection", rule 2): any
/// program may give a file that name, so the bytes must agree. They do when the file is empty,
/// when its lengths chain from the start through at least one complete record that is not
/// empty, to the end or to a last record cut short (a crash during an append) whose length is
/// under 4 GiB, when the index beside it reads as a
/// proglog index, or when that index only starts as every proglog index does (entry 0 is (0,
/// 0), which zero padding also reads as: a store whose first append was torn has such an
/// index) and the store's first length is one proglog could have written (under 4 GiB: its
/// first 4 bytes are zero) and the store is not all zeros (zeros are no evidence).
pub fn named_store_is_proglog(
    file: &File,
    size: u64,
    index: Option<(&File, u64)>,
) -> io::Result<bool> {
    // One that only starts as proglog's do (a segment whose first append was torn) says so
    // only for a store whose lengths chain as proglog's could (below).
    if empty_or_indexed(size, index)? {
        return Ok(true);
    }
    // A store of zeros only holds no record (zeros are where a write never landed), and its
    // zeros are no evidence, beside an index of zeros or alone.
    if all_zero(file, size)? {
        return Ok(false);
    }
    // The lengths chain from the start: to the end, or to a record cut short whose length is
    // one proglog could have written (under 4 GiB: its first 4 bytes, or as many as the file
    // holds, zero). A crash cuts a real record; the bytes after a lone length-prefixed record
    // in another program's file read as a huge length.
    let mut win = Window::new(file, size);
    let (mut pos, mut nonempty) = (0u64, false);
    for _ in 0..DETECT_RECORDS {
        if pos == size {
            break;
        }
        match store_record(&mut win, pos)? {
            Ok((len, end)) => {
                nonempty |= len > 0;
                pos = end;
            }
            Err(()) => {
                let mut high = [0u8; 4];
                let n = (size - pos).min(4) as usize;
                high[..n].copy_from_slice(win.get(pos, n)?);
                if high[..n].iter().any(|b| *b != 0) {
                    return Ok(false);
                }
                break;
            }
        }
    }
    // Beside an index that only starts as proglog's do (entry 0, or zero padding), a chain
    // with no complete record is enough (a first append torn); alone, one record must be whole.
    if let Some((index, index_size)) = index
        && index_size >= ENTRY_WIDTH
    {
        let mut first = [0u8; ENTRY_WIDTH as usize];
        if super::reader::read_prefix(index, index_size, &mut first)? == first.len()
            && first.iter().all(|b| *b == 0)
        {
            return Ok(true);
        }
    }
    Ok(nonempty)
}

/// Why a file read as a proglog store because its format was named is not one
/// ([`forced_store_is_proglog`]).
pub const NOT_A_STORE: &str = "no record chains from its start, and its first length is 4 GiB \
     or more, which proglog never writes (so it is no store whose first record was cut short), \
     and no index beside it proves records; it was left as it is";

/// Whether a file read as a proglog store because the user named the format (`--log-format
/// proglog`) holds anything of proglog's (docs/FORMAT.md, "Detection"): it is empty; or the
/// index beside it reads as a proglog index ([`looks_like_index`]: it proves records, whatever
/// the store's first bytes are); or its lengths chain from the start through a complete record
/// that is not empty, or to its end; or the chain ends in a record cut short whose length
/// proglog could have written (under 4 GiB: its first 4 bytes, or as many as the file holds,
/// zero: a store whose first append was torn); or zeros from its start cover a whole aligned
/// sector before written bytes (a zeroed sector: corruption, [`long_zeros`]). Anything else (a
/// text file, a database: "0 records, a torn tail at offset 0") is not a store, and `recover`
/// must not empty it.
pub fn forced_store_is_proglog(
    file: &File,
    size: u64,
    index: Option<(&File, u64)>,
) -> io::Result<bool> {
    if empty_or_indexed(size, index)? {
        return Ok(true);
    }
    let mut win = Window::new(file, size);
    let mut pos = 0u64;
    for _ in 0..DETECT_RECORDS {
        if pos == size {
            return Ok(true);
        }
        match store_record(&mut win, pos)? {
            Ok((len, _)) if len > 0 => return Ok(true),
            Ok((_, end)) => pos = end,
            Err(()) => {
                let n = (size - pos).min(4) as usize;
                if win.get(pos, n)?.iter().all(|b| *b == 0) {
                    return Ok(true);
                }
                // Zeros from the start over a whole sector, written bytes after them: a zeroed
                // sector of a store, which the reader finds as corruption (never cut unforced).
                return Ok(first_nonzero(&mut win, pos)?.is_some_and(|nz| long_zeros(0, nz)));
            }
        }
    }
    Ok(true)
}

/// Whether one of the index's entries 1.. (up to `DETECT_ENTRIES`) is exactly the entry the
/// store calls for: (`i`, the position of record `i`), a record that starts inside the store
/// (the records before it complete). Such an index is this store's whatever its entry 0 holds
/// (a flipped bit there): 12 bytes naming one of the store's record boundaries by its number
/// are not there by chance, and text never holds them.
pub fn index_agrees(
    store: &File,
    store_size: u64,
    index: &File,
    index_size: u64,
) -> io::Result<bool> {
    let mut x = Window::new(index, index_size);
    let mut s = Window::new(store, store_size);
    let mut record = 0u64;
    for i in 1..DETECT_ENTRIES.min(index_size / ENTRY_WIDTH) {
        let Ok((_, next)) = store_record(&mut s, record)? else {
            break;
        };
        record = next;
        if record >= store_size {
            break;
        }
        if x.get(i * ENTRY_WIDTH, ENTRY_WIDTH as usize)? == encode_entry(i, record) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Why an index read with a store is taken for another store's ([`foreign_index`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForeignIndex {
    /// Entries compared: entries 1.. (up to `DETECT_ENTRIES`, before padding) that name a
    /// position inside the store, for records the store has.
    pub compared: u64,
    /// Of them, those that name their record's position.
    pub matching: u64,
    /// The first that does not: its number.
    pub entry: u64,
    /// The position it names.
    pub named: u64,
    /// Where that record starts in the store.
    pub record: u64,
}

/// Whether an index is whole but another store's: it reads as a proglog index (entries
/// numbered in order, positions increasing, zero padding at most; [`looks_like_index`]), and of
/// its entries 1.. (up to `DETECT_ENTRIES`) that name a position inside the store, for a
/// record the store has (the records before it complete), at least 2 are compared and fewer
/// than half name their record's position. A crash leaves an index short, zero-padded or
/// ahead of its store (its entries for the store's records all right), and damage leaves most
/// entries right; an index naming the wrong bytes of the store for most records was paired by
/// mistake (another segment's, given with `--with-index` or copied beside the store).
pub fn foreign_index(
    store: &File,
    store_size: u64,
    index: &File,
    index_size: u64,
) -> io::Result<Option<ForeignIndex>> {
    if index_size < 2 * ENTRY_WIDTH || !looks_like_index(index, index_size)? {
        return Ok(None);
    }
    let mut x = Window::new(index, index_size);
    let mut s = Window::new(store, store_size);
    let mut found = ForeignIndex {
        compared: 0,
        matching: 0,
        entry: 0,
        named: 0,
        record: 0,
    };
    let mut record = 0u64;
    for i in 1..DETECT_ENTRIES.min(index_size / ENTRY_WIDTH) {
        let (rel, named) = entry_of(x.get(i * ENTRY_WIDTH, ENTRY_WIDTH as usize)?);
        // Padding, or past the store: nothing more to compare.
        if (rel == 0 && named == 0) || named >= store_size {
            break;
        }
        let Ok((_, next)) = store_record(&mut s, record)? else {
            break;
        };
        record = next;
        if record >= store_size {
            break;
        }
        found.compared += 1;
        if named == record {
            found.matching += 1;
        } else if found.entry == 0 {
            (found.entry, found.named, found.record) = (i, named, record);
        }
    }
    Ok((found.compared >= 2 && 2 * found.matching < found.compared).then_some(found))
}

/// How an index differs from the one its store calls for: the first differing byte and the
/// right length; `None` if they are the same.
pub fn index_diff(
    store: &File,
    store_size: u64,
    index: &File,
    index_size: u64,
) -> io::Result<Option<(u64, u64)>> {
    let mut s = Window::new(store, store_size);
    let mut x = Window::new(index, index_size);
    let (mut pos, mut i) = (0u64, 0u64);
    while let Ok((_, end)) = store_record(&mut s, pos)? {
        let at = i * ENTRY_WIDTH;
        let want = encode_entry(i, pos);
        let have_len = index_size.saturating_sub(at).min(ENTRY_WIDTH) as usize;
        let have = x.get(at, have_len)?;
        if let Some(k) = (0..ENTRY_WIDTH as usize).find(|&k| have.get(k) != Some(&want[k])) {
            return Ok(Some((at + k as u64, first_rest_len(store, store_size)?)));
        }
        pos = end;
        i += 1;
        if pos >= store_size {
            break;
        }
    }
    let right = i * ENTRY_WIDTH;
    Ok((index_size != right).then_some((right.min(index_size), right)))
}

/// The right index length for a store: 12 bytes per whole record.
fn first_rest_len(store: &File, size: u64) -> io::Result<u64> {
    let mut s = Window::new(store, size);
    let (mut pos, mut n) = (0u64, 0u64);
    while pos < size {
        match store_record(&mut s, pos)? {
            Ok((_, end)) => {
                pos = end;
                n += 1;
            }
            Err(()) => break,
        }
    }
    Ok(n * ENTRY_WIDTH)
}

/// Write the index entries the store calls for, from byte `from` on (a write of whole entries
/// from the entry holding `from`), into `index`. Returns the index's right length.
pub fn write_index_from(store: &File, store_size: u64, index: &File, from: u64) -> io::Result<u64> {
    let mut s = Window::new(store, store_size);
    let first = from / ENTRY_WIDTH;
    let (mut pos, mut i) = (0u64, 0u64);
    let mut batch = Vec::with_capacity(1 << 16);
    let mut at = first * ENTRY_WIDTH;
    while pos < store_size {
        let Ok((_, end)) = store_record(&mut s, pos)? else {
            break;
        };
        if i >= first {
            batch.extend_from_slice(&encode_entry(i, pos));
            if batch.len() >= 1 << 16 {
                crate::platform::write_all_at(index, &batch, at)?;
                at += batch.len() as u64;
                batch.clear();
            }
        }
        pos = end;
        i += 1;
    }
    crate::platform::write_all_at(index, &batch, at)?;
    Ok(i * ENTRY_WIDTH)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> File {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        File::options()
            .read(true)
            .write(true)
            .open(path)
            .expect("open")
    }

    fn store(records: &[&[u8]]) -> (Vec<u8>, Vec<u8>) {
        let (mut s, mut x) = (Vec::new(), Vec::new());
        for (i, r) in records.iter().enumerate() {
            x.extend_from_slice(&encode_entry(i as u64, s.len() as u64));
            s.extend_from_slice(&(r.len() as u64).to_be_bytes());
            s.extend_from_slice(r);
        }
        (s, x)
    }

    #[test]
    fn index_diff_finds_the_first_wrong_byte_and_the_right_length() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (s, x) = store(&[b"a", b"bb", b"ccc"]);
        let sf = file(&dir, "0.store", &s);
        let n = s.len() as u64;
        let same = file(&dir, "same.index", &x);
        assert_eq!(
            index_diff(&sf, n, &same, x.len() as u64).expect("diff"),
            None
        );

        let mut padded = x.clone();
        padded.resize(1024, 0);
        let pf = file(&dir, "padded.index", &padded);
        assert_eq!(index_diff(&sf, n, &pf, 1024).expect("diff"), Some((36, 36)));

        let short = file(&dir, "short.index", &x[..24]);
        assert_eq!(
            index_diff(&sf, n, &short, 24).expect("diff"),
            Some((24, 36))
        );

        let mut wrong = x.clone();
        wrong[12 + 11] ^= 1;
        let wf = file(&dir, "wrong.index", &wrong);
        assert_eq!(index_diff(&sf, n, &wf, 36).expect("diff"), Some((23, 36)));

        // Rebuilding from the first wrong byte gives the index proglog would have written.
        let len = write_index_from(&sf, n, &wf, 23).expect("write");
        wf.set_len(len).expect("set_len");
        let mut back = vec![0u8; 36];
        crate::platform::read_at(&wf, &mut back, 0).expect("read");
        assert_eq!(back, x);
    }

    #[test]
    fn detection_needs_a_chain_to_the_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (s, x) = store(&[b"a", b"bb", b"ccc"]);
        let sf = file(&dir, "s", &s);
        assert!(looks_like_store(&sf, s.len() as u64).expect("detect"));
        assert!(!looks_like_store(&sf, s.len() as u64 - 1).expect("detect"));
        let zeros = file(&dir, "z", &[0u8; 64]);
        assert!(!looks_like_store(&zeros, 64).expect("detect"));
        assert!(!looks_like_index(&zeros, 64).expect("detect"));
        let mut padded = x.clone();
        padded.resize(240, 0);
        let xf = file(&dir, "x", &padded);
        assert!(looks_like_index(&xf, 240).expect("detect"));
    }
}
