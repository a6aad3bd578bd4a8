"""The built-in demo cluster: OpenCost's wire format and quirks, determinism, windows that add up,
the features the demo tour relies on (idle workload, risks, unclaimed disk, idle capacity) and the
story the data tells (growth, weekends, a new workload, GPU bursts)."""

from __future__ import annotations

import itertools
import json
import re
import statistics
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest

from demo.cluster import (
    DEMO_BASE_URL,
    DEMO_HPAS,
    DemoCluster,
    DemoOpenCostTransport,
)
from services.opencost.client import OpenCostClient
from services.opencost.models import AllocationQuery, AllocationResponse, AssetResponse
from tests.conftest import FakeClock
from tests.standins.opencost import OpenCostStandIn

NOW = datetime(2025, 3, 14, 15, 30, tzinfo=UTC)  # a Friday afternoon
TODAY = datetime(2025, 3, 14, tzinfo=UTC)
Row = dict[str, Any]


@pytest.fixture(scope="module")
def cluster() -> DemoCluster:
    return DemoCluster(FakeClock(NOW))


def window(days: int, end: datetime = TODAY) -> str:
    return f"{_stamp(end - timedelta(days=days))},{_stamp(end)}"


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def ask(cluster: DemoCluster, path: str = "/allocation", **params: str) -> Any:
    status, content_type, body = cluster.respond(path, params)
    assert status == 200, body
    assert content_type == "application/json"
    return json.loads(body)


def one_set(cluster: DemoCluster, **params: str) -> dict[str, Row]:
    (only,) = ask(cluster, **params)["data"]
    return dict(only)


def by_workload(rows: dict[str, Row]) -> dict[tuple[str, str], list[Row]]:
    found: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows.values():
        props = row["properties"]
        found[(props.get("namespace", ""), props.get("controller", ""))].append(row)
    return found


# --- wire format ----------------------------------------------------------------------------------
def test_answers_decode_through_our_models(cluster: DemoCluster) -> None:
    _, _, body = cluster.respond("/allocation", {"window": window(2), "step": "1d"})
    decoded = msgspec.json.decode(body, type=AllocationResponse)
    assert decoded.code == 200
    assert [len(step) for step in decoded.data or []] == [len(s) for s in json.loads(body)["data"]]
    _, _, assets = cluster.respond("/assets", {"window": window(2)})
    assert len(msgspec.json.decode(assets, type=AssetResponse).data or {}) > 10


def test_envelope_and_camel_case_fields_match_opencost(cluster: DemoCluster) -> None:
    answer = ask(cluster, window=window(1))
    assert list(answer) == ["code", "status", "data"]
    row = next(iter(answer["data"][0].values()))
    assert list(row)[:6] == ["name", "properties", "window", "start", "end", "minutes"]
    for field in ("cpuCoreRequestAverage", "ramByteUsageAverage", "pvByteHours", "totalCost"):
        assert field in row


def test_allocation_floats_have_at_most_five_decimals(cluster: DemoCluster) -> None:
    _, _, body = cluster.respond("/allocation", {"window": window(1), "includeIdle": "true"})
    assert re.search(rb":-?\d+\.\d{1,5}[,}]", body)
    assert not re.search(rb":-?\d+\.\d{6,}", body)
    assert not re.search(rb":-?\d+(?:\.\d+)?[eE]", body)  # Go prints 0.00001, not 1e-05


def test_asset_floats_are_printed_with_percent_f(cluster: DemoCluster) -> None:
    _, _, body = cluster.respond("/assets", {"window": window(1)})
    assert re.search(rb'"cpuCores":\d+\.000000', body)


def test_illegal_window_gets_text_400_with_a_json_error_glued_on(cluster: DemoCluster) -> None:
    status, content_type, body = cluster.respond("/allocation", {"window": "last-tuesday"})
    assert status == 400
    assert content_type.startswith("text/plain")
    first, rest = body.decode().split("\n", 1)
    assert first == "Invalid 'window' parameter: illegal window: last-tuesday"
    assert json.loads(rest)["code"] == 500
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)


def test_assets_illegal_window_is_only_the_text_line(cluster: DemoCluster) -> None:
    status, _, body = cluster.respond("/assets", {})
    assert (status, body) == (400, b"Invalid 'window' parameter: illegal window: \n")


def test_bad_step_is_a_400(cluster: DemoCluster) -> None:
    status, _, body = cluster.respond("/allocation", {"window": window(1), "step": "fortnight"})
    assert status == 400
    assert body.startswith(b"Invalid 'step' parameter")


