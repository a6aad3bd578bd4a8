"""`costbot check`: one ✓ / ⚠ / ✗ line per dependency, exit 1 when anything is wrong.

Every probe does what the bot will do for real — a one-hour `/allocation` query per cluster, a
SelfSubjectAccessReview, `auth.test` with its granted scopes, the Redis persistence settings —
because a green `/healthz` in front of a sign-in page proves nothing. A fallback (demo data, demo
RBAC, the embedded Redis) is ⚠, never ✓. `--json` prints the same findings for automation.

The doctor builds its own short-lived clients from Settings instead of starting the bot's
Runtime: it needs the raw answers (to say *what* came back) and must not start digests or a
second embedded Redis beside a running bot's.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
import redis.asyncio as aioredis
from redis.exceptions import ResponseError
from slack_sdk.errors import SlackApiError

from bot.redis import EmbeddedRedis, async_client
from bot.settings import Authority, Settings
from bot.slack_adapters import slack_client
from services.access.identity import IdentityMap
from services.opencost.models import AllocationQuery

Status = Literal["ok", "warn", "fail"]
MARKS: dict[Status, str] = {"ok": "✓", "warn": "⚠", "fail": "✗"}
PROBE_TIMEOUT = 20.0

# The bot scopes manifest.yml requests (a test keeps the two lists equal): the image does not
# ship manifest.yml, and a token installed from an older manifest lacks what was added since.
BOT_SCOPES = (
    "commands",
    "chat:write",
    "chat:write.public",
    "users:read",
    "users:read.email",
    "usergroups:read",
    "files:write",
    "files:read",
    "im:write",
    "channels:history",
    "groups:history",
)
SAFE_EVICTION = "noeviction"


class Problem(Exception):
    """A check failed; the message is the whole explanation."""


class Risk(Exception):
    """A check passed only on a fallback, or with a setting that risks state."""


@dataclass(frozen=True)
class Finding:
    name: str
    status: Status
    detail: str

    def line(self) -> str:
        return f"{MARKS[self.status]} {self.name}: {self.detail}"


Probe = Callable[[], Awaitable[str]]


async def check(settings: Settings, *, as_json: bool = False) -> int:
    """Run every probe; print lines (or one JSON document); 1 if anything failed, else 0."""
    findings: list[Finding] = []
    for name, probe in _probes(settings):
        finding = await _run(name, probe)
        findings.append(finding)
        if not as_json:
            print(finding.line(), flush=True)
    failed = any(f.status == "fail" for f in findings)
    if as_json:
        document = {
            "ok": not failed,
            "warnings": sum(f.status == "warn" for f in findings),
            "checks": [asdict(f) for f in findings],
        }
        print(json.dumps(document, indent=2, ensure_ascii=False))
    return 1 if failed else 0


async def _run(name: str, probe: Probe) -> Finding:
    try:
        detail = await asyncio.wait_for(probe(), timeout=PROBE_TIMEOUT)
    except Risk as warning:
        return Finding(name, "warn", str(warning))
    except Exception as error:
        return Finding(name, "fail", _reason(error))
    return Finding(name, "ok", detail)


def _reason(error: BaseException) -> str:
    if isinstance(error, Problem):
        return str(error)
    if isinstance(error, SlackApiError):
        return f"Slack said {error.response.get('error')}"
    if isinstance(error, TimeoutError):
        return f"no answer within {PROBE_TIMEOUT:.0f} s"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _probes(settings: Settings) -> list[tuple[str, Probe]]:
    probes: list[tuple[str, Probe]] = [
        ("config", lambda: _config(settings)),
        ("identity map", lambda: _identity_map(settings)),
        ("slack", lambda: _slack(settings)),
        ("redis", lambda: _redis(settings)),
    ]
    clusters = settings.clusters()
    if not clusters:
        probes.append(("opencost", _demo_opencost))
    for cluster, url in clusters.items():
        name = f"opencost {cluster}" if cluster else "opencost"
        probes.append((name, _opencost_probe(settings, url)))
    probes += _kubernetes_probes(settings)
    return probes


# --- config and identity map -----------------------------------------------------------------


async def _config(settings: Settings) -> str:
    problems = settings.require_serve()
    if problems:
        raise Problem("; ".join(problems))
    return "Socket Mode" if settings.socket_mode else "HTTP mode"


async def _identity_map(settings: Settings) -> str:
    if settings.identity_map_file is None:
        if settings.demo_data:
            raise Risk("IDENTITY_MAP_FILE not set: the built-in demo map is in use")
        raise Risk("IDENTITY_MAP_FILE not set: nobody is mapped, only help and whoami work")
    loaded = IdentityMap.load(settings.identity_map_file)
    return (
        f"{settings.identity_map_file}: {len(loaded.users)} user(s), "
        f"{len(loaded.usergroups)} user group(s), email mapping "
        + ("on" if loaded.email.enabled else "off")
    )


# --- Slack ------------------------------------------------------------------------------------


async def _slack(settings: Settings) -> str:
    if settings.slack_bot_token is None:
        raise Problem("SLACK_BOT_TOKEN is not set")
    client = slack_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    response = await client.auth_test()
    who = f"auth.test ok as {response.get('user_id')} in team {response.get('team_id')}"
    header = _header(response.headers, "x-oauth-scopes")
    if header is None:
        raise Risk(f"{who}, but Slack did not list the token's scopes")
    granted = {scope.strip() for scope in header.split(",") if scope.strip()}
    missing = [scope for scope in BOT_SCOPES if scope not in granted]
    if missing:
        raise Problem(
            f"{who}, but the token lacks scope(s) {', '.join(missing)}: "
            "update the app from manifest.yml and reinstall it to the workspace"
        )
    return f"{who}; all {len(BOT_SCOPES)} scopes of manifest.yml granted"


def _header(headers: Any, name: str) -> str | None:
    for key, value in dict(headers or {}).items():
        if str(key).lower() == name:
            return ",".join(value) if isinstance(value, list) else str(value)
    return None


# --- Redis ------------------------------------------------------------------------------------


async def _redis(settings: Settings) -> str:
    if settings.redis_url is not None:
        client = async_client(settings.redis_url)
        try:
            return await _redis_settings(client)
        finally:
            await client.aclose()
    return await _embedded_redis(settings.data_dir)


async def _embedded_redis(data_dir: Path) -> str:
    """A running bot's embedded server answers on its socket; else start one and stop it."""
    note = "embedded redis-server under DATA_DIR: one replica only (set REDIS_URL for more)"
    socket_path = data_dir / "redis.sock"
    if socket_path.exists():
        client = async_client(f"unix://{socket_path}")
        try:
            await client.ping()
            raise Risk(f"{note}; the bot's server answers at {socket_path}")
        except (OSError, aioredis.ConnectionError):
            pass
        finally:
            await client.aclose()
    server = await asyncio.to_thread(EmbeddedRedis(data_dir).start)
    try:
        client = async_client(server.url)
        try:
            await client.ping()
        finally:
            await client.aclose()
    finally:
        await asyncio.to_thread(server.stop)
    raise Risk(f"{note}; it starts and answers")


