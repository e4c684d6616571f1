//! What the queues hold: a task to run or cancel, a fire-and-forget closure,
//! or a job on a blocked caller's stack.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::executor::Payload;
use crate::latch::Latch;
use crate::sync::atomic::AtomicUsize;
use crate::sync::atomic::Ordering::Relaxed;
use crate::sync::UnsafeCell;
use crate::task::Runnable;

/// One unit of queued work.
pub(crate) enum Job {
    /// A `submit`ted task (its handle may be waiting on it).
    Task(Runnable),
    /// A `spawn`ed closure; a panic goes to the pool's panic handler.
    Spawn(Box<dyn FnOnce() + Send + 'static>),
    /// A job on the stack of a caller blocked in `install` or `join` until
    /// it runs.
    Stack(StackJobRef),
    /// A `Scope::spawn`ed closure: it catches its own panic for its scope,
    /// and must run even in `shutdown_now` (its scope waits for it).
    Scoped(Box<dyn FnOnce() + Send + 'static>),
}

/// What running a job produced that the worker must report.
pub(crate) enum Ran {
    /// Nothing to report.
    Quiet,
    /// A `spawn`ed closure panicked: hand the payload to the panic handler.
    SpawnPanicked(Payload),
}

impl Job {
    /// Runs the job on this thread. Never unwinds: every user panic is
    /// caught (tasks store theirs; spawn panics are returned).
    pub(crate) fn run(self) -> Ran {
        match self {
            Job::Task(task) => {
                task.run();
                Ran::Quiet
            }
            Job::Spawn(f) => match catch_unwind(AssertUnwindSafe(f)) {
                Ok(()) => Ran::Quiet,
                Err(payload) => Ran::SpawnPanicked(payload),
            },
            Job::Stack(job) => {
                // SAFETY: a `StackJobRef` in a queue points to a live job whose
                // owner blocks until it has run (see `StackJob::as_job`).
                unsafe { job.execute() };
                Ran::Quiet
            }
            // The scope's wrapper catches the closure's panic itself; a panic
            // escaping it would be a bug of ours, reported like a spawn's.
            Job::Scoped(f) => match catch_unwind(AssertUnwindSafe(f)) {
                Ok(()) => Ran::Quiet,
                Err(payload) => Ran::SpawnPanicked(payload),
            },
        }
    }

    /// Disposes of the job during `shutdown_now`: a task is cancelled, a
    /// spawned closure is dropped unrun, and a stack job or a scope's job
    /// still runs (its caller is blocked on it).
    pub(crate) fn abandon(self) -> Ran {
        match self {
            Job::Task(task) => {
                task.cancel();
                Ran::Quiet
            }
            Job::Spawn(f) => match catch_unwind(AssertUnwindSafe(move || drop(f))) {
                Ok(()) => Ran::Quiet,
                Err(payload) => Ran::SpawnPanicked(payload),
            },
            waited_on @ (Job::Stack(_) | Job::Scoped(_)) => waited_on.run(),
        }
    }
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

/// A fork that `join` has not shared yet: the second half of a `join`,
/// recorded on the caller's stack instead of pushed onto the deque. The
/// worker keeps its live frames in a list (newest first); when a sibling asks
/// for work, the worker *promotes* its oldest frame — pushes the job where
/// thieves can steal it (heartbeat scheduling, as Spice and chili do).
pub(crate) struct JoinFrame {
    /// The job, until promoted (then `None`: it is in the deque). A bare
    /// `StackJobRef` (no drop glue): the common `join` takes it back unshared.
    pending: std::cell::Cell<Option<StackJobRef>>,
    /// The frame of the enclosing `join` on this worker, or null.
    older: *const JoinFrame,
}

impl JoinFrame {
    /// A frame for `job`, enclosed by `older`.
    #[inline]
    pub(crate) fn new(job: StackJobRef, older: *const JoinFrame) -> Self {
        JoinFrame {
            pending: std::cell::Cell::new(Some(job)),
            older,
        }
    }

    /// The enclosing frame.
    #[inline]
    pub(crate) fn older(&self) -> *const JoinFrame {
        self.older
    }

    /// Takes the job out: `Some` if it was never promoted.
    #[inline]
    pub(crate) fn take(&self) -> Option<StackJobRef> {
        self.pending.take()
    }

    /// Whether the job is still here (not promoted).
    pub(crate) fn is_pending(&self) -> bool {
        let job = self.pending.take();
        let pending = job.is_some();
        self.pending.set(job);
        pending
    }
}

impl fmt::Debug for JoinFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinFrame")
            .field("pending", &self.is_pending())
            .finish()
    }
}

/// A type-erased pointer to a [`StackJob`].
pub(crate) struct StackJobRef {
    /// The job, lifetime erased.
    job: *const (),
    /// `StackJob::<F, R>::execute`.
    execute: unsafe fn(*const ()),
}

// SAFETY: a `StackJobRef` is only created for a job whose closure and result
// are `Send`, and it is executed exactly once, by one thread.
unsafe impl Send for StackJobRef {}

impl StackJobRef {
    /// Whether this refers to the job at `job`.
    pub(crate) fn is(&self, job: *const ()) -> bool {
        std::ptr::eq(self.job, job)
    }

