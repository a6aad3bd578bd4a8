"""Pure cost arithmetic: visibility, grouping keys, totals, efficiency, time and movers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import msgspec
import pytest

from services.access.models import EVERYTHING, Scope
from services.costs import maths as cm
from services.errors import UserInputError
from services.opencost.models import IDLE, UNALLOCATED, UNMOUNTED, Allocation

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def alloc(
    namespace: str,
    pod: str = "",
    cost: float | None = None,
    *,
    container: str = "app",
    cluster: str = "prod",
    node: str = "node-a",
    controller: str = "",
    kind: str = "",
    labels: dict[str, str] | None = None,
    namespace_labels: dict[str, str] | None = None,
    window_start: str | None = None,
    **fields: Any,
) -> Allocation:
    """A container-level row as OpenCost prints it (camelCase), decoded the way adapters do."""
    props: dict[str, Any] = {"cluster": cluster, "node": node}
    if namespace == IDLE:
        name = f"{cluster}/{IDLE}"
    else:
        name = f"{cluster}/{node}/{namespace}/{pod}/{container}"
        props |= {"namespace": namespace, "pod": pod, "container": container}
        props |= {"controller": controller, "controllerKind": kind} if controller else {}
    if labels is not None:
        props["labels"] = labels
    if namespace_labels is not None:
        props["namespaceLabels"] = namespace_labels
    raw: dict[str, Any] = {"name": name, "properties": props, "totalCost": cost, **fields}
    if window_start is not None:
        raw["window"] = {"start": window_start, "end": None}
    return msgspec.convert(raw, Allocation)


def idle(cost: float, cluster: str = "prod") -> Allocation:
    return alloc(IDLE, cost=cost, cluster=cluster)


# --- visibility -------------------------------------------------------------------------------
def test_partial_scope_sees_only_its_namespaces_and_no_idle() -> None:
    rows = [alloc("payments", "p", 1.0), alloc("search", "s", 2.0), idle(3.0)]
    seen = cm.visible(rows, Scope(namespaces=frozenset({"payments"})))
    assert [r.namespace for r in seen] == ["payments"]


def test_idle_counts_only_for_cluster_wide_scope() -> None:
    rows = [alloc("payments", "p", 1.0), idle(3.0)]
    assert len(cm.visible(rows, EVERYTHING)) == 2
    assert len(cm.visible(rows, Scope(namespaces=None, cluster_wide=False))) == 1


def test_unmounted_volumes_are_cluster_wide_figures() -> None:
    unmounted = alloc(UNMOUNTED, UNMOUNTED, 4.0, container=UNMOUNTED)
    assert cm.visible([unmounted], EVERYTHING) == [unmounted]
    assert cm.visible([unmounted], Scope(namespaces=frozenset({UNMOUNTED}))) == []


def test_narrowed_by_namespace_label_and_cluster_drops_idle() -> None:
    rows = [
        alloc("a", "p1", 1.0, labels={"team": "x"}),
        alloc("a", "p2", 2.0, cluster="dev", labels={"team": "y"}),
        idle(5.0),
    ]
    assert [r.cost() for r in cm.narrowed(rows, namespace="a")] == [1.0, 2.0]
    assert [r.cost() for r in cm.narrowed(rows, label=("team", "y"))] == [2.0]
    assert [r.cost() for r in cm.narrowed(rows, cluster="prod")] == [1.0, 5.0]


# --- labels -----------------------------------------------------------------------------------
def test_label_keys_are_sanitised_like_prometheus() -> None:
    assert cm.sanitize_label_key("app.kubernetes.io/name") == "app_kubernetes_io_name"
    assert cm.sanitize_label_key("team") == "team"


def test_label_matches_the_given_key_and_its_sanitised_form() -> None:
    row = alloc("a", "p", 1.0, labels={"app_kubernetes_io_name": "api"})
    assert cm.label_value(row, "app.kubernetes.io/name") == "api"
    assert cm.label_value(row, "app_kubernetes_io_name") == "api"
    assert cm.has_label(row, "app.kubernetes.io/name", "api")
    assert not cm.has_label(row, "app.kubernetes.io/name", "web")


def test_pod_labels_win_over_namespace_labels() -> None:
    row = alloc("a", "p", 1.0, labels={"team": "pod"}, namespace_labels={"team": "ns", "env": "e"})
    assert cm.label_value(row, "team") == "pod"
    assert cm.label_value(row, "env") == "e"
    assert cm.label_value(row, "missing") is None


# --- grouping ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "label_key", "expected"),
    [
        ("namespace", None, "namespace"),
        ("Controller", None, "controller"),
        ("label", "team", "label:team"),
        ("label:app.kubernetes.io/name", None, "label:app.kubernetes.io/name"),
        ("node", None, "node"),
    ],
)
def test_dimensions_are_normalised(given: str, label_key: str | None, expected: str) -> None:
    assert cm.parse_dimension(given, label_key) == expected


@pytest.mark.parametrize("given", ["flavour", "label", "label:"])
def test_unknown_dimensions_are_user_errors(given: str) -> None:
    with pytest.raises(UserInputError):
        cm.parse_dimension(given)


def test_grouping_keys_follow_opencost_conventions() -> None:
    row = alloc("a", "api-1", 1.0, controller="api", kind="deployment", labels={"team": "x"})
    bare = alloc("a", "debug", 1.0, node="")
    assert cm.key_of(row, "controller") == cm.GroupKey("deployment:api", "a", "prod")
    assert cm.key_of(bare, "controller") == cm.GroupKey(UNALLOCATED, "a", "prod")
    assert cm.key_of(row, "pod") == cm.GroupKey("api-1", "a", "prod")
    assert cm.key_of(row, "label:team") == cm.GroupKey("x")
    assert cm.key_of(bare, "label:team") == cm.GroupKey(UNALLOCATED)
    assert cm.key_of(bare, "node") == cm.GroupKey(UNALLOCATED)
    assert cm.key_of(row, "cluster") == cm.GroupKey("prod")


def test_idle_is_its_own_bucket_except_by_cluster() -> None:
    row = idle(2.0, cluster="dev")
    assert cm.key_of(row, "namespace") == cm.GroupKey(IDLE)
    assert cm.key_of(row, "label:team") == cm.GroupKey(IDLE)
    assert cm.key_of(row, "cluster") == cm.GroupKey("dev")


def test_costs_by_namespace_sums_containers_and_ranks_ties_by_name() -> None:
    rows = [alloc("b", "p", 1.25), alloc("b", "q", 0.75), alloc("a", "r", 2.0), alloc("c", "s")]
    ranked = cm.ranked(cm.costs_by(rows, "namespace"))
    assert [(r.key.name, r.cost) for r in ranked] == [("a", 2.0), ("b", 2.0), ("c", 0.0)]


def test_pod_count_counts_distinct_pods_not_containers() -> None:
    rows = [alloc("a", "p", 1.0, container="x"), alloc("a", "p", 1.0, container="y")]
    assert cm.pod_count([*rows, alloc("a", "q", 1.0), idle(1.0)]) == 2


# --- totals -----------------------------------------------------------------------------------
def test_total_treats_null_as_zero_and_reconciles_to_the_cent() -> None:
    rows = [alloc("a", "p", 0.1) for _ in range(10)] + [alloc("a", "n", None)]
    assert cm.total(rows) == 1.0  # fsum: ten dimes are exactly one dollar


def test_resource_totals_include_adjustments_and_shared() -> None:
    row = alloc(
        "a",
        "p",
        10.0,
        cpuCost=4.0,
        cpuCostAdjustment=-0.5,
        ramCost=2.0,
        gpuCost=1.0,
        pvCost=1.5,
        networkCost=0.25,
        loadBalancerCost=0.75,
        sharedCost=0.5,
        externalCost=0.5,
    )
    parts = cm.resource_totals([row, alloc("b", "q", None)])
    assert parts == {
        "cpu": 3.5,
        "gpu": 1.0,
        "ram": 2.0,
        "pv": 1.5,
        "network": 0.25,
        "load_balancer": 0.75,
        "shared": 1.0,
    }
    assert sum(parts.values()) == 10.0


def test_efficiency_is_cost_weighted_and_hour_weighted() -> None:
    """cpu: (0.5·1h + 1·2h)/(2·1h + 1·2h) = 0.625; ram 0.5; (0.625·4 + 0.5·1)/5 = 0.6."""
    a = alloc(
        "a",
        "p",
        4.0,
        minutes=60,
        cpuCoreRequestAverage=2,
        cpuCoreUsageAverage=0.5,
        cpuCost=3,
        ramByteRequestAverage=1e9,
        ramByteUsageAverage=5e8,
        ramCost=1,
    )
    b = alloc("a", "q", 1.0, minutes=120, cpuCoreRequestAverage=1, cpuCoreUsageAverage=1, cpuCost=1)
    assert cm.efficiency([a]) == pytest.approx(0.3125)
    assert cm.efficiency([a, b]) == pytest.approx(0.6)


def test_efficiency_without_requests_follows_opencost() -> None:
    busy = alloc("a", "p", 1.0, minutes=60, cpuCoreUsageAverage=0.2, cpuCost=1.0)
    asleep = alloc("a", "q", 1.0, minutes=60, cpuCost=1.0)
    assert cm.efficiency([busy]) == 1.0
    assert cm.efficiency([asleep]) == 0.0
    assert cm.efficiency([alloc("a", "r", 0.0)]) is None


def test_idle_does_not_dilute_efficiency() -> None:
    row = alloc(
        "a", "p", 1.0, minutes=60, cpuCoreRequestAverage=1, cpuCoreUsageAverage=1, cpuCost=1
    )
    assert cm.efficiency([row, alloc(IDLE, cost=9.0, cpuCost=9.0)]) == 1.0


def test_share_of_nothing_is_zero() -> None:
    assert cm.share(1.0, 0.0) == 0.0
    assert cm.share(1.0, 4.0) == 0.25


# --- time -------------------------------------------------------------------------------------
def test_elapsed_hours_stop_at_now() -> None:
    end = datetime(2024, 5, 8, tzinfo=UTC)
    assert cm.elapsed_hours(T0, end, datetime(2024, 5, 2, 6, tzinfo=UTC)) == 30.0
    assert cm.elapsed_hours(T0, end, datetime(2024, 6, 1, tzinfo=UTC)) == 168.0
    assert cm.elapsed_hours(T0, end, datetime(2024, 4, 1, tzinfo=UTC)) == 0.0


def test_run_rate_is_per_730_hour_month() -> None:
    assert cm.run_rate(100.0, 24.0) == pytest.approx(3041.6666667)
    assert cm.run_rate(100.0, 0.0) is None


def test_days_between_lists_every_utc_day_touched() -> None:
    assert cm.days_between(T0, datetime(2024, 5, 3, tzinfo=UTC)) == [
        date(2024, 5, 1),
        date(2024, 5, 2),
    ]
    noon = datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert cm.days_between(noon, datetime(2024, 5, 2, 10, tzinfo=UTC)) == [
        date(2024, 5, 1),
        date(2024, 5, 2),
    ]
    assert cm.days_between(T0, T0) == []


def test_daily_costs_use_the_set_window_or_the_step_index() -> None:
    first = "2024-05-01T00:00:00Z"
    steps = [
        [alloc("a", "p", 1.0, window_start=first), alloc("b", "q", 0.5, window_start=first)],
        [],
        [alloc("a", "p", 2.0)],  # no window printed: third set → 3 May
    ]
    assert cm.daily_costs(steps, T0) == {date(2024, 5, 1): 1.5, date(2024, 5, 3): 2.0}


# --- comparison -------------------------------------------------------------------------------
def test_changes_split_movers_new_and_gone_largest_first() -> None:
    k = cm.GroupKey
    before = {k("a"): 10.0, k("b"): 10.0, k("c"): 5.0, k("d"): 3.0, k("e"): 1.0, k("f"): 2.0}
    after = {k("a"): 12.0, k("b"): 30.0, k("c"): 1.0, k("d"): 3.0, k("g"): 7.0, k("f"): 1.5}
    moves = cm.changes(before, after)
    assert moves.up == [(k("b"), 10.0, 30.0), (k("a"), 10.0, 12.0)]
    assert moves.down == [(k("c"), 5.0, 1.0), (k("f"), 2.0, 1.5)]
    assert moves.new == [(k("g"), 0.0, 7.0)]
    assert moves.gone == [(k("e"), 1.0, 0.0)]


def test_percent_change_is_none_from_nothing() -> None:
    assert cm.percent_change(0.0, 5.0) is None
    assert cm.percent_change(50.0, 75.0) == 50.0
