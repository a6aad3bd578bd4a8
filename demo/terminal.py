"""Renders Block Kit messages as terminal text for `costbot demo/console/ask`, buttons numbered.

Pure formatting: it never talks to Slack and never changes the message it is given.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any

Block = dict[str, Any]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_LINK = re.compile(r"<([^<>|\n]+)(?:\|([^<>\n]*))?>")
_CODE = re.compile(r"`([^`\n]+)`")
_SLOT = re.compile(r"\x00(\d+)\x00")
_BULLET = re.compile(r"^\s*(?:[•◦▪‣\-*]\s+|\d+[.)]\s+)?")
_STYLES = (  # (marker, ANSI on, ANSI off); Slack only styles at word boundaries
    ("*", "\x1b[1m", "\x1b[22m"),
    ("_", "\x1b[3m", "\x1b[23m"),
    ("~", "\x1b[9m", "\x1b[29m"),
)
_STYLE_RES = [
    (re.compile(rf"(?<![\w{m}]){m}(?=\S)([^{m}\n]*?\S){m}(?![\w{m}])"), on, off)
    for m, on, off in ((re.escape(m), on, off) for m, on, off in _STYLES)
]
_BOLD = ("\x1b[1m", "\x1b[22m")
_UNDERLINE = ("\x1b[4m", "\x1b[24m")
_GREY = ("\x1b[90m", "\x1b[39m")
_CYAN = ("\x1b[36m", "\x1b[39m")
_BUTTON_COLORS = {"primary": ("\x1b[32m", "\x1b[39m"), "danger": ("\x1b[31m", "\x1b[39m")}
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))  # &amp; last, or "&amp;lt;" breaks
_WORD_JOINER = "\u2060"
FENCE = "```"


@dataclass(frozen=True, slots=True)
class ButtonRef:
    """A button the console can "press": what Slack would send back in `actions[0]`."""

    number: int
    action_id: str
    value: str | None
    block_id: str | None
    text: str


@dataclass(frozen=True, slots=True)
class InputRef:
    """A field of a modal the console can fill in: where its value goes in `state.values`."""

    block_id: str
    action_id: str
    label: str
    kind: str  # plain_text_input, … (Slack's element type)
    optional: bool
    multiline: bool


def inputs_of(view: Mapping[str, Any]) -> list[InputRef]:
    """The fillable fields of a modal, in order (the console asks for each before it submits).
    A view without a `submit` button cannot be submitted and has none."""
    if view.get("type") != "modal" or not view.get("submit"):
        return []
    found = []
    for block in view.get("blocks") or []:
        element = block.get("element") or {}
        if block.get("type") != "input" or not element.get("action_id"):
            continue
        found.append(
            InputRef(
                block_id=str(block.get("block_id", "")),
                action_id=str(element["action_id"]),
                label=_text_of(block.get("label")),
                kind=str(element.get("type", "plain_text_input")),
                optional=bool(block.get("optional")),
                multiline=bool(element.get("multiline")),
            )
        )
    return found


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    text: str
    buttons: list[ButtonRef] = field(default_factory=list)

    def button(self, number: int) -> ButtonRef | None:
        return next((b for b in self.buttons if b.number == number), None)

    def next_number(self, start: int = 1) -> int:
        """The `start` for rendering the next message so numbers keep counting up."""
        return max((b.number for b in self.buttons), default=start - 1) + 1


def render(
    message: Mapping[str, Any] | Sequence[Block],
    color: bool = False,
    width: int = 100,
    start: int = 1,
    image_paths: Mapping[str, str] | None = None,
) -> RenderedMessage:
    """Render blocks, a message/response dict (`blocks` or `text`) or a view dict.

    `image_paths` maps Slack file ids to where the console saved the file, for image lines.
    """
    renderer = _Renderer(color, max(width, 20), start, image_paths or {})
    return RenderedMessage(renderer.message(message), renderer.buttons)


def _unescape(text: str) -> str:
    for entity, char in _ENTITIES:
        text = text.replace(entity, char)
    return text.replace(_WORD_JOINER, "")


def _link(match: re.Match[str], color: bool) -> str:
    target, label = match.group(1), match.group(2)
    if target[0] in "@#":  # <@U123>, <#C123|general>
        return target[0] + (label.lstrip(target[0]) if label else target[1:])
    if target[0] == "!":  # <!here>, <!subteam^S1|@sre>, <!date^…|fallback>
        return label or "@" + target[1:].split("^")[0]
    if not label or label == target:
        return target
    url = f"{_GREY[0]}({target}){_GREY[1]}" if color else f"({target})"
    return f"{label} {url}"


def mrkdwn_to_text(text: str, color: bool = False) -> str:
    """Slack mrkdwn as terminal text: styles as ANSI (or dropped), links as `text (url)`."""
    return "\n".join(piece for _, piece in _segments(text, color))


def _segments(text: str, color: bool) -> list[tuple[bool, str]]:
    """(is_code, rendered) pieces in order; ``` blocks come out verbatim on their own lines."""
    parts = text.split(FENCE)
    if len(parts) == 1:
        return [(False, _inline(text, color))]
    pieces = [
        (True, _unescape(part.strip("\n")))
        if index % 2
        else (False, _inline(part.strip("\n"), color))
        for index, part in enumerate(parts)
    ]
    return [(code, piece) for code, piece in pieces if code or piece]


def _inline(text: str, color: bool) -> str:
    slots: list[str] = []

    def keep(rendered: str) -> str:  # protect links and code from the style markers
        slots.append(rendered)
        return f"\x00{len(slots) - 1}\x00"

    text = _LINK.sub(lambda m: keep(_link(m, color)), text)
    text = _CODE.sub(lambda m: keep(f"{_CYAN[0]}{m[1]}{_CYAN[1]}" if color else m[0]), text)
    for pattern, on, off in _STYLE_RES:
        text = pattern.sub(on + r"\1" + off if color else r"\1", text)
    text = _SLOT.sub(lambda m: slots[int(m[1])], text)
    return _unescape(text)


def visible_width(text: str) -> int:
    """Columns `text` takes on a terminal (ANSI codes take none, wide characters two)."""
    plain = _ANSI.sub("", text)
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in plain
    )


def _wrap(line: str, width: int) -> list[str]:
    if visible_width(line) <= width:
        return [line.rstrip()]
    indent = " " * visible_width(_BULLET.match(_ANSI.sub("", line))[0])  # type: ignore[index]  # the pattern always matches
    lines, current = [], ""
    for word in line.split(" "):
        candidate = f"{current} {word}" if current else word
        if current and visible_width(candidate) > width:
            lines.append(current)
            candidate = indent + word
        current = candidate
    return [text.rstrip() for text in (*lines, current)]


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - visible_width(text))


def _text_of(obj: Any) -> str:
    return str(obj.get("text", "")) if isinstance(obj, dict) else ""


class _Renderer:
    def __init__(self, color: bool, width: int, start: int, images: Mapping[str, str]) -> None:
        self.color, self.width, self.images = color, width, images
        self.number = start
        self.buttons: list[ButtonRef] = []
        self.by_type: dict[str, Callable[[Block], list[str]]] = {
            "header": self.header,
            "section": self.section,
            "context": self.context,
            "divider": lambda _: ["─" * self.width],
            "image": lambda b: [self.image(b)],
            "actions": self.actions,
            "input": self.input,
            "markdown": lambda b: self.mrkdwn(str(b.get("text", ""))),
        }

    def message(self, message: Mapping[str, Any] | Sequence[Block]) -> str:
        if not isinstance(message, Mapping):
            return self.blocks(list(message))
        blocks = list(message.get("blocks") or [])
        for attachment in message.get("attachments") or []:
            blocks += attachment.get("blocks") or []
        title = _text_of(message.get("title"))  # views have a title
        if title:
            blocks.insert(0, {"type": "header", "text": {"type": "plain_text", "text": title}})
        if blocks:
            return self.blocks(blocks)
        return "\n".join(self.mrkdwn(str(message.get("text") or "")))

    def blocks(self, blocks: list[Block]) -> str:
        out: list[str] = []
        previous = ""
        for block in blocks:
            kind = str(block.get("type"))
            lines = self.by_type.get(kind, self.unknown)(block)
            if out and "divider" not in (kind, previous):
                out.append("")
            out += lines
            previous = kind
        return "\n".join(out)

    def styled(self, text: str, style: tuple[str, str]) -> str:
        return f"{style[0]}{text}{style[1]}" if self.color else text

    def mrkdwn(self, text: str, width: int | None = None) -> list[str]:
        lines: list[str] = []
        for code, piece in _segments(text, self.color):
            for line in piece.split("\n"):
                lines += [line] if code else _wrap(line, width or self.width)
        return lines

    def header(self, block: Block) -> list[str]:
        text = _text_of(block.get("text"))
        if self.color:
            return [self.styled(self.styled(text, _BOLD), _UNDERLINE)]
        return [text, "═" * visible_width(text)]

    def section(self, block: Block) -> list[str]:
        text = block.get("text")
        lines = self.text_object(text, self.width) if isinstance(text, dict) else []
        items = [f for f in block.get("fields") or [] if isinstance(f, dict)]
        column = (self.width - 3) // 2
        for left, right in zip_longest(items[::2], items[1::2]):
            left_lines = self.text_object(left, column)
            right_lines = self.text_object(right, column) if right else []
            for a, b in zip_longest(left_lines, right_lines, fillvalue=""):
                lines.append((_pad(a, column) + "   " + b).rstrip() if b else a)
        accessory = block.get("accessory")
        if isinstance(accessory, dict):
            lines.append(self.element(accessory, block.get("block_id")))
        return lines

    def text_object(self, item: Block, width: int) -> list[str]:
        if item.get("type") == "mrkdwn":
            return self.mrkdwn(_text_of(item), width)
        return _wrap(_text_of(item), width)

    def context(self, block: Block) -> list[str]:
        parts = []
        for element in block.get("elements") or []:
            if element.get("type") == "image":
                parts.append(f"[image: {element.get('alt_text', '')}]")
            elif element.get("type") == "mrkdwn":
                parts.append(mrkdwn_to_text(_text_of(element), self.color))
            else:
                parts.append(_text_of(element))
        lines = _wrap("  ".join(parts), self.width)
        return [self.styled(line, _GREY) for line in lines]

    def image(self, block: Block) -> str:
        slack_file = block.get("slack_file") or {}
        file_id = slack_file.get("id")
        target = (
            block.get("image_url")
            or self.images.get(file_id or "", file_id)
            or slack_file.get("url")
        )
        return f"[image: {block.get('alt_text', '')} → {target}]"

    def actions(self, block: Block) -> list[str]:
        tokens = [self.element(e, block.get("block_id")) for e in block.get("elements") or []]
        lines: list[str] = []
        for token in tokens:
            if lines and visible_width(f"{lines[-1]}  {token}") <= self.width:
                lines[-1] = f"{lines[-1]}  {token}"
            else:
                lines.append(token)
        return lines

    def element(self, element: Block, block_id: str | None) -> str:
        kind = element.get("type")
        if kind == "image":
            return self.image(element)
        label = _text_of(element.get("text")) or _text_of(element.get("placeholder"))
        if kind != "button":
            return f"[{kind}: {label}]" if label else f"[{kind}]"
        ref = ButtonRef(
            self.number, str(element.get("action_id", "")), element.get("value"), block_id, label
        )
        self.buttons.append(ref)
        self.number += 1
        shown = f"[{ref.number}] {label}" + (f" ({element['url']})" if element.get("url") else "")
        style = _BUTTON_COLORS.get(str(element.get("style")))
        return self.styled(shown, style) if style else shown

    def input(self, block: Block) -> list[str]:
        label = _text_of(block.get("label"))
        element = block.get("element") or {}
        return [f"{self.styled(label, _BOLD)}: {self.element(element, block.get('block_id'))}"]

    def unknown(self, block: Block) -> list[str]:
        texts = [t for t in _strings(block) if t.strip()]
        return _wrap(" ".join(texts), self.width) if texts else [f"[{block.get('type')}]"]


def _strings(node: Any) -> Iterator[str]:
    """Every `text` string inside a block we have no renderer for (e.g. rich_text)."""
    if isinstance(node, dict):
        if isinstance(node.get("text"), str):
            yield node["text"]
        for key, value in node.items():
            if key != "text":
                yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
