"""Shared by the Python comparison scripts: criterion's stored medians, and
how to print a duration."""
import json
import pathlib

CRITERION = pathlib.Path("target/criterion")


def criterion_median(group, function, per_element):
    """The median of criterion's last run of group/function, in ns per
    element, or None if that bench has not run."""
    path = CRITERION / group / function / "new" / "estimates.json"
    if not path.exists():
        return None
    ns = json.loads(path.read_text())["median"]["point_estimate"]
    return ns / per_element


def fmt(seconds):
    """A duration in µs (two decimals) or ns."""
    return f"{seconds * 1e6:.2f} µs" if seconds >= 1e-6 else f"{seconds * 1e9:.0f} ns"
