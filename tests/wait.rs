//! `wait` and `as_completed`: CPython's `test_wait.py` and
//! `test_as_completed.py`, with cancelled tasks counting as done.

mod common;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{with_timeout, LIMIT};
use stealpool::{as_completed, wait, Event, Task, ThreadPool, WaitFor};

/// A task that finishes only when `gate` is set.
fn gated(pool: &ThreadPool, gate: &Arc<Event>, value: u32) -> Task<u32> {
    let gate = Arc::clone(gate);
    pool.submit(move || {
        gate.wait();
        value
    })
}

#[test]
fn empty_returns_at_once() {
    let result = wait::<u8>(&[], WaitFor::AllCompleted, None);
    assert!(result.done.is_empty() && result.pending.is_empty());
    assert_eq!(as_completed(Vec::<Task<u8>>::new()).count(), 0);
}

#[test]
fn first_completed() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(2).unwrap();
        let gate = Arc::new(Event::new());
        let tasks = vec![gated(&pool, &gate, 1), pool.submit(|| 2)];
        let result = wait(&tasks, WaitFor::FirstCompleted, None);
        assert_eq!(result.done, [1]);
        assert_eq!(result.pending, [0]);
        gate.set();
    });
}

#[test]
fn first_completed_already_done_returns_at_once() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(1).unwrap();
        let gate = Arc::new(Event::new());
        let done = pool.submit(|| 0);
        done.wait();
        let tasks = vec![done, gated(&pool, &gate, 1)];
        let start = Instant::now();
        let result = wait(
            &tasks,
            WaitFor::FirstCompleted,
            Some(Duration::from_secs(10)),
        );
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!((result.done, result.pending), (vec![0], vec![1]));
        gate.set();
    });
}

#[test]
fn cancelled_counts_as_done_at_once() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(1).unwrap();
        let gate = Arc::new(Event::new());
        let running = gated(&pool, &gate, 0);
        let queued = pool.submit(|| 1);
        assert!(queued.cancel());
        let tasks = vec![running, queued];
        let result = wait(
            &tasks,
            WaitFor::FirstCompleted,
            Some(Duration::from_secs(10)),
        );
        assert_eq!((result.done, result.pending), (vec![1], vec![0]));
        gate.set();
    });
}

#[test]
fn first_panic() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(2).unwrap();
        let gate = Arc::new(Event::new());
        let tasks = vec![
            pool.submit(|| 0),
            gated(&pool, &gate, 1),
            pool.submit(|| {
                thread::sleep(Duration::from_millis(30));
                panic!("fails")
            }),
        ];
        let result = wait(&tasks, WaitFor::FirstPanic, Some(Duration::from_secs(20)));
        assert_eq!(result.done, [0, 2]);
        assert_eq!(result.pending, [1]);
        gate.set();
        // No panic at all: like AllCompleted.
        let tasks: Vec<_> = (0..5).map(|i| pool.submit(move || i)).collect();
        let result = wait(&tasks, WaitFor::FirstPanic, None);
        assert_eq!(result.done, [0, 1, 2, 3, 4]);
        assert!(result.pending.is_empty());
    });
}

#[test]
fn first_panic_already_failed_returns_at_once() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(1).unwrap();
        let gate = Arc::new(Event::new());
        let failed = pool.submit(|| -> u32 { panic!("early") });
        failed.wait();
        let tasks = vec![failed, gated(&pool, &gate, 1)];
        let result = wait(&tasks, WaitFor::FirstPanic, None);
        assert_eq!((result.done, result.pending), (vec![0], vec![1]));
        gate.set();
    });
}

#[test]
fn all_completed_and_timeout() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(2).unwrap();
        let gate = Arc::new(Event::new());
        let tasks = vec![pool.submit(|| 0), gated(&pool, &gate, 1), pool.submit(|| 2)];
        let start = Instant::now();
        let result = wait(
            &tasks,
            WaitFor::AllCompleted,
            Some(Duration::from_millis(50)),
        );
        assert!(start.elapsed() >= Duration::from_millis(50));
        assert_eq!((result.done, result.pending), (vec![0, 2], vec![1]));
        gate.set();
        let result = wait(&tasks, WaitFor::AllCompleted, None);
        assert_eq!(result.done, [0, 1, 2]);
    });
}

