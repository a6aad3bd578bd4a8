"""Block Kit for digests and budget alerts: the channel summary, the thread details, the pause
notice, alerts with their Acknowledge button, and the digest/budget lists.

Everything from users or clusters is escaped; money and percentages are formatted only here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from handlers.render.blocks import Block, actions, button, context, header, image, section
from handlers.render.fit import fit, message_text_fallback
from handlers.render.format import (
    EFFICIENCY_NOTE,
    IDLE_NOTE,
    change_arrow,
    efficiency,
    fit_name,
    moved,
)
from handlers.render.mrkdwn import escape
from handlers.render.reply import provenance_line
from handlers.render.tables import table
from services.costs.service import Mover
from services.costs.windows import TimeRange
from services.digests.alerts import BudgetAlert
from services.digests.budgets import BudgetStatus
from services.digests.content import DigestData, Rendered
from services.digests.models import Budget, RunRecord, Subscription
from services.numbers import change_pct, delta_money, money, pct

ACK_ACTION = "alert_ack"
NAME_WIDTH = 60
_FREQUENCY = {"daily": "Daily", "weekly": "Weekly", "cron": "Scheduled"}
ChartFn = Callable[..., bytes]


class DigestBlocks:
    """The `DigestRenderer` and `AlertRenderer` the digest services are given by bot/."""

    def __init__(self, currency: str = "USD", chart: ChartFn | None = None) -> None:
        self._currency = currency
        self._chart = chart

    # --- digest --------------------------------------------------------------------------------
    def summary(self, d: DigestData) -> Rendered:
        sub, cur = d.subscription, self._currency
        late = " (late)" if d.late else ""
        change = f"{delta_money(d.delta, cur)}, {change_pct(d.delta_pct)}"
        headline = (
            f"{change_arrow(d.delta)} *{money(d.total, cur)}* vs {money(d.previous_total, cur)}"
        )
        blocks: list[Block] = [
            header(f"{_FREQUENCY[sub.frequency]} cost digest · {_span(d)}{late}"),
            section(f"{headline} before ({change})\nScope: {scope_text(sub)}{_cut(d)}"),
        ]
        if len(d.top) > 1:  # one namespace at 100 % says nothing the headline did not
            rows = [[_name(s.name), money(s.cost, cur), pct(s.share, signed=False)] for s in d.top]
            grid = table([["namespace", "cost", "share"], *rows], "lrr")
            blocks.append(section("*Top namespaces*\n" + grid))
        facts = [efficiency(d.efficiency), _idle(d, cur), _recs_line(d, cur)]
        if any(facts):
            blocks.append(section(" · ".join(f for f in facts if f)))
            notes = [EFFICIENCY_NOTE if facts[0] else "", IDLE_NOTE if facts[1] else ""]
            if any(notes):
                blocks.append(context(" · ".join(n for n in notes if n)))
        blocks += [section(note) for note in _notices(d)]
        blocks.append(context(*_footer(d), "Movers, savings and the chart are in the thread."))
        return _rendered(blocks)

    def details(self, d: DigestData, chart_file_id: str | None) -> Rendered:
        cur = self._currency
        blocks: list[Block] = [section(f"*Details* · {_span(d)} vs {_period(d.previous, d)}")]
        head = ["namespace", "now", "Δ", "Δ%"]
        for title, all_movers in (("Up", d.up), ("Down", d.down)):
            movers = [m for m in all_movers if moved(m.delta)]
            if movers:
                grid = table([head, *_movers(movers, cur)], "lrrr")
                blocks.append(section(f"*{title}*\n{grid}"))
        for title, movers in (("New", d.new), ("Gone", d.gone)):
            if movers:
                names = ", ".join(f"`{escape(m.name)}`" for m in movers)
                blocks.append(section(f"*{title}:* {names}"))
        blocks += self._recs_blocks(d)
        if chart_file_id:
            alt = "Daily spend, this period and the one before"
            blocks.append(image(slack_file_id=chart_file_id, alt_text=alt))
        blocks.append(context(_provenance(d)))
        return _rendered(blocks)

    def chart(self, d: DigestData) -> tuple[bytes, str] | None:
        if self._chart is None or not d.daily:
            return None
        title = f"Daily spend · {_span(d)} vs before" + (
            " · demo data" if d.provenance.demo else ""
        )
        points = [(p.day, p.cost) for p in d.daily]
        before = [(p.day, p.cost) for p in d.previous_daily]
        png = self._chart(
            points,
            before,
            title,
            self._currency,
            subtitle=_chart_subtitle(d, self._currency),
            partial_days=[p.day for p in d.daily if p.partial],
        )
        return png, title

    def paused(self, sub: Subscription) -> Rendered:
        who = f"<@{escape(sub.subscriber)}>"
        text = (
            f":double_vertical_bar: This {sub.frequency} cost digest (`{escape(sub.id)}`) is "
            f"paused: {who} may no longer see anything it covers. It resumes by itself when "
            "that access returns."
        )
        hint = f"`/cost digest unsubscribe {escape(sub.id)}` removes it."
        return _rendered([section(text), context(hint)])

    def _recs_blocks(self, d: DigestData) -> list[Block]:
        if d.recs is None:
            return []
        cur = self._currency
        lines = [f"*Open recommendations* · {money(d.recs.total_potential, cur)}/month possible"]
        blocks: list[Block] = []
        for item in d.recs.items:
            if item.blocks:
                blocks += item.blocks
            else:
                lines.append(f"• {escape(item.title)} — {money(item.monthly_savings, cur)}/month")
        if not d.recs.items:
            lines.append("No open recommendations. :tada:")
        return [section("\n".join(lines)), *blocks]

    # --- alerts --------------------------------------------------------------------------------
    def alert(self, alert: BudgetAlert) -> Rendered:
        b = alert.budget
        if alert.kind == "spend_change":
            text = self._jump_text(alert)
        else:
            text = f"{_alert_title(alert, budget_target(b))}\n{self._budget_text(alert)}"
        note = (
            f"Budget `{escape(b.id)}` · calendar months in {escape(b.zone)} · `/cost budget list`"
        )
        ack = actions(button("Acknowledge", ACK_ACTION, alert.key), block_id="alert_ack")
        return _rendered([section(text), context(note), ack])

    def acknowledged(self, alert: BudgetAlert, by: str) -> Rendered:
        """The alert as posted, re-rendered from stored state, its button replaced by who
        acknowledged it."""
        return _rendered(acknowledged(self.alert(alert).blocks, by))

    def _jump_text(self, alert: BudgetAlert) -> str:
        cur = self._currency
        ratio = alert.day_cost / alert.baseline if alert.baseline else 0.0
        day = f"{alert.day:%a %b %d}" if alert.day else "yesterday"
        return (
            f":chart_with_upwards_trend: Spend jump: {budget_target(alert.budget)}\n"
            f"*{money(alert.day_cost, cur)}* on {day} ({escape(alert.budget.zone)}) "
            f"vs {money(alert.baseline, cur)}/day "
            f"over the 14 days before (×{ratio:.1f})."
        )

    def _budget_text(self, alert: BudgetAlert) -> str:
        cur, amount = self._currency, alert.budget.amount
        used = alert.month_to_date / amount if amount else 0.0
        return (
            f"*{money(alert.month_to_date, cur)}* of {money(amount, cur)} this month "
            f"({pct(used, signed=False)}) · forecast {money(alert.forecast, cur)} by month end"
        )


# --- lists and confirmations (used by the routes) -------------------------------------------
def _cut(d: DigestData) -> str:
    """A preview cut to the viewer, or a digest of one namespace, names what it shows."""
    names = [s.name for s in d.top]
    if d.narrowed_for_viewer:
        shown = ", ".join(f"`{escape(n)}`" for n in names[:5]) or "nothing"
        more = f" and {len(names) - 5} more" if len(names) > 5 else ""
        return f" — cut to what you may see: {shown}{more}"
    if len(names) == 1:
        return f" — all of it in `{escape(names[0])}`"
    return ""


def scope_text(sub: Subscription) -> str:
    if sub.scope_kind == "namespaces":
        return "namespaces " + ", ".join(f"`{escape(n)}`" for n in sub.namespaces)
    if sub.scope_kind == "label" and sub.label is not None:
        return f"label `{escape(sub.label[0])}={escape(sub.label[1])}`"
    return "the whole cluster" if sub.cluster_wide else "everything the subscriber may see"


def schedule_text(sub: Subscription) -> str:
    if sub.frequency == "cron":
        return f"cron `{escape(sub.cron or '')}` ({escape(sub.tz)})"
    if sub.frequency == "daily":
        return f"daily at {sub.at} {escape(sub.tz)}"
    return f"weekly on {sub.day.title()} at {sub.at} {escape(sub.tz)}"


def local_time(moment: datetime | None, tz: str) -> str:
    if moment is None:
        return "never"
    local = moment.astimezone(ZoneInfo(tz))
    return f"{local:%a %b %d %H:%M} {local.tzname()}"


def last_run_text(record: RunRecord | None, tz: str) -> str:
    if record is None:
        return "not run yet"
    when = local_time(record.at, tz)
    detail = f" ({escape(record.detail)})" if record.detail and record.outcome != "sent" else ""
    return f"{record.outcome} {when}{detail}"


def budget_target(b: Budget) -> str:
    if b.kind == "namespace":
        return f"namespace `{escape(b.target)}`"
    if b.kind == "label":
        return f"label `{escape(b.target)}`"
    return f"cluster `{escape(b.target)}`" if b.target else "the whole cluster"


def budget_zone(b: Budget) -> str:
    """Whose months a budget counts, for `budget list`. A budget older than budget zones says
    that its UTC months were never chosen, and how to choose."""
    if b.zone_recorded:
        return escape(b.zone)
    return (
        "months in UTC: set before budgets had a zone; `budget set` it again for your "
        "Slack zone's months, or add `tz ZONE`"
    )


def budget_spend_line(status: BudgetStatus, currency: str) -> str:
    """`$612.40 so far this month (41% of budget) · forecast $1,480.00`, and a line break; nothing
    when the viewer may not see the budget's target."""
    if status.month_to_date is None:
        return ""
    used = f" ({status.used:.0%} of budget)" if status.used is not None else ""
    ahead = f" · forecast {money(status.forecast, currency)}" if status.forecast is not None else ""
    warn = " :warning:" if (status.forecast or 0.0) > status.budget.amount else ""
    return f"{money(status.month_to_date, currency)} so far this month{used}{ahead}{warn}\n"


