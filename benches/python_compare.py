#!/usr/bin/env python3
"""Python's ThreadPoolExecutor on the spawn_many and submit_wait workloads,
against stealpool's criterion medians.

Usage:
    cargo bench --bench pool            # writes target/criterion/...
    python3 benches/python_compare.py   # times Python, prints the ratios

spawn_many: 100 000 empty tasks submitted from outside the pool, then every
result awaited. submit_wait: one tiny task submitted and its result awaited,
10 000 times. Both use a pool with as many workers as the stealpool bench
(the machine's cores, at least 2). Medians of RUNS runs.
"""
import concurrent.futures
import os
import statistics
import sys
import time

from criterion_results import criterion_median, fmt

SPAWN_MANY = 100_000
SUBMIT_WAIT = 10_000
RUNS = 5
WORKERS = max(2, os.cpu_count() or 2)


def noop(i):
    return i


def spawn_many(pool):
    start = time.perf_counter()
    futures = [pool.submit(noop, i) for i in range(SPAWN_MANY)]
    for f in futures:
        f.result()
    return (time.perf_counter() - start) / SPAWN_MANY


def submit_wait(pool):
    start = time.perf_counter()
    for i in range(SUBMIT_WAIT):
        pool.submit(noop, i).result()
    return (time.perf_counter() - start) / SUBMIT_WAIT




def main():
    with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
        spawn_many(pool)  # warm up: start the workers
        py_spawn = statistics.median(spawn_many(pool) for _ in range(RUNS))
        py_wait = statistics.median(submit_wait(pool) for _ in range(RUNS))
    rust = {
        "spawn_many": criterion_median("pool_spawn_many", "stealpool_submit_join", SPAWN_MANY),
        "submit_wait": criterion_median("pool_submit_wait", "stealpool_submit_join", 1),
    }
    print(f"Python {sys.version.split()[0]} ThreadPoolExecutor({WORKERS}) vs stealpool ThreadPool({WORKERS})")
    print("| workload | Python per task | stealpool per task | stealpool / Python |")
    print("|---|---:|---:|---:|")
    for name, py in (("spawn_many", py_spawn), ("submit_wait", py_wait)):
        rs = rust[name]
        if rs is None:
            print(f"| {name} | {fmt(py)} | (run `cargo bench --bench pool` first) | |")
        else:
            rs_s = rs / 1e9
            print(f"| {name} | {fmt(py)} | {fmt(rs_s)} | {rs_s / py:.3f}x ({py / rs_s:.0f}x faster) |")


if __name__ == "__main__":
    main()
