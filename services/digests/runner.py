"""Runs digests: decides which period is due (on time, late, or too old and skipped), builds
it for the subscriber's current access, and hands it to the DeliveryGuard; the details and
the chart follow in the thread once the summary is delivered.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Literal

import structlog
from structlog.typing import FilteringBoundLogger

from services.access.models import Identity
from services.digests.content import DigestContent, DigestData, DigestRenderer
from services.digests.delivery import (
    ALREADY,
    BUSY,
    LATE,
    PAUSED,
    RECOVERED,
    SENT,
    SKIPPED,
    DeliveryGuard,
    Job,
    Outgoing,
    Quiet,
    Result,
)
from services.digests.models import Subscription
from services.digests.schedule import (
    Trigger,
    covered_range,
    fires_between,
    last_fire,
    period_key,
    trigger_for,
)
from services.digests.store import DigestStore
from services.errors import ChatUnavailable, CostbotError
from services.ports import ChatPoster, Clock

ResolveIdentity = Callable[[str], Awaitable[Identity]]
LATE_AFTER = timedelta(minutes=5)  # a delivery later than this after its fire time says "(late)"
EARLY = timedelta(seconds=2)  # a timer that wakes a little early still belongs to its fire
MISSED_LOOKBACK = timedelta(days=8)
MISSED_MAX = 10  # older misses recorded as skipped at start-up, at most this many per digest


class DigestRunner:
    def __init__(
        self,
        store: DigestStore,
        guard: DeliveryGuard,
        content: DigestContent,
        *,
        renderer: DigestRenderer,
        chat: ChatPoster,
        resolve_identity: ResolveIdentity,
        clock: Clock,
        grace: timedelta = timedelta(hours=6),
        logger: FilteringBoundLogger | None = None,
    ) -> None:
        self._store, self._guard, self._content = store, guard, content
        self._renderer, self._chat = renderer, chat
        self._resolve, self._clock, self._grace = resolve_identity, clock, grace
        self._log = logger or structlog.get_logger("costbot.digests")

    # --- entry points ---------------------------------------------------------------------------
    async def fire(self, sub_id: str) -> Result | None:
        """The scheduler's job: deliver the period that has just fallen due."""
        sub = await self._store.subscription(sub_id)
        return None if sub is None else await self.due(sub, self._clock.now() + EARLY)

    async def due(self, sub: Subscription, now: datetime) -> Result | None:
        """Deliver the latest fire at or before `now` unless done; late or skipped by its age.
        Fires before the subscription existed never count."""
        trigger = trigger_for(sub)
        fire = last_fire(trigger, now)
        if fire is None or fire < sub.created_at:
            return None
        job = self.job(sub, fire, late=now - fire > LATE_AFTER)
        if now - fire > self._grace:
            skipped = await self._guard.skip(job, "missed by more than DIGEST_GRACE")
            return Result(SKIPPED if skipped else ALREADY)
        return await self.run(sub, fire, late=job.late)

    async def run(self, sub: Subscription, fire: datetime, *, late: bool = False) -> Result:
        job = self.job(sub, fire, late=late)
        return await self._guard.deliver(job, functools.partial(self._produce, sub, fire, late))

    async def catch_up(self, now: datetime, *, startup: bool = False) -> list[Result]:
        """Every subscription's latest due period (delivered late when missed, retried when it
        failed); at start-up, older misses are recorded as skipped, never sent in a burst."""
        results = []
        for sub in await self._store.subscriptions():
            try:
                if startup:
                    await self._skip_older(sub, trigger_for(sub), now)
                result = await self.due(sub, now)
            except CostbotError as exc:
                self._log.warning("digest.catch_up_failed", subscription=sub.id, error=str(exc))
                continue
            if result is not None:
                results.append(result)
        return results

    async def run_now(self, sub_id: str) -> str:
        """`costbot digest run --now ID`: the latest period, through the same exactly-once path."""
        sub = await self._store.subscription(sub_id)
        if sub is None:
            return f"no digest subscription {sub_id}"
        now = self._clock.now()
        fire = last_fire(trigger_for(sub), now)
        if fire is None:
            return f"digest {sub_id} has never fallen due"
        result = await self.run(sub, fire, late=now - fire > LATE_AFTER)
        return _words(sub_id, period_key(fire), result)

    async def content_for(
        self, sub: Subscription, fire: datetime, *, late: bool = False
    ) -> DigestData | None:
        """The digest for one fire, as it would be sent; None when nothing is visible."""
        identity = await self._resolve(sub.subscriber)
        period = covered_range(sub, trigger_for(sub), fire)
        visible = await self._content.visible(sub, identity, period)
        if visible.empty:
            return None
        return await self._content.build(sub, identity, fire, period, visible, late=late)

    async def preview_for(
        self, sub: Subscription, fire: datetime, viewer: Identity
    ) -> DigestData | Literal["nothing"] | None:
        """The digest for one fire as `viewer` may see it: the subscriber's current scope cut
        to the viewer's. None: paused (the subscriber sees nothing); "nothing": the viewer
        may see nothing of it."""
        subscriber = await self._resolve(sub.subscriber)
        period = covered_range(sub, trigger_for(sub), fire)
        visible = await self._content.visible(sub, subscriber, period)
        if visible.empty:
            return None
        seen = await self._content.for_viewer(visible, viewer, period)
        if seen.empty:
            return "nothing"
        return await self._content.build(sub, subscriber, fire, period, seen)

    def job(self, sub: Subscription, fire: datetime, *, late: bool = False) -> Job:
        return Job(
            kind="digest", subject=sub.id, period=period_key(fire), channel=sub.channel, late=late
        )

    # --- building -------------------------------------------------------------------------------
    async def _produce(self, sub: Subscription, fire: datetime, late: bool) -> Outgoing | Quiet:
        data = await self.content_for(sub, fire, late=late)
        if data is None:
            return await self._paused(sub)
        if await self._store.resume(sub.id):
            self._log.info("digest.resumed", subscription=sub.id)
        text, blocks = self._renderer.summary(data)
        return Outgoing(text, blocks, after=functools.partial(self._details, data))

    async def _paused(self, sub: Subscription) -> Outgoing | Quiet:
        if await self._store.paused(sub.id):
            return Quiet(PAUSED, "still paused: the subscriber may see nothing in its scope")
        text, blocks = self._renderer.paused(sub)

        async def remember(_ts: str) -> None:
            await self._store.pause(sub.id)

        return Outgoing(text, blocks, outcome=PAUSED, after=remember)

    async def _details(self, data: DigestData, ts: str) -> None:
        file_id = None
        # matplotlib is CPU-bound: render off the event loop so acks keep flowing.
        chart = await asyncio.to_thread(self._renderer.chart, data)
        if chart is not None:
            png, title = chart
            try:
                # Shared in the digest's own thread: the details may only show a file that
                # the channel can open, and only once Slack has processed it.
                file_id = await self._chat.upload_png(
                    data.subscription.channel, "costbot-digest.png", png, title, thread_ts=ts
                )
            except ChatUnavailable as exc:
                self._log.warning(
                    "digest.chart_failed",
                    subscription=data.subscription.id,
                    error=exc.code or str(exc),
                )
        text, blocks = self._renderer.details(data, file_id or None)
        await self._chat.post(data.subscription.channel, text, blocks, thread_ts=ts)

    async def _skip_older(self, sub: Subscription, trigger: Trigger, now: datetime) -> None:
        since = max(sub.created_at, now - MISSED_LOOKBACK)
        for fire in fires_between(trigger, since, now, limit=MISSED_MAX + 1)[:-1]:
            if now - fire > self._grace:
                await self._guard.skip(self.job(sub, fire, late=True), "missed while stopped")


def _words(sub_id: str, period: str, result: Result) -> str:
    if result.outcome in (SENT, LATE, RECOVERED):
        return f"sent digest {sub_id} for {period} (ts {result.ts})"
    if result.outcome == ALREADY:
        return f"already delivered digest {sub_id} for {period}"
    if result.outcome == BUSY:
        return f"already being delivered: digest {sub_id} for {period}, by another replica"
    if result.outcome == PAUSED:
        return f"paused: digest {sub_id} — its subscriber may see nothing in its scope"
    return f"failed: digest {sub_id} for {period}: {result.detail}"
