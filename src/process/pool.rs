//! [`ProcessPool`] and its builder: the queue the slots share, submission,
//! `map`, and the shutdown family.

use std::collections::VecDeque;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::child::{lock, PidSlot, Recipe};
use super::registry::{Registry, Remote};
use super::slot::{self, Item, Job, TypedSink};
use super::wire::{MAX_ARGS, MAX_PAYLOAD, PER_ITEM};
use super::worker::ENV_WORKER;
use crate::build_error::BuildError;
use crate::combinators::Map;
use crate::sync::spin::spin_until;
use crate::task::{self, Task, TaskError};

/// How long an idle slot thread watches the queue before it sleeps.
const SLOT_SPIN: Duration = Duration::from_micros(50);

/// How long `Drop` lets running tasks finish before it kills the workers.
const DROP_GRACE: Duration = Duration::from_secs(5);

/// Where the pool is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Taking work.
    Open,
    /// `shutdown`: no new work; queued and running tasks finish.
    Draining,
    /// `shutdown_now`: queued tasks were cancelled; running ones finish.
    Now,
    /// `kill`: every worker was killed.
    Killed,
}

/// The queue and the lifecycle, under one lock.
struct Queue {
    jobs: VecDeque<Job>,
    /// Slot threads asleep on `work` (so a push without sleepers makes no
    /// system call).
    sleepers: usize,
    /// An idle slot thread spins on `version` right now. Only one does: the
    /// others sleep, so that idle slots never hold both CPUs of a small
    /// machine while a worker process waits for one.
    spinning: bool,
    phase: Phase,
    /// Set when start-ups kept failing: why.
    broken: Option<String>,
}

/// The slot threads' head count.
#[derive(Debug, Default)]
struct Slots {
    /// Slot threads still running.
    live: usize,
    /// Of those, how many are blocked inside `shutdown`/`kill`/`Drop`
    /// (called from a task callback): they cannot exit until it returns,
    /// so nobody waits for them.
    waiting: usize,
}

/// What the pool and its slot threads share.
pub(crate) struct Shared {
    registry: &'static Registry,
    pub(crate) recipe: Recipe,
    pub(crate) max_tasks_per_child: Option<usize>,
    pub(crate) task_timeout: Option<Duration>,
    queue: Mutex<Queue>,
    /// Signalled when a job is queued or the phase changes.
    work: Condvar,
    /// Bumped (under the queue lock) on every push and phase change: what an
    /// idle slot spins on before it sleeps.
    version: AtomicU64,
    /// Each slot's live worker pid (for `kill`).
    pub(crate) pids: Vec<Arc<PidSlot>>,
    /// Slot threads still running, and a signal when one exits.
    live: Mutex<Slots>,
    exited: Condvar,
    /// Worker start-ups that failed in a row.
    failures: AtomicUsize,
    /// The slot threads' seats (who runs this thread, for `is_slot_of`).
    pub(crate) roster: crate::executor::Roster,
}

impl Shared {
    /// The next job, in submission order; `None` when the slot should exit.
    pub(crate) fn next_job(&self) -> Option<Job> {
        let mut queue = lock(&self.queue);
        loop {
            if queue.broken.is_some() || matches!(queue.phase, Phase::Now | Phase::Killed) {
                return None;
            }
            if let Some(job) = queue.jobs.pop_front() {
                return Some(job);
            }
            if queue.phase == Phase::Draining {
                return None;
            }
            // Spin a little before sleeping: back-to-back submissions then
            // reach this slot with no futex wake (tens of µs on a VM). One
            // idle slot at most spins; a push counts on it for one job.
            if !queue.spinning {
                queue.spinning = true;
                let seen = self.version.load(Relaxed);
                drop(queue);
                spin_until(SLOT_SPIN, None, || self.version.load(Relaxed) != seen);
                queue = lock(&self.queue);
                queue.spinning = false;
                if !queue.jobs.is_empty() || self.version.load(Relaxed) != seen {
                    continue;
                }
            }
            queue.sleepers += 1;
            queue = self
                .work
                .wait(queue)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            queue.sleepers -= 1;
        }
    }

