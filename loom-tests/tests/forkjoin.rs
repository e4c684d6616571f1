//! loom models of fork-join and of waiting inside a pool, on the real pool
//! with two workers (or two one-worker pools): a `join` whose second half is
//! promoted and stolen, a scope whose jobs are stolen, a scope whose owner
//! is outside the pool (`in_place_scope`), a joiner asleep when
//! new work arrives from outside, and a worker waiting on another pool.
//!
//! Invariants: both halves and every scope job run exactly once and their
//! effects are visible when `join`/`scope` returns; nothing deadlocks (a lost
//! wake-up is a loom deadlock); the sleep counters never wrap (checked inside
//! the scheduler); a latch setter never touches the latch after it published
//! the set (checked by the latch's loom-only `retire`).
#![cfg(loom)]

use loom::sync::atomic::AtomicUsize;
use loom::sync::atomic::Ordering::SeqCst;
use loom::sync::Arc;
use loom::thread;
use stealpool::{loom_hooks, Event, ThreadPool};

/// These models run whole two-worker pools (start-up, sleep/wake, shutdown
/// included): at most `cap` preemptions (see `loom_tests::check`).
fn model(cap: usize, f: impl Fn() + Sync + Send + 'static) {
    loom_tests::check(cap, f);
}

/// join on a two-worker pool: `b` runs inline, or is promoted (the idle
/// worker asked) and then popped back or stolen; both results arrive, and
/// `b`'s effects are visible once `join` returns.
/// Kills: unwaited-b, late-owner-read.
#[test]
fn join_stolen() {
    model(2, || {
        let pool = ThreadPool::new(2).unwrap();
        let b_ran = AtomicUsize::new(0);
        let (a, b) = pool.join(
            || 1_u8,
            || {
                b_ran.fetch_add(1, SeqCst);
                2_u8
            },
        );
        assert_eq!((a, b), (1, 2));
        assert_eq!(b_ran.load(SeqCst), 1);
        drop(pool);
    });
}

/// A scope with two spawned jobs on a two-worker pool: both ran exactly once
/// before `scope` returned, wherever they ran. Kills: scope-early-return.
#[test]
fn scope_jobs_stolen() {
    model(2, || {
        let pool = ThreadPool::new(2).unwrap();
        let ran = AtomicUsize::new(0);
        pool.scope(|s| {
            s.spawn(|| {
                ran.fetch_add(1, SeqCst);
            });
            s.spawn(|| {
                ran.fetch_add(1, SeqCst);
            });
        });
        assert_eq!(ran.load(SeqCst), 2);
        drop(pool);
    });
}

/// `in_place_scope` called off the pools (issue 12): the owner is no
/// worker, so it sleeps on its own latch while the two workers run the
/// spawns; both ran, and their effects are visible, when it returns.
/// Kills: outside-scope-early-return.
#[test]
fn in_place_scope_outside_the_pool() {
    model(2, || {
        let pool = ThreadPool::new(2).unwrap();
        let ran = AtomicUsize::new(0);
        loom_hooks::in_place_scope_on(&pool, |s| {
            s.spawn(|| {
                ran.fetch_add(1, SeqCst);
            });
            s.spawn(|| {
                ran.fetch_add(1, SeqCst);
            });
        });
        assert_eq!(
            ran.load(SeqCst),
            2,
            "every spawn ran before the scope returned"
        );
        drop(pool);
    });
}

/// A worker waiting in `join` for its stolen half must wake for work pushed
/// from outside meanwhile: `b` waits for an event that only a job spawned by
/// an outside thread sets. If `b` runs on the other worker, the joiner is the
/// only one free to run that job. (Issue 9, failure 5.)
#[test]
fn joiner_wakes_for_outside_work() {
    model(1, || {
        let pool = Arc::new(ThreadPool::new(2).unwrap());
        let go = Arc::new(Event::new());
        let outside = {
            let (pool, go) = (Arc::clone(&pool), Arc::clone(&go));
            thread::spawn(move || pool.spawn(move || go.set()))
        };
        pool.join(|| (), || go.wait());
        outside.join().unwrap();
    });
}

/// Waiting on another pool never starves one's own: a one-worker pool A
/// installs into a one-worker pool B, whose job installs back into A
/// (rayon's `mutual_install`). A's worker, waiting on B, runs A's job.
/// (Issue 9, failure 7.)
#[test]
fn cross_pool_install() {
    model(1, || {
        let a = ThreadPool::new(1).unwrap();
        let b = ThreadPool::new(1).unwrap();
        let value = a.install(|| b.install(|| a.install(|| 42_u8)));
        assert_eq!(value, 42);
        drop(b);
        drop(a);
    });
}

/// `shutdown` called from a stolen `join` half while its owner waits for
/// it: the call returns without waiting for the owner, which then finishes.
/// (Issue 9, failure 9.)
#[test]
fn shutdown_from_a_stolen_half() {
    model(1, || {
        let pool = ThreadPool::new(2).unwrap();
        let (a, b) = pool.join(
            || 1_u8,
            || {
                pool.shutdown();
                2_u8
            },
        );
        assert_eq!((a, b), (1, 2));
        drop(pool);
    });
}
