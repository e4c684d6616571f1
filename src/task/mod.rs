//! [`Task<T>`]: the completion handle of a submitted closure — Python's
//! `concurrent.futures.Future`, in one allocation with one atomic state word.
//!
//! The protocol (state word, callback list, who may touch the outcome when)
//! is written up in `src/task/README.md`; the access rules are repeated in
//! `cell.rs` where the code relies on them.

mod callbacks;
mod cell;
mod error;
#[cfg(any(feature = "process", loom))]
mod promise;
mod state;
mod waiters;

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use self::cell::{Core, HandleRef, RunnerRef};
pub(crate) use self::error::panic_message;
pub use self::error::TaskError;
#[cfg(any(feature = "process", loom))]
pub(crate) use self::promise::{promise, Promise};
use crate::event::Event;
use crate::executor::{self, ExecutorId};
use crate::sync::Instant;

/// The handle of a submitted task: wait for it, poll it, cancel it, attach
/// callbacks, or `.await` it.
///
/// Returned by [`ThreadPool::submit`](crate::ThreadPool::submit) and the free
/// function [`submit`](crate::submit). A task is *pending* until a worker
/// claims it, then *running*, then *done* — or, if [`cancel`](Task::cancel)
/// wins while it is still pending, *cancelled* (which is done too). The
/// outcome is `Ok(value)` or a [`TaskError`] (the closure panicked, the task
/// was cancelled, or the pool had shut down and rejected it).
///
/// - **Blocking:** [`wait`](Task::wait), [`wait_timeout`](Task::wait_timeout),
///   [`join`](Task::join) (which takes the outcome). They spin briefly and then
///   sleep on a futex inside the task's own allocation: waiting allocates
///   nothing.
/// - **Polling:** [`is_done`](Task::is_done), [`is_running`](Task::is_running),
///   [`is_cancelled`](Task::is_cancelled).
/// - **Callbacks:** [`on_done`](Task::on_done), run exactly once each, in the
///   order added, after the outcome is set.
/// - **Async:** `Task<T>` is a [`Future`] with output `Result<T, TaskError>`,
///   for any executor.
///
/// Waiting on a worker thread never deadlocks the pool: if the task has not
/// started, the waiting worker claims it and runs it inline — so a task that
/// submits to its own pool and waits works even on a one-thread pool.
///
/// Dropping a `Task` detaches it: the work still runs and nothing leaks.
///
/// `Task<T>` is `Send` when `T: Send`, `Sync` when `T: Send + Sync`, and
/// `Unpin`.
///
/// # Memory ordering
///
/// Everything the task's closure did happens-before the return of any wait
/// that observes the task done, the run of each callback, and the outcome
/// handed out by `join` or `.await`; everything each callback did
/// happens-before `join`/`.await` returns.
///
/// # Examples
///
/// ```
/// use stealpool::ThreadPool;
///
/// let pool = ThreadPool::new(2).unwrap();
/// let task = pool.submit(|| 6 * 7);
/// task.on_done(|outcome| println!("done: {outcome:?}"));
/// assert_eq!(task.join().unwrap(), 42);
/// ```
#[must_use = "dropping a Task detaches it: the work runs, but its outcome is lost"]
#[doc(alias = "Future", alias = "JoinHandle")]
pub struct Task<T> {
    /// The shared allocation.
    cell: HandleRef<T>,
    /// `Task<T>` owns a `T` to come: no auto traits from the trait object.
    _marker: PhantomData<*const T>,
}

// SAFETY: the handle moves a future `T` between threads: `T: Send` suffices;
// the shared cell is thread-safe by its access rules.
unsafe impl<T: Send> Send for Task<T> {}
// SAFETY: `&Task<T>` lets several threads run `on_done` callbacks that read
// `&Result<T, _>` (one at a time, on different threads): `T: Sync` is
// required for that, and `T: Send` for the rest.
unsafe impl<T: Send + Sync> Sync for Task<T> {}
impl<T> Unpin for Task<T> {}
// A panic in user code (the closure, a callback) is caught before the task's
// state is touched, and the state machine itself does not panic midway: a
// handle seen across a caught panic is consistent.
impl<T> std::panic::UnwindSafe for Task<T> {}
impl<T> std::panic::RefUnwindSafe for Task<T> {}

