"""Service answers → API models: field renames and unit labels only, no arithmetic."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import msgspec

from api import models as m
from services.costs import views as v
from services.costs.windows import TimeRange
from services.digests.budgets import BudgetStatus
from services.digests.service import SubscriptionStatus
from services.errors import NotFound
from services.recommendations.models import Recommendation, RecState

IDLE = "__idle__"


def window(time_range: TimeRange) -> m.Window:
    return m.Window(start=time_range.start, end=time_range.end, label=time_range.label)


def provenance(p: v.Provenance) -> m.Provenance:
    return m.Provenance(
        source="demo" if p.demo else "opencost",
        demo=p.demo,
        stale=p.stale,
        fetched_at=datetime.fromtimestamp(p.fetched_at, UTC),
        coverage=m.Coverage(partial_scope=p.partial_scope, failed_clusters=p.failed_clusters),
    )


def namespace_costs(controllers: v.TopList) -> list[m.NamespaceCost]:
    """Per (namespace, cluster) from the controller ranking, whose buckets partition the
    visible rows; idle capacity is not a namespace and is reported as `idle_cost` instead."""
    buckets: dict[tuple[str, str], list[float]] = defaultdict(list)
    for item in controllers.items:
        if item.name != IDLE:
            buckets[(item.namespace, item.cluster)].append(item.cost)
    rows = [
        m.NamespaceCost(name=ns or "__unallocated__", cluster=cluster, cost=_sum(costs))
        for (ns, cluster), costs in buckets.items()
    ]
    return sorted(rows, key=lambda row: (-row.cost, row.cluster, row.name))


def _sum(costs: list[float]) -> float:
    import math

    return math.fsum(costs)


def summary(s: v.Summary, controllers: v.TopList, currency: str) -> m.Summary:
    return m.Summary(
        window=window(s.window),
        currency=currency,
        total=s.total,
        run_rate_monthly=s.run_rate_monthly,
        efficiency=s.efficiency,
        idle_cost=s.idle_cost,
        namespaces=namespace_costs(controllers),
        provenance=provenance(s.provenance),
    )


def one_cluster(
    summary_: m.Summary, clusters: v.TopList, cluster: str, span: TimeRange
) -> m.Summary:
    """The summary narrowed to one cluster: its namespaces and its total (the service's
    per-cluster figure, idle included for cluster-wide callers). Run-rate, efficiency and idle
    are whole-scope figures the services do not split by cluster, so they are null here."""
    match = [item for item in clusters.items if item.name == cluster]
    if not match:  # absent and invisible read the same
        raise NotFound(f"No cost data for cluster {cluster} in {span.label}")
    return summary_.model_copy(
        update={
            "total": match[0].cost,
            "run_rate_monthly": None,
            "efficiency": None,
            "idle_cost": None,
            "namespaces": [n for n in summary_.namespaces if n.cluster == cluster],
        }
    )


def top(t: v.TopList, currency: str) -> m.Top:
    return m.Top(
        window=window(t.window),
        currency=currency,
        by=t.dimension,
        items=[
            m.TopItem(
                name=i.name, namespace=i.namespace, cluster=i.cluster, cost=i.cost, share=i.share
            )
            for i in t.items
        ],
        total=t.total,
        rest_count=t.rest_count,
        rest_cost=t.rest_cost,
        provenance=provenance(t.provenance),
    )


def namespace(n: v.NamespaceBreakdown, currency: str) -> m.NamespaceCosts:
    return m.NamespaceCosts(
        namespace=n.namespace,
        window=window(n.window),
        currency=currency,
        total=n.total,
        run_rate_monthly=n.run_rate_monthly,
        efficiency=n.efficiency,
        pods=n.pods,
        resources=n.resources,
        workloads=[
            m.WorkloadCost(
                name=w.name,
                kind=w.kind,
                cluster=w.cluster,
                cost=w.cost,
                share=w.share,
                efficiency=w.efficiency,
                pods=w.pods,
            )
            for w in n.workloads
        ],
        provenance=provenance(n.provenance),
    )


def compare(c: v.Comparison, currency: str) -> m.Compare:
    movers = [
        m.Mover(
            change=change,
            name=x.name,
            namespace=x.namespace,
            cluster=x.cluster,
            before=x.before,
            after=x.after,
            delta=x.delta,
            delta_pct=x.delta_pct,
        )
        for change, group in (("up", c.up), ("down", c.down), ("new", c.new), ("gone", c.gone))
        for x in group
    ]
    return m.Compare(
        window=window(c.window),
        previous_window=window(c.previous_window),
        currency=currency,
        dimension=c.dimension,
        total=c.total,
        previous_total=c.previous_total,
        delta=c.delta,
        delta_pct=c.delta_pct,
        movers=movers,
        provenance=provenance(c.provenance),
    )


def trend(t: v.Trend, step: str, currency: str) -> m.Trend:
    return m.Trend(
        window=window(t.window),
        currency=currency,
        step=step,
        total=t.total,
        average_per_day=t.average_per_day,
        points=[m.TrendPoint(day=p.day, cost=p.cost, partial=p.partial) for p in t.points],
        provenance=provenance(t.provenance),
    )


def recommendation(rec: Recommendation, state: RecState) -> m.Recommendation:
    return m.Recommendation(
        id=rec.id,
        version=rec.version,
        kind=rec.kind,
        rule=str(rec.rule),
        title=rec.title,
        cluster=rec.cluster,
        namespace=rec.namespace,
        workload=rec.controller,
        container=rec.container,
        current=m.Resources(cpu_cores=rec.current_cpu, memory_bytes=rec.current_memory),
        recommended=m.Resources(cpu_cores=rec.recommended_cpu, memory_bytes=rec.recommended_memory),
        savings_monthly=rec.monthly_savings,
        risk=rec.risk,
        state=state.status,
        evidence=msgspec.to_builtins(rec.evidence),
    )


def budget(status: BudgetStatus, currency: str) -> m.Budget:
    b = status.budget
    return m.Budget(
        id=b.id,
        kind=b.kind,
        target=b.target if status.target_visible else None,
        amount_monthly=b.amount,
        currency=currency,
        channel=b.channel,
        creator=b.creator,
        last_alert=status.last.at if status.last else None,
    )


def digest(status: SubscriptionStatus) -> m.Digest:
    sub = status.subscription
    return m.Digest(
        id=sub.id,
        channel=sub.channel,
        frequency=sub.frequency,
        day=sub.day,
        at=sub.at,
        tz=sub.tz,
        scope_kind=sub.scope_kind,
        namespaces=list(sub.namespaces) if status.scope_visible else None,
        label="=".join(sub.label) if sub.label else None,
        paused=status.paused,
        next_run=status.next_run,
        last_run=status.last.at if status.last else None,
        subscriber=sub.subscriber,
    )
