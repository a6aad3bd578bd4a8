"""Routes for `/cost digest …` and `/cost budget …`, and the alerts' Acknowledge button.

Thin: every rule (who may subscribe, change or remove a digest or budget, what a listing may
name, who may acknowledge an alert) and storage are the digest services'; words and blocks are
render/digest's.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from handlers import grammar
from handlers.asker import Asker
from handlers.deps import Deps
from handlers.errors import words_for
from handlers.render.blocks import Block, context, divider, section
from handlers.render.digest import (
    ACK_ACTION,
    DigestBlocks,
    budget_spend_line,
    budget_target,
    budget_zone,
    last_run_text,
    local_time,
    schedule_text,
    scope_text,
)
from handlers.render.mrkdwn import escape
from handlers.render.reply import Reply
from services.access.models import Identity
from services.digests import BudgetService, DigestService, SubscriptionSpec
from services.digests.models import Subscription
from services.digests.schedule import next_fire, trigger_for
from services.errors import CostbotError
from services.numbers import money


def _digests(deps: Deps) -> DigestService:
    if deps.digests is None:
        raise CostbotError("Digests are not enabled on this installation.")
    return deps.digests


def _budgets(deps: Deps) -> BudgetService:
    if deps.budgets is None:
        raise CostbotError("Budgets are not enabled on this installation.")
    return deps.budgets


# --- digests ---------------------------------------------------------------------------------
async def subscribe(cmd: grammar.DigestSubscribe, deps: Deps, asker: Asker) -> Reply:
    spec = SubscriptionSpec(
        frequency=cmd.frequency,
        day=cmd.day,
        at=cmd.at,
        tz=cmd.tz,
        cron=cmd.cron,
        namespaces=cmd.namespaces,
        label=cmd.label,
    )
    sub = await _digests(deps).subscribe(asker.identity, asker.channel_id, spec)
    upcoming = next_fire(trigger_for(sub), deps.clock.now())
    who = f"<@{escape(asker.user_id)}>"
    blocks = [
        section(
            f":white_check_mark: {who} subscribed this channel to a cost digest, "
            f"{schedule_text(sub)}, covering {scope_text(sub)}."
        ),
        context(
            f"`{escape(sub.id)}` · next {local_time(upcoming, sub.tz)} · "
            f"`/cost digest preview {escape(sub.id)}` shows it now · "
            f"`/cost digest unsubscribe {escape(sub.id)}` stops it"
        ),
    ]
    return Reply(blocks, in_channel=True).finished()


async def digest_list(cmd: grammar.DigestList, deps: Deps, asker: Asker) -> Reply:
    statuses = await _digests(deps).statuses(asker.identity, asker.channel_id)
    if not statuses:
        hint = "Try `/cost digest subscribe weekly mon at 09:00`."
        return Reply([section(f"No digests in this channel yet. {hint}")]).finished()
    lines = []
    for status in statuses:
        sub = status.subscription
        where = "" if sub.channel == asker.channel_id else f" · in <#{escape(sub.channel)}>"
        paused = " · :double_vertical_bar: paused" if status.paused else ""
        scope = scope_text(sub) if status.scope_visible else _unseen(sub)
        lines.append(
            f"*`{escape(sub.id)}`* {schedule_text(sub)} · {scope}{where}{paused}\n"
            f"next {local_time(status.next_run, sub.tz)} · last "
            f"{last_run_text(status.last, sub.tz)} · by <@{escape(sub.subscriber)}>"
        )
    return Reply([section(line) for line in lines]).finished()


def _unseen(sub: Subscription) -> str:
    """A scope the service says the viewer may not see in full: counted, never named."""
    return f"{len(sub.namespaces)} namespace(s) you can't all see"


async def unsubscribe(cmd: grammar.DigestUnsubscribe, deps: Deps, asker: Asker) -> Reply:
    sub = await _digests(deps).unsubscribe(asker.identity, asker.channel_id, cmd.sub_id)
    who = f"<@{escape(asker.user_id)}>"
    text = f":wave: {who} removed the cost digest `{escape(sub.id)}` ({schedule_text(sub)})."
    return Reply([section(text)], in_channel=True).finished()


async def preview(cmd: grammar.DigestPreview, deps: Deps, asker: Asker) -> Reply:
    sub, data = await _digests(deps).preview(asker.identity, asker.channel_id, cmd.sub_id)
    renderer = DigestBlocks(deps.currency, deps.chart)
    if data is None:
        return Reply(renderer.paused(sub).blocks).finished()
    summary, details = renderer.summary(data), renderer.details(data, None)
    note = context(":eyes: Preview, only visible to you: the digest as it would be sent now.")
    if data.narrowed_for_viewer:
        note = context(
            ":eyes: Preview, only visible to you: the digest as it would be sent now, "
            "cut to what you may see yourself."
        )
    reply = Reply([note, *summary.blocks, divider(), *details.blocks], text=summary.text)
    chart = renderer.chart(data)
    if chart is not None:
        reply.chart, reply.chart_title = chart
    return reply.finished()


# --- budgets ---------------------------------------------------------------------------------
async def budget_set(cmd: grammar.BudgetSet, deps: Deps, asker: Asker) -> Reply:
    amount = float(cmd.amount)
    budget = await _budgets(deps).set(
        asker.identity, asker.channel_id, cmd.kind, cmd.target, amount, tz=cmd.tz or asker.tz
    )
    text = (
        f":moneybag: <@{escape(asker.user_id)}> set a budget of "
        f"{money(amount, deps.currency)}/month for {budget_target(budget)}, counted in "
        f"calendar months of {escape(budget.zone)}. This channel hears about 80 % and 100 % of "
        "it, a forecast over it, and sudden spend jumps."
    )
    hint = f"`{escape(budget.id)}` · `/cost budget remove {escape(budget.id)}` removes it"
    return Reply([section(text), context(hint)], in_channel=True).finished()


async def budget_list(cmd: grammar.BudgetList, deps: Deps, asker: Asker) -> Reply:
    statuses = await _budgets(deps).statuses(asker.identity, asker.channel_id)
    if not statuses:
        hint = "Try `/cost budget set namespace payments 1500/month`."
        return Reply([section(f"No budgets in this channel yet. {hint}")]).finished()
    blocks: list[Block] = []
    for status in statuses:
        b = status.budget
        where = "" if b.channel == asker.channel_id else f" · in <#{escape(b.channel)}>"
        last = last_run_text(status.last, b.zone)
        target = budget_target(b) if status.target_visible else "a namespace you can't see"
        spend = budget_spend_line(status, deps.currency)
        blocks.append(
            section(
                f"*`{escape(b.id)}`* {target} · {money(b.amount, deps.currency)}/month"
                f" ({budget_zone(b)}){where}\n{spend}last alert {last} · by <@{escape(b.creator)}>"
            )
        )
    return Reply(blocks).finished()


async def budget_remove(cmd: grammar.BudgetRemove, deps: Deps, asker: Asker) -> Reply:
    budget = await _budgets(deps).remove(asker.identity, asker.channel_id, cmd.budget_id)
    who = f"<@{escape(asker.user_id)}>"
    text = f":wave: {who} removed the budget `{escape(budget.id)}` for {budget_target(budget)}."
    return Reply([section(text)], in_channel=True).finished()


# --- the Acknowledge button on alerts --------------------------------------------------------
def register(app: AsyncApp, deps: Deps) -> None:
    @app.action(ACK_ACTION)
    async def acknowledge_alert(
        ack: AsyncAck,
        body: dict[str, Any],
        respond: AsyncRespond,
        client: AsyncWebClient,
        context: dict[str, Any],
    ) -> None:
        await ack()
        action = (body.get("actions") or [{}])[0]
        user_id = str((body.get("user") or {}).get("id", ""))
        identity = context.get("identity") or Identity(slack_user_id=user_id)
        channel = str((body.get("channel") or {}).get("id", ""))
        try:
            done = await _budgets(deps).acknowledge(identity, channel, str(action.get("value", "")))
        except CostbotError as error:  # the alert stays as it was; only the clicker is told
            await respond(text=words_for(error), response_type="ephemeral", replace_original=False)
            return
        # The message is re-rendered from what the bot stored and updated where the bot posted
        # it; the payload's blocks and ts are never copied.
        if done.message is not None and done.ts:
            text = done.message.text  # the alert itself, then who acknowledged it
            await client.chat_update(
                channel=done.channel, ts=done.ts, text=text, blocks=done.message.blocks
            )
            return
        await respond(
            text=":white_check_mark: Acknowledged. (That alert is too old to update.)",
            response_type="ephemeral",
            replace_original=False,
        )
