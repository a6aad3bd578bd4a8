"""The recommendations one requester sees, with their lifecycle states: list, find, act.

Joins OptimizationService (what is recommended now, for a Scope) with RecommendationStore
(what people did about it), so handlers and digests ask one question.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from services.ports import Scope
from services.recommendations.engine import OptimizationService
from services.recommendations.models import Recommendation, RecState
from services.recommendations.store import RecommendationStore


class BoardItem(msgspec.Struct, frozen=True):
    rec: Recommendation
    state: RecState


class Board(msgspec.Struct, frozen=True, kw_only=True):
    items: list[BoardItem]  # savings, best first
    risks: list[BoardItem]  # under-requested workloads
    total_savings: float  # of the open savings items
    hidden: int  # not open (acknowledged, snoozed, dismissed) and not asked for
    skipped: int  # workloads with too little history
    realized_monthly: float
    demo: bool
    stale: bool
    fetched_at: float
    failed_clusters: list[str]
    partial_scope: bool


class RecommendationBoard:
    def __init__(self, optimizer: OptimizationService, store: RecommendationStore) -> None:
        self.optimizer = optimizer
        self.store = store

    async def board(
        self, scope: Scope, namespace: str | None = None, include_all: bool = False
    ) -> Board:
        found = await self.optimizer.generate(scope)
        recs = [r for r in found.recommendations if namespace is None or r.namespace == namespace]
        items: list[BoardItem] = []
        hidden = 0
        for rec in recs:
            await self.store.visible_status(rec)  # settles snooze expiry and re-opening
        states = await self.store.states([rec.id for rec in recs])
        for rec in recs:
            state = states[rec.id]
            if state.status != "open" and not include_all:
                hidden += 1
                continue
            items.append(BoardItem(rec, state))
        savings = [i for i in items if not i.rec.risk]
        savings.sort(key=lambda i: (-i.rec.monthly_savings, i.rec.id))
        risks = [i for i in items if i.rec.risk]
        open_total = sum(i.rec.monthly_savings for i in savings if i.state.status == "open")
        return Board(
            items=savings,
            risks=risks,
            total_savings=open_total,
            hidden=hidden,
            skipped=len(found.skipped),
            realized_monthly=await self.store.total_realized_since(
                datetime.min.replace(tzinfo=found.start.tzinfo), scope
            ),
            demo=found.demo,
            stale=found.stale,
            fetched_at=found.fetched_at,
            failed_clusters=list(found.failed_clusters),
            partial_scope=scope.partial,
        )

    async def find(self, scope: Scope, rec_id: str) -> Recommendation | None:
        """The current recommendation with this id, if the scope may see it."""
        found = await self.optimizer.generate(scope)
        return next((r for r in found.recommendations if r.id == rec_id), None)

    async def state(self, rec_id: str) -> RecState:
        return await self.store.get(rec_id)
