//! The task's state word: lifecycle and flags in one `AtomicU32`, which is
//! also the futex word blocking waiters sleep on. See `README.md` beside
//! this file.

use std::fmt;

use crate::sync::atomic::AtomicU32;
use crate::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

/// The two lifecycle bits.
const LIFECYCLE: u32 = 0b11;
/// Not started. Left by the claim (to `RUNNING`) or by cancel.
const PENDING: u32 = 0;
/// Claimed by a worker or an inline waiter; the closure runs.
const RUNNING: u32 = 1;
/// Claimed, then given its outcome: the closure returned or panicked (or the
/// holder of a promise completed it). The outcome is stored; the callbacks
/// may still be running until `READY`. Done: never left.
const RAN: u32 = 2;
/// Cancelled while pending; the closure never runs. Done: never left.
const CANCELLED: u32 = 3;

/// The outcome is stored and every callback has run: the outcome may be
/// taken (`join`; `.await`'s `Poll::Ready`). Set once by the completer, with
/// or after the done transition; never unset.
const READY: u32 = 1 << 2;
/// A blocking waiter may be asleep on the futex. Set by waiters; cleared by
/// every transition that could release one (which then wakes the futex).
const PARKED: u32 = 1 << 3;
/// A `.await` has registered a waker: the completer must wake it. Set by
/// `poll`; never unset.
const AWAITER: u32 = 1 << 4;
/// `.await` took the outcome. Set by `poll` (which has `&mut` access).
const TAKEN: u32 = 1 << 5;
/// The closure panicked (set with RAN; never unset). Lets `wait`
/// (`FirstPanic`) tell a panic without touching the outcome.
const PANICKED: u32 = 1 << 6;
/// The task's waiter list (`waiters.rs`, waits on several tasks) may hold
/// waiters. Set by a registering waiter (under the list's lock); cleared by
/// the done transition, whose caller then releases the list.
const WAITERS: u32 = 1 << 7;

/// The state word of a task.
pub(crate) struct State {
    /// Written by the claimer/canceller, the completer and waiters, always by
    /// RMW; read by everyone; the futex word of blocking waiters.
    word: AtomicU32,
}

/// A copy of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(u32);

impl Snapshot {
    /// Not started.
    pub(crate) fn is_pending(self) -> bool {
        self.0 & LIFECYCLE == PENDING
    }
    /// Claimed and not yet done.
    pub(crate) fn is_running(self) -> bool {
        self.0 & LIFECYCLE == RUNNING
    }
    /// Done: `RAN` or `CANCELLED` (`Task::is_done` in the public API).
    pub(crate) fn is_done(self) -> bool {
        self.0 & LIFECYCLE >= RAN
    }
    /// Cancelled while pending.
    pub(crate) fn is_cancelled(self) -> bool {
        self.0 & LIFECYCLE == CANCELLED
    }
    /// `READY`: the outcome is stored, every callback has run, and the
    /// outcome may be taken.
    pub(crate) fn is_ready(self) -> bool {
        self.0 & READY != 0
    }
    /// A blocking waiter may sleep on the futex.
    pub(crate) fn is_parked(self) -> bool {
        self.0 & PARKED != 0
    }
    /// A waker is registered.
    pub(crate) fn has_awaiter(self) -> bool {
        self.0 & AWAITER != 0
    }
    /// The closure panicked.
    pub(crate) fn is_panicked(self) -> bool {
        self.0 & PANICKED != 0
    }
    /// `.await` took the outcome.
    pub(crate) fn is_taken(self) -> bool {
        self.0 & TAKEN != 0
    }
    /// A waiter of several tasks may be registered in the list.
    pub(crate) fn has_waiters(self) -> bool {
        self.0 & WAITERS != 0
    }
    /// The raw word, as the futex compares it.
    pub(crate) fn bits(self) -> u32 {
        self.0
    }
    /// A name for `Debug` output. `RAN` shows as "complete": `Task`'s `Debug`
    /// output is public, and `tests/task.rs` (`debug_output`) pins it.
    pub(crate) fn name(self) -> &'static str {
        match self.0 & LIFECYCLE {
            PENDING => "pending",
            RUNNING => "running",
            RAN => "complete",
            _ => "cancelled",
        }
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("lifecycle", &self.name())
            .field("ready", &self.is_ready())
            .field("parked", &self.is_parked())
            .field("awaiter", &self.has_awaiter())
            .field("taken", &self.is_taken())
            .finish()
    }
}

