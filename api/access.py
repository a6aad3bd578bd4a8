"""The API's one place that asks `AccessPolicy` for a caller's scope.

Scopes are per cluster: a grant in one cluster shows nothing of a namespace of the same name
in another, and cluster-wide figures are per cluster too.
"""

from __future__ import annotations

from services.access.models import Identity, Scope
from services.access.policy import AccessPolicy
from services.costs.scoping import WindowScope, window_scope
from services.costs.service import CostService
from services.costs.windows import TimeRange


async def scope_for(
    costs: CostService, access: AccessPolicy, identity: Identity, window: TimeRange, **how: object
) -> WindowScope:
    """What `identity` may see of the namespaces in the window's data, cluster by cluster
    (services/costs/scoping.py: someone who may see nothing costs no OpenCost request)."""
    return await window_scope(
        costs,
        access,
        identity,
        window,
        step=str(how.get("step", "")),
        with_previous=bool(how.get("with_previous", False)),
    )


def per_cluster(in_data: dict[str, set[str]], scope: Scope) -> dict[str, tuple[bool, list[str]]]:
    """cluster → (cluster-wide figures?, namespaces visible there)."""
    return {
        cluster: (
            scope.sees_cluster(cluster),
            sorted(ns for ns in names if ns and scope.sees(ns, cluster)),
        )
        for cluster, names in sorted(in_data.items())
    }
