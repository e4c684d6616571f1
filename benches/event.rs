//! Event benchmarks, side by side with the peers people would pick instead.
//!
//! Guards against: a slower wake-up handshake than a `Mutex`+`Condvar` flag,
//! a slower sleep-and-wake through the futex backend (the asleep ping-pong;
//! run it under `--cfg stealpool_emulated_futex` too for the parking lot),
//! crossbeam's `Parker` or the `event-listener` crate (ping-pong), and any
//! cost on the uncontended fast paths (`set`, `clear`, `is_set`, `wait` on a
//! set event), which the pool's hot paths will lean on.
//!
//! Run: `cargo bench --bench event`, then `python3 scripts/bench_table.py event`
//! for the table of medians and ratios to the best peer.

// `criterion_group!` expands to an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use crossbeam_utils::sync::Parker;
use event_listener::Listener;

/// Criterion's sample count per benchmark (kept small: the machine is noisy
/// and shared; medians over 20 samples are stable enough for ratios).
const SAMPLES: usize = 20;
/// Measurement time per benchmark.
const MEASURE: Duration = Duration::from_secs(3);
/// Warm-up time per benchmark.
const WARM_UP: Duration = Duration::from_secs(1);

/// One direction of a ping-pong: a one-shot, auto-resetting signal.
trait Signal: Send + Sync + 'static {
    fn new() -> Self;
    /// Raise the signal, waking the waiter.
    fn signal(&self);
    /// Wait for the signal and consume it.
    fn wait(&self);
}

impl Signal for stealpool::Event {
    fn new() -> Self {
        stealpool::Event::new()
    }
    fn signal(&self) {
        self.set();
    }
    fn wait(&self) {
        stealpool::Event::wait(self);
        self.clear();
    }
}

/// The textbook flag: a `Mutex<bool>` and a `Condvar`.
struct CondvarFlag {
    flag: Mutex<bool>,
    cv: Condvar,
}

impl Signal for CondvarFlag {
    fn new() -> Self {
        CondvarFlag {
            flag: Mutex::new(false),
            cv: Condvar::new(),
        }
    }
    fn signal(&self) {
        *self.flag.lock().unwrap() = true;
        self.cv.notify_all();
    }
    fn wait(&self) {
        let mut flag = self.flag.lock().unwrap();
        while !*flag {
            flag = self.cv.wait(flag).unwrap();
        }
        *flag = false;
    }
}

/// `event-listener`'s documented pattern: an atomic flag plus an Event to
/// listen on, re-checked after `listen()`.
struct ListenerFlag {
    flag: AtomicBool,
    event: event_listener::Event,
}

impl Signal for ListenerFlag {
    fn new() -> Self {
        ListenerFlag {
            flag: AtomicBool::new(false),
            event: event_listener::Event::new(),
        }
    }
    fn signal(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.event.notify(usize::MAX);
    }
    fn wait(&self) {
        loop {
            if self.flag.swap(false, Ordering::SeqCst) {
                return;
            }
            let listener = self.event.listen();
            if self.flag.swap(false, Ordering::SeqCst) {
                return;
            }
            listener.wait();
        }
    }
}

/// Runs `rounds` ping-pong round trips between this thread and a peer over
/// two signals; returns the time taken (the peer's start-up excluded).
fn ping_pong<S: Signal>(rounds: u64) -> Duration {
    let ping = Arc::new(S::new());
    let pong = Arc::new(S::new());
    let ready = Arc::new(Barrier::new(2));
    let peer = {
        let (ping, pong, ready) = (Arc::clone(&ping), Arc::clone(&pong), Arc::clone(&ready));
        thread::spawn(move || {
            ready.wait();
            for _ in 0..rounds {
                ping.wait();
                pong.signal();
            }
        })
    };
    ready.wait();
    let start = Instant::now();
    for _ in 0..rounds {
        ping.signal();
        pong.wait();
    }
    let elapsed = start.elapsed();
    peer.join().unwrap();
    elapsed
}

/// How long each side works (busy) before it signals, in the asleep
/// ping-pong: past the Event's spin budget (20 µs), so every wait ends in the
/// futex and every signal wakes a sleeper.
const ASLEEP_DELAY: Duration = Duration::from_micros(100);

