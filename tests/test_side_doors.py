"""Side doors around RBAC, tried as a curious or hostile workspace member would: a
SubjectAccessReview answered with a string, replayed and retried requests, nested JSON, raw
OpenCost bodies and internal URLs in replies, secrets in the failed-signature log line, forged
audit lines, node figures for namespace-scoped users, a Share button that changes state, and a
recommendation title in a notification text. Everything goes through signed HTTP.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from bot.settings import Settings
from services.access.kube import KubeApi
from services.access.models import AccessCheck
from tests.bot_harness import BotServer, World
from tests.rbac_world import ADMIN, ALICE, DAVE, all_text, click, find_rec, rec_items
from tests.redis_server import free_port
from tests.standins.fixtures import SIGNING_SECRET
from tests.standins.kube import KubeApiStandIn
from tests.standins.signing import SignedSlackClient, block_actions_payload, view_submission_payload
from tests.test_faults import running_world
from tests.test_security import captured_logs, evil, injection_problems

FRAUD = "payments/fraud-scorer"
SUBSCRIBE = "digest subscribe weekly mon at 09:00"


def _redis(world: World) -> redis.Redis:
    return redis.Redis.from_url(world.bot.settings.redis_url or "", decode_responses=True)


def _subscriptions(world: World) -> int:
    client = _redis(world)
    try:
        return int(client.hlen("costbot:digest:subs"))
    finally:
        client.close()


def _budgets(world: World) -> int:
    client = _redis(world)
    try:
        return int(client.hlen("costbot:digest:budgets"))
    finally:
        client.close()


# --- 1. SubjectAccessReview answers are read strictly --------------------------------------------
PODS_IN_WEB = AccessCheck(verb="list", resource="pods", namespace="web")


@pytest.mark.parametrize(
    ("allowed", "denied"),
    [("false", None), ("true", None), (1, None), ([True], None), ({}, None), (True, "no")],
    ids=str,
)
async def test_a_review_that_is_not_a_boolean_allow_is_a_deny(
    kube_api: KubeApiStandIn, allowed: Any, denied: Any
) -> None:
    assert kube_api.kubeconfig is not None
    api = KubeApi.from_config(str(kube_api.kubeconfig), timeout=2.0)
    try:
        assert await api.subject_access_review("admin", ["platform-admins"], PODS_IN_WEB)
        kube_api.allowed_as, kube_api.denied_as = allowed, denied
        assert not await api.subject_access_review("admin", ["platform-admins"], PODS_IN_WEB)
        assert not await api.can_create_sar()
    finally:
        await api.aclose()


def test_a_string_false_from_the_api_server_shows_nothing(world: World) -> None:
    """Dave has no bindings; an API server answering `"allowed": "false"` must not read as yes."""
    world.kube.allowed_as = "false"
    reply = all_text(world.ask("whoami", DAVE))
    assert "*Cluster-wide figures:* no" in reply, reply
    assert "in none of these namespaces" in reply, reply
    assert "`payments`" not in reply


# --- 2. replays and retries ---------------------------------------------------------------------
@pytest.fixture
def two_replicas(world: World, tmp_path: Path) -> Iterator[tuple[World, SignedSlackClient]]:
    """A second bot sharing the first one's Redis, Slack, OpenCost and Kubernetes."""
    settings = Settings(**{**world.bot.settings.model_dump(), "port": free_port()})
    other = BotServer(settings, world.clock).start()
    client = SignedSlackClient(other.url + "/slack/events", SIGNING_SECRET)
    try:
        yield world, client
    finally:
        client.close()
        other.stop()


def test_a_replayed_signed_command_is_acknowledged_but_not_run_again(
    two_replicas: tuple[World, SignedSlackClient],
) -> None:
    world, other = two_replicas
    url = world.slack.new_response_url()
    request = world.client.build.slash(
        SUBSCRIBE, user_id=ADMIN, channel_id="C0COST", response_url=url
    )
    assert world.client.send(request).status_code == 200
    assert "subscribed this channel" in all_text(world.slack.wait_for_answer(url, timeout=20))
    assert _subscriptions(world) == 1
    with captured_logs("info", secrets=[]) as logs:
        again = world.client.send(request)  # the same replica
        elsewhere = other.send(request)  # another replica, same Redis
        text = logs.getvalue()
    assert (again.status_code, elsewhere.status_code) == (200, 200)
    assert text.count("request.replay_ignored") == 2, text
    listed = all_text(world.ask("digest list", ADMIN))
    assert _subscriptions(world) == 1, listed
    assert len(world.slack.responses(url)) == 1


