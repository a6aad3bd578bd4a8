"""Who asked a `/cost` question: the one value every route gets besides the command and Deps.

A leaf module, so route modules, listeners and the route table can all import it without an
import cycle through the `/cost` listener that dispatches to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.access.models import Identity
from services.costs.windows import normalize_zone


@dataclass(frozen=True)
class Asker:
    """Who asked, from where, with what words."""

    identity: Identity
    user_id: str
    channel_id: str
    text: str

    @property
    def tz(self) -> str:
        """The asker's Slack time zone (UTC when Slack has none or this host lacks it)."""
        return normalize_zone(self.identity.tz or "") or "UTC"

    @classmethod
    def of(cls, context: dict[str, Any], user_id: str, channel_id: str, text: str) -> Asker:
        """The identity the middleware resolved (unmapped when it could not)."""
        identity = context.get("identity") or Identity(slack_user_id=user_id)
        return cls(identity, user_id, channel_id, text)
