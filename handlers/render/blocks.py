"""Block Kit builders: blocks and elements as plain dicts, within Slack's limits by construction.

Texts are cut to their limit (plain text with `clip`, mrkdwn with `truncate`); what cannot be cut
without changing meaning (an empty text, too many elements, an overlong id or button value) is a
`ValueError`, because it is a bug in the caller, not something to hide from the user.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from handlers.render.limits import (
    MAX_ACTION_ELEMENTS,
    MAX_ALT_TEXT,
    MAX_BUTTON_TEXT,
    MAX_BUTTON_VALUE,
    MAX_CONTEXT_ELEMENTS,
    MAX_FIELD_TEXT,
    MAX_FIELDS,
    MAX_HEADER,
    MAX_ID,
    MAX_IMAGE_TITLE,
    MAX_TEXT,
    id_ok,
)
from handlers.render.mrkdwn import clip, truncate

Block = dict[str, Any]


def _plain(text: str, limit: int) -> dict[str, Any]:
    if not text:
        raise ValueError("Block Kit text must not be empty")
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def _mrkdwn(text: str, limit: int = MAX_TEXT) -> dict[str, Any]:
    if not text:
        raise ValueError("Block Kit text must not be empty")
    return {"type": "mrkdwn", "text": truncate(text, limit)}


def _checked_id(value: str, what: str) -> str:
    if not id_ok(value):
        raise ValueError(f"{what} must be 1–{MAX_ID} characters, got {len(value)}")
    return value


def header(text: str) -> Block:
    """A header block (plain text, cut to 150 characters)."""
    return {"type": "header", "text": _plain(text, MAX_HEADER)}


def section(text: str, accessory: Block | None = None, *, block_id: str | None = None) -> Block:
    """A mrkdwn section; `text` is mrkdwn already (escape what came from users or clusters)."""
    block: Block = {"type": "section", "text": _mrkdwn(text)}
    if accessory is not None:
        block["accessory"] = accessory
    if block_id is not None:
        block["block_id"] = _checked_id(block_id, "block_id")
    return block


def fields(pairs: Sequence[tuple[str, str]]) -> Block:
    """A section of up to 10 `*label*\\nvalue` fields (mrkdwn; values cut to 2000 characters)."""
    if not 1 <= len(pairs) <= MAX_FIELDS:
        raise ValueError(f"a section holds 1–{MAX_FIELDS} fields, got {len(pairs)}")
    items = [
        _mrkdwn(f"*{label}*\n{value}" if label else value, MAX_FIELD_TEXT) for label, value in pairs
    ]
    return {"type": "section", "fields": items}


def context(*texts: str) -> Block:
    """A context block of up to 10 mrkdwn elements."""
    if not 1 <= len(texts) <= MAX_CONTEXT_ELEMENTS:
        raise ValueError(f"a context holds 1–{MAX_CONTEXT_ELEMENTS} elements, got {len(texts)}")
    return {"type": "context", "elements": [_mrkdwn(t) for t in texts]}


def divider() -> Block:
    return {"type": "divider"}


def confirm_dialog(title: str, text: str, confirm: str = "Confirm", deny: str = "Cancel") -> Block:
    """The confirmation dialog object a button can carry."""
    return {
        "title": _plain(title, 100),
        "text": _plain(text, 300),
        "confirm": _plain(confirm, 30),
        "deny": _plain(deny, 30),
    }


def button(
    text: str,
    action_id: str,
    value: str,
    style: Literal["primary", "danger"] | None = None,
    confirm: Block | None = None,
) -> Block:
    """A button element; a value over 2000 characters is an error, never silently cut."""
    if len(value) > MAX_BUTTON_VALUE:
        raise ValueError(
            f"button value is {len(value)} characters; Slack allows {MAX_BUTTON_VALUE}"
        )
    element: Block = {
        "type": "button",
        "text": _plain(text, MAX_BUTTON_TEXT),
        "action_id": _checked_id(action_id, "action_id"),
        "value": value,
    }
    if style is not None:
        element["style"] = style
    if confirm is not None:
        element["confirm"] = confirm
    return element


def actions(*elements: Block, block_id: str | None = None) -> Block:
    """An actions block of 1–25 interactive elements."""
    if not 1 <= len(elements) <= MAX_ACTION_ELEMENTS:
        raise ValueError(
            f"an actions block holds 1–{MAX_ACTION_ELEMENTS} elements, got {len(elements)}"
        )
    block: Block = {"type": "actions", "elements": list(elements)}
    if block_id is not None:
        block["block_id"] = _checked_id(block_id, "block_id")
    return block


def image(
    image_url: str | None = None,
    slack_file_id: str | None = None,
    alt_text: str = "",
    title: str | None = None,
) -> Block:
    """An image block from a public URL or from a file already uploaded to Slack."""
    if (image_url is None) == (slack_file_id is None):
        raise ValueError("give exactly one of image_url or slack_file_id")
    block: Block = {"type": "image", "alt_text": clip(alt_text or "image", MAX_ALT_TEXT)}
    if slack_file_id is not None:
        block["slack_file"] = {"id": slack_file_id}
    else:
        block["image_url"] = image_url
    if title:
        block["title"] = _plain(title, MAX_IMAGE_TITLE)
    return block
