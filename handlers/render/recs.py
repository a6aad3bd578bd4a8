"""Block Kit for recommendations: the list, one line of what and how much per item, buttons,
the evidence modal and the dismiss modal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from handlers.render.blocks import Block, actions, button, context, divider, header, section
from handlers.render.format import money
from handlers.render.mrkdwn import escape
from handlers.render.reply import Reply, provenance_line
from services.recommendations.board import Board
from services.recommendations.models import MIB, Recommendation, RecState

ACK, SNOOZE_7, SNOOZE_30, DISMISS, DETAILS = (
    "rec_ack",
    "rec_snooze_7",
    "rec_snooze_30",
    "rec_dismiss",
    "rec_details",
)
REC_ACTIONS = (ACK, SNOOZE_7, SNOOZE_30, DISMISS, DETAILS)
DISMISS_MODAL = "rec_dismiss_modal"
SHOWN = 15  # savings items in one list; more are summarized
RISKS_SHOWN = 5
STATUS_ICON = {"acknowledged": "✅", "snoozed": ":zzz:", "dismissed": ":wastebasket:", "open": ""}


def button_value(rec: Recommendation) -> str:
    return f"{rec.id}:{rec.version}"


def parse_value(value: str) -> tuple[str, str]:
    rec_id, _, version = value.partition(":")
    return rec_id, version


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


def item_blocks(rec: Recommendation, state: RecState, currency: str) -> list[Block]:
    """A section (what, how much, status) and, while it is open, the action buttons."""
    amount = (
        f":warning: *risk* — {escape(rec.risk_note or 'under-requested')}"
        if rec.risk
        else f"*{money(rec.monthly_savings, currency)}/month*"
    )
    tags = " · HPA-aware" if rec.evidence.hpa else ""
    lines = [f"{amount} · {what(rec)}{tags}"]
    status = status_line(state)
    if status:
        lines.append(status)
    blocks: list[Block] = [section("\n".join(lines), block_id=f"rec:{rec.id}:s")]
    value = button_value(rec)
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
    blocks: list[Block], rec: Recommendation, state: RecState, currency: str
) -> list[Block]:
    """The same message with this recommendation's two blocks swapped for their new state."""
    fresh = item_blocks(rec, state, currency)
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
    ]
    rows = "\n".join(f"*{name}:* {escape(value)}" for name, value in facts)
    blocks: list[Block] = [
        header(rec.title[:140] or "Recommendation"),
        section(what(rec) + f"\n*Savings:* {money(rec.monthly_savings, currency)}/month"),
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


# --- the list ----------------------------------------------------------------------------------
def render_board(board: Board, currency: str, namespace: str | None = None) -> Reply:
    blocks: list[Block] = [
        header("Savings you can act on" + (f" · {namespace}" if namespace else "")),
        section(_headline(board, currency, namespace)),
    ]
    for item in board.items[:SHOWN]:
        blocks += item_blocks(item.rec, item.state, currency)
    if len(board.items) > SHOWN:
        blocks.append(
            context(f"…and {len(board.items) - SHOWN} more; narrow with `recs namespace N`")
        )
    for item in board.risks[:RISKS_SHOWN]:
        blocks += item_blocks(item.rec, item.state, currency)
    if len(board.risks) > RISKS_SHOWN:
        blocks.append(context(f"…and {len(board.risks) - RISKS_SHOWN} more risk(s)"))
    if not board.items and not board.risks:
        blocks.append(section("Nothing to recommend in what you can see. :sparkles:"))
    blocks.append(context(_provenance(board), *_notes(board)))
    return Reply(blocks).finished()


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
    notes = []
    if board.hidden:
        notes.append(
            f"{board.hidden} acknowledged/snoozed/dismissed hidden (`recs all` shows them)"
        )
    if board.skipped:
        notes.append(f"{board.skipped} workload(s) skipped: fewer than 3 days of data")
    return notes
