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
from typing import Literal, TypeAlias
from zoneinfo import available_timezones

import msgspec

from services.errors import BadWindow, UserInputError
from services.windows import DEFAULT_WINDOW, TimeRange, looks_like_window, parse_window


# --- commands --------------------------------------------------------------------------------
class _Command(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """Base of every parsed command (tagged by class name when encoded)."""


class Help(_Command):
    topic: str | None = None  # a COMMAND_WORDS entry or "window"; None = everything


class Summary(_Command):
    window: TimeRange


class NamespaceQuery(_Command):
    namespace: str
    window: TimeRange


Dimension: TypeAlias = Literal["namespace", "controller", "pod", "label", "cluster", "node"]


class Top(_Command):
    window: TimeRange
    k: int = 10
    dimension: Dimension = "namespace"
    label_key: str | None = None  # set iff dimension == "label"

    def aggregate(self) -> str:
        """The OpenCost `aggregate` value, e.g. "controller" or "label:team"."""
        return f"label:{self.label_key}" if self.dimension == "label" else self.dimension


class LabelQuery(_Command):
    key: str
    value: str
    window: TimeRange


class Focus(msgspec.Struct, frozen=True, kw_only=True):
    """What part of the visible cost a compare/trend looks at; all None = everything."""

    namespace: str | None = None
    label: tuple[str, str] | None = None
    cluster: str | None = None


class Compare(_Command):
    focus: Focus
    window: TimeRange


class Trend(_Command):
    focus: Focus
    window: TimeRange


class Recommendations(_Command):
    namespace: str | None = None
    include_all: bool = False  # also acknowledged, snoozed and dismissed ones


class Whoami(_Command):
    pass


class Audit(_Command):
    limit: int = 20


class DigestSubscribe(_Command):
    """Subscribe this channel. No scope given means everything the subscriber may see."""

    frequency: Literal["daily", "weekly", "cron"] = "weekly"
    day: str = "mon"  # mon..sun, used when weekly
    at: str = "09:00"  # HH:MM in `tz`
    tz: str | None = None  # IANA zone, validated; None = UTC
    cron: str | None = None  # five-field crontab, validated, when frequency == "cron"
    namespaces: tuple[str, ...] = ()
    label: tuple[str, str] | None = None
    everything: bool = False


class DigestList(_Command):
    pass


class DigestUnsubscribe(_Command):
    sub_id: str


class DigestPreview(_Command):
    sub_id: str | None = None  # None = what this channel's digest would look like now


class BudgetSet(_Command):
    kind: Literal["namespace", "label", "cluster"]
    target: str  # namespace name, "key=value", or cluster name ("" = every cluster)
    amount: Decimal
    period: Literal["month"] = "month"


class BudgetList(_Command):
    pass


class BudgetRemove(_Command):
    budget_id: str


Command: TypeAlias = (
    Help | Summary | NamespaceQuery | Top | LabelQuery | Compare | Trend | Recommendations
    | Whoami | Audit | DigestSubscribe | DigestList | DigestUnsubscribe | DigestPreview
    | BudgetSet | BudgetList | BudgetRemove
)  # fmt: skip


# --- usage -----------------------------------------------------------------------------------
_USAGE: dict[str, tuple[str, ...]] = {
    "summary": ("/cost summary [WINDOW]   total for everything you may see, e.g. /cost summary 30d",),
    "namespace": ("/cost namespace NAME [WINDOW]   one namespace (alias ns), e.g. /cost ns payments lastweek",),
    "top": ("/cost top [K] [by DIM] [WINDOW]   biggest spenders, e.g. /cost top 5 by controller 30d",
            "   DIM: namespace, controller, pod, label:KEY, cluster, node"),
    "label": ("/cost label KEY=VALUE [WINDOW]   e.g. /cost label team=payments month",),
    "compare": ("/cost compare [SCOPE] [WINDOW]   vs the period before, e.g. /cost compare ns payments lastweek",),
    "trend": ("/cost trend [SCOPE] [WINDOW]   daily spend with a chart, e.g. /cost trend label team=search 30d",),
    "recommendations": ("/cost recommendations [namespace NAME] [all]   savings to act on (alias recs, savings)",),
    "digest": ("/cost digest subscribe [daily | weekly DAY] [at HH:MM] [tz ZONE] [namespace NAME... | label KEY=VALUE | all]",
               "   e.g. /cost digest subscribe weekly mon at 09:00 tz Europe/Berlin namespace payments",
               "/cost digest list   |   /cost digest unsubscribe ID   |   /cost digest preview [ID]"),
    "budget": ("/cost budget set namespace NAME 1500/month   (or label KEY=VALUE 2000, or cluster [NAME] 10000)",
               "/cost budget list   |   /cost budget remove ID"),
    "whoami": ("/cost whoami   your Kubernetes identity and what you may see",),
    "audit": ("/cost audit [N]   the last N audit events (admins)",),
    "window": ("WINDOW: 24h 7d 30d 2w today yesterday week lastweek month lastmonth YYYY-MM-DD..YYYY-MM-DD (UTC; default 7d)",
               "SCOPE: namespace NAME | label KEY=VALUE | cluster NAME"),
}  # fmt: skip
USAGE: str = "\n".join(
    ["/cost   help (this text)   /cost help TOPIC for one command"]
    + [line for lines in _USAGE.values() for line in lines]
)
COMMAND_WORDS: tuple[str, ...] = (
    "help", "summary", "namespace", "top", "label", "compare", "trend", "recommendations",
    "digest", "budget", "whoami", "audit",
)  # fmt: skip
_ALIASES: dict[str, str] = {
    **{word: word for word in COMMAND_WORDS},
    **dict.fromkeys(("ns", "namespaces"), "namespace"),
    **dict.fromkeys(("recs", "rec", "recommendation", "savings"), "recommendations"),
    **dict.fromkeys(("total", "overview", "summarize"), "summary"),
    **dict.fromkeys(("trends", "history"), "trend"),
    **dict.fromkeys(("comparison", "diff"), "compare"),
    **dict.fromkeys(("labels",), "label"),
    **dict.fromkeys(("me", "who", "identity"), "whoami"),
    **dict.fromkeys(("digests",), "digest"),
    **dict.fromkeys(("budgets",), "budget"),
    **dict.fromkeys(("?", "-h", "--help", "usage"), "help"),
}


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
    if plural := {"digests": DigestList(), "budgets": BudgetList()}.get(first):
        words.expect_end(name)
        return plural
    return _PARSERS[name](words)


def _unknown_command(word: str) -> UserInputError:
    shown = _shown(word)
    if word.lower() in ("cluster", "clusters"):
        hint = "For clusters try `top by cluster` or `compare cluster NAME`."
        return UserInputError(f"“{shown}” is not a command on its own.", f"{hint}\n\n{USAGE}")
    guess = _closest(word.lower(), _ALIASES)
    lead = f"Did you mean `{_ALIASES[guess]}`?" if guess else "To see one namespace: `namespace NAME`."
    return UserInputError(f"I don't know the command “{shown}”.", f"{lead}\n\n{USAGE}")


# --- tokens ----------------------------------------------------------------------------------
_SMART = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "\u00a0": " "})
_TOKEN = re.compile(r"""(?:[^\s"'=]+=)?(?:"[^"]*"|'[^']*')|\S+""")
_SPLIT_KEYS = {"namespace", "ns", "label", "labels", "cluster", "by", "tz", "timezone", "at",
               "window", "top", "limit", "k", "day", "cron"}  # fmt: skip
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
    out: list[str] = []
    i = 0
    while i < len(tokens):
        word, after = tokens[i].lower(), [t.lower() for t in tokens[i + 1 : i + 3]]
        if word in ("last", "this") and after[:1] and after[0] in ("week", "month"):
            out.append(word + after[0])
            i += 2
        elif word.isdigit() and after[:1] and after[0] in _UNITS:
            out.append(word + after[0])
            i += 2
        elif len(after) == 2 and after[0] in ("to", "-", "..", "–") and _is_date_pair(word, after):
            out.append(f"{word}..{after[1]}")
            i += 3
        elif word in ("vs", "vs.", "versus"):
            out.append(_VS)
            i += 2 if after[:1] and after[0] in ("prev", "previous", "before", "last") else 1
        elif word in _FILLERS and after[:1] and (looks_like_window(after[0]) or after[0] == "last"):
            i += 1
        else:
            out.append(tokens[i])
            i += 1
    return out


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
            if parts.window is not None:
                raise _fail(topic, f"Two time windows ({parts.window} and {raw}); pick one.")
            parts.window = raw
        elif word in ("namespace", "ns"):
            _set_namespace(topic, parts, words.value(topic, "namespace"))
        elif word in ("label", "labels"):
            parts.label = _pair(topic, words.value(topic, "label (KEY=VALUE)"), words)
        elif word == "cluster":
            parts.cluster = _cluster(topic, words.value(topic, "cluster"))
        elif word in ("all", "everything"):
            parts.everything = True
        elif _is_pair(word):
            parts.label = _pair(topic, raw, words)
        else:
            parts.bare.append(raw)
    return parts


