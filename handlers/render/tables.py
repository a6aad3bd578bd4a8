"""Tables for answers: aligned ``` tables, and ranked rows that always fit one Block Kit section,
the rest summed up in "…and N more ($X)".

Cells are plain text; a whole table is escaped once, in `table`.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence

from handlers.render.blocks import Block, section
from handlers.render.limits import MAX_TEXT
from handlers.render.mrkdwn import FENCE, escape
from services.numbers import money

TABLE_ROWS = 15
_ALIGN = {"l": "<", "<": "<", "r": ">", ">": ">", "c": "^", "^": "^"}

Ranked = tuple[list[str], float]  # the cells of one table row, and the cost it stands for


def preformatted_table(rows: Sequence[Sequence[str]], align: Sequence[str] = ()) -> str:
    """Rows as a ``` block with aligned columns (`align` per column: "l", "r" or "c").

    Cells are raw text and the result is not escaped: pass it through `escape` before use (or
    use `table`, which does). Keep rows to about 40 characters so the table stays readable on
    phones.
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


def _display_width(text: str) -> int:
    """Columns a monospace font gives `text`: wide East Asian characters take two, marks none."""
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


def table(rows: list[list[str]], align: str) -> str:
    """An aligned ``` table, escaped for mrkdwn (`align`: one of "l", "r", "c" per column)."""
    return escape(preformatted_table(rows, list(align)))


def spans_clusters(clusters: Sequence[str]) -> bool:
    """Rows from several clusters name their cluster too: `deployment:api` may be in each."""
    return len({c for c in clusters if c}) > 1


def more_line(count: int, cost: float, currency: str) -> str:
    return f"…and {count} more ({money(cost, currency)})" if count else ""


def ranked_section(
    title: str,
    head: list[str],
    align: str,
    rows: Sequence[Ranked],
    currency: str,
    *,
    rest: tuple[int, float] = (0, 0.0),
) -> Block:
    """A table in one section that always fits Slack's 3000 characters: rows that would not
    fit join the rest in "…and N more ($X)", so shown + more always adds up to the total."""
    shown = len(rows)
    while True:
        hidden = rows[shown:]
        count = rest[0] + len(hidden)
        cost = math.fsum([rest[1], *(c for _, c in hidden)])
        grid = table([head, *(cells for cells, _ in rows[:shown])], align)
        text = "\n".join(p for p in (title, grid, more_line(count, cost, currency)) if p)
        if len(text) <= MAX_TEXT or shown == 0:
            return section(text)
        shown -= 1


def top_rows(title: str, head: list[str], align: str, rows: list[Ranked], currency: str) -> Block:
    """The first TABLE_ROWS rows as a table; the others summed up in "…and N more"."""
    rest = rows[TABLE_ROWS:]
    hidden = (len(rest), math.fsum(cost for _, cost in rest))
    return ranked_section(title, head, align, rows[:TABLE_ROWS], currency, rest=hidden)
