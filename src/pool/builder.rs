//! [`ThreadPoolBuilder`]: configuring and starting a pool.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::job::Job;
use super::queue::Worker;
use super::shared::{Hook, Shared};
use super::worker::WorkerThread;
use super::ThreadPool;
use crate::build_error::BuildError;
use crate::event::Event;
use crate::executor::{PanicHandler, Payload};
use crate::sync::{thread, Arc, Condvar, Mutex, StdArc};

/// Configures and builds a [`ThreadPool`].
///
/// Every option has a default: `available_parallelism()` threads named
/// `stealpool-worker-{index}`, the platform's default stack size (2 MiB on
/// Linux), no hooks, and panics of `spawn`ed jobs ignored after the standard
/// panic hook has printed them.
///
/// # Examples
///
/// ```
/// use stealpool::ThreadPool;
///
/// let pool = ThreadPool::builder()
///     .num_threads(4)
///     .thread_name(|i| format!("io-{i}"))
///     .stack_size(4 << 20)
///     .on_thread_start(|i| println!("worker {i} up"))
///     .on_thread_stop(|i| println!("worker {i} down"))
///     .panic_handler(|payload| eprintln!("a spawned job panicked"))
///     .build()
///     .unwrap();
/// assert_eq!(pool.num_threads(), 4);
/// ```
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Default)]
pub struct ThreadPoolBuilder {
    num_threads: Option<usize>,
    thread_name: Option<Box<dyn Fn(usize) -> String + Send + Sync + 'static>>,
    stack_size: Option<usize>,
    start_hook: Option<Hook>,
    stop_hook: Option<Hook>,
    panic_handler: Option<PanicHandler>,
}

impl fmt::Debug for ThreadPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolBuilder")
            .field("num_threads", &self.num_threads)
            .field("stack_size", &self.stack_size)
            .finish_non_exhaustive()
    }
}

/// How the builder and the starting workers meet: each worker reports its
/// start hook's outcome, then waits for the verdict.
struct StartGate {
    /// (workers that reported, first failure).
    reports: Mutex<(usize, Option<BuildError>)>,
    /// Signalled on each report.
    reported: Condvar,
    /// Set by the builder once all have reported: go (or abort).
    verdict: Event,
    /// The verdict: the pool failed to build; workers must stop.
    abort: crate::sync::atomic::AtomicBool,
}

impl ThreadPoolBuilder {
    /// A builder with every option at its default.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPoolBuilder::new().build().unwrap();
    /// assert!(pool.num_threads() >= 1);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether [`num_threads`](Self::num_threads) was called (the global
    /// pool's environment variable applies only otherwise).
    pub(crate) fn has_num_threads(&self) -> bool {
        self.num_threads.is_some()
    }

    /// The number of worker threads; default `available_parallelism()`.
    /// Zero makes `build` fail.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPool::builder().num_threads(3).build().unwrap();
    /// assert_eq!(pool.num_threads(), 3);
    /// ```
    #[doc(alias = "max_workers", alias = "worker_threads")]
    pub fn num_threads(mut self, n: usize) -> Self {
        self.num_threads = Some(n);
        self
    }

    /// Names worker `index` by `f(index)`; default `stealpool-worker-{index}`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPool::builder()
    ///     .num_threads(1)
    ///     .thread_name(|i| format!("render-{i}"))
    ///     .build()
    ///     .unwrap();
    /// let name = pool.install(|| std::thread::current().name().map(String::from));
    /// assert_eq!(name.as_deref(), Some("render-0"));
    /// ```
    #[doc(alias = "thread_name_prefix")]
    pub fn thread_name<F>(mut self, f: F) -> Self
    where
        F: Fn(usize) -> String + Send + Sync + 'static,
    {
        self.thread_name = Some(Box::new(f));
        self
    }

