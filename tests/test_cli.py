"""The command line as an operator runs it: `serve` (HTTP and Socket Mode), `check`, `demo`, `ask`.

Each test starts the real `costbot` entry point in a subprocess, configured only through
environment variables, against the local stand-ins.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from demo.cluster import DemoCluster
from tests.bot_harness import demo_world_env, seed_slack_users
from tests.redis_server import free_port
from tests.standins.fixtures import SIGNING_SECRET
from tests.standins.kube import KubeApiStandIn
from tests.standins.opencost import OpenCostStandIn
from tests.standins.signing import SignedSlackClient
from tests.standins.slack import SlackStandIn
from tests.waiting import wait_for

COSTBOT = [sys.executable, "-m", "bot.cli"]


def _env(settings: dict[str, Any], tmp: Path) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp), "LOG_FORMAT": "json"}
    env.update({key.upper(): str(value) for key, value in settings.items()})
    return env


@pytest.fixture
def standins(
    redis_url: str, tmp_path: Path
) -> Iterator[tuple[SlackStandIn, OpenCostStandIn, KubeApiStandIn, dict[str, Any]]]:
    with SlackStandIn() as slack, OpenCostStandIn(responder=DemoCluster().respond) as opencost:
        kube = KubeApiStandIn()
        kube.start()
        seed_slack_users(slack)
        try:
            yield slack, opencost, kube, demo_world_env(slack, opencost, kube, redis_url, tmp_path)
        finally:
            kube.stop()


def _serve(env: dict[str, str]) -> subprocess.Popen[str]:
    """`costbot serve`, its output in a file under HOME (`_output`): a pipe nobody reads until
    the end can fill up and stall the bot mid-log."""
    with _log(env).open("w") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([*COSTBOT, "serve"], env=env, stdout=log,
                                stderr=subprocess.STDOUT, text=True)  # fmt: skip


def _log(env: dict[str, str]) -> Path:
    return Path(env["HOME"]) / "serve.log"


def _output(env: dict[str, str]) -> str:
    return _log(env).read_text()


def _wait_healthy(
    port: int, process: subprocess.Popen[str], env: dict[str, str], timeout: float = 30
) -> None:
    def healthy() -> bool:
        assert process.poll() is None, _output(env)
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(healthy, "costbot serve to answer /healthz", timeout, every=0.1)


def _stop(process: subprocess.Popen[str], env: dict[str, str]) -> str:
    process.terminate()
    process.wait(timeout=20)
    return _output(env)


def test_serve_http_answers_signed_help_and_refuses_forged(standins: Any, tmp_path: Path) -> None:
    slack, _, _, settings = standins
    env = _env(settings, tmp_path)
    process = _serve(env)
    try:
        _wait_healthy(int(settings["port"]), process, env)
        client = SignedSlackClient(f"http://127.0.0.1:{settings['port']}", SIGNING_SECRET)
        url = slack.new_response_url()
        response = client.slash("help", user_id="U0ALICE", response_url=url)
        assert response.status_code == 200
        assert "/cost summary" in str(slack.wait_for_answer(url))
        forged = SignedSlackClient(f"http://127.0.0.1:{settings['port']}", "wrong")
        assert forged.slash("help", user_id="U0ALICE", response_url=url).status_code == 401
        ready = httpx.get(f"http://127.0.0.1:{settings['port']}/readyz")
        assert ready.status_code == 200
        # the HTTP API shares the process and port; without a token it refuses, as it must
        base = f"http://127.0.0.1:{settings['port']}/api"
        assert "/v1/whoami" in httpx.get(f"{base}/openapi.json").json()["paths"]
        assert httpx.get(f"{base}/v1/whoami").status_code == 401
        client.close()
        forged.close()
    finally:
        logs = _stop(process, env)
    assert process.returncode == 0
    assert "xoxb-test" not in logs
    assert SIGNING_SECRET not in logs


def test_serve_socket_mode_acks_envelopes_and_answers(standins: Any, tmp_path: Path) -> None:
    slack, _, _, settings = standins
    env = _env({**settings, "slack_app_token": "xapp-test"}, tmp_path)
    process = _serve(env)
    try:
        try:
            slack.wait_for_socket(1, timeout=30)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; costbot serve said:\n{_output(env)[-3000:]}") from exc
        url = slack.new_response_url()
        envelope = slack.push("slash_commands", {
            "command": "/cost", "text": "summary 7d", "user_id": "U0ALICE", "channel_id": "C1",
            "team_id": "T0TEST", "response_url": url, "trigger_id": "1.2.3", "api_app_id": "A1",
        })  # fmt: skip
        slack.wait_for_ack(envelope, timeout=10)
        reply = str(slack.wait_for_answer(url, timeout=30))
        assert "payments" in reply
        assert "search" not in reply  # alice's scope, over Socket Mode too
        # the operator endpoints and the HTTP API are served in Socket Mode as well
        assert httpx.get(f"http://127.0.0.1:{settings['port']}/healthz").status_code == 200
        api = httpx.get(f"http://127.0.0.1:{settings['port']}/api/v1/whoami")
        assert api.status_code == 401
    finally:
        _stop(process, env)


def test_check_is_all_green_against_the_standins_and_red_with_a_reason(
    standins: Any, tmp_path: Path
) -> None:
    _, opencost, kube, settings = standins
    env = _env(settings, tmp_path)
    ok = subprocess.run(
        [*COSTBOT, "check"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    for name in ("config", "slack", "redis", "opencost", "kubernetes"):
        assert f"✓ {name}" in ok.stdout
    opencost.mode = "down"
    kube.set_mode("down")
    bad = subprocess.run(
        [*COSTBOT, "check"], env=env, capture_output=True, text=True, timeout=90, check=False
    )
    assert bad.returncode != 0
    assert "✗ opencost" in bad.stdout
    assert "✗ kubernetes" in bad.stdout
    assert "✓ redis" in bad.stdout


def test_demo_plays_the_tour_on_embedded_defaults(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "DATA_DIR": str(tmp_path / "d"),
    }
    result = subprocess.run([*COSTBOT, "demo", "--no-color"], env=env, capture_output=True,
                            text=True, timeout=300, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "$" in out
    assert "demo data" in out
    assert "Savings you can act on" in out
    assert "Traceback" not in out + result.stderr
    assert free_port()  # the embedded redis-server was stopped; nothing left listening matters


def test_demo_into_a_reader_that_closes_early_ends_quietly(tmp_path: Path) -> None:
    """`costbot demo | head -3` once head has gone: the tour's next write meets a pipe with no
    reader. Here the reader is gone before the tour starts, so that write is certain (a reader
    that read a little first could lose the race to a tour that had already written all)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "DATA_DIR": str(tmp_path / "d"),
    }
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = subprocess.run(
            [*COSTBOT, "demo", "--no-color"],
            env=env,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        os.close(writer)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "BrokenPipeError" not in result.stderr


def test_ask_renders_one_reply_for_a_user(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "DATA_DIR": str(tmp_path / "d"),
    }
    result = subprocess.run([*COSTBOT, "ask", "ns payments 7d", "--as", "U0ALICE"], env=env,
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Namespace payments" in result.stdout
    assert "[1] Share in channel" in result.stdout
