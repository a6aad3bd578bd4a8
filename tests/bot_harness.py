"""The whole bot, as `costbot serve` runs it, on 127.0.0.1 — wired to the local stand-ins.

`BotServer` runs Runtime + Bolt + Starlette under a real uvicorn in its own thread and loop,
so tests talk to it only over signed HTTP, exactly as Slack does.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from bot.runtime import Runtime
from bot.serve import drain_tasks
from bot.settings import Settings
from bot.wiring import build_bot
from demo.cluster import DemoCluster
from demo.identity import DEMO_IDENTITY_MAP, DEMO_SLACK_USERS, DEMO_USERGROUPS
from tests.redis_server import free_port
from tests.standins.fixtures import SIGNING_SECRET
from tests.standins.kube import KubeApiStandIn, write_kubeconfig
from tests.standins.opencost import OpenCostStandIn
from tests.standins.signing import SignedSlackClient
from tests.standins.slack import SlackStandIn


class MovableClock:
    """A clock tests can move forward (snooze expiry, digests) without sleeping."""

    def __init__(self, start: datetime | None = None) -> None:
        self._offset = timedelta(0)
        self._start = start

    def now(self) -> datetime:
        base = self._start or datetime.now(UTC)
        return base + self._offset if self._start else datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> None:
        self._offset += delta


class BotServer:
    def __init__(self, settings: Settings, clock: MovableClock) -> None:
        self.settings = settings
        self.clock = clock
        self.port = settings.port
        self.runtime: Runtime | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: uvicorn.Server | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as error:
            self._error = error
            self._ready.set()

    async def _main(self) -> None:
        bot = await build_bot(self.settings, clock=self.clock)
        self.runtime = bot.runtime
        config = uvicorn.Config(
            bot.web,
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        serving = asyncio.create_task(self._server.serve())
        while not self._server.started:  # noqa: ASYNC110 - uvicorn exposes only a flag
            await asyncio.sleep(0.01)
        self._ready.set()
        await serving
        await bot.runtime.stop_background()
        await drain_tasks()
        await bot.aclose()

    def start(self) -> BotServer:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(30)
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    def call(self, coro: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the bot's loop (e.g. to read Redis state the bot wrote)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)


@dataclass
class World:
    """The bot plus every stand-in it talks to."""

    bot: BotServer
    slack: SlackStandIn
    opencost: OpenCostStandIn
    kube: KubeApiStandIn
    client: SignedSlackClient
    clock: MovableClock

    def ask(self, text: str, user: str = "U0DEMOADMIN", timeout: float = 20) -> dict[str, Any]:
        """Send `/cost TEXT` as a signed slash command and return the final reply."""
        url = self.slack.new_response_url()
        response = self.client.slash(text, user_id=user, response_url=url, channel_id="C0COST")
        assert response.status_code == 200, response.text
        return self.slack.wait_for_answer(url, timeout)


def demo_world_env(
    slack: SlackStandIn,
    opencost: OpenCostStandIn,
    kube: KubeApiStandIn,
    redis_url: str,
    tmp: Path,
) -> dict[str, Any]:
    identity = tmp / "identity.yaml"
    identity.write_text(DEMO_IDENTITY_MAP)
    return {
        "slack_bot_token": "xoxb-test",
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": slack.url,
        "opencost_url": opencost.base_url,
        "redis_url": redis_url,
        "kubeconfig": str(write_kubeconfig(tmp / "kubeconfig", kube.url)),
        "identity_map_file": str(identity),
        "admin_groups": "platform-admins",
        "port": free_port(),
        "cache_ttl": 300,
        "authz_cache_ttl": 60,
        # Denies as long as allows: "a warm cache asks nothing" must hold on a slow machine.
        "authz_deny_cache_ttl": 60,
        "data_dir": str(tmp / "data"),
        # Blocks (the default) need an OpenCost that answers each window as asked; a stand-in
        # serving fixed sets answers every block with the whole set, so it is asked per window.
        "cost_blocks": not answers_fixed_sets(opencost),
    }


def answers_fixed_sets(opencost: OpenCostStandIn) -> bool:
    """True for a stand-in serving its fixed allocation sets whatever the window."""
    return opencost.responder == opencost.default_responder


def seed_slack_users(slack: SlackStandIn) -> None:
    for user in DEMO_SLACK_USERS:
        slack.set_user(
            user.id,
            email=user.email,
            tz=user.tz,
            real_name=user.name,
            deleted=user.deleted,
            is_bot=user.is_bot,
        )
    for group, members in DEMO_USERGROUPS.items():
        slack.set_usergroup(group, list(members))


@pytest.fixture
def world(redis_url: str, tmp_path: Path) -> Iterator[World]:
    clock = MovableClock()
    cluster = DemoCluster(clock)
    with SlackStandIn() as slack, OpenCostStandIn(responder=cluster.respond) as opencost:
        kube = KubeApiStandIn()
        kube.start()
        seed_slack_users(slack)
        env = demo_world_env(slack, opencost, kube, redis_url, tmp_path)
        bot = BotServer(Settings(**env), clock).start()
        client = SignedSlackClient(bot.url + "/slack/events", SIGNING_SECRET)
        try:
            yield World(bot, slack, opencost, kube, client, clock)
        finally:
            client.close()
            bot.stop()
            kube.stop()
