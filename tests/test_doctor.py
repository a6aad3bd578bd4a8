"""`costbot check --json` as an operator (or their automation) runs it, against the stand-ins.

Each test runs the real entry point in a subprocess, configured only through the environment,
and reads the JSON findings: a dependency that answers the wrong thing is ✗ with what came back,
a setting that risks state is ⚠, and a fallback is ⚠, never ✓.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from bot.doctor import BOT_SCOPES
from demo.cluster import DemoCluster
from tests.bot_harness import demo_world_env
from tests.redis_server import RedisServer
from tests.standins.kube import KubeApiStandIn, write_kubeconfig
from tests.standins.opencost import OpenCostStandIn
from tests.standins.slack import SlackStandIn

ROOT = Path(__file__).resolve().parent.parent
COSTBOT = [sys.executable, "-m", "bot.cli"]


def run_check(settings: dict[str, Any], tmp: Path) -> tuple[int, dict[str, dict[str, str]]]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp), "LOG_FORMAT": "json"}
    env.update({key.upper(): str(value) for key, value in settings.items()})
    result = subprocess.run(
        [*COSTBOT, "check", "--json"], env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    document = json.loads(result.stdout)
    assert document["ok"] is (result.returncode == 0)
    findings = {item["name"]: item for item in document["checks"]}
    assert document["warnings"] == sum(f["status"] == "warn" for f in findings.values())
    return result.returncode, findings


@pytest.fixture
def world(redis_url: str, tmp_path: Path) -> Iterator[tuple[Any, Any, Any, dict[str, Any]]]:
    with SlackStandIn() as slack, OpenCostStandIn(responder=DemoCluster().respond) as opencost:
        kube = KubeApiStandIn()
        kube.start()
        try:
            yield slack, opencost, kube, demo_world_env(slack, opencost, kube, redis_url, tmp_path)
        finally:
            kube.stop()


def test_every_check_is_green_against_healthy_dependencies(world: Any, tmp_path: Path) -> None:
    *_, settings = world
    code, findings = run_check(settings, tmp_path)
    assert code == 0, findings
    assert set(findings) == {"config", "identity map", "slack", "redis", "opencost", "kubernetes"}
    assert {f["status"] for f in findings.values()} == {"ok"}
    assert "allocation(s)" in findings["opencost"]["detail"]
    assert "appendonly yes" in findings["redis"]["detail"]
    assert "may create subjectaccessreviews" in findings["kubernetes"]["detail"]


def test_a_sign_in_page_in_front_of_opencost_fails_and_is_named(world: Any, tmp_path: Path) -> None:
    _, opencost, _, settings = world
    opencost.mode = "html"  # its /healthz answers 200 as well
    code, findings = run_check(settings, tmp_path)
    assert code == 1
    assert findings["opencost"]["status"] == "fail"
    assert "an HTML page titled 'Sign in'" in findings["opencost"]["detail"]
    assert findings["slack"]["status"] == "ok"


def test_json_of_the_wrong_shape_fails_with_its_keys(world: Any, tmp_path: Path) -> None:
    _, opencost, _, settings = world
    opencost.responder = lambda _path, _params: (200, "application/json", b'{"items": []}')
    code, findings = run_check(settings, tmp_path)
    assert code == 1
    assert "without OpenCost's `data` (keys: items)" in findings["opencost"]["detail"]


def test_each_cluster_is_queried_and_reported_on_its_own(world: Any, tmp_path: Path) -> None:
    _, opencost, _, settings = world
    with OpenCostStandIn() as broken:
        broken.mode = "html"
        clusters = {"prod": opencost.base_url, "staging": broken.base_url}
        del settings["opencost_url"]
        settings["opencost_clusters"] = json.dumps(clusters)
        settings["authz_shared_across_clusters"] = "true"  # both decided by the one stand-in
        code, findings = run_check(settings, tmp_path)
        assert broken.requests_to("/allocation")
    assert code == 1
    assert findings["opencost prod"]["status"] == "ok"
    assert findings["opencost staging"]["status"] == "fail"
    assert opencost.requests_to("/allocation")


def test_a_token_missing_a_manifest_scope_fails_naming_it(world: Any, tmp_path: Path) -> None:
    slack, _, _, settings = world
    slack.scopes = [scope for scope in BOT_SCOPES if scope != "files:write"]
    code, findings = run_check(settings, tmp_path)
    assert code == 1
    assert findings["slack"]["status"] == "fail"
    assert "lacks scope(s) files:write" in findings["slack"]["detail"]


def test_a_refused_token_fails(world: Any, tmp_path: Path) -> None:
    *_, settings = world
    code, findings = run_check({**settings, "slack_bot_token": "xoxb-revoked"}, tmp_path)
    assert code == 1
    assert findings["slack"]["detail"] == "Slack said invalid_auth"


def test_a_bot_that_may_not_create_reviews_fails(world: Any, tmp_path: Path) -> None:
    *_, settings = world
    stranger = KubeApiStandIn(bot_user="system:serviceaccount:default:default", bot_groups=())
    stranger.start()
    try:
        kubeconfig = write_kubeconfig(tmp_path / "stranger", stranger.url)
        code, findings = run_check({**settings, "kubeconfig": str(kubeconfig)}, tmp_path)
        assert stranger.requests["self_sar"] >= 1
    finally:
        stranger.stop()
    assert code == 1
    assert findings["kubernetes"]["status"] == "fail"
    assert "may not create subjectaccessreviews" in findings["kubernetes"]["detail"]


def test_redis_without_aof_or_with_an_evicting_policy_is_a_warning(
    world: Any, tmp_path: Path
) -> None:
    *_, settings = world
    server = RedisServer(tmp_path / "volatile", persist=False)
    server.start()
    try:
        client = redis.Redis.from_url(server.url)
        client.config_set("maxmemory-policy", "allkeys-lru")
        client.close()
        code, findings = run_check({**settings, "redis_url": server.url}, tmp_path)
    finally:
        server.stop()
    assert code == 0  # warnings do not fail the check
    detail = findings["redis"]["detail"]
    assert findings["redis"]["status"] == "warn"
    assert "appendonly is off" in detail
    assert "maxmemory-policy is allkeys-lru" in detail


def test_demo_fallbacks_are_warnings_never_ticks(tmp_path: Path) -> None:
    with SlackStandIn() as slack:
        settings = {
            "slack_bot_token": "xoxb-test",
            "slack_app_token": "xapp-test",
            "slack_api_url": slack.url,
            "data_dir": tmp_path / "data",
        }
        code, findings = run_check(settings, tmp_path)
    assert code == 0
    for name in ("identity map", "redis", "opencost", "kubernetes"):
        assert findings[name]["status"] == "warn", findings[name]
    assert "demo data" in findings["opencost"]["detail"]
    assert "demo RBAC" in findings["kubernetes"]["detail"]
    assert "embedded redis-server" in findings["redis"]["detail"]
    assert not list((tmp_path / "data").glob("redis.sock"))  # the doctor's server was stopped


def test_human_output_marks_each_line_and_exits_non_zero_on_a_failure(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "DATA_DIR": str(tmp_path)}
    result = subprocess.run([*COSTBOT, "check"], env=env, capture_output=True, text=True,
                            timeout=120, check=False)  # fmt: skip
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("✗ config: SLACK_BOT_TOKEN")
    assert any(line.startswith("⚠ opencost: ") for line in lines)
    assert all(line[:2] in ("✓ ", "⚠ ", "✗ ") for line in lines), lines


def test_version_is_the_installed_distribution_version() -> None:
    from importlib.metadata import version

    result = subprocess.run([*COSTBOT, "--version"], capture_output=True, text=True, timeout=60,
                            check=False)  # fmt: skip
    assert result.returncode == 0
    assert result.stdout.strip() == f"costbot {version('costbot')}"


def test_each_clusters_kubernetes_api_is_checked_and_named(world: Any, tmp_path: Path) -> None:
    """Two clusters, two Kubernetes APIs: east lets the bot create reviews, west refuses."""
    _, opencost, _, settings = world
    east = KubeApiStandIn()
    west = KubeApiStandIn(bot_user="system:serviceaccount:default:default", bot_groups=())
    for kube in (east, west):
        kube.start()
    try:
        clusters = {
            name: {"url": opencost.base_url, "kubeconfig": str(write_kubeconfig(
                tmp_path / f"{name}.kubeconfig", kube.url)), "context": "standin"}
            for name, kube in (("east", east), ("west", west))
        }  # fmt: skip
        env = {k: v for k, v in settings.items() if k != "opencost_url"}
        env["opencost_clusters"] = json.dumps(clusters)
        code, findings = run_check(env, tmp_path)
        assert east.requests["self_sar"] == 1
        assert west.requests["self_sar"] == 1
    finally:
        for kube in (east, west):
            kube.stop()
    assert code == 1
    assert "kubernetes" not in findings
    assert findings["kubernetes east"]["status"] == "ok", findings
    assert east.url.split("//")[1] in findings["kubernetes east"]["detail"]
    assert findings["kubernetes west"]["status"] == "fail", findings
    assert "may not create subjectaccessreviews" in findings["kubernetes west"]["detail"]
    assert west.url.split("//")[1] in findings["kubernetes west"]["detail"]
    assert {findings[f"opencost {name}"]["status"] for name in ("east", "west")} == {"ok"}