@pytest.mark.parametrize("path", ["/allocation", "/allocation/compute", "/model/allocation"])
def test_allocation_routes_and_kubecost_prefix_answer(cluster: DemoCluster, path: str) -> None:
    assert ask(cluster, path, window=window(1))["code"] == 200


def test_unknown_paths_are_404_and_healthz_is_empty(cluster: DemoCluster) -> None:
    assert cluster.respond("/cloudCost", {"window": "7d"})[0] == 404
    assert cluster.respond("/healthz", {}) == (200, "text/plain; charset=utf-8", b"")


# --- determinism and windows ----------------------------------------------------------------------
def test_same_question_gives_identical_bytes_from_a_fresh_generator(cluster: DemoCluster) -> None:
    params = {"window": window(3), "step": "1d", "includeIdle": "true"}
    assert cluster.respond("/allocation", params) == DemoCluster(FakeClock(NOW)).respond(
        "/allocation", params
    )


def test_an_hour_has_the_same_numbers_whichever_window_contains_it(cluster: DemoCluster) -> None:
    hour = TODAY - timedelta(hours=6)
    span = f"{_stamp(hour)},{_stamp(hour + timedelta(hours=1))}"
    alone = one_set(cluster, window=span, aggregate="namespace")
    sets = ask(cluster, window=window(2), step="1h", aggregate="namespace")["data"]
    inside = sets[42]  # 2 days back, 42 hours on = 6 hours before midnight
    assert next(iter(inside.values()))["window"]["start"] == _stamp(hour)
    assert {k: v["totalCost"] for k, v in inside.items()} == {
        k: v["totalCost"] for k, v in alone.items()
    }


def test_daily_sets_add_up_to_the_whole_window_to_the_cent(cluster: DemoCluster) -> None:
    """Costs are per hour, so only OpenCost's 5-decimal printing separates the two."""
    days = ask(cluster, window=window(7), step="1d", includeIdle="true")["data"]
    whole = one_set(cluster, window=window(7), includeIdle="true")
    assert len(days) == 7
    summed: dict[str, float] = defaultdict(float)
    for day in days:
        for name, row in day.items():
            summed[name] += row["totalCost"]
    assert set(summed) == set(whole)
    for name, row in whole.items():
        assert summed[name] == pytest.approx(row["totalCost"], abs=8 * 0.5e-5)
    total_whole = sum(row["totalCost"] for row in whole.values())
    assert abs(sum(summed.values()) - total_whole) < 0.01
    assert total_whole > 500  # a realistic week, not an empty one


def test_step_gives_one_set_per_step_from_the_window_start(cluster: DemoCluster) -> None:
    sets = ask(cluster, window=window(3), step="1d")["data"]
    starts = [next(iter(s.values()))["window"]["start"] for s in sets]
    assert starts == [_stamp(TODAY - timedelta(days=d)) for d in (3, 2, 1)]


def test_duration_window_is_aligned_and_has_no_data_after_the_last_full_hour(
    cluster: DemoCluster,
) -> None:
    rows = one_set(cluster, window="7d")
    row = next(iter(rows.values()))
    assert row["window"] == {"start": "2025-03-08T00:00:00Z", "end": "2025-03-15T00:00:00Z"}
    assert max(r["end"] for r in rows.values()) == "2025-03-14T15:00:00Z"


def test_future_and_prehistoric_windows_have_empty_sets(cluster: DemoCluster) -> None:
    future = f"{_stamp(NOW + timedelta(days=1))},{_stamp(NOW + timedelta(days=2))}"
    assert ask(cluster, window=future)["data"] == [{}]
    assert ask(cluster, window="2020-01-01T00:00:00Z,2020-01-02T00:00:00Z")["data"] == [{}]


# --- aggregation ----------------------------------------------------------------------------------
def test_namespace_aggregate_sums_the_container_rows(cluster: DemoCluster) -> None:
    containers = one_set(cluster, window=window(2))
    namespaces = one_set(cluster, window=window(2), aggregate="namespace")
    expected: dict[str, float] = defaultdict(float)
    for row in containers.values():
        expected[row["properties"]["namespace"]] += row["totalCost"]
    assert set(namespaces) == set(expected)
    for name, row in namespaces.items():
        assert row["totalCost"] == pytest.approx(expected[name], abs=len(containers) * 0.5e-5)
        assert row["properties"]["namespace"] == name


