//! Fork-join as a user's crate measures it (issue 10's "second setup").
//!
//! A separate crate with its own release profile (`lto = "thin"`,
//! `codegen-units = 1`): stealpool's code is inlined the way a dependent's
//! build inlines it, not the way `cargo bench` in stealpool's repo does.
//! Each workload gets a fresh two-thread pool, one warm-up call, then
//! `RUNS` timed `pool.install(|| f())` calls from the main thread; each call
//! reports its wall time and the process's CPU time, so that a repetition in
//! which the second worker never joined in (CPU ≈ wall) shows.
//!
//! Run: `cargo run --release --manifest-path benches/consumer/Cargo.toml`
//! (add `-- 5` for five rounds; each round runs every workload once).

use std::hint::black_box;
use std::time::{Duration, Instant};

const FIB: u32 = 30;
const TREE_DEPTH: u32 = 22;
const RUNS: usize = 10;
const THREADS: usize = 2;

mod fib;
use fib::{fib_joins, fib_rayon, fib_seq, fib_stealpool, fib_worker};

struct Node {
    value: u64,
    left: Option<Box<Node>>,
    right: Option<Box<Node>>,
}

/// A balanced tree built in preorder (each node allocated before its
/// subtrees).
fn build(depth: u32, next: &mut u64) -> Option<Box<Node>> {
    if depth == 0 {
        return None;
    }
    *next += 1;
    let mut node = Box::new(Node {
        value: *next,
        left: None,
        right: None,
    });
    node.left = build(depth - 1, next);
    node.right = build(depth - 1, next);
    Some(node)
}

fn sum_seq(node: &Option<Box<Node>>) -> u64 {
    node.as_ref()
        .map_or(0, |n| n.value + sum_seq(&n.left) + sum_seq(&n.right))
}

fn sum_stealpool(node: &Option<Box<Node>>) -> u64 {
    node.as_ref().map_or(0, |n| {
        let (l, r) = stealpool::join(|| sum_stealpool(&n.left), || sum_stealpool(&n.right));
        n.value + l + r
    })
}

fn sum_rayon(node: &Option<Box<Node>>) -> u64 {
    node.as_ref().map_or(0, |n| {
        let (l, r) = rayon::join(|| sum_rayon(&n.left), || sum_rayon(&n.right));
        n.value + l + r
    })
}

/// The process's CPU time so far (all threads).
fn process_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write to.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Wall and CPU time of each of `RUNS` calls, after one warm-up.
struct Sample {
    wall: Vec<f64>,
    cpu: Vec<f64>,
}

impl Sample {
    fn median(&self) -> f64 {
        let mut w = self.wall.clone();
        w.sort_by(|a, b| a.partial_cmp(b).unwrap());
        (w[RUNS / 2 - 1] + w[RUNS / 2]) / 2.0
    }
    fn min(&self) -> f64 {
        self.wall.iter().copied().fold(f64::INFINITY, f64::min)
    }
    fn max(&self) -> f64 {
        self.wall.iter().copied().fold(0.0, f64::max)
    }
    /// The lowest CPU / wall of any repetition (1.0: one thread busy).
    fn min_parallelism(&self) -> f64 {
        self.cpu
            .iter()
            .zip(&self.wall)
            .map(|(c, w)| c / w)
            .fold(f64::INFINITY, f64::min)
    }
    /// All repetitions' CPU over their wall time. (Per repetition, the
    /// process CPU clock is too coarse at a few ms: other threads' time is
    /// accounted at scheduler ticks.)
    fn parallelism(&self) -> f64 {
        self.cpu.iter().sum::<f64>() / self.wall.iter().sum::<f64>()
    }
    /// The median repetition's CPU / wall.
    fn median_parallelism(&self) -> f64 {
        let mut p: Vec<f64> = self
            .cpu
            .iter()
            .zip(&self.wall)
            .map(|(c, w)| c / w)
            .collect();
        p.sort_by(|a, b| a.partial_cmp(b).unwrap());
        (p[RUNS / 2 - 1] + p[RUNS / 2]) / 2.0
    }
    fn median_cpu(&self) -> f64 {
        let mut c = self.cpu.clone();
        c.sort_by(|a, b| a.partial_cmp(b).unwrap());
        (c[RUNS / 2 - 1] + c[RUNS / 2]) / 2.0
    }
}

fn time(mut f: impl FnMut() -> u64) -> Sample {
    let expected = f();
    let mut sample = Sample {
        wall: Vec::with_capacity(RUNS),
        cpu: Vec::with_capacity(RUNS),
    };
    for _ in 0..RUNS {
        let (c0, t0) = (process_cpu(), Instant::now());
        let r = black_box(f());
        let (wall, cpu) = (t0.elapsed(), process_cpu() - c0);
        assert_eq!(r, expected);
        sample.wall.push(wall.as_secs_f64() * 1e3);
        sample.cpu.push(cpu.as_secs_f64() * 1e3);
    }
    sample
}

