#!/usr/bin/env python3
"""Print criterion results as a markdown table of medians and ratios.

Usage: python3 scripts/bench_table.py [GROUP_PREFIX ...]

Reads target/criterion/<group>/<function>/new/estimates.json (written by
`cargo bench`). In each group, every function whose name starts with
"stealpool" is compared with the fastest function that does not (the best
peer): ratio = stealpool median / best peer median, so < 1.0 means faster.
"""
import json
import pathlib
import sys

ROOT = pathlib.Path("target/criterion")


def fmt_ns(ns: float) -> str:
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.2f} {unit}"
    return f"{ns:.2f} ns"


def main() -> int:
    prefixes = sys.argv[1:] or [""]
    if not ROOT.is_dir():
        print("no target/criterion: run `cargo bench` first", file=sys.stderr)
        return 1
    print("| group | implementation | median | ratio to best peer |")
    print("|---|---|---:|---:|")
    for group in sorted(p for p in ROOT.iterdir() if p.is_dir()):
        if not any(group.name.startswith(prefix) for prefix in prefixes):
            continue
        medians = {}
        for est in group.glob("*/new/estimates.json"):
            data = json.loads(est.read_text())
            medians[est.parent.parent.name] = data["median"]["point_estimate"]
        if not medians:
            continue
        peers = {k: v for k, v in medians.items() if not k.startswith("stealpool")}
        best = min(peers.values()) if peers else None
        for name, ns in sorted(medians.items(), key=lambda kv: kv[1]):
            ratio = "" if best is None else f"{ns / best:.3g}x"
            if not name.startswith("stealpool"):
                ratio = "best peer" if ns == best else f"({ns / best:.3g}x)"
            print(f"| {group.name} | {name} | {fmt_ns(ns)} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
