"""A local Kubernetes API server for tests: SubjectAccessReviews answered from RBAC objects by
StaticRbac, TokenReviews of tokens it minted, HPA lists, /version; real HTTP on 127.0.0.1 that
the real kubernetes client talks to.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from demo.rbac import BOT_SERVICE_ACCOUNT, DEMO_RBAC, StaticRbac
from services.access.models import AccessCheck

SAR_PATH = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
SELF_SAR_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
HPA_PATH = "/apis/autoscaling/v2/horizontalpodautoscalers"
NAMESPACES_PATH = "/api/v1/namespaces"
TOKEN_REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"
TOKEN = "costbot-test-token"


@dataclass(frozen=True)
class MintedToken:
    """What the stand-in knows about a token it minted (as a service account token's claims)."""

    user: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict)
    audiences: tuple[str, ...] = ("costbot",)
    expires_at: float = 0.0  # Unix seconds; 0 = never


def _b64(document: dict[str, Any]) -> str:
    raw = json.dumps(document, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hpa_object(
    namespace: str,
    name: str,
    *,
    target_kind: str = "Deployment",
    target_name: str | None = None,
    cpu_utilization: int | None = 70,
    memory_utilization: int | None = None,
) -> dict[str, Any]:
    """One autoscaling/v2 HorizontalPodAutoscaler in the API server's JSON shape."""
    metrics = [
        {
            "type": "Resource",
            "resource": {
                "name": resource,
                "target": {"type": "Utilization", "averageUtilization": value},
            },
        }
        for resource, value in (("cpu", cpu_utilization), ("memory", memory_utilization))
        if value is not None
    ]
    return {
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": "4711"},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "batch/v1" if target_kind == "CronJob" else "apps/v1",
                "kind": target_kind,
                "name": target_name or name,
            },
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": metrics,
        },
        "status": {"currentReplicas": 2, "desiredReplicas": 2},
    }


def _status(code: int, reason: str, message: str) -> web.Response:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return web.json_response(body, status=code)


