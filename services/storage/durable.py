"""WAIT after the state writes that must survive a failover (acknowledgements, delivery markers).

Redis replicates asynchronously: a write acknowledged by a master that dies a moment later can
be missing on the replica that Sentinel (or the Cluster) promotes. `replicated(redis, key)`
blocks until `replicas` replicas have the write (WAIT), at most `timeout_ms`.

WAIT counts only the writes made *on its own connection*, and a pooled client gives no such
guarantee between two calls. So `replicated` makes one tiny write of its own (a marker beside
`key`, in the same hash slot, expiring at once) and WAITs on that same connection: the master's
replication offset only grows, so once a replica has the marker it has every write made before
it — including the caller's. On a Cluster the pair goes to the node that owns `key`'s slot.

It degrades, never fails: with no replica attached WAIT answers 0 after the timeout; that is
logged (`redis.wait_short`) and WAIT is then skipped for `QUIET` seconds, so a lone Redis costs
one timeout a minute, not one per write. A Redis error here is logged and ignored: the write
itself succeeded, only the confirmation is missing.

The policy rides on the client (`configure_wait`, called by `bot.redis.async_client`); a client
without one does not WAIT.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis
from redis.asyncio.cluster import PipelineCommand, RedisCluster

from services.storage.guard import REDIS_ERRORS

QUIET = 60.0  # seconds without WAIT after one came back short
_ATTRIBUTE = "_costbot_wait"
log = structlog.get_logger("costbot.storage")


@dataclass
class WaitPolicy:
    """How many replicas a state write should reach, and how long to wait for them."""

    replicas: int
    timeout_ms: int
    quiet_until: float = 0.0


def configure_wait(client: object, replicas: int, timeout_ms: int) -> None:
    """Attach the WAIT policy to `client` (0 replicas: never WAIT)."""
    setattr(client, _ATTRIBUTE, WaitPolicy(max(0, replicas), max(1, timeout_ms)))


def wait_policy(client: object) -> WaitPolicy | None:
    return getattr(client, _ATTRIBUTE, None)


def hashed_part(key: str) -> str:
    """The part of `key` Redis Cluster hashes: the first non-empty `{…}`, else the whole key."""
    start = key.find("{")
    if start >= 0:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key


def sync_key(key: str) -> str:
    """A marker key in `key`'s hash slot."""
    return "{" + hashed_part(key) + "}:costbot-wait"


async def replicated(redis: Redis, key: str, what: str) -> int | None:
    """WAIT until the writes made so far (to `key`'s node) reached the policy's replicas.

    Returns how many replicas confirmed, or None when no WAIT was made (no policy, 0 replicas,
    in a quiet period, or Redis failed)."""
    policy = wait_policy(redis)
    if policy is None or policy.replicas == 0 or time.monotonic() < policy.quiet_until:
        return None
    marker = sync_key(key)
    try:
        confirmed = await _marker_then_wait(redis, marker, policy)
    except REDIS_ERRORS as exc:
        log.warning("redis.wait_failed", what=what, error=f"{type(exc).__name__}: {exc}")
        return None
    if confirmed < policy.replicas:
        policy.quiet_until = time.monotonic() + QUIET
        log.warning(
            "redis.wait_short",
            what=what,
            wanted=policy.replicas,
            confirmed=confirmed,
            quiet_seconds=QUIET,
        )
    return confirmed


async def _marker_then_wait(redis: Redis, marker: str, policy: WaitPolicy) -> int:
    """SET marker + WAIT on one connection of the node that owns the marker's slot."""
    set_args = ("SET", marker, b"1", "PX", 1000)
    wait_args = ("WAIT", policy.replicas, policy.timeout_ms)
    if isinstance(redis, RedisCluster):
        node = redis.get_node_from_key(marker)
        if node is None:
            return 0
        commands = [PipelineCommand(0, *set_args), PipelineCommand(1, *wait_args)]
        await node.execute_pipeline(commands)
        for command in commands:
            if isinstance(command.result, Exception):
                raise command.result
        return int(commands[1].result)
    async with redis.pipeline(transaction=False) as pipe:  # one connection for both
        pipe.execute_command(*set_args)
        pipe.execute_command(*wait_args)
        results = await pipe.execute()
    return int(results[1])
