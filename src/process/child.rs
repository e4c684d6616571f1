//! One worker process as the parent sees it: spawning it, the handshake,
//! killing and reaping it.

use std::fmt;
use std::io;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::time::Duration;

use rustix::io::Errno;
use rustix::process::{kill_process, Pid as OsPid, Signal};

use super::wire::{self, FrameReader, ReadError, Reply, Request, ENV_PARENT, ENV_WORKER};
use crate::sync::{Arc, Instant, Mutex};

/// How long a new worker may take to say hello.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest handshake frame accepted.
const MAX_HELLO: usize = 4096;
/// The largest initializer reply accepted (it may carry a long panic message).
const MAX_INIT_REPLY: usize = 1 << 20;
/// How often a supervisor that waits on its worker (for a reply, or for
/// room in the request pipe) checks that the worker still runs: a worker
/// that died while a forked grandchild keeps its pipes open sends no end of
/// file, and takes no more bytes.
pub(crate) const LIVENESS_CHECK: Duration = Duration::from_millis(100);
/// How long a retiring worker may take to exit before it is killed.
const RETIRE_GRACE: Duration = Duration::from_secs(1);

impl Recipe {
    /// Opens `program` to be executed from the open file later (see
    /// [`executable`](Recipe::executable)); `None` if that is not possible.
    pub(crate) fn open_executable(program: &std::path::Path) -> Option<Arc<std::fs::File>> {
        if !cfg!(target_os = "linux") {
            return None;
        }
        let mut file = std::fs::File::open(program).ok()?;
        let mut magic = [0_u8; 2];
        let is_script = std::io::Read::read_exact(&mut file, &mut magic).is_ok() && magic == *b"#!";
        (!is_script).then(|| Arc::new(file))
    }

    /// The path to execute: the open file's, else the program's.
    fn exec_path(&self) -> std::path::PathBuf {
        match &self.executable {
            Some(file) => format!("/proc/self/fd/{}", file.as_raw_fd()).into(),
            None => self.program.clone(),
        }
    }
}

/// What a worker needs to start: the program, the expected registry, the
/// initializer request.
#[derive(Debug, Clone)]
pub(crate) struct Recipe {
    /// The executable to run, as the user named it (for messages, and as
    /// the worker's `argv[0]`).
    pub(crate) program: std::path::PathBuf,
    /// On Linux, the executable opened at `build()`: workers are started
    /// from this open file (`/proc/self/fd/N`), so that an upgrade that
    /// replaces or deletes the file, or a `chdir` after a relative
    /// `program`, does not break later respawns. `None` where it could not
    /// be opened, for a `#!` script (its interpreter would reopen the path),
    /// and off Linux: then the path is executed.
    pub(crate) executable: Option<Arc<std::fs::File>>,
    /// The parent's registry fingerprint.
    pub(crate) fingerprint: u64,
    /// The initializer: registry index and encoded argument.
    pub(crate) initializer: Option<(u32, Vec<u8>)>,
    /// How long the initializer may run (the pool's `task_timeout`); no
    /// limit if `None`.
    pub(crate) init_timeout: Option<Duration>,
}

/// Why a worker did not start.
#[derive(Debug)]
pub(crate) enum StartError {
    /// The OS could not start the program.
    Spawn(std::path::PathBuf, io::Error),
    /// The program did not answer the handshake: it does not call
    /// `bootstrap` first, or it crashed before.
    NoBootstrap(String),
    /// The program wrote text to its stdout before the handshake (libtest's
    /// harness does: "running 1 test"); the start of that text.
    WroteToStdout(String),
    /// The worker was built with another registry or protocol.
    Mismatch(String),
    /// The initializer failed.
    InitFailed(String),
    /// The pool was killed while the worker started.
    Killed,
    /// The supervising thread panicked before the worker started.
    SupervisorPanicked,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Spawn(program, err) => {
                write!(
                    f,
                    "cannot start worker program {}: {err}",
                    program.display()
                )
            }
            StartError::NoBootstrap(detail) => write!(
                f,
                "the worker program did not complete the handshake ({detail}); \
                 does its main call stealpool::process::bootstrap first?"
            ),
            StartError::WroteToStdout(text) => write!(
                f,
                "the worker program wrote to stdout before the handshake ({text:?}): \
                 libtest's harness does this, so a #[test] binary cannot serve as workers; \
                 use a `harness = false` test target whose main calls \
                 stealpool::process::bootstrap first, or point .program(..) at a binary \
                 that does (see the process module docs, \"Under cargo test\")"
            ),
            StartError::Mismatch(detail) => write!(f, "the worker was refused: {detail}"),
            StartError::InitFailed(detail) => {
                write!(f, "the worker's initializer failed: {detail}")
            }
            StartError::Killed => f.write_str("the pool was killed while the worker started"),
            StartError::SupervisorPanicked => {
                f.write_str("the supervising thread panicked before its worker started")
            }
        }
    }
}

