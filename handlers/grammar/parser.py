"""The entry point of the `/cost` grammar: the first word picks the command's parser.

Pure (`now` is passed in) and total: `parse` returns a Command or raises UserInputError.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from handlers.grammar.budgets import parse_budget
from handlers.grammar.commands import BudgetList, Command, DigestList, Help
from handlers.grammar.costs import (
    csv_export,
    parse_focused,
    parse_recommendations,
    parse_top,
    parse_workload,
)
from handlers.grammar.digests import parse_digest
from handlers.grammar.info import parse_audit, parse_help, parse_whoami
from handlers.grammar.tokens import Words, is_pair, tokens
from handlers.grammar.usage import ALIASES, unknown_command
from services.costs.windows import looks_like_window


def parse(text: str, now: datetime, tz: str = "UTC") -> Command:
    """The command in `text` (what follows `/cost`), windows resolved against `now` in local
    days of `tz` (the asker's zone; a `tz ZONE` option in the text wins)."""
    found = tokens(text)
    if len(found) > 1 and found[-1].lower() == "csv":  # "top 20 by controller csv"
        return csv_export(_parse(Words(found[:-1], now, tz)))
    return _parse(Words(found, now, tz))


def _parse(words: Words) -> Command:
    while words.peek() in ("/cost", "cost"):  # pasted with the command, or typed out of habit
        words.take()
    first = words.peek()
    if first is None:
        return Help()
    if looks_like_window(first) or is_pair(first):
        return parse_focused("summary", words)  # "/cost 30d" is a summary; "/cost team=x" a label
    name = ALIASES.get(first)
    if name is None:
        raise unknown_command(words.take())
    words.take()
    if words.peek() in ("help", "?", "-h", "--help") and name != "help":
        return Help(topic=name)
    if first in ("digests", "budgets"):
        words.expect_end(name)
        return DigestList() if name == "digest" else BudgetList()
    return _PARSERS[name](words)


_PARSERS: dict[str, Callable[[Words], Command]] = {
    "help": parse_help,
    "summary": lambda words: parse_focused("summary", words),
    "namespace": lambda words: parse_focused("namespace", words),
    "label": lambda words: parse_focused("label", words),
    "compare": lambda words: parse_focused("compare", words),
    "trend": lambda words: parse_focused("trend", words),
    "top": parse_top,
    "recommendations": parse_recommendations,
    "workload": parse_workload,
    "whoami": parse_whoami,
    "audit": parse_audit,
    "digest": parse_digest,
    "budget": parse_budget,
}
