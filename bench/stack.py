"""The world the latency benchmarks run in: stand-ins and redis-server here, the bot in its own
process (as `costbot serve` runs it), so its RSS and CPU time are its own.

Reuses the test stand-ins unchanged; the two subclasses below only add arrival timestamps.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil  # type: ignore[import-untyped]  # no stubs; memory_info and cpu_times only
from aiohttp import web

from demo.cluster import DemoCluster
from tests.bot_harness import demo_world_env, seed_slack_users
from tests.redis_server import RedisServer
from tests.standins.kube import KubeApiStandIn
from tests.standins.opencost import OpenCostStandIn
from tests.standins.slack import SlackStandIn
from tests.standins.slack_socket import SocketHub

HOURGLASS = ":hourglass"  # the bot's "Working on it…" note; the real answer comes after it


class _Arrivals:
    """perf_counter() stamps for awaited keys, set from a stand-in thread, read on another loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future[float]]] = {}

    def expect(self, key: str) -> asyncio.Future[float]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[float] = loop.create_future()
        with self._lock:
            self._waiting[key] = (loop, future)
        return future

    def arrived(self, key: str, stamp: float | None = None) -> None:
        stamp = time.perf_counter() if stamp is None else stamp
        with self._lock:
            waiter = self._waiting.pop(key, None)
        if waiter is not None:
            loop, future = waiter
            loop.call_soon_threadsafe(_settle, future, stamp)


def _settle(future: asyncio.Future[float], stamp: float) -> None:
    if not future.done():
        future.set_result(stamp)


class TimedSocketHub(SocketHub):
    """The stand-in's Socket Mode hub, also stamping when each envelope's ack arrives."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acks = _Arrivals()

    def _record(self, data: str) -> None:
        stamp = time.perf_counter()
        super()._record(data)
        try:
            envelope_id = orjson.loads(data).get("envelope_id")
        except (orjson.JSONDecodeError, AttributeError):
            return
        if envelope_id:
            self.acks.arrived(str(envelope_id), stamp)

    async def push_async(
        self, envelope_type: str, payload: dict[str, Any]
    ) -> asyncio.Future[float]:
        """Push an envelope from any event loop; the future gets the instant its ack arrived."""
        envelope_id = str(uuid.uuid4())
        acked = self.acks.expect(envelope_id)
        envelope = {
            "envelope_id": envelope_id,
            "type": envelope_type,
            "payload": payload,
            "accepts_response_payload": envelope_type != "events_api",
        }
        await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(self._send(envelope), self._server.loop)
        )
        return acked


class TimedSlack(SlackStandIn):
    """The Slack stand-in, also stamping when the final reply reaches each response_url."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.replies = _Arrivals()
        self.timed_socket = TimedSocketHub(self._server)
        self.socket = self.timed_socket

    def start_timed(self) -> TimedSlack:
        self.start()
        return self

    async def _response(self, request: web.Request) -> web.Response:
        stamp = time.perf_counter()
        answer = await super()._response(request)
        raw = await request.read()  # aiohttp keeps the body; this is the same bytes again
        final = not str(orjson.loads(raw or b"{}").get("text", "")).startswith(HOURGLASS)
        if answer.status == 200 and final:
            self.replies.arrived(request.match_info["response_id"], stamp)
        return answer


@dataclass
class Stack:
    """Running stand-ins plus the environment a bot process needs to use them."""

    slack: TimedSlack
    opencost: OpenCostStandIn
    kube: KubeApiStandIn
    env: dict[str, str]
    tmp: Path

    @property
    def port(self) -> int:
        return int(self.env["PORT"])


@contextmanager
def running_stack() -> Iterator[Stack]:
    """Redis, Slack, OpenCost (the demo cluster) and Kubernetes on loopback, the demo users."""
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="costbot-bench-")))
        redis = RedisServer(tmp / "redis", persist=False)
        redis.start()
        stack.callback(redis.stop)
        slack = TimedSlack().start_timed()
        stack.callback(slack.stop)
        opencost = stack.enter_context(OpenCostStandIn(responder=DemoCluster().respond))
        kube = KubeApiStandIn()
        kube.start()
        stack.callback(kube.stop)
        seed_slack_users(slack)
        settings = demo_world_env(slack, opencost, kube, redis.url, tmp)
        # Long TTLs: a run must stay warm for its whole length (the point is the warm path).
        settings.update(cache_ttl=3600, authz_cache_ttl=3600, revocation_bound=3700)
        settings.update(log_format="json", log_level="info")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp)}
        env.update({key.upper(): str(value) for key, value in settings.items()})
        yield Stack(slack, opencost, kube, env, tmp)


class BotProcess:
    """One bot in a subprocess (`python -m MODULE ARGS`), its logs in a file, RSS sampled."""

    def __init__(self, module: str, args: Sequence[str], env: dict[str, str], log: Path) -> None:
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[1],
        )
        self.log_path = log
        self._ps = psutil.Process(self.process.pid)
        self.peak_rss = 0
        self._sampling = threading.Event()
        self._sampler: threading.Thread | None = None

    def rss(self) -> int:
        value = int(self._ps.memory_info().rss)
        self.peak_rss = max(self.peak_rss, value)
        return value

    def cpu_seconds(self) -> float:
        times = self._ps.cpu_times()
        return float(times.user + times.system)

    def wait_healthy(self, port: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"bot did not become healthy; see {self.log_path}")

    def _check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"bot exited ({self.process.returncode}): {self.tail()}")

    def tail(self, chars: int = 2000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def log_size(self) -> int:
        self._log.flush()
        return self.log_path.stat().st_size

    def acks_logged_since(self, offset: int) -> list[float]:
        """Seconds from request to ack as the bot itself logged them (`request.acked`, from
        bot/server.py), for slash commands logged after `offset`: no driver time in them."""
        with self.log_path.open("rb") as log:
            log.seek(offset)
            lines = log.read().splitlines()
        found = []
        for line in lines:
            if b'"request.acked"' not in line:
                continue
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if event.get("kind") == "command" and "duration_ms" in event:
                found.append(float(event["duration_ms"]) / 1000)
        return found

    def start_sampling(self, every: float = 0.05) -> None:
        def sample() -> None:
            while not self._sampling.wait(every):
                self.rss()

        self._sampling.clear()
        self._sampler = threading.Thread(target=sample, daemon=True)
        self._sampler.start()

    def stop_sampling(self) -> None:
        self._sampling.set()
        if self._sampler is not None:
            self._sampler.join(5)

    def stop(self) -> None:
        self.stop_sampling()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


def costbot_serve(stack: Stack, name: str, extra: dict[str, str] | None = None) -> BotProcess:
    """The real entry point, `costbot serve`, configured only through its environment."""
    env = {**stack.env, **(extra or {})}
    return BotProcess("bot.cli", ["serve"], env, stack.tmp / f"{name}.log")


def trivial_bot(stack: Stack, name: str, extra: dict[str, str] | None = None) -> BotProcess:
    """The baseline: a Bolt app that answers every /cost with a fixed reply."""
    env = {**stack.env, **(extra or {})}
    return BotProcess("bench.trivial_bot", [], env, stack.tmp / f"{name}.log")
