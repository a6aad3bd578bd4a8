"""The state behind the local Slack: channels, messages, views, users, user groups and uploads.

Each Web API method is a plain function of its params answering Slack's JSON, as strict as real
Slack about what it accepts (required arguments, Block Kit, channel membership); the HTTP layer
in `server.py` does auth and recording. Never reaches the real Slack.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from demo.slack.blocks import blocks_problems, view_problems

TEAM_ID = "T0TEST"
APP_ID = "A0COSTBOT"
BOT_ID = "B0COSTBOT"
BOT_USER_ID = "U0COSTBOT"

Params = dict[str, Any]
Reply = dict[str, Any]

# Fields slack_sdk sends JSON-encoded inside form bodies; decoded so callers see one shape.
JSON_FIELDS = frozenset({"blocks", "attachments", "metadata", "view", "files", "users"})

# Channel, DM and group ids (a user id opens a DM); names like "#general" are not resolved.
CHANNEL_ID = re.compile(r"[CDGU][A-Z0-9]+")
MAX_TEXT = 40_000
MAX_RESPONSES = 5  # Slack takes at most five posts to one response_url


class SlackMethodError(Exception):
    """A Web API error: answered as HTTP 200 `{"ok": false, "error": code}` (+ what was wrong)."""

    def __init__(self, code: str, problems: Sequence[str] = ()) -> None:
        super().__init__(code)
        self.code = code
        self.problems = list(problems)

    def reply(self) -> Reply:
        """Slack's error shape: invalid_blocks and invalid_arguments say what was wrong."""
        if not self.problems:
            return {"ok": False, "error": self.code}
        messages = [f"[ERROR] {problem}" for problem in self.problems]
        return {
            "ok": False,
            "error": self.code,
            "errors": list(self.problems),
            "response_metadata": {"messages": messages},
        }


@dataclass
class Upload:
    """One file taken through files.getUploadURLExternal → upload URL → completeUploadExternal."""

    file_id: str
    filename: str
    length: int
    content: bytes | None = None
    title: str | None = None
    completed: bool = False
    channel_id: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None
    # Slack processes a file (thumbnails) after completeUploadExternal; here it is processed
    # once files.info has been asked about it `pending_polls` times, so a bot that references
    # a file before checking it is ready is refused, deterministically.
    pending_polls: int = 1

    @property
    def processed(self) -> bool:
        return self.completed and self.pending_polls <= 0


