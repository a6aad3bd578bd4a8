"""Authorization: StaticRbac semantics, the real kubernetes client against the API stand-in,
the Redis decision cache, and the docs/rbac.md policy (scope, acting, digests, fail closed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from demo.rbac import DEMO_NAMESPACES, DEMO_RBAC, StaticRbac, StaticRbacAuthorizer
from services.access.kube import CpuHpa, KubeApi, KubeApiUnavailable
from services.access.models import AccessCheck, Identity, Scope
from services.access.policy import AccessPolicy
from services.access.sar import SarAuthorizer
from services.errors import AuthorizationUnavailable
from tests.redis_server import free_port
from tests.standins import kube as kube_standin
from tests.standins.kube import KubeApiStandIn, hpa_object, write_kubeconfig

kube_api = kube_standin.kube_api  # until tests/conftest.py registers the stand-in's fixture

ADMIN = Identity("U0DEMOADMIN", "admin@demo.example", ("platform-admins",), "explicit")
ALICE = Identity("U0ALICE", "alice@demo.example", ("payments-devs",), "explicit")
BOB = Identity("U0BOB", "bob@demo.example", ("search-team",), "explicit")
NOBODY = Identity("U0NOBODY")
PODS = AccessCheck(verb="list", resource="pods")


def rbac(*objects: dict[str, Any]) -> StaticRbac:
    return StaticRbac(objects)


def role(name: str, rules: list[dict[str, Any]], namespace: str = "") -> dict[str, Any]:
    kind = "Role" if namespace else "ClusterRole"
    return {"kind": kind, "metadata": {"name": name, "namespace": namespace}, "rules": rules}


def binding(
    role_name: str, subject: dict[str, str], namespace: str = "", role_kind: str = "ClusterRole"
) -> dict[str, Any]:
    return {
        "kind": "RoleBinding" if namespace else "ClusterRoleBinding",
        "metadata": {"name": f"b-{role_name}", "namespace": namespace},
        "roleRef": {"kind": role_kind, "name": role_name},
        "subjects": [subject],
    }


LIST_PODS = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]


def pods_in(namespace: str = "") -> AccessCheck:
    return AccessCheck(verb="list", resource="pods", namespace=namespace)


# --- StaticRbac ----------------------------------------------------------------------------------
def test_rolebinding_to_clusterrole_grants_only_in_its_namespace() -> None:
    policy = rbac(role("view", LIST_PODS), binding("view", {"kind": "User", "name": "a"}, "ns1"))
    assert policy.allowed("a", [], pods_in("ns1"))[0]
    assert not policy.allowed("a", [], pods_in("ns2"))[0]
    assert not policy.allowed("a", [], pods_in(""))[0]  # all namespaces needs a cluster binding


def test_clusterrolebinding_grants_every_namespace_and_the_cluster_wide_check() -> None:
    policy = rbac(role("view", LIST_PODS), binding("view", {"kind": "Group", "name": "g"}))
    assert policy.allowed("a", ["g"], pods_in("anything"))[0]
    allowed, reason = policy.allowed("a", ["g"], pods_in(""))
    assert allowed
    assert (
        reason == 'RBAC: allowed by ClusterRoleBinding "b-view" of ClusterRole "view" to Group "g"'
    )
    assert not policy.allowed("a", ["other"], pods_in(""))[0]


def test_rolebinding_uses_the_role_of_its_own_namespace_only() -> None:
    policy = rbac(
        role("local", LIST_PODS, namespace="ns1"),
        binding("local", {"kind": "User", "name": "a"}, "ns2", role_kind="Role"),
        binding("local", {"kind": "User", "name": "b"}, "ns1", role_kind="Role"),
    )
    assert not policy.allowed("a", [], pods_in("ns2"))[0]
    assert policy.allowed("b", [], pods_in("ns1"))[0]


def test_wildcards_match_any_verb_group_and_resource() -> None:
    policy = rbac(
        role("all", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
        binding("all", {"kind": "User", "name": "root"}),
    )
    assert policy.allowed("root", [], AccessCheck("delete", "deployments", "apps", "x"))[0]
    assert not policy.allowed("other", [], AccessCheck("delete", "deployments", "apps", "x"))[0]


def test_rule_must_match_verb_group_and_resource_together() -> None:
    rules = [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]}]
    policy = rbac(role("p", rules), binding("p", {"kind": "User", "name": "a"}))
    assert policy.allowed("a", [], AccessCheck("patch", "deployments", "apps", "ns"))[0]
    assert not policy.allowed("a", [], AccessCheck("patch", "deployments", "", "ns"))[0]
    assert not policy.allowed("a", [], AccessCheck("delete", "deployments", "apps", "ns"))[0]
    assert not policy.allowed("a", [], AccessCheck("patch", "statefulsets", "apps", "ns"))[0]


def test_resource_names_restrict_to_named_objects() -> None:
    rules = [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments"],
            "verbs": ["patch"],
            "resourceNames": ["api"],
        }
    ]
    policy = rbac(role("p", rules), binding("p", {"kind": "User", "name": "a"}))
    assert policy.allowed("a", [], AccessCheck("patch", "deployments", "apps", "ns", "api"))[0]
    assert not policy.allowed("a", [], AccessCheck("patch", "deployments", "apps", "ns", "web"))[0]
    assert not policy.allowed("a", [], AccessCheck("patch", "deployments", "apps", "ns"))[0]


def test_service_account_subjects_match_their_system_username() -> None:
    sa = {"kind": "ServiceAccount", "name": "bot"}
    policy = rbac(role("view", LIST_PODS), binding("view", sa, "tools"))
    assert policy.allowed("system:serviceaccount:tools:bot", [], pods_in("tools"))[0]
    assert not policy.allowed("system:serviceaccount:other:bot", [], pods_in("tools"))[0]


def test_every_authenticated_user_is_in_system_authenticated_but_anonymous_is_not() -> None:
    subject = {"kind": "Group", "name": "system:authenticated"}
    policy = rbac(role("view", LIST_PODS), binding("view", subject, "public"))
    assert policy.allowed("anyone", [], pods_in("public"))[0]
    assert not policy.allowed("system:anonymous", [], pods_in("public"))[0]
    assert not policy.allowed("", [], pods_in("public"))[0]


def test_binding_to_a_missing_role_grants_nothing() -> None:
    policy = rbac(binding("ghost", {"kind": "User", "name": "a"}))
    assert policy.allowed("a", [], pods_in("x")) == (False, "no RBAC policy matched")


def test_invalid_objects_are_reported_by_position_kind_and_name() -> None:
    bad = {"kind": "ClusterRoleBinding", "metadata": {"name": "oops"}, "subjects": []}
    with pytest.raises(
        ValueError, match=r"#1 \(ClusterRoleBinding oops\): roleRef: Field required"
    ):
        rbac(role("view", LIST_PODS), bad)
    with pytest.raises(ValueError, match=r"a Role needs metadata\.namespace"):
        rbac(role("r", LIST_PODS) | {"kind": "Role"})


def test_yaml_lists_and_unrelated_kinds_are_read() -> None:
    text = """
