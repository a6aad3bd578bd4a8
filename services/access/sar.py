"""The SubjectAccessReview `Authorizer`: asks the Kubernetes API, with decisions cached in Redis.

A Redis adapter (only `bot/` imports it): the decision cache degrades through
`services.storage.guard.degrade`, so a Redis failure only means asking Kubernetes again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

import orjson
import structlog
from redis.asyncio import Redis
from structlog.typing import FilteringBoundLogger

from services.access.models import AccessCheck, Identity
from services.errors import AuthorizationUnavailable
from services.storage.guard import degrade


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


class SarAuthorizer:
    """`Authorizer` asking the Kubernetes API, with decisions cached in Redis for `ttl` seconds.

    The cache key covers user, sorted groups and every check attribute (the cluster included,
    so one cluster's decision never answers for another), so a change of groups in the
    identity map is a different key. A Redis failure only skips the cache."""

    def __init__(
        self,
        kube: SarClient,
        redis: Redis | None,
        ttl: int,
        prefix: str = "costbot:",
        *,
        logger: FilteringBoundLogger | None = None,
        on_decision: Callable[[str], None] | None = None,
    ) -> None:
        self._kube, self._redis, self._ttl, self._prefix = kube, redis, ttl, prefix
        self._log = logger or structlog.get_logger("costbot.authz")
        self._on_decision = on_decision or (lambda _decision: None)

    async def allowed(self, identity: Identity, check: AccessCheck) -> bool:
        if identity.k8s_user is None:
            return False
        key = self._key(identity, check)
        cached = await self._cached(key)
        if cached is not None:
            self._on_decision("cached_allowed" if cached else "cached_denied")
            return cached
        try:
            decision = await self._kube.subject_access_review(
                identity.k8s_user,
                identity.groups,
                check,
                uid=identity.uid,
                extra=dict(identity.extra),
            )
        except AuthorizationUnavailable as exc:
            self._on_decision("unavailable")
            self._log.warning("authz.unavailable", error=str(exc))
            raise
        self._on_decision("allowed" if decision else "denied")
        await self._store(key, decision)
        return decision

    def _key(self, identity: Identity, check: AccessCheck) -> str:
        parts: list[object] = [identity.k8s_user, sorted(set(identity.groups)), check.verb]
        parts += [check.group, check.resource, check.namespace, check.name]
        if identity.uid or identity.extra:  # a token's subject: uid and extra decide too
            parts += [identity.uid, [[key, list(values)] for key, values in identity.extra]]
        if check.cluster:  # keys of single-cluster deployments stay what they were
            parts.append(check.cluster)
        digest = hashlib.sha256(orjson.dumps(parts)).hexdigest()[:32]
        return f"{self._prefix}authz:{digest}"

    async def _cached(self, key: str) -> bool | None:
        if self._redis is None or self._ttl <= 0:
            return None
        raw = await degrade(self._redis.get(key), None, what="authz.cache_get", logger=self._log)
        return None if raw is None else raw in (b"1", "1")

    async def _store(self, key: str, decision: bool) -> None:
        if self._redis is None or self._ttl <= 0:
            return
        value = b"1" if decision else b"0"
        pending = self._redis.set(key, value, ex=self._ttl)
        await degrade(pending, None, what="authz.cache_set", logger=self._log)
