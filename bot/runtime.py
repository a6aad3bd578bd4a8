"""The composition root: builds every concrete client once and wires the services together.

`Runtime.start(settings)` is the only place that calls constructors of httpx, redis, kubernetes
and slack_sdk clients; `aclose()` releases them in reverse order. Everything is built before it
is handed on, so `Deps` and the `Runtime` are constructed once, complete, and never filled in
later. The built-in demo arrives as an injected `DemoParts` value: nothing here imports demo code.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
import redis.asyncio as aioredis
import structlog
from slack_sdk.web.async_client import AsyncWebClient

from bot.charts import lazy_chart
from bot.metrics import Metrics
from bot.redis import EmbeddedRedis, async_client
from bot.scheduler import DigestControl
from bot.settings import Authority, Settings
from bot.slack_adapters import SlackChatPoster, SlackDirectFiles, SlackWebDirectory, slack_client
from handlers.deps import Deps
from handlers.render.digest import DigestBlocks
from handlers.render.recs_digest import BoardDigestSource
from services.access.clusters import ClusterAuthorizer
from services.access.identity import (
    FixedMap,
    IdentityMap,
    IdentityMapFile,
    MapProvider,
    SlackDirectory,
)
from services.access.models import AccessCheck, Identity
from services.access.namespaces import KubeNamespaces
from services.access.policy import AccessPolicy
from services.access.resolver import IdentityResolver
from services.access.sar import SarAuthorizer
from services.audit.log import AuditLog
from services.audit.redis_stream import RedisAuditStream
from services.costs.service import Aligner, CostService
from services.digests import (
    BudgetService,
    DigestRunner,
    DigestService,
    RecsDigestSource,
)
from services.digests.content import DigestContent
from services.digests.redis_delivery import RedisDeliveryGuard
from services.digests.redis_store import RedisDigestStore
from services.errors import AuthorizationUnavailable
from services.opencost.blocks import BlockedCostSource, BlockSettings, align, source_identity
from services.opencost.cache import CachedCostSource
from services.opencost.client import OpenCostClient
from services.opencost.multi import MultiClusterSource
from services.ports import Authorizer, ChatPoster, Clock, CostSource
from services.recommendations.actions import RecommendationActions
from services.recommendations.board import RecommendationBoard
from services.recommendations.engine import OptimizationService
from services.recommendations.models import HpaSource, HpaTarget, RecSettings, StaticHpaSource
from services.recommendations.realized import RealizedSavings
from services.recommendations.store import RecommendationStore
from services.storage.keys import rename_legacy_keys
from services.storage.redis_pending import RedisPendingForms

if TYPE_CHECKING:
    from services.access.kube import KubeApi

log = structlog.get_logger("costbot.runtime")
ResolveIdentity = Callable[[str], Awaitable[Identity]]


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class DemoParts:
    """What the built-in demo brings instead of a real OpenCost, Kubernetes API and identity
    map. Built in `demo/` and chosen only by the CLI, then passed in, so that production
    modules never import demo code (an import-linter contract)."""

    opencost: httpx.AsyncBaseTransport  # answers OpenCost's API at `opencost_url`
    opencost_url: str
    authorizer: Authorizer  # used when no Kubernetes API is configured
    identity_map: IdentityMap  # used when no IDENTITY_MAP_FILE is set
    hpas: tuple[HpaTarget, ...] = ()  # used when no Kubernetes API is configured
    admin_groups: tuple[str, ...] = ()  # used when neither ADMIN_GROUPS nor a map file is set


HOME = Authority(None, None)  # the bot's own cluster: KUBECONFIG or the in-cluster account


class KubeHpaSource:
    """HPAs from each cluster's Kubernetes API, in the recommendation engine's terms (percent
    targets), tagged with the cluster they belong to ("" = any: an API several clusters
    share, or the only one)."""

    def __init__(self, apis: list[tuple[KubeApi, str]]) -> None:
        self._apis = list(apis)  # (API, cluster tag)

    async def cpu_hpas(self) -> list[HpaTarget]:
        found = await asyncio.gather(*(kube.cpu_hpas() for kube, _ in self._apis))
        return [
            HpaTarget(
                h.namespace, h.target_kind, h.target_name, h.target_cpu_utilization * 100, cluster
            )
            for (_, cluster), hpas in zip(self._apis, found, strict=True)
            for h in hpas
        ]


class NoKubernetes:
    """No Kubernetes API for these checks (no KUBECONFIG and not in a pod, or a cluster's
    kubeconfig failed to load): every access check fails closed, with a reason."""

    def __init__(self, reason: str = "no Kubernetes API is configured (set KUBECONFIG)") -> None:
        self._reason = reason

    async def allowed(self, identity: Identity, check: AccessCheck) -> bool:
        raise AuthorizationUnavailable(self._reason)


class ReadinessProbe:
    """`/readyz`: Redis answers PING and at least one OpenCost answers."""

    def __init__(self, redis: aioredis.Redis, sources: dict[str, OpenCostClient]) -> None:
        self._redis, self._sources = redis, sources

    async def __call__(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            await self._redis.ping()
            checks["redis"] = "ok"
        except Exception as error:
            checks["redis"] = f"error: {type(error).__name__}"
        answered = 0
        for name, client in self._sources.items():
            try:
                await client.ping()
                answered += 1
            except Exception as error:
                checks[f"opencost{':' + name if name else ''}"] = f"error: {type(error).__name__}"
        checks["opencost"] = "ok" if answered else "error: no data source answered"
        return checks


@dataclass(frozen=True)
class Digests:
    """The digest and budget services for Deps, and the scheduler handle for `serve`."""

    service: DigestService
    budgets: BudgetService
    control: DigestControl


def build_digests(
    *,
    redis: aioredis.Redis,
    chat: ChatPoster,
    clock: Clock,
    costs: CostService,
    access: AccessPolicy,
    audit: AuditLog,
    resolve_identity: ResolveIdentity,
    directory: SlackDirectory | None,
    recs: RecsDigestSource | None,
    admin_groups: frozenset[str],
    currency: str,
    prefix: str,
    grace: timedelta,
    on_outcome: Callable[[str], None] | None = None,
) -> Digests:
    """The digest and budget services over one store and one delivery guard (so digests and
    budget alerts share the exactly-once bookkeeping), and the handle that schedules them."""
    store = RedisDigestStore(redis, prefix)
    guard = RedisDeliveryGuard(redis, chat, clock, prefix=prefix, on_outcome=on_outcome)
    renderer = DigestBlocks(currency, lazy_chart)
    runner = DigestRunner(
        store,
        guard,
        DigestContent(costs, access, recs),
        renderer=renderer,
        chat=chat,
        resolve_identity=resolve_identity,
        clock=clock,
        grace=grace,
    )
    service = DigestService(
        store, runner, costs, access=access, audit=audit, clock=clock, directory=directory,
        admin_groups=admin_groups,
    )  # fmt: skip
    budgets = BudgetService(
        store, guard, costs, access, audit=audit, clock=clock, resolve_identity=resolve_identity,
        renderer=renderer, admin_groups=admin_groups,
    )  # fmt: skip
    return Digests(service, budgets, DigestControl(runner, budgets, store, redis, clock))


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    clock: Clock
    metrics: Metrics
    redis: aioredis.Redis
    http: httpx.AsyncClient
    source: CostSource
    deps: Deps
    resolver: IdentityResolver
    slack: AsyncWebClient
    chat: SlackChatPoster
    digests: DigestControl
    readiness: ReadinessProbe
    kube: KubeApi | None = None  # the home cluster's API
    embedded: EmbeddedRedis | None = None
    kubes: tuple[KubeApi, ...] = ()  # every cluster's API, the home one included
    raw_sources: dict[str, OpenCostClient] = field(default_factory=dict)

    @classmethod
    async def start(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        slack_api_url: str | None = None,
        demo: DemoParts | None = None,
    ) -> Runtime:
        """Every client and service, built once. `demo` replaces OpenCost (always), and the
        Kubernetes API and identity map (when those are not configured)."""
        if settings.demo_data and demo is None:
            raise ValueError(
                "no OpenCost is configured (set OPENCOST_URL or OPENCOST_CLUSTERS); the built-in "
                "demo data is chosen by the costbot command line"
            )
        clock = clock or SystemClock()
        metrics = Metrics()
        embedded = None
        redis_url = settings.redis_url
        if redis_url is None:
            embedded = EmbeddedRedis(settings.data_dir).start()
            redis_url = embedded.url
        redis = async_client(
            redis_url,
            wait_replicas=settings.redis_wait_replicas,
            wait_timeout_ms=settings.redis_wait_timeout_ms,
        )
        await rename_legacy_keys(redis, settings.redis_prefix)

        def observe(outcome: str, seconds: float) -> None:
            metrics.opencost.labels(outcome=outcome).observe(seconds)

        http, raw = _opencost_clients(settings, clock, observe, demo)
        on_cache = metrics.cache.labels
        source: CostSource
        if settings.cost_blocks and demo is None:
            source = _blocked_sources(
                settings, raw, redis, clock, lambda event: on_cache(result=event).inc()
            )
        else:
            inner: CostSource = (
                next(iter(raw.values())) if len(raw) == 1 else MultiClusterSource(dict(raw))
            )
            source = CachedCostSource(
                inner,
                redis,
                ttl=settings.cache_ttl,
                clock=clock,
                prefix=settings.redis_prefix,
                on_event=lambda event: on_cache(result=event).inc(),
            )
        token = (
            settings.slack_bot_token.get_secret_value()
            if settings.slack_bot_token
            else "xoxb-local"
        )
        slack = slack_client(token, slack_api_url or settings.slack_api_url)
        chat = SlackChatPoster(slack)
        kubes = _kube_apis(settings)
        kube = kubes.get(HOME)
        shared = settings.shared_clusters() if settings.authz_shared_across_clusters else []
        if shared:
            log.warning(
                "authz.shared_across_clusters",
                clusters=shared,
                detail="access decided by the home cluster for: " + ", ".join(shared),
            )
        lifetimes = settings.lifetimes()  # one owner for every access cache's lifetime
        resolver = IdentityResolver(
            _identity_map(settings, demo, lifetimes.identity_map_check),
            SlackWebDirectory(slack, lifetimes.usergroups_list, clock=clock),
            redis,
            clock,
            lifetimes=lifetimes,
            prefix=settings.redis_prefix,
        )
        audit = AuditLog(
            RedisAuditStream(redis, prefix=settings.redis_prefix),
            structlog.get_logger("costbot.audit"),
            clock,
        )
        costs = CostService(source, clock, align=_aligner(settings, demo))
        access = AccessPolicy(
            _authorizer(settings, kubes, redis, metrics, demo),
            settings.authz_verb,
            settings.authz_resource,
            settings.authz_group,
            clusters=list(settings.opencost_clusters),
            shared_clusters=shared,
            namespaces=_namespace_source(settings, kubes, clock, demo),
        )
        admin_groups = frozenset(settings.admin_groups or _demo_admins(settings, demo))
        recs = _recommendations(settings, clock, redis, source, _hpa_source(settings, kubes, demo))
        digests = build_digests(
            redis=redis,
            chat=chat,
            clock=clock,
            costs=costs,
            access=access,
            audit=audit,
            resolve_identity=resolver.resolve,
            directory=SlackWebDirectory(slack),
            recs=BoardDigestSource(recs, clock, settings.currency),
            admin_groups=admin_groups,
            currency=settings.currency,
            prefix=settings.redis_prefix,
            grace=timedelta(seconds=settings.digest_grace),
            on_outcome=lambda outcome: metrics.digests.labels(outcome=outcome).inc(),
        )
        readiness = ReadinessProbe(redis, raw)
        deps = Deps(
            costs=costs,
            access=access,
            audit=audit,
            clock=clock,
            currency=settings.currency,
            admin_groups=admin_groups,
            demo=demo is not None,
            recs=recs,
            digests=digests.service,
            budgets=digests.budgets,
            chart=lazy_chart,
            ready=readiness,
            rec_actions=RecommendationActions(recs, costs, access, audit, clock),
            forms=RedisPendingForms(redis, prefix=settings.redis_prefix),
            dm_file=SlackDirectFiles(slack).send,
        )
        return cls(
            settings=settings,
            clock=clock,
            metrics=metrics,
            redis=redis,
            http=http,
            source=source,
            deps=deps,
            resolver=resolver,
            slack=slack,
            chat=chat,
            digests=digests.control,
            readiness=readiness,
            kube=kube,
            embedded=embedded,
            kubes=tuple(api for api in kubes.values() if api is not None),
            raw_sources=raw,
        )

    async def stop_background(self) -> None:
        """Cancel the block sources' background retries before shutdown drains the tasks still
        running: they are no answer in progress, and one sleeps for half a minute."""
        sources = self.source.sources if isinstance(self.source, MultiClusterSource) else {}
        for source in (self.source, *sources.values()):
            if isinstance(source, BlockedCostSource):
                await source.close()

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.redis.aclose()
        for kube in self.kubes or ((self.kube,) if self.kube is not None else ()):
            await kube.aclose()
        if self.embedded is not None:
            self.embedded.stop()


def _recommendations(
    settings: Settings, clock: Clock, redis: aioredis.Redis, source: CostSource, hpas: HpaSource
) -> RecommendationBoard:
    rec_settings = RecSettings(
        history_days=settings.recs_history_days,
        profile=settings.recs_profile,
        kube_context=len(settings.clusters()) > 1,
    )
    store = RecommendationStore(redis, clock, prefix=settings.redis_prefix, settings=rec_settings)
    return RecommendationBoard(
        OptimizationService(source, hpas, clock, rec_settings),
        store,
        realized=RealizedSavings(store, clock, source=source),
    )


def _blocked_sources(
    settings: Settings,
    raw: dict[str, OpenCostClient],
    redis: aioredis.Redis,
    clock: Clock,
    on_event: Callable[[str], None],
) -> CostSource:
    """One block cache per cluster (keyed by its name and URL), merged by MultiClusterSource."""
    tuning = BlockSettings(
        settle=timedelta(seconds=settings.opencost_settle),
        live_ttl=max(1, settings.cache_ttl),
        concurrency=settings.opencost_concurrency,
        block_timeout=settings.opencost_block_timeout,
        max_bytes=settings.cache_max_bytes,
    )
    blocked: dict[str, CostSource] = {
        name: BlockedCostSource(
            client,
            redis,
            clock,
            source_identity(name, client.base_url),
            prefix=settings.redis_prefix,
            settings=tuning,
            on_event=on_event,
        )
        for name, client in raw.items()
    }
    return next(iter(blocked.values())) if len(blocked) == 1 else MultiClusterSource(blocked)


def _aligner(settings: Settings, demo: DemoParts | None) -> Aligner | None:
    """Windows are cut at block boundaries when answers come from blocks."""
    return align if settings.cost_blocks and demo is None else None


def _opencost_clients(
    settings: Settings,
    clock: Clock,
    observe: Callable[[str, float], None],
    demo: DemoParts | None,
) -> tuple[httpx.AsyncClient, dict[str, OpenCostClient]]:
    timeout = httpx.Timeout(settings.opencost_timeout, connect=min(3.0, settings.opencost_timeout))
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=16)
    if demo is not None:
        http = httpx.AsyncClient(transport=demo.opencost, timeout=timeout)
        return http, {
            "": OpenCostClient(demo.opencost_url, http, clock=clock, demo=True, on_request=observe)
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


def _kube_apis(settings: Settings) -> dict[Authority, KubeApi | None]:
    """One Kubernetes API per distinct (kubeconfig, context) among the configured clusters
    (the home one always); None where it could not be loaded (its checks fail closed)."""
    wanted = {HOME, *settings.authorities().values()}
    return {authority: _kube_api(settings, authority) for authority in wanted}


def _kube_api(settings: Settings, authority: Authority = HOME) -> KubeApi | None:
    in_cluster = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    kubeconfig = authority.kubeconfig or settings.kubeconfig
    if not kubeconfig and not in_cluster:
        return None
    from services.access.kube import KubeApi  # the kubernetes client takes ~2 s to import

    try:
        return KubeApi.from_config(kubeconfig, context=authority.context)
    except AuthorizationUnavailable as error:
        log.error("kubernetes.config_failed", error=str(error), kubeconfig=kubeconfig)
        return None


def _authorizer(
    settings: Settings,
    kubes: Mapping[Authority, KubeApi | None],
    redis: aioredis.Redis,
    metrics: Metrics,
    demo: DemoParts | None,
) -> Authorizer:
    """The home cluster's authorizer, or with OPENCOST_CLUSTERS one per distinct API, each
    cluster's checks routed to its own (decisions cached per cluster)."""

    def sar(kube: KubeApi) -> SarAuthorizer:
        return SarAuthorizer(
            kube,
            redis,
            settings.lifetimes().authz_decision,
            prefix=settings.redis_prefix,
            deny_ttl=settings.authz_deny_cache_ttl,
            on_decision=lambda decision: metrics.authz.labels(decision=decision).inc(),
        )

    if settings.opencost_clusters:
        by_authority: dict[Authority, Authorizer] = {}
        for authority, kube in kubes.items():
            where = authority.context or authority.kubeconfig or "the home cluster"
            missing = NoKubernetes(f"no Kubernetes API could be loaded for {where}")
            by_authority[authority] = sar(kube) if kube is not None else missing
        routes = {name: by_authority[a] for name, a in settings.authorities().items()}
        return ClusterAuthorizer(routes)
    kube = kubes.get(HOME)
    if kube is not None:
        return sar(kube)
    if demo is not None:
        return demo.authorizer
    return NoKubernetes()


