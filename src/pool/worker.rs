//! A worker thread: its deque, its main loop, and how it waits.
//!
//! A worker is never blocked outside the pool's sleep protocol while it
//! waits for pool work: its main loop, a `join` or `scope` waiting for work
//! that others took, an `install` into another pool, and a `shutdown` it
//! called all go through [`WorkerThread::wait_until`], which runs whatever
//! work it can find and sleeps only in `Sleep::sleep`, as the owner of the
//! latch it waits for (rayon's "sleep until latch or work").

use std::cell::{Cell, RefCell};
use std::fmt;
use std::ptr;

use super::deferred::Deferred;
use super::job::Job;
use super::lanes::LaneCache;
use super::latch::SpinLatch;
use super::queue::Steal;
use super::queue::Worker;
use super::shared::Shared;
use super::sleep::Idle;
use crate::executor;
use crate::sync::spin::spin_until;
use crate::sync::Arc;
use crate::unwind::{self, region, AbortIfPanic};

/// How long an idle worker keeps looking for work before it sleeps. A task
/// submitted within this window starts without a futex wake (tens of µs on
/// the VMs this crate is tuned on); a worker that then sleeps has burnt at
/// most this much CPU.
const IDLE_SPIN: std::time::Duration = std::time::Duration::from_micros(20);

/// How long a worker waiting for a latch spins for new work or its latch
/// before it sleeps.
const HELP_SPIN: std::time::Duration = std::time::Duration::from_micros(20);

/// One worker, living on its own thread's stack for the thread's life.
pub(crate) struct WorkerThread {
    /// The pool.
    pub(crate) shared: Arc<Shared>,
    /// This worker's index.
    pub(crate) index: usize,
    /// This worker's deque: the owner pushes and pops at one end (LIFO),
    /// thieves steal from the other.
    deque: Worker<Job>,
    /// State of the xorshift generator that picks the first steal victim.
    rng: Cell<u32>,
    /// The newest deferred job on this worker's stack, or null (see
    /// `deferred.rs`). Touched only by this worker.
    pub(super) deferred: Cell<*const Deferred>,
    /// This worker's copy of the pool's lane list (`lanes.rs`).
    lanes: RefCell<LaneCache>,
}

impl WorkerThread {
    /// A worker for `shared` at `index`, owning `deque`.
    pub(crate) fn new(shared: Arc<Shared>, index: usize, deque: Worker<Job>) -> Self {
        WorkerThread {
            shared,
            index,
            deque,
            rng: Cell::new(0x9E37_79B9 ^ (index as u32).wrapping_mul(0x85EB_CA6B) | 1),
            deferred: Cell::new(ptr::null()),
            lanes: RefCell::new(LaneCache::new()),
        }
    }

    /// Calls `f` with the worker running on this thread, if any.
    #[inline]
    pub(crate) fn with_current<R>(f: impl FnOnce(Option<&WorkerThread>) -> R) -> R {
        let worker = executor::current_worker().cast::<WorkerThread>();
        // SAFETY: the thread-local's worker pointer is non-null only while
        // `run` executes on this thread with `self` alive on its stack (its
        // seat guard clears it before `run` returns), and only the thread pool
        // sets it, always to a `WorkerThread`; we are on that thread, inside
        // that call.
        f(unsafe { worker.as_ref() })
    }

    /// Calls `f` with this thread's worker if it belongs to `shared`.
    #[inline]
    pub(crate) fn with_current_of<R>(
        shared: &Shared,
        f: impl FnOnce(Option<&WorkerThread>) -> R,
    ) -> R {
        Self::with_current(|worker| f(worker.filter(|w| ptr::eq(&*w.shared, shared))))
    }

    /// Pushes `job` onto this worker's deque and wakes a sibling if needed.
    #[inline]
    pub(crate) fn push(&self, job: Job) {
        self.deque.push(job);
        self.shared.sleep.new_work();
    }

    /// Pops this worker's own deque (its most recent push first). A pop
    /// that empties the deque raises this worker's own flag, so that its
    /// next `join` shares again (`pool/deferred.rs`).
    #[inline]
    pub(crate) fn pop_local(&self) -> Option<Job> {
        let job = self.deque.pop()?;
        if self.deque.is_empty() {
            self.shared.asks.raise(self.index);
        }
        Some(job)
    }

