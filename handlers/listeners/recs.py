"""`/cost recommendations` and its buttons: acknowledge, snooze, dismiss (modal), details.

Every click is re-authorized for the *clicker* (patch on the target, or cluster-wide view for
cluster-level insights), checked against the version it was rendered from, and answered where it
was pressed: the message (through its response_url) or the App Home (re-published).
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

from handlers import grammar
from handlers.asker import Asker
from handlers.deps import Deps
from handlers.errors import words_for
from handlers.listeners.home import publish_home
from handlers.render.blocks import Block, section
from handlers.render.fit import fit
from handlers.render.mrkdwn import escape
from handlers.render.recs import (
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
    render_board,
    replace_item,
)
from handlers.render.reply import Reply
from handlers.routes.costs import visible_scope
from services.access.models import Identity, Scope
from services.access.policy import CLUSTER_RESOURCES
from services.costs.windows import DEFAULT_WINDOW, parse_window
from services.errors import (
    AuthorizationUnavailable,
    CostbotError,
    NotAllowed,
    StaleAction,
    Unmapped,
)
from services.recommendations.board import RecommendationBoard
from services.recommendations.models import Action, Recommendation, RecState

log = structlog.get_logger("costbot.recs")


def board_of(deps: Deps) -> RecommendationBoard:
    board = deps.recs
    if board is None:
        raise CostbotError("Recommendations are not enabled on this installation.")
    return board


async def scope_for(deps: Deps, identity: Identity, user_id: str) -> Scope:
    window = parse_window(DEFAULT_WINDOW, deps.clock.now())
    return await visible_scope(deps, Asker(identity, user_id, "", ""), window)


async def recommendations(cmd: grammar.Recommendations, deps: Deps, asker: Asker) -> Reply:
    scope = await scope_for(deps, asker.identity, asker.user_id)
    board = await board_of(deps).board(scope, cmd.namespace, cmd.include_all)
    return render_board(board, deps.currency, cmd.namespace)


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
    if not who.identity.mapped:
        await deps.audit.record("access_denied", who.user_id, rec_id=rec_id[:40], reason="unmapped")
        raise Unmapped(who.user_id)
    scope = await scope_for(deps, who.identity, who.user_id)
    rec = await board_of(deps).find(scope, rec_id)
    if rec is None:
        await deps.audit.record(
            "recommendation_rejected", who.user_id, rec_id=rec_id[:40], reason="not visible"
        )
        raise NotAllowed("That recommendation is not available to you (or no longer exists).")
    if not await _may_act(deps, who, rec, scope):
        await deps.audit.record(
            "access_denied", who.user_id, rec_id=rec.id, namespace=rec.namespace, action="act"
        )
        raise NotAllowed(
            # Plain text: words_for escapes the whole message once.
            f"You may not change `{rec.namespace or 'cluster'}/{rec.controller}` "
            "in Kubernetes, so you can't act on this recommendation."
        )
    return rec, version


async def _may_act(deps: Deps, who: Clicker, rec: Recommendation, scope: Scope) -> bool:
    """`patch` on the target (a workload, or a cluster-scoped volume or node); cluster-level
    insights without one target (idle capacity) need cluster-wide figures."""
    if rec.namespace or rec.kind.lower() in CLUSTER_RESOURCES:
        return await deps.access.may_act(who.identity, rec.namespace, rec.kind, rec.controller)
    return scope.cluster_wide


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


# --- listeners ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Surface:
    """Where a click came from and how to answer there: a message (via its response_url) or
    the clicker's App Home, which has no response_url and is re-published instead."""

    deps: Deps
    who: Clicker
    client: AsyncWebClient
    respond: AsyncRespond | None
    home: bool

    @classmethod
    def of(
        cls,
        deps: Deps,
        body: dict[str, Any],
        context: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond | None,
    ) -> Surface:
        from_home = (body.get("view") or {}).get("type") == "home" or not body.get("response_url")
        return cls(deps, Clicker.of(body, context), client, respond, from_home)

    async def refuse(self, error: CostbotError) -> None:
        if isinstance(error, AuthorizationUnavailable):  # failed closed: a denial too
            await self.deps.audit.record(
                "access_denied", self.who.user_id, reason="authorization_unavailable"
            )
        if self.home or self.respond is None:
            await self.republish(words_for(error))
            return
        await self.respond(text=words_for(error), response_type="ephemeral", replace_original=False)

    async def republish(self, notice: str) -> None:
        await publish_home(self.deps, self.client, self.who.identity, self.who.user_id, notice)


def _value(body: dict[str, Any]) -> str:
    return str((body.get("actions") or [{}])[0].get("value", ""))


def register(app: AsyncApp, deps: Deps) -> None:
    _register_state_buttons(app, deps)
    _register_dismiss(app, deps)
    _register_details(app, deps)


