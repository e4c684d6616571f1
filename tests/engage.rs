//! Parallelism that always engages: a `join` on a pool with an idle worker
//! gets its second half taken by that worker, whatever the idle worker was
//! doing when the `join` began (still starting, spinning, asleep with an ask
//! that was already answered).
//!
//! No timing: `a` waits (with a long deadline) until `b` has started, which
//! it can only do on another thread while `a` is still running. A `b` that
//! never moves makes `a` give up at the deadline, and the test fails with the
//! reason; it does not hang.

mod common;

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use common::{with_timeout, LIMIT};
use stealpool::ThreadPool;

/// How long `a` waits for `b` to start elsewhere before it gives up.
const PATIENCE: Duration = Duration::from_secs(10);

/// What each half reports: `a` its thread and whether `b` had started
/// meanwhile, `b` its thread.
type Seen = ((ThreadId, bool), ThreadId);
/// The halves, as `join`'s closures borrow them.
type HalfA<'a> = &'a (dyn Fn() -> (ThreadId, bool) + Sync);
type HalfB<'a> = &'a (dyn Fn() -> ThreadId + Sync);

/// `join(a, b)` where `a` returns once `b` has started (or at the
/// deadline).
fn join_that_needs_both(join: impl FnOnce(HalfA<'_>, HalfB<'_>) -> Seen) -> Seen {
    let b_started = AtomicBool::new(false);
    let a = || {
        let deadline = Instant::now() + PATIENCE;
        while !b_started.load(SeqCst) && Instant::now() < deadline {
            std::hint::spin_loop();
        }
        (thread::current().id(), b_started.load(SeqCst))
    };
    let b = || {
        b_started.store(true, SeqCst);
        thread::current().id()
    };
    join(&a, &b)
}

fn assert_moved(((a_thread, b_ran_meanwhile), b_thread): Seen, case: &str) {
    assert!(
        b_ran_meanwhile,
        "{case}: `b` did not start while `a` ran: the idle worker never took it"
    );
    assert_ne!(a_thread, b_thread, "{case}: both halves ran on one thread");
}

/// rayon's `join_context` test, from a fresh pool: the second worker may not
/// even have started when the `join` begins.
#[test]
fn b_moves_to_the_idle_worker_of_a_fresh_pool() {
    with_timeout(LIMIT * 2, || {
        for round in 0..20 {
            let pool = ThreadPool::new(2).unwrap();
            let seen = join_that_needs_both(|a, b| pool.install(|| stealpool::join(a, b)));
            assert_moved(seen, &format!("fresh pool, round {round}"));
        }
    });
}

/// The second worker is asleep (its idle spin is long over) when the
/// `join` begins.
#[test]
fn b_moves_to_a_sleeping_worker() {
    with_timeout(LIMIT * 2, || {
        let pool = ThreadPool::new(2).unwrap();
        for round in 0..10 {
            thread::sleep(Duration::from_millis(5));
            let seen = join_that_needs_both(|a, b| pool.join(a, b));
            assert_moved(seen, &format!("sleeping sibling, round {round}"));
        }
    });
}

/// A second `join` right after a first one that shared nothing.
#[test]
fn b_moves_on_a_second_join() {
    with_timeout(LIMIT * 2, || {
        let pool = ThreadPool::new(2).unwrap();
        pool.install(|| {
            let (x, y) = stealpool::join(|| 1, || 2);
            assert_eq!(x + y, 3);
            let seen = join_that_needs_both(|a, b| stealpool::join(a, b));
            assert_moved(seen, "second join");
        });
    });
}

/// The first `join` inside a half that was stolen (or popped back by its
/// owner) engages too: the worker running that half has nothing in its
/// deque, so its first `b` is shared at once.
#[test]
fn a_join_inside_a_stolen_half_engages() {
    with_timeout(LIMIT * 2, || {
        let pool = ThreadPool::new(2).unwrap();
        for round in 0..10 {
            let ((), seen) = pool.install(|| {
                stealpool::join(|| (), || join_that_needs_both(|a, b| stealpool::join(a, b)))
            });
            assert_moved(seen, &format!("join inside the outer b, round {round}"));
        }
    });
}

/// After a sibling stole this worker's shared half, the worker's next `join`
/// shares again at once, though nobody asks: the sibling is busy with what
/// it stole when that `join` begins, and becomes idle only while the owner
/// is inside its long `a`, which never joins again. (The steal itself tells
/// the owner that its deque may be empty.)
#[test]
fn the_join_after_a_steal_shares_again() {
    with_timeout(LIMIT * 2, || {
        let pool = ThreadPool::new(2).unwrap();
        for round in 0..10 {
            let b1_started = AtomicBool::new(false);
            let b2_deferred = AtomicBool::new(false);
            let (seen, ()) = pool.install(|| {
                stealpool::join(
                    || {
                        // The sibling has stolen `b1` (it runs there).
                        let deadline = Instant::now() + PATIENCE;
                        while !b1_started.load(SeqCst) && Instant::now() < deadline {
                            std::hint::spin_loop();
                        }
                        assert!(b1_started.load(SeqCst), "b1 never moved");
                        join_that_needs_both(|a, b| {
                            stealpool::join(
                                || {
                                    // `b2` is deferred now: let `b1` finish.
                                    b2_deferred.store(true, SeqCst);
                                    a()
                                },
                                b,
                            )
                        })
                    },
                    || {
                        b1_started.store(true, SeqCst);
                        let deadline = Instant::now() + PATIENCE;
                        while !b2_deferred.load(SeqCst) && Instant::now() < deadline {
                            std::hint::spin_loop();
                        }
                    },
                )
            });
            assert_moved(seen, &format!("the join after a steal, round {round}"));
        }
    });
}
