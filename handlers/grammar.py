"""The `/cost` grammar: the text after `/cost` becomes one typed command.

Pure (`now` is passed in) and total: `parse` returns a Command or raises UserInputError.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Literal, TypeAlias, TypeVar
from zoneinfo import available_timezones

import msgspec

from services.errors import UserInputError
from services.windows import DEFAULT_WINDOW, TimeRange, looks_like_window, parse_window


# --- commands --------------------------------------------------------------------------------
class _Command(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """Base of every parsed command (tagged by class name when encoded)."""


class Help(_Command, frozen=True, kw_only=True):
    topic: str | None = None  # a COMMAND_WORDS entry or "window"; None = everything


class Summary(_Command, frozen=True, kw_only=True):
    window: TimeRange


class NamespaceQuery(_Command, frozen=True, kw_only=True):
    namespace: str
    window: TimeRange


Dimension: TypeAlias = Literal["namespace", "controller", "pod", "label", "cluster", "node"]


class Top(_Command, frozen=True, kw_only=True):
    window: TimeRange
    k: int = 10
    dimension: Dimension = "namespace"
    label_key: str | None = None  # set iff dimension == "label"

    def aggregate(self) -> str:
        """The OpenCost `aggregate` value, e.g. "controller" or "label:team"."""
        return f"label:{self.label_key}" if self.dimension == "label" else self.dimension


class LabelQuery(_Command, frozen=True, kw_only=True):
    key: str
    value: str
    window: TimeRange


class Focus(msgspec.Struct, frozen=True, kw_only=True):
    """What part of the visible cost a compare/trend looks at; all None = everything."""

    namespace: str | None = None
    label: tuple[str, str] | None = None
    cluster: str | None = None


class Compare(_Command, frozen=True, kw_only=True):
    focus: Focus
    window: TimeRange


class Trend(_Command, frozen=True, kw_only=True):
    focus: Focus
    window: TimeRange


class Recommendations(_Command, frozen=True, kw_only=True):
    namespace: str | None = None
    include_all: bool = False  # also acknowledged, snoozed and dismissed ones


class Whoami(_Command, frozen=True, kw_only=True):
    pass


class Audit(_Command, frozen=True, kw_only=True):
    limit: int = 20


class DigestSubscribe(_Command, frozen=True, kw_only=True):
    """Subscribe this channel. No scope given means everything the subscriber may see."""

    frequency: Literal["daily", "weekly", "cron"] = "weekly"
    day: str = "mon"  # mon..sun, used when weekly
    at: str = "09:00"  # HH:MM in `tz`
    tz: str | None = None  # IANA zone, validated; None = UTC
    cron: str | None = None  # five-field crontab, validated, when frequency == "cron"
    namespaces: tuple[str, ...] = ()
    label: tuple[str, str] | None = None
    everything: bool = False


class DigestList(_Command, frozen=True, kw_only=True):
    pass


class DigestUnsubscribe(_Command, frozen=True, kw_only=True):
    sub_id: str


class DigestPreview(_Command, frozen=True, kw_only=True):
    sub_id: str | None = None  # None = what this channel's digest would look like now


class BudgetSet(_Command, frozen=True, kw_only=True):
    kind: Literal["namespace", "label", "cluster"]
    target: str  # namespace name, "key=value", or cluster name ("" = every cluster)
    amount: Decimal
    period: Literal["month"] = "month"


class BudgetList(_Command, frozen=True, kw_only=True):
    pass


class BudgetRemove(_Command, frozen=True, kw_only=True):
    budget_id: str


Command: TypeAlias = (
    Help | Summary | NamespaceQuery | Top | LabelQuery | Compare | Trend | Recommendations
    | Whoami | Audit | DigestSubscribe | DigestList | DigestUnsubscribe | DigestPreview
    | BudgetSet | BudgetList | BudgetRemove
)  # fmt: skip


# --- usage -----------------------------------------------------------------------------------
_USAGE: dict[str, tuple[str, ...]] = {
    "summary": ("/cost summary [WINDOW]  total for everything you may see: /cost summary 30d",),
    "namespace": ("/cost namespace NAME [WINDOW]  one namespace (ns): /cost ns payments lastweek",),
    "top": (
        "/cost top [K] [by DIM] [WINDOW]  biggest spenders: /cost top 5 by controller 30d",
        "    DIM: namespace, controller, pod, label:KEY, cluster, node",
    ),
    "label": ("/cost label KEY=VALUE [WINDOW]  one label: /cost label team=payments month",),
    "compare": ("/cost compare [SCOPE] [WINDOW]  vs the period before: /cost compare ns payments",),
    "trend": ("/cost trend [SCOPE] [WINDOW]  daily spend with a chart: /cost trend 30d",),
    "recommendations": (
        "/cost recommendations [namespace NAME] [all]  savings to act on (recs, savings)",
    ),
    "digest": (
        '/cost digest subscribe [daily | weekly DAY] [at HH:MM] [tz ZONE] [cron "..."]',
        "    [namespace NAME... | label KEY=VALUE | all]",
        "    e.g. /cost digest subscribe weekly mon at 09:00 tz Europe/Berlin ns payments",
        "/cost digest list  |  digest unsubscribe ID  |  digest preview [ID]",
    ),
    "budget": (
        "/cost budget set namespace NAME 1500/month  (or label KEY=VALUE, or cluster [NAME])",
        "/cost budget list  |  budget remove ID",
    ),
    "whoami": ("/cost whoami  your Kubernetes identity and what you may see",),
    "audit": ("/cost audit [N]  the last N audit events (admins)",),
    "window": (
        "WINDOW: 24h 7d 30d 2w today yesterday week lastweek month lastmonth",
        "    YYYY-MM-DD..YYYY-MM-DD (UTC, both days included; default 7d)",
        "SCOPE: namespace NAME | label KEY=VALUE | cluster NAME",
    ),
}
USAGE: str = "\n".join(
    ["/cost  help with examples (/cost help TOPIC for one command)"]
    + [line for lines in _USAGE.values() for line in lines]
)


def _table(base: dict[str, str] | None = None, **aliases: str) -> dict[str, str]:
    """{alias: canonical} from canonical="alias alias …" (each canonical maps to itself)."""
    table = dict(base or {})
    for canonical, words in aliases.items():
        table |= dict.fromkeys((canonical, *words.split()), canonical)
    return table


COMMAND_WORDS: tuple[str, ...] = (
    "help", "summary", "namespace", "top", "label", "compare", "trend", "recommendations",
    "digest", "budget", "whoami", "audit",
)  # fmt: skip
_ALIASES: dict[str, str] = _table(
    {word: word for word in COMMAND_WORDS},
    namespace="ns namespaces",
    recommendations="recs rec recommendation savings",
    summary="total overview summarize",
    trend="trends history",
    compare="comparison diff",
    label="labels",
    whoami="me who identity",
    digest="digests",
    budget="budgets",
    help="? -h --help usage",
)


def usage_for(topic: str | None) -> str:
    """Usage lines for one topic (a COMMAND_WORDS entry or "window"), or everything."""
    if topic is None or topic not in _USAGE:
        return USAGE
    extra = () if topic in ("whoami", "audit", "recommendations") else _USAGE["window"]
    return "\n".join((*_USAGE[topic], *extra))


# --- entry point -----------------------------------------------------------------------------
def parse(text: str, now: datetime) -> Command:
    """The command in `text` (what follows `/cost`), windows resolved against `now`."""
    words = _Words(_tokens(text), now)
    if words.peek() == "/cost":  # pasted with the command itself
        words.take()
    first = words.peek()
    if first is None:
        return Help()
    if looks_like_window(first) or _is_pair(first):
        return _focused("summary", words)  # "/cost 30d" is a summary; "/cost team=x" a label
    name = _ALIASES.get(first)
    if name is None:
        raise _unknown_command(words.take())
    words.take()
    if words.peek() in ("help", "?", "-h", "--help") and name != "help":
        return Help(topic=name)
    if first in ("digests", "budgets"):
        words.expect_end(name)
        return DigestList() if name == "digest" else BudgetList()
    return _PARSERS[name](words)


def _unknown_command(word: str) -> UserInputError:
    shown = _shown(word)
    if word.lower() in ("cluster", "clusters"):
        hint = "For clusters try `top by cluster` or `compare cluster NAME`."
        return UserInputError(f"“{shown}” is not a command on its own.", f"{hint}\n\n{USAGE}")
    guess = _closest(word.lower(), _ALIASES)
    lead = (
        f"Did you mean `{_ALIASES[guess]}`?" if guess else "To see one namespace: `namespace NAME`."
    )
    return UserInputError(f"I don't know the command “{shown}”.", f"{lead}\n\n{USAGE}")


# --- tokens ----------------------------------------------------------------------------------
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
_VS = "vs previous"  # a marker token; unquoted user text can never contain a space


def _tokens(text: str) -> list[str]:
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
            or (_is_int(word) and after[0] in _UNITS)
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
            out.append(_VS)
        elif not (word in _FILLERS and looks_like_window(later)):
            out.append(token)
    return out


_PREVIOUS = {"prev", "previous", "before", "last", "lastweek", "lastmonth", "yesterday"}


def _is_date_pair(first: str, after: list[str]) -> bool:
    return looks_like_window(f"{first}..{after[1]}") and "-" in first


class _Words:
    """A cursor over the tokens; `peek` is lower-case, `take` keeps the user's spelling."""

    def __init__(self, tokens: list[str], now: datetime) -> None:
        self.tokens, self.pos, self.now = tokens, 0, now

    def peek(self) -> str | None:
        return self.tokens[self.pos].lower() if self.pos < len(self.tokens) else None

    def take(self) -> str:
        self.pos += 1
        return self.tokens[self.pos - 1]

    def value(self, topic: str, what: str) -> str:
        """The next word as the value of a keyword; a window or nothing means it is missing."""
        word = self.peek()
        if word is None or looks_like_window(word) or word == _VS:
            raise _fail(topic, f"Which {what}?")
        return self.take()

    def expect_end(self, topic: str) -> None:
        if self.peek() is not None:
            raise _fail(topic, f"I didn't expect “{_shown(self.take())}” there.")

    def window(self, text: str | None) -> TimeRange:
        return parse_window(text or DEFAULT_WINDOW, self.now)


