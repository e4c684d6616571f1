//! [`Map`]: the results of a pool's `map`, in input order. It needs only
//! [`Task`], so both pools return it.

use std::collections::VecDeque;
use std::fmt;
use std::iter::FusedIterator;

use crate::task::{Task, TaskError};

/// An iterator over the outcomes of [`ThreadPool::map`](crate::ThreadPool::map)
/// (or `ProcessPool::map`), in input order.
///
/// Every item was submitted when `map` was called (Python's `Executor.map`);
/// iterating only collects the outcomes, blocking for each in turn. A failed
/// item yields its `Err` and iteration goes on. Dropping the `Map` early
/// cancels the items that have not started (running ones finish).
///
/// # Examples
///
/// ```
/// let pool = stealpool::ThreadPool::new(2).unwrap();
/// let squares: Vec<u64> = pool.map(1..=4_u64, |x| x * x).map(Result::unwrap).collect();
/// assert_eq!(squares, [1, 4, 9, 16]);
/// ```
#[must_use = "dropping a Map cancels the items that have not started"]
pub struct Map<R> {
    /// The items' tasks, in input order; the front is the next to yield.
    tasks: VecDeque<Task<R>>,
}

impl<R: Send + 'static> Map<R> {
    /// Wraps the tasks of a `map` call.
    pub(crate) fn new(tasks: VecDeque<Task<R>>) -> Self {
        Map { tasks }
    }
}

impl<R: Send + 'static> Iterator for Map<R> {
    type Item = Result<R, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.tasks.pop_front().map(Task::join)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.tasks.len(), Some(self.tasks.len()))
    }
}

impl<R: Send + 'static> ExactSizeIterator for Map<R> {}
impl<R: Send + 'static> FusedIterator for Map<R> {}

impl<R> Drop for Map<R> {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.cancel_erased();
        }
    }
}

impl<R> fmt::Debug for Map<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("remaining", &self.tasks.len())
            .finish()
    }
}
