//! [`Promise`]: a task that no closure runs, completed from outside (the
//! process pool, whose work runs in another process). Compiled only with
//! the `process` feature, and for the loom models: the thread pool runs
//! closures, never promises.

use std::fmt;

use super::cell::{new_promise, HandleRef};
use super::{Task, TaskError};
use crate::{executor, unwind};

/// Creates a pending task that no pool runs, and its promise: whoever
/// holds the [`Promise`] claims the task and stores its outcome (the process
/// pool, which runs the work in a child process).
pub(crate) fn promise<T: Send + 'static>() -> (Task<T>, Promise<T>) {
    let (handle, promised) = new_promise();
    (
        Task::from_cell(handle),
        Promise {
            cell: Some(promised),
        },
    )
}

/// The completing side of a task made by [`promise`]: [`claim`](Promise::claim)
/// it (pending → running; fails if the handle cancelled it), then
/// [`complete`](Promise::complete) it. Dropped unclaimed, it cancels the
/// task; dropped claimed but not completed, it fails the task with
/// `abandoned`'s error, so no waiter ever hangs.
pub(crate) struct Promise<T: Send + 'static> {
    /// `None` once completed.
    cell: Option<HandleRef<T>>,
}

impl<T: Send + 'static> Promise<T> {
    /// Claims the task; `false` if it was cancelled (then drop the promise).
    pub(crate) fn claim(&self) -> bool {
        self.cell.as_ref().is_some_and(|cell| cell.core().claim())
    }

    /// Gives the claimed task back unstarted (running → pending), as if it
    /// had never been claimed: it may be cancelled again, and is cancelled
    /// if the promise is dropped now.
    pub(crate) fn unclaim(&self) {
        if let Some(cell) = &self.cell {
            cell.core().unclaim();
        }
    }

    /// Completes a claimed task with `outcome`.
    pub(crate) fn complete(mut self, outcome: Result<T, TaskError>) {
        if let Some(cell) = self.cell.take() {
            debug_assert!(
                cell.core().state.load().is_running(),
                "complete before claim"
            );
            cell.core().complete(outcome);
            release(cell);
        }
    }
}

impl<T: Send + 'static> Drop for Promise<T> {
    fn drop(&mut self) {
        let Some(cell) = self.cell.take() else {
            return;
        };
        if !cell.try_cancel() && cell.core().state.load().is_running() {
            cell.core().complete(Err(TaskError::abandoned()));
        }
        release(cell);
    }
}

/// Drops a promise's reference to a task: with the handle gone, that drops
/// the outcome, a user value whose `Drop` may panic; the panic is caught and
/// reported (to the task's pool, if it has one), so the completing thread
/// (a process pool's supervisor thread) lives on.
fn release<T: Send + 'static>(cell: HandleRef<T>) {
    let home = cell.core().home;
    if let Err(payload) = unwind::drop_caught(cell) {
        executor::report_panic(home, payload);
    }
}

impl<T: Send + 'static> fmt::Debug for Promise<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Promise")
            .field("completed", &self.cell.is_none())
            .finish()
    }
}
