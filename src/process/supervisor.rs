//! A supervisor: one thread per worker process. It takes batches from the
//! pool's [`Queue`] in order, hands each to its worker only when that worker
//! is idle, reads the replies (with each task's deadline), and replaces the
//! worker when it dies, times out or reaches `max_tasks_per_child`.

use std::time::Duration;

use super::child::{deadline_after, Child, SendError, StartError};
use super::promise::{self, Batch, Item, Running};
use super::queue::Queue;
use super::wire::{self, ReadError, Reply, Request};
use crate::sync::{Arc, Instant};
use crate::task::TaskError;

/// Start-up failures in a row (over all supervisors) that mark the pool
/// broken.
pub(crate) const CRASH_LOOP: usize = 3;

/// The longest pause between two failed start-ups.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The first pause after a failed start-up; it doubles up to
/// [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(20);

/// Counts the supervisor out however its thread ends (a panic included).
struct ExitGuard<'a>(&'a Queue);

impl Drop for ExitGuard<'_> {
    fn drop(&mut self) {
        self.0.supervisor_exited();
    }
}

/// A supervisor thread's body; `started` receives the first worker's
/// start-up outcome.
pub(crate) fn run(queue: Arc<Queue>, index: usize, started: impl FnOnce(Result<(), StartError>)) {
    let _exit = ExitGuard(&queue);
    // SAFETY: `queue` (an `Arc` held by this frame) outlives the seat,
    // which is dropped at the end of this frame, on this thread.
    let _seat = unsafe { queue.roster.enter(index, std::ptr::null()) };
    let mut worker = match Child::spawn(&queue.limits.recipe, &queue.pids[index]) {
        Ok(child) => {
            started(Ok(()));
            Some(child)
        }
        Err(err) => {
            started(Err(err));
            return;
        }
    };
    while let Some(mut batch) = queue.next_batch() {
        if worker.is_none() {
            worker = respawn(&queue, index, true);
        }
        let Some(child) = worker.take() else {
            queue.abandon(batch);
            continue;
        };
        if let Some(max) = queue.limits.max_tasks_per_child {
            // Never past the limit, even inside a `map` chunk: the rest
            // waits, pending and first in line, for a fresh worker.
            let allowed = max.saturating_sub(child.tasks_run).max(1);
            if batch.items.len() > allowed {
                let rest = batch.items.split_off(allowed);
                queue.requeue_front(Batch {
                    task: batch.task,
                    items: rest,
                });
            }
        }
        worker = run_batch(&queue, index, child, batch).and_then(|child| {
            let spent = queue
                .limits
                .max_tasks_per_child
                .is_some_and(|max| child.tasks_run >= max);
            if spent {
                child.retire();
                return None;
            }
            Some(child)
        });
        if worker.is_none() && queue.should_respawn(false) {
            // Replace the worker at once, so that the next task does not
            // pay for the start-up.
            worker = respawn(&queue, index, false);
        }
    }
    if let Some(child) = worker {
        child.retire();
    }
}

