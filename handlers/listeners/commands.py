"""The `/cost` slash command: ack at once, parse, authorize, answer through response_url.

Which function answers which command is the explicit table in handlers/routes/table.py, so
this module only knows the pipeline: identity → parse → route → render → respond.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers import grammar
from handlers.asker import Asker
from handlers.deps import Deps
from handlers.errors import NOT_A_MEMBER, words_for
from handlers.render.blocks import actions, button, image, section
from handlers.render.blocks import context as context_block
from handlers.render.mrkdwn import escape
from handlers.render.reply import SHARE_ACTION, Reply
from handlers.routes.table import ROUTES
from handlers.slack_files import FileNotReady, upload_ready
from services.errors import ChatUnavailable, CostbotError, Unmapped, UserInputError

WORKING_AFTER_SECONDS = 2.0
log = structlog.get_logger("costbot.commands")
CHART_DM_ACTION = "chart_to_dm"
CHART_FILENAME = "costbot-chart.png"
__all__ = [
    "CHART_DM_ACTION",
    "Asker",
    "attach_chart",
    "deliver",
    "error_reply",
    "register",
    "run_command",
    "with_chart_button",
]


async def run_command(deps: Deps, asker: Asker) -> Reply:
    """Text in, Reply out. Domain errors become friendly replies; nothing else escapes."""
    try:
        command = grammar.parse(asker.text, deps.clock.now(), asker.tz)
        entry = ROUTES.get(type(command))
        if not asker.identity.mapped and (entry is None or not entry.unmapped_ok):
            if asker.identity.source == "unavailable":
                raise ChatUnavailable("I couldn't look up your Slack profile to find who you are")
            raise Unmapped(asker.user_id)
        if entry is None:
            return error_reply(CostbotError("That command is not available on this installation."))
        return await entry.run(command, deps, asker)
    except CostbotError as error:
        await _audit_denial(deps, asker, error)
        return error_reply(error)


async def _audit_denial(deps: Deps, asker: Asker, error: CostbotError) -> None:
    from services.errors import NotAllowed

    if isinstance(error, NotAllowed):
        await deps.audit.record(
            "access_denied", asker.user_id, command=asker.text[:200], reason=type(error).__name__
        )


REFUSED_NOTE = "_(Slack refused the formatted answer; this is its text.)_"


def error_reply(error: BaseException, ref: str = "") -> Reply:
    return Reply([section(words_for(error, ref))]).finished()


async def deliver(
    deps: Deps,
    asker: Asker,
    respond: AsyncRespond,
    client: AsyncWebClient,
    work: Awaitable[Reply] | None = None,
) -> None:
    """Answer via response_url; say 'working on it' first when the data is slow."""
    task = asyncio.ensure_future(work if work is not None else run_command(deps, asker))
    done, _ = await asyncio.wait({task}, timeout=WORKING_AFTER_SECONDS)
    replace = False
    if not done:
        await respond(text=":hourglass_flowing_sand: Working on it…", response_type="ephemeral")
        replace = True
    try:
        reply = await task
    except Exception:
        ref = uuid.uuid4().hex[:8]
        log.exception("command.failed", ref=ref)
        reply = error_reply(Exception(), ref)
    # A response_url message can never show a file (Slack refuses it): the answer carries its
    # text chart, and the picture goes to the asker's DM on request.
    kind = "in_channel" if reply.in_channel else "ephemeral"
    sent = await respond(
        text=reply.text,
        blocks=with_chart_button(reply, asker.text),
        response_type=kind,
        replace_original=replace,
    )
    if getattr(sent, "status_code", 200) != 200:
        # Slack refused the message itself (retries are for 429/5xx): never leave the asker with
        # nothing. The top-level text carries the answer's figures on its own.
        log.warning("command.reply_refused", status=getattr(sent, "status_code", 0))
        await respond(
            text=f"{reply.text}\n{REFUSED_NOTE}", response_type=kind, replace_original=replace
        )


def with_chart_button(reply: Reply, command_text: str) -> list[Any]:
    """The reply's blocks, plus a "Send me the chart" button when it has a chart."""
    if reply.chart is None:
        return reply.blocks
    send = button("Send me the chart", CHART_DM_ACTION, command_text[:1900] or "trend")
    blocks = list(reply.blocks)
    for index, block in enumerate(blocks):
        if block.get("block_id") == "share" and len(block.get("elements", [])) < 25:
            blocks[index] = {**block, "elements": [*block["elements"], send]}
            return blocks
    return [*blocks, actions(send, block_id="chart")]


async def attach_chart(reply: Reply, client: AsyncWebClient, channel: str) -> list[Any]:
    """Upload the reply's chart (if any) to `channel`, wait until Slack has processed it, and
    show it in an image block; a chart that cannot be shown becomes a one-line note."""
    if reply.chart is None:
        return reply.blocks
    try:
        file_id = await upload_ready(
            client,
            content=reply.chart,
            filename=CHART_FILENAME,
            title=reply.chart_title or "chart",
            channel=channel,
        )
    except (SlackApiError, FileNotReady, OSError):
        log.warning("chart.upload_failed", exc_info=True)
        return [*reply.blocks, context_block("_(the chart could not be uploaded)_")]
    picture = image(slack_file_id=file_id, alt_text=reply.chart_title or "chart")
    return [*reply.blocks[:-1], picture, reply.blocks[-1]] if reply.blocks else [picture]


