"""Audit events (denials, state changes): a structured log line `audit.<event>` and an entry in a
capped stream (`AuditStream`; in Redis through `services.audit.redis_stream`).

The log line is written first, so losing the stream never loses it. Audit entries are state:
when the stream cannot take one, `record` raises StoreUnavailable (after logging
`audit.store_failed`), like any other state write.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Protocol

import msgspec
from structlog.typing import FilteringBoundLogger

from services.errors import StoreUnavailable
from services.ports import Clock

_EVENT = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


class AuditEntry(msgspec.Struct, frozen=True):
    """One stored audit event, newest first from `AuditLog.recent`."""

    id: str  # the stream id, e.g. "1700000000000-0"
    at: datetime
    event: str  # without the "audit." prefix, e.g. "access_denied"
    actor: str  # a Slack user ID, or "system" for the scheduler
    fields: dict[str, Any] = msgspec.field(default_factory=dict)


class AuditStream(Protocol):
    """Where audit entries are kept. Both methods raise StoreUnavailable."""

    async def append(self, event: str, actor: str, at: datetime, fields: dict[str, Any]) -> None:
        """Add one entry (the stream may drop its oldest ones)."""
        ...

    async def recent(self, n: int) -> list[AuditEntry]:
        """The newest `n` entries, newest first."""
        ...


class AuditLog:
    """Validates event names, logs each event, and keeps it in `stream` (None: log only)."""

    def __init__(
        self, stream: AuditStream | None, logger: FilteringBoundLogger, clock: Clock
    ) -> None:
        self._stream, self._log, self._clock = stream, logger, clock

    async def record(self, event: str, actor: str, **fields: Any) -> None:
        """Log `audit.<event>` with `actor` and `fields`, then append it to the stream.
        Raises StoreUnavailable when the stream fails (the log line is already written)."""
        event = event.removeprefix("audit.")
        if not _EVENT.match(event):
            raise ValueError(f"audit event names are snake_case words, not {event!r}")
        at = self._clock.now()
        self._log.info(f"audit.{event}", actor=actor, **fields)
        if self._stream is None:
            return
        try:
            await self._stream.append(event, actor, at, fields)
        except StoreUnavailable as exc:
            self._log.error("audit.store_failed", audit_event=event, actor=actor, error=str(exc))
            raise

    async def recent(self, n: int = 20) -> list[AuditEntry]:
        """The newest `n` entries, newest first. Raises StoreUnavailable."""
        if self._stream is None or n <= 0:
            return []
        return await self._stream.recent(n)
