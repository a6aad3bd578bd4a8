"""services/storage: the TTL cache (clock injected, so time moves without sleeping) and the
Redis error seam (a real redis-server, and a port where none listens)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import structlog
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from structlog.testing import LogCapture

from services.errors import StoreUnavailable
from services.storage.guard import degrade, guarded, required
from services.storage.ttl import TtlCache
from tests.redis_server import free_port


class Clock:
    def __init__(self) -> None:
        self.moment = datetime(2025, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


# --- TtlCache -----------------------------------------------------------------------------------
def test_an_entry_lives_exactly_ttl_seconds() -> None:
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(clock, ttl=60)
    cache.put("a", 1)
    clock.advance(59.9)
    assert cache.get("a") == (True, 1)
    clock.advance(0.1)
    assert cache.get("a") == (False, None)
    assert len(cache) == 0  # an expired entry is dropped when seen


def test_a_cached_none_is_a_hit_and_a_missing_key_is_not() -> None:
    cache: TtlCache[str, str | None] = TtlCache(Clock(), ttl=60)
    cache.put("unknown-user", None)
    assert cache.get("unknown-user") == (True, None)
    assert cache.get("never-put") == (False, None)


def test_putting_again_restarts_the_ttl() -> None:
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(clock, ttl=10)
    cache.put("a", 1)
    clock.advance(8)
    cache.put("a", 2)
    clock.advance(8)
    assert cache.get("a") == (True, 2)


def test_when_full_the_oldest_entry_goes_first() -> None:
    cache: TtlCache[int, str] = TtlCache(Clock(), ttl=60, max_entries=2)
    cache.put(1, "one")
    cache.put(2, "two")
    cache.put(1, "one again")  # now the newest
    cache.put(3, "three")
    assert [cache.get(key)[0] for key in (1, 2, 3)] == [True, False, True]
    assert len(cache) == 2


def test_a_zero_ttl_caches_nothing() -> None:
    cache: TtlCache[str, int] = TtlCache(Clock(), ttl=0)
    cache.put("a", 1)
    assert cache.get("a") == (False, None)


# --- the Redis seam -------------------------------------------------------------------------------
@pytest.fixture
async def down() -> AsyncIterator[Redis]:
    client = Redis(port=free_port(), socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    yield client
    await client.aclose()


async def test_required_returns_the_answer_when_redis_answers(redis: Redis) -> None:
    await redis.set("storage:test", b"x")
    assert await required(redis.get("storage:test"), "test store") == b"x"


async def test_state_operations_raise_store_unavailable_naming_the_store(down: Redis) -> None:
    with pytest.raises(StoreUnavailable, match=r"^subscriptions: ConnectionError"):
        await required(down.set("k", b"v"), "subscriptions")
    with pytest.raises(StoreUnavailable, match=r"^markers: "), guarded("markers"):
        await down.exists("k")


async def test_cache_operations_degrade_to_the_default_and_say_so(down: Redis) -> None:
    capture = LogCapture()
    logger = structlog.wrap_logger(None, processors=[capture])
    assert await degrade(down.get("k"), "fallback", what="test.cache_get", logger=logger) == (
        "fallback"
    )
    [entry] = capture.entries
    assert (entry["event"], entry["what"], entry["log_level"]) == (
        "storage.degraded",
        "test.cache_get",
        "warning",
    )
    assert "ConnectionError" in entry["error"]


async def test_degrade_also_absorbs_a_guarded_block_inside_it(down: Redis) -> None:
    async def two_reads() -> bytes | None:
        with guarded("cache"):
            await down.get("a")
            value = await down.get("b")
            return value if isinstance(value, bytes) or value is None else value.encode()

    assert await degrade(two_reads(), None, what="test.two_reads") is None


async def test_degrade_does_not_hide_errors_that_are_not_redis_ones() -> None:
    async def broken() -> int:
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError, match="a bug"):
        await degrade(broken(), 0, what="test.bug")
