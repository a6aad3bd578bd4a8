"""The audit stream in Redis: a capped stream under the prefix. A Redis adapter (only `bot/`
imports it); audit entries are state, so failures raise StoreUnavailable (`services.storage`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

from services.audit.log import AuditEntry
from services.storage.guard import required


class RedisAuditStream:
    """`AuditStream` over XADD (MAXLEN ~ `maxlen`) and XREVRANGE."""

    def __init__(self, redis: Redis, prefix: str = "costbot:", maxlen: int = 10_000) -> None:
        self._redis = redis
        self.stream = f"{prefix}audit"
        self._maxlen = maxlen

    async def append(self, event: str, actor: str, at: datetime, fields: dict[str, Any]) -> None:
        entry: dict[FieldT, EncodableT] = {
            "event": event,
            "actor": actor,
            "at": at.isoformat(),
            "fields": orjson.dumps(fields, default=str),
        }
        pending = self._redis.xadd(self.stream, entry, maxlen=self._maxlen, approximate=True)
        await required(pending, "cannot write the audit stream")

    async def recent(self, n: int) -> list[AuditEntry]:
        rows = await required(
            self._redis.xrevrange(self.stream, count=n), "cannot read the audit stream"
        )
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
