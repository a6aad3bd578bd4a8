"""The embedded redis-server never outlives the costbot process that started it.

Each test starts a real Python process that starts the embedded Redis, ends that process one way
(an exception, SIGHUP as when a terminal closes, SIGTERM, SIGKILL), then waits until no
redis-server serving that data directory is left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc to find the redis-server"
)

_STARTER = """
import signal, sys, time
from pathlib import Path
from bot.redis import EmbeddedRedis

# As in a terminal: a hangup ends the process (a test runner under nohup passes SIGHUP ignored).
signal.signal(signal.SIGHUP, signal.SIG_DFL)

server = EmbeddedRedis(Path(sys.argv[1])).start()
print(server.pid, flush=True)
if sys.argv[2] == "exception":
    raise RuntimeError("start-up failed after Redis was up")
sys.stdin.read()  # until the test ends us
"""


def _env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT)}


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie awaiting its reaper."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    state = stat.rpartition(")")[2].split()[0]
    return state not in ("Z", "X")


def _redis_pids(socket_path: Path) -> list[int]:
    """Live redis-server processes whose command line names this unix socket."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        # redis-server retitles itself "redis-server unixsocket:PATH"
        if b"redis-server" in command and str(socket_path).encode() in command:
            found.append(int(entry.name))
    return [pid for pid in found if _alive(pid)]


def _wait_gone(pid: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        assert time.monotonic() < deadline, f"redis-server {pid} outlived its parent"
        time.sleep(0.02)


def _start(data_dir: Path, how: str) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [sys.executable, "-c", _STARTER, str(data_dir), how],
        env=_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip().isdigit(), process.communicate(timeout=30)
    pid = int(line)
    if how == "wait":  # otherwise the process is already on its way out
        assert _redis_pids(data_dir / "redis.sock") == [pid]
    return process, pid


def test_an_exception_after_start_up_stops_the_server(tmp_path: Path) -> None:
    process, pid = _start(tmp_path, "exception")
    _, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "start-up failed" in err
    _wait_gone(pid)


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM, signal.SIGKILL])
def test_a_signal_to_the_parent_takes_the_server_down(tmp_path: Path, sig: signal.Signals) -> None:
    process, pid = _start(tmp_path, "wait")
    process.send_signal(sig)
    process.communicate(timeout=30)
    assert process.returncode == -sig
    _wait_gone(pid)
    assert _redis_pids(tmp_path / "redis.sock") == []


def test_the_server_shuts_down_cleanly_and_its_data_survives(tmp_path: Path) -> None:
    """The parent-death signal is SIGTERM, so Redis flushes its append-only file first."""
    process, pid = _start(tmp_path, "wait")
    client = redis.Redis(unix_socket_path=str(tmp_path / "redis.sock"))
    client.set("costbot:marker", "kept")
    client.close()
    process.kill()
    process.communicate(timeout=30)
    _wait_gone(pid)
    again, again_pid = _start(tmp_path, "wait")
    try:
        client = redis.Redis(unix_socket_path=str(tmp_path / "redis.sock"))
        assert client.get("costbot:marker") == b"kept"
        client.close()
    finally:
        again.kill()
        again.communicate(timeout=30)
    _wait_gone(again_pid)


def test_closing_the_console_terminal_leaves_no_redis_behind(tmp_path: Path) -> None:
    """`costbot console` with the embedded Redis, ended by SIGHUP as a closed terminal does."""
    env = {**_env(), "HOME": str(tmp_path), "DATA_DIR": str(tmp_path / "d")}
    console = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "console"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    socket_path = tmp_path / "d" / "redis.sock"
    deadline = time.monotonic() + 60
    while not (pids := _redis_pids(socket_path)):
        assert console.poll() is None, console.communicate()[0]
        assert time.monotonic() < deadline, "the console never started its redis-server"
        time.sleep(0.05)
    console.send_signal(signal.SIGHUP)
    console.communicate(timeout=30)
    for pid in pids:
        _wait_gone(pid)
