"""Budget and spend-change alert rules: pure functions over month-to-date cost and daily costs.

No I/O and no clock: `now` is passed in. Months and days are calendar months and days of the
budget's zone (UTC for budgets stored before budgets had one): a DST month is 743 or 745 hours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Literal

import msgspec

from services.costs.windows import local_midnight, zone_of
from services.digests.models import Budget

THRESHOLDS = (80, 100)  # percent of the monthly budget, month-to-date
FORECAST_MIN_HOURS = 72.0  # a forecast from the first days of a month is mostly noise
BASELINE_DAYS = 14
BASELINE_MIN_DAYS = 7  # fewer days with any cost: no baseline, no spend-change alert

AlertKind = Literal["threshold", "forecast", "spend_change"]


class BudgetAlert(msgspec.Struct, frozen=True, kw_only=True):
    budget: Budget
    kind: AlertKind
    period: str  # "2026-10:80", "2026-10:forecast", or the day "2026-10-25"
    threshold: int = 0  # percent, for threshold alerts
    month_to_date: float = 0.0
    forecast: float = 0.0
    day: date | None = None  # spend-change: the day that jumped
    day_cost: float = 0.0
    baseline: float = 0.0  # spend-change: mean daily cost of the 14 days before

    @property
    def key(self) -> str:
        """Names this alert everywhere: delivery markers, metadata, the Acknowledge button."""
        return f"{self.budget.id}:{self.period}"


def month_start(now: datetime, tz: str = "UTC") -> datetime:
    """The UTC instant the month of `now` begins in the zone `tz`."""
    zone = zone_of(tz)
    local = now.astimezone(zone)
    return local_midnight(date(local.year, local.month, 1), zone)


def month_end(now: datetime, tz: str = "UTC") -> datetime:
    """The UTC instant the next month of the zone `tz` begins."""
    zone = zone_of(tz)
    local = now.astimezone(zone)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return local_midnight(date(year, month, 1), zone)


def month_label(now: datetime, tz: str = "UTC") -> str:
    """ "2026-12": the month `now` is in, in the zone `tz` (names the once-a-month alerts)."""
    return f"{now.astimezone(zone_of(tz)):%Y-%m}"


def local_date(now: datetime, tz: str = "UTC") -> date:
    """Today in the zone `tz`."""
    return now.astimezone(zone_of(tz)).date()


def month_hours(now: datetime, tz: str = "UTC") -> float:
    """Hours in the month of `now` in `tz`: a month with a DST change is an hour short or long."""
    return (month_end(now, tz) - month_start(now, tz)).total_seconds() / 3600.0


def forecast(month_to_date: float, now: datetime, tz: str = "UTC") -> float:
    """Month-to-date ÷ elapsed hours × hours in the month, all of the zone's month."""
    elapsed = (now - month_start(now, tz)).total_seconds() / 3600.0
    return month_to_date / elapsed * month_hours(now, tz) if elapsed > 0 else 0.0


def budget_alerts(budget: Budget, month_to_date: float, now: datetime) -> list[BudgetAlert]:
    """Thresholds crossed so far this month (80 %, 100 %), plus "on track to exceed" once the
    forecast passes the budget. The caller keeps each to once a month: the period names the
    month of the budget's zone, so it turns over at that zone's midnight, not UTC's."""
    month = month_label(now, budget.zone)
    projected = forecast(month_to_date, now, budget.zone)
    used = month_to_date / budget.amount * 100.0 if budget.amount > 0 else 0.0

    def alert(kind: AlertKind, period: str, threshold: int = 0) -> BudgetAlert:
        return BudgetAlert(
            budget=budget,
            kind=kind,
            period=f"{month}:{period}",
            threshold=threshold,
            month_to_date=month_to_date,
            forecast=projected,
        )

    alerts = [alert("threshold", str(limit), limit) for limit in THRESHOLDS if used >= limit]
    elapsed = (now - month_start(now, budget.zone)).total_seconds() / 3600.0
    if used < 100.0 and elapsed >= FORECAST_MIN_HOURS and projected >= budget.amount:
        alerts.append(alert("forecast", "forecast"))
    return alerts


def spend_change(
    budget: Budget, daily: Sequence[tuple[date, float]], today: date
) -> BudgetAlert | None:
    """Yesterday against the mean of the 14 days before it: an alert when it is more than
    `spend_ratio` times that mean and at least `spend_min` above it."""
    costs = dict(daily)
    yesterday = today - timedelta(days=1)
    window = [yesterday - timedelta(days=i) for i in range(1, BASELINE_DAYS + 1)]
    if sum(1 for day in window if costs.get(day, 0.0) > 0) < BASELINE_MIN_DAYS:
        return None
    baseline = math.fsum(costs.get(day, 0.0) for day in window) / BASELINE_DAYS
    spent = costs.get(yesterday, 0.0)
    if spent <= baseline * budget.spend_ratio or spent - baseline < budget.spend_min:
        return None
    return BudgetAlert(
        budget=budget,
        kind="spend_change",
        period=yesterday.isoformat(),
        day=yesterday,
        day_cost=spent,
        baseline=baseline,
    )
