//! loom models of the scheduler, through the public API on a loom build
//! (the deques become stand-ins that add no ordering crossbeam lacks, the
//! futex a loom condvar): the sleep/wake protocol and shutdown.
//!
//! Every model runs the real pool. Its invariants: every task runs exactly
//! once or is cancelled/rejected (never lost, never run twice; the tasks'
//! state lives in loom `Arc`s, whose leak check fails a model that drops a
//! job); the sleep counters never wrap (a `debug_assert` in `Sleep::shift`,
//! on in every model run); a lost wake-up or a shutdown that waits on a
//! caller is a loom deadlock.
#![cfg(loom)]

use loom::sync::atomic::AtomicUsize;
use loom::sync::atomic::Ordering::SeqCst;
use loom::sync::Arc;
use loom::thread;
use stealpool::{Event, ThreadPool};

/// Waits until `pool` is the last handle, then drops it: its `shutdown` on
/// this thread joins every worker. (A model must not end while a pool thread
/// still runs: loom tears down its statics when the main thread returns.)
fn drop_last(pool: Arc<ThreadPool>) {
    while Arc::strong_count(&pool) > 1 {
        thread::yield_now();
    }
    drop(pool);
}

/// A model with a preemption bound of at most 2 (see `loom_tests::check`).
fn model(f: impl Fn() + Sync + Send + 'static) {
    loom_tests::check(2, f);
}

/// A model of a whole two-worker pool, bounded at most by `cap`.
fn model_bounded(cap: usize, f: impl Fn() + Sync + Send + 'static) {
    loom_tests::check(cap, f);
}

/// A submission from outside against the worker's idle → sleep transition:
/// the task is always picked up (a lost wake-up is a loom deadlock in join).
/// Kills: drop-f1, drop-f2, skip-recheck, notified-first.
#[test]
fn push_vs_park() {
    model(|| {
        let pool = ThreadPool::new(1).unwrap();
        let task = pool.submit(|| 1_u8);
        assert_eq!(task.join().unwrap(), 1);
        drop(pool);
    });
}

/// Two tasks on two workers, the first waiting (blocking its worker) until
/// the second runs: the second must reach the other worker, through every
/// hand-off of the sleep protocol in the real pool. (Reaching the F3 case
/// here takes three preemptions; `sleep.rs` has the small model that kills
/// drop-f3.)
#[test]
fn dependent_tasks_reach_both_workers() {
    model_bounded(2, || {
        let pool = ThreadPool::new(2).unwrap();
        let go = Arc::new(Event::new());
        let waiter = {
            let go = Arc::clone(&go);
            pool.submit(move || go.wait())
        };
        let setter = pool.submit(move || go.set());
        waiter.join().unwrap();
        setter.join().unwrap();
        drop(pool);
    });
}

/// Shutdown racing queued work: every task runs exactly once, and the
/// worker exits (drop joins it).
#[test]
fn shutdown_drains() {
    model(|| {
        let runs = Arc::new(AtomicUsize::new(0));
        let pool = ThreadPool::new(1).unwrap();
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let runs = Arc::clone(&runs);
                pool.submit(move || {
                    runs.fetch_add(1, SeqCst);
                })
            })
            .collect();
        pool.shutdown();
        for task in tasks {
            assert!(task.is_done());
            task.join().unwrap();
        }
        assert_eq!(runs.load(SeqCst), 2);
    });
}

/// shutdown_now from another thread racing a submission: the task either
/// ran once or was cancelled/rejected; never lost, never run twice.
#[test]
fn shutdown_now_vs_submit() {
    model(|| {
        let runs = Arc::new(AtomicUsize::new(0));
        let pool = Arc::new(ThreadPool::new(1).unwrap());
        let shutter = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || pool.shutdown_now())
        };
        let task = {
            let runs = Arc::clone(&runs);
            pool.submit(move || {
                runs.fetch_add(1, SeqCst);
            })
        };
        shutter.join().unwrap();
        let outcome = task.join();
        drop_last(pool);
        match outcome {
            Ok(()) => assert_eq!(runs.load(SeqCst), 1),
            Err(err) => {
                assert!(err.is_cancelled() || err.is_rejected());
                assert_eq!(runs.load(SeqCst), 0);
            }
        }
    });
}

/// Two tasks on a two-worker pool each call `shutdown` (they may run side
/// by side, or one inside the other's shutdown, which drains it): every call
/// returns — no caller waits for another — and each task ran exactly once
/// (or, submitted after the first shutdown began, was rejected).
/// (Dropping the last handle on a worker, which leaves the threads to exit
/// detached, is tested in `tests/faults.rs`: a loom model must join its
/// threads.) Kills: shutdown-waits-for-callers.
#[test]
fn concurrent_shutdowns_from_workers() {
    model_bounded(1, || {
        let runs = Arc::new(AtomicUsize::new(0));
        let pool = Arc::new(ThreadPool::new(2).unwrap());
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let (pool_ref, runs) = (Arc::clone(&pool), Arc::clone(&runs));
                pool.submit(move || {
                    runs.fetch_add(1, SeqCst);
                    pool_ref.shutdown();
                })
            })
            .collect();
        let ran = tasks
            .into_iter()
            .map(|task| match task.join() {
                Ok(()) => 1,
                Err(err) => {
                    assert!(err.is_rejected(), "{err}");
                    0
                }
            })
            .sum::<usize>();
        assert!(ran >= 1, "the first submission cannot be rejected");
        assert_eq!(runs.load(SeqCst), ran);
        drop_last(pool);
    });
}

/// `shutdown` called from a task that another worker is blocked on (a
/// running task it `join`s): the caller does not wait for the joiner, the
/// joiner then finishes, and nothing hangs. Kills: shutdown-ignores-chains.
///
/// In one interleaving the joiner is still queued when the caller's
/// `shutdown` drains the queue, so it runs *on top of* the task it joins: a
/// certain deadlock, which `Task::join` reports as a panic instead.
#[test]
fn shutdown_from_a_task_someone_joins() {
    model_bounded(1, || {
        let pool = Arc::new(ThreadPool::new(2).unwrap());
        let started = Arc::new(Event::new());
        let inner = {
            let (pool_ref, started) = (Arc::clone(&pool), Arc::clone(&started));
            pool.submit(move || {
                started.set();
                pool_ref.shutdown();
                5_u8
            })
        };
        let outer = pool.submit(move || {
            // Running elsewhere (started), so this join blocks, not inlines.
            started.wait();
            inner.join().unwrap()
        });
        match outer.join() {
            Ok(value) => assert_eq!(value, 5),
            // Submitted after `shutdown` began (then `inner` is dropped
            // unjoined), or the self-deadlock panic described above.
            Err(err) => assert!(err.is_rejected() || err.is_panic(), "{err}"),
        }
        drop_last(pool);
    });
}