    /// Records a change of the queue (under its lock) and wakes one slot
    /// thread, or all of them, if any sleeps.
    fn notify(&self, queue: &Queue, all: bool) {
        self.version.fetch_add(1, Relaxed);
        // The spinning slot takes a lone job (it re-checks the queue under
        // the lock before it sleeps, so the job cannot be missed).
        let spinner_takes_it = !all && queue.spinning && queue.jobs.len() == 1;
        if queue.sleepers == 0 || spinner_takes_it {
            return;
        }
        if all {
            self.work.notify_all();
        } else {
            self.work.notify_one();
        }
    }

    /// Puts back, first in line, a job whose items were claimed but never
    /// reached a worker; gives it back if queued work no longer runs.
    pub(crate) fn requeue_front(&self, job: Job) -> Result<(), Job> {
        let mut queue = lock(&self.queue);
        if queue.broken.is_some() || matches!(queue.phase, Phase::Now | Phase::Killed) {
            return Err(job);
        }
        queue.jobs.push_front(job);
        self.notify(&queue, false);
        Ok(())
    }

    /// Whether a dead worker should be replaced: not once broken, nor after
    /// `shutdown_now` or `kill`, nor while draining an empty queue.
    ///
    /// `holding` says the caller holds a job it took before a `shutdown`:
    /// that job still deserves a worker.
    pub(crate) fn should_respawn(&self, holding: bool) -> bool {
        let queue = lock(&self.queue);
        queue.broken.is_none()
            && (queue.phase == Phase::Open
                || (queue.phase == Phase::Draining && (holding || !queue.jobs.is_empty())))
    }

    /// Sleeps for `pause` (a start-up back-off) unless the phase changes or
    /// a job is queued meanwhile.
    pub(crate) fn pause(&self, pause: Duration) {
        let mut queue = lock(&self.queue);
        let seen = self.version.load(Relaxed);
        queue.sleepers += 1;
        let deadline = Instant::now() + pause;
        while self.version.load(Relaxed) == seen {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            queue = self
                .work
                .wait_timeout(queue, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        queue.sleepers -= 1;
    }

    pub(crate) fn start_succeeded(&self) {
        self.failures.store(0, Relaxed);
    }

    /// Counts a failed start-up; returns the failures in a row.
    pub(crate) fn start_failed(&self) -> usize {
        self.failures.fetch_add(1, Relaxed) + 1
    }

    /// Why the pool is broken, if it is.
    pub(crate) fn broken_reason(&self) -> Option<String> {
        lock(&self.queue).broken.clone()
    }

    /// Marks the pool broken: every queued task fails with `reason`, and
    /// so will every later submission.
    pub(crate) fn mark_broken(&self, reason: String) {
        let jobs = {
            let mut queue = lock(&self.queue);
            if queue.broken.is_none() {
                queue.broken = Some(reason.clone());
            }
            self.notify(&queue, true);
            std::mem::take(&mut queue.jobs)
        };
        // Outside the lock: failing a task runs its callbacks.
        slot::fail_jobs(jobs, || slot::no_worker_error(Some(&reason)));
    }

    pub(crate) fn slot_exited(&self) {
        lock(&self.live).live -= 1;
        self.exited.notify_all();
    }

    /// Waits until every slot thread exited (but the caller's own, when
    /// the caller is one: a task callback), or `deadline` passed; returns
    /// whether they all did.
    fn wait_slots(&self, deadline: Option<Instant>) -> bool {
        let own = usize::from(slot::is_slot_of(self));
        let mut live = lock(&self.live);
        live.waiting += own;
        // A new waiter may be what the others wait for.
        self.exited.notify_all();
        let done = loop {
            if live.live <= live.waiting {
                break true;
            }
            match deadline {
                None => {
                    live = self
                        .exited
                        .wait(live)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break false;
                    }
                    live = self
                        .exited
                        .wait_timeout(live, left)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0;
                }
            }
        };
        live.waiting -= own;
        done
    }

    /// Moves to `phase` (never backwards) and wakes every slot; returns the
    /// jobs to cancel when it stops queued work.
    fn enter(&self, phase: Phase) -> Vec<Job> {
        let jobs = {
            let mut queue = lock(&self.queue);
            if rank(phase) > rank(queue.phase) {
                queue.phase = phase;
            }
            self.notify(&queue, true);
            if matches!(queue.phase, Phase::Now | Phase::Killed) {
                std::mem::take(&mut queue.jobs).into()
            } else {
                Vec::new()
            }
        };
        jobs
    }
}

fn rank(phase: Phase) -> u8 {
    match phase {
        Phase::Open => 0,
        Phase::Draining => 1,
        Phase::Now => 2,
        Phase::Killed => 3,
    }
}

/// Cancels the tasks of `jobs` (dropping a pending task's completer cancels it).
fn cancel(jobs: Vec<Job>) {
    drop(jobs);
}

/// A pool of worker processes that run registered functions: Python's
/// `ProcessPoolExecutor`, with the same [`Task`] handle as the
/// [`ThreadPool`](crate::ThreadPool) (feature `process`, Unix only).
///
/// Each worker is the program itself (or [`program`](ProcessPoolBuilder::program)),
/// started with fork+exec, talking to one supervising thread of the pool over
/// its own pipe pair. A worker that exits, aborts, segfaults or is killed
/// fails only the task it was running, and is replaced at once; the pool
/// keeps serving. See the [module docs](crate::process) for the whole model.
///
/// # Examples
///
/// ```
/// use stealpool::{process, remote, registry, ProcessPool};
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
/// static TASKS: process::Registry = registry![square];
///
/// fn main() {
///     process::bootstrap(&TASKS);
///     let pool = ProcessPool::builder(&TASKS).num_workers(2).build().unwrap();
///     let tasks: Vec<_> = (1..=4).map(|x| pool.submit(remote!(square), x)).collect();
///     let squares: Vec<u64> = tasks.into_iter().map(|t| t.join().unwrap()).collect();
///     assert_eq!(squares, [1, 4, 9, 16]);
/// }
/// ```
pub struct ProcessPool {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    num_workers: usize,
}

impl ProcessPool {
    /// A builder for a pool that runs the functions of `registry` (the one
    /// passed to [`bootstrap`](super::bootstrap)).
    ///
    /// # Examples
    ///
    /// ```
    /// fn id(x: u32) -> u32 { x }
    /// static TASKS: stealpool::process::Registry = stealpool::registry![id];
    /// fn main() {
    ///     stealpool::process::bootstrap(&TASKS);
    ///     let pool = stealpool::ProcessPool::builder(&TASKS).num_workers(1).build().unwrap();
    ///     assert_eq!(pool.num_workers(), 1);
    /// }
    /// ```
    pub fn builder(registry: &'static Registry) -> ProcessPoolBuilder {
        ProcessPoolBuilder {
            registry,
            num_workers: None,
            max_tasks_per_child: None,
            task_timeout: None,
            program: None,
            initializer: None,
        }
    }

