"""`DigestStore` in Redis: subscriptions, budgets, pause flags and last-run records.

JSON values in two hashes under the configured prefix; every change is announced on a pub/sub
channel so each replica's scheduler rebuilds its jobs at once. A Redis adapter (only `bot/`
imports it); all of it is state, so Redis failures → StoreUnavailable (`services.storage`).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

import msgspec
from redis.asyncio import Redis

from services.digests.alerts import BudgetAlert
from services.digests.models import Budget, RunRecord, Subscription
from services.storage.guard import required

T = TypeVar("T")
PAUSED_TTL = 400 * 86400  # a pause outlives any schedule; cleared when access returns
ALERT_TTL = 40 * 86400  # as long as the delivery markers: an alert is acknowledged within that


class RedisDigestStore:
    """`DigestStore` over two Redis hashes, pause keys and a pub/sub channel."""

    def __init__(self, redis: Redis, prefix: str = "costbot:") -> None:
        self._redis = redis
        self._prefix = prefix
        self.subs_key = f"{prefix}digest:subs"
        self.budgets_key = f"{prefix}digest:budgets"
        self.changes_channel = f"{prefix}digest:changed"

    # --- subscriptions ----------------------------------------------------------------------
    async def save_subscription(self, sub: Subscription) -> None:
        await self._call(self._redis.hset(self.subs_key, sub.id, msgspec.json.encode(sub)))
        await self.announce(f"subscription:{sub.id}")

    async def subscription(self, sub_id: str) -> Subscription | None:
        raw = await self._call(self._redis.hget(self.subs_key, sub_id))
        return None if raw is None else msgspec.json.decode(raw, type=Subscription)

    async def subscriptions(self, channel: str | None = None) -> list[Subscription]:
        subs = await self._all(self.subs_key, Subscription)
        return sorted(
            (s for s in subs if channel is None or s.channel == channel),
            key=lambda s: (s.created_at, s.id),
        )

    async def remove_subscription(self, sub_id: str) -> bool:
        removed = await self._call(self._redis.hdel(self.subs_key, sub_id))
        await self._call(self._redis.delete(self._paused_key(sub_id)))
        await self.announce(f"subscription:{sub_id}")
        return bool(removed)

    # --- budgets ------------------------------------------------------------------------------
    async def save_budget(self, budget: Budget) -> None:
        await self._call(self._redis.hset(self.budgets_key, budget.id, msgspec.json.encode(budget)))
        await self.announce(f"budget:{budget.id}")

    async def budget(self, budget_id: str) -> Budget | None:
        raw = await self._call(self._redis.hget(self.budgets_key, budget_id))
        return None if raw is None else msgspec.json.decode(raw, type=Budget)

    async def budgets(self, channel: str | None = None) -> list[Budget]:
        found = await self._all(self.budgets_key, Budget)
        return sorted(
            (b for b in found if channel is None or b.channel == channel),
            key=lambda b: (b.created_at, b.id),
        )

    async def remove_budget(self, budget_id: str) -> bool:
        removed = await self._call(self._redis.hdel(self.budgets_key, budget_id))
        await self.announce(f"budget:{budget_id}")
        return bool(removed)

    # --- pause flags and run records ----------------------------------------------------------
    async def paused(self, sub_id: str) -> bool:
        return bool(await self._call(self._redis.exists(self._paused_key(sub_id))))

    async def pause(self, sub_id: str) -> None:
        await self._call(self._redis.set(self._paused_key(sub_id), b"1", ex=PAUSED_TTL))

    async def resume(self, sub_id: str) -> bool:
        """Clear the pause flag; True when there was one."""
        return bool(await self._call(self._redis.delete(self._paused_key(sub_id))))

    async def last_run(self, kind: str, subject: str) -> RunRecord | None:
        raw = await self._call(self._redis.get(self.last_run_key(kind, subject)))
        return None if raw is None else msgspec.json.decode(raw, type=RunRecord)

    async def save_alert(self, alert: BudgetAlert) -> None:
        encoded = msgspec.json.encode(alert)
        await self._call(self._redis.set(self._alert_key(alert.key), encoded, ex=ALERT_TTL))

    async def alert(self, key: str) -> BudgetAlert | None:
        raw = await self._call(self._redis.get(self._alert_key(key)))
        return None if raw is None else msgspec.json.decode(raw, type=BudgetAlert)

    def _alert_key(self, key: str) -> str:
        return f"{self._prefix}digest:alert:{key}"

    def last_run_key(self, kind: str, subject: str) -> str:
        return f"{self._prefix}delivery:last:{kind}:{subject}"

    async def announce(self, what: str) -> None:
        """Tell every replica's scheduler to rebuild its jobs (best effort: a 60 s reconcile
        catches a lost message)."""
        await self._call(self._redis.publish(self.changes_channel, what))

    # --- helpers ------------------------------------------------------------------------------
    def _paused_key(self, sub_id: str) -> str:
        return f"{self._prefix}digest:paused:{sub_id}"

    async def _all(self, key: str, kind: type[T]) -> list[T]:
        raw: dict[Any, Any] = await self._call(self._redis.hgetall(key))
        return [msgspec.json.decode(value, type=kind) for value in raw.values()]

    async def _call(self, pending: Awaitable[T]) -> T:
        return await required(pending, "digest store")
