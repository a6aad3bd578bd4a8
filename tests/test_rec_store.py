"""RecommendationStore and RealizedSavings on a real redis-server: lifecycle, races, restarts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from redis.asyncio import Redis

from services.access.models import EVERYTHING, Scope
from services.errors import StoreUnavailable, UserInputError
from services.opencost.models import Allocation, AllocationData
from services.recommendations.lifecycle import TARGET
from services.recommendations.maths import rightsize
from services.recommendations.models import (
    MIB,
    ContainerSamples,
    Recommendation,
    RecSettings,
    WorkloadKey,
)
from services.recommendations.realized import RealizedSavings
from services.recommendations.store import RecommendationStore
from tests.conftest import FakeClock
from tests.redis_server import RedisServer

GIB = 1024 * MIB
T0 = datetime(2025, 3, 15, 9, 0, tzinfo=UTC)
KEY = WorkloadKey("prod", "payments", "deployment", "api", "app")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def store(redis: Redis, clock: FakeClock) -> RecommendationStore:
    return RecommendationStore(redis, clock, prefix="test:")


def rec(cpu_peak: float = 0.2, current_cpu: float = 1.0) -> Recommendation:
    """A right-sizing for KEY: 2 pods, $0.03/core-h, $0.004/GiB-h, recommended ≈ cpu_peak."""
    samples = ContainerSamples(
        key=KEY,
        days=4,
        cpu_peaks=(cpu_peak,) * 8,
        cpu_from_max=8,
        memory_peak=400 * MIB,
        memory_from_max=True,
        current_cpu=current_cpu,
        current_memory=2 * GIB,
        cpu_price=0.03,
        ram_price=0.004 / GIB,
        avg_pods=2.0,
    )
    outcome = rightsize(samples, RecSettings(history_days=4))  # the whole window: not widened
    assert isinstance(outcome, Recommendation)
    return outcome


# --- lifecycle ---------------------------------------------------------------------------------
async def test_unknown_recommendation_is_open_with_no_history(store: RecommendationStore) -> None:
    state = await store.get("abc123abc123")
    assert (state.id, state.status, state.history) == ("abc123abc123", "open", ())


async def test_acknowledge_records_who_when_and_which_version(store: RecommendationStore) -> None:
    result = await store.act("r1", "acknowledge", "U1", "v1")
    assert result.changed
    state = await store.get("r1")
    assert (state.status, state.by, state.at, state.version_acted) == (
        "acknowledged",
        "U1",
        T0,
        "v1",
    )
    [event] = state.history
    assert (event.by, event.action, event.at) == ("U1", "acknowledge", T0)
    assert "v1" in event.detail


async def test_double_click_changes_nothing_the_second_time(store: RecommendationStore) -> None:
    assert (await store.act("r1", "dismiss", "U1", "v1", reason="needed for DR")).changed
    again = await store.act("r1", "dismiss", "U1", "v1")
    assert not again.changed
    state = await store.get("r1")
    assert (state.status, state.reason, len(state.history)) == ("dismissed", "needed for DR", 1)


async def test_same_action_on_a_new_version_is_a_real_change(store: RecommendationStore) -> None:
    await store.act("r1", "acknowledge", "U1", "v1")
    assert (await store.act("r1", "acknowledge", "U2", "v2")).changed
    state = await store.get("r1")
    assert (state.version_acted, state.by, len(state.history)) == ("v2", "U2", 2)


async def test_snooze_expires_with_the_clock(store: RecommendationStore, clock: FakeClock) -> None:
    until = T0 + timedelta(days=7)
    await store.act("r1", "snooze", "U1", "v1", until=until)
    assert (await store.get("r1")).until == until
    clock.advance(days=6, hours=23)
    assert (await store.get("r1")).status == "snoozed"
    clock.advance(hours=2)
    assert (await store.get("r1")).status == "open"


async def test_expired_snooze_is_written_to_history_when_viewed(
    store: RecommendationStore, clock: FakeClock
) -> None:
    current = rec()
    await store.act(current.id, "snooze", "U1", current.version, until=T0 + timedelta(days=1))
    clock.advance(days=2)
    assert await store.visible_status(current) == "open"
    history = (await store.get(current.id)).history
    assert [event.action for event in history] == ["snooze", "snooze_expired"]
    assert (history[-1].by, history[-1].at) == ("costbot", T0 + timedelta(days=1))
    assert await store.get(current.id) == await store.get(current.id)


async def test_two_snooze_clicks_a_second_apart_are_one_snooze(
    store: RecommendationStore, clock: FakeClock
) -> None:
    await store.act("r1", "snooze", "U1", "v1", until=T0 + timedelta(days=7))
    clock.advance(seconds=1)
    second = await store.act("r1", "snooze", "U1", "v1", until=clock.now() + timedelta(days=7))
    assert not second.changed
    longer = await store.act("r1", "snooze", "U1", "v1", until=T0 + timedelta(days=30))
    assert longer.changed
    assert longer.state.until == T0 + timedelta(days=30)


async def test_snooze_into_the_past_is_refused(store: RecommendationStore) -> None:
    with pytest.raises(UserInputError):
        await store.act("r1", "snooze", "U1", "v1", until=T0 - timedelta(minutes=1))


async def test_reopen_by_hand_and_states_in_bulk(store: RecommendationStore) -> None:
    await store.act("r1", "dismiss", "U1", "v1", reason="no")
    await store.act("r2", "acknowledge", "U1", "v1")
    assert (await store.act("r1", "reopen", "U2", "v1")).changed
    assert not (await store.act("r1", "reopen", "U2", "v1")).changed
    states = await store.states(["r1", "r2", "r3"])
    assert {rec_id: state.status for rec_id, state in states.items()} == {
        "r1": "open",
        "r2": "acknowledged",
        "r3": "open",
    }


# --- races ---------------------------------------------------------------------------------------
async def test_twenty_identical_concurrent_clicks_change_state_once(
    store: RecommendationStore,
) -> None:
    results = await asyncio.gather(
        *(store.act("r1", "acknowledge", f"U{i}", "v1") for i in range(20))
    )
    assert sum(result.changed for result in results) == 1
    state = await store.get("r1")
    assert state.status == "acknowledged"
    assert len(state.history) == 1


async def test_twenty_conflicting_clicks_leave_one_consistent_story(
    store: RecommendationStore,
) -> None:
    actions: list[Any] = ["acknowledge", "dismiss"] * 10
    results = await asyncio.gather(
        *(store.act("r1", action, f"U{i}", "v1") for i, action in enumerate(actions))
    )
    state = await store.get("r1")
    assert sum(result.changed for result in results) == len(state.history)
    assert state.status == TARGET[state.history[-1].action]  # type: ignore[index]
    assert state.by == state.history[-1].by
    for before, after in zip(state.history, state.history[1:], strict=False):
        assert before.action != after.action  # every entry is a real change


# --- re-opening on material change ---------------------------------------------------------------
async def test_decision_reopens_when_the_recommendation_moves_more_than_20_percent(
    store: RecommendationStore,
) -> None:
    first = rec(cpu_peak=0.25)
    assert await store.visible_status(first) == "open"
    await store.act(first.id, "acknowledge", "U1", first.version)
    nudged = rec(cpu_peak=0.27)  # +8 %: a new version, not a material change
    assert nudged.version != first.version
    assert await store.visible_status(nudged) == "acknowledged"
    moved = rec(cpu_peak=0.35)  # +40 % against the acknowledged version
    assert await store.visible_status(moved) == "open"
    last = (await store.get(first.id)).history[-1]
    assert (last.action, last.by) == ("reopened", "costbot")
    assert "CPU moved +40%" in last.detail


async def test_decision_reopens_when_the_savings_band_changes(store: RecommendationStore) -> None:
    first = rec()
    await store.visible_status(first)
    await store.act(first.id, "dismiss", "U1", first.version, reason="later")
    richer = rec(current_cpu=6.0)  # same recommended values, savings ≥ $200
    assert await store.visible_status(richer) == "open"
    assert "savings band" in (await store.get(first.id)).history[-1].detail


async def test_without_a_snapshot_the_human_decision_stands(store: RecommendationStore) -> None:
    await store.act("x", "dismiss", "U1", "unknown-version")
    moved = msgspec.structs.replace(rec(cpu_peak=0.9), id="x")
    assert await store.visible_status(moved) == "dismissed"


# --- durability, isolation, failure ------------------------------------------------------------
async def test_state_survives_a_redis_crash_with_persistence_on(
    redis_server: RedisServer, redis_url: str, clock: FakeClock
) -> None:
    """The test server runs with appendonly + fsync always, as production Redis should."""
    client = Redis.from_url(redis_url)
    await RecommendationStore(client, clock).act("r1", "dismiss", "U1", "v1", reason="keep")
    await client.aclose()
    redis_server.kill()
    redis_server.start()
    client = Redis.from_url(redis_url)
    try:
        state = await RecommendationStore(client, clock).get("r1")
    finally:
        await client.aclose()
    assert (state.status, state.reason) == ("dismissed", "keep")


async def test_all_keys_live_under_the_prefix(store: RecommendationStore, redis: Redis) -> None:
    current = rec()
    await store.visible_status(current)
    await store.act(current.id, "acknowledge", "U1", current.version)
    await store.record_realized(current.id, 5.0, T0, version=current.version, namespace="payments")
    keys = [key.decode() if isinstance(key, bytes) else key for key in await redis.keys("*")]
    assert keys
    assert all(key.startswith("test:{recs}:") for key in keys)


async def test_unreachable_redis_is_a_store_error(clock: FakeClock) -> None:
    from tests.redis_server import free_port

    client = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with pytest.raises(StoreUnavailable):
            await RecommendationStore(client, clock).act("r1", "acknowledge", "U1", "v1")
    finally:
        await client.aclose()


# --- realized savings --------------------------------------------------------------------------
def later_rows(cpu_request: float, ram_request: float, days: range) -> AllocationData:
    steps = []
    for day in days:
        start = datetime(2025, 3, 1, tzinfo=UTC) + timedelta(days=day)
        shaped = {
            "name": "prod/n/payments/api-9/app",
            "properties": {
                "cluster": "prod",
                "namespace": "payments",
                "controllerKind": "deployment",
                "controller": "api",
                "pod": "api-9",
                "container": "app",
            },
            "window": {"start": start.isoformat(), "end": (start + timedelta(days=1)).isoformat()},
            "end": (start + timedelta(days=1)).isoformat(),
            "cpuCoreRequestAverage": cpu_request,
            "ramByteRequestAverage": ram_request,
        }
        steps.append([msgspec.convert(shaped, Allocation)])
    return AllocationData(steps=steps, fetched_at=0.0)


async def test_acknowledged_rightsizing_that_was_applied_is_measured_and_totalled(
    store: RecommendationStore, clock: FakeClock
) -> None:
    current = rec()  # 1 core → 200m, 2Gi → 460Mi
    await store.visible_status(current)
    await store.act(current.id, "acknowledge", "U1", current.version)
    realized = RealizedSavings(store, clock)
    clock.advance(days=3)
    [entry] = await realized.measure(later_rows(0.2, 460 * MIB, range(15, 17)), T0)
    assert entry.monthly_amount == pytest.approx(current.monthly_savings)
    assert (entry.namespace, entry.version, entry.first_at) == (
        "payments",
        current.version,
        clock.now(),
    )
    assert await realized.total_realized_since(T0) == pytest.approx(current.monthly_savings)
    assert await realized.total_realized_since(T0, Scope(frozenset({"search"}))) == 0.0
    assert await realized.total_realized_since(T0, EVERYTHING) == entry.monthly_amount


async def test_only_days_after_the_acknowledgement_count(
    store: RecommendationStore, clock: FakeClock
) -> None:
    current = rec()
    await store.visible_status(current)
    await store.act(current.id, "acknowledge", "U1", current.version)
    realized = RealizedSavings(store, clock)
    assert await realized.measure(later_rows(0.2, 460 * MIB, range(14, 15)), T0) == []


async def test_unchanged_requests_realize_nothing_and_a_revert_is_reported_honestly(
    store: RecommendationStore, clock: FakeClock
) -> None:
    current = rec()
    await store.visible_status(current)
    await store.act(current.id, "acknowledge", "U1", current.version)
    realized = RealizedSavings(store, clock)
    assert await realized.measure(later_rows(1.0, 2 * GIB, range(15, 17)), T0) == []
    clock.advance(days=2)
    [applied] = await realized.measure(later_rows(0.2, 2 * GIB, range(15, 17)), T0)
    first_at = applied.first_at
    clock.advance(days=2)
    [reverted] = await realized.measure(later_rows(1.0, 2 * GIB, range(17, 19)), T0)
    assert reverted.monthly_amount == 0.0
    assert reverted.first_at == first_at
    assert await store.total_realized_since(T0) == 0.0


async def test_dismissed_recommendations_are_not_tracked_for_realization(
    store: RecommendationStore,
) -> None:
    await store.act("r1", "acknowledge", "U1", "v1")
    await store.act("r2", "acknowledge", "U1", "v1")
    await store.act("r2", "dismiss", "U1", "v1")
    assert [state.id for state in await store.acknowledged_since(T0)] == ["r1"]
    assert await store.acknowledged_since(T0 + timedelta(seconds=1)) == []
