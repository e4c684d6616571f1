//! A call on its way to a worker: [`Batch`], [`Item`], and the task's
//! [`Promise`] with its result type erased, as a typestate.
//!
//! A queued item holds a [`Pending`] promise: its task is pending, so the
//! user may still cancel it, and `shutdown_now` cancels it by dropping it.
//! The supervisor claims it just before the hand-over, which turns it into a
//! [`Running`] promise (pending → running): only that one may complete the
//! task. If the call never reaches a worker (a hand-over that failed, or the
//! items of a `map` chunk behind one that killed its worker), the supervisor
//! gives it back ([`Running::unclaim`]), and the item is pending again. Each
//! step consumes the box and returns it under its next trait, so no
//! allocation is made and a promise cannot be completed twice or unclaimed.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::wire::{RemoteError, MAX_ARGS, MAX_PAYLOAD, PER_ITEM};
use crate::task::{self, panic_message, Promise, Task, TaskError};

/// One queued submission: a registered function and the calls to run it on
/// (one for `submit`, a chunk for `map`), in order.
pub(crate) struct Batch {
    /// The function's index in the registry.
    pub(crate) task: u32,
    /// The calls, in order.
    pub(crate) items: Vec<Item>,
}

/// One call that has not reached a worker: its encoded argument and its
/// task's pending promise.
pub(crate) struct Item {
    /// The encoded argument.
    pub(crate) args: Vec<u8>,
    /// The task's promise; dropping it cancels the task.
    pub(crate) promise: Box<dyn Pending>,
}

/// The promise of a pending task (its type erased). Dropped, it cancels the
/// task.
pub(crate) trait Pending: Send {
    /// Claims the task (pending → running) to hand it to a worker; `None`
    /// if it was cancelled meanwhile.
    fn claim(self: Box<Self>) -> Option<Box<dyn Running>>;

    /// Fails the task with `error` (a call no worker will run: the pool is
    /// broken, or the arguments cannot travel); nothing if it was cancelled.
    fn fail(self: Box<Self>, error: TaskError);
}

/// The promise of a claimed task (its type erased). Dropped without being
/// completed, it fails the task as abandoned, so no waiter ever hangs.
pub(crate) trait Running: Send {
    /// Completes the task with an encoded result (decoded here, as `R`) or
    /// an error.
    fn complete(self: Box<Self>, outcome: Result<Vec<u8>, TaskError>);

    /// Gives the task back unstarted (running → pending).
    fn unclaim(self: Box<Self>) -> Box<dyn Pending>;
}

/// The one implementation of both traits: a task's typed [`Promise`].
struct Typed<R: Send + 'static>(Promise<R>);

/// The pending, type-erased promise of a `Task<R>`.
pub(crate) fn pending<R: DeserializeOwned + Send + 'static>(
    promise: Promise<R>,
) -> Box<dyn Pending> {
    Box::new(Typed(promise))
}

impl<R: DeserializeOwned + Send + 'static> Pending for Typed<R> {
    fn claim(self: Box<Self>) -> Option<Box<dyn Running>> {
        self.0.claim().then_some(self as Box<dyn Running>)
    }

    fn fail(self: Box<Self>, error: TaskError) {
        if let Some(running) = self.claim() {
            running.complete(Err(error));
        }
    }
}

impl<R: DeserializeOwned + Send + 'static> Running for Typed<R> {
    fn complete(self: Box<Self>, outcome: Result<Vec<u8>, TaskError>) {
        // The result type's `Deserialize` is user code: a panic in it fails
        // this task, not the supervisor.
        let outcome = outcome.and_then(|bytes| {
            match catch_unwind(AssertUnwindSafe(|| postcard::from_bytes::<R>(&bytes))) {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(err)) => Err(TaskError::serialization(format!(
                    "could not decode the result as {}: {err}",
                    std::any::type_name::<R>()
                ))),
                Err(payload) => Err(TaskError::serialization(format!(
                    "decoding the result as {} panicked: {}",
                    std::any::type_name::<R>(),
                    panic_message(&*payload).unwrap_or_default()
                ))),
            }
        });
        self.0.complete(outcome);
    }

    fn unclaim(self: Box<Self>) -> Box<dyn Pending> {
        self.0.unclaim();
        self
    }
}

