"""The answer cache seen from Slack: one OpenCost request for a stampede of identical questions,
the last good answer (labelled stale) while OpenCost fails, and fresh data after the TTL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.bot_harness import MovableClock, World
from tests.cost_world import ADMIN, all_text, cost_world, headline
from tests.standins.fixtures import SIGNING_SECRET
from tests.standins.opencost import Mode, OpenCostStandIn, allocation_row, allocation_set
from tests.standins.signing import AsyncSignedSlackClient
from tests.waiting import wait_for, wait_for_fresh_copies_to_expire

ASKED_AT = datetime(2024, 3, 8, 12, 0, tzinfo=UTC)
STALE = ":warning: data as of 12:00 UTC — OpenCost is not answering"
TTL = 1


def _data(cost: float) -> list[dict[str, Any]]:
    row = allocation_row(namespace="payments", pod="api-1", container="app", cpu_cost=cost)
    return [allocation_set(row)]


@pytest.fixture
def quick(redis_url: str, tmp_path: Path) -> Iterator[tuple[World, OpenCostStandIn]]:
    """CACHE_TTL=1 and a 1 s OpenCost timeout, so expiry and time-outs take a second."""
    with (
        OpenCostStandIn(_data(12.5)) as standin,
        cost_world(
            redis_url,
            tmp_path,
            {"": standin},
            clock=MovableClock(ASKED_AT),
            cache_ttl=TTL,
            opencost_timeout=1.0,
        ) as world,
    ):
        yield world, standin


@pytest.fixture
def steady(redis_url: str, tmp_path: Path) -> Iterator[tuple[World, OpenCostStandIn]]:
    """The default CACHE_TTL: answers stay fresh however slowly a loaded machine runs."""
    with (
        OpenCostStandIn(_data(12.5)) as standin,
        cost_world(redis_url, tmp_path, {"": standin}, clock=MovableClock(ASKED_AT)) as world,
    ):
        yield world, standin


async def _stampede(world: World, text: str, count: int) -> list[str]:
    """`count` identical signed slash commands at once; returns their response URLs."""
    urls = [world.slack.new_response_url() for _ in range(count)]
    client = AsyncSignedSlackClient(world.bot.url, SIGNING_SECRET, timeout=30)
    try:
        sent = await asyncio.gather(
            *(client.slash(text, user_id=ADMIN, response_url=url) for url in urls)
        )
    finally:
        await client.aclose()
    assert {response.status_code for response in sent} == {200}
    return urls


def _final(world: World, url: str) -> dict[str, Any]:
    """The answer at `url`, past any "Working on it…" placeholder."""
    return world.slack.wait_for_answer(url, timeout=30)


def test_a_hundred_identical_questions_make_one_opencost_request(
    steady: tuple[World, OpenCostStandIn],
) -> None:
    """More concurrent questions than Redis connections in the pool: they queue for a
    connection instead of failing past the cache (which once sent ~70 requests to OpenCost)."""
    world, standin = steady
    standin.delay_seconds = 0.5  # so the questions really overlap
    urls = asyncio.run(_stampede(world, "top 5 7d", 100))
    replies = [_final(world, url) for url in urls]
    assert {headline(reply) for reply in replies} == {headline(replies[0])}
    assert headline(replies[0]).startswith("*$12.50*")
    # the visible-scope lookup and the answer ask the same question: one request in all
    assert len(standin.requests_to("/allocation")) == 1


def test_a_different_window_is_a_different_question(
    steady: tuple[World, OpenCostStandIn],
) -> None:
    world, standin = steady
    world.ask("top 7d", ADMIN)
    world.ask("top 7d", ADMIN)
    world.ask("top 30d", ADMIN)
    windows = [request.params["window"] for request in standin.requests_to("/allocation")]
    assert len(windows) == 2
    assert len(set(windows)) == 2


@pytest.mark.parametrize(
    ("fault", "delay"), [("status_500", 0.0), ("garbage", 0.0), ("ok", 3.0)], ids=str
)
def test_after_the_ttl_a_failing_opencost_gets_the_last_answer_labelled_stale(
    quick: tuple[World, OpenCostStandIn], fault: Mode, delay: float
) -> None:
    world, standin = quick
    fresh = world.ask("top 7d", ADMIN)
    assert STALE not in all_text(fresh)
    standin.mode, standin.delay_seconds = fault, delay  # delay 3 s > OPENCOST_TIMEOUT 1 s
    standin.allocation_sets = _data(99.0)
    wait_for_fresh_copies_to_expire(world.bot.settings.redis_url or "")
    stale = world.ask("top 7d", ADMIN, timeout=30)
    assert STALE in all_text(stale)
    assert headline(stale) == headline(fresh)
    assert len(standin.requests_to("/allocation")) > 1  # it did ask OpenCost again


def test_fresh_data_once_the_ttl_has_passed_and_opencost_answers_again(
    quick: tuple[World, OpenCostStandIn],
) -> None:
    world, standin = quick
    assert headline(world.ask("top 7d", ADMIN)).startswith("*$12.50*")
    standin.allocation_sets = _data(99.0)
    standin.mode = "status_500"
    wait_for_fresh_copies_to_expire(world.bot.settings.redis_url or "")
    assert STALE in all_text(world.ask("top 7d", ADMIN))
    standin.mode = "ok"
    # The client holds off a failing OpenCost for a few seconds (the cooldown); until it asks
    # again the answer stays stale. Ask until it is fresh: the first fresh answer must be right.
    replies = [world.ask("top 7d", ADMIN)]

    def fresh_again() -> bool:
        if STALE in all_text(replies[-1]):
            replies.append(world.ask("top 7d", ADMIN))
        return STALE not in all_text(replies[-1])

    wait_for(fresh_again, "a fresh answer once OpenCost answers again", every=0.2)
    assert headline(replies[-1]).startswith("*$99.00*")
    assert "OpenCost is not answering" not in all_text(replies[-1])


def test_failing_with_no_earlier_answer_says_so_without_figures(
    quick: tuple[World, OpenCostStandIn],
) -> None:
    world, standin = quick
    standin.mode = "status_500"
    text = all_text(world.ask("summary 7d", ADMIN))
    assert "OpenCost is not answering" in text
    assert "$" not in text


def test_a_running_window_asked_after_the_ttl_still_gets_the_last_answer(
    redis_url: str, tmp_path: Path
) -> None:
    """'7d' ends at now (in 5-minute buckets), so after CACHE_TTL the same question has a new
    window: its last good answer must still be found while OpenCost fails."""
    with (
        OpenCostStandIn(_data(12.5)) as standin,
        cost_world(
            redis_url, tmp_path, {"": standin}, clock=MovableClock(ASKED_AT), cache_ttl=300
        ) as world,
    ):
        world.ask("top 7d", ADMIN)
        standin.mode = "status_500"
        world.clock.advance(timedelta(minutes=6))  # past CACHE_TTL, as real time would be
        later = world.ask("top 7d", ADMIN)
    assert STALE in all_text(later)
    assert headline(later).startswith("*$12.50*")


@pytest.mark.parametrize(
    ("question", "requests"),
    # The lookup asks namespace-level rows, the answer's own question for these commands; a
    # label answer needs container rows (labels live there), so it asks one more; summary also
    # asks the recommendations' 14-day history (its open-savings line).
    [("top 7d", 1), ("summary 7d", 2), ("trend 7d", 1), ("compare 7d", 2), ("label team=x 7d", 2)],
)
def test_the_scope_lookup_shares_the_answers_own_opencost_questions(
    steady: tuple[World, OpenCostStandIn], question: str, requests: int
) -> None:
    """Finding which namespaces the asker may see asks nothing the answer does not ask too,
    except for label answers (one namespace-level question more)."""
    world, standin = steady
    world.ask(question, ADMIN)
    assert len(standin.requests_to("/allocation")) == requests