def _register_state_buttons(app: AsyncApp, deps: Deps) -> None:
    async def on_button(
        ack: AsyncAck,
        body: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond | None,
        context: dict[str, Any],
    ) -> None:
        await ack()
        where = Surface.of(deps, body, context, client, respond)
        action_id = str((body.get("actions") or [{}])[0].get("action_id"))
        try:
            rec, state = await act(deps, where.who, _value(body), action_id)
        except StaleAction as error:
            await _show_current(where, _value(body), error)
            return
        except CostbotError as error:
            await where.refuse(error)
            return
        await _show_change(where, list((body.get("message") or {}).get("blocks") or []), rec, state)

    for action_id in (ACK, SNOOZE_7, SNOOZE_30):
        app.action(action_id)(on_button)


def _register_dismiss(app: AsyncApp, deps: Deps) -> None:
    @app.action(DISMISS)
    async def on_dismiss(
        ack: AsyncAck,
        body: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond | None,
        context: dict[str, Any],
    ) -> None:
        await ack()
        where = Surface.of(deps, body, context, client, respond)
        try:
            rec, _ = await authorize_click(deps, where.who, _value(body))
        except CostbotError as error:
            await where.refuse(error)
            return
        # private_metadata holds ≤ 3000 chars: the value and where to update, never the blocks.
        meta = {"value": _value(body), "response_url": body.get("response_url", "")}
        view = dismiss_view(rec, json.dumps(meta | {"home": where.home}))
        await client.views_open(trigger_id=body["trigger_id"], view=view)

    @app.view(DISMISS_MODAL)
    async def on_dismiss_submit(
        ack: AsyncAck,
        body: dict[str, Any],
        view: dict[str, Any],
        client: AsyncWebClient,
        context: dict[str, Any],
    ) -> None:
        reason = str(view["state"]["values"]["reason"]["reason"].get("value") or "").strip()
        if len(reason) < 3:
            await ack(
                response_action="errors", errors={"reason": "Please say why (3+ characters)."}
            )
            return
        await ack()
        meta = _meta(view)
        url = str(meta.get("response_url") or "")
        # The modal's request has no response_url of its own: answer through the message's,
        # with the retrying respond bot/ provides (a 429 must not lose the update).
        make_respond = context.get("respond_to") or AsyncRespond
        respond = make_respond(response_url=url) if url else None
        await _dismiss(
            deps, Clicker.of(body, context), client, meta, reason=reason, respond=respond
        )


async def _dismiss(
    deps: Deps,
    who: Clicker,
    client: AsyncWebClient,
    meta: dict[str, Any],
    *,
    reason: str,
    respond: AsyncRespond | None,
) -> None:
    """Apply a submitted dismissal and answer where the button was: the message (through the
    response_url kept in the modal) or the App Home."""
    url = str(meta.get("response_url") or "")
    where = Surface(deps, who, client, respond, bool(meta.get("home")) or not url)
    try:
        rec, state = await act(deps, who, str(meta.get("value", "")), "dismiss", reason)
    except CostbotError as error:
        log.info("recommendation.dismiss_refused", error=type(error).__name__)
        await where.refuse(error)
        return
    await _show_change(where, [], rec, state)


def _register_details(app: AsyncApp, deps: Deps) -> None:
    @app.action(DETAILS)
    async def on_details(
        ack: AsyncAck,
        body: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond | None,
        context: dict[str, Any],
    ) -> None:
        await ack()
        where = Surface.of(deps, body, context, client, respond)
        rec_id, _ = parse_value(_value(body))
        try:
            scope = await scope_for(deps, where.who.identity, where.who.user_id)
            rec = await board_of(deps).find(scope, rec_id)
            if rec is None:
                raise NotAllowed("That recommendation is not available to you.")
        except CostbotError as error:
            await where.refuse(error)
            return
        view = details_view(rec, deps.currency, deps.clock.now())
        await client.views_open(trigger_id=body["trigger_id"], view=view)


async def _show_change(
    where: Surface, original: list[Block], rec: Recommendation, state: RecState
) -> None:
    """The clicked message with this item in its new state; ephemeral messages carry no
    blocks, so those are re-rendered for the clicker with the change on top."""
    deps, who = where.deps, where.who
    if where.home or where.respond is None:
        await where.republish(item_blocks(rec, state, deps.currency)[0]["text"]["text"])
        return
    if original:
        blocks = replace_item(original, rec, state, deps.currency)
    else:
        scope = await scope_for(deps, who.identity, who.user_id)
        reply = render_board(await board_of(deps).board(scope), deps.currency)
        changed = item_blocks(rec, state, deps.currency)[0]
        blocks = fit([reply.blocks[0], changed, *reply.blocks[1:]])
    text = f"{escape(rec.title)}: {escape(state.status)}"  # a notification is mrkdwn too
    await where.respond(blocks=blocks, text=text, replace_original=True)


def _meta(view: dict[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(view.get("private_metadata") or "")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


async def _show_current(where: Surface, value: str, error: StaleAction) -> None:
    deps, who = where.deps, where.who
    if where.home or where.respond is None:
        await where.republish(words_for(error))
        return
    scope = await scope_for(deps, who.identity, who.user_id)
    rec = await board_of(deps).find(scope, parse_value(value)[0])
    blocks: list[Block] = [section(words_for(error))]
    if rec is not None:
        blocks += item_blocks(rec, await board_of(deps).state(rec.id), deps.currency)
    await where.respond(blocks=blocks, text="This recommendation changed", replace_original=False)
