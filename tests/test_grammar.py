"""The /cost grammar: every documented form, its aliases and orderings, and friendly errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.grammar import (
    COMMAND_WORDS,
    USAGE,
    Audit,
    BudgetList,
    BudgetRemove,
    BudgetSet,
    Command,
    Compare,
    DigestList,
    DigestPreview,
    DigestSubscribe,
    DigestUnsubscribe,
    Focus,
    Help,
    LabelQuery,
    NamespaceQuery,
    Recommendations,
    Summary,
    Top,
    Trend,
    Whoami,
    WorkloadQuery,
    parse,
    usage_for,
)
from services.costs.windows import TimeRange, parse_window
from services.errors import BadWindow, UserInputError

NOW = datetime(2026, 11, 26, 9, 37, 12, tzinfo=UTC)


def w(text: str = "7d") -> TimeRange:
    return parse_window(text, NOW)


def ns(name: str) -> Focus:
    return Focus(namespace=name)


CASES: list[tuple[str, Command]] = [
    # help
    ("", Help()),
    ("   ", Help()),
    ("help", Help()),
    ("?", Help()),
    ("HELP", Help()),
    ("help top", Help(topic="top")),
    ("help ns", Help(topic="namespace")),
    ("help recs", Help(topic="recommendations")),
    ("help windows", Help(topic="window")),
    ("help me", Help()),
    ("help sumary", Help(topic="summary")),
    ("top help", Help(topic="top")),
    ("digest ?", Help(topic="digest")),
    ("digest", Help(topic="digest")),
    ("budget", Help(topic="budget")),
    # summary
    ("summary", Summary(window=w())),
    ("summary 30d", Summary(window=w("30d"))),
    ("Summary   LASTWEEK", Summary(window=w("lastweek"))),
    ("summary last week", Summary(window=w("lastweek"))),
    ("summary for the last 30 days", Summary(window=w("30d"))),
    ("summary 2026-11-01..2026-11-07", Summary(window=w("2026-11-01..2026-11-07"))),
    ("summary 2026-11-01 to 2026-11-07", Summary(window=w("2026-11-01..2026-11-07"))),
    ("total 24h", Summary(window=w("24h"))),
    ("30d", Summary(window=w("30d"))),
    ("/cost summary", Summary(window=w())),
    # namespace
    ("namespace payments", NamespaceQuery(namespace="payments", window=w())),
    ("ns payments 30d", NamespaceQuery(namespace="payments", window=w("30d"))),
    ("ns 30d payments", NamespaceQuery(namespace="payments", window=w("30d"))),
    ("NS Payments", NamespaceQuery(namespace="payments", window=w())),
    ("namespace=payments lastmonth", NamespaceQuery(namespace="payments", window=w("lastmonth"))),
    ('namespace "payments"', NamespaceQuery(namespace="payments", window=w())),
    ("namespace “payments”", NamespaceQuery(namespace="payments", window=w())),
    ("  ns   payments   yesterday ", NamespaceQuery(namespace="payments", window=w("yesterday"))),
    ("summary ns payments", NamespaceQuery(namespace="payments", window=w())),
    ("ns __unallocated__", NamespaceQuery(namespace="__unallocated__", window=w())),
    ("ns payments 7d vs prev", Compare(focus=ns("payments"), window=w())),
    ("ns payments month vs lastmonth", Compare(focus=ns("payments"), window=w("month"))),
    # top
    ("top", Top(window=w())),
    ("top 5", Top(window=w(), k=5)),
    ("top 5 by pod 30d", Top(window=w("30d"), k=5, dimension="pod")),
    ("top by pod 5 30d", Top(window=w("30d"), k=5, dimension="pod")),
    ("top 30d by pod 5", Top(window=w("30d"), k=5, dimension="pod")),
    ("top 5 30d", Top(window=w("30d"), k=5)),
    ("top by ns", Top(window=w())),
    ("top controllers", Top(window=w(), dimension="controller")),
    ("top by deployment", Top(window=w(), dimension="controller")),
    ("top by workload", Top(window=w(), dimension="controller")),
    ("top 3 by node", Top(window=w(), k=3, dimension="node")),
    ("top by cluster lastmonth", Top(window=w("lastmonth"), dimension="cluster")),
    ("top by=cluster", Top(window=w(), dimension="cluster")),
    ("top by label:team", Top(window=w(), dimension="label", label_key="team")),
    ("top label:team 30d", Top(window=w("30d"), dimension="label", label_key="team")),
    ("top labels team", Top(window=w(), dimension="label", label_key="team")),
    ("top by label team 5", Top(window=w(), k=5, dimension="label", label_key="team")),
    (
        "top by label:app.kubernetes.io/name",
        Top(window=w(), dimension="label", label_key="app.kubernetes.io/name"),
    ),
    ("top 10 by pod last 7 days", Top(window=w(), k=10, dimension="pod")),
    # label
    ("label team=payments", LabelQuery(key="team", value="payments", window=w())),
    ("label team=payments 30d", LabelQuery(key="team", value="payments", window=w("30d"))),
    ("label team payments", LabelQuery(key="team", value="payments", window=w())),
    ("label team:payments", LabelQuery(key="team", value="payments", window=w())),
    ('label team="payments"', LabelQuery(key="team", value="payments", window=w())),
    ("labels Team=Payments", LabelQuery(key="Team", value="Payments", window=w())),
    ("team=payments month", LabelQuery(key="team", value="payments", window=w("month"))),
    # compare and trend
    ("compare", Compare(focus=Focus(), window=w())),
    ("compare lastweek", Compare(focus=Focus(), window=w("lastweek"))),
    ("compare payments", Compare(focus=ns("payments"), window=w())),
    ("compare namespace payments 30d", Compare(focus=ns("payments"), window=w("30d"))),
    ("compare 30d ns payments", Compare(focus=ns("payments"), window=w("30d"))),
    (
        "compare label team=payments",
        Compare(focus=Focus(label=("team", "payments")), window=w()),
    ),
    ("compare team=payments", Compare(focus=Focus(label=("team", "payments")), window=w())),
    ("compare cluster prod", Compare(focus=Focus(cluster="prod"), window=w())),
    (
        "compare ns payments cluster prod",
        Compare(focus=Focus(namespace="payments", cluster="prod"), window=w()),
    ),
    ("compare all 30d", Compare(focus=Focus(), window=w("30d"))),
    ("summary vs previous", Compare(focus=Focus(), window=w())),
    ("diff payments", Compare(focus=ns("payments"), window=w())),
    ("trend", Trend(focus=Focus(), window=w())),
    ("trend 30d", Trend(focus=Focus(), window=w("30d"))),
    ("trend payments 30d", Trend(focus=ns("payments"), window=w("30d"))),
    ("trend label team=search", Trend(focus=Focus(label=("team", "search")), window=w())),
    ("trend cluster prod 2w", Trend(focus=Focus(cluster="prod"), window=w("2w"))),
    # recommendations
    ("recommendations", Recommendations()),
    ("recs", Recommendations()),
    ("savings", Recommendations()),
    ("recs all", Recommendations(include_all=True)),
    ("recs namespace payments", Recommendations(namespace="payments")),
    ("recs ns=payments all", Recommendations(namespace="payments", include_all=True)),
    ("savings payments", Recommendations(namespace="payments")),
    # identity and audit
    ("whoami", Whoami()),
    ("who am i", Whoami()),
    ("Who am I", Whoami()),
    ("audit", Audit()),
    ("audit 50", Audit(limit=50)),
    # digests
    ("digest list", DigestList()),
    ("digests", DigestList()),
    ("digest subscribe", DigestSubscribe(everything=True)),
    ("digest subscribe daily", DigestSubscribe(frequency="daily", everything=True)),
    (
        "digest subscribe daily at 8:30",
        DigestSubscribe(frequency="daily", at="08:30", everything=True),
    ),
    (
        "digest subscribe weekly fri at 5pm tz Europe/Berlin namespace payments search",
        DigestSubscribe(
            day="fri", at="17:00", tz="Europe/Berlin", namespaces=("payments", "search")
        ),
    ),
    (
        "digest subscribe every Monday at 9 am tz america/new_york label team=payments",
        DigestSubscribe(at="09:00", tz="America/New_York", label=("team", "payments")),
    ),
    (
        "digest subscribe weekly thursday 17:45",
        DigestSubscribe(day="thu", at="17:45", everything=True),
    ),
    ("digest subscribe tz=UTC all", DigestSubscribe(tz="UTC", everything=True)),
    ("digest subscribe Europe/Paris", DigestSubscribe(tz="Europe/Paris", everything=True)),
    ("digest subscribe ns a,b,c", DigestSubscribe(namespaces=("a", "b", "c"))),
    ("digest subscribe ns a a", DigestSubscribe(namespaces=("a",))),
    (
        'digest subscribe cron "0 9 * * mon-fri" all',
        DigestSubscribe(frequency="cron", cron="0 9 * * mon-fri", everything=True),
    ),
    (
        "digest subscribe cron 0 9 * * 1-5 ns payments",
        DigestSubscribe(frequency="cron", cron="0 9 * * 1-5", namespaces=("payments",)),
    ),
    ("digest unsubscribe abc123", DigestUnsubscribe(sub_id="abc123")),
    ("digest remove #abc123", DigestUnsubscribe(sub_id="abc123")),
    ("digest preview", DigestPreview()),
    ("digest preview abc123", DigestPreview(sub_id="abc123")),
    ("digest test", DigestPreview()),
    # budgets
    ("budgets", BudgetList()),
    ("budget list", BudgetList()),
    (
        "budget set namespace payments 1500/month",
        BudgetSet(kind="namespace", target="payments", amount=Decimal(1500)),
    ),
    (
        "budget set label team=payments 2000",
        BudgetSet(kind="label", target="team=payments", amount=Decimal(2000)),
    ),
    (
        "budget set cluster 10000/month",
        BudgetSet(kind="cluster", target="", amount=Decimal(10000)),
    ),
    (
        "budget set cluster prod $12,500.50 per month",
        BudgetSet(kind="cluster", target="prod", amount=Decimal("12500.50")),
    ),
    (
        "budget set ns payments 1.5k monthly",
        BudgetSet(kind="namespace", target="payments", amount=Decimal(1500)),
    ),
    (
        "budget add ns payments to 2000 a month",
        BudgetSet(kind="namespace", target="payments", amount=Decimal(2000)),
    ),
    ("budget remove b1", BudgetRemove(budget_id="b1")),
    ("budget rm b1", BudgetRemove(budget_id="b1")),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[text or "<empty>" for text, _ in CASES])
def test_documented_forms_aliases_and_orderings_parse(text: str, expected: Command) -> None:
    assert parse(text, NOW) == expected


# --- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("sumary", "summary"),
        ("recomendations", "recommendations"),
        ("recomendation", "recommendations"),
        ("tpo", "top"),
        ("whomai", "whoami"),
        ("comapre", "compare"),
        ("digset", "digest"),
        ("budgte", "budget"),
        ("namespce", "namespace"),
        ("trnd", "trend"),
    ],
)
def test_unknown_command_suggests_the_closest_word_and_its_one_usage_line(
    typo: str, meant: str
) -> None:
    with pytest.raises(UserInputError) as caught:
        parse(f"{typo} 7d", NOW)
    assert typo in str(caught.value)
    guess, *usage = caught.value.hint.split("\n")  # the guess and that command's usage only
    assert guess == f"Did you mean `{meant}`?"
    assert usage[0].startswith(f"`/cost {meant}")
    assert f"`/cost help {meant}`" in usage[-1]
    assert len(usage) <= (4 if meant == "digest" else 2)


def test_unknown_word_with_nothing_close_gets_one_line_and_a_namespace_tip() -> None:
    with pytest.raises(UserInputError) as caught:
        parse("payments", NOW)
    assert "Did you mean" not in caught.value.hint
    assert "namespace NAME" in caught.value.hint
    assert "`/cost help`" in caught.value.hint
    assert "\n" not in caught.value.hint


@pytest.mark.parametrize(
    ("text", "topic"),
    [("top by nmespace", "top"), ("summary lastwek", "summary"), ("ns a b", "namespace")],
)
def test_a_mistake_shows_only_that_commands_usage(text: str, topic: str) -> None:
    with pytest.raises(UserInputError) as caught:
        parse(text, NOW)
    hint = caught.value.hint
    assert f"`/cost help {topic}`" in hint
    others = [w for w in COMMAND_WORDS if w not in (topic, "help") and f"/cost {w} " in hint]
    assert not others, hint
    assert len(hint.splitlines()) <= 3, hint


@pytest.mark.parametrize(
    ("text", "words", "hint"),
    [
        ("top by nmespace", "nmespace", "Did you mean `namespace`?"),
        ("top 7dd", "7dd", "Did you mean `7d`?"),
        ("summary lastwek", "lastwek", "Did you mean `lastweek`?"),
        ("top 0", "from 1 to 50", "/cost top"),
        ("top 500", "from 1 to 50", "/cost top"),
        ("top 5 5", "Two numbers", "/cost top"),
        ("top by pod by node", "Two dimensions", "/cost top"),
        ("top by label", "Which label key", "/cost top"),
        ("summary 7d 30d", "Two time windows", "WINDOW"),
        ("namespace", "Which namespace?", "/cost namespace NAME"),
        ("ns Payments_X", "not a namespace name", "/cost namespace"),
        ("ns a b", "“b”", "/cost namespace"),
        ("label", "Which label?", "/cost label"),
        ("label team", "KEY=VALUE", "/cost label"),
        ("label team=", "Which value", "/cost label"),
        ("label team=pay ments", "“ments”", "/cost label"),
        ("ns payments cluster prod", "cluster only narrows", "/cost namespace"),
        ("trend a b", "“b”", "/cost trend"),
        ("recs 30d", "leave out the time window", "/cost recommendations"),
        ("recs label team=x", "namespace only", "/cost recommendations"),
        ("whoami please", "didn't expect", "/cost whoami"),
        ("audit 1000", "from 1 to 100", "/cost audit"),
        ("digest foo", "“foo”", "/cost digest"),
        ("digest subscribe daily mon", "no day", "/cost digest"),
        ("digest subscribe at 25:00", "not a time of day", "/cost digest"),
        ("digest subscribe at 13pm", "not a time of day", "/cost digest"),
        ("digest subscribe tz Europe/Berln", "not a time zone", "Did you mean `Europe/Berlin`?"),
        ('digest subscribe cron "61 9 * * *"', "does not work", "/cost digest"),
        ('digest subscribe cron "0 9 *"', "five-field", "/cost digest"),
        ('digest subscribe weekly cron "0 9 * * *"', "whole schedule", "/cost digest"),
        ("digest subscribe ns a label x=y", "one scope", "/cost digest"),
        ("digest subscribe daily weekly", "Two schedules", "/cost digest"),
        ("digest unsubscribe", "Which subscription", "digest list"),
        ("budget set payments 100", "A budget for what?", "/cost budget"),
        ("budget set ns payments 1500/week", "per calendar month", "/cost budget"),
        ("budget set ns payments 0", "more than 0", "/cost budget"),
        ("budget set ns payments lots", "not an amount", "/cost budget"),
        ("budget set ns payments", "Which amount", "/cost budget"),
        ("budget remove", "Which budget", "budget list"),
        ("cluster prod", "not a command on its own", "top by cluster"),
    ],
)
def test_mistakes_are_explained_with_the_commands_usage(text: str, words: str, hint: str) -> None:
    with pytest.raises(UserInputError) as caught:
        parse(text, NOW)
    assert words in str(caught.value)
    assert hint in caught.value.hint


@pytest.mark.parametrize(
    "text",
    [
        "summary 0d",
        "top 30m",
        "ns payments 2026-02-30..2026-03-01",
        "trend 2026-12-01..2026-12-02",
        "compare 401d",
    ],
)
def test_bad_windows_raise_bad_window_with_its_hint(text: str) -> None:
    with pytest.raises(BadWindow) as caught:
        parse(text, NOW)
    assert "lastweek" in caught.value.hint
    assert "YYYY" not in caught.value.hint  # a real example date instead


@pytest.mark.parametrize(
    "text",
    [
        "<!channel>",
        "<!here> summary",
        "<@U123|alice> summary",
        "&lt;!channel&gt;",
        "summary <!channel>",
        "ns <!everyone>",
        "label team=<!channel>",
        "top by <@U123>",
        "digest subscribe ns <#C123|general>",
        "budget set ns <!channel> 100",
    ],
)
def test_slack_mentions_in_the_text_are_plain_input_errors(text: str) -> None:
    with pytest.raises(UserInputError):
        parse(text, NOW)


def test_huge_input_is_echoed_shortly() -> None:
    with pytest.raises(UserInputError) as caught:
        parse("x" * 10_000, NOW)
    assert len(str(caught.value)) < 120


# --- shape of the module ---------------------------------------------------------------------
def test_usage_is_plain_text_with_every_command_and_the_windows() -> None:
    assert "`" not in USAGE
    assert "*" not in USAGE
    for word in COMMAND_WORDS:
        if word != "help":
            assert f"/cost {word}" in USAGE
    assert "lastmonth" in USAGE
    assert "YYYY-MM-DD..YYYY-MM-DD" in USAGE


@pytest.mark.parametrize("topic", [w for w in COMMAND_WORDS if w != "help"])
def test_usage_for_a_topic_is_just_that_command(topic: str) -> None:
    text = usage_for(topic)
    assert f"/cost {topic}" in text
    assert len(text) < len(USAGE)


def test_every_command_word_is_understood() -> None:
    problems: list[str] = []
    for word in COMMAND_WORDS:
        try:
            parse(word, NOW)
        except UserInputError as error:
            problems.append(str(error))
    assert not [p for p in problems if "don't know the command" in p]


# --- common slips ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cost ns payments", NamespaceQuery(namespace="payments", window=w())),
        ("/cost cost summary", Summary(window=w())),
        ("recs for payments", Recommendations(namespace="payments")),
        ("recommendations for payments", Recommendations(namespace="payments")),
        (
            "recommendations FOR payments all",
            Recommendations(namespace="payments", include_all=True),
        ),
        (
            "top 5 by team",
            Top(window=w(), k=5, dimension="label", label_key="team", label_guessed=True),
        ),
        ("top by label:team", Top(window=w(), dimension="label", label_key="team")),
        (
            "workload payments/payments-api",
            WorkloadQuery(namespace="payments", name="payments-api", window=w()),
        ),
        (
            "workload deployment:payments-api ns payments 30d",
            WorkloadQuery(namespace="payments", name="deployment:payments-api", window=w("30d")),
        ),
        ("wl Payments/API", WorkloadQuery(namespace="payments", name="api", window=w())),
        ("help workload", Help(topic="workload")),
        ("help windows", Help(topic="window")),
        ("workload help", Help(topic="workload")),
    ],
)
def test_common_slips_are_understood(text: str, expected: Command) -> None:
    assert parse(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("workload payments", "In which namespace?"),
        ("workload", "Which workload?"),
        ("workload a/b c", "“c”"),
        ("workload a/b label team=x", "namespace and name only"),
        ("workload a/Bad_Name", "not a workload name"),
        ("workload a/b ns c", "One namespace"),
        ("top by nodez", "“nodez”"),  # a slip of a dimension is a slip, not a label
    ],
)
def test_workload_and_top_mistakes_are_one_line_with_their_usage(text: str, words: str) -> None:
    with pytest.raises(UserInputError) as caught:
        parse(text, NOW)
    assert words in str(caught.value)
    assert "/cost help" in caught.value.hint


def test_top_knows_its_opencost_aggregate() -> None:
    by_label, by_workload = parse("top by label:team", NOW), parse("top by deployment", NOW)
    assert isinstance(by_label, Top)
    assert isinstance(by_workload, Top)
    assert (by_label.aggregate(), by_workload.aggregate()) == ("label:team", "controller")


def test_the_same_question_a_minute_later_is_the_same_command() -> None:
    first = parse("top 5 by pod 30d", NOW.replace(minute=35, second=30))
    assert parse("top 5 by pod 30d", NOW.replace(minute=36, second=50)) == first


ENCODABLE = [
    "top 5 by label:team 30d",
    "compare label team=x",
    "recs all",
    "digest subscribe weekly fri ns a b",
    "budget set ns a 10.5",
]


@pytest.mark.parametrize("text", ENCODABLE)
def test_commands_round_trip_through_msgspec_with_a_type_tag(text: str) -> None:
    command = parse(text, NOW)
    encoded = msgspec.json.encode(command)
    assert f'"type":"{type(command).__name__}"'.encode() in encoded
    assert msgspec.json.decode(encoded, type=Command) == command


def test_commands_are_frozen_and_hashable() -> None:
    command = parse("compare label team=payments", NOW)
    assert isinstance(command, Compare)
    with pytest.raises(AttributeError):
        command.window = parse_window("30d", NOW)  # type: ignore[misc]  # frozen on purpose
    assert hash(command) == hash(parse("compare label team=payments", NOW))


# --- fuzz ------------------------------------------------------------------------------------
VOCABULARY = [
    *COMMAND_WORDS,
    "ns",
    "recs",
    "by",
    "label",
    "cluster",
    "all",
    "vs",
    "prev",
    "last",
    "week",
    "7d",
    "24h",
    "0d",
    "30m",
    "5",
    "0",
    "99999999",
    "team=x",
    "x=",
    "=",
    ":",
    "label:team",
    "at",
    "9",
    "pm",
    "tz",
    "Europe/Berlin",
    "cron",
    "*",
    "daily",
    "weekly",
    "mon",
    "subscribe",
    "set",
    "list",
    "remove",
    "preview",
    "1500/month",
    "$1,000",
    "per",
    "a",
    "2026-11-01",
    "to",
    "2026-11-01..2026-11-07",
    '"',
    "'",
    "“",
    "<!channel>",
    "<@U1>",
    "&lt;",
    "for",
    "the",
    "#1",
    "am",
    "i",
    "who",
    "10000d",
    "2026-13-01..2026-13-02",
    "/cost",
    "help",
    "?",
]
WORD = st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=10))


@settings(max_examples=300, deadline=None)
@given(text=st.lists(WORD, max_size=8).map(" ".join))
def test_any_mix_of_known_words_parses_or_is_a_user_error(text: str) -> None:
    outcome: Command | UserInputError
    try:
        outcome = parse(text, NOW)
    except UserInputError as error:
        outcome = error
    if isinstance(outcome, UserInputError):
        assert str(outcome)
        assert outcome.hint
    else:
        assert isinstance(outcome, Command)


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(max_size=80),
    now=st.datetimes(datetime(2001, 1, 1), datetime(2099, 1, 1), timezones=st.just(UTC)),
)
def test_arbitrary_text_parses_or_is_a_user_error(text: str, now: datetime) -> None:
    try:
        command = parse(text, now)
    except UserInputError:
        return
    assert isinstance(command, Command)
    window = getattr(command, "window", None)
    assert window is None or window.end - now <= timedelta(minutes=5)
