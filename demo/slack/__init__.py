"""A local Slack: the Web API, file uploads and response_urls, for `demo`, `console` and `ask`.

It speaks Slack's wire format on 127.0.0.1 so the real app pipeline (slack_sdk client,
respond(), files_upload_v2) runs unchanged with no Slack workspace, and it refuses what real
Slack refuses (bad Block Kit, missing arguments, unknown channels). The tests' Slack stand-in
is this same fake served from a thread, with fault injection on top.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from demo.slack.server import RESPONSE_URL, UPLOAD, Call, Said, SlackFake, ratelimited, slack_error
from demo.slack.workspace import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    TEAM_ID,
    SlackMethodError,
    Upload,
    Workspace,
)

LOCAL_TEAM = "TLOCAL"  # the team the local session's requests claim

__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_USER_ID",
    "RESPONSE_URL",
    "TEAM_ID",
    "UPLOAD",
    "Call",
    "LocalSlack",
    "Said",
    "SlackFake",
    "SlackMethodError",
    "Upload",
    "Workspace",
    "ratelimited",
    "slack_error",
]


class LocalSlack(SlackFake):
    """The fake served in the running event loop; uploaded files are saved under `files_dir`."""

    def __init__(
        self,
        *,
        users: dict[str, dict[str, Any]] | None = None,
        usergroups: dict[str, list[str]] | None = None,
        files_dir: Path | None = None,
    ) -> None:
        # Any bot token: the local app runs with whatever token its settings carry.
        super().__init__(
            tokens=None, app_token=None, users=users, usergroups=usergroups, team_id=LOCAL_TEAM
        )
        self.files_dir = files_dir
        self._paths: dict[str, str] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, key: str | None = None) -> str:
        """A response_url for one request (Slack issues a fresh one with each)."""
        return self.new_response_url(key)

    def image_paths(self) -> dict[str, str]:
        """Where each uploaded file was saved, by Slack file id."""
        with self._lock:
            return dict(self._paths)

    async def start(self) -> LocalSlack:
        self._runner = web.AppRunner(self.make_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.workspace.base_url = f"http://127.0.0.1:{self.port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def uploaded(self, upload: Upload) -> None:
        if self.files_dir is None or upload.content is None:
            return
        self.files_dir.mkdir(parents=True, exist_ok=True)
        path = self.files_dir / f"{upload.file_id}-{Path(upload.filename).name}"
        path.write_bytes(upload.content)
        with self._lock:
            self._paths[upload.file_id] = str(path)
