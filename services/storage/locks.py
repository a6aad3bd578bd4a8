"""Single-flight locks this process could not release because Redis failed mid-way.

A lock is a `SET NX PX` key holding a random token, released by a script that deletes it only
while it still holds that token. When the release fails, a persistent Redis (AOF) brings the lock
back after its restart, and every waiter would sit out the lock's whole lifetime for a fetch that
is long over. So the token is kept here and released at the next chance (the next miss), before
anyone is made to wait.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from services.errors import StoreUnavailable
from services.storage.guard import required

log = structlog.get_logger(__name__)

RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class Locks:
    """Release a lock (`release`), remembering it when Redis fails; `release_orphans` retries."""

    def __init__(self, script: Callable[..., Awaitable[Any]], store: str) -> None:
        self._script = script  # `redis.register_script(RELEASE)`
        self._store = store  # how StoreUnavailable names the store
        self._orphans: dict[str, str] = {}

    async def release(self, lock: str, token: str) -> None:
        try:
            await required(self._script(keys=[lock], args=[token]), self._store)
        except StoreUnavailable as exc:  # released on the next miss, or expires by itself
            self._orphans[lock] = token
            log.warning("storage.degraded", what=f"{self._store}.unlock", error=str(exc))

    async def release_orphans(self) -> None:
        for lock, token in list(self._orphans.items()):
            try:
                await required(self._script(keys=[lock], args=[token]), self._store)
            except StoreUnavailable:
                return  # still down; the next miss tries again
            self._orphans.pop(lock, None)
