#!/usr/bin/env python3
"""Draw the benchmark charts (SVG) of docs/benchmarks.md.

Usage:
    python3 scripts/bench_charts.py                 # the recorded figures
    python3 scripts/bench_charts.py --criterion     # the last `cargo bench`
    python3 scripts/bench_charts.py --check         # data file vs the doc

Needs matplotlib (`pip install matplotlib`). Run from the repository root.

Without options it reads docs/img/bench_figures.json, the figures recorded
in docs/benchmarks.md (each block names the section it comes from), and
writes the committed charts to docs/img/:

- pool_peers.svg, pool_peers_latest.svg: each implementation's median over
  the best peer's in its group, as bars from 1 on a log scale (left of 1:
  faster than the best peer);
- event_ping_pong.svg: the Event ping-pong round trip, every peer;
- forkjoin.svg: fib_join and tree_sum against rayon and sequential code,
  and the cost of one join in instructions.

With --criterion it reads target/criterion/<group>/<function>/new/
{estimates,sample}.json (written by `cargo bench`, as scripts/bench_table.py
does) and writes the same kinds of chart to target/charts/ (or --out DIR):
the pool_* groups as ratio bars (best peer as in bench_table.py: the
fastest function whose name does not start with "stealpool"), and
event_ping_pong and the forkjoin_* groups as medians with their 95 %
confidence interval and every sample (time per iteration).

--check looks up every figure of the data file in docs/benchmarks.md, as
written there, and says which it cannot find.
"""
import argparse
import json
import pathlib
import re
import sys

DATA = pathlib.Path("docs/img/bench_figures.json")
DOC = pathlib.Path("docs/benchmarks.md")
CRITERION = pathlib.Path("target/criterion")

