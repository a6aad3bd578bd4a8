"""Who is asking, what one access check asks, and what a requester may see."""

from __future__ import annotations

import msgspec


class Identity(msgspec.Struct, frozen=True):
    """Who is asking: a Slack user and, when mapped, their Kubernetes user and groups.

    A caller of the HTTP API is identified by a TokenReview instead: `slack_user_id` is then
    `k8s:USER` (the actor audit entries name), and `uid` and `extra` are the authenticator's,
    carried into every SubjectAccessReview so that webhook authorizers see the same subject."""

    slack_user_id: str
    k8s_user: str | None = None
    groups: tuple[str, ...] = ()
    source: str = "unmapped"  # explicit | email | demo | token | unmapped
    email: str | None = None
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()  # sorted (key, values) pairs

    @property
    def mapped(self) -> bool:
        return self.k8s_user is not None


class AccessCheck(msgspec.Struct, frozen=True):
    """The attributes of one SubjectAccessReview. namespace="" means all namespaces."""

    verb: str
    resource: str
    group: str = ""
    namespace: str = ""
    name: str = ""


class Scope(msgspec.Struct, frozen=True):
    """What one requester may see. `namespaces=None` means every namespace."""

    namespaces: frozenset[str] | None = None
    cluster_wide: bool = False

    def sees(self, namespace: str) -> bool:
        return self.namespaces is None or namespace in self.namespaces

    @property
    def partial(self) -> bool:
        return self.namespaces is not None


EVERYTHING = Scope(namespaces=None, cluster_wide=True)
