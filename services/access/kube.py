"""The Kubernetes API adapter: SubjectAccessReviews, TokenReviews and HPA listing.

The only module that imports `kubernetes`. SubjectAccessReviews (thousands per cold scope) are
posted with an aiohttp session built from the official client's loaded `Configuration`;
the rest uses the official client, which is sync, so those calls run in a thread. Every call
has a timeout and its exceptions are translated here, once. Never impersonates anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import ssl
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import aiohttp
import certifi
import orjson
import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException, OpenApiException
from kubernetes.client.rest import should_bypass_proxies as _bypass
from kubernetes.config.config_exception import ConfigException

from services.access.models import AccessCheck
from services.errors import AuthorizationUnavailable, DependencyError

T = TypeVar("T")
# SAR bodies carry the groups explicitly; the API server does not add `system:authenticated`
# to them the way its authenticator does for real requests, so we add it ourselves to get the
# answer `kubectl auth can-i` would give that user.
AUTHENTICATED = "system:authenticated"
_HPA_PAGE = 500
_SAR_PATH = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
_JSON_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}
SAR_CONNECTIONS = 16  # reviews in flight toward one API server, over every caller at once
TOKEN_INTERVAL = 1.0  # seconds a read bearer token is reused before the configuration is asked


class KubeApiUnavailable(DependencyError):
    """The Kubernetes API could not be asked for something other than an authorization."""


class CpuHpa(NamedTuple):
    """An HPA scaling a workload on average CPU utilization (fraction of requests, 0.7 = 70 %)."""

    namespace: str
    target_kind: str
    target_name: str
    target_cpu_utilization: float


class TokenReviewed(NamedTuple):
    """What the API server said about a bearer token. `authenticated` is True only when
    `status.authenticated` was the JSON boolean true; the rest is copied as sent."""

    authenticated: bool
    user: str = ""
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()
    audiences: tuple[str, ...] = ()
    error: str = ""


class KubeApi:
    """A handle on one cluster's API server, with the bot's own credentials.

    SubjectAccessReviews, the hot path (one per namespace in a cold scope), go through an
    aiohttp session built from the client's loaded `Configuration` (host, TLS, client
    certificate, proxy, bearer token): httpx measured ~0.9 ms of CPU per review against
    aiohttp's ~0.1 ms. The rest goes through the kubernetes client in a thread.
    At most `connections` reviews are in flight toward the API server at once, over every
    caller; more wait for a connection. Call `aclose()` (or `close()` outside a loop)."""

    def __init__(
        self,
        api_client: Any,
        *,
        timeout: float = 5.0,
        connections: int = SAR_CONNECTIONS,
        token_interval: float = TOKEN_INTERVAL,
    ) -> None:
        self._client = api_client
        self._config = api_client.configuration
        self._timeout = (min(timeout, 3.0), timeout)  # (connect, read) seconds
        self.host: str = str(self._config.host)
        self.source = "given client"
        self._sar_url = self.host.rstrip("/") + _SAR_PATH
        self._connections = max(1, connections)
        self._token_interval = max(0.0, token_interval)
        # Only https needs one (loading certifi's bundle costs ~0.1 s of CPU per handle).
        https = self.host.lower().startswith("https:")
        self._tls: ssl.SSLContext | bool = _tls_context(self._config, self.host) if https else True
        self._sni = _server_name(self._config)
        self._session: _Session | None = None

    @classmethod
    def from_config(
        cls, kubeconfig: str | None = None, *, context: str | None = None, timeout: float = 5.0
    ) -> KubeApi:
        """KUBECONFIG (argument, then environment), else the in-cluster service account, else
        ~/.kube/config; `context` picks one of the kubeconfig's contexts (default: current).
        Raises AuthorizationUnavailable naming what was tried."""
        cfg = client.Configuration()
        cfg.retries = 1  # fail closed quickly; the caller's cache absorbs blips
        source = _load_config(cfg, kubeconfig or os.environ.get("KUBECONFIG"), context)
        api = cls(client.ApiClient(cfg), timeout=timeout)
        api.source = source
        return api

    async def aclose(self) -> None:
        """Close the review connections (on the loop that opened them), then the client."""
        session, self._session = self._session, None
        if session is not None and session.loop is asyncio.get_running_loop():
            await session.http.close()
        self.close()

    def close(self) -> None:
        """Close the kubernetes client's pool. Review connections need `aclose()`; outside a
        running loop they are closed here only if their loop is still open."""
        session, self._session = self._session, None
        if session is not None and not session.loop.is_closed():
            if session.loop.is_running():
                session.loop.create_task(session.http.close())
            else:
                session.loop.run_until_complete(session.http.close())
        self._client.close()
        self._client.rest_client.pool_manager.clear()

    async def subject_access_review(
        self,
        user: str,
        groups: Iterable[str],
        check: AccessCheck,
        *,
        uid: str = "",
        extra: Mapping[str, Sequence[str]] | None = None,
    ) -> bool:
        """May `user` in `groups` do `check`? Groups travel in the SAR spec (a JSON list), never
        as impersonation headers, which the generated client cannot repeat. `uid` and `extra`
        (from a TokenReview) travel too, so authorizers that read them decide as they would
        for the caller's own request.

        The review is posted as plain JSON with aiohttp on the event loop (the configuration's
        credentials, TLS and timeouts) and read raw: the generated model layer, then the sync
        client's thread hop, urllib3 and parameter sanitizing, cost a scope over 2 000
        namespaces most of its CPU."""
        attributes = {"verb": check.verb, "group": check.group, "resource": check.resource}
        if check.namespace:  # omitted = all namespaces
            attributes["namespace"] = check.namespace
        if check.name:
            attributes["name"] = check.name
        spec: dict[str, object] = {
            "user": user,
            "groups": sorted({*groups, AUTHENTICATED}),
            "resourceAttributes": attributes,
        }
        if uid:
            spec["uid"] = uid
        if extra:
            spec["extra"] = {key: list(values) for key, values in extra.items()}
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": spec,
        }
        return _allowed(await self._post_review(orjson.dumps(body)))

    async def token_review(self, token: str, audiences: Sequence[str]) -> TokenReviewed:
        """Who a bearer token belongs to, as the API server's authenticators say, for tokens
        minted for one of `audiences`. The token goes only into the review's body; it is never
        logged, and an error message never contains it."""
        body = client.V1TokenReview(
            api_version="authentication.k8s.io/v1",
            kind="TokenReview",
            spec=client.V1TokenReviewSpec(token=token, audiences=list(audiences)),
        )
        api = client.AuthenticationV1Api(self._client)
        raw = await self._call(
            "create tokenreviews",
            lambda: _read(
                api.create_token_review(
                    body=body, _request_timeout=self._timeout, _preload_content=False
                )
            ),
            AuthorizationUnavailable,
        )
        return _token_reviewed(raw)

    async def can_create_sar(self) -> bool:
        """Whether the bot's own identity may create SubjectAccessReviews (`costbot check`)."""
        body = client.V1SelfSubjectAccessReview(
            api_version="authorization.k8s.io/v1",
            kind="SelfSubjectAccessReview",
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    verb="create", group="authorization.k8s.io", resource="subjectaccessreviews"
                )
            ),
        )
        api = client.AuthorizationV1Api(self._client)
        raw = await self._call(
            "create selfsubjectaccessreviews",
            lambda: _read(
                api.create_self_subject_access_review(
                    body=body, _request_timeout=self._timeout, _preload_content=False
                )
            ),
            AuthorizationUnavailable,
        )
        return _allowed(raw)

    async def namespace_names(self) -> list[str]:
        """Every namespace's name (paged, read raw: the model layer would cost ~1 ms each)."""
        api = client.CoreV1Api(self._client)
        names: list[str] = []
        token: str | None = None
        while True:
            raw = await self._call(
                "list namespaces",
                functools.partial(
                    lambda cont: _read(
                        api.list_namespace(
                            limit=_HPA_PAGE,
                            _continue=cont,
                            _request_timeout=self._timeout,
                            _preload_content=False,
                        )
                    ),
                    token,
                ),
                KubeApiUnavailable,
            )
            page = orjson.loads(raw)
            if not isinstance(page, dict) or not isinstance(page.get("items"), list):
                raise KubeApiUnavailable(
                    f"the Kubernetes API at {self.host} sent no namespace list"
                )
            for item in page["items"]:
                name = (item.get("metadata") or {}).get("name") if isinstance(item, dict) else None
                if isinstance(name, str) and name:
                    names.append(name)
            token = (page.get("metadata") or {}).get("continue") or None
            if not token:
                return names

    async def cpu_hpas(self) -> list[CpuHpa]:
        """Every HPA with a CPU `Utilization` target, across all namespaces (paged)."""
        api = client.AutoscalingV2Api(self._client)
        found: list[CpuHpa] = []
        token: str | None = None
        while True:
            page = await self._call(
                "list horizontalpodautoscalers",
                functools.partial(
                    api.list_horizontal_pod_autoscaler_for_all_namespaces,
                    limit=_HPA_PAGE,
                    _continue=token,
                    _request_timeout=self._timeout,
                ),
                KubeApiUnavailable,
            )
            found.extend(hpa for item in page.items or [] if (hpa := _cpu_hpa(item)))
            token = getattr(page.metadata, "_continue", None)
            if not token:
                return found

    async def _call(self, what: str, call: Callable[[], T], error: type[DependencyError]) -> T:
        try:
            return await asyncio.to_thread(call)
        except ApiException as exc:
            raise error(_refusal(what, exc)) from exc
        except (OpenApiException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            # ValueError: the client rejects a wrongly shaped response while deserializing.
            raise error(f"cannot reach the Kubernetes API at {self.host} ({what}): {exc}") from exc

    # --- SubjectAccessReviews on the event loop -------------------------------------------------
    async def _post_review(self, body: bytes) -> bytes:
        """POST one review; its raw answer. Transport failures and refusals raise
        AuthorizationUnavailable naming the host (never the token).

        A dropped connection is tried once more on a fresh one (the client's `retries = 1`): a
        kept-alive connection the server or a load balancer closed while idle is not an
        outage, and a review changes nothing, so sending it twice is harmless. Timeouts and
        answers are never retried."""
        what = "create subjectaccessreviews"
        session = self._current_session()
        headers = {**_JSON_HEADERS, "Authorization": await self._authorization(session)}
        for attempt in (1, 2):
            try:
                async with session.http.post(
                    self._sar_url, data=body, headers=headers, **session.options
                ) as response:
                    raw = await response.read()
                    status, reason = response.status, response.reason
                break
            except TimeoutError as exc:  # aiohttp's ServerTimeoutError is one too
                raise AuthorizationUnavailable(
                    f"cannot reach the Kubernetes API at {self.host} ({what}): timed out"
                ) from exc
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                if attempt == 1 and isinstance(exc, aiohttp.ClientConnectionError | OSError):
                    continue
                raise AuthorizationUnavailable(
                    f"cannot reach the Kubernetes API at {self.host} ({what}): {_reason(exc)}"
                ) from exc
        if status >= 300:
            raise AuthorizationUnavailable(_refused(what, status, reason, raw))
        return raw

    def _current_session(self) -> _Session:
        """The review session of the running loop (connections belong to the loop that opened
        them; a process runs one, but a handle may outlive a test's loop)."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.loop is not loop:
            self._session = _Session.open(self, loop)
        return self._session

    async def _authorization(self, session: _Session) -> str:
        """The bearer header as the configuration says now, re-read every `token_interval`
        seconds: `get_api_key_with_prefix` runs the loader's refresh hook (a rotated in-cluster
        token file, an expired exec-plugin credential), which may read files or run a command,
        so it runs in a thread."""
        if session.token is not None and time.monotonic() < session.token_until:
            return session.token
        async with session.token_lock:
            if session.token is None or time.monotonic() >= session.token_until:
                session.token = await asyncio.to_thread(self._read_token)
                session.token_until = time.monotonic() + self._token_interval
            return session.token

    def _read_token(self) -> str:
        try:
            token = self._config.get_api_key_with_prefix("authorization")
        except (ConfigException, OSError, ValueError, TypeError, KeyError) as exc:
            raise AuthorizationUnavailable(
                f"cannot refresh the credentials for the Kubernetes API at {self.host} "
                f"({type(exc).__name__})"
            ) from exc
        return str(token or "")


class _Session:
    """One event loop's review session (its connection pool), and the bearer header it last
    read."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        http: aiohttp.ClientSession,
        options: dict[str, Any],
    ) -> None:
        self.loop, self.http, self.options = loop, http, options
        self.token: str | None = None
        self.token_until = 0.0
        self.token_lock = asyncio.Lock()

    @classmethod
    def open(cls, api: KubeApi, loop: asyncio.AbstractEventLoop) -> _Session:
        """A pool of `connections` to the API server, the client's TLS, its (connect, read)
        timeouts and its proxy. Waiting for a free connection has no deadline of its own: every
        held one is bounded by the timeouts."""
        connect, read = api._timeout
        cfg = api._config
        options: dict[str, Any] = {"allow_redirects": False}  # a 3xx is a refusal
        if cfg.proxy and not _bypass(api.host, cfg.no_proxy):
            options["proxy"] = cfg.proxy
        if api._sni:
            options["server_hostname"] = api._sni
        http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=api._connections, ssl=api._tls),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read),
            trust_env=False,  # the Configuration already read the proxy environment
            headers={"User-Agent": str(api._client.user_agent)},  # as the client's own calls
        )
        return cls(loop, http, options)


