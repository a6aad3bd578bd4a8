"""`/cost recommendations` and its buttons: acknowledge, snooze, dismiss (modal), details.

Every click is re-authorized for the *clicker* (patch on the workload, or cluster-wide view
for cluster-level items) and checked against the version it was rendered from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from handlers import grammar
from handlers.blockkit import context, escape, fit, header, money, section
from handlers.commands import Asker, route
from handlers.cost_routes import visible_scope
from handlers.deps import Deps
from handlers.errors import words_for
from handlers.render_recs import (
    ACK,
    DETAILS,
    DISMISS,
    DISMISS_MODAL,
    SNOOZE_7,
    SNOOZE_30,
    details_view,
    dismiss_view,
    item_blocks,
    parse_value,
    replace_item,
)
from handlers.reply import Block, Reply, provenance_line
from services.errors import CostbotError, NotAllowed, StaleAction
from services.ports import Identity, Scope
from services.recommendations.board import Board, RecommendationBoard
from services.recommendations.models import Action, Recommendation, RecState
from services.windows import DEFAULT_WINDOW, parse_window

SHOWN = 15
log = structlog.get_logger("costbot.recs")


def board_of(deps: Deps) -> RecommendationBoard:
    board = deps.recs
    if not isinstance(board, RecommendationBoard):
        raise CostbotError("Recommendations are not enabled on this installation.")
    return board


async def scope_for(deps: Deps, identity: Identity, user_id: str) -> Scope:
    window = parse_window(DEFAULT_WINDOW, deps.clock.now())
    return await visible_scope(deps, Asker(identity, user_id, "", ""), window)


@route(grammar.Recommendations)
async def recommendations(cmd: grammar.Recommendations, deps: Deps, asker: Asker) -> Reply:
    scope = await scope_for(deps, asker.identity, asker.user_id)
    board = await board_of(deps).board(scope, cmd.namespace, cmd.include_all)
    return render_board(board, deps.currency, cmd.namespace)


def render_board(board: Board, currency: str, namespace: str | None = None) -> Reply:
    where = f" in `{escape(namespace)}`" if namespace else ""
    blocks: list[Block] = [
        header("Savings you can act on" + (f" · {namespace}" if namespace else "")),
        section(
            f"*{money(board.total_savings, currency)}/month* potential across "
            f"{len(board.items)} recommendation(s){where}."
            + (
                f"\n:moneybag: Realized so far: *{money(board.realized_monthly, currency)}/month*"
                if board.realized_monthly
                else ""
            )
        ),
    ]
    for item in board.items[:SHOWN]:
        blocks += item_blocks(item.rec, item.state, currency)
    if len(board.items) > SHOWN:
        blocks.append(
            context(f"…and {len(board.items) - SHOWN} more; narrow with `recs namespace N`")
        )
    for item in board.risks[:5]:
        blocks += item_blocks(item.rec, item.state, currency)
    notes = []
    if board.hidden:
        notes.append(
            f"{board.hidden} acknowledged/snoozed/dismissed hidden (`recs all` shows them)"
        )
    if board.skipped:
        notes.append(f"{board.skipped} workload(s) skipped: fewer than 3 days of data")
    if not board.items and not board.risks:
        blocks.append(section("Nothing to recommend in what you can see. :sparkles:"))
    blocks.append(
        context(
            provenance_line(
                demo=board.demo,
                stale=board.stale,
                fetched_at=board.fetched_at,
                failed_clusters=board.failed_clusters,
                partial_scope=board.partial_scope,
            ),
            *notes,
        )
    )
    return Reply(blocks).finished()


@dataclass(frozen=True)
class Clicker:
    """Whoever pressed a button or submitted a modal, as the identity middleware resolved them."""

    identity: Identity
    user_id: str

    @classmethod
    def of(cls, body: dict[str, Any], context: dict[str, Any]) -> Clicker:
        user_id = str((body.get("user") or {}).get("id", ""))
        return cls(context.get("identity") or Identity(slack_user_id=user_id), user_id)


ACTION_VERBS: dict[str, Action] = {
    ACK: "acknowledge",
    SNOOZE_7: "snooze",
    SNOOZE_30: "snooze",
    "dismiss": "dismiss",
}


async def authorize_click(deps: Deps, who: Clicker, value: str) -> tuple[Recommendation, str]:
    """The current recommendation for a button value, if this clicker may act on it."""
    rec_id, version = parse_value(value)
    scope = await scope_for(deps, who.identity, who.user_id)
    rec = await board_of(deps).find(scope, rec_id)
    if rec is None:
        await deps.audit.record(
            "recommendation_rejected", who.user_id, rec_id=rec_id[:40], reason="not visible"
        )
        raise NotAllowed("That recommendation is not available to you (or no longer exists).")
    if rec.namespace:
        allowed = await deps.access.may_act(who.identity, rec.namespace, rec.kind, rec.controller)
    else:
        allowed = scope.cluster_wide
    if not allowed:
        await deps.audit.record(
            "access_denied", who.user_id, rec_id=rec.id, namespace=rec.namespace, action="act"
        )
        raise NotAllowed(
            f"You may not change `{escape(rec.namespace or 'cluster')}/{escape(rec.controller)}` "
            "in Kubernetes, so you can't act on this recommendation."
        )
    return rec, version


async def act(
    deps: Deps, who: Clicker, value: str, action: str, reason: str = ""
) -> tuple[Recommendation, RecState]:
    """Re-authorize, check the version, then change the state once (atomic, idempotent)."""
    rec, version = await authorize_click(deps, who, value)
    if version != rec.version:
        raise StaleAction(
            "This recommendation changed since the message was posted; here is the current one. "
            "Nothing was changed."
        )
    until = None
    if action in (SNOOZE_7, SNOOZE_30):
        until = deps.clock.now() + timedelta(days=30 if action == SNOOZE_30 else 7)
    result = await board_of(deps).store.act(
        rec.id, ACTION_VERBS[action], who.user_id, rec.version, until=until, reason=reason
    )
    if result.changed:
        await deps.audit.record(
            f"recommendation_{result.state.status}",
            who.user_id,
            rec_id=rec.id,
            namespace=rec.namespace,
            controller=rec.controller,
            reason=reason[:200],
        )
    return rec, result.state


def _value(body: dict[str, Any]) -> str:
    return str((body.get("actions") or [{}])[0].get("value", ""))


async def _refuse(respond: AsyncRespond, error: CostbotError) -> None:
    await respond(text=words_for(error), response_type="ephemeral", replace_original=False)


def register(app: AsyncApp, deps: Deps) -> None:
    _register_state_buttons(app, deps)
    _register_dismiss(app, deps)
    _register_details(app, deps)


def _register_state_buttons(app: AsyncApp, deps: Deps) -> None:
    async def on_button(
        ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, context: dict[str, Any]
    ) -> None:
        await ack()
        who = Clicker.of(body, context)
        action_id = str((body.get("actions") or [{}])[0].get("action_id"))
        original = list((body.get("message") or {}).get("blocks") or [])
        try:
            rec, state = await act(deps, who, _value(body), action_id)
        except StaleAction as error:
            await _show_current(deps, who, _value(body), respond, error)
            return
        except CostbotError as error:
            await _refuse(respond, error)
            return
        blocks = await _updated(deps, who, original, rec, state)
        await respond(blocks=blocks, text=f"{rec.title}: {state.status}", replace_original=True)

    for action_id in (ACK, SNOOZE_7, SNOOZE_30):
        app.action(action_id)(on_button)


def _register_dismiss(app: AsyncApp, deps: Deps) -> None:
    @app.action(DISMISS)
    async def on_dismiss(
        ack: AsyncAck,
        body: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
        context: dict[str, Any],
    ) -> None:
        await ack()
        try:
            rec, _ = await authorize_click(deps, Clicker.of(body, context), _value(body))
        except CostbotError as error:
            await _refuse(respond, error)
            return
        # private_metadata holds ≤ 3000 chars: the value and where to update, never the blocks.
        meta = json.dumps({"value": _value(body), "response_url": body.get("response_url", "")})
        await client.views_open(trigger_id=body["trigger_id"], view=dismiss_view(rec, meta))

    @app.view(DISMISS_MODAL)
    async def on_dismiss_submit(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: dict[str, Any]
    ) -> None:
        reason = str(view["state"]["values"]["reason"]["reason"].get("value") or "").strip()
        if len(reason) < 3:
            await ack(
                response_action="errors", errors={"reason": "Please say why (3+ characters)."}
            )
            return
        await ack()
        who = Clicker.of(body, context)
        meta = _meta(view.get("private_metadata", ""))
        try:
            rec, state = await act(deps, who, str(meta.get("value", "")), "dismiss", reason)
        except CostbotError as error:
            log.info("recommendation.dismiss_refused", error=type(error).__name__)
            return
        if meta.get("response_url"):
            blocks = await _updated(deps, who, [], rec, state)
            await AsyncWebhookClient(str(meta["response_url"])).send(
                blocks=blocks, text=f"{rec.title}: dismissed", replace_original=True
            )


def _register_details(app: AsyncApp, deps: Deps) -> None:
    @app.action(DETAILS)
    async def on_details(
        ack: AsyncAck,
        body: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
        context: dict[str, Any],
    ) -> None:
        await ack()
        who = Clicker.of(body, context)
        rec_id, _ = parse_value(_value(body))
        try:
            scope = await scope_for(deps, who.identity, who.user_id)
            rec = await board_of(deps).find(scope, rec_id)
            if rec is None:
                raise NotAllowed("That recommendation is not available to you.")
        except CostbotError as error:
            await _refuse(respond, error)
            return
        view = details_view(rec, deps.currency, deps.clock.now())
        await client.views_open(trigger_id=body["trigger_id"], view=view)


async def _updated(
    deps: Deps, who: Clicker, original: list[Block], rec: Recommendation, state: RecState
) -> list[Block]:
    """The clicked message with this item updated; ephemeral messages carry no blocks, so
    those are re-rendered for the clicker with the change on top."""
    if original:
        return replace_item(original, rec, state, deps.currency)
    scope = await scope_for(deps, who.identity, who.user_id)
    reply = render_board(await board_of(deps).board(scope), deps.currency)
    changed = item_blocks(rec, state, deps.currency)[0]
    return fit([reply.blocks[0], changed, *reply.blocks[1:]])


def _meta(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


async def _show_current(
    deps: Deps, who: Clicker, value: str, respond: AsyncRespond, error: StaleAction
) -> None:
    rec_id, _ = parse_value(value)
    scope = await scope_for(deps, who.identity, who.user_id)
    rec = await board_of(deps).find(scope, rec_id)
    blocks: list[Block] = [section(words_for(error))]
    if rec is not None:
        blocks += item_blocks(rec, await board_of(deps).state(rec.id), deps.currency)
    await respond(blocks=blocks, text="This recommendation changed", replace_original=False)
