//! A slot: one supervising thread per worker process. It takes jobs from
//! the pool's queue in order, hands each to its worker only when that worker
//! is idle, reads the replies (with the task deadline), and replaces the
//! worker when it dies, times out or reaches `max_tasks_per_child`.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::child::{Child, StartError};
use super::pool::Shared;
use super::wire::{ReadError, RemoteError, Reply, Request};
use crate::task::{panic_message, Promise, TaskError};

/// Start-up failures in a row (over all slots) that mark the pool broken.
pub(crate) const CRASH_LOOP: usize = 3;

/// The longest pause between two failed start-ups.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// How often a slot waiting for a reply checks that its worker still runs
/// (a worker that died while a forked grandchild keeps its pipe open sends
/// no end of file).
const LIVENESS_CHECK: Duration = Duration::from_millis(100);

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
    fn claim(&mut self) -> bool;
    /// Completes a claimed task with an encoded result or an error.
    fn complete(self: Box<Self>, outcome: Result<Vec<u8>, TaskError>);
    /// Fails the task: claims it first unless this sink already did, and
    /// does nothing if it was cancelled meanwhile.
    fn fail(self: Box<Self>, error: TaskError);
}

/// The completer of a `Task<R>`.
pub(crate) struct TypedSink<R: Send + 'static> {
    promise: Promise<R>,
    /// This sink won the claim: only it may complete the task.
    claimed: bool,
}

impl<R: Send + 'static> TypedSink<R> {
    pub(crate) fn new(promise: Promise<R>) -> Self {
        TypedSink {
            promise,
            claimed: false,
        }
    }
}

impl<R: DeserializeOwned + Send + 'static> Sink for TypedSink<R> {
    fn claim(&mut self) -> bool {
        self.claimed = self.claimed || self.promise.claim();
        self.claimed
    }

    fn complete(self: Box<Self>, outcome: Result<Vec<u8>, TaskError>) {
        debug_assert!(self.claimed, "complete before claim");
        // The result type's `Deserialize` is user code: a panic in it fails
        // this task, not the slot thread.
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
        self.promise.complete(outcome);
    }

    fn fail(mut self: Box<Self>, error: TaskError) {
        if !self.claim() {
            return; // cancelled first: it has its outcome
        }
        self.promise.complete(Err(error));
    }
}

/// Whether the calling thread is a slot thread of `shared`'s pool (its seat
/// in the crate's one thread-local): `shutdown` called from a task callback on
/// a slot thread must not wait for the very thread it runs on.
pub(crate) fn is_slot_of(shared: &Shared) -> bool {
    shared.roster.is_current()
}

/// Marks the slot as exited however its thread ends (a panic included).
struct ExitGuard<'a>(&'a Shared);

impl Drop for ExitGuard<'_> {
    fn drop(&mut self) {
        self.0.slot_exited();
    }
}

/// A slot thread's body.
pub(crate) fn run(
    shared: Arc<Shared>,
    index: usize,
    started: std::sync::mpsc::Sender<Result<(), StartError>>,
) {
    let _exit = ExitGuard(&shared);
    // SAFETY: `shared` (an `Arc` held by this frame) outlives the guard,
    // which is dropped at the end of this frame, on this thread.
    let _seat = unsafe { shared.roster.enter(index, std::ptr::null()) };
    let mut worker = match Child::spawn(&shared.recipe, &shared.pids[index]) {
        Ok(child) => {
            let _ = started.send(Ok(()));
            Some(child)
        }
        Err(err) => {
            let _ = started.send(Err(err));
            return;
        }
    };
    drop(started);
    while let Some(job) = shared.next_job() {
        let Job { task, items } = job;
        // Claim now, just before the hand-over: a task cancelled while
        // queued is skipped; one claimed can no longer be cancelled.
        let mut items: Vec<Item> = items
            .into_iter()
            .filter_map(|mut item| item.sink.claim().then_some(item))
            .collect();
        if items.is_empty() {
            continue;
        }
        if worker.is_none() {
            worker = respawn(&shared, index, true);
        }
        if let (Some(max), Some(child)) = (shared.max_tasks_per_child, worker.as_ref()) {
            // Never past the limit, even inside a `map` chunk: the rest
            // waits (first in line) for a fresh worker.
            let allowed = max.saturating_sub(child.tasks_run).max(1);
            if items.len() > allowed {
                let rest = items.split_off(allowed);
                requeue(&shared, Job { task, items: rest });
            }
        }
        let Some(child) = worker.take() else {
            let broken = shared.broken_reason();
            fail_all(items, || no_worker_error(broken.as_deref()));
            continue;
        };
        worker = run_job(&shared, index, child, task, items);
        if let Some(child) = worker.as_mut() {
            if shared
                .max_tasks_per_child
                .is_some_and(|max| child.tasks_run >= max)
            {
                worker.take().expect("checked").retire();
            }
        }
        if worker.is_none() && shared.should_respawn(false) {
            // Replace the worker at once, so that the next task does not
            // pay for the start-up.
            worker = respawn(&shared, index, false);
        }
    }
    if let Some(child) = worker {
        child.retire();
    }
}

