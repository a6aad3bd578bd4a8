"""Where the demo's pods run: every container of every pod, placed on a node, and every volume.

Built once per cluster from the catalog and a seed; never changes afterwards.
"""

from __future__ import annotations

import random
import uuid
from typing import NamedTuple

from demo.cluster.catalog import (
    GIB,
    LB_PRICE,
    MIB,
    NODES,
    STORY,
    TEAMS,
    UNMOUNTED,
    WORKLOADS,
    Node,
    Workload,
)


class Instance(NamedTuple):
    """One container of one pod (for a cronjob: of the pod of each day's run)."""

    namespace: str
    kind: str
    controller: str
    pod: str
    container: str
    node: Node | None
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
    schedule: str = "always"
    replica: int = 0  # the pod's index in its workload (a job: in each run)
    growth: float = 0.0


class Disk(NamedTuple):
    volume: str
    provider_id: str
    gib: int
    claim: str
    namespace: str
    used: float  # fraction of the disk in use


POD_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def suffix(rng: random.Random, length: int) -> str:
    """Kubernetes-style random name suffix, drawn from `rng`."""
    return "".join(rng.choice(POD_CHARS) for _ in range(length))


def build(seed: int, born: int, anchor_hour: int) -> tuple[list[Instance], list[Disk]]:
    """Every container of the cluster (pods placed on nodes) and every volume.

    The order is the order of the generator's random draws: the older workloads first, then the
    unclaimed disk, then what came later (story workloads, pods on autoscaled nodes).
    """
    instances: list[Instance] = []
    late: list[Instance] = []
    disks: list[Disk] = []
    load: dict[str, float] = {}  # requested cores per node, for placement
    for work in WORKLOADS:
        start = born if work.age_hours is None else anchor_hour - work.age_hours
        rng = random.Random(f"{seed}:{work.namespace}/{work.name}")
        pods = _pod_names(work, rng)
        target = late if work in STORY else instances
        for replica, (pod, pinned) in enumerate(pods):
            node = pinned or _place(load, work)
            load[node.name] = load.get(node.name, 0.0) + sum(s.cpu_req for s in work.specs)
            pv = _volume(rng, work, pod, disks)
            skew = 0.85 + 0.3 * rng.random()  # pods of one workload differ a little
            target += _containers(work, pod, node, pv=pv, skew=skew, start=start, replica=replica)
        if work.kind == "daemonset":
            late += _autoscaled_daemons(seed, work, born)
    unclaimed = _new_disk(random.Random(f"{seed}:unclaimed"), 250, "", "")
    disks.append(unclaimed)
    pv = (unclaimed.volume, float(unclaimed.gib * GIB))  # OpenCost bills it to __unmounted__
    instances.append(Instance(UNMOUNTED, "", "", UNMOUNTED, UNMOUNTED, None, {}, born, pv=pv))
    return instances + late, disks


def _pod_names(work: Workload, rng: random.Random) -> list[tuple[str, Node | None]]:
    """Pod names, each with a pinned node (None: placed later by `_place`)."""
    if work.kind == "daemonset":
        return [(f"{work.name}-{suffix(rng, 5)}", node) for node in NODES if not node.autoscaled]
    if work.kind == "statefulset":
        return [(f"{work.name}-{index}", None) for index in range(work.replicas)]
    if work.kind == "job":  # each run's pod name is derived per run by the cluster
        return [(work.name, None) for _ in range(work.replicas)]
    template = suffix(rng, 10)
    return [(f"{work.name}-{template}-{suffix(rng, 5)}", None) for _ in range(work.replicas)]


def _autoscaled_daemons(seed: int, work: Workload, born: int) -> list[Instance]:
    """A daemonset's pods on the autoscaled nodes (they run while their node is up)."""
    found: list[Instance] = []
    for node in NODES:
        if node.autoscaled:
            rng = random.Random(f"{seed}:{work.namespace}/{work.name}@{node.name}")
            pod = f"{work.name}-{suffix(rng, 5)}"
            skew = 0.85 + 0.3 * rng.random()
            found += _containers(work, pod, node, pv=None, skew=skew, start=born, replica=0)
    return found


def _place(requests: dict[str, float], work: Workload) -> Node:
    """Deterministic spread: the node of the workload's pool with most room."""
    pool = work.pool or ("gpu" if work.gpu else "general")
    candidates = [node for node in NODES if node.pool == pool]
    return max(candidates, key=lambda node: (node.cpu - requests.get(node.name, 0.0), node.name))


def _volume(
    rng: random.Random, work: Workload, pod: str, disks: list[Disk]
) -> tuple[str, float] | None:
    """A statefulset pod's claimed disk, added to `disks`: (PV name, bytes)."""
    if not work.pv_gib:
        return None
    disk = _new_disk(rng, work.pv_gib, f"data-{pod}", work.namespace)
    disks.append(disk)
    return disk.volume, float(disk.gib * GIB)


def _new_disk(rng: random.Random, gib: int, claim: str, namespace: str) -> Disk:
    volume = f"pvc-{uuid.UUID(int=rng.getrandbits(128), version=4)}"
    used = 0.25 + 0.6 * rng.random() if claim else 0.0
    return Disk(volume, f"vol-{rng.getrandbits(64):016x}", gib, claim, namespace, used)


def _containers(
    work: Workload,
    pod: str,
    node: Node,
    *,
    pv: tuple[str, float] | None,
    skew: float,
    start: int,
    replica: int,
) -> list[Instance]:
    """A pod's containers; pod-level costs (network, GPU, volume, balancer) go to the first."""
    labels = {"app": work.name, "team": TEAMS[work.namespace]}
    if work.kind == "deployment":
        labels["pod_template_hash"] = pod.split("-")[-2]
    lb_share = LB_PRICE / max(work.replicas, 1) if work.lb else 0.0
    return [
        Instance(
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
            schedule=work.schedule,
            replica=replica,
            growth=work.growth,
        )
        for first, spec in zip([True] + [False] * len(work.specs), work.specs, strict=False)
    ]