def test_aggregated_rows_keep_only_shared_properties(cluster: DemoCluster) -> None:
    namespaces = one_set(cluster, window=window(1), aggregate="namespace")
    assert set(namespaces["payments"]["properties"]) == {"cluster", "namespace", "namespaceLabels"}


def test_raw_allocation_only_appears_only_on_single_member_rows(cluster: DemoCluster) -> None:
    containers = one_set(cluster, window=window(1), includeIdle="true")
    for name, row in containers.items():
        unmounted = row["properties"].get("namespace") == "__unmounted__"
        has_raw = "rawAllocationOnly" in row
        assert has_raw == (name != "__idle__" and not unmounted), name
    controllers = one_set(cluster, window=window(1), aggregate="controller")
    assert "rawAllocationOnly" in controllers["deployment:grafana"]  # one pod, one container
    assert "rawAllocationOnly" not in controllers["deployment:frontend"]  # 4 pods × 2
    namespaces = one_set(cluster, window=window(1), aggregate="namespace")
    assert all("rawAllocationOnly" not in row for row in namespaces.values())


def test_accumulating_several_steps_drops_raw_maxima(cluster: DemoCluster) -> None:
    rows = one_set(cluster, window=window(2), step="1d", accumulate="true")
    assert all("rawAllocationOnly" not in row for row in rows.values())


@pytest.mark.parametrize(
    ("aggregate", "expected_key"),
    [
        ("label:team", "platform"),
        ("team", "payments"),
        ("namespace,label:app", "web/frontend"),
        ("controllerKind", "statefulset"),
        ("statefulset", "kafka"),
        ("cluster", "demo-cluster"),
        ("node", "ip-10-0-2-150.ec2.internal"),
        ("pod", "kafka-0"),
    ],
)
def test_aggregations_are_keyed_like_opencost(
    cluster: DemoCluster, aggregate: str, expected_key: str
) -> None:
    assert expected_key in one_set(cluster, window=window(1), aggregate=aggregate)


def test_unknown_aggregate_tokens_are_dropped(cluster: DemoCluster) -> None:
    assert list(one_set(cluster, window=window(1), aggregate="bogus")) == [""]


# --- what the demo must show ---------------------------------------------------------------------
def test_cluster_has_eight_namespaces_and_about_forty_workloads(cluster: DemoCluster) -> None:
    namespaces = set(one_set(cluster, window=window(1), aggregate="namespace")) - {"__unmounted__"}
    assert namespaces == {
        "payments",
        "checkout",
        "search",
        "data-pipeline",
        "ml-training",
        "web",
        "monitoring",
        "kube-system",
    }
    controllers = one_set(cluster, window=window(1), aggregate="controller")
    kinds = {name.split(":")[0] for name in controllers if ":" in name}
    assert kinds == {"deployment", "statefulset", "daemonset", "job"}
    assert 35 <= len(controllers) - 1 <= 45


def test_container_rows_carry_app_and_team_labels(cluster: DemoCluster) -> None:
    rows = one_set(cluster, window=window(1))
    labelled = [r for r in rows.values() if r["properties"].get("namespace") != "__unmounted__"]
    assert all({"app", "team"} <= set(r["properties"]["labels"]) for r in labelled)


def test_idle_workload_uses_under_1m_cpu_and_under_1kb_per_second(cluster: DemoCluster) -> None:
    rows = by_workload(one_set(cluster, window=window(8)))[("checkout", "checkout-legacy")]
    assert len(rows) == 2
    for row in rows:
        assert row["cpuCoreUsageAverage"] < 0.001
        assert row["networkTransferBytes"] / (row["minutes"] * 60) < 1024
        assert row["totalCost"] > 1  # and it still costs money


def test_an_under_requested_memory_container_is_a_risk(cluster: DemoCluster) -> None:
    (row,) = by_workload(one_set(cluster, window=window(7)))[("search", "search-indexer")]
    assert row["ramByteUsageAverage"] > 1.15 * row["ramByteRequestAverage"]
    assert row["ramEfficiency"] > 1


def test_several_containers_are_clearly_over_requested(cluster: DemoCluster) -> None:
    rows = one_set(cluster, window=window(7), aggregate="controller")
    wasteful = [
        n
        for n, r in rows.items()
        if r["cpuCoreRequestAverage"] >= 0.5 and r["cpuEfficiency"] < 0.15
    ]
    assert len(wasteful) >= 5