/// Outcome of a done (or `READY`) transition: who must be woken.
#[must_use = "waiters registered in the word must be woken"]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Wake {
    /// A blocking waiter may sleep on the futex: `futex::wake_all`.
    pub(crate) futex: bool,
    /// A waker is registered: `AtomicWaker::wake`.
    pub(crate) waker: bool,
    /// The waiter list may hold waiters: release it.
    pub(crate) waiters: bool,
}

/// What [`State::transition_to_running`] did.
#[must_use = "only the claimer may run the closure"]
#[derive(Clone, Copy, Debug)]
pub(crate) enum Claim {
    /// PENDING → RUNNING: the caller runs (or completes) the task.
    Claimed,
    /// The task was not pending (claimed or cancelled already).
    NotPending,
}

/// What [`State::transition_to_cancelled`] did.
#[must_use = "a canceller must wake the waiters and complete the task"]
#[derive(Clone, Copy, Debug)]
pub(crate) enum Cancel {
    /// PENDING → CANCELLED: the caller drops the closure, completes the task
    /// with a cancelled error, and wakes these.
    Cancelled(Wake),
    /// The task was not pending.
    NotPending,
}

/// How the closure ended, for [`State::transition_to_done`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// It returned a value (or the task is failed/cancelled without a panic).
    Value,
    /// It panicked: `PANICKED` is set.
    Panic,
}

/// Whether the done transition also makes the task `READY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ready {
    /// No callback is left to run: `READY` with the done state, in one RMW.
    Now,
    /// Callbacks run first; `transition_to_ready` follows.
    AfterCallbacks,
}

/// What [`State::transition_to_parked`] did.
#[must_use = "a waiter sleeps only on the exact value it parked"]
#[derive(Clone, Copy, Debug)]
pub(crate) enum Park {
    /// `PARKED` was added: sleep on this exact value.
    Parked(Snapshot),
    /// The word moved: re-check this fresh value.
    Moved(Snapshot),
}

impl State {
    /// A pending task.
    pub(crate) fn new_pending() -> State {
        State {
            word: AtomicU32::new(PENDING),
        }
    }

    /// A task that is already done and `READY` (a rejected submission).
    pub(crate) fn new_ready() -> State {
        State {
            word: AtomicU32::new(RAN | READY),
        }
    }

