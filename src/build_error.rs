//! [`BuildError`]: why a pool could not be built. Both pools use it, so it
//! lives below both.

use std::error::Error;
use std::fmt;
use std::io;

/// Why building a pool failed: a bad option, an OS refusal to start a thread
/// or a process, or a panicking `on_thread_start` hook. Nothing of the failed
/// pool is left running.
///
/// # Examples
///
/// ```
/// let err = stealpool::ThreadPool::new(0).unwrap_err();
/// assert!(err.to_string().contains("at least one thread"));
/// ```
pub struct BuildError {
    kind: Kind,
}

enum Kind {
    /// `num_threads(0)`.
    ZeroThreads,
    /// The OS refused to start worker thread `index`.
    Spawn { index: usize, source: io::Error },
    /// `on_thread_start` panicked on worker `index`.
    StartHookPanicked {
        index: usize,
        message: Option<String>,
    },
    /// `build_global` found the global pool built already.
    GlobalExists,
    /// Any other refusal, described in full by its message (a bad option or
    /// a worker process that did not start).
    #[cfg(feature = "process")]
    Described(String),
}

impl BuildError {
    /// `num_threads(0)`.
    pub(crate) fn zero_threads() -> BuildError {
        BuildError {
            kind: Kind::ZeroThreads,
        }
    }

    /// The OS refused to start worker thread `index`.
    pub(crate) fn spawn(index: usize, source: io::Error) -> BuildError {
        BuildError {
            kind: Kind::Spawn { index, source },
        }
    }

    /// `on_thread_start` panicked on worker `index`, with this message if the
    /// payload was a string.
    pub(crate) fn start_hook_panicked(index: usize, message: Option<String>) -> BuildError {
        BuildError {
            kind: Kind::StartHookPanicked { index, message },
        }
    }

    /// `build_global` found the global pool built already.
    pub(crate) fn global_exists() -> BuildError {
        BuildError {
            kind: Kind::GlobalExists,
        }
    }

    /// A failure that `message` describes in full.
    #[cfg(feature = "process")]
    pub(crate) fn described(message: impl Into<String>) -> BuildError {
        BuildError {
            kind: Kind::Described(message.into()),
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::ZeroThreads => {
                f.write_str("a thread pool needs at least one thread (num_threads was 0)")
            }
            Kind::Spawn { index, source } => {
                write!(f, "the OS refused to start worker thread {index}: {source}")
            }
            Kind::StartHookPanicked {
                index,
                message: Some(message),
            } => write!(f, "on_thread_start panicked on worker {index}: {message}"),
            Kind::StartHookPanicked {
                index,
                message: None,
            } => write!(f, "on_thread_start panicked on worker {index}"),
            Kind::GlobalExists => f.write_str(
                "the global pool already exists (built on first use by a free function \
                 such as submit or join, or by an earlier build_global)",
            ),
            #[cfg(feature = "process")]
            Kind::Described(message) => f.write_str(message),
        }
    }
}

impl fmt::Debug for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BuildError({self})")
    }
}

impl Error for BuildError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.kind {
            Kind::Spawn { source, .. } => Some(source),
            _ => None,
        }
    }
}
