"""Audit events (denials, state changes): a structured log line `audit.<event>` and an entry in a
capped Redis stream. Losing Redis never loses the log line, and never fails the caller.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import msgspec
import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT
from structlog.typing import FilteringBoundLogger

from services.errors import StoreUnavailable
from services.ports import Clock

_EVENT = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


class AuditEntry(msgspec.Struct, frozen=True):
    """One stored audit event, newest first from `AuditLog.recent`."""

    id: str  # the Redis stream id, e.g. "1700000000000-0"
    at: datetime
    event: str  # without the "audit." prefix, e.g. "access_denied"
    actor: str  # a Slack user ID, or "system" for the scheduler
    fields: dict[str, Any] = msgspec.field(default_factory=dict)


class AuditLog:
    def __init__(
        self,
        redis: Redis | None,
        logger: FilteringBoundLogger,
        clock: Clock,
        prefix: str = "costbot:",
        maxlen: int = 10_000,
    ) -> None:
        self._redis, self._log, self._clock = redis, logger, clock
        self.stream = f"{prefix}audit"
        self._maxlen = maxlen

    async def record(self, event: str, actor: str, **fields: Any) -> None:
        """Log `audit.<event>` with `actor` and `fields`, then append it to the stream."""
        event = event.removeprefix("audit.")
        if not _EVENT.match(event):
            raise ValueError(f"audit event names are snake_case words, not {event!r}")
        at = self._clock.now()
        self._log.info(f"audit.{event}", actor=actor, **fields)
        if self._redis is None:
            return
        entry: dict[FieldT, EncodableT] = {
            "event": event,
            "actor": actor,
            "at": at.isoformat(),
            "fields": orjson.dumps(fields, default=str),
        }
        try:
            await self._redis.xadd(
                self.stream,
                entry,
                maxlen=self._maxlen,
                approximate=True,
            )
        except (RedisError, OSError) as exc:
            self._log.error("audit.store_failed", audit_event=event, actor=actor, error=str(exc))

    async def recent(self, n: int = 20) -> list[AuditEntry]:
        """The newest `n` entries, newest first. Raises StoreUnavailable."""
        if self._redis is None or n <= 0:
            return []
        try:
            rows = await self._redis.xrevrange(self.stream, count=n)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"cannot read the audit stream: {exc}") from exc
        return [_entry(sid, data) for sid, data in rows or [] if sid is not None and data]


def _entry(stream_id: bytes | str, data: dict[Any, Any]) -> AuditEntry:
    def text(key: str) -> str:
        value = data.get(key.encode(), data.get(key, b""))
        return value.decode() if isinstance(value, bytes) else str(value)

    try:
        fields = orjson.loads(text("fields") or "{}")
    except orjson.JSONDecodeError:
        fields = {}
    return AuditEntry(
        id=stream_id.decode() if isinstance(stream_id, bytes) else stream_id,
        at=datetime.fromisoformat(text("at")),
        event=text("event"),
        actor=text("actor"),
        fields=fields if isinstance(fields, dict) else {},
    )