    /// Runs `f(args)` in a worker process; returns its [`Task`] at once.
    ///
    /// The task waits in the pool's queue (still cancellable) until a worker
    /// is free to start it; tasks are handed over in submission order. If
    /// `args` cannot be serialized, the task has already failed with
    /// [`is_serialization`](TaskError::is_serialization); after `shutdown` it
    /// is rejected ([`is_rejected`](TaskError::is_rejected)).
    ///
    /// # Panics
    ///
    /// If `f` is not in the pool's registry, or the registered function of
    /// that name has another signature (the message names it).
    ///
    /// # Examples
    ///
    /// ```
    /// fn shout(s: String) -> String { s.to_uppercase() }
    /// static TASKS: stealpool::process::Registry = stealpool::registry![shout];
    /// fn main() {
    ///     stealpool::process::bootstrap(&TASKS);
    ///     let pool = stealpool::ProcessPool::builder(&TASKS).num_workers(1).build().unwrap();
    ///     let task = pool.submit(stealpool::remote!(shout), "hi".to_string());
    ///     assert_eq!(task.join().unwrap(), "HI");
    /// }
    /// ```
    pub fn submit<A, R>(&self, f: Remote<A, R>, args: A) -> Task<R>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        let index = self.index_of(f, "submit");
        let (task, item) = make_item::<A, R>(&args);
        let Some(item) = item else {
            return task;
        };
        if let Err(job) = self.push(vec![Job {
            task: index,
            items: vec![item],
        }]) {
            drop(job);
            return Task::rejected();
        }
        task
    }

