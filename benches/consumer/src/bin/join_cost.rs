//! Instructions per `join`, counted instead of timed: run it under
//! callgrind once with `seq` and once with `join` (or `worker`, the
//! context-passing `Worker::join`, or `rayon`), and divide the
//! difference in instructions by the number of joins it prints. A 1-thread
//! pool, so every `join` takes the fast path (never shared):
//!
//! ```sh
//! cargo build --release --manifest-path benches/consumer/Cargo.toml
//! bin=benches/consumer/target/release/join_cost
//! for mode in seq join worker rayon; do
//!     valgrind --tool=callgrind --callgrind-out-file=/dev/null $bin $mode 2>&1 | grep -E "refs|joins"
//! done
//! ```

use std::hint::black_box;

fn fib_seq(n: u32) -> u64 {
    if n < 2 {
        return u64::from(n);
    }
    fib_seq(n - 1) + fib_seq(n - 2)
}

fn fib_join(n: u32) -> u64 {
    if n < 2 {
        return u64::from(n);
    }
    let (a, b) = stealpool::join(|| fib_join(n - 1), || fib_join(n - 2));
    a + b
}

fn fib_worker(worker: stealpool::Worker<'_>, n: u32) -> u64 {
    if n < 2 {
        return u64::from(n);
    }
    let (a, b) = worker.join(|w| fib_worker(w, n - 1), |w| fib_worker(w, n - 2));
    a + b
}

fn fib_rayon(n: u32) -> u64 {
    if n < 2 {
        return u64::from(n);
    }
    let (a, b) = rayon::join(|| fib_rayon(n - 1), || fib_rayon(n - 2));
    a + b
}

fn joins(n: u32) -> u64 {
    if n < 2 {
        0
    } else {
        1 + joins(n - 1) + joins(n - 2)
    }
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "join".into());
    let n = black_box(25);
    let pool = stealpool::ThreadPool::new(1).expect("pool");
    let out = match mode.as_str() {
        "seq" => pool.install(|| fib_seq(n)),
        "join" => pool.install(|| fib_join(n)),
        "worker" => pool.with_worker(|worker| fib_worker(worker, n)),
        "rayon" => rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("rayon pool")
            .install(|| fib_rayon(n)),
        other => panic!("mode is seq, join, worker or rayon, not {other}"),
    };
    assert_eq!(out, 75_025);
    eprintln!("{mode}: fib({n}) = {out}, joins {}", joins(n));
}
