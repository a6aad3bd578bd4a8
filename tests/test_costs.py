"""CostService over an in-memory CostSource: hand-checked answers, RBAC scoping, provenance."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, date, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.access.models import EVERYTHING, Scope
from services.costs.service import CostService, Focus
from services.costs.windows import TimeRange
from services.errors import NotAllowed, NotFound, UserInputError
from services.opencost.models import IDLE, Allocation, AllocationData, AllocationQuery, AssetData
from tests.conftest import FakeClock
from tests.test_cost_maths import alloc, idle

MAY1, MAY8 = datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 8, tzinfo=UTC)
WEEK = TimeRange(MAY1, MAY8, "7d")  # 168 h, over by the time of asking
PREVIOUS_START = datetime(2024, 4, 24, tzinfo=UTC)
FETCHED = 1_714_521_600.0
HIDDEN = "topsecret"  # a namespace the partial requester may not see
TEAM = Scope(namespaces=frozenset({"payments", "search"}))
FULL_MONTH_H = 730.0


class FakeSource:
    """Answers by query start: one set for totals, the stored daily sets for step=1d."""

    def __init__(self, totals: dict[datetime, list[Allocation]], **provenance: Any) -> None:
        self.totals = totals
        self.daily: dict[datetime, list[list[Allocation]]] = {}
        self.provenance = provenance
        self.queries: list[AllocationQuery] = []

    async def allocations(self, query: AllocationQuery) -> AllocationData:
        self.queries.append(query)
        if query.step == "1d":
            steps = self.daily.get(query.start, [])
        else:
            steps = [self.totals.get(query.start, [])]
        return AllocationData(steps=steps, fetched_at=FETCHED, **self.provenance)

    async def assets(self, start: datetime, end: datetime) -> AssetData:
        return AssetData(assets=[], fetched_at=FETCHED)


def payments() -> list[Allocation]:
    """26.25 in all: deployment api 20.00 (2 pods), job batch 5.00, a bare pod 1.25."""
    api: dict[str, Any] = {
        "controller": "api",
        "kind": "deployment",
        "labels": {"team": "payments"},
    }
    return [
        alloc(
            "payments",
            "api-1",
            10.0,
            **api,
            minutes=10080,
            cpuCost=8.0,
            ramCost=2.0,
            cpuCoreRequestAverage=1,
            cpuCoreUsageAverage=0.25,
            ramByteRequestAverage=1e9,
            ramByteUsageAverage=5e8,
        ),
        alloc(
            "payments",
            "api-1",
            2.5,
            **api,
            container="sidecar",
            minutes=10080,
            cpuCost=1.5,
            ramCost=0.5,
            pvCost=0.5,
            cpuCoreRequestAverage=0.5,
            cpuCoreUsageAverage=0.5,
            ramByteRequestAverage=1e8,
            ramByteUsageAverage=1e8,
        ),
        alloc(
            "payments",
            "api-2",
            7.5,
            **api,
            minutes=5040,
            cpuCost=6.0,
            ramCost=1.5,
            cpuCoreRequestAverage=1,
            cpuCoreUsageAverage=0.5,
            ramByteRequestAverage=1e9,
            ramByteUsageAverage=2.5e8,
        ),
        alloc(
            "payments",
            "batch-x",
            5.0,
            controller="batch",
            kind="job",
            minutes=600,
            cpuCost=4.0,
            networkCost=1.0,
            cpuCoreRequestAverage=2,
            cpuCoreUsageAverage=2,
        ),
        alloc(
            "payments",
            "debug",
            1.25,
            container="shell",
            minutes=60,
            cpuCost=1.0,
            ramCost=0.25,
            cpuCoreUsageAverage=0.1,
        ),
    ]


def this_week(with_hidden: bool = True) -> list[Allocation]:
    """payments 26.25 + search 40.00 (+ topsecret 13.37 on its own cluster) + idle 20.00."""
    search = alloc(
        "search",
        "es-0",
        40.0,
        controller="es",
        kind="statefulset",
        labels={"team": "search", "app_kubernetes_io_name": "es"},
    )
    secret = alloc(
        HIDDEN,
        "vault-0",
        13.37,
        controller="vault",
        kind="deployment",
        cluster="shadow",
        node="node-secret",
        labels={"team": "search"},
    )
    return [*payments(), search, *([secret] if with_hidden else []), idle(20.0)]


def last_week() -> list[Allocation]:
    """search 50.00, payments 18.00 (api 15.00 + legacy 3.00), topsecret 9.99, no idle."""
    return [
        alloc("search", "es-0", 50.0, controller="es", kind="statefulset"),
        alloc("payments", "api-1", 15.0, controller="api", kind="deployment"),
        alloc("payments", "old-0", 3.0, controller="legacy", kind="deployment"),
        alloc(HIDDEN, "vault-0", 9.99, controller="vault", kind="deployment", cluster="shadow"),
    ]


def service(source: FakeSource, now: datetime = MAY8) -> CostService:
    return CostService(source, FakeClock(now))


def world(with_hidden: bool = True) -> CostService:
    totals = {MAY1: this_week(with_hidden), PREVIOUS_START: last_week()}
    return service(FakeSource(totals))


def leaks(result: object) -> list[str]:
    """Any trace of the hidden namespace, its workload, node, cluster or cost in the JSON."""
    text = msgspec.json.encode(result).decode()
    return [s for s in (HIDDEN, "vault", "node-secret", "shadow", "13.37", IDLE) if s in text]


def cents(value: float | None) -> float:
    assert value is not None
    return round(value, 2)


# --- summary ----------------------------------------------------------------------------------
async def test_cluster_wide_summary_adds_up_by_hand() -> None:
    summary = await world().summary(WEEK, EVERYTHING, top=2)
    assert cents(summary.total) == 99.62
    assert [(s.name, s.cost) for s in summary.top_namespaces] == [
        ("search", 40.0),
        ("payments", 26.25),
    ]
    assert summary.top_namespaces[0].share == pytest.approx(40.0 / 99.62)
    assert summary.namespace_count == 3
    assert summary.idle_cost == 20.0
    assert summary.idle_share == pytest.approx(20.0 / 99.62)
    assert cents(summary.run_rate_monthly) == 432.87  # 99.62 ÷ 168 h × 730
    assert summary.clusters == ["prod", "shadow"]
    assert summary.hours == 168.0
    assert summary.provenance.partial_scope is False


async def test_partial_summary_counts_only_visible_rows_and_no_idle() -> None:
    summary = await world().summary(WEEK, TEAM)
    assert summary.total == 66.25
    assert summary.namespace_count == 2
    assert summary.idle_cost is None
    assert summary.idle_share is None
    assert cents(summary.run_rate_monthly) == 287.87  # 66.25 ÷ 168 × 730
    assert summary.clusters == ["prod"]
    assert summary.provenance.partial_scope is True
    assert leaks(summary) == []


async def test_run_rate_divides_by_the_elapsed_part_of_a_running_window() -> None:
    running = service(FakeSource({MAY1: payments()}), now=datetime(2024, 5, 2, 12, tzinfo=UTC))
    summary = await running.summary(WEEK, TEAM)
    assert summary.hours == 36.0
    assert summary.run_rate_monthly == pytest.approx(26.25 / 36 * FULL_MONTH_H)


async def test_summary_efficiency_is_cost_weighted() -> None:
    summary = await world().summary(WEEK, TEAM)
    # payments as in the namespace test; search rows carry no CPU/RAM cost, so add nothing.
    assert summary.efficiency == pytest.approx(_payments_efficiency())


async def test_summary_of_nothing_visible_is_zero_not_an_error() -> None:
    summary = await world().summary(WEEK, Scope(namespaces=frozenset({"nobody"})))
    assert summary.total == 0.0
    assert summary.top_namespaces == []
    assert summary.efficiency is None


async def test_provenance_is_passed_through() -> None:
    source = FakeSource({MAY1: payments()}, demo=True, stale=True, failed_clusters=["staging"])
    summary = await service(source).summary(WEEK, TEAM)
    assert summary.provenance.demo is True
    assert summary.provenance.stale is True
    assert summary.provenance.failed_clusters == ["staging"]
    assert summary.provenance.fetched_at == FETCHED


async def test_source_is_asked_for_namespace_rows_with_idle_and_no_filter() -> None:
    """A summary needs no more than namespace-keyed rows (still scoped here, row by row)."""
    source = FakeSource({MAY1: this_week()})
    await service(source).summary(WEEK, TEAM)
    assert source.queries == [
        AllocationQuery(start=MAY1, end=MAY8, step="", aggregate="namespace", include_idle=True)
    ]


async def test_labels_ask_for_container_rows_and_controllers_for_controller_rows() -> None:
    source = FakeSource({MAY1: this_week()})
    await service(source).top(WEEK, TEAM, "label", label_key="team")
    await service(source).top(WEEK, TEAM, "controller")
    assert [q.aggregate for q in source.queries] == ["", "namespace,controllerKind,controller"]


async def test_a_scope_that_sees_nothing_asks_the_source_nothing() -> None:
    source = FakeSource({MAY1: this_week()})
    nobody = Scope(namespaces=frozenset())
    summary = await service(source).summary(WEEK, nobody)
    with pytest.raises(NotFound):  # a namespace outside the scope: not asked either
        await service(source).namespace("billing", WEEK, TEAM)
    assert summary.total == 0.0
    assert source.queries == []


# --- namespace --------------------------------------------------------------------------------
def _payments_efficiency() -> float:
    """cpu: used 0.25·168 + 0.5·168 + 0.5·84 + 2·10 + 0.1·1 = 188.1 core-h of 336 + 20 requested;
    ram: 1.218e11 of 2.688e11 byte-h; costs cpu 20.5, ram 4.25."""
    cpu_eff, ram_eff = 188.1 / 356.0, 1.218e11 / 2.688e11
    return (cpu_eff * 20.5 + ram_eff * 4.25) / (20.5 + 4.25)


async def test_namespace_breakdown_by_workload_and_resource() -> None:
    ns = await world().namespace("payments", WEEK, TEAM)
    assert ns.total == 26.25
    assert [(w.name, w.kind, w.cost, w.pods) for w in ns.workloads] == [
        ("deployment:api", "deployment", 20.0, 2),
        ("job:batch", "job", 5.0, 1),
        ("__unallocated__", "", 1.25, 1),
    ]
    api, batch, bare = ns.workloads
    assert api.efficiency == pytest.approx((0.5 * 15.5 + 0.453125 * 4.0) / 19.5)
    assert batch.efficiency == 1.0
    assert bare.efficiency == pytest.approx(0.8)  # cpu without request counts as 1, ram as 0
    assert ns.resources == {
        "cpu": 20.5,
        "gpu": 0.0,
        "ram": 4.25,
        "pv": 0.5,
        "network": 1.0,
        "load_balancer": 0.0,
        "shared": 0.0,
    }
    assert math.fsum(ns.resources.values()) == ns.total
    assert ns.efficiency == pytest.approx(_payments_efficiency())
    assert ns.run_rate_monthly == 114.0625
    assert ns.pods == 4


async def test_hidden_namespace_reads_exactly_like_a_missing_one() -> None:
    with pytest.raises(NotFound) as hidden:
        await world(with_hidden=True).namespace(HIDDEN, WEEK, TEAM)
    with pytest.raises(NotFound) as absent:
        await world(with_hidden=False).namespace(HIDDEN, WEEK, TEAM)
    assert type(hidden.value) is type(absent.value)
    assert str(hidden.value) == str(absent.value)


async def test_idle_is_not_a_namespace() -> None:
    with pytest.raises(NotFound):
        await world().namespace(IDLE, WEEK, EVERYTHING)


# --- top --------------------------------------------------------------------------------------
async def test_top_namespaces_reconcile_with_the_rest() -> None:
    top = await world().top(WEEK, EVERYTHING, "namespace", k=2)
    assert [(i.name, i.cost) for i in top.items] == [("search", 40.0), ("payments", 26.25)]
    assert cents(top.total) == 99.62
    assert top.shown_total == 66.25
    assert top.rest_count == 2  # topsecret and idle
    assert cents(top.rest_cost) == 33.37


async def test_top_controllers_carry_their_namespace() -> None:
    top = await world().top(WEEK, TEAM, "controller")
    assert [(i.name, i.namespace, i.cost) for i in top.items] == [
        ("statefulset:es", "search", 40.0),
        ("deployment:api", "payments", 20.0),
        ("job:batch", "payments", 5.0),
        ("__unallocated__", "payments", 1.25),
    ]
    assert top.rest_count == 0
    assert top.shown_total == top.total == 66.25


async def test_top_pods_sum_their_containers() -> None:
    top = await world().top(WEEK, TEAM, "pod", k=2)
    assert [(i.name, i.namespace, i.cost) for i in top.items] == [
        ("es-0", "search", 40.0),
        ("api-1", "payments", 12.5),
    ]
    assert top.rest_count == 3


@pytest.mark.parametrize(
    ("dimension", "label_key", "expected"),
    [
        ("label:team", None, [("search", 40.0), ("payments", 20.0), ("__unallocated__", 6.25)]),
        ("label", "app.kubernetes.io/name", [("es", 40.0), ("__unallocated__", 26.25)]),
        ("cluster", None, [("prod", 66.25)]),
    ],
)
async def test_top_by_label_cluster_and_node(
    dimension: str, label_key: str | None, expected: list[tuple[str, float]]
) -> None:
    top = await world().top(WEEK, TEAM, dimension, label_key=label_key)
    assert [(i.name, i.cost) for i in top.items] == expected
    assert leaks(top) == []


async def test_top_by_node_is_for_cluster_wide_identities_only() -> None:
    """A node's name and spend are about every pod on it: namespace-scoped askers are refused."""
    with pytest.raises(NotAllowed, match="cluster-wide"):
        await world().top(WEEK, TEAM, "node")
    top = await world().top(WEEK, EVERYTHING, "node")
    assert top.items[0].name == "node-a"


