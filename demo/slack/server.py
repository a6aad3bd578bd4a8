"""Slack's Web API, file upload URLs and response_urls over HTTP, on top of a `Workspace`.

`SlackFake` builds the aiohttp application and does what Slack's front door does: reads form,
query and JSON params alike, checks the token, answers unknown methods, and records every call
and everything the bot said. Serving it (in the running loop, or in a thread for tests) and any
fault injection are left to subclasses through `intercept` and `answer`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from bot.doctor import BOT_SCOPES
from demo.slack.oidc import OidcProvider, authorize_page, authorize_problem, redirect_with_code
from demo.slack.workspace import (
    Params,
    Reply,
    SlackMethodError,
    Upload,
    Workspace,
    decode_params,
    normalise_groups,
    normalise_users,
)

# intercept() keys beside Web API method names: the file upload URL and the response_url sink.
UPLOAD = "upload"
RESPONSE_URL = "response_url"

# What the bot said, by the method that said it (response_url posts are "response").
SAID_KINDS = {
    "chat.postMessage": "message",
    "chat.postEphemeral": "ephemeral",
    "chat.update": "update",
    "views.open": "view",
    "views.push": "view",
    "views.update": "view",
    "views.publish": "home",
    "files.completeUploadExternal": "file",
}


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
class Said:
    """One thing the bot said: a response_url reply, a message, a view or an upload."""

    kind: str  # response | message | ephemeral | update | view | home | file
    payload: dict[str, Any]


def slack_error(error: str, status: int = 200, retry_after: int | None = None) -> web.Response:
    """Slack's error reply: `{"ok": false, "error": ...}`; a 429 carries `Retry-After`."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return web.json_response({"ok": False, "error": error}, status=status, headers=headers)


def ratelimited(retry_after: int = 1) -> web.Response:
    """What Slack answers a caller over a method's rate limit."""
    return slack_error("ratelimited", status=429, retry_after=retry_after)


