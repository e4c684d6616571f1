//! A tour of stealpool: `cargo run --release --example tour`.
//!
//! Each section shows one capability on a scenario from Python's
//! `concurrent.futures` and `threading` documentation, and prints what it
//! measured.
//!
//! **Event.** A "server" thread takes a while to start; a client must not
//! connect before it is up. First the client polls a flag (in a hot loop, then
//! with a sleep between looks), then it waits on an [`Event`]. For each way the
//! tour prints how long after the server came up the client noticed, and how
//! much CPU the client burnt while it waited.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use stealpool::Event;

/// How long the pretend server takes to start.
const STARTUP: Duration = Duration::from_millis(300);

/// The sleep between looks of the polling client.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

fn main() {
    println!("stealpool tour\n");
    event_section();
}

/// What one way of waiting cost the client.
struct Cost {
    /// From the server's "ready" to the client's "connect".
    delay: Duration,
    /// CPU time the client thread used while it waited, if the OS tells.
    cpu: Option<Duration>,
}

fn event_section() {
    println!("== Event: don't connect before the server is up ==");
    println!(
        "The server needs {STARTUP:?} to start. How late does the client notice, and what does waiting cost?\n"
    );
    let rows = [
        ("poll a flag in a hot loop", busy_poll()),
        ("poll a flag, sleep 10 ms between looks", sleepy_poll()),
        ("Event::wait", event_wait()),
    ];
    println!(
        "{:<42} {:>16} {:>22}",
        "client strategy", "notice delay", "client CPU while waiting"
    );
    for (name, cost) in &rows {
        let cpu = cost
            .cpu
            .map_or_else(|| "n/a".to_string(), |cpu| format!("{cpu:.2?}"));
        println!("{name:<42} {:>16} {cpu:>22}", format!("{:.2?}", cost.delay));
    }
    println!(
        "\nPolling trades CPU for latency: a hot loop burns a whole core, a sleep adds up to its \
         interval of delay. Event::wait sleeps in the kernel, uses no CPU, and is woken as soon as set() runs (the delay left is the OS wake-up latency).\n"
    );
}

/// Runs a server that takes [`STARTUP`] and then calls `announce`, and a
/// client that runs `wait_for_server`; returns what waiting cost the client.
fn scenario<S, C>(announce: S, wait_for_server: C) -> Cost
where
    S: FnOnce() + Send + 'static,
    C: FnOnce() + Send + 'static,
{
    let ready_at = Arc::new(Mutex::new(None::<Instant>));
    let server = {
        let ready_at = Arc::clone(&ready_at);
        thread::spawn(move || {
            thread::sleep(STARTUP); // bind, load configuration, warm caches...
            *ready_at.lock().unwrap() = Some(Instant::now());
            announce();
        })
    };
    let client = thread::spawn(move || {
        let cpu_before = thread_cpu_time();
        wait_for_server();
        let connected_at = Instant::now();
        let cpu = thread_cpu_time()
            .zip(cpu_before)
            .map(|(after, before)| after.saturating_sub(before));
        (connected_at, cpu)
    });
    let (connected_at, cpu) = client.join().unwrap();
    server.join().unwrap();
    let ready_at = ready_at.lock().unwrap().expect("the server came up");
    Cost {
        delay: connected_at.saturating_duration_since(ready_at),
        cpu,
    }
}

fn busy_poll() -> Cost {
    let up = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&up);
    scenario(
        move || flag.store(true, Ordering::Release),
        move || while !up.load(Ordering::Acquire) {},
    )
}

fn sleepy_poll() -> Cost {
    let up = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&up);
    scenario(
        move || flag.store(true, Ordering::Release),
        move || {
            while !up.load(Ordering::Acquire) {
                thread::sleep(POLL_INTERVAL);
            }
        },
    )
}

fn event_wait() -> Cost {
    let up = Arc::new(Event::new());
    let event = Arc::clone(&up);
    scenario(move || event.set(), move || up.wait())
}

/// CPU time used by the calling thread (Linux: `/proc/thread-self/schedstat`).
fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}
