"""Which namespaces each cluster has, as its Kubernetes API lists them, cached for a minute.

Used before anything is read from OpenCost: a user whom no namespace's check allows (and who has
no cluster-wide access) is told so without the bot fetching the window's data to learn which
namespaces it holds. A failure to list is logged and answered with None ("unknown"), so the caller
falls back to the namespaces in the data: the list is an optimisation, never an authorization.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import structlog

from services.errors import DependencyError
from services.ports import Clock
from services.storage.ttl import TtlCache

log = structlog.get_logger(__name__)
LIST_TTL = 60  # seconds a cluster's namespace list is kept


class NamespaceLister(Protocol):
    """What `KubeNamespaces` needs from `services.access.kube.KubeApi`."""

    async def namespace_names(self) -> list[str]: ...


class KubeNamespaces:
    """`NamespaceSource` over each cluster's Kubernetes API (cluster name → API; "" with one)."""

    def __init__(
        self, apis: Mapping[str, NamespaceLister], clock: Clock, ttl: int = LIST_TTL
    ) -> None:
        self._apis = dict(apis)
        self._lists: TtlCache[str, frozenset[str]] = TtlCache(clock, ttl, max(1, len(apis)))

    async def namespaces(self, cluster: str) -> frozenset[str] | None:
        api = self._apis.get(cluster)
        if api is None:
            return None
        found, cached = self._lists.get(cluster)
        if found:
            return cached
        try:
            names = frozenset(await api.namespace_names())
        except DependencyError as exc:
            log.warning("namespaces.unlisted", cluster=cluster or "-", error=str(exc))
            return None
        self._lists.put(cluster, names)
        return names