    /// Runs the job and sets its latch.
    ///
    /// # Safety
    ///
    /// The job must be live and not executed before.
    unsafe fn execute(self) {
        // SAFETY: forwarded from the caller.
        unsafe { (self.execute)(self.job) }
    }
}

/// A closure and its result slot, on the stack of a caller who blocks on
/// the latch until a worker has run it.
pub(crate) struct StackJob<F, R> {
    /// Taken once, by the executor.
    func: UnsafeCell<Option<F>>,
    /// Written once by the executor before the latch is set; read by the
    /// owner after the latch is set.
    result: UnsafeCell<Option<std::thread::Result<R>>>,
    /// Set by the executor as its very last access to the job.
    latch: Latch,
    /// The index of the worker that took the job (`usize::MAX` until then):
    /// a `join` waiting for a stolen half helps that worker first.
    thief: AtomicUsize,
}

impl<F, R> StackJob<F, R>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    /// Wraps `f`.
    #[inline]
    pub(crate) fn new(f: F) -> Self {
        StackJob {
            func: UnsafeCell::new(Some(f)),
            result: UnsafeCell::new(None),
            latch: Latch::new(),
            thief: AtomicUsize::new(usize::MAX),
        }
    }

    /// A queueable reference to this job.
    ///
    /// # Safety
    ///
    /// The caller must keep the job alive and unmoved until
    /// [`wait_and_take`](Self::wait_and_take) returns, and queue the reference
    /// exactly once.
    pub(crate) unsafe fn as_job(&self) -> Job {
        // SAFETY: forwarded: the caller's obligations are `as_job_ref`'s.
        Job::Stack(unsafe { self.as_job_ref() })
    }

    /// A reference to this job, to be wrapped in `Job::Stack` if it is ever
    /// queued.
    ///
    /// # Safety
    ///
    /// As [`as_job`](Self::as_job): the job must stay alive and unmoved
    /// until it has run, and the reference be queued at most once.
    #[inline]
    pub(crate) unsafe fn as_job_ref(&self) -> StackJobRef {
        StackJobRef {
            job: self as *const Self as *const (),
            execute: Self::execute,
        }
    }

    /// # Safety
    ///
    /// `this` points to a live `StackJob<F, R>` that has not been executed.
    unsafe fn execute(this: *const ()) {
        // SAFETY: the caller guarantees `this` is a live StackJob<F, R>; the
        // owner blocks on the latch, so it stays live until we set it.
        let job = unsafe { &*(this as *const Self) };
        if let Some(index) = crate::executor::current().map(|ctx| ctx.index) {
            // Relaxed: a hint for the waiting owner's choice of victim.
            job.thief.store(index, Relaxed);
        }
        // SAFETY: executed once: we are the only party touching `func`.
        let f = job.func.with_mut(|f| unsafe { (*f).take() });
        let result = catch_unwind(AssertUnwindSafe(f.expect("a stack job runs once")));
        // SAFETY: the owner reads `result` only after the latch is set below.
        job.result.with_mut(|slot| unsafe { *slot = Some(result) });
        // SAFETY: the latch is live now; after this call the owner may free
        // the job, and we do not touch it again.
        unsafe { Latch::set(&job.latch) };
    }

    /// Runs the job on the owner's own thread, having popped its reference
    /// back from the deque before anyone stole it: no latch, no result slot.
    #[inline]
    pub(crate) fn run_inline(&self) -> std::thread::Result<R> {
        // SAFETY: the owner popped the only reference to this job back, so no
        // other thread can execute it; we are the only party touching `func`.
        let f = self.func.with_mut(|f| unsafe { (*f).take() });
        catch_unwind(AssertUnwindSafe(f.expect("a stack job runs once")))
    }

    /// The job's address, to recognise its `StackJobRef` when popped back.
    pub(crate) fn addr(&self) -> *const () {
        self as *const Self as *const ()
    }

    /// The worker that took the job, if one did (a hint).
    pub(crate) fn thief(&self) -> Option<usize> {
        // Relaxed: a hint (see the field).
        let thief = self.thief.load(Relaxed);
        (thief != usize::MAX).then_some(thief)
    }

    /// The latch the executor sets after writing the result.
    pub(crate) fn latch(&self) -> &Latch {
        &self.latch
    }

    /// Takes the result (`Err` with the payload if the closure panicked).
    ///
    /// # Panics
    ///
    /// If the latch is not set yet (the job has not run).
    pub(crate) fn take_result(&self) -> std::thread::Result<R> {
        assert!(
            self.latch.probe(),
            "StackJob::take_result before the job ran"
        );
        // SAFETY: the latch is set (Acquire in `probe`): the executor wrote the
        // result and no longer touches the job.
        let result = self.result.with_mut(|slot| unsafe { (*slot).take() });
        result.expect("a job whose latch is set has a result")
    }

    /// Blocks until the job has run, then returns its result, resuming its
    /// panic if it panicked.
    pub(crate) fn wait_and_take(&self) -> R {
        self.latch.wait();
        match self.take_result() {
            Ok(value) => value,
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }
}

impl<F, R> fmt::Debug for StackJob<F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StackJob")
            .field("latch", &self.latch)
            .finish()
    }
}
