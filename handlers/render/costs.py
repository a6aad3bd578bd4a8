"""Block Kit for cost answers: header, exact period, headline with Δ, compact table, context.

Everything from users or clusters is escaped; figures are formatted here and only here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from handlers.render.blocks import Block, context, divider, header, section
from handlers.render.format import (
    EFFICIENCY_NOTE,
    IDLE_NOTE,
    NAME_WIDTH,
    PATH_WIDTH,
    change_arrow,
    change_pct,
    delta_money,
    efficiency,
    fit_name,
    fit_path,
    money,
    moved,
    pct,
)
from handlers.render.mrkdwn import escape
from handlers.render.reply import Reply, period_text, provenance_block, share_actions
from handlers.render.tables import (
    Ranked,
    ranked_section,
    spans_clusters,
    table,
    top_rows,
)
from services.costs.views import (
    Comparison,
    LabelBreakdown,
    Mover,
    NamespaceBreakdown,
    Summary,
    TopList,
    Trend,
    Workload,
)
from services.costs.windows import TimeRange

TREND_ROWS = 31
CSV = "csv"  # Reply.extra key: the answer's table with whole names and unrounded figures


def _num(value: float | None, places: int = 2) -> str:
    """A figure for a CSV cell: plain digits, no currency sign; empty when unknown."""
    return "" if value is None else f"{value:.{places}f}"


def _period(period: TimeRange, now: datetime) -> str:
    return period_text(period.start, period.end, now)


def _headline(total: float, period: TimeRange, now: datetime, currency: str) -> str:
    return f"*{money(total, currency)}* · {_period(period, now)}"


def _run_rate(value: float | None, currency: str) -> str:
    return f"run-rate ≈ {money(value, currency)}/month" if value is not None else ""


def _joined(*parts: str) -> str:
    return " · ".join(p for p in parts if p)


def render_summary(s: Summary, now: datetime, currency: str, command: str) -> Reply:
    idle = (
        f"idle capacity {pct(s.idle_share, signed=False)} ({money(s.idle_cost, currency)})"
        if s.idle_cost is not None
        else ""
    )
    rows = [
        [fit_name(item.name), money(item.cost, currency), pct(item.share, signed=False)]
        for item in s.top_namespaces
    ]
    facts = _joined(_run_rate(s.run_rate_monthly, currency), efficiency(s.efficiency), idle)
    blocks: list[Block] = [
        header(f"Cost summary · {s.window.label}"),
        section(_headline(s.total, s.window, now, currency)),
        *([section(facts)] if facts else []),  # nothing elapsed yet, nothing visible: no facts
        *_explained(s.efficiency is not None, bool(idle)),
    ]
    if rows:
        title = f"*Top namespaces* (of {s.namespace_count})"
        blocks.append(section(title + "\n" + table([["namespace", "cost", "share"], *rows], "lrr")))
    else:
        blocks.append(section("No cost recorded in namespaces you can see for this period."))
    blocks += [provenance_block(s.provenance, s.clusters), share_actions(command)]
    table_csv = [["namespace", "cost", "share"]] + [
        [i.name, _num(i.cost), _num(i.share, 4)] for i in s.top_namespaces
    ]
    return Reply(blocks, extra={CSV: table_csv}).finished()


def render_namespace(b: NamespaceBreakdown, now: datetime, currency: str, command: str) -> Reply:
    several = spans_clusters(b.clusters)
    resources = [
        [name.replace("_", " "), money(cost, currency)]
        for name, cost in sorted(b.resources.items(), key=lambda kv: -kv[1])
        if cost
    ]
    workloads: list[Ranked] = [(_workload_cells(w, several, currency), w.cost) for w in b.workloads]
    blocks: list[Block] = [
        header(f"Namespace {b.namespace} · {b.window.label}"),
        section(_headline(b.total, b.window, now, currency)),
        section(
            _joined(
                _run_rate(b.run_rate_monthly, currency), efficiency(b.efficiency), f"{b.pods} pods"
            )
        ),
        *_explained(b.efficiency is not None or bool(b.workloads), False),
    ]
    if workloads:
        blocks.append(
            top_rows("*By workload*", ["workload", "cost", "eff"], "lrr", workloads, currency)
        )
    if resources:
        blocks.append(section("*By resource*\n" + table([["resource", "cost"], *resources], "lr")))
    blocks += [provenance_block(b.provenance, b.clusters), share_actions(command)]
    table_csv = [["cluster", "workload", "cost", "efficiency"]] + [
        [w.cluster, w.name, _num(w.cost), _num(w.efficiency, 4)] for w in b.workloads
    ]
    return Reply(blocks, extra={CSV: table_csv}).finished()


def _explained(efficiency_shown: bool, idle_shown: bool) -> list[Block]:
    """One line that says what efficiency and idle mean, where they appear."""
    notes = [EFFICIENCY_NOTE if efficiency_shown else "", IDLE_NOTE if idle_shown else ""]
    shown = [n for n in notes if n]
    return [context(" · ".join(shown))] if shown else []


def _workload_cells(w: Workload, several: bool, currency: str) -> list[str]:
    name = fit_path(w.cluster if several else "", w.name, width=NAME_WIDTH)
    return [name, money(w.cost, currency), _eff_cell(w.efficiency)]


def _eff_cell(value: float | None) -> str:
    return f"{value * 100:.0f}%" if value is not None else "–"


def render_top(t: TopList, now: datetime, currency: str, command: str) -> Reply:
    with_ns, several = t.dimension in ("controller", "pod"), spans_clusters(t.clusters)
    rows: list[Ranked] = []
    for item in t.items:
        cluster = item.cluster if several else ""
        name = (
            fit_path(cluster, item.namespace, item.name)
            if with_ns
            else fit_name(item.name, PATH_WIDTH)
        )
        cells = [name, money(item.cost, currency), pct(item.share, signed=False)]
        rows.append((cells, item.cost))
    title = f"Top {len(t.items)} by {t.dimension} · {t.window.label}"
    blocks: list[Block] = [
        header(title),
        section(_headline(t.total, t.window, now, currency) + " in total"),
        *_explained(False, any(item.name == "__idle__" for item in t.items)),
    ]
    if rows:
        head = [t.dimension, "cost", "share"]
        rest = (t.rest_count, t.rest_cost)
        blocks.append(ranked_section("", head, "lrr", rows, currency, rest=rest))
    else:
        blocks.append(section("Nothing to rank in what you can see for this period."))
    blocks += [provenance_block(t.provenance), share_actions(command)]
    table_csv = [["cluster", "namespace", t.dimension, "cost", "share"]] + [
        [i.cluster, i.namespace, i.name, _num(i.cost), _num(i.share, 4)] for i in t.items
    ]
    return Reply(blocks, extra={CSV: table_csv}).finished()


def render_label(b: LabelBreakdown, now: datetime, currency: str, command: str) -> Reply:
    several = spans_clusters(b.clusters)
    ns_rows: list[Ranked] = [
        ([fit_name(s.name), money(s.cost, currency), pct(s.share, signed=False)], s.cost)
        for s in b.by_namespace
    ]
    ctl_rows: list[Ranked] = [
        (
            [fit_path(c.cluster if several else "", c.namespace, c.name), money(c.cost, currency)],
            c.cost,
        )
        for c in b.by_controller
    ]
    blocks: list[Block] = [
        header(f"Label {b.key}={b.value} · {b.window.label}"),
        section(_headline(b.total, b.window, now, currency)),
    ]
    if b.run_rate_monthly is not None:
        blocks.append(section(_run_rate(b.run_rate_monthly, currency)))
    if ns_rows:
        head = ["namespace", "cost", "share"]
        blocks.append(top_rows("*By namespace*", head, "lrr", ns_rows, currency))
    if ctl_rows:
        blocks.append(top_rows("*By workload*", ["workload", "cost"], "lr", ctl_rows, currency))
    blocks += [provenance_block(b.provenance), share_actions(command)]
    table_csv = [["cluster", "namespace", "workload", "cost"]] + [
        [c.cluster, c.namespace, c.name, _num(c.cost)] for c in b.by_controller
    ]
    return Reply(blocks, extra={CSV: table_csv}).finished()


MOVERS = 8


def _movers(title: str, head: list[str], movers: Sequence[Mover], currency: str) -> Block:
    """The biggest moves as a table; the others counted with their net change."""
    rows = [
        [
            fit_name(m.name),
            money(m.after, currency),
            delta_money(m.delta, currency),
            change_pct(m.delta_pct),
        ]
        for m in movers[:MOVERS]
    ]
    rest = movers[MOVERS:]
    more = math.fsum(m.delta for m in rest)
    tail = f"\n…and {len(rest)} more ({delta_money(more, currency)})" if rest else ""
    return section(f"{title}\n" + table([head, *rows], "lrrr") + tail)


def render_compare(c: Comparison, now: datetime, currency: str, command: str) -> Reply:
    subject = _focus_text(c.focus)
    arrow = change_arrow(c.delta)
    blocks: list[Block] = [
        header(f"Compare{subject} · {c.window.label} vs previous"),
        section(
            f"{arrow} *{money(c.total, currency)}* vs {money(c.previous_total, currency)} "
            f"({delta_money(c.delta, currency)}, {change_pct(c.delta_pct)})\n"
            f"This: {_period(c.window, now)}\nBefore: {_period(c.previous_window, now)}"
        ),
    ]
    head = [c.dimension, "now", "Δ", "Δ%"]
    up, down = [m for m in c.up if moved(m.delta)], [m for m in c.down if moved(m.delta)]
    if up:
        blocks.append(_movers("*Up*", head, up, currency))
    if down:
        blocks.append(_movers("*Down*", head, down, currency))
    if c.new:
        names = ", ".join(escape(m.name) for m in c.new[:10])
        blocks.append(section(f"*New:* {names}" + _extra(len(c.new) - 10)))
    if c.gone:
        names = ", ".join(escape(m.name) for m in c.gone[:10])
        blocks.append(section(f"*Gone:* {names}" + _extra(len(c.gone) - 10)))
    blocks += [provenance_block(c.provenance), share_actions(command)]
    table_csv = [[c.dimension, "before", "now", "change", "change_pct"]] + [
        [m.name, _num(m.before), _num(m.after), _num(m.delta), _num(m.delta_pct)]
        for m in [*c.up, *c.down, *c.new, *c.gone]
    ]
    return Reply(blocks, extra={CSV: table_csv}).finished()


def _extra(count: int) -> str:
    return f" …and {count} more" if count > 0 else ""


def _focus_text(focus: object) -> str:
    namespace = getattr(focus, "namespace", None)
    label = getattr(focus, "label", None)
    cluster = getattr(focus, "cluster", None)
    parts = []
    if namespace:
        parts.append(f"namespace {namespace}")
    if label:
        parts.append(f"label {label[0]}={label[1]}")
    if cluster:
        parts.append(f"cluster {cluster}")
    return (" " + ", ".join(parts)) if parts else ""


def render_trend(t: Trend, now: datetime, currency: str, command: str) -> Reply:
    rows = [
        [p.day.strftime("%a %b %d") + ("*" if p.partial else ""), money(p.cost, currency)]
        for p in t.points[-TREND_ROWS:]
    ]
    facts = []
    if t.average_per_day is not None:
        facts.append(f"average {money(t.average_per_day, currency)}/day")
    if t.max_day is not None:
        facts.append(f"peak {money(t.max_day.cost, currency)} on {t.max_day.day:%b %d}")
    if t.min_day is not None:
        facts.append(f"low {money(t.min_day.cost, currency)} on {t.min_day.day:%b %d}")
    blocks: list[Block] = [
        header(f"Trend{_focus_text(t.focus)} · {t.window.label}"),
        section(_headline(t.total, t.window, now, currency)),
        section(_joined(*facts) or "No cost recorded in this period."),
    ]
    if rows:
        note = "\n_* partial day_" if any(p.partial for p in t.points) else ""
        if len(t.points) > TREND_ROWS:
            note += f"\n_the last {TREND_ROWS} of {len(t.points)} days; the chart shows them all_"
        blocks.append(section(table([["day", "cost"], *rows], "lr") + note))
    blocks += [divider(), provenance_block(t.provenance), share_actions(command)]
    table_csv = [["day", "cost", "partial"]] + [
        [p.day.isoformat(), _num(p.cost), "yes" if p.partial else ""] for p in t.points
    ]
    return Reply(
        blocks,
        chart_title=f"Daily spend{_focus_text(t.focus)} ({t.window.label})",
        extra={CSV: table_csv},
    ).finished()
