"""Authorization at scale: a namespace-scoped user on 2 000 namespaces against the Kubernetes
stand-in — one review per namespace cold and bounded in flight, none warm (in process), none on
another replica (one MGET from Redis), denies re-asked after their short TTL, allows kept."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from demo.rbac import DEMO_RBAC, StaticRbac, group_binding
from services.access.kube import KubeApi
from services.access.models import Identity
from services.access.namespaces import KubeNamespaces
from services.access.policy import AccessPolicy
from services.access.sar import DENY_TTL, SarAuthorizer
from tests.conftest import FakeClock
from tests.standins.kube import KubeApiStandIn, write_kubeconfig

NAMESPACES = [f"ns-{i:04d}" for i in range(2000)]
VISIBLE = frozenset(NAMESPACES[::10])  # 200 of them
TEAM = Identity("U1", k8s_user="dana", groups=("team-x",), source="explicit")
CONCURRENCY = 8


def bindings(group: str, namespaces: Iterable[str]) -> list[dict[str, object]]:
    return [group_binding("demo-view", group, ns) for ns in sorted(namespaces)]


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


NOBODY = Identity("U2", k8s_user="erin", groups=("team-y",), source="explicit")
ADMIN = Identity(
    "U3", k8s_user="admin@demo.example", groups=("platform-admins",), source="explicit"
)


def listing_policy(kube: KubeApi, redis: Redis, clock: FakeClock) -> AccessPolicy:
    authz = SarAuthorizer(kube, redis, ttl=60, clock=clock)
    lister = KubeNamespaces({"": kube}, clock)
    return AccessPolicy(authz, "list", "pods", "", concurrency=CONCURRENCY, namespaces=lister)


async def test_someone_no_listed_namespace_allows_is_known_to_see_nothing(
    kube: KubeApi, standin: KubeApiStandIn, redis: Redis
) -> None:
    clock = FakeClock(datetime(2026, 11, 27, 9, tzinfo=UTC))
    standin.extra_namespaces = set(NAMESPACES)
    access = listing_policy(kube, redis, clock)
    assert await access.sees_nothing(NOBODY)
    pages = -(-len(standin.namespace_names()) // 500)  # the list is read 500 at a time
    assert pages > 1
    assert standin.requests["namespaces"] == pages
    assert not await access.sees_nothing(TEAM)  # 200 namespaces allow the team
    assert not await access.sees_nothing(ADMIN)  # cluster-wide: no list needed to know
    assert standin.requests["namespaces"] == pages  # the list is kept for a minute
    clock.advance(seconds=61)
    assert await access.sees_nothing(NOBODY)
    assert standin.requests["namespaces"] == 2 * pages
    # The namespace the team saw last is asked first next time, but it is only a hint: once
    # every binding is gone (and the cached allows have expired), the team sees nothing.
    standin.rbac = StaticRbac(DEMO_RBAC)
    assert not await access.sees_nothing(TEAM)  # allows still cached (≤ AUTHZ_CACHE_TTL)
    clock.advance(seconds=61)  # the in-process copies expire by this clock ...
    await redis.flushdb()  # ... Redis' by its own (real) time
    assert await access.sees_nothing(TEAM)


async def test_without_a_namespace_list_nobody_is_assumed_to_see_nothing(
    kube: KubeApi, standin: KubeApiStandIn, redis: Redis
) -> None:
    """The bot may not list namespaces (or the API fails): the list is an optimisation only, so
    the caller goes by the namespaces in the data, as before."""
    clock = FakeClock(datetime(2026, 11, 27, 9, tzinfo=UTC))
    without_listing = [_without_namespace_rule(obj) for obj in DEMO_RBAC]
    standin.rbac = StaticRbac([*without_listing, *bindings("team-x", VISIBLE)])
    access = listing_policy(kube, redis, clock)
    assert not await access.sees_nothing(NOBODY)
    assert standin.requests["namespaces"] == 1  # asked, refused (403), not trusted
    scope = await access.scope(TEAM, NAMESPACES)  # the data's namespaces still decide
    assert scope.namespaces == VISIBLE


def _without_namespace_rule(obj: dict[str, Any]) -> dict[str, Any]:
    """The bot's ClusterRole without `list namespaces`; every other object as it is."""
    if obj.get("kind") != "ClusterRole" or obj["metadata"]["name"] != "costbot":
        return obj
    rules = [rule for rule in obj["rules"] if "namespaces" not in rule["resources"]]
    assert len(rules) == len(obj["rules"]) - 1
    return {**obj, "rules": rules}
