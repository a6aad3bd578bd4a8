"""The digest scheduler every replica runs: APScheduler 3 with an in-memory job store, jobs
rebuilt from Redis at start, on a pub/sub change message and every 60 s; plus `DigestControl`,
the typed handle the composition root hands to `serve` and `costbot digest run`.

Exactly-once delivery is not this module's job: every path ends in the DeliveryGuard.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import structlog
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.digests import BudgetService, DigestRunner, DigestStore, Subscription
from services.digests.schedule import trigger_for
from services.errors import CostbotError
from services.ports import Clock

log = structlog.get_logger("costbot.scheduler")
RECONCILE_EVERY = 60.0
BUDGET_CHECK_AT = (7, 0)  # UTC: yesterday is complete everywhere that matters by then
_RETRY_LISTEN = 5.0


class DigestScheduler:
    def __init__(
        self,
        runner: DigestRunner,
        budgets: BudgetService,
        store: DigestStore,
        redis: Redis,
        clock: Clock,
        *,
        reconcile_every: float = RECONCILE_EVERY,
    ) -> None:
        self._runner, self._budgets, self._store = runner, budgets, store
        self._redis, self._clock, self._every = redis, clock, reconcile_every
        self._scheduler: Any = None
        self._known: dict[str, Subscription] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> DigestScheduler:
        """Start the scheduler, load the jobs, and catch up on what was missed (in the
        background: a slow OpenCost must not hold up serving Slack)."""
        job_defaults = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}
        self._scheduler = AsyncIOScheduler(timezone=UTC, job_defaults=job_defaults)
        self._scheduler.start()
        hour, minute = BUDGET_CHECK_AT
        check = CronTrigger(hour=hour, minute=minute, timezone=UTC)
        self._scheduler.add_job(self._check_budgets, check, id="budgets", replace_existing=True)
        with contextlib.suppress(CostbotError):  # the reconcile loop will try again
            await self.sync_jobs()
        for work in (self._startup, self._reconcile_loop, self._listen):
            self._tasks.append(asyncio.create_task(work()))
        log.info("scheduler.started", digests=len(self._known))
        return self

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        log.info("scheduler.stopped")

    @property
    def job_ids(self) -> list[str]:
        return sorted(job.id for job in self._scheduler.get_jobs()) if self._scheduler else []

    async def sync_jobs(self) -> None:
        """Make the in-memory jobs match the subscriptions in Redis."""
        wanted = {f"digest:{sub.id}": sub for sub in await self._store.subscriptions()}
        for job_id in [j for j in self._known if j not in wanted]:
            with contextlib.suppress(JobLookupError):
                self._scheduler.remove_job(job_id)
            del self._known[job_id]
        for job_id, sub in wanted.items():
            if self._known.get(job_id) == sub:
                continue
            self._scheduler.add_job(
                self._fire, trigger_for(sub), args=[sub.id], id=job_id, replace_existing=True
            )
            self._known[job_id] = sub

    # --- jobs and loops -------------------------------------------------------------------------
    async def _fire(self, sub_id: str) -> None:
        await _logged("digest.fire_failed", self._runner.fire(sub_id), subscription=sub_id)

    async def _check_budgets(self) -> None:
        await _logged("budget.check_failed", self._budgets.check())

    async def _startup(self) -> None:
        now = self._clock.now()
        await _logged("digest.catch_up_failed", self._runner.catch_up(now, startup=True))
        await self._check_budgets()

    async def _reconcile_loop(self) -> None:
        """Retries failed deliveries, catches lost change messages and clock jumps."""
        while True:
            await asyncio.sleep(self._every)
            await _logged("scheduler.reconcile_failed", self._reconcile())

    async def _reconcile(self) -> None:
        await self.sync_jobs()
        await self._runner.catch_up(self._clock.now())

    async def _listen(self) -> None:
        while True:
            try:
                await self._follow_changes()
            except (RedisError, OSError, CostbotError) as exc:
                log.warning("scheduler.listen_failed", error=str(exc))
                await asyncio.sleep(_RETRY_LISTEN)

    async def _follow_changes(self) -> None:
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self._store.changes_channel)
        try:
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None:
                    await self.sync_jobs()
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]  # unannotated in redis-py


async def _logged(event: str, work: Awaitable[Any], **fields: Any) -> None:
    try:
        await work
    except CostbotError as exc:
        log.warning(event, error=str(exc), **fields)
    except Exception:
        log.exception(event, **fields)


@dataclass(frozen=True)
class DigestControl:
    """The typed handle `serve` and `costbot digest run` hold: start the scheduler, or deliver
    one subscription now. Built by the composition root (bot/runtime.py)."""

    runner: DigestRunner
    budgets: BudgetService
    store: DigestStore
    redis: Redis
    clock: Clock

    async def start_scheduler(self) -> DigestScheduler:
        return await DigestScheduler(
            self.runner, self.budgets, self.store, self.redis, self.clock
        ).start()

    async def run_digest_now(self, sub_id: str) -> str:
        return await self.runner.run_now(sub_id)
