"""`PendingForms` in Redis (only `bot/` imports it): one JSON value per token, with a TTL,
read and deleted in one transaction so a record is used at most once, on any replica."""

from __future__ import annotations

import orjson
from redis.asyncio import Redis

from services.storage.guard import guarded
from services.storage.pending import FORM_TTL, new_token, well_formed

WHAT = "open forms"  # how StoreUnavailable names them


class RedisPendingForms:
    def __init__(self, redis: Redis, *, prefix: str = "costbot:", ttl: int = FORM_TTL) -> None:
        self._redis, self._prefix, self._ttl = redis, prefix, max(1, ttl)

    async def put(self, kind: str, owner: str, data: dict[str, str]) -> str:
        token = new_token()
        value = orjson.dumps({"owner": owner, "data": data})
        with guarded(WHAT):
            await self._redis.set(self._key(kind, owner, token), value, ex=self._ttl)
        return token

    async def take(self, kind: str, owner: str, token: str) -> dict[str, str] | None:
        if not well_formed(token):
            return None
        with guarded(WHAT):
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.get(self._key(kind, owner, token))
                pipe.delete(self._key(kind, owner, token))
                raw, _ = await pipe.execute()
        if raw is None:
            return None
        record = orjson.loads(raw)
        if not isinstance(record, dict) or record.get("owner") != owner:
            return None
        data = record.get("data")
        if not isinstance(data, dict):
            return None
        return {str(key): str(value) for key, value in data.items()}

    def _key(self, kind: str, owner: str, token: str) -> str:
        """The owner is part of the key: someone else's token finds (and uses up) nothing."""
        return f"{self._prefix}pending:{kind}:{owner}:{token}"
