"""App Home: your visible spend this week vs last, your top open recommendations, realized
savings and the commands — published with views.publish on `app_home_opened`."""

from __future__ import annotations

from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blockkit import context, divider, escape, fit, header, money, pct, section
from handlers.commands import Asker
from handlers.cost_routes import visible_scope
from handlers.deps import Deps
from handlers.errors import UNMAPPED_HELP, words_for
from handlers.render_recs import item_blocks
from handlers.reply import Block
from services.errors import CostbotError
from services.ports import Identity
from services.recommendations.board import RecommendationBoard
from services.windows import parse_window

log = structlog.get_logger("costbot.home")


async def home_blocks(deps: Deps, identity: Identity, user_id: str) -> list[Block]:
    blocks: list[Block] = [header("costbot · your Kubernetes cost")]
    if not identity.mapped:
        return [
            *blocks,
            section(":bust_in_silhouette: " + UNMAPPED_HELP.format(user=escape(user_id))),
        ]
    window = parse_window("week", deps.clock.now())
    scope = await visible_scope(deps, Asker(identity, user_id, "", ""), window)
    comparison = await deps.costs.compare(window, scope)
    arrow = "↑" if comparison.delta > 0 else "↓" if comparison.delta < 0 else "→"
    blocks.append(
        section(
            f"*This week so far:* {money(comparison.total, deps.currency)} {arrow} "
            f"vs {money(comparison.previous_total, deps.currency)} at the same point last week "
            f"({pct(comparison.delta_pct)})"
            + ("\n_namespaces you can see_" if scope.partial else "")
        )
    )
    if isinstance(deps.recs, RecommendationBoard):
        board = await deps.recs.board(scope)
        blocks += [
            divider(),
            section(
                "*Top open recommendations* · "
                f"{money(board.total_savings, deps.currency)}/month potential"
                + (
                    f" · realized {money(board.realized_monthly, deps.currency)}/month"
                    if board.realized_monthly
                    else ""
                )
            ),
        ]
        for item in board.items[:5]:
            blocks += item_blocks(item.rec, item.state, deps.currency)
        if not board.items:
            blocks.append(section("Nothing to recommend right now. :sparkles:"))
    blocks += [
        divider(),
        context(
            "Try `/cost summary`, `/cost top 5 by controller`, `/cost trend 30d`, "
            "`/cost recs`, `/cost whoami`."
        ),
    ]
    return fit(blocks)


def register(app: AsyncApp, deps: Deps) -> None:
    @app.event("app_home_opened")
    async def on_home(
        event: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]
    ) -> None:
        if event.get("tab", "home") != "home":
            return
        user_id = str(event.get("user", ""))
        identity = context.get("identity") or Identity(slack_user_id=user_id)
        try:
            blocks = await home_blocks(deps, identity, user_id)
        except CostbotError as error:
            blocks = [header("costbot"), section(words_for(error))]
        await client.views_publish(user_id=user_id, view={"type": "home", "blocks": blocks})

    @app.event("message")
    async def ignore_messages() -> None:
        """Subscribed channels' messages are not for us; answering 200 stops Slack's retries."""
