"""What a handler answers with, and the pieces every cost reply shares (period, provenance)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from handlers.render.blocks import Block, actions, button, context
from handlers.render.fit import fit, message_text_fallback
from handlers.render.mrkdwn import escape
from services.costs.windows import zone_of

SHARE_ACTION = "share_in_channel"


@dataclass
class Reply:
    """A rendered answer. `chart` is PNG bytes to upload and show under the answer."""

    blocks: list[Block]
    text: str = ""
    chart: bytes | None = None
    chart_title: str = ""
    in_channel: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def finished(self) -> Reply:
        self.blocks = fit(self.blocks)
        if not self.text:
            self.text = message_text_fallback(self.blocks)
        return self


def period_text(
    start: datetime, end: datetime, now: datetime | None = None, tz: str = "UTC"
) -> str:
    """'Nov 20 00:00 – Nov 26 09:35 UTC' in the zone `tz` (years shown when not the current
    one)."""
    end_shown = min(end, now) if now is not None else end
    zone = zone_of(tz)
    current = (now or end).astimezone(zone).year

    def fmt(moment: datetime) -> str:
        moment = moment.astimezone(zone)
        year = "" if moment.year == current else f" {moment.year}"
        return f"{moment:%b} {moment.day}{year} {moment:%H:%M}"

    return f"{fmt(start)} – {fmt(end_shown)} {tz}"


def provenance_line(
    *,
    demo: bool,
    stale: bool,
    fetched_at: float,
    failed_clusters: list[str],
    partial_scope: bool,
    clusters: list[str] | None = None,
    missing: list[str] | None = None,
) -> str:
    parts: list[str] = []
    as_of = datetime.fromtimestamp(fetched_at, UTC).strftime("%H:%M UTC")
    if stale:
        parts.append(f":warning: data as of {as_of} — OpenCost is not answering")
    else:
        parts.append(f"data as of {as_of}")
    parts.append(":test_tube: demo data" if demo else "source: OpenCost")
    shown = [c for c in (clusters or []) if c]
    if shown:
        parts.append("cluster " + ", ".join(escape(c) for c in shown[:5]))
    if failed_clusters:
        names = ", ".join(f"`{escape(c)}`" for c in failed_clusters)
        parts.append(f":warning: no answer from {names}; figures exclude it")
    if missing:
        shown_missing = ", ".join(escape(m) for m in missing[:6])
        more = f" and {len(missing) - 6} more" if len(missing) > 6 else ""
        parts.append(f":warning: no data yet for {shown_missing}{more}; figures exclude it")
    if partial_scope:
        parts.append(":eyes: namespaces you can see")
    return " · ".join(parts)


def provenance_block(prov: Any, clusters: list[str] | None = None) -> Block:
    return context(
        provenance_line(
            demo=prov.demo,
            stale=prov.stale,
            fetched_at=prov.fetched_at,
            failed_clusters=list(prov.failed_clusters),
            partial_scope=prov.partial_scope,
            clusters=clusters,
            missing=list(getattr(prov, "missing", [])),
        )
    )


def share_actions(command_text: str) -> Block:
    """The 'Share in channel' button; its value is the command, re-run for the clicker."""
    return actions(
        button("Share in channel", SHARE_ACTION, command_text[:1900] or "summary"),
        block_id="share",
    )
