//! [`Event`]: Python's `threading.Event` as one atomic word and a futex.
//!
//! The protocol (state word, transitions, why no wake-up is lost) is written
//! up in `src/event/README.md`; this is the summary a reviewer checks the code
//! against.
//!
//! # Access rules
//!
//! 1. The state word (see `state.rs`) changes only by atomic RMW: `set` ORs
//!    in the flag, `clear` ANDs it out, waiters CAS a waiter bit in from an
//!    exact observed unset value, and the release transition CASes the
//!    generation up and the waiter bits out.
//! 2. A blocking waiter sleeps on the futex only with the exact value that
//!    carries its `PARKED` bit; any change of the word makes the sleep
//!    return (the futex compares before sleeping).
//! 3. An async waiter inserts its waker and sets the `ASYNC` bit while holding
//!    the waiter-list lock; the `ASYNC` bit is cleared without the lock only by
//!    the release transition, whose `set` then drains the list under the lock.
//! 4. A `set` whose RMW found a waiter bit (and no flag) runs the release
//!    transition, then wakes the futex (if `PARKED`) and drains and wakes the
//!    list (if `ASYNC`), waking outside the lock.
//!
//! # Safety
//!
//! The module has no `unsafe` code; the futex layer's own `unsafe` (the system
//! call) is argued in `sync/futex`. Wakers run outside the list lock, so a
//! waker that polls its future on the spot cannot deadlock on the list.

mod state;
mod wait_async;
mod waiters;

use std::fmt;
use std::task::Waker;
use std::time::Duration;

use self::state::{ClearOutcome, SetOutcome, Snapshot, State, PARKED, SPINNING};
pub use self::wait_async::WaitAsync;
use self::waiters::{Key, WaiterList};
use crate::sync::futex::{self, WaitOutcome};
use crate::sync::spin::{self, SPIN_BUDGET};
use crate::sync::{Instant, Mutex, MutexGuard};

/// A manual-reset event flag that threads and futures can wait on: Python's
/// `threading.Event`, built on one atomic word and a futex.
///
/// The flag starts unset. [`set`](Event::set) raises it and releases every
/// thread and future waiting at that moment; while it stays set,
/// [`wait`](Event::wait) returns at once. [`clear`](Event::clear) lowers it
/// again.
///
/// - With no waiters, `set`, `clear` and `is_set` are one atomic operation
///   each: no lock, no system call. `wait` on a set event is one atomic load.
/// - A blocking waiter spins briefly (about 20 µs, with backoff) and then
///   sleeps on a futex (Linux `futex(2)`; a portable futex emulation
///   elsewhere) — never a `Mutex`/`Condvar` pair, and it burns no CPU while
///   asleep.
/// - A waiter released by a `set` returns `true` even if `clear` runs before
///   it is scheduled (CPython issue 13502): a generation counter in the state
///   word records the release. Spurious futex wake-ups never reach the caller.
/// - [`wait_async`](Event::wait_async) is the same wait as a future, for any
///   executor; async and blocking waiters mix freely.
///
/// `Event::new` is `const`, so an event can be a `static`.
///
/// # Memory ordering
///
/// Everything a thread wrote before calling `set` is visible to every waiter
/// that returns because of that `set` (from `wait`, from `wait_timeout` with
/// `true`, or as a completed [`WaitAsync`]), and to any thread whose `is_set`
/// returns `true` because of it, and to a thread whose `clear` lowered the
/// flag that `set` raised (so "clear, then check, then wait" is safe: a
/// `set` the clear erased is visible to the check). `clear` itself publishes
/// nothing.
///
/// # Examples
///
/// A server signals when it is ready; a client waits for it:
///
/// ```
/// use std::sync::Arc;
/// use std::thread;
/// use stealpool::Event;
///
/// let ready = Arc::new(Event::new());
/// let server = {
///     let ready = Arc::clone(&ready);
///     thread::spawn(move || {
///         // ... bind, load configuration ...
///         ready.set();
///     })
/// };
/// ready.wait(); // sleeps, without polling, until `set`
/// assert!(ready.is_set());
/// server.join().unwrap();
/// ```
///
/// As a `static`:
///
/// ```
/// use stealpool::Event;
///
/// static SHUTDOWN: Event = Event::new();
///
/// assert!(!SHUTDOWN.is_set());
/// SHUTDOWN.set();
/// assert!(SHUTDOWN.is_set());
/// ```
pub struct Event {
    /// The flag, the waiter bits and the generation; the futex word.
    /// Written by `set`, `clear` and waiters (RMW only); read by all.
    state: State,
    /// Wakers of pending `WaitAsync` futures. Locked only by registering or
    /// leaving futures and by a `set` that finds the `ASYNC` bit.
    waiters: Mutex<WaiterList>,
}

/// What [`Event::register`] did.
#[must_use = "a released waiter returns instead of sleeping"]
#[derive(Clone, Copy, Debug)]
enum Registered {
    /// The waiter bit is in the word: wait on this exact value.
    Waiting(Snapshot),
    /// The waiter was released (`SET`, or a new generation) before its bit
    /// went in: it returns `true` at once.
    Released,
}