class KubeApiStandIn:
    """Modes: "ok", "down" (nothing listens on the port), "status_500" (every call fails).
    With `ssl_context` it serves https (its certificate, and whether it asks for a client's).

    `requests` counts calls by kind ("sar", "self_sar", "hpa", "version", "api"); `delay` slows
    SARs so tests can watch `max_in_flight`. `allowed_as`, when not None, is sent verbatim as
    every review's `status.allowed` (e.g. the string "false"), as a broken or hostile API server
    might; `denied_as` likewise for `status.denied`."""

    def __init__(
        self,
        rbac_objects: Iterable[Mapping[str, Any]] = DEMO_RBAC,
        *,
        token: str = TOKEN,
        bot_user: str = BOT_SERVICE_ACCOUNT,
        bot_groups: tuple[str, ...] = ("system:serviceaccounts", "system:serviceaccounts:costbot"),
        hpas: Iterable[dict[str, Any]] = (),
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.rbac = StaticRbac(rbac_objects)
        self.ssl_context = ssl_context  # serve https with it (a test's own CA) when given
        self.token, self.bot_user, self.bot_groups = token, bot_user, bot_groups
        self.hpas = list(hpas)
        # Namespaces the API lists: those of the RBAC objects, `kube-system`, `default`, plus these.
        self.extra_namespaces: set[str] = set()
        self.mode = "ok"
        self.delay = 0.0
        self.allowed_as: Any = None
        self.denied_as: Any = None
        self.requests: Counter[str] = Counter()
        self.sar_bodies: list[dict[str, Any]] = []
        self.minted: dict[str, MintedToken] = {}
        # Real API servers only authenticate a token for the audiences it was minted for; set
        # this to answer "authenticated" whatever the audience, as a broken authenticator might.
        self.ignore_audiences = False
        self.now: Callable[[], float] = time.time
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.port = 0
        self.kubeconfig: Path | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    # --- life cycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()
        self._run(self._listen())

    def stop(self) -> None:
        self._run(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def set_mode(self, mode: str) -> None:
        if mode not in ("ok", "down", "status_500"):
            raise ValueError(mode)
        if mode == "down" and self._runner is not None:
            self._run(self._close())
        elif mode != "down" and self._runner is None:
            self._run(self._listen())
        self.mode = mode

    def _run(self, coro: Any) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _listen(self) -> None:
        app = web.Application()
        app.router.add_post(SAR_PATH, self._sar)
        app.router.add_post(SELF_SAR_PATH, self._self_sar)
        app.router.add_post(TOKEN_REVIEW_PATH, self._token_review)
        app.router.add_get(HPA_PATH, self._hpas)
        app.router.add_get(NAMESPACES_PATH, self._namespaces)
        app.router.add_get("/version", self._version)
        app.router.add_get("/api", self._api)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self.ssl_context)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def _close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()  # closes kept-alive client connections too
            self._runner = None

    # --- handlers -------------------------------------------------------------------------------
    def _refuse(self, request: web.Request, kind: str) -> web.Response | None:
        self.requests[kind] += 1
        self.headers.append(dict(request.headers))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _status(401, "Unauthorized", "Unauthorized")
        if self.mode == "status_500":
            return _status(500, "InternalError", "etcdserver: request timed out")
        return None

    # --- tokens ---------------------------------------------------------------------------------
    def mint_token(
        self,
        user: str,
        groups: Iterable[str] = (),
        *,
        uid: str = "",
        extra: Mapping[str, list[str]] | None = None,
        audiences: Iterable[str] = ("costbot",),
        expires_in: float | None = 3600.0,
    ) -> str:
        """A JWT-shaped bearer token (unsigned: only this stand-in can review it) whose `exp`
        and `aud` claims say what the review will say, like `kubectl create token`."""
        minted = MintedToken(
            user=user,
            groups=tuple(groups),
            uid=uid or f"uid-{secrets.token_hex(4)}",
            extra=dict(extra or {}),
            audiences=tuple(audiences),
            expires_at=0.0 if expires_in is None else self.now() + expires_in,
        )
        claims: dict[str, Any] = {"sub": user, "aud": list(minted.audiences)}
        if minted.expires_at:
            claims["exp"] = int(minted.expires_at)
        token = ".".join(
            [_b64({"alg": "RS256", "typ": "JWT"}), _b64(claims), secrets.token_urlsafe(24)]
        )
        self.minted[token] = minted
        return token

    async def _token_review(self, request: web.Request) -> web.Response:
        if refused := self._refuse(request, "token_review"):
            return refused
        if not self._bot_may("create", "authentication.k8s.io", "tokenreviews"):
            return _status(
                403,
                "Forbidden",
                f"tokenreviews.authentication.k8s.io is forbidden: User "
                f'"{self.bot_user}" cannot create resource "tokenreviews" in API group '
                '"authentication.k8s.io" at the cluster scope',
            )
        spec = (await request.json()).get("spec", {})
        asked = tuple(spec.get("audiences") or ())
        minted = self.minted.get(str(spec.get("token", "")))
        status: dict[str, Any] = {"authenticated": False}
        if minted is None:
            status["error"] = "invalid bearer token"
        elif minted.expires_at and self.now() >= minted.expires_at:
            status["error"] = "invalid bearer token, token has expired"
        else:
            matching = [aud for aud in minted.audiences if aud in asked or not asked]
            if self.ignore_audiences:
                matching = list(minted.audiences)
            if not matching:
                status["error"] = "invalid bearer token, token audiences is invalid"
            else:
                status = {
                    "authenticated": True,
                    "user": {
                        "username": minted.user,
                        "uid": minted.uid,
                        "groups": [*minted.groups, "system:authenticated"],
                        "extra": minted.extra,
                    },
                    "audiences": matching,
                }
        return web.json_response(
            {
                "kind": "TokenReview",
                "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"creationTimestamp": None},
                "spec": {"audiences": list(asked)},  # never echo the token back
                "status": status,
            },
            status=201,
        )

    def _bot_may(self, verb: str, group: str, resource: str) -> bool:
        check = AccessCheck(verb=verb, resource=resource, group=group)
        return self.rbac.allowed(self.bot_user, self.bot_groups, check)[0]

    async def _sar(self, request: web.Request) -> web.Response:
        if refused := self._refuse(request, "sar"):
            return refused
        if not self._bot_may("create", "authorization.k8s.io", "subjectaccessreviews"):
            return _status(
                403,
                "Forbidden",
                f"subjectaccessreviews.authorization.k8s.io is "
                f'forbidden: User "{self.bot_user}" cannot create resource '
                f'"subjectaccessreviews" in API group "authorization.k8s.io" at the '
                "cluster scope",
            )
        body = await request.json()
        self.sar_bodies.append(body)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        spec = body.get("spec", {})
        return self._review("SubjectAccessReview", spec, spec.get("user", ""), spec.get("groups"))

    async def _self_sar(self, request: web.Request) -> web.Response:
        if refused := self._refuse(request, "self_sar"):
            return refused
        spec = (await request.json()).get("spec", {})
        return self._review("SelfSubjectAccessReview", spec, self.bot_user, self.bot_groups)

    def _review(
        self, kind: str, spec: dict[str, Any], user: str, groups: Iterable[str] | None
    ) -> web.Response:
        attrs = spec.get("resourceAttributes") or {}
        check = AccessCheck(
            verb=attrs.get("verb", ""),
            resource=attrs.get("resource", ""),
            group=attrs.get("group", ""),
            namespace=attrs.get("namespace", ""),
            name=attrs.get("name", ""),
        )
        allowed, reason = self.rbac.allowed(user, groups or (), check)
        status: dict[str, Any] = {"allowed": allowed}
        if allowed:
            status["reason"] = reason
        if self.allowed_as is not None:
            status["allowed"] = self.allowed_as
        if self.denied_as is not None:
            status["denied"] = self.denied_as
        return web.json_response(
            {
                "kind": kind,
                "apiVersion": "authorization.k8s.io/v1",
                "metadata": {"creationTimestamp": None},
                "spec": spec,
                "status": status,
            }
        )

    async def _hpas(self, request: web.Request) -> web.Response:
        if refused := self._refuse(request, "hpa"):
            return refused
        if not self._bot_may("list", "autoscaling", "horizontalpodautoscalers"):
            return _status(403, "Forbidden", "horizontalpodautoscalers.autoscaling is forbidden")
        start = int(request.query.get("continue") or 0)
        limit = int(request.query.get("limit") or len(self.hpas) or 1)
        page = self.hpas[start : start + limit]
        meta: dict[str, Any] = {"resourceVersion": "4711"}
        if start + limit < len(self.hpas):
            meta["continue"] = str(start + limit)
        return web.json_response(
            {
                "kind": "HorizontalPodAutoscalerList",
                "apiVersion": "autoscaling/v2",
                "metadata": meta,
                "items": page,
            }
        )

    def namespace_names(self) -> list[str]:
        return sorted({"default", "kube-system", *self.rbac.namespaces(), *self.extra_namespaces})

    async def _namespaces(self, request: web.Request) -> web.Response:
        if refused := self._refuse(request, "namespaces"):
            return refused
        if not self._bot_may("list", "", "namespaces"):
            return _status(
                403,
                "Forbidden",
                f'namespaces is forbidden: User "{self.bot_user}" cannot list resource '
                '"namespaces" in API group "" at the cluster scope',
            )
        names = self.namespace_names()
        start = int(request.query.get("continue") or 0)
        limit = int(request.query.get("limit") or len(names) or 1)
        meta: dict[str, Any] = {"resourceVersion": "4712"}
        if start + limit < len(names):
            meta["continue"] = str(start + limit)
        items = [
            {"metadata": {"name": name, "uid": f"uid-{name}"}, "status": {"phase": "Active"}}
            for name in names[start : start + limit]
        ]
        return web.json_response(
            {"kind": "NamespaceList", "apiVersion": "v1", "metadata": meta, "items": items}
        )

    async def _version(self, request: web.Request) -> web.Response:
        self.requests["version"] += 1
        return web.json_response(
            {
                "major": "1",
                "minor": "31",
                "gitVersion": "v1.31.0-costbot-standin",
                "gitCommit": "0" * 40,
                "gitTreeState": "clean",
                "buildDate": "2024-08-13T07:28:49Z",
                "goVersion": "go1.22.5",
                "compiler": "gc",
                "platform": "linux/amd64",
            }
        )

    async def _api(self, request: web.Request) -> web.Response:
        self.requests["api"] += 1
        return web.json_response(
            {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.port}"}
                ],
            }
        )


def write_kubeconfig(path: Path, server_url: str, token: str = TOKEN) -> Path:
    """A kubeconfig with bearer-token auth that the real kubernetes client loads."""
    tls = {"insecure-skip-tls-verify": True} if server_url.startswith("https") else {}
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "standin", "cluster": {"server": server_url, **tls}}],
        "users": [{"name": "costbot", "user": {"token": token}}],
        "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "costbot"}}],
        "current-context": "standin",
        "preferences": {},
    }
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


@pytest.fixture
def kube_api(tmp_path: Path) -> Iterator[KubeApiStandIn]:
    """A running stand-in with DEMO_RBAC and a kubeconfig for it at `.kubeconfig`."""
    standin = KubeApiStandIn()
    standin.start()
    standin.kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", standin.url, standin.token)
    yield standin
    standin.stop()
