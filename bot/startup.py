"""What `costbot serve` checks before it takes traffic, and how each failure ends the process.

Slack's tokens are verified once at start: `auth.test` with the bot token, and in Socket Mode
`apps.connections.open` with the app-level token (the URL it hands out is the one the socket
then connects to). A refusal is final: one line and a distinct exit code, because retrying a
revoked token only buries the cause. Anything else (5xx, connection refused, timeouts) is
transient: the HTTP listener keeps `/healthz` alive and `/readyz` says why it is not ready while
the check is retried with a capped, doubling backoff, for a bounded number of attempts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.logging import get_logger

log = get_logger("costbot.startup")

# Exit codes of `costbot serve` (the README's "Start-up" section lists them).
EXIT_OK = 0
EXIT_ERROR = 1  # anything unexpected (a bug): the traceback is logged
EXIT_CONFIG = 2  # configuration: one line per problem
EXIT_BOT_TOKEN = 3  # Slack refused SLACK_BOT_TOKEN
EXIT_APP_TOKEN = 4  # Slack refused SLACK_APP_TOKEN
EXIT_SLACK_UNREACHABLE = 5  # Slack did not answer within the bounded retries

# Slack's answers that mean "this token will never work": retrying cannot help.
REFUSALS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "not_allowed_token_type"}
)
ATTEMPTS = 12  # about 3 minutes with the backoff below, then exit 5 and let the pod restart
FIRST_DELAY = 0.5
MAX_DELAY = 30.0

Sleep = Callable[[float], Awaitable[None]]


class StartupRefused(Exception):
    """Start-up cannot succeed: `line` is what the operator reads, `code` the exit status."""

    def __init__(self, code: int, line: str) -> None:
        super().__init__(line)
        self.code, self.line = code, line


class SlackGate:
    """The Slack part of `/readyz`: not ready until the tokens are verified (and, in Socket
    Mode, the socket is open), with the reason while it is not."""

    def __init__(self) -> None:
        self.state = "pending: verifying the Slack tokens"

    @property
    def ready(self) -> bool:
        return self.state == "ok"


@dataclass(frozen=True)
class _Token:
    """One token to verify: its setting name, exit code on refusal and the call that tests it."""

    setting: str
    code: int
    call: Callable[[], Awaitable[object]]


def _refused(token: _Token, error: str) -> StartupRefused:
    return StartupRefused(
        token.code,
        f"{token.setting}: Slack refused the token ({error}); "
        "check it in the app's settings (OAuth & Permissions / Basic Information) and reinstall",
    )


def _transient(error: BaseException) -> str:
    """A short, secret-free reason for `/readyz` and the logs."""
    if isinstance(error, SlackApiError):
        status = getattr(error.response, "status_code", "?")
        return f"Slack answered HTTP {status} ({error.response.get('error', 'no error code')})"
    if isinstance(error, asyncio.TimeoutError | TimeoutError):
        return "Slack did not answer in time"
    return f"Slack could not be reached ({type(error).__name__})"


async def _verify(token: _Token, gate: SlackGate, sleep: Sleep) -> object:
    delay = FIRST_DELAY
    reason = ""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await token.call()
        except SlackApiError as error:
            code = str(error.response.get("error", ""))
            if code in REFUSALS:
                raise _refused(token, code) from None
            reason = _transient(error)
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as error:
            reason = _transient(error)  # ValueError: a body that is not Slack's JSON
        if attempt == ATTEMPTS:
            break
        gate.state = f"pending: {token.setting}: {reason}; retry {attempt} of {ATTEMPTS - 1}"
        log.warning("slack.check_retrying", token=token.setting, reason=reason, attempt=attempt)
        await sleep(delay)
        delay = min(delay * 2, MAX_DELAY)
    raise StartupRefused(
        EXIT_SLACK_UNREACHABLE,
        f"{token.setting}: Slack did not answer after {ATTEMPTS} attempts ({reason}); "
        "check SLACK_API_URL and the network path to Slack",
    )


async def verify_slack(
    bot_client: AsyncWebClient,
    app_client: AsyncWebClient | None,
    gate: SlackGate,
    *,
    sleep: Sleep = asyncio.sleep,
) -> str | None:
    """Verify the bot token, then (Socket Mode) open a connection with the app token; returns
    the WebSocket URL that open issued, for the socket to use. Raises StartupRefused."""
    await _verify(_Token("SLACK_BOT_TOKEN", EXIT_BOT_TOKEN, bot_client.auth_test), gate, sleep)
    if app_client is None:
        return None
    token = app_client.token or ""
    opened = await _verify(
        _Token(
            "SLACK_APP_TOKEN",
            EXIT_APP_TOKEN,
            lambda: app_client.apps_connections_open(app_token=token),
        ),
        gate,
        sleep,
    )
    url = opened.get("url") if hasattr(opened, "get") else None
    return str(url) if url else None
