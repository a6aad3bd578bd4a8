"""RealizedSavings: after a right-sizing was acknowledged, measure whether the requests really fell.

Compares the acknowledged version's snapshot (requests, unit prices, pods at that time) with
later container-level allocation data and records realized monthly savings in the store.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.ports import AllocationData, AllocationQuery, Clock, CostSource, Scope
from services.recommendations.maths import realized_monthly
from services.recommendations.models import RealizedEntry, RecState
from services.recommendations.series import DatedRow, dated_rows, requests_after
from services.recommendations.store import RecommendationStore

LOOKBACK_DAYS = 3  # recent full days read by `refresh`; the latest one decides the request


class RealizedSavings:
    """Turns acknowledged right-sizing recommendations into measured monthly savings."""

    def __init__(self, store: RecommendationStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def refresh(self, source: CostSource, since: datetime) -> list[RealizedEntry]:
        """Fetch the last few full UTC days and `measure` against them."""
        end = self._clock.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = end - timedelta(days=LOOKBACK_DAYS)
        data = await source.allocations(AllocationQuery(start=start, end=end, step="1d"))
        return await self.measure(data, since, start=start)

    async def measure(
        self, later: AllocationData, since: datetime, *, start: datetime | None = None
    ) -> list[RealizedEntry]:
        """Check every recommendation acknowledged at or after `since` against `later`.

        Only days after the acknowledgement count. A drop is recorded; a revert updates an
        earlier record to what is left (possibly 0), so reports stay honest.
        """
        rows = dated_rows(later, start or since)
        entries: list[RealizedEntry] = []
        for state in await self._store.acknowledged_since(since):
            entry = await self._measure_one(state, rows)
            if entry is not None:
                entries.append(entry)
        return entries

    async def total_realized_since(self, since: datetime, scope: Scope | None = None) -> float:
        return await self._store.total_realized_since(since, scope)

    async def _measure_one(self, state: RecState, rows: list[DatedRow]) -> RealizedEntry | None:
        acknowledged_at = _acknowledged_at(state)
        snapshot = await self._store.snapshot(state.id, state.version_acted)
        if acknowledged_at is None or snapshot is None or snapshot.rule != "rightsize":
            return None
        now_requests = requests_after(rows, snapshot.key, acknowledged_at.astimezone(UTC).date())
        if now_requests is None:
            return None  # no full day since the acknowledgement, or the workload is gone
        amount = realized_monthly(snapshot, *now_requests)
        if amount <= 0 and await self._store.realized_entry(state.id, snapshot.version) is None:
            return None
        return await self._store.record_realized(
            state.id,
            amount,
            self._clock.now(),
            version=snapshot.version,
            cluster=snapshot.cluster,
            namespace=snapshot.namespace,
        )


def _acknowledged_at(state: RecState) -> datetime | None:
    for event in reversed(state.history):
        if event.action == "acknowledge":
            return event.at
    return None
