//! The task allocation: the closure, then the outcome, the state word, the
//! callback list and the waker, in one heap block shared by the handle and
//! the scheduler.
//!
//! # Access rules
//!
//! 1. `func` is written at creation and taken exactly once, by whoever wins
//!    the state CAS out of PENDING: the claimer (`try_run`, to call it) or the
//!    canceller (`try_cancel`, to drop it).
//! 2. `outcome` is written exactly once, by that same winner, before any
//!    transition that could let another party read it (closing the callback
//!    list, the done transition, READY: all Release).
//! 3. While the task is not READY, `outcome` is read (shared) only by the
//!    callback runner of the moment (one at a time, see `callbacks.rs`).
//! 4. Once READY, the handle's owner may take `outcome` (`join`, `poll`);
//!    `&mut`/ownership of the handle excludes concurrent `on_done` readers.
//!
//! # Safety
//!
//! Each `UnsafeCell` access below cites the rule that makes it exclusive or
//! shared-only.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::callbacks::{self, Callbacks, Pushed};
use super::state::{Cancel, Claim, Ended, Park, Ready, Snapshot, State, Wake};
use super::waiters::Waiters;
use super::TaskError;
use crate::executor::{self, ExecutorId};
use crate::sync::futex::{self, WaitOutcome};
use crate::sync::spin::{spin_until, yield_until, SPIN_BUDGET};
use crate::sync::{Arc, AtomicWaker, Instant, UnsafeCell};
use crate::unwind;

/// The part of a task that does not depend on its closure type.
pub(crate) struct Core<T> {
    /// Lifecycle and flags; the futex word of blocking waiters.
    pub(crate) state: State,
    /// The pool that runs the task; a worker of it may run the task inline
    /// while waiting for it. `None` for tasks no pool runs (rejected ones).
    pub(crate) home: Option<ExecutorId>,
    /// The result; see the access rules.
    outcome: UnsafeCell<Option<Result<T, TaskError>>>,
    /// `on_done` callbacks.
    callbacks: Callbacks<T>,
    /// Waiters on several tasks at once (`wait`).
    pub(crate) waiters: Waiters,
    /// The waker of the handle's `.await`.
    waker: AtomicWaker,
}

/// What step 2 of `complete` published.
enum Published {
    /// Done and `READY` in one RMW: no callbacks; wake these.
    Ready(Wake),
    /// Done (`RAN`, or `CANCELLED`): wake these, run the callbacks, then
    /// `READY`.
    Done(Wake),
}

/// The whole allocation: the core, then the closure. `repr(C)` with the core
/// first: the allocation's address is the core's, so the scheduler's
/// type-erased reference knows the task's key without a virtual call.
#[repr(C)]
struct TaskCell<F, T> {
    core: Core<T>,
    /// The closure, until claimed or cancelled (access rule 1).
    func: UnsafeCell<Option<F>>,
}

/// What the handle needs: the typed core, and a way to run or cancel the
/// task without knowing its closure type.
pub(crate) trait TaskOps<T>: RunTask {
    /// The shared core.
    fn core(&self) -> &Core<T>;
}

/// What the scheduler needs: run or cancel, type-erased.
pub(crate) trait RunTask: Send + Sync {
    /// Claims the task and runs it to completion on this thread; `false` if
    /// it was not pending.
    fn try_run(&self) -> bool;
    /// Cancels the task if it is pending; `false` otherwise.
    fn try_cancel(&self) -> bool;
    /// Whether the task has not been claimed or cancelled yet (a hint).
    fn is_pending(&self) -> bool;
    /// The task's key: the address of its core (what its waiters wait on).
    /// (Only the loom build asks the cell; see `runner_key`.)
    #[cfg(loom)]
    fn key(&self) -> usize;
}

/// The handle's reference to the shared allocation.
///
/// One allocation serves both sides: std's `Arc` unsizes to each trait
/// object. loom's `Arc` cannot hold a `dyn` (nor be built from a shared std
/// `Arc`), so the loom build boxes the cell once more; the extra allocation
/// exists only there.
#[cfg(not(loom))]
pub(crate) type HandleRef<T> = Arc<dyn TaskOps<T>>;
/// The handle's reference to the shared allocation (loom build).
#[cfg(loom)]
pub(crate) type HandleRef<T> = Arc<Box<dyn TaskOps<T>>>;

/// The scheduler's reference to the shared allocation.
#[cfg(not(loom))]
pub(crate) type RunnerRef = Arc<dyn RunTask>;
/// The scheduler's reference to the shared allocation (loom build).
#[cfg(loom)]
pub(crate) type RunnerRef = Box<dyn RunTask>;

