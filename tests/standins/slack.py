"""The tests' Slack: the shipped local Slack (`demo.slack`) served from its own thread.

Everything Slack does (Web API methods, uploads, response_urls, strictness) is the shared fake's;
this adds what only tests need: Socket Mode, injected faults and rate limits, canned replies for
methods the fake lacks, and waits on what arrived. It never talks to the real Slack.
"""

# The *_async waits poll shared state and take `timeout` exactly like their sync twins.
# ruff: noqa: ASYNC109

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from demo.slack import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    RESPONSE_URL,
    TEAM_ID,
    UPLOAD,
    Call,
    SlackFake,
    Upload,
    slack_error,
)
from demo.slack.workspace import Params, Reply
from tests.standins.server import ServerThread, StandIn, wait_until, wait_until_async
from tests.standins.slack_socket import SocketHub

__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_USER_ID",
    "RESPONSE_URL",
    "TEAM_ID",
    "UPLOAD",
    "Call",
    "SlackStandIn",
    "Upload",
]


PLACEHOLDER = ":hourglass_flowing_sand: Working on it"  # replaced by the answer


@dataclass
class _Fault:
    remaining: int
    status: int
    error: str
    retry_after: int | None

    def response(self) -> web.Response:
        return slack_error(self.error, status=self.status, retry_after=self.retry_after)