    /// Runs `f` on every item in worker processes; the results come back in
    /// input order. Items travel `chunk_size` per message (0 counts as 1),
    /// which amortises the pipe round trip for small items; each item still
    /// has its own deadline. Dropping the [`Map`] early cancels the items not
    /// yet handed to a worker.
    ///
    /// # Panics
    ///
    /// If the pool is shut down, or `f` is not in its registry.
    ///
    /// # Examples
    ///
    /// ```
    /// fn double(x: i32) -> i32 { 2 * x }
    /// static TASKS: stealpool::process::Registry = stealpool::registry![double];
    /// fn main() {
    ///     stealpool::process::bootstrap(&TASKS);
    ///     let pool = stealpool::ProcessPool::builder(&TASKS).num_workers(2).build().unwrap();
    ///     let out: Vec<i32> = pool
    ///         .map(0..10, stealpool::remote!(double), 4)
    ///         .map(Result::unwrap)
    ///         .collect();
    ///     assert_eq!(out, (0..10).map(|x| 2 * x).collect::<Vec<_>>());
    /// }
    /// ```
    pub fn map<A, R, I>(&self, items: I, f: Remote<A, R>, chunk_size: usize) -> Map<R>
    where
        I: IntoIterator<Item = A>,
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        let index = self.index_of(f, "map");
        if lock(&self.shared.queue).phase != Phase::Open {
            panic!("ProcessPool::map: the pool is shut down");
        }
        let chunk_size = chunk_size.max(1);
        let mut tasks = VecDeque::new();
        let mut jobs = Vec::new();
        let mut chunk: Vec<Item> = Vec::with_capacity(chunk_size.min(1024));
        let mut chunk_bytes = 0;
        for args in items {
            let (task, item) = make_item::<A, R>(&args);
            tasks.push_back(task);
            let Some(item) = item else {
                continue;
            };
            // A chunk travels as one frame: close it early rather than let
            // it grow past the frame limit.
            let bytes = item.args.len() + PER_ITEM;
            if !chunk.is_empty() && chunk_bytes + bytes > MAX_PAYLOAD {
                jobs.push(Job {
                    task: index,
                    items: std::mem::take(&mut chunk),
                });
                chunk_bytes = 0;
            }
            chunk_bytes += bytes;
            chunk.push(item);
            if chunk.len() == chunk_size {
                jobs.push(Job {
                    task: index,
                    items: std::mem::take(&mut chunk),
                });
                chunk_bytes = 0;
            }
        }
        if !chunk.is_empty() {
            jobs.push(Job {
                task: index,
                items: chunk,
            });
        }
        if let Err(jobs) = self.push(jobs) {
            drop(jobs);
            panic!("ProcessPool::map: the pool is shut down");
        }
        Map::new(tasks)
    }

    /// The number of worker processes.
    ///
    /// # Examples
    ///
    /// ```
    /// fn id(x: u8) -> u8 { x }
    /// static TASKS: stealpool::process::Registry = stealpool::registry![id];
    /// fn main() {
    ///     stealpool::process::bootstrap(&TASKS);
    ///     let pool = stealpool::ProcessPool::builder(&TASKS).num_workers(2).build().unwrap();
    ///     assert_eq!(pool.num_workers(), 2);
    /// }
    /// ```
    pub fn num_workers(&self) -> usize {
        self.num_workers
    }

    /// Stops taking work, lets every queued and running task finish, then
    /// stops the workers and waits for them (Python's `shutdown(wait=True)`).
    /// Later `submit`s return rejected tasks. Idempotent; callable from any
    /// thread.
    ///
    /// Called from a task's `on_done` callback, which runs on one of the
    /// pool's supervising threads, it cannot wait for that thread: it
    /// returns once the other workers have stopped, and the tasks still
    /// queued finish after the callback returns.
    ///
    /// # Examples
    ///
    /// ```
    /// fn id(x: u8) -> u8 { x }
    /// static TASKS: stealpool::process::Registry = stealpool::registry![id];
    /// fn main() {
    ///     stealpool::process::bootstrap(&TASKS);
    ///     let pool = stealpool::ProcessPool::builder(&TASKS).num_workers(1).build().unwrap();
    ///     let queued = pool.submit(stealpool::remote!(id), 7);
    ///     pool.shutdown();
    ///     assert_eq!(queued.join().unwrap(), 7);
    ///     assert!(pool.submit(stealpool::remote!(id), 8).join().unwrap_err().is_rejected());
    /// }
    /// ```
    pub fn shutdown(&self) {
        cancel(self.shared.enter(Phase::Draining));
        self.join_slots(None);
    }

    /// As [`shutdown`](Self::shutdown), but first cancels every task still
    /// queued (their tasks end cancelled); running tasks finish.
    ///
    /// # Examples
    ///
    /// ```
    /// fn id(x: u8) -> u8 { x }
    /// static TASKS: stealpool::process::Registry = stealpool::registry![id];
    /// fn main() {
    ///     stealpool::process::bootstrap(&TASKS);
    ///     let pool = stealpool::ProcessPool::builder(&TASKS).num_workers(1).build().unwrap();
    ///     pool.shutdown_now();
    ///     assert!(pool.submit(stealpool::remote!(id), 1).join().unwrap_err().is_rejected());
    /// }
    /// ```
    pub fn shutdown_now(&self) {
        cancel(self.shared.enter(Phase::Now));
        self.join_slots(None);
    }

    /// Cancels every queued task, kills every worker at once (SIGKILL; their
    /// running tasks fail with [`is_worker_lost`](TaskError::is_worker_lost)),
    /// reaps them, and leaves the pool shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// fn id(x: u8) -> u8 { x }
    /// static TASKS: stealpool::process::Registry = stealpool::registry![id];
    /// fn main() {
    ///     stealpool::process::bootstrap(&TASKS);
    ///     let pool = stealpool::ProcessPool::builder(&TASKS).num_workers(1).build().unwrap();
    ///     pool.kill();
    ///     assert!(pool.submit(stealpool::remote!(id), 1).join().unwrap_err().is_rejected());
    /// }
    /// ```
    pub fn kill(&self) {
        let queued = self.shared.enter(Phase::Killed);
        // Kill first: the cancelled tasks' callbacks may call back into the
        // pool (even `shutdown`), which must not wait on hung workers.
        for slot in &self.shared.pids {
            slot.kill();
        }
        cancel(queued);
        self.join_slots(None);
    }

    /// Waits for the slot threads (until `deadline`), then joins them. On
    /// a slot thread of this pool (a task callback), it waits for the others
    /// (but those blocked in callbacks too) and joins none.
    fn join_slots(&self, deadline: Option<Instant>) -> bool {
        if !self.shared.wait_slots(deadline) {
            return false;
        }
        if slot::is_slot_of(&self.shared) {
            // Another slot may be blocked in a callback of its own: joining
            // it could wait on each other. The slots exit once their
            // callbacks return; their handles are joined by an outside
            // caller, or detached with the pool.
            return true;
        }
        let threads = std::mem::take(&mut *lock(&self.threads));
        for thread in threads {
            let _ = thread.join();
        }
        true
    }

    /// The registry index of `f`, or the documented panic.
    fn index_of<A, R>(&self, f: Remote<A, R>, method: &str) -> u32 {
        let name = f.name();
        let Some(index) = self.shared.registry.find(name) else {
            panic!(
                "ProcessPool::{method}: `{name}` is not in the pool's registry \
                 (register it in registry![...] under the same path)"
            )
        };
        let entry = self.shared.registry.entry(index).expect("found above");
        if entry.types() != f.types() {
            panic!(
                "ProcessPool::{method}: `{name}` is registered as {entry:?}, but the \
                 Remote is fn({}) -> {}: registry! and remote! name different functions",
                f.types().0,
                f.types().1
            )
        }
        index
    }

    /// Queues `jobs` unless the pool is shut down (then gives them back).
    /// On a broken pool their tasks fail at once.
    fn push(&self, jobs: Vec<Job>) -> Result<(), Vec<Job>> {
        let mut queue = lock(&self.shared.queue);
        if queue.phase != Phase::Open {
            return Err(jobs);
        }
        if let Some(reason) = queue.broken.clone() {
            drop(queue);
            slot::fail_jobs(jobs, || slot::no_worker_error(Some(&reason)));
            return Ok(());
        }
        let many = jobs.len() > 1;
        queue.jobs.extend(jobs);
        self.shared.notify(&queue, many);
        Ok(())
    }
}

