"""Daily buckets are local days of the asker's or the subscription's zone: windows, trends and
the coverage of long windows, against the demo cluster behind the real OpenCost client.

Both 2026/2027 DST changes of Europe/Berlin (Oct 25, Mar 28) and America/New_York (Nov 1,
Mar 14), and a +05:30 zone without DST (Asia/Kolkata).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from demo.cluster import DEMO_BASE_URL, DemoCluster, DemoOpenCostTransport
from handlers import grammar
from services.access.models import EVERYTHING
from services.costs.service import CostService
from services.costs.windows import normalize_zone, parse_window
from services.errors import UserInputError
from services.opencost.client import OpenCostClient
from tests.conftest import FakeClock

CASES = [
    # zone, the DST day, its hours, a "now" two days after it
    ("Europe/Berlin", date(2026, 10, 25), 25.0),
    ("Europe/Berlin", date(2027, 3, 28), 23.0),
    ("America/New_York", date(2026, 11, 1), 25.0),
    ("America/New_York", date(2027, 3, 14), 23.0),
    ("Asia/Kolkata", date(2026, 10, 25), 24.0),
]


def _now(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=3), datetime.min.time(), UTC) + timedelta(hours=15)


async def _service(now: datetime) -> AsyncIterator[CostService]:
    clock = FakeClock(now)
    transport = DemoOpenCostTransport(DemoCluster(clock))
    async with httpx.AsyncClient(transport=transport) as http:
        client = OpenCostClient(DEMO_BASE_URL, http, clock=clock, demo=True)
        yield CostService(client, clock)


@pytest.mark.parametrize(("zone", "day", "hours"), CASES)
def test_windows_are_local_days_with_dst_days_of_23_or_25_hours(
    zone: str, day: date, hours: float
) -> None:
    first, last = day - timedelta(days=2), day + timedelta(days=2)
    window = parse_window(f"{first}..{last}", _now(day), tz=zone)
    days = window.local_days()
    assert [d.day for d in days] == [first + timedelta(days=i) for i in range(5)]
    assert [d.hours for d in days] == [24.0, 24.0, hours, 24.0, 24.0]
    assert window.hours() == 4 * 24 + hours
    assert window.describe() == f"{first:%b} {first.day} – {last:%b} {last.day} {zone}"
    # The previous period is the same number of local days, ending where this one starts.
    previous = window.previous()
    assert previous.end == window.start
    assert len(previous.local_days()) == 5
    assert previous.local_days()[0].start == previous.start


@pytest.mark.parametrize(("zone", "day", "hours"), CASES)
async def test_trend_buckets_local_days_and_sums_to_the_total_of_the_same_instants(
    zone: str, day: date, hours: float
) -> None:
    now = _now(day)
    first, last = day - timedelta(days=2), day + timedelta(days=2)
    async for costs in _service(now):
        window = parse_window(f"{first}..{last}", now, tz=zone)
        trend = await costs.trend(window, EVERYTHING)
        summary = await costs.summary(window, EVERYTHING)
    assert [p.day for p in trend.points] == [first + timedelta(days=i) for i in range(5)]
    assert [p.hours for p in trend.points] == [24.0, 24.0, hours, 24.0, 24.0]
    assert not any(p.partial for p in trend.points)
    assert all(p.cost > 0 for p in trend.points)  # no day drops to $0 at either end
    assert math.isclose(
        math.fsum(p.cost for p in trend.points), summary.total, rel_tol=1e-5
    )  # the wire rounds each row
    assert math.isclose(trend.total, summary.total, rel_tol=1e-5)  # the wire rounds each row


async def test_a_berlin_week_has_seven_points_and_its_previous_week_too() -> None:
    """The digest bug: a weekly window in Europe/Berlin bucketed in UTC gave 8 points, the 8th
    of the previous period dropping to $0."""
    now = datetime(2026, 10, 26, 7, 0, tzinfo=UTC)  # Monday 08:00 in Berlin, after the change
    async for costs in _service(now):
        week = parse_window("lastweek", now, tz="Europe/Berlin")
        this, before = (
            await costs.trend(week, EVERYTHING),
            await costs.trend(week.previous(), EVERYTHING),
        )
    assert [p.day for p in this.points] == [
        date(2026, 10, 19) + timedelta(days=i) for i in range(7)
    ]
    assert next(p.day for p in before.points) == date(2026, 10, 12)
    assert len(before.points) == 7
    assert min(p.cost for p in before.points) > 0.5 * max(p.cost for p in before.points)
    assert this.points[-1].hours == 25.0


async def test_kolkata_today_starts_at_local_midnight_and_is_one_partial_day() -> None:
    now = datetime(2026, 10, 27, 10, 0, tzinfo=UTC)  # 15:30 in Kolkata
    window = parse_window("today", now, tz="UTC+05:30")
    assert window.start == datetime(2026, 10, 26, 18, 30, tzinfo=UTC)
    async for costs in _service(now):
        trend = await costs.trend(parse_window("7d", now, tz="Asia/Kolkata"), EVERYTHING)
    assert len(trend.points) == 7
    assert trend.points[-1].day == date(2026, 10, 27)
    assert trend.points[-1].partial
    assert not any(p.partial for p in trend.points[:-1])


async def test_rates_use_the_days_the_data_covers_and_say_how_many() -> None:
    """The demo cluster keeps 90 days: a 400-day window must not divide by 400 days."""
    now = datetime(2026, 10, 27, 10, 0, tzinfo=UTC)
    async for costs in _service(now):
        long = await costs.summary(parse_window("400d", now), EVERYTHING)
        short = await costs.summary(parse_window("30d", now), EVERYTHING)
    assert long.coverage is not None
    assert long.coverage.short
    assert 89 <= long.coverage.days <= 92
    assert math.ceil(long.coverage.window_days) == 400
    assert long.run_rate_monthly is not None
    assert short.run_rate_monthly is not None
    # Same pace: within 15 % of the 30-day rate, not a quarter of it.
    assert long.run_rate_monthly == pytest.approx(short.run_rate_monthly, rel=0.15)
    assert short.coverage is not None
    assert not short.coverage.short


def test_tz_option_parses_zones_and_offsets_and_refuses_others_in_one_line() -> None:
    now = datetime(2026, 10, 27, 10, 0, tzinfo=UTC)
    trend = grammar.parse("trend ns payments 7d tz Europe/Berlin", now)
    assert isinstance(trend, grammar.Trend)
    assert trend.window.tz == "Europe/Berlin"
    top = grammar.parse("top 5 tz=+05:30 by namespace", now, "America/New_York")
    assert isinstance(top, grammar.Top)
    assert top.window.tz == "UTC+05:30"
    mine = grammar.parse("summary today", now, "America/New_York")
    assert isinstance(mine, grammar.Summary)
    assert mine.window.start == datetime(2026, 10, 27, 4, 0, tzinfo=UTC)
    with pytest.raises(UserInputError) as caught:
        grammar.parse("summary tz Mars/Olympus", now)
    assert "not a time zone" in str(caught.value)
    assert "\n" not in caught.value.hint
    assert "\n" not in str(caught.value)
    assert normalize_zone("-4") == "UTC-04:00"
    assert normalize_zone("gmt") == "UTC"
