"""Digest subscriptions as users manage them: subscribe (with the access checks), list with
next and last runs, unsubscribe, preview. Delivery itself is the DigestRunner's.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from services.access.identity import SlackDirectory
from services.access.models import Identity
from services.access.policy import AccessPolicy
from services.audit.log import AuditLog
from services.costs.service import CostService
from services.costs.windows import parse_window
from services.digests.content import DigestData
from services.digests.models import RunRecord, Subscription, SubscriptionSpec, new_id
from services.digests.runner import DigestRunner
from services.digests.schedule import last_fire, next_fire, trigger_for, zone
from services.digests.store import DigestStore
from services.errors import ChatUnavailable, NotAllowed, NotFound, Unmapped, UserInputError
from services.ports import Clock

MAX_PER_CHANNEL = 20


class SubscriptionStatus(msgspec.Struct, frozen=True):
    subscription: Subscription
    next_run: datetime | None
    last: RunRecord | None
    paused: bool
    scope_visible: bool = True  # False: covers namespaces the viewer may not all see (unnamed)


class DigestService:
    def __init__(
        self,
        store: DigestStore,
        runner: DigestRunner,
        costs: CostService,
        *,
        access: AccessPolicy,
        audit: AuditLog,
        clock: Clock,
        directory: SlackDirectory | None = None,
        admin_groups: frozenset[str] = frozenset(),
    ) -> None:
        self._store, self._runner, self._costs, self._access = store, runner, costs, access
        self._audit, self._clock, self._directory = audit, clock, directory
        self._admins = admin_groups

    def is_admin(self, identity: Identity) -> bool:
        return identity.mapped and bool(self._admins.intersection(identity.groups))

    async def subscribe(
        self, identity: Identity, channel: str, spec: SubscriptionSpec
    ) -> Subscription:
        if spec.frequency == "cron" and not self.is_admin(identity):
            raise NotAllowed("Only admins may schedule digests with cron; use daily or weekly.")
        if len(await self._store.subscriptions(channel)) >= MAX_PER_CHANNEL:
            raise UserInputError(f"This channel already has {MAX_PER_CHANNEL} digests.")
        sub = await self._new(identity, channel, spec)
        if next_fire(trigger_for(sub), sub.created_at) is None:
            raise UserInputError("That schedule never fires.")
        await self._store.save_subscription(sub)
        await self._audit.record(
            "digest_subscribed",
            identity.slack_user_id,
            subscription=sub.id,
            channel=channel,
            schedule=sub.cron or f"{sub.frequency} {sub.day} {sub.at}",
            tz=sub.tz,
            scope=sub.scope_kind,
            namespaces=list(sub.namespaces),
            label="=".join(sub.label) if sub.label else "",
        )
        return sub

    async def statuses(self, identity: Identity, channel: str) -> list[SubscriptionStatus]:
        """This channel's digests; admins see every channel's, this channel's first."""
        subs = await self._store.subscriptions(None if self.is_admin(identity) else channel)
        subs.sort(key=lambda s: s.channel != channel)
        return await self._statuses(identity, subs)

    async def visible_to(self, identity: Identity) -> list[SubscriptionStatus]:
        """Every channel's digests this identity may see, for views with no channel: those
        they subscribed and those whose whole scope their access covers. Admins see all."""
        subs = await self._store.subscriptions(None)
        if not self.is_admin(identity):
            subs = [s for s in subs if identity.mapped and await self._covers(identity, s)]
        return await self._statuses(identity, subs)

    async def _statuses(
        self, identity: Identity, subs: list[Subscription]
    ) -> list[SubscriptionStatus]:
        now = self._clock.now()
        return [
            SubscriptionStatus(
                subscription=sub,
                next_run=next_fire(trigger_for(sub), now),
                last=await self._store.last_run("digest", sub.id),
                paused=await self._store.paused(sub.id),
                scope_visible=await self._names_visible(identity, sub),
            )
            for sub in subs
        ]

    async def _covers(self, identity: Identity, sub: Subscription) -> bool:
        """The subscriber, or a viewer who may see everything the digest may carry: its
        namespaces, else what the subscriber saw (their cluster, or their namespaces)."""
        if sub.subscriber == identity.slack_user_id:
            return True
        if sub.scope_kind == "namespaces":
            return await self._access.may_see_all(identity, sub.namespaces)
        if sub.cluster_wide:
            return await self._access.may_see_cluster(identity)
        return bool(sub.seen) and await self._access.may_see_all(identity, sub.seen)

    async def unsubscribe(self, identity: Identity, channel: str, sub_id: str) -> Subscription:
        """Ownership is explicit: only the subscriber or an admin removes a digest, and an admin
        who did not subscribe it also needs to see everything it covers (admin-group membership
        never outranks Kubernetes permissions)."""
        sub = await self._find(identity, channel, sub_id)
        owner = identity.mapped and sub.subscriber == identity.slack_user_id
        reason = ""
        if not owner and not self.is_admin(identity):
            reason = "not the subscriber"
        elif not owner and not await self._covers(identity, sub):
            reason = "an admin without access to all it covers"
        if reason:
            await self._audit.record(
                "access_denied",
                identity.slack_user_id,
                subscription=sub.id,
                action="digest_unsubscribe",
                reason=reason,
            )
            raise NotAllowed(
                "Only whoever subscribed this digest, or an admin who may see all it covers, "
                "can remove it."
            )
        await self._store.remove_subscription(sub.id)
        await self._audit.record(
            "digest_unsubscribed",
            identity.slack_user_id,
            subscription=sub.id,
            channel=sub.channel,
            subscriber=sub.subscriber,
        )
        return sub

    async def preview(
        self, identity: Identity, channel: str, sub_id: str | None
    ) -> tuple[Subscription, DigestData | None]:
        """The digest for the latest period as the *previewer* may see it (None: paused).

        Without an id: this channel's first digest, else a default weekly one for the asker.
        Only a mapped identity previews; a non-admin previews only digests of the channel the
        command came from (one they are in); everyone, admins included, sees the subscriber's
        digest cut to their own access, and is refused when they may see nothing of it."""
        if not identity.mapped:
            raise Unmapped(identity.slack_user_id)
        if sub_id is not None:
            sub = await self._find(identity, channel, sub_id)
        else:
            subs = await self._store.subscriptions(channel)
            if subs:
                sub = subs[0]
            else:  # what subscribing with the defaults would bring; never stored
                fresh = await self._new(identity, channel, SubscriptionSpec())
                sub = msgspec.structs.replace(fresh, id="preview")
        now = self._clock.now()
        fire = last_fire(trigger_for(sub), now) or now
        data = await self._runner.preview_for(sub, fire, identity)
        if isinstance(data, str):  # "nothing"
            await self._audit.record(
                "access_denied",
                identity.slack_user_id,
                subscription=sub.id,
                action="digest_preview",
                reason="sees nothing of it",
            )
            raise NotAllowed("You may not see anything this digest covers, so there is no preview.")
        return sub, data

    async def run_now(self, sub_id: str) -> str:
        return await self._runner.run_now(sub_id)

    # --- helpers --------------------------------------------------------------------------------
    async def _new(self, identity: Identity, channel: str, spec: SubscriptionSpec) -> Subscription:
        tz = spec.tz or await self._slack_tz(identity.slack_user_id)
        zone(tz)  # validated before anything is stored
        cluster = await self._access.may_see_cluster(identity)
        seen: tuple[str, ...] = ()
        if spec.scope_kind == "namespaces":
            if not await self._access.may_see_all(identity, spec.namespaces):
                raise NotAllowed("You may only subscribe a channel to namespaces you may see.")
        elif not cluster:
            seen = await self._visible(identity)
            if not seen:
                raise NotAllowed("You may not see any namespace, so a digest would be empty.")
        return Subscription(
            id=new_id("d"),
            channel=channel,
            subscriber=identity.slack_user_id,
            frequency=spec.frequency,
            day=spec.day,
            at=spec.at,
            tz=tz,
            cron=spec.cron,
            scope_kind=spec.scope_kind,
            namespaces=spec.namespaces,
            label=spec.label,
            cluster_wide=cluster,
            seen=seen,
            created_at=self._clock.now(),
        )

    async def _visible(self, identity: Identity) -> tuple[str, ...]:
        present = await self._costs.visible_namespaces(parse_window("7d", self._clock.now()))
        scope = await self._access.scope(identity, present)
        names = scope.visible_names()  # None: some cluster is seen whole
        every = {n for ns in present.values() for n in ns}
        return tuple(sorted(every if names is None else names & every))

    async def _slack_tz(self, user_id: str) -> str:
        if self._directory is None:
            return "UTC"
        try:
            user = await self._directory.user(user_id)
            zone(user.tz if user is not None and user.tz else "UTC")
        except (ChatUnavailable, UserInputError):  # Slack down, or a zone this host lacks
            return "UTC"
        return user.tz if user is not None and user.tz else "UTC"

    async def _find(self, identity: Identity, channel: str, sub_id: str) -> Subscription:
        sub = await self._store.subscription(sub_id)
        if sub is None or (sub.channel != channel and not self.is_admin(identity)):
            raise NotFound(f"No digest {sub_id} in this channel (see `/cost digest list`).")
        return sub

    async def _names_visible(self, identity: Identity, sub: Subscription) -> bool:
        """Whether a listing may name this digest's namespaces to the viewer."""
        if sub.scope_kind != "namespaces":
            return True
        return await self._access.may_see_all(identity, sub.namespaces)
