"""`costbot check`: a ✓/✗ line per dependency, non-zero exit when anything is wrong."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from slack_sdk.errors import SlackApiError, SlackClientError

from bot.runtime import DemoParts, Runtime
from bot.settings import Settings

Check = tuple[str, Callable[[], Awaitable[str]]]


async def check(settings: Settings, *, demo: DemoParts | None = None) -> int:
    problems = settings.require_serve()
    print(
        ("✗" if problems else "✓")
        + " config"
        + (
            ": " + "; ".join(problems)
            if problems
            else f": {'Socket Mode' if settings.socket_mode else 'HTTP'} mode"
        )
    )
    try:
        runtime = await asyncio.wait_for(Runtime.start(settings, demo=demo), timeout=30)
    except Exception as error:
        print(f"✗ start-up: {type(error).__name__}: {error}")
        return 1
    failed = bool(problems)
    try:
        for name, probe in _checks(runtime):
            try:
                detail = await asyncio.wait_for(probe(), timeout=15)
                print(f"✓ {name}: {detail}")
            except Exception as error:
                failed = True
                print(f"✗ {name}: {_reason(error)}")
    finally:
        await runtime.aclose()
    return 1 if failed else 0


def _reason(error: BaseException) -> str:
    if isinstance(error, SlackApiError):
        return f"Slack said {error.response.get('error')}"
    if isinstance(error, TimeoutError):
        return "no answer in time"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _checks(runtime: Runtime) -> list[Check]:
    async def slack() -> str:
        if runtime.settings.slack_bot_token is None:
            raise SlackClientError("SLACK_BOT_TOKEN is not set")
        response = await runtime.slack.auth_test()
        return f"auth.test ok as {response.get('user_id')} in team {response.get('team_id')}"

    async def redis() -> str:
        await runtime.redis.ping()
        return "embedded redis-server" if runtime.embedded else "PING ok"

    async def opencost() -> str:
        for client in runtime.raw_sources.values():
            await client.ping()
        names = ", ".join(n or "default" for n in runtime.raw_sources)
        return "built-in demo data" if runtime.settings.demo_data else f"answering ({names})"

    async def kubernetes() -> str:
        if runtime.kube is None:
            if runtime.settings.demo_data:
                return "not configured: demo RBAC in use"
            raise RuntimeError("no KUBECONFIG and not in a pod: every access check will deny")
        if not await runtime.kube.can_create_sar():
            raise RuntimeError("the bot may not create subjectaccessreviews")
        return "may create subjectaccessreviews"

    return [("slack", slack), ("redis", redis), ("opencost", opencost), ("kubernetes", kubernetes)]
