"""The adversarial suite on two clusters with different bindings: every kind of user × every
/cost command (the leak matrix's list, plus digest preview/list, budget list, whoami and recs)
and the App Home, on the two-cluster world of tests/test_multicluster.py (east and west, each
with its own OpenCost and its own Kubernetes API, both with a `checkout` namespace).

No reply, message or view may name a namespace, node or dollar figure outside the asker's
(cluster, namespace) scope, nor the other cluster's name where the asker has no access there.
Figures are checked against each cluster's own ledger (EAST and WEST rows): any sum of rows that
includes one the asker may not see is forbidden unless a sum of visible rows equals it too.
Denied changes (another's budget, another's digest, a recommendation the clicker may not
patch) leave Redis untouched.

Matrix: 8 users × 66 paths (the leak matrix's commands, digest preview/list, budget list,
compare/trend per cluster, App Home) × 2 clusters = 1056 (the last test prints it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime
from decimal import Decimal
from itertools import combinations
from typing import Any

import pytest
import redis

from tests.bot_harness import World
from tests.rbac_world import ABSENT, ADMIN, ALICE, BOB, DAVE, MALLORY, amounts, click, rec_items
from tests.redis_server import RedisServer
from tests.standins.kube import KubeApiStandIn, write_kubeconfig
from tests.standins.opencost import ALLOCATION_PATHS, JSON, OpenCostStandIn, allocation_set
from tests.standins.opencost_data import allocation_envelope
from tests.test_leak_matrix import _commands
from tests.test_multicluster import BOT_OBJECTS, EAST, VIEW, WEST, _bind, _world

WIDE, SEVERAL, NARROW = "U0WIDE", "U0SEVERAL", "U0NARROW"
CLUSTERS = ("east", "west")
EDIT = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {"name": "edit"},
    "rules": [
        {"apiGroups": ["", "apps", "autoscaling"], "resources": ["*"],
         "verbs": ["get", "list", "watch", "patch", "update"]},
    ],
}  # fmt: skip


def _edit(user: str, namespace: str = "") -> dict[str, Any]:
    """A binding to `edit` (view + patch), cluster-wide without a namespace."""
    binding = _bind(user, namespace)
    binding["metadata"]["name"] = f"{user}-edit"
    binding["roleRef"]["name"] = "edit"
    return binding


def _user(name: str) -> str:
    return f"{name}@demo.example"


EAST_RBAC = [
    *BOT_OBJECTS, VIEW, EDIT,
    _edit(_user("admin")), _bind(_user("wide")), _bind(_user("bob")),
    _edit(_user("alice"), "checkout"), _bind(_user("several"), "payments"),
    _bind(_user("narrow"), "payments"),
]  # fmt: skip
WEST_RBAC = [
    *BOT_OBJECTS, VIEW, EDIT,
    _edit(_user("admin")), _bind(_user("wide")), _bind(_user("bob"), "search"),
    _bind(_user("several"), "checkout"), _bind(_user("several"), "search"),
]  # fmt: skip
IDENTITY_MAP = """\
users:
  U0DEMOADMIN: {user: admin@demo.example, groups: [platform-admins]}
  U0WIDE: {user: wide@demo.example, groups: [viewers]}
  U0BOB: {user: bob@demo.example, groups: [search-team]}
  U0ALICE: {user: alice@demo.example, groups: [payments-devs]}
  U0SEVERAL: {user: several@demo.example, groups: [viewers]}
  U0NARROW: {user: narrow@demo.example, groups: [platform-admins]}
  U0DAVE: {user: dave@demo.example, groups: [contractors]}
