"""Pure cost arithmetic over container-level OpenCost allocations: visibility, grouping, totals.

No I/O, no clock, no logging, no display rounding. Money is summed with `math.fsum` so every
total reconciles to the cent with the rows it came from.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from services.access.models import Scope
from services.errors import UserInputError
from services.opencost.models import IDLE, UNALLOCATED, UNMOUNTED, Allocation, parse_time, z

HOURS_PER_MONTH = 730.0  # OpenCost's and the cloud providers' convention
DIMENSIONS = ("namespace", "controller", "pod", "cluster", "node")
RESOURCES = ("cpu", "gpu", "ram", "pv", "network", "load_balancer", "shared")
# Rows that belong to the cluster rather than to a namespace (PVs without a claim, LBs
# without pods, rows OpenCost could not place): only cluster-wide viewers see them.
CLUSTER_PSEUDO_NAMESPACES = frozenset({"", UNMOUNTED, IDLE})
_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")


class GroupKey(NamedTuple):
    """One bucket of a dimension. `namespace`/`cluster` disambiguate controllers and pods."""

    name: str
    namespace: str = ""
    cluster: str = ""


class Ranked(NamedTuple):
    key: GroupKey
    cost: float


class Changes(NamedTuple):
    """Per-key movement between two periods; each list holds (key, before, after)."""

    up: list[tuple[GroupKey, float, float]]
    down: list[tuple[GroupKey, float, float]]
    new: list[tuple[GroupKey, float, float]]
    gone: list[tuple[GroupKey, float, float]]


# --- visibility -------------------------------------------------------------------------------
def is_visible(row: Allocation, scope: Scope) -> bool:
    """Idle and cluster-level rows need cluster-wide access to the row's own cluster; the rest
    need their namespace in that cluster."""
    view = scope.view(row.cluster)
    if row.is_idle or row.namespace in CLUSTER_PSEUDO_NAMESPACES:
        return view.cluster_wide
    return view.sees(row.namespace)


def visible(rows: Iterable[Allocation], scope: Scope) -> list[Allocation]:
    return [row for row in rows if is_visible(row, scope)]


def narrowed(
    rows: Iterable[Allocation],
    namespace: str | None = None,
    label: tuple[str, str] | None = None,
    cluster: str | None = None,
) -> list[Allocation]:
    """Rows inside an optional namespace / label / cluster focus (idle rows fall outside one)."""
    out = []
    for row in rows:
        if (namespace is not None or label is not None) and row.is_idle:
            continue
        if namespace is not None and row.namespace != namespace:
            continue
        if label is not None and not has_label(row, *label):
            continue
        if cluster is not None and row.cluster != cluster:
            continue
        out.append(row)
    return out


# --- labels -----------------------------------------------------------------------------------
def sanitize_label_key(key: str) -> str:
    """Prometheus label-name sanitising, as OpenCost applies it: `app.kubernetes.io/name` →
    `app_kubernetes_io_name`."""
    return _INVALID_LABEL_CHARS.sub("_", key)


def label_value(row: Allocation, key: str) -> str | None:
    """The row's value for label `key` (given raw or sanitised); pod labels win over the
    namespace's, as in OpenCost's own label aggregation."""
    keys = (key, sanitize_label_key(key))
    for labels in (row.properties.labels, row.properties.namespace_labels):
        for candidate in keys:
            if labels and candidate in labels:
                return labels[candidate]
    return None


def has_label(row: Allocation, key: str, value: str) -> bool:
    return not row.is_idle and label_value(row, key) == value


# --- grouping ---------------------------------------------------------------------------------
def parse_dimension(dimension: str, label_key: str | None = None) -> str:
    """Normalise `label` + key or `label:KEY` to `label:KEY`; reject unknown dimensions."""
    dim = dimension.strip()
    if dim.lower() == "label" and label_key:
        dim = f"label:{label_key}"
    if dim.lower().startswith("label:") and dim[6:].strip():
        return "label:" + dim[6:].strip()
    if dim.lower() in DIMENSIONS:
        return dim.lower()
    raise UserInputError(
        f"Unknown dimension {dimension!r}",
        hint="use namespace, controller, pod, label:KEY, cluster or node",
    )


def controller_name(row: Allocation) -> str:
    """OpenCost's controller key, `kind:name`, or `__unallocated__` when the pod has none."""
    props = row.properties
    if not props.controller:
        return UNALLOCATED
    return (
        f"{props.controller_kind}:{props.controller}"
        if props.controller_kind
        else (props.controller)
    )


def key_of(row: Allocation, dimension: str) -> GroupKey:
    """The bucket a row falls into for `dimension` (already normalised by parse_dimension)."""
    if dimension in ("cluster", "node"):
        place = row.properties.cluster if dimension == "cluster" else row.properties.node
        return GroupKey(place or (IDLE if row.is_idle else UNALLOCATED))
    if row.is_idle:
        return GroupKey(IDLE)
    return _workload_key(row, dimension)


def _workload_key(row: Allocation, dimension: str) -> GroupKey:
    props = row.properties
    if dimension == "namespace":
        return GroupKey(props.namespace or UNALLOCATED)
    if dimension == "controller":
        return GroupKey(controller_name(row), props.namespace, props.cluster)
    if dimension == "pod":
        return GroupKey(props.pod or UNALLOCATED, props.namespace, props.cluster)
    if dimension.startswith("label:"):
        value = label_value(row, dimension[6:])
        return GroupKey(UNALLOCATED if value is None else value)
    raise UserInputError(f"Unknown dimension {dimension!r}")


def group_by(rows: Iterable[Allocation], dimension: str) -> dict[GroupKey, list[Allocation]]:
    groups: dict[GroupKey, list[Allocation]] = defaultdict(list)
    for row in rows:
        groups[key_of(row, dimension)].append(row)
    return dict(groups)


