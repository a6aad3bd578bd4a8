"""The Socket Mode side of the Slack stand-in: a WebSocket that says hello, pushes envelopes
and records the client's acks, in Slack's wire format. Loopback only.
"""

# The *_async waits poll shared state and take `timeout` exactly like their sync twins.
# ruff: noqa: ASYNC109

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from demo.slack import APP_ID
from tests.standins.server import ServerThread, wait_until, wait_until_async

ENVELOPE_TYPES = frozenset({"slash_commands", "interactive", "events_api"})


class SocketHub:
    """Connected Socket Mode clients, envelopes pushed to them and the acks they sent back."""

    def __init__(self, server: ServerThread) -> None:
        self._server = server
        self._lock = threading.Lock()
        self._sockets: list[web.WebSocketResponse] = []
        self._acks: dict[str, dict[str, Any]] = {}
        self.envelopes: list[dict[str, Any]] = []
        self.connections_opened = 0

    # --- aiohttp side (runs on the server loop) -----------------------------------------------
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        with self._lock:
            self._sockets.append(ws)
            self.connections_opened += 1
            count = len(self._sockets)
        await ws.send_json(_hello(count))
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._record(message.data)
        finally:
            with self._lock:
                self._sockets.remove(ws)
        return ws

    async def close_all(self, _app: web.Application | None = None) -> None:
        with self._lock:
            sockets = list(self._sockets)
        for ws in sockets:
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")

    def _record(self, data: str) -> None:
        try:
            ack = json.loads(data)
        except json.JSONDecodeError:
            return
        if isinstance(ack, dict) and "envelope_id" in ack:
            with self._lock:
                self._acks[str(ack["envelope_id"])] = ack

    async def _send(self, message: dict[str, Any]) -> None:
        with self._lock:
            sockets = [ws for ws in self._sockets if not ws.closed]
        if not sockets:
            raise RuntimeError("no Socket Mode client is connected; wait_for_socket() first")
        await sockets[-1].send_json(message)

    async def _broadcast(self, message: dict[str, Any]) -> None:
        with self._lock:
            sockets = [ws for ws in self._sockets if not ws.closed]
        for ws in sockets:
            await ws.send_json(message)

    # --- test side (any thread) ---------------------------------------------------------------
    @property
    def connected(self) -> int:
        with self._lock:
            return len(self._sockets)

    def push(
        self,
        envelope_type: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool | None = None,
        envelope_id: str | None = None,
    ) -> str:
        if envelope_type not in ENVELOPE_TYPES:
            raise ValueError(f"unknown envelope type {envelope_type!r}")
        envelope_id = envelope_id or str(uuid.uuid4())
        if accepts_response_payload is None:
            accepts_response_payload = envelope_type != "events_api"
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": envelope_type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if envelope_type == "events_api":
            envelope.update(retry_attempt=0, retry_reason="")
        self._server.run(self._send(envelope))
        with self._lock:
            self.envelopes.append(envelope)
        return envelope_id

    def send_disconnect(self, reason: str = "refresh_requested") -> None:
        """Tell every client to reconnect, as Slack does before it rotates a connection."""
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "standin"}}
        self._server.run(self._broadcast(message))

    def ack(self, envelope_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._acks.get(envelope_id)

    def wait_for_ack(self, envelope_id: str, timeout: float = 5) -> dict[str, Any]:
        return wait_until(lambda: self.ack(envelope_id), timeout, self._no_ack(envelope_id))

    async def wait_for_ack_async(self, envelope_id: str, timeout: float = 5) -> dict[str, Any]:
        return await wait_until_async(
            lambda: self.ack(envelope_id), timeout, self._no_ack(envelope_id)
        )

    def wait_for_socket(self, count: int = 1, timeout: float = 5) -> None:
        wait_until(lambda: self._has(count), timeout, lambda: f"{count} socket(s) never connected")

    async def wait_for_socket_async(self, count: int = 1, timeout: float = 5) -> None:
        await wait_until_async(
            lambda: self._has(count), timeout, lambda: f"{count} socket(s) never connected"
        )

    def _has(self, count: int) -> bool | None:
        return True if self.connected >= count else None

    def _no_ack(self, envelope_id: str) -> Callable[[], str]:
        return lambda: f"no ack for envelope {envelope_id}; acks: {sorted(self._acks)}"

    def reset(self) -> None:
        with self._lock:
            self._acks.clear()
            self.envelopes.clear()


def _hello(count: int) -> dict[str, Any]:
    return {
        "type": "hello",
        "num_connections": count,
        "debug_info": {
            "host": "applink-standin",
            "build_number": 1,
            "approximate_connection_time": 18060,
        },
        "connection_info": {"app_id": APP_ID},
    }
