"""Typed configuration from the environment, validated once at start-up.

Settings are built in the entry point and passed down; nothing reads the environment at import
time. A bad value becomes one plain line per field (never the value of a secret) and exit 2.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import yaml
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.access.lifetimes import DEFAULT_BOUND, CacheLifetimes

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}

EXAMPLES: dict[str, str] = {
    "slack_bot_token": "xoxb-1234-5678-abcdef",
    "slack_app_token": "xapp-1-A0123-4567-abcdef",
    "slack_signing_secret": "8f7e6d5c4b3a2910…",
    "slack_api_url": "https://slack.com/api/",
    "opencost_url": "http://opencost.opencost:9003",
    "opencost_clusters": (
        '{"prod": {"url": "http://opencost.prod:9003", '
        '"kubeconfig": "/etc/costbot/prod.kubeconfig", "context": "prod"}}'
    ),
    "costbot_demo": "true",
    "redis_url": "redis://redis:6379/0",
    "redis_wait_replicas": "1",
    "redis_wait_timeout_ms": "500",
    "cache_ttl": "300",
    "authz_cache_ttl": "60",
    "authz_deny_cache_ttl": "10",
    "revocation_bound": "300",
    "admin_groups": "platform-admins,sre",
    "recs_history_days": "14",
    "recs_profile": "production",
    "digest_grace": "6h",
    "cost_blocks": "true",
    "opencost_settle": "2h",
    "opencost_concurrency": "4",
    "opencost_block_timeout": "30",
    "cache_max_bytes": "134217728",
    "currency": "USD",
    "port": "3000",
    "log_level": "info",
    "log_format": "json",
    "api_audiences": "costbot",
    "api_cors_origins": "https://backstage.example.com,https://grafana.example.com",
    "api_rate_limit": "120",
    "web_enabled": "true",
    "web_base_url": "https://costbot.example.com",
    "slack_client_id": "1234567890.0987654321",
    "slack_client_secret": "3f2e1d0c9b8a…",
}


_CLUSTER_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")


class ClusterConfig(BaseModel):
    """One entry of OPENCOST_CLUSTERS: its OpenCost, and the Kubernetes API that decides who
    may see it (`kubeconfig`/`context`; absent = the bot's own cluster: KUBECONFIG or the
    in-cluster service account). The string form `"prod": "http://…"` is `{"url": …}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: AnyHttpUrl
    kubeconfig: str | None = None
    context: str | None = None

    @field_validator("kubeconfig")
    @classmethod
    def _kubeconfig_exists(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).expanduser().is_file():
            raise ValueError("file not found")
        return value

    @field_validator("context")
    @classmethod
    def _context_known(cls, value: str | None, info: ValidationInfo) -> str | None:
        path = info.data.get("kubeconfig")
        if value is None or path is None:
            return value  # the home kubeconfig is only read at start-up
        if not value.strip():
            raise ValueError("must not be empty")
        if value not in _contexts(Path(path).expanduser()):
            raise ValueError(f"no context {value!r} in {path}")
        return value


class Authority(NamedTuple):
    """Which Kubernetes API decides a cluster's access: (kubeconfig, context), None = home."""

    kubeconfig: str | None
    context: str | None


def _contexts(path: Path) -> set[str]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValueError("kubeconfig is not readable YAML") from exc
    entries = document.get("contexts") if isinstance(document, dict) else None
    return {str(e.get("name")) for e in entries or [] if isinstance(e, dict)}


NO_SOURCE = (
    "no OpenCost configured; set OPENCOST_URL or OPENCOST_CLUSTERS, "
    "or COSTBOT_DEMO=true to serve demo data"
)


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
    # Before opencost_clusters: its validator reads it.
    authz_shared_across_clusters: bool = False
    opencost_clusters: Annotated[dict[str, ClusterConfig], NoDecode] = Field(default_factory=dict)
    costbot_demo: bool = False
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
    # A deny is trusted for less long: a grant someone just made shows up within this.
    authz_deny_cache_ttl: int = Field(default=10, ge=0, le=3600)
    revocation_bound: int = Field(default=DEFAULT_BOUND, ge=60, le=86400)
    admin_groups: Annotated[tuple[str, ...], NoDecode] = ()
    recs_history_days: int = Field(default=14, ge=3, le=90)
    recs_profile: Literal["development", "production", "high-availability"] | None = None
    digest_grace: Annotated[int, NoDecode] = 6 * 3600
    currency: str = "USD"
    port: int = Field(default=3000, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] | None = None
    redis_prefix: str = "costbot:"
    # WAIT after acknowledgements and delivery markers (services/storage/durable.py); unset →
    # 1 with Sentinel or Cluster, 0 (no WAIT) with one Redis.
    redis_wait_replicas: int | None = Field(default=None, ge=0, le=16)
    redis_wait_timeout_ms: int = Field(default=500, ge=1, le=60_000)
    # The cost data plane (services/opencost/blocks.py): settled periods are immutable blocks.
    cost_blocks: bool = True
    opencost_settle: Annotated[int, NoDecode] = 2 * 3600
    opencost_concurrency: int = Field(default=4, ge=1, le=64)
    opencost_block_timeout: float = Field(default=30.0, gt=0, le=600)
    cache_max_bytes: int = Field(default=128 * 1024 * 1024, ge=1024 * 1024)
    # The HTTP API under /api: accepted token audiences, browser origins, requests per minute.
    api_audiences: Annotated[tuple[str, ...], NoDecode] = ("costbot",)
    api_cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    api_rate_limit: int = Field(default=120, ge=0, le=100_000)  # per identity per minute; 0 = off
    # The web view at /: unset = on for the demo, off otherwise. Sign in with Slack needs the
    # app's OAuth client and the URL people open (its /login/slack/callback is the redirect).
    web_enabled: bool | None = None
    web_base_url: str | None = None
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None

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
        """JSON text → {name: {"url": …, …}}; a plain URL string is the string form."""
        if isinstance(value, str):
            if not value.strip():
                return {}
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    "must be a JSON object of cluster name → URL or {url, kubeconfig, context}"
                ) from exc
        if not isinstance(value, dict):
            raise ValueError("must be a JSON object of cluster name → URL or {url, …}")
        for name in value:
            if not isinstance(name, str) or not _CLUSTER_NAME.match(name):
                raise ValueError(
                    f"cluster name {str(name)[:64]!r} must be letters, digits, '.', '-' or '_'"
                )
        return {name: {"url": e} if isinstance(e, str) else e for name, e in value.items()}

    @field_validator("opencost_clusters")
    @classmethod
    def _one_authority_each(
        cls, value: dict[str, ClusterConfig], info: ValidationInfo
    ) -> dict[str, ClusterConfig]:
        """Several clusters decided by one Kubernetes API must be asked for explicitly: a
        grant in the home cluster would otherwise silently stand for every cluster."""
        if info.data.get("authz_shared_across_clusters"):
            return value
        shared = _shared(value)
        if shared:
            raise ValueError(
                f"{', '.join(shared)} would all have their access decided by one Kubernetes API; "
                'give each cluster its own "kubeconfig"/"context", or set '
                "AUTHZ_SHARED_ACROSS_CLUSTERS=true to accept that"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None:
            from bot.redis import parse_redis_url

            parse_redis_url(value)  # ValueError says which part is wrong
        return value

    @field_validator("admin_groups", "api_audiences", "api_cors_origins", mode="before")
    @classmethod
    def _groups(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("api_audiences")
    @classmethod
    def _audiences(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("name at least one audience (tokens are minted for it)")
        return value

    @field_validator("api_cors_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if origin == "*":
                raise ValueError("list origins explicitly; a wildcard would send tokens anywhere")
            if not re.fullmatch(r"https?://[^/\s]+", origin):
                raise ValueError("each origin is scheme://host[:port], with no path")
        return value

    @field_validator("web_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", value):
            raise ValueError(
                "must be the http(s) URL people open, e.g. https://costbot.example.com"
            )
        return value.rstrip("/")

    @field_validator("digest_grace", "opencost_settle", mode="before")
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
            raise ValueError(
                "OPENCOST_URL: set together with OPENCOST_CLUSTERS; keep one of them "
                "(OPENCOST_CLUSTERS for several clusters)"
            )
        if self.costbot_demo and (self.opencost_url or self.opencost_clusters):
            raise ValueError(
                "COSTBOT_DEMO: true while an OpenCost is configured; unset COSTBOT_DEMO to "
                "serve your costs, or unset OPENCOST_URL/OPENCOST_CLUSTERS to serve demo data"
            )
        self.lifetimes()  # AUTHZ_CACHE_TTL must leave room within REVOCATION_BOUND
        return self

    # --- derived --------------------------------------------------------------------------
    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def demo_data(self) -> bool:
        """No OpenCost configured: only the built-in demo cluster can answer. `serve` and
        `digest run` refuse that unless COSTBOT_DEMO is true (`source_problem`)."""
        return self.opencost_url is None and not self.opencost_clusters

    def source_problem(self) -> str | None:
        """Why a long-running bot may not start on this data source, or None. Demo figures in
        a real workspace must be asked for by name, never reached by forgetting a variable
        (an empty OPENCOST_CLUSTERS is forgetting too)."""
        if self.demo_data and not self.costbot_demo:
            return NO_SOURCE
        return None

    def lifetimes(self) -> CacheLifetimes:
        """Every access-related cache lifetime, derived from the revocation bound."""
        return CacheLifetimes.derive(self.revocation_bound, self.authz_cache_ttl)

    def clusters(self) -> dict[str, str]:
        """Configured OpenCost base URLs by cluster name (empty in demo mode)."""
        if self.opencost_clusters:
            return {name: str(c.url).rstrip("/") for name, c in self.opencost_clusters.items()}
        if self.opencost_url:
            return {"": str(self.opencost_url).rstrip("/")}
        return {}

    def authorities(self) -> dict[str, Authority]:
        """Which Kubernetes API decides each configured cluster (the home one for "")."""
        if not self.opencost_clusters:
            return {name: Authority(None, None) for name in self.clusters()}
        return {
            name: Authority(c.kubeconfig, c.context) for name, c in self.opencost_clusters.items()
        }

    def shared_clusters(self) -> list[str]:
        """Clusters whose access one Kubernetes API decides together with another's."""
        return _shared(self.opencost_clusters)

    def require_serve(self) -> list[str]:
        """Problems that stop `serve` (checked there, not for demo/ask)."""
        problems = []
        if self.slack_bot_token is None:
            problems.append("SLACK_BOT_TOKEN: not set; required to serve (example: xoxb-1234-…)")
        if not self.socket_mode and self.slack_signing_secret is None:
            problems.append(
                "SLACK_SIGNING_SECRET: not set; required in HTTP mode "
                "(or set SLACK_APP_TOKEN for Socket Mode)"
            )
        return problems


def _shared(clusters: dict[str, ClusterConfig]) -> list[str]:
    """Names of the clusters that share their Kubernetes authority with another one."""
    by_authority: dict[Authority, list[str]] = {}
    for name, cluster in clusters.items():
        by_authority.setdefault(Authority(cluster.kubeconfig, cluster.context), []).append(name)
    return sorted(name for names in by_authority.values() if len(names) > 1 for name in names)


def describe_errors(error: ValidationError) -> list[str]:
    """One plain line per bad field: NAME: what was wrong (example: …). Never the value.

    A nested field is named by its path: `OPENCOST_CLUSTERS.prod-eu.kubeconfig`. Whatever a
    validator raises (a multi-line message included) stays on one line."""
    lines = []
    for item in error.errors(include_input=False, include_url=False):
        message = " ".join(str(item["msg"]).removeprefix("Value error, ").split())
        loc: tuple[Any, ...] = tuple(item["loc"])
        if not loc:  # a check across fields names its fields itself
            lines.append(message)
            continue
        field = str(loc[0])
        path = ".".join([field.upper(), *(str(part) for part in loc[1:])])
        example = EXAMPLES.get(field) if len(loc) <= 1 else None
        suffix = f" (example: {example})" if example else ""
        lines.append(f"{path}: {message}{suffix}")
    return lines


def report_problems(lines: list[str]) -> int:
    """Print configuration problems, one line each on stderr; the exit code for them (2)."""
    for line in lines:
        print(line, file=sys.stderr)
    return 2


def load_settings() -> Settings:
    """Build Settings from the environment or print one line per problem and exit 2."""
    try:
        return Settings()
    except ValidationError as error:
        raise SystemExit(report_problems(describe_errors(error))) from None
