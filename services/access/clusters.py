"""Several clusters, several authorities: each access check goes to its own cluster's API."""

from __future__ import annotations

from collections.abc import Mapping

from services.access.models import AccessCheck, Identity
from services.errors import AuthorizationUnavailable
from services.ports import Authorizer


class ClusterAuthorizer:
    """An `Authorizer` that sends each check to the authorizer of `check.cluster`.

    Built in `bot/` with one SubjectAccessReview authorizer per distinct kubeconfig/context;
    several clusters may share one (the home cluster, when AUTHZ_SHARED_ACROSS_CLUSTERS is
    set). A check about a cluster nobody configured cannot be answered: it fails closed."""

    def __init__(self, by_cluster: Mapping[str, Authorizer]) -> None:
        self._by_cluster = dict(by_cluster)

    async def allowed(self, identity: Identity, check: AccessCheck) -> bool:
        authorizer = self._by_cluster.get(check.cluster)
        if authorizer is None:
            raise AuthorizationUnavailable(
                f"no Kubernetes API is configured for cluster {check.cluster!r}"
            )
        return await authorizer.allowed(identity, check)
