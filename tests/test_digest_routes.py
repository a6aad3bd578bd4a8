"""`/cost digest …` through run_command with in-memory fakes: subscribe, list, unsubscribe,
preview; access re-checked at send time; the scheduler's job rebuild and the wiring."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.metrics import Metrics
from bot.runtime import Runtime, build_digests
from bot.scheduler import DigestScheduler
from bot.settings import Settings
from demo.parts import demo_parts
from handlers.deps import Deps
from handlers.listeners.commands import Asker, run_command
from handlers.render.reply import Reply
from services.access.identity import SlackUser, StaticSlackDirectory
from services.access.models import Identity
from services.digests import RecsDigest, RecsDigestItem
from services.errors import Unmapped
from tests.bot_harness import seed_slack_users
from tests.conftest import FakeClock
from tests.digest_support import (
    ADMIN,
    ALICE,
    BOB,
    CHANNEL,
    NOBODY,
    Env,
    FakeChat,
    FakeCostSource,
    build_env,
    subscription,
    texts,
)
from tests.standins.slack import SlackStandIn

WEDNESDAY = datetime(2026, 10, 28, 12, tzinfo=UTC)
MONDAY_9_BERLIN = datetime(2026, 10, 26, 8, tzinfo=UTC)


@pytest.fixture
def env(redis: Redis) -> Env:
    directory = StaticSlackDirectory([SlackUser(id="U0ALICE", tz="Europe/Berlin")])
    return build_env(redis, FakeClock(WEDNESDAY), directory=directory)


def deps_for(env: Env) -> Deps:
    return Deps(
        costs=env.costs,
        access=env.access,
        audit=env.audit,
        clock=env.clock,
        admin_groups=frozenset({"platform-admins"}),
        digests=env.digests,
        budgets=env.budgets,
    )


async def ask(env: Env, who: Identity, text: str, channel: str = CHANNEL) -> Reply:
    asker = Asker(identity=who, user_id=who.slack_user_id, channel_id=channel, text=text)
    return await run_command(deps_for(env), asker)


async def test_subscribe_defaults_to_weekly_monday_nine_in_the_subscribers_zone(env: Env) -> None:
    reply = await ask(env, ALICE, "digest subscribe")
    (sub,) = await env.store.subscriptions(CHANNEL)
    assert (sub.frequency, sub.day, sub.at, sub.tz) == ("weekly", "mon", "09:00", "Europe/Berlin")
    assert (sub.scope_kind, sub.cluster_wide, sub.seen) == (
        "everything",
        False,
        ("checkout", "payments"),
    )
    assert reply.in_channel
    assert "weekly on Mon at 09:00 Europe/Berlin" in texts(reply.blocks)
    assert "next Mon Nov 02 09:00 CET" in texts(reply.blocks)
    events = [(e.event, e.actor) for e in await env.audit.recent()]
    assert ("digest_subscribed", "U0ALICE") in events


async def test_subscribing_to_a_namespace_you_may_not_see_is_refused(env: Env) -> None:
    reply = await ask(env, ALICE, "digest subscribe daily namespace search")
    assert ":no_entry:" in texts(reply.blocks)
    assert await env.store.subscriptions() == []
    assert "access_denied" in [e.event for e in await env.audit.recent()]


async def test_cron_schedules_are_for_admins_and_use_crontab_day_numbers(env: Env) -> None:
    refused = await ask(env, ALICE, 'digest subscribe cron "0 9 * * 1"')
    assert ":no_entry:" in texts(refused.blocks)
    await ask(env, ADMIN, 'digest subscribe cron "0 9 * * 1" tz Europe/Berlin')
    (sub,) = await env.store.subscriptions()
    assert (sub.frequency, sub.cron, sub.cluster_wide) == ("cron", "0 9 * * 1", True)
    listing = texts((await ask(env, ADMIN, "digest list")).blocks)
    assert "next Mon Nov 02 09:00 CET" in listing  # a Monday, not a Tuesday


async def test_list_shows_schedule_next_run_and_the_last_result(env: Env) -> None:
    await ask(env, ALICE, "digest subscribe weekly at 09:00")
    (sub,) = await env.store.subscriptions()
    assert isinstance(env.chat, FakeChat)
    env.chat.fail("not_in_channel")
    await env.runner.run(sub, MONDAY_9_BERLIN + timedelta(days=7))
    listing = texts((await ask(env, ALICE, "digest list")).blocks)
    assert f"`{sub.id}`" in listing
    assert "weekly on Mon at 09:00 Europe/Berlin" in listing
    assert "next Mon Nov 02 09:00 CET" in listing
    assert "last failed Wed Oct 28 13:00 CET (not_in_channel)" in listing


async def test_list_in_another_channel_shows_nothing_to_non_admins(env: Env) -> None:
    await ask(env, ALICE, "digest subscribe")
    elsewhere = texts((await ask(env, ALICE, "digest list", channel="C0OTHER")).blocks)
    assert "No digests in this channel yet" in elsewhere
    admin_view = texts((await ask(env, ADMIN, "digest list", channel="C0OTHER")).blocks)
    assert f"in <#{CHANNEL}>" in admin_view


async def test_unsubscribe_needs_the_subscriber_or_an_admin(env: Env) -> None:
    await ask(env, ALICE, "digest subscribe namespace payments")
    (sub,) = await env.store.subscriptions()
    teammate = Identity("U0CAROL", k8s_user="carol", groups=("payments-devs",), source="explicit")
    for who in (BOB, teammate):  # seeing everything it covers is not owning it
        refused = await ask(env, who, f"digest unsubscribe {sub.id}")
        assert ":no_entry:" in texts(refused.blocks)
    assert await env.store.subscriptions() == [sub]
    denied = [e for e in await env.audit.recent(50) if e.event == "access_denied"]
    assert {e.actor for e in denied if e.fields.get("subscription") == sub.id} == {
        "U0BOB",
        "U0CAROL",
    }
    done = await ask(env, ALICE, f"digest unsubscribe {sub.id}")
    assert done.in_channel
    assert f"removed the cost digest `{sub.id}`" in texts(done.blocks)
    assert await env.store.subscriptions() == []
    assert "digest_unsubscribed" in [e.event for e in await env.audit.recent()]
    missing = await ask(env, ALICE, f"digest unsubscribe {sub.id}")
    assert ":mag:" in texts(missing.blocks)


async def test_a_digest_list_never_names_a_namespace_the_viewer_may_not_see(env: Env) -> None:
    await ask(env, ALICE, "digest subscribe namespace payments")
    (status,) = await env.digests.statuses(BOB, CHANNEL)
    assert not status.scope_visible
    listing = texts((await ask(env, BOB, "digest list")).blocks)
    assert "1 namespace(s) you can't all see" in listing
    assert "payments" not in listing
    assert "namespaces `payments`" in texts((await ask(env, ALICE, "digest list")).blocks)


async def test_an_admin_removes_anyones_digest(env: Env) -> None:
    await ask(env, ALICE, "digest subscribe")
    (sub,) = await env.store.subscriptions()
    done = await ask(env, ADMIN, f"digest unsubscribe {sub.id}")
    assert f"removed the cost digest `{sub.id}`" in texts(done.blocks)
    assert await env.store.subscriptions() == []


async def test_preview_needs_a_kubernetes_identity(env: Env) -> None:
    await ask(env, ALICE, "digest subscribe")
    with pytest.raises(Unmapped):
        await env.digests.preview(NOBODY, CHANNEL, None)


async def test_preview_is_the_scheduled_digest_for_the_same_period(env: Env) -> None:
    await ask(env, ALICE, "digest subscribe")
    (sub,) = await env.store.subscriptions()
    preview = await ask(env, ALICE, f"digest preview {sub.id}")
    _, data = await env.digests.preview(ALICE, CHANNEL, sub.id)
    scheduled = await env.runner.content_for(sub, MONDAY_9_BERLIN)
    assert data == scheduled
    await env.runner.run(sub, MONDAY_9_BERLIN)
    assert isinstance(env.chat, FakeChat)
    (posted,) = env.chat.top_level()
    assert preview.blocks[1 : 1 + len(posted.blocks)] == posted.blocks
    assert not preview.in_channel


async def test_a_digest_never_covers_namespaces_the_subscriber_can_no_longer_see(
    env: Env,
) -> None:
    await ask(env, ADMIN, "digest subscribe namespace payments search")
    (sub,) = await env.store.subscriptions()
    env.people.known["U0ADMIN"] = Identity("U0ADMIN", k8s_user="demoted", groups=("search-team",))
    await env.runner.run(sub, WEDNESDAY - timedelta(hours=1))
    assert isinstance(env.chat, FakeChat)
    (summary,) = env.chat.top_level()
    details = next(p for p in env.chat.posts if p.thread_ts)
    words = texts(summary.blocks) + texts(details.blocks)
    assert "1 namespace this digest covered is no longer visible" in words
    assert "$420.00" in words  # search alone: 7 days × $60
    assert "payments" not in words.replace("namespaces `payments`, `search`", "")


async def test_nothing_visible_pauses_with_one_notice_then_resumes(env: Env) -> None:
    await ask(env, ALICE, "digest subscribe daily")
    (sub,) = await env.store.subscriptions()
    env.people.known["U0ALICE"] = NOBODY
    day = datetime(2026, 10, 29, 8, tzinfo=UTC)  # 09:00 Berlin
    first = await env.runner.run(sub, day)
    second = await env.runner.run(sub, day + timedelta(days=1))
    assert (first.outcome, second.outcome) == ("paused", "paused")
    assert isinstance(env.chat, FakeChat)
    (notice,) = env.chat.top_level()
    assert "is paused: <@U0ALICE> may no longer see anything" in texts(notice.blocks)
    assert "paused" in texts((await ask(env, ADMIN, "digest list")).blocks)
    env.people.known["U0ALICE"] = ALICE
    third = await env.runner.run(sub, day + timedelta(days=2))
    assert third.outcome == "sent"
    assert not await env.store.paused(sub.id)


async def test_scheduler_rebuilds_its_jobs_when_a_subscription_changes(env: Env) -> None:
    scheduler = await DigestScheduler(
        env.runner, env.budgets, env.store, env.redis, env.clock, reconcile_every=3600
    ).start()

    async def listening() -> bool:  # the change message must not race the SUBSCRIBE
        [(_, count)] = await env.redis.pubsub_numsub(env.store.changes_channel)
        return bool(count)

    try:
        await _until(listening)
        await ask(env, ALICE, "digest subscribe daily")
        (sub,) = await env.store.subscriptions()
        await _until(lambda: _now(f"digest:{sub.id}" in scheduler.job_ids))
        await env.store.remove_subscription(sub.id)
        await _until(lambda: _now(f"digest:{sub.id}" not in scheduler.job_ids))
        assert scheduler.job_ids == ["budgets"]
    finally:
        await scheduler.stop()


async def test_build_digests_wires_services_and_a_handle_that_counts_outcomes(
    redis: Redis,
) -> None:
    env = build_env(redis, FakeClock(WEDNESDAY))
    metrics = Metrics()
    wired = build_digests(
        redis=env.redis,
        chat=env.chat,
        clock=env.clock,
        costs=env.costs,
        access=env.access,
        audit=env.audit,
        resolve_identity=env.people.resolve,
        directory=None,
        recs=None,
        admin_groups=frozenset(),
        currency="USD",
        prefix="costbot:",
        grace=timedelta(seconds=3600),
        on_outcome=lambda outcome: metrics.digests.labels(outcome=outcome).inc(),
    )
    await env.store.save_subscription(subscription(created_at=WEDNESDAY - timedelta(days=30)))
    said = await wired.control.run_digest_now("d000001")
    assert said.startswith("sent digest d000001 for 2026-10-26T09:00:00Z")
    assert (await wired.control.run_digest_now("d000001")).startswith("already")
    assert await wired.control.run_digest_now("dnothere") == "no digest subscription dnothere"
    counted = metrics.registry.get_sample_value("costbot_digests_total", {"outcome": "late"})
    assert counted == 1  # two days after its fire time
    # The service /cost talks to and the handle the scheduler uses share one store.
    assert [st.subscription.id for st in await wired.service.statuses(ADMIN, CHANNEL)] == [
        "d000001"
    ]
    scheduler = await wired.control.start_scheduler()
    try:
        assert "budgets" in scheduler.job_ids
    finally:
        await scheduler.stop()


async def _now(value: bool) -> bool:
    return value


async def _until(check: Callable[[], Awaitable[bool]], within: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_preview_without_a_subscription_shows_the_default_digest(env: Env) -> None:
    reply = await ask(env, ALICE, "digest preview")
    words = texts(reply.blocks)
    assert "Preview, only visible to you" in words
    assert "Weekly cost digest · Oct 19 – Oct 25 Europe/Berlin" in words
    assert "Digest `preview`" in words
    assert await env.store.subscriptions() == []


class FakeRecs:
    def __init__(self) -> None:
        self.scopes: list[Any] = []

    async def digest_items(self, scope: Any, identity: Identity, limit: int) -> RecsDigest:
        self.scopes.append((scope, identity.slack_user_id, limit))
        items = [
            RecsDigestItem("Right-size payments/api", 800.0),
            RecsDigestItem("Idle job", 400.0),
        ]
        return RecsDigest(
            items, total_potential=1200.0, acknowledged_since=300.0, realized_since=50.0
        )


async def test_recommendations_come_from_the_optional_source_for_the_visible_scope(
    redis: Redis,
) -> None:
    recs = FakeRecs()
    env = build_env(redis, FakeClock(WEDNESDAY), recs=recs)
    await ask(env, ALICE, "digest subscribe")
    (sub,) = await env.store.subscriptions()
    await env.runner.run(sub, MONDAY_9_BERLIN)
    assert isinstance(env.chat, FakeChat)
    summary, details = env.chat.posts
    assert "savings open $1,200.00/month · acknowledged $300.00 · realized $50.00" in texts(
        summary.blocks
    )
    assert "• Right-size payments/api — $800.00/month" in texts(details.blocks)
    [(scope, who, limit)] = recs.scopes
    assert (scope.namespaces, who, limit) == (frozenset({"payments", "checkout"}), "U0ALICE", 5)


async def test_on_a_real_runtime_a_weekly_digest_reaches_slack_once_with_its_chart(
    redis_url: str, slack_api: SlackStandIn, tmp_path: Path
) -> None:
    """The wiring Runtime.start does: demo data, demo RBAC, the Slack stand-in."""
    seed_slack_users(slack_api)
    settings = Settings(
        slack_bot_token="xoxb-test",
        slack_api_url=slack_api.url,
        redis_url=redis_url,
        data_dir=tmp_path,
    )
    runtime = await Runtime.start(settings, demo=demo_parts())
    try:
        alice = await runtime.resolver.resolve("U0ALICE")
        asker = Asker(
            identity=alice, user_id="U0ALICE", channel_id="C0DIGEST", text="digest subscribe weekly"
        )
        await run_command(runtime.deps, asker)
        assert runtime.deps.digests is not None
        (status,) = await runtime.deps.digests.statuses(alice, "C0DIGEST")
        sub_id = status.subscription.id
        assert status.subscription.tz == "Europe/Berlin"  # from users.info
        assert (await runtime.digests.run_digest_now(sub_id)).startswith("sent digest")
        assert (await runtime.digests.run_digest_now(sub_id)).startswith("already")
    finally:
        await runtime.aclose()
    top = [m for m in slack_api.messages("C0DIGEST") if "thread_ts" not in m]
    (summary,) = top
    assert summary["metadata"]["event_payload"]["subscription_id"] == sub_id
    (thread,) = [m for m in slack_api.messages("C0DIGEST") if m.get("thread_ts") == summary["ts"]]
    assert any(b["type"] == "image" for b in thread["blocks"])
    assert len(slack_api.uploads) == 1
    words = texts(summary["blocks"]) + texts(thread["blocks"])
    assert "search" not in words  # Alice sees payments and checkout only


async def test_a_one_namespace_digest_skips_the_top_namespaces_table(env: Env) -> None:
    """One namespace at 100 % says nothing the headline did not; a wider scope keeps the table."""
    wide = texts((await ask(env, ADMIN, "digest preview")).blocks)  # every namespace
    assert "*Top namespaces*" in wide
    await ask(env, ALICE, "digest subscribe ns payments")
    (sub,) = await env.store.subscriptions()
    one = texts((await ask(env, ALICE, f"digest preview {sub.id}")).blocks)
    assert "Weekly cost digest" in one
    assert "*Top namespaces*" not in one


@pytest.mark.parametrize(
    ("extra", "change", "arrow"),
    [
        # rounds to no cent: no sign and a sideways arrow, as `compare` shows it
        (0.004, "($0.00, 0.0%)", ":left_right_arrow:"),
        (-0.004, "($0.00, 0.0%)", ":left_right_arrow:"),
        (5.0, "(+$5.00, +5.0%)", ":arrow_up:"),
        (-5.0, "(−$5.00, −5.0%)", ":arrow_down:"),
    ],
)
async def test_a_change_under_half_a_cent_shows_as_zero_without_a_sign(
    redis: Redis, extra: float, change: str, arrow: str
) -> None:
    """payments costs $100 on one day of the week before and $100 + `extra` on one of the
    latest week (whole UTC days, so the zone's week edges change nothing); it runs on after
    the week too, so Alice's scope still lists it today."""
    days = {date(2026, 10, 14): 100.0, date(2026, 10, 21): 100.0 + extra}

    def rate(namespace: str, day: date) -> float:
        if namespace != "payments":
            return 0.0
        return 1.0 if day >= date(2026, 10, 26) else days.get(day, 0.0)

    source = FakeCostSource(rate=rate)
    directory = StaticSlackDirectory([SlackUser(id="U0ALICE", tz="Europe/Berlin")])
    env = build_env(redis, FakeClock(WEDNESDAY), source=source, directory=directory)
    text = texts((await ask(env, ALICE, "digest preview")).blocks)
    assert f"vs $100.00 before {change}" in text, text
    assert f"{arrow} *$" in text, text
