//! `MpiPool` tests (feature `mpi`), run under `mpirun` with several ranks.
//!
//! This target has no libtest harness. Started by `cargo test` (no MPI
//! launcher around it), `main` first checks the build error outside
//! `mpirun`, then runs itself under `mpirun` three times: with 4 ranks (the
//! pool tests, on rank 0, one after another under a time limit), with 1
//! rank (the single-rank build error), and with 3 ranks whose workers skip
//! `bootstrap` (the handshake error). Without an `mpirun` on the `PATH` it
//! says so and passes; `.ci/run` installs Open MPI first.
//!
//! Run: `cargo test --features mpi --test mpi`.

#![cfg(unix)]

mod common;
#[path = "support/remote_fns.rs"]
mod remote_fns;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use remote_fns::{add, echo, pid, sleep_ms, wait_for_file};
use stealpool::process::Registry;
use stealpool::{as_completed, registry, remote, MpiPool, Task, WaitFor};

// ---- the functions the ranks run ------------------------------------------

/// Panics here: the tests check that the report names this file.
fn panic_now(message: String) -> u32 {
    panic!("{message}")
}

static TASKS: Registry = registry![echo, add, pid, panic_now, sleep_ms, wait_for_file];

/// Which run of this binary this is (set by the outer run).
const MODE: &str = "STEALPOOL_MPI_TEST_MODE";
/// Worker ranks in the main run.
const RANKS: usize = 4;
/// The pool's task deadline in the main run.
const TASK_TIMEOUT: Duration = Duration::from_millis(1500);

fn main() {
    let mode = std::env::var(MODE).unwrap_or_default();
    if mode == "no-bootstrap" && std::env::var("OMPI_COMM_WORLD_RANK").as_deref() != Ok("0") {
        // A worker rank whose main forgot bootstrap: its own build says so.
        return forgot_bootstrap_on_a_worker();
    }
    stealpool::mpi::bootstrap(&TASKS);
    match mode.as_str() {
        "" if !under_mpirun() => outer(),
        "single" => single_rank(),
        "no-bootstrap" => rank_zero_without_workers(),
        _ => pool_tests(),
    }
}

fn under_mpirun() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"]
        .iter()
        .any(|var| std::env::var_os(var).is_some())
}

// ---- the outer run: cargo test ---------------------------------------------

fn outer() {
    let started = Instant::now();
    // Outside mpirun: a clear error, no hang, no MPI abort.
    let err = MpiPool::builder(&TASKS).build().unwrap_err();
    assert!(err.to_string().contains("mpirun"), "{err}");
    println!("test build_outside_mpirun_is_an_error ... ok");
    if Command::new("mpirun").arg("--version").output().is_err() {
        println!("mpirun is not installed: the MPI tests under mpirun are skipped");
        return;
    }
    let me = std::env::current_exe().unwrap();
    let runs = [
        ("pool tests", RANKS + 1, ""),
        ("build_with_one_rank_is_an_error", 1, "single"),
        (
            "a_forgotten_bootstrap_is_found_at_the_handshake",
            3,
            "no-bootstrap",
        ),
    ];
    let mut failed = 0;
    for (name, ranks, mode) in runs {
        let mut mpirun = Command::new("mpirun");
        mpirun.args(["--oversubscribe", "-n", &ranks.to_string()]);
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            mpirun.arg("--allow-run-as-root");
        }
        mpirun
            .arg(&me)
            .env(MODE, if mode.is_empty() { "pool" } else { mode });
        let status = run_with_limit(mpirun, Duration::from_secs(240));
        match status {
            Some(status) if status.success() => println!("{name} ... ok"),
            other => {
                println!("{name} ... FAILED ({other:?})");
                failed += 1;
            }
        }
    }
    // libtest's summary shape (CI adds these up): the check outside mpirun
    // and the runs under it.
    println!(
        "\ntest result: {}. {} passed; {failed} failed; 0 ignored; 0 measured; 0 filtered out; \
         finished in {:.2}s",
        if failed == 0 { "ok" } else { "FAILED" },
        1 + runs.len() - failed,
        started.elapsed().as_secs_f64()
    );
    if failed > 0 {
        std::process::exit(1);
    }
}

