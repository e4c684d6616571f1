//! Latches: one-shot signals whose owner may free them the moment they are
//! set.
//!
//! The owner of a latch (a thread blocked in `install`, a `join` waiting for
//! its stolen half, a `scope`, a `shutdown` caller) owns the memory the latch
//! lives in and returns — freeing that frame — as soon as it sees the latch
//! set. So a setter must not touch the latch after the store that sets it:
//! it reads whatever it needs first (the owner's identity), publishes `SET`
//! with one swap, and afterwards uses only what it read and the latch's
//! *address* (a futex wake never dereferences it).
//!
//! [`CoreLatch`] is the state word every latch shares:
//!
//! ```text
//!   UNSET ──owner: try_sleep (CAS)──▶ SLEEPING ──owner: wake_up (CAS)──▶ UNSET
//!     │   ──owner: park (CAS)──────▶ PARKED                              │
//!     └──────────────── setter: swap(SET), from any state ──────────▶ SET (terminal)
//! ```
//!
//! - `SLEEPING`: the owner is a pool worker asleep in its pool's sleep
//!   protocol; the setter must wake *that worker* (the pool's latch type
//!   knows how: `pool/latch.rs`).
//! - `PARKED`: the owner is a thread outside any pool asleep on this word's
//!   futex ([`LockLatch`]); the setter wakes the address.
//!
//! Because owner and setter act on the same word by read-modify-writes, one
//! of them sees the other: a setter that swaps after the owner's `try_sleep`
//! reads `SLEEPING` and wakes it; an owner whose `try_sleep` comes after the
//! swap reads `SET` and does not sleep. No fence is needed.
//!
//! # Memory ordering
//!
//! Everything the setter wrote before setting is visible to the owner once
//! [`CoreLatch::probe`] returns `true` (or a wait on the latch returns).

use std::fmt;

use crate::sync::atomic::AtomicU32;
use crate::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use crate::sync::futex::{self, WaitOutcome};
use crate::sync::spin::{spin_until, SPIN_BUDGET};

/// Not set; the owner is awake.
const UNSET: u32 = 0;
/// Not set; the owner, a pool worker, may be asleep in its pool's sleep
/// protocol. Written only by the owner (from `UNSET`, and back).
const SLEEPING: u32 = 1;
/// Not set; the owner, a thread outside the pools, may be asleep on this
/// word's futex. Written only by the owner (from `UNSET`).
const PARKED: u32 = 2;
/// Set. Terminal: never changes again.
const SET: u32 = 3;

/// Whom a [`CoreLatch::set`] found waiting: the setter must wake them.
#[must_use = "a latch set that found a sleeper must wake it"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// The owner is awake; it will see `SET` by itself.
    Awake,
    /// The owner worker may be asleep in its pool's sleep protocol.
    Sleeping,
    /// The owner thread may be asleep on the latch's futex (at this address).
    Parked(*const AtomicU32),
}

/// The state word of a latch (see the module docs).
pub(crate) struct CoreLatch {
    /// `UNSET`, `SLEEPING`, `PARKED` or `SET`; the futex word of a parked owner.
    state: AtomicU32,
}

impl CoreLatch {
    /// An unset latch.
    #[inline]
    pub(crate) fn new() -> CoreLatch {
        CoreLatch {
            state: AtomicU32::new(UNSET),
        }
    }

    /// Whether the latch is set.
    #[inline]
    pub(crate) fn probe(&self) -> bool {
        // Acquire: pairs with the AcqRel swap in `set`: the setter's writes
        // are visible once this returns `true`.
        self.state.load(Acquire) == SET
    }

    /// Sets the latch; says whom the caller must wake.
    ///
    /// # Safety
    ///
    /// `this` must point to a live latch when the call starts. The owner may
    /// free it as soon as the state becomes `SET`: this function touches it
    /// only through the one swap that publishes `SET`, and the caller must
    /// not touch it afterwards either.
    #[inline]
    pub(crate) unsafe fn set(this: *const CoreLatch) -> Found {
        // SAFETY: the caller guarantees `this` is live now; we take the
        // address of the word without creating a reference that outlives it.
        let word: *const AtomicU32 = unsafe { std::ptr::addr_of!((*this).state) };
        // SAFETY: still live: the latch cannot be freed before it is SET,
        // which is what this swap does. AcqRel: Release publishes the setter's
        // writes to the owner's Acquire in `probe`; Acquire makes the owner's
        // writes before its `try_sleep` (its sleep word) visible to the wake
        // that follows.
        match unsafe { (*word).swap(SET, AcqRel) } {
            SLEEPING => Found::Sleeping,
            PARKED => Found::Parked(word),
            _ => Found::Awake,
        }
    }

    /// The owner, a pool worker about to sleep in its pool's sleep protocol
    /// (its sleep word already says so), announces it: `UNSET → SLEEPING`.
    /// `false` if the latch is set (then it must not sleep).
    #[inline]
    pub(crate) fn try_sleep(&self) -> bool {
        // Release: publishes the owner's sleep word to the setter's swap, which
        // then wakes that word (see `set`). Acquire on failure: it saw SET.
        self.state
            .compare_exchange(UNSET, SLEEPING, Release, Acquire)
            .is_ok()
    }

