"""Block Kit builders, mrkdwn escaping, display formatting and Slack's limits, as plain dicts.

Text from users or clusters goes through `escape`; every outgoing message goes through `fit`.
"""

from __future__ import annotations

import copy
import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any, Literal

Block = dict[str, Any]

MAX_BLOCKS = 50
MAX_TEXT = 3000
MAX_HEADER = 150
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTION_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ID = 255
MAX_ALT_TEXT = 2000
MAX_URL = 3000
ELLIPSIS = "…"
FENCE = "```"
MINUS = "−"  # U+2212: lines up with digits, unlike "-"
_WORD_JOINER = "\u2060"
# Slack may auto-parse bare broadcast words in mrkdwn; an invisible joiner after "@" defuses them.
_BROADCAST = re.compile(r"@(?=(?:channel|here|everyone)\b)", re.IGNORECASE)
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
_ZERO_DECIMAL = {"JPY"}  # no minor unit in use
_ALIGN = {"l": "<", "<": "<", "r": ">", ">": ">", "c": "^", "^": "^"}


def escape(text: str) -> str:
    """Escape `&`, `<`, `>` as Slack requires, so the text cannot mention, link or broadcast."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub("@" + _WORD_JOINER, escaped)


def clip(text: str, limit: int) -> str:
    """Cut plain text to `limit` characters, ending with an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + ELLIPSIS


def truncate(text: str, limit: int = MAX_TEXT) -> str:
    """Cut mrkdwn to `limit` characters, never inside an entity or link, closing an open fence."""
    if len(text) <= limit:
        return text
    cut = _safe_cut(text[: max(0, limit - len(ELLIPSIS) - len("\n" + FENCE))])
    return cut + ELLIPSIS + ("\n" + FENCE if cut.count(FENCE) % 2 else "")


def _safe_cut(text: str) -> str:
    amp = text.rfind("&")
    if amp >= 0 and ";" not in text[amp:]:
        text = text[:amp]
    bracket = text.rfind("<")
    if bracket >= 0 and ">" not in text[bracket:]:
        text = text[:bracket]
    return text.rstrip("`")  # never leave half a fence behind


# --- builders -------------------------------------------------------------------------------


def _plain(text: str, limit: int) -> dict[str, Any]:
    if not text:
        raise ValueError("Block Kit text must not be empty")
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def _mrkdwn(text: str, limit: int = MAX_TEXT) -> dict[str, Any]:
    if not text:
        raise ValueError("Block Kit text must not be empty")
    return {"type": "mrkdwn", "text": truncate(text, limit)}


def _checked_id(value: str, what: str) -> str:
    if not value or len(value) > MAX_ID:
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
        block["title"] = _plain(title, 2000)
    return block


# --- display formatting ---------------------------------------------------------------------


def _display_width(text: str) -> int:
    wide = ("W", "F")
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in wide else 1
        for ch in text
    )


def _pad(cell: str, width: int, align: str) -> str:
    gap = width - _display_width(cell)
    if align == ">":
        return " " * gap + cell
    if align == "^":
        return " " * (gap // 2) + cell + " " * (gap - gap // 2)
    return cell + " " * gap


def preformatted_table(rows: Sequence[Sequence[str]], align: Sequence[str] = ()) -> str:
    """Rows as a ``` block with aligned columns (`align` per column: "l", "r" or "c").

    Cells are raw text and the result is not escaped: pass it through `escape` before use.
    Keep rows to about 40 characters so the table stays readable on phones.
    """
    if not rows:
        return ""
    cells = [[c.replace("\n", " ").replace(FENCE, "'''") for c in row] for row in rows]
    ncols = max(len(row) for row in cells)
    cells = [row + [""] * (ncols - len(row)) for row in cells]
    widths = [max(_display_width(row[i]) for row in cells) for i in range(ncols)]
    try:
        aligns = [_ALIGN[a] for a in align[:ncols]] + ["<"] * (ncols - len(align))
    except KeyError as exc:
        raise ValueError(f"unknown column alignment {exc.args[0]!r}; use l, r or c") from exc
    lines = ["  ".join(map(_pad, row, widths, aligns)).rstrip() for row in cells]
    return FENCE + "\n" + "\n".join(lines) + "\n" + FENCE


def money(amount: float, currency: str = "USD") -> str:
    """`$1,234.50`, `€12,346`, `−$3.00`, `CHF 9.99`: 2 decimals below 10 000, none above."""
    if not math.isfinite(amount):
        return "n/a"
    code = currency.upper()
    whole = code in _ZERO_DECIMAL or round(abs(amount), 2) >= 10_000
    digits = f"{abs(amount):,.{0 if whole else 2}f}"
    sign = MINUS if amount < 0 and digits.strip("0.,") else ""
    return f"{sign}{_SYMBOLS.get(code, code + ' ')}{digits}"


def delta_money(delta: float, currency: str = "USD") -> str:
    """A change in money, signed unless it rounds to zero: `+$12.00`, `−$3.50`, `$0.00`."""
    text = money(delta, currency)
    return "+" + text if delta > 0 and any(ch in "123456789" for ch in text) else text


def pct(x: float | None, signed: bool = True) -> str:
    """A fraction as a percentage: 0.123 → `+12.3%`, −0.04 → `−4.0%`, None → `n/a`."""
    if x is None or not math.isfinite(x):
        return "n/a"
    digits = f"{abs(x) * 100:,.1f}"
    if digits == "0.0":
        return "0.0%"
    if x < 0:
        return f"{MINUS}{digits}%"
    return f"+{digits}%" if signed else f"{digits}%"


# --- limits ---------------------------------------------------------------------------------


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
    return [*body, {"type": "context", "elements": [_mrkdwn(label)]}, *tail]


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
    if "block_id" in fixed and not _id_ok(fixed["block_id"]):
        del fixed["block_id"]
    fixer = _FIXERS.get(fixed["type"])
    return fixer(fixed) if fixer is not None else fixed


def _id_ok(value: Any) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= MAX_ID


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
    if "action_id" in element and not _id_ok(element["action_id"]):
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
        _put(block, "title", _fit_text(block["title"], 2000, ("plain_text",)))
    return block


_FIXERS: dict[str, Callable[[Block], Block | None]] = {
    "header": _fit_header,
    "section": _fit_section,
    "context": _fit_context,
    "actions": _fit_actions,
    "image": _fit_image,
}


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


# --- validation -----------------------------------------------------------------------------


def validate(blocks: Sequence[Block]) -> list[str]:
    """Every way `blocks` breaks Slack's limits, as readable lines (empty when valid)."""
    problems = [f"{len(blocks)} blocks; at most {MAX_BLOCKS}"] if len(blocks) > MAX_BLOCKS else []
    seen: set[str] = set()
    for index, block in enumerate(blocks):
        where = f"blocks[{index}] ({block.get('type')})"
        problems += [f"{where}: {p}" for p in _block_problems(block)]
        block_id = block.get("block_id")
        if block_id is not None and not _id_ok(block_id):
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
    if "action_id" in element and not _id_ok(element["action_id"]):
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
