"""Pure waste finders: idle workloads, unclaimed volumes and the idle share of cluster capacity.

Savings here are whole monthly costs (stop it, delete it, drop nodes), not request deltas.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple

from services.opencost.models import Allocation, Asset
from services.recommendations import patches
from services.recommendations.maths import DEFAULTS, for_workload, rec_version
from services.recommendations.models import (
    HOURS_PER_MONTH,
    Evidence,
    Recommendation,
    RecSettings,
    WorkloadKey,
    WorkloadUsage,
)
from services.recommendations.patches import kubectl_patch, yaml_snippet


def idle_workload(usage: WorkloadUsage, settings: RecSettings = DEFAULTS) -> Recommendation | None:
    """A workload that ran every day of the idle window yet used (almost) no CPU or network."""
    network = usage.avg_network_bytes_per_second
    if usage.days < settings.idle_days or network is None or usage.pod_hours <= 0:
        return None
    if (
        usage.avg_cpu_cores >= settings.idle_cpu_cores
        or network >= settings.idle_network_bytes_per_second
    ):
        return None
    monthly = usage.cost / (usage.days * 24.0) * HOURS_PER_MONTH
    key = usage.key
    body = patches.pause_body(key.kind)
    return for_workload(
        key,
        "idle_workload",
        title=f"Idle {key.kind} {key.namespace}/{key.controller}",
        monthly_savings=monthly,
        risk_note="check nothing depends on it; a GitOps controller will undo a manual change",
        evidence=Evidence(
            history_days=usage.days,
            avg_cpu_cores=usage.avg_cpu_cores,
            avg_network_bytes_per_second=network,
            monthly_cost=monthly,
        ),
        kubectl_patch=kubectl_patch(key, body, context=settings.kube_context),
        yaml=yaml_snippet(body),
        version=rec_version(
            "idle_workload",
            cpu=None,
            memory=None,
            savings=monthly,
            risk=False,
            bands=settings.savings_bands,
        ),
    )


def unclaimed_volumes(
    assets: Iterable[Asset], settings: RecSettings = DEFAULTS
) -> list[Recommendation]:
    """Disks no PVC claims (Released/Available PVs); node root disks (`__local__`) excluded."""
    recs: list[Recommendation] = []
    for asset in assets:
        if asset.type != "Disk" or asset.claim_name or asset.storage_class == "__local__":
            continue
        if asset.local is not None and asset.local >= 1:
            continue
        name = asset.volume_name or asset.properties.name
        hours = asset.hours()
        monthly = asset.cost() / hours * HOURS_PER_MONTH if hours > 0 else 0.0
        key = WorkloadKey(asset.properties.cluster, "", "persistentvolume", name)
        recs.append(
            for_workload(
                key,
                "unclaimed_volume",
                title=f"Unclaimed volume {name}",
                monthly_savings=monthly,
                risk_note="no claim uses it, but check the data is not needed: the disk is deleted",
                evidence=Evidence(
                    monthly_cost=monthly,
                    volume_bytes=asset.bytes,
                    storage_class=asset.storage_class,
                ),
                kubectl_patch=patches.release_volume_command(key, context=settings.kube_context),
                yaml=yaml_snippet(patches.RECLAIM_DELETE),
                cluster_wide=True,
                version=rec_version(
                    "unclaimed_volume",
                    cpu=None,
                    memory=None,
                    savings=monthly,
                    risk=False,
                    bands=settings.savings_bands,
                ),
            )
        )
    return recs


class _ClusterCost(NamedTuple):
    idle: float
    total: float
    node_hours: float
    node_cost: float


def idle_capacity(
    rows: Iterable[Allocation],
    nodes: Iterable[Asset],
    window_hours: float,
    settings: RecSettings = DEFAULTS,
) -> list[Recommendation]:
    """The `__idle__` share of each cluster's cost, with how many average nodes could go.

    Nodes kept = ceil(nodes × allocated share ÷ node_target_utilization); the rest is the hint.
    """
    if window_hours <= 0:
        return []
    idle: dict[str, float] = defaultdict(float)
    total: dict[str, float] = defaultdict(float)
    for row in rows:
        total[row.cluster] += row.cost()
        if row.is_idle:
            idle[row.cluster] += row.cost()
    node_hours: dict[str, float] = defaultdict(float)
    node_cost: dict[str, float] = defaultdict(float)
    for node in nodes:
        if node.type == "Node":
            node_hours[node.properties.cluster] += node.hours()
            node_cost[node.properties.cluster] += node.cost()
    return [
        _capacity(
            cluster,
            _ClusterCost(idle[cluster], total[cluster], node_hours[cluster], node_cost[cluster]),
            window_hours,
            settings,
        )
        for cluster in sorted(idle)
        if total[cluster] > 0 and idle[cluster] > 0
    ]


def _capacity(
    cluster: str, cost: _ClusterCost, window_hours: float, settings: RecSettings
) -> Recommendation:
    share = cost.idle / cost.total
    idle_monthly = cost.idle / window_hours * HOURS_PER_MONTH
    savings, nodes, removable = idle_monthly, None, None
    if cost.node_hours > 0:
        nodes = cost.node_hours / window_hours
        needed = math.ceil(round(nodes * (1.0 - share) / settings.node_target_utilization, 6))
        removable = max(0, round(nodes) - max(needed, 1))
        node_monthly = cost.node_cost / cost.node_hours * HOURS_PER_MONTH
        savings = min(idle_monthly, removable * node_monthly)
    key = WorkloadKey(cluster, "", "cluster", "")
    return for_workload(
        key,
        "idle_capacity",
        title=f"Idle capacity in cluster {cluster or 'default'}",
        monthly_savings=savings,
        risk_note="fewer nodes leave less headroom for rollouts and bursts; prefer the autoscaler",
        evidence=Evidence(
            monthly_cost=idle_monthly, idle_share=share, node_count=nodes, removable_nodes=removable
        ),
        cluster_wide=True,
        version=rec_version(
            "idle_capacity",
            cpu=None,
            memory=None,
            savings=savings,
            risk=False,
            bands=settings.savings_bands,
        ),
    )
