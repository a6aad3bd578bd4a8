"""The small seams between services and the outside world.

Services receive implementations of these Protocols in `__init__`; only `bot/` builds the
concrete ones. In-memory fakes of these Protocols are fine in unit tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import msgspec

from services.opencost.models import Allocation, Asset


# --- time ------------------------------------------------------------------------------------
class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


# --- cost data -------------------------------------------------------------------------------
class AllocationQuery(msgspec.Struct, frozen=True):
    """One `/allocation` question, window already resolved to explicit UTC instants.

    `aggregate=""` means OpenCost's default (cluster,node,namespace,pod,container), i.e. the
    container level costbot aggregates itself. `step=""` means one set for the whole window.
    """

    start: datetime
    end: datetime
    step: str = ""
    aggregate: str = ""
    include_idle: bool = False
    # A v2 filter string; a hint only: older OpenCost ignores it, so callers filter again.
    filter: str = ""

    def window_param(self) -> str:
        return f"{_rfc3339(self.start)},{_rfc3339(self.end)}"


class AllocationData(msgspec.Struct, frozen=True):
    """What a cost source answers: one list of allocations per step, plus provenance."""

    steps: list[list[Allocation]]
    fetched_at: float  # unix seconds when the data left OpenCost
    demo: bool = False
    stale: bool = False  # served from the last good answer because the source failed
    failed_clusters: list[str] = msgspec.field(default_factory=list)

    def rows(self) -> list[Allocation]:
        return [row for step in self.steps for row in step]


class AssetData(msgspec.Struct, frozen=True):
    assets: list[Asset]
    fetched_at: float
    demo: bool = False
    stale: bool = False
    failed_clusters: list[str] = msgspec.field(default_factory=list)


class CostSource(Protocol):
    """Something that answers OpenCost questions (a real OpenCost, several, demo, a cache)."""

    async def allocations(self, query: AllocationQuery) -> AllocationData: ...

    async def assets(self, start: datetime, end: datetime) -> AssetData: ...


# --- identity and authorization -----------------------------------------------------------------
class Identity(msgspec.Struct, frozen=True):
    """Who is asking: a Slack user and, when mapped, their Kubernetes user and groups."""

    slack_user_id: str
    k8s_user: str | None = None
    groups: tuple[str, ...] = ()
    source: str = "unmapped"  # explicit | email | demo | unmapped
    email: str | None = None

    @property
    def mapped(self) -> bool:
        return self.k8s_user is not None


class AccessCheck(msgspec.Struct, frozen=True):
    """The attributes of one SubjectAccessReview. namespace="" means all namespaces."""

    verb: str
    resource: str
    group: str = ""
    namespace: str = ""
    name: str = ""


class Authorizer(Protocol):
    async def allowed(self, identity: Identity, check: AccessCheck) -> bool:
        """True when Kubernetes allows it. Raises AuthorizationUnavailable if it can't ask."""
        ...


class Scope(msgspec.Struct, frozen=True):
    """What one requester may see. `namespaces=None` means every namespace."""

    namespaces: frozenset[str] | None = None
    cluster_wide: bool = False

    def sees(self, namespace: str) -> bool:
        return self.namespaces is None or namespace in self.namespaces

    @property
    def partial(self) -> bool:
        return self.namespaces is not None


EVERYTHING = Scope(namespaces=None, cluster_wide=True)


# --- Slack-side effects, as services see them ----------------------------------------------------
class ChatPoster(Protocol):
    """Posting to channels, used by digests and alerts (implemented over slack_sdk in bot/)."""

    async def post(
        self,
        channel: str,
        text: str,
        blocks: Sequence[dict[str, Any]],
        *,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Post a message; returns its `ts`. Raises ChatUnavailable."""
        ...

    async def find_by_metadata(
        self, channel: str, event_type: str, key: str, value: str
    ) -> str | None:
        """The ts of a recent message carrying this metadata, if any."""
        ...

    async def upload_png(
        self, channel: str | None, filename: str, content: bytes, title: str
    ) -> str:
        """Upload an image; returns its Slack file id."""
        ...


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
