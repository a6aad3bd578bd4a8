"""App Home: your visible spend this week vs last, your top open recommendations, realized
savings and the commands — published with views.publish on `app_home_opened` (and again after a
button pressed there). Shows only what the viewer's Kubernetes identity may see."""

from __future__ import annotations

from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from handlers.asker import Asker
from handlers.deps import Deps
from handlers.errors import UNMAPPED_HELP, words_for
from handlers.render.blocks import Block, context, divider, header, section
from handlers.render.fit import fit
from handlers.render.mrkdwn import escape
from handlers.render.recs import item_blocks
from handlers.routes.costs import visible_scope
from services.access.models import Identity, Scope
from services.costs.windows import TimeRange, parse_window
from services.errors import CostbotError
from services.numbers import money, pct
from services.recommendations.board import RecommendationBoard

log = structlog.get_logger("costbot.home")
TOP_RECS = 5
TOP_RISKS = 3  # under-requested workloads: worth a look, never counted as savings


async def home_blocks(deps: Deps, identity: Identity, user_id: str) -> list[Block]:
    blocks: list[Block] = [header("costbot · your Kubernetes cost")]
    if deps.demo:
        blocks.append(context(":test_tube: demo data: a built-in demo cluster, not your costs"))
    if not identity.mapped:
        return [
            *blocks,
            section(":bust_in_silhouette: " + UNMAPPED_HELP.format(user=escape(user_id))),
        ]
    asker = Asker(identity, user_id, "", "")
    window = parse_window("week", deps.clock.now(), tz=asker.tz)  # the viewer's own week
    scope = await visible_scope(deps, asker, window)
    blocks.append(await _spend(deps, window, scope))
    if isinstance(deps.recs, RecommendationBoard):
        blocks += await _recommendations(deps, deps.recs, scope)
    blocks += [
        divider(),
        context(
            "Try `/cost summary`, `/cost top 5 by controller`, `/cost trend 30d`, "
            "`/cost recs`, `/cost whoami`."
        ),
    ]
    return fit(blocks)


async def _spend(deps: Deps, window: TimeRange, scope: Scope) -> Block:
    comparison = await deps.costs.compare(window, scope)
    arrow = "↑" if comparison.delta > 0 else "↓" if comparison.delta < 0 else "→"
    # Comparison.delta_pct is in percent; `pct` takes a fraction.
    change = None if comparison.delta_pct is None else comparison.delta_pct / 100.0
    return section(
        f"*This week so far:* {money(comparison.total, deps.currency)} {arrow} "
        f"vs {money(comparison.previous_total, deps.currency)} at the same point last week "
        f"({pct(change)})" + ("\n_namespaces you can see_" if scope.partial else "")
    )


async def _recommendations(deps: Deps, recs: RecommendationBoard, scope: Scope) -> list[Block]:
    board = await recs.board(scope)
    realized = (
        f" · realized {money(board.realized_monthly, deps.currency)}/month"
        if board.realized_monthly
        else ""
    )
    blocks = [
        divider(),
        section(
            "*Top open recommendations* · "
            f"{money(board.total_savings, deps.currency)}/month potential{realized}"
        ),
    ]
    for item in [*board.items[:TOP_RECS], *board.risks[:TOP_RISKS]]:
        blocks += item_blocks(item.rec, item.state, deps.currency)
    more = max(0, len(board.items) - TOP_RECS) + max(0, len(board.risks) - TOP_RISKS)
    if more:
        blocks.append(context(f"…and {more} more: `/cost recs`"))
    if not board.items and not board.risks:
        blocks.append(section("Nothing to recommend right now. :sparkles:"))
    return blocks


async def publish_home(
    deps: Deps, client: AsyncWebClient, identity: Identity, user_id: str, notice: str = ""
) -> None:
    """Render and publish the user's App Home; `notice` (e.g. what a button just did, or why
    it was refused) goes on top. Errors become words on the Home, never a blank tab."""
    try:
        blocks = await home_blocks(deps, identity, user_id)
    except CostbotError as error:
        log.info("home.degraded", error=type(error).__name__)
        blocks = [header("costbot"), section(words_for(error))]
    if notice:
        blocks = fit([blocks[0], section(notice), *blocks[1:]])
    await client.views_publish(user_id=user_id, view={"type": "home", "blocks": blocks})


def register(app: AsyncApp, deps: Deps) -> None:
    @app.event("app_home_opened")
    async def on_home(
        event: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]
    ) -> None:
        if event.get("tab", "home") != "home":
            return
        user_id = str(event.get("user", ""))
        identity = context.get("identity") or Identity(slack_user_id=user_id)
        await publish_home(deps, client, identity, user_id)

    @app.event("message")
    async def ignore_messages() -> None:
        """Subscribed channels' messages are not for us; answering 200 stops Slack's retries."""
