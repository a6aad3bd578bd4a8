"""Immutable blocks of OpenCost data: every window is assembled from per-period pieces.

OpenCost's figures for a period stop changing once it has ended and OpenCost's own settling delay
has passed. Such a period is fetched once (by whichever replica gets there first: a `SET NX`
lock, the others poll the block key), stored compactly (msgspec msgpack + zlib; the first byte names
the codec, so another can be added) and never fetched again. Only the part of a window that has
not settled yet (the "live" piece) is refreshed, every `live_ttl` seconds.

A window [start, end) is cut into:
- whole settled UTC days → one day block each;
- the settled hours at an edge of a settled day (a window starting at a local midnight away
  from UTC, a previous window ending mid-day) → one block of whole hours;
- what has not settled yet (today, and yesterday until it settles) → one live piece per UTC
  day, cached for `live_ttl`.
No OpenCost request covers more than one block; at most `concurrency` run at once, each bounded
by `block_timeout`. A block that fails is left out of the answer (named in
`AllocationData.missing`) and retried once in the background; a window whose every block failed
raises the first error, as a single request would.

Asset windows (recommendations ask whole days) are cached the same way: one immutable entry per
settled window, a live one refreshed every `live_ttl` while the window is settling.

Storage is bounded by the bot itself: each entry's size is recorded in a hash and its last use in
a sorted set; a write that takes the total past `max_bytes` evicts the least recently used
entries (one Lua script, so replicas agree). Every key of the cache shares one Redis Cluster hash
tag, `{costcache}`, so the script's keys live in one slot; the bot's state (acknowledgements,
subscriptions, budgets, markers, audit) lives under other keys and is never evicted.

Keys carry the source identity (cluster name and a hash of its URL) and a schema version, so a
different OpenCost, or an older encoding, never serves its numbers for this one. A Redis
adapter: only `bot/` imports it.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import secrets
import zlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar, cast

import msgspec
import structlog
from redis.asyncio import Redis

from services.errors import OpenCostError, OpenCostUnavailable, StoreUnavailable
from services.opencost.accumulate import accumulate
from services.opencost.models import (
    Allocation,
    AllocationData,
    AllocationQuery,
    Asset,
    AssetData,
)
from services.ports import Clock
from services.storage.guard import degrade, required
from services.storage.locks import RELEASE, Locks

log = structlog.get_logger(__name__)

SCHEMA = 2  # bump when the stored encoding or the meaning of a block changes
TAG = "{costcache}"  # one Redis Cluster hash slot for every cache key (the LRU script spans them)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
_OVERHEAD = 96  # bytes counted per entry besides key and value (Redis' own bookkeeping)
_FIRST_POLL, _MAX_POLL = 0.025, 0.25
CACHE = "cost blocks"
SUMMED_WINDOWS = 8  # settled parts of whole-window answers kept summed in process
DECODED_LIVE = 32  # live pieces kept decoded in process (checked against Redis' bytes)

_CODEC = b"d"  # deflate; the first byte of every stored value names its codec

# Store, account and evict in one step. KEYS: entry, lru zset, sizes hash, total counter.
# ARGV: value, ttl ms (0 = none), now ms, cap bytes, counted size.
_STORE = """
local key, lru, sizes, total = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local ttl, cap, size = tonumber(ARGV[2]), tonumber(ARGV[4]), tonumber(ARGV[5])
local old = redis.call('hget', sizes, key)
if old then redis.call('decrby', total, old) end
if ttl > 0 then redis.call('set', key, ARGV[1], 'px', ttl) else redis.call('set', key, ARGV[1]) end
redis.call('hset', sizes, key, size)
redis.call('zadd', lru, ARGV[3], key)
local used = redis.call('incrby', total, size)
local evicted = 0
while used > cap do
  local oldest = redis.call('zrange', lru, 0, 1)
  local victim = oldest[1]
  if victim == key then victim = oldest[2] end
  if not victim then break end
  local gone = tonumber(redis.call('hget', sizes, victim) or '0')
  redis.call('del', victim)
  redis.call('zrem', lru, victim)
  redis.call('hdel', sizes, victim)
  used = redis.call('decrby', total, gone)
  evicted = evicted + 1
