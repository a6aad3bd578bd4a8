"""Pure reshaping of daily container-level allocation rows into the inputs of the rules.

Groups rows by container spec (pods pooled) or by workload; no I/O, no clock, no rounding.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from services.opencost.models import (
    UNALLOCATED,
    UNMOUNTED,
    Allocation,
    AllocationData,
    parse_time,
    z,
)
from services.recommendations.models import ContainerSamples, WorkloadKey, WorkloadUsage

# Kinds whose pod template a strategic-merge patch can change. Jobs (often one per CronJob run)
# and bare pods are left out: their next incarnation would not carry the patch.
PATCHABLE_KINDS = frozenset({"deployment", "statefulset", "daemonset", "replicaset"})


class DatedRow(NamedTuple):
    day: date
    row: Allocation


def dated_rows(data: AllocationData, start: datetime) -> list[DatedRow]:
    """Every row with its UTC day: the set's window start, else step index days after `start`."""
    out: list[DatedRow] = []
    for index, step in enumerate(data.steps):
        fallback = (start + timedelta(days=index)).astimezone(UTC).date()
        for row in step:
            moment = parse_time(row.window.start) or parse_time(row.start)
            out.append(DatedRow(moment.astimezone(UTC).date() if moment else fallback, row))
    return out


def container_key(row: Allocation) -> WorkloadKey | None:
    """The container spec a row belongs to, or None for rows no patch could reach."""
    props = row.properties
    kind = props.controller_kind.lower()
    if row.is_idle or kind not in PATCHABLE_KINDS:
        return None
    if props.controller in ("", UNALLOCATED) or props.container in ("", UNMOUNTED):
        return None
    return WorkloadKey(props.cluster, props.namespace, kind, props.controller, props.container)


class _Container:
    """Running totals for one container spec while rows stream past."""

    def __init__(self) -> None:
        self.peaks: dict[tuple[str, date], tuple[float, bool]] = {}
        self.memory_peak = 0.0
        self.memory_from_max = False
        self.rows = 0
        self.pod_hours = 0.0
        self.cpu_cost = self.cpu_hours = self.ram_cost = self.ram_hours = 0.0
        self.latest_day: date | None = None
        self.latest: list[Allocation] = []

    def add(self, day: date, row: Allocation) -> None:
        raw = row.raw_allocation_only
        cpu_max = raw.cpu_core_usage_max if raw else None
        peak, from_max = (
            (cpu_max, True) if cpu_max is not None else (z(row.cpu_core_usage_average), False)
        )
        slot = (row.properties.pod, day)
        if slot not in self.peaks or peak > self.peaks[slot][0]:
            self.peaks[slot] = (peak, from_max)
        ram_max = raw.ram_byte_usage_max if raw else None
        memory = ram_max if ram_max is not None else z(row.ram_byte_usage_average)
        if self.rows == 0 or memory > self.memory_peak:
            self.memory_peak, self.memory_from_max = memory, ram_max is not None
        self.rows += 1
        self.pod_hours += row.hours()
        self.cpu_cost += z(row.cpu_cost) + z(row.cpu_cost_adjustment)
        self.cpu_hours += z(row.cpu_core_hours)
        self.ram_cost += z(row.ram_cost) + z(row.ram_cost_adjustment)
        self.ram_hours += z(row.ram_byte_hours)
        if self.latest_day is None or day > self.latest_day:
            self.latest_day, self.latest = day, [row]
        elif day == self.latest_day:
            self.latest.append(row)

    def samples(self, key: WorkloadKey) -> ContainerSamples:
        days = len({day for _, day in self.peaks})
        cpu, memory = current_requests(self.latest)
        return ContainerSamples(
            key=key,
            days=days,
            cpu_peaks=tuple(peak for peak, _ in self.peaks.values()),
            cpu_from_max=sum(1 for _, from_max in self.peaks.values() if from_max),
            memory_peak=self.memory_peak,
            memory_from_max=self.memory_from_max,
            current_cpu=cpu,
            current_memory=memory,
            cpu_price=self.cpu_cost / self.cpu_hours if self.cpu_hours > 0 else 0.0,
            ram_price=self.ram_cost / self.ram_hours if self.ram_hours > 0 else 0.0,
            avg_pods=self.pod_hours / (days * 24.0) if days else 0.0,
        )


