"""Who is asking, what one access check asks, and what a requester may see."""

from __future__ import annotations

import msgspec


class Identity(msgspec.Struct, frozen=True):
    """Who is asking: a Slack user and, when mapped, their Kubernetes user and groups."""

    slack_user_id: str
    k8s_user: str | None = None
    groups: tuple[str, ...] = ()
    source: str = "unmapped"  # explicit | email | demo | unmapped
    email: str | None = None
    tz: str | None = None  # the Slack profile's IANA zone: personal answers' local days

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
