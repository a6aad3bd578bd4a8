"""RealizedSavings: after a right-sizing was acknowledged, measure whether the requests really fell.

Compares the acknowledged version's snapshot (requests, unit prices, pods at that time) with
later container-level allocation data and records realized monthly savings in the store.
`refresh_if_due` runs the measurement at most once per clock hour, per process and (through the
store) across replicas, so building a board never pays for it more often.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog

from services.access.models import Scope
from services.errors import DependencyError, StoreUnavailable
from services.opencost.models import AllocationData, AllocationQuery
from services.ports import Clock, CostSource
from services.recommendations.maths import realized_monthly
from services.recommendations.models import SNAPSHOT_TTL, RealizedEntry, RecState
from services.recommendations.ports import RecStore
from services.recommendations.series import DatedRow, dated_rows, requests_after

LOOKBACK_DAYS = 3  # recent full days read by `refresh`; the latest one decides the request
log = structlog.get_logger(__name__)


class RealizedSavings:
    """Turns acknowledged right-sizing recommendations into measured monthly savings."""

    def __init__(
        self,
        store: RecStore,
        clock: Clock,
        *,
        source: CostSource | None = None,
        every: timedelta = timedelta(hours=1),
    ) -> None:
        self._store = store
        self._clock = clock
        self._source = source
        self._every = max(every, timedelta(seconds=1))
        self._last_slot: int | None = None  # the slot this process last refreshed in

    async def refresh(self, source: CostSource, since: datetime) -> list[RealizedEntry]:
        """Fetch the last few full UTC days and `measure` against them."""
        end = self._clock.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = end - timedelta(days=LOOKBACK_DAYS)
        data = await source.allocations(AllocationQuery(start=start, end=end, step="1d"))
        return await self.measure(data, since, start=start)

    async def refresh_if_due(self) -> list[RealizedEntry] | None:
        """`refresh` over acknowledgements of the last SNAPSHOT_TTL, unless this clock hour
        already had one (here or on another replica). None when skipped.

        Never raises a DependencyError: a failed measurement only means the figure shown is
        the last one measured; the next slot tries again.
        """
        if self._source is None:
            return None
        now = self._clock.now()
        since = now - SNAPSHOT_TTL
        try:
            if not self._measurable(await self._store.acknowledged_since(since), now):
                return None  # nothing to measure yet: leave the slot for when there is
            if not await self._claim(now):
                return None
            return await self.refresh(self._source, since)
        except DependencyError as exc:
            log.warning("realized.refresh_failed", error=type(exc).__name__, detail=str(exc))
            return None

    @staticmethod
    def _measurable(states: list[RecState], now: datetime) -> bool:
        """Whether any acknowledgement has a whole UTC day of data after it before today."""
        last_full_day = now.astimezone(UTC).date() - timedelta(days=1)
        return any(
            (at := _acknowledged_at(state)) is not None
            and at.astimezone(UTC).date() < last_full_day
            for state in states
        )

    async def _claim(self, now: datetime) -> bool:
        """Take this time slot for this process, then across replicas (a marker per slot, so
        the movable test clock and the real one behave the same).

        The marker is a cache-like hint, not state: when the store cannot take it, measure
        anyway (measuring twice is harmless, it overwrites; never measuring is not)."""
        slot = int(now.timestamp() // self._every.total_seconds())
        if self._last_slot == slot:
            return False
        self._last_slot = slot
        try:
            return await self._store.claim_once(f"realized:refreshed:{slot}", self._every * 2)
        except StoreUnavailable as exc:
            log.warning("storage.degraded", what="realized.marker", error=str(exc))
            return True

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
