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


WORKLOADS: tuple[_W, ...] = (
    _W("payments", "deployment", "payments-api", 3,
       (_S("api", 1.0, 0.12, 1024, 420), _S("envoy", 0.1, 0.02, 128, 60)), "web", 400),
    _W("payments", "deployment", "payment-worker", 2, (_S("worker", 0.5, 0.18, 512, 300),), "steady", 50),
    _W("payments", "statefulset", "payments-db", 2, (_S("postgres", 1.0, 0.35, 4096, 2600),),
       "steady", 120, pv_gib=100),
    _W("payments", "deployment", "fraud-scorer", 2, (_S("scorer", 2.0, 0.25, 2048, 700),), "web", 60),
    _W("payments", "job", "settlement-report", 1, (_S("report", 1.0, 0.7, 1024, 800),), "batch", 20),
    _W("checkout", "deployment", "checkout-api", 3,
       (_S("api", 0.5, 0.2, 512, 330), _S("envoy", 0.1, 0.02, 128, 55)), "web", 300),
    _W("checkout", "deployment", "cart-service", 2, (_S("cart", 0.25, 0.09, 256, 150),), "web", 150),
    _W("checkout", "statefulset", "checkout-redis", 1, (_S("redis", 0.5, 0.06, 2048, 600),),
       "steady", 200, pv_gib=10),
    _W("checkout", "deployment", "promo-engine", 1, (_S("promo", 1.0, 0.05, 1024, 250),), "web", 20),
    _W("checkout", "deployment", "checkout-legacy", 2, (_S("app", 0.5, 0.0003, 512, 180),), "idle", 0.04),
    _W("search", "statefulset", "elasticsearch", 3, (_S("elasticsearch", 2.0, 0.9, 8192, 6900),),
       "steady", 500, pv_gib=200),
    _W("search", "deployment", "search-api", 3, (_S("api", 0.5, 0.22, 512, 280),), "web", 250),
    _W("search", "deployment", "search-indexer", 1, (_S("indexer", 0.5, 0.3, 1024, 1450),), "steady", 80),
    _W("search", "deployment", "query-suggest", 2, (_S("suggest", 0.25, 0.08, 512, 210),), "web", 40,
       age_hours=48),
    _W("data-pipeline", "statefulset", "kafka", 3, (_S("broker", 1.0, 0.45, 4096, 3300),),
       "steady", 2000, pv_gib=500),
    _W("data-pipeline", "statefulset", "zookeeper", 3, (_S("zookeeper", 0.5, 0.03, 1024, 300),),
       "steady", 20, pv_gib=20),
    _W("data-pipeline", "deployment", "stream-processor", 2, (_S("processor", 1.0, 0.4, 2048, 1200),),
       "spiky", 600),
    _W("data-pipeline", "job", "nightly-etl", 1, (_S("etl", 2.0, 1.6, 4096, 3000),), "batch", 3000),
    _W("data-pipeline", "deployment", "airflow-scheduler", 1,
       (_S("scheduler", 0.5, 0.15, 1024, 600), _S("log-shipper", 0.05, 0.01, 64, 30)), "steady", 30),
    _W("data-pipeline", "deployment", "airflow-webserver", 1, (_S("webserver", 1.0, 0.04, 2048, 500),),
       "web", 10),
    _W("ml-training", "deployment", "model-trainer", 1, (_S("trainer", 4.0, 3.2, 16384, 12000),),
       "steady", 100, gpu=1),
    _W("ml-training", "deployment", "feature-store", 2, (_S("store", 1.0, 0.3, 2048, 1100),), "steady", 300),
    _W("ml-training", "deployment", "jupyter-hub", 1, (_S("hub", 2.0, 0.05, 4096, 600),), "web", 10),
    _W("ml-training", "statefulset", "mlflow-db", 1, (_S("postgres", 0.5, 0.05, 1024, 400),),
       "steady", 10, pv_gib=50),
    _W("web", "deployment", "frontend", 4,
       (_S("nginx", 0.5, 0.21, 256, 120), _S("app", 0.5, 0.25, 512, 300)), "web", 800, lb=True),
    _W("web", "deployment", "bff", 2, (_S("bff", 0.5, 0.2, 512, 310),), "web", 400),
    _W("web", "deployment", "image-resizer", 2, (_S("resizer", 2.0, 0.15, 2048, 400),), "spiky", 200),
    _W("web", "deployment", "cms", 1, (_S("cms", 0.5, 0.06, 1024, 450),), "web", 30),
    _W("web", "deployment", "static-assets", 2, (_S("nginx", 0.1, 0.01, 128, 40),), "web", 300),
    _W("monitoring", "statefulset", "prometheus", 2,
       (_S("prometheus", 1.0, 0.55, 8192, 5200), _S("config-reloader", 0.05, 0.001, 32, 15)),
       "steady", 150, pv_gib=100),
    _W("monitoring", "deployment", "grafana", 1, (_S("grafana", 0.25, 0.03, 512, 160),), "web", 10),
    _W("monitoring", "statefulset", "alertmanager", 1, (_S("alertmanager", 0.1, 0.005, 128, 40),)),
    _W("monitoring", "deployment", "kube-state-metrics", 1, (_S("kube-state-metrics", 0.1, 0.02, 256, 90),)),
    _W("monitoring", "daemonset", "node-exporter", 0, (_S("node-exporter", 0.1, 0.015, 64, 25),)),
    _W("monitoring", "deployment", "opencost", 1, (_S("opencost", 0.5, 0.03, 1024, 350),), "steady", 5),
    _W("kube-system", "deployment", "coredns", 2, (_S("coredns", 0.1, 0.01, 70, 30),), "steady", 30),
    _W("kube-system", "daemonset", "kube-proxy", 0, (_S("kube-proxy", 0.1, 0.005, 128, 40),)),
    _W("kube-system", "deployment", "metrics-server", 1, (_S("metrics-server", 0.1, 0.005, 200, 45),)),
    _W("kube-system", "deployment", "cluster-autoscaler", 1,
       (_S("cluster-autoscaler", 0.1, 0.002, 600, 90),)),
)  # fmt: skip


