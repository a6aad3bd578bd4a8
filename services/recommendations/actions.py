"""What a person may do to a recommendation, whatever the surface (Slack button, API, web view).

Every action re-authorizes the *actor*: the recommendation must be visible to them, and they
must be allowed to change its target in Kubernetes (`patch` on the workload, or on the
cluster-scoped volume or node; cluster-level insights such as idle capacity need cluster-wide
`patch` on nodes, not merely cluster-wide view). The version the actor saw must still be the
current one. Every accepted and every rejected action is written to the audit log.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import msgspec

from services.access.models import Identity, Scope
from services.access.policy import CLUSTER_RESOURCES, AccessPolicy
from services.audit.log import AuditLog
from services.costs.scoping import window_scope
from services.costs.service import CostService
from services.costs.windows import DEFAULT_WINDOW, normalize_zone, parse_window
from services.errors import (
    AuthorizationUnavailable,
    NotAllowed,
    StaleAction,
    Unmapped,
    UserInputError,
)
from services.ports import Clock
from services.recommendations.board import Board, RecommendationBoard
from services.recommendations.models import Action, Recommendation, RecState

SNOOZE_DAYS = (7, 30)  # the only snoozes offered: a forged 10-year snooze is refused
REASON_MIN, REASON_MAX = 3, 500  # the dismiss modal enforces the same bounds
AUDIT_REASON_MAX = 200
ID_MAX = 40  # ids are short hex digests; anything longer is forged and is cut before logging
# Any line or paragraph break, tab or other control character: a reason is one audit line.
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SPACES = re.compile(r"\s{2,}")
# The cluster-wide grant a cluster-level insight (no single target) needs: patch on every node.
CLUSTER_TARGET_KIND = "node"

UNAVAILABLE = "That recommendation is not available to you (or no longer exists)."
STALE = (
    "This recommendation changed since the message was posted; here is the current one. "
    "Nothing was changed."
)


class OpenSavings(msgspec.Struct, frozen=True):
    """What is open to act on in a scope: the count of open recommendations (savings, risks and
    minimums) and the monthly savings the open savings items add up to."""

    count: int
    monthly: float


class ActionResult(msgspec.Struct, frozen=True):
    """A recommendation after an accepted action; `changed` is False for a repeated click."""

    rec: Recommendation
    state: RecState
    changed: bool


def clean_reason(raw: str) -> str:
    """A dismiss reason as stored and audited: one line, 3..500 characters.

    Line breaks and control characters become spaces, so a reason can never start a new,
    spoofed line in the audit log or in a rendered message."""
    reason = _SPACES.sub(" ", _BREAKS.sub(" ", raw)).strip()
    if len(reason) < REASON_MIN:
        raise UserInputError(f"Please say why ({REASON_MIN}+ characters).")
    if len(reason) > REASON_MAX:
        raise UserInputError(f"Please keep the reason under {REASON_MAX} characters.")
    return reason


class RecommendationActions:
    """List, find and act on recommendations for one identity, with every rule applied here."""

    def __init__(
        self,
        board: RecommendationBoard,
        costs: CostService,
        access: AccessPolicy,
        audit: AuditLog,
        clock: Clock,
    ) -> None:
        self._board, self._costs, self._access = board, costs, access
        self._audit, self._clock = audit, clock

    # --- reading -------------------------------------------------------------------------------
    async def scope(self, identity: Identity) -> Scope:
        """What the identity may see among the namespaces present in the default window."""
        zone = normalize_zone(identity.tz or "") or "UTC"  # the asker's days, like /cost
        window = parse_window(DEFAULT_WINDOW, self._clock.now(), tz=zone)
        return (await window_scope(self._costs, self._access, identity, window)).scope

    async def board(
        self,
        identity: Identity,
        namespace: str | None = None,
        include_all: bool = False,
        *,
        profile: str | None = None,
    ) -> Board:
        """What the identity sees, in `namespace` when given (filtered within its own scope)."""
        scope = await self.scope(identity)
        return await self._board.board(scope, namespace, include_all, profile=profile)

    async def open_savings(self, identity: Identity, namespace: str | None = None) -> OpenSavings:
        """The open recommendations the identity may see (in `namespace`), for a cost answer's
        closing line."""
        board = await self.board(identity, namespace)
        count = len(board.items) + len(board.risks) + len(board.minimums)
        return OpenSavings(count, board.total_savings)

    async def find(
        self, identity: Identity, rec_id: str, *, profile: str | None = None
    ) -> Recommendation:
        """The current recommendation, if the identity may see it (details, the stale view)."""
        async with self._denials(identity):
            scope = await self.scope(identity)
            rec = await self._board.find(scope, rec_id[:ID_MAX], profile=profile)
        if rec is None:
            raise NotAllowed(UNAVAILABLE)
        return rec

    async def current(
        self, identity: Identity, rec_id: str, *, profile: str | None = None
    ) -> tuple[Recommendation, RecState]:
        """The recommendation with its state now, if visible: what a stale click is shown."""
        rec = await self.find(identity, rec_id, profile=profile)
        return rec, await self._board.state(rec.id)

    # --- acting --------------------------------------------------------------------------------
    async def authorize(
        self, identity: Identity, rec_id: str, *, profile: str | None = None
    ) -> Recommendation:
        """The recommendation, if this identity may act on it (before a dismiss modal opens)."""
        rec_id = rec_id[:ID_MAX]
        async with self._denials(identity):
            if not identity.mapped:
                await self._deny(identity, rec_id=rec_id, reason="unmapped")
                raise Unmapped(identity.slack_user_id)
            rec = await self._board.find(await self.scope(identity), rec_id, profile=profile)
            if rec is None:
                await self._reject(identity, rec_id, "not visible")
                raise NotAllowed(UNAVAILABLE)
            if not await self._may_act(identity, rec):
                await self._deny(identity, rec_id=rec.id, namespace=rec.namespace, action="act")
                raise NotAllowed(
                    f"You may not change `{rec.namespace or 'cluster'}/{rec.controller}` "
                    "in Kubernetes, so you can't act on this recommendation."
                )
        return rec

    async def acknowledge(
        self, identity: Identity, rec_id: str, version: str, *, profile: str | None = None
    ) -> ActionResult:
        return await self._act(identity, rec_id, version, "acknowledge", profile=profile)

    async def snooze(
        self,
        identity: Identity,
        rec_id: str,
        version: str,
        days: int,
        *,
        profile: str | None = None,
    ) -> ActionResult:
        if days not in SNOOZE_DAYS:
            raise UserInputError(f"A snooze lasts {' or '.join(map(str, SNOOZE_DAYS))} days.")
        until = self._clock.now() + timedelta(days=days)
        return await self._act(identity, rec_id, version, "snooze", until=until, profile=profile)

    async def dismiss(
        self,
        identity: Identity,
        rec_id: str,
        version: str,
        reason: str,
        *,
        profile: str | None = None,
    ) -> ActionResult:
        reason = clean_reason(reason)
        return await self._act(identity, rec_id, version, "dismiss", reason=reason, profile=profile)

    # --- internals -----------------------------------------------------------------------------
    async def _act(
        self,
        identity: Identity,
        rec_id: str,
        version: str,
        action: Action,
        *,
        until: datetime | None = None,
        reason: str = "",
        profile: str | None = None,
    ) -> ActionResult:
        """Re-authorize, check the version, then change the state once (atomic, idempotent).

        The version is that of the recommendation sized with the `profile` the actor saw."""
        rec = await self.authorize(identity, rec_id, profile=profile)
        if version != rec.version:
            await self._reject(identity, rec.id, "stale version")
            raise StaleAction(STALE)
        result = await self._board.store.act(
            rec.id,
            action,
            identity.slack_user_id,
            rec.version,
            until=until,
            reason=reason,
        )
        if result.changed:
            await self._audit.record(
                f"recommendation_{result.state.status}",
                identity.slack_user_id,
                rec_id=rec.id,
                namespace=rec.namespace,
                controller=rec.controller,
                reason=reason[:AUDIT_REASON_MAX],
            )
        return ActionResult(rec, result.state, result.changed)

    async def _may_act(self, identity: Identity, rec: Recommendation) -> bool:
        """`patch` on the target; a cluster-level insight with no single target (idle capacity)
        needs `patch` on every node, a grant only cluster operators hold."""
        if rec.namespace or rec.kind.lower() in CLUSTER_RESOURCES:
            return await self._access.may_act(
                identity, rec.namespace, rec.kind, rec.controller, rec.cluster
            )
        return await self._access.may_act(identity, "", CLUSTER_TARGET_KIND, "", rec.cluster)

    async def _reject(self, identity: Identity, rec_id: str, reason: str) -> None:
        await self._audit.record(
            "recommendation_rejected", identity.slack_user_id, rec_id=rec_id, reason=reason
        )

    async def _deny(self, identity: Identity, **fields: str) -> None:
        await self._audit.record("access_denied", identity.slack_user_id, **fields)

    @asynccontextmanager
    async def _denials(self, identity: Identity) -> AsyncIterator[None]:
        """Kubernetes could not be asked: the check failed closed, which is a denial too."""
        try:
            yield
        except AuthorizationUnavailable:
            await self._deny(identity, reason="authorization_unavailable")
            raise