# --- cost questions --------------------------------------------------------------------------
@dataclass
class _Parts:
    window: str | None = None
    namespace: str | None = None
    label: tuple[str, str] | None = None
    cluster: str | None = None
    vs_previous: bool = False
    everything: bool = False
    bare: list[str] = field(default_factory=list)


def _scan(topic: str, words: _Words) -> _Parts:
    """Windows, scopes and the `vs previous` marker in any order; unknown words go to `bare`."""
    parts = _Parts()
    while (word := words.peek()) is not None:
        raw = words.take()
        if word == _VS:
            parts.vs_previous = True
        elif looks_like_window(word):
            parts.window = _once(topic, parts.window, raw, "time windows")
        elif word in ("namespace", "ns"):
            _set_namespace(topic, parts, words.value(topic, "namespace"))
        elif word in ("label", "labels") or _is_pair(word):
            text = raw if _is_pair(word) else words.value(topic, "label (KEY=VALUE)")
            parts.label = _once(topic, parts.label, _pair_from(topic, text, words), "labels")
        elif word == "cluster":
            name = _cluster(topic, words.value(topic, "cluster"))
            parts.cluster = _once(topic, parts.cluster, name, "clusters")
        elif word in ("all", "everything"):
            parts.everything = True
        else:
            parts.bare.append(raw)
    return parts


