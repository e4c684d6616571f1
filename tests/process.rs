//! `ProcessPool` tests (feature `process`).
//!
//! This test target has no libtest harness: its `main` calls `bootstrap`
//! first, so every pool it builds runs this very binary as its workers (the
//! default `program`), exactly as a user's program would. Each test runs on
//! its own thread under a time limit, one after another (they count the
//! process's children), and the summary line has libtest's shape.
//!
//! Run: `cargo test --features process --test process [-- FILTER]`.

#![cfg(unix)]

mod common;
#[path = "support/remote_fns.rs"]
mod remote_fns;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use remote_fns::{add, echo, pid, sleep_ms, wait_for_file};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use stealpool::process::{self, Registry};
use stealpool::{registry, remote, ProcessPool, Task, TaskError, WaitFor};

// ---- the functions the workers run ----------------------------------------

/// Panics here: the tests check that the report names this file.
fn panic_now(message: String) -> u32 {
    panic!("{message}")
}

fn abort_now(_: ()) -> u32 {
    std::process::abort()
}
fn segfault_now(_: ()) -> u32 {
    // std handles SIGSEGV (to report stack overflows) and returns from a
    // raised one: restore the default action first, as a real crash meets it.
    // SAFETY: setting a signal's action to SIG_DFL and raising it have no
    // memory-safety preconditions; the default action ends the process.
    unsafe {
        libc::signal(libc::SIGSEGV, libc::SIG_DFL);
        libc::raise(libc::SIGSEGV);
    }
    unreachable!("SIGSEGV ends the process")
}
fn exit_now(code: i32) -> u32 {
    std::process::exit(code)
}
fn hang(_: ()) -> u32 {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
/// Aborts its worker on 2, else echoes.
fn abort_on_two(x: u32) -> u32 {
    if x == 2 {
        std::process::abort();
    }
    x
}
/// Which worker ran this item.
fn pid_of(_: u32) -> u32 {
    std::process::id()
}
fn big(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}
fn checksum(bytes: Vec<u8>) -> u64 {
    bytes.iter().map(|&b| u64::from(b)).sum()
}
fn noisy(n: u32) -> u32 {
    for i in 0..200 {
        println!("noisy task line {i}: stdout must not reach the protocol pipe");
        eprintln!("noisy task line {i} on stderr");
    }
    n
}
fn read_stdin(_: ()) -> usize {
    let mut buf = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).unwrap();
    buf.len()
}
static TAG: Mutex<String> = Mutex::new(String::new());
fn init_tag(tag: String) {
    *TAG.lock().unwrap() = tag;
}
fn get_tag(_: ()) -> String {
    TAG.lock().unwrap().clone()
}
fn init_fail(_: ()) {
    panic!("the initializer refuses")
}
/// Fails while the file at `path` exists.
fn init_unless_file(path: String) {
    if std::path::Path::new(&path).exists() {
        panic!("{path} exists")
    }
}
/// Arguments that refuse to serialize.
struct Unsendable;
impl Serialize for Unsendable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("Unsendable cannot be sent"))
    }
}
impl<'de> Deserialize<'de> for Unsendable {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Ok(Unsendable)
    }
}
fn take_unsendable(_: Unsendable) -> u32 {
    0
}
/// A result whose odd values refuse to deserialize in the parent.
struct Even(u32);
impl Serialize for Even {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}
impl<'de> Deserialize<'de> for Even {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u32::deserialize(d)?;
        if n % 2 == 1 {
            return Err(serde::de::Error::custom(format!("{n} is odd")));
        }
        Ok(Even(n))
    }
}
fn make_even(n: u32) -> Even {
    Even(n)
}
/// A result whose `Deserialize` panics in the parent.
struct Explosive;
impl Serialize for Explosive {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_unit()
    }
}
impl<'de> Deserialize<'de> for Explosive {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        panic!("Explosive refuses to be decoded")
    }
}
fn make_explosive(_: ()) -> Explosive {
    Explosive
}
fn not_registered(x: u32) -> u32 {
    x
}
/// Set by `main` once `bootstrap` returned: only the parent gets there.
static IN_PARENT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// A result whose `Drop` panics, in the parent only (a worker drops its copy
/// after sending it, and must not fail for that).
#[derive(Serialize, Deserialize)]
struct Grenade;
impl Drop for Grenade {
    fn drop(&mut self) {
        if IN_PARENT.load(Ordering::SeqCst) {
            panic!("Grenade dropped in the parent");
        }
    }
}
/// A result that takes 3 s to decode in the parent (the slot thread decodes
/// it before it reads the next reply of a chunk).
#[derive(Serialize)]
struct SlowToDecode(u32);
impl<'de> Deserialize<'de> for SlowToDecode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = u32::deserialize(d)?;
        std::thread::sleep(SLOW_DECODE);
        Ok(SlowToDecode(value))
    }
}
const SLOW_DECODE: Duration = Duration::from_secs(3);
/// Item 0 returns at once (and decodes slowly); any other item hangs.
fn quick_then_hang(x: u32) -> SlowToDecode {
    if x == 0 {
        return SlowToDecode(0);
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
/// Daemon-style code: closes descriptors 0..=10, reopens stdio on
/// /dev/null, then opens two log files in `dir` (they get 3 and 4).
fn daemonize_and_log(dir: String) -> u32 {
    for fd in 0..=10 {
        // SAFETY: closing descriptors is what this task is for; nothing of
        // this process's Rust code owns 0..=10 after the worker set up.
        unsafe { libc::close(fd) };
    }
    for _ in 0..3 {
        std::mem::forget(std::fs::File::open("/dev/null").unwrap());
    }
    for name in ["a.log", "b.log"] {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(format!("{dir}/{name}"))
            .unwrap();
        std::mem::forget(log);
    }
    42
}
/// Puts a file of its own on the number of every pipe descriptor above
/// stdio (the protocol's), keeping a copy of each pipe open so that the
/// parent sees no end of file: the worker's next frame would go into the
/// user's file unless it notices.
fn take_over_protocol_pipes(dir: String) -> u32 {
    for fd in 3..4096 {
        let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: fstat writes one stat into the buffer, which outlives it.
        if unsafe { libc::fstat(fd, stat.as_mut_ptr()) } != 0 {
            continue;
        }
        // SAFETY: fstat succeeded and initialised it.
        let mode = unsafe { stat.assume_init() }.st_mode;
        if mode & libc::S_IFMT != libc::S_IFIFO {
            continue;
        }
        // SAFETY: plain descriptor calls on numbers this task owns now:
        // keep the pipe open under another number, then put a file on it.
        unsafe {
            libc::dup(fd);
            let file = std::fs::File::create(format!("{dir}/{fd}.log")).unwrap();
            libc::dup2(std::os::fd::IntoRawFd::into_raw_fd(file), fd);
        }
    }
    7
}
/// Waits for the gate file, then returns a `Grenade`.
fn make_grenade(path: String) -> Grenade {
    wait_for_file(path);
    Grenade
}

static TASKS: Registry = registry![
    echo,
    quick_then_hang,
    daemonize_and_log,
    take_over_protocol_pipes,
    add,
    pid,
    panic_now,
    abort_now,
    segfault_now,
    exit_now,
    hang,
    sleep_ms,
    big,
    checksum,
    noisy,
    read_stdin,
    init_tag,
    get_tag,
    init_fail,
    init_unless_file,
    take_unsendable,
    make_even,
    make_explosive,
    wait_for_file,
    abort_on_two,
    pid_of,
    make_grenade,
    fork_helper,
    init_gated,
    abort_first,
];

/// Forks a helper that holds every descriptor of the worker (its protocol
/// pipes too) and sleeps `secs` without exec; returns (worker pid, helper
/// pid).
fn fork_helper(secs: u64) -> (u32, u32) {
    // SAFETY: the child only sleeps and `_exit`s, which is
    // async-signal-safe enough for a process that never runs Rust code of
    // the parent's threads again.
    let helper = unsafe { libc::fork() };
    if helper == 0 {
        // SAFETY: sleep and _exit take plain integers.
        unsafe {
            libc::sleep(secs as libc::c_uint);
            libc::_exit(0);
        }
    }
    (std::process::id(), helper as u32)
}
/// An initializer that, once `dir/armed` exists, waits for `dir/open`.
fn init_gated(dir: String) {
    let dir = std::path::Path::new(&dir);
    if dir.join("armed").exists() {
        while !dir.join("open").exists() {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}
/// Item 0 arms `init_gated` and aborts its worker; any other item leaves a
/// `ran-N` file in the directory and echoes N.
fn abort_first((dir, n): (String, u32)) -> u32 {
    let dir = std::path::Path::new(&dir);
    if n == 0 {
        std::fs::write(dir.join("armed"), b"").unwrap();
        std::process::abort();
    }
    std::fs::write(dir.join(format!("ran-{n}")), b"").unwrap();
    n
}

/// A registry that differs from `TASKS` (for the mismatch test).
static OTHER: Registry = registry![echo];

/// Set in the environment to make this binary's workers use `OTHER`.
const USE_OTHER: &str = "STEALPOOL_TEST_OTHER_REGISTRY";
/// Set to make this binary act as a parent that builds a pool and waits to
/// be killed (for the parent-death test).
const PARENT_MODE: &str = "STEALPOOL_TEST_PARENT_MODE";

/// Set to make this binary run one panicking task on a pool and print the
/// worker's pid (for the panic report test; stderr is the test's to read).
const PANIC_REPORT_MODE: &str = "STEALPOOL_TEST_PANIC_REPORT";

/// Set in the environment of a copy of this binary that ignores SIGCHLD
/// and recycles workers (for the `ECHILD` test).
const SIGCHLD_IGNORED_MODE: &str = "STEALPOOL_TEST_SIGCHLD_IGNORED";

fn main() {
    if std::env::var_os(USE_OTHER).is_some() {
        process::bootstrap(&OTHER);
    }
    process::bootstrap(&TASKS);
    IN_PARENT.store(true, Ordering::SeqCst);
    if std::env::var_os(PARENT_MODE).is_some() {
        return parent_mode();
    }
    if std::env::var_os(SIGCHLD_IGNORED_MODE).is_some() {
        return sigchld_ignored_mode();
    }
    if std::env::var_os(PANIC_REPORT_MODE).is_some() {
        return panic_report_mode();
    }
    run_tests();
}

// ---- helpers ----------------------------------------------------------------

fn pool(workers: usize) -> ProcessPool {
    ProcessPool::builder(&TASKS)
        .num_workers(workers)
        .build()
        .expect("build a process pool")
}

/// The live (or zombie) children of this process: (pid, state).
fn children() -> Vec<(u32, char)> {
    let me = std::process::id();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid: u32 = fields.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        if ppid == me {
            found.push((pid, state));
        }
    }
    found
}

/// Whether process `pid` is gone (or a zombie waiting for its new parent).
fn is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    done()
}

fn kill_pid(pid: u32, signal: i32) {
    // SAFETY: kill takes plain integers; the pid is a live child of ours.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

/// A gate for `wait_for_file` tasks: closed until `open`, removed on drop.
struct Gate(std::path::PathBuf);

impl Gate {
    fn new() -> Gate {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("stealpool-gate-{}-{n}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        Gate(path)
    }
    fn path(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }
    fn open(&self) {
        std::fs::write(&self.0, b"open").unwrap();
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn err_of<T: std::fmt::Debug + Send + 'static>(task: Task<T>) -> TaskError {
    task.join().expect_err("the task should have failed")
}

// ---- the tests ------------------------------------------------------------

fn assert_send_sync<T: Send + Sync>() {}

fn round_trip_and_order() {
    assert_send_sync::<ProcessPool>();
    assert_send_sync::<stealpool::ProcessPoolBuilder>();
    assert_send_sync::<stealpool::process::Remote<String, u64>>();
    assert_send_sync::<Registry>();
    let pool = pool(2);
    assert_eq!(pool.num_workers(), 2);
    assert_eq!(
        pool.submit(remote!(echo), "hello".to_string())
            .join()
            .unwrap(),
        "hello"
    );
    assert_eq!(pool.submit(remote!(add), (40, 2)).join().unwrap(), 42);
    for chunk in [0, 1, 3, 7, 1000] {
        let out: Vec<i64> = pool
            .map((0..50).map(|i| (i, 1)), remote!(add), chunk)
            .map(Result::unwrap)
            .collect();
        assert_eq!(out, (1..=50).collect::<Vec<_>>(), "chunk_size {chunk}");
    }
    assert_eq!(
        pool.map(Vec::<(i64, i64)>::new(), remote!(add), 4).count(),
        0
    );
    // An explicit `program` that calls `bootstrap` with the same registry.
    let explicit = ProcessPool::builder(&TASKS)
        .num_workers(1)
        .program(std::env::current_exe().unwrap())
        .build()
        .unwrap();
    assert_eq!(explicit.submit(remote!(add), (5, 6)).join().unwrap(), 11);
    // The default worker count is the machine's parallelism.
    let default = ProcessPool::builder(&TASKS).build().unwrap();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(default.num_workers(), cores);
}

fn thousand_tasks_through_two_workers() {
    let pool = pool(2);
    let tasks: Vec<_> = (0..1000)
        .map(|i| pool.submit(remote!(add), (i, i)))
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.join().unwrap(), 2 * i as i64);
    }
}

fn same_task_api_as_the_thread_pool() {
    let pool = pool(2);
    // on_done, polling, wait_timeout.
    let seen = Arc::new(Mutex::new(None));
    let gate = Gate::new();
    let task = pool.submit(remote!(wait_for_file), gate.path());
    let sink = Arc::clone(&seen);
    task.on_done(move |outcome| *sink.lock().unwrap() = Some(outcome.is_ok()));
    assert!(
        !task.wait_timeout(Duration::from_millis(20)),
        "only stops waiting"
    );
    assert_eq!(*seen.lock().unwrap(), None);
    gate.open();
    while !task.is_done() {
        std::thread::sleep(Duration::from_millis(1));
    }
    // `is_done` holds before the callbacks run; `join` returns after them.
    let outcome = task.join();
    assert_eq!(*seen.lock().unwrap(), Some(true));
    assert!(outcome.is_ok());
    // .await
    let task = pool.submit(remote!(echo), "async".to_string());
    assert_eq!(common::block_on(task).unwrap(), "async");
    // wait and as_completed.
    let gate = Gate::new();
    let slow = pool.submit(remote!(wait_for_file), gate.path());
    let fast = pool.submit(remote!(sleep_ms), 1);
    let tasks = [fast, slow];
    let done = stealpool::wait(&tasks, WaitFor::FirstCompleted, None);
    assert_eq!((done.done, done.pending), (vec![0], vec![1]));
    gate.open();
    let done = stealpool::wait(&tasks, WaitFor::AllCompleted, None);
    assert_eq!(done.done, vec![0, 1]);
    let tasks: Vec<_> = (0..6).map(|i| pool.submit(remote!(add), (i, 0))).collect();
    let mut sum = 0;
    for (_index, outcome) in stealpool::as_completed(tasks) {
        sum += outcome.unwrap();
    }
    assert_eq!(sum, 15);
}

fn remote_panic_fails_only_its_task() {
    let pool = pool(1);
    let before = pool.submit(remote!(pid), ()).join().unwrap();
    let err = err_of(pool.submit(remote!(panic_now), "disk full".to_string()));
    assert!(err.is_panic() && !err.is_worker_lost(), "{err:?}");
    assert_eq!(err.panic_message(), Some("disk full"));
    let text = err.to_string();
    assert!(
        text.contains("disk full") && text.contains("tests/process.rs"),
        "{text}"
    );
    assert!(
        text.contains(&before.to_string()),
        "names the worker: {text}"
    );
    assert_eq!(*err.into_panic().downcast::<String>().unwrap(), "disk full");
    let after = pool.submit(remote!(pid), ()).join().unwrap();
    assert_eq!(before, after, "a panic does not cost the worker");
}

fn crash_fails_only_its_task(f: stealpool::process::Remote<(), u32>, expect: &str) {
    let pool = pool(1);
    let before = pool.submit(remote!(pid), ()).join().unwrap();
    let err = err_of(pool.submit(f, ()));
    assert!(err.is_worker_lost() && !err.is_panic(), "{err:?}");
    assert!(err.to_string().contains(expect), "{err}");
    let after = pool.submit(remote!(pid), ()).join().unwrap();
    assert_ne!(before, after, "the worker was replaced");
    assert_eq!(pool.submit(remote!(add), (1, 1)).join().unwrap(), 2);
}

fn abort_fails_only_its_task() {
    crash_fails_only_its_task(remote!(abort_now), "SIGABRT");
}

fn segfault_fails_only_its_task() {
    crash_fails_only_its_task(remote!(segfault_now), "SIGSEGV");
}

fn exit_mid_task_fails_only_its_task() {
    let pool = pool(1);
    let err = err_of(pool.submit(remote!(exit_now), 7));
    assert!(err.is_worker_lost(), "{err:?}");
    assert!(err.to_string().contains("exited with code 7"), "{err}");
    assert_eq!(
        pool.submit(remote!(echo), "still".to_string())
            .join()
            .unwrap(),
        "still"
    );
}

fn killed_worker_fails_only_its_task() {
    let pool = pool(1);
    let worker = pool.submit(remote!(pid), ()).join().unwrap();
    let task = pool.submit(remote!(hang), ());
    assert!(wait_until(Duration::from_secs(5), || task.is_running()));
    kill_pid(worker, libc::SIGKILL);
    let err = err_of(task);
    assert!(
        err.is_worker_lost() && err.to_string().contains("SIGKILL"),
        "{err}"
    );
    assert_eq!(pool.submit(remote!(add), (2, 3)).join().unwrap(), 5);
}

fn crash_leaves_other_workers_tasks_alone() {
    let pool = pool(2);
    let long = pool.submit(remote!(sleep_ms), 400);
    std::thread::sleep(Duration::from_millis(50));
    let crash = pool.submit(remote!(abort_now), ());
    assert!(err_of(crash).is_worker_lost());
    let survivor = long.join().unwrap();
    assert!(!is_gone(survivor), "the other worker lives on");
}

fn deadline_kills_and_replaces_the_worker() {
    let pool = ProcessPool::builder(&TASKS)
        .num_workers(1)
        .task_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let before = pool.submit(remote!(pid), ()).join().unwrap();
    let started = Instant::now();
    let err = err_of(pool.submit(remote!(hang), ()));
    let took = started.elapsed();
    assert!(err.is_timeout() && !err.is_worker_lost(), "{err:?}");
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert!(wait_until(Duration::from_secs(2), || is_gone(before)));
    let after = pool.submit(remote!(pid), ()).join().unwrap();
    assert_ne!(before, after);
    // A task within its deadline is untouched; items of a map each get one.
    let ok: Vec<u32> = pool
        .map([100, 100, 100], remote!(sleep_ms), 3)
        .map(Result::unwrap)
        .collect();
    assert_eq!(ok.len(), 3);
}

/// Issue 11, fault 3: `task_timeout(Duration::MAX)` overflowed
/// `Instant + Duration` and panicked the supervisor (the first task failed,
/// later ones hung; with an initializer, nothing ran). It means no limit.
fn an_endless_task_timeout_means_no_limit() {
    let pool = ProcessPool::builder(&TASKS)
        .num_workers(1)
        .task_timeout(Duration::MAX)
        .initializer(remote!(init_tag), "endless".to_string())
        .build()
        .unwrap();
    assert_eq!(pool.submit(remote!(get_tag), ()).join().unwrap(), "endless");
    let ok: Vec<u32> = pool
        .map([1, 2, 3], remote!(sleep_ms), 3)
        .map(Result::unwrap)
        .collect();
    assert_eq!(ok.len(), 3);
    assert_eq!(pool.submit(remote!(get_tag), ()).join().unwrap(), "endless");
}

/// Issue 11, fault 7: the deadline of a chunk's next item started when the
/// parent began to wait for it, after decoding the previous item (and running
/// its callbacks), so a slow decode pushed the deadline out by as long. It
/// counts from when the worker starts the item: the hanging item 1 (1 s
/// timeout) is killed as soon as item 0's 3 s decode ends, at ~3 s, not ~4 s.
fn a_chunk_items_deadline_starts_when_its_worker_starts_it() {
    let pool = ProcessPool::builder(&TASKS)
        .num_workers(1)
        .task_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let started = Instant::now();
    let mut results = pool.map([0, 1], remote!(quick_then_hang), 2);
    assert_eq!(results.next().unwrap().unwrap().0, 0);
    let err = results.next().unwrap().err().expect("item 1 hangs");
    let took = started.elapsed();
    assert!(err.is_timeout(), "{err:?}");
    assert!(took >= SLOW_DECODE, "{took:?}");
    assert!(
        took < SLOW_DECODE + Duration::from_millis(600),
        "the hanging item was killed {took:?} after the start: its deadline \
         started after the 3 s decode of the item before it"
    );
}

fn wait_timeout_never_kills() {
    let pool = pool(1);
    let task = pool.submit(remote!(sleep_ms), 300);
    assert!(!task.wait_timeout(Duration::from_millis(20)));
    let worker = task.join().unwrap();
    assert_eq!(pool.submit(remote!(pid), ()).join().unwrap(), worker);
}

fn max_tasks_per_child_recycles() {
    let pool = ProcessPool::builder(&TASKS)
        .num_workers(1)
        .max_tasks_per_child(3)
        .build()
        .unwrap();
    let pids: Vec<u32> = (0..9)
        .map(|_| pool.submit(remote!(pid), ()).join().unwrap())
        .collect();
    for group in pids.chunks(3) {
        assert!(group.iter().all(|&p| p == group[0]), "{pids:?}");
    }
    assert!(
        pids[0] != pids[3] && pids[3] != pids[6] && pids[0] != pids[6],
        "{pids:?}"
    );
}

fn cancel_until_handed_over() {
    let pool = pool(1);
    let gate = Gate::new();
    let busy = pool.submit(remote!(wait_for_file), gate.path());
    let queued = pool.submit(remote!(echo), "never".to_string());
    assert!(wait_until(Duration::from_secs(5), || busy.is_running()));
    assert!(!busy.cancel(), "a running task is not cancelled");
    assert!(queued.cancel());
    assert!(err_of(queued).is_cancelled());
    gate.open();
    assert!(busy.join().is_ok());
    assert_eq!(pool.submit(remote!(add), (1, 2)).join().unwrap(), 3);
}

/// Issue 9, failure 2: a detached task's result whose `Drop` panics is
/// dropped by the slot thread that completes it (the last reference). The
/// panic is caught; the slot thread lives on and later tasks still run.
fn a_result_whose_drop_panics_keeps_the_supervisor() {
    let pool = pool(1);
    let gate = Gate::new();
    drop(pool.submit(remote!(make_grenade), gate.path()));
    gate.open();
    for i in 0..3 {
        assert_eq!(pool.submit(remote!(add), (i, 1)).join().unwrap(), i + 1);
    }
    pool.shutdown();
}

/// Issue 11, fault 1: a worker is SIGKILLed while a helper it forked (no
/// exec) still holds its pipes. The next task's 1 MiB of arguments fill the
/// request pipe that nobody reads: the old supervisor blocked in
/// `write_all` for as long as the helper lived, and `kill()` with it. Now
/// the write notices the dead worker and the task runs on a replacement.
fn a_dead_worker_whose_helper_holds_its_pipes_blocks_nothing() {
    let pool = pool(1);
    let (worker, helper) = pool.submit(remote!(fork_helper), 60).join().unwrap();
    kill_pid(worker, libc::SIGKILL);
    let bytes = vec![1_u8; 1 << 20];
    let started = Instant::now();
    let sum = pool.submit(remote!(checksum), bytes).join();
    kill_pid(helper, libc::SIGKILL);
    assert_eq!(sum.unwrap(), 1 << 20);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    pool.kill();
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// Issue 11, fault 1: a SIGSTOPped idle worker never reads the request that
/// is handed to it. `shutdown_now` gives the stalled hand-over up: the
/// task never reached a worker, so it ends cancelled, and the stopped
/// worker is killed and reaped. (The old supervisor blocked in
/// `write_all`, and `shutdown_now` with it.)
fn shutdown_now_gives_up_a_hand_over_to_a_stopped_worker() {
    let pool = pool(1);
    let worker = pool.submit(remote!(pid), ()).join().unwrap();
    kill_pid(worker, libc::SIGSTOP);
    let task = pool.submit(remote!(checksum), vec![1_u8; 1 << 20]);
    assert!(wait_until(Duration::from_secs(5), || task.is_running()));
    let started = Instant::now();
    pool.shutdown_now();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(err_of(task).is_cancelled());
    assert!(children().is_empty(), "{:?}", children());
}

/// Issue 11, fault 1: with a task deadline, a stopped worker that does not
/// take a request within it is killed, and the task runs on a replacement.
fn a_worker_that_will_not_take_a_task_is_replaced_at_the_deadline() {
    let pool = ProcessPool::builder(&TASKS)
        .num_workers(1)
        .task_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let worker = pool.submit(remote!(pid), ()).join().unwrap();
    kill_pid(worker, libc::SIGSTOP);
    let sum = pool.submit(remote!(checksum), vec![1_u8; 1 << 20]).join();
    assert_eq!(sum.unwrap(), 1 << 20);
    assert!(is_gone(worker) || !children().iter().any(|&(pid, _)| pid == worker));
}

/// A one-worker pool whose replacement workers wait in their initializer
/// once `abort_first` armed it, and a `map` chunk of three whose first item
/// kills the worker: items 1 and 2 never reach a worker, and wait in the
/// queue while the replacement starts. Returns the map after its first item.
fn chunk_behind_a_crash(dir: &str) -> (ProcessPool, stealpool::Map<u32>) {
    let pool = ProcessPool::builder(&TASKS)
        .num_workers(1)
        .initializer(remote!(init_gated), dir.to_string())
        .build()
        .unwrap();
    let items = (0..3).map(|n| (dir.to_string(), n));
    let mut map = pool.map(items, remote!(abort_first), 3);
    assert!(map.next().unwrap().unwrap_err().is_worker_lost());
    (pool, map)
}

/// Issue 11, fault 6: chunk items that were queued again and never sent are
/// pending: `shutdown_now` cancels them (the old code failed them as a
/// lost worker's), and they never run.
fn shutdown_now_cancels_chunk_items_that_never_reached_a_worker() {
    let dir = scratch_dir("requeued-now");
    let (pool, map) = chunk_behind_a_crash(&dir);
    let pool = Arc::new(pool);
    let stopper = std::thread::spawn({
        let pool = Arc::clone(&pool);
        move || pool.shutdown_now()
    });
    for outcome in map {
        assert!(outcome.unwrap_err().is_cancelled());
    }
    std::fs::write(format!("{dir}/open"), b"").unwrap();
    stopper.join().unwrap();
    assert!(!std::path::Path::new(&format!("{dir}/ran-1")).exists());
    assert!(!std::path::Path::new(&format!("{dir}/ran-2")).exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 11, fault 6: while such items wait, they can be cancelled:
/// dropping the `Map` cancels them, and they never run (the old code had
/// claimed them, so they ran on the replacement).
fn chunk_items_that_never_reached_a_worker_can_be_cancelled() {
    let dir = scratch_dir("requeued-cancel");
    let (pool, map) = chunk_behind_a_crash(&dir);
    drop(map);
    std::fs::write(format!("{dir}/open"), b"").unwrap();
    pool.shutdown();
    assert!(!std::path::Path::new(&format!("{dir}/ran-1")).exists());
    assert!(!std::path::Path::new(&format!("{dir}/ran-2")).exists());
    let _ = std::fs::remove_dir_all(&dir);
}

fn shutdown_finishes_queued_work() {
    let pool = pool(1);
    let tasks: Vec<_> = (0..5)
        .map(|i| pool.submit(remote!(sleep_ms), 10 + i))
        .collect();
    pool.shutdown();
    for task in tasks {
        assert!(task.is_done());
        task.join().unwrap();
    }
    assert!(err_of(pool.submit(remote!(pid), ())).is_rejected());
    let map = catch_unwind(AssertUnwindSafe(|| pool.map([()], remote!(pid), 1).count()));
    let message = map.unwrap_err();
    assert!(common_message(&message).contains("shut down"));
    pool.shutdown(); // idempotent
    assert!(children().is_empty(), "{:?}", children());
}

fn common_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

fn shutdown_now_cancels_queued_work() {
    let pool = pool(1);
    let gate = Gate::new();
    let running = pool.submit(remote!(wait_for_file), gate.path());
    let queued: Vec<_> = (0..3).map(|_| pool.submit(remote!(pid), ())).collect();
    assert!(wait_until(Duration::from_secs(5), || running.is_running()));
    let opener = std::thread::spawn({
        let path = gate.0.clone();
        move || {
            std::thread::sleep(Duration::from_millis(100));
            std::fs::write(path, b"open").unwrap();
        }
    });
    pool.shutdown_now();
    opener.join().unwrap();
    assert!(running.join().is_ok(), "running tasks finish");
    for task in queued {
        assert!(err_of(task).is_cancelled());
    }
    assert!(children().is_empty(), "{:?}", children());
}

fn kill_fails_running_and_cancels_queued() {
    let pool = pool(2);
    let running = pool.submit(remote!(hang), ());
    let also = pool.submit(remote!(hang), ());
    let queued = pool.submit(remote!(pid), ());
    assert!(wait_until(Duration::from_secs(5), || running.is_running()
        && also.is_running()));
    pool.kill();
    assert!(err_of(running).is_worker_lost());
    assert!(err_of(also).is_worker_lost());
    assert!(err_of(queued).is_cancelled());
    assert!(err_of(pool.submit(remote!(pid), ())).is_rejected());
    assert!(children().is_empty(), "{:?}", children());
}

fn drop_does_not_hang_on_a_hung_task() {
    let pool = pool(1);
    let hung = pool.submit(remote!(hang), ());
    assert!(wait_until(Duration::from_secs(5), || hung.is_running()));
    let started = Instant::now();
    drop(pool);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(10),
        "{took:?}"
    );
    assert!(err_of(hung).is_worker_lost());
    assert!(children().is_empty(), "{:?}", children());
}

fn large_arguments_and_results() {
    let pool = pool(2);
    let len = 3 << 20; // 3 MiB: far over a pipe's 64 KiB buffer
    let bytes = pool.submit(remote!(big), len).join().unwrap();
    assert_eq!(bytes.len(), len);
    let expected: u64 = bytes.iter().map(|&b| u64::from(b)).sum();
    assert_eq!(
        pool.submit(remote!(checksum), bytes).join().unwrap(),
        expected
    );
}

/// Issue 11: an over-limit argument's error said "268435393 bytes, over the
/// 268435456 byte frame limit" — a size under the limit it named. It names
/// the limit that applies to the arguments of one call, and the size is
/// over it.
fn an_over_limit_argument_names_the_limit_it_broke() {
    let pool = pool(1);
    // Encoded, this is the length plus a 4-byte varint: between the
    // arguments' limit and the frame's.
    let len = (256 << 20) - 70;
    let err = err_of(pool.submit(remote!(checksum), vec![7_u8; len]));
    assert!(err.is_serialization(), "{err:?}");
    let text = err.to_string();
    let numbers: Vec<usize> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|word| word.parse().ok())
        .collect();
    let [size, limit] = numbers[..] else {
        panic!("expected a size and a limit in {text:?}")
    };
    assert!(size > limit, "{text}");
    assert!(text.contains("arguments of one call"), "{text}");
    // The pool is unharmed.
    assert_eq!(pool.submit(remote!(add), (2, 3)).join().unwrap(), 5);
}

/// A fresh, empty directory under the system's temporary one.
fn scratch_dir(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("stealpool-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.to_string_lossy().into_owned()
}

/// The total size of the files in `dir`.
fn bytes_in(dir: &str) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().metadata().unwrap().len())
        .sum()
}

/// Issue 11, fault 8: daemon-style code that closes descriptors 0..=10 and
/// opens two log files got them on 3 and 4, the protocol's descriptors: the
/// worker appended its reply to one log and read "requests" from the other,
/// and the result was lost. The protocol lives far above the low numbers.
fn daemon_style_tasks_keep_their_files() {
    let pool = pool(1);
    let dir = scratch_dir("daemon");
    assert_eq!(
        pool.submit(remote!(daemonize_and_log), dir.clone())
            .join()
            .unwrap(),
        42
    );
    assert_eq!(bytes_in(&dir), 0, "a protocol frame went into a log file");
    // The same worker serves on.
    assert_eq!(pool.submit(remote!(add), (40, 2)).join().unwrap(), 42);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A task that puts files of its own on the protocol's descriptor numbers
/// (keeping the pipes open elsewhere, so the parent sees nothing): the
/// worker must notice that the channel is gone and exit without writing a
/// frame into the user's file (the task fails as a dead worker; the pool
/// replaces it).
fn a_task_that_takes_the_protocol_descriptors_gets_no_frames() {
    let pool = pool(1);
    let dir = scratch_dir("takeover");
    let err = err_of(pool.submit(remote!(take_over_protocol_pipes), dir.clone()));
    assert!(err.is_worker_lost(), "{err:?}");
    assert_eq!(bytes_in(&dir), 0, "a protocol frame went into a user file");
    assert_eq!(pool.submit(remote!(add), (1, 2)).join().unwrap(), 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 11, fault 4: respawns executed the path resolved at `build()`, so
/// after the binary was replaced or deleted (an upgrade) a routine
/// `max_tasks_per_child` recycle failed three times and broke the pool.
/// Workers start from the file opened at `build()`.
fn workers_start_after_the_program_file_is_deleted() {
    let dir = scratch_dir("upgrade");
    let copy = format!("{dir}/worker-copy");
    std::fs::copy(std::env::current_exe().unwrap(), &copy).unwrap();
    let pool = ProcessPool::builder(&TASKS)
        .num_workers(1)
        .max_tasks_per_child(1)
        .program(&copy)
        .build()
        .unwrap();
    let first = pool.submit(remote!(pid), ()).join().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let mut pids = vec![first];
    for _ in 0..3 {
        pids.push(pool.submit(remote!(pid), ()).join().unwrap());
    }
    pids.dedup();
    assert_eq!(pids.len(), 4, "every task on a fresh worker: {pids:?}");
}

fn task_output_does_not_disturb_the_protocol() {
    let pool = pool(1);
    assert_eq!(pool.submit(remote!(noisy), 9).join().unwrap(), 9);
    assert_eq!(pool.submit(remote!(read_stdin), ()).join().unwrap(), 0);
    assert_eq!(
        pool.submit(remote!(echo), "ok".to_string()).join().unwrap(),
        "ok"
    );
}

fn serialization_failures() {
    let pool = pool(1);
    let err = err_of(pool.submit(remote!(take_unsendable), Unsendable));
    assert!(
        err.is_serialization() && err.to_string().contains("Unsendable"),
        "{err}"
    );
    assert!(pool.submit(remote!(make_even), 4).join().is_ok());
    let err = pool
        .submit(remote!(make_even), 3)
        .join()
        .map(|e| e.0)
        .unwrap_err();
    assert!(
        err.is_serialization() && err.to_string().contains("Even"),
        "{err}"
    );
    assert_eq!(pool.submit(remote!(add), (0, 1)).join().unwrap(), 1);
    // A panicking `Deserialize` fails its task, not the pool's thread.
    let err = pool
        .submit(remote!(make_explosive), ())
        .join()
        .map(|_| ())
        .unwrap_err();
    assert!(
        err.is_serialization() && err.to_string().contains("refuses"),
        "{err}"
    );
    assert_eq!(pool.submit(remote!(add), (2, 2)).join().unwrap(), 4);
}

fn unknown_function_panics_with_its_name() {
    let pool = pool(1);
    let result = catch_unwind(AssertUnwindSafe(|| pool.submit(remote!(not_registered), 1)));
    let message = common_message(&result.unwrap_err());
    assert!(message.contains("not_registered"), "{message}");
    // Same path, another function: refused by its signature.
    fn echo(x: u32) -> u32 {
        x
    }
    let result = catch_unwind(AssertUnwindSafe(|| pool.submit(remote!(echo), 1)));
    let message = common_message(&result.unwrap_err());
    assert!(
        message.contains("echo") && message.contains("u32"),
        "{message}"
    );
    assert_eq!(pool.submit(remote!(add), (1, 1)).join().unwrap(), 2);
    // Issue 12: the same function by another spelling of its path.
    assert_eq!(pool.submit(remote!(self::add), (2, 1)).join().unwrap(), 3);
    assert_eq!(pool.submit(remote!(crate::add), (3, 1)).join().unwrap(), 4);
    // Another module's function of the same name: refused, showing both.
    mod other {
        pub(crate) fn add(pair: (i64, i64)) -> i64 {
            pair.0 - pair.1
        }
    }
    let result = catch_unwind(AssertUnwindSafe(|| {
        pool.submit(remote!(other::add), (1, 1))
    }));
    let message = common_message(&result.unwrap_err());
    assert!(
        message.contains("`other::add`") && message.contains("lists `add`"),
        "{message}"
    );
}

fn shutdown_from_a_callback_does_not_deadlock() {
    for how in ["shutdown", "shutdown_now", "kill", "drop"] {
        let pool = Arc::new(pool(2));
        let task = pool.submit(remote!(sleep_ms), 20);
        let (done_tx, done_rx) = mpsc::channel();
        let mut slot = Some(Arc::clone(&pool));
        task.on_done(move |_| {
            let pool = slot.take().unwrap();
            match how {
                "shutdown" => pool.shutdown(),
                "shutdown_now" => pool.shutdown_now(),
                "kill" => pool.kill(),
                _ => {}
            }
            drop(pool);
            done_tx.send(()).unwrap();
        });
        drop(pool); // the callback may hold the last handle: its drop is `Drop`
        done_rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("{how} from a callback hung"));
        task.join().unwrap();
        assert!(
            wait_until(Duration::from_secs(5), || children().is_empty()),
            "{how}"
        );
    }
}

fn initializer_runs_in_every_worker() {
    let pool = ProcessPool::builder(&TASKS)
        .num_workers(2)
        .max_tasks_per_child(1)
        .initializer(remote!(init_tag), "ready".to_string())
        .build()
        .unwrap();
    for _ in 0..4 {
        assert_eq!(pool.submit(remote!(get_tag), ()).join().unwrap(), "ready");
    }
}

fn bad_configurations_are_build_errors() {
    let err =
        |b: stealpool::ProcessPoolBuilder| b.build().expect_err("should not build").to_string();
    let text = err(ProcessPool::builder(&TASKS).num_workers(0));
    assert!(text.contains("num_workers"), "{text}");
    let text = err(ProcessPool::builder(&TASKS).max_tasks_per_child(0));
    assert!(text.contains("max_tasks_per_child"), "{text}");
    let text = err(ProcessPool::builder(&TASKS).program("/nonexistent/stealpool-worker"));
    assert!(text.contains("/nonexistent/stealpool-worker"), "{text}");
    let text = err(ProcessPool::builder(&TASKS)
        .num_workers(1)
        .program("/bin/true"));
    assert!(text.contains("bootstrap"), "{text}");
    let text = err(ProcessPool::builder(&TASKS)
        .num_workers(2)
        .initializer(remote!(init_fail), ()));
    assert!(
        text.contains("initializer") && text.contains("refuses"),
        "{text}"
    );
    let text = err(ProcessPool::builder(&TASKS)
        .num_workers(1)
        .initializer(remote!(not_registered_init), ()));
    assert!(text.contains("not_registered_init"), "{text}");
    std::env::set_var(USE_OTHER, "1");
    let result = ProcessPool::builder(&TASKS).num_workers(1).build();
    std::env::remove_var(USE_OTHER);
    let text = result
        .expect_err("a worker with another registry")
        .to_string();
    assert!(text.contains("registry"), "{text}");
    assert!(children().is_empty(), "{:?}", children());
}

fn not_registered_init(_: ()) {}

fn a_crash_inside_a_chunk_fails_only_its_item() {
    let pool = pool(1);
    let out: Vec<_> = pool.map(0..6, remote!(abort_on_two), 6).collect();
    for (i, outcome) in out.into_iter().enumerate() {
        if i == 2 {
            assert!(outcome.unwrap_err().is_worker_lost());
        } else {
            assert_eq!(
                outcome.unwrap(),
                i as u32,
                "item {i} runs on the replacement"
            );
        }
    }
}

fn max_tasks_per_child_holds_inside_a_chunk() {
    let pool = ProcessPool::builder(&TASKS)
        .num_workers(1)
        .max_tasks_per_child(2)
        .build()
        .unwrap();
    let pids: Vec<u32> = pool
        .map(0..6, remote!(pid_of), 6)
        .map(Result::unwrap)
        .collect();
    for pair in pids.chunks(2) {
        assert_eq!(pair[0], pair[1], "{pids:?}");
    }
    assert!(
        pids[0] != pids[2] && pids[2] != pids[4] && pids[0] != pids[4],
        "{pids:?}"
    );
}

fn two_callbacks_shut_down_at_once() {
    let pool = Arc::new(pool(2));
    let gate = Gate::new();
    let tasks: Vec<_> = (0..2)
        .map(|_| pool.submit(remote!(wait_for_file), gate.path()))
        .collect();
    assert!(wait_until(Duration::from_secs(5), || tasks
        .iter()
        .all(Task::is_running)));
    let (done_tx, done_rx) = mpsc::channel();
    for task in &tasks {
        let pool = Arc::clone(&pool);
        let done_tx = done_tx.clone();
        task.on_done(move |_| {
            pool.shutdown();
            done_tx.send(()).unwrap();
        });
    }
    gate.open();
    for _ in 0..2 {
        done_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("two shutdowns from two slot threads deadlocked");
    }
    drop(tasks);
    drop(pool);
}

fn kill_runs_cancel_callbacks_after_killing() {
    let pool = Arc::new(pool(1));
    let hung = pool.submit(remote!(hang), ());
    assert!(wait_until(Duration::from_secs(5), || hung.is_running()));
    let queued = pool.submit(remote!(pid), ());
    let (done_tx, done_rx) = mpsc::channel();
    {
        let pool = Arc::clone(&pool);
        queued.on_done(move |outcome| {
            assert!(outcome.as_ref().unwrap_err().is_cancelled());
            pool.shutdown(); // must not wait on the hung worker
            done_tx.send(()).unwrap();
        });
    }
    let killer = std::thread::spawn({
        let pool = Arc::clone(&pool);
        move || pool.kill()
    });
    done_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("a cancel callback's shutdown waited on a hung worker");
    killer.join().unwrap();
    assert!(err_of(hung).is_worker_lost());
}

fn a_worker_without_bootstrap_cannot_build_pools() {
    std::env::set_var("STEALPOOL_PROCESS_WORKER", "1");
    let result = ProcessPool::builder(&TASKS).num_workers(1).build();
    std::env::remove_var("STEALPOOL_PROCESS_WORKER");
    let text = result
        .expect_err("a worker must not start workers")
        .to_string();
    assert!(text.contains("bootstrap"), "{text}");
}

fn crash_loop_breaks_the_pool() {
    let flag = std::env::temp_dir().join(format!("stealpool-crash-loop-{}", std::process::id()));
    let _ = std::fs::remove_file(&flag);
    let pool = ProcessPool::builder(&TASKS)
        .num_workers(1)
        .initializer(
            remote!(init_unless_file),
            flag.to_string_lossy().into_owned(),
        )
        .build()
        .unwrap();
    std::fs::write(&flag, b"break").unwrap();
    let crash = pool.submit(remote!(abort_now), ());
    let queued = pool.submit(remote!(pid), ());
    let cancelled = pool.submit(remote!(pid), ());
    assert!(cancelled.cancel());
    assert!(err_of(crash).is_worker_lost());
    assert!(
        err_of(cancelled).is_cancelled(),
        "breaking leaves a cancelled task cancelled"
    );
    let err = err_of(queued);
    assert!(
        err.is_worker_lost() && err.to_string().contains("broken"),
        "{err}"
    );
    let later = err_of(pool.submit(remote!(pid), ()));
    assert!(later.to_string().contains("broken"), "{later}");
    std::fs::remove_file(&flag).unwrap();
    drop(pool);
    assert!(children().is_empty(), "{:?}", children());
}

fn workers_exit_when_the_parent_dies() {
    let exe = std::env::current_exe().unwrap();
    let mut parent = std::process::Command::new(exe)
        .env(PARENT_MODE, "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(parent.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let workers: Vec<u32> = line
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(workers.len(), 2, "{line:?}");
    assert!(workers.iter().all(|&w| !is_gone(w)));
    parent.kill().unwrap();
    parent.wait().unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || workers
            .iter()
            .all(|&w| is_gone(w))),
        "orphaned workers {workers:?} still run"
    );
}

/// Issue 11, fault 9: with SIGCHLD ignored, the kernel reaps children as
/// they exit and `waitpid` says `ECHILD`, which read as "still running":
/// every recycle and the final `Drop` waited 1 s, then SIGKILLed a pid that
/// was no longer ours. A copy of this binary ignores SIGCHLD, recycles a
/// worker four times and drops its pool; it must take well under the 4 s
/// (plus the `Drop`) that the old code needed.
fn sigchld_ignored_does_not_stall_recycling() {
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    let out = std::process::Command::new(exe)
        .env(SIGCHLD_IGNORED_MODE, "1")
        .output()
        .unwrap();
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout.trim(), "5 tasks on 5 workers", "{out:?}");
    assert!(took < Duration::from_secs(2), "took {took:?}: {out:?}");
}

/// The body of `sigchld_ignored_does_not_stall_recycling`, in its own
/// process (the signal disposition is process-wide).
fn sigchld_ignored_mode() {
    // SAFETY: setting a signal's disposition to SIG_IGN, before any other
    // thread of this process depends on SIGCHLD.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    let pool = ProcessPool::builder(&TASKS)
        .num_workers(1)
        .max_tasks_per_child(1)
        .build()
        .unwrap();
    let pids: std::collections::HashSet<u32> = (0..5)
        .map(|_| pool.submit(remote!(pid), ()).join().unwrap())
        .collect();
    drop(pool);
    println!("5 tasks on {} workers", pids.len());
}

/// Issue 12: a worker's panic reached the parent's terminal as `thread
/// 'main' panicked at ..`, which read as if the parent had crashed. A copy
/// of this binary runs one panicking task; its stderr (which its worker
/// shares) must name the worker's pid and say the pool went on.
fn a_worker_panic_is_reported_as_the_workers() {
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .env(PANIC_REPORT_MODE, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded: the child's pool has one quick task, but a hang must fail.
    assert!(
        wait_until(Duration::from_secs(20), || matches!(
            child.try_wait(),
            Ok(Some(_))
        )),
        "the panic-report child did not exit"
    );
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{out:?}");
    let worker: u32 = stdout.trim().parse().expect("the worker's pid");
    let expected =
        format!("stealpool worker process {worker}: a task panicked at tests/process.rs:");
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(
        stderr.contains(
            ": the report test panics (the task fails with is_panic(); the pool goes on)"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("thread 'main' panicked"), "{stderr}");
}

/// The body of `a_worker_panic_is_reported_as_the_workers`, in its own
/// process (its workers' stderr is its own).
fn panic_report_mode() {
    let pool = pool(1);
    let worker = pool.submit(remote!(pid), ()).join().unwrap();
    let err = err_of(pool.submit(remote!(panic_now), "the report test panics".to_owned()));
    assert!(err.is_panic(), "{err}");
    // The same worker goes on.
    assert_eq!(pool.submit(remote!(pid), ()).join().unwrap(), worker);
    drop(pool);
    println!("{worker}");
}

/// Issue 12: under libtest's harness, the test binary prints "running 1
/// test" before `bootstrap` can answer, and the error blamed `bootstrap`.
/// A program that prints first must get an error that says so.
fn a_worker_that_prints_first_names_stdout_in_the_build_error() {
    let script =
        std::env::temp_dir().join(format!("stealpool-prints-first-{}", std::process::id()));
    std::fs::write(&script, "#!/bin/sh\necho 'running 1 test'\nexec sleep 30\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let started = Instant::now();
    let result = ProcessPool::builder(&TASKS)
        .num_workers(1)
        .program(&script)
        .build();
    let _ = std::fs::remove_file(&script);
    let text = result
        .expect_err("a program that prints first cannot be a worker")
        .to_string();
    assert!(text.contains("stdout"), "{text}");
    assert!(text.contains("running 1 test"), "{text}");
    assert!(text.contains("harness = false"), "{text}");
    // It failed on the text, without waiting for the handshake timeout.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// The parent of `workers_exit_when_the_parent_dies`: a pool of 2, one
/// worker busy forever, one idle; prints both pids, then waits to be killed.
fn parent_mode() {
    let pool = pool(2);
    let busy = pool.submit(remote!(hang), ());
    assert!(wait_until(Duration::from_secs(5), || busy.is_running()));
    let pids: Vec<String> = children().iter().map(|(pid, _)| pid.to_string()).collect();
    println!("{}", pids.join(" "));
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

// ---- the runner -----------------------------------------------------------

type Test = (&'static str, fn());

/// `(name, test)` pairs, named by the function's own name.
macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        &[$((stringify!($name), $name as fn())),*]
    };
}

const TESTS: &[Test] = tests![
    round_trip_and_order,
    thousand_tasks_through_two_workers,
    same_task_api_as_the_thread_pool,
    remote_panic_fails_only_its_task,
    abort_fails_only_its_task,
    segfault_fails_only_its_task,
    exit_mid_task_fails_only_its_task,
    killed_worker_fails_only_its_task,
    crash_leaves_other_workers_tasks_alone,
    deadline_kills_and_replaces_the_worker,
    an_endless_task_timeout_means_no_limit,
    sigchld_ignored_does_not_stall_recycling,
    a_chunk_items_deadline_starts_when_its_worker_starts_it,
    an_over_limit_argument_names_the_limit_it_broke,
    daemon_style_tasks_keep_their_files,
    a_task_that_takes_the_protocol_descriptors_gets_no_frames,
    workers_start_after_the_program_file_is_deleted,
    wait_timeout_never_kills,
    max_tasks_per_child_recycles,
    cancel_until_handed_over,
    a_result_whose_drop_panics_keeps_the_supervisor,
    a_dead_worker_whose_helper_holds_its_pipes_blocks_nothing,
    shutdown_now_gives_up_a_hand_over_to_a_stopped_worker,
    a_worker_that_will_not_take_a_task_is_replaced_at_the_deadline,
    shutdown_now_cancels_chunk_items_that_never_reached_a_worker,
    chunk_items_that_never_reached_a_worker_can_be_cancelled,
    shutdown_finishes_queued_work,
    shutdown_now_cancels_queued_work,
    kill_fails_running_and_cancels_queued,
    drop_does_not_hang_on_a_hung_task,
    large_arguments_and_results,
    task_output_does_not_disturb_the_protocol,
    serialization_failures,
    unknown_function_panics_with_its_name,
    shutdown_from_a_callback_does_not_deadlock,
    initializer_runs_in_every_worker,
    bad_configurations_are_build_errors,
    a_crash_inside_a_chunk_fails_only_its_item,
    max_tasks_per_child_holds_inside_a_chunk,
    two_callbacks_shut_down_at_once,
    kill_runs_cancel_callbacks_after_killing,
    a_worker_without_bootstrap_cannot_build_pools,
    a_worker_panic_is_reported_as_the_workers,
    a_worker_that_prints_first_names_stdout_in_the_build_error,
    crash_loop_breaks_the_pool,
    workers_exit_when_the_parent_dies,
];

/// Each test's time limit: a hang fails instead of stalling CI.
const TEST_LIMIT: Duration = Duration::from_secs(60);

fn run_tests() {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let selected: Vec<&Test> = TESTS
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    println!("\nrunning {} tests", selected.len());
    let started = Instant::now();
    let failed = AtomicUsize::new(0);
    for &&(name, test) in &selected {
        let (done_tx, done_rx) = mpsc::channel();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let result = catch_unwind(test);
                let _ = done_tx.send(result.is_ok());
            })
            .unwrap();
        let ok = match done_rx.recv_timeout(TEST_LIMIT) {
            Ok(ok) => ok,
            Err(_) => {
                println!("test {name} did not finish within {TEST_LIMIT:?}");
                false
            }
        };
        // No test may leave a child behind, running or zombie.
        let no_children = !ok || wait_until(Duration::from_secs(2), || children().is_empty());
        if ok && no_children {
            println!("test {name} ... ok");
        } else {
            if ok {
                println!("test {name} left children behind: {:?}", children());
            }
            println!("test {name} ... FAILED");
            failed.fetch_add(1, Ordering::Relaxed);
        }
    }
    let failed = failed.into_inner();
    let passed = selected.len() - failed;
    println!(
        "\ntest result: {}. {passed} passed; {failed} failed; 0 ignored; 0 measured; {} filtered out; finished in {:.2}s\n",
        if failed == 0 { "ok" } else { "FAILED" },
        TESTS.len() - selected.len(),
        started.elapsed().as_secs_f64()
    );
    std::process::exit(i32::from(failed > 0));
}
