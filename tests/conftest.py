"""Shared fixtures: a real redis-server per test session (flushed per test), an async client
on it, and the one fake clock every test moves by hand instead of sleeping."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis as sync_redis
from redis.asyncio import Redis

from tests.redis_server import RedisServer

pytest_plugins = ["tests.standins.fixtures", "tests.standins.kube", "tests.bot_harness"]

# Bots under test answer from blocks, as in production, unless their OpenCost stand-in serves
# fixed sets whatever the window (tests/bot_harness.py `demo_world_env` then asks per window).
os.environ.setdefault("COST_BLOCKS", "true")

# Bolt switches to OAuth mode when these are set; tests never want that.
for _var in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"):
    os.environ.pop(_var, None)

SHARED = Path(__file__).resolve().parents[2] / "shared"
CLOCK_START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """A `services.ports.Clock` that stands still until a test sets or advances it.

    Tests that need "later" move this clock rather than sleeping, so expiry and schedules are
    exercised at exactly the moment the test names, on any machine.
    """

    def __init__(self, now: datetime = CLOCK_START) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta = timedelta(0), /, **parts: float) -> None:
        """Move forward by `delta` and/or `timedelta(**parts)` (e.g. `advance(hours=1)`)."""
        self.current += delta + timedelta(**parts)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    if redis_server.process is None:  # a previous test stopped it
        redis_server.start()
    client = sync_redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """An asyncio client on the session's (freshly flushed) redis-server."""
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A private, persistent (appendonly, fsync always) redis-server this test may kill."""
    server = RedisServer(tmp_path / "private-redis", persist=True)
    server.start()
    yield server
    server.stop()
