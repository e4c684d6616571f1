//! A slot: one supervising thread per worker process. It takes jobs from
//! the pool's queue in order, hands each to its worker only when that worker
//! is idle, reads the replies (with the task deadline), and replaces the
//! worker when it dies, times out or reaches `max_tasks_per_child`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::child::{Child, StartError};
use super::pool::Shared;
use super::wire::{ReadError, RemoteError, Reply, Request};
use crate::task::{Promise, TaskError};

/// Start-up failures in a row (over all slots) that mark the pool broken.
pub(crate) const CRASH_LOOP: usize = 3;

/// One queued submission: a registered function and the items to run it
/// on (one for `submit`, a chunk for `map`).
pub(crate) struct Job {
    /// Index in the registry.
    pub(crate) task: u32,
    /// The items, in order.
    pub(crate) items: Vec<Item>,
}

/// One call: its encoded argument and the task that receives its outcome.
pub(crate) struct Item {
    /// The encoded argument.
    pub(crate) args: Vec<u8>,
    /// The task's completer, type-erased.
    pub(crate) sink: Box<dyn Sink>,
}

/// The typed end of a task, seen without its type.
pub(crate) trait Sink: Send {
    /// Claims the task (pending → running); `false` if it was cancelled.
    fn claim(&self) -> bool;
    /// Completes a claimed task with an encoded result or an error.
    fn complete(self: Box<Self>, outcome: Result<Vec<u8>, TaskError>);
    /// Fails the task (claiming it first if it is still pending).
    fn fail(self: Box<Self>, error: TaskError);
}

/// The completer of a `Task<R>`.
pub(crate) struct TypedSink<R: Send + 'static>(pub(crate) Promise<R>);

impl<R: DeserializeOwned + Send + 'static> Sink for TypedSink<R> {
    fn claim(&self) -> bool {
        self.0.claim()
    }
    fn complete(self: Box<Self>, outcome: Result<Vec<u8>, TaskError>) {
        let outcome = outcome.and_then(|bytes| {
            postcard::from_bytes::<R>(&bytes).map_err(|err| {
                TaskError::serialization(format!(
                    "could not decode the result as {}: {err}",
                    std::any::type_name::<R>()
                ))
            })
        });
        self.0.complete(outcome);
    }
    fn fail(self: Box<Self>, error: TaskError) {
        if self.0.is_pending() && !self.0.claim() {
            return; // cancelled meanwhile: it has its outcome
        }
        self.0.complete(Err(error));
    }
}

/// A slot thread's body.
pub(crate) fn run(
    shared: Arc<Shared>,
    index: usize,
    started: std::sync::mpsc::Sender<Result<(), StartError>>,
) {
    let pid_slot = &shared.pids[index];
    let mut worker = match Child::spawn(&shared.recipe, pid_slot) {
        Ok(child) => {
            let _ = started.send(Ok(()));
            Some(child)
        }
        Err(err) => {
            let _ = started.send(Err(err));
            shared.slot_exited();
            return;
        }
    };
    drop(started);
    while let Some(job) = shared.next_job() {
        let Job { task, items } = job;
        // Claim now, just before the hand-over: a task cancelled while
        // queued is skipped; one claimed can no longer be cancelled.
        let items: Vec<Item> = items.into_iter().filter(|item| item.sink.claim()).collect();
        if items.is_empty() {
            continue;
        }
        if worker.is_none() {
            worker = respawn(&shared, index);
        }
        let Some(child) = worker.take() else {
            let reason = shared
                .broken_reason()
                .unwrap_or_else(|| "no worker could be started".into());
            for item in items {
                item.sink.fail(TaskError::worker_died(format!(
                    "the process pool is broken: {reason}"
                )));
            }
            continue;
        };
        worker = run_job(&shared, index, child, task, items);
        if let Some(child) = worker.as_mut() {
            if shared
                .max_tasks_per_child
                .is_some_and(|max| child.tasks_run >= max)
            {
                worker.take().expect("checked").retire(pid_slot);
            }
        }
        if worker.is_none() && shared.should_respawn() {
            // Replace the worker at once, so that the next task does not
            // pay for the start-up.
            worker = respawn(&shared, index);
        }
    }
    if let Some(child) = worker {
        child.retire(pid_slot);
    }
    shared.slot_exited();
}

