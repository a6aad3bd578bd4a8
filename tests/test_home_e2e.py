"""App Home end to end: `app_home_opened` over signed HTTP publishes (views.publish, recorded by
the Slack stand-in) a Home holding only what the viewer may see; buttons pressed on the Home
act and re-publish it, since a Home has no response_url.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from demo.cluster import DemoCluster
from demo.identity import DEMO_SLACK_USERS
from tests.bot_harness import World
from tests.rbac_world import (
    ALICE,
    BOB,
    DAVE,
    MALLORY,
    SEES,
    STRANGER,
    Ledger,
    all_text,
    amounts,
    find_rec,
    first_amount,
    leaks,
    near,
    rec_items,
    wait_for_audit,
)
from tests.standins.signing import block_actions_payload, view_submission_payload


def _open_home(world: World, user: str, tab: str = "home") -> dict[str, Any]:
    before = len(world.slack.calls_to("views.publish"))
    event = {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": tab}
    assert world.client.event(event).status_code == 200
    call = world.slack.wait_for("views.publish", before + 1, 30)[-1]
    assert call.params["user_id"] == user
    view: dict[str, Any] = call.params["view"]
    assert view["type"] == "home"
    return view


def _press_on_home(world: World, user: str, action_id: str, value: str) -> dict[str, Any]:
    """A button on the Home: Slack sends the view, no message, no response_url."""
    before = len(world.slack.calls_to("views.publish"))
    payload = block_actions_payload(user, action_id, value)
    for key in ("response_url", "message", "channel"):
        payload.pop(key)
    payload["container"] = {"type": "view", "view_id": "V0HOME"}
    payload["view"] = {"id": "V0HOME", "type": "home", "blocks": [], "private_metadata": ""}
    assert world.client.action(payload).status_code == 200
    view: dict[str, Any] = world.slack.wait_for("views.publish", before + 1, 30)[-1].params["view"]
    return view


def _week_so_far(cluster: DemoCluster, user: str, now: datetime) -> Decimal:
    """This week's visible spend up to the last complete hour, from OpenCost's own aggregation.
    The week is the viewer's own: Monday 00:00 in their Slack zone (Alice: Europe/Berlin)."""
    zone = ZoneInfo(next(u.tz for u in DEMO_SLACK_USERS if u.id == user) or "UTC")
    local = now.astimezone(zone)
    monday = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0)
    monday = monday.astimezone(UTC)
    end = now.replace(minute=0, second=0, microsecond=0)
    window = f"{monday:%Y-%m-%dT%H:%M:%SZ},{end:%Y-%m-%dT%H:%M:%SZ}"
    params = {"window": window, "aggregate": "namespace", "accumulate": "true", "includeIdle": "1"}
    body = json.loads(cluster.respond("/allocation", params)[2])
    costs = {name: Decimal(str(row["totalCost"])) for name, row in body["data"][0].items()}
    return Ledger.visible(costs, user)


def test_home_for_a_mapped_user_shows_only_their_spend_and_recommendations(
    world: World,
) -> None:
    started = world.clock.now().astimezone(UTC)
    view = _open_home(world, ALICE)
    assert not leaks(view, ALICE), leaks(view, ALICE)
    text = all_text(view)
    assert "*This week so far:*" in text
    assert "_namespaces you can see_" in text
    items = rec_items(view)
    assert items
    for _id, _value, line in items:
        assert line.split("`")[1].split("/")[0] in {"payments", "checkout"}, line
    assert "Acknowledge" in json.dumps(view)
    if started.hour == world.clock.now().astimezone(UTC).hour:  # the data grows by the hour
        cluster: DemoCluster = getattr(world.opencost.responder, "__self__")  # noqa: B009
        shown = first_amount(next(t for t in text.split("\n") if "This week so far" in t))
        assert near(shown, _week_so_far(cluster, ALICE, started)), shown


def test_home_for_a_user_who_may_see_nothing_is_empty_not_an_error(world: World) -> None:
    view = _open_home(world, DAVE)
    assert SEES[DAVE] == frozenset()
    text = all_text(view)
    assert not leaks(view, DAVE)
    assert set(amounts(text)) == {Decimal("0.00")}
    assert "Nothing to recommend right now" in text


def test_unmapped_users_get_a_home_that_explains_how_to_get_mapped(world: World) -> None:
    for user in (MALLORY, STRANGER):
        text = all_text(_open_home(world, user))
        assert user in text
        assert "identity map" in text
        assert "$" not in text
        assert not rec_items(_open_home(world, user))


def test_opening_the_messages_tab_publishes_nothing(world: World) -> None:
    event = {"type": "app_home_opened", "user": ALICE, "channel": "D0HOME", "tab": "messages"}
    assert world.client.event(event).status_code == 200
    _open_home(world, BOB)  # handled after the messages-tab event was acknowledged
    assert [call.params["user_id"] for call in world.slack.calls_to("views.publish")] == [BOB]


def test_home_fails_closed_when_kubernetes_cannot_be_asked(world: World) -> None:
    world.kube.set_mode("down")
    try:
        text = all_text(_open_home(world, ALICE))
    finally:
        world.kube.set_mode("ok")
    assert "can't reach the Kubernetes API" in text
    assert "$" not in text
    assert "payments" not in text


def test_acknowledging_on_the_home_acts_and_republishes_it(world: World) -> None:
    rec_id, value, _ = find_rec(_open_home(world, ALICE), "payments/fraud-scorer")
    view = _press_on_home(world, ALICE, "rec_ack", value)
    assert "✅ Acknowledged by <@U0ALICE>" in all_text(view)
    assert rec_id not in [item[0] for item in rec_items(view)]  # only the notice names it
    wait_for_audit(world, "recommendation_acknowledged", rec_id=rec_id)


def test_a_refused_click_on_the_home_says_why_on_the_home(world: World) -> None:
    rec_id, value, _ = find_rec(_open_home(world, BOB), "search/")
    view = _press_on_home(world, BOB, "rec_snooze_7", value)
    assert ":no_entry: You may not change `search/" in all_text(view)
    wait_for_audit(world, "access_denied", rec_id=rec_id, action="act")


def test_dismissing_from_the_home_republishes_it_with_the_reason(world: World) -> None:
    rec_id, value, _ = find_rec(_open_home(world, ALICE), "payments/fraud-scorer")
    opened = len(world.slack.calls_to("views.open"))
    payload = block_actions_payload(ALICE, "rec_dismiss", value)
    for key in ("response_url", "message", "channel"):
        payload.pop(key)
    payload["view"] = {"id": "V0HOME", "type": "home"}
    assert world.client.action(payload).status_code == 200
    modal = world.slack.wait_for("views.open", opened + 1, 30)[-1].params["view"]
    published = len(world.slack.calls_to("views.publish"))
    values = {"reason": {"reason": {"type": "plain_text_input", "value": "owned by vendor"}}}
    submission = view_submission_payload(
        "rec_dismiss_modal", values, user_id=ALICE, private_metadata=modal["private_metadata"]
    )
    assert world.client.view_submission(submission).status_code == 200
    view = world.slack.wait_for("views.publish", published + 1, 30)[-1].params["view"]
    assert "Dismissed by <@U0ALICE>" in all_text(view)
    assert "owned by vendor" in all_text(view)
    wait_for_audit(world, "recommendation_dismissed", rec_id=rec_id)
