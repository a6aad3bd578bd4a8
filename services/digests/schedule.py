"""Digest schedules: APScheduler 3 triggers built from subscriptions, next and last fire times,
the period key of a fire, and the stretch of time each fire reports on.

Pure: `now` is always passed in. Day-of-week always goes to APScheduler as NAMES, because
APScheduler 3 counts 0 = Monday while crontab counts 0 = Sunday (`from_crontab("0 9 * * 1")`
fires on Tuesdays).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

from services.costs.windows import TimeRange
from services.digests.models import Subscription
from services.errors import UserInputError

Trigger = Any  # APScheduler 3 ships no type hints
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CRONTAB_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab 0 (and 7) = Sunday
_FULL_NAMES = {d[:3]: d for d in ("sunday", "monday", "tuesday", "wednesday", "thursday",
                                  "friday", "saturday")}  # fmt: skip
_ANY = ("*", "?")
_LOOKBACK_FIRST = timedelta(minutes=2)
_LOOKBACK_LAST = timedelta(days=3 * 366)  # a yearly cron still has a previous fire
_TICK = timedelta(seconds=1)


# --- crontab day-of-week ------------------------------------------------------------------------
def crontab_days(field: str) -> str:
    """A crontab day-of-week field (0/7 = Sunday, names, ranges, lists, steps) as APScheduler
    day names: `1` → `mon`, `1-5` → `mon,tue,wed,thu,fri`, `*/2` → `sun,tue,thu,sat` → in
    Monday-first order. `*` stays `*`. Raises ValueError for anything else."""
    text = field.strip().lower()
    if text in _ANY:
        return "*"
    days: set[int] = set()
    for part in text.split(","):
        days |= _crontab_part(part)
    if len(days) == 7:
        return "*"
    return ",".join(name for name in DAY_NAMES if _CRONTAB_DAYS.index(name) in days)


def _crontab_part(part: str) -> set[int]:
    base, slash, step_text = part.partition("/")
    step = int(step_text) if slash else 1
    if step < 1:
        raise ValueError(f"bad step in day-of-week {part!r}")
    if base in _ANY:
        first, last = 0, 6
    elif "-" in base:
        low, _, high = base.partition("-")
        first, last = _crontab_day(low), _crontab_day(high)
        if last == 0 and first > 0:  # `fri-sun`: Sunday as 7, the end of the week
            last = 7
        if last < first:
            raise ValueError(f"day-of-week range {part!r} runs backwards")
    else:
        first = _crontab_day(base)
        last = 7 if slash else first  # `1/2`: from Monday on, every second day
    return {day % 7 for day in range(first, last + 1, step)}


def _crontab_day(token: str) -> int:
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token)
    if token[:3] in _CRONTAB_DAYS and token in (token[:3], _FULL_NAMES[token[:3]]):
        return _CRONTAB_DAYS.index(token[:3])
    raise ValueError(f"{token!r} is not a day of the week (0-7 or mon-sun)")


# --- triggers -----------------------------------------------------------------------------------
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UserInputError(f"{name} is not an IANA time zone", "e.g. Europe/Berlin") from exc


def cron_trigger(expression: str, tz: ZoneInfo) -> Trigger:
    """A five-field crontab in `tz`. As in cron, when both day-of-month and day-of-week are
    restricted the job fires when either matches (APScheduler alone would need both)."""
    fields = expression.split()
    if len(fields) != 5:
        raise UserInputError(f"{expression!r} is not a five-field cron expression")
    minute, hour, dom, month, dow = fields
    try:
        days = crontab_days(dow)
        common = {"minute": minute, "hour": hour, "month": month, "timezone": tz}
        if dom not in _ANY and days != "*":
            return OrTrigger(
                [CronTrigger(day=dom, **common), CronTrigger(day_of_week=days, **common)]
            )
        return CronTrigger(day="*" if dom in _ANY else dom, day_of_week=days, **common)
    except ValueError as exc:
        raise UserInputError(f"That cron expression does not work: {exc}") from exc


def trigger_for(sub: Subscription) -> Trigger:
    tz = zone(sub.tz)
    if sub.frequency == "cron" and sub.cron:
        return cron_trigger(sub.cron, tz)
    hour, minute = sub.hour_minute
    if sub.frequency == "daily":
        return CronTrigger(hour=hour, minute=minute, timezone=tz)
    if sub.day not in DAY_NAMES:
        raise UserInputError(f"{sub.day!r} is not a day of the week")
    return CronTrigger(day_of_week=sub.day, hour=hour, minute=minute, timezone=tz)


# --- fire times ---------------------------------------------------------------------------------
def next_fire(trigger: Trigger, now: datetime) -> datetime | None:
    """The first fire time at or after `now`."""
    fire = trigger.get_next_fire_time(None, now)
    return None if fire is None else fire.astimezone(UTC)


def last_fire(trigger: Trigger, now: datetime) -> datetime | None:
    """The latest fire time at or before `now` (APScheduler 3 has no such call).

    Looks back over growing spans (2 min, 16 min, … 3 years), so a minutely cron costs a few
    steps and a yearly one a few dozen."""
    span = _LOOKBACK_FIRST
    while span <= _LOOKBACK_LAST * 8:
        fires = fires_between(trigger, now - span, now)
        if fires:
            return fires[-1]
        span *= 8
    return None


def fires_between(
    trigger: Trigger, start: datetime, end: datetime, limit: int | None = None
) -> list[datetime]:
    """Fire times in [start, end], oldest first; with `limit`, only the newest `limit`."""
    found: list[datetime] = []
    fire = trigger.get_next_fire_time(None, start)
    while fire is not None and fire <= end:
        found.append(fire.astimezone(UTC))
        if limit is not None and len(found) > limit:
            found.pop(0)
        fire = trigger.get_next_fire_time(fire, fire + _TICK)
    return found


def period_key(fire: datetime) -> str:
    """The scheduled fire time in UTC ISO form: the identity of one delivery."""
    return fire.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- what a fire reports on ---------------------------------------------------------------------
def covered_range(sub: Subscription, trigger: Trigger, fire: datetime) -> TimeRange:
    """Daily: the previous full day; weekly: the previous full 7 days (Monday to Monday for a
    Monday digest), in the subscription's zone. Cron: since the previous fire, in whole local
    days when fires are at least a day apart."""
    tz = zone(sub.tz)
    today = fire.astimezone(tz).date()
    if sub.frequency == "daily":
        return _local_days(today, 1, tz, "yesterday")
    if sub.frequency == "weekly":
        return _local_days(today, 7, tz, "last 7 days")
    previous = last_fire(trigger, fire - _TICK)
    if previous is None:
        return _local_days(today, 1, tz, "yesterday")
    days = (today - previous.astimezone(tz).date()).days
    if fire - previous >= timedelta(days=1) and days >= 1:
        return _local_days(today, days, tz, "since the last digest")
    return TimeRange(
        previous.astimezone(UTC), fire.astimezone(UTC), "since the last digest", tz=sub.tz
    )


def _local_days(end: date, days: int, tz: ZoneInfo, label: str) -> TimeRange:
    """Whole local days, carrying the zone so daily series are bucketed in it too."""
    start = datetime.combine(end - timedelta(days=days), time(0), tz)
    stop = datetime.combine(end, time(0), tz)
    return TimeRange(start.astimezone(UTC), stop.astimezone(UTC), label, tz=tz.key)