STEALPOOL = "#1f77b4"
PEER = "#9a9a9a"
UNITS_NS = {"ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}


def parse_ns(text):
    """'278.95 ns' -> 278.95; '1.78 ms' -> 1.78e6."""
    number, unit = text.split()
    return float(number) * UNITS_NS[unit]


def fmt_ns(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.2f} {unit}"
    return f"{ns:.2f} ns"


def fmt_num(x):
    """A recorded figure as written (2.40 shows as 2.4)."""
    return f"{x:g}"


def pyplot():
    try:
        import matplotlib
    except ImportError:
        sys.exit("matplotlib is missing: pip install matplotlib")
    matplotlib.use("svg")
    import matplotlib.pyplot as plt

    # The same input gives the same SVG bytes: text stays text, ids are
    # seeded, no date.
    plt.rcParams.update(
        {
            "svg.fonttype": "none",
            "svg.hashsalt": "stealpool-bench-charts",
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    return plt


def save(plt, fig, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    print(f"wrote {path}")


def is_stealpool(name):
    return name.startswith("stealpool")


# ---------------------------------------------------------------------------
# Ratio bars: each row's median over the best peer's, bars from 1, log scale.


def ratio_rows(group):
    """(label, ratio, is_best) per row of a group. A row's ratio is the one
    recorded; where it is not, the median over the best peer's median."""
    best = [r for r in group["rows"] if r[2] == "best"]
    if len(best) != 1:
        sys.exit(f"{group['group']}: exactly one row must be the best peer")
    best_ns = parse_ns(best[0][1]) if best[0][1] else None
    out = []
    for name, median, ratio in group["rows"]:
        if ratio == "best":
            ratio, is_best = 1.0, True
        else:
            is_best = False
            if ratio is None:
                ratio = parse_ns(median) / best_ns
            elif median and best_ns:
                # The recorded ratio is from unrounded medians; the rounded
                # ones must agree within rounding.
                derived = parse_ns(median) / best_ns
                if abs(derived / ratio - 1) > 0.02:
                    sys.exit(f"{group['group']}/{name}: ratio {ratio} but medians give {derived:.3g}")
        label = name if not median else f"{name}  ({median})"
        out.append((name, label, ratio, is_best))
    return out


def ratio_chart(plt, spec, path):
    rows = []  # (y label, ratio or None for a group header, colour, is_best)
    for group in spec["groups"]:
        header = group["group"]
        if group.get("what"):
            header += f": {group['what']}"
        rows.append((header, None, None, False))
        for name, label, ratio, is_best in ratio_rows(group):
            rows.append((label, ratio, STEALPOOL if is_stealpool(name) else PEER, is_best))

    ratios = [r[1] for r in rows if r[1] is not None]
    lo, hi = min(ratios + [1.0]) / 3, max(ratios + [1.0]) * 3
    fig, ax = plt.subplots(figsize=(8.5, 0.26 * len(rows) + 1.0))
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(-len(rows), 0.5)
    ax.axvline(1.0, color="black", linewidth=0.8)
    labels, ticks = [], []
    for i, (label, ratio, colour, is_best) in enumerate(rows):
        y = -i
        if ratio is None:
            ax.text(lo, y, label, fontweight="bold", va="center", ha="left")
            continue
        ticks.append(y)
        labels.append(label)
        if is_best:
            ax.plot([1.0], [y], marker="D", color=PEER, markersize=5)
            ax.text(1.0 * 1.08, y, "best peer = 1", va="center", ha="left", color="dimgray")
            continue
        ax.barh(y, ratio - 1.0, left=1.0, height=0.7, color=colour)
        text = f"{ratio:.3g}×"
        if ratio < 1:
            ax.text(ratio / 1.08, y, text, va="center", ha="right")
        else:
            ax.text(ratio * 1.08, y, text, va="center", ha="left")
    ax.set_yticks(ticks, labels)
    ax.tick_params(axis="y", length=0)
    ax.spines["left"].set_visible(False)
    ax.set_xlabel("median / best peer's median, same run (log scale; < 1: stealpool is faster)")
    ax.set_title(spec["title"], loc="left", fontweight="bold")
    if spec.get("source"):
        fig.text(0.0, -0.02, "Figures: " + spec["source"], fontsize=7, color="dimgray",
                 va="top", wrap=True)
    save(plt, fig, path)


# ---------------------------------------------------------------------------
# Points: per row, each series' values (dots) or ranges (a line).


def points_chart(plt, spec, path):
    panels = spec["panels"]
    heights = [len(p["rows"]) + 1.5 for p in panels]
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(8.5, 0.38 * sum(heights) + 0.8),
        gridspec_kw={"height_ratios": heights}, squeeze=False,
    )
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    for ax, panel in zip(axes[:, 0], panels):
        rows = panel["rows"]
        n = len(panel["series"])
        offsets = [((n - 1) / 2 - k) * 0.22 for k in range(n)]  # first series on top
        everything = []
        for k, series in enumerate(panel["series"]):
            colour = colours[k % len(colours)]
            first = True
            for r, row in enumerate(rows):
                value = series["values"].get(row)
                if value is None:
                    continue
                y = -r + offsets[k]
                label = series["label"] if first else None
                first = False
                if isinstance(value, dict):
                    a, b = value["range"]
                    everything += [a, b]
                    ax.plot([a, b], [y, y], color=colour, linewidth=2.5, solid_capstyle="butt",
                            label=label + " (range)" if label else None)
                    ax.plot([a, b], [y, y], marker="|", color=colour, markersize=9, linestyle="none")
                    ax.text(b, y - 0.08, f" {fmt_num(a)}–{fmt_num(b)}", va="top", ha="left",
                            fontsize=7, color=colour)
                elif panel.get("bars") and len(value) == 1:
                    everything += value
                    ax.barh(y, value[0], height=0.2, color=colour, label=label)
                    ax.text(value[0], y, f" {fmt_num(value[0])}", va="center", ha="left", fontsize=7)
                else:
                    everything += value
                    many = len(value) > 12  # criterion's samples: small dots
                    ax.plot(value, [y] * len(value), linestyle="none",
                            marker="." if many else series.get("marker", "o"),
                            markersize=3 if many else 5, alpha=0.5 if many else 1.0,
                            color=colour, label=label)
                    if not many:
                        shown = ", ".join(fmt_num(v) for v in value)
                        ax.text(max(value), y + 0.12, f" {shown}", va="bottom", ha="left",
                                fontsize=7, color=colour)
        if panel.get("log"):
            ax.set_xscale("log")
            ax.set_xlim(min(everything) / 2, max(everything) * 3)
        else:
            ax.set_xlim(0, max(everything) * 1.25)
        ax.set_ylim(-len(rows) + 0.4, 0.6)
        ax.set_yticks([-r for r in range(len(rows))], rows)
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        ax.grid(axis="x", color="#e5e5e5", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.set_xlabel(panel["unit"] + (" (log scale)" if panel.get("log") else ""))
        ax.set_title(panel["title"], loc="left", fontsize=9, fontweight="bold")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    fig.suptitle(spec["title"], x=0.0, ha="left", fontweight="bold")
    fig.tight_layout()
    sources = [s["source"] for p in panels for s in p["series"] if s.get("source")]
    if sources:
        fig.text(0.0, 0.0, "Figures: " + "; ".join(dict.fromkeys(sources)), fontsize=7,
                 color="dimgray", va="top", wrap=True)
    save(plt, fig, path)


# ---------------------------------------------------------------------------
# Inputs.


def recorded():
    return json.loads(DATA.read_text())


def criterion_groups():
    """{group: {function: (median ns, (ci low, ci high), [ns per iteration])}}"""
    groups = {}
    for est in sorted(CRITERION.glob("*/*/new/estimates.json")):
        median = json.loads(est.read_text())["median"]
        ci = median["confidence_interval"]
        samples = []
        sample_file = est.parent / "sample.json"
        if sample_file.exists():
            s = json.loads(sample_file.read_text())
            samples = [t / n for t, n in zip(s["times"], s["iters"])]
        group, function = est.parent.parent.parent.name, est.parent.parent.name
        groups.setdefault(group, {})[function] = (
            median["point_estimate"], (ci["lower_bound"], ci["upper_bound"]), samples)
    return groups


def from_criterion():
    if not CRITERION.is_dir():
        sys.exit("no target/criterion: run `cargo bench` first")
    groups = criterion_groups()
    data = {"peers": [], "points": []}

    pool = []
    for group, functions in groups.items():
        if not group.startswith("pool_"):
            continue
        peers = {f: v[0] for f, v in functions.items() if not is_stealpool(f)}
        if not peers:
            continue
        best = min(peers, key=peers.get)
        rows = [[f, fmt_ns(v[0]), "best" if f == best else v[0] / peers[best]]
                for f, v in sorted(functions.items(), key=lambda kv: kv[1][0])]
        pool.append({"group": group, "rows": rows})
    if pool:
        data["peers"].append({"file": "pool_peers.svg", "groups": pool,
                              "title": "ThreadPool against its peers (target/criterion)",
                              "source": "criterion medians, target/criterion/pool_*"})

    def panel(group, unit, scale, log):
        functions = groups[group]
        rows = sorted(functions, key=lambda f: functions[f][0])
        return {
            "title": group, "unit": unit, "log": log, "rows": rows,
            "series": [
                {"label": "median", "marker": "o",
                 "values": {f: [functions[f][0] / scale] for f in rows}},
                {"label": "95 % CI of the median", "marker": "|",
                 "values": {f: {"range": [x / scale for x in functions[f][1]]} for f in rows}},
                {"label": "samples (time per iteration)",
                 "values": {f: [x / scale for x in functions[f][2]] for f in rows
                            if functions[f][2]}},
            ],
        }

    if "event_ping_pong" in groups:
        data["points"].append({"file": "event_ping_pong.svg",
                               "title": "Event ping-pong: time per round trip (target/criterion)",
                               "panels": [panel("event_ping_pong", "µs", 1e3, True)]})
    forkjoin = [g for g in sorted(groups) if g.startswith("forkjoin_")]
    if forkjoin:
        data["points"].append({"file": "forkjoin.svg",
                               "title": "Fork-join against rayon and sequential code (target/criterion)",
                               "panels": [panel(g, "ms", 1e6, False) for g in forkjoin]})
    return data


def check():
    """Every figure of the data file, looked up in docs/benchmarks.md."""
    doc = DOC.read_text()
    numbers = set(re.findall(r"\d+(?:\.\d+)?", doc))
    missing = []

    def want(x, where):
        text = x if isinstance(x, str) else f"{x:g}"
        if isinstance(x, str):
            # "1.78 ms" may be written "1.78 ms" or in a list "2.44, 3.07 ms".
            text = x.split()[0]
        candidates = {text, text.rstrip("0").rstrip(".") if "." in text else text}
        if isinstance(x, float):
            candidates |= {f"{x:.1f}", f"{x:.2f}", f"{x:.3f}", f"{x:.3g}"}
        if not candidates & numbers:
            missing.append(f"{where}: {x}")

    data = recorded()
    for spec in data["peers"]:
        for group in spec["groups"]:
            for name, median, ratio in group["rows"]:
                if median:
                    want(median, f"{spec['file']} {group['group']}/{name}")
                if isinstance(ratio, float):
                    want(ratio, f"{spec['file']} {group['group']}/{name} ratio")
    for spec in data["points"]:
        for panel in spec["panels"]:
            for series in panel["series"]:
                for row, value in series["values"].items():
                    values = value["range"] if isinstance(value, dict) else value
                    for v in values:
                        want(float(v), f"{spec['file']} {panel['title']} / {row}")
    for m in missing:
        print("not in docs/benchmarks.md:", m)
    print(f"{len(missing)} figure(s) not found")
    return 1 if missing else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--criterion", action="store_true",
                        help="chart target/criterion instead of the recorded figures")
    parser.add_argument("--check", action="store_true",
                        help="look up every recorded figure in docs/benchmarks.md")
    parser.add_argument("--out", type=pathlib.Path,
                        help="output folder (docs/img, or target/charts with --criterion)")
    args = parser.parse_args()
    if args.check:
        return check()
    data = from_criterion() if args.criterion else recorded()
    out = args.out or pathlib.Path("target/charts" if args.criterion else "docs/img")
    plt = pyplot()
    for spec in data["peers"]:
        ratio_chart(plt, spec, out / spec["file"])
    for spec in data["points"]:
        points_chart(plt, spec, out / spec["file"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
