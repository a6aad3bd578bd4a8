"""Exactly-once delivery of one Slack message per (subject, period) across any number of replicas:
the `DeliveryGuard` port, its jobs and its outcomes. The Redis implementation, which only `bot/`
builds, is `redis_delivery.RedisDeliveryGuard`.

Redis markers per delivery: a claim (`SET NX EX`, kept alive by a heartbeat) taken before the
message is built, an attempt marker set just before posting, and a done marker after. A holder
that dies leaves its claim to expire; whoever claims next and finds an attempt marker first
looks for the message's metadata in the channel, so a post that did happen is recorded, not
repeated. A post that fails (429 after retries, 5xx, timeout) releases the claim for a retry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

SENT, LATE, RECOVERED = "sent", "late", "recovered"
PAUSED, SKIPPED, FAILED = "paused", "skipped", "failed"
ALREADY, BUSY = "already", "busy"  # another replica did it / is doing it: nothing recorded here
# Slack answers that no retry will change: record the failure instead of retrying every minute.
PERMANENT = frozenset(
    {
        "not_in_channel",
        "channel_not_found",
        "is_archived",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "missing_scope",
        "restricted_action",
        "not_authed",
        "msg_too_long",
        "invalid_blocks",
        "invalid_metadata_format",
        "ekm_access_denied",
    }
)
# What the digests counter sees (sent, late, skipped, failed); a pause counts as skipped.
METRIC_OUTCOMES = {SENT: SENT, LATE: LATE, SKIPPED: SKIPPED, PAUSED: SKIPPED, FAILED: FAILED}
After = Callable[[str], Awaitable[None]]


class Job(msgspec.Struct, frozen=True, kw_only=True):
    """One delivery: `subject` (subscription or budget id) for `period`, into `channel`."""

    kind: str  # "digest" | "alert": namespaces the markers
    subject: str
    period: str
    channel: str
    late: bool = False
    event_type: str = "costbot_digest"
    id_field: str = "subscription_id"

    @property
    def delivery(self) -> str:
        return f"{self.subject}@{self.period}"

    def metadata(self) -> dict[str, Any]:
        payload = {self.id_field: self.subject, "period": self.period, "delivery": self.delivery}
        return {"event_type": self.event_type, "event_payload": payload}


@dataclass
class Outgoing:
    """A message to post. `after(ts)` runs once the delivery is recorded (thread reply, chart)."""

    text: str
    blocks: list[dict[str, Any]]
    outcome: str = ""  # default: sent, or late
    after: After | None = None


@dataclass(frozen=True)
class Quiet:
    """Nothing to post for this period; recorded as final (e.g. still paused)."""

    outcome: str
    detail: str = ""


class Result(msgspec.Struct, frozen=True):
    outcome: str
    ts: str = ""
    detail: str = ""


Produce = Callable[[], Awaitable[Outgoing | Quiet]]


class DeliveryGuard(Protocol):
    """Exactly-once delivery (see the module docstring). Markers are state: every method raises
    StoreUnavailable when they cannot be read or written."""

    async def deliver(self, job: Job, produce: Produce) -> Result:
        """Post `produce()`'s message for `job` unless it is (being) delivered elsewhere."""
        ...

    async def skip(self, job: Job, detail: str) -> bool:
        """Record `job` as skipped unless it was delivered or is being delivered."""
        ...

    async def done(self, job: Job) -> Result | None:
        """The recorded outcome of `job`, if it has one."""
        ...