/// Starts a replacement worker, counting start-up failures in a row; after
/// [`CRASH_LOOP`] of them the pool is broken and `None` is returned.
fn respawn(shared: &Shared, index: usize) -> Option<Child> {
    loop {
        if !shared.should_respawn() {
            return None;
        }
        match Child::spawn(&shared.recipe, &shared.pids[index]) {
            Ok(child) => {
                shared.start_succeeded();
                return Some(child);
            }
            Err(err) => {
                let failures = shared.start_failed();
                if failures >= CRASH_LOOP {
                    shared.mark_broken(format!(
                        "{failures} worker start-ups in a row failed; the last: {err}"
                    ));
                    return None;
                }
                std::thread::sleep(Duration::from_millis(20 * failures as u64));
            }
        }
    }
}

/// Runs one job on `child`; returns the worker if it is still usable.
fn run_job(
    shared: &Shared,
    index: usize,
    mut child: Child,
    task: u32,
    mut items: Vec<Item>,
) -> Option<Child> {
    let pid_slot = &shared.pids[index];
    let request = Request::Run {
        task,
        items: items
            .iter_mut()
            .map(|item| std::mem::take(&mut item.args))
            .collect(),
    };
    if child.send(&request).is_err() {
        // It died while idle, before reading: the tasks never ran. Try once
        // more on a fresh worker.
        let status = child.reap(pid_slot);
        let Some(mut fresh) = respawn(shared, index) else {
            fail_all(items, || {
                TaskError::worker_died(format!(
                    "its worker process {status} before the task was handed over, \
                     and no replacement started"
                ))
            });
            return None;
        };
        if fresh.send(&request).is_err() {
            let status = fresh.reap(pid_slot);
            fail_all(items, || {
                TaskError::worker_died(format!(
                    "its worker process {status} before reading the task"
                ))
            });
            return None;
        }
        child = fresh;
    }
    let pid = child.pid();
    let mut items = items.into_iter();
    while let Some(item) = items.next() {
        let deadline = shared.task_timeout.map(|timeout| Instant::now() + timeout);
        match child.recv(deadline) {
            Ok(Reply::Item(outcome)) => {
                child.tasks_run += 1;
                item.sink
                    .complete(outcome.map_err(|err| remote_error(err, pid)));
            }
            Ok(_) => {
                let status = child.kill_and_reap(pid_slot);
                item.sink.fail(TaskError::worker_died(format!(
                    "worker process {pid} broke the protocol and {status}"
                )));
                fail_rest(items, pid);
                return None;
            }
            Err(ReadError::TimedOut) => {
                let timeout = shared.task_timeout.unwrap_or_default();
                child.kill_and_reap(pid_slot);
                item.sink.fail(TaskError::timeout(format!(
                    "it ran past its {timeout:?} deadline; worker process {pid} was killed"
                )));
                fail_rest(items, pid);
                return None;
            }
            Err(ReadError::Invalid(detail)) => {
                child.kill_and_reap(pid_slot);
                item.sink.fail(TaskError::serialization(format!(
                    "worker process {pid} sent a reply that could not be read: {detail}"
                )));
                fail_rest(items, pid);
                return None;
            }
            Err(ReadError::Closed | ReadError::Io(_)) => {
                let status = child.reap(pid_slot);
                item.sink.fail(TaskError::worker_died(format!(
                    "worker process {pid} {status} while running it"
                )));
                fail_rest(items, pid);
                return None;
            }
        }
    }
    Some(child)
}

/// Fails the items of a chunk that were handed to a worker that is gone.
fn fail_rest(items: impl Iterator<Item = Item>, pid: u32) {
    fail_all(items, || {
        TaskError::worker_died(format!(
            "worker process {pid} stopped before reaching it \
             (an earlier item of its chunk failed the worker)"
        ))
    });
}

/// Fails every item with an error made by `error`.
fn fail_all(items: impl IntoIterator<Item = Item>, error: impl Fn() -> TaskError) {
    for item in items {
        item.sink.fail(error());
    }
}

/// Turns a worker-side error into the task's error.
fn remote_error(err: RemoteError, pid: u32) -> TaskError {
    match err {
        RemoteError::Panic {
            message,
            location: Some(location),
        } => TaskError::remote_panic(message, format!("worker process {pid} at {location}")),
        RemoteError::Panic { message, .. } => {
            TaskError::remote_panic(message, format!("worker process {pid}"))
        }
        RemoteError::BadArgs(detail) | RemoteError::BadResult(detail) => {
            TaskError::serialization(detail)
        }
        RemoteError::UnknownTask(index) => TaskError::serialization(format!(
            "worker process {pid} has no registered function at index {index}"
        )),
    }
}
