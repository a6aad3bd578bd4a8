"""The domain error tree. Library exceptions are translated into these once, at adapter edges.

CostbotError
├── UserInputError            the question cannot be understood (bad window, bad command)
│   └── BadWindow
├── NotFound                  nothing by that name *that you may see* (never says which)
├── NotAllowed                the identity may not do this
│   ├── Unmapped              no Kubernetes identity for this Slack user
│   └── NoAccess              mapped, but Kubernetes lets it see no namespace at all
├── StaleAction               a button refers to an older version of a recommendation
└── DependencyError           something we depend on failed
    ├── OpenCostError
    │   ├── OpenCostUnavailable   connection refused, timeout, 5xx
    │   └── OpenCostBadResponse   4xx, non-JSON or wrongly shaped body
    ├── AuthorizationUnavailable  the Kubernetes API could not be asked (we deny)
    ├── StoreUnavailable          Redis is not answering
    └── ChatUnavailable           Slack's Web API refused or failed
"""

from __future__ import annotations


class CostbotError(Exception):
    """Base of every error costbot raises on purpose."""


class UserInputError(CostbotError):
    """The request cannot be understood; `hint` says how to ask instead."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class BadWindow(UserInputError):
    """A time window that is not one of the documented forms."""


class NotFound(CostbotError):
    """Nothing visible under that name. Deliberately identical for 'hidden' and 'absent'.

    `suggestion` is a close name drawn only from what the asker may see (did-you-mean), so it
    reads the same whether the asked-for name is hidden or absent."""

    def __init__(self, message: str, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.suggestion = suggestion


class NotAllowed(CostbotError):
    """The requester's Kubernetes identity does not permit this."""


class Unmapped(NotAllowed):
    """The Slack user has no Kubernetes identity."""

    def __init__(self, slack_user_id: str) -> None:
        super().__init__(f"Slack user {slack_user_id} is not mapped to a Kubernetes identity")
        self.slack_user_id = slack_user_id


class NoAccess(NotAllowed):
    """A mapped identity that may see no namespace in the data: every cost answer would be
    empty, so none is computed. Carries who they are in Kubernetes and the permission that
    would let them see a namespace, so the words can say what to ask for."""

    def __init__(
        self, k8s_user: str, groups: tuple[str, ...], verb: str, resource: str, group: str = ""
    ) -> None:
        super().__init__(f"{k8s_user} may see no namespace")
        self.k8s_user, self.groups = k8s_user, groups
        self.verb, self.resource, self.group = verb, resource, group


class StaleAction(CostbotError):
    """A button was rendered from an older version of the thing it acts on."""


class DependencyError(CostbotError):
    """A dependency (OpenCost, Kubernetes, Redis, Slack) failed."""


class OpenCostError(DependencyError):
    """OpenCost could not give a usable answer."""

    def __init__(self, message: str, cluster: str = "") -> None:
        super().__init__(message)
        self.cluster = cluster


class OpenCostUnavailable(OpenCostError):
    """OpenCost did not answer: connection refused, timed out, or a 5xx."""


class OpenCostBadResponse(OpenCostError):
    """OpenCost answered with a 4xx, a non-JSON body, or JSON of the wrong shape."""


class AuthorizationUnavailable(DependencyError):
    """The Kubernetes API could not be asked; every check fails closed."""


class StoreUnavailable(DependencyError):
    """Redis is not answering."""


class ChatUnavailable(DependencyError):
    """Slack's Web API refused or failed."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code
