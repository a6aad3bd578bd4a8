"""Who may see and do what: the policy in docs/rbac.md over an `Authorizer`. Fails closed; never
guesses. The SubjectAccessReview authorizer (with its Redis decision cache) is in `sar`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable

from services.access.models import AccessCheck, Identity, Scope
from services.ports import Authorizer, BatchAuthorizer

# A namespace name is a DNS-1123 label; anything else (OpenCost's `__idle__`, "") is not one
# and is never asked about (an empty namespace would even mean "all namespaces").
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")

# Recommendation target kind (OpenCost's controllerKind, any case) → (API group, resource).
WORKLOAD_RESOURCES: dict[str, tuple[str, str]] = {
    "deployment": ("apps", "deployments"),
    "statefulset": ("apps", "statefulsets"),
    "daemonset": ("apps", "daemonsets"),
    "replicaset": ("apps", "replicasets"),
    "cronjob": ("batch", "cronjobs"),
    "job": ("batch", "jobs"),
    "pod": ("", "pods"),
}
# Cluster-scoped targets (unclaimed volumes, idle nodes): acting needs a cluster-wide grant.
CLUSTER_RESOURCES: dict[str, tuple[str, str]] = {
    "persistentvolume": ("", "persistentvolumes"),
    "node": ("", "nodes"),
}


class AccessPolicy:
    """The policy (docs/rbac.md): what "may see namespace N", "cluster-wide figures", "act on a
    recommendation" and "subscribe a digest" mean, in SubjectAccessReviews.

    Unmapped identities are denied without asking. AuthorizationUnavailable propagates: the
    caller says so and shows nothing (fail closed)."""

    def __init__(
        self, authorizer: Authorizer, verb: str, resource: str, group: str, concurrency: int = 8
    ) -> None:
        self._authz = authorizer
        self._verb, self._resource, self._group = verb, resource, group
        self._concurrency = max(1, concurrency)

    def see_check(self, namespace: str = "") -> AccessCheck:
        return AccessCheck(self._verb, self._resource, self._group, namespace)

    async def may_see_cluster(self, identity: Identity) -> bool:
        """Cluster-wide figures (totals, idle, nodes, unclaimed volumes): the check with no
        namespace, which only a cluster-wide grant allows."""
        return identity.mapped and await self._ask(identity, self.see_check(""))

    async def scope(self, identity: Identity, candidate_namespaces: Iterable[str]) -> Scope:
        """What `identity` may see among `candidate_namespaces` (usually the ones in the data)."""
        if not identity.mapped:
            return Scope(namespaces=frozenset(), cluster_wide=False)
        if await self._ask(identity, self.see_check("")):
            return Scope(namespaces=None, cluster_wide=True)
        names = sorted({ns for ns in candidate_namespaces if _NAMESPACE.match(ns)})
        allowed = await self._each(identity, [self.see_check(ns) for ns in names])
        return Scope(
            namespaces=frozenset(ns for ns, ok in zip(names, allowed, strict=True) if ok),
            cluster_wide=False,
        )

    async def may_act(self, identity: Identity, namespace: str, kind: str, name: str) -> bool:
        """`patch` on the workload's own resource (by name); unknown kinds are denied."""
        if not identity.mapped:
            return False
        key = kind.strip().lower()
        if key in CLUSTER_RESOURCES:
            group, resource = CLUSTER_RESOURCES[key]
            return await self._ask(identity, AccessCheck("patch", resource, group, "", name))
        if key not in WORKLOAD_RESOURCES or not _NAMESPACE.match(namespace):
            return False
        group, resource = WORKLOAD_RESOURCES[key]
        return await self._ask(identity, AccessCheck("patch", resource, group, namespace, name))

    async def may_see_all(self, identity: Identity, namespaces: Iterable[str] | None) -> bool:
        """Digest subscriptions: may see every namespace of the scope (None = the whole
        cluster, including cluster-wide figures)."""
        if not identity.mapped:
            return False
        if await self._ask(identity, self.see_check("")):
            return True
        if namespaces is None:
            return False
        names = sorted(set(namespaces))
        if not all(_NAMESPACE.match(ns) for ns in names):
            return False
        return all(await self._each(identity, [self.see_check(ns) for ns in names]))

    async def _ask(self, identity: Identity, check: AccessCheck) -> bool:
        return await self._authz.allowed(identity, check)

    async def _each(self, identity: Identity, checks: list[AccessCheck]) -> list[bool]:
        """All checks, at most `concurrency` at a time; the first failure cancels the rest and
        propagates unchanged."""
        if isinstance(self._authz, BatchAuthorizer):
            return await self._authz.allowed_many(identity, checks, self._concurrency)
        limit = asyncio.Semaphore(self._concurrency)  # per call: never bound to an old loop

        async def bounded(check: AccessCheck) -> bool:
            async with limit:
                return await self._ask(identity, check)

        tasks = [asyncio.ensure_future(bounded(check)) for check in checks]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            raise
