//! The wire between the parent and a worker: length-prefixed frames on a
//! pipe pair, each holding one postcard-encoded message.
//!
//! A frame is a `u32` little-endian length, then that many bytes. The length
//! is checked against [`MAX_FRAME`] before anything is allocated, so a
//! corrupt or hostile length fails one read instead of the process. User
//! data (arguments, results) travels as opaque bytes inside the envelope, so
//! the envelope always decodes even when user data does not.
//!
//! The protocol is strictly request/reply: the parent writes one request
//! only to an idle worker, and reads every reply to it before writing again,
//! so neither side ever blocks writing into a pipe the other is not reading.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec};
use serde::{Deserialize, Serialize};

use crate::sync::spin::yield_until;
use crate::sync::Instant;

/// The largest frame either side sends or accepts: 256 MiB.
pub(crate) const MAX_FRAME: usize = 256 << 20;

/// Room in a frame for the envelope around user bytes: the message's tag,
/// the task index, the outcome's tag and the lengths (postcard varints).
const ENVELOPE: usize = 64;

/// Room per item of a `Run` request for that item's length prefix.
pub(crate) const PER_ITEM: usize = 16;

/// The user bytes one frame carries: one result in a reply, or the
/// arguments of a request's items with [`PER_ITEM`] each.
pub(crate) const MAX_PAYLOAD: usize = MAX_FRAME - ENVELOPE;

/// The largest encoded result a worker sends back.
pub(crate) const MAX_RESULT: usize = MAX_PAYLOAD;

/// The largest encoded argument of one call.
pub(crate) const MAX_ARGS: usize = MAX_PAYLOAD - PER_ITEM;

/// The reader's usual buffer: what one `read` of a pipe returns at most.
const READ_BUF: usize = 64 * 1024;

/// How long a reader watches its pipe, giving the CPU away between looks,
/// before it sleeps in the kernel. Both sides use it: the parent's supervisor
/// waiting for a reply and the worker waiting for its next request.
/// A round trip then needs no wake-up of a sleeping reader, and a peer that
/// the kernel queued on this reader's CPU runs at once (docs/benchmarks.md,
/// "Process pool round trip": without it, 3 runs in 10 took 70–90 µs
/// instead of 9 µs).
const READ_SPIN: Duration = Duration::from_micros(50);

/// Set in a worker's environment (to the protocol version): "you are a
/// worker". The worker removes it at once, so that pools built inside a
/// task start their own workers normally.
pub(crate) const ENV_WORKER: &str = "STEALPOOL_PROCESS_WORKER";

/// Set in a worker's environment: the parent's process id.
pub(crate) const ENV_PARENT: &str = "STEALPOOL_PROCESS_PARENT";

/// The protocol version; a worker speaking another one is refused.
pub(crate) const VERSION: u32 = 1;

/// Parent → worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    /// Run the registered initializer `task` with `args`, then reply
    /// [`Reply::Ready`] or [`Reply::InitFailed`].
    Init {
        /// Index in the registry.
        task: u32,
        /// The encoded argument.
        args: Vec<u8>,
    },
    /// Run registered function `task` once per item, replying
    /// [`Reply::Item`] after each.
    Run {
        /// Index in the registry.
        task: u32,
        /// The encoded arguments, one per call.
        items: Vec<Vec<u8>>,
    },
}

/// Worker → parent.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Reply {
    /// The first frame a worker sends.
    Hello {
        /// [`VERSION`].
        version: u32,
        /// The worker's process id.
        pid: u32,
        /// The worker's registry fingerprint.
        fingerprint: u64,
    },
    /// The initializer succeeded.
    Ready,
    /// The initializer failed (the message says how); the worker exits.
    InitFailed(String),
    /// The outcome of one item of a [`Request::Run`].
    Item(Result<Vec<u8>, RemoteError>),
}

/// Why a registered function produced no result, on the worker's side.
#[derive(Debug, Serialize, Deserialize)]
#[doc(hidden)]
pub enum RemoteError {
    /// It panicked.
    Panic {
        /// The panic message (or a placeholder if it was not a string).
        message: String,
        /// `file:line:column`, if known.
        location: Option<String>,
    },
    /// Its arguments did not decode.
    BadArgs(String),
    /// Its result did not encode (or was too large for a frame).
    BadResult(String),
    /// No function has that index in the worker's registry.
    UnknownTask(u32),
}

/// The bytes before each frame's payload: its length, a little-endian `u32`.
const HEADER: usize = 4;