/// Creates a task for `f`: the typed core for the handle and the type-erased
/// runner for the scheduler, sharing one allocation.
pub(crate) fn new_task<F, T>(home: Option<ExecutorId>, f: F) -> (HandleRef<T>, RunnerRef)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let cell = TaskCell {
        core: Core::pending(home),
        func: UnsafeCell::new(Some(f)),
    };
    let (handle, runner) = share(cell);
    debug_assert_eq!(
        runner_key(&runner),
        handle.core().key(),
        "TaskCell is repr(C), core first"
    );
    (handle, runner)
}

/// The key of the task behind `runner`: its core's address (see
/// `TaskCell`).
#[cfg(not(loom))]
#[inline]
pub(crate) fn runner_key(runner: &RunnerRef) -> usize {
    Arc::as_ptr(runner).cast::<()>() as usize
}

/// The key of the task behind `runner` (loom build: the cell is boxed once
/// more, so ask it).
#[cfg(loom)]
pub(crate) fn runner_key(runner: &RunnerRef) -> usize {
    runner.key()
}

/// Splits `cell` into the handle's and the scheduler's references.
#[cfg(not(loom))]
fn share<T, C>(cell: C) -> (HandleRef<T>, RunnerRef)
where
    C: TaskOps<T> + 'static,
{
    let cell = Arc::new(cell);
    let runner: RunnerRef = cell.clone();
    (cell, runner)
}

/// Splits `cell` into the handle's and the scheduler's references.
#[cfg(loom)]
fn share<T, C>(cell: C) -> (HandleRef<T>, RunnerRef)
where
    T: Send + 'static,
    C: TaskOps<T> + 'static,
{
    /// The scheduler's side: a second loom `Arc` to the boxed cell.
    struct Runner<T>(HandleRef<T>);
    impl<T: Send> RunTask for Runner<T> {
        fn try_run(&self) -> bool {
            self.0.try_run()
        }
        fn try_cancel(&self) -> bool {
            self.0.try_cancel()
        }
        fn is_pending(&self) -> bool {
            self.0.is_pending()
        }
        fn key(&self) -> usize {
            self.0.key()
        }
    }
    let boxed: Box<dyn TaskOps<T>> = Box::new(cell);
    let handle = Arc::new(boxed);
    let runner: RunnerRef = Box::new(Runner(Arc::clone(&handle)));
    (handle, runner)
}

/// Creates a task that no closure runs: the caller claims it with
/// [`Core::claim`] and stores its outcome with [`Core::complete`] (the process
/// pool, whose work runs in another process). Returns two references to the
/// one allocation: the handle's and the promise's.
#[cfg(any(feature = "process", loom))]
pub(crate) fn new_promise<T: Send + 'static>() -> (HandleRef<T>, HandleRef<T>) {
    let cell = TaskCell {
        core: Core::pending(None),
        // No closure: `try_run` is never called on a promise (no home pool
        // runs it inline, and no `Runnable` exists); `try_cancel` finds None.
        func: UnsafeCell::new(None::<fn() -> T>),
    };
    let (handle, _runner) = share(cell);
    let completer = handle.clone();
    (handle, completer)
}

/// A core that is born done and `READY` with `outcome` (a rejected
/// submission).
pub(crate) fn ready_core<T: Send + 'static>(outcome: Result<T, TaskError>) -> HandleRef<T> {
    /// A task with no closure: it can be neither run nor cancelled.
    /// (`repr(C)`: its address is its core's, as for `TaskCell`.)
    #[repr(C)]
    struct BornReady<T>(Core<T>);
    impl<T: Send> RunTask for BornReady<T> {
        fn try_run(&self) -> bool {
            false
        }
        fn try_cancel(&self) -> bool {
            false
        }
        fn is_pending(&self) -> bool {
            false
        }
        #[cfg(loom)]
        fn key(&self) -> usize {
            self.0.key()
        }
    }
    impl<T: Send> TaskOps<T> for BornReady<T> {
        fn core(&self) -> &Core<T> {
            &self.0
        }
    }
    let (handle, _runner) = share(BornReady(Core {
        state: State::new_ready(),
        home: None,
        outcome: UnsafeCell::new(Some(outcome)),
        callbacks: Callbacks::new_closed(),
        waiters: Waiters::new(),
        waker: AtomicWaker::new(),
    }));
    handle
}

// SAFETY: the closure and outcome are moved between threads (F: Send,
// T: Send) and accessed by one party at a time per the access rules; the
// other fields are thread-safe.
unsafe impl<F: Send, T: Send> Send for TaskCell<F, T> {}
// SAFETY: `&TaskCell` gives access to `func` and `outcome` only through the
// access rules, which make writes exclusive and order them before reads.
// Shared reads of the outcome (callbacks) happen one runner at a time.
unsafe impl<F: Send, T: Send> Sync for TaskCell<F, T> {}
// SAFETY: as for `TaskCell`: the `Core` fields follow the same rules.
unsafe impl<T: Send> Send for Core<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Core<T> {}

