"""`build_api`: the FastAPI app mounted at `/api` beside `/slack/events`, in the same process.

Each route: who is calling (TokenReview, `api.auth`), what they may see (`api.access`), the
service's answer, then JSON through the pydantic models (or CSV). Authorization is the
services' — the same policy, scope and recommendation rules as the Slack buttons.
"""

# No `from __future__ import annotations`: FastAPI reads the closures' Annotated aliases.

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Path, Query, Request
from pydantic import BaseModel
from starlette.middleware.cors import CORSMiddleware

from api import access, tables, translate
from api import models as m
from api.auth import TokenAuthenticator
from api.middleware import BodyLimitMiddleware, Observe, ObserveMiddleware, RateLimiter
from api.problems import ApiProblem, install, unauthorized
from services.access.models import Identity, Scope
from services.access.policy import AccessPolicy
from services.costs.service import TREND_STEP, CostService
from services.costs.windows import DEFAULT_WINDOW, TimeRange, normalize_zone, parse_window
from services.digests import BudgetService, DigestService
from services.errors import CostbotError, UserInputError
from services.ports import Clock
from services.recommendations.actions import RecommendationActions

MAX_BODY = 64 * 1024
ALL = 1_000_000  # "every item" for the service's top-k rankings
QUERY_TOKENS = ("access_token", "token", "bearer", "authorization", "id_token")
_PROBLEM_REF = {"schema": {"$ref": "#/components/schemas/Problem"}}
PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {
        "model": m.Problem,
        "description": words,
        "content": {"application/problem+json": _PROBLEM_REF},
    }
    for status, words in (
        (400, "a window or parameter /cost would not take either"),
        (401, "no token, or one the Kubernetes API does not vouch for this audience"),
        (403, "authenticated, but Kubernetes lets this identity see nothing"),
        (404, "nothing by that name that you may see"),
        (409, "the recommendation changed since that version"),
        (413, "request body too large"),
        (422, "one message per bad field"),
        (429, "too many requests from this identity; see Retry-After"),
        (503, "OpenCost or the Kubernetes API is down and nothing is cached; see Retry-After"),
    )
}
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}


@dataclass(frozen=True)
class ApiServices:
    """What the API needs, handed over explicitly by `bot/` from the frozen container."""

    costs: CostService
    access: AccessPolicy
    clock: Clock
    authenticator: TokenAuthenticator
    currency: str = "USD"
    rec_actions: RecommendationActions | None = None
    digests: DigestService | None = None
    budgets: BudgetService | None = None


@dataclass(frozen=True)
class ApiOptions:
    cors_origins: Sequence[str] = ()
    rate_limit: int = 120
    observe: Observe | None = None
    max_body: int = MAX_BODY


def build_api(services: ApiServices, options: ApiOptions = ApiOptions()) -> FastAPI:
    app = FastAPI(
        title="costbot API",
        version="1",
        description="Kubernetes cost from OpenCost, scoped by the caller's own RBAC. "
        "Send `Authorization: Bearer $(kubectl create token SA --audience costbot)`.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        responses=PROBLEMS,
    )
    install(app)
    # Routes are added to the app itself (not an included router), so each request's matched
    # route carries its full template for the access log and the latency metric.
    _routes(app, services, RateLimiter(options.rate_limit))
    app.add_middleware(BodyLimitMiddleware, limit=options.max_body)
    if options.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(options.cors_origins),  # settings refuse "*"
            allow_credentials=False,  # bearer tokens, never cookies
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Accept", "X-Request-Id"],
            expose_headers=["X-Request-Id", "Retry-After"],
            max_age=600,
        )
    app.add_middleware(ObserveMiddleware, observe=options.observe)
    return app