def _namespace_source(
    settings: Settings,
    kubes: Mapping[Authority, KubeApi | None],
    clock: Clock,
    demo: DemoParts | None,
) -> KubeNamespaces | None:
    """Each cluster's namespace list from its own API (None on the demo, whose RBAC is static:
    the data's namespaces are the candidates there)."""
    if demo is not None:
        return None
    if not settings.opencost_clusters:
        home = kubes.get(HOME)
        return KubeNamespaces({"": home}, clock) if home is not None else None
    apis = {
        name: kube
        for name, authority in settings.authorities().items()
        if (kube := kubes.get(authority)) is not None
    }
    return KubeNamespaces(apis, clock) if apis else None


def _hpa_source(
    settings: Settings, kubes: Mapping[Authority, KubeApi | None], demo: DemoParts | None
) -> HpaSource:
    """HPAs from each cluster's API; an API several clusters share tags its HPAs with no
    cluster (they match any), one that serves a single cluster tags them with its name."""
    served: dict[Authority, list[str]] = {}
    for name, authority in settings.authorities().items():
        served.setdefault(authority, []).append(name)
    apis = [
        (kube, names[0] if len(names) == 1 else "")
        for authority, names in served.items()
        if (kube := kubes.get(authority)) is not None
    ]
    if apis:
        return KubeHpaSource(apis)
    return StaticHpaSource(list(demo.hpas) if demo is not None else [])


def _demo_admins(settings: Settings, demo: DemoParts | None) -> tuple[str, ...]:
    """On the built-in demo (no identity map of one's own) the demo's admins are admin."""
    if demo is not None and settings.identity_map_file is None:
        return demo.admin_groups
    return ()


def _identity_map(settings: Settings, demo: DemoParts | None, check: float) -> MapProvider:
    if settings.identity_map_file is not None:
        return IdentityMapFile(settings.identity_map_file, check_interval=check)
    if demo is not None:
        return FixedMap(demo.identity_map)
    return FixedMap(IdentityMap.empty())
