"""Benchmark 4: 100 identical cost questions at once through CachedCostSource (real Redis) over a
slow inner source (50 ms a fetch), vs the same questions straight to the inner source.

What matters is the inner call count (single flight: 1 per question, across replicas too) and
what waiting for the one fetch costs compared with everybody fetching.
"""

from __future__ import annotations

import asyncio
import gc
import tempfile
import time
from collections import Counter
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import msgspec
import structlog
from redis.asyncio import BlockingConnectionPool, Redis

from bench.common import banner, median, ms, pick, print_ratio, print_table, ratio
from bench.parse_aggregate import make_payload
from bot.redis import async_client
from services.opencost.cache import CachedCostSource
from services.opencost.models import AllocationData, AllocationQuery, AllocationResponse, AssetData
from services.ports import CostSource
from tests.redis_server import RedisServer

INNER_DELAY = 0.05
START = datetime(2024, 3, 4, tzinfo=UTC)


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SlowSource:
    """A CostSource standing in for OpenCost: 50 ms to answer, then the JSON decoded into fresh
    structs as OpenCostClient does; counts how often it was asked."""

    def __init__(self, payload: bytes) -> None:
        self._payload = payload
        self._decoder = msgspec.json.Decoder(AllocationResponse)
        self.calls = 0

    async def allocations(self, query: AllocationQuery) -> AllocationData:
        self.calls += 1
        await asyncio.sleep(INNER_DELAY)
        decoded = self._decoder.decode(self._payload)
        steps = [list(step.values()) for step in decoded.data or []]
        return AllocationData(steps=steps, fetched_at=time.time())

    async def assets(self, start: datetime, end: datetime) -> AssetData:
        return AssetData(assets=[], fetched_at=time.time())


class LogCounter:
    """Counts log events by name instead of printing them (a bypassed cache logs per request)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def __call__(self, _logger: object, _method: str, event: MutableMapping[str, Any]) -> NoReturn:
        self.counts[str(event.get("event"))] += 1
        raise structlog.DropEvent


@dataclass
class Case:
    name: str
    sources: Sequence[CostSource]
    step: str = ""  # a different question (cache key) from the other cases of a run
    times: list[float] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)
    redis_errors: int = 0

    def row(self, base: float) -> list[object]:
        spent = median(self.times)
        calls = "/".join(str(c) for c in sorted(set(self.calls)))
        return [self.name, ms(spent), f"{ratio(spent, base):.2f}×", calls, self.redis_errors]


def blocking_client(url: str) -> Redis:
    """Like bot/redis.py's client, but a pool that waits for a free connection when all 64 are
    busy instead of raising MaxConnectionsError (which CachedCostSource reads as Redis down)."""
    pool = BlockingConnectionPool.from_url(url, max_connections=64, timeout=5, socket_timeout=5.0)
    return Redis(connection_pool=pool)


def _cases(inner: SlowSource, clients: list[Redis]) -> list[Case]:
    ours = [CachedCostSource(inner, client, ttl=300, clock=SystemClock()) for client in clients]
    return [
        Case("no cache: straight to the 50 ms source (baseline)", [inner]),
        Case("CachedCostSource, cold: single flight", [ours[0]]),
        Case("CachedCostSource, warm: all hits", [ours[0]]),
        Case("two replicas (50 each), cold", ours[:2], "1d"),
        Case("cold, pool that waits (blocking pool of 64)", [ours[2]], "1h"),
        Case("warm, pool that waits", [ours[2]], "1h"),
    ]


async def _ask_all(sources: Sequence[CostSource], query: AllocationQuery, count: int) -> float:
    """`count` identical questions at once, spread over `sources` (replicas); seconds taken."""
    started = time.perf_counter()
    answers = await asyncio.gather(
        *(sources[i % len(sources)].allocations(query) for i in range(count))
    )
    spent = time.perf_counter() - started
    if any(not answer.steps for answer in answers):
        raise RuntimeError("an answer came back empty")
    return spent


async def _run(url: str, count: int, runs: int, payload: bytes) -> list[Case]:
    inner = SlowSource(payload)
    clients = [async_client(url), async_client(url), blocking_client(url)]
    cases = _cases(inner, clients)
    counter = LogCounter()
    structlog.configure(processors=[counter])
    try:
        for run in range(runs):  # each run asks new questions: a new window
            start = START + timedelta(hours=run)
            for case in cases:
                query = AllocationQuery(start, start + timedelta(days=7), step=case.step)
                before, errors = inner.calls, counter.counts["storage.degraded"]
                case.times.append(await _ask_all(case.sources, query, count))
                case.calls.append(inner.calls - before)
                case.redis_errors += counter.counts["storage.degraded"] - errors
                await _settle()
    finally:
        structlog.reset_defaults()
        for client in clients:
            await client.aclose()
    return cases


async def _settle() -> None:
    """Let the last batch's garbage go before timing the next one (it would be billed to it)."""
    gc.collect()
    await asyncio.sleep(0.1)


def run(count: int, runs: int, rows: int) -> list[Case]:
    payload = make_payload(rows)
    with tempfile.TemporaryDirectory(prefix="costbot-bench-redis-") as tmp:
        redis = RedisServer(Path(tmp), persist=False)
        redis.start()
        try:
            return asyncio.run(_run(redis.url, count, runs, payload))
        finally:
            redis.stop()


def main() -> None:
    count, runs, rows = pick(100, 10), pick(3, 1), pick(100, 20)
    banner("cache", f"{count} identical questions at once, {rows}-row answers, {runs} runs")
    cases = run(count, runs, rows)
    base = median(cases[0].times)
    header = ("case", "median ms", "vs no cache", "inner calls", "redis errors")
    print_table("time for the whole batch", header, [case.row(base) for case in cases])
    for index, label in ((1, "cold"), (2, "warm"), (4, "cold, waiting pool")):
        print_ratio(f"{label} / no cache", ratio(median(cases[index].times), base))
    calls = ", ".join(f"{c.name.split(':')[0].split(' (')[0]} {c.calls}" for c in cases)
    print(f"inner calls per batch of {count}: {calls}")


if __name__ == "__main__":
    main()
