"""Time windows: every form a user may type becomes an explicit UTC range, resolved in a time
zone ("today", "7d", "month" are the asker's or the subscription's local days; UTC when none).

Pure: `now` is passed in, nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
_OFFSET = re.compile(r"(?:utc|gmt)?\s*([+-])(\d{1,2})(?::?(\d{2}))?", re.ASCII | re.IGNORECASE)


class LocalDay(msgspec.Struct, frozen=True):
    """One calendar day of a zone as a UTC range: 24 hours, or 23/25 on a DST change."""

    day: date
    start: datetime  # UTC
    end: datetime  # UTC, exclusive

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


def zone_of(name: str) -> tzinfo:
    """The tzinfo for a zone name `normalize_zone` produced: IANA, "UTC" or "UTC+05:30"."""
    return _zone_of(name)


@lru_cache(maxsize=256)
def _zone_of(name: str) -> tzinfo:
    if name in ("UTC", ""):
        return UTC
    if name.startswith("UTC") and (match := _OFFSET.fullmatch(name)) is not None:
        return _fixed(match) or UTC
    return ZoneInfo(name)


def normalize_zone(text: str) -> str | None:
    """An IANA zone (any case) or a fixed offset (`+05:30`, `-4`, `UTC+2`) as its canonical
    name ("Europe/Berlin", "UTC+05:30"); None when it is neither."""
    cleaned = text.strip()
    if cleaned.lower() in ("utc", "gmt", "z", "+00:00", "-00:00", "+0", "-0"):
        return "UTC"
    if (match := _OFFSET.fullmatch(cleaned)) is not None:
        fixed = _fixed(match)
        if fixed is None:
            return None
        offset = fixed.utcoffset(None)
        if offset == timedelta(0):
            return "UTC"
        sign = "-" if offset < timedelta(0) else "+"
        minutes = abs(int(offset.total_seconds())) // 60
        return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    name = _iana_names().get(cleaned.lower())
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


@lru_cache(maxsize=1)
def _iana_names() -> dict[str, str]:
    from zoneinfo import available_timezones

    return {name.lower(): name for name in available_timezones()}


def _fixed(match: re.Match[str]) -> timezone | None:
    hours, minutes = int(match.group(2)), int(match.group(3) or 0)
    if hours > 14 or minutes > 59:
        return None
    offset = timedelta(hours=hours, minutes=minutes) * (-1 if match.group(1) == "-" else 1)
    return timezone(offset) if offset else UTC


def local_midnight(day: date, tz: tzinfo) -> datetime:
    """The UTC instant a local day begins (a day with no midnight starts at its first hour)."""
    guess = datetime.combine(day, time(0), tz)
    as_utc = guess.astimezone(UTC)
    # A gap at midnight (e.g. America/Santiago): the first existing local instant of that day.
    if as_utc.astimezone(tz).date() != day:
        as_utc = as_utc + timedelta(hours=1)
    return as_utc


class TimeRange(msgspec.Struct, frozen=True):
    """A half-open UTC period [start, end) plus the words the user used for it, and the zone
    whose calendar days it is counted in (daily series, labels, "previous")."""

    start: datetime  # tz-aware UTC
    end: datetime  # tz-aware UTC, exclusive
    label: str  # normalized user words: "7d", "lastweek", "2026-11-01..2026-11-07"
    tz: str = "UTC"  # a `normalize_zone` name: IANA, "UTC" or "UTC+05:30"

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

    @property
    def zone(self) -> tzinfo:
        return zone_of(self.tz)

    def previous(self) -> TimeRange:
        """The stretch that ends where this one starts: as many local days when this range is
        whole local days (a week across a DST change is 167 or 169 hours), else equal length."""
        label = f"previous {self.label}"
        days = self.local_days()
        if days and days[0].start == self.start and days[-1].end == self.end:
            first = days[0].day - timedelta(days=len(days))
            return TimeRange(local_midnight(first, self.zone), self.start, label, self.tz)
        length = self.end - self.start
        return TimeRange(self.start - length, self.start, label, self.tz)

    def local_days(self, until: datetime | None = None) -> list[LocalDay]:
        """Every local day of the zone that [start, min(end, until)) touches, in order."""
        stop = self.end if until is None else max(self.start, min(self.end, until))
        zone = self.zone
        first = self.start.astimezone(zone).date()
        last = max(stop, self.start + timedelta(microseconds=1)) - timedelta(microseconds=1)
        days: list[LocalDay] = []
        day = first
        while day <= last.astimezone(zone).date():
            nxt = day + _DAY
            days.append(LocalDay(day, local_midnight(day, zone), local_midnight(nxt, zone)))
            day = nxt
        return days

    def describe(self, tz: tzinfo | None = None, *, now: datetime | None = None) -> str:
        """The exact period for humans, e.g. "Nov 20 00:00 – Nov 26 09:35 UTC".

        Whole days are shown inclusively ("Nov 1 – Nov 7 UTC"). A date carries its year when
        that differs from the year of `now` (or, without `now`, of the range's end). Shown in
        `tz` when given, else in the range's own zone.
        """
        zone = tz or self.zone
        start, end = self.start.astimezone(zone), self.end.astimezone(zone)
        year = (now.astimezone(zone) if now is not None else end).year
        zone_name = self.tz if tz is None else _zone_name(tz)
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
        """Local midnights (as UTC instants) from the one at or before `start` to the one at or
        after `end`."""
        days = self.local_days()
        return [days[0].start, *(day.end for day in days)]


def _zone_name(tz: tzinfo) -> str:
    if tz is UTC:
        return "UTC"
    return str(getattr(tz, "key", None) or tz.tzname(None) or tz)


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


def parse_window(text: str, now: datetime, bucket_seconds: int = 300, tz: str = "UTC") -> TimeRange:
    """Resolve `text` against `now` into an explicit UTC range; raise BadWindow otherwise.

    Days are local days of `tz` (a `normalize_zone` name): "today" starts at local midnight,
    "7d" is six whole local days plus today so far, dates are local dates. Relative windows
    end at `now` truncated to `bucket_seconds`, so the same question asked a minute later
    resolves to the same range (and hits the same cache entry).
    """
    if bucket_seconds <= 0:
        raise ValueError("bucket_seconds must be positive")
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    end = datetime.fromtimestamp(now.timestamp() // bucket_seconds * bucket_seconds, UTC)
    clock = _Clock(now=now, end=end, bucket=timedelta(seconds=bucket_seconds), tz=tz)
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
    tz: str = "UTC"

    @property
    def today(self) -> date:
        """Today's local date in the clock's zone."""
        return self.now.astimezone(zone_of(self.tz)).date()

    def midnight(self, day: date) -> datetime:
        return local_midnight(day, zone_of(self.tz))

    def range(self, start: date | datetime, end: date | datetime | None, label: str) -> TimeRange:
        """A range from a local day (or an instant) to `end` or bucketed now; never empty."""
        begin = self._instant(start)
        stop = self._instant(end) if end is not None else max(self.end, begin + self.bucket)
        return TimeRange(begin, stop, label, self.tz)

    def _instant(self, moment: date | datetime) -> datetime:
        return moment if isinstance(moment, datetime) else self.midnight(moment)


def _day(day: date, current_year: int) -> str:
    text = f"{_MONTHS[day.month - 1]} {day.day}"
    return text if day.year == current_year else f"{text}, {day.year}"


def _normalize(text: str) -> str:
    return " ".join(text.split()).lower()


def _compact(text: str) -> str:
    return re.sub(r"[\s_-]+", "", text)


def _monday(clock: _Clock) -> date:
    return clock.today - clock.today.weekday() * _DAY


def _first_of_month(day: date) -> date:
    return day.replace(day=1)


def _last_month(clock: _Clock) -> tuple[date, date | None]:
    this_month = _first_of_month(clock.today)
    return _first_of_month(this_month - _DAY), this_month


_Resolver = Callable[[_Clock], tuple[date, date | None]]
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
    # OpenCost's `7d` is the 6 previous full days plus today so far; match it, in local days.
    return clock.range(clock.today - (days - 1) * _DAY, None, label)


def _date_range(match: re.Match[str], clock: _Clock) -> TimeRange:
    text = match.group(0)
    first = _date(match, 1, clock)
    last = _date(match, 4, clock)
    if last < first:
        raise _bad(text, clock, "The second date is before the first; write the earlier one first.")
    if first > clock.today:
        raise _bad(text, clock, "That starts in the future; there is no cost data yet.")
    if (last - first).days + 1 > MAX_DAYS:
        raise _bad(text, clock, f"That is longer than the {MAX_DAYS} days costbot looks back.")
    end = clock.midnight(last + _DAY)
    # A range reaching into the future stops at now, like every other window.
    return clock.range(first, None if end > clock.end else end, f"{first}..{last}")


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
    today = clock.today
    example = f"{today - 6 * _DAY}..{today}"
    hint = (
        "Time windows: 24h, 7d, 30d, 2w, today, yesterday, week, lastweek, month, lastmonth, "
        f"or dates like {example} ({clock.tz}, both days included). Example: /cost summary 30d"
    )
    return BadWindow(message, hint)
