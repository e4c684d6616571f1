//! Fork-join: [`join`] and [`scope`], on the work-stealing scheduler.
//!
//! # `join(a, b)` on a worker
//!
//! 1. `b` becomes a [`StackJob`] on the caller's stack (no heap allocation)
//!    and is pushed onto the worker's own deque, where idle siblings can
//!    steal it (work-first, as rayon).
//! 2. The caller runs `a`, catching its panic.
//! 3. It pops its deque: if the top is `b`, nobody stole it, and it runs `b`
//!    inline. Anything else on top was pushed by `a` after `b` and is run
//!    first (it is `a`'s leftover work).
//! 4. If `b` was stolen, the caller keeps busy until `b`'s latch is set —
//!    running whatever work it can find — and sleeps on the latch only when
//!    there is none.
//! 5. Both results are in: `a`'s panic is resumed first, else `b`'s.
//!
//! Steps 3–4 never return before `b` has finished, so `b` never outlives the
//! frame it borrows from. The latch's setter touches the latch last (see
//! `latch.rs`), so the caller may return the moment it sees it set.
//!
//! **Re-entrancy.** While `b` is stolen, the waiting caller may run *other*
//! jobs of the pool on its own stack (step 4). Code that holds a lock across
//! `join` can therefore see that lock taken again on the same thread by such
//! a job: do not hold locks (or `RefCell` borrows, or `OnceLock`
//! initialisations) across `join`/`scope`. `Task::wait` does not do this; it
//! only ever runs the task it waits for.
//!
//! Off the pool, `join` runs itself inside the pool (as `install` does), so
//! recursion inside takes the fast path above.

mod scope;

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

pub(crate) use self::scope::scope_on;
pub use self::scope::Scope;
use crate::pool::job::{Job, StackJob};
use crate::pool::worker::WorkerThread;

/// `join` on the worker `worker` (see the module docs).
pub(crate) fn join_on<A, B, RA, RB>(worker: &WorkerThread, a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    let job_b = StackJob::new(b);
    // SAFETY: `job_b` lives on this frame, unmoved, until its latch is set:
    // every path below waits for that before returning or unwinding.
    worker.push(unsafe { job_b.as_job() });
    let result_a = catch_unwind(AssertUnwindSafe(a));

    while !job_b.latch().probe() {
        match worker.pop_local() {
            Some(Job::Stack(job)) if job.is(job_b.addr()) => {
                // Not stolen: run `b` here.
                worker.execute(Job::Stack(job));
            }
            Some(other) => worker.execute(other),
            None => {
                // `b` was stolen: help until its thief is done.
                worker.wait_helping(job_b.latch());
            }
        }
    }
    let result_b = job_b.take_result();
    match (result_a, result_b) {
        (Ok(ra), Ok(rb)) => (ra, rb),
        (Err(panic), _) | (Ok(_), Err(panic)) => resume_unwind(panic),
    }
}
