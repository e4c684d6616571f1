//! [`TaskError`]: why a task produced no value.

use std::any::Any;
use std::error::Error;
use std::fmt;

use crate::executor::Payload;

/// Why a [`Task`](crate::Task) produced no value: its closure panicked, it
/// was cancelled before it started, or the pool had shut down and rejected it;
/// for a process pool also: its worker process died, it ran past its deadline,
/// or its arguments or result could not cross the pipe.
///
/// Opaque; ask with [`is_panic`](TaskError::is_panic),
/// [`is_cancelled`](TaskError::is_cancelled),
/// [`is_rejected`](TaskError::is_rejected),
/// [`is_worker_lost`](TaskError::is_worker_lost),
/// [`is_timeout`](TaskError::is_timeout) and
/// [`is_serialization`](TaskError::is_serialization). A panic's payload can be taken
/// back with [`into_panic`](TaskError::into_panic), e.g. to resume it with
/// [`std::panic::resume_unwind`]. `Display` says what happened, with the panic
/// message when it is a string.
///
/// # Examples
///
/// ```
/// use stealpool::ThreadPool;
///
/// let pool = ThreadPool::new(1).unwrap();
/// let err = pool.submit(|| -> u32 { panic!("disk full") }).join().unwrap_err();
/// assert!(err.is_panic());
/// assert_eq!(err.to_string(), "task panicked: disk full");
/// let payload = err.into_panic();
/// assert_eq!(payload.downcast_ref::<&str>(), Some(&"disk full"));
/// ```
#[doc(alias = "exception", alias = "CancelledError", alias = "JoinError")]
pub struct TaskError {
    /// Boxed, so that `Result<T, TaskError>` (stored in every task) costs
    /// one word beyond `T`; errors are the rare path.
    kind: Box<Kind>,
}

enum Kind {
    /// The closure panicked.
    Panic {
        /// The payload, for `into_panic`.
        payload: SyncPayload,
        /// The payload's message, if it was a `&str` or `String`.
        message: Option<String>,
        /// Where a remote panic happened ("worker process 12 at src/x.rs:3:5").
        origin: Option<String>,
    },
    /// Cancelled before it started.
    Cancelled,
    /// Submitted after the pool shut down.
    Rejected,
    /// The worker process running it died (or could not be started).
    WorkerLost(String),
    /// It ran past its deadline (its worker process was killed), or was not
    /// done by an `as_completed` or `map` deadline.
    Timeout(String),
    /// Its arguments or its result could not be (de)serialized.
    // As `Timeout`, for `is_serialization`.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    Serialization(String),
}

/// A panic payload that is `Sync` because nothing can reach it by shared
/// reference: it is only ever moved out, by value.
struct SyncPayload(Payload);

// SAFETY: `SyncPayload` exposes no `&self` access to the payload (it is only
// moved in and out by value), so sharing a `&SyncPayload` between threads
// cannot touch the non-`Sync` contents. (tokio's `SyncWrapper` argument.)
unsafe impl Sync for SyncPayload {}

impl TaskError {
    /// A panic, with its payload.
    pub(crate) fn panic(payload: Payload) -> TaskError {
        let message = panic_message(&*payload);
        TaskError {
            kind: Box::new(Kind::Panic {
                payload: SyncPayload(payload),
                message,
                origin: None,
            }),
        }
    }

    /// A panic in another process: its message (which becomes the payload,
    /// as a `String`) and where it happened.
    #[cfg(feature = "process")]
    pub(crate) fn remote_panic(message: String, origin: String) -> TaskError {
        TaskError {
            kind: Box::new(Kind::Panic {
                payload: SyncPayload(Box::new(message.clone())),
                message: Some(message),
                origin: Some(origin),
            }),
        }
    }

    /// The worker process died, or a promise was dropped unfinished.
    pub(crate) fn worker_lost(detail: impl Into<String>) -> TaskError {
        TaskError {
            kind: Box::new(Kind::WorkerLost(detail.into())),
        }
    }

    /// A claimed task whose promise was dropped without an outcome.
    pub(crate) fn abandoned() -> TaskError {
        TaskError::worker_lost("its worker stopped before reporting an outcome")
    }

    /// Past a deadline: a process task's (its worker was killed), or an
    /// `as_completed`/`map` deadline's (the task was left running).
    pub(crate) fn timeout(detail: impl Into<String>) -> TaskError {
        TaskError {
            kind: Box::new(Kind::Timeout(detail.into())),
        }
    }

    /// Arguments or result could not cross the process boundary.
    #[cfg(feature = "process")]
    pub(crate) fn serialization(detail: impl Into<String>) -> TaskError {
        TaskError {
            kind: Box::new(Kind::Serialization(detail.into())),
        }
    }

