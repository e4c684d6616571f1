//! A portable futex: a fixed table of `Mutex`+`Condvar` buckets keyed by address.
//!
//! Used where the OS offers no futex we bind to, and under loom, where it is
//! built from loom's `Mutex` and `Condvar` so the model checker sees every step.
//!
//! # Why no wake-up is lost
//!
//! A waiter locks its bucket, then checks the word, then sleeps on the
//! bucket's condition variable, which releases the lock atomically. A waker
//! changes the word first (before calling in here), then locks the same bucket
//! and notifies. Either the waker's lock comes after the waiter's check, in
//! which case the waiter is already asleep on the condition variable and gets
//! the notification; or it comes before, in which case the lock hand-over makes
//! the waker's change visible to the check, and the waiter does not sleep.
//!
//! Several addresses share a bucket, so every wake is a `notify_all` (a
//! `notify_one` could wake a sleeper on another address and lose the wake-up);
//! the extra wakes are the spurious wake-ups the futex contract allows.

use std::time::Duration;

use super::WaitOutcome;
use crate::sync::atomic::AtomicU32;
use crate::sync::atomic::Ordering::Relaxed;
use crate::sync::{Condvar, Mutex};

/// One lock and its condition variable; many addresses map to it.
#[derive(Debug)]
struct Bucket {
    /// Serialises a waiter's check-then-sleep against a waker's notify.
    lock: Mutex<()>,
    /// Where waiters of this bucket sleep.
    sleepers: Condvar,
}

impl Bucket {
    #[cfg(not(loom))]
    const fn new() -> Self {
        Bucket {
            lock: Mutex::new(()),
            sleepers: Condvar::new(),
        }
    }
}

/// Number of buckets: a power of two, enough to keep unrelated words apart.
#[cfg(not(loom))]
const BUCKETS: usize = 64;

#[cfg(not(loom))]
fn bucket(addr: usize) -> &'static Bucket {
    use crossbeam_utils::CachePadded;

    // Each bucket on its own cache line: unrelated waiters must not contend.
    #[allow(clippy::declare_interior_mutable_const)]
    const EMPTY: CachePadded<Bucket> = CachePadded::new(Bucket::new());
    static TABLE: [CachePadded<Bucket>; BUCKETS] = [EMPTY; BUCKETS];
    // Fibonacci hashing of the address; the low bits are alignment zeros.
    let hash = (addr as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58;
    &TABLE[hash as usize % BUCKETS]
}

#[cfg(loom)]
fn bucket(_addr: usize) -> &'static Bucket {
    // One bucket is enough for a model, and keeps its state small.
    loom::lazy_static! {
        static ref TABLE: Bucket = Bucket { lock: Mutex::new(()), sleepers: Condvar::new() };
    }
    &TABLE
}

/// Sleeps while `word == expected`, for at most `timeout`.
///
/// Under loom a timed wait never sleeps: if the word still holds `expected`
/// it reports `TimedOut` at once, which models the deadline expiring at this
/// point of the interleaving (loom has no clock).
pub(super) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> WaitOutcome {
    let bucket = bucket(word as *const AtomicU32 as usize);
    let guard = bucket.lock.lock();
    // Relaxed: the bucket lock orders this load after any waker's change of the
    // word (see the module docs); the caller re-reads with the ordering it needs.
    if word.load(Relaxed) != expected {
        return WaitOutcome::Woken;
    }
    match timeout {
        None => {
            drop(bucket.sleepers.wait(guard));
            WaitOutcome::Woken
        }
        Some(_) if cfg!(loom) => WaitOutcome::TimedOut,
        Some(timeout) => {
            let (_guard, timed_out) = bucket.sleepers.wait_timeout(guard, timeout);
            if timed_out {
                WaitOutcome::TimedOut
            } else {
                WaitOutcome::Woken
            }
        }
    }
}

/// Wakes every sleeper of the bucket `word` maps to.
pub(super) fn wake_all(word: *const AtomicU32) {
    let bucket = bucket(word as usize);
    // Taking the lock is what orders this wake after a waiter's check.
    let _guard = bucket.lock.lock();
    bucket.sleepers.notify_all();
}

/// Same as [`wake_all`]: buckets are shared, so waking one could wake the
/// wrong sleeper.
pub(super) fn wake_one(word: *const AtomicU32) {
    wake_all(word);
}
