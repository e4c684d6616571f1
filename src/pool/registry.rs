//! The state a pool's handle and its workers share: the queues, the sleep
//! state, the shutdown gate, the threads and the hooks.

use std::fmt;

use crossbeam_utils::CachePadded;

use super::job::{Job, Ran};
use super::queue::{Injector, Steal, Stealer};
use super::sleep::Sleep;
use super::stats::{PoolStats, WorkerStats};
use crate::executor::{self, ExecutorId, PanicHandler};
use crate::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};
use crate::sync::atomic::{fence, AtomicU32, AtomicUsize};
use crate::sync::futex;
use crate::sync::thread::JoinHandle;
use crate::sync::{Mutex, StdArc};

/// Set once by the first `shutdown`/`shutdown_now`: no more outside
/// submissions; workers exit when the queues are empty.
const SHUTDOWN: usize = 1 << 0;
/// Set by `shutdown_now`: queued jobs are abandoned instead of run.
const NOW: usize = 1 << 1;
/// One outside submission between its gate check and its push.
const INJECTING_ONE: usize = 1 << 2;

/// A per-worker hook (`on_thread_start`, `on_thread_stop`); a plain `std`
/// `Arc`, as `PanicHandler` (configuration, not protocol).
pub(crate) type Hook = StdArc<dyn Fn(usize) + Send + Sync + 'static>;

/// An outside submission the shut-down pool refused: the job, handed back
/// for the caller to dispose of.
#[derive(Debug)]
pub(crate) struct Rejected(pub(crate) Job);

/// A pool's shared state.
pub(crate) struct Registry {
    /// This pool's identity (tasks record it as their home).
    pub(crate) id: ExecutorId,
    /// Submissions from outside the pool (FIFO).
    injector: Injector<Job>,
    /// Thieves' handles on each worker's deque, by worker index.
    stealers: Box<[Stealer<Job>]>,
    /// Who sleeps, who searches.
    pub(crate) sleep: Sleep,
    /// `SHUTDOWN | NOW | in-flight outside submissions × INJECTING_ONE`.
    /// Padded: every outside submission RMWs it twice.
    gate: CachePadded<AtomicUsize>,
    /// `SHUTDOWN | NOW` again, on a line of its own that only shutdown
    /// writes: the hot paths (every executed job, every idle spin) read the
    /// flags here instead of pulling in the line submissions keep writing.
    flags: CachePadded<AtomicUsize>,
    /// Workers that are neither exited nor blocked inside `shutdown`; the
    /// futex word `shutdown` waits on until it reaches zero.
    alive: AtomicU32,
    /// The worker threads' handles, by index; taken by `shutdown` to join.
    pub(crate) threads: Mutex<Vec<Option<JoinHandle<()>>>>,
    /// Worker names, by index.
    pub(crate) names: Box<[String]>,
    /// Runs on each worker as it exits.
    pub(crate) stop_hook: Option<Hook>,
    /// Per-worker counters, by index.
    pub(crate) stats: Box<[CachePadded<WorkerStats>]>,
    /// Per worker: "a sibling is idle: promote your oldest pending `join`".
    /// Set by idle workers, cleared by the owner; padded, as the owner
    /// reads its own flag in every `join`.
    work_wanted: Box<[CachePadded<crate::sync::atomic::AtomicBool>]>,
}

