"""OptimizationService: runs the recommendation rules over OpenCost history for one scope.

Talks to the outside only through the CostSource, HpaSource and Clock ports; the maths is pure
and lives in `maths.py`. Never shows a row the scope may not see.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Sequence
from datetime import UTC, datetime, timedelta
from typing import cast

import msgspec
import structlog

from services.access.models import Scope
from services.errors import OpenCostError, UserInputError
from services.opencost.models import AllocationData, AllocationQuery, AssetData
from services.ports import Clock, CostSource
from services.recommendations.maths import DEFAULTS, rightsize
from services.recommendations.models import (
    PROFILES,
    HpaSource,
    HpaTarget,
    Profile,
    Recommendation,
    RecommendationSet,
    RecSettings,
    Skipped,
)
from services.recommendations.series import DatedRow, container_samples, dated_rows, workload_usage
from services.recommendations.waste import idle_capacity, idle_workload, unclaimed_volumes
from services.storage.ttl import TtlCache

log = structlog.get_logger(__name__)


COMPUTED_TTL_SECONDS = 300  # a result is only reused for the very same data (its fetch time)
COMPUTED_ENTRIES = 64  # distinct scopes × profiles kept


class OptimizationService:
    """Generates recommendations: right-sizing, idle workloads, unclaimed volumes, idle capacity."""

    def __init__(
        self,
        source: CostSource,
        hpas: HpaSource,
        clock: Clock,
        settings: RecSettings = DEFAULTS,
    ) -> None:
        self._source = source
        self._hpas = hpas
        self._clock = clock
        self._settings = settings
        # The maths over every container-day is the expensive part, and cost answers ask for
        # it too (their open-savings line): reuse a result while its inputs are the same data.
        self._computed: TtlCache[Hashable, RecommendationSet] = TtlCache(
            clock, COMPUTED_TTL_SECONDS, COMPUTED_ENTRIES
        )

    def window(self) -> tuple[datetime, datetime]:
        """The last `history_days` full UTC days: [today 00:00 − N days, today 00:00)."""
        now = self._clock.now().astimezone(UTC)
        end = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return end - timedelta(days=self._settings.history_days), end

    def settings_for(self, profile: str | None) -> RecSettings:
        """The engine's settings with `profile` (a key of PROFILES) in place of the default."""
        if profile is None or profile == self._settings.profile:
            return self._settings
        if profile not in PROFILES:
            raise UserInputError(f"Unknown sizing profile; choose one of {', '.join(PROFILES)}.")
        return msgspec.structs.replace(self._settings, profile=cast(Profile, profile))

    async def generate(self, scope: Scope, profile: str | None = None) -> RecommendationSet:
        """Every recommendation the scope may see, best savings first, plus what was skipped.

        `profile` sizes with a Kubecost-compatible target utilization instead of the default."""
        settings = self.settings_for(profile)
        start, end = self.window()
        # Container level (aggregate="") and daily steps: any aggregation would null the
        # rawAllocationOnly maxima the CPU and memory rules depend on.
        query = AllocationQuery(start=start, end=end, step="1d", aggregate="", include_idle=True)
        data, hpas, assets, warnings = await self._fetch(query, scope)
        inputs = (scope, settings, start, end, data.fetched_at, data.stale, tuple(hpas))
        key = (*inputs, assets.fetched_at if assets else None, tuple(warnings))
        hit, done = self._computed.get(key)
        if hit and done is not None:
            return done
        # Pure CPU work over every container-day: off the event loop so acks keep flowing.
        done = await asyncio.to_thread(
            self._compute,
            scope,
            data,
            hpas,
            assets,
            warnings=warnings,
            start=start,
            end=end,
            settings=settings,
        )
        self._computed.put(key, done)
        return done

    def _compute(
        self,
        scope: Scope,
        data: AllocationData,
        hpas: list[HpaTarget],
        assets: AssetData | None,
        *,
        warnings: list[str],
        start: datetime,
        end: datetime,
        settings: RecSettings,
    ) -> RecommendationSet:
        rows = dated_rows(data, start)
        visible = [
            dated
            for dated in rows
            if not dated.row.is_idle and scope.sees(dated.row.namespace, dated.row.cluster)
        ]
        recs, skipped = self._workload_recs(visible, hpas, end, settings)
        failed = list(data.failed_clusters)
        if scope.any_cluster_wide:  # cluster-level insights of the clusters seen whole
            cluster_recs = self._cluster_recs(rows, assets)
            recs += [rec for rec in cluster_recs if scope.sees_cluster(rec.cluster)]
            failed += [
                name for name in (assets.failed_clusters if assets else []) if name not in failed
            ]
        shown = sorted(
            (rec for rec in recs if self._worth_showing(rec, settings)),
            key=lambda rec: (-rec.monthly_savings, rec.id),
        )
        log.info(
            "recommendations.generated",
            shown=len(shown),
            skipped=len(skipped),
            partial_scope=scope.partial,
            demo=data.demo,
        )
        return RecommendationSet(
            recommendations=shown,
            skipped=skipped,
            start=start,
            end=end,
            fetched_at=data.fetched_at,
            demo=data.demo or bool(assets and assets.demo),
            stale=data.stale or bool(assets and assets.stale),
            failed_clusters=failed,
            warnings=warnings,
        )

    async def _fetch(
        self, query: AllocationQuery, scope: Scope
    ) -> tuple[AllocationData, list[HpaTarget], AssetData | None, list[str]]:
        if scope.empty:
            # Sees nothing: no OpenCost request, no cache write (and no HPA listing).
            now = self._clock.now().timestamp()
            return AllocationData(steps=[], fetched_at=now), [], None, []
        data, hpas, (assets, warnings) = await asyncio.gather(
            self._source.allocations(query), self._hpas.cpu_hpas(), self._assets(query, scope)
        )
        return data, hpas, assets, warnings

    async def _assets(
        self, query: AllocationQuery, scope: Scope
    ) -> tuple[AssetData | None, list[str]]:
        if not scope.any_cluster_wide:
            return None, []
        try:
            return await self._source.assets(query.start, query.end), []
        except OpenCostError as exc:
            # Volumes and node counts feed two rules of four: say so rather than lose the rest.
            # The error names OpenCost's internal address: operators get it, users do not.
            log.warning("recs.assets_unavailable", error=str(exc))
            return None, ["unclaimed volumes and node counts unavailable (OpenCost's asset data)"]

    def _workload_recs(
        self,
        rows: Sequence[DatedRow],
        hpas: Sequence[HpaTarget],
        end: datetime,
        settings: RecSettings,
    ) -> tuple[list[Recommendation], list[Skipped]]:
        idle_since = (end - timedelta(days=settings.idle_days)).date()
        usage = workload_usage(dated for dated in rows if dated.day >= idle_since)
        recs = [rec for item in usage if (rec := idle_workload(item, settings)) is not None]
        idle_workloads = {rec.key for rec in recs}
        skipped: list[Skipped] = []
        for samples in container_samples(rows):
            if samples.key.workload() in idle_workloads:
                continue  # "stop it" supersedes "shrink it"; counting both would double savings
            hpa = next((target for target in hpas if target.targets(samples.key)), None)
            outcome = rightsize(samples, settings, hpa)
            if isinstance(outcome, Skipped):
                skipped.append(outcome)
            else:
                recs.append(outcome)
        return recs, skipped

    def _cluster_recs(
        self, rows: Sequence[DatedRow], assets: AssetData | None
    ) -> list[Recommendation]:
        days = len({dated.day for dated in rows})
        nodes = [asset for asset in assets.assets if asset.type == "Node"] if assets else []
        recs = idle_capacity((dated.row for dated in rows), nodes, days * 24.0, self._settings)
        if assets is not None:
            recs += unclaimed_volumes(assets.assets, self._settings)
        return recs

    @staticmethod
    def _worth_showing(rec: Recommendation, settings: RecSettings) -> bool:
        """Risks and raises to the minimum always; savings from `min_monthly_savings` up."""
        return rec.category != "savings" or rec.monthly_savings >= settings.min_monthly_savings