def _reason(exc: BaseException) -> str:
    """A transport failure in words, with the operating system's reason when there is one
    (aiohttp's connector message alone says "Connect call failed")."""
    os_error = getattr(exc, "os_error", None)
    detail = getattr(os_error, "strerror", None)
    if isinstance(os_error, OSError) and os_error.errno:
        detail = os.strerror(os_error.errno)
    return f"{exc} ({detail})" if detail and detail not in str(exc) else str(exc)


def _tls_context(cfg: Any, host: str) -> ssl.SSLContext:
    """What the kubernetes client's urllib3 pool would verify and present: the CA file (else
    certifi's), `verify_ssl` (insecure-skip-tls-verify), `assert_hostname=False`, and the
    client certificate. Unreadable files are a config error, said once, at start."""
    try:
        context = ssl.create_default_context(cafile=cfg.ssl_ca_cert or certifi.where())
        if not cfg.verify_ssl:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif cfg.assert_hostname is False:
            context.check_hostname = False
        if cfg.cert_file:
            context.load_cert_chain(cfg.cert_file, cfg.key_file or None)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise AuthorizationUnavailable(
            f"cannot load the TLS settings for the Kubernetes API at {host}: {exc}"
        ) from exc
    return context


def _server_name(cfg: Any) -> str:
    """The name the server's certificate is checked against (and sent as SNI), when the
    kubeconfig names one other than the host: `tls-server-name`, or a string assert_hostname."""
    if cfg.tls_server_name:
        return str(cfg.tls_server_name)
    return cfg.assert_hostname if isinstance(cfg.assert_hostname, str) else ""


