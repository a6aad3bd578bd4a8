"""The typed commands `/cost` text becomes: frozen msgspec structs, tagged by class name."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal, TypeAlias

import msgspec

# The services' own Focus: a parsed compare/trend carries it to CostService unchanged.
from services.costs.views import Focus
from services.costs.windows import TimeRange


class _Command(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """Base of every parsed command (tagged by class name when encoded)."""


class Help(_Command, frozen=True, kw_only=True):
    topic: str | None = None  # a COMMAND_WORDS entry or "window"; None = everything


class Summary(_Command, frozen=True, kw_only=True):
    window: TimeRange


class NamespaceQuery(_Command, frozen=True, kw_only=True):
    namespace: str
    window: TimeRange


Dimension: TypeAlias = Literal["namespace", "controller", "pod", "label", "cluster", "node"]


class Top(_Command, frozen=True, kw_only=True):
    window: TimeRange
    k: int = 10
    dimension: Dimension = "namespace"
    label_key: str | None = None  # set iff dimension == "label"
    label_guessed: bool = False  # `top by team`: a bare word taken for a label key

    def aggregate(self) -> str:
        """The OpenCost `aggregate` value, e.g. "controller" or "label:team"."""
        return f"label:{self.label_key}" if self.dimension == "label" else self.dimension


class LabelQuery(_Command, frozen=True, kw_only=True):
    key: str
    value: str
    window: TimeRange


class WorkloadQuery(_Command, frozen=True, kw_only=True):
    namespace: str
    name: str  # the controller's name, optionally `kind:name`
    window: TimeRange


class Compare(_Command, frozen=True, kw_only=True):
    focus: Focus
    window: TimeRange


class Trend(_Command, frozen=True, kw_only=True):
    focus: Focus
    window: TimeRange


class Recommendations(_Command, frozen=True, kw_only=True):
    namespace: str | None = None
    include_all: bool = False  # also acknowledged, snoozed and dismissed ones
    profile: str | None = None  # a sizing profile (services.recommendations.models.PROFILES)


class Whoami(_Command, frozen=True, kw_only=True):
    pass


class Audit(_Command, frozen=True, kw_only=True):
    limit: int = 20


class DigestSubscribe(_Command, frozen=True, kw_only=True):
    """Subscribe this channel. No scope given means everything the subscriber may see."""

    frequency: Literal["daily", "weekly", "cron"] = "weekly"
    day: str = "mon"  # mon..sun, used when weekly
    at: str = "09:00"  # HH:MM in `tz`
    tz: str | None = None  # IANA zone, validated; None = UTC
    cron: str | None = None  # five-field crontab, validated, when frequency == "cron"
    namespaces: tuple[str, ...] = ()
    label: tuple[str, str] | None = None
    everything: bool = False


class DigestList(_Command, frozen=True, kw_only=True):
    pass


class DigestUnsubscribe(_Command, frozen=True, kw_only=True):
    sub_id: str


class DigestPreview(_Command, frozen=True, kw_only=True):
    sub_id: str | None = None  # None = what this channel's digest would look like now


class BudgetSet(_Command, frozen=True, kw_only=True):
    kind: Literal["namespace", "label", "cluster"]
    target: str  # namespace name, "key=value", or cluster name ("" = every cluster)
    amount: Decimal
    period: Literal["month"] = "month"
    tz: str | None = None  # `tz ZONE`, normalized; None = the asker's Slack zone, else UTC


class BudgetList(_Command, frozen=True, kw_only=True):
    pass


class BudgetRemove(_Command, frozen=True, kw_only=True):
    budget_id: str


# The cost questions whose answers are tables, and so can be exported (`… csv`).
TableQuestion: TypeAlias = Summary | NamespaceQuery | Top | LabelQuery | Compare | Trend


class CsvExport(_Command, frozen=True, kw_only=True):
    """A cost question with `csv` at the end: its table goes to the asker's DM as a file."""

    question: TableQuestion


Command: TypeAlias = (
    Help | Summary | NamespaceQuery | Top | LabelQuery | Compare | Trend | Recommendations
    | WorkloadQuery | Whoami | Audit | DigestSubscribe | DigestList | DigestUnsubscribe
    | DigestPreview | BudgetSet | BudgetList | BudgetRemove | CsvExport
)  # fmt: skip
