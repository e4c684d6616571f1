//! Many tasks at once: [`wait`] and [`as_completed`], Python's
//! `concurrent.futures.wait` and `as_completed`, and [`Map`], the in-order
//! results of either pool's `map`.
//!
//! Neither polls nor sleeps for a fixed time: the caller sleeps on an
//! [`Event`] that each task signals as it completes. [`wait`] registers its
//! event in each pending task's waiter list and removes it before it returns,
//! timed out or not, so a caller that polls leaves nothing behind on the
//! tasks, however often it repeats. [`as_completed`] owns its tasks and gives
//! each one `on_done` callback. On a worker of a task's pool, a task that has
//! not started is claimed and run inline instead of waited for, as
//! [`Task::wait`] does; a worker that sleeps here is marked blocked on the
//! tasks (so `shutdown` can tell whether it waits on a caller).

use std::collections::VecDeque;
use std::fmt;
use std::iter::FusedIterator;
use std::time::Duration;
// The caller's clock: a deadline is a point in real time. (Under loom, whose
// clock never moves, only untimed iteration is modelled.)
use std::time::Instant as StdInstant;

use crate::event::Event;
use crate::executor;
use crate::sync::{Arc, Instant, Mutex};
use crate::task::{Task, TaskError};

mod map;
pub use map::Map;

/// When [`wait`] returns (Python's `return_when`).
///
/// # Examples
///
/// ```
/// use stealpool::{wait, Event, ThreadPool, WaitFor};
///
/// static GATE: Event = Event::new();
/// let pool = ThreadPool::new(2).unwrap();
/// let tasks = vec![
///     pool.submit(|| {
///         GATE.wait(); // runs until the gate opens
///         1
///     }),
///     pool.submit(|| -> i32 { panic!("boom") }),
/// ];
/// // `FirstPanic` returns once a task has panicked, while the other still runs.
/// let result = wait(&tasks, WaitFor::FirstPanic, None);
/// assert_eq!((result.done, result.pending), (vec![1], vec![0]));
///
/// GATE.set();
/// // `AllCompleted` waits for the rest.
/// let result = wait(&tasks, WaitFor::AllCompleted, None);
/// assert_eq!((result.done, result.pending), (vec![0, 1], vec![]));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[doc(alias = "return_when")]
pub enum WaitFor {
    /// As soon as any task is done (`FIRST_COMPLETED`).
    #[doc(alias = "FIRST_COMPLETED")]
    FirstCompleted,
    /// As soon as any task ended in a panic; else when all are done
    /// (`FIRST_EXCEPTION`).
    #[doc(alias = "FIRST_EXCEPTION")]
    FirstPanic,
    /// When every task is done (`ALL_COMPLETED`).
    #[doc(alias = "ALL_COMPLETED")]
    AllCompleted,
}

/// What [`wait`] found: indices into its slice, each in exactly one list,
/// in ascending order.
///
/// # Examples
///
/// Take the finished tasks' results and keep waiting on the rest:
///
/// ```
/// use std::time::Duration;
/// use stealpool::{wait, Event, ThreadPool, WaitFor, WaitResult};
///
/// static GATE: Event = Event::new();
/// let pool = ThreadPool::new(2).unwrap();
/// let mut tasks: Vec<_> = (0..3)
///     .map(|i| {
///         pool.submit(move || {
///             if i == 1 {
///                 GATE.wait(); // task 1 runs until the gate opens
///             }
///             i * 10
///         })
///     })
///     .collect();
/// tasks[0].wait();
/// tasks[2].wait();
///
/// let WaitResult { done, pending } =
///     wait(&tasks, WaitFor::AllCompleted, Some(Duration::from_millis(10)));
/// assert_eq!((&done[..], &pending[..]), (&[0, 2][..], &[1][..]));
///
/// // Indices stay valid while `tasks` is unchanged: remove from the back.
/// let mut results: Vec<i32> = done
///     .iter()
///     .rev()
///     .map(|&i| tasks.remove(i).join().unwrap())
///     .collect();
/// results.reverse();
/// assert_eq!(results, [0, 20]);
///
/// GATE.set();
/// assert_eq!(tasks.pop().unwrap().join().unwrap(), 10);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WaitResult {
    /// The tasks that were done (finished, panicked, cancelled or rejected).
    pub done: Vec<usize>,
    /// The tasks that were still pending or running.
    pub pending: Vec<usize>,
}

