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

#[path = "../fib.rs"]
mod fib;
use fib::{fib_joins as joins, fib_rayon, fib_seq, fib_stealpool as fib_join, fib_worker};

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