def acknowledged(blocks: Sequence[Block], user_id: str) -> list[Block]:
    """The alert with its button replaced by who acknowledged it."""
    kept = [b for b in blocks if b.get("type") != "actions"]
    return fit([*kept, context(f"✅ Acknowledged by <@{escape(user_id)}>")])


# --- helpers -------------------------------------------------------------------------------------
def _rendered(blocks: list[Block]) -> Rendered:
    fitted = fit(blocks)
    return Rendered(message_text_fallback(fitted), fitted)


def _alert_title(alert: BudgetAlert, what: str) -> str:
    if alert.kind == "forecast":
        return f":crystal_ball: On track to exceed the budget: {what}"
    if alert.threshold >= 100:
        return f":rotating_light: Budget exceeded: {what}"
    return f":warning: {alert.threshold}% of the budget used: {what}"


def _chart_subtitle(d: DigestData, currency: str) -> str:
    """Scope, clusters, the period in the subscription's zone, currency, demo data: what the
    chart image says under its title (plain text: an image shows no mrkdwn)."""
    sub = d.subscription
    if sub.scope_kind == "namespaces":
        scope = "namespaces " + ", ".join(sub.namespaces)
    elif sub.label is not None:
        scope = f"label {sub.label[0]}={sub.label[1]}"
    else:
        scope = "whole cluster" if sub.cluster_wide else "everything the subscriber may see"
    parts = [scope, *(["cluster " + ", ".join(d.clusters[:3])] if d.clusters else [])]
    parts += [_span(d), currency.upper()]
    return " · ".join([*parts, *(["demo data"] if d.provenance.demo else [])])


