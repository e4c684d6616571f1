//! The state a pool's handle and its workers share: the queues, the sleep
//! state, the roster, the shutdown gate, the threads and the hooks.
//!
//! The pool's protocols live beside it: the one way in (`entry.rs`), the
//! sleep/wake protocol (`sleep.rs`), shutdown (`shutdown.rs`).

use std::fmt;

use crossbeam_utils::CachePadded;

use super::deferred::Asks;
use super::job::Job;
use super::lanes::{self, Lanes};
use super::queue::{Injector, Steal, Stealer};
use super::sleep::Sleep;
use super::stats::{PoolStats, WorkerStats};
use crate::executor::{self, ExecutorId, PanicHandler, Roster};
use crate::sync::atomic::AtomicUsize;
use crate::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use crate::sync::thread::JoinHandle;
use crate::sync::{Mutex, StdArc};

/// Set once by the first `shutdown`/`shutdown_now`: no more outside
/// submissions; workers exit when the queues are empty.
pub(super) const SHUTDOWN: usize = 1 << 0;
/// Set by `shutdown_now`: queued jobs are abandoned instead of run.
pub(super) const NOW: usize = 1 << 1;
/// One outside submission between its gate check and its push.
pub(super) const INJECTING_ONE: usize = 1 << 2;

/// A per-worker hook (`on_thread_start`, `on_thread_stop`); a plain `std`
/// `Arc`, as `PanicHandler` (configuration, not protocol).
pub(crate) type Hook = StdArc<dyn Fn(usize) + Send + Sync + 'static>;

/// An outside submission the shut-down pool refused: the job, handed back
/// for the caller to dispose of.
#[derive(Debug)]
pub(crate) struct Rejected(pub(crate) Job);

/// A pool's shared state: what its handle and its workers share (the
/// same word as the process pool's `Shared`; `process::Registry` is the
/// unrelated public table of remote functions).
pub(crate) struct Shared {
    /// This pool's identity (tasks record it as their home).
    pub(crate) id: ExecutorId,
    /// Submissions from outside the pool (FIFO).
    pub(super) injector: Injector<Job>,
    /// Outside threads' own queues into the pool (`lanes.rs`).
    pub(crate) lanes: Lanes,
    /// Thieves' handles on each worker's deque, by worker index.
    pub(super) stealers: Box<[Stealer<Job>]>,
    /// Who sleeps, who searches.
    pub(crate) sleep: Sleep,
    /// What each worker runs and waits for (read by `shutdown`).
    pub(crate) roster: Roster,
    /// Idle workers' requests for deferred work.
    pub(crate) asks: Asks,
    /// `SHUTDOWN | NOW | in-flight outside submissions × INJECTING_ONE`.
    /// Padded: every outside submission RMWs it twice.
    pub(super) gate: CachePadded<AtomicUsize>,
    /// `SHUTDOWN | NOW` again, on a line of its own that only shutdown
    /// writes: the hot paths (every executed job, every idle spin) read the
    /// flags here instead of pulling in the line submissions keep writing.
    pub(super) flags: CachePadded<AtomicUsize>,
    /// The worker threads' handles, by index; taken by `shutdown` to join.
    pub(crate) threads: Mutex<Vec<Option<JoinHandle<()>>>>,
    /// Worker names, by index.
    pub(crate) names: Box<[String]>,
    /// Runs on each worker as it exits.
    pub(crate) stop_hook: Option<Hook>,
    /// Per-worker counters, by index.
    pub(crate) stats: Box<[CachePadded<WorkerStats>]>,
    /// Whether a panic handler is registered for `id` (to unregister).
    has_panic_handler: bool,
}

impl Shared {
    /// The shared state for workers whose deques' stealers are `stealers`.
    pub(crate) fn new(
        stealers: Vec<Stealer<Job>>,
        names: Vec<String>,
        panic_handler: Option<PanicHandler>,
        stop_hook: Option<Hook>,
    ) -> Shared {
        let workers = stealers.len();
        let id = ExecutorId::next();
        // The handler lives in the executor's table of handlers, where callback panics
        // of this pool's tasks find it from any thread.
        let has_panic_handler = panic_handler.is_some();
        if let Some(handler) = panic_handler {
            executor::register_panic_handler(id, handler);
        }
        Shared {
            id,
            injector: Injector::new(),
            lanes: Lanes::new(),
            stealers: stealers.into_boxed_slice(),
            sleep: Sleep::new(workers),
            roster: Roster::new(id, workers),
            asks: Asks::new(workers),
            gate: CachePadded::new(AtomicUsize::new(0)),
            flags: CachePadded::new(AtomicUsize::new(0)),
            threads: Mutex::new(Vec::new()),
            names: names.into_boxed_slice(),
            stop_hook,
            stats: (0..workers).map(|_| CachePadded::default()).collect(),
            has_panic_handler,
        }
    }

    /// The number of workers.
    pub(crate) fn num_threads(&self) -> usize {
        self.stealers.len()
    }

    /// Queues `job` from outside the pool and wakes a worker for it, unless
    /// the pool is shut down.
    pub(crate) fn inject(&self, job: Job) -> Result<(), Rejected> {
        // Acquire: see SHUTDOWN if it was set. The count keeps workers from
        // exiting between this check and the push (README.md, shutdown).
        let prev = self.gate.fetch_add(INJECTING_ONE, Acquire);
        if prev & SHUTDOWN != 0 {
            self.end_injection();
            return Err(Rejected(job));
        }
        if let Err(job) = lanes::push(&self.lanes, self.id, job) {
            self.injector.push(job);
        }
        self.end_injection();
        self.sleep.new_work();
        Ok(())
    }

