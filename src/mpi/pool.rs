//! [`MpiPool`] and its builder (with the handshake); the dispatcher thread
//! behind it is in `dispatcher.rs`.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::*;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::dispatcher::{dispatch, on_the_dispatcher, Phase, Shared, State};
use super::launch::{self, Backoff, SESSION};
use super::message::{self, Tag};
use crate::build_error::BuildError;
use crate::combinators::Map;
use crate::event::Event;
use crate::process::promise::{self, Batch};
use crate::process::wire::{self, Reply};
use crate::process::{Registry, Remote};
use crate::sync::thread::{self, JoinHandle};
use crate::sync::{Arc, Condvar, Instant, Mutex};
use crate::task::Task;

/// How long `build` waits for every worker rank's hello, by default.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `Drop` lets running tasks finish before it stops waiting.
const DROP_GRACE: Duration = Duration::from_secs(5);

/// A pool whose workers are MPI ranks: `mpi4py.futures.MPIPoolExecutor`,
/// with the same [`Task`] as the [`ThreadPool`](crate::ThreadPool) and the
/// [`ProcessPool`](crate::ProcessPool) (feature `mpi`, Unix).
///
/// Launch the program with `mpirun -n N ./app` (or `srun`); its `main`
/// starts with [`bootstrap`](super::bootstrap), which turns ranks
/// `1..N` into workers; rank 0 builds the pool, and every other rank is one
/// of its workers, on whichever hosts the launcher placed them. The
/// functions, their encoding and the errors are the process pool's
/// ([`registry!`](crate::registry), [`remote!`](crate::remote)).
///
/// What fails how is in the [module docs](super): a panic fails its task
/// and the rank serves on; a deadline fails its task and takes the rank out
/// of the pool until it answers; a rank that dies usually ends the whole
/// job, as MPI does.
///
/// # Examples
///
/// ```no_run
/// fn square(x: u64) -> u64 {
///     x * x
/// }
/// static TASKS: stealpool::process::Registry = stealpool::registry![square];
///
/// fn main() {
///     stealpool::mpi::bootstrap(&TASKS);
///     let pool = stealpool::MpiPool::builder(&TASKS).build().unwrap();
///     let squares: Vec<u64> = pool
///         .map(1..=4, stealpool::remote!(square), 2)
///         .map(Result::unwrap)
///         .collect();
///     assert_eq!(squares, [1, 4, 9, 16]);
/// }
/// ```
#[doc(alias = "MPIPoolExecutor")]
pub struct MpiPool {
    shared: Arc<Shared>,
    dispatcher: Mutex<Option<JoinHandle<()>>>,
    num_workers: usize,
}

impl MpiPool {
    /// A builder for a pool that runs the functions of `registry` (the one
    /// every rank passed to [`bootstrap`](super::bootstrap)).
    ///
    /// # Examples
    ///
    /// ```
    /// static TASKS: stealpool::process::Registry = stealpool::registry![];
    /// // Outside `mpirun` there are no worker ranks: a clear error.
    /// let err = stealpool::MpiPool::builder(&TASKS).build().unwrap_err();
    /// assert!(err.to_string().contains("mpirun"), "{err}");
    /// ```
    pub fn builder(registry: &'static Registry) -> MpiPoolBuilder {
        MpiPoolBuilder {
            registry,
            task_timeout: None,
            handshake_timeout: HANDSHAKE_TIMEOUT,
        }
    }

