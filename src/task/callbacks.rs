//! The task's callback list: a lock-free stack of `on_done` callbacks that
//! the completer drains, in registration order, exactly once each.
//!
//! `head` is one of:
//!
//! - an *open* list: null, or nodes ending in null (the task is not done);
//! - a *draining* list: `DRAINING`, or nodes ending in `DRAINING` (a runner
//!   is running callbacks; new ones are pushed for it to run next);
//! - `CLOSED`: done, nobody runs callbacks; a new one is run by its adder.
//!
//! Steps:
//!
//! 1. `push`: CAS a new node onto an open or draining list. On `CLOSED`, the
//!    adder CASes `CLOSED` → `DRAINING` and becomes the runner itself (so two
//!    late adders never run callbacks at the same time).
//! 2. The completer (after storing the outcome) swaps in `DRAINING`, runs
//!    what it took (reversed: registration order), and repeats until a CAS
//!    `DRAINING` → `CLOSED` succeeds. Any runner ends the same way.
//!
//! Every callback is therefore run exactly once, by one runner at a time,
//! after the outcome was stored. Sentinels are static addresses, compared
//! and never dereferenced.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use crate::executor::{self, ExecutorId};
use crate::sync::atomic::AtomicPtr;
use crate::sync::atomic::Ordering::{AcqRel, Acquire, Release};

use super::TaskError;

/// A boxed `on_done` callback.
pub(crate) type Callback<T> = Box<dyn FnOnce(&Result<T, TaskError>) + Send + 'static>;

/// One pushed callback.
struct Node<T> {
    callback: Callback<T>,
    /// The node pushed before this one, or a list terminator.
    next: *mut Node<T>,
}

/// Two distinct static addresses for the sentinels.
static SENTINELS: [u8; 2] = [0, 0];

fn draining<T>() -> *mut Node<T> {
    ptr::addr_of!(SENTINELS[0]) as *mut Node<T>
}

fn closed<T>() -> *mut Node<T> {
    ptr::addr_of!(SENTINELS[1]) as *mut Node<T>
}

/// What `push` did with the callback.
#[must_use = "a callback handed back must be run by the caller"]
pub(crate) enum Pushed<T> {
    /// Queued; a runner (the completer or a late adder) will run it.
    Queued,
    /// The list was closed: the caller is now the runner and must run this
    /// callback, then `drain` to close the list again.
    RunNow(Callback<T>),
}

/// The callback list of one task.
pub(crate) struct Callbacks<T> {
    /// See the module docs. Written by CAS/swap only.
    head: AtomicPtr<Node<T>>,
}

// SAFETY: the list owns its nodes (boxed callbacks that are `Send`), and
// hands each to exactly one runner; the raw pointers are never shared
// outside the CAS protocol above.
unsafe impl<T: Send> Send for Callbacks<T> {}
// SAFETY: as above; `&Callbacks` only allows the atomic push/drain protocol.
unsafe impl<T: Send> Sync for Callbacks<T> {}

impl<T> Callbacks<T> {
    /// An empty, open list.
    pub(crate) fn new() -> Self {
        Callbacks {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// An empty, closed list (for a task that is born `READY`).
    pub(crate) fn new_closed() -> Self {
        Callbacks {
            head: AtomicPtr::new(closed()),
        }
    }

    /// Whether nothing is registered and the list is still open: the
    /// completer may close it without draining.
    pub(crate) fn try_close_empty(&self) -> bool {
        // Release: publishes the stored outcome to a late adder that finds
        // CLOSED (its Acquire in `push`).
        self.head
            .compare_exchange(ptr::null_mut(), closed(), Release, Acquire)
            .is_ok()
    }

    /// Pushes `callback`, or hands it back to be run now if the list is
    /// closed (then the caller has become the runner).
    pub(crate) fn push(&self, callback: Callback<T>) -> Pushed<T> {
        let node = Box::into_raw(Box::new(Node {
            callback,
            next: ptr::null_mut(),
        }));
        // Acquire: a runner's CLOSED publishes the outcome we may read.
        let mut head = self.head.load(Acquire);
        loop {
            if head == closed() {
                match self
                    .head
                    .compare_exchange(closed(), draining(), AcqRel, Acquire)
                {
                    Ok(_) => {
                        // SAFETY: `node` came from `Box::into_raw` above and
                        // was never published (every push CAS failed).
                        let node = unsafe { Box::from_raw(node) };
                        return Pushed::RunNow(node.callback);
                    }
                    Err(actual) => {
                        head = actual;
                        continue;
                    }
                }
            }
            // SAFETY: `node` is ours until the CAS below publishes it.
            unsafe { (*node).next = head };
            // Release: publishes the node's contents to the runner that
            // swaps it out (AcqRel there).
            match self
                .head
                .compare_exchange_weak(head, node, Release, Acquire)
            {
                Ok(_) => return Pushed::Queued,
                Err(actual) => head = actual,
            }
        }
    }

    /// Runs every queued callback with `outcome`, in registration order, until
    /// the list can be closed. The caller must be the runner: the completer
    /// after storing the outcome, or an adder that got `RunNow`. Panics in
    /// callbacks are caught and reported to `home`'s panic handler.
    pub(crate) fn drain(&self, outcome: &Result<T, TaskError>, home: Option<ExecutorId>) {
        loop {
            // AcqRel: Acquire the pushed nodes; Release nothing in particular
            // (the swap is what later pushes chain onto).
            // mutant: callback-twice s/self.head.swap(draining(), AcqRel)/self.head.load(Acquire)/
            let mut node = self.head.swap(draining(), AcqRel);
            if node == draining() {
                // Nothing new: try to close. Release: publishes the callbacks'
                // effects to late adders; on failure someone pushed: go again.
                if self
                    .head
                    .compare_exchange(draining(), closed(), Release, Acquire)
                    .is_ok()
                {
                    return;
                }
                continue;
            }
            // Reverse the taken stack into registration order.
            let mut ordered = Vec::new();
            while !node.is_null() && node != draining() {
                // SAFETY: every node in a list we swapped out was published by
                // `push` and is now exclusively ours; we free each exactly once.
                let boxed = unsafe { Box::from_raw(node) };
                node = boxed.next;
                ordered.push(boxed.callback);
            }
            for callback in ordered.into_iter().rev() {
                run_one(callback, outcome, home);
            }
        }
    }
}

/// Runs one callback, catching and reporting its panic.
pub(crate) fn run_one<T>(
    callback: Callback<T>,
    outcome: &Result<T, TaskError>,
    home: Option<ExecutorId>,
) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| callback(outcome))) {
        executor::report_panic(home, payload);
    }
}

impl<T> Drop for Callbacks<T> {
    fn drop(&mut self) {
        // Normally CLOSED. A task dropped without completing (which the
        // crate does not do) would still free its nodes here.
        // Relaxed: `&mut self` means every other access has happened-before.
        let mut node = self.head.load(crate::sync::atomic::Ordering::Relaxed);
        while !node.is_null() && node != draining() && node != closed() {
            // SAFETY: `&mut self`: no other party can reach the list.
            let boxed = unsafe { Box::from_raw(node) };
            node = boxed.next;
        }
    }
}

impl<T> fmt::Debug for Callbacks<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Callbacks")
    }
}
