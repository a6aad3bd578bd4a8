"""A small in-process cache whose entries expire `ttl` seconds after they were put, by an
injected `Clock` (so tests move time instead of sleeping). Bounded: when full, the oldest
entry goes first. Not shared between replicas; a Redis cache is, through `guard.degrade`.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import timedelta
from typing import Generic, TypeVar

from services.ports import Clock

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """`get` answers (hit, value) so that a cached None (e.g. "Slack does not know this user")
    is a hit, not a miss."""

    def __init__(self, clock: Clock, ttl: float, max_entries: int = 10_000) -> None:
        self._clock = clock
        self._ttl = timedelta(seconds=ttl)
        self._max = max(1, max_entries)
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> tuple[bool, V | None]:
        found = self._entries.get(key)
        if found is None:
            return False, None
        expires, value = found
        if expires <= self._now():
            del self._entries[key]
            return False, None
        return True, value

    def put(self, key: K, value: V) -> None:
        self._entries.pop(key, None)  # re-putting a key makes it the newest
        while len(self._entries) >= self._max:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = (self._now() + self._ttl.total_seconds(), value)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _now(self) -> float:
        return self._clock.now().timestamp()
