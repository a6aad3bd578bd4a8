"""Cost answers that lead to savings, and messages whose `text` says what their blocks say, end
to end over signed HTTP against the demo cluster: the open-savings line and its List button,
explanations of efficiency and idle, wide names, and the accessible text of every reply kind.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from handlers.render.costs import render_compare
from handlers.render.format import EFFICIENCY_NOTE, IDLE_NOTE
from handlers.routes.costs import csv_bytes
from services.costs.views import Comparison, Focus, Mover, Provenance
from services.costs.windows import TimeRange
from tests.bot_harness import World
from tests.rbac_world import (
    ADMIN,
    ALICE,
    all_text,
    click,
    find_rec,
    first_amount,
    shared_world,
    texts,
)

FRAUD = "payments/fraud-scorer"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("cost-to-savings")) as (world, _cluster):
        yield world


def _buttons(reply: dict[str, Any]) -> dict[str, str]:
    """action_id → value of every button in the reply."""
    return {
        element["action_id"]: element.get("value", "")
        for block in reply.get("blocks") or []
        if block.get("type") == "actions"
        for element in block.get("elements") or []
    }


def _savings_line(reply: dict[str, Any]) -> str:
    return next(text for text in texts(reply) if "open recommendation" in text)


# --- the open savings under ns and summary -----------------------------------------------------
def test_a_namespace_answer_ends_with_its_open_savings_and_a_button_that_lists_them(
    demo: World,
) -> None:
    answer = demo.ask("ns payments 7d", ALICE)
    line = _savings_line(answer)
    listing = demo.ask("recs ns payments", ALICE)
    assert first_amount(line) == first_amount(texts(listing)[1])  # the same open total
    count = len([b for b in listing["blocks"] if str(b.get("block_id", "")).endswith(":s")])
    assert f"*{count} open recommendation" in line
    assert "in `payments`" in line
    assert "open recommendation" in answer["text"]  # and the text says so too
    buttons = _buttons(answer)
    assert buttons["rec_list"] == "recs ns payments"
    assert "share_in_channel" in buttons  # next to Share, so a shared copy drops both
    listed = demo.slack.responses(click(demo, ALICE, "rec_list", buttons["rec_list"]))[-1]
    assert listed["blocks"][0]["text"]["text"] == "Savings you can act on · payments"
    assert listed["replace_original"] is False  # the cost answer stays


def test_a_summary_ends_with_the_open_savings_of_everything_the_asker_sees(demo: World) -> None:
    answer = demo.ask("summary 7d", ALICE)
    line = _savings_line(answer)
    assert first_amount(line) == first_amount(texts(demo.ask("recs", ALICE))[1])
    assert _buttons(answer)["rec_list"] == "recs"


def test_the_list_button_runs_nothing_but_a_recommendations_list(demo: World) -> None:
    url = click(demo, ALICE, "rec_list", "budget set namespace payments 1/month")
    (answer,) = demo.slack.responses(url)
    assert "That button only lists recommendations." in answer["text"]
    assert "blocks" not in answer or not answer["blocks"]


# --- explained figures and wide names ----------------------------------------------------------
def test_efficiency_and_idle_are_explained_where_they_appear(demo: World) -> None:
    summary = all_text(demo.ask("summary 7d", ADMIN))
    assert "idle capacity" in summary
    assert EFFICIENCY_NOTE in summary
    assert IDLE_NOTE in summary
    namespace = all_text(demo.ask("ns payments 7d", ALICE))
    assert EFFICIENCY_NOTE in namespace
    assert IDLE_NOTE not in namespace  # no idle figure there, so no idle line


def test_long_workload_names_are_shown_whole_up_to_sixty_columns(demo: World) -> None:
    top = all_text(demo.ask("top 50 by controller 7d", ADMIN))
    assert "ml-training/deployment:model-trainer" in top


# --- compare movers ----------------------------------------------------------------------------
def test_compare_lists_no_mover_that_did_not_move() -> None:
    now = datetime(2026, 3, 8, 12, tzinfo=UTC)
    window = TimeRange(now - timedelta(days=7), now, "7d")
    still = Mover("steady", 10.0, 10.0, 0.0, 0.0)
    jump = Mover("payments", 10.0, 15.0, 5.0, 50.0)
    comparison = Comparison(
        focus=Focus(),
        dimension="namespace",
        window=window,
        hours=168.0,
        previous_window=TimeRange(window.start - timedelta(days=7), window.start, "before"),
        total=25.0,
        previous_total=20.0,
        delta=5.0,
        delta_pct=25.0,
        up=[jump, still],
        down=[Mover("tiny", 1.0, 0.998, -0.002, -0.2)],
        new=[],
        gone=[],
        provenance=Provenance(
            demo=False, stale=False, fetched_at=0.0, failed_clusters=[], partial_scope=False
        ),
    )
    text = all_text({"blocks": render_compare(comparison, now, "USD", "compare").blocks})
    assert "payments" in text
    assert "steady" not in text
    assert "tiny" not in text
    assert "*Down*" not in text


# --- accessible text: every message's `text` summarizes its blocks -----------------------------
_BOLD_MONEY = re.compile(r"\*(−?[$€£¥][\d,]+(?:\.\d\d)?)")
_EMOJI = re.compile(r":[a-z0-9_+-]+:")


def _plain(text: str) -> str:
    return " ".join(_EMOJI.sub("", text.replace("*", "").replace("`", "")).split())


def _summary_problems(message: dict[str, Any]) -> list[str]:
    """What a message's top-level text leaves out: its header, or its first bold figure."""
    blocks = message.get("blocks") or []
    text = _plain(str(message.get("text") or ""))
    if not blocks:
        return []
    if not text:
        return ["no text"]
    problems = []
    for block in blocks:
        if block.get("type") == "header":
            title = _plain(block["text"]["text"])
            if title not in text:
                problems.append(f"header {title!r} not in text")
            break
    figures = [m for t in texts(message) for m in _BOLD_MONEY.findall(t)]
    if figures and figures[0] not in text:
        problems.append(f"figure {figures[0]} not in text")
    return problems


