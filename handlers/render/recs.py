"""Block Kit for recommendations: the list, one line of what and how much per item, buttons,
the evidence modal and the dismiss modal."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from handlers.render.blocks import Block, actions, button, context, divider, header, section
from handlers.render.mrkdwn import escape
from handlers.render.reply import Reply, provenance_line
from services.numbers import money
from services.recommendations.actions import OpenSavings
from services.recommendations.board import Board
from services.recommendations.models import MIB, PROFILES, Recommendation, RecState

ACK, SNOOZE_7, SNOOZE_30, DISMISS, DETAILS = (
    "rec_ack",
    "rec_snooze_7",
    "rec_snooze_30",
    "rec_dismiss",
    "rec_details",
)
REC_ACTIONS = (ACK, SNOOZE_7, SNOOZE_30, DISMISS, DETAILS)
DISMISS_MODAL = "rec_dismiss_modal"
LIST_SAVINGS = "rec_list"  # "List them" under a cost answer; its value is the `recs` command
SHOWN = 15  # savings items in one list; more are summarized
RISKS_SHOWN = 5
STATUS_ICON = {"acknowledged": "✅", "snoozed": ":zzz:", "dismissed": ":wastebasket:", "open": ""}


class ListContext(NamedTuple):
    """What the list a button sits in was filtered and sized with, carried in the button's
    value so the refreshed list after a click is the same list. The clicker's own scope is
    applied again on every refresh, so a forged namespace shows nothing it could not see."""

    namespace: str | None = None
    profile: str | None = None


NO_CONTEXT = ListContext()


def button_value(rec: Recommendation, where: ListContext = NO_CONTEXT) -> str:
    """`id:version`, then `:profile:namespace` when the list was filtered or profiled."""
    base = f"{rec.id}:{rec.version}"
    if where == NO_CONTEXT:
        return base
    return f"{base}:{where.profile or ''}:{where.namespace or ''}"


def parse_value(value: str) -> tuple[str, str]:
    rec_id, _, rest = value.partition(":")
    return rec_id, rest.partition(":")[0]


def parse_context(value: str) -> ListContext:
    """The list context of a button value (empty for values written without one)."""
    parts = value.split(":", 3)
    if len(parts) < 4:
        return NO_CONTEXT
    return ListContext(namespace=parts[3][:63] or None, profile=parts[2][:40] or None)


def _cpu(cores: float | None) -> str:
    return "–" if cores is None else f"{round(cores * 1000)}m"


def _mem(size: float | None) -> str:
    return "–" if size is None else f"{round(size / MIB)}Mi"


def what(rec: Recommendation) -> str:
    """The one line of what to change, e.g. `payments/api` (api): CPU 500m → 120m, memory …"""
    target = f"`{escape(rec.namespace)}/{escape(rec.controller)}`" if rec.namespace else ""
    if rec.rule == "rightsize":
        container = f" ({escape(rec.container)})" if rec.container else ""
        return (
            f"{target}{container}: CPU {_cpu(rec.current_cpu)} → {_cpu(rec.recommended_cpu)}, "
            f"memory {_mem(rec.current_memory)} → {_mem(rec.recommended_memory)}"
        )
    if not target:
        return escape(rec.title)
    # The other rules' titles name the target too ("Idle deployment ns/name"): say it once.
    words = rec.title.replace(f"{rec.namespace}/{rec.controller}", "").strip()
    return f"{target}: {escape(words[:1].lower() + words[1:])}" if words else target


def status_line(state: RecState) -> str:
    if state.status == "open":
        return ""
    when = f" · {state.at:%d %b}" if state.at else ""
    who = f" by <@{escape(state.by)}>" if state.by else ""
    extra = ""
    if state.status == "snoozed" and state.until:
        extra = f" until {state.until:%d %b}"
    if state.status == "dismissed" and state.reason:
        extra = f": “{escape(state.reason[:200])}”"
    return f"{STATUS_ICON[state.status]} {state.status.capitalize()}{who}{when}{extra}"


def _amount(rec: Recommendation, currency: str) -> str:
    """How much, or why there is no amount: risks and minimums claim no savings."""
    if rec.category == "risk":
        return f":warning: *risk* — {escape(rec.risk_note or 'under-requested')}"
    if rec.category == "minimum":
        note = rec.minimum_note or "requests below the minimum we recommend"
        return f":arrow_up: *below the minimum we recommend* — {escape(note)}"
    return f"*{money(rec.monthly_savings, currency)}/month*"


def item_blocks(
    rec: Recommendation, state: RecState, currency: str, where: ListContext = NO_CONTEXT
) -> list[Block]:
    """A section (what, how much, status) and, while it is open, the action buttons."""
    amount = _amount(rec, currency)
    tags = " · HPA-aware" if rec.evidence.hpa else ""
    lines = [f"{amount} · {what(rec)}{tags}"]
    status = status_line(state)
    if status:
        lines.append(status)
    blocks: list[Block] = [section("\n".join(lines), block_id=f"rec:{rec.id}:s")]
    value = button_value(rec, where)
    if state.status == "open":
        blocks.append(
            actions(
                button("Acknowledge", ACK, value, style="primary"),
                button("Snooze 7d", SNOOZE_7, value),
                button("Snooze 30d", SNOOZE_30, value),
                button("Dismiss…", DISMISS, value, style="danger"),
                button("Details", DETAILS, value),
                block_id=f"rec:{rec.id}:a",
            )
        )
    else:
        blocks.append(actions(button("Details", DETAILS, value), block_id=f"rec:{rec.id}:a"))
    return blocks


def replace_item(
    blocks: list[Block],
    rec: Recommendation,
    state: RecState,
    currency: str,
    where: ListContext = NO_CONTEXT,
) -> list[Block]:
    """The same message with this recommendation's two blocks swapped for their new state."""
    fresh = item_blocks(rec, state, currency, where)
    out: list[Block] = []
    for block in blocks:
        block_id = str(block.get("block_id", ""))
        if block_id == f"rec:{rec.id}:s":
            out.extend(fresh)
        elif block_id != f"rec:{rec.id}:a":
            out.append(block)
    return out


