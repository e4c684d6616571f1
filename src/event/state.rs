//! The Event's state word: one `AtomicU32` holding the flag, two waiter bits
//! and a generation counter. See `README.md` beside this file for the protocol.

use std::fmt;

use crate::sync::atomic::AtomicU32;
use crate::sync::atomic::Ordering::{Acquire, Relaxed, Release};

/// The flag. Set by `set`, cleared by `clear`; nothing else touches it.
pub(super) const SET: u32 = 1 << 0;

/// A blocking waiter has begun waiting and is spinning (or about to park).
///
/// Set by a waiter (CAS from an exact observed value without `SET`) before it
/// spins; cleared only by the release transition. It makes a `set` run the
/// release transition (one CAS, no system call), so a spinning waiter is
/// released exactly like a sleeping one. It may linger after its waiter timed
/// out; the next `set` then spends one needless CAS clearing it.
pub(super) const SPINNING: u32 = 1 << 1;

/// A blocking waiter may be asleep on the futex of this word.
///
/// Set by a waiter (CAS from an exact observed value without `SET`) just
/// before it sleeps; cleared only by the release transition. It may linger
/// after its waiter timed out (the next `set` then makes one needless wake
/// call and clears it).
pub(super) const PARKED: u32 = 1 << 2;

/// The async waiter list may hold wakers.
///
/// Set only under the waiter-list lock, by a registering `WaitAsync`, with a
/// CAS from an exact observed value without `SET`. Cleared by the release
/// transition, or under the list lock when the list is empty.
pub(super) const ASYNC: u32 = 1 << 3;

/// Any waiter bit: someone a `set` must release.
const WAITERS: u32 = SPINNING | PARKED | ASYNC;

/// The generation: the bits above the flags, bumped (wrapping) by each
/// release transition. A waiter that sees it move knows a `set` released it,
/// even if `clear` has since reset the flag.
const GENERATION_ONE: u32 = 1 << 4;

/// The state word of an `Event`.
pub(super) struct State {
    /// Written by `set`, `clear` and registering waiters, always by RMW;
    /// read by everyone; the futex word blocking waiters sleep on.
    word: AtomicU32,
}

/// A copy of the state word, read at one instant.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Snapshot(u32);

impl Snapshot {
    /// The flag is set.
    #[inline]
    pub(super) fn is_set(self) -> bool {
        self.0 & SET != 0
    }

    /// A blocking waiter may be asleep on the futex.
    #[inline]
    pub(super) fn has_parked(self) -> bool {
        self.0 & PARKED != 0
    }

    /// The async waiter list may hold wakers.
    #[inline]
    pub(super) fn has_async(self) -> bool {
        self.0 & ASYNC != 0
    }

    /// A waiter of any kind is registered.
    #[inline]
    pub(super) fn has_waiters(self) -> bool {
        self.0 & WAITERS != 0
    }

    /// The generation counter (wraps after 2^28 release transitions).
    #[inline]
    fn generation(self) -> u32 {
        self.0 / GENERATION_ONE
    }

    /// Whether a waiter that began at `start` has been released: the flag is
    /// set now, or a release transition happened since `start` (a `set` woke
    /// waiters, even if a `clear` followed).
    #[inline]
    pub(super) fn released_since(self, start: Snapshot) -> bool {
        self.is_set() || self.generation() != start.generation()
    }

    /// The raw word, as the futex compares it.
    #[inline]
    pub(super) fn bits(self) -> u32 {
        self.0
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("set", &self.is_set())
            .field("parked", &self.has_parked())
            .field("async", &self.has_async())
            .field("generation", &self.generation())
            .finish()
    }
}

/// What `set` must do after its transition.
#[must_use = "a set that found waiters must release and wake them"]
#[derive(Debug)]
pub(super) enum SetOutcome {
    /// Nothing more: the flag was already set, or nobody was waiting.
    Done,
    /// Waiters were registered before the flag went up: run the release
    /// transition and wake the kinds of waiter the snapshot names.
    WakeWaiters(Snapshot),
}

