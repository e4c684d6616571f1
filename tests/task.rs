//! Task<T>: Python's `Future` behaviours (CPython `test_future.py`), plus the
//! crate's own: inline running on a worker, callbacks, `.await`, races.

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use common::{block_on, counting_waker, with_timeout, LIMIT};
use stealpool::{Event, Task, TaskError, ThreadPool};

fn assert_send<T: Send>() {}
fn assert_sync<T: Sync>() {}
fn assert_unpin<T: Unpin>() {}

#[test]
fn auto_traits() {
    assert_send::<Task<u32>>();
    assert_sync::<Task<u32>>();
    assert_unpin::<Task<u32>>();
    assert_send::<Task<std::cell::Cell<u32>>>(); // Send, not Sync: fine
    assert_send::<TaskError>();
    assert_sync::<TaskError>();
}

/// A pool with one worker held busy until `release` is set, so that the
/// next submissions stay pending.
fn blocked_pool() -> (ThreadPool, Arc<Event>, Task<()>) {
    let pool = ThreadPool::new(1).unwrap();
    let started = Arc::new(Event::new());
    let release = Arc::new(Event::new());
    let blocker = pool.submit({
        let (started, release) = (Arc::clone(&started), Arc::clone(&release));
        move || {
            started.set();
            release.wait();
        }
    });
    started.wait();
    (pool, release, blocker)
}

#[test]
fn states_pending_running_done() {
    with_timeout(LIMIT, || {
        let (pool, release, blocker) = blocked_pool();
        assert!(blocker.is_running() && !blocker.is_done() && !blocker.is_cancelled());
        let pending = pool.submit(|| 5);
        assert!(!pending.is_running() && !pending.is_done() && !pending.is_cancelled());
        release.set();
        blocker.join().unwrap();
        pending.wait();
        assert!(pending.is_done() && !pending.is_running() && !pending.is_cancelled());
        assert_eq!(pending.join().unwrap(), 5);
    });
}

#[test]
fn cancel_truth_table() {
    with_timeout(LIMIT, || {
        let (pool, release, blocker) = blocked_pool();
        let ran = Arc::new(AtomicUsize::new(0));
        let pending = pool.submit({
            let ran = Arc::clone(&ran);
            move || ran.fetch_add(1, SeqCst)
        });
        assert!(!blocker.cancel(), "a running task cannot be cancelled");
        assert!(pending.cancel(), "a pending task can");
        assert!(pending.cancel(), "cancel is idempotent");
        assert!(pending.is_cancelled() && pending.is_done() && !pending.is_running());
        release.set();
        blocker.wait();
        assert!(!blocker.cancel(), "a finished task cannot be cancelled");
        assert!(!blocker.is_cancelled());
        let err = pending.join().unwrap_err();
        assert!(err.is_cancelled() && !err.is_panic() && !err.is_rejected());
        pool.shutdown();
        assert_eq!(ran.load(SeqCst), 0, "a cancelled closure never runs");
    });
}

#[test]
fn cancel_drops_the_closure_and_wakes_waiters() {
    with_timeout(LIMIT, || {
        let (pool, release, _blocker) = blocked_pool();
        let token = Arc::new(());
        let pending = Arc::new(pool.submit({
            let token = Arc::clone(&token);
            move || drop(token)
        }));
        let waiter = {
            let pending = Arc::clone(&pending);
            thread::spawn(move || pending.wait_timeout(Duration::from_secs(20)))
        };
        thread::sleep(Duration::from_millis(50));
        assert!(pending.cancel());
        assert!(waiter.join().unwrap(), "a blocked waiter returns on cancel");
        assert_eq!(
            Arc::strong_count(&token),
            1,
            "the cancelled closure was dropped"
        );
        release.set();
    });
}

