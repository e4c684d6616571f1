//! The implicit global pool and the free functions that use it.
//!
//! Called on a worker of some pool, the free functions use that pool;
//! elsewhere they use a global pool with the default number of threads,
//! built on first use and never shut down (like rayon's).

use crate::pool::entry::in_any_worker;
use crate::pool::ThreadPool;
use crate::sync::OnceLock;
use crate::task::Task;

/// The global pool, built on first use.
fn global() -> &'static ThreadPool {
    static GLOBAL: OnceLock<ThreadPool> = OnceLock::new();
    GLOBAL.get_or_init(|| {
        ThreadPool::builder()
            .build()
            .unwrap_or_else(|err| panic!("stealpool: cannot start the global pool: {err}"))
    })
}

/// Runs `f` on the current pool (the caller's, if it is a worker; else the
/// global pool) and returns its [`Task`].
///
/// # Examples
///
/// ```
/// let task = stealpool::submit(|| 40 + 2);
/// assert_eq!(task.join().unwrap(), 42);
/// ```
pub fn submit<F, T>(f: F) -> Task<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    ThreadPool::with_current(|pool| match pool {
        Some(pool) => pool.submit(f),
        None => global().submit(f),
    })
}

/// Runs `f` on the current pool (the caller's, if it is a worker; else the
/// global pool), fire-and-forget.
///
/// # Panics
///
/// Called on a worker of a pool that is shut down, only if that worker is
/// not draining it (see [`ThreadPool::spawn`]).
///
/// # Examples
///
/// ```
/// let (tx, rx) = std::sync::mpsc::channel();
/// stealpool::spawn(move || tx.send(1).unwrap());
/// assert_eq!(rx.recv().unwrap(), 1);
/// ```
pub fn spawn<F>(f: F)
where
    F: FnOnce() + Send + 'static,
{
    ThreadPool::with_current(|pool| match pool {
        Some(pool) => pool.spawn(f),
        None => global().spawn(f),
    });
}

/// Runs `a` and `b`, potentially in parallel, on the current pool (the
/// caller's, if it is a worker; else the global pool), and returns both
/// results. See [`ThreadPool::join`].
///
/// # Examples
///
/// ```
/// fn fib(n: u32) -> u64 {
///     if n < 2 {
///         return n as u64;
///     }
///     let (a, b) = stealpool::join(|| fib(n - 1), || fib(n - 2));
///     a + b
/// }
/// assert_eq!(fib(20), 6765);
/// ```
#[inline]
pub fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    in_any_worker(global, |worker| {
        crate::forkjoin::join_on(worker, |_| a(), |_| b())
    })
}

/// Runs `f` on the current pool (the caller's, if it is a worker; else the
/// global pool), handing it the worker that runs it. See
/// [`ThreadPool::with_worker`] and [`Worker::join`](crate::Worker::join).
///
/// # Examples
///
/// ```
/// let (a, b) = stealpool::with_worker(|worker| worker.join(|_| "a", |_| "b"));
/// assert_eq!((a, b), ("a", "b"));
/// ```
pub fn with_worker<F, R>(f: F) -> R
where
    F: FnOnce(crate::Worker<'_>) -> R + Send,
    R: Send,
{
    in_any_worker(global, |worker| f(crate::Worker::new(worker)))
}

/// Creates a [`Scope`](crate::Scope) on the current pool (the caller's, if it
/// is a worker; else the global pool), runs `f` in it, and returns once every
/// closure spawned in it has finished. See [`ThreadPool::scope`].
///
/// # Examples
///
/// ```
/// let words = ["a", "bb", "ccc"];
/// let mut lengths = [0; 3];
/// stealpool::scope(|s| {
///     for (word, len) in words.iter().zip(lengths.iter_mut()) {
///         s.spawn(move || *len = word.len());
///     }
/// });
/// assert_eq!(lengths, [1, 2, 3]);
/// ```
pub fn scope<'env, F, R>(f: F) -> R
where
    F: for<'scope> FnOnce(&'scope crate::Scope<'scope, 'env>) -> R + Send,
    R: Send,
{
    in_any_worker(global, |worker| crate::forkjoin::scope_on(worker, f))
}

/// The index of the calling thread in its pool, if it is a pool worker.
///
/// # Examples
///
/// ```
/// assert_eq!(stealpool::current_thread_index(), None);
/// let index = stealpool::submit(stealpool::current_thread_index).join().unwrap();
/// assert!(index.is_some());
/// ```
pub fn current_thread_index() -> Option<usize> {
    crate::pool::worker::WorkerThread::with_current(|worker| worker.map(|worker| worker.index))
}