class SlackFake:
    """One workspace behind Slack's HTTP surface. Thread-safe: state lives under one lock."""

    def __init__(
        self,
        *,
        tokens: Iterable[str] | None = ("xoxb-test",),
        app_token: str | None = "xapp-test",  # noqa: S107 - the fake's own fake token
        users: Mapping[str, Mapping[str, Any]] | None = None,
        usergroups: Mapping[str, Sequence[str]] | None = None,
        team_id: str | None = None,
        ts_base: int | None = None,
    ) -> None:
        """`tokens=None` takes any `xoxb-` token and `app_token=None` any `xapp-` one."""
        self.tokens = set(tokens) if tokens is not None else None
        self.app_token = app_token
        # What auth.test reports in `x-oauth-scopes`, as Slack does: the app's granted scopes.
        self.scopes: list[str] = list(BOT_SCOPES)
        self.workspace = Workspace(
            users=normalise_users(users), usergroups=normalise_groups(usergroups)
        )
        if team_id is not None:
            self.workspace.team_id = team_id
        if ts_base is not None:
            self.workspace.ts_base = ts_base
        self._lock = self.workspace.lock
        self.oidc = OidcProvider()  # Sign in with Slack: authorize, token, userInfo, JWKS
        self._calls: list[Call] = []
        self._said: list[Said] = []

    # --- what happened ------------------------------------------------------------------------
    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    @property
    def said(self) -> list[Said]:
        """Everything the bot said, in order: messages, views, uploads, response_url replies."""
        with self._lock:
            return list(self._said)

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Messages stored in `channel`, oldest first, thread replies included."""
        with self._lock:
            return [dict(message) for message in self.workspace.channels.get(channel, [])]

    def ephemerals(self, channel: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            found = self.workspace.ephemerals
            return [dict(m) for m in found if channel is None or m["channel"] == channel]

    @property
    def uploads(self) -> list[Upload]:
        with self._lock:
            return list(self.workspace.uploads.values())

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self.workspace.home_views.get(user_id)

    def view(self, view_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self.workspace.views.get(view_id)

    # --- workspace set-up ---------------------------------------------------------------------
    def set_user(self, user_id: str, **spec: Any) -> None:
        """Add or replace a users.info user: email=, tz=, deleted=, is_bot=, real_name=."""
        with self._lock:
            self.workspace.users[user_id] = dict(spec)

    def set_usergroup(self, group_id: str, members: Sequence[str]) -> None:
        with self._lock:
            self.workspace.usergroups[group_id] = list(members)

    def set_channel(self, channel: str, *, member: bool = True, archived: bool = False) -> None:
        """Whether the bot is in `channel` (else not_in_channel) and whether it is archived."""
        with self._lock:
            (self.workspace.left.discard if member else self.workspace.left.add)(channel)
            (self.workspace.archived.add if archived else self.workspace.archived.discard)(channel)

    # --- response_urls ------------------------------------------------------------------------
    def new_response_url(self, response_id: str | None = None) -> str:
        """A fresh response_url; POSTs to it are kept for `responses()`."""
        with self._lock:
            return self.workspace.new_response_url(response_id)

    def responses(self, id_or_url: str) -> list[dict[str, Any]]:
        """JSON bodies accepted at a response_url, in order."""
        with self._lock:
            found = self.workspace.responses.get(_response_id(id_or_url), [])
            return list(found)

    # --- hooks for subclasses -----------------------------------------------------------------
    def intercept(self, key: str) -> web.Response | None:
        """A reply that pre-empts `key` (a method, UPLOAD or RESPONSE_URL); None to go on."""
        return None

    def answer(self, method: str, params: Params) -> Reply:
        """A method's JSON reply once the caller is authenticated."""
        handler = self.workspace.methods().get(method)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        try:
            with self._lock:
                return handler(params)
        except SlackMethodError as exc:
            return exc.reply()

    # --- HTTP ---------------------------------------------------------------------------------
    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=32 << 20)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/response/{response_id}", self._response)
        app.router.add_route("*", "/openid/connect/authorize", self._authorize)
        app.router.add_get("/openid/connect/keys", self._keys)
        return app

    async def _authorize(self, request: web.Request) -> web.Response:
        """Slack's consent page; `user` (query or form) picks who signs in."""
        query = dict(request.query)
        if request.method == "POST":
            query |= {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        with self._lock:
            problem = authorize_problem(self.oidc, query)
            users = {uid: dict(spec) for uid, spec in self.workspace.users.items()}
        if problem is not None:
            return web.Response(status=400, text=problem)
        user = query.get("user", "")
        if not user:
            return web.Response(text=authorize_page(users, query), content_type="text/html")
        if user not in users:
            return web.Response(status=400, text="no such user")
        with self._lock:
            code = self.oidc.grant(user, query)
        return redirect_with_code(query, code)

    async def _keys(self, _: web.Request) -> web.Response:
        with self._lock:
            return web.json_response(self.oidc.jwks())

    def _openid(self, method: str, call: Call) -> web.Response:
        """openid.connect.token (client credentials, no token) and userInfo (the user's xoxp)."""
        with self._lock:
            users, team = self.workspace.users, self.workspace.team_id
            try:
                if method == "openid.connect.token":
                    reply = self.oidc.token(call.params, users, team)
                else:
                    reply = self.oidc.userinfo(call.token, users, team)
            except SlackMethodError as exc:
                reply = exc.reply()
        return web.json_response(reply)

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            params = decode_params(await _read_params(request))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return slack_error("invalid_json")
        call = Call(method, params, {k.lower(): v for k, v in request.headers.items()})
        with self._lock:
            self._calls.append(call)
        if (early := self.intercept(method)) is not None:
            return early
        if method in ("openid.connect.token", "openid.connect.userInfo"):
            return self._openid(method, call)
        if error := self._auth_error(method, call.token):
            return slack_error(error)
        reply = self.answer(method, params)
        if reply.get("ok") and method in SAID_KINDS:
            self._record(SAID_KINDS[method], _said_payload(params, reply))
        granted = {"x-oauth-scopes": ",".join(self.scopes)} if method == "auth.test" else {}
        return web.json_response(reply, headers=granted)

    def _auth_error(self, method: str, token: str | None) -> str | None:
        if not token:
            return "not_authed"
        is_app = token == self.app_token if self.app_token else token.startswith("xapp-")
        is_bot = token in self.tokens if self.tokens is not None else token.startswith("xoxb-")
        if not (is_app or is_bot):
            return "invalid_auth"
        # Slack keeps app-level tokens for apps.connections.open and bot tokens for the rest.
        if (method == "apps.connections.open") != is_app:
            return "not_allowed_token_type"
        return None

    async def _upload(self, request: web.Request) -> web.Response:
        if (early := self.intercept(UPLOAD)) is not None:
            return early
        content = await request.read()
        with self._lock:
            upload = self.workspace.uploads.get(request.match_info["file_id"])
            known = self.workspace.receive_upload(request.match_info["file_id"], content)
        if not known or upload is None:
            return web.Response(status=404, text="file not found")
        self.uploaded(upload)
        return web.Response(text=f"OK - {len(content)}")

    def uploaded(self, upload: Upload) -> None:
        """Called once a file's bytes arrived (the local Slack saves them to disk)."""

    async def _response(self, request: web.Request) -> web.Response:
        if (early := self.intercept(RESPONSE_URL)) is not None:
            return early
        raw = await request.read()
        with self._lock:
            status, text = self.workspace.receive_response(request.match_info["response_id"], raw)
        if status == 200:
            self._record("response", json.loads(raw))
        return web.Response(status=status, text=text)

    def _record(self, kind: str, payload: dict[str, Any]) -> None:
        with self._lock:
            self._said.append(Said(kind, payload))


def _said_payload(params: Params, reply: Reply) -> dict[str, Any]:
    payload = {key: value for key, value in params.items() if key != "token"}
    if "ts" in reply and "ts" not in payload:
        payload["ts"] = reply["ts"]
    return payload


def _response_id(id_or_url: str) -> str:
    return id_or_url.rstrip("/").rsplit("/", 1)[-1]


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Merge query string and body: AsyncWebClient sends `params=` methods as a query string."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        raw = await request.read()
        body = json.loads(raw) if raw else {}
        params.update(body if isinstance(body, dict) else {})
    elif request.content_type == "multipart/form-data":
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    else:
        raw = await request.read()
        params.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    return params
