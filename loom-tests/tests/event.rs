//! loom models of `Event`: the set/wait handshake, set+clear against a
//! registered waiter, timed waits, async waiters and their drop.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p loom-tests --release`.
//! A lost wake-up shows up as a loom deadlock; every model also asserts what
//! each waiter returned.
#![cfg(loom)]

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering::SeqCst as StdSeqCst};
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use loom::sync::atomic::AtomicBool;
use loom::sync::atomic::Ordering::{Acquire, Release};
use loom::sync::Arc;
use loom::thread;
use stealpool::Event;

/// Runs `f` on `event` in a new loom thread.
fn spawn_on(event: &Arc<Event>, f: fn(&Event)) -> thread::JoinHandle<()> {
    let event = Arc::clone(event);
    thread::spawn(move || f(&event))
}

/// Waits (yielding to loom) until a waiter has registered on `event`.
fn until_waiting(event: &Event) {
    while !event.loom_has_waiters() {
        thread::yield_now();
    }
}

/// set vs wait: the waiter always returns, whatever the interleaving.
#[test]
fn set_vs_wait() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let waiter = spawn_on(&event, Event::wait);
        event.set();
        waiter.join().unwrap();
        assert!(event.is_set());
    });
}

/// set+clear vs a registered waiter: the waiter is still released.
#[test]
fn set_clear_vs_waiter() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let waiter = spawn_on(&event, Event::wait);
        until_waiting(&event);
        event.set();
        event.clear();
        waiter.join().unwrap();
        assert!(!event.is_set());
    });
}

/// set and clear race on two threads while a waiter is registered: the
/// clear may overtake the set's release; the waiter is released either way.
#[test]
fn clear_overtakes_set() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let waiter = spawn_on(&event, Event::wait);
        until_waiting(&event);
        let clearer = spawn_on(&event, Event::clear);
        event.set();
        clearer.join().unwrap();
        waiter.join().unwrap();
    });
}

/// wait_timeout vs set: loom has no clock, so a timed wait may "expire" at
/// any point. A waiter that starts after the set returns true; whatever the
/// outcome, the event stays consistent for later waits.
#[test]
fn wait_timeout_vs_set() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let set_done = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (event, set_done) = (Arc::clone(&event), Arc::clone(&set_done));
            thread::spawn(move || {
                let set_before = set_done.load(Acquire);
                let released = event.wait_timeout(Duration::from_secs(1));
                if set_before {
                    assert!(released, "set happened before the wait began");
                }
                released
            })
        };
        event.set();
        set_done.store(true, Release);
        let _ = waiter.join().unwrap();
        // Stale waiter bits, if any, must not break the next rounds.
        assert!(event.wait_timeout(Duration::from_secs(1)));
        event.clear();
        assert!(!event.wait_timeout(Duration::ZERO));
        event.set();
        event.wait();
    });
}

/// Two blocking waiters, one setter: both are released.
#[test]
fn two_waiters_one_setter() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let waiters: Vec<_> = (0..2).map(|_| spawn_on(&event, Event::wait)).collect();
        event.set();
        for waiter in waiters {
            waiter.join().unwrap();
        }
    });
}

/// An async waiter and a blocking waiter, one setter: both are released.
#[test]
fn async_and_blocking_waiters_one_set() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let blocking = spawn_on(&event, Event::wait);
        let asynchronous = spawn_on(&event, |e| loom::future::block_on(e.wait_async()));
        event.set();
        blocking.join().unwrap();
        asynchronous.join().unwrap();
    });
}

/// A registered async waiter is released by set+clear.
#[test]
fn async_set_clear() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let waiter = spawn_on(&event, |e| loom::future::block_on(e.wait_async()));
        until_waiting(&event);
        event.set();
        event.clear();
        waiter.join().unwrap();
    });
}

struct Counter(StdAtomicUsize);

impl Wake for Counter {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, StdSeqCst);
    }
}

/// An async waiter polled once and then dropped, racing a set: nothing is
/// leaked (the event keeps no clone of the waker) and the waker is woken at
/// most once.
#[test]
fn async_waiter_vs_set_vs_drop() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let counter = std::sync::Arc::new(Counter(StdAtomicUsize::new(0)));
        let waker = Waker::from(std::sync::Arc::clone(&counter));
        let waiter = {
            let event = Arc::clone(&event);
            thread::spawn(move || {
                let mut cx = Context::from_waker(&waker);
                let mut wait = pin!(event.wait_async());
                let _ = wait.as_mut().poll(&mut cx);
                // Dropped here, pending or not.
            })
        };
        event.set();
        waiter.join().unwrap();
        assert!(counter.0.load(StdSeqCst) <= 1);
        assert_eq!(
            std::sync::Arc::strong_count(&counter),
            1,
            "the event still holds the dropped future's waker"
        );
    });
}
