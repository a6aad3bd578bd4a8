"""Typed values of the recommendation engine: settings, inputs, recommendations and their state.

Plain frozen msgspec structs only; no I/O and no behaviour beyond small derived properties.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal, Protocol

import msgspec

MIB = 1024 * 1024
HOURS_PER_MONTH = 730.0  # OpenCost's and the cloud providers' convention
SNAPSHOT_TTL = timedelta(days=180)  # long enough to judge reopen and realization after a decision

Rule = Literal["rightsize", "idle_workload", "unclaimed_volume", "idle_capacity"]
Status = Literal["open", "acknowledged", "snoozed", "dismissed"]
Action = Literal["acknowledge", "snooze", "dismiss", "reopen"]
# What a right-sizing means: lower requests (savings), raise under-requested ones (risk), or
# raise requests only because they are below the floors we recommend (minimum, not a risk).
Category = Literal["savings", "risk", "minimum"]
Profile = Literal["development", "production", "high-availability"]
# Kubecost-compatible sizing profiles: the target utilization of the request (usage ÷ target).
PROFILES: dict[str, float] = {"development": 0.80, "production": 0.65, "high-availability": 0.50}


class RecSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Every threshold of the engine, with the documented defaults (docs/recommendations.md)."""

    history_days: int = 14
    min_days: int = 3
    cpu_percentile: float = 95.0
    memory_buffer: float = 0.15
    cpu_floor_cores: float = 0.010
    memory_floor_bytes: float = 100.0 * MIB
    min_monthly_savings: float = 1.0
    idle_days: int = 7
    idle_cpu_cores: float = 0.001
    idle_network_bytes_per_second: float = 1024.0
    reopen_change: float = 0.20
    node_target_utilization: float = 0.8  # idle-capacity hint keeps nodes this full at most
    savings_bands: tuple[float, ...] = (10.0, 50.0, 200.0, 1000.0)
    # A change of less than this fraction of the current request is noise: not recommended.
    noise_band: float = 0.10
    profile: Profile | None = None  # None: the documented base rule (p95 CPU, peak + 15 %)
    # Short histories widen requests by ((1 + 1/days) / (1 + 1/history_days)) ** exponent.
    confidence_exponent: float = 1.0
    # Several clusters configured: each kubectl line names its cluster as `--context`.
    kube_context: bool = False

    def __post_init__(self) -> None:
        if self.history_days < 1 or self.min_days < 1 or self.idle_days < 1:
            raise ValueError("history_days, min_days and idle_days must be at least 1")
        if not 0.0 < self.cpu_percentile <= 100.0:
            raise ValueError("cpu_percentile must be in (0, 100]")
        if self.memory_buffer < 0 or self.reopen_change <= 0:
            raise ValueError("memory_buffer must be >= 0 and reopen_change > 0")
        if not 0.0 < self.node_target_utilization <= 1.0:
            raise ValueError("node_target_utilization must be in (0, 1]")
        if list(self.savings_bands) != sorted(self.savings_bands):
            raise ValueError("savings_bands must be ascending")
        if not 0.0 <= self.noise_band < 1.0 or self.confidence_exponent < 0:
            raise ValueError("noise_band must be in [0, 1) and confidence_exponent >= 0")
        if self.profile is not None and self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}")


class WorkloadKey(msgspec.Struct, frozen=True):
    """One container spec: what a right-sizing recommendation is about. Kind is lower-case."""

    cluster: str
    namespace: str
    kind: str
    controller: str
    container: str = ""

    def workload(self) -> WorkloadKey:
        """The same workload without the container (idle workloads are per workload)."""
        return WorkloadKey(self.cluster, self.namespace, self.kind, self.controller)


class ContainerSamples(msgspec.Struct, frozen=True, kw_only=True):
    """One container spec's history, pods pooled: the input of the right-sizing rule."""

    key: WorkloadKey
    days: int  # distinct days with data
    cpu_peaks: tuple[float, ...]  # one per pod per day, cores
    cpu_from_max: int  # how many of those came from rawAllocationOnly.cpuCoreUsageMax
    memory_peak: float  # bytes, highest working set seen
    memory_from_max: bool
    current_cpu: float  # cores requested per pod on the latest day
    current_memory: float  # bytes requested per pod on the latest day
    cpu_price: float  # cost per core-hour, 0 when unknown
    ram_price: float  # cost per byte-hour, 0 when unknown
    avg_pods: float


class WorkloadUsage(msgspec.Struct, frozen=True, kw_only=True):
    """One workload (all containers) over the idle window: the input of the idle rule."""

    key: WorkloadKey
    days: int
    pod_hours: float
    avg_cpu_cores: float  # per running pod
    avg_network_bytes_per_second: float | None  # per running pod; None when never measured
    cost: float  # total cost over the days observed


