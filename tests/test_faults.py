"""Faults against the real processes: OpenCost, Redis, the Kubernetes API and Slack failing
while the real bot (uvicorn, Bolt, Runtime) keeps answering — friendly, fast, fail-closed.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from bot.settings import Settings
from demo.cluster import DemoCluster
from services.costs.windows import parse_window
from services.opencost.models import parse_time
from tests.bot_harness import BotServer, MovableClock, World, demo_world_env, seed_slack_users
from tests.redis_server import RedisServer, free_port
from tests.standins.fixtures import SIGNING_SECRET
from tests.standins.kube import KubeApiStandIn
from tests.standins.opencost import OpenCostStandIn, Responder
from tests.standins.signing import SignedSlackClient, block_actions_payload
from tests.standins.slack import SlackStandIn
from tests.waiting import wait_for, wait_for_fresh_copies_to_expire, wait_for_live_pieces_to_expire


@contextlib.contextmanager
def running_world(
    redis_url: str,
    tmp: Path,
    wrap: Callable[[Responder], Responder] = lambda responder: responder,
    **overrides: Any,
) -> Iterator[World]:
    """The `world` fixture's bot and stand-ins, with Settings overrides; `wrap` may rewrite
    what the demo OpenCost answers."""
    clock = MovableClock()
    responder = wrap(DemoCluster(clock).respond)
    with SlackStandIn() as slack, OpenCostStandIn(responder=responder) as opencost:
        kube = KubeApiStandIn()
        kube.start()
        seed_slack_users(slack)
        env = {**demo_world_env(slack, opencost, kube, redis_url, tmp), **overrides}
        bot = BotServer(Settings(**env), clock).start()
        client = SignedSlackClient(bot.url + "/slack/events", SIGNING_SECRET)
        try:
            yield World(bot, slack, opencost, kube, client, clock)
        finally:
            client.close()
            bot.stop()
            kube.stop()


@pytest.fixture
def fault_world(redis_url: str, tmp_path: Path) -> Iterator[World]:
    """The real bot with a 1 s OpenCost timeout and a 1 s cache TTL (fresh copies expire fast),
    answering from the per-window cache (`COST_BLOCKS=false`), whose last good copy is served
    stale when OpenCost fails."""
    overrides: dict[str, Any] = {"opencost_timeout": 1.0, "cache_ttl": 1, "cost_blocks": False}
    with running_world(redis_url, tmp_path, **overrides) as world:
        yield world


@pytest.fixture
def block_world(redis_url: str, tmp_path: Path) -> Iterator[World]:
    """The same with blocks (the default): settled days never expire, the running day does."""
    overrides: dict[str, Any] = {
        "opencost_timeout": 1.0,
        "cache_ttl": 1,
        "opencost_block_timeout": 1.0,
    }
    with running_world(redis_url, tmp_path, **overrides) as world:
        yield world


def _text(reply: dict[str, Any]) -> str:
    return str(reply.get("text", "")) + " " + str(reply.get("blocks", ""))


def _ask(world: World, text: str, user: str = "U0DEMOADMIN") -> str:
    """The final reply's text. How long replies take under faults is measured, not asserted
    here: `python -m bench deadlines`."""
    return _text(world.ask(text, user, timeout=10))


def _ready(world: World) -> int:
    return httpx.get(world.bot.url + "/readyz").status_code


def _figures(text: str) -> list[str]:
    """The money amounts in a reply, in order (what must not change when served stale). The
    open-savings line is left out: a stale answer does not ask a failing OpenCost for it."""
    kept = re.sub(r"open recommendations?\*[^'\"\n]*", "", text)
    return re.findall(r"\$[\d,]+\.\d\d", kept)


FAULTS: dict[str, str] = {
    "down": "OpenCost is not answering",
    "slow": "OpenCost is not answering",
    "status_500": "OpenCost is not answering",
    "truncated_json": "OpenCost sent an answer I can't read",
    "plain_400": "OpenCost sent an answer I can't read",
}


def _inject(world: World, fault: str) -> None:
    if fault == "slow":
        world.opencost.delay_seconds = 3.0  # the bot's OpenCost timeout is 1 s
    else:
        world.opencost.mode = fault  # type: ignore[assignment]


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_opencost_fault_gets_the_stale_copy_or_a_friendly_reply(
    fault_world: World, fault: str
) -> None:
    world = fault_world
    fresh = _ask(world, "summary lastweek")
    assert "not answering" not in fresh
    assert "$" in fresh
    # The fresh copy (CACHE_TTL=1) expires; the last good copy stays.
    wait_for_fresh_copies_to_expire(world.bot.settings.redis_url or "")
    world.opencost.reset()
    _inject(world, fault)
    stale = _ask(world, "summary lastweek")
    if fault != "down":  # a refused connection never reaches the stand-in
        # One question's attempts (retries stop at the deadline); the command's next question
        # is answered from the copy without asking the failing OpenCost again.
        assert 0 < world.opencost.request_count <= 3, world.opencost.requests
    assert "OpenCost is not answering" in stale  # the provenance line says so
    assert _figures(fresh) == _figures(stale) != []
    # A window nobody asked before has no copy: a plain sentence, not an error page.
    text = _ask(world, "summary 2024-01-01..2024-01-03")
    assert FAULTS[fault] in text, text
    assert "Traceback" not in text
    assert "Something went wrong" not in text


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_with_blocks_a_failing_opencost_leaves_settled_days_answering(
    block_world: World, fault: str
) -> None:
    """Blocks: a finished window is settled days, kept until the byte cap evicts them, so it is
    answered the same while OpenCost fails, without asking it; a window never asked still gets
    the plain sentence."""
    world = block_world
    fresh = _ask(world, "summary lastweek")
    assert "$" in fresh
    wait_for_live_pieces_to_expire(world.bot.settings.redis_url or "")
    world.opencost.reset()
    _inject(world, fault)
    again = _ask(world, "summary lastweek")
    assert _figures(again) == _figures(fresh) != []
    assert "not answering" not in again
    week = parse_window("lastweek", world.clock.now())
    for request in world.opencost.requests:  # none for last week's days: they were stored
        first, last = (parse_time(t) for t in request.params.get("window", ",").split(","))
        assert first is not None, request
        assert last is not None, request
        assert not (week.start <= first and last <= week.end), request
    text = _ask(world, "summary 2024-01-01..2024-01-03")
    assert FAULTS[fault] in text, text
    assert "Traceback" not in text
    assert "Something went wrong" not in text


def test_opencost_coming_back_is_asked_again_after_a_short_cooldown(fault_world: World) -> None:
    """After a failure the bot spares a sick OpenCost for 3 s (a command's next questions get
    the stale copy at once), then asks again: recovery needs no restart."""
    world = fault_world
    world.opencost.mode = "down"
    assert "not answering" in _ask(world, "summary yesterday")
    world.opencost.mode = "ok"
    world.opencost.reset()
    replies = [_ask(world, "summary yesterday")]  # inside the cooldown: OpenCost is spared

    def answered_again() -> bool:
        if "not answering" in replies[-1]:
            replies.append(_ask(world, "summary yesterday"))
        return "not answering" not in replies[-1]

    wait_for(answered_again, "OpenCost asked again after the cooldown", timeout=20, every=0.2)
    assert "$" in replies[-1]
    assert world.opencost.request_count > 0


# --- Redis killed and restarted -------------------------------------------------------------------
def _rec_values(reply: dict[str, Any], action_id: str = "rec_ack") -> list[str]:
    return [
        str(element["value"])
        for block in reply.get("blocks", [])
        if block.get("type") == "actions"
        for element in block.get("elements", [])
        if element.get("action_id") == action_id
    ]


def _click(world: World, user: str, action_id: str, value: str) -> dict[str, Any]:
    url = world.slack.new_response_url()
    payload = block_actions_payload(user, action_id, value, response_url=url)
    assert world.client.action(payload).status_code == 200
    return world.slack.wait_for_answer(url, timeout=30)


def test_redis_killed_and_restarted_mid_traffic_recovers_without_losing_acknowledgements(
    private_redis: RedisServer, tmp_path: Path
) -> None:
    with running_world(private_redis.url, tmp_path, recs_history_days=7) as world:
        board = world.ask("recs", "U0DEMOADMIN")
        first, second = _rec_values(board)[:2]
        assert "Acknowledged" in _text(_click(world, "U0DEMOADMIN", "rec_ack", first))
        traffic = Traffic(world)
        with traffic.running():
            traffic.wait_for_replies(1)
            private_redis.kill()  # SIGKILL: no chance to flush anything it had not written
            refused = _text(_click(world, "U0DEMOADMIN", "rec_ack", second))
            wait_for(lambda: _ready(world) == 503, "readiness to report Redis down")
            traffic.wait_for_replies(len(traffic.replies) + 1)  # answered while Redis is down
            private_redis.start()  # same port, same append-only file
            wait_for(lambda: _ready(world) == 200, "readiness to report Redis back")
            traffic.wait_for_replies(len(traffic.replies) + 1)  # and after it came back
        assert "Redis" in refused
        assert "nothing was changed" in refused
        assert len(traffic.replies) >= 3
        for text in traffic.replies:
            assert "$" in text, text
            assert "Something went wrong" not in text
        # Recovered without a restart: readiness, state changes and the cache work again.
        assert _ready(world) == 200
        assert "Acknowledged" in _text(_click(world, "U0DEMOADMIN", "rec_ack", second))
        everything = str(world.ask("recs all", "U0DEMOADMIN")["blocks"])
        assert everything.count("Acknowledged by") == 2  # the pre-crash one survived the kill
        world.ask("summary 7d", "U0DEMOADMIN")
        client = redis.Redis.from_url(private_redis.url)
        keys = client.keys("costbot:cost:v1:*") + client.keys("costbot:{costcache}:v*")
        client.close()
        assert keys, "answers are cached again after the restart"


@pytest.mark.parametrize("blocks", [True, False], ids=["blocks", "per-window cache"])
def test_a_question_in_flight_when_redis_dies_does_not_hold_up_the_next_one(
    private_redis: RedisServer, tmp_path: Path, blocks: bool
) -> None:
    """The fetch's lock is in the append-only file, but its release failed while Redis was
    down: after the restart the same question used to wait out the lock (20 s; a block's 60 s)."""
    overrides: dict[str, Any] = {"opencost_timeout": 5.0, "cost_blocks": blocks}
    with running_world(private_redis.url, tmp_path, **overrides) as world:
        world.opencost.delay_seconds = 1.0
        url = world.slack.new_response_url()
        world.client.slash("summary yesterday", user_id="U0DEMOADMIN", response_url=url)
        # Once OpenCost has the question, the fetch holds the lock and waits for the answer.
        wait_for(lambda: world.opencost.request_count > 0, "the fetch to reach OpenCost")
        private_redis.kill()
        world.slack.wait_for_response(url, 1, 10)  # answered from OpenCost, not stored
        private_redis.start()
        world.opencost.delay_seconds = 0.0
        asked = world.opencost.request_count
        # Answered within `_ask`'s 10 s, so the stranded 20 s lock was not waited out ...
        text = _ask(world, "summary yesterday")
        assert "$" in text
        assert world.opencost.request_count > asked  # ... and OpenCost was asked afresh


class Traffic:
    """Slash commands sent one after another from a thread, each reply timed."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.replies: list[str] = []
        self._stop = threading.Event()
        self._errors: list[BaseException] = []

    def _run(self) -> None:
        questions = ["summary 7d", "top 3 by controller", "ns payments 24h"]
        users = ["U0DEMOADMIN", "U0ALICE"]
        index = 0
        while not self._stop.is_set():
            try:
                text = _ask(self.world, questions[index % 3], users[index % 2])
            except BaseException as error:  # surfaced in running()
                self._errors.append(error)
                return
            self.replies.append(text)
            index += 1

    def wait_for_replies(self, count: int) -> None:
        wait_for(
            lambda: len(self.replies) >= count or self._errors,
            f"{count} replies to the traffic",
            timeout=30,
        )
        if self._errors:
            raise self._errors[0]

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._stop.set()
            thread.join(15)
        if self._errors:
            raise self._errors[0]


# --- Kubernetes API down -------------------------------------------------------------------------
def test_kubernetes_api_down_or_failing_fails_closed_with_a_clear_reply(world: World) -> None:
    """No access decision can be made: nothing is shown, a click changes nothing, and the
    reply says why; when the API is back the same questions are answered."""
    board = world.ask("recs namespace payments", "U0DEMOADMIN")  # admin's decisions get cached
    value = _rec_values(board)[0]
    for mode in ("down", "status_500"):
        world.kube.set_mode(mode)
        for question, user in (
            ("summary 7d", "U0ALICE"),
            ("ns payments", "U0BOB"),
            ("whoami", "U0CAROL"),
        ):
            text = _ask(world, question, user)
            assert "can't reach the Kubernetes API" in text, (mode, question, text)
            assert "$" not in text, (mode, question, text)  # fail closed: no figures at all
        clicked = _text(_click(world, "U0ALICE", "rec_ack", value))
        assert "can't reach the Kubernetes API" in clicked, clicked
    world.kube.set_mode("ok")
    assert "$" in _text(world.ask("summary 7d", "U0ALICE"))
    states = str(world.ask("recs all", "U0ALICE")["blocks"])
    assert "Acknowledged" not in states  # the clicks while the API was down changed nothing


# --- Slack failing --------------------------------------------------------------------------------
def _share(world: World, user: str, command: str) -> str:
    """Press "Share in channel" under an answer to `command`; returns the click's response_url."""
    url = world.slack.new_response_url()
    payload = block_actions_payload(
        user, "share_in_channel", command, response_url=url, channel_id="C0COST"
    )
    assert world.client.action(payload).status_code == 200
    return url


def test_slack_rate_limits_and_server_errors_are_retried_until_the_message_lands(
    world: World,
) -> None:
    world.slack.fail("chat.postMessage", times=1, retry_after=0)  # 429, Retry-After: 0
    world.slack.fail("chat.postMessage", times=1, status=503)
    world.slack.fail("response_url", times=1, retry_after=0)
    world.slack.fail("response_url", times=1, status=502)
    _share(world, "U0DEMOADMIN", "summary 7d")
    posted = world.slack.wait_for("chat.postMessage", 3, timeout=10)
    assert len(posted) == 3  # 429, 503, then the message
    assert world.slack.messages("C0COST"), "the shared answer reached the channel"
    reply = world.ask("summary 7d", "U0ALICE")  # its response_url answered 429, then 502
    assert "$" in _text(reply)


def test_slack_refusing_the_token_is_reported_clearly(world: World) -> None:
    world.slack.fail("chat.postMessage", times=5, error="invalid_auth")
    url = _share(world, "U0DEMOADMIN", "summary 7d")
    reply = _text(world.slack.wait_for_answer(url, timeout=10))
    assert "invalid_auth" in reply, reply
    assert "token" in reply
    assert "Something went wrong" not in reply
    # users.info refused too: the identity cannot be looked up, and the reply says Slack failed.
    world.slack.fail("users.info", times=5, error="invalid_auth")
    text = _text(world.ask("summary 7d", "U0ALICE"))
    assert "Slack" in text, text
    assert "$" not in text
    assert "Something went wrong" not in text


def test_slack_web_api_unreachable_gets_a_clear_reply_not_a_crash(
    redis_url: str, tmp_path: Path
) -> None:
    """users.info cannot even connect (slack_sdk then raises aiohttp's error, not its own): the
    requester cannot be identified, so nothing is shown, and the reply says Slack failed."""
    with running_world(
        redis_url, tmp_path, slack_api_url=f"http://127.0.0.1:{free_port()}/api/"
    ) as world:
        text = _ask(world, "summary 7d", "U0ALICE")
        assert "Slack" in text, text
        assert "$" not in text
        assert "Something went wrong" not in text
