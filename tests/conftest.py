"""Shared fixtures: a real redis-server per test session, flushed per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.redis_server import RedisServer

pytest_plugins = ["tests.standins.fixtures", "tests.standins.kube", "tests.bot_harness"]

# Bolt switches to OAuth mode when these are set; tests never want that.
for _var in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"):
    os.environ.pop(_var, None)

SHARED = Path(__file__).resolve().parents[2] / "shared"


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
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url
