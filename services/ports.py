"""The small seams between services and the outside world.

Only Protocols live here. Services receive implementations of them in `__init__`; only `bot/`
builds the concrete ones. In-memory fakes of these Protocols are fine in unit tests. The value
types they speak are in `services.opencost.models` and `services.access.models`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from services.access.models import AccessCheck, Identity
from services.opencost.models import AllocationData, AllocationQuery, AssetData


# --- time ------------------------------------------------------------------------------------
class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


# --- cost data -------------------------------------------------------------------------------
class CostSource(Protocol):
    """Something that answers OpenCost questions (a real OpenCost, several, demo, a cache)."""

    async def allocations(self, query: AllocationQuery) -> AllocationData: ...

    async def assets(self, start: datetime, end: datetime) -> AssetData: ...


# --- identity and authorization -----------------------------------------------------------------
class Authorizer(Protocol):
    async def allowed(self, identity: Identity, check: AccessCheck) -> bool:
        """True when Kubernetes allows it. Raises AuthorizationUnavailable if it can't ask."""
        ...


@runtime_checkable
class BatchAuthorizer(Authorizer, Protocol):
    """An Authorizer that answers many checks for one identity at once (one cache read for
    all of them, at most `concurrency` questions to Kubernetes in flight)."""

    async def allowed_many(
        self, identity: Identity, checks: Sequence[AccessCheck], concurrency: int | None = None
    ) -> list[bool]: ...


class NamespaceSource(Protocol):
    """Every namespace of a cluster as its Kubernetes API lists them (`services.access.
    namespaces.KubeNamespaces`)."""

    async def namespaces(self, cluster: str) -> frozenset[str] | None:
        """The names in `cluster` ("" with one cluster); None when unknown (no API for it, or
        it could not be asked): the caller then learns the namespaces from the cost data."""
        ...


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
        self,
        channel: str,
        filename: str,
        content: bytes,
        title: str,
        thread_ts: str | None = None,
    ) -> str:
        """Upload an image shared to `channel` (in `thread_ts`), return its Slack file id once
        Slack has processed it, so a message may reference it."""
        ...
