"""Authorization at scale: a namespace-scoped user on 2 000 namespaces against the Kubernetes
stand-in — one review per namespace cold and bounded in flight, none warm (in process), none on
another replica (one MGET from Redis), denies re-asked after their short TTL, allows kept."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis

from demo.rbac import DEMO_RBAC
from services.access.kube import KubeApi
from services.access.models import Identity
from services.access.policy import AccessPolicy
from services.access.sar import DENY_TTL, SarAuthorizer
from tests.conftest import FakeClock
from tests.standins.kube import KubeApiStandIn, write_kubeconfig

NAMESPACES = [f"ns-{i:04d}" for i in range(2000)]
VISIBLE = frozenset(NAMESPACES[::10])  # 200 of them
TEAM = Identity("U1", k8s_user="dana", groups=("team-x",), source="explicit")
CONCURRENCY = 8


def bindings(group: str, namespaces: Iterable[str]) -> list[dict[str, object]]:
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"{group}-view", "namespace": ns},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "demo-view",
            },
            "subjects": [{"kind": "Group", "name": group, "apiGroup": "rbac.authorization.k8s.io"}],
        }
        for ns in sorted(namespaces)
    ]


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[KubeApiStandIn]:
    server = KubeApiStandIn([*DEMO_RBAC, *bindings("team-x", VISIBLE)])
    server.start()
    server.kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server.url, server.token)
    server.delay = 0.002  # so concurrency can be seen
    yield server
    server.stop()


@pytest.fixture
async def kube(standin: KubeApiStandIn) -> AsyncIterator[KubeApi]:
    api = KubeApi.from_config(str(standin.kubeconfig), timeout=5.0)
    yield api
    await api.aclose()


def policy(kube: KubeApi, redis: Redis, clock: FakeClock) -> AccessPolicy:
    authz = SarAuthorizer(kube, redis, ttl=60, clock=clock)
    return AccessPolicy(authz, "list", "pods", "", concurrency=CONCURRENCY)


async def test_two_thousand_namespaces_cold_warm_and_on_another_replica(
    kube: KubeApi, standin: KubeApiStandIn, redis: Redis
) -> None:
    clock = FakeClock(datetime(2026, 11, 27, 9, tzinfo=UTC))
    first = policy(kube, redis, clock)
    scope = await first.scope(TEAM, NAMESPACES)
    assert scope.namespaces == VISIBLE
    assert not scope.cluster_wide
    assert standin.requests["sar"] == 1 + len(NAMESPACES)  # cluster-wide first, then each
    assert 1 < standin.max_in_flight <= CONCURRENCY
    assert {tuple(body["spec"]["groups"]) for body in standin.sar_bodies} == {
        ("system:authenticated", "team-x")
    }

    assert (await first.scope(TEAM, NAMESPACES)).namespaces == VISIBLE  # warm: in process
    assert standin.requests["sar"] == 1 + len(NAMESPACES)
    other = policy(kube, redis, clock)  # another replica: Redis only
    assert (await other.scope(TEAM, NAMESPACES)).namespaces == VISIBLE
    assert standin.requests["sar"] == 1 + len(NAMESPACES)


async def test_denies_expire_quickly_allows_stay_and_new_groups_are_asked_again(
    kube: KubeApi, standin: KubeApiStandIn, redis: Redis
) -> None:
    clock = FakeClock(datetime(2026, 11, 27, 9, tzinfo=UTC))
    few = NAMESPACES[:20]
    access = policy(kube, redis, clock)
    assert (await access.scope(TEAM, few)).namespaces == VISIBLE & set(few)
    cold = standin.requests["sar"]
    assert cold == 21
    clock.advance(timedelta(seconds=DENY_TTL + 1))
    await redis.flushdb()  # Redis's own expiry of the denies, without waiting for it
    assert (await access.scope(TEAM, few)).namespaces == VISIBLE & set(few)
    denied = len(few) - len(VISIBLE & set(few)) + 1  # the cluster-wide check is a deny too
    assert standin.requests["sar"] == cold + denied
    promoted = Identity(TEAM.slack_user_id, TEAM.k8s_user, ("team-x", "platform-admins"))
    assert (await access.scope(promoted, few)).cluster_wide
    assert standin.requests["sar"] == cold + denied + 1