#[test]
fn wait_timeout_zero_and_elapsed() {
    with_timeout(LIMIT, || {
        let (pool, release, blocker) = blocked_pool();
        let pending = pool.submit(|| ());
        let start = Instant::now();
        assert!(!pending.wait_timeout(Duration::ZERO));
        assert!(!blocker.wait_timeout(Duration::ZERO));
        assert!(start.elapsed() < Duration::from_millis(200));
        let start = Instant::now();
        assert!(!blocker.wait_timeout(Duration::from_millis(50)));
        assert!(start.elapsed() >= Duration::from_millis(50));
        release.set();
        assert!(blocker.wait_timeout(Duration::MAX));
        assert!(pending.wait_timeout(Duration::from_secs(20)));
        assert!(pending.wait_timeout(Duration::ZERO));
    });
}

#[test]
fn join_returns_value_or_error() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(2).unwrap();
        assert_eq!(pool.submit(|| "value").join().unwrap(), "value");
        let err = pool.submit(|| -> u8 { panic!("boom") }).join().unwrap_err();
        assert!(err.is_panic());
        assert_eq!(err.panic_message(), Some("boom"));
        assert_eq!(err.to_string(), "task panicked: boom");
        // A falsy / empty payload is still an error.
        let err = pool
            .submit(|| std::panic::panic_any(String::new()))
            .join()
            .unwrap_err();
        assert!(err.is_panic());
        assert_eq!(*err.into_panic().downcast::<String>().unwrap(), "");
    });
}

#[test]
fn blocked_join_wakes_on_completion() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(2).unwrap();
        let task = pool.submit(|| {
            thread::sleep(Duration::from_millis(100));
            42
        });
        assert_eq!(task.join().unwrap(), 42);
    });
}

#[test]
fn many_threads_wait_on_one_task() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(1).unwrap();
        let release = Arc::new(Event::new());
        let task = Arc::new(pool.submit({
            let release = Arc::clone(&release);
            move || release.wait()
        }));
        let waiters: Vec<_> = (0..6)
            .map(|_| {
                let task = Arc::clone(&task);
                thread::spawn(move || task.wait())
            })
            .collect();
        thread::sleep(Duration::from_millis(50));
        release.set();
        for w in waiters {
            w.join().unwrap();
        }
        assert!(task.is_done());
    });
}

#[test]
fn dropped_task_still_runs_and_leaks_nothing() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(2).unwrap();
        let token = Arc::new(());
        let (tx, rx) = mpsc::channel();
        for _ in 0..100 {
            let token = Arc::clone(&token);
            let tx = tx.clone();
            drop(pool.submit(move || {
                tx.send(()).unwrap();
                token
            }));
        }
        for _ in 0..100 {
            rx.recv().unwrap();
        }
        pool.shutdown();
        assert_eq!(Arc::strong_count(&token), 1, "an outcome leaked");
    });
}

// ---- callbacks ----

#[test]
fn callback_sees_result_in_order_exactly_once() {
    with_timeout(LIMIT, || {
        let (pool, release, _blocker) = blocked_pool();
        let log = Arc::new(Mutex::new(Vec::new()));
        let task = pool.submit(|| 5);
        for i in 0..5 {
            let log = Arc::clone(&log);
            task.on_done(move |outcome| log.lock().unwrap().push((i, *outcome.as_ref().unwrap())));
        }
        release.set();
        task.wait();
        assert_eq!(task.join().unwrap(), 5);
        assert_eq!(
            *log.lock().unwrap(),
            (0..5).map(|i| (i, 5)).collect::<Vec<_>>()
        );
    });
}

#[test]
fn callback_sees_panic_and_cancel() {
    with_timeout(LIMIT, || {
        let (pool, release, _blocker) = blocked_pool();
        let (tx, rx) = mpsc::channel();
        let cancelled = pool.submit(|| ());
        let tx2 = tx.clone();
        cancelled.on_done(move |o| tx2.send(o.as_ref().unwrap_err().is_cancelled()).unwrap());
        assert!(cancelled.cancel());
        assert!(rx.recv().unwrap(), "callback runs on cancel");
        let panics = pool.submit(|| panic!("x"));
        panics.on_done(move |o| tx.send(o.as_ref().unwrap_err().is_panic()).unwrap());
        release.set();
        assert!(rx.recv().unwrap());
    });
}

