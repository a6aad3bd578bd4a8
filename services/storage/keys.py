"""State keys that moved under a hash tag, renamed once at start-up so no state is lost.

Redis Cluster runs a multi-key operation only on keys of one hash slot, so the keys read or
written together now carry a hash tag (docs/operations.md lists them). State written by an
older version under the old names (recommendation states and their index, digest delivery
markers) is renamed in place; RENAME keeps the TTL. Caches are not renamed: a miss costs only
time. Idempotent and safe with several replicas starting at once (RENAMENX: a key already at
the new name wins). Not run against a Cluster, which the old names never supported.
"""

from __future__ import annotations

import structlog
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from services.storage.guard import degrade

MARKER_PARTS = ("claim", "attempt", "done")
log = structlog.get_logger("costbot.storage")


def _glob_escape(text: str) -> str:
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)


def new_name(key: str, prefix: str) -> str | None:
    """The hash-tagged name of a legacy state key, or None when `key` is not one."""
    if not key.startswith(prefix):
        return None
    rest = key[len(prefix) :]
    if rest.startswith("rec:"):
        return f"{prefix}{{recs}}:{rest[4:]}"
    if rest.startswith("delivery:") and not rest.startswith("delivery:last:"):
        body, _, part = rest[len("delivery:") :].rpartition(":")
        if body and part in MARKER_PARTS and "{" not in body:
            return f"{prefix}delivery:{{{body}}}:{part}"
    return None


async def rename_legacy_keys(redis: Redis, prefix: str) -> int:
    """Rename every legacy state key under `prefix`; how many were renamed. Degrades (logs,
    renames nothing more) when Redis fails: the next start tries again."""
    if isinstance(redis, RedisCluster):
        return 0
    return await degrade(_rename(redis, prefix), 0, what="storage.rename_legacy_keys")


async def _rename(redis: Redis, prefix: str) -> int:
    renamed = 0
    for pattern in ("rec:*", "delivery:*"):
        async for raw in redis.scan_iter(match=_glob_escape(prefix) + pattern, count=1000):
            key = raw.decode() if isinstance(raw, bytes) else str(raw)
            target = new_name(key, prefix)
            if target is not None and await redis.renamenx(key, target):
                renamed += 1
    if renamed:
        log.info("storage.renamed_legacy_keys", count=renamed)
    return renamed
