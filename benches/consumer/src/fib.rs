//! The `fib` workloads, shared by both binaries (each includes this file as
//! a module of its own, so each compiles it exactly as if it were inline).

pub fn fib_seq(n: u32) -> u64 {
    if n < 2 {
        return u64::from(n);
    }
    fib_seq(n - 1) + fib_seq(n - 2)
}

pub fn fib_stealpool(n: u32) -> u64 {
    if n < 2 {
        return u64::from(n);
    }
    let (a, b) = stealpool::join(|| fib_stealpool(n - 1), || fib_stealpool(n - 2));
    a + b
}

/// The context-passing form: the worker is handed down, not looked up.
pub fn fib_worker(worker: stealpool::Worker<'_>, n: u32) -> u64 {
    if n < 2 {
        return u64::from(n);
    }
    let (a, b) = worker.join(|w| fib_worker(w, n - 1), |w| fib_worker(w, n - 2));
    a + b
}

pub fn fib_rayon(n: u32) -> u64 {
    if n < 2 {
        return u64::from(n);
    }
    let (a, b) = rayon::join(|| fib_rayon(n - 1), || fib_rayon(n - 2));
    a + b
}

/// Joins in `fib(n)` with one `join` per call that does not return at once.
pub fn fib_joins(n: u32) -> u64 {
    if n < 2 {
        0
    } else {
        1 + fib_joins(n - 1) + fib_joins(n - 2)
    }
}
