"""Time windows: every documented form resolves to the exact UTC range a user would expect."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.costs.windows import (
    DEFAULT_WINDOW,
    MAX_DAYS,
    WINDOW_FORMS,
    TimeRange,
    looks_like_window,
    parse_window,
)
from services.errors import BadWindow

# Thursday 26 November 2026, 09:37:12 UTC.
NOW = datetime(2026, 11, 26, 9, 37, 12, tzinfo=UTC)
BUCKETED = datetime(2026, 11, 26, 9, 35, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- durations -------------------------------------------------------------------------------
def test_seven_days_is_six_full_days_plus_today_like_opencost() -> None:
    window = parse_window("7d", NOW)
    assert (window.start, window.end, window.label) == (utc(2026, 11, 20), BUCKETED, "7d")


@pytest.mark.parametrize(
    ("text", "start"),
    [
        ("1d", utc(2026, 11, 26)),
        ("30d", utc(2026, 10, 28)),
        ("1w", utc(2026, 11, 20)),
        ("2w", utc(2026, 11, 13)),
        ("400d", utc(2026, 11, 26) - timedelta(days=399)),
    ],
)
def test_day_and_week_durations_start_at_a_utc_midnight(text: str, start: datetime) -> None:
    window = parse_window(text, NOW)
    assert window.start == start
    assert window.end == BUCKETED


@pytest.mark.parametrize(
    ("text", "start"), [("1h", utc(2026, 11, 26, 8)), ("24h", utc(2026, 11, 25, 9))]
)
def test_hour_windows_start_on_the_hour(text: str, start: datetime) -> None:
    window = parse_window(text, NOW)
    assert (window.start, window.end) == (start, BUCKETED)


def test_default_window_is_seven_days() -> None:
    assert DEFAULT_WINDOW == "7d"
    assert parse_window(DEFAULT_WINDOW, NOW).label == "7d"


# --- calendar keywords -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("today", utc(2026, 11, 26), BUCKETED),
        ("yesterday", utc(2026, 11, 25), utc(2026, 11, 26)),
        ("week", utc(2026, 11, 23), BUCKETED),  # ISO week: Monday
        ("lastweek", utc(2026, 11, 16), utc(2026, 11, 23)),
        ("month", utc(2026, 11, 1), BUCKETED),
        ("lastmonth", utc(2026, 10, 1), utc(2026, 11, 1)),
    ],
)
def test_calendar_keywords_resolve_to_utc_calendar_periods(
    text: str, start: datetime, end: datetime
) -> None:
    window = parse_window(text, NOW)
    assert (window.start, window.end, window.label) == (start, end, text)


def test_lastmonth_on_new_years_day_is_december_of_the_previous_year() -> None:
    now = utc(2026, 1, 1, 0, 3)
    window = parse_window("lastmonth", now)
    assert (window.start, window.end) == (utc(2025, 12, 1), utc(2026, 1, 1))
    assert parse_window("yesterday", now).start == utc(2025, 12, 31)


def test_month_in_its_first_bucket_is_short_but_never_empty() -> None:
    window = parse_window("month", utc(2026, 1, 1, 0, 3))
    assert (window.start, window.end) == (utc(2026, 1, 1), utc(2026, 1, 1, 0, 5))


def test_week_asked_at_monday_midnight_starts_that_monday() -> None:
    monday = utc(2026, 11, 23)
    window = parse_window("week", monday)
    assert (window.start, window.end) == (monday, monday + timedelta(minutes=5))
    assert parse_window("lastweek", monday).start == utc(2026, 11, 16)
    assert parse_window("lastweek", monday).end == monday


def test_week_asked_on_sunday_still_belongs_to_the_monday_before() -> None:
    sunday = utc(2026, 11, 29, 23, 59)
    assert parse_window("week", sunday).start == utc(2026, 11, 23)


def test_lastmonth_in_a_leap_year_march_is_29_days_of_february() -> None:
    window = parse_window("lastmonth", utc(2028, 3, 10, 12))
    assert (window.start, window.end) == (utc(2028, 2, 1), utc(2028, 3, 1))
    assert window.days() == 29


def test_week_spanning_new_year_starts_in_the_old_year() -> None:
    window = parse_window("week", utc(2027, 1, 1, 10))  # a Friday
    assert window.start == utc(2026, 12, 28)


# --- bucketing -------------------------------------------------------------------------------
RELATIVE = ["24h", "7d", "2w", "today", "week", "month", "30d"]


@pytest.mark.parametrize("text", RELATIVE)
def test_the_same_question_a_minute_apart_resolves_to_the_same_range(text: str) -> None:
    earlier = utc(2026, 11, 26, 9, 35) + timedelta(seconds=20)
    later = earlier + timedelta(minutes=1)
    assert parse_window(text, earlier) == parse_window(text, later)


@pytest.mark.parametrize("text", RELATIVE)
def test_crossing_a_bucket_boundary_moves_the_end(text: str) -> None:
    before = parse_window(text, utc(2026, 11, 26, 9, 39))
    after = parse_window(text, utc(2026, 11, 26, 9, 40))
    assert after.end - before.end == timedelta(minutes=5)


def test_bucket_size_is_configurable() -> None:
    assert parse_window("7d", NOW, bucket_seconds=60).end == utc(2026, 11, 26, 9, 37)
    assert parse_window("7d", NOW, bucket_seconds=3600).end == utc(2026, 11, 26, 9)


def test_non_utc_now_is_converted_to_utc() -> None:
    berlin = NOW.astimezone(ZoneInfo("Europe/Berlin"))
    assert parse_window("7d", berlin) == parse_window("7d", NOW)


def test_programming_errors_are_not_user_errors() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_window("7d", datetime(2026, 11, 26, 9))  # naive on purpose
    with pytest.raises(ValueError, match="positive"):
        parse_window("7d", NOW, bucket_seconds=0)


# --- explicit dates --------------------------------------------------------------------------
def test_date_range_includes_both_days() -> None:
    window = parse_window("2026-11-01..2026-11-07", NOW)
    assert (window.start, window.end) == (utc(2026, 11, 1), utc(2026, 11, 8))
    assert window.label == "2026-11-01..2026-11-07"
    assert window.days() == 7


def test_date_range_over_a_leap_day_counts_it() -> None:
    window = parse_window("2028-02-28..2028-03-01", utc(2028, 6, 1))
    assert window.days() == 3


def test_single_day_range_is_one_day() -> None:
    window = parse_window("2026-11-25..2026-11-25", NOW)
    assert (window.start, window.end) == (utc(2026, 11, 25), utc(2026, 11, 26))


def test_date_range_reaching_into_the_future_stops_at_now() -> None:
    window = parse_window("2026-11-20..2026-12-31", NOW)
    assert (window.start, window.end) == (utc(2026, 11, 20), BUCKETED)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-1..2026-11-7",
        "2026-11-01...2026-11-07",
        "2026-11-01 to 2026-11-07",
        "2026-11-01–2026-11-07",
        "2026-11-01/2026-11-07",
    ],
)
def test_date_range_separators_and_short_dates_normalize(text: str) -> None:
    assert parse_window(text, NOW).label == "2026-11-01..2026-11-07"


# --- forgiving input -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "label"),
    [
        (" 7D ", "7d"),
        ("LastWeek", "lastweek"),
        ("last week", "lastweek"),
        ("last-month", "lastmonth"),
        ("last_month", "lastmonth"),
        ("this week", "week"),
        ("7 days", "7d"),
        ("24 hours", "24h"),
        ("2weeks", "2w"),
        ("TODAY", "today"),
    ],
)
def test_case_spaces_and_spelled_out_units_are_tolerated(text: str, label: str) -> None:
    assert parse_window(text, NOW).label == label


def test_every_documented_form_parses() -> None:
    for form in WINDOW_FORMS:
        text = form.replace("YYYY-MM-DD..YYYY-MM-DD", "2026-11-01..2026-11-07")
        window = parse_window(text, NOW)
        assert window.start < window.end <= NOW + timedelta(minutes=5)


# --- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-11-07..2026-11-01", "before the first"),
        ("2026-12-01..2026-12-02", "future"),
        ("2026-02-29..2026-03-01", "not a real calendar date"),
        ("2026-13-01..2026-13-02", "not a real calendar date"),
        ("0d", "at least"),
        ("401d", f"{MAX_DAYS} days"),
        ("58w", f"{MAX_DAYS} days"),
        ("9601h", f"{MAX_DAYS} days"),
        ("9" * 5000 + "d", f"{MAX_DAYS} days"),
        ("2025-01-01..2026-11-01", f"{MAX_DAYS} days"),
        ("30m", "shortest window is 1h"),
        ("3 months", "lastmonth"),
        ("1y", "lastmonth"),
        ("2026-11-01", "2026-11-01..2026-11-01"),
        ("fortnight", ""),
        ("", ""),
        ("7x", ""),
    ],
)
def test_bad_windows_explain_themselves_and_list_the_forms(text: str, reason: str) -> None:
    with pytest.raises(BadWindow) as caught:
        parse_window(text, NOW)
    assert reason in str(caught.value)
    assert "lastweek" in caught.value.hint
    assert "2026-11-20..2026-11-26" in caught.value.hint  # a concrete, copyable example


def test_bad_window_message_does_not_echo_a_huge_input() -> None:
    with pytest.raises(BadWindow) as caught:
        parse_window("x" * 500, NOW)
    assert len(str(caught.value)) < 120


@pytest.mark.parametrize(
    "token",
    [
        "7d",
        "24h",
        "2w",
        "0d",
        "30m",
        "3mo",
        "today",
        "Last-Week",
        "2026-11-01",
        "2026-11-01..2026-11-07",
        "2026-02-30..2026-03-01",
        "7days",
    ],
)
def test_window_shaped_tokens_are_recognized(token: str) -> None:
    assert looks_like_window(token)


@pytest.mark.parametrize("token", ["payments", "top", "7x", "", "d", "5", "team=payments", "by"])
def test_other_words_are_not_windows(token: str) -> None:
    assert not looks_like_window(token)


# --- TimeRange -------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["7d", "24h", "lastweek", "lastmonth", "2026-11-01..2026-11-07"])
def test_previous_is_the_equal_length_range_just_before(text: str) -> None:
    window = parse_window(text, NOW)
    previous = window.previous()
    assert previous.end == window.start
    assert previous.end - previous.start == window.end - window.start
    assert previous.label == f"previous {window.label}"


def test_hours_and_days_measure_the_range() -> None:
    window = parse_window("yesterday", NOW)
    assert window.hours() == 24
    assert window.days() == 1
    assert parse_window("24h", NOW).hours() == pytest.approx(24 + 35 / 60)


@pytest.mark.parametrize(
    ("text", "described"),
    [
        ("7d", "Nov 20 00:00 – Nov 26 09:35 UTC"),
        ("today", "Nov 26 00:00 – 09:35 UTC"),
        ("yesterday", "Nov 25 UTC"),
        ("lastweek", "Nov 16 – Nov 22 UTC"),
        ("lastmonth", "Oct 1 – Oct 31 UTC"),
        ("2026-11-01..2026-11-07", "Nov 1 – Nov 7 UTC"),
    ],
)
def test_describe_states_the_exact_period(text: str, described: str) -> None:
    assert parse_window(text, NOW).describe() == described


def test_describe_across_new_year_shows_the_older_year() -> None:
    window = parse_window("2025-12-28..2026-01-03", utc(2026, 1, 10))
    assert window.describe() == "Dec 28, 2025 – Jan 3 UTC"


def test_describe_shows_years_when_now_is_a_later_year() -> None:
    window = parse_window("2025-03-01..2025-03-07", utc(2026, 1, 10))
    assert window.describe(now=utc(2026, 1, 10)) == "Mar 1, 2025 – Mar 7, 2025 UTC"
    assert window.describe() == "Mar 1 – Mar 7 UTC"


def test_describe_in_a_zone_converts_and_names_it() -> None:
    window = parse_window("7d", NOW)
    berlin = window.describe(ZoneInfo("Europe/Berlin"))
    assert berlin == "Nov 20 01:00 – Nov 26 10:35 Europe/Berlin"


def test_describe_local_whole_days_in_a_zone() -> None:
    # New York midnights in November are 05:00 UTC.
    window = TimeRange(utc(2026, 11, 20, 5), utc(2026, 11, 22, 5), "custom")
    assert window.describe(ZoneInfo("America/New_York")) == "Nov 20 – Nov 21 America/New_York"


def test_daily_edges_cover_a_partial_last_day() -> None:
    edges = parse_window("7d", NOW).daily_edges()
    assert edges == [utc(2026, 11, 20) + timedelta(days=i) for i in range(8)]


def test_daily_edges_of_whole_days_stop_at_the_end() -> None:
    assert parse_window("yesterday", NOW).daily_edges() == [utc(2026, 11, 25), utc(2026, 11, 26)]


def test_daily_edges_of_an_hour_window_round_outwards() -> None:
    assert parse_window("24h", NOW).daily_edges() == [
        utc(2026, 11, 25),
        utc(2026, 11, 26),
        utc(2026, 11, 27),
    ]


def test_time_range_rejects_naive_or_empty_ranges() -> None:
    with pytest.raises(ValueError, match="UTC"):
        TimeRange(datetime(2026, 1, 1), utc(2026, 1, 2), "x")  # naive on purpose
    with pytest.raises(ValueError, match="UTC"):
        TimeRange(utc(2026, 1, 1).astimezone(ZoneInfo("Europe/Berlin")), utc(2026, 1, 2), "x")
    with pytest.raises(ValueError, match="end after"):
        TimeRange(utc(2026, 1, 2), utc(2026, 1, 2), "x")


def test_time_range_round_trips_through_msgspec_for_caching() -> None:
    window = parse_window("7d", NOW)
    assert msgspec.json.decode(msgspec.json.encode(window), type=TimeRange) == window
    assert hash(window) == hash(parse_window("7d", NOW))


# --- properties ------------------------------------------------------------------------------
NOWS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
WINDOW_TEXT = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"\A[0-9]{1,5} ?(h|d|w|m|days|hours)\Z"),
    st.sampled_from(WINDOW_FORMS[:-1]),
    st.from_regex(r"\A20[0-9]{2}-[01]?[0-9]-[0-3]?[0-9]\.\.20[0-9]{2}-[01]?[0-9]-[0-3]?[0-9]\Z"),
)


@settings(max_examples=300, deadline=None)
@given(text=WINDOW_TEXT, now=NOWS)
def test_any_text_gives_a_sane_range_or_bad_window(text: str, now: datetime) -> None:
    outcome: TimeRange | BadWindow
    try:
        outcome = parse_window(text, now)
    except BadWindow as error:
        outcome = error
    if isinstance(outcome, BadWindow):
        assert "lastweek" in outcome.hint
        return
    window = outcome
    assert window.start < window.end
    assert window.start <= now
    assert window.end - now <= timedelta(minutes=5)
    assert window.end - window.start <= timedelta(days=MAX_DAYS, hours=1)
    assert window.previous().end == window.start
