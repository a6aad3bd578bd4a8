"""RecommendationStore: each recommendation's lifecycle, snapshots and realized savings in Redis.

Every state change is one optimistic WATCH/MULTI transaction, so concurrent clicks serialize
into one consistent history. Values are JSON (msgspec), never pickle; keys live under `prefix`.
A Redis adapter (only `bot/` imports it; services see `ports.RecStore`): everything here is
state, so Redis errors become `StoreUnavailable` through `services.storage.guard`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import WatchError

from services.access.models import Scope
from services.errors import StoreUnavailable
from services.ports import Clock
from services.recommendations import lifecycle
from services.recommendations.maths import DEFAULTS, savings_band
from services.recommendations.models import (
    SNAPSHOT_TTL,
    Action,
    ActResult,
    RealizedEntry,
    Recommendation,
    RecSettings,
    RecSnapshot,
    RecState,
)
from services.storage.durable import replicated
from services.storage.guard import guarded

STORE = "recommendation store"  # how StoreUnavailable names it
MAX_ATTEMPTS = 200  # optimistic retries; 20 simultaneous clicks need at most 20
Change = Callable[[RecState], tuple[RecState, bool]]


class RecommendationStore:
    """Lifecycle state (open / acknowledged / snoozed / dismissed) with who/when/why history."""

    def __init__(
        self,
        redis: aioredis.Redis,
        clock: Clock,
        prefix: str = "costbot:",
        settings: RecSettings = DEFAULTS,
    ) -> None:
        self._redis = redis
        self._clock = clock
        # One hash tag for every recommendation key: a state change WATCHes the state and
        # writes the acknowledged index in one transaction, and `states` MGETs many states.
        self._prefix = prefix + "{recs}:"
        self._settings = settings

    # --- reading -------------------------------------------------------------------------------
    async def get(self, rec_id: str) -> RecState:
        """The state as of now (an ended snooze reads as open); absent means open."""
        with guarded(STORE):
            raw = await self._redis.get(self._state_key(rec_id))
        return lifecycle.expire_snooze(_decode_state(rec_id, raw), self._clock.now())

    async def states(self, ids: Sequence[str]) -> dict[str, RecState]:
        if not ids:
            return {}
        with guarded(STORE):
            raws = await self._redis.mget([self._state_key(rec_id) for rec_id in ids])
        now = self._clock.now()
        return {
            rec_id: lifecycle.expire_snooze(_decode_state(rec_id, raw), now)
            for rec_id, raw in zip(ids, raws, strict=True)
        }

    async def snapshot(self, rec_id: str, version: str) -> RecSnapshot | None:
        with guarded(STORE):
            raw = await self._redis.get(self._snapshot_key(rec_id, version))
        return None if raw is None else msgspec.json.decode(raw, type=RecSnapshot)

    async def acknowledged_since(self, since: datetime) -> list[RecState]:
        """States acknowledged at or after `since` and not since snoozed, dismissed or reopened
        by hand (an automatic re-open keeps them: realized savings may still be measured)."""
        with guarded(STORE):
            members = await self._redis.zrangebyscore(self._acked_key, since.timestamp(), "+inf")
        ids = [_text(member) for member in members if isinstance(member, bytes | str)]
        states = await self.states(ids)
        return list(states.values())

    # --- changing ------------------------------------------------------------------------------
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
        """Apply a human action atomically. Repeating it on the same version changes nothing."""
        now = self._clock.now()

        def change(state: RecState) -> tuple[RecState, bool]:
            return lifecycle.apply_action(
                state, action, by=by, version=version, now=now, until=until, reason=reason
            )

        return await self._update(rec_id, change)

    async def visible_status(self, rec: Recommendation) -> str:
        """The status to show for this run's `rec`, settling snooze expiry and re-opening.

        Also records `rec`'s snapshot, so a later click on this version can be judged.
        """
        await self.record_snapshot(rec)
        state = await self.get(rec.id)
        if state.status == "open":
            return state.status
        acted = None
        if state.version_acted and state.version_acted != rec.version:
            acted = await self.snapshot(rec.id, state.version_acted)
        now = self._clock.now()

        def change(current: RecState) -> tuple[RecState, bool]:
            settled = lifecycle.settle(current, rec, acted, now, self._settings)
            return settled, settled != current

        return (await self._update(rec.id, change)).state.status

    async def record_snapshot(self, rec: Recommendation) -> None:
        """Keep this version's numbers (recommended, current, prices, pods) for later judgment."""
        snapshot = snapshot_of(rec, self._clock.now(), self._settings.savings_bands)
        key = self._snapshot_key(rec.id, rec.version)
        with guarded(STORE):
            await self._redis.set(key, msgspec.json.encode(snapshot), ex=SNAPSHOT_TTL)

    # --- realized savings ----------------------------------------------------------------------
    async def record_realized(
        self,
        rec_id: str,
        amount: float,
        measured_at: datetime,
        *,
        version: str = "",
        cluster: str = "",
        namespace: str = "",
    ) -> RealizedEntry:
        """Store the latest measurement for (rec, acknowledged version); keeps the first time."""
        field = f"{rec_id}:{version}"
        with guarded(STORE):
            await self._redis.hsetnx(self._realized_first_key, field, measured_at.isoformat())
            first = await self._redis.hget(self._realized_first_key, field)
            entry = RealizedEntry(
                id=rec_id,
                version=version,
                cluster=cluster,
                namespace=namespace,
                monthly_amount=amount,
                first_at=datetime.fromisoformat(_text(first)) if first else measured_at,
                measured_at=measured_at,
            )
            await self._redis.hset(self._realized_key, field, msgspec.json.encode(entry))
        return entry

    async def realized_entry(self, rec_id: str, version: str) -> RealizedEntry | None:
        with guarded(STORE):
            raw = await self._redis.hget(self._realized_key, f"{rec_id}:{version}")
        return None if raw is None else msgspec.json.decode(raw, type=RealizedEntry)

    async def realized(self, scope: Scope | None = None) -> list[RealizedEntry]:
        """Every realized entry the scope may see (all of them when scope is None)."""
        with guarded(STORE):
            raws = await self._redis.hvals(self._realized_key)
        entries = [msgspec.json.decode(raw, type=RealizedEntry) for raw in raws]
        return sorted(
            (entry for entry in entries if scope is None or _visible(entry, scope)),
            key=lambda entry: (entry.first_at, entry.id),
        )

    async def total_realized_since(self, since: datetime, scope: Scope | None = None) -> float:
        """Monthly savings first realized at or after `since`, within the scope."""
        entries = await self.realized(scope)
        return sum(entry.monthly_amount for entry in entries if entry.first_at >= since)

    # --- internals -----------------------------------------------------------------------------
    async def _update(self, rec_id: str, change: Change) -> ActResult:
        key = self._state_key(rec_id)
        with guarded(STORE):
            async with self._redis.pipeline(transaction=True) as pipe:
                for _ in range(MAX_ATTEMPTS):
                    try:
                        await pipe.watch(key)
                        old = _decode_state(rec_id, await pipe.get(key))
                        new, changed = change(old)
                        if new == old:
                            await pipe.unwatch()  # type: ignore[no-untyped-call]  # redis-py: unannotated
                            return ActResult(changed, old)
                        pipe.multi()  # type: ignore[no-untyped-call]  # redis-py: unannotated
                        pipe.set(key, msgspec.json.encode(new))
                        self._index(pipe, new)
                        await pipe.execute()
                        break
                    except WatchError:
                        continue  # someone else changed it first: read again, decide again
                else:
                    raise StoreUnavailable(
                        f"recommendation {rec_id}: too much contention, try again"
                    )
        # An acknowledgement must survive a failover: wait for a replica to have it.
        await replicated(self._redis, key, STORE)
        return ActResult(changed, new)

    def _index(self, pipe: aioredis.client.Pipeline, state: RecState) -> None:
        last = state.history[-1] if state.history else None
        if last is None or last.by == lifecycle.SYSTEM:
            return
        if last.action == "acknowledge":
            pipe.zadd(self._acked_key, {state.id: last.at.timestamp()})
        else:
            pipe.zrem(self._acked_key, state.id)

    def _state_key(self, rec_id: str) -> str:
        return f"{self._prefix}state:{rec_id}"

    def _snapshot_key(self, rec_id: str, version: str) -> str:
        return f"{self._prefix}snapshot:{rec_id}:{version}"

    @property
    def _acked_key(self) -> str:
        return f"{self._prefix}acknowledged"

    @property
    def _realized_key(self) -> str:
        return f"{self._prefix}realized"

    @property
    def _realized_first_key(self) -> str:
        return f"{self._prefix}realized:first"

    # --- coordination --------------------------------------------------------------------------
    async def claim_once(self, name: str, ttl: timedelta) -> bool:
        """True for the first caller of `name` within `ttl`, across every replica (SET NX)."""
        seconds = max(1, int(ttl.total_seconds()))
        with guarded(STORE):
            return bool(await self._redis.set(f"{self._prefix}{name}", b"1", nx=True, ex=seconds))


