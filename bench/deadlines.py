"""Benchmark 5: how long the answers take that the tests used to time, measured instead.

The tests assert what happens (an empty ack, a stale copy labelled so, one upstream attempt);
these are the durations behind them, each against the figure it used to be asserted under:

- a signed `/cost help` acknowledged (≤ 1 s) and answered;
- the OpenCost client giving up at its 0.4 s deadline on a 3 s upstream (≤ 2 s);
- a reply while OpenCost is slow, down or failing, from the stale copy (≤ 5 s);
- a reply while the Kubernetes API is down, failing closed (≤ 5 s).

The bot runs in this process (tests/bot_harness.py's BotServer, on a real uvicorn) against the
test stand-ins and a private redis-server, exactly as the end-to-end tests run it.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import structlog

from bench.common import banner, percentile, pick, print_check, print_ratio, print_table, ratio
from bot.settings import Settings
from demo.cluster import DemoCluster
from services.errors import OpenCostUnavailable
from services.opencost.client import OpenCostClient
from services.opencost.models import AllocationQuery
from tests.bot_harness import BotServer, MovableClock, World, demo_world_env, seed_slack_users
from tests.redis_server import RedisServer
from tests.standins.fixtures import SIGNING_SECRET
from tests.standins.kube import KubeApiStandIn
from tests.standins.opencost import OpenCostStandIn
from tests.standins.signing import SignedSlackClient
from tests.standins.slack import SlackStandIn
from tests.waiting import wait_for_fresh_copies_to_expire

ADMIN, ALICE = "U0DEMOADMIN", "U0ALICE"
# How each OpenCost fault is injected: "slow" outlasts the bot's 1 s OpenCost timeout.
FAULTS: dict[str, Callable[[OpenCostStandIn], None]] = {
    "slow": lambda oc: setattr(oc, "delay_seconds", 3.0),
    "down": lambda oc: setattr(oc, "mode", "down"),
    "status_500": lambda oc: setattr(oc, "mode", "status_500"),
}
DAY = AllocationQuery(start=datetime(2024, 3, 4, tzinfo=UTC), end=datetime(2024, 3, 5, tzinfo=UTC))
ACK_TARGET_MS, CLIENT_TARGET_MS, REPLY_TARGET_MS = 1000.0, 2000.0, 5000.0


@contextmanager
def _world(tmp: Path, **overrides: Any) -> Iterator[World]:
    """The `world` test fixture's bot and stand-ins, on a private redis-server."""
    redis = RedisServer(tmp / "redis", persist=False)
    redis.start()
    clock = MovableClock()
    try:
        with SlackStandIn() as slack, OpenCostStandIn(responder=DemoCluster(clock).respond) as oc:
            kube = KubeApiStandIn()
            kube.start()
            seed_slack_users(slack)
            env = {**demo_world_env(slack, oc, kube, redis.url, tmp), **overrides}
            bot = BotServer(Settings(**env), clock).start()
            client = SignedSlackClient(bot.url + "/slack/events", SIGNING_SECRET)
            try:
                yield World(bot, slack, oc, kube, client, clock)
            finally:
                client.close()
                bot.stop()
                kube.stop()
    finally:
        redis.stop()


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def help_ack(world: World, runs: int) -> tuple[list[float], list[float]]:
    """Seconds to the empty 200 ack, and to the answer at the response_url, of `/cost help`."""
    acks, answers = [], []
    for _ in range(runs):
        url = world.slack.new_response_url()
        started = time.perf_counter()
        response = world.client.slash("help", user_id=ALICE, response_url=url)
        acks.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
        world.slack.wait_for_response(url, 1, 30)
        answers.append(time.perf_counter() - started)
    return acks, answers