#[test]
fn hundred_released_at_once_never_hang() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(2).unwrap();
        let gate = Arc::new(Event::new());
        let tasks: Vec<_> = (0..100).map(|i| gated(&pool, &gate, i)).collect();
        let setter = {
            let gate = Arc::clone(&gate);
            thread::spawn(move || gate.set())
        };
        let result = wait(&tasks, WaitFor::AllCompleted, None);
        assert_eq!(result.done.len(), 100);
        setter.join().unwrap();
    });
}

#[test]
fn shutdown_now_cancelled_tasks_count_as_done() {
    with_timeout(LIMIT, || {
        let pool = Arc::new(ThreadPool::new(1).unwrap());
        let gate = Arc::new(Event::new());
        let mut tasks = vec![gated(&pool, &gate, 0)];
        tasks.extend((1..10).map(|i| pool.submit(move || i)));
        let shutter = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || pool.shutdown_now())
        };
        thread::sleep(Duration::from_millis(30));
        let result = wait(
            &tasks[1..],
            WaitFor::AllCompleted,
            Some(Duration::from_secs(10)),
        );
        assert_eq!(result.done.len(), 9, "cancelled by shutdown_now: done");
        gate.set();
        shutter.join().unwrap();
        // ...and as_completed yields them.
        assert_eq!(as_completed(tasks).count(), 10);
    });
}

#[test]
fn wait_on_a_worker_runs_pending_tasks_inline() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(1).unwrap();
        let result = pool.install(|| {
            let tasks: Vec<_> = (0..5).map(|i| stealpool::submit(move || i)).collect();
            wait(&tasks, WaitFor::AllCompleted, None)
        });
        assert_eq!(result.done.len(), 5);
        let order = pool.install(|| {
            let tasks: Vec<_> = (0..5).map(|i| stealpool::submit(move || i)).collect();
            let mut seen: Vec<usize> = as_completed(tasks)
                .map(|(i, r)| {
                    assert_eq!(r.unwrap(), i);
                    i
                })
                .collect();
            seen.sort_unstable();
            seen
        });
        assert_eq!(order, [0, 1, 2, 3, 4]);
    });
}

#[test]
fn as_completed_in_completion_order_each_once() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(3).unwrap();
        let done = pool.submit(|| 100);
        done.wait();
        // Task 0 finishes last: it waits until the consumer has been handed
        // both 2 and 3, however slow a panic is to unwind. (Gating on their
        // own `on_done` callbacks would race: a callback registered before
        // `as_completed`'s runs first, so 0 could finish in between.)
        let gate = Arc::new(Event::new());
        let mut tasks = vec![
            pool.submit({
                let gate = Arc::clone(&gate);
                move || {
                    gate.wait();
                    0
                }
            }),
            done,
            pool.submit(|| {
                thread::sleep(Duration::from_millis(20));
                2
            }),
        ];
        tasks.push(pool.submit(|| -> u32 { panic!("three") }));
        let mut seen: Vec<usize> = Vec::new();
        let mut iter = as_completed(tasks);
        assert_eq!(iter.len(), 4);
        let (first, outcome) = iter.next().unwrap();
        assert_eq!(
            (first, outcome.unwrap()),
            (1, 100),
            "already-done tasks first"
        );
        seen.push(first);
        for (index, outcome) in iter {
            match index {
                3 => assert!(outcome.unwrap_err().is_panic()),
                i => assert_eq!(outcome.unwrap() as usize, i),
            }
            seen.push(index);
            if seen.contains(&2) && seen.contains(&3) {
                gate.set();
            }
        }
        assert_eq!(seen[3], 0, "the slowest comes last: {seen:?}");
        seen.sort_unstable();
        assert_eq!(seen, [0, 1, 2, 3]);
    });
}
