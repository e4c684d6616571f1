//! The portable futex: an address-keyed parking lot (`parking_lot_core`).
//!
//! The backend everywhere but Linux and Android, and on Linux under
//! `--cfg stealpool_emulated_futex` (to test and benchmark it there).
//!
//! `parking_lot_core` keeps a hash table of wait queues keyed by an integer:
//! here the word's address. Each thread parks on its own OS primitive, and a
//! wake unparks exactly the threads queued on that key, so `wake_one` wakes
//! one thread of this word and nobody else (the `Mutex`+`Condvar` buckets
//! this replaces woke every sleeper of a shared bucket). The table grows with
//! the number of threads, so unrelated words rarely share a queue lock.
//!
//! # Why no wake-up is lost
//!
//! `park` runs its `validate` closure with the key's queue locked and, if it
//! returns `true`, enqueues the thread before unlocking. A waker changes the
//! word first (before calling in here), then unparks, which locks the same
//! queue. Either the unpark's lock comes after the waiter's check, in which
//! case the waiter is already queued and is woken; or it comes before, in
//! which case the lock hand-over makes the waker's change visible to the
//! check, and the waiter does not sleep.
//!
//! # A wake on a dead address
//!
//! The layer lets a waker wake an address whose word is already freed. The
//! key is only an integer to `parking_lot_core`; if the memory now holds
//! another word of ours, its sleepers see a spurious wake-up. If it holds a
//! `parking_lot` lock or condition variable (the table is shared by every
//! user of `parking_lot_core` in the process, each keyed by its own
//! addresses), their waiters get the default unpark token, which they treat
//! as a spurious wake-up and retry.

use std::time::{Duration, Instant};

use parking_lot_core::{ParkResult, DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN};

use super::WaitOutcome;
use crate::sync::atomic::AtomicU32;
use crate::sync::atomic::Ordering::Relaxed;

/// Sleeps while `word == expected`, for at most `timeout`.
pub(super) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> WaitOutcome {
    let key = word as *const AtomicU32 as usize;
    // `None` (no limit) when the deadline leaves the clock's range.
    let deadline = timeout.and_then(|left| Instant::now().checked_add(left));
    // SAFETY: `park`'s rules: `validate` and `timed_out` neither panic nor
    // call into `parking_lot_core` (one atomic load; nothing), and
    // `before_sleep` does nothing. The key is the address of a word this
    // thread holds a reference to for the whole call; see the module docs for
    // the wake on a reused address.
    let result = unsafe {
        parking_lot_core::park(
            key,
            // Relaxed: the queue lock orders this load after any waker's change
            // of the word (see the module docs); the caller re-reads with the
            // ordering it needs.
            || word.load(Relaxed) == expected,
            || {},
            |_, _| {},
            DEFAULT_PARK_TOKEN,
            deadline,
        )
    };
    match result {
        ParkResult::TimedOut => WaitOutcome::TimedOut,
        // Unparked, or Invalid: the word no longer held `expected`.
        ParkResult::Unparked(_) | ParkResult::Invalid => WaitOutcome::Woken,
    }
}

/// Wakes every thread parked on `word`'s address.
pub(super) fn wake_all(word: *const AtomicU32) {
    // SAFETY: `unpark_all` only hashes the key and wakes the threads queued
    // on it; it never dereferences it (see the module docs for a dead one).
    unsafe {
        parking_lot_core::unpark_all(word as usize, DEFAULT_UNPARK_TOKEN);
    }
}

/// Wakes one thread parked on `word`'s address, if any.
pub(super) fn wake_one(word: *const AtomicU32) {
    // SAFETY: as in `wake_all`; the callback runs under the queue lock and
    // only returns a token (no panic, no call into `parking_lot_core`).
    unsafe {
        parking_lot_core::unpark_one(word as usize, |_| DEFAULT_UNPARK_TOKEN);
    }
}
