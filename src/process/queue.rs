//! [`Queue`]: what a process pool's handle and its supervisors share — the
//! queue of batches, the pool's phase, the broken flag, the supervisors'
//! head count and each worker's published pid. `README.md` beside this file
//! gives the whole state and who may change each part.

use std::collections::VecDeque;
use std::time::Duration;

use super::child::{Pid, Recipe};
use super::promise::{self, Batch};
use super::registry::Registry;
use crate::executor::Roster;
use crate::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use crate::sync::spin::spin_until;
use crate::sync::{Arc, Condvar, Instant, Mutex};
use crate::task::TaskError;

/// How long an idle supervisor watches the queue before it sleeps.
const IDLE_SPIN: Duration = Duration::from_micros(50);

/// Where the pool is in its life. It only moves forward (in this order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// Taking work.
    Open,
    /// `shutdown` (or `Drop`): no new work; queued and running tasks finish.
    Draining,
    /// `shutdown_now`: queued tasks were cancelled; running ones finish.
    Now,
    /// `kill`: queued tasks were cancelled and every worker was killed.
    Killed,
}

impl Phase {
    /// Whether queued work is no longer run (it is cancelled instead).
    fn stops_queued_work(self) -> bool {
        self >= Phase::Now
    }
}

/// The part of [`Queue`] under its lock.
pub(crate) struct QueueState {
    /// Submitted batches, first in line at the front.
    batches: VecDeque<Batch>,
    /// Supervisors asleep on `work` (so a push without sleepers makes no
    /// system call).
    sleepers: usize,
    /// An idle supervisor spins on `version` right now. Only one does: the
    /// others sleep, so that idle supervisors never hold both CPUs of a
    /// small machine while a worker process waits for one.
    spinning: bool,
    /// Where the pool is in its life.
    pub(crate) phase: Phase,
    /// Set when start-ups kept failing: why. Never unset.
    broken: Option<String>,
}

/// The supervisors' head count.
#[derive(Debug, Default)]
struct Headcount {
    /// Supervisor threads still running.
    live: usize,
    /// Of those, how many are blocked inside `shutdown`/`kill`/`Drop`
    /// (called from a task callback): they cannot exit until it returns,
    /// so nobody waits for them.
    waiting: usize,
}

/// How workers are started and how long tasks may run: fixed at `build`.
pub(crate) struct Limits {
    /// How to start a worker.
    pub(crate) recipe: Recipe,
    /// Replace a worker after this many tasks.
    pub(crate) max_tasks_per_child: Option<usize>,
    /// Each task's deadline, counted from when its worker starts it.
    pub(crate) task_timeout: Option<Duration>,
}

/// What a process pool's handle and its supervisors share.
pub(crate) struct Queue {
    /// The registered functions.
    pub(crate) registry: &'static Registry,
    /// Fixed at `build`.
    pub(crate) limits: Limits,
    state: Mutex<QueueState>,
    /// Signalled when a batch is queued or the phase changes.
    work: Condvar,
    /// Bumped (under the queue lock) on every push and phase change: what an
    /// idle supervisor spins on before it sleeps.
    version: AtomicU64,
    /// Each supervisor's live worker pid (for `kill`).
    pub(crate) pids: Vec<Arc<Pid>>,
    /// Supervisors still running, and a signal when one exits.
    headcount: Mutex<Headcount>,
    exited: Condvar,
    /// Worker start-ups that failed in a row (over all supervisors).
    failures: AtomicUsize,
    /// The supervisors' seats: who runs this thread (`is_supervisor`).
    pub(crate) roster: Roster,
}

impl Queue {
    /// An open pool's queue, for `workers` supervisors.
    pub(crate) fn new(registry: &'static Registry, limits: Limits, workers: usize) -> Queue {
        Queue {
            registry,
            limits,
            state: Mutex::new(QueueState {
                batches: VecDeque::new(),
                sleepers: 0,
                spinning: false,
                phase: Phase::Open,
                broken: None,
            }),
            work: Condvar::new(),
            version: AtomicU64::new(0),
            pids: (0..workers).map(|_| Arc::default()).collect(),
            headcount: Mutex::new(Headcount::default()),
            exited: Condvar::new(),
            failures: AtomicUsize::new(0),
            roster: Roster::new(crate::executor::ExecutorId::next(), workers),
        }
    }