def snapshot_of(rec: Recommendation, seen_at: datetime, bands: tuple[float, ...]) -> RecSnapshot:
    """This version's numbers (recommended, current, prices, pods), kept for later judgment."""
    return RecSnapshot(
        id=rec.id,
        version=rec.version,
        rule=rec.rule,
        cluster=rec.cluster,
        namespace=rec.namespace,
        kind=rec.kind,
        controller=rec.controller,
        container=rec.container,
        current_cpu=rec.current_cpu,
        recommended_cpu=rec.recommended_cpu,
        current_memory=rec.current_memory,
        recommended_memory=rec.recommended_memory,
        monthly_savings=rec.monthly_savings,
        band=savings_band(rec.monthly_savings, bands),
        cpu_price=rec.evidence.cpu_unit_price,
        ram_price=rec.evidence.ram_unit_price,
        avg_pods=rec.evidence.avg_pods,
        seen_at=seen_at,
    )


def _decode_state(rec_id: str, raw: bytes | str | None) -> RecState:
    return RecState(id=rec_id) if raw is None else msgspec.json.decode(raw, type=RecState)


def _visible(entry: RealizedEntry, scope: Scope) -> bool:
    if not entry.namespace:
        return scope.sees_cluster(entry.cluster)
    return scope.sees(entry.namespace, entry.cluster)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
