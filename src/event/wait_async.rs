//! `WaitAsync`, the future returned by `Event::wait_async`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::state::{Snapshot, ASYNC};
use super::waiters::{Key, WaiterList};
use super::Event;
use crate::sync::MutexGuard;

/// A future that completes when its [`Event`] is set.
///
/// Returned by [`Event::wait_async`]. The wait begins at the first poll:
/// from then on, a `set` releases the future even if a `clear` follows before
/// it is polled again (like [`Event::wait`]). Any number of futures and
/// blocking waiters may wait on one event; one `set` releases them all.
///
/// Dropping the future unregisters its waker; nothing is left behind.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use stealpool::Event;
///
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     struct Unpark(std::thread::Thread);
/// #     impl std::task::Wake for Unpark {
/// #         fn wake(self: Arc<Self>) { self.0.unpark() }
/// #     }
/// #     let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
/// #     let mut cx = std::task::Context::from_waker(&waker);
/// #     let mut f = std::pin::pin!(f);
/// #     loop {
/// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
/// #         std::thread::park();
/// #     }
/// # }
/// let ready = Arc::new(Event::new());
/// let setter = {
///     let ready = Arc::clone(&ready);
///     std::thread::spawn(move || ready.set())
/// };
/// block_on(ready.wait_async()); // with any executor: `ready.wait_async().await`
/// assert!(ready.is_set());
/// setter.join().unwrap();
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct WaitAsync<'a> {
    /// The event waited on.
    event: &'a Event,
    /// The state at the first poll: a generation change since then releases us.
    start: Option<Snapshot>,
    /// Our entry in the event's waiter list, while registered.
    key: Option<Key>,
    /// Completed; later polls return `Ready` again.
    done: bool,
}

impl<'a> WaitAsync<'a> {
    pub(super) fn new(event: &'a Event) -> Self {
        WaitAsync {
            event,
            start: None,
            key: None,
            done: false,
        }
    }

    /// Leaves the waiter list (under its lock) and marks the future done.
    fn finish(&mut self, list: Option<MutexGuard<'_, WaiterList>>) {
        self.done = true;
        if let Some(key) = self.key.take() {
            let mut list = list.unwrap_or_else(|| self.event.waiters.lock());
            self.event.unregister(&mut list, key);
        }
    }
}

impl Future for WaitAsync<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(());
        }
        let now = this.event.state.load();
        let start = *this.start.get_or_insert(now);
        if now.released_since(start) {
            this.finish(None);
            return Poll::Ready(());
        }

        // Register (or refresh) our waker, then publish the ASYNC bit, both
        // under the list lock: a `set` that sees the bit drains the list under
        // the same lock, so it either finds our waker or we find its flag.
        let mut list = this.event.waiters.lock();
        match this.key {
            Some(key) if list.update(key, cx.waker()) => {}
            _ => this.key = Some(list.insert(cx.waker().clone())),
        }
        let mut seen = this.event.state.load();
        loop {
            if seen.released_since(start) {
                this.finish(Some(list));
                return Poll::Ready(());
            }
            if seen.has_async() {
                return Poll::Pending;
            }
            match this.event.state.transition_to_waiting(seen, ASYNC) {
                Ok(_) => return Poll::Pending,
                Err(actual) => seen = actual,
            }
        }
    }
}

impl Drop for WaitAsync<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut list = self.event.waiters.lock();
            self.event.unregister(&mut list, key);
        }
    }
}

impl fmt::Debug for WaitAsync<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitAsync")
            .field("event", self.event)
            .field("registered", &self.key.is_some())
            .field("done", &self.done)
            .finish()
    }
}