/// The scheduler's side of a task: run it or cancel it. Dropping it
/// unrun cancels the task, so no task is ever silently lost.
pub(crate) struct Runnable(RunnerRef);

impl Runnable {
    /// Runs the task on this thread, unless it was claimed or cancelled.
    ///
    /// The closure's panic is the task's outcome. But with the handle gone,
    /// dropping this last reference drops the outcome, a user value whose
    /// `Drop` may panic: that panic propagates, and the caller catches it
    /// (a worker's `execute` does, and reports it to the pool's handler, so
    /// the worker lives on).
    pub(crate) fn run(self) {
        self.0.try_run();
    }

    /// Cancels the task, unless it was claimed already. May unwind from the
    /// drop of the last reference, as [`run`](Self::run).
    pub(crate) fn cancel(self) {
        self.0.try_cancel();
    }

    /// The task's key (what its waiters wait on): the address of its core,
    /// which is the address of the allocation (`TaskCell` is `repr(C)`, core
    /// first), read without a virtual call.
    #[inline]
    pub(crate) fn key(&self) -> usize {
        cell::runner_key(&self.0)
    }
}

impl Drop for Runnable {
    fn drop(&mut self) {
        if self.0.is_pending() {
            self.0.try_cancel();
        }
    }
}

impl fmt::Debug for Runnable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runnable")
            .field("pending", &self.0.is_pending())
            .finish()
    }
}

/// Creates a pending task that `home` will run.
pub(crate) fn new_task<F, T>(home: ExecutorId, f: F) -> (Task<T>, Runnable)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (cell, runner) = cell::new_task(Some(home), f);
    (Task::from_cell(cell), Runnable(runner))
}

