//! Polling costs no memory: a timed `wait` that times out, a
//! `wait_timeout`, and a dropped `.await` leave nothing behind on the tasks,
//! however often they are repeated. A global allocator tracks the bytes
//! live in the whole process.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use common::with_timeout;
use stealpool::{wait, Event, ThreadPool, WaitFor};

/// The guard on the blocking test body.
const GUARD: Duration = Duration::from_secs(20);

/// The most live memory a polling loop may leave behind (allocator and
/// thread-local noise), far below one allocation per call.
const ALLOWED_GROWTH: isize = 64 * 1024;

/// The system allocator, plus a count of the bytes live right now.
struct LiveBytes;

/// Bytes allocated and not yet freed, by any thread.
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call unchanged to the system allocator; only counts.
unsafe impl GlobalAlloc for LiveBytes {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size() as isize, Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s
        // contract.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size() as isize, Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; `ptr` came from this allocator, which
        // is the system allocator.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `realloc`'s
        // contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        }
        new
    }
}

#[global_allocator]
static GLOBAL: LiveBytes = LiveBytes;

/// How many more bytes are live after `f` than before it.
fn growth(f: impl FnOnce()) -> isize {
    let before = LIVE.load(Relaxed);
    f();
    LIVE.load(Relaxed) - before
}

/// A waker that does nothing.
struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// Sets its event when dropped: a failed assertion still lets the gated
/// task finish, so the pool's drop does not hang and hide the failure.
struct OpenOnDrop(Arc<Event>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.set();
    }
}

/// Failure 8: a timed `wait` that times out left a callback (and its event)
/// on every task it waited for: 200 000 polls of a task that stays running
/// grew live memory by megabytes. Fixed: live memory stays flat (under
/// 64 KiB of growth). The same holds, and is checked first, for a repeated
/// `wait_timeout` and for a `.await` polled once and dropped.
///
/// One test function: the byte count is process-wide.
#[test]
fn timed_polling_leaves_memory_flat() {
    with_timeout(GUARD, || {
        let pool = ThreadPool::new(1).unwrap();
        let gate = Arc::new(Event::new());
        let _open_on_failure = OpenOnDrop(Arc::clone(&gate));
        let started = Arc::new(Event::new());
        // One task running (blocked on the gate) and one queued behind it.
        let running = pool.submit({
            let (gate, started) = (Arc::clone(&gate), Arc::clone(&started));
            move || {
                started.set();
                gate.wait();
                1
            }
        });
        let queued = pool.submit(|| 2);
        started.wait();
        let mut tasks = vec![running, queued];
        let tick = Duration::from_micros(1);

        // `wait_timeout`, repeated.
        for task in &tasks {
            assert!(!task.wait_timeout(tick)); // warm-up
        }
        let grown = growth(|| {
            for _ in 0..10_000 {
                for task in &tasks {
                    assert!(!task.wait_timeout(tick));
                }
            }
        });
        assert!(
            grown < ALLOWED_GROWTH,
            "wait_timeout × 20 000 grew live memory by {grown} bytes"
        );

        // `.await` polled once, then dropped.
        let waker = Waker::from(Arc::new(Noop));
        let mut cx = Context::from_waker(&waker);
        let mut poll_once_and_drop = |tasks: &mut Vec<stealpool::Task<i32>>| {
            for task in tasks.iter_mut() {
                let mut awaiting = pin!(async { (&mut *task).await });
                assert!(awaiting.as_mut().poll(&mut cx).is_pending());
            }
        };
        poll_once_and_drop(&mut tasks); // warm-up
        let grown = growth(|| {
            for _ in 0..10_000 {
                poll_once_and_drop(&mut tasks);
            }
        });
        assert!(
            grown < ALLOWED_GROWTH,
            "a dropped .await × 20 000 grew live memory by {grown} bytes"
        );

        // `wait(.., Some(timeout))` that times out: before the fix each call left a
        // callback on every pending task.
        let timeouts = [Duration::from_nanos(1), tick];
        for timeout in timeouts {
            let result = wait(&tasks, WaitFor::FirstCompleted, Some(timeout)); // warm-up
            assert_eq!(result.pending, [0, 1]);
        }
        let grown = growth(|| {
            for i in 0..200_000 {
                let result = wait(&tasks, WaitFor::FirstCompleted, Some(timeouts[i % 2]));
                assert!(result.done.is_empty());
            }
        });
        assert!(
            grown < ALLOWED_GROWTH,
            "wait(.., Some(timeout)) × 200 000 grew live memory by {grown} bytes"
        );

        gate.set();
        let values: Vec<i32> = tasks.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(values, [1, 2]);
    });
}