end
return evicted
"""


class BlockSource(Protocol):
    """What blocks are fetched from: one cluster's OpenCost (`OpenCostClient`)."""

    async def allocations(self, query: AllocationQuery) -> AllocationData: ...

    async def assets(self, start: datetime, end: datetime) -> AssetData: ...


@dataclass(frozen=True)
class BlockSettings:
    """Tuning, from bot/settings.py (`OPENCOST_SETTLE_SECONDS`, `OPENCOST_CONCURRENCY`, …)."""

    settle: timedelta = timedelta(hours=2)
    live_ttl: int = 300
    concurrency: int = 4
    block_timeout: float = 30.0
    max_bytes: int = 128 * 1024 * 1024
    lock_ttl: int = 60
    wait_timeout: float = 60.0
    retry_after: float = 30.0


@dataclass(frozen=True)
class Piece:
    """One part of a window: a settled day or edge of whole hours (immutable), or a live piece
    (the running or settling part of one UTC day)."""

    start: datetime
    end: datetime
    immutable: bool

    def label(self) -> str:
        if self.end - self.start == DAY and self.start.hour == 0:
            return f"{self.start:%Y-%m-%d}"
        until = "24:00" if self.end == self.start.replace(hour=0) + DAY else f"{self.end:%H:%M}"
        return f"{self.start:%Y-%m-%d %H:%M}–{until} UTC"


class _Stored(msgspec.Struct, frozen=True, array_like=True):
    """A block as stored: when it left OpenCost, and its rows."""

    fetched_at: float
    end: float  # unix seconds the data reaches (a live piece may end before the asked end)
    rows: list[Allocation]


class _StoredAssets(msgspec.Struct, frozen=True, array_like=True):
    """A window of assets as stored: when it left OpenCost, and the assets."""

    fetched_at: float
    assets: list[Asset]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_Stored)
_assets_decoder = msgspec.msgpack.Decoder(_StoredAssets)
_Entry = TypeVar("_Entry", _Stored, _StoredAssets)


def encode(stored: _Stored | _StoredAssets) -> bytes:
    return _CODEC + zlib.compress(_encoder.encode(stored), 6)


def decode(blob: bytes, decoder: msgspec.msgpack.Decoder[_Entry]) -> _Entry | None:
    """The stored entry, or None when it is unreadable (another codec or an older schema)."""
    try:
        if blob[:1] != _CODEC:
            return None
        return decoder.decode(zlib.decompress(blob[1:]))
    except (zlib.error, msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        log.warning("blocks.unreadable", error=str(exc))
        return None


def source_identity(cluster: str, url: str) -> str:
    """Cluster name plus a hash of the URL: a new OpenCost is a new cache."""
    digest = hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:12]
    return f"{cluster or '-'}@{digest}"


# --- pure planning ------------------------------------------------------------------------------
def _floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _ceil_hour(moment: datetime) -> datetime:
    floor = _floor_hour(moment)
    return floor if floor == moment else floor + HOUR


def align(start: datetime, end: datetime, now: datetime) -> tuple[datetime, datetime]:
    """The window blocks can answer: start down to the hour; an end in the past up to the hour
    (an end at or after now is kept: the live piece reaches it)."""
    begin = _floor_hour(start)
    if end >= now:
        return begin, end
    return begin, max(begin + HOUR, min(_ceil_hour(end), max(end, _floor_hour(now))))


