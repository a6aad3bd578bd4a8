"""`validate`: every way a message breaks Slack's Block Kit limits, as readable lines.

`fit` repairs; this only reports, so tests can assert that what we send would be accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from handlers.render.blocks import Block
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
    MAX_ID,
    MAX_TEXT,
    MAX_URL,
    id_ok,
)


def validate(blocks: Sequence[Block]) -> list[str]:
    """Every way `blocks` breaks Slack's limits, as readable lines (empty when valid)."""
    problems = [f"{len(blocks)} blocks; at most {MAX_BLOCKS}"] if len(blocks) > MAX_BLOCKS else []
    seen: set[str] = set()
    for index, block in enumerate(blocks):
        where = f"blocks[{index}] ({block.get('type')})"
        problems += [f"{where}: {p}" for p in _block_problems(block)]
        block_id = block.get("block_id")
        if block_id is not None and not id_ok(block_id):
            problems.append(f"{where}: block_id must be 1–{MAX_ID} characters")
        elif block_id in seen:
            problems.append(f"{where}: duplicate block_id {block_id!r}")
        elif block_id is not None:
            seen.add(block_id)
    return problems


def _text_problems(
    obj: Any, limit: int, kinds: tuple[str, ...] = ("plain_text", "mrkdwn")
) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in kinds:
        return [f"text must be a {' or '.join(kinds)} object"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return ["text is empty"]
    return [f"text is {len(text)} characters; at most {limit}"] if len(text) > limit else []


def _count_problems(items: Any, what: str, limit: int) -> list[str]:
    if not isinstance(items, list) or not 1 <= len(items) <= limit:
        size = len(items) if isinstance(items, list) else 0
        return [f"{size} {what}; must be 1–{limit}"]
    return []


def _element_problems(element: Any) -> list[str]:
    if not isinstance(element, dict):
        return ["element is not an object"]
    problems = []
    if "action_id" in element and not id_ok(element["action_id"]):
        problems.append(f"action_id must be 1–{MAX_ID} characters")
    if element.get("type") == "image":
        return problems + _image_problems(element)
    if element.get("type") == "button":
        problems += _text_problems(element.get("text"), MAX_BUTTON_TEXT, ("plain_text",))
        if len(str(element.get("value") or "")) > MAX_BUTTON_VALUE:
            problems.append(f"button value over {MAX_BUTTON_VALUE} characters")
        if len(str(element.get("url") or "")) > MAX_URL:
            problems.append(f"button url over {MAX_URL} characters")
    return problems


def _image_problems(block: Block) -> list[str]:
    problems = []
    url, has_file = block.get("image_url"), isinstance(block.get("slack_file"), dict)
    if (url is None) == (not has_file):
        problems.append("needs exactly one of image_url or slack_file")
    if url is not None and not (isinstance(url, str) and 0 < len(url) <= MAX_URL):
        problems.append(f"image_url must be 1–{MAX_URL} characters")
    alt = block.get("alt_text")
    if not isinstance(alt, str) or not 1 <= len(alt) <= MAX_ALT_TEXT:
        problems.append(f"alt_text must be 1–{MAX_ALT_TEXT} characters")
    return problems


def _section_problems(block: Block) -> list[str]:
    if "text" not in block and "fields" not in block:
        return ["needs text or fields"]
    problems = _text_problems(block["text"], MAX_TEXT) if "text" in block else []
    if "fields" in block:
        problems += _count_problems(block["fields"], "fields", MAX_FIELDS)
        for item in block["fields"] if isinstance(block["fields"], list) else []:
            problems += _text_problems(item, MAX_FIELD_TEXT)
    if "accessory" in block:
        problems += _element_problems(block["accessory"])
    return problems


def _context_problems(block: Block) -> list[str]:
    elements = block.get("elements")
    problems = _count_problems(elements, "elements", MAX_CONTEXT_ELEMENTS)
    for element in elements if isinstance(elements, list) else []:
        is_image = isinstance(element, dict) and element.get("type") == "image"
        problems += _image_problems(element) if is_image else _text_problems(element, MAX_TEXT)
    return problems


def _actions_problems(block: Block) -> list[str]:
    elements = block.get("elements")
    problems = _count_problems(elements, "elements", MAX_ACTION_ELEMENTS)
    ids: list[str] = []
    for element in elements if isinstance(elements, list) else []:
        problems += _element_problems(element)
        if isinstance(element, dict) and "action_id" in element:
            ids.append(element["action_id"])
    if len(ids) != len(set(ids)):
        problems.append("action_ids repeat within the block")
    return problems


def _block_problems(block: Block) -> list[str]:
    kind = block.get("type")
    if kind == "header":
        return _text_problems(block.get("text"), MAX_HEADER, ("plain_text",))
    checks: dict[str, Callable[[Block], list[str]]] = {
        "section": _section_problems,
        "context": _context_problems,
        "actions": _actions_problems,
        "image": _image_problems,
    }
    check = checks.get(str(kind))
    return check(block) if check is not None else []
