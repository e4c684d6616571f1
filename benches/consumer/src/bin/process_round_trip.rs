//! The ProcessPool round trip as a user's binary sees it: a fresh pool of
//! 2 workers (`WORKERS` to change it), 200 warm-up round trips, then 2 000
//! timed `submit(remote!(noop), x).join()` back to back, then 1 000 submits
//! followed by 1 000 joins. Prints p50/p90 of the round trip and the
//! per-task cost of the batch; run it several times, since what decides a
//! slow run is where the kernel places the processes, once per run:
//!
//! ```sh
//! cargo build --release --manifest-path benches/consumer/Cargo.toml
//! for i in $(seq 10); do benches/consumer/target/release/process_round_trip; done
//! ```

use std::time::Instant;

use stealpool::process::{self, ProcessPool, Registry};
use stealpool::{registry, remote};

fn noop(x: u64) -> u64 {
    x
}

static TASKS: Registry = registry![noop];

fn main() {
    process::bootstrap(&TASKS);
    let workers = std::env::var("WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(2);
    let pool = ProcessPool::builder(&TASKS)
        .num_workers(workers)
        .build()
        .expect("pool starts");
    for i in 0..200 {
        pool.submit(remote!(noop), i).join().expect("warm-up");
    }
    let mut micros: Vec<f64> = (0..2_000)
        .map(|i| {
            let start = Instant::now();
            let out = pool.submit(remote!(noop), i).join().expect("round trip");
            assert_eq!(out, i);
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    micros.sort_by(f64::total_cmp);
    let start = Instant::now();
    let tasks: Vec<_> = (0..1_000).map(|i| pool.submit(remote!(noop), i)).collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.join().expect("batch"), i as u64);
    }
    let batch = start.elapsed().as_secs_f64() * 1e6 / 1_000.0;
    println!(
        "workers {workers}: round trip p50 {:.1} µs, p90 {:.1} µs; 1000 submits then joins {:.1} µs/task",
        micros[1_000], micros[1_800], batch
    );
}
