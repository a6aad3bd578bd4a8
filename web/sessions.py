"""Server-side sessions in Redis: the cookie carries only a random id and its signature.

A session is `web:session:<id>` → who signed in (and how) and its CSRF token, with a TTL of at
most eight hours. Logging out deletes the key, so every replica forgets the session at once;
the signing key is made once and shared through Redis, so any replica can check any cookie.
Pending logins (`state` → nonce) live ten minutes and are taken exactly once (GETDEL), so a
replayed callback finds nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import msgspec
from redis.asyncio import Redis

from services.access.models import Identity
from services.storage.guard import required

SESSION_TTL = 8 * 3600
LOGIN_TTL = 600
COOKIE = "costbot_session"


class Session(msgspec.Struct, frozen=True):
    id: str
    csrf: str
    identity: Identity
    how: str  # "slack" or "token"
    name: str = ""


class PendingLogin(msgspec.Struct, frozen=True):
    nonce: str
    next: str = "/"


class SessionStore:
    def __init__(self, redis: Redis, prefix: str = "costbot:", ttl: int = SESSION_TTL) -> None:
        self._redis, self._prefix, self.ttl = redis, prefix + "web:", min(ttl, SESSION_TTL)
        self._key: bytes | None = None

    async def _signing_key(self) -> bytes:
        if self._key is None:
            name = self._prefix + "cookie-key"
            await required(self._redis.set(name, secrets.token_hex(32), nx=True), "web key")
            stored = await required(self._redis.get(name), "web key")
            self._key = stored if isinstance(stored, bytes) else str(stored).encode()
        return self._key

    async def cookie_for(self, session: Session) -> str:
        mac = hmac.new(await self._signing_key(), session.id.encode(), hashlib.sha256)
        return f"{session.id}.{mac.hexdigest()}"

    async def create(self, identity: Identity, how: str, name: str = "") -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), identity, how, name)
        key = self._prefix + "session:" + session.id
        await required(self._redis.set(key, msgspec.json.encode(session), ex=self.ttl), "session")
        return session

    async def get(self, cookie: str | None) -> Session | None:
        """The session a cookie names, if its signature holds and it has not ended."""
        sid, _, mac = (cookie or "").partition(".")
        if not sid or not mac or len(cookie or "") > 256:
            return None
        good = hmac.new(await self._signing_key(), sid.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(good, mac):
            return None
        raw = await required(self._redis.get(self._prefix + "session:" + sid), "session")
        if raw is None:
            return None
        try:
            return msgspec.json.decode(raw, type=Session)
        except msgspec.ValidationError:
            return None

    async def end(self, session_id: str) -> None:
        await required(self._redis.delete(self._prefix + "session:" + session_id), "session")

    async def begin_login(self, nonce: str, next_path: str = "/") -> str:
        state = secrets.token_urlsafe(24)
        value = msgspec.json.encode(PendingLogin(nonce, next_path))
        await required(
            self._redis.set(self._prefix + "login:" + state, value, ex=LOGIN_TTL), "login"
        )
        return state

    async def take_login(self, state: str) -> PendingLogin | None:
        """The pending login for `state`, once: a second callback with it finds nothing."""
        if not state or len(state) > 128:
            return None
        raw = await required(self._redis.getdel(self._prefix + "login:" + state), "login")
        return None if raw is None else msgspec.json.decode(raw, type=PendingLogin)