async def test_cluster_wide_top_by_cluster_includes_idle_in_its_cluster() -> None:
    top = await world().top(WEEK, EVERYTHING, "cluster")
    assert [(i.name, cents(i.cost)) for i in top.items] == [("prod", 86.25), ("shadow", 13.37)]


async def test_unknown_dimension_is_a_user_error() -> None:
    with pytest.raises(UserInputError):
        await world().top(WEEK, TEAM, "flavour")


# --- label ------------------------------------------------------------------------------------
async def test_label_breakdown_sees_only_visible_namespaces() -> None:
    everyone = await world().label("team", "search", WEEK, EVERYTHING)
    assert cents(everyone.total) == 53.37
    assert [s.name for s in everyone.by_namespace] == ["search", HIDDEN]
    mine = await world().label("team", "search", WEEK, TEAM)
    assert mine.total == 40.0
    assert [(c.name, c.namespace) for c in mine.by_controller] == [("statefulset:es", "search")]
    assert leaks(mine) == []


async def test_label_key_matches_its_sanitised_form() -> None:
    found = await world().label("app.kubernetes.io/name", "es", WEEK, TEAM)
    assert found.total == 40.0
    assert found.resources["cpu"] == 0.0


async def test_label_only_on_hidden_rows_reads_like_no_label() -> None:
    with pytest.raises(NotFound) as hidden:
        await world(with_hidden=True).label("controller", "vault", WEEK, TEAM)
    with pytest.raises(NotFound) as absent:
        await world(with_hidden=False).label("controller", "vault", WEEK, TEAM)
    assert str(hidden.value) == str(absent.value)


