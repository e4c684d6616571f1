//! The worker side: [`bootstrap`] and the loop a worker process runs.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::panic::{self, AssertUnwindSafe};

use super::registry::Registry;
use super::wire::{
    self, FrameReader, ReadError, RemoteError, Reply, Request, ENV_PARENT, ENV_WORKER, MAX_FRAME,
    MAX_RESULT,
};
use crate::task::panic_message;

/// The exit code of a worker whose initializer failed.
const EXIT_INIT_FAILED: i32 = 3;
/// The exit code of a worker that could not speak to its parent.
const EXIT_PROTOCOL: i32 = 4;

/// Must be the first statement of `main` in any program that builds a
/// [`ProcessPool`](super::ProcessPool) (or serves as one's `program`).
///
/// In the parent it checks one environment variable and returns. In a
/// worker process (started by a pool, with that variable set) it runs the
/// worker loop and never returns: the process exits when its parent closes
/// the pipe or dies. Code before the call runs in every worker too.
///
/// `registry` must be the table the pool was built with; a worker whose
/// table differs is refused by the handshake.
///
/// # Examples
///
/// ```
/// fn square(x: u64) -> u64 {
///     x * x
/// }
/// static TASKS: stealpool::process::Registry = stealpool::registry![square];
///
/// fn main() {
///     stealpool::process::bootstrap(&TASKS); // a worker never gets past this line
///     let pool = stealpool::ProcessPool::builder(&TASKS).num_workers(1).build().unwrap();
///     assert_eq!(pool.submit(stealpool::remote!(square), 12).join().unwrap(), 144);
/// }
/// ```
pub fn bootstrap(registry: &'static Registry) {
    if std::env::var_os(ENV_WORKER).is_none() {
        return;
    }
    // Single-threaded here (first line of `main`), so changing the
    // environment races with nothing.
    std::env::remove_var(ENV_WORKER);
    let parent = std::env::var(ENV_PARENT)
        .ok()
        .and_then(|p| p.parse::<u32>().ok());
    std::env::remove_var(ENV_PARENT);
    let code = match Channel::take_stdio() {
        Ok(channel) => channel.serve(registry, parent),
        Err(err) => {
            eprintln!(
                "stealpool worker {}: cannot set up its pipes: {err}",
                std::process::id()
            );
            EXIT_PROTOCOL
        }
    };
    std::process::exit(code);
}

/// The worker's private ends of the two pipes, and what each descriptor
/// must still be before the worker reads or writes it.
struct Channel {
    requests: FrameReader<File>,
    replies: File,
    /// The request pipe: its descriptor and identity.
    requests_id: FdIdentity,
    /// The reply pipe: its descriptor and identity.
    replies_id: FdIdentity,
}

/// A descriptor and the file it was opened on (device and inode), to tell
/// whether a task closed it and something else now has the number.
#[derive(Clone, Copy, PartialEq, Eq)]
struct FdIdentity {
    fd: RawFd,
    dev: u64,
    ino: u64,
}

impl FdIdentity {
    /// What `file`'s descriptor refers to now, if it is open.
    fn of(file: impl AsFd) -> Option<FdIdentity> {
        let fd = file.as_fd();
        let stat = rustix::fs::fstat(fd).ok()?;
        Some(FdIdentity {
            fd: fd.as_raw_fd(),
            // `dev_t` and `ino_t` are at most 64 bits wide on every Unix.
            #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
            dev: stat.st_dev as u64,
            #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
            ino: stat.st_ino as u64,
        })
    }

    /// Whether `file`'s descriptor still refers to the same file: a task
    /// that closed it (daemon-style code closes every descriptor) and opened
    /// a file that got the same number must not receive a protocol frame.
    fn still_ours(self, file: impl AsFd) -> bool {
        FdIdentity::of(file) == Some(self)
    }
}

/// The lowest descriptor the protocol may use: far above the low numbers
/// that daemon-style code closes and reuses (0..=10 and the like), and
/// within the descriptor limit.
fn protocol_fd_floor() -> RawFd {
    // `None`: no limit (RLIM_INFINITY). getrlimit cannot fail for
    // RLIMIT_NOFILE, so rustix returns the value directly.
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    let half = RawFd::try_from(soft / 2).unwrap_or(RawFd::MAX);
    half.clamp(3, 1000)
}

/// Duplicates `fd` to a new close-on-exec descriptor at `floor` or above.
fn dup_private(fd: impl AsFd, floor: RawFd) -> io::Result<File> {
    let new: OwnedFd = rustix::io::fcntl_dupfd_cloexec(fd, floor)?;
    Ok(File::from(new))
}