/// Encodes `message` as one whole frame (its length, then the payload). An
/// over-limit frame is an `InvalidInput` error that says the limit.
pub(crate) fn encode<M: Serialize>(message: &M) -> io::Result<Vec<u8>> {
    let mut frame = postcard::to_extend(message, vec![0; HEADER])
        .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
    let len = frame.len() - HEADER;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a {len} byte frame is over the {MAX_FRAME} byte limit"),
        ));
    }
    let len = u32::try_from(len).expect("MAX_FRAME fits in u32");
    frame[..HEADER].copy_from_slice(&len.to_le_bytes());
    Ok(frame)
}

/// Encodes `message` and writes the frame with one blocking `write_all` (one
/// system call when the pipe takes it whole): the worker's side, whose
/// reader, the parent, always reads. An over-limit frame is an
/// `InvalidInput` error and nothing is written.
pub(crate) fn send<M: Serialize>(out: &mut impl Write, message: &M) -> io::Result<()> {
    out.write_all(&encode(message)?)
}

/// Waits until `fd` takes more bytes, or has no reader left (then the next
/// write fails), or `until` passes; `Ok(false)` on the timeout.
pub(crate) fn wait_writable(fd: BorrowedFd<'_>, until: Instant) -> io::Result<bool> {
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match poll_one(fd, PollFlags::OUT, left) {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// Makes `fd` non-blocking: a write takes what the pipe has room for and
/// never waits (the parent's end of a request pipe, written with deadlines).
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(fd)?;
    rustix::fs::fcntl_setfl(fd, flags | rustix::fs::OFlags::NONBLOCK)?;
    Ok(())
}

/// Polls `fd` alone for `events`, for at most `timeout` (zero: just look);
/// whether it is ready (or has an error or hang-up to report).
fn poll_one(fd: BorrowedFd<'_>, events: PollFlags, timeout: Duration) -> io::Result<bool> {
    // A timeout past what a `timespec` holds is "very long", not an error.
    let timeout = Timespec::try_from(timeout).unwrap_or(Timespec {
        tv_sec: i64::MAX,
        tv_nsec: 0,
    });
    let mut fds = [PollFd::from_borrowed_fd(fd, events)];
    Ok(rustix::event::poll(&mut fds, Some(&timeout))? > 0)
}

/// Why a frame could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The other side closed its end (at a frame boundary or not).
    Closed,
    /// The deadline passed first.
    TimedOut,
    /// The frame is not a valid message, or is over the size limit.
    Invalid(String),
    /// The pipe failed.
    Io(io::Error),
}

/// Reads frames from a pipe, buffering what one `read` returns, and waiting
/// no longer than a deadline for each.
pub(crate) struct FrameReader<R> {
    source: R,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
}

impl<R: Read + AsFd> FrameReader<R> {
    /// A reader of `source`.
    pub(crate) fn new(source: R) -> Self {
        FrameReader {
            source,
            buf: vec![0; READ_BUF],
            start: 0,
            end: 0,
        }
    }

    /// What it reads from (the worker checks its descriptor is still the
    /// request pipe).
    pub(crate) fn source(&self) -> &R {
        &self.source
    }

    /// The bytes read but not yet consumed (the start of what the other side
    /// wrote, after a frame that did not decode).
    pub(crate) fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Reads and decodes the next message, waiting until `deadline` at most
    /// (forever if `None`); frames over `max` bytes are refused unread.
    pub(crate) fn recv<M: for<'de> Deserialize<'de>>(
        &mut self,
        deadline: Option<Instant>,
        max: usize,
    ) -> Result<M, ReadError> {
        self.fill(HEADER, deadline)?;
        let header: [u8; HEADER] = self.buf[self.start..self.start + HEADER]
            .try_into()
            .expect("a whole header");
        let len = u32::from_le_bytes(header) as usize;
        if len > max {
            return Err(ReadError::Invalid(format!(
                "a {len} byte frame is over the {max} byte limit"
            )));
        }
        self.fill(HEADER + len, deadline)?;
        let payload = &self.buf[self.start + HEADER..self.start + HEADER + len];
        let message = postcard::from_bytes(payload)
            .map_err(|err| ReadError::Invalid(format!("a frame did not decode: {err}")));
        self.start += HEADER + len;
        if self.start == self.end && self.buf.len() > 4 * READ_BUF {
            // A large frame passed: give its buffer back.
            self.buf = vec![0; READ_BUF];
            self.start = 0;
            self.end = 0;
        }
        message
    }

