"""Waiting on state instead of sleeping: tests poll for the thing they are waiting for.

`wait_for` is the boolean form of `tests.standins.server.wait_until` (which returns a value and
is re-exported here). Both fail with an AssertionError naming what never happened, so a slow
machine makes a test slower, never wrong, and a broken feature fails instead of passing after
a fixed pause.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import redis

from tests.standins.server import wait_until, wait_until_async

__all__ = [
    "fresh_cost_copies",
    "wait_for",
    "wait_for_fresh_copies_to_expire",
    "wait_until",
    "wait_until_async",
]

# A fresh cached answer is `<prefix>cost:v1:{<sha256>}`; its stale copy, last-good pointer and
# single-flight lock carry a suffix and outlive it.
_FRESH = re.compile(rb"cost:v1:\{[0-9a-f]{64}\}$")


def wait_for(
    predicate: Callable[[], object], what: str, timeout: float = 10, every: float = 0.01
) -> None:
    """Poll `predicate()` every `every` s until it is truthy; AssertionError naming `what` on
    timeout. Polls that are themselves requests to the bot should use a larger `every`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for: {what}")
        time.sleep(every)


def fresh_cost_copies(redis_url: str) -> list[bytes]:
    """The keys of the fresh (TTL-bound) cached cost answers in this Redis."""
    client = redis.Redis.from_url(redis_url)
    try:
        return [key for key in client.scan_iter(match=b"*cost:v1:*") if _FRESH.search(key)]
    finally:
        client.close()


def wait_for_fresh_copies_to_expire(redis_url: str, timeout: float = 10) -> None:
    """Until Redis itself has expired every fresh copy (CACHE_TTL passed); stale copies stay.
    On a slow machine the fresh copy may be gone already: what must hold is that an answer was
    cached at all (its stale copy is still there) and that no fresh copy is left."""
    assert _cost_keys(redis_url), "no answer was cached"
    wait_for(lambda: not fresh_cost_copies(redis_url), "the fresh cached copies expired", timeout)
    assert _cost_keys(redis_url), "the stale copies expired with the fresh ones"


def wait_for_live_pieces_to_expire(redis_url: str, timeout: float = 10) -> None:
    """Blocks: until Redis has expired every live piece (CACHE_TTL passed); settled blocks stay."""

    def keys(kind: str) -> list[bytes]:
        client = redis.Redis.from_url(redis_url)
        try:
            return list(client.scan_iter(match=f"*{{costcache}}:v*:{kind}:*".encode()))
        finally:
            client.close()

    assert keys("b"), "no settled block was stored"
    wait_for(lambda: not keys("live"), "the live pieces expired", timeout)
    assert keys("b"), "settled blocks expired with the live pieces"


def _cost_keys(redis_url: str) -> list[bytes]:
    client = redis.Redis.from_url(redis_url)
    try:
        return list(client.scan_iter(match=b"*cost:v1:*"))
    finally:
        client.close()
