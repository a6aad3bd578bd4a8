"""Every figure a `/cost` answer shows equals the sum of the OpenCost rows served, to the cent.

Generated container-level datasets (two clusters behind OPENCOST_CLUSTERS, several namespaces,
controllers, pods, labels, idle rows, null fields) are served by two OpenCost stand-ins; the
questions go over signed HTTP to the real bot as the cluster-wide admin, and the money figures
are read back out of the rendered blocks. Expected figures are computed here, independently,
from the JSON on the wire (parsed as Decimal), never with costbot's own maths.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.bot_harness import MovableClock, World
from tests.cost_world import (
    ADMIN,
    all_text,
    assert_money,
    cost_world,
    flush_cache,
    headline,
    money_figures,
    money_value,
    table_after,
    tables,
)
from tests.redis_server import RedisServer
from tests.standins.opencost import OpenCostStandIn, allocation_row
from tests.standins.opencost_data import allocation_envelope

NOW = datetime(2024, 3, 8, 12, 0, tzinfo=UTC)  # "7d" is then Mar 2 00:00 – Mar 8 12:00
WINDOW_START = datetime(2024, 3, 2, tzinfo=UTC)
PREVIOUS_START = datetime(2024, 2, 24, 12, 0, tzinfo=UTC)
CLUSTERS = ("east", "west")
IDLE, UNALLOCATED = "__idle__", "__unallocated__"
RESOURCE_FIELDS = {
    "cpu": ("cpuCost", "cpuCostAdjustment"),
    "gpu": ("gpuCost", "gpuCostAdjustment"),
    "ram": ("ramCost", "ramCostAdjustment"),
    "pv": ("pvCost", "pvCostAdjustment"),
    "network": ("networkCost", "networkCostAdjustment"),
    "load balancer": ("loadBalancerCost", "loadBalancerCostAdjustment"),
    "shared": ("sharedCost", "externalCost"),
}
Served = dict[str, list[dict[str, Any]]]  # config cluster → the step sets it serves


# --- the rows as served --------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One served allocation, read from the wire JSON the way OpenCost documents it."""

    cluster: str  # the configured cluster name (costbot relabels rows with it)
    wire: dict[str, Any]

    def prop(self, key: str) -> str:
        return str(self.wire.get("properties", {}).get(key, ""))

    @property
    def idle(self) -> bool:
        return bool(self.wire["name"] == IDLE)

    @property
    def cost(self) -> Decimal:
        return _dec(self.wire.get("totalCost"))

    @property
    def day(self) -> date:
        return datetime.fromisoformat(self.wire["window"]["start"].replace("Z", "+00:00")).date()

    def resource(self, name: str) -> Decimal:
        return sum((_dec(self.wire.get(f)) for f in RESOURCE_FIELDS[name]), Decimal(0))

    def label(self, key: str) -> str | None:
        sanitized = "".join(c if c.isalnum() or c == "_" else "_" for c in key)
        for where in ("labels", "namespaceLabels"):
            labels = self.wire.get("properties", {}).get(where) or {}
            for candidate in (key, sanitized):
                if candidate in labels:
                    return str(labels[candidate])
        return None


def _dec(value: Any) -> Decimal:
    return Decimal(0) if value is None else Decimal(value)


def served_rows(served: Served) -> list[Row]:
    """Every row the stand-ins serve, parsed exactly (floats as Decimal)."""
    rows = []
    for cluster, sets in served.items():
        wire = json.loads(json.dumps(allocation_envelope(sets)), parse_float=Decimal)
        rows += [Row(cluster, row) for one_set in wire["data"] for row in one_set.values()]
    return rows


def total(rows: list[Row]) -> Decimal:
    return sum((row.cost for row in rows), Decimal(0))


