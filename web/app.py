"""`build_web`: the pages under `/` (Starlette + Jinja2), beside `/slack/events` and `/api`.

Every data page: who is signed in (a server-side session), what they may see (`AccessPolicy`
for the data's namespaces), the service's answer, then a template with autoescaping on. An
authorization error or an outage is an error page, never an unfiltered one; a hidden and an
absent namespace give the same 404. Every page view and action is audited.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import structlog
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as AsgiScope

from services.access.models import Identity, Scope
from services.access.policy import AccessPolicy
from services.audit.log import AuditLog
from services.costs.scoping import window_scope
from services.costs.service import CostService
from services.costs.views import Focus
from services.costs.windows import TimeRange, parse_window
from services.digests import BudgetService, DigestService
from services.errors import (
    AuthorizationUnavailable,
    CostbotError,
    NotAllowed,
    NotFound,
    StaleAction,
    UserInputError,
)
from services.numbers import money
from services.ports import Clock
from services.recommendations.actions import ActionResult, RecommendationActions
from web import views
from web.oidc import OidcRefused, SlackOidc
from web.sessions import COOKIE, Session, SessionStore

HERE = Path(__file__).parent
CSRF_COOKIE = "costbot_login_csrf"
MAX_FORM = 16 * 1024
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# The status line after an action, chosen by a fixed key in the query (never echoed input).
DONE = {
    "acknowledged": "Recommendation acknowledged; it stays listed as acknowledged.",
    "snoozed": "Recommendation snoozed; it comes back when the snooze ends.",
    "dismissed": "Recommendation dismissed.",
    "unchanged": "Nothing changed: it was already in that state.",
}
NO_KUBE_SIGN_IN = (
    "Sign in with a Kubernetes token needs a Kubernetes API to check the token, "
    "and none is configured here."
)
DONE_OF = {"acknowledge": "acknowledged", "snooze": "snoozed", "dismiss": "dismissed"}
log = structlog.get_logger("costbot.web")

Resolve = Callable[[str], Awaitable[Identity]]
Authenticate = Callable[[str], Awaitable[Identity | None]]


@dataclass(frozen=True)
class WebServices:
    """What the pages need, handed over by `bot/` from the frozen container."""

    costs: CostService
    access: AccessPolicy
    audit: AuditLog
    clock: Clock
    sessions: SessionStore
    resolve: Resolve  # Slack user id → Identity (the same resolver as Slack requests)
    authenticate: Authenticate  # Kubernetes token → Identity (TokenReview)
    oidc: SlackOidc | None = None
    currency: str = "USD"
    rec_actions: RecommendationActions | None = None
    digests: DigestService | None = None
    budgets: BudgetService | None = None
    secure_cookies: bool = False
    token_login: bool = True  # False: no Kubernetes API to ask TokenReview (the demo)


class SecurityHeaders:
    """CSP with no script at all, no framing, no sniffing, and nothing cached anywhere."""

    CSP = (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", self.CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                    (b"cache-control", b"private, no-store"),
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, sending)


class Page(Exception):
    """Stop and show the error page with this status and one plain line."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def build_web(s: WebServices) -> ASGIApp:  # noqa: PLR0915 - the routes share closures
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["money"] = lambda v: money(v, s.currency)

    def html(request: Request, name: str, code: int = 200, **context: Any) -> HTMLResponse:
        session: Session | None = getattr(request.state, "session", None)
        body = env.get_template(name).render(
            session=session,
            csrf=session.csrf if session else "",
            path=request.url.path,
            done=DONE.get(request.query_params.get("done", "")),
            demo=getattr(request.state, "demo", False),
            **context,
        )
        return HTMLResponse(body, status_code=code)

    def error(request: Request, status: int, message: str) -> HTMLResponse:
        return html(request, "error.html", status, status=status, message=message)

    async def form(request: Request) -> dict[str, str]:
        raw = await request.body()
        if len(raw) > MAX_FORM:
            raise Page(413, "That form was too large.")
        try:
            fields = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError as exc:
            raise Page(400, "That form could not be read.") from exc
        return {k: v[0] for k, v in fields.items()}

    async def session_of(request: Request) -> Session | None:
        return await s.sessions.get(request.cookies.get(COOKIE))

    async def who(request: Request) -> tuple[Session, Identity]:
        session = await session_of(request)
        if session is None:
            raise _SignIn
        identity = session.identity
        if session.how == "slack":  # re-resolved each time: map changes apply at once
            identity = await s.resolve(identity.slack_user_id)
        if not identity.mapped:
            raise Page(403, "Your Slack account is not mapped to a Kubernetes identity.")
        request.state.session = session
        return session, identity

    async def audit(identity: Identity, event: str, **fields: Any) -> None:
        await s.audit.record(event, identity.slack_user_id, via="web", **fields)

    def window_of(request: Request) -> tuple[str, TimeRange]:
        text = request.query_params.get("window", "7d")
        if text == "custom":
            start, end = request.query_params.get("from", ""), request.query_params.get("to", "")
            if not (DATE.match(start) and DATE.match(end)):
                raise UserInputError("Pick both dates of a custom window.")
            text = f"{start}..{end}"
        if len(text) > 64:
            raise UserInputError("That window is too long to read.")
        return text, parse_window(text, s.clock.now())

    async def scope_for(identity: Identity, window: TimeRange, **how: Any) -> Scope:
        return (await window_scope(s.costs, s.access, identity, window, **how)).scope

    def page(
        handler: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except _SignIn:
                return RedirectResponse("/login", 303)
            except Page as stop:
                return error(request, stop.status, stop.message)
            except NotFound:
                return error(request, 404, "Nothing by that name that you may see.")
            except UserInputError as exc:
                return error(request, 400, str(exc))
            except AuthorizationUnavailable:
                return error(
                    request,
                    503,
                    "Kubernetes could not be asked who may see what; "
                    "nothing is shown until it can.",
                )
            except NotAllowed as exc:
                return error(request, 403, str(exc) or "You may not do that.")
            except CostbotError as exc:
                log.warning("web.unavailable", error=type(exc).__name__)
                return error(request, 503, "The cost data is unavailable right now; try again.")
            except Exception:
                ref = uuid.uuid4().hex[:8]
                log.exception("web.failed", ref=ref)
                return error(request, 500, f"Something went wrong (reference {ref}).")

        return run

    # --- sign-in --------------------------------------------------------------------------
    async def login(request: Request) -> Response:
        token = secrets.token_urlsafe(24)
        response = html(
            request,
            "login.html",
            slack=s.oidc is not None,
            token_login=s.token_login,
            login_csrf=token,
            refused=request.query_params.get("refused", "") == "1",
        )
        _set_cookie(response, CSRF_COOKIE, token, 600, s.secure_cookies)
        return response

    async def login_slack(request: Request) -> Response:
        if s.oidc is None:
            raise Page(404, "Sign in with Slack is not set up here.")
        nonce = secrets.token_urlsafe(24)
        state = await s.sessions.begin_login(nonce)
        return RedirectResponse(s.oidc.config.authorize_url(state, nonce), 303)

    async def login_slack_callback(request: Request) -> Response:
        if s.oidc is None:
            raise Page(404, "Sign in with Slack is not set up here.")
        pending = await s.sessions.take_login(request.query_params.get("state", ""))
        code = request.query_params.get("code", "")
        if pending is None or not code:
            raise Page(400, "That sign-in link has expired or was already used; sign in again.")
        try:
            claims = await s.oidc.verify(await s.oidc.exchange(code), pending.nonce)
        except OidcRefused as refused:
            log.warning("web.login_refused", reason=str(refused))
            raise Page(401, str(refused)) from refused
        identity = await s.resolve(claims.user_id)
        await s.audit.record("web_login", claims.user_id, via="slack", mapped=identity.mapped)
        return await _start(identity, "slack", claims.name or claims.user_id)

    async def login_token(request: Request) -> Response:
        if not s.token_login:
            raise Page(404, NO_KUBE_SIGN_IN)
        fields = await form(request)
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if not cookie or not secrets.compare_digest(cookie, fields.get("csrf", "")):
            raise Page(403, "The form expired; reload the sign-in page and try again.")
        identity = await s.authenticate(fields.get("token", "").strip())
        if identity is None:
            await s.audit.record("web_login_refused", "k8s:?", via="token")
            return RedirectResponse("/login?refused=1", 303)
        await s.audit.record("web_login", identity.slack_user_id, via="token")
        return await _start(identity, "token", identity.k8s_user or "")

    async def _start(identity: Identity, how: str, name: str) -> Response:
        session = await s.sessions.create(identity, how, name)
        response = RedirectResponse("/", 303)
        _set_cookie(
            response, COOKIE, await s.sessions.cookie_for(session), s.sessions.ttl, s.secure_cookies
        )
        response.delete_cookie(CSRF_COOKIE)
        return response

    async def logout(request: Request) -> Response:
        session = await session_of(request)
        if session is not None:
            await s.sessions.end(session.id)
            await s.audit.record("web_logout", session.identity.slack_user_id, via="web")
        response = RedirectResponse("/login", 303)
        response.delete_cookie(COOKIE, secure=s.secure_cookies, httponly=True, samesite="lax")
        return response

    # --- pages ----------------------------------------------------------------------------
    async def savings_of(
        identity: Identity, namespace: str | None = None
    ) -> tuple[Any, dict[tuple[str, str], float]]:
        if s.rec_actions is None:
            return None, {}
        board = await s.rec_actions.board(identity, namespace)
        by: dict[tuple[str, str], float] = {}
        for item in board.items:
            key = (item.rec.cluster, item.rec.namespace)
            by[key] = by.get(key, 0.0) + item.rec.monthly_savings
        return board, by

    async def overview(request: Request) -> Response:
        _, identity = await who(request)
        text, span = window_of(request)
        scope = await scope_for(identity, span, with_previous=True)
        await audit(identity, "web_view", page="overview", window=text)
        if scope.empty:
            raise Page(403, "Kubernetes lets you see no namespace with cost data here.")
        table = await s.costs.namespace_table(span, scope)
        _, savings = await savings_of(identity)
        rows = views.overview_rows(table, savings)
        if request.query_params.get("format") == "csv":
            return _csv(
                "overview",
                [
                    {
                        "cluster": r.cluster,
                        "namespace": r.namespace,
                        "cost": round(r.cost, 4),
                        "previous": round(r.previous, 4),
                        "cpu": round(r.cpu, 4),
                        "ram": round(r.ram, 4),
                        "pv": round(r.pv, 4),
                        "other": round(r.other, 4),
                        "efficiency": "" if r.efficiency is None else round(r.efficiency, 4),
                        "open_savings_monthly": round(r.savings, 2),
                    }
                    for r in rows
                ],
            )
        request.state.demo = table.provenance.demo
        access = {
            cluster or "default": (
                scope.sees_cluster(cluster),
                sorted(n for n in names if scope.sees(n, cluster)),
            )
            for cluster, names in sorted((await s.costs.visible_namespaces(span)).items())
        }
        return html(
            request,
            "overview.html",
            identity=identity,
            table=table,
            rows=rows,
            cells=[r.cells(s.currency) for r in rows],
            window=text,
            windows=views.WINDOWS,
            span=span.describe(now=s.clock.now()),
            access=access,
            banners=views.banners(table.provenance, s.clock.now()),
            chart=views.stacked_chart(table, s.currency),
            total=money(table.total, s.currency),
            change=views.change(table.total, table.previous_total),
            custom=(request.query_params.get("from", ""), request.query_params.get("to", "")),
        )

    async def namespace(request: Request) -> Response:
        _, identity = await who(request)
        ns = request.path_params["ns"]
        if not NAME.match(ns):
            raise NotFound("bad name")
        text, span = window_of(request)
        scope = await scope_for(identity, span)
        await audit(identity, "web_view", page="namespace", namespace=ns, window=text)
        breakdown = await s.costs.namespace(ns, span, scope)  # hidden or absent: the same 404
        trend = await s.costs.compare(
            span, await scope_for(identity, span, with_previous=True), Focus(namespace=ns)
        )
        before = {
            (m.cluster, m.name): m.before for m in trend.up + trend.down + trend.new + trend.gone
        }
        board, _ = await savings_of(identity, ns)
        recs = (
            [] if board is None else [i for i in board.items + board.risks if i.rec.namespace == ns]
        )
        previous = {
            (w.cluster, w.name): before.get((w.cluster, w.name), w.cost)
            for w in breakdown.workloads
        }
        workloads = [(w, previous[(w.cluster, w.name)]) for w in breakdown.workloads]
        if request.query_params.get("format") == "csv":
            return _csv(
                f"namespace-{ns}",
                [
                    {
                        "cluster": w.cluster,
                        "workload": w.name,
                        "kind": w.kind,
                        "cost": round(w.cost, 4),
                        "previous": round(was, 4),
                        "pods": w.pods,
                        "efficiency": "" if w.efficiency is None else round(w.efficiency, 4),
                    }
                    for w, was in workloads
                ],
            )
        request.state.demo = breakdown.provenance.demo
        return html(
            request,
            "namespace.html",
            ns=ns,
            breakdown=breakdown,
            workloads=workloads,
            recs=recs,
            window=text,
            windows=views.WINDOWS,
            efficiency=views.efficiency,
            change=views.change,
            span=span.describe(now=s.clock.now()),
            banners=views.banners(breakdown.provenance, s.clock.now()),
            total=money(breakdown.total, s.currency),
        )

    async def act(request: Request) -> Response:
        session, identity = await who(request)
        fields = await form(request)
        if not secrets.compare_digest(fields.get("csrf", ""), session.csrf):
            raise Page(403, "The form expired; reload the page and try again.")
        if s.rec_actions is None:
            raise Page(404, "Recommendations are not enabled here.")
        rec_id, what = request.path_params["rec_id"][:64], request.path_params["action"]
        back = fields.get("back", "/recommendations")
        if not back.startswith("/") or back.startswith("//") or "?" in back or "\\" in back:
            back = "/recommendations"
        try:
            result = await perform(s.rec_actions, identity, rec_id, what, fields)
        except StaleAction:  # rendered from an older version: nothing was changed
            return html(request, "stale.html", 409, back=back)
        done = DONE_OF[what] if result.changed else "unchanged"
        return RedirectResponse(f"{back}?done={done}", 303)

    async def perform(
        actions: RecommendationActions,
        identity: Identity,
        rec_id: str,
        what: str,
        fields: dict[str, str],
    ) -> ActionResult:
        """One action by its name in the path, with the same checks and audit as Slack's."""
        version = fields.get("version", "")
        if what == "acknowledge":
            return await actions.acknowledge(identity, rec_id, version)
        if what == "snooze":
            days = fields.get("days", "")
            if days not in ("7", "30"):
                raise UserInputError("Snooze for 7 or 30 days.")
            return await actions.snooze(identity, rec_id, version, int(days))
        if what == "dismiss":
            return await actions.dismiss(identity, rec_id, version, fields.get("reason", ""))
        raise Page(404, "No such action.")

    async def recommendations(request: Request) -> Response:
        _, identity = await who(request)
        await audit(identity, "web_view", page="recommendations")
        if s.rec_actions is None:
            raise Page(404, "Recommendations are not enabled here.")
        board = await s.rec_actions.board(identity, None)
        items = board.items + board.risks
        if request.query_params.get("format") == "csv":
            return _csv(
                "recommendations",
                [
                    {
                        "id": i.rec.id,
                        "cluster": i.rec.cluster,
                        "namespace": i.rec.namespace,
                        "workload": f"{i.rec.kind}/{i.rec.controller}",
                        "container": i.rec.container,
                        "title": i.rec.title,
                        "monthly_savings": round(i.rec.monthly_savings, 2),
                        "status": i.state.status,
                        "kubectl_patch": i.rec.kubectl_patch,
                    }
                    for i in items
                ],
            )
        request.state.demo = board.demo
        return html(
            request,
            "recommendations.html",
            items=items,
            total=money(board.total_savings, s.currency),
        )

    async def budgets(request: Request) -> Response:
        _, identity = await who(request)
        await audit(identity, "web_view", page="budgets")
        budget_rows = await s.budgets.visible_to(identity) if s.budgets else []
        digest_rows = await s.digests.visible_to(identity) if s.digests else []
        if request.query_params.get("format") == "csv":
            return _csv(
                "budgets",
                [
                    {
                        "id": b.budget.id,
                        "channel": b.budget.channel,
                        "kind": b.budget.kind,
                        "target": b.budget.target if b.target_visible else "(hidden)",
                        "amount": b.budget.amount,
                    }
                    for b in budget_rows
                ],
            )
        return html(
            request, "budgets.html", budgets=budget_rows, digests=digest_rows, when=views.when
        )

    async def not_found(request: Request, exc: Exception) -> Response:
        return error(request, 404, "Nothing by that name that you may see.")

    routes = [
        Route("/", page(overview)),
        Route("/login", page(login)),
        Route("/login/slack", page(login_slack)),
        Route("/login/slack/callback", page(login_slack_callback)),
        Route("/login/token", page(login_token), methods=["POST"]),
        Route("/logout", page(logout)),
        Route("/namespaces/{ns}", page(namespace)),
        Route("/recommendations", page(recommendations)),
        Route("/recommendations/{rec_id}/{action}", page(act), methods=["POST"]),
        Route("/budgets", page(budgets)),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    return SecurityHeaders(app)


class _SignIn(Exception):
    """No session: go to the sign-in page."""


def _set_cookie(response: Response, name: str, value: str, max_age: int, secure: bool) -> None:
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, secure=secure, samesite="lax", path="/"
    )


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _csv(name: str, rows: Sequence[dict[str, Any]]) -> Response:
    """The table as CSV; text cells that a spreadsheet would run as a formula get a quote."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    columns = list(rows[0]) if rows else ["none"]
    writer.writerow(columns)
    for row in rows:
        writer.writerow(
            [
                "'" + v if isinstance(v, str) and v.startswith(_FORMULA) else v
                for v in (row.get(c, "") for c in columns)
            ]
        )
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{safe}.csv"'},
    )
