"""Bolt global middleware: request context for logs, replay refusal, a retrying `respond`,
then identity.

Context is bound with structlog contextvars once per request; the identity of the requester is
resolved once and put in Bolt's context as `identity` for every listener.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.slack_adapters import RetryingRespond
from handlers.errors import SLACK_AUTH_ERRORS
from services.access.models import Identity
from services.errors import ChatUnavailable, DependencyError

Next = Callable[[], Awaitable[BoltResponse]]
SIGNATURE_WINDOW_SECONDS = 300  # Slack's v0 scheme: Bolt refuses timestamps older than this
# Slack redelivers an unacknowledged event immediately, after 1 minute and after 5 minutes.
EVENT_RETRY_SECONDS = 3600


def request_kind(body: dict[str, Any]) -> tuple[str, str]:
    """(kind, name) of a request: command '/cost', action 'rec_ack', event 'app_home_opened'."""
    if "command" in body:
        return "command", str(body.get("command", ""))
    kind = str(body.get("type", "unknown"))
    if kind == "block_actions":
        actions = body.get("actions") or [{}]
        return "action", str(actions[0].get("action_id", ""))
    if kind == "view_submission":
        return "view", str((body.get("view") or {}).get("callback_id", ""))
    if kind == "event_callback":
        return "event", str((body.get("event") or {}).get("type", ""))
    return kind, ""


def requester_id(body: dict[str, Any]) -> str | None:
    if "user_id" in body:
        return str(body["user_id"])
    user = body.get("user")
    if isinstance(user, dict) and "id" in user:
        return str(user["id"])
    event = body.get("event")
    if isinstance(event, dict) and "user" in event:
        return str(event["user"])
    return None


def logging_middleware() -> Callable[..., Awaitable[BoltResponse]]:
    """Bind request context for every log line of this request (Bolt runs middleware as
    filters before the listener, so timing is measured by the HTTP layer, not here)."""

    async def middleware(
        req: AsyncBoltRequest, resp: BoltResponse, context: AsyncBoltContext, next: Next
    ) -> BoltResponse:
        kind, name = request_kind(req.body)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            request_id=uuid.uuid4().hex[:12],
            team=context.team_id,
            user=requester_id(req.body),
            kind=kind,
            name=name,
        )
        await next()
        return resp

    return middleware


def respond_middleware() -> Callable[..., Awaitable[BoltResponse]]:
    """Every listener's (and the error handler's) `respond` retries 429 and 5xx."""

    async def middleware(
        req: AsyncBoltRequest, resp: BoltResponse, context: AsyncBoltContext, next: Next
    ) -> BoltResponse:
        if context.response_url:
            context["respond"] = RetryingRespond(response_url=context.response_url)
        context["respond_to"] = RetryingRespond  # for a response_url kept elsewhere (modals)
        await next()
        return resp

    return middleware


def identity_middleware(
    resolve: Callable[[str], Awaitable[Identity]],
) -> Callable[..., Awaitable[BoltResponse]]:
    """Resolve the Slack user to a Kubernetes identity (or an unmapped one) for listeners."""

    async def middleware(
        req: AsyncBoltRequest, resp: BoltResponse, context: AsyncBoltContext, next: Next
    ) -> BoltResponse:
        user_id = requester_id(req.body)
        if user_id is not None:
            try:
                identity = await resolve(user_id)
            except DependencyError as error:
                # Slack or Redis failed: the request goes on as unmapped, and says why.
                code = error.code if isinstance(error, ChatUnavailable) else ""
                structlog.get_logger("costbot.identity").log(
                    logging.ERROR if code in SLACK_AUTH_ERRORS else logging.WARNING,
                    "identity.resolve_failed",
                    error=type(error).__name__,
                    code=code,
                )
                identity = Identity(slack_user_id=user_id, source="unavailable")
            context["identity"] = identity
            structlog.contextvars.bind_contextvars(
                k8s_user=identity.k8s_user, identity_source=identity.source
            )
        await next()
        return resp

    return middleware


class ReplayGuard:
    """Which signed requests and which Slack events were already taken, in Redis, so every
    replica agrees: a request is processed once however often it arrives.

    A signed request is remembered by a hash of its signature and timestamp for the signature
    window (after that Bolt refuses its timestamp anyway); an event by its `event_id`, which a
    Slack retry (`X-Slack-Retry-Num`) keeps while its signature changes.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "costbot:",
        window: int = SIGNATURE_WINDOW_SECONDS,
        event_ttl: int = EVENT_RETRY_SECONDS,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._window = window
        self._event_ttl = event_ttl

    async def first_request(self, signature: str, timestamp: str) -> bool:
        digest = hashlib.sha256(f"{signature}:{timestamp}".encode()).hexdigest()
        return await self._claim(f"{self._prefix}seen:request:{digest}", self._window)

    async def first_event(self, event_id: str) -> bool:
        digest = hashlib.sha256(event_id.encode()).hexdigest()[:32]
        return await self._claim(f"{self._prefix}seen:event:{digest}", self._event_ttl)

    async def _claim(self, key: str, ttl: int) -> bool:
        """SET NX: True for whoever writes the key first. With Redis down the request goes
        on (most commands then fail on Redis anyway) rather than refusing every request."""
        try:
            return bool(await self._redis.set(key, "1", nx=True, ex=ttl))
        except RedisError as error:
            structlog.get_logger("costbot.http").warning(
                "request.replay_check_unavailable", error=type(error).__name__
            )
            return True


def replay_middleware(guard: ReplayGuard) -> Callable[..., Awaitable[BoltResponse]]:
    """Acknowledge, but do not process, a signed request already taken (a replay) or an event
    already delivered (a Slack retry). Runs after Bolt's signature check, so only requests
    that really came from Slack are remembered, and a forgery cannot pre-empt a real one."""

    async def middleware(
        req: AsyncBoltRequest, resp: BoltResponse, context: AsyncBoltContext, next: Next
    ) -> BoltResponse:
        signature = _header(req, "x-slack-signature")
        timestamp = _header(req, "x-slack-request-timestamp")
        log = structlog.get_logger("costbot.http")
        if signature and timestamp and not await guard.first_request(signature, timestamp):
            log.warning("request.replay_ignored", timestamp=timestamp)
            return BoltResponse(status=200, body="")
        event_id = req.body.get("event_id") if req.body.get("type") == "event_callback" else None
        if isinstance(event_id, str) and event_id and not await guard.first_event(event_id):
            log.info(
                "request.event_retry_ignored",
                event_id=event_id,
                retry_num=_header(req, "x-slack-retry-num"),
            )
            return BoltResponse(status=200, body="")
        await next()
        return resp

    return middleware


def _header(req: AsyncBoltRequest, name: str) -> str:
    values = req.headers.get(name) or [""]
    return str(values[0])
