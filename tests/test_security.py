"""Attacks on the running bot: bad signatures, oversize bodies, tampered buttons, mrkdwn and
mention injection from users and from OpenCost, secrets in logs, Redis key hygiene.

The Deployment's non-root, read-only-root-filesystem pod spec is checked in
tests/test_shipping.py (`securityContext`), not repeated here.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import structlog

from bot.logging import configure_logging
from tests.bot_harness import World
from tests.standins.kube import TOKEN as KUBE_TOKEN
from tests.standins.opencost import Responder
from tests.standins.server import wait_until
from tests.standins.signing import (
    SignedSlackClient,
    block_actions_payload,
    view_submission_payload,
)
from tests.test_faults import running_world

# --- mrkdwn / mention injection ------------------------------------------------------------------
# Names OpenCost reports are whatever the cluster says: label values are free text, and a
# compromised or careless workload owner picks them. Each original name gains a payload.
EVIL_NS = "web<!channel>&<@U123>"
INJECTIONS: dict[str, str] = {
    "web": EVIL_NS,  # namespace, the `team` label value, and every name containing it
    "frontend": "<https://evil|x>frontend",  # controller, pod and container names
    "ec2.internal": "ec2.internal<!here>",  # node names
    "demo-cluster": "demo-cluster<!everyone>",  # the cluster name
    "pvc-": "pvc-<@U0DEMOADMIN>-",  # volume names (unclaimed volumes)
}
PAYLOADS = ("<!channel>", "<!here>", "<!everyone>", "<@U123>", "<https://evil", "<@U0DEMOADMIN>-")


def evil(inner: Responder) -> Responder:
    """OpenCost answers with every name carrying a payload; asked with the payloads removed."""

    def respond(path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        clean = {key: _undo(value) for key, value in params.items()}
        status, content_type, body = inner(path, clean)
        for plain, payload in INJECTIONS.items():
            body = body.replace(plain.encode(), payload.encode())
        return status, content_type, body

    return respond


def _undo(value: str) -> str:
    for plain, payload in INJECTIONS.items():
        value = value.replace(payload, plain)
    return value


def mrkdwn_texts(message: Mapping[str, Any]) -> list[str]:
    """Every string Slack parses as mrkdwn: the top-level `text` (notifications) and every
    `mrkdwn` text object in the blocks (plain_text is never parsed for mentions or links)."""
    found = [str(message.get("text") or "")]
    blocks = message.get("blocks") or []
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return found


_BARE_AMP = re.compile(r"&(?!(amp|lt|gt);)")


def injection_problems(message: Mapping[str, Any]) -> list[str]:
    problems = []
    for text in mrkdwn_texts(message):
        problems += [f"raw {p!r} in {text[:300]!r}" for p in PAYLOADS if p in text]
        if _BARE_AMP.search(text):
            problems.append(f"unescaped & in {text[:300]!r}")
    return problems


COMMANDS = [
    "summary 7d",
    f"ns {EVIL_NS}",
    "ns web&lt;!channel&gt;&amp;&lt;@U123&gt;",  # the same name as Slack encodes typed text
    "top 20 by controller",
    "top 20 by pod",
    "top by node",
    "top by cluster",
    "top by label:team",
    f"label team={EVIL_NS}",
    "compare 7d",
    "trend 7d",
    "recs",
    "recs all",
    "whoami",
    "summary <!channel> <@U123> <https://evil|x> &",  # user args echoed in usage errors
    "ns <@U123>",
    "top 5 by label:<!channel>",
    "<https://evil|x>",
]


@pytest.fixture
def poisoned(redis_url: str, tmp_path: Path) -> Iterator[World]:
    with running_world(redis_url, tmp_path, evil) as world:
        yield world


def _click(world: World, action_id: str, value: str, user: str = "U0DEMOADMIN") -> str:
    url = world.slack.new_response_url()
    payload = block_actions_payload(user, action_id, value, response_url=url, channel_id="C0COST")
    assert world.client.action(payload).status_code == 200
    return url


def _values(reply: Mapping[str, Any], action_id: str) -> list[str]:
    return [
        str(element["value"])
        for block in reply.get("blocks", [])
        if block.get("type") == "actions"
        for element in block.get("elements", [])
        if element.get("action_id") == action_id
    ]


def test_names_from_opencost_and_user_args_are_escaped_in_every_reply(poisoned: World) -> None:
    """Every text path: slash replies, the shared message, button updates, both modals, the
    App Home. A payload shown raw would ping the channel or link to the attacker."""
    world = poisoned
    problems: dict[str, list[str]] = {}
    replies: dict[str, dict[str, Any]] = {}
    for command in COMMANDS:
        replies[command] = world.ask(command, "U0DEMOADMIN")
        problems[command] = injection_problems(replies[command])
    shown = json.dumps(replies)
    assert "web&lt;!channel&gt;&amp;&lt;@U123&gt;" in shown  # the payloads did reach the bot
    assert "&lt;https://ev" in shown
    assert "&lt;!here&gt;" in shown

    board = replies["recs"]
    web = [
        b for b in board["blocks"] if "web&lt;!channel" in json.dumps(b) and b["type"] == "section"
    ]
    rec_id = str(web[0]["block_id"]).split(":")[1]
    evil_rec = next(v for v in _values(board, "rec_ack") if v.startswith(rec_id))
    _click(world, "rec_details", evil_rec)
    view = world.slack.wait_for("views.open", 1, timeout=10)[-1].params["view"]
    view = json.loads(view) if isinstance(view, str) else view
    problems["details modal"] = injection_problems({"blocks": view["blocks"]})
    # Not a DNS-1123 name, so no RoleBinding can grant `patch` there: refused, and said safely.
    for action in ("rec_ack", "rec_dismiss"):
        refused = world.slack.wait_for_answer(_click(world, action, evil_rec), timeout=10)
        assert "You may not change" in str(refused), refused
        problems[action] = injection_problems(refused)
    _click(world, "share_in_channel", "top 20 by controller")
    shared = world.slack.wait_for("chat.postMessage", 1, timeout=10)[-1]
    problems["shared"] = injection_problems(shared.params)
    not_shared = _click(world, "share_in_channel", f"ns {EVIL_NS}")  # an error stays private
    problems["not shared"] = injection_problems(world.slack.wait_for_answer(not_shared))
    world.client.event({"type": "app_home_opened", "user": "U0DEMOADMIN", "tab": "home"})
    home = world.slack.wait_for("views.publish", 1, timeout=10)[-1].params["view"]
    home = json.loads(home) if isinstance(home, str) else home
    problems["app home"] = injection_problems({"blocks": home["blocks"]})
    assert not {k: v for k, v in problems.items() if v}, json.dumps(problems, indent=1)


# --- signatures -----------------------------------------------------------------------------------
def _rec_value(world: World, namespace: str) -> str:
    board = world.ask(f"recs namespace {namespace}", "U0DEMOADMIN")
    return _values(board, "rec_ack")[0]


def test_forged_stale_future_and_tampered_clicks_and_events_get_401_and_run_nothing(
    world: World,
) -> None:
    """Extends tests/test_e2e_http.py (slash commands) to buttons and events, a timestamp from
    the future, and malformed signature headers: all refused before any listener runs."""
    value = _rec_value(world, "payments")
    world.slack.reset()
    url = world.slack.new_response_url()
    build = world.client.build
    click = build.interactive(block_actions_payload("U0ALICE", "rec_ack", value, response_url=url))
    home = build.event({"type": "app_home_opened", "user": "U0ALICE", "tab": "home"})
    now = int(time.time())
    forger = SignedSlackClient(world.bot.url, "not-the-secret")
    for request in (click, home):
        body, kind = request.body, request.headers["Content-Type"]
        headers = {"Content-Type": kind}
        attempts = {
            "unsigned": httpx.post(world.client.endpoint, content=body, headers=headers),
            "wrong secret": forger.raw(body, headers),
            "replayed 6 min later": world.client.raw(body, headers, timestamp=now - 360),
            "from the future": world.client.raw(body, headers, timestamp=now + 360),
            "tampered": world.client.raw(
                body.replace(b"U0ALICE", b"U0DEMOADMIN"),
                headers,
                timestamp=request.headers["X-Slack-Request-Timestamp"],
                signature=request.headers["X-Slack-Signature"],
            ),
            "v1 scheme": world.client.raw(body, headers, signature="v1=" + "0" * 64),
            "not a number": world.client.raw(body, headers, timestamp="soon"),
        }
        refused = {name: r.status_code for name, r in attempts.items() if r.status_code != 401}
        assert not refused, refused
    forger.close()
    # A genuine event after the refused ones is handled; by then a refused request that had
    # slipped through would have had its turn too.
    assert (
        world.client.event({"type": "app_home_opened", "user": "U0BOB", "tab": "home"}).status_code
        == 200
    )
    (published,) = world.slack.wait_for("views.publish", 1, 30)
    assert published.params["user_id"] == "U0BOB"
    # No middleware or listener ran for the refused requests: nothing was asked or published
    # about the users they named.
    for call in world.slack.calls:
        assert "U0ALICE" not in str(call.params), call
        assert "U0DEMOADMIN" not in str(call.params), call
    assert world.slack.responses(url) == []
    assert "Acknowledged" not in str(world.ask("recs all namespace payments", "U0DEMOADMIN"))


def test_oversize_bodies_are_refused_even_when_streamed_or_signed(world: World) -> None:
    big = b"command=%2Fcost&text=" + b"a" * (2 << 20)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server must count as it reads
        for start in range(0, len(big), 64 << 10):
            yield big[start : start + (64 << 10)]

    streamed = httpx.post(world.client.endpoint, content=chunks())
    assert streamed.status_code == 413
    signed = world.client.raw(big)
    assert signed.status_code == 413
    assert world.slack.calls == []
    # A large but legal body still goes through (Slack's payloads stay far below the limit).
    url = world.slack.new_response_url()
    assert world.client.slash("help " + "x" * 20_000, response_url=url).status_code == 200
    assert world.slack.wait_for_response(url)


# --- tampered button values -----------------------------------------------------------------------
def _audit_stream(world: World) -> list[dict[str, str]]:
    """The audit stream as the bot wrote it, read straight from Redis (XRANGE)."""
    client = redis.Redis.from_url(world.bot.settings.redis_url or "", decode_responses=True)
    try:
        rows: list[tuple[str, dict[str, str]]] = client.xrange("costbot:audit")  # type: ignore[assignment]  # decode_responses: str, not bytes
    finally:
        client.close()
    return [fields for _, fields in rows]


def test_tampered_button_values_are_rejected_and_audited(world: World) -> None:
    search = _rec_value(world, "search")  # alice may not even see search
    payments = _rec_value(world, "payments")
    rec_id = payments.split(":")[0]
    cases = [
        ("U0ALICE", "rec_ack", search, "not available to you"),
        ("U0ALICE", "rec_snooze_7", "0123456789ab:1", "not available to you"),
        ("U0ALICE", "rec_dismiss", "<!channel>:1", "not available to you"),
        ("U0BOB", "rec_ack", search, "You may not change"),  # sees search, may not patch
        ("U0ALICE", "rec_ack", f"{rec_id}:not-the-version", "changed since"),
    ]
    for user, action, value, words in cases:
        url = _click(world, action, value, user)
        reply = world.slack.wait_for_answer(url, timeout=10)
        assert words in str(reply), (user, action, value, reply)
        assert not injection_problems(reply)
    # A dismiss modal whose private_metadata was edited to point at another namespace.
    meta = json.dumps({"value": search, "response_url": world.slack.new_response_url()})
    values = {"reason": {"reason": {"type": "plain_text_input", "value": "not ours"}}}
    payload = view_submission_payload(
        "rec_dismiss_modal", values, user_id="U0ALICE", private_metadata=meta
    )
    assert world.client.view_submission(payload).status_code == 200

    def rejected() -> list[dict[str, Any]] | None:
        found = [e for e in _audit_stream(world) if e["event"] == "recommendation_rejected"]
        return found if len(found) >= 4 else None

    entries = wait_until(rejected, 10, lambda: f"audit: {_audit_stream(world)}")
    assert {e["actor"] for e in entries} == {"U0ALICE"}
    denied = [e for e in _audit_stream(world) if e["event"] == "access_denied"]
    assert [e["actor"] for e in denied] == ["U0BOB"]
    everything = str(world.ask("recs all", "U0DEMOADMIN")["blocks"])
    assert "Acknowledged" not in everything
    assert "Dismissed" not in everything
    assert "Snoozed" not in everything
    log = str(world.ask("audit 20", "U0DEMOADMIN")["blocks"])
    assert log.count("recommendation_rejected") >= 4
    assert "access_denied" in log
    assert "<!channel>" not in log
    # Every key a session writes lives under the prefix (a shared Redis stays tidy): state
    # changes, subscriptions, the App Home and shared answers too.
    acked = world.slack.wait_for_answer(_click(world, "rec_ack", payments))
    assert "Acknowledged" in str(acked)
    world.ask("digest subscribe weekly mon at 09:00", "U0DEMOADMIN")
    world.client.event({"type": "app_home_opened", "user": "U0ALICE", "tab": "home"})
    world.slack.wait_for("views.publish", 1, timeout=10)
    _click(world, "share_in_channel", "summary 7d", "U0ALICE")
    world.slack.wait_for("chat.postMessage", 1, timeout=10)
    client = redis.Redis.from_url(world.bot.settings.redis_url or "", decode_responses=True)
    keys = [str(key) for key in client.keys("*")]
    client.close()
    assert keys
    assert all(key.startswith("costbot:") for key in keys), keys


# --- secrets never leave -------------------------------------------------------------------------
@contextlib.contextmanager
def captured_logs(level: str, secrets: list[str]) -> Iterator[io.StringIO]:
    """The bot's logs as `costbot serve` configures them (JSON), into a buffer."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_config = structlog.get_config()
    stream = io.StringIO()
    configure_logging(level, "json", stream=stream, secrets=secrets)
    try:
        yield stream
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        structlog.configure(**saved_config)


