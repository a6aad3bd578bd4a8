"""The SubjectAccessReview `Authorizer`: asks the Kubernetes API, with decisions cached in process
and in Redis.

A Redis adapter (only `bot/` imports it): the Redis cache degrades through
`services.storage.guard.degrade`, so a Redis failure only means asking Kubernetes again.

Two layers, both keyed by (user, sorted groups, check): an in-process `TtlCache` in front (a
warm scope over thousands of namespaces is dictionary look-ups), and Redis behind it, shared by
the replicas and read for many namespaces with one MGET. Allows are kept `ttl` seconds, denies
only `deny_ttl` (a grant someone just made shows up within seconds). A change of the identity's
groups (identity map, Slack user groups) is a different key, so it is never served an old
decision. Every key of one identity shares a hash tag, so the MGET stays in one Redis Cluster
slot.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol

import orjson
import structlog
from redis.asyncio import Redis
from structlog.typing import FilteringBoundLogger

from services.access.models import AccessCheck, Identity
from services.errors import AuthorizationUnavailable
from services.ports import Clock
from services.storage.guard import degrade
from services.storage.ttl import TtlCache

DENY_TTL = 10  # seconds a deny is trusted: short, so a new grant is seen at once
LOCAL_ENTRIES = 200_000  # decisions kept in process (~100 B each)
DEFAULT_CONCURRENCY = 16  # SubjectAccessReviews in flight at once, per batch


class SarClient(Protocol):
    """What SarAuthorizer needs from `services.access.kube.KubeApi`."""

    async def subject_access_review(
        self,
        user: str,
        groups: Iterable[str],
        check: AccessCheck,
        *,
        uid: str = "",
        extra: Mapping[str, Sequence[str]] | None = None,
    ) -> bool: ...


class _UtcClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SarAuthorizer:
    """`Authorizer` asking the Kubernetes API, with allows cached for `ttl` seconds and denies
    for `deny_ttl` (both in process and in Redis). A Redis failure only skips that layer."""

    def __init__(
        self,
        kube: SarClient,
        redis: Redis | None,
        ttl: int,
        prefix: str = "costbot:",
        *,
        deny_ttl: int = DENY_TTL,
        clock: Clock | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        logger: FilteringBoundLogger | None = None,
        on_decision: Callable[[str], None] | None = None,
    ) -> None:
        self._kube, self._redis, self._ttl, self._prefix = kube, redis, ttl, prefix
        self._deny_ttl = max(0, min(deny_ttl, ttl))
        self._concurrency = max(1, concurrency)
        self._log = logger or structlog.get_logger("costbot.authz")
        self._on_decision = on_decision or (lambda _decision: None)
        clock = clock or _UtcClock()
        self._allows: TtlCache[str, bool] = TtlCache(clock, ttl, LOCAL_ENTRIES)
        self._denies: TtlCache[str, bool] = TtlCache(clock, self._deny_ttl, LOCAL_ENTRIES)

    def forget(self) -> None:
        """Drop this process's cached decisions (Redis's expire by themselves)."""
        self._allows.clear()
        self._denies.clear()

    async def allowed(self, identity: Identity, check: AccessCheck) -> bool:
        return (await self.allowed_many(identity, [check]))[0]

    async def allowed_many(
        self, identity: Identity, checks: Sequence[AccessCheck], concurrency: int | None = None
    ) -> list[bool]:
        """Every check for one identity: in-process hits, then one MGET for the rest, then
        SubjectAccessReviews for what is left, at most `concurrency` in flight. The first
        AuthorizationUnavailable cancels the rest and propagates (fail closed)."""
        user = identity.k8s_user
        if user is None:
            return [False] * len(checks)
        base = self._identity_base(identity)
        keys = [f"{base}{_check_digest(check)}" for check in checks]
        found: dict[int, bool] = {}
        for index, key in enumerate(keys):
            hit = self._local(key)
            if hit is not None:
                found[index] = hit
        missing = [index for index in range(len(keys)) if index not in found]
        shared = await self._shared([keys[i] for i in missing])
        for index, value in zip(missing, shared, strict=True):
            if value is not None:
                found[index] = value
                self._remember(keys[index], value)
        for decision in found.values():
            self._on_decision("cached_allowed" if decision else "cached_denied")
        asks = [index for index in range(len(keys)) if index not in found]
        if asks:
            answers = await self._review(identity, [checks[i] for i in asks], concurrency)
            for index, decision in zip(asks, answers, strict=True):
                found[index] = decision
                self._remember(keys[index], decision)
            await self._store({keys[i]: found[i] for i in asks})
        return [found[index] for index in range(len(keys))]

    # --- asking Kubernetes ----------------------------------------------------------------------
    async def _review(
        self, identity: Identity, checks: list[AccessCheck], concurrency: int | None
    ) -> list[bool]:
        limit = asyncio.Semaphore(max(1, concurrency or self._concurrency))
        user, groups = identity.k8s_user or "", tuple(identity.groups)
        extra = dict(identity.extra)

        async def one(check: AccessCheck) -> bool:
            async with limit:
                decision = await self._kube.subject_access_review(
                    user, groups, check, uid=identity.uid, extra=extra
                )
            self._on_decision("allowed" if decision else "denied")
            return decision

        tasks = [asyncio.ensure_future(one(check)) for check in checks]
        try:
            return list(await asyncio.gather(*tasks))
        except AuthorizationUnavailable as exc:
            self._on_decision("unavailable")
            self._log.warning("authz.unavailable", error=str(exc))
            raise
        finally:
            for task in tasks:
                task.cancel()

    # --- the two cache layers -------------------------------------------------------------------
    def _identity_base(self, identity: Identity) -> str:
        """One hash tag per identity (its keys share a Redis Cluster slot for MGET): user and
        sorted groups, plus a token subject's uid and extra, which decide too."""
        who = hashlib.sha256(orjson.dumps(identity.decides_as())).hexdigest()[:24]
        return f"{self._prefix}authz:{{{who}}}:"

    def _local(self, key: str) -> bool | None:
        if self._ttl <= 0:
            return None
        if self._allows.get(key)[0]:
            return True
        if self._denies.get(key)[0]:
            return False
        return None

    def _remember(self, key: str, decision: bool) -> None:
        if self._ttl <= 0:
            return
        if decision:
            self._allows.put(key, True)
        elif self._deny_ttl > 0:
            self._denies.put(key, False)

    async def _shared(self, keys: list[str]) -> list[bool | None]:
        if not keys or self._redis is None or self._ttl <= 0:
            return [None] * len(keys)
        nothing: list[bytes | str | None] = [None] * len(keys)
        raws: list[bytes | str | None] = await degrade(
            self._redis.mget(keys), nothing, what="authz.cache_get", logger=self._log
        )
        return [None if raw is None else raw in (b"1", "1") for raw in raws]

    async def _store(self, decisions: dict[str, bool]) -> None:
        if not decisions or self._redis is None or self._ttl <= 0:
            return
        await degrade(self._write(decisions), None, what="authz.cache_set", logger=self._log)

    async def _write(self, decisions: dict[str, bool]) -> None:
        assert self._redis is not None
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, decision in decisions.items():
                if decision:
                    pipe.set(key, b"1", ex=self._ttl)
                elif self._deny_ttl > 0:
                    pipe.set(key, b"0", ex=self._deny_ttl)
            await pipe.execute()


def _check_digest(check: AccessCheck) -> str:
    """Every attribute of the check; the cluster too, so one cluster's decision never answers
    for another (single-cluster keys stay what they were)."""
    parts = [check.verb, check.group, check.resource, check.namespace, check.name]
    if check.cluster:
        parts.append(check.cluster)
    return hashlib.sha256(orjson.dumps(parts)).hexdigest()[:24]
