//! Thread-pool benchmarks, stealpool side by side with rayon, tokio, the
//! `threadpool` crate and `std::thread`.
//!
//! Guards against: a slower submission path than the peers (spawn_many), a
//! slower round trip (submit_wait), slower in-pool spawning (nested_spawn),
//! and a slower wake-up of an idle pool (wake_latency: until the task
//! starts; wake_round_trip: until the caller holds the result). Every pool
//! has the same number of threads: `THREADS`.
//!
//! Run: `cargo bench --bench pool`, then `python3 scripts/bench_table.py pool_`.

// `criterion_group!` expands to an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use stealpool::Event;

/// Threads in every pool (the machine's cores, at least 2).
fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2)
}
/// Tasks per spawn_many iteration.
const SPAWN_MANY: usize = 100_000;
/// Depth of the nested_spawn tree (2^(DEPTH+1) - 1 tasks).
const DEPTH: u32 = 15;
/// How long the pool idles before a wake_latency sample: longer than any
/// peer's spin-before-sleep, so every pool is really asleep.
const IDLE: Duration = Duration::from_micros(500);

const SAMPLES: usize = 20;
const MEASURE: Duration = Duration::from_secs(4);
const WARM_UP: Duration = Duration::from_secs(1);

fn stealpool_pool() -> stealpool::ThreadPool {
    stealpool::ThreadPool::new(threads()).unwrap()
}
fn rayon_pool() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads())
        .build()
        .unwrap()
}
fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads())
        .build()
        .unwrap()
}
fn threadpool_pool() -> threadpool::ThreadPool {
    threadpool::ThreadPool::new(threads())
}

/// A countdown that signals an `Event` when it reaches zero: the latch the
/// fire-and-forget peers use to know their tasks are done.
struct Countdown {
    left: AtomicUsize,
    done: Event,
}

impl Countdown {
    fn new(n: usize) -> Arc<Self> {
        Arc::new(Countdown {
            left: AtomicUsize::new(n),
            done: Event::new(),
        })
    }
    /// A countdown that lives for the rest of the run (one small leak per
    /// iteration), so tasks can hold a plain `&'static` instead of cloning an
    /// `Arc`: the tree benchmark then measures the pools, not refcounting.
    fn leaked(n: usize) -> &'static Self {
        Box::leak(Box::new(Countdown {
            left: AtomicUsize::new(n),
            done: Event::new(),
        }))
    }
    fn tick(&self) {
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.done.set();
        }
    }
}

/// 100 000 empty tasks submitted from outside the pool, then all awaited.
fn spawn_many(c: &mut Criterion) {
    let mut group = c.benchmark_group("pool_spawn_many");
    group
        .sample_size(SAMPLES)
        .warm_up_time(WARM_UP)
        .measurement_time(MEASURE)
        .throughput(Throughput::Elements(SPAWN_MANY as u64));

    let pool = stealpool_pool();
    group.bench_function("stealpool_submit_join", |b| {
        b.iter(|| {
            let tasks: Vec<_> = (0..SPAWN_MANY)
                .map(|i| pool.submit(move || black_box(i)))
                .collect();
            for task in tasks {
                black_box(task.join().unwrap());
            }
        })
    });
    group.bench_function("stealpool_spawn_latch", |b| {
        b.iter(|| {
            let latch = Countdown::new(SPAWN_MANY);
            for _ in 0..SPAWN_MANY {
                let latch = Arc::clone(&latch);
                pool.spawn(move || latch.tick());
            }
            latch.done.wait();
        })
    });
    drop(pool);

    let pool = rayon_pool();
    group.bench_function("rayon_spawn_latch", |b| {
        b.iter(|| {
            let latch = Countdown::new(SPAWN_MANY);
            for _ in 0..SPAWN_MANY {
                let latch = Arc::clone(&latch);
                pool.spawn(move || latch.tick());
            }
            latch.done.wait();
        })
    });
    drop(pool);

    let rt = tokio_rt();
    group.bench_function("tokio_spawn_join", |b| {
        b.iter(|| {
            let handles: Vec<_> = (0..SPAWN_MANY)
                .map(|i| rt.spawn(async move { black_box(i) }))
                .collect();
            rt.block_on(async {
                for handle in handles {
                    black_box(handle.await.unwrap());
                }
            });
        })
    });
    drop(rt);

    let pool = threadpool_pool();
    group.bench_function("threadpool_execute_channel", |b| {
        b.iter(|| {
            let (tx, rx) = mpsc::channel();
            for i in 0..SPAWN_MANY {
                let tx = tx.clone();
                pool.execute(move || tx.send(black_box(i)).unwrap());
            }
            for _ in 0..SPAWN_MANY {
                black_box(rx.recv().unwrap());
            }
        })
    });
    group.finish();
}

