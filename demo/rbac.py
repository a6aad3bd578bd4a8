"""Kubernetes RBAC evaluated in process from plain Role/Binding objects: the demo's authorizer and
the brain of the Kubernetes API stand-in. Never a substitute for the real API in production.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.access.models import AccessCheck, Identity

AUTHENTICATED = "system:authenticated"


class _Obj(BaseModel):
    # Real objects carry labels, annotations, aggregationRule…; we read only what RBAC needs.
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Meta(_Obj):
    name: str = Field(min_length=1)
    namespace: str = ""


class PolicyRule(_Obj):
    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = Field(default=(), alias="apiGroups")
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = Field(default=(), alias="resourceNames")

    def matches(self, check: AccessCheck) -> bool:
        return (
            _has(self.verbs, check.verb)
            and _has(self.api_groups, check.group)
            and _has(self.resources, check.resource)
            # resourceNames restricts to named objects: a check without a name never matches it.
            and (not self.resource_names or check.name in self.resource_names)
        )


class Role(_Obj):
    kind: Literal["Role", "ClusterRole"]
    metadata: Meta
    rules: tuple[PolicyRule, ...] = ()


class RoleRef(_Obj):
    kind: Literal["Role", "ClusterRole"]
    name: str = Field(min_length=1)


class Subject(_Obj):
    kind: Literal["User", "Group", "ServiceAccount"]
    name: str = Field(min_length=1)
    namespace: str = ""


class Binding(_Obj):
    kind: Literal["RoleBinding", "ClusterRoleBinding"]
    metadata: Meta
    role_ref: RoleRef = Field(alias="roleRef")
    subjects: tuple[Subject, ...] = ()

    def subject_for(self, user: str, groups: frozenset[str]) -> Subject | None:
        for subject in self.subjects:
            if subject.kind == "User" and subject.name == user:
                return subject
            if subject.kind == "Group" and subject.name in groups:
                return subject
            namespace = subject.namespace or self.metadata.namespace
            if subject.kind == "ServiceAccount" and user == _sa(namespace, subject.name):
                return subject
        return None

    def describe(self) -> str:
        if self.kind == "RoleBinding":
            return f'RoleBinding "{self.metadata.name}/{self.metadata.namespace}"'
        return f'ClusterRoleBinding "{self.metadata.name}"'


def _has(values: tuple[str, ...], wanted: str) -> bool:
    return "*" in values or wanted in values


def _sa(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


class StaticRbac:
    """Answers SubjectAccessReview-style questions the way the RBAC authorizer does.

    A namespaced check is allowed by a ClusterRoleBinding, or by a RoleBinding in that
    namespace (to a Role there or a ClusterRole). A check with no namespace ("all namespaces",
    or a cluster-scoped resource) is allowed only by ClusterRoleBindings. Every non-anonymous
    user is also in `system:authenticated`, as the API server's authenticator adds it.
    """

    def __init__(self, objects: Iterable[Mapping[str, Any]]) -> None:
        self._roles: dict[tuple[str, str], Role] = {}  # (namespace, name); "" for ClusterRoles
        self._cluster_bindings: list[Binding] = []
        self._bindings: dict[str, list[Binding]] = {}
        for index, obj in enumerate(_flatten(objects)):
            self._add(index, obj)

    @classmethod
    def from_yaml(cls, text: str) -> StaticRbac:
        docs = [doc for doc in yaml.safe_load_all(text) if doc is not None]
        if not all(isinstance(doc, dict) for doc in docs):
            raise ValueError("RBAC YAML: every document must be a mapping")
        return cls(docs)

    def _add(self, index: int, obj: Mapping[str, Any]) -> None:
        kind = obj.get("kind")
        try:
            if kind in ("Role", "ClusterRole"):
                role = Role.model_validate(obj)
                namespace = role.metadata.namespace if kind == "Role" else ""
                _require(kind != "Role" or bool(namespace), "a Role needs metadata.namespace")
                self._roles[(namespace, role.metadata.name)] = role
            elif kind == "RoleBinding":
                binding = Binding.model_validate(obj)
                _require(bool(binding.metadata.namespace), "a RoleBinding needs a namespace")
                self._bindings.setdefault(binding.metadata.namespace, []).append(binding)
            elif kind == "ClusterRoleBinding":
                binding = Binding.model_validate(obj)
                _require(binding.role_ref.kind == "ClusterRole", "roleRef must be a ClusterRole")
                self._cluster_bindings.append(binding)
        except ValidationError as exc:
            raise ValueError(f"{_label(index, obj)}: {_problems(exc)}") from exc
        except ValueError as exc:
            raise ValueError(f"{_label(index, obj)}: {exc}") from exc

    def namespaces(self) -> set[str]:
        """The namespaces these objects live in (Roles and RoleBindings)."""
        return {ns for ns, _ in self._roles if ns} | set(self._bindings)

    def allowed(self, user: str, groups: Iterable[str], check: AccessCheck) -> tuple[bool, str]:
        """(allowed, reason) for `user` in `groups`; the reason names the granting binding."""
        effective = frozenset(groups) | (
            {AUTHENTICATED} if user and user != "system:anonymous" else set()
        )
        candidates = list(self._cluster_bindings)
        if check.namespace:
            candidates += self._bindings.get(check.namespace, [])
        for binding in candidates:
            subject = binding.subject_for(user, effective)
            role = self._role_for(binding)
            if subject is None or role is None:
                continue
            if any(rule.matches(check) for rule in role.rules):
                return True, (
                    f"RBAC: allowed by {binding.describe()} of {role.kind} "
                    f'"{role.metadata.name}" to {subject.kind} "{subject.name}"'
                )
        return False, "no RBAC policy matched"

    def _role_for(self, binding: Binding) -> Role | None:
        # A binding to a missing role grants nothing, as in the real authorizer.
        if binding.role_ref.kind == "ClusterRole":
            return self._roles.get(("", binding.role_ref.name))
        return self._roles.get((binding.metadata.namespace, binding.role_ref.name))


def _label(index: int, obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata")
    name = meta.get("name", "?") if isinstance(meta, Mapping) else "?"
    return f"RBAC object #{index} ({obj.get('kind')} {name})"


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
        for error in exc.errors(include_url=False)
    )


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _flatten(objects: Iterable[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
    for obj in objects:
        if str(obj.get("kind", "")).endswith("List"):
            yield from _flatten(obj.get("items") or [])
        else:
            yield obj


class StaticRbacAuthorizer:
    """`Authorizer` over StaticRbac: the built-in demo when no Kubernetes API is configured."""

    def __init__(self, rbac: StaticRbac) -> None:
        self.rbac = rbac
        self.calls = 0

    async def allowed(self, identity: Identity, check: AccessCheck) -> bool:
        if identity.k8s_user is None:
            return False
        self.calls += 1
        return self.rbac.allowed(identity.k8s_user, identity.groups, check)[0]


# --- demo mode: RBAC for the demo identity map ---
BOT_SERVICE_ACCOUNT = _sa("costbot", "costbot")

DEMO_NAMESPACES = (
    "payments",
    "checkout",
    "search",
    "data-pipeline",
    "ml-training",
    "web",
    "monitoring",
    "kube-system",
)

_VIEW_RULES = [
    {
        "apiGroups": [""],
        "resources": ["pods", "services", "persistentvolumeclaims"],
        "verbs": ["get", "list", "watch"],
    },
    {
        "apiGroups": ["apps", "batch", "autoscaling"],
        "resources": ["*"],
        "verbs": ["get", "list", "watch"],
    },
]
_PATCH_RULES = [
    {
        "apiGroups": ["apps"],
        "resources": ["deployments", "statefulsets", "daemonsets", "replicasets"],
        "verbs": ["patch", "update"],
    },
    {"apiGroups": ["batch"], "resources": ["cronjobs", "jobs"], "verbs": ["patch", "update"]},
]


def _cluster_role(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": rules,
    }


def group_binding(role: str, group: str, namespace: str = "") -> dict[str, Any]:
    """A RoleBinding in `namespace` (a ClusterRoleBinding without one) of ClusterRole `role`
    to `group`."""
    kind = "RoleBinding" if namespace else "ClusterRoleBinding"
    meta = {"name": f"{group}-{role}", **({"namespace": namespace} if namespace else {})}
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "Group", "name": group, "apiGroup": "rbac.authorization.k8s.io"}],
    }


DEMO_RBAC: list[dict[str, Any]] = [
    _cluster_role("demo-view", _VIEW_RULES),
    _cluster_role("demo-patch-workloads", _PATCH_RULES),
    _cluster_role(
        "demo-admin",
        [
            *_VIEW_RULES,
            *_PATCH_RULES,
            {
                "apiGroups": [""],
                "resources": ["nodes", "persistentvolumes"],
                "verbs": ["get", "list", "watch", "patch"],
            },
        ],
    ),
    # platform-admins (U0DEMOADMIN): everything, cluster-wide.
    group_binding("demo-admin", "platform-admins"),
    # payments-devs (U0ALICE): see and patch payments and checkout.
    *(
        group_binding(role, "payments-devs", ns)
        for ns in ("payments", "checkout")
        for role in ("demo-view", "demo-patch-workloads")
    ),
    # search-team (U0BOB): see search only, no patch.
    group_binding("demo-view", "search-team", "search"),
    # sre (U0CAROL, via the S0DEMOSRE Slack user group): see and patch monitoring, kube-system.
    *(
        group_binding(role, "sre", ns)
        for ns in ("monitoring", "kube-system")
        for role in ("demo-view", "demo-patch-workloads")
    ),
    # contractors (U0DAVE): deliberately no binding, so a mapped user can see nothing at all.
    # The bot itself: ask SubjectAccessReviews, read HPAs and list namespaces (see deploy/).
    _cluster_role(
        "costbot",
        [
            {
                "apiGroups": ["authorization.k8s.io"],
                "resources": ["subjectaccessreviews"],
                "verbs": ["create"],
            },
            {
                "apiGroups": ["authentication.k8s.io"],
                "resources": ["tokenreviews"],
                "verbs": ["create"],
            },
            {
                "apiGroups": ["autoscaling"],
                "resources": ["horizontalpodautoscalers"],
                "verbs": ["list"],
            },
            {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list"]},
        ],
    ),
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "costbot"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "costbot",
        },
        "subjects": [{"kind": "ServiceAccount", "name": "costbot", "namespace": "costbot"}],
    },
]
