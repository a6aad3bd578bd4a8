"""The RBAC leak matrix, end to end over signed HTTP: every demo user × every command × every
namespace. No reply may name or price a namespace its asker may not see, and every total must
equal the sum of the asker's visible rows, computed here from the OpenCost stand-in's own data.

One bot world serves the whole module (its cache is part of what is tested: users share cached
OpenCost answers, never each other's scopes).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, timedelta
from decimal import Decimal
from typing import Any

import pytest

from demo.cluster import DemoCluster
from tests.bot_harness import World
from tests.rbac_world import (
    ABSENT,
    ADMIN,
    ALICE,
    BOB,
    CAROL,
    CLUSTER_WIDE,
    DAVE,
    MALLORY,
    NAMESPACES,
    SEES,
    STRANGER,
    Ledger,
    all_text,
    amounts,
    click,
    find_rec,
    first_amount,
    leaks,
    near,
    normalised,
    rec_items,
    shared_world,
    table_rows,
    texts,
    visible_teams,
    wait_for_audit,
)

TEAM_VALUES = ("payments", "checkout", "search", "data", "ml", "web", "platform")
DIMENSIONS = ("namespace", "controller", "pod", "node", "cluster", "label:team")
MAPPED = (ADMIN, ALICE, BOB, CAROL, DAVE)
UNMAPPED = (MALLORY, STRANGER)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, Ledger]]:
    with shared_world(tmp_path_factory.mktemp("leak-matrix")) as (world, cluster):
        yield world, _ledger(world, cluster)


def _ledger(world: World, cluster: DemoCluster) -> Ledger:
    today = world.clock.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return Ledger(cluster, today - timedelta(days=7), 7)


def _ask_all(world: World, user: str, commands: list[str]) -> dict[str, dict[str, Any]]:
    """Every command as `user`, a few at a time, as several people would type them."""
    with ThreadPoolExecutor(max_workers=6) as pool:
        replies = pool.map(lambda text: world.ask(text, user, timeout=60), commands)
        return dict(zip(commands, replies, strict=True))


def _commands(window: str) -> list[str]:
    names = [*NAMESPACES, ABSENT]
    return [
        f"summary {window}",
        "summary",
        *(f"top 50 by {dim} {window}" for dim in DIMENSIONS),
        f"compare {window}",
        f"trend {window}",
        "recs",
        "recs all",
        "whoami",
        "digest list",
        *(f"ns {ns} {window}" for ns in names),
        *(f"compare namespace {ns} {window}" for ns in names),
        *(f"trend namespace {ns} {window}" for ns in names),
        *(f"recs namespace {ns}" for ns in names),
        *(f"label team={team} {window}" for team in (*TEAM_VALUES, ABSENT)),
    ]


# --- the matrix --------------------------------------------------------------------------------
@pytest.mark.parametrize("user", [*MAPPED, *UNMAPPED])
def test_no_reply_names_or_prices_what_the_asker_may_not_see(
    matrix: tuple[World, Ledger], user: str
) -> None:
    world, ledger = matrix
    replies = _ask_all(world, user, _commands(ledger.window))
    for command, reply in replies.items():
        # A name the user typed may be echoed (as for a missing one); see the next check.
        typed = re.split(r"[\s=]", command)
        found = [name for name in leaks(reply, user) if name not in typed]
        assert not found, (user, command, found, all_text(reply))
    if SEES[user] is None:
        _assert_only_the_unmapped_answer(replies, user)
        return
    _assert_hidden_reads_like_absent(replies, user, ledger.window)
    _assert_no_hidden_figures(replies, user, ledger)


def _assert_only_the_unmapped_answer(replies: dict[str, dict[str, Any]], user: str) -> None:
    for command, reply in replies.items():
        text = all_text(reply)
        assert user in text, (command, text)
        assert "identity map" in text, (command, text)
        assert not amounts(text), (command, text)


def _assert_hidden_reads_like_absent(
    replies: dict[str, dict[str, Any]], user: str, window: str
) -> None:
    """Asking about a namespace (or team) you may not see answers exactly as a missing one."""
    sees = SEES[user] or frozenset()
    forms = ("ns {} " + window, "compare namespace {} " + window, "trend namespace {} " + window)
    for form in (*forms, "recs namespace {}"):
        absent = normalised(replies[form.format(ABSENT)], ABSENT)
        for ns in NAMESPACES:
            if ns not in sees:
                hidden = normalised(replies[form.format(ns)], ns)
                assert hidden == absent, (user, form.format(ns), hidden, absent)
    absent = normalised(replies[f"label team={ABSENT} {window}"], f"team={ABSENT}")
    for team in set(TEAM_VALUES) - visible_teams(user):
        hidden = normalised(replies[f"label team={team} {window}"], f"team={team}")
        assert hidden == absent, (user, team, hidden)


def _assert_no_hidden_figures(
    replies: dict[str, dict[str, Any]], user: str, ledger: Ledger
) -> None:
    """No figure equal to a hidden namespace's cost (this window or the one before)."""
    if user in CLUSTER_WIDE:
        return
    sees = SEES[user] or frozenset()
    hidden = {
        cost.quantize(Decimal("0.01"))
        for costs in (ledger.now, ledger.before)
        for name, cost in costs.items()
        if name not in sees
    }
    mine = {cost.quantize(Decimal("0.01")) for cost in ledger.now.values()} - hidden
    for command, reply in replies.items():
        shown = set(amounts(all_text(reply))) - mine
        assert not shown & hidden, (user, command, sorted(shown & hidden))