email: {enabled: false}
default_groups: []
"""
# Each user's scope, written out by hand from the bindings above: (cluster, namespace) pairs,
# and the clusters on which they see cluster-wide figures (idle, nodes, totals). None: unmapped.
E, W = "east", "west"
SEES: dict[str, frozenset[tuple[str, str]] | None] = {
    ADMIN: frozenset({(E, "checkout"), (E, "payments"), (W, "checkout"), (W, "search")}),
    WIDE: frozenset({(E, "checkout"), (E, "payments"), (W, "checkout"), (W, "search")}),
    BOB: frozenset({(E, "checkout"), (E, "payments"), (W, "search")}),
    ALICE: frozenset({(E, "checkout")}),
    SEVERAL: frozenset({(E, "payments"), (W, "checkout"), (W, "search")}),
    NARROW: frozenset({(E, "payments")}),
    DAVE: frozenset(),
    MALLORY: None,
}
WIDE_ON: dict[str, frozenset[str]] = {ADMIN: frozenset(CLUSTERS), WIDE: frozenset(CLUSTERS),
                                      BOB: frozenset({E})}  # fmt: skip
USERS = tuple(SEES)
# The ledger: every row of each cluster's OpenCost answer, as (cluster, namespace) → dollars;
# "" is the cluster's idle capacity.
LEDGER: dict[tuple[str, str], Decimal] = {
    (cluster, str(row["properties"].get("namespace", ""))): Decimal(str(row["totalCost"]))
    for cluster, rows in ((E, EAST), (W, WEST))
    for row in rows
}
NODES = {E: "east-node-1", W: "west-node-1"}
ALL_NAMESPACES = sorted({ns for _, ns in LEDGER if ns} | {ABSENT})


NOON = datetime(2024, 3, 4, 12, tzinfo=UTC)


def _once(cost: OpenCostStandIn) -> OpenCostStandIn:
    """Answer the day's rows only to the query window that holds its noon: however the bot
    splits and caches its queries, each row then counts once, and figures match the ledger."""
    rows = cost.default_responder

    def respond(path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        if path in ALLOCATION_PATHS and not _holds_noon(params.get("window", "")):
            return 200, JSON, json.dumps(allocation_envelope([{}])).encode()
        return rows(path, params)

    cost.responder = respond
    return cost


def _holds_noon(window: str) -> bool:
    stamps = re.findall(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", window)
    if len(stamps) != 2:
        return True
    start, end = (datetime.fromisoformat(stamp.replace("Z", "+00:00")) for stamp in stamps)
    return start <= NOON < end


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One bot over both clusters for the whole module, with its own redis-server."""
    tmp = tmp_path_factory.mktemp("adversarial")
    identity = tmp / "adversarial-identity.yaml"
    identity.write_text(IDENTITY_MAP)
    with ExitStack() as stack:
        server = RedisServer(tmp / "redis")
        server.start()
        stack.callback(server.stop)
        east_cost = stack.enter_context(_once(OpenCostStandIn([allocation_set(*EAST)])))
        west_cost = stack.enter_context(_once(OpenCostStandIn([allocation_set(*WEST)])))
        clusters: dict[str, Any] = {}
        for name, rbac, cost in ((E, EAST_RBAC, east_cost), (W, WEST_RBAC, west_cost)):
            kube = KubeApiStandIn(rbac)
            kube.start()
            stack.callback(kube.stop)
            config = write_kubeconfig(tmp / f"{name}.kubeconfig", kube.url)
            clusters[name] = (cost, {"url": cost.base_url, "kubeconfig": str(config)})
            if name == E:
                home = kube
        world_stack, built = _world(
            tmp, server.url, clusters, home, identity_map_file=str(identity)
        )
        stack.enter_context(world_stack)
        for user, name in ((WIDE, "wide"), (SEVERAL, "several"), (NARROW, "narrow")):
            built.slack.set_user(user, email=_user(name), tz="UTC", real_name=name)
        yield built


@pytest.fixture(scope="module")
def state(world: World) -> dict[str, str]:
    """What the admin and alice set up before anyone probes: a whole-cluster digest in the
    channel, a budget on cluster west, and alice's budget on (east's) checkout."""
    return {
        "digest": _id(world.ask("digest subscribe weekly mon at 09:00 all", ADMIN)),
        "west budget": _id(world.ask("budget set cluster west 5000/month", ADMIN)),
        "checkout budget": _id(world.ask("budget set namespace checkout 300/month", ALICE)),
    }


def _id(reply: dict[str, Any]) -> str:
    found = re.search(r"`([0-9a-f]{7})`", json.dumps(reply))
    assert found, reply
    return found.group(1)


