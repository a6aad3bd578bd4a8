"""Typed configuration from the environment, validated once at start-up.

Settings are built in the entry point and passed down; nothing reads the environment at import
time. A bad value becomes one plain line per field (never the value of a secret) and exit 2.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}

EXAMPLES: dict[str, str] = {
    "slack_bot_token": "xoxb-1234-5678-abcdef",
    "slack_app_token": "xapp-1-A0123-4567-abcdef",
    "slack_signing_secret": "8f7e6d5c4b3a2910…",
    "slack_api_url": "https://slack.com/api/",
    "opencost_url": "http://opencost.opencost:9003",
    "opencost_clusters": '{"prod": "http://opencost.prod:9003"}',
    "redis_url": "redis://redis:6379/0",
    "cache_ttl": "300",
    "authz_cache_ttl": "60",
    "admin_groups": "platform-admins,sre",
    "recs_history_days": "14",
    "recs_profile": "production",
    "digest_grace": "6h",
    "currency": "USD",
    "port": "3000",
    "log_level": "info",
    "log_format": "json",
}


def parse_duration(value: object) -> int:
    """'6h' / '90m' / '30' → seconds."""
    if isinstance(value, int):
        return value
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError("expected a duration like 30s, 15m, 6h or 1d")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


class Settings(BaseSettings):
    """Every variable in README.md's Configuration table, with its default and its checks."""

    model_config = SettingsConfigDict(
        env_prefix="",
        case_sensitive=False,
        extra="ignore",
        hide_input_in_errors=True,  # pydantic would otherwise print secrets in errors
        frozen=True,
    )

    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    opencost_url: AnyHttpUrl | None = None
    opencost_clusters: Annotated[dict[str, AnyHttpUrl], NoDecode] = Field(default_factory=dict)
    opencost_timeout: float = Field(default=10.0, gt=0, le=120)
    redis_url: str | None = None
    data_dir: Path = Field(default_factory=lambda: Path.home() / ".local" / "share" / "costbot")
    cache_ttl: int = Field(default=300, ge=0, le=86400)
    kubeconfig: str | None = None
    identity_map_file: Path | None = None
    authz_verb: str = "list"
    authz_resource: str = "pods"
    authz_group: str = ""
    authz_cache_ttl: int = Field(default=60, ge=0, le=3600)
    admin_groups: Annotated[tuple[str, ...], NoDecode] = ()
    recs_history_days: int = Field(default=14, ge=3, le=90)
    recs_profile: Literal["development", "production", "high-availability"] | None = None
    digest_grace: Annotated[int, NoDecode] = 6 * 3600
    currency: str = "USD"
    port: int = Field(default=3000, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] | None = None
    redis_prefix: str = "costbot:"

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("a bot token starts with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("an app-level token starts with xapp-")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not re.match(r"^https?://", value):
            raise ValueError("must be an http(s) URL")
        # slack_sdk joins method names onto base_url; without the slash it drops the /api part
        return value if value.endswith("/") else value + "/"

    @field_validator("opencost_clusters", mode="before")
    @classmethod
    def _clusters(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                return {}
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError("must be a JSON object of cluster name → URL") from exc
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(rediss?|unix)://", value):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("admin_groups", mode="before")
    @classmethod
    def _groups(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("digest_grace", mode="before")
    @classmethod
    def _grace(cls, value: object) -> int:
        return parse_duration(value)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z]{3}", value):
            raise ValueError("must be a three-letter ISO 4217 code")
        return value.upper()

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _mode_requirements(self) -> Settings:
        if self.opencost_url and self.opencost_clusters:
            raise ValueError("set OPENCOST_URL or OPENCOST_CLUSTERS, not both")
        return self

    # --- derived --------------------------------------------------------------------------
    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def demo_data(self) -> bool:
        return self.opencost_url is None and not self.opencost_clusters

    def clusters(self) -> dict[str, str]:
        """Configured OpenCost base URLs by cluster name (empty in demo mode)."""
        if self.opencost_clusters:
            return {name: str(url).rstrip("/") for name, url in self.opencost_clusters.items()}
        if self.opencost_url:
            return {"": str(self.opencost_url).rstrip("/")}
        return {}

    def require_serve(self) -> list[str]:
        """Problems that stop `serve` (checked there, not for demo/ask)."""
        problems = []
        if self.slack_bot_token is None:
            problems.append("SLACK_BOT_TOKEN: required to serve (example: xoxb-1234-…)")
        if not self.socket_mode and self.slack_signing_secret is None:
            problems.append(
                "SLACK_SIGNING_SECRET: required in HTTP mode "
                "(or set SLACK_APP_TOKEN for Socket Mode)"
            )
        return problems


def describe_errors(error: ValidationError) -> list[str]:
    """One plain line per bad field: NAME: what was wrong (example: …). Never the value."""
    lines = []
    for item in error.errors(include_input=False, include_url=False):
        field = str(item["loc"][0]) if item["loc"] else "configuration"
        message = str(item["msg"]).removeprefix("Value error, ")
        example = EXAMPLES.get(field)
        suffix = f" (example: {example})" if example else ""
        lines.append(f"{field.upper()}: {message}{suffix}")
    return lines


def load_settings() -> Settings:
    """Build Settings from the environment or print one line per problem and exit 2."""
    try:
        return Settings()
    except ValidationError as error:
        print("costbot: configuration is not valid:", file=sys.stderr)
        for line in describe_errors(error):
            print(f"  {line}", file=sys.stderr)
        raise SystemExit(2) from None
