"""Stored digest subscriptions, budgets and run records (msgspec structs, JSON in Redis).

Plain data: no I/O, no Slack. `SubscriptionSpec` is what a user asked for; `Subscription` is
what was stored after the access checks.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Literal, TypeAlias

import msgspec

Frequency: TypeAlias = Literal["daily", "weekly", "cron"]
ScopeKind: TypeAlias = Literal["everything", "namespaces", "label"]
BudgetKind: TypeAlias = Literal["namespace", "label", "cluster"]


class SubscriptionSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A subscribe request, already parsed. `tz=None`: the subscriber's Slack time zone."""

    frequency: Frequency = "weekly"
    day: str = "mon"
    at: str = "09:00"
    tz: str | None = None
    cron: str | None = None
    namespaces: tuple[str, ...] = ()
    label: tuple[str, str] | None = None

    @property
    def scope_kind(self) -> ScopeKind:
        if self.namespaces:
            return "namespaces"
        return "label" if self.label is not None else "everything"


class Subscription(msgspec.Struct, frozen=True, kw_only=True):
    """One channel's digest. The subscriber's access is re-checked at every send."""

    id: str
    channel: str
    subscriber: str  # Slack user ID whose Kubernetes access bounds the content
    frequency: Frequency
    day: str = "mon"  # weekly only
    at: str = "09:00"  # HH:MM in `tz`; daily and weekly
    tz: str = "UTC"  # IANA zone
    cron: str | None = None  # five-field crontab in `tz` (admins only)
    scope_kind: ScopeKind = "everything"
    namespaces: tuple[str, ...] = ()  # scope_kind == "namespaces"
    label: tuple[str, str] | None = None  # scope_kind == "label"
    cluster_wide: bool = False  # the subscriber could see the whole cluster when subscribing
    seen: tuple[str, ...] = ()  # namespaces the subscriber could see then (when not cluster-wide)
    created_at: datetime

    @property
    def hour_minute(self) -> tuple[int, int]:
        hour, _, minute = self.at.partition(":")
        return int(hour), int(minute or 0)


class Budget(msgspec.Struct, frozen=True, kw_only=True):
    """A monthly budget for a namespace, a label value or the cluster(s), alerting a channel."""

    id: str
    channel: str
    kind: BudgetKind
    target: str  # namespace, "key=value", or a cluster name ("" = every cluster)
    amount: float  # per calendar month of `tz`, in the display currency
    creator: str  # Slack user ID; alerts only cover what they may still see
    created_at: datetime
    spend_ratio: float = 1.5  # spend-change alert: yesterday > ratio × mean of 14 days before
    spend_min: float = 50.0  # … and at least this much above that mean
    # Whose calendar the months and days are: a `normalize_zone` name. "" for a budget stored
    # before budgets had a zone: it keeps counting UTC months, as it always did (`zone`). Not
    # the creator's current Slack zone: that moves when they travel and is unknown when Slack
    # does not answer, and an alert's month must not move under it.
    tz: str = ""

    @property
    def zone(self) -> str:
        """The zone whose calendar months this budget counts."""
        return self.tz or "UTC"

    @property
    def zone_recorded(self) -> bool:
        """False for a budget older than budget zones (counted in UTC by default, not by choice)."""
        return bool(self.tz)

    @property
    def label(self) -> tuple[str, str] | None:
        if self.kind != "label":
            return None
        key, _, value = self.target.partition("=")
        return key, value


class RunRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The last thing that happened to a subscription or budget alert, for `digest list`."""

    period: str
    outcome: str  # sent | late | recovered | skipped | paused | failed
    at: datetime
    ts: str = ""  # the Slack message, when one was posted
    detail: str = ""


def new_id(prefix: str) -> str:
    """A short id users can type: `d` or `b` and 6 hex digits."""
    return f"{prefix}{secrets.token_hex(3)}"
