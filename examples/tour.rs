//! A tour of stealpool: `cargo run --release --example tour`.
//!
//! Each section shows one capability on a scenario from Python's
//! `concurrent.futures` and `threading` documentation, and prints what it
//! measured.
//!
//! **Event.** A "server" thread takes a while to start; a client must not
//! connect before it is up. First the client polls a flag (in a hot loop, then
//! with a sleep between looks), then it waits on an [`Event`]. For each way the
//! tour prints how long after the server came up the client noticed, and how
//! much CPU the client burnt while it waited.
//!
//! **ThreadPool.** The scenario of Python's `ThreadPoolExecutor` docs: two
//! workers, three one-second tasks, so one of them waits for a free worker
//! and the whole takes about two seconds. Then synchronous submission
//! (`install`, which blocks and may borrow) against asynchronous (`submit`,
//! which returns a [`Task`] at once); four ways to get a task's result
//! (polling `is_done`, blocking `join`, an `on_done` callback, `.await` on a
//! tiny executor); `shutdown` that waits for queued work and rejects later
//! submissions; and the deadlock Python's docs warn about (a task that waits
//! on a task of its own one-thread pool), which stealpool runs to completion.
//!
//! **Fork-join.** A parallel sum by recursive `join` against the sequential
//! loop, and a `scope` whose spawned closures fill a borrowed buffer in place.
//! (`examples/parallel_quicksort.rs` sorts with `join`.)

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use stealpool::{Event, Task, ThreadPool};

/// How long the pretend server takes to start.
const STARTUP: Duration = Duration::from_millis(300);

/// The sleep between looks of the polling client.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// How long each task of the two-workers, three-tasks scenario sleeps.
const LONG_TASK: Duration = Duration::from_secs(1);

/// How long the tasks of the later thread-pool demos sleep.
const SHORT_TASK: Duration = Duration::from_millis(100);

/// Runs every section of the tour in turn.
fn main() {
    println!("stealpool tour\n");
    event_section();
    thread_pool_section();
    fork_join_section();
}

/// Fork-join: `join` for divide and conquer, `scope` for borrowed buffers.
fn fork_join_section() {
    println!("\n== Fork-join: join and scope ==");
    let pool = ThreadPool::builder().build().unwrap();

    /// Sums `v` by splitting it in halves with `join` down to a cutoff.
    fn parallel_sum(v: &[u64]) -> u64 {
        if v.len() <= 16 * 1024 {
            return v.iter().sum();
        }
        let (left, right) = v.split_at(v.len() / 2);
        let (a, b) = stealpool::join(|| parallel_sum(left), || parallel_sum(right));
        a + b
    }
    let numbers: Vec<u64> = (0..8_000_000).collect();
    let start = Instant::now();
    let sequential: u64 = numbers.iter().sum();
    let t_seq = start.elapsed();
    let start = Instant::now();
    let parallel = pool.install(|| parallel_sum(&numbers));
    let t_par = start.elapsed();
    assert_eq!(parallel, sequential);
    println!(
        "sum of 8M numbers: sequential {t_seq:.2?}, recursive join on {} threads {t_par:.2?} (same result: {parallel})",
        pool.num_threads()
    );

    // A scope: spawned closures borrow disjoint parts of a buffer on our
    // stack; `scope` returns only after all of them finished.
    let mut image = vec![0_u8; 1 << 20];
    let start = Instant::now();
    pool.scope(|s| {
        for (row, line) in image.chunks_mut(1024).enumerate() {
            s.spawn(move || {
                for (col, pixel) in line.iter_mut().enumerate() {
                    *pixel = ((row ^ col) & 0xFF) as u8;
                }
            });
        }
    });
    let checksum: u64 = image.iter().map(|&p| u64::from(p)).sum();
    println!(
        "scope: 1024 spawned closures filled a borrowed 1 MiB buffer in {:.2?} (checksum {checksum})",
        start.elapsed()
    );
    println!(
        "join keeps its second closure on the caller's stack and hands it to a worker only when one is idle\n\
         and asks; otherwise it calls it itself, at about the cost of a function call. While it waits for a\n\
         half that was taken, it helps the worker that took it, so no thread sits idle."
    );
}

/// What one way of waiting cost the client.
struct Cost {
    /// From the server's "ready" to the client's "connect".
    delay: Duration,
    /// CPU time the client thread used while it waited, if the OS tells.
    cpu: Option<Duration>,
}