    /// Cancelled before it started.
    pub(crate) fn cancelled() -> TaskError {
        TaskError {
            kind: Box::new(Kind::Cancelled),
        }
    }

    /// Rejected: the pool was shut down.
    pub(crate) fn rejected() -> TaskError {
        TaskError {
            kind: Box::new(Kind::Rejected),
        }
    }

    /// Whether the task's closure panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPool::new(1).unwrap();
    /// let err = pool.submit(|| panic!("oops")).join().unwrap_err();
    /// assert!(err.is_panic());
    /// ```
    #[doc(alias = "exception")]
    pub fn is_panic(&self) -> bool {
        matches!(*self.kind, Kind::Panic { .. })
    }

    /// Whether the task was cancelled before it started (by
    /// [`Task::cancel`](crate::Task::cancel), by `shutdown_now`, or by
    /// dropping a [`Map`](crate::Map)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = stealpool::ThreadPool::new(1).unwrap();
    /// let blocker = pool.submit(|| std::thread::sleep(Duration::from_millis(50)));
    /// let queued = pool.submit(|| 1);
    /// assert!(queued.cancel());
    /// assert!(queued.join().unwrap_err().is_cancelled());
    /// blocker.join().unwrap();
    /// ```
    #[doc(alias = "CancelledError")]
    pub fn is_cancelled(&self) -> bool {
        matches!(*self.kind, Kind::Cancelled)
    }

    /// Whether the task was submitted after its pool shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPool::new(1).unwrap();
    /// pool.shutdown();
    /// assert!(pool.submit(|| 1).join().unwrap_err().is_rejected());
    /// ```
    #[doc(alias = "BrokenExecutor")]
    pub fn is_rejected(&self) -> bool {
        matches!(*self.kind, Kind::Rejected)
    }

    /// Whether the worker process running the task exited, crashed or was
    /// killed before it reported an outcome, or the task could not get a
    /// worker at all (a process pool broken by failing start-ups). Process
    /// pools only: a thread pool's workers survive every panic.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPool::new(1).unwrap();
    /// let err = pool.submit(|| panic!("caught, not fatal")).join().unwrap_err();
    /// assert!(!err.is_worker_lost());
    /// ```
    #[doc(alias = "BrokenProcessPool")]
    pub fn is_worker_lost(&self) -> bool {
        matches!(*self.kind, Kind::WorkerLost(_))
    }

    /// Whether the task ran past its deadline (a process pool's
    /// `task_timeout`) and its worker process was killed.
    /// [`Task::wait_timeout`](crate::Task::wait_timeout) never causes this.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = stealpool::ThreadPool::new(1).unwrap();
    /// let task = pool.submit(|| std::thread::sleep(Duration::from_millis(20)));
    /// assert!(!task.wait_timeout(Duration::from_millis(1))); // only stops waiting
    /// assert!(task.join().is_ok());
    /// ```
    #[doc(alias = "TimeoutError")]
    pub fn is_timeout(&self) -> bool {
        matches!(*self.kind, Kind::Timeout(_))
    }

    /// Whether the task's arguments could not be serialized, or its result
    /// could not be deserialized (or was larger than a frame may be), on its
    /// way to or from a worker process.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPool::new(1).unwrap();
    /// pool.shutdown();
    /// assert!(!pool.submit(|| 1).join().unwrap_err().is_serialization());
    /// ```
    pub fn is_serialization(&self) -> bool {
        matches!(*self.kind, Kind::Serialization(_))
    }

    /// Returns the panic payload, e.g. for [`std::panic::resume_unwind`].
    ///
    /// # Panics
    ///
    /// If the error is not a panic ([`is_panic`](TaskError::is_panic) is false).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPool::new(1).unwrap();
    /// let err = pool.submit(|| std::panic::panic_any(42_u8)).join().unwrap_err();
    /// assert_eq!(err.into_panic().downcast_ref::<u8>(), Some(&42));
    /// ```
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self.try_into_panic() {
            Ok(payload) => payload,
            Err(err) => {
                panic!("TaskError::into_panic called on an error that is not a panic: {err}")
            }
        }
    }

    /// Returns the panic payload, or the error itself if it is not a panic.
    ///
    /// # Errors
    ///
    /// `Err(self)` if the task did not panic.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPool::new(1).unwrap();
    /// pool.shutdown();
    /// let err = pool.submit(|| 1).join().unwrap_err();
    /// assert!(err.try_into_panic().unwrap_err().is_rejected());
    /// ```
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, TaskError> {
        match *self.kind {
            Kind::Panic { payload, .. } => Ok(payload.0),
            kind => Err(TaskError {
                kind: Box::new(kind),
            }),
        }
    }

    /// The panic message, if the task panicked with a `&str` or `String`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = stealpool::ThreadPool::new(1).unwrap();
    /// let err = pool.submit(|| panic!("code {}", 7)).join().unwrap_err();
    /// assert_eq!(err.panic_message(), Some("code 7"));
    /// ```
    pub fn panic_message(&self) -> Option<&str> {
        match &*self.kind {
            Kind::Panic { message, .. } => message.as_deref(),
            _ => None,
        }
    }
}

