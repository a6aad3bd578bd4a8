"""Display formatting: money, percentages, changes and names, the same way in every answer.

Results are plain text (no mrkdwn, not escaped): a name shortened here still goes through
`escape` before it is shown.
"""

from __future__ import annotations

import math

from handlers.render.mrkdwn import ELLIPSIS, clip

MINUS = "−"  # U+2212: lines up with digits, unlike "-"
# A name column in a ``` table inside a section: Slack wraps a section at about 60 monospace
# characters on desktop, so names get that much before they are cut (the figures follow).
NAME_WIDTH = 60
PATH_WIDTH = 60
PREFIX_KEEP = 12  # characters of `cluster/namespace` kept however long the name is
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
_ZERO_DECIMAL = {"JPY"}  # no minor unit in use


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


def change_pct(percent: float | None) -> str:
    """A relative change the services give in percent (12.5 → `+12.5%`); `pct` takes fractions."""
    return pct(None if percent is None else percent / 100.0)


def change_arrow(delta: float) -> str:
    """The emoji that says which way a total moved."""
    return ":arrow_up:" if delta > 0 else (":arrow_down:" if delta < 0 else ":left_right_arrow:")


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
