"""Requests exactly as Slack sends them to `POST /slack/events`, signed with the v0 scheme.

For driving the bot's HTTP endpoint in tests: slash commands, interactivity, view submissions,
Events API callbacks, and raw (forged or stale) bodies. Talks only to the URL it is given.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypedDict, Unpack
from urllib.parse import urlencode

import httpx

from demo.slack import APP_ID, TEAM_ID

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
# A loopback port nothing listens on: a bot that answers an unset response_url fails fast, locally.
UNSET_RESPONSE_URL = "http://127.0.0.1:9/response/unset"

_counter = itertools.count(1)


class SlashFields(TypedDict, total=False):
    """Optional slash-command fields; unset ones get realistic defaults."""

    user_id: str
    channel_id: str
    command: str
    response_url: str
    trigger_id: str


class EventOptions(TypedDict, total=False):
    """Events API delivery details: a fixed `event_id`, or a redelivery's retry headers."""

    event_id: str | None
    retry_num: int | None
    retry_reason: str


@dataclass(frozen=True)
class SignedRequest:
    body: bytes
    headers: dict[str, str]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 signature: HMAC-SHA256 over `v0:{timestamp}:{raw body}`."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def new_trigger_id() -> str:
    return f"{next(_counter)}.{int(time.time())}.{secrets.token_hex(16)}"


