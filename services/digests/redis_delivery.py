"""`DeliveryGuard` over Redis markers (the protocol is described in `services.digests.delivery`).

A Redis adapter (only `bot/` imports it). Markers are state: a Redis failure becomes
StoreUnavailable through `services.storage.guard`, except the two best-effort writes named
below (the claim heartbeat and the last-run record), which degrade.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Callable

import msgspec
import structlog
from redis.asyncio import Redis
from structlog.typing import FilteringBoundLogger

from services.digests.delivery import (
    ALREADY,
    BUSY,
    FAILED,
    LATE,
    METRIC_OUTCOMES,
    PERMANENT,
    RECOVERED,
    SENT,
    SKIPPED,
    After,
    Job,
    Outgoing,
    Produce,
    Quiet,
    Result,
)
from services.digests.models import RunRecord
from services.errors import ChatUnavailable, CostbotError
from services.ports import ChatPoster, Clock
from services.storage.durable import replicated
from services.storage.guard import degrade, guarded, required

_MINE = "if redis.call('get', KEYS[1]) == ARGV[1] then "
_EXTEND = _MINE + "return redis.call('expire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = _MINE + "return redis.call('del', KEYS[1]) end return 0"
_SKIP = (
    "if redis.call('exists', KEYS[1]) == 0 and redis.call('exists', KEYS[2]) == 0 then "
    "redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2]) return 1 end return 0"
)
OWNER = f"{socket.gethostname()}:{os.getpid()}"
MARKERS = "delivery markers"  # how StoreUnavailable names them


class RedisDeliveryGuard:
    """`DeliveryGuard` over Redis claim, attempt and done markers."""

    def __init__(
        self,
        redis: Redis,
        chat: ChatPoster,
        clock: Clock,
        *,
        prefix: str = "costbot:",
        claim_ttl: int = 300,
        done_ttl: int = 40 * 86400,
        owner: str = OWNER,
        on_outcome: Callable[[str], None] | None = None,
        logger: FilteringBoundLogger | None = None,
    ) -> None:
        self._redis, self._chat, self._clock = redis, chat, clock
        self._prefix, self._owner = prefix, owner
        self._claim_ttl, self._done_ttl = max(1, claim_ttl), done_ttl
        self._on_outcome = on_outcome or (lambda _outcome: None)
        self._log = logger or structlog.get_logger("costbot.delivery")

    async def deliver(self, job: Job, produce: Produce) -> Result:
        """Post `produce()`'s message for `job` unless it is (being) delivered elsewhere."""
        with guarded(MARKERS):
            if await self._redis.exists(self._key(job, "done")):
                return Result(ALREADY)
            token = f"{self._owner}:{uuid.uuid4().hex[:8]}"
            if not await self._redis.set(
                self._key(job, "claim"), token, nx=True, ex=self._claim_ttl
            ):
                return Result(BUSY)
            # The claim must survive a failover, or a second replica could claim and post.
            await replicated(self._redis, self._key(job, "claim"), MARKERS)
            result, after = await self._holding(job, token, produce)
        await self._report(job, result)
        if after is not None and result.ts:
            await self._follow_up(job, after, result.ts)
        return result

    async def skip(self, job: Job, detail: str) -> bool:
        """Record `job` as skipped unless it was delivered or is being delivered."""
        record = self._done_value(SKIPPED, "", detail)
        keys = (self._key(job, "done"), self._key(job, "claim"))
        skipped = await required(self._redis.eval(_SKIP, 2, *keys, record, self._done_ttl), MARKERS)
        if skipped:
            await replicated(self._redis, keys[0], MARKERS)
            await self._report(job, Result(SKIPPED, detail=detail))
        return bool(skipped)

    async def done(self, job: Job) -> Result | None:
        raw = await required(self._redis.get(self._key(job, "done")), MARKERS)
        return None if raw is None else msgspec.json.decode(raw, type=Result)

    # --- while holding the claim ----------------------------------------------------------------
    async def _holding(self, job: Job, token: str, produce: Produce) -> tuple[Result, After | None]:
        beat = asyncio.create_task(self._heartbeat(job, token))
        try:
            return await self._claimed(job, produce)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            await self._redis.eval(_RELEASE, 1, self._key(job, "claim"), token)

    async def _claimed(self, job: Job, produce: Produce) -> tuple[Result, After | None]:
        if await self._redis.exists(self._key(job, "done")):  # finished between check and claim
            return Result(ALREADY), None
        if await self._redis.exists(self._key(job, "attempt")):
            found = await self._recover(job)
            if found is not None:
                return found, None
        try:
            outgoing = await produce()
        except CostbotError as exc:  # OpenCost, Kubernetes or Redis down: try again next tick
            return Result(FAILED, detail=f"{type(exc).__name__}: {exc}"), None
        if isinstance(outgoing, Quiet):
            return await self._finish(job, outgoing.outcome, "", outgoing.detail), None
        return await self._post(job, outgoing), outgoing.after

    async def _recover(self, job: Job) -> Result | None:
        """A previous holder died after trying to post: was the message posted?"""
        try:
            ts = await self._chat.find_by_metadata(
                job.channel, job.event_type, "delivery", job.delivery
            )
        except ChatUnavailable as exc:  # can't tell: retry later rather than risk a duplicate
            return Result(FAILED, detail=f"history check failed: {exc.code or exc}")
        if ts is None:
            return None
        return await self._finish(job, RECOVERED, ts, "found the message a stopped replica posted")

    async def _post(self, job: Job, outgoing: Outgoing) -> Result:
        await self._redis.set(self._key(job, "attempt"), self._owner, ex=self._done_ttl)
        await replicated(self._redis, self._key(job, "attempt"), MARKERS)
        try:
            ts = await self._chat.post(
                job.channel, outgoing.text, outgoing.blocks, metadata=job.metadata()
            )
        except ChatUnavailable as exc:
            if exc.code in PERMANENT:
                return await self._finish(job, FAILED, "", exc.code)
            return Result(FAILED, detail=exc.code or str(exc))  # claim released: retried
        return await self._finish(job, outgoing.outcome or (LATE if job.late else SENT), ts, "")

    async def _finish(self, job: Job, outcome: str, ts: str, detail: str) -> Result:
        await self._redis.set(
            self._key(job, "done"), self._done_value(outcome, ts, detail), ex=self._done_ttl
        )
        await replicated(self._redis, self._key(job, "done"), MARKERS)
        return Result(outcome, ts, detail)

    async def _heartbeat(self, job: Job, token: str) -> None:
        while True:
            await asyncio.sleep(max(0.2, self._claim_ttl / 3))
            # Best effort: a missed beat only shortens the claim; the next beat renews it.
            extend = self._redis.eval(_EXTEND, 1, self._key(job, "claim"), token, self._claim_ttl)
            await degrade(extend, None, what="delivery.heartbeat", logger=self._log)

    # --- after ----------------------------------------------------------------------------------
    async def _report(self, job: Job, result: Result) -> None:
        if result.outcome in (ALREADY, BUSY):
            return
        log = self._log.warning if result.outcome == FAILED else self._log.info
        log(
            f"delivery.{result.outcome}",
            kind=job.kind,
            subject=job.subject,
            period=job.period,
            channel=job.channel,
            ts=result.ts,
            detail=result.detail,
        )
        counted = result.outcome
        if counted == RECOVERED:  # posted by a replica that stopped before counting it
            counted = LATE if job.late else SENT
        metric = METRIC_OUTCOMES.get(counted)
        if metric is not None:
            self._on_outcome(metric)
        record = RunRecord(
            period=job.period,
            outcome=result.outcome,
            at=self._clock.now(),
            ts=result.ts,
            detail=result.detail,
        )
        # The done marker is the record that counts; this copy only feeds "last run" in lists.
        last = self._redis.set(self._last_key(job), msgspec.json.encode(record), ex=self._done_ttl)
        await degrade(last, None, what="delivery.last_run", logger=self._log)

    async def _follow_up(self, job: Job, after: After, ts: str) -> None:
        try:
            await after(ts)
        except Exception:
            self._log.warning(
                "delivery.follow_up_failed",
                kind=job.kind,
                subject=job.subject,
                period=job.period,
                exc_info=True,
            )

    # --- keys -----------------------------------------------------------------------------------
    def _key(self, job: Job, part: str) -> str:
        """claim / attempt / done of one job share a hash tag (one Redis Cluster slot): the
        skip script reads two of them at once."""
        return f"{self._prefix}delivery:{{{job.kind}:{job.subject}:{job.period}}}:{part}"

    def _last_key(self, job: Job) -> str:
        return f"{self._prefix}delivery:last:{job.kind}:{job.subject}"

    def _done_value(self, outcome: str, ts: str, detail: str) -> bytes:
        return msgspec.json.encode(Result(outcome, ts, detail))