def test_tokens_and_the_signing_secret_never_reach_logs_or_replies(world: World) -> None:
    settings = world.bot.settings
    assert settings.slack_bot_token is not None
    assert settings.slack_signing_secret is not None
    secrets = [
        settings.slack_bot_token.get_secret_value(),
        settings.slack_signing_secret.get_secret_value(),
        KUBE_TOKEN,
    ]
    said: list[Any] = []

    def ask(text: str, user: str = "U0DEMOADMIN") -> None:
        said.append(world.ask(text, user))

    def click(action: str, value: str, user: str) -> None:
        said.append(world.slack.wait_for_answer(_click(world, action, value, user)))

    with captured_logs("debug", secrets=[]) as logs:  # no redaction list: nothing may log them
        for command in ("summary 7d", "recs", "nonsense words", "audit"):
            ask(command)
        click("rec_ack", _values(said[1], "rec_ack")[0], "U0BOB")
        world.client.raw(b"command=%2Fcost&text=summary", signature="v0=" + "0" * 64)
        world.client.raw(b"command=%2Fcost&text=summary", timestamp="soon")
        world.opencost.mode = "garbage"  # before the 500s: those make it wait 3 s to ask again
        ask("summary 2024-01-03..2024-01-04")
        world.opencost.mode = "status_500"
        ask("summary 2024-01-01..2024-01-02")
        world.opencost.mode = "ok"
        world.slack.fail("chat.postMessage", times=3, error="invalid_auth")
        click("share_in_channel", "summary 7d", "U0DEMOADMIN")
        world.kube.set_mode("down")
        # UTC days, as the first "summary 7d": served from the cache while OpenCost backs off
        # (carol's own zone, Asia/Tokyo, would be another window).
        ask("summary 7d tz UTC", "U0CAROL")
        world.kube.set_mode("ok")
    text = logs.getvalue()
    assert "audit.recommendation_rejected" in text
    assert "opencost.request_failed" in text
    assert "opencost.bad_response" in text
    assert "authz.unavailable" in text
    assert "slack.token_refused" in text
    assert "request.rejected" in text
    everything = json.dumps(said) + json.dumps([call.params for call in world.slack.calls])
    for secret in secrets:
        assert secret not in text, f"{secret[:6]}… in the logs"
        assert secret not in everything, f"{secret[:6]}… in what the bot said"
