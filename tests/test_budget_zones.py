"""Budgets count the calendar months of their own zone: month-to-date, forecast and the
once-a-month alert keys turn over at that zone's midnight on the 1st, not UTC's. Around
2026-11-30 23:30 UTC (already Dec 1 in Berlin, still Nov 30 in New York) and across DST months.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import msgspec
import pytest
from redis.asyncio import Redis

from handlers.deps import Deps
from handlers.listeners.commands import Asker, run_command
from services.digests.alerts import budget_alerts, forecast, month_hours, month_start
from services.digests.redis_store import RedisDigestStore
from tests.conftest import FakeClock
from tests.digest_support import ALICE, CHANNEL, Env, FakeCostSource, budget, build_env, texts

BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"
LATE_NOV_30 = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)  # Dec 1 00:30 in Berlin


def payments_env(redis: Redis, now: datetime) -> Env:
    """Only `payments` costs anything: $100 a UTC day, spread evenly over the day."""
    source = FakeCostSource(lambda ns, _day: 100.0 if ns == "payments" else 0.0)
    return build_env(redis, FakeClock(now), source=source)


def periods(env: Env) -> list[str]:
    return sorted(p.metadata["event_payload"]["period"] for p in env.chat.posts if p.metadata)


# --- the rules ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tz", "start", "month"),
    [
        ("UTC", datetime(2026, 11, 1, tzinfo=UTC), "2026-11"),
        (BERLIN, datetime(2026, 11, 30, 23, tzinfo=UTC), "2026-12"),  # Berlin's Dec 1 00:00
        (NEW_YORK, datetime(2026, 11, 1, 4, tzinfo=UTC), "2026-11"),  # EDT until Nov 1 06:00
    ],
)
def test_the_month_and_its_alert_key_are_the_budgets_zones(
    tz: str, start: datetime, month: str
) -> None:
    assert month_start(LATE_NOV_30, tz) == start
    (alert,) = budget_alerts(budget(tz=tz), 800.0, LATE_NOV_30)
    assert alert.period == f"{month}:80"


def test_new_york_is_still_in_november_after_midnight_utc() -> None:
    moment = datetime(2026, 12, 1, 3, tzinfo=UTC)  # Nov 30 22:00 in New York
    assert [a.period for a in budget_alerts(budget(tz=NEW_YORK), 800.0, moment)] == ["2026-11:80"]
    assert [a.period for a in budget_alerts(budget(), 800.0, moment)] == ["2026-12:80"]


@pytest.mark.parametrize(
    ("tz", "moment", "hours"),
    [
        (BERLIN, datetime(2026, 10, 10, tzinfo=UTC), 745.0),  # back to CET on Oct 25 2026
        (BERLIN, datetime(2027, 3, 10, tzinfo=UTC), 743.0),  # to CEST on Mar 28 2027
        (NEW_YORK, datetime(2026, 11, 10, tzinfo=UTC), 721.0),  # back to EST on Nov 1 2026
        (NEW_YORK, datetime(2027, 3, 10, tzinfo=UTC), 743.0),  # to EDT on Mar 14 2027
        ("UTC+05:30", datetime(2027, 3, 10, tzinfo=UTC), 744.0),  # no DST
        ("UTC", datetime(2026, 10, 10, tzinfo=UTC), 744.0),
    ],
)
def test_a_dst_month_is_an_hour_short_or_long(tz: str, moment: datetime, hours: float) -> None:
    assert month_hours(moment, tz) == hours
    elapsed = (moment - month_start(moment, tz)).total_seconds() / 3600
    assert forecast(100.0, moment, tz) == pytest.approx(100.0 / elapsed * hours)


# --- the daily check and the list, over a real Redis ----------------------------------------------
async def test_month_to_date_restarts_at_the_budgets_midnight(redis: Redis) -> None:
    env = payments_env(redis, LATE_NOV_30)
    await env.store.save_budget(budget(3000.0, id="butc"))
    await env.store.save_budget(budget(3000.0, id="bber", tz=BERLIN))
    await env.store.save_budget(budget(3000.0, id="bnyc", tz=NEW_YORK))
    spent = {s.budget.id: s.month_to_date for s in await env.budgets.statuses(ALICE, CHANNEL)}
    assert spent["butc"] == pytest.approx(100.0 * (29 + 23.5 / 24))  # Nov 1 00:00 UTC on
    assert spent["bber"] == pytest.approx(100.0 * 0.5 / 24)  # Berlin's December: 30 minutes
    assert spent["bnyc"] == pytest.approx(100.0 * (29 + 23.5 / 24 - 4 / 24))  # from 04:00 UTC


async def test_alerts_are_once_per_month_of_the_budgets_zone(redis: Redis) -> None:
    """$100 a day against $2,500: crossed in November in every zone. At 23:30 UTC on Nov 30,
    Berlin's December has just begun (nothing spent yet); UTC's November has not ended."""
    env = payments_env(redis, LATE_NOV_30)
    await env.store.save_budget(budget(2500.0, id="bber", tz=BERLIN))
    await env.budgets.check(datetime(2026, 11, 30, 22, tzinfo=UTC))  # Berlin: Nov 30 23:00
    assert periods(env) == ["2026-11:100"]
    await env.budgets.check(LATE_NOV_30)  # Berlin: Dec 1 00:30, $2 so far
    assert periods(env) == ["2026-11:100"]
    await env.budgets.check(datetime(2026, 12, 25, 23, 30, tzinfo=UTC))  # Dec 26 in Berlin
    assert periods(env) == ["2026-11:100", "2026-12:100"]
    assert "calendar months in Europe/Berlin" in texts(env.chat.posts[-1].blocks)


async def test_a_budget_stored_without_a_zone_counts_utc_months(redis: Redis) -> None:
    env = payments_env(redis, LATE_NOV_30)
    legacy = msgspec.json.encode(budget(2500.0, id="bold"))
    stripped = msgspec.json.decode(legacy)
    del stripped["tz"]
    assert isinstance(env.store, RedisDigestStore)
    await redis.hset(env.store.budgets_key, "bold", msgspec.json.encode(stripped))
    (stored,) = await env.store.budgets()
    assert (stored.zone, stored.zone_recorded) == ("UTC", False)
    await env.budgets.check(LATE_NOV_30)
    assert periods(env) == ["2026-11:100"]


async def test_budget_list_says_a_budget_without_a_zone_counts_utc_months(redis: Redis) -> None:
    """Alice's Slack zone is Berlin (already December), but a budget stored before budgets
    had a zone keeps UTC's November, and the list says so instead of passing it off as chosen."""
    env = payments_env(redis, LATE_NOV_30)
    stripped = msgspec.json.decode(msgspec.json.encode(budget(3000.0, id="bold")))
    del stripped["tz"]
    assert isinstance(env.store, RedisDigestStore)
    await redis.hset(env.store.budgets_key, "bold", msgspec.json.encode(stripped))
    listed = await _ask(env, "budget list", tz=BERLIN)
    assert "$3,000.00/month (months in UTC: set before budgets had a zone;" in listed, listed
    assert "$2,997.92 so far this month" in listed  # Nov 1 00:00 UTC to Nov 30 23:30 UTC
    await _ask(env, "budget set ns payments 3000/month", tz=BERLIN)  # set again: Slack's zone
    listed = await _ask(env, "budget list", tz=BERLIN)
    assert "$3,000.00/month (Europe/Berlin)" in listed, listed
    assert "months in UTC" not in listed
    assert "$2.08 so far this month" in listed  # Berlin's December: 30 minutes