@pytest.mark.parametrize("user", MAPPED)
def test_every_total_is_the_sum_of_the_askers_visible_rows(
    matrix: tuple[World, Ledger], user: str
) -> None:
    world, ledger = matrix
    window = ledger.window
    expected = Ledger.visible(ledger.now, user)
    commands = [
        f"summary {window}",
        f"compare {window}",
        f"trend {window}",
        *(f"top 50 by {dim} {window}" for dim in DIMENSIONS),
    ]
    replies = _ask_all(world, user, commands)
    if not SEES[user]:
        _assert_told_no_access(replies, user)
        return
    summary = replies[f"summary {window}"]
    assert near(first_amount(texts(summary)[1]), expected), (user, texts(summary), expected)
    _assert_summary_rows(summary, user, ledger)
    _assert_compare(replies[f"compare {window}"], user, ledger)
    _assert_trend(replies[f"trend {window}"], user, ledger)
    for dim in DIMENSIONS:
        _assert_top(replies[f"top 50 by {dim} {window}"], user, dim, expected)


def _assert_told_no_access(replies: dict[str, dict[str, Any]], user: str) -> None:
    """A user who may see no namespace gets no figures, only how to get access."""
    for command, reply in replies.items():
        text = all_text(reply)
        assert "You can't see any namespace yet" in text, (user, command, text)
        assert not amounts(text), (user, command, text)


def _namespace_of(cell: str, dim: str) -> str:
    """The namespace of a table cell (`ns/name`, the namespace maybe clipped to `na…`)."""
    if dim == "namespace":
        return cell
    prefix = cell.split("/", 1)[0]
    if not prefix.endswith("…"):
        return prefix
    matches = [ns for ns in NAMESPACES if ns.startswith(prefix[:-1])]
    assert len(matches) == 1, (cell, matches)
    return matches[0]


def _assert_summary_rows(reply: dict[str, Any], user: str, ledger: Ledger) -> None:
    rows = table_rows(next((t for t in texts(reply) if "*Top namespaces*" in t), ""))
    sees = SEES[user] or frozenset()
    for name, cost, _share in rows:
        if user not in CLUSTER_WIDE:
            assert name in sees, (user, name)
        assert near(first_amount(cost), ledger.now[name]), (user, name, cost)


