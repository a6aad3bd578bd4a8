"""Budgets and alerts: the pure rules, once-per-month thresholds and once-per-day spend jumps
over a real Redis, the budget routes, and the Acknowledge button through Bolt."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from redis.asyncio import Redis
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack_adapters import SlackChatPoster, slack_client
from handlers.deps import Deps
from handlers.listeners.commands import Asker, run_command
from handlers.routes import digests as digest_routes
from services.digests.alerts import budget_alerts, forecast, spend_change
from services.digests.models import Budget
from services.errors import NotAllowed
from tests.conftest import FakeClock
from tests.digest_support import (
    ADMIN,
    ALICE,
    BOB,
    CHANNEL,
    Env,
    FakeChat,
    FakeCostSource,
    build_env,
    texts,
)
from tests.standins.slack import SlackStandIn


def budget(amount: float = 1000.0, **fields: Any) -> Budget:
    base: dict[str, Any] = {
        "id": "b000001",
        "channel": CHANNEL,
        "kind": "namespace",
        "target": "payments",
        "amount": amount,
        "creator": "U0ALICE",
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    return Budget(**(base | fields))


def at(day: int, month: int = 10, hour: int = 7) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def payments_env(redis: Redis, rate: Any = None, **kw: Any) -> Env:
    """Only `payments` costs anything: $100 a day unless `rate(day)` says otherwise."""
    source = FakeCostSource(
        lambda ns, day: (rate(day) if rate else 100.0) if ns == "payments" else 0.0
    )
    return build_env(redis, FakeClock(at(1)), source=source, **kw)


def alert_periods(chat: FakeChat) -> list[str]:
    return sorted(p.metadata["event_payload"]["period"] for p in chat.posts if p.metadata)


# --- the rules ------------------------------------------------------------------------------------
def test_thresholds_are_crossed_at_80_and_100_percent_of_the_month_so_far() -> None:
    early = at(2, hour=0)  # 24 h in: too early for a forecast
    assert budget_alerts(budget(), 799.99, early) == []
    assert [a.period for a in budget_alerts(budget(), 800.0, early)] == ["2026-10:80"]
    assert [a.threshold for a in budget_alerts(budget(), 1000.0, early)] == [80, 100]


def test_forecast_is_month_to_date_over_elapsed_hours_times_hours_in_month() -> None:
    assert forecast(100.0, at(2, hour=0)) == pytest.approx(100.0 / 24 * 744)  # October: 744 h
    assert forecast(100.0, at(2, month=2, hour=0)) == pytest.approx(100.0 / 24 * 672)
    on_track = budget_alerts(budget(), 300.0, at(4, hour=0))  # 72 h in, heading for $3,100
    assert [a.kind for a in on_track] == ["forecast"]
    assert budget_alerts(budget(), 200.0, at(3, hour=0)) == []  # 48 h: not trusted yet


@pytest.mark.parametrize(
    ("yesterday", "baseline", "alerts"),
    [(151.0, 100.0, True), (149.0, 100.0, False), (50.0, 10.0, False), (80.0, 10.0, True)],
)
def test_spend_change_needs_the_ratio_and_the_minimum_amount(
    yesterday: float, baseline: float, alerts: bool
) -> None:
    today = date(2026, 10, 26)
    daily = [(today - timedelta(days=i), baseline) for i in range(2, 16)]
    daily.append((today - timedelta(days=1), yesterday))
    found = spend_change(budget(), daily, today)
    assert (found is not None) == alerts
    if found is not None:
        assert (found.period, found.baseline) == ("2026-10-25", baseline)


def test_spend_change_needs_a_week_of_history() -> None:
    today = date(2026, 10, 26)
    daily = [(today - timedelta(days=i), 100.0) for i in range(2, 8)] + [
        (date(2026, 10, 25), 900.0)
    ]
    assert spend_change(budget(), daily, today) is None


# --- the daily check ------------------------------------------------------------------------------
async def test_crossing_80_then_100_percent_posts_once_each_per_month(redis: Redis) -> None:
    env = payments_env(redis)
    await env.store.save_budget(budget(2650.0))
    await env.budgets.check(at(25))  # $2,429 = 91.7 % … and on track for $3,100
    await env.budgets.check(at(25, hour=12))
    await env.budgets.check(at(26))  # $2,529: still over 80 %, nothing new
    assert alert_periods(env.chat) == ["2026-10:80", "2026-10:forecast"]
    await env.budgets.check(at(28))  # $2,729: over 100 %
    await env.budgets.check(at(29))
    assert alert_periods(env.chat) == ["2026-10:100", "2026-10:80", "2026-10:forecast"]
    await env.budgets.check(at(25, month=11))  # a new month crosses again
    await env.budgets.check(at(26, month=11))
    assert alert_periods(env.chat).count("2026-11:80") == 1
    assert all(p.metadata["event_type"] == "costbot_alert" for p in env.chat.posts if p.metadata)


async def test_first_check_over_the_whole_budget_posts_only_the_highest_threshold(
    redis: Redis,
) -> None:
    env = payments_env(redis)
    await env.store.save_budget(budget(1000.0))
    await env.budgets.check(at(26))
    assert alert_periods(env.chat) == ["2026-10:100"]
    assert "Budget exceeded: namespace `payments`" in texts(env.chat.posts[0].blocks)
    assert env.outcomes == ["skipped", "sent"]  # the 80 % crossing is recorded, not posted


async def test_a_spend_jump_is_posted_once_for_its_day(redis: Redis) -> None:
    env = payments_env(redis, rate=lambda day: 400.0 if day == date(2026, 10, 25) else 100.0)
    await env.store.save_budget(budget(1_000_000.0))
    await env.budgets.check(at(26))
    await env.budgets.check(at(26, hour=9))
    await env.budgets.check(at(27))  # yesterday was normal again
    assert alert_periods(env.chat) == ["2026-10-25"]
    words = texts(env.chat.posts[0].blocks)
    assert "*$400.00* on Sun Oct 25 (UTC) vs $100.00/day over the 14 days before (×4.0)" in words


async def test_alerts_cover_only_what_the_creator_may_still_see(redis: Redis) -> None:
    env = payments_env(redis)
    await env.store.save_budget(budget(1000.0))
    env.people.known["U0ALICE"] = BOB  # moved teams: may no longer see payments
    assert await env.budgets.check(at(26)) == []
    assert env.chat.posts == []


# --- managing budgets -----------------------------------------------------------------------------
async def test_budgets_need_access_to_what_they_watch(redis: Redis) -> None:
    env = payments_env(redis)
    with pytest.raises(NotAllowed):
        await env.budgets.set(ALICE, CHANNEL, "namespace", "search", 100.0)
    with pytest.raises(NotAllowed):
        await env.budgets.set(ALICE, CHANNEL, "cluster", "", 100.0)
    whole = await env.budgets.set(ADMIN, CHANNEL, "cluster", "", 9000.0)
    first = await env.budgets.set(ALICE, CHANNEL, "namespace", "payments", 100.0)
    again = await env.budgets.set(ALICE, CHANNEL, "namespace", "payments", 250.0)
    assert again.id == first.id
    assert {(b.id, b.amount) for b in await env.store.budgets()} == {
        (whole.id, 9000.0),
        (first.id, 250.0),
    }
    with pytest.raises(NotAllowed):
        await env.budgets.remove(BOB, CHANNEL, first.id)
    await env.budgets.remove(ALICE, CHANNEL, first.id)
    events = [e.event for e in await env.audit.recent()]
    assert events.count("budget_set") == 3
    assert "budget_removed" in events


async def test_budget_routes_set_list_and_remove(redis: Redis) -> None:
    env = payments_env(redis)
    deps = Deps(
        costs=env.costs,
        access=env.access,
        audit=env.audit,
        clock=env.clock,
        digests=env.digests,
        budgets=env.budgets,
    )

    async def ask(text: str) -> str:
        asker = Asker(identity=ALICE, user_id="U0ALICE", channel_id=CHANNEL, text=text)
        return texts((await run_command(deps, asker)).blocks)

    assert "$1,500.00/month for namespace `payments`" in await ask(
        "budget set namespace payments 1500/month"
    )
    (stored,) = await env.store.budgets()
    assert f"`{stored.id}`" in await ask("budget list")
    assert f"removed the budget `{stored.id}`" in await ask(f"budget remove {stored.id}")
    assert "No budgets in this channel yet" in await ask("budget list")


# --- the Acknowledge button -----------------------------------------------------------------------
async def test_acknowledge_replaces_the_button_with_who_acknowledged(
    redis: Redis, slack_api: SlackStandIn
) -> None:
    poster = SlackChatPoster(slack_client("xoxb-test", slack_api.url))
    env = payments_env(redis, chat=poster)
    await env.store.save_budget(budget(1000.0))
    await env.budgets.check(at(26))
    (alert,) = slack_api.messages(CHANNEL)
    button = next(b for b in alert["blocks"] if b["type"] == "actions")["elements"][0]
    assert (button["action_id"], button["value"]) == ("alert_ack", "b000001:2026-10:100")

    app = _app(
        slack_api,
        Deps(
            costs=env.costs,
            access=env.access,
            audit=env.audit,
            clock=env.clock,
            budgets=env.budgets,
        ),
    )
    response = await app.async_dispatch(_click(alert, button["value"], slack_api))
    assert response.status == 200
    await slack_api.wait_for_async("chat.update")
    (updated,) = slack_api.messages(CHANNEL)
    assert all(b["type"] != "actions" for b in updated["blocks"])
    assert "✅ Acknowledged by <@U0BOB>" in texts(updated["blocks"])
    assert ("alert_acknowledged", "U0BOB") in [(e.event, e.actor) for e in await env.audit.recent()]


def _app(slack: SlackStandIn, deps: Deps) -> AsyncApp:
    client = AsyncWebClient(token="xoxb-test", base_url=slack.url)

    async def authorize(**_: Any) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=None, team_id=None, bot_token="xoxb-test")

    app = AsyncApp(
        client=client,
        authorize=authorize,
        request_verification_enabled=False,
        raise_error_for_unhandled_request=False,
    )
    digest_routes.register(app, deps)
    return app


def _click(message: dict[str, Any], value: str, slack: SlackStandIn) -> AsyncBoltRequest:
    payload = {
        "type": "block_actions",
        "user": {"id": "U0BOB"},
        "team": {"id": "T0TEST"},
        "api_app_id": "A0TEST",
        "trigger_id": "1.2.3",
        "channel": {"id": CHANNEL},
        "message": {"ts": message["ts"], "blocks": message["blocks"]},
        "response_url": slack.new_response_url(),
        "actions": [
            {"type": "button", "action_id": "alert_ack", "block_id": "alert_ack", "value": value}
        ],
    }
    body = urlencode({"payload": json.dumps(payload)})
    return AsyncBoltRequest(
        body=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
