"""The OpenCost (or Kubecost `/model`) HTTP adapter: the one place httpx/decoding errors become
domain errors. It returns what the server sent; `filter` is only a hint, callers filter again."""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

import httpx
import msgspec
import structlog

from services.errors import OpenCostBadResponse, OpenCostError, OpenCostUnavailable
from services.opencost.models import (
    Allocation,
    AllocationData,
    AllocationQuery,
    AllocationResponse,
    Asset,
    AssetData,
    AssetResponse,
    RawAllocationOnly,
)
from services.ports import Clock

log = structlog.get_logger(__name__)
_R = TypeVar("_R", AllocationResponse, AssetResponse)
_S = TypeVar("_S", Allocation, Asset, RawAllocationOnly)

_allocation_decoder = msgspec.json.Decoder(AllocationResponse)
_asset_decoder = msgspec.json.Decoder(AssetResponse)


class _ErrorEnvelope(msgspec.Struct):
    """OpenCost's JSON error body, `{"code":400,"data":null,"message":"…"}`."""

    message: str | None = None


_error_decoder = msgspec.json.Decoder(_ErrorEnvelope)


class OpenCostClient:
    """A `CostSource` over one OpenCost. `http` is the pooled client built in `bot/` (or any
    client with a `transport=`, such as the demo's); its timeouts bound each attempt.

    GETs are idempotent, so connection errors, timeouts and 5xx are retried `retries` times with
    exponential backoff (`backoff`, 2×backoff, …) before `OpenCostUnavailable` is raised.

    Two bounds keep a sick OpenCost from holding a user's question hostage:
    - `deadline`: seconds one call may take, retries included (default 1.5 × the client's read
      timeout), so "slow beyond the timeout" costs about one timeout, not `retries + 1` of them;
    - `cooldown`: after a call ends unavailable, calls in the next `cooldown` seconds fail at
      once instead of waiting again (a command asks several questions in a row; the cache
      then serves its last good copy straight away). The first call after it asks again.
    """

    def __init__(
        self,
        base_url: str,
        http: httpx.AsyncClient,
        cluster_name: str | None = None,
        retries: int = 2,
        backoff: float = 0.2,
        *,
        clock: Clock,
        demo: bool = False,
        deadline: float | None = None,
        cooldown: float = 3.0,
        on_request: Callable[[str, float], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.cluster_name = cluster_name
        self.demo = demo
        self._http = http
        self._retries = max(0, retries)
        self._backoff = backoff
        self._clock = clock
        read = http.timeout.read
        self._deadline = deadline if deadline is not None else (read * 1.5 if read else None)
        self._cooldown = max(0.0, cooldown)
        # Monotonic time of the last unavailable call, per kind of request (path + aggregation):
        # a sick container-level query must not silence cheap namespace-level ones.
        self._down_since: dict[str, float] = {}
        # (outcome, seconds) per attempt, for the latency histogram: "ok", "http_4xx", "http_5xx"
        # or the transport error's class name.
        self._on_request = on_request or (lambda _outcome, _seconds: None)

    # --- CostSource ---------------------------------------------------------------------------
    async def allocations(self, query: AllocationQuery) -> AllocationData:
        params = {"window": query.window_param(), "accumulate": "false"}
        if query.step:
            params["step"] = query.step
        if query.aggregate:
            params["aggregate"] = query.aggregate
        if query.include_idle:
            params["includeIdle"] = "true"
        if query.filter:  # a hint: OpenCost before ~1.115 ignores it, so callers filter again
            params["filter"] = query.filter
        raw = await self._get("/allocation", params, kind=f"/allocation|{query.aggregate}")
        response = self._decode(raw, _allocation_decoder)
        steps = [list(step.values()) for step in response.data or []]
        if _HUGE_NUMBER.search(raw.content):  # cheap test first: rows are rebuilt only then
            steps = [_sane_all(step, "/allocation") for step in steps]
        if self.cluster_name:
            steps = [[self._relabel(row) for row in step] for step in steps]
        return AllocationData(steps=steps, fetched_at=self._now(), demo=self.demo)

    async def assets(self, start: datetime, end: datetime) -> AssetData:
        query = AllocationQuery(start=start, end=end)
        raw = await self._get("/assets", {"window": query.window_param()})
        response = self._decode(raw, _asset_decoder)
        found = list((response.data or {}).values())
        if _HUGE_NUMBER.search(raw.content):
            found = _sane_all(found, "/assets")
        if self.cluster_name:
            found = [self._relabel_asset(asset) for asset in found]
        return AssetData(assets=found, fetched_at=self._now(), demo=self.demo)

    async def ping(self) -> None:
        """Raise an OpenCostError unless OpenCost answers: `/healthz`, else a one-minute query."""
        try:
            response = await self._http.get(f"{self.base_url}/healthz")
        except httpx.HTTPError as exc:
            raise self._unavailable(f"/healthz: {_describe(exc)}") from exc
        if response.status_code == 404:  # a /model proxy may not route /healthz
            end = self._clock.now().replace(second=0, microsecond=0)
            await self.allocations(AllocationQuery(start=end - timedelta(minutes=1), end=end))
            return
        if response.status_code != 200:
            raise self._status_error("/healthz", response)

    # --- HTTP ---------------------------------------------------------------------------------
    async def _get(
        self, path: str, params: dict[str, str], *, kind: str | None = None
    ) -> httpx.Response:
        """GET with bounded retries; returns a 2xx/3xx response or raises an OpenCostError.
        The cool-down is per `kind` (default: the path)."""
        kind = kind or path
        self._refuse_while_cooling_down(path, kind)
        try:
            answer = await self._get_with_retries(path, params)
        except OpenCostUnavailable:
            self._down_since[kind] = time.monotonic()
            raise
        except OpenCostError:  # it answered, if not well: no cool-down
            self._down_since.pop(kind, None)
            raise
        self._down_since.pop(kind, None)
        return answer

    async def _get_with_retries(self, path: str, params: dict[str, str]) -> httpx.Response:
        url = f"{self.base_url}{path}"
        give_up_at = time.monotonic() + self._deadline if self._deadline else None
        attempt = 0
        while True:
            outcome = await self._attempt(url, params, give_up_at)
            if isinstance(outcome, httpx.Response) and outcome.status_code < 500:
                if outcome.status_code >= 400:
                    raise self._status_error(path, outcome)
                return outcome
            log.warning(
                "opencost.request_failed",
                cluster=self.cluster_name or "",
                url=url,
                attempt=attempt + 1,
                error=_describe(outcome),
            )
            pause = self._backoff * 2**attempt
            if attempt >= self._retries or not _time_left(give_up_at, pause + _MIN_ATTEMPT):
                if isinstance(outcome, httpx.Response):
                    raise self._status_error(path, outcome)
                raise self._unavailable(f"{path}: {_describe(outcome)}") from outcome
            await asyncio.sleep(pause)
            attempt += 1

    def _refuse_while_cooling_down(self, path: str, kind: str) -> None:
        since = self._down_since.get(kind)
        if since is None:
            return
        age = time.monotonic() - since
        if age < self._cooldown:
            raise self._unavailable(
                f"{path}: not asked; it failed {age:.1f}s ago (asking again after "
                f"{self._cooldown:g}s)"
            )

    async def _attempt(
        self, url: str, params: dict[str, str], give_up_at: float | None
    ) -> httpx.Response | httpx.HTTPError:
        started = time.monotonic()
        try:
            response = await self._http.get(url, params=params, timeout=self._timeout(give_up_at))
        except httpx.TransportError as exc:  # refused, reset, timeouts: worth another try
            self._on_request(type(exc).__name__, time.monotonic() - started)
            return exc
        except httpx.HTTPError as exc:  # e.g. a body that cannot be decompressed
            self._on_request(type(exc).__name__, time.monotonic() - started)
            raise self._bad(f"{url}: {_describe(exc)}") from exc
        status = response.status_code
        outcome = "ok" if status < 400 else f"http_{status // 100}xx"
        self._on_request(outcome, time.monotonic() - started)
        return response

    def _timeout(self, give_up_at: float | None) -> httpx.Timeout:
        """The client's timeouts, each cut to what is left of this call's deadline."""
        configured = self._http.timeout
        if give_up_at is None:
            return configured
        left = max(0.001, give_up_at - time.monotonic())

        def cut(value: float | None) -> float:
            return left if value is None else min(value, left)

        return httpx.Timeout(
            connect=cut(configured.connect),
            read=cut(configured.read),
            write=cut(configured.write),
            pool=cut(configured.pool),
        )

    # --- decoding -----------------------------------------------------------------------------
    def _decode(self, response: httpx.Response, decoder: msgspec.json.Decoder[_R]) -> _R:
        path = response.request.url.path
        try:
            decoded = decoder.decode(response.content)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            # The body is unscoped (any namespace's names): it goes to operators' logs only,
            # never into the error, whose text can reach users.
            raise self._bad(
                f"{path}: not an OpenCost answer ({exc})",
                body=_first_line(response.text),
                url=str(response.request.url),
            ) from exc
        if decoded.code != 200:
            message = f"{path}: OpenCost said code {decoded.code}: {decoded.message or ''}"
            raise self._unavailable(message) if decoded.code >= 500 else self._bad(message)
        return decoded

    def _status_error(self, path: str, response: httpx.Response) -> OpenCostError:
        """A 4xx/5xx as a domain error, quoting OpenCost's message (JSON or text/plain)."""
        try:
            message = _error_decoder.decode(response.content).message or ""
        except (msgspec.DecodeError, msgspec.ValidationError):
            message = ""
        # A bad window gets a text/plain line with a JSON object glued on: quote the line.
        detail = message or _first_line(response.text)
        text = f"{path}: HTTP {response.status_code}: {detail}"
        return self._unavailable(text) if response.status_code >= 500 else self._bad(text)

    def _unavailable(self, message: str) -> OpenCostUnavailable:
        return OpenCostUnavailable(self._where(message), cluster=self.cluster_name or "")

    def _bad(self, message: str, *, body: str = "", url: str = "") -> OpenCostBadResponse:
        # Not retried, so the only trace for operators unless a stale copy is served instead;
        # the start of the body and the full URL are logged here and nowhere else.
        log.warning(
            "opencost.bad_response",
            cluster=self.cluster_name or "",
            error=message,
            url=url or self.base_url,
            **({"body_start": body} if body else {}),
        )
        return OpenCostBadResponse(self._where(message), cluster=self.cluster_name or "")

    def _where(self, message: str) -> str:
        name = f" ({self.cluster_name})" if self.cluster_name else ""
        return f"OpenCost at {self.base_url}{name}: {message}"

    # --- cluster labels -----------------------------------------------------------------------
    def _relabel(self, row: Allocation) -> Allocation:
        """With several clusters configured, "cluster" means the configured key."""
        if row.properties.cluster == self.cluster_name:
            return row
        props = msgspec.structs.replace(row.properties, cluster=self.cluster_name or "")
        return msgspec.structs.replace(row, properties=props)

    def _relabel_asset(self, asset: Asset) -> Asset:
        if asset.properties.cluster == self.cluster_name:
            return asset
        props = msgspec.structs.replace(asset.properties, cluster=self.cluster_name or "")
        return msgspec.structs.replace(asset, properties=props)

    def _now(self) -> float:
        return self._clock.now().timestamp()


# No cost, usage or byte-hour figure comes near this; a number beyond it is garbage, and sums of
# a few of them overflow a float (math.fsum raises). Read as null, like OpenCost's NaN.
ABSURD = 1e30
_HUGE_NUMBER = re.compile(rb"\d[eE]\+?(?:3[1-9]|[4-9]\d|\d{3})|\d{31}")


def _sane(struct: _S) -> _S:
    """`struct` with every non-finite or absurd number read as null (None)."""
    changes: dict[str, object] = {}
    for field in struct.__struct_fields__:
        value = getattr(struct, field)
        if isinstance(value, float) and (not math.isfinite(value) or abs(value) > ABSURD):
            changes[field] = None
        elif isinstance(value, RawAllocationOnly) and (cleaned := _sane(value)) is not value:
            changes[field] = cleaned
    return msgspec.structs.replace(struct, **changes) if changes else struct


def _sane_all(items: list[_S], path: str) -> list[_S]:
    cleaned = [_sane(item) for item in items]
    changed = sum(1 for old, new in zip(items, cleaned, strict=True) if old is not new)
    if changed:
        log.warning("opencost.absurd_numbers_ignored", path=path, rows=changed, limit=ABSURD)
    return cleaned


_MIN_ATTEMPT = 0.05  # seconds: less than this left of the deadline is not worth another try


def _time_left(give_up_at: float | None, needed: float) -> bool:
    return give_up_at is None or give_up_at - time.monotonic() >= needed


def _first_line(text: str, limit: int = 200) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _describe(failure: httpx.Response | httpx.HTTPError) -> str:
    if isinstance(failure, httpx.Response):
        return f"HTTP {failure.status_code}"
    return f"{type(failure).__name__}: {failure}" if str(failure) else type(failure).__name__
