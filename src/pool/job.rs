//! What the queues hold: a task to run or cancel, a fire-and-forget closure,
//! a scope's closure, or a job on a blocked caller's stack.
//!
//! Every job has a *key* (`Job::key`): the address of what a waiter waits
//! on — the task's core, the stack job, the scope. A worker records the keys
//! of the jobs running on its stack, and a blocked waiter the keys it waits
//! for, so that `shutdown` can tell a worker that waits on a caller of
//! `shutdown` from one it must wait for (`executor::Roster::quiescent`).

use std::fmt;
use std::mem::{ManuallyDrop, MaybeUninit};

use super::deferred::Deferred;
use super::latch::LazySpinLatch;
use super::worker::WorkerThread;
use crate::latch::SetLatch;
use crate::sync::UnsafeCell;
use crate::task::Runnable;
use crate::unwind::{self, region, AbortIfPanic, Payload};

/// One unit of queued work.
pub(crate) enum Job {
    /// A `submit`ted task (its handle may be waiting on it).
    Task(Runnable),
    /// A `spawn`ed closure; a panic goes to the pool's panic handler.
    Spawn(Box<dyn FnOnce() + Send + 'static>),
    /// A job on the stack of a caller blocked until it runs (`install`, or a
    /// `join` whose second half was shared).
    Stack(JobRef),
    /// A `Scope::spawn`ed closure: its scope waits for it, so it runs even in
    /// `shutdown_now`.
    Scoped(ScopedJob),
}

impl Job {
    /// What a waiter for this job waits on (0 for a `spawn`: nobody does).
    #[inline]
    pub(crate) fn key(&self) -> usize {
        match self {
            Job::Task(task) => task.key(),
            Job::Spawn(_) => 0,
            Job::Stack(job) => job.key(),
            Job::Scoped(job) => job.scope(),
        }
    }

    /// Whether someone blocks until this job has run (a stack job or a
    /// scope's job): such a job is never dropped unrun.
    pub(crate) fn is_waited_on(&self) -> bool {
        matches!(self, Job::Stack(_) | Job::Scoped(_))
    }

    /// Runs the job on this thread.
    ///
    /// May unwind with a foreign panic — a `spawn`'s, or one from a `Drop`
    /// the job runs (a task's result whose handle is gone) — never with one
    /// that leaves the job half done: tasks and scope jobs catch their
    /// closures' panics themselves, and a stack job never unwinds. The caller
    /// catches and reports (`WorkerThread::execute`, [`dispose`]).
    pub(crate) fn run(self) {
        match self {
            Job::Task(task) => task.run(),
            Job::Spawn(f) => f(),
            Job::Stack(job) => {
                // SAFETY: a `JobRef` in a queue points to a live job whose
                // owner blocks until it has run, and is executed once: it was
                // queued once and taken out by exactly one pop or steal.
                unsafe { job.execute() };
            }
            Job::Scoped(job) => job.run(),
        }
    }

    /// Disposes of the job during `shutdown_now`: a task is cancelled, a
    /// spawned closure is dropped unrun, and a stack job or a scope's job
    /// still runs (its owner is blocked on it). May unwind as `run` does.
    pub(crate) fn abandon(self) {
        match self {
            Job::Task(task) => task.cancel(),
            Job::Spawn(f) => drop(f),
            waited_on @ (Job::Stack(_) | Job::Scoped(_)) => waited_on.run(),
        }
    }
}

/// [`Job::abandon`] outside a worker's `execute`, catching what it throws;
/// the caller reports it.
pub(crate) fn dispose(job: Job) -> Result<(), Payload> {
    unwind::catch(move || job.abandon())
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Job::Task(_) => "Job::Task",
            Job::Spawn(_) => "Job::Spawn",
            Job::Stack(_) => "Job::Stack",
            Job::Scoped(_) => "Job::Scoped",
        })
    }
}

/// A `Scope::spawn`ed closure with the address of its scope (its key), in
/// one allocation: a [`Job`] stays three words, as small as a deque entry of
/// the other kinds.
pub(crate) type ScopedJob = Box<dyn ScopedRun>;

/// What a [`ScopedJob`] can do.
pub(crate) trait ScopedRun: Send {
    /// The scope's address: what the scope's owner waits on.
    fn scope(&self) -> usize;
    /// Runs the closure (wrapped by the scope: it catches the user's panic
    /// and counts the job done).
    fn run(self: Box<Self>);
}

/// A closure `f` spawned into the scope at address `scope`.
pub(crate) struct WithScope<F> {
    /// The scope's address.
    pub(crate) scope: usize,
    /// The scope's wrapper around the user's closure.
    pub(crate) f: F,
}

