"""Exactly once across real processes: three replicas share one real Redis and post through
the Slack stand-in, which answers 429 at first; one replica is killed mid-run."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis as sync_redis
from redis.asyncio import Redis

from services.digests.redis_store import RedisDigestStore
from services.digests.schedule import period_key
from tests.digest_replica import DIED
from tests.digest_support import CHANNEL, subscription
from tests.standins.slack import SlackStandIn

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
EVERY_MINUTE = subscription(
    id="dminute",
    frequency="cron",
    cron="* * * * *",
    created_at=datetime(2026, 10, 26, 8, tzinfo=UTC),
)


@pytest.fixture
async def stored(redis_url: str) -> str:
    client = Redis.from_url(redis_url)
    await RedisDigestStore(client).save_subscription(EVERY_MINUTE)
    await client.aclose()
    return redis_url


def start(
    redis_url: str, slack: SlackStandIn, fire: datetime, **extra: Any
) -> subprocess.Popen[str]:
    config = {
        "redis_url": redis_url,
        "slack_url": slack.url,
        "sub_id": EVERY_MINUTE.id,
        "fire": fire.isoformat(),
        "claim_ttl": 30,
        "die": "",
    } | extra
    return subprocess.Popen(
        [sys.executable, "-m", "tests.digest_replica", json.dumps(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def outcomes(processes: list[subprocess.Popen[str]]) -> list[str]:
    found = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err[-2000:]
        found.append(json.loads(out.strip().splitlines()[-1])["outcome"])
    return sorted(found)


def delivered(slack: SlackStandIn, fire: datetime) -> list[dict[str, Any]]:
    """Messages in the channel carrying this (subscription, period)'s metadata."""
    key = f"{EVERY_MINUTE.id}@{period_key(fire)}"
    return [
        m
        for m in slack.messages(CHANNEL)
        if ((m.get("metadata") or {}).get("event_payload") or {}).get("delivery") == key
    ]


def wait_for_claim_expiry(redis_url: str, fire: datetime) -> None:
    client = sync_redis.Redis.from_url(redis_url)
    claim = f"costbot:delivery:{{digest:{EVERY_MINUTE.id}:{period_key(fire)}}}:claim"
    deadline = time.monotonic() + 10
    while client.exists(claim) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not client.exists(claim)
    client.close()


def test_three_replicas_through_429s_post_each_period_once(
    stored: str, slack_api: SlackStandIn
) -> None:
    slack_api.fail("chat.postMessage", times=2)  # 429, Retry-After: 1
    fire = datetime(2026, 10, 26, 9, 1, tzinfo=UTC)
    results = outcomes([start(stored, slack_api, fire) for _ in range(3)])
    assert results.count("sent") == 1
    assert set(results) <= {"sent", "busy", "already"}
    (message,) = delivered(slack_api, fire)
    attempts = [c for c in slack_api.calls_to("chat.postMessage") if c.params.get("metadata")]
    assert len(attempts) == 3  # two 429s waited out by slack_sdk, then the one post
    replies = [m for m in slack_api.messages(CHANNEL) if m.get("thread_ts") == message["ts"]]
    assert len(replies) == 1


@pytest.mark.parametrize(
    ("die", "recovered_as"), [("after_post", "recovered"), ("before_post", "sent")]
)
def test_a_replica_killed_mid_run_leaves_exactly_one_post(
    stored: str, slack_api: SlackStandIn, die: str, recovered_as: str
) -> None:
    fire = datetime(2026, 10, 26, 9, 2, tzinfo=UTC)
    doomed = start(stored, slack_api, fire, die=die, claim_ttl=2)
    doomed.communicate(timeout=60)
    assert doomed.returncode == DIED
    assert len(delivered(slack_api, fire)) == (1 if die == "after_post" else 0)
    wait_for_claim_expiry(stored, fire)  # nobody heartbeats a dead claim
    results = outcomes([start(stored, slack_api, fire) for _ in range(2)])
    assert results.count(recovered_as) == 1
    assert set(results) <= {recovered_as, "busy", "already"}
    assert len(delivered(slack_api, fire)) == 1
