//! rayon's everyday knobs (issue 12): `current_num_threads` and
//! `in_place_scope`. (`build_global` and `STEALPOOL_NUM_THREADS` need a
//! process whose global pool is not built yet: `tests/build_global.rs`,
//! `tests/global_env.rs`.)

mod common;

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{with_timeout, LIMIT};
use stealpool::{current_num_threads, in_place_scope, ThreadPool};

#[test]
fn current_num_threads_is_the_callers_pool() {
    with_timeout(LIMIT, || {
        let three = ThreadPool::new(3).unwrap();
        let five = ThreadPool::new(5).unwrap();
        assert_eq!(three.install(current_num_threads), 3);
        assert_eq!(five.install(current_num_threads), 5);
        assert_eq!(three.install(|| five.install(current_num_threads)), 5);
        assert_eq!(
            three.submit(current_num_threads).join().unwrap(),
            3,
            "a task on a worker"
        );
        assert!(current_num_threads() >= 1, "off the pools: the global pool");
    });
}

/// The body runs on the calling thread, may use what is not `Send`, and
/// may borrow; spawned closures run on the global pool off the pools.
#[test]
fn in_place_scope_from_outside_the_pools() {
    with_timeout(LIMIT, || {
        let caller = std::thread::current().id();
        let local = Rc::new(Cell::new(0)); // not Send
        let mut slots = vec![0_usize; 64];
        let on_workers = AtomicUsize::new(0);
        let value = in_place_scope(|s| {
            assert_eq!(std::thread::current().id(), caller);
            for (i, slot) in slots.iter_mut().enumerate() {
                let on_workers = &on_workers;
                s.spawn(move || {
                    *slot = i * 2;
                    if stealpool::current_thread_index().is_some() {
                        on_workers.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
            local.set(local.get() + 1);
            local.get()
        });
        assert_eq!(value, 1);
        assert_eq!(slots, (0..64).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(on_workers.into_inner(), 64, "spawns run on the global pool");
    });
}

/// On a worker, the spawns go to the caller's own pool, and nested spawns
/// from spawned closures are waited for too.
#[test]
fn in_place_scope_on_a_worker_uses_its_pool() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::builder()
            .num_threads(2)
            .thread_name(|i| format!("knobs-{i}"))
            .build()
            .unwrap();
        let names = std::sync::Mutex::new(Vec::new());
        let total = AtomicUsize::new(0);
        pool.install(|| {
            in_place_scope(|s| {
                for _ in 0..8 {
                    s.spawn(|| {
                        names
                            .lock()
                            .unwrap()
                            .push(std::thread::current().name().map(String::from));
                        s.spawn(|| {
                            total.fetch_add(1, Ordering::Relaxed);
                        });
                    });
                }
            });
            assert_eq!(total.load(Ordering::Relaxed), 8, "nested spawns finished");
        });
        for name in names.into_inner().unwrap() {
            assert!(name.unwrap().starts_with("knobs-"));
        }
    });
}

/// A panic in the body or in a spawned closure is resumed on the caller,
/// after every spawned closure finished.
#[test]
fn in_place_scope_panics_after_all_finished() {
    with_timeout(LIMIT, || {
        let finished = AtomicUsize::new(0);
        let result = catch_unwind(AssertUnwindSafe(|| {
            in_place_scope(|s| {
                for i in 0..4 {
                    let finished = &finished;
                    s.spawn(move || {
                        std::thread::sleep(std::time::Duration::from_millis(10));
                        finished.fetch_add(1, Ordering::SeqCst);
                        if i == 2 {
                            panic!("job {i}");
                        }
                    });
                }
            })
        }));
        assert_eq!(finished.load(Ordering::SeqCst), 4);
        let payload = result.unwrap_err();
        assert_eq!(*payload.downcast::<String>().unwrap(), "job 2");

        let result = catch_unwind(AssertUnwindSafe(|| {
            in_place_scope(|s| {
                s.spawn(|| std::thread::sleep(std::time::Duration::from_millis(10)));
                panic!("the body")
            })
        }));
        assert_eq!(*result.unwrap_err().downcast::<&str>().unwrap(), "the body");
    });
}
