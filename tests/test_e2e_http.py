"""End to end over signed HTTP: the real app, real uvicorn, local Slack/OpenCost/Kubernetes."""

from __future__ import annotations

import time

import httpx

from tests.bot_harness import World
from tests.standins.signing import SignedSlackClient


def test_signed_help_is_acked_and_answered_via_response_url(world: World) -> None:
    """The ack is an empty 200 and the answer goes to the response_url. How fast the ack comes
    is measured, not asserted: `python -m bench deadlines`."""
    url = world.slack.new_response_url()
    response = world.client.slash("help", user_id="U0ALICE", response_url=url)
    assert response.status_code == 200
    assert response.content == b""
    reply = world.slack.wait_for_answer(url)
    text = str(reply["blocks"])
    assert "/cost summary" in text
    assert reply.get("response_type") == "ephemeral"


def test_unsigned_forged_and_stale_requests_get_401_and_reach_no_handler(world: World) -> None:
    url = world.slack.new_response_url()
    body = f"command=%2Fcost&text=summary&user_id=U0ALICE&response_url={url}".encode()
    plain = httpx.post(
        world.bot.url + "/slack/events",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert plain.status_code == 401
    forged = SignedSlackClient(world.bot.url, "not-the-secret")
    assert forged.slash("summary", user_id="U0ALICE", response_url=url).status_code == 401
    forged.close()
    stale = world.client.raw(body, timestamp=str(int(time.time()) - 6 * 60))
    assert stale.status_code == 401
    tampered_request = world.client.build.slash("summary", user_id="U0ALICE", response_url=url)
    headers = {k.lower(): v for k, v in tampered_request.headers.items()}
    tampered = world.client.raw(
        tampered_request.body.replace(b"U0ALICE", b"U0DEMOADMIN"),
        timestamp=headers["x-slack-request-timestamp"],
        signature=headers["x-slack-signature"],
    )
    assert tampered.status_code == 401
    # A signed command sent after the refused ones is answered; by then any work a refused
    # request had started would have had its turn too.
    assert "/cost summary" in str(world.ask("help", "U0ALICE")["blocks"])
    assert world.slack.responses(url) == []
    assert world.opencost.requests == [] or all(
        r.path.endswith("healthz") for r in world.opencost.requests
    )


def test_summary_for_admin_and_alice_differ_by_what_rbac_lets_them_see(world: World) -> None:
    admin = str(world.ask("summary 7d", "U0DEMOADMIN")["blocks"])
    alice = str(world.ask("summary 7d", "U0ALICE")["blocks"])
    assert "ml-training" in admin
    assert "(of 8)" in admin
    assert "payments" in alice
    for hidden in ("search", "kube-system", "monitoring", "ml-training"):
        assert hidden not in alice
    assert "namespaces you can see" in alice
    assert "idle" in admin.lower()


def test_unmapped_user_sees_only_help_and_whoami(world: World) -> None:
    denied = str(world.ask("summary", "U0NOBODY")["blocks"])
    assert "U0NOBODY" in denied
    assert "identity map" in denied
    who = str(world.ask("whoami", "U0NOBODY")["blocks"])
    assert "U0NOBODY" in who


def test_health_ready_and_metrics(world: World) -> None:
    assert httpx.get(world.bot.url + "/healthz").status_code == 200
    ready = httpx.get(world.bot.url + "/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["redis"] == "ok"
    world.ask("summary", "U0DEMOADMIN")
    metrics = httpx.get(world.bot.url + "/metrics").text
    assert "costbot_request_seconds_bucket" in metrics
    assert 'kind="command"' in metrics


def test_oversize_body_is_refused_unread(world: World) -> None:
    big = b"x" * (2 << 20)
    response = httpx.post(world.bot.url + "/slack/events", content=big)
    assert response.status_code == 413