def fault_replies(world: World, runs: int) -> dict[str, list[float]]:
    """Seconds to a reply from the stale copy, per OpenCost fault; "healthy" is the baseline."""
    redis_url = world.bot.settings.redis_url or ""
    took: dict[str, list[float]] = {"healthy": [], **{fault: [] for fault in FAULTS}}
    for _ in range(runs):
        for fault, inject in FAULTS.items():
            world.opencost.reset()
            took["healthy"].append(_timed(lambda: world.ask("summary lastweek", ADMIN, 30)))
            wait_for_fresh_copies_to_expire(redis_url)
            inject(world.opencost)
            took[fault].append(_timed(lambda: world.ask("summary lastweek", ADMIN, 30)))
            world.opencost.reset()
            world.opencost.delay_seconds, world.opencost.mode = 0.0, "ok"
            _wait_out_the_cooldown(world)
    return took


def _wait_out_the_cooldown(world: World) -> None:
    """Until the bot asks OpenCost again (it spares a failing one for a few seconds)."""
    deadline = time.monotonic() + 30
    while "not answering" in str(world.ask("summary yesterday", ADMIN, 30)):
        assert time.monotonic() < deadline, "OpenCost was never asked again"
        time.sleep(0.2)


def kube_down(world: World, runs: int) -> list[float]:
    """Seconds to the fail-closed reply while the Kubernetes API refuses connections."""
    world.kube.set_mode("down")
    try:
        return [_timed(lambda: world.ask("summary 7d", ALICE, 30)) for _ in range(runs)]
    finally:
        world.kube.set_mode("ok")


async def _client_deadline(runs: int) -> list[float]:
    """Seconds until the client gives up: deadline 0.4 s, 5 s read timeout, OpenCost takes 3 s."""
    took = []
    with OpenCostStandIn() as opencost:
        opencost.delay_seconds = 3.0
        async with httpx.AsyncClient(timeout=5.0) as http:
            for _ in range(runs):
                client = OpenCostClient(
                    opencost.url, http, None, 2, 0.01, clock=MovableClock(), deadline=0.4,
                    cooldown=0.0,
                )  # fmt: skip
                started = time.perf_counter()
                try:
                    await client.allocations(DAY)
                except OpenCostUnavailable:
                    took.append(time.perf_counter() - started)
    return took


def _row(name: str, samples: list[float]) -> list[object]:
    return [name, len(samples), *(f"{percentile(samples, p) * 1000:.0f}" for p in (50, 99))]


def main() -> None:
    runs = pick(10, 1)
    # The bot runs in this process: keep its log lines out of the report.
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    banner("deadlines", f"{runs} run(s) of each; in-process bot, test stand-ins, real Redis")
    with tempfile.TemporaryDirectory() as tmp:
        with _world(Path(tmp) / "help") as world:
            acks, answers = help_ack(world, pick(50, 3))
            down = kube_down(world, runs)
        # The stale-copy path is the per-window cache's (with blocks, settled days simply stay).
        faults_world = _world(
            Path(tmp) / "faults", opencost_timeout=1.0, cache_ttl=1, cost_blocks=False
        )
        with faults_world as world:
            faults = fault_replies(world, pick(3, 1))
    deadline = asyncio.run(_client_deadline(runs))
    rows = [
        _row("/cost help: ack", acks),
        _row("/cost help: answer", answers),
        _row("OpenCost client, 0.4 s deadline, 3 s upstream", deadline),
        *(_row(f"summary, OpenCost {name}", took) for name, took in faults.items()),
        _row("summary, Kubernetes API down", down),
    ]
    print_table("seconds to …, in ms", ["case", "n", "p50", "p99"], rows)
    print_ratio(
        "stale reply with OpenCost slow / healthy reply, p50",
        ratio(percentile(faults["slow"], 50), percentile(faults["healthy"], 50)),
    )
    print_check("help ack p99", percentile(acks, 99) * 1000, ACK_TARGET_MS, "ms")
    print_check("client gives up, p99", percentile(deadline, 99) * 1000, CLIENT_TARGET_MS, "ms")
    for name in FAULTS:
        took = percentile(faults[name], 99) * 1000
        print_check(f"reply with OpenCost {name}, p99", took, REPLY_TARGET_MS, "ms")
    print_check(
        "reply with Kubernetes down, p99", percentile(down, 99) * 1000, REPLY_TARGET_MS, "ms"
    )


if __name__ == "__main__":
    main()
