"""The answers CostService gives: plain frozen structs that rendering reads and never recomputes.

No logic beyond trivial properties; every figure is already summed from the visible rows.
"""

from __future__ import annotations

from datetime import date, datetime

import msgspec

from services.costs.windows import TimeRange

_Struct = msgspec.Struct


class Focus(_Struct, frozen=True, kw_only=True):
    """Narrows compare/trend to one namespace, one label value and/or one cluster; all None =
    everything. The one Focus: parsed commands carry it, services answer for it."""

    namespace: str | None = None
    label: tuple[str, str] | None = None
    cluster: str | None = None

    @property
    def empty(self) -> bool:
        return self.namespace is None and self.label is None and self.cluster is None


EVERYWHERE = Focus()


class Provenance(_Struct, frozen=True):
    demo: bool
    stale: bool
    fetched_at: float
    failed_clusters: list[str]
    partial_scope: bool  # the requester sees only some namespaces
    missing: list[str] = msgspec.field(
        default_factory=list
    )  # periods whose data could not be fetched (left out of figures)


class Share(_Struct, frozen=True):
    name: str
    cost: float
    share: float  # of the answer's total, 0..1


class TopItem(_Struct, frozen=True):
    name: str
    cost: float
    share: float
    namespace: str = ""  # for controllers and pods
    cluster: str = ""


class Workload(_Struct, frozen=True):
    name: str  # OpenCost's `kind:name`, or `__unallocated__` for pods without a controller
    kind: str
    cluster: str
    cost: float
    share: float
    efficiency: float | None
    pods: int


class Mover(_Struct, frozen=True):
    name: str
    before: float
    after: float
    delta: float
    delta_pct: float | None
    namespace: str = ""
    cluster: str = ""


class DayCost(_Struct, frozen=True):
    day: date  # a local day of the window's zone
    cost: float
    partial: bool  # the day is not wholly inside the elapsed window
    hours: float = 24.0  # of the local day: 23 or 25 on a DST change


class Coverage(_Struct, frozen=True):
    """The stretch of the window the data actually covers (the earliest start and latest end
    of any row OpenCost returned), so rates are per covered hour, not per window hour."""

    start: datetime  # UTC
    end: datetime  # UTC, exclusive
    hours: float  # covered
    window_hours: float  # of the window elapsed when asked

    @property
    def short(self) -> bool:
        """Whether the data covers at least a day less than the window (worth saying)."""
        return self.window_hours - self.hours >= 24.0

    @property
    def days(self) -> float:
        return self.hours / 24.0

    @property
    def window_days(self) -> float:
        return self.window_hours / 24.0


class Summary(_Struct, frozen=True):
    window: TimeRange
    hours: float  # of the window elapsed when asked (rates use `coverage` when there is data)
    total: float
    top_namespaces: list[Share]
    namespace_count: int
    run_rate_monthly: float | None
    efficiency: float | None
    idle_cost: float | None  # None unless the requester may see cluster-wide figures
    idle_share: float | None
    clusters: list[str]
    provenance: Provenance
    coverage: Coverage | None = None  # None: no rows, nothing to cover


class NamespaceRow(_Struct, frozen=True):
    """One visible namespace in one cluster: its cost, the previous period's, and the split."""

    cluster: str
    namespace: str
    cost: float
    previous: float
    resources: dict[str, float]
    efficiency: float | None
    daily: list[DayCost]


class NamespaceTable(_Struct, frozen=True):
    """Every visible (cluster, namespace) of a window, most expensive first; the web overview."""

    window: TimeRange
    previous_window: TimeRange
    hours: float
    total: float
    previous_total: float
    rows: list[NamespaceRow]
    days: list[date]
    provenance: Provenance


class NamespaceBreakdown(_Struct, frozen=True):
    namespace: str
    window: TimeRange
    hours: float  # of the window elapsed when asked (rates use `coverage` when there is data)
    total: float
    workloads: list[Workload]
    resources: dict[str, float]
    efficiency: float | None
    run_rate_monthly: float | None
    pods: int
    clusters: list[str]
    provenance: Provenance
    coverage: Coverage | None = None  # None: no rows, nothing to cover


class TopList(_Struct, frozen=True):
    dimension: str  # namespace | controller | pod | cluster | node | label:KEY
    window: TimeRange
    hours: float  # of the window elapsed when asked (rates use `coverage` when there is data)
    items: list[TopItem]
    total: float  # of every visible row, shown or not
    shown_total: float
    rest_count: int
    rest_cost: float
    provenance: Provenance
    clusters: list[str] = msgspec.field(default_factory=list)  # of every visible row
    coverage: Coverage | None = None  # None: no rows, nothing to cover


class LabelBreakdown(_Struct, frozen=True):
    key: str
    value: str
    window: TimeRange
    hours: float  # of the window elapsed when asked (rates use `coverage` when there is data)
    total: float
    by_namespace: list[Share]
    by_controller: list[TopItem]
    resources: dict[str, float]
    run_rate_monthly: float | None
    provenance: Provenance
    clusters: list[str] = msgspec.field(default_factory=list)
    coverage: Coverage | None = None  # None: no rows, nothing to cover


class Comparison(_Struct, frozen=True):
    focus: Focus
    dimension: str  # what movers are: namespace, or controller when focused on a namespace
    window: TimeRange
    hours: float  # of the window elapsed when asked (rates use `coverage` when there is data)
    previous_window: TimeRange  # trimmed to the same elapsed length when this one still runs
    total: float
    previous_total: float
    delta: float
    delta_pct: float | None  # None when the previous period cost nothing
    up: list[Mover]
    down: list[Mover]
    new: list[Mover]  # only in this period
    gone: list[Mover]  # only in the previous one
    provenance: Provenance


class Trend(_Struct, frozen=True):
    focus: Focus
    window: TimeRange
    hours: float  # of the window elapsed when asked (rates use `coverage` when there is data)
    points: list[DayCost]
    total: float
    average_per_day: float | None
    min_day: DayCost | None  # over whole days when there are any
    max_day: DayCost | None
    provenance: Provenance
    coverage: Coverage | None = None  # None: no rows, nothing to cover
    clusters: list[str] = msgspec.field(default_factory=list)  # of the focused rows


class WorkloadContainer(_Struct, frozen=True):
    name: str
    cost: float
    share: float  # of the workload's total, 0..1
    efficiency: float | None


class WorkloadBreakdown(_Struct, frozen=True):
    """One workload (controller) in one namespace: its containers and its daily spend."""

    namespace: str
    name: str  # without the kind
    kind: str
    window: TimeRange
    hours: float  # of the window elapsed when asked (run-rates divide by this)
    total: float
    containers: list[WorkloadContainer]
    points: list[DayCost]
    resources: dict[str, float]
    efficiency: float | None
    run_rate_monthly: float | None
    pods: int
    clusters: list[str]
    provenance: Provenance
