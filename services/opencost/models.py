"""Typed OpenCost data as costbot uses it, decoded once at the adapter edge.

These structs mirror OpenCost's field names on the wire (camelCase, via `rename`), so a cached
answer is OpenCost-shaped JSON again. Every number may be `null` in OpenCost (NaN → null), so
numeric fields are `float | None` with helpers that read them as 0.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import msgspec

IDLE = "__idle__"
UNALLOCATED = "__unallocated__"
UNMOUNTED = "__unmounted__"


class Window(msgspec.Struct, frozen=True):
    start: str | None = None
    end: str | None = None


class Properties(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    cluster: str = ""
    node: str = ""
    namespace: str = ""
    controller_kind: str = ""
    controller: str = ""
    pod: str = ""
    container: str = ""
    provider_id: str = ""
    labels: dict[str, str] | None = None
    namespace_labels: dict[str, str] | None = None


class RawAllocationOnly(msgspec.Struct, frozen=True, rename="camel"):
    cpu_core_usage_max: float | None = None
    ram_byte_usage_max: float | None = None


class Allocation(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    """One OpenCost allocation (a row of one step set)."""

    name: str = ""
    properties: Properties = Properties()
    window: Window = Window()
    start: str = ""
    end: str = ""
    minutes: float | None = None
    cpu_cores: float | None = None
    cpu_core_request_average: float | None = None
    cpu_core_usage_average: float | None = None
    cpu_core_hours: float | None = None
    cpu_cost: float | None = None
    cpu_cost_adjustment: float | None = None
    cpu_efficiency: float | None = None
    gpu_count: float | None = None
    gpu_hours: float | None = None
    gpu_cost: float | None = None
    gpu_cost_adjustment: float | None = None
    network_transfer_bytes: float | None = None
    network_receive_bytes: float | None = None
    network_cost: float | None = None
    network_cost_adjustment: float | None = None
    load_balancer_cost: float | None = None
    load_balancer_cost_adjustment: float | None = None
    pv_bytes: float | None = None
    pv_byte_hours: float | None = None
    pv_cost: float | None = None
    pv_cost_adjustment: float | None = None
    ram_bytes: float | None = None
    ram_byte_request_average: float | None = None
    ram_byte_usage_average: float | None = None
    ram_byte_hours: float | None = None
    ram_cost: float | None = None
    ram_cost_adjustment: float | None = None
    ram_efficiency: float | None = None
    external_cost: float | None = None
    shared_cost: float | None = None
    total_cost: float | None = None
    total_efficiency: float | None = None
    raw_allocation_only: RawAllocationOnly | None = None

    # --- reading helpers: OpenCost nulls read as zero -------------------------------------
    @property
    def cluster(self) -> str:
        return self.properties.cluster

    @property
    def namespace(self) -> str:
        return self.properties.namespace

    @property
    def is_idle(self) -> bool:
        # Aggregated names join parts with "/" (e.g. "cluster-one/__idle__"); checked per row.
        return IDLE in self.name

    def cost(self) -> float:
        return _z(self.total_cost)

    def resource_costs(self) -> dict[str, float]:
        """Cost by resource, each including its reconciliation adjustment."""
        return {
            "cpu": _z(self.cpu_cost) + _z(self.cpu_cost_adjustment),
            "gpu": _z(self.gpu_cost) + _z(self.gpu_cost_adjustment),
            "ram": _z(self.ram_cost) + _z(self.ram_cost_adjustment),
            "pv": _z(self.pv_cost) + _z(self.pv_cost_adjustment),
            "network": _z(self.network_cost) + _z(self.network_cost_adjustment),
            "load_balancer": _z(self.load_balancer_cost) + _z(self.load_balancer_cost_adjustment),
            "shared": _z(self.shared_cost) + _z(self.external_cost),
        }

    def hours(self) -> float:
        return _z(self.minutes) / 60.0

    def start_at(self) -> datetime | None:
        return parse_time(self.start)


class AllocationResponse(msgspec.Struct, frozen=True):
    """The `/allocation` envelope. `status` is optional: newer builds omit it."""

    code: int = 200
    data: list[dict[str, Allocation]] | None = None
    message: str | None = None


class AssetProperties(msgspec.Struct, frozen=True, rename="camel"):
    category: str = ""
    provider: str = ""
    cluster: str = ""
    name: str = ""
    provider_id: str = msgspec.field(default="", name="providerID")


class Asset(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    """One OpenCost asset. Only the fields costbot reads; the rest are ignored on decode."""

    type: str = ""
    properties: AssetProperties = AssetProperties()
    start: str = ""
    end: str = ""
    minutes: float | None = None
    total_cost: float | None = None
    adjustment: float | None = None
    bytes: float | None = None
    storage_class: str = ""
    volume_name: str = ""
    claim_name: str = ""
    claim_namespace: str = ""
    local: float | None = None
    node_type: str = ""
    cpu_cores: float | None = None
    ram_bytes: float | None = None

    def cost(self) -> float:
        return _z(self.total_cost) + _z(self.adjustment)

    def hours(self) -> float:
        return _z(self.minutes) / 60.0


class AssetResponse(msgspec.Struct, frozen=True):
    code: int = 200
    data: dict[str, Asset] | None = None
    message: str | None = None


def _z(value: float | None) -> float:
    """OpenCost prints NaN/Inf as null; for sums, null is nothing."""
    if value is None or not math.isfinite(value):
        return 0.0
    return value


z = _z


def parse_time(text: str | None) -> datetime | None:
    if not text or text == "null":
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- what a cost source is asked and answers ------------------------------------------------
class AllocationQuery(msgspec.Struct, frozen=True):
    """One `/allocation` question, window already resolved to explicit UTC instants.

    `aggregate=""` means OpenCost's default (cluster,node,namespace,pod,container), i.e. the
    container level costbot aggregates itself. `step=""` means one set for the whole window.
    """

    start: datetime
    end: datetime
    step: str = ""
    aggregate: str = ""
    include_idle: bool = False
    # A v2 filter string; a hint only: older OpenCost ignores it, so callers filter again.
    filter: str = ""

    def window_param(self) -> str:
        return f"{_rfc3339(self.start)},{_rfc3339(self.end)}"


class AllocationData(msgspec.Struct, frozen=True):
    """What a cost source answers: one list of allocations per step, plus provenance."""

    steps: list[list[Allocation]]
    fetched_at: float  # unix seconds when the data left OpenCost
    demo: bool = False
    stale: bool = False  # served from the last good answer because the source failed
    failed_clusters: list[str] = msgspec.field(default_factory=list)
    # Periods left out because their block could not be fetched ("2026-11-20", or an hour).
    missing: list[str] = msgspec.field(default_factory=list)

    def rows(self) -> list[Allocation]:
        return [row for step in self.steps for row in step]


class AssetData(msgspec.Struct, frozen=True):
    assets: list[Asset]
    fetched_at: float
    demo: bool = False
    stale: bool = False
    failed_clusters: list[str] = msgspec.field(default_factory=list)


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
