"""The Redis error seam (the rule is in the package docstring): `guarded`/`required` turn a Redis
failure into StoreUnavailable, `degrade` turns it into a named, logged default.

Only Redis adapter modules import this (and through it, redis); `bot/` injects them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import structlog
from redis.exceptions import RedisError
from structlog.typing import FilteringBoundLogger

from services.errors import StoreUnavailable

T = TypeVar("T")
# OSError: a connection reset can surface from the socket before redis-py wraps it.
REDIS_ERRORS: tuple[type[Exception], ...] = (RedisError, OSError)
_DEGRADABLE: tuple[type[Exception], ...] = (*REDIS_ERRORS, StoreUnavailable)
log = structlog.get_logger("costbot.storage")


@contextmanager
def guarded(what: str) -> Iterator[None]:
    """State: any Redis failure inside the block raises StoreUnavailable naming `what`."""
    try:
        yield
    except REDIS_ERRORS as exc:
        raise StoreUnavailable(f"{what}: {type(exc).__name__}: {exc}") from exc


async def required(pending: Awaitable[T], what: str) -> T:
    """State: await one Redis command; a failure raises StoreUnavailable naming `what`."""
    with guarded(what):
        return await pending


async def degrade(
    pending: Awaitable[T], default: T, *, what: str, logger: FilteringBoundLogger | None = None
) -> T:
    """Cache: await `pending`; on a Redis failure (or a StoreUnavailable from a guarded block
    inside it) log `storage.degraded` with `what` and return `default` instead."""
    try:
        return await pending
    except _DEGRADABLE as exc:
        error = f"{type(exc).__name__}: {exc}"
        (logger or log).warning("storage.degraded", what=what, error=error)
        return default
