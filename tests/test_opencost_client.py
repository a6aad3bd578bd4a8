"""OpenCostClient against a real local OpenCost stand-in: parameters, decoding, retries, and the
translation of every failure into OpenCostUnavailable / OpenCostBadResponse."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.errors import OpenCostBadResponse, OpenCostUnavailable
from services.opencost.client import OpenCostClient
from services.opencost.models import AllocationData, AllocationQuery, AssetData
from services.opencost.multi import MultiClusterSource
from tests.conftest import FakeClock
from tests.redis_server import free_port
from tests.standins.opencost import (
    OpenCostStandIn,
    allocation_row,
    allocation_set,
    assets_map,
    disk_asset,
    node_asset,
)
from tests.standins.server import wait_until_async

NOW = datetime(2024, 3, 6, 12, 0, tzinfo=UTC)
DAY = AllocationQuery(start=datetime(2024, 3, 4, tzinfo=UTC), end=datetime(2024, 3, 5, tzinfo=UTC))
JSON = "application/json"


def _rows() -> list[dict[str, object]]:
    return [
        allocation_row(namespace="payments", pod="api-1", container="api", cpu_cost=1.5),
        allocation_row(namespace="search", pod="es-0", container="es", cluster="", ram_cost=2.0),
    ]


@pytest.fixture
def opencost() -> Iterator[OpenCostStandIn]:
    sets = [allocation_set(*_rows()), {}]
    assets = assets_map(node_asset("node-1"), disk_asset("pv-1", claim_name=""))
    with OpenCostStandIn(sets, assets) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=2.0) as client:
        yield client


def _client(
    url: str,
    http: httpx.AsyncClient,
    *,
    retries: int = 2,
    cluster_name: str | None = None,
    clock: FakeClock | None = None,
    demo: bool = False,
    deadline: float | None = None,
    cooldown: float = 0.0,
) -> OpenCostClient:
    return OpenCostClient(
        url,
        http,
        cluster_name,
        retries,
        backoff=0.01,
        clock=clock or FakeClock(NOW),
        demo=demo,
        deadline=deadline,
        cooldown=cooldown,
    )


def _answer(status: int, body: object, content_type: str = JSON) -> tuple[int, str, bytes]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return status, content_type, raw


# --- what is sent -------------------------------------------------------------------------------
async def test_sends_explicit_window_and_every_asked_parameter(
    opencost: OpenCostStandIn, http: httpx.AsyncClient
) -> None:
    query = AllocationQuery(
        start=DAY.start,
        end=DAY.end,
        step="1d",
        aggregate="namespace,label:app",
        include_idle=True,
        filter='namespace:"payments"+label[app]:"api"',
    )
    await _client(opencost.url, http).allocations(query)
    (request,) = opencost.requests
    assert request.path == "/allocation"
    assert request.params == {
        "window": "2024-03-04T00:00:00Z,2024-03-05T00:00:00Z",
        "step": "1d",
        "aggregate": "namespace,label:app",
        "includeIdle": "true",
        # "+" arrives intact, so it was sent as %2B rather than as a space
        "filter": 'namespace:"payments"+label[app]:"api"',
        "accumulate": "false",
    }


async def test_omits_empty_step_aggregate_idle_and_filter(
    opencost: OpenCostStandIn, http: httpx.AsyncClient
) -> None:
    await _client(opencost.url, http).allocations(DAY)
    assert opencost.requests[0].params == {
        "window": "2024-03-04T00:00:00Z,2024-03-05T00:00:00Z",
        "accumulate": "false",
    }


# --- what is returned ---------------------------------------------------------------------------
async def test_decodes_one_list_of_rows_per_step_with_empty_sets_kept(
    opencost: OpenCostStandIn, http: httpx.AsyncClient
) -> None:
    data = await _client(opencost.url, http).allocations(DAY)
    assert [len(step) for step in data.steps] == [2, 0]
    assert sorted(row.namespace for row in data.rows()) == ["payments", "search"]
    assert data.fetched_at == NOW.timestamp()
    assert not data.demo
    assert not data.stale
    assert data.failed_clusters == []


async def test_null_data_means_no_steps(opencost: OpenCostStandIn, http: httpx.AsyncClient) -> None:
    opencost.responder = lambda path, params: _answer(200, {"code": 200, "data": None})
    data = await _client(opencost.url, http).allocations(DAY)
    assert data.steps == []


async def test_assets_are_decoded_from_the_map(
    opencost: OpenCostStandIn, http: httpx.AsyncClient
) -> None:
    data = await _client(opencost.url, http).assets(DAY.start, DAY.end)
    assert sorted(asset.type for asset in data.assets) == ["Disk", "Node"]
    (disk,) = [asset for asset in data.assets if asset.type == "Disk"]
    assert disk.claim_name == ""
    assert disk.bytes == 107374182400.0
    assert opencost.requests[0].params == {"window": "2024-03-04T00:00:00Z,2024-03-05T00:00:00Z"}


async def test_kubecost_model_base_url_joins_paths_onto_it(
    opencost: OpenCostStandIn, http: httpx.AsyncClient
) -> None:
    client = _client(f"{opencost.url}/model/", http)
    data = await client.allocations(DAY)
    await client.assets(DAY.start, DAY.end)
    assert len(data.rows()) == 2
    assert [request.path for request in opencost.requests] == ["/model/allocation", "/model/assets"]


async def test_configured_cluster_name_replaces_empty_or_different_cluster_labels(
    opencost: OpenCostStandIn, http: httpx.AsyncClient
) -> None:
    client = _client(opencost.url, http, cluster_name="prod")
    data = await client.allocations(DAY)
    assets = await client.assets(DAY.start, DAY.end)
    assert {row.cluster for row in data.rows()} == {"prod"}
    assert {asset.properties.cluster for asset in assets.assets} == {"prod"}
    # everything else about a row is untouched
    assert {row.namespace for row in data.rows()} == {"payments", "search"}


async def test_without_a_cluster_name_rows_keep_what_opencost_said(
    opencost: OpenCostStandIn, http: httpx.AsyncClient
) -> None:
    data = await _client(opencost.url, http).allocations(DAY)
    assert sorted(row.cluster for row in data.rows()) == ["", "cluster-one"]


# --- retries ------------------------------------------------------------------------------------
async def test_retries_a_503_and_then_succeeds(
    opencost: OpenCostStandIn, http: httpx.AsyncClient
) -> None:
    answers = iter([_answer(503, b"upstream connect error\n", "text/plain")])

    def flaky(path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        return next(answers, None) or opencost.default_responder(path, params)

    opencost.responder = flaky
    data = await _client(opencost.url, http).allocations(DAY)
    assert len(data.rows()) == 2
    assert opencost.request_count == 2


async def test_persistent_500_is_unavailable_after_all_retries_quoting_opencost(
    opencost: OpenCostStandIn, http: httpx.AsyncClient
) -> None:
    opencost.mode = "status_500"
    with pytest.raises(OpenCostUnavailable, match="error querying Prometheus") as caught:
        await _client(opencost.url, http, retries=2, cluster_name="prod").allocations(DAY)
    assert opencost.request_count == 3
    assert caught.value.cluster == "prod"


async def test_connection_refused_is_unavailable_naming_the_cluster(
    http: httpx.AsyncClient,
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(OpenCostUnavailable) as caught:
        await _client(url, http, cluster_name="staging").allocations(DAY)
    assert caught.value.cluster == "staging"
    assert url in str(caught.value)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)  # translated once, chained


async def test_stand_in_going_down_is_unavailable(
    opencost: OpenCostStandIn, http: httpx.AsyncClient
) -> None:
    opencost.mode = "down"
    with pytest.raises(OpenCostUnavailable):
        await _client(opencost.url, http).assets(DAY.start, DAY.end)


async def test_timeout_is_retried_then_unavailable(opencost: OpenCostStandIn) -> None:
    opencost.delay_seconds = 1.5
    async with httpx.AsyncClient(timeout=0.3) as slow_http:
        with pytest.raises(OpenCostUnavailable, match="Timeout") as caught:
            await _client(opencost.url, slow_http, retries=1, deadline=10).allocations(DAY)
    assert isinstance(caught.value.__cause__, httpx.TimeoutException)
    # Both attempts were sent; on a busy machine the stand-in may log the second one late.
    await wait_until_async(
        lambda: opencost.request_count if opencost.request_count >= 2 else None,
        timeout=5,
        failure=lambda: f"{opencost.request_count} attempts reached OpenCost, expected 2",
    )


async def test_deadline_bounds_a_whole_call_retries_included(opencost: OpenCostStandIn) -> None:
    opencost.delay_seconds = 3.0
    async with httpx.AsyncClient(timeout=5.0) as http:
        client = _client(opencost.url, http, retries=2, deadline=0.4)
        with pytest.raises(OpenCostUnavailable, match="Timeout") as caught:
            await client.allocations(DAY)
    # Cut off by the deadline, not by the 5 s read timeout, and with no time left for a retry.
    # (How long that takes is measured, not asserted: `python -m bench deadlines`.)
    assert isinstance(caught.value.__cause__, httpx.TimeoutException)
    assert opencost.request_count == 1


async def test_after_an_outage_calls_fail_fast_until_the_cooldown_passes(
    opencost: OpenCostStandIn, http: httpx.AsyncClient
) -> None:
    client = _client(opencost.url, http, retries=1, cooldown=0.3)
    opencost.mode = "status_500"
    with pytest.raises(OpenCostUnavailable):
        await client.allocations(DAY)
    assert opencost.request_count == 2
    opencost.mode = "ok"
    with pytest.raises(OpenCostUnavailable, match="not asked"):
        await client.allocations(DAY)
    assert opencost.request_count == 2  # failed without asking
    await client.assets(DAY.start, DAY.end)  # another kind of request is not held back
    assert opencost.request_count == 3
    answer, refusals = await _first_answer_after_the_cooldown(client)
    assert len(answer.rows()) == 2
    assert all("not asked" in refusal for refusal in refusals), refusals
    assert opencost.request_count == 4  # every call inside the cooldown failed without asking


async def _first_answer_after_the_cooldown(
    client: OpenCostClient, within: float = 10
) -> tuple[AllocationData, list[str]]:
    """Ask until the client asks OpenCost again: its answer, and the refusals before it."""
    refusals: list[str] = []
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        try:
            return await client.allocations(DAY), refusals
        except OpenCostUnavailable as refused:
            refusals.append(str(refused))
        await asyncio.sleep(0.02)
    raise AssertionError(f"the cooldown never ended: {refusals[-1:]}")


# --- bad answers --------------------------------------------------------------------------------
async def test_plain_text_400_quotes_its_first_line_and_is_not_retried(
    opencost: OpenCostStandIn, http: httpx.AsyncClient
) -> None:
    opencost.mode = "plain_400"
    with pytest.raises(OpenCostBadResponse) as caught:
        await _client(opencost.url, http, cluster_name="prod").allocations(DAY)
    message = str(caught.value)
    assert "HTTP 400" in message
    assert "Invalid 'window' parameter: illegal window: 2024-03-04T00:00:00Z" in message
    assert '"code"' not in message  # the JSON glued after the text line is not quoted
    assert caught.value.cluster == "prod"
    assert opencost.request_count == 1


async def test_json_400_quotes_opencosts_message(
    opencost: OpenCostStandIn, http: httpx.AsyncClient
) -> None:
    body = {"code": 400, "data": None, "message": "Invalid 'step' parameter: nope"}
    opencost.responder = lambda path, params: _answer(400, body)
    with pytest.raises(OpenCostBadResponse, match="Invalid 'step' parameter: nope"):
        await _client(opencost.url, http).allocations(DAY)


@pytest.mark.parametrize("mode", ["truncated_json", "garbage"])
async def test_unparseable_200_is_a_bad_response(
    opencost: OpenCostStandIn, http: httpx.AsyncClient, mode: str
) -> None:
    opencost.mode = mode  # type: ignore[assignment]
    with pytest.raises(OpenCostBadResponse, match="not an OpenCost answer"):
        await _client(opencost.url, http).allocations(DAY)
    assert opencost.request_count == 1


@pytest.mark.parametrize(
    "body",
    [
        {"code": 200, "data": {"not": "a list of sets"}},
        {"code": 200, "data": [{"row": {"totalCost": "twelve"}}]},
        [1, 2, 3],
    ],
)
async def test_json_of_the_wrong_shape_is_a_bad_response(
    opencost: OpenCostStandIn, http: httpx.AsyncClient, body: object
) -> None:
    opencost.responder = lambda path, params: _answer(200, body)
    with pytest.raises(OpenCostBadResponse):
        await _client(opencost.url, http).allocations(DAY)


async def test_code_500_inside_a_200_envelope_is_unavailable(
    opencost: OpenCostStandIn, http: httpx.AsyncClient
) -> None:
    body = {"code": 500, "status": "", "data": None, "message": "Error: Prometheus is down"}
    opencost.responder = lambda path, params: _answer(200, body)
    with pytest.raises(OpenCostUnavailable, match="Prometheus is down"):
        await _client(opencost.url, http).allocations(DAY)


async def test_code_400_inside_a_200_envelope_is_a_bad_response(
    opencost: OpenCostStandIn, http: httpx.AsyncClient
) -> None:
    body = {"code": 400, "data": None, "message": "Error: bad request - includeIdle"}
    opencost.responder = lambda path, params: _answer(200, body)
    with pytest.raises(OpenCostBadResponse, match="bad request - includeIdle"):
        await _client(opencost.url, http).assets(DAY.start, DAY.end)


# --- ping ---------------------------------------------------------------------------------------
async def test_ping_asks_healthz(opencost: OpenCostStandIn, http: httpx.AsyncClient) -> None:
    await _client(opencost.url, http).ping()
    assert [request.path for request in opencost.requests] == ["/healthz"]


async def test_ping_falls_back_to_a_tiny_allocation_query_when_healthz_is_missing(
    opencost: OpenCostStandIn, http: httpx.AsyncClient
) -> None:
    def no_healthz(path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        if path == "/healthz":
            return 404, "text/plain", b"404 page not found\n"
        return opencost.default_responder(path, params)

    opencost.responder = no_healthz
    await _client(f"{opencost.url}/model", http).ping()
    paths = [request.path for request in opencost.requests]
    assert paths == ["/model/healthz", "/model/allocation"]
    assert opencost.requests[1].params["window"] == "2024-03-06T11:59:00Z,2024-03-06T12:00:00Z"


async def test_ping_of_a_dead_opencost_is_unavailable(http: httpx.AsyncClient) -> None:
    with pytest.raises(OpenCostUnavailable):
        await _client(f"http://127.0.0.1:{free_port()}", http).ping()


# --- several clusters ---------------------------------------------------------------------------
@pytest.fixture
def staging() -> Iterator[OpenCostStandIn]:
    row = allocation_row(namespace="search", pod="es-0", container="es", cluster="x", cpu_cost=3.0)
    with OpenCostStandIn([allocation_set(row)], assets_map(node_asset("node-9"))) as server:
        yield server


def _two_clusters(
    prod: OpenCostStandIn, staging: OpenCostStandIn, http: httpx.AsyncClient
) -> MultiClusterSource:
    older = FakeClock(NOW - timedelta(minutes=5))
    return MultiClusterSource(
        {
            "prod": _client(prod.url, http, cluster_name="prod", retries=0),
            "staging": _client(staging.url, http, cluster_name="staging", retries=0, clock=older),
        }
    )


async def test_clusters_are_merged_step_by_step_with_the_oldest_fetch_time(
    opencost: OpenCostStandIn, staging: OpenCostStandIn, http: httpx.AsyncClient
) -> None:
    data = await _two_clusters(opencost, staging, http).allocations(DAY)
    assert [sorted(row.cluster for row in step) for step in data.steps] == [
        ["prod", "prod", "staging"],
        [],
    ]
    assert data.fetched_at == (NOW - timedelta(minutes=5)).timestamp()
    assert data.failed_clusters == []
    assets = await _two_clusters(opencost, staging, http).assets(DAY.start, DAY.end)
    assert sorted(asset.properties.cluster for asset in assets.assets) == [
        "prod",
        "prod",
        "staging",
    ]


async def test_a_failing_cluster_gives_a_partial_answer_naming_it(
    opencost: OpenCostStandIn, staging: OpenCostStandIn, http: httpx.AsyncClient
) -> None:
    staging.mode = "down"
    data = await _two_clusters(opencost, staging, http).allocations(DAY)
    assert data.failed_clusters == ["staging"]
    assert {row.cluster for row in data.rows()} == {"prod"}
    assets = await _two_clusters(opencost, staging, http).assets(DAY.start, DAY.end)
    assert assets.failed_clusters == ["staging"]


async def test_all_clusters_failing_raises_preferring_unavailable(
    opencost: OpenCostStandIn, staging: OpenCostStandIn, http: httpx.AsyncClient
) -> None:
    opencost.mode = "plain_400"
    staging.mode = "status_500"
    with pytest.raises(OpenCostUnavailable) as caught:
        await _two_clusters(opencost, staging, http).allocations(DAY)
    assert caught.value.cluster == "staging"


async def test_demo_flag_survives_merging(
    opencost: OpenCostStandIn, staging: OpenCostStandIn, http: httpx.AsyncClient
) -> None:
    multi = MultiClusterSource(
        {
            "real": _client(opencost.url, http, cluster_name="real"),
            "demo": _client(staging.url, http, cluster_name="demo", demo=True),
        }
    )
    assert (await multi.allocations(DAY)).demo


class _Broken:
    """A CostSource with a bug in it: not an OpenCostError, so it must not be swallowed."""

    async def allocations(self, query: AllocationQuery) -> AllocationData:
        raise RuntimeError("bug")

    async def assets(self, start: datetime, end: datetime) -> AssetData:
        raise RuntimeError("bug")


async def test_a_bug_in_one_cluster_source_is_not_reported_as_an_outage(
    opencost: OpenCostStandIn, http: httpx.AsyncClient
) -> None:
    multi = MultiClusterSource({"ok": _client(opencost.url, http), "broken": _Broken()})
    with pytest.raises(RuntimeError, match="bug"):
        await multi.allocations(DAY)


async def test_a_single_cluster_is_just_that_source(
    opencost: OpenCostStandIn, http: httpx.AsyncClient
) -> None:
    opencost.mode = "plain_400"
    with pytest.raises(OpenCostBadResponse):
        await MultiClusterSource({"only": _client(opencost.url, http)}).allocations(DAY)