/// A pending task for one call, and its queue item; the item is `None`
/// when the arguments did not serialize (the task has failed already).
fn make_item<A, R>(args: &A) -> (Task<R>, Option<Item>)
where
    A: Serialize,
    R: DeserializeOwned + Send + 'static,
{
    let (task, promise) = task::promise::<R>();
    let sink = Box::new(TypedSink::new(promise));
    let error = match postcard::to_stdvec(args) {
        Ok(bytes) if bytes.len() <= MAX_ARGS => return (task, Some(Item { args: bytes, sink })),
        Ok(bytes) => format!(
            "the encoded arguments are {} bytes, over the {MAX_ARGS} byte limit for the \
             arguments of one call",
            bytes.len()
        ),
        Err(err) => format!(
            "could not encode the arguments ({}): {err}",
            std::any::type_name::<A>()
        ),
    };
    slot::Sink::fail(sink as Box<dyn slot::Sink>, TaskError::serialization(error));
    (task, None)
}

impl Drop for ProcessPool {
    /// `shutdown`, but waits at most 5 s for running tasks; then cancels
    /// what is queued and kills the workers.
    fn drop(&mut self) {
        cancel(self.shared.enter(Phase::Draining));
        if !self.join_slots(Some(Instant::now() + DROP_GRACE)) {
            self.kill();
        }
    }
}

