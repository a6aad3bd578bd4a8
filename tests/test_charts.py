"""Daily spend charts: PNG bytes of a fixed size, deterministic, safe on empty data and threads."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

from PIL import Image

from services.charts import HEIGHT_PX, WIDTH_PX, daily_spend_chart

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
START = date(2025, 11, 1)


def _series(days: int, start: date = START, base: float = 1000.0) -> list[tuple[date, float]]:
    return [(start + timedelta(days=i), base + (i * 7919 % 13) * 250.0) for i in range(days)]


def _size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as picture:
        return picture.size


def test_chart_is_png_of_800_by_440(tmp_path: Path) -> None:
    png = daily_spend_chart(_series(14), _series(14, START - timedelta(days=14)), "Daily spend")
    assert png.startswith(PNG_MAGIC)
    path = tmp_path / "chart.png"
    path.write_bytes(png)
    with Image.open(path) as picture:
        assert picture.size == (WIDTH_PX, HEIGHT_PX) == (800, 440)
        assert picture.format == "PNG"


def test_empty_series_renders_a_no_data_chart() -> None:
    png = daily_spend_chart([], None, "Nothing here")
    assert png.startswith(PNG_MAGIC)
    assert _size(png) == (800, 440)
    with Image.open(io.BytesIO(png)) as picture:
        colors = picture.convert("RGB").getcolors(maxcolors=100_000) or []
    assert len(colors) > 2  # the title and the "no data" text were drawn


def test_same_data_gives_the_same_bytes() -> None:
    args = (_series(30), _series(30, START - timedelta(days=30)), "Trend · payments", "EUR")
    assert daily_spend_chart(*args) == daily_spend_chart(*args)


def test_png_carries_no_software_version() -> None:
    assert b"matplotlib" not in daily_spend_chart(_series(3), None, "t")


def test_previous_period_changes_the_picture() -> None:
    alone = daily_spend_chart(_series(7), None, "t")
    compared = daily_spend_chart(_series(7), _series(7, START - timedelta(days=7), 3000.0), "t")
    assert alone != compared


def test_awkward_inputs_still_render() -> None:
    cases = [
        (_series(1), None, "one day"),
        (_series(5), _series(30, START - timedelta(days=30)), "partial period, longer previous"),
        (_series(90, base=0.01), None, "tiny values over 90 days"),
        ([(START, -25.0), (START + timedelta(days=1), 40.0)], None, "a credit"),
        ([(START, 0.0)], [], "zero spend $ with $dollar$ signs " + "x" * 200),
    ]
    for points, previous, title in cases:
        assert _size(daily_spend_chart(points, previous, title, "JPY")) == (800, 440), title


def test_concurrent_renders_match_a_sequential_one() -> None:
    points, previous = _series(21), _series(21, START - timedelta(days=21))
    expected = daily_spend_chart(points, previous, "threads")
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: daily_spend_chart(points, previous, "threads"), range(8)))
    assert all(result == expected for result in results)


def test_the_subtitle_and_partial_days_are_drawn() -> None:
    """A chart may travel without its message: what it shows (scope, cluster, period, currency,
    demo) is drawn under the title, and a partial day is drawn differently from a whole one."""
    days = _series(7)
    plain = daily_spend_chart(days, None, "Daily spend")
    titled = daily_spend_chart(
        days, None, "Daily spend", subtitle="payments · cluster east · Nov 1 – 7 UTC · USD"
    )
    partial = daily_spend_chart(days, None, "Daily spend", partial_days={days[-1][0]})
    assert len({plain, titled, partial}) == 3
    assert _size(titled) == _size(partial) == (800, 440)
