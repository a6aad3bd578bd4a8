"""Summing the demo's hours into allocations, and grouping them like OpenCost's `aggregate`.

Only extensive quantities are kept (core-hours, byte-hours, bytes, dollars), so adding two
stretches or two allocations is plain addition; averages are taken when printing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from demo.cluster.catalog import HOUR, UNALLOCATED
from demo.cluster.generator import Sample
from demo.cluster.layout import Instance

_SUMMED = ("cpu_req", "cpu_use", "cpu_alloc", "ram_req", "ram_use", "ram_alloc", "gpu", "sent",
           "received", "lb")  # fmt: skip


class Acc:
    """Extensive sums of one allocation over [start, end)."""

    __slots__ = (
        "cpu_alloc",
        "cpu_max",
        "cpu_req",
        "cpu_use",
        "end",
        "gpu",
        "lb",
        "members",
        "props",
        "pvs",
        "ram_alloc",
        "ram_max",
        "ram_req",
        "ram_use",
        "raw",
        "received",
        "sent",
        "start",
    )

    def __init__(self, props: dict[str, Any], start: int, end: int, raw: bool = True) -> None:
        self.props, self.start, self.end, self.raw, self.members = props, start, end, raw, 1
        self.cpu_req = self.cpu_use = self.cpu_alloc = self.cpu_max = 0.0
        self.ram_req = self.ram_use = self.ram_alloc = self.ram_max = 0.0
        self.gpu = self.sent = self.received = self.lb = 0.0
        self.pvs: dict[str, float] = {}

    def add_hour(self, inst: Instance, sample: Sample, lo: int, hi: int) -> None:
        """Add the part [lo, hi) of one clock hour of `inst`."""
        cpu, cpu_max, ram, ram_max, sent, scale = sample
        cpu_req, ram_req = inst.cpu_req * scale, inst.ram_req * scale
        hours = (hi - lo) / HOUR
        self.start, self.end = min(self.start, lo), max(self.end, hi)
        # OpenCost allocates max(request, usage) of each resource.
        self.cpu_req += cpu_req * hours
        self.cpu_use += cpu * hours
        self.cpu_alloc += max(cpu_req, cpu) * hours
        self.cpu_max = max(self.cpu_max, cpu_max)
        self.ram_req += ram_req * hours
        self.ram_use += ram * hours
        self.ram_alloc += max(ram_req, ram) * hours
        self.ram_max = max(self.ram_max, ram_max)
        self.gpu += inst.gpu * hours
        self.sent += sent * hours
        self.received += sent * 1.4 * hours
        self.lb += inst.lb * hours
        if inst.pv:
            self.pvs[inst.pv[0]] = self.pvs.get(inst.pv[0], 0.0) + inst.pv[1] * hours

    def absorb(self, other: Acc, *, combine: bool) -> None:
        """Add `other`: a later stretch of the same allocation, or (combine) another one."""
        for field in _SUMMED:
            setattr(self, field, getattr(self, field) + getattr(other, field))
        self.cpu_max = max(self.cpu_max, other.cpu_max)
        self.ram_max = max(self.ram_max, other.ram_max)
        self.start, self.end = min(self.start, other.start), max(self.end, other.end)
        for volume, byte_hours in other.pvs.items():
            self.pvs[volume] = self.pvs.get(volume, 0.0) + byte_hours
        if combine:
            self.members += other.members
            self.props = _intersect(self.props, other.props)

    def copy(self) -> Acc:
        twin = Acc(self.props, self.start, self.end, self.raw)
        twin.absorb(self, combine=False)
        twin.members = self.members
        return twin


def _intersect(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    """Aggregated rows keep only the properties all members share (OpenCost does the same)."""
    return {key: value for key, value in left.items() if right.get(key) == value}


# --- aggregation -------------------------------------------------------------------------------
DEFAULT_AGGREGATE = ("cluster", "node", "namespace", "pod", "container")
_LABEL_ALIASES = {
    "department": "department",
    "environment": "env",
    "owner": "owner",
    "product": "app",
    "team": "team",
}


def _key_part(token: str, props: dict[str, Any]) -> str | None:
    """One dimension of an aggregation key; None for tokens OpenCost silently drops."""
    low = token.lower()
    value: Any
    if low in DEFAULT_AGGREGATE:
        value = props.get(low)
    elif low == "controllerkind":
        value = props.get("controllerKind")
    elif low == "controller":
        value = props.get("controller") and f"{props.get('controllerKind')}:{props['controller']}"
    elif low in ("deployment", "statefulset", "daemonset", "job"):
        value = props.get("controllerKind") == low and props.get("controller")
    elif low.startswith("label:") or low in _LABEL_ALIASES:
        label = token[len("label:") :] if low.startswith("label:") else _LABEL_ALIASES[low]
        value = (props.get("labels") or {}).get(label)
    else:
        return None
    return str(value) if value else UNALLOCATED


def aggregate(accs: Iterable[Acc], tokens: tuple[str, ...]) -> dict[str, Acc]:
    """Group allocations by the aggregation key; merges into the first member of each key."""
    rows: dict[str, Acc] = {}
    for acc in accs:
        parts = (_key_part(token, acc.props) for token in tokens)
        key = "/".join(part for part in parts if part is not None)
        if key in rows:
            rows[key].absorb(acc, combine=True)
        else:
            rows[key] = acc
    return rows