impl Event {
    /// Creates an unset event.
    ///
    /// `const`, so it can initialise a `static`.
    ///
    /// # Examples
    ///
    /// ```
    /// use stealpool::Event;
    ///
    /// let event = Event::new();
    /// assert!(!event.is_set());
    /// ```
    #[cfg(not(loom))]
    pub const fn new() -> Event {
        Event {
            state: State::new(),
            waiters: Mutex::new(WaiterList::new()),
        }
    }

    /// Creates an unset event (not `const` under loom).
    #[cfg(loom)]
    pub fn new() -> Event {
        Event {
            state: State::new(),
            waiters: Mutex::new(WaiterList::new()),
        }
    }

    /// Sets the flag and releases every thread and future waiting right now.
    ///
    /// Later waits return at once until [`clear`](Event::clear). Setting a
    /// set event changes nothing. With no waiters this is one atomic
    /// operation; with waiters it makes one futex wake call (if a thread is
    /// asleep) and wakes each registered future.
    ///
    /// # Examples
    ///
    /// ```
    /// use stealpool::Event;
    ///
    /// let event = Event::new();
    /// event.set();
    /// event.set();
    /// assert!(event.is_set());
    /// event.wait(); // returns at once
    /// ```
    #[inline]
    pub fn set(&self) {
        if let SetOutcome::WakeWaiters(prev) = self.state.transition_to_set() {
            self.release(prev);
        }
    }

    /// The slow half of `set` (and of a `clear` that overtakes it): run the
    /// release transition for `prev`'s generation and, if this call did it,
    /// wake the waiters whose bits it cleared.
    ///
    /// The bits come from the release CAS, not from `prev`: a waiter may have
    /// registered `PARKED` after the `set`'s RMW (when a `clear` slipped in
    /// between), and whoever clears its bit must wake it.
    #[cold]
    fn release(&self, prev: Snapshot) {
        let Some(cleared) = self.state.transition_to_released(prev) else {
            return; // the other party released this generation and woke them
        };
        if cleared.has_parked() {
            futex::wake_all(self.state.futex_word());
        }
        if cleared.has_async() {
            // Take the wakers under the lock, wake them after releasing it.
            let wakers = self.waiters.lock().take_all();
            wake_each(wakers);
        }
    }

    /// Resets the flag, so that waits block again until the next `set`.
    ///
    /// Waiters that a `set` has already released still return `true`, even
    /// if they have not run yet. With no waiters this is one atomic operation.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use stealpool::Event;
    ///
    /// let event = Event::new();
    /// event.set();
    /// event.clear();
    /// assert!(!event.is_set());
    /// assert!(!event.wait_timeout(Duration::ZERO));
    /// ```
    #[inline]
    pub fn clear(&self) {
        if let ClearOutcome::FinishRelease(prev) = self.state.transition_to_clear() {
            self.release(prev);
        }
    }

    /// Returns whether the flag is set. Never blocks: one atomic load.
    ///
    /// # Examples
    ///
    /// ```
    /// use stealpool::Event;
    ///
    /// let event = Event::new();
    /// assert!(!event.is_set());
    /// event.set();
    /// assert!(event.is_set());
    /// ```
    #[inline]
    pub fn is_set(&self) -> bool {
        self.state.load().is_set()
    }

    /// Blocks until the flag is set.
    ///
    /// Returns at once, with no system call, if it is set already. Otherwise
    /// it spins for a few microseconds and then sleeps on a futex until a
    /// `set` releases it (which it honours even if `clear` follows at once).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use stealpool::Event;
    ///
    /// let event = Arc::new(Event::new());
    /// let setter = {
    ///     let event = Arc::clone(&event);
    ///     std::thread::spawn(move || event.set())
    /// };
    /// event.wait();
    /// setter.join().unwrap();
    /// ```
    #[inline]
    pub fn wait(&self) {
        let start = self.state.load();
        if !start.is_set() {
            let released = self.wait_slow(start, None);
            debug_assert!(released, "an unbounded wait only ends when released");
        }
    }