    /// Finds a job: own deque, then the injector (a batch), then siblings.
    pub(crate) fn find_work(&self) -> Option<Job> {
        if let Some(job) = self.pop_local() {
            return Some(job);
        }
        if let Some(job) = self.shared.steal_injected(&self.deque) {
            return Some(job);
        }
        if let Some(job) = self.steal_lanes() {
            return Some(job);
        }
        let start = self.next_random() as usize % self.shared.num_threads();
        let job = self.shared.steal_sibling(self.index, start)?;
        self.shared.stats[self.index].stole();
        Some(job)
    }

    /// Takes a job from an outside thread's lane, moving a batch (this
    /// worker's fair share) into its own deque; prunes lanes whose thread
    /// exited once they are empty.
    fn steal_lanes(&self) -> Option<Job> {
        let shared = &*self.shared;
        let mut cache = self.lanes.borrow_mut();
        let lanes = cache.get(&shared.lanes);
        if lanes.is_empty() {
            return None;
        }
        let start = self.next_random() as usize % lanes.len();
        let mut spent = false;
        for offset in 0..lanes.len() {
            let lane = &lanes[(start + offset) % lanes.len()];
            let limit = (lane.len() / shared.num_threads()).max(1);
            loop {
                match lane.steal_batch_and_pop(&self.deque, limit) {
                    Steal::Success(job) => return Some(job),
                    Steal::Empty => break,
                    Steal::Retry => {}
                }
            }
            spent |= lane.is_spent();
        }
        drop(cache);
        if spent {
            shared.lanes.prune();
        }
        None
    }

    /// Whether any queue of the pool holds a job (a snapshot), reading the
    /// lanes through this worker's copy of their list.
    #[inline]
    pub(crate) fn has_work(&self) -> bool {
        // mutant: lanes-not-rechecked s/ || self.lanes_have_work()//
        self.shared.has_work_but_lanes() || self.lanes_have_work()
    }

