"""What each page shows, as plain values for the templates: service answers → rows and an SVG.

Nothing here decides who sees what: the scope comes from `AccessPolicy`, the figures from
`CostService` and the recommendations from `RecommendationActions`; this module only arranges
them (and formats numbers the way the Slack replies do, through `services.numbers`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from services.costs.views import NamespaceTable, Provenance
from services.numbers import MINUS, change_pct, delta_money, money, pct

PALETTE = ("#1f6feb", "#d97706", "#15803d", "#b91c1c", "#7c3aed", "#6b7280")
TOP_IN_CHART = 5
WINDOWS = (
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("month", "Month to date"),
    ("lastmonth", "Last month"),
)


def efficiency(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}%"


def change(now: float, before: float) -> str:
    if not before:
        return "new" if now else "n/a"
    return change_pct((now - before) / before * 100.0)


@dataclass(frozen=True)
class Banner:
    kind: str  # demo | stale | missing | partial
    text: str


def banners(prov: Provenance, now: datetime) -> list[Banner]:
    found: list[Banner] = []
    if prov.demo:
        found.append(Banner("demo", "Demo data: a built-in synthetic cluster, not your costs."))
    if prov.stale:
        age = max(0, int(now.timestamp() - prov.fetched_at))
        found.append(Banner("stale", f"OpenCost did not answer; figures are {_age(age)} old."))
    if prov.failed_clusters:
        names = ", ".join(prov.failed_clusters)
        found.append(Banner("missing", f"Left out: clusters {names} did not answer."))
    if prov.missing:
        found.append(Banner("missing", f"Left out: {', '.join(prov.missing)} could not be read."))
    if prov.partial_scope:
        found.append(
            Banner("partial", "Only namespaces you may see are included; others are excluded.")
        )
    return found


def _age(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


@dataclass(frozen=True)
class OverviewRow:
    cluster: str
    namespace: str
    cost: float
    previous: float
    cpu: float
    ram: float
    pv: float
    other: float
    efficiency: float | None
    savings: float

    def cells(self, currency: str) -> dict[str, str]:
        return {
            "cost": money(self.cost, currency),
            "change": change(self.cost, self.previous),
            "delta": delta_money(self.cost - self.previous, currency),
            "cpu": money(self.cpu, currency),
            "ram": money(self.ram, currency),
            "pv": money(self.pv, currency),
            "other": money(self.other, currency),
            "efficiency": efficiency(self.efficiency),
            "savings": money(self.savings, currency) if self.savings else "—",
        }


def overview_rows(
    table: NamespaceTable, savings: dict[tuple[str, str], float]
) -> list[OverviewRow]:
    rows = []
    for r in table.rows:
        cpu, ram, pv = (r.resources.get(k, 0.0) for k in ("cpu", "ram", "pv"))
        rows.append(
            OverviewRow(
                cluster=r.cluster,
                namespace=r.namespace,
                cost=r.cost,
                previous=r.previous,
                cpu=cpu,
                ram=ram,
                pv=pv,
                other=math.fsum(r.resources.values()) - cpu - ram - pv,
                efficiency=r.efficiency,
                savings=savings.get((r.cluster, r.namespace), 0.0),
            )
        )
    return rows


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    height: float
    color: str
    title: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)
    ticks: list[tuple[float, str]] = field(default_factory=list)  # (y, label)
    labels: list[tuple[float, str]] = field(default_factory=list)  # (x, day)
    bar_width: float = 0.0
    description: str = ""


def stacked_chart(
    table: NamespaceTable, currency: str, width: int = 720, height: int = 240
) -> Chart:
    """Daily cost of the top namespaces (the rest as one band), stacked, as SVG geometry."""
    days: Sequence[date] = table.days
    if not days or not table.rows:
        return Chart(width, height, description="No daily costs in this window.")
    top = table.rows[:TOP_IN_CHART]
    rest = table.rows[TOP_IN_CHART:]
    series: list[tuple[str, dict[date, float]]] = [
        (
            f"{r.cluster}/{r.namespace}" if r.cluster else r.namespace,
            {p.day: p.cost for p in r.daily},
        )
        for r in top
    ]
    if rest:
        other: dict[date, float] = {}
        for r in rest:
            for p in r.daily:
                other[p.day] = other.get(p.day, 0.0) + p.cost
        series.append((f"{len(rest)} more", other))
    totals = [math.fsum(s.get(d, 0.0) for _, s in series) for d in days]
    peak = max(totals) or 1.0
    left, bottom, top_pad = 64.0, 24.0, 8.0
    plot_h = height - bottom - top_pad
    step = (width - left) / len(days)
    bars: list[Bar] = []
    for i, day in enumerate(days):
        y = height - bottom
        for index, (name, costs) in enumerate(series):
            cost = costs.get(day, 0.0)
            h = cost / peak * plot_h
            if h <= 0:
                continue
            y -= h
            bars.append(
                Bar(
                    left + i * step + step * 0.1,
                    y,
                    h,
                    PALETTE[index % len(PALETTE)],
                    f"{day:%b %-d} {name}: {money(cost, currency)}",
                )
            )
    ticks = [(height - bottom - f * plot_h, money(peak * f, currency)) for f in (0, 0.5, 1)]
    every = max(1, len(days) // 8)
    labels = [
        (left + i * step + step / 2, f"{d:%b %-d}") for i, d in enumerate(days) if i % every == 0
    ]
    legend = [(PALETTE[i % len(PALETTE)], name) for i, (name, _) in enumerate(series)]
    description = (
        f"Daily cost, {days[0]:%b %-d} to {days[-1]:%b %-d}, of "
        + ", ".join(name for name, _ in series)
        + f"; the highest day is {money(peak, currency)}."
    )
    return Chart(width, height, bars, legend, ticks, labels, step * 0.8, description)


def when(value: datetime | None) -> str:
    return "—" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


__all__ = ["MINUS", "WINDOWS", "money", "pct"]
