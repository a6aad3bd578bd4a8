"""Services' Slack-side ports implemented over slack_sdk's AsyncWebClient, and Bolt's
`respond()` made as patient as the Web API client.

Both carry retry handlers (429 with Retry-After, any 5xx, connection errors), so a rate limit is
waited out, not lost; what still fails is translated into ChatUnavailable here (Web API) or
logged as `slack.response_failed` (response_url, where nobody is left to tell).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
import structlog
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient
from slack_sdk.webhook.webhook_response import WebhookResponse

from handlers.slack_files import FileNotReady, upload_ready
from services.access.identity import SlackUser
from services.errors import ChatUnavailable
from services.ports import Clock
from services.storage.ttl import TtlCache

USERGROUPS_TTL = 300.0
log = structlog.get_logger("costbot.slack")
# What slack_sdk lets through once its retries are spent: its own errors, and aiohttp's (refused,
# reset, DNS) and asyncio's timeout, which it does not wrap.
UNREACHABLE = (SlackClientError, aiohttp.ClientError, TimeoutError)


class AnyServerErrorRetryHandler(AsyncRetryHandler):
    """Retries every 5xx: Slack's edge also answers 502 and 504, which slack_sdk's built-in
    server-error handler (500 and 503 only) gives up on."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code >= 500


def retry_handlers() -> list[AsyncRetryHandler]:
    return [
        AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        AnyServerErrorRetryHandler(max_retry_count=2),
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
    ]


def slack_client(token: str, base_url: str) -> AsyncWebClient:
    """The one Web API client: retries 429 (honouring Retry-After), 5xx and connection errors."""
    return AsyncWebClient(
        token=token, base_url=base_url, timeout=15, retry_handlers=retry_handlers()
    )


class RetryingRespond(AsyncRespond):
    """Bolt's `respond()` with the Web API client's retries. Bolt's own sends once and returns
    a 429 or 5xx silently, so the user's answer would simply never arrive."""

    async def __call__(  # noqa: PLR0917 - Bolt's signature, argument for argument
        self,
        text: str | dict[str, Any] = "",
        blocks: Sequence[Any] | None = None,
        attachments: Sequence[Any] | None = None,
        response_type: str | None = None,
        replace_original: bool | None = None,
        delete_original: bool | None = None,
        unfurl_links: bool | None = None,
        unfurl_media: bool | None = None,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> WebhookResponse:
        if self.response_url is None:
            raise ValueError("respond is unsupported here as there is no response_url")
        message: dict[str, Any] = dict(text) if isinstance(text, dict) else {"text": text}
        extra = {
            "blocks": _dicts(blocks),
            "attachments": _dicts(attachments),
            "response_type": response_type,
            "replace_original": replace_original,
            "delete_original": delete_original,
            "unfurl_links": unfurl_links,
            "unfurl_media": unfurl_media,
            "thread_ts": thread_ts,
            "metadata": metadata,
        }
        message.update({key: value for key, value in extra.items() if value is not None})
        client = AsyncWebhookClient(
            url=self.response_url, ssl=self.ssl, proxy=self.proxy, retry_handlers=retry_handlers()
        )
        response = await client.send_dict(message)
        if response.status_code != 200:
            # The response_url is a bearer capability: log its outcome, never the URL.
            log.error("slack.response_failed", status=response.status_code, body=response.body)
        return response


def _dicts(items: Sequence[Any] | None) -> list[Any] | None:
    if items is None:
        return None
    return [item.to_dict() if hasattr(item, "to_dict") else item for item in items]


class SlackWebDirectory:
    """`SlackDirectory` over users.info and usergroups.list (membership cached 5 minutes)."""

    def __init__(
        self, client: AsyncWebClient, ttl: float = USERGROUPS_TTL, *, clock: Clock | None = None
    ) -> None:
        self._client = client
        # One entry: the whole usergroups.list answer (group id → member ids).
        self._groups: TtlCache[str, dict[str, set[str]]] = TtlCache(clock or _UtcClock(), ttl)

    async def user(self, user_id: str) -> SlackUser | None:
        try:
            response = await self._client.users_info(user=user_id)
        except SlackApiError as error:
            code = _error_code(error)
            if code in ("user_not_found", "users_not_found"):
                return None
            raise ChatUnavailable("users.info failed", code) from error
        except UNREACHABLE as error:
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
        hit, groups = self._groups.get("all")
        if not hit or groups is None:
            try:
                response = await self._client.usergroups_list(include_users=True)
            except UNREACHABLE:
                # Without usergroup data the user keeps only explicit groups: less access, not more.
                return []
            groups = {
                str(group["id"]): set(group.get("users") or [])
                for group in response.get("usergroups") or []
            }
            self._groups.put("all", groups)
        return sorted(gid for gid, members in groups.items() if user_id in members)


class _UtcClock:
    """The wall clock, when the caller injects none."""

    def now(self) -> datetime:
        return datetime.now(UTC)


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
        except UNREACHABLE as error:
            raise ChatUnavailable("chat.postMessage failed") from error
        return str(response["ts"])

    async def find_by_metadata(
        self, channel: str, event_type: str, key: str, value: str
    ) -> str | None:
        try:
            response = await self._client.conversations_history(
                channel=channel, limit=100, include_all_metadata=True
            )
        except UNREACHABLE as error:
            raise ChatUnavailable("conversations.history failed") from error
        for message in response.get("messages") or []:
            meta = message.get("metadata") or {}
            payload = meta.get("event_payload") or {}
            if meta.get("event_type") == event_type and str(payload.get(key)) == value:
                return str(message.get("ts"))
        return None

    async def upload_png(
        self,
        channel: str,
        filename: str,
        content: bytes,
        title: str,
        thread_ts: str | None = None,
    ) -> str:
        try:
            return await upload_ready(
                self._client,
                content=content,
                filename=filename,
                title=title,
                channel=channel,
                thread_ts=thread_ts,
            )
        except FileNotReady as error:
            raise ChatUnavailable("the uploaded file was not processed in time") from error
        except UNREACHABLE as error:
            raise ChatUnavailable("file upload failed") from error


class SlackDirectFiles:
    """Sends a file to one user's DM: conversations.open, then an upload shared in that DM
    (a file shared in an ephemeral reply would not render; a DM does)."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def send(self, user_id: str, filename: str, content: bytes, comment: str) -> None:
        try:
            opened = await self._client.conversations_open(users=user_id)
            channel = str((opened.get("channel") or {}).get("id", ""))
            await self._client.files_upload_v2(
                channel=channel,
                content=content,
                filename=filename,
                title=filename,
                initial_comment=comment,
            )
        except SlackApiError as error:
            raise chat_error(error, "files upload to the DM") from error
        except UNREACHABLE as error:
            raise ChatUnavailable("file upload to the DM failed") from error


def chat_error(error: SlackApiError, what: str) -> ChatUnavailable:
    """A Web API refusal as the domain error, carrying Slack's error code."""
    code = _error_code(error)
    return ChatUnavailable(f"{what} failed: {code}", code)


def _error_code(error: SlackApiError) -> str:
    """Slack's `error` field; a non-JSON answer (a proxy's 405 page) has none."""
    data = getattr(error.response, "data", None)
    if isinstance(data, dict):
        return str(data.get("error", ""))
    return f"http_{getattr(error.response, 'status_code', 'error')}"
