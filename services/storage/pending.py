"""Server-side records behind an opaque id, for what a Slack view must carry between two
requests (the Dismiss modal: which recommendation, and where to answer).

A payload's `private_metadata` comes back from the client; whatever the bot needs to trust
later (a `response_url` it will post to, a recommendation id) stays here instead, keyed by a
random token, bound to the user it was issued to, single-use and short-lived. The Redis
implementation, which only `bot/` builds, is `redis_pending.RedisPendingForms`.
"""

from __future__ import annotations

import re
import secrets
from typing import Protocol

FORM_TTL = 1800  # a response_url lives 30 minutes; the record never outlives it
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def new_token() -> str:
    """An opaque id: 144 random bits, URL-safe, nothing derived from the record."""
    return secrets.token_urlsafe(18)


def well_formed(token: str) -> bool:
    """Whether `token` could be one of ours (anything else is refused without a lookup)."""
    return bool(_TOKEN.match(token))


class PendingForms(Protocol):
    """Records kept while a modal is open. Records are state: failures raise StoreUnavailable."""

    async def put(self, kind: str, owner: str, data: dict[str, str]) -> str:
        """Keep `data` for `owner` (a Slack user ID); the opaque token to put in the view."""
        ...

    async def take(self, kind: str, owner: str, token: str) -> dict[str, str] | None:
        """The record, once, if `token` names one of `kind` issued to `owner` and still live."""
        ...
