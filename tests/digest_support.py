"""In-memory fakes and builders shared by the digest and budget tests (and the replica script).

Fakes implement our own Protocols only (CostSource, ChatPoster, Clock); Redis is always real.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import msgspec
import structlog
from redis.asyncio import Redis

from demo.rbac import DEMO_RBAC, StaticRbac, StaticRbacAuthorizer
from handlers.render.digest import DigestBlocks
from services.access.models import Identity
from services.access.policy import AccessPolicy
from services.audit.log import AuditLog
from services.audit.redis_stream import RedisAuditStream
from services.costs.service import CostService
from services.digests import (
    BudgetService,
    DeliveryGuard,
    DigestRunner,
    DigestService,
    DigestStore,
    Subscription,
)
from services.digests.content import DigestContent, RecsDigestSource
from services.digests.models import Budget
from services.digests.redis_delivery import RedisDeliveryGuard
from services.digests.redis_store import RedisDigestStore
from services.errors import ChatUnavailable
from services.opencost.models import IDLE, Allocation, AllocationData, AllocationQuery, AssetData
from tests.conftest import FakeClock

DAY = timedelta(days=1)
CHANNEL = "C0TEAM"
ADMIN = Identity("U0ADMIN", k8s_user="admin", groups=("platform-admins",), source="explicit")
ALICE = Identity("U0ALICE", k8s_user="alice", groups=("payments-devs",), source="explicit")
BOB = Identity("U0BOB", k8s_user="bob", groups=("search-team",), source="explicit")
NOBODY = Identity("U0GONE")  # unmapped
# Dollars per day per namespace; payments/checkout are Alice's, search is Bob's.
RATES = {"payments": 100.0, "checkout": 40.0, "search": 60.0, "monitoring": 20.0, IDLE: 30.0}


Rate = Callable[[str, date], float]


class FakeCostSource:
    """Every namespace costs `rate(ns, day)` per UTC day, spread evenly over the day; any
    window, any step, with efficiency 50 % (usage is half the CPU request)."""

    def __init__(self, rate: Rate | None = None, namespaces: dict[str, float] | None = None):
        self.rates = dict(namespaces or RATES)
        self.rate: Rate = rate or (lambda ns, _day: self.rates.get(ns, 0.0))
        self.queries: list[AllocationQuery] = []

    async def allocations(self, query: AllocationQuery) -> AllocationData:
        self.queries.append(query)
        if query.step == "1d":
            pieces = _days(query.start, query.end)
            return AllocationData(steps=[self._rows(a, b, True) for a, b in pieces], fetched_at=0.0)
        return AllocationData(steps=[self._rows(query.start, query.end, False)], fetched_at=0.0)

    async def assets(self, start: datetime, end: datetime) -> AssetData:
        return AssetData(assets=[], fetched_at=0.0)

    def _rows(self, start: datetime, end: datetime, stamped: bool) -> list[Allocation]:
        rows = []
        for ns in self.rates:
            cost = sum(self.rate(ns, a.date()) * (b - a) / DAY for a, b in _days(start, end))
            if cost <= 0:
                continue
            stamp = start.strftime("%Y-%m-%dT%H:%M:%SZ") if stamped else None
            if ns == IDLE:
                rows.append(alloc(IDLE, cost, stamp))
                continue
            minutes = (end - start).total_seconds() / 60
            rows.append(
                alloc(
                    ns,
                    cost,
                    stamp,
                    minutes=minutes,
                    cpuCost=cost,
                    cpuCoreRequestAverage=1.0,
                    cpuCoreUsageAverage=0.5,
                )
            )
        return rows


def alloc(namespace: str, cost: float, stamp: str | None, **fields: Any) -> Allocation:
    """A container-level row as OpenCost prints it (no pytest imports: replicas load this)."""
    props = {"cluster": "prod", "node": "node-a"}
    name = f"prod/{IDLE}"
    if namespace != IDLE:
        props |= {
            "namespace": namespace,
            "pod": f"{namespace}-pod",
            "container": "app",
            "controller": namespace,
            "controllerKind": "deployment",
        }
        name = f"prod/node-a/{namespace}/{namespace}-pod/app"
    raw: dict[str, Any] = {"name": name, "properties": props, "totalCost": cost, **fields}
    if stamp is not None:
        raw["window"] = {"start": stamp, "end": None}
    return msgspec.convert(raw, Allocation)


def _days(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    pieces, cursor = [], start
    while cursor < end:
        midnight = datetime.combine(cursor.date(), time(0), UTC) + DAY
        pieces.append((cursor, min(midnight, end)))
        cursor = min(midnight, end)
    return pieces


@dataclass
class Posted:
    channel: str
    text: str
    blocks: list[dict[str, Any]]
    ts: str
    thread_ts: str | None = None
    metadata: dict[str, Any] | None = None


@dataclass
class FakeChat:
    """ChatPoster in memory; `fail(code, times)` makes the next posts raise ChatUnavailable."""

    posts: list[Posted] = field(default_factory=list)
    uploads: list[tuple[str, bytes]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    history_checks: int = 0
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def fail(self, code: str, times: int = 1) -> None:
        self.failures += [code] * times

    async def post(
        self,
        channel: str,
        text: str,
        blocks: Any,
        *,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        if self.failures:
            code = self.failures.pop(0)
            raise ChatUnavailable(f"chat.postMessage failed: {code}", code)
        ts = f"1700000000.{next(self._ts):06d}"
        self.posts.append(Posted(channel, text, list(blocks), ts, thread_ts, metadata))
        return ts

    async def find_by_metadata(
        self, channel: str, event_type: str, key: str, value: str
    ) -> str | None:
        self.history_checks += 1
        for post in self.posts:
            meta = post.metadata or {}
            payload = meta.get("event_payload") or {}
            same = (post.channel, meta.get("event_type"), payload.get(key))
            if same == (channel, event_type, value):
                return post.ts
        return None

    async def upload_png(
        self,
        channel: str,
        filename: str,
        content: bytes,
        title: str,
        thread_ts: str | None = None,
    ) -> str:
        self.uploads.append((title, content))
        return f"F{len(self.uploads):04d}"

    def top_level(self, channel: str = CHANNEL) -> list[Posted]:
        return [p for p in self.posts if p.channel == channel and p.thread_ts is None]


class Identities:
    """`resolve_identity` over a dict tests can change (access lost, user gone)."""

    def __init__(self, *known: Identity) -> None:
        self.known = {identity.slack_user_id: identity for identity in known}

    async def resolve(self, user_id: str) -> Identity:
        return self.known.get(user_id, Identity(user_id))


@dataclass
class Env:
    redis: Redis
    clock: FakeClock
    chat: FakeChat
    source: FakeCostSource
    people: Identities
    outcomes: list[str]
    store: DigestStore
    guard: DeliveryGuard
    runner: DigestRunner
    digests: DigestService
    budgets: BudgetService
    costs: CostService
    access: AccessPolicy
    audit: AuditLog


def build_env(
    redis: Redis,
    clock: FakeClock,
    *,
    chat: Any = None,
    source: FakeCostSource | None = None,
    recs: RecsDigestSource | None = None,
    chart: Callable[..., bytes] | None = None,
    grace: timedelta = timedelta(hours=6),
    claim_ttl: int = 300,
    directory: Any = None,
) -> Env:
    chat = chat if chat is not None else FakeChat()
    source = source or FakeCostSource()
    people = Identities(ADMIN, ALICE, BOB)
    outcomes: list[str] = []
    costs = CostService(source, clock)
    access = AccessPolicy(StaticRbacAuthorizer(StaticRbac(DEMO_RBAC)), "list", "pods", "")
    audit = AuditLog(RedisAuditStream(redis), structlog.get_logger("test.audit"), clock)
    store = RedisDigestStore(redis)
    guard = RedisDeliveryGuard(redis, chat, clock, claim_ttl=claim_ttl, on_outcome=outcomes.append)
    renderer = DigestBlocks("USD", chart)
    runner = DigestRunner(
        store,
        guard,
        DigestContent(costs, access, recs),
        renderer=renderer,
        chat=chat,
        resolve_identity=people.resolve,
        clock=clock,
        grace=grace,
    )
    admins = frozenset({"platform-admins"})
    digests = DigestService(
        store,
        runner,
        costs,
        access=access,
        audit=audit,
        clock=clock,
        admin_groups=admins,
        directory=directory,
    )
    budgets = BudgetService(
        store,
        guard,
        costs,
        access,
        audit=audit,
        clock=clock,
        resolve_identity=people.resolve,
        renderer=renderer,
        admin_groups=admins,
    )
    return Env(
        redis,
        clock,
        chat,
        source,
        people,
        outcomes,
        store,
        guard,
        runner,
        digests,
        budgets,
        costs,
        access,
        audit,
    )


def subscription(**fields: Any) -> Subscription:
    """A stored-shape subscription with test defaults (admin, weekly Monday 09:00 UTC)."""
    base: dict[str, Any] = {
        "id": "d000001",
        "channel": CHANNEL,
        "subscriber": ADMIN.slack_user_id,
        "frequency": "weekly",
        "tz": "UTC",
        "cluster_wide": True,
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    return Subscription(**(base | fields))


def texts(blocks: list[dict[str, Any]]) -> str:
    """Every text in a message's blocks, for "says so" / "never mentions" assertions."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return "\n".join(found)


def budget(amount: float = 1000.0, **fields: Any) -> Budget:
    base: dict[str, Any] = {
        "id": "b000001",
        "channel": CHANNEL,
        "kind": "namespace",
        "target": "payments",
        "amount": amount,
        "creator": "U0ALICE",
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    return Budget(**(base | fields))
