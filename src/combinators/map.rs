//! [`Map`]: the results of a pool's `map`, in input order. It needs only
//! [`Task`], so both pools return it.

use std::collections::VecDeque;
use std::fmt;
use std::iter::FusedIterator;
// The caller's clock: a deadline is a point in real time.
use std::time::Instant as StdInstant;

use crate::task::{Task, TaskError};

/// An iterator over the outcomes of [`ThreadPool::map`](crate::ThreadPool::map)
/// (or `ProcessPool::map`), in input order.
///
/// Every item was submitted when `map` was called (Python's `Executor.map`);
/// iterating only collects the outcomes, blocking for each in turn. A failed
/// item yields its `Err` and iteration goes on. Dropping the `Map` early
/// cancels the items that have not started (running ones finish). With a
/// [`deadline`](Map::deadline), items not done in time yield a timeout
/// error (Python's `map(.., timeout=)`).
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
    /// Past it, each item not yet done yields a timeout error.
    deadline: Option<StdInstant>,
}

impl<R: Send + 'static> Map<R> {
    /// Wraps the tasks of a `map` call.
    pub(crate) fn new(tasks: VecDeque<Task<R>>) -> Self {
        Map {
            tasks,
            deadline: None,
        }
    }

    /// A deadline for the whole iteration (Python's `Executor.map(..,
    /// timeout=)`, as a point in time): once `at` passes, each item not yet
    /// done yields a [`TaskError`] whose
    /// [`is_timeout`](TaskError::is_timeout) is true, and iteration goes
    /// on. Such an item is cancelled if it had not started; a running one is
    /// left to finish (detached). Items done in time yield their outcomes.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let pool = stealpool::ThreadPool::new(2).unwrap();
    /// let at = Instant::now() + Duration::from_millis(100);
    /// let naps = [0, 500];
    /// let out: Vec<_> = pool
    ///     .map(naps, |ms| std::thread::sleep(Duration::from_millis(ms)))
    ///     .deadline(at)
    ///     .collect();
    /// assert!(out[0].is_ok());
    /// assert!(out[1].as_ref().unwrap_err().is_timeout());
    /// ```
    #[doc(alias = "timeout")]
    pub fn deadline(mut self, at: StdInstant) -> Map<R> {
        self.deadline = Some(at);
        self
    }
}

impl<R: Send + 'static> Iterator for Map<R> {
    type Item = Result<R, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        let task = self.tasks.pop_front()?;
        let Some(at) = self.deadline else {
            return Some(task.join());
        };
        let left = at.saturating_duration_since(StdInstant::now());
        // Past the deadline, only look (a wait might run it inline).
        let done = if left.is_zero() {
            task.is_done()
        } else {
            task.wait_timeout(left)
        };
        if done {
            return Some(task.join());
        }
        task.cancel();
        Some(Err(TaskError::timeout(
            "it was not done by the map deadline (cancelled if it had not started, \
             else left running)",
        )))
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
