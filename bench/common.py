"""Shared bits for the benchmarks: quick mode, percentiles, and the table / ratio printers.

Every benchmark prints its own table plus one `ratio:` line per comparison, so a smoke test
(and a reader) can find the result without parsing the table.
"""

from __future__ import annotations

import gc
import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any


def quick() -> bool:
    """BENCH_QUICK=1: tiny sizes, for the smoke test; the numbers then mean nothing."""
    return os.environ.get("BENCH_QUICK", "") not in ("", "0")


def pick(full: int, small: int) -> int:
    return small if quick() else full


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p in 0..100) of `samples`; NaN when there are none."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples) if samples else math.nan


def timed_runs(
    cases: dict[str, Callable[[], Any]], runs: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Wall times in seconds of `runs` calls of each case, after `warmup` calls each.

    Cases are interleaved (a, b, c, a, b, c, …) so a noisy neighbour slows them all alike, and a
    full GC runs before each call so one call's garbage is not billed to the next.
    """
    for fn in cases.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, fn in cases.items():
            gc.collect()
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    return times


def ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.2f}"


def ratio(ours: float, base: float) -> float:
    return ours / base if base > 0 and not math.isnan(base) else math.nan


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain, aligned text table (pastes into Markdown as a code block)."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}")
    for index, row in enumerate(cells):
        first = row[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True))
        print("  " + "  ".join((first, *rest)))
        if index == 0:
            print("  " + "  ".join("-" * w for w in widths))


def print_ratio(name: str, value: float, target: float | None = None, unit: str = "×") -> None:
    """`ratio: NAME = 1.83× (target ≤ 3×: met)` — the line the smoke test looks for."""
    shown = "n/a" if math.isnan(value) else f"{value:.2f}{unit}"
    if target is None:
        print(f"ratio: {name} = {shown}")
        return
    verdict = "n/a" if math.isnan(value) else ("met" if value <= target else "MISSED")
    print(f"ratio: {name} = {shown} (target ≤ {target:g}{unit}: {verdict})")


def print_percentile_ratio(
    name: str, ours: Sequence[float], base: Sequence[float], pct: float, target: float | None = None
) -> None:
    """The ratio of two samples' `pct` percentiles, ours over the baseline's."""
    print_ratio(name, ratio(percentile(ours, pct), percentile(base, pct)), target)


def print_check(name: str, value: float, target: float, unit: str) -> None:
    """An absolute target (e.g. ack p99 ≤ 50 ms), reported met or MISSED, never asserted."""
    verdict = "n/a" if math.isnan(value) else ("met" if value <= target else "MISSED")
    print(f"target: {name} = {value:.2f} {unit} (≤ {target:g} {unit}: {verdict})")


def banner(name: str, detail: str) -> None:
    mode = " [BENCH_QUICK: smoke sizes, numbers not meaningful]" if quick() else ""
    load = os.getloadavg()[0]
    print(f"\n=== {name}: {detail}{mode}")
    print(f"machine: {os.cpu_count()} cores, load average {load:.1f} at start")