    /// Runs `f(args)` on a worker rank; returns its [`Task`] at once. It
    /// waits in rank 0's queue (still cancellable) until a rank is free.
    /// Arguments that do not serialize give a task that has already failed
    /// ([`is_serialization`](crate::TaskError::is_serialization)); after `shutdown`
    /// the task is rejected.
    ///
    /// # Panics
    ///
    /// If `f` is not in the pool's registry, or is registered with another
    /// signature.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// fn square(x: u64) -> u64 { x * x }
    /// static TASKS: stealpool::process::Registry = stealpool::registry![square];
    /// fn main() {
    ///     stealpool::mpi::bootstrap(&TASKS);
    ///     let pool = stealpool::MpiPool::builder(&TASKS).build().unwrap();
    ///     let task = pool.submit(stealpool::remote!(square), 7);
    ///     assert_eq!(task.join().unwrap(), 49);
    /// }
    /// ```
    pub fn submit<A, R>(&self, f: Remote<A, R>, args: A) -> Task<R>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        let index = self.shared.registry.index_of(f, "MpiPool::submit");
        let (task, item) = promise::call::<A, R>(&args);
        let Some(item) = item else {
            return task;
        };
        let batch = Batch {
            task: index,
            items: vec![item],
        };
        if self.push(vec![batch]).is_err() {
            return Task::rejected();
        }
        task
    }

    /// Runs `f` on every item on the worker ranks; the results come back in
    /// input order. Items travel `chunk_size` per message (0 counts as 1).
    /// Dropping the [`Map`] early cancels the items not yet sent to a rank.
    ///
    /// # Panics
    ///
    /// If the pool is shut down, or `f` is not in its registry.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// fn square(x: u64) -> u64 { x * x }
    /// static TASKS: stealpool::process::Registry = stealpool::registry![square];
    /// fn main() {
    ///     stealpool::mpi::bootstrap(&TASKS);
    ///     let pool = stealpool::MpiPool::builder(&TASKS).build().unwrap();
    ///     let squares: Vec<u64> = pool.map(1..=4, stealpool::remote!(square), 2).map(Result::unwrap).collect();
    ///     assert_eq!(squares, [1, 4, 9, 16]);
    /// }
    /// ```
    pub fn map<A, R, I>(&self, items: I, f: Remote<A, R>, chunk_size: usize) -> Map<R>
    where
        I: IntoIterator<Item = A>,
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        let index = self.shared.registry.index_of(f, "MpiPool::map");
        if self.shared.state.lock().phase != Phase::Open {
            panic!("MpiPool::map: the pool is shut down");
        }
        let (tasks, batches) = promise::chunked::<A, R>(index, items, chunk_size);
        if self.push(batches).is_err() {
            panic!("MpiPool::map: the pool is shut down");
        }
        Map::new(tasks)
    }

    /// The number of worker ranks (every rank but 0).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// fn square(x: u64) -> u64 { x * x }
    /// static TASKS: stealpool::process::Registry = stealpool::registry![square];
    /// fn main() {
    ///     stealpool::mpi::bootstrap(&TASKS);
    ///     let pool = stealpool::MpiPool::builder(&TASKS).build().unwrap();
    ///     println!("{} worker ranks", pool.num_workers()); // mpirun -n N: N - 1
    /// }
    /// ```
    pub fn num_workers(&self) -> usize {
        self.num_workers
    }

    /// Stops taking work, lets every queued and running task finish, then
    /// stops the worker ranks (they exit) and returns. Idempotent; callable
    /// from any thread. Called from a task's `on_done` callback, which runs
    /// on the pool's dispatcher thread, it cannot wait for that thread: it
    /// returns at once, and the work still queued finishes after the
    /// callback returns.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// fn square(x: u64) -> u64 { x * x }
    /// static TASKS: stealpool::process::Registry = stealpool::registry![square];
    /// fn main() {
    ///     stealpool::mpi::bootstrap(&TASKS);
    ///     let pool = stealpool::MpiPool::builder(&TASKS).build().unwrap();
    ///     let queued = pool.submit(stealpool::remote!(square), 3);
    ///     pool.shutdown(); // the queued call still runs; then the ranks exit
    ///     assert_eq!(queued.join().unwrap(), 9);
    ///     assert!(pool.submit(stealpool::remote!(square), 4).join().unwrap_err().is_rejected());
    /// }
    /// ```
    pub fn shutdown(&self) {
        drop(self.shared.enter(Phase::Draining));
        self.join_dispatcher();
    }

    /// As [`shutdown`](Self::shutdown), but first cancels every queued task
    /// (running ones finish).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// fn square(x: u64) -> u64 { x * x }
    /// static TASKS: stealpool::process::Registry = stealpool::registry![square];
    /// fn main() {
    ///     stealpool::mpi::bootstrap(&TASKS);
    ///     let pool = stealpool::MpiPool::builder(&TASKS).build().unwrap();
    ///     let calls: Vec<_> = (0..100).map(|x| pool.submit(stealpool::remote!(square), x)).collect();
    ///     pool.shutdown_now(); // what no rank started yet ends cancelled
    ///     let cancelled = calls.into_iter().filter(|t| t.is_cancelled()).count();
    ///     println!("{cancelled} calls cancelled");
    /// }
    /// ```
    pub fn shutdown_now(&self) {
        drop(self.shared.enter(Phase::Now));
        self.join_dispatcher();
    }

    fn join_dispatcher(&self) {
        if on_the_dispatcher() {
            // A task callback (they run on the dispatcher) cannot wait for
            // the thread it runs on: the phase is set, and the dispatcher
            // finishes the work and exits once the callback returns.
            return;
        }
        self.shared.exited.wait();
        if let Some(dispatcher) = self.dispatcher.lock().take() {
            let _ = dispatcher.join();
        }
    }

    /// Queues `batches` unless the pool is shut down.
    fn push(&self, batches: Vec<Batch>) -> Result<(), Vec<Batch>> {
        let mut state = self.shared.state.lock();
        if state.phase != Phase::Open {
            return Err(batches);
        }
        state.batches.extend(batches);
        if state.idle {
            self.shared.work.notify_all();
        }
        Ok(())
    }
}

