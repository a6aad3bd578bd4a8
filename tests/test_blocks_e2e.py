"""The block data plane (services/opencost/blocks.py) driven the way users drive it: signed
`/cost` slash commands to the real bot, with `COST_BLOCKS=true` for these bots only, a clock
standing still mid-afternoon, and a window-aware synthetic OpenCost behind the stand-in.

Every figure is checked against `SyntheticCluster.expected_total` over the window the answer
itself states, formatted by the renderer's own `money`: the cut into day and hour blocks, the
time zone of the asker and the scope must all come out to the cent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis

from demo.rbac import DEMO_RBAC, StaticRbac, group_binding
from handlers.errors import words_for
from services.errors import Unmapped
from services.numbers import money
from tests.bot_harness import MovableClock, World
from tests.cost_world import ADMIN, all_text, cost_world, headline, table_after
from tests.standins.opencost import OpenCostRequest, OpenCostStandIn
from tests.standins.opencost_days import IDLE_PER_HOUR, SyntheticCluster

NOW = datetime(2024, 3, 8, 14, 20, tzinfo=UTC)  # mid-afternoon: day, hour and live pieces
SETTLE = timedelta(hours=2)  # OPENCOST_SETTLE's default: what has settled by NOW
DAY = timedelta(days=1)
ALICE, DAVE, MALLORY = "U0ALICE", "U0DAVE", "U0MALLORY"
ALICE_SEES = {"ns-0001", "ns-0003"}  # granted below to her group, payments-devs
CACHE_KEYS = "*{costcache}*"
_PERIOD = re.compile(
    r"(\w{3}) (\d{1,2})(?: (\d{4}))? (\d{2}):(\d{2}) – (\w{3}) (\d{1,2})(?: (\d{4}))? "
    r"(\d{2}):(\d{2}) (\S+)$"
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# --- the world ------------------------------------------------------------------------------------
def _cluster() -> SyntheticCluster:
    """40 containers in 6 namespaces, running for 60 days up to NOW."""
    return SyntheticCluster(40, 6, end=NOW, days=60)


@contextmanager
def _bot(redis_url: str, tmp: Path, standin: OpenCostStandIn, **settings: Any) -> Iterator[World]:
    """The real bot answering from blocks (the suite's default is the per-window cache)."""
    tmp.mkdir(parents=True, exist_ok=True)
    with cost_world(
        redis_url, tmp, {"": standin}, clock=MovableClock(NOW), cost_blocks=True, **settings
    ) as world:
        yield world


@pytest.fixture
def synthetic() -> SyntheticCluster:
    return _cluster()


@pytest.fixture
def opencost(synthetic: SyntheticCluster) -> Iterator[OpenCostStandIn]:
    standin = OpenCostStandIn(responder=synthetic.respond)
    with standin:
        try:
            yield standin
        finally:
            standin.release()  # a held request must not outlive the test


@pytest.fixture
def world(redis_url: str, tmp_path: Path, opencost: OpenCostStandIn) -> Iterator[World]:
    with _bot(redis_url, tmp_path, opencost) as bot:
        yield bot


# --- reading answers ------------------------------------------------------------------------------
def _stated_window(reply: dict[str, Any]) -> tuple[datetime, datetime]:
    """The period the headline states ('Mar 2 00:00 – Mar 8 14:20 UTC'), as UTC instants."""
    line = headline(reply).split("\n")[0]
    match = _PERIOD.search(line)
    assert match is not None, line
    g = match.groups()
    zone = UTC if g[10] == "UTC" else ZoneInfo(g[10])
    year = NOW.astimezone(zone).year

    def moment(month: str, day: str, shown_year: str | None, hour: str, minute: str) -> datetime:
        local = datetime(
            int(shown_year or year), _MONTHS.index(month) + 1, int(day), int(hour), int(minute)
        )
        return local.replace(tzinfo=zone).astimezone(UTC)

    return moment(*g[0:5]), moment(*g[5:10])


def _shown_total(reply: dict[str, Any]) -> str:
    """The answer's total as shown: '$324.93' from '*$324.93* · …'."""
    return headline(reply).split("*")[1]


def _hours(cluster: SyntheticCluster, start: datetime, end: datetime) -> float:
    lo, hi = max(start, cluster.begin), min(end, cluster.end)
    return max(0.0, (hi - lo).total_seconds() / 3600)


def _whole_cluster(cluster: SyntheticCluster, start: datetime, end: datetime) -> float:
    """What a cluster-wide asker is shown: every container plus idle capacity."""
    return cluster.expected_total(start, end, None) + IDLE_PER_HOUR * _hours(cluster, start, end)


def _span(request: OpenCostRequest) -> timedelta:
    first, last = (
        datetime.fromisoformat(t.replace("Z", "+00:00"))
        for t in request.params["window"].split(",")
    )
    return last - first


def _day_window(day: datetime) -> str:
    return f"{day:%Y-%m-%dT%H:%M:%SZ},{day + DAY:%Y-%m-%dT%H:%M:%SZ}"


def _pieces(start: datetime, end: datetime) -> int:
    """How many pieces [start, end) is cut into, counted by hand: settled whole days, settled
    hours, and one live piece for the rest (start here is a UTC midnight, end is NOW)."""
    midnight = NOW.replace(hour=0, minute=0)
    assert start.hour == 0
    assert end == NOW
    days = (midnight - start) // DAY
    hours = (NOW - SETTLE - midnight) // timedelta(hours=1)
    return days + hours + 1


def _cache_keys(redis_url: str) -> set[bytes]:
    client = redis.Redis.from_url(redis_url)
    try:
        return set(client.scan_iter(match=CACHE_KEYS))
    finally:
        client.close()


# --- 1. a longer window reuses the blocks of a shorter one ----------------------------------------
def test_14d_after_7d_fetches_only_the_days_7d_did_not_have(
    world: World, opencost: OpenCostStandIn, synthetic: SyntheticCluster
) -> None:
    seven = world.ask("summary 7d", ADMIN)
    start, end = _stated_window(seven)
    assert (start, end) == (datetime(2024, 3, 2, tzinfo=UTC), NOW)
    assert _shown_total(seven) == money(_whole_cluster(synthetic, start, end))
    asked_before = opencost.request_count

    fourteen = world.ask("summary 14d", ADMIN)
    start14, end14 = _stated_window(fourteen)
    assert (start14, end14) == (start - 7 * DAY, NOW)
    assert _shown_total(fourteen) == money(_whole_cluster(synthetic, start14, end14))
    second = opencost.requests[asked_before:]
    assert len(second) < _pieces(start14, end14), [r.params["window"] for r in second]
    # The answer's own blocks: exactly the seven days the 7d answer did not cover.
    answer_level = [r for r in second if r.params.get("aggregate") == "namespace"]
    new_days = {_day_window(start14 + i * DAY) for i in range(7)}
    assert sorted(r.params["window"] for r in answer_level) == sorted(new_days)
    # No allocation request, for the answers or the recommendations behind their savings line,
    # ever spans more than one block.
    allocations = opencost.requests_to("/allocation")
    assert allocations
    assert all(_span(r) <= DAY for r in allocations), [r.params for r in allocations]


def test_no_opencost_request_of_a_second_ask_spans_several_days(
    world: World, opencost: OpenCostStandIn
) -> None:
    world.ask("summary 7d", ADMIN)
    asked_before = opencost.request_count
    world.ask("summary 14d", ADMIN)
    wide = [
        (r.path, r.params["window"]) for r in opencost.requests[asked_before:] if _span(r) > DAY
    ]
    assert wide == []


# --- 2. replicas share blocks ---------------------------------------------------------------------
def test_a_second_replica_asks_opencost_nothing_for_blocks_the_first_fetched(
    redis_url: str, tmp_path: Path, opencost: OpenCostStandIn, synthetic: SyntheticCluster
) -> None:
    with (
        _bot(redis_url, tmp_path / "one", opencost) as one,
        _bot(redis_url, tmp_path / "two", opencost) as two,
    ):
        first = one.ask("summary 7d", ADMIN)
        fetched = opencost.requests_to("/allocation")
        assert len(fetched) > 7  # six days, today's settled hours, the live rest, recs' days
        second = two.ask("summary 7d", ADMIN)
        # Settled blocks and the live piece (cached for CACHE_TTL) both come from Redis.
        assert opencost.requests_to("/allocation") == fetched
    start, end = _stated_window(second)
    assert (
        _shown_total(second) == _shown_total(first) == money(_whole_cluster(synthetic, start, end))
    )


# --- 3. a namespace-scoped user -------------------------------------------------------------------
def test_a_namespace_scoped_user_sees_only_their_namespaces_to_the_cent(
    world: World, synthetic: SyntheticCluster
) -> None:
    world.kube.rbac = StaticRbac(
        [*DEMO_RBAC, *(group_binding("demo-view", "payments-devs", ns) for ns in ALICE_SEES)]
    )
    reply = world.ask("summary 7d", ALICE)
    start, end = _stated_window(reply)  # Alice's local days (Europe/Berlin), cut at hours
    assert start == datetime(2024, 3, 1, 23, tzinfo=UTC)
    assert end == NOW
    assert _shown_total(reply) == money(synthetic.expected_total(start, end, ALICE_SEES))
    rows, _ = table_after(reply, "Top namespaces")
    assert {row[0] for row in rows} == ALICE_SEES
    for namespace, shown, _share in rows:
        assert shown == money(synthetic.expected_total(start, end, {namespace}))
    assert "idle" not in all_text(reply)  # idle capacity is cluster-wide: not hers


# --- 4. no access: nothing asked, nothing cached --------------------------------------------------
FIFTY = [
    *(f"summary {n}d" for n in range(1, 21)),
    *(f"trend {n}d" for n in range(2, 17)),
    *(f"top 5 by namespace {n}d" for n in range(1, 16)),
]


@pytest.mark.parametrize(
    "user",
    [
        pytest.param(MALLORY, id="unmapped"),
        pytest.param(DAVE, id="mapped-without-bindings"),
    ],
)
def test_a_user_with_no_access_costs_no_opencost_request_and_no_cache_entry(
    world: World, opencost: OpenCostStandIn, redis_url: str, user: str
) -> None:
    assert len(set(FIFTY)) == 50
    world.ask("summary 7d", ADMIN)  # a warm cache, so "no new key" compares with something
    keys, asked = _cache_keys(redis_url), opencost.request_count
    assert keys
    answers = set()
    for question in FIFTY:
        text = all_text(world.ask(question, user))
        assert "$" not in text, (question, text)
        assert "\n" not in text, (question, text)
        assert opencost.requests[asked:] == [], question
        assert _cache_keys(redis_url) == keys, question
        answers.add(text)
    assert len(answers) == 1  # the same plain answer, whatever the window
    if user == MALLORY:
        assert answers == {words_for(Unmapped(MALLORY))}


# --- 5. one slow day ------------------------------------------------------------------------------
def test_a_day_that_times_out_is_left_out_and_named_and_poisons_nothing(
    redis_url: str, tmp_path: Path, opencost: OpenCostStandIn, synthetic: SyntheticCluster
) -> None:
    slow = datetime(2024, 3, 4, tzinfo=UTC)
    opencost.hold(lambda path, params: params.get("window") == _day_window(slow))
    with _bot(redis_url, tmp_path, opencost, opencost_block_timeout=1.0) as world:
        seven = world.ask("summary 7d", ADMIN, timeout=30)
        assert opencost.held_count >= 1  # the day was asked for, and never answered
        start, end = _stated_window(seven)
        shown = _whole_cluster(synthetic, start, end) - _whole_cluster(synthetic, slow, slow + DAY)
        assert _shown_total(seven) == money(shown)
        assert f"no data yet for {slow:%Y-%m-%d};" in all_text(seven)

        one = world.ask("summary 1d", ADMIN)
        start1, end1 = _stated_window(one)
        assert (start1, end1) == (NOW.replace(hour=0, minute=0), NOW)
        assert _shown_total(one) == money(_whole_cluster(synthetic, start1, end1))
        assert "no data yet" not in all_text(one)
