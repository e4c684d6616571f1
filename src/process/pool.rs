//! [`ProcessPool`]: submission, `map`, and the shutdown family. The
//! builder is in `builder.rs`, the shared queue in `queue.rs`, and the
//! supervisors in `supervisor.rs`.

use std::fmt;

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::builder::ProcessPoolBuilder;
use super::promise::{self, Batch};
use super::queue::{Phase, Queue};
use super::registry::{Registry, Remote};
use crate::combinators::Map;
use crate::sync::thread::JoinHandle;
use crate::sync::{Arc, Instant, Mutex};
use crate::task::Task;

/// How long `Drop` lets running tasks finish before it kills the workers.
const DROP_GRACE: Duration = Duration::from_secs(5);

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
#[doc(alias = "ProcessPoolExecutor", alias = "Executor")]
pub struct ProcessPool {
    queue: Arc<Queue>,
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
        ProcessPoolBuilder::new(registry)
    }

    /// The pool over `queue`, served by the supervisors `threads`.
    pub(crate) fn from_parts(
        queue: Arc<Queue>,
        threads: Vec<JoinHandle<()>>,
        num_workers: usize,
    ) -> ProcessPool {
        ProcessPool {
            queue,
            threads: Mutex::new(threads),
            num_workers,
        }
    }

    /// Runs `f(args)` in a worker process; returns its [`Task`] at once.
    ///
    /// The task waits in the pool's queue (still cancellable) until a worker
    /// is free to start it; tasks are handed over in submission order. If
    /// `args` cannot be serialized, the task has already failed with
    /// [`is_serialization`](crate::TaskError::is_serialization); after `shutdown` it
    /// is rejected ([`is_rejected`](crate::TaskError::is_rejected)).
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
        let index = self.queue.registry.index_of(f, "ProcessPool::submit");
        let (task, item) = promise::call::<A, R>(&args);
        let Some(item) = item else {
            return task;
        };
        if let Err(batch) = self.queue.push(vec![Batch {
            task: index,
            items: vec![item],
        }]) {
            drop(batch);
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
        let index = self.queue.registry.index_of(f, "ProcessPool::map");
        if self.queue.lock().phase != Phase::Open {
            panic!("ProcessPool::map: the pool is shut down");
        }
        let (tasks, batches) = promise::chunked::<A, R>(index, items, chunk_size);
        if let Err(batches) = self.queue.push(batches) {
            drop(batches);
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
    #[doc(alias = "max_workers")]
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
        drop(self.queue.enter(Phase::Draining));
        self.join_supervisors(None);
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
    #[doc(alias = "cancel_futures")]
    pub fn shutdown_now(&self) {
        // Dropping the queued batches' pending promises cancels their tasks.
        drop(self.queue.enter(Phase::Now));
        self.join_supervisors(None);
    }

    /// Cancels every queued task, kills every worker at once (SIGKILL; their
    /// running tasks fail with [`is_worker_lost`](crate::TaskError::is_worker_lost)),
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
    #[doc(alias = "terminate_workers", alias = "kill_workers")]
    pub fn kill(&self) {
        let queued = self.queue.enter(Phase::Killed);
        // Kill first: the cancelled tasks' callbacks may call back into the
        // pool (even `shutdown`), which must not wait on hung workers.
        self.queue.kill_workers();
        drop(queued);
        self.join_supervisors(None);
    }

    /// Waits for the supervisors (until `deadline`), then joins them. On a
    /// supervisor of this pool (a task callback), it waits for the others
    /// (but those blocked in callbacks too) and joins none.
    fn join_supervisors(&self, deadline: Option<Instant>) -> bool {
        if !self.queue.wait_supervisors(deadline) {
            return false;
        }
        if self.queue.is_supervisor() {
            // Another supervisor may be blocked in a callback of its own:
            // joining it could wait on each other. They exit once their
            // callbacks return; their handles are joined by an outside
            // caller, or detached with the pool.
            return true;
        }
        let threads = std::mem::take(&mut *self.threads.lock());
        for thread in threads {
            let _ = thread.join();
        }
        true
    }
}

impl Drop for ProcessPool {
    /// `shutdown`, but waits at most 5 s for running tasks; then cancels
    /// what is queued and kills the workers.
    fn drop(&mut self) {
        drop(self.queue.enter(Phase::Draining));
        if !self.join_supervisors(Some(Instant::now() + DROP_GRACE)) {
            self.kill();
        }
    }
}

impl fmt::Debug for ProcessPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.queue.lock();
        f.debug_struct("ProcessPool")
            .field("num_workers", &self.num_workers)
            .field("queued", &state.queued())
            .field("phase", &state.phase)
            .field("broken", &state.broken())
            .finish()
    }
}