def _load_config(cfg: Any, kubeconfig: str | None, context: str | None = None) -> str:
    home = Path("~/.kube/config").expanduser()
    if kubeconfig:
        source = kubeconfig
    elif os.environ.get("KUBERNETES_SERVICE_HOST") and not context:
        source = "in-cluster service account"
    elif home.exists():
        source = str(home)
    else:
        raise AuthorizationUnavailable(
            "no Kubernetes API configured: set KUBECONFIG, or run in a pod with a service account"
        )
    try:
        if source == "in-cluster service account":
            config.load_incluster_config(client_configuration=cfg)
        else:
            config.load_kube_config(
                source, context=context, client_configuration=cfg, persist_config=False
            )
    except (ConfigException, OSError, yaml.YAMLError, ValueError, TypeError, KeyError) as exc:
        raise AuthorizationUnavailable(f"cannot load Kubernetes config ({source}): {exc}") from exc
    return f"{source} (context {context})" if context else source


def _attributes(check: AccessCheck) -> Any:
    return client.V1ResourceAttributes(
        verb=check.verb,
        group=check.group,
        resource=check.resource,
        namespace=check.namespace or None,  # omitted = all namespaces
        name=check.name or None,
    )


def _read(response: Any) -> bytes:
    """The raw body of an un-preloaded response (the generated client's deserializer would
    read `"allowed": "false"` as `bool("false")`, i.e. True)."""
    try:
        return bytes(response.data)
    finally:
        response.release_conn()