async def send_chart_to_dm(deps: Deps, asker: Asker, client: AsyncWebClient) -> str:
    """Re-run the question as the clicker and post its chart in their DM with the bot; the
    one line to answer the click with."""
    if not shareable(asker.text, deps):
        return NOT_SHAREABLE
    reply = await run_command(deps, asker)
    if reply.chart is None:
        return "There is no chart for that answer (no daily data you can see)."
    try:
        opened = await client.conversations_open(users=asker.user_id)
        dm = str((opened.get("channel") or {}).get("id", ""))
        file_id = await upload_ready(
            client,
            content=reply.chart,
            filename=CHART_FILENAME,
            title=reply.chart_title or "chart",
            channel=dm,
        )
        title = escape(reply.chart_title or "Chart")
        blocks = [
            image(slack_file_id=file_id, alt_text=reply.chart_title or "chart"),
            context_block(f"`/cost {escape(asker.text)}`"),
        ]
        await client.chat_postMessage(channel=dm, text=title, blocks=blocks)
    except (SlackApiError, FileNotReady, OSError):
        log.warning("chart.dm_failed", exc_info=True)
        return ":warning: I couldn't send the chart to your DMs just now; try again in a minute."
    return ":envelope_with_arrow: Sent the chart to your DMs with me."


def register(app: AsyncApp, deps: Deps) -> None:
    @app.command("/cost")
    async def cost(
        ack: AsyncAck,
        body: dict[str, Any],
        respond: AsyncRespond,
        context: dict[str, Any],
        client: AsyncWebClient,
    ) -> None:
        await ack()
        asker = Asker.of(
            context,
            str(body.get("user_id", "")),
            str(body.get("channel_id", "")),
            str(body.get("text", "")),
        )
        await deliver(deps, asker, respond, client)

    @app.action(SHARE_ACTION)
    async def share(
        ack: AsyncAck,
        body: dict[str, Any],
        respond: AsyncRespond,
        context: dict[str, Any],
        client: AsyncWebClient,
    ) -> None:
        await ack()
        asker = _clicker(context, body)
        channel_id = asker.channel_id
        # The value is the clicker's to edit: only a read-only cost question is re-run, never
        # a command that changes anything (digest subscribe, budget set, …).
        if not shareable(asker.text, deps):
            await respond(text=NOT_SHAREABLE, response_type="ephemeral", replace_original=False)
            return
        # Re-run as the clicker: sharing never reveals more than the clicker may see now.
        reply = await run_command(deps, asker)
        if not channel_id or (reply.blocks and "share" not in _block_ids(reply.blocks)):
            await respond(text=reply.text, blocks=reply.blocks, replace_original=False)
            return
        await share_in_channel(deps, asker, reply, respond, client)

    @app.action(CHART_DM_ACTION)
    async def chart_to_dm(
        ack: AsyncAck,
        body: dict[str, Any],
        respond: AsyncRespond,
        context: dict[str, Any],
        client: AsyncWebClient,
    ) -> None:
        await ack()
        # Re-run as the clicker: the chart never shows more than the clicker may see now.
        asker = _clicker(context, body)
        line = await send_chart_to_dm(deps, asker, client)
        await respond(text=line, response_type="ephemeral", replace_original=False)


# The cost questions whose answers carry a Share button: all read-only.
SHAREABLE = (
    grammar.Summary,
    grammar.NamespaceQuery,
    grammar.Top,
    grammar.LabelQuery,
    grammar.Compare,
    grammar.Trend,
)
NOT_SHAREABLE = ":no_entry: Only cost answers can be shared in the channel."


def shareable(text: str, deps: Deps) -> bool:
    """Whether a Share button's value is a read-only cost question. Text that does not parse
    is let through: re-running it only produces the same private usage answer."""
    try:
        command = grammar.parse(text, deps.clock.now())
    except UserInputError:
        return True
    return isinstance(command, SHAREABLE)


async def share_in_channel(
    deps: Deps, asker: Asker, reply: Reply, respond: AsyncRespond, client: AsyncWebClient
) -> None:
    """Post the clicker's own answer (without its buttons) to the channel, then audit it."""
    by = f"Shared by <@{escape(asker.user_id)}> · `/cost {escape(asker.text)}`"
    kept = [b for b in reply.blocks if b.get("block_id") != "share"]
    shared = Reply([*kept, context_block(by)], chart=reply.chart, chart_title=reply.chart_title)
    blocks = await attach_chart(shared, client, channel=asker.channel_id)
    try:
        await client.chat_postMessage(channel=asker.channel_id, text=reply.text, blocks=blocks)
    except SlackApiError as error:
        code = str(error.response.get("error") or "")
        if code not in _NOT_A_MEMBER:
            raise
        await respond(text=NOT_A_MEMBER, response_type="ephemeral", replace_original=False)
        return
    await deps.audit.record(
        "answer_shared", asker.user_id, channel=asker.channel_id, command=asker.text
    )


_NOT_A_MEMBER = frozenset({"not_in_channel", "channel_not_found"})


def _clicker(context: dict[str, Any], body: dict[str, Any]) -> Asker:
    """Who clicked a button that re-runs a command, where, and the command (its value)."""
    action = (body.get("actions") or [{}])[0]
    user_id = str((body.get("user") or {}).get("id", ""))
    channel_id = str((body.get("channel") or {}).get("id", ""))
    return Asker.of(context, user_id, channel_id, str(action.get("value", "")))


def _block_ids(blocks: list[dict[str, Any]]) -> set[str]:
    return {str(b.get("block_id")) for b in blocks if b.get("block_id")}
