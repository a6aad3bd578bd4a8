"""Usage text for `/cost`, the command words and their aliases, and friendly errors with a guess.

Every UserInputError the grammar raises is built here, so the words users see live in one place.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from services.costs.windows import WINDOW_FORMS
from services.errors import UserInputError

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
    "workload": (
        "/cost workload NS/NAME [WINDOW]  one workload's containers, days and savings:"
        " /cost workload payments/payments-api 30d",
    ),
    "recommendations": (
        "/cost recommendations [namespace NAME] [all] [profile P]  savings to act on (recs)",
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
    "csv": ("/cost QUESTION csv  a cost table as a CSV file in your DMs: /cost top 20 csv",),
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


def table(base: dict[str, str] | None = None, **aliases: str) -> dict[str, str]:
    """{alias: canonical} from canonical="alias alias …" (each canonical maps to itself)."""
    result = dict(base or {})
    for canonical, words in aliases.items():
        result |= dict.fromkeys((canonical, *words.split()), canonical)
    return result


COMMAND_WORDS: tuple[str, ...] = (
    "help", "summary", "namespace", "top", "label", "compare", "trend", "recommendations",
    "workload", "digest", "budget", "whoami", "audit",
)  # fmt: skip
ALIASES: dict[str, str] = table(
    {word: word for word in COMMAND_WORDS},
    namespace="ns namespaces",
    recommendations="recs rec recommendation savings",
    workload="workloads wl",
    summary="total overview summarize",
    trend="trends history",
    compare="comparison diff",
    label="labels",
    whoami="me who identity",
    digest="digests",
    budget="budgets",
    help="? -h --help usage",
)
# The window keywords a typo may be close to (the date-range form is not a word).
_WINDOW_WORDS = tuple(form for form in WINDOW_FORMS if ".." not in form)


def usage_for(topic: str | None) -> str:
    """Usage lines for one topic (a COMMAND_WORDS entry or "window"), or everything."""
    if topic is None or topic not in _USAGE:
        return USAGE
    plain = ("whoami", "audit", "recommendations", "window", "digest", "budget")
    extra = () if topic in plain else _USAGE["window"]
    return "\n".join((*_USAGE[topic], *extra))


def brief(topic: str) -> str:
    """What an error shows under its one line: the usage of just that command (a few lines
    for digest and budget, which have sub-commands) and where the rest of its help is."""
    lines = [f"`{line.strip()}`" for line in _USAGE.get(topic, ())]
    more = f"`/cost help {topic}`" if topic in _USAGE else "`/cost help`"
    return "\n".join([*lines[:-1], f"{lines[-1]} · more: {more}"] if lines else [more])


def unknown_command(word: str) -> UserInputError:
    """The error for a first word that is no command: the closest command and its usage line,
    or where to look; never the whole usage."""
    shown = shorten(word)
    if word.lower() in ("cluster", "clusters"):
        hint = "For clusters try `top by cluster` or `compare cluster NAME`."
        return UserInputError(f"“{shown}” is not a command on its own.", f"{hint}\n{brief('top')}")
    guess = closest(word.lower(), ALIASES)
    if guess:
        meant = ALIASES[guess]
        return UserInputError(
            f"I don't know the command “{shown}”.", f"Did you mean `{meant}`?\n{brief(meant)}"
        )
    return UserInputError(
        f"I don't know the command “{shown}”.",
        "To see one namespace: `namespace NAME`. `/cost help` lists every command.",
    )


def fail(topic: str, message: str, guess: str | None = None) -> UserInputError:
    """The error for a problem within one command: the message, a guess, then that usage."""
    lead = f"Did you mean `{guess}`?\n" if guess else ""
    return UserInputError(message, lead + brief(topic))


def stray(topic: str, word: str, vocabulary: Iterable[str]) -> UserInputError:
    """The error for a word that does not belong, guessing from `vocabulary` and window words."""
    guess = closest(word.lower(), [*vocabulary, *_WINDOW_WORDS])
    return fail(topic, f"I don't understand “{shorten(word)}” here.", guess)


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate `word` was probably meant to be (did-you-mean), if any is close enough."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return close[0] if close and len(word) > 1 else None


def shorten(word: str) -> str:
    """User text as quoted back in an error: at most 40 characters."""
    return word if len(word) <= 40 else word[:39] + "…"
