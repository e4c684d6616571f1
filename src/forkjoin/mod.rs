//! Fork-join: [`ThreadPool::join`] and [`ThreadPool::scope`] (and through
//! them the free functions), on the scheduler's seam: `in_worker`,
//! `StackJob`, `SpinLatch`, `Deferred`, and the worker's `pop_local`,
//! `execute` and `wait_until`.
//!
//! # `join(a, b)` on a worker
//!
//! 1. `b` becomes a [`StackJob`] on the caller's stack (no heap allocation),
//!    *deferred* (`pool/deferred.rs`): linked into the worker's list of
//!    deferred jobs, not pushed anywhere yet (lazy forks, after Spice and
//!    chili). If the worker's flag is raised — its deque may be empty (a
//!    steal or its own pop took the last job), or an idle sibling has asked
//!    for work — the worker promotes its *oldest* pending deferred job onto
//!    its deque (arming that job's latch first), where a sibling can steal
//!    it: each worker keeps its biggest pending half stealable.
//! 2. The caller runs `a`, catching its panic, and takes `b` back.
//! 3. If `b` was never promoted, nobody else can have it: the caller calls
//!    `b` directly and returns — the common case, with no atomic
//!    read-modify-write at all, both results straight from the calls.
//! 4. If it was promoted, the caller pops its deque: `b` (not stolen) is
//!    called directly; anything else is run first; an empty deque means `b`
//!    was stolen, and the caller waits for `b`'s latch in the pool's sleep
//!    protocol (`WorkerThread::wait_until`): stealing from `b`'s thief first
//!    (leapfrogging), then any work it can find, and sleeping as the latch's
//!    owner when there is none, so a push wakes it as it wakes any idle
//!    worker.
//! 5. Both results are in: `a`'s panic is resumed first, else `b`'s.
//!
//! From step 1 until `b` is known finished, `b` may run on another thread
//! while borrowing this frame: the region is under an abort-on-drop guard
//! (`unwind::AbortIfPanic`), so even a bug of ours can never unwind out of
//! `join` while a thief still uses the frame. User panics never get that far:
//! `a` and `b` run under `catch_unwind`, and every job the waiting caller runs
//! catches its own (including panics from `Drop`s it runs).
//!
//! **Re-entrancy.** While `b` is stolen, the waiting caller may run *other*
//! jobs of the pool on its own stack (step 4). Code that holds a lock across
//! `join` can therefore see that lock taken again on the same thread by such
//! a job: do not hold locks (or `RefCell` borrows, or `OnceLock`
//! initialisations) across `join`/`scope`. `Task::wait` does not do this; it
//! only ever runs the task it waits for.
//!
//! Off the pool, `join` runs itself inside the pool through the one way in
//! (`in_worker`), so recursion inside takes the fast path above.

mod handle;
mod scope;

use std::panic::resume_unwind;

pub use self::handle::Worker;
pub use self::scope::Scope;
pub(crate) use self::scope::{scope_on, scope_outside};
use crate::pool::job::{Job, StackJob};
use crate::pool::latch::LazySpinLatch;
use crate::pool::worker::WorkerThread;
use crate::pool::ThreadPool;
use crate::unwind::{self, region, AbortIfPanic};

impl ThreadPool {
    /// Runs `a` and `b`, potentially in parallel, and returns both results.
    ///
    /// Called on a worker of this pool, `b` is recorded on the caller's
    /// stack (no heap allocation) and `a` runs. If an idle worker asks for
    /// work meanwhile, the worker shares its oldest such pending half through
    /// its deque, where the idle one steals it; a `b` nobody took is then
    /// simply called. If `b` was taken, the caller helps the worker that took
    /// it (and runs other pool work, waking for new work as any idle worker
    /// does) until `b` is done. Off the pool, the pair runs inside the pool
    /// as with [`install`](ThreadPool::install) — from a worker of another
    /// pool, that worker keeps serving its own pool meanwhile. Both closures
    /// may borrow from the caller's stack.
    ///
    /// `join` never returns, by value or by unwinding, before both closures
    /// have finished.
    ///
    /// **Re-entrancy:** while `b` runs elsewhere, the caller may run other
    /// jobs of the pool on its stack; do not hold a lock across `join` that
    /// such a job could take.
    ///
    /// **No promise of parallelism:** `b` is shared at once only when the
    /// worker has nothing else stealable, else when an idle worker asks
    /// (lazy forks); `a` must not wait for something `b` does.
    ///
    /// # Panics
    ///
    /// A panic in `a` or `b` is resumed here after both have finished (if
    /// both panic, `a`'s). Called from outside a shut-down pool, panics.
    ///
    /// # Examples
    ///
    /// ```
    /// fn sum(pool: &stealpool::ThreadPool, v: &[u64]) -> u64 {
    ///     if v.len() <= 1024 {
    ///         return v.iter().sum();
    ///     }
    ///     let (left, right) = v.split_at(v.len() / 2);
    ///     let (a, b) = pool.join(|| sum(pool, left), || sum(pool, right));
    ///     a + b
    /// }
    /// let pool = stealpool::ThreadPool::new(2).unwrap();
    /// let v: Vec<u64> = (1..=100_000).collect();
    /// assert_eq!(sum(&pool, &v), 5_000_050_000);
    /// ```
    pub fn join<A, B, RA, RB>(&self, a: A, b: B) -> (RA, RB)
    where
        A: FnOnce() -> RA + Send,
        B: FnOnce() -> RB + Send,
        RA: Send,
        RB: Send,
    {
        self.shared()
            .in_worker(|worker| join_on(worker, |_| a(), |_| b()))
    }