# --- expected groupings (the documented OpenCost keys, written out again) ------------------------
def group_key(row: Row, dimension: str) -> tuple[str, str, str]:
    """(name, namespace, cluster) of the bucket `row` falls in, as the reply should show it."""
    if dimension == "cluster":
        return (row.cluster, "", "")
    if dimension == "node":
        return (row.prop("node") or (IDLE if row.idle else UNALLOCATED), "", "")
    if row.idle:
        return (IDLE, "", "")
    namespace = row.prop("namespace")
    if dimension == "namespace":
        return (namespace or UNALLOCATED, "", "")
    if dimension == "controller":
        name, kind = row.prop("controller"), row.prop("controllerKind")
        shown = (f"{kind}:{name}" if kind else name) if name else UNALLOCATED
        return (shown, namespace, row.cluster)
    if dimension == "pod":
        return (row.prop("pod") or UNALLOCATED, namespace, row.cluster)
    value = row.label(dimension.removeprefix("label:"))
    return (UNALLOCATED if value is None else value, "", "")


def grouped(rows: list[Row], dimension: str) -> dict[tuple[str, str, str], Decimal]:
    sums: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for row in rows:
        sums[group_key(row, dimension)] += row.cost
    return dict(sums)


def display(key: tuple[str, str, str], with_namespace: bool, rows: list[Row]) -> str:
    """`cluster/namespace/name` for workloads and pods (cluster only when the answer spans
    several), plain names for everything else."""
    if not with_namespace:
        return key[0]
    several = len({row.cluster for row in rows}) > 1
    return "/".join(part for part in (key[2] if several else "", key[1], key[0]) if part)


def _same_name(shown: str, name: str) -> bool:
    """A table cell names `name`, perhaps with parts cut out ("…") to fit its column."""
    pattern = ".+".join(re.escape(piece) for piece in shown.split("…"))
    return re.fullmatch(pattern, name) is not None


def assert_ranked_rows(
    shown: list[tuple[str, str]],
    expected: dict[str, list[Decimal]],
    k: int,
    what: str,
) -> list[Decimal]:
    """`shown` (name, money) are the k costliest groups; returns the costs left unshown."""
    pool = {name: sorted(costs) for name, costs in expected.items()}
    everything = sorted((c for costs in expected.values() for c in costs), reverse=True)
    assert len(shown) == min(k, len(everything)), f"{what}: {len(shown)} rows shown"
    for name, figure in shown:
        value, half = money_value(figure)
        found = [
            (costs, cost)
            for group, costs in pool.items()
            if _same_name(name, group)
            for cost in costs
            if abs(cost - value) <= half + Decimal("1e-9")
        ]
        assert found, f"{what}: {name} {figure} is not a group of the rows {pool}"
        found[0][0].remove(found[0][1])
    rest = sorted(c for costs in pool.values() for c in costs)
    figures = [money_value(f) for _, f in shown]
    least = min((value for value, _ in figures), default=Decimal(0))
    slack = 2 * max((half for _, half in figures), default=Decimal("0.005"))
    assert not rest or rest[-1] <= least + slack, f"{what}: not the top {k}"
    return rest


# --- generated datasets --------------------------------------------------------------------------
NAMESPACES = ("payments", "search", "web", "ml-jobs", "__unmounted__", "")
CONTROLLERS = (
    ("deployment", "api"),
    ("deployment", "worker"),
    ("statefulset", "db"),
    ("job", "nightly"),
    ("", "orphan"),  # a controller OpenCost could not type
    ("", ""),  # a bare pod
)
TEAMS = ("red", "blue", "green")
money_st = st.one_of(
    st.decimals(min_value=0, max_value=250, places=5, allow_nan=False),
    st.decimals(min_value=0, max_value=4000, places=5, allow_nan=False),  # totals past $10,000
)
credit_st = st.one_of(st.just(Decimal(0)), st.decimals(min_value=-40, max_value=0, places=5))


