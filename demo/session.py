"""Drive the real app locally: signed requests in, rendered replies out (demo, console, ask).

A LocalSlack stands in for the Web API and response_urls; requests go through the same
Starlette app, signature check, middleware and listeners that serve production traffic.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from pydantic import SecretStr
from slack_sdk.signature import SignatureVerifier

from bot.settings import Settings
from bot.wiring import Bot, build_bot
from demo.identity import DEMO_SLACK_USERS, DEMO_USERGROUPS
from demo.parts import demo_parts
from demo.slack import LocalSlack, Said
from services.ports import Clock


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


class StartOfToday:
    """A clock stopped at 00:00 UTC today: the scripted tour shows the same figures on every
    run of the same day (the demo cluster is generated up to "now", which moves every hour)."""

    def __init__(self) -> None:
        self._now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    def now(self) -> datetime:
        return self._now


class LocalSession:
    """One local workspace: `ask()` a command, `click()` a button, read what the bot said."""

    def __init__(
        self, settings: Settings, files_dir: Path | None = None, clock: Clock | None = None
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.secret = secrets.token_hex(16)
        self.slack = LocalSlack(
            users={u.id: _slack_user(u) for u in DEMO_SLACK_USERS},
            usergroups={k: list(v) for k, v in DEMO_USERGROUPS.items()},
            files_dir=files_dir,
        )
        self.bot: Bot | None = None
        self.http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> LocalSession:
        await self.slack.start()
        # Always HTTP, signed with this session's own secret, whatever the environment says.
        local = self.settings.model_copy(
            update={"slack_signing_secret": SecretStr(self.secret), "slack_app_token": None}
        )
        self.bot = await build_bot(
            local,
            slack_api_url=self.slack.api_url,
            clock=self.clock,
            demo=demo_parts(self.clock) if self.settings.demo_data else None,
            process_before_response=True,  # return only when the answer has been delivered
        )
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.bot.web),
            base_url="http://costbot.local",
            timeout=60,
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.http is not None:
            await self.http.aclose()
        if self.bot is not None:
            await self.bot.aclose()
        await self.slack.stop()

    async def _post(self, body: str, content_type: str) -> int:
        return (await self._send(body, content_type)).status_code

    async def _send(self, body: str, content_type: str) -> httpx.Response:
        assert self.http is not None
        timestamp = str(int(time.time()))
        signature = SignatureVerifier(self.secret).generate_signature(
            timestamp=timestamp, body=body
        )
        return await self.http.post(
            "/slack/events",
            content=body.encode(),
            headers={
                "Content-Type": content_type,
                "X-Slack-Request-Timestamp": timestamp,
                "X-Slack-Signature": signature or "",
            },
        )

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

    async def open_home(self, user: str) -> list[Said]:
        """Open the App Home tab, as Slack reports it: a signed `app_home_opened` event."""
        before = len(self.slack.said)
        event = {
            "type": "event_callback",
            "team_id": "TLOCAL",
            "api_app_id": "ALOCAL",
            "event_id": f"Ev{secrets.token_hex(6).upper()}",
            "event_time": int(time.time()),
            "event": {
                "type": "app_home_opened",
                "user": user,
                "channel": "DLOCAL",
                "tab": "home",
                "event_ts": str(time.time()),
            },
        }
        await self._post(json.dumps(event), "application/json")
        return self.slack.said[before:]

    async def submit(
        self, view: dict[str, Any], values: dict[tuple[str, str], str], user: str
    ) -> Submitted:
        """Press a modal's submit button with these field values ((block_id, action_id) →
        text): a signed `view_submission`, as Slack sends it. Returns what the bot said and the
        field errors it acked with (the modal stays open when there are any)."""
        before = len(self.slack.said)
        state: dict[str, dict[str, Any]] = {}
        for (block_id, action_id), text in values.items():
            state.setdefault(block_id, {})[action_id] = {"type": "plain_text_input", "value": text}
        payload = {
            "type": "view_submission",
            "user": {"id": user, "username": user.lower()},
            "team": {"id": "TLOCAL"},
            "api_app_id": "ALOCAL",
            "trigger_id": f"{int(time.time())}.local",
            "view": {**view, "state": {"values": state}},
        }
        response = await self._send(
            urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
        )
        errors: dict[str, str] = {}
        if response.content:
            with contextlib.suppress(ValueError):
                answer = response.json()
                if isinstance(answer, dict) and answer.get("response_action") == "errors":
                    errors = {str(k): str(v) for k, v in (answer.get("errors") or {}).items()}
        return Submitted(self.slack.said[before:], errors)


@dataclass(frozen=True)
class Submitted:
    """What a modal submission led to: the bot's replies, and field errors (block_id → why)."""

    said: list[Said]
    errors: dict[str, str]