impl<T: Send + 'static> Task<T> {
    fn from_cell(cell: HandleRef<T>) -> Task<T> {
        Task {
            cell,
            _marker: PhantomData,
        }
    }

    /// A task that is already done, with a rejection error.
    pub(crate) fn rejected() -> Task<T> {
        Task::from_cell(cell::ready_core(Err(TaskError::rejected())))
    }

    fn core(&self) -> &Core<T> {
        self.cell.core()
    }

    /// Whether the task is done because its closure panicked.
    pub(crate) fn is_panicked(&self) -> bool {
        self.core().state.load().is_panicked()
    }

    /// On a worker of the task's pool, claims and runs the task inline if it
    /// has not started; `true` if it did.
    pub(crate) fn run_inline_if_pending(&self) -> bool {
        match self.core().home {
            Some(home) if executor::is_worker_of(home) && self.cell.is_pending() => {
                executor::running(self.key(), || self.cell.try_run())
            }
            _ => false,
        }
    }

    /// The task's key: what a worker waiting on it is marked blocked on.
    pub(crate) fn key(&self) -> usize {
        self.core().key()
    }

    /// Registers `event` to be set when the task is done (for `wait` on
    /// several tasks); see `waiters.rs`.
    pub(crate) fn register_waiter(&self, event: &Event) {
        self.core().waiters.register(&self.core().state, event);
    }

    /// Removes `event` if it is still registered.
    pub(crate) fn unregister_waiter(&self, event: &Event) {
        self.core().waiters.unregister(event);
    }

    /// How many waiters are registered on the task (for the loom models).
    #[cfg(loom)]
    pub(crate) fn registered_waiters(&self) -> usize {
        self.core().waiters.len()
    }

    /// Returns `true` once the task is done: it ran (to a value or a
    /// panic), was cancelled, or was rejected. Never blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPool::new(1).unwrap();
    /// let task = pool.submit(|| 1);
    /// task.wait();
    /// assert!(task.is_done());
    /// ```
    #[doc(alias = "done", alias = "is_finished")]
    pub fn is_done(&self) -> bool {
        self.core().state.load().is_done()
    }

    /// Returns `true` while a worker (or an inline waiter) runs the closure.
    ///
    /// # Examples
    ///
    /// ```
    /// use stealpool::{Event, ThreadPool};
    /// use std::sync::Arc;
    ///
    /// let pool = ThreadPool::new(1).unwrap();
    /// let (started, release) = (Arc::new(Event::new()), Arc::new(Event::new()));
    /// let task = pool.submit({
    ///     let (started, release) = (started.clone(), release.clone());
    ///     move || { started.set(); release.wait(); }
    /// });
    /// started.wait();
    /// assert!(task.is_running());
    /// release.set();
    /// task.join().unwrap();
    /// ```
    #[doc(alias = "running")]
    pub fn is_running(&self) -> bool {
        self.core().state.load().is_running()
    }

    /// Returns `true` if the task was cancelled before it started.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = stealpool::ThreadPool::new(1).unwrap();
    /// let busy = pool.submit(|| std::thread::sleep(Duration::from_millis(50)));
    /// let queued = pool.submit(|| ());
    /// queued.cancel();
    /// assert!(queued.is_cancelled() && queued.is_done());
    /// busy.join().unwrap();
    /// ```
    #[doc(alias = "cancelled")]
    pub fn is_cancelled(&self) -> bool {
        self.core().state.load().is_cancelled()
    }

    /// Cancels the task if it has not started.
    ///
    /// Returns `true` if the task is now cancelled (also if it already was):
    /// its closure will never run, waiters are released, and its callbacks
    /// run (on this thread) with a cancelled [`TaskError`]. Returns `false`
    /// if the task is running or done: running work is never interrupted.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = stealpool::ThreadPool::new(1).unwrap();
    /// let busy = pool.submit(|| std::thread::sleep(Duration::from_millis(50)));
    /// let queued = pool.submit(|| "never runs");
    /// assert!(queued.cancel());
    /// assert!(queued.cancel(), "cancelling twice still reports cancelled");
    /// assert!(queued.join().unwrap_err().is_cancelled());
    /// busy.join().unwrap();
    /// ```
    #[doc(alias = "abort")]
    pub fn cancel(&self) -> bool {
        self.cell.try_cancel() || self.is_cancelled()
    }

    /// Blocks until the task is done.
    ///
    /// On a worker thread of the task's own pool, a task that has not started
    /// is claimed and run inline instead of waited for.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPool::new(1).unwrap();
    /// let task = pool.submit(|| 1 + 1);
    /// task.wait();
    /// assert!(task.is_done());
    /// ```
    pub fn wait(&self) {
        if self.run_inline_if_pending() {
            return;
        }
        self.core().wait_until(|s| s.is_done(), None);
    }

    /// Blocks until the task is done or `timeout` passes; returns whether it
    /// is done.
    ///
    /// A zero timeout never sleeps. Any `Duration` is accepted (one too large
    /// for the clock waits without limit). On a worker of the task's pool a
    /// pending task is run inline, however long that takes.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = stealpool::ThreadPool::new(1).unwrap();
    /// let slow = pool.submit(|| std::thread::sleep(Duration::from_millis(200)));
    /// assert!(!slow.wait_timeout(Duration::from_millis(10)));
    /// assert!(slow.wait_timeout(Duration::from_secs(10)));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        if self.run_inline_if_pending() {
            return true;
        }
        let deadline = Instant::now().checked_add(timeout);
        if timeout.is_zero() {
            return self.is_done();
        }
        self.core().wait_until(|s| s.is_done(), deadline)
    }

    /// Blocks until the task is done and its callbacks have run, then returns
    /// its outcome.
    ///
    /// # Errors
    ///
    /// A [`TaskError`] if the closure panicked, the task was cancelled, or it
    /// was rejected by a shut-down pool.
    ///
    /// # Panics
    ///
    /// If `.await` already took the outcome.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPool::new(2).unwrap();
    /// let task = pool.submit(|| "hello".to_uppercase());
    /// assert_eq!(task.join().unwrap(), "HELLO");
    /// ```
    #[doc(alias = "result", alias = "exception")]
    pub fn join(self) -> Result<T, TaskError> {
        self.run_inline_if_pending();
        let core = self.core();
        core.wait_until(|s| s.is_ready(), None);
        assert!(
            !core.state.load().is_taken(),
            "Task::join: the outcome was already taken by `.await`"
        );
        // SAFETY: READY was observed (Acquire, in `wait_until`), and we own
        // the handle by value: no callback runner and no other taker exists.
        unsafe { core.take_outcome() }
    }

    /// Adds a callback that runs once with the outcome when the task is done.
    ///
    /// Callbacks run exactly once each, in the order they were added, on the
    /// thread that completes (or cancels) the task, after the task reads as
    /// done — a callback may call `is_done` or `wait` on its own task. Added
    /// after completion, a callback runs at once on the calling thread (or,
    /// if another callback of this task is running at that moment, right
    /// after it on that thread: callbacks of one task never run
    /// concurrently). A panicking callback is caught and reported to the
    /// pool's panic handler; the other callbacks still run.
    ///
    /// # Panics
    ///
    /// If `.await` already took the outcome.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// let pool = stealpool::ThreadPool::new(1).unwrap();
    /// let (tx, rx) = mpsc::channel();
    /// let task = pool.submit(|| 21 * 2);
    /// task.on_done(move |outcome| tx.send(*outcome.as_ref().unwrap()).unwrap());
    /// assert_eq!(rx.recv().unwrap(), 42);
    /// ```
    #[doc(alias = "add_done_callback")]
    pub fn on_done<F>(&self, f: F)
    where
        F: FnOnce(&Result<T, TaskError>) + Send + 'static,
    {
        assert!(
            !self.core().state.load().is_taken(),
            "Task::on_done: the outcome was already taken by `.await`"
        );
        self.core().on_done(Box::new(f));
    }
}

