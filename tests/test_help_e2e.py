"""Help that helps, and a plain answer for users who may see nothing, over signed requests
against the demo cluster: `help TOPIC`, one-line typos, did-you-mean from visible names only,
the common slips, the workload command, and NoAccess for every cost command."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from handlers.grammar import COMMAND_WORDS
from handlers.render.reply import SHARE_ACTION
from tests.bot_harness import World
from tests.cost_world import money_value, table_after
from tests.rbac_world import (
    ABSENT,
    ADMIN,
    ALICE,
    BOB,
    DAVE,
    all_text,
    amounts,
    leaks,
    normalised,
    shared_world,
)

WINDOW = "7d"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("help")) as (world, _cluster):
        yield world


def _same(one: dict[str, Any], other: dict[str, Any]) -> bool:
    """The same answer, apart from the data time and the Share button (it re-runs the words
    as typed)."""

    def body(reply: dict[str, Any]) -> str:
        kept = [b for b in reply.get("blocks") or [] if b.get("block_id") != "share"]
        return normalised({"blocks": kept}, "\x00")

    return body(one) == body(other)


def _share_buttons(reply: dict[str, Any]) -> list[Any]:
    return [
        element
        for block in reply.get("blocks") or []
        for element in block.get("elements") or []
        if isinstance(element, dict) and element.get("action_id") == SHARE_ACTION
    ]


# --- a user who may see nothing --------------------------------------------------------------
COST_COMMANDS = (
    f"summary {WINDOW}",
    f"ns payments {WINDOW}",
    f"top 5 {WINDOW}",
    f"label team=payments {WINDOW}",
    f"compare {WINDOW}",
    f"trend {WINDOW}",
    "recs",
    f"workload payments/payments-api {WINDOW}",
)


@pytest.mark.parametrize("command", COST_COMMANDS)
def test_a_user_who_may_see_nothing_is_told_who_they_are_and_what_to_ask_for(
    world: World, command: str
) -> None:
    reply = world.ask(command, DAVE)
    text = all_text(reply)
    assert "You can't see any namespace yet" in text, text
    assert "`dave@demo.example` (groups: contractors)" in text, text
    assert "RoleBinding that allows `list pods`" in text, text
    assert "You can't see any namespace yet" in reply["text"]  # what notifications read
    assert not amounts(text), text
    assert "$" not in json.dumps(reply), text
    assert not _share_buttons(reply)
    assert not leaks(reply, DAVE)


def _cost_lookups(world: World) -> float:
    """Every question for cost data the bot asked (its answer cache counts each, hit or miss)."""
    metrics = httpx.get(world.bot.url + "/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("costbot_cache_total{")
    )


def test_no_cost_data_is_fetched_for_the_answer_of_an_empty_scope(world: World) -> None:
    before = _cost_lookups(world)
    world.ask("compare 30d", DAVE)
    refused = _cost_lookups(world) - before
    before = _cost_lookups(world)
    world.ask("compare 29d", ADMIN)
    answered = _cost_lookups(world) - before
    # Dave may see no namespace Kubernetes lists, so nothing is looked up for him at all; the
    # admin's question reads the namespaces in the data (both periods) and then its answer, a
    # block at a time.
    assert refused == 0
    assert answered > 0


def test_a_user_with_access_still_gets_figures_and_a_share_button(world: World) -> None:
    reply = world.ask(f"summary {WINDOW}", ALICE)
    assert amounts(all_text(reply))
    assert _share_buttons(reply)


def test_app_home_and_whoami_still_work_for_a_user_who_may_see_nothing(world: World) -> None:
    text = all_text(world.ask("whoami", DAVE))
    assert "`dave@demo.example`" in text
    assert "Namespaces you may see" in text


# --- help TOPIC ------------------------------------------------------------------------------
@pytest.mark.parametrize("topic", [*(w for w in COMMAND_WORDS if w != "help"), "windows"])
def test_help_topic_answers_about_that_topic_only(world: World, topic: str) -> None:
    reply = world.ask(f"help {topic}", ALICE)
    text = all_text(reply)
    generic = all_text(world.ask("help", ALICE))
    assert text != generic
    if topic == "windows":
        assert "time windows" in reply["blocks"][0]["text"]["text"]
        assert "lastmonth" in text
        assert "YYYY-MM-DD..YYYY-MM-DD" in text
    else:
        assert f"/cost {topic}" in reply["blocks"][0]["text"]["text"]
        others = [w for w in COMMAND_WORDS if w not in (topic, "help") and f"/cost {w} " in text]
        assert not others, (topic, others, text)


def test_help_after_a_command_is_that_commands_help(world: World) -> None:
    assert all_text(world.ask("top help", ALICE)) == all_text(world.ask("help top", ALICE))


# --- typos: one line and the one usage line --------------------------------------------------
def test_a_typo_gets_one_line_and_the_commands_usage_not_the_whole_usage(world: World) -> None:
    text = all_text(world.ask("sumary 7d", ALICE))
    lines = text.splitlines()
    assert len(lines) == 3, text
    assert "sumary" in lines[0]
    assert lines[1] == "Did you mean `summary`?"
    assert lines[2].startswith("`/cost summary")
    assert "`/cost help summary`" in lines[2]


# --- did-you-mean from what the asker may see ------------------------------------------------
def test_a_misspelt_namespace_suggests_the_visible_one(world: World) -> None:
    text = all_text(world.ask(f"ns paymnets {WINDOW}", ALICE))
    assert "No cost data for namespace paymnets" in text
    assert "Did you mean `payments`?" in text


def test_a_hidden_namespace_is_never_suggested(world: World) -> None:
    misspelt = world.ask(f"ns paymnets {WINDOW}", BOB)  # Bob may see only `search`
    assert "Did you mean" not in all_text(misspelt)
    assert not leaks(misspelt, BOB)
    absent = world.ask(f"ns {ABSENT} {WINDOW}", BOB)
    assert normalised(misspelt, "paymnets") == normalised(absent, ABSENT)


@pytest.mark.parametrize(
    ("command", "guess"),
    [
        (f"label team=paymnts {WINDOW}", "team=payments"),
        (f"trend namespace paymnets {WINDOW}", "payments"),
        (f"compare namespace checkuot {WINDOW}", "checkout"),
        (f"workload payments/payments-apii {WINDOW}", "payments/payments-api"),
    ],
)
def test_labels_focuses_and_workloads_suggest_visible_names(
    world: World, command: str, guess: str
) -> None:
    text = all_text(world.ask(command, ALICE))
    assert f"Did you mean `{guess}`?" in text, text


def test_a_misspelt_cluster_suggests_the_visible_cluster(world: World) -> None:
    text = all_text(world.ask(f"trend cluster demo-clustr {WINDOW}", ALICE))
    assert "Did you mean `demo-cluster`?" in text, text


# --- the common slips ------------------------------------------------------------------------
def test_a_leading_cost_and_recs_for_are_understood(world: World) -> None:
    slip = world.ask(f"cost ns payments {WINDOW}", ALICE)
    assert "Namespace payments" in all_text(slip)
    assert _same(slip, world.ask(f"ns payments {WINDOW}", ALICE))
    for text in ("recs for payments", "recommendations for payments"):
        assert _same(world.ask(text, ALICE), world.ask("recs ns payments", ALICE))


def test_top_by_a_label_key_ranks_by_that_label(world: World) -> None:
    reply = world.ask(f"top 5 by team {WINDOW}", ALICE)
    assert reply["blocks"][0]["text"]["text"].endswith(f"by label:team · {WINDOW}")
    assert _same(reply, world.ask(f"top 5 by label:team {WINDOW}", ALICE))
    assert "payments" in all_text(reply)
    assert "checkout" in all_text(reply)


def test_top_by_an_unknown_word_lists_the_dimensions_in_one_line(world: World) -> None:
    text = all_text(world.ask(f"top 5 by flavour {WINDOW}", ALICE))
    assert "“flavour” is neither a dimension nor a label in your data." in text
    assert "namespace, controller, pod, label:KEY, cluster or node" in text
    assert len(text.splitlines()) == 2
    assert not amounts(text)


# --- the workload command --------------------------------------------------------------------
def test_workload_shows_containers_days_and_open_savings(world: World) -> None:
    reply = world.ask("workload payments/payments-api 7d", ALICE)
    text = all_text(reply)
    assert reply["blocks"][0]["text"]["text"] == "Workload payments/payments-api · 7d"
    containers = table_after(reply, "*By container*")[0]
    assert {row[0] for row in containers} == {"api", "envoy"}, text
    days = table_after(reply, "*By day*")[0]
    assert len(days) == 7, text  # six whole days and today so far
    total, _ = money_value(text)
    assert abs(sum(money_value(cost)[0] for _day, cost in days) - total) <= Decimal("0.04")
    assert "Open savings" in text, text  # the demo's payments-api is over-requested
    assert "Right-size api in deployment payments/payments-api" in text, text
    assert _share_buttons(reply)


def test_workload_of_a_hidden_namespace_reads_like_an_absent_one(world: World) -> None:
    hidden = world.ask(f"workload payments/fraud-scorer {WINDOW}", BOB)
    absent = world.ask(f"workload {ABSENT}/fraud-scorer {WINDOW}", BOB)
    assert "No cost data for workload" in all_text(hidden)
    assert normalised(hidden, "payments") == normalised(absent, ABSENT)