def _focused(topic: str, words: _Words) -> Command:
    """summary / namespace / label / compare / trend: they differ only in what they require."""
    parts = _scan(topic, words)
    if topic == "label" and parts.label is None and parts.bare:  # "label team payments"
        rest = _Words(parts.bare[1:], words.now)
        parts.label = _pair_from(topic, parts.bare[0], rest)
        parts.bare = rest.tokens[rest.pos :]
    for word in parts.bare:
        if topic in ("summary", "label") or parts.namespace is not None:
            raise _stray(topic, word, ("namespace", "label", "cluster", "vs"))
        _set_namespace(topic, parts, word)
    if parts.everything and topic not in ("compare", "trend", "summary"):
        raise _fail(topic, "“all” doesn't fit here.")
    window = words.window(parts.window)
    focus = Focus(namespace=parts.namespace, label=parts.label, cluster=parts.cluster)
    if topic == "trend":
        return Trend(focus=focus, window=window)
    if topic == "compare" or parts.vs_previous:
        return Compare(focus=focus, window=window)
    if parts.cluster is not None:
        raise _fail(topic, "A cluster only narrows `compare` and `trend`; try `top by cluster`.")
    if parts.namespace is not None and parts.label is None and topic != "label":
        return NamespaceQuery(namespace=parts.namespace, window=window)
    if parts.label is not None and parts.namespace is None and topic != "namespace":
        return LabelQuery(key=parts.label[0], value=parts.label[1], window=window)
    if topic == "summary" and parts.namespace is None and parts.label is None:
        return Summary(window=window)
    raise _fail(topic, _MISSING.get(topic, "Ask about one namespace or one label at a time."))


