//! Entry points for the loom models in `loom-tests/` (only under
//! `cfg(loom)`; outside semver).
//!
//! The models drive internal protocols that the public API reaches only
//! through a pool: the task slot without a scheduler, and the latch.

use crate::latch::{self, SetLatch};
use crate::sync::Arc;
use crate::task::{self, Runnable};
use crate::{executor::ExecutorId, Task};

/// The scheduler's side of a task made by [`task`].
#[derive(Debug)]
pub struct Runner(Runnable);

impl Runner {
    /// Runs the task unless it was claimed or cancelled.
    pub fn run(self) {
        self.0.run();
    }

    /// Cancels the task unless it was claimed.
    pub fn cancel(self) {
        self.0.cancel();
    }
}

/// A pending task for `f`, and its runner, with no pool behind them.
pub fn task<F, T>(f: F) -> (Task<T>, Runner)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (task, runnable) = task::new_task(ExecutorId::next(), f);
    (task, Runner(runnable))
}

/// The completer side of a task made by [`promise`] (the process pool's).
#[derive(Debug)]
pub struct Completer<T: Send + 'static>(task::Promise<T>);

impl<T: Send + 'static> Completer<T> {
    /// Claims the task and, if that succeeded, completes it with `value`;
    /// returns whether it did (the task was not cancelled first).
    pub fn claim_and_complete(self, value: T) -> bool {
        if !self.0.claim() {
            return false;
        }
        self.0.complete(Ok(value));
        true
    }

    /// Claims the task and drops the completer unfinished (a slot thread
    /// that stopped mid-task); returns whether the claim succeeded.
    pub fn claim_and_abandon(self) -> bool {
        self.0.claim()
    }
}

/// A pending task that no closure runs, and its completer.
pub fn promise<T: Send + 'static>() -> (Task<T>, Completer<T>) {
    let (task, promise) = task::promise();
    (task, Completer(promise))
}

/// A shareable one-shot latch whose owner is a thread outside the pools.
#[derive(Debug)]
pub struct Latch(latch::LockLatch);

impl Latch {
    /// An unset latch in an `Arc`.
    pub fn new() -> Arc<Latch> {
        Arc::new(Latch(latch::LockLatch::new()))
    }

    /// Sets it (the setter touches it only through the releasing swap).
    pub fn set(&self) {
        // SAFETY: `&self` keeps the latch alive for the call.
        unsafe { SetLatch::set(&self.0 as *const latch::LockLatch) }
    }

    /// Blocks until set.
    pub fn wait(&self) {
        self.0.wait();
    }

    /// Whether it is set.
    pub fn probe(&self) -> bool {
        self.0.core().probe()
    }
}
