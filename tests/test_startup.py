"""`costbot serve` start-up as an operator meets it: every way it can fail to start, with the exact
line it prints and its exit code, and a Slack outage it rides out with `/healthz` alive and
`/readyz` saying why it is not ready.

Each test runs the real entry point in a subprocess, configured only through its environment,
against the local stand-ins (Slack, OpenCost, Kubernetes) and a real redis-server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bot.settings import NO_SOURCE
from bot.startup import EXIT_APP_TOKEN, EXIT_BOT_TOKEN, EXIT_CONFIG
from demo.cluster import DemoCluster
from tests.bot_harness import demo_world_env, seed_slack_users
from tests.standins.kube import KubeApiStandIn
from tests.standins.opencost import OpenCostStandIn
from tests.standins.slack import SlackStandIn
from tests.waiting import wait_until

COSTBOT = [sys.executable, "-m", "bot.cli"]


def _env(settings: dict[str, Any], tmp: Path, **extra: Any) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp), "LOG_FORMAT": "json"}
    env.update({key.upper(): str(value) for key, value in {**settings, **extra}.items()})
    return {key: value for key, value in env.items() if value != "<unset>"}


def _run(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COSTBOT, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)  # fmt: skip


def _said(stderr: str) -> list[str]:
    """What the process said to a person: stderr without its structured (JSON) log lines."""
    lines = []
    for line in stderr.splitlines():
        try:
            if isinstance(json.loads(line), dict):
                continue
        except ValueError:
            pass
        lines.append(line)
    return lines


@pytest.fixture
def world(
    redis_url: str, tmp_path: Path
) -> Iterator[tuple[SlackStandIn, OpenCostStandIn, dict[str, Any]]]:
    with SlackStandIn() as slack, OpenCostStandIn(responder=DemoCluster().respond) as opencost:
        kube = KubeApiStandIn()
        kube.start()
        seed_slack_users(slack)
        try:
            yield slack, opencost, demo_world_env(slack, opencost, kube, redis_url, tmp_path)
        finally:
            kube.stop()


class Served:
    """A `costbot serve` process with its stderr in a file (a pipe could fill and block it)."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.port = int(env["PORT"])
        self.log = tmp / "serve.stderr"
        self._out = self.log.open("w")
        self.process = subprocess.Popen([*COSTBOT, "serve"], env=env, stdout=subprocess.DEVNULL,
                                        stderr=self._out, text=True)  # fmt: skip

    def get(self, path: str) -> httpx.Response | None:
        assert self.process.poll() is None, self.log.read_text()
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=2)
        except httpx.HTTPError:
            return None

    def readyz(self, status: int) -> dict[str, Any] | None:
        """The /readyz body once it answers with `status`, else None (for wait_until)."""
        response = self.get("/readyz")
        if response is None or response.status_code != status:
            return None
        body: dict[str, Any] = response.json()
        return body

    def exited(self, timeout: float = 60) -> tuple[int, str]:
        code = self.process.wait(timeout=timeout)
        self._out.close()
        return code, self.log.read_text()

    def stop(self) -> tuple[int, str]:
        if self.process.poll() is None:
            self.process.terminate()
        return self.exited(30)


# --- refusals before anything starts -------------------------------------------------------------
@pytest.mark.parametrize("clusters", ["<unset>", "{}", " "])
def test_serve_without_a_data_source_refuses_with_one_line(tmp_path: Path, clusters: str) -> None:
    env = _env({"slack_bot_token": "xoxb-test", "slack_signing_secret": "s3cret",
                "opencost_clusters": clusters, "data_dir": tmp_path / "d"}, tmp_path)  # fmt: skip
    result = _run(env, "serve")
    assert (result.returncode, result.stderr.splitlines()) == (EXIT_CONFIG, [NO_SOURCE])
    assert NO_SOURCE == (
        "no OpenCost configured; set OPENCOST_URL or OPENCOST_CLUSTERS, "
        "or COSTBOT_DEMO=true to serve demo data"
    )
    assert not (tmp_path / "d").exists()  # nothing was started, not even the embedded Redis


def test_digest_run_refuses_demo_data_the_same_way(tmp_path: Path) -> None:
    result = _run(_env({"slack_bot_token": "xoxb-test"}, tmp_path), "digest", "run", "--now", "x")
    assert (result.returncode, result.stderr.splitlines()) == (EXIT_CONFIG, [NO_SOURCE])


