"""Slack user ID → Identity: explicit entry, else a trusted-domain email, else unmapped. Only the
verified Slack user ID is trusted; profile emails only in listed domains.

A Redis adapter (only `bot/` imports it): memberships are shared between replicas through Redis,
a cache that degrades (`services.storage.guard.degrade`) to asking Slack again. How long
anything is kept is `services.access.lifetimes.CacheLifetimes`'s decision, not this module's.
"""

from __future__ import annotations

import math

import orjson
import structlog
from redis.asyncio import Redis
from structlog.typing import FilteringBoundLogger

from services.access.identity import MapProvider, SlackDirectory, SlackUser
from services.access.lifetimes import CacheLifetimes
from services.access.models import Identity
from services.ports import Clock
from services.storage.guard import degrade
from services.storage.ttl import TtlCache

MAX_LOCAL = 10_000  # per-replica membership entries; the oldest goes first


class IdentityResolver:
    """Slack user ID → Identity: explicit entry, else a trusted-domain email, else unmapped.

    Slack profiles are cached in process for `lifetimes.profiles` seconds. A user's Slack
    user groups are cached for `lifetimes.memberships` seconds counted from when Slack was
    asked, in Redis (replicas share the lookup) and in process: a copy never restarts the
    clock, so the layers do not stack."""

    def __init__(
        self,
        maps: MapProvider,
        directory: SlackDirectory,
        redis: Redis | None,
        clock: Clock,
        *,
        lifetimes: CacheLifetimes | None = None,
        prefix: str = "costbot:",
        logger: FilteringBoundLogger | None = None,
    ) -> None:
        self._maps, self._directory, self._redis = maps, directory, redis
        self._lifetimes = lifetimes or CacheLifetimes.derive()
        self._clock, self._prefix = clock, prefix
        self._log = logger or structlog.get_logger("costbot.identity")
        self._profiles: TtlCache[str, SlackUser | None] = TtlCache(clock, self._lifetimes.profiles)
        self._memberships: dict[str, tuple[float, list[str]]] = {}  # user → (asked at, groups)

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
        now = self._now()
        local = self._memberships.get(user_id)
        if local is not None and self._fresh(local[0], now):
            return local[1]
        key = f"{self._prefix}identity:usergroups:{user_id}"
        shared = await self._redis_get(key, now)
        if shared is None:
            shared = (now, sorted(await self._directory.usergroups_of(user_id)))
            await self._redis_set(key, shared)
        if len(self._memberships) >= MAX_LOCAL:
            self._memberships.pop(next(iter(self._memberships)))
        self._memberships[user_id] = shared
        return shared[1]

    def _fresh(self, asked_at: float, now: float) -> bool:
        return asked_at <= now < asked_at + self._lifetimes.memberships

    def _now(self) -> float:
        return self._clock.now().timestamp()

    async def _redis_get(self, key: str, now: float) -> tuple[float, list[str]] | None:
        """A shared entry still fresh by when Slack was asked (older formats are misses)."""
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
        if not isinstance(value, dict) or not isinstance(value.get("groups"), list):
            return None
        asked_at = value.get("at")
        if not isinstance(asked_at, (int, float)) or not self._fresh(float(asked_at), now):
            return None
        return float(asked_at), [str(item) for item in value["groups"]]

    async def _redis_set(self, key: str, entry: tuple[float, list[str]]) -> None:
        expiry = math.ceil(self._lifetimes.memberships)  # garbage collection; freshness is "at"
        if self._redis is None or expiry < 1:
            return
        value = orjson.dumps({"at": entry[0], "groups": entry[1]})
        pending = self._redis.set(key, value, ex=expiry)
        await degrade(pending, None, what="identity.usergroups_set", logger=self._log)


def _normal_email(email: str | None) -> str | None:
    """Lower-cased, and only when it has exactly one `@` between non-empty parts."""
    if not email:
        return None
    local, at, domain = email.strip().lower().partition("@")
    if not (local and at and domain) or "@" in domain:
        return None
    return f"{local}@{domain}"