impl fmt::Debug for ProcessPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let queue = lock(&self.shared.queue);
        f.debug_struct("ProcessPool")
            .field("num_workers", &self.num_workers)
            .field("queued", &queue.jobs.len())
            .field("phase", &queue.phase)
            .field("broken", &queue.broken)
            .finish()
    }
}

/// Configures and starts a [`ProcessPool`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// fn id(x: u8) -> u8 { x }
/// static TASKS: stealpool::process::Registry = stealpool::registry![id];
/// fn main() {
///     stealpool::process::bootstrap(&TASKS);
///     let pool = stealpool::ProcessPool::builder(&TASKS)
///         .num_workers(2)
///         .max_tasks_per_child(100)
///         .task_timeout(Duration::from_secs(30))
///         .build()
///         .unwrap();
///     assert_eq!(pool.num_workers(), 2);
/// }
/// ```
pub struct ProcessPoolBuilder {
    registry: &'static Registry,
    num_workers: Option<usize>,
    max_tasks_per_child: Option<usize>,
    task_timeout: Option<Duration>,
    program: Option<PathBuf>,
    initializer: Option<Initializer>,
}

/// What `initializer` recorded: the function's name, its argument and
/// result type names, and the encoded argument (or why it did not encode).
type Initializer = (
    &'static str,
    (&'static str, &'static str),
    Result<Vec<u8>, String>,
);

impl ProcessPoolBuilder {
    /// The number of worker processes; default `available_parallelism()`.
    /// 0 makes [`build`](Self::build) fail.
    ///
    /// # Examples
    ///
    /// ```
    /// static TASKS: stealpool::process::Registry = stealpool::registry![];
    /// let err = stealpool::ProcessPool::builder(&TASKS).num_workers(0).build().unwrap_err();
    /// assert!(err.to_string().contains("num_workers"));
    /// ```
    pub fn num_workers(mut self, n: usize) -> Self {
        self.num_workers = Some(n);
        self
    }

    /// Replaces each worker after it ran `n` tasks (each `map` item counts,
    /// and a chunk is cut at the limit); default: never. A replacement costs
    /// a process start, the handshake and the old worker's exit (~2.5 ms on a
    /// small VM) plus the initializer. 0 makes [`build`](Self::build) fail.
    ///
    /// # Examples
    ///
    /// ```
    /// static TASKS: stealpool::process::Registry = stealpool::registry![];
    /// let err = stealpool::ProcessPool::builder(&TASKS).max_tasks_per_child(0).build().unwrap_err();
    /// assert!(err.to_string().contains("max_tasks_per_child"));
    /// ```
    pub fn max_tasks_per_child(mut self, n: usize) -> Self {
        self.max_tasks_per_child = Some(n);
        self
    }

