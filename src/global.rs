//! The implicit global pool and the free functions that use it.
//!
//! Called on a worker of some pool, the free functions use that pool;
//! elsewhere they use a global pool, built on first use (or by
//! [`ThreadPoolBuilder::build_global`]) and never shut down (like rayon's).
//! Its default size is `STEALPOOL_NUM_THREADS` if that is a positive
//! integer, else `available_parallelism()`.

use crate::build_error::BuildError;
use crate::pool::entry::in_any_worker;
use crate::pool::worker::WorkerThread;
use crate::pool::{ThreadPool, ThreadPoolBuilder};
use crate::sync::OnceLock;
use crate::task::Task;

/// The environment variable that sizes the global pool (as rayon's
/// `RAYON_NUM_THREADS`).
const NUM_THREADS_VAR: &str = "STEALPOOL_NUM_THREADS";

/// The global pool, once built.
static GLOBAL: OnceLock<ThreadPool> = OnceLock::new();

/// The global pool, built on first use.
fn global() -> &'static ThreadPool {
    GLOBAL.get_or_init(|| {
        global_builder(ThreadPoolBuilder::new())
            .build()
            .unwrap_or_else(|err| panic!("stealpool: cannot start the global pool: {err}"))
    })
}

/// `builder`, sized by `STEALPOOL_NUM_THREADS` unless it sets its own size.
fn global_builder(builder: ThreadPoolBuilder) -> ThreadPoolBuilder {
    if builder.has_num_threads() {
        return builder;
    }
    match env_num_threads() {
        Some(n) => builder.num_threads(n),
        None => builder,
    }
}

/// `STEALPOOL_NUM_THREADS`, if it is a positive integer (anything else is
/// ignored, as rayon ignores a bad `RAYON_NUM_THREADS`).
fn env_num_threads() -> Option<usize> {
    parse_num_threads(&std::env::var(NUM_THREADS_VAR).ok()?)
}

/// A positive integer, blanks around it allowed; `None` for anything else.
fn parse_num_threads(value: &str) -> Option<usize> {
    value.trim().parse::<usize>().ok().filter(|&n| n > 0)
}

impl ThreadPoolBuilder {
    /// Builds the global pool with this configuration, before anything uses
    /// it (rayon's `build_global`). Without
    /// [`num_threads`](Self::num_threads), its size is
    /// `STEALPOOL_NUM_THREADS` if that is a positive integer, else
    /// `available_parallelism()`.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] if the global pool already exists (a free function
    /// such as [`submit`] or [`join`] built it on first use, or an earlier
    /// `build_global` did), or if building fails as
    /// [`build`](Self::build) can.
    ///
    /// # Examples
    ///
    /// ```
    /// stealpool::ThreadPoolBuilder::new()
    ///     .num_threads(3)
    ///     .thread_name(|i| format!("global-{i}"))
    ///     .build_global()
    ///     .expect("nothing used the global pool yet");
    /// assert_eq!(stealpool::current_num_threads(), 3);
    /// let again = stealpool::ThreadPoolBuilder::new().build_global();
    /// assert!(again.unwrap_err().to_string().contains("already"));
    /// ```
    pub fn build_global(self) -> Result<(), BuildError> {
        if GLOBAL.get().is_some() {
            return Err(BuildError::global_exists());
        }
        let pool = global_builder(self).build()?;
        // Another thread may have built it meanwhile: ours is shut down.
        GLOBAL
            .set(pool)
            .map_err(|_ours| BuildError::global_exists())
    }
}

/// The number of worker threads of the pool the caller runs on, else of
/// the global pool (rayon's `current_num_threads`), e.g. to pick chunk
/// sizes. Asked off every pool, it builds the global pool if nothing did.
///
/// # Examples
///
/// ```
/// let pool = stealpool::ThreadPool::new(3).unwrap();
/// assert_eq!(pool.install(stealpool::current_num_threads), 3);
/// assert!(stealpool::current_num_threads() >= 1); // the global pool's
/// ```
pub fn current_num_threads() -> usize {
    WorkerThread::with_current(|worker| match worker {
        Some(worker) => worker.shared.num_threads(),
        None => global().num_threads(),
    })
}

/// Like [`scope`], but the body runs on the calling thread, so it need not
/// be `Send` (rayon's `in_place_scope`). Spawned closures run on the
/// caller's pool if it is a worker, else on the global pool; the call
/// returns once all of them have finished. A worker waiting here runs pool
/// work meanwhile; any other thread sleeps.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
///
/// let local = Rc::new(5); // not Send: the body may still use it
/// let mut squares = [0_u64; 4];
/// let sum = stealpool::in_place_scope(|s| {
///     for (i, square) in squares.iter_mut().enumerate() {
///         s.spawn(move || *square = (i as u64).pow(2));
///     }
///     *local + 1
/// });
/// assert_eq!(sum, 6);
/// assert_eq!(squares, [0, 1, 4, 9]);
/// ```
pub fn in_place_scope<'env, F, R>(f: F) -> R
where
    F: for<'scope> FnOnce(&'scope crate::Scope<'scope, 'env>) -> R,
{
    WorkerThread::with_current(|worker| match worker {
        Some(worker) => crate::forkjoin::scope_on(worker, f),
        None => crate::forkjoin::scope_outside(global().shared(), f),
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::parse_num_threads;

    #[test]
    fn only_a_positive_integer_sizes_the_global_pool() {
        assert_eq!(parse_num_threads("4"), Some(4));
        assert_eq!(parse_num_threads(" 12\n"), Some(12));
        for ignored in ["", "0", "-2", "four", "1.5", "4 threads"] {
            assert_eq!(parse_num_threads(ignored), None, "{ignored:?}");
        }
    }
}
