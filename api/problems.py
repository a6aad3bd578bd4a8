"""Errors as RFC 9457 problem details (`application/problem+json`).

Domain errors from the services map to statuses here, once: the words are the services' own
(the same words `/cost` shows), never a traceback, and nothing that hints a hidden namespace
exists: hidden and absent are the same 404.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from services.errors import (
    AuthorizationUnavailable,
    CostbotError,
    DependencyError,
    NotAllowed,
    NotFound,
    OpenCostError,
    StaleAction,
    StoreUnavailable,
    UserInputError,
)
from services.recommendations.actions import UNAVAILABLE

PROBLEM = "application/problem+json"
CHALLENGE = 'Bearer realm="costbot", error="invalid_token"'
RETRY_SECONDS = 30
log = structlog.get_logger("costbot.api")

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    422: "Unprocessable request",
    429: "Too many requests",
    503: "Service unavailable",
}


class ApiProblem(Exception):
    """A problem raised by the API layer itself (authentication, rate limit, body size)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers, self.extra = status, detail, headers or {}, extra


def problem(
    request: Request | None,
    status: int,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path  # the path only: a query string may hold secrets
    body.update({key: value for key, value in extra.items() if value is not None})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM)


def unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(401, detail, headers={"WWW-Authenticate": CHALLENGE})


def status_for(error: CostbotError) -> tuple[int, dict[str, str]]:
    retry = {"Retry-After": str(RETRY_SECONDS)}
    if isinstance(error, UserInputError):
        return 400, {}
    if isinstance(error, NotFound):
        return 404, {}
    if isinstance(error, NotAllowed):
        # A recommendation the caller may not see reads exactly like one that does not exist.
        return (404, {}) if str(error) == UNAVAILABLE else (403, {})
    if isinstance(error, StaleAction):
        return 409, {}
    if isinstance(error, OpenCostError | AuthorizationUnavailable | StoreUnavailable):
        return 503, retry
    if isinstance(error, DependencyError):
        return 503, retry
    return 400, {}


def words(error: CostbotError, status: int) -> str:
    if isinstance(error, OpenCostError):
        return "OpenCost is not answering and no earlier answer is cached; try again shortly."
    if isinstance(error, AuthorizationUnavailable):
        return "The Kubernetes API could not be asked who you are or what you may see."
    if isinstance(error, StoreUnavailable):
        return "costbot's store (Redis) is not answering; try again shortly."
    if status == 404 and isinstance(error, NotAllowed):
        return "No such recommendation that you may see."
    text = str(error)
    hint = getattr(error, "hint", "")
    return f"{text} {hint}".strip() if hint else text


def install(app: FastAPI) -> None:
    """Every error the API can raise, as problem+json."""

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiProblem)
        return problem(request, exc.status, exc.detail, exc.headers, **exc.extra)

    async def on_domain(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CostbotError)
        status, headers = status_for(exc)
        if status == 503:
            log.warning("api.dependency_failed", error=type(exc).__name__)
        return problem(request, status, words(exc, status), headers)

    async def on_invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "message": _msg(e)}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(request, 422, detail, errors=errors)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "")
        return problem(request, exc.status_code, detail, dict(exc.headers or {}))

    app.add_exception_handler(ApiProblem, on_problem)
    app.add_exception_handler(CostbotError, on_domain)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(StarletteHTTPException, on_http)


def _msg(error: Any) -> str:
    return str(error.get("msg", "invalid")).removeprefix("Value error, ")
