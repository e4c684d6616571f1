//! [`ThreadPool`]: a work-stealing pool with Python's `ThreadPoolExecutor`
//! API on top.
//!
//! The scheduler (queues, the one way in, the worker loop, deferred pushes,
//! the sleep/wake protocol and the shutdown protocol) is written up in
//! `src/pool/README.md`. Fork-join (`join`, `scope`) is the floor above, in
//! `src/forkjoin/`, built on this module's crate-internal seam: `in_worker`,
//! `StackJob`, `SpinLatch`, `Deferred`, and `WorkerThread`'s `push`,
//! `pop_local`, `execute` and `wait_until`.

mod builder;
pub(crate) mod deferred;
pub(crate) mod entry;
pub(crate) mod job;
pub(crate) mod lanes;
pub(crate) mod latch;
pub(crate) mod queue;
pub(crate) mod shared;
mod shutdown;
pub(crate) mod sleep;
mod stats;
pub(crate) mod worker;

use std::collections::VecDeque;
use std::fmt;

pub use self::builder::ThreadPoolBuilder;
use self::job::Job;
use self::shared::Shared;
pub use self::stats::PoolStats;
use self::worker::WorkerThread;
use crate::build_error::BuildError;
use crate::combinators::Map;
use crate::sync::Arc;
use crate::task::{self, Task};

/// A pool of worker threads that run submitted closures, with work
/// stealing: Python's `concurrent.futures.ThreadPoolExecutor`, done the Rust
/// way.
///
/// Each worker owns a deque (LIFO for its own pushes; siblings steal from
/// the other end); submissions from outside the pool go to a queue of the
/// submitting thread's own (its lane), from which workers steal in batches.
/// Idle workers spin briefly, then sleep on a futex and burn no
/// CPU; a new job wakes at most one of them, and only when no awake worker
/// is looking for work.
///
/// - [`submit`](ThreadPool::submit) runs a closure and returns its [`Task`]
///   handle (asynchronous submission).
/// - [`install`](ThreadPool::install) runs a closure on a worker and blocks
///   until it returns (synchronous submission); it may borrow.
/// - [`spawn`](ThreadPool::spawn) is fire-and-forget.
/// - [`map`](ThreadPool::map) submits one task per item and yields the
///   outcomes in input order.
/// - [`shutdown`](ThreadPool::shutdown) finishes the queued work and joins the
///   workers; [`shutdown_now`](ThreadPool::shutdown_now) cancels what has not
///   started. Dropping the pool is `shutdown()`.
///
/// A panic in a job never kills a worker: a task keeps it as its
/// [`TaskError`](crate::TaskError), a spawned job hands it to the panic
/// handler.
///
/// `ThreadPool` is `Send + Sync` but not `Clone`: share it by reference or
/// in an `Arc`.
///
/// # Examples
///
/// ```
/// use stealpool::ThreadPool;
///
/// let pool = ThreadPool::new(4).unwrap();
/// let tasks: Vec<_> = (0..8_u64).map(|i| pool.submit(move || i * i)).collect();
/// let total: u64 = tasks.into_iter().map(|t| t.join().unwrap()).sum();
/// assert_eq!(total, 140);
/// ```
#[doc(alias = "ThreadPoolExecutor", alias = "Executor")]
pub struct ThreadPool {
    shared: Arc<Shared>,
}

impl ThreadPool {
    /// A pool of `num_threads` workers with default settings.
    ///
    /// # Errors
    ///
    /// [`BuildError`] if `num_threads` is 0 or a thread cannot be started.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPool::new(2).unwrap();
    /// assert_eq!(pool.num_threads(), 2);
    /// assert!(stealpool::ThreadPool::new(0).is_err());
    /// ```
    pub fn new(num_threads: usize) -> Result<ThreadPool, BuildError> {
        ThreadPoolBuilder::new().num_threads(num_threads).build()
    }

