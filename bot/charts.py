"""The chart renderer, loaded on first use: matplotlib costs ~2 s and ~50 MB at import."""

from __future__ import annotations

from typing import Any


def lazy_chart(*args: Any, **kwargs: Any) -> bytes:
    from services.charts import daily_spend_chart

    return daily_spend_chart(*args, **kwargs)
