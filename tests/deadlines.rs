//! Fail-fast and deadlines over many tasks (issue 12): `AsCompleted::
//! cancel_pending`, `AsCompleted::deadline`, `Map::deadline`, and what
//! dropping each iterator does.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{with_timeout, LIMIT};
use stealpool::{as_completed, Event, Task, ThreadPool};

/// A task that finishes only when `gate` is set, counting itself in `ran`.
fn gated(pool: &ThreadPool, gate: &Arc<Event>, ran: &Arc<AtomicUsize>) -> Task<u32> {
    let (gate, ran) = (Arc::clone(gate), Arc::clone(ran));
    pool.submit(move || {
        ran.fetch_add(1, Ordering::SeqCst);
        gate.wait();
        1
    })
}

/// The scenario: 6 000 queued tasks, the first one fails. After
/// `cancel_pending` on the first error, the rest never run: they are
/// yielded at once as cancelled, and `shutdown` returns without running
/// them.
#[test]
fn fail_fast_cancels_what_has_not_started() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(2).unwrap();
        let gate = Arc::new(Event::new());
        let ran = Arc::new(AtomicUsize::new(0));
        let mut tasks = vec![pool.submit(|| -> u32 { panic!("the first file is missing") })];
        tasks.extend((0..6_000).map(|_| gated(&pool, &gate, &ran)));
        let mut outcomes = as_completed(tasks);
        let (index, first) = outcomes.next().unwrap();
        assert_eq!(index, 0);
        assert!(first.unwrap_err().is_panic());
        let cancelled = outcomes.cancel_pending();
        // Two workers: at most two tasks started (each waits on the gate).
        assert!(cancelled >= 6_000 - 2, "{cancelled}");
        assert_eq!(outcomes.cancel_pending(), 0, "nothing left to cancel");
        gate.set();
        let mut counts = (0, 0);
        for (_, outcome) in outcomes {
            match outcome {
                Ok(_) => counts.0 += 1,
                Err(err) => {
                    assert!(err.is_cancelled(), "{err:?}");
                    counts.1 += 1;
                }
            }
        }
        assert_eq!(counts.0 + counts.1, 6_000);
        assert_eq!(counts.1, cancelled);
        pool.shutdown();
        assert_eq!(ran.load(Ordering::SeqCst), counts.0);
        assert!(counts.0 <= 2, "{counts:?}");
    });
}

/// Past the deadline, every task not yet done is yielded at once, in input
/// order, with a timeout error, and left running (detached).
#[test]
fn as_completed_deadline_yields_timeouts_and_detaches() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(2).unwrap();
        let gate = Arc::new(Event::new());
        let ran = Arc::new(AtomicUsize::new(0));
        let tasks = vec![
            gated(&pool, &gate, &ran),
            pool.submit(|| 2),
            gated(&pool, &gate, &ran),
        ];
        let started = Instant::now();
        let at = started + Duration::from_millis(150);
        let outcomes: Vec<_> = as_completed(tasks).deadline(at).collect();
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(150), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
        assert_eq!(outcomes[0].0, 1);
        assert_eq!(*outcomes[0].1.as_ref().unwrap(), 2);
        let late: Vec<usize> = outcomes[1..].iter().map(|(i, _)| *i).collect();
        assert_eq!(late, [0, 2], "input order");
        for (_, outcome) in &outcomes[1..] {
            let err = outcome.as_ref().unwrap_err();
            assert!(err.is_timeout() && !err.is_cancelled(), "{err:?}");
            assert!(err.to_string().contains("deadline"), "{err}");
        }
        // Left running: both gated tasks run to the end once released.
        gate.set();
        pool.shutdown();
        assert_eq!(ran.load(Ordering::SeqCst), 2);
    });
}

