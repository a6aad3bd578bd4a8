"""What a digest says, as data: spend vs the previous period, top namespaces and movers,
efficiency, idle share, open recommendations, daily series for the chart.

Built from CostService answers for the scope the subscriber may see *now*; rendering to Block
Kit lives in handlers (injected as a `DigestRenderer`).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, NamedTuple, Protocol

import msgspec

from services.access.models import Identity, Scope
from services.access.policy import AccessPolicy
from services.costs.service import (
    Comparison,
    CostService,
    DayCost,
    Focus,
    Mover,
    Provenance,
    Share,
    Summary,
)
from services.costs.windows import TimeRange
from services.digests.models import Subscription
from services.errors import NotFound

TOP = 5
CHART_MIN_DAYS = 2.0  # a one-day digest gets no chart: one bar says nothing


# --- recommendations, from whoever provides them ------------------------------------------------
class RecsDigestItem(msgspec.Struct, frozen=True):
    title: str
    monthly_savings: float
    blocks: list[dict[str, Any]] = msgspec.field(default_factory=list)  # pre-rendered, optional


class RecsDigest(msgspec.Struct, frozen=True):
    items: list[RecsDigestItem]
    total_potential: float  # monthly, of every open recommendation in scope
    acknowledged_since: float  # monthly savings acknowledged since the last digest
    realized_since: float  # monthly savings measured as done since the last digest


class RecsDigestSource(Protocol):
    async def digest_items(self, scope: Scope, identity: Identity, limit: int) -> RecsDigest: ...


# --- the digest as data ---------------------------------------------------------------------------
class DigestData(msgspec.Struct, frozen=True, kw_only=True):
    subscription: Subscription
    fire: datetime  # the scheduled fire time (UTC)
    late: bool
    period: TimeRange
    previous: TimeRange
    total: float
    previous_total: float
    delta: float
    delta_pct: float | None  # percent; None when the previous period cost nothing
    top: list[Share]
    up: list[Mover]
    down: list[Mover]
    new: list[Mover]
    gone: list[Mover]
    efficiency: float | None
    idle_cost: float | None  # only for cluster-wide scopes
    idle_share: float | None
    recs: RecsDigest | None
    daily: list[DayCost]
    previous_daily: list[DayCost]
    hidden_namespaces: int  # subscribed namespaces the subscriber may no longer see
    lost_cluster_wide: bool
    provenance: Provenance
    clusters: list[str] = msgspec.field(default_factory=list)  # in the summary's rows


class Rendered(NamedTuple):
    text: str
    blocks: list[dict[str, Any]]


class DigestRenderer(Protocol):
    def summary(self, data: DigestData) -> Rendered: ...

    def details(self, data: DigestData, chart_file_id: str | None) -> Rendered: ...

    def chart(self, data: DigestData) -> tuple[bytes, str] | None:
        """PNG bytes and a title, or None when the digest has no chart."""
        ...

    def paused(self, sub: Subscription) -> Rendered: ...


class VisibleScope(NamedTuple):
    scope: Scope
    hidden: int  # subscribed namespaces, still present, that are no longer visible
    lost_cluster_wide: bool

    @property
    def empty(self) -> bool:
        return not self.scope.cluster_wide and self.scope.namespaces == frozenset()


class DigestContent:
    def __init__(
        self, costs: CostService, access: AccessPolicy, recs: RecsDigestSource | None = None
    ) -> None:
        self._costs = costs
        self._access = access
        self._recs = recs

    async def visible(
        self, sub: Subscription, identity: Identity, period: TimeRange
    ) -> VisibleScope:
        """The subscription's scope cut to what the subscriber may see now."""
        # with_previous: a namespace deleted since the last period still counts for "gone".
        present = await self._costs.visible_namespaces(period, with_previous=True)
        names = {ns for found in present.values() for ns in found if ns}
        now = await self._access.scope(identity, names | set(sub.namespaces) | set(sub.seen))
        if sub.scope_kind == "namespaces":
            wanted = frozenset(sub.namespaces)
            kept = wanted if now.namespaces is None else wanted & now.namespaces
            return VisibleScope(Scope(namespaces=kept), len(wanted - kept), False)
        lost_cluster = sub.cluster_wide and not now.cluster_wide
        before = names if sub.cluster_wide else names & set(sub.seen)
        hidden = sum(1 for ns in before if not now.sees(ns))
        return VisibleScope(now, hidden, lost_cluster)

    async def build(
        self,
        sub: Subscription,
        identity: Identity,
        fire: datetime,
        period: TimeRange,
        visible: VisibleScope,
        *,
        late: bool = False,
    ) -> DigestData:
        scope = visible.scope
        focus = Focus(label=sub.label) if sub.label is not None else Focus()
        compared, summary, top = await self._totals(sub, period, scope, focus)
        daily, before = await self._series(period, compared.previous_window, scope, focus)
        recs = await self._recs.digest_items(scope, identity, TOP) if self._recs else None
        return DigestData(
            subscription=sub,
            fire=fire,
            late=late,
            period=period,
            previous=compared.previous_window,
            total=compared.total,
            previous_total=compared.previous_total,
            delta=compared.delta,
            delta_pct=compared.delta_pct,
            top=top,
            up=compared.up[:TOP],
            down=compared.down[:TOP],
            new=compared.new[:TOP],
            gone=compared.gone[:TOP],
            efficiency=summary.efficiency if summary else None,
            idle_cost=summary.idle_cost if summary and sub.scope_kind == "everything" else None,
            idle_share=summary.idle_share if summary and sub.scope_kind == "everything" else None,
            recs=recs,
            daily=daily,
            previous_daily=before,
            hidden_namespaces=visible.hidden,
            lost_cluster_wide=visible.lost_cluster_wide,
            provenance=compared.provenance,
            clusters=summary.clusters if summary else [],
        )

    async def _totals(
        self, sub: Subscription, period: TimeRange, scope: Scope, focus: Focus
    ) -> tuple[Comparison, Summary | None, list[Share]]:
        if sub.label is None:
            compared, summary = await asyncio.gather(
                self._costs.compare(period, scope), self._costs.summary(period, scope, top=TOP)
            )
            return compared, summary, summary.top_namespaces
        compared = await self._compare_or_empty(period, scope, focus)
        try:
            top = (await self._costs.label(*sub.label, period, scope)).by_namespace[:TOP]
        except NotFound:
            top = []
        return compared, None, top

    async def _compare_or_empty(self, period: TimeRange, scope: Scope, focus: Focus) -> Comparison:
        try:
            return await self._costs.compare(period, scope, focus)
        except NotFound:  # nothing carries the label in either period: an all-zero digest
            return await self._costs.compare(period, Scope(namespaces=frozenset()))

    async def _series(
        self, period: TimeRange, previous: TimeRange, scope: Scope, focus: Focus
    ) -> tuple[list[DayCost], list[DayCost]]:
        if period.days() < CHART_MIN_DAYS:
            return [], []
        now, before = await asyncio.gather(
            self._trend(period, scope, focus), self._trend(previous, scope, focus)
        )
        return now, before

    async def _trend(self, window: TimeRange, scope: Scope, focus: Focus) -> list[DayCost]:
        try:
            return (await self._costs.trend(window, scope, focus)).points
        except NotFound:
            return []