@st.composite
def container_rows(draw: st.DrawFn, cluster: str, days: list[datetime]) -> dict[str, Any]:
    namespace = draw(st.sampled_from(NAMESPACES))
    kind, controller = draw(st.sampled_from(CONTROLLERS))
    pod = "" if namespace == "__unmounted__" else draw(st.sampled_from(("p1", "p2", "p3")))
    cpu, ram, pv, network = (float(draw(money_st)) for _ in range(4))
    labels = draw(st.one_of(st.none(), st.builds(lambda t: {"team": t}, st.sampled_from(TEAMS))))
    ns_labels = draw(
        st.one_of(
            st.none(),
            st.builds(lambda t: {"team": t}, st.sampled_from(TEAMS)),
            st.builds(lambda a: {"app_kubernetes_io_name": a}, st.sampled_from(("shop", "ml"))),
        )
    )
    day = draw(st.sampled_from(days))
    row = allocation_row(
        cluster=draw(st.sampled_from((cluster, "default-cluster"))),  # relabelled to `cluster`
        node=draw(st.sampled_from(("node-a", "node-b", ""))),
        namespace=namespace,
        controller=controller,
        kind=kind,
        pod=pod,
        container=draw(st.sampled_from(("app", "sidecar"))),
        labels=labels,
        namespace_labels=ns_labels,
        start=_z(day),
        end=_z(day + timedelta(days=1)),
        cpu_cost=cpu,
        ram_cost=ram,
        pv_cost=pv,
        network_cost=network,
    )
    credit = draw(credit_st)  # OpenCost's reconciliation adjustments may be negative
    row["cpuCostAdjustment"] = float(credit)
    row["totalCost"] = float(Decimal(str(row["totalCost"])) + credit)
    for key in draw(st.sets(st.sampled_from(("totalCost", "cpuCost", "ramCost", "minutes")))):
        if draw(st.integers(0, 3)) == 0:  # now and then OpenCost prints NaN as null
            row[key] = None
    return row


def idle_row(cluster: str, day: datetime, cost: Decimal) -> dict[str, Any]:
    return allocation_row(
        IDLE,
        cluster=cluster,
        node="",
        namespace="",
        start=_z(day),
        end=_z(day + timedelta(days=1)),
        cpu_cost=float(cost),
    )


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def daily_sets(rows: list[dict[str, Any]], days: list[datetime]) -> list[dict[str, Any]]:
    """One set per day, keyed by row name as OpenCost does (a repeated key keeps the last)."""
    sets: list[dict[str, Any]] = [{} for _ in days]
    for row in rows:
        index = days.index(datetime.fromisoformat(row["start"].replace("Z", "+00:00")))
        sets[index][row["name"]] = row
    return sets


CURRENT_DAYS = [WINDOW_START + timedelta(days=i) for i in range(7)]  # Mar 2 … Mar 8
PREVIOUS_DAYS = [datetime(2024, 2, 25, tzinfo=UTC) + timedelta(days=i) for i in range(6)]


@st.composite
def cluster_data(draw: st.DrawFn, cluster: str, days: list[datetime]) -> list[dict[str, Any]]:
    rows = draw(st.lists(container_rows(cluster, days), max_size=14))
    for day in draw(st.sets(st.sampled_from(days), max_size=3)):
        rows.append(idle_row(cluster, day, draw(money_st)))
    return daily_sets(rows, days)


@dataclass(frozen=True)
class Dataset:
    """What the two stand-ins serve for this window and the previous one."""

    current: Served
    previous: Served

    def __repr__(self) -> str:  # one short line per row, so a failing example stays readable
        lines = []
        for period, served in (("now", self.current), ("before", self.previous)):
            for row in served_rows(served):
                props = row.wire.get("properties", {})
                labels = {**(props.get("namespaceLabels") or {}), **(props.get("labels") or {})}
                lines.append(
                    f"{period} {row.cluster} {row.day:%d} {row.wire['name']} "
                    f"{props.get('controllerKind', '')}:{props.get('controller', '')} "
                    f"{labels} total={row.wire.get('totalCost')}"
                )
        return "Dataset(\n  " + "\n  ".join(lines) + "\n)"


@st.composite
def datasets(draw: st.DrawFn) -> Dataset:
    """Step sets per configured cluster, for this window and the previous one."""
    current = {c: draw(cluster_data(c, CURRENT_DAYS)) for c in CLUSTERS}
    previous = {c: draw(cluster_data(c, PREVIOUS_DAYS)) for c in CLUSTERS}
    return Dataset(current, previous)


