//! The process-pool part of the tour: Python's `ProcessPoolExecutor`
//! scenario, then a worker crash that the pool survives.
//!
//! Run: `cargo run --example process_pool --features process`.

use std::time::{Duration, Instant};

use stealpool::process::{self, Registry};
use stealpool::{registry, remote, ProcessPool};

/// Sleeps for a second and says which process ran it.
fn nap(label: String) -> u32 {
    std::thread::sleep(Duration::from_secs(1));
    // A task may print: a worker's stdout goes to the parent's stderr, so it
    // can never disturb the pool's pipes.
    println!("  {label} ran in process {}", std::process::id());
    std::process::id()
}

/// Crashes its worker process outright: no unwinding, no cleanup.
fn crash(_: ()) -> u32 {
    std::process::abort()
}

fn square(x: u64) -> u64 {
    x * x
}

/// The functions workers may run: the same table in the parent and in every
/// worker, because they are the same program.
static TASKS: Registry = registry![nap, crash, square];

fn main() {
    // First line of `main`: in a worker process, this serves tasks and never
    // returns.
    process::bootstrap(&TASKS);

    println!("parent process {}", std::process::id());
    let pool = ProcessPool::builder(&TASKS)
        .num_workers(2)
        .build()
        .expect("start the worker processes");

    println!("three 1 s tasks on 2 worker processes (the third waits for a free one):");
    let started = Instant::now();
    let tasks: Vec<_> = ["task 1", "task 2", "task 3"]
        .iter()
        .map(|label| pool.submit(remote!(nap), label.to_string()))
        .collect();
    for task in tasks {
        let pid = task.join().expect("nap never fails");
        println!("  joined a result from process {pid}");
    }
    println!(
        "  all three done after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    println!("a worker crashes mid-task:");
    let err = pool.submit(remote!(crash), ()).join().unwrap_err();
    println!(
        "  the task failed: {err} (is_worker_lost: {})",
        err.is_worker_lost()
    );
    let squares: Vec<u64> = pool
        .map(1..=5, remote!(square), 2)
        .map(|r| r.expect("the pool still serves"))
        .collect();
    println!("  ...and the pool keeps serving: squares {squares:?}");

    pool.shutdown();
    println!("shut down: every worker exited and was reaped");
}
