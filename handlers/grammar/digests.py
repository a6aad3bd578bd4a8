"""`/cost digest …`: subscribe (schedule, time zone, cron, scope), list, unsubscribe, preview.

Time zones and cron expressions are validated here, so a bad schedule never reaches the store.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import UTC
from functools import lru_cache
from zoneinfo import available_timezones

from handlers.grammar.commands import (
    Command,
    DigestList,
    DigestPreview,
    DigestSubscribe,
    DigestUnsubscribe,
    Help,
)
from handlers.grammar.tokens import DAYS, SUB_WORDS, Words, is_int, is_pair
from handlers.grammar.usage import fail, shorten, stray, table
from handlers.grammar.values import NAME, action, ident, namespace, once, pair_from

_DIGEST_ACTIONS = table(
    subscribe="sub add create new",
    list="ls show",
    unsubscribe="unsub remove rm delete del cancel stop",
    preview="test try",
)
_TIME = re.compile(r"([0-9]{1,2})(?:[:.h]?([0-9]{2}))?\s*(am|pm)?")
_FREQUENCIES = {"daily": "daily", "day": "daily", "weekly": "weekly", "week": "weekly"}
_CRON_FIELD = re.compile(r"[0-9A-Za-z*/,?-]{1,40}")


def parse_digest(words: Words) -> Command:
    found = action("digest", words, _DIGEST_ACTIONS)
    if found is None:
        return Help(topic="digest")
    if found == "subscribe":
        return _subscribe(words)
    if found == "list":
        words.expect_end("digest")
        return DigestList()
    if found == "unsubscribe":
        sub_id = ident("digest", words.value("digest", "subscription (see `digest list`)"))
        words.expect_end("digest")
        return DigestUnsubscribe(sub_id=sub_id)
    sub = ident("digest", words.take()) if words.peek() is not None else None
    words.expect_end("digest")
    return DigestPreview(sub_id=sub)


@dataclass
class _Sub:
    frequency: str | None = None
    day: str | None = None
    at: str | None = None
    tz: str | None = None
    cron: str | None = None
    namespaces: list[str] = field(default_factory=list)
    label: tuple[str, str] | None = None
    everything: bool = False


def _subscribe(words: Words) -> Command:
    sub = _Sub()
    while (word := words.peek()) is not None:
        raw = words.take()
        if word in _FREQUENCIES:
            sub.frequency = once("digest", sub.frequency, _FREQUENCIES[word], "schedules")
        elif word in DAYS:
            sub.day = once("digest", sub.day, DAYS[word], "days")
        elif word == "at" or (_TIME.fullmatch(word) and not is_int(word)):
            text = words.value("digest", "time (HH:MM)") if word == "at" else raw
            sub.at = once("digest", sub.at, _clock_time(text, words), "times")
        elif word in ("tz", "timezone") or _zone_key(word):
            text = words.value("digest", "time zone") if word in ("tz", "timezone") else raw
            sub.tz = once("digest", sub.tz, _zone(text), "time zones")
        elif word == "cron":
            sub.cron = once("digest", sub.cron, _cron(words), "cron expressions")
        elif word in ("namespace", "namespaces", "ns"):
            sub.namespaces += _namespaces(words)
        elif word in ("label", "labels") or is_pair(word):
            text = raw if is_pair(word) else words.value("digest", "label (KEY=VALUE)")
            sub.label = once("digest", sub.label, pair_from("digest", text, words), "labels")
        elif word in ("all", "everything"):
            sub.everything = True
        elif word not in ("every", "on", "for", "in", "each", "to"):
            raise stray("digest", raw, SUB_WORDS)
    return _subscription(sub)


def _subscription(sub: _Sub) -> DigestSubscribe:
    if sub.cron is not None and (sub.frequency or sub.day or sub.at):
        raise fail(
            "digest",
            "A cron expression is the whole schedule; leave out daily, weekly, "
            "the day and the time.",
        )
    if sub.frequency == "daily" and sub.day is not None:
        raise fail("digest", "A daily digest has no day; for one day a week write `weekly mon`.")
    scopes = sum((bool(sub.namespaces), sub.label is not None, sub.everything))
    if scopes > 1:
        raise fail("digest", "Pick one scope: namespaces, one label, or all.")
    return DigestSubscribe(
        frequency="cron" if sub.cron else "daily" if sub.frequency == "daily" else "weekly",
        day=sub.day or "mon",
        at=sub.at or "09:00",
        tz=sub.tz,
        cron=sub.cron,
        namespaces=tuple(dict.fromkeys(sub.namespaces)),
        label=sub.label,
        everything=scopes == 0 or sub.everything,
    )


def _namespaces(words: Words) -> list[str]:
    """One or more namespace names, separated by spaces or commas, up to the next keyword."""
    names = [words.value("digest", "namespace")]
    while (word := words.peek()) is not None and word not in SUB_WORDS and _names(word):
        names.append(words.take())
    found = [namespace("digest", n) for text in names for n in text.split(",") if n]
    if not found:
        raise fail("digest", "Which namespace?")
    return found


def _names(word: str) -> bool:
    return all(NAME.fullmatch(name) for name in word.split(",") if name)


def _clock_time(text: str, words: Words) -> str:
    if words.peek() in ("am", "pm"):
        text += words.take()
    match = _TIME.fullmatch(text.lower())
    problem = f"“{shorten(text)}” is not a time of day; write it like 09:00 or 5pm."
    if match is None:
        raise fail("digest", problem)
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    if match.group(3):
        if not 1 <= hour <= 12:
            raise fail("digest", problem)
        hour = hour % 12 + (12 if match.group(3) == "pm" else 0)
    if hour > 23 or minute > 59:
        raise fail("digest", problem)
    return f"{hour:02d}:{minute:02d}"


@lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    zones = {name.lower(): name for name in available_timezones()}
    return zones | {"utc": "UTC", "gmt": "UTC", "z": "UTC"}


def _zone_key(word: str) -> bool:
    return ("/" in word or word in ("utc", "gmt")) and word in _zones()


def _zone(text: str) -> str:
    zone = _zones().get(text.lower())
    if zone is None:
        close = difflib.get_close_matches(text.lower(), list(_zones()), n=1, cutoff=0.6)
        guess = _zones()[close[0]] if close else None
        raise fail(
            "digest", f"“{shorten(text)}” is not a time zone I know, e.g. Europe/Berlin.", guess
        )
    return zone


def _cron(words: Words) -> str:
    """A five-field crontab: quoted as one word, or the next five words."""
    first = words.value("digest", 'cron expression, e.g. cron "0 9 * * mon-fri"')
    fields = first.split()
    while (
        len(fields) < 5 and words.peek() is not None and _CRON_FIELD.fullmatch(words.peek() or "")
    ):
        fields.append(words.take())
    expression = " ".join(fields)
    if len(fields) != 5 or not all(_CRON_FIELD.fullmatch(f) for f in fields):
        raise fail("digest", f"“{shorten(expression)}” is not a five-field cron expression.")
    from apscheduler.triggers.cron import CronTrigger  # the scheduler that will run it decides

    try:
        CronTrigger.from_crontab(expression, timezone=UTC)
    except ValueError as exc:
        raise fail("digest", f"That cron expression does not work: {exc}") from None
    return expression
