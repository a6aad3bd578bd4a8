"""Support for the cost-answer end-to-end tests: a bot world with chosen OpenCost stand-ins and
settings, and readers that pull money figures back out of rendered replies.

The world is the same real bot under uvicorn as `tests.bot_harness.world`; only the OpenCost
side (one or several stand-ins, a Kubecost `/model` base) and a few settings differ.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.settings import Settings
from tests.bot_harness import BotServer, MovableClock, World, demo_world_env, seed_slack_users
from tests.standins.fixtures import SIGNING_SECRET
from tests.standins.kube import KubeApiStandIn
from tests.standins.opencost import OpenCostStandIn
from tests.standins.signing import SignedSlackClient
from tests.standins.slack import SlackStandIn

ADMIN = "U0DEMOADMIN"
_MONEY = re.compile(r"([−-]?)\$([0-9,]+(?:\.[0-9]{2})?)")


@contextmanager
def cost_world(
    redis_url: str,
    tmp: Path,
    opencost: Mapping[str, OpenCostStandIn],
    *,
    clock: MovableClock | None = None,
    base_suffix: str = "",
    **settings: Any,
) -> Iterator[World]:
    """The real bot wired to these (already started) OpenCost stand-ins.

    One stand-in under the key "" is `OPENCOST_URL` (plus `base_suffix`, e.g. "/model"); any
    other keys become `OPENCOST_CLUSTERS`. `settings` override the harness defaults.
    """
    clock = clock or MovableClock()
    first = next(iter(opencost.values()))
    with SlackStandIn() as slack:
        kube = KubeApiStandIn()
        kube.start()
        seed_slack_users(slack)
        env = demo_world_env(slack, first, kube, redis_url, tmp)
        if list(opencost) == [""]:
            env["opencost_url"] = first.base_url + base_suffix
        else:
            env.pop("opencost_url")
            env["opencost_clusters"] = {name: s.base_url for name, s in opencost.items()}
            # One Kubernetes stand-in decides every cluster here (tests/test_multicluster.py
            # gives each cluster its own).
            env["authz_shared_across_clusters"] = len(opencost) > 1
        env.update(settings)
        bot = BotServer(Settings(**env), clock).start()
        client = SignedSlackClient(bot.url + "/slack/events", SIGNING_SECRET)
        try:
            yield World(bot, slack, first, kube, client, clock)
        finally:
            client.close()
            bot.stop()
            kube.stop()


def flush_cache(world: World) -> None:
    """Forget every cached answer (and authorization decision) the bot keeps in Redis."""
    assert world.bot.runtime is not None
    world.bot.call(world.bot.runtime.redis.flushdb())


# --- reading replies ---------------------------------------------------------------------------
def texts(reply: Mapping[str, Any]) -> list[str]:
    """Every text of every block, in order (section text, context elements, header)."""
    found: list[str] = []
    for block in reply.get("blocks") or []:
        parts = [block.get("text"), *(block.get("fields") or []), *(block.get("elements") or [])]
        found += [
            p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)
        ]
    return found


def all_text(reply: Mapping[str, Any]) -> str:
    return "\n".join(texts(reply))


def money_value(text: str) -> tuple[Decimal, Decimal]:
    """The first `$1,234.56` in `text` as (value, half of its last shown digit)."""
    match = _MONEY.search(text)
    assert match is not None, f"no money figure in {text!r}"
    digits = match.group(2).replace(",", "")
    value = Decimal(digits) * (-1 if match.group(1) else 1)
    half = Decimal("0.005") if "." in digits else Decimal("0.5")
    return value, half


def money_figures(text: str) -> list[str]:
    """Every money figure in `text`, sign included: ['$1.00', '−$2.50']."""
    return [match.group(0) for match in _MONEY.finditer(text)]


def assert_money(shown: str, exact: Decimal, what: str = "") -> None:
    """`shown` (a rendered figure) is `exact` rounded to the digits it shows: to the cent."""
    value, half = money_value(shown)
    slack = half + Decimal("1e-9")  # float sums may land either side of an exact half-cent
    assert abs(value - exact) <= slack, f"{what}: shown {shown!r}, rows sum to {exact}"


def headline(reply: Mapping[str, Any]) -> str:
    """The first section text with a bold money figure (the answer's total)."""
    for text in texts(reply):
        if text.startswith(("*$", "*−$")) or ("* vs " in text and "$" in text):
            return text
    raise AssertionError(f"no headline in {texts(reply)}")


def tables(reply: Mapping[str, Any]) -> list[tuple[str, list[list[str]], str]]:
    """Each ``` table as (text before it, rows of cells without the header row, text after)."""
    found = []
    for text in texts(reply):
        pieces = text.split("```")
        for i in range(1, len(pieces) - 1, 2):
            lines = [line for line in pieces[i].split("\n") if line.strip()]
            rows = [re.split(r" {2,}", line.strip()) for line in lines[1:]]
            found.append((pieces[i - 1], rows, pieces[i + 1]))
    return found


def table_after(reply: Mapping[str, Any], title: str) -> tuple[list[list[str]], str]:
    """The rows of the table whose preceding text contains `title`, and the text after it."""
    for before, rows, after in tables(reply):
        if title in before:
            return rows, after
    raise AssertionError(f"no table titled {title!r} in {texts(reply)}")


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