# --- the world -----------------------------------------------------------------------------------
@dataclass(repr=False)
class Recon:
    world: World
    standins: dict[str, OpenCostStandIn]
    current: Served = field(default_factory=dict)
    previous: Served = field(default_factory=dict)

    def serve(self, current: Served, previous: Served) -> None:
        """Serve new data; the bot's cache is flushed so no earlier answer is reused."""
        self.current, self.previous = current, previous
        for name, standin in self.standins.items():
            standin.responder = self._responder(name)
        flush_cache(self.world)

    def _responder(self, name: str) -> Callable[[str, dict[str, str]], tuple[int, str, bytes]]:
        def respond(path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
            if path not in ("/allocation", "/allocation/compute"):
                return 200, "application/json", b'{"code":200,"data":{}}'
            end = params["window"].split(",")[1]
            before = datetime.fromisoformat(end.replace("Z", "+00:00")) <= WINDOW_START
            sets = (self.previous if before else self.current)[name]
            return 200, "application/json", json.dumps(allocation_envelope(sets)).encode()

        return respond

    def ask(self, text: str) -> dict[str, Any]:
        return self.world.ask(text, ADMIN)


@pytest.fixture(scope="module")
def recon(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recon]:
    if redis_server.process is None:
        redis_server.start()
    standins = {name: OpenCostStandIn().start() for name in CLUSTERS}
    try:
        with cost_world(
            redis_server.url,
            tmp_path_factory.mktemp("recon"),
            standins,
            clock=MovableClock(NOW),
        ) as world:
            yield Recon(world, standins)
    finally:
        for standin in standins.values():
            standin.stop()


EXAMPLES = settings(
    max_examples=15,
    deadline=None,
    # Each example is several HTTP round trips: report the generated example as it is (its
    # repr is one line per row) rather than spend minutes shrinking it.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- the properties ------------------------------------------------------------------------------
def check_summary(reply: dict[str, Any], rows: list[Row]) -> None:
    assert_money(headline(reply), total(rows), "summary total")
    spending = [r for r in rows if not r.idle]
    by_namespace = grouped(spending, "namespace")
    names = {key[0] for key in by_namespace} - {"", "__unmounted__", IDLE, UNALLOCATED}
    idle_cost = total([r for r in rows if r.idle])
    text = all_text(reply)
    idle_at = text.index("idle capacity")
    assert_money(text[idle_at:], idle_cost, "idle")
    if not by_namespace:
        return
    assert f"(of {len(names)})" in text
    shown, _ = table_after(reply, "Top namespaces")
    expected: dict[str, list[Decimal]] = defaultdict(list)
    for key, cost in by_namespace.items():
        expected[key[0]].append(cost)
    assert_ranked_rows([(r[0], r[1]) for r in shown], expected, 5, "top namespaces")


@EXAMPLES
@given(datasets())
def test_summary_total_namespaces_and_idle_equal_the_rows(recon: Recon, data: Dataset) -> None:
    recon.serve(data.current, data.previous)
    check_summary(recon.ask("summary 7d"), served_rows(data.current))


TOP_QUESTIONS = (
    ("namespace", "by namespace", "namespace"),
    ("controller", "by controller", "controller"),
    ("pod", "by pod", "pod"),
    ("cluster", "by cluster", "cluster"),
    ("node", "by node", "node"),
    ("label:team", "by label:team", "label:team"),
    ("label:app.kubernetes.io/name", "by label app.kubernetes.io/name", "label:…"),
)


def check_top(reply: dict[str, Any], rows: list[Row], dimension: str, k: int) -> None:
    assert_money(headline(reply), total(rows), f"top {dimension} total")
    with_namespace = dimension in ("controller", "pod")
    expected: dict[str, list[Decimal]] = defaultdict(list)
    for key, cost in grouped(rows, dimension).items():
        expected[display(key, with_namespace, rows)].append(cost)
    if not expected:
        assert "Nothing to rank" in all_text(reply)
        return
    (_, shown, after), *_ = tables(reply)
    rest = assert_ranked_rows([(r[0], r[1]) for r in shown], expected, k, f"top {dimension}")
    if rest:
        assert f"…and {len(rest)} more" in after, after
        assert_money(after, sum(rest, Decimal(0)), f"top {dimension} rest")
    else:
        assert "more" not in after


@EXAMPLES
@given(datasets(), st.sampled_from(TOP_QUESTIONS), st.integers(1, 50))
def test_top_by_every_dimension_equals_the_rows(
    recon: Recon, data: Dataset, question: tuple[str, str, str], k: int
) -> None:
    recon.serve(data.current, data.previous)
    dimension, words, _ = question
    reply = recon.ask(f"top {k} {words} 7d")
    check_top(reply, served_rows(data.current), dimension, k)


def check_namespace(reply: dict[str, Any], rows: list[Row], namespace: str) -> None:
    mine = [r for r in rows if not r.idle and r.prop("namespace") == namespace]
    assert_money(headline(reply), total(mine), f"namespace {namespace} total")
    expected: dict[str, list[Decimal]] = defaultdict(list)
    for key, cost in grouped(mine, "controller").items():
        expected[display((key[0], "", key[2]), True, mine)].append(cost)
    shown, after = table_after(reply, "By workload")
    rest = assert_ranked_rows([(r[0], r[1]) for r in shown], expected, 15, "workloads")
    if rest:
        assert f"…and {len(rest)} more" in after
        assert_money(after, sum(rest, Decimal(0)), "workloads rest")
    resources = {
        name: sum((r.resource(name) for r in mine), Decimal(0)) for name in RESOURCE_FIELDS
    }
    if any(resources.values()):
        shown_resources, _ = table_after(reply, "By resource")
        for name, figure in shown_resources:
            assert_money(figure, resources[name], f"resource {name}")
        assert {n for n, _ in shown_resources} == {n for n, v in resources.items() if v}


@EXAMPLES
@given(datasets(), st.sampled_from(("payments", "search", "web", "ml-jobs")))
def test_namespace_breakdown_equals_its_rows(recon: Recon, data: Dataset, namespace: str) -> None:
    recon.serve(data.current, data.previous)
    rows = served_rows(data.current)
    reply = recon.ask(f"ns {namespace} 7d")
    if not any(r.prop("namespace") == namespace for r in rows):
        assert f"No cost data for namespace {namespace}" in all_text(reply)
        return
    check_namespace(reply, rows, namespace)


def check_label(reply: dict[str, Any], rows: list[Row], key: str, value: str) -> None:
    mine = [r for r in rows if not r.idle and r.label(key) == value]
    assert_money(headline(reply), total(mine), f"label {key}={value} total")
    by_namespace: dict[str, list[Decimal]] = defaultdict(list)
    for group, cost in grouped(mine, "namespace").items():
        by_namespace[group[0]].append(cost)
    shown, after = table_after(reply, "By namespace")
    rest = assert_ranked_rows([(r[0], r[1]) for r in shown], by_namespace, 15, "label namespaces")
    if rest:
        assert f"…and {len(rest)} more" in after
        assert_money(after, sum(rest, Decimal(0)), "label namespaces rest")
    by_workload: dict[str, list[Decimal]] = defaultdict(list)
    for group, cost in grouped(mine, "controller").items():
        by_workload[display(group, True, mine)].append(cost)
    shown, after = table_after(reply, "By workload")
    rest = assert_ranked_rows([(r[0], r[1]) for r in shown], by_workload, 15, "label workloads")
    if rest:
        assert f"…and {len(rest)} more" in after
        assert_money(after, sum(rest, Decimal(0)), "label workloads rest")


@EXAMPLES
@given(
    datasets(),
    st.sampled_from((("team", "red"), ("team", "blue"), ("app.kubernetes.io/name", "shop"))),
)
def test_label_breakdown_equals_the_labelled_rows(
    recon: Recon, data: Dataset, pair: tuple[str, str]
) -> None:
    recon.serve(data.current, data.previous)
    rows = served_rows(data.current)
    key, value = pair
    reply = recon.ask(f"label {key}={value} 7d")
    if not any(not r.idle and r.label(key) == value for r in rows):
        assert f"No cost data for label {key}={value}" in all_text(reply)
        return
    check_label(reply, rows, key, value)


def assert_change(shown: str, before: Decimal, after: Decimal, what: str) -> None:
    """`+12.3%`-style relative change of before → after, to the shown tenth of a percent."""
    if shown == "n/a":
        assert before == 0, f"{what}: n/a for a change from {before}"
        return
    if abs(before) < Decimal("0.01"):
        return  # a change from (nearly) nothing: any huge figure is as right as another
    value = Decimal(shown.rstrip("%").replace(",", "").replace("−", "-").lstrip("+"))
    exact = (after - before) / before * 100
    assert abs(value - exact) <= Decimal("0.05") + abs(exact) * Decimal("1e-9"), (
        f"{what}: shown {shown}, the rows give {exact:.4f}%"
    )


def check_compare(reply: dict[str, Any], now_rows: list[Row], before_rows: list[Row]) -> None:
    line = headline(reply)
    shown_now, shown_before, shown_delta = money_figures(line)[:3]
    now_total, before_total = total(now_rows), total(before_rows)
    assert_money(shown_now, now_total, "compare now")
    assert_money(shown_before, before_total, "compare before")
    assert_money(shown_delta, now_total - before_total, "compare delta")
    assert_change(line.split(", ")[-1].split(")")[0], before_total, now_total, "compare %")
    after, before = grouped(now_rows, "namespace"), grouped(before_rows, "namespace")
    cent = Decimal("0.005")  # a change that shows as $0.00 is not a mover
    moves = {
        "Up": {
            k[0]: (after[k], after[k] - before[k])
            for k in after
            if k in before and after[k] - before[k] >= cent
        },
        "Down": {
            k[0]: (after[k], after[k] - before[k])
            for k in after
            if k in before and before[k] - after[k] >= cent
        },
    }
    for title, expected in moves.items():
        if not expected:
            assert f"*{title}*" not in all_text(reply)
            continue
        shown, tail = table_after(reply, f"*{title}*")
        assert len(shown) == min(8, len(expected))
        unshown_deltas = [d for n, (_, d) in expected.items() if n not in {r[0] for r in shown}]
        if unshown_deltas:
            assert f"…and {len(unshown_deltas)} more" in tail
            assert_money(tail, sum(unshown_deltas, Decimal(0)), "rest")
        for name, now_figure, delta_figure, change in shown:
            now_cost, delta = expected[name]
            assert_money(now_figure, now_cost, f"{title} {name} now")
            assert_money(delta_figure, delta, f"{title} {name} delta")
            assert_change(change, now_cost - delta, now_cost, f"{title} {name} %")
        least = min(abs(money_value(row[2])[0]) for row in shown)
        unshown = [abs(d) for n, (_, d) in expected.items() if n not in {r[0] for r in shown}]
        assert all(d <= least + Decimal("0.01") for d in unshown), f"{title}: not the biggest moves"
    new = sorted(k[0] for k in after if k not in before)
    gone = sorted(k[0] for k in before if k not in after)
    text = all_text(reply)
    for title, names in (("New", new), ("Gone", gone)):
        if names:
            listed = text.split(f"*{title}:* ")[1].split("\n")[0]
            assert sorted(listed.split(" …and")[0].split(", ")) == names[:10] or len(names) > 10
        else:
            assert f"*{title}:*" not in text


@EXAMPLES
@given(datasets())
def test_compare_totals_delta_and_movers_equal_both_periods_rows(
    recon: Recon, data: Dataset
) -> None:
    recon.serve(data.current, data.previous)
    check_compare(recon.ask("compare 7d"), served_rows(data.current), served_rows(data.previous))


def check_trend(reply: dict[str, Any], rows: list[Row]) -> None:
    assert_money(headline(reply), total(rows), "trend total")
    daily: dict[date, Decimal] = defaultdict(Decimal)
    for row in rows:
        daily[row.day] += row.cost
    shown, _ = table_after(reply, "")
    assert len(shown) == len(CURRENT_DAYS)
    for cells, day in zip(shown, CURRENT_DAYS, strict=True):  # day, bar (none at 0), cost
        label, figure = cells[0], cells[-1]
        assert label.rstrip("*") == day.strftime("%a %b %d")
        assert_money(figure, daily.get(day.date(), Decimal(0)), f"trend {day:%b %d}")


@EXAMPLES
@given(datasets())
def test_trend_days_and_total_equal_the_daily_rows(recon: Recon, data: Dataset) -> None:
    recon.serve(data.current, data.previous)
    check_trend(recon.ask("trend 7d"), served_rows(data.current))


# --- hand-checked examples -----------------------------------------------------------------------
def _hand_data() -> Served:
    day = CURRENT_DAYS[1]  # Mar 3
    east = [
        allocation_row(
            cluster="east",
            namespace="payments",
            controller="api",
            kind="deployment",
            pod="api-1",
            container="app",
            cpu_cost=7.5,
            ram_cost=2.5,
            labels={"team": "red"},
            start=_z(day),
            end=_z(day + timedelta(days=1)),
        ),
        allocation_row(
            cluster="east",
            namespace="payments",
            controller="api",
            kind="deployment",
            pod="api-2",
            container="app",
            cpu_cost=2.0,
            ram_cost=0.5,
            labels={"team": "red"},
            start=_z(day),
            end=_z(day + timedelta(days=1)),
        ),
        idle_row("east", day, Decimal("1.111")),
    ]
    west = [
        allocation_row(
            cluster="west",
            namespace="search",
            controller="index",
            kind="statefulset",
            pod="index-0",
            container="app",
            cpu_cost=5.0,
            ram_cost=2.25,
            labels={"team": "blue"},
            start=_z(day),
            end=_z(day + timedelta(days=1)),
        ),
    ]
    return {"east": daily_sets(east, CURRENT_DAYS), "west": daily_sets(west, CURRENT_DAYS)}


def _hand_serve(recon: Recon) -> None:
    recon.serve(_hand_data(), {c: daily_sets([], PREVIOUS_DAYS) for c in CLUSTERS})


def test_hand_checked_summary_top_and_namespace(recon: Recon) -> None:
    """payments 10.00 + 2.50 (east), search 7.25 (west), idle 1.111 (east): 20.861 in all."""
    _hand_serve(recon)
    summary = recon.ask("summary 7d")
    assert headline(summary).startswith("*$20.86*")
    assert table_after(summary, "Top namespaces")[0] == [
        ["payments", "$12.50", "59.9%"],
        ["search", "$7.25", "34.8%"],
    ]
    assert "idle capacity 5.3% ($1.11)" in all_text(summary)
    clusters = recon.ask("top by cluster 7d")
    assert tables(clusters)[0][1] == [["east", "$13.61", "65.2%"], ["west", "$7.25", "34.8%"]]
    controllers = recon.ask("top by controller 7d")
    assert [row[:2] for row in tables(controllers)[0][1]] == [
        ["east/payments/deployment:api", "$12.50"],
        ["west/search/statefulset:index", "$7.25"],
        ["__idle__", "$1.11"],
    ]
    payments = recon.ask("ns payments 7d")
    assert headline(payments).startswith("*$12.50*")
    assert table_after(payments, "By resource")[0] == [["cpu", "$9.50"], ["ram", "$3.00"]]


def test_hand_checked_label_trend_and_compare(recon: Recon) -> None:
    _hand_serve(recon)
    assert headline(recon.ask("label team=red 7d")).startswith("*$12.50*")
    assert headline(recon.ask("top by label:team 7d")).startswith("*$20.86*")
    trend = recon.ask("trend 7d")
    days = {row[0].rstrip("*"): row[-1] for row in table_after(trend, "")[0]}  # day, bar, cost
    assert days["Sun Mar 03"] == "$20.86"
    assert days["Sat Mar 02"] == days["Fri Mar 08"] == "$0.00"
    compare = recon.ask("compare 7d")
    assert "*$20.86* vs $0.00 (+$20.86, n/a)" in headline(compare)
