//! loom models of the scheduler, through the public API on a loom build
//! (the deques become locked stand-ins, the futex a loom condvar):
//! the sleep/wake protocol (a push against a worker going to sleep) and
//! shutdown (no task lost or run twice; every worker exits).
#![cfg(loom)]

use loom::sync::atomic::AtomicUsize;
use loom::sync::atomic::Ordering::SeqCst;
use loom::sync::Arc;
use loom::thread;
use stealpool::ThreadPool;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

/// A submission from outside against the worker's idle → sleep transition:
/// the task is always picked up (a lost wake-up is a loom deadlock in join).
#[test]
fn push_vs_park() {
    model(|| {
        let pool = ThreadPool::new(1).unwrap();
        let task = pool.submit(|| 1_u8);
        assert_eq!(task.join().unwrap(), 1);
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
        match outcome {
            Ok(()) => assert_eq!(runs.load(SeqCst), 1),
            Err(err) => {
                assert!(err.is_cancelled() || err.is_rejected());
                assert_eq!(runs.load(SeqCst), 0);
            }
        }
    });
}