def _paths(state: dict[str, str]) -> list[str]:
    """Every /cost command of the leak matrix, per-cluster scopes, and the digest, budget and
    identity commands (the App Home is the one more path)."""
    extra = [
        "digest preview", f"digest preview {state['digest']}", "digest list", "budget list",
        "whoami", "recs",
        *(f"{verb} cluster {cluster} 7d" for cluster in CLUSTERS
          for verb in ("compare", "trend")),
    ]  # fmt: skip
    return list(dict.fromkeys([*_commands("7d"), *extra]))


def _ask_all(world: World, user: str, commands: list[str]) -> dict[str, dict[str, Any]]:
    with ThreadPoolExecutor(max_workers=6) as pool:
        replies = pool.map(lambda text: world.ask(text, user, timeout=60), commands)
        return dict(zip(commands, replies, strict=True))


def _open_home(world: World, user: str) -> dict[str, Any]:
    before = len(world.slack.calls_to("views.publish"))
    event = {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home"}
    assert world.client.event(event).status_code == 200
    call = world.slack.wait_for("views.publish", before + 1, 30)[-1]
    assert call.params["user_id"] == user
    view: dict[str, Any] = call.params["view"]
    return view


# --- what each user may see ---------------------------------------------------------------------
def _word(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w])")


def _hidden_names(user: str, command: str) -> list[str]:
    """Namespaces the user sees on no cluster, nodes of clusters they don't see whole, and the
    name of a cluster where they see nothing (whoami names each cluster, with "none")."""
    sees = SEES[user] or frozenset()
    wide = WIDE_ON.get(user, frozenset())
    names = [ns for ns in ("checkout", "payments", "search") if all(n != ns for _, n in sees)]
    names += [NODES[c] for c in CLUSTERS if c not in wide]
    if command != "whoami":
        names += [c for c in CLUSTERS if c not in wide and all(k != c for k, _ in sees)]
    return names


def _visible(user: str) -> set[tuple[str, str]]:
    sees = set(SEES[user] or ())
    return sees | {(c, "") for c in WIDE_ON.get(user, frozenset())}


def _sums(rows: list[tuple[str, str]]) -> set[Decimal]:
    return {
        sum((LEDGER[row] for row in chosen), Decimal(0))
        for size in range(1, len(rows) + 1)
        for chosen in combinations(rows, size)
    }


def _hidden_figures(user: str) -> set[Decimal]:
    """Every sum of ledger rows that includes a row the user may not see, unless some sum of
    visible rows alone is the same figure."""
    visible = _visible(user)
    hidden = [row for row in LEDGER if row not in visible]
    every = {
        total
        for size in range(1, len(LEDGER) + 1)
        for chosen in combinations(LEDGER, size)
        if any(row in hidden for row in chosen)
        for total in [sum((LEDGER[row] for row in chosen), Decimal(0))]
    }
    return every - _sums(sorted(visible)) if hidden else set()


def _problems(user: str, command: str, answer: Any) -> list[str]:
    # The user's own group (whoami) is not a namespace.
    dumped = json.dumps(answer, ensure_ascii=False).replace("`payments-devs`", "")
    typed = re.split(r"[\s=]", command)
    found = [name for name in _hidden_names(user, command) if name not in typed]
    leaked = [name for name in found if _word(name).search(dumped)]
    figures = set(amounts(dumped)) & _hidden_figures(user)
    return leaked + [f"${figure}" for figure in sorted(figures)]


# --- the matrix ---------------------------------------------------------------------------------
CHECKED: list[int] = []
# Found by this suite and fixed since: `budget list` named a budget on cluster `west` to users
# who may see nothing on west (only namespace budgets were filtered). Nothing is open now; an
# entry here would pin a known leak so that its fix shows up.
KNOWN_OPEN: dict[tuple[str, str], list[str]] = {}