/// What `clear` must do after its transition.
#[must_use = "a clear that overtook a set must finish that set's release"]
#[derive(Debug)]
pub(super) enum ClearOutcome {
    /// Nothing more.
    Done,
    /// A `set` with waiters is still in flight: run its release transition
    /// now, so no waiter that starts after this `clear` returns can be
    /// released by that `set`.
    FinishRelease(Snapshot),
}

impl State {
    /// An unset word with no waiters, generation 0.
    #[cfg(not(loom))]
    pub(super) const fn new() -> Self {
        State {
            word: AtomicU32::new(0),
        }
    }

    /// An unset word with no waiters, generation 0.
    #[cfg(loom)]
    pub(super) fn new() -> Self {
        State {
            word: AtomicU32::new(0),
        }
    }

    /// Reads the word.
    ///
    /// Acquire: pairs with the Release of `transition_to_set` (directly, or
    /// through the release sequence that later RMWs on the word extend), so a
    /// waiter that sees itself released sees everything written before `set`.
    #[inline]
    pub(super) fn load(&self) -> Snapshot {
        Snapshot(self.word.load(Acquire))
    }

    /// Reads the word without synchronising: for the loom models' probe,
    /// which must not add happens-before edges the real code lacks.
    #[cfg(loom)]
    pub(super) fn peek(&self) -> Snapshot {
        // Relaxed: a probe that must not synchronise (see above).
        Snapshot(self.word.load(Relaxed))
    }

    /// The futex word, for sleeping on and waking.
    #[inline]
    pub(super) fn futex_word(&self) -> &AtomicU32 {
        &self.word
    }

    /// `set`: raise the flag in one RMW.
    #[inline]
    pub(super) fn transition_to_set(&self) -> SetOutcome {
        // Release: publishes the setter's writes to every waiter that observes
        // this value or a later one (pairs with the Acquire in `load`).
        let prev = Snapshot(self.word.fetch_or(SET, Release));
        if !prev.is_set() && prev.has_waiters() {
            SetOutcome::WakeWaiters(prev)
        } else {
            SetOutcome::Done
        }
    }

    /// `clear`: lower the flag in one RMW.
    #[inline]
    pub(super) fn transition_to_clear(&self) -> ClearOutcome {
        // Acquire: a `clear` that lowers a raised flag acquires what the
        // `set` published, so "clear, then check the condition, then wait"
        // sees the condition that `set` announced (found by the loom model
        // `wait_many_vs_complete`: with Relaxed, the check could miss a
        // completion whose `set` the clear had just erased, and the waiter
        // slept forever). As an RMW it continues the release sequence.
        let prev = Snapshot(self.word.fetch_and(!SET, Acquire));
        if prev.is_set() && prev.has_waiters() {
            ClearOutcome::FinishRelease(prev)
        } else {
            ClearOutcome::Done
        }
    }

    /// The release transition: bump the generation and drop every waiter
    /// bit, unless someone already did it for this generation.
    ///
    /// Run by the `set` that found waiters, or by the `clear` that overtook
    /// it, whichever comes first; the loop stops as soon as the generation has
    /// moved or no waiter bit remains. Returns the value it replaced when this
    /// call did the release: its waiter bits say whom the caller must wake
    /// (bits added after the `set`'s RMW, but before this CAS, included).
    #[must_use = "the caller must wake the waiters whose bits it cleared"]
    pub(super) fn transition_to_released(&self, seen: Snapshot) -> Option<Snapshot> {
        // Relaxed: only RMWs touch the word, so this one continues the release
        // sequence headed by `set`'s fetch_or; it publishes nothing of its own.
        let mut current = Snapshot(self.word.load(Relaxed));
        while current.generation() == seen.generation() && current.has_waiters() {
            let next = (current.0 & !WAITERS).wrapping_add(GENERATION_ONE);
            match self
                .word
                .compare_exchange_weak(current.0, next, Relaxed, Relaxed)
            {
                Ok(_) => return Some(current),
                Err(actual) => current = Snapshot(actual),
            }
        }
        None
    }

