//! The worker side: [`bootstrap`] and the loop a worker process runs.

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::os::fd::{FromRawFd, RawFd};
use std::panic::{self, AssertUnwindSafe};

use super::registry::Registry;
use super::wire::{
    self, FrameReader, ReadError, RemoteError, Reply, Request, MAX_FRAME, MAX_RESULT,
};
use crate::task::panic_message;

/// Set in a worker's environment (to the protocol version): "you are a
/// worker". Removed at once, so that pools built inside a task start
/// their own workers normally.
pub(crate) const ENV_WORKER: &str = "STEALPOOL_PROCESS_WORKER";
/// Set in a worker's environment: the parent's process id.
pub(crate) const ENV_PARENT: &str = "STEALPOOL_PROCESS_PARENT";

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

/// The worker's private ends of the two pipes.
struct Channel {
    requests: FrameReader<File>,
    replies: File,
}

/// Duplicates `fd` to a new close-on-exec descriptor.
fn dup_private(fd: RawFd) -> io::Result<File> {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) only reads its integer arguments.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` is a descriptor we just created and own alone.
    Ok(unsafe { File::from_raw_fd(new) })
}

/// `dup2(from, to)`.
fn redirect(from: RawFd, to: RawFd) -> io::Result<()> {
    // SAFETY: dup2 only reads its integer arguments; `to` is a standard
    // descriptor whose previous file we deliberately replace.
    if unsafe { libc::dup2(from, to) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Channel {
    /// Moves the protocol off stdin/stdout to private descriptors, then
    /// points stdin at `/dev/null` and stdout at stderr, so that a task that
    /// reads stdin or prints cannot corrupt a frame.
    fn take_stdio() -> io::Result<Channel> {
        let requests = dup_private(0)?;
        let replies = dup_private(1)?;
        let null = File::open("/dev/null")?;
        redirect(std::os::fd::AsRawFd::as_raw_fd(&null), 0)?;
        redirect(2, 1)?;
        Ok(Channel {
            requests: FrameReader::new(requests),
            replies,
        })
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
        if wire::send(&mut self.replies, &hello).is_err() {
            return EXIT_PROTOCOL;
        }
        loop {
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
                    let reply = match run(registry, task, &args) {
                        Ok(_) => Reply::Ready,
                        Err(err) => Reply::InitFailed(describe(registry, task, &err)),
                    };
                    let failed = matches!(reply, Reply::InitFailed(_));
                    if wire::send(&mut self.replies, &reply).is_err() || failed {
                        return if failed {
                            EXIT_INIT_FAILED
                        } else {
                            EXIT_PROTOCOL
                        };
                    }
                }
                Request::Run { task, items } => {
                    for args in items {
                        let reply = Reply::Item(run(registry, task, &args));
                        if wire::send(&mut self.replies, &reply).is_err() {
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
    LAST_PANIC_LOCATION.with(|slot| slot.borrow_mut().take());
    let result = match panic::catch_unwind(AssertUnwindSafe(|| entry.call(args))) {
        Ok(result) => result,
        Err(payload) => Err(RemoteError::Panic {
            message: panic_message(&*payload)
                .unwrap_or_else(|| "a panic whose payload is not a string".to_owned()),
            location: LAST_PANIC_LOCATION.with(|slot| slot.borrow_mut().take()),
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

thread_local! {
    /// Where the last panic on this thread happened (set by the hook).
    static LAST_PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Records each panic's location for the reply, then lets the previous hook
/// print it (to stderr, which is the parent's).
fn install_panic_hook() {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if let Some(location) = info.location() {
            let text = format!(
                "{}:{}:{}",
                location.file(),
                location.line(),
                location.column()
            );
            LAST_PANIC_LOCATION.with(|slot| *slot.borrow_mut() = Some(text));
        }
        previous(info);
    }));
}

/// Asks the kernel to kill this worker when the thread that spawned it (a
/// pool's slot thread, which lives as long as the pool) exits, and exits
/// at once if the parent is already gone. An idle worker also exits when
/// its request pipe closes, which covers other Unixes.
fn die_with_parent(parent: Option<u32>) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: prctl(PR_SET_PDEATHSIG) takes plain integers.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
        }
    }
    if let Some(parent) = parent {
        // SAFETY: getppid has no preconditions.
        let actual = unsafe { libc::getppid() };
        if u32::try_from(actual).ok() != Some(parent) {
            std::process::exit(EXIT_PROTOCOL);
        }
    }
}
