"""pytest fixtures for the Slack and OpenCost stand-ins, plus our own OpenCost JSON fixtures.

Loaded by `pytest_plugins = ["tests.standins.fixtures"]` in tests/conftest.py. Each stand-in
is a real loopback server, started before and stopped after every test that asks for it.

Files under tests/fixtures/opencost/ (hand-made, OpenCost v1.112 shape):
- allocation_container_two_clusters.json: one set, default (container-level) aggregation, 8 rows
  in clusters prod-eu (payments, checkout, kube-system) and staging-us (payments, search).
- allocation_namespace_step1d_first_day_empty.json: aggregate=namespace&step=1d over 3 days;
  the first set is `{}` and the last has an `__idle__` row, as OpenCost really answers.
- assets_prod_eu_unclaimed_disk.json: `{code,data}` (no status), numbers printed `%f`-style;
  2 Nodes, a claimed Disk and an unclaimed Disk (empty claimName).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.standins.opencost import OpenCostStandIn
from tests.standins.slack import SlackStandIn

OPENCOST_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "opencost"
SIGNING_SECRET = "test-signing-secret"


def load_opencost_fixture(name: str) -> dict[str, Any]:
    """One of our OpenCost JSON files by file name (with or without `.json`)."""
    path = OPENCOST_FIXTURES / (name if name.endswith(".json") else f"{name}.json")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


@pytest.fixture
def signing_secret() -> str:
    return SIGNING_SECRET


@pytest.fixture
def slack_api() -> Iterator[SlackStandIn]:
    """A fresh Slack Web API + Socket Mode stand-in; token "xoxb-test", app token "xapp-test"."""
    with SlackStandIn() as standin:
        yield standin


@pytest.fixture
def opencost_server() -> Iterator[OpenCostStandIn]:
    """A fresh OpenCost stand-in serving allocation_container_two_clusters.json and the assets."""
    allocations = load_opencost_fixture("allocation_container_two_clusters")
    assets = load_opencost_fixture("assets_prod_eu_unclaimed_disk")
    with OpenCostStandIn(allocations["data"], assets["data"]) as standin:
        yield standin
