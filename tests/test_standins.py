"""The Slack and OpenCost stand-ins behave like the real services for real clients."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import msgspec
import pytest
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook import WebhookClient

from services.opencost.models import AllocationResponse, AssetResponse
from tests.standins.fixtures import load_opencost_fixture
from tests.standins.opencost import OpenCostStandIn, allocation_row, allocation_set
from tests.standins.opencost_data import window_is_valid
from tests.standins.server import ServerThread, wait_until_async
from tests.standins.signing import (
    AsyncSignedSlackClient,
    SignedSlackClient,
    SlackRequestBuilder,
    block_actions_payload,
    view_submission_payload,
)
from tests.standins.slack import BOT_USER_ID, SlackStandIn

OPENCOST_REAL = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "opencost"
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*payments* $12.30"}}]
METADATA = {"event_type": "costbot_digest", "event_payload": {"period": "2024-W10"}}


def web(slack_api: SlackStandIn, **kwargs: Any) -> WebClient:
    return WebClient(token="xoxb-test", base_url=slack_api.url, **kwargs)


# --- Slack Web API --------------------------------------------------------------------------
def test_auth_test_answers_the_bot_identity_and_records_the_bearer_token(
    slack_api: SlackStandIn,
) -> None:
    reply = web(slack_api).auth_test()
    assert reply["user_id"] == BOT_USER_ID
    call = slack_api.calls_to("auth.test")[0]
    assert call.token == "xoxb-test"
    assert call.headers["authorization"] == "Bearer xoxb-test"


def test_token_may_come_as_a_form_param_instead_of_a_header(slack_api: SlackStandIn) -> None:
    reply = httpx.post(slack_api.url + "auth.test", data={"token": "xoxb-test"})
    assert reply.json()["ok"] is True
    missing = httpx.post(slack_api.url + "auth.test", data={})
    assert missing.json() == {"ok": False, "error": "not_authed"}
    assert [call.token for call in slack_api.calls] == ["xoxb-test", None]


def test_unknown_token_gets_invalid_auth(slack_api: SlackStandIn) -> None:
    client = WebClient(token="xoxb-stolen", base_url=slack_api.url)
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C1", text="hi")
    assert raised.value.response["error"] == "invalid_auth"
    assert slack_api.messages("C1") == []


def test_app_token_opens_connections_and_nothing_else(slack_api: SlackStandIn) -> None:
    app_client = WebClient(base_url=slack_api.url)
    reply = app_client.apps_connections_open(app_token="xapp-test")
    assert str(reply["url"]).startswith(slack_api.base_url.replace("http:", "ws:") + "/socket?")
    with pytest.raises(SlackApiError) as raised:
        web(slack_api).apps_connections_open(app_token="xoxb-test")
    assert raised.value.response["error"] == "not_allowed_token_type"


def test_post_message_stores_blocks_metadata_and_increasing_ts(slack_api: SlackStandIn) -> None:
    client = web(slack_api)
    first = client.chat_postMessage(channel="C1", text="t", blocks=BLOCKS, metadata=METADATA)
    second = client.chat_postMessage(channel="C1", text="reply", thread_ts=first["ts"])
    assert float(second["ts"]) > float(first["ts"])
    assert first["message"]["blocks"] == BLOCKS
    stored = slack_api.messages("C1")
    assert [m["text"] for m in stored] == ["t", "reply"]
    assert stored[0]["metadata"] == METADATA
    assert stored[1]["thread_ts"] == first["ts"]


def test_form_and_json_bodies_are_recorded_alike(slack_api: SlackStandIn) -> None:
    client = web(slack_api)
    client.chat_postMessage(channel="C1", text="json", blocks=BLOCKS)
    form = {"channel": "C1", "text": "form", "blocks": json.dumps(BLOCKS)}
    client.api_call("chat.postMessage", data=form)
    as_json, as_form = slack_api.calls_to("chat.postMessage")
    assert as_json.headers["content-type"].startswith("application/json")
    assert as_form.headers["content-type"] == "application/x-www-form-urlencoded"
    assert as_json.params["blocks"] == as_form.params["blocks"] == BLOCKS


def test_history_is_newest_first_with_limit_oldest_and_metadata_on_request(
    slack_api: SlackStandIn,
) -> None:
    client = web(slack_api)
    ts = [
        client.chat_postMessage(channel="C1", text=f"m{i}", metadata=METADATA)["ts"]
        for i in range(4)
    ]
    client.chat_postMessage(channel="C1", text="in thread", thread_ts=ts[0])
    page = client.conversations_history(channel="C1", limit=2)
    assert [m["text"] for m in page["messages"]] == ["m3", "m2"]
    assert page["has_more"] is True
    assert "metadata" not in page["messages"][0]
    newer = client.conversations_history(channel="C1", oldest=ts[1], include_all_metadata=True)
    assert [m["ts"] for m in newer["messages"]] == [ts[3], ts[2]]
    assert newer["messages"][0]["metadata"] == METADATA


def test_update_and_delete_change_the_stored_message(slack_api: SlackStandIn) -> None:
    client = web(slack_api)
    ts = client.chat_postMessage(channel="C1", text="before")["ts"]
    client.chat_update(channel="C1", ts=ts, text="after", blocks=BLOCKS)
    assert slack_api.messages("C1")[0]["text"] == "after"
    client.chat_delete(channel="C1", ts=ts)
    assert slack_api.messages("C1") == []
    with pytest.raises(SlackApiError) as raised:
        client.chat_update(channel="C1", ts=ts, text="gone")
    assert raised.value.response["error"] == "message_not_found"


def test_ephemeral_messages_are_kept_out_of_history(slack_api: SlackStandIn) -> None:
    client = web(slack_api)
    reply = client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    assert reply["message_ts"]
    assert slack_api.ephemerals("C1")[0]["to_user"] == "U1"
    assert client.conversations_history(channel="C1")["messages"] == []


def test_views_open_update_and_publish_keep_the_view(slack_api: SlackStandIn) -> None:
    client = web(slack_api)
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Snooze"}, "blocks": []}
    opened = client.views_open(trigger_id="1.2.3", view=modal)["view"]
    client.views_update(view_id=opened["id"], view={**modal, "private_metadata": "rec-1"})
    assert (slack_api.view(opened["id"]) or {})["private_metadata"] == "rec-1"
    client.views_publish(user_id="U1", view={"type": "home", "blocks": BLOCKS})
    assert (slack_api.home_view("U1") or {})["blocks"] == BLOCKS
    with pytest.raises(SlackApiError):
        client.views_update(view_id="V-unknown", view=modal)


async def test_async_client_reads_users_and_usergroups_from_query_params() -> None:
    users = {"U1": {"email": "ana@example.com", "tz": "Europe/Berlin", "real_name": "Ana"}}
    with SlackStandIn(users=users, usergroups={"S1": ["U1", "U2"]}) as slack_api:
        client = AsyncWebClient(token="xoxb-test", base_url=slack_api.url)
        user = (await client.users_info(user="U1"))["user"]
        assert user["profile"]["email"] == "ana@example.com"
        assert (user["tz"], user["deleted"]) == ("Europe/Berlin", False)
        with pytest.raises(SlackApiError) as raised:
            await client.users_info(user="U404")
        assert raised.value.response["error"] == "user_not_found"
        groups = (await client.usergroups_list(include_users=True))["usergroups"]
        assert groups[0]["users"] == ["U1", "U2"]
        assert (await client.usergroups_users_list(usergroup="S1"))["users"] == ["U1", "U2"]


def test_files_upload_v2_goes_through_all_three_steps(slack_api: SlackStandIn) -> None:
    reply = web(slack_api).files_upload_v2(
        channel="C1", content=b"\x89PNG-bytes", filename="cost.png", title="Cost", thread_ts="1.2"
    )
    upload = slack_api.uploads[0]
    assert reply["file"]["id"] == upload.file_id
    assert upload.content == b"\x89PNG-bytes"
    assert upload.completed
    assert (upload.channel_id, upload.thread_ts, upload.title) == ("C1", "1.2", "Cost")


async def test_async_files_upload_v2_records_the_initial_comment(slack_api: SlackStandIn) -> None:
    client = AsyncWebClient(token="xoxb-test", base_url=slack_api.url)
    await client.files_upload_v2(
        channel="C1", content=b"abc", filename="a.csv", initial_comment="weekly costs"
    )
    assert slack_api.uploads[0].initial_comment == "weekly costs"
    assert slack_api.uploads[0].content == b"abc"


def test_rate_limit_is_retried_after_retry_after(slack_api: SlackStandIn) -> None:
    slack_api.fail("chat.postMessage", status=429, retry_after=1)
    client = web(slack_api, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    started = time.monotonic()
    client.chat_postMessage(channel="C1", text="eventually")
    assert time.monotonic() - started >= 1
    assert len(slack_api.calls_to("chat.postMessage")) == 2
    assert [m["text"] for m in slack_api.messages("C1")] == ["eventually"]


def test_rate_limit_without_retry_handler_surfaces_429_with_header(
    slack_api: SlackStandIn,
) -> None:
    slack_api.fail("chat.postMessage")
    with pytest.raises(SlackApiError) as raised:
        web(slack_api, retry_handlers=[]).chat_postMessage(channel="C1", text="x")
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "1"


def test_error_fault_is_http_200_ok_false_and_runs_out(slack_api: SlackStandIn) -> None:
    slack_api.fail("chat.postMessage", times=2, error="not_in_channel")
    client = web(slack_api)
    for _ in range(2):
        with pytest.raises(SlackApiError) as raised:
            client.chat_postMessage(channel="C1", text="x")
        assert raised.value.response.status_code == 200
        assert raised.value.response["error"] == "not_in_channel"
    assert client.chat_postMessage(channel="C1", text="x")["ok"] is True


def test_server_error_fault_and_reset(slack_api: SlackStandIn) -> None:
    slack_api.fail("auth.test", times=5, status=500)
    with pytest.raises(SlackApiError) as raised:
        web(slack_api).auth_test()
    assert raised.value.response.status_code == 500
    slack_api.reset()
    assert slack_api.calls == []
    assert web(slack_api).auth_test()["ok"] is True


def test_unknown_methods_fail_until_stubbed(slack_api: SlackStandIn) -> None:
    client = web(slack_api)
    with pytest.raises(SlackApiError) as raised:
        client.chat_getPermalink(channel="C1", message_ts="1.2")
    assert raised.value.response["error"] == "unknown_method"
    slack_api.stub("chat.getPermalink", {"ok": True, "permalink": "https://x/p1"})
    assert client.chat_getPermalink(channel="C1", message_ts="1.2")["permalink"] == "https://x/p1"


def test_response_url_sink_records_posts_and_can_fail(slack_api: SlackStandIn) -> None:
    url = slack_api.new_response_url()
    assert WebhookClient(url).send(text="done", replace_original=True).status_code == 200
    assert slack_api.wait_for_response(url) == [{"text": "done", "replace_original": True}]
    assert slack_api.responses(url.rsplit("/", 1)[1]) == slack_api.responses(url)
    slack_api.fail("response_url", status=404, error="used_url")
    assert WebhookClient(url).send(text="again").status_code == 404
    assert len(slack_api.responses(url)) == 1


def test_wait_for_times_out_naming_what_arrived(slack_api: SlackStandIn) -> None:
    web(slack_api).auth_test()
    with pytest.raises(AssertionError, match=r"chat\.postMessage.*auth\.test"):
        slack_api.wait_for("chat.postMessage", timeout=0.1)


# --- Socket Mode ----------------------------------------------------------------------------
async def test_socket_says_hello_on_connect(slack_api: SlackStandIn) -> None:
    url = WebClient(base_url=slack_api.url).apps_connections_open(app_token="xapp-test")["url"]
    async with aiohttp.ClientSession() as session, session.ws_connect(str(url)) as ws:
        hello = await ws.receive_json(timeout=5)
        assert hello["type"] == "hello"
        assert hello["num_connections"] == 1


@pytest.fixture
def bolt_app(slack_api: SlackStandIn, signing_secret: str) -> AsyncApp:
    client = AsyncWebClient(token="xoxb-test", base_url=slack_api.url)
    app = AsyncApp(client=client, signing_secret=signing_secret)

    @app.command("/cost")
    async def cost(ack: AsyncAck, command: dict[str, Any]) -> None:
        await ack(text=f"cost of {command['text']}")

    @app.event("app_mention")
    async def mention(event: dict[str, Any], client: AsyncWebClient) -> None:
        await client.chat_postMessage(channel=event["channel"], text="hello")

    @app.action("ack_rec")
    async def acknowledge(ack: AsyncAck, respond: AsyncRespond, action: dict[str, Any]) -> None:
        await ack()
        await respond(text=f"acknowledged {action['value']}", replace_original=True)

    @app.view("snooze")
    async def snooze(ack: AsyncAck, view: dict[str, Any]) -> None:
        days = view["state"]["values"]["days"]["days"]["value"]
        if not days.isdigit():
            await ack(response_action="errors", errors={"days": "a number, please"})
            return
        await ack()

    return app


async def test_bolt_socket_mode_handler_acks_a_pushed_slash_command(
    slack_api: SlackStandIn, bolt_app: AsyncApp
) -> None:
    handler = AsyncSocketModeHandler(bolt_app, app_token="xapp-test")
    await handler.connect_async()  # type: ignore[no-untyped-call]  # unannotated in slack_bolt
    try:
        await slack_api.wait_for_socket_async()
        command = {"command": "/cost", "text": "payments", "user_id": "U1", "channel_id": "C1"}
        envelope_id = slack_api.push("slash_commands", {**command, "team_id": "T0TEST"})
        ack = await slack_api.wait_for_ack_async(envelope_id)
        assert ack["payload"] == {"text": "cost of payments"}
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]  # unannotated in slack_bolt


async def test_bolt_socket_mode_runs_events_and_reconnects_on_disconnect(
    slack_api: SlackStandIn, bolt_app: AsyncApp
) -> None:
    handler = AsyncSocketModeHandler(bolt_app, app_token="xapp-test")
    await handler.connect_async()  # type: ignore[no-untyped-call]  # unannotated in slack_bolt
    try:
        await slack_api.wait_for_socket_async()
        event = {"type": "app_mention", "user": "U1", "text": "hi", "channel": "C9", "ts": "1.1"}
        body = SlackRequestBuilder("unused").event_callback(event)
        envelope_id = slack_api.push("events_api", body)
        await slack_api.wait_for_ack_async(envelope_id)
        await slack_api.wait_for_async("chat.postMessage")
        assert slack_api.messages("C9")[0]["text"] == "hello"
        slack_api.socket.send_disconnect()
        await slack_api.wait_for_async("apps.connections.open", count=2)
        await wait_until_async(
            lambda: slack_api.socket.connections_opened >= 2 or None, 5, lambda: "no reconnect"
        )
        again = slack_api.push("slash_commands", {"command": "/cost", "text": "search"})
        assert (await slack_api.wait_for_ack_async(again))["payload"] == {"text": "cost of search"}
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]  # unannotated in slack_bolt


# --- signed requests to a bot's /slack/events -----------------------------------------------
@pytest.fixture
def bolt_http(bolt_app: AsyncApp) -> Iterator[str]:
    server = ServerThread(bolt_app.web_app, name="bolt-under-test")
    server.start()
    yield server.base_url
    server.stop()


def test_signed_bodies_verify_with_slack_sdk(signing_secret: str) -> None:
    build = SlackRequestBuilder(signing_secret)
    verifier = SignatureVerifier(signing_secret)
    for request in (
        build.slash("payments"),
        build.interactive(block_actions_payload("U1", "ack_rec", "rec-1")),
        build.event({"type": "app_mention", "channel": "C1"}),
    ):
        assert verifier.is_valid_request(request.body, request.headers)
    assert not SignatureVerifier("other-secret").is_valid_request(request.body, request.headers)


def test_bolt_accepts_signed_slash_and_rejects_forged_or_stale(
    bolt_http: str, signing_secret: str, slack_api: SlackStandIn
) -> None:
    with SignedSlackClient(bolt_http, signing_secret) as slack:
        reply = slack.slash("payments", user_id="U1")
        assert reply.status_code == 200
        assert reply.text == "cost of payments"
        body = b"command=%2Fcost&text=x"
        assert slack.raw(body, signature="v0=" + "0" * 64).status_code == 401
        assert slack.raw(body, timestamp=int(time.time()) - 301).status_code == 401
        assert slack.url_verification("c-123").json() == {"challenge": "c-123"}


async def test_bolt_handles_signed_actions_views_and_events(
    bolt_http: str, signing_secret: str, slack_api: SlackStandIn
) -> None:
    async with AsyncSignedSlackClient(bolt_http + "/slack/events", signing_secret) as slack:
        url = slack_api.new_response_url()
        click = await slack.action(
            block_actions_payload("U1", "ack_rec", "rec-7", response_url=url)
        )
        assert click.status_code == 200
        replies = await slack_api.wait_for_response_async(url)
        assert replies[0]["text"] == "acknowledged rec-7"
        bad = view_submission_payload("snooze", {"days": {"days": {"type": "x", "value": "soon"}}})
        answer = await slack.view_submission(bad)
        assert answer.json() == {
            "response_action": "errors",
            "errors": {"days": "a number, please"},
        }
        event = {"type": "app_mention", "user": "U1", "text": "hi", "channel": "C5", "ts": "1.1"}
        assert (await slack.event(event, retry_num=1)).status_code == 200
        await slack_api.wait_for_async("chat.postMessage")


# --- OpenCost -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    """One client for the module: building an SSL context per request costs ~0.1 s."""
    with httpx.Client() as client:
        yield client


@pytest.mark.parametrize("path", ["/allocation", "/allocation/compute", "/model/allocation"])
def test_allocation_aliases_answer_the_envelope(
    opencost_server: OpenCostStandIn, http: httpx.Client, path: str
) -> None:
    reply = http.get(opencost_server.url + path, params={"window": "7d", "aggregate": "pod"})
    assert reply.status_code == 200
    decoded = msgspec.json.decode(reply.content, type=AllocationResponse)
    rows = [row for step in decoded.data or [] for row in step.values()]
    assert {row.cluster for row in rows} == {"prod-eu", "staging-us"}
    assert opencost_server.requests_to(path)[0].params == {"window": "7d", "aggregate": "pod"}


def test_bad_or_missing_window_is_text_400_with_json_appended(
    opencost_server: OpenCostStandIn, http: httpx.Client
) -> None:
    reply = http.get(opencost_server.url + "/allocation", params={"window": "7 days"})
    assert reply.status_code == 400
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"
    assert reply.text == (
        "Invalid 'window' parameter: illegal window: 7 days\n"
        '{"code":500,"status":"","data":null,"message":"Error: illegal window: [nil, nil)"}'
    )
    missing = http.get(opencost_server.url + "/allocation")
    assert missing.text.startswith("Invalid 'window' parameter: illegal window: \n{")
    assets = http.get(opencost_server.url + "/assets", params={"window": "nope"})
    assert (assets.status_code, assets.text) == (
        400,
        "Invalid 'window' parameter: illegal window: nope\n",
    )


@pytest.mark.parametrize(
    ("window", "valid"),
    [
        ("7d", True),
        ("lastweek", True),
        ("2w", True),
        ("7d offset 7d", True),
        ("1586822400,1586908800", True),
        ("2024-03-01T00:00:00Z,2024-03-08T00:00:00Z", True),
        ("2024-03-01T00:00:00+00:00,2024-03-08T00:00:00Z", False),
        ("7d\n", False),
        ("7 days", False),
        ("", False),
    ],
)
def test_window_validation_matches_opencost(window: str, valid: bool) -> None:
    assert window_is_valid(window) is valid


def test_assets_decode_and_include_an_unclaimed_disk(
    opencost_server: OpenCostStandIn, http: httpx.Client
) -> None:
    reply = http.get(opencost_server.url + "/model/assets", params={"window": "1d"})
    decoded = msgspec.json.decode(reply.content, type=AssetResponse)
    disks = [a for a in (decoded.data or {}).values() if a.type == "Disk"]
    assert sorted(d.claim_name for d in disks) == ["", "data-ledger-0"]


def test_down_mode_refuses_connections_then_comes_back_on_the_same_port(
    opencost_server: OpenCostStandIn,
) -> None:
    url = opencost_server.url
    with httpx.Client() as client:
        assert client.get(url + "/healthz").status_code == 200
        opencost_server.mode = "down"
        with pytest.raises(httpx.ConnectError):
            client.get(url + "/healthz")
        opencost_server.mode = "ok"
        assert client.get(url + "/healthz").status_code == 200
    assert opencost_server.url == url


def test_a_stand_in_can_start_down(http: httpx.Client) -> None:
    opencost = OpenCostStandIn()
    opencost.mode = "down"
    with opencost:
        with pytest.raises(httpx.ConnectError):
            http.get(opencost.base_url + "/healthz")
        opencost.mode = "ok"
        assert http.get(opencost.base_url + "/healthz").status_code == 200


def test_delay_makes_clients_time_out(opencost_server: OpenCostStandIn, http: httpx.Client) -> None:
    opencost_server.delay_seconds = 1.0
    with pytest.raises(httpx.ReadTimeout):
        http.get(opencost_server.url + "/allocation", params={"window": "1d"}, timeout=0.2)


@pytest.mark.parametrize(
    ("mode", "status", "content_type"),
    [
        ("status_500", 500, "application/json"),
        ("plain_400", 400, "text/plain; charset=utf-8"),
        ("garbage", 200, "text/html"),
        ("truncated_json", 200, "application/json"),
    ],
)
def test_fault_modes_break_the_answer(
    opencost_server: OpenCostStandIn, http: httpx.Client, mode: Any, status: int, content_type: str
) -> None:
    opencost_server.mode = mode
    reply = http.get(opencost_server.url + "/allocation", params={"window": "1d"})
    assert (reply.status_code, reply.headers["content-type"]) == (status, content_type)
    if mode != "status_500":
        with pytest.raises(json.JSONDecodeError):
            json.loads(reply.text)
    assert http.get(opencost_server.url + "/healthz").status_code == 200


def test_empty_sets_mode_answers_no_rows(
    opencost_server: OpenCostStandIn, http: httpx.Client
) -> None:
    opencost_server.mode = "empty_sets"
    reply = http.get(opencost_server.url + "/allocation", params={"window": "1d"}).json()
    assert reply == {"code": 200, "status": "success", "data": [{}]}


def test_proportional_costs_without_idle_is_a_json_400(
    opencost_server: OpenCostStandIn, http: httpx.Client
) -> None:
    params = {"window": "1d", "includeProportionalAssetResourceCosts": "true"}
    reply = http.get(opencost_server.url + "/allocation", params=params)
    assert reply.status_code == 400
    assert "includeIdle must be set true" in reply.json()["message"]


def test_custom_responder_sees_the_path_without_model_prefix(http: httpx.Client) -> None:
    seen: list[tuple[str, dict[str, str]]] = []

    def responder(path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        seen.append((path, params))
        return 200, "application/json", b'{"code":200,"data":[]}'

    with OpenCostStandIn(responder=responder) as opencost:
        reply = http.get(opencost.url + "/model/allocation", params={"window": "today"})
        assert reply.json() == {"code": 200, "data": []}
        assert opencost.request_count == 1
    assert seen == [("/allocation", {"window": "today"})]


def test_healthz_and_install_info(opencost_server: OpenCostStandIn, http: httpx.Client) -> None:
    assert http.get(opencost_server.url + "/healthz").text == ""
    assert http.get(opencost_server.url + "/installInfo").json()["version"] == "1.112.0"
    assert http.get(opencost_server.url + "/nope").status_code == 404


def test_allocation_row_prints_every_field_rounded_like_opencost() -> None:
    row = allocation_row(
        namespace="payments",
        pod="api-1",
        container="api",
        cpu_core_request_average=0.5,
        cpu_core_usage_average=0.123456789,
        cpu_core_usage_max=0.3,
        ram_byte_request_average=2**30,
        ram_byte_usage_average=2**29,
        cpu_cost=1.0,
        ram_cost=0.5,
    )
    real = OPENCOST_REAL / "allocation_window7d_aggregate-namespace_opencost-website.json"
    if not real.exists():
        pytest.skip(f"{real} is absent: the genuine OpenCost fixtures live in ../shared")
    real_keys = set(next(iter(json.loads(real.read_text())["data"][0].values())))
    assert real_keys <= set(row)
    assert row["name"] == "cluster-one/node-1/payments/api-1/api"
    assert row["cpuCoreUsageAverage"] == 0.12346
    assert row["cpuEfficiency"] == 0.24691
    assert (row["totalCost"], row["minutes"]) == (1.5, 1440)
    assert row["rawAllocationOnly"] == {"cpuCoreUsageMax": 0.3, "ramByteUsageMax": 2**29}
    assert "rawAllocationOnly" not in allocation_row("payments", raw=False)
    one = msgspec.json.decode(msgspec.json.encode(allocation_set(row)), type=dict[str, Any])
    assert one[row["name"]]["cpuCoreHours"] == 12


def test_our_fixtures_decode_with_costbot_models() -> None:
    allocations = load_opencost_fixture("allocation_container_two_clusters")
    decoded = msgspec.convert(allocations, AllocationResponse)
    assert len({row.namespace for row in (decoded.data or [{}])[0].values()}) == 4
    daily = msgspec.convert(
        load_opencost_fixture("allocation_namespace_step1d_first_day_empty"), AllocationResponse
    )
    assert [len(step) for step in daily.data or []] == [0, 2, 3]
    assert any(row.is_idle for row in (daily.data or [])[2].values())
