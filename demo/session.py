"""Drive the real app locally: signed requests in, rendered replies out (demo, console, ask).

A LocalSlack stands in for the Web API and response_urls; requests go through the same
Starlette app, signature check, middleware and listeners that serve production traffic.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from bot.app import build_app
from bot.runtime import Runtime
from bot.server import build_http_app
from bot.settings import Settings
from demo.slack import LocalSlack, Said
from services.access.identity import DEMO_SLACK_USERS, DEMO_USERGROUPS


def _slack_user(user: Any) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "real_name": user.name,
        "tz": user.tz,
        "deleted": user.deleted,
        "is_bot": user.is_bot,
        "profile": {"email": user.email, "real_name": user.name},
    }


class LocalSession:
    """One local workspace: `ask()` a command, `click()` a button, read what the bot said."""

    def __init__(self, settings: Settings, files_dir: Path | None = None) -> None:
        self.settings = settings
        self.secret = secrets.token_hex(16)
        self.slack = LocalSlack(
            users={u.id: _slack_user(u) for u in DEMO_SLACK_USERS},
            usergroups={k: list(v) for k, v in DEMO_USERGROUPS.items()},
            files_dir=files_dir,
        )
        self.runtime: Runtime | None = None
        self.http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> LocalSession:
        await self.slack.start()
        self.runtime = await Runtime.start(self.settings, slack_api_url=self.slack.api_url)
        bolt = build_app(
            client=self.runtime.slack,
            signing_secret=self.secret,
            deps=self.runtime.deps,
            metrics=self.runtime.metrics,
            resolve_identity=self.runtime.resolver.resolve,
            process_before_response=True,  # return only when the answer has been delivered
        )
        web = build_http_app(bolt, self.runtime.metrics, self.runtime.readiness)
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=web), base_url="http://costbot.local", timeout=60
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.http is not None:
            await self.http.aclose()
        if self.runtime is not None:
            await self.runtime.aclose()
        await self.slack.stop()

    async def _post(self, body: str, content_type: str) -> int:
        assert self.http is not None
        timestamp = str(int(time.time()))
        signature = SignatureVerifier(self.secret).generate_signature(
            timestamp=timestamp, body=body
        )
        response = await self.http.post(
            "/slack/events",
            content=body.encode(),
            headers={
                "Content-Type": content_type,
                "X-Slack-Request-Timestamp": timestamp,
                "X-Slack-Signature": signature or "",
            },
        )
        return response.status_code

    async def ask(self, text: str, user: str, channel: str = "CLOCAL") -> list[Said]:
        before = len(self.slack.said)
        form = {
            "command": "/cost",
            "text": text,
            "user_id": user,
            "user_name": user.lower(),
            "channel_id": channel,
            "channel_name": "local",
            "team_id": "TLOCAL",
            "team_domain": "local",
            "response_url": self.slack.response_url(secrets.token_hex(4)),
            "trigger_id": f"{int(time.time())}.local",
            "api_app_id": "ALOCAL",
        }
        await self._post(urlencode(form), "application/x-www-form-urlencoded")
        return self.slack.said[before:]

    async def click(
        self,
        *,
        action_id: str,
        value: str,
        user: str,
        block_id: str = "",
        channel: str = "CLOCAL",
        message_ts: str = "1700000000.000001",
    ) -> list[Said]:
        before = len(self.slack.said)
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower()},
            "team": {"id": "TLOCAL"},
            "api_app_id": "ALOCAL",
            "channel": {"id": channel},
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
            "message": {"ts": message_ts, "blocks": []},
            "trigger_id": f"{int(time.time())}.local",
            "response_url": self.slack.response_url(secrets.token_hex(4)),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": block_id,
                    "value": value,
                    "type": "button",
                    "action_ts": str(time.time()),
                }
            ],
        }
        await self._post(
            urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
        )
        return self.slack.said[before:]
