"""Several periods' rows of one aggregation, accumulated into one row per allocation, the way
OpenCost accumulates a window (`accumulate=true`): costs, hours and bytes add up, averages are
weighted by minutes, maxima take the largest, and the row spans from the first start to the
last end.

Blocks answer a 30-day window with 30 day sets; summing them here once means every later step
(scope filter, grouping, coverage) handles one row per allocation, not one per day.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import msgspec

from services.opencost.models import Allocation, RawAllocationOnly, Window

# Totals over the period: they add up.
_SUMMED = (
    "minutes",
    "cpu_core_hours",
    "cpu_cost",
    "cpu_cost_adjustment",
    "gpu_hours",
    "gpu_cost",
    "gpu_cost_adjustment",
    "network_transfer_bytes",
    "network_receive_bytes",
    "network_cost",
    "network_cost_adjustment",
    "load_balancer_cost",
    "load_balancer_cost_adjustment",
    "pv_byte_hours",
    "pv_cost",
    "pv_cost_adjustment",
    "ram_byte_hours",
    "ram_cost",
    "ram_cost_adjustment",
    "external_cost",
    "shared_cost",
    "total_cost",
)
# Averages over the period's minutes: weighted by each period's minutes.
_AVERAGED = (
    "cpu_cores",
    "cpu_core_request_average",
    "cpu_core_usage_average",
    "gpu_count",
    "pv_bytes",
    "ram_bytes",
    "ram_byte_request_average",
    "ram_byte_usage_average",
)


def accumulate(rows: Iterable[Allocation]) -> list[Allocation]:
    """One row per allocation name, in first-seen order (a name seen once is kept as it is)."""
    groups: dict[str, list[Allocation]] = {}
    for row in rows:
        found = groups.get(row.name)
        if found is None:
            groups[row.name] = [row]
        else:
            found.append(row)
    return [group[0] if len(group) == 1 else _merged(group) for group in groups.values()]


def _merged(group: Sequence[Allocation]) -> Allocation:
    minutes = [_finite(row.minutes) for row in group]
    span = math.fsum(minutes)
    values: dict[str, object] = {}
    for field in _SUMMED:
        present = [value for row in group if (value := getattr(row, field)) is not None]
        if present:
            values[field] = math.fsum(_finite(value) for value in present)
    for field in _AVERAGED:
        pairs = [(getattr(row, field), weight) for row, weight in zip(group, minutes, strict=True)]
        if any(value is not None for value, _ in pairs):
            weighted = math.fsum(_finite(value) * weight for value, weight in pairs)
            values[field] = weighted / span if span > 0 else None
    values["cpu_efficiency"] = _ratio(
        values.get("cpu_core_usage_average"), values.get("cpu_core_request_average")
    )
    values["ram_efficiency"] = _ratio(
        values.get("ram_byte_usage_average"), values.get("ram_byte_request_average")
    )
    values["total_efficiency"] = None  # OpenCost's own cost weighting; nothing reads it
    values["raw_allocation_only"] = _maxima(group)
    starts = [row.start for row in group if row.start]
    ends = [row.end for row in group if row.end]
    values["start"] = min(starts) if starts else ""
    values["end"] = max(ends) if ends else ""
    values["window"] = Window()
    return msgspec.structs.replace(group[0], **values)


def _maxima(group: Sequence[Allocation]) -> RawAllocationOnly | None:
    raws = [row.raw_allocation_only for row in group if row.raw_allocation_only is not None]
    if not raws:
        return None
    cpu = [raw.cpu_core_usage_max for raw in raws if raw.cpu_core_usage_max is not None]
    ram = [raw.ram_byte_usage_max for raw in raws if raw.ram_byte_usage_max is not None]
    return RawAllocationOnly(
        cpu_core_usage_max=max(cpu) if cpu else None,
        ram_byte_usage_max=max(ram) if ram else None,
    )


def _ratio(part: object, whole: object) -> float | None:
    if not isinstance(part, float) or not isinstance(whole, float) or whole <= 0:
        return None
    return part / whole


def _finite(value: float | None) -> float:
    return value if value is not None and math.isfinite(value) else 0.0