def test_demo_asked_for_and_an_opencost_together_is_one_line(tmp_path: Path) -> None:
    env = _env({"costbot_demo": "true", "opencost_url": "http://opencost:9003"}, tmp_path)
    result = _run(env, "serve")
    assert result.returncode == EXIT_CONFIG
    assert result.stderr.splitlines() == [
        "COSTBOT_DEMO: true while an OpenCost is configured; unset COSTBOT_DEMO to serve your "
        "costs, or unset OPENCOST_URL/OPENCOST_CLUSTERS to serve demo data"
    ]


def test_a_bad_cluster_map_is_one_line_per_problem(tmp_path: Path) -> None:
    env = _env({"slack_bot_token": "xoxb-test", "slack_signing_secret": "s3cret",
                "opencost_clusters": '{"prod": "not a url"}'}, tmp_path)  # fmt: skip
    result = _run(env, "serve")
    assert result.returncode == EXIT_CONFIG
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("OPENCOST_CLUSTERS.prod.url: ")  # the field's whole path
    assert "valid URL" in lines[0]
    assert "Traceback" not in result.stderr


def test_a_bad_identity_map_is_one_line_naming_the_key_and_the_fix(
    world: Any, tmp_path: Path
) -> None:
    _, _, settings = world
    identity = tmp_path / "bad-identity.yaml"
    identity.write_text("users:\n  U0ALICE: {user: alice, group: [dev]}\nuserz: {}\n")
    result = _run(_env(settings, tmp_path, identity_map_file=identity), "serve")
    assert result.returncode == EXIT_CONFIG
    assert result.stderr.splitlines() == [
        "IDENTITY_MAP_FILE: unknown key `group` in users.U0ALICE (did you mean `groups`?)",
        "IDENTITY_MAP_FILE: unknown key `userz` at the top level (did you mean `users`?)",
    ]


def test_a_missing_identity_map_file_is_one_line(world: Any, tmp_path: Path) -> None:
    _, _, settings = world
    missing = tmp_path / "nowhere.yaml"
    result = _run(_env(settings, tmp_path, identity_map_file=missing), "serve")
    assert (result.returncode, result.stderr.splitlines()) == (EXIT_CONFIG, [
        "IDENTITY_MAP_FILE: no such file; mount the identity map there or fix the path"
    ])  # fmt: skip


def test_a_missing_kubeconfig_is_one_line(world: Any, tmp_path: Path) -> None:
    _, _, settings = world
    missing = tmp_path / "no-kubeconfig"
    result = _run(_env(settings, tmp_path, kubeconfig=missing), "serve")
    assert (result.returncode, result.stderr.splitlines()) == (EXIT_CONFIG, [
        f"KUBECONFIG: {missing}: no such file (point KUBECONFIG at a kubeconfig, or leave it "
        "unset in a pod to use the service account)"
    ])  # fmt: skip


def test_a_kubeconfig_naming_a_missing_context_is_one_line(world: Any, tmp_path: Path) -> None:
    _, _, settings = world
    document = yaml.safe_load(Path(settings["kubeconfig"]).read_text())
    broken = tmp_path / "broken-kubeconfig"
    broken.write_text(yaml.safe_dump({**document, "current-context": "nope"}))
    result = _run(_env(settings, tmp_path, kubeconfig=broken), "serve")
    assert result.returncode == EXIT_CONFIG
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("KUBECONFIG: cannot load Kubernetes config")
    assert "nope" in lines[0]
    assert lines[0].endswith(f"kubectl --kubeconfig {broken} config get-contexts)")


# --- Slack refuses a token -----------------------------------------------------------------------
def test_a_refused_bot_token_exits_3_with_one_line(world: Any, tmp_path: Path) -> None:
    slack, _, settings = world
    served = Served(_env(settings, tmp_path, slack_bot_token="xoxb-revoked"), tmp_path)
    code, stderr = served.exited()
    assert code == EXIT_BOT_TOKEN
    assert _said(stderr) == [
        "SLACK_BOT_TOKEN: Slack refused the token (invalid_auth); check it in the app's settings "
        "(OAuth & Permissions / Basic Information) and reinstall"
    ]
    assert "Traceback" not in stderr
    assert "xoxb-revoked" not in stderr
    assert len(slack.calls_to("auth.test")) == 1  # a refusal is final: not retried