def _assert_compare(reply: dict[str, Any], user: str, ledger: Ledger) -> None:
    now, before = amounts(texts(reply)[1])[:2]
    assert near(now, Ledger.visible(ledger.now, user)), (user, texts(reply)[1])
    assert near(before, Ledger.visible(ledger.before, user)), (user, texts(reply)[1])


def _assert_trend(reply: dict[str, Any], user: str, ledger: Ledger) -> None:
    assert near(first_amount(texts(reply)[1]), Ledger.visible(ledger.now, user))
    table = next((t for t in texts(reply) if "```" in t), "")
    rows = table_rows(table)
    assert len(rows) == len(ledger.days), (user, table)
    for row, expected in zip(rows, ledger.days, strict=True):  # day, bar (none at 0), cost
        day, cost = row[0], row[-1]
        assert near(first_amount(cost), Ledger.visible(expected, user)), (user, day, cost)


def _assert_top(reply: dict[str, Any], user: str, dim: str, expected: Decimal) -> None:
    if dim == "node" and user not in CLUSTER_WIDE:  # nodes are cluster-wide figures
        assert "only people with cluster-wide access" in all_text(reply), (user, reply)
        assert not amounts(all_text(reply)), (user, reply)
        return
    head, *rest = texts(reply)[1:]
    assert near(first_amount(head), expected), (user, dim, head)
    table = next((t for t in rest if "```" in t), "")
    rows = table_rows(table)
    sees = SEES[user] or frozenset()
    listed = sum((first_amount(cost) for _name, cost, _share in rows), Decimal(0))
    more = amounts(table.split("```")[-1])
    # Each shown figure is rounded to the cent: allow half a cent per row.
    slack = Decimal("0.005") * (len(rows) + len(more)) + Decimal("0.01")
    assert near(listed + sum(more, Decimal(0)), expected, slack), (user, dim, listed, more)
    if user in CLUSTER_WIDE:
        return
    for name, _cost, _share in rows:
        if dim in ("namespace", "controller", "pod"):
            assert _namespace_of(name, dim) in sees, (user, dim, name)
        if dim == "label:team":
            assert name in visible_teams(user), (user, dim, name)


@pytest.mark.parametrize("user", MAPPED)
def test_namespace_label_and_recommendation_figures_match_the_visible_rows(
    matrix: tuple[World, Ledger], user: str
) -> None:
    world, ledger = matrix
    window = ledger.window
    sees = sorted(SEES[user] or ())
    commands = [f"ns {ns} {window}" for ns in sees]
    commands += [f"label team={team} {window}" for team in sorted(visible_teams(user))]
    commands += ["recs", *(f"recs namespace {ns}" for ns in sees)]
    replies = _ask_all(world, user, commands)
    if not sees:
        _assert_told_no_access(replies, user)
        return
    for ns in sees:
        head = texts(replies[f"ns {ns} {window}"])[1]
        assert near(first_amount(head), ledger.now[ns]), (user, ns, head)
    for team in visible_teams(user):
        head = texts(replies[f"label team={team} {window}"])[1]
        assert near(first_amount(head), ledger.team(user, team)), (user, team, head)
    for command in ["recs", *(f"recs namespace {ns}" for ns in sees)]:
        _assert_recs_add_up(replies[command], user)


def _assert_recs_add_up(reply: dict[str, Any], user: str) -> None:
    """Recommendations name only visible workloads, and the headline adds up what is listed."""
    sees = SEES[user] or frozenset()
    items = rec_items(reply)
    for _id, _value, text in items:
        target = text.split("`")[1] if "`" in text else ""
        if target:
            assert target.split("/", 1)[0] in sees, (user, text)
        else:
            assert user in CLUSTER_WIDE, (user, text)  # cluster-level items: admins only
    if "more; narrow with" in all_text(reply):
        return
    no_claim = ("*risk*", "*below the minimum we recommend*")  # these claim no savings
    savings = [
        first_amount(text) for _id, _v, text in items if not any(m in text for m in no_claim)
    ]
    if not savings:
        assert "No savings to act on" in texts(reply)[1], (user, texts(reply)[1])
        return
    headline = first_amount(texts(reply)[1])
    slack = Decimal("0.005") * (len(savings) + 1)
    assert near(sum(savings, Decimal(0)), headline, slack), (user, headline, savings)