@dataclass
class Workspace:
    """One fake Slack workspace. All methods are called under `lock` by the HTTP layer."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    team_id: str = TEAM_ID
    base_url: str = ""
    ts_base: int = field(default_factory=lambda: int(time.time()))
    lock: threading.RLock = field(default_factory=threading.RLock)
    channels: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ephemerals: list[dict[str, Any]] = field(default_factory=list)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    home_views: dict[str, dict[str, Any]] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)
    responses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Channels the bot is not a member of, and archived ones; every other id is a joined channel.
    left: set[str] = field(default_factory=set)
    archived: set[str] = field(default_factory=set)
    processing_polls: int = 1  # files.info calls before an upload counts as processed
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def methods(self) -> dict[str, Callable[[Params], Reply]]:
        return {
            "auth.test": self.auth_test,
            "chat.postMessage": self.chat_post_message,
            "chat.postEphemeral": self.chat_post_ephemeral,
            "chat.update": self.chat_update,
            "chat.delete": self.chat_delete,
            "conversations.history": self.conversations_history,
            "conversations.open": self.conversations_open,
            "views.open": self.views_open,
            "views.push": self.views_open,
            "views.update": self.views_update,
            "views.publish": self.views_publish,
            "users.info": self.users_info,
            "usergroups.list": self.usergroups_list,
            "usergroups.users.list": self.usergroups_users_list,
            "files.getUploadURLExternal": self.files_get_upload_url,
            "files.completeUploadExternal": self.files_complete_upload,
            "files.info": self.files_info,
            "apps.connections.open": self.apps_connections_open,
        }

    # --- ids ----------------------------------------------------------------------------------
    def next_ts(self) -> str:
        """Strictly increasing message timestamps near the stand-in's start time."""
        micros = next(self._ids) * 100
        return f"{self.ts_base + micros // 1_000_000}.{micros % 1_000_000:06d}"

    def next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}"

    # --- auth / apps --------------------------------------------------------------------------
    def auth_test(self, params: Params) -> Reply:
        return {
            "ok": True,
            "url": "https://costbot-test.slack.com/",
            "team": "Costbot Test",
            "user": "costbot",
            "team_id": self.team_id,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def apps_connections_open(self, params: Params) -> Reply:
        ws_base = self.base_url.replace("http://", "ws://", 1)
        return {"ok": True, "url": f"{ws_base}/socket?ticket={self.next_id('t')}&app_id={APP_ID}"}

    # --- chat ---------------------------------------------------------------------------------
    def chat_post_message(self, params: Params) -> Reply:
        channel = self._channel(params)
        _check_content(params)
        self._check_files(params, channel)
        message = self._message(params, self.next_ts())
        self.channels.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": dict(message)}

    def chat_post_ephemeral(self, params: Params) -> Reply:
        channel = self._channel(params)
        user = _required(params, "user", "user_not_in_channel")
        _check_content(params)
        self._check_files(params, None)
        message = {**self._message(params, self.next_ts()), "channel": channel, "to_user": user}
        self.ephemerals.append(message)
        return {"ok": True, "message_ts": message["ts"]}

    def chat_update(self, params: Params) -> Reply:
        channel = self._channel(params)
        message = self._find(channel, _required(params, "ts", "message_not_found"))
        _check_content(params, required=False)
        self._check_files(params, channel)
        for key in ("text", "blocks", "attachments", "metadata"):
            if params.get(key) is not None:
                message[key] = params[key]
        message["edited"] = {"user": BOT_USER_ID, "ts": self.next_ts()}
        reply = {"ok": True, "channel": channel, "ts": message["ts"], "text": message["text"]}
        return {**reply, "message": dict(message)}

    def chat_delete(self, params: Params) -> Reply:
        channel = self._channel(params)
        message = self._find(channel, _required(params, "ts", "message_not_found"))
        self.channels[channel].remove(message)
        return {"ok": True, "channel": channel, "ts": message["ts"]}

    def conversations_history(self, params: Params) -> Reply:
        channel = self._channel(params)
        limit = int(params.get("limit") or 100)
        start = int(str(params.get("cursor") or "0").removeprefix("next:") or 0)
        visible = [m for m in reversed(self.channels.get(channel, [])) if _in_range(m, params)]
        page = visible[start : start + limit]
        with_metadata = _truthy(params.get("include_all_metadata"))
        messages = [_without_metadata(m) if not with_metadata else dict(m) for m in page]
        has_more = start + limit < len(visible)
        cursor = f"next:{start + limit}" if has_more else ""
        return {
            "ok": True,
            "messages": messages,
            "has_more": has_more,
            "pin_count": 0,
            "response_metadata": {"next_cursor": cursor},
        }

    def conversations_open(self, params: Params) -> Reply:
        """A DM with one user (`users=U…`): its id is stable per user, the bot is a member."""
        users = [u for u in str(params.get("users") or "").split(",") if u]
        if len(users) != 1:
            raise SlackMethodError("users_list_not_supplied" if not users else "not_supported")
        if users[0] not in self.users and not CHANNEL_ID.fullmatch(users[0]):
            raise SlackMethodError("user_not_found")
        channel = "D" + users[0].removeprefix("U")
        self.channels.setdefault(channel, [])
        return {"ok": True, "channel": {"id": channel, "is_im": True, "user": users[0]}}

    def _check_files(self, params: Params, channel: str | None) -> None:
        """Image blocks may show a Slack file only where every viewer may open it: a file
        shared to this very channel and already processed; never in an ephemeral message or
        a response_url reply (Slack answers those with invalid_blocks)."""
        problems = []
        for ref in _file_refs(params.get("blocks")):
            upload = self.uploads.get(ref) or self._by_url(ref)
            if channel is None:
                problems.append(f"slack_file {ref}: files cannot be shown in ephemeral messages")
            elif upload is None or not upload.completed:
                problems.append(f"slack_file {ref}: no such file")
            elif upload.channel_id != channel:
                problems.append(f"slack_file {ref}: the file is not shared in {channel}")
            elif not upload.processed:
                problems.append(f"slack_file {ref}: the file is still being processed")
        if problems:
            raise SlackMethodError("invalid_blocks", problems)

    def _by_url(self, url: str) -> Upload | None:
        return next((u for u in self.uploads.values() if _file_url(u) == url), None)

    def _channel(self, params: Params) -> str:
        """The `channel` param as Slack checks it: an id, joined by the bot, not archived."""
        channel = _required(params, "channel", "channel_not_found")
        if not CHANNEL_ID.fullmatch(channel):
            raise SlackMethodError("channel_not_found")
        if channel in self.archived:
            raise SlackMethodError("is_archived")
        if channel in self.left:
            raise SlackMethodError("not_in_channel")
        return channel

    def _message(self, params: Params, ts: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "text": params.get("text") or "",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": self.team_id,
            "ts": ts,
        }
        for key in ("blocks", "attachments", "metadata", "thread_ts"):
            if params.get(key) is not None:
                message[key] = params[key]
        return message

    def _find(self, channel: str, ts: str) -> dict[str, Any]:
        for message in self.channels.get(channel, []):
            if message["ts"] == ts:
                return message
        raise SlackMethodError("message_not_found")

    # --- views --------------------------------------------------------------------------------
    def views_open(self, params: Params) -> Reply:
        _required(params, "trigger_id", "invalid_trigger_id")
        return {"ok": True, "view": self._store_view(self.next_id("V"), params)}

    def views_update(self, params: Params) -> Reply:
        view_id = params.get("view_id") or self._by_external_id(params.get("external_id"))
        if view_id not in self.views:
            raise SlackMethodError("not_found")
        if params.get("hash") and params["hash"] != self.views[str(view_id)]["hash"]:
            raise SlackMethodError("hash_conflict")  # the view changed since the caller read it
        return {"ok": True, "view": self._store_view(str(view_id), params)}

    def views_publish(self, params: Params) -> Reply:
        user_id = _required(params, "user_id", "user_not_found")
        previous = self.home_views.get(user_id)
        view = self._store_view(previous["id"] if previous else self.next_id("V"), params)
        self.home_views[user_id] = view
        return {"ok": True, "view": view}

    def _store_view(self, view_id: str, params: Params) -> dict[str, Any]:
        view = params.get("view")
        if problems := view_problems(view):
            raise SlackMethodError("invalid_arguments", problems)
        assert isinstance(view, dict)  # view_problems accepts only objects
        stored = {
            "id": view_id,
            "team_id": self.team_id,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
            "state": {"values": {}},
            "hash": f"{time.time():.6f}.{view_id}",
            "root_view_id": view_id,
            "previous_view_id": None,
            "private_metadata": "",
            "callback_id": "",
            "external_id": "",
            **view,
        }
        self.views[view_id] = stored
        return dict(stored)

    def _by_external_id(self, external_id: Any) -> str | None:
        for view_id, view in self.views.items():
            if external_id and view.get("external_id") == external_id:
                return view_id
        return None

    # --- response_urls ------------------------------------------------------------------------
    def new_response_url(self, response_id: str | None = None) -> str:
        """A response_url the bot may answer on (at most MAX_RESPONSES times, as in Slack)."""
        response_id = response_id or f"R{next(self._ids):05d}"
        self.responses.setdefault(response_id, [])
        return f"{self.base_url}/response/{response_id}"

    def receive_response(self, response_id: str, raw: bytes) -> tuple[int, str]:
        """One POST to a response_url: Slack's (status, body) answer; only accepted ones kept."""
        if response_id not in self.responses:
            return 404, "invalid_url"
        if len(self.responses[response_id]) >= MAX_RESPONSES:
            return 404, "used_url"
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return 400, "invalid_payload"
        if not isinstance(body, dict):
            return 400, "invalid_payload"
        if not body.get("delete_original"):
            try:
                _check_content(body)
                self._check_files(body, None)  # a response_url message is never a file's home
            except SlackMethodError as error:
                return 400, error.code
        self.responses[response_id].append(body)
        return 200, "ok"

    # --- users --------------------------------------------------------------------------------
    def users_info(self, params: Params) -> Reply:
        user_id = str(params.get("user") or "")
        if user_id not in self.users:
            raise SlackMethodError("user_not_found")
        return {"ok": True, "user": slack_user(user_id, self.users[user_id], self.team_id)}

    def usergroups_list(self, params: Params) -> Reply:
        include_users = _truthy(params.get("include_users"))
        groups = []
        for group_id, members in self.usergroups.items():
            group: dict[str, Any] = {
                "id": group_id,
                "team_id": self.team_id,
                "is_usergroup": True,
                "name": group_id,
                "handle": group_id.lower(),
                "date_delete": 0,
                "user_count": len(members),
            }
            if include_users:
                group["users"] = list(members)
            groups.append(group)
        return {"ok": True, "usergroups": groups}

    def usergroups_users_list(self, params: Params) -> Reply:
        group_id = str(params.get("usergroup") or "")
        if group_id not in self.usergroups:
            raise SlackMethodError("no_such_subteam")
        return {"ok": True, "users": list(self.usergroups[group_id])}

    # --- files --------------------------------------------------------------------------------
    def files_get_upload_url(self, params: Params) -> Reply:
        filename = _required(params, "filename", "invalid_arguments")
        length = int(_required(params, "length", "invalid_arguments"))
        file_id = self.next_id("F")
        self.uploads[file_id] = Upload(file_id=file_id, filename=filename, length=length)
        return {"ok": True, "upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def receive_upload(self, file_id: str, content: bytes) -> bool:
        upload = self.uploads.get(file_id)
        if upload is None:
            return False
        upload.content = content
        return True

    def files_complete_upload(self, params: Params) -> Reply:
        files = params.get("files")
        if not isinstance(files, list) or not files:
            raise SlackMethodError("invalid_arguments")
        if params.get("channel_id"):
            self._channel({"channel": params["channel_id"]})
        done = [self._complete(entry, params) for entry in files]
        return {"ok": True, "files": [_file_object(upload) for upload in done]}

    def files_info(self, params: Params) -> Reply:
        """The file object; `mimetype` and thumbnails appear once it is processed."""
        upload = self.uploads.get(str(params.get("file") or ""))
        if upload is None or not upload.completed:
            raise SlackMethodError("file_not_found")
        upload.pending_polls -= 1
        return {"ok": True, "file": _file_object(upload)}

    def _complete(self, entry: Mapping[str, Any], params: Params) -> Upload:
        upload = self.uploads.get(str(entry.get("id")))
        if upload is None or upload.content is None:
            raise SlackMethodError("file_not_found")
        upload.title = entry.get("title") or upload.filename
        upload.pending_polls = self.processing_polls
        upload.completed = True
        upload.channel_id = params.get("channel_id")
        upload.thread_ts = params.get("thread_ts")
        upload.initial_comment = params.get("initial_comment")
        return upload


def slack_user(user_id: str, spec: Mapping[str, Any], team_id: str = TEAM_ID) -> dict[str, Any]:
    """A users.info `user` object from {email, tz, deleted, is_bot, real_name}."""
    tz = str(spec.get("tz") or "UTC")
    offset = datetime.now(UTC).astimezone(ZoneInfo(tz)).utcoffset()
    real_name = str(spec.get("real_name") or user_id)
    profile: dict[str, Any] = {"real_name": real_name, "display_name": real_name}
    if spec.get("email"):
        profile["email"] = spec["email"]
    return {
        "id": user_id,
        "team_id": team_id,
        "name": real_name.lower().replace(" ", "."),
        "deleted": bool(spec.get("deleted", False)),
        "real_name": real_name,
        "tz": tz,
        "tz_label": tz,
        "tz_offset": int(offset.total_seconds()) if offset else 0,
        "is_bot": bool(spec.get("is_bot", False)),
        "is_admin": False,
        "profile": profile,
    }


def decode_params(params: Mapping[str, Any]) -> Params:
    """Form bodies carry blocks/metadata/view/files as JSON strings; decode them."""
    decoded = dict(params)
    for key in JSON_FIELDS & decoded.keys():
        value = decoded[key]
        if isinstance(value, str) and value[:1] in ("[", "{"):
            with contextlib.suppress(json.JSONDecodeError):  # left as is: the method refuses it
                decoded[key] = json.loads(value)
    return decoded


def _file_object(upload: Upload) -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": upload.file_id,
        "name": upload.filename,
        "title": upload.title,
        "size": len(upload.content or b""),
        "created": int(time.time()),
        "user": BOT_USER_ID,
        "channels": [upload.channel_id] if upload.channel_id else [],
        "url_private": _file_url(upload),
    }
    if upload.processed:  # as in Slack, these appear only when processing is done
        found |= {
            "mimetype": "image/png" if upload.filename.endswith(".png") else "text/plain",
            "filetype": upload.filename.rpartition(".")[2] or "text",
            "thumb_360": _file_url(upload) + "/thumb_360",
        }
    return found


def _file_url(upload: Upload) -> str:
    return f"https://files.slack.test/files-pri/{TEAM_ID}-{upload.file_id}/{upload.filename}"


def _file_refs(blocks: Any) -> list[str]:
    """The id (or url) of every `slack_file` anywhere in `blocks`."""
    found: list[str] = []
    if isinstance(blocks, Mapping):
        ref = blocks.get("slack_file")
        if isinstance(ref, Mapping):
            found.append(str(ref.get("id") or ref.get("url") or ""))
        for value in blocks.values():
            found += _file_refs(value)
    elif isinstance(blocks, list):
        for item in blocks:
            found += _file_refs(item)
    return found


def _required(params: Params, key: str, error: str) -> str:
    value = params.get(key)
    if value is None or value == "":
        raise SlackMethodError(error)
    return str(value)


def _check_content(params: Params, *, required: bool = True) -> None:
    """Text, blocks and metadata as chat.* methods check them, blocks against Block Kit."""
    if required and not any(params.get(key) for key in ("text", "blocks", "attachments")):
        raise SlackMethodError("no_text")
    if len(str(params.get("text") or "")) > MAX_TEXT:
        raise SlackMethodError("msg_too_long")
    if isinstance(params.get("blocks"), str):
        raise SlackMethodError("invalid_blocks_format")
    if params.get("blocks") is not None and (problems := blocks_problems(params["blocks"])):
        raise SlackMethodError("invalid_blocks", problems)
    metadata = params.get("metadata")
    if metadata is not None and not (
        isinstance(metadata, dict)
        and isinstance(metadata.get("event_type"), str)
        and isinstance(metadata.get("event_payload"), dict)
    ):
        raise SlackMethodError("invalid_metadata_format")


def _truthy(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


def _in_range(message: Mapping[str, Any], params: Params) -> bool:
    if message.get("thread_ts") not in (None, message["ts"]):
        return False  # replies live in their thread, not in the channel history
    ts = float(message["ts"])
    inclusive = _truthy(params.get("inclusive"))
    oldest, latest = params.get("oldest"), params.get("latest")
    if oldest not in (None, "") and (ts < float(oldest) or (ts == float(oldest) and not inclusive)):
        return False
    return latest in (None, "") or ts < float(latest) or (ts == float(latest) and inclusive)


def _without_metadata(message: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in message.items() if key != "metadata"}


def normalise_users(users: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    return {user_id: dict(spec) for user_id, spec in (users or {}).items()}


def normalise_groups(groups: Mapping[str, Sequence[str]] | None) -> dict[str, list[str]]:
    return {group_id: list(members) for group_id, members in (groups or {}).items()}