class _Node(NamedTuple):
    name: str
    provider_id: str
    node_type: str
    cpu: float
    ram_gib: float
    gpu: int


NODES: tuple[_Node, ...] = (
    _Node("ip-10-0-1-17.ec2.internal", "i-0a1b2c3d4e5f60017", "m6i.4xlarge", 16, 64, 0),
    _Node("ip-10-0-2-41.ec2.internal", "i-0a1b2c3d4e5f60041", "m6i.4xlarge", 16, 64, 0),
    _Node("ip-10-0-3-88.ec2.internal", "i-0a1b2c3d4e5f60088", "m6i.4xlarge", 16, 64, 0),
    _Node("ip-10-0-1-93.ec2.internal", "i-0a1b2c3d4e5f60093", "r6i.2xlarge", 8, 64, 0),
    _Node("ip-10-0-2-150.ec2.internal", "i-0a1b2c3d4e5f60150", "g4dn.2xlarge", 8, 32, 1),
)


# --- the cluster's pods and containers ------------------------------------------------------------
class _Instance(NamedTuple):
    """One container of one pod (for a cronjob: of the pod of each day's run)."""

    namespace: str
    kind: str
    controller: str
    pod: str
    container: str
    node: _Node | None
    labels: dict[str, str]
    profile: str
    cpu_req: float
    ram_req: float
    cpu_mean: float
    ram_mean: float
    net: float  # bytes sent per hour at average load
    gpu: int
    pv: tuple[str, float] | None  # (PV name, bytes) billed to this container
    lb: float  # $ per hour of load balancer billed to this container
    born: int  # epoch hour the pod started


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
    instances: list[_Instance] = []
    disks: list[_Disk] = []
    load: dict[str, float] = {}
    for work in WORKLOADS:
        rng = random.Random(f"{seed}:{work.namespace}/{work.name}")
        start = born if work.age_hours is None else anchor_hour - work.age_hours
        labels = {"app": work.name, "team": TEAMS[work.namespace]}
        for pod, pinned in _pod_names(work, rng):
            node = pinned or _place(load, work.gpu)
            load[node.name] = load.get(node.name, 0.0) + sum(s.cpu_req for s in work.specs)
            pv = None
            if work.pv_gib:
                volume = f"pvc-{uuid.UUID(int=rng.getrandbits(128), version=4)}"
                disks.append(_Disk(volume, f"vol-{rng.getrandbits(64):016x}", work.pv_gib,
                                   f"data-{pod}", work.namespace, 0.25 + 0.6 * rng.random()))
                pv = (volume, float(work.pv_gib * GIB))
            skew = 0.85 + 0.3 * rng.random()
            pod_labels = dict(labels)
            if work.kind == "deployment":
                pod_labels["pod_template_hash"] = pod.split("-")[-2]
            replicas = work.replicas or len(NODES)
            for first, spec in zip([True] + [False] * len(work.specs), work.specs, strict=False):
                instances.append(_Instance(
                    work.namespace, work.kind, work.name, pod, spec.container, node,
                    dict(sorted(pod_labels.items())),
                    work.profile, spec.cpu_req, spec.ram_req * MIB, spec.cpu_use * skew,
                    spec.ram_use * MIB * skew, work.net_mb * 1e6 * skew if first else 0.0,
                    work.gpu if first else 0, pv if first else None,
                    LB_PRICE / replicas if work.lb and first else 0.0, start,
                ))  # fmt: skip
    rng = random.Random(f"{seed}:unclaimed")
    volume = f"pvc-{uuid.UUID(int=rng.getrandbits(128), version=4)}"
    disks.append(_Disk(volume, f"vol-{rng.getrandbits(64):016x}", 250, "", "", 0.0))
    instances.append(_Instance(
        UNMOUNTED, "", "", UNMOUNTED, UNMOUNTED, None, {}, "none", 0.0, 0.0, 0.0, 0.0, 0.0, 0,
        (volume, 250.0 * GIB), 0.0, born,
    ))  # fmt: skip
    return instances, disks


# --- hourly samples and their sums ----------------------------------------------------------------
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


class _Acc:
    """Extensive sums (core-hours, byte-hours, bytes, dollars) of one allocation."""

    __slots__ = (
        "cpu_alloc", "cpu_max", "cpu_req", "cpu_use", "end", "gpu", "lb", "members", "props",
        "pvs", "ram_alloc", "ram_max", "ram_req", "ram_use", "raw", "received", "sent", "start",
    )  # fmt: skip

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
        for field in ("cpu_req", "cpu_use", "cpu_alloc", "ram_req", "ram_use", "ram_alloc",
                      "gpu", "sent", "received", "lb"):  # fmt: skip
            setattr(self, field, getattr(self, field) + getattr(other, field))
        self.cpu_max, self.ram_max = max(self.cpu_max, other.cpu_max), max(self.ram_max, other.ram_max)
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
