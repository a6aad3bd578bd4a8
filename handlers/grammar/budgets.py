"""`/cost budget …`: set a monthly budget on a namespace, label or cluster; list; remove."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal, TypeAlias

from handlers.grammar.commands import BudgetList, BudgetRemove, BudgetSet, Command, Help
from handlers.grammar.tokens import Words, is_pair
from handlers.grammar.usage import fail, shorten, table
from handlers.grammar.values import action, cluster, ident, namespace, pair_from

_BUDGET_ACTIONS = table(
    set="add create new update", list="ls show", remove="rm delete del unset clear"
)
_AMOUNT = re.compile(
    r"[$€£]?([0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,12})(\.[0-9]{1,6})?([km])?(?:/([a-z]+))?"
)
_MONTHLY = {"month", "months", "mo", "mon", "monthly"}
_BudgetKind: TypeAlias = Literal["namespace", "label", "cluster"]


def parse_budget(words: Words) -> Command:
    found = action("budget", words, _BUDGET_ACTIONS)
    if found is None:
        return Help(topic="budget")
    if found == "list":
        words.expect_end("budget")
        return BudgetList()
    if found == "remove":
        budget_id = ident("budget", words.value("budget", "budget (see `budget list`)"))
        words.expect_end("budget")
        return BudgetRemove(budget_id=budget_id)
    kind, target = _budget_target(words)
    _zone(words)
    if words.peek() == "to":
        words.take()
    amount = _amount(words)
    _zone(words)
    words.expect_end("budget")
    return BudgetSet(
        kind=kind, target=target, amount=amount, tz=words.tz if words.tz_given else None
    )


def _zone(words: Words) -> None:
    """`tz ZONE`: whose calendar months the budget counts (once; `Words.zone` refuses twice)."""
    if words.peek() in ("tz", "timezone"):
        words.take()
        words.zone("budget")


def _budget_target(words: Words) -> tuple[_BudgetKind, str]:
    word = words.peek()
    if word in ("namespace", "ns"):
        words.take()
        return "namespace", namespace("budget", words.value("budget", "namespace"))
    if word in ("label", "labels"):
        words.take()
        return "label", "=".join(pair_from("budget", words.value("budget", "label"), words))
    if word is not None and is_pair(word):
        return "label", "=".join(pair_from("budget", words.take(), words))
    if word == "cluster":
        words.take()
        name = words.peek()
        named = name is not None and _AMOUNT.fullmatch(name) is None and name != "to"
        return "cluster", cluster("budget", words.take()) if named else ""
    raise fail("budget", "A budget for what? Say namespace NAME, label KEY=VALUE or cluster.")


def _amount(words: Words) -> Decimal:
    text = words.value("budget", "amount, e.g. 1500/month").lower()
    match = _AMOUNT.fullmatch(text)
    if match is None:
        raise fail("budget", f"“{shorten(text)}” is not an amount; write it like 1500/month.")
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
        raise fail("budget", "Budgets are per calendar month; write e.g. 1500/month.")
    if not 0 < amount <= 1_000_000_000:
        raise fail("budget", "A budget must be more than 0 and at most 1,000,000,000.")
    return amount