impl<F: FnOnce() + Send> ScopedRun for WithScope<F> {
    fn scope(&self) -> usize {
        self.scope
    }

    fn run(self: Box<Self>) {
        (self.f)();
    }
}

/// A type-erased pointer to a [`StackJob`].
pub(crate) struct JobRef {
    /// The job, lifetime erased.
    job: *const (),
    /// `StackJob::<L, F, R>::execute`.
    execute: unsafe fn(*const ()),
}

// SAFETY: a `JobRef` is only created for a job whose closure and result are
// `Send` and whose latch any thread may set, and it is executed at most once,
// by one thread.
unsafe impl Send for JobRef {}

impl JobRef {
    /// The job's key: its address.
    #[inline]
    pub(crate) fn key(&self) -> usize {
        self.job as usize
    }

    /// Runs the job and sets its latch.
    ///
    /// # Safety
    ///
    /// The job must be live and not executed before (nor taken back by its
    /// owner).
    unsafe fn execute(self) {
        // SAFETY: forwarded from the caller.
        unsafe { (self.execute)(self.job) }
    }
}

/// A closure, its result cell and a latch, on the stack of an owner who
/// blocks until the closure has run (`install` from outside, a shared `join`
/// half).
///
/// The closure is consumed exactly once, by construction: the owner holds
/// the only [`JobRef`] until it queues it, and then either the one thread
/// that pops or steals it runs it ([`execute`](Self::execute), which sets the
/// latch last), or the owner pops it back and calls it itself
/// ([`run_inline`](Self::run_inline)); an owner that never queued it calls
/// it or drops it the same way. No `Option` and no `expect`: the cells are
/// `ManuallyDrop`/`MaybeUninit`, and each unsafe access cites that rule.
pub(crate) struct StackJob<L, F, R> {
    /// Set by the executor as its very last access to the job.
    latch: L,
    /// The closure, until consumed (see the type docs).
    func: UnsafeCell<ManuallyDrop<F>>,
    /// Written once by the executor before the latch is set; read once by
    /// the owner after it sees the latch set.
    result: UnsafeCell<MaybeUninit<std::thread::Result<R>>>,
}

