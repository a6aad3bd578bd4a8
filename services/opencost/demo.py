"""The built-in demo cluster: deterministic OpenCost answers for `costbot demo` and tests.

It speaks OpenCost's wire format (as an httpx transport, or via `DemoCluster.respond` behind a real
HTTP server) so the real client and decoder run against it. It must never be random per call.

How the numbers are made, and why windows add up:
- Every quantity is derived per clock hour from a seed and the hour number alone, so the same hour
  asked twice gives the same numbers. A set sums the hours it covers (a partially covered hour
  counts pro rata), so any window equals the sum of its sub-windows *before* printing.
- Printing rounds each number to 5 decimals as OpenCost does (`math.Round(f*1e5)/1e5`), so the sum
  of N daily rows differs from the whole-window row by at most N × 0.000005 per field — far below
  a cent for any number of days costbot asks for.
- Only complete hours before "now" (the clock) have data; the cluster is 90 days old.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import random
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import httpx

from services.ports import Clock

CLUSTER = "demo-cluster"
DEMO_BASE_URL = "http://opencost.demo"
# Workloads with a CPU HorizontalPodAutoscaler: (namespace, kind, name, target utilization).
DEMO_HPAS: list[tuple[str, str, str, float]] = [
    ("web", "deployment", "frontend", 0.7),
    ("search", "deployment", "search-api", 0.75),
]

HOUR, DAY = 3600, 86400
MIB, GIB = 1024**2, 1024**3
CPU_PRICE = 0.031611  # $ per core-hour (OpenCost's default on-demand CPU price)
RAM_PRICE = 0.004237  # $ per GiB-hour
GPU_PRICE = 0.95  # $ per GPU-hour
DISK_PRICE = 0.08 / 730  # $ per GiB-hour (gp3 at $0.08 per GiB-month)
NET_PRICE = 0.01  # $ per GB sent
LB_PRICE = 0.025  # $ per hour
MGMT_PRICE = 0.10  # $ per hour for the managed control plane
HISTORY_DAYS = 90
UNALLOCATED, UNMOUNTED, IDLE = "__unallocated__", "__unmounted__", "__idle__"
JSON_TYPE, TEXT_TYPE = "application/json", "text/plain; charset=utf-8"

TEAMS = {
    "payments": "payments",
    "checkout": "checkout",
    "search": "search",
    "data-pipeline": "data",
    "ml-training": "ml",
    "web": "web",
    "monitoring": "platform",
    "kube-system": "platform",
}


class _S(NamedTuple):
    """A container spec: requests and mean usage (cores, MiB)."""

    container: str
    cpu_req: float
    cpu_use: float
    ram_req: float
    ram_use: float


class _W(NamedTuple):
    """A workload; `replicas=0` on a daemonset means one pod per node."""

    namespace: str
    kind: str
    name: str
    replicas: int
    specs: tuple[_S, ...]
    profile: str = "steady"  # web | steady | spiky | batch | idle
    net_mb: float = 0.0  # MB sent per pod-hour at average load
    pv_gib: int = 0
    gpu: int = 0
    age_hours: int | None = None  # None: as old as the cluster
    lb: bool = False


# fmt: off
WORKLOADS: tuple[_W, ...] = (
    _W("payments", "deployment", "payments-api", 3,
       (_S("api", 1.0, 0.12, 1024, 420), _S("envoy", 0.1, 0.02, 128, 60)), "web", 400),
    _W("payments", "deployment", "payment-worker", 2,
       (_S("worker", 0.5, 0.18, 512, 300),), "steady", 50),
    _W("payments", "statefulset", "payments-db", 2,
       (_S("postgres", 1.0, 0.35, 4096, 2600),), "steady", 120, pv_gib=100),
    _W("payments", "deployment", "fraud-scorer", 2,
       (_S("scorer", 2.0, 0.25, 2048, 700),), "web", 60),
    _W("payments", "job", "settlement-report", 1,
       (_S("report", 1.0, 0.7, 1024, 800),), "batch", 20),
    _W("checkout", "deployment", "checkout-api", 3,
       (_S("api", 0.5, 0.2, 512, 330), _S("envoy", 0.1, 0.02, 128, 55)), "web", 300),
    _W("checkout", "deployment", "cart-service", 2,
       (_S("cart", 0.25, 0.09, 256, 150),), "web", 150),
    _W("checkout", "statefulset", "checkout-redis", 1,
       (_S("redis", 0.5, 0.06, 2048, 600),), "steady", 200, pv_gib=10),
    _W("checkout", "deployment", "promo-engine", 1,
       (_S("promo", 1.0, 0.05, 1024, 250),), "web", 20),
    _W("checkout", "deployment", "checkout-legacy", 2,  # idle: < 1m CPU, ~11 B/s sent
       (_S("app", 0.5, 0.0003, 512, 180),), "idle", 0.04),
    _W("search", "statefulset", "elasticsearch", 3,
       (_S("elasticsearch", 2.0, 0.9, 8192, 6900),), "steady", 500, pv_gib=200),
    _W("search", "deployment", "search-api", 3,
       (_S("api", 0.5, 0.22, 512, 280),), "web", 250),
    _W("search", "deployment", "search-indexer", 1,  # uses more memory than it requests
       (_S("indexer", 0.5, 0.3, 1024, 1450),), "steady", 80),
    _W("search", "deployment", "query-suggest", 2,  # started two days ago
       (_S("suggest", 0.25, 0.08, 512, 210),), "web", 40, age_hours=48),
    _W("data-pipeline", "statefulset", "kafka", 3,
       (_S("broker", 1.0, 0.45, 4096, 3300),), "steady", 2000, pv_gib=500),
    _W("data-pipeline", "statefulset", "zookeeper", 3,
       (_S("zookeeper", 0.5, 0.03, 1024, 300),), "steady", 20, pv_gib=20),
    _W("data-pipeline", "deployment", "stream-processor", 2,
       (_S("processor", 1.0, 0.4, 2048, 1200),), "spiky", 600),
    _W("data-pipeline", "job", "nightly-etl", 1,
       (_S("etl", 2.0, 1.6, 4096, 3000),), "batch", 3000),
    _W("data-pipeline", "deployment", "airflow-scheduler", 1,
       (_S("scheduler", 0.5, 0.15, 1024, 600), _S("log-shipper", 0.05, 0.01, 64, 30)),
       "steady", 30),
    _W("data-pipeline", "deployment", "airflow-webserver", 1,
       (_S("webserver", 1.0, 0.04, 2048, 500),), "web", 10),
    _W("ml-training", "deployment", "model-trainer", 1,
       (_S("trainer", 4.0, 3.2, 16384, 12000),), "steady", 100, gpu=1),
    _W("ml-training", "deployment", "feature-store", 2,
       (_S("store", 1.0, 0.3, 2048, 1100),), "steady", 300),
    _W("ml-training", "deployment", "jupyter-hub", 1,
       (_S("hub", 2.0, 0.05, 4096, 600),), "web", 10),
    _W("ml-training", "statefulset", "mlflow-db", 1,
       (_S("postgres", 0.5, 0.05, 1024, 400),), "steady", 10, pv_gib=50),
    _W("web", "deployment", "frontend", 4,
       (_S("nginx", 0.5, 0.21, 256, 120), _S("app", 0.5, 0.25, 512, 300)), "web", 800, lb=True),
    _W("web", "deployment", "bff", 2,
       (_S("bff", 0.5, 0.2, 512, 310),), "web", 400),
    _W("web", "deployment", "image-resizer", 2,
       (_S("resizer", 2.0, 0.15, 2048, 400),), "spiky", 200),
    _W("web", "deployment", "cms", 1,
       (_S("cms", 0.5, 0.06, 1024, 450),), "web", 30),
    _W("web", "deployment", "static-assets", 2,
       (_S("nginx", 0.1, 0.01, 128, 40),), "web", 300),
    _W("monitoring", "statefulset", "prometheus", 2,
       (_S("prometheus", 1.0, 0.55, 8192, 5200), _S("config-reloader", 0.05, 0.001, 32, 15)),
       "steady", 150, pv_gib=100),
    _W("monitoring", "deployment", "grafana", 1,
       (_S("grafana", 0.25, 0.03, 512, 160),), "web", 10),
    _W("monitoring", "statefulset", "alertmanager", 1,
       (_S("alertmanager", 0.1, 0.005, 128, 40),)),
    _W("monitoring", "deployment", "kube-state-metrics", 1,
       (_S("kube-state-metrics", 0.1, 0.02, 256, 90),)),
    _W("monitoring", "daemonset", "node-exporter", 0,
       (_S("node-exporter", 0.1, 0.015, 64, 25),)),
    _W("monitoring", "deployment", "opencost", 1,
       (_S("opencost", 0.5, 0.03, 1024, 350),), "steady", 5),
    _W("kube-system", "deployment", "coredns", 2,
       (_S("coredns", 0.1, 0.01, 70, 30),), "steady", 30),
    _W("kube-system", "daemonset", "kube-proxy", 0,
       (_S("kube-proxy", 0.1, 0.005, 128, 40),)),
    _W("kube-system", "deployment", "metrics-server", 1,
       (_S("metrics-server", 0.1, 0.005, 200, 45),)),
    _W("kube-system", "deployment", "cluster-autoscaler", 1,
       (_S("cluster-autoscaler", 0.1, 0.002, 600, 90),)),
)
# fmt: on


class _Node(NamedTuple):
    name: str
    provider_id: str
    node_type: str
    cpu: float
    ram_gib: float
    gpu: int


NODES: tuple[_Node, ...] = (
    _Node("ip-10-0-1-17.ec2.internal", "i-0a1b2c3d4e5f60017", "m6i.4xlarge", 16.0, 64.0, 0),
    _Node("ip-10-0-2-41.ec2.internal", "i-0a1b2c3d4e5f60041", "m6i.4xlarge", 16.0, 64.0, 0),
    _Node("ip-10-0-3-88.ec2.internal", "i-0a1b2c3d4e5f60088", "m6i.4xlarge", 16.0, 64.0, 0),
    _Node("ip-10-0-1-93.ec2.internal", "i-0a1b2c3d4e5f60093", "r6i.2xlarge", 8.0, 64.0, 0),
    _Node("ip-10-0-2-150.ec2.internal", "i-0a1b2c3d4e5f60150", "g4dn.2xlarge", 8.0, 32.0, 1),
)


# --- the cluster's pods and containers ---------------------------------------------------------
class _Instance(NamedTuple):
    """One container of one pod (for a cronjob: of the pod of each day's run)."""

    namespace: str
    kind: str
    controller: str
    pod: str
    container: str
    node: _Node | None
    labels: dict[str, str]
    born: int  # epoch hour the pod started
    profile: str = "none"
    cpu_req: float = 0.0
    ram_req: float = 0.0
    cpu_mean: float = 0.0
    ram_mean: float = 0.0
    net: float = 0.0  # bytes sent per hour at average load
    gpu: int = 0
    pv: tuple[str, float] | None = None  # (PV name, bytes) billed to this container
    lb: float = 0.0  # $ per hour of load balancer billed to this container


class _Disk(NamedTuple):
    volume: str
    provider_id: str
    gib: int
    claim: str
    namespace: str
    used: float  # fraction of the disk in use


_POD_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def _suffix(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(_POD_CHARS) for _ in range(length))


def _pod_names(work: _W, rng: random.Random) -> list[tuple[str, _Node | None]]:
    """Pod names, each with a pinned node (None: placed later by `_place`)."""
    if work.kind == "daemonset":
        return [(f"{work.name}-{_suffix(rng, 5)}", node) for node in NODES]
    if work.kind == "statefulset":
        return [(f"{work.name}-{index}", None) for index in range(work.replicas)]
    if work.kind == "job":
        return [(work.name, None)]  # the day's job name is derived per run, see `_job_names`
    template = _suffix(rng, 10)
    return [(f"{work.name}-{template}-{_suffix(rng, 5)}", None) for _ in range(work.replicas)]


def _place(requests: dict[str, float], gpu: int) -> _Node:
    """Deterministic spread: the GPU node for GPU pods, else the CPU node with most room."""
    if gpu:
        return next(node for node in NODES if node.gpu)
    candidates = [node for node in NODES if not node.gpu]
    return max(candidates, key=lambda node: (node.cpu - requests.get(node.name, 0.0), node.name))


def _build(seed: int, born: int, anchor_hour: int) -> tuple[list[_Instance], list[_Disk]]:
    """Every container of the cluster (pods placed on nodes) and every volume."""
    instances: list[_Instance] = []
    disks: list[_Disk] = []
    load: dict[str, float] = {}  # requested cores per node, for placement
    for work in WORKLOADS:
        rng = random.Random(f"{seed}:{work.namespace}/{work.name}")
        start = born if work.age_hours is None else anchor_hour - work.age_hours
        for pod, pinned in _pod_names(work, rng):
            node = pinned or _place(load, work.gpu)
            load[node.name] = load.get(node.name, 0.0) + sum(s.cpu_req for s in work.specs)
            pv = None
            if work.pv_gib:
                disk = _new_disk(rng, work.pv_gib, f"data-{pod}", work.namespace)
                disks.append(disk)
                pv = (disk.volume, float(disk.gib * GIB))
            skew = 0.85 + 0.3 * rng.random()  # pods of one workload differ a little
            instances += _containers(work, pod, node, pv=pv, skew=skew, start=start)
    unclaimed = _new_disk(random.Random(f"{seed}:unclaimed"), 250, "", "")
    disks.append(unclaimed)
    pv = (unclaimed.volume, float(unclaimed.gib * GIB))  # OpenCost bills it to __unmounted__
    instances.append(_Instance(UNMOUNTED, "", "", UNMOUNTED, UNMOUNTED, None, {}, born, pv=pv))
    return instances, disks


def _new_disk(rng: random.Random, gib: int, claim: str, namespace: str) -> _Disk:
    volume = f"pvc-{uuid.UUID(int=rng.getrandbits(128), version=4)}"
    used = 0.25 + 0.6 * rng.random() if claim else 0.0
    return _Disk(volume, f"vol-{rng.getrandbits(64):016x}", gib, claim, namespace, used)


def _containers(
    work: _W, pod: str, node: _Node, *, pv: tuple[str, float] | None, skew: float, start: int
) -> list[_Instance]:
    """A pod's containers; pod-level costs (network, GPU, volume, balancer) go to the first."""
    labels = {"app": work.name, "team": TEAMS[work.namespace]}
    if work.kind == "deployment":
        labels["pod_template_hash"] = pod.split("-")[-2]
    lb_share = LB_PRICE / (work.replicas or len(NODES)) if work.lb else 0.0
    return [
        _Instance(
            namespace=work.namespace,
            kind=work.kind,
            controller=work.name,
            pod=pod,
            container=spec.container,
            node=node,
            labels=dict(sorted(labels.items())),
            profile=work.profile,
            cpu_req=spec.cpu_req,
            ram_req=spec.ram_req * MIB,
            cpu_mean=spec.cpu_use * skew,
            ram_mean=spec.ram_use * MIB * skew,
            net=work.net_mb * 1e6 * skew if first else 0.0,
            gpu=work.gpu if first else 0,
            pv=pv if first else None,
            lb=lb_share if first else 0.0,
            born=start,
        )
        for first, spec in zip([True] + [False] * len(work.specs), work.specs, strict=False)
    ]


# --- hourly samples and their sums -------------------------------------------------------------
_Sample = tuple[float, float, float, float, float]  # cpu use, cpu max, ram use, ram max, bytes sent
_Key = tuple[int, str]  # (instance index, pod name)


def _load(profile: str, hour: int, noise: float, spike: float) -> float:
    """A load factor around 1: a daily wave, quieter weekends, noise and rare spikes."""
    weekend = (hour // 24 + 3) % 7 >= 5  # 1970-01-01 was a Thursday
    wave = math.sin(2 * math.pi * (hour % 24 - 8) / 24)  # peaks at 14:00 UTC
    if profile in ("web", "spiky"):
        factor = (1 + 0.45 * wave) * (0.6 if weekend else 1.0) * (0.85 + 0.3 * noise)
        return factor * 2.8 if profile == "spiky" and spike < 0.03 else factor
    if profile == "idle":
        return 0.8 + 0.4 * noise
    return (1 + 0.08 * wave) * (0.93 if weekend else 1.0) * (0.93 + 0.14 * noise)


def _alive(inst: _Instance, hour: int) -> bool:
    if hour < inst.born:
        return False
    return inst.profile != "batch" or hour % 24 == 2  # cronjobs run at 02:00 for an hour


def _samples(seed: int, instances: list[_Instance], hour: int) -> list[_Sample | None]:
    """Every container's usage in one hour; a pure function of (seed, hour)."""
    rng = random.Random(seed * 1_000_003 + hour)
    out: list[_Sample | None] = []
    for inst in instances:
        a, b, c, d = rng.random(), rng.random(), rng.random(), rng.random()  # always drawn
        if not _alive(inst, hour):
            out.append(None)
            continue
        factor = _load(inst.profile, hour, a, b)
        cpu = inst.cpu_mean * factor
        ram = inst.ram_mean * (0.91 + 0.06 * min(factor, 2.0) + 0.06 * c)
        out.append((cpu, cpu * (1.15 + 0.5 * c), ram, ram * (1.03 + 0.07 * d), inst.net * factor))
    return out


_SUMMED = ("cpu_req", "cpu_use", "cpu_alloc", "ram_req", "ram_use", "ram_alloc", "gpu", "sent",
           "received", "lb")  # fmt: skip


class _Acc:
    """Extensive sums (core-hours, byte-hours, bytes, dollars) of one allocation."""

    __slots__ = (
        "cpu_alloc",
        "cpu_max",
        "cpu_req",
        "cpu_use",
        "end",
        "gpu",
        "lb",
        "members",
        "props",
        "pvs",
        "ram_alloc",
        "ram_max",
        "ram_req",
        "ram_use",
        "raw",
        "received",
        "sent",
        "start",
    )

    def __init__(self, props: dict[str, Any], start: int, end: int, raw: bool = True) -> None:
        self.props, self.start, self.end, self.raw, self.members = props, start, end, raw, 1
        self.cpu_req = self.cpu_use = self.cpu_alloc = self.cpu_max = 0.0
        self.ram_req = self.ram_use = self.ram_alloc = self.ram_max = 0.0
        self.gpu = self.sent = self.received = self.lb = 0.0
        self.pvs: dict[str, float] = {}

    def add_hour(self, inst: _Instance, sample: _Sample, lo: int, hi: int) -> None:
        cpu, cpu_max, ram, ram_max, sent = sample
        hours = (hi - lo) / HOUR
        self.start, self.end = min(self.start, lo), max(self.end, hi)
        # OpenCost allocates max(request, usage) of each resource.
        self.cpu_req += inst.cpu_req * hours
        self.cpu_use += cpu * hours
        self.cpu_alloc += max(inst.cpu_req, cpu) * hours
        self.cpu_max = max(self.cpu_max, cpu_max)
        self.ram_req += inst.ram_req * hours
        self.ram_use += ram * hours
        self.ram_alloc += max(inst.ram_req, ram) * hours
        self.ram_max = max(self.ram_max, ram_max)
        self.gpu += inst.gpu * hours
        self.sent += sent * hours
        self.received += sent * 1.4 * hours
        self.lb += inst.lb * hours
        if inst.pv:
            self.pvs[inst.pv[0]] = self.pvs.get(inst.pv[0], 0.0) + inst.pv[1] * hours

    def absorb(self, other: _Acc, *, combine: bool) -> None:
        """Add `other`: a later stretch of the same allocation, or (combine) another one."""
        for field in _SUMMED:
            setattr(self, field, getattr(self, field) + getattr(other, field))
        self.cpu_max = max(self.cpu_max, other.cpu_max)
        self.ram_max = max(self.ram_max, other.ram_max)
        self.start, self.end = min(self.start, other.start), max(self.end, other.end)
        for volume, byte_hours in other.pvs.items():
            self.pvs[volume] = self.pvs.get(volume, 0.0) + byte_hours
        if combine:
            self.members += other.members
            self.props = _intersect(self.props, other.props)

    def copy(self) -> _Acc:
        twin = _Acc(self.props, self.start, self.end, self.raw)
        twin.absorb(self, combine=False)
        twin.members = self.members
        return twin


def _intersect(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    """Aggregated rows keep only the properties all members share (OpenCost does the same)."""
    return {key: value for key, value in left.items() if right.get(key) == value}


# --- aggregation -------------------------------------------------------------------------------
DEFAULT_AGGREGATE = ("cluster", "node", "namespace", "pod", "container")
_LABEL_ALIASES = {
    "department": "department",
    "environment": "env",
    "owner": "owner",
    "product": "app",
    "team": "team",
}


def _key_part(token: str, props: dict[str, Any]) -> str | None:
    """One dimension of an aggregation key; None for tokens OpenCost silently drops."""
    low = token.lower()
    value: Any
    if low in DEFAULT_AGGREGATE:
        value = props.get(low)
    elif low == "controllerkind":
        value = props.get("controllerKind")
    elif low == "controller":
        value = props.get("controller") and f"{props.get('controllerKind')}:{props['controller']}"
    elif low in ("deployment", "statefulset", "daemonset", "job"):
        value = props.get("controllerKind") == low and props.get("controller")
    elif low.startswith("label:") or low in _LABEL_ALIASES:
        label = token[len("label:") :] if low.startswith("label:") else _LABEL_ALIASES[low]
        value = (props.get("labels") or {}).get(label)
    else:
        return None
    return str(value) if value else UNALLOCATED


def _aggregate(accs: Iterable[_Acc], tokens: tuple[str, ...]) -> dict[str, _Acc]:
    rows: dict[str, _Acc] = {}
    for acc in accs:
        parts = (_key_part(token, acc.props) for token in tokens)
        key = "/".join(part for part in parts if part is not None)
        if key in rows:
            rows[key].absorb(acc, combine=True)
        else:
            rows[key] = acc
    return rows


# --- OpenCost's wire format --------------------------------------------------------------------
def _render(name: str, acc: _Acc, window: dict[str, str], cluster: str) -> dict[str, Any]:
    """One Allocation, fields in OpenCost's order (pkg/opencost AllocationJSON)."""
    hours = (acc.end - acc.start) / HOUR
    row: dict[str, Any] = {
        "name": name,
        "properties": acc.props,
        "window": window,
        "start": _rfc(acc.start),
        "end": _rfc(acc.end),
        "minutes": hours * 60,
    }
    for block in (_cpu_fields, _gpu_fields, _network_fields, _pv_fields, _ram_fields):
        row.update(block(acc, hours, cluster))
    compute = row["cpuCost"] + row["ramCost"]
    weighted = row["cpuEfficiency"] * row["cpuCost"] + row["ramEfficiency"] * row["ramCost"]
    row.update(
        externalCost=0,
        sharedCost=0,
        totalCost=sum(row[f] for f in ("cpuCost", "gpuCost", "networkCost", "pvCost", "ramCost"))
        + row["loadBalancerCost"],
        totalEfficiency=weighted / compute if compute else 0,
    )
    if acc.raw and acc.members == 1:  # OpenCost nulls (and omits) it once two are summed
        row["rawAllocationOnly"] = {"cpuCoreUsageMax": acc.cpu_max, "ramByteUsageMax": acc.ram_max}
    row.update(proportionalAssetResourceCosts={}, lbAllocations=None, sharedCostBreakdown={})
    return row


def _per(value: float, hours: float) -> float:
    return value / hours if hours > 0 else 0.0


def _efficiency(used: float, requested: float, cost: float) -> float:
    if requested > 0:
        return used / requested
    return 1.0 if used > 0 and cost > 0 else 0.0


def _cpu_fields(acc: _Acc, hours: float, _cluster: str) -> dict[str, Any]:
    cost = acc.cpu_alloc * CPU_PRICE
    return {
        "cpuCores": _per(acc.cpu_alloc, hours),
        "cpuCoreRequestAverage": _per(acc.cpu_req, hours),
        "cpuCoreUsageAverage": _per(acc.cpu_use, hours),
        "cpuCoreHours": acc.cpu_alloc,
        "cpuCost": cost,
        "cpuCostAdjustment": 0,
        "cpuEfficiency": _efficiency(acc.cpu_use, acc.cpu_req, cost),
    }


def _gpu_fields(acc: _Acc, hours: float, _cluster: str) -> dict[str, Any]:
    return {
        "gpuCount": _per(acc.gpu, hours),
        "gpuHours": acc.gpu,
        "gpuCost": acc.gpu * GPU_PRICE,
        "gpuCostAdjustment": 0,
    }


def _network_fields(acc: _Acc, _hours: float, _cluster: str) -> dict[str, Any]:
    cost = acc.sent / 1e9 * NET_PRICE
    return {
        "networkTransferBytes": acc.sent,
        "networkReceiveBytes": acc.received,
        "networkCost": cost,
        "networkCrossZoneCost": cost * 0.75,
        "networkCrossRegionCost": 0,
        "networkInternetCost": cost * 0.25,
        "networkCostAdjustment": 0,
        "loadBalancerCost": acc.lb,
        "loadBalancerCostAdjustment": 0,
    }


def _pv_fields(acc: _Acc, hours: float, cluster: str) -> dict[str, Any]:
    byte_hours = sum(acc.pvs.values())
    pvs = {
        f"cluster={cluster}:name={volume}": {"byteHours": bh, "cost": bh / GIB * DISK_PRICE}
        for volume, bh in sorted(acc.pvs.items())
    }
    return {
        "pvBytes": _per(byte_hours, hours),
        "pvByteHours": byte_hours,
        "pvCost": byte_hours / GIB * DISK_PRICE,
        "pvs": pvs or None,
        "pvCostAdjustment": 0,
    }


def _ram_fields(acc: _Acc, hours: float, _cluster: str) -> dict[str, Any]:
    cost = acc.ram_alloc / GIB * RAM_PRICE
    return {
        "ramBytes": _per(acc.ram_alloc, hours),
        "ramByteRequestAverage": _per(acc.ram_req, hours),
        "ramByteUsageAverage": _per(acc.ram_use, hours),
        "ramByteHours": acc.ram_alloc,
        "ramCost": cost,
        "ramCostAdjustment": 0,
        "ramEfficiency": _efficiency(acc.ram_use, acc.ram_req, cost),
    }


def _rfc(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _go_float5(value: float) -> str:
    """Go's formatFloat64ForResponse: round half away from zero to 5 decimals, NaN → null."""
    if math.isnan(value) or math.isinf(value):
        return "null"
    rounded = math.copysign(math.floor(abs(value) * 100000 + 0.5) / 100000, value)
    if rounded == 0:
        return "0"
    if rounded.is_integer() and abs(rounded) < 1e21:
        return str(int(rounded))
    text = repr(rounded)  # shortest round-trip form, like Go's 'g'-style float encoding
    return f"{rounded:.5f}".rstrip("0").rstrip(".") if "e" in text else text


def _go_float6(value: float) -> str:
    """Assets print floats with Go's %f."""
    return "null" if math.isnan(value) or math.isinf(value) else f"{value:.6f}"


@functools.lru_cache(maxsize=16384)  # field names and pod names repeat in every row
def _go_str(text: str) -> str:
    # Go's encoder escapes <, > and & for HTML safety.
    encoded = json.dumps(text, ensure_ascii=False)
    return encoded.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _dump(value: object, number: Callable[[float], str]) -> str:
    """JSON as OpenCost's Go encoder prints it (struct order kept; callers sort map keys)."""
    if isinstance(value, dict):
        items = (f"{_go_str(k)}:{_dump(v, number)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dump(item, number) for item in value) + "]"
    if isinstance(value, float):
        return number(value)
    if isinstance(value, str):
        return _go_str(value)
    if value is None or isinstance(value, int):  # also bool
        return json.dumps(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


# --- windows and steps -------------------------------------------------------------------------
_STAMP = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"
_RFC_PAIR = re.compile(rf"^({_STAMP}),({_STAMP})$")
_UNIX_PAIR = re.compile(r"^(\d+)[,-](\d+)$")
_DURATION = re.compile(r"^(\d+)([mhdw])$")
_OFFSET = re.compile(r"^(\d+)([mhdw]) offset (\d+)([mhdw])$")
_UNITS = {"s": 1, "m": 60, "h": HOUR, "d": DAY, "w": 7 * DAY}
_STEP_WORDS = {"hour": HOUR, "day": DAY, "week": 7 * DAY}
MAX_STEPS = 2000


def parse_window(text: str, now: datetime) -> tuple[int, int]:
    """OpenCost's window forms as epoch seconds [start, end). Raises ValueError if illegal."""
    ts = int(now.timestamp())
    if match := _RFC_PAIR.match(text):
        start, end = (_parse_stamp(group) for group in match.groups())
    elif match := _UNIX_PAIR.match(text):
        start, end = int(match[1]), int(match[2])
    elif match := _DURATION.match(text):
        # Since v1.107 a duration is aligned: end = now truncated to the unit, plus one unit.
        unit = _UNITS[match[2]] if match[2] != "w" else DAY
        end = ts - ts % unit + unit
        start = end - int(match[1]) * _UNITS[match[2]]
    elif match := _OFFSET.match(text):
        end = ts - int(match[3]) * _UNITS[match[4]]
        start = end - int(match[1]) * _UNITS[match[2]]
    else:
        start, end = _keyword_window(text, now)
    if start >= end:
        raise ValueError(text)
    return start, end


def _parse_stamp(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())


def _keyword_window(text: str, now: datetime) -> tuple[int, int]:
    ts = int(now.timestamp())
    midnight = ts - ts % DAY
    sunday = midnight - ((midnight // DAY + 4) % 7) * DAY  # 1970-01-01 was a Thursday
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    previous = (first - timedelta(days=1)).replace(day=1)
    windows = {
        "today": (midnight, midnight + DAY),
        "yesterday": (midnight - DAY, midnight),
        "week": (sunday, ts),
        "lastweek": (sunday - 7 * DAY, sunday),
        "month": (int(first.timestamp()), ts),
        "lastmonth": (int(previous.timestamp()), int(first.timestamp())),
    }
    if text not in windows:
        raise ValueError(text)
    return windows[text]


def parse_step(text: str, window_seconds: int) -> int:
    """A Go-style duration with d/w (`1d`, `2h30m`) or hour/day/week; "" = the whole window."""
    if not text:
        return window_seconds
    if text in _STEP_WORDS:
        return _STEP_WORDS[text]
    if not re.fullmatch(r"(?:\d+[wdhms])+", text):
        raise ValueError(f"invalid duration: {text}")
    seconds = sum(int(n) * _UNITS[unit] for n, unit in re.findall(r"(\d+)([wdhms])", text))
    if seconds <= 0:
        raise ValueError(f"step must be positive: {text}")
    if window_seconds / seconds > MAX_STEPS:
        raise ValueError(f"too many steps ({text} over the window)")
    return seconds


def _parse_bool(text: str) -> bool:
    return text in ("1", "t", "T", "true", "TRUE", "True")  # Go's strconv.ParseBool


# --- the cluster -------------------------------------------------------------------------------
class _SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class DemoCluster:
    """The synthetic cluster. `anchor` (default: the clock at construction) is "today" for the
    workload that started two days ago and for the cluster's 90-day history."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        anchor: datetime | None = None,
        seed: int = 7,
        name: str = CLUSTER,
    ) -> None:
        self._clock: Clock = clock or _SystemClock()
        anchor_hour = int((anchor or self._clock.now()).timestamp()) // HOUR
        self.name = name
        self.born = (anchor_hour * HOUR // DAY - HISTORY_DAYS) * DAY
        self._seed = seed
        self._instances, self._disks = _build(seed, self.born // HOUR, anchor_hour)
        self._days: OrderedDict[int, dict[_Key, _Acc]] = OrderedDict()
        self._lock = threading.Lock()

    # --- HTTP -----------------------------------------------------------------------------------
    def respond(self, path: str, params: Mapping[str, str]) -> tuple[int, str, bytes]:
        """Answer one GET like OpenCost would: (status, content type, body)."""
        route = path.rstrip("/")
        if route.endswith("/healthz"):
            return 200, TEXT_TYPE, b""
        if route.endswith(("/allocation", "/allocation/compute")):
            return self._allocation_response(params)
        if route.endswith("/assets"):
            return self._assets_response(params)
        return 404, TEXT_TYPE, b"404 page not found\n"

    def _allocation_response(self, params: Mapping[str, str]) -> tuple[int, str, bytes]:
        text = params.get("window", "")
        try:
            start, end = parse_window(text, self._clock.now())
        except ValueError:
            # OpenCost writes the text/plain error, forgets to return, and appends a JSON error.
            body = f"Invalid 'window' parameter: illegal window: {text}\n" + (
                '{"code":500,"status":"","data":null,"message":"Error: illegal window: [nil, nil)"}'
            )
            return 400, TEXT_TYPE, body.encode()
        try:
            step = parse_step(params.get("step", ""), end - start)
        except ValueError as exc:
            return 400, TEXT_TYPE, f"Invalid 'step' parameter: {exc}\n".encode()
        aggregate = params.get("aggregate", "")
        tokens = tuple(t.strip() for t in aggregate.split(",")) if aggregate else DEFAULT_AGGREGATE
        sets = self.allocation_sets(
            start,
            end,
            step,
            tokens,
            _parse_bool(params.get("includeIdle", "")),
            accumulate=_parse_bool(params.get("accumulate", "")),
        )
        payload = {"code": 200, "status": "success", "data": sets}
        return 200, JSON_TYPE, _dump(payload, _go_float5).encode()

    def _assets_response(self, params: Mapping[str, str]) -> tuple[int, str, bytes]:
        text = params.get("window", "")
        try:
            start, end = parse_window(text, self._clock.now())
        except ValueError:
            return 400, TEXT_TYPE, f"Invalid 'window' parameter: illegal window: {text}\n".encode()
        payload = {"code": 200, "data": self.assets(start, end)}
        return 200, JSON_TYPE, _dump(payload, _go_float6).encode()

    # --- allocations ----------------------------------------------------------------------------
    def allocation_sets(
        self,
        start: int,
        end: int,
        step: int,
        tokens: tuple[str, ...] = DEFAULT_AGGREGATE,
        include_idle: bool = False,
        *,
        accumulate: bool = False,
    ) -> list[dict[str, Any]]:
        """One map name → Allocation (wire dicts) per step, steps clamped to the window end."""
        bounds = [(s, min(s + step, end)) for s in range(start, end, step)]
        if accumulate and len(bounds) > 1:
            return [self._set(start, end, tokens, include_idle, accumulated=True)]
        return [self._set(lo, hi, tokens, include_idle) for lo, hi in bounds]

    def _set(
        self,
        start: int,
        end: int,
        tokens: tuple[str, ...],
        include_idle: bool,
        accumulated: bool = False,
    ) -> dict[str, Any]:
        lo, hi = self._clip(start, end)
        accs = self._sums(lo, hi) if lo < hi else {}
        if accumulated:  # adding sets together nulls rawAllocationOnly, as in OpenCost
            for acc in accs.values():
                acc.raw = False
        idle = self._idle(list(accs.values()), lo, hi) if include_idle and lo < hi else None
        rows = _aggregate(accs.values(), tokens)  # merges into the first member of each key
        if idle is not None:
            rows[IDLE] = idle
        window = {"start": _rfc(start), "end": _rfc(end)}
        return {name: _render(name, rows[name], window, self.name) for name in sorted(rows)}

    def _clip(self, start: int, end: int) -> tuple[int, int]:
        """Data exists from the cluster's birth up to the last complete hour."""
        now = int(self._clock.now().timestamp())
        return max(start, self.born), min(end, now - now % HOUR)

    def _sums(self, lo: int, hi: int) -> dict[_Key, _Acc]:
        accs: dict[_Key, _Acc] = {}
        moment = lo
        while moment < hi:
            if moment % DAY == 0 and moment + DAY <= hi:
                for key, acc in self._day(moment // DAY).items():
                    if key in accs:
                        accs[key].absorb(acc, combine=False)
                    else:
                        accs[key] = acc.copy()
                moment += DAY
            else:
                until = min(moment - moment % HOUR + HOUR, hi)
                self._add_hour(accs, moment // HOUR, moment, until)
                moment = until
        return accs

    def _day(self, day: int) -> dict[_Key, _Acc]:
        """A whole day's sums; cached because every window reuses them (never mutated)."""
        with self._lock:
            if day in self._days:
                self._days.move_to_end(day)
                return self._days[day]
        accs: dict[_Key, _Acc] = {}
        for hour in range(day * 24, day * 24 + 24):
            self._add_hour(accs, hour, hour * HOUR, hour * HOUR + HOUR)
        with self._lock:
            self._days[day] = accs
            while len(self._days) > HISTORY_DAYS + 2:
                self._days.popitem(last=False)
        return accs

    def _add_hour(self, accs: dict[_Key, _Acc], hour: int, lo: int, hi: int) -> None:
        for index, sample in enumerate(_samples(self._seed, self._instances, hour)):
            if sample is None:
                continue
            inst = self._instances[index]
            controller, pod = self._names(inst, hour)
            acc = accs.get((index, pod))
            if acc is None:
                props = self._props(inst, controller, pod)
                acc = accs[(index, pod)] = _Acc(props, lo, hi, raw=inst.namespace != UNMOUNTED)
            acc.add_hour(inst, sample, lo, hi)

    def _names(self, inst: _Instance, hour: int) -> tuple[str, str]:
        """(controller, pod). Each day's 02:00 run of a cronjob is a new Job and pod; the demo
        reports them under the CronJob's name (kind "job") so per-controller views stay readable."""
        if inst.kind != "job":
            return inst.controller, inst.pod
        job = f"{inst.controller}-{(hour - hour % 24 + 2) * 60}"  # CronJob names Jobs by minute
        return inst.controller, f"{job}-{_suffix(random.Random(f'{self._seed}:{job}'), 5)}"

    def _props(self, inst: _Instance, controller: str, pod: str) -> dict[str, Any]:
        props: dict[str, Any] = {"cluster": self.name}
        if inst.node:
            props["node"] = inst.node.name
        props["container"] = inst.container
        if controller:
            props.update(controller=controller, controllerKind=inst.kind)
        props.update(namespace=inst.namespace, pod=pod)
        if inst.node:
            props["providerID"] = inst.node.provider_id
        if inst.labels:
            props["labels"] = inst.labels
        if inst.namespace in TEAMS:
            team = TEAMS[inst.namespace]
            props["namespaceLabels"] = {"kubernetes_io_metadata_name": inst.namespace, "team": team}
        return props

    def _idle(self, accs: list[_Acc], lo: int, hi: int) -> _Acc:
        """Node capacity nobody was allocated, as one `__idle__` row (includeIdle=true)."""
        hours = (hi - lo) / HOUR
        idle = _Acc({"cluster": self.name}, lo, hi, raw=False)
        idle.cpu_alloc = sum(n.cpu for n in NODES) * hours - sum(a.cpu_alloc for a in accs)
        idle.ram_alloc = sum(n.ram_gib for n in NODES) * GIB * hours - sum(
            a.ram_alloc for a in accs
        )
        idle.gpu = sum(n.gpu for n in NODES) * hours - sum(a.gpu for a in accs)
        return idle

    # --- assets ---------------------------------------------------------------------------------
    def assets(self, start: int, end: int) -> dict[str, Any]:
        """The `/assets` map (key → asset wire dict) for [start, end)."""
        lo, hi = self._clip(start, end)
        if lo >= hi:
            return {}
        window = {"start": _rfc(start), "end": _rfc(end)}
        span = {"window": window, "start": _rfc(lo), "end": _rfc(hi), "minutes": (hi - lo) / 60}
        hours = (hi - lo) / HOUR
        used = self._cpu_used_by_node(lo, hi)
        found: list[tuple[str, dict[str, Any]]] = [
            self._node_asset(node, span, hours, used.get(node.name, 0.0)) for node in NODES
        ]
        found += [self._disk_asset(disk, span, hours) for disk in self._disks]
        ip = "203.0.113.10"
        balancer = {"adjustment": 0.0, "totalCost": LB_PRICE * hours, "private": False, "ip": ip}
        found.append(
            self._asset(
                "LoadBalancer",
                "Network",
                name="web/frontend",
                provider_id=ip,
                span=span,
                fields=balancer,
            )
        )
        found.append(
            self._asset(
                "ClusterManagement",
                "Management",
                name="",
                provider_id="",
                span=span,
                fields={"totalCost": MGMT_PRICE * hours},
            )
        )
        return dict(sorted(found))

    def _asset(
        self,
        kind: str,
        category: str,
        *,
        name: str,
        provider_id: str,
        span: dict[str, Any],
        fields: dict[str, Any],
        labels: dict[str, str] | None = None,
    ) -> tuple[str, dict[str, Any]]:
        props = {
            "category": category,
            "provider": "AWS",
            "service": "Kubernetes",
            "cluster": self.name,
        }
        if name:
            props["name"] = name
        if provider_id:
            props["providerID"] = provider_id
        parts = ["AWS", "", "", category, self.name, kind, "Kubernetes", provider_id, name]
        key = "/".join(part or "__undefined__" for part in parts)
        return key, {"type": kind, "properties": props, "labels": labels or {}, **span, **fields}

    def _node_asset(
        self, node: _Node, span: dict[str, Any], hours: float, cpu_used: float
    ) -> tuple[str, dict[str, Any]]:
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
        return self._asset(
            "Node",
            "Compute",
            name=node.name,
            provider_id=node.provider_id,
            span=span,
            fields=fields,
            labels=labels,
        )

    def _disk_asset(
        self, disk: _Disk, span: dict[str, Any], hours: float
    ) -> tuple[str, dict[str, Any]]:
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
        return self._asset(
            "Disk",
            "Storage",
            name=disk.volume,
            provider_id=disk.provider_id,
            span=span,
            fields=fields,
        )

    def _cpu_used_by_node(self, lo: int, hi: int) -> dict[str, float]:
        used: dict[str, float] = {}
        for acc in self._sums(lo, hi).values():
            node = acc.props.get("node")
            if node:
                used[node] = used.get(node, 0.0) + acc.cpu_use
        return used


class DemoOpenCostTransport(httpx.AsyncBaseTransport):
    """An httpx transport answering like an OpenCost server, from a `DemoCluster`.

    Use with any base URL (e.g. `DEMO_BASE_URL`), with or without a Kubecost-style `/model`.
    """

    def __init__(self, cluster: DemoCluster | None = None) -> None:
        self.cluster = cluster or DemoCluster()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            return httpx.Response(405, text="Method Not Allowed\n", request=request)
        params: dict[str, str] = {}
        for key, value in request.url.params.multi_items():
            params.setdefault(key, value)  # Go's Query().Get: the first value wins
        # Building a month of container rows takes a moment of CPU; keep the event loop free.
        status, content_type, body = await asyncio.to_thread(
            self.cluster.respond, request.url.path, params
        )
        return httpx.Response(
            status, headers={"content-type": content_type}, content=body, request=request
        )