    /// A builder for a pool with custom settings.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPool::builder().num_threads(2).build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder::new()
    }

    /// Runs `f` on the pool and returns its [`Task`] at once.
    ///
    /// Called on a worker of this pool, the task goes to that worker's own
    /// deque; otherwise to the calling thread's own queue into the pool,
    /// which workers steal from. After
    /// [`shutdown`](ThreadPool::shutdown) this does not panic: the returned
    /// task is already done with a [`TaskError`](crate::TaskError) whose
    /// `is_rejected()` is true.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPool::new(2).unwrap();
    /// let task = pool.submit(|| (1..=10).sum::<u32>());
    /// assert_eq!(task.join().unwrap(), 55);
    /// ```
    pub fn submit<F, T>(&self, f: F) -> Task<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        submit_on(&self.shared, f)
    }

    /// Runs `f` on the pool, fire-and-forget.
    ///
    /// A panic in `f` goes to the pool's
    /// [`panic_handler`](ThreadPoolBuilder::panic_handler).
    ///
    /// # Panics
    ///
    /// If the pool is shut down and the caller is not one of its workers.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// let pool = stealpool::ThreadPool::new(2).unwrap();
    /// let (tx, rx) = mpsc::channel();
    /// pool.spawn(move || tx.send("hello from the pool").unwrap());
    /// assert_eq!(rx.recv().unwrap(), "hello from the pool");
    /// ```
    pub fn spawn<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        spawn_on(&self.shared, f);
    }

    /// Runs `f` on a worker of this pool and blocks until it returns
    /// (synchronous submission). `f` may borrow from the caller's stack.
    ///
    /// Called on a worker of this pool, `f` simply runs on the spot. A panic
    /// in `f` is resumed on the caller.
    ///
    /// # Panics
    ///
    /// If `f` panics, or if the pool is shut down and the caller is not one
    /// of its workers.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPool::new(2).unwrap();
    /// let data = vec![1, 2, 3];
    /// let sum = pool.install(|| data.iter().sum::<i32>()); // borrows `data`
    /// assert_eq!(sum, 6);
    /// ```
    pub fn install<F, R>(&self, f: F) -> R
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        self.shared.in_worker(|_| f())
    }

    /// Submits `f(item)` for every item at once and returns an iterator over
    /// the outcomes in input order (Python's `Executor.map`).
    ///
    /// Each outcome is a `Result`: a panicking item yields its `Err` and
    /// iteration continues. Dropping the [`Map`] early cancels the items that
    /// have not started.
    ///
    /// # Panics
    ///
    /// If the pool is shut down and the caller is not one of its workers.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPool::new(2).unwrap();
    /// let lengths: Vec<_> = pool
    ///     .map(["a", "bb", "ccc"], |s| s.len())
    ///     .collect::<Result<_, _>>()
    ///     .unwrap();
    /// assert_eq!(lengths, [1, 2, 3]);
    /// ```
    pub fn map<I, F, R>(&self, items: I, f: F) -> Map<R>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> R + Send + Sync + 'static,
        R: Send + 'static,
    {
        let f = Arc::new(f);
        let mut tasks = VecDeque::new();
        for item in items {
            let f = Arc::clone(&f);
            let (task, runnable) = task::new_task(self.shared.id, move || f(item));
            if let Err(shared::Rejected(job)) = push_or_inject(&self.shared, Job::Task(runnable)) {
                drop(job);
                // Cancel what was queued before the pool closed.
                drop(Map::new(tasks));
                panic!("ThreadPool::map: the pool is shut down");
            }
            tasks.push_back(task);
        }
        Map::new(tasks)
    }

    /// The number of worker threads.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(stealpool::ThreadPool::new(3).unwrap().num_threads(), 3);
    /// ```
    #[doc(alias = "max_workers")]
    pub fn num_threads(&self) -> usize {
        self.shared.num_threads()
    }

    /// The index of the calling thread in this pool, if it is one of its
    /// workers (see also the free function
    /// [`current_thread_index`](crate::current_thread_index)).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPool::new(2).unwrap();
    /// assert_eq!(pool.current_thread_index(), None);
    /// let index = pool.install(|| pool.current_thread_index());
    /// assert!(matches!(index, Some(0 | 1)));
    /// ```
    pub fn current_thread_index(&self) -> Option<usize> {
        WorkerThread::with_current_of(&self.shared, |w| w.map(|w| w.index))
    }

    /// The name of worker `index`, if it exists.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPool::new(2).unwrap();
    /// assert_eq!(pool.thread_name(1), Some("stealpool-worker-1"));
    /// assert_eq!(pool.thread_name(2), None);
    /// ```
    pub fn thread_name(&self, index: usize) -> Option<&str> {
        self.shared.names.get(index).map(String::as_str)
    }

    /// A cheap snapshot of what the pool is doing.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPool::new(2).unwrap();
    /// pool.submit(|| ()).join().unwrap();
    /// let stats = pool.stats();
    /// assert_eq!(stats.threads, 2);
    /// assert!(stats.completed <= 1); // counted just after the job returns
    /// ```
    pub fn stats(&self) -> PoolStats {
        self.shared.stats()
    }

    /// Stops taking new work, lets every queued and running task finish, and
    /// joins the workers (Python's `shutdown(wait=True)`).
    ///
    /// Afterwards `submit` returns rejected tasks; `spawn`, `install`,
    /// `join`, `scope` and `map` from outside the pool panic (on a worker of
    /// the pool, while it drains, they keep working). Idempotent.
    ///
    /// Callable from any thread, by any number of threads at once, workers
    /// included (a task, an `on_done` callback, the `Drop` of the last
    /// `Arc<ThreadPool>`): no caller ever waits for another caller, nor for
    /// work that waits on a caller. Precisely, it returns once nothing is
    /// queued and every worker has exited, except workers that wait —
    /// directly or through a chain of waits — on work that only a caller of
    /// `shutdown` can finish:
    ///
    /// - **Called from a worker of this pool**, it cannot wait for the
    ///   caller's own task: that worker helps run what is queued, the call
    ///   returns once everything else has finished and the other workers
    ///   have exited, and the worker exits after its current task. Even on a
    ///   one-thread pool, every other queued task is done when it returns.
    /// - **Called from a job that another worker waits on** (a `join` half, a
    ///   `scope`'s job, a task that someone `join`s or `wait`s for; Python
    ///   raises an error here), it does not wait for that worker — it could
    ///   only deadlock: it returns, the caller's job goes on, and the waiting
    ///   worker finishes (and exits) after it.
    /// - **Several callers at once** do not wait for each other: a worker
    ///   blocked inside its own `shutdown` call is not waited for.
    ///
    /// The threads that have exited are joined; a worker still running its
    /// task (the caller's own, or one that waits on a caller) is joined by a
    /// later `shutdown` or drop of the pool, or runs to its end detached.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let pool = stealpool::ThreadPool::new(2).unwrap();
    /// let done = Arc::new(AtomicUsize::new(0));
    /// for _ in 0..50 {
    ///     let done = Arc::clone(&done);
    ///     pool.spawn(move || { done.fetch_add(1, Ordering::SeqCst); });
    /// }
    /// pool.shutdown();
    /// assert_eq!(done.load(Ordering::SeqCst), 50);
    /// assert!(pool.submit(|| ()).join().unwrap_err().is_rejected());
    /// ```
    pub fn shutdown(&self) {
        self.shutdown_inner(false);
    }

    /// Like [`shutdown`](ThreadPool::shutdown), but first cancels every
    /// queued task that has not started (Python's
    /// `shutdown(cancel_futures=True)`): their `Task`s complete with a
    /// cancelled error and their callbacks run. Queued `spawn` jobs are
    /// dropped unrun; work that a caller blocked in `install` waits on still
    /// runs.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = stealpool::ThreadPool::new(1).unwrap();
    /// let running = pool.submit(|| std::thread::sleep(Duration::from_millis(100)));
    /// let queued: Vec<_> = (0..10).map(|_| pool.submit(|| ())).collect();
    /// # while !running.is_running() { std::thread::yield_now(); }
    /// pool.shutdown_now();
    /// assert!(running.join().is_ok());
    /// assert!(queued.into_iter().all(|t| t.join().unwrap_err().is_cancelled()));
    /// ```
    #[doc(alias = "cancel_futures", alias = "shutdownNow")]
    pub fn shutdown_now(&self) {
        self.shutdown_inner(true);
    }

    fn shutdown_inner(&self, now: bool) {
        self.shared.shutdown(now);
    }

    /// The pool's shared state (for the fork-join floor).
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Calls `f` with the pool of the calling worker thread, if any.
    pub(crate) fn with_current<R>(f: impl FnOnce(Option<PoolRef<'_>>) -> R) -> R {
        WorkerThread::with_current(|worker| f(worker.map(|worker| PoolRef(&worker.shared))))
    }
}