    /// The state under the lock (for `Debug` and the phase checks of the
    /// pool's handle).
    pub(crate) fn lock(&self) -> crate::sync::MutexGuard<'_, QueueState> {
        self.state.lock()
    }

    /// Queues `batches` unless the pool is shut down (then gives them
    /// back). On a broken pool their tasks fail at once.
    pub(crate) fn push(&self, batches: Vec<Batch>) -> Result<(), Vec<Batch>> {
        let mut state = self.state.lock();
        if state.phase != Phase::Open {
            return Err(batches);
        }
        if let Some(reason) = state.broken.clone() {
            drop(state);
            // Outside the lock: failing a task runs its callbacks.
            fail_batches(batches, || broken_error(&reason));
            return Ok(());
        }
        let many = batches.len() > 1;
        state.batches.extend(batches);
        self.notify(&state, many);
        Ok(())
    }

    /// The next batch, in submission order; `None` when the supervisor
    /// should exit.
    pub(crate) fn next_batch(&self) -> Option<Batch> {
        let mut state = self.state.lock();
        loop {
            if state.broken.is_some() || state.phase.stops_queued_work() {
                return None;
            }
            if let Some(batch) = state.batches.pop_front() {
                return Some(batch);
            }
            if state.phase == Phase::Draining {
                return None;
            }
            // Spin a little before sleeping: back-to-back submissions then
            // reach this supervisor with no futex wake (tens of µs on a VM).
            // One idle supervisor at most spins; a push counts on it for one
            // batch.
            if !state.spinning {
                state.spinning = true;
                // Relaxed: `version` is only a hint to stop spinning; the
                // batches themselves are read under the lock below.
                let seen = self.version.load(Relaxed);
                drop(state);
                spin_until(IDLE_SPIN, None, || self.version.load(Relaxed) != seen);
                state = self.state.lock();
                state.spinning = false;
                if !state.batches.is_empty() || self.version.load(Relaxed) != seen {
                    continue;
                }
            }
            state.sleepers += 1;
            state = self.work.wait(state);
            state.sleepers -= 1;
        }
    }

    /// Records a change of the queue (under its lock) and wakes one
    /// supervisor, or all of them, if any sleeps.
    fn notify(&self, state: &QueueState, all: bool) {
        // Relaxed: a hint for the spinner, which re-reads under the lock.
        self.version.fetch_add(1, Relaxed);
        // The spinning supervisor takes a lone batch (it re-checks the queue
        // under the lock before it sleeps, so the batch cannot be missed).
        let spinner_takes_it = !all && state.spinning && state.batches.len() == 1;
        if state.sleepers == 0 || spinner_takes_it {
            return;
        }
        if all {
            self.work.notify_all();
        } else {
            self.work.notify_one();
        }
    }

    /// Puts `batch` back first in line: calls that were claimed but never
    /// reached a worker, given back pending. If queued work no longer runs,
    /// they end as queued work does: cancelled after `shutdown_now`/`kill`,
    /// failed on a broken pool.
    pub(crate) fn requeue_front(&self, batch: Batch) {
        if batch.items.is_empty() {
            return;
        }
        let mut state = self.state.lock();
        if let Some(reason) = state.broken.clone() {
            drop(state);
            fail_batches([batch], || broken_error(&reason));
        } else if state.phase.stops_queued_work() {
            drop(state);
            drop(batch); // pending promises: dropping them cancels the tasks
        } else {
            state.batches.push_front(batch);
            self.notify(&state, false);
        }
    }

    /// Ends a batch that no worker will run (none could be started): on a
    /// broken pool its tasks fail; else (the pool stops queued work) they
    /// are pending, and dropping them cancels them.
    pub(crate) fn abandon(&self, batch: Batch) {
        match self.broken_reason() {
            Some(reason) => fail_batches([batch], || broken_error(&reason)),
            None => drop(batch),
        }
    }

    /// Whether a hand-over still under way should be given up: queued work
    /// no longer runs (`shutdown_now`, `kill`, broken).
    pub(crate) fn stops_queued_work(&self) -> bool {
        let state = self.state.lock();
        state.broken.is_some() || state.phase.stops_queued_work()
    }

    /// Whether a dead worker should be replaced: not once broken, nor after
    /// `shutdown_now` or `kill`, nor while draining an empty queue.
    ///
    /// `holding` says the caller holds a batch it took before a `shutdown`:
    /// that batch still deserves a worker.
    pub(crate) fn should_respawn(&self, holding: bool) -> bool {
        let state = self.state.lock();
        state.broken.is_none()
            && (state.phase == Phase::Open
                || (state.phase == Phase::Draining && (holding || !state.batches.is_empty())))
    }

    /// Sleeps for `pause` (a start-up back-off) unless the phase changes or
    /// a batch is queued meanwhile.
    pub(crate) fn pause(&self, pause: Duration) {
        let mut state = self.state.lock();
        // Relaxed: read and compared under the lock that every bump holds.
        let seen = self.version.load(Relaxed);
        state.sleepers += 1;
        let deadline = Instant::now() + pause;
        while self.version.load(Relaxed) == seen {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = self.work.wait_timeout(state, left).0;
        }
        state.sleepers -= 1;
    }

    /// A worker started: the failures in a row start again from 0.
    pub(crate) fn start_succeeded(&self) {
        // Relaxed: a counter; nothing else is published through it.
        self.failures.store(0, Relaxed);
    }

    /// Counts a failed start-up; returns the failures in a row.
    pub(crate) fn start_failed(&self) -> usize {
        // Relaxed: a counter; nothing else is published through it.
        self.failures.fetch_add(1, Relaxed) + 1
    }

    /// Why the pool is broken, if it is.
    pub(crate) fn broken_reason(&self) -> Option<String> {
        self.state.lock().broken.clone()
    }

    /// Marks the pool broken: every queued task fails with `reason`, and
    /// so will every later submission.
    pub(crate) fn mark_broken(&self, reason: String) {
        let batches = {
            let mut state = self.state.lock();
            if state.broken.is_none() {
                state.broken = Some(reason.clone());
            }
            self.notify(&state, true);
            std::mem::take(&mut state.batches)
        };
        // Outside the lock: failing a task runs its callbacks.
        fail_batches(batches, || broken_error(&reason));
    }

    /// Moves to `phase` (never backwards) and wakes every supervisor;
    /// returns the batches to cancel when queued work no longer runs. The
    /// caller drops them outside the lock (their callbacks run then).
    pub(crate) fn enter(&self, phase: Phase) -> Vec<Batch> {
        let mut state = self.state.lock();
        state.phase = state.phase.max(phase);
        self.notify(&state, true);
        if state.phase.stops_queued_work() {
            std::mem::take(&mut state.batches).into()
        } else {
            Vec::new()
        }
    }

    /// Counts a supervisor that is about to start.
    pub(crate) fn supervisor_started(&self) {
        self.headcount.lock().live += 1;
    }

    /// Counts a supervisor out (it exited, or never started).
    pub(crate) fn supervisor_exited(&self) {
        self.headcount.lock().live -= 1;
        self.exited.notify_all();
    }

    /// Waits until every supervisor exited (but the caller's own, when the
    /// caller is one: a task callback), or `deadline` passed; returns
    /// whether they all did.
    pub(crate) fn wait_supervisors(&self, deadline: Option<Instant>) -> bool {
        let own = usize::from(self.is_supervisor());
        let mut headcount = self.headcount.lock();
        headcount.waiting += own;
        // A new waiter may be what the others wait for.
        self.exited.notify_all();
        let all_exited = loop {
            if headcount.live <= headcount.waiting {
                break true;
            }
            match deadline {
                None => headcount = self.exited.wait(headcount),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break false;
                    }
                    headcount = self.exited.wait_timeout(headcount, left).0;
                }
            }
        };
        headcount.waiting -= own;
        all_exited
    }

    /// Whether the calling thread is a supervisor of this pool (its seat in
    /// the crate's one thread-local): `shutdown` called from a task callback
    /// on a supervisor must not wait for the very thread it runs on.
    pub(crate) fn is_supervisor(&self) -> bool {
        self.roster.is_current()
    }

    /// Kills every published worker, and every worker published later.
    pub(crate) fn kill_workers(&self) {
        for pid in &self.pids {
            pid.kill();
        }
    }
}

impl QueueState {
    /// Batches waiting for a worker.
    pub(crate) fn queued(&self) -> usize {
        self.batches.len()
    }

    /// Why the pool is broken, if it is.
    pub(crate) fn broken(&self) -> Option<&str> {
        self.broken.as_deref()
    }
}

/// The error of a task that no worker will run because the pool is broken
/// (`reason` says why).
pub(crate) fn broken_error(reason: &str) -> TaskError {
    TaskError::worker_lost(format!("the process pool is broken: {reason}"))
}

/// Fails every item of `batches` with an error made by `error`.
pub(crate) fn fail_batches(
    batches: impl IntoIterator<Item = Batch>,
    error: impl Fn() -> TaskError,
) {
    promise::fail_all(batches.into_iter().flat_map(|batch| batch.items), error);
}
