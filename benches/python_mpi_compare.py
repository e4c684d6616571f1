"""mpi4py.futures' MPIPoolExecutor on the workloads of benches/mpi.rs.

Run: mpirun -n 3 --oversubscribe python3 -m mpi4py.futures benches/python_mpi_compare.py
(add --allow-run-as-root as root). Prints medians of 5 rounds, per call.
"""
import statistics
import time

from mpi4py.futures import MPIPoolExecutor, as_completed

ROUNDS = 5
ROUND_TRIPS = 2000
CALLS = 10000


def noop(x):
    return x


def main():
    with MPIPoolExecutor() as pool:
        for i in range(200):  # warm up
            pool.submit(noop, i).result()
        trips, spread, chunked = [], [], []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            for i in range(ROUND_TRIPS):
                assert pool.submit(noop, i).result() == i
            trips.append((time.perf_counter() - started) / ROUND_TRIPS)
            started = time.perf_counter()
            futures = [pool.submit(noop, i) for i in range(CALLS)]
            assert sum(1 for _ in as_completed(futures)) == CALLS
            spread.append((time.perf_counter() - started) / CALLS)
            started = time.perf_counter()
            assert sum(1 for _ in pool.map(noop, range(CALLS), chunksize=100)) == CALLS
            chunked.append((time.perf_counter() - started) / CALLS)
        for name, samples in [
            ("round trip: submit + result, one at a time", trips),
            ("throughput: 10 000 submits, as_completed", spread),
            ("throughput: map over 10 000 items, chunksize 100", chunked),
        ]:
            print(f"| {name} | {statistics.median(samples) * 1e6:.2f} µs |")


if __name__ == "__main__":
    main()
