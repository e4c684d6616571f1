//! [`Scope`]: spawn closures that borrow from the caller's stack; the scope
//! returns after all of them have finished.
//!
//! # Protocol
//!
//! - `pending` counts the scope's body plus every spawned job not yet
//!   finished. `spawn` increments it *before* queueing the job; a finished
//!   job (and the body, when it returns) decrements it.
//! - Whoever decrements it to zero sets the scope's latch — as its very last
//!   access to the scope, which lives on the owner's stack.
//! - The owner waits only on the latch (never on `pending`), in its pool's
//!   sleep protocol and running pool work meanwhile, so it cannot return
//!   while a job still holds the scope. From the body's first spawn until the
//!   latch is set, the owner's frame is under an abort-on-drop guard.
//! - A spawn is never dropped: from a worker of the scope's pool it goes to
//!   that worker's deque; from anywhere else it is injected even if the pool
//!   is shutting down (the owner, a live worker, runs it), and
//!   `shutdown_now` runs scope jobs rather than dropping them.
//! - The first panic of a job is stored and resumed on the owner after
//!   everything finished; a panic in the body is resumed in preference.
//!   Later panics are dropped (their payloads' `Drop` caught).

use std::fmt;
use std::marker::PhantomData;
use std::panic::resume_unwind;

use crate::latch::{LockLatch, SetLatch};
use crate::pool::job::{Job, ScopedJob, ScopedRun, WithScope};
use crate::pool::latch::SpinLatch;
use crate::pool::shared::Shared;
use crate::pool::worker::WorkerThread;
use crate::sync::atomic::AtomicUsize;
use crate::sync::atomic::Ordering::{AcqRel, Relaxed};
use crate::sync::Mutex;
use crate::unwind::{self, region, AbortIfPanic, Payload};

/// A scope for spawning closures that borrow from the caller's stack, made
/// by [`ThreadPool::scope`](crate::ThreadPool::scope) or [`scope`](crate::scope).
///
/// Every closure spawned in the scope (recursively: a spawned closure may
/// capture the `&Scope` and spawn more) has finished when `scope` returns;
/// so closures may borrow anything that outlives the scope. The first panic
/// of a spawned closure is resumed on the caller after all have finished.
///
/// # Examples
///
/// ```
/// let mut chunks = vec![vec![1, 2], vec![3, 4, 5], vec![6]];
/// let total = std::sync::atomic::AtomicUsize::new(0);
/// stealpool::scope(|s| {
///     for chunk in chunks.iter_mut() {
///         let total = &total;
///         s.spawn(move || {
///             chunk.iter_mut().for_each(|x| *x *= 10);
///             total.fetch_add(chunk.len(), std::sync::atomic::Ordering::Relaxed);
///         });
///     }
/// });
/// assert_eq!(chunks, [vec![10, 20], vec![30, 40, 50], vec![60]]);
/// assert_eq!(total.into_inner(), 6);
/// ```
pub struct Scope<'scope, 'env: 'scope> {
    /// The pool the scope's jobs run on.
    shared: &'scope Shared,
    /// The body plus every unfinished spawned job. RMW only.
    pending: AtomicUsize,
    /// Set by whoever brings `pending` to zero; waited on by the owner.
    done: Done<'scope>,
    /// The first panic of a spawned job.
    panic: Mutex<Option<Payload>>,
    /// Invariance in both lifetimes, as `std::thread::Scope`.
    _scope: PhantomData<&'scope mut &'scope ()>,
    _env: PhantomData<&'env mut &'env ()>,
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Spawns `f` into the scope: it may run on any worker of the pool, and
    /// the scope does not return before it has finished.
    ///
    /// To spawn from inside a spawned closure, capture the `&Scope` (it is
    /// `Copy`-able as a reference and `Send`). A spawn is never dropped: it
    /// runs even if the pool has begun shutting down, and even when it comes
    /// from a thread outside the pool.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPool::new(2).unwrap();
    /// let mut results = [0_u64; 4];
    /// pool.scope(|s| {
    ///     for (i, result) in results.iter_mut().enumerate() {
    ///         s.spawn(move || *result = (i as u64 + 1).pow(2));
    ///     }
    /// });
    /// assert_eq!(results, [1, 4, 9, 16]);
    /// ```
    pub fn spawn<F>(&'scope self, f: F)
    where
        F: FnOnce() + Send + 'scope,
    {
        // Relaxed: the increment happens-before the job's decrement through
        // the queue (push/steal synchronise); nothing is published here.
        self.pending.fetch_add(1, Relaxed);
        let scope = ScopePtr(self);
        let job: Box<dyn ScopedRun + 'scope> = Box::new(WithScope {
            scope: self.key(),
            f: move || {
                let scope = scope;
                // SAFETY: the scope outlives this job: its owner waits for
                // `pending` to reach zero, which needs this job's decrement.
                let this = unsafe { &*scope.0 };
                if let Err(payload) = unwind::catch(f) {
                    this.record_panic(payload);
                }
                this.finish_one();
            },
        });
        // SAFETY: only the lifetime is erased. The job borrows data that
        // outlives `'scope`, and the scope's owner does not return before
        // the job has run (it waits for `pending`), so the job never runs
        // after its borrows end.
        let job: ScopedJob = unsafe { std::mem::transmute(job) };
        let job = Job::Scoped(job);
        WorkerThread::with_current_of(self.shared, |worker| match worker {
            Some(worker) => worker.push(job),
            // Another thread (outside the pool, or a worker of another pool):
            // the owner is a live worker of this pool, so the job will run
            // even if the pool is shutting down.
            None => self.shared.inject_waited_on(job),
        });
    }

    /// What the owner waits on, and the key of the scope's jobs.
    fn key(&self) -> usize {
        self as *const Self as usize
    }

    /// Keeps the first panic of a job; drops later ones.
    fn record_panic(&self, payload: Payload) {
        let later = {
            let mut first = self.panic.lock();
            match *first {
                None => {
                    *first = Some(payload);
                    None
                }
                Some(_) => Some(payload),
            }
        };
        // Outside the lock: a payload's Drop is user code.
        if let Some(payload) = later {
            unwind::drop_payload(payload);
        }
    }

    /// One of the body or a job has finished: decrement, and set the latch
    /// if it was the last. Must be the caller's last access to the scope.
    fn finish_one(&self) {
        // AcqRel: Release publishes this job's effects; Acquire (for the last
        // one) gathers everyone's before the latch publishes them to the owner.
        if self.pending.fetch_sub(1, AcqRel) == 1 {
            // SAFETY: the scope is live: its owner waits for this latch.
            unsafe { Done::set(&self.done) };
        }
    }
}

