"""`/cost recommendations` and its buttons: acknowledge, snooze, dismiss (modal), details.

Thin: every rule (re-authorizing the clicker, versions, snooze lengths, dismiss reasons, audit)
is `services.recommendations.actions.RecommendationActions`. Here a click becomes a service
call, and its result or domain error is answered where it was pressed: the message (through its
response_url) or the App Home (re-published).
"""

from __future__ import annotations

from dataclasses import dataclass
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
from handlers.render.fit import fit, message_text_fallback
from handlers.render.mrkdwn import escape
from handlers.render.recs import (
    ACK,
    DETAILS,
    DISMISS,
    DISMISS_MODAL,
    LIST_SAVINGS,
    NO_CONTEXT,
    SNOOZE_7,
    SNOOZE_30,
    ListContext,
    details_view,
    dismiss_view,
    item_blocks,
    parse_context,
    parse_value,
    render_board,
    replace_item,
)
from handlers.render.reply import Reply
from handlers.routes.costs import answer_scope
from services.access.models import Identity
from services.costs.windows import DEFAULT_WINDOW, parse_window
from services.errors import (
    CostbotError,
    NotAllowed,
    StaleAction,
    UserInputError,
)
from services.recommendations.actions import ActionResult, RecommendationActions, clean_reason
from services.recommendations.models import Recommendation, RecState
from services.storage.pending import PendingForms

log = structlog.get_logger("costbot.recs")


DISMISS_FORM = "rec_dismiss"
FORM_GONE = "This form has expired. Close it and press Dismiss again."


def forms_of(deps: Deps) -> PendingForms:
    if deps.forms is None:
        raise CostbotError("Dismissing is not enabled on this installation.")
    return deps.forms


def actions_of(deps: Deps) -> RecommendationActions:
    if deps.rec_actions is None:
        raise CostbotError("Recommendations are not enabled on this installation.")
    return deps.rec_actions


async def recommendations(cmd: grammar.Recommendations, deps: Deps, asker: Asker) -> Reply:
    actions = actions_of(deps)
    # Refused like every cost answer when the asker may see no namespace (over the window
    # recommendations read), before any recommendation is computed.
    await answer_scope(deps, asker, parse_window(DEFAULT_WINDOW, deps.clock.now()))
    board = await actions.board(asker.identity, cmd.namespace, cmd.include_all, profile=cmd.profile)
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


SNOOZE_BUTTONS = {SNOOZE_7: 7, SNOOZE_30: 30}


async def act(deps: Deps, who: Clicker, value: str, action_id: str) -> ActionResult:
    """The service call a state button stands for (every rule is the service's)."""
    rec_id, version = parse_value(value)
    profile = parse_context(value).profile
    service = actions_of(deps)
    if action_id in SNOOZE_BUTTONS:
        days = SNOOZE_BUTTONS[action_id]
        return await service.snooze(who.identity, rec_id, version, days, profile=profile)
    return await service.acknowledge(who.identity, rec_id, version, profile=profile)


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
        if self.home or self.respond is None:
            await self.republish(words_for(error))
            return
        await self.respond(text=words_for(error), response_type="ephemeral", replace_original=False)

    async def republish(self, notice: str) -> None:
        await publish_home(self.deps, self.client, self.who.identity, self.who.user_id, notice)


def _value(body: dict[str, Any]) -> str:
    return str((body.get("actions") or [{}])[0].get("value", ""))


def register(app: AsyncApp, deps: Deps) -> None:
    _register_list_button(app, deps)
    _register_state_buttons(app, deps)
    _register_dismiss(app, deps)
    _register_details(app, deps)