_MISSING = {"namespace": "Which namespace?", "label": "Which label? Write it as KEY=VALUE."}


def _set_namespace(topic: str, parts: _Parts, name: str) -> None:
    if parts.namespace is not None:
        raise _fail(topic, "One namespace at a time, please.")
    parts.namespace = _namespace(topic, name)


_DIMENSION_WORDS: tuple[tuple[Dimension, str], ...] = (
    ("namespace", "namespaces ns"),
    ("controller", "controllers deployment deployments workload workloads statefulset"),
    ("pod", "pods"),
    ("cluster", "clusters"),
    ("node", "nodes"),
    ("label", "labels"),
)
_DIMENSIONS: dict[str, Dimension] = {
    alias: dimension
    for dimension, aliases in _DIMENSION_WORDS
    for alias in (dimension, *aliases.split())
}


def _top(words: _Words) -> Command:
    k: int | None = None
    dimension: Dimension | None = None
    label_key: str | None = None
    window: str | None = None
    while (word := words.peek()) is not None:
        raw = words.take()
        if word == "by":
            raw = words.value("top", "dimension")
            word = raw.lower()
        if _is_int(word):
            k = _number("top", word, k, 50)
        elif looks_like_window(word):
            window = _once("top", window, raw, "time windows")
        elif word in _DIMENSIONS or word.startswith(("label:", "labels:")):
            dimension = _once("top", dimension, _DIMENSIONS.get(word, "label"), "dimensions")
            if dimension == "label":
                key = raw.partition(":")[2] if ":" in raw else _label_key_after(words)
                label_key = _label_key("top", key)
        else:
            raise _stray("top", raw, (*_DIMENSIONS, "by"))
    return Top(
        window=words.window(window),
        k=10 if k is None else k,
        dimension=dimension or "namespace",
        label_key=label_key,
    )


def _label_key_after(words: _Words) -> str:
    word = words.peek()
    if word is None or _is_int(word) or word == "by" or looks_like_window(word):
        raise _fail("top", "Which label key? e.g. top by label:team")
    return words.take()


def _recommendations(words: _Words) -> Command:
    parts = _scan("recommendations", words)
    if parts.window is not None:
        raise _fail(
            "recommendations",
            "Recommendations always use the configured history; leave out the time window.",
        )
    if parts.label is not None or parts.cluster is not None or parts.vs_previous:
        raise _fail("recommendations", "Recommendations can be narrowed to a namespace only.")
    for word in parts.bare:
        if parts.namespace is not None:
            raise _stray("recommendations", word, ("namespace", "all"))
        _set_namespace("recommendations", parts, word)
    return Recommendations(namespace=parts.namespace, include_all=parts.everything)


# --- identity, audit, help -------------------------------------------------------------------
def _whoami(words: _Words) -> Command:
    if [token.lower() for token in words.tokens[words.pos :]] == ["am", "i"]:
        words.pos = len(words.tokens)  # "who am i"
    words.expect_end("whoami")
    return Whoami()


def _audit(words: _Words) -> Command:
    limit: int | None = None
    if (word := words.peek()) is not None and _is_int(word):
        limit = _number("audit", words.take(), None, 100)
    words.expect_end("audit")
    return Audit(limit=20 if limit is None else limit)


_HELP_TOPICS = {**_ALIASES, "window": "window", "windows": "window", "time": "window"}


def _help(words: _Words) -> Command:
    word = words.peek()
    if word is None or word in ("me", "please"):
        return Help()
    topic = _HELP_TOPICS.get(word) or _HELP_TOPICS.get(_closest(word, _HELP_TOPICS) or "")
    return Help(topic=None if topic == "help" else topic)


# --- digests ---------------------------------------------------------------------------------
_DIGEST_ACTIONS = _table(
    subscribe="sub add create new",
    list="ls show",
    unsubscribe="unsub remove rm delete del cancel stop",
    preview="test try",
)


