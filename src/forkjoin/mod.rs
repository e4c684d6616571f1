//! Fork-join: [`join`] and [`scope`], on the work-stealing scheduler.
//!
//! # `join(a, b)` on a worker
//!
//! 1. `b` becomes a [`StackJob`] on the caller's stack (no heap allocation),
//!    recorded in a `JoinFrame` linked into the worker's list of live frames
//!    — not pushed anywhere yet (lazy forks, after Spice and chili).
//! 2. If an idle sibling has asked for work, the worker shares its *oldest*
//!    pending frame: pushes that `b` onto its deque (a fenced push that wakes
//!    sleepers), where the sibling can steal it.
//! 3. The caller runs `a`, catching its panic, and unlinks its frame.
//! 4. If its own `b` was never shared, nobody else can have it: the caller
//!    calls `b` directly — the common case, with no atomic RMW at all.
//! 5. If it was shared, the caller pops its deque: `b` (not stolen) is called
//!    directly; anything else is run first; an empty deque means `b` was
//!    stolen, and the caller keeps busy until `b`'s latch is set — stealing
//!    from `b`'s thief first (leapfrogging), then any work it can find,
//!    asking siblings to share — and sleeps on the latch only when there is
//!    none.
//! 6. Both results are in: `a`'s panic is resumed first, else `b`'s.
//!
//! Steps 4–5 never return before `b` has finished, so `b` never outlives the
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
use crate::pool::job::{Job, JoinFrame, StackJob};
use crate::pool::worker::WorkerThread;

/// `join` on the worker `worker` (see the module docs).
#[inline]
pub(crate) fn join_on<A, B, RA, RB>(worker: &WorkerThread, a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    let job_b = StackJob::new(b);
    // SAFETY: `job_b` lives on this frame, unmoved, until it has run: it is
    // either called directly below (never shared), or, once promoted into the
    // deque, waited for (popped back or its latch set) before we return.
    let frame = JoinFrame::new(unsafe { job_b.as_job_ref() }, worker.newest_frame());
    worker.enter_frame(&frame);
    worker.share_if_asked();
    let result_a = catch_unwind(AssertUnwindSafe(a));
    worker.leave_frame(&frame);

    let mut result_b = None;
    if frame.take().is_some() {
        // Never shared: nobody else can run `b`; call it directly.
        result_b = Some(job_b.run_inline());
    }
    while result_b.is_none() {
        if job_b.latch().probe() {
            result_b = Some(job_b.take_result());
            break;
        }
        match worker.pop_local() {
            Some(Job::Stack(job)) if job.is(job_b.addr()) => {
                // Shared but not stolen: run `b` here, directly.
                result_b = Some(job_b.run_inline());
            }
            Some(other) => worker.execute(other),
            None => {
                // `b` was stolen: help (its thief first) until it is done.
                worker.wait_helping(job_b.latch(), job_b.thief());
            }
        }
    }
    let result_b = result_b.expect("the loop ends with b's result");
    match (result_a, result_b) {
        (Ok(ra), Ok(rb)) => (ra, rb),
        (Err(panic), _) | (Ok(_), Err(panic)) => resume_unwind(panic),
    }
}