/// Starts a replacement worker, counting start-up failures in a row; after
/// [`CRASH_LOOP`] of them the pool is broken and `None` is returned.
/// `holding`: the caller holds a batch for it (see `Queue::should_respawn`).
fn respawn(queue: &Queue, index: usize, holding: bool) -> Option<Child> {
    let mut backoff = FIRST_BACKOFF;
    loop {
        if !queue.should_respawn(holding) || queue.pids[index].is_killed() {
            return None;
        }
        match Child::spawn(&queue.limits.recipe, &queue.pids[index]) {
            Ok(child) => {
                queue.start_succeeded();
                return Some(child);
            }
            Err(StartError::Killed) => return None,
            Err(err) => {
                let failures = queue.start_failed();
                if failures >= CRASH_LOOP {
                    queue.mark_broken(format!(
                        "{failures} worker start-ups in a row failed; the last: {err}"
                    ));
                    return None;
                }
                // Interrupted by a phase change (kill, shutdown) or new work.
                queue.pause(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// The calls of a batch once claimed: what went to the worker, and the
/// promises that wait for its replies, in order.
struct Claimed {
    task: u32,
    /// Each call's encoded argument, kept to requeue what the worker never
    /// reached.
    args: Vec<Vec<u8>>,
    promises: Vec<Box<dyn Running>>,
}

impl Claimed {
    /// Gives the calls back, pending, first in line: they never reached a
    /// worker.
    fn requeue(self, queue: &Queue) {
        debug_assert_eq!(self.args.len(), self.promises.len());
        let task = self.task;
        let items = self
            .args
            .into_iter()
            .zip(self.promises)
            .map(|(args, promise)| Item {
                args,
                promise: promise.unclaim(),
            })
            .collect();
        queue.requeue_front(Batch { task, items });
    }
}

/// How a batch's hand-over or one of its calls went wrong: the one error
/// value that `run_batch`'s shared tail turns into the call's outcome.
enum Failure {
    /// The worker sent something that is not a reply of this protocol.
    Protocol,
    /// The call ran past its deadline.
    TimedOut,
    /// A reply did not decode.
    Invalid(String),
    /// The worker exited, or closed its pipe.
    Lost,
}

/// Runs one batch on `child`; returns the worker if it is still usable.
fn run_batch(queue: &Queue, index: usize, child: Child, batch: Batch) -> Option<Child> {
    // Claim now, just before the hand-over: a task cancelled while queued
    // is dropped here; one claimed can no longer be cancelled, until it is
    // given back.
    let mut claimed = Claimed {
        task: batch.task,
        args: Vec::with_capacity(batch.items.len()),
        promises: Vec::with_capacity(batch.items.len()),
    };
    for item in batch.items {
        if let Some(promise) = item.promise.claim() {
            claimed.args.push(item.args);
            claimed.promises.push(promise);
        }
    }
    if claimed.promises.is_empty() {
        return Some(child);
    }
    let request = Request::Run {
        task: claimed.task,
        items: std::mem::take(&mut claimed.args),
    };
    let frame = wire::encode(&request);
    let Request::Run { items: args, .. } = request else {
        unreachable!("built as a Run above")
    };
    claimed.args = args;
    let frame = match frame {
        Ok(frame) => frame,
        Err(err) => {
            // Over the frame limit (`map` cuts its chunks below it, so only
            // a hand-made batch gets here): nothing was written.
            promise::fail_running(claimed.promises, || {
                TaskError::serialization(err.to_string())
            });
            return Some(child);
        }
    };
    let mut child = hand_over(queue, index, child, &frame, &mut claimed)?;
    drop(frame);
    let pid = child.pid();
    let timeout = queue.limits.task_timeout;
    // Each call's deadline counts from when its worker starts it: the first
    // once the request is written, each next one as soon as the reply before
    // it arrives (the worker goes on at once), not after the parent decoded
    // that reply and ran its callbacks, which may take any time.
    let mut deadline = timeout.and_then(deadline_after);
    let mut promises = std::mem::take(&mut claimed.promises).into_iter();
    let mut position = 0;
    while let Some(promise) = promises.next() {
        position += 1;
        let failure =
            match recv_reply(&mut child, deadline) {
                Ok(Reply::Item(outcome)) => {
                    deadline = timeout.and_then(deadline_after);
                    child.tasks_run += 1;
                    promise.complete(outcome.map_err(|err| {
                        promise::remote_error(err, &format!("worker process {pid}"))
                    }));
                    continue;
                }
                Ok(_) => Failure::Protocol,
                Err(ReadError::TimedOut) => Failure::TimedOut,
                Err(ReadError::Invalid(detail)) => Failure::Invalid(detail),
                Err(ReadError::Closed | ReadError::Io(_)) => Failure::Lost,
            };
        // The shared tail: the worker is killed (normally it exited
        // already; if it only closed its pipe, it is not reaped yet, so
        // that is safe); the calls after this one, which the worker never
        // reached, go back pending and first in line for the next worker
        // (before this call's failure is reported, so that whoever sees it
        // can still cancel them); this call fails.
        let status = child.kill_and_reap();
        claimed.args.drain(..position);
        claimed.promises = promises.collect();
        claimed.requeue(queue);
        promise.complete(Err(match failure {
            Failure::Protocol => TaskError::worker_lost(format!(
                "worker process {pid} broke the protocol and {status}"
            )),
            Failure::TimedOut => TaskError::timeout(format!(
                "it ran past its {:?} deadline; worker process {pid} was killed",
                timeout.unwrap_or_default()
            )),
            Failure::Invalid(detail) => TaskError::serialization(format!(
                "worker process {pid} sent a reply that could not be read: {detail}"
            )),
            Failure::Lost => {
                TaskError::worker_lost(format!("worker process {pid} {status} while running it"))
            }
        }));
        return None;
    }
    Some(child)
}

/// Writes the batch's request to `child`, bounded by the task deadline, the
/// worker's life and the pool's phase ([`Child::send`]). A worker that died
/// idle, or that would not take the request in time, is replaced and the
/// request sent once more; then the worker is returned. When no worker took
/// it, the calls never started: after `shutdown_now`/`kill` (or on a broken
/// pool) they are given back, pending, and end as queued work does; after
/// a second failed try they fail.
fn hand_over(
    queue: &Queue,
    index: usize,
    mut child: Child,
    frame: &[u8],
    claimed: &mut Claimed,
) -> Option<Child> {
    let give_up = || queue.stops_queued_work();
    let deadline = || queue.limits.task_timeout.and_then(deadline_after);
    let mut retried = false;
    loop {
        let error = match child.send(frame, deadline(), &give_up) {
            Ok(()) => return Some(child),
            Err(error) => error,
        };
        // The worker may hold part of a frame: it cannot be used again.
        let pid = child.pid();
        let status = child.kill_and_reap();
        let fresh = match error {
            SendError::GaveUp => None,
            SendError::Gone | SendError::TimedOut if !retried => respawn(queue, index, true),
            SendError::Gone | SendError::TimedOut => {
                let timeout = queue.limits.task_timeout.unwrap_or_default();
                promise::fail_running(std::mem::take(&mut claimed.promises), || match error {
                    SendError::TimedOut => TaskError::timeout(format!(
                        "worker process {pid} did not take the task within its {timeout:?} \
                         deadline, twice; it was killed"
                    )),
                    _ => TaskError::worker_lost(format!(
                        "worker process {pid} {status} before it read the task, twice"
                    )),
                });
                return None;
            }
        };
        let Some(fresh) = fresh else {
            take(claimed).requeue(queue);
            return None;
        };
        child = fresh;
        retried = true;
    }
}

/// Moves the claimed calls out of `claimed`, leaving it empty.
fn take(claimed: &mut Claimed) -> Claimed {
    Claimed {
        task: claimed.task,
        args: std::mem::take(&mut claimed.args),
        promises: std::mem::take(&mut claimed.promises),
    }
}

/// Waits for the worker's next reply until `deadline`, checking every
/// [`LIVENESS_CHECK`](super::child::LIVENESS_CHECK) that it still runs: a
/// worker that is gone counts as a closed pipe even if something else still
/// holds the pipe open.
fn recv_reply(child: &mut Child, deadline: Option<Instant>) -> Result<Reply, ReadError> {
    loop {
        let slice = Instant::now() + super::child::LIVENESS_CHECK;
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