    /// Whether an outside thread's lane holds a job (a snapshot).
    fn lanes_have_work(&self) -> bool {
        let mut cache = self.lanes.borrow_mut();
        let lanes = cache.get(&self.shared.lanes);
        lanes.iter().any(|lane| !lane.is_empty())
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

    /// Runs (or, in `shutdown_now`, abandons) one job, with its key recorded
    /// as running on this worker. Never unwinds: a panic that escapes the job
    /// (a `spawn`'s, or one from a `Drop` the job ran) is reported to the
    /// panic handler.
    ///
    /// Split by kind so that the common one, a `spawn`ed closure, goes to
    /// [`execute_spawn`](Self::execute_spawn) in two registers: moving the
    /// whole three-word `Job` through the stack cost a store-forwarding
    /// stall per job (`perf annotate`: half of the main loop's samples).
    #[inline(always)]
    pub(crate) fn execute(&self, job: Job) {
        match job {
            Job::Spawn(f) => self.execute_spawn(f),
            job => self.execute_other(job),
        }
    }

    /// [`execute`](Self::execute) for a `spawn`ed closure: nobody waits on
    /// it, so no key is recorded.
    #[inline(never)]
    fn execute_spawn(&self, f: Box<dyn FnOnce() + Send + 'static>) {
        let shared = &*self.shared;
        let stats = &shared.stats[self.index];
        stats.set_running(true);
        let outcome = if shared.is_shutting_down_now() {
            unwind::drop_caught(f)
        } else {
            unwind::catch(f)
        };
        self.finish(outcome);
    }

    /// [`execute`](Self::execute) for a job someone may wait on: its key is
    /// recorded while it runs.
    #[inline(never)]
    fn execute_other(&self, job: Job) {
        let shared = &*self.shared;
        shared.stats[self.index].set_running(true);
        let abandon = shared.is_shutting_down_now();
        let key = job.key();
        debug_assert_ne!(
            key, 0,
            "only a spawn has no key, and `execute_spawn` runs those"
        );
        let outcome = shared.roster.running(self.index, key, move || {
            unwind::catch(move || if abandon { job.abandon() } else { job.run() })
        });
        self.finish(outcome);
    }

    /// Counts a job done and reports its escaped panic, if any.
    #[inline]
    fn finish(&self, outcome: Result<(), unwind::Payload>) {
        let shared = &*self.shared;
        let stats = &shared.stats[self.index];
        stats.set_running(false);
        stats.job_done();
        if let Err(payload) = outcome {
            executor::report_panic(Some(shared.id), payload);
        }
    }

    /// Keeps busy until `latch` is set: runs work that `thief` (the worker
    /// running what the latch waits for) may depend on first — it steals from
    /// the thief's deque (leapfrogging, as Java's ForkJoinPool does) — then
    /// any work it can find (own deque, injector, siblings), asking idle
    /// siblings' busy peers to share; with none, it sleeps in the pool's sleep
    /// protocol as the latch's owner, marked blocked on `blocked` (`None`:
    /// not marked, the wait is on something outside the pool's jobs).
    #[inline]
    pub(crate) fn wait_until(
        &self,
        latch: &SpinLatch<'_>,
        blocked: Option<&[usize]>,
        thief: Option<usize>,
    ) {
        if !latch.probe() {
            self.wait_until_cold(latch, blocked, thief);
        }
    }

    #[cold]
    fn wait_until_cold(
        &self,
        latch: &SpinLatch<'_>,
        blocked: Option<&[usize]>,
        thief: Option<usize>,
    ) {
        // Callers own frames that other threads may still use until the
        // latch is set: this loop must not unwind before then (jobs run here
        // catch their own panics).
        let guard = AbortIfPanic::<region::LatchWait>::new();
        let shared = &*self.shared;
        let sleep = &shared.sleep;
        let mut idle = Idle::new();
        while !latch.probe() {
            let job = thief
                .and_then(|thief| shared.steal_from(thief))
                .or_else(|| self.find_work());
            if let Some(job) = job {
                sleep.work_found(&mut idle, || self.has_work());
                self.execute(job);
                continue;
            }
            // Nothing queued, but frames lower on this stack may hold
            // deferred `join` halves: share the oldest (this worker pops it
            // next, unless a sibling steals it first) rather than idle.
            if self.promote_oldest() {
                continue;
            }
            sleep.start_searching(&mut idle);
            // Idle while waiting: ask the siblings (the thief among them) to
            // share deferred work.
            shared.asks.ask_all_but(self.index);
            if spin_until(HELP_SPIN, None, || latch.probe() || self.has_work()) {
                continue;
            }
            let _blocked = blocked.map(|keys| shared.roster.block(self.index, keys));
            sleep.sleep(
                self.index,
                &mut idle,
                || self.has_work(),
                Some(crate::latch::SetLatch::core(latch)),
            );
        }
        sleep.work_found(&mut idle, || self.has_work());
        guard.disarm();
    }

    /// The main loop: runs until the pool shuts down and the queues are
    /// empty.
    pub(crate) fn run(&self) {
        // A panic here is a bug of ours: unwinding would lose this worker's
        // deque and strand everyone waiting on its jobs.
        let guard = AbortIfPanic::<region::MainLoop>::new();
        let shared = &*self.shared;
        let sleep = &shared.sleep;
        let mut idle = Idle::new();
        loop {
            if let Some(job) = self.find_work() {
                sleep.work_found(&mut idle, || self.has_work());
                self.execute(job);
                continue;
            }
            if shared.may_exit() {
                if !self.has_work() {
                    break;
                }
                continue;
            }
            if shared.is_shut_down() {
                // An outside submission is between its gate check and its
                // push: it lands in a moment; let it run.
                crate::sync::thread::yield_now();
                continue;
            }
            sleep.start_searching(&mut idle);
            // Idle: ask busy siblings to share their deferred `join` halves.
            shared.asks.ask_all_but(self.index);
            if spin_until(IDLE_SPIN, None, || self.has_work() || shared.is_shut_down()) {
                continue;
            }
            // Going to sleep: leave the ask standing, so that a busy sibling's
            // next `join` shares a half (its push wakes us) even if it had
            // already answered our earlier ask.
            shared.asks.ask_all_but(self.index);
            sleep.sleep(
                self.index,
                &mut idle,
                || self.has_work() || shared.is_shut_down(),
                None,
            );
        }
        sleep.work_found(&mut idle, || false);
        guard.disarm();
    }
}

impl fmt::Debug for WorkerThread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerThread")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}
