"""Routes for the cost questions: summary, namespace, top, label, compare, trend, workload.

Each one computes the requester's visible scope first (a user who may see no namespace is
told so, and nothing is fetched for the answer); services recompute every figure from the
visible rows only.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import io
from collections.abc import Awaitable, Callable
from typing import Any

from handlers import grammar
from handlers.asker import Asker
from handlers.deps import Deps
from handlers.render.blocks import section
from handlers.render.costs import (
    CSV,
    render_compare,
    render_label,
    render_namespace,
    render_summary,
    render_top,
    render_trend,
)
from handlers.render.mrkdwn import escape
from handlers.render.recs import with_savings
from handlers.render.reply import Reply
from handlers.render.workload import render_workload
from services.access.models import Scope
from services.costs.scoping import window_scope
from services.costs.service import TREND_STEP
from services.costs.windows import TimeRange
from services.errors import CostbotError
from services.recommendations.actions import OpenSavings


async def visible_scope(
    deps: Deps, asker: Asker, window: TimeRange, *, step: str = "", with_previous: bool = False
) -> Scope:
    """What this identity may see of the namespaces in the data (asked with the answer's own
    `step`, and over both periods of a comparison); see services/costs/scoping.py."""
    found = await window_scope(
        deps.costs, deps.access, asker.identity, window, step=step, with_previous=with_previous
    )
    return found.scope


async def answer_scope(
    deps: Deps, asker: Asker, window: TimeRange, *, step: str = "", with_previous: bool = False
) -> Scope:
    """The scope of a cost answer: `visible_scope`, where an empty one is NoAccess (the
    services' rule), raised before anything is fetched for the answer."""
    found = await window_scope(
        deps.costs,
        deps.access,
        asker.identity,
        window,
        step=step,
        with_previous=with_previous,
        require=True,
    )
    return found.scope


async def summary(cmd: grammar.Summary, deps: Deps, asker: Asker) -> Reply:
    scope = await answer_scope(deps, asker, cmd.window)
    result = await deps.costs.summary(cmd.window, scope)
    reply = render_summary(result, deps.clock.now(), deps.currency, asker.text)
    savings = await _open_savings(deps, asker, None, stale=result.provenance.stale)
    return with_savings(reply, savings, deps.currency)


async def namespace(cmd: grammar.NamespaceQuery, deps: Deps, asker: Asker) -> Reply:
    scope = await answer_scope(deps, asker, cmd.window)
    result = await deps.costs.namespace(cmd.namespace, cmd.window, scope)
    reply = render_namespace(result, deps.clock.now(), deps.currency, asker.text)
    savings = await _open_savings(deps, asker, cmd.namespace, stale=result.provenance.stale)
    return with_savings(reply, savings, deps.currency, cmd.namespace)


async def _open_savings(
    deps: Deps, asker: Asker, namespace: str | None, *, stale: bool
) -> OpenSavings | None:
    """The open recommendations in the answer's scope, asked after the answer, and not at all
    when the answer is a stale copy (OpenCost is failing: no more questions for it); a cost
    answer never fails for them."""
    if deps.rec_actions is None or stale:
        return None
    try:
        return await deps.rec_actions.open_savings(asker.identity, namespace)
    except CostbotError:
        return None


async def top(cmd: grammar.Top, deps: Deps, asker: Asker) -> Reply:
    scope = await answer_scope(deps, asker, cmd.window)
    result = await deps.costs.top(
        cmd.window,
        scope,
        cmd.dimension,
        cmd.k,
        cmd.label_key,
        label_must_exist=cmd.label_guessed,
    )
    return render_top(result, deps.clock.now(), deps.currency, asker.text)


async def label(cmd: grammar.LabelQuery, deps: Deps, asker: Asker) -> Reply:
    scope = await answer_scope(deps, asker, cmd.window)
    result = await deps.costs.label(cmd.key, cmd.value, cmd.window, scope)
    return render_label(result, deps.clock.now(), deps.currency, asker.text)


async def compare(cmd: grammar.Compare, deps: Deps, asker: Asker) -> Reply:
    scope = await answer_scope(deps, asker, cmd.window, with_previous=True)
    result = await deps.costs.compare(cmd.window, scope, cmd.focus)
    return render_compare(result, deps.clock.now(), deps.currency, asker.text)


async def trend(cmd: grammar.Trend, deps: Deps, asker: Asker) -> Reply:
    scope = await answer_scope(deps, asker, cmd.window, step=TREND_STEP)
    result = await deps.costs.trend(cmd.window, scope, cmd.focus)
    reply = render_trend(result, deps.clock.now(), deps.currency, asker.text)
    if deps.chart is not None and result.points:
        points = [(p.day, p.cost) for p in result.points]
        marks = reply.extra.get("chart") or {}
        # matplotlib is CPU-bound: render off the event loop so acks keep flowing.
        reply.chart = await asyncio.to_thread(
            functools.partial(
                deps.chart,
                points,
                None,
                reply.chart_title,
                deps.currency,
                subtitle=str(marks.get("subtitle", "")),
                partial_days=list(marks.get("partial_days", [])),
            )
        )
    return reply


async def workload(cmd: grammar.WorkloadQuery, deps: Deps, asker: Asker) -> Reply:
    scope = await answer_scope(deps, asker, cmd.window, step=TREND_STEP)
    result = await deps.costs.workload(cmd.namespace, cmd.name, cmd.window, scope)
    savings = await _workload_savings(deps, asker, result.namespace, result.kind, result.name)
    return render_workload(result, savings, deps.clock.now(), deps.currency, asker.text)


async def _workload_savings(
    deps: Deps, asker: Asker, namespace: str, kind: str, name: str
) -> list[tuple[str, float]] | None:
    """(title, $/month) of the workload's open savings recommendations; None when
    recommendations are not enabled here."""
    if deps.rec_actions is None:
        return None
    board = await deps.rec_actions.board(asker.identity, namespace)
    return [
        (item.rec.title, item.rec.monthly_savings)
        for item in board.items
        if item.rec.controller == name and item.rec.kind.lower() == kind.lower()
    ]


# --- `… csv`: the answer's table as a file in the asker's DM -----------------------------------
_TABLE_ROUTES: dict[type, Callable[[Any, Deps, Asker], Awaitable[Reply]]] = {
    grammar.Summary: summary,
    grammar.NamespaceQuery: namespace,
    grammar.Top: top,
    grammar.LabelQuery: label,
    grammar.Compare: compare,
    grammar.Trend: trend,
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


async def csv_export(cmd: grammar.CsvExport, deps: Deps, asker: Asker) -> Reply:
    """Answer the question as usual (same scope, same figures), then send its table as a CSV
    file to the asker's DM; the reply in place says where it went."""
    if deps.dm_file is None:
        raise CostbotError("CSV export is not available on this installation.")
    answer = await _TABLE_ROUTES[type(cmd.question)](cmd.question, deps, asker)
    rows: list[list[str]] = answer.extra.get(CSV) or []
    if len(rows) <= 1:
        return Reply([section("Nothing to export: that answer has no rows.")]).finished()
    name = "costbot-" + "-".join(asker.text.split()[:-1])[:60].replace("/", "_") + ".csv"
    comment = f"`/cost {escape(asker.text)}` · {len(rows) - 1} rows · {deps.currency}"
    await deps.dm_file(asker.user_id, name, csv_bytes(rows), comment)
    text = f":page_facing_up: Sent `{escape(name)}` ({len(rows) - 1} rows) to your DMs."
    return Reply([section(text)]).finished()


def csv_bytes(rows: list[list[str]]) -> bytes:
    """RFC 4180 CSV; a text cell that a spreadsheet would run as a formula starts with `'`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_inert(cell) for cell in row])
    return out.getvalue().encode("utf-8")


def _inert(cell: str) -> str:
    if not cell.startswith(_FORMULA_START):
        return cell
    try:
        float(cell)
    except ValueError:
        return "'" + cell
    return cell  # a negative figure stays a number
