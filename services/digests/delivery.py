"""Exactly-once delivery of one Slack message per (subject, period) across any number of replicas.

Redis markers per delivery: a claim (`SET NX EX`, kept alive by a heartbeat) taken before the
message is built, an attempt marker set just before posting, and a done marker after. A holder
that dies leaves its claim to expire; whoever claims next and finds an attempt marker first
looks for the message's metadata in the channel, so a post that did happen is recorded, not
repeated. A post that fails (429 after retries, 5xx, timeout) releases the claim for a retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from structlog.typing import FilteringBoundLogger

from services.digests.models import RunRecord
from services.errors import ChatUnavailable, CostbotError, StoreUnavailable
from services.ports import ChatPoster, Clock

SENT, LATE, RECOVERED = "sent", "late", "recovered"
PAUSED, SKIPPED, FAILED = "paused", "skipped", "failed"
ALREADY, BUSY = "already", "busy"  # another replica did it / is doing it: nothing recorded here
# Slack answers that no retry will change: record the failure instead of retrying every minute.
PERMANENT = frozenset(
    {
        "not_in_channel",
        "channel_not_found",
        "is_archived",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "missing_scope",
        "restricted_action",
        "not_authed",
        "msg_too_long",
        "invalid_blocks",
        "invalid_metadata_format",
        "ekm_access_denied",
    }
)
# What the digests counter sees (sent, late, skipped, failed); a pause counts as skipped.
METRIC_OUTCOMES = {SENT: SENT, LATE: LATE, SKIPPED: SKIPPED, PAUSED: SKIPPED, FAILED: FAILED}
_MINE = "if redis.call('get', KEYS[1]) == ARGV[1] then "
_EXTEND = _MINE + "return redis.call('expire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = _MINE + "return redis.call('del', KEYS[1]) end return 0"
_SKIP = (
    "if redis.call('exists', KEYS[1]) == 0 and redis.call('exists', KEYS[2]) == 0 then "
    "redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2]) return 1 end return 0"
)
OWNER = f"{socket.gethostname()}:{os.getpid()}"
After = Callable[[str], Awaitable[None]]


class Job(msgspec.Struct, frozen=True, kw_only=True):
    """One delivery: `subject` (subscription or budget id) for `period`, into `channel`."""

    kind: str  # "digest" | "alert": namespaces the markers
    subject: str
    period: str
    channel: str
    late: bool = False
    event_type: str = "costbot_digest"
    id_field: str = "subscription_id"

    @property
    def delivery(self) -> str:
        return f"{self.subject}@{self.period}"

    def metadata(self) -> dict[str, Any]:
        payload = {self.id_field: self.subject, "period": self.period, "delivery": self.delivery}
        return {"event_type": self.event_type, "event_payload": payload}


@dataclass
class Outgoing:
    """A message to post. `after(ts)` runs once the delivery is recorded (thread reply, chart)."""

    text: str
    blocks: list[dict[str, Any]]
    outcome: str = ""  # default: sent, or late
    after: After | None = None


@dataclass(frozen=True)
class Quiet:
    """Nothing to post for this period; recorded as final (e.g. still paused)."""

    outcome: str
    detail: str = ""


class Result(msgspec.Struct, frozen=True):
    outcome: str
    ts: str = ""
    detail: str = ""


Produce = Callable[[], Awaitable[Outgoing | Quiet]]


class DeliveryGuard:
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
        try:
            if await self._redis.exists(self._key(job, "done")):
                return Result(ALREADY)
            token = f"{self._owner}:{uuid.uuid4().hex[:8]}"
            if not await self._redis.set(
                self._key(job, "claim"), token, nx=True, ex=self._claim_ttl
            ):
                return Result(BUSY)
            result, after = await self._holding(job, token, produce)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"delivery markers: {exc}") from exc
        await self._report(job, result)
        if after is not None and result.ts:
            await self._follow_up(job, after, result.ts)
        return result

    async def skip(self, job: Job, detail: str) -> bool:
        """Record `job` as skipped unless it was delivered or is being delivered."""
        record = self._done_value(SKIPPED, "", detail)
        keys = (self._key(job, "done"), self._key(job, "claim"))
        try:
            skipped = await self._redis.eval(_SKIP, 2, *keys, record, self._done_ttl)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"delivery markers: {exc}") from exc
        if skipped:
            await self._report(job, Result(SKIPPED, detail=detail))
        return bool(skipped)

    async def done(self, job: Job) -> Result | None:
        raw = await self._redis.get(self._key(job, "done"))
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
        return Result(outcome, ts, detail)

    async def _heartbeat(self, job: Job, token: str) -> None:
        while True:
            await asyncio.sleep(max(0.2, self._claim_ttl / 3))
            with contextlib.suppress(RedisError, OSError):
                await self._redis.eval(_EXTEND, 1, self._key(job, "claim"), token, self._claim_ttl)

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
        with contextlib.suppress(RedisError, OSError):
            await self._redis.set(
                self._last_key(job), msgspec.json.encode(record), ex=self._done_ttl
            )

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
        return f"{self._prefix}delivery:{job.kind}:{job.subject}:{job.period}:{part}"

    def _last_key(self, job: Job) -> str:
        return f"{self._prefix}delivery:last:{job.kind}:{job.subject}"

    def _done_value(self, outcome: str, ts: str, detail: str) -> bytes:
        return msgspec.json.encode(Result(outcome, ts, detail))
