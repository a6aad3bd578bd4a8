"""The recommendations one requester sees, with their lifecycle states: list, find, act.

Joins OptimizationService (what is recommended now, for a Scope) with the RecStore
(what people did about it) and RealizedSavings (what acknowledged changes saved), so handlers
and digests ask one question.
"""

from __future__ import annotations

import asyncio

import msgspec

from services.access.models import Scope
from services.recommendations.engine import OptimizationService
from services.recommendations.models import Recommendation, RecState
from services.recommendations.ports import RecStore
from services.recommendations.realized import RealizedSavings


class BoardItem(msgspec.Struct, frozen=True):
    rec: Recommendation
    state: RecState


class Board(msgspec.Struct, frozen=True, kw_only=True):
    items: list[BoardItem]  # savings, best first
    risks: list[BoardItem]  # under-requested workloads
    minimums: list[BoardItem]  # requests below the floors we recommend (not a risk)
    profile: str  # the sizing profile used; "" for the documented default rule
    total_savings: float  # of the open savings items
    hidden: int  # not open (acknowledged, snoozed, dismissed) and not asked for
    skipped: int  # workloads with too little history
    realized_monthly: float  # measured savings of acknowledged changes the scope may see
    demo: bool
    stale: bool
    fetched_at: float
    failed_clusters: list[str]
    partial_scope: bool


class RecommendationBoard:
    def __init__(
        self,
        optimizer: OptimizationService,
        store: RecStore,
        *,
        realized: RealizedSavings | None = None,
    ) -> None:
        self.optimizer = optimizer
        self.store = store
        self.realized = realized

    async def board(
        self,
        scope: Scope,
        namespace: str | None = None,
        include_all: bool = False,
        *,
        profile: str | None = None,
    ) -> Board:
        found, _ = await asyncio.gather(self.optimizer.generate(scope, profile), self._measure())
        recs = [r for r in found.recommendations if namespace is None or r.namespace == namespace]
        for rec in recs:
            await self.store.visible_status(rec)  # settles snooze expiry and re-opening
        states = await self.store.states([rec.id for rec in recs])
        items = [BoardItem(rec, states[rec.id]) for rec in recs]
        shown = [i for i in items if include_all or i.state.status == "open"]
        savings = sorted(
            (i for i in shown if i.rec.category == "savings"),
            key=lambda i: (-i.rec.monthly_savings, i.rec.id),
        )
        return Board(
            items=savings,
            risks=[i for i in shown if i.rec.category == "risk"],
            minimums=[i for i in shown if i.rec.category == "minimum"],
            profile=profile or self.optimizer.settings_for(None).profile or "",
            total_savings=sum(i.rec.monthly_savings for i in savings if i.state.status == "open"),
            hidden=len(items) - len(shown),
            skipped=len(found.skipped),
            realized_monthly=await self._realized(scope, namespace),
            demo=found.demo,
            stale=found.stale,
            fetched_at=found.fetched_at,
            failed_clusters=list(found.failed_clusters),
            partial_scope=scope.partial,
        )

    async def find(
        self, scope: Scope, rec_id: str, *, profile: str | None = None
    ) -> Recommendation | None:
        """The current recommendation with this id (sized with `profile`), if the scope may
        see it."""
        found = await self.optimizer.generate(scope, profile)
        return next((r for r in found.recommendations if r.id == rec_id), None)

    async def state(self, rec_id: str) -> RecState:
        return await self.store.get(rec_id)

    async def _measure(self) -> None:
        # At most once per hour (RealizedSavings decides); never fails the board.
        if self.realized is not None:
            await self.realized.refresh_if_due()

    async def _realized(self, scope: Scope, namespace: str | None) -> float:
        """Realized monthly savings the scope may see (in `namespace`, when given)."""
        entries = await self.store.realized(scope)
        return sum(e.monthly_amount for e in entries if namespace in (None, e.namespace))
