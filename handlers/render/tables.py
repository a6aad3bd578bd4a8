"""Compact tables for cost answers: names fitted to a phone-width column, and ranked rows that
always fit one Block Kit section, the rest summed up in "…and N more ($X)".

Cells are plain text; a whole table is escaped once, in `table`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from handlers.render.blockkit import MAX_TEXT, Block, escape, money, preformatted_table, section

TABLE_ROWS = 15
NAME_WIDTH = 28
PATH_WIDTH = 34
PREFIX_KEEP = 12  # characters of `cluster/namespace` kept however long the name is

Ranked = tuple[list[str], float]  # the cells of one table row, and the cost it stands for


def fit_name(text: str, width: int = NAME_WIDTH) -> str:
    """Clip a long name at its end so columns stay phone-sized."""
    return text if len(text) <= width else text[: width - 1] + "…"


def middle_cut(text: str, width: int) -> str:
    """Clip in the middle, keeping both ends."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


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
    shown = prefix if len(prefix) <= budget else prefix[: budget - 1] + "…"
    return f"{shown}/{middle_cut(name, width - len(shown) - 1)}"


def spans_clusters(clusters: Sequence[str]) -> bool:
    """Rows from several clusters name their cluster too: `deployment:api` may be in each."""
    return len({c for c in clusters if c}) > 1


def table(rows: list[list[str]], align: str) -> str:
    """An aligned ``` table, escaped for mrkdwn."""
    return escape(preformatted_table(rows, list(align)))


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
