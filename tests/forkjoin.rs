//! Fork-join: `join` and `scope` (ThreadPool methods and free functions).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::{with_timeout, LIMIT};
use stealpool::ThreadPool;

fn fib(n: u32) -> u64 {
    if n < 2 {
        return u64::from(n);
    }
    let (a, b) = stealpool::join(|| fib(n - 1), || fib(n - 2));
    a + b
}

fn sum(v: &[u64]) -> u64 {
    if v.len() <= 64 {
        return v.iter().sum();
    }
    let (l, r) = v.split_at(v.len() / 2);
    let (a, b) = stealpool::join(|| sum(l), || sum(r));
    a + b
}

#[test]
fn join_results_and_recursion() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(2).unwrap();
        assert_eq!(pool.join(|| 1, || "two"), (1, "two"));
        assert_eq!(pool.install(|| fib(22)), 17_711);
        let v: Vec<u64> = (0..200_000).collect();
        assert_eq!(pool.install(|| sum(&v)), v.iter().sum::<u64>());
        // Off the pool: the free function uses the global pool.
        assert_eq!(fib(15), 610);
    });
}

#[test]
fn join_on_one_thread_and_both_sides_run_on_the_pool() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(1).unwrap();
        let (a, b) = pool.join(
            stealpool::current_thread_index,
            stealpool::current_thread_index,
        );
        assert_eq!((a, b), (Some(0), Some(0)));
        assert_eq!(pool.install(|| fib(18)), 2584);
    });
}

#[test]
fn join_borrows_mutably_from_both_sides() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(2).unwrap();
        let mut left = vec![1, 2, 3];
        let mut right = vec![4, 5, 6];
        pool.join(|| left.iter_mut().for_each(|x| *x *= 2), || right.push(7));
        assert_eq!(left, [2, 4, 6]);
        assert_eq!(right, [4, 5, 6, 7]);
    });
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[test]
fn join_panics_resume_after_both_finished() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(2).unwrap();
        let b_done = AtomicUsize::new(0);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.join(
                || panic!("a failed"),
                || {
                    thread::sleep(Duration::from_millis(30));
                    b_done.fetch_add(1, SeqCst);
                },
            )
        }));
        assert_eq!(panic_message(caught.unwrap_err()), "a failed");
        assert_eq!(
            b_done.load(SeqCst),
            1,
            "b finished before the panic resumed"
        );

        let caught = std::panic::catch_unwind(|| pool.join(|| 1, || -> u8 { panic!("b failed") }));
        assert_eq!(panic_message(caught.unwrap_err()), "b failed");

        let caught = std::panic::catch_unwind(|| {
            pool.join(
                || -> u8 { panic!("a wins") },
                || -> u8 { panic!("b loses") },
            )
        });
        assert_eq!(panic_message(caught.unwrap_err()), "a wins");
        // The workers survived.
        assert_eq!(pool.join(|| 1, || 2), (1, 2));
    });
}

#[test]
fn scope_spawns_borrow_and_nest() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(2).unwrap();
        let mut data = vec![0_u64; 100];
        let total = AtomicUsize::new(0);
        let returned = pool.scope(|s| {
            for (i, x) in data.iter_mut().enumerate() {
                let total = &total;
                s.spawn(move || {
                    *x = i as u64;
                    // Nested spawns into the same scope.
                    s.spawn(move || {
                        total.fetch_add(1, SeqCst);
                    });
                });
            }
            "body result"
        });
        assert_eq!(returned, "body result");
        assert_eq!(data, (0..100).collect::<Vec<_>>());
        assert_eq!(
            total.load(SeqCst),
            100,
            "scope returned before nested spawns finished"
        );
    });
}

#[test]
fn scope_waits_for_slow_jobs_and_free_function() {
    with_timeout(LIMIT, || {
        let done = AtomicUsize::new(0);
        stealpool::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    thread::sleep(Duration::from_millis(20));
                    done.fetch_add(1, SeqCst);
                });
            }
        });
        assert_eq!(done.load(SeqCst), 4);
        assert_eq!(stealpool::scope(|_| 5), 5, "an empty scope returns at once");
    });
}

#[test]
fn scope_resumes_first_panic_after_all_finished() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(2).unwrap();
        let finished = AtomicUsize::new(0);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.scope(|s| {
                s.spawn(|| panic!("job failed"));
                for _ in 0..3 {
                    s.spawn(|| {
                        thread::sleep(Duration::from_millis(20));
                        finished.fetch_add(1, SeqCst);
                    });
                }
            })
        }));
        assert_eq!(panic_message(caught.unwrap_err()), "job failed");
        assert_eq!(finished.load(SeqCst), 3, "the other jobs finished first");

        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.scope(|s| {
                s.spawn(|| panic!("job"));
                panic!("body");
            })
        }));
        assert_eq!(
            panic_message(caught.unwrap_err()),
            "body",
            "the body's panic wins"
        );
        assert_eq!(pool.install(|| 3), 3, "the pool still works");
    });
}