def plan(start: datetime, end: datetime, now: datetime, settle: timedelta) -> list[Piece]:
    """Pieces covering [start, end): whole settled days, the settled hours at each edge as one
    piece, then the live rest.

    An edge (a window starting at a local midnight east or west of UTC, a previous window
    ending mid-day) is one block of whole hours inside one settled day, not one block per hour:
    an hour of container rows is as many rows as a day, so hour blocks would cost OpenCost up
    to 24 requests where one does. The days still running or settling are live pieces from
    their UTC midnight, one per UTC day (yesterday, until it settles, and today)."""
    start, end = align(start, end, now)
    pieces: list[Piece] = []
    cursor = start
    while cursor < end:
        day_start = cursor.replace(hour=0)
        day_settled = day_start + DAY + settle <= now
        day_end = cursor + DAY
        if cursor.hour == 0 and day_end <= end and day_settled:
            pieces.append(Piece(cursor, day_end, True))
            cursor = day_end
            continue
        edge_end = min(end, day_start + DAY)  # settled hours up to midnight or the window's end
        if cursor + HOUR <= edge_end and day_settled:
            pieces.append(Piece(cursor, edge_end, True))
            cursor = edge_end
            continue
        break
    while cursor < end:  # the live rest, cut at UTC midnights: no request spans two days
        piece_end = min(end, cursor.replace(hour=0) + DAY)
        pieces.append(Piece(cursor, piece_end, False))
        cursor = piece_end
    return pieces


# Fields no answer reads (efficiencies are recomputed from usage and requests; the averages of
# provisioned cores, bytes and GPUs are not shown): left out of stored blocks, about a quarter of
# a block's bytes with real, incompressible figures.
_UNREAD = dict.fromkeys(
    (
        "cpu_cores",
        "cpu_efficiency",
        "gpu_count",
        "gpu_hours",
        "pv_bytes",
        "pv_byte_hours",
        "ram_bytes",
        "ram_efficiency",
        "total_efficiency",
    )
)


def _slim(row: Allocation) -> Allocation:
    """A row for storage: without its duplicate window (start/end say the same) and without the
    fields nothing reads."""
    return msgspec.structs.replace(row, window=type(row.window)(), **_UNREAD)


