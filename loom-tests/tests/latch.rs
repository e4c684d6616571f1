//! loom model of the one-shot latch behind blocking stack jobs (`install`):
//! the setter's writes are visible after `wait`, and no wake-up is lost.
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use stealpool::loom_hooks::{Latch, WorkerLatch, Workers};

struct Job {
    result: UnsafeCell<u32>,
    latch: Arc<Latch>,
}

// SAFETY: the model's own argument: `result` is written before `set` and
// read after `wait`, which loom checks.
unsafe impl Sync for Job {}

#[test]
fn set_vs_wait_publishes_the_result() {
    loom::model(|| {
        let job = Arc::new(Job {
            result: UnsafeCell::new(0),
            latch: Latch::new(),
        });
        let worker = {
            let job = Arc::clone(&job);
            thread::spawn(move || {
                // SAFETY: only the worker writes, before `set`.
                job.result.with_mut(|r| unsafe { *r = 42 });
                job.latch.set();
            })
        };
        job.latch.wait();
        assert!(job.latch.probe());
        // SAFETY: `wait` returned: the write happened-before (loom checks).
        assert_eq!(job.result.with(|r| unsafe { *r }), 42);
        worker.join().unwrap();
    });
}

/// A pointer to a latch that may cross to its setter's thread.
struct LatchPtr(*const WorkerLatch<'static>);
// SAFETY: the owner keeps the latch alive until it is set (it waits).
unsafe impl Send for LatchPtr {}

/// A worker waiting for its latch in the pool's sleep protocol (as a `join`
/// does for a stolen half), set by another worker: the setter must find the
/// owner asleep through the latch word and wake its sleep word; the owner
/// may free the latch the moment it sees it set. Real pool state, real
/// `WorkerThread::wait_until`, real `SpinLatch`. Kills: latch-no-wake.
#[test]
fn spin_latch_wakes_its_sleeping_owner() {
    loom::model(|| {
        let workers = Workers::new(2);
        let (tx, rx) = loom::sync::mpsc::channel();
        let setter = {
            let workers = Arc::clone(&workers);
            thread::spawn(move || {
                let latch: LatchPtr = rx.recv().unwrap();
                workers.run_as(1, |_| {
                    // SAFETY: the owner waits for this set before it returns.
                    unsafe { WorkerLatch::set(latch.0) };
                });
            })
        };
        workers.run_as(0, |worker| {
            let latch = worker.latch();
            // The lifetime is erased for the trip to the setter only.
            tx.send(LatchPtr((&latch as *const WorkerLatch<'_>).cast()))
                .unwrap();
            worker.wait_until(&latch);
        });
        setter.join().unwrap();
    });
}
