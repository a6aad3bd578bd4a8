"""Who is calling: `Authorization: Bearer <token>` → a TokenReview → an `Identity`.

The token is only ever held in memory long enough to send it in a TokenReview; the cache is
keyed by its SHA-256 and nothing here logs it. Accepted reviews are reused for at most 60 s (or
until the token's own `exp`, when it is a JWT that says so); refusals for at most 10 s, so a
token minted a moment later, or a blip, does not lock a script out for long.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from services.access.models import Identity

ACCEPT_TTL = 60.0
DENY_TTL = 10.0
MAX_CACHED = 10_000  # distinct tokens remembered; the oldest are dropped beyond this
MAX_TOKEN_BYTES = 16 * 1024


class Reviewed(Protocol):
    """What a TokenReview said (services.access.kube.TokenReviewed has these fields)."""

    @property
    def authenticated(self) -> bool: ...
    @property
    def user(self) -> str: ...
    @property
    def uid(self) -> str: ...
    @property
    def groups(self) -> tuple[str, ...]: ...
    @property
    def extra(self) -> tuple[tuple[str, tuple[str, ...]], ...]: ...
    @property
    def audiences(self) -> tuple[str, ...]: ...


class TokenReviewer(Protocol):
    """The Kubernetes API adapter's `token_review` (raises AuthorizationUnavailable)."""

    async def token_review(self, token: str, audiences: Sequence[str]) -> Reviewed: ...


class TokenAuthenticator:
    """Bearer token → Identity, or None when the API server does not vouch for it for one of
    our audiences. AuthorizationUnavailable (the API server could not be asked) propagates."""

    def __init__(
        self,
        reviewer: TokenReviewer | None,
        audiences: Sequence[str],
        *,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reviewer = reviewer
        self._audiences = tuple(audiences)
        self._wall, self._monotonic = wall, monotonic
        self._cache: dict[str, tuple[float, Identity | None]] = {}
        self.hits = 0
        self.misses = 0

    @property
    def hit_rate(self) -> float:
        asked = self.hits + self.misses
        return self.hits / asked if asked else 0.0

    async def identify(self, token: str) -> Identity | None:
        if not token or len(token) > MAX_TOKEN_BYTES or not token.isascii():
            return None
        key = hashlib.sha256(token.encode()).hexdigest()
        now = self._monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            self.hits += 1
            return cached[1]
        self.misses += 1
        identity = await self._review(token)
        self._remember(key, now, identity, token)
        return identity

    async def _review(self, token: str) -> Identity | None:
        if self._reviewer is None:
            from services.errors import AuthorizationUnavailable

            raise AuthorizationUnavailable("no Kubernetes API is configured to review tokens")
        reviewed = await self._reviewer.token_review(token, self._audiences)
        if not reviewed.authenticated or not reviewed.user:
            return None
        if not set(reviewed.audiences) & set(self._audiences):
            return None  # authenticated, but not for us: a token meant for someone else
        return Identity(
            slack_user_id=f"k8s:{reviewed.user}",
            k8s_user=reviewed.user,
            groups=reviewed.groups,
            source="token",
            uid=reviewed.uid,
            extra=reviewed.extra,
        )

    def _remember(self, key: str, now: float, identity: Identity | None, token: str) -> None:
        ttl = DENY_TTL if identity is None else ACCEPT_TTL
        expiry = jwt_expiry(token)
        if expiry is not None:
            ttl = min(ttl, expiry - self._wall())
        if ttl <= 0:
            self._cache.pop(key, None)
            return
        if len(self._cache) >= MAX_CACHED:
            for stale in [k for k, (until, _) in self._cache.items() if until <= now]:
                del self._cache[stale]
            while len(self._cache) >= MAX_CACHED:
                del self._cache[next(iter(self._cache))]
        self._cache[key] = (now + ttl, identity)


def jwt_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT-shaped token, read without verifying anything: it is only used
    to forget a review sooner, never to accept a token."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None