def test_the_check_catches_a_text_that_only_says_who_acknowledged() -> None:
    """The old alert update: "Acknowledged by …" in place of what the alert said."""
    alert = {
        "text": "Acknowledged by <@U0CAROL>",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Budget exceeded"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "*$1,050.00* of $1,000.00"}},
        ],
    }
    assert len(_summary_problems(alert)) == 2
    alert["text"] = "Budget exceeded: *$1,050.00* of $1,000.00 · Acknowledged by <@U0CAROL>"
    assert _summary_problems(alert) == []


def test_every_reply_kind_has_a_text_that_names_its_header_and_its_key_figure(
    demo: World,
) -> None:
    asked = [
        ("summary 7d", ADMIN),
        ("ns payments 7d", ALICE),
        ("top 5 by controller", ADMIN),
        ("label team=payments", ADMIN),
        ("compare 7d", ADMIN),
        ("trend 7d", ALICE),
        ("recs", ALICE),
        ("recs ns payments profile production", ALICE),
        ("whoami", ALICE),
        ("help", ALICE),
        ("ns", ALICE),
        ("budget list", ADMIN),
        ("digest list", ADMIN),
    ]
    for command, user in asked:
        demo.ask(command, user)
    listing = demo.ask("recs ns payments", ALICE)
    _, value, _ = find_rec(listing, FRAUD)
    message = {
        "type": "message",
        "ts": "1700000000.000200",
        "text": "",
        "blocks": listing["blocks"],
    }
    click(demo, ALICE, "rec_snooze_7", value, message=message)  # in place
    stale = value.split(":")[0] + ":00000000"
    click(demo, ALICE, "rec_ack", stale)  # a stale version: the current one is shown
    click(demo, ALICE, "rec_list", "recs ns payments")
    said = [s.payload for s in demo.slack.said if s.kind in ("response", "message", "update")]
    assert len(said) >= len(asked) + 3
    problems = {
        str(payload.get("text"))[:60]: found
        for payload in said
        if (found := _summary_problems(payload))
    }
    assert problems == {}


# --- CSV export --------------------------------------------------------------------------------
def _csv_sent_to(world: World, user: str, before: int) -> list[list[str]]:
    """The rows of the CSV file the bot shared in `user`'s DM after `before` uploads."""
    uploads = [u for u in world.slack.uploads if u.completed][before:]
    (upload,) = uploads
    assert upload.channel_id == "D" + user[1:]
    assert upload.filename.endswith(".csv")
    assert upload.content is not None
    return list(csv.reader(io.StringIO(upload.content.decode())))


def test_a_table_answer_with_csv_goes_to_the_askers_dm_with_whole_names(demo: World) -> None:
    before = len([u for u in demo.slack.uploads if u.completed])
    reply = demo.ask("top 50 by controller 7d csv", ADMIN)
    assert "to your DMs" in reply["text"]
    rows = _csv_sent_to(demo, ADMIN, before)
    assert rows[0] == ["cluster", "namespace", "controller", "cost", "share"]
    assert ["ml-training", "deployment:model-trainer"] in [row[1:3] for row in rows]
    opened = demo.slack.calls_to("conversations.open")[-1]
    assert opened.params["users"] == ADMIN
    listed = demo.ask("top 50 by controller 7d", ADMIN)
    assert f"{len(rows) - 1} rows" in reply["text"]
    assert first_amount(texts(listed)[1]) > 0


def test_a_csv_holds_only_what_the_asker_may_see(demo: World) -> None:
    before = len([u for u in demo.slack.uploads if u.completed])
    demo.ask("top 50 by controller 7d csv", ALICE)
    rows = _csv_sent_to(demo, ALICE, before)
    assert {row[1] for row in rows[1:]} <= {"payments", "checkout"}
    assert len(rows) > 1


def test_csv_after_something_that_is_not_a_table_gets_one_line(demo: World) -> None:
    reply = demo.ask("recs csv", ALICE)
    assert "Only cost tables export as CSV" in reply["text"]


def test_a_csv_cell_a_spreadsheet_would_run_is_made_inert_and_figures_stay_numbers() -> None:
    rows = [["name", "cost"], ['=HYPERLINK("http://x")', "-5.00"], ["@sum", "12.50"]]
    text = csv_bytes(rows).decode()
    assert text.splitlines() == ["name,cost", '"\'=HYPERLINK(""http://x"")",-5.00', "'@sum,12.50"]
