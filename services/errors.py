"""The domain error tree. Library exceptions are translated into these once, at adapter edges.

CostbotError
├── UserInputError            the question cannot be understood (bad window, bad command)
│   └── BadWindow
├── NotFound                  nothing by that name *that you may see* (never says which)
├── NotAllowed                the identity may not do this
│   └── Unmapped              no Kubernetes identity for this Slack user
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
    """Nothing visible under that name. Deliberately identical for 'hidden' and 'absent'."""


class NotAllowed(CostbotError):
    """The requester's Kubernetes identity does not permit this."""


class Unmapped(NotAllowed):
    """The Slack user has no Kubernetes identity."""

    def __init__(self, slack_user_id: str) -> None:
        super().__init__(f"Slack user {slack_user_id} is not mapped to a Kubernetes identity")
        self.slack_user_id = slack_user_id


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