/// One tiny task submitted and awaited, back to back: the round trip.
fn submit_wait(c: &mut Criterion) {
    let mut group = c.benchmark_group("pool_submit_wait");
    group
        .sample_size(SAMPLES)
        .warm_up_time(WARM_UP)
        .measurement_time(MEASURE);

    let pool = stealpool_pool();
    group.bench_function("stealpool_submit_join", |b| {
        b.iter(|| pool.submit(|| black_box(1)).join().unwrap())
    });
    group.bench_function("stealpool_install", |b| {
        b.iter(|| pool.install(|| black_box(1)))
    });
    drop(pool);

    let pool = rayon_pool();
    group.bench_function("rayon_install", |b| {
        b.iter(|| pool.install(|| black_box(1)))
    });
    drop(pool);

    let rt = tokio_rt();
    group.bench_function("tokio_spawn_block_on", |b| {
        b.iter(|| rt.block_on(rt.spawn(async { black_box(1) })).unwrap())
    });
    drop(rt);

    let pool = threadpool_pool();
    group.bench_function("threadpool_execute_channel", |b| {
        b.iter(|| {
            let (tx, rx) = mpsc::channel();
            pool.execute(move || tx.send(black_box(1)).unwrap());
            rx.recv().unwrap()
        })
    });
    drop(pool);

    group.bench_function("std_thread_spawn_join", |b| {
        b.iter(|| std::thread::spawn(|| black_box(1)).join().unwrap())
    });
    group.finish();
}

/// A binary tree of tasks, each node spawning its two children from inside
/// the pool; the leaves count down a latch.
fn nested_spawn(c: &mut Criterion) {
    let mut group = c.benchmark_group("pool_nested_spawn");
    let tasks = (1_u64 << (DEPTH + 1)) - 1;
    group
        .sample_size(SAMPLES)
        .warm_up_time(WARM_UP)
        .measurement_time(MEASURE)
        .throughput(Throughput::Elements(tasks));

    fn stealpool_node(depth: u32, latch: &'static Countdown) {
        if depth > 0 {
            stealpool::spawn(move || stealpool_node(depth - 1, latch));
            stealpool::spawn(move || stealpool_node(depth - 1, latch));
        }
        latch.tick();
    }
    let pool = stealpool_pool();
    group.bench_function("stealpool_spawn", |b| {
        b.iter(|| {
            let latch = Countdown::leaked(tasks as usize);
            pool.spawn(move || stealpool_node(DEPTH, latch));
            latch.done.wait();
        })
    });
    drop(pool);

    fn rayon_node(depth: u32, latch: &'static Countdown) {
        if depth > 0 {
            rayon::spawn(move || rayon_node(depth - 1, latch));
            rayon::spawn(move || rayon_node(depth - 1, latch));
        }
        latch.tick();
    }
    let pool = rayon_pool();
    group.bench_function("rayon_spawn", |b| {
        b.iter(|| {
            let latch = Countdown::leaked(tasks as usize);
            pool.spawn(move || rayon_node(DEPTH, latch));
            latch.done.wait();
        })
    });
    group.bench_function("rayon_scope", |b| {
        fn scoped<'s>(s: &rayon::Scope<'s>, depth: u32) {
            if depth > 0 {
                s.spawn(move |s| scoped(s, depth - 1));
                s.spawn(move |s| scoped(s, depth - 1));
            }
        }
        b.iter(|| pool.scope(|s| scoped(s, DEPTH)))
    });
    drop(pool);

    fn tokio_node(depth: u32, latch: &'static Countdown) {
        if depth > 0 {
            tokio::spawn(async move { tokio_node(depth - 1, latch) });
            tokio::spawn(async move { tokio_node(depth - 1, latch) });
        }
        latch.tick();
    }
    let rt = tokio_rt();
    group.bench_function("tokio_spawn", |b| {
        b.iter(|| {
            let latch = Countdown::leaked(tasks as usize);
            rt.spawn(async move { tokio_node(DEPTH, latch) });
            latch.done.wait();
        })
    });
    group.finish();
}

