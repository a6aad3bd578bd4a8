"""CachedCostSource on a real redis-server: single flight across tasks and replicas, stale copies
when the source fails, fresh data after expiry, and answers even when Redis is gone."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest
from redis.asyncio import Redis

from services.errors import OpenCostBadResponse, OpenCostError, OpenCostUnavailable
from services.opencost.cache import CachedCostSource
from services.opencost.models import (
    Allocation,
    AllocationData,
    AllocationQuery,
    Asset,
    AssetData,
    AssetProperties,
)
from tests.conftest import FakeClock
from tests.redis_server import RedisServer, free_port

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
QUERY = AllocationQuery(start=NOW - timedelta(days=7), end=NOW, step="1d")


class CountingSource:
    """A fake CostSource: counts calls, answers after `delay`, or fails with `failure`."""

    def __init__(self, delay: float = 0.05) -> None:
        self.delay = delay
        self.calls = 0
        self.version = 0
        self.failure: OpenCostError | None = None
        self.failed_clusters: list[str] = []
        self.during: Callable[[], Awaitable[None]] | None = None

    async def allocations(self, query: AllocationQuery) -> AllocationData:
        await self._work()
        row = Allocation(name=f"payments-v{self.version}", total_cost=12.5)
        return AllocationData(
            steps=[[row], []],
            fetched_at=NOW.timestamp() - 60,
            failed_clusters=list(self.failed_clusters),
        )

    async def assets(self, start: datetime, end: datetime) -> AssetData:
        await self._work()
        disk = Asset(type="Disk", properties=AssetProperties(name=f"pv-v{self.version}"))
        return AssetData(assets=[disk], fetched_at=NOW.timestamp() - 60)

    async def _work(self) -> None:
        self.calls += 1
        if self.during is not None:
            await self.during()
        await asyncio.sleep(self.delay)
        if self.failure is not None:
            raise self.failure


@pytest.fixture
def inner() -> CountingSource:
    return CountingSource()


def cached(
    inner: CountingSource, redis: Redis, events: list[str] | None = None, **options: float
) -> CachedCostSource:
    return CachedCostSource(
        inner,
        redis,
        ttl=300,
        clock=FakeClock(NOW),
        on_event=events.append if events is not None else None,
        **options,  # type: ignore[arg-type]
    )


def name_of(data: AllocationData) -> str:
    return data.steps[0][0].name


# --- hits and single flight ---------------------------------------------------------------------
async def test_second_ask_is_a_hit_without_calling_the_source(
    inner: CountingSource, redis: Redis
) -> None:
    events: list[str] = []
    cache = cached(inner, redis, events)
    first = await cache.allocations(QUERY)
    second = await cache.allocations(QUERY)
    assert second == first
    assert inner.calls == 1
    assert (cache.hits, cache.misses, cache.stale_served) == (1, 1, 0)
    assert events == ["miss", "hit"]


async def test_repeated_hits_reuse_the_decoded_entry_until_redis_holds_new_bytes(
    inner: CountingSource, redis: Redis
) -> None:
    """One command reads an entry twice (scope, then answer): the second read skips decoding,
    but a changed entry in Redis (another replica refreshed it) is decoded again."""
    cache = cached(inner, redis)
    await cache.allocations(QUERY)
    first_hit = await cache.allocations(QUERY)
    second_hit = await cache.allocations(QUERY)
    assert second_hit is first_hit
    key = cache.allocation_key(QUERY)
    refreshed = msgspec.structs.replace(first_hit, fetched_at=first_hit.fetched_at + 60)
    await redis.set(key, msgspec.json.encode(refreshed), ex=300)
    after = await cache.allocations(QUERY)
    assert after is not first_hit
    assert after.fetched_at == first_hit.fetched_at + 60


async def test_hundred_concurrent_identical_questions_call_the_source_once(
    inner: CountingSource, redis: Redis
) -> None:
    inner.delay = 0.2
    cache = cached(inner, redis)
    answers = await asyncio.gather(*(cache.allocations(QUERY) for _ in range(100)))
    assert inner.calls == 1
    assert {name_of(answer) for answer in answers} == {"payments-v0"}
    assert cache.hits + cache.misses == 100  # counted on arrival; most waited for the one fetch
    assert cache.misses >= 1


async def test_two_replicas_sharing_redis_fetch_once(redis_url: str) -> None:
    sources = [CountingSource(delay=0.2), CountingSource(delay=0.2)]
    clients = [Redis.from_url(redis_url), Redis.from_url(redis_url)]
    try:
        replicas = [cached(source, client) for source, client in zip(sources, clients, strict=True)]
        answers = await asyncio.gather(
            *(replica.allocations(QUERY) for replica in replicas for _ in range(20))
        )
    finally:
        for client in clients:
            await client.aclose()
    assert sum(source.calls for source in sources) == 1
    assert len({name_of(answer) for answer in answers}) == 1


async def test_different_questions_are_cached_separately(
    inner: CountingSource, redis: Redis
) -> None:
    cache = cached(inner, redis)
    await cache.allocations(QUERY)
    await cache.allocations(msgspec.structs.replace(QUERY, aggregate="namespace"))
    await cache.assets(QUERY.start, QUERY.end)
    assert inner.calls == 3


async def test_assets_are_cached_too(inner: CountingSource, redis: Redis) -> None:
    cache = cached(inner, redis)
    first = await cache.assets(QUERY.start, QUERY.end)
    again = await cache.assets(QUERY.start, QUERY.end)
    assert again == first
    assert again.assets[0].properties.name == "pv-v0"
    assert inner.calls == 1


# --- keys and values ----------------------------------------------------------------------------
async def test_values_are_json_with_a_ttl_and_a_longer_lived_stale_copy(
    inner: CountingSource, redis: Redis
) -> None:
    cache = cached(inner, redis)
    answer = await cache.allocations(QUERY)
    key = cache.allocation_key(QUERY)
    raw = await redis.get(key)
    assert isinstance(raw, bytes)
    assert raw.startswith(b"{")
    assert msgspec.json.decode(raw, type=AllocationData) == answer
    assert 0 < await redis.ttl(key) <= 300
    assert 300 < await redis.ttl(f"{key}:stale") <= 86400
    assert await redis.exists(f"{key}:lock") == 0  # the winner released its lock


def test_keys_name_explicit_instants_so_time_zones_do_not_matter(redis_url: str) -> None:
    cache = CachedCostSource(CountingSource(), Redis.from_url(redis_url), 300, FakeClock(NOW))
    plus_two = timezone(timedelta(hours=2))
    same = AllocationQuery(
        start=QUERY.start.astimezone(plus_two), end=QUERY.end.astimezone(plus_two), step="1d"
    )
    key = cache.allocation_key(QUERY)
    assert key.startswith("costbot:cost:v1:")
    assert cache.allocation_key(same) == key
    later = AllocationQuery(
        start=QUERY.start + timedelta(days=1), end=QUERY.end + timedelta(days=1)
    )
    assert cache.allocation_key(later) != key
    assert cache.assets_key(QUERY.start, QUERY.end) != key


async def test_an_unreadable_entry_counts_as_a_miss(inner: CountingSource, redis: Redis) -> None:
    cache = cached(inner, redis)
    await redis.set(cache.allocation_key(QUERY), b"\x80\x04pickled?")
    answer = await cache.allocations(QUERY)
    assert name_of(answer) == "payments-v0"
    assert inner.calls == 1


async def _until_gone(redis: Redis, key: str, within: float = 10) -> None:
    """Wait for Redis itself to expire `key` (polling its state, not sleeping a guess)."""
    deadline = asyncio.get_running_loop().time() + within
    while await redis.exists(key):
        assert asyncio.get_running_loop().time() < deadline, f"{key} never expired"
        await asyncio.sleep(0.02)


# --- expiry and stale copies ------------------------------------------------------------------
async def test_fresh_data_after_the_ttl(inner: CountingSource, redis: Redis) -> None:
    cache = cached(inner, redis)
    await cache.allocations(QUERY)
    inner.version = 1
    await redis.delete(cache.allocation_key(QUERY))  # what expiry does, without the wait
    answer = await cache.allocations(QUERY)
    assert name_of(answer) == "payments-v1"
    assert not answer.stale
    assert inner.calls == 2


async def test_a_one_second_ttl_really_expires(inner: CountingSource, redis: Redis) -> None:
    cache = CachedCostSource(inner, redis, ttl=1, clock=FakeClock(NOW))
    await cache.allocations(QUERY)
    inner.version = 1
    key = cache.allocation_key(QUERY)
    assert 0 < await redis.pttl(key) <= 1000  # Redis holds the copy for the 1 s TTL
    await _until_gone(redis, key)
    assert name_of(await cache.allocations(QUERY)) == "payments-v1"
    assert inner.calls == 2


async def test_stale_copy_is_served_and_flagged_when_the_source_fails(
    inner: CountingSource, redis: Redis
) -> None:
    events: list[str] = []
    cache = cached(inner, redis, events)
    good = await cache.allocations(QUERY)
    await redis.delete(cache.allocation_key(QUERY))
    inner.failure = OpenCostUnavailable("connection refused", cluster="prod")
    answer = await cache.allocations(QUERY)
    assert answer.stale
    assert answer.steps == good.steps
    assert answer.fetched_at == good.fetched_at  # says how old it is
    assert cache.stale_served == 1
    assert events == ["miss", "miss", "stale"]


async def test_failure_without_a_stale_copy_is_raised(inner: CountingSource, redis: Redis) -> None:
    inner.failure = OpenCostBadResponse("HTTP 400: illegal window")
    with pytest.raises(OpenCostBadResponse, match="illegal window"):
        await cached(inner, redis).allocations(QUERY)


async def test_waiters_share_the_winners_failure_instead_of_retrying(
    inner: CountingSource, redis: Redis
) -> None:
    inner.failure = OpenCostUnavailable("timed out", cluster="prod")
    inner.delay = 0.2
    cache = cached(inner, redis)
    results = await asyncio.gather(
        *(cache.allocations(QUERY) for _ in range(20)), return_exceptions=True
    )
    assert inner.calls == 1
    assert all(isinstance(result, OpenCostUnavailable) for result in results)
    assert {result.cluster for result in results if isinstance(result, OpenCostError)} == {"prod"}


async def test_waiters_get_the_stale_copy_when_the_winner_fails(
    inner: CountingSource, redis: Redis
) -> None:
    cache = cached(inner, redis)
    await cache.allocations(QUERY)
    await redis.delete(cache.allocation_key(QUERY))
    inner.failure = OpenCostUnavailable("503")
    inner.delay = 0.2
    answers = await asyncio.gather(*(cache.allocations(QUERY) for _ in range(10)))
    assert inner.calls == 2
    assert all(answer.stale for answer in answers)
    assert cache.stale_served == 10


async def test_partial_answers_stay_fresh_briefly_and_keep_the_last_complete_copy(
    inner: CountingSource, redis: Redis
) -> None:
    cache = cached(inner, redis, partial_ttl=30)
    await cache.allocations(QUERY)
    await redis.delete(cache.allocation_key(QUERY))
    inner.version, inner.failed_clusters = 1, ["staging"]
    partial = await cache.allocations(QUERY)
    assert partial.failed_clusters == ["staging"]
    key = cache.allocation_key(QUERY)
    assert 0 < await redis.ttl(key) <= 30
    stale = msgspec.json.decode(await redis.get(f"{key}:stale") or b"", type=AllocationData)
    assert name_of(stale) == "payments-v0"


# --- the lock -----------------------------------------------------------------------------------
async def test_a_waiter_takes_over_when_the_winner_vanishes(
    inner: CountingSource, redis: Redis
) -> None:
    cache = cached(inner, redis)
    # A replica that took the lock and died: its lock expires, nobody wrote an answer.
    await redis.set(f"{cache.allocation_key(QUERY)}:lock", "dead-replica", px=300)
    answer = await cache.allocations(QUERY)
    assert name_of(answer) == "payments-v0"
    assert inner.calls == 1


async def test_waiting_too_long_serves_the_stale_copy(inner: CountingSource, redis: Redis) -> None:
    cache = cached(inner, redis, wait_timeout=0.3)
    await cache.allocations(QUERY)
    key = cache.allocation_key(QUERY)
    await redis.delete(key)
    await redis.set(f"{key}:lock", "stuck-replica", px=30_000)
    answer = await cache.allocations(QUERY)
    assert answer.stale
    assert inner.calls == 1


async def test_waiting_too_long_without_a_stale_copy_asks_the_source(
    inner: CountingSource, redis: Redis
) -> None:
    cache = cached(inner, redis, wait_timeout=0.3)
    await redis.set(f"{cache.allocation_key(QUERY)}:lock", "stuck-replica", px=30_000)
    answer = await cache.allocations(QUERY)
    assert not answer.stale
    assert inner.calls == 1


async def test_a_lock_taken_over_by_another_replica_is_not_released(
    inner: CountingSource, redis: Redis
) -> None:
    cache = cached(inner, redis)
    lock = f"{cache.allocation_key(QUERY)}:lock"

    async def lock_expires_and_is_retaken() -> None:
        await redis.set(lock, "another-replica", px=30_000)

    inner.during = lock_expires_and_is_retaken
    await cache.allocations(QUERY)
    assert await redis.get(lock) == b"another-replica"


# --- Redis trouble never breaks answers ---------------------------------------------------------
async def test_redis_unreachable_answers_from_the_source() -> None:
    inner = CountingSource(delay=0)
    dead = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    try:
        cache = cached(inner, dead)
        first = await cache.allocations(QUERY)
        assets = await cache.assets(QUERY.start, QUERY.end)
        await cache.allocations(QUERY)
    finally:
        await dead.aclose()
    assert name_of(first) == "payments-v0"
    assert assets.assets[0].properties.name == "pv-v0"
    assert inner.calls == 3


async def test_redis_stopping_between_questions_still_answers(
    inner: CountingSource, redis_server: RedisServer, redis: Redis
) -> None:
    cache = cached(inner, redis)
    await cache.allocations(QUERY)
    redis_server.stop()
    try:
        inner.version = 1
        answer = await cache.allocations(QUERY)
    finally:
        redis_server.start()
    assert name_of(answer) == "payments-v1"
    assert inner.calls == 2