# --- compare ----------------------------------------------------------------------------------
async def test_compare_namespaces_with_the_previous_week() -> None:
    cmp = await world().compare(WEEK, TEAM)
    assert cmp.dimension == "namespace"
    assert (cmp.total, cmp.previous_total) == (66.25, 68.0)
    assert cmp.delta == -1.75
    assert cmp.delta_pct == pytest.approx(-1.75 / 68 * 100)
    assert [(m.name, m.before, m.after) for m in cmp.up] == [("payments", 18.0, 26.25)]
    assert [(m.name, m.delta) for m in cmp.down] == [("search", -10.0)]
    assert (cmp.new, cmp.gone) == ([], [])
    assert cmp.previous_window == TimeRange(PREVIOUS_START, MAY1, "previous 7d")
    assert leaks(cmp) == []


async def test_compare_inside_a_namespace_moves_controllers() -> None:
    cmp = await world().compare(WEEK, TEAM, Focus(namespace="payments"))
    assert cmp.dimension == "controller"
    assert (cmp.total, cmp.previous_total, cmp.delta) == (26.25, 18.0, 8.25)
    assert cmp.delta_pct == pytest.approx(45.8333333)
    assert [m.name for m in cmp.up] == ["deployment:api"]
    assert cmp.up[0].delta_pct == pytest.approx(100 / 3)
    assert [(m.name, m.after, m.delta_pct) for m in cmp.new] == [
        ("job:batch", 5.0, None),
        ("__unallocated__", 1.25, None),
    ]
    assert [(m.name, m.before) for m in cmp.gone] == [("deployment:legacy", 3.0)]