def _digest(words: _Words) -> Command:
    action = _action("digest", words, _DIGEST_ACTIONS)
    if action is None:
        return Help(topic="digest")
    if action == "subscribe":
        return _subscribe(words)
    if action == "list":
        words.expect_end("digest")
        return DigestList()
    if action == "unsubscribe":
        sub_id = _ident("digest", words.value("digest", "subscription (see `digest list`)"))
        words.expect_end("digest")
        return DigestUnsubscribe(sub_id=sub_id)
    sub = _ident("digest", words.take()) if words.peek() is not None else None
    words.expect_end("digest")
    return DigestPreview(sub_id=sub)


_DAYS = {
    alias: day[:3]
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    for alias in (day, day + "s", day[:3], day[:4] if day[:4] in ("tues", "thur") else day[:3])
} | {"thurs": "thu"}
_TIME = re.compile(r"([0-9]{1,2})(?:[:.h]?([0-9]{2}))?\s*(am|pm)?")
_SUB_WORDS = (
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
    *_DAYS,
)


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


_FREQUENCIES = {"daily": "daily", "day": "daily", "weekly": "weekly", "week": "weekly"}


def _subscribe(words: _Words) -> Command:
    sub = _Sub()
    while (word := words.peek()) is not None:
        raw = words.take()
        if word in _FREQUENCIES:
            sub.frequency = _once("digest", sub.frequency, _FREQUENCIES[word], "schedules")
        elif word in _DAYS:
            sub.day = _once("digest", sub.day, _DAYS[word], "days")
        elif word == "at" or (_TIME.fullmatch(word) and not _is_int(word)):
            text = words.value("digest", "time (HH:MM)") if word == "at" else raw
            sub.at = _once("digest", sub.at, _clock_time(text, words), "times")
        elif word in ("tz", "timezone") or _zone_key(word):
            text = words.value("digest", "time zone") if word in ("tz", "timezone") else raw
            sub.tz = _once("digest", sub.tz, _zone(text), "time zones")
        elif word == "cron":
            sub.cron = _once("digest", sub.cron, _cron(words), "cron expressions")
        elif word in ("namespace", "namespaces", "ns"):
            sub.namespaces += _namespaces(words)
        elif word in ("label", "labels") or _is_pair(word):
            text = raw if _is_pair(word) else words.value("digest", "label (KEY=VALUE)")
            sub.label = _once("digest", sub.label, _pair_from("digest", text, words), "labels")
        elif word in ("all", "everything"):
            sub.everything = True
        elif word not in ("every", "on", "for", "in", "each", "to"):
            raise _stray("digest", raw, _SUB_WORDS)
    return _subscription(sub)


def _subscription(sub: _Sub) -> DigestSubscribe:
    if sub.cron is not None and (sub.frequency or sub.day or sub.at):
        raise _fail(
            "digest",
            "A cron expression is the whole schedule; leave out daily, weekly, "
            "the day and the time.",
        )
    if sub.frequency == "daily" and sub.day is not None:
        raise _fail("digest", "A daily digest has no day; for one day a week write `weekly mon`.")
    scopes = sum((bool(sub.namespaces), sub.label is not None, sub.everything))
    if scopes > 1:
        raise _fail("digest", "Pick one scope: namespaces, one label, or all.")
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


def _namespaces(words: _Words) -> list[str]:
    """One or more namespace names, separated by spaces or commas, up to the next keyword."""
    names = [words.value("digest", "namespace")]
    while (word := words.peek()) is not None and word not in _SUB_WORDS and _names(word):
        names.append(words.take())
    found = [_namespace("digest", n) for text in names for n in text.split(",") if n]
    if not found:
        raise _fail("digest", "Which namespace?")
    return found


def _names(word: str) -> bool:
    return all(_NAME.fullmatch(name) for name in word.split(",") if name)


def _clock_time(text: str, words: _Words) -> str:
    if words.peek() in ("am", "pm"):
        text += words.take()
    match = _TIME.fullmatch(text.lower())
    problem = f"“{_shown(text)}” is not a time of day; write it like 09:00 or 5pm."
    if match is None:
        raise _fail("digest", problem)
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    if match.group(3):
        if not 1 <= hour <= 12:
            raise _fail("digest", problem)
        hour = hour % 12 + (12 if match.group(3) == "pm" else 0)
    if hour > 23 or minute > 59:
        raise _fail("digest", problem)
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
        raise _fail(
            "digest", f"“{_shown(text)}” is not a time zone I know, e.g. Europe/Berlin.", guess
        )
    return zone


