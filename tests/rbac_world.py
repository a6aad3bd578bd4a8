"""Support for the RBAC and recommendation end-to-end tests: a bot world that outlives one test,
what each demo user may see (written out by hand, not computed by costbot), an independent
ledger of the demo cluster's costs, and readers for rendered replies.

The world is the same real bot under uvicorn as `tests.bot_harness.world`, with its own
redis-server so other tests flushing or restarting theirs cannot disturb it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.settings import Settings
from demo.cluster import TEAMS, WORKLOADS, DemoCluster
from tests.bot_harness import BotServer, MovableClock, World, demo_world_env, seed_slack_users
from tests.redis_server import RedisServer
from tests.standins.fixtures import SIGNING_SECRET
from tests.standins.kube import KubeApiStandIn
from tests.standins.opencost import OpenCostStandIn, Responder
from tests.standins.signing import SignedSlackClient, block_actions_payload
from tests.standins.slack import SlackStandIn

ADMIN, ALICE, BOB, CAROL, DAVE = "U0DEMOADMIN", "U0ALICE", "U0BOB", "U0CAROL", "U0DAVE"
MALLORY, STRANGER = "U0MALLORY", "U0STRANGER"
NAMESPACES = (
    "payments",
    "checkout",
    "search",
    "data-pipeline",
    "ml-training",
    "web",
    "monitoring",
    "kube-system",
)
# What DEMO_RBAC grants, as docs/rbac.md describes it. None: unmapped (help and whoami only).
SEES: dict[str, frozenset[str] | None] = {
    ADMIN: frozenset(NAMESPACES),
    ALICE: frozenset({"payments", "checkout"}),
    BOB: frozenset({"search"}),
    CAROL: frozenset({"monitoring", "kube-system"}),
    DAVE: frozenset(),
    MALLORY: None,
    STRANGER: None,
}
CLUSTER_WIDE = {ADMIN}
ABSENT = "zz-absent"  # a namespace (and team) that exists nowhere


# --- a world for a whole module ------------------------------------------------------------------
@contextmanager
def shared_world(
    tmp: Path,
    *,
    responder: Callable[[DemoCluster], Responder] | None = None,
    clusters: tuple[str, ...] = (),
    **settings: Any,
) -> Iterator[tuple[World, DemoCluster]]:
    """The real bot, its stand-ins and a private redis-server; `responder` may wrap the demo
    cluster's answers (e.g. to change requests after a date); `clusters` configures the demo
    cluster's OpenCost under each of these names (OPENCOST_CLUSTERS, one shared authority)."""
    clock = MovableClock()
    cluster = DemoCluster(clock)
    with ExitStack() as stack:
        redis = RedisServer(tmp / "redis")
        redis.start()
        stack.callback(redis.stop)
        slack = stack.enter_context(SlackStandIn())
        answer = responder(cluster) if responder else cluster.respond
        opencost = stack.enter_context(OpenCostStandIn(responder=answer))
        kube = KubeApiStandIn()
        kube.start()
        stack.callback(kube.stop)
        seed_slack_users(slack)
        env = demo_world_env(slack, opencost, kube, redis.url, tmp)
        if clusters:
            env["opencost_clusters"] = dict.fromkeys(clusters, opencost.base_url)
            env["authz_shared_across_clusters"] = True
            env.pop("opencost_url")
        env.update(settings)
        bot = BotServer(Settings(**env), clock).start()
        stack.callback(bot.stop)
        client = SignedSlackClient(bot.url + "/slack/events", SIGNING_SECRET)
        stack.callback(client.close)
        yield World(bot, slack, opencost, kube, client, clock), cluster


# --- an independent ledger of the demo cluster -------------------------------------------------
def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _allocations(
    cluster: DemoCluster, start: datetime, end: datetime, **params: str
) -> list[dict[str, Any]]:
    query = {"window": f"{_stamp(start)},{_stamp(end)}", "includeIdle": "true", **params}
    status, _, body = cluster.respond("/allocation", query)
    assert status == 200, body[:200]
    sets: list[dict[str, Any]] = json.loads(body)["data"]
    return sets


def _costs(rows: Mapping[str, Any]) -> dict[str, Decimal]:
    return {name: Decimal(str(row["totalCost"])) for name, row in rows.items()}


class Ledger:
    """Costs per namespace (and per namespace and team) straight from the OpenCost stand-in's
    data, aggregated by OpenCost itself, for a window of whole days and the one before it."""

    def __init__(self, cluster: DemoCluster, start: datetime, days: int) -> None:
        self.start, self.end = start, start + timedelta(days=days)
        before = start - timedelta(days=days)
        whole = {"aggregate": "namespace", "accumulate": "true"}
        self.now = _costs(_allocations(cluster, start, self.end, **whole)[0])
        self.before = _costs(_allocations(cluster, before, start, **whole)[0])
        daily = _allocations(cluster, start, self.end, aggregate="namespace", step="1d")
        self.days = [_costs(day) for day in daily]
        teams = _allocations(cluster, start, self.end, aggregate="namespace,label:team")[0]
        self.teams = {
            tuple(name.split("/", 1)): cost for name, cost in _costs(teams).items() if "/" in name
        }

    @property
    def window(self) -> str:
        """The window as a user types it: whole days, both ends inclusive, and UTC days like
        the ledger's (users' own zones would count other days)."""
        last = self.end - timedelta(days=1)
        return f"{self.start:%Y-%m-%d}..{last:%Y-%m-%d} tz UTC"

    @staticmethod
    def visible(costs: Mapping[str, Decimal], user: str) -> Decimal:
        """What the user may see of these rows: everything for cluster-wide viewers (idle and
        unmounted volumes included), else the namespaces they may see."""
        if user in CLUSTER_WIDE:
            return sum(costs.values(), Decimal(0))
        sees = SEES[user] or frozenset()
        return sum((cost for name, cost in costs.items() if name in sees), Decimal(0))

    def team(self, user: str, team: str) -> Decimal:
        sees = SEES[user] or frozenset()
        return sum(
            (cost for (ns, value), cost in self.teams.items() if value == team and ns in sees),
            Decimal(0),
        )


