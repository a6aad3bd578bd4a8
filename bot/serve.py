"""`costbot serve`: the long-running bot (HTTP or Socket Mode) with its scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import structlog

from bot.app import build_app
from bot.middleware import ReplayGuard
from bot.runtime import Runtime
from bot.server import build_http_app, run_http, run_socket_mode
from bot.settings import Settings

log = structlog.get_logger("costbot.serve")


async def serve(settings: Settings) -> int:
    runtime = await Runtime.start(settings)
    scheduler = None
    try:
        secret = settings.slack_signing_secret
        bolt = build_app(
            client=runtime.slack,
            signing_secret=secret.get_secret_value() if secret else None,
            deps=runtime.deps,
            metrics=runtime.metrics,
            resolve_identity=runtime.resolver.resolve,
            replay_guard=ReplayGuard(runtime.redis, prefix=settings.redis_prefix),
            verify_requests=not settings.socket_mode,
        )
        scheduler = await _start_scheduler(runtime)
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
        if settings.socket_mode and settings.slack_app_token is not None:
            ops = build_http_app(None, runtime.metrics, runtime.readiness)
            task = asyncio.create_task(
                run_socket_mode(
                    bolt,
                    settings.slack_app_token.get_secret_value(),
                    settings.slack_api_url,
                    ops,
                    settings.port,
                )
            )
        else:
            web = build_http_app(bolt, runtime.metrics, runtime.readiness)
            task = asyncio.create_task(run_http(web, settings.port))
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
        await runtime.aclose()


async def drain_tasks(grace: float = 10.0) -> None:
    """Let answers already being computed (Bolt runs listeners as tasks) reach Slack before
    the clients close; Kubernetes gives the pod terminationGracePeriodSeconds for this."""
    current = asyncio.current_task()
    pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    if pending:
        await asyncio.wait(pending, timeout=grace)


async def _start_scheduler(runtime: Runtime):  # type: ignore[no-untyped-def]  # filled by digests
    starter = runtime.deps.extras.get("start_scheduler")
    if starter is None:
        return None
    return await starter()


async def run_digest_now(settings: Settings, sub_id: str) -> int:
    runtime = await Runtime.start(settings)
    try:
        runner = runtime.deps.extras.get("run_digest_now")
        if runner is None:
            print("digests are not available in this build")
            return 1
        outcome = await runner(sub_id)
        print(outcome)
        return 0 if str(outcome).startswith(("sent", "delivered", "already")) else 1
    finally:
        await runtime.aclose()
