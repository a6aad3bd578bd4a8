"""The demo's `/assets` map: nodes, disks, the load balancer and the managed control plane.

Costs here are what the cloud bills; allocations plus `__idle__` add up to the same node costs.
"""

from __future__ import annotations

from typing import Any

from demo.cluster.catalog import (
    CPU_PRICE,
    DISK_PRICE,
    GIB,
    GPU_PRICE,
    HOUR,
    LB_PRICE,
    MGMT_PRICE,
    NODES,
    RAM_PRICE,
    Node,
)
from demo.cluster.generator import Uptime
from demo.cluster.layout import Disk
from demo.cluster.wire import rfc

Span = dict[str, Any]  # window, start, end, minutes
Keyed = tuple[str, dict[str, Any]]


def asset_map(
    cluster: str,
    disks: list[Disk],
    *,
    window: dict[str, str],
    data: tuple[int, int],
    nodes: dict[str, Uptime],
    cpu_used: dict[str, float],
) -> dict[str, Any]:
    """Every asset for the asked `window`, over `data` ([start, end) epoch seconds with data);
    nodes only for their `nodes` uptime (an autoscaled node is billed only while it is up)."""
    lo, hi = data
    span = {"window": window, "start": rfc(lo), "end": rfc(hi), "minutes": (hi - lo) / 60}
    hours = (hi - lo) / HOUR
    found = [
        _node(cluster, node, window, nodes[node.name], cpu_used.get(node.name, 0.0))
        for node in NODES
        if node.name in nodes
    ]
    found += [_disk(cluster, disk, span, hours) for disk in disks]
    found.append(_balancer(cluster, span, hours))
    management = {"totalCost": MGMT_PRICE * hours}
    found.append(
        _asset(cluster, "ClusterManagement", "Management", ("", ""), span=span, fields=management)
    )
    return dict(sorted(found))


def _asset(
    cluster: str,
    kind: str,
    category: str,
    ids: tuple[str, str],
    *,
    span: Span,
    fields: dict[str, Any],
    labels: dict[str, str] | None = None,
) -> Keyed:
    """One asset keyed like OpenCost; `ids` is (name, provider ID), either may be empty."""
    name, provider_id = ids
    props = {"category": category, "provider": "AWS", "service": "Kubernetes", "cluster": cluster}
    if name:
        props["name"] = name
    if provider_id:
        props["providerID"] = provider_id
    parts = ["AWS", "", "", category, cluster, kind, "Kubernetes", provider_id, name]
    key = "/".join(part or "__undefined__" for part in parts)
    return key, {"type": kind, "properties": props, "labels": labels or {}, **span, **fields}


def _balancer(cluster: str, span: Span, hours: float) -> Keyed:
    ip = "203.0.113.10"
    fields = {"adjustment": 0.0, "totalCost": LB_PRICE * hours, "private": False, "ip": ip}
    return _asset(
        cluster, "LoadBalancer", "Network", ("web/frontend", ip), span=span, fields=fields
    )


def _node(
    cluster: str, node: Node, window: dict[str, str], uptime: Uptime, cpu_used: float
) -> Keyed:
    hours, first, last = uptime
    span = {"window": window, "start": rfc(first), "end": rfc(last), "minutes": hours * 60}
    busy = min(cpu_used / (node.cpu * hours), 1.0)
    cpu_cost, ram_cost = node.cpu * hours * CPU_PRICE, node.ram_gib * hours * RAM_PRICE
    gpu_cost = node.gpu * hours * GPU_PRICE
    labels = {
        "kubernetes_io_hostname": node.name,
        "node_kubernetes_io_instance_type": node.node_type,
    }
    fields = {
        "nodeType": node.node_type,
        "cpuCores": node.cpu,
        "ramBytes": node.ram_gib * GIB,
        "cpuCoreHours": node.cpu * hours,
        "ramByteHours": node.ram_gib * GIB * hours,
        "GPUHours": node.gpu * hours,
        "cpuBreakdown": {"idle": 1 - busy, "other": 0.0, "system": 0.0, "user": busy},
        "ramBreakdown": {"idle": 0.0, "other": 0.0, "system": 0.0, "user": 0.0},
        "preemptible": 0.0,
        "discount": 0.0,
        "cpuCost": cpu_cost,
        "gpuCost": gpu_cost,
        "gpuCount": float(node.gpu),
        "ramCost": ram_cost,
        "adjustment": 0.0,
        "totalCost": cpu_cost + ram_cost + gpu_cost,
    }
    ids = (node.name, node.provider_id)
    return _asset(cluster, "Node", "Compute", ids, span=span, fields=fields, labels=labels)


def _disk(cluster: str, disk: Disk, span: Span, hours: float) -> Keyed:
    size = float(disk.gib * GIB)
    mounted = bool(disk.claim)  # usage metrics come from the kubelet, only while mounted
    fields = {
        "byteHours": size * hours,
        "bytes": size,
        "byteHoursUsed": size * disk.used * hours if mounted else None,
        "byteUsageMax": size * min(disk.used * 1.1, 1.0) if mounted else None,
        "breakdown": {"idle": 1 - disk.used, "other": 0.0, "system": 0.0, "user": disk.used},
        "adjustment": 0.0,
        "totalCost": disk.gib * hours * DISK_PRICE,
        "storageClass": "gp3",
        "volumeName": disk.volume,
        "claimName": disk.claim,
        "local": 0.0,
        "claimNamespace": disk.namespace,
    }
    ids = (disk.volume, disk.provider_id)
    return _asset(cluster, "Disk", "Storage", ids, span=span, fields=fields)