impl<F, T> RunTask for TaskCell<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn try_run(&self) -> bool {
        if let Claim::NotPending = self.core.state.transition_to_running() {
            return false;
        }
        // SAFETY: access rule 1: the CAS out of PENDING made us the only
        // party that touches `func`.
        let f = self.func.with_mut(|func| unsafe { (*func).take() });
        let outcome = match f {
            Some(f) => catch_unwind(AssertUnwindSafe(f)).map_err(TaskError::panic),
            // Only a promise has no closure, and nothing runs a promise.
            None => Err(TaskError::abandoned()),
        };
        self.core.complete(outcome);
        true
    }

    fn try_cancel(&self) -> bool {
        let Cancel::Cancelled(wake) = self.core.state.transition_to_cancelled() else {
            return false;
        };
        self.core.wake(wake);
        // SAFETY: access rule 1: the CAS out of PENDING made us the only
        // party that touches `func`.
        let f = self.func.with_mut(|func| unsafe { (*func).take() });
        // The closure's captures are user values: their drop may panic.
        if let Err(payload) = unwind::drop_caught(f) {
            executor::report_panic(self.core.home, payload);
        }
        self.core.complete(Err(TaskError::cancelled()));
        true
    }

    fn is_pending(&self) -> bool {
        self.core.state.load_relaxed().is_pending()
    }

    #[cfg(loom)]
    fn key(&self) -> usize {
        self.core.key()
    }
}

impl<F, T> TaskOps<T> for TaskCell<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn core(&self) -> &Core<T> {
        &self.core
    }
}

impl<T> Core<T> {
    /// A pending core that `home` (if any) runs.
    fn pending(home: Option<ExecutorId>) -> Core<T> {
        Core {
            state: State::new_pending(),
            home,
            outcome: UnsafeCell::new(None),
            callbacks: Callbacks::new(),
            waiters: Waiters::new(),
            waker: AtomicWaker::new(),
        }
    }

    /// The task's key: the core's address, which the handle and the runner
    /// share (what a waiter on the task waits on; see `executor`).
    #[inline]
    pub(crate) fn key(&self) -> usize {
        self as *const Core<T> as usize
    }

    /// Claims a pending task (PENDING → RUNNING) for a caller that runs it by
    /// other means than its closure (the process pool); `false` if it was
    /// cancelled. The winner must call [`complete`](Self::complete) exactly
    /// once.
    #[cfg(any(feature = "process", loom))]
    pub(crate) fn claim(&self) -> bool {
        matches!(self.state.transition_to_running(), Claim::Claimed)
    }

    /// Gives a claimed task back unstarted (running → pending): it may be
    /// cancelled, or claimed again, and [`complete`](Self::complete) is then
    /// the next claimer's to call.
    #[cfg(any(feature = "process", loom))]
    pub(crate) fn unclaim(&self) {
        // mutant: unclaim-keeps-running del
        self.state.transition_to_pending();
    }

    /// Stores the outcome and runs the completion protocol: the done
    /// transition, callbacks, READY, wake-ups. Only the claimer or canceller calls it,
    /// once.
    pub(crate) fn complete(&self, outcome: Result<T, TaskError>) {
        let ended = match &outcome {
            Err(err) if err.is_panic() => Ended::Panic,
            _ => Ended::Value,
        };
        // mutant: outcome-after-done swap
        self.store_outcome(outcome);
        let published = self.publish(ended);
        match published {
            Published::Ready(wake) => self.wake(wake),
            Published::Done(wake) => {
                self.wake(wake);
                self.outcome.with(|slot| {
                    // SAFETY: access rule 3: we are the runner; the outcome
                    // is stored and nobody may take it before READY.
                    if let Some(outcome) = unsafe { (*slot).as_ref() } {
                        self.callbacks.drain(outcome, self.home);
                    }
                });
                let wake = self.state.transition_to_ready();
                self.wake(wake);
            }
        }
    }

    /// Step 1 of `complete`: stores the outcome.
    #[inline]
    fn store_outcome(&self, outcome: Result<T, TaskError>) {
        // SAFETY: access rule 2: only the winner of the PENDING CAS gets here,
        // once, and nothing reads the outcome before the Release steps that
        // follow in `complete`.
        self.outcome
            .with_mut(|slot| unsafe { *slot = Some(outcome) });
    }