/// Busy-waits for `d` (a sleep would hand the CPU to the peer and blur what
/// is measured).
fn busy(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// As [`ping_pong`], but each side works [`ASLEEP_DELAY`] before it signals,
/// so the other is asleep in the futex (or the peer's own blocking wait) by
/// then. Returns the time taken less the work: the cost of two sleeps and
/// two wakes per round trip. This is the bench that exercises the futex
/// backend (`--cfg stealpool_emulated_futex` switches it to the parking lot).
fn ping_pong_asleep<S: Signal>(rounds: u64) -> Duration {
    let ping = Arc::new(S::new());
    let pong = Arc::new(S::new());
    let ready = Arc::new(Barrier::new(2));
    let peer = {
        let (ping, pong, ready) = (Arc::clone(&ping), Arc::clone(&pong), Arc::clone(&ready));
        thread::spawn(move || {
            ready.wait();
            for _ in 0..rounds {
                ping.wait();
                busy(ASLEEP_DELAY);
                pong.signal();
            }
        })
    };
    ready.wait();
    let start = Instant::now();
    for _ in 0..rounds {
        busy(ASLEEP_DELAY);
        ping.signal();
        pong.wait();
    }
    let elapsed = start.elapsed();
    peer.join().unwrap();
    let work = ASLEEP_DELAY * 2 * u32::try_from(rounds).unwrap_or(u32::MAX);
    elapsed.saturating_sub(work)
}

/// `crossbeam_utils::sync::Parker` pairs: each side parks on its own parker
/// and unparks the other's.
fn ping_pong_parker(rounds: u64) -> Duration {
    let main_parker = Parker::new();
    let main_unparker = main_parker.unparker().clone();
    let ready = Arc::new(Barrier::new(2));
    let (tx, rx) = std::sync::mpsc::channel();
    let peer = {
        let ready = Arc::clone(&ready);
        thread::spawn(move || {
            let parker = Parker::new();
            tx.send(parker.unparker().clone()).unwrap();
            ready.wait();
            for _ in 0..rounds {
                parker.park();
                main_unparker.unpark();
            }
        })
    };
    let peer_unparker = rx.recv().unwrap();
    ready.wait();
    let start = Instant::now();
    for _ in 0..rounds {
        peer_unparker.unpark();
        main_parker.park();
    }
    let elapsed = start.elapsed();
    peer.join().unwrap();
    elapsed
}

fn bench_ping_pong(c: &mut Criterion) {
    let mut group = c.benchmark_group("event_ping_pong");
    group
        .sample_size(SAMPLES)
        .warm_up_time(WARM_UP)
        .measurement_time(MEASURE);
    group.bench_function("stealpool_event", |b| {
        b.iter_custom(ping_pong::<stealpool::Event>)
    });
    group.bench_function("mutex_condvar", |b| b.iter_custom(ping_pong::<CondvarFlag>));
    group.bench_function("crossbeam_parker", |b| b.iter_custom(ping_pong_parker));
    group.bench_function("event_listener", |b| {
        b.iter_custom(ping_pong::<ListenerFlag>)
    });
    group.finish();
}

fn bench_ping_pong_asleep(c: &mut Criterion) {
    let mut group = c.benchmark_group("event_ping_pong_asleep");
    group
        .sample_size(SAMPLES)
        .warm_up_time(WARM_UP)
        .measurement_time(MEASURE);
    group.bench_function("stealpool_event", |b| {
        b.iter_custom(ping_pong_asleep::<stealpool::Event>)
    });
    group.bench_function("mutex_condvar", |b| {
        b.iter_custom(ping_pong_asleep::<CondvarFlag>)
    });
    group.finish();
}

/// Each uncontended operation is its own group, one function per implementation.
fn bench_uncontended(c: &mut Criterion) {
    let event = stealpool::Event::new();
    let condvar = CondvarFlag::new();
    let listener = ListenerFlag::new();

    let mut group = c.benchmark_group("event_set");
    group
        .sample_size(SAMPLES)
        .warm_up_time(WARM_UP)
        .measurement_time(MEASURE);
    group.bench_function("stealpool_event", |b| b.iter(|| black_box(&event).set()));
    group.bench_function("mutex_condvar", |b| {
        b.iter(|| {
            *black_box(&condvar).flag.lock().unwrap() = true;
            condvar.cv.notify_all();
        })
    });
    group.bench_function("event_listener", |b| {
        b.iter(|| {
            black_box(&listener).flag.store(true, Ordering::SeqCst);
            listener.event.notify(usize::MAX);
        })
    });
    group.finish();

    let mut group = c.benchmark_group("event_clear");
    group
        .sample_size(SAMPLES)
        .warm_up_time(WARM_UP)
        .measurement_time(MEASURE);
    group.bench_function("stealpool_event", |b| b.iter(|| black_box(&event).clear()));
    group.bench_function("mutex_condvar", |b| {
        b.iter(|| *black_box(&condvar).flag.lock().unwrap() = false)
    });
    group.bench_function("event_listener", |b| {
        b.iter(|| black_box(&listener).flag.store(false, Ordering::SeqCst))
    });
    group.finish();

    event.set();
    *condvar.flag.lock().unwrap() = true;
    listener.flag.store(true, Ordering::SeqCst);

    let mut group = c.benchmark_group("event_is_set");
    group
        .sample_size(SAMPLES)
        .warm_up_time(WARM_UP)
        .measurement_time(MEASURE);
    group.bench_function("stealpool_event", |b| b.iter(|| black_box(&event).is_set()));
    group.bench_function("mutex_condvar", |b| {
        b.iter(|| *black_box(&condvar).flag.lock().unwrap())
    });
    group.bench_function("event_listener", |b| {
        b.iter(|| black_box(&listener).flag.load(Ordering::SeqCst))
    });
    group.finish();

    let mut group = c.benchmark_group("event_wait_when_set");
    group
        .sample_size(SAMPLES)
        .warm_up_time(WARM_UP)
        .measurement_time(MEASURE);
    group.bench_function("stealpool_event", |b| b.iter(|| black_box(&event).wait()));
    group.bench_function("mutex_condvar", |b| {
        b.iter(|| {
            let mut set = black_box(&condvar).flag.lock().unwrap();
            while !*set {
                set = condvar.cv.wait(set).unwrap();
            }
        })
    });
    group.bench_function("event_listener", |b| {
        b.iter(|| {
            // The documented check-listen-check pattern, when the flag is up.
            if !black_box(&listener).flag.load(Ordering::SeqCst) {
                let l = listener.event.listen();
                if !listener.flag.load(Ordering::SeqCst) {
                    l.wait();
                }
            }
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_ping_pong,
    bench_ping_pong_asleep,
    bench_uncontended
);
criterion_main!(benches);
