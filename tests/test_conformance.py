"""Genuine OpenCost responses (../shared/fixtures/opencost/, read-only) decode through our models
and through the real client, with sensible values. Skipped when that folder is absent."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec
import pytest

from services.opencost.client import OpenCostClient
from services.opencost.models import UNALLOCATED, AllocationQuery, AllocationResponse, AssetResponse
from tests.conftest import FakeClock
from tests.standins.opencost import OpenCostStandIn

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURES = SHARED / "fixtures" / "opencost"
NOW = datetime(2026, 1, 16, tzinfo=UTC)


def _files(prefix: str) -> list[Path]:
    return sorted(FIXTURES.glob(f"{prefix}*.json")) if FIXTURES.is_dir() else []


ALLOCATION_FILES = _files("allocation_")
ASSET_FILES = _files("assets_")
# Not Allocation/Asset answers, so only checked to be JSON: /cloudCost has its own shape
# ({code,data:{sets,window}}) that costbot does not read, and the swagger spec and postman
# collection describe requests rather than answer them.
OTHER_FILES = [
    path for path in _files("") if path not in ALLOCATION_FILES and path not in ASSET_FILES
]


GENUINE = {path: path.read_bytes() for path in ALLOCATION_FILES + ASSET_FILES}


def test_the_genuine_fixtures_are_there() -> None:
    if not FIXTURES.is_dir():
        pytest.skip(f"{FIXTURES}: ../shared/fixtures/opencost not present in this checkout")
    assert len(ALLOCATION_FILES) >= 2
    assert len(ASSET_FILES) >= 1
    assert {p.name.split("_")[0] for p in OTHER_FILES} >= {"cloudcost", "opencost"}


@pytest.mark.parametrize("path", ALLOCATION_FILES, ids=lambda p: p.name)
def test_allocation_fixture_decodes_with_sensible_rows(path: Path) -> None:
    response = msgspec.json.decode(path.read_bytes(), type=AllocationResponse)
    assert response.code == 200
    assert response.data
    for step in response.data:
        for name, row in step.items():
            assert row.name == name
            assert row.namespace == name  # these fixtures are aggregated by namespace
            assert row.cluster
            assert row.cost() >= 0  # a namespace can genuinely cost 0 (swagger example)
            assert row.minutes is not None
            assert row.minutes > 0
            assert all(value >= 0 for value in row.resource_costs().values())
            # totalCost is the sum of the parts (each rounded by OpenCost)
            assert sum(row.resource_costs().values()) == pytest.approx(row.cost(), abs=1e-4)
            assert row.raw_allocation_only is None  # aggregated: absent or null
            assert row.start_at() is not None
            assert not row.is_idle
    assert sum(row.cost() for step in response.data for row in step.values()) > 0


def test_website_allocation_has_the_three_documented_namespaces() -> None:
    path = FIXTURES / "allocation_window7d_aggregate-namespace_opencost-website.json"
    if not path.exists():
        pytest.skip(f"{path.name} not present")
    response = msgspec.json.decode(path.read_bytes(), type=AllocationResponse)
    (step,) = response.data or []
    assert sorted(step) == ["kube-system", "opencost", "prometheus"]
    kube_system = step["kube-system"]
    assert kube_system.cost() == pytest.approx(1.52743)
    assert kube_system.properties.namespace_labels == {"kubernetes_io_metadata_name": "kube-system"}


@pytest.mark.parametrize("path", ASSET_FILES, ids=lambda p: p.name)
def test_asset_fixture_decodes_with_sensible_assets(path: Path) -> None:
    response = msgspec.json.decode(path.read_bytes(), type=AssetResponse)
    assert response.code == 200
    assets = response.data or {}
    assert assets
    for key, asset in assets.items():
        parts = key.split("/")
        assert len(parts) >= 9  # provider/account/project/category/cluster/type/service/id/name
        assert asset.type in parts
        assert "__undefined__" in parts  # empty key parts are spelled out
        assert asset.cost() >= 0
        assert asset.hours() > 0
        assert asset.properties.cluster
        assert UNALLOCATED not in key
        if asset.type == "Node":
            assert asset.node_type
            assert asset.cpu_cores is not None
            assert asset.cpu_cores > 0
        if asset.type == "Disk":
            assert asset.bytes is not None
            assert asset.bytes > 0
            assert asset.volume_name == asset.properties.name


def test_oracle_assets_have_the_documented_mix() -> None:
    path = FIXTURES / "assets_window7d_oracle-oke_opencost-ui.json"
    if not path.exists():
        pytest.skip(f"{path.name} not present")
    assets = (msgspec.json.decode(path.read_bytes(), type=AssetResponse).data or {}).values()
    assert Counter(asset.type for asset in assets) == {
        "Node": 46,
        "Disk": 6,
        "LoadBalancer": 1,
        "ClusterManagement": 1,
    }
    disks = [asset for asset in assets if asset.type == "Disk"]
    assert all(disk.claim_name and disk.claim_namespace for disk in disks)


@pytest.mark.parametrize("path", OTHER_FILES, ids=lambda p: p.name)
def test_other_fixtures_are_valid_json(path: Path) -> None:
    assert isinstance(json.loads(path.read_bytes()), dict)


# --- the same bytes through the real client over HTTP ---------------------------------------------
@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


@pytest.mark.parametrize("path", ALLOCATION_FILES + ASSET_FILES, ids=lambda p: p.name)
async def test_client_decodes_the_genuine_bytes_served_over_http(
    path: Path, http: httpx.AsyncClient
) -> None:
    body = GENUINE[path]
    with OpenCostStandIn(responder=lambda _path, _params: (200, "application/json", body)) as oc:
        client = OpenCostClient(oc.url, http, cluster_name="oke", clock=FakeClock(NOW))
        query = AllocationQuery(start=datetime(2026, 1, 9, tzinfo=UTC), end=NOW)
        if path.name.startswith("allocation_"):
            data = await client.allocations(query)
            expected = sum(len(s) for s in json.loads(body)["data"])
            assert len(data.rows()) == expected
            assert {row.cluster for row in data.rows()} == {"oke"}
        else:
            assets = await client.assets(query.start, query.end)
            assert len(assets.assets) == len(json.loads(body)["data"])