fn report(name: &str, s: &Sample) {
    if std::env::var_os("CONSUMER_VERBOSE").is_some() {
        let reps: Vec<String> = s
            .wall
            .iter()
            .zip(&s.cpu)
            .map(|(w, c)| format!("{w:.2}/{:.2}", c / w))
            .collect();
        println!("{name:<20} each (ms/parallelism): {}", reps.join(" "));
    }
    println!(
        "{name:<20} median {:8.3} ms  min {:8.3}  max {:8.3}  max/min {:4.2}  CPU/wall {:4.2} (per call: min {:4.2}, median {:4.2})",
        s.median(),
        s.min(),
        s.max(),
        s.max() / s.min(),
        s.parallelism(),
        s.min_parallelism(),
        s.median_parallelism(),
    );
}

fn spin(d: Duration) -> u64 {
    let t = Instant::now();
    let mut n = 0_u64;
    while t.elapsed() < d {
        n = n.wrapping_add(1);
        std::hint::spin_loop();
    }
    n
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(1, |r| r.parse().expect("rounds"));
    let tree = build(TREE_DEPTH, &mut 0);
    let expected = sum_seq(&tree);
    assert_eq!(
        expected,
        (1u64 << TREE_DEPTH) * ((1u64 << TREE_DEPTH) - 1) / 2
    );
    let joins = fib_joins(FIB) as f64;

    for round in 1..=rounds {
        println!("== round {round} (fresh pools, {THREADS} threads, {RUNS} timed calls each)");
        let seq_fib = time(|| fib_seq(black_box(FIB)));
        let seq_tree = time(|| sum_seq(black_box(&tree)));
        let sp_fib = {
            let pool = stealpool::ThreadPool::new(THREADS).unwrap();
            let s = time(|| pool.install(|| fib_stealpool(black_box(FIB))));
            if std::env::var_os("CONSUMER_VERBOSE").is_some() {
                println!("fib pool: {:?}", pool.stats());
            }
            s
        };
        let sp_fib_worker = {
            let pool = stealpool::ThreadPool::new(THREADS).unwrap();
            time(|| pool.with_worker(|w| fib_worker(w, black_box(FIB))))
        };
        let sp_fib_worker_one = {
            let pool = stealpool::ThreadPool::new(1).unwrap();
            time(|| pool.with_worker(|w| fib_worker(w, black_box(FIB))))
        };
        let sp_fib_one = {
            let pool = stealpool::ThreadPool::new(1).unwrap();
            time(|| pool.install(|| fib_stealpool(black_box(FIB))))
        };
        let ry_fib_one = {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap();
            time(|| pool.install(|| fib_rayon(black_box(FIB))))
        };
        let sp_tree = {
            let pool = stealpool::ThreadPool::new(THREADS).unwrap();
            time(|| pool.install(|| sum_stealpool(black_box(&tree))))
        };
        let ry_fib = {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(THREADS)
                .build()
                .unwrap();
            time(|| pool.install(|| fib_rayon(black_box(FIB))))
        };
        let ry_tree = {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(THREADS)
                .build()
                .unwrap();
            time(|| pool.install(|| sum_rayon(black_box(&tree))))
        };
        report("sequential fib", &seq_fib);
        report("stealpool fib_join", &sp_fib);
        report("stealpool Worker::join", &sp_fib_worker);
        report("rayon fib_join", &ry_fib);
        report("sequential tree_sum", &seq_tree);
        report("stealpool tree_sum", &sp_tree);
        report("rayon tree_sum", &ry_tree);
        report("stealpool fib, 1 thr", &sp_fib_one);
        report("stealpool Worker, 1 t", &sp_fib_worker_one);
        report("rayon fib, 1 thread", &ry_fib_one);
        let overhead = |s: &Sample| (s.median_cpu() - seq_fib.median_cpu()) * 1e6 / joins;
        let overhead_one = |s: &Sample| (s.median() - seq_fib.median()) * 1e6 / joins;
        println!(
            "fib_join: stealpool/rayon {:.2}x, stealpool/sequential {:.2}x; per-join overhead on a 1-thread pool ((wall - sequential) / joins): stealpool {:.2} ns, rayon {:.2} ns; on 2 threads ((CPU - sequential CPU) / joins, includes idle spinning): stealpool {:.1} ns, rayon {:.1} ns",
            sp_fib.median() / ry_fib.median(),
            sp_fib.median() / seq_fib.median(),
            overhead_one(&sp_fib_one),
            overhead_one(&ry_fib_one),
            overhead(&sp_fib),
            overhead(&ry_fib),
        );
        println!(
            "fib with Worker::join: /rayon {:.2}x, /sequential {:.2}x; per-join overhead on a 1-thread pool {:.2} ns",
            sp_fib_worker.median() / ry_fib.median(),
            sp_fib_worker.median() / seq_fib.median(),
            overhead_one(&sp_fib_worker_one),
        );
        println!(
            "tree_sum: stealpool/rayon {:.2}x, stealpool/sequential {:.2}x",
            sp_tree.median() / ry_tree.median(),
            sp_tree.median() / seq_tree.median(),
        );
        // The smallest case: two 300 ms halves from a fresh pool, at once.
        let pool = stealpool::ThreadPool::new(THREADS).unwrap();
        let t = Instant::now();
        pool.install(|| {
            stealpool::join(
                || spin(Duration::from_millis(300)),
                || spin(Duration::from_millis(300)),
            )
        });
        println!(
            "fresh pool, install(join(spin 300 ms, spin 300 ms)): {:.0} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
    }
}
