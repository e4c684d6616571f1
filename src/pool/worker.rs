//! A worker thread: its deque, its main loop, and the thread-local that
//! lets code running on it find its pool.

use std::cell::Cell;
use std::fmt;
use std::ptr;

use super::job::Job;
use super::queue::Worker;
use super::registry::Registry;
use super::sleep::Idle;
use crate::executor::{self, WorkerContext, WorkerGuard};
use crate::latch::Latch;
use crate::sync::spin::spin_until;
use crate::sync::Arc;

/// How long an idle worker keeps looking for work before it sleeps. A task
/// submitted within this window starts without a futex wake (tens of µs on
/// the VMs this crate is tuned on); a worker that then sleeps has burnt at
/// most this much CPU.
const IDLE_SPIN: std::time::Duration = std::time::Duration::from_micros(50);

/// How long a worker waiting in `join`/`scope` spins for new work or its
/// latch before it sleeps on the latch.
const HELP_SPIN: std::time::Duration = std::time::Duration::from_micros(20);

/// One worker, living on its own thread's stack for the thread's life.
pub(crate) struct WorkerThread {
    /// The pool.
    pub(crate) registry: Arc<Registry>,
    /// This worker's index.
    pub(crate) index: usize,
    /// This worker's deque: the owner pushes and pops at one end (LIFO),
    /// thieves steal from the other.
    deque: Worker<Job>,
    /// State of the xorshift generator that picks the first steal victim.
    rng: Cell<u32>,
    /// This worker already left the `alive` count (it called `shutdown`).
    left: Cell<bool>,
}

crate::sync::thread_local! {
    /// The worker running on this thread, while its main loop runs.
    // loom's `thread_local!` has no `const { }` form; the shim serves both.
    #[allow(clippy::missing_const_for_thread_local)]
    static CURRENT: Cell<*const WorkerThread> = Cell::new(ptr::null());
}

impl WorkerThread {
    /// A worker for `registry` at `index`, owning `deque`.
    pub(crate) fn new(registry: Arc<Registry>, index: usize, deque: Worker<Job>) -> Self {
        WorkerThread {
            registry,
            index,
            deque,
            rng: Cell::new(0x9E37_79B9 ^ (index as u32).wrapping_mul(0x85EB_CA6B) | 1),
            left: Cell::new(false),
        }
    }

    /// Calls `f` with the worker running on this thread, if any.
    #[inline]
    pub(crate) fn with_current<R>(f: impl FnOnce(Option<&WorkerThread>) -> R) -> R {
        let worker = CURRENT.with(Cell::get);
        // SAFETY: CURRENT is non-null only while `run` executes on this
        // thread with `self` alive on its stack (it is reset before `run`
        // returns), and we are on that thread, inside that call.
        f(unsafe { worker.as_ref() })
    }

    /// Calls `f` with this thread's worker if it belongs to `registry`.
    #[inline]
    pub(crate) fn with_current_of<R>(
        registry: &Registry,
        f: impl FnOnce(Option<&WorkerThread>) -> R,
    ) -> R {
        Self::with_current(|worker| f(worker.filter(|w| ptr::eq(&*w.registry, registry))))
    }

    /// Pushes `job` onto this worker's deque and wakes a sibling if needed.
    #[inline]
    pub(crate) fn push(&self, job: Job) {
        self.deque.push(job);
        self.registry.sleep.new_work();
    }

    /// Pushes a job that this worker will run itself if nobody steals it
    /// (`join`'s second half), waking a sibling only on a cheap hint: a
    /// wake-up lost to a sibling falling asleep at this instant costs
    /// parallelism, never progress, since the pusher pops the job back.
    #[inline]
    pub(crate) fn push_own(&self, job: Job) {
        self.deque.push(job);
        self.registry.sleep.new_work_hint();
    }

    /// Pops this worker's own deque (its most recent push first).
    #[inline]
    pub(crate) fn pop_local(&self) -> Option<Job> {
        self.deque.pop()
    }