def details_view(rec: Recommendation, currency: str, now: datetime) -> dict[str, Any]:
    ev = rec.evidence
    facts = [
        ("History", f"{ev.history_days} days, {ev.data_points} data points"),
        ("Percentile", f"p{ev.percentile:g}" if ev.percentile is not None else "–"),
        ("CPU peak (raw)", _cpu(ev.cpu_peak_cores)),
        ("Memory peak (raw)", _mem(ev.memory_peak_bytes)),
        ("Buffer", f"{ev.buffer * 100:.0f}%" if ev.buffer is not None else "–"),
        (
            "Floor applied",
            ", ".join(
                n
                for n, on in (("CPU", ev.cpu_floor_applied), ("memory", ev.memory_floor_applied))
                if on
            )
            or "no",
        ),
        (
            "HPA",
            f"yes, target {ev.hpa_target_utilization:g}%"
            if ev.hpa and ev.hpa_target_utilization
            else "no",
        ),
        ("Unit prices", _prices(ev.cpu_unit_price, ev.ram_unit_price, currency)),
        ("Average pods", f"{ev.avg_pods:.1f}" if ev.avg_pods is not None else "–"),
        ("Sizing profile", profile_text(ev.profile, ev.target_utilization)),
        ("Confidence", confidence_text(ev.confidence, ev.history_days, ev.confidence_factor)),
    ]
    rows = "\n".join(f"*{name}:* {escape(value)}" for name, value in facts)
    blocks: list[Block] = [
        header(rec.title[:140] or "Recommendation"),
        section(what(rec) + "\n" + _outcome(rec, currency)),
        section(rows),
    ]
    if ev.notes:
        blocks.append(context(*(escape(n) for n in ev.notes[:5])))
    if rec.kubectl_patch:
        blocks += [
            divider(),
            section("*Apply with kubectl*\n```" + escape(rec.kubectl_patch) + "```"),
        ]
    if rec.yaml:
        blocks.append(section("*Or in the manifest*\n```" + escape(rec.yaml) + "```"))
    blocks.append(
        context(f"id `{rec.id}` · version `{rec.version}` · as of {now:%Y-%m-%d %H:%M} UTC")
    )
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Recommendation"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": blocks,
    }


def profile_text(profile: str, target: float | None) -> str:
    if not profile:
        return "default (CPU p95, memory peak + 15 %)"
    shown = f", target utilization {target:.0%}" if target is not None else ""
    return f"{profile}{shown}"


def confidence_text(level: str, days: int, factor: float | None) -> str:
    """e.g. "low: 4 days of history, requests widened ×1.17" (formula in the docs)."""
    if not level:
        return "–"
    widened = f", requests widened ×{factor:.2f}" if factor and factor > 1.0 else ""
    return f"{level}: {days} day(s) of history{widened}"


def _outcome(rec: Recommendation, currency: str) -> str:
    if rec.category == "risk":
        return f"*Risk:* {escape(rec.risk_note)} (no savings claimed)"
    if rec.category == "minimum":
        return f"*Below the minimum we recommend:* {escape(rec.minimum_note)} (no savings claimed)"
    return f"*Savings:* {money(rec.monthly_savings, currency)}/month"


def _prices(cpu: float | None, ram: float | None, currency: str) -> str:
    parts = []
    if cpu:
        parts.append(f"{money(cpu, currency)}/core-hour" if cpu >= 0.01 else f"{cpu:.5f}/core-hour")
    if ram:
        parts.append(f"{ram * (1 << 30):.5f}/GiB-hour")
    return ", ".join(parts) or "–"