def test_a_refused_app_token_exits_4_with_one_line(world: Any, tmp_path: Path) -> None:
    slack, _, settings = world
    served = Served(_env(settings, tmp_path, slack_app_token="xapp-revoked"), tmp_path)
    code, stderr = served.exited()
    assert code == EXIT_APP_TOKEN
    assert _said(stderr) == [
        "SLACK_APP_TOKEN: Slack refused the token (invalid_auth); check it in the app's settings "
        "(OAuth & Permissions / Basic Information) and reinstall"
    ]
    assert "Traceback" not in stderr
    assert len(slack.calls_to("apps.connections.open")) == 1
    assert slack.socket.connections_opened == 0


# --- Slack is down for a while -------------------------------------------------------------------
def test_a_slack_outage_keeps_healthz_up_and_readyz_not_ready_until_it_passes(
    world: Any, tmp_path: Path
) -> None:
    slack, _, settings = world
    slack.fail("auth.test", times=10_000, status=503)
    served = Served(_env(settings, tmp_path), tmp_path)
    try:
        body = wait_until(lambda: served.readyz(503), 60, lambda: "/readyz 503 during the outage")
        assert body["checks"]["slack"].startswith(
            "pending: SLACK_BOT_TOKEN: Slack answered HTTP 503 (internal_error); retry "
        )
        healthz = served.get("/healthz")
        assert healthz is not None
        assert healthz.status_code == 200
        slack.reset()  # Slack is back
        body = wait_until(lambda: served.readyz(200), 60, lambda: "/readyz 200 after the outage")
        assert body["checks"]["slack"] == "ok"
        assert body["data"] == "opencost"
    finally:
        code, stderr = served.stop()
    assert code == 0
    assert "Traceback" not in stderr


def test_socket_mode_serves_probes_while_slack_cannot_open_the_socket(
    world: Any, tmp_path: Path
) -> None:
    slack, _, settings = world
    slack.fail("apps.connections.open", times=10_000, status=503)
    served = Served(_env(settings, tmp_path, slack_app_token="xapp-test"), tmp_path)
    try:
        body = wait_until(lambda: served.readyz(503), 60, lambda: "/readyz 503 during the outage")
        assert body["checks"]["slack"].startswith(
            "pending: SLACK_APP_TOKEN: Slack answered HTTP 503"
        )
        healthz = served.get("/healthz")
        assert healthz is not None
        assert healthz.status_code == 200
        assert slack.socket.connections_opened == 0
        slack.reset()
        wait_until(lambda: served.readyz(200), 60, lambda: "/readyz 200 once the socket opened")
        assert slack.socket.connections_opened == 1
        assert len(slack.calls_to("apps.connections.open")) == 1  # its URL was the one used
    finally:
        code, stderr = served.stop()
    assert code == 0
    assert "Traceback" not in stderr


# --- demo data, asked for by name ----------------------------------------------------------------
def test_costbot_demo_serves_demo_data_and_says_so(tmp_path: Path) -> None:
    with SlackStandIn() as slack:
        env = _env({"slack_bot_token": "xoxb-test", "slack_signing_secret": "s3cret",
                    "slack_api_url": slack.url, "costbot_demo": "true",
                    "port": _free_port(), "data_dir": tmp_path / "d"}, tmp_path)  # fmt: skip
        served = Served(env, tmp_path)
        try:
            body = wait_until(lambda: served.readyz(200), 60, lambda: "/readyz 200 on demo data")
        finally:
            _, stderr = served.stop()
    assert body["data"] == "demo"
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    starting = next(e for e in events if e["event"] == "server.starting")
    assert starting["data"] == "demo"
    warning = next(e for e in events if e["event"] == "server.demo_data")
    assert "not your costs" in warning["detail"]


def test_real_opencost_says_so_in_readyz_too(world: Any, tmp_path: Path) -> None:
    _, _, settings = world
    served = Served(_env(settings, tmp_path), tmp_path)
    try:
        body = wait_until(lambda: served.readyz(200), 60, lambda: "/readyz 200")
    finally:
        served.stop()
    assert body["data"] == "opencost"


# --- the doctor and an OpenCost behind a sign-in page --------------------------------------------
def test_check_names_an_html_sign_in_page_in_front_of_opencost(world: Any, tmp_path: Path) -> None:
    _, opencost, settings = world
    opencost.mode = "html"
    result = _run(_env(settings, tmp_path), "check", timeout=120)
    assert result.returncode == 1
    line = next(x for x in result.stdout.splitlines() if x.startswith("✗ opencost"))
    assert "an HTML page titled 'Sign in'" in line
    assert "Traceback" not in result.stderr


def _free_port() -> int:
    from tests.redis_server import free_port

    return free_port()
