//! Verification of one large native log by several threads. Records checksum independently,
//! so the file is cut into pieces at even offsets; each piece after the first starts at the
//! first valid record from its offset on (found as the reader resynchronises after damage) and
//! is read by its own thread until it reaches where the next piece starts. The pieces are joined
//! in file order only where they meet exactly: the piece before ends right at the next one's
//! first record, with the sequence number that record carries and the append marks that fit.
//!
//! Anything else (damage, a seam that does not meet, a record found inside another's payload, a
//! read error) is left to the sequential reader, so the result is always the one a single scan
//! gives: the piece where it happens, whose reader is then exactly in the state a scan from the
//! first record would be in, reads on to the end of the file as that scan would (the pieces
//! after it stop), and any other disagreement makes the caller verify with one thread from the
//! start.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use super::format::{FILE_HEADER_LEN, FLAG_FIRST, FileHeader, RecordHeader};
use super::item::{Item, OnDamage};
use super::native::NativeReader;
use super::reader::Log;
use super::{Tally, Verification};

/// Logs smaller than this are verified by one thread: starting threads and finding where the
/// pieces start would cost more than it saves.
pub const PARALLEL_MIN: u64 = 64 << 20;

/// No piece is smaller than this, whatever the number of threads.
const PIECE_MIN: u64 = 32 << 20;

/// How many pieces a log of `size` bytes is cut into for `threads` threads (1: one scan).
pub fn pieces(size: u64, threads: usize) -> usize {
    // Tests cut small logs too (a switch only test builds honour).
    let (least, piece) = crate::fault::piece_bytes().map_or((PARALLEL_MIN, PIECE_MIN), |b| (b, b));
    if size < least || size <= FILE_HEADER_LEN {
        return 1;
    }
    let most = usize::try_from((size - FILE_HEADER_LEN) / piece).unwrap_or(usize::MAX);
    threads.min(most).max(1)
}

/// The first record of a piece: its offset and header.
type Start = Option<(u64, RecordHeader)>;

/// What a piece tells the one before it, once known: where its first damage is, or that it
/// has none, or that it failed.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Clean,
    DamageAt(u64),
    Failed,
}

/// How a piece's scan ended.
enum End {
    /// At the next piece's first record, in exactly the state a resumed reader starts in:
    /// after no damage, or after damage whose verdict the next piece's own damage does not
    /// fall under (then with the start of the append open there, if any).
    Seam(u64, Option<u64>),
    /// At the end of the file (the last piece, or one that read on past a seam it could not
    /// hand over at).
    Eof,
    /// A read failed, or the thread did.
    Failed,
}

struct Piece {
    start: u64,
    tally: Tally,
    end: End,
    /// The start of the append the piece began in, found from the trailers.
    append_start_found: Option<u64>,
}

impl Piece {
    fn failed(start: u64) -> Piece {
        Piece {
            start,
            tally: Tally::default(),
            end: End::Failed,
            append_start_found: None,
        }
    }
}

/// The channels between a piece and the one after it.
struct Next {
    /// Where the next piece starts (`None`: no valid record from its offset on).
    start: mpsc::Receiver<Start>,
    /// Where its first damage is.
    outcome: mpsc::Receiver<Outcome>,
}

