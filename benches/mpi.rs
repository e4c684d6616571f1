//! The MPI pool against the process pool on one machine (feature `mpi`):
//! a submit-and-join round trip, and the throughput of 10 000 calls
//! (`submit` + `as_completed`, and `map` in chunks of 100). Both pools have
//! two workers: the MPI pool's are ranks 1 and 2 of `mpirun -n 3`.
//!
//! Run: `cargo bench --features mpi --bench mpi --no-run`, then
//! `mpirun -n 3 --oversubscribe target/release/deps/mpi-<hash>` (add
//! `--allow-run-as-root` as root). Prints medians of 5 rounds. Compare with
//! `benches/python_mpi_compare.py` (mpi4py.futures) under the same mpirun.

use std::time::{Duration, Instant};

use stealpool::{as_completed, process, registry, remote, MpiPool, ProcessPool};

fn noop(x: u64) -> u64 {
    x
}

static TASKS: process::Registry = registry![noop];

const ROUNDS: usize = 5;
const ROUND_TRIPS: usize = 2_000;
const CALLS: u64 = 10_000;

/// The median of `samples`.
fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// Median per-call times of the three workloads on `submit`/`map`.
fn measure(
    submit: &dyn Fn(u64) -> stealpool::Task<u64>,
    map: &dyn Fn(u64) -> stealpool::Map<u64>,
) -> [Duration; 3] {
    let mut trips = Vec::new();
    let mut spread = Vec::new();
    let mut chunked = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        for i in 0..ROUND_TRIPS as u64 {
            assert_eq!(submit(i).join().unwrap(), i);
        }
        trips.push(started.elapsed() / ROUND_TRIPS as u32);
        let started = Instant::now();
        let tasks: Vec<_> = (0..CALLS).map(submit).collect();
        assert_eq!(as_completed(tasks).count() as u64, CALLS);
        spread.push(started.elapsed() / CALLS as u32);
        let started = Instant::now();
        assert_eq!(map(CALLS).count() as u64, CALLS);
        chunked.push(started.elapsed() / CALLS as u32);
    }
    [median(trips), median(spread), median(chunked)]
}

fn main() {
    process::bootstrap(&TASKS);
    stealpool::mpi::bootstrap(&TASKS);
    let mpi = match MpiPool::builder(&TASKS).build() {
        Ok(pool) => pool,
        Err(err) => {
            eprintln!("{err}\nrun: mpirun -n 3 --oversubscribe <this binary>");
            return;
        }
    };
    let workers = mpi.num_workers();
    let processes = ProcessPool::builder(&TASKS)
        .num_workers(workers)
        .build()
        .unwrap();
    // Warm up both.
    for i in 0..200 {
        mpi.submit(remote!(noop), i).join().unwrap();
        processes.submit(remote!(noop), i).join().unwrap();
    }
    let on_mpi = measure(&|i| mpi.submit(remote!(noop), i), &|n| {
        mpi.map(0..n, remote!(noop), 100)
    });
    let on_processes = measure(&|i| processes.submit(remote!(noop), i), &|n| {
        processes.map(0..n, remote!(noop), 100)
    });
    println!("{workers} workers each; medians of {ROUNDS} rounds, per call");
    println!("| workload | MpiPool | ProcessPool | MpiPool / ProcessPool |");
    println!("|---|---|---|---|");
    let names = [
        "round trip: submit + join, one at a time",
        "throughput: 10 000 submits, as_completed",
        "throughput: map over 10 000 items, chunk_size 100",
    ];
    for ((name, a), b) in names.iter().zip(on_mpi).zip(on_processes) {
        println!(
            "| {name} | {a:.2?} | {b:.2?} | {:.2}x |",
            a.as_secs_f64() / b.as_secs_f64()
        );
    }
    mpi.shutdown();
}
