"""Monthly budgets and their alerts: set/list/remove with access checks, and the daily check
that posts each threshold crossing (and each spend jump) once, through the DeliveryGuard.

Alerts only ever cover what the budget's creator may still see.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Protocol

import msgspec
import structlog
from structlog.typing import FilteringBoundLogger

from services.access.models import EVERYTHING, Identity, Scope
from services.access.policy import AccessPolicy
from services.audit.log import AuditLog
from services.costs.service import CostService, Focus
from services.costs.windows import TimeRange, local_midnight, zone_of
from services.digests.alerts import (
    BASELINE_DAYS,
    BudgetAlert,
    budget_alerts,
    forecast,
    local_date,
    month_start,
    spend_change,
)
from services.digests.content import Rendered
from services.digests.delivery import DeliveryGuard, Job, Outgoing, Result
from services.digests.models import Budget, BudgetKind, RunRecord, new_id
from services.digests.store import DigestStore
from services.errors import CostbotError, NotAllowed, NotFound, Unmapped, UserInputError
from services.ports import Clock

MAX_PER_CHANNEL = 50
ALERT_KEY_MAX = 200  # "<budget id>:<period>"; anything longer is forged and cut before logging


class AlertRenderer(Protocol):
    def alert(self, alert: BudgetAlert) -> Rendered: ...

    def acknowledged(self, alert: BudgetAlert, by: str) -> Rendered:
        """The alert without its button, saying who acknowledged it."""
        ...


class BudgetStatus(msgspec.Struct, frozen=True):
    budget: Budget
    last: RunRecord | None
    target_visible: bool = True  # False: a namespace the viewer may not see (never named)
    # Spend this month within the *viewer's* scope, and where it is heading (month-to-date ÷
    # elapsed × month length); None when the viewer may not see the target.
    month_to_date: float | None = None
    forecast: float | None = None

    @property
    def used(self) -> float | None:
        """Month-to-date as a fraction of the budget."""
        if self.month_to_date is None or self.budget.amount <= 0:
            return None
        return self.month_to_date / self.budget.amount


class AlertAcknowledged(msgspec.Struct, frozen=True):
    """An accepted click on an alert's Acknowledge button, with what to show for it: the
    alert as it was posted (from the store) and where it was posted (from the delivery record).
    Nothing here comes from the click's payload but the alert key, which was checked."""

    budget: Budget
    alert_key: str
    by: str
    channel: str = ""  # the budget's channel, where the alert was posted
    ts: str = ""  # the posted alert's message; "" when no record is left
    message: Rendered | None = None  # the alert re-rendered, acknowledged; None: unknown


