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
    # A preview cut to what the previewer may see (less than the subscriber's digest).
    narrowed_for_viewer: bool = False
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
    narrowed: bool = False  # cut further to what a previewer may see

    @property
    def empty(self) -> bool:
        return self.scope.empty


def intersect(first: Scope, second: Scope) -> Scope:
    """What both scopes see: cluster-wide figures only if both are cluster-wide, and only the
    namespaces both see (None, every namespace, is the neutral element)."""
    if first.namespaces is None:
        names = second.namespaces
    elif second.namespaces is None:
        names = first.namespaces
    else:
        names = first.namespaces & second.namespaces
    return Scope(namespaces=names, cluster_wide=first.cluster_wide and second.cluster_wide)


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
        pairs = [(cluster, ns) for cluster, found in present.items() for ns in found if ns]
        names = {ns for _, ns in pairs}
        extra = set(sub.namespaces) | set(sub.seen)  # asked about in every cluster
        now = await self._access.scope(identity, [*pairs, *sorted(extra)])
        if sub.scope_kind == "namespaces":
            wanted = frozenset(sub.namespaces)
            seen = now.visible_names()
            kept = wanted if seen is None else wanted & seen
            return VisibleScope(now.narrowed_to(wanted), len(wanted - kept), False)
        lost_cluster = sub.cluster_wide and not now.all_cluster_wide
        before = names if sub.cluster_wide else names & set(sub.seen)
        hidden = sum(1 for cluster, ns in pairs if ns in before and not now.sees(ns, cluster))
        return VisibleScope(now, hidden, lost_cluster)

    async def for_viewer(
        self, visible: VisibleScope, viewer: Identity, period: TimeRange
    ) -> VisibleScope:
        """The digest's visible scope cut to what `viewer` may see (a preview): never more
        than the subscriber's digest, never more than the viewer's own access."""
        present = await self._costs.visible_namespaces(period, with_previous=True)
        names = {ns for found in present.values() for ns in found if ns}
        if visible.scope.namespaces is not None:
            names = names | set(visible.scope.namespaces)
        mine = await self._access.scope(viewer, names)
        cut = intersect(visible.scope, mine)
        return VisibleScope(cut, visible.hidden, visible.lost_cluster_wide, cut != visible.scope)

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
            narrowed_for_viewer=visible.narrowed,
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