    /// Makes `need` unconsumed bytes available.
    fn fill(&mut self, need: usize, deadline: Option<Instant>) -> Result<(), ReadError> {
        if self.end - self.start >= need {
            return Ok(());
        }
        // Compact, then grow to fit the whole frame.
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
        while self.end < need {
            yield_until(READ_SPIN, deadline, || readable_now(self.source.as_fd()));
            if let Some(deadline) = deadline {
                wait_readable(self.source.as_fd(), deadline)?;
            }
            match self.source.read(&mut self.buf[self.end..]) {
                Ok(0) => return Err(ReadError::Closed),
                Ok(n) => self.end += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(ReadError::Io(err)),
            }
        }
        Ok(())
    }
}

/// Whether a read of `fd` would not block now (data, end of file or error).
fn readable_now(fd: BorrowedFd<'_>) -> bool {
    // An error (EINTR included) counts as ready: the read that follows
    // reports or retries it.
    poll_one(fd, PollFlags::IN, Duration::ZERO).unwrap_or(true)
}

/// Blocks until `fd` is readable (data or end of file) or `deadline` passes.
/// It looks at `fd` at least once, even with the deadline already past, so
/// that data already there is never reported as a timeout.
fn wait_readable(fd: BorrowedFd<'_>, deadline: Instant) -> Result<(), ReadError> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match poll_one(fd, PollFlags::IN, left) {
            Ok(true) => return Ok(()),
            Ok(false) if left.is_zero() => return Err(ReadError::TimedOut),
            Ok(false) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(ReadError::Io(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    #[test]
    fn frames_round_trip_and_split_reads_reassemble() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let mut reader = FrameReader::new(b);
        send(&mut a, &Reply::Ready).unwrap();
        send(&mut a, &Reply::Item(Ok(vec![7; 100_000]))).unwrap();
        assert!(matches!(
            reader.recv::<Reply>(None, MAX_FRAME),
            Ok(Reply::Ready)
        ));
        match reader.recv::<Reply>(None, MAX_FRAME) {
            Ok(Reply::Item(Ok(bytes))) => assert_eq!(bytes, vec![7; 100_000]),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn oversize_length_is_refused_before_allocating() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let mut reader = FrameReader::new(b);
        a.write_all(&u32::MAX.to_le_bytes()).unwrap();
        match reader.recv::<Reply>(None, MAX_FRAME) {
            Err(ReadError::Invalid(msg)) => assert!(msg.contains("limit"), "{msg}"),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Issue 11, fault 5: the supervisor drains a worker that it found dead
    /// with a deadline of "now"; a reply already in the pipe must come out,
    /// not a timeout.
    #[test]
    fn a_frame_already_there_beats_a_past_deadline() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let mut reader = FrameReader::new(b);
        send(&mut a, &Reply::Item(Ok(vec![1, 2, 3]))).unwrap();
        drop(a);
        let past = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        match reader.recv::<Reply>(Some(past), MAX_FRAME) {
            Ok(Reply::Item(Ok(bytes))) => assert_eq!(bytes, [1, 2, 3]),
            other => panic!("unexpected {other:?}"),
        }
        // Then the end of the pipe, not a timeout either.
        assert!(matches!(
            reader.recv::<Reply>(Some(past), MAX_FRAME),
            Err(ReadError::Closed)
        ));
    }

    #[test]
    fn deadline_and_close_are_reported() {
        let (a, b) = UnixStream::pair().unwrap();
        let mut reader = FrameReader::new(b);
        let deadline = Instant::now() + Duration::from_millis(30);
        assert!(matches!(
            reader.recv::<Reply>(Some(deadline), MAX_FRAME),
            Err(ReadError::TimedOut)
        ));
        assert!(Instant::now() >= deadline);
        drop(a);
        assert!(matches!(
            reader.recv::<Reply>(None, MAX_FRAME),
            Err(ReadError::Closed)
        ));
    }

    #[test]
    fn garbage_is_invalid_not_a_panic() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let mut reader = FrameReader::new(b);
        // A well-formed frame whose payload is not a message.
        a.write_all(&[3, 0, 0, 0, 0xff, 0xff, 0xff]).unwrap();
        assert!(matches!(
            reader.recv::<Reply>(None, MAX_FRAME),
            Err(ReadError::Invalid(_))
        ));
    }
}