/// Blocks until `until` holds for `tasks`, or `timeout` passes; returns
/// which tasks are done and which are still pending.
///
/// A cancelled task counts as done at once (also when `shutdown_now`
/// cancelled it). An empty slice returns at once with both lists empty. A
/// timeout never makes it fail: the lists say where things stand. `None`
/// waits without limit.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use stealpool::{wait, ThreadPool, WaitFor};
///
/// let pool = ThreadPool::new(2).unwrap();
/// let tasks = vec![
///     pool.submit(|| 1),
///     pool.submit(|| { std::thread::sleep(Duration::from_secs(2)); 2 }),
/// ];
/// let result = wait(&tasks, WaitFor::FirstCompleted, Some(Duration::from_secs(1)));
/// assert_eq!(result.done, [0]);
/// assert_eq!(result.pending, [1]);
/// ```
pub fn wait<T: Send + 'static>(
    tasks: &[Task<T>],
    until: WaitFor,
    timeout: Option<Duration>,
) -> WaitResult {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let met = || condition_met(tasks, until);
    if !tasks.is_empty() && !met() {
        // On a worker of the tasks' pool: run pending ones inline first.
        for task in tasks {
            task.run_inline_if_pending();
            if met() {
                break;
            }
        }
        if !met() && timeout != Some(Duration::ZERO) {
            wait_registered(tasks, &met, deadline, timeout.is_none());
        }
    }
    let mut result = WaitResult::default();
    for (index, task) in tasks.iter().enumerate() {
        if task.is_done() {
            result.done.push(index);
        } else {
            result.pending.push(index);
        }
    }
    result
}

/// The sleeping part of [`wait`]: registers one event in every pending
/// task's waiter list, sleeps on it until `met()` or the deadline, then
/// removes it from every list it is still in.
fn wait_registered<T: Send + 'static>(
    tasks: &[Task<T>],
    met: &impl Fn() -> bool,
    deadline: Option<Instant>,
    forever: bool,
) {
    let changed = Event::new();
    let registered: Vec<&Task<T>> = tasks.iter().filter(|task| !task.is_done()).collect();
    for task in &registered {
        task.register_waiter(&changed);
    }
    let mut keys = Vec::with_capacity(registered.len());
    loop {
        // Clear, then check: a completion after the check sets the event
        // again, so the wait below sees it.
        changed.clear();
        if met() {
            break;
        }
        keys.clear();
        keys.extend(tasks.iter().filter(|t| !t.is_done()).map(Task::key));
        let released = executor::blocked_on(&keys, !forever, || match deadline {
            None if forever => {
                changed.wait();
                true
            }
            None => changed.wait_timeout(Duration::MAX),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                !left.is_zero() && changed.wait_timeout(left)
            }
        });
        if !released {
            break;
        }
    }
    for task in registered {
        // mutant: waiter-not-removed del
        task.unregister_waiter(&changed);
    }
}

/// Whether `until` holds for `tasks` now.
fn condition_met<T: Send + 'static>(tasks: &[Task<T>], until: WaitFor) -> bool {
    match until {
        WaitFor::FirstCompleted => tasks.iter().any(Task::is_done),
        WaitFor::FirstPanic => {
            tasks.iter().any(Task::is_panicked) || tasks.iter().all(Task::is_done)
        }
        WaitFor::AllCompleted => tasks.iter().all(Task::is_done),
    }
}