_CRON_FIELD = re.compile(r"[0-9A-Za-z*/,?-]{1,40}")


def _cron(words: _Words) -> str:
    """A five-field crontab: quoted as one word, or the next five words."""
    first = words.value("digest", 'cron expression, e.g. cron "0 9 * * mon-fri"')
    fields = first.split()
    while (
        len(fields) < 5 and words.peek() is not None and _CRON_FIELD.fullmatch(words.peek() or "")
    ):
        fields.append(words.take())
    expression = " ".join(fields)
    if len(fields) != 5 or not all(_CRON_FIELD.fullmatch(f) for f in fields):
        raise _fail("digest", f"“{_shown(expression)}” is not a five-field cron expression.")
    from apscheduler.triggers.cron import CronTrigger  # the scheduler that will run it decides

    try:
        CronTrigger.from_crontab(expression, timezone=UTC)
    except ValueError as exc:
        raise _fail("digest", f"That cron expression does not work: {exc}") from None
    return expression


# --- budgets ---------------------------------------------------------------------------------
_BUDGET_ACTIONS = _table(
    set="add create new update", list="ls show", remove="rm delete del unset clear"
)
_AMOUNT = re.compile(
    r"[$€£]?([0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,12})(\.[0-9]{1,6})?([km])?(?:/([a-z]+))?"
)
_MONTHLY = {"month", "months", "mo", "mon", "monthly"}


def _budget(words: _Words) -> Command:
    action = _action("budget", words, _BUDGET_ACTIONS)
    if action is None:
        return Help(topic="budget")
    if action == "list":
        words.expect_end("budget")
        return BudgetList()
    if action == "remove":
        budget_id = _ident("budget", words.value("budget", "budget (see `budget list`)"))
        words.expect_end("budget")
        return BudgetRemove(budget_id=budget_id)
    kind, target = _budget_target(words)
    if words.peek() == "to":
        words.take()
    amount = _amount(words)
    words.expect_end("budget")
    return BudgetSet(kind=kind, target=target, amount=amount)


_BudgetKind: TypeAlias = Literal["namespace", "label", "cluster"]


def _budget_target(words: _Words) -> tuple[_BudgetKind, str]:
    word = words.peek()
    if word in ("namespace", "ns"):
        words.take()
        return "namespace", _namespace("budget", words.value("budget", "namespace"))
    if word in ("label", "labels"):
        words.take()
        return "label", "=".join(_pair_from("budget", words.value("budget", "label"), words))
    if word is not None and _is_pair(word):
        return "label", "=".join(_pair_from("budget", words.take(), words))
    if word == "cluster":
        words.take()
        name = words.peek()
        named = name is not None and _AMOUNT.fullmatch(name) is None and name != "to"
        return "cluster", _cluster("budget", words.take()) if named else ""
    raise _fail("budget", "A budget for what? Say namespace NAME, label KEY=VALUE or cluster.")


def _amount(words: _Words) -> Decimal:
    text = words.value("budget", "amount, e.g. 1500/month").lower()
    match = _AMOUNT.fullmatch(text)
    if match is None:
        raise _fail("budget", f"“{_shown(text)}” is not an amount; write it like 1500/month.")
    number, fraction, scale, per = match.groups()
    amount = Decimal(number.replace(",", "") + (fraction or ""))
    amount *= {"k": 1000, "m": 1_000_000}.get(scale or "", 1)
    following = words.peek() or ""
    if per is None and following in ("per", "a", "every", "/"):
        words.take()
        per = words.take() if words.peek() is not None else ""
    elif per is None and (following in _MONTHLY or following.startswith("/")):
        per = words.take()
    if per is not None and per.lower().lstrip("/") not in _MONTHLY:
        raise _fail("budget", "Budgets are per calendar month; write e.g. 1500/month.")
    if not 0 < amount <= 1_000_000_000:
        raise _fail("budget", "A budget must be more than 0 and at most 1,000,000,000.")
    return amount


# --- small validators ------------------------------------------------------------------------
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?|__[a-z]{1,40}__")
_LABEL_KEY = re.compile(
    r"([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
)
_LABEL_VALUE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_CLUSTER = re.compile(r"[A-Za-z0-9][-A-Za-z0-9_.:/@]{0,199}")
_IDENT = re.compile(r"[A-Za-z0-9][-A-Za-z0-9_.:]{0,63}")
_WINDOW_WORDS = (
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
)