/// Starts a replacement worker, counting start-up failures in a row; after
/// [`CRASH_LOOP`] of them the pool is broken and `None` is returned.
/// `holding`: the caller holds a job for it (see `Shared::should_respawn`).
fn respawn(shared: &Shared, index: usize, holding: bool) -> Option<Child> {
    let mut backoff = Duration::from_millis(20);
    loop {
        if !shared.should_respawn(holding) || shared.pids[index].is_killed() {
            return None;
        }
        match Child::spawn(&shared.recipe, &shared.pids[index]) {
            Ok(child) => {
                shared.start_succeeded();
                return Some(child);
            }
            Err(StartError::Killed) => return None,
            Err(err) => {
                let failures = shared.start_failed();
                if failures >= CRASH_LOOP {
                    shared.mark_broken(format!(
                        "{failures} worker start-ups in a row failed; the last: {err}"
                    ));
                    return None;
                }
                // Interrupted by a phase change (kill, shutdown) or new work.
                shared.pause(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
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
    let request = Request::Run {
        task,
        items: items
            .iter_mut()
            .map(|item| std::mem::take(&mut item.args))
            .collect(),
    };
    if let Err(err) = child.send(&request) {
        if err.kind() == io::ErrorKind::InvalidInput {
            // Over the frame limit: nothing was written; the worker is fine.
            fail_all(items, || TaskError::serialization(err.to_string()));
            return Some(child);
        }
        // It died while idle, before reading: the tasks never ran. Try once
        // more on a fresh worker.
        let status = child.kill_and_reap();
        let Some(mut fresh) = respawn(shared, index, true) else {
            fail_all(items, || {
                TaskError::worker_lost(format!(
                    "its worker process {status} before the task was handed over, \
                     and no replacement started"
                ))
            });
            return None;
        };
        if fresh.send(&request).is_err() {
            let status = fresh.kill_and_reap();
            fail_all(items, || {
                TaskError::worker_lost(format!(
                    "its worker process {status} before reading the task"
                ))
            });
            return None;
        }
        child = fresh;
    }
    let pid = child.pid();
    let Request::Run {
        items: mut sent, ..
    } = request
    else {
        unreachable!("built as a Run above")
    };
    let mut items = items.into_iter();
    let mut position = 0;
    // Each item's deadline counts from when its worker starts it: the first
    // once the request is written, each next one as soon as the reply before
    // it arrives (the worker goes on at once), not after the parent decoded
    // that reply and ran its callbacks, which may take any time.
    let mut deadline = shared.task_timeout.and_then(deadline_after);
    while let Some(item) = items.next() {
        position += 1;
        match recv_reply(&mut child, deadline) {
            Ok(Reply::Item(outcome)) => {
                deadline = shared.task_timeout.and_then(deadline_after);
                child.tasks_run += 1;
                item.sink
                    .complete(outcome.map_err(|err| remote_error(err, pid)));
            }
            Ok(_) => {
                let status = child.kill_and_reap();
                item.sink.fail(TaskError::worker_lost(format!(
                    "worker process {pid} broke the protocol and {status}"
                )));
                requeue_rest(shared, task, items, sent.split_off(position));
                return None;
            }
            Err(ReadError::TimedOut) => {
                let timeout = shared.task_timeout.unwrap_or_default();
                child.kill_and_reap();
                item.sink.fail(TaskError::timeout(format!(
                    "it ran past its {timeout:?} deadline; worker process {pid} was killed"
                )));
                requeue_rest(shared, task, items, sent.split_off(position));
                return None;
            }
            Err(ReadError::Invalid(detail)) => {
                child.kill_and_reap();
                item.sink.fail(TaskError::serialization(format!(
                    "worker process {pid} sent a reply that could not be read: {detail}"
                )));
                requeue_rest(shared, task, items, sent.split_off(position));
                return None;
            }
            Err(ReadError::Closed | ReadError::Io(_)) => {
                // Normally it exited; if it only closed its pipe, it is
                // killed (it is not reaped yet, so that is safe).
                let status = child.kill_and_reap();
                item.sink.fail(TaskError::worker_lost(format!(
                    "worker process {pid} {status} while running it"
                )));
                requeue_rest(shared, task, items, sent.split_off(position));
                return None;
            }
        }
    }
    Some(child)
}

/// The deadline `timeout` from now; `None` (no limit) if it is too far
/// ahead for an `Instant` (`task_timeout(Duration::MAX)`).
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// Waits for the worker's next reply until `deadline`, checking every
/// [`LIVENESS_CHECK`] that it still runs: a worker that is gone counts as
/// a closed pipe even if something else still holds the pipe open.
fn recv_reply(child: &mut Child, deadline: Option<Instant>) -> Result<Reply, ReadError> {
    loop {
        let slice = Instant::now() + LIVENESS_CHECK;
        let until = deadline.map_or(slice, |deadline| deadline.min(slice));
        match child.recv(Some(until)) {
            Err(ReadError::TimedOut) => {
                if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                    return Err(ReadError::TimedOut);
                }
                if child.try_reap().is_some() {
                    // It is gone, but a reply it sent just before it died may
                    // still be in the pipe: read what is there (no waiting)
                    // before calling it dead.
                    return match child.recv(Some(Instant::now())) {
                        Err(ReadError::TimedOut) => Err(ReadError::Closed),
                        other => other,
                    };
                }
            }
            other => return other,
        }
    }
}

/// Gives the items of a chunk that its worker never reached (it died, or
/// was killed for a deadline, on an earlier item) their arguments back, and
/// queues them again, first: they run on the replacement worker, so a
/// failure stays with the one item that caused it.
fn requeue_rest(shared: &Shared, task: u32, items: impl Iterator<Item = Item>, args: Vec<Vec<u8>>) {
    let items: Vec<Item> = items
        .zip(args)
        .map(|(mut item, args)| {
            item.args = args;
            item
        })
        .collect();
    requeue(shared, Job { task, items });
}

/// Queues `job` (claimed items) again, first; if the pool no longer runs
/// queued work, fails its items instead.
fn requeue(shared: &Shared, job: Job) {
    if job.items.is_empty() {
        return;
    }
    if let Err(job) = shared.requeue_front(job) {
        let broken = shared.broken_reason();
        fail_all(job.items, || no_worker_error(broken.as_deref()));
    }
}

/// The error of a claimed task that no worker will run: the pool is broken
/// (`broken` says why), or it shut down first.
pub(crate) fn no_worker_error(broken: Option<&str>) -> TaskError {
    match broken {
        Some(reason) => TaskError::worker_lost(format!("the process pool is broken: {reason}")),
        None => TaskError::worker_lost("the pool shut down before a worker could start it"),
    }
}

/// Fails every item of `jobs` with an error made by `error`.
pub(crate) fn fail_jobs(jobs: impl IntoIterator<Item = Job>, error: impl Fn() -> TaskError) {
    fail_all(jobs.into_iter().flat_map(|job| job.items), error);
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
