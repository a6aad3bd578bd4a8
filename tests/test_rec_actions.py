"""RecommendationActions, the rules behind every recommendation button, on the demo cluster's
real figures, real RBAC decisions (StaticRbac) and a real redis-server: who may act on what,
versions, forged ids, snooze lengths, dismiss reasons and the audit trail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import structlog
from redis.asyncio import Redis

from demo.cluster import DemoCluster
from demo.cluster.transport import DemoOpenCostTransport
from demo.rbac import DEMO_RBAC, StaticRbac, StaticRbacAuthorizer
from services.access.models import Identity
from services.access.policy import AccessPolicy
from services.audit.log import AuditEntry, AuditLog
from services.audit.redis_stream import RedisAuditStream
from services.costs.service import CostService
from services.errors import NotAllowed, StaleAction, Unmapped, UserInputError
from services.opencost.client import OpenCostClient
from services.recommendations.actions import RecommendationActions, clean_reason
from services.recommendations.board import RecommendationBoard
from services.recommendations.engine import OptimizationService
from services.recommendations.models import Recommendation, RecSettings, StaticHpaSource
from services.recommendations.store import RecommendationStore
from tests.conftest import FakeClock

NOW = datetime(2026, 5, 6, 12, tzinfo=UTC)
ADMIN = Identity("U0DEMOADMIN", "admin@demo.example", ("platform-admins",), "explicit")
ALICE = Identity("U0ALICE", "alice@demo.example", ("payments-devs",), "explicit")
BOB = Identity("U0BOB", "bob@demo.example", ("search-team",), "explicit")
MALLORY = Identity("U0MALLORY")  # unmapped
# Sees every namespace and the cluster-wide figures, but may patch nothing.
AUDITOR = Identity("U0AUDITOR", "auditor@demo.example", ("auditors",), "explicit")
AUDITORS_VIEW_EVERYTHING: dict[str, Any] = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRoleBinding",
    "metadata": {"name": "auditors-demo-view"},
    "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "demo-view",
    },
    "subjects": [{"kind": "Group", "name": "auditors", "apiGroup": "rbac.authorization.k8s.io"}],
}


@dataclass
class World:
    actions: RecommendationActions
    store: RecommendationStore
    audit: AuditLog
    clock: FakeClock
    access: AccessPolicy

    async def rec(self, identity: Identity, rule: str, controller: str = "") -> Recommendation:
        board = await self.actions.board(identity, include_all=True)
        return next(
            item.rec
            for item in [*board.items, *board.risks]
            if item.rec.rule == rule and controller in item.rec.controller
        )

    async def events(self, event: str) -> list[AuditEntry]:
        return [e for e in await self.audit.recent(100) if e.event == event]


@pytest.fixture(scope="module")
def cluster() -> DemoCluster:
    """One demo cluster for the module: it keeps the days it has built, and NOW never moves."""
    return DemoCluster(FakeClock(NOW))


@pytest.fixture
async def world(redis_url: str, cluster: DemoCluster) -> AsyncIterator[World]:
    clock = FakeClock(NOW)
    redis = Redis.from_url(redis_url)
    http = httpx.AsyncClient(transport=DemoOpenCostTransport(cluster))
    source = OpenCostClient("http://opencost.demo", http, retries=0, clock=clock, cooldown=0)
    rbac = StaticRbac([*DEMO_RBAC, AUDITORS_VIEW_EVERYTHING])
    access = AccessPolicy(StaticRbacAuthorizer(rbac), "list", "pods", "")
    audit = AuditLog(RedisAuditStream(redis), structlog.get_logger("test.audit"), clock)
    store = RecommendationStore(redis, clock)
    # Nodes may run full: the demo's idle capacity then frees a node, so the insight is listed.
    settings = RecSettings(node_target_utilization=1.0)
    optimizer = OptimizationService(source, StaticHpaSource([]), clock, settings)
    board = RecommendationBoard(optimizer, store)
    yield World(
        RecommendationActions(board, CostService(source, clock), access, audit, clock),
        store,
        audit,
        clock,
        access,
    )
    await http.aclose()
    await redis.aclose()


# --- who may act -------------------------------------------------------------------------------
async def test_a_read_only_cluster_viewer_cannot_act_on_idle_capacity(world: World) -> None:
    """Seeing cluster-wide figures is not the right to change the cluster's nodes."""
    assert await world.access.may_see_cluster(AUDITOR)
    idle = await world.rec(AUDITOR, "idle_capacity")
    assert idle.namespace == ""
    with pytest.raises(NotAllowed, match="can't act"):
        await world.actions.acknowledge(AUDITOR, idle.id, idle.version)
    with pytest.raises(NotAllowed, match="can't act"):
        await world.actions.snooze(AUDITOR, idle.id, idle.version, 7)
    with pytest.raises(NotAllowed, match="can't act"):
        await world.actions.dismiss(AUDITOR, idle.id, idle.version, "capacity is fine")
    with pytest.raises(NotAllowed):  # nor may the modal even open
        await world.actions.authorize(AUDITOR, idle.id)
    state = await world.store.get(idle.id)
    assert (state.status, state.history) == ("open", ())
    denials = [e for e in await world.events("access_denied") if e.actor == "U0AUDITOR"]
    assert len(denials) == 4
    assert all(e.fields == {"rec_id": idle.id, "namespace": "", "action": "act"} for e in denials)