    /// A waiter registers itself: add `bit` (`SPINNING`, `PARKED` or `ASYNC`) to the exact
    /// value `seen`, which must not be set.
    ///
    /// `Err` carries the fresh value when the word has changed meanwhile (the
    /// caller re-checks it: it may show the `set` it waits for).
    pub(super) fn transition_to_waiting(
        &self,
        seen: Snapshot,
        bit: u32,
    ) -> Result<Snapshot, Snapshot> {
        debug_assert!(!seen.is_set() && matches!(bit, SPINNING | PARKED | ASYNC));
        let next = seen.0 | bit;
        // Acquire on failure: the fresh value may show our release, and then
        // the setter's writes must be visible. Success publishes nothing but
        // must not lose the failure path's guarantee, so it is Acquire too.
        self.word
            .compare_exchange(seen.0, next, Acquire, Acquire)
            .map(|_| Snapshot(next))
            .map_err(Snapshot)
    }

    /// Drops the `ASYNC` bit. Only under the waiter-list lock, with the list
    /// empty, so no registered waker can be forgotten.
    pub(super) fn clear_async(&self) {
        // Relaxed: publishes nothing; the list lock orders it against
        // registrations, which set the bit under the same lock.
        self.word.fetch_and(!ASYNC, Relaxed);
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.load().fmt(f)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn set_and_clear_without_waiters_need_no_follow_up() {
        let state = State::new();
        assert!(matches!(state.transition_to_set(), SetOutcome::Done));
        assert!(state.load().is_set());
        assert!(matches!(state.transition_to_set(), SetOutcome::Done));
        assert!(matches!(state.transition_to_clear(), ClearOutcome::Done));
        assert!(!state.load().is_set());
        assert_eq!(state.load().generation(), 0, "no waiter, no release");
    }

    #[test]
    fn set_with_waiter_releases_once() {
        let state = State::new();
        let start = state.load();
        let parked = state.transition_to_waiting(start, PARKED).unwrap();
        assert!(parked.has_parked());
        let SetOutcome::WakeWaiters(prev) = state.transition_to_set() else {
            panic!("a set that finds a parked waiter must wake it");
        };
        assert!(prev.has_parked() && !prev.has_async());
        // A clear that overtakes the release finishes it...
        let ClearOutcome::FinishRelease(seen) = state.transition_to_clear() else {
            panic!("clear must finish the in-flight release");
        };
        let cleared = state.transition_to_released(seen).expect("clear releases");
        assert!(cleared.has_parked(), "the releaser learns whom to wake");
        // ...and the set's own release then finds nothing left to do.
        assert!(state.transition_to_released(prev).is_none());
        let now = state.load();
        assert!(!now.is_set() && !now.has_parked());
        assert_eq!(now.generation(), 1, "exactly one release");
        assert!(now.released_since(start), "the waiter sees its release");
    }

    #[test]
    fn waiting_fails_on_stale_value() {
        let state = State::new();
        let start = state.load();
        let _ = state.transition_to_set();
        let actual = state.transition_to_waiting(start, ASYNC).unwrap_err();
        assert!(actual.is_set());
    }

    #[test]
    fn generation_wraps() {
        let state = State {
            word: AtomicU32::new(!WAITERS & !SET),
        };
        let start = state.load();
        let parked = state.transition_to_waiting(start, PARKED).unwrap();
        assert!(state.transition_to_released(parked).is_some());
        let now = state.load();
        assert_eq!(now.generation(), 0);
        assert!(now.released_since(start));
        assert!(!now.has_parked() && !now.is_set());
    }

    #[test]
    fn clear_async_keeps_other_bits() {
        let state = State::new();
        let parked = state.transition_to_waiting(state.load(), PARKED).unwrap();
        state.transition_to_waiting(parked, ASYNC).unwrap();
        state.clear_async();
        let now = state.load();
        assert!(now.has_parked() && !now.has_async());
    }
}