def test_a_new_workload_started_two_days_ago(cluster: DemoCluster) -> None:
    rows = by_workload(one_set(cluster, window=window(14)))[("search", "query-suggest")]
    assert {row["start"] for row in rows} == {"2025-03-12T15:00:00Z"}


def test_gpu_load_balancer_and_volume_costs_land_on_the_right_workloads(
    cluster: DemoCluster,
) -> None:
    controllers = one_set(cluster, window=window(1), aggregate="controller")
    assert controllers["deployment:model-trainer"]["gpuCost"] > 0
    assert controllers["deployment:frontend"]["loadBalancerCost"] == pytest.approx(0.6, abs=1e-4)
    assert controllers["statefulset:kafka"]["pvCost"] > 0
    assert controllers["deployment:bff"]["pvCost"] == 0


def test_idle_capacity_is_between_15_and_25_percent(cluster: DemoCluster) -> None:
    rows = one_set(cluster, window=window(7), aggregate="namespace", includeIdle="true")
    share = rows["__idle__"]["totalCost"] / sum(row["totalCost"] for row in rows.values())
    assert 0.15 <= share <= 0.25


def test_idle_capacity_is_positive_every_hour(cluster: DemoCluster) -> None:
    """Also while the autoscaled nodes come and go."""
    sets = ask(cluster, window=window(7), step="1h", includeIdle="true", aggregate="cluster")
    assert len(sets["data"]) == 7 * 24
    assert all(s["__idle__"]["cpuCost"] > 0 and s["__idle__"]["ramCost"] > 0 for s in sets["data"])


def test_usage_varies_by_day_so_p95_is_not_the_max(cluster: DemoCluster) -> None:
    days = ask(cluster, window=window(14), step="1d", aggregate="controller")["data"]
    frontend = [day["deployment:frontend"]["cpuCoreUsageAverage"] for day in days]
    weekdays = [u for d, u in enumerate(frontend) if (TODAY - timedelta(days=14 - d)).weekday() < 5]
    weekend = [u for d, u in enumerate(frontend) if (TODAY - timedelta(days=14 - d)).weekday() >= 5]
    assert max(weekend) < min(weekdays)
    containers = ask(cluster, window=window(14), step="1d")["data"]
    peaks = [
        row["rawAllocationOnly"]["cpuCoreUsageMax"]
        for day in containers
        for row in day.values()
        if row["properties"].get("controller") == "stream-processor"
    ]
    assert statistics.quantiles(peaks, n=20)[-1] < max(peaks)


def test_demo_hpas_name_demo_workloads(cluster: DemoCluster) -> None:
    controllers = one_set(cluster, window=window(1), aggregate="namespace,controller")
    for namespace, kind, name, target in DEMO_HPAS:
        assert f"{namespace}/{kind}:{name}" in controllers
        assert 0 < target < 1


# --- the story the data tells ---------------------------------------------------------------------
def daily(cluster: DemoCluster, days: int, **params: str) -> list[tuple[datetime, dict[str, Row]]]:
    """(day, rows) for each of the `days` whole days before TODAY."""
    sets = ask(cluster, window=window(days), step="1d", **params)["data"]
    return [(TODAY - timedelta(days=days - index), rows) for index, rows in enumerate(sets)]


def cost(rows: dict[str, Row], name: str) -> float:
    return float(rows[name]["totalCost"]) if name in rows else 0.0


def test_data_pipeline_grows_week_over_week_in_usage_and_requests(cluster: DemoCluster) -> None:
    weeks = ask(cluster, window=window(28), step="7d", aggregate="namespace,controller")["data"]
    namespace = [
        sum(r["totalCost"] for n, r in w.items() if n.startswith("data-pipeline/")) for w in weeks
    ]
    for before, after in itertools.pairwise(namespace):
        assert 1.02 < after / before < 1.06  # disks do not grow, so less than its workloads
    kafka = [w["data-pipeline/statefulset:kafka"] for w in weeks]
    for before, after in itertools.pairwise(kafka):
        ratio = after["cpuCoreRequestAverage"] / before["cpuCoreRequestAverage"]
        assert ratio == pytest.approx(1.06, rel=1e-4)  # a new request at each Monday's deploy
        usage = after["cpuCoreUsageAverage"] / before["cpuCoreUsageAverage"]
        assert usage == pytest.approx(1.06, abs=0.02)
    zookeeper = [w["data-pipeline/statefulset:zookeeper"]["cpuCoreRequestAverage"] for w in weeks]
    assert len(set(zookeeper)) == 1  # only the data-driven workloads grow


