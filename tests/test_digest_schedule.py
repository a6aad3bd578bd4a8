"""Digest schedules: crontab day names, DST-correct fire times, last fires, covered periods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.digests.schedule import (
    covered_range,
    cron_trigger,
    crontab_days,
    fires_between,
    last_fire,
    next_fire,
    period_key,
    trigger_for,
    zone,
)
from services.errors import UserInputError
from tests.digest_support import subscription

BERLIN = "Europe/Berlin"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "names"),
    [
        ("1", "mon"),
        ("0", "sun"),
        ("7", "sun"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("*/2", "tue,thu,sat,sun"),  # crontab: 0,2,4,6 = Sun, Tue, Thu, Sat
        ("1/2", "mon,wed,fri,sun"),
        ("fri-sun", "fri,sat,sun"),
        ("0,6", "sat,sun"),
        ("MON,wed", "mon,wed"),
        ("0-6", "*"),
        ("*", "*"),
    ],
)
def test_crontab_day_of_week_becomes_day_names(field: str, names: str) -> None:
    assert crontab_days(field) == names


@pytest.mark.parametrize("field", ["8", "funday", "sunny", "5-1", "*/0"])
def test_impossible_day_of_week_is_rejected(field: str) -> None:
    with pytest.raises(ValueError, match="day"):
        crontab_days(field)


def test_crontab_monday_fires_on_monday_not_tuesday() -> None:
    """APScheduler's own from_crontab would fire `0 9 * * 1` on Tuesdays."""
    trigger = cron_trigger("0 9 * * 1", zone("UTC"))
    fire = next_fire(trigger, utc(2026, 10, 20))  # a Tuesday
    assert fire == utc(2026, 10, 26, 9)
    assert fire.strftime("%A") == "Monday"


def test_crontab_with_day_of_month_and_day_of_week_fires_on_either() -> None:
    trigger = cron_trigger("0 9 1 * 1", zone("UTC"))  # the 1st, and every Monday
    fires = fires_between(trigger, utc(2026, 6, 1), utc(2026, 6, 15, 23))
    assert fires == [utc(2026, 6, 1, 9), utc(2026, 6, 8, 9), utc(2026, 6, 15, 9)]


def test_bad_cron_expression_is_a_user_error() -> None:
    with pytest.raises(UserInputError):
        cron_trigger("0 25 * * *", zone("UTC"))
    with pytest.raises(UserInputError):
        cron_trigger("0 9 * *", zone("UTC"))


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (utc(2026, 10, 20), utc(2026, 10, 26, 8)),  # CET (UTC+1) from Oct 25
        (utc(2026, 10, 13), utc(2026, 10, 19, 7)),  # still CEST (UTC+2)
        (utc(2027, 3, 23), utc(2027, 3, 29, 7)),  # CEST again from Mar 28
        (utc(2027, 3, 16), utc(2027, 3, 22, 8)),
    ],
)
def test_weekly_berlin_digest_fires_at_nine_local_across_dst(
    after: datetime, expected: datetime
) -> None:
    trigger = trigger_for(subscription(frequency="weekly", day="mon", at="09:00", tz=BERLIN))
    assert next_fire(trigger, after) == expected


def test_daily_digest_follows_new_york_across_the_november_change() -> None:
    trigger = trigger_for(subscription(frequency="daily", at="08:30", tz="America/New_York"))
    fires = fires_between(trigger, utc(2026, 10, 31), utc(2026, 11, 3))
    assert fires == [utc(2026, 10, 31, 12, 30), utc(2026, 11, 1, 13, 30), utc(2026, 11, 2, 13, 30)]


def test_last_fire_is_the_latest_at_or_before_now() -> None:
    trigger = trigger_for(subscription(frequency="weekly", day="mon", at="09:00", tz=BERLIN))
    assert last_fire(trigger, utc(2026, 10, 26, 8)) == utc(2026, 10, 26, 8)  # exactly now
    assert last_fire(trigger, utc(2026, 10, 26, 7, 59)) == utc(2026, 10, 19, 7)
    monthly = cron_trigger("0 6 1 * *", zone("UTC"))
    assert last_fire(monthly, utc(2026, 3, 20)) == utc(2026, 3, 1, 6)
    minutely = cron_trigger("* * * * *", zone("UTC"))
    half_past = utc(2026, 3, 20, 10, 5) + timedelta(seconds=30)
    assert last_fire(minutely, half_past) == utc(2026, 3, 20, 10, 5)


def test_a_schedule_that_never_fires_has_no_next_run() -> None:
    assert next_fire(cron_trigger("0 9 30 2 *", zone("UTC")), utc(2026, 1, 1)) is None


def test_weekly_period_is_monday_to_monday_in_the_subscribers_zone() -> None:
    sub = subscription(frequency="weekly", day="mon", at="09:00", tz=BERLIN)
    period = covered_range(sub, trigger_for(sub), utc(2026, 10, 26, 8))
    assert period.start == utc(2026, 10, 18, 22)  # Mon Oct 19 00:00 CEST
    assert period.end == utc(2026, 10, 25, 23)  # Mon Oct 26 00:00 CET
    assert period.end - period.start == timedelta(days=7, hours=1)  # the DST week is longer


def test_daily_period_is_yesterday_in_the_subscribers_zone() -> None:
    sub = subscription(frequency="daily", at="07:00", tz="Asia/Tokyo")
    period = covered_range(sub, trigger_for(sub), utc(2026, 5, 11, 22))  # May 12 07:00 JST
    assert (period.start, period.end) == (utc(2026, 5, 10, 15), utc(2026, 5, 11, 15))
    assert period.label == "yesterday"


def test_cron_period_runs_since_the_previous_fire() -> None:
    minutely = subscription(frequency="cron", cron="* * * * *")
    period = covered_range(minutely, trigger_for(minutely), utc(2026, 5, 11, 10, 7))
    assert (period.start, period.end) == (utc(2026, 5, 11, 10, 6), utc(2026, 5, 11, 10, 7))
    workdays = subscription(frequency="cron", cron="0 9 * * 1-5", tz=BERLIN)
    monday = covered_range(workdays, trigger_for(workdays), utc(2026, 5, 11, 7))
    assert (monday.start, monday.end) == (utc(2026, 5, 7, 22), utc(2026, 5, 10, 22))  # Fri–Sun


def test_period_key_is_the_fire_time_in_utc() -> None:
    fire = datetime(2026, 10, 26, 9, tzinfo=zone(BERLIN))
    assert period_key(fire) == "2026-10-26T08:00:00Z"
