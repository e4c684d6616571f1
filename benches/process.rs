//! Process pool benchmarks (feature `process`).
//!
//! - `process_round_trip`: one no-op task submitted and joined, back to
//!   back: the latency of a task through the pool (parent queue → slot
//!   thread → pipe → worker → pipe → `Task` completion → the joiner).
//! - `process_throughput`: 1 000 no-op tasks submitted, then all joined,
//!   through 2 workers (`submit` each, and `map` with chunks of 100).
//! - `process_spawn`: building and shutting down a pool of one worker (a
//!   process start, the handshake, and the exit).
//!
//! Python's `ProcessPoolExecutor` runs the same round trip in
//! `benches/python_process_compare.py`, which prints the ratio.
//!
//! Run: `cargo bench --features process --bench process`.

// `criterion_group!` expands to an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, Criterion, Throughput};
use stealpool::process::{self, Registry};
use stealpool::{registry, remote, ProcessPool};

fn noop(x: u64) -> u64 {
    x
}

static TASKS: Registry = registry![noop];

const BATCH: usize = 1_000;

fn round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("process_round_trip");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(4));
    let pool = ProcessPool::builder(&TASKS).num_workers(2).build().unwrap();
    group.bench_function("stealpool_submit_join", |b| {
        b.iter(|| black_box(pool.submit(remote!(noop), black_box(7)).join().unwrap()))
    });
    group.finish();
}

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("process_throughput");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(BATCH as u64));
    let pool = ProcessPool::builder(&TASKS).num_workers(2).build().unwrap();
    group.bench_function("stealpool_submit_join", |b| {
        b.iter(|| {
            let tasks: Vec<_> = (0..BATCH as u64)
                .map(|i| pool.submit(remote!(noop), i))
                .collect();
            for task in tasks {
                black_box(task.join().unwrap());
            }
        })
    });
    group.bench_function("stealpool_map_chunk100", |b| {
        b.iter(|| {
            for r in pool.map(0..BATCH as u64, remote!(noop), 100) {
                black_box(r.unwrap());
            }
        })
    });
    group.finish();
}

fn spawn(c: &mut Criterion) {
    let mut group = c.benchmark_group("process_spawn");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(4));
    group.bench_function("stealpool_build_shutdown_1_worker", |b| {
        b.iter(|| {
            let pool = ProcessPool::builder(&TASKS).num_workers(1).build().unwrap();
            pool.shutdown();
        })
    });
    group.finish();
}

criterion_group!(benches, round_trip, throughput, spawn);

fn main() {
    // The workers are this bench binary: they must stop here.
    process::bootstrap(&TASKS);
    benches();
    Criterion::default().configure_from_args().final_summary();
}