def test_growth_is_measured_from_the_anchor_so_todays_requests_are_the_catalogs(
    cluster: DemoCluster,
) -> None:
    since_monday = f"{_stamp(TODAY - timedelta(days=4))},{_stamp(NOW)}"
    rows = one_set(cluster, window=since_monday, aggregate="pod")
    assert rows["kafka-0"]["cpuCoreRequestAverage"] == pytest.approx(1.0)
    assert rows["kafka-0"]["ramByteRequestAverage"] == pytest.approx(4096 * 1024**2)


def test_weekends_cost_less_as_batch_and_notebooks_stop(cluster: DemoCluster) -> None:
    days = daily(cluster, 14, aggregate="namespace,controller", includeIdle="true")
    weekend = [(day, rows) for day, rows in days if day.weekday() >= 5]
    workdays = [(day, rows) for day, rows in days if day.weekday() < 5]
    assert len(weekend) == 4
    totals = {day: sum(r["totalCost"] for r in rows.values()) for day, rows in days}
    assert max(totals[day] for day, _ in weekend) < min(totals[day] for day, _ in workdays) - 10
    for name in ("data-pipeline/job:warehouse-load", "ml-training/statefulset:notebooks"):
        assert all(name not in rows for _, rows in weekend)
        assert all(cost(rows, name) > 1 for _, rows in workdays)


def test_the_batch_node_is_only_billed_on_workdays(cluster: DemoCluster) -> None:
    def batch_node(day: datetime) -> list[Row]:
        span = f"{_stamp(day)},{_stamp(day + timedelta(days=1))}"
        nodes = ask(cluster, "/assets", window=span)["data"].values()
        return [n for n in nodes if n["properties"].get("name") == "ip-10-0-3-120.ec2.internal"]

    saturday, monday = TODAY - timedelta(days=6), TODAY - timedelta(days=4)
    assert (saturday.weekday(), monday.weekday()) == (5, 0)
    assert batch_node(saturday) == []
    (node,) = batch_node(monday)
    assert node["minutes"] == 14 * 60  # 06:00-20:00: the batch run and the notebooks
    assert (node["start"], node["end"]) == ("2025-03-10T06:00:00Z", "2025-03-10T20:00:00Z")
    assert node["totalCost"] == pytest.approx(14 * (16 * 0.031611 + 64 * 0.004237))


