//! Tests that need the Event's internals: they wait for a waiter to reach a
//! given phase (spinning, parked, registered) by watching the state word.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use super::Event;
use crate::sync::futex;

/// Spins until `cond` holds; panics after `limit` (a hang is a failure).
fn await_cond(limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "condition not reached in {limit:?}"
        );
        std::hint::spin_loop();
    }
}

const LIMIT: Duration = Duration::from_secs(20);

/// A `set` immediately followed by `clear` releases a waiter caught in any
/// phase after it registered: while spinning or while asleep.
#[test]
fn set_and_clear_release_a_registered_waiter() {
    let rounds = if cfg!(miri) { 4 } else { 300 };
    for round in 0..rounds {
        let event = Arc::new(Event::new());
        let waiter = {
            let event = Arc::clone(&event);
            thread::spawn(move || event.wait_timeout(LIMIT))
        };
        await_cond(LIMIT, || event.state.load().has_waiters());
        if round % 3 == 0 {
            // Also cover a waiter that is already asleep.
            await_cond(LIMIT, || event.state.load().has_parked());
        }
        event.set();
        event.clear();
        assert!(waiter.join().unwrap(), "round {round}: the set was lost");
    }
}

/// Futex wake-ups without a `set` (spurious, or another word hashed to the
/// same place) never release a waiter.
#[test]
fn spurious_wakeups_are_absorbed() {
    let event = Arc::new(Event::new());
    let returned = Arc::new(AtomicBool::new(false));
    let waiter = {
        let (event, returned) = (Arc::clone(&event), Arc::clone(&returned));
        thread::spawn(move || {
            // Bounded, so a bug fails the test instead of hanging it.
            let released = event.wait_timeout(LIMIT);
            returned.store(true, SeqCst);
            released
        })
    };
    await_cond(LIMIT, || event.state.load().has_parked());
    for _ in 0..if cfg!(miri) { 3 } else { 50 } {
        futex::wake_all(event.state.futex_word());
        thread::sleep(Duration::from_micros(200));
    }
    // A change of the word that is not a release wakes the sleeper too.
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    let waker = Waker::from(Arc::new(Noop));
    {
        let mut fut = Box::pin(event.wait_async());
        assert!(fut
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        futex::wake_all(event.state.futex_word());
        thread::sleep(Duration::from_millis(5));
    }
    assert!(
        !returned.load(SeqCst),
        "a spurious wake-up reached the caller"
    );
    event.set();
    assert!(waiter.join().unwrap(), "the set did not release the waiter");
}

/// Dropping the last registered future empties the list and drops the
/// `ASYNC` bit, so the next `set` takes the fast path.
#[test]
fn dropping_futures_unregisters() {
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    let waker = Waker::from(Arc::new(Noop));
    let event = Event::new();
    let mut a = Box::pin(event.wait_async());
    let mut b = Box::pin(event.wait_async());
    assert!(a
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    assert!(b
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    assert!(event.state.load().has_async());
    drop(a);
    assert!(event.state.load().has_async(), "b is still registered");
    drop(b);
    assert!(event.waiters.lock().is_empty());
    assert!(!event.state.load().has_async());
}

/// A timed-out waiter leaves at most a stale bit, which the next `set`
/// clears; the event keeps working.
#[test]
fn timed_out_waiter_leaves_event_usable() {
    let event = Event::new();
    assert!(!event.wait_timeout(Duration::from_millis(5)));
    assert!(
        event.state.load().has_waiters(),
        "the timed-out waiter's bit lingers"
    );
    event.set();
    assert!(!event.state.load().has_waiters(), "set clears it");
    assert!(event.is_set());
    event.clear();
    assert!(!event.wait_timeout(Duration::from_micros(1)));
}
