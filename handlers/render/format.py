"""Display formatting for Slack: change arrows, efficiency, and names and paths fitted to a
column. Money and percentages are in `services.numbers`, shared with the other front doors.

Results are plain text (no mrkdwn, not escaped): a name shortened here still goes through
`escape` before it is shown.
"""

from __future__ import annotations

from handlers.render.mrkdwn import ELLIPSIS, clip

# A name column in a ``` table inside a section: Slack wraps a section at about 60 monospace
# characters on desktop, so names get that much before they are cut (the figures follow).
NAME_WIDTH = 60
PATH_WIDTH = 60
PREFIX_KEEP = 12  # characters of `cluster/namespace` kept however long the name is


def change_arrow(delta: float) -> str:
    """The emoji that says which way a total moved; sideways when it moved less than a cent
    (it then shows as `$0.00`, and an arrow up beside it would contradict it)."""
    if not moved(delta):
        return ":left_right_arrow:"
    return ":arrow_up:" if delta > 0 else ":arrow_down:"


def efficiency(value: float | None) -> str:
    """`efficiency 73%` from a 0–1 ratio, or nothing when it is unknown."""
    return f"efficiency {value * 100:.0f}%" if value is not None else ""


# One line each, shown wherever the figure appears, so nobody has to guess what it means.
EFFICIENCY_NOTE = "efficiency = CPU and memory used ÷ requested, weighted by cost"
IDLE_NOTE = "idle (`__idle__`) = node capacity nobody requested"


def moved(delta: float) -> bool:
    """Whether a change shows as at least a cent: `$0.00 0.0 %` is not a mover. (The 1e-9
    absorbs float noise: OpenCost's figures have 5 decimals, so a half cent is exact.)"""
    return abs(delta) >= 0.005 - 1e-9


def fit_name(text: str, width: int = NAME_WIDTH) -> str:
    """Clip a long name at its end so columns stay phone-sized."""
    return clip(text, width)


def middle_cut(text: str, width: int) -> str:
    """Clip in the middle, keeping both ends."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + ELLIPSIS + text[len(text) - (width - 1 - head) :]


def fit_path(*parts: str, width: int = PATH_WIDTH) -> str:
    """`cluster/namespace/name` without the empty parts, in at most `width` characters.

    The prefix keeps what the name leaves over (at least PREFIX_KEEP characters, cut at its
    end); the name is cut in the middle, where pod and workload names differ least (their
    owner is at the start, the hash or ordinal at the end)."""
    *context, name = [part for part in parts if part] or [""]
    prefix = "/".join(context)
    if not prefix:
        return fit_name(name, width)
    if len(prefix) + 1 + len(name) <= width:
        return f"{prefix}/{name}"
    budget = max(width - len(name) - 1, min(len(prefix), PREFIX_KEEP))
    shown = prefix if len(prefix) <= budget else prefix[: budget - 1] + ELLIPSIS
    return f"{shown}/{middle_cut(name, width - len(shown) - 1)}"
