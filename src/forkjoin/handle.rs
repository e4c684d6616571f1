//! [`Worker`]: a handle to the pool worker that runs the current closure,
//! passed from call to call (context passing, as chili's `Scope`), so that a
//! recursive `join` finds its worker in a register instead of a thread-local.

use std::fmt;

use super::join_on;
use crate::pool::worker::WorkerThread;
use crate::pool::ThreadPool;

/// A handle to the pool worker that runs the current closure: what
/// [`ThreadPool::with_worker`], [`with_worker`](crate::with_worker) and
/// [`Worker::join`] hand to their closures.
///
/// [`Worker::join`] is [`join`](crate::join) with the worker passed in
/// instead of looked up: the free `join` asks the thread-local "which worker
/// is this?" once per call, `Worker::join` never does (a thief looks itself
/// up once, when it runs a stolen half). For recursive code whose leaves are
/// tiny (a `join` per node of a tree, no cutoff) that lookup is a sizeable
/// part of the cost of a `join`; otherwise the two are the same, and the free
/// `join` is simpler to call.
///
/// A `Worker` is tied to its thread: it is neither `Send` nor `Sync`, and
/// each closure gets the handle of the worker that runs it (`b` may run on
/// another worker than `a`). It cannot outlive the closure it was handed to.
///
/// ```compile_fail
/// // A handle cannot move to another thread.
/// let pool = stealpool::ThreadPool::new(1).unwrap();
/// pool.with_worker(|worker| std::thread::scope(|s| {
///     s.spawn(move || worker.index());
/// }));
/// ```
///
/// # Examples
///
/// ```
/// use stealpool::Worker;
///
/// fn fib(worker: Worker<'_>, n: u32) -> u64 {
///     if n < 2 {
///         return u64::from(n);
///     }
///     let (a, b) = worker.join(|w| fib(w, n - 1), |w| fib(w, n - 2));
///     a + b
/// }
///
/// let pool = stealpool::ThreadPool::new(2).unwrap();
/// assert_eq!(pool.with_worker(|worker| fib(worker, 20)), 6765);
/// ```
#[derive(Clone, Copy)]
pub struct Worker<'w> {
    thread: &'w WorkerThread,
}

impl<'w> Worker<'w> {
    #[inline]
    pub(crate) fn new(thread: &'w WorkerThread) -> Worker<'w> {
        Worker { thread }
    }

    /// This worker's index in its pool (`0..num_threads`), as
    /// [`current_thread_index`](crate::current_thread_index) would say.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPool::new(2).unwrap();
    /// let index = pool.with_worker(|worker| worker.index());
    /// assert!(index < 2);
    /// ```
    #[inline]
    pub fn index(self) -> usize {
        self.thread.index
    }

    /// Runs `a` and `b`, potentially in parallel, and returns both results:
    /// [`ThreadPool::join`] on this worker, with no thread-local lookup.
    /// Each closure is handed the worker that runs it: this one for `a` (and
    /// for `b` when nobody took it), the thief for a stolen `b`.
    ///
    /// Everything [`ThreadPool::join`] says holds here: `b` lives on this
    /// stack (no allocation), is shared lazily, and `join` never returns, by
    /// value or by unwinding, before both closures have finished.
    ///
    /// # Panics
    ///
    /// A panic in `a` or `b` is resumed here after both have finished (if
    /// both panic, `a`'s).
    ///
    /// # Examples
    ///
    /// ```
    /// use stealpool::Worker;
    ///
    /// fn sum(worker: Worker<'_>, v: &[u64]) -> u64 {
    ///     if v.len() <= 1024 {
    ///         return v.iter().sum();
    ///     }
    ///     let (left, right) = v.split_at(v.len() / 2);
    ///     let (a, b) = worker.join(|w| sum(w, left), |w| sum(w, right));
    ///     a + b
    /// }
    ///
    /// let v: Vec<u64> = (1..=100_000).collect();
    /// let total = stealpool::with_worker(|worker| sum(worker, &v));
    /// assert_eq!(total, 5_000_050_000);
    /// ```
    #[inline]
    pub fn join<A, B, RA, RB>(self, a: A, b: B) -> (RA, RB)
    where
        A: FnOnce(Worker<'_>) -> RA + Send,
        B: FnOnce(Worker<'_>) -> RB + Send,
        RA: Send,
        RB: Send,
    {
        join_on(
            self.thread,
            |thread| a(Worker::new(thread)),
            |thread| b(Worker::new(thread)),
        )
    }
}

impl fmt::Debug for Worker<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("index", &self.thread.index)
            .finish_non_exhaustive()
    }
}

impl ThreadPool {
    /// Runs `f` on a worker of this pool, handing it that worker, and
    /// returns its result: [`install`](ThreadPool::install) for code that
    /// passes the worker along to [`Worker::join`].
    ///
    /// # Panics
    ///
    /// A panic in `f` is resumed here. Called from outside a shut-down pool,
    /// panics.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPool::new(2).unwrap();
    /// let (a, b) = pool.with_worker(|worker| worker.join(|_| 1, |_| 2));
    /// assert_eq!((a, b), (1, 2));
    /// ```
    pub fn with_worker<F, R>(&self, f: F) -> R
    where
        F: FnOnce(Worker<'_>) -> R + Send,
        R: Send,
    {
        self.shared().in_worker(|thread| f(Worker::new(thread)))
    }
}