impl Channel {
    /// Moves the protocol off stdin/stdout to private descriptors, then
    /// points stdin at `/dev/null` and stdout at stderr, so that a task that
    /// reads stdin or prints cannot corrupt a frame.
    fn take_stdio() -> io::Result<Channel> {
        let floor = protocol_fd_floor();
        let requests = dup_private(io::stdin(), floor)?;
        let replies = dup_private(io::stdout(), floor)?;
        let identity = |file: &File| {
            FdIdentity::of(file).ok_or_else(|| io::Error::other("a protocol descriptor vanished"))
        };
        let (requests_id, replies_id) = (identity(&requests)?, identity(&replies)?);
        let null = File::open("/dev/null")?;
        rustix::stdio::dup2_stdin(&null)?;
        rustix::stdio::dup2_stdout(io::stderr())?;
        Ok(Channel {
            requests: FrameReader::new(requests),
            replies,
            requests_id,
            replies_id,
        })
    }

    /// Sends `reply` unless a task took the reply descriptor over (then the
    /// channel is broken: `false`, and nothing is written).
    fn send(&mut self, reply: &Reply) -> bool {
        self.replies_id.still_ours(&self.replies) && wire::send(&mut self.replies, reply).is_ok()
    }

    /// The worker loop; returns the exit code.
    fn serve(mut self, registry: &'static Registry, parent: Option<u32>) -> i32 {
        die_with_parent(parent);
        install_panic_hook();
        let hello = Reply::Hello {
            version: wire::VERSION,
            pid: std::process::id(),
            fingerprint: registry.fingerprint(),
        };
        if !self.send(&hello) {
            return EXIT_PROTOCOL;
        }
        loop {
            if !self.requests_id.still_ours(self.requests.source()) {
                // A task closed the request pipe (and maybe opened a file
                // on its number): reading would consume the user's file.
                return EXIT_PROTOCOL;
            }
            let request = match self.requests.recv::<Request>(None, MAX_FRAME) {
                Ok(request) => request,
                // The parent closed the pipe (shutdown, or it died): done.
                Err(ReadError::Closed) => return 0,
                Err(err) => {
                    eprintln!(
                        "stealpool worker {}: bad request: {err:?}",
                        std::process::id()
                    );
                    return EXIT_PROTOCOL;
                }
            };
            match request {
                Request::Init { task, args } => {
                    let reply = match running(Running::Initializer, || run(registry, task, &args)) {
                        Ok(_) => Reply::Ready,
                        Err(err) => Reply::InitFailed(describe(registry, task, &err)),
                    };
                    let failed = matches!(reply, Reply::InitFailed(_));
                    if !self.send(&reply) || failed {
                        return if failed {
                            EXIT_INIT_FAILED
                        } else {
                            EXIT_PROTOCOL
                        };
                    }
                }
                Request::Run { task, items } => {
                    for args in items {
                        let reply =
                            Reply::Item(running(Running::Task, || run(registry, task, &args)));
                        if !self.send(&reply) {
                            return EXIT_PROTOCOL;
                        }
                    }
                }
            }
        }
    }
}

/// Runs registered function `task` on encoded `args`, catching a panic.
fn run(registry: &Registry, task: u32, args: &[u8]) -> Result<Vec<u8>, RemoteError> {
    let Some(entry) = registry.entry(task) else {
        return Err(RemoteError::UnknownTask(task));
    };
    LAST_PANIC_LOCATION.with(|last| last.borrow_mut().take());
    let result = match panic::catch_unwind(AssertUnwindSafe(|| entry.call(args))) {
        Ok(result) => result,
        Err(payload) => Err(RemoteError::Panic {
            message: panic_message(&*payload)
                .unwrap_or_else(|| "a panic whose payload is not a string".to_owned()),
            location: LAST_PANIC_LOCATION.with(|last| last.borrow_mut().take()),
        }),
    };
    match result {
        Ok(bytes) if bytes.len() > MAX_RESULT => Err(RemoteError::BadResult(format!(
            "the encoded result is {} bytes, over the {MAX_RESULT} byte limit for a result",
            bytes.len()
        ))),
        other => other,
    }
}

/// A one-line description of an initializer failure.
fn describe(registry: &Registry, task: u32, err: &RemoteError) -> String {
    let name = registry.entry(task).map_or("?", |entry| entry.name());
    match err {
        RemoteError::Panic {
            message,
            location: Some(location),
        } => format!("initializer {name} panicked at {location}: {message}"),
        RemoteError::Panic { message, .. } => format!("initializer {name} panicked: {message}"),
        RemoteError::BadArgs(detail) | RemoteError::BadResult(detail) => {
            format!("initializer {name}: {detail}")
        }
        RemoteError::UnknownTask(index) => format!("no initializer at index {index}"),
    }
}

