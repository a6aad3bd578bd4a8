"""The composition root: builds every concrete client once and wires the services together.

`Runtime.start(settings)` is the only place that calls constructors of httpx, redis, kubernetes
and slack_sdk clients; `aclose()` releases them in reverse order.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import redis.asyncio as aioredis
import structlog

from bot.charts import lazy_chart
from bot.metrics import Metrics
from bot.redis import EmbeddedRedis, async_client
from bot.scheduler import install_digests
from bot.settings import Settings
from bot.slack_adapters import SlackChatPoster, SlackWebDirectory, slack_client
from demo.cluster import DEMO_BASE_URL, DEMO_HPAS, DemoOpenCostTransport
from handlers.deps import Deps
from handlers.render.recs_digest import BoardDigestSource
from services.access.identity import (
    DEMO_IDENTITY_MAP,
    FixedMap,
    IdentityMap,
    IdentityMapFile,
    IdentityResolver,
    MapProvider,
)
from services.access.models import AccessCheck, Identity
from services.access.policy import AccessPolicy, SarAuthorizer
from services.access.rbac import DEMO_RBAC, StaticRbac, StaticRbacAuthorizer
from services.audit import AuditLog
from services.costs.service import CostService
from services.errors import AuthorizationUnavailable
from services.opencost.cache import CachedCostSource
from services.opencost.client import OpenCostClient
from services.opencost.multi import MultiClusterSource
from services.ports import Authorizer, Clock, CostSource
from services.recommendations.actions import RecommendationActions
from services.recommendations.board import RecommendationBoard
from services.recommendations.engine import OptimizationService
from services.recommendations.models import HpaSource, HpaTarget, RecSettings, StaticHpaSource
from services.recommendations.realized import RealizedSavings
from services.recommendations.store import RecommendationStore

if TYPE_CHECKING:
    from services.access.kube import KubeApi

log = structlog.get_logger("costbot.runtime")


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class KubeHpaSource:
    """HPAs from the Kubernetes API, in the recommendation engine's terms (percent targets)."""

    def __init__(self, kube: KubeApi) -> None:
        self._kube = kube

    async def cpu_hpas(self) -> list[HpaTarget]:
        return [
            HpaTarget(h.namespace, h.target_kind, h.target_name, h.target_cpu_utilization * 100)
            for h in await self._kube.cpu_hpas()
        ]


def _hpa_source(settings: Settings, kube: KubeApi | None) -> HpaSource:
    if kube is not None:
        return KubeHpaSource(kube)
    if settings.demo_data:
        return StaticHpaSource(
            [HpaTarget(ns, kind, name, target * 100) for ns, kind, name, target in DEMO_HPAS]
        )
    return StaticHpaSource([])