    /// The owner woke from its pool's sleep: `SLEEPING → UNSET`, unless the
    /// latch was set meanwhile.
    #[inline]
    pub(crate) fn wake_up(&self) {
        // Relaxed: the owner re-reads the latch with `probe` before deciding
        // anything; a failure means SET, which stays.
        let _ = self
            .state
            .compare_exchange(SLEEPING, UNSET, Relaxed, Relaxed);
    }

    /// The owner, a thread outside the pools, blocks until the latch is set:
    /// spins briefly (if `spin`), then moves `UNSET → PARKED` and sleeps on
    /// the futex while the word is `PARKED`, re-checking on every return.
    pub(crate) fn wait_parked(&self, spin: bool) {
        if self.probe() || (spin && spin_until(SPIN_BUDGET, None, || self.probe())) {
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

impl Default for CoreLatch {
    fn default() -> Self {
        CoreLatch::new()
    }
}

impl fmt::Debug for CoreLatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoreLatch")
            .field("set", &self.probe())
            .finish()
    }
}

/// A latch a setter can set without knowing its kind.
pub(crate) trait SetLatch {
    /// The latch's state word.
    fn core(&self) -> &CoreLatch;

    /// Sets the latch and wakes its owner.
    ///
    /// # Safety
    ///
    /// `this` must point to a live latch when the call starts. The owner may
    /// free it as soon as it is set: implementations read what they need
    /// before [`CoreLatch::set`] and touch the latch's memory no more after.
    unsafe fn set(this: *const Self);

    /// Records which worker runs the job this latch belongs to (a hint for
    /// an owner that waits for it: `join` helps the thief first). Called by
    /// the executor before it runs the job. Most latches ignore it.
    #[inline]
    fn note_thief(&self, _index: usize) {}
}

/// The latch of a thread outside the pools: it sleeps on the latch's own
/// futex ([`CoreLatch::wait_parked`]).
#[derive(Debug, Default)]
pub(crate) struct LockLatch {
    core: CoreLatch,
}

impl LockLatch {
    /// An unset latch.
    pub(crate) fn new() -> LockLatch {
        LockLatch {
            core: CoreLatch::new(),
        }
    }

    /// Blocks until the latch is set.
    pub(crate) fn wait(&self) {
        self.core.wait_parked(true);
    }

    /// Blocks until the latch is set, without the brief spin first: for a
    /// caller that has just woken the worker that will set it, which Linux
    /// tends to place on the caller's own CPU, where a spin would only
    /// delay it.
    pub(crate) fn wait_without_spinning(&self) {
        self.core.wait_parked(false);
    }
}

impl SetLatch for LockLatch {
    fn core(&self) -> &CoreLatch {
        &self.core
    }

    unsafe fn set(this: *const Self) {
        // SAFETY: the caller guarantees `this` is live; `CoreLatch::set`
        // touches it only through the publishing swap.
        let found = unsafe { CoreLatch::set(std::ptr::addr_of!((*this).core)) };
        match found {
            // The latch may already be gone: wake by address only.
            Found::Parked(word) => futex::wake_all(word),
            Found::Awake => {}
            Found::Sleeping => unreachable!("a LockLatch owner never sleeps in a pool"),
        }
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
        let latch = LockLatch::new();
        // SAFETY: the latch lives on this frame for the whole call.
        unsafe { SetLatch::set(&latch as *const LockLatch) };
        assert!(latch.core().probe());
        latch.wait();
    }

    #[test]
    fn set_wakes_a_parked_owner() {
        let latch = Arc::new(LockLatch::new());
        let setter = {
            let latch = Arc::clone(&latch);
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(20));
                // SAFETY: the Arc keeps the latch alive for the call.
                unsafe { SetLatch::set(Arc::as_ptr(&latch)) };
            })
        };
        latch.wait();
        assert!(latch.core().probe());
        setter.join().unwrap();
    }

    #[test]
    fn sleeping_owner_is_reported_to_the_setter() {
        let latch = CoreLatch::new();
        assert!(latch.try_sleep());
        // SAFETY: the latch lives on this frame.
        assert_eq!(unsafe { CoreLatch::set(&latch) }, Found::Sleeping);
        latch.wake_up();
        assert!(latch.probe(), "wake_up never unsets");
        assert!(!latch.try_sleep(), "a set latch refuses sleep");
    }

    #[test]
    fn owner_frees_the_latch_right_after() {
        // The owner keeps the latch on its stack and returns (freeing it) as
        // soon as it sees SET; the setter must not touch it afterwards.
        for _ in 0..if cfg!(miri) { 5 } else { 500 } {
            /// A pointer that may cross threads: the test's own argument
            /// (the owner keeps the latch alive until it is set) makes it sound.
            struct SendPtr(*const LockLatch);
            // SAFETY: see above; the pointer is only used by `set`.
            unsafe impl Send for SendPtr {}
            let setter = {
                let latch = LockLatch::new();
                let ptr = SendPtr(&latch);
                let setter = thread::spawn(move || {
                    let ptr = ptr;
                    // SAFETY: `wait` below keeps the latch alive until it is SET.
                    unsafe { SetLatch::set(ptr.0) };
                });
                latch.wait();
                setter
                // The latch's frame ends here, possibly before `set` returns.
            };
            setter.join().unwrap();
        }
    }
}