kind: List
items:
- {kind: ClusterRole, metadata: {name: view}, rules: [{apiGroups: [""], resources: [pods],
   verbs: [list]}]}
- {kind: ServiceAccount, metadata: {name: ignored}}
---
kind: RoleBinding
metadata: {name: b, namespace: ns}
roleRef: {kind: ClusterRole, name: view}
subjects: [{kind: User, name: a}]
"""
    assert StaticRbac.from_yaml(text).allowed("a", [], pods_in("ns"))[0]


async def test_demo_rbac_gives_the_demo_users_their_documented_rights() -> None:
    policy = AccessPolicy(StaticRbacAuthorizer(StaticRbac(DEMO_RBAC)), "list", "pods", "")
    assert await policy.scope(ADMIN, DEMO_NAMESPACES) == Scope(None, True)
    assert await policy.scope(ALICE, DEMO_NAMESPACES) == Scope(frozenset({"payments", "checkout"}))
    assert await policy.scope(BOB, DEMO_NAMESPACES) == Scope(frozenset({"search"}))
    assert await policy.may_act(ALICE, "checkout", "deployment", "cart")
    assert not await policy.may_act(BOB, "search", "deployment", "indexer")
    assert await policy.may_act(ADMIN, "web", "statefulset", "cache")


# --- the real kubernetes client against the stand-in ---------------------------------------------
@pytest.fixture
async def kube(kube_api: KubeApiStandIn) -> AsyncIterator[KubeApi]:
    assert kube_api.kubeconfig is not None
    api = KubeApi.from_config(str(kube_api.kubeconfig), timeout=2.0)
    yield api
    await api.aclose()


async def test_sar_answers_per_namespace_with_groups_in_the_spec(
    kube: KubeApi, kube_api: KubeApiStandIn
) -> None:
    assert await kube.subject_access_review(
        "alice@demo.example", ["payments-devs"], pods_in("payments")
    )
    assert not await kube.subject_access_review(
        "alice@demo.example", ["payments-devs"], pods_in("search")
    )
    spec = kube_api.sar_bodies[0]["spec"]
    assert spec["user"] == "alice@demo.example"
    assert spec["groups"] == ["payments-devs", "system:authenticated"]
    assert spec["resourceAttributes"] == {
        "verb": "list",
        "group": "",
        "resource": "pods",
        "namespace": "payments",
    }
    assert not any(k.lower().startswith("impersonate") for h in kube_api.headers for k in h)
    assert kube_api.headers[0]["Authorization"] == "Bearer costbot-test-token"


async def test_cluster_wide_sar_omits_the_namespace(
    kube: KubeApi, kube_api: KubeApiStandIn
) -> None:
    assert await kube.subject_access_review("admin", ["platform-admins"], pods_in(""))
    assert not await kube.subject_access_review("alice", ["payments-devs"], pods_in(""))
    assert "namespace" not in kube_api.sar_bodies[0]["spec"]["resourceAttributes"]


@pytest.mark.parametrize("mode", ["down", "status_500"])
async def test_unreachable_or_failing_api_raises_authorization_unavailable(
    kube: KubeApi, kube_api: KubeApiStandIn, mode: str
) -> None:
    kube_api.set_mode(mode)
    with pytest.raises(AuthorizationUnavailable, match=r"500|refused"):
        await kube.subject_access_review("admin", ["platform-admins"], pods_in("web"))
    kube_api.set_mode("ok")
    assert await kube.subject_access_review("admin", ["platform-admins"], pods_in("web"))


async def test_slow_api_times_out_as_unavailable(kube_api: KubeApiStandIn) -> None:
    assert kube_api.kubeconfig is not None
    api = KubeApi.from_config(str(kube_api.kubeconfig), timeout=0.3)
    kube_api.delay = 1.0
    try:
        with pytest.raises(AuthorizationUnavailable, match="timed out"):
            await api.subject_access_review("admin", [], pods_in("web"))
    finally:
        await api.aclose()


async def test_bot_without_sar_permission_is_told_what_to_grant(tmp_path: Path) -> None:
    without_bot = [obj for obj in DEMO_RBAC if obj["metadata"]["name"] != "costbot"]
    standin = KubeApiStandIn(without_bot)
    standin.start()
    api = KubeApi.from_config(str(write_kubeconfig(tmp_path / "kc", standin.url)))
    try:
        assert not await api.can_create_sar()
        with pytest.raises(AuthorizationUnavailable, match=r"403.*service account needs"):
            await api.subject_access_review("admin", ["platform-admins"], pods_in("web"))
        with pytest.raises(KubeApiUnavailable, match="403"):
            await api.cpu_hpas()
    finally:
        await api.aclose()
        standin.stop()


async def test_bot_with_sar_permission_passes_the_self_check(kube: KubeApi) -> None:
    assert await kube.can_create_sar()


async def test_wrong_token_is_unavailable_not_denied(
    kube_api: KubeApiStandIn, tmp_path: Path
) -> None:
    api = KubeApi.from_config(str(write_kubeconfig(tmp_path / "kc", kube_api.url, "wrong")))
    try:
        with pytest.raises(AuthorizationUnavailable, match="401"):
            await api.subject_access_review("admin", [], pods_in("web"))
    finally:
        await api.aclose()


def test_missing_kubeconfig_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AuthorizationUnavailable, match="cannot load Kubernetes config"):
        KubeApi.from_config(str(tmp_path / "nope"))


def test_no_configuration_at_all_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(AuthorizationUnavailable, match="no Kubernetes API configured"):
        KubeApi.from_config(None)


def test_kubeconfig_environment_variable_is_used(
    kube_api: KubeApiStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kube_api.kubeconfig))
    api = KubeApi.from_config(None)
    api.close()
    assert api.host == kube_api.url


async def test_cpu_hpas_keeps_only_cpu_utilization_targets_across_pages(
    kube: KubeApi, kube_api: KubeApiStandIn
) -> None:
    kube_api.hpas = [
        hpa_object("payments", "api", cpu_utilization=70),
        hpa_object("search", "idx", cpu_utilization=None, memory_utilization=80),
        hpa_object("web", "fe", target_kind="StatefulSet", cpu_utilization=55),
        *(hpa_object("bulk", f"w{i}", cpu_utilization=50) for i in range(500)),
    ]
    found = await kube.cpu_hpas()
    assert found[:2] == [
        CpuHpa("payments", "Deployment", "api", 0.7),
        CpuHpa("web", "StatefulSet", "fe", 0.55),
    ]
    assert len(found) == 502
    assert kube_api.requests["hpa"] == 2


# --- SarAuthorizer: the decision cache -----------------------------------------------------------
async def test_cached_decision_avoids_a_second_sar(
    kube: KubeApi, kube_api: KubeApiStandIn, redis: Redis
) -> None:
    authz = SarAuthorizer(kube, redis, ttl=60)
    assert await authz.allowed(ALICE, pods_in("payments"))
    assert not await authz.allowed(ALICE, pods_in("search"))
    assert await authz.allowed(ALICE, pods_in("payments"))
    assert not await authz.allowed(ALICE, pods_in("search"))
    assert kube_api.requests["sar"] == 2
    keys = await redis.keys("costbot:authz:*")
    assert len(keys) == 2
    assert 0 < await redis.ttl(keys[0]) <= 60


async def test_different_groups_are_a_different_cache_entry(
    kube: KubeApi, kube_api: KubeApiStandIn, redis: Redis
) -> None:
    authz = SarAuthorizer(kube, redis, ttl=60)
    assert not await authz.allowed(BOB, pods_in("payments"))
    promoted = Identity(BOB.slack_user_id, BOB.k8s_user, ("payments-devs", "search-team"))
    assert await authz.allowed(promoted, pods_in("payments"))
    assert kube_api.requests["sar"] == 2


async def test_zero_ttl_asks_every_time_and_broken_redis_leaves_the_local_cache(
    kube: KubeApi, kube_api: KubeApiStandIn, redis: Redis
) -> None:
    uncached = SarAuthorizer(kube, redis, ttl=0)
    assert await uncached.allowed(ALICE, pods_in("payments"))
    assert await uncached.allowed(ALICE, pods_in("payments"))
    assert kube_api.requests["sar"] == 2
    broken = Redis(port=free_port(), socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    try:
        authz = SarAuthorizer(kube, broken, ttl=60)
        assert await authz.allowed(ALICE, pods_in("payments"))
        assert await authz.allowed(ALICE, pods_in("payments"))  # the in-process cache
    finally:
        await broken.aclose()
    assert kube_api.requests["sar"] == 3
    assert await redis.keys("costbot:authz:*") == []


async def test_unmapped_identity_is_denied_without_asking(
    kube: KubeApi, kube_api: KubeApiStandIn
) -> None:
    assert not await SarAuthorizer(kube, None, ttl=60).allowed(NOBODY, pods_in("web"))
    assert kube_api.requests["sar"] == 0


async def test_decisions_are_reported_for_metrics(
    kube: KubeApi, kube_api: KubeApiStandIn, redis: Redis
) -> None:
    seen: list[str] = []
    authz = SarAuthorizer(kube, redis, ttl=60, on_decision=seen.append)
    await authz.allowed(ALICE, pods_in("payments"))
    await authz.allowed(ALICE, pods_in("payments"))
    await authz.allowed(ALICE, pods_in("web"))
    kube_api.set_mode("status_500")
    with pytest.raises(AuthorizationUnavailable):
        await authz.allowed(ALICE, pods_in("search"))
    assert seen == ["allowed", "cached_allowed", "denied", "unavailable"]


# --- AccessPolicy over the real client -----------------------------------------------------------
def policy_for(kube: KubeApi, redis: Redis | None = None, concurrency: int = 8) -> AccessPolicy:
    return AccessPolicy(SarAuthorizer(kube, redis, ttl=60), "list", "pods", "", concurrency)


async def test_scope_lists_exactly_the_visible_namespaces(kube: KubeApi) -> None:
    policy = policy_for(kube)
    assert await policy.scope(ALICE, DEMO_NAMESPACES) == Scope(frozenset({"payments", "checkout"}))
    assert await policy.scope(BOB, DEMO_NAMESPACES) == Scope(frozenset({"search"}))
    assert not await policy.may_see_cluster(ALICE)


async def test_cluster_wide_viewer_needs_one_sar(kube: KubeApi, kube_api: KubeApiStandIn) -> None:
    scope = await policy_for(kube).scope(ADMIN, DEMO_NAMESPACES)
    assert scope == Scope(namespaces=None, cluster_wide=True)
    assert kube_api.requests["sar"] == 1


async def test_unmapped_scope_is_empty_without_asking(
    kube: KubeApi, kube_api: KubeApiStandIn
) -> None:
    assert await policy_for(kube).scope(NOBODY, DEMO_NAMESPACES) == Scope(frozenset(), False)
    assert kube_api.requests["sar"] == 0


async def test_scope_never_asks_about_names_that_are_not_namespaces(
    kube: KubeApi, kube_api: KubeApiStandIn
) -> None:
    scope = await policy_for(kube).scope(
        ALICE, ["payments", "", "__idle__", "Payments", "payments"]
    )
    assert scope.namespaces == frozenset({"payments"})
    assert kube_api.requests["sar"] == 2  # cluster-wide + payments


@pytest.mark.parametrize("mode", ["down", "status_500"])
async def test_scope_fails_closed_when_the_api_cannot_be_asked(
    kube: KubeApi, kube_api: KubeApiStandIn, mode: str
) -> None:
    kube_api.set_mode(mode)
    with pytest.raises(AuthorizationUnavailable):
        await policy_for(kube).scope(ALICE, DEMO_NAMESPACES)
    with pytest.raises(AuthorizationUnavailable):
        await policy_for(kube).may_act(ALICE, "payments", "deployment", "api")


async def test_namespace_checks_run_concurrently_within_the_bound(
    kube: KubeApi, kube_api: KubeApiStandIn
) -> None:
    kube_api.delay = 0.1
    namespaces = [f"team-{i}" for i in range(12)]
    scope = await policy_for(kube, concurrency=3).scope(ALICE, namespaces)
    assert scope.namespaces == frozenset()
    assert kube_api.requests["sar"] == 13
    assert 2 <= kube_api.max_in_flight <= 3


async def test_may_act_needs_patch_on_the_workload_resource(
    kube: KubeApi, kube_api: KubeApiStandIn
) -> None:
    policy = policy_for(kube)
    assert await policy.may_act(ALICE, "payments", "Deployment", "api")
    assert await policy.may_act(ALICE, "checkout", "cronjob", "nightly")
    assert not await policy.may_act(ALICE, "search", "deployment", "indexer")
    assert not await policy.may_act(BOB, "search", "deployment", "indexer")  # sees, may not patch
    attrs = kube_api.sar_bodies[1]["spec"]["resourceAttributes"]
    assert attrs == {
        "verb": "patch",
        "group": "batch",
        "resource": "cronjobs",
        "namespace": "checkout",
        "name": "nightly",
    }


async def test_may_act_denies_unknown_kinds_without_asking(
    kube: KubeApi, kube_api: KubeApiStandIn
) -> None:
    policy = policy_for(kube)
    assert not await policy.may_act(ADMIN, "payments", "rollout", "api")
    assert not await policy.may_act(ADMIN, "", "deployment", "api")
    assert not await policy.may_act(NOBODY, "payments", "deployment", "api")
    assert kube_api.requests["sar"] == 0


async def test_cluster_scoped_targets_need_a_cluster_wide_patch(kube: KubeApi) -> None:
    policy = policy_for(kube)
    assert await policy.may_act(ADMIN, "", "PersistentVolume", "pv-123")
    assert not await policy.may_act(ALICE, "payments", "persistentvolume", "pv-123")


async def test_digest_scope_requires_seeing_all_of_it(kube: KubeApi) -> None:
    policy = policy_for(kube)
    assert await policy.may_see_all(ALICE, ["payments", "checkout"])
    assert not await policy.may_see_all(ALICE, ["payments", "search"])
    assert not await policy.may_see_all(ALICE, None)
    assert await policy.may_see_all(ADMIN, None)
    assert not await policy.may_see_all(NOBODY, [])