def _focused(topic: str, words: _Words) -> Command:
    """summary / namespace / label / compare / trend: they differ only in what they require."""
    parts = _scan(topic, words)
    for word in parts.bare:
        if topic == "summary" or parts.namespace is not None:
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


_DIMENSIONS: dict[str, Dimension] = {
    **dict.fromkeys(("namespace", "namespaces", "ns"), "namespace"),
    **dict.fromkeys(("controller", "controllers", "deployment", "deployments", "workload",
                     "workloads", "statefulset", "statefulsets"), "controller"),  # fmt: skip
    **dict.fromkeys(("pod", "pods"), "pod"),
    **dict.fromkeys(("cluster", "clusters"), "cluster"),
    **dict.fromkeys(("node", "nodes"), "node"),
    **dict.fromkeys(("label", "labels"), "label"),
}


def _top(words: _Words) -> Command:
    k: int | None = None
    dimension: Dimension | None = None
    label_key: str | None = None
    window: str | None = None
    while (word := words.peek()) is not None:
        raw = words.take()
        if word == "by":
            word = words.value("top", "dimension").lower()
        if word.isdigit():
            k = _number("top", word, k, 1, 50, "how many")
        elif looks_like_window(word):
            window = _once("top", window, raw, "time windows")
        elif word in _DIMENSIONS or word.startswith(("label:", "labels:")):
            dimension = _once("top", dimension, _DIMENSIONS.get(word, "label"), "dimensions")
            if dimension == "label":
                key = word.partition(":")[2] or _label_key_after(words)
                label_key = _label_key("top", raw[len(raw) - len(key) :] if key else "")
        else:
            raise _stray("top", raw, (*_DIMENSIONS, "by"))
    return Top(window=words.window(window), k=10 if k is None else k,
               dimension=dimension or "namespace", label_key=label_key)  # fmt: skip


