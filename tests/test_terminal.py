"""The terminal renderer used by `costbot demo/console/ask`: readable text and pressable buttons."""

from __future__ import annotations

import re

from demo.terminal import ButtonRef, mrkdwn_to_text, render, visible_width
from handlers.render.blocks import (
    Block,
    actions,
    button,
    context,
    divider,
    fields,
    header,
    image,
    section,
)
from handlers.render.mrkdwn import escape
from handlers.render.tables import preformatted_table

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _message() -> list[Block]:
    table = escape(
        preformatted_table([["namespace", "cost"], ["pay<ments>", "$1,234.50"]], ["l", "r"])
    )
    return [
        header("Cost summary · last 7 days"),
        section("*$1,234.50* · see <https://opencost.example/ui|OpenCost> for `payments_api_v2`"),
        fields([("Total", "$1,234.50"), ("Change", "+12.3%"), ("Efficiency", "41%")]),
        context(":test_tube: demo data", "cluster " + escape("prod & <eu>")),
        divider(),
        section("*Top namespaces*\n" + table),
        image(slack_file_id="F123", alt_text="Daily spend"),
        actions(
            button("Acknowledge", "rec_ack", "rec-1", style="primary"),
            button("Snooze 7d", "rec_snooze", "rec-1"),
            button("Dismiss", "rec_dismiss", "rec-1", style="danger"),
            block_id="rec:rec-1",
        ),
    ]


def test_representative_message_renders_every_block_readably() -> None:
    out = render({"text": "fallback", "blocks": _message()}, width=80)
    lines = out.text.splitlines()
    assert lines[:2] == ["Cost summary · last 7 days", "═" * 26]
    assert "$1,234.50 · see OpenCost (https://opencost.example/ui) for `payments_api_v2`" in lines
    assert "Total".ljust(38) + "   Change" in lines  # two columns of (80 - 3) // 2
    assert any(line.startswith("$1,234.50") and line.endswith("+12.3%") for line in lines)
    assert ":test_tube: demo data  cluster prod & <eu>" in lines
    assert "─" * 80 in lines
    assert "namespace        cost" in lines
    assert "pay<ments>  $1,234.50" in lines
    assert "[image: Daily spend → F123]" in lines
    assert lines[-1] == "[1] Acknowledge  [2] Snooze 7d  [3] Dismiss"
    assert "fallback" not in out.text
    assert "*" not in out.text
    assert "\x1b" not in out.text


def test_buttons_map_numbers_to_action_value_and_block() -> None:
    out = render(_message())
    assert out.buttons == [
        ButtonRef(1, "rec_ack", "rec-1", "rec:rec-1", "Acknowledge"),
        ButtonRef(2, "rec_snooze", "rec-1", "rec:rec-1", "Snooze 7d"),
        ButtonRef(3, "rec_dismiss", "rec-1", "rec:rec-1", "Dismiss"),
    ]
    assert out.button(2) == out.buttons[1]
    assert out.button(9) is None


def test_numbering_continues_from_start() -> None:
    first = render(_message())
    second = render(_message(), start=first.next_number())
    assert [b.number for b in second.buttons] == [4, 5, 6]
    assert "[4] Acknowledge" in second.text


def test_color_mode_uses_ansi_styles_and_strips_to_the_plain_text() -> None:
    plain = render(_message(), color=False, width=80).text
    colored = render(_message(), color=True, width=80).text
    assert "\x1b[1m$1,234.50\x1b[22m" in colored  # *bold*
    assert "\x1b[90m" in colored  # context in grey
    assert "\x1b[31m[3] Dismiss\x1b[39m" in colored  # danger button in red
    assert ANSI.sub("", colored).replace("`", "") == _strip_header_rule(plain).replace("`", "")


def _strip_header_rule(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if set(line) != {"═"})


def test_mrkdwn_links_mentions_and_entities_become_readable() -> None:
    text = (
        "<@U123> in <#C9|general> <!here> <https://x.example> <https://y.example|docs> "
        "a &lt;b&gt; &amp;lt;"
    )
    assert mrkdwn_to_text(text) == (
        "@U123 in #general @here https://x.example docs (https://y.example) a <b> &lt;"
    )


def test_mrkdwn_styles_only_at_word_boundaries() -> None:
    assert mrkdwn_to_text("_italic_ and ~gone~ but snake_case_name and 2 * 3 * 4") == (
        "italic and gone but snake_case_name and 2 * 3 * 4"
    )
    assert (
        mrkdwn_to_text("<https://x.example/a_b_c|link_name>")
        == "link_name (https://x.example/a_b_c)"
    )


def test_escaped_broadcast_words_render_without_the_invisible_joiner() -> None:
    assert mrkdwn_to_text(escape("tell @here")) == "tell @here"


def test_code_blocks_are_verbatim_and_never_wrapped() -> None:
    long_row = "x" * 60 + " *not bold* " + "y" * 60
    out = render([section("before\n```\n" + long_row + "\n```\nafter")], width=40)
    assert out.text.splitlines() == ["before", long_row, "after"]


def test_long_prose_wraps_within_width_with_hanging_bullets() -> None:
    out = render([section("• " + "word " * 40)], width=30)
    lines = out.text.splitlines()
    assert all(visible_width(line) <= 30 for line in lines)
    assert lines[0].startswith("• word")
    assert all(line.startswith("  word") for line in lines[1:])


def test_section_accessory_button_is_numbered_with_its_block_id() -> None:
    block = section("Right-size *api*", button("Details", "rec_details", "r9"), block_id="rec:r9")
    out = render([block])
    assert out.text.splitlines() == ["Right-size api", "[1] Details"]
    assert out.buttons == [ButtonRef(1, "rec_details", "r9", "rec:r9", "Details")]


def test_text_only_response_and_view_with_title() -> None:
    assert render({"text": "*Done* &amp; dusted"}).text == "Done & dusted"
    view = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Snooze"},
        "blocks": [section("Until?")],
    }
    assert render(view).text.splitlines() == ["Snooze", "══════", "", "Until?"]


def test_image_with_url_or_saved_file_path() -> None:
    assert (
        render([image(image_url="https://x/c.png", alt_text="c")]).text
        == "[image: c → https://x/c.png]"
    )
    saved = render([image(slack_file_id="F1", alt_text="c")], image_paths={"F1": "/tmp/c.png"})
    assert saved.text == "[image: c → /tmp/c.png]"


def test_unknown_blocks_show_their_text() -> None:
    rich = {
        "type": "rich_text",
        "elements": [
            {"type": "rich_text_section", "elements": [{"type": "text", "text": "hello"}]}
        ],
    }
    assert render([rich]).text == "hello"
    assert render([{"type": "file"}]).text == "[file]"
