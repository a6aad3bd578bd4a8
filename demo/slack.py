"""A local stand-in for Slack's Web API and response_urls, for `demo`, `console` and `ask`.

It speaks Slack's wire format on 127.0.0.1 so the real app pipeline (slack_sdk client,
respond(), files_upload_v2) runs unchanged with no Slack workspace. It keeps what the bot said.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web


@dataclass
class Said:
    """One thing the bot said: a response_url reply, a message, a view or an upload."""

    kind: str  # response | message | ephemeral | update | view | home | file
    payload: dict[str, Any]


@dataclass
class LocalSlack:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    files_dir: Path | None = None
    said: list[Said] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    port: int = 0
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _files: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, key: str = "cli") -> str:
        return f"http://127.0.0.1:{self.port}/response/{key}"

    async def start(self) -> LocalSlack:
        app = web.Application(client_max_size=32 << 20)
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/response/{key}", self._response)
        app.router.add_post("/upload/{file_id}", self._upload)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server: Any = site._server  # aiohttp keeps the bound server private
        sockets = server.sockets if server is not None else []
        self.port = int(sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _record(self, kind: str, payload: dict[str, Any]) -> None:
        self.said.append(Said(kind, payload))
        self.changed.set()

    async def _response(self, request: web.Request) -> web.Response:
        self._record("response", await request.json())
        return web.json_response({"ok": True})

    async def _upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        data = await request.read()
        entry = self._files.setdefault(file_id, {"id": file_id})
        if self.files_dir is not None:
            self.files_dir.mkdir(parents=True, exist_ok=True)
            path = self.files_dir / f"{file_id}-{entry.get('filename', 'file')}"
            path.write_bytes(data)
            entry["path"] = str(path)
        return web.Response(text="OK")

    async def _api(self, request: web.Request) -> web.Response:
        params = await _params(request)
        method = request.match_info["method"]
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        result: dict[str, Any] = handler(params)
        return web.json_response({"ok": True, **result})  # a handler's own "ok" wins

    # --- Web API methods the bot uses ---------------------------------------------------------
    def _m_auth_test(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"user_id": "UCOSTBOT", "bot_id": "BCOSTBOT", "team_id": "TLOCAL", "team": "local"}

    def _next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    def _m_chat_postMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        ts = self._next_ts()
        self._record("message", {**p, "ts": ts})
        return {"channel": p.get("channel"), "ts": ts, "message": {**p, "ts": ts}}

    def _m_chat_postEphemeral(self, p: dict[str, Any]) -> dict[str, Any]:
        self._record("ephemeral", p)
        return {"message_ts": self._next_ts()}

    def _m_chat_update(self, p: dict[str, Any]) -> dict[str, Any]:
        self._record("update", p)
        return {"channel": p.get("channel"), "ts": p.get("ts")}

    def _m_views_open(self, p: dict[str, Any]) -> dict[str, Any]:
        self._record("view", p)
        return {"view": {"id": "VLOCAL", **_json(p.get("view"))}}

    _m_views_update = _m_views_open
    _m_views_push = _m_views_open

    def _m_views_publish(self, p: dict[str, Any]) -> dict[str, Any]:
        self._record("home", p)
        return {"view": {"id": "VHOME", **_json(p.get("view"))}}

    def _m_users_info(self, p: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(p.get("user")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"user": user}

    def _m_usergroups_list(self, _: dict[str, Any]) -> dict[str, Any]:
        groups = [{"id": gid, "users": list(members)} for gid, members in self.usergroups.items()]
        return {"usergroups": groups}

    def _m_conversations_history(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"messages": [], "has_more": False}

    def _m_files_getUploadURLExternal(self, p: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{len(self._files) + 1:08d}"
        self._files[file_id] = {"id": file_id, "filename": p.get("filename", "file")}
        return {"upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, p: dict[str, Any]) -> dict[str, Any]:
        files = _json(p.get("files")) or []
        done = [self._files.get(str(f.get("id")), {"id": f.get("id")}) for f in files]
        self._record("file", {**p, "files": done})
        return {"files": done}


async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        body = await request.json()
        return dict(body) if isinstance(body, dict) else {}
    raw = await request.text() if request.can_read_body else ""
    return dict(parse_qsl(raw, keep_blank_values=True)) | dict(request.query)


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return {}
    return value if value is not None else {}
