"""Block Kit basics in handlers/render: mrkdwn escaping, builders, display formatting, tables,
and Slack's limits (fit/validate)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.render.blocks import (
    Block,
    actions,
    button,
    confirm_dialog,
    context,
    divider,
    fields,
    header,
    image,
    section,
)
from handlers.render.fit import fit, message_text_fallback
from handlers.render.limits import MAX_BLOCKS
from handlers.render.mrkdwn import escape, truncate
from handlers.render.tables import preformatted_table
from handlers.render.validate import validate
from services.numbers import delta_money, money, pct

# --- escaping -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("<!here|here>", "&lt;!here|here&gt;"),
        ("<@U123>", "&lt;@U123&gt;"),
        ("<https://evil|click>", "&lt;https://evil|click&gt;"),
        ("R&D", "R&amp;D"),
        ("&lt;", "&amp;lt;"),
    ],
)
def test_escape_neutralises_mentions_links_and_ampersands(raw: str, escaped: str) -> None:
    assert escape(raw) == escaped


def test_escaped_text_has_no_angle_brackets_left() -> None:
    assert not {"<", ">"} & set(escape("<<!everyone>> <#C1|general> a>b"))


@pytest.mark.parametrize("word", ["@channel", "@here", "@everyone", "@HERE"])
def test_escape_defuses_bare_broadcast_words(word: str) -> None:
    escaped = escape(f"ping {word} now")
    assert word not in escaped
    assert escaped.replace("\u2060", "") == f"ping {word} now"


def test_escape_keeps_ordinary_at_signs() -> None:
    assert escape("alice@example.com @herex") == "alice@example.com @herex"


# --- builders -------------------------------------------------------------------------------


def test_header_is_plain_text_cut_to_150_with_ellipsis() -> None:
    block = header("x" * 400)
    assert block["text"]["type"] == "plain_text"
    assert len(block["text"]["text"]) == 150
    assert block["text"]["text"].endswith("…")


def test_section_keeps_accessory_and_block_id() -> None:
    accessory = button("Open", "open", "1")
    block = section("*hi*", accessory, block_id="b1")
    assert block == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "*hi*"},
        "accessory": accessory,
        "block_id": "b1",
    }


def test_fields_builds_bold_labels_and_rejects_more_than_ten() -> None:
    block = fields([("Total", "$1.00"), ("Change", "+1.0%")])
    assert [f["text"] for f in block["fields"]] == ["*Total*\n$1.00", "*Change*\n+1.0%"]
    with pytest.raises(ValueError, match="fields"):
        fields([("a", "b")] * 11)


def test_fields_cut_each_value_to_2000_characters() -> None:
    block = fields([("Long", "y" * 5000)])
    assert len(block["fields"][0]["text"]) <= 2000


def test_context_rejects_more_than_ten_elements() -> None:
    assert len(context(*["a"] * 10)["elements"]) == 10
    with pytest.raises(ValueError, match="context"):
        context(*["a"] * 11)


def test_button_cuts_text_to_75_but_refuses_an_overlong_value() -> None:
    element = button("B" * 100, "act", "v", style="danger")
    assert len(element["text"]["text"]) == 75
    assert element["style"] == "danger"
    with pytest.raises(ValueError, match="2000"):
        button("ok", "act", "v" * 2001)


def test_button_carries_a_confirm_dialog() -> None:
    dialog = confirm_dialog("Dismiss?", "It will not come back.")
    element = button("Dismiss", "dismiss", "r1", confirm=dialog)
    assert element["confirm"]["confirm"]["text"] == "Confirm"
    assert validate([actions(element)]) == []


def test_actions_rejects_more_than_25_elements() -> None:
    buttons = [button(str(i), f"a{i}", str(i)) for i in range(26)]
    assert len(actions(*buttons[:25], block_id="x")["elements"]) == 25
    with pytest.raises(ValueError, match="actions"):
        actions(*buttons)


def test_image_uses_slack_file_when_given_a_file_id() -> None:
    assert image(slack_file_id="F123", alt_text="Daily spend") == {
        "type": "image",
        "alt_text": "Daily spend",
        "slack_file": {"id": "F123"},
    }
    assert image(image_url="https://x/c.png")["image_url"] == "https://x/c.png"
    with pytest.raises(ValueError, match="exactly one"):
        image()


def test_empty_text_is_refused_by_builders() -> None:
    with pytest.raises(ValueError, match="empty"):
        section("")


# --- formatting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (0, "USD", "$0.00"),
        (1.5, "USD", "$1.50"),
        (99.999, "USD", "$100.00"),
        (1234.5, "USD", "$1,234.50"),
        (12345.6, "USD", "$12,346"),
        (9999.999, "USD", "$10,000"),
        (-3, "USD", "−$3.00"),
        (-0.001, "USD", "$0.00"),
        (1234.5, "EUR", "€1,234.50"),
        (12.0, "gbp", "£12.00"),
        (1234.5, "JPY", "¥1,234"),
        (12.0, "CHF", "CHF 12.00"),
        (float("nan"), "USD", "n/a"),
    ],
)
def test_money_formatting(amount: float, currency: str, shown: str) -> None:
    assert money(amount, currency) == shown


@pytest.mark.parametrize(
    ("value", "signed", "shown"),
    [
        (0.123, True, "+12.3%"),
        (-0.04, True, "−4.0%"),
        (0.0, True, "0.0%"),
        (0.00001, True, "0.0%"),
        (0.5, False, "50.0%"),
        (12.5, True, "+1,250.0%"),
        (None, True, "n/a"),
        (float("inf"), True, "n/a"),
    ],
)
def test_pct_formats_a_fraction(value: float | None, signed: bool, shown: str) -> None:
    assert pct(value, signed=signed) == shown


def test_delta_money_is_signed_unless_zero() -> None:
    assert delta_money(12) == "+$12.00"
    assert delta_money(-3.5, "EUR") == "−€3.50"
    assert delta_money(0.001) == "$0.00"


def test_preformatted_table_aligns_columns_inside_a_code_block() -> None:
    table = preformatted_table(
        [["ns", "cost"], ["payments", "$1.00"], ["web", "$12.50"]], ["l", "r"]
    )
    assert table.splitlines() == [
        "```",
        "ns          cost",
        "payments   $1.00",
        "web       $12.50",
        "```",
    ]


def test_preformatted_table_counts_wide_characters_twice_and_defuses_fences() -> None:
    lines = preformatted_table(
        [["日本", "1"], ["abcd", "2"], ["```", "3"]], ["l", "r"]
    ).splitlines()
    assert lines[1] == "日本  1"
    assert lines[2] == "abcd  2"
    assert lines[3] == "'''   3"
    with pytest.raises(ValueError, match="alignment"):
        preformatted_table([["a"]], ["x"])


# --- truncation and fit ---------------------------------------------------------------------


def test_truncate_closes_an_open_code_fence() -> None:
    text = truncate("```\n" + "line\n" * 1000 + "```", 3000)
    assert len(text) <= 3000
    assert text.count("```") == 2
    assert text.endswith("…\n```")


def test_truncate_never_splits_an_entity_or_a_link() -> None:
    assert truncate("x" * 43 + " &amp; more text here", 50) == "x" * 43 + " …"
    assert truncate("x" * 40 + "<https://a.example|link> tail", 50) == "x" * 40 + "…"


def test_fit_cuts_a_10000_character_section_to_3000() -> None:
    (block,) = fit([{"type": "section", "text": {"type": "mrkdwn", "text": "z" * 10_000}}])
    assert len(block["text"]["text"]) <= 3000
    assert block["text"]["text"].endswith("…")


def test_fit_limits_200_blocks_to_50_ending_with_and_n_more() -> None:
    blocks = [section(f"row {i}") for i in range(200)]
    fitted = fit(blocks)
    assert len(fitted) == MAX_BLOCKS
    assert fitted[-1]["type"] == "context"
    assert fitted[-1]["elements"][0]["text"] == "…and 151 more"
    assert fitted[-2]["text"]["text"] == "row 48"
    assert validate(fitted) == []


def test_fit_keeps_trailing_buttons_and_uses_the_callers_label() -> None:
    blocks = [section(f"row {i}") for i in range(80)]
    blocks.append(actions(button("Share in channel", "share", "summary")))
    fitted = fit(blocks, more_label=lambda n: f"…and {n} more namespaces")
    assert len(fitted) == MAX_BLOCKS
    assert fitted[-1]["type"] == "actions"
    assert fitted[-2]["elements"][0]["text"] == "…and 32 more namespaces"


def test_fit_does_not_mutate_its_input() -> None:
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "z" * 4000}}
    ]
    fit(blocks)
    assert len(blocks[0]["text"]["text"]) == 4000


def test_fit_drops_what_cannot_be_made_valid() -> None:
    blocks: list[Block] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": ""}},
        {"type": "context", "elements": []},
        {
            "type": "actions",
            "elements": [{"type": "button", "text": _plain("x"), "value": "v" * 3000}],
        },
        {"type": "image", "alt_text": "no source"},
        {"type": "divider", "block_id": "d"},
        {"type": "divider", "block_id": "d"},
    ]
    assert fit(blocks) == [{"type": "divider", "block_id": "d"}, {"type": "divider"}]


def test_message_text_fallback_joins_texts_within_3000() -> None:
    blocks = [header("Cost summary"), section("*$12.00*"), context("demo data"), divider()]
    assert message_text_fallback(blocks) == "Cost summary\n*$12.00*\ndemo data"
    assert len(message_text_fallback([section("y" * 2900)] * 3)) <= 3000


# --- validate -------------------------------------------------------------------------------


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def test_validate_accepts_builder_output() -> None:
    blocks = [
        header("h"),
        section("s", button("b", "a", "v")),
        fields([("a", "b")]),
        context("c"),
        divider(),
        image(slack_file_id="F1", alt_text="chart"),
        actions(button("b", "a", "v"), button("c", "b", "v"), block_id="acts"),
    ]
    assert validate(blocks) == []


@pytest.mark.parametrize(
    ("block", "problem"),
    [
        ({"type": "header", "text": _plain("h" * 151)}, "at most 150"),
        ({"type": "header", "text": {"type": "mrkdwn", "text": "h"}}, "plain_text"),
        ({"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3001}}, "at most 3000"),
        ({"type": "section"}, "needs text or fields"),
        ({"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}, "11 fields"),
        ({"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}, "at most 2000"),
        ({"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}, "11 elements"),
        ({"type": "actions", "elements": []}, "0 elements"),
        (
            {"type": "actions", "elements": [{"type": "button", "text": _plain("b" * 76)}]},
            "at most 75",
        ),
        (
            {
                "type": "actions",
                "elements": [{"type": "button", "text": _plain("b"), "value": "v" * 2001}],
            },
            "value over 2000",
        ),
        (
            {
                "type": "actions",
                "elements": [{"type": "button", "text": _plain("b"), "action_id": "a"}] * 2,
            },
            "repeat",
        ),
        ({"type": "image", "alt_text": "x"}, "exactly one"),
        ({"type": "image", "image_url": "https://x", "alt_text": ""}, "alt_text"),
        ({"type": "divider", "block_id": "b" * 256}, "block_id"),
    ],
)
def test_validate_reports_each_violation(block: Block, problem: str) -> None:
    problems = validate([block])
    assert problems
    assert any(problem in p for p in problems), problems


def test_validate_reports_too_many_blocks_and_duplicate_block_ids() -> None:
    blocks = [divider() for _ in range(51)] + [
        {"type": "divider", "block_id": "x"},
        {"type": "divider", "block_id": "x"},
    ]
    problems = validate(blocks)
    assert "53 blocks; at most 50" in problems
    assert any("duplicate block_id" in p for p in problems)


# --- property: fit always yields valid, stable output ---------------------------------------

_pieces = st.sampled_from(["x", "word ", "```", "&amp;", "<https://a.example|link>", "\n", "*b*"])
_texts = st.builds(
    lambda parts, pad: "".join(parts) + "y" * pad,
    st.lists(_pieces, max_size=30),
    st.sampled_from([0, 0, 1, 70, 150, 1990, 2990, 3500, 6000]),
)
_ids = st.sampled_from(["a", "b", "c", "x" * 300, ""])
_text_objects = st.builds(
    lambda kind, text: {"type": kind, "text": text},
    st.sampled_from(["mrkdwn", "plain_text"]),
    _texts,
)
_buttons = st.builds(
    lambda text, action_id, value: {
        "type": "button",
        "text": _plain(text),
        "action_id": action_id,
        "value": value,
    },
    _texts,
    _ids,
    st.sampled_from(["", "v", "v" * 2001]),
)
_blocks = st.one_of(
    st.builds(lambda t: {"type": "header", "text": _plain(t)}, _texts),
    st.builds(lambda t: {"type": "section", "text": t}, _text_objects),
    st.builds(lambda fs: {"type": "section", "fields": fs}, st.lists(_text_objects, max_size=14)),
    st.builds(
        lambda acc, t: {"type": "section", "text": t, "accessory": acc}, _buttons, _text_objects
    ),
    st.builds(lambda es: {"type": "context", "elements": es}, st.lists(_text_objects, max_size=14)),
    st.builds(
        lambda es, bid: {"type": "actions", "elements": es, "block_id": bid},
        st.lists(_buttons, max_size=30),
        _ids,
    ),
    st.builds(
        lambda alt: {"type": "image", "image_url": "https://x/c.png", "alt_text": alt}, _texts
    ),
    st.just({"type": "image", "alt_text": "no source"}),
    st.just(divider()),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_blocks, max_size=120))
def test_fit_output_always_validates_and_is_idempotent(blocks: list[Block]) -> None:
    fitted = fit(blocks)
    assert validate(fitted) == []
    assert fit(fitted) == fitted
    assert len(message_text_fallback(fitted)) <= 3000