/// Runs `command`, killing it after `limit`; `None` if it had to be killed.
fn run_with_limit(mut command: Command, limit: Duration) -> Option<std::process::ExitStatus> {
    let mut child = command.spawn().expect("start mpirun");
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            println!("mpirun did not finish within {limit:?}: killed");
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- the runs under mpirun --------------------------------------------------

fn single_rank() {
    let err = MpiPool::builder(&TASKS).build().unwrap_err();
    assert!(err.to_string().contains("one rank"), "{err}");
}

fn forgot_bootstrap_on_a_worker() {
    let err = MpiPool::builder(&TASKS).build().unwrap_err();
    assert!(err.to_string().contains("bootstrap"), "{err}");
}

fn rank_zero_without_workers() {
    let err = MpiPool::builder(&TASKS)
        .handshake_timeout(Duration::from_secs(2))
        .build()
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("did not answer the handshake") && text.contains("bootstrap"),
        "{text}"
    );
}

type Test = (&'static str, fn(&Arc<MpiPool>));

macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        &[$((stringify!($name), $name as fn(&Arc<MpiPool>))),*]
    };
}

/// The pool tests, on one pool (one per job), in order; the shutdown tests
/// come last.
const TESTS: &[Test] = tests![
    round_trip_and_map_order,
    thousand_tasks_reach_every_rank,
    the_same_task_api_as_the_other_pools,
    a_remote_panic_fails_only_its_task,
    arguments_that_do_not_serialize,
    cancel_before_dispatch,
    a_deadline_takes_the_rank_out_until_it_answers,
    shutdown_now_cancels_what_is_queued,
];

/// Each test's limit: a hang fails instead of stalling CI.
const TEST_LIMIT: Duration = Duration::from_secs(60);

fn pool_tests() {
    let pool = Arc::new(
        MpiPool::builder(&TASKS)
            .task_timeout(TASK_TIMEOUT)
            .build()
            .expect("build the MPI pool"),
    );
    assert_eq!(pool.num_workers(), RANKS);
    let mut failed = 0;
    for &(name, test) in TESTS {
        let (done_tx, done_rx) = mpsc::channel();
        let shared = Arc::clone(&pool);
        std::thread::spawn(move || {
            let ok = catch_unwind(AssertUnwindSafe(|| test(&shared))).is_ok();
            let _ = done_tx.send(ok);
        });
        let ok = done_rx.recv_timeout(TEST_LIMIT).unwrap_or_else(|_| {
            println!("test {name} did not finish within {TEST_LIMIT:?}");
            false
        });
        println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
        failed += usize::from(!ok);
    }
    if failed > 0 {
        // Leave at once: the ranks may be stuck in a failed test.
        std::process::exit(1);
    }
}

/// A gate file that `wait_for_file` tasks wait for.
struct Gate(std::path::PathBuf);