impl<L, F, R> StackJob<L, F, R>
where
    L: SetLatch,
    F: FnOnce(&WorkerThread) -> R + Send,
    R: Send,
{
    /// Wraps `f`, which is handed the worker that runs it; `latch` is set
    /// once it has run.
    #[inline]
    pub(crate) fn new(latch: L, f: F) -> Self {
        StackJob {
            latch,
            func: UnsafeCell::new(ManuallyDrop::new(f)),
            result: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// A queueable reference to this job.
    ///
    /// # Safety
    ///
    /// The caller must keep the job alive and unmoved until it has run (its
    /// latch is set, or the owner took it back), and queue the reference at
    /// most once.
    #[inline]
    pub(crate) unsafe fn as_job_ref(&self) -> JobRef {
        JobRef {
            job: self as *const Self as *const (),
            execute: Self::execute,
        }
    }

    /// The job's key (what its owner waits on): its address.
    #[inline]
    pub(crate) fn key(&self) -> usize {
        self as *const Self as usize
    }

    /// # Safety
    ///
    /// `this` points to a live `StackJob<L, F, R>` whose closure has not been
    /// consumed.
    unsafe fn execute(this: *const ()) {
        // From here to the latch, an unwind would leave the owner waiting on
        // a job that half ran; our code does not panic, and the closure's
        // panic is caught.
        let guard = AbortIfPanic::<region::StackJob>::new();
        // SAFETY: the caller guarantees `this` is a live StackJob<L, F, R>;
        // its owner blocks on the latch, so it stays live until we set it.
        let job = unsafe { &*(this as *const Self) };
        let result = WorkerThread::with_current(|worker| {
            // Only workers pop or steal a pool's jobs.
            let worker = worker.expect("stealpool: a stack job runs on a worker");
            job.latch.note_thief(worker.index);
            // SAFETY: consumed once (the type's rule): we are the executor.
            let f = unsafe { job.take_func() };
            unwind::catch(|| f(worker))
        });
        // SAFETY: the owner reads `result` only after the latch is set below,
        // and nothing else touches it.
        job.result.with_mut(|cell| unsafe { (*cell).write(result) });
        // SAFETY: the job is live until this call, our last access to it;
        // afterwards the owner may free it.
        unsafe { L::set(&job.latch) };
        guard.disarm();
    }

    /// Takes the closure out.
    ///
    /// # Safety
    ///
    /// At most once per job, by whoever consumes it (the type's rule).
    #[inline]
    pub(crate) unsafe fn take_func(&self) -> F {
        // SAFETY: the caller consumes the closure once; no other access to
        // `func` exists at that time.
        self.func
            .with_mut(|f| unsafe { ManuallyDrop::take(&mut *f) })
    }

    /// Runs the job on the owner's own thread, `worker` (never shared, or
    /// popped back before anyone stole it): no latch, no result cell.
    ///
    /// # Safety
    ///
    /// As [`take_func`](Self::take_func): the owner holds the only reference.
    #[inline]
    pub(crate) unsafe fn run_inline(&self, worker: &WorkerThread) -> std::thread::Result<R> {
        // SAFETY: forwarded.
        let f = unsafe { self.take_func() };
        unwind::catch(|| f(worker))
    }

    /// The latch the executor sets after writing the result.
    #[inline]
    pub(crate) fn latch(&self) -> &L {
        &self.latch
    }

    /// Takes the result (`Err` with the payload if the closure panicked).
    ///
    /// # Safety
    ///
    /// The latch must be set (observed with Acquire: `probe`, or a wait that
    /// returned), and the result taken only once.
    #[inline]
    pub(crate) unsafe fn take_result(&self) -> std::thread::Result<R> {
        // SAFETY: the latch is set, so `execute` wrote the result and no
        // longer touches the job; we take it once.
        self.result
            .with_mut(|cell| unsafe { (*cell).assume_init_read() })
    }

    /// [`take_result`](Self::take_result), resuming the closure's panic.
    ///
    /// # Safety
    ///
    /// As `take_result`.
    pub(crate) unsafe fn take_value(&self) -> R {
        // SAFETY: forwarded.
        match unsafe { self.take_result() } {
            Ok(value) => value,
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }
}

/// How a deferred `join` half is armed and queued, its type erased
/// (`pool/deferred.rs`): one per job type, in a `static`.
pub(crate) struct DeferredJob {
    /// Arms the job's latch, owned by the given worker.
    arm: unsafe fn(*const (), &WorkerThread),
    /// `StackJob::<L, F, R>::execute`.
    execute: unsafe fn(*const ()),
}

impl DeferredJob {
    /// Arms the job at `job` for sharing: writes its latch, owned by
    /// `owner`.
    ///
    /// # Safety
    ///
    /// `job` is the live, pending job this table was made for; `owner` is
    /// the worker whose stack holds it; called once, before the job is
    /// shared.
    #[inline]
    pub(crate) unsafe fn arm(&self, job: *const (), owner: &WorkerThread) {
        // SAFETY: forwarded from the caller.
        unsafe { (self.arm)(job, owner) };
    }

    /// The queueable reference to the job at `job`.
    ///
    /// # Safety
    ///
    /// `job` is the job this table was made for, armed before the reference
    /// is shared, and the reference is queued at most once.
    #[inline]
    pub(crate) unsafe fn job_ref(&self, job: *const ()) -> JobRef {
        JobRef {
            job,
            execute: self.execute,
        }
    }
}

impl<'r, F, R> StackJob<LazySpinLatch<'r>, F, R>
where
    F: FnOnce(&WorkerThread) -> R + Send,
    R: Send,
{
    const DEFERRED: DeferredJob = DeferredJob {
        arm: Self::arm_erased,
        execute: Self::execute,
    };

    /// This job as a deferred record (`pool/deferred.rs`): its address and
    /// how to arm it. Nothing of the latch is written until it is armed.
    ///
    /// # Safety
    ///
    /// As [`as_job_ref`](Self::as_job_ref): the job stays alive and unmoved
    /// until it has run or was taken back, and the record is deferred once.
    #[inline]
    pub(crate) unsafe fn as_deferred(&self) -> Deferred {
        Deferred::new(self as *const Self as *const (), &Self::DEFERRED)
    }

    /// # Safety
    ///
    /// `this` points to a live `Self` not shared yet, and `owner` is the
    /// worker whose stack holds it (see [`DeferredJob::arm`]).
    unsafe fn arm_erased(this: *const (), owner: &WorkerThread) {
        // SAFETY: the caller guarantees `this` is a live, unshared Self.
        let job = unsafe { &*(this as *const Self) };
        // SAFETY: `owner` is the very worker whose `&'r WorkerThread` built
        // this job (the one that deferred it): widening the reference to
        // `'r` names the same object for the same span. Armed once, before
        // sharing (the caller's guarantee).
        unsafe { job.latch.arm(&*(owner as *const WorkerThread)) };
    }
}

impl<L, F, R> fmt::Debug for StackJob<L, F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StackJob").finish_non_exhaustive()
    }
}
