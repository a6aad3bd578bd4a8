"""`python -m bench scale`: the block data plane on synthetic clusters of 2 000 and 10 000
containers × 30 days, served by the window-aware OpenCost stand-in. Per command, cold and warm:
wall time, bot CPU seconds, peak RSS, Redis bytes (the cache's counted footprint), OpenCost
requests and bytes. Printed, not asserted (the 2-core machine is shared)."""

from __future__ import annotations

import asyncio
import resource
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
from redis.asyncio import Redis

from bench.common import banner, pick, print_table
from services.access.models import Scope
from services.costs.service import CostService
from services.costs.windows import parse_window
from services.opencost.blocks import BlockedCostSource, align, source_identity, used_bytes
from services.opencost.client import OpenCostClient
from services.recommendations.engine import OptimizationService
from services.recommendations.models import HpaTarget
from tests.redis_server import RedisServer
from tests.standins.opencost import OpenCostStandIn
from tests.standins.opencost_days import SyntheticCluster

NOW = datetime(2026, 11, 27, 16, 55, tzinfo=UTC)
EVERYONE = Scope(namespaces=None, cluster_wide=True)


class _Clock:
    def now(self) -> datetime:
        return NOW


class _NoHpas:
    async def cpu_hpas(self) -> list[HpaTarget]:
        return []


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _size(containers: int, redis: Redis) -> list[list[object]]:
    await redis.flushall()
    cluster = SyntheticCluster(containers, max(10, containers // 20), end=NOW, days=30)
    standin = OpenCostStandIn(responder=cluster.respond).start()
    clock = _Clock()
    rows: list[list[object]] = []
    async with httpx.AsyncClient(timeout=httpx.Timeout(60.0)) as http:
        client = OpenCostClient(standin.url, http, clock=clock, retries=1)
        source = BlockedCostSource(client, redis, clock, source_identity("", standin.url))
        costs = CostService(source, clock, align=align)
        recs = OptimizationService(source, _NoHpas(), clock)
        team = Scope(namespaces=frozenset({"ns-0001", "ns-0002"}))
        commands: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("summary 7d", lambda: costs.summary(parse_window("7d", NOW), EVERYONE)),
            (
                "top 10 by controller 30d",
                lambda: costs.top(parse_window("30d", NOW), EVERYONE, "controller"),
            ),
            ("compare 7d", lambda: costs.compare(parse_window("7d", NOW), EVERYONE)),
            ("trend 30d", lambda: costs.trend(parse_window("30d", NOW), EVERYONE)),
            ("recommendations", lambda: recs.generate(EVERYONE)),
            ("namespaced summary 7d", lambda: costs.summary(parse_window("7d", NOW), team)),
        ]
        for name, run in commands:
            for phase in ("cold", "warm"):
                standin.reset()
                wall, cpu = time.perf_counter(), time.process_time()
                await run()
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                rows.append(
                    [
                        containers,
                        name,
                        phase,
                        f"{wall:.2f}",
                        f"{cpu:.2f}",
                        f"{_peak_rss_mb():.0f}",
                        f"{await used_bytes(redis) / 2**20:.1f}",
                        standin.request_count,
                        f"{standin.bytes_sent / 2**20:.1f}",
                    ]
                )
    standin.stop()
    return rows


async def _main() -> None:
    banner("scale", "the block data plane on synthetic clusters, 30 days of history")
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp), persist=False)
        server.start()
        try:
            redis = Redis.from_url(server.url)
            rows: list[list[object]] = []
            for size in (pick(2000, 200), pick(10000, 400)):
                rows += await _size(size, redis)
            await redis.aclose()
        finally:
            server.stop()
    header = [
        "containers",
        "command",
        "run",
        "wall s",
        "CPU s",
        "peak RSS MB",
        "cache MiB",
        "OC requests",
        "OC MiB",
    ]
    print_table("per command", header, rows)


if __name__ == "__main__":
    asyncio.run(_main())
