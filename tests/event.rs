//! Event behaviour: Python's `threading.Event` tests (CPython `lock_tests.py`
//! `EventTests`) and the crate's own guarantees. Every blocking test runs
//! under a timeout guard.

mod common;

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use common::{block_on, counting_waker, with_timeout, LIMIT};
use stealpool::Event;

fn assert_traits<T: Send + Sync + Default + std::fmt::Debug + Unpin>() {}
fn assert_send<T: Send>(_: &T) {}

#[test]
fn auto_traits() {
    assert_traits::<Event>();
    let event = Event::new();
    assert_send(&event.wait_async());
}

#[test]
fn is_set() {
    let event = Event::new();
    assert!(!event.is_set());
    event.set();
    assert!(event.is_set());
    event.set();
    assert!(event.is_set());
    event.clear();
    assert!(!event.is_set());
    event.clear();
    assert!(!event.is_set());
}

#[test]
fn default_is_unset() {
    assert!(!Event::default().is_set());
}

#[test]
fn debug_shows_flag() {
    let event = Event::new();
    assert_eq!(format!("{event:?}"), "Event(unset)");
    event.set();
    assert_eq!(format!("{event:?}"), "Event(set)");
}

#[test]
fn usable_in_a_static() {
    static FLAG: Event = Event::new();
    with_timeout(LIMIT, || {
        let setter = thread::spawn(|| FLAG.set());
        FLAG.wait();
        setter.join().unwrap();
        assert!(FLAG.is_set());
    });
}

/// CPython `_check_notify`: N waiters wait twice each; none returns before
/// `set`; all return `true` (twice); then the same after a set+clear cycle.
fn check_notify(event: Arc<Event>) {
    const WAITERS: usize = 5;
    let returned = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(std::sync::Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..WAITERS)
        .map(|_| {
            let (event, returned, results) = (
                Arc::clone(&event),
                Arc::clone(&returned),
                Arc::clone(&results),
            );
            thread::spawn(move || {
                let first = event.wait_timeout(Duration::from_secs(20));
                let second = event.wait_timeout(Duration::from_secs(20));
                results.lock().unwrap().extend([first, second]);
                returned.fetch_add(1, SeqCst);
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(50));
    assert_eq!(returned.load(SeqCst), 0, "a waiter returned before set");
    event.set();
    for t in threads {
        t.join().unwrap();
    }
    let results = results.lock().unwrap();
    assert_eq!(results.len(), 2 * WAITERS);
    assert!(
        results.iter().all(|&r| r),
        "every wait returns true: {results:?}"
    );
}

#[test]
fn notify() {
    with_timeout(LIMIT, || {
        let event = Arc::new(Event::new());
        check_notify(Arc::clone(&event));
        event.set();
        event.clear();
        check_notify(event);
    });
}

#[test]
fn timeout() {
    with_timeout(LIMIT, || {
        let event = Event::new();
        let start = Instant::now();
        assert!(!event.wait_timeout(Duration::ZERO));
        assert!(
            start.elapsed() < Duration::from_millis(100),
            "a zero timeout sleeps"
        );

        let start = Instant::now();
        assert!(!event.wait_timeout(Duration::from_millis(50)));
        assert!(
            start.elapsed() >= Duration::from_millis(50),
            "returned early"
        );

        event.set();
        assert!(event.wait_timeout(Duration::ZERO));
        assert!(event.wait_timeout(Duration::from_millis(50)));
    });
}

#[test]
fn timeout_is_repeatable_and_wait_still_works_after_it() {
    with_timeout(LIMIT, || {
        let event = Arc::new(Event::new());
        for _ in 0..3 {
            assert!(!event.wait_timeout(Duration::from_millis(5)));
        }
        let setter = {
            let event = Arc::clone(&event);
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(20));
                event.set();
            })
        };
        event.wait();
        setter.join().unwrap();
    });
}

#[test]
fn huge_timeouts_do_not_overflow() {
    with_timeout(LIMIT, || {
        for timeout in [
            Duration::MAX,
            Duration::from_secs(u64::MAX),
            Duration::from_secs(i64::MAX as u64),
            Duration::from_secs(1 << 40),
        ] {
            let event = Arc::new(Event::new());
            let setter = {
                let event = Arc::clone(&event);
                thread::spawn(move || {
                    thread::sleep(Duration::from_millis(10));
                    event.set();
                })
            };
            assert!(event.wait_timeout(timeout), "{timeout:?}");
            setter.join().unwrap();
        }
    });
}

/// CPython `test_set_and_clear` (gh-57711): waiters blocked when `set` and
/// `clear` run back to back still return `true`.
#[test]
fn set_and_clear() {
    with_timeout(LIMIT, || {
        const WAITERS: usize = 5;
        let event = Arc::new(Event::new());
        let results = Arc::new(std::sync::Mutex::new(Vec::new()));
        let threads: Vec<_> = (0..WAITERS)
            .map(|i| {
                let (event, results) = (Arc::clone(&event), Arc::clone(&results));
                thread::spawn(move || {
                    let released = if i % 2 == 0 {
                        event.wait_timeout(Duration::from_secs(20))
                    } else {
                        event.wait();
                        true
                    };
                    results.lock().unwrap().push(released);
                })
            })
            .collect();
        // Long enough for every waiter to be past its spin and asleep.
        thread::sleep(Duration::from_millis(100));
        event.set();
        event.clear();
        for t in threads {
            t.join().unwrap();
        }
        let results = results.lock().unwrap();
        assert_eq!(*results, vec![true; WAITERS]);
        assert!(!event.is_set());
    });
}

