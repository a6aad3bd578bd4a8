"""OpenCost-shaped JSON for tests: complete allocation rows, assets, envelopes, window checks.

Rows carry every numeric field OpenCost v1.112 prints, rounded to 5 decimals as OpenCost does;
shapes follow /work/shared/docs/reference/opencost-api.md §3–§6. Test data only, never real.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

Row = dict[str, Any]
AllocationSet = dict[str, Row]

DAY_START = "2024-03-04T00:00:00Z"
DAY_END = "2024-03-05T00:00:00Z"

# --- window validation (OpenCost core/pkg/opencost/window.go, re-expressed) -------------------
_KEYWORDS = frozenset({"today", "yesterday", "week", "lastweek", "month", "lastmonth"})
_DURATION = re.compile(r"[0-9]+[mhdw]")
_DURATION_OFFSET = re.compile(r"[0-9]+[mhdw] offset [0-9]+[mhdw]")
_TIMESTAMP_PAIR = re.compile(r"[0-9]+[,|-][0-9]+")
_RFC3339 = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"
_RFC3339_PAIR = re.compile(f"{_RFC3339},{_RFC3339}")  # unanchored in OpenCost too


def window_is_valid(window: str) -> bool:
    """True when OpenCost would accept this `window` parameter."""
    if window in _KEYWORDS:
        return True
    if any(p.fullmatch(window) for p in (_DURATION, _DURATION_OFFSET, _TIMESTAMP_PAIR)):
        return True
    return _RFC3339_PAIR.search(window) is not None


# --- envelopes --------------------------------------------------------------------------------
def allocation_envelope(
    sets: Iterable[Mapping[str, Row]], *, status: bool = True
) -> dict[str, Any]:
    """`{"code":200,"status":"success","data":[set, …]}`; newer builds omit `status`."""
    envelope: dict[str, Any] = {"code": 200}
    if status:
        envelope["status"] = "success"
    envelope["data"] = [dict(one_set) for one_set in sets]
    return envelope


def assets_envelope(assets: Mapping[str, Row], *, status: bool = False) -> dict[str, Any]:
    """`/assets` answers a map key → asset; the 2026 fixture has no `status`."""
    envelope: dict[str, Any] = {"code": 200}
    if status:
        envelope["status"] = "success"
    envelope["data"] = dict(assets)
    return envelope


def allocation_set(*rows: Row) -> AllocationSet:
    """One step's set, keyed by each row's `name` as OpenCost does."""
    return {row["name"]: row for row in rows}


# --- allocations ------------------------------------------------------------------------------
def allocation_row(
    name: str | None = None,
    *,
    cluster: str = "cluster-one",
    node: str = "node-1",
    namespace: str = "default",
    controller: str = "",
    kind: str = "",
    pod: str = "",
    container: str = "",
    labels: Mapping[str, str] | None = None,
    namespace_labels: Mapping[str, str] | None = None,
    provider_id: str = "",
    start: str = DAY_START,
    end: str = DAY_END,
    window: tuple[str, str] | None = None,
    minutes: float | None = None,
    cpu_core_request_average: float = 0.0,
    cpu_core_usage_average: float = 0.0,
    cpu_core_usage_max: float | None = None,
    ram_byte_request_average: float = 0.0,
    ram_byte_usage_average: float = 0.0,
    ram_byte_usage_max: float | None = None,
    cpu_cost: float = 0.0,
    ram_cost: float = 0.0,
    gpu_cost: float = 0.0,
    pv_cost: float = 0.0,
    pv_bytes: float = 0.0,
    network_cost: float = 0.0,
    load_balancer_cost: float = 0.0,
    shared_cost: float = 0.0,
    external_cost: float = 0.0,
    total_cost: float | None = None,
    raw: bool = True,
) -> Row:
    """A complete OpenCost allocation row; derived fields (cores, hours, efficiency) computed.

    `name` defaults to the container-level key `cluster/node/namespace/pod/container`. `raw`
    keeps `rawAllocationOnly` (maxima default to the averages); aggregated rows have none.
    """
    mins = minutes if minutes is not None else _minutes(start, end)
    hours = mins / 60.0
    cpu_cores = max(cpu_core_request_average, cpu_core_usage_average)
    ram_bytes = max(ram_byte_request_average, ram_byte_usage_average)
    cpu_eff = _efficiency(cpu_core_usage_average, cpu_core_request_average, cpu_cost)
    ram_eff = _efficiency(ram_byte_usage_average, ram_byte_request_average, ram_cost)
    costs = (cpu_cost, ram_cost, gpu_cost, pv_cost, network_cost, load_balancer_cost)
    total = total_cost if total_cost is not None else sum(costs) + shared_cost + external_cost
    key = name or "/".join((cluster, node, namespace, pod, container))
    dimensions = {
        "cluster": cluster,
        "node": node,
        "container": container,
        "controller": controller,
        "controllerKind": kind,
        "namespace": namespace,
        "pod": pod,
        "providerID": provider_id,
    }
    props = _properties(dimensions, labels, namespace_labels)
    row: Row = {
        "name": key,
        "properties": props,
        "window": {"start": (window or (start, end))[0], "end": (window or (start, end))[1]},
        "start": start,
        "end": end,
        "minutes": mins,
        "cpuCores": cpu_cores,
        "cpuCoreRequestAverage": cpu_core_request_average,
        "cpuCoreUsageAverage": cpu_core_usage_average,
        "cpuCoreHours": cpu_cores * hours,
        "cpuCost": cpu_cost,
        "cpuCostAdjustment": 0,
        "cpuCostIdle": 0,
        "cpuEfficiency": cpu_eff,
        "gpuCount": 0,
        "gpuRequestAverage": 0,
        "gpuUsageAverage": 0,
        "gpuHours": 0,
        "gpuCost": gpu_cost,
        "gpuCostAdjustment": 0,
        "gpuCostIdle": 0,
        "gpuEfficiency": 0,
        "networkTransferBytes": 0,
        "networkReceiveBytes": 0,
        "networkCost": network_cost,
        "networkCrossZoneCost": 0,
        "networkCrossRegionCost": 0,
        "networkInternetCost": 0,
        "networkCostAdjustment": 0,
        "loadBalancerCost": load_balancer_cost,
        "loadBalancerCostAdjustment": 0,
        "pvBytes": pv_bytes,
        "pvByteHours": pv_bytes * hours,
        "pvCost": pv_cost,
        "pvs": None,
        "pvCostAdjustment": 0,
        "ramBytes": ram_bytes,
        "ramByteRequestAverage": ram_byte_request_average,
        "ramByteUsageAverage": ram_byte_usage_average,
        "ramByteHours": ram_bytes * hours,
        "ramCost": ram_cost,
        "ramCostAdjustment": 0,
        "ramCostIdle": 0,
        "ramEfficiency": ram_eff,
        "externalCost": external_cost,
        "sharedCost": shared_cost,
        "totalCost": total,
        "totalEfficiency": _total_efficiency(cpu_eff, cpu_cost, ram_eff, ram_cost),
    }
    if raw:
        row["rawAllocationOnly"] = {
            "cpuCoreUsageMax": _pick(cpu_core_usage_max, cpu_core_usage_average),
            "ramByteUsageMax": _pick(ram_byte_usage_max, ram_byte_usage_average),
        }
    row.update(proportionalAssetResourceCosts={}, lbAllocations=None, sharedCostBreakdown={})
    return {key: _rounded(value) for key, value in row.items()}


def _properties(
    dimensions: Mapping[str, str],
    labels: Mapping[str, str] | None,
    namespace_labels: Mapping[str, str] | None,
) -> dict[str, Any]:
    # OpenCost prints properties with omitempty: an empty dimension is simply absent.
    props: dict[str, Any] = {key: value for key, value in dimensions.items() if value}
    if labels:
        props["labels"] = dict(labels)
    if namespace_labels:
        props["namespaceLabels"] = dict(namespace_labels)
    return props


def _efficiency(usage: float, request: float, cost: float) -> float:
    if request > 0:
        return usage / request
    return 1.0 if usage > 0 and cost > 0 else 0.0


def _total_efficiency(cpu_eff: float, cpu_cost: float, ram_eff: float, ram_cost: float) -> float:
    spend = cpu_cost + ram_cost
    return (cpu_eff * cpu_cost + ram_eff * ram_cost) / spend if spend > 0 else 0.0


def _pick(value: float | None, fallback: float) -> float:
    return fallback if value is None else value


def _minutes(start: str, end: str) -> float:
    begin = datetime.fromisoformat(start.replace("Z", "+00:00"))
    finish = datetime.fromisoformat(end.replace("Z", "+00:00"))
    return (finish - begin).total_seconds() / 60.0


def _rounded(value: Any) -> Any:
    """OpenCost rounds allocation floats to 5 decimals; integral values print as integers."""
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, float):
        rounded = round(value, 5)
        return int(rounded) if rounded.is_integer() else rounded
    return value


# --- assets -----------------------------------------------------------------------------------
def disk_asset(
    name: str,
    *,
    cluster: str = "cluster-one",
    claim_name: str = "",
    claim_namespace: str = "",
    storage_class: str = "standard",
    size_bytes: float = 107374182400.0,
    total_cost: float = 1.0,
    provider: str = "GCP",
    start: str = DAY_START,
    end: str = DAY_END,
) -> Row:
    """A `Disk` asset; an empty claim_name is an unclaimed volume."""
    asset = _asset(
        "Disk",
        "Storage",
        name,
        cluster=cluster,
        provider=provider,
        start=start,
        end=end,
        total_cost=total_cost,
    )
    asset.update(
        byteHours=size_bytes * _minutes(start, end) / 60.0,
        bytes=size_bytes,
        byteHoursUsed=size_bytes * 0.1 * _minutes(start, end) / 60.0,
        byteUsageMax=size_bytes * 0.1,
        breakdown={"idle": 0.9, "other": 0, "system": 0, "user": 0.1},
        storageClass=storage_class,
        volumeName=name,
        claimName=claim_name,
        claimNamespace=claim_namespace,
        local=0,
    )
    return asset


def node_asset(
    name: str,
    *,
    cluster: str = "cluster-one",
    node_type: str = "n2-standard-4",
    cpu_cores: float = 4.0,
    ram_bytes: float = 17179869184.0,
    cpu_cost: float = 2.0,
    ram_cost: float = 1.0,
    provider: str = "GCP",
    start: str = DAY_START,
    end: str = DAY_END,
) -> Row:
    asset = _asset(
        "Node",
        "Compute",
        name,
        cluster=cluster,
        provider=provider,
        start=start,
        end=end,
        total_cost=cpu_cost + ram_cost,
    )
    hours = _minutes(start, end) / 60.0
    asset.update(
        nodeType=node_type,
        cpuCores=cpu_cores,
        ramBytes=ram_bytes,
        cpuCoreHours=cpu_cores * hours,
        ramByteHours=ram_bytes * hours,
        GPUHours=0,
        cpuBreakdown={"idle": 0.5, "other": 0, "system": 0.1, "user": 0.4},
        ramBreakdown={"idle": 0.5, "other": 0, "system": 0.1, "user": 0.4},
        preemptible=0,
        discount=0,
        cpuCost=cpu_cost,
        gpuCost=0,
        gpuCount=0,
        ramCost=ram_cost,
        overhead={
            "CpuOverheadFraction": 0.05,
            "RamOverheadFraction": 0.1,
            "OverheadCostFraction": 0.07,
        },
    )
    return asset


def _asset(
    kind: str,
    category: str,
    name: str,
    *,
    cluster: str,
    provider: str,
    start: str,
    end: str,
    total_cost: float,
) -> Row:
    return {
        "type": kind,
        "properties": {
            "category": category,
            "provider": provider,
            "service": "Kubernetes",
            "cluster": cluster,
            "name": name,
            "providerID": name,
        },
        "labels": {},
        "window": {"start": start, "end": end},
        "start": start,
        "end": end,
        "minutes": _minutes(start, end),
        "adjustment": 0,
        "totalCost": total_cost,
    }


def asset_key(asset: Mapping[str, Any]) -> str:
    """OpenCost's asset key: provider/account/project/category/cluster/type/service/id/name."""
    props = asset["properties"]
    parts = [
        props.get("provider"),
        props.get("account"),
        props.get("project"),
        props.get("category"),
        props.get("cluster"),
        asset["type"],
        props.get("service"),
        props.get("providerID"),
        props.get("name"),
    ]
    return "/".join(part or "__undefined__" for part in parts)


def assets_map(*assets: Row) -> dict[str, Row]:
    return {asset_key(asset): asset for asset in assets}
