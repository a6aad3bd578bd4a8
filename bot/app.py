"""The Bolt AsyncApp factory: injected client and services, middleware, listeners, error handler."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.listener.async_listener import AsyncCustomListener
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.metrics import Metrics
from bot.middleware import (
    ReplayGuard,
    identity_middleware,
    logging_middleware,
    replay_middleware,
    respond_middleware,
)
from bot.slack_adapters import UNREACHABLE, chat_error
from handlers import register_all
from handlers.deps import Deps
from handlers.errors import SLACK_AUTH_ERRORS, words_for
from services.access.models import Identity
from services.errors import ChatUnavailable

log = structlog.get_logger("costbot.app")


def build_app(
    *,
    client: AsyncWebClient,
    signing_secret: str | None,
    deps: Deps,
    metrics: Metrics,
    resolve_identity: Callable[[str], Awaitable[Identity]],
    verify_requests: bool = True,
    process_before_response: bool = False,
    bot_user_id: str = "",
    replay_guard: ReplayGuard | None = None,
) -> AsyncApp:
    """A Bolt app wired to the given services. Nothing here opens a connection. With a
    `replay_guard`, a request or event already taken (by any replica) is acked, not re-run."""

    async def authorize(**_: Any) -> AuthorizeResult:
        # Single workspace, bot token only: no auth.test round trip on every cold start.
        return AuthorizeResult(
            enterprise_id=None,
            team_id=None,
            bot_token=client.token,
            bot_user_id=bot_user_id or None,
        )

    # Bolt builds each request's client from this one plus the token `authorize` returns; a
    # token here too would make it warn that one of the two is ignored.
    base = AsyncWebClient(
        base_url=client.base_url, timeout=client.timeout, retry_handlers=client.retry_handlers
    )
    app = AsyncApp(
        client=base,
        signing_secret=signing_secret,
        authorize=authorize,
        request_verification_enabled=verify_requests,
        process_before_response=process_before_response,
        raise_error_for_unhandled_request=False,
        logger=logging.getLogger("slack_bolt"),  # formatted by structlog (bot/logging.py)
    )
    app.use(logging_middleware())
    if replay_guard is not None:
        app.use(replay_middleware(replay_guard))
    app.use(respond_middleware())
    app.use(identity_middleware(resolve_identity))

    async def on_error(error: Exception, body: dict[str, Any], respond: AsyncRespond) -> None:
        ref = uuid.uuid4().hex[:8]
        if isinstance(error, SlackApiError):  # a listener's own Web API call was refused
            error = chat_error(error, str(error.response.get("error") or "Slack Web API"))
        elif isinstance(error, UNREACHABLE):
            error = ChatUnavailable("Slack could not be reached", "unreachable")
        if isinstance(error, ChatUnavailable) and error.code in SLACK_AUTH_ERRORS:
            log.error("slack.token_refused", ref=ref, code=error.code)
        else:
            log.error("request.failed", ref=ref, error=type(error).__name__, exc_info=error)
        if body.get("response_url"):
            await respond(text=words_for(error, ref), response_type="ephemeral")

    app.error(on_error)
    register_all(app, deps)
    _report_errors_after_ack(app, on_error)
    return app


ErrorHandler = Callable[[Exception, dict[str, Any], AsyncRespond], Awaitable[None]]


def _report_errors_after_ack(app: AsyncApp, on_error: ErrorHandler) -> None:
    """A listener that fails *after* it acked is reported here, not re-raised to Bolt.

    slack_bolt 1.30's asyncio runner, when an already-acked listener raises, hands the error
    handler `response=None` and then writes that None back over the ack; if that happens before
    its 10 ms ack poll looks, the request is answered as unhandled (404) — Slack then shows the
    user an error for a click that was acked. Failures before the ack still go to Bolt, which
    answers 500 and calls the same handler."""
    for listener in app._async_listeners:
        if not isinstance(listener, AsyncCustomListener):
            continue
        wanted = list(listener.arg_names)
        listener.ack_function = _reporting(listener.ack_function, wanted, on_error)
        listener.arg_names = [*wanted, *(n for n in _ALWAYS if n not in wanted)]


_ALWAYS = ("ack", "body", "respond")


def _reporting(
    run: Callable[..., Awaitable[BoltResponse | None]], wanted: list[str], on_error: ErrorHandler
) -> Callable[..., Awaitable[BoltResponse | None]]:
    async def listener(**kwargs: Any) -> BoltResponse | None:
        try:
            return await run(**{name: kwargs[name] for name in wanted})
        except Exception as error:
            if kwargs["ack"].response is None:
                raise
            await on_error(error, kwargs["body"], kwargs["respond"])
            return None

    return listener