# --- the source -----------------------------------------------------------------------------------
class BlockedCostSource:
    """A `CostSource` over one cluster's OpenCost, answering from blocks (module docstring).

    `requests`, `hits` and `evictions` count block fetches, block reads served from Redis and
    entries evicted by writes made here."""

    def __init__(
        self,
        inner: BlockSource,
        redis: Redis,
        clock: Clock,
        identity: str,
        *,
        prefix: str = "costbot:",
        settings: BlockSettings = BlockSettings(),
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self._inner = inner
        self._redis = redis
        self._clock = clock
        self._identity = identity
        self._prefix = prefix
        self._settings = settings
        self._limit = asyncio.Semaphore(max(1, settings.concurrency))
        self._store_script = redis.register_script(_STORE)
        self._locks = Locks(redis.register_script(RELEASE), CACHE)
        self._on_event = on_event or (lambda _event: None)
        self._retrying: dict[str, asyncio.Task[None]] = {}
        # In process: whole-window answers by their settled block keys (`_Window`) ...
        self._windows: OrderedDict[tuple[str, ...], _Window] = OrderedDict()
        # ... and live pieces as last decoded, with the bytes they were decoded from.
        self._decoded: OrderedDict[str, tuple[bytes, object]] = OrderedDict()
        self.requests = 0
        self.hits = 0
        self.evictions = 0

    # --- keys ---------------------------------------------------------------------------------
    def _base(self) -> str:
        return f"{self._prefix}{TAG}"

    def meta_keys(self) -> tuple[str, str, str]:
        """The LRU sorted set, the sizes hash and the byte counter (shared by every source)."""
        base = self._base()
        return f"{base}:lru", f"{base}:sizes", f"{base}:bytes"

    def block_key(self, query: AllocationQuery, piece: Piece) -> str:
        level = f"{query.aggregate or 'container'}|idle={int(query.include_idle)}"
        span = f"{int(piece.start.timestamp())}-{int(piece.end.timestamp())}"
        kind = "b" if piece.immutable else "live"
        return f"{self._base()}:v{SCHEMA}:{self._identity}:{level}:{kind}:{span}"

    # --- CostSource ---------------------------------------------------------------------------
    async def allocations(self, query: AllocationQuery) -> AllocationData:
        if query.filter or query.step not in ("", "1d"):
            return await self._inner.allocations(query)  # not block-shaped: ask as asked
        now = self._clock.now()
        pieces = plan(query.start, query.end, now, self._settings.settle)
        if not pieces:
            return AllocationData(steps=[[]], fetched_at=now.timestamp())
        settled = tuple(self.block_key(query, p) for p in pieces if p.immutable)
        window = self._windows.get(settled) if query.step == "" and settled else None
        if window is not None:  # the settled part of this window, already summed here
            self._windows.move_to_end(settled)
            pieces = [piece for piece in pieces if not piece.immutable]
        results = await asyncio.gather(*(self._piece(query, piece) for piece in pieces))
        got = [(piece, found) for piece, found in zip(pieces, results, strict=True)]
        if window is not None:
            got.insert(0, (Piece(query.start, query.start, True), window.settled))
        errors = [found for _, found in got if isinstance(found, OpenCostError)]
        if len(errors) == len(got):
            raise _first(errors)
        missing = [self._named(p.label()) for p, found in got if isinstance(found, OpenCostError)]
        present = [(piece, found) for piece, found in got if isinstance(found, _Stored)]
        if query.step == "" and settled and window is None and not errors:
            window = self._remember(settled, [found for p, found in present if p.immutable])
            live = [(piece, found) for piece, found in present if not piece.immutable]
            present = [(Piece(query.start, query.start, True), window.settled), *live]
        return AllocationData(
            steps=[window.whole(present)] if window is not None else _steps(present, query.step),
            fetched_at=min(found.fetched_at for _, found in present),
            demo=getattr(self._inner, "demo", False),
            missing=missing,
        )

    def _remember(self, settled: tuple[str, ...], blocks: list[_Stored]) -> _Window:
        """Keep the settled part of a whole-window answer summed in process: settled blocks
        never change, so the same window asked again reads and sums only its live pieces."""
        rows = accumulate(row for block in blocks for row in block.rows)
        first = min(block.fetched_at for block in blocks)
        end = max(block.end for block in blocks)
        window = _Window(_Stored(fetched_at=first, end=end, rows=rows))
        self._windows[settled] = window
        while len(self._windows) > SUMMED_WINDOWS:
            self._windows.popitem(last=False)
        return window

    async def assets(self, start: datetime, end: datetime) -> AssetData:
        """Assets are asked for whole-day windows (recommendations' history). A window that has
        settled is one immutable entry (a further day costs one request), a window still
        running is refreshed every `live_ttl`; both count against the byte cap."""
        settled = end + self._settings.settle <= self._clock.now()
        span = f"{int(start.timestamp())}-{int(end.timestamp())}"
        kind = "b" if settled else "live"
        key = f"{self._base()}:v{SCHEMA}:{self._identity}:assets:{kind}:{span}"

        async def fetch() -> _StoredAssets:
            async with self._limit:
                self.requests += 1
                data = await self._inner.assets(start, end)
            return _StoredAssets(fetched_at=data.fetched_at, assets=data.assets)

        demo = getattr(self._inner, "demo", False)
        try:
            found = await self._read(key, _assets_decoder)
            if found is None:
                read = functools.partial(self._read, key, _assets_decoder)
                found = await self._single_flight(key, fetch, read, immutable=settled)
        except StoreUnavailable as exc:  # Redis failed: ask OpenCost directly, store nothing
            log.warning("blocks.redis_degraded", error=str(exc))
            found = await fetch()
        return AssetData(assets=found.assets, fetched_at=found.fetched_at, demo=demo)

    # --- one piece ------------------------------------------------------------------------------
    async def _piece(self, query: AllocationQuery, piece: Piece) -> _Stored | OpenCostError:
        key = self.block_key(query, piece)
        try:
            found = await self._read(key, _decoder)
            if found is not None:
                self.hits += 1
                self._on_event("hit")
                return found
            self._on_event("miss")
            fetch = functools.partial(self._fetch, query, piece)
            read = functools.partial(self._read, key, _decoder)
            return await self._single_flight(key, fetch, read, immutable=piece.immutable)
        except OpenCostError as exc:
            if piece.immutable:
                self._retry_later(key, query, piece)
            return exc
        except StoreUnavailable as exc:  # Redis failed: ask OpenCost directly, store nothing
            log.warning("blocks.redis_degraded", error=str(exc))
            try:
                return await self._fetch(query, piece)
            except OpenCostError as error:
                return error

    async def _read(self, key: str, decoder: msgspec.msgpack.Decoder[_Entry]) -> _Entry | None:
        """The entry under `key`, decoded (or as decoded last time, while Redis holds the same
        bytes: a live piece is read by every answer until it is refreshed). A settled entry's
        use is recorded for the LRU; a live one expires by itself."""
        blob = await required(self._redis.get(key), CACHE)
        if blob is None:
            return None
        raw = blob if isinstance(blob, bytes) else blob.encode()
        last = self._decoded.get(key)
        if last is not None and last[0] == raw:
            self._decoded.move_to_end(key)
            return cast(_Entry, last[1])
        found = decode(raw, decoder)
        if found is None:
            return None
        if ":live:" in key:
            self._decoded[key] = (raw, found)
            while len(self._decoded) > DECODED_LIVE:
                self._decoded.popitem(last=False)
        else:
            lru = self.meta_keys()[0]
            touch = self._redis.zadd(lru, {key: self._now_ms()}, xx=True)
            await degrade(touch, None, what="blocks.touch", logger=log)
        return found

    async def _single_flight(
        self,
        key: str,
        fetch: Callable[[], Awaitable[_Entry]],
        read: Callable[[], Awaitable[_Entry | None]],
        *,
        immutable: bool,
    ) -> _Entry:
        """One fetch per entry across replicas: the lock winner fetches, the others poll."""
        await self._locks.release_orphans()  # a lock stranded by a Redis restart never stalls us
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.wait_timeout
        lock = f"{key}:lock"
        for _ in range(3):
            token = secrets.token_hex(12)
            px = self._settings.lock_ttl * 1000
            if await required(self._redis.set(lock, token, nx=True, px=px), CACHE):
                try:
                    again = await read()  # filled between our miss and our lock
                    if again is not None:
                        return again
                    stored = await fetch()
                    await self._write(key, stored, immutable=immutable)
                    return stored
                finally:
                    await self._locks.release(lock, token)
            delay = _FIRST_POLL
            while loop.time() < deadline:
                await asyncio.sleep(delay)
                delay = min(delay * 1.6, _MAX_POLL)
                found = await read()
                if found is not None:
                    return found
                if not await required(self._redis.exists(lock), CACHE):
                    break  # the winner gave up (its fetch failed): try to be the winner
            if loop.time() >= deadline:
                break
        return await fetch()

    async def _fetch(self, query: AllocationQuery, piece: Piece) -> _Stored:
        """One OpenCost request for exactly this piece, within the concurrency bound and the
        per-block timeout; rows are slimmed as soon as they arrive."""
        ask = AllocationQuery(
            start=piece.start,
            end=piece.end,
            aggregate=query.aggregate,
            include_idle=query.include_idle,
        )
        async with self._limit:
            self.requests += 1
            try:
                data = await asyncio.wait_for(
                    self._inner.allocations(ask), self._settings.block_timeout
                )
            except TimeoutError as exc:
                raise OpenCostUnavailable(
                    f"OpenCost did not answer for {piece.label()} within "
                    f"{self._settings.block_timeout:g}s",
                    cluster=self._cluster(),
                ) from exc
        rows = [_slim(row) for step in data.steps for row in step]
        end = min(piece.end, self._clock.now())
        return _Stored(fetched_at=data.fetched_at, end=end.timestamp(), rows=rows)

    async def _write(self, key: str, stored: _Stored | _StoredAssets, *, immutable: bool) -> None:
        blob = encode(stored)
        ttl_ms = 0 if immutable else max(1, self._settings.live_ttl) * 1000
        lru, sizes, total = self.meta_keys()
        size = len(blob) + len(key) + _OVERHEAD
        args: list[bytes | int] = [blob, ttl_ms, self._now_ms(), self._settings.max_bytes, size]
        evicted = await degrade(
            self._store_script(keys=[key, lru, sizes, total], args=args),
            0,
            what="blocks.store",
            logger=log,
        )
        if evicted:
            self.evictions += int(evicted)
            log.info("blocks.evicted", entries=int(evicted))

    def _retry_later(self, key: str, query: AllocationQuery, piece: Piece) -> None:
        """A failed settled block is fetched again in the background, once, after a pause."""
        if key in self._retrying:
            return

        async def retry() -> None:
            try:
                await asyncio.sleep(self._settings.retry_after)
                if await degrade(self._redis.exists(key), 1, what="blocks.retry_check") == 0:
                    await self._write(key, await self._fetch(query, piece), immutable=True)
            except OpenCostError as exc:
                log.warning("blocks.retry_failed", block=piece.label(), error=str(exc))
            finally:
                self._retrying.pop(key, None)

        self._retrying[key] = asyncio.get_running_loop().create_task(retry())

    async def close(self) -> None:
        for task in list(self._retrying.values()):
            task.cancel()
        await asyncio.gather(*self._retrying.values(), return_exceptions=True)
        self._retrying.clear()

    def _cluster(self) -> str:
        name = self._identity.split("@", 1)[0]
        return "" if name == "-" else name

    def _named(self, label: str) -> str:
        return f"{label} ({self._cluster()})" if self._cluster() else label

    def _now_ms(self) -> int:
        return int(self._clock.now().timestamp() * 1000)


@dataclass
class _Window:
    """A whole-window answer kept in process: its settled part summed to one row per
    allocation, and the whole window as last answered with the live pieces it was summed with
    (their span and fetch time): summed again only when a live piece changed."""

    settled: _Stored
    live: tuple[tuple[datetime, datetime, float], ...] = ()
    rows: list[Allocation] | None = None

    def whole(self, present: Sequence[tuple[Piece, _Stored]]) -> list[Allocation]:
        """`present`: this window's summed settled part first, then its live pieces."""
        live = tuple((piece.start, piece.end, found.fetched_at) for piece, found in present[1:])
        if self.rows is None or self.live != live:
            self.live, self.rows = live, _steps(present, "")[0]
        return self.rows


def _steps(present: Sequence[tuple[Piece, _Stored]], step: str) -> list[list[Allocation]]:
    """One step for the whole window (each allocation's pieces summed into one row, as OpenCost
    accumulates a window), or one per UTC day (pieces of a day side by side)."""
    if step != "1d":
        if len(present) == 1:
            return [list(present[0][1].rows)]
        return [accumulate(row for _, stored in present for row in stored.rows)]
    days: dict[datetime, list[Allocation]] = {}
    for piece, stored in present:
        day = piece.start.replace(hour=0)
        days.setdefault(day, []).extend(stored.rows)
    return [days[day] for day in sorted(days)]


def _first(errors: Sequence[OpenCostError]) -> OpenCostError:
    unavailable: list[OpenCostError] = [e for e in errors if isinstance(e, OpenCostUnavailable)]
    return (unavailable or list(errors))[0]


async def used_bytes(redis: Redis, prefix: str = "costbot:") -> int:
    """The cache's counted footprint (values + keys + per-entry overhead)."""
    raw = await redis.get(f"{prefix}{TAG}:bytes")
    return int(raw or 0)
