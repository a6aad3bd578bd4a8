"""A Redis cache in front of any `CostSource`: fresh answers for `ttl` seconds, one fetch per
question across all replicas, and the last good answer (flagged stale) when the source fails.

The cache is an optimisation, so every Redis failure degrades (`services.storage.guard`): a
failed read or lock answers from the inner source, a failed write or unlock is only logged.
Values are msgspec JSON, never pickle. A Redis adapter: only `bot/` imports it.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import msgspec
import structlog
from redis.asyncio import Redis

from services.errors import (
    OpenCostBadResponse,
    OpenCostError,
    OpenCostUnavailable,
    StoreUnavailable,
)
from services.opencost.models import AllocationData, AllocationQuery, AssetData
from services.ports import Clock, CostSource
from services.storage.guard import degrade, required
from services.storage.locks import RELEASE, Locks

log = structlog.get_logger(__name__)
_T = TypeVar("_T", AllocationData, AssetData)

_FIRST_POLL, _MAX_POLL = 0.025, 0.2
_ERROR_TTL_MS = 5000  # how long waiters can learn that the fetch they waited for failed
CACHE = "cost cache"  # how StoreUnavailable names it
RUNNING_SLACK = timedelta(minutes=15)  # a window ending this close to now is still running


class _Failure(msgspec.Struct, frozen=True):
    """What a failed fetch tells the requests that waited on it."""

    token: str
    unavailable: bool
    message: str
    cluster: str = ""

    def error(self) -> OpenCostError:
        kind = OpenCostUnavailable if self.unavailable else OpenCostBadResponse
        return kind(self.message, cluster=self.cluster)


DECODED_ENTRIES = 4


class CachedCostSource:
    """A `CostSource` that caches `inner` in Redis (see the module docstring).

    Counters `hits`, `misses` and `stale_served` count requests as they arrive (a request that
    waited for another's fetch is a miss); `on_event` gets "hit"/"miss"/"stale" for metrics.
    Partial answers (a cluster failed) stay fresh for at most `partial_ttl` seconds.
    """

    def __init__(
        self,
        inner: CostSource,
        redis: Redis,
        ttl: int,
        clock: Clock,
        *,
        prefix: str = "costbot:",
        stale_ttl: int = 86400,
        lock_ttl: int = 30,
        wait_timeout: float = 20.0,
        on_event: Callable[[str], None] | None = None,
        partial_ttl: int = 30,
    ) -> None:
        self._inner = inner
        self._redis = redis
        self._ttl = max(1, ttl)
        self._clock = clock
        self._prefix = prefix
        self._stale_ttl = max(self._ttl, stale_ttl)
        self._lock_ms = max(1, lock_ttl) * 1000
        self._wait_timeout = wait_timeout
        self._on_event = on_event
        self._partial_ttl = max(1, min(partial_ttl, self._ttl))
        # Locks we could not release (Redis failed mid-way) are released at the next miss.
        self._locks = Locks(redis.register_script(RELEASE), CACHE)
        # The last few decoded entries, keyed by cache key and checked against the raw bytes:
        # one command reads the same entry twice (scope, then answer), and decoding a large
        # cluster costs far more than comparing bytes.
        self._decoded: OrderedDict[str, tuple[bytes | str, Any]] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self.stale_served = 0

    # --- CostSource ---------------------------------------------------------------------------
    async def allocations(self, query: AllocationQuery) -> AllocationData:
        key = self.allocation_key(query)
        last = self.last_key(self.allocation_key(msgspec.structs.replace(query, end=query.start)))
        return await self._cached(
            key,
            AllocationData,
            lambda: self._inner.allocations(query),
            self._if_running(query.end, last),
        )

    async def assets(self, start: datetime, end: datetime) -> AssetData:
        key, last = self.assets_key(start, end), self.last_key(self.assets_key(start, start))
        return await self._cached(
            key, AssetData, lambda: self._inner.assets(start, end), self._if_running(end, last)
        )

    # --- keys ---------------------------------------------------------------------------------
    def allocation_key(self, query: AllocationQuery) -> str:
        """Windows are explicit instants, so a "7d" question never goes stale across midnight."""
        normal = msgspec.structs.replace(query, start=_utc(query.start), end=_utc(query.end))
        return self._key(b"allocation", msgspec.json.encode(normal))

    def assets_key(self, start: datetime, end: datetime) -> str:
        return self._key(b"assets", msgspec.json.encode([_utc(start), _utc(end)]))

    def _key(self, kind: bytes, payload: bytes) -> str:
        # The digest is the hash tag: the entry, its lock, error and stale copy share one
        # Redis Cluster slot (they are read together with MGET).
        return f"{self._prefix}cost:v1:{{{hashlib.sha256(kind + b'|' + payload).hexdigest()}}}"

    def last_key(self, start_key: str) -> str:
        """Where a running window's last good copy is found, whatever its end: "7d" ends at now
        (in 5-minute buckets), so once the fresh copy expires the same question has a new
        exact key, and only this pointer (question + start) leads back to the last answer."""
        return f"{start_key}:last"

    def _if_running(self, end: datetime, last: str) -> str | None:
        return last if _utc(end) >= self._clock.now() - RUNNING_SLACK else None

    # --- the flow -----------------------------------------------------------------------------
    async def _cached(
        self, key: str, kind: type[_T], load: Callable[[], Awaitable[_T]], last: str | None
    ) -> _T:
        try:
            fresh = self._remembered(key, await required(self._redis.get(key), CACHE), kind)
        except StoreUnavailable as exc:
            _degraded("get", exc)
            self._event("miss")
            return await load()
        if fresh is not None:
            self._event("hit")
            return fresh
        self._event("miss")
        try:
            return await self._single_flight(key, kind, load, last)
        except StoreUnavailable as exc:  # Redis failed mid-way: answer from the inner source
            _degraded("single_flight", exc)
            return await load()

    def _remembered(self, key: str, raw: bytes | str | None, kind: type[_T]) -> _T | None:
        if raw is None:
            return None
        seen = self._decoded.get(key)
        if seen is not None and seen[0] == raw:
            self._decoded.move_to_end(key)
            value: _T = seen[1]
            return value
        decoded = _decode(raw, kind, key)
        if decoded is not None:
            self._decoded[key] = (raw, decoded)
            while len(self._decoded) > DECODED_ENTRIES:
                self._decoded.popitem(last=False)
        return decoded

    async def _single_flight(
        self, key: str, kind: type[_T], load: Callable[[], Awaitable[_T]], last: str | None
    ) -> _T:
        """One fetch per key across processes: the lock winner loads, the others wait for it."""
        await self._locks.release_orphans()
        deadline = asyncio.get_running_loop().time() + self._wait_timeout
        for _ in range(2):  # if the winner vanished without an answer, try once to be the winner
            token = secrets.token_hex(16)
            if await self._call(self._redis.set(f"{key}:lock", token, nx=True, px=self._lock_ms)):
                return await self._fill(key, token, kind, load, last)
            waited = await self._wait(key, kind, deadline, last)
            if waited is not None:
                return waited
            if asyncio.get_running_loop().time() >= deadline:
                break
        # The fetch we waited for took too long (or kept vanishing): the last good answer if
        # there is one, else fetch without the lock.
        log.warning("cache.single_flight_gave_up", key=key, waited_up_to=self._wait_timeout)
        stale = await self._stale(key, kind, last)
        if stale is not None:
            return self._served_stale(stale, "waited too long for another fetch")
        return await load()

    async def _fill(
        self,
        key: str,
        token: str,
        kind: type[_T],
        load: Callable[[], Awaitable[_T]],
        last: str | None,
    ) -> _T:
        try:
            fresh = _decode(await self._call(self._redis.get(key)), kind, key)
            if fresh is not None:  # someone filled it between our miss and our lock
                return fresh
            try:
                value = await load()
            except OpenCostError as exc:
                await self._publish_failure(key, token, exc)
                stale = await self._stale(key, kind, last)
                if stale is None:
                    raise
                return self._served_stale(stale, exc)
            await self._store(key, value, last)
            return value
        finally:
            await self._unlock(key, token)

    async def _wait(self, key: str, kind: type[_T], deadline: float, last: str | None) -> _T | None:
        """Poll until the winner's answer appears (returned), its failure is published (stale
        copy returned or the error raised), or the lock vanishes / the deadline passes (None)."""
        loop = asyncio.get_running_loop()
        holder = await self._call(self._redis.get(f"{key}:lock"))
        delay = _FIRST_POLL
        while holder is not None and loop.time() < deadline:
            await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))
            delay = min(delay * 1.6, _MAX_POLL)
            raw, lock, failed = await self._call(
                self._redis.mget([key, f"{key}:lock", f"{key}:error"])
            )
            value = _decode(raw, kind, key)
            if value is not None:
                return value
            failure = _decode_failure(failed)
            if failure is not None and failure.token == _text(holder):
                return await self._replay(key, kind, failure, last)
            if lock is None:
                return None
        return None

    async def _replay(self, key: str, kind: type[_T], failure: _Failure, last: str | None) -> _T:
        error = failure.error()
        stale = await self._stale(key, kind, last)
        if stale is None:
            raise error
        return self._served_stale(stale, error)

    # --- storage ------------------------------------------------------------------------------
    async def _store(self, key: str, value: _T, last: str | None) -> None:
        await degrade(self._write(key, value, last), None, what="cache.store", logger=log)

    async def _write(self, key: str, value: _T, last: str | None) -> None:
        payload = msgspec.json.encode(value)
        partial = bool(value.failed_clusters) or value.stale
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(key, payload, ex=self._partial_ttl if partial else self._ttl)
            # A partial answer never replaces a complete last-good copy.
            pipe.set(f"{key}:stale", payload, ex=self._stale_ttl, nx=partial)
            if last is not None:  # a pointer, not a second copy of the payload
                pipe.set(last, f"{key}:stale", ex=self._stale_ttl, nx=partial)
            await pipe.execute()

    async def _stale(self, key: str, kind: type[_T], last: str | None) -> _T | None:
        """This exact window's last good copy, else (running windows) the newest one for the
        same question and start. None when Redis cannot tell."""
        return await degrade(self._read_stale(key, kind, last), None, what="cache.get_stale")

    async def _read_stale(self, key: str, kind: type[_T], last: str | None) -> _T | None:
        found = _decode(await self._redis.get(f"{key}:stale"), kind, key)
        if found is None and last is not None and (copy := await self._redis.get(last)):
            found = _decode(await self._redis.get(_text(copy)), kind, key)
        return found

    def _served_stale(self, stale: _T, reason: OpenCostError | str) -> _T:
        self._event("stale")
        age = self._clock.now().timestamp() - stale.fetched_at
        log.warning("cache.stale_served", age_seconds=round(age), reason=str(reason))
        return msgspec.structs.replace(stale, stale=True)

    async def _publish_failure(self, key: str, token: str, exc: OpenCostError) -> None:
        unavailable = isinstance(exc, OpenCostUnavailable)
        failure = _Failure(token, unavailable, str(exc), exc.cluster)
        # Lost: the waiters time out and fetch themselves.
        told = self._redis.set(f"{key}:error", msgspec.json.encode(failure), px=_ERROR_TTL_MS)
        await degrade(told, None, what="cache.publish_failure")

    async def _unlock(self, key: str, token: str) -> None:
        await self._locks.release(f"{key}:lock", token)

    async def _call(self, pending: Awaitable[Any]) -> Any:
        """One command of the single-flight protocol; StoreUnavailable ends it (see `_cached`)."""
        return await required(pending, CACHE)

    def _event(self, name: str) -> None:
        if name == "hit":
            self.hits += 1
        elif name == "miss":
            self.misses += 1
        else:
            self.stale_served += 1
        if self._on_event is not None:
            self._on_event(name)


_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {
    AllocationData: msgspec.json.Decoder(AllocationData),
    AssetData: msgspec.json.Decoder(AssetData),
}
_failure_decoder = msgspec.json.Decoder(_Failure)


def _decode(raw: bytes | str | None, kind: type[_T], key: str) -> _T | None:
    if raw is None:
        return None
    try:
        value: _T = _decoders[kind].decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:  # an older or foreign entry
        log.warning("cache.entry_unreadable", key=key, error=str(exc))
        return None
    return value


def _decode_failure(raw: bytes | str | None) -> _Failure | None:
    if raw is None:
        return None
    try:
        return _failure_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _degraded(operation: str, exc: StoreUnavailable) -> None:
    """The named degrade of a cache step that has its own fallback (see the module docstring)."""
    log.warning("storage.degraded", what=f"cache.{operation}", error=str(exc))
