"""OptimizationService over an in-memory CostSource serving OpenCost-shaped daily container rows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from services.access.models import EVERYTHING, Scope
from services.errors import OpenCostUnavailable
from services.opencost.models import Allocation, AllocationData, AllocationQuery, Asset, AssetData
from services.recommendations.engine import OptimizationService
from services.recommendations.maths import rec_id
from services.recommendations.models import (
    MIB,
    HpaTarget,
    Recommendation,
    RecommendationSet,
    RecSettings,
    StaticHpaSource,
    WorkloadKey,
)
from tests.conftest import FakeClock

GIB = 1024 * MIB
NOW = datetime(2025, 3, 15, 10, 30, tzinfo=UTC)
START = datetime(2025, 3, 1, tzinfo=UTC)  # 14 full days before today 00:00 UTC
PAYMENTS = Scope(namespaces=frozenset({"payments"}))


class FakeCostSource:
    """Answers like OpenCost with step=1d: one set per day of the asked window."""

    def __init__(
        self,
        rows: Iterable[dict[str, Any]],
        assets: Iterable[dict[str, Any]] = (),
        *,
        demo: bool = False,
        stale: bool = False,
        assets_error: Exception | None = None,
    ) -> None:
        self.rows = [msgspec.convert(row, Allocation) for row in rows]
        self.asset_list = [msgspec.convert(asset, Asset) for asset in assets]
        self.demo, self.stale, self.assets_error = demo, stale, assets_error
        self.queries: list[AllocationQuery] = []
        self.fetched_at = 1741996800.0  # when "OpenCost" answered: a new answer, a new time
        self.asset_windows: list[tuple[datetime, datetime]] = []

    async def allocations(self, query: AllocationQuery) -> AllocationData:
        self.queries.append(query)
        steps: list[list[Allocation]] = [[] for _ in range((query.end - query.start).days)]
        for row in self.rows:
            index = (_parse(row.window.start) - query.start).days
            if 0 <= index < len(steps):
                steps[index].append(row)
        return AllocationData(
            steps=steps, fetched_at=self.fetched_at, demo=self.demo, stale=self.stale
        )

    async def assets(self, start: datetime, end: datetime) -> AssetData:
        self.asset_windows.append((start, end))
        if self.assets_error is not None:
            raise self.assets_error
        return AssetData(assets=self.asset_list, fetched_at=self.fetched_at)


def _parse(text: str | None) -> datetime:
    assert text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def row(
    day: int,
    *,
    namespace: str = "payments",
    kind: str = "deployment",
    controller: str = "api",
    pod: str = "api-1",
    container: str = "app",
    cpu_max: float | None = 0.2,
    cpu_avg: float = 0.1,
    ram_max: float = 400 * MIB,
    cpu_request: float = 1.0,
    ram_request: float = 2 * GIB,
    hours: float = 24.0,
    network_bytes: float | None = 5e9,
) -> dict[str, Any]:
    """One OpenCost container row for day `day` of the window, priced $0.03/core-h, $0.004/GiB-h."""
    day_start = START + timedelta(days=day)
    cpu_hours, ram_hours = cpu_request * hours, ram_request * hours
    cpu_cost, ram_cost = cpu_hours * 0.03, ram_hours * 0.004 / GIB
    shaped: dict[str, Any] = {
        "name": f"prod/node-1/{namespace}/{pod}/{container}",
        "properties": {
            "cluster": "prod",
            "node": "node-1",
            "namespace": namespace,
            "controllerKind": kind,
            "controller": controller,
            "pod": pod,
            "container": container,
        },
        "window": {"start": _iso(day_start), "end": _iso(day_start + timedelta(days=1))},
        "start": _iso(day_start + timedelta(hours=24 - hours)),
        "end": _iso(day_start + timedelta(days=1)),
        "minutes": hours * 60,
        "cpuCores": cpu_request,
        "cpuCoreRequestAverage": cpu_request,
        "cpuCoreUsageAverage": cpu_avg,
        "cpuCoreHours": cpu_hours,
        "cpuCost": cpu_cost,
        "cpuCostAdjustment": 0,
        "ramBytes": ram_request,
        "ramByteRequestAverage": ram_request,
        "ramByteUsageAverage": ram_max / 2,
        "ramByteHours": ram_hours,
        "ramCost": ram_cost,
        "networkTransferBytes": None if network_bytes is None else network_bytes / 2,
        "networkReceiveBytes": None if network_bytes is None else network_bytes / 2,
        "totalCost": cpu_cost + ram_cost,
    }
    if cpu_max is not None:
        shaped["rawAllocationOnly"] = {"cpuCoreUsageMax": cpu_max, "ramByteUsageMax": ram_max}
    return shaped


def api_rows() -> list[dict[str, Any]]:
    """The worked example: 2 pods × 4 days, one daily peak of 300m, memory peak 400Mi."""
    rows = [row(day, pod=pod) for day in range(10, 14) for pod in ("api-1", "api-2")]
    rows[-1] = row(13, pod="api-2", cpu_max=0.3)
    return rows


def idle_row(cost: float) -> dict[str, Any]:
    return {
        "name": "__idle__",
        "properties": {"cluster": "prod"},
        "window": {"start": _iso(START), "end": _iso(START + timedelta(days=1))},
        "totalCost": cost,
    }


# These histories cover 4 of 14 days: the exact-figure tests size without the confidence
# widening (tested on its own below), so their numbers are the documented rule's.
EXACT = RecSettings(confidence_exponent=0.0)


async def generate(
    source: FakeCostSource,
    scope: Scope = PAYMENTS,
    hpas: list[HpaTarget] | None = None,
    settings: RecSettings = EXACT,
    profile: str | None = None,
) -> RecommendationSet:
    service = OptimizationService(source, StaticHpaSource(hpas), FakeClock(NOW), settings)
    return await service.generate(scope, profile)


def only(result: RecommendationSet, rule: str) -> Recommendation:
    [rec] = [rec for rec in result.recommendations if rec.rule == rule]
    return rec


async def test_asks_opencost_for_fourteen_full_days_at_container_level() -> None:
    source = FakeCostSource(api_rows())
    result = await generate(source)
    [query] = source.queries
    assert (query.start, query.end) == (START, datetime(2025, 3, 15, tzinfo=UTC))
    assert (query.step, query.aggregate, query.include_idle) == ("1d", "", True)
    assert query.window_param() == "2025-03-01T00:00:00Z,2025-03-15T00:00:00Z"
    assert (result.start, result.end) == (query.start, query.end)


async def test_pods_are_pooled_into_one_rightsizing_with_exact_savings() -> None:
    rec = only(await generate(FakeCostSource(api_rows())), "rightsize")
    assert rec.key == WorkloadKey("prod", "payments", "deployment", "api", "app")
    assert (rec.recommended_cpu, rec.recommended_memory) == (0.265, 460 * MIB)
    assert (rec.current_cpu, rec.current_memory) == (1.0, 2 * GIB)
    assert rec.evidence.avg_pods == 2.0
    assert rec.evidence.data_points == 8
    assert rec.evidence.history_days == 4
    assert rec.evidence.cpu_unit_price == pytest.approx(0.03)
    assert rec.evidence.ram_unit_price == pytest.approx(0.004 / GIB)
    assert round(rec.monthly_savings, 2) == 41.25
    assert rec.id == rec_id(rec.key, "rightsize")


async def test_current_request_comes_from_pods_running_at_the_end_of_the_latest_day() -> None:
    rows = [*api_rows()[:-2], row(13, pod="api-1", cpu_request=2.0, hours=12.0)]
    rows[-1]["end"] = _iso(START + timedelta(days=13, hours=12))  # replaced at noon
    rows.append(row(13, pod="api-3", cpu_request=0.5, hours=12.0))
    rec = only(await generate(FakeCostSource(rows)), "rightsize")
    assert rec.current_cpu == 0.5


async def test_hpa_on_the_workload_makes_the_cpu_request_hpa_aware() -> None:
    hpa = HpaTarget("payments", "Deployment", "api", target_cpu_utilization=80)
    rec = only(await generate(FakeCostSource(api_rows()), hpas=[hpa]), "rightsize")
    assert rec.recommended_cpu == 0.332
    assert rec.evidence.hpa
    assert rec.evidence.hpa_target_utilization == 80


async def test_daily_average_stands_in_when_opencost_dropped_the_maxima() -> None:
    rows = [row(day, cpu_max=None, cpu_avg=0.4) for day in range(10, 14)]
    rec = only(await generate(FakeCostSource(rows)), "rightsize")
    assert rec.recommended_cpu == 0.4
    assert (rec.evidence.cpu_source, rec.evidence.memory_source) == ("average", "average")
    assert rec.recommended_memory == 230 * MIB  # average working set 200Mi × 1.15


async def test_namespaced_viewer_sees_only_their_namespaces_and_no_cluster_rules() -> None:
    rows = [*api_rows(), *(row(day, namespace="search", pod=f"s-{day}") for day in range(14))]
    rows.append(idle_row(100.0))
    source = FakeCostSource(rows, [{"type": "Disk", "properties": {"cluster": "prod"}}])
    result = await generate(source)
    assert {rec.namespace for rec in result.recommendations} == {"payments"}
    assert source.asset_windows == []
    assert not any(rec.cluster_wide for rec in result.recommendations)


async def test_cluster_wide_viewer_gets_unclaimed_volumes_and_idle_capacity() -> None:
    disk = {
        "type": "Disk",
        "properties": {"cluster": "prod", "name": "pvc-old"},
        "minutes": 14 * 24 * 60,
        "totalCost": 14.0,
        "storageClass": "gp3",
        "volumeName": "pvc-old",
        "claimName": "",
    }
    source = FakeCostSource([*api_rows(), idle_row(80.0)], [disk])
    result = await generate(source, EVERYTHING)
    assert source.asset_windows == [(START, datetime(2025, 3, 15, tzinfo=UTC))]
    volume = only(result, "unclaimed_volume")
    assert volume.controller == "pvc-old"
    assert volume.cluster_wide
    assert volume.namespace == ""
    assert volume.monthly_savings == pytest.approx(14.0 / (14 * 24) * 730)
    capacity = only(result, "idle_capacity")
    assert capacity.evidence.idle_share is not None
    assert 0 < capacity.evidence.idle_share < 1
    assert capacity.cluster_wide


async def test_short_history_is_reported_as_skipped_not_recommended() -> None:
    rows = [
        *api_rows(),
        row(12, controller="new", pod="new-1"),
        row(13, controller="new", pod="new-1"),
    ]
    result = await generate(FakeCostSource(rows))
    [skipped] = result.skipped
    assert skipped.key.controller == "new"
    assert skipped.history_days == 2
    assert "not enough data" in skipped.reason
    assert all(rec.controller != "new" for rec in result.recommendations)


async def test_idle_workload_replaces_its_rightsizing() -> None:
    rows = [
        row(
            day,
            controller="legacy",
            pod="legacy-1",
            cpu_max=0.0005,
            cpu_avg=0.0002,
            network_bytes=1000.0,
        )
        for day in range(14)
    ]
    result = await generate(FakeCostSource([*rows, *api_rows()]))
    idle = only(result, "idle_workload")
    assert idle.controller == "legacy"
    assert idle.container == ""
    day_cost = 24 * 0.03 + 2 * 24 * 0.004
    assert idle.monthly_savings == pytest.approx(day_cost / 24 * 730)
    assert [rec.controller for rec in result.recommendations if rec.rule == "rightsize"] == ["api"]


async def test_workload_without_network_data_is_never_called_idle() -> None:
    rows = [
        row(day, controller="quiet", pod="q-1", cpu_avg=0.0, cpu_max=0.0, network_bytes=None)
        for day in range(14)
    ]
    result = await generate(FakeCostSource(rows))
    assert all(rec.rule != "idle_workload" for rec in result.recommendations)


async def test_savings_below_a_dollar_are_not_shown_but_risks_are() -> None:
    tiny = [
        row(
            day, controller="tiny", pod="t-1", cpu_request=0.27, ram_request=460 * MIB, cpu_max=0.26
        )
        for day in range(10, 14)
    ]
    starved = [
        row(day, controller="hot", pod="h-1", cpu_request=0.1, cpu_max=0.9) for day in range(10, 14)
    ]
    result = await generate(FakeCostSource([*tiny, *starved]))
    controllers = {rec.controller: rec for rec in result.recommendations}
    assert "tiny" not in controllers
    assert controllers["hot"].risk
    assert controllers["hot"].monthly_savings == 0.0


async def test_jobs_bare_pods_and_idle_rows_are_not_rightsized() -> None:
    rows = [
        *(row(day, kind="job", controller="backup-123", pod=f"b-{day}") for day in range(14)),
        *(row(day, kind="", controller="", pod="debug") for day in range(14)),
        idle_row(10.0),
    ]
    result = await generate(FakeCostSource(rows), EVERYTHING)
    assert [rec.rule for rec in result.recommendations] == ["idle_capacity"]
    assert result.skipped == []


async def test_provenance_of_the_data_is_passed_through() -> None:
    result = await generate(FakeCostSource(api_rows(), demo=True, stale=True))
    assert (result.demo, result.stale, result.fetched_at) == (True, True, 1741996800.0)


async def test_ids_and_versions_are_stable_across_runs() -> None:
    first = await generate(FakeCostSource(api_rows()))
    second = await generate(FakeCostSource(api_rows()))
    assert [(r.id, r.version) for r in first.recommendations] == [
        (r.id, r.version) for r in second.recommendations
    ]


async def test_failing_assets_leave_a_warning_and_the_other_rules() -> None:
    source = FakeCostSource(api_rows(), assets_error=OpenCostUnavailable("connection refused"))
    result = await generate(source, EVERYTHING)
    assert [rec.rule for rec in result.recommendations] == ["rightsize"]
    assert result.warnings
    assert "unclaimed volumes" in result.warnings[0]


async def test_results_are_ordered_by_savings_and_settings_change_thresholds() -> None:
    big = [
        row(day, controller="big", pod=f"big-{p}", cpu_request=4.0)
        for day in range(10, 14)
        for p in (1, 2)
    ]
    source = FakeCostSource([*api_rows(), *big])
    result = await generate(source)
    assert [rec.controller for rec in result.recommendations] == ["big", "api"]
    strict = OptimizationService(
        source, StaticHpaSource(), FakeClock(NOW), RecSettings(min_monthly_savings=100.0)
    )
    assert [rec.controller for rec in (await strict.generate(PAYMENTS)).recommendations] == ["big"]


async def test_the_same_data_is_computed_once_and_new_data_again() -> None:
    """Cost answers ask for the open savings too: the maths over every container-day runs
    once per answer from OpenCost, not once per question."""
    source = FakeCostSource(api_rows())
    service = OptimizationService(source, StaticHpaSource([]), FakeClock(NOW), EXACT)
    first = await service.generate(PAYMENTS)
    assert await service.generate(PAYMENTS) is first
    assert await service.generate(EVERYTHING) is not first  # another scope, its own result
    source.rows = source.rows[1:]
    source.fetched_at += 60  # OpenCost answered again, with other rows
    again = await service.generate(PAYMENTS)
    assert again is not first
    assert len(source.queries) == 4  # the data is still asked for every time (it is cached)
