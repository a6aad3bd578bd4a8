"""Benchmark 2: `/cost top 5 by controller` over signed HTTP with a warm cache, vs a trivial app.

The real `costbot serve` and a trivial Bolt app (bench/trivial_bot.py) run side by side in their
own processes; rounds alternate between them so a noisy neighbour hurts both alike. Ack latency
is the HTTP response time; end to end lasts until the reply reaches the Slack stand-in. A third
bot answers from a 2 000-row cluster, to show how the warm path grows with the data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx

from bench.common import (
    banner,
    percentile,
    pick,
    print_check,
    print_percentile_ratio,
    print_ratio,
    print_table,
    ratio,
)
from bench.load import HEADER, Bot, Load, Phase, Samples, http_sender, measure
from bench.parse_aggregate import make_payload
from bench.stack import Stack, costbot_serve, running_stack, trivial_bot
from bench.trivial_bot import FIXED_REPLY
from tests.redis_server import free_port
from tests.standins.opencost import OpenCostStandIn, Responder

COMMAND = "top 5 by controller"
USER = "U0DEMOADMIN"
TOP_TITLE = "Top 5 by controller"
DEMO_ROWS = "~100"  # the demo cluster's container rows over 7 days, idle included
E2E_TARGET = 2.0  # warm-cache end to end at most twice the trivial handler's
ACK_P99_MS = 50.0  # ack p99 at 20 concurrent
BIG_WEIGHT = 0.2  # the big-cluster bot is slow: it gets a fifth of the commands


def _fixed_allocations(payload: bytes) -> Responder:
    """An OpenCost that answers every /allocation with the same payload."""

    def respond(path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        if path.endswith(("/allocation", "/allocation/compute")):
            return 200, "application/json", payload
        if path.endswith("/assets"):
            return 200, "application/json", b'{"code":200,"data":{}}'
        return (200, "text/plain", b"") if path.endswith("/healthz") else (404, "text/plain", b"")

    return respond


def _bots(stack: Stack, big: OpenCostStandIn, big_rows: int) -> Iterator[Bot]:
    """The baseline, costbot on the demo cluster, costbot on a bigger one; each in a process."""
    port = free_port()
    process = trivial_bot(stack, "trivial-http", {"PORT": str(port)})
    yield Bot("trivial Bolt app (baseline)", process, port, FIXED_REPLY)
    process = costbot_serve(stack, "costbot-http")
    yield Bot(f"costbot, demo cluster ({DEMO_ROWS} rows)", process, stack.port, TOP_TITLE)
    port = free_port()
    env = {"PORT": str(port), "OPENCOST_URL": big.base_url, "REDIS_PREFIX": "big:"}
    process = costbot_serve(stack, "costbot-big", env)
    yield Bot(f"costbot, {big_rows} rows", process, port, TOP_TITLE, weight=BIG_WEIGHT)


async def _drive(stack: Stack, bots: list[Bot], phases: list[Phase], rounds: int) -> list[Samples]:
    width = max(phase.width for phase in phases)
    limits = httpx.Limits(max_connections=width * 2, max_keepalive_connections=width)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        loads = [Load(stack, bot, http_sender(http, bot.port, COMMAND, USER)) for bot in bots]
        return await measure(loads, phases, rounds, width)


def run(phases: list[Phase], rounds: int, big_rows: int) -> list[Samples]:
    responder = _fixed_allocations(make_payload(big_rows))
    with running_stack() as stack, OpenCostStandIn(responder=responder) as big:
        bots: list[Bot] = []
        try:
            for bot in _bots(stack, big, big_rows):
                bots.append(bot)
            for bot in bots:
                bot.process.wait_healthy(bot.port)
            return asyncio.run(_drive(stack, bots, phases, rounds))
        finally:
            for bot in bots:
                bot.process.stop()


def report(results: list[Samples], bots: int = 3) -> None:
    print_table("latency in ms, warm cache", HEADER, [s.row() for s in results])
    alone, loaded, burst = (results[i : i + bots] for i in range(0, len(results), bots))
    base, ours, big = loaded
    at = f"at {ours.load}"
    print_percentile_ratio(f"ack p50 ours/baseline {at}", ours.ack, base.ack, 50)
    print_percentile_ratio(f"ack p99 ours/baseline {at}", ours.ack, base.ack, 99)
    print_percentile_ratio(f"e2e p50 ours/baseline {at}", ours.e2e, base.e2e, 50, E2E_TARGET)
    print_percentile_ratio(f"e2e p99 ours/baseline {at}", ours.e2e, base.e2e, 99, E2E_TARGET)
    print_percentile_ratio(
        "e2e p50 ours/baseline, 1 at a time", alone[1].e2e, alone[0].e2e, 50, E2E_TARGET
    )
    cpu = ratio(ours.cpu_per_command(), base.cpu_per_command())
    print_ratio("bot CPU per command ours/baseline", cpu)
    print_ratio(
        f"bot CPU per command {big.name}/demo", ratio(big.cpu_per_command(), ours.cpu_per_command())
    )
    for samples in (ours, burst[1], base):
        name = f"{samples.name} at {samples.load}"
        print_check(f"ack p99, {name}", percentile(samples.ack, 99) * 1000, ACK_P99_MS, "ms")
        server = percentile(samples.server_ack, 99) * 1000
        print_check(f"ack p99 as the bot logged it, {name}", server, ACK_P99_MS, "ms")
    for samples in results:
        if samples.errors:
            print(f"errors: {samples.name}, {samples.load}: {dict(samples.errors)}")


def main() -> None:
    width = pick(20, 4)
    phases = [
        Phase(1, pick(30, 4)),
        Phase(width, pick(240, 12)),
        Phase(width, pick(100, 8), bursts=True),
    ]
    rounds, big_rows = pick(4, 1), pick(2000, 200)
    banner("http_latency", f"/cost {COMMAND} as {USER}, {rounds} rounds alternating bots")
    report(run(phases, rounds, big_rows))


if __name__ == "__main__":
    main()
