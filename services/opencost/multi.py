"""Several clusters as one `CostSource`: asked concurrently, merged step by step.

A failing cluster makes the answer partial (named in `failed_clusters`), never silently smaller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TypedDict, TypeVar

import structlog

from services.errors import OpenCostError, OpenCostUnavailable
from services.opencost.models import AllocationData, AllocationQuery, AssetData
from services.ports import CostSource

log = structlog.get_logger(__name__)
_T = TypeVar("_T", AllocationData, AssetData)


class MultiClusterSource:
    """Asks every cluster's source at once; the configured key names each cluster."""

    def __init__(self, sources: dict[str, CostSource]) -> None:
        if not sources:
            raise ValueError("MultiClusterSource needs at least one source")
        self.sources = dict(sources)

    async def allocations(self, query: AllocationQuery) -> AllocationData:
        if len(self.sources) == 1:
            return await next(iter(self.sources.values())).allocations(query)
        answers, failed = await self._ask_all(lambda source: source.allocations(query))
        width = max(len(answer.steps) for answer in answers)
        steps = [
            [row for answer in answers if i < len(answer.steps) for row in answer.steps[i]]
            for i in range(width)
        ]
        missing = sorted({period for answer in answers for period in answer.missing})
        return AllocationData(steps=steps, missing=missing, **_provenance(answers, failed))

    async def assets(self, start: datetime, end: datetime) -> AssetData:
        if len(self.sources) == 1:
            return await next(iter(self.sources.values())).assets(start, end)
        answers, failed = await self._ask_all(lambda source: source.assets(start, end))
        found = [asset for answer in answers for asset in answer.assets]
        return AssetData(assets=found, **_provenance(answers, failed))

    async def _ask_all(
        self, ask: Callable[[CostSource], Awaitable[_T]]
    ) -> tuple[list[_T], list[str]]:
        """Answers of the clusters that answered, and the names of those that failed.

        Raises the first OpenCostError (an Unavailable one first) when none answered; anything
        that is not an OpenCostError is a bug and propagates.
        """
        names = list(self.sources)
        results = await asyncio.gather(
            *(ask(self.sources[name]) for name in names), return_exceptions=True
        )
        answers: list[_T] = []
        errors: list[tuple[str, OpenCostError]] = []
        for name, result in zip(names, results, strict=True):
            if isinstance(result, OpenCostError):
                errors.append((name, result))
            elif isinstance(result, BaseException):
                raise result
            else:
                answers.append(result)
        for name, error in errors:
            log.warning("opencost.cluster_failed", cluster=name, error=str(error))
        if not answers:
            raise _first_error([error for _, error in errors])
        return answers, [name for name, _ in errors]


def _first_error(errors: Sequence[OpenCostError]) -> OpenCostError:
    unavailable: list[OpenCostError] = [e for e in errors if isinstance(e, OpenCostUnavailable)]
    return (unavailable or list(errors))[0]


class _Provenance(TypedDict):
    fetched_at: float
    demo: bool
    stale: bool
    failed_clusters: list[str]


def _provenance(answers: Sequence[AllocationData | AssetData], failed: list[str]) -> _Provenance:
    """The merged flags: oldest fetch, demo if any, stale if any, every failed cluster."""
    nested = [name for answer in answers for name in answer.failed_clusters]
    return {
        "fetched_at": min(answer.fetched_at for answer in answers),
        "demo": any(answer.demo for answer in answers),
        "stale": any(answer.stale for answer in answers),
        "failed_clusters": sorted({*failed, *nested}),
    }