async def test_compare_from_nothing_has_no_percentage() -> None:
    cmp = await service(FakeSource({MAY1: payments()})).compare(WEEK, TEAM)
    assert cmp.previous_total == 0.0
    assert cmp.delta_pct is None
    assert [m.name for m in cmp.new] == ["payments"]


async def test_compare_focus_on_hidden_namespace_reads_like_missing() -> None:
    with pytest.raises(NotFound) as hidden:
        await world(with_hidden=True).compare(WEEK, TEAM, Focus(namespace=HIDDEN))
    totals = {MAY1: this_week(with_hidden=False)}
    with pytest.raises(NotFound) as absent:
        await service(FakeSource(totals)).compare(WEEK, TEAM, Focus(namespace=HIDDEN))
    assert str(hidden.value) == str(absent.value)


async def test_compare_asks_both_windows_at_once() -> None:
    barrier = asyncio.Barrier(2)

    class MeetingSource(FakeSource):
        async def allocations(self, query: AllocationQuery) -> AllocationData:
            await asyncio.wait_for(barrier.wait(), timeout=2)  # fails if asked one by one
            return await super().allocations(query)

    cmp = await service(MeetingSource({MAY1: payments()})).compare(WEEK, TEAM)
    assert cmp.total == 26.25


async def test_running_window_is_compared_with_the_same_elapsed_stretch() -> None:
    source = FakeSource({MAY1: payments()})
    now = datetime(2024, 5, 4, 12, 0, 30, tzinfo=UTC)
    cmp = await service(source, now=now).compare(WEEK, TEAM)
    previous = next(q for q in source.queries if q.start == PREVIOUS_START)
    assert previous.end == datetime(2024, 4, 27, 12, tzinfo=UTC)
    assert cmp.previous_window.end == previous.end


