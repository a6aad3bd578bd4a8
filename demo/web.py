"""`costbot web`: the web view on demo data, signed in through the local Slack.

The local Slack serves Sign in with Slack (authorize page with the demo users to pick from,
token, JWKS), so opening the printed URL runs the real OpenID Connect flow with no Slack
workspace. Runs until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import secrets

from pydantic import SecretStr

from bot.server import run_http
from bot.settings import Settings
from bot.wiring import build_bot
from demo.identity import DEMO_SLACK_USERS, DEMO_USERGROUPS
from demo.parts import demo_parts
from demo.session import _slack_user
from demo.slack import LocalSlack


async def serve_web(settings: Settings) -> int:
    slack = LocalSlack(
        users={u.id: _slack_user(u) for u in DEMO_SLACK_USERS},
        usergroups={k: list(v) for k, v in DEMO_USERGROUPS.items()},
    )
    await slack.start()
    url = f"http://127.0.0.1:{settings.port}"
    local = settings.model_copy(
        update={
            "web_enabled": True,
            "web_base_url": url,
            "slack_client_id": slack.oidc.client_id,
            "slack_client_secret": SecretStr(slack.oidc.client_secret),
            "slack_signing_secret": SecretStr(secrets.token_hex(16)),
            "slack_app_token": None,
        }
    )
    bot = await build_bot(
        local, slack_api_url=slack.api_url, demo=demo_parts() if settings.demo_data else None
    )
    print(f"costbot web: open {url}/ and Sign in with Slack as a demo user (Ctrl-C stops)")
    try:
        with contextlib.suppress(KeyboardInterrupt):
            await run_http(bot.web, settings.port, host="127.0.0.1")
    finally:
        await bot.aclose()
        await slack.stop()
    return 0
