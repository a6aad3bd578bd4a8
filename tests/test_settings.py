"""Configuration: every variable validated at start-up, one clear line per bad field, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import Settings, parse_duration
from tests.standins.kube import write_kubeconfig


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": "/usr/bin:/bin", "HOME": env.get("HOME", "/tmp")}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_defaults_mean_demo_data_http_mode_and_embedded_redis() -> None:
    settings = Settings()
    assert settings.demo_data
    assert not settings.socket_mode
    assert settings.redis_url is None
    assert settings.cache_ttl == 300
    assert settings.digest_grace == 6 * 3600
    assert (settings.authz_verb, settings.authz_resource, settings.authz_group) == (
        "list",
        "pods",
        "",
    )


def test_bad_values_give_one_line_per_field_exit_2_and_never_the_secret() -> None:
    secret = "not-a-token-but-secret-123"
    result = run_cli(
        {"SLACK_BOT_TOKEN": secret, "CACHE_TTL": "soon", "OPENCOST_CLUSTERS": "{oops"}, "check"
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert any(line.startswith("SLACK_BOT_TOKEN:") for line in lines)
    assert any(line.startswith("CACHE_TTL:") for line in lines)
    assert any(line.startswith("OPENCOST_CLUSTERS:") for line in lines)
    assert len(lines) == 3
    assert secret not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_serve_without_tokens_explains_what_is_missing() -> None:
    result = run_cli({}, "serve")
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN" in result.stderr
    assert "SLACK_SIGNING_SECRET" in result.stderr
    assert "Traceback" not in result.stderr


def test_slack_api_url_gets_its_trailing_slash() -> None:
    settings = Settings(slack_api_url="http://127.0.0.1:9/api")
    assert settings.slack_api_url == "http://127.0.0.1:9/api/"


def test_several_clusters_from_json() -> None:
    settings = Settings(
        opencost_clusters='{"prod": "http://a:9003", "staging": "http://b:9003/"}',
        authz_shared_across_clusters=True,
    )
    assert settings.clusters() == {"prod": "http://a:9003", "staging": "http://b:9003"}
    assert settings.shared_clusters() == ["prod", "staging"]
    assert not settings.demo_data


def test_one_cluster_in_string_form_needs_no_flag() -> None:
    settings = Settings(opencost_clusters='{"prod": "http://a:9003"}')
    assert settings.clusters() == {"prod": "http://a:9003"}
    assert settings.shared_clusters() == []


def test_object_form_gives_each_cluster_its_own_kubernetes_api(tmp_path: Path) -> None:
    eu = write_kubeconfig(tmp_path / "eu.kubeconfig", "http://127.0.0.1:1")
    us = write_kubeconfig(tmp_path / "us.kubeconfig", "http://127.0.0.1:2")
    clusters = {
        "prod-eu": {"url": "http://a:9003", "kubeconfig": str(eu), "context": "standin"},
        "prod-us": {"url": "http://b:9003", "kubeconfig": str(us)},
        "home": "http://c:9003",
    }
    settings = Settings(opencost_clusters=json.dumps(clusters))
    assert settings.clusters()["prod-eu"] == "http://a:9003"
    assert settings.authorities() == {
        "prod-eu": (str(eu), "standin"),
        "prod-us": (str(us), None),
        "home": (None, None),
    }
    assert settings.shared_clusters() == []


def test_several_clusters_decided_by_one_api_refuse_to_start_in_one_line() -> None:
    result = run_cli(
        {"OPENCOST_CLUSTERS": '{"prod": "http://a:9003", "staging": "http://b:9003"}'}, "check"
    )
    assert result.returncode == 2
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("OPENCOST_CLUSTERS: prod, staging would all have their access")
    assert "AUTHZ_SHARED_ACROSS_CLUSTERS=true" in lines[0]
    assert "Traceback" not in result.stderr


def test_same_kubeconfig_for_two_clusters_is_shared_too(tmp_path: Path) -> None:
    one = str(write_kubeconfig(tmp_path / "one.kubeconfig", "http://127.0.0.1:1"))
    clusters = {n: {"url": "http://a:9003", "kubeconfig": one} for n in ("a", "b")}
    with pytest.raises(ValueError, match="a, b would all have their access decided"):
        Settings(opencost_clusters=json.dumps(clusters))
    shared = Settings(opencost_clusters=json.dumps(clusters), authz_shared_across_clusters=True)
    assert shared.shared_clusters() == ["a", "b"]


def test_bad_cluster_map_gives_one_line_per_problem_naming_the_field(tmp_path: Path) -> None:
    config = write_kubeconfig(tmp_path / "ok.kubeconfig", "http://127.0.0.1:1")
    clusters = {
        "prod-eu": {"url": "http://a:9003", "kubeconfig": "/etc/costbot/prod-eu.kubeconfig"},
        "prod-us": {"url": "ftp://b", "kubeconfig": str(config), "context": "nowhere"},
        "dev": {"url": "http://c:9003", "kubeconfg": "/typo"},
    }
    result = run_cli({"OPENCOST_CLUSTERS": json.dumps(clusters)}, "check")
    assert result.returncode == 2
    lines = sorted(line.strip() for line in result.stderr.splitlines() if line.strip())
    assert lines == [
        "OPENCOST_CLUSTERS.dev.kubeconfg: Extra inputs are not permitted",
        "OPENCOST_CLUSTERS.prod-eu.kubeconfig: file not found",
        f"OPENCOST_CLUSTERS.prod-us.context: no context 'nowhere' in {config}",
        "OPENCOST_CLUSTERS.prod-us.url: URL scheme should be 'http' or 'https'",
    ], result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_cluster_name_is_one_line() -> None:
    with pytest.raises(ValueError, match="cluster name 'prod eu' must be letters"):
        Settings(opencost_clusters='{"prod eu": "http://a:9003"}')


def test_url_and_clusters_together_are_refused() -> None:
    with pytest.raises(ValueError, match="set together with OPENCOST_CLUSTERS"):
        Settings(opencost_url="http://a:9003", opencost_clusters='{"x": "http://b"}')


@pytest.mark.parametrize(
    ("text", "seconds"), [("6h", 21600), ("90m", 5400), ("30", 30), ("1d", 86400)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds
