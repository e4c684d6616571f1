//! Heap allocations per task, stealpool and its peers, counted with a
//! counting global allocator (not criterion: it counts, it does not time).
//!
//! Run: `cargo bench --bench alloc`.

// A plain `main`, documented above.
#![allow(missing_docs)]

use std::sync::mpsc;

#[path = "../tests/support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{count, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

const N: usize = 10_000;

/// Allocations per iteration of `f`, run `N` times after a warm-up.
fn per_task(mut f: impl FnMut()) -> f64 {
    for _ in 0..N {
        f();
    }
    let allocations = count(|| {
        for _ in 0..N {
            f();
        }
    });
    allocations as f64 / N as f64
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` / `cargo test --benches`
    }
    println!("| submission + wait for the result | allocations per task |");
    println!("|---|---:|");
    let pool = stealpool::ThreadPool::new(2).unwrap();
    let a = per_task(|| {
        pool.submit(|| 1_u64).join().unwrap();
    });
    println!("| stealpool `submit` + `join` | {a:.2} |");
    let a = per_task(|| {
        pool.install(|| 1_u64);
    });
    println!("| stealpool `install` | {a:.2} |");
    let a = per_task(|| {
        pool.install(|| {
            for _ in 0..100 {
                std::hint::black_box(stealpool::join(|| 1_u64, || 2_u64));
            }
        });
    }) / 100.0;
    println!("| stealpool `join` (on a worker; per join) | {a:.4} |");
    drop(pool);

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let a = per_task(|| {
        pool.install(|| 1_u64);
    });
    println!("| rayon `install` | {a:.2} |");
    let a = per_task(|| {
        let (tx, rx) = mpsc::channel();
        pool.spawn(move || tx.send(1_u64).unwrap());
        rx.recv().unwrap();
    });
    println!("| rayon `spawn` + channel | {a:.2} |");
    drop(pool);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let a = per_task(|| {
        rt.block_on(rt.spawn(async { 1_u64 })).unwrap();
    });
    println!("| tokio `spawn` + `block_on(JoinHandle)` | {a:.2} |");
    drop(rt);

    let pool = threadpool::ThreadPool::new(2);
    let a = per_task(|| {
        let (tx, rx) = mpsc::channel();
        pool.execute(move || tx.send(1_u64).unwrap());
        rx.recv().unwrap();
    });
    println!("| threadpool `execute` + channel | {a:.2} |");
}