#[test]
fn callback_added_after_completion_runs_on_caller() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(1).unwrap();
        for task in [pool.submit(|| 1), pool.submit(|| panic!("p")), {
            let (p, r, _b) = blocked_pool();
            let t = p.submit(|| 1);
            t.cancel();
            r.set();
            t
        }] {
            task.wait();
            let caller = thread::current().id();
            let ran_on = Arc::new(Mutex::new(None));
            let slot = Arc::clone(&ran_on);
            task.on_done(move |_| *slot.lock().unwrap() = Some(thread::current().id()));
            assert_eq!(
                *ran_on.lock().unwrap(),
                Some(caller),
                "not run at once on the caller"
            );
        }
    });
}

#[test]
fn callback_may_wait_on_its_own_task() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(1).unwrap();
        let (tx, rx) = mpsc::channel();
        let task = Arc::new(pool.submit(|| thread::sleep(Duration::from_millis(20))));
        let inner = Arc::clone(&task);
        task.on_done(move |_| {
            // The task reads as done before callbacks run: no deadlock.
            inner.wait();
            tx.send(inner.is_done()).unwrap();
        });
        assert!(rx.recv().unwrap());
    });
}

#[test]
fn panicking_callback_is_reported_and_others_run() {
    with_timeout(LIMIT, || {
        let (tx, rx) = mpsc::channel::<String>();
        let tx = Mutex::new(tx);
        let pool = ThreadPool::builder()
            .num_threads(1)
            .panic_handler(move |p| {
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                tx.lock().unwrap().send(msg).unwrap();
            })
            .build()
            .unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let task = pool.submit(|| thread::sleep(Duration::from_millis(20)));
        task.on_done(|_| panic!("callback one"));
        let r = Arc::clone(&ran);
        task.on_done(move |_| {
            r.fetch_add(1, SeqCst);
        });
        task.wait();
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)).unwrap(),
            "callback one"
        );
        // Added after completion, panicking on the caller: caught and reported.
        task.on_done(|_| panic!("callback two"));
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)).unwrap(),
            "callback two"
        );
        task.join().unwrap();
        assert_eq!(ran.load(SeqCst), 1);
        // The worker survived.
        assert_eq!(pool.submit(|| 3).join().unwrap(), 3);
    });
}

#[test]
fn callbacks_race_completion_each_runs_once() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(2).unwrap();
        for _ in 0..500 {
            let count = Arc::new(AtomicUsize::new(0));
            let task = Arc::new(pool.submit(|| 1));
            let adders: Vec<_> = (0..3)
                .map(|_| {
                    let (task, count) = (Arc::clone(&task), Arc::clone(&count));
                    thread::spawn(move || {
                        for _ in 0..4 {
                            let count = Arc::clone(&count);
                            task.on_done(move |_| {
                                count.fetch_add(1, SeqCst);
                            });
                        }
                    })
                })
                .collect();
            for a in adders {
                a.join().unwrap();
            }
            task.wait();
            // Every on_done has returned; join waits for queued callbacks.
            let task = Arc::try_unwrap(task).unwrap();
            task.join().unwrap();
            assert_eq!(count.load(SeqCst), 12);
        }
    });
}

#[test]
fn cancel_races_claim() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(2).unwrap();
        for _ in 0..2_000 {
            let ran = Arc::new(AtomicUsize::new(0));
            let task = pool.submit({
                let ran = Arc::clone(&ran);
                move || ran.fetch_add(1, SeqCst)
            });
            let cancelled = task.cancel();
            let outcome = task.join();
            assert_eq!(
                cancelled,
                outcome.is_err(),
                "cancel() and the outcome disagree"
            );
            assert_eq!(
                ran.load(SeqCst),
                usize::from(!cancelled),
                "ran and cancelled"
            );
        }
    });
}

