"""Block Kit for `/cost workload NS/NAME`: headline, containers, daily spend, open savings.

Everything from clusters is escaped; figures are formatted here from the service's answer.
"""

from __future__ import annotations

import math
from datetime import datetime

from handlers.render.blocks import Block, header, section
from handlers.render.format import efficiency, fit_name
from handlers.render.mrkdwn import escape
from handlers.render.reply import Reply, period_text, provenance_block, share_actions
from handlers.render.tables import Ranked, table, top_rows
from services.costs.views import WorkloadBreakdown, WorkloadContainer
from services.numbers import money, pct

DAYS_SHOWN = 14  # the last two weeks as rows; `/cost trend` charts a longer series
SAVINGS_SHOWN = 5


def render_workload(
    w: WorkloadBreakdown,
    savings: list[tuple[str, float]] | None,
    now: datetime,
    currency: str,
    command: str,
) -> Reply:
    """`savings`: (title, $/month) of its open recommendations; None when they are off."""
    kind = f"{w.kind} " if w.kind else ""
    run_rate = (
        f"run-rate ≈ {money(w.run_rate_monthly, currency)}/month"
        if w.run_rate_monthly is not None
        else ""
    )
    facts = " · ".join(p for p in (run_rate, efficiency(w.efficiency), f"{w.pods} pods") if p)
    period = period_text(w.window.start, w.window.end, now)
    blocks: list[Block] = [
        header(f"Workload {w.namespace}/{w.name} · {w.window.label}"),
        section(f"*{money(w.total, currency)}* · {escape(kind)}· {period}\n{facts}"),
    ]
    containers: list[Ranked] = [
        (
            [fit_name(c.name), money(c.cost, currency), pct(c.share, signed=False), _eff(c)],
            c.cost,
        )
        for c in w.containers
    ]
    if containers:
        head = ["container", "cost", "share", "eff"]
        blocks.append(top_rows("*By container*", head, "lrrr", containers, currency))
    blocks.append(_days(w, currency))
    if savings is not None:
        blocks.append(section(_savings(savings, w.namespace, currency)))
    blocks += [provenance_block(w.provenance, w.clusters), share_actions(command)]
    return Reply(blocks).finished()


def _eff(container: WorkloadContainer) -> str:
    value = container.efficiency
    return f"{value * 100:.0f}%" if value is not None else "–"


def _days(w: WorkloadBreakdown, currency: str) -> Block:
    shown = w.points[-DAYS_SHOWN:]
    rows = [
        [p.day.strftime("%a %b %d") + ("*" if p.partial else ""), money(p.cost, currency)]
        for p in shown
    ]
    note = "\n_* partial day_" if any(p.partial for p in shown) else ""
    if len(w.points) > DAYS_SHOWN:
        note += f"\n_the last {DAYS_SHOWN} of {len(w.points)} days_"
    return section("*By day*\n" + table([["day", "cost"], *rows], "lr") + note)


def _savings(savings: list[tuple[str, float]], namespace: str, currency: str) -> str:
    if not savings:
        return ":white_check_mark: No open savings for this workload."
    total = math.fsum(amount for _, amount in savings)
    lines = [
        f"• {escape(title)} — {money(amount, currency)}/month"
        for title, amount in savings[:SAVINGS_SHOWN]
    ]
    more = len(savings) - SAVINGS_SHOWN
    if more > 0:
        lines.append(f"…and {more} more")
    where = f"`/cost recs namespace {escape(namespace)}`"
    return (
        f":bulb: *Open savings: {money(total, currency)}/month* (act on them with {where})\n"
        + "\n".join(lines)
    )