impl<T: Send + 'static> Future for Task<T> {
    type Output = Result<T, TaskError>;

    /// Ready with the outcome once the task is done and its callbacks have
    /// run. Waking is exact: the completer wakes the most recently registered
    /// waker once; polling from several executors in turn is fine.
    ///
    /// # Panics
    ///
    /// If polled again after it returned `Ready`.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let core = self.core();
        let mut state = core.state.load();
        assert!(!state.is_taken(), "Task polled after it returned Ready");
        if !state.is_ready() {
            if !state.has_awaiter() {
                state = core.state.mark_awaiter();
            }
            if !state.is_ready() {
                core.register_waker(cx.waker());
                // Re-check after registering: a completion before the
                // registration did not see our waker.
                if !core.state.load().is_ready() {
                    return Poll::Pending;
                }
            }
        }
        core.state.mark_taken();
        // SAFETY: READY was observed with Acquire; `Pin<&mut Self>` gives
        // exclusive use of the handle (access rule 4); TAKEN stops a second take.
        Poll::Ready(unsafe { core.take_outcome() })
    }
}

impl<T> Task<T> {
    /// Cancels the task if pending, without `T: Send + 'static` bounds (for
    /// `Drop` impls generic over `T`).
    pub(crate) fn cancel_erased(&self) {
        self.cell.try_cancel();
    }
}

impl<T> Drop for Task<T> {
    /// Detaches the task. A `.await` that registered a waker and never saw the
    /// task become `READY` leaves it behind: drop it now, so a dropped future keeps
    /// nothing of its executor alive.
    fn drop(&mut self) {
        let core = self.cell.core();
        let state = core.state.load_relaxed();
        if state.has_awaiter() && !state.is_ready() {
            core.forget_waker();
        }
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.cell.core().state.load();
        f.debug_struct("Task")
            .field("state", &state.name())
            .finish()
    }
}
