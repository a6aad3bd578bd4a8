"""Slack user ID → Identity: explicit entry, else a trusted-domain email, else unmapped. Only the
verified Slack user ID is trusted; profile emails only in listed domains.

A Redis adapter (only `bot/` imports it): memberships are shared between replicas through Redis,
a cache that degrades (`services.storage.guard.degrade`) to asking Slack again.
"""

from __future__ import annotations

import orjson
import structlog
from redis.asyncio import Redis
from structlog.typing import FilteringBoundLogger

from services.access.identity import MapProvider, SlackDirectory, SlackUser
from services.access.models import Identity
from services.ports import Clock
from services.storage.guard import degrade
from services.storage.ttl import TtlCache


class IdentityResolver:
    """Slack user ID → Identity: explicit entry, else a trusted-domain email, else unmapped.

    Slack profiles and user-group memberships are cached for `cache_ttl` seconds (in process,
    and memberships also in Redis when given, so replicas share the expensive lookup)."""

    def __init__(
        self,
        maps: MapProvider,
        directory: SlackDirectory,
        redis: Redis | None,
        clock: Clock,
        *,
        cache_ttl: float = 300.0,
        prefix: str = "costbot:",
        logger: FilteringBoundLogger | None = None,
    ) -> None:
        self._maps, self._directory, self._redis = maps, directory, redis
        self._ttl, self._prefix = cache_ttl, prefix
        self._log = logger or structlog.get_logger("costbot.identity")
        self._profiles: TtlCache[str, SlackUser | None] = TtlCache(clock, cache_ttl)
        self._memberships: TtlCache[str, list[str]] = TtlCache(clock, cache_ttl)

    async def resolve(self, slack_user_id: str) -> Identity:
        profile = await self._profile(slack_user_id)
        email = _normal_email(profile.email if profile else None)
        tz = profile.tz or None if profile is not None else None
        if profile is None or profile.deleted or profile.is_bot:
            return Identity(slack_user_id=slack_user_id, email=email, tz=tz)
        idmap = self._maps.current()
        entry = idmap.users.get(slack_user_id)
        if entry is not None:
            user, groups, source = entry.user, set(entry.groups), "explicit"
        elif email and idmap.email.enabled and email.rpartition("@")[2] in idmap.email.domains:
            user, groups, source = idmap.email.username_prefix + email, set(), "email"
        else:
            return Identity(slack_user_id=slack_user_id, email=email, tz=tz)
        if idmap.usergroups:
            groups |= idmap.groups_of_usergroups(await self._usergroups(slack_user_id))
        groups |= set(idmap.default_groups)
        return Identity(
            slack_user_id=slack_user_id,
            k8s_user=user,
            groups=tuple(sorted(groups)),
            source=source,
            email=email,
            tz=tz,
        )

    async def _profile(self, user_id: str) -> SlackUser | None:
        hit, cached = self._profiles.get(user_id)
        if hit:
            return cached
        profile = await self._directory.user(user_id)
        self._profiles.put(user_id, profile)
        return profile

    async def _usergroups(self, user_id: str) -> list[str]:
        hit, cached = self._memberships.get(user_id)
        if hit and cached is not None:
            return cached
        key = f"{self._prefix}identity:usergroups:{user_id}"
        shared = await self._redis_get(key)
        if shared is None:
            shared = sorted(await self._directory.usergroups_of(user_id))
            await self._redis_set(key, shared)
        self._memberships.put(user_id, shared)
        return shared

    async def _redis_get(self, key: str) -> list[str] | None:
        if self._redis is None:
            return None
        raw = await degrade(
            self._redis.get(key), None, what="identity.usergroups_get", logger=self._log
        )
        if raw is None:
            return None
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        return [str(item) for item in value] if isinstance(value, list) else None

    async def _redis_set(self, key: str, value: list[str]) -> None:
        if self._redis is None or self._ttl < 1:
            return
        pending = self._redis.set(key, orjson.dumps(value), ex=int(self._ttl))
        await degrade(pending, None, what="identity.usergroups_set", logger=self._log)


def _normal_email(email: str | None) -> str | None:
    """Lower-cased, and only when it has exactly one `@` between non-empty parts."""
    if not email:
        return None
    local, at, domain = email.strip().lower().partition("@")
    if not (local and at and domain) or "@" in domain:
        return None
    return f"{local}@{domain}"
