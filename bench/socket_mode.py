"""Benchmark 3: the Socket Mode ack path — envelope pushed by the Slack stand-in to ack received —
for `costbot serve` in Socket Mode vs the trivial Bolt app behind the same Socket Mode runner.

Each bot has its own Slack stand-in (a hub pushes to its newest socket), both in this process;
rounds alternate between the bots.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qsl

from bench.common import (
    banner,
    percentile,
    pick,
    print_check,
    print_percentile_ratio,
    print_table,
)
from bench.load import HEADER, Bot, Load, Phase, Samples, Send, measure
from bench.stack import Stack, TimedSlack, costbot_serve, running_stack, trivial_bot
from bench.trivial_bot import FIXED_REPLY
from tests.redis_server import free_port
from tests.standins.fixtures import SIGNING_SECRET
from tests.standins.signing import SlackRequestBuilder

COMMAND = "top 5 by controller"
USER = "U0DEMOADMIN"
TOP_TITLE = "Top 5 by controller"
SOCKET_ENV = {"SLACK_APP_TOKEN": "xapp-test"}  # the stand-in's app-level token


def socket_sender(slack: TimedSlack, command: str, user: str) -> Send:
    """A slash command as a Socket Mode envelope; acked when the client's ack arrives."""
    build = SlackRequestBuilder(SIGNING_SECRET)

    async def send(response_url: str) -> float | None:
        body = build.slash(command, user_id=user, response_url=response_url, channel_id="C0COST")
        payload = dict(parse_qsl(body.body.decode()))
        acked = await slack.timed_socket.push_async("slash_commands", payload)
        return await asyncio.wait_for(acked, 30)

    return send


def _connected(bot: Bot, slack: TimedSlack) -> None:
    deadline = time.monotonic() + 60
    while slack.socket.connected < 1:
        if time.monotonic() > deadline or bot.process.process.poll() is not None:
            raise RuntimeError(f"{bot.name} never connected: {bot.process.tail()}")
        time.sleep(0.05)


def run(phases: list[Phase], rounds: int) -> list[Samples]:
    with running_stack() as stack:
        # The baseline's own stand-in carries only its socket; replies go to response_urls on
        # the main stand-in, where the load generator waits for them.
        own = TimedSlack().start_timed()
        port = free_port()
        env = {**SOCKET_ENV, "PORT": str(port), "SLACK_API_URL": own.url}
        bots: list[tuple[Bot, TimedSlack]] = []
        try:
            process = trivial_bot(stack, "trivial-socket", env)
            bots.append((Bot("trivial Bolt app (baseline)", process, port, FIXED_REPLY), own))
            process = costbot_serve(stack, "costbot-socket", SOCKET_ENV)
            bots.append(
                (Bot(f"costbot /cost {COMMAND}", process, stack.port, TOP_TITLE), stack.slack)
            )
            for bot, slack in bots:
                _connected(bot, slack)
            return asyncio.run(_drive(stack, bots, phases, rounds))
        finally:
            for bot, _ in bots:
                bot.process.stop()
            own.stop()


async def _drive(
    stack: Stack, bots: list[tuple[Bot, TimedSlack]], phases: list[Phase], rounds: int
) -> list[Samples]:
    loads = [Load(stack, bot, socket_sender(slack, COMMAND, USER)) for bot, slack in bots]
    return await measure(loads, phases, rounds, max(p.width for p in phases))


def report(results: list[Samples]) -> None:
    title = "Socket Mode, latency in ms (ack: envelope pushed → ack received by the stand-in)"
    print_table(title, HEADER, [s.row() for s in results])
    for base, ours in zip(results[::2], results[1::2], strict=True):
        print_percentile_ratio(f"ack p50 ours/baseline at {ours.load}", ours.ack, base.ack, 50)
        print_percentile_ratio(f"ack p99 ours/baseline at {ours.load}", ours.ack, base.ack, 99)
        print_percentile_ratio(f"e2e p50 ours/baseline at {ours.load}", ours.e2e, base.e2e, 50)
    ours = results[-1]
    print_check(f"costbot ack p99 at {ours.load}", percentile(ours.ack, 99) * 1000, 50, "ms")
    for samples in results:
        if samples.errors:
            print(f"errors: {samples.name}, {samples.load}: {dict(samples.errors)}")


def main() -> None:
    phases = [Phase(1, pick(30, 4)), Phase(pick(20, 4), pick(200, 12))]
    rounds = pick(4, 1)
    banner(
        "socket_mode",
        f"/cost {COMMAND} as {USER} over Socket Mode, {rounds} rounds alternating bots",
    )
    report(run(phases, rounds))


if __name__ == "__main__":
    main()
