//! Entry points for the loom models in `loom-tests/` (only under
//! `cfg(loom)`; outside semver).
//!
//! The models drive internal protocols that the public API reaches only
//! through a pool: the task slot without a scheduler, and the latch.

use crate::latch;
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

/// A shareable one-shot latch.
#[derive(Debug)]
pub struct Latch(latch::Latch);

impl Latch {
    /// An unset latch in an `Arc`.
    pub fn new() -> Arc<Latch> {
        Arc::new(Latch(latch::Latch::new()))
    }

    /// Sets it (the setter touches it only through the releasing swap).
    pub fn set(&self) {
        // SAFETY: `&self` keeps the latch alive for the call.
        unsafe { latch::Latch::set(&self.0) }
    }

    /// Blocks until set.
    pub fn wait(&self) {
        self.0.wait();
    }

    /// Whether it is set.
    pub fn probe(&self) -> bool {
        self.0.probe()
    }
}
