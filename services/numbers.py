"""Numbers as people read them, the same in every front door: money, signed changes, percents.

Plain text (nothing escaped); Slack's renderers and the web pages both format through here.
"""

from __future__ import annotations

import math

MINUS = "−"  # U+2212: lines up with digits, unlike "-"
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