// ---- inline waiting on a worker ----

#[test]
fn nested_submit_and_wait_on_one_thread() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(1).unwrap();
        let value = pool
            .submit(|| {
                let inner = stealpool::submit(|| 21);
                inner.join().unwrap() * 2
            })
            .join()
            .unwrap();
        assert_eq!(value, 42);
    });
}

#[test]
fn chain_of_fifty_waits_on_one_thread() {
    fn chain(depth: u32) -> u32 {
        if depth == 0 {
            0
        } else {
            stealpool::submit(move || chain(depth - 1)).join().unwrap() + 1
        }
    }
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(1).unwrap();
        assert_eq!(pool.install(|| chain(50)), 50);
        // wait and wait_timeout run inline too.
        let ok = pool.install(|| {
            let t = stealpool::submit(|| 1);
            t.wait();
            let u = stealpool::submit(|| 2);
            u.wait_timeout(Duration::from_millis(1)) && t.join().unwrap() == 1
        });
        assert!(ok);
    });
}

// ---- async ----

#[test]
fn await_yields_the_outcome() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(2).unwrap();
        assert_eq!(block_on(pool.submit(|| 7)).unwrap(), 7);
        assert!(block_on(pool.submit(|| panic!("a")))
            .unwrap_err()
            .is_panic());
        let (p, r, _b) = blocked_pool();
        let t = p.submit(|| ());
        t.cancel();
        assert!(block_on(t).unwrap_err().is_cancelled());
        r.set();
        pool.shutdown();
        assert!(block_on(pool.submit(|| ())).unwrap_err().is_rejected());
    });
}

#[test]
fn await_wakes_exactly_and_across_executors() {
    with_timeout(LIMIT, || {
        let (pool, release, _blocker) = blocked_pool();
        let mut task = pool.submit(|| 9);
        let (first, waker1) = counting_waker();
        let (second, waker2) = counting_waker();
        assert!(Future::poll(
            std::pin::Pin::new(&mut task),
            &mut Context::from_waker(&waker1)
        )
        .is_pending());
        // A second executor polls it next: only its waker is woken.
        assert!(Future::poll(
            std::pin::Pin::new(&mut task),
            &mut Context::from_waker(&waker2)
        )
        .is_pending());
        release.set();
        let start = Instant::now();
        while second.0.load(SeqCst) == 0 {
            assert!(start.elapsed() < Duration::from_secs(10), "not woken");
            thread::yield_now();
        }
        assert_eq!(first.0.load(SeqCst), 0);
        assert_eq!(second.0.load(SeqCst), 1);
        match Future::poll(
            std::pin::Pin::new(&mut task),
            &mut Context::from_waker(&waker2),
        ) {
            Poll::Ready(outcome) => assert_eq!(outcome.unwrap(), 9),
            Poll::Pending => panic!("woken but not ready"),
        }
    });
}

#[test]
#[should_panic(expected = "taken by `.await`")]
fn on_done_after_await_panics() {
    let pool = ThreadPool::new(1).unwrap();
    let mut task = pool.submit(|| 1);
    let _ = block_on(&mut task);
    task.on_done(|_| {});
}

#[test]
fn debug_output() {
    let pool = ThreadPool::new(1).unwrap();
    let t = pool.submit(|| 1);
    t.wait();
    assert_eq!(format!("{t:?}"), "Task { state: \"complete\" }");
}

/// CPython `test_no_stale_references`: the closure and its captures are
/// dropped once the task has run, while the handle is still held.
#[test]
fn closure_captures_dropped_after_run() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(1).unwrap();
        let captured = Arc::new(());
        let task = pool.submit({
            let captured = Arc::clone(&captured);
            move || drop(captured)
        });
        task.wait();
        assert_eq!(
            Arc::strong_count(&captured),
            1,
            "the closure outlived its run"
        );
        task.join().unwrap();
    });
}
