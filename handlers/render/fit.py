"""`fit`: any message brought within Slack's limits, and the `text` fallback that goes with it.

Every outgoing message goes through `fit` (see `Reply.finished`), so a long answer is cut where
it can be cut safely and Slack never rejects it with `invalid_blocks`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from handlers.render.blocks import Block, context
from handlers.render.limits import (
    MAX_ACTION_ELEMENTS,
    MAX_ALT_TEXT,
    MAX_BLOCKS,
    MAX_BUTTON_TEXT,
    MAX_BUTTON_VALUE,
    MAX_CONTEXT_ELEMENTS,
    MAX_FIELD_TEXT,
    MAX_FIELDS,
    MAX_HEADER,
    MAX_IMAGE_TITLE,
    MAX_TEXT,
    MAX_URL,
    id_ok,
)
from handlers.render.mrkdwn import clip, truncate


def fit(blocks: Sequence[Block], more_label: Callable[[int], str] | None = None) -> list[Block]:
    """Return a copy of `blocks` within Slack's limits; idempotent, never mutates its input.

    Over 50 blocks, the tail becomes one "…and N more" context (N counts hidden non-divider
    blocks); a trailing actions block is kept, so the buttons survive.
    """
    kept = _unique_block_ids([b for b in map(_fit_block, blocks) if b is not None])
    if len(kept) <= MAX_BLOCKS:
        return kept
    tail = kept[-1:] if kept[-1].get("type") == "actions" else []
    body = kept[: MAX_BLOCKS - 1 - len(tail)]
    hidden = kept[len(body) : len(kept) - len(tail)]
    count = sum(b.get("type") != "divider" for b in hidden) or len(hidden)
    label = (more_label or _more)(count) or _more(count)
    return [*body, context(label), *tail]


def message_text_fallback(blocks: Sequence[Block]) -> str:
    """The message `text` (notification and accessibility fallback), at most 3000 characters."""
    lines: list[str] = []
    for block in blocks:
        texts = [block.get("text"), *(block.get("fields") or [])]
        if block.get("type") == "context":
            texts = list(block.get("elements") or [])
        lines += [
            t["text"] for t in texts if isinstance(t, dict) and isinstance(t.get("text"), str)
        ]
    return truncate("\n".join(line for line in lines if line), MAX_TEXT)


def _more(count: int) -> str:
    return f"…and {count} more"


def _unique_block_ids(blocks: list[Block]) -> list[Block]:
    seen: set[str] = set()
    for block in blocks:
        block_id = block.get("block_id")
        if block_id in seen:
            del block["block_id"]  # Slack rejects repeats; the id is optional
        elif block_id is not None:
            seen.add(block_id)
    return blocks


def _fit_block(block: Block) -> Block | None:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        return None
    fixed = copy.deepcopy(block)
    if "block_id" in fixed and not id_ok(fixed["block_id"]):
        del fixed["block_id"]
    fixer = _FIXERS.get(fixed["type"])
    return fixer(fixed) if fixer is not None else fixed


def _fit_text(obj: Any, limit: int, kinds: tuple[str, ...] = ("plain_text", "mrkdwn")) -> Any:
    if not isinstance(obj, dict) or obj.get("type") not in kinds:
        return None
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return None
    return {**obj, "text": (truncate if obj["type"] == "mrkdwn" else clip)(text, limit)}


def _put(block: Block, key: str, value: Any) -> None:
    if value:
        block[key] = value
    else:
        block.pop(key, None)


def _fit_header(block: Block) -> Block | None:
    block["text"] = _fit_text(block.get("text"), MAX_HEADER, ("plain_text",))
    return block if block["text"] else None


def _fit_section(block: Block) -> Block | None:
    _put(block, "text", _fit_text(block.get("text"), MAX_TEXT))
    items = [_fit_text(f, MAX_FIELD_TEXT) for f in block.get("fields") or []]
    _put(block, "fields", [f for f in items if f][:MAX_FIELDS])
    if "accessory" in block:
        _put(block, "accessory", _fit_element(block["accessory"]))
    return block if "text" in block or "fields" in block else None


def _fit_context(block: Block) -> Block | None:
    items = [
        _fit_image(e)
        if isinstance(e, dict) and e.get("type") == "image"
        else _fit_text(e, MAX_TEXT)
        for e in block.get("elements") or []
    ]
    block["elements"] = [e for e in items if e][:MAX_CONTEXT_ELEMENTS]
    return block if block["elements"] else None


def _fit_actions(block: Block) -> Block | None:
    elements: list[Block] = []
    seen: set[str] = set()
    for element in map(_fit_element, block.get("elements") or []):
        if element is None or element.get("action_id") in seen:
            continue  # Slack requires action_ids to be unique within a block
        seen.add(element.get("action_id", ""))
        elements.append(element)
    block["elements"] = elements[:MAX_ACTION_ELEMENTS]
    return block if block["elements"] else None


def _fit_element(element: Any) -> Block | None:
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        return None
    if "action_id" in element and not id_ok(element["action_id"]):
        return None
    if element["type"] == "image":
        return _fit_image(element)
    if element["type"] != "button":
        return element
    text = _fit_text(element.get("text"), MAX_BUTTON_TEXT, ("plain_text",))
    value, url = str(element.get("value") or ""), str(element.get("url") or "")
    if text is None or len(value) > MAX_BUTTON_VALUE or len(url) > MAX_URL:
        return None  # cutting a value or URL would silently change what the button does
    return {**element, "text": text}


def _fit_image(block: Block) -> Block | None:
    url, slack_file = block.get("image_url"), block.get("slack_file")
    if not ((isinstance(url, str) and 0 < len(url) <= MAX_URL) or isinstance(slack_file, dict)):
        return None
    block["alt_text"] = clip(str(block.get("alt_text") or "image"), MAX_ALT_TEXT)
    if "title" in block:
        _put(block, "title", _fit_text(block["title"], MAX_IMAGE_TITLE, ("plain_text",)))
    return block


_FIXERS: dict[str, Callable[[Block], Block | None]] = {
    "header": _fit_header,
    "section": _fit_section,
    "context": _fit_context,
    "actions": _fit_actions,
    "image": _fit_image,
}
