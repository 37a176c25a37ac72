//! The pessimistic power-loss model: which directory contents a crash after operation k may leave.
//!
//! Rules (docs/RELIABILITY.md has the same table):
//!
//! - **What was flushed is kept.** An inode's content as of its last `fsync`/`fdatasync` (or
//!   `sync`), and every directory change followed by an `fsync` of its directory, survive.
//!   The directory before the run is taken as durable.
//! - **Unflushed data, per inode, at 4 KiB granularity.** Between an inode's last flush and the
//!   crash, each 4 KiB block independently holds any version it had since that flush (old, new,
//!   or an intermediate one when several writes touched it), and the size is any size the file
//!   had since the flush or any 4 KiB boundary crossed while it grew (a write that grows a file
//!   can reach the disk block by block, which leaves a torn last block; a truncate changes the
//!   size in one step). Bytes past the old end read as zeros, as do bytes a truncate cut off and
//!   a later write did not reach.
//! - **Unflushed directory changes.** Each create, rename, link, unlink, mkdir or rmdir not yet
//!   covered by an `fsync` of its directory (a rename: of both directories) may or may not have
//!   happened, independently, except that changes to the same name (or to a name and its parent
//!   directory) happen in order: a later one only if every earlier one did. An `fsync` of a
//!   directory makes every earlier change in it durable, and with them the earlier changes they
//!   depend on.
//!
//! A file's data does not depend on whether its name survived, so the states at a crash point
//! are every allowed set of directory changes combined with every allowed content of each inode
//! those names reach. Identical resulting directories are counted once. The enumeration is
//! exhaustive unless a crash point has more than `max_states` combinations; then it takes a
//! fixed pseudo-random sample of that size and says so.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::rc::Rc;

use super::ops::{Ino, Node, Op, Ops, parent};

/// The granularity at which unflushed data reaches the disk.
pub const BLOCK: usize = 4096;

/// One entry of a crashed directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Entry {
    Dir,
    /// `link` is the index (in [`CrashState::entries`]) of the first name of the same inode, so
    /// hard links are kept and two states compare equal exactly when they look the same.
    File {
        link: usize,
        content: Rc<Vec<u8>>,
    },
}

/// What the scratch directory holds after a crash: every name, sorted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CrashState {
    pub entries: Vec<(String, Entry)>,
}

impl CrashState {
    /// A one-line summary (names and sizes), for messages.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .entries
            .iter()
            .map(|(n, e)| match e {
                Entry::Dir => format!("{n}/"),
                Entry::File { content, .. } => format!("{n} ({} B)", content.len()),
            })
            .collect();
        if parts.is_empty() {
            "(empty directory)".into()
        } else {
            parts.join(", ")
        }
    }
}

/// The crash states at one point.
pub struct Point {
    pub states: Vec<CrashState>,
    /// False when a sample was taken instead of every combination.
    pub exhaustive: bool,
}

/// A directory change and what it touches.
struct DirOp {
    at: usize,
    /// The names it changes (a link's source too: the link needs it).
    names: Vec<String>,
    /// The directories whose flush makes it durable.
    dirs: Vec<String>,
}

fn dir_op(at: usize, op: &Op) -> Option<DirOp> {
    let (names, dirs) = match op {
        Op::Create { path, .. } | Op::Mkdir { path } | Op::Unlink { path } | Op::Rmdir { path } => {
            (vec![path.clone()], vec![parent(path).to_string()])
        }
        Op::Rename { from, to } => {
            let mut dirs = vec![parent(from).to_string(), parent(to).to_string()];
            dirs.dedup();
            (vec![from.clone(), to.clone()], dirs)
        }
        Op::Link { from, to } => (vec![from.clone(), to.clone()], vec![parent(to).to_string()]),
        _ => return None,
    };
    Some(DirOp { at, names, dirs })
}

