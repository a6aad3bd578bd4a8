"""What the recommendation services need from the lifecycle store (implemented over Redis by
`store.RecommendationStore`, which only `bot/` builds). Every method raises StoreUnavailable.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from services.access.models import Scope
from services.recommendations.models import (
    Action,
    ActResult,
    RealizedEntry,
    Recommendation,
    RecSnapshot,
    RecState,
)


class RecStore(Protocol):
    """Lifecycle states with their history, version snapshots and realized savings."""

    async def get(self, rec_id: str) -> RecState: ...

    async def states(self, ids: Sequence[str]) -> dict[str, RecState]: ...

    async def snapshot(self, rec_id: str, version: str) -> RecSnapshot | None: ...

    async def acknowledged_since(self, since: datetime) -> list[RecState]: ...

    async def act(
        self,
        rec_id: str,
        action: Action,
        by: str,
        version: str,
        *,
        until: datetime | None = None,
        reason: str = "",
    ) -> ActResult:
        """Apply a human action atomically; repeating it on the same version changes nothing."""
        ...

    async def visible_status(self, rec: Recommendation) -> str:
        """The status to show for this run's `rec` (settles snooze expiry and re-opening)."""
        ...

    async def record_realized(
        self,
        rec_id: str,
        amount: float,
        measured_at: datetime,
        *,
        version: str = "",
        cluster: str = "",
        namespace: str = "",
    ) -> RealizedEntry: ...

    async def realized_entry(self, rec_id: str, version: str) -> RealizedEntry | None: ...

    async def realized(self, scope: Scope | None = None) -> list[RealizedEntry]: ...

    async def total_realized_since(self, since: datetime, scope: Scope | None = None) -> float: ...

    async def claim_once(self, name: str, ttl: timedelta) -> bool:
        """True for the first caller of `name` within `ttl`, across every replica."""
        ...