/// A deadline already past still yields what is done first, then times out
/// the rest at once; a deadline never reached changes nothing.
#[test]
fn as_completed_deadline_edges() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(1).unwrap();
        let done = pool.submit(|| 7);
        done.wait();
        let gate = Arc::new(Event::new());
        let ran = Arc::new(AtomicUsize::new(0));
        let tasks = vec![gated(&pool, &gate, &ran), done];
        let outcomes: Vec<_> = as_completed(tasks).deadline(Instant::now()).collect();
        assert_eq!(outcomes.len(), 2);
        assert_eq!(outcomes[0].0, 1);
        assert_eq!(*outcomes[0].1.as_ref().unwrap(), 7);
        assert!(outcomes[1].1.as_ref().unwrap_err().is_timeout());
        gate.set();

        let far = Instant::now() + Duration::from_secs(3600);
        let tasks: Vec<_> = (0..10).map(|i| pool.submit(move || i)).collect();
        let mut values: Vec<i32> = as_completed(tasks)
            .deadline(far)
            .map(|(_, r)| r.unwrap())
            .collect();
        values.sort_unstable();
        assert_eq!(values, (0..10).collect::<Vec<_>>());
    });
}

/// `cancel_pending` then the deadline: the cancelled ones come as
/// cancelled (they are done), not as timeouts.
#[test]
fn cancelled_tasks_are_not_timeouts() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(1).unwrap();
        let gate = Arc::new(Event::new());
        let ran = Arc::new(AtomicUsize::new(0));
        let busy = gated(&pool, &gate, &ran);
        while ran.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        let mut outcomes = as_completed(vec![busy, pool.submit(|| 1), pool.submit(|| 2)])
            .deadline(Instant::now() + Duration::from_millis(50));
        assert_eq!(outcomes.cancel_pending(), 2);
        let mut kinds: Vec<(usize, bool)> = outcomes
            .map(|(i, r)| (i, r.unwrap_err().is_timeout()))
            .collect();
        kinds.sort_unstable();
        assert_eq!(kinds, [(0, true), (1, false), (2, false)]);
        gate.set();
    });
}

/// Dropping an `AsCompleted` detaches the tasks it has not yielded (they
/// run), while dropping a `Map` cancels its items that have not started.
#[test]
fn dropping_as_completed_detaches_and_dropping_map_cancels() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(1).unwrap();
        let gate = Arc::new(Event::new());
        let ran = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..5).map(|_| gated(&pool, &gate, &ran)).collect();
        drop(as_completed(tasks));
        gate.set();
        pool.shutdown();
        assert_eq!(ran.load(Ordering::SeqCst), 5, "detached tasks run");

        let pool = ThreadPool::new(1).unwrap();
        let gate = Arc::new(Event::new());
        let ran = Arc::new(AtomicUsize::new(0));
        let (g, r) = (Arc::clone(&gate), Arc::clone(&ran));
        let map = pool.map(0..5, move |_| {
            r.fetch_add(1, Ordering::SeqCst);
            g.wait();
        });
        while ran.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        drop(map);
        gate.set();
        pool.shutdown();
        assert_eq!(ran.load(Ordering::SeqCst), 1, "only the started item ran");
    });
}

/// `Map::deadline`: items done in time yield their values; past the
/// deadline, an item not done yields a timeout error: cancelled if it had
/// not started, left running if it had.
#[test]
fn map_deadline() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(1).unwrap();
        let gate = Arc::new(Event::new());
        let ran = Arc::new(AtomicUsize::new(0));
        let (g, r) = (Arc::clone(&gate), Arc::clone(&ran));
        let started = Instant::now();
        let out: Vec<_> = pool
            .map(0..4_u32, move |i| {
                r.fetch_add(1, Ordering::SeqCst);
                if i == 1 {
                    g.wait();
                }
                i
            })
            .deadline(started + Duration::from_millis(100))
            .collect();
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert_eq!(*out[0].as_ref().unwrap(), 0);
        for item in &out[1..] {
            assert!(item.as_ref().unwrap_err().is_timeout(), "{item:?}");
        }
        gate.set();
        pool.shutdown();
        // Item 1 was running (left to finish); items 2 and 3 were
        // cancelled before they started.
        assert_eq!(ran.load(Ordering::SeqCst), 2);
    });
}
