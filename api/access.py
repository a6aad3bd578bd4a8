"""The API's one place that asks `AccessPolicy` for a caller's scope.

Scopes are per cluster: a grant in one cluster shows nothing of a namespace of the same name
in another, and cluster-wide figures are per cluster too.
"""

from __future__ import annotations

from services.access.models import Identity, Scope
from services.access.policy import AccessPolicy
from services.costs.service import CostService
from services.costs.windows import TimeRange


async def present(costs: CostService, window: TimeRange, **how: object) -> dict[str, set[str]]:
    """cluster → namespaces in the data for this window (asked as the answer will ask)."""
    step = str(how.get("step", ""))
    return await costs.visible_namespaces(
        window, step=step, with_previous=bool(how.get("with_previous", False))
    )


async def scope_for(
    access: AccessPolicy, identity: Identity, in_data: dict[str, set[str]]
) -> Scope:
    """What `identity` may see among the namespaces present in the data, cluster by cluster."""
    return await access.scope(identity, in_data)


def per_cluster(in_data: dict[str, set[str]], scope: Scope) -> dict[str, tuple[bool, list[str]]]:
    """cluster → (cluster-wide figures?, namespaces visible there)."""
    return {
        cluster: (
            scope.sees_cluster(cluster),
            sorted(ns for ns in names if ns and scope.sees(ns, cluster)),
        )
        for cluster, names in sorted(in_data.items())
    }