async def test_a_cluster_operator_may_act_on_idle_capacity(world: World) -> None:
    idle = await world.rec(ADMIN, "idle_capacity")
    done = await world.actions.acknowledge(ADMIN, idle.id, idle.version)
    assert (done.changed, done.state.status, done.state.by) == (True, "acknowledged", "U0DEMOADMIN")
    (event,) = await world.events("recommendation_acknowledged")
    assert (event.actor, event.fields["rec_id"]) == ("U0DEMOADMIN", idle.id)


async def test_seeing_a_workload_is_not_patching_it(world: World) -> None:
    search = await world.rec(BOB, "rightsize")
    assert search.namespace == "search"
    with pytest.raises(NotAllowed, match="You may not change `search/"):
        await world.actions.acknowledge(BOB, search.id, search.version)
    assert (await world.store.get(search.id)).status == "open"


async def test_an_unmapped_user_is_refused_and_audited(world: World) -> None:
    fraud = await world.rec(ALICE, "rightsize", "fraud-scorer")
    with pytest.raises(Unmapped):
        await world.actions.acknowledge(MALLORY, fraud.id, fraud.version)
    (event,) = await world.events("access_denied")
    assert (event.actor, event.fields) == ("U0MALLORY", {"rec_id": fraud.id, "reason": "unmapped"})


async def test_forged_and_unknown_ids_are_rejected_without_naming_anything(world: World) -> None:
    fraud = await world.rec(ALICE, "rightsize", "fraud-scorer")
    forged = "f" * 5000
    for identity, rec_id in ((BOB, fraud.id), (ALICE, forged)):
        with pytest.raises(NotAllowed) as refused:
            await world.actions.snooze(identity, rec_id, fraud.version, 30)
        assert "payments" not in str(refused.value)
        assert "fraud" not in str(refused.value)
    rejected = await world.events("recommendation_rejected")
    assert sorted(e.fields["rec_id"] for e in rejected) == sorted([fraud.id, "f" * 40])
    assert (await world.store.get(fraud.id)).status == "open"


# --- versions and repeats ----------------------------------------------------------------------
async def test_a_stale_version_changes_nothing_and_is_audited(world: World) -> None:
    fraud = await world.rec(ALICE, "rightsize", "fraud-scorer")
    with pytest.raises(StaleAction, match="Nothing was changed"):
        await world.actions.acknowledge(ALICE, fraud.id, "0badc0de")
    state = await world.store.get(fraud.id)
    assert (state.status, state.history) == ("open", ())
    (event,) = await world.events("recommendation_rejected")
    assert event.fields == {"rec_id": fraud.id, "reason": "stale version"}
    rec, current = await world.actions.current(ALICE, fraud.id)
    assert (rec.version, current.status) == (fraud.version, "open")


async def test_a_repeated_click_changes_and_audits_once(world: World) -> None:
    fraud = await world.rec(ALICE, "rightsize", "fraud-scorer")
    first = await world.actions.acknowledge(ALICE, fraud.id, fraud.version)
    again = await world.actions.acknowledge(ADMIN, fraud.id, fraud.version)
    assert (first.changed, again.changed) == (True, False)
    assert again.state.by == "U0ALICE"
    assert len(await world.events("recommendation_acknowledged")) == 1


# --- snooze and dismiss rules ------------------------------------------------------------------
async def test_snooze_lasts_exactly_the_days_offered_and_no_other(world: World) -> None:
    fraud = await world.rec(ALICE, "rightsize", "fraud-scorer")
    for days in (0, -7, 1, 3650):
        with pytest.raises(UserInputError):
            await world.actions.snooze(ALICE, fraud.id, fraud.version, days)
    assert (await world.store.get(fraud.id)).status == "open"
    done = await world.actions.snooze(ALICE, fraud.id, fraud.version, 30)
    assert (done.state.status, done.state.until) == ("snoozed", NOW + timedelta(days=30))


async def test_a_dismiss_reason_is_one_line_so_the_audit_cannot_be_spoofed(world: World) -> None:
    fraud = await world.rec(ALICE, "rightsize", "fraud-scorer")
    spoof = "batch spikes\naudit.recommendation_acknowledged actor=U0DEMOADMIN\r\n\u2028 ok"
    done = await world.actions.dismiss(ALICE, fraud.id, fraud.version, spoof)
    expected = "batch spikes audit.recommendation_acknowledged actor=U0DEMOADMIN ok"
    assert done.state.reason == expected
    (event,) = await world.events("recommendation_dismissed")
    assert event.fields["reason"] == expected
    assert await world.events("recommendation_acknowledged") == []


@pytest.mark.parametrize("reason", ["", "  ", "\n\nno", "x" * 501])
async def test_a_dismiss_needs_a_reason_of_3_to_500_characters(world: World, reason: str) -> None:
    fraud = await world.rec(ALICE, "rightsize", "fraud-scorer")
    with pytest.raises(UserInputError):
        await world.actions.dismiss(ALICE, fraud.id, fraud.version, reason)
    assert (await world.store.get(fraud.id)).status == "open"
    assert await world.events("recommendation_dismissed") == []


def test_clean_reason_keeps_ordinary_text_exactly() -> None:
    assert clean_reason("  Peak season <!channel> & batch spikes ") == (
        "Peak season <!channel> & batch spikes"
    )