#[test]
fn wait_returns_at_once_when_set() {
    with_timeout(LIMIT, || {
        let event = Event::new();
        event.set();
        let start = Instant::now();
        for _ in 0..1_000 {
            event.wait();
            assert!(event.wait_timeout(Duration::from_secs(1)));
        }
        assert!(start.elapsed() < Duration::from_secs(1));
    });
}

#[test]
fn set_publishes_writes() {
    with_timeout(LIMIT, || {
        for _ in 0..200 {
            let event = Arc::new(Event::new());
            let data = Arc::new(AtomicUsize::new(0));
            let writer = {
                let (event, data) = (Arc::clone(&event), Arc::clone(&data));
                thread::spawn(move || {
                    data.store(42, std::sync::atomic::Ordering::Relaxed);
                    event.set();
                })
            };
            event.wait();
            assert_eq!(data.load(std::sync::atomic::Ordering::Relaxed), 42);
            writer.join().unwrap();
        }
    });
}

/// Two threads alternate through two events: any lost wake-up hangs.
#[test]
fn ping_pong() {
    with_timeout(LIMIT, || {
        const ROUNDS: usize = 20_000;
        let ping = Arc::new(Event::new());
        let pong = Arc::new(Event::new());
        let peer = {
            let (ping, pong) = (Arc::clone(&ping), Arc::clone(&pong));
            thread::spawn(move || {
                for _ in 0..ROUNDS {
                    ping.wait();
                    ping.clear();
                    pong.set();
                }
            })
        };
        for _ in 0..ROUNDS {
            ping.set();
            pong.wait();
            pong.clear();
        }
        peer.join().unwrap();
    });
}

/// Many threads setting, clearing and waiting on one event at once.
#[test]
fn stampede() {
    with_timeout(LIMIT, || {
        const THREADS: usize = 6;
        const ROUNDS: usize = 2_000;
        let event = Arc::new(Event::new());
        let stop = Arc::new(AtomicBool::new(false));
        let toggler = {
            let (event, stop) = (Arc::clone(&event), Arc::clone(&stop));
            thread::spawn(move || {
                while !stop.load(SeqCst) {
                    event.set();
                    event.clear();
                }
                event.set();
            })
        };
        let waiters: Vec<_> = (0..THREADS)
            .map(|i| {
                let event = Arc::clone(&event);
                thread::spawn(move || {
                    for round in 0..ROUNDS {
                        if (i + round) % 3 == 0 {
                            block_on(event.wait_async());
                        } else if (i + round) % 3 == 1 {
                            event.wait_timeout(Duration::from_millis(1));
                        } else {
                            event.wait();
                        }
                    }
                })
            })
            .collect();
        for w in waiters {
            w.join().unwrap();
        }
        stop.store(true, SeqCst);
        toggler.join().unwrap();
    });
}

#[cfg(target_os = "linux")]
#[test]
fn parked_waiter_burns_no_cpu() {
    with_timeout(LIMIT, || {
        let event = Arc::new(Event::new());
        let waiter = {
            let event = Arc::clone(&event);
            thread::spawn(move || {
                let before = common::thread_cpu_ns();
                event.wait();
                common::thread_cpu_ns().zip(before).map(|(a, b)| a - b)
            })
        };
        thread::sleep(Duration::from_millis(300));
        event.set();
        if let Some(cpu_ns) = waiter.join().unwrap() {
            // The spin is ~20 µs; allow generous slack for a noisy VM, but a
            // polling waiter would burn the whole 300 ms.
            assert!(
                cpu_ns < 30_000_000,
                "waiter used {cpu_ns} ns of CPU while parked"
            );
        }
    });
}

// ---- wait_async ----