def container_samples(rows: Iterable[DatedRow]) -> list[ContainerSamples]:
    """One `ContainerSamples` per container spec, in a stable order."""
    groups: dict[WorkloadKey, _Container] = defaultdict(_Container)
    for day, row in rows:
        key = container_key(row)
        if key is not None:
            groups[key].add(day, row)
    return [groups[key].samples(key) for key in sorted(groups, key=_order)]


def current_requests(latest_day_rows: Sequence[Allocation]) -> tuple[float, float]:
    """(cores, bytes) requested per pod: the pods still running at the end of the latest day.

    A rollout during that day leaves old pods that ended earlier; their requests are history.
    """
    if not latest_day_rows:
        return 0.0, 0.0
    last_end = max(_end(row) for row in latest_day_rows)
    running = [row for row in latest_day_rows if _end(row) == last_end]
    cpu = sum(z(row.cpu_core_request_average) for row in running) / len(running)
    memory = sum(z(row.ram_byte_request_average) for row in running) / len(running)
    return cpu, memory


def requests_after(
    rows: Iterable[DatedRow], key: WorkloadKey, after: date
) -> tuple[float, float] | None:
    """Current requests of one container spec using only days after `after`; None if unseen."""
    matching = [(day, row) for day, row in rows if day > after and container_key(row) == key]
    if not matching:
        return None
    latest = max(day for day, _ in matching)
    return current_requests([row for day, row in matching if day == latest])


def workload_usage(rows: Iterable[DatedRow]) -> list[WorkloadUsage]:
    """Per workload (containers summed per pod): average CPU and network per running pod."""
    hours: dict[WorkloadKey, dict[tuple[str, date], float]] = defaultdict(dict)
    cpu_core_hours: dict[WorkloadKey, float] = defaultdict(float)
    network: dict[WorkloadKey, float | None] = {}
    cost: dict[WorkloadKey, float] = defaultdict(float)
    for day, row in rows:
        container = container_key(row)
        if container is None:
            continue
        key, slot = container.workload(), (row.properties.pod, day)
        hours[key][slot] = max(hours[key].get(slot, 0.0), row.hours())
        cpu_core_hours[key] += z(row.cpu_core_usage_average) * row.hours()
        cost[key] += row.cost()
        sent, received = row.network_transfer_bytes, row.network_receive_bytes
        if sent is not None or received is not None:
            network[key] = (network.get(key) or 0.0) + z(sent) + z(received)
        else:
            network.setdefault(key, None)
    return [
        _usage(key, hours[key], cpu_core_hours[key], network[key], cost[key])
        for key in sorted(hours, key=_order)
    ]


def _usage(
    key: WorkloadKey,
    slots: dict[tuple[str, date], float],
    cpu_core_hours: float,
    network_bytes: float | None,
    cost: float,
) -> WorkloadUsage:
    pod_hours = sum(slots.values())
    per_second = None
    if network_bytes is not None:
        per_second = network_bytes / (pod_hours * 3600.0) if pod_hours > 0 else 0.0
    return WorkloadUsage(
        key=key,
        days=len({day for _, day in slots}),
        pod_hours=pod_hours,
        avg_cpu_cores=cpu_core_hours / pod_hours if pod_hours > 0 else 0.0,
        avg_network_bytes_per_second=per_second,
        cost=cost,
    )


def _end(row: Allocation) -> datetime:
    return parse_time(row.end) or datetime.min.replace(tzinfo=UTC)


def _order(key: WorkloadKey) -> tuple[str, str, str, str, str]:
    return (key.cluster, key.namespace, key.kind, key.controller, key.container)
