"""`costbot serve`: the long-running bot (HTTP or Socket Mode) with its scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import structlog
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_sdk.web.async_client import AsyncWebClient

from api.app import build_api
from bot.runtime import DemoParts, Runtime
from bot.scheduler import DigestScheduler
from bot.server import build_http_app, close_socket_mode, connect_socket_mode, run_http
from bot.settings import Settings
from bot.startup import SlackGate, StartupRefused, verify_slack
from bot.wiring import Bot, api_parts, build_bot, web_app

T = TypeVar("T")

log = structlog.get_logger("costbot.serve")


async def serve(settings: Settings, *, demo: DemoParts | None = None) -> int:
    """Start the operator endpoints at once, verify Slack's tokens (retrying what may pass),
    then take Slack traffic and run the scheduler until SIGTERM/SIGINT. Returns the exit code
    (bot/startup.py lists them); a refusal is printed as one line on stderr."""
    bot = await build_bot(settings, demo=demo)
    gate = SlackGate()
    tasks: list[asyncio.Task[Any]] = []
    handler: AsyncSocketModeHandler | None = None
    scheduler: DigestScheduler | None = None
    try:
        _announce(settings, demo)
        web = build_http_app(
            None if settings.socket_mode else bot.bolt,
            bot.runtime.metrics,
            _readiness(bot, gate),
            api=build_api(*api_parts(bot.runtime)),
            web=web_app(bot.runtime, demo=demo is not None),
            data="demo" if demo is not None else "opencost",
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        http = asyncio.create_task(run_http(web, settings.port))
        stopper = asyncio.create_task(stop.wait())
        tasks += [http, stopper]
        try:
            wss_url = await _until(_verify(settings, gate), http, stopper, tasks)
            if settings.slack_app_token is not None:
                handler = await _until(
                    connect_socket_mode(
                        bot.bolt,
                        settings.slack_app_token.get_secret_value(),
                        settings.slack_api_url,
                        wss_url,
                    ),
                    http,
                    stopper,
                    tasks,
                )
        except _Stopped:
            pass
        except StartupRefused as refused:
            print(refused.line, file=sys.stderr, flush=True)
            return refused.code
        if not stop.is_set() and not http.done():
            gate.state = "ok"
            scheduler = await bot.runtime.digests.start_scheduler()
            log.info("server.ready", mode="socket" if settings.socket_mode else "http")
            await asyncio.wait({http, stopper}, return_when=asyncio.FIRST_COMPLETED)
        log.info("server.stopped")
        return 0
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if isinstance(handler, AsyncSocketModeHandler):
            await close_socket_mode(handler)
        if scheduler is not None:
            await scheduler.stop()
        await bot.runtime.stop_background()
        await drain_tasks()
        await bot.aclose()


class _Stopped(Exception):
    """A signal (or the HTTP listener ending) came before the start-up step finished."""


async def _until(
    work: Coroutine[Any, Any, T],
    http: asyncio.Task[Any],
    stopper: asyncio.Task[Any],
    tasks: list[asyncio.Task[Any]],
) -> T:
    """`work`'s result; _Stopped when a signal (or the listener ending) comes first."""
    task: asyncio.Task[T] = asyncio.create_task(work)
    tasks.append(task)  # cancelled with the others on the way out
    await asyncio.wait({task, http, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        return task.result()
    raise _Stopped


def _announce(settings: Settings, demo: DemoParts | None) -> None:
    log.info(
        "server.starting",
        mode="socket" if settings.socket_mode else "http",
        port=settings.port,
        data="demo" if demo is not None else "opencost",
    )
    if demo is not None:
        log.warning(
            "server.demo_data",
            detail="COSTBOT_DEMO=true: serving the built-in demo cluster, not your costs; "
            "every reply, App Home, digest and chart says so",
        )


async def _verify(settings: Settings, gate: SlackGate) -> str | None:
    """The start-up token check over clients of its own (no retry handlers of the app's)."""
    api = settings.slack_api_url
    assert settings.slack_bot_token is not None  # require_serve() checked it
    bot_client = AsyncWebClient(token=settings.slack_bot_token.get_secret_value(), base_url=api)
    app_client = (
        AsyncWebClient(token=settings.slack_app_token.get_secret_value(), base_url=api)
        if settings.slack_app_token is not None
        else None
    )
    return await verify_slack(bot_client, app_client, gate)


def _readiness(bot: Bot, gate: SlackGate) -> Callable[[], Awaitable[dict[str, str]]]:
    async def readiness() -> dict[str, str]:
        checks = await bot.runtime.readiness()
        checks["slack"] = gate.state
        return checks

    return readiness


async def drain_tasks(grace: float = 10.0) -> None:
    """Let answers already being computed (Bolt runs listeners as tasks) reach Slack before
    the clients close; Kubernetes gives the pod terminationGracePeriodSeconds for this."""
    current = asyncio.current_task()
    pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    if pending:
        await asyncio.wait(pending, timeout=grace)


async def run_digest_now(settings: Settings, sub_id: str, *, demo: DemoParts | None = None) -> int:
    runtime = await Runtime.start(settings, demo=demo)
    try:
        outcome = await runtime.digests.run_digest_now(sub_id)
        print(outcome)
        return 0 if outcome.startswith(("sent", "delivered", "already")) else 1
    finally:
        await runtime.aclose()
