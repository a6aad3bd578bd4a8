"""Services' Slack-side ports implemented over slack_sdk's AsyncWebClient.

The client carries slack_sdk's retry handlers (429 with Retry-After, connection errors), so a
rate limit is waited out, not lost; what still fails is translated into ChatUnavailable here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from services.errors import ChatUnavailable
from services.identity import SlackUser

USERGROUPS_TTL = 300.0


def slack_client(token: str, base_url: str) -> AsyncWebClient:
    """The one Web API client: retries 429 (honouring Retry-After), 5xx and connection errors."""
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        timeout=15,
        retry_handlers=[
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
            AsyncServerErrorRetryHandler(max_retry_count=2),
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
        ],
    )


class SlackWebDirectory:
    """`SlackDirectory` over users.info and usergroups.list (membership cached 5 minutes)."""

    def __init__(self, client: AsyncWebClient, ttl: float = USERGROUPS_TTL) -> None:
        self._client = client
        self._ttl = ttl
        self._groups: dict[str, set[str]] = {}
        self._groups_at = float("-inf")

    async def user(self, user_id: str) -> SlackUser | None:
        try:
            response = await self._client.users_info(user=user_id)
        except SlackApiError as error:
            code = _error_code(error)
            if code in ("user_not_found", "users_not_found"):
                return None
            raise ChatUnavailable("users.info failed", code) from error
        except SlackClientError as error:
            raise ChatUnavailable("users.info failed") from error
        user: dict[str, Any] = response.get("user") or {}
        profile = user.get("profile") or {}
        return SlackUser(
            id=str(user.get("id", user_id)),
            email=profile.get("email"),
            deleted=bool(user.get("deleted")),
            is_bot=bool(user.get("is_bot")) or user.get("id") == "USLACKBOT",
            tz=user.get("tz"),
            name=str(user.get("real_name") or user.get("name") or ""),
        )

    async def usergroups_of(self, user_id: str) -> list[str]:
        if time.monotonic() - self._groups_at > self._ttl:
            try:
                response = await self._client.usergroups_list(include_users=True)
            except SlackClientError:
                # Without usergroup data the user keeps only explicit groups: less access, not more.
                return []
            self._groups = {
                str(group["id"]): set(group.get("users") or [])
                for group in response.get("usergroups") or []
            }
            self._groups_at = time.monotonic()
        return sorted(gid for gid, members in self._groups.items() if user_id in members)


class SlackChatPoster:
    """`ChatPoster` for digests and alerts."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def post(
        self,
        channel: str,
        text: str,
        blocks: Sequence[dict[str, Any]],
        *,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        try:
            response = await self._client.chat_postMessage(
                channel=channel,
                text=text,
                blocks=list(blocks),
                thread_ts=thread_ts,
                metadata=metadata,
                unfurl_links=False,
            )
        except SlackApiError as error:
            code = _error_code(error)
            raise ChatUnavailable(f"chat.postMessage failed: {code}", code) from error
        except SlackClientError as error:
            raise ChatUnavailable("chat.postMessage failed") from error
        return str(response["ts"])

    async def find_by_metadata(
        self, channel: str, event_type: str, key: str, value: str
    ) -> str | None:
        try:
            response = await self._client.conversations_history(
                channel=channel, limit=100, include_all_metadata=True
            )
        except SlackClientError as error:
            raise ChatUnavailable("conversations.history failed") from error
        for message in response.get("messages") or []:
            meta = message.get("metadata") or {}
            payload = meta.get("event_payload") or {}
            if meta.get("event_type") == event_type and str(payload.get(key)) == value:
                return str(message.get("ts"))
        return None

    async def upload_png(
        self, channel: str | None, filename: str, content: bytes, title: str
    ) -> str:
        kwargs: dict[str, Any] = {"channel": channel} if channel else {}
        try:
            response = await self._client.files_upload_v2(
                content=content, filename=filename, title=title, **kwargs
            )
        except SlackClientError as error:
            raise ChatUnavailable("file upload failed") from error
        files = response.get("files") or [response.get("file") or {}]
        return str(files[0].get("id", ""))


def _error_code(error: SlackApiError) -> str:
    """Slack's `error` field; a non-JSON answer (a proxy's 405 page) has none."""
    data = getattr(error.response, "data", None)
    if isinstance(data, dict):
        return str(data.get("error", ""))
    return f"http_{getattr(error.response, 'status_code', 'error')}"
