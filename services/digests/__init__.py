"""Scheduled digests and budget alerts (docs/digests.md).

`schedule` (triggers, fire times, periods) → `runner` (what is due) → `delivery` (exactly once
across replicas) → Slack through the ChatPoster port. `content` gathers the figures, `service`
and `budgets` are what the /cost routes call, `store` is what they keep (in Redis through
`redis_store` and `redis_delivery`, which only bot/ builds). Block Kit is
rendered in handlers/render/digest.py and injected; nothing here speaks Slack.
"""

from __future__ import annotations

from services.digests.budgets import AlertAcknowledged, BudgetService, BudgetStatus
from services.digests.content import DigestData, RecsDigest, RecsDigestItem, RecsDigestSource
from services.digests.delivery import DeliveryGuard, Job, Result
from services.digests.models import Budget, Subscription, SubscriptionSpec
from services.digests.runner import DigestRunner
from services.digests.service import DigestService, SubscriptionStatus
from services.digests.store import DigestStore

__all__ = [
    "AlertAcknowledged",
    "Budget",
    "BudgetService",
    "BudgetStatus",
    "DeliveryGuard",
    "DigestData",
    "DigestRunner",
    "DigestService",
    "DigestStore",
    "Job",
    "RecsDigest",
    "RecsDigestItem",
    "RecsDigestSource",
    "Result",
    "Subscription",
    "SubscriptionSpec",
    "SubscriptionStatus",
]