def _register_list_button(app: AsyncApp, deps: Deps) -> None:
    @app.action(LIST_SAVINGS)
    async def on_list(
        ack: AsyncAck,
        body: dict[str, Any],
        respond: AsyncRespond,
        context: dict[str, Any],
    ) -> None:
        """ "List them" under a cost answer: the `recs` list for the clicker, in their scope."""
        await ack()
        who = Clicker.of(body, context)
        asker = Asker(who.identity, who.user_id, "", _value(body)[:200])
        try:
            cmd = grammar.parse(asker.text, deps.clock.now())
            if not isinstance(cmd, grammar.Recommendations):  # the value is the clicker's to edit
                raise UserInputError("That button only lists recommendations.")
            reply = await recommendations(cmd, deps, asker)
        except CostbotError as error:
            await respond(text=words_for(error), response_type="ephemeral", replace_original=False)
            return
        await respond(
            text=reply.text, blocks=reply.blocks, response_type="ephemeral", replace_original=False
        )


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
            done = await act(deps, where.who, _value(body), action_id)
        except StaleAction as error:
            await _show_current(where, _value(body), error)
            return
        except CostbotError as error:
            await where.refuse(error)
            return
        original = list((body.get("message") or {}).get("blocks") or [])
        await _show_change(where, original, done.rec, done.state, parse_context(_value(body)))

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
            rec = await actions_of(deps).authorize(
                where.who.identity,
                parse_value(_value(body))[0],
                profile=parse_context(_value(body)).profile,
            )
        except CostbotError as error:
            await where.refuse(error)
            return
        # Where to answer and what was clicked stay server-side; the view carries an opaque,
        # single-use token bound to the clicker (private_metadata comes back from the client).
        record = {"value": _value(body), "response_url": str(body.get("response_url") or "")}
        try:
            token = await forms_of(deps).put(
                DISMISS_FORM, where.who.user_id, record | {"home": "1" if where.home else ""}
            )
        except CostbotError as error:
            await where.refuse(error)
            return
        await client.views_open(trigger_id=body["trigger_id"], view=dismiss_view(rec, token))

    @app.view(DISMISS_MODAL)
    async def on_dismiss_submit(
        ack: AsyncAck,
        body: dict[str, Any],
        view: dict[str, Any],
        client: AsyncWebClient,
        context: dict[str, Any],
    ) -> None:
        raw = str(view["state"]["values"]["reason"]["reason"].get("value") or "")
        try:
            reason = clean_reason(raw)
        except UserInputError as error:  # the modal stays open with the service's words
            await ack(response_action="errors", errors={"reason": str(error)})
            return
        who = Clicker.of(body, context)
        token = str(view.get("private_metadata") or "")
        try:
            meta = await forms_of(deps).take(DISMISS_FORM, who.user_id, token)
        except CostbotError as error:
            await ack(response_action="errors", errors={"reason": words_for(error)})
            return
        if meta is None:  # expired, used, someone else's or made up: nothing is changed
            await ack(response_action="errors", errors={"reason": FORM_GONE})
            await deps.audit.record(
                "recommendation_rejected", who.user_id, reason="unknown or expired dismiss form"
            )
            return
        await ack()
        url = meta.get("response_url", "")
        # The modal's request has no response_url of its own: answer through the message's,
        # as recorded when the button was pressed, with the retrying respond bot/ provides.
        make_respond = context.get("respond_to") or AsyncRespond
        respond = make_respond(response_url=url) if url else None
        await _dismiss(deps, who, client, meta, reason=reason, respond=respond)


async def _dismiss(
    deps: Deps,
    who: Clicker,
    client: AsyncWebClient,
    meta: dict[str, str],
    *,
    reason: str,
    respond: AsyncRespond | None,
) -> None:
    """Apply a submitted dismissal and answer where the button was: the message (through the
    response_url kept in the modal) or the App Home."""
    url = meta.get("response_url", "")
    where = Surface(deps, who, client, respond, bool(meta.get("home")) or not url)
    value = str(meta.get("value", ""))
    rec_id, version = parse_value(value)
    listed = parse_context(value)
    try:
        done = await actions_of(deps).dismiss(
            who.identity, rec_id, version, reason, profile=listed.profile
        )
    except CostbotError as error:
        log.info("recommendation.dismiss_refused", error=type(error).__name__)
        await where.refuse(error)
        return
    await _show_change(where, [], done.rec, done.state, listed)


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
        profile = parse_context(_value(body)).profile
        try:
            rec = await actions_of(deps).find(where.who.identity, rec_id, profile=profile)
        except CostbotError as error:
            await where.refuse(error)
            return
        view = details_view(rec, deps.currency, deps.clock.now())
        await client.views_open(trigger_id=body["trigger_id"], view=view)


async def _show_change(
    where: Surface,
    original: list[Block],
    rec: Recommendation,
    state: RecState,
    listed: ListContext = NO_CONTEXT,
) -> None:
    """The clicked message with this item in its new state; ephemeral messages carry no
    blocks, so those are re-rendered for the clicker with the change on top, with the list's
    own filter and profile (from the button), within the clicker's scope."""
    deps, who = where.deps, where.who
    if where.home or where.respond is None:
        await where.republish(item_blocks(rec, state, deps.currency)[0]["text"]["text"])
        return
    change = f"{escape(rec.title)}: {escape(state.status)}"  # a notification is mrkdwn too
    if original:
        blocks = replace_item(original, rec, state, deps.currency, listed)
        # What changed, then what the message is (its header and headline).
        text = f"{change}. " + message_text_fallback(blocks[:2]).replace("\n", " ")
    else:
        board = await actions_of(deps).board(who.identity, listed.namespace, profile=listed.profile)
        reply = render_board(board, deps.currency, listed.namespace, listed)
        changed = item_blocks(rec, state, deps.currency, listed)[0]
        blocks = fit([reply.blocks[0], changed, *reply.blocks[1:]])
        text = f"{change}. {reply.text}"
    await where.respond(blocks=blocks, text=text, replace_original=True)


async def _show_current(where: Surface, value: str, error: StaleAction) -> None:
    deps, who = where.deps, where.who
    if where.home or where.respond is None:
        await where.republish(words_for(error))
        return
    blocks: list[Block] = [section(words_for(error))]
    try:
        listed = parse_context(value)
        rec, state = await actions_of(deps).current(
            who.identity, parse_value(value)[0], profile=listed.profile
        )
    except NotAllowed:  # gone (or hidden) since: the notice alone
        text = words_for(error)
    else:
        blocks += item_blocks(rec, state, deps.currency, listed)
        text = message_text_fallback(blocks)
    await where.respond(blocks=blocks, text=text, replace_original=False)
