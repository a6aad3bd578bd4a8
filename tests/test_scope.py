"""Scope keyed by (cluster, namespace), and the policy that builds it from one authority per
cluster (StaticRbac per cluster behind the real ClusterAuthorizer)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from demo.rbac import DEMO_RBAC, StaticRbac, StaticRbacAuthorizer
from services.access.clusters import ClusterAuthorizer
from services.access.models import EVERYTHING, AccessCheck, ClusterView, Identity, Scope
from services.access.policy import AccessPolicy
from services.errors import AuthorizationUnavailable

ALICE = Identity("U0ALICE", "alice@demo.example", ("payments-devs",), "explicit")
ADMIN = Identity("U0DEMOADMIN", "admin@demo.example", ("platform-admins",), "explicit")
NOBODY = Identity("U0STRANGER")
# east: DEMO_RBAC (alice: payments + checkout, admin: everything); west: nobody but admin.
WEST_RBAC: list[dict[str, Any]] = [
    o for o in DEMO_RBAC if "platform-admins" in str(o) or o["kind"] == "ClusterRole"
]


def _policy() -> AccessPolicy:
    authorizer = ClusterAuthorizer(
        {
            "east": StaticRbacAuthorizer(StaticRbac(DEMO_RBAC)),
            "west": StaticRbacAuthorizer(StaticRbac(WEST_RBAC)),
        }
    )
    return AccessPolicy(authorizer, "list", "pods", "", clusters=["east", "west"])


def test_single_cluster_scope_applies_to_every_row_whatever_its_cluster_id() -> None:
    scope = Scope(namespaces=frozenset({"checkout"}))
    assert scope.sees("checkout")
    assert scope.sees("checkout", "cluster-one")
    assert not scope.sees("payments")
    assert not scope.sees_cluster("cluster-one")
    assert scope.partial
    assert not scope.empty
    assert EVERYTHING.sees("x", "any")
    assert EVERYTHING.all_cluster_wide


def test_per_cluster_scope_keeps_a_grant_in_its_own_cluster() -> None:
    scope = Scope.per_cluster(
        {"east": ClusterView(frozenset({"checkout"})), "west": ClusterView(None, True)}
    )
    assert scope.sees("checkout", "east")
    assert not scope.sees("payments", "east")
    assert scope.sees("payments", "west")
    assert scope.sees_cluster("west")
    assert not scope.sees_cluster("east")
    assert not scope.sees("checkout", "elsewhere")
    assert not scope.sees("checkout")
    assert scope.any_cluster_wide
    assert not scope.all_cluster_wide
    assert scope.visible_names() is None  # west is seen whole
    narrowed = scope.narrowed_to(["checkout"])
    assert narrowed.sees("checkout", "west")
    assert not narrowed.sees("payments", "west")
    assert not narrowed.any_cluster_wide


def test_nothing_anywhere_is_empty() -> None:
    scope = Scope.per_cluster({"east": ClusterView(frozenset()), "west": ClusterView(frozenset())})
    assert scope.empty
    assert scope.visible_names() == frozenset()


def test_policy_asks_each_cluster_its_own_authority() -> None:
    policy = _policy()
    candidates = {"east": {"checkout", "search"}, "west": {"checkout"}}
    scope = asyncio.run(policy.scope(ALICE, candidates))
    assert scope.sees("checkout", "east")
    assert not scope.sees("checkout", "west")
    assert not scope.sees("search", "east")
    assert not scope.any_cluster_wide
    admin = asyncio.run(policy.scope(ADMIN, candidates))
    assert admin.all_cluster_wide


def test_plain_names_are_asked_in_every_cluster_and_pairs_in_their_own() -> None:
    policy = _policy()
    assert asyncio.run(policy.scope(ALICE, ["checkout"])).views() == {
        "east": ClusterView(frozenset({"checkout"})),
        "west": ClusterView(frozenset()),
    }
    pairs = asyncio.run(policy.scope(ALICE, [("west", "payments")]))
    assert pairs.empty


def test_cluster_wide_acting_and_subscribing_take_the_cluster_into_account() -> None:
    policy = _policy()
    assert asyncio.run(policy.may_see_cluster(ADMIN, "west"))
    assert asyncio.run(policy.may_see_cluster(ADMIN))  # every cluster
    assert not asyncio.run(policy.may_see_cluster(ADMIN, "unknown"))
    assert not asyncio.run(policy.may_see_cluster(ALICE, "east"))
    assert asyncio.run(policy.may_act(ALICE, "checkout", "Deployment", "api", "east"))
    assert not asyncio.run(policy.may_act(ALICE, "checkout", "Deployment", "api", "west"))
    assert not asyncio.run(policy.may_act(ALICE, "checkout", "Deployment", "api", ""))
    assert asyncio.run(policy.may_see_all(ALICE, ["checkout"]))  # seen in east
    assert not asyncio.run(policy.may_see_all(ALICE, ["checkout"], "west"))
    assert not asyncio.run(policy.may_see_all(ALICE, None))
    assert not asyncio.run(policy.scope(NOBODY, ["checkout"])).sees("checkout", "east")


def test_a_check_for_an_unconfigured_cluster_fails_closed() -> None:
    authorizer = ClusterAuthorizer({"east": StaticRbacAuthorizer(StaticRbac(DEMO_RBAC))})
    check = AccessCheck("list", "pods", cluster="west")
    with pytest.raises(AuthorizationUnavailable):
        asyncio.run(authorizer.allowed(ADMIN, check))


def test_single_cluster_policy_keeps_the_single_view() -> None:
    policy = AccessPolicy(StaticRbacAuthorizer(StaticRbac(DEMO_RBAC)), "list", "pods", "")
    scope = asyncio.run(policy.scope(ALICE, {"cluster-one": {"checkout", "search"}}))
    assert scope == Scope(namespaces=frozenset({"checkout"}), cluster_wide=False)
    assert asyncio.run(policy.may_act(ALICE, "checkout", "Deployment", "api", "cluster-one"))
