"""mrkdwn text: escaping what came from users or clusters, and cutting text to a length.

Everything here works on strings; nothing knows about blocks. Text from users or clusters goes
through `escape` before it becomes mrkdwn, so it can never mention, link or broadcast.
"""

from __future__ import annotations

import re

ELLIPSIS = "…"
FENCE = "```"
_WORD_JOINER = "\u2060"
# Slack may auto-parse bare broadcast words in mrkdwn; an invisible joiner after "@" defuses them.
_BROADCAST = re.compile(r"@(?=(?:channel|here|everyone)\b)", re.IGNORECASE)


def escape(text: str) -> str:
    """Escape `&`, `<`, `>` as Slack requires, so the text cannot mention, link or broadcast."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub("@" + _WORD_JOINER, escaped)


def clip(text: str, limit: int) -> str:
    """Cut plain text to `limit` characters, ending with an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + ELLIPSIS


def truncate(text: str, limit: int) -> str:
    """Cut mrkdwn to `limit` characters, never inside an entity or link, closing an open fence."""
    if len(text) <= limit:
        return text
    cut = _safe_cut(text[: max(0, limit - len(ELLIPSIS) - len("\n" + FENCE))])
    return cut + ELLIPSIS + ("\n" + FENCE if cut.count(FENCE) % 2 else "")


def _safe_cut(text: str) -> str:
    """Drop a trailing half entity (`&am`), half link (`<http`) or half fence."""
    amp = text.rfind("&")
    if amp >= 0 and ";" not in text[amp:]:
        text = text[:amp]
    bracket = text.rfind("<")
    if bracket >= 0 and ">" not in text[bracket:]:
        text = text[:bracket]
    return text.rstrip("`")  # never leave half a fence behind