@pytest.mark.parametrize("user", USERS)
def test_no_answer_names_or_prices_what_the_asker_may_not_see(
    world: World, state: dict[str, str], user: str
) -> None:
    paths = _paths(state)
    replies = _ask_all(world, user, paths)
    answers: dict[str, Any] = {**replies, "App Home": _open_home(world, user)}
    problems = {
        path: found for path, answer in answers.items() if (found := _problems(user, path, answer))
    }
    known = {path: found for (who, path), found in KNOWN_OPEN.items() if who == user}
    assert problems == known, (user, problems)
    if SEES[user]:  # the check is not vacuous: the asker's own total is there, to the cent
        total = sum((LEDGER[row] for row in _visible(user)), Decimal(0))
        head = json.dumps(replies["summary 7d"]["blocks"][1])
        assert amounts(head)[0] == total, (user, head, total)
    if SEES[user] is None:
        for path, reply in replies.items():
            if ":thinking_face:" not in json.dumps(reply):  # a grammar answer comes first
                assert "identity map" in json.dumps(reply), (user, path, reply)
    CHECKED.append(len(answers) * len(CLUSTERS))


# --- denied changes leave state untouched -------------------------------------------------------
def _hash(world: World, key: str) -> dict[str, str]:
    client = redis.Redis.from_url(world.bot.settings.redis_url or "", decode_responses=True)
    try:
        return {str(k): str(v) for k, v in client.hgetall(key).items()}
    finally:
        client.close()


BUDGETS, SUBSCRIPTIONS = "costbot:digest:budgets", "costbot:digest:subs"


# Found by this suite and fixed since: an admin-group member with narrow RBAC (narrow: east
# `payments` only) removed alice's `checkout` budget and the budget on cluster west. Removing
# now needs the access creating needs, admin or not. Last, as it would destroy the state.
@pytest.mark.parametrize("user", [WIDE, BOB, SEVERAL, DAVE, MALLORY, NARROW])
def test_nobody_else_changes_or_removes_a_budget_or_a_digest(
    world: World, state: dict[str, str], user: str
) -> None:
    budgets, subscriptions = _hash(world, BUDGETS), _hash(world, SUBSCRIPTIONS)
    assert state["checkout budget"] in json.dumps(budgets)
    attempts = [
        f"budget remove {state['checkout budget']}",
        f"budget remove {state['west budget']}",
        f"digest unsubscribe {state['digest']}",
        "budget set cluster west 1/month",
    ]
    if user not in (SEVERAL,):  # several may see (west's) checkout: a budget of his own is fine
        attempts.append("budget set namespace checkout 1/month")
    replies = _ask_all(world, user, attempts)
    for command, reply in replies.items():
        text = json.dumps(reply)
        assert ":no_entry:" in text or "identity map" in text, (user, command, text)
    assert _hash(world, SUBSCRIPTIONS) == subscriptions, user
    after = _hash(world, BUDGETS)
    assert {k: v for k, v in after.items() if k in budgets} == budgets, user
    if user != SEVERAL:
        assert after == budgets, user


@pytest.mark.parametrize("user", [WIDE, BOB, ALICE, SEVERAL, NARROW, DAVE, MALLORY])
def test_a_cluster_recommendation_button_needs_patch_on_that_whole_cluster(
    world: World, state: dict[str, str], user: str
) -> None:
    """Idle capacity is a cluster-wide recommendation: viewing the cluster is not enough."""
    before = rec_items(world.ask("recs", ADMIN))
    assert {text.rsplit(" ", 1)[-1] for _, _, text in before} == set(CLUSTERS), before
    for _rec_id, value, text in before:
        url = click(world, user, "rec_ack", value)
        answer = json.dumps(world.slack.responses(url)[-1])
        assert ":no_entry:" in answer or "identity map" in answer, (user, text, answer)
        if text.endswith("west") and user not in (WIDE, SEVERAL):
            assert not _word("west").search(answer), (user, answer)
    assert rec_items(world.ask("recs", ADMIN)) == before, user


def test_matrix_size() -> None:
    """Runs last: prints users × paths × clusters of the matrix above."""
    assert len(CHECKED) == len(USERS), CHECKED
    per_user = CHECKED[0] // len(CLUSTERS)
    print(
        f"\nadversarial matrix: {len(USERS)} users × {per_user} paths × {len(CLUSTERS)} clusters"
        f" = {len(USERS) * per_user * len(CLUSTERS)}"
    )
