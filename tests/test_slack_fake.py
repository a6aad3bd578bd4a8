"""The shipped Slack fake (demo.slack) answers every method like Slack does, over real HTTP.

Each Web API method is driven with slack_sdk's own client against `LocalSlack` (the fake as
`costbot demo` serves it): its success path and the errors real Slack gives. The tests' stand-in
is the same fake, so the last tests check that it keeps this strictness under its faults.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from demo.slack import BOT_USER_ID, LocalSlack, SlackFake
from demo.slack.blocks import blocks_problems, view_problems
from tests.standins.slack import SlackStandIn

SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "*payments* $12.30"}}
BUTTON = {"type": "button", "text": {"type": "plain_text", "text": "Ack"}, "action_id": "ack"}
MODAL = {"type": "modal", "title": {"type": "plain_text", "text": "Snooze"}, "blocks": [SECTION]}
USERS = {"U1": {"email": "ana@example.com", "tz": "Europe/Berlin", "real_name": "Ana"}}


@pytest.fixture
async def slack(tmp_path: Path) -> AsyncIterator[LocalSlack]:
    fake = LocalSlack(users=USERS, usergroups={"S1": ["U1", "U2"]}, files_dir=tmp_path / "files")
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def client(slack: LocalSlack) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-local", base_url=slack.api_url, retry_handlers=[])


async def slack_error(call: Any) -> dict[str, Any]:
    """The error body of a Web API call that must fail."""
    with pytest.raises(SlackApiError) as raised:
        await call
    body: dict[str, Any] = raised.value.response.data
    return body


# --- auth -----------------------------------------------------------------------------------
async def test_auth_test_answers_the_local_bot(client: AsyncWebClient) -> None:
    reply = await client.auth_test()
    assert (reply["user_id"], reply["team_id"]) == (BOT_USER_ID, "TLOCAL")


@pytest.mark.parametrize(
    ("headers", "method", "error"),
    [
        ({}, "auth.test", "not_authed"),
        ({"Authorization": "Bearer xoxp-user-token"}, "auth.test", "invalid_auth"),
        ({"Authorization": "Bearer xapp-1-local"}, "auth.test", "not_allowed_token_type"),
        ({"Authorization": "Bearer xoxb-local"}, "apps.connections.open", "not_allowed_token_type"),
        ({"Authorization": "Bearer xoxb-local"}, "chat.unknownThing", "unknown_method"),
    ],
)
async def test_tokens_and_methods_are_checked(
    slack: LocalSlack, headers: dict[str, str], method: str, error: str
) -> None:
    async with httpx.AsyncClient() as http:
        reply = await http.post(slack.api_url + method, headers=headers)
    assert reply.json() == {"ok": False, "error": error}


# --- chat.postMessage -----------------------------------------------------------------------
async def test_post_message_stores_the_message_and_records_what_was_said(
    slack: LocalSlack, client: AsyncWebClient
) -> None:
    metadata = {"event_type": "costbot_digest", "event_payload": {"period": "2024-W10"}}
    reply = await client.chat_postMessage(
        channel="C1", text="t", blocks=[SECTION], metadata=metadata
    )
    assert reply["message"]["blocks"] == [SECTION]
    assert slack.messages("C1")[0]["metadata"] == metadata
    said = slack.said[-1]
    assert (said.kind, said.payload["ts"], said.payload["blocks"]) == (
        "message",
        reply["ts"],
        [SECTION],
    )


async def test_post_message_to_a_user_id_opens_a_dm(client: AsyncWebClient) -> None:
    assert (await client.chat_postMessage(channel="U1", text="hi"))["channel"] == "U1"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"text": "x"}, "channel_not_found"),
        ({"channel": "#general", "text": "x"}, "channel_not_found"),
        ({"channel": "C1"}, "no_text"),
        ({"channel": "C1", "text": "x" * 40_001}, "msg_too_long"),
        (
            {"channel": "C1", "text": "x", "metadata": {"event_type": "e"}},
            "invalid_metadata_format",
        ),
        ({"channel": "C1", "blocks": [{"type": "carousel"}]}, "invalid_blocks"),
        ({"channel": "C1", "blocks": [SECTION] * 51}, "invalid_blocks"),
    ],
)
async def test_post_message_refuses_what_slack_refuses(
    slack: LocalSlack, client: AsyncWebClient, kwargs: dict[str, Any], error: str
) -> None:
    body = await slack_error(client.api_call("chat.postMessage", json=kwargs))
    assert body["error"] == error
    assert slack.said == []


async def test_invalid_blocks_say_which_block_is_wrong(client: AsyncWebClient) -> None:
    header = {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}
    body = await slack_error(
        client.chat_postMessage(channel="C1", text="t", blocks=[SECTION, header])
    )
    assert body["error"] == "invalid_blocks"
    assert body["errors"] == ["blocks[1] (header): text is 151 characters; at most 150"]
    assert body["response_metadata"]["messages"] == [f"[ERROR] {body['errors'][0]}"]


async def test_form_blocks_that_are_not_json_are_a_format_error(slack: LocalSlack) -> None:
    form = {"channel": "C1", "blocks": "[not json"}
    async with httpx.AsyncClient() as http:
        reply = await http.post(
            slack.api_url + "chat.postMessage",
            data=form,
            headers={"Authorization": "Bearer xoxb-local"},
        )
    assert reply.json() == {"ok": False, "error": "invalid_blocks_format"}


@pytest.mark.parametrize(
    ("member", "archived", "error"),
    [(False, False, "not_in_channel"), (True, True, "is_archived")],
)
async def test_channels_the_bot_left_or_that_are_archived_refuse_posts(
    slack: LocalSlack, client: AsyncWebClient, member: bool, archived: bool, error: str
) -> None:
    slack.set_channel("C2", member=member, archived=archived)
    assert (await slack_error(client.chat_postMessage(channel="C2", text="x")))["error"] == error
    assert (await slack_error(client.conversations_history(channel="C2")))["error"] == error
    slack.set_channel("C2")
    assert (await client.chat_postMessage(channel="C2", text="x"))["ok"] is True


# --- chat.postEphemeral, chat.update, chat.delete, conversations.history --------------------
async def test_ephemeral_goes_to_one_user_and_needs_one(
    slack: LocalSlack, client: AsyncWebClient
) -> None:
    reply = await client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    assert slack.ephemerals("C1")[0]["ts"] == reply["message_ts"]
    assert slack.messages("C1") == []
    missing = await slack_error(client.api_call("chat.postEphemeral", json={"channel": "C1"}))
    assert missing["error"] == "user_not_in_channel"


async def test_update_edits_the_stored_message_and_checks_its_blocks(
    slack: LocalSlack, client: AsyncWebClient
) -> None:
    ts = (await client.chat_postMessage(channel="C1", text="before"))["ts"]
    reply = await client.chat_update(channel="C1", ts=ts, text="after", blocks=[SECTION])
    assert reply["message"]["edited"]["user"] == BOT_USER_ID
    assert slack.messages("C1")[0]["text"] == "after"
    bad = await slack_error(
        client.chat_update(channel="C1", ts=ts, text="t", blocks=[{"type": "x"}])
    )
    assert bad["error"] == "invalid_blocks"
    gone = await slack_error(client.chat_update(channel="C1", ts="1.000001", text="x"))
    assert gone["error"] == "message_not_found"
    assert slack.messages("C1")[0]["text"] == "after"


async def test_delete_removes_the_message_once(slack: LocalSlack, client: AsyncWebClient) -> None:
    ts = (await client.chat_postMessage(channel="C1", text="x"))["ts"]
    await client.chat_delete(channel="C1", ts=ts)
    assert slack.messages("C1") == []
    again = await slack_error(client.chat_delete(channel="C1", ts=ts))
    assert again["error"] == "message_not_found"


async def test_history_pages_newest_first_with_a_cursor(client: AsyncWebClient) -> None:
    for i in range(3):
        await client.chat_postMessage(channel="C1", text=f"m{i}")
    first = await client.conversations_history(channel="C1", limit=2)
    cursor = first["response_metadata"]["next_cursor"]
    rest = await client.conversations_history(channel="C1", limit=2, cursor=cursor)
    assert [m["text"] for m in first["messages"] + rest["messages"]] == ["m2", "m1", "m0"]
    assert (first["has_more"], rest["has_more"]) == (True, False)
    missing = await slack_error(client.api_call("conversations.history", json={}))
    assert missing["error"] == "channel_not_found"


# --- views ----------------------------------------------------------------------------------
async def test_views_open_then_update_by_id_with_the_current_hash(
    slack: LocalSlack, client: AsyncWebClient
) -> None:
    opened = (await client.views_open(trigger_id="1.2.3", view=MODAL))["view"]
    updated = await client.views_update(
        view_id=opened["id"], hash=opened["hash"], view={**MODAL, "private_metadata": "rec-1"}
    )
    assert (slack.view(opened["id"]) or {})["private_metadata"] == "rec-1"
    stale = await slack_error(
        client.views_update(view_id=opened["id"], hash=opened["hash"] + "x", view=MODAL)
    )
    assert stale["error"] == "hash_conflict"
    assert updated["view"]["id"] == opened["id"]
    assert [s.kind for s in slack.said] == ["view", "view"]


async def test_views_need_a_trigger_and_a_known_view(client: AsyncWebClient) -> None:
    no_trigger = await slack_error(client.api_call("views.open", json={"view": MODAL}))
    assert no_trigger["error"] == "invalid_trigger_id"
    unknown = await slack_error(client.views_update(view_id="V404", view=MODAL))
    assert unknown["error"] == "not_found"


@pytest.mark.parametrize(
    ("view", "problem"),
    [
        ({**MODAL, "title": {"type": "plain_text", "text": "t" * 25}}, "title is 25 characters"),
        ({**MODAL, "title": {"type": "mrkdwn", "text": "t"}}, "title must be a plain_text"),
        ({"type": "modal", "blocks": []}, "title must be"),
        ({"type": "dialog", "blocks": []}, "type modal or home"),
        (
            {
                **MODAL,
                "blocks": [
                    {
                        "type": "input",
                        "label": {"type": "plain_text", "text": "Days"},
                        "element": {"type": "plain_text_input", "action_id": "days"},
                    }
                ],
            },
            "needs submit",
        ),
        ({**MODAL, "private_metadata": "m" * 3001}, "private_metadata over 3000"),
    ],
)
async def test_views_open_refuses_an_invalid_view_saying_why(
    client: AsyncWebClient, view: dict[str, Any], problem: str
) -> None:
    body = await slack_error(client.views_open(trigger_id="1.2.3", view=view))
    assert body["error"] == "invalid_arguments"
    assert any(problem in line for line in body["errors"]), body["errors"]


async def test_views_publish_keeps_one_home_per_user(
    slack: LocalSlack, client: AsyncWebClient
) -> None:
    home = {"type": "home", "blocks": [SECTION]}
    first = (await client.views_publish(user_id="U1", view=home))["view"]
    second = (await client.views_publish(user_id="U1", view={**home, "blocks": []}))["view"]
    assert first["id"] == second["id"]
    assert (slack.home_view("U1") or {})["blocks"] == []
    too_long = await slack_error(
        client.views_publish(user_id="U1", view={**home, "blocks": [{"type": "divider"}] * 101})
    )
    assert too_long["error"] == "invalid_arguments"
    nobody = await slack_error(client.api_call("views.publish", json={"view": home}))
    assert nobody["error"] == "user_not_found"


# --- users and user groups ------------------------------------------------------------------
async def test_users_info_and_usergroups(client: AsyncWebClient) -> None:
    user = (await client.users_info(user="U1"))["user"]
    assert (user["profile"]["email"], user["tz"], user["team_id"]) == (
        "ana@example.com",
        "Europe/Berlin",
        "TLOCAL",
    )
    assert (await slack_error(client.users_info(user="U404")))["error"] == "user_not_found"
    groups = (await client.usergroups_list(include_users=True))["usergroups"]
    assert [(g["id"], g["users"]) for g in groups] == [("S1", ["U1", "U2"])]
    assert (await client.usergroups_users_list(usergroup="S1"))["users"] == ["U1", "U2"]
    missing = await slack_error(client.usergroups_users_list(usergroup="S404"))
    assert missing["error"] == "no_such_subteam"


# --- files ----------------------------------------------------------------------------------
async def test_files_upload_v2_saves_the_file_and_shares_it(
    slack: LocalSlack, client: AsyncWebClient
) -> None:
    reply = await client.files_upload_v2(
        channel="C1", content=b"\x89PNG-bytes", filename="cost.png", title="Cost"
    )
    file_id = reply["file"]["id"]
    saved = await asyncio.to_thread(Path(slack.image_paths()[file_id]).read_bytes)
    assert saved == b"\x89PNG-bytes"
    upload = slack.uploads[0]
    assert (upload.completed, upload.channel_id, upload.title) == (True, "C1", "Cost")
    assert slack.said[-1].kind == "file"


async def test_upload_steps_fail_like_slack_out_of_order(
    slack: LocalSlack, client: AsyncWebClient
) -> None:
    empty: Any = ""  # what a caller that forgot the length sends
    no_length = await slack_error(client.files_getUploadURLExternal(filename="a.csv", length=empty))
    assert no_length["error"] == "invalid_arguments"
    started = await client.files_getUploadURLExternal(filename="a.csv", length=3)
    never_sent = await slack_error(
        client.files_completeUploadExternal(files=[{"id": started["file_id"]}])
    )
    assert never_sent["error"] == "file_not_found"
    async with httpx.AsyncClient() as http:
        assert (await http.post(started["upload_url"], content=b"abc")).status_code == 200
        unknown = await http.post(slack.workspace.base_url + "/upload/F404", content=b"abc")
    assert unknown.status_code == 404
    slack.set_channel("C2", member=False)
    elsewhere = await slack_error(
        client.files_completeUploadExternal(files=[{"id": started["file_id"]}], channel_id="C2")
    )
    assert elsewhere["error"] == "not_in_channel"


# --- response_urls --------------------------------------------------------------------------
async def test_response_url_keeps_replies_and_takes_at_most_five(slack: LocalSlack) -> None:
    url = slack.response_url()
    webhook = AsyncWebhookClient(url)
    for i in range(5):
        assert (await webhook.send(text=f"r{i}", blocks=[SECTION])).status_code == 200
    sixth = await webhook.send(text="r5")
    assert (sixth.status_code, sixth.body) == (404, "used_url")
    assert [body["text"] for body in slack.responses(url)] == [f"r{i}" for i in range(5)]
    assert [s.kind for s in slack.said] == ["response"] * 5


@pytest.mark.parametrize(
    ("body", "status", "answer"),
    [
        (b'{"text": "x", "blocks": [{"type": "nope"}]}', 400, "invalid_blocks"),
        (b'{"response_type": "ephemeral"}', 400, "no_text"),
        (b"not json", 400, "invalid_payload"),
        (b'{"delete_original": true}', 200, "ok"),
    ],
)
async def test_response_url_checks_what_it_is_sent(
    slack: LocalSlack, body: bytes, status: int, answer: str
) -> None:
    url = slack.response_url()
    async with httpx.AsyncClient() as http:
        reply = await http.post(url, content=body, headers={"Content-Type": "application/json"})
    assert (reply.status_code, reply.text) == (status, answer)
    assert len(slack.responses(url)) == (1 if status == 200 else 0)


async def test_a_response_url_slack_never_issued_is_not_found(slack: LocalSlack) -> None:
    async with httpx.AsyncClient() as http:
        reply = await http.post(slack.workspace.base_url + "/response/forged", json={"text": "x"})
    assert (reply.status_code, reply.text) == (404, "invalid_url")


# --- Block Kit rules on their own -----------------------------------------------------------
def test_blocks_the_bot_renders_are_accepted() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Costs", "emoji": True}},
        {**SECTION, "block_id": "a", "accessory": BUTTON},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "*cpu*"}] * 10},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "last 7 days"}]},
        {"type": "divider"},
        {"type": "image", "slack_file": {"id": "F1"}, "alt_text": "trend"},
        {"type": "actions", "block_id": "b", "elements": [{**BUTTON, "style": "primary"}]},
    ]
    assert blocks_problems(blocks) == []
    assert view_problems({"type": "home", "blocks": blocks}) == []


@pytest.mark.parametrize(
    ("block", "problem"),
    [
        ({"type": "section"}, "needs text or fields"),
        ({"type": "section", "text": {"type": "mrkdwn", "text": ""}}, "text must be a non-empty"),
        ({"type": "section", "text": {"type": "mrkdwn", "text": "x", "emoji": True}}, "emoji"),
        ({"type": "section", "fields": [SECTION["text"]] * 11}, "fields must be a list of 1-10"),
        ({"type": "context", "elements": []}, "elements must be a list of 1-10"),
        ({"type": "actions", "elements": [{"type": "section"}]}, "not allowed here"),
        ({"type": "actions", "elements": [{**BUTTON, "style": "loud"}]}, "style"),
        (
            {
                "type": "actions",
                "elements": [{**BUTTON, "text": {"type": "plain_text", "text": "b" * 76}}],
            },
            "at most 75",
        ),
        ({"type": "image", "image_url": "https://x/i.png"}, "alt_text"),
        ({"type": "image", "alt_text": "a"}, "exactly one of image_url or slack_file"),
        ({**SECTION, "block_id": "x" * 256}, "block_id must be 1-255"),
    ],
)
def test_each_block_rule_names_its_problem(block: dict[str, Any], problem: str) -> None:
    problems = blocks_problems([block])
    assert any(problem in line for line in problems), problems


def test_block_ids_must_be_unique() -> None:
    problems = blocks_problems([{**SECTION, "block_id": "a"}, {**SECTION, "block_id": "a"}])
    assert problems == ["blocks[1] (section): duplicate block_id 'a'"]


# --- the tests' stand-in is the same fake ---------------------------------------------------
def test_the_stand_in_is_the_shared_fake_and_as_strict() -> None:
    with SlackStandIn() as slack_api:
        assert isinstance(slack_api, SlackFake)
        http = httpx.Client(headers={"Authorization": "Bearer xoxb-test"})
        form = {"channel": "C1", "blocks": json.dumps([{"type": "carousel"}])}
        reply = http.post(slack_api.url + "chat.postMessage", data=form).json()
        assert (reply["ok"], reply["error"]) == (False, "invalid_blocks")
        slack_api.fail("chat.postMessage")
        limited = http.post(slack_api.url + "chat.postMessage", data={"channel": "C1"})
        assert (limited.status_code, limited.headers["Retry-After"]) == (429, "1")
        assert limited.json() == {"ok": False, "error": "ratelimited"}
        slack_api.stub("chat.getPermalink", {"ok": True, "permalink": "https://x/p"})
        assert http.post(slack_api.url + "chat.getPermalink").json()["permalink"] == "https://x/p"
        http.close()


# --- which messages may show a file -----------------------------------------------------------
def _picture(file_id: str) -> list[dict[str, Any]]:
    return [{"type": "image", "slack_file": {"id": file_id}, "alt_text": "chart"}]


async def test_a_file_is_shown_only_in_its_channel_and_once_processed(
    slack: LocalSlack, client: AsyncWebClient
) -> None:
    slack.workspace.processing_polls = 2
    file_id = (await client.files_upload_v2(channel="C1", content=b"\x89PNG", filename="c.png"))[
        "file"
    ]["id"]
    early = await slack_error(
        client.chat_postMessage(channel="C1", text="c", blocks=_picture(file_id))
    )
    assert early["error"] == "invalid_blocks"
    assert "still being processed" in early["errors"][0]
    first = (await client.files_info(file=file_id))["file"]
    assert "mimetype" not in first
    assert not any(k.startswith("thumb_") for k in first)
    second = (await client.files_info(file=file_id))["file"]
    assert second["mimetype"] == "image/png"
    assert "thumb_360" in second
    posted = await client.chat_postMessage(channel="C1", text="chart", blocks=_picture(file_id))
    assert posted["ok"]
    elsewhere = await slack_error(
        client.chat_postMessage(channel="C2", text="c", blocks=_picture(file_id))
    )
    assert "not shared in C2" in elsewhere["errors"][0]
    private = await slack_error(
        client.chat_postEphemeral(channel="C1", user="U1", text="c", blocks=_picture(file_id))
    )
    assert "ephemeral" in private["errors"][0]


async def test_a_response_url_reply_may_never_show_a_file(
    slack: LocalSlack, client: AsyncWebClient
) -> None:
    file_id = (await client.files_upload_v2(channel="C1", content=b"\x89PNG", filename="c.png"))[
        "file"
    ]["id"]
    await client.files_info(file=file_id)
    url = slack.response_url()
    answer = await AsyncWebhookClient(url).send(text="chart", blocks=_picture(file_id))
    assert (answer.status_code, answer.body) == (400, "invalid_blocks")


async def test_conversations_open_gives_a_stable_dm_the_bot_may_post_in(
    client: AsyncWebClient,
) -> None:
    first = (await client.conversations_open(users="U1"))["channel"]["id"]
    assert first == (await client.conversations_open(users="U1"))["channel"]["id"]
    assert first.startswith("D")
    assert (await client.chat_postMessage(channel=first, text="hello"))["ok"]
