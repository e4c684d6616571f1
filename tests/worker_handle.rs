//! `Worker`: the context-passing `join` (a worker handle passed from call to
//! call instead of a thread-local lookup per `join`).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use common::{with_timeout, LIMIT};
use stealpool::{Event, ThreadPool, Worker};

fn fib(worker: Worker<'_>, n: u32) -> u64 {
    if n < 2 {
        return u64::from(n);
    }
    let (a, b) = worker.join(|w| fib(w, n - 1), |w| fib(w, n - 2));
    a + b
}

fn sum(worker: Worker<'_>, v: &[u64]) -> u64 {
    if v.len() <= 64 {
        return v.iter().sum();
    }
    let (l, r) = v.split_at(v.len() / 2);
    let (a, b) = worker.join(|w| sum(w, l), |w| sum(w, r));
    a + b
}

#[test]
fn worker_join_gives_the_same_results_as_join() {
    with_timeout(LIMIT, || {
        for threads in [1, 2, 3] {
            let pool = ThreadPool::new(threads).unwrap();
            assert_eq!(pool.with_worker(|w| fib(w, 22)), 17_711);
            let v: Vec<u64> = (0..200_000).collect();
            assert_eq!(pool.with_worker(|w| sum(w, &v)), v.iter().sum::<u64>());
        }
        // The free function: on the global pool from outside.
        assert_eq!(stealpool::with_worker(|w| fib(w, 15)), 610);
    });
}

#[test]
fn each_closure_gets_the_worker_that_runs_it() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(2).unwrap();
        // `a` waits until `b` has run, so `b` must run on the other worker
        // (the owner's deque is empty, so `b` is shared at once and the
        // idle worker takes it); each records its handle's index and the
        // thread's own.
        let b_ran = Arc::new(Event::new());
        let ((a_handle, a_thread), (b_handle, b_thread)) = pool.with_worker(|worker| {
            let outer = worker.index();
            let pair = worker.join(
                |w| {
                    assert!(b_ran.wait_timeout(LIMIT), "b never ran elsewhere");
                    (w.index(), stealpool::current_thread_index().unwrap())
                },
                |w| {
                    let seen = (w.index(), stealpool::current_thread_index().unwrap());
                    b_ran.set();
                    seen
                },
            );
            assert_eq!(pair.0 .0, outer, "a runs on the caller's worker");
            pair
        });
        assert_eq!(a_handle, a_thread);
        assert_eq!(b_handle, b_thread);
        assert_ne!(a_handle, b_handle, "b was stolen by the other worker");
    });
}

#[test]
fn panics_resume_after_both_halves_finished() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(2).unwrap();
        let ran = AtomicUsize::new(0);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.with_worker(|worker| {
                worker.join(
                    |_| -> u32 { panic!("a failed") },
                    |_| {
                        ran.fetch_add(1, SeqCst);
                    },
                )
            })
        }));
        let payload = result.unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"a failed"));
        assert_eq!(ran.load(SeqCst), 1, "b ran to completion first");
        // The pool is fine afterwards.
        assert_eq!(pool.with_worker(|w| fib(w, 10)), 55);
    });
}

#[test]
fn with_worker_runs_on_the_pool_it_is_called_on() {
    with_timeout(LIMIT, || {
        let a = ThreadPool::new(1).unwrap();
        let b = ThreadPool::new(2).unwrap();
        // From a worker of `a`, `b.with_worker` runs on a worker of `b`
        // (while `a`'s worker keeps serving `a`), and the handle says so.
        let inner = a.with_worker(|outer| {
            assert_eq!(outer.index(), 0);
            b.with_worker(|inner| {
                assert_eq!(stealpool::current_thread_index(), Some(inner.index()));
                assert_eq!(
                    format!("{inner:?}"),
                    format!("Worker {{ index: {}, .. }}", inner.index())
                );
                fib(inner, 12)
            })
        });
        assert_eq!(inner, 144);
        // The free function from a worker uses that worker's pool.
        let index = b.install(|| {
            let mine = stealpool::current_thread_index();
            stealpool::with_worker(|w| (mine, w.index()))
        });
        assert_eq!(index.0, Some(index.1));
    });
}

#[test]
fn with_worker_after_shutdown_panics_from_outside() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(1).unwrap();
        pool.shutdown();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.with_worker(|w| w.index())
        }));
        assert!(result.is_err());
    });
}
