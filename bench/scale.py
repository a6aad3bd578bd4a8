"""`python -m bench scale`: the cost data plane on synthetic clusters of 2 000 and 10 000
containers with 30 days of history, before and after blocks, in the same run.

- **before**: `COST_BLOCKS=false`: one OpenCost request per window, the whole payload cached in
  Redis (`CachedCostSource`), production's 10 s OpenCost timeout and retries.
- **after**: the default: windows assembled from immutable day/hour blocks (`BlockedCostSource`).

Each (mode, size) runs in a fresh process (so peak RSS is that run's own), and the OpenCost
stand-in (a `SyntheticCluster` behind `OpenCostStandIn`, the real wire format) runs in another
child process, so `process_time()` and RSS are the bot's alone. The stand-in builds every answer
row by row and JSON-encodes it on one event loop, which paces it much like OpenCost: about a
second per 10 000 container rows on this machine.

Per command, cold then warm: wall time, bot CPU, peak RSS so far, Redis bytes (the whole Redis'
`used_memory` above an empty one, and the block cache's own counted footprint), OpenCost
requests and bytes, and what the answer was (ok, partial, or the error a user would see). Then
one simulated day later every command again (steady state: what a further day costs OpenCost),
and a user who may see nothing asking 50 distinct windows. Printed, never asserted.
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from redis.asyncio import Redis

from bench.common import banner, pick, print_check, print_table
from services.access.models import Scope
from services.costs.service import CostService
from services.costs.windows import parse_window
from services.errors import CostbotError
from services.opencost.blocks import BlockedCostSource, align, source_identity, used_bytes
from services.opencost.cache import CachedCostSource
from services.opencost.client import OpenCostClient
from services.ports import CostSource
from services.recommendations.engine import OptimizationService
from services.recommendations.models import HpaTarget
from tests.redis_server import RedisServer

NOW = datetime(2026, 11, 27, 16, 55, tzinfo=UTC)
HISTORY_DAYS = 30
EVERYONE = Scope(namespaces=None, cluster_wide=True)
TEAM = Scope(namespaces=frozenset({"ns-0001", "ns-0002"}))
OPENCOST_TIMEOUT = 10.0  # production's default OPENCOST_TIMEOUT
CACHE_TTL = 300  # production's default CACHE_TTL
MODES = ("before", "after")


class _Clock:
    def __init__(self) -> None:
        self.now_value = NOW

    def now(self) -> datetime:
        return self.now_value


class _NoHpas:
    async def cpu_hpas(self) -> list[HpaTarget]:
        return []


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the OpenCost stand-in, in its own process -----------------------------------------------
def serve(containers: int) -> None:
    """Child process: the synthetic cluster behind the stand-in; `/__stats` reports (and resets)
    the requests and body bytes served since the last report."""
    from tests.standins.opencost import OpenCostStandIn
    from tests.standins.opencost_days import SyntheticCluster

    # One more day than the history, so the simulated next day has data too.
    cluster = SyntheticCluster(
        containers, max(10, containers // 20), end=NOW + timedelta(days=1), days=HISTORY_DAYS + 1
    )
    stats: dict[str, object] = {"requests": 0, "bytes": 0, "kinds": {}}

    def respond(path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        if path == "/__stats":
            body = json.dumps(stats).encode()
            stats.update(requests=0, bytes=0, kinds={})
            return 200, "application/json", body
        status, kind, body = cluster.respond(path, params)
        stats["requests"] = int(str(stats["requests"])) + 1
        stats["bytes"] = int(str(stats["bytes"])) + len(body)
        kinds = stats["kinds"]
        assert isinstance(kinds, dict)
        what = _request_kind(path, params)
        kinds[what] = kinds.get(what, 0) + 1
        return status, kind, body

    standin = OpenCostStandIn(responder=respond).start()
    print(standin.url, flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    standin.stop()


def _request_kind(path: str, params: dict[str, str]) -> str:
    """`namespace day`, `container hour`, `assets 14d`, …: what one request asked for."""
    first, last = (
        datetime.fromisoformat(moment.replace("Z", "+00:00"))
        for moment in params.get("window", ",").split(",")
    )
    hours = (last - first).total_seconds() / 3600
    span = {1.0: "hour", 24.0: "day"}.get(hours, f"{hours:g}h")
    if path.endswith("/assets"):
        return f"assets {span}"
    level = {"namespace,controllerKind,controller": "controller"}.get(
        params.get("aggregate", ""), params.get("aggregate", "") or "container"
    )
    return f"{level} {span}{' daily' if params.get('step') == '1d' else ''}"


@dataclass
class _Served:
    requests: int
    mib: float
    kinds: dict[str, int]


async def _served(url: str) -> _Served:
    async with httpx.AsyncClient() as http:
        stats = (await http.get(f"{url}/__stats")).json()
    return _Served(int(stats["requests"]), stats["bytes"] / 2**20, dict(stats["kinds"]))


# --- one (mode, size) run, in its own process --------------------------------------------------
def _source(
    mode: str, url: str, http: httpx.AsyncClient, redis: Redis, clock: _Clock
) -> CostSource:
    client = OpenCostClient(url, http, clock=clock)  # production's retries and cool-down
    if mode == "before":
        return CachedCostSource(client, redis, ttl=CACHE_TTL, clock=clock)
    return BlockedCostSource(client, redis, clock, source_identity("", url))


def _outcome(result: object) -> str:
    if isinstance(result, CostbotError):
        return f"error: {str(result)[:60]}"
    missing = getattr(getattr(result, "provenance", None), "missing", None) or []
    return f"partial ({len(missing)} missing)" if missing else "ok"


async def _measure(url: str, mode: str, containers: int, redis_url: str) -> dict[str, object]:
    redis = Redis.from_url(redis_url)
    await redis.flushall()
    empty = int((await redis.info("memory"))["used_memory"])
    clock = _Clock()
    rows: list[list[object]] = []
    steady: list[list[object]] = []
    timeout = httpx.Timeout(OPENCOST_TIMEOUT, connect=3.0)
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=16)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as http:
        source = _source(mode, url, http, redis, clock)
        costs = CostService(source, clock, align=align if mode == "after" else None)
        recs = OptimizationService(source, _NoHpas(), clock)

        commands: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("summary 7d", lambda: costs.summary(parse_window("7d", clock.now()), EVERYONE)),
            (
                "top 10 by controller 30d",
                lambda: costs.top(parse_window("30d", clock.now()), EVERYONE, "controller"),
            ),
            ("compare 7d", lambda: costs.compare(parse_window("7d", clock.now()), EVERYONE)),
            ("trend 30d", lambda: costs.trend(parse_window("30d", clock.now()), EVERYONE)),
            ("recommendations", lambda: recs.generate(EVERYONE)),
            ("namespaced summary 7d", lambda: costs.summary(parse_window("7d", clock.now()), TEAM)),
        ]

        last_kinds: dict[str, int] = {}

        async def run(name: str, call: Callable[[], Awaitable[object]]) -> list[object]:
            await _served(url)  # reset the counters
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                result: object = await call()
            except CostbotError as exc:
                result = exc
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            served = await _served(url)
            last_kinds.clear()
            last_kinds.update(served.kinds)
            used = int((await redis.info("memory"))["used_memory"]) - empty
            return [
                f"{wall:.2f}",
                f"{cpu:.2f}",
                f"{_peak_rss_mb():.0f}",
                f"{used / 2**20:.1f}",
                f"{await used_bytes(redis) / 2**20:.1f}",
                served.requests,
                f"{served.mib:.1f}",
                _outcome(result),
            ]

        for name, call in commands:
            for phase in ("cold", "warm"):
                rows.append([mode, containers, name, phase, *await run(name, call)])

        # Steady state: a day later (the live piece expired long ago), every command once more.
        clock.now_value = NOW + timedelta(days=1)
        requests, mib, kinds = 0, 0.0, Counter[str]()
        for name, call in commands:
            measured = await run(name, call)
            requests += int(str(measured[5]))
            mib += float(str(measured[6]))
            kinds.update(last_kinds)
        what = ", ".join(f"{count}× {kind}" for kind, count in sorted(kinds.items()))
        steady.append([mode, containers, requests, f"{mib:.1f}", what])

        # A user who may see nothing, 50 distinct windows: what it costs OpenCost and Redis.
        await _served(url)
        keys_before = await redis.dbsize()
        nobody = Scope(namespaces=frozenset())
        for days in range(1, 51):
            await costs.summary(parse_window(f"{days}d", clock.now()), nobody)
        served = await _served(url)
        written = await redis.dbsize() - keys_before
        close = getattr(source, "close", None)
        if close is not None:
            await close()
    await redis.aclose()
    return {
        "rows": rows,
        "steady": steady,
        "nobody": [mode, containers, served.requests, f"{served.mib:.1f}", written],
    }


def run_one(mode: str, containers: int, redis_url: str) -> None:
    """Child process: one mode at one size; prints its rows as one JSON line."""
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.scale", "--serve", str(containers)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    url = child.stdout.readline().strip()
    try:
        result = asyncio.run(_measure(url, mode, containers, redis_url))
    finally:
        child.stdin.close()
        child.wait(timeout=60)
    print(json.dumps(result), flush=True)


# --- the parent --------------------------------------------------------------------------------
def main() -> None:
    sizes = (pick(2000, 200), pick(10000, 400))
    banner("scale", f"the cost data plane, {sizes} containers × {HISTORY_DAYS} days, before/after")
    rows: list[list[object]] = []
    steady: list[list[object]] = []
    nobody: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp), persist=False)
        server.start()
        try:
            for size in sizes:
                for mode in MODES:
                    done = subprocess.run(
                        [sys.executable, "-m", "bench.scale", "--run", mode, str(size), server.url],
                        check=True,
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                    result = json.loads(done.stdout.strip().splitlines()[-1])
                    rows += result["rows"]
                    steady.append(result["steady"][0])
                    nobody.append(result["nobody"])
        finally:
            server.stop()
    header = ["mode", "containers", "command", "run", "wall s", "CPU s", "peak RSS MB"]
    header += ["Redis MiB", "cache MiB", "OC requests", "OC MiB", "answer"]
    print_table("per command (Redis MiB: used_memory above an empty Redis)", header, rows)
    print_table(
        "steady state: every command once more, one simulated day later",
        ["mode", "containers", "OC requests", "OC MiB", "what was asked"],
        steady,
    )
    print_table(
        "a user who may see nothing, 50 distinct windows",
        ["mode", "containers", "OC requests", "OC MiB", "Redis keys written"],
        nobody,
    )
    _targets(rows)


def _targets(rows: list[list[object]]) -> None:
    """The issue's targets for the largest cluster, after: printed, never asserted."""
    biggest = max(int(str(row[1])) for row in rows)
    after = [row for row in rows if row[0] == "after" and int(str(row[1])) == biggest]
    for row in after:
        name, phase, cpu = str(row[2]), str(row[3]), float(str(row[5]))
        wall = float(str(row[4]))
        if name == "recommendations":
            print_check(f"{name} {phase} wall", wall, 60 if phase == "cold" else 2, "s")
        elif phase == "warm":
            print_check(f"{name} warm bot CPU", cpu * 1000, 200, "ms")
    peak = max(float(str(row[6])) for row in after)
    cache = max(float(str(row[8])) for row in after)
    print_check("peak RSS", peak, 600, "MB")
    print_check("block cache footprint", cache, 150, "MiB")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(int(sys.argv[2]))
    elif sys.argv[1:2] == ["--run"]:
        run_one(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        main()
