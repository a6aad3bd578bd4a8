"""Words of `/cost` text: the tokenizer (quotes, `key=value`, window phrases) and a cursor.

Pure: no clock of its own (the cursor carries the `now` windows are resolved against).
"""

from __future__ import annotations

import re
from datetime import datetime

from handlers.grammar.usage import fail, shorten
from services.costs.windows import (
    DEFAULT_WINDOW,
    TimeRange,
    looks_like_window,
    normalize_zone,
    parse_window,
)
from services.errors import UserInputError

_SMART = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "\u00a0": " "})
_TOKEN = re.compile(r"""(?:[^\s"'=]+=)?(?:"[^"]*"|'[^']*')|\S+""")
_SPLIT_KEYS = {
    "namespace",
    "ns",
    "label",
    "labels",
    "cluster",
    "by",
    "tz",
    "timezone",
    "at",
    "window",
    "top",
    "limit",
    "k",
    "day",
    "cron",
}
_FILLERS = {"for", "over", "in", "during", "the", "of", "last", "past", "window"}
_UNITS = {"days", "day", "weeks", "wks", "hours", "hrs", "d", "w", "h"}
_PREVIOUS = {"prev", "previous", "before", "last", "lastweek", "lastmonth", "yesterday"}
VS = "vs previous"  # a marker token; unquoted user text can never contain a space

# The keywords of `digest subscribe`; a label written as two words (KEY VALUE) never takes one
# of them as its value.
DAYS = {
    alias: day[:3]
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    for alias in (day, day + "s", day[:3], day[:4] if day[:4] in ("tues", "thur") else day[:3])
} | {"thurs": "thu"}
SUB_WORDS = (
    "daily",
    "weekly",
    "at",
    "tz",
    "timezone",
    "cron",
    "namespace",
    "ns",
    "label",
    "all",
    "everything",
    "every",
    "on",
    "for",
    "in",
    "day",
    "week",
    *DAYS,
)


def tokens(text: str) -> list[str]:
    """Words, with quotes honoured, `key=value` split for keywords, and window phrases merged."""
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").translate(_SMART)
    out: list[str] = []
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        key, sep, rest = token.partition("=")
        if sep and key.lower() in _SPLIT_KEYS and rest:
            out += [key, rest.replace('"', "").replace("'", "")]
        elif cleaned := token.replace('"', "").replace("'", "").strip():
            out.append(cleaned)
    return _merge(out)


def _merge(tokens: list[str]) -> list[str]:
    """Join window phrases ("last week", "30 days", "D to D"), then mark `vs` and drop fillers."""
    joined: list[str] = []
    i = 0
    while i < len(tokens):
        word, after = tokens[i].lower(), [t.lower() for t in tokens[i + 1 : i + 3]]
        if after[:1] and (
            (word in ("last", "this") and after[0] in ("week", "month"))
            or (is_int(word) and after[0] in _UNITS)
        ):
            joined.append(word + after[0])
            i += 2
        elif len(after) == 2 and after[0] in ("to", "-", "..", "–") and _is_date_pair(word, after):
            joined.append(f"{word}..{after[1]}")
            i += 3
        else:
            joined.append(tokens[i])
            i += 1
    return _mark(joined)


def _mark(tokens: list[str]) -> list[str]:
    out: list[str] = []
    skip = False
    for i, token in enumerate(tokens):
        word = token.lower()
        if skip and word in _PREVIOUS:
            skip = False
            continue
        skip = word in ("vs", "vs.", "versus")
        later = next((t.lower() for t in tokens[i + 1 :] if t.lower() not in _FILLERS), "")
        if skip:
            out.append(VS)
        elif not (word in _FILLERS and looks_like_window(later)):
            out.append(token)
    return out


def _is_date_pair(first: str, after: list[str]) -> bool:
    return looks_like_window(f"{first}..{after[1]}") and "-" in first


def is_int(word: str) -> bool:
    """Digits only (no sign, no separators)."""
    return re.fullmatch(r"[0-9]+", word) is not None


def is_pair(word: str) -> bool:
    """KEY=VALUE-shaped (the value may still be missing)."""
    key, sep, _ = word.partition("=")
    return bool(sep and key)


class Words:
    """A cursor over the tokens; `peek` is lower-case, `take` keeps the user's spelling."""

    def __init__(self, tokens: list[str], now: datetime, tz: str = "UTC") -> None:
        self.tokens, self.pos, self.now = tokens, 0, now
        self.tz = tz  # whose local days windows are: the asker's, until `tz ZONE` says
        self.tz_given = False

    def peek(self) -> str | None:
        return self.tokens[self.pos].lower() if self.pos < len(self.tokens) else None

    def take(self) -> str:
        self.pos += 1
        return self.tokens[self.pos - 1]

    def value(self, topic: str, what: str) -> str:
        """The next word as the value of a keyword; a window or nothing means it is missing."""
        word = self.peek()
        if word is None or looks_like_window(word) or word == VS:
            raise fail(topic, f"Which {what}?")
        return self.take()

    def expect_end(self, topic: str) -> None:
        if self.peek() is not None:
            raise fail(topic, f"I didn't expect “{shorten(self.take())}” there.")

    def zone(self, topic: str) -> None:
        """`tz ZONE` (an IANA zone or an offset like +05:30): the window's days are its days."""
        text = self.value(topic, "time zone, e.g. tz Europe/Berlin")
        found = normalize_zone(text)
        if found is None:
            raise UserInputError(
                f"“{shorten(text)}” is not a time zone I know; use a name like Europe/Berlin "
                "or an offset like +05:30.",
                "e.g. /cost trend 7d tz America/New_York",  # one line, not the whole usage
            )
        if self.tz_given:
            raise fail(topic, "One time zone at a time, please.")
        self.tz, self.tz_given = found, True

    def window(self, text: str | None) -> TimeRange:
        return parse_window(text or DEFAULT_WINDOW, self.now, tz=self.tz)
