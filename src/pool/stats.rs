//! [`PoolStats`]: a cheap snapshot of what a pool is doing.

use crate::sync::atomic::Ordering::Relaxed;
use crate::sync::atomic::{AtomicBool, AtomicU64};

/// A snapshot of a pool's activity, from [`ThreadPool::stats`](crate::ThreadPool::stats).
///
/// Counters are kept per worker (each written only by its worker, with plain
/// relaxed stores) and summed when read, so keeping them costs the hot paths
/// nothing measurable. Fields are read one after another while the pool
/// runs: each is exact, the combination is approximate.
///
/// # Examples
///
/// ```
/// let pool = stealpool::ThreadPool::new(2).unwrap();
/// for _ in 0..10 {
///     pool.submit(|| ()).join().unwrap();
/// }
/// pool.shutdown(); // joins the workers: every count is final
/// let stats = pool.stats();
/// assert_eq!(stats.threads, 2);
/// assert_eq!(stats.completed, 10);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Worker threads in the pool.
    pub threads: usize,
    /// Jobs waiting in the queues (the injector and every worker's deque).
    pub queued: usize,
    /// Workers running a job right now.
    pub running: usize,
    /// Jobs that workers have finished (run, or disposed of at shutdown);
    /// a job is counted right after it returns, so a `join` may see it
    /// uncounted for a moment.
    pub completed: u64,
    /// Jobs a worker took from a sibling's deque.
    pub stolen: u64,
    /// Workers asleep (parked on their futex).
    pub parked: usize,
}

/// One worker's counters; written only by that worker.
#[derive(Debug, Default)]
pub(crate) struct WorkerStats {
    completed: AtomicU64,
    stolen: AtomicU64,
    running: AtomicBool,
}

impl WorkerStats {
    /// Counts a finished job. Single writer: load + store, no RMW.
    #[inline]
    pub(crate) fn job_done(&self) {
        // Relaxed: a statistic; nothing is published through it.
        self.completed
            .store(self.completed.load(Relaxed) + 1, Relaxed);
    }

    /// Counts a job taken from a sibling.
    #[inline]
    pub(crate) fn stole(&self) {
        // Relaxed: a statistic.
        self.stolen.store(self.stolen.load(Relaxed) + 1, Relaxed);
    }

    /// Marks the worker as running a job (or not).
    #[inline]
    pub(crate) fn set_running(&self, running: bool) {
        // Relaxed: a statistic.
        self.running.store(running, Relaxed);
    }

    /// Adds this worker's counters into `stats`.
    pub(crate) fn add_to(&self, stats: &mut PoolStats) {
        // Relaxed: a statistic.
        stats.completed += self.completed.load(Relaxed);
        stats.stolen += self.stolen.load(Relaxed);
        stats.running += usize::from(self.running.load(Relaxed));
    }
}
