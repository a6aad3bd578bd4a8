"""Time windows: every form a user may type becomes an explicit UTC range.

Pure: `now` is passed in, nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec

from services.errors import BadWindow

DEFAULT_WINDOW = "7d"
WINDOW_FORMS: tuple[str, ...] = (
    "24h",
    "7d",
    "30d",
    "2w",
    "today",
    "yesterday",
    "week",
    "lastweek",
    "month",
    "lastmonth",
    "YYYY-MM-DD..YYYY-MM-DD",
)
MAX_DAYS = 400  # OpenCost keeps ~13 months at most; longer asks are mistakes, not questions

_DAY = timedelta(days=1)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_HOURS_PER_UNIT = {"h": 1, "d": 24, "w": 24 * 7}
_UNIT_WORDS = {
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "h"),
    **dict.fromkeys(("d", "day", "days"), "d"),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), "w"),
}
_DURATION = re.compile(r"(\d+)\s*([a-z]+)", re.ASCII)
_TOO_FINE = re.compile(r"\d+\s*(m|mins?|minutes?|s|secs?|seconds?)", re.ASCII)
_CALENDAR = re.compile(r"\d+\s*(mo|mos|months?|y|yrs?|years?|q|quarters?)", re.ASCII)
_DATE = r"(\d{4})-(\d{1,2})-(\d{1,2})"
_RANGE = re.compile(_DATE + r"\s*(?:\.\.\.?|…|–|—|/|\s+to\s+)\s*" + _DATE, re.ASCII)
_ONE_DATE = re.compile(_DATE, re.ASCII)


class TimeRange(msgspec.Struct, frozen=True):
    """A half-open UTC period [start, end) plus the words the user used for it."""

    start: datetime  # tz-aware UTC
    end: datetime  # tz-aware UTC, exclusive
    label: str  # normalized user words: "7d", "lastweek", "2026-11-01..2026-11-07"

    def __post_init__(self) -> None:
        for name, value in (("start", self.start), ("end", self.end)):
            if value.utcoffset() != timedelta(0):
                raise ValueError(f"TimeRange.{name} must be timezone-aware UTC, got {value!r}")
        if self.end <= self.start:
            raise ValueError(f"TimeRange must end after it starts: {self.start} .. {self.end}")

    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600

    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400

    def previous(self) -> TimeRange:
        """The range of equal length that ends where this one starts."""
        length = self.end - self.start
        return TimeRange(self.start - length, self.start, f"previous {self.label}")

    def describe(self, tz: ZoneInfo | None = None, *, now: datetime | None = None) -> str:
        """The exact period for humans, e.g. "Nov 20 00:00 – Nov 26 09:35 UTC".

        Whole days are shown inclusively ("Nov 1 – Nov 7 UTC"). A date carries its year when
        that differs from the year of `now` (or, without `now`, of the range's end).
        """
        zone = tz or UTC
        start, end = self.start.astimezone(zone), self.end.astimezone(zone)
        year = (now.astimezone(zone) if now is not None else end).year
        zone_name = "UTC" if tz is None else str(tz)
        if start.time() == time(0) and end.time() == time(0):
            first, last = start.date(), end.date() - _DAY
            if first == last:
                return f"{_day(first, year)} {zone_name}"
            return f"{_day(first, year)} – {_day(last, year)} {zone_name}"
        if start.date() == end.date():
            return f"{_day(start.date(), year)} {start:%H:%M} – {end:%H:%M} {zone_name}"
        return (
            f"{_day(start.date(), year)} {start:%H:%M} – "
            f"{_day(end.date(), year)} {end:%H:%M} {zone_name}"
        )

    def daily_edges(self) -> list[datetime]:
        """UTC midnights from the one at or before `start` to the one at or after `end`."""
        first = _midnight(self.start)
        last = _midnight(self.end)
        if last < self.end:
            last += _DAY
        return [first + i * _DAY for i in range((last - first).days + 1)]


def looks_like_window(token: str) -> bool:
    """Whether `token` is shaped like a window (it may still be a bad one, e.g. "0d")."""
    text = _normalize(token)
    if _compact(text) in _KEYWORDS:
        return True
    if _RANGE.fullmatch(text) or _ONE_DATE.fullmatch(text):
        return True
    if _TOO_FINE.fullmatch(text) or _CALENDAR.fullmatch(text):
        return True
    match = _DURATION.fullmatch(text)
    return match is not None and match.group(2) in _UNIT_WORDS


def parse_window(text: str, now: datetime, bucket_seconds: int = 300) -> TimeRange:
    """Resolve `text` against `now` into an explicit UTC range; raise BadWindow otherwise.

    Relative windows end at `now` truncated to `bucket_seconds`, so the same question asked a
    minute later resolves to the same range (and hits the same cache entry).
    """
    if bucket_seconds <= 0:
        raise ValueError("bucket_seconds must be positive")
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    end = datetime.fromtimestamp(now.timestamp() // bucket_seconds * bucket_seconds, UTC)
    clock = _Clock(now=now, end=end, bucket=timedelta(seconds=bucket_seconds))
    normalized = _normalize(text)
    keyword = _KEYWORDS.get(_compact(normalized))
    if keyword is not None:
        label, resolve = keyword
        start, stop = resolve(clock)
        return clock.range(start, stop, label)
    if (match := _RANGE.fullmatch(normalized)) is not None:
        return _date_range(match, clock)
    return _duration(normalized, text, clock)


# --- internals -------------------------------------------------------------------------------
class _Clock(msgspec.Struct, frozen=True):
    now: datetime
    end: datetime  # now, truncated to the bucket
    bucket: timedelta

    @property
    def today(self) -> datetime:
        return _midnight(self.now)

    def range(self, start: datetime, end: datetime | None, label: str) -> TimeRange:
        """A range ending at `end`, or at bucketed now; never empty (first bucket of a day)."""
        stop = end if end is not None else max(self.end, start + self.bucket)
        return TimeRange(start, stop, label)


def _midnight(moment: datetime) -> datetime:
    return datetime.combine(moment.astimezone(UTC).date(), time(0), UTC)


def _day(day: date, current_year: int) -> str:
    text = f"{_MONTHS[day.month - 1]} {day.day}"
    return text if day.year == current_year else f"{text}, {day.year}"


def _normalize(text: str) -> str:
    return " ".join(text.split()).lower()


def _compact(text: str) -> str:
    return re.sub(r"[\s_-]+", "", text)


def _monday(clock: _Clock) -> datetime:
    return clock.today - clock.today.weekday() * _DAY


def _first_of_month(moment: datetime) -> datetime:
    return moment.replace(day=1)


def _last_month(clock: _Clock) -> tuple[datetime, datetime | None]:
    this_month = _first_of_month(clock.today)
    return _first_of_month(this_month - _DAY), this_month


_Resolver = Callable[[_Clock], tuple[datetime, datetime | None]]
_KEYWORDS: dict[str, tuple[str, _Resolver]] = {
    "today": ("today", lambda c: (c.today, None)),
    "yesterday": ("yesterday", lambda c: (c.today - _DAY, c.today)),
    "week": ("week", lambda c: (_monday(c), None)),
    "thisweek": ("week", lambda c: (_monday(c), None)),
    "lastweek": ("lastweek", lambda c: (_monday(c) - 7 * _DAY, _monday(c))),
    "month": ("month", lambda c: (_first_of_month(c.today), None)),
    "thismonth": ("month", lambda c: (_first_of_month(c.today), None)),
    "lastmonth": ("lastmonth", _last_month),
}


def _duration(normalized: str, original: str, clock: _Clock) -> TimeRange:
    match = _DURATION.fullmatch(normalized)
    unit = _UNIT_WORDS.get(match.group(2)) if match else None
    if match is None or unit is None:
        raise _bad(original, clock, _unknown_reason(normalized))
    digits = match.group(1)
    count = int(digits) if len(digits) <= 6 else 10**6
    if count < 1:
        raise _bad(original, clock, "A window must be at least 1 hour or 1 day long.")
    if count * _HOURS_PER_UNIT[unit] > MAX_DAYS * 24:
        raise _bad(original, clock, f"That is longer than the {MAX_DAYS} days costbot looks back.")
    label = f"{count}{unit}"
    if unit == "h":  # hour windows start on the hour, like OpenCost's own aligned `24h`
        start = clock.now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=count)
        return clock.range(start, None, label)
    days = count * (7 if unit == "w" else 1)
    # OpenCost's `7d` is the 6 previous full UTC days plus today so far; match it.
    return clock.range(clock.today - (days - 1) * _DAY, None, label)


def _date_range(match: re.Match[str], clock: _Clock) -> TimeRange:
    text = match.group(0)
    first = _date(match, 1, clock)
    last = _date(match, 4, clock)
    if last < first:
        raise _bad(text, clock, "The second date is before the first; write the earlier one first.")
    if first > clock.now.date():
        raise _bad(text, clock, "That starts in the future; there is no cost data yet.")
    if (last - first).days + 1 > MAX_DAYS:
        raise _bad(text, clock, f"That is longer than the {MAX_DAYS} days costbot looks back.")
    start = datetime.combine(first, time(0), UTC)
    end = datetime.combine(last, time(0), UTC) + _DAY
    # A range reaching into the future stops at now, like every other window.
    return clock.range(start, None if end > clock.end else end, f"{first}..{last}")


def _date(match: re.Match[str], first_group: int, clock: _Clock) -> date:
    year, month, day = (int(match.group(first_group + i)) for i in range(3))
    try:
        return date(year, month, day)
    except ValueError:
        raise _bad(match.group(0), clock, "That is not a real calendar date.") from None


def _unknown_reason(text: str) -> str:
    if _TOO_FINE.fullmatch(text):
        return "Cost data is not that fine-grained; the shortest window is 1h."
    if _CALENDAR.fullmatch(text):
        return "For calendar months use month or lastmonth; for longer spans use days, e.g. 90d."
    if _ONE_DATE.fullmatch(text):
        return f"For a single day, write it twice: {text}..{text}"
    return ""


def _bad(text: str, clock: _Clock, reason: str) -> BadWindow:
    shown = text.strip()
    shown = shown if len(shown) <= 40 else shown[:39] + "…"
    message = f"I can't use “{shown}” as a time window."
    if reason:
        message = f"{message} {reason}"
    today = clock.today.date()
    example = f"{today - 6 * _DAY}..{today}"
    hint = (
        "Time windows: 24h, 7d, 30d, 2w, today, yesterday, week, lastweek, month, lastmonth, "
        f"or dates like {example} (UTC, both days included). Example: /cost summary 30d"
    )
    return BadWindow(message, hint)
