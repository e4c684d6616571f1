//! Entry points for the loom models in `loom-tests/` (only under
//! `cfg(loom)`; outside semver).
//!
//! The models drive internal protocols that the public API reaches only
//! through a pool: the task slot without a scheduler, the latch, and the
//! sleep/wake protocol on its own.

use crate::latch::{self, SetLatch};
use crate::pool::queue::{Injector, Steal};
use crate::pool::sleep::{Idle, Sleep};
use crate::sync::Arc;
use crate::task::{self, Runnable};
use crate::{executor::ExecutorId, Task};

/// The scheduler's side of a task made by [`task`].
#[derive(Debug)]
pub struct Runner(Runnable);

impl Runner {
    /// Runs the task unless it was claimed or cancelled.
    pub fn run(self) {
        self.0.run();
    }

    /// Cancels the task unless it was claimed.
    pub fn cancel(self) {
        self.0.cancel();
    }
}

/// A pending task for `f`, and its runner, with no pool behind them.
pub fn task<F, T>(f: F) -> (Task<T>, Runner)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (task, runnable) = task::new_task(ExecutorId::next(), f);
    (task, Runner(runnable))
}

/// How many `wait` callers are registered in `task`'s waiter list.
pub fn registered_waiters<T: Send + 'static>(task: &Task<T>) -> usize {
    task.registered_waiters()
}

/// The completing side of a task made by [`promise`] (the process pool's).
#[derive(Debug)]
pub struct Promise<T: Send + 'static>(task::Promise<T>);

impl<T: Send + 'static> Promise<T> {
    /// Claims the task and, if that succeeded, completes it with `value`;
    /// returns whether it did (the task was not cancelled first).
    pub fn claim_and_complete(self, value: T) -> bool {
        if !self.0.claim() {
            return false;
        }
        self.0.complete(Ok(value));
        true
    }

    /// Claims the task, gives it back unstarted (a process-pool call that
    /// never reached a worker), then claims it again and completes it with
    /// `value`; returns whether it completed it (no cancel came first).
    pub fn claim_give_back_and_complete(self, value: T) -> bool {
        if !self.0.claim() {
            return false;
        }
        self.0.unclaim();
        if !self.0.claim() {
            return false;
        }
        self.0.complete(Ok(value));
        true
    }

    /// Claims the task and drops the promise unfinished (a supervisor thread
    /// that stopped mid-task); returns whether the claim succeeded.
    pub fn claim_and_abandon(self) -> bool {
        self.0.claim()
    }
}

/// A pending task that no closure runs, and its promise.
pub fn promise<T: Send + 'static>() -> (Task<T>, Promise<T>) {
    let (task, promise) = task::promise();
    (task, Promise(promise))
}

/// A shareable one-shot latch whose owner is a thread outside the pools.
#[derive(Debug)]
pub struct Latch(latch::LockLatch);

impl Latch {
    /// An unset latch in an `Arc`.
    pub fn new() -> Arc<Latch> {
        Arc::new(Latch(latch::LockLatch::new()))
    }

    /// Sets it (the setter touches it only through the releasing swap).
    pub fn set(&self) {
        // SAFETY: `&self` keeps the latch alive for the call.
        unsafe { SetLatch::set(&self.0 as *const latch::LockLatch) }
    }

    /// Blocks until set.
    pub fn wait(&self) {
        self.0.wait();
    }

    /// Whether it is set.
    pub fn probe(&self) -> bool {
        self.0.core().probe()
    }
}

/// The pool's sleep/wake protocol on its own: the real `Sleep` and the real
/// loom queue stand-in (an injector), driven the way `WorkerThread::run`
/// drives them, without the rest of the pool (no shutdown, no asks, no
/// spinning). A small state space for the hand-offs between producers,
/// searchers and sleepers.
#[derive(Debug)]
pub struct Sleepers {
    sleep: Sleep,
    queue: Injector<u32>,
}

impl Sleepers {
    /// State for `workers` workers, none searching or asleep, no job queued.
    pub fn new(workers: usize) -> Arc<Sleepers> {
        Arc::new(Sleepers {
            sleep: Sleep::new(workers),
            queue: Injector::new(),
        })
    }

    /// A producer's push: the job, then `new_work` (F1 and the wake).
    pub fn push(&self, job: u32) {
        self.queue.push(job);
        self.sleep.new_work();
    }