def _span(d: DigestData) -> str:
    return _period(d.period, d)


def _period(window: TimeRange, d: DigestData) -> str:
    return window.describe(ZoneInfo(d.subscription.tz), now=d.fire)


def _footer(d: DigestData) -> list[str]:
    tz = d.subscription.tz
    parts = [f"Digest `{escape(d.subscription.id)}` · {schedule_text(d.subscription)}"]
    if d.late:
        parts.append(f"scheduled for {local_time(d.fire, tz)}, delivered late")
    return parts


def _notices(d: DigestData) -> list[str]:
    notes = []
    if d.lost_cluster_wide:
        notes.append(
            ":lock: The subscriber no longer has cluster-wide access; cluster totals and idle "
            "capacity are left out."
        )
    if d.hidden_namespaces:
        count = d.hidden_namespaces
        notes.append(
            f":lock: {count} namespace{'s' if count != 1 else ''} this digest covered "
            f"{'are' if count != 1 else 'is'} no longer visible to the subscriber and left out."
        )
    return notes


def _recs_line(d: DigestData, cur: str) -> str:
    if d.recs is None:
        return ""
    return (
        f"savings open {money(d.recs.total_potential, cur)}/month · acknowledged "
        f"{money(d.recs.acknowledged_since, cur)} · realized "
        f"{money(d.recs.realized_since, cur)} since the last digest"
    )


def _provenance(d: DigestData) -> str:
    p = d.provenance
    return provenance_line(
        demo=p.demo,
        stale=p.stale,
        fetched_at=p.fetched_at,
        failed_clusters=list(p.failed_clusters),
        partial_scope=False,  # the scope line says what the digest covers
    )


def _idle(d: DigestData, cur: str) -> str:
    if d.idle_share is None or d.idle_cost is None:
        return ""
    return f"idle capacity {pct(d.idle_share, signed=False)} ({money(d.idle_cost, cur)})"


def _movers(movers: Sequence[Mover], cur: str) -> list[list[str]]:
    return [
        [_name(m.name), money(m.after, cur), delta_money(m.delta, cur), change_pct(m.delta_pct)]
        for m in movers
    ]


def _name(text: str) -> str:
    return fit_name(text, NAME_WIDTH)
