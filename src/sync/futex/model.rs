//! The futex under loom: one `Mutex`+`Condvar` pair from loom, so the model
//! checker sees every step of a compare-then-sleep against every wake.
//!
//! # Why no wake-up is lost
//!
//! A waiter locks the bucket, then checks the word, then sleeps on the
//! bucket's condition variable, which releases the lock atomically. A waker
//! changes the word first (before calling in here), then locks the same bucket
//! and notifies. Either the waker's lock comes after the waiter's check, in
//! which case the waiter is already asleep on the condition variable and gets
//! the notification; or it comes before, in which case the lock hand-over makes
//! the waker's change visible to the check, and the waiter does not sleep.
//!
//! Every address shares the one bucket, so every wake is a `notify_all` (a
//! `notify_one` could wake a sleeper on another address and lose the wake-up);
//! the extra wakes are the spurious wake-ups the futex contract allows.

use std::time::Duration;

use super::WaitOutcome;
use crate::sync::atomic::AtomicU32;
use crate::sync::atomic::Ordering::Relaxed;
use crate::sync::{Condvar, Mutex};

/// The lock and condition variable every address maps to.
#[derive(Debug)]
struct Bucket {
    /// Serialises a waiter's check-then-sleep against a waker's notify.
    lock: Mutex<()>,
    /// Where waiters sleep.
    sleepers: Condvar,
}

fn bucket() -> &'static Bucket {
    // One bucket is enough for a model, and keeps its state small.
    loom::lazy_static! {
        static ref TABLE: Bucket = Bucket { lock: Mutex::new(()), sleepers: Condvar::new() };
    }
    &TABLE
}

/// Sleeps while `word == expected`.
///
/// A timed wait never sleeps: if the word still holds `expected` it reports
/// `TimedOut` at once, which models the deadline expiring at this point of
/// the interleaving (loom has no clock).
pub(super) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> WaitOutcome {
    let bucket = bucket();
    let guard = bucket.lock.lock();
    // Relaxed: the bucket lock orders this load after any waker's change of the
    // word (see the module docs); the caller re-reads with the ordering it needs.
    if word.load(Relaxed) != expected {
        return WaitOutcome::Woken;
    }
    if timeout.is_some() {
        return WaitOutcome::TimedOut;
    }
    drop(bucket.sleepers.wait(guard));
    WaitOutcome::Woken
}

/// Wakes every sleeper (of any address: there is one bucket).
pub(super) fn wake_all(_word: *const AtomicU32) {
    let bucket = bucket();
    // Taking the lock is what orders this wake after a waiter's check.
    let _guard = bucket.lock.lock();
    bucket.sleepers.notify_all();
}

/// Same as [`wake_all`]: the bucket is shared, so waking one could wake the
/// wrong sleeper.
pub(super) fn wake_one(word: *const AtomicU32) {
    wake_all(word);
}
