"""Audit events: one structured log line and one capped Redis stream entry each."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from structlog.testing import LogCapture

from services.audit.log import AuditLog
from services.audit.redis_stream import RedisAuditStream
from services.errors import StoreUnavailable
from tests.conftest import FakeClock
from tests.redis_server import free_port


def audit_log(redis: Redis | None, maxlen: int = 10_000) -> tuple[AuditLog, LogCapture, FakeClock]:
    capture, clock = LogCapture(), FakeClock(datetime(2024, 5, 1, 9, 30, tzinfo=UTC))
    logger = structlog.wrap_logger(None, processors=[capture])
    return (
        AuditLog(None if redis is None else RedisAuditStream(redis, maxlen=maxlen), logger, clock),
        capture,
        clock,
    )


async def test_record_logs_the_event_and_appends_it_to_the_stream(redis: Redis) -> None:
    log, capture, _ = audit_log(redis)
    await log.record("access_denied", "U0BOB", namespace="payments", command="/cost namespace")
    assert capture.entries == [
        {
            "event": "audit.access_denied",
            "log_level": "info",
            "actor": "U0BOB",
            "namespace": "payments",
            "command": "/cost namespace",
        }
    ]
    assert await redis.xlen("costbot:audit") == 1
    [entry] = await log.recent(5)
    assert (entry.event, entry.actor) == ("access_denied", "U0BOB")
    assert entry.fields == {"namespace": "payments", "command": "/cost namespace"}
    assert entry.at == datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


async def test_recent_is_newest_first_and_limited(redis: Redis) -> None:
    log, _, clock = audit_log(redis)
    for number in range(5):
        clock.advance(minutes=1)
        await log.record("recommendation_acknowledged", f"U{number}", rec_id=f"r{number}")
    entries = await log.recent(3)
    assert [entry.actor for entry in entries] == ["U4", "U3", "U2"]
    assert entries[0].at > entries[1].at


async def test_stream_is_capped_near_maxlen(redis: Redis) -> None:
    log, _, _ = audit_log(redis, maxlen=10)
    for number in range(300):
        await log.record("digest_subscribed", "U0ALICE", n=number)
    # MAXLEN ~ trims whole radix-tree nodes (100 entries by default), never below maxlen.
    assert 10 <= await redis.xlen("costbot:audit") <= 110


async def test_audit_prefix_is_not_doubled_and_odd_values_are_kept_as_text(redis: Redis) -> None:
    log, capture, _ = audit_log(redis)
    until = datetime(2024, 6, 1, tzinfo=UTC)
    await log.record("audit.recommendation_snoozed", "U0ALICE", until=until, file=Path("/x"))
    assert capture.entries[0]["event"] == "audit.recommendation_snoozed"
    [entry] = await log.recent(1)
    assert entry.event == "recommendation_snoozed"
    assert entry.fields == {"until": "2024-06-01T00:00:00+00:00", "file": "/x"}


@pytest.mark.parametrize("name", ["Access Denied", "", "audit.", "denied!"])
async def test_malformed_event_names_are_refused(redis: Redis, name: str) -> None:
    log, capture, _ = audit_log(redis)
    with pytest.raises(ValueError, match="snake_case"):
        await log.record(name, "U0BOB")
    assert capture.entries == []


async def test_redis_failure_keeps_the_log_line_and_raises() -> None:
    """An audit entry is state: losing it is reported, but the log line is already written."""
    broken = Redis(port=free_port(), socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    log, capture, _ = audit_log(broken)
    try:
        with pytest.raises(StoreUnavailable, match="audit stream"):
            await log.record("recommendation_dismissed", "U0ALICE", reason="not ours")
        with pytest.raises(StoreUnavailable, match="audit stream"):
            await log.recent(5)
    finally:
        await broken.aclose()
    assert [entry["event"] for entry in capture.entries] == [
        "audit.recommendation_dismissed",
        "audit.store_failed",
    ]
    assert capture.entries[0]["reason"] == "not ours"
    assert capture.entries[1]["log_level"] == "error"


async def test_without_redis_only_the_log_line_is_written() -> None:
    log, capture, _ = audit_log(None)
    await log.record("access_denied", "U0BOB")
    assert [entry["event"] for entry in capture.entries] == ["audit.access_denied"]
    assert await log.recent(5) == []