impl Drop for MpiPool {
    /// `shutdown`, but waits at most 5 s for running tasks; then they fail
    /// ([`is_worker_lost`](crate::TaskError::is_worker_lost)) and the ranks are
    /// told to stop once their current call returns (an MPI rank cannot be
    /// killed from here).
    fn drop(&mut self) {
        drop(self.shared.enter(Phase::Draining));
        if on_the_dispatcher() {
            // Dropped by a task callback: as `shutdown` there, no waiting;
            // the dispatcher's handle is detached.
            return;
        }
        if !self.shared.exited.wait_timeout(DROP_GRACE) {
            drop(self.shared.enter(Phase::Abandoned));
        }
        self.join_dispatcher();
    }
}

impl fmt::Debug for MpiPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state.lock();
        f.debug_struct("MpiPool")
            .field("num_workers", &self.num_workers)
            .field("queued", &state.batches.len())
            .field("phase", &state.phase)
            .finish()
    }
}

/// Configures and starts an [`MpiPool`].
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
///
/// static TASKS: stealpool::process::Registry = stealpool::registry![];
/// fn main() {
///     stealpool::mpi::bootstrap(&TASKS);
///     let pool = stealpool::MpiPool::builder(&TASKS)
///         .task_timeout(Duration::from_secs(600))
///         .build()
///         .unwrap();
///     println!("{} worker ranks", pool.num_workers());
/// }
/// ```
pub struct MpiPoolBuilder {
    registry: &'static Registry,
    task_timeout: Option<Duration>,
    handshake_timeout: Duration,
}

impl MpiPoolBuilder {
    /// A deadline for every task, counted from when its rank starts it: a
    /// task still running after `timeout` fails with
    /// [`is_timeout`](crate::TaskError::is_timeout). An MPI rank cannot be killed,
    /// so the rank is taken out of the pool until it answers, and the pool
    /// says so on stderr. Default: none; a timeout too long to represent
    /// means none.
    ///
    /// # Examples
    ///
    /// ```
    /// static TASKS: stealpool::process::Registry = stealpool::registry![];
    /// let builder = stealpool::MpiPool::builder(&TASKS).task_timeout(std::time::Duration::from_secs(60));
    /// # drop(builder);
    /// ```
    pub fn task_timeout(mut self, timeout: Duration) -> Self {
        self.task_timeout = Some(timeout);
        self
    }

