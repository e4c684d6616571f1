//! [`ProcessPoolBuilder`]: configuring a process pool and starting its
//! workers.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::child::{Recipe, StartError};
use super::pool::ProcessPool;
use super::queue::{Limits, Queue};
use super::registry::{Registry, Remote};
use super::supervisor;
use super::wire::ENV_WORKER;
use crate::build_error::BuildError;
use crate::sync::{thread, Arc, Condvar, Mutex};
#[cfg(doc)]
use crate::task::{Task, TaskError};

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
    /// A builder with every option at its default.
    pub(crate) fn new(registry: &'static Registry) -> ProcessPoolBuilder {
        ProcessPoolBuilder {
            registry,
            num_workers: None,
            max_tasks_per_child: None,
            task_timeout: None,
            program: None,
            initializer: None,
        }
    }

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
    #[doc(alias = "max_workers")]
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
    #[doc(alias = "set_executable")]
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
    #[doc(alias = "initargs")]
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
        let limits = Limits {
            recipe: Recipe {
                executable: Recipe::open_executable(&program),
                program,
                fingerprint: self.registry.fingerprint(),
                initializer,
                init_timeout: self.task_timeout,
            },
            max_tasks_per_child: self.max_tasks_per_child,
            task_timeout: self.task_timeout,
        };
        let queue = Arc::new(Queue::new(self.registry, limits, num_workers));
        let reports = Arc::new(StartReports {
            state: Mutex::new((0, None)),
            reported: Condvar::new(),
        });
        let mut threads = Vec::with_capacity(num_workers);
        let mut refused = None;
        for index in 0..num_workers {
            let (shared, reports) = (Arc::clone(&queue), Arc::clone(&reports));
            queue.supervisor_started();
            let spawned = thread::Builder::new()
                .name(format!("stealpool-process-{index}"))
                .spawn(move || {
                    let reporter = Reporter(Some(reports));
                    supervisor::run(shared, index, move |started| reporter.report(started));
                });
            match spawned {
                Ok(thread) => threads.push(thread),
                Err(err) => {
                    queue.supervisor_exited();
                    refused = Some(BuildError::described(format!(
                        "the OS refused to start supervising thread {index}: {err}"
                    )));
                    break;
                }
            }
        }
        let started = threads.len();
        let pool = ProcessPool::from_parts(queue, threads, num_workers);
        if let Some(err) = refused {
            pool.kill();
            return Err(err);
        }
        if let Some(err) = reports.first_error(started) {
            pool.kill();
            return Err(BuildError::described(err.to_string()));
        }
        Ok(pool)
    }
}

/// Where the supervisors report their first worker's start-up, and `build`
/// waits for all of them.
struct StartReports {
    /// How many reported, and the first failure.
    state: Mutex<(usize, Option<StartError>)>,
    reported: Condvar,
}

/// One supervisor's report. Dropped unsent (the supervisor panicked first),
/// it reports a failure, so `build` never waits for it in vain.
struct Reporter(Option<Arc<StartReports>>);

impl Reporter {
    fn report(mut self, started: Result<(), StartError>) {
        if let Some(reports) = self.0.take() {
            reports.add(started);
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        if let Some(reports) = self.0.take() {
            reports.add(Err(StartError::SupervisorPanicked));
        }
    }
}

impl StartReports {
    fn add(&self, started: Result<(), StartError>) {
        let mut state = self.state.lock();
        state.0 += 1;
        if let Err(err) = started {
            state.1.get_or_insert(err);
        }
        self.reported.notify_all();
    }

    /// Waits for `count` reports; the first failure among them.
    fn first_error(&self, count: usize) -> Option<StartError> {
        let mut state = self.state.lock();
        while state.0 < count {
            state = self.reported.wait(state);
        }
        state.1.take()
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