def dismiss_view(rec: Recommendation, private_metadata: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": DISMISS_MODAL,
        "private_metadata": private_metadata,
        "title": {"type": "plain_text", "text": "Dismiss recommendation"},
        "submit": {"type": "plain_text", "text": "Dismiss"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            section(what(rec)),
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": "Why? (kept in the audit log)"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "reason",
                    "multiline": True,
                    "min_length": 3,
                    "max_length": 500,
                },
            },
        ],
    }


# --- the open savings under a cost answer -----------------------------------------------------
def with_savings(
    reply: Reply, savings: OpenSavings | None, currency: str, namespace: str | None = None
) -> Reply:
    """The cost answer ending with its open savings ("3 open recommendations · $412.00/month")
    and a button that lists them; placed before the provenance line and the Share button."""
    if savings is None:
        return reply
    where = f" in `{escape(namespace)}`" if namespace else ""
    if savings.count:
        noun = "recommendation" if savings.count == 1 else "recommendations"
        line = (
            f":bulb: *{savings.count} open {noun}*{where} · "
            f"*{money(savings.monthly, currency)}/month* to save"
        )
    else:
        line = f":sparkles: No open recommendations{where}."
    command = f"recs ns {namespace}" if namespace else "recs"
    listing = button("List them", LIST_SAVINGS, command)
    blocks = list(reply.blocks)
    last = blocks[-1] if blocks else {}
    if len(blocks) >= 2 and last.get("type") == "actions" and last.get("block_id") == "share":
        # Next to Share, in the same block: a shared copy drops both (the buttons are personal).
        buttons = [*(last.get("elements") or []), listing] if savings.count else last["elements"]
        reply.blocks = [*blocks[:-2], section(line), blocks[-2], {**last, "elements": buttons}]
    else:
        extra = [actions(listing, block_id="savings")] if savings.count else []
        reply.blocks = [*blocks, section(line), *extra]
    reply.text = ""
    return reply.finished()


# --- the list ----------------------------------------------------------------------------------
def render_board(
    board: Board, currency: str, namespace: str | None = None, where: ListContext | None = None
) -> Reply:
    """The list: savings (best first), then risks, then raises to the recommended minimum.

    Its `text` is the headline (header, total, counts), what notifications and screen readers
    read instead of the blocks."""
    where = where or ListContext(namespace=namespace, profile=board.profile or None)
    title = "Savings you can act on" + (f" · {namespace}" if namespace else "")
    headline = _headline(board, currency, namespace)
    blocks: list[Block] = [header(title), section(headline)]
    for item in board.items[:SHOWN]:
        blocks += item_blocks(item.rec, item.state, currency, where)
    if len(board.items) > SHOWN:
        blocks.append(
            context(f"…and {len(board.items) - SHOWN} more; narrow with `recs namespace N`")
        )
    for group, label in ((board.risks, "risk(s)"), (board.minimums, "below the minimum")):
        for item in group[:RISKS_SHOWN]:
            blocks += item_blocks(item.rec, item.state, currency, where)
        if len(group) > RISKS_SHOWN:
            blocks.append(context(f"…and {len(group) - RISKS_SHOWN} more {label}"))
    if not board.items and not board.risks and not board.minimums:
        blocks.append(section("Nothing to recommend in what you can see. :sparkles:"))
    blocks.append(context(_provenance(board), *_notes(board)))
    return Reply(blocks, text=f"{title}: {_plain(headline)}").finished()


def _plain(mrkdwn: str) -> str:
    """A headline without its emphasis and emoji codes, for the message `text`."""
    words = [w for w in mrkdwn.replace("*", "").replace("`", "").split() if not _emoji(w)]
    return " ".join(words)


def _emoji(word: str) -> bool:
    return len(word) > 2 and word.startswith(":") and word.endswith(":")


def _headline(board: Board, currency: str, namespace: str | None) -> str:
    where = f" in `{escape(namespace)}`" if namespace else ""
    if board.items:
        text = (
            f"*{money(board.total_savings, currency)}/month* potential across "
            f"{len(board.items)} recommendation(s){where}."
        )
    else:
        text = f"No savings to act on{where}."
    if board.risks:
        text += f" {len(board.risks)} workload(s) look under-requested (risks below)."
    if board.minimums:
        text += f" {len(board.minimums)} request(s) below the minimum we recommend."
    if board.realized_monthly:
        text += (
            f"\n:moneybag: Realized so far: *{money(board.realized_monthly, currency)}/month* "
            "from acknowledged changes that were applied"
        )
    return text


def _provenance(board: Board) -> str:
    return provenance_line(
        demo=board.demo,
        stale=board.stale,
        fetched_at=board.fetched_at,
        failed_clusters=board.failed_clusters,
        partial_scope=board.partial_scope,
    )


def _notes(board: Board) -> list[str]:
    notes = [f"sizing profile: {profile_text(board.profile, PROFILES.get(board.profile))}"]
    if board.hidden:
        notes.append(
            f"{board.hidden} acknowledged/snoozed/dismissed hidden (`recs all` shows them)"
        )
    if board.skipped:
        notes.append(f"{board.skipped} workload(s) skipped: fewer than 3 days of data")
    return notes