/// The message of a panic payload that is a `&'static str` or a `String`.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> Option<String> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        Some((*s).to_owned())
    } else {
        payload.downcast_ref::<String>().cloned()
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.kind {
            Kind::Panic {
                message: Some(message),
                origin: Some(origin),
                ..
            } => write!(f, "task panicked in {origin}: {message}"),
            Kind::Panic {
                message: Some(message),
                ..
            } => write!(f, "task panicked: {message}"),
            Kind::Panic { message: None, .. } => f.write_str("task panicked"),
            Kind::Cancelled => f.write_str("task was cancelled before it started"),
            Kind::Rejected => f.write_str("task was rejected: the pool is shut down"),
            Kind::WorkerLost(detail) => write!(f, "task failed: {detail}"),
            Kind::Timeout(detail) => write!(f, "task timed out: {detail}"),
            Kind::Serialization(detail) => write!(f, "task failed to serialize: {detail}"),
        }
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.kind {
            Kind::Panic {
                message, origin, ..
            } => f
                .debug_struct("TaskError::Panic")
                .field("message", message)
                .field("origin", origin)
                .finish_non_exhaustive(),
            Kind::Cancelled => f.write_str("TaskError::Cancelled"),
            Kind::Rejected => f.write_str("TaskError::Rejected"),
            Kind::WorkerLost(detail) => f
                .debug_tuple("TaskError::WorkerLost")
                .field(detail)
                .finish(),
            Kind::Timeout(detail) => f.debug_tuple("TaskError::Timeout").field(detail).finish(),
            Kind::Serialization(detail) => f
                .debug_tuple("TaskError::Serialization")
                .field(detail)
                .finish(),
        }
    }
}

impl Error for TaskError {}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn assert_traits<T: Send + Sync + Error + 'static>() {}

    #[test]
    fn traits() {
        assert_traits::<TaskError>();
    }

    #[test]
    fn kinds_and_messages() {
        let err = TaskError::panic(Box::new(String::from("boom")));
        assert!(err.is_panic() && !err.is_cancelled() && !err.is_rejected());
        assert_eq!(err.to_string(), "task panicked: boom");
        assert_eq!(err.panic_message(), Some("boom"));
        assert!(format!("{err:?}").contains("boom"));
        assert_eq!(*err.into_panic().downcast::<String>().unwrap(), "boom");

        let err = TaskError::panic(Box::new(5_i32));
        assert_eq!(err.to_string(), "task panicked");
        assert_eq!(err.panic_message(), None);

        let err = TaskError::cancelled();
        assert!(err.is_cancelled());
        assert!(err.to_string().contains("cancelled"));
        let err = TaskError::rejected();
        assert!(err.is_rejected());
        assert!(err.to_string().contains("shut down"));
    }

    #[cfg(feature = "process")]
    #[test]
    fn process_kinds() {
        let err = TaskError::remote_panic("bad".into(), "worker process 7 at a.rs:1:2".into());
        assert!(err.is_panic() && !err.is_worker_lost());
        assert_eq!(
            err.to_string(),
            "task panicked in worker process 7 at a.rs:1:2: bad"
        );
        assert_eq!(*err.into_panic().downcast::<String>().unwrap(), "bad");
        let err = TaskError::worker_lost("worker process 7 was killed by signal 9 (SIGKILL)");
        assert!(err.is_worker_lost() && !err.is_panic() && !err.is_timeout());
        assert!(err.to_string().contains("SIGKILL"));
        let err = TaskError::timeout("ran past its 1s deadline");
        assert!(err.is_timeout() && !err.is_worker_lost());
        let err = TaskError::serialization("frame too large");
        assert!(err.is_serialization() && !err.is_rejected());
        assert!(err.to_string().contains("frame too large"));
    }

    #[test]
    #[should_panic(expected = "not a panic")]
    fn into_panic_of_cancelled_panics() {
        let _ = TaskError::cancelled().into_panic();
    }
}
