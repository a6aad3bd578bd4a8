"""`build_bot`: the one assembly of Runtime → Bolt app → HTTP app.

`costbot serve`, the local demo/console/ask session and the test harness all start the bot
here, so what they run is the same object graph; they differ only in what they pass in.
"""

from __future__ import annotations

from dataclasses import dataclass

from slack_bolt.async_app import AsyncApp
from starlette.applications import Starlette
from starlette.types import ASGIApp

from api.app import ApiOptions, ApiServices, build_api
from api.auth import TokenAuthenticator
from bot.app import build_app
from bot.middleware import ReplayGuard
from bot.runtime import DemoParts, Runtime
from bot.server import build_http_app
from bot.settings import Settings
from services.ports import Clock
from web.app import WebServices, build_web
from web.oidc import OidcConfig, SlackOidc
from web.sessions import SessionStore


@dataclass(frozen=True)
class Bot:
    """A started bot: its clients and services, the Bolt app, and the Starlette app that serves
    Slack's requests (HTTP mode), the operator endpoints and the HTTP API (both modes)."""

    runtime: Runtime
    bolt: AsyncApp
    web: Starlette

    async def aclose(self) -> None:
        await self.runtime.aclose()


def api_parts(runtime: Runtime) -> tuple[ApiServices, ApiOptions]:
    """The HTTP API's services, taken from the frozen container, and its options."""
    deps, settings, metrics = runtime.deps, runtime.settings, runtime.metrics

    def observe(route: str, method: str, status: int, seconds: float) -> None:
        metrics.api.labels(route=route, method=method, status=str(status)).observe(seconds)

    services = ApiServices(
        costs=deps.costs,
        access=deps.access,
        clock=deps.clock,
        authenticator=TokenAuthenticator(runtime.kube, settings.api_audiences),
        currency=deps.currency,
        rec_actions=deps.rec_actions,
        digests=deps.digests,
        budgets=deps.budgets,
    )
    options = ApiOptions(
        cors_origins=settings.api_cors_origins, rate_limit=settings.api_rate_limit, observe=observe
    )
    return services, options


def web_app(runtime: Runtime, *, demo: bool) -> ASGIApp | None:
    """The web view at `/`, when WEB_ENABLED (unset: on for the demo only). Sign in with Slack
    is offered when SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are set."""
    settings, deps = runtime.settings, runtime.deps
    enabled = settings.web_enabled if settings.web_enabled is not None else demo
    if not enabled:
        return None
    base = settings.web_base_url or f"http://127.0.0.1:{settings.port}"
    oidc = None
    if settings.slack_client_id and settings.slack_client_secret is not None:
        config = OidcConfig(
            client_id=settings.slack_client_id,
            client_secret=settings.slack_client_secret.get_secret_value(),
            redirect_uri=base + "/login/slack/callback",
            api_url=runtime.slack.base_url,  # the local Slack when build_bot was given one
        )
        oidc = SlackOidc(config)  # its own short-lived clients, not the OpenCost one
    authenticator = TokenAuthenticator(runtime.kube, settings.api_audiences)
    return build_web(
        WebServices(
            costs=deps.costs,
            access=deps.access,
            audit=deps.audit,
            clock=deps.clock,
            sessions=SessionStore(runtime.redis, settings.redis_prefix),
            resolve=runtime.resolver.resolve,
            authenticate=authenticator.identify,
            oidc=oidc,
            currency=deps.currency,
            rec_actions=deps.rec_actions,
            digests=deps.digests,
            budgets=deps.budgets,
            secure_cookies=base.startswith("https://"),
            token_login=runtime.kube is not None,
        )
    )


async def build_bot(
    settings: Settings,
    *,
    clock: Clock | None = None,
    slack_api_url: str | None = None,
    demo: DemoParts | None = None,
    process_before_response: bool = False,
) -> Bot:
    """Start the Runtime and wire the apps over it. In Socket Mode Slack's requests arrive over
    the socket (unsigned, so Bolt does not verify them), and the HTTP app only serves operators.
    `process_before_response` makes a request return only once its answer is delivered."""
    runtime = await Runtime.start(settings, clock=clock, slack_api_url=slack_api_url, demo=demo)
    try:
        secret = settings.slack_signing_secret
        bolt = build_app(
            client=runtime.slack,
            signing_secret=secret.get_secret_value() if secret else None,
            deps=runtime.deps,
            metrics=runtime.metrics,
            resolve_identity=runtime.resolver.resolve,
            replay_guard=ReplayGuard(runtime.redis, prefix=settings.redis_prefix),
            verify_requests=not settings.socket_mode,
            process_before_response=process_before_response,
        )
        web = build_http_app(
            None if settings.socket_mode else bolt,
            runtime.metrics,
            runtime.readiness,
            api=build_api(*api_parts(runtime)),
            web=web_app(runtime, demo=demo is not None),
        )
    except BaseException:
        await runtime.aclose()
        raise
    return Bot(runtime, bolt, web)
