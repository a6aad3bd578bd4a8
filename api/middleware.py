"""The API's middleware: request id, access log and latency metrics, body size limit, and the
per-identity rate limit (applied once the caller is known, in `api.app`).

Pure ASGI, so a streamed body is counted as it arrives and never buffered whole. The access log
names the route *template* (`/v1/namespaces/{ns}/costs`), never the URL's query string or any
header, so a token that a client wrongly put in the URL is not written anywhere.
"""

from __future__ import annotations

import math
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import ApiProblem

log = structlog.get_logger("costbot.api")
Observe = Callable[[str, str, int, float], None]  # route, method, status, seconds
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return f"{scope.get('root_path', '')}{path}" if path else "unmatched"


class ObserveMiddleware:
    """Request id in and out (`X-Request-Id`), one structured access-log line per request, and
    the latency histogram by route template and status."""

    def __init__(self, app: ASGIApp, observe: Observe | None = None) -> None:
        self.app, self.observe = app, observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers") or [])
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            if self.observe is not None:
                self.observe(route, scope["method"], status, elapsed)
            state: dict[str, Any] = scope.get("state") or {}
            log.info(
                "api.request",
                method=scope["method"],
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 1),
                user=state.get("user", ""),
                request_id=request_id,
            )


class BodyLimitMiddleware:
    """Refuse bodies over `limit` bytes: at once by Content-Length, else as they stream in."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await _too_large(scope, send, self.limit)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise ApiProblem(413, f"The request body is over {self.limit} bytes.")
            return message

        await self.app(scope, counted, send)


async def _too_large(scope: Scope, send: Send, limit: int) -> None:
    from starlette.requests import Request

    from api.problems import problem

    response = problem(Request(scope), 413, f"The request body is over {limit} bytes.")
    await response(scope, _nothing, send)


async def _nothing() -> Message:
    return {"type": "http.disconnect"}


class RateLimiter:
    """At most `per_minute` requests per identity in each fixed minute; 0 turns it off."""

    def __init__(self, per_minute: int, now: Callable[[], float] = time.monotonic) -> None:
        self.per_minute, self._now = per_minute, now
        self._windows: dict[str, tuple[float, int]] = {}

    def check(self, who: str) -> None:
        if self.per_minute <= 0:
            return
        now = self._now()
        start, count = self._windows.get(who, (now, 0))
        if now - start >= 60.0:
            start, count = now, 0
        if count >= self.per_minute:
            retry = max(1, math.ceil(60.0 - (now - start)))
            raise ApiProblem(
                429,
                f"More than {self.per_minute} requests in a minute; try again in {retry} s.",
                headers={"Retry-After": str(retry)},
            )
        self._windows[who] = (start, count + 1)
        if len(self._windows) > 50_000:  # forget callers whose minute is over
            self._windows = {k: w for k, w in self._windows.items() if now - w[0] < 60.0}