    /// The stack size of each worker, in bytes; default: the platform's
    /// (2 MiB on Linux). Raise it for deep recursion inside tasks.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPool::builder().stack_size(8 << 20).build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Runs `f(index)` on each worker before it takes any task (Python's
    /// `initializer`). `build` returns after every worker ran it; if it
    /// panics anywhere, `build` fails and stops the workers that started.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let started = Arc::new(AtomicUsize::new(0));
    /// let counter = Arc::clone(&started);
    /// let pool = stealpool::ThreadPool::builder()
    ///     .num_threads(2)
    ///     .on_thread_start(move |_| { counter.fetch_add(1, Ordering::SeqCst); })
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(started.load(Ordering::SeqCst), 2);
    /// ```
    #[doc(alias = "initializer", alias = "start_handler")]
    pub fn on_thread_start<F>(mut self, f: F) -> Self
    where
        F: Fn(usize) + Send + Sync + 'static,
    {
        self.start_hook = Some(StdArc::new(f));
        self
    }

    /// Runs `f(index)` on each worker as it exits (after its last task). A
    /// panic in it is reported to the panic handler.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let stopped = Arc::new(AtomicUsize::new(0));
    /// let counter = Arc::clone(&stopped);
    /// let pool = stealpool::ThreadPool::builder()
    ///     .num_threads(2)
    ///     .on_thread_stop(move |_| { counter.fetch_add(1, Ordering::SeqCst); })
    ///     .build()
    ///     .unwrap();
    /// pool.shutdown();
    /// assert_eq!(stopped.load(Ordering::SeqCst), 2);
    /// ```
    #[doc(alias = "exit_handler")]
    pub fn on_thread_stop<F>(mut self, f: F) -> Self
    where
        F: Fn(usize) + Send + Sync + 'static,
    {
        self.stop_hook = Some(StdArc::new(f));
        self
    }

    /// Receives the panic of every `spawn`ed job (and of `on_done` callbacks
    /// and stop hooks). Default: ignore it (the standard panic hook has
    /// already printed the message). A panic inside the handler is caught
    /// and dropped. `submit`ted tasks keep their panics in their `Task`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// let (tx, rx) = mpsc::channel();
    /// let tx = std::sync::Mutex::new(tx);
    /// let pool = stealpool::ThreadPool::builder()
    ///     .num_threads(1)
    ///     .panic_handler(move |payload| {
    ///         let message = payload.downcast_ref::<&str>().copied().unwrap_or("?");
    ///         tx.lock().unwrap().send(message.to_string()).unwrap();
    ///     })
    ///     .build()
    ///     .unwrap();
    /// pool.spawn(|| panic!("lost job"));
    /// assert_eq!(rx.recv().unwrap(), "lost job");
    /// ```
    pub fn panic_handler<F>(mut self, f: F) -> Self
    where
        F: Fn(Box<dyn std::any::Any + Send>) + Send + Sync + 'static,
    {
        self.panic_handler = Some(StdArc::new(f));
        self
    }

