"""Exactly-once digest delivery over a real Redis: racing replicas, Slack failures, replicas
that die mid-run, missed runs inside and outside the grace period."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from services.charts import daily_spend_chart
from services.digests.delivery import Job, Outgoing, Result
from tests.conftest import FakeClock
from tests.digest_support import CHANNEL, Env, FakeChat, build_env, subscription, texts

MONDAY_9 = datetime(2026, 10, 26, 9, tzinfo=UTC)  # a weekly digest's fire time (UTC zone)
PERIOD = "2026-10-26T09:00:00Z"
CREATED = MONDAY_9 - timedelta(days=3)  # after the previous Monday's fire


class Died(BaseException):
    """Stands in for a replica's process dying: nothing after it runs in that replica."""


class DyingChat(FakeChat):
    """Posts (or not) and then 'dies' on the first top-level post."""

    def __init__(self, after_post: bool) -> None:
        super().__init__()
        self.after_post = after_post
        self.died = False

    async def post(self, channel: str, text: str, blocks: Any, **kw: Any) -> str:
        if self.died or kw.get("thread_ts"):
            return await super().post(channel, text, blocks, **kw)
        self.died = True
        if self.after_post:
            await super().post(channel, text, blocks, **kw)
        raise Died


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONDAY_9)


@pytest.fixture
async def env(redis: Redis, clock: FakeClock) -> Env:
    env = build_env(redis, clock)
    await env.store.save_subscription(subscription(created_at=CREATED))
    return env


async def test_three_replicas_racing_for_one_period_post_it_once(
    env: Env, redis: Redis, clock: FakeClock
) -> None:
    replicas = [env, build_env(redis, clock, chat=env.chat), build_env(redis, clock, chat=env.chat)]
    sub = subscription()
    results = await asyncio.gather(*(r.runner.run(sub, MONDAY_9) for r in replicas))
    assert sorted(r.outcome for r in results).count("sent") == 1
    assert {r.outcome for r in results} <= {"sent", "busy", "already"}
    assert len(env.chat.top_level()) == 1
    assert sum(len(r.outcomes) for r in replicas) == 1


async def test_a_delivered_period_is_never_posted_again(env: Env) -> None:
    first = await env.runner.run(subscription(), MONDAY_9)
    again = await env.runner.run(subscription(), MONDAY_9)
    assert (first.outcome, again.outcome) == ("sent", "already")
    summary = env.chat.top_level()
    assert len(summary) == 1
    assert summary[0].metadata == {
        "event_type": "costbot_digest",
        "event_payload": {"subscription_id": "d000001", "period": PERIOD,
                          "delivery": f"d000001@{PERIOD}"},
    }  # fmt: skip
    assert env.outcomes == ["sent"]


async def test_slack_failure_releases_the_claim_and_the_retry_posts_once(env: Env) -> None:
    env.chat.fail("ratelimited")  # still 429 after slack_sdk's own retries
    failed = await env.runner.run(subscription(), MONDAY_9)
    assert failed.outcome == "failed"
    assert await env.redis.exists(f"costbot:delivery:{{digest:d000001:{PERIOD}}}:claim") == 0
    retried = await env.runner.run(subscription(), MONDAY_9)
    assert retried.outcome == "sent"
    assert env.chat.history_checks == 1  # the retry first made sure the post had not happened
    assert len(env.chat.top_level()) == 1
    assert env.outcomes == ["failed", "sent"]


async def test_not_in_channel_is_recorded_once_and_not_retried(env: Env) -> None:
    env.chat.fail("not_in_channel")
    first = await env.runner.run(subscription(), MONDAY_9)
    again = await env.runner.run(subscription(), MONDAY_9)
    assert (first.outcome, first.detail, again.outcome) == ("failed", "not_in_channel", "already")
    assert env.chat.posts == []
    last = await env.store.last_run("digest", "d000001")
    assert last is not None
    assert (last.outcome, last.detail, last.period) == ("failed", "not_in_channel", PERIOD)


@pytest.mark.parametrize("after_post", [True, False])
async def test_a_replica_dying_mid_run_is_recovered_without_a_duplicate(
    redis: Redis, clock: FakeClock, after_post: bool
) -> None:
    """Claimed, maybe posted, died before the done marker: the claim expires (released here)
    and the next replica checks the channel's metadata before posting."""
    dying = build_env(redis, clock, chat=DyingChat(after_post))
    await dying.store.save_subscription(subscription())
    with pytest.raises(Died):
        await dying.runner.run(subscription(), MONDAY_9)
    survivor = build_env(redis, clock, chat=dying.chat)
    result = await survivor.runner.run(subscription(), MONDAY_9)
    assert result.outcome == ("recovered" if after_post else "sent")
    assert len(dying.chat.top_level()) == 1
    assert survivor.chat.history_checks == 1
    assert (await survivor.runner.run(subscription(), MONDAY_9)).outcome == "already"