def test_gpu_training_bursts_two_or_three_days_a_week(cluster: DemoCluster) -> None:
    days = daily(cluster, 32, aggregate="namespace,controller")[:28]  # Monday to Sunday × 4
    assert (days[0][0].weekday(), days[-1][0].weekday(), len(days)) == (0, 6, 28)
    burst = [
        (day, rows["ml-training/job:train-ranker"])
        for day, rows in days
        if "ml-training/job:train-ranker" in rows
    ]
    assert {day.weekday() for day, _ in burst} <= {1, 2, 3}  # Tuesday to Thursday
    per_week = [sum(1 for day, _ in burst if (day - days[0][0]).days // 7 == w) for w in range(4)]
    assert sorted(per_week) == [2, 2, 3, 3]
    for _, ranker in burst:
        assert ranker["gpuHours"] == pytest.approx(2 * 16)  # two GPUs, 06:00-22:00
        assert ranker["gpuCost"] > 30


def test_personalizer_started_five_days_ago_so_it_is_new_this_week(cluster: DemoCluster) -> None:
    this_week = by_workload(one_set(cluster, window=window(7)))
    week_before = by_workload(one_set(cluster, window=window(7, end=TODAY - timedelta(days=7))))
    rows = this_week[("web", "personalizer")]
    assert len(rows) == 3
    assert {row["start"] for row in rows} == {"2025-03-09T15:00:00Z"}  # anchor − 120 h
    assert ("web", "personalizer") not in week_before
    assert ("web", "frontend") in week_before
    assert {row["start"] for row in this_week[("search", "query-suggest")]} == {
        "2025-03-12T15:00:00Z"
    }


def test_idle_share_stays_between_15_and_25_percent_every_week_of_the_history(
    cluster: DemoCluster,
) -> None:
    weeks = ask(cluster, window=window(84), step="7d", includeIdle="true", aggregate="cluster")
    for rows in weeks["data"]:
        share = rows["__idle__"]["totalCost"] / sum(row["totalCost"] for row in rows.values())
        assert 0.15 <= share <= 0.25


# --- assets ---------------------------------------------------------------------------------------
def test_assets_have_nodes_disks_one_unclaimed_a_balancer_and_management(
    cluster: DemoCluster,
) -> None:
    assets = list(ask(cluster, "/assets", window=window(7))["data"].values())
    by_type: dict[str, list[Row]] = defaultdict(list)
    for asset in assets:
        by_type[asset["type"]].append(asset)
    always_on = [node for node in by_type["Node"] if node["minutes"] == 7 * 24 * 60]
    autoscaled = [node for node in by_type["Node"] if node["minutes"] < 7 * 24 * 60]
    assert len(always_on) == 5
    assert len(autoscaled) == 3  # the weekday batch node and two GPU burst nodes
    assert all(node["nodeType"] for node in by_type["Node"])
    unclaimed = [disk for disk in by_type["Disk"] if disk["claimName"] == ""]
    assert len(unclaimed) == 1
    claimed = [disk for disk in by_type["Disk"] if disk["claimName"]]
    assert all(d["claimName"].startswith("data-") and d["claimNamespace"] for d in claimed)
    assert len(by_type["LoadBalancer"]) == 1
    assert len(by_type["ClusterManagement"]) == 1


def test_assets_cost_what_the_allocations_add_up_to(cluster: DemoCluster) -> None:
    """Nodes = allocated + idle compute; disks = PV costs; the balancer = LB costs."""
    assets = list(ask(cluster, "/assets", window=window(3))["data"].values())
    rows = one_set(cluster, window=window(3), includeIdle="true").values()

    def asset_cost(kind: str) -> float:
        return float(sum(a["totalCost"] for a in assets if a["type"] == kind))

    compute = sum(r["cpuCost"] + r["ramCost"] + r["gpuCost"] for r in rows)
    assert compute == pytest.approx(asset_cost("Node"), abs=0.01)
    assert sum(r["pvCost"] for r in rows) == pytest.approx(asset_cost("Disk"), abs=0.01)
    assert sum(r["loadBalancerCost"] for r in rows) == pytest.approx(asset_cost("LoadBalancer"))


# --- as a transport and over HTTP -----------------------------------------------------------------
@pytest.fixture
async def demo_http(cluster: DemoCluster) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=DemoOpenCostTransport(cluster)) as http:
        yield http


@pytest.fixture
def demo_server(cluster: DemoCluster) -> Iterator[OpenCostStandIn]:
    with OpenCostStandIn(responder=cluster.respond) as server:
        yield server


QUERY = AllocationQuery(start=TODAY - timedelta(days=2), end=TODAY, step="1d", include_idle=True)


async def test_client_over_the_transport_flags_demo_data(demo_http: httpx.AsyncClient) -> None:
    client = OpenCostClient(DEMO_BASE_URL, demo_http, clock=FakeClock(NOW), demo=True)
    data = await client.allocations(QUERY)
    assert data.demo
    assert len(data.steps) == 2
    assert {row.cluster for row in data.rows()} == {"demo-cluster"}
    assert any(row.is_idle for row in data.rows())
    assets = await client.assets(QUERY.start, QUERY.end)
    assert assets.demo
    assert any(a.type == "Disk" and not a.claim_name for a in assets.assets)


async def test_transport_refuses_other_methods_and_unknown_paths(
    demo_http: httpx.AsyncClient,
) -> None:
    assert (await demo_http.post(f"{DEMO_BASE_URL}/allocation")).status_code == 405
    assert (await demo_http.get(f"{DEMO_BASE_URL}/nope")).status_code == 404
    bad = await demo_http.get(f"{DEMO_BASE_URL}/model/allocation", params={"window": "x"})
    assert (bad.status_code, bad.headers["content-type"]) == (400, "text/plain; charset=utf-8")


async def test_real_http_serves_the_same_rows_as_the_transport(
    demo_http: httpx.AsyncClient, demo_server: OpenCostStandIn
) -> None:
    via_transport = await OpenCostClient(
        DEMO_BASE_URL, demo_http, clock=FakeClock(NOW)
    ).allocations(QUERY)
    async with httpx.AsyncClient() as http:
        client = OpenCostClient(f"{demo_server.url}/model", http, clock=FakeClock(NOW))
        via_http = await client.allocations(QUERY)
    assert via_http.steps == via_transport.steps