    /// A deadline for every task, counted from when its worker starts it: a
    /// task still running after `timeout` has its worker killed (SIGKILL)
    /// and fails with [`is_timeout`](TaskError::is_timeout); the worker is
    /// replaced. Default: none. ([`Task::wait_timeout`] never kills.) A
    /// timeout too long to represent as a point in time (such as
    /// `Duration::MAX`) means no limit.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # static TASKS: stealpool::process::Registry = stealpool::registry![];
    /// let pool = stealpool::ProcessPool::builder(&TASKS)
    ///     .task_timeout(std::time::Duration::from_secs(60))
    ///     .build();
    /// ```
    pub fn task_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.task_timeout = Some(timeout);
        self
    }

    /// The executable to run as a worker; default: the current executable.
    /// It must call [`bootstrap`](super::bootstrap) with the same registry
    /// first; otherwise [`build`](Self::build) fails and says so. On Linux
    /// it is opened once, by `build`, and every worker (replacements too)
    /// is started from that open file: replacing or deleting the file (an
    /// upgrade) or changing directory after a relative path does not stop
    /// the pool from replacing workers. (A `#!` script is started by path.)
    ///
    /// # Examples
    ///
    /// ```
    /// static TASKS: stealpool::process::Registry = stealpool::registry![];
    /// fn main() {
    ///     stealpool::process::bootstrap(&TASKS);
    ///     let err = stealpool::ProcessPool::builder(&TASKS)
    ///         .program("/nonexistent/worker")
    ///         .build()
    ///         .unwrap_err();
    ///     assert!(err.to_string().contains("/nonexistent/worker"));
    /// }
    /// ```
    pub fn program(mut self, path: impl Into<PathBuf>) -> Self {
        self.program = Some(path.into());
        self
    }

    /// A registered function each worker runs with `args` when it starts,
    /// before it takes any task (Python's `initializer`); it may run as long
    /// as [`task_timeout`](Self::task_timeout) allows (no limit without
    /// one). If it panics or runs out of time, the
    /// start fails; a pool whose start-ups fail three times in a row is
    /// broken: queued and later tasks fail with
    /// [`is_worker_lost`](TaskError::is_worker_lost), and `build` fails if
    /// it happens at once.
    ///
    /// # Examples
    ///
    /// ```
    /// fn setup(level: u8) {
    ///     std::env::set_var("MY_LEVEL", level.to_string());
    /// }
    /// fn level(_: ()) -> String {
    ///     std::env::var("MY_LEVEL").unwrap_or_default()
    /// }
    /// static TASKS: stealpool::process::Registry = stealpool::registry![setup, level];
    /// fn main() {
    ///     stealpool::process::bootstrap(&TASKS);
    ///     let pool = stealpool::ProcessPool::builder(&TASKS)
    ///         .num_workers(1)
    ///         .initializer(stealpool::remote!(setup), 3)
    ///         .build()
    ///         .unwrap();
    ///     assert_eq!(pool.submit(stealpool::remote!(level), ()).join().unwrap(), "3");
    /// }
    /// ```
    pub fn initializer<A: Serialize>(mut self, f: Remote<A, ()>, args: A) -> Self {
        let args = postcard::to_stdvec(&args).map_err(|err| err.to_string());
        self.initializer = Some((f.name(), f.types(), args));
        self
    }

    /// Starts the workers and waits for each one's handshake (and
    /// initializer).
    ///
    /// # Errors
    ///
    /// A [`BuildError`] that says which of these happened: `num_workers(0)`;
    /// `max_tasks_per_child(0)`; an initializer that is not registered or
    /// whose arguments do not serialize; the program cannot be started; it
    /// does not call [`bootstrap`](super::bootstrap) first; it was built with
    /// a different registry; the initializer failed; the OS refused a thread.
    /// No process or thread is left behind.
    ///
    /// # Examples
    ///
    /// ```
    /// fn id(x: u8) -> u8 { x }
    /// static TASKS: stealpool::process::Registry = stealpool::registry![id];
    /// fn main() {
    ///     stealpool::process::bootstrap(&TASKS);
    ///     match stealpool::ProcessPool::builder(&TASKS).num_workers(1).build() {
    ///         Ok(pool) => assert_eq!(pool.submit(stealpool::remote!(id), 5).join().unwrap(), 5),
    ///         Err(err) => panic!("{err}"),
    ///     }
    /// }
    /// ```
    pub fn build(self) -> Result<ProcessPool, BuildError> {
        if std::env::var_os(ENV_WORKER).is_some() {
            // A worker whose `main` did not start with `bootstrap`: building
            // a pool here would start a worker of a worker, and so on.
            return Err(BuildError::described(
                "this process was started as a process-pool worker but did not call \
                 stealpool::process::bootstrap first in main; it must not build pools",
            ));
        }
        let num_workers = match self.num_workers {
            Some(0) => {
                return Err(BuildError::described(
                    "num_workers(0): a process pool needs at least one worker",
                ))
            }
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if self.max_tasks_per_child == Some(0) {
            return Err(BuildError::described(
                "max_tasks_per_child(0): a worker must be allowed at least one task",
            ));
        }
        let initializer = match self.initializer {
            None => None,
            Some((name, types, args)) => {
                let index = self.registry.find(name).ok_or_else(|| {
                    BuildError::described(format!(
                        "the initializer `{name}` is not in the registry"
                    ))
                })?;
                let entry = self.registry.entry(index).expect("found above");
                if entry.types() != types {
                    return Err(BuildError::described(format!(
                        "the initializer `{name}` is registered as {entry:?}, \
                         not fn({}) -> {}: registry! and remote! name different functions",
                        types.0, types.1
                    )));
                }
                let args = args.map_err(|err| {
                    BuildError::described(format!(
                        "the initializer's arguments do not serialize: {err}"
                    ))
                })?;
                Some((index, args))
            }
        };
        let program = match self.program {
            Some(program) => program,
            None => std::env::current_exe().map_err(|err| {
                BuildError::described(format!(
                    "cannot find the current executable to run as a worker: {err}"
                ))
            })?,
        };
        let shared = Arc::new(Shared {
            registry: self.registry,
            recipe: Recipe {
                executable: Recipe::open_executable(&program),
                program,
                fingerprint: self.registry.fingerprint(),
                initializer,
                init_timeout: self.task_timeout,
            },
            max_tasks_per_child: self.max_tasks_per_child,
            task_timeout: self.task_timeout,
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                sleepers: 0,
                spinning: false,
                phase: Phase::Open,
                broken: None,
            }),
            work: Condvar::new(),
            version: AtomicU64::new(0),
            pids: (0..num_workers).map(|_| Arc::default()).collect(),
            live: Mutex::new(Slots::default()),
            exited: Condvar::new(),
            failures: AtomicUsize::new(0),
            roster: crate::executor::Roster::new(crate::executor::ExecutorId::next(), num_workers),
        });
        let pool = ProcessPool {
            shared: Arc::clone(&shared),
            threads: Mutex::new(Vec::with_capacity(num_workers)),
            num_workers,
        };
        let (started, reports) = mpsc::channel();
        for index in 0..num_workers {
            let shared = Arc::clone(&shared);
            let started = started.clone();
            lock(&pool.shared.live).live += 1;
            let spawned = std::thread::Builder::new()
                .name(format!("stealpool-process-{index}"))
                .spawn(move || slot::run(shared, index, started));
            match spawned {
                Ok(thread) => lock(&pool.threads).push(thread),
                Err(err) => {
                    lock(&pool.shared.live).live -= 1;
                    pool.kill();
                    return Err(BuildError::described(format!(
                        "the OS refused to start supervising thread {index}: {err}"
                    )));
                }
            }
        }
        drop(started);
        let mut first_error = None;
        for report in reports.iter().take(num_workers) {
            if let Err(err) = report {
                first_error.get_or_insert(err);
            }
        }
        if let Some(err) = first_error {
            pool.kill();
            return Err(BuildError::described(err.to_string()));
        }
        Ok(pool)
    }
}

impl fmt::Debug for ProcessPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPoolBuilder")
            .field("num_workers", &self.num_workers)
            .field("max_tasks_per_child", &self.max_tasks_per_child)
            .field("task_timeout", &self.task_timeout)
            .field("program", &self.program)
            .field(
                "initializer",
                &self.initializer.as_ref().map(|(name, ..)| name),
            )
            .finish()
    }
}
