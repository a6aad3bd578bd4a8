"""Several clusters, each with its own Kubernetes authority: two OpenCost stand-ins and two
Kubernetes stand-ins with different bindings, driven over signed HTTP as users would.

east: alice may see `checkout` only; bob is a cluster-wide viewer. west: alice has nothing;
bob may see `search` only. Both clusters have a `checkout` namespace, and OpenCost reports the
same cluster id in both, so only the configured cluster names tell them apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.settings import Settings
from demo.rbac import DEMO_RBAC
from tests.bot_harness import BotServer, MovableClock, World, demo_world_env, seed_slack_users
from tests.cost_world import all_text, headline, money_figures
from tests.standins.fixtures import SIGNING_SECRET
from tests.standins.kube import KubeApiStandIn, write_kubeconfig
from tests.standins.opencost import OpenCostStandIn, allocation_row, allocation_set
from tests.standins.signing import SignedSlackClient
from tests.standins.slack import SlackStandIn

NOW = datetime(2024, 3, 8, 12, 0, tzinfo=UTC)
DAY = ("2024-03-04T00:00:00Z", "2024-03-05T00:00:00Z")
ADMIN, ALICE, BOB = "U0DEMOADMIN", "U0ALICE", "U0BOB"
BOT_OBJECTS = [o for o in DEMO_RBAC if o["metadata"]["name"] == "costbot"]
VIEW = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {"name": "view"},
    "rules": [{"apiGroups": ["", "apps"], "resources": ["*"], "verbs": ["get", "list"]}],
}


def _bind(user: str, namespace: str = "") -> dict[str, Any]:
    kind = "RoleBinding" if namespace else "ClusterRoleBinding"
    meta = {"name": f"{user}-view", **({"namespace": namespace} if namespace else {})}
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}],
    }


ADMIN_WIDE = _bind("admin@demo.example")
EAST_RBAC = [*BOT_OBJECTS, VIEW, ADMIN_WIDE, _bind("alice@demo.example", "checkout"),
             _bind("bob@demo.example")]  # fmt: skip
WEST_RBAC = [*BOT_OBJECTS, VIEW, ADMIN_WIDE, _bind("bob@demo.example", "search")]


def _row(namespace: str, node: str, cost: float, name: str | None = None) -> dict[str, Any]:
    start, end = DAY
    return allocation_row(
        name, cluster="default-cluster", node=node, namespace=namespace, pod=f"{namespace}-0",
        container="app", cpu_cost=cost, start=start, end=end,
    )  # fmt: skip


EAST = [_row("checkout", "east-node-1", 10), _row("payments", "east-node-1", 20),
        _row("", "", 5, name="east/__idle__")]  # fmt: skip
WEST = [_row("checkout", "west-node-1", 100), _row("search", "west-node-1", 40),
        _row("", "", 50, name="west/__idle__")]  # fmt: skip


def _world(tmp: Path, redis_url: str, clusters: Any, kube: KubeApiStandIn, **extra: Any) -> Any:
    """Slack, the bot and a signed client, as a context manager over an ExitStack."""
    stack = ExitStack()
    slack = stack.enter_context(SlackStandIn())
    seed_slack_users(slack)
    first = next(iter(clusters.values()))[0]
    env = demo_world_env(slack, first, kube, redis_url, tmp)
    env.pop("opencost_url")
    env["opencost_clusters"] = {name: spec for name, (_, spec) in clusters.items()}
    env.update(extra)
    bot = BotServer(Settings(**env), MovableClock(NOW)).start()
    stack.callback(bot.stop)
    client = SignedSlackClient(bot.url + "/slack/events", SIGNING_SECRET)
    stack.callback(client.close)
    return stack, World(bot, slack, first, kube, client, MovableClock(NOW))


@pytest.fixture
def two(redis_url: str, tmp_path: Path) -> Iterator[tuple[World, KubeApiStandIn, KubeApiStandIn]]:
    with ExitStack() as stack:
        east_cost = stack.enter_context(OpenCostStandIn([allocation_set(*EAST)]))
        west_cost = stack.enter_context(OpenCostStandIn([allocation_set(*WEST)]))
        kubes = []
        for name, rbac in (("east", EAST_RBAC), ("west", WEST_RBAC)):
            kube = KubeApiStandIn(rbac)
            kube.start()
            stack.callback(kube.stop)
            kube.kubeconfig = write_kubeconfig(tmp_path / f"{name}.kubeconfig", kube.url)
            kubes.append(kube)
        east, west = kubes
        clusters = {
            "east": (east_cost, {"url": east_cost.base_url, "kubeconfig": str(east.kubeconfig),
                                 "context": "standin"}),
            "west": (west_cost, {"url": west_cost.base_url, "kubeconfig": str(west.kubeconfig)}),
        }  # fmt: skip
        world_stack, world = _world(tmp_path, redis_url, clusters, east)
        with world_stack:
            yield world, east, west


def test_a_namespace_grant_on_one_cluster_shows_that_cluster_only(two: Any) -> None:
    world, east, west = two
    reply = world.ask("summary 7d", ALICE)
    text = all_text(reply)
    assert headline(reply).startswith("*$10.00"), text  # east's checkout, not west's $100
    assert "$100" not in text
    assert "$110" not in text
    assert "$50" not in text
    assert "payments" not in text
    assert "search" not in text
    namespace = all_text(world.ask("ns checkout 7d", ALICE))
    assert "$10.00" in namespace
    assert "$100" not in namespace
    # Each cluster's own API was asked: west's said no to alice's checkout.
    assert east.requests["sar"]
    assert west.requests["sar"]


def test_cluster_wide_on_one_cluster_sees_its_idle_and_nodes_but_not_the_others(two: Any) -> None:
    world, _, _ = two
    reply = world.ask("summary 7d", BOB)
    text = all_text(reply)
    # east whole (10 + 20 + 5 idle) and west's search (40): never west's checkout or idle.
    assert headline(reply).startswith("*$75.00"), text
    assert "$5.00" in text  # east's idle
    assert "$55" not in text
    assert "$50" not in text
    assert "$100" not in text
    nodes = all_text(world.ask("top 10 by node 7d", BOB))
    assert "east-node-1" in nodes
    assert "west-node-1" not in nodes
    assert "$140" not in nodes  # west's node total


def test_namespace_users_get_no_node_figures(two: Any) -> None:
    world, _, _ = two
    text = all_text(world.ask("top 10 by node 7d", ALICE))
    assert "cluster-wide figures" in text
    assert not money_figures(text)
    assert "node-1" not in text


def test_whoami_shows_each_cluster_on_its_own(two: Any) -> None:
    world, _, _ = two
    alice = all_text(world.ask("whoami", ALICE))
    assert "*east:* `checkout`" in alice, alice
    assert "*west:* none" in alice, alice
    assert "*Cluster-wide figures:* no" in alice
    assert "by each cluster's own API" in alice
    bob = all_text(world.ask("whoami", BOB))
    assert "*Cluster-wide figures:* only on `east`" in bob, bob
    assert "*east (cluster-wide):* `checkout`, `payments`" in bob
    assert "*west:* `search`" in bob
    admin = all_text(world.ask("whoami", ADMIN))
    assert "*Cluster-wide figures:* yes (every cluster)" in admin
    assert "home cluster" not in admin


def test_admin_sees_both_clusters_whole(two: Any) -> None:
    world, _, _ = two
    reply = world.ask("summary 7d", ADMIN)
    assert headline(reply).startswith("*$225.00"), all_text(reply)
    nodes = all_text(world.ask("top 10 by node 7d", ADMIN))
    assert "east-node-1" in nodes
    assert "west-node-1" in nodes


def test_one_shared_authority_when_asked_for_is_said_in_whoami(
    redis_url: str, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        east_cost = stack.enter_context(OpenCostStandIn([allocation_set(*EAST)]))
        west_cost = stack.enter_context(OpenCostStandIn([allocation_set(*WEST)]))
        kube = KubeApiStandIn(EAST_RBAC)
        kube.start()
        stack.callback(kube.stop)
        clusters = {
            "east": (east_cost, east_cost.base_url),
            "west": (west_cost, west_cost.base_url),
        }
        world_stack, world = _world(
            tmp_path, redis_url, clusters, kube, authz_shared_across_clusters=True
        )
        with world_stack:
            text = all_text(world.ask("whoami", ALICE))
            assert "access decided by the home cluster for: east, west" in text, text
            # One API decides both: alice's checkout grant now covers both clusters' checkout.
            assert "*east:* `checkout`" in text
            assert "*west:* `checkout`" in text
