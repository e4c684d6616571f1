//! Fork-join benchmarks: stealpool's `join`/`scope` against rayon's on a pool
//! of the same size, and the sequential code.
//!
//! Guards against: join overhead (fib_join: one join per call, no cutoff),
//! poor speed-up on pointer-chasing recursion (tree_sum), a slower parallel
//! sort (quicksort), and slow scope spawning (scope_spawn).
//!
//! Run: `cargo bench --bench forkjoin`, then
//! `python3 scripts/bench_table.py forkjoin_`.

// `criterion_group!` expands to an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

/// fib_join's argument.
const FIB: u32 = 30;
/// tree_sum: a balanced tree of 2^TREE_DEPTH - 1 boxed nodes.
const TREE_DEPTH: u32 = 22;
/// quicksort: this many u64.
const SORT_LEN: usize = 4 << 20;
/// quicksort: below this length, sort sequentially.
const SORT_CUTOFF: usize = 16 * 1024;
/// scope_spawn: this many tiny spawns in one scope.
const SCOPE_SPAWNS: usize = 100_000;

fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2)
}

fn config(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
}

fn fib_seq(n: u32) -> u64 {
    if n < 2 {
        return u64::from(n);
    }
    fib_seq(n - 1) + fib_seq(n - 2)
}

fn fib_stealpool(n: u32) -> u64 {
    if n < 2 {
        return u64::from(n);
    }
    let (a, b) = stealpool::join(|| fib_stealpool(n - 1), || fib_stealpool(n - 2));
    a + b
}

fn fib_rayon(n: u32) -> u64 {
    if n < 2 {
        return u64::from(n);
    }
    let (a, b) = rayon::join(|| fib_rayon(n - 1), || fib_rayon(n - 2));
    a + b
}

fn fib_join(c: &mut Criterion) {
    let mut group = c.benchmark_group("forkjoin_fib_join");
    config(&mut group);
    let pool = stealpool::ThreadPool::new(threads()).unwrap();
    group.bench_function("stealpool_join", |b| {
        b.iter(|| pool.install(|| fib_stealpool(black_box(FIB))))
    });
    drop(pool);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads())
        .build()
        .unwrap();
    group.bench_function("rayon_join", |b| {
        b.iter(|| pool.install(|| fib_rayon(black_box(FIB))))
    });
    drop(pool);
    group.bench_function("sequential", |b| b.iter(|| fib_seq(black_box(FIB))));
    group.finish();
}

struct Node {
    value: u64,
    left: Option<Box<Node>>,
    right: Option<Box<Node>>,
}

fn build(depth: u32, next: &mut u64) -> Option<Box<Node>> {
    if depth == 0 {
        return None;
    }
    let left = build(depth - 1, next);
    *next += 1;
    let value = *next;
    let right = build(depth - 1, next);
    Some(Box::new(Node { value, left, right }))
}

fn sum_seq(node: &Option<Box<Node>>) -> u64 {
    node.as_ref()
        .map_or(0, |n| n.value + sum_seq(&n.left) + sum_seq(&n.right))
}

fn sum_stealpool(node: &Option<Box<Node>>) -> u64 {
    node.as_ref().map_or(0, |n| {
        let (l, r) = stealpool::join(|| sum_stealpool(&n.left), || sum_stealpool(&n.right));
        n.value + l + r
    })
}

fn sum_rayon(node: &Option<Box<Node>>) -> u64 {
    node.as_ref().map_or(0, |n| {
        let (l, r) = rayon::join(|| sum_rayon(&n.left), || sum_rayon(&n.right));
        n.value + l + r
    })
}

fn tree_sum(c: &mut Criterion) {
    let mut group = c.benchmark_group("forkjoin_tree_sum");
    config(&mut group);
    let tree = build(TREE_DEPTH, &mut 0);
    let expected = sum_seq(&tree);
    let pool = stealpool::ThreadPool::new(threads()).unwrap();
    group.bench_function("stealpool_join", |b| {
        b.iter(|| assert_eq!(pool.install(|| sum_stealpool(&tree)), expected))
    });
    drop(pool);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads())
        .build()
        .unwrap();
    group.bench_function("rayon_join", |b| {
        b.iter(|| assert_eq!(pool.install(|| sum_rayon(&tree)), expected))
    });
    drop(pool);
    group.bench_function("sequential", |b| {
        b.iter(|| black_box(sum_seq(black_box(&tree))))
    });
    group.finish();
}

/// Quicksort (as `examples/parallel_quicksort.rs`): split at the exact
/// median with std's `select_nth_unstable`, sort the halves in parallel with
/// `join`, sequential `sort_unstable` below the cutoff.
fn quicksort_stealpool(v: &mut [u64]) {
    if v.len() <= SORT_CUTOFF {
        v.sort_unstable();
        return;
    }
    let mid = v.len() / 2;
    v.select_nth_unstable(mid);
    let (left, right) = v.split_at_mut(mid);
    stealpool::join(
        || quicksort_stealpool(left),
        || quicksort_stealpool(&mut right[1..]),
    );
}

fn random_data() -> Vec<u64> {
    let mut x = 0x2545_F491_4F6C_DD1D_u64;
    (0..SORT_LEN)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        })
        .collect()
}

fn quicksort(c: &mut Criterion) {
    use rayon::slice::ParallelSliceMut;
    let mut group = c.benchmark_group("forkjoin_quicksort");
    config(&mut group);
    let data = random_data();
    let pool = stealpool::ThreadPool::new(threads()).unwrap();
    group.bench_function("stealpool_join", |b| {
        b.iter_batched_ref(
            || data.clone(),
            |v| pool.install(|| quicksort_stealpool(v)),
            BatchSize::LargeInput,
        )
    });
    drop(pool);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads())
        .build()
        .unwrap();
    group.bench_function("rayon_par_sort_unstable", |b| {
        b.iter_batched_ref(
            || data.clone(),
            |v| pool.install(|| v.par_sort_unstable()),
            BatchSize::LargeInput,
        )
    });
    drop(pool);
    group.bench_function("sequential_sort_unstable", |b| {
        b.iter_batched_ref(
            || data.clone(),
            |v| v.sort_unstable(),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn scope_spawn(c: &mut Criterion) {
    let mut group = c.benchmark_group("forkjoin_scope_spawn");
    config(&mut group);
    let pool = stealpool::ThreadPool::new(threads()).unwrap();
    group.bench_function("stealpool_scope", |b| {
        b.iter(|| {
            let counter = std::sync::atomic::AtomicUsize::new(0);
            pool.scope(|s| {
                for _ in 0..SCOPE_SPAWNS {
                    let counter = &counter;
                    s.spawn(move || {
                        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    });
                }
            });
            assert_eq!(counter.into_inner(), SCOPE_SPAWNS);
        })
    });
    drop(pool);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads())
        .build()
        .unwrap();
    group.bench_function("rayon_scope", |b| {
        b.iter(|| {
            let counter = std::sync::atomic::AtomicUsize::new(0);
            pool.scope(|s| {
                for _ in 0..SCOPE_SPAWNS {
                    let counter = &counter;
                    s.spawn(move |_| {
                        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    });
                }
            });
            assert_eq!(counter.into_inner(), SCOPE_SPAWNS);
        })
    });
    group.finish();
}

criterion_group!(benches, fib_join, tree_sum, quicksort, scope_spawn);
criterion_main!(benches);