async def _redis_settings(client: aioredis.Redis) -> str:
    """PING, then the two settings that decide whether acknowledgements and digest markers
    survive: append-only persistence, and an eviction policy that never drops them."""
    await client.ping()
    try:
        appendonly = (await client.config_get("appendonly")).get("appendonly")
        policy = (await client.config_get("maxmemory-policy")).get("maxmemory-policy")
    except ResponseError as error:  # managed Redis often disables CONFIG
        raise Risk(
            f"PING ok; persistence settings unreadable ({error}): make sure AOF is on and "
            f"maxmemory-policy is {SAFE_EVICTION}"
        ) from None
    risks = []
    if appendonly != "yes":
        risks.append("appendonly is off: a restart loses acknowledgements and digest markers")
    if policy != SAFE_EVICTION:
        risks.append(
            f"maxmemory-policy is {policy}: evicted state brings dismissed recommendations back "
            f"and posts digests twice (use {SAFE_EVICTION})"
        )
    if risks:
        raise Risk("PING ok, but " + "; ".join(risks))
    return f"PING ok; appendonly yes, maxmemory-policy {SAFE_EVICTION}"


# --- OpenCost ---------------------------------------------------------------------------------


async def _demo_opencost() -> str:
    raise Risk("no OPENCOST_URL or OPENCOST_CLUSTERS: built-in demo data, not your cluster's costs")


def _opencost_probe(settings: Settings, base_url: str) -> Probe:
    async def probe() -> str:
        return await opencost_answers(base_url, settings.opencost_timeout)

    return probe


