"""Uploading a chart so Slack will show it: shared to the channel that will reference it, and
only referenced once Slack has finished processing it.

Slack refuses (`invalid_blocks`) an image block whose `slack_file` the viewers cannot open: a
file not shared in that channel, any file in an ephemeral or response_url message, and a file
still being processed after `files.completeUploadExternal`. So: upload with `channel`, then poll
`files.info` until the file has its `mimetype`/thumbnails, a bounded number of times.
"""

from __future__ import annotations

import asyncio
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

READY_TRIES = 8  # files.info polls before giving up on a file
READY_PAUSE_SECONDS = 0.25  # the first pause between polls; doubles, at most 2 s


class FileNotReady(Exception):
    """Slack had not processed the upload after READY_TRIES polls."""


async def upload_ready(
    client: AsyncWebClient,
    *,
    content: bytes,
    filename: str,
    title: str,
    channel: str,
    thread_ts: str | None = None,
    tries: int = READY_TRIES,
) -> str:
    """Upload `content` to `channel` (and thread), wait until Slack processed it; its file id.

    Raises SlackApiError when Slack refuses the upload, FileNotReady when it never finishes.
    """
    extra: dict[str, Any] = {"thread_ts": thread_ts} if thread_ts else {}
    uploaded = await client.files_upload_v2(
        content=content, filename=filename, title=title, channel=channel, **extra
    )
    data: dict[str, Any] = uploaded.data if isinstance(uploaded.data, dict) else {}
    files = data.get("files") or [data.get("file") or {}]
    file_id = str(files[0].get("id", ""))
    await wait_processed(client, file_id, tries)
    return file_id


async def wait_processed(client: AsyncWebClient, file_id: str, tries: int = READY_TRIES) -> None:
    """Poll files.info until the file shows the fields Slack adds once it is processed."""
    pause = READY_PAUSE_SECONDS
    for attempt in range(max(1, tries)):
        try:
            info = await client.files_info(file=file_id)
        except SlackApiError as error:  # not visible yet right after the upload: try again
            if str(error.response.get("error") or "") != "file_not_found":
                raise
            info = None
        found = (info.get("file") or {}) if info is not None else {}
        if found.get("mimetype") or any(key.startswith("thumb_") for key in found):
            return
        if attempt + 1 < tries:
            await asyncio.sleep(pause)
            pause = min(2.0, pause * 2)
    raise FileNotReady(file_id)