    /// Blocks until the flag is set or `timeout` passes; returns `true` if
    /// the event was set during the wait.
    ///
    /// `true` means a `set` released this waiter (even if a `clear` followed)
    /// or the flag was set when the wait began or ended; `false` means the
    /// timeout passed with the flag down. A zero timeout never sleeps: it is
    /// [`is_set`](Event::is_set). Any `Duration`, including `Duration::MAX`,
    /// is accepted; one too large for the clock waits without limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use stealpool::Event;
    ///
    /// let event = Event::new();
    /// assert!(!event.wait_timeout(Duration::from_millis(10)));
    /// event.set();
    /// assert!(event.wait_timeout(Duration::MAX));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let start = self.state.load();
        if start.is_set() {
            return true;
        }
        if timeout.is_zero() {
            return false;
        }
        // `None` if the deadline is past the clock's range: wait without limit.
        let deadline = Instant::now().checked_add(timeout);
        self.wait_slow(start, deadline)
    }

    /// Waits until released (`true`) or until `deadline` (the final check).
    ///
    /// Registers as `SPINNING` first, so that from here on any `set` releases
    /// this waiter (through the generation) even if `clear` follows before the
    /// waiter looks again; then spins; then registers as `PARKED` and sleeps.
    #[cold]
    fn wait_slow(&self, start: Snapshot, deadline: Option<Instant>) -> bool {
        match self.register(start, start, SPINNING) {
            Registered::Waiting(_) => {}
            Registered::Released => return true,
        }
        if self.spin(start, deadline) {
            return true;
        }
        let mut seen = self.state.load();
        loop {
            if !seen.has_parked() {
                match self.register(start, seen, PARKED) {
                    Registered::Waiting(parked) => seen = parked,
                    Registered::Released => return true,
                }
            }
            // Sleep only on the exact value that carries our PARKED bit: any
            // `set` (or other change) since makes this return at once.
            match futex::wait(self.state.futex_word(), seen.bits(), deadline) {
                WaitOutcome::TimedOut => return self.state.load().released_since(start),
                WaitOutcome::Woken => {
                    seen = self.state.load();
                    if seen.released_since(start) {
                        return true;
                    }
                }
            }
        }
    }

    /// Adds `bit` to the word, retrying on a stale `seen`, unless the
    /// waiter that began at `start` turns out to be released first.
    fn register(&self, start: Snapshot, mut seen: Snapshot, bit: u32) -> Registered {
        loop {
            if seen.released_since(start) {
                return Registered::Released;
            }
            match self.state.transition_to_waiting(seen, bit) {
                Ok(now) => return Registered::Waiting(now),
                Err(actual) => seen = actual,
            }
        }
    }

    /// Spins for up to [`SPIN_BUDGET`] (or until `deadline`), re-reading the
    /// word; `true` if released meanwhile.
    fn spin(&self, start: Snapshot, deadline: Option<Instant>) -> bool {
        spin::spin_until(SPIN_BUDGET, deadline, || {
            self.state.load().released_since(start)
        })
    }

    /// Returns a future that completes when the flag is set.
    ///
    /// The future works with any executor. The wait begins at its first
    /// poll; from then on it behaves like [`wait`](Event::wait): a `set`
    /// releases it even if `clear` follows before it is polled again. Many
    /// futures and blocking waiters can wait at once; one `set` wakes them
    /// all. Dropping the future unregisters it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::Future;
    /// use std::pin::pin;
    /// use std::task::{Context, Poll, Waker};
    /// use stealpool::Event;
    ///
    /// # struct Noop;
    /// # impl std::task::Wake for Noop { fn wake(self: std::sync::Arc<Self>) {} }
    /// # let waker = Waker::from(std::sync::Arc::new(Noop));
    /// let event = Event::new();
    /// let mut cx = Context::from_waker(&waker);
    /// let mut wait = pin!(event.wait_async());
    /// assert!(wait.as_mut().poll(&mut cx).is_pending());
    /// event.set(); // wakes the registered waker
    /// assert!(wait.as_mut().poll(&mut cx).is_ready());
    /// ```
    #[doc(alias = "wait")]
    pub fn wait_async(&self) -> WaitAsync<'_> {
        WaitAsync::new(self)
    }

    /// Removes `key` from the locked waiter list; drops the `ASYNC` bit if
    /// the list is now empty (under the lock, per access rule 3).
    fn unregister(&self, list: &mut MutexGuard<'_, WaiterList>, key: Key) {
        list.remove(key);
        if list.is_empty() {
            self.state.clear_async();
        }
    }
}

#[cfg(loom)]
impl Event {
    /// Whether any waiter has registered (loom models only; outside semver).
    ///
    /// Lets a model start a `set` only once a waiter is known to be waiting.
    /// The read does not synchronise, so it adds no ordering to the model.
    #[doc(hidden)]
    pub fn loom_has_waiters(&self) -> bool {
        self.state.peek().has_waiters()
    }
}

/// Wakes every waker, even if one of them panics: the rest are woken while
/// the panic unwinds (the state is already consistent), then it propagates.
fn wake_each(wakers: impl Iterator<Item = Waker>) {
    struct WakeRest<I: Iterator<Item = Waker>>(I);
    impl<I: Iterator<Item = Waker>> Drop for WakeRest<I> {
        fn drop(&mut self) {
            self.0.by_ref().for_each(Waker::wake);
        }
    }
    let mut rest = WakeRest(wakers);
    for waker in rest.0.by_ref() {
        waker.wake();
    }
}

impl Default for Event {
    /// An unset event, as [`Event::new`].
    fn default() -> Event {
        Event::new()
    }
}

impl fmt::Debug for Event {
    /// Shows the flag: `Event(set)` or `Event(unset)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flag = if self.is_set() { "set" } else { "unset" };
        f.debug_tuple("Event")
            .field(&format_args!("{flag}"))
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