    /// Creates a [`Scope`](crate::Scope) for spawning closures that borrow
    /// from the caller's stack, runs `f` in it, and returns once every
    /// closure spawned in it (recursively) has finished.
    ///
    /// `f` runs on a worker of this pool (as with
    /// [`install`](ThreadPool::install)); while it waits for the spawned
    /// closures, that worker runs pool work (see [`join`](ThreadPool::join)
    /// on re-entrancy). `scope` never returns, by value or by unwinding,
    /// before every spawned closure has finished. A spawn is never dropped:
    /// while the scope is alive its spawns run, even once the pool has begun
    /// shutting down and even when the spawn comes from a thread outside the
    /// pool.
    ///
    /// # Panics
    ///
    /// A panic in `f` or in a spawned closure is resumed here once all have
    /// finished (`f`'s first, else the first spawned one's). Called from
    /// outside a shut-down pool, panics.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPool::new(2).unwrap();
    /// let mut buffer = vec![0_u32; 8];
    /// pool.scope(|s| {
    ///     for (i, x) in buffer.iter_mut().enumerate() {
    ///         s.spawn(move || *x = i as u32 * 3);
    ///     }
    /// });
    /// assert_eq!(buffer, [0, 3, 6, 9, 12, 15, 18, 21]);
    /// ```
    pub fn scope<'env, F, R>(&self, f: F) -> R
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R + Send,
        R: Send,
    {
        self.shared().in_worker(|worker| scope_on(worker, f))
    }
}

/// `join` on the worker `worker` (see the module docs). Each closure is
/// handed the worker that runs it: `worker` for `a` and for a `b` nobody
/// took, the thief for a stolen `b` (the free `join` ignores it; a
/// [`Worker`] handle passes it on).
#[inline]
pub(crate) fn join_on<A, B, RA, RB>(worker: &WorkerThread, a: A, b: B) -> (RA, RB)
where
    A: FnOnce(&WorkerThread) -> RA,
    B: FnOnce(&WorkerThread) -> RB + Send,
    RB: Send,
{
    // The latch is written only if `b` is promoted (`LazySpinLatch`).
    let job_b = StackJob::new(LazySpinLatch::unarmed(), b);
    // SAFETY: `job_b` lives on this frame, unmoved, until it has run: it is
    // called directly below (never shared), or, once promoted into the deque,
    // popped back or waited for before we return; it is deferred once, so
    // queued at most once (by the promotion).
    let deferred = unsafe { job_b.as_deferred() };
    // From here until `b` is known finished, another thread may run `b`
    // borrowing this frame: nothing may unwind out of it.
    let guard = AbortIfPanic::<region::Join>::new();
    worker.defer(&deferred);
    let result_a = unwind::catch(|| a(worker));
    if worker.undefer(&deferred) {
        guard.disarm();
        // Never shared: nobody else can run `b`; call it directly.
        // SAFETY: we took the only reference back; `b` is consumed once.
        let result_b = unsafe { job_b.run_inline(worker) };
        return both(result_a, result_b);
    }
    let result_b = join_shared(worker, &job_b);
    guard.disarm();
    both(result_a, result_b)
}

/// Step 4 of `join` (module docs): `b` was promoted into the deque; run it
/// if it is still there, else wait until its thief is done.
#[cold]
fn join_shared<B, RB>(
    worker: &WorkerThread,
    job_b: &StackJob<LazySpinLatch<'_>, B, RB>,
) -> std::thread::Result<RB>
where
    B: FnOnce(&WorkerThread) -> RB + Send,
    RB: Send,
{
    // SAFETY: `b` was promoted (that is how we got here), which armed it.
    let latch = unsafe { job_b.latch().armed() };
    loop {
        // mutant: unwaited-b s/latch.probe()/true/
        let done = latch.probe();
        if done {
            latch.retire();
            // SAFETY: the latch is set (Acquire): the thief wrote the result
            // and no longer touches the job; we take it once.
            return unsafe { job_b.take_result() };
        }
        match worker.pop_local() {
            Some(Job::Stack(job)) if job.key() == job_b.key() => {
                // Promoted but not stolen: run `b` here, directly.
                // SAFETY: we popped the only reference back.
                return unsafe { job_b.run_inline(worker) };
            }
            Some(other) => worker.execute(other),
            None => {
                // `b` was stolen: help (its thief first) until it is done.
                let keys = [job_b.key()];
                worker.wait_until(latch, Some(&keys), latch.thief());
            }
        }
    }
}

/// Both results of a `join`, or the first panic (after dropping the other
/// result, whose `Drop` may panic too: caught, and its payload dropped).
#[inline]
fn both<RA, RB>(a: std::thread::Result<RA>, b: std::thread::Result<RB>) -> (RA, RB) {
    match (a, b) {
        (Ok(ra), Ok(rb)) => (ra, rb),
        (Err(panic), other) => {
            drop_quietly(other);
            resume_unwind(panic)
        }
        (Ok(ra), Err(panic)) => {
            drop_quietly(ra);
            resume_unwind(panic)
        }
    }
}

/// Drops a result that will not be returned, so that its `Drop` cannot
/// replace the panic being resumed.
#[cold]
fn drop_quietly<T>(value: T) {
    if let Err(payload) = unwind::drop_caught(value) {
        unwind::drop_payload(payload);
    }
}
