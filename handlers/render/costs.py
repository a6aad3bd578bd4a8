"""Block Kit for cost answers: header, exact period, headline with Δ, compact table, context.

Everything from users or clusters is escaped; figures are formatted here and only here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from handlers.render.blocks import Block, context, divider, header, section
from handlers.render.format import (
    EFFICIENCY_NOTE,
    IDLE_NOTE,
    NAME_WIDTH,
    PATH_WIDTH,
    change_arrow,
    efficiency,
    fit_name,
    fit_path,
    moved,
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
    Coverage,
    DayCost,
    LabelBreakdown,
    Mover,
    NamespaceBreakdown,
    Summary,
    TopList,
    Trend,
    Workload,
)
from services.costs.windows import TimeRange
from services.numbers import change_pct, delta_money, money, pct

TREND_ROWS = 31
BAR_WIDTH = 10  # characters of the longest bar: day, bar and cost fit a phone's code block
SPARK_WIDTH = 31
_EIGHTHS = " ▏▎▍▌▋▊▉"
_SPARKS = "▁▂▃▄▅▆▇█"

CSV = "csv"  # Reply.extra key: the answer's table with whole names and unrounded figures


def _num(value: float | None, places: int = 2) -> str:
    """A figure for a CSV cell: plain digits, no currency sign; empty when unknown."""
    return "" if value is None else f"{value:.{places}f}"


def _period(period: TimeRange, now: datetime) -> str:
    return period_text(period.start, period.end, now, period.tz)


def _headline(
    total: float,
    period: TimeRange,
    now: datetime,
    currency: str,
    coverage: Coverage | None = None,
) -> str:
    note = coverage_note(coverage, period)
    return f"*{money(total, currency)}* · {_period(period, now)}" + (f"\n{note}" if note else "")


def coverage_note(coverage: Coverage | None, period: TimeRange) -> str:
    """'data covers Sep 1 – Dec 1 (91 of 400 days)' when the data covers a day or more less
    than the window; rates are computed over those days (empty when it covers it all)."""
    if coverage is None or not coverage.short:
        return ""
    zone = period.zone
    first = coverage.start.astimezone(zone)
    last = (coverage.end - timedelta(microseconds=1)).astimezone(zone)
    year = "" if first.year == last.year else f", {first.year}"
    # Days begun: a 400d window ending today is 400 days, 90 days and an hour of data is 91.
    covered, asked = math.ceil(coverage.days - 0.01), math.ceil(coverage.window_days - 0.01)
    return (
        f":information_source: data covers {first:%b} {first.day}{year} – {last:%b} {last.day}"
        f" ({max(1, covered)} of {asked} days); rates are over those days"
    )


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
        section(_headline(s.total, s.window, now, currency, s.coverage)),
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
        section(_headline(b.total, b.window, now, currency, b.coverage)),
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
        section(_headline(t.total, t.window, now, currency, t.coverage) + " in total"),
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
        section(_headline(b.total, b.window, now, currency, b.coverage)),
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
    facts = []
    if t.average_per_day is not None:
        facts.append(f"average {money(t.average_per_day, currency)}/day")
    if t.max_day is not None:
        facts.append(f"peak {money(t.max_day.cost, currency)} on {t.max_day.day:%b %d}")
    if t.min_day is not None:
        facts.append(f"low {money(t.min_day.cost, currency)} on {t.min_day.day:%b %d}")
    blocks: list[Block] = [
        header(f"Trend{_focus_text(t.focus)} · {t.window.label}"),
        section(_headline(t.total, t.window, now, currency, t.coverage)),
        section(_joined(*facts) or "No cost recorded in this period."),
    ]
    if t.points:
        blocks.append(section(text_chart(t.points, currency)))
    blocks += [divider(), provenance_block(t.provenance, t.clusters), share_actions(command)]
    demo = " · demo data" if t.provenance.demo else ""  # a chart can travel without its message
    title = f"Daily spend{_focus_text(t.focus)} ({t.window.label}){demo}"
    reply = Reply(blocks, chart_title=title)
    reply.extra[CSV] = [["day", "cost", "partial"]] + [
        [p.day.isoformat(), _num(p.cost), "yes" if p.partial else ""] for p in t.points
    ]
    reply.extra["chart"] = {
        "subtitle": chart_subtitle(t, now, currency),
        "partial_days": [p.day for p in t.points if p.partial],
    }
    return reply.finished()


def text_chart(points: Sequence[DayCost], currency: str) -> str:
    """The daily series as a bar chart in a code block, readable on a phone (Slack cannot show
    a picture in a private reply): one row per day, the last TREND_ROWS days, a sparkline of
    them all when there are more. `*` marks a partial day, `†` a 23- or 25-hour day."""
    shown = points[-TREND_ROWS:]
    top = max((p.cost for p in points), default=0.0)
    rows = [[_day_label(p), _bar(p.cost, top), money(p.cost, currency)] for p in shown]
    notes = []
    if len(points) > TREND_ROWS:
        notes.append(
            f"_the last {TREND_ROWS} of {len(points)} days; all of them:_ `{_spark(points)}`"
        )
    if any(p.partial for p in shown):
        notes.append("_* partial day_")
    if any(p.hours != 24.0 for p in shown):
        notes.append("_† clock change: a 23- or 25-hour day_")
    return table([["day", "", "cost"], *rows], "llr") + "".join(f"\n{note}" for note in notes)


def chart_subtitle(t: Trend, now: datetime, currency: str) -> str:
    """What the chart image says under its title: scope, cluster, window and zone, currency."""
    scope = _focus_text(t.focus).strip() or "everything you can see"
    if t.provenance.partial_scope and t.focus.namespace is None:
        scope += " (namespaces you can see)"
    parts = [scope]
    clusters = [c for c in t.clusters if c]
    if clusters and t.focus.cluster is None:
        shown = ", ".join(clusters[:3]) + (f" +{len(clusters) - 3}" if len(clusters) > 3 else "")
        parts.append(f"cluster {shown}")
    parts += [_period(t.window, now), currency.upper()]
    if t.provenance.demo:
        parts.append("demo data")
    return " · ".join(parts)


def _day_label(point: DayCost) -> str:
    mark = ("*" if point.partial else "") + ("†" if point.hours != 24.0 else "")
    return f"{point.day:%a %b %d}{mark}"


def _bar(value: float, top: float) -> str:
    if top <= 0 or value <= 0:
        return ""
    eighths = max(1, round(value / top * BAR_WIDTH * 8))
    return "█" * (eighths // 8) + _EIGHTHS[eighths % 8].strip()


def _spark(points: Sequence[DayCost]) -> str:
    """At most SPARK_WIDTH characters: each the mean of an equal run of days."""
    values = [p.cost for p in points]
    size = math.ceil(len(values) / SPARK_WIDTH)
    means = [
        math.fsum(values[i : i + size]) / len(values[i : i + size])
        for i in range(0, len(values), size)
    ]
    top = max(means, default=0.0)
    if top <= 0:
        return _SPARKS[0] * len(means)
    return "".join(_SPARKS[min(7, int(m / top * 7.999))] if m > 0 else " " for m in means)
