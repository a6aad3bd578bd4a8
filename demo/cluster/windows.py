"""OpenCost's `window` and `step` query parameters, parsed the way OpenCost parses them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from demo.cluster.catalog import DAY, HOUR, WEEK

_STAMP = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"
_RFC_PAIR = re.compile(rf"^({_STAMP}),({_STAMP})$")
_UNIX_PAIR = re.compile(r"^(\d+)[,-](\d+)$")
_DURATION = re.compile(r"^(\d+)([mhdw])$")
_OFFSET = re.compile(r"^(\d+)([mhdw]) offset (\d+)([mhdw])$")
_UNITS = {"s": 1, "m": 60, "h": HOUR, "d": DAY, "w": WEEK}
_STEP_WORDS = {"hour": HOUR, "day": DAY, "week": WEEK}
MAX_STEPS = 2000


def parse_window(text: str, now: datetime) -> tuple[int, int]:
    """OpenCost's window forms as epoch seconds [start, end). Raises ValueError if illegal."""
    ts = int(now.timestamp())
    if match := _RFC_PAIR.match(text):
        start, end = (_parse_stamp(group) for group in match.groups())
    elif match := _UNIX_PAIR.match(text):
        start, end = int(match[1]), int(match[2])
    elif match := _DURATION.match(text):
        # Since v1.107 a duration is aligned: end = now truncated to the unit, plus one unit.
        unit = _UNITS[match[2]] if match[2] != "w" else DAY
        end = ts - ts % unit + unit
        start = end - int(match[1]) * _UNITS[match[2]]
    elif match := _OFFSET.match(text):
        end = ts - int(match[3]) * _UNITS[match[4]]
        start = end - int(match[1]) * _UNITS[match[2]]
    else:
        start, end = _keyword_window(text, now)
    if start >= end:
        raise ValueError(text)
    return start, end


def _parse_stamp(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())


def _keyword_window(text: str, now: datetime) -> tuple[int, int]:
    ts = int(now.timestamp())
    midnight = ts - ts % DAY
    sunday = midnight - ((midnight // DAY + 4) % 7) * DAY  # 1970-01-01 was a Thursday
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    previous = (first - timedelta(days=1)).replace(day=1)
    windows = {
        "today": (midnight, midnight + DAY),
        "yesterday": (midnight - DAY, midnight),
        "week": (sunday, ts),
        "lastweek": (sunday - WEEK, sunday),
        "month": (int(first.timestamp()), ts),
        "lastmonth": (int(previous.timestamp()), int(first.timestamp())),
    }
    if text not in windows:
        raise ValueError(text)
    return windows[text]


def parse_step(text: str, window_seconds: int) -> int:
    """A Go-style duration with d/w (`1d`, `2h30m`) or hour/day/week; "" = the whole window."""
    if not text:
        return window_seconds
    if text in _STEP_WORDS:
        return _STEP_WORDS[text]
    if not re.fullmatch(r"(?:\d+[wdhms])+", text):
        raise ValueError(f"invalid duration: {text}")
    seconds = sum(int(n) * _UNITS[unit] for n, unit in re.findall(r"(\d+)([wdhms])", text))
    if seconds <= 0:
        raise ValueError(f"step must be positive: {text}")
    if window_seconds / seconds > MAX_STEPS:
        raise ValueError(f"too many steps ({text} over the window)")
    return seconds


def parse_bool(text: str) -> bool:
    """Go's strconv.ParseBool, where anything unparsable counts as false."""
    return text in ("1", "t", "T", "true", "TRUE", "True")
