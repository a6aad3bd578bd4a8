"""The API's response and request bodies (pydantic; the OpenAPI schema is generated from them).

Translated from the services' answer structs by `api.translate`; no figure is computed here.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Window(_Model):
    start: datetime
    end: datetime
    label: str


class Coverage(_Model):
    partial_scope: bool = Field(description="the caller sees only some namespaces")
    failed_clusters: list[str] = Field(description="clusters whose OpenCost did not answer")


class Provenance(_Model):
    source: Literal["opencost", "demo"]
    demo: bool
    stale: bool = Field(description="served from the cache after OpenCost failed")
    fetched_at: datetime
    coverage: Coverage


class ClusterAccess(_Model):
    cluster_wide: bool
    namespaces: list[str]


class WhoAmI(_Model):
    user: str
    uid: str
    groups: list[str]
    extra: dict[str, list[str]]
    clusters: dict[str, ClusterAccess]


class NamespaceCost(_Model):
    name: str
    cluster: str
    cost: float


class Summary(_Model):
    window: Window
    currency: str
    total: float
    run_rate_monthly: float | None
    efficiency: float | None
    idle_cost: float | None = Field(description="only for callers with cluster-wide access")
    namespaces: list[NamespaceCost]
    provenance: Provenance


class TopItem(_Model):
    name: str
    namespace: str
    cluster: str
    cost: float
    share: float


class Top(_Model):
    window: Window
    currency: str
    by: str
    items: list[TopItem]
    total: float
    rest_count: int
    rest_cost: float
    provenance: Provenance


class WorkloadCost(_Model):
    name: str
    kind: str
    cluster: str
    cost: float
    share: float
    efficiency: float | None
    pods: int


class NamespaceCosts(_Model):
    namespace: str
    window: Window
    currency: str
    total: float
    run_rate_monthly: float | None
    efficiency: float | None
    pods: int
    resources: dict[str, float]
    workloads: list[WorkloadCost]
    provenance: Provenance


class Mover(_Model):
    change: Literal["up", "down", "new", "gone"]
    name: str
    namespace: str
    cluster: str
    before: float
    after: float
    delta: float
    delta_pct: float | None


class Compare(_Model):
    window: Window
    previous_window: Window
    currency: str
    dimension: str
    total: float
    previous_total: float
    delta: float
    delta_pct: float | None
    movers: list[Mover]
    provenance: Provenance


class TrendPoint(_Model):
    day: date
    cost: float
    partial: bool


class Trend(_Model):
    window: Window
    currency: str
    step: str
    total: float
    average_per_day: float | None
    points: list[TrendPoint]
    provenance: Provenance


class Resources(_Model):
    cpu_cores: float | None
    memory_bytes: float | None


class Recommendation(_Model):
    id: str
    version: str
    kind: str
    rule: str
    title: str
    cluster: str
    namespace: str
    workload: str
    container: str
    current: Resources
    recommended: Resources
    savings_monthly: float
    risk: bool
    state: str
    evidence: dict[str, Any]


class Recommendations(_Model):
    items: list[Recommendation]


class ActionBody(_Model):
    version: str = Field(min_length=1, max_length=100)
    days: int | None = Field(default=None, description="snooze only: 7 or 30")
    reason: str | None = Field(default=None, max_length=2000, description="dismiss only")


class ActionResult(_Model):
    changed: bool
    item: Recommendation


class Budget(_Model):
    id: str
    kind: str
    target: str | None = Field(description="null when it names a namespace you may not see")
    amount_monthly: float
    currency: str
    channel: str
    creator: str
    last_alert: datetime | None


class Budgets(_Model):
    items: list[Budget]


class Digest(_Model):
    id: str
    channel: str
    frequency: str
    day: str
    at: str
    tz: str
    scope_kind: str
    namespaces: list[str] | None = Field(description="null when you may not see them all")
    label: str | None
    paused: bool
    next_run: datetime | None
    last_run: datetime | None
    subscriber: str


class Digests(_Model):
    items: list[Digest]


class FieldProblem(_Model):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""
    instance: str = ""
    errors: list[FieldProblem] | None = None
    identity: dict[str, Any] | None = None