class NoKubernetes:
    """No KUBECONFIG and not in a pod: every access check fails closed, with a reason."""

    async def allowed(self, identity: Identity, check: AccessCheck) -> bool:
        raise AuthorizationUnavailable("no Kubernetes API is configured (set KUBECONFIG)")


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    metrics: Metrics
    redis: aioredis.Redis
    http: httpx.AsyncClient
    source: CostSource
    deps: Deps
    resolver: IdentityResolver
    slack: Any
    chat: SlackChatPoster
    kube: KubeApi | None = None
    embedded: EmbeddedRedis | None = None
    raw_sources: dict[str, OpenCostClient] = field(default_factory=dict)

    @classmethod
    async def start(
        cls, settings: Settings, *, clock: Clock | None = None, slack_api_url: str | None = None
    ) -> Runtime:
        clock = clock or SystemClock()
        metrics = Metrics()
        embedded = None
        redis_url = settings.redis_url
        if redis_url is None:
            embedded = EmbeddedRedis(settings.data_dir).start()
            redis_url = embedded.url
        redis = async_client(redis_url)

        def observe(outcome: str, seconds: float) -> None:
            metrics.opencost.labels(outcome=outcome).observe(seconds)

        http, raw = _opencost_clients(settings, clock, observe)
        inner: CostSource = (
            next(iter(raw.values())) if len(raw) == 1 else MultiClusterSource(dict(raw))
        )
        source = CachedCostSource(
            inner,
            redis,
            ttl=settings.cache_ttl,
            clock=clock,
            prefix=settings.redis_prefix,
            on_event=lambda event: metrics.cache.labels(result=event).inc(),
        )
        token = (
            settings.slack_bot_token.get_secret_value()
            if settings.slack_bot_token
            else "xoxb-local"
        )
        slack = slack_client(token, slack_api_url or settings.slack_api_url)
        kube = _kube_api(settings)
        authorizer = _authorizer(settings, kube, redis, metrics)
        resolver = IdentityResolver(
            _identity_map(settings),
            SlackWebDirectory(slack),
            redis,
            clock,
            prefix=settings.redis_prefix,
        )
        audit = AuditLog(
            redis, structlog.get_logger("costbot.audit"), clock, prefix=settings.redis_prefix
        )
        deps = Deps(
            costs=CostService(source, clock),
            access=AccessPolicy(
                authorizer, settings.authz_verb, settings.authz_resource, settings.authz_group
            ),
            audit=audit,
            clock=clock,
            currency=settings.currency,
            admin_groups=frozenset(settings.admin_groups or _demo_admins(settings)),
            demo=settings.demo_data,
            chart=lazy_chart,
        )
        rec_settings = RecSettings(history_days=settings.recs_history_days)
        store = RecommendationStore(
            redis, clock, prefix=settings.redis_prefix, settings=rec_settings
        )
        deps.recs = RecommendationBoard(
            OptimizationService(source, _hpa_source(settings, kube), clock, rec_settings),
            store,
            realized=RealizedSavings(
                store, clock, source=source, redis=redis, prefix=settings.redis_prefix
            ),
        )
        deps.rec_actions = RecommendationActions(deps.recs, deps.costs, deps.access, audit, clock)
        runtime = cls(
            settings=settings,
            clock=clock,
            metrics=metrics,
            redis=redis,
            http=http,
            source=source,
            deps=deps,
            resolver=resolver,
            slack=slack,
            chat=SlackChatPoster(slack),
            kube=kube,
            embedded=embedded,
            raw_sources=raw,
        )
        deps.ready = runtime.readiness
        install_digests(runtime, recs=BoardDigestSource(deps.recs, clock, settings.currency))
        return runtime

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            await self.redis.ping()
            checks["redis"] = "ok"
        except Exception as error:
            checks["redis"] = f"error: {type(error).__name__}"
        answered = 0
        for name, client in self.raw_sources.items():
            try:
                await client.ping()
                answered += 1
            except Exception as error:
                checks[f"opencost{':' + name if name else ''}"] = f"error: {type(error).__name__}"
        checks["opencost"] = "ok" if answered else "error: no data source answered"
        return checks

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.redis.aclose()
        if self.kube is not None:
            self.kube.close()
        if self.embedded is not None:
            self.embedded.stop()


def _opencost_clients(
    settings: Settings, clock: Clock, observe: Callable[[str, float], None]
) -> tuple[httpx.AsyncClient, dict[str, OpenCostClient]]:
    timeout = httpx.Timeout(settings.opencost_timeout, connect=min(3.0, settings.opencost_timeout))
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=16)
    if settings.demo_data:
        http = httpx.AsyncClient(transport=DemoOpenCostTransport(), timeout=timeout)
        return http, {
            "": OpenCostClient(DEMO_BASE_URL, http, clock=clock, demo=True, on_request=observe)
        }
    http = httpx.AsyncClient(timeout=timeout, limits=limits)
    clusters = settings.clusters()
    several = len(clusters) > 1 or "" not in clusters
    return http, {
        name: OpenCostClient(
            url, http, cluster_name=name if several else None, clock=clock, on_request=observe
        )
        for name, url in clusters.items()
    }


def _kube_api(settings: Settings) -> KubeApi | None:
    in_cluster = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    if not settings.kubeconfig and not in_cluster:
        return None
    from services.access.kube import KubeApi  # the kubernetes client takes ~2 s to import

    try:
        return KubeApi.from_config(settings.kubeconfig)
    except AuthorizationUnavailable as error:
        log.error("kubernetes.config_failed", error=str(error))
        return None


def _authorizer(
    settings: Settings, kube: KubeApi | None, redis: aioredis.Redis, metrics: Metrics
) -> Authorizer:
    if kube is not None:
        return SarAuthorizer(
            kube,
            redis,
            settings.authz_cache_ttl,
            prefix=settings.redis_prefix,
            on_decision=lambda decision: metrics.authz.labels(decision=decision).inc(),
        )
    if settings.demo_data:
        return StaticRbacAuthorizer(StaticRbac(DEMO_RBAC))
    return NoKubernetes()


def _demo_admins(settings: Settings) -> tuple[str, ...]:
    """On the built-in demo (no identity map of one's own) the demo platform team is admin."""
    if settings.demo_data and settings.identity_map_file is None:
        return ("platform-admins",)
    return ()


def _identity_map(settings: Settings) -> MapProvider:
    if settings.identity_map_file is not None:
        return IdentityMapFile(settings.identity_map_file)
    if settings.demo_data:
        return FixedMap(IdentityMap.from_yaml(DEMO_IDENTITY_MAP, "demo identity map"))
    return FixedMap(IdentityMap.empty())