/// Yields each task's outcome as it completes: `(input_index, outcome)`, in
/// completion order, each task exactly once (Python's `as_completed`).
///
/// Tasks already done come first, in input order. The iterator owns the
/// tasks; it signals through the tasks' callback lists and sleeps between
/// completions (no polling).
///
/// For fail-fast, call [`cancel_pending`](AsCompleted::cancel_pending) on
/// the first error: every task that has not started is cancelled, and
/// yielded at once with a cancelled error. For Python's `timeout=`, give
/// the iteration a [`deadline`](AsCompleted::deadline).
///
/// Dropping the iterator early **detaches** the tasks it has not yielded,
/// as dropping a [`Task`] does: they still run. (Dropping a
/// [`Map`] cancels its items instead, since `map` submitted them itself;
/// here the caller did.) To stop them, call `cancel_pending` first.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use stealpool::{as_completed, ThreadPool};
///
/// let pool = ThreadPool::new(2).unwrap();
/// let tasks = vec![
///     pool.submit(|| { std::thread::sleep(Duration::from_millis(200)); "slow" }),
///     pool.submit(|| "fast"),
/// ];
/// let order: Vec<_> = as_completed(tasks).map(|(i, r)| (i, r.unwrap())).collect();
/// assert_eq!(order, [(1, "fast"), (0, "slow")]);
/// ```
#[doc(alias = "FuturesUnordered")]
pub fn as_completed<T, I>(tasks: I) -> AsCompleted<T>
where
    T: Send + 'static,
    I: IntoIterator<Item = Task<T>>,
{
    let shared = Arc::new(Completions {
        ready: Mutex::new(VecDeque::new()),
        signal: Event::new(),
    });
    let tasks: Vec<Option<Task<T>>> = tasks.into_iter().map(Some).collect();
    for (index, task) in tasks.iter().enumerate() {
        let shared = Arc::clone(&shared);
        task.as_ref().expect("just wrapped").on_done(move |_| {
            shared.ready.lock().push_back(index);
            shared.signal.set();
        });
    }
    AsCompleted {
        remaining: tasks.len(),
        tasks,
        shared,
        deadline: None,
    }
}

/// Completions reported by the tasks' callbacks.
struct Completions {
    /// Indices of completed tasks, in completion order.
    ready: Mutex<VecDeque<usize>>,
    /// Set after each push.
    signal: Event,
}

/// The iterator returned by [`as_completed`]: `(input_index, outcome)` as
/// each task completes. [`cancel_pending`](AsCompleted::cancel_pending)
/// stops what has not started, [`deadline`](AsCompleted::deadline) bounds
/// the whole iteration, and dropping it detaches the tasks not yet yielded.
///
/// # Examples
///
/// ```
/// use stealpool::{as_completed, ThreadPool};
///
/// let pool = ThreadPool::new(2).unwrap();
/// let tasks: Vec<_> = ["a", "bb", "ccc"]
///     .into_iter()
///     .map(|word| pool.submit(move || word.len()))
///     .collect();
/// let mut done = as_completed(tasks);
/// assert_eq!(done.len(), 3);
/// let mut lengths: Vec<(usize, usize)> = done.by_ref().map(|(i, r)| (i, r.unwrap())).collect();
/// lengths.sort_unstable();
/// assert_eq!(lengths, [(0, 1), (1, 2), (2, 3)]);
/// assert_eq!(done.remaining(), 0);
/// ```
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct AsCompleted<T> {
    /// The tasks not yet yielded, by input index.
    tasks: Vec<Option<Task<T>>>,
    /// How many are left to yield.
    remaining: usize,
    /// Filled by the tasks' callbacks.
    shared: Arc<Completions>,
    /// Past it, every task not yet done is yielded with a timeout error.
    deadline: Option<StdInstant>,
}