/// Fails every item with an error made by `error`.
pub(crate) fn fail_all(items: impl IntoIterator<Item = Item>, error: impl Fn() -> TaskError) {
    for item in items {
        item.promise.fail(error());
    }
}

/// Fails every running promise with an error made by `error`.
pub(crate) fn fail_running(
    promises: impl IntoIterator<Item = Box<dyn Running>>,
    error: impl Fn() -> TaskError,
) {
    for promise in promises {
        promise.complete(Err(error()));
    }
}

/// A pending task for one call of registered function `f` on `args`, and
/// its queue item; the item is `None` when the arguments did not encode or
/// are over their limit (then the task has failed already, with
/// `is_serialization`). Both the process pool and the MPI pool make their
/// calls here.
pub(crate) fn call<A, R>(args: &A) -> (Task<R>, Option<Item>)
where
    A: Serialize,
    R: DeserializeOwned + Send + 'static,
{
    let (task, typed) = task::promise::<R>();
    let promise = pending(typed);
    let error = match postcard::to_stdvec(args) {
        Ok(bytes) if bytes.len() <= MAX_ARGS => {
            return (
                task,
                Some(Item {
                    args: bytes,
                    promise,
                }),
            )
        }
        Ok(bytes) => format!(
            "the encoded arguments are {} bytes, over the {MAX_ARGS} byte limit for the \
             arguments of one call",
            bytes.len()
        ),
        Err(err) => format!(
            "could not encode the arguments ({}): {err}",
            std::any::type_name::<A>()
        ),
    };
    promise.fail(TaskError::serialization(error));
    (task, None)
}

/// The calls of a `map` of registered function `task` over `items`: a task
/// per item, in input order, and the batches that carry them, `chunk_size`
/// items each (0 counts as 1), cut early so that no batch outgrows a frame.
pub(crate) fn chunked<A, R>(
    task: u32,
    items: impl IntoIterator<Item = A>,
    chunk_size: usize,
) -> (VecDeque<Task<R>>, Vec<Batch>)
where
    A: Serialize,
    R: DeserializeOwned + Send + 'static,
{
    let chunk_size = chunk_size.max(1);
    let mut tasks = VecDeque::new();
    let mut batches = Vec::new();
    let mut chunk: Vec<Item> = Vec::with_capacity(chunk_size.min(1024));
    let mut chunk_bytes = 0;
    let close = |chunk: &mut Vec<Item>, batches: &mut Vec<Batch>| {
        if !chunk.is_empty() {
            batches.push(Batch {
                task,
                items: std::mem::take(chunk),
            });
        }
    };
    for args in items {
        let (handle, item) = call::<A, R>(&args);
        tasks.push_back(handle);
        let Some(item) = item else {
            continue;
        };
        // A chunk travels as one message: close it early rather than let it
        // grow past the frame limit.
        let bytes = item.args.len() + PER_ITEM;
        if chunk_bytes + bytes > MAX_PAYLOAD {
            close(&mut chunk, &mut batches);
            chunk_bytes = 0;
        }
        chunk_bytes += bytes;
        chunk.push(item);
        if chunk.len() == chunk_size {
            close(&mut chunk, &mut batches);
            chunk_bytes = 0;
        }
    }
    close(&mut chunk, &mut batches);
    (tasks, batches)
}

/// Turns a worker-side error into the task's error; `worker` names where it
/// ran ("worker process 12", "MPI rank 3").
pub(crate) fn remote_error(err: RemoteError, worker: &str) -> TaskError {
    match err {
        RemoteError::Panic {
            message,
            location: Some(location),
        } => TaskError::remote_panic(message, format!("{worker} at {location}")),
        RemoteError::Panic { message, .. } => TaskError::remote_panic(message, worker.to_string()),
        RemoteError::BadArgs(detail) | RemoteError::BadResult(detail) => {
            TaskError::serialization(detail)
        }
        RemoteError::UnknownTask(index) => TaskError::serialization(format!(
            "{worker} has no registered function at index {index}"
        )),
    }
}