    /// Finds a job: own deque, then the injector (a batch), then siblings.
    pub(crate) fn find_work(&self) -> Option<Job> {
        if let Some(job) = self.deque.pop() {
            return Some(job);
        }
        if let Some(job) = self.registry.steal_injected(&self.deque) {
            return Some(job);
        }
        let start = self.next_random() as usize % self.registry.num_threads();
        let job = self.registry.steal_sibling(self.index, start)?;
        self.registry.stats[self.index].stole();
        Some(job)
    }

    /// xorshift32: cheap, good enough to spread thieves over victims.
    fn next_random(&self) -> u32 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng.set(x);
        x
    }

    /// Runs (or, in `shutdown_now`, abandons) one job.
    pub(crate) fn execute(&self, job: Job) {
        let stats = &self.registry.stats[self.index];
        stats.set_running(true);
        let ran = if self.registry.is_shutting_down_now() {
            job.abandon()
        } else {
            job.run()
        };
        stats.set_running(false);
        stats.job_done();
        self.registry.report(ran);
    }

    /// Runs every job this worker can find until none is left and no outside
    /// submission is in flight: the calling worker's share of a `shutdown`.
    pub(crate) fn drain(&self) {
        loop {
            if let Some(job) = self.find_work() {
                self.execute(job);
            } else if self.registry.may_exit() && !self.registry.has_work() {
                return;
            } else {
                crate::sync::thread::yield_now();
            }
        }
    }

    /// Keeps busy until `latch` is set: runs whatever work this worker can
    /// find (its own deque, the injector, siblings) and sleeps on the latch
    /// only when there is none. Used by `join` and `scope`, whose latch is set
    /// by whoever runs their last job.
    pub(crate) fn wait_helping(&self, latch: &Latch) {
        while !latch.probe() {
            match self.find_work() {
                Some(job) => self.execute(job),
                None => {
                    // Nothing to help with: spin a little, then sleep on the
                    // latch itself (its setter wakes us).
                    if !spin_until(HELP_SPIN, None, || {
                        latch.probe() || self.registry.has_work()
                    }) {
                        latch.wait();
                    }
                }
            }
        }
    }

    /// Leaves the `alive` count once (a worker blocking in `shutdown`).
    pub(crate) fn leave(&self) {
        if !self.left.replace(true) {
            self.registry.worker_left();
        }
    }

    /// The main loop: runs until the pool shuts down and the queues are
    /// empty.
    pub(crate) fn run(&self) {
        let _context = WorkerGuard::enter(WorkerContext {
            executor: self.registry.id,
            index: self.index,
        });
        CURRENT.with(|current| current.set(self));
        let mut idle = Idle::new();
        let sleep = &self.registry.sleep;
        loop {
            if let Some(job) = self.find_work() {
                sleep.work_found(&mut idle, || self.registry.has_work());
                self.execute(job);
                continue;
            }
            if self.registry.may_exit() {
                if !self.registry.has_work() {
                    break;
                }
                continue;
            }
            if self.registry.is_shut_down() {
                // An outside submission is between its gate check and its
                // push: it lands in a moment; let it run.
                crate::sync::thread::yield_now();
                continue;
            }
            sleep.start_searching(&mut idle);
            if spin_until(IDLE_SPIN, None, || {
                self.registry.has_work() || self.registry.is_shut_down()
            }) {
                continue;
            }
            sleep.sleep(self.index, &mut idle, || {
                self.registry.has_work() || self.registry.is_shut_down()
            });
        }
        sleep.work_found(&mut idle, || false);
        CURRENT.with(|current| current.set(ptr::null()));
        debug_assert!(executor::current().is_some());
    }

    /// Whether this worker already left the `alive` count.
    pub(crate) fn has_left(&self) -> bool {
        self.left.get()
    }
}

impl fmt::Debug for WorkerThread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerThread")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}