/// A supervisor's published worker pid, so that other threads (`kill`) can
/// signal the worker without racing its reaping: the owner unpublishes the
/// pid under this lock before (or while) it reaps, so a signal never reaches
/// a reaped, possibly recycled pid.
#[derive(Debug)]
pub(crate) struct Pid(Mutex<PidState>);

impl Default for Pid {
    fn default() -> Pid {
        Pid(Mutex::new(PidState::Empty))
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum PidState {
    /// No live worker.
    #[default]
    Empty,
    /// This worker runs and is not reaped yet.
    Live(u32),
    /// `kill` was called: any worker published from now on is killed at
    /// once (one starting up while `kill` ran cannot escape it).
    Killed,
}

impl PidState {
    /// Forgets a live worker (about to be reaped); `Killed` stays.
    fn unpublish(&mut self) {
        if matches!(*self, PidState::Live(_)) {
            *self = PidState::Empty;
        }
    }
}

impl Pid {
    /// Publishes a new worker; `false` if `kill` was called meanwhile.
    fn publish(&self, pid: u32) -> bool {
        let mut state = self.0.lock();
        if *state == PidState::Killed {
            return false;
        }
        *state = PidState::Live(pid);
        true
    }

    /// Unpublishes the worker (before it is reaped).
    fn unpublish(&self) {
        self.0.lock().unpublish();
    }

    /// Sends SIGKILL to the published worker, if any, and kills any worker
    /// published later.
    pub(crate) fn kill(&self) {
        let mut state = self.0.lock();
        if let PidState::Live(pid) = *state {
            // The pid is not reaped (hence not recycled) while it is
            // published, and we hold the lock under which its owner
            // unpublishes it before reaping. A failure (it exited already)
            // needs nothing done.
            if let Some(pid) = i32::try_from(pid).ok().and_then(OsPid::from_raw) {
                let _ = kill_process(pid, Signal::KILL);
            }
        }
        *state = PidState::Killed;
    }

    /// Whether `kill` was called.
    pub(crate) fn is_killed(&self) -> bool {
        *self.0.lock() == PidState::Killed
    }
}

/// A live worker process and its two pipes. Dropped without being reaped
/// (a panic unwinding a supervisor), it kills and reaps the process, so no
/// zombie is ever left.
pub(crate) struct Child {
    process: std::process::Child,
    /// `None` once closed (a retiring worker exits on end of file).
    requests: Option<ChildStdin>,
    replies: FrameReader<ChildStdout>,
    pid: u32,
    /// Where the pid is published.
    published: Arc<Pid>,
    /// How it ended, once reaped.
    ended: Option<String>,
    /// Tasks run since it started.
    pub(crate) tasks_run: usize,
}

impl Child {
    /// Starts a worker, publishes its pid in `published` (for `kill`), and
    /// completes the handshake and the initializer.
    pub(crate) fn spawn(recipe: &Recipe, published: &Arc<Pid>) -> Result<Child, StartError> {
        let mut process = Command::new(recipe.exec_path())
            .arg0(&recipe.program)
            .env(ENV_WORKER, wire::VERSION.to_string())
            .env(ENV_PARENT, std::process::id().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|err| StartError::Spawn(recipe.program.clone(), err))?;
        let pid = process.id();
        let is_published = published.publish(pid);
        let requests = process.stdin.take().expect("piped stdin");
        // Written with deadlines and liveness checks (`send`): a write that
        // would block returns at once instead.
        let nonblocking = wire::set_nonblocking(requests.as_fd());
        let requests = Some(requests);
        let replies = FrameReader::new(process.stdout.take().expect("piped stdout"));
        let mut child = Child {
            process,
            requests,
            replies,
            pid,
            published: Arc::clone(published),
            ended: None,
            tasks_run: 0,
        };
        if !is_published {
            child.finish(true);
            return Err(StartError::Killed);
        }
        if let Err(err) = nonblocking {
            child.finish(true);
            return Err(StartError::Spawn(recipe.program.clone(), err));
        }
        match child.handshake(recipe) {
            Ok(()) => Ok(child),
            Err(err) => {
                child.finish(true);
                Err(err)
            }
        }
    }

    fn handshake(&mut self, recipe: &Recipe) -> Result<(), StartError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let no_hello = |err: ReadError| match err {
            ReadError::Closed => StartError::NoBootstrap("it exited or closed its stdout".into()),
            ReadError::TimedOut => StartError::NoBootstrap(format!(
                "no handshake within {} s",
                START_TIMEOUT.as_secs()
            )),
            ReadError::Invalid(_) => {
                StartError::NoBootstrap("it wrote something that is not a handshake".into())
            }
            ReadError::Io(err) => StartError::NoBootstrap(err.to_string()),
        };
        let hello = self.replies.recv::<Reply>(Some(deadline), MAX_HELLO);
        if !matches!(hello, Ok(Reply::Hello { .. })) {
            if let Some(text) = text_before_handshake(self.replies.pending()) {
                return Err(StartError::WroteToStdout(text));
            }
        }
        match hello {
            Ok(Reply::Hello {
                version,
                pid: _,
                fingerprint,
            }) => {
                if version != wire::VERSION {
                    return Err(StartError::Mismatch(format!(
                        "it speaks protocol {version}, the parent {}",
                        wire::VERSION
                    )));
                }
                if fingerprint != recipe.fingerprint {
                    return Err(StartError::Mismatch(
                        "it was built with a different registry (or is a different program)".into(),
                    ));
                }
            }
            Ok(_) => return Err(no_hello(ReadError::Invalid(String::new()))),
            Err(err) => return Err(no_hello(err)),
        }
        let Some((task, args)) = &recipe.initializer else {
            return Ok(());
        };
        let init = Request::Init {
            task: *task,
            args: args.clone(),
        };
        let deadline = recipe.init_timeout.and_then(deadline_after);
        let frame = wire::encode(&init)
            .map_err(|err| StartError::InitFailed(format!("its request cannot be sent: {err}")))?;
        self.send(&frame, deadline, &|| false).map_err(|err| {
            StartError::InitFailed(format!("it did not take the request: {}", err.describe()))
        })?;
        match self.replies.recv::<Reply>(deadline, MAX_INIT_REPLY) {
            Ok(Reply::Ready) => Ok(()),
            Ok(Reply::InitFailed(detail)) => Err(StartError::InitFailed(detail)),
            Ok(_) => Err(StartError::InitFailed("unexpected reply".into())),
            Err(ReadError::TimedOut) => Err(StartError::InitFailed(format!(
                "it did not finish within the task timeout ({:?})",
                recipe.init_timeout.unwrap_or_default()
            ))),
            Err(_) => Err(StartError::InitFailed(
                "the worker died while running it".into(),
            )),
        }
    }

    /// The worker's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Writes one encoded frame ([`wire::encode`]) to the worker, bounded
    /// three ways: by `deadline`, by the worker's life (checked whenever the
    /// pipe took nothing for [`LIVENESS_CHECK`]: a dead worker whose forked
    /// helper holds the pipe would block the write forever), and by
    /// `give_up`, asked at the same points. After an error the frame may
    /// be partly written: the worker must not be used again.
    pub(crate) fn send(
        &mut self,
        frame: &[u8],
        deadline: Option<Instant>,
        give_up: &dyn Fn() -> bool,
    ) -> Result<(), SendError> {
        let mut rest = frame;
        while !rest.is_empty() {
            let Some(requests) = &mut self.requests else {
                return Err(SendError::Gone);
            };
            match requests.write(rest) {
                Ok(n) => {
                    rest = &rest[n..];
                    continue;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                // EPIPE: nobody holds the read end any more.
                Err(_) => return Err(SendError::Gone),
            }
            let slice = Instant::now() + LIVENESS_CHECK;
            let until = deadline.map_or(slice, |deadline| deadline.min(slice));
            let ready =
                wire::wait_writable(requests.as_fd(), until).map_err(|_| SendError::Gone)?;
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Err(SendError::TimedOut);
            }
            if !ready {
                if self.try_reap().is_some() {
                    return Err(SendError::Gone);
                }
                if give_up() {
                    return Err(SendError::GaveUp);
                }
            }
        }
        Ok(())
    }

    /// Waits for the next reply until `deadline`.
    pub(crate) fn recv(&mut self, deadline: Option<Instant>) -> Result<Reply, ReadError> {
        self.replies.recv(deadline, wire::MAX_FRAME)
    }

    /// If the worker has exited, reaps it (unpublishing its pid in the same
    /// critical section) and says how it ended; it never blocks.
    pub(crate) fn try_reap(&mut self) -> Option<String> {
        if let Some(ended) = &self.ended {
            return Some(ended.clone());
        }
        let mut state = self.published.0.lock();
        let ended = match self.process.try_wait() {
            Ok(Some(status)) => describe(status),
            // With SIGCHLD ignored, the kernel reaps children itself as they
            // exit: the worker is gone, not running.
            Err(err) if is_no_child(&err) => REAPED_BY_THE_KERNEL.to_string(),
            Ok(None) | Err(_) => return None,
        };
        state.unpublish();
        self.ended = Some(ended.clone());
        Some(ended)
    }

    /// Kills (if `kill`) and reaps the worker, unpublishing its pid first;
    /// says how it ended. Idempotent.
    fn finish(&mut self, kill: bool) -> String {
        if let Some(ended) = &self.ended {
            return ended.clone();
        }
        // Not reaped yet, so the pid is still ours: safe to signal — unless
        // the kernel reaped it already (SIGCHLD ignored), which `try_reap`
        // finds without blocking; then the pid may be another process's.
        if let Some(ended) = self.try_reap() {
            self.requests = None;
            return ended;
        }
        if kill {
            let _ = self.process.kill();
        }
        self.published.unpublish();
        self.requests = None;
        let ended = match self.process.wait() {
            Ok(status) => describe(status),
            Err(err) if is_no_child(&err) => REAPED_BY_THE_KERNEL.to_string(),
            Err(err) => format!("could not be waited for: {err}"),
        };
        self.ended = Some(ended.clone());
        ended
    }

    /// Kills the worker (SIGKILL) and reaps it; says how it ended.
    pub(crate) fn kill_and_reap(mut self) -> String {
        self.finish(true)
    }

    /// Retires an idle worker: closes its request pipe (it exits on end of
    /// file) and reaps it, killing it if it has not exited within a second.
    pub(crate) fn retire(mut self) {
        self.requests = None;
        let deadline = Instant::now() + RETIRE_GRACE;
        while Instant::now() < deadline {
            if self.try_reap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.finish(true);
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.finish(true);
    }
}

/// The first line of `bytes`, if they read as text: what a program that
/// printed before the handshake wrote (a frame's header is a little-endian
/// length, whose bytes are rarely all printable).
fn text_before_handshake(bytes: &[u8]) -> Option<String> {
    /// The most of the text quoted in the error.
    const QUOTE: usize = 60;
    let bytes = &bytes[..bytes.len().min(4 * QUOTE)];
    // A cut may split a character: decode the valid prefix only.
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => std::str::from_utf8(&bytes[..err.valid_up_to()]).ok()?,
    };
    if text.trim().is_empty()
        || text
            .chars()
            .any(|c| c.is_control() && !c.is_ascii_whitespace())
    {
        return None;
    }
    let line = text.lines().map(str::trim).find(|line| !line.is_empty())?;
    Some(line.chars().take(QUOTE).collect())
}

/// How a worker ended that the kernel reaped before we could (the parent
/// ignores SIGCHLD): its exit status is lost.
const REAPED_BY_THE_KERNEL: &str = "exited (its status is unknown: SIGCHLD is ignored, so the \
     kernel reaped it)";

/// Whether `err` is `ECHILD`: the process is not (or no longer) our child
/// to wait for; with SIGCHLD ignored, that means it exited.
fn is_no_child(err: &io::Error) -> bool {
    err.raw_os_error() == Some(Errno::CHILD.raw_os_error())
}

/// Describes how a process ended.
fn describe(status: ExitStatus) -> String {
    if let Some(signal) = status.signal() {
        format!("was killed by signal {signal} ({})", signal_name(signal))
    } else if let Some(code) = status.code() {
        format!("exited with code {code}")
    } else {
        format!("ended ({status})")
    }
}

fn signal_name(signal: i32) -> &'static str {
    match Signal::from_named_raw(signal) {
        Some(Signal::ABORT) => "SIGABRT",
        Some(Signal::SEGV) => "SIGSEGV",
        Some(Signal::KILL) => "SIGKILL",
        Some(Signal::BUS) => "SIGBUS",
        Some(Signal::ILL) => "SIGILL",
        Some(Signal::FPE) => "SIGFPE",
        Some(Signal::TERM) => "SIGTERM",
        Some(Signal::INT) => "SIGINT",
        Some(Signal::PIPE) => "SIGPIPE",
        _ => "signal",
    }
}

/// Why a request did not reach the worker ([`Child::send`]).
#[derive(Debug)]
pub(crate) enum SendError {
    /// The worker is gone, or its pipe is.
    Gone,
    /// The deadline passed before the worker took the whole request.
    TimedOut,
    /// The caller gave up (the pool stopped its queued work).
    GaveUp,
}

impl SendError {
    /// What happened, for a message.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            SendError::Gone => "the worker is gone",
            SendError::TimedOut => "the deadline passed first",
            SendError::GaveUp => "the pool stopped",
        }
    }
}

/// The deadline `timeout` from now; `None` (no limit) if it is too far
/// ahead for an `Instant` (`task_timeout(Duration::MAX)`).
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}
