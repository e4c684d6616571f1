//! The MPI pool: the same `Task` code as the thread and process pools, with
//! MPI ranks as workers (feature `mpi`).
//!
//! Run: `cargo build --release --features mpi --example mpi_pool` and then
//! `mpirun -n 4 target/release/examples/mpi_pool` (add `--oversubscribe`
//! on a machine with fewer cores, `--allow-run-as-root` as root, and
//! `-H a,b` to spread the ranks over hosts `a` and `b`; under Slurm:
//! `srun -n 4 target/release/examples/mpi_pool`).

use std::time::{Duration, Instant};

use stealpool::{as_completed, process, registry, remote, MpiPool, WaitFor};

/// Where a call ran, and a little work.
fn whoami(n: u64) -> (u32, u64) {
    let sum = (0..n).map(|i| i % 7).sum();
    (std::process::id(), sum)
}

fn collatz_steps(mut n: u64) -> u32 {
    let mut steps = 0;
    while n != 1 {
        n = if n.is_multiple_of(2) {
            n / 2
        } else {
            3 * n + 1
        };
        steps += 1;
    }
    steps
}

fn fail_on_13(n: u32) -> u32 {
    assert!(n != 13, "13 is unlucky");
    n
}

static TASKS: process::Registry = registry![whoami, collatz_steps, fail_on_13];

fn main() {
    // Ranks 1.. serve here and exit when the pool shuts down.
    stealpool::mpi::bootstrap(&TASKS);
    let pool = match MpiPool::builder(&TASKS).build() {
        Ok(pool) => pool,
        Err(err) => {
            eprintln!("{err}");
            eprintln!("run it as: mpirun -n 4 target/release/examples/mpi_pool");
            return;
        }
    };
    println!("rank 0 has {} worker ranks", pool.num_workers());

    // submit + as_completed, as with any pool.
    let tasks: Vec<_> = (0..8)
        .map(|_| pool.submit(remote!(whoami), 100_000))
        .collect();
    let mut pids: Vec<u32> = as_completed(tasks).map(|(_, r)| r.unwrap().0).collect();
    pids.sort_unstable();
    pids.dedup();
    println!("8 calls ran on {} ranks", pids.len());

    // map with a chunk size, in input order.
    let started = Instant::now();
    let longest = pool
        .map(1..=100_000_u64, remote!(collatz_steps), 1_000)
        .map(Result::unwrap)
        .enumerate()
        .max_by_key(|&(_, steps)| steps)
        .unwrap();
    println!(
        "longest Collatz chain below 100 000 starts at {} ({} steps), in {:?}",
        longest.0 + 1,
        longest.1,
        started.elapsed()
    );

    // A panic fails its task; the rank serves on.
    let tasks: Vec<_> = (10..16)
        .map(|n| pool.submit(remote!(fail_on_13), n))
        .collect();
    let result = stealpool::wait(&tasks, WaitFor::AllCompleted, Some(Duration::from_secs(30)));
    assert!(result.pending.is_empty());
    for task in tasks {
        match task.join() {
            Ok(n) => println!("{n} ok"),
            Err(err) => println!("failed: {err}"),
        }
    }
    pool.shutdown();
}
