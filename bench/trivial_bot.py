"""The latency baseline: a Bolt AsyncApp whose /cost acks and posts one fixed reply at once.

Served exactly as costbot is (bot/server.py's Starlette app and AsyncSlackRequestHandler, or its
Socket Mode runner, and the same JSON logging), so the difference measured is our work alone.
Run by the benchmarks as `python -m bench.trivial_bot`, configured by costbot's variables.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.logging import configure_logging
from bot.metrics import Metrics
from bot.server import build_http_app, run_http, run_socket_mode

FIXED_REPLY = "Top 5 controllers by cost, last 7 days: (a fixed reply)"


def build_trivial_app(api_url: str, token: str, signing_secret: str, verify: bool) -> AsyncApp:
    async def authorize(**_: Any) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=None, team_id=None, bot_token=token)

    app = AsyncApp(
        client=AsyncWebClient(base_url=api_url),
        signing_secret=signing_secret,
        authorize=authorize,
        request_verification_enabled=verify,
        logger=logging.getLogger("slack_bolt"),
    )

    @app.command("/cost")
    async def cost(ack: AsyncAck, respond: AsyncRespond) -> None:
        await ack()
        await respond(text=FIXED_REPLY, response_type="ephemeral")

    return app


async def _ready() -> dict[str, str]:
    return {"app": "ok"}


async def main() -> None:
    env = os.environ
    app_token = env.get("SLACK_APP_TOKEN", "")
    api_url, port = env["SLACK_API_URL"], int(env["PORT"])
    bolt = build_trivial_app(
        api_url, env["SLACK_BOT_TOKEN"], env["SLACK_SIGNING_SECRET"], verify=not app_token
    )
    if app_token:
        await run_socket_mode(
            bolt, app_token, api_url, build_http_app(None, Metrics(), _ready), port
        )
    else:
        await run_http(build_http_app(bolt, Metrics(), _ready), port)


if __name__ == "__main__":
    configure_logging(os.environ.get("LOG_LEVEL", "info"), os.environ.get("LOG_FORMAT", "json"))
    asyncio.run(main())