class BudgetService:
    def __init__(
        self,
        store: DigestStore,
        guard: DeliveryGuard,
        costs: CostService,
        access: AccessPolicy,
        *,
        audit: AuditLog,
        clock: Clock,
        resolve_identity: Callable[[str], Awaitable[Identity]],
        renderer: AlertRenderer,
        admin_groups: frozenset[str] = frozenset(),
        spend_ratio: float = 1.5,
        spend_min: float = 50.0,
        logger: FilteringBoundLogger | None = None,
    ) -> None:
        self._store, self._guard, self._costs, self._access = store, guard, costs, access
        self._audit, self._clock, self._resolve, self._renderer = (
            audit,
            clock,
            resolve_identity,
            renderer,
        )
        self._admins, self._ratio, self._min = admin_groups, spend_ratio, spend_min
        self._log = logger or structlog.get_logger("costbot.budgets")

    # --- managing -------------------------------------------------------------------------------
    async def set(
        self,
        identity: Identity,
        channel: str,
        kind: BudgetKind,
        target: str,
        amount: float,
        *,
        tz: str = "UTC",
    ) -> Budget:
        """Create a budget, or change the amount (and zone) of this channel's budget for the
        same target. `tz` (a `normalize_zone` name) is whose calendar months it counts.

        Changing needs what creating needs, and the budget must be the identity's own (or the
        identity an admin): nobody else's amount is silently overwritten."""
        if not amount > 0:
            raise UserInputError("A budget must be more than 0.")
        await self._require_access(identity, kind, target)
        current = await self._store.budgets(channel)
        existing = [b for b in current if (b.kind, b.target) == (kind, target)]
        if existing:
            await self._require_owner(identity, existing[0], "change")
        if not existing and len(current) >= MAX_PER_CHANNEL:
            raise UserInputError(f"This channel already has {MAX_PER_CHANNEL} budgets.")
        budget = Budget(
            id=existing[0].id if existing else new_id("b"),
            channel=channel,
            kind=kind,
            target=target,
            amount=amount,
            creator=identity.slack_user_id,
            created_at=existing[0].created_at if existing else self._clock.now(),
            spend_ratio=self._ratio,
            spend_min=self._min,
            tz=tz,
        )
        await self._store.save_budget(budget)
        await self._audit.record(
            "budget_set",
            identity.slack_user_id,
            budget=budget.id,
            channel=channel,
            kind=kind,
            target=target,
            amount=amount,
            tz=tz,
        )
        return budget

    def is_admin(self, identity: Identity) -> bool:
        return identity.mapped and bool(self._admins.intersection(identity.groups))

    async def statuses(self, identity: Identity, channel: str) -> list[BudgetStatus]:
        """This channel's budgets (admins: every channel's); a namespace budget's target is
        named only to a viewer who may see that namespace."""
        budgets = await self._store.budgets(None if self.is_admin(identity) else channel)
        return [await self._status(identity, b) for b in budgets]

    async def visible_to(self, identity: Identity) -> list[BudgetStatus]:
        """Every channel's budgets this identity may see, for views with no channel (the web
        page, the API without `channel`): those they created and those whose target their
        access covers (the access setting one needs). Admins see all. Nothing else is listed,
        so a listing never names, or hints at, a budget on something the viewer may not see."""
        budgets = await self._store.budgets(None)
        if not self.is_admin(identity):
            budgets = [b for b in budgets if identity.mapped and await self._may_watch(identity, b)]
        return [await self._status(identity, b) for b in budgets]

    async def _status(self, identity: Identity, budget: Budget) -> BudgetStatus:
        visible = await self._target_visible(identity, budget)
        last = await self._store.last_run("alert", budget.id)
        scoped = await self._scope(budget, identity) if visible else None
        if scoped is None:
            return BudgetStatus(budget, last, target_visible=visible)
        now, tz = self._clock.now(), budget.zone
        start = local_date(month_start(now, tz), tz)
        daily = await self._daily(now, tz, *scoped, since=month_start(now, tz))
        spent = math.fsum(cost for day, cost in daily if day >= start)
        return BudgetStatus(budget, last, visible, spent, forecast(spent, now, tz))

    async def remove(self, identity: Identity, channel: str, budget_id: str) -> Budget:
        """Only the budget's creator or an admin may remove it; an admin who did not create it
        also needs the access creating it needs: admin-group membership never outranks
        Kubernetes permissions. (The creator may always switch their own budget off.)"""
        budget = await self._find(identity, channel, budget_id)
        await self._require_owner(identity, budget, "remove")
        if budget.creator != identity.slack_user_id:
            await self._require_access(identity, budget.kind, budget.target)
        await self._store.remove_budget(budget.id)
        await self._audit.record(
            "budget_removed",
            identity.slack_user_id,
            budget=budget.id,
            channel=budget.channel,
            kind=budget.kind,
            target=budget.target,
        )
        return budget

    async def acknowledge(
        self, identity: Identity, channel: str, alert_key: str
    ) -> AlertAcknowledged:
        """An alert's Acknowledge button: only someone who may watch the budget (its creator,
        an admin, or anyone with the access creating it needs) acknowledges it for the channel.
        Accepted and refused clicks are audited."""
        key = alert_key[:ALERT_KEY_MAX]
        user = identity.slack_user_id
        if not identity.mapped:
            await self._audit.record("access_denied", user, alert=key, reason="unmapped")
            raise Unmapped(user)
        budget_id = key.partition(":")[0]
        budget = await self._store.budget(budget_id) if budget_id else None
        if budget is None or (budget.channel != channel and not self.is_admin(identity)):
            await self._audit.record("access_denied", user, alert=key, reason="unknown budget")
            raise NotFound("That budget no longer exists, so there is nothing to acknowledge.")
        if not await self._may_watch(identity, budget):
            await self._audit.record("access_denied", user, alert=key, budget=budget.id)
            raise NotAllowed(
                "Only someone who may see what this budget watches can acknowledge its alerts."
            )
        await self._audit.record("alert_acknowledged", user, alert=key, budget=budget.id)
        return await self._acknowledged(budget, key, user)

    async def _acknowledged(self, budget: Budget, key: str, user: str) -> AlertAcknowledged:
        """The accepted click, with the alert re-rendered from what was stored when it was
        posted and the message it was posted as (both server state)."""
        alert = await self._store.alert(key)
        if alert is None or alert.budget.id != budget.id:
            return AlertAcknowledged(budget, key, user, channel=budget.channel)
        done = await self._guard.done(self._job(alert))
        return AlertAcknowledged(
            budget,
            key,
            user,
            channel=budget.channel,
            ts=done.ts if done is not None else "",
            message=self._renderer.acknowledged(alert, user),
        )

    # --- the daily check ------------------------------------------------------------------------
    async def check(self, now: datetime | None = None) -> list[Result]:
        """Every budget: post each newly crossed threshold and yesterday's spend jump, once."""
        moment = now or self._clock.now()
        results: list[Result] = []
        for budget in await self._store.budgets():
            try:
                results += await self.check_one(budget, moment)
            except CostbotError as exc:
                self._log.warning("budget.check_failed", budget=budget.id, error=str(exc))
        return results

    async def check_one(self, budget: Budget, now: datetime) -> list[Result]:
        identity = await self._resolve(budget.creator)
        scoped = await self._scope(budget, identity)
        if scoped is None:
            self._log.info("budget.not_visible", budget=budget.id, creator=budget.creator)
            return []
        tz = budget.zone
        daily = await self._daily(now, tz, *scoped)
        start = local_date(month_start(now, tz), tz)
        month_to_date = math.fsum(cost for day, cost in daily if day >= start)
        alerts = budget_alerts(budget, month_to_date, now)
        crossed = [alert for alert in alerts if alert.kind == "threshold"]
        for lower in crossed[:-1]:  # first seen together: only the highest is worth a message
            await self._guard.skip(self._job(lower), "a higher threshold was crossed too")
        jump = spend_change(budget, daily, local_date(now, tz))
        due = [
            *crossed[-1:],
            *(a for a in alerts if a.kind == "forecast"),
            *([jump] if jump else []),
        ]
        return [await self._send(alert) for alert in due]

    async def _send(self, alert: BudgetAlert) -> Result:
        async def produce() -> Outgoing:
            await self._store.save_alert(alert)  # what Acknowledge re-renders
            text, blocks = self._renderer.alert(alert)
            return Outgoing(text, blocks)

        return await self._guard.deliver(self._job(alert), produce)

    def _job(self, alert: BudgetAlert) -> Job:
        return Job(
            kind="alert",
            subject=alert.budget.id,
            period=alert.period,
            channel=alert.budget.channel,
            event_type="costbot_alert",
            id_field="budget_id",
        )

    async def _daily(
        self,
        now: datetime,
        tz: str,
        scope: Scope,
        focus: Focus,
        *,
        since: datetime | None = None,
    ) -> list[tuple[date, float]]:
        """Daily cost per local day of `tz` from `since` (default: the month's start, or 15
        days back if earlier)."""
        first = local_date(now, tz) - timedelta(days=BASELINE_DAYS + 1)
        start = since or min(month_start(now, tz), local_midnight(first, zone_of(tz)))
        window = TimeRange(start, max(now, start + timedelta(minutes=1)), "budget check", tz)
        try:
            trend = await self._costs.trend(window, scope, focus)
        except NotFound:  # nothing carries the label: nothing spent
            return []
        return [(point.day, point.cost) for point in trend.points]

    # --- access ---------------------------------------------------------------------------------
    async def _find(self, identity: Identity, channel: str, budget_id: str) -> Budget:
        budget = await self._store.budget(budget_id)
        if budget is None or (budget.channel != channel and not self.is_admin(identity)):
            raise NotFound(f"No budget {budget_id} in this channel (see `/cost budget list`).")
        return budget

    async def _require_owner(self, identity: Identity, budget: Budget, verb: str) -> None:
        """Ownership is explicit: the creator or an admin, nobody else."""
        if budget.creator == identity.slack_user_id and identity.mapped:
            return
        if self.is_admin(identity):
            return
        await self._audit.record(
            "access_denied",
            identity.slack_user_id,
            budget=budget.id,
            action=f"budget_{verb}",
            reason="not the creator",
        )
        raise NotAllowed(f"Only whoever set this budget, or an admin, can {verb} it.")

    async def _require_access(self, identity: Identity, kind: BudgetKind, target: str) -> None:
        if kind == "cluster":  # target: one cluster's name, or "" for every cluster
            if not await self._access.may_see_cluster(identity, target or None):
                raise NotAllowed("A cluster-wide budget needs cluster-wide access.")
        elif kind == "namespace":
            if not await self._access.may_see_all(identity, [target]):
                raise NotAllowed("You may only set budgets for namespaces you may see.")
        elif not identity.mapped:
            raise NotAllowed("You need a Kubernetes identity to set budgets.")
        elif not await self._sees_any(identity):
            raise NotAllowed("You may not see any namespace, so this budget would never alert.")

    async def _may_watch(self, identity: Identity, budget: Budget) -> bool:
        """The creator, an admin, or someone with the access creating this budget needs."""
        if budget.creator == identity.slack_user_id or self.is_admin(identity):
            return True
        try:
            await self._require_access(identity, budget.kind, budget.target)
        except NotAllowed:
            return False
        return True

    async def _target_visible(self, identity: Identity, budget: Budget) -> bool:
        """Whether the viewer may see what the budget watches: its namespace, or its cluster
        whole (a cluster budget's spend is a cluster-wide figure)."""
        if budget.kind == "cluster":
            return await self._access.may_see_cluster(identity, budget.target or None)
        if budget.kind != "namespace":
            return True
        return await self._access.may_see_all(identity, [budget.target])

    async def _sees_any(self, identity: Identity) -> bool:
        now = self._clock.now()
        present = await self._costs.visible_namespaces(
            TimeRange(now - timedelta(days=7), now, "7d")
        )
        scope = await self._access.scope(identity, present)
        return not scope.empty

    async def _scope(self, budget: Budget, identity: Identity) -> tuple[Scope, Focus] | None:
        if budget.kind == "cluster":
            if not await self._access.may_see_cluster(identity, budget.target or None):
                return None
            return EVERYTHING, Focus(cluster=budget.target or None)
        if budget.kind == "namespace":
            scope = await self._access.scope(identity, [budget.target])  # in every cluster
            names = scope.visible_names()
            visible = names is None or budget.target in names
            return (scope, Focus(namespace=budget.target)) if visible else None
        now = self._clock.now()
        window = TimeRange(now - timedelta(days=7), now, "7d")
        present = await self._costs.visible_namespaces(window)
        scope = await self._access.scope(identity, present)
        return None if scope.empty else (scope, Focus(label=budget.label))
