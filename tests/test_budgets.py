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

from bot.middleware import identity_middleware
from bot.slack_adapters import SlackChatPoster, slack_client
from handlers.deps import Deps
from handlers.listeners.commands import Asker, run_command
from handlers.routes import digests as digest_routes
from services.access.models import Identity
from services.digests.alerts import budget_alerts, forecast, spend_change
from services.errors import NotAllowed, NotFound
from services.numbers import money
from tests.conftest import FakeClock
from tests.digest_support import (
    ADMIN,
    ALICE,
    BOB,
    CHANNEL,
    Env,
    FakeChat,
    FakeCostSource,
    budget,
    build_env,
    texts,
)
from tests.standins.slack import SlackStandIn


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


async def test_a_user_without_bindings_cannot_overwrite_or_delete_anothers_budget(
    redis: Redis,
) -> None:
    env = payments_env(redis)
    env.people.known["U0DAVE"] = DAVE
    label = await env.budgets.set(ALICE, CHANNEL, "label", "team=payments", 500.0)
    by_ns = await env.budgets.set(ALICE, CHANNEL, "namespace", "payments", 300.0)
    for kind, target in (("label", "team=payments"), ("namespace", "payments")):
        with pytest.raises(NotAllowed):
            await env.budgets.set(DAVE, CHANNEL, kind, target, 1.0)  # type: ignore[arg-type]
    for stored in (label, by_ns):
        with pytest.raises(NotAllowed):
            await env.budgets.remove(DAVE, CHANNEL, stored.id)
    assert {(b.id, b.amount, b.creator) for b in await env.store.budgets()} == {
        (label.id, 500.0, "U0ALICE"),
        (by_ns.id, 300.0, "U0ALICE"),
    }
    denials = [e for e in await env.audit.recent(50) if e.event == "access_denied"]
    assert {e.fields.get("budget") for e in denials} >= {label.id, by_ns.id}
    assert all(e.actor == "U0DAVE" for e in denials)


async def test_only_the_creator_or_an_admin_changes_or_removes_a_budget(redis: Redis) -> None:
    env = payments_env(redis)
    mine = await env.budgets.set(ALICE, CHANNEL, "label", "team=search", 200.0)
    with pytest.raises(NotAllowed):  # Bob may see namespaces, but the budget is Alice's
        await env.budgets.set(BOB, CHANNEL, "label", "team=search", 1.0)
    with pytest.raises(NotAllowed):
        await env.budgets.remove(BOB, CHANNEL, mine.id)
    changed = await env.budgets.set(ADMIN, CHANNEL, "label", "team=search", 250.0)
    assert (changed.id, changed.amount) == (mine.id, 250.0)
    await env.budgets.remove(ADMIN, CHANNEL, mine.id)
    assert await env.store.budgets() == []


async def test_a_budget_list_never_names_a_namespace_the_viewer_may_not_see(
    redis: Redis,
) -> None:
    env = payments_env(redis)
    await env.budgets.set(ALICE, CHANNEL, "namespace", "payments", 300.0)
    (for_bob,) = await env.budgets.statuses(BOB, CHANNEL)
    (for_alice,) = await env.budgets.statuses(ALICE, CHANNEL)
    assert (for_bob.target_visible, for_alice.target_visible) == (False, True)
    deps = Deps(
        costs=env.costs, access=env.access, audit=env.audit, clock=env.clock, budgets=env.budgets
    )
    asker = Asker(identity=BOB, user_id="U0BOB", channel_id=CHANNEL, text="budget list")
    listing = texts((await run_command(deps, asker)).blocks)
    assert "a namespace you can't see" in listing
    assert "payments" not in listing


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


