"""`costbot serve`: the long-running bot (HTTP or Socket Mode) with its scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import structlog

from bot.runtime import DemoParts, Runtime
from bot.scheduler import DigestScheduler
from bot.server import run_http, run_socket_mode
from bot.settings import Settings
from bot.wiring import build_bot

log = structlog.get_logger("costbot.serve")


async def serve(settings: Settings, *, demo: DemoParts | None = None) -> int:
    bot = await build_bot(settings, demo=demo)
    scheduler: DigestScheduler | None = None
    try:
        scheduler = await bot.runtime.digests.start_scheduler()
        log.info(
            "server.starting",
            mode="socket" if settings.socket_mode else "http",
            port=settings.port,
            demo_data=settings.demo_data,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        if settings.slack_app_token is not None:
            task = asyncio.create_task(
                run_socket_mode(
                    bot.bolt,
                    settings.slack_app_token.get_secret_value(),
                    settings.slack_api_url,
                    bot.web,
                    settings.port,
                )
            )
        else:
            task = asyncio.create_task(run_http(bot.web, settings.port))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        log.info("server.stopped")
        return 0
    finally:
        if scheduler is not None:
            await scheduler.stop()
        await drain_tasks()
        await bot.aclose()


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