# --- trend ------------------------------------------------------------------------------------
def trend_source() -> FakeSource:
    """May 1: payments 10, search 5, topsecret 7. May 2: an empty set. May 3: payments 4, idle 3."""
    may1, may3 = "2024-05-01T00:00:00Z", "2024-05-03T00:00:00Z"
    source = FakeSource({})
    source.daily[MAY1] = [
        [
            alloc("payments", "a", 10.0, window_start=may1),
            alloc("search", "b", 5.0, window_start=may1),
            alloc(HIDDEN, "vault-0", 7.0, window_start=may1),
        ],
        [],
        [alloc("payments", "a", 4.0, window_start=may3), alloc(IDLE, cost=3.0, window_start=may3)],
    ]
    return source


def trend_world(now: datetime) -> CostService:
    return service(trend_source(), now=now)


NOON_MAY3 = datetime(2024, 5, 3, 12, tzinfo=UTC)
THREE_DAYS = TimeRange(MAY1, NOON_MAY3, "3d")


async def test_trend_has_one_point_per_utc_day_including_empty_ones() -> None:
    trend = await trend_world(NOON_MAY3).trend(THREE_DAYS, TEAM)
    assert [(p.day, p.cost, p.partial) for p in trend.points] == [
        (date(2024, 5, 1), 15.0, False),
        (date(2024, 5, 2), 0.0, False),
        (date(2024, 5, 3), 4.0, True),
    ]
    assert trend.total == 19.0
    assert trend.average_per_day == pytest.approx(19.0 / 60 * 24)
    assert trend.max_day is not None
    assert (trend.max_day.day, trend.max_day.cost) == (date(2024, 5, 1), 15.0)
    assert trend.min_day is not None
    assert trend.min_day.day == date(2024, 5, 2)  # the partial day is not a "minimum"
    assert leaks(trend) == []


async def test_a_partial_day_is_never_the_cheapest_day() -> None:
    source = FakeSource({})
    source.daily[MAY1] = [[alloc("payments", "a", 10.0)], [alloc("payments", "a", 1.0)]]
    now = datetime(2024, 5, 2, 6, tzinfo=UTC)
    trend = await service(source, now=now).trend(TimeRange(MAY1, now, "30h"), TEAM)
    assert [(p.cost, p.partial) for p in trend.points] == [(10.0, False), (1.0, True)]
    assert trend.min_day is not None
    assert trend.min_day.day == date(2024, 5, 1)


async def test_trend_asks_for_daily_sets() -> None:
    source = trend_source()
    await service(source, now=NOON_MAY3).trend(THREE_DAYS, EVERYTHING)
    expected = [("1d", "namespace", True)]
    assert [(q.step, q.aggregate, q.include_idle) for q in source.queries] == expected


