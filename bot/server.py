"""HTTP mode (Starlette + uvicorn) and Socket Mode runners.

`POST /slack/events` takes every Slack request; Bolt verifies the signature (v0, 5-minute
window) before any listener runs. `/healthz`, `/readyz` and `/metrics` serve operators in both
modes, so Kubernetes probes work for Socket Mode pods too; so does the HTTP API under `/api`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from urllib.parse import parse_qs

import uvicorn
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message

from bot.logging import get_logger
from bot.metrics import Metrics

log = get_logger("costbot.http")
MAX_BODY_BYTES = 1 << 20  # Slack payloads are far smaller; refuse anything bigger unread
# Slack's deepest payloads (rich-text blocks inside a message inside block_actions) nest about a
# dozen levels; anything far deeper is an attack on the recursive JSON decoder.
MAX_JSON_DEPTH = 64
Readiness = Callable[[], Awaitable[dict[str, str]]]


def body_kind(body: bytes) -> str:
    """command / action / view / event, from the raw body, for metrics labels."""
    if body.startswith(b"{"):
        return "event"
    if b"command=" in body[:2000] and not body.startswith(b"payload="):
        return "command"
    if b"view_submission" in body[:4000]:
        return "view"
    return "action" if body.startswith(b"payload=") else "other"


def signature_headers_ok(request: Request) -> bool:
    """Slack's v0 headers are at least well-formed. Bolt answers a non-numeric timestamp with a
    500 and a traceback; a forgery deserves the same quiet 401 as any other."""
    timestamp = request.headers.get("x-slack-request-timestamp", "")
    signature = request.headers.get("x-slack-signature", "")
    return (
        timestamp.isascii()
        and timestamp.isdigit()
        and len(timestamp) <= 12
        and (signature.startswith("v0="))
    )


async def read_capped(request: Request, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The body, or None as soon as it exceeds `limit` (a chunked upload has no length to
    check up front, so bytes are counted as they arrive and the rest is never read)."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def json_problem(body: bytes, content_type: str = "") -> str | None:
    """Why the JSON in this body (an Events API body, or the `payload=` form field of an
    interaction) cannot be taken, or None. Bolt decodes it before it checks the signature, and
    a payload nested thousands deep makes the decoder raise RecursionError: a 500 with a
    traceback. Checked here, without recursion, it is a plain 400."""
    if "json" in content_type.lower() or body.lstrip()[:1] in (b"{", b"["):
        document = body.decode("utf-8", errors="replace")
    else:
        try:
            fields = parse_qs(body.decode("ascii"), keep_blank_values=True)
        except UnicodeDecodeError:
            return "form body is not URL-encoded ASCII"
        if "payload" not in fields:
            return None  # a slash command: plain form fields, no JSON
        document = fields["payload"][0]
    if _nesting(document) > MAX_JSON_DEPTH:
        return f"JSON nested deeper than {MAX_JSON_DEPTH}"
    try:
        decoded = json.loads(document)
    except ValueError:
        return "not JSON"
    return None if isinstance(decoded, dict) else "JSON that is not an object"


def _nesting(document: str) -> int:
    """The deepest `[`/`{` nesting in a JSON text, ignoring brackets inside strings."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub("", document)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


def _replay(request: Request, body: bytes) -> Request:
    """The same request with its (already read) body, for Bolt's adapter to read again."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)


def build_http_app(
    bolt: AsyncApp | None,
    metrics: Metrics,
    readiness: Readiness,
    api: ASGIApp | None = None,
    *,
    web: ASGIApp | None = None,
    data: str = "opencost",
) -> Starlette:
    """Slack's endpoint, the operator endpoints and, when given, the HTTP API under `/api` and
    the web view at `/` (mounted last, so every other route wins).
    `data` is what `/readyz` says the answers come from: "opencost" or "demo"."""
    handler = AsyncSlackRequestHandler(bolt) if bolt is not None else None

    async def events(request: Request) -> Response:
        if handler is None:
            return PlainTextResponse("Slack events are taken over Socket Mode here\n", 404)
        body = await read_capped(request)
        if body is None:
            log.warning("request.rejected", reason="body too large")
            return PlainTextResponse("request body too large\n", 413)
        if not signature_headers_ok(request):
            log.warning("request.rejected", reason="malformed signature headers")
            return PlainTextResponse("invalid request\n", 401)
        if problem := json_problem(body, request.headers.get("content-type", "")):
            log.warning("request.rejected", reason=problem)
            return PlainTextResponse("bad request\n", 400)
        started = time.perf_counter()
        response = await handler.handle(_replay(request, body))
        elapsed = time.perf_counter() - started
        kind = body_kind(body)
        metrics.requests.labels(kind=kind).observe(elapsed)
        log.info(
            "request.acked",
            kind=kind,
            status=response.status_code,
            duration_ms=round(elapsed * 1000, 1),
        )
        return response

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(_: Request) -> Response:
        checks = await readiness()
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {"ready": ready, "data": data, "checks": checks}, status_code=200 if ready else 503
        )

    async def metrics_route(_: Request) -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return Starlette(
        routes=[
            Route("/slack/events", events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_route, methods=["GET"]),
            *([Mount("/api", app=api)] if api is not None else []),
            *([Mount("/", app=web)] if web is not None else []),
        ]
    )


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: `costbot serve` owns SIGTERM/SIGINT, drains
    and exits 0 (uvicorn would re-raise the signal after shutdown and exit 143)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def run_http(app: Starlette, port: int, host: str = "0.0.0.0") -> None:  # noqa: S104
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="off"
    )
    server = _Server(config)
    try:
        await server.serve()
    except asyncio.CancelledError:
        # Cancelled by serve(): finish in-flight requests, then stop listening.
        server.should_exit = True
        await server.shutdown()
        raise


async def connect_socket_mode(
    bolt: AsyncApp, app_token: str, api_url: str, wss_url: str | None
) -> AsyncSocketModeHandler:
    """Open the Socket Mode connection for Slack traffic. `wss_url` is the URL the start-up
    check's `apps.connections.open` issued, so the token is not spent on a second open."""
    web_client = AsyncWebClient(token=app_token, base_url=api_url)
    handler = AsyncSocketModeHandler(bolt, app_token, web_client=web_client)
    if wss_url:
        handler.client.wss_uri = wss_url
    get_logger().info("server.socket_mode_connecting")
    await handler.connect_async()  # type: ignore[no-untyped-call]  # bolt leaves it unannotated
    return handler


async def close_socket_mode(handler: AsyncSocketModeHandler) -> None:
    await handler.close_async()  # type: ignore[no-untyped-call]  # bolt leaves it unannotated
    await asyncio.sleep(0)


async def run_socket_mode(
    bolt: AsyncApp, app_token: str, api_url: str, ops_app: Starlette, port: int
) -> None:
    """Socket Mode for Slack traffic, plus the operator endpoints on PORT (no start-up check:
    the benchmarks' trivial bot; `costbot serve` verifies the tokens first)."""
    handler = await connect_socket_mode(bolt, app_token, api_url, None)
    try:
        await run_http(ops_app, port)
    finally:
        await close_socket_mode(handler)
