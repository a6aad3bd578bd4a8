"""Cost answers end to end over signed HTTP: genuine OpenCost data, Block Kit limits on big
datasets, the trend chart, Share in channel, slow data, partial multi-cluster answers, a
Kubecost `/model` base URL, and hostile or mistyped input."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from handlers.listeners.commands import REFUSED_NOTE
from handlers.render.limits import MAX_BLOCKS, MAX_TEXT
from handlers.render.validate import validate
from tests.bot_harness import MovableClock, World
from tests.conftest import SHARED
from tests.cost_world import (
    ADMIN,
    all_text,
    assert_money,
    cost_world,
    headline,
    table_after,
    tables,
    texts,
)
from tests.standins.opencost import OpenCostStandIn, allocation_row, allocation_set
from tests.standins.server import wait_until
from tests.standins.signing import block_actions_payload

NOW = datetime(2024, 3, 8, 12, 0, tzinfo=UTC)
DAY = ("2024-03-04T00:00:00Z", "2024-03-05T00:00:00Z")
GENUINE = SHARED / "fixtures" / "opencost"
NAMESPACE_FIXTURE = GENUINE / "allocation_window7d_aggregate-namespace_opencost-website.json"


def _row(namespace: str, pod: str, cost: float, **fields: Any) -> dict[str, Any]:
    start, end = DAY
    return allocation_row(
        namespace=namespace, pod=pod, container="app", cpu_cost=cost, start=start, end=end, **fields
    )


def _assert_slack_limits(reply: dict[str, Any]) -> None:
    blocks = reply.get("blocks") or []
    assert len(blocks) <= MAX_BLOCKS
    assert validate(blocks) == []
    assert all(len(text) <= MAX_TEXT for text in texts(reply))
    assert len(reply.get("text", "")) <= MAX_TEXT


@pytest.fixture
def single(redis_url: str, tmp_path: Path) -> Iterator[tuple[World, OpenCostStandIn]]:
    """The bot on one OpenCost stand-in (OPENCOST_URL) with a fixed clock; data set per test."""
    with (
        OpenCostStandIn() as standin,
        cost_world(redis_url, tmp_path, {"": standin}, clock=MovableClock(NOW)) as world,
    ):
        yield world, standin


# --- genuine OpenCost output ---------------------------------------------------------------------
@pytest.mark.skipif(not NAMESPACE_FIXTURE.exists(), reason="shared/fixtures/opencost is absent")
def test_genuine_opencost_namespace_answer_parses_and_renders(
    single: tuple[World, OpenCostStandIn],
) -> None:
    world, standin = single
    body = json.loads(NAMESPACE_FIXTURE.read_text(), parse_float=Decimal)
    standin.allocation_sets = json.loads(NAMESPACE_FIXTURE.read_text())["data"]
    rows = [row for one_set in body["data"] for row in one_set.values()]
    reply = world.ask("summary 7d", ADMIN)
    assert_money(headline(reply), sum((Decimal(r["totalCost"]) for r in rows), Decimal(0)), "total")
    shown = {name: cost for name, cost, _share in table_after(reply, "Top namespaces")[0]}
    assert set(shown) == {"kube-system", "opencost", "prometheus"}
    for row in rows:
        assert_money(shown[row["name"]], row["totalCost"], row["name"])
    assert "(of 3)" in all_text(reply)
    assert "source: OpenCost" in all_text(reply)
    assert "default-cluster" in all_text(reply)


# --- Block Kit limits on big datasets ------------------------------------------------------------
def _three_hundred_namespaces(scale: float = 1.0) -> list[dict[str, Any]]:
    rows = []
    for i in range(300):
        namespace = (
            f"team-{i:03d}-" + "a-very-long-namespace-name-that-goes-on-and-on"[: 40 + i % 7]
        )
        labels = {"team": "platform"}
        for j in range(2):
            rows.append(
                _row(
                    namespace,
                    f"{namespace}-pod-{j}",
                    (1000.0 + i + j / 10) * scale,
                    labels=labels,
                    controller=f"worker-{j}",
                    kind="deployment",
                )
            )
    # one namespace with 300 workloads
    rows += [
        _row("big", f"job-{i}-pod", 10 + i / 100, controller=f"job-{i}", kind="job")
        for i in range(300)
    ]
    return rows


def _previous_is_empty(standin: OpenCostStandIn) -> None:
    """Windows ending by Mar 2 (the previous 7d) get no rows; the rest get the stored sets."""
    serve = standin.default_responder

    def respond(path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        if params.get("window", "").endswith("2024-03-02T00:00:00Z"):
            return 200, "application/json", b'{"code":200,"data":[{}]}'
        return serve(path, params)

    standin.responder = respond


@pytest.mark.parametrize(
    ("question", "groups", "scale"),
    [
        ("top 50 7d", 301, 1.0),
        ("top 50 by pod 7d", 900, 1.0),
        ("top 50 by controller 7d", 900, 1.0),
        ("top 50 by pod 7d", 900, 1e8),  # $100 billion rows: 50 no longer fit in 3000 chars
    ],
)
def test_a_long_top_list_fits_one_section_and_the_rest_adds_up(
    single: tuple[World, OpenCostStandIn], question: str, groups: int, scale: float
) -> None:
    world, standin = single
    rows = _three_hundred_namespaces(scale)
    standin.allocation_sets = [allocation_set(*rows)]
    reply = world.ask(question, ADMIN, timeout=30)
    _assert_slack_limits(reply)
    (_, shown, after), *_ = tables(reply)
    more = re.search(r"…and (\d+) more \((\$[0-9,.]+)\)", after)
    assert more is not None, after
    assert len(shown) + int(more.group(1)) == groups
    grand = sum(Decimal(str(r["totalCost"])) for r in rows)
    shown_sum = sum(Decimal(cost.strip("$").replace(",", "")) for _, cost, _ in shown)
    rest = Decimal(more.group(2).strip("$").replace(",", ""))
    assert abs(shown_sum + rest - grand) <= len(shown) + 1  # each figure rounded to the dollar
    if scale > 1:
        assert len(shown) < 50
    assert len({name for name, _, _ in shown}) == len(shown)  # clipped names still differ


@pytest.mark.parametrize(
    ("question", "more"),
    [
        ("summary 7d", "(of 301)"),
        ("ns big 7d", "…and 285 more"),
        ("label team=platform 7d", "…and 285 more"),
        ("compare 7d", "…and 291 more"),
        ("trend 7d", "Mar 04"),
    ],
)
def test_three_hundred_namespaces_stay_inside_slack_limits(
    single: tuple[World, OpenCostStandIn], question: str, more: str
) -> None:
    world, standin = single
    standin.allocation_sets = [allocation_set(*_three_hundred_namespaces())]
    _previous_is_empty(standin)
    reply = world.ask(question, ADMIN, timeout=30)
    _assert_slack_limits(reply)
    assert more in all_text(reply)


# --- the trend chart -----------------------------------------------------------------------------
def _image_ids(blocks: list[dict[str, Any]]) -> list[str]:
    return [b["slack_file"]["id"] for b in blocks if b.get("type") == "image" and "slack_file" in b]


def _button(reply: dict[str, Any], action_id: str) -> dict[str, Any]:
    found = [
        element
        for block in reply["blocks"]
        if block.get("type") == "actions"
        for element in block["elements"]
        if element.get("action_id") == action_id
    ]
    assert len(found) == 1, f"one {action_id} button expected"
    button: dict[str, Any] = found[0]
    return button


def test_trend_shows_a_text_chart_privately_and_uploads_nothing(world: World) -> None:
    """Slack cannot show a file in an ephemeral reply: the answer draws its chart in text and
    offers the picture by DM instead (the stricter Slack fake would refuse a slack_file)."""
    reply = world.ask("trend 7d", ADMIN)
    assert world.slack.uploads == []
    assert _image_ids(reply["blocks"]) == []
    chart = next(b for b in reply["blocks"] if "█" in b.get("text", {}).get("text", ""))
    lines = chart["text"]["text"].split("```")[1].strip().splitlines()
    assert len(lines) == 8  # a header, then one row per day of the 7-day window
    assert _button(reply, "chart_to_dm")["value"] == "trend 7d"
    assert reply["blocks"][-1]["block_id"] == "share"  # the buttons stay last


def test_send_me_the_chart_posts_the_png_to_the_clickers_dm_once_processed(world: World) -> None:
    world.slack.workspace.processing_polls = 3  # Slack takes a while: the bot must poll
    reply = world.ask("trend 7d", ADMIN)
    url = world.slack.new_response_url()
    value = _button(reply, "chart_to_dm")["value"]
    payload = block_actions_payload(ADMIN, "chart_to_dm", value, response_url=url, block_id="share")
    assert world.client.action(payload).status_code == 200
    (post,) = world.slack.wait_for("chat.postMessage", timeout=20)
    (opened,) = world.slack.calls_to("conversations.open")
    dm = post.params["channel"]
    assert opened.params["users"] == ADMIN
    assert dm.startswith("D")
    (upload,) = world.slack.uploads
    assert upload.channel_id == dm
    assert upload.processed
    assert upload.content is not None
    assert upload.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(world.slack.calls_to("files.info")) == 3
    assert _image_ids(post.params["blocks"]) == [upload.file_id]
    (said,) = world.slack.wait_for_response(url, 1, timeout=10)
    assert "Sent the chart to your DMs" in said["text"]


def test_sharing_a_trend_uploads_its_chart_to_that_channel_before_showing_it(world: World) -> None:
    reply = world.ask("trend 7d", ADMIN)
    _share(world, ADMIN, _share_value(reply))
    (post,) = world.slack.wait_for("chat.postMessage", timeout=20)
    assert post.params["channel"] == "C0COST"
    (upload,) = world.slack.uploads
    assert upload.channel_id == "C0COST"
    assert upload.processed
    assert _image_ids(post.params["blocks"]) == [upload.file_id]
    assert "chart_to_dm" not in json.dumps(post.params["blocks"])


def test_a_400_day_window_says_what_the_data_covers(world: World) -> None:
    reply = world.ask("summary 400d", ADMIN)
    text = all_text(reply)
    assert re.search(r"data covers \w+ \d+(, \d{4})? – \w+ \d+ \(9[01] of 400 days\)", text), text


# --- Share in channel ----------------------------------------------------------------------------
def _share(world: World, user: str, value: str) -> str:
    url = world.slack.new_response_url()
    payload = block_actions_payload(
        user, "share_in_channel", value, response_url=url, channel_id="C0COST", block_id="share"
    )
    assert world.client.action(payload).status_code == 200
    return url


def _audited(world: World, event: str) -> list[Any] | None:
    assert world.bot.runtime is not None
    events = world.bot.call(world.bot.runtime.deps.audit.recent(20))
    return [e for e in events if e.event == event] or None


def _share_value(reply: dict[str, Any]) -> str:
    (share,) = [b for b in reply["blocks"] if b.get("block_id") == "share"]
    return str(share["elements"][0]["value"])


def test_share_posts_the_clickers_own_answer_to_the_channel_and_audits_it(world: World) -> None:
    admin_reply = world.ask("summary 7d", ADMIN)
    alice_reply = world.ask("summary 7d", "U0ALICE")
    _share(world, "U0ALICE", _share_value(admin_reply))  # alice clicks on a copy of admin's answer
    (post,) = world.slack.wait_for("chat.postMessage", timeout=15)
    assert post.params["channel"] == "C0COST"
    posted = all_text({"blocks": post.params["blocks"]})
    assert "Shared by <@U0ALICE>" in posted
    assert headline({"blocks": post.params["blocks"]}) == headline(alice_reply)
    assert headline(alice_reply) != headline(admin_reply)
    for hidden in ("search", "ml-training", "kube-system", "idle capacity"):
        assert hidden not in posted
    assert not [b for b in post.params["blocks"] if b.get("type") == "actions"]
    shared = wait_until(lambda: _audited(world, "answer_shared"), 5, lambda: "not audited")
    assert shared[0].actor == "U0ALICE"
    assert shared[0].fields["channel"] == "C0COST"


def test_sharing_a_namespace_the_clicker_cannot_see_posts_nothing(world: World) -> None:
    url = _share(world, "U0ALICE", "ns search 7d")
    reply = world.slack.wait_for_answer(url, timeout=15)
    assert "No cost data for namespace search" in reply["text"]
    assert reply.get("response_type", "ephemeral") == "ephemeral"
    assert world.slack.calls_to("chat.postMessage") == []


def test_a_shared_trend_carries_its_chart(world: World) -> None:
    _share(world, ADMIN, "trend 7d")
    (post,) = world.slack.wait_for("chat.postMessage", timeout=15)
    assert len(world.slack.uploads) == 1
    assert _image_ids(post.params["blocks"]) == [world.slack.uploads[0].file_id]


def test_sharing_where_the_bot_is_not_a_member_says_how_to_fix_it(world: World) -> None:
    world.slack.fail("chat.postMessage", error="not_in_channel")
    url = _share(world, ADMIN, "summary 7d")
    reply = world.slack.wait_for_answer(url, timeout=15)
    assert "/invite" in reply["text"]
    assert _audited(world, "answer_shared") is None


# --- slow data -----------------------------------------------------------------------------------
def test_slow_data_first_says_working_on_it_then_replaces_it(
    single: tuple[World, OpenCostStandIn],
) -> None:
    world, standin = single
    standin.allocation_sets = [allocation_set(_row("payments", "api-1", 12.5))]
    standin.delay_seconds = 3
    url = world.slack.new_response_url()
    world.client.slash("summary 7d", user_id=ADMIN, response_url=url, channel_id="C0COST")
    first, final = world.slack.wait_for_response(url, 2, timeout=20)
    assert first["text"].startswith(":hourglass_flowing_sand: Working on it…")
    assert first.get("response_type") == "ephemeral"
    assert final["replace_original"] is True
    assert headline(final).startswith("*$12.50*")


# --- several clusters, Kubecost ------------------------------------------------------------------
def test_a_cluster_that_is_down_is_named_and_the_totals_cover_the_others(
    redis_url: str, tmp_path: Path
) -> None:
    east = OpenCostStandIn([allocation_set(_row("payments", "api-1", 10.0))]).start()
    west = OpenCostStandIn([allocation_set(_row("search", "idx-1", 99.0))]).start()
    west.mode = "down"
    try:
        with cost_world(
            redis_url, tmp_path, {"east": east, "west": west}, clock=MovableClock(NOW)
        ) as world:
            reply = world.ask("summary 7d", ADMIN)
            top = world.ask("top by cluster 7d", ADMIN)
    finally:
        east.stop()
        west.stop()
    assert headline(reply).startswith("*$10.00*")
    assert "no answer from `west`; figures exclude it" in all_text(reply)
    assert "search" not in all_text(reply)
    assert [row[:2] for row in tables(top)[0][1]] == [["east", "$10.00"]]
    assert "`west`" in all_text(top)


def test_a_kubecost_model_base_url_works(redis_url: str, tmp_path: Path) -> None:
    with OpenCostStandIn([allocation_set(_row("payments", "api-1", 4.2))]) as standin:
        with cost_world(
            redis_url, tmp_path, {"": standin}, clock=MovableClock(NOW), base_suffix="/model"
        ) as world:
            reply = world.ask("summary 7d", ADMIN)
        paths = {request.path for request in standin.requests}
    assert headline(reply).startswith("*$4.20*")
    assert "/model/allocation" in paths
    assert "/allocation" not in paths


# --- hostile and mistyped input ------------------------------------------------------------------
@pytest.mark.parametrize("text", ["ns <!channel>", "summary <!here>", "label team=<@U0ALICE>"])
def test_mentions_in_the_input_come_back_escaped(world: World, text: str) -> None:
    reply = world.ask(text, "U0ALICE")
    raw = json.dumps(reply)
    assert "<!channel>" not in raw
    assert "<!here>" not in raw
    assert "<@U0ALICE>" not in raw
    assert "&lt;" in all_text(reply)


def test_a_bare_at_channel_cannot_broadcast(world: World) -> None:
    reply = world.ask("summary @channel", "U0ALICE")
    text = all_text(reply) + reply.get("text", "")
    assert "@channel" not in text
    assert "@\u2060channel" in text


@pytest.mark.parametrize(
    ("text", "guess"),
    [("sumary 7d", "`summary`"), ("top 5 by nmespace", "`namespace`"), ("trnd", "`trend`")],
)
def test_unknown_input_gets_usage_and_a_did_you_mean(world: World, text: str, guess: str) -> None:
    reply = all_text(world.ask(text, "U0ALICE"))
    assert f"Did you mean {guess}?" in reply
    assert "/cost" in reply


# --- the period every answer states --------------------------------------------------------------
def test_the_period_keeps_a_two_digit_day_and_midnight_intact(
    redis_url: str, tmp_path: Path
) -> None:
    """'Mar 20 00:00', not 'Mar 20 0:00' (a leading-zero strip once ate the hour's zero)."""
    with OpenCostStandIn([allocation_set(_row("payments", "api-1", 1.0))]) as standin:
        clock = MovableClock(datetime(2024, 3, 26, 9, 35, tzinfo=UTC))
        with cost_world(redis_url, tmp_path, {"": standin}, clock=clock) as world:
            recent = headline(world.ask("summary 7d", ADMIN))
            early = headline(world.ask("summary 2024-03-01..2024-03-03", ADMIN))
            last_year = headline(world.ask("summary 2023-12-30..2024-01-02", ADMIN))
    assert "Mar 20 00:00 – Mar 26 09:35 UTC" in recent
    assert "Mar 1 00:00 – Mar 4 00:00 UTC" in early
    assert "Dec 30 2023 00:00 – Jan 3 00:00 UTC" in last_year


def test_a_summary_with_nothing_to_say_yet_still_renders(redis_url: str, tmp_path: Path) -> None:
    """At 00:00 UTC 'today' has no elapsed hours; with no rows there is no run-rate, no
    efficiency and (for a namespace-scoped user) no idle figure: still a proper answer."""
    with OpenCostStandIn([{}]) as standin:
        clock = MovableClock(datetime(2024, 3, 8, 0, 0, tzinfo=UTC))
        with cost_world(redis_url, tmp_path, {"": standin}, clock=clock) as world:
            reply = world.ask("summary today", "U0ALICE")
    _assert_slack_limits(reply)
    assert headline(reply).startswith("*$0.00*")
    assert "No cost recorded" in all_text(reply)


def test_a_namespace_that_only_existed_before_shows_as_gone_for_a_scoped_user(
    single: tuple[World, OpenCostStandIn],
) -> None:
    """alice may see payments and checkout; checkout was deleted this week. Her comparison
    must still count it in the previous period (and say it is gone)."""
    world, standin = single
    before = allocation_set(_row("payments", "api-1", 10.0), _row("checkout", "web-1", 5.0))
    now = allocation_set(_row("payments", "api-1", 11.0), _row("search", "idx-1", 50.0))

    def respond(path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        previous = params.get("window", "").endswith("2024-03-02T00:00:00Z")
        body = {"code": 200, "data": [before if previous else now]}
        return 200, "application/json", json.dumps(body).encode()

    standin.responder = respond
    reply = world.ask("compare 7d tz UTC", "U0ALICE")  # the responder knows UTC days
    line = headline(reply)
    assert "*$11.00* vs $15.00" in line
    assert "*Gone:* checkout" in all_text(reply)
    assert "search" not in all_text(reply)


def test_an_answer_slack_refuses_still_reaches_the_asker_as_text(world: World) -> None:
    """Slack answers a message it will not show with a 4xx (not retried, unlike 429/5xx): the
    asker then gets the answer's own text instead of nothing."""
    world.slack.fail("response_url", times=1, status=400)
    reply = world.ask("summary 7d", "U0ALICE")
    assert REFUSED_NOTE in reply["text"], reply
    assert "$" in reply["text"]  # the figures are in the text, not only in the blocks
    assert "search" not in reply["text"]  # still alice's scope
