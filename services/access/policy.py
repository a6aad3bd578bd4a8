"""Who may see and do what: the policy in docs/rbac.md over an `Authorizer`. Fails closed; never
guesses. The SubjectAccessReview authorizer (with its Redis decision cache) is in `sar`.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence

import orjson

from services.access.models import NOTHING_VIEW, AccessCheck, Identity, Scope
from services.ports import Authorizer, BatchAuthorizer, NamespaceSource

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


_SEEN_ENTRIES = 10_000  # identities whose last visible namespace is remembered

Candidates = Mapping[str, Iterable[str]] | Iterable[str | tuple[str, str]]
"""Namespaces to ask about: cluster → names, or names (every cluster), or (cluster, name)."""


class AccessPolicy:
    """The policy (docs/rbac.md): what "may see namespace N of cluster C", "cluster-wide figures
    of C", "act on a recommendation" and "subscribe a digest" mean, in SubjectAccessReviews.

    `clusters` names the configured clusters; with more than one, every check carries its
    cluster (the authorizer sends it to that cluster's API) and scopes are per cluster. With
    none or only "" (OPENCOST_URL) there is one authority and one view for every row.
    `shared_clusters` names clusters whose access the home cluster's API decides (string form
    of OPENCOST_CLUSTERS with AUTHZ_SHARED_ACROSS_CLUSTERS), for `whoami` to say so.

    Unmapped identities are denied without asking. AuthorizationUnavailable propagates: the
    caller says so and shows nothing (fail closed)."""

    def __init__(
        self,
        authorizer: Authorizer,
        verb: str,
        resource: str,
        group: str,
        concurrency: int = 8,
        *,
        clusters: Sequence[str] = (),
        shared_clusters: Sequence[str] = (),
        namespaces: NamespaceSource | None = None,
    ) -> None:
        self._authz = authorizer
        self._namespaces = namespaces
        # identity → a (cluster, namespace) it could see: `sees_nothing` asks that one first.
        self._seen: OrderedDict[bytes, tuple[str, str]] = OrderedDict()
        self._verb, self._resource, self._group = verb, resource, group
        self._concurrency = max(1, concurrency)
        names = tuple(dict.fromkeys(clusters))
        self.clusters: tuple[str, ...] = names if len(names) > 1 or names not in ((), ("",)) else ()
        self.shared_clusters: tuple[str, ...] = tuple(shared_clusters)

    @property
    def multi(self) -> bool:
        """Several clusters, each with its own view."""
        return bool(self.clusters)

    def see_check(self, namespace: str = "", cluster: str = "") -> AccessCheck:
        return AccessCheck(self._verb, self._resource, self._group, namespace, cluster=cluster)

    async def may_see_cluster(self, identity: Identity, cluster: str | None = None) -> bool:
        """Cluster-wide figures (totals, idle, nodes, unclaimed volumes) of `cluster` (None:
        of every configured cluster): the check with no namespace, which only a cluster-wide
        grant on that cluster allows. An unknown cluster is denied."""
        targets = self._targets(cluster)
        if not identity.mapped or not targets:
            return False
        return all(await self._each(identity, [self.see_check("", c) for c in targets]))

    async def sees_nothing(self, identity: Identity) -> bool:
        """True only when it is certain that `identity` may see no namespace of any cluster:
        unmapped, or no cluster-wide access and no namespace that Kubernetes lists for a
        cluster passes the check there. Asked before anything is read from OpenCost, so such a
        user costs no OpenCost request and no cache write. False when it cannot be sure (no
        namespace list for some cluster): the caller then goes by the namespaces in the data."""
        if not identity.mapped:
            return True
        if self._namespaces is None:
            return False
        targets = self._targets(None)
        if any(await self._each(identity, [self.see_check("", c) for c in targets])):
            return False
        who = orjson.dumps(identity.decides_as())
        hint = self._seen.get(who)
        if hint is not None and await self._ask(identity, self.see_check(hint[1], hint[0])):
            return False  # the namespace that passed last time still does: one cached check
        for cluster in targets:
            names = await self._namespaces.namespaces(cluster)
            if names is None:
                return False
            valid = [ns for ns in sorted(names) if _NAMESPACE.match(ns)]
            allowed = await self._each(identity, [self.see_check(ns, cluster) for ns in valid])
            if any(allowed):
                self._remember_seen(who, (cluster, valid[allowed.index(True)]))
                return False
        return True

    def _remember_seen(self, who: bytes, where: tuple[str, str]) -> None:
        self._seen[who] = where
        self._seen.move_to_end(who)
        while len(self._seen) > _SEEN_ENTRIES:
            self._seen.popitem(last=False)

    async def scope(self, identity: Identity, candidates: Candidates) -> Scope:
        """What `identity` may see among `candidates` (usually the namespaces in the data).

        Plain names are asked about in every cluster; a mapping or (cluster, name) pairs are
        asked about in their own cluster only. With one cluster the answer is a single view."""
        by_cluster = self._candidates(candidates)
        if not identity.mapped:
            nothing = dict.fromkeys(self.clusters, NOTHING_VIEW)
            return Scope.per_cluster(nothing) if self.multi else Scope(frozenset(), False)
        if not self.multi:
            return (await self._views(identity, {"": by_cluster.get("", set())}))[""]
        views = await self._views(identity, by_cluster)
        return Scope.per_cluster({c: views[c].view() for c in self.clusters})

    async def may_act(
        self, identity: Identity, namespace: str, kind: str, name: str, cluster: str = ""
    ) -> bool:
        """`patch` on the workload's own resource (by name) in its cluster; unknown kinds and
        unknown clusters are denied."""
        targets = self._targets(cluster)
        if not identity.mapped or len(targets) != 1:
            return False
        where = targets[0]
        key = kind.strip().lower()
        if key in CLUSTER_RESOURCES:
            group, resource = CLUSTER_RESOURCES[key]
            return await self._ask(identity, AccessCheck("patch", resource, group, "", name, where))
        if key not in WORKLOAD_RESOURCES or not _NAMESPACE.match(namespace):
            return False
        group, resource = WORKLOAD_RESOURCES[key]
        check = AccessCheck("patch", resource, group, namespace, name, where)
        return await self._ask(identity, check)

    async def may_see_all(
        self, identity: Identity, namespaces: Iterable[str] | None, cluster: str | None = None
    ) -> bool:
        """Digest subscriptions and budgets: may see every namespace of the scope, each in at
        least one of the clusters (`cluster`, or every configured one when None); what is then
        shown is filtered per cluster. `namespaces=None` is the whole estate: cluster-wide on
        every targeted cluster."""
        targets = self._targets(cluster)
        if not identity.mapped or not targets:
            return False
        wide = await self._each(identity, [self.see_check("", c) for c in targets])
        if all(wide):
            return True
        if namespaces is None:
            return False
        names = sorted(set(namespaces))
        if not all(_NAMESPACE.match(ns) for ns in names):
            return False
        if any(wide):  # cluster-wide somewhere: every name is seen there
            return True
        return await self._all_somewhere(identity, names, targets)

    # --- internals -----------------------------------------------------------------------------
    def _targets(self, cluster: str | None) -> list[str]:
        """The clusters a check is about: "" alone with one cluster; with several, `cluster`
        when it is configured, every one for None, none otherwise."""
        if not self.multi:
            return [""]
        if cluster is None:
            return list(self.clusters)
        return [cluster] if cluster in self.clusters else []

    def _candidates(self, candidates: Candidates) -> dict[str, set[str]]:
        """cluster → candidate names ("" holds the names for every cluster when single)."""
        found: dict[str, set[str]] = {}
        everywhere: set[str] = set()
        items: Iterable[tuple[str, Iterable[str]]] = (
            candidates.items() if isinstance(candidates, Mapping) else ()
        )
        for cluster, names in items:
            found.setdefault(cluster, set()).update(names)
        if not isinstance(candidates, Mapping):
            for item in candidates:
                if isinstance(item, str):
                    everywhere.add(item)
                else:
                    found.setdefault(item[0], set()).add(item[1])
        if not self.multi:
            return {"": everywhere.union(*found.values())}
        return {c: everywhere | found.get(c, set()) for c in self.clusters}

    async def _views(self, identity: Identity, by_cluster: dict[str, set[str]]) -> dict[str, Scope]:
        """One single-cluster Scope per cluster: cluster-wide, or the allowed candidates."""
        clusters = sorted(by_cluster)
        wide = await self._each(identity, [self.see_check("", c) for c in clusters])
        asks = [
            (c, ns)
            for c, is_wide in zip(clusters, wide, strict=True)
            if not is_wide
            for ns in sorted(by_cluster[c])
            if _NAMESPACE.match(ns)
        ]
        allowed = await self._each(identity, [self.see_check(ns, c) for c, ns in asks])
        views = {}
        for c, is_wide in zip(clusters, wide, strict=True):
            if is_wide:
                views[c] = Scope(namespaces=None, cluster_wide=True)
            else:
                pairs = zip(asks, allowed, strict=True)
                seen = frozenset(ns for (at, ns), ok in pairs if ok and at == c)
                views[c] = Scope(namespaces=seen, cluster_wide=False)
        return views

    async def _all_somewhere(
        self, identity: Identity, names: list[str], targets: list[str]
    ) -> bool:
        """Every name visible in at least one target cluster."""
        asks = [(ns, c) for ns in names for c in targets]
        allowed = await self._each(identity, [self.see_check(ns, c) for ns, c in asks])
        seen = {ns for (ns, _), ok in zip(asks, allowed, strict=True) if ok}
        return seen.issuperset(names)

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