class SlackStandIn(SlackFake, StandIn):
    """Slack's Web API at `url` (`http://127.0.0.1:PORT/api/`), plus Socket Mode and sinks."""

    def __init__(
        self,
        *,
        tokens: Iterable[str] = ("xoxb-test",),
        app_token: str = "xapp-test",  # noqa: S107 - the stand-in's own fake token
        users: Mapping[str, Mapping[str, Any]] | None = None,
        usergroups: Mapping[str, Sequence[str]] | None = None,
        ts_base: int | None = None,
    ) -> None:
        super().__init__(
            tokens=tokens, app_token=app_token, users=users, usergroups=usergroups, ts_base=ts_base
        )
        self._server = ServerThread(self._make_app, name="slack-standin")
        self.socket = SocketHub(self._server)
        self._faults: dict[str, list[_Fault]] = {}
        self._stubs: dict[str, dict[str, Any]] = {}

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> SlackStandIn:
        self._server.start()
        with self._lock:
            self.workspace.base_url = self._server.base_url
        return self

    @property
    def url(self) -> str:
        """The Web API base for slack_sdk's `base_url=`; the trailing slash matters."""
        return f"{self._server.base_url}/api/"

    def _make_app(self) -> web.Application:
        app = self.make_app()
        app.router.add_get("/socket", self.socket.handle)
        app.on_shutdown.append(self.socket.close_all)
        return app

    # --- waits on recorded calls --------------------------------------------------------------
    def wait_for(self, method: str, count: int = 1, timeout: float = 5) -> list[Call]:
        """The calls to `method` once there are at least `count`; AssertionError on timeout."""
        return wait_until(
            lambda: self._at_least(method, count), timeout, self._missing(method, count)
        )

    async def wait_for_async(self, method: str, count: int = 1, timeout: float = 5) -> list[Call]:
        return await wait_until_async(
            lambda: self._at_least(method, count), timeout, self._missing(method, count)
        )

    def _at_least(self, method: str, count: int) -> list[Call] | None:
        found = self.calls_to(method)
        return found if len(found) >= count else None

    def _missing(self, method: str, count: int) -> Callable[[], str]:
        return lambda: f"expected {count} x {method}; got {[c.method for c in self.calls]}"

    # --- faults and canned replies ------------------------------------------------------------
    def fail(
        self,
        method: str,
        times: int = 1,
        *,
        status: int | None = None,
        error: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Fail the next `times` calls to `method` (or "upload" / "response_url").

        No status and no error: HTTP 429 `ratelimited` with `Retry-After` (default 1 s). An
        error alone: HTTP 200 `{"ok": false, "error": error}`. A status: that status.
        """
        if status is None:
            status = 200 if error is not None else 429
        if status == 429 and retry_after is None:
            retry_after = 1
        if error is None:
            error = "ratelimited" if status == 429 else "internal_error"
        fault = _Fault(remaining=times, status=status, error=error, retry_after=retry_after)
        with self._lock:
            self._faults.setdefault(method, []).append(fault)

    def stub(self, method: str, reply: Mapping[str, Any]) -> None:
        """Answer `method` (after auth) with this JSON, for methods the stand-in lacks."""
        with self._lock:
            self._stubs[method] = dict(reply)

    def reset(self) -> None:
        """Forget calls, faults, stubs, responses, acks; keep messages, users and groups."""
        with self._lock:
            self._calls.clear()
            self._said.clear()
            self._faults.clear()
            self._stubs.clear()
            for bodies in self.workspace.responses.values():
                bodies.clear()  # the urls stay valid, with their five uses back
        self.socket.reset()

    # --- the shared fake's hooks --------------------------------------------------------------
    def intercept(self, key: str) -> web.Response | None:
        fault = self._take_fault(key)
        return fault.response() if fault is not None else None

    def answer(self, method: str, params: Params) -> Reply:
        with self._lock:
            stub = self._stubs.get(method)
        return dict(stub) if stub is not None else super().answer(method, params)

    def _take_fault(self, key: str) -> _Fault | None:
        with self._lock:
            queue = self._faults.get(key, [])
            if not queue:
                return None
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.pop(0)
            return fault

    # --- waits on response_urls ---------------------------------------------------------------
    def wait_for_response(
        self, id_or_url: str, count: int = 1, timeout: float = 5
    ) -> list[dict[str, Any]]:
        return wait_until(
            lambda: self._responses_at_least(id_or_url, count),
            timeout,
            lambda: f"expected {count} response(s) at {id_or_url}",
        )

    def wait_for_answer(self, id_or_url: str, timeout: float = 20) -> dict[str, Any]:
        """The answer posted at a response_url, past any "Working on it…" placeholder (the
        bot posts one when an answer takes longer than 2 s, then replaces it)."""
        replies = self.wait_for_response(id_or_url, 1, timeout)
        while replies[-1].get("text", "").startswith(PLACEHOLDER):
            replies = self.wait_for_response(id_or_url, len(replies) + 1, timeout)
        return replies[-1]

    async def wait_for_response_async(
        self, id_or_url: str, count: int = 1, timeout: float = 5
    ) -> list[dict[str, Any]]:
        return await wait_until_async(
            lambda: self._responses_at_least(id_or_url, count),
            timeout,
            lambda: f"expected {count} response(s) at {id_or_url}",
        )

    def _responses_at_least(self, id_or_url: str, count: int) -> list[dict[str, Any]] | None:
        found = self.responses(id_or_url)
        return found if len(found) >= count else None

    # --- Socket Mode (see SocketHub for the rest) ---------------------------------------------
    def push(
        self,
        envelope_type: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool | None = None,
    ) -> str:
        """Send a Socket Mode envelope to the newest connected client; returns its id."""
        return self.socket.push(
            envelope_type, payload, accepts_response_payload=accepts_response_payload
        )

    def wait_for_ack(self, envelope_id: str, timeout: float = 5) -> dict[str, Any]:
        return self.socket.wait_for_ack(envelope_id, timeout)

    async def wait_for_ack_async(self, envelope_id: str, timeout: float = 5) -> dict[str, Any]:
        return await self.socket.wait_for_ack_async(envelope_id, timeout)

    def wait_for_socket(self, count: int = 1, timeout: float = 5) -> None:
        self.socket.wait_for_socket(count, timeout)

    async def wait_for_socket_async(self, count: int = 1, timeout: float = 5) -> None:
        await self.socket.wait_for_socket_async(count, timeout)