class SlackRequestBuilder:
    """Builds signed bodies and headers; the clients below only send them."""

    def __init__(
        self,
        signing_secret: str,
        *,
        team_id: str = TEAM_ID,
        api_app_id: str = APP_ID,
        response_urls: Callable[[], str] | None = None,
    ) -> None:
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.api_app_id = api_app_id
        self.response_urls = response_urls or (lambda: UNSET_RESPONSE_URL)

    def signed(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: int | str | None = None,
        signature: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> SignedRequest:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        all_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature or sign(self.signing_secret, ts, body),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }
        all_headers.update(headers or {})
        return SignedRequest(body=body, headers=all_headers)

    def slash(
        self,
        text: str,
        *,
        user_id: str = "U0ALICE",
        channel_id: str = "C0GENERAL",
        command: str = "/cost",
        response_url: str | None = None,
        trigger_id: str | None = None,
    ) -> SignedRequest:
        fields = {
            "token": "deprecated-verification-token",
            "team_id": self.team_id,
            "team_domain": "costbot-test",
            "channel_id": channel_id,
            "channel_name": "general",
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url or self.response_urls(),
            "trigger_id": trigger_id or new_trigger_id(),
        }
        return self.signed(urlencode(fields).encode(), FORM)

    def interactive(self, payload: Mapping[str, Any]) -> SignedRequest:
        """block_actions, view_submission, shortcuts: one form field `payload=<json>`."""
        return self.signed(urlencode({"payload": json.dumps(payload)}).encode(), FORM)

    def event(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> SignedRequest:
        """An Events API body; `url_verification` and `event_callback` bodies go as they are."""
        if event.get("type") in ("url_verification", "event_callback"):
            body: Mapping[str, Any] = event
        else:
            body = self.event_callback(event, event_id=event_id)
        retry = {}
        if retry_num is not None:
            retry = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        return self.signed(json.dumps(body).encode(), JSON, headers=retry)

    def event_callback(
        self, event: Mapping[str, Any], *, event_id: str | None = None
    ) -> dict[str, Any]:
        return {
            "token": "deprecated-verification-token",
            "team_id": self.team_id,
            "api_app_id": self.api_app_id,
            "event": dict(event),
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(_counter):08d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": self.team_id, "user_id": "U0COSTBOT", "is_bot": True}],
            "is_ext_shared_channel": False,
        }


def events_endpoint(base_url: str, path: str = "/slack/events") -> str:
    """The bot's events URL, whether given its base URL or the full endpoint already."""
    base = base_url.rstrip("/")
    return base if base.endswith(path) else base + path


class SignedSlackClient:
    """Sends Slack-signed requests to a bot's events endpoint with httpx (sync)."""

    def __init__(
        self,
        base_url: str,
        signing_secret: str,
        *,
        path: str = "/slack/events",
        response_urls: Callable[[], str] | None = None,
        timeout: float = 10,
    ) -> None:
        self.build = SlackRequestBuilder(signing_secret, response_urls=response_urls)
        self.endpoint = events_endpoint(base_url, path)
        self._http = httpx.Client(timeout=timeout)

    def send(self, request: SignedRequest) -> httpx.Response:
        return self._http.post(self.endpoint, content=request.body, headers=request.headers)

    def slash(self, text: str, **fields: Unpack[SlashFields]) -> httpx.Response:
        return self.send(self.build.slash(text, **fields))

    def action(self, payload: Mapping[str, Any]) -> httpx.Response:
        return self.send(self.build.interactive(payload))

    def view_submission(self, payload: Mapping[str, Any]) -> httpx.Response:
        return self.send(self.build.interactive(payload))

    def event(self, event: Mapping[str, Any], **options: Unpack[EventOptions]) -> httpx.Response:
        return self.send(self.build.event(event, **options))

    def url_verification(self, challenge: str) -> httpx.Response:
        body = {"token": "x", "challenge": challenge, "type": "url_verification"}
        return self.send(self.build.event(body))

    def raw(
        self,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        timestamp: int | str | None = None,
        signature: str | None = None,
    ) -> httpx.Response:
        """Any body, correctly signed unless given a forged `signature` or stale `timestamp`."""
        content_type = (headers or {}).get("Content-Type", FORM)
        return self.send(
            self.build.signed(
                body, content_type, timestamp=timestamp, signature=signature, headers=headers
            )
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SignedSlackClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncSignedSlackClient:
    """The same requests as `SignedSlackClient`, sent with httpx.AsyncClient."""

    def __init__(
        self,
        base_url: str,
        signing_secret: str,
        *,
        path: str = "/slack/events",
        response_urls: Callable[[], str] | None = None,
        timeout: float = 10,
    ) -> None:
        self.build = SlackRequestBuilder(signing_secret, response_urls=response_urls)
        self.endpoint = events_endpoint(base_url, path)
        self._http = httpx.AsyncClient(timeout=timeout)

    async def send(self, request: SignedRequest) -> httpx.Response:
        return await self._http.post(self.endpoint, content=request.body, headers=request.headers)

    async def slash(self, text: str, **fields: Unpack[SlashFields]) -> httpx.Response:
        return await self.send(self.build.slash(text, **fields))

    async def action(self, payload: Mapping[str, Any]) -> httpx.Response:
        return await self.send(self.build.interactive(payload))

    async def view_submission(self, payload: Mapping[str, Any]) -> httpx.Response:
        return await self.send(self.build.interactive(payload))

    async def event(
        self, event: Mapping[str, Any], **options: Unpack[EventOptions]
    ) -> httpx.Response:
        return await self.send(self.build.event(event, **options))

    async def url_verification(self, challenge: str) -> httpx.Response:
        body = {"token": "x", "challenge": challenge, "type": "url_verification"}
        return await self.send(self.build.event(body))

    async def raw(
        self,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        timestamp: int | str | None = None,
        signature: str | None = None,
    ) -> httpx.Response:
        content_type = (headers or {}).get("Content-Type", FORM)
        return await self.send(
            self.build.signed(
                body, content_type, timestamp=timestamp, signature=signature, headers=headers
            )
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncSignedSlackClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def block_actions_payload(
    user_id: str,
    action_id: str,
    value: str,
    *,
    response_url: str = UNSET_RESPONSE_URL,
    channel_id: str = "C0GENERAL",
    message_ts: str = "1700000000.000100",
    trigger_id: str | None = None,
    block_id: str = "actions",
    message: Mapping[str, Any] | None = None,
    team_id: str = TEAM_ID,
) -> dict[str, Any]:
    """A `block_actions` payload for a button clicked on a channel message."""
    now = f"{time.time():.6f}"
    return {
        "type": "block_actions",
        "user": {
            "id": user_id,
            "username": user_id.lower(),
            "name": user_id.lower(),
            "team_id": team_id,
        },
        "api_app_id": APP_ID,
        "token": "deprecated-verification-token",
        "trigger_id": trigger_id or new_trigger_id(),
        "team": {"id": team_id, "domain": "costbot-test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "channel": {"id": channel_id, "name": "general"},
        "message": dict(message or {"type": "message", "ts": message_ts, "text": "", "blocks": []}),
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": block_id,
                "value": value,
                "text": {"type": "plain_text", "text": action_id, "emoji": True},
                "action_ts": now,
            }
        ],
    }


def view_submission_payload(
    callback_id: str,
    values: Mapping[str, Mapping[str, Mapping[str, Any]]],
    *,
    user_id: str = "U0ALICE",
    private_metadata: str = "",
    view_id: str = "V0MODAL",
    trigger_id: str | None = None,
    team_id: str = TEAM_ID,
) -> dict[str, Any]:
    """A `view_submission`; `values` is `state.values`: block_id → action_id → element state."""
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": "costbot-test"},
        "user": {
            "id": user_id,
            "username": user_id.lower(),
            "name": user_id.lower(),
            "team_id": team_id,
        },
        "api_app_id": APP_ID,
        "token": "deprecated-verification-token",
        "trigger_id": trigger_id or new_trigger_id(),
        "view": {
            "id": view_id,
            "team_id": team_id,
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "state": {"values": {block: dict(actions) for block, actions in values.items()}},
            "hash": f"{int(time.time())}.abc",
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": APP_ID,
            "bot_id": "B0COSTBOT",
            "blocks": [],
            "title": {"type": "plain_text", "text": "costbot"},
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
