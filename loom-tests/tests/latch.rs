//! loom model of the one-shot latch behind blocking stack jobs (`install`):
//! the setter's writes are visible after `wait`, and no wake-up is lost.
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use stealpool::loom_hooks::Latch;

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
