//! The allocation guard: a global allocator that passes everything to the system allocator and,
//! while a check is running on the current thread, aborts the process on any single allocation
//! larger than the bound below, so "no allocation sized by untrusted input" is checked on every
//! input, not just hoped for. libFuzzer reports the abort as a crash and keeps the input.
//!
//! The bound, from docs/FORMAT.md and the code:
//! - readers (scan, verify, recover, journals) work in windows and chunks of at most
//!   [`WINDOW`] (1 MiB, `log::reader::WINDOW`; "payloads are checked and copied in pieces of at
//!   most 1 MiB");
//! - buffers that hold bytes really present in the file (salvage copies a whole valid record,
//!   the checks read the file) may reach twice the file's size through `Vec`'s doubling;
//! - never more than [`HARD_BOUND`]: the largest record ([`MAX_RECORD`], 16 MiB) joining a write
//!   batch of 4 MiB (the append and salvage batch), plus that record's framing.
//!
//! So while armed for a file of `n` bytes, the limit is `min(HARD_BOUND, WINDOW + 2n + SLACK)`:
//! a length field claiming 4 GiB, or even 10 MiB in a 300-byte file, trips it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;

use durable::log::MAX_RECORD;

/// The scanner's window: the most a reader holds of a file at once.
pub const WINDOW: usize = durable::log::reader::WINDOW;
/// The absolute bound: a maximum record (16 MiB) in a 4 MiB write batch, with its framing
/// (header 24 bytes, SHA-256 trailer 40 bytes).
pub const HARD_BOUND: usize = MAX_RECORD as usize + (4 << 20) + 64;
/// Room for small fixed-size buffers (the append batch starts at 64 KiB) and the checks' own
/// bookkeeping.
pub const SLACK: usize = 64 << 10;

thread_local! {
    /// The limit on this thread; `usize::MAX` when no check is running.
    static LIMIT: Cell<usize> = const { Cell::new(usize::MAX) };
    /// The largest allocation seen on this thread while armed.
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

/// The global allocator of every fuzz target and of the integration-test binary.
pub struct Guard;

#[global_allocator]
static GUARD: Guard = Guard;

fn check(size: usize) {
    // `try_with`: never fails for a const-initialised `Cell` without a destructor, but an
    // allocator must not panic.
    let limit = LIMIT.try_with(Cell::get).unwrap_or(usize::MAX);
    if limit == usize::MAX {
        return;
    }
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
    if size > limit {
        // No allocation from here on: stderr is unbuffered and formatting integers uses the stack.
        let _ = writeln!(
            std::io::stderr(),
            "allocation guard: one allocation of {size} bytes, over the limit of {limit} \
             (window {WINDOW} + twice the input + slack, at most {HARD_BOUND}): \
             an allocation sized by untrusted input"
        );
        std::process::abort();
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; `check` only
// reads and writes thread-locals and may abort, it never allocates or unwinds.
unsafe impl GlobalAlloc for Guard {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        // SAFETY: as for `alloc`; `ptr` and `layout` come from this allocator, i.e. `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// The guard is armed while this lives (on this thread).
pub struct Armed {
    previous: usize,
}

/// Arm the guard for a check on a file (or files) of `input_len` bytes in all.
pub fn arm(input_len: usize) -> Armed {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        // A failed check's report (the message, a symbolised backtrace) allocates freely.
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = LIMIT.try_with(|l| l.set(usize::MAX));
            previous(info);
        }));
    });
    let limit = WINDOW
        .saturating_add(input_len.saturating_mul(2))
        .saturating_add(SLACK)
        .min(HARD_BOUND);
    LARGEST.with(|l| l.set(0));
    Armed {
        previous: LIMIT.with(|l| l.replace(limit)),
    }
}

impl Armed {
    /// The limit in force.
    pub fn limit(&self) -> usize {
        LIMIT.with(Cell::get)
    }

    /// The largest single allocation made on this thread since arming.
    pub fn largest(&self) -> usize {
        LARGEST.with(Cell::get)
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        LIMIT.with(|l| l.set(self.previous));
    }
}
