"""Benchmark 6: warm `GET /api/v1/costs/summary` on the real bot vs a trivial FastAPI endpoint.

The real bot (Runtime, Starlette, the API under /api) runs under uvicorn against the OpenCost
stand-in (demo cluster), the Kubernetes stand-in (TokenReview and SubjectAccessReviews) and a
private redis-server; the trivial app (`api.app.trivial_app`) runs under uvicorn beside it.
Requests alternate between the two over keep-alive connections, after a warm-up, so the answer
cache, the SAR decision cache and the token cache are warm. Also printed: the token cache's hit
rate over the run (one review per token per minute at most).
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from api.app import trivial_app
from bench.common import banner, percentile, pick, print_percentile_ratio, print_ratio, print_table
from bench.common import ms as as_ms
from bot.logging import configure_logging
from bot.settings import Settings
from demo.cluster import DemoCluster
from tests.bot_harness import BotServer, MovableClock, demo_world_env, seed_slack_users
from tests.redis_server import RedisServer, free_port
from tests.standins.kube import KubeApiStandIn
from tests.standins.opencost import OpenCostStandIn
from tests.standins.slack import SlackStandIn

TARGET = 2.0  # warm summary latency at most twice the trivial endpoint's (reported, not asserted)
PATH = "/api/v1/costs/summary?window=7d"


class Trivial:
    """The baseline: one FastAPI endpoint that does nothing, under uvicorn in a thread."""

    def __init__(self) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            trivial_app(), host="127.0.0.1", port=self.port, log_config=None, access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)

    def __enter__(self) -> Trivial:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def _timed(client: httpx.Client, path: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    response = client.get(path, headers=headers)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed


def main() -> None:
    configure_logging("warning", "console")  # one access-log line per request would drown it
    rounds = pick(400, 20)
    banner("api", f"warm {PATH} vs a trivial FastAPI endpoint, {rounds} rounds each")
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        redis = RedisServer(tmp / "redis")
        redis.start()
        clock = MovableClock()
        cluster = DemoCluster(clock)
        kube = KubeApiStandIn()
        kube.start()
        try:
            with (
                SlackStandIn() as slack,
                OpenCostStandIn(responder=cluster.respond) as opencost,
                Trivial() as trivial,
            ):
                seed_slack_users(slack)
                env = demo_world_env(slack, opencost, kube, redis.url, tmp)
                env["api_rate_limit"] = 0
                bot = BotServer(Settings(**env), clock).start()
                try:
                    token = kube.mint_token("admin@demo.example", ["platform-admins"])
                    headers = {"Authorization": f"Bearer {token}"}
                    ours = httpx.Client(base_url=bot.url, timeout=30)
                    base = httpx.Client(base_url=f"http://127.0.0.1:{trivial.port}", timeout=30)
                    for _ in range(5):  # warm every cache
                        _timed(ours, PATH, headers)
                        _timed(base, "/ping", headers)
                    summary, ping = [], []
                    for _ in range(rounds):
                        summary.append(_timed(ours, PATH, headers))
                        ping.append(_timed(base, "/ping", headers))
                    reviews = kube.requests["token_review"]
                    ours.close()
                    base.close()
                finally:
                    bot.stop()
        finally:
            kube.stop()
            redis.stop()
    rows = [
        (name, as_ms(percentile(s, 50)), as_ms(percentile(s, 90)), as_ms(percentile(s, 99)))
        for name, s in (("costs/summary (costbot)", summary), ("trivial FastAPI", ping))
    ]
    print_table("latency, ms", ("endpoint", "p50", "p90", "p99"), rows)
    print_percentile_ratio("warm summary p50 / trivial p50", summary, ping, 50, TARGET)
    print_percentile_ratio("warm summary p90 / trivial p90", summary, ping, 90)
    asked = rounds + 5
    print(f"token reviews sent: {reviews} for {asked} requests with one token")
    print_ratio("token cache hit rate", (asked - reviews) / asked * 100, unit="%")


if __name__ == "__main__":
    main()