class Evidence(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Why a recommendation says what it says. Units: cores, bytes, cost per hour/month."""

    history_days: int = 0
    data_points: int = 0
    percentile: float | None = None
    cpu_percentile_cores: float | None = None  # raw percentile of daily per-pod peaks
    cpu_peak_cores: float | None = None  # highest daily per-pod peak
    cpu_source: str = ""  # "max" | "average" | "mixed": where daily peaks came from
    memory_peak_bytes: float | None = None
    memory_source: str = ""  # "max" | "average"
    buffer: float | None = None
    cpu_floor_applied: bool = False
    memory_floor_applied: bool = False
    hpa: bool = False
    hpa_target_utilization: float | None = None  # percent, as in the HPA spec
    cpu_unit_price: float | None = None  # per core-hour
    ram_unit_price: float | None = None  # per byte-hour
    avg_pods: float | None = None
    cpu_monthly_delta: float | None = None  # negative: the recommendation costs more
    memory_monthly_delta: float | None = None
    avg_cpu_cores: float | None = None
    avg_network_bytes_per_second: float | None = None
    monthly_cost: float | None = None
    idle_share: float | None = None
    node_count: float | None = None  # average nodes over the window
    removable_nodes: int | None = None
    volume_bytes: float | None = None
    storage_class: str = ""
    profile: str = ""  # "" is the documented base rule
    target_utilization: float | None = None  # the profile's, as a fraction
    confidence: str = ""  # "high" | "medium" | "low"
    confidence_factor: float | None = None  # how much a short history widened the requests
    notes: tuple[str, ...] = ()


class Recommendation(msgspec.Struct, frozen=True, kw_only=True):
    """One savings opportunity (or risk). `namespace` is "" for cluster-level ones."""

    id: str
    rule: Rule
    cluster: str
    namespace: str
    kind: str
    controller: str
    container: str
    title: str
    current_cpu: float | None = None  # cores per pod
    recommended_cpu: float | None = None
    current_memory: float | None = None  # bytes per pod
    recommended_memory: float | None = None
    monthly_savings: float = 0.0
    risk: bool = False
    risk_note: str = ""
    category: Category = "savings"
    minimum_note: str = ""  # why a raise comes from the floors we recommend, not from usage
    evidence: Evidence = Evidence()
    kubectl_patch: str = ""
    yaml: str = ""
    cluster_wide: bool = False
    version: str = ""

    @property
    def key(self) -> WorkloadKey:
        return WorkloadKey(self.cluster, self.namespace, self.kind, self.controller, self.container)


class Skipped(msgspec.Struct, frozen=True):
    """A workload the engine looked at but could not judge, and why."""

    key: WorkloadKey
    reason: str
    history_days: int = 0


class RecommendationSet(msgspec.Struct, frozen=True, kw_only=True):
    """One run of the engine for one scope, with the provenance of its data."""

    recommendations: list[Recommendation]
    skipped: list[Skipped]
    start: datetime
    end: datetime
    fetched_at: float
    demo: bool = False
    stale: bool = False
    failed_clusters: list[str] = msgspec.field(default_factory=list)
    warnings: list[str] = msgspec.field(default_factory=list)

    @property
    def total_monthly_savings(self) -> float:
        return sum(rec.monthly_savings for rec in self.recommendations)


# --- lifecycle ---------------------------------------------------------------------------------
class StateEvent(msgspec.Struct, frozen=True):
    at: datetime
    by: str  # Slack user id, or "costbot" for automatic transitions
    action: str  # an Action, or "snooze_expired" / "reopened"
    detail: str = ""


class RecState(msgspec.Struct, frozen=True, kw_only=True):
    """Where a recommendation stands for humans. Absent from the store means open."""

    id: str
    status: Status = "open"
    until: datetime | None = None  # end of a snooze
    reason: str = ""  # why it was dismissed
    by: str = ""
    at: datetime | None = None
    version_acted: str = ""  # the version the last human action was about
    history: tuple[StateEvent, ...] = ()


class ActResult(msgspec.Struct, frozen=True):
    changed: bool
    state: RecState


class RecSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The numbers of one version of a recommendation, kept to judge change and realization."""

    id: str
    version: str
    rule: Rule
    cluster: str
    namespace: str
    kind: str
    controller: str
    container: str
    current_cpu: float | None
    recommended_cpu: float | None
    current_memory: float | None
    recommended_memory: float | None
    monthly_savings: float
    band: int
    cpu_price: float | None
    ram_price: float | None
    avg_pods: float | None
    seen_at: datetime

    @property
    def key(self) -> WorkloadKey:
        return WorkloadKey(self.cluster, self.namespace, self.kind, self.controller, self.container)


class RealizedEntry(msgspec.Struct, frozen=True, kw_only=True):
    """Savings measured after a human acknowledged one version of a recommendation."""

    id: str
    version: str
    cluster: str
    namespace: str
    monthly_amount: float
    first_at: datetime  # when the drop was first measured
    measured_at: datetime  # the latest measurement


# --- HPAs ----------------------------------------------------------------------------------------
class HpaTarget(msgspec.Struct, frozen=True):
    """A HorizontalPodAutoscaler scaling on CPU. `cluster=""` matches any cluster."""

    namespace: str
    kind: str  # scaleTargetRef.kind, any case ("Deployment")
    name: str
    target_cpu_utilization: float  # percent, as in the HPA spec: 80 means 80 %
    cluster: str = ""

    def targets(self, key: WorkloadKey) -> bool:
        return (
            self.namespace == key.namespace
            and self.kind.lower() == key.kind.lower()
            and self.name == key.controller
            and self.cluster in ("", key.cluster)
        )


class HpaSource(Protocol):
    """Where HPAs come from (a Kubernetes adapter elsewhere; a static list in tests/demo)."""

    async def cpu_hpas(self) -> list[HpaTarget]: ...


class StaticHpaSource:
    """A fixed list of HPAs."""

    def __init__(self, hpas: list[HpaTarget] | None = None) -> None:
        self._hpas = list(hpas or [])

    async def cpu_hpas(self) -> list[HpaTarget]:
        return list(self._hpas)
