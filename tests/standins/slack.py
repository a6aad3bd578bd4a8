"""A local stand-in for Slack's Web API, response_url and Socket Mode, for tests.

A real aiohttp server on 127.0.0.1 in its own thread that speaks Slack's wire format, so real
slack_sdk / slack_bolt clients run against it unchanged; it records every call and can inject
faults. It never talks to the real Slack.
"""

# The *_async waits poll shared state and take `timeout` exactly like their sync twins.
# ruff: noqa: ASYNC109

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from bot.doctor import BOT_SCOPES as MANIFEST_SCOPES
from tests.standins.server import ServerThread, StandIn, wait_until, wait_until_async
from tests.standins.slack_socket import SocketHub
from tests.standins.slack_workspace import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    TEAM_ID,
    Params,
    SlackMethodError,
    Upload,
    Workspace,
    decode_params,
    normalise_groups,
    normalise_users,
)

__all__ = ["APP_ID", "BOT_ID", "BOT_USER_ID", "TEAM_ID", "Call", "SlackStandIn", "Upload"]

# Fault keys beside Web API method names: the file upload URL and the response_url sink.
UPLOAD = "upload"
RESPONSE_URL = "response_url"


@dataclass(frozen=True)
class Call:
    """One Web API request as received: params merged from query, form and JSON bodies."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]  # lower-cased names

    @property
    def token(self) -> str | None:
        bearer = self.headers.get("authorization", "")
        if bearer.startswith("Bearer "):
            return bearer.removeprefix("Bearer ")
        token = self.params.get("token")
        return str(token) if token else None


@dataclass
class _Fault:
    remaining: int
    status: int
    error: str
    retry_after: int | None

    def response(self) -> web.Response:
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        body = {"ok": False, "error": self.error}
        return web.json_response(body, status=self.status, headers=headers)


class SlackStandIn(StandIn):
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
        self.tokens = set(tokens)
        self.app_token = app_token
        self.workspace = Workspace(
            users=normalise_users(users), usergroups=normalise_groups(usergroups)
        )
        if ts_base is not None:
            self.workspace.ts_base = ts_base
        self._server = ServerThread(self._make_app, name="slack-standin")
        self.socket = SocketHub(self._server)
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._faults: dict[str, list[_Fault]] = {}
        self._stubs: dict[str, dict[str, Any]] = {}
        self._responses: dict[str, list[dict[str, Any]]] = {}
        self._response_ids = itertools.count(1)
        self.scopes = list(MANIFEST_SCOPES)  # auth.test answers them in x-oauth-scopes

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> SlackStandIn:
        self._server.start()
        self.workspace.base_url = self._server.base_url
        return self

    @property
    def url(self) -> str:
        """The Web API base for slack_sdk's `base_url=`; the trailing slash matters."""
        return f"{self._server.base_url}/api/"

    # --- recorded calls -----------------------------------------------------------------------
    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

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

    # --- workspace state ----------------------------------------------------------------------
    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Messages stored in `channel`, oldest first, thread replies included."""
        with self.workspace.lock:
            return [dict(message) for message in self.workspace.channels.get(channel, [])]

    def ephemerals(self, channel: str | None = None) -> list[dict[str, Any]]:
        with self.workspace.lock:
            found = self.workspace.ephemerals
            return [dict(m) for m in found if channel is None or m["channel"] == channel]

    @property
    def uploads(self) -> list[Upload]:
        with self.workspace.lock:
            return list(self.workspace.uploads.values())

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        with self.workspace.lock:
            return self.workspace.home_views.get(user_id)

    def view(self, view_id: str) -> dict[str, Any] | None:
        with self.workspace.lock:
            return self.workspace.views.get(view_id)

    def set_user(self, user_id: str, **spec: Any) -> None:
        """Add or replace a users.info user: email=, tz=, deleted=, is_bot=, real_name=."""
        with self.workspace.lock:
            self.workspace.users[user_id] = dict(spec)

    def set_usergroup(self, group_id: str, members: Sequence[str]) -> None:
        with self.workspace.lock:
            self.workspace.usergroups[group_id] = list(members)

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
            self._faults.clear()
            self._stubs.clear()
            self._responses.clear()
        self.socket.reset()

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

    # --- response_url sink --------------------------------------------------------------------
    def new_response_url(self) -> str:
        response_id = f"R{next(self._response_ids):05d}"
        with self._lock:
            self._responses.setdefault(response_id, [])
        return f"{self.base_url}/response/{response_id}"

    def responses(self, id_or_url: str) -> list[dict[str, Any]]:
        """JSON bodies POSTed to a response_url, in order."""
        with self._lock:
            return list(self._responses.get(id_or_url.rstrip("/").rsplit("/", 1)[-1], []))

    def wait_for_response(
        self, id_or_url: str, count: int = 1, timeout: float = 5
    ) -> list[dict[str, Any]]:
        return wait_until(
            lambda: self._responses_at_least(id_or_url, count),
            timeout,
            lambda: f"expected {count} response(s) at {id_or_url}",
        )

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

    # --- HTTP ---------------------------------------------------------------------------------
    def _make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/response/{response_id}", self._response)
        app.router.add_get("/socket", self.socket.handle)
        app.on_shutdown.append(self.socket.close_all)
        return app

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = decode_params(await _read_params(request))
        call = Call(method, params, {k.lower(): v for k, v in request.headers.items()})
        with self._lock:
            self._calls.append(call)
            stub = self._stubs.get(method)
        if fault := self._take_fault(method):
            return fault.response()
        if error := self._auth_error(method, call.token):
            return web.json_response({"ok": False, "error": error})
        if stub is not None:
            return web.json_response(stub)
        scopes = {"x-oauth-scopes": ",".join(self.scopes)} if method == "auth.test" else {}
        return web.json_response(self._dispatch(method, params), headers=scopes)

    def _dispatch(self, method: str, params: Params) -> dict[str, Any]:
        handler = self.workspace.methods().get(method)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        try:
            with self.workspace.lock:
                return handler(params)
        except SlackMethodError as exc:
            return {"ok": False, "error": exc.code}

    def _auth_error(self, method: str, token: str | None) -> str | None:
        if not token:
            return "not_authed"
        if token not in self.tokens and token != self.app_token:
            return "invalid_auth"
        # Slack keeps app-level tokens for apps.connections.open and bot tokens for the rest.
        if (method == "apps.connections.open") != (token == self.app_token):
            return "not_allowed_token_type"
        return None

    async def _upload(self, request: web.Request) -> web.Response:
        if fault := self._take_fault(UPLOAD):
            return fault.response()
        content = await request.read()
        with self.workspace.lock:
            known = self.workspace.receive_upload(request.match_info["file_id"], content)
        if not known:
            return web.Response(status=404, text="file not found")
        return web.Response(text=f"OK - {len(content)}")

    async def _response(self, request: web.Request) -> web.Response:
        if fault := self._take_fault(RESPONSE_URL):
            return fault.response()
        raw = await request.read()
        body = json.loads(raw) if raw else {}
        with self._lock:
            self._responses.setdefault(request.match_info["response_id"], []).append(body)
        return web.Response(text="ok")


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Merge query string and body: AsyncWebClient sends `params=` methods as a query string."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        raw = await request.read()
        params.update(json.loads(raw) if raw else {})
    elif request.content_type == "multipart/form-data":
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    else:
        raw = await request.read()
        params.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    return params
