"""What handlers need from the services, built and passed in by bot/ (never constructed here)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from services.costs.service import CostService
from services.ports import Clock

if TYPE_CHECKING:
    from services.access.policy import AccessPolicy
    from services.audit import AuditLog
    from services.recommendations.actions import RecommendationActions


@dataclass
class Deps:
    costs: CostService
    access: AccessPolicy
    audit: AuditLog
    clock: Clock
    currency: str = "USD"
    admin_groups: frozenset[str] = frozenset()
    demo: bool = False
    recs: Any = None  # handlers.listeners.recs.RecsDeps when recommendations are wired
    digests: Any = None  # services.digests.DigestService when digests are wired
    budgets: Any = None
    chart: Callable[..., bytes] | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    ready: Callable[[], Awaitable[dict[str, str]]] | None = None
    rec_actions: RecommendationActions | None = None  # every rule for recommendation buttons