impl Gate {
    fn new(name: &str) -> Gate {
        let path =
            std::env::temp_dir().join(format!("stealpool-mpi-{name}-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        Gate(path)
    }
    fn path(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }
    fn open(&self) {
        std::fs::write(&self.0, b"open").unwrap();
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    done()
}

/// Slow calls, two per rank, spread over every worker rank.
fn assert_every_rank_serves(pool: &MpiPool) {
    let pids: std::collections::HashSet<u32> = (0..2 * RANKS)
        .map(|_| pool.submit(remote!(sleep_ms), 100))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert_eq!(pids.len(), RANKS, "{pids:?}");
}

fn round_trip_and_map_order(pool: &Arc<MpiPool>) {
    let text = pool.submit(remote!(echo), "hello".to_string()).join();
    assert_eq!(text.unwrap(), "hello");
    assert_eq!(pool.submit(remote!(add), (40, 2)).join().unwrap(), 42);
    for chunk in [0, 1, 3, 7, 100] {
        let out: Vec<i64> = pool
            .map((0..50).map(|i| (i, 1)), remote!(add), chunk)
            .map(Result::unwrap)
            .collect();
        assert_eq!(out, (1..=50).collect::<Vec<_>>(), "chunk_size {chunk}");
    }
    assert_eq!(
        pool.map(Vec::<(i64, i64)>::new(), remote!(add), 4).count(),
        0
    );
}

fn thousand_tasks_reach_every_rank(pool: &Arc<MpiPool>) {
    let tasks: Vec<Task<i64>> = (0..1_000)
        .map(|i| pool.submit(remote!(add), (i, i)))
        .collect();
    let mut seen = vec![false; 1_000];
    for (index, outcome) in as_completed(tasks) {
        assert_eq!(outcome.unwrap(), 2 * index as i64);
        seen[index] = true;
    }
    assert!(seen.iter().all(|&s| s));
    // Slow calls spread over every rank.
    assert_every_rank_serves(pool);
}

fn the_same_task_api_as_the_other_pools(pool: &Arc<MpiPool>) {
    let called = Arc::new(AtomicUsize::new(0));
    let task = pool.submit(remote!(sleep_ms), 50);
    let counter = Arc::clone(&called);
    task.on_done(move |outcome| {
        assert!(outcome.is_ok());
        counter.fetch_add(1, Ordering::SeqCst);
    });
    assert!(task.wait_timeout(Duration::from_secs(10)));
    assert!(task.is_done());
    assert!(wait_until(Duration::from_secs(5), || called
        .load(Ordering::SeqCst)
        == 1));
    let tasks: Vec<_> = (0..3).map(|i| pool.submit(remote!(add), (i, 0))).collect();
    let result = stealpool::wait(&tasks, WaitFor::AllCompleted, Some(Duration::from_secs(10)));
    assert_eq!(result.done, [0, 1, 2]);
    let awaited = common::block_on(pool.submit(remote!(add), (2, 3)));
    assert_eq!(awaited.unwrap(), 5);
}

fn a_remote_panic_fails_only_its_task(pool: &Arc<MpiPool>) {
    let err = pool
        .submit(remote!(panic_now), "boom".to_string())
        .join()
        .unwrap_err();
    assert!(err.is_panic() && !err.is_worker_lost(), "{err:?}");
    assert!(err.to_string().contains("MPI rank"), "{err}");
    assert_eq!(*err.into_panic().downcast::<String>().unwrap(), "boom");
    // Every rank serves on.
    let sums: Vec<i64> = pool
        .map((0..4 * RANKS as i64).map(|i| (i, 1)), remote!(add), 1)
        .map(Result::unwrap)
        .collect();
    assert_eq!(sums.len(), 4 * RANKS);
}

fn arguments_that_do_not_serialize(pool: &Arc<MpiPool>) {
    let huge = "x".repeat(300 << 20);
    let err = pool.submit(remote!(echo), huge).join().unwrap_err();
    assert!(err.is_serialization(), "{err:?}");
    assert!(err.to_string().contains("limit"), "{err}");
}

fn cancel_before_dispatch(pool: &Arc<MpiPool>) {
    let gate = Gate::new("cancel");
    let busy: Vec<_> = (0..RANKS)
        .map(|_| pool.submit(remote!(wait_for_file), gate.path()))
        .collect();
    assert!(wait_until(Duration::from_secs(10), || busy
        .iter()
        .all(Task::is_running)));
    let queued = pool.submit(remote!(add), (1, 1));
    assert!(!queued.is_running());
    assert!(queued.cancel());
    assert!(queued.join().unwrap_err().is_cancelled());
    assert!(!busy[0].cancel(), "a running task is not cancelled");
    gate.open();
    for task in busy {
        task.join().unwrap();
    }
}

fn a_deadline_takes_the_rank_out_until_it_answers(pool: &Arc<MpiPool>) {
    let started = Instant::now();
    let slow = pool.submit(remote!(sleep_ms), 3_000);
    let err = slow.join().unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_millis(2_900),
        "{:?}",
        started.elapsed()
    );
    // Meanwhile the other ranks serve.
    assert_eq!(pool.submit(remote!(add), (1, 2)).join().unwrap(), 3);
    // Once the slow call returns, its rank is back: every rank serves again.
    std::thread::sleep(Duration::from_millis(2_000));
    assert_every_rank_serves(pool);
}

fn shutdown_now_cancels_what_is_queued(pool: &Arc<MpiPool>) {
    let gate = Gate::new("shutdown");
    let running: Vec<_> = (0..RANKS)
        .map(|_| pool.submit(remote!(wait_for_file), gate.path()))
        .collect();
    assert!(wait_until(Duration::from_secs(10), || running
        .iter()
        .all(Task::is_running)));
    let queued: Vec<_> = (0..5).map(|i| pool.submit(remote!(add), (i, 0))).collect();
    // A callback (on the dispatcher thread) shuts the pool down too: it
    // must not wait for the thread it runs on.
    let from_callback = Arc::clone(pool);
    running[0].on_done(move |_| from_callback.shutdown());
    let path = gate.0.clone();
    let opener = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        std::fs::write(path, b"open").unwrap();
    });
    pool.shutdown_now();
    opener.join().unwrap();
    for task in running {
        assert!(task.join().is_ok(), "running tasks finish");
    }
    for task in queued {
        assert!(task.join().unwrap_err().is_cancelled());
    }
    // Shut down: rejected, and `map` panics, and no second pool.
    assert!(pool
        .submit(remote!(add), (1, 1))
        .join()
        .unwrap_err()
        .is_rejected());
    let map = catch_unwind(AssertUnwindSafe(|| {
        pool.map([(1, 1)], remote!(add), 1).count()
    }));
    assert!(map.is_err());
    let err = MpiPool::builder(&TASKS).build().unwrap_err();
    assert!(err.to_string().contains("one pool per job"), "{err}");
    pool.shutdown(); // idempotent
}