def _is_int(word: str) -> bool:
    return re.fullmatch(r"[0-9]+", word) is not None


def _is_pair(word: str) -> bool:
    key, sep, _ = word.partition("=")
    return bool(sep and key)


def _namespace(topic: str, name: str) -> str:
    if _NAME.fullmatch(name.lower()) is None:
        raise _fail(
            topic,
            f"“{_shown(name)}” is not a namespace name "
            "(lowercase letters, digits and '-', at most 63).",
        )
    return name.lower()


def _cluster(topic: str, name: str) -> str:
    if _CLUSTER.fullmatch(name) is None:
        raise _fail(topic, f"“{_shown(name)}” is not a cluster name.")
    return name


def _label_key(topic: str, key: str) -> str:
    if _LABEL_KEY.fullmatch(key) is None:
        raise _fail(
            topic, f"“{_shown(key)}” is not a label key; e.g. team or app.kubernetes.io/name."
        )
    return key


def _pair_from(topic: str, text: str, words: _Words) -> tuple[str, str]:
    """KEY=VALUE (or KEY:VALUE) in one word, or KEY and VALUE as two words."""
    for prefix in ("label:", "labels:"):
        text = text[len(prefix) :] if text.lower().startswith(prefix) else text
    if "=" not in text and ":" not in text:
        word = words.peek()
        if word is None or looks_like_window(word) or word in _SUB_WORDS or word == _VS:
            raise _fail(topic, f"Write the label as KEY=VALUE, e.g. {text}=payments.")
        return _pair(topic, text, words.take())
    key, _, value = text.partition("=") if "=" in text else text.partition(":")
    return _pair(topic, key, value)


def _pair(topic: str, key: str, value: str) -> tuple[str, str]:
    if not value:
        raise _fail(topic, f"Which value of {_shown(key)}? e.g. {_shown(key)}=payments")
    if _LABEL_VALUE.fullmatch(value) is None:
        raise _fail(topic, f"“{_shown(value)}” is not a label value.")
    return _label_key(topic, key), value


def _ident(topic: str, text: str) -> str:
    text = text.lstrip("#")
    if _IDENT.fullmatch(text) is None:
        raise _fail(topic, f"“{_shown(text)}” is not an id; copy it from the list.")
    return text


def _number(topic: str, word: str, previous: int | None, high: int) -> int:
    if previous is not None:
        raise _fail(topic, "Two numbers; which one did you mean?")
    value = int(word) if len(word) <= 6 else high + 1
    if not 1 <= value <= high:
        raise _fail(topic, f"Pick a number from 1 to {high}.")
    return value


_T = TypeVar("_T")


def _once(topic: str, current: _T | None, new: _T, what: str) -> _T:
    if current is not None:
        raise _fail(topic, f"Two {what}; pick one.")
    return new


def _action(topic: str, words: _Words, actions: dict[str, str]) -> str | None:
    word = words.peek()
    if word is None:
        return None
    if word not in actions:
        raise _stray(topic, words.take(), actions)
    words.take()
    return actions[word]


# --- errors ----------------------------------------------------------------------------------
def _fail(topic: str, message: str, guess: str | None = None) -> UserInputError:
    lead = f"Did you mean `{guess}`?\n\n" if guess else ""
    return UserInputError(message, lead + usage_for(topic))


def _stray(topic: str, word: str, vocabulary: Iterable[str]) -> UserInputError:
    guess = _closest(word.lower(), [*vocabulary, *_WINDOW_WORDS])
    return _fail(topic, f"I don't understand “{_shown(word)}” here.", guess)


def _closest(word: str, candidates: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return close[0] if close and len(word) > 1 else None


def _shown(word: str) -> str:
    return word if len(word) <= 40 else word[:39] + "…"


_PARSERS: dict[str, Callable[[_Words], Command]] = {
    "help": _help,
    "summary": lambda words: _focused("summary", words),
    "namespace": lambda words: _focused("namespace", words),
    "label": lambda words: _focused("label", words),
    "compare": lambda words: _focused("compare", words),
    "trend": lambda words: _focused("trend", words),
    "top": _top,
    "recommendations": _recommendations,
    "whoami": _whoami,
    "audit": _audit,
    "digest": _digest,
    "budget": _budget,
}
