"""Fuzzing the two doors strangers control: the `/cost` text and OpenCost's JSON.

Whatever comes in, `run_command` answers with a Reply whose blocks Slack accepts (≤ 50 blocks,
≤ 3000 characters per text, …) and never raises.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import structlog
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.redis import async_client
from bot.runtime import Runtime
from bot.settings import Settings
from demo.identity import demo_directory, demo_identity_map
from demo.parts import demo_parts
from demo.rbac import DEMO_RBAC, StaticRbac, StaticRbacAuthorizer
from handlers.deps import Deps
from handlers.listeners.commands import Asker, run_command
from handlers.render.limits import MAX_BLOCKS
from handlers.render.reply import Reply
from handlers.render.validate import validate
from services.access.identity import FixedMap
from services.access.models import Identity
from services.access.policy import AccessPolicy
from services.access.resolver import IdentityResolver
from services.audit.log import AuditLog
from services.audit.redis_stream import RedisAuditStream
from services.costs.service import CostService
from services.opencost.client import OpenCostClient
from services.recommendations.actions import RecommendationActions
from services.recommendations.board import RecommendationBoard
from services.recommendations.engine import OptimizationService
from services.recommendations.models import StaticHpaSource
from services.recommendations.store import RecommendationStore
from tests.bot_harness import seed_slack_users
from tests.conftest import FakeClock
from tests.redis_server import RedisServer
from tests.standins.slack import SlackStandIn

USERS = ("U0DEMOADMIN", "U0ALICE", "U0BOB", "U0CAROL", "U0DAVE", "U0MALLORY", "U0NOBODY")
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def assert_slack_accepts(reply: Reply, what: str) -> None:
    assert isinstance(reply, Reply), what
    assert reply.blocks, f"{what}: no blocks"
    assert len(reply.blocks) <= MAX_BLOCKS, what
    problems = validate(reply.blocks)
    assert not problems, f"{what}: {problems}"
    assert reply.text.strip(), f"{what}: no notification text"


@dataclass
class Demo:
    """The demo installation in-process: Runtime over the demo data, on its own loop."""

    loop: asyncio.AbstractEventLoop
    runtime: Runtime
    deps: Deps  # the runtime's, with a cheap chart
    identities: dict[str, Identity]

    def ask(self, user: str, text: str) -> Reply:
        asker = Asker(self.identities[user], user, "C0FUZZ", text)
        result: Reply = self.loop.run_until_complete(run_command(self.deps, asker))
        return result


def _tiny_png(*_: Any, **__: Any) -> bytes:
    """Charts have their own tests; rendering one per example would only cost time."""
    return b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def fuzz_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private redis-server: other tests flush or stop the shared one between examples."""
    server = RedisServer(tmp_path_factory.mktemp("fuzz-redis"), persist=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def demo_slack() -> Iterator[SlackStandIn]:
    """Digest commands look up the asker's time zone with users.info."""
    with SlackStandIn() as slack:
        seed_slack_users(slack)
        yield slack


@pytest.fixture(scope="module")
def demo(
    fuzz_redis: RedisServer, demo_slack: SlackStandIn, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    loop = asyncio.new_event_loop()
    config = Settings(
        slack_bot_token="xoxb-test",
        redis_url=fuzz_redis.url,
        data_dir=tmp_path_factory.mktemp("fuzz-data"),
        admin_groups="platform-admins",
    )
    runtime = loop.run_until_complete(
        Runtime.start(config, slack_api_url=demo_slack.url, demo=demo_parts())
    )
    resolver = IdentityResolver(
        FixedMap(demo_identity_map()), demo_directory(), None, runtime.clock
    )
    identities = {user: loop.run_until_complete(resolver.resolve(user)) for user in USERS}
    assert identities["U0DEMOADMIN"].mapped
    assert not identities["U0MALLORY"].mapped
    ready = Demo(loop, runtime, replace(runtime.deps, chart=_tiny_png), identities)
    assert "$" in ready.ask("U0DEMOADMIN", "summary").text  # routes are wired, data flows
    try:
        yield ready
    finally:
        loop.run_until_complete(runtime.aclose())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


# --- /cost text ---------------------------------------------------------------------------------
WINDOWS = [
    "24h",
    "7d",
    "30d",
    "2w",
    "today",
    "yesterday",
    "week",
    "lastweek",
    "month",
    "lastmonth",
    "2026-11-01..2026-11-07",
    "2020-01-01..2020-01-02",
    "2026-13-01..2026-14-01",
    "0d",
    "1m",
    "9999d",
    "3w",
    "48",
    "hours",
]
NAMESPACES = ["payments", "checkout", "search", "web", "kube-system", "nope", "Payments", "a" * 70]
ODD = (
    "<!channel>",
    "<@U123>",
    "<https://evil|x>",
    "&",
    "&amp;",
    "*",
    "`",
    "```",
    "_",
    "~",
    ">",
    "\u200b",
    "\u202e",
    "ｓｕｍｍａｒｙ",
    "😀",
    "—",
    "…",
    '"',
    "'",
    "\\",
    "\t",
    "\n",
    "%s",
    "{0}",
)
window = st.sampled_from(["", "", *WINDOWS])
namespace = st.sampled_from(NAMESPACES)
label_pair = st.sampled_from(["team=payments", "team=search", "app=api", "team=", "=x", "k=v=w"])
scope = st.one_of(
    st.just(""),
    namespace.map("namespace {}".format),
    namespace.map("ns {}".format),
    label_pair.map("label {}".format),
    st.sampled_from(["cluster demo-cluster", "cluster", "all"]),
)
dimension = st.sampled_from(
    [
        "",
        "by namespace",
        "by controller",
        "by pod",
        "by node",
        "by cluster",
        "by label:team",
        "by label:",
        "by shoe size",
    ]
)
count = st.one_of(st.just(""), st.integers(min_value=-3, max_value=10**6).map(str))
command = st.one_of(
    st.tuples(st.sampled_from(["summary", ""]), window),
    st.tuples(st.sampled_from(["ns", "namespace"]), namespace, window),
    st.tuples(st.just("top"), count, dimension, window),
    st.tuples(st.just("label"), label_pair, window),
    st.tuples(st.sampled_from(["compare", "trend"]), scope, window),
    st.tuples(
        st.sampled_from(["recs", "recommendations", "savings"]), scope, st.sampled_from(["", "all"])
    ),
    st.tuples(st.sampled_from(["whoami", "help", "help top", "audit", "audit 5", "audit -1"])),
    st.tuples(
        st.sampled_from(
            [
                "digest list",
                "digest preview",
                "digest",
                "digest subscribe weekly mon at 09:00",
                "digest subscribe daily at 25:00",
                "digest subscribe weekly fri tz Europe/Berlin ns payments",
                'digest subscribe cron "*/5 * * * *"',
                "digest unsubscribe d0000",
                "budget list",
                "budget set namespace payments 1500/month",
                "budget set label team=search -5/month",
                "budget remove b0000",
            ]
        ),
        window,
    ),
).map(lambda parts: " ".join(p for p in parts if p))
noise = st.one_of(
    st.sampled_from(ODD),
    st.sampled_from(WINDOWS),
    st.integers(min_value=-(10**6), max_value=10**21).map(str),
    st.text(max_size=12),
)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A well-formed command, often bent: a token inserted, dropped, or its case changed."""
    words = draw(command).split()
    how = draw(st.sampled_from(["as is", "as is", "insert", "drop", "upper", "spaces"]))
    if how == "insert":
        words.insert(draw(st.integers(0, len(words))), draw(noise))
    elif how == "drop" and words:
        words.pop(draw(st.integers(0, len(words) - 1)))
    elif how == "upper":
        return " ".join(words).upper()
    elif how == "spaces":
        return "  \t ".join(words) + "   "
    return " ".join(words)


cost_text = st.one_of(
    mutated(),
    mutated(),
    mutated(),
    st.lists(noise, max_size=6).map(" ".join),
    st.text(max_size=60),
    st.text(min_size=2000, max_size=4000),  # Slack allows long command text
)


@given(text=cost_text, user=st.sampled_from(USERS))
@FUZZ
def test_any_cost_text_gets_a_reply_slack_accepts(demo: Demo, text: str, user: str) -> None:
    reply = demo.ask(user, text)
    event("answered with figures" if "$" in reply.text else "answered in words")
    assert_slack_accepts(reply, f"{user}: /cost {text!r}")


# --- OpenCost response shapes -------------------------------------------------------------------
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NUMBER_FIELDS = [
    "minutes",
    "cpuCores",
    "cpuCoreRequestAverage",
    "cpuCoreUsageAverage",
    "cpuCoreHours",
    "cpuCost",
    "cpuCostAdjustment",
    "cpuEfficiency",
    "gpuCount",
    "gpuHours",
    "gpuCost",
    "networkTransferBytes",
    "networkReceiveBytes",
    "networkCost",
    "loadBalancerCost",
    "pvBytes",
    "pvByteHours",
    "pvCost",
    "ramBytes",
    "ramByteRequestAverage",
    "ramByteUsageAverage",
    "ramByteHours",
    "ramCost",
    "ramCostAdjustment",
    "ramEfficiency",
    "externalCost",
    "sharedCost",
    "totalCost",
    "totalEfficiency",
]

name = st.one_of(
    st.sampled_from(["payments", "search", "web", "", "__idle__", "__unallocated__"]),
    st.text(max_size=80),
)
number = st.one_of(
    st.floats(min_value=0, max_value=1e4),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 1e308, -1e308, 5e-324, 10**30]),
    st.none(),
)
wrong = st.one_of(st.text(max_size=5), st.booleans(), st.lists(st.integers(), max_size=2))
maybe_wrong_number = st.one_of(number, number, number, wrong, st.just("NaN"))
moment = st.one_of(
    st.sampled_from(
        [
            (NOW - timedelta(days=d)).strftime("%Y-%m-%dT%H:%M:%SZ")
            for d in (0, 1, 2, 3, 6, 7, 13, 14, 30)
        ]
    ),
    st.sampled_from(["", "null", "0001-01-01T00:00:00Z", "not a time", "2026-02-30T00:00:00Z"]),
)


@st.composite
def allocation(draw: st.DrawFn) -> dict[str, Any]:
    props: dict[str, Any] = {
        key: draw(name)
        for key in ("cluster", "namespace", "controllerKind", "controller", "pod", "container")
        if draw(st.booleans())
    }
    if draw(st.booleans()):
        props["labels"] = draw(st.dictionaries(name, name, max_size=3))
    if draw(st.integers(0, 30)) == 0:
        props["namespace"] = draw(wrong)
    row: dict[str, Any] = {
        "name": draw(name),
        "properties": props,
        "window": {"start": draw(moment), "end": draw(moment)},
        "start": draw(moment),
        "end": draw(moment),
    }
    for field in draw(st.lists(st.sampled_from(NUMBER_FIELDS), max_size=12, unique=True)):
        row[field] = draw(maybe_wrong_number if draw(st.integers(0, 20)) == 0 else number)
    if draw(st.booleans()):
        row["rawAllocationOnly"] = draw(
            st.one_of(
                st.none(),
                st.fixed_dictionaries({"cpuCoreUsageMax": number, "ramByteUsageMax": number}),
            )
        )
    return row


@st.composite
def asset(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "type": draw(st.sampled_from(["Node", "Disk", "LoadBalancer", "", "Cloud"])),
        "properties": {"category": draw(name), "cluster": draw(name), "name": draw(name)},
        "start": draw(moment),
        "end": draw(moment),
        "minutes": draw(number),
        "totalCost": draw(number),
        "bytes": draw(number),
        "claimName": draw(st.sampled_from(["", "data", "<!channel>"])),
        "claimNamespace": draw(name),
        "storageClass": draw(name),
    }


def envelope(data: Any) -> Any:
    return st.one_of(
        st.fixed_dictionaries({"code": st.just(200), "data": data}),
        st.fixed_dictionaries({"code": st.just(200), "data": data}),
        st.fixed_dictionaries({"code": st.just(200), "status": st.just("success"), "data": data}),
        st.fixed_dictionaries(
            {"code": st.sampled_from([200, 400, 500, 0, -1]), "data": data, "message": name}
        ),
        st.fixed_dictionaries({"code": st.just(200), "data": st.one_of(st.none(), wrong)}),
    )


allocation_body = envelope(
    st.lists(st.dictionaries(name, allocation(), max_size=6), max_size=15)
).map(json.dumps)
asset_body = envelope(st.dictionaries(name, asset(), max_size=5)).map(json.dumps)
raw_body = st.one_of(
    st.binary(max_size=200).map(lambda raw: raw.decode("latin-1")),
    st.just('{"code":200,"data":[{"a":'),
    st.just('{"code":200,"data":[{"a":{"totalCost":Infinity}}]}'),
    st.just('{"code":200,"data":[{"a":{"totalCost":1e999}}]}'),
    st.just("[]"),
    st.just("null"),
)
CHECKS = (
    "summary 7d",
    "top 10 by controller",
    "ns payments",
    "label team=search",
    "compare",
    "trend 14d",
    "recs",
    "whoami",
)


@dataclass
class Served:
    """What the fake OpenCost currently answers (set per example)."""

    status: int = 200
    allocation: str = "{}"
    assets: str = "{}"

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = self.assets if request.url.path.endswith("/assets") else self.allocation
        return httpx.Response(self.status, text=body, headers={"Content-Type": "application/json"})


@pytest.fixture(scope="module")
def shapes(fuzz_redis: RedisServer) -> Iterator[tuple[asyncio.AbstractEventLoop, Deps, Served]]:
    """The real client → CostService → policy → handlers, over an httpx transport that serves
    whatever the example says (the demo's own seam, not a patch)."""
    loop = asyncio.new_event_loop()
    served = Served()
    clock = FakeClock(NOW)
    http = httpx.AsyncClient(transport=httpx.MockTransport(served.handle), timeout=5)
    source = OpenCostClient("http://opencost.fuzz", http, retries=0, clock=clock, cooldown=0)
    redis: aioredis.Redis = async_client(fuzz_redis.url)
    costs = CostService(source, clock)
    access = AccessPolicy(StaticRbacAuthorizer(StaticRbac(DEMO_RBAC)), "list", "pods", "")
    audit = AuditLog(
        RedisAuditStream(redis, prefix="costbot:fuzz:"), structlog.get_logger("fuzz"), clock
    )
    board = RecommendationBoard(
        OptimizationService(source, StaticHpaSource([]), clock),
        RecommendationStore(redis, clock, prefix="costbot:fuzz:"),
    )
    deps = Deps(
        costs=costs,
        access=access,
        audit=audit,
        clock=clock,
        admin_groups=frozenset({"platform-admins"}),
        chart=_tiny_png,
        recs=board,
        rec_actions=RecommendationActions(board, costs, access, audit, clock),
    )
    try:
        yield loop, deps, served
    finally:
        loop.run_until_complete(http.aclose())
        loop.run_until_complete(redis.aclose())
        loop.close()


ADMIN = Identity("U0DEMOADMIN", "admin@demo.example", ("platform-admins",), "explicit")
ALICE = Identity("U0ALICE", "alice@demo.example", ("payments-devs",), "explicit")


@given(
    allocations=st.one_of(allocation_body, allocation_body, raw_body),
    assets=st.one_of(asset_body, raw_body),
    status=st.sampled_from([200, 200, 200, 200, 200, 400, 404, 500, 502]),
)
@FUZZ
def test_any_opencost_answer_gets_a_reply_slack_accepts(
    shapes: tuple[asyncio.AbstractEventLoop, Deps, Served],
    allocations: str,
    assets: str,
    status: int,
) -> None:
    loop, deps, served = shapes
    served.status, served.allocation, served.assets = status, allocations, assets
    for identity in (ADMIN, ALICE):
        for text in CHECKS:
            asker = Asker(identity, identity.slack_user_id, "C0FUZZ", text)
            reply = loop.run_until_complete(run_command(deps, asker))
            event(f"{text}: {'figures' if '$' in reply.text else 'words'}")
            assert_slack_accepts(
                reply, f"{identity.slack_user_id}: {text} over {allocations[:300]}"
            )


# --- what the fuzzing shook out ---------------------------------------------------------------
def test_absurd_numbers_from_opencost_are_read_as_null_not_summed_into_an_overflow(
    shapes: tuple[asyncio.AbstractEventLoop, Deps, Served],
) -> None:
    """`math.fsum` raised OverflowError on two rows costing ±1e308: an unhandled exception and
    "Something went wrong" instead of an answer."""
    loop, deps, served = shapes
    window = {"start": "2026-11-19T00:00:00Z", "end": "2026-11-20T00:00:00Z"}

    def row(namespace: str, cost: float) -> dict[str, Any]:
        return {
            "name": namespace,
            "properties": {"namespace": namespace},
            "window": window,
            **window,
            "minutes": 1440,
            "cpuCost": cost,
            "ramCost": -cost,
            "totalCost": cost,
        }

    rows = {"a": row("payments", 1e308), "b": row("checkout", 1e308), "c": row("search", 12.5)}
    body = {"code": 200, "data": [rows]}
    served.status, served.allocation, served.assets = 200, json.dumps(body), '{"code":200}'
    asker = Asker(ADMIN, ADMIN.slack_user_id, "C0FUZZ", "summary 7d")
    reply = loop.run_until_complete(run_command(deps, asker))
    assert_slack_accepts(reply, "summary over 1e308")
    assert "$12.50" in reply.text, reply.text


def test_compare_headline_percent_matches_its_own_amounts(demo: Demo) -> None:
    """ "$2,873.27 vs $2,876.06 (−$2.78, −9.7%)" was a 0.097 % change shown as 9.7 %:
    `cost_maths.percent_change` returns percent and `format.pct` multiplied by 100 again."""
    reply = demo.ask("U0DEMOADMIN", "compare 7d")
    text = reply.text
    found = re.search(r"\*\$([\d,.]+)\* vs \$([\d,.]+) \(.*?, ([+\u2212]?[\d,.]+)%\)", text)
    assert found, text
    now, before, shown = (float(g.replace(",", "").replace("\u2212", "-")) for g in found.groups())
    expected = (now - before) / before * 100
    assert math.isclose(shown, round(expected, 1), abs_tol=0.11), (shown, expected, text)