async def test_budget_list_shows_month_to_date_forecast_and_share_of_the_budget(
    redis: Redis,
) -> None:
    """$100 a day for `payments`; forecast = month-to-date ÷ elapsed hours × hours in October,
    shown with the share of the budget used, to whoever may see the target only."""
    env = payments_env(redis)
    await env.store.save_budget(budget(3000.0))
    env.clock.advance(timedelta(days=10))  # Oct 11 07:00 UTC
    deps = Deps(
        costs=env.costs, access=env.access, audit=env.audit, clock=env.clock, budgets=env.budgets
    )
    (status,) = await env.budgets.statuses(ALICE, CHANNEL)
    assert status.month_to_date is not None
    assert status.forecast is not None
    now = env.clock.now()
    elapsed = (now - at(1, hour=0)).total_seconds() / 3600
    assert status.forecast == pytest.approx(status.month_to_date / elapsed * 31 * 24)
    asker = Asker(identity=ALICE, user_id="U0ALICE", channel_id=CHANNEL, text="budget list")
    listing = texts((await run_command(deps, asker)).blocks)
    used = status.month_to_date / 3000.0
    assert f"{money(status.month_to_date)} so far this month ({used:.0%} of budget)" in listing
    assert f"forecast {money(status.forecast)}" in listing
    (for_bob,) = await env.budgets.statuses(BOB, CHANNEL)  # may not see payments: no figures
    assert (for_bob.month_to_date, for_bob.forecast) == (None, None)


# --- the Acknowledge button -----------------------------------------------------------------------
async def _posted_alert(env: Env, slack_api: SlackStandIn) -> tuple[dict[str, Any], str]:
    """A real 100 % alert for Alice's payments budget, as Slack holds it, and its button value."""
    await env.store.save_budget(budget(1000.0))
    await env.budgets.check(at(26))
    (alert,) = slack_api.messages(CHANNEL)
    button = next(b for b in alert["blocks"] if b["type"] == "actions")["elements"][0]
    assert (button["action_id"], button["value"]) == ("alert_ack", "b000001:2026-10:100")
    return alert, str(button["value"])


async def test_acknowledge_replaces_the_button_with_who_acknowledged(
    redis: Redis, slack_api: SlackStandIn
) -> None:
    env = payments_env(redis, chat=SlackChatPoster(slack_client("xoxb-test", slack_api.url)))
    env.people.known["U0CAROL"] = CAROL_PAYMENTS
    alert, value = await _posted_alert(env, slack_api)
    app = _app(slack_api, env)
    response = await app.async_dispatch(_click(alert, value, slack_api, "U0CAROL"))
    assert response.status == 200
    await slack_api.wait_for_async("chat.update")
    (updated,) = slack_api.messages(CHANNEL)
    assert all(b["type"] != "actions" for b in updated["blocks"])
    assert "✅ Acknowledged by <@U0CAROL>" in texts(updated["blocks"])
    # The top-level text still says what the alert was, not only who acknowledged it.
    assert "Budget exceeded" in updated["text"]
    assert "Acknowledged by <@U0CAROL>" in updated["text"]
    events = [(e.event, e.actor, e.fields.get("budget")) for e in await env.audit.recent()]
    assert ("alert_acknowledged", "U0CAROL", "b000001") in events


async def test_acknowledge_re_renders_the_alert_and_never_copies_the_payloads_blocks(
    redis: Redis, slack_api: SlackStandIn
) -> None:
    """A click payload whose message blocks say something else, and whose ts points at another
    message: the alert is re-rendered from what was stored and updated where it was posted."""
    env = payments_env(redis, chat=SlackChatPoster(slack_client("xoxb-test", slack_api.url)))
    env.people.known["U0CAROL"] = CAROL_PAYMENTS
    alert, value = await _posted_alert(env, slack_api)
    other = await env.chat.post(CHANNEL, "someone else's message", [])
    forged = {
        "ts": other,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "FORGED <!channel>"}}],
    }
    app = _app(slack_api, env)
    response = await app.async_dispatch(_click(forged, value, slack_api, "U0CAROL"))
    assert response.status == 200
    (call,) = await slack_api.wait_for_async("chat.update")
    assert call.params["ts"] == alert["ts"]
    updated = next(m for m in slack_api.messages(CHANNEL) if m["ts"] == alert["ts"])
    assert "FORGED" not in texts(updated["blocks"])
    assert "<!channel>" not in str(updated)
    assert "✅ Acknowledged by <@U0CAROL>" in texts(updated["blocks"])
    assert texts(updated["blocks"]).startswith(texts(alert["blocks"][:2]))
    untouched = next(m for m in slack_api.messages(CHANNEL) if m["ts"] == other)
    assert untouched["text"] == "someone else's message"