# --- the command ----------------------------------------------------------------------------------
def _deps(env: Env) -> Deps:
    return Deps(
        costs=env.costs, access=env.access, audit=env.audit, clock=env.clock, budgets=env.budgets
    )


async def _ask(env: Env, text: str, tz: str | None = None) -> str:
    identity = msgspec.structs.replace(ALICE, tz=tz)
    asker = Asker(identity=identity, user_id="U0ALICE", channel_id=CHANNEL, text=text)
    return texts((await run_command(_deps(env), asker)).blocks)


async def test_budget_set_takes_a_zone_else_the_askers_slack_zone_else_utc(redis: Redis) -> None:
    env = payments_env(redis, LATE_NOV_30)
    said = await _ask(env, "budget set namespace payments 1500/month tz europe/berlin")
    assert "counted in calendar months of Europe/Berlin" in said
    assert [b.tz for b in await env.store.budgets()] == [BERLIN]
    await _ask(env, "budget set ns payments tz +05:30 to 1500/month", tz=NEW_YORK)
    assert [b.tz for b in await env.store.budgets()] == ["UTC+05:30"]
    await _ask(env, "budget set ns payments 1500/month", tz=NEW_YORK)  # Slack's zone
    assert [b.tz for b in await env.store.budgets()] == [NEW_YORK]
    await _ask(env, "budget set ns payments 1500/month")  # no Slack zone: UTC
    assert [b.tz for b in await env.store.budgets()] == ["UTC"]
    assert "$1,500.00/month (UTC)" in await _ask(env, "budget list")


async def test_a_bad_budget_zone_gets_one_plain_line(redis: Redis) -> None:
    env = payments_env(redis, LATE_NOV_30)
    said = await _ask(env, "budget set ns payments 1500/month tz Mars/Olympus")
    assert "is not a time zone I know" in said
    assert await env.store.budgets() == []


def test_berlin_and_utc_disagree_on_the_date_at_the_boundary() -> None:
    """The premise of the tests above, checked rather than assumed."""
    from zoneinfo import ZoneInfo

    assert LATE_NOV_30.astimezone(ZoneInfo(BERLIN)).date() == date(2026, 12, 1)
    assert (LATE_NOV_30 + timedelta(hours=4)).astimezone(ZoneInfo(NEW_YORK)).day == 30


# --- the App Home's week ---------------------------------------------------------------------
async def test_the_app_home_week_is_the_viewers_local_week(redis: Redis) -> None:
    """Sunday Nov 29 23:30 UTC is already Monday in Berlin: a Berlin viewer's week is 30
    minutes old ($2.08), a viewer without a Slack zone is on day 7 of the UTC week."""
    from handlers.listeners.home import home_blocks

    env = payments_env(redis, datetime(2026, 11, 29, 23, 30, tzinfo=UTC))
    berlin = texts(await home_blocks(_deps(env), msgspec.structs.replace(ALICE, tz=BERLIN), "U"))
    assert "*This week so far:* $2.08" in berlin
    utc = texts(await home_blocks(_deps(env), ALICE, "U0ALICE"))
    assert "*This week so far:* $697.92" in utc