impl Registry {
    /// A registry for workers whose deques' stealers are `stealers`.
    pub(crate) fn new(
        stealers: Vec<Stealer<Job>>,
        names: Vec<String>,
        panic_handler: Option<PanicHandler>,
        stop_hook: Option<Hook>,
    ) -> Registry {
        let workers = stealers.len();
        let id = ExecutorId::next();
        // The handler lives in the executor registry, where callback panics
        // of this pool's tasks find it from any thread.
        if let Some(handler) = panic_handler {
            executor::register_panic_handler(id, handler);
        }
        Registry {
            id,
            injector: Injector::new(),
            stealers: stealers.into_boxed_slice(),
            sleep: Sleep::new(workers),
            gate: CachePadded::new(AtomicUsize::new(0)),
            flags: CachePadded::new(AtomicUsize::new(0)),
            alive: AtomicU32::new(u32::try_from(workers).expect("too many workers")),
            threads: Mutex::new(Vec::new()),
            names: names.into_boxed_slice(),
            stop_hook,
            stats: (0..workers).map(|_| CachePadded::default()).collect(),
            work_wanted: (0..workers)
                .map(|_| CachePadded::new(crate::sync::atomic::AtomicBool::new(false)))
                .collect(),
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
            // Relaxed: nothing was pushed, nothing to publish.
            self.gate.fetch_sub(INJECTING_ONE, Relaxed);
            return Err(Rejected(job));
        }
        self.injector.push(job);
        // Release: publishes the push to a worker that reads the count as
        // zero (its Acquire in `may_exit`) before deciding to exit.
        self.gate.fetch_sub(INJECTING_ONE, Release);
        self.sleep.new_work();
        Ok(())
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
        // Acquire: pairs with the Release in `inject`: the pushes of every
        // finished submission are visible to the queue check that follows.
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

    /// Steals one job from a sibling of `thief`, starting at `start`.
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
                    Steal::Success(job) => return Some(job),
                    Steal::Empty => {}
                    Steal::Retry => retry = true,
                }
            }
            if !retry {
                return None;
            }
        }
    }

    /// Steals one job from worker `victim`'s deque.
    pub(crate) fn steal_from(&self, victim: usize) -> Option<Job> {
        loop {
            match self.stealers.get(victim)?.steal() {
                Steal::Success(job) => return Some(job),
                Steal::Empty => return None,
                Steal::Retry => continue,
            }
        }
    }

    /// Whether any queue holds a job (a snapshot).
    pub(crate) fn has_work(&self) -> bool {
        !self.injector.is_empty() || self.stealers.iter().any(|s| !s.is_empty())
    }

    /// Worker `from` is idle: ask every sibling to share a pending `join`.
    pub(crate) fn request_work(&self, from: usize) {
        for (index, flag) in self.work_wanted.iter().enumerate() {
            // Relaxed: a hint; the promotion it triggers is a fenced push.
            if index != from && !flag.load(Relaxed) {
                flag.store(true, Relaxed);
            }
        }
    }

    /// Worker `index`'s "work wanted" flag, for the worker to keep at hand
    /// (it reads it on every `join`).
    pub(crate) fn work_wanted_flag(&self, index: usize) -> &crate::sync::atomic::AtomicBool {
        &self.work_wanted[index]
    }

    /// Reports a panic of a `spawn`ed job to the panic handler.
    pub(crate) fn report(&self, ran: Ran) {
        if let Ran::SpawnPanicked(payload) = ran {
            executor::report_panic(Some(self.id), payload);
        }
    }

    /// Starts `shutdown` (or `shutdown_now`): closes the gate and wakes
    /// every worker so they drain and exit.
    pub(crate) fn begin_shutdown(&self, now: bool) {
        let bits = if now { SHUTDOWN | NOW } else { SHUTDOWN };
        // AcqRel: Release publishes the flag; Acquire orders our later reads.
        self.gate.fetch_or(bits, AcqRel);
        // Relaxed: the fence below orders it for sleepers; others poll it.
        self.flags.fetch_or(bits, Relaxed);
        // SeqCst fence: pairs with the fence in `Sleep::sleep`: a worker
        // about to sleep either sees the flag in its re-check, or is seen
        // SLEEPING by `wake_all` (README.md, shutdown).
        fence(SeqCst);
        self.sleep.wake_all();
    }

    /// `shutdown_now`'s own share: takes every queued job out of every queue
    /// and disposes of it at once (tasks cancelled, spawned closures dropped).
    /// Stack jobs (callers blocked in `install`) go back to the injector for
    /// the workers to run.
    pub(crate) fn cancel_queued(&self) {
        // Count as an in-flight submission, so no worker exits while the
        // stack jobs are out of the queues (Acquire/Release as in `inject`).
        self.gate.fetch_add(INJECTING_ONE, Acquire);
        let mut stack_jobs = Vec::new();
        let mut dispose = |job: Job| match job {
            Job::Stack(_) => stack_jobs.push(job),
            job => self.report(job.abandon()),
        };
        loop {
            let mut retry = false;
            for steal in std::iter::once(&self.injector as &dyn StealOne)
                .chain(self.stealers.iter().map(|s| s as &dyn StealOne))
            {
                loop {
                    match steal.steal_one() {
                        Steal::Success(job) => dispose(job),
                        Steal::Empty => break,
                        Steal::Retry => retry = true,
                    }
                    if retry {
                        break;
                    }
                }
            }
            if !retry {
                break;
            }
        }
        for job in stack_jobs {
            self.injector.push(job);
        }
        // Release: publishes the pushes to workers deciding whether to exit.
        self.gate.fetch_sub(INJECTING_ONE, Release);
        self.sleep.new_work();
    }

    /// A worker leaves: it exited its loop, or it blocks in `shutdown`.
    pub(crate) fn worker_left(&self) {
        // Release: publishes the worker's last effects (its stop hook) to
        // the `shutdown` that sees the count drop (Acquire there).
        self.alive.fetch_sub(1, Release);
        futex::wake_all(&self.alive);
    }

    /// Blocks until every worker has left (exited, or is blocked in
    /// `shutdown` itself).
    pub(crate) fn wait_workers_left(&self) {
        loop {
            // Acquire: pairs with the Release in `worker_left`.
            let alive = self.alive.load(Acquire);
            if alive == 0 {
                return;
            }
            let _ = futex::wait(&self.alive, alive, None);
        }
    }

    /// Joins every worker thread except `skip` (the caller's own).
    pub(crate) fn join_threads(&self, skip: Option<usize>) {
        let handles: Vec<(usize, JoinHandle<()>)> = {
            let mut threads = self.threads.lock();
            threads
                .iter_mut()
                .enumerate()
                .filter(|(index, _)| Some(*index) != skip)
                .filter_map(|(index, handle)| handle.take().map(|h| (index, h)))
                .collect()
        };
        for (_, handle) in handles {
            // A worker's own panics are all caught; a join error would be a
            // bug in the crate, and must not hide behind shutdown.
            handle.join().expect("a stealpool worker thread panicked");
        }
    }

    /// A snapshot of the pool's activity.
    pub(crate) fn stats(&self) -> PoolStats {
        let mut stats = PoolStats {
            threads: self.num_threads(),
            queued: self.injector.len() + self.stealers.iter().map(Stealer::len).sum::<usize>(),
            parked: self.sleep.sleeping(),
            ..PoolStats::default()
        };
        for worker in self.stats.iter() {
            worker.add_to(&mut stats);
        }
        stats
    }
}

/// One steal from a queue, whatever its kind.
trait StealOne {
    fn steal_one(&self) -> Steal<Job>;
}

impl StealOne for Injector<Job> {
    fn steal_one(&self) -> Steal<Job> {
        self.steal()
    }
}

impl StealOne for Stealer<Job> {
    fn steal_one(&self) -> Steal<Job> {
        self.steal()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // Jobs still queued here can only be ones nobody will run (the
        // workers have exited): dispose of them as `shutdown_now` would.
        while let Some(job) = self.injector.steal().success() {
            self.report(job.abandon());
        }
        executor::unregister_panic_handler(self.id);
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("id", &self.id)
            .field("threads", &self.num_threads())
            .field("shut_down", &self.is_shut_down())
            .field("sleep", &self.sleep)
            .finish()
    }
}