/// Whether two names are the same or one is inside the other.
fn related(a: &str, b: &str) -> bool {
    a == b
        || (b.len() > a.len() && b.starts_with(a) && b.as_bytes()[a.len()] == b'/')
        || (a.len() > b.len() && a.starts_with(b) && a.as_bytes()[b.len()] == b'/')
}

/// Whether `later` may only happen if `earlier` did.
fn depends(later: &DirOp, earlier: &DirOp) -> bool {
    later
        .names
        .iter()
        .any(|a| earlier.names.iter().any(|b| related(a, b)))
}

/// Every crash state after the first `k` operations.
pub fn crash_states(ops: &Ops, k: usize, max_states: usize) -> Point {
    let dir_ops: Vec<DirOp> = ops.ops[..k]
        .iter()
        .enumerate()
        .filter_map(|(i, op)| dir_op(i, op))
        .collect();
    let n = dir_ops.len();
    let deps: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            (0..i)
                .filter(|&j| depends(&dir_ops[i], &dir_ops[j]))
                .collect()
        })
        .collect();
    let mut forced: Vec<bool> = dir_ops
        .iter()
        .map(|d| {
            d.dirs.iter().all(|dir| {
                ops.ops[d.at + 1..k].iter().any(|o| match o {
                    Op::DirSync { dir: synced } => synced == dir,
                    Op::SyncAll => true,
                    _ => false,
                })
            })
        })
        .collect();
    // A durable change drags along the earlier changes it depends on (deps point backwards, so
    // one pass from the end closes the relation).
    for i in (0..n).rev() {
        if forced[i] {
            for &j in &deps[i] {
                forced[j] = true;
            }
        }
    }
    let mut subsets = Vec::new();
    let mut exhaustive = choose(&deps, &forced, &mut vec![], &mut subsets, max_states);

    let mut choices: HashMap<Ino, Rc<Vec<Rc<Vec<u8>>>>> = HashMap::new();
    let mut seen = HashSet::new();
    let mut states = Vec::new();
    let budget = (max_states / subsets.len().max(1)).max(1);
    for (s, subset) in subsets.iter().enumerate() {
        let names = replay(ops, &dir_ops, subset);
        let inodes: Vec<Ino> = names
            .values()
            .filter_map(|n| match n {
                Node::File(ino) => Some(*ino),
                Node::Dir => None,
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let lists: Vec<Rc<Vec<Rc<Vec<u8>>>>> = inodes
            .iter()
            .map(|&ino| {
                choices
                    .entry(ino)
                    .or_insert_with(|| {
                        let (list, complete) = contents(ops, ino, k, max_states);
                        exhaustive &= complete;
                        Rc::new(list)
                    })
                    .clone()
            })
            .collect();
        let radix: Vec<usize> = lists.iter().map(|l| l.len()).collect();
        let combos = radix
            .iter()
            .try_fold(1usize, |acc, &r| acc.checked_mul(r))
            .unwrap_or(usize::MAX);
        let mut emit = |digits: &[usize]| {
            let content: HashMap<Ino, Rc<Vec<u8>>> = inodes
                .iter()
                .zip(digits)
                .zip(&lists)
                .map(|((&ino, &d), list)| (ino, list[d].clone()))
                .collect();
            let state = materialise(&names, &content);
            if seen.insert(state.clone()) {
                states.push(state);
            }
        };
        if combos <= budget {
            let mut digits = vec![0; radix.len()];
            loop {
                emit(&digits);
                if !increment(&mut digits, &radix) {
                    break;
                }
            }
        } else {
            exhaustive = false;
            let mut rng = SplitMix((k as u64) << 32 | s as u64);
            for _ in 0..budget {
                let digits: Vec<usize> = radix
                    .iter()
                    .map(|&r| (rng.next() % r as u64) as usize)
                    .collect();
                emit(&digits);
            }
        }
    }
    Point { states, exhaustive }
}

/// The directory as the running program saw it after the first `k` operations: every change
/// happened and every write is in place (no crash). Compared with the real directory after the
/// run, it checks that the trace was modelled right.
pub fn no_crash(ops: &Ops, k: usize) -> CrashState {
    let dir_ops: Vec<DirOp> = ops.ops[..k]
        .iter()
        .enumerate()
        .filter_map(|(i, op)| dir_op(i, op))
        .collect();
    let names = replay(ops, &dir_ops, &vec![true; dir_ops.len()]);
    let mut images: HashMap<Ino, Vec<u8>> = HashMap::new();
    for node in names.values() {
        if let Node::File(ino) = node {
            images.insert(*ino, ops.initial.get(*ino).cloned().unwrap_or_default());
        }
    }
    for op in &ops.ops[..k] {
        match op {
            Op::Write { ino, off, data } => {
                if let Some(image) = images.get_mut(ino) {
                    let end = *off as usize + data.len();
                    if image.len() < end {
                        image.resize(end, 0);
                    }
                    image[*off as usize..end].copy_from_slice(data);
                }
            }
            Op::Truncate { ino, len } => {
                if let Some(image) = images.get_mut(ino) {
                    image.resize(*len as usize, 0);
                }
            }
            _ => {}
        }
    }
    let content = images
        .into_iter()
        .map(|(ino, image)| (ino, Rc::new(image)))
        .collect();
    materialise(&names, &content)
}

/// A real directory's names and contents as a [`CrashState`], to compare with the model.
pub fn from_disk(names: &BTreeMap<String, Node>, contents: &[Vec<u8>]) -> CrashState {
    let content = contents
        .iter()
        .enumerate()
        .map(|(ino, c)| (ino, Rc::new(c.clone())))
        .collect();
    materialise(names, &content)
}

/// Every allowed choice of which directory changes happened (true = happened), depth first.
/// Returns false if it stopped at `max` choices.
fn choose(
    deps: &[Vec<usize>],
    forced: &[bool],
    chosen: &mut Vec<bool>,
    out: &mut Vec<Vec<bool>>,
    max: usize,
) -> bool {
    if out.len() >= max {
        return false;
    }
    let i = chosen.len();
    if i == deps.len() {
        out.push(chosen.clone());
        return true;
    }
    let possible = deps[i].iter().all(|&j| chosen[j]);
    let mut complete = true;
    for happened in [false, true] {
        if (forced[i] && !happened) || (happened && !possible) {
            continue;
        }
        chosen.push(happened);
        complete &= choose(deps, forced, chosen, out, max);
        chosen.pop();
    }
    complete
}

/// The names after applying the chosen directory changes to the initial directory.
fn replay(ops: &Ops, dir_ops: &[DirOp], chosen: &[bool]) -> BTreeMap<String, Node> {
    let mut names = ops.names.clone();
    for (d, _) in dir_ops.iter().zip(chosen).filter(|(_, c)| **c) {
        let missing = |name: &str| -> ! {
            panic!(
                "crash model: op {} ({}) needs {name}, which this crash state does not have",
                d.at + 1,
                ops.show(d.at)
            )
        };
        match &ops.ops[d.at] {
            Op::Create { path, ino } => {
                names.insert(path.clone(), Node::File(*ino));
            }
            Op::Mkdir { path } => {
                names.insert(path.clone(), Node::Dir);
            }
            Op::Unlink { path } | Op::Rmdir { path } => {
                if names.remove(path).is_none() {
                    missing(path);
                }
            }
            Op::Link { from, to } => {
                let node = *names.get(from).unwrap_or_else(|| missing(from));
                names.insert(to.clone(), node);
            }
            Op::Rename { from, to } => {
                let node = names.remove(from).unwrap_or_else(|| missing(from));
                let prefix = format!("{from}/");
                let moved: Vec<String> = names
                    .keys()
                    .filter(|k| k.starts_with(&prefix))
                    .cloned()
                    .collect();
                for old in moved {
                    let child = names.remove(&old).expect("listed");
                    names.insert(format!("{to}/{}", &old[prefix.len()..]), child);
                }
                names.insert(to.clone(), node);
            }
            _ => unreachable!("not a directory change"),
        }
    }
    names
}

/// Every content inode `ino` may have after a crash following the first `k` operations, and
/// whether the list is complete (not a sample).
fn contents(ops: &Ops, ino: Ino, k: usize, max: usize) -> (Vec<Rc<Vec<u8>>>, bool) {
    let mut image = ops.initial.get(ino).cloned().unwrap_or_default();
    let mut versions = vec![image.clone()];
    let mut sizes = BTreeSet::from([image.len()]);
    for op in &ops.ops[..k] {
        let before = image.len();
        match op {
            Op::Write { ino: i, off, data } if *i == ino => {
                let off = *off as usize;
                if image.len() < off + data.len() {
                    image.resize(off + data.len(), 0);
                }
                image[off..off + data.len()].copy_from_slice(data);
            }
            Op::Truncate { ino: i, len } if *i == ino => image.resize(*len as usize, 0),
            Op::Sync { ino: i } if *i == ino => {
                versions = vec![image.clone()];
                sizes = BTreeSet::from([image.len()]);
                continue;
            }
            Op::SyncAll => {
                versions = vec![image.clone()];
                sizes = BTreeSet::from([image.len()]);
                continue;
            }
            _ => continue,
        }
        // A file that grows can reach the disk block by block; a truncate is one change of
        // size (journaling filesystems finish an interrupted one on mount).
        let (lo, hi) = (before, image.len());
        sizes.extend(
            (lo / BLOCK + 1..=hi / BLOCK)
                .map(|b| b * BLOCK)
                .filter(|&s| s > lo && s < hi),
        );
        sizes.insert(image.len());
        versions.push(image.clone());
    }
    let largest = *sizes.last().expect("at least one size");
    let blocks: Vec<Vec<&[u8]>> = (0..largest.div_ceil(BLOCK))
        .map(|b| {
            let mut seen: Vec<&[u8]> = Vec::new();
            for v in &versions {
                let block = &v[(b * BLOCK).min(v.len())..((b + 1) * BLOCK).min(v.len())];
                // A short block reads as its bytes then zeros: compare it that way.
                if !seen.iter().any(|s| same_block(s, block)) {
                    seen.push(block);
                }
            }
            seen
        })
        .collect();
    let mut out: Vec<Rc<Vec<u8>>> = Vec::new();
    let mut seen = HashSet::new();
    let mut complete = true;
    for &size in &sizes {
        let radix: Vec<usize> = blocks[..size.div_ceil(BLOCK)]
            .iter()
            .map(Vec::len)
            .collect();
        let build = |digits: &[usize]| {
            let mut content = Vec::with_capacity(size);
            for (b, &d) in digits.iter().enumerate() {
                let block = blocks[b][d];
                let want = (size - b * BLOCK).min(BLOCK);
                content.extend_from_slice(&block[..want.min(block.len())]);
                content.resize(b * BLOCK + want, 0);
            }
            content
        };
        let combos = radix
            .iter()
            .try_fold(1usize, |acc, &r| acc.checked_mul(r))
            .unwrap_or(usize::MAX);
        let mut add = |content: Vec<u8>| {
            if seen.insert(content.clone()) {
                out.push(Rc::new(content));
            }
        };
        if combos <= max {
            let mut digits = vec![0; radix.len()];
            loop {
                add(build(&digits));
                if !increment(&mut digits, &radix) {
                    break;
                }
            }
        } else {
            complete = false;
            let mut rng = SplitMix((ino as u64) << 40 | (k as u64) << 20 | size as u64);
            for _ in 0..max {
                let digits: Vec<usize> = radix
                    .iter()
                    .map(|&r| (rng.next() % r as u64) as usize)
                    .collect();
                add(build(&digits));
            }
        }
    }
    (out, complete)
}

fn same_block(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().max(b.len());
    (0..n).all(|i| a.get(i).copied().unwrap_or(0) == b.get(i).copied().unwrap_or(0))
}

/// Next mixed-radix number; false after the last.
fn increment(digits: &mut [usize], radix: &[usize]) -> bool {
    for (d, &r) in digits.iter_mut().zip(radix) {
        *d += 1;
        if *d < r {
            return true;
        }
        *d = 0;
    }
    false
}

fn materialise(names: &BTreeMap<String, Node>, content: &HashMap<Ino, Rc<Vec<u8>>>) -> CrashState {
    let mut first: HashMap<Ino, usize> = HashMap::new();
    let entries = names
        .iter()
        .enumerate()
        .map(|(i, (name, node))| {
            let entry = match node {
                Node::Dir => Entry::Dir,
                Node::File(ino) => Entry::File {
                    link: *first.entry(*ino).or_insert(i),
                    content: content[ino].clone(),
                },
            };
            (name.clone(), entry)
        })
        .collect();
    CrashState { entries }
}

/// A small deterministic generator for the samples (the same run explores the same states).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

// ---------------------------------------------------------------------------------------------
// The model on hand-written operation lists (no strace needed)
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    /// Operations on a directory that starts with the given files (inodes 0, 1, …).
    fn ops(files: &[(&str, &[u8])], ops: Vec<Op>) -> Ops {
        let names = files
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.to_string(), Node::File(i)))
            .collect();
        let initial: Vec<Vec<u8>> = files.iter().map(|(_, c)| c.to_vec()).collect();
        let mut ino_names: Vec<String> = files.iter().map(|(n, _)| n.to_string()).collect();
        for op in &ops {
            if let Op::Create { path, .. } = op {
                ino_names.push(path.clone());
            }
        }
        Ops {
            names,
            initial,
            ops,
            ino_names,
        }
    }

    /// Each state as `name=content` pairs (content abbreviated), sorted, for comparisons.
    fn shown(point: &Point) -> Vec<String> {
        let mut out: Vec<String> = point
            .states
            .iter()
            .map(|s| {
                s.entries
                    .iter()
                    .map(|(n, e)| match e {
                        Entry::Dir => format!("{n}/"),
                        Entry::File { content, .. } => format!("{n}={}", abbreviate(content)),
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        out.sort();
        out
    }

    /// Runs of equal bytes: `o*3000 z*1096`.
    fn abbreviate(content: &[u8]) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut i = 0;
        while i < content.len() {
            let b = content[i];
            let run = content[i..].iter().take_while(|&&c| c == b).count();
            let c = if b == 0 { 'z' } else { b as char };
            parts.push(format!("{c}*{run}"));
            i += run;
        }
        if parts.is_empty() {
            "empty".into()
        } else {
            parts.join(" ")
        }
    }

    fn write(ino: Ino, off: u64, byte: u8, len: usize) -> Op {
        Op::Write {
            ino,
            off,
            data: vec![byte; len],
        }
    }

    fn create(path: &str, ino: Ino) -> Op {
        Op::Create {
            path: path.into(),
            ino,
        }
    }

    fn rename(from: &str, to: &str) -> Op {
        Op::Rename {
            from: from.into(),
            to: to.into(),
        }
    }

    fn dir_sync() -> Op {
        Op::DirSync { dir: String::new() }
    }

    #[test]
    fn unflushed_overwrite_is_old_new_or_mixed_per_4k_block_with_torn_sizes() {
        let o = ops(&[("t", &[b'o'; 3000])], vec![write(0, 0, b'n', 5000)]);
        assert_eq!(shown(&crash_states(&o, 0, 1000)), ["t=o*3000"]);
        assert_eq!(
            shown(&crash_states(&o, 1, 1000)),
            [
                "t=n*3000",
                "t=n*4096",
                "t=n*4096 z*904",
                "t=n*5000",
                "t=o*3000",
                "t=o*3000 z*1096",
                "t=o*3000 z*1096 n*904",
                "t=o*3000 z*2000",
            ]
        );
    }

    #[test]
    fn a_flushed_inode_keeps_its_data_and_a_later_write_is_optional_again() {
        let o = ops(
            &[("t", b"old")],
            vec![
                write(0, 0, b'n', 3),
                Op::Sync { ino: 0 },
                write(0, 3, b'm', 2),
            ],
        );
        assert_eq!(shown(&crash_states(&o, 2, 1000)), ["t=n*3"]);
        // The size may reach the disk before the appended bytes do: they read as zeros.
        assert_eq!(
            shown(&crash_states(&o, 3, 1000)),
            ["t=n*3", "t=n*3 m*2", "t=n*3 z*2"]
        );
        let all = ops(&[("t", b"old")], vec![write(0, 0, b'n', 3), Op::SyncAll]);
        assert_eq!(shown(&crash_states(&all, 2, 1000)), ["t=n*3"]);
    }

    #[test]
    fn changes_to_one_name_happen_in_order_and_a_directory_fsync_makes_them_durable() {
        let o = ops(
            &[("t", b"ooo")],
            vec![
                create("tmp", 1),
                write(1, 0, b'n', 3),
                Op::Sync { ino: 1 },
                rename("tmp", "t"),
                dir_sync(),
            ],
        );
        // Before the rename: the temp may or may not exist (its data is flushed).
        assert_eq!(
            shown(&crash_states(&o, 3, 1000)),
            ["t=o*3", "t=o*3 tmp=n*3"]
        );
        // After it: never the rename without the create (the rename would have no source).
        assert_eq!(
            shown(&crash_states(&o, 4, 1000)),
            ["t=n*3", "t=o*3", "t=o*3 tmp=n*3"]
        );
        assert_eq!(shown(&crash_states(&o, 5, 1000)), ["t=n*3"]);
    }

    #[test]
    fn unrelated_names_are_independent_and_a_dir_fsync_covers_only_earlier_changes() {
        let o = ops(
            &[],
            vec![
                create("a", 0),
                create("b", 1),
                dir_sync(),
                create("c", 2),
                Op::Unlink { path: "a".into() },
            ],
        );
        assert_eq!(
            shown(&crash_states(&o, 2, 1000)),
            ["", "a=empty", "a=empty b=empty", "b=empty"]
        );
        assert_eq!(
            shown(&crash_states(&o, 5, 1000)),
            [
                "a=empty b=empty",
                "a=empty b=empty c=empty",
                "b=empty",
                "b=empty c=empty"
            ]
        );
    }

    #[test]
    fn a_file_created_in_a_new_directory_needs_the_mkdir_and_hard_links_stay_links() {
        let o = ops(
            &[],
            vec![
                Op::Mkdir { path: "d".into() },
                create("d/x", 0),
                Op::Link {
                    from: "d/x".into(),
                    to: "y".into(),
                },
            ],
        );
        assert_eq!(
            shown(&crash_states(&o, 3, 1000)),
            ["", "d/", "d/ d/x=empty", "d/ d/x=empty y=empty"]
        );
        let point = crash_states(&o, 3, 1000);
        let linked = point
            .states
            .iter()
            .find(|s| s.entries.len() == 3)
            .expect("the state with the link");
        assert_eq!(
            linked.entries[1].1,
            Entry::File {
                link: 1,
                content: Rc::new(vec![])
            }
        );
        assert!(matches!(linked.entries[2].1, Entry::File { link: 1, .. }));
    }

    #[test]
    fn a_crash_point_with_too_many_combinations_is_sampled_and_says_so() {
        let o = ops(&[], vec![create("a", 0), write(0, 0, b'n', 7 * BLOCK)]);
        let full = crash_states(&o, 2, 100_000);
        assert!(full.exhaustive);
        let sampled = crash_states(&o, 2, 50);
        assert!(!sampled.exhaustive);
        assert!(sampled.states.len() <= 50 && sampled.states.len() < full.states.len());
    }
}