/// What a scope's owner waits on: a worker's latch (the worker runs pool
/// work meanwhile, in its pool's sleep protocol), or the latch of a thread
/// outside every pool, which sleeps on it ([`in_place_scope`](crate::in_place_scope) called off the
/// pools).
enum Done<'scope> {
    Worker(SpinLatch<'scope>),
    Outside(LockLatch),
}

impl Done<'_> {
    /// Sets the latch.
    ///
    /// # Safety
    ///
    /// `this` must be live until the latch's publishing swap, which is the
    /// call's last access to it (the owner may free it right after).
    unsafe fn set(this: *const Self) {
        // SAFETY: live per the caller; the variant is read before the swap.
        match unsafe { &*this } {
            // SAFETY: as above, for the latch inside.
            Done::Worker(latch) => unsafe { SetLatch::set(latch as *const SpinLatch<'_>) },
            // SAFETY: as above, for the latch inside.
            Done::Outside(latch) => unsafe { SetLatch::set(latch as *const LockLatch) },
        }
    }
}

/// A pointer to a scope that may cross threads with its job. A raw pointer
/// rather than a reference: the job holds no borrow of the scope while it
/// waits in a queue, and its last use (`finish_one`) may let the owner free
/// the scope.
struct ScopePtr<'scope, 'env>(*const Scope<'scope, 'env>);

// SAFETY: a `Scope` is `Sync` (atomics, a mutex, a latch, a shared
// `Shared` reference), so sharing its address with the thread that runs
// the job is sound; the lifetime argument is in `spawn`.
unsafe impl Send for ScopePtr<'_, '_> {}

/// `scope(f)` on the worker `worker`: the body runs here, on the worker,
/// which runs pool work while it waits for the spawned jobs.
pub(crate) fn scope_on<'env, F, R>(worker: &WorkerThread, f: F) -> R
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
{
    let scope = Scope::new(&worker.shared, Done::Worker(SpinLatch::new(worker)));
    run(&scope, f, |scope| {
        let Done::Worker(done) = &scope.done else {
            unreachable!("made with a worker's latch above")
        };
        let keys = [scope.key()];
        // mutant: scope-early-return s/worker.wait_until(.*);/while let Some(job) = worker.find_work() { worker.execute(job); }/
        worker.wait_until(done, Some(&keys), None);
        done.retire();
    })
}

/// `scope(f)` for a thread outside every pool ([`in_place_scope`](crate::in_place_scope)): the
/// body runs on the caller, the jobs on `shared`'s workers, and the caller
/// sleeps until they have finished.
pub(crate) fn scope_outside<'env, F, R>(shared: &Shared, f: F) -> R
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
{
    let scope = Scope::new(shared, Done::Outside(LockLatch::new()));
    run(&scope, f, |scope| {
        let Done::Outside(done) = &scope.done else {
            unreachable!("made with an outside latch above")
        };
        // mutant: outside-scope-early-return del
        done.wait();
    })
}

impl<'scope> Scope<'scope, '_> {
    fn new(shared: &'scope Shared, done: Done<'scope>) -> Self {
        Scope {
            shared,
            pending: AtomicUsize::new(1),
            done,
            panic: Mutex::new(None),
            _scope: PhantomData,
            _env: PhantomData,
        }
    }
}

/// Runs the body of `scope`, then `wait`s for its latch; resumes the body's
/// panic, else the first job's.
fn run<'scope, 'env, F, R>(
    scope: &'scope Scope<'scope, 'env>,
    f: F,
    wait: impl FnOnce(&Scope<'scope, 'env>),
) -> R
where
    F: FnOnce(&'scope Scope<'scope, 'env>) -> R,
{
    // Spawned jobs borrow this frame until the latch is set: nothing may
    // unwind out of it before then.
    let guard = AbortIfPanic::<region::Scope>::new();
    let result = unwind::catch(|| f(scope));
    scope.finish_one();
    wait(scope);
    guard.disarm();
    let job_panic = scope.panic.lock().take();
    match (result, job_panic) {
        (Err(panic), job_panic) => {
            if let Some(job_panic) = job_panic {
                unwind::drop_payload(job_panic);
            }
            resume_unwind(panic)
        }
        (Ok(value), Some(panic)) => {
            if let Err(nested) = unwind::drop_caught(value) {
                unwind::drop_payload(nested);
            }
            resume_unwind(panic)
        }
        (Ok(value), None) => value,
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("pending", &self.pending.load(Relaxed))
            .finish_non_exhaustive()
    }
}
