"""Recommendations for digests: the board's top open items, pre-rendered with the same buttons
as `/cost recommendations`, plus what was acknowledged and realized lately."""

from __future__ import annotations

from datetime import timedelta

from handlers.render.recs import item_blocks
from services.access.models import Identity, Scope
from services.digests.content import RecsDigest, RecsDigestItem
from services.ports import Clock
from services.recommendations.board import RecommendationBoard

LOOKBACK = timedelta(days=7)


class BoardDigestSource:
    """`RecsDigestSource` over the RecommendationBoard."""

    def __init__(self, board: RecommendationBoard, clock: Clock, currency: str) -> None:
        self._board = board
        self._clock = clock
        self._currency = currency

    async def digest_items(self, scope: Scope, identity: Identity, limit: int) -> RecsDigest:
        since = self._clock.now() - LOOKBACK
        board = await self._board.board(scope, include_all=True)
        open_items = [i for i in board.items if i.state.status == "open"]
        acknowledged = sum(
            i.rec.monthly_savings
            for i in board.items
            if i.state.status == "acknowledged" and i.state.at is not None and i.state.at >= since
        )
        return RecsDigest(
            items=[
                RecsDigestItem(
                    title=item.rec.title,
                    monthly_savings=item.rec.monthly_savings,
                    blocks=item_blocks(item.rec, item.state, self._currency),
                )
                for item in open_items[:limit]
            ],
            total_potential=board.total_savings,
            acknowledged_since=acknowledged,
            realized_since=await self._board.store.total_realized_since(since, scope),
        )
