"""The API over two clusters (OPENCOST_CLUSTERS east and west, two differently seeded demo
clusters behind two OpenCost stand-ins): per-cluster figures to the cent against independent
ledgers for several identities, and the `costbot api get` client against the running bot."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.api_client import api_get, kubeconfig_token
from demo.cluster import DemoCluster
from tests.bot_harness import MovableClock, World
from tests.cost_world import cost_world
from tests.rbac_world import ADMIN, ALICE, BOB, CAROL, SEES, Ledger, near
from tests.redis_server import RedisServer
from tests.standins.kube import write_kubeconfig
from tests.standins.opencost import OpenCostStandIn

USERS = {
    ADMIN: ("admin@demo.example", ["platform-admins"]),
    ALICE: ("alice@demo.example", ["payments-devs"]),
    BOB: ("bob@demo.example", ["search-team"]),
    CAROL: ("carol@demo.example", ["sre"]),
}
SEEDS = {"east": 7, "west": 23}


class Two:
    def __init__(self, world: World, ledgers: dict[str, Ledger]) -> None:
        self.world, self.ledgers = world, ledgers
        self.http = httpx.Client(base_url=world.bot.url, timeout=30)
        self.tokens = {
            who: world.kube.mint_token(user, groups) for who, (user, groups) in USERS.items()
        }

    def get(self, path: str, who: str, **params: Any) -> dict[str, Any]:
        response = self.http.get(
            path, params=params, headers={"Authorization": f"Bearer {self.tokens[who]}"}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    @property
    def window(self) -> str:
        return next(iter(self.ledgers.values())).window


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Two]:
    tmp = tmp_path_factory.mktemp("api-clusters")
    clock = MovableClock()
    clusters = {name: DemoCluster(clock, seed=seed, name=name) for name, seed in SEEDS.items()}
    with ExitStack() as stack:
        redis = RedisServer(tmp / "redis")
        redis.start()
        stack.callback(redis.stop)
        standins = {
            name: stack.enter_context(OpenCostStandIn(responder=cluster.respond))
            for name, cluster in clusters.items()
        }
        world = stack.enter_context(cost_world(redis.url, tmp, standins, clock=clock))
        today = clock.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        ledgers = {
            name: Ledger(cluster, today - timedelta(days=7), 7)
            for name, cluster in clusters.items()
        }
        client = Two(world, ledgers)
        yield client
        client.http.close()


@pytest.mark.parametrize("who", [ADMIN, ALICE, BOB, CAROL])
def test_each_cluster_to_the_cent(two: Two, who: str) -> None:
    body = two.get("/api/v1/costs/summary", who, window=two.window)
    expected = sum((Ledger.visible(ledger.now, who) for ledger in two.ledgers.values()), Decimal(0))
    assert near(Decimal(str(body["total"])), expected)
    sees = SEES[who] or frozenset()
    for cluster, ledger in two.ledgers.items():
        for name in sees & set(ledger.now):
            rows = [r for r in body["namespaces"] if (r["name"], r["cluster"]) == (name, cluster)]
            assert len(rows) == 1, (name, cluster)
            assert near(Decimal(str(rows[0]["cost"])), ledger.now[name])
        narrowed = two.get("/api/v1/costs/summary", who, window=two.window, cluster=cluster)
        assert near(Decimal(str(narrowed["total"])), Ledger.visible(ledger.now, who))
        assert {r["cluster"] for r in narrowed["namespaces"]} <= {cluster}
    assert {r["name"] for r in body["namespaces"]} <= set(sees) | {"__unmounted__"}


def test_whoami_names_both_clusters(two: Two) -> None:
    body = two.get("/api/v1/whoami", ALICE)
    assert set(body["clusters"]) == set(SEEDS)
    for access in body["clusters"].values():
        assert access == {"cluster_wide": False, "namespaces": ["checkout", "payments"]}


def test_an_unknown_cluster_is_404(two: Two) -> None:
    response = two.http.get(
        "/api/v1/costs/summary",
        params={"cluster": "north"},
        headers={"Authorization": f"Bearer {two.tokens[ALICE]}"},
    )
    assert response.status_code == 404


def test_the_client_uses_the_kubeconfig_token(
    two: Two, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", "https://k8s.invalid", two.tokens[BOB])
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    assert kubeconfig_token() == two.tokens[BOB]
    out, err = io.StringIO(), io.StringIO()
    code = api_get("v1/whoami", token=None, url=two.world.bot.url, out=out, err=err)
    assert code == 0, err.getvalue()
    assert json.loads(out.getvalue())["user"] == "bob@demo.example"
    out = io.StringIO()
    code = api_get(
        "/api/v1/costs/top?by=namespace",
        token="not-a-token",
        url=two.world.bot.url,
        out=out,
        err=err,
    )
    assert code == 1
    assert "401" in err.getvalue()
    assert "not-a-token" not in err.getvalue()