# --- buttons are re-authorized for the clicker ---------------------------------------------------
def test_forged_button_for_another_namespace_changes_nothing_and_is_audited(
    matrix: tuple[World, Ledger],
) -> None:
    world, _ = matrix
    fraud = find_rec(world.ask("recs namespace payments", ALICE), "payments/fraud-scorer")
    url = click(world, BOB, "rec_ack", fraud[1])
    answer = world.slack.responses(url)[-1]
    assert answer.get("replace_original") is False
    assert "not available to you" in answer["text"]
    assert "fraud-scorer" not in answer["text"]
    assert "payments" not in answer["text"]
    wait_for_audit(world, "recommendation_rejected", rec_id=fraud[0])
    still = find_rec(world.ask("recs namespace payments", ALICE), "payments/fraud-scorer")
    assert still == fraud  # still open, same version, same buttons


def test_forged_button_from_a_user_who_sees_nothing_is_rejected(
    matrix: tuple[World, Ledger],
) -> None:
    world, _ = matrix
    target = rec_items(world.ask("recs namespace monitoring", CAROL))[0]
    for user, words in ((DAVE, ":no_entry:"), (ALICE, ":no_entry:"), (MALLORY, "identity map")):
        url = click(world, user, "rec_snooze_30", target[1])
        text = world.slack.responses(url)[-1].get("text", "")
        assert "monitoring" not in text, (user, text)
        assert words in text, (user, text)
    assert target in rec_items(world.ask("recs namespace monitoring", CAROL))


def test_forged_details_button_shows_no_evidence_of_a_hidden_namespace(
    matrix: tuple[World, Ledger],
) -> None:
    world, _ = matrix
    target = find_rec(world.ask("recs namespace search", BOB), "search/")
    before = len(world.slack.calls_to("views.open"))
    url = click(world, ALICE, "rec_details", target[1])
    assert "not available to you" in world.slack.responses(url)[-1]["text"]
    assert len(world.slack.calls_to("views.open")) == before


def test_whoami_lists_exactly_the_namespaces_rbac_grants(matrix: tuple[World, Ledger]) -> None:
    world, _ = matrix
    for user in MAPPED:
        text = all_text(world.ask("whoami", user))
        listed = frozenset(ns for ns in NAMESPACES if f"`{ns}`" in text)
        assert listed == SEES[user], (user, text)
        assert ("*Cluster-wide figures:* yes" in text) == (user in CLUSTER_WIDE), text


def test_a_warm_decision_cache_asks_kubernetes_nothing(matrix: tuple[World, Ledger]) -> None:
    world, ledger = matrix
    for user in (ALICE, CAROL):
        world.ask(f"summary {ledger.window}", user)
        before = world.kube.requests["sar"]
        world.ask(f"summary {ledger.window}", user)
        world.ask(f"top 5 by pod {ledger.window}", user)
        assert world.kube.requests["sar"] == before, user


# --- digests ---------------------------------------------------------------------------------
def test_digest_list_names_no_namespace_the_asker_may_not_see(
    matrix: tuple[World, Ledger],
) -> None:
    """Runs last: it leaves a subscription behind in the shared world."""
    world, _ = matrix
    made = all_text(world.ask("digest subscribe weekly mon at 09:00 namespace ml-training", ADMIN))
    assert "subscribed this channel" in made, made
    assert "ml-training" in all_text(world.ask("digest list", ADMIN))
    for user in (ALICE, BOB, CAROL, DAVE):
        text = all_text(world.ask("digest list", user))
        assert "ml-training" not in text, (user, text)
