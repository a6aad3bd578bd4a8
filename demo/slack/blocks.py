"""Block Kit checks the local Slack applies, so a message real Slack would refuse is refused here.

Written from Slack's published limits, independently of the bot's own renderer: a fake that
shared the bot's validator would agree with the bot's mistakes. Each check returns readable
problem lines; an empty list means Slack would take it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_ID = 255
MAX_URL = 3000

TEXT_TYPES = ("plain_text", "mrkdwn")
INPUT_ELEMENTS = frozenset(
    {
        "plain_text_input",
        "number_input",
        "email_text_input",
        "url_text_input",
        "rich_text_input",
        "file_input",
        "datepicker",
        "timepicker",
        "datetimepicker",
        "checkboxes",
        "radio_buttons",
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "multi_static_select",
        "multi_external_select",
        "multi_users_select",
        "multi_conversations_select",
        "multi_channels_select",
    }
)
ACTION_ELEMENTS = INPUT_ELEMENTS - {"file_input"} | {"button", "overflow", "workflow_button"}
ACCESSORIES = ACTION_ELEMENTS | {"image"}

Problems = list[str]


def text_problems(obj: Any, limit: int, kinds: Sequence[str] = TEXT_TYPES) -> Problems:
    """A text object: one of `kinds`, non-empty, within `limit`; `emoji` only on plain_text.

    Lines have no subject ("is 151 characters; ..."): callers say which text they checked.
    """
    if not isinstance(obj, Mapping) or obj.get("type") not in kinds:
        return [f"must be a {' or '.join(kinds)} text object"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return ["must be a non-empty string"]
    problems = [f"is {len(text)} characters; at most {limit}"] if len(text) > limit else []
    if obj.get("type") == "mrkdwn" and "emoji" in obj:
        problems.append("must not set emoji on mrkdwn")
    return problems


def _id_problems(obj: Mapping[str, Any], key: str) -> Problems:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID:
        return [f"{key} must be 1-{MAX_ID} characters"]
    return []


def _list_problems(items: Any, what: str, limit: int) -> Problems:
    if not isinstance(items, list) or not 1 <= len(items) <= limit:
        return [f"{what} must be a list of 1-{limit}"]
    return []


def _image_problems(obj: Mapping[str, Any]) -> Problems:
    url, has_file = obj.get("image_url"), isinstance(obj.get("slack_file"), Mapping)
    problems = []
    if (url is None) == (not has_file):
        problems.append("needs exactly one of image_url or slack_file")
    if url is not None and (not isinstance(url, str) or not 0 < len(url) <= MAX_URL):
        problems.append(f"image_url must be 1-{MAX_URL} characters")
    alt = obj.get("alt_text")
    if not isinstance(alt, str) or not 0 < len(alt) <= 2000:
        problems.append("alt_text must be 1-2000 characters")
    return problems


def element_problems(element: Any, allowed: frozenset[str]) -> Problems:
    """An interactive element (or image) of one of the `allowed` types."""
    if not isinstance(element, Mapping) or element.get("type") not in allowed:
        kind = element.get("type") if isinstance(element, Mapping) else element
        return [f"element type {kind!r} is not allowed here"]
    problems = _id_problems(element, "action_id")
    if element["type"] == "image":
        return problems + _image_problems(element)
    if element["type"] == "button":
        problems += [f"text {p}" for p in text_problems(element.get("text"), 75, ("plain_text",))]
        if len(str(element.get("value") or "")) > 2000:
            problems.append("value over 2000 characters")
        if len(str(element.get("url") or "")) > MAX_URL:
            problems.append(f"url over {MAX_URL} characters")
        if element.get("style") not in (None, "primary", "danger"):
            problems.append("style must be primary or danger")
    return problems


def _section(block: Mapping[str, Any]) -> Problems:
    text, fields = block.get("text"), block.get("fields")
    if text is None and fields is None:
        return ["needs text or fields"]
    problems = [f"text {p}" for p in text_problems(text, 3000)] if text is not None else []
    if fields is not None:
        problems += _list_problems(fields, "fields", 10)
        for field in fields if isinstance(fields, list) else []:
            problems += [f"field {p}" for p in text_problems(field, 2000)]
    if "accessory" in block:
        problems += [f"accessory {p}" for p in element_problems(block["accessory"], ACCESSORIES)]
    return problems


def _header(block: Mapping[str, Any]) -> Problems:
    return [f"text {p}" for p in text_problems(block.get("text"), 150, ("plain_text",))]


def _context(block: Mapping[str, Any]) -> Problems:
    elements = block.get("elements")
    problems = _list_problems(elements, "elements", 10)
    for element in elements if isinstance(elements, list) else []:
        is_image = isinstance(element, Mapping) and element.get("type") == "image"
        found = _image_problems(element) if is_image else text_problems(element, 3000)
        problems += [f"element {p}" for p in found]
    return problems


def _actions(block: Mapping[str, Any]) -> Problems:
    elements = block.get("elements")
    problems = _list_problems(elements, "elements", 25)
    for element in elements if isinstance(elements, list) else []:
        problems += element_problems(element, ACTION_ELEMENTS)
    return problems


def _input(block: Mapping[str, Any]) -> Problems:
    problems = [f"label {p}" for p in text_problems(block.get("label"), 2000, ("plain_text",))]
    if "hint" in block:
        problems += [f"hint {p}" for p in text_problems(block["hint"], 2000, ("plain_text",))]
    return problems + element_problems(block.get("element"), INPUT_ELEMENTS)


def _none(block: Mapping[str, Any]) -> Problems:
    return []


def _has_elements(block: Mapping[str, Any]) -> Problems:
    return [] if isinstance(block.get("elements"), list) else ["elements must be a list"]


BLOCK_CHECKS: dict[str, Callable[[Mapping[str, Any]], Problems]] = {
    "section": _section,
    "header": _header,
    "divider": _none,
    "context": _context,
    "actions": _actions,
    "image": _image_problems,
    "input": _input,
    "rich_text": _has_elements,
    "markdown": lambda block: [] if isinstance(block.get("text"), str) else ["text missing"],
    "file": lambda block: [] if block.get("external_id") else ["external_id missing"],
}


def blocks_problems(blocks: Any, limit: int = MAX_MESSAGE_BLOCKS) -> Problems:
    """Every way a `blocks` array breaks Slack's rules, as `blocks[i]: problem` lines."""
    if not isinstance(blocks, list):
        return ["blocks must be a list"]
    problems = [f"{len(blocks)} blocks; at most {limit}"] if len(blocks) > limit else []
    seen: set[str] = set()
    for index, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, Mapping) else None
        check = BLOCK_CHECKS.get(kind) if isinstance(kind, str) else None
        if check is None or not isinstance(block, Mapping):
            problems.append(f"blocks[{index}]: not a known block type")
            continue
        found = check(block) + _id_problems(block, "block_id")
        if block.get("block_id") in seen:
            found.append(f"duplicate block_id {block['block_id']!r}")
        elif isinstance(block.get("block_id"), str):
            seen.add(block["block_id"])
        problems += [f"blocks[{index}] ({block['type']}): {p}" for p in found]
    return problems


def view_problems(view: Any) -> Problems:
    """A modal or Home tab view: its type, titles and buttons, metadata size and blocks."""
    if not isinstance(view, Mapping) or view.get("type") not in ("modal", "home"):
        return ["view must be an object of type modal or home"]
    problems = blocks_problems(view.get("blocks"), MAX_VIEW_BLOCKS)
    if view["type"] == "modal":
        problems += [f"title {p}" for p in text_problems(view.get("title"), 24, ("plain_text",))]
        for key in ("submit", "close"):
            if key in view:
                problems += [f"{key} {p}" for p in text_problems(view[key], 24, ("plain_text",))]
        has_input = any(
            isinstance(b, Mapping) and b.get("type") == "input" for b in view.get("blocks") or []
        )
        if has_input and "submit" not in view:
            problems.append("a modal with input blocks needs submit")
    if len(str(view.get("private_metadata") or "")) > 3000:
        problems.append("private_metadata over 3000 characters")
    problems += _id_problems(view, "callback_id") + _id_problems(view, "external_id")
    return problems