def _label_key_after(words: _Words) -> str:
    word = words.peek()
    if word is None or word.isdigit() or word == "by" or looks_like_window(word):
        raise _fail("top", "Which label key? e.g. top by label:team")
    return words.take()


def _recommendations(words: _Words) -> Command:
    parts = _scan("recommendations", words)
    if parts.window is not None:
        raise _fail("recommendations", "Recommendations always use the configured history; "
                    "leave out the time window.")  # fmt: skip
    if parts.label is not None or parts.cluster is not None or parts.vs_previous:
        raise _fail("recommendations", "Recommendations can be narrowed to a namespace only.")
    for word in parts.bare:
        if parts.namespace is not None:
            raise _stray("recommendations", word, ("namespace", "all"))
        _set_namespace("recommendations", parts, word)
    return Recommendations(namespace=parts.namespace, include_all=parts.everything)


# --- identity, audit, help -------------------------------------------------------------------
def _whoami(words: _Words) -> Command:
    if [words.peek(), *words.tokens[words.pos + 1 :]] in (["am", "i"], ["am", "I"]):
        words.pos = len(words.tokens)  # "who am i"
    words.expect_end("whoami")
    return Whoami()


def _audit(words: _Words) -> Command:
    limit: int | None = None
    if (word := words.peek()) is not None and word.isdigit():
        limit = _number("audit", words.take(), None, 1, 100, "how many")
    words.expect_end("audit")
    return Audit(limit=20 if limit is None else limit)


_HELP_TOPICS = {**_ALIASES, "window": "window", "windows": "window", "time": "window"}


def _help(words: _Words) -> Command:
    word = words.peek()
    if word is None:
        return Help()
    topic = _HELP_TOPICS.get(word) or _HELP_TOPICS.get(_closest(word, _HELP_TOPICS) or "")
    return Help(topic=None if topic == "help" else topic)


# --- digests ---------------------------------------------------------------------------------
_DIGEST_ACTIONS = {
    **dict.fromkeys(("subscribe", "sub", "add", "create", "new"), "subscribe"),
    **dict.fromkeys(("list", "ls", "show"), "list"),
    **dict.fromkeys(("unsubscribe", "unsub", "remove", "rm", "delete", "del", "cancel", "stop"),
                    "unsubscribe"),  # fmt: skip
    **dict.fromkeys(("preview", "test", "try"), "preview"),
}


def _digest(words: _Words) -> Command:
    action = _action("digest", words, _DIGEST_ACTIONS)
    if action == "subscribe":
        from handlers.grammar_digest import parse_subscribe  # noqa: F401  (placeholder)
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
