"""Who is asking, what one access check asks, and what a requester may see."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec


class Identity(msgspec.Struct, frozen=True):
    """Who is asking: a Slack user and, when mapped, their Kubernetes user and groups.

    A caller of the HTTP API is identified by a TokenReview instead: `slack_user_id` is then
    `k8s:USER` (the actor audit entries name), and `uid` and `extra` are the authenticator's,
    carried into every SubjectAccessReview so that webhook authorizers see the same subject."""

    slack_user_id: str
    k8s_user: str | None = None
    groups: tuple[str, ...] = ()
    source: str = "unmapped"  # explicit | email | demo | token | unmapped
    email: str | None = None
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()  # sorted (key, values) pairs
    tz: str | None = None  # the Slack profile's IANA zone: personal answers' local days

    @property
    def mapped(self) -> bool:
        return self.k8s_user is not None

    def decides_as(self) -> tuple[object, ...]:
        """Everything Kubernetes decides on: the user and the set of groups, plus a token
        subject's uid and extra. The same person with other groups is someone else."""
        who: tuple[object, ...] = (self.k8s_user, sorted(set(self.groups)))
        if self.uid or self.extra:
            who += (self.uid, [[key, list(values)] for key, values in self.extra])
        return who


class AccessCheck(msgspec.Struct, frozen=True):
    """The attributes of one SubjectAccessReview. namespace="" means all namespaces; `cluster`
    names the configured cluster whose Kubernetes API decides ("" = the only one)."""

    verb: str
    resource: str
    group: str = ""
    namespace: str = ""
    name: str = ""
    cluster: str = ""


class ClusterView(msgspec.Struct, frozen=True):
    """What one requester may see in one cluster. `namespaces=None` means every namespace."""

    namespaces: frozenset[str] | None = None
    cluster_wide: bool = False

    def sees(self, namespace: str) -> bool:
        return self.namespaces is None or namespace in self.namespaces

    @property
    def empty(self) -> bool:
        return not self.cluster_wide and self.namespaces == frozenset()


NOTHING_VIEW = ClusterView(namespaces=frozenset(), cluster_wide=False)


class Scope(msgspec.Struct, frozen=True):
    """What one requester may see, per cluster.

    `clusters` holds one view per configured cluster, as (name, view) pairs sorted by name;
    `namespaces`/`cluster_wide` are the view of every cluster *not* listed there. With one
    cluster (OPENCOST_URL) nothing is listed and that one view applies to every row, whatever
    cluster id OpenCost reports; with several, the policy lists each configured cluster and
    leaves the rest at nothing, so a grant in one cluster never shows the same name in another.
    """

    namespaces: frozenset[str] | None = None
    cluster_wide: bool = False
    clusters: tuple[tuple[str, ClusterView], ...] = ()

    @classmethod
    def per_cluster(cls, views: Mapping[str, ClusterView]) -> Scope:
        """A scope with one view per named cluster and nothing anywhere else."""
        return cls(
            namespaces=frozenset(), cluster_wide=False, clusters=tuple(sorted(views.items()))
        )

    def view(self, cluster: str = "") -> ClusterView:
        """The requester's view of `cluster` (the default view when it is not listed)."""
        for name, view in self.clusters:
            if name == cluster:
                return view
        return ClusterView(self.namespaces, self.cluster_wide)

    def views(self) -> dict[str, ClusterView]:
        """Every listed cluster's view ({"": default} for a single-cluster scope)."""
        if not self.clusters:
            return {"": ClusterView(self.namespaces, self.cluster_wide)}
        return dict(self.clusters)

    def sees(self, namespace: str, cluster: str = "") -> bool:
        """May see `namespace` in `cluster`."""
        return self.view(cluster).sees(namespace)

    def sees_cluster(self, cluster: str = "") -> bool:
        """May see the cluster-wide figures of `cluster` (nodes, idle, unclaimed volumes)."""
        return self.view(cluster).cluster_wide

    @property
    def any_cluster_wide(self) -> bool:
        """Cluster-wide on at least one cluster."""
        return any(view.cluster_wide for view in self.views().values())

    @property
    def all_cluster_wide(self) -> bool:
        """Cluster-wide on every cluster: the whole estate, totals included."""
        return all(view.cluster_wide for view in self.views().values())

    @property
    def empty(self) -> bool:
        """Sees nothing anywhere."""
        return all(view.empty for view in self.views().values())

    @property
    def partial(self) -> bool:
        """Some namespaces of some cluster are hidden."""
        return any(view.namespaces is not None for view in self.views().values())

    def visible_names(self) -> frozenset[str] | None:
        """Every namespace name seen in some cluster (None: all of them, somewhere)."""
        found: set[str] = set()
        for view in self.views().values():
            if view.namespaces is None:
                return None
            found |= view.namespaces
        return frozenset(found)

    def narrowed_to(self, namespaces: Iterable[str]) -> Scope:
        """The same scope restricted to `namespaces` in each cluster, without cluster-wide
        figures (a namespace digest shows only its namespaces, wherever each one is seen)."""
        wanted = frozenset(namespaces)

        def narrow(view: ClusterView) -> ClusterView:
            kept = wanted if view.namespaces is None else wanted & view.namespaces
            return ClusterView(namespaces=kept, cluster_wide=False)

        default = narrow(ClusterView(self.namespaces, self.cluster_wide))
        listed = tuple((name, narrow(view)) for name, view in self.clusters)
        return Scope(default.namespaces, False, listed)


EVERYTHING = Scope(namespaces=None, cluster_wide=True)