def costs_by(rows: Iterable[Allocation], dimension: str) -> dict[GroupKey, float]:
    return {key: total(members) for key, members in group_by(rows, dimension).items()}


def ranked(costs: Mapping[GroupKey, float]) -> list[Ranked]:
    """Most expensive first; ties broken by name so answers are stable."""
    items = [Ranked(key, cost) for key, cost in costs.items()]
    return sorted(items, key=lambda item: (-item.cost, item.key))


# --- totals -----------------------------------------------------------------------------------
def total(rows: Iterable[Allocation]) -> float:
    return math.fsum(row.cost() for row in rows)


def resource_totals(rows: Iterable[Allocation]) -> dict[str, float]:
    """Cost per resource (each with its adjustment); sums to `total` when rows are consistent."""
    parts: dict[str, list[float]] = {name: [] for name in RESOURCES}
    for row in rows:
        for name, cost in row.resource_costs().items():
            parts[name].append(cost)
    return {name: math.fsum(values) for name, values in parts.items()}


def share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def pod_count(rows: Iterable[Allocation]) -> int:
    return len({(r.cluster, r.namespace, r.properties.pod) for r in rows if r.properties.pod})


def _ratio(used: float, requested: float, cost: float) -> float:
    """OpenCost's rule: usage ÷ request; with nothing requested, 1 if anything ran, else 0."""
    if requested > 0:
        return used / requested
    return 1.0 if used > 0 and cost > 0 else 0.0


def efficiency(rows: Iterable[Allocation]) -> float | None:
    """Cost-weighted CPU/RAM efficiency, as OpenCost's `totalEfficiency`:

    cpuEff = Σ usage core-hours ÷ Σ request core-hours (each row: average × its hours), ramEff
    likewise in byte-hours, then (cpuEff·cpuCost + ramEff·ramCost) ÷ (cpuCost + ramCost).
    Idle rows are left out (idle is reported on its own); None when no CPU/RAM cost.
    """
    cpu_used: list[float] = []
    cpu_req: list[float] = []
    ram_used: list[float] = []
    ram_req: list[float] = []
    cpu_cost: list[float] = []
    ram_cost: list[float] = []
    for row in rows:
        if row.is_idle:
            continue
        hours = row.hours()
        cpu_used.append(z(row.cpu_core_usage_average) * hours)
        cpu_req.append(z(row.cpu_core_request_average) * hours)
        ram_used.append(z(row.ram_byte_usage_average) * hours)
        ram_req.append(z(row.ram_byte_request_average) * hours)
        costs = row.resource_costs()
        cpu_cost.append(costs["cpu"])
        ram_cost.append(costs["ram"])
    cpu, ram = math.fsum(cpu_cost), math.fsum(ram_cost)
    if cpu + ram <= 0:
        return None
    cpu_eff = _ratio(math.fsum(cpu_used), math.fsum(cpu_req), cpu)
    ram_eff = _ratio(math.fsum(ram_used), math.fsum(ram_req), ram)
    return (cpu_eff * cpu + ram_eff * ram) / (cpu + ram)


# --- time -------------------------------------------------------------------------------------
def elapsed_hours(start: datetime, end: datetime, now: datetime) -> float:
    """Hours of [start, end) that have happened by `now` (a window may end in the future)."""
    return max(0.0, (min(end, now) - start).total_seconds() / 3600.0)


def run_rate(cost: float, hours: float) -> float | None:
    """Cost per month (730 h) at the pace of `hours`; None when no time has elapsed."""
    return cost / hours * HOURS_PER_MONTH if hours > 0 else None


def days_between(start: datetime, end: datetime) -> list[date]:
    """Every UTC date touched by [start, end)."""
    if end <= start:
        return []
    first = start.astimezone(UTC).date()
    last = (end - timedelta(microseconds=1)).astimezone(UTC).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def daily_costs(steps: list[list[Allocation]], start: datetime) -> dict[date, float]:
    """Cost per UTC day of daily step sets. A row's day is its set's window start; a set
    without one (OpenCost prints empty sets as `{}`) is `start` + its index in days."""
    parts: dict[date, list[float]] = defaultdict(list)
    for index, step in enumerate(steps):
        for row in step:
            began = parse_time(row.window.start) or start + timedelta(days=index)
            parts[began.astimezone(UTC).date()].append(row.cost())
    return {day: math.fsum(costs) for day, costs in parts.items()}


# --- comparison -------------------------------------------------------------------------------
def changes(before: Mapping[GroupKey, float], after: Mapping[GroupKey, float]) -> Changes:
    """Movers among keys present in both periods, plus keys only now (new) or only before
    (gone). Each list is ordered by the size of the move, largest first."""
    up: list[tuple[GroupKey, float, float]] = []
    down: list[tuple[GroupKey, float, float]] = []
    new: list[tuple[GroupKey, float, float]] = []
    gone: list[tuple[GroupKey, float, float]] = []
    for key in sorted(set(before) | set(after)):
        was, now = before.get(key), after.get(key)
        if was is None:
            new.append((key, 0.0, now or 0.0))
        elif now is None:
            gone.append((key, was, 0.0))
        elif now > was:
            up.append((key, was, now))
        elif now < was:
            down.append((key, was, now))

    def by_move(item: tuple[GroupKey, float, float]) -> float:
        return -abs(item[2] - item[1])

    return Changes(*(sorted(group, key=by_move) for group in (up, down, new, gone)))


def percent_change(before: float, after: float) -> float | None:
    """Relative change in percent; None when there was nothing before."""
    return (after - before) / before * 100.0 if before else None