async def test_cluster_wide_trend_includes_idle_and_all_namespaces() -> None:
    trend = await trend_world(NOON_MAY3).trend(THREE_DAYS, EVERYTHING)
    assert [p.cost for p in trend.points] == [22.0, 0.0, 7.0]


async def test_trend_focused_on_a_namespace() -> None:
    trend = await trend_world(NOON_MAY3).trend(THREE_DAYS, TEAM, Focus(namespace="payments"))
    assert [p.cost for p in trend.points] == [10.0, 0.0, 4.0]
    with pytest.raises(NotFound):
        await trend_world(NOON_MAY3).trend(THREE_DAYS, TEAM, Focus(namespace=HIDDEN))


# --- scope computation ------------------------------------------------------------------------
async def test_visible_namespaces_lists_real_namespaces_per_cluster() -> None:
    found = await world().visible_namespaces(WEEK)
    assert found == {"prod": {"payments", "search"}, "shadow": {HIDDEN}}


# --- properties -------------------------------------------------------------------------------
NAMESPACES = ("ns-alpha", "ns-bravo", "ns-charlie", "ns-delta")
money = st.one_of(st.none(), st.floats(min_value=0, max_value=1e5, allow_nan=False))


@st.composite
def rows_and_scope(draw: st.DrawFn) -> tuple[list[Allocation], Scope]:
    count = draw(st.integers(min_value=0, max_value=30))
    rows = []
    for _ in range(count):
        namespace = draw(st.sampled_from((*NAMESPACES, IDLE)))
        parts: dict[str, Any] = {
            k: draw(money) for k in ("cpuCost", "ramCost", "pvCost", "networkCost")
        }
        consistent = math.fsum(v or 0.0 for v in parts.values())
        cost = draw(st.one_of(st.just(consistent), money))
        rows.append(
            alloc(
                namespace,
                draw(st.sampled_from(("p1", "p2", "p3"))),
                cost,
                controller=draw(st.sampled_from(("", "api", "web"))),
                kind="deployment",
                node=draw(st.sampled_from(("n1", "n2"))),
                labels={"team": draw(st.sampled_from(("x", "y")))},
                **parts,
            )
        )
    seen = draw(st.one_of(st.none(), st.frozensets(st.sampled_from(NAMESPACES))))
    return rows, Scope(namespaces=seen, cluster_wide=seen is None and draw(st.booleans()))


def expected_total(rows: list[Allocation], scope: Scope) -> float:
    def seen(row: Allocation) -> bool:
        if row.is_idle:
            return scope.cluster_wide
        return scope.namespaces is None or row.namespace in scope.namespaces

    return math.fsum(row.total_cost or 0.0 for row in rows if seen(row))


@settings(max_examples=150, deadline=None)
@given(rows_and_scope())
def test_every_answer_reconciles_to_the_visible_rows(case: tuple[list[Allocation], Scope]) -> None:
    rows, scope = case
    svc = service(FakeSource({MAY1: rows}))
    expected = expected_total(rows, scope)
    summary = asyncio.run(svc.summary(WEEK, scope))
    assert abs(summary.total - expected) < 0.005
    dimensions = ["namespace", "controller", "pod", "label:team", "cluster"]
    for dimension in [*dimensions, "node"] if scope.cluster_wide else dimensions:
        top = asyncio.run(svc.top(WEEK, scope, dimension, k=2))
        assert abs(top.total - expected) < 0.005
        assert abs(top.shown_total + top.rest_cost - top.total) < 0.005
        hidden = set(NAMESPACES) - (scope.namespaces or set(NAMESPACES))
        assert not [ns for ns in hidden if ns in msgspec.json.encode(top).decode()]


@settings(max_examples=100, deadline=None)
@given(rows_and_scope())
def test_resources_add_up_to_the_total_when_opencost_is_consistent(
    case: tuple[list[Allocation], Scope],
) -> None:
    rows, scope = case
    consistent = [r for r in rows if r.cost() == math.fsum(r.resource_costs().values())]
    svc = service(FakeSource({MAY1: consistent}))
    for namespace in scope.namespaces or NAMESPACES:
        try:
            ns = asyncio.run(svc.namespace(namespace, WEEK, scope))
        except NotFound:
            continue
        assert abs(math.fsum(ns.resources.values()) - ns.total) < 0.005
        assert abs(math.fsum(w.cost for w in ns.workloads) - ns.total) < 0.005
