"""CostService: every cost answer, computed from the container-level rows the requester may see.

It never trusts an OpenCost total or `filter`: rows are scoped first, then every figure is summed
here from those rows (see services/cost_maths.py), and each answer says where its data came from.
"""

from __future__ import annotations

import asyncio
import difflib
import math
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta

import msgspec

from services.access.models import AccessCheck, Identity, Scope
from services.costs import maths as cm
from services.costs.views import (
    EVERYWHERE,
    Comparison,
    Coverage,
    DayCost,
    Focus,
    LabelBreakdown,
    Mover,
    NamespaceBreakdown,
    NamespaceRow,
    NamespaceTable,
    Provenance,
    Share,
    Summary,
    TopItem,
    TopList,
    Trend,
    Workload,
    WorkloadBreakdown,
    WorkloadContainer,
)
from services.costs.windows import LocalDay, TimeRange
from services.errors import NoAccess, NotAllowed, NotFound, UserInputError
from services.opencost.models import (
    UNALLOCATED,
    Allocation,
    AllocationData,
    AllocationQuery,
    parse_time,
)
from services.ports import Clock, CostSource

# The answer structs live in services/costs/views.py; re-exported so `services.costs.service` stays
# one import for callers of the service.
TREND_STEP = "1d"  # trends are daily series (of local days: see `_daily_fetch`)
# Dimensions whose names and figures are about the cluster itself, not about namespaces.
CLUSTER_WIDE_DIMENSIONS = frozenset({"node"})
# The coarsest OpenCost aggregation that answers each question. RBAC is per namespace, so every
# level is keyed by namespace and filtered like container rows; "" is container level (labels,
# nodes). Idle rows come with each level.
NAMESPACE_LEVEL = "namespace"
CONTROLLER_LEVEL = "namespace,controllerKind,controller"
POD_LEVEL = "namespace,controllerKind,controller,pod"
CONTAINER_LEVEL = ""
_TOP_LEVELS = {"namespace": NAMESPACE_LEVEL, "controller": CONTROLLER_LEVEL, "pod": POD_LEVEL}
# (start, end, now) → the window the source can answer exactly (e.g. cut at block boundaries).
Aligner = Callable[[datetime, datetime, datetime], tuple[datetime, datetime]]

__all__ = [
    "CLUSTER_WIDE_DIMENSIONS",
    "EVERYWHERE",
    "TREND_STEP",
    "Aligner",
    "Comparison",
    "CostService",
    "Coverage",
    "DayCost",
    "Focus",
    "LabelBreakdown",
    "Mover",
    "NamespaceBreakdown",
    "NamespaceRow",
    "NamespaceTable",
    "Provenance",
    "Share",
    "Summary",
    "TopItem",
    "TopList",
    "Trend",
    "Workload",
    "WorkloadBreakdown",
    "WorkloadContainer",
    "require_access",
]