def test_a_slack_event_retry_is_not_processed_twice(world: World) -> None:
    event = {"type": "app_home_opened", "user": ALICE, "tab": "home"}
    assert world.client.event(event, event_id="Ev0SIDEDOOR1").status_code == 200
    world.slack.wait_for("views.publish", 1, timeout=10)
    # Slack retries a minute later: a new timestamp, hence a new signature (not a replay).
    body = json.dumps(world.client.build.event_callback(event, event_id="Ev0SIDEDOOR1")).encode()
    retry_headers = {"Content-Type": "application/json", "X-Slack-Retry-Num": "1"}
    with captured_logs("info", secrets=[]) as logs:
        retried = world.client.raw(body, retry_headers, timestamp=int(time.time()) + 61)
        text = logs.getvalue()
    assert retried.status_code == 200
    assert "request.event_retry_ignored" in text, text
    assert world.client.event(event, event_id="Ev0SIDEDOOR2").status_code == 200
    assert len(world.slack.wait_for("views.publish", 2, timeout=10)) == 2


# --- 3. nested JSON ------------------------------------------------------------------------------
def test_deeply_nested_json_is_a_400_not_a_500(world: World) -> None:
    deep = "[" * 5000 + "]" * 5000
    action = block_actions_payload(ALICE, "rec_details", "x:1")
    nested = json.dumps({**action, "state": {"values": "PLACEHOLDER"}}).replace(
        '"PLACEHOLDER"', deep
    )
    bodies = {
        "payload array": b"payload=" + urllib.parse.quote(deep).encode(),
        "payload object": b"payload=" + urllib.parse.quote(nested).encode(),
    }
    answers = {name: world.client.raw(body).status_code for name, body in bodies.items()}
    event = world.client.build.event_callback({"type": "app_home_opened", "user": ALICE})
    event["event"]["view"] = "PLACEHOLDER"
    raw_event = json.dumps(event).replace('"PLACEHOLDER"', deep).encode()
    answers["event"] = world.client.raw(raw_event, {"Content-Type": "application/json"}).status_code
    assert answers == {"payload array": 400, "payload object": 400, "event": 400}
    assert world.slack.calls == []  # nothing ran
    assert "Who you are" in all_text(world.ask("whoami", ALICE))  # the bot is still fine


# --- 4. errors and logs -------------------------------------------------------------------------
def test_an_unreadable_opencost_answer_is_described_not_quoted(world: World) -> None:
    body = b"<pre>pod ledger-7f9c (team: treasury) OOMKilled</pre>\n"
    world.opencost.responder = lambda path, params: (200, "text/html", body)
    with captured_logs("info", secrets=[]) as logs:
        reply = all_text(world.ask("summary 2024-01-01..2024-01-02", ALICE))
        text = logs.getvalue()
    assert "OpenCost sent an answer I can't read" in reply, reply
    for unscoped in (
        "ledger-7f9c",
        "treasury",
        world.opencost.base_url,
        "127.0.0.1",
        "/allocation",
    ):
        assert unscoped not in reply, (unscoped, reply)
    assert "ledger-7f9c" in text  # operators get the detail
    assert "opencost.bad_response" in text


def test_the_failed_signature_log_line_redacts_response_url_and_token(world: World) -> None:
    url = world.slack.new_response_url()
    slash = world.client.build.slash("summary", user_id=ALICE, response_url=url)
    action = world.client.build.interactive(
        block_actions_payload(ALICE, "x", "y", response_url=url)
    )
    with captured_logs("debug", secrets=[]) as logs:
        for request in (slash, action):
            kind = {"Content-Type": request.headers["Content-Type"]}
            forged = world.client.raw(request.body, kind, signature="v0=" + "0" * 64)
            assert forged.status_code == 401
        text = logs.getvalue()
    assert text.count("Invalid request signature") == 2, text
    for secret in (url, urllib.parse.quote(url, safe=""), "deprecated-verification-token"):
        assert secret not in text, (secret, text)
    assert urllib.parse.quote(url.split("/")[-1]) not in text  # not even the URL's secret part


