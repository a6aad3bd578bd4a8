"""An aiohttp application served on 127.0.0.1 from its own thread and event loop.

Stand-ins build on this so sync and async tests alike talk to them over real sockets; it never
binds anything but loopback.
"""

# The *_async waits poll shared state and take `timeout` exactly like their sync twins.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Self, TypeVar

from aiohttp import web

T = TypeVar("T")

HOST = "127.0.0.1"


class StandIn:
    """Start/stop and `with` support for a stand-in served by a ServerThread (`_server`)."""

    _server: ServerThread

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT` (no trailing slash); the port survives going down and up."""
        return self._server.base_url


class ServerThread:
    """Serves `make_app()` on a loopback port; the listener can be closed and reopened."""

    def __init__(self, make_app: Callable[[], web.Application], *, name: str = "standin") -> None:
        self._make_app = make_app
        self._name = name
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._loop is not None

    @property
    def listening(self) -> bool:
        return self._runner is not None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError(f"{self._name} is not running; call start() first")
        return self._loop

    def start(self) -> None:
        if self._loop is not None:
            return
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name=self._name, daemon=True)
        self._thread.start()
        self.listen()

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        loop, thread = self._loop, self._thread
        self.run(self._shutdown(), timeout=15)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = None
        self._thread = None

    def listen(self) -> None:
        """Open the listener (again), on the same port once one was chosen."""
        if self._runner is None:
            self.run(self._open())

    def unlisten(self) -> None:
        """Close the listener and every open connection: clients then get connection refused."""
        if self._runner is not None:
            self.run(self._close())

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        """Run a coroutine on the server's loop from another thread and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _open(self) -> None:
        # A short shutdown timeout: a stand-in going "down" must not wait for slow handlers.
        runner = web.AppRunner(self._make_app(), shutdown_timeout=0.5, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, HOST, self.port, reuse_address=True)
        await _start_site(site, deadline=time.monotonic() + 5)
        self.port = int(runner.addresses[0][1])
        self._runner = runner

    async def _close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _shutdown(self) -> None:
        await self._close()
        current = asyncio.current_task()
        pending = [task for task in asyncio.all_tasks() if task is not current]
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _start_site(site: web.TCPSite, deadline: float) -> None:
    # Reopening the same port right after closing it can race the kernel; retry briefly.
    while True:
        try:
            await site.start()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


def wait_until(ready: Callable[[], T | None], timeout: float, failure: Callable[[], str]) -> T:
    """Poll `ready()` until it returns something other than None; AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while (value := ready()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(failure())
        time.sleep(0.01)
    return value


async def wait_until_async(
    ready: Callable[[], T | None], timeout: float, failure: Callable[[], str]
) -> T:
    """`wait_until` for async tests: yields to the loop so the code under test can run."""
    deadline = time.monotonic() + timeout
    while (value := ready()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(failure())
        await asyncio.sleep(0.01)
    return value
