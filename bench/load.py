"""The load generator for the latency benchmarks: signed `/cost` commands, timed to the ack and
to the reply's arrival at the Slack stand-in, with the bot process's CPU and memory beside them.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import httpx

from bench.common import ms, percentile
from bench.stack import BotProcess, Stack
from tests.standins.fixtures import SIGNING_SECRET
from tests.standins.signing import SlackRequestBuilder

REPLY_TIMEOUT = 30.0
BURST_PAUSE = 0.05  # between bursts, so each burst meets an idle bot
# Latencies in ms; CPU in ms per command for the bot process and for this one (the driver).
HEADER: tuple[str, ...] = ("case", "load", "n", "err", "ack p50", "ack p99")
HEADER += ("srv ack p50", "srv ack p99", "e2e p50", "e2e p95", "e2e p99")
HEADER += ("cmd/s", "bot CPU", "driver CPU", "RSS MB", "peak MB")


class Phase(NamedTuple):
    """`width` commands in flight all the time (closed loop), or in bursts of `width` at once."""

    width: int
    commands: int
    bursts: bool = False

    @property
    def label(self) -> str:
        if self.bursts:
            return f"{self.width} at once"
        return "1 at a time" if self.width == 1 else f"{self.width} in flight"


@dataclass
class Samples:
    """What one bot did in one phase: latencies in seconds, failures, CPU and memory."""

    name: str
    load: str
    ack: list[float] = field(default_factory=list)
    server_ack: list[float] = field(default_factory=list)  # as the bot logged it (HTTP only)
    e2e: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    busy: float = 0.0  # seconds spent firing, for throughput
    cpu: float = 0.0  # the bot process's CPU seconds over the phase
    driver_cpu: float = 0.0  # this process's (load generator + stand-ins) CPU seconds
    rss: int = 0
    peak_rss: int = 0

    def cpu_per_command(self) -> float:
        return self.cpu / len(self.e2e) if self.e2e else math.nan

    def driver_cpu_per_command(self) -> float:
        return self.driver_cpu / len(self.e2e) if self.e2e else math.nan

    def row(self) -> list[object]:
        done = len(self.e2e)
        rate = done / self.busy if self.busy else math.nan
        return [
            self.name,
            self.load,
            done + self.errors.total(),
            self.errors.total(),
            *(ms(percentile(self.ack, p)) for p in (50, 99)),
            *(ms(percentile(self.server_ack, p)) for p in (50, 99)),
            *(ms(percentile(self.e2e, p)) for p in (50, 95, 99)),
            f"{rate:.0f}",
            ms(self.cpu_per_command()),
            ms(self.driver_cpu_per_command()),
            f"{self.rss / 2**20:.0f}",
            f"{self.peak_rss / 2**20:.0f}",
        ]


@dataclass
class Bot:
    name: str
    process: BotProcess
    port: int
    expect: str  # a phrase every correct reply contains
    weight: float = 1.0  # share of each phase's commands this bot gets (a slow one gets fewer)


# Sends one command that answers to the given response_url; returns the perf_counter() instant
# its ack arrived, or None when it was refused.
Send = Callable[[str], Awaitable[float | None]]


class Load:
    """Sends commands to one bot through `send` and times ack and reply."""

    def __init__(self, stack: Stack, bot: Bot, send: Send) -> None:
        self.stack = stack
        self.bot = bot
        self._send = send

    async def one(self, samples: Samples) -> str | None:
        """One command; its response_url, or None (and an error counted) when it failed."""
        url = self.stack.slack.new_response_url()
        reached = self.stack.slack.replies.expect(url.rsplit("/", 1)[-1])
        started = time.perf_counter()
        try:
            acked = await self._send(url)
            if acked is None:
                samples.errors["refused"] += 1
                return None
            arrived = await asyncio.wait_for(reached, REPLY_TIMEOUT)
        except (httpx.HTTPError, TimeoutError) as error:
            samples.errors[type(error).__name__] += 1
            return None
        samples.ack.append(acked - started)
        samples.e2e.append(arrived - started)
        return url

    async def run(self, samples: Samples, phase: Phase) -> None:
        count = round(phase.commands * self.bot.weight)
        cpu, driver = self.bot.process.cpu_seconds(), _own_cpu()
        logged = self.bot.process.log_size()
        if phase.bursts:
            for start in range(0, count, phase.width):
                began = time.perf_counter()
                await asyncio.gather(
                    *(self.one(samples) for _ in range(min(phase.width, count - start)))
                )
                samples.busy += time.perf_counter() - began
                await asyncio.sleep(BURST_PAUSE)
        else:
            began = time.perf_counter()
            await self._closed_loop(samples, count, phase.width)
            samples.busy += time.perf_counter() - began
        samples.cpu += self.bot.process.cpu_seconds() - cpu
        samples.driver_cpu += _own_cpu() - driver
        samples.server_ack += self.bot.process.acks_logged_since(logged)
        samples.rss = self.bot.process.rss()
        samples.peak_rss = self.bot.process.peak_rss

    async def _closed_loop(self, samples: Samples, count: int, width: int) -> None:
        shares = [count // width + (1 if i < count % width else 0) for i in range(width)]

        async def worker(share: int) -> None:
            for _ in range(share):
                await self.one(samples)

        await asyncio.gather(*(worker(share) for share in shares if share))

    async def warm(self, width: int) -> None:
        """Fill every cache (OpenCost answer, SARs, identity); check the answer is the real one."""
        scratch = Samples("warm-up", "")
        url = await self.one(scratch)
        if url is None or self.bot.expect not in str(self.stack.slack.responses(url)[-1]):
            raise RuntimeError(f"{self.bot.name}: warm-up failed ({dict(scratch.errors)})")
        for _ in range(5):
            await self.one(scratch)
        await self._closed_loop(scratch, width * 2, width)


async def measure(loads: list[Load], phases: list[Phase], rounds: int, width: int) -> list[Samples]:
    """Every phase for every bot, `rounds` times over, bots alternating within each round so a
    noisy neighbour slows them alike. Results: phase-major, bot order within a phase."""
    for load in loads:
        await load.warm(width)
    results = {
        (p, b): Samples(load.bot.name, phase.label)
        for p, phase in enumerate(phases)
        for b, load in enumerate(loads)
    }
    for load in loads:
        load.bot.process.start_sampling()
    for _ in range(rounds):
        for p, phase in enumerate(phases):
            part = phase._replace(commands=max(1, phase.commands // rounds))
            for b, load in enumerate(loads):
                await load.run(results[p, b], part)
    for load in loads:
        load.bot.process.stop_sampling()
    return list(results.values())


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def http_sender(http: httpx.AsyncClient, port: int, command: str, user: str) -> Send:
    """Signed slash commands over HTTP, as Slack sends them; acked means HTTP 200."""
    build = SlackRequestBuilder(SIGNING_SECRET)
    endpoint = f"http://127.0.0.1:{port}/slack/events"

    async def send(response_url: str) -> float | None:
        request = build.slash(command, user_id=user, response_url=response_url, channel_id="C0COST")
        response = await http.post(endpoint, content=request.body, headers=request.headers)
        return time.perf_counter() if response.status_code == 200 else None

    return send