    /// Worker `index`'s loop, as `WorkerThread::run`'s: take a job and run
    /// it (`run`, which says whether to stop), or search and sleep.
    pub fn work(&self, index: usize, mut run: impl FnMut(u32) -> bool) {
        let mut idle = Idle::new();
        loop {
            let job = loop {
                match self.queue.steal() {
                    Steal::Success(job) => break Some(job),
                    Steal::Empty => break None,
                    Steal::Retry => {}
                }
            };
            if let Some(job) = job {
                self.sleep.work_found(&mut idle, || !self.queue.is_empty());
                if run(job) {
                    return;
                }
                continue;
            }
            self.sleep.start_searching(&mut idle);
            self.sleep
                .sleep(index, &mut idle, || !self.queue.is_empty(), None);
        }
    }
}

/// `in_place_scope` as a thread outside every pool runs it, with `pool`
/// standing in for the global pool (a static, which loom cannot reset
/// between executions).
pub fn in_place_scope_on<'env, F, R>(pool: &crate::ThreadPool, f: F) -> R
where
    F: for<'scope> FnOnce(&'scope crate::Scope<'scope, 'env>) -> R,
{
    crate::forkjoin::scope_outside(pool.shared(), f)
}

/// Workers of a pool without its threads: the real `Shared` state, the real
/// `WorkerThread`s and their latch waits, driven by the model's own threads
/// (so a model can put one worker to sleep on a latch and set it from
/// another, without the rest of the pool's state space).
#[derive(Debug)]
pub struct Workers {
    shared: Arc<crate::pool::shared::Shared>,
    deques: crate::sync::Mutex<Vec<Option<crate::pool::queue::Worker<crate::pool::job::Job>>>>,
}

impl Workers {
    /// `n` workers' state, nobody running them yet.
    pub fn new(n: usize) -> Arc<Workers> {
        let deques: Vec<_> = (0..n)
            .map(|_| crate::pool::queue::Worker::new_lifo())
            .collect();
        let shared = crate::pool::shared::Shared::new(
            deques
                .iter()
                .map(crate::pool::queue::Worker::stealer)
                .collect(),
            (0..n).map(|i| format!("w{i}")).collect(),
            None,
            None,
        );
        Arc::new(Workers {
            shared: Arc::new(shared),
            deques: crate::sync::Mutex::new(deques.into_iter().map(Some).collect()),
        })
    }

    /// Runs `f` on this thread as worker `index` (its seat and deque).
    pub fn run_as<R>(&self, index: usize, f: impl FnOnce(&WorkerRef<'_>) -> R) -> R {
        let deque = self.deques.lock()[index]
            .take()
            .expect("each worker is run once");
        let worker = crate::pool::worker::WorkerThread::new(Arc::clone(&self.shared), index, deque);
        // SAFETY: the `Shared` state (kept alive by `self`) and `worker` (this frame)
        // outlive the guard, dropped at the end of this frame.
        let _seat = unsafe {
            self.shared.roster.enter(
                index,
                &worker as *const crate::pool::worker::WorkerThread as *const (),
            )
        };
        f(&WorkerRef(&worker))
    }
}

/// A worker being run by a model thread (see [`Workers::run_as`]).
#[derive(Debug)]
pub struct WorkerRef<'a>(&'a crate::pool::worker::WorkerThread);

impl<'a> WorkerRef<'a> {
    /// A latch owned by this worker (a `join`'s, a scope's): set by another
    /// worker of the same pool.
    pub fn latch(&self) -> WorkerLatch<'a> {
        WorkerLatch(crate::pool::latch::SpinLatch::new(self.0))
    }

    /// Waits for `latch` as a `join` does: runs pool work, else sleeps in the
    /// pool's sleep protocol as the latch's owner.
    pub fn wait_until(&self, latch: &WorkerLatch<'_>) {
        self.0.wait_until(&latch.0, None, None);
        latch.0.retire();
    }
}

/// A latch owned by a [`WorkerRef`].
#[derive(Debug)]
pub struct WorkerLatch<'a>(crate::pool::latch::SpinLatch<'a>);

impl WorkerLatch<'_> {
    /// Sets the latch and wakes its owner.
    ///
    /// # Safety
    ///
    /// `this` must be live when the call starts (its owner waits for it); the
    /// caller must be a worker of the owner's pool (or keep it alive).
    pub unsafe fn set(this: *const Self) {
        // SAFETY: forwarded; `SpinLatch::set` touches the latch only before
        // its publishing swap.
        unsafe { SetLatch::set(std::ptr::addr_of!((*this).0)) }
    }
}
