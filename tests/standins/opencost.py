"""A local stand-in for the OpenCost HTTP API, with OpenCost's quirks and switchable faults.

A real aiohttp server on 127.0.0.1 in its own thread: /allocation (and its aliases), /assets,
/healthz, /installInfo. Bodies come from a pluggable responder; it records every request.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from aiohttp import web

from tests.standins.opencost_data import (
    AllocationSet,
    Row,
    allocation_envelope,
    allocation_row,
    allocation_set,
    assets_envelope,
    assets_map,
    disk_asset,
    node_asset,
    window_is_valid,
)
from tests.standins.server import ServerThread, StandIn

__all__ = [
    "Hold",
    "Mode",
    "OpenCostRequest",
    "OpenCostStandIn",
    "Responder",
    "allocation_row",
    "allocation_set",
    "assets_map",
    "disk_asset",
    "node_asset",
]

Mode = Literal[
    "ok", "down", "status_500", "truncated_json", "plain_400", "garbage", "empty_sets", "html"
]
MODES: frozenset[str] = frozenset(get_args(Mode))
# path (without the Kubecost-style /model prefix), params -> (status, content type, body)
Responder = Callable[[str, dict[str, str]], tuple[int, str, bytes]]
# path (without the /model prefix), params -> whether to hold that request until `release()`
Hold = Callable[[str, dict[str, str]], bool]

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
ALLOCATION_PATHS = frozenset({"/allocation", "/allocation/compute"})
ASSET_PATHS = frozenset({"/assets"})


@dataclass(frozen=True)
class OpenCostRequest:
    path: str  # as requested, e.g. "/model/allocation"
    params: dict[str, str]


class OpenCostStandIn(StandIn):
    """OpenCost at `url`; set `mode`, `delay_seconds` or `responder` at any time."""

    def __init__(
        self,
        allocation_sets: Iterable[Mapping[str, Row]] = (),
        assets: Mapping[str, Row] | None = None,
        *,
        responder: Responder | None = None,
        version: str = "1.112.0",
        status_field: bool = True,
    ) -> None:
        self.allocation_sets: list[AllocationSet] = [dict(s) for s in allocation_sets]
        self.assets: dict[str, Row] = dict(assets or {})
        self.responder: Responder = responder or self.default_responder
        self.version = version
        self.status_field = status_field
        self.delay_seconds = 0.0
        self._mode: Mode = "ok"
        self._lock = threading.Lock()
        self._requests: list[OpenCostRequest] = []
        self._held: Hold | None = None
        self._gate = threading.Event()
        self.held_count = 0  # requests that reached the gate while `hold` applied
        self.bytes_sent = 0  # body bytes of every answer, for the data-plane tests and bench
        self._server = ServerThread(self._make_app, name="opencost-standin")

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> OpenCostStandIn:
        self._server.start()  # binds, so the port (and `url`) is known even when starting down
        if self._mode == "down":
            self._server.unlisten()
        return self

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT` (no trailing slash); the port survives going down and up."""
        return self._server.base_url

    @property
    def mode(self) -> Mode:
        return self._mode

    @mode.setter
    def mode(self, mode: Mode) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {sorted(MODES)}")
        self._mode = mode
        # "down" really closes the socket, so clients see connection refused, not an HTTP error.
        if mode == "down":
            self._server.unlisten()
        elif self._server.running:
            self._server.listen()

    # --- recorded requests --------------------------------------------------------------------
    @property
    def requests(self) -> list[OpenCostRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    def requests_to(self, path: str) -> list[OpenCostRequest]:
        return [request for request in self.requests if request.path == path]

    # --- one slow period ------------------------------------------------------------------------
    def hold(self, which: Hold) -> None:
        """Keep the requests `which` picks unanswered until `release()` (other requests are
        answered meanwhile: the wait does not block the stand-in's loop), as an OpenCost that
        is slow for one period only."""
        self._gate.clear()
        self._held = which

    def release(self) -> None:
        """Answer the held requests (those whose client is still waiting) and hold no more."""
        self._held = None
        self._gate.set()

    def reset(self) -> None:
        """Forget requests and faults; keep the data and the responder."""
        with self._lock:
            self._requests.clear()
            self.bytes_sent = 0
        self.delay_seconds = 0.0
        self.mode = "ok"

    # --- answers ------------------------------------------------------------------------------
    def default_responder(self, path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        """The fixed allocation sets and assets in OpenCost's envelope; health and version."""
        if path in ALLOCATION_PATHS:
            body = allocation_envelope(self.allocation_sets, status=self.status_field)
            return 200, JSON, _dump(body)
        if path in ASSET_PATHS:
            return 200, JSON, _dump(assets_envelope(self.assets, status=self.status_field))
        if path == "/healthz":
            return 200, TEXT, b""
        if path == "/installInfo":
            return 200, JSON, _dump(self._install_info())
        return 404, TEXT, b"404 page not found\n"

    def _install_info(self) -> dict[str, Any]:
        image = f"ghcr.io/opencost/opencost:{self.version}"
        return {
            "containers": [{"containerName": "opencost", "image": image, "startTime": ""}],
            "clusterInfo": {"nodeCount": 3, "podCount": 42},
            "version": self.version,
        }

    def _answer(self, path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        if self._mode == "html":  # an auth proxy in front: every path, /healthz too, is 200
            return 200, "text/html; charset=utf-8", SIGN_IN_PAGE
        if path in ALLOCATION_PATHS | ASSET_PATHS:
            if not window_is_valid(params.get("window", "")):
                return bad_window(path, params.get("window", ""))
            if (fault := self._fault(path, params)) is not None:
                return fault
            if path in ALLOCATION_PATHS and _needs_idle(params):
                return 400, JSON, _error_json(400, _NEEDS_IDLE)
        return self.responder(path, params)

    def _fault(self, path: str, params: dict[str, str]) -> tuple[int, str, bytes] | None:
        if self._mode == "truncated_json":
            _status, content_type, full = self.responder(path, params)
            return 200, content_type, full[: max(1, len(full) // 2)]
        fault = _FAULTS.get(self._mode)
        return fault(path, params.get("window", "")) if fault else None

    # --- HTTP ---------------------------------------------------------------------------------
    def _make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        params = dict(request.query)
        with self._lock:
            self._requests.append(OpenCostRequest(request.path, params))
        if self.delay_seconds > 0:
            await asyncio.sleep(self.delay_seconds)
        path = request.path.removeprefix("/model") or "/"
        held = self._held
        if held is not None and held(path, params):
            with self._lock:
                self.held_count += 1
            await asyncio.to_thread(self._gate.wait, 60)
        status, content_type, body = self._answer(path, params)
        with self._lock:
            self.bytes_sent += len(body)
        response = web.Response(status=status, body=body)
        response.headers["Content-Type"] = content_type
        if content_type == TEXT:
            response.headers["X-Content-Type-Options"] = "nosniff"
        return response


_NEEDS_IDLE = (
    "Error: bad request - includeIdle must be set true if "
    "includeProportionalAssetResourceCosts is true"
)


def bad_window(path: str, window: str) -> tuple[int, str, bytes]:
    """OpenCost's answer to an illegal `window` (opencost-api.md §3.3).

    /allocation writes the text/plain 400 and, lacking a `return`, then appends the JSON error
    of the failed query: the body is not JSON. /assets returns after the text line.
    """
    line = f"Invalid 'window' parameter: illegal window: {window}\n".encode()
    if path in ASSET_PATHS:
        return 400, TEXT, line
    return 400, TEXT, line + _error_json(500, "Error: illegal window: [nil, nil)")


SIGN_IN_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head>"
    b'<body><form action="/oauth2/start"><button>Sign in</button></form></body></html>\n'
)


def _status_500(path: str, _window: str) -> tuple[int, str, bytes]:
    if path in ALLOCATION_PATHS:
        return 500, JSON, _error_json(500, "Error: error querying Prometheus: unavailable")
    return 500, TEXT, b"Error getting assets: error querying Prometheus: unavailable\n"


def _garbage(_path: str, _window: str) -> tuple[int, str, bytes]:
    # What a misrouted ingress or an auth proxy answers with: 200, but not OpenCost JSON.
    return 200, "text/html", b"<html><body><h1>Sign in</h1></body></html>\n"


def _empty_sets(path: str, _window: str) -> tuple[int, str, bytes]:
    body = allocation_envelope([{}]) if path in ALLOCATION_PATHS else assets_envelope({})
    return 200, JSON, _dump(body)


_FAULTS: dict[str, Callable[[str, str], tuple[int, str, bytes]]] = {
    "status_500": _status_500,
    "plain_400": bad_window,
    "garbage": _garbage,
    "empty_sets": _empty_sets,
}


def _needs_idle(params: Mapping[str, str]) -> bool:
    wants = params.get("includeProportionalAssetResourceCosts", "").lower() == "true"
    return wants and params.get("includeIdle", "").lower() != "true"


def _error_json(code: int, message: str) -> bytes:
    return _dump({"code": code, "status": "", "data": None, "message": message})


def _dump(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
