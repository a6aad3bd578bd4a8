"""Daily spend charts as PNG bytes, sized to stay readable in a Slack thumbnail.

A chart travels alone (forwarded, saved, shown in a DM), so it says what it is: the title, and
under it the scope, cluster, window with its time zone, currency and "demo data" (the caller's
`subtitle`); partial days (the day still running, a window starting mid-day) are hatched and
named in the legend.

Pure rendering with matplotlib's Agg canvas: no pyplot state, no GUI, no Slack, no files.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Collection, Sequence
from datetime import date, timedelta
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

# pyplot is never imported here; this only keeps anything else in the process headless.
matplotlib.use("Agg")

WIDTH_PX, HEIGHT_PX, DPI = 800, 440, 100
MAX_DATE_LABELS = 7
CURRENT_COLOR = "#2563eb"
PARTIAL_COLOR = "#93c5fd"
SUBTLE_COLOR = "#475569"
PREVIOUS_COLOR = "#94a3b8"
GRID_COLOR = "#e2e8f0"
TEXT_COLOR = "#1e293b"
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
_MINUS = "−"
# matplotlib shares font caches between figures and is not thread-safe; Bolt runs listeners
# on a thread pool, so renders take turns.
_RENDER_LOCK = threading.Lock()

Series = Sequence[tuple[date, float]]


def daily_spend_chart(
    points: Series,
    previous: Series | None,
    title: str,
    currency: str = "USD",
    *,
    subtitle: str = "",
    partial_days: Collection[date] = (),
) -> bytes:
    """An 800×440 PNG: this period's daily spend as bars, the previous one as a lighter line.

    The previous period is aligned by day index (its first day under this period's first day).
    Bars of `partial_days` are hatched. Same input, same bytes.
    """
    with _RENDER_LOCK:
        figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        figure.suptitle(
            _clip(title, 70),
            fontsize=18,
            color=TEXT_COLOR,
            x=0.01,
            ha="left",
            parse_math=False,
        )
        axes.set_title(
            _clip(subtitle, 110), fontsize=11, color=SUBTLE_COLOR, loc="left", parse_math=False
        )
        if points:
            _plot(axes, points, previous or [], currency.upper(), frozenset(partial_days))
        else:
            _no_data(axes)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
        figure.clear()
    return buffer.getvalue()


def _plot(
    axes: Axes, points: Series, previous: Series, currency: str, partial: frozenset[date]
) -> None:
    current = [value for _, value in points]
    earlier = [value for _, value in previous]
    cut = [day in partial for day, _ in points]
    bars = axes.bar(range(len(current)), current, width=0.75, color=CURRENT_COLOR, zorder=2)
    for bar, is_partial in zip(bars, cut, strict=True):
        if is_partial:
            bar.set_facecolor(PARTIAL_COLOR)
            bar.set_hatch("//")
            bar.set_edgecolor(CURRENT_COLOR)
    handles: list[Any] = []
    labels: list[str] = []
    if not all(cut):
        handles.append(bars[cut.index(False)])
        labels.append("This period")
    if any(cut):
        handles.append(bars[cut.index(True)])
        labels.append("Partial day")
    if earlier:
        labels.append("Previous period")
        handles += axes.plot(
            range(len(earlier)),
            earlier,
            color=PREVIOUS_COLOR,
            linewidth=3.5,
            marker="o" if len(earlier) <= 31 else None,
            markersize=5,
            zorder=3,
        )
    slots = max(len(current), len(earlier))
    _date_axis(axes, points[0][0], [day for day, _ in points], slots)
    _money_axis(axes, current + earlier, currency)
    axes.legend(handles, labels, loc="upper left", ncols=3, fontsize=12, frameon=False)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


def _date_axis(axes: Axes, first: date, days: list[date], slots: int) -> None:
    step = max(1, math.ceil(slots / MAX_DATE_LABELS))
    ticks = list(range(0, slots, step))
    labels = [_day_label(days[i] if i < len(days) else first + timedelta(days=i)) for i in ticks]
    axes.set_xticks(ticks, labels, fontsize=12, color=TEXT_COLOR)
    axes.set_xlim(-0.6, slots - 0.4)
    axes.tick_params(axis="x", length=0, pad=6)


def _day_label(day: date) -> str:
    return f"{day:%b} {day.day}"


def _money_axis(axes: Axes, values: list[float], currency: str) -> None:
    low, high = min(0.0, *values), max(0.0, *values)
    decimals = 2 if max(abs(low), abs(high)) < 10 else 0
    axes.yaxis.set_major_locator(MaxNLocator(nbins=5))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _tick(v, currency, decimals)))
    # Head-room above the tallest bar keeps the legend off the data.
    axes.set_ylim(low * 1.1, (high or 1.0) * 1.3)
    axes.tick_params(axis="y", labelsize=13, labelcolor=TEXT_COLOR, length=0)
    axes.grid(axis="y", color=GRID_COLOR, linewidth=1)
    axes.set_axisbelow(True)


def _tick(value: float, currency: str, decimals: int) -> str:
    symbol = _SYMBOLS.get(currency, currency + " ")
    digits = f"{abs(value):,.{decimals}f}"
    sign = _MINUS if value < 0 and digits.strip("0.,") else ""
    return f"{sign}{symbol}{digits}"


def _no_data(axes: Axes) -> None:
    axes.set_axis_off()
    axes.text(
        0.5,
        0.5,
        "No data for this period",
        transform=axes.transAxes,
        ha="center",
        va="center",
        fontsize=18,
        color=PREVIOUS_COLOR,
        parse_math=False,
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