class CostService:
    """Cost answers for one requester's Scope, from a CostSource (OpenCost, cache, demo)."""

    def __init__(self, source: CostSource, clock: Clock, align: Aligner | None = None) -> None:
        self._source = source
        self._clock = clock
        self._align = align

    async def summary(self, window: TimeRange, scope: Scope, top: int = 5) -> Summary:
        window = self.aligned(window)
        data = await self._fetch(window.start, window.end, level=NAMESPACE_LEVEL, scope=scope)
        rows = cm.visible(data.rows(), scope)
        hours = self._hours(window)
        coverage = self._coverage(window, data)
        grand = cm.total(rows)
        namespaces = cm.costs_by([r for r in rows if not r.is_idle], "namespace")
        # Idle rows are only among the visible ones for clusters seen whole.
        idle = cm.total(r for r in rows if r.is_idle) if scope.any_cluster_wide else None
        pseudo = cm.CLUSTER_PSEUDO_NAMESPACES | {UNALLOCATED}
        return Summary(
            window=window,
            hours=hours,
            total=grand,
            top_namespaces=[_share(item, grand) for item in cm.ranked(namespaces)[: max(0, top)]],
            namespace_count=sum(1 for key in namespaces if key.name not in pseudo),
            run_rate_monthly=cm.run_rate(grand, _rate_hours(hours, coverage)),
            efficiency=cm.efficiency(rows),
            idle_cost=idle,
            idle_share=None if idle is None else cm.share(idle, grand),
            clusters=_clusters(rows),
            provenance=_provenance(scope, data),
            coverage=coverage,
        )

    async def namespace(self, name: str, window: TimeRange, scope: Scope) -> NamespaceBreakdown:
        window = self.aligned(window)
        names = scope.visible_names()  # in any cluster: rows are then filtered per cluster
        visible = scope if names is None or name in names else Scope(namespaces=frozenset())
        data = await self._fetch(window.start, window.end, level=POD_LEVEL, scope=visible)
        seen = cm.visible(data.rows(), scope)
        rows = cm.narrowed(seen, namespace=name)
        if not rows:  # hidden and absent must read the same
            raise NotFound(
                f"No cost data for namespace {name} in {window.label}",
                _suggest(name, _namespaces(seen) | set(scope.visible_names() or ())),
            )
        hours = self._hours(window)
        coverage = self._coverage(window, data)
        grand = cm.total(rows)
        return NamespaceBreakdown(
            namespace=name,
            window=window,
            hours=hours,
            total=grand,
            workloads=_workloads(rows, grand),
            resources=cm.resource_totals(rows),
            efficiency=cm.efficiency(rows),
            run_rate_monthly=cm.run_rate(grand, _rate_hours(hours, coverage)),
            pods=cm.pod_count(rows),
            clusters=_clusters(rows),
            provenance=_provenance(scope, data),
            coverage=coverage,
        )

    async def top(
        self,
        window: TimeRange,
        scope: Scope,
        dimension: str,
        k: int = 10,
        label_key: str | None = None,
        *,
        label_must_exist: bool = False,
    ) -> TopList:
        """`label_must_exist`: the key was a guess (`top by team`); rank by it only if some
        visible row carries it, else say which dimensions there are."""
        dim = cm.parse_dimension(dimension, label_key)
        if dim in CLUSTER_WIDE_DIMENSIONS and not scope.any_cluster_wide:
            # A node's name and spend describe everyone's pods on it, not only the asker's.
            raise NotAllowed(
                f"Costs by {dim} are cluster-wide figures; only people with cluster-wide "
                "access may ask for them."
            )
        window = self.aligned(window)
        level = _TOP_LEVELS.get(dim, CONTAINER_LEVEL)
        data = await self._fetch(window.start, window.end, level=level, scope=scope)
        rows = cm.visible(data.rows(), scope)
        if dim in CLUSTER_WIDE_DIMENSIONS:  # only the clusters seen whole
            rows = [row for row in rows if scope.sees_cluster(row.cluster)]
        if label_must_exist and not any(cm.label_value(r, dim[6:]) for r in rows if not r.is_idle):
            raise UserInputError(
                f"“{dim[6:]}” is neither a dimension nor a label in your data.",
                "Rank by namespace, controller, pod, label:KEY, cluster or node.",
            )
        grand = cm.total(rows)
        ordered = cm.ranked(cm.costs_by(rows, dim))
        shown, rest = ordered[: max(1, k)], ordered[max(1, k) :]
        return TopList(
            dimension=dim,
            window=window,
            hours=self._hours(window),
            items=[_top_item(item, grand) for item in shown],
            total=grand,
            shown_total=math.fsum(item.cost for item in shown),
            rest_count=len(rest),
            rest_cost=math.fsum(item.cost for item in rest),
            provenance=_provenance(scope, data),
            clusters=_clusters(rows),
            coverage=self._coverage(window, data),
        )

    async def namespace_table(self, window: TimeRange, scope: Scope) -> NamespaceTable:
        """Each visible namespace per cluster: cost, the previous period's, resources,
        efficiency and daily spend. The same three fetches as summary, compare and trend, so
        the cache serves them all; pseudo-namespaces (idle, unmounted) are left out of rows."""
        window = self.aligned(window)
        before = self._before(window)
        now_data, before_data, parts = await asyncio.gather(
            self._fetch(window.start, window.end, level=NAMESPACE_LEVEL, scope=scope),
            self._fetch(before.start, before.end, level=NAMESPACE_LEVEL, scope=scope),
            self._daily_fetch(window, level=NAMESPACE_LEVEL, scope=scope),  # local days
        )
        now_rows = cm.visible(now_data.rows(), scope)
        before_rows = cm.visible(before_data.rows(), scope)
        day_steps = [
            (day, cm.visible(step, scope))
            for days_, data in parts
            for day, step in _steps_by_day(days_, data, window)
        ]

        def key(row: Allocation) -> tuple[str, str]:
            return (row.cluster, row.namespace)

        mine = cm.CLUSTER_PSEUDO_NAMESPACES | {UNALLOCATED}
        keys = {key(r) for r in now_rows if not r.is_idle and r.namespace not in mine}
        days = [p.day for p in self._days({}, window)]
        rows = []
        for cluster, name in keys:
            own = [r for r in now_rows if key(r) == (cluster, name) and not r.is_idle]
            daily: dict[date, float] = {}
            for day, step in day_steps:
                cost = cm.total(r for r in step if key(r) == (cluster, name))
                daily[day] = daily.get(day, 0.0) + cost
            rows.append(
                NamespaceRow(
                    cluster=cluster,
                    namespace=name,
                    cost=cm.total(own),
                    previous=cm.total(r for r in before_rows if key(r) == (cluster, name)),
                    resources=cm.resource_totals(own),
                    efficiency=cm.efficiency(own),
                    daily=self._days(daily, window),
                )
            )
        rows.sort(key=lambda r: (-r.cost, r.cluster, r.namespace))
        return NamespaceTable(
            window=window,
            previous_window=before,
            hours=self._hours(window),
            total=cm.total(now_rows),
            previous_total=cm.total(before_rows),
            rows=rows,
            days=days,
            provenance=_provenance(scope, now_data, before_data, *(d for _, d in parts)),
        )

    async def label(self, key: str, value: str, window: TimeRange, scope: Scope) -> LabelBreakdown:
        window = self.aligned(window)
        data = await self._fetch(window.start, window.end, scope=scope)
        seen = cm.visible(data.rows(), scope)
        rows = cm.narrowed(seen, label=(key, value))
        if not rows:
            raise NotFound(
                f"No cost data for label {key}={value} in {window.label}",
                _suggest(f"{key}={value}", _label_pairs(seen)),
            )
        hours = self._hours(window)
        coverage = self._coverage(window, data)
        grand = cm.total(rows)
        return LabelBreakdown(
            key=key,
            value=value,
            window=window,
            hours=hours,
            total=grand,
            by_namespace=[_share(i, grand) for i in cm.ranked(cm.costs_by(rows, "namespace"))],
            by_controller=[_top_item(i, grand) for i in cm.ranked(cm.costs_by(rows, "controller"))],
            resources=cm.resource_totals(rows),
            run_rate_monthly=cm.run_rate(grand, _rate_hours(hours, coverage)),
            provenance=_provenance(scope, data),
            clusters=_clusters(rows),
            coverage=coverage,
        )

    async def compare(
        self, window: TimeRange, scope: Scope, focus: Focus = EVERYWHERE
    ) -> Comparison:
        window = self.aligned(window)
        before = self._before(window)
        level = _focus_level(focus, CONTROLLER_LEVEL if focus.namespace else NAMESPACE_LEVEL)
        # gather, not a TaskGroup: a failing source must surface as its own domain error,
        # not wrapped in an ExceptionGroup.
        now_data, before_data = await asyncio.gather(
            self._fetch(window.start, window.end, level=level, scope=scope),
            self._fetch(before.start, before.end, level=level, scope=scope),
        )
        now_rows = _focused(now_data.rows(), scope, focus)
        before_rows = _focused(before_data.rows(), scope, focus)
        if not now_rows and not before_rows and not focus.empty:
            seen = cm.visible([*now_data.rows(), *before_data.rows()], scope)
            raise NotFound(
                f"No cost data for {_describe(focus)} in {window.label}", _focus_guess(focus, seen)
            )
        dimension = "controller" if focus.namespace is not None else "namespace"
        moves = cm.changes(cm.costs_by(before_rows, dimension), cm.costs_by(now_rows, dimension))
        current, earlier = cm.total(now_rows), cm.total(before_rows)
        return Comparison(
            focus=focus,
            dimension=dimension,
            window=window,
            hours=self._hours(window),
            previous_window=before,
            total=current,
            previous_total=earlier,
            delta=current - earlier,
            delta_pct=cm.percent_change(earlier, current),
            up=[_mover(*m) for m in moves.up],
            down=[_mover(*m) for m in moves.down],
            new=[_mover(*m) for m in moves.new],
            gone=[_mover(*m) for m in moves.gone],
            provenance=_provenance(scope, now_data, before_data),
        )

    async def trend(self, window: TimeRange, scope: Scope, focus: Focus = EVERYWHERE) -> Trend:
        """Spend per local day of the window's zone (23 or 25 hours on a DST change)."""
        window = self.aligned(window)
        level = _focus_level(focus, NAMESPACE_LEVEL)
        parts = await self._daily_fetch(window, level=level, scope=scope)
        daily: dict[date, float] = {}
        rows: list[Allocation] = []
        for days, data in parts:
            for day, step in _steps_by_day(days, data, window):
                kept = _focused(step, scope, focus)
                rows += kept
                daily[day] = daily.get(day, 0.0) + cm.total(kept)
        if not rows and not focus.empty:
            seen = cm.visible([row for step in data.steps for row in step], scope)
            raise NotFound(
                f"No cost data for {_describe(focus)} in {window.label}", _focus_guess(focus, seen)
            )
        hours = self._hours(window)
        points = self._days(daily, window)
        whole = [p for p in points if not p.partial] or points
        grand = cm.total(rows)
        everything = [data for _, data in parts]
        coverage = self._coverage(window, *everything)
        rate_hours = _rate_hours(hours, coverage)
        return Trend(
            focus=focus,
            window=window,
            hours=hours,
            points=points,
            total=grand,
            average_per_day=grand / rate_hours * 24.0 if rate_hours > 0 else None,
            min_day=min(whole, key=lambda p: (p.cost, p.day)) if whole else None,
            max_day=max(whole, key=lambda p: (p.cost, p.day)) if whole else None,
            provenance=_provenance(scope, *everything),
            coverage=coverage,
            clusters=_clusters(rows),
        )

    async def workload(
        self, namespace: str, name: str, window: TimeRange, scope: Scope
    ) -> WorkloadBreakdown:
        """One workload (a controller; `name` with or without its `kind:`): its containers, its
        daily spend and the figures of `namespace`, from one daily-step fetch."""
        parts = await self._daily_fetch(window, scope=scope)  # local days of the window's zone
        days_steps = [
            (day, cm.narrowed(cm.visible(step, scope), namespace=namespace))
            for days, data in parts
            for day, step in _steps_by_day(days, data, window)
        ]
        seen = [row for _, step in days_steps for row in step]
        wanted = name.lower()
        matches = {
            cm.controller_name(row)
            for row in seen
            if wanted in (cm.controller_name(row).lower(), row.properties.controller.lower())
        }
        if not matches:
            known = {f"{namespace}/{row.properties.controller}" for row in seen}
            raise NotFound(
                f"No cost data for workload {namespace}/{name} in {window.label}",
                _suggest(f"{namespace}/{name}", known - {f"{namespace}/"}),
            )
        controller = min(matches)  # a kind-less name may fit two kinds: the first, stably
        daily: dict[date, float] = {}
        rows: list[Allocation] = []
        for day, step in days_steps:
            kept = [r for r in step if cm.controller_name(r) == controller]
            rows += kept
            daily[day] = daily.get(day, 0.0) + cm.total(kept)
        hours = self._hours(window)
        grand = cm.total(rows)
        return WorkloadBreakdown(
            namespace=namespace,
            name=controller.partition(":")[2] or controller,
            kind=rows[0].properties.controller_kind,
            window=window,
            hours=hours,
            total=grand,
            containers=_containers(rows, grand),
            points=self._days(daily, window),
            resources=cm.resource_totals(rows),
            efficiency=cm.efficiency(rows),
            run_rate_monthly=cm.run_rate(grand, hours),
            pods=cm.pod_count(rows),
            clusters=_clusters(rows),
            provenance=_provenance(scope, *(data for _, data in parts)),
        )

    async def visible_namespaces(
        self, window: TimeRange, *, step: str = "", with_previous: bool = False
    ) -> dict[str, set[str]]:
        """cluster → namespaces present in the data, for computing a requester's Scope.

        Asks namespace-level rows for the same window and `step` as the answer (for a
        comparison also the previous period): the answer's own question for summary, trend and
        compare, so the cache serves both from one fetch; label and pod answers need finer rows
        and ask once more. A namespace that only existed before is still a candidate.
        """
        window = self.aligned(window)
        level = NAMESPACE_LEVEL
        if step == TREND_STEP:  # the very queries `trend` makes
            answers = [data for _, data in await self._daily_fetch(window, level=level)]
        else:
            answers = [await self._fetch(window.start, window.end, step=step, level=level)]
        if with_previous:
            before = self._before(window)
            answers.append(await self._fetch(before.start, before.end, level=level))
        found: dict[str, set[str]] = {}
        for data in answers:
            for row in data.rows():
                if not row.is_idle and row.namespace not in cm.CLUSTER_PSEUDO_NAMESPACES:
                    found.setdefault(row.cluster, set()).add(row.namespace)
        return found

    # --- helpers ----------------------------------------------------------------------------
    def aligned(self, window: TimeRange) -> TimeRange:
        """The window the source answers exactly (block boundaries, whole UTC hours); the
        answer shows it. Its days stay the asker's local days when the zone's midnights fall on
        whole hours; a zone offset by a half or quarter hour (India, Nepal, parts of Australia)
        cannot be cut into hour blocks at its midnights, so such a window is counted, and
        labelled, in UTC days."""
        if self._align is None:
            return window
        start, end = self._align(window.start, window.end, self._clock.now())
        if not _whole_hour_offsets(window):
            return TimeRange(start, end, window.label)  # UTC days, and the answer says UTC
        if (start, end) == (window.start, window.end):
            return window
        return msgspec.structs.replace(window, start=start, end=end)

    async def _fetch(
        self,
        start: datetime,
        end: datetime,
        step: str = "",
        *,
        level: str = CONTAINER_LEVEL,
        scope: Scope | None = None,
    ) -> AllocationData:
        """Rows at `level`, idle included, no filter: everything is scoped and summed here.
        A scope that sees nothing asks nothing (no OpenCost request, no cache write)."""
        if scope is not None and scope.empty:
            return AllocationData(steps=[[]], fetched_at=self._clock.now().timestamp())
        query = AllocationQuery(start=start, end=end, step=step, aggregate=level, include_idle=True)
        return await self._source.allocations(query)

    def _before(self, window: TimeRange) -> TimeRange:
        """The period a comparison sets `window` against (see `_previous_end`), as the source
        answers it and as the answer says it."""
        previous = window.previous()
        end = self._previous_end(window, previous)
        return self.aligned(TimeRange(previous.start, end, previous.label, previous.tz))

    def _previous_end(self, window: TimeRange, previous: TimeRange) -> datetime:
        """Like for like: a window still running is compared with the same elapsed stretch of
        the previous one (month-to-date vs the same days before), not with all of it. Whole
        minutes, so the previous query stays cacheable for a minute."""
        now = self._clock.now()
        if window.end <= now:
            return previous.end
        minutes = max(1, int((now - window.start).total_seconds() // 60))
        return min(previous.end, previous.start + timedelta(minutes=minutes))

    def _hours(self, window: TimeRange) -> float:
        return cm.elapsed_hours(window.start, window.end, self._clock.now())

    async def _daily_fetch(
        self, window: TimeRange, *, level: str = CONTAINER_LEVEL, scope: Scope | None = None
    ) -> list[tuple[list[LocalDay], AllocationData]]:
        """The window's data in one step set per local day of its zone.

        OpenCost steps run from the window's start, so a query starting at a local midnight
        with `step=1d` answers local days, until a DST change makes a day 23 or 25 hours
        long. So the window is cut into runs of days of equal length (a partial first day
        alone), each one query with that step: one query in UTC or without a DST change,
        three across one. Steps past the window's end are cut at it, as OpenCost does.
        """
        days = window.local_days()
        runs: list[list[LocalDay]] = []
        for day in days:
            aligned = day.start >= window.start
            last = runs[-1] if runs else None
            if last and aligned and last[0].start >= window.start and last[0].hours == day.hours:
                last.append(day)
            else:
                runs.append([day])
        fetches = [
            self._fetch(
                max(run[0].start, window.start),
                min(run[-1].end, window.end),
                step=_step(run[0].hours) if run[0].start >= window.start else "",
                level=level,
                scope=scope,
            )
            for run in runs
        ]
        # gather, not a TaskGroup: a failing source must surface as its own domain error.
        return list(zip(runs, await asyncio.gather(*fetches), strict=True))

    def _coverage(self, window: TimeRange, *answers: AllocationData) -> Coverage | None:
        """What the rows of `answers` cover of the window's elapsed part (None: no rows)."""
        bound = min(window.end, self._clock.now())
        starts, ends = [], []
        for data in answers:
            for row in data.rows():
                began, ended = parse_time(row.start), parse_time(row.end)
                if began is not None and ended is not None and ended > began:
                    starts.append(began)
                    ends.append(ended)
        if not starts:
            return None
        first, last = max(window.start, min(starts)), min(bound, max(ends))
        covered = max(0.0, (last - first).total_seconds() / 3600.0)
        elapsed = cm.elapsed_hours(window.start, window.end, self._clock.now())
        return Coverage(start=first, end=max(first, last), hours=covered, window_hours=elapsed)

    def _days(self, daily: dict[date, float], window: TimeRange) -> list[DayCost]:
        bound = min(window.end, self._clock.now())
        days = window.local_days(until=bound)
        known = {day.day for day in days}
        points = [
            DayCost(d.day, daily.get(d.day, 0.0), d.start < window.start or d.end > bound, d.hours)
            for d in days
        ]
        # Costs on days after `bound` (a source ahead of our clock) are still shown, not lost.
        points += [DayCost(day, cost, True) for day, cost in daily.items() if day not in known]
        return sorted(points, key=lambda p: p.day)


def _focus_level(focus: Focus, level: str) -> str:
    """Labels live on container rows only; a namespace or cluster focus keeps `level`."""
    return CONTAINER_LEVEL if focus.label is not None else level


def require_access(
    identity: Identity, scope: Scope, candidates: Iterable[str], check: AccessCheck
) -> Scope:
    """`scope`, unless it is empty although the data holds namespaces: then NoAccess, before
    any answer is fetched, so a user who may see nothing is told so (and how to change it)
    instead of being shown $0.00 totals. No data at all is not a question of access."""
    if not scope.empty:
        return scope
    if not any(candidates):
        return scope
    return refuse(identity, check)


def refuse(identity: Identity, check: AccessCheck) -> Scope:
    raise NoAccess(
        identity.k8s_user or identity.slack_user_id,
        identity.groups,
        check.verb,
        check.resource,
        check.group,
    )


def _suggest(asked: str, known: Iterable[str]) -> str | None:
    """The visible name `asked` was probably meant to be. Drawn only from names the asker may
    see, so it never hints at a hidden one, and reads the same for a hidden and an absent one."""
    names = sorted({name for name in known if name and name != asked})
    close = difflib.get_close_matches(asked, names, n=1, cutoff=0.75)
    return close[0] if close else None


def _namespaces(rows: Iterable[Allocation]) -> set[str]:
    return {
        row.namespace
        for row in rows
        if not row.is_idle and row.namespace not in cm.CLUSTER_PSEUDO_NAMESPACES
    }


def _label_pairs(rows: Iterable[Allocation]) -> set[str]:
    pairs: set[str] = set()
    for row in rows:
        if row.is_idle:
            continue
        for labels in (row.properties.labels, row.properties.namespace_labels):
            pairs |= {f"{key}={value}" for key, value in (labels or {}).items()}
    return pairs


def _focus_guess(focus: Focus, seen: list[Allocation]) -> str | None:
    """A did-you-mean for the one part of a focus that matched nothing visible."""
    if focus.namespace is not None and focus.namespace not in _namespaces(seen):
        return _suggest(focus.namespace, _namespaces(seen))
    if focus.label is not None:
        pairs = _label_pairs(seen)
        asked = "=".join(focus.label)
        if asked not in pairs:
            return _suggest(asked, pairs)
    if focus.cluster is not None:
        return _suggest(focus.cluster, _clusters(seen))
    return None


def _containers(rows: list[Allocation], grand: float) -> list[WorkloadContainer]:
    groups: dict[str, list[Allocation]] = {}
    for row in rows:
        groups.setdefault(row.properties.container or "__unallocated__", []).append(row)
    found = [
        WorkloadContainer(
            name=name,
            cost=cm.total(members),
            share=cm.share(cm.total(members), grand),
            efficiency=cm.efficiency(members),
        )
        for name, members in groups.items()
    ]
    return sorted(found, key=lambda c: (-c.cost, c.name))


def _focused(rows: list[Allocation], scope: Scope, focus: Focus) -> list[Allocation]:
    return cm.narrowed(cm.visible(rows, scope), focus.namespace, focus.label, focus.cluster)


def _step(hours: float) -> str:
    """An OpenCost step for a day of `hours` ("1d", "23h", "25h", "23h30m")."""
    if hours == 24.0:
        return TREND_STEP
    minutes = round(hours * 60)
    return f"{minutes // 60}h{minutes % 60}m" if minutes % 60 else f"{minutes // 60}h"


def _steps_by_day(
    days: list[LocalDay], data: AllocationData, window: TimeRange
) -> list[tuple[date, list[Allocation]]]:
    """Each step set with the local day it belongs to: from its rows' window start when they
    carry one, else by its position (OpenCost prints an empty set as `{}`)."""
    zone = window.zone
    out: list[tuple[date, list[Allocation]]] = []
    for index, step in enumerate(data.steps):
        fallback = days[min(index, len(days) - 1)].day
        for row in step:
            began = parse_time(row.window.start)
            day = began.astimezone(zone).date() if began is not None else fallback
            out.append((day, [row]))
        if not step:
            out.append((fallback, []))
    return out


def _rate_hours(elapsed: float, coverage: Coverage | None) -> float:
    """Rates are per hour the data covers; the elapsed window only when there is no data."""
    return coverage.hours if coverage is not None and coverage.hours > 0 else elapsed


def _describe(focus: Focus) -> str:
    parts = [f"namespace {focus.namespace}"] if focus.namespace is not None else []
    parts += [f"label {focus.label[0]}={focus.label[1]}"] if focus.label is not None else []
    parts += [f"cluster {focus.cluster}"] if focus.cluster is not None else []
    return ", ".join(parts)


def _share(item: cm.Ranked, grand: float) -> Share:
    return Share(name=item.key.name, cost=item.cost, share=cm.share(item.cost, grand))


def _top_item(item: cm.Ranked, grand: float) -> TopItem:
    key = item.key
    share = cm.share(item.cost, grand)
    return TopItem(key.name, item.cost, share, namespace=key.namespace, cluster=key.cluster)


def _mover(key: cm.GroupKey, before: float, after: float) -> Mover:
    return Mover(
        name=key.name,
        before=before,
        after=after,
        delta=after - before,
        delta_pct=cm.percent_change(before, after),
        namespace=key.namespace,
        cluster=key.cluster,
    )


def _workloads(rows: list[Allocation], grand: float) -> list[Workload]:
    groups = cm.group_by(rows, "controller")
    costs = {key: cm.total(members) for key, members in groups.items()}
    return [
        Workload(
            name=item.key.name,
            kind=groups[item.key][0].properties.controller_kind,
            cluster=item.key.cluster,
            cost=item.cost,
            share=cm.share(item.cost, grand),
            efficiency=cm.efficiency(groups[item.key]),
            pods=cm.pod_count(groups[item.key]),
        )
        for item in cm.ranked(costs)
    ]


def _clusters(rows: list[Allocation]) -> list[str]:
    return sorted({row.cluster for row in rows if row.cluster})


def _provenance(scope: Scope, *answers: AllocationData) -> Provenance:
    return Provenance(
        demo=any(a.demo for a in answers),
        stale=any(a.stale for a in answers),
        fetched_at=min(a.fetched_at for a in answers),
        failed_clusters=sorted({c for a in answers for c in a.failed_clusters}),
        partial_scope=scope.partial,
        missing=sorted({period for a in answers for period in a.missing}),
    )


def _whole_hour_offsets(window: TimeRange) -> bool:
    """Whether the window's zone is a whole number of hours from UTC at both of its ends."""
    zone = window.zone
    return all(
        (moment.astimezone(zone).utcoffset() or timedelta(0)) % timedelta(hours=1) == timedelta(0)
        for moment in (window.start, window.end)
    )
