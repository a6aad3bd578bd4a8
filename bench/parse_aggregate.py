"""Benchmark 1: decoding and aggregating a 20 000-row container-level OpenCost /allocation answer.

Baseline is `orjson.loads` of the same bytes (the cheapest way to get Python objects out of
them); ours is msgspec into typed structs, then the arithmetic CostService does for an answer.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import msgspec
import orjson

from bench.common import (
    banner,
    median,
    ms,
    pick,
    print_ratio,
    print_table,
    ratio,
    timed_runs,
)
from services.access.models import EVERYTHING, Scope
from services.costs.service import CostService
from services.costs.windows import TimeRange
from services.opencost.models import (
    IDLE,
    AllocationData,
    AllocationQuery,
    AllocationResponse,
    AssetData,
)
from tests.standins.opencost_data import allocation_envelope, allocation_row, allocation_set

END = datetime(2024, 3, 11, tzinfo=UTC)
START = END - timedelta(days=7)
WINDOW = TimeRange(START, END, "7d")
STAMP = "%Y-%m-%dT%H:%M:%SZ"
KINDS = ("deployment", "deployment", "deployment", "statefulset", "daemonset", "job")
GIB = 1024.0**3


class _Clock:
    def now(self) -> datetime:
        return END


class PayloadSource:
    """A CostSource that decodes the same OpenCost bytes on every question, as a cold fetch does."""

    def __init__(self, payload: bytes) -> None:
        self._payload = payload
        self._decoder = msgspec.json.Decoder(AllocationResponse)

    async def allocations(self, query: AllocationQuery) -> AllocationData:
        response = self._decoder.decode(self._payload)
        steps = [list(step.values()) for step in response.data or []]
        return AllocationData(steps=steps, fetched_at=END.timestamp())

    async def assets(self, start: datetime, end: datetime) -> AssetData:
        return AssetData(assets=[], fetched_at=END.timestamp())


# --- the payload ---------------------------------------------------------------------------------
TEAMS = ("payments", "checkout", "search", "data", "ml", "web", "mobile", "ads", "identity", "ops")
NAMESPACES = tuple(f"{team}-{env}" for team in TEAMS for env in ("prod", "stg", "dev", "qa"))


class _Pod(NamedTuple):
    namespace: str
    controller: str
    kind: str
    name: str


def _container(rng: random.Random, pod: _Pod, container: str) -> dict[str, Any]:
    cpu_req = rng.choice((0.05, 0.1, 0.25, 0.5, 1.0, 2.0))
    ram_req = rng.choice((0.125, 0.25, 0.5, 1.0, 2.0, 4.0)) * GIB
    hours = 24 * 7 * rng.uniform(0.05, 1.0)
    team = pod.namespace.partition("-")[0]
    labels = {"app": pod.controller, "team": team, "app_kubernetes_io_name": pod.controller}
    labels["pod_template_hash"] = f"{rng.getrandbits(32):08x}"
    return allocation_row(
        node=f"gke-prod-pool-{rng.randrange(60):02d}",
        namespace=pod.namespace,
        controller=pod.controller,
        kind=pod.kind,
        pod=pod.name,
        container=container,
        labels=labels,
        namespace_labels={"kubernetes_io_metadata_name": pod.namespace, "owner": team},
        provider_id=f"gce://prod/europe-west1-b/gke-prod-{rng.randrange(60):02d}",
        start=START.strftime(STAMP),
        end=END.strftime(STAMP),
        minutes=hours * 60,
        cpu_core_request_average=cpu_req,
        cpu_core_usage_average=cpu_req * rng.uniform(0.02, 1.3),
        ram_byte_request_average=ram_req,
        ram_byte_usage_average=ram_req * rng.uniform(0.1, 1.1),
        cpu_cost=cpu_req * hours * 0.031611,
        ram_cost=ram_req / GIB * hours * 0.004237,
        pv_cost=rng.choice((0.0, 0.0, 0.0, rng.uniform(0.1, 9.0))),
        network_cost=rng.uniform(0.0, 0.4),
    )


def allocation_rows(count: int, seed: int = 11) -> list[dict[str, Any]]:
    """`count` container rows over 40 namespaces, 12 controllers each, 1–3 containers a pod,
    plus the `__idle__` row; every field OpenCost prints, ~1.8 KB a row like the real thing."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    while len(rows) < count:
        controller = f"svc-{rng.randrange(12)}"
        pod = _Pod(
            rng.choice(NAMESPACES),
            controller,
            rng.choice(KINDS),
            f"{controller}-{rng.getrandbits(40):010x}",
        )
        for container in ("app", "istio-proxy", "log-shipper")[: rng.choice((1, 1, 2, 3))]:
            rows.append(_container(rng, pod, container))
    idle = allocation_row(
        IDLE,
        start=START.strftime(STAMP),
        end=END.strftime(STAMP),
        cpu_cost=412.5,
        ram_cost=120.25,
        raw=False,
    )
    return [*rows[:count], idle]


def make_payload(count: int) -> bytes:
    return orjson.dumps(allocation_envelope([allocation_set(*allocation_rows(count))]))


# --- the measurements ----------------------------------------------------------------------------
def _answer(
    loop: asyncio.AbstractEventLoop, payload: bytes, scope: Scope, question: str
) -> Callable[[], Any]:
    service = CostService(PayloadSource(payload), _Clock())

    async def ask() -> Any:
        if question == "summary":
            return await service.summary(WINDOW, scope, top=5)
        return await service.top(WINDOW, scope, "controller", k=5)

    return lambda: loop.run_until_complete(ask())


def measure(rows: int, runs: int) -> dict[str, float]:
    payload = make_payload(rows)
    decoder = msgspec.json.Decoder(AllocationResponse)
    team = Scope(namespaces=frozenset({"payments-prod", "checkout-prod", "payments-stg"}))
    query = AllocationQuery(start=START, end=END, include_idle=True)
    cached = msgspec.json.encode(asyncio.run(PayloadSource(payload).allocations(query)))
    cache_decoder = msgspec.json.Decoder(AllocationData)
    loop = asyncio.new_event_loop()
    cases: dict[str, Callable[[], Any]] = {
        "a orjson.loads (baseline)": lambda: orjson.loads(payload),
        "b msgspec decode AllocationResponse": lambda: decoder.decode(payload),
        "c decode + summary (cluster-wide)": _answer(loop, payload, EVERYTHING, "summary"),
        "d decode + top 5 by controller (3 ns)": _answer(loop, payload, team, "top"),
        "e cache entry decode AllocationData": lambda: cache_decoder.decode(cached),
    }
    try:
        times = timed_runs(cases, runs)
    finally:
        loop.close()
    medians = {name: median(samples) for name, samples in times.items()}
    medians["_bytes"] = float(len(payload))
    return medians


def main() -> None:
    rows, runs = pick(20_000, 500), pick(7, 2)
    banner("parse_aggregate", f"{rows} container rows, median of {runs} runs")
    result = measure(rows, runs)
    base = result["a orjson.loads (baseline)"]
    table = [
        (name, ms(value), f"{ratio(value, base):.2f}×")
        for name, value in result.items()
        if not name.startswith("_")
    ]
    print_table(
        f"payload {result['_bytes'] / 1e6:.1f} MB", ("case", "median ms", "vs orjson"), table
    )
    print_ratio(
        "decode+aggregate / orjson.loads",
        ratio(result["c decode + summary (cluster-wide)"], base),
        3,
    )
    print_ratio("decode / orjson.loads", ratio(result["b msgspec decode AllocationResponse"], base))


if __name__ == "__main__":
    main()