def _allowed(raw: bytes) -> bool:
    """Allowed only when `status.allowed` is the JSON boolean `true` and `status.denied` is
    absent or `false`. Anything else (a string, a number, null, a missing or malformed status)
    is a deny; a body that is not JSON at all means the API could not be asked."""
    try:
        review = orjson.loads(raw)
    except ValueError as exc:  # orjson.JSONDecodeError is one
        raise AuthorizationUnavailable("the Kubernetes API sent a review that is not JSON") from exc
    status = review.get("status") if isinstance(review, dict) else None
    if not isinstance(status, dict):
        return False
    return status.get("allowed") is True and status.get("denied", False) is False


def _token_reviewed(raw: bytes) -> TokenReviewed:
    """A TokenReview's status, read strictly: authenticated only as the JSON boolean true with
    a non-empty user name; strings where lists belong are dropped, not trusted."""
    try:
        review = json.loads(raw)
    except ValueError as exc:
        raise AuthorizationUnavailable("the Kubernetes API sent a review that is not JSON") from exc
    status = review.get("status") if isinstance(review, dict) else None
    if not isinstance(status, dict):
        return TokenReviewed(False, error="no status in the TokenReview")
    user: dict[str, Any] = status["user"] if isinstance(status.get("user"), dict) else {}
    name = user.get("username")
    if status.get("authenticated") is not True or not isinstance(name, str) or not name:
        return TokenReviewed(False, error=str(status.get("error") or "not authenticated")[:200])
    raw_extra: dict[str, Any] = user["extra"] if isinstance(user.get("extra"), dict) else {}
    extra = tuple(sorted((str(key), _strings(values)) for key, values in raw_extra.items()))
    uid = user.get("uid")
    return TokenReviewed(
        True,
        user=name,
        uid=uid if isinstance(uid, str) else "",
        groups=_strings(user.get("groups")),
        extra=extra,
        audiences=_strings(status.get("audiences")),
    )


