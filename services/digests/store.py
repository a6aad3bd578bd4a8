"""What the digest services need from storage: subscriptions, budgets, pause flags and last-run
records. Implemented over Redis by `redis_store.RedisDigestStore`, which only `bot/` builds.
Everything here is state: every method raises StoreUnavailable when it cannot be kept.
"""

from __future__ import annotations

from typing import Protocol

from services.digests.alerts import BudgetAlert
from services.digests.models import Budget, RunRecord, Subscription


class DigestStore(Protocol):
    # Where every change is announced, so each replica's scheduler rebuilds its jobs at once.
    changes_channel: str

    async def save_subscription(self, sub: Subscription) -> None: ...

    async def subscription(self, sub_id: str) -> Subscription | None: ...

    async def subscriptions(self, channel: str | None = None) -> list[Subscription]:
        """Oldest first; every channel's when `channel` is None."""
        ...

    async def remove_subscription(self, sub_id: str) -> bool:
        """True when there was one (its pause flag goes with it)."""
        ...

    async def save_budget(self, budget: Budget) -> None: ...

    async def budget(self, budget_id: str) -> Budget | None: ...

    async def budgets(self, channel: str | None = None) -> list[Budget]:
        """Oldest first; every channel's when `channel` is None."""
        ...

    async def remove_budget(self, budget_id: str) -> bool: ...

    async def paused(self, sub_id: str) -> bool: ...

    async def pause(self, sub_id: str) -> None: ...

    async def resume(self, sub_id: str) -> bool:
        """Clear the pause flag; True when there was one."""
        ...

    async def last_run(self, kind: str, subject: str) -> RunRecord | None: ...

    async def save_alert(self, alert: BudgetAlert) -> None:
        """Keep what an alert said, so acknowledging it re-renders it from here (never from
        the blocks a click payload carries)."""
        ...

    async def alert(self, key: str) -> BudgetAlert | None: ...
