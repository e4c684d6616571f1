//! [`Latch`]: a one-shot signal whose waiter may free it the moment it is set.
//!
//! The waiter of a stack job (`install` from outside the pool, later `join`)
//! owns the memory the job and its latch live in, and returns — freeing that
//! stack frame — as soon as it sees the latch set. So the setter must not
//! touch the latch after the store that sets it:
//!
//! 1. [`Latch::set`] reads the latch's address, then swaps in `SET`
//!    (`Release`), and afterwards uses only the address: if the swap found a
//!    sleeper (`PARKED`) it calls `futex::wake_all` on the address, which
//!    never dereferences it (a wake on freed memory is a harmless no-op or a
//!    spurious wake of whoever lives there now).
//! 2. [`Latch::wait`] spins briefly, then moves `UNSET` to `PARKED` by CAS and
//!    sleeps on the futex while the word is `PARKED`, re-checking on every
//!    return. A `set` that lands before the CAS makes it fail (the waiter sees
//!    `SET`); one that lands after sees `PARKED` and wakes.
//!
//! # Memory ordering
//!
//! Everything the setter wrote before `set` is visible to the waiter once
//! `wait` returns (or `probe` returns `true`).

use std::fmt;

use crate::sync::atomic::AtomicU32;
use crate::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use crate::sync::futex::{self, WaitOutcome};
use crate::sync::spin::{spin_until, SPIN_BUDGET};

/// Not set; nobody sleeps.
const UNSET: u32 = 0;
/// Not set; the waiter may be asleep on the futex. Set only by the waiter.
const PARKED: u32 = 1;
/// Set. Terminal: never changes again.
const SET: u32 = 2;

/// A one-shot latch with a single waiter that may free it once set.
pub(crate) struct Latch {
    /// `UNSET` → (`PARKED` by the waiter) → `SET` by the setter; the futex word.
    state: AtomicU32,
}

impl Latch {
    /// An unset latch.
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Latch {
        Latch {
            state: AtomicU32::new(UNSET),
        }
    }

    /// An unset latch.
    #[cfg(loom)]
    pub(crate) fn new() -> Latch {
        Latch {
            state: AtomicU32::new(UNSET),
        }
    }

    /// Whether the latch is set.
    #[inline]
    pub(crate) fn probe(&self) -> bool {
        // Acquire: pairs with the Release swap in `set`.
        self.state.load(Acquire) == SET
    }

    /// Sets the latch and wakes its waiter.
    ///
    /// # Safety
    ///
    /// `this` must point to a live latch when the call starts. The waiter may
    /// free it as soon as the state becomes `SET`; this function touches the
    /// latch's memory only through the one atomic swap that publishes `SET`.
    pub(crate) unsafe fn set(this: *const Latch) {
        // SAFETY: the caller guarantees `this` is live now; we take the
        // address of the word without creating a reference that outlives it.
        let word: *const AtomicU32 = unsafe { std::ptr::addr_of!((*this).state) };
        // SAFETY: still live: the latch cannot be freed before it is SET,
        // which is what this swap does. Release: publishes the setter's
        // writes to the waiter's Acquire in `probe`/`wait`.
        let prev = unsafe { (*word).swap(SET, Release) };
        if prev == PARKED {
            // The latch may already be gone: wake by address only.
            futex::wake_all(word);
        }
    }

    /// Blocks until the latch is set. At most one thread may wait.
    pub(crate) fn wait(&self) {
        if self.probe() || spin_until(SPIN_BUDGET, None, || self.probe()) {
            return;
        }
        loop {
            // Relaxed on failure: we only learn the latch moved, and loop to
            // `probe`, which acquires. Success publishes nothing.
            match self.state.compare_exchange(UNSET, PARKED, Relaxed, Relaxed) {
                Ok(_) | Err(PARKED) => {
                    // Woken or spurious: the probe below decides.
                    let _: WaitOutcome = futex::wait(&self.state, PARKED, None);
                }
                Err(_) => {}
            }
            if self.probe() {
                return;
            }
        }
    }
}

impl fmt::Debug for Latch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Latch").field("set", &self.probe()).finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;
    use std::thread;
    use std::time::Duration;

    use super::*;

    #[test]
    fn set_before_wait() {
        let latch = Latch::new();
        // SAFETY: the latch lives on this frame for the whole call.
        unsafe { Latch::set(&latch) };
        assert!(latch.probe());
        latch.wait();
    }

    #[test]
    fn set_wakes_a_sleeper() {
        let latch = Arc::new(Latch::new());
        let setter = {
            let latch = Arc::clone(&latch);
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(20));
                // SAFETY: the Arc keeps the latch alive for the call.
                unsafe { Latch::set(&*latch) };
            })
        };
        latch.wait();
        assert!(latch.probe());
        setter.join().unwrap();
    }

    #[test]
    fn waiter_frees_the_latch_right_after() {
        // The waiter owns the latch on its stack and returns (freeing it) as
        // soon as it sees SET; the setter must not touch it afterwards.
        for _ in 0..if cfg!(miri) { 5 } else { 500 } {
            /// A pointer that may cross threads: the test's own argument
            /// (the waiter keeps the latch alive until it is set) makes it sound.
            struct SendPtr(*const Latch);
            // SAFETY: see above; the pointer is only used by `Latch::set`.
            unsafe impl Send for SendPtr {}
            let setter = {
                let latch = Latch::new();
                let ptr = SendPtr(&latch);
                let setter = thread::spawn(move || {
                    let ptr = ptr;
                    // SAFETY: `wait` below keeps the latch alive until it is SET.
                    unsafe { Latch::set(ptr.0) };
                });
                latch.wait();
                setter
                // The latch's frame ends here, possibly before `set` returns.
            };
            setter.join().unwrap();
        }
    }
}
