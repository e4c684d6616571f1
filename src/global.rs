//! The implicit global pool and the free functions that use it.
//!
//! Called on a worker of some pool, the free functions use that pool;
//! elsewhere they use a global pool with the default number of threads,
//! built on first use and never shut down (like rayon's).

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
    crate::executor::current().map(|ctx| ctx.index)
}
