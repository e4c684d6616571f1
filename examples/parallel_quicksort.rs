//! Parallel quicksort with `stealpool::join`: split at the median, sort the
//! two halves in parallel, fall back to the sequential sort below a cutoff.
//!
//! `cargo run --release --example parallel_quicksort`

use std::time::Instant;

/// Below this length a slice is sorted sequentially: a `join` costs far less
/// than sorting thousands of elements, but not nothing.
const CUTOFF: usize = 16 * 1024;

/// Sorts `v` in parallel on the current pool.
fn quicksort<T: Ord + Send>(v: &mut [T]) {
    if v.len() <= CUTOFF {
        v.sort_unstable();
        return;
    }
    // Partition around the median: `select_nth_unstable` is std's fast
    // (pattern-defeating) partitioning, and the exact median splits the work
    // into two equal halves for the two sides of the `join`.
    let mid = v.len() / 2;
    v.select_nth_unstable(mid);
    let (left, right) = v.split_at_mut(mid);
    // `right[0]` is the median, already in place.
    stealpool::join(|| quicksort(left), || quicksort(&mut right[1..]));
}

/// xorshift64: reproducible pseudo-random input without dependencies.
fn random(n: usize) -> Vec<u64> {
    let mut x = 0x9E37_79B9_7F4A_7C15_u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        })
        .collect()
}

fn main() {
    let n = 4 << 20;
    let data = random(n);

    let mut sequential = data.clone();
    let start = Instant::now();
    sequential.sort_unstable();
    let t_seq = start.elapsed();

    let pool = stealpool::ThreadPool::builder().build().unwrap();
    let mut parallel = data;
    let start = Instant::now();
    pool.install(|| quicksort(&mut parallel));
    let t_par = start.elapsed();

    assert_eq!(parallel, sequential, "the parallel sort disagrees");
    println!(
        "sorted {n} u64: sort_unstable {t_seq:.2?}, parallel quicksort on {} threads {t_par:.2?} ({:.2}x)",
        pool.num_threads(),
        t_seq.as_secs_f64() / t_par.as_secs_f64()
    );
}