async def test_a_refused_acknowledge_with_forged_blocks_changes_nothing(
    redis: Redis, slack_api: SlackStandIn
) -> None:
    env = payments_env(redis, chat=SlackChatPoster(slack_client("xoxb-test", slack_api.url)))
    alert, value = await _posted_alert(env, slack_api)
    before = slack_api.messages(CHANNEL)
    forged = {"ts": alert["ts"], "blocks": [{"type": "section", "text": {"type": "mrkdwn",
              "text": "FORGED"}}]}  # fmt: skip
    url = slack_api.new_response_url()
    app = _app(slack_api, env)
    response = await app.async_dispatch(_click(forged, value, slack_api, "U0BOB", url))
    assert response.status == 200
    (answer,) = await slack_api.wait_for_response_async(url, 1, 10)
    assert answer["replace_original"] is False
    assert "FORGED" not in str(answer)
    assert slack_api.calls_to("chat.update") == []
    assert slack_api.messages(CHANNEL) == before
    events = [e.event for e in await env.audit.recent()]
    assert "alert_acknowledged" not in events


@pytest.mark.parametrize("user", ["U0MALLORY", "U0BOB"])  # unmapped; mapped, may not see payments
async def test_acknowledge_by_someone_who_may_not_watch_the_budget_changes_nothing(
    redis: Redis, slack_api: SlackStandIn, user: str
) -> None:
    env = payments_env(redis, chat=SlackChatPoster(slack_client("xoxb-test", slack_api.url)))
    alert, value = await _posted_alert(env, slack_api)
    url = slack_api.new_response_url()
    response = await _app(slack_api, env).async_dispatch(_click(alert, value, slack_api, user, url))
    assert response.status == 200
    (answer,) = await slack_api.wait_for_response_async(url, 1, 10)
    assert answer["replace_original"] is False
    assert ":no_entry:" in answer["text"] or "identity map" in answer["text"]
    assert slack_api.calls_to("chat.update") == []
    assert slack_api.messages(CHANNEL) == [alert]  # the message is unchanged
    events = [(e.event, e.actor) for e in await env.audit.recent()]
    assert ("access_denied", user) in events
    assert "alert_acknowledged" not in [event for event, _ in events]


async def test_a_forged_alert_key_for_another_channels_budget_is_not_acknowledged(
    redis: Redis,
) -> None:
    env = payments_env(redis)
    await env.store.save_budget(budget(1000.0, channel="C0ELSEWHERE"))
    with pytest.raises(NotFound):
        await env.budgets.acknowledge(ALICE, CHANNEL, "b000001:2026-10:100")
    with pytest.raises(NotFound):
        await env.budgets.acknowledge(ALICE, CHANNEL, "nonsense" * 100)
    done = await env.budgets.acknowledge(ADMIN, CHANNEL, "b000001:2026-10:100")
    assert (done.budget.id, done.by) == ("b000001", "U0ADMIN")


DAVE = Identity("U0DAVE", k8s_user="dave", groups=("contractors",), source="explicit")
CAROL_PAYMENTS = Identity("U0CAROL", k8s_user="carol", groups=("payments-devs",), source="explicit")


def _app(slack: SlackStandIn, env: Env) -> AsyncApp:
    """Bolt with the bot's own identity middleware over the env's identities, and the routes."""
    client = AsyncWebClient(token="xoxb-test", base_url=slack.url)

    async def authorize(**_: Any) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=None, team_id=None, bot_token="xoxb-test")

    app = AsyncApp(
        client=client,
        authorize=authorize,
        request_verification_enabled=False,
        raise_error_for_unhandled_request=False,
    )
    app.middleware(identity_middleware(env.people.resolve))
    deps = Deps(
        costs=env.costs, access=env.access, audit=env.audit, clock=env.clock, budgets=env.budgets
    )
    digest_routes.register(app, deps)
    return app


def _click(
    message: dict[str, Any], value: str, slack: SlackStandIn, user: str, url: str = ""
) -> AsyncBoltRequest:
    payload = {
        "type": "block_actions",
        "user": {"id": user},
        "team": {"id": "T0TEST"},
        "api_app_id": "A0TEST",
        "trigger_id": "1.2.3",
        "channel": {"id": CHANNEL},
        "message": {"ts": message["ts"], "blocks": message["blocks"]},
        "response_url": url or slack.new_response_url(),
        "actions": [
            {"type": "button", "action_id": "alert_ack", "block_id": "alert_ack", "value": value}
        ],
    }
    body = urlencode({"payload": json.dumps(payload)})
    return AsyncBoltRequest(
        body=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