/// Event: a client waits for a server to come up, three ways.
fn event_section() {
    println!("== Event: don't connect before the server is up ==");
    println!(
        "The server needs {STARTUP:?} to start. How late does the client notice, and what does waiting cost?\n"
    );
    let rows = [
        ("poll a flag in a hot loop", busy_poll()),
        ("poll a flag, sleep 10 ms between looks", sleepy_poll()),
        ("Event::wait", event_wait()),
    ];
    println!(
        "{:<42} {:>16} {:>22}",
        "client strategy", "notice delay", "client CPU while waiting"
    );
    for (name, cost) in &rows {
        let cpu = cost
            .cpu
            .map_or_else(|| "n/a".to_string(), |cpu| format!("{cpu:.2?}"));
        println!("{name:<42} {:>16} {cpu:>22}", format!("{:.2?}", cost.delay));
    }
    println!(
        "\nPolling trades CPU for latency: a hot loop burns a whole core, a sleep adds up to its \
         interval of delay. Event::wait sleeps in the kernel, uses no CPU, and is woken as soon as set() runs (the delay left is the OS wake-up latency).\n"
    );
}

/// Runs a server that takes [`STARTUP`] and then calls `announce`, and a
/// client that runs `wait_for_server`; returns what waiting cost the client.
fn scenario<S, C>(announce: S, wait_for_server: C) -> Cost
where
    S: FnOnce() + Send + 'static,
    C: FnOnce() + Send + 'static,
{
    let ready_at = Arc::new(Mutex::new(None::<Instant>));
    let server = {
        let ready_at = Arc::clone(&ready_at);
        thread::spawn(move || {
            thread::sleep(STARTUP); // bind, load configuration, warm caches...
            *ready_at.lock().unwrap() = Some(Instant::now());
            announce();
        })
    };
    let client = thread::spawn(move || {
        let cpu_before = thread_cpu_time();
        wait_for_server();
        let connected_at = Instant::now();
        let cpu = thread_cpu_time()
            .zip(cpu_before)
            .map(|(after, before)| after.saturating_sub(before));
        (connected_at, cpu)
    });
    let (connected_at, cpu) = client.join().unwrap();
    server.join().unwrap();
    let ready_at = ready_at.lock().unwrap().expect("the server came up");
    Cost {
        delay: connected_at.saturating_duration_since(ready_at),
        cpu,
    }
}

/// The client polls an atomic flag in a hot loop.
fn busy_poll() -> Cost {
    let up = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&up);
    scenario(
        move || flag.store(true, Ordering::Release),
        move || while !up.load(Ordering::Acquire) {},
    )
}

/// The client polls an atomic flag, sleeping [`POLL_INTERVAL`] between looks.
fn sleepy_poll() -> Cost {
    let up = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&up);
    scenario(
        move || flag.store(true, Ordering::Release),
        move || {
            while !up.load(Ordering::Acquire) {
                thread::sleep(POLL_INTERVAL);
            }
        },
    )
}

/// The client waits on an [`Event`] that the server sets.
fn event_wait() -> Cost {
    let up = Arc::new(Event::new());
    let event = Arc::clone(&up);
    scenario(move || event.set(), move || up.wait())
}

/// CPU time used by the calling thread (Linux: `/proc/thread-self/schedstat`).
fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// ThreadPool: Python's `ThreadPoolExecutor` scenarios, done with stealpool.
fn thread_pool_section() {
    println!("== ThreadPool: Python's ThreadPoolExecutor, done with stealpool ==");
    two_workers_three_tasks();
    install_versus_submit();
    four_ways_to_get_a_result();
    shutdown_waits_for_queued_work();
    no_deadlock_on_own_pool();
    println!();
}

/// Three one-second tasks on two workers: one waits for a free worker.
fn two_workers_three_tasks() {
    println!(
        "\nA pool of 2 workers gets 3 tasks that each sleep {LONG_TASK:?}; one of them must wait for a free worker:"
    );
    let pool = ThreadPool::new(2).expect("a pool of 2 workers");
    let start = Instant::now();
    let tasks: Vec<Task<()>> = (1..=3)
        .map(|n| {
            pool.submit(move || {
                let began = start.elapsed();
                thread::sleep(LONG_TASK);
                let me = thread::current();
                let name = me.name().unwrap_or("<unnamed>");
                println!(
                    "  task {n} ran on {name}: started at {began:.2?}, finished at {:.2?}",
                    start.elapsed()
                );
            })
        })
        .collect();
    for task in tasks {
        task.join().expect("the task ran");
    }
    println!(
        "  all 3 done after {:.2?}: two rounds of {LONG_TASK:?}, not three",
        start.elapsed()
    );
}

/// Synchronous `install` (blocks, may borrow) against asynchronous `submit`
/// (returns a [`Task`] at once): how long each takes to return to the caller.
fn install_versus_submit() {
    println!("\nSynchronous against asynchronous submission of a {SHORT_TASK:?} task:");
    let pool = ThreadPool::new(2).expect("a pool of 2 workers");
    let text = String::from("install may borrow from the caller's stack");

    let start = Instant::now();
    let words = pool.install(|| {
        thread::sleep(SHORT_TASK);
        text.split_whitespace().count() // borrows `text`: no move, no Arc
    });
    let install_took = start.elapsed();
    println!(
        "  pool.install(..) returned after {install_took:.2?} with the result ({words} words, counted in a borrowed String)"
    );

    let start = Instant::now();
    let task = pool.submit(|| {
        thread::sleep(SHORT_TASK);
        42
    });
    let submit_took = start.elapsed();
    let answer = task.join().expect("the task ran");
    println!(
        "  pool.submit(..) returned a Task after {submit_took:.2?}; task.join() gave {answer} after {:.2?}",
        start.elapsed()
    );
    println!(
        "  install blocks for the task's duration; submit hands the caller a Task at once and lets it go on."
    );
}

