"""The Kubernetes API adapter: SubjectAccessReviews, TokenReviews and HPA listing over the
official client.

The only module that imports `kubernetes`; the client is sync, so every call runs in a thread,
with a timeout, and its exceptions are translated here, once. Never impersonates anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import orjson
import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException, OpenApiException
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
    """A handle on one cluster's API server, with the bot's own credentials."""

    def __init__(self, api_client: Any, *, timeout: float = 5.0) -> None:
        self._client = api_client
        self._timeout = (min(timeout, 3.0), timeout)  # (connect, read) seconds
        self.host: str = str(api_client.configuration.host)
        self.source = "given client"

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

    def close(self) -> None:
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

        The review is posted as plain JSON through the client's `call_api` (its credentials,
        TLS and timeouts) and read raw: the generated model layer cost ~1 ms of CPU per review,
        which a scope over 2 000 namespaces multiplied into seconds."""
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
        raw = await self._call(
            "create subjectaccessreviews",
            lambda: _read(
                self._client.call_api(
                    _SAR_PATH,
                    "POST",
                    header_params=_JSON_HEADERS,
                    body=body,
                    auth_settings=["BearerToken"],
                    _return_http_data_only=True,
                    _preload_content=False,
                    _request_timeout=self._timeout,
                )
            ),
            AuthorizationUnavailable,
        )
        return _allowed(raw)

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
    detail = str(exc.reason or "")
    with contextlib.suppress(ValueError, AttributeError):  # not a Status object: keep reason
        detail = str(json.loads(exc.body or "{}").get("message") or detail)
    hint = ""
    if exc.status in (401, 403):
        hint = f"; the bot's service account needs `{what}` (see deploy/ RBAC)"
    return f"the Kubernetes API answered {exc.status} to {what}: {detail}{hint}"


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