async def opencost_answers(base_url: str, http_timeout: float) -> str:
    """A real one-hour `/allocation` query; a problem names what came back instead."""
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    window = AllocationQuery(start=end - timedelta(hours=1), end=end).window_param()
    url = f"{base_url.rstrip('/')}/allocation"
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=http_timeout) as http:
        try:
            response = await http.get(url, params={"window": window, "accumulate": "true"})
        except httpx.HTTPError as error:
            raise Problem(f"{url}: {type(error).__name__} {error}".rstrip()) from None
    elapsed = time.monotonic() - started
    if response.status_code != 200:
        raise Problem(f"{url} answered HTTP {response.status_code} with {describe(response)}")
    try:
        body = response.json()
    except ValueError:
        raise Problem(f"{url} answered {describe(response)}, not OpenCost's JSON") from None
    problem = allocation_shape_problem(body)
    if problem is not None:
        raise Problem(f"{url} answered JSON, but {problem}")
    count = sum(len(step) for step in body["data"])
    return f"a one-hour /allocation query answered {count} allocation(s) in {elapsed:.1f} s"


def describe(response: httpx.Response) -> str:
    """What a non-JSON answer is, in a few words: "an HTML page titled 'Sign in'"."""
    text = response.text
    kind = response.headers.get("content-type", "").split(";")[0].strip()
    if "html" in kind or re.match(r"\s*<(!doctype html|html)", text, re.IGNORECASE):
        for tag in ("title", "h1"):
            found = re.search(rf"<{tag}[^>]*>(.*?)</{tag}>", text, re.IGNORECASE | re.DOTALL)
            if found and found.group(1).strip():
                return f"an HTML page titled '{' '.join(found.group(1).split())[:80]}'"
        return "an HTML page without a title"
    if not text.strip():
        return f"an empty body ({kind or 'no content type'})"
    first = text.strip().splitlines()[0][:100]
    return f"{kind or 'a body'} starting {first!r}"


def allocation_shape_problem(body: object) -> str | None:
    """None when `body` is OpenCost's allocation envelope: {"code": 200, "data": [{name: {…}}]}."""
    if not isinstance(body, dict):
        return f"a JSON {type(body).__name__}, not OpenCost's object with `data`"
    if body.get("code", 200) != 200:
        return f"OpenCost error {body.get('code')}: {body.get('message') or 'no message'}"
    if "data" not in body:
        keys = ", ".join(sorted(str(key) for key in body)[:6]) or "none"
        return f"without OpenCost's `data` (keys: {keys})"
    data = body["data"]
    if not isinstance(data, list):
        return f"`data` is a JSON {type(data).__name__}, not a list of allocation sets"
    for step in data:
        if step is None:
            continue
        if not isinstance(step, dict) or not all(isinstance(row, dict) for row in step.values()):
            return "an allocation set is not an object of allocations by name"
    return None


# --- Kubernetes -------------------------------------------------------------------------------


def _kubernetes_probes(settings: Settings) -> list[tuple[str, Probe]]:
    """One probe per distinct Kubernetes authority, named after the clusters it decides for:
    with several clusters each has its own API, and a bot allowed on one may be refused on
    another."""
    by_authority: dict[Authority, list[str]] = {}
    for cluster, authority in settings.authorities().items():
        by_authority.setdefault(authority, []).append(cluster)
    if len(by_authority) <= 1 and not settings.opencost_clusters:
        return [("kubernetes", lambda: _kubernetes(settings, Authority(None, None)))]
    probes: list[tuple[str, Probe]] = []
    for authority, clusters in by_authority.items():
        name = "kubernetes " + ", ".join(cluster for cluster in clusters if cluster)
        probes.append((name.rstrip(), _kubernetes_probe(settings, authority)))
    return probes


def _kubernetes_probe(settings: Settings, authority: Authority) -> Probe:
    async def probe() -> str:
        return await _kubernetes(settings, authority)

    return probe


async def _kubernetes(settings: Settings, authority: Authority) -> str:
    """One SelfSubjectAccessReview for `create subjectaccessreviews` on this authority's API
    (its own kubeconfig/context, or the bot's home cluster when it names none)."""
    kubeconfig = authority.kubeconfig or settings.kubeconfig
    in_cluster = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    if not kubeconfig and not in_cluster:
        if settings.demo_data:
            raise Risk("not configured: demo RBAC decides who sees what")
        raise Problem("no KUBECONFIG and not in a pod: every access check will deny")
    from services.access.kube import KubeApi  # the kubernetes client takes ~2 s to import

    kube = KubeApi.from_config(kubeconfig, context=authority.context)
    try:
        if not await kube.can_create_sar():
            raise Problem(
                f"{kube.host}: the bot may not create subjectaccessreviews "
                "(apply deploy/base/clusterrole.yaml and its binding)"
            )
    finally:
        kube.close()
    return f"{kube.host}: may create subjectaccessreviews"