    /// Reads the word.
    ///
    /// Acquire: pairs with the Release of the done and `READY` transitions, so a
    /// reader that sees `READY` sees the stored outcome and the effects of
    /// every callback.
    #[inline]
    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.word.load(Acquire))
    }

    /// Reads the word with no ordering (hints and fast rejections only).
    #[inline]
    pub(crate) fn load_relaxed(&self) -> Snapshot {
        // Relaxed: callers act on the result only after a synchronising RMW.
        Snapshot(self.word.load(Relaxed))
    }

    /// The futex word.
    pub(crate) fn futex_word(&self) -> &AtomicU32 {
        &self.word
    }

    /// [`update`](Self::update) for a transition that always applies.
    fn update_always(
        &self,
        success: crate::sync::atomic::Ordering,
        mut f: impl FnMut(u32) -> u32,
    ) -> Snapshot {
        match self.update(success, |s| Some(f(s))) {
            Ok(prev) | Err(prev) => prev,
        }
    }

    /// One CAS loop for every conditional transition: `f` maps the current
    /// value to the next one, or `None` to give up.
    fn update(
        &self,
        success: crate::sync::atomic::Ordering,
        mut f: impl FnMut(u32) -> Option<u32>,
    ) -> Result<Snapshot, Snapshot> {
        let mut current = self.word.load(Relaxed);
        loop {
            let Some(next) = f(current) else {
                return Err(Snapshot(current));
            };
            // The failure ordering only feeds the next attempt: Relaxed.
            match self
                .word
                .compare_exchange_weak(current, next, success, Relaxed)
            {
                Ok(prev) => return Ok(Snapshot(prev)),
                Err(actual) => current = actual,
            }
        }
    }

    /// PENDING → RUNNING: claim the task to run it.
    pub(crate) fn transition_to_running(&self) -> Claim {
        // Acquire: the claimer takes the closure the submitter wrote.
        match self.update(Acquire, |s| {
            (s & LIFECYCLE == PENDING).then_some(s | RUNNING)
        }) {
            Ok(_) => Claim::Claimed,
            Err(_) => Claim::NotPending,
        }
    }

    /// RUNNING → PENDING: the claimer of a task that no closure runs (a
    /// process-pool item) gives it back unstarted, so that it can be
    /// cancelled or claimed again. Only the claimer calls it, and nothing
    /// else leaves RUNNING but its own completion, so the lifecycle is
    /// RUNNING here; the flags stay.
    #[cfg(any(feature = "process", loom))]
    pub(crate) fn transition_to_pending(&self) {
        // Release: pairs with the Acquire of the next claim or cancel (the
        // task's next owner sees what the claimer did before giving it up).
        let prev = self.update_always(Release, |s| (s & !LIFECYCLE) | PENDING);
        debug_assert!(prev.is_running(), "gave back a task that was not running");
    }

    /// PENDING → CANCELLED, clearing the waiter bits (the caller wakes them).
    pub(crate) fn transition_to_cancelled(&self) -> Cancel {
        // AcqRel: acquire the closure to drop it; release the cancellation
        // to waiters that return on `is_done`.
        match self.update(AcqRel, |s| {
            (s & LIFECYCLE == PENDING).then_some((s & !(PARKED | WAITERS)) | CANCELLED)
        }) {
            Ok(prev) => Cancel::Cancelled(Wake {
                futex: prev.is_parked(),
                waker: false,
                waiters: prev.has_waiters(),
            }),
            Err(_) => Cancel::NotPending,
        }
    }

    /// The done transition, RUNNING → RAN (a cancelled task stays
    /// CANCELLED): the outcome is stored. Marks `PANICKED` for
    /// [`Ended::Panic`], and `READY` too for [`Ready::Now`] (no callback is
    /// left to run).
    pub(crate) fn transition_to_done(&self, ended: Ended, ready: Ready) -> Wake {
        let ready_bit = match ready {
            Ready::Now => READY,
            Ready::AfterCallbacks => 0,
        };
        let panicked = match ended {
            Ended::Panic => PANICKED,
            Ended::Value => 0,
        };
        // Release: publishes the outcome (and the callbacks' effects) to
        // readers that Acquire the word.
        let prev = self.update_always(Release, |s| {
            let lifecycle = if s & LIFECYCLE == CANCELLED {
                CANCELLED
            } else {
                RAN
            };
            (s & !(LIFECYCLE | PARKED | WAITERS)) | lifecycle | ready_bit | panicked
        });
        Wake {
            futex: prev.is_parked(),
            waker: ready_bit != 0 && prev.has_awaiter(),
            waiters: prev.has_waiters(),
        }
    }

    /// Sets `READY` after the callbacks ran.
    pub(crate) fn transition_to_ready(&self) -> Wake {
        // Release: publishes the callbacks' effects to the taker of the outcome.
        let prev = self.update_always(Release, |s| (s & !(PARKED | WAITERS)) | READY);
        Wake {
            futex: prev.is_parked(),
            waker: prev.has_awaiter(),
            waiters: prev.has_waiters(),
        }
    }

    /// A blocking waiter registers: add `PARKED` to the exact value `seen`.
    pub(crate) fn transition_to_parked(&self, seen: Snapshot) -> Park {
        // Acquire (also on failure): publishes nothing; the caller acts on the
        // value it read only after this, and re-reads before deciding.
        match self
            .word
            .compare_exchange(seen.0, seen.0 | PARKED, Acquire, Acquire)
        {
            Ok(_) => Park::Parked(Snapshot(seen.0 | PARKED)),
            Err(actual) => Park::Moved(Snapshot(actual)),
        }
    }

    /// A waiter of several tasks registered in the list: sets `WAITERS`.
    /// Returns the state before (unused by the protocol, which re-checks;
    /// see `waiters.rs`).
    pub(crate) fn mark_waiters(&self) -> Snapshot {
        // AcqRel: Acquire to see the outcome state if already done;
        // Release orders the list entry (written under the list's lock, which
        // the completer takes anyway) — an RMW on the word is what matters:
        // it is ordered against the done transition's RMW.
        Snapshot(self.word.fetch_or(WAITERS, AcqRel))
    }

    /// `poll` registers interest before storing its waker. Returns the state
    /// before.
    pub(crate) fn mark_awaiter(&self) -> Snapshot {
        // AcqRel: Acquire to see the outcome if this already finds READY;
        // Release is not needed for the waker (the AtomicWaker orders it),
        // but an RMW that acquires is cheapest as AcqRel here.
        Snapshot(self.word.fetch_or(AWAITER, AcqRel))
    }

    /// `poll` takes the outcome (it has `&mut` access to the handle).
    pub(crate) fn mark_taken(&self) {
        // Relaxed: only the handle's owner reads TAKEN, in program order.
        self.word.fetch_or(TAKEN, Relaxed);
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
    fn run_to_ready() {
        let state = State::new_pending();
        assert!(state.load().is_pending());
        assert!(matches!(state.transition_to_running(), Claim::Claimed));
        assert!(
            matches!(state.transition_to_running(), Claim::NotPending),
            "claimed twice"
        );
        assert!(
            matches!(state.transition_to_cancelled(), Cancel::NotPending),
            "cancelled while running"
        );
        assert!(state.load().is_running());
        let wake = state.transition_to_done(Ended::Value, Ready::AfterCallbacks);
        assert!(!wake.futex && !wake.waker && !wake.waiters);
        let s = state.load();
        assert!(s.is_done() && !s.is_ready() && !s.is_cancelled());
        let _ = state.transition_to_ready();
        assert!(state.load().is_ready());
    }

    #[test]
    fn cancel_wins_only_while_pending() {
        let state = State::new_pending();
        let Park::Parked(parked) = state.transition_to_parked(state.load()) else {
            panic!("the word did not move");
        };
        assert!(parked.is_parked());
        assert!(!state.mark_waiters().has_waiters());
        let Cancel::Cancelled(wake) = state.transition_to_cancelled() else {
            panic!("pending tasks can be cancelled");
        };
        assert!(wake.futex, "the parked waiter must be woken");
        assert!(wake.waiters, "the waiter list must be released");
        let s = state.load();
        assert!(s.is_cancelled() && s.is_done() && !s.is_parked());
        assert!(
            matches!(state.transition_to_running(), Claim::NotPending),
            "a cancelled task never runs"
        );
        assert!(matches!(
            state.transition_to_cancelled(),
            Cancel::NotPending
        ));
        let _ = state.transition_to_done(Ended::Value, Ready::Now);
        assert!(state.load().is_cancelled(), "completing keeps CANCELLED");
    }

    #[test]
    fn awaiter_is_woken_when_ready_only() {
        let state = State::new_pending();
        assert!(matches!(state.transition_to_running(), Claim::Claimed));
        assert!(!state.mark_awaiter().has_awaiter());
        assert!(
            !state
                .transition_to_done(Ended::Panic, Ready::AfterCallbacks)
                .waker
        );
        assert!(state.load().is_panicked());
        assert!(state.transition_to_ready().waker);
    }

    #[test]
    fn rejected_is_ready() {
        let s = State::new_ready().load();
        assert!(s.is_done() && s.is_ready() && !s.is_cancelled());
    }
}