/// Verify the native log `input` (header `header`) in `n` pieces, one thread each. `None`:
/// the pieces could not be joined into the sequential result; verify with one thread.
pub(crate) fn verify(
    input: &Log,
    header: FileHeader,
    n: usize,
    mut progress: impl FnMut(u64, u64),
) -> Option<Verification> {
    let size = input.main.size;
    let file = &input.main.file;
    let done = AtomicU64::new(0);
    let cut = |k: usize| FILE_HEADER_LEN + (size - FILE_HEADER_LEN) / n as u64 * k as u64;
    let pieces: Vec<Piece> = std::thread::scope(|scope| {
        let (finished_tx, finished) = mpsc::channel::<()>();
        let mut handles = Vec::with_capacity(n);
        // Each piece tells the one before it where it starts and where its damage is.
        let mut next: Option<Next> = None;
        for k in (0..n).rev() {
            let (start_tx, start_rx) = mpsc::sync_channel::<Start>(1);
            let (outcome_tx, outcome_rx) = mpsc::sync_channel::<Outcome>(1);
            let after = next.take();
            next = Some(Next {
                start: start_rx,
                outcome: outcome_rx,
            });
            let finished_tx = finished_tx.clone();
            let done = &done;
            let chunk_end = if k + 1 < n { cut(k + 1) } else { size };
            let spawned = std::thread::Builder::new().spawn_scoped(scope, move || {
                let piece = if k == 0 {
                    let reader =
                        NativeReader::new(file, header, size, FILE_HEADER_LEN, 0, OnDamage::Resync);
                    scan(reader, FILE_HEADER_LEN, chunk_end, after, &outcome_tx, done)
                } else {
                    let mut finder =
                        NativeReader::new(file, header, size, cut(k), 0, OnDamage::Resync);
                    let found = finder.find_record(cut(k));
                    let start = found.as_ref().ok().copied().flatten();
                    // The piece before waits for this, whatever happens next.
                    let _ = start_tx.send(start);
                    match (found, start) {
                        (Ok(_), Some((at, first))) => {
                            let reader = NativeReader::resume(file, header, size, at, &first);
                            scan(reader, at, chunk_end, after, &outcome_tx, done)
                        }
                        // Nothing valid from here on: the piece before reads to the end.
                        _ => Piece::failed(cut(k)),
                    }
                };
                // Unless it was told already (a receiver gone is no matter).
                let _ = outcome_tx.try_send(Outcome::Failed);
                let _ = finished_tx.send(());
                piece
            });
            // A thread the system would not start: its piece is missing, the join gives up
            // and one thread verifies (the pieces around it see its channels closed).
            handles.push(spawned.ok());
        }
        drop(finished_tx);
        let mut left = handles.iter().flatten().count();
        while left > 0 {
            match finished.recv_timeout(Duration::from_millis(100)) {
                Ok(()) => left -= 1,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    progress(done.load(Ordering::Relaxed).min(size - 1), size);
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        // Spawned from the last piece to the first.
        let mut pieces: Vec<Piece> = handles
            .into_iter()
            .map(|h| {
                h.and_then(|h| h.join().ok())
                    .unwrap_or_else(|| Piece::failed(0))
            })
            .collect();
        pieces.reverse();
        pieces
    });
    let tally = join(pieces)?;
    let mut v = Verification::start(&input.main.path, &input.layout, size);
    tally.apply(&mut v, &Tally::default());
    progress(size, size);
    Some(v)
}

/// The pieces in file order, each taken up where the one before handed over, up to the one
/// that reads to the end of the file: their tally.
fn join(pieces: Vec<Piece>) -> Option<Tally> {
    let mut before = Tally::default();
    let mut expected = FILE_HEADER_LEN;
    // The append open where the piece starts, as the piece before knew it.
    let mut open_append = None;
    for piece in pieces {
        if piece.start != expected {
            return None;
        }
        // A piece that began inside an append and had to find where that append started:
        // the pieces before it know.
        if let Some(found) = piece.append_start_found {
            let known = if before.first_damage.is_some() {
                open_append
            } else {
                before.last_first.map(|(offset, _)| offset)
            };
            if Some(found) != known {
                return None;
            }
        }
        before = piece.tally.then(&before);
        match piece.end {
            End::Seam(at, open) => {
                expected = at;
                open_append = open;
            }
            End::Eof => return Some(before),
            End::Failed => return None,
        }
    }
    None
}

/// Read one piece from `reader` (at `start`), until the next piece's first record (told by
/// `next`, once the scan passes `chunk_end`) if the next piece can take over exactly there,
/// else to the end of the file. Tells the piece before where its first damage is.
fn scan(
    mut reader: NativeReader<'_>,
    start: u64,
    chunk_end: u64,
    next: Option<Next>,
    outcome: &mpsc::SyncSender<Outcome>,
    done: &AtomicU64,
) -> Piece {
    let mut tally = Tally::default();
    // The next piece's start, once known; `None` inside: there is none.
    let mut seam: Option<Start> = None;
    let mut to_end = next.is_none();
    let mut counted = start;
    let mut told = false;
    let piece = |tally, end, reader: &NativeReader<'_>| Piece {
        start,
        tally,
        end,
        append_start_found: reader.append_start_found(),
    };
    loop {
        let pos = reader.position();
        if let Some(next) = next.as_ref().filter(|_| !to_end && pos >= chunk_end) {
            let next_start = *seam.get_or_insert_with(|| next.start.recv().ok().flatten());
            match next_start {
                Some((at, first)) if pos >= at => {
                    let meets = pos == at
                        && reader.next_seq() == first.seq
                        && reader.in_append() == (first.flags & FLAG_FIRST == 0)
                        && reader.settled();
                    // After damage, the next piece takes over only if its own damage (if any)
                    // lies past what the verdict kept from this piece's damage covers: a
                    // single scan would judge damage inside that stretch by that verdict.
                    let takes_over = meets
                        && (tally.defect_count == 0
                            || match next.outcome.recv() {
                                Ok(Outcome::Clean) => true,
                                Ok(Outcome::DamageAt(at)) => at >= reader.verdict_until(),
                                Ok(Outcome::Failed) | Err(_) => false,
                            });
                    if takes_over {
                        if !told {
                            let _ = outcome.try_send(Outcome::Clean);
                        }
                        done.fetch_add(pos - counted, Ordering::Relaxed);
                        return piece(tally, End::Seam(at, reader.open_append()), &reader);
                    }
                    // The next piece started inside a record, off the chain of sequence
                    // numbers or appends, or under this piece's verdict: read on as a single
                    // scan would.
                    to_end = true;
                }
                Some(_) => {}
                None => to_end = true,
            }
        }
        // Valid records in one go, up to where the next piece's start must be looked for.
        let limit = match next {
            Some(_) if !to_end => chunk_end,
            _ => u64::MAX,
        };
        let skipped = reader.skip_valid(limit);
        if skipped.count > 0 {
            tally.add_skipped(&skipped);
            // Back to the look for the next piece's start before the next item, as after one.
            continue;
        }
        let item = match reader.next_item() {
            Ok(item) => item,
            Err(_) => return piece(tally, End::Failed, &reader),
        };
        if let Item::Defect(defect) = &item
            && !told
        {
            let _ = outcome.try_send(Outcome::DamageAt(defect.offset));
            told = true;
        }
        if !tally.add(&item) {
            if !told {
                let _ = outcome.try_send(Outcome::Clean);
            }
            return piece(tally, End::Eof, &reader);
        }
        let at = reader.position();
        if at.saturating_sub(counted) >= 8 << 20 {
            done.fetch_add(at - counted, Ordering::Relaxed);
            counted = at;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{
        AppendOptions, Delimited, OpenOptions, Verification, append, open, verify_open,
    };

    /// A log of `appends` appends of `per` small records each; its path.
    fn log(dir: &std::path::Path, appends: usize, per: usize) -> std::path::PathBuf {
        let path = dir.join("t.log");
        let opts = AppendOptions {
            sync: crate::SyncLevel::None,
            ..AppendOptions::default()
        };
        for a in 0..appends {
            let text: String = (0..per)
                .map(|r| format!("append {a} record {r:0>width$}\n", width = (a * 7 + r) % 90))
                .collect();
            let mut source = Delimited::new(text.as_bytes(), b'\n', "test");
            append(&path, &mut source, &opts, &mut ()).expect("append");
        }
        path
    }

    fn same(a: &Verification, b: &Verification) {
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }

    fn parallel(path: &std::path::Path, n: usize) -> Option<Verification> {
        let input = open(path, &OpenOptions::default()).expect("open");
        let super::super::Layout::Native(header) = input.layout else {
            panic!("native")
        };
        verify(&input, header, n, |_, _| {})
    }

    fn sequential(path: &std::path::Path) -> Verification {
        let input = open(path, &OpenOptions::default()).expect("open");
        verify_open(&input, |_, _| {}).expect("verify")
    }

    #[test]
    fn clean_logs_join_in_any_number_of_pieces() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = log(dir.path(), 40, 25);
        let want = sequential(&path);
        assert_eq!(want.records, 1000);
        for n in [2, 3, 7, 64, 500] {
            let got = parallel(&path, n).expect("joined");
            same(&got, &want);
        }
    }

    #[test]
    fn damage_is_read_on_by_the_piece_that_finds_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = log(dir.path(), 40, 25);
        let clean = std::fs::read(&path).expect("read");
        let mut joined = 0;
        // Damage in every part of the file, in the middle of an append that began in an earlier
        // piece too.
        for at in (FILE_HEADER_LEN as usize + 1..clean.len()).step_by(clean.len() / 37) {
            let mut bytes = clean.clone();
            bytes[at] ^= 0x5a;
            std::fs::write(&path, &bytes).expect("write");
            let want = sequential(&path);
            assert_ne!(want.defect_count, 0);
            for n in [2, 5, 16] {
                if let Some(got) = parallel(&path, n) {
                    same(&got, &want);
                    joined += 1;
                }
            }
            // Cut there too: a torn tail.
            std::fs::write(&path, &clean[..at]).expect("write");
            let want = sequential(&path);
            for n in [2, 5, 16] {
                if let Some(got) = parallel(&path, n) {
                    same(&got, &want);
                    joined += 1;
                }
            }
        }
        // Most are answered by the pieces, not by the single scan they fall back to.
        eprintln!("joined {joined} of {}", 37 * 6);
        assert!(joined > 37 * 6 / 2, "joined {joined}");
    }

    /// The verdict of reading every item, one by one (no run of valid records taken in one go).
    fn item_by_item(path: &std::path::Path) -> Verification {
        let input = open(path, &OpenOptions::default()).expect("open");
        let mut v = Verification::start(&input.main.path, &input.layout, input.main.size);
        let mut reader = input.reader(crate::log::OnDamage::Resync);
        let mut tally = Tally::default();
        while tally.add(&reader.next_item().expect("item")) {}
        tally.apply(&mut v, &Tally::default());
        v
    }

    /// Valid records taken in one go (`skip_valid`) leave the reader and the count exactly as
    /// returning each would: the same verdict, one thread or several, on a log longer than the
    /// reader's window, clean, with a changed byte anywhere (around the window's end too), and
    /// cut anywhere.
    #[test]
    fn skipping_valid_records_gives_the_verdict_of_reading_each() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = log(dir.path(), 300, 60);
        let clean = std::fs::read(&path).expect("read");
        assert!(clean.len() > crate::log::reader::WINDOW + 4096);
        let check = |bytes: &[u8], what: &str| {
            std::fs::write(&path, bytes).expect("write");
            let want = item_by_item(&path);
            same(&sequential(&path), &want);
            for n in [2, 3] {
                if let Some(got) = parallel(&path, n) {
                    assert_eq!(
                        format!("{got:?}"),
                        format!("{want:?}"),
                        "{what}, {n} pieces"
                    );
                }
            }
        };
        check(&clean, "clean");
        let window = crate::log::reader::WINDOW;
        let near_window_end = (window - 150..window + 150).step_by(7);
        let spread = (FILE_HEADER_LEN as usize..clean.len()).step_by(clean.len() / 37);
        for at in near_window_end.chain(spread) {
            let mut bytes = clean.clone();
            bytes[at] ^= 0x20;
            check(&bytes, &format!("byte {at} changed"));
            check(&clean[..at], &format!("cut at {at}"));
        }
    }

    /// The same for append marks out of order (a new append before the last one ended, a
    /// record continuing an append that had ended): the records are valid, the marks are not.
    #[test]
    fn skipping_valid_records_stops_at_append_marks_out_of_order() {
        use crate::log::format::{Encoder, FLAG_FIRST, FLAG_LAST, FileHeader};
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("marks.log");
        let header = FileHeader::new(crate::log::Algorithm::Crc32, [3; 16], 0);
        let encoder = Encoder::new(&header);
        let mut bytes = header.encode().to_vec();
        let mut open = false;
        for seq in 0..3000u64 {
            // Mostly appends of a few records, now and then a mark out of place.
            let mut flags = if open { 0 } else { FLAG_FIRST };
            match seq % 97 {
                13 => flags ^= FLAG_FIRST,
                50 => flags |= FLAG_FIRST,
                _ => {}
            }
            if seq % 5 == 4 {
                flags |= FLAG_LAST;
            }
            open = flags & FLAG_LAST == 0;
            let payload = format!("record {seq}");
            encoder
                .encode(&mut bytes, seq, flags, payload.as_bytes())
                .expect("encode");
        }
        std::fs::write(&path, &bytes).expect("write");
        let want = item_by_item(&path);
        assert!(want.defect_count > 20, "{want:?}");
        same(&sequential(&path), &want);
    }
}
