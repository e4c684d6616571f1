#!/usr/bin/env python3
"""Python's ProcessPoolExecutor on the process bench's workloads, against
stealpool's criterion medians.

Usage:
    cargo bench --features process --bench process   # writes target/criterion/...
    python3 benches/python_process_compare.py        # times Python, prints the ratios

round_trip: one no-op task submitted and its result awaited, back to back.
throughput: 1 000 no-op tasks submitted, then every result awaited (and the
same through `map` with chunksize 100). Both pools have 2 worker processes,
as in the Rust bench. Medians of RUNS runs, after a warm-up that starts
every worker.
"""
import concurrent.futures
import multiprocessing
import statistics
import sys
import time

from criterion_results import criterion_median, fmt

ROUND_TRIPS = 2_000
BATCH = 1_000
RUNS = 5
WORKERS = 2


def noop(x):
    return x


def round_trip(pool):
    start = time.perf_counter()
    for i in range(ROUND_TRIPS):
        pool.submit(noop, i).result()
    return (time.perf_counter() - start) / ROUND_TRIPS


def throughput(pool):
    start = time.perf_counter()
    futures = [pool.submit(noop, i) for i in range(BATCH)]
    for f in futures:
        f.result()
    return (time.perf_counter() - start) / BATCH


def mapped(pool):
    start = time.perf_counter()
    for _ in pool.map(noop, range(BATCH), chunksize=100):
        pass
    return (time.perf_counter() - start) / BATCH




def main():
    # "spawn" is what stealpool does (a fresh exec of the program) and what
    # Python 3.14 defaults to on macOS; "forkserver" is its new POSIX default.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    with concurrent.futures.ProcessPoolExecutor(max_workers=WORKERS, mp_context=context) as pool:
        list(pool.map(noop, range(4 * WORKERS)))  # warm up: start every worker
        py = {
            "round_trip": statistics.median(round_trip(pool) for _ in range(RUNS)),
            "throughput submit": statistics.median(throughput(pool) for _ in range(RUNS)),
            "throughput map(chunksize=100)": statistics.median(mapped(pool) for _ in range(RUNS)),
        }
    rust = {
        "round_trip": criterion_median("process_round_trip", "stealpool_submit_join", 1),
        "throughput submit": criterion_median("process_throughput", "stealpool_submit_join", BATCH),
        "throughput map(chunksize=100)": criterion_median(
            "process_throughput", "stealpool_map_chunk100", BATCH
        ),
    }
    print(
        f"Python {sys.version.split()[0]} ProcessPoolExecutor({WORKERS}, {method}) "
        f"vs stealpool ProcessPool({WORKERS})"
    )
    print("| workload | Python per task | stealpool per task | stealpool / Python |")
    print("|---|---:|---:|---:|")
    for name, py_s in py.items():
        rs = rust[name]
        if rs is None:
            print(f"| {name} | {fmt(py_s)} | (run `cargo bench --features process --bench process` first) | |")
        else:
            rs_s = rs / 1e9
            print(f"| {name} | {fmt(py_s)} | {fmt(rs_s)} | {rs_s / py_s:.3f}x ({py_s / rs_s:.0f}x faster) |")


if __name__ == "__main__":
    main()
