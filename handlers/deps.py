"""What handlers need from the services, built once by bot/ (never constructed here).

Frozen and fully typed: the composition root fills every field in one constructor call, so a
handler can rely on a field's type and nothing changes it behind a listener's back. Optional
features (recommendations, digests, budgets, charts) are `None` when not wired.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Protocol

from services.costs.service import CostService
from services.ports import Clock

if TYPE_CHECKING:
    from services.access.policy import AccessPolicy
    from services.audit.log import AuditLog
    from services.digests import BudgetService, DigestService
    from services.recommendations.actions import RecommendationActions
    from services.recommendations.board import RecommendationBoard
    from services.storage.pending import PendingForms

DailySeries = Sequence[tuple[date, float]]


class ChartRenderer(Protocol):
    """(this period's daily spend, the previous period's or None, title, currency; what the
    image says under its title, the partial days to mark) -> PNG bytes."""

    def __call__(
        self,
        points: DailySeries,
        previous: DailySeries | None,
        title: str,
        currency: str,
        /,
        *,
        subtitle: str = ...,
        partial_days: Sequence[date] = ...,
    ) -> bytes: ...


Readiness = Callable[[], Awaitable[dict[str, str]]]
# (Slack user id, filename, content, comment) -> the file shared in that user's DM.
DmFileSender = Callable[[str, str, bytes, str], Awaitable[None]]


@dataclass(frozen=True)
class Deps:
    costs: CostService
    access: AccessPolicy
    audit: AuditLog
    clock: Clock
    currency: str = "USD"
    admin_groups: frozenset[str] = frozenset()
    demo: bool = False
    recs: RecommendationBoard | None = None
    digests: DigestService | None = None
    budgets: BudgetService | None = None
    chart: ChartRenderer | None = None
    ready: Readiness | None = None
    rec_actions: RecommendationActions | None = None  # every rule for recommendation buttons
    forms: PendingForms | None = None  # what an open modal needs, kept server-side
    dm_file: DmFileSender | None = None  # CSV exports go to the asker's DM