def _strings(values: Any) -> tuple[str, ...]:
    if not isinstance(values, list):
        return ()
    return tuple(value for value in values if isinstance(value, str))


def _refusal(what: str, exc: ApiException) -> str:
    return _refused(what, exc.status, exc.reason, exc.body)


def _refused(what: str, status: object, reason: object, body: str | bytes | None) -> str:
    """The API server's refusal in words: its Status message (else the reason phrase), and for
    401/403 what the bot's service account needs."""
    detail = str(reason or "")
    with contextlib.suppress(ValueError, AttributeError):  # not a Status object: keep reason
        detail = str(json.loads(body or "{}").get("message") or detail)
    hint = ""
    if status in (401, 403):
        hint = f"; the bot's service account needs `{what}` (see deploy/ RBAC)"
    return f"the Kubernetes API answered {status} to {what}: {detail}{hint}"


def _cpu_hpa(item: Any) -> CpuHpa | None:
    spec, ref = item.spec, item.spec.scale_target_ref
    for metric in spec.metrics or []:
        resource = metric.resource if metric.type == "Resource" else None
        if resource is None or resource.name != "cpu" or resource.target is None:
            continue
        target = resource.target
        if target.type == "Utilization" and target.average_utilization:
            fraction = int(target.average_utilization) / 100
            return CpuHpa(str(item.metadata.namespace), str(ref.kind), str(ref.name), fraction)
    return None