/// What the worker loop's thread is running, for the panic report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Running {
    /// A task: its panic fails the task, and the worker goes on.
    Task,
    /// The pool's initializer: its panic fails the worker's start.
    Initializer,
}

thread_local! {
    /// Where the last panic on this thread happened (set by the hook).
    static LAST_PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
    /// What the worker loop runs now; `None` on other threads (a thread a
    /// task spawned) and between calls.
    static RUNNING: Cell<Option<Running>> = const { Cell::new(None) };
}

/// Runs registered function `task` on encoded `args` as a task (a panic is
/// reported as the task's): the MPI pool's worker ranks call this.
#[cfg(feature = "mpi")]
pub(crate) fn run_task(
    registry: &Registry,
    task: u32,
    args: &[u8],
) -> Result<Vec<u8>, RemoteError> {
    running(Running::Task, || run(registry, task, args))
}

/// Runs `f` with [`RUNNING`] set to `what`.
fn running<R>(what: Running, f: impl FnOnce() -> R) -> R {
    RUNNING.with(|running| running.set(Some(what)));
    let result = f();
    RUNNING.with(|running| running.set(None));
    result
}

/// Records each panic's location for the reply, and reports the panic on
/// stderr (the parent's terminal) as the worker's, not as `thread 'main'
/// panicked`, which reads as if the parent had crashed. (The MPI pool's
/// worker ranks install it too.)
pub(crate) fn install_panic_hook() {
    panic::set_hook(Box::new(|info| {
        let location = info.location().map(|location| {
            format!(
                "{}:{}:{}",
                location.file(),
                location.line(),
                location.column()
            )
        });
        if let Some(location) = &location {
            LAST_PANIC_LOCATION.with(|last| *last.borrow_mut() = Some(location.clone()));
        }
        let thread = std::thread::current();
        let report = panic_report(
            std::process::id(),
            RUNNING.with(Cell::get),
            thread.name(),
            location.as_deref(),
            panic_message(info.payload()).as_deref(),
        );
        // As the default hook: a backtrace when RUST_BACKTRACE asks for one.
        let backtrace = Backtrace::capture();
        if backtrace.status() == BacktraceStatus::Captured {
            eprintln!("{report}\n{backtrace}");
        } else {
            eprintln!("{report}");
        }
    }));
}

/// The line a worker prints for a panic: its pid, what panicked, where, the
/// message, and what becomes of it.
fn panic_report(
    pid: u32,
    running: Option<Running>,
    thread: Option<&str>,
    location: Option<&str>,
    message: Option<&str>,
) -> String {
    let at = location.map_or_else(String::new, |location| format!(" at {location}"));
    let message = message.unwrap_or("a panic whose payload is not a string");
    match running {
        Some(Running::Task) => format!(
            "stealpool worker process {pid}: a task panicked{at}: {message} \
             (the task fails with is_panic(); the pool goes on)"
        ),
        Some(Running::Initializer) => format!(
            "stealpool worker process {pid}: the initializer panicked{at}: {message} \
             (this worker does not start; the pool reports why)"
        ),
        None => format!(
            "stealpool worker process {pid}: thread '{}' panicked{at}: {message}",
            thread.unwrap_or("<unnamed>")
        ),
    }
}

/// Asks the kernel to kill this worker when the thread that spawned it (a
/// pool's supervisor, which lives as long as the pool) exits, and exits
/// at once if the parent is already gone. An idle worker also exits when
/// its request pipe closes, which covers other Unixes.
fn die_with_parent(parent: Option<u32>) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // Best effort, as before: the pipe's end of file covers a failure.
        let _ =
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    }
    if let Some(parent) = parent {
        if std::os::unix::process::parent_id() != parent {
            std::process::exit(EXIT_PROTOCOL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{panic_report, Running};

    #[test]
    fn panic_report_names_the_worker_and_the_outcome() {
        assert_eq!(
            panic_report(
                1234,
                Some(Running::Task),
                Some("main"),
                Some("src/x.rs:3:5"),
                Some("boom")
            ),
            "stealpool worker process 1234: a task panicked at src/x.rs:3:5: boom \
             (the task fails with is_panic(); the pool goes on)"
        );
        let init = panic_report(7, Some(Running::Initializer), None, None, None);
        assert!(init.starts_with("stealpool worker process 7: the initializer panicked: a panic"));
        let other = panic_report(7, None, Some("helper"), Some("a.rs:1:1"), Some("x"));
        assert_eq!(
            other,
            "stealpool worker process 7: thread 'helper' panicked at a.rs:1:1: x"
        );
    }
}