    /// Step 2 of `complete`: makes the task done. With no callback ever
    /// added, closes the callback list and makes the task done and `READY`
    /// in one RMW (the common case: two atomic RMWs in all).
    #[inline]
    fn publish(&self, ended: Ended) -> Published {
        if self.callbacks.try_close_empty() {
            Published::Ready(self.state.transition_to_done(ended, Ready::Now))
        } else {
            Published::Done(self.state.transition_to_done(ended, Ready::AfterCallbacks))
        }
    }

    /// Wakes whom a transition says to wake. A user waker that panics is
    /// caught and reported: completion never unwinds into the completer.
    fn wake(&self, wake: Wake) {
        if wake.futex {
            futex::wake_all(self.state.futex_word());
        }
        // mutant: waiters-not-released s/wake.waiters/false/
        if wake.waiters {
            self.waiters.release();
        }
        if wake.waker {
            if let Err(payload) = unwind::catch(|| self.waker.wake()) {
                executor::report_panic(self.home, payload);
            }
        }
    }

    /// Blocks until `goal(state)` holds or `deadline` passes; returns
    /// whether it holds.
    pub(crate) fn wait_until(
        &self,
        goal: impl Fn(Snapshot) -> bool,
        deadline: Option<Instant>,
    ) -> bool {
        let state = self.state.load();
        if goal(state) {
            return true;
        }
        // If this thread just woke a sleeping worker for a task that is still
        // pending, the worker is likely headed for this very CPU: sleep at
        // once instead of spinning in its way.
        let just_woke = executor::take_woke_sleeper() && state.is_pending();
        // A task with no home pool is a promise: another process does its
        // work (process or MPI pool), and its worker may be queued behind
        // this thread on this CPU, so the spin gives the CPU away
        // (docs/benchmarks.md, "Process pool round trip").
        if !just_woke {
            let reached = || goal(self.state.load());
            let spun = if self.home.is_some() {
                spin_until(SPIN_BUDGET, deadline, reached)
            } else {
                yield_until(SPIN_BUDGET, deadline, reached)
            };
            if spun {
                return true;
            }
        }
        let mut seen = self.state.load();
        loop {
            if goal(seen) {
                return true;
            }
            if !seen.is_parked() {
                match self.state.transition_to_parked(seen) {
                    Park::Parked(parked) => seen = parked,
                    Park::Moved(actual) => {
                        seen = actual;
                        continue;
                    }
                }
            }
            // Sleep on the exact value carrying PARKED: any transition since
            // (which clears PARKED) makes this return at once. A worker is
            // marked blocked on this task meanwhile (for `shutdown`).
            let key = [self.key()];
            let slept = executor::blocked_on(&key, deadline.is_some(), || {
                futex::wait(self.state.futex_word(), seen.bits(), deadline)
            });
            match slept {
                WaitOutcome::TimedOut => return goal(self.state.load()),
                WaitOutcome::Woken => seen = self.state.load(),
            }
        }
    }

    /// Adds an `on_done` callback; runs it on this thread if the task is done
    /// and no other callback runs right now.
    pub(crate) fn on_done(&self, callback: callbacks::Callback<T>) {
        if let Pushed::RunNow(callback) = self.callbacks.push(callback) {
            // The list is closed only after the outcome is stored, but the
            // completer's done transition may still be a few instructions
            // away: wait for it, so the callback sees the task as done.
            while !self.state.load().is_done() {
                crate::sync::thread::yield_now();
            }
            self.outcome.with(|slot| {
                // SAFETY: access rule 3: we became the runner; the outcome was
                // stored before the list was closed (Release/Acquire on `head`).
                let outcome = unsafe { (*slot).as_ref() }
                    .expect("on_done after the outcome was taken (checked by the handle)");
                callbacks::run_one(callback, outcome, self.home);
                self.callbacks.drain(outcome, self.home);
            });
        }
    }

    /// Registers the handle's waker (for `poll`).
    pub(crate) fn register_waker(&self, waker: &std::task::Waker) {
        self.waker.register(waker);
    }

    /// Drops the registered waker, if any (a handle dropped mid-`.await`).
    pub(crate) fn forget_waker(&self) {
        drop(self.waker.take());
    }

    /// Takes the outcome.
    ///
    /// # Safety
    ///
    /// The task must be READY (observed with Acquire), and the caller must
    /// own the handle exclusively (access rule 4).
    pub(crate) unsafe fn take_outcome(&self) -> Result<T, TaskError> {
        // SAFETY: the caller guarantees rule 4: no runner and no other taker.
        self.outcome
            .with_mut(|slot| unsafe { (*slot).take() })
            .expect("the outcome is taken only once")
    }
}