def hidden_names(user: str) -> list[str]:
    """Names that must never reach this user: namespaces they may not see and their workloads."""
    sees = SEES[user] or frozenset()
    hidden = [ns for ns in NAMESPACES if ns not in sees]
    return hidden + sorted({w.name for w in WORKLOADS if w.namespace in hidden})


def visible_teams(user: str) -> set[str]:
    return {TEAMS[ns] for ns in SEES[user] or ()}


def leaks(reply: Mapping[str, Any], user: str) -> list[str]:
    """Hidden names found anywhere in the reply (texts, button values, alt texts)."""
    dumped = json.dumps(reply, ensure_ascii=False)
    return [name for name in hidden_names(user) if _word(name).search(dumped)]


def _word(name: str) -> re.Pattern[str]:
    # A name, or the start of a longer name built on it (`payments` in `payments-api`).
    return re.compile(rf"(?<![\w-]){re.escape(name)}(?!\w)")


# --- reading replies ---------------------------------------------------------------------------
MONEY = re.compile(r"([−-]?)\$([0-9][0-9,]*(?:\.[0-9]{2})?)")
CENT = Decimal("0.01")


def texts(reply: Mapping[str, Any]) -> list[str]:
    """Every text of every block, in order."""
    found: list[str] = []
    for block in reply.get("blocks") or []:
        parts = [block.get("text"), *(block.get("fields") or []), *(block.get("elements") or [])]
        found += [
            p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)
        ]
    return found


def all_text(reply: Mapping[str, Any]) -> str:
    return "\n".join(texts(reply))


def amounts(text: str) -> list[Decimal]:
    return [
        Decimal(digits.replace(",", "")) * (-1 if sign else 1)
        for sign, digits in MONEY.findall(text)
    ]


def first_amount(text: str) -> Decimal:
    found = amounts(text)
    assert found, f"no money figure in {text!r}"
    return found[0]


def near(shown: Decimal, exact: Decimal, slack: Decimal = CENT) -> bool:
    """A figure rounded to cents matches an exact sum within `slack` (OpenCost prints every
    row to 5 decimals, so sums of many rows may differ from one aggregated row by ~1/10 ¢)."""
    return abs(shown - exact) <= slack


def table_rows(text: str) -> list[list[str]]:
    """The rows (without the header) of the first ``` table in a text."""
    pieces = text.split("```")
    if len(pieces) < 3:
        return []
    lines = [line for line in pieces[1].split("\n") if line.strip()]
    return [re.split(r" {2,}", line.strip()) for line in lines[1:]]


def normalised(reply: Mapping[str, Any], name: str) -> str:
    """The reply with `name` replaced and the data time removed: hidden and absent compare
    equal when nothing but the asked-for name differs."""
    dumped = json.dumps(reply.get("blocks") or reply.get("text"), ensure_ascii=False)
    dumped = re.sub(r"data as of [0-9:]+ UTC", "data as of …", dumped)
    return _word(name).sub("<NAME>", dumped)


# --- recommendations -----------------------------------------------------------------------------
def rec_items(reply: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(id, button value, text) of each recommendation in a list or App Home view."""
    blocks = reply.get("blocks") or []
    found = []
    for block in blocks:
        block_id = str(block.get("block_id", ""))
        if block_id.startswith("rec:") and block_id.endswith(":s"):
            rec_id = block_id.split(":")[1]
            value = _value_of(blocks, rec_id)
            found.append((rec_id, value, str(block["text"]["text"])))
    return found


def _value_of(blocks: list[dict[str, Any]], rec_id: str) -> str:
    for block in blocks:
        if block.get("block_id") == f"rec:{rec_id}:a":
            return str(block["elements"][0]["value"])
    return ""


def find_rec(reply: Mapping[str, Any], needle: str) -> tuple[str, str, str]:
    for item in rec_items(reply):
        if needle in item[2]:
            return item
    raise AssertionError(f"no recommendation with {needle!r} in {all_text(reply)}")


def click(
    world: World,
    user: str,
    action_id: str,
    value: str,
    *,
    message: Mapping[str, Any] | None = None,
    trigger_id: str | None = None,
    wait: bool = True,
) -> str:
    """Press a button as `user`; returns the response_url the bot answers on."""
    url = world.slack.new_response_url()
    payload = block_actions_payload(
        user, action_id, value, response_url=url, message=message, trigger_id=trigger_id
    )
    response = world.client.action(payload)
    assert response.status_code == 200, response.text
    if wait:
        world.slack.wait_for_response(url, 1, 20)
    return url


def audit_events(world: World, count: int = 50) -> list[Any]:
    runtime = world.bot.runtime
    assert runtime is not None
    return list(world.bot.call(runtime.deps.audit.recent(count)))


def wait_for_audit(world: World, event: str, timeout: float = 5, **fields: Any) -> Any:
    """The newest audit entry named `event` whose fields include `fields`."""
    deadline = time.monotonic() + timeout
    while True:
        for entry in audit_events(world):
            if entry.event == event and all(entry.fields.get(k) == v for k, v in fields.items()):
                return entry
        if time.monotonic() > deadline:
            found = [(e.event, e.fields) for e in audit_events(world)]
            raise AssertionError(f"no audit {event} {fields}; have {found}")
        time.sleep(0.02)