    /// How long `build` waits for every worker rank to answer the handshake
    /// (default 10 s). A rank that does not answer usually runs a `main`
    /// that does not call [`bootstrap`](super::bootstrap) first.
    ///
    /// # Examples
    ///
    /// ```
    /// static TASKS: stealpool::process::Registry = stealpool::registry![];
    /// let builder = stealpool::MpiPool::builder(&TASKS)
    ///     .handshake_timeout(std::time::Duration::from_secs(30));
    /// # drop(builder);
    /// ```
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Shakes hands with every worker rank and starts the dispatcher.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] that says which of these happened: the program was
    /// not started by `mpirun`/`mpiexec`/`srun`; the job has one rank only;
    /// this is not rank 0 (its `main` did not call
    /// [`bootstrap`](super::bootstrap) first); an `MpiPool` is alive
    /// already, or an earlier one stopped the worker ranks; a rank did not
    /// answer the handshake in time, speaks another protocol, or was built
    /// with a different registry.
    ///
    /// # Examples
    ///
    /// ```
    /// static TASKS: stealpool::process::Registry = stealpool::registry![];
    /// match stealpool::MpiPool::builder(&TASKS).build() {
    ///     Ok(pool) => println!("{} worker ranks", pool.num_workers()),
    ///     Err(err) => eprintln!("no MPI pool: {err}"),
    /// }
    /// ```
    pub fn build(self) -> Result<MpiPool, BuildError> {
        if !launch::under_a_launcher() {
            return Err(BuildError::described(
                "MpiPool needs MPI ranks: start the program with mpirun -n N (or mpiexec, or \
                 srun under Slurm), with stealpool::mpi::bootstrap first in main",
            ));
        }
        let mut session = SESSION.lock();
        if mpi::environment::is_finalized() {
            return Err(BuildError::described(
                "MPI is finalized already: an MpiPool can only be built before the program exits",
            ));
        }
        if !mpi::environment::is_initialized() {
            // `bootstrap` was not called on this rank: initialize here.
            drop(session);
            if let Some(universe) = launch::initialize() {
                launch::keep_until_exit(universe);
            }
            session = SESSION.lock();
        }
        let world = SimpleCommunicator::world();
        let rank = world.rank();
        if rank != 0 {
            return Err(BuildError::described(format!(
                "this is MPI rank {rank}, and only rank 0 builds an MpiPool: every rank's main \
                 must call stealpool::mpi::bootstrap(&TASKS) first, which makes ranks 1.. \
                 workers"
            )));
        }
        let size = world.size();
        if size < 2 {
            return Err(BuildError::described(
                "the MPI job has one rank only, and MpiPool needs at least one worker rank: \
                 start it with mpirun -n 2 or more",
            ));
        }
        if session.in_use {
            return Err(BuildError::described(
                "an MpiPool is alive already on this job",
            ));
        }
        if session.stopped {
            return Err(BuildError::described(
                "an earlier MpiPool shut down, and with it the worker ranks: build one pool \
                 per job",
            ));
        }
        if let Err(err) = handshake(&world, self.registry, self.handshake_timeout) {
            launch::stop_workers(&world);
            session.stopped = true;
            return Err(BuildError::described(err));
        }
        session.in_use = true;
        drop(session);
        let shared = Arc::new(Shared {
            registry: self.registry,
            task_timeout: self.task_timeout,
            state: Mutex::new(State {
                batches: VecDeque::new(),
                phase: Phase::Open,
                idle: false,
            }),
            work: Condvar::new(),
            exited: Event::new(),
        });
        let workers = usize::try_from(size - 1).expect("a positive rank count");
        let dispatcher = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("stealpool-mpi".into())
                .spawn(move || dispatch(&shared, workers))
                .map_err(|err| {
                    launch::stop_workers(&world);
                    let mut session = SESSION.lock();
                    session.stopped = true;
                    session.in_use = false;
                    BuildError::described(format!(
                        "the OS refused to start the MPI dispatcher thread: {err}"
                    ))
                })?
        };
        Ok(MpiPool {
            shared,
            dispatcher: Mutex::new(Some(dispatcher)),
            num_workers: workers,
        })
    }
}

impl fmt::Debug for MpiPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MpiPoolBuilder")
            .field("task_timeout", &self.task_timeout)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

/// Says hello to every worker rank and checks each answer, within
/// `timeout` in all.
fn handshake(
    world: &SimpleCommunicator,
    registry: &Registry,
    timeout: Duration,
) -> Result<(), String> {
    for rank in 1..world.size() {
        world
            .process_at_rank(rank)
            .send_with_tag(&[0_u8][..], Tag::Hello as i32);
    }
    let deadline = Instant::now() + timeout;
    let mut missing: Vec<i32> = (1..world.size()).collect();
    let mut backoff = Backoff::new();
    while !missing.is_empty() {
        let Some(probed) = world
            .any_process()
            .immediate_matched_probe_with_tag(Tag::Hello as i32)
        else {
            if Instant::now() >= deadline {
                let ranks: Vec<String> = missing.iter().map(i32::to_string).collect();
                return Err(format!(
                    "MPI rank(s) {} did not answer the handshake within {timeout:?}: does \
                     every rank's main call stealpool::mpi::bootstrap(&TASKS) first?",
                    ranks.join(", ")
                ));
            }
            backoff.snooze();
            continue;
        };
        let (bytes, status) = probed.matched_receive_vec::<u8>();
        let rank = status.source_rank();
        missing.retain(|&r| r != rank);
        match message::decode::<Reply>(&bytes) {
            Ok(Reply::Hello {
                version,
                fingerprint,
                ..
            }) => {
                if version != wire::VERSION {
                    return Err(format!(
                        "MPI rank {rank} speaks protocol {version}, rank 0 {}",
                        wire::VERSION
                    ));
                }
                if fingerprint != registry.fingerprint() {
                    return Err(format!(
                        "MPI rank {rank} was built with a different registry (or is a \
                         different program)"
                    ));
                }
            }
            _ => {
                return Err(format!(
                    "MPI rank {rank} answered the handshake with garbage"
                ))
            }
        }
    }
    Ok(())
}