#[test]
fn async_ready_when_set() {
    let event = Event::new();
    event.set();
    let (counter, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(event.wait_async());
    assert!(fut.as_mut().poll(&mut cx).is_ready());
    assert!(
        fut.as_mut().poll(&mut cx).is_ready(),
        "a finished future stays ready"
    );
    assert_eq!(counter.0.load(SeqCst), 0);
}

#[test]
fn async_pending_then_woken_by_set() {
    let event = Event::new();
    let (counter, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(event.wait_async());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert!(
        fut.as_mut().poll(&mut cx).is_pending(),
        "a repoll stays pending"
    );
    event.set();
    assert_eq!(
        counter.0.load(SeqCst),
        1,
        "set wakes the registered waker once"
    );
    assert!(fut.as_mut().poll(&mut cx).is_ready());
}

#[test]
fn async_released_even_if_cleared_before_repoll() {
    let event = Event::new();
    let (_, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(event.wait_async());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    event.set();
    event.clear();
    assert!(fut.as_mut().poll(&mut cx).is_ready());
}

#[test]
fn async_wait_begins_at_first_poll() {
    let event = Event::new();
    let (_, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(event.wait_async());
    // A set+clear before the first poll precedes the wait.
    event.set();
    event.clear();
    assert!(fut.as_mut().poll(&mut cx).is_pending());
}

#[test]
fn async_uses_latest_waker() {
    let event = Event::new();
    let (first, waker1) = counting_waker();
    let (second, waker2) = counting_waker();
    let mut fut = pin!(event.wait_async());
    assert!(fut
        .as_mut()
        .poll(&mut Context::from_waker(&waker1))
        .is_pending());
    assert!(fut
        .as_mut()
        .poll(&mut Context::from_waker(&waker2))
        .is_pending());
    event.set();
    assert_eq!(first.0.load(SeqCst), 0);
    assert_eq!(second.0.load(SeqCst), 1);
}

#[test]
fn dropped_future_is_not_woken_and_leaves_nothing() {
    let event = Event::new();
    let (dropped, waker) = counting_waker();
    {
        let mut fut = Box::pin(event.wait_async());
        assert!(fut
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
    }
    drop(waker);
    // The list held the only other clone of the waker: after the drop, our
    // Arc is the last one, so nothing inside the event still references it.
    assert_eq!(
        Arc::strong_count(&dropped),
        1,
        "the dropped future leaked its waker"
    );
    event.set();
    assert_eq!(dropped.0.load(SeqCst), 0);
}

#[test]
fn many_async_and_blocking_waiters_released_by_one_set() {
    with_timeout(LIMIT, || {
        const ASYNC: usize = 100;
        const BLOCKING: usize = 4;
        let event = Arc::new(Event::new());
        let wakers: Vec<_> = (0..ASYNC).map(|_| counting_waker()).collect();
        let mut futures: Vec<_> = (0..ASYNC).map(|_| Box::pin(event.wait_async())).collect();
        for (fut, (_, waker)) in futures.iter_mut().zip(&wakers) {
            assert!(fut
                .as_mut()
                .poll(&mut Context::from_waker(waker))
                .is_pending());
        }
        let blocking: Vec<_> = (0..BLOCKING)
            .map(|_| {
                let event = Arc::clone(&event);
                thread::spawn(move || event.wait())
            })
            .collect();
        let async_threads: Vec<_> = (0..BLOCKING)
            .map(|_| {
                let event = Arc::clone(&event);
                thread::spawn(move || block_on(event.wait_async()))
            })
            .collect();
        thread::sleep(Duration::from_millis(50));
        event.set();
        event.clear();
        for t in blocking.into_iter().chain(async_threads) {
            t.join().unwrap();
        }
        for (fut, (counter, waker)) in futures.iter_mut().zip(&wakers) {
            assert_eq!(counter.0.load(SeqCst), 1);
            assert_eq!(
                fut.as_mut().poll(&mut Context::from_waker(waker)),
                Poll::Ready(())
            );
        }
    });
}

#[test]
fn async_polled_from_several_threads_in_turn() {
    with_timeout(LIMIT, || {
        let event = Arc::new(Event::new());
        let mut fut = Box::pin(async move {
            let event2 = Arc::clone(&event);
            let setter = thread::spawn(move || {
                thread::sleep(Duration::from_millis(20));
                event2.set();
            });
            event.wait_async().await;
            setter.join().unwrap();
        });
        // First poll here, then finish on another thread with its own waker.
        let (_, waker) = counting_waker();
        let _ = fut.as_mut().poll(&mut Context::from_waker(&waker));
        thread::spawn(move || block_on(fut)).join().unwrap();
    });
}

#[test]
fn async_future_is_send_across_threads() {
    with_timeout(LIMIT, || {
        static EVENT: Event = Event::new();
        let waiter = thread::spawn(|| block_on(EVENT.wait_async()));
        thread::sleep(Duration::from_millis(10));
        EVENT.set();
        waiter.join().unwrap();
    });
}

#[test]
fn future_trait_object() {
    let event = Event::new();
    event.set();
    let fut: std::pin::Pin<Box<dyn Future<Output = ()> + Send + '_>> = Box::pin(event.wait_async());
    block_on(fut);
}

/// A waker that panics must not stop `set` from waking the other futures.
#[test]
fn panicking_waker_does_not_strand_others() {
    struct Bomb;
    impl std::task::Wake for Bomb {
        fn wake(self: Arc<Self>) {
            panic!("waker panicked");
        }
    }
    let event = Event::new();
    let bomb = std::task::Waker::from(Arc::new(Bomb));
    let (counter, waker) = counting_waker();
    let mut first = Box::pin(event.wait_async());
    let mut second = Box::pin(event.wait_async());
    assert!(first
        .as_mut()
        .poll(&mut Context::from_waker(&bomb))
        .is_pending());
    assert!(second
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| event.set()));
    assert!(
        result.is_err(),
        "the waker's panic reaches the caller of set"
    );
    assert_eq!(counter.0.load(SeqCst), 1, "the other waker was still woken");
    assert!(event.is_set());
    assert!(second
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_ready());
}
