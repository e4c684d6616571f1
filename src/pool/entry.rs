//! One way into a pool: rayon's `in_worker`, `in_worker_cold` and
//! `in_worker_cross`.
//!
//! Every blocking entry — `install`, `join` and `scope` (method and free
//! function alike) — runs its operation through [`Shared::in_worker`],
//! which asks once "which worker is this thread?" and takes one of three arms:
//!
//! - a worker of **this** pool: the operation runs on the spot;
//! - **no** worker (`in_worker_cold`): the operation becomes a stack job with
//!   a [`LockLatch`], is injected, and the caller sleeps on the latch's futex;
//! - a worker of **another** pool (`in_worker_cross`): the same stack job,
//!   with a cross [`SpinLatch`] owned by the caller, which meanwhile keeps
//!   running *its own* pool's work and sleeps only in its own pool's sleep
//!   protocol (`WorkerThread::wait_until`). So a worker of A waiting on B
//!   never starves A: `a.install(|| b.install(|| a.install(..)))` cannot
//!   deadlock, whatever the pools' sizes.
//!
//! The free functions use [`in_any_worker`]: any pool's worker runs the
//! operation on the spot, anyone else goes to the fallback (global) pool.

use std::ptr;

use super::job::{Job, StackJob};
use super::latch::SpinLatch;
use super::shared::Shared;
use super::worker::WorkerThread;
use super::ThreadPool;
use crate::executor;
use crate::latch::LockLatch;

impl Shared {
    /// Runs `op` on a worker of this pool and returns its result, blocking
    /// the caller meanwhile (see the module docs). A panic in `op` resumes on
    /// the caller.
    ///
    /// # Panics
    ///
    /// If the pool is shut down and the caller is not one of its workers.
    #[inline]
    pub(crate) fn in_worker<OP, R>(&self, op: OP) -> R
    where
        OP: FnOnce(&WorkerThread) -> R + Send,
        R: Send,
    {
        WorkerThread::with_current(|current| match current {
            Some(worker) if ptr::eq(&*worker.shared, self) => op(worker),
            Some(worker) => self.in_worker_cross(worker, op),
            None => self.in_worker_cold(op),
        })
    }

    /// `in_worker` from a thread outside every pool.
    #[cold]
    fn in_worker_cold<OP, R>(&self, op: OP) -> R
    where
        OP: FnOnce(&WorkerThread) -> R + Send,
        R: Send,
    {
        let job = StackJob::new(LockLatch::new(), op);
        // SAFETY: `job` stays on this frame, unmoved, until its latch is set
        // (the wait below) or it was never queued (the refusal).
        let job_ref = unsafe { job.as_job_ref() };
        if self.inject(Job::Stack(job_ref)).is_err() {
            // SAFETY: never queued: we consume the closure ourselves, once.
            drop(unsafe { job.take_func() });
            shut_down();
        }
        // As `Task::wait` does: if the inject woke a sleeping worker, sleep
        // at once rather than spin on the CPU the wakee is likely headed for.
        if executor::take_woke_sleeper() {
            job.latch().wait_without_spinning();
        } else {
            job.latch().wait();
        }
        // SAFETY: the latch is set; the result is taken once.
        unsafe { job.take_value() }
    }

    /// `in_worker` from `current`, a worker of another pool.
    #[cold]
    fn in_worker_cross<OP, R>(&self, current: &WorkerThread, op: OP) -> R
    where
        OP: FnOnce(&WorkerThread) -> R + Send,
        R: Send,
    {
        let job = StackJob::new(SpinLatch::cross(current), op);
        // SAFETY: as in `in_worker_cold`.
        let job_ref = unsafe { job.as_job_ref() };
        if self.inject(Job::Stack(job_ref)).is_err() {
            // SAFETY: as in `in_worker_cold`.
            drop(unsafe { job.take_func() });
            shut_down();
        }
        let keys = [job.key()];
        current.wait_until(job.latch(), Some(&keys), None);
        job.latch().retire();
        // SAFETY: as in `in_worker_cold`.
        unsafe { job.take_value() }
    }
}

/// Runs `op` on the calling thread's worker, if it is a worker of any pool;
/// otherwise on `fallback()`'s pool as `in_worker` does (the free
/// functions, with the global pool as the fallback).
#[inline]
pub(crate) fn in_any_worker<OP, R>(fallback: impl FnOnce() -> &'static ThreadPool, op: OP) -> R
where
    OP: FnOnce(&WorkerThread) -> R + Send,
    R: Send,
{
    WorkerThread::with_current(|current| match current {
        Some(worker) => op(worker),
        None => fallback().shared.in_worker_cold(op),
    })
}

/// The panic of a blocking entry into a shut-down pool.
#[cold]
fn shut_down() -> ! {
    panic!("stealpool: the pool is shut down (install, join and scope need a running pool)")
}