impl<T: Send + 'static> AsCompleted<T> {
    /// The number of tasks not yet yielded.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPool::new(1).unwrap();
    /// let mut done = stealpool::as_completed(vec![pool.submit(|| 1), pool.submit(|| 2)]);
    /// assert_eq!(done.remaining(), 2);
    /// done.next();
    /// assert_eq!(done.remaining(), 1);
    /// ```
    pub fn remaining(&self) -> usize {
        self.remaining
    }

    /// Cancels every task of the set that has not started; returns how many
    /// it cancelled. They are still yielded, each with a cancelled
    /// [`TaskError`], and come next (they are done). Running tasks finish.
    /// The fail-fast pattern: on the first error, cancel the rest.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use stealpool::{as_completed, Event, ThreadPool};
    ///
    /// let pool = ThreadPool::new(1).unwrap();
    /// let gate = Arc::new(Event::new());
    /// let mut tasks = vec![pool.submit(|| Err("the first file is missing"))];
    /// for _ in 0..100 {
    ///     let gate = Arc::clone(&gate);
    ///     tasks.push(pool.submit(move || Ok(gate.wait())));
    /// }
    /// let mut results = as_completed(tasks);
    /// let (mut cancelled, mut failed) = (0, 0);
    /// while let Some((_, outcome)) = results.next() {
    ///     match outcome {
    ///         Ok(Err(_)) => {
    ///             failed += 1;
    ///             cancelled += results.cancel_pending(); // fail fast
    ///             gate.set();
    ///         }
    ///         Ok(Ok(())) => {}
    ///         Err(err) => assert!(err.is_cancelled()),
    ///     }
    /// }
    /// assert_eq!(failed, 1);
    /// // The one worker started at most one of the hundred before the cancel.
    /// assert!(cancelled >= 99);
    /// ```
    #[doc(alias = "cancel_futures")]
    pub fn cancel_pending(&mut self) -> usize {
        self.tasks
            .iter()
            .flatten()
            .filter(|task| !task.is_done() && task.cancel())
            .count()
    }

    /// A deadline for the whole iteration (Python's `as_completed(fs,
    /// timeout)`): once `at` passes, every task not yet done is yielded at
    /// once, in input order, with a [`TaskError`] whose
    /// [`is_timeout`](TaskError::is_timeout) is true, and is left running
    /// (detached; call [`cancel_pending`](Self::cancel_pending) first to
    /// stop the ones that have not started). Tasks done in time are yielded
    /// as usual.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use stealpool::{as_completed, ThreadPool};
    ///
    /// let pool = ThreadPool::new(2).unwrap();
    /// let tasks = vec![
    ///     pool.submit(|| std::thread::sleep(Duration::from_secs(2))),
    ///     pool.submit(|| ()),
    /// ];
    /// let at = Instant::now() + Duration::from_millis(100);
    /// let outcomes: Vec<_> = as_completed(tasks).deadline(at).collect();
    /// assert!(outcomes[0].1.is_ok()); // the quick one, in time
    /// assert!(outcomes[1].1.as_ref().unwrap_err().is_timeout());
    /// ```
    #[doc(alias = "timeout")]
    pub fn deadline(mut self, at: StdInstant) -> AsCompleted<T> {
        self.deadline = Some(at);
        self
    }

    /// Takes the first task not yet yielded (by input index), as timed out.
    fn time_out_next(&mut self) -> Option<(usize, Result<T, TaskError>)> {
        let (index, slot) = self
            .tasks
            .iter_mut()
            .enumerate()
            .find(|(_, task)| task.is_some())?;
        // Dropped: detached, it runs on.
        drop(slot.take());
        self.remaining -= 1;
        Some((
            index,
            Err(TaskError::timeout(
                "it was not done by the as_completed deadline (left running)",
            )),
        ))
    }
}

impl<T: Send + 'static> Iterator for AsCompleted<T> {
    type Item = (usize, Result<T, TaskError>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        loop {
            // Clear, then look: a completion after the look sets it again.
            self.shared.signal.clear();
            let next = loop {
                let Some(index) = self.shared.ready.lock().pop_front() else {
                    break None;
                };
                // A task timed out earlier (and dropped) still reports in.
                if self.tasks[index].is_some() {
                    break Some(index);
                }
            };
            if let Some(index) = next {
                let task = self.tasks[index].take().expect("checked above");
                self.remaining -= 1;
                return Some((index, task.join()));
            }
            let left = match self.deadline {
                Some(deadline) => match deadline.checked_duration_since(StdInstant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return self.time_out_next(),
                },
                None => None,
            };
            // On a worker of the tasks' pool: run a pending one inline.
            let seated = executor::has_seat();
            if !(seated && self.tasks.iter().flatten().any(Task::run_inline_if_pending)) {
                // Only a thread with a seat records what it waits on (for
                // `shutdown`); anyone else sleeps without building the list.
                let keys: Vec<usize> = if seated {
                    self.tasks.iter().flatten().map(Task::key).collect()
                } else {
                    Vec::new()
                };
                let signal = &self.shared.signal;
                executor::blocked_on(&keys, left.is_some(), || match left {
                    Some(left) => {
                        signal.wait_timeout(left);
                    }
                    None => signal.wait(),
                });
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<T: Send + 'static> ExactSizeIterator for AsCompleted<T> {}
impl<T: Send + 'static> FusedIterator for AsCompleted<T> {}

impl<T> fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.remaining)
            .finish()
    }
}