def _routes(router: FastAPI, s: ApiServices, limiter: RateLimiter) -> None:  # noqa: PLR0915

    async def caller(request: Request) -> Identity:
        if any(name in request.query_params for name in QUERY_TOKENS):
            raise unauthorized("Tokens in the URL are refused; send Authorization: Bearer.")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("Send a Kubernetes token as Authorization: Bearer <token>.")
        identity = await s.authenticator.identify(token.strip())
        if identity is None:
            raise unauthorized("The token was not accepted for this audience.")
        request.state.user = identity.k8s_user
        limiter.check(identity.k8s_user or "")
        return identity

    Caller = Annotated[Identity, Depends(caller)]
    WindowQ = Annotated[
        str,
        Query(
            max_length=64,
            description="any window /cost accepts, optionally with a zone: `7d tz Europe/Berlin`"
            " (days are local days of it; UTC otherwise)",
        ),
    ]

    def window_of(text: str) -> TimeRange:
        """The window as `/cost` reads it, a trailing `tz ZONE` included."""
        words = text.split()
        zone = "UTC"
        if len(words) >= 2 and words[-2].lower() == "tz":
            named = normalize_zone(words[-1])
            if named is None:
                raise UserInputError(f"I don't know the time zone “{words[-1]}”.")
            zone, words = named, words[:-2]
        return parse_window(" ".join(words), s.clock.now(), tz=zone)

    async def scoped(identity: Identity, window: TimeRange, **how: object) -> Scope:
        scope = (await access.scope_for(s.costs, s.access, identity, window, **how)).scope
        if scope.empty:
            raise ApiProblem(
                403,
                "Kubernetes lets this identity see no namespace here.",
                identity={"user": identity.k8s_user, "groups": list(identity.groups)},
            )
        return scope

    def answer(request: Request, model: BaseModel, rows: Sequence[BaseModel], name: str) -> Any:
        return tables.render(rows, name) if tables.wants_csv(request) else model

    @router.get("/v1/whoami", response_model=m.WhoAmI, tags=["identity"])
    async def whoami(identity: Caller) -> m.WhoAmI:
        scope, present = await access.scope_for(
            s.costs, s.access, identity, window_of(DEFAULT_WINDOW)
        )
        return m.WhoAmI(
            user=identity.k8s_user or "",
            uid=identity.uid,
            groups=list(identity.groups),
            extra={key: list(values) for key, values in identity.extra},
            clusters={
                name or "default": m.ClusterAccess(cluster_wide=wide, namespaces=names)
                for name, (wide, names) in access.per_cluster(present, scope).items()
            },
        )

    @router.get(
        "/v1/costs/summary", response_model=m.Summary, responses=CSV_RESPONSE, tags=["costs"]
    )
    async def summary(
        request: Request,
        identity: Caller,
        window: WindowQ = "7d",
        cluster: Annotated[str | None, Query(max_length=253)] = None,
    ) -> Any:
        span = window_of(window)
        scope = await scoped(identity, span)
        result, controllers = await asyncio.gather(
            s.costs.summary(span, scope), s.costs.top(span, scope, "controller", ALL)
        )
        model = translate.summary(result, controllers, s.currency)
        if cluster is not None:
            clusters = await s.costs.top(span, scope, "cluster", ALL)
            model = translate.one_cluster(model, clusters, cluster, span)
        return answer(request, model, model.namespaces, "summary")

    @router.get("/v1/costs/top", response_model=m.Top, responses=CSV_RESPONSE, tags=["costs"])
    async def top(
        request: Request,
        identity: Caller,
        window: WindowQ = "7d",
        by: Annotated[str, Query(max_length=80, pattern=r"^[A-Za-z0-9_:./-]+$")] = "namespace",
        k: Annotated[int, Query(ge=1, le=1000)] = 10,
    ) -> Any:
        span = window_of(window)
        scope = await scoped(identity, span)
        dimension, _, label_key = by.partition(":")
        if dimension == "label" and not label_key:
            raise UserInputError("Say which label: by=label:KEY (e.g. label:team).")
        result = await s.costs.top(
            span, scope, "label" if dimension == "label" else by, k, label_key or None
        )
        model = translate.top(result, s.currency)
        return answer(request, model, model.items, "top")

    @router.get(
        "/v1/namespaces/{ns}/costs",
        response_model=m.NamespaceCosts,
        responses=CSV_RESPONSE,
        tags=["costs"],
    )
    async def namespace(
        request: Request,
        identity: Caller,
        ns: Annotated[str, Path(max_length=253)],
        window: WindowQ = "7d",
    ) -> Any:
        span = window_of(window)
        scope = (await access.scope_for(s.costs, s.access, identity, span)).scope
        result = await s.costs.namespace(ns, span, scope)  # hidden or absent: the same 404
        model = translate.namespace(result, s.currency)
        return answer(request, model, model.workloads, f"namespace-{ns}")

    @router.get(
        "/v1/costs/compare", response_model=m.Compare, responses=CSV_RESPONSE, tags=["costs"]
    )
    async def compare(request: Request, identity: Caller, window: WindowQ = "7d") -> Any:
        span = window_of(window)
        scope = await scoped(identity, span, with_previous=True)
        model = translate.compare(await s.costs.compare(span, scope), s.currency)
        return answer(request, model, model.movers, "compare")

    @router.get("/v1/costs/trend", response_model=m.Trend, responses=CSV_RESPONSE, tags=["costs"])
    async def trend(
        request: Request,
        identity: Caller,
        window: WindowQ = "30d",
        step: Annotated[str, Query(pattern="^1d$", description="daily only")] = "1d",
    ) -> Any:
        span = window_of(window)
        scope = await scoped(identity, span, step=TREND_STEP)
        model = translate.trend(await s.costs.trend(span, scope), step, s.currency)
        return answer(request, model, model.points, "trend")

    def actions() -> RecommendationActions:
        if s.rec_actions is None:
            raise CostbotError("Recommendations are not enabled on this installation.")
        return s.rec_actions

    @router.get(
        "/v1/recommendations",
        response_model=m.Recommendations,
        responses=CSV_RESPONSE,
        tags=["recommendations"],
    )
    async def recommendations(
        request: Request,
        identity: Caller,
        namespace: Annotated[str | None, Query(max_length=253)] = None,
        state: Annotated[str, Query(pattern="^(open|all)$")] = "open",
    ) -> Any:
        board = await actions().board(identity, namespace, include_all=state == "all")
        items = [translate.recommendation(i.rec, i.state) for i in board.items + board.risks]
        model = m.Recommendations(items=items)
        return answer(request, model, model.items, "recommendations")

    RecId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]

    @router.get(
        "/v1/recommendations/{rec_id}", response_model=m.Recommendation, tags=["recommendations"]
    )
    async def recommendation(identity: Caller, rec_id: RecId) -> m.Recommendation:
        rec, state = await actions().current(identity, rec_id)
        return translate.recommendation(rec, state)

    Act = Callable[[Identity, str, m.ActionBody], Any]

    async def act(identity: Identity, rec_id: str, body: m.ActionBody, what: str) -> m.ActionResult:
        acts = actions()
        if what == "acknowledge":
            result = await acts.acknowledge(identity, rec_id, body.version)
        elif what == "snooze":
            if body.days is None:
                raise UserInputError("Say how long: days is 7 or 30.")
            result = await acts.snooze(identity, rec_id, body.version, body.days)
        else:
            result = await acts.dismiss(identity, rec_id, body.version, body.reason or "")
        return m.ActionResult(
            changed=result.changed, item=translate.recommendation(result.rec, result.state)
        )

    ActBody = Annotated[m.ActionBody, Body()]

    @router.post(
        "/v1/recommendations/{rec_id}/acknowledge",
        response_model=m.ActionResult,
        tags=["recommendations"],
    )
    async def acknowledge(identity: Caller, rec_id: RecId, body: ActBody) -> m.ActionResult:
        return await act(identity, rec_id, body, "acknowledge")

    @router.post(
        "/v1/recommendations/{rec_id}/snooze",
        response_model=m.ActionResult,
        tags=["recommendations"],
    )
    async def snooze(identity: Caller, rec_id: RecId, body: ActBody) -> m.ActionResult:
        return await act(identity, rec_id, body, "snooze")

    @router.post(
        "/v1/recommendations/{rec_id}/dismiss",
        response_model=m.ActionResult,
        tags=["recommendations"],
    )
    async def dismiss(identity: Caller, rec_id: RecId, body: ActBody) -> m.ActionResult:
        return await act(identity, rec_id, body, "dismiss")

    Channel = Annotated[str, Query(max_length=32, pattern=r"^[A-Z0-9]*$")]

    @router.get("/v1/budgets", response_model=m.Budgets, responses=CSV_RESPONSE, tags=["alerts"])
    async def budgets(request: Request, identity: Caller, channel: Channel = "") -> Any:
        if s.budgets is None:
            raise CostbotError("Budgets are not enabled on this installation.")
        statuses = await (
            s.budgets.statuses(identity, channel) if channel else s.budgets.visible_to(identity)
        )
        model = m.Budgets(items=[translate.budget(x, s.currency) for x in statuses])
        return answer(request, model, model.items, "budgets")

    @router.get("/v1/digests", response_model=m.Digests, responses=CSV_RESPONSE, tags=["alerts"])
    async def digests(request: Request, identity: Caller, channel: Channel = "") -> Any:
        if s.digests is None:
            raise CostbotError("Digests are not enabled on this installation.")
        statuses = await (
            s.digests.statuses(identity, channel) if channel else s.digests.visible_to(identity)
        )
        model = m.Digests(items=[translate.digest(x) for x in statuses])
        return answer(request, model, model.items, "digests")

    del Act


def trivial_app() -> FastAPI:
    """A FastAPI app with one endpoint that does nothing: the bench's baseline."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    return app