/// `submit` on `shared` (see [`ThreadPool::submit`]).
fn submit_on<F, T>(shared: &Shared, f: F) -> Task<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if shared.is_shut_down() {
        return Task::rejected();
    }
    let (task, runnable) = task::new_task(shared.id, f);
    match push_or_inject(shared, Job::Task(runnable)) {
        Ok(()) => task,
        Err(shared::Rejected(job)) => {
            // The pool closed meanwhile; dropping the job cancels the task
            // nobody will see, and the caller gets a rejected one.
            drop(job);
            Task::rejected()
        }
    }
}

/// `spawn` on `shared` (see [`ThreadPool::spawn`]).
fn spawn_on<F>(shared: &Shared, f: F)
where
    F: FnOnce() + Send + 'static,
{
    if push_or_inject(shared, Job::Spawn(Box::new(f))).is_err() {
        panic!("ThreadPool::spawn: the pool is shut down");
    }
}

/// Pushes `job` to the calling worker's deque if it is a worker of
/// `shared` (which works while the pool drains), else injects it.
fn push_or_inject(shared: &Shared, job: Job) -> Result<(), shared::Rejected> {
    WorkerThread::with_current_of(shared, |worker| match worker {
        Some(worker) => {
            worker.push(job);
            Ok(())
        }
        None => shared.inject(job),
    })
}

/// A borrowed view of the pool a worker belongs to.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PoolRef<'a>(&'a Shared);

impl PoolRef<'_> {
    /// As [`ThreadPool::submit`], on this pool.
    pub(crate) fn submit<F, T>(self, f: F) -> Task<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        submit_on(self.0, f)
    }

    /// As [`ThreadPool::spawn`], on this pool.
    pub(crate) fn spawn<F>(self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        spawn_on(self.0, f);
    }
}

// A panic never leaves the pool's state half-updated: user code runs only
// inside `catch_unwind` boundaries, after or before the pool's own updates.
// So a pool observed across a caught panic is as good as before.
impl std::panic::UnwindSafe for ThreadPool {}
impl std::panic::RefUnwindSafe for ThreadPool {}

impl Drop for ThreadPool {
    /// `shutdown()`: finishes the queued work and joins the workers.
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("num_threads", &self.num_threads())
            .field("shut_down", &self.shared.is_shut_down())
            .finish()
    }
}