/// A task that sleeps [`SHORT_TASK`] on `pool`, then returns 42.
fn slow_answer(pool: &ThreadPool) -> Task<u32> {
    pool.submit(|| {
        thread::sleep(SHORT_TASK);
        42
    })
}

/// Polling, blocking, a callback and `.await`: four ways to the same result.
fn four_ways_to_get_a_result() {
    println!("\nFour ways to get the result of a {SHORT_TASK:?} task:");
    let pool = ThreadPool::new(2).expect("a pool of 2 workers");

    let start = Instant::now();
    let task = slow_answer(&pool);
    let mut looks = 1;
    while !task.is_done() {
        thread::sleep(POLL_INTERVAL);
        looks += 1;
    }
    let answer = task.join().expect("the task ran");
    println!(
        "  {:<36} {answer} after {:>9}  ({looks} looks at is_done)",
        "poll task.is_done(), sleep 10 ms:",
        format!("{:.2?}", start.elapsed())
    );

    let start = Instant::now();
    let answer = slow_answer(&pool).join().expect("the task ran");
    println!(
        "  {:<36} {answer} after {:>9}  (slept in the kernel until done)",
        "task.join():",
        format!("{:.2?}", start.elapsed())
    );

    let start = Instant::now();
    let (tx, rx) = mpsc::channel();
    slow_answer(&pool).on_done(move |outcome| {
        let name = thread::current().name().map(str::to_owned);
        let answer = *outcome.as_ref().expect("the task ran");
        tx.send((answer, name)).expect("the receiver waits");
    });
    let (answer, ran_on) = rx.recv().expect("the callback sends");
    println!(
        "  {:<36} {answer} after {:>9}  (the callback ran on {})",
        "task.on_done(send on a channel):",
        format!("{:.2?}", start.elapsed()),
        ran_on.as_deref().unwrap_or("<unnamed>")
    );

    let start = Instant::now();
    let (answer, polls) = block_on(slow_answer(&pool));
    let answer = answer.expect("the task ran");
    println!(
        "  {:<36} {answer} after {:>9}  (the future was polled {polls} times)",
        "task.await (inline block_on):",
        format!("{:.2?}", start.elapsed())
    );
}

/// Wakes a parked thread: the [`Waker`] of [`block_on`].
struct Unpark(thread::Thread);

impl Wake for Unpark {
    /// Unparks the thread that runs [`block_on`].
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    /// Unparks the thread that runs [`block_on`], keeping the waker.
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// The smallest executor: polls `future` on this thread, parking between
/// polls until its waker unparks us. Returns the output and the number of
/// polls it took.
fn block_on<F: Future>(future: F) -> (F::Output, usize) {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    let mut polls = 0;
    loop {
        polls += 1;
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return (output, polls);
        }
        thread::park();
    }
}

/// `shutdown` lets queued work finish, then rejects new submissions.
fn shutdown_waits_for_queued_work() {
    let short = SHORT_TASK / 2;
    println!("\nshutdown() with 5 tasks of {short:?} queued on 2 workers:");
    let pool = ThreadPool::new(2).expect("a pool of 2 workers");
    let finished = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<Task<()>> = (0..5)
        .map(|_| {
            let finished = Arc::clone(&finished);
            pool.submit(move || {
                thread::sleep(short);
                finished.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    let before = finished.load(Ordering::SeqCst);
    pool.shutdown();
    let after = finished.load(Ordering::SeqCst);
    let all_done = tasks.iter().all(Task::is_done);
    println!(
        "  {before} of 5 finished when shutdown() was called; it returned after {:.2?} with {after} of 5 finished (all Tasks done: {all_done})",
        start.elapsed()
    );
    let error = pool
        .submit(|| ())
        .join()
        .expect_err("a shut-down pool rejects new work");
    println!(
        "  submit after shutdown: join() -> Err(\"{error}\"), is_rejected() = {}",
        error.is_rejected()
    );
}

/// Python's docs warn that a task waiting on a task of its own one-worker
/// pool deadlocks; in stealpool the waiting worker runs the inner task itself.
fn no_deadlock_on_own_pool() {
    println!("\nA task that submits to its own 1-thread pool and waits (a deadlock in Python):");
    let pool = ThreadPool::new(1).expect("a pool of 1 worker");
    let start = Instant::now();
    let answer = pool.install(|| stealpool::submit(|| 21).join().expect("the task ran") * 2);
    println!(
        "  pool.install(|| stealpool::submit(|| 21).join().unwrap() * 2) = {answer} after {:.2?}: the waiting worker ran the inner task inline",
        start.elapsed()
    );
}
