"""What the demo cluster is made of: prices, namespaces, workloads, nodes. Data only, no logic."""

from __future__ import annotations

from typing import NamedTuple

CLUSTER = "demo-cluster"
DEMO_BASE_URL = "http://opencost.demo"
# Workloads with a CPU HorizontalPodAutoscaler: (namespace, kind, name, target utilization).
DEMO_HPAS: list[tuple[str, str, str, float]] = [
    ("web", "deployment", "frontend", 0.7),
    ("search", "deployment", "search-api", 0.75),
]

HOUR, DAY, WEEK = 3600, 86400, 7 * 86400
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


class Spec(NamedTuple):
    """A container spec: requests and mean usage (cores, MiB)."""

    container: str
    cpu_req: float
    cpu_use: float
    ram_req: float
    ram_use: float


class Workload(NamedTuple):
    """A workload; `replicas=0` on a daemonset means one pod per node."""

    namespace: str
    kind: str
    name: str
    replicas: int
    specs: tuple[Spec, ...]
    profile: str = "steady"  # load shape: web | steady | spiky | batch | idle
    net_mb: float = 0.0  # MB sent per pod-hour at average load
    pv_gib: int = 0
    gpu: int = 0
    age_hours: int | None = None  # None: as old as the cluster
    lb: bool = False
    schedule: str = "always"  # when its pods run, see generator.runs
    growth: float = 0.0  # weekly growth of its requests and usage (data volume)
    pool: str = ""  # node pool; "" = "gpu" for GPU pods, else "general"


class Node(NamedTuple):
    name: str
    provider_id: str
    node_type: str
    cpu: float
    ram_gib: float
    gpu: int
    pool: str = "general"
    autoscaled: bool = False  # up only while a pod placed on it runs (the cluster autoscaler)


_S, _W = Spec, Workload

# fmt: off
CORE: tuple[Workload, ...] = (
    _W("payments", "deployment", "payments-api", 3,
       (_S("api", 1.0, 0.12, 1024, 420), _S("envoy", 0.1, 0.02, 128, 60)), "web", 400),
    _W("payments", "deployment", "payment-worker", 2,
       (_S("worker", 0.5, 0.18, 512, 300),), "steady", 50),
    _W("payments", "statefulset", "payments-db", 2,
       (_S("postgres", 1.0, 0.35, 4096, 2600),), "steady", 120, pv_gib=100),
    _W("payments", "deployment", "fraud-scorer", 2,
       (_S("scorer", 2.0, 0.25, 2048, 700),), "web", 60),
    _W("payments", "job", "settlement-report", 1,
       (_S("report", 1.0, 0.7, 1024, 800),), "batch", 20, schedule="nightly"),
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
       (_S("broker", 1.0, 0.45, 4096, 3300),), "steady", 2000, pv_gib=500, growth=0.06),
    _W("data-pipeline", "statefulset", "zookeeper", 3,
       (_S("zookeeper", 0.5, 0.03, 1024, 300),), "steady", 20, pv_gib=20),
    _W("data-pipeline", "deployment", "stream-processor", 2,
       (_S("processor", 1.0, 0.4, 2048, 1200),), "spiky", 600, growth=0.06),
    _W("data-pipeline", "job", "nightly-etl", 1,
       (_S("etl", 2.0, 1.6, 4096, 3000),), "batch", 3000, schedule="nightly", growth=0.06),
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
# What changed lately, for `/cost compare` and `/cost trend` to tell. Kept after the rest so the
# older workloads keep their placement and their random draws.
STORY: tuple[Workload, ...] = (
    _W("web", "deployment", "personalizer", 3,  # launched five days ago
       (_S("api", 1.0, 0.3, 1536, 800),), "web", 250, age_hours=5 * 24),
    _W("ml-training", "statefulset", "notebooks", 4,  # culled at night, off at weekends
       (_S("notebook", 2.0, 0.6, 8192, 5000),), "web", 20, schedule="notebooks", pool="batch"),
    _W("data-pipeline", "job", "warehouse-load", 3,  # weekday daytime batch, growing with data
       (_S("spark", 2.0, 1.5, 8192, 6000),), "batch", 1500, schedule="weekdays", growth=0.06,
       pool="batch"),
    _W("ml-training", "job", "train-ranker", 2,  # GPU training bursts, 2-3 days a week
       (_S("trainer", 3.5, 3.1, 14336, 11000),), "batch", 400, gpu=1, schedule="burst",
       pool="gpu-burst"),
)
# fmt: on
WORKLOADS: tuple[Workload, ...] = CORE + STORY

NODES: tuple[Node, ...] = (
    Node("ip-10-0-1-17.ec2.internal", "i-0a1b2c3d4e5f60017", "m6i.4xlarge", 16.0, 64.0, 0),
    Node("ip-10-0-2-41.ec2.internal", "i-0a1b2c3d4e5f60041", "m6i.4xlarge", 16.0, 64.0, 0),
    Node("ip-10-0-3-88.ec2.internal", "i-0a1b2c3d4e5f60088", "m6i.4xlarge", 16.0, 64.0, 0),
    Node("ip-10-0-1-93.ec2.internal", "i-0a1b2c3d4e5f60093", "r6i.2xlarge", 8.0, 64.0, 0),
    Node("ip-10-0-2-150.ec2.internal", "i-0a1b2c3d4e5f60150", "g4dn.2xlarge", 8.0, 32.0, 1, "gpu"),
    # Autoscaled: weekday batch and notebooks, and the GPU training bursts.
    Node("ip-10-0-3-120.ec2.internal", "i-0a1b2c3d4e5f60120", "m6i.4xlarge", 16.0, 64.0, 0,
         "batch", autoscaled=True),
    Node("ip-10-0-1-201.ec2.internal", "i-0a1b2c3d4e5f60201", "g4dn.xlarge", 4.0, 16.0, 1,
         "gpu-burst", autoscaled=True),
    Node("ip-10-0-2-202.ec2.internal", "i-0a1b2c3d4e5f60202", "g4dn.xlarge", 4.0, 16.0, 1,
         "gpu-burst", autoscaled=True),
)  # fmt: skip