#[test]
fn join_and_scope_after_shutdown_panic_from_outside() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(1).unwrap();
        pool.shutdown();
        let caught =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pool.join(|| 1, || 2)));
        assert!(panic_message(caught.unwrap_err()).contains("shut down"));
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pool.scope(|_| ())));
        assert!(panic_message(caught.unwrap_err()).contains("shut down"));
    });
}

#[test]
fn shutdown_now_still_runs_scope_jobs() {
    with_timeout(LIMIT, || {
        let pool = Arc::new(ThreadPool::new(2).unwrap());
        let ran = Arc::new(AtomicUsize::new(0));
        let scoper = {
            let (pool, ran) = (Arc::clone(&pool), Arc::clone(&ran));
            thread::spawn(move || {
                pool.scope(|s| {
                    for _ in 0..50 {
                        let ran = &ran;
                        s.spawn(move || {
                            thread::sleep(Duration::from_millis(1));
                            ran.fetch_add(1, SeqCst);
                        });
                    }
                });
            })
        };
        thread::sleep(Duration::from_millis(10));
        pool.shutdown_now();
        scoper.join().unwrap();
        assert_eq!(ran.load(SeqCst), 50, "a scope's jobs are never dropped");
    });
}

#[test]
fn join_inside_scope_inside_join() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(2).unwrap();
        let log = Mutex::new(Vec::new());
        pool.join(
            || {
                stealpool::scope(|s| {
                    s.spawn(|| log.lock().unwrap().push(stealpool::join(|| 1, || 2)));
                })
            },
            || log.lock().unwrap().push((3, 4)),
        );
        let mut log = log.into_inner().unwrap();
        log.sort_unstable();
        assert_eq!(log, [(1, 2), (3, 4)]);
    });
}

/// Nested joins as deep as the default worker stack allows comfortably, and
/// deeper with a bigger stack (see `docs/design.md`, "Default stack size").
#[test]
fn deep_recursion_fits_the_stack() {
    fn depth(n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let (a, ()) = stealpool::join(|| depth(n - 1), || ());
        a + 1
    }
    // Unoptimised builds use far bigger frames: scale the depths down.
    let (fits_default, fits_big) = if cfg!(debug_assertions) {
        (200, 5_000)
    } else {
        (2_000, 50_000)
    };
    with_timeout(LIMIT, move || {
        let pool = ThreadPool::new(2).unwrap();
        assert_eq!(pool.install(|| depth(fits_default)), fits_default);
        let big = ThreadPool::builder()
            .num_threads(2)
            .stack_size(64 << 20)
            .build()
            .unwrap();
        assert_eq!(big.install(|| depth(fits_big)), fits_big);
    });
}

/// Several outside threads drive nested joins and scopes on one pool at
/// once, with tasks submitted from inside: every result is right and
/// nothing hangs.
#[test]
fn stress_joins_scopes_and_tasks_from_many_threads() {
    fn tree(depth: u32) -> u64 {
        if depth == 0 {
            return 1;
        }
        let (a, b) = stealpool::join(|| tree(depth - 1), || tree(depth - 1));
        a + b
    }
    with_timeout(Duration::from_secs(120), || {
        let pool = Arc::new(ThreadPool::new(3).unwrap());
        let drivers: Vec<_> = (0..4)
            .map(|t| {
                let pool = Arc::clone(&pool);
                thread::spawn(move || {
                    for round in 0..30_u64 {
                        assert_eq!(pool.install(|| tree(10)), 1024);
                        let mut slots = [0_u64; 16];
                        pool.scope(|s| {
                            for (i, slot) in slots.iter_mut().enumerate() {
                                s.spawn(move || {
                                    let inner = stealpool::submit(move || i as u64 * 2);
                                    let (x, y) =
                                        stealpool::join(|| tree(4), || inner.join().unwrap());
                                    *slot = x + y + round + t;
                                });
                            }
                        });
                        for (i, slot) in slots.iter().enumerate() {
                            assert_eq!(*slot, 16 + i as u64 * 2 + round + t);
                        }
                    }
                })
            })
            .collect();
        for d in drivers {
            d.join().unwrap();
        }
    });
}
