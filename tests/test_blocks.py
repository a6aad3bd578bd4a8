"""The block data plane (services/opencost/blocks.py) against a real redis-server and the
window-aware OpenCost stand-in: reuse across windows, users and replicas; source-keyed entries;
the byte cap (state survives it); no work for empty scopes; a failed block degrades one answer."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from redis.asyncio import Redis

from services.access.models import Scope
from services.costs.service import CostService
from services.costs.windows import TimeRange, parse_window
from services.opencost.blocks import (
    BlockedCostSource,
    BlockSettings,
    align,
    plan,
    source_identity,
    used_bytes,
)
from services.opencost.client import OpenCostClient
from services.opencost.models import AllocationQuery
from tests.conftest import FakeClock
from tests.standins.opencost import OpenCostStandIn
from tests.standins.opencost_days import IDLE_PER_HOUR, SyntheticCluster

NOW = datetime(2026, 11, 27, 16, 55, tzinfo=UTC)
EVERYONE = Scope(namespaces=None, cluster_wide=True)


@pytest.fixture
def cluster() -> SyntheticCluster:
    return SyntheticCluster(40, 8, end=NOW, days=30)


@pytest.fixture
def standin(cluster: SyntheticCluster) -> Iterator[OpenCostStandIn]:
    server = OpenCostStandIn(responder=cluster.respond).start()
    yield server
    server.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as client:
        yield client


def blocked(
    url: str, http: httpx.AsyncClient, redis: Redis, clock: FakeClock, **tuning: object
) -> BlockedCostSource:
    client = OpenCostClient(url, http, clock=clock, retries=0, cooldown=0.0)
    settings = BlockSettings(**tuning)  # type: ignore[arg-type]
    return BlockedCostSource(client, redis, clock, source_identity("", url), settings=settings)


def service(source: BlockedCostSource, clock: FakeClock) -> CostService:
    return CostService(source, clock, align=align)


def test_plan_cuts_a_window_into_settled_days_hours_and_one_live_piece() -> None:
    pieces = plan(NOW - timedelta(days=7), NOW, NOW, timedelta(hours=2))
    days = [p for p in pieces if p.end - p.start == timedelta(days=1)]
    assert len(days) == 6
    assert all(p.immutable for p in days)
    assert pieces[0].start == datetime(2026, 11, 20, 16, tzinfo=UTC)  # aligned to the hour
    assert not pieces[-1].immutable
    assert pieces[-1].end == NOW
    # The running day is one live piece from its UTC midnight, not 14 settled hour blocks.
    assert pieces[-1].start == datetime(2026, 11, 27, tzinfo=UTC)
    # The first day's settled hours, 16:00–24:00, are one edge block, not eight.
    assert (pieces[0].end, pieces[0].immutable) == (datetime(2026, 11, 21, tzinfo=UTC), True)
    assert len(pieces) == 1 + 6 + 1
    assert all(a.end == b.start for a, b in itertools.pairwise(pieces))


def test_a_day_still_settling_is_live_and_becomes_one_day_block_once_settled() -> None:
    settle = timedelta(hours=2)
    just_after_midnight = datetime(2026, 11, 27, 1, 30, tzinfo=UTC)
    early = plan(
        datetime(2026, 11, 24, tzinfo=UTC), just_after_midnight, just_after_midnight, settle
    )
    # Yesterday has not settled at 01:30: it is live (one piece, not 22 hour blocks), and so is
    # today, each piece within one UTC day.
    assert [(p.start, p.end, p.immutable) for p in early] == [
        (datetime(2026, 11, 24, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC), True),
        (datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 11, 26, tzinfo=UTC), True),
        (datetime(2026, 11, 26, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC), False),
        (datetime(2026, 11, 27, tzinfo=UTC), just_after_midnight, False),
    ]
    later = datetime(2026, 11, 27, 2, 30, tzinfo=UTC)
    settled = plan(datetime(2026, 11, 24, tzinfo=UTC), later, later, settle)
    assert [(p.start, p.immutable) for p in settled][-2:] == [
        (datetime(2026, 11, 26, tzinfo=UTC), True),
        (datetime(2026, 11, 27, tzinfo=UTC), False),
    ]


async def test_two_replicas_fetch_each_block_once_and_windows_reuse_blocks(
    standin: OpenCostStandIn, http: httpx.AsyncClient, redis: Redis, cluster: SyntheticCluster
) -> None:
    clock = FakeClock(NOW)
    one = service(blocked(standin.url, http, redis, clock), clock)
    two = service(blocked(standin.url, http, redis, clock), clock)
    week = parse_window("7d", NOW)
    first = await one.summary(week, EVERYONE)
    cold = standin.request_count
    second = await two.summary(week, EVERYONE)  # another replica, same Redis
    assert standin.request_count == cold
    assert first.total == pytest.approx(second.total)
    aligned = one.aligned(week)
    hours = (aligned.end - aligned.start).total_seconds() / 3600
    assert first.total == pytest.approx(
        cluster.expected_total(aligned.start, aligned.end, None) + IDLE_PER_HOUR * hours
    )
    # A 3-day window inside the week and another user's namespaced view: only settled blocks.
    user = Scope(namespaces=frozenset({"ns-0001"}))
    inner = TimeRange(datetime(2026, 11, 22, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC), "x")
    answer = await two.summary(inner, user)
    assert standin.request_count == cold
    assert answer.total == pytest.approx(
        cluster.expected_total(inner.start, inner.end, {"ns-0001"})
    )


async def test_switching_the_opencost_url_never_serves_the_old_numbers(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    clock = FakeClock(NOW)
    small = SyntheticCluster(10, 2, end=NOW)
    big = SyntheticCluster(30, 2, end=NOW)
    with (
        OpenCostStandIn(responder=small.respond).start() as a,
        OpenCostStandIn(responder=big.respond).start() as b,
    ):
        day = TimeRange(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC), "d")
        first = await service(blocked(a.url, http, redis, clock), clock).summary(day, EVERYONE)
        then = await service(blocked(b.url, http, redis, clock), clock).summary(day, EVERYONE)
        assert b.request_count == 1
    idle = IDLE_PER_HOUR * 24
    assert first.total == pytest.approx(small.expected_total(day.start, day.end, None) + idle)
    assert then.total == pytest.approx(big.expected_total(day.start, day.end, None) + idle)


async def test_the_byte_cap_holds_and_state_keys_survive_it(
    standin: OpenCostStandIn, http: httpx.AsyncClient, redis: Redis
) -> None:
    clock = FakeClock(NOW)
    await redis.set("costbot:ack:alert-1", "U123")  # state: never the cache's to evict
    cap = 8 * 1024  # a few blocks of this small cluster
    source = blocked(standin.url, http, redis, clock, max_bytes=cap)
    for days_back in range(2, 30):
        start = datetime(2026, 11, 27, tzinfo=UTC) - timedelta(days=days_back)
        query = AllocationQuery(start=start, end=start + timedelta(days=1), include_idle=True)
        await source.allocations(query)
        assert await used_bytes(redis) <= cap
    assert source.evictions > 0
    assert await redis.get("costbot:ack:alert-1") == b"U123"


async def test_an_empty_scope_asks_nothing_and_writes_nothing(
    standin: OpenCostStandIn, http: httpx.AsyncClient, redis: Redis
) -> None:
    clock = FakeClock(NOW)
    costs = service(blocked(standin.url, http, redis, clock), clock)
    nobody = Scope(namespaces=frozenset())
    for days in range(1, 51):
        window = parse_window(f"{days}d", NOW)
        await costs.summary(window, nobody)
        await costs.top(window, nobody, "controller")
        await costs.trend(window, nobody)
    assert standin.request_count == 0
    assert standin.bytes_sent == 0
    assert await redis.dbsize() == 0


async def test_a_failing_block_degrades_one_answer_and_says_which_day(
    standin: OpenCostStandIn, cluster: SyntheticCluster, http: httpx.AsyncClient, redis: Redis
) -> None:
    clock = FakeClock(NOW)
    bad_day = "2026-11-23T00:00:00Z"
    healthy = standin.responder

    def flaky(path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        if params.get("window", "").startswith(bad_day):
            return 500, "application/json", b'{"code":500,"message":"Prometheus timed out"}'
        return healthy(path, params)

    standin.responder = flaky
    source = blocked(standin.url, http, redis, clock, retry_after=3600.0)
    costs = service(source, clock)
    week = TimeRange(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC), "w")
    answer = await costs.summary(week, EVERYONE)
    assert answer.provenance.missing == ["2026-11-23"]
    expected = cluster.expected_total(week.start, week.end, None) - cluster.expected_total(
        datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 24, tzinfo=UTC), None
    )
    assert answer.total == pytest.approx(expected + IDLE_PER_HOUR * 24 * 6)
    standin.responder = healthy  # OpenCost recovers: the next answer is whole
    again = await costs.summary(week, EVERYONE)
    assert again.provenance.missing == []
    await source.close()


async def test_a_window_is_one_row_per_allocation_and_asked_again_reads_only_its_live_piece(
    standin: OpenCostStandIn, http: httpx.AsyncClient, redis: Redis, cluster: SyntheticCluster
) -> None:
    clock = FakeClock(NOW)
    source = blocked(standin.url, http, redis, clock)
    month = parse_window("30d", NOW)
    start, end = align(month.start, month.end, NOW)
    query = AllocationQuery(start=start, end=end, aggregate="namespace", include_idle=True)
    first = await source.allocations(query)
    names = [row.name for row in first.rows()]
    assert len(names) == len(set(names)) == 8 + 1  # eight namespaces and idle, summed over days
    total = sum(row.cost() for row in first.rows())
    hours = (min(end, NOW) - start).total_seconds() / 3600
    assert total == pytest.approx(cluster.expected_total(start, end, None) + IDLE_PER_HOUR * hours)
    one = next(row for row in first.rows() if row.name == "ns-0001")
    assert (one.start, one.end) == (f"{start:%Y-%m-%dT%H:%M:%SZ}", "2026-11-27T16:55:00Z")
    containers = sum(1 for item in cluster.items if item.namespace == "ns-0001")
    assert one.minutes == pytest.approx(hours * 60 * containers)
    assert one.cpu_core_request_average == pytest.approx(
        0.5 * containers
    )  # an average, not a sum over days

    hits = source.hits
    again = await source.allocations(query)
    assert source.hits - hits == 1  # the live piece; the settled days are summed in process
    assert sum(row.cost() for row in again.rows()) == pytest.approx(total)
    assert again.steps[0] is first.steps[0]  # the live piece did not change: nothing re-summed


async def test_a_settled_asset_window_is_fetched_once_across_replicas(
    standin: OpenCostStandIn, http: httpx.AsyncClient, redis: Redis
) -> None:
    clock = FakeClock(NOW)
    one = blocked(standin.url, http, redis, clock)
    two = blocked(standin.url, http, redis, clock)
    midnight = NOW.replace(hour=0, minute=0)
    start = midnight - timedelta(days=14)
    first = await one.assets(start, midnight)  # settled: midnight + 2 h is before 16:55
    again = await two.assets(start, midnight)
    await one.assets(start, midnight)
    assert len(standin.requests_to("/assets")) == 1
    assert again == first
    assert await used_bytes(redis) > 0  # counted against the cap like the blocks

    standin.reset()
    await one.assets(midnight - timedelta(days=1), NOW)  # still running: a live entry
    await two.assets(midnight - timedelta(days=1), NOW)
    assert len(standin.requests_to("/assets")) == 1
    names = [k if isinstance(k, str) else k.decode() for k in await redis.keys("*:assets:*")]
    lifetimes = {name.split(":assets:")[1].split(":")[0]: await redis.pttl(name) for name in names}
    assert lifetimes["b"] == -1  # settled: kept until the cap evicts it
    assert 0 < lifetimes["live"] <= BlockSettings().live_ttl * 1000  # running: refreshed


ZONES = [
    ("Europe/Berlin", "Europe/Berlin"),
    ("America/New_York", "America/New_York"),
    ("Asia/Kolkata", "UTC"),  # +05:30: its midnights are not on hour blocks
]


@pytest.mark.parametrize(
    "case", [(text, *zone) for text in ("7d", "24h") for zone in ZONES], ids=str
)
async def test_local_days_from_blocks_add_up_and_a_half_hour_zone_says_utc(
    standin: OpenCostStandIn,
    http: httpx.AsyncClient,
    redis: Redis,
    cluster: SyntheticCluster,
    case: tuple[str, str, str],
) -> None:
    """A trend's local days and the summary of the same window agree to the cent with what the
    data holds; a zone whose midnights fall between hour blocks is counted (and labelled) in
    UTC days rather than counting an hour twice."""
    text, zone, counted_in = case
    clock = FakeClock(NOW)
    costs = service(blocked(standin.url, http, redis, clock), clock)
    window = parse_window(text, NOW, tz=zone)
    trend = await costs.trend(window, EVERYONE)
    summary = await costs.summary(window, EVERYONE)
    assert trend.window.tz == summary.window.tz == counted_in
    start, end = summary.window.start, summary.window.end
    hours = (min(end, NOW) - start).total_seconds() / 3600
    expected = cluster.expected_total(start, end, None) + IDLE_PER_HOUR * hours
    assert summary.total == pytest.approx(expected)
    assert sum(point.cost for point in trend.points) == pytest.approx(expected)


async def test_a_comparison_says_the_period_its_previous_figures_cover(
    standin: OpenCostStandIn, http: httpx.AsyncClient, redis: Redis, cluster: SyntheticCluster
) -> None:
    """A window starting mid-hour is set against as long a stretch before it; from blocks both
    start on a whole hour, and the answer shows the previous period whose data it is."""
    clock = FakeClock(NOW)
    costs = service(blocked(standin.url, http, redis, clock), clock)
    compared = await costs.compare(parse_window("24h", NOW - timedelta(minutes=25)), EVERYONE)
    before = compared.previous_window
    assert before.start.minute == 0
    assert before.end == compared.window.start
    hours = (before.end - before.start).total_seconds() / 3600
    expected = cluster.expected_total(before.start, before.end, None) + IDLE_PER_HOUR * hours
    assert compared.previous_total == pytest.approx(expected)