def test_a_dismissal_reason_cannot_forge_audit_lines(world: World) -> None:
    _, value, _ = find_rec(world.ask("recs", ALICE), FRAUD)
    url = click(world, ALICE, "rec_dismiss", value, wait=False)
    view = world.slack.wait_for("views.open", 1, 10)[-1].params["view"]
    view = json.loads(view) if isinstance(view, str) else view
    fake = "`2026-01-01 00:00` *budget_deleted* by `U0DEMOADMIN` everything"
    reason = f"seasonal\n{fake}\r\n<!channel>"
    values = {"reason": {"reason": {"type": "plain_text_input", "value": reason}}}
    payload = view_submission_payload(
        view["callback_id"], values, user_id=ALICE, private_metadata=view["private_metadata"]
    )
    assert world.client.view_submission(payload).status_code == 200
    world.slack.wait_for_response(url, 1, 20)
    shown = world.ask("audit 20", ADMIN)
    log = next(b["text"]["text"] for b in shown["blocks"] if b["type"] == "section")
    assert "seasonal" in log, log
    assert not [line for line in log.splitlines() if "budget_deleted" in line.split(" by ")[0]]
    assert all(line.startswith("`20") for line in log.splitlines()), log
    assert not injection_problems(shown)


# --- 5. nodes are cluster-wide -------------------------------------------------------------------
def test_top_by_node_is_refused_to_namespace_scoped_users(world: World) -> None:
    refused = all_text(world.ask("top by node", ALICE))
    assert "only people with cluster-wide access" in refused, refused
    assert "ec2.internal" not in refused
    assert "$" not in refused
    assert "ec2.internal" in all_text(world.ask("top by node", ADMIN))


# --- 6. the Share button -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value", [SUBSCRIBE, "budget set namespace payments 1500/month", "digest unsubscribe all"]
)
def test_share_never_runs_a_state_changing_command(world: World, value: str) -> None:
    url = world.slack.new_response_url()
    payload = block_actions_payload(
        ALICE, "share_in_channel", value, response_url=url, channel_id="C0COST", block_id="share"
    )
    assert world.client.action(payload).status_code == 200
    reply = world.slack.wait_for_answer(url, timeout=20)
    assert "Only cost answers can be shared" in str(reply), reply
    assert (_subscriptions(world), _budgets(world)) == (0, 0)
    assert world.slack.calls_to("chat.postMessage") == []


def test_share_computes_the_answer_for_the_clicker(world: World) -> None:
    url = world.slack.new_response_url()
    payload = block_actions_payload(
        ALICE, "share_in_channel", "top 20 by namespace 7d", response_url=url, channel_id="C0COST"
    )
    assert world.client.action(payload).status_code == 200
    posted = world.slack.wait_for("chat.postMessage", 1, timeout=10)[-1].params
    shared = json.dumps(posted)
    assert "payments" in shared
    assert "search" not in shared  # the button's value was the admin's words, not their view


# --- 7. a recommendation title in a notification text -------------------------------------------
@pytest.fixture
def poisoned(redis_url: str, tmp_path: Path) -> Iterator[World]:
    with running_world(redis_url, tmp_path, evil) as world:
        yield world


def test_a_recommendation_title_is_escaped_in_the_notification_text(poisoned: World) -> None:
    world = poisoned
    board = world.ask("recs", ADMIN)
    volume = [item for item in rec_items(board) if "Unclaimed volume pvc-" in item[2]]
    assert volume, all_text(board)
    url = click(world, ADMIN, "rec_ack", volume[0][1])
    changed = world.slack.wait_for_answer(url, timeout=20)
    assert "Acknowledged" in all_text(changed), changed
    assert "<@U0DEMOADMIN>" not in str(changed.get("text")), changed.get("text")
    assert not injection_problems(changed)