async def test_heartbeat_keeps_a_slow_delivery_claimed_past_its_ttl(
    redis: Redis, clock: FakeClock
) -> None:
    """The slow delivery holds its claim until the other replica has tried, after the heartbeat
    renewed the 1 s claim three times (so more than the original second has passed)."""
    slow, other = build_env(redis, clock, claim_ttl=1), build_env(redis, clock, claim_ttl=1)
    job = Job(kind="digest", subject="slow", period=PERIOD, channel=CHANNEL)
    other_tried = asyncio.Event()

    async def produce() -> Outgoing:
        await asyncio.wait_for(other_tried.wait(), timeout=20)
        return Outgoing("slow digest", [])

    async def meanwhile() -> Result:
        await _renewals(redis, count=3)
        try:
            return await other.guard.deliver(job, produce)
        finally:
            other_tried.set()

    first, second = await asyncio.gather(slow.guard.deliver(job, produce), meanwhile())
    assert (first.outcome, second.outcome) == ("sent", "busy")
    assert len(slow.chat.posts) == 1
    assert other.chat.posts == []  # the busy replica posted nothing


async def _renewals(redis: Redis, count: int, within: float = 20) -> None:
    """Wait until the (only) claim's remaining TTL has jumped back up `count` times: each jump
    is a heartbeat renewing it. A claim that lapsed instead would vanish and fail the wait."""
    deadline = asyncio.get_running_loop().time() + within
    seen, last = 0, None
    while seen < count:
        assert asyncio.get_running_loop().time() < deadline, f"{seen} of {count} renewals"
        claims = [key async for key in redis.scan_iter(match="*claim*")]
        ttl = await redis.pttl(claims[0]) if len(claims) == 1 else None
        if ttl is not None and ttl > 0:
            if last is not None and ttl > last:
                seen += 1
            last = ttl
        await asyncio.sleep(0.02)


async def test_missed_run_inside_grace_is_delivered_once_marked_late(
    env: Env, clock: FakeClock
) -> None:
    clock.current = MONDAY_9 + timedelta(hours=2, minutes=30)
    results = await env.runner.catch_up(clock.now(), startup=True)
    await env.runner.catch_up(clock.now())
    assert [r.outcome for r in results] == ["late"]
    (summary,) = env.chat.top_level()
    assert "(late)" in texts(summary.blocks)
    assert "delivered late" in texts(summary.blocks)
    assert env.outcomes == ["late"]


async def test_missed_run_outside_grace_is_skipped_never_sent(env: Env, clock: FakeClock) -> None:
    clock.current = MONDAY_9 + timedelta(hours=7)
    results = await env.runner.catch_up(clock.now(), startup=True)
    later = await env.runner.catch_up(clock.now())
    assert [r.outcome for r in results + later] == ["skipped", "already"]
    assert env.chat.posts == []
    assert env.outcomes == ["skipped"]
    last = await env.store.last_run("digest", "d000001")
    assert last is not None
    assert last.outcome == "skipped"


async def test_days_of_missed_daily_digests_are_skipped_and_only_the_latest_sent(
    redis: Redis, clock: FakeClock
) -> None:
    env = build_env(redis, clock)
    await env.store.save_subscription(subscription(frequency="daily"))
    clock.current = MONDAY_9 + timedelta(hours=1)
    results = await env.runner.catch_up(clock.now(), startup=True)
    assert [r.outcome for r in results] == ["late"]
    assert len(env.chat.top_level()) == 1
    assert env.outcomes.count("skipped") == 7  # the rest of the 8-day look-back
    assert env.outcomes[-1] == "late"


async def test_a_fire_before_the_subscription_existed_is_not_delivered(
    redis: Redis, clock: FakeClock
) -> None:
    env = build_env(redis, clock)
    created = MONDAY_9 + timedelta(minutes=30)
    await env.store.save_subscription(subscription(created_at=created))
    clock.current = created + timedelta(minutes=5)
    assert await env.runner.catch_up(clock.now(), startup=True) == []
    assert env.chat.posts == []


async def test_details_and_chart_follow_in_the_thread(redis: Redis, clock: FakeClock) -> None:
    env = build_env(redis, clock, chart=daily_spend_chart)
    result = await env.runner.run(subscription(), MONDAY_9)
    (summary,) = env.chat.top_level()
    replies = [p for p in env.chat.posts if p.thread_ts is not None]
    assert [r.thread_ts for r in replies] == [result.ts] == [summary.ts]
    assert len(env.chat.uploads) == 1
    assert env.chat.uploads[0][1].startswith(b"\x89PNG")
    images = [b for b in replies[0].blocks if b["type"] == "image"]
    assert images == [{"type": "image", "alt_text": images[0]["alt_text"],
                       "slack_file": {"id": "F0001"}}]  # fmt: skip
    assert replies[0].metadata is None  # only the summary carries the delivery metadata


async def test_the_summary_states_totals_top_namespaces_and_idle_for_a_cluster_wide_scope(
    env: Env,
) -> None:
    await env.runner.run(subscription(), MONDAY_9)
    (summary,) = env.chat.top_level()
    words = texts(summary.blocks)
    # 7 days × (100 + 40 + 60 + 20 + 30 idle) = 1750, the same as the week before.
    assert "*$1,750.00* vs $1,750.00" in words
    assert "Oct 19 – Oct 25 UTC" in words
    assert "payments" in words
    assert "efficiency 50%" in words
    assert "idle capacity 12.0% ($210.00)" in words