    /// Queues `job`, which a caller waits for (a `Scope::spawn` from outside
    /// the pool), even if the pool is shutting down: a live waiter means a
    /// live worker will run it (README.md, shutdown).
    pub(crate) fn inject_waited_on(&self, job: Job) {
        debug_assert!(job.is_waited_on());
        // Acquire/Release: as in `inject`, without the refusal.
        self.gate.fetch_add(INJECTING_ONE, Acquire);
        self.injector.push(job);
        self.end_injection();
        self.sleep.new_work();
    }

    /// An outside submission is done with the gate (pushed, or refused).
    pub(super) fn end_injection(&self) {
        // Release: publishes the push to a worker that reads the count as
        // zero (its Acquire in `may_exit`) before deciding to exit.
        let prev = self.gate.fetch_sub(INJECTING_ONE, Release);
        if prev & SHUTDOWN != 0 {
            // A `shutdown` that saw this submission in flight re-checks.
            self.roster.notify();
        }
    }

    /// Whether `shutdown` or `shutdown_now` has begun.
    #[inline]
    pub(crate) fn is_shut_down(&self) -> bool {
        // Relaxed: a hint; the exit decision re-reads `gate` with Acquire,
        // and the sleep re-check is ordered by the fences (README.md).
        self.flags.load(Relaxed) & SHUTDOWN != 0
    }

    /// Whether `shutdown_now` has begun: queued jobs are abandoned.
    #[inline]
    pub(crate) fn is_shutting_down_now(&self) -> bool {
        // Relaxed: a hint; at worst one more job runs instead of being
        // abandoned, which is what a race with `shutdown_now` allows.
        self.flags.load(Relaxed) & NOW != 0
    }

    /// Whether a worker may exit now: shut down, and no outside submission
    /// is between its check and its push. The caller must still find the
    /// queues empty afterwards.
    pub(crate) fn may_exit(&self) -> bool {
        // Acquire: pairs with the Release in `end_injection`: the pushes of
        // every finished submission are visible to the queue check that
        // follows.
        let gate = self.gate.load(Acquire);
        gate & SHUTDOWN != 0 && gate / INJECTING_ONE == 0
    }

    /// Takes a job from the injector, moving a batch into `local`.
    ///
    /// The batch is this worker's fair share, `len / workers` jobs (at least
    /// the one it pops), as tokio does: a large backlog moves in big batches,
    /// while a short queue is not swallowed whole by the first worker to look.
    pub(crate) fn steal_injected(&self, local: &super::queue::Worker<Job>) -> Option<Job> {
        let limit = (self.injector.len() / self.num_threads()).max(1);
        loop {
            match self.injector.steal_batch_with_limit_and_pop(local, limit) {
                Steal::Success(job) => return Some(job),
                Steal::Empty => return None,
                Steal::Retry => continue,
            }
        }
    }

    /// Steals one job from a sibling of `thief`, starting at `start`; the
    /// victim's flag is raised (its deque may be empty now:
    /// `pool/deferred.rs`).
    pub(crate) fn steal_sibling(&self, thief: usize, start: usize) -> Option<Job> {
        let n = self.stealers.len();
        loop {
            let mut retry = false;
            for offset in 0..n {
                let victim = (start + offset) % n;
                if victim == thief {
                    continue;
                }
                match self.stealers[victim].steal() {
                    Steal::Success(job) => {
                        self.asks.raise(victim);
                        return Some(job);
                    }
                    Steal::Empty => {}
                    Steal::Retry => retry = true,
                }
            }
            if !retry {
                return None;
            }
        }
    }

    /// Steals one job from worker `victim`'s deque, raising its flag.
    pub(crate) fn steal_from(&self, victim: usize) -> Option<Job> {
        loop {
            match self.stealers.get(victim)?.steal() {
                Steal::Success(job) => {
                    self.asks.raise(victim);
                    return Some(job);
                }
                Steal::Empty => return None,
                Steal::Retry => continue,
            }
        }
    }

    /// Whether any queue holds a job (a snapshot). Workers use their own
    /// copy of the lane list instead (`WorkerThread::has_work`).
    pub(crate) fn has_work(&self) -> bool {
        self.has_work_but_lanes() || self.lanes.len() > 0
    }

    /// Whether the injector or a worker's deque holds a job (a snapshot).
    #[inline]
    pub(crate) fn has_work_but_lanes(&self) -> bool {
        !self.injector.is_empty() || self.stealers.iter().any(|s| !s.is_empty())
    }

    /// A snapshot of the pool's activity.
    pub(crate) fn stats(&self) -> PoolStats {
        let mut stats = PoolStats {
            threads: self.num_threads(),
            queued: self.injector.len()
                + self.stealers.iter().map(Stealer::len).sum::<usize>()
                + self.lanes.len(),
            parked: self.sleep.sleeping(),
            ..PoolStats::default()
        };
        for worker in self.stats.iter() {
            worker.add_to(&mut stats);
        }
        stats
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Jobs still queued here can only be ones nobody will run (the
        // workers have exited): dispose of them as `shutdown_now` would.
        let mut left = Vec::new();
        while let Some(job) = self.injector.steal().success() {
            left.push(job);
        }
        left.extend(self.lanes.take_all());
        self.lanes.close();
        for job in left {
            if let Err(payload) = super::job::dispose(job) {
                executor::report_panic(Some(self.id), payload);
            }
        }
        if self.has_panic_handler {
            executor::unregister_panic_handler(self.id);
        }
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("id", &self.id)
            .field("threads", &self.num_threads())
            .field("shut_down", &self.is_shut_down())
            .field("sleep", &self.sleep)
            .finish()
    }
}