/// Submit to an idle (asleep) pool: the delay until the task starts.
fn wake_latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("pool_wake_latency");
    group
        .sample_size(10)
        .warm_up_time(WARM_UP)
        .measurement_time(Duration::from_secs(2));

    /// Sums, over `iters` samples, the time from submission to start after
    /// the pool idled for `IDLE`. `submit` runs the closure on the pool and
    /// returns the instant it started.
    fn measure(iters: u64, mut submit: impl FnMut() -> (Instant, Instant)) -> Duration {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            std::thread::sleep(IDLE);
            let (submitted, started) = submit();
            total += started.saturating_duration_since(submitted);
        }
        total
    }

    let pool = stealpool_pool();
    group.bench_function("stealpool", |b| {
        b.iter_custom(|iters| {
            measure(iters, || {
                let submitted = Instant::now();
                (submitted, pool.submit(Instant::now).join().unwrap())
            })
        })
    });
    drop(pool);

    let pool = rayon_pool();
    group.bench_function("rayon", |b| {
        b.iter_custom(|iters| {
            measure(iters, || {
                let (tx, rx) = mpsc::channel();
                let submitted = Instant::now();
                pool.spawn(move || tx.send(Instant::now()).unwrap());
                (submitted, rx.recv().unwrap())
            })
        })
    });
    drop(pool);

    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            measure(iters, || {
                let submitted = Instant::now();
                let handle = rt.spawn(async { Instant::now() });
                (submitted, rt.block_on(handle).unwrap())
            })
        })
    });
    drop(rt);

    let pool = threadpool_pool();
    group.bench_function("threadpool", |b| {
        b.iter_custom(|iters| {
            measure(iters, || {
                let (tx, rx) = mpsc::channel();
                let submitted = Instant::now();
                pool.execute(move || tx.send(Instant::now()).unwrap());
                (submitted, rx.recv().unwrap())
            })
        })
    });
    group.finish();
}

/// Round trip to a pool that idled for `IDLE`: from the call until the
/// caller holds the result (the worker's wake-up and the caller's own).
fn wake_round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("pool_wake_round_trip");
    group
        .sample_size(10)
        .warm_up_time(WARM_UP)
        .measurement_time(Duration::from_secs(2));

    /// Sums, over `iters` calls of `call` each after `IDLE`, the time each
    /// call took.
    fn measure(iters: u64, mut call: impl FnMut() -> u64) -> Duration {
        let mut total = Duration::ZERO;
        for i in 0..iters {
            std::thread::sleep(IDLE);
            let start = Instant::now();
            black_box(call());
            total += start.elapsed();
            black_box(i);
        }
        total
    }

    let pool = stealpool_pool();
    group.bench_function("stealpool_install", |b| {
        b.iter_custom(|iters| measure(iters, || pool.install(|| black_box(1))))
    });
    group.bench_function("stealpool_submit_join", |b| {
        b.iter_custom(|iters| measure(iters, || pool.submit(|| black_box(1)).join().unwrap()))
    });
    drop(pool);

    let pool = rayon_pool();
    group.bench_function("rayon_install", |b| {
        b.iter_custom(|iters| measure(iters, || pool.install(|| black_box(1))))
    });
    drop(pool);

    let rt = tokio_rt();
    group.bench_function("tokio_spawn_block_on", |b| {
        b.iter_custom(|iters| {
            measure(iters, || {
                rt.block_on(rt.spawn(async { black_box(1) })).unwrap()
            })
        })
    });
    drop(rt);

    let pool = threadpool_pool();
    group.bench_function("threadpool_execute_channel", |b| {
        b.iter_custom(|iters| {
            measure(iters, || {
                let (tx, rx) = mpsc::channel();
                pool.execute(move || tx.send(black_box(1)).unwrap());
                rx.recv().unwrap()
            })
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    spawn_many,
    submit_wait,
    nested_spawn,
    wake_latency,
    wake_round_trip
);
criterion_main!(benches);
