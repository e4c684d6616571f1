//! loom models of fork-join: the join latch (b may be stolen while a runs;
//! the caller never returns before b finished) and the scope's completion
//! counter and wake-up (every spawned job finished before `scope` returns).
#![cfg(loom)]

use loom::sync::atomic::AtomicUsize;
use loom::sync::atomic::Ordering::SeqCst;
use stealpool::ThreadPool;

/// These models run a whole two-worker pool (start-up, sleep/wake, shutdown
/// included), so they are bounded at one preemption whatever
/// `LOOM_MAX_PREEMPTIONS` says (two takes about five minutes here); the
/// latch itself is modelled exhaustively in `latch.rs`.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(1);
    builder.check(f);
}

/// join on a two-worker pool: `b` runs inline or on the thief; both results
/// arrive, and `b`'s effects are visible once `join` returns.
#[test]
fn join_latch() {
    model(|| {
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
/// before `scope` returned.
#[test]
fn scope_counter() {
    model(|| {
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