    /// Starts the workers and returns once each has run its start hook.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] if `num_threads` is 0, if the OS refuses to start a
    /// thread, or if a start hook panics; every worker already started is
    /// then stopped (running its stop hook) and joined.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPool::builder().num_threads(2).build()?;
    /// assert_eq!(pool.install(|| 1 + 1), 2);
    /// # Ok::<(), stealpool::BuildError>(())
    /// ```
    pub fn build(self) -> Result<ThreadPool, BuildError> {
        let n = match self.num_threads {
            Some(0) => return Err(BuildError::zero_threads()),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let names: Vec<String> = (0..n)
            .map(|i| match &self.thread_name {
                Some(f) => f(i),
                None => format!("stealpool-worker-{i}"),
            })
            .collect();
        let deques: Vec<Worker<Job>> = (0..n).map(|_| Worker::new_lifo()).collect();
        let shared = Arc::new(Shared::new(
            deques.iter().map(Worker::stealer).collect(),
            names.clone(),
            self.panic_handler.clone(),
            self.stop_hook.clone(),
        ));
        let gate = Arc::new(StartGate {
            reports: Mutex::new((0, None)),
            reported: Condvar::new(),
            verdict: Event::new(),
            abort: crate::sync::atomic::AtomicBool::new(false),
        });

        // Under loom, the start-up handshake (a mutex, a condvar and an
        // event, none of them a protocol the models are about) runs on one
        // fixed schedule: exploring it would multiply every pool model's
        // state space. Exploration resumes before the verdict, so everything
        // the workers do once released is explored.
        #[cfg(loom)]
        loom::stop_exploring();
        let mut handles = Vec::with_capacity(n);
        let mut spawn_error = None;
        for (index, deque) in deques.into_iter().enumerate() {
            let mut builder = thread::Builder::new().name(names[index].clone());
            if let Some(size) = self.stack_size {
                builder = builder.stack_size(size);
            }
            let (shared, gate, start_hook) = (
                Arc::clone(&shared),
                Arc::clone(&gate),
                self.start_hook.clone(),
            );
            match builder.spawn(move || worker_main(shared, index, deque, gate, start_hook)) {
                Ok(handle) => handles.push(Some(handle)),
                Err(source) => {
                    spawn_error = Some(BuildError::spawn(index, source));
                    break;
                }
            }
        }
        let started = handles.len();

        // Wait for every started worker's report.
        let failure = {
            let mut reports = gate.reports.lock();
            while reports.0 < started {
                reports = gate.reported.wait(reports);
            }
            spawn_error.or_else(|| reports.1.take())
        };
        *shared.threads.lock() = handles;
        #[cfg(loom)]
        loom::explore();
        if let Some(error) = failure {
            // Workers that never started have nothing to wait for.
            for index in started..n {
                shared.roster.exit(index);
            }
            // Relaxed: the Event's set/wait orders it for the workers.
            gate.abort
                .store(true, crate::sync::atomic::Ordering::Relaxed);
            gate.verdict.set();
            shared.shutdown(true);
            return Err(error);
        }
        gate.verdict.set();
        Ok(ThreadPool { shared })
    }
}

/// The body of a worker thread.
fn worker_main(
    shared: Arc<Shared>,
    index: usize,
    deque: Worker<Job>,
    gate: Arc<StartGate>,
    start_hook: Option<Hook>,
) {
    let worker = WorkerThread::new(Arc::clone(&shared), index, deque);
    let started = match &start_hook {
        Some(hook) => catch_unwind(AssertUnwindSafe(|| hook(index))),
        None => Ok(()),
    };
    let ok = started.is_ok();
    let failure = started.err().map(|payload| {
        let message = crate::task::panic_message(&*payload);
        // The payload is a user value: its Drop may panic too.
        crate::unwind::drop_payload(payload);
        BuildError::start_hook_panicked(index, message)
    });
    {
        let mut reports = gate.reports.lock();
        reports.0 += 1;
        if let Some(failure) = failure {
            reports.1.get_or_insert(failure);
        }
        gate.reported.notify_all();
    }
    gate.verdict.wait();
    // Relaxed: the Event's set/wait ordered the builder's store before us.
    let abort = gate.abort.load(crate::sync::atomic::Ordering::Relaxed);
    drop(gate);
    // SAFETY: the `Shared` state (kept alive by our `Arc`) and `worker` (on this
    // frame) outlive the guard, which is dropped at the end of this frame, on
    // this thread.
    let seat = unsafe {
        shared
            .roster
            .enter(index, &worker as *const WorkerThread as *const ())
    };
    if !abort {
        worker.run();
    }
    // No longer a worker that takes pool work; `shutdown` still sees the
    // seat until it exits below.
    seat.retire_worker();
    if ok {
        if let Some(hook) = &shared.stop_hook {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| hook(index))) {
                report(&shared, payload);
            }
        }
    }
    shared.roster.exit(index);
    drop(seat);
}

fn report(shared: &Shared, payload: Payload) {
    crate::executor::report_panic(Some(shared.id), payload);
}
