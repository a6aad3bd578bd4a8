"""Configuration: every variable validated at start-up, one clear line per bad field, exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot.settings import Settings, parse_duration


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
    settings = Settings(opencost_clusters='{"prod": "http://a:9003", "staging": "http://b:9003/"}')
    assert settings.clusters() == {"prod": "http://a:9003", "staging": "http://b:9003"}
    assert not settings.demo_data


def test_url_and_clusters_together_are_refused() -> None:
    with pytest.raises(ValueError, match="set together with OPENCOST_CLUSTERS"):
        Settings(opencost_url="http://a:9003", opencost_clusters='{"x": "http://b"}')


@pytest.mark.parametrize(
    ("text", "seconds"), [("6h", 21600), ("90m", 5400), ("30", 30), ("1d", 86400)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds
