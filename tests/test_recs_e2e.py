"""Recommendations end to end over signed HTTP: the list, its buttons (Acknowledge, Snooze,
Dismiss with its modal, Details), re-authorization of every click, versions, races, and the
realized savings measured after an acknowledged change was really applied.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from demo.cluster import DemoCluster
from services.access.sar import SarAuthorizer
from services.opencost.models import AllocationData, AllocationQuery, AssetData
from services.recommendations.board import RecommendationBoard
from services.recommendations.models import RecSnapshot, RecState
from services.recommendations.realized import RealizedSavings
from services.recommendations.store import RecommendationStore
from tests.bot_harness import World
from tests.conftest import FakeClock
from tests.rbac_world import (
    ADMIN,
    ALICE,
    BOB,
    all_text,
    click,
    find_rec,
    first_amount,
    rec_items,
    shared_world,
    texts,
    wait_for_audit,
)
from tests.standins.opencost import Responder
from tests.standins.signing import block_actions_payload, view_submission_payload

FRAUD = "payments/fraud-scorer"  # 2 cores requested, ~0.25 used: the demo's clearest saving


def _board(world: World) -> RecommendationBoard:
    runtime = world.bot.runtime
    assert runtime is not None
    board = runtime.deps.recs
    assert isinstance(board, RecommendationBoard)
    return board


def _state(world: World, rec_id: str) -> RecState:
    state: RecState = world.bot.call(_board(world).store.get(rec_id))
    return state


def _message(reply: dict[str, Any]) -> dict[str, Any]:
    """The list as a message in a channel (what Slack sends back with a click on it)."""
    return {"type": "message", "ts": "1700000000.000100", "text": "", "blocks": reply["blocks"]}


def _version(value: str) -> str:
    return value.partition(":")[2]


def _answer(world: World, url: str) -> dict[str, Any]:
    return world.slack.responses(url)[-1]


# --- acknowledge -----------------------------------------------------------------------------
def test_acknowledge_updates_the_message_in_place_stores_who_and_audits(world: World) -> None:
    listing = world.ask("recs", ALICE)
    rec_id, value, _ = find_rec(listing, FRAUD)
    others = [item for item in rec_items(listing) if item[0] != rec_id]
    answer = _answer(world, click(world, ALICE, "rec_ack", value, message=_message(listing)))
    assert answer["replace_original"] is True
    item = find_rec(answer, FRAUD)
    assert "✅ Acknowledged by <@U0ALICE>" in item[2]
    assert [i for i in rec_items(answer) if i[0] != rec_id] == others  # the rest untouched
    buttons = next(b for b in answer["blocks"] if b.get("block_id") == f"rec:{rec_id}:a")
    assert [e["action_id"] for e in buttons["elements"]] == ["rec_details"]
    state = _state(world, rec_id)
    assert (state.status, state.by, state.version_acted) == ("acknowledged", ALICE, _version(value))
    assert [event.action for event in state.history] == ["acknowledge"]
    wait_for_audit(world, "recommendation_acknowledged", rec_id=rec_id, namespace="payments")
    assert rec_id not in [i[0] for i in rec_items(world.ask("recs", ALICE))]
    assert "1 acknowledged/snoozed/dismissed hidden" in all_text(world.ask("recs", ALICE))


def test_acknowledge_on_an_ephemeral_list_rerenders_it_with_the_change_on_top(
    world: World,
) -> None:
    rec_id, value, _ = find_rec(world.ask("recs", ALICE), FRAUD)
    answer = _answer(world, click(world, ALICE, "rec_ack", value))  # no message: ephemeral
    assert answer["replace_original"] is True
    assert answer["blocks"][1]["block_id"] == f"rec:{rec_id}:s"
    assert "✅ Acknowledged by <@U0ALICE>" in answer["blocks"][1]["text"]["text"]


def test_two_simultaneous_clicks_make_one_change_with_one_history_entry(world: World) -> None:
    rec_id, value, _ = find_rec(world.ask("recs", ALICE), FRAUD)
    urls = [world.slack.new_response_url() for _ in range(2)]
    start = threading.Barrier(2)

    def press(user: str, url: str) -> None:
        payload = block_actions_payload(user, "rec_ack", value, response_url=url)
        start.wait()
        assert world.client.action(payload).status_code == 200

    threads = [
        threading.Thread(target=press, args=args) for args in zip((ALICE, ADMIN), urls, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for url in urls:
        world.slack.wait_for_response(url, 1, 20)
    state = _state(world, rec_id)
    assert state.status == "acknowledged"
    assert len(state.history) == 1
    assert state.by in (ALICE, ADMIN)
    acks = [e for e in _audit(world) if e.event == "recommendation_acknowledged"]
    assert [e.actor for e in acks] == [state.by]


def _audit(world: World) -> list[Any]:
    runtime = world.bot.runtime
    assert runtime is not None
    return list(world.bot.call(runtime.deps.audit.recent(50)))


# --- snooze ----------------------------------------------------------------------------------
def test_snooze_hides_the_recommendation_until_it_expires(world: World) -> None:
    rec_id, value, _ = find_rec(world.ask("recs", ALICE), FRAUD)
    answer = _answer(world, click(world, ALICE, "rec_snooze_7", value))
    assert ":zzz: Snoozed by <@U0ALICE>" in all_text(answer)
    assert rec_id not in _listed(world, "recs")
    assert ":zzz: Snoozed" in find_rec(world.ask("recs all", ALICE), FRAUD)[2]
    world.clock.advance(timedelta(days=6, hours=23))
    assert rec_id not in _listed(world, "recs")
    world.clock.advance(timedelta(hours=2))
    assert rec_id in _listed(world, "recs")
    state = _state(world, rec_id)
    assert state.status == "open"
    assert [e.action for e in state.history] == ["snooze", "snooze_expired"]
    wait_for_audit(world, "recommendation_snoozed", rec_id=rec_id)


def _listed(world: World, command: str, user: str = ALICE) -> list[str]:
    return [item[0] for item in rec_items(world.ask(command, user))]


# --- dismiss ---------------------------------------------------------------------------------
def _open_dismiss_modal(world: World, user: str, value: str) -> tuple[dict[str, Any], str]:
    """The modal the Dismiss button opened, and the response_url of the click (the bot keeps
    it server-side; the modal carries only an opaque token)."""
    before = len(world.slack.calls_to("views.open"))
    url = click(world, user, "rec_dismiss", value, wait=False)
    call = world.slack.wait_for("views.open", before + 1, 10)[-1]
    view: dict[str, Any] = call.params["view"]
    assert url not in json.dumps(view)
    return view, url


def _submit_reason(world: World, user: str, view: dict[str, Any], reason: str) -> Any:
    values = {"reason": {"reason": {"type": "plain_text_input", "value": reason}}}
    payload = view_submission_payload(
        view["callback_id"], values, user_id=user, private_metadata=view["private_metadata"]
    )
    return world.client.view_submission(payload)


def test_dismiss_asks_why_in_a_modal_and_keeps_the_reason(world: World) -> None:
    rec_id, value, _ = find_rec(world.ask("recs", ALICE), FRAUD)
    view, url = _open_dismiss_modal(world, ALICE, value)
    assert view["callback_id"] == "rec_dismiss_modal"
    assert "fraud-scorer" in json.dumps(view)
    reason = "Peak season <!channel> & batch spikes"
    response = _submit_reason(world, ALICE, view, reason)
    assert response.status_code == 200
    assert response.text == ""  # the modal closes
    updated = world.slack.wait_for_answer(url, timeout=20)
    assert updated["replace_original"] is True
    assert ":wastebasket: Dismissed by <@U0ALICE>" in all_text(updated)
    state = _state(world, rec_id)
    assert (state.status, state.reason, state.by) == ("dismissed", reason, ALICE)
    shown = find_rec(world.ask("recs all", ALICE), FRAUD)[2]
    assert "Peak season &lt;!channel&gt; &amp; batch spikes" in shown
    assert "<!channel>" not in shown
    wait_for_audit(world, "recommendation_dismissed", rec_id=rec_id, reason=reason)


def test_a_multi_line_dismiss_reason_is_kept_and_audited_as_one_line(world: World) -> None:
    rec_id, value, _ = find_rec(world.ask("recs", ALICE), FRAUD)
    view, url = _open_dismiss_modal(world, ALICE, value)
    spoof = "seasonal\naudit.recommendation_acknowledged actor=U0DEMOADMIN"
    assert _submit_reason(world, ALICE, view, spoof).status_code == 200
    world.slack.wait_for_response(url, 1, 20)
    one_line = "seasonal audit.recommendation_acknowledged actor=U0DEMOADMIN"
    assert _state(world, rec_id).reason == one_line
    wait_for_audit(world, "recommendation_dismissed", rec_id=rec_id, reason=one_line)


def test_dismiss_without_a_reason_keeps_the_modal_open_and_changes_nothing(world: World) -> None:
    rec_id, value, _ = find_rec(world.ask("recs", ALICE), FRAUD)
    view, _ = _open_dismiss_modal(world, ALICE, value)
    response = _submit_reason(world, ALICE, view, " ")
    assert response.json() == {
        "response_action": "errors",
        "errors": {"reason": "Please say why (3+ characters)."},
    }
    assert _state(world, rec_id).status == "open"


def test_dismiss_modal_submitted_by_someone_without_patch_changes_nothing(world: World) -> None:
    """A view opened by Alice cannot be submitted by Bob: its token was issued to Alice."""
    rec_id, value, _ = find_rec(world.ask("recs", ALICE), FRAUD)
    view, _ = _open_dismiss_modal(world, ALICE, value)
    response = _submit_reason(world, BOB, view, "not my team's call")
    assert response.json()["response_action"] == "errors"
    wait_for_audit(world, "recommendation_rejected", reason="unknown or expired dismiss form")
    assert _state(world, rec_id).status == "open"


# --- versions and permissions ----------------------------------------------------------------
def test_a_stale_version_changes_nothing_and_shows_the_current_recommendation(
    world: World,
) -> None:
    rec_id, value, _ = find_rec(world.ask("recs", ALICE), FRAUD)
    stale = f"{rec_id}:0badc0de"
    answer = _answer(world, click(world, ALICE, "rec_ack", stale))
    assert answer["replace_original"] is False
    text = all_text(answer)
    assert "changed since the message was posted" in text
    assert "Nothing was changed" in text
    assert find_rec(answer, FRAUD)[1] == value  # the current version, with fresh buttons
    state = _state(world, rec_id)
    assert (state.status, state.history) == ("open", ())


def test_clicker_without_patch_permission_is_refused_and_audited(world: World) -> None:
    """Bob may see `search` but not patch anything there."""
    rec_id, value, _ = find_rec(world.ask("recs", BOB), "search/")
    answer = _answer(world, click(world, BOB, "rec_ack", value))
    assert answer["replace_original"] is False
    assert ":no_entry: You may not change `search/" in answer["text"]
    wait_for_audit(world, "access_denied", rec_id=rec_id, namespace="search", action="act")
    assert _state(world, rec_id).status == "open"
    before = len(world.slack.calls_to("views.open"))
    click(world, BOB, "rec_dismiss", value)
    assert len(world.slack.calls_to("views.open")) == before  # no modal for a refused click


def test_a_click_while_kubernetes_is_down_fails_closed_and_is_audited(world: World) -> None:
    rec_id, value, _ = find_rec(world.ask("recs", ALICE), FRAUD)
    world.bot.call(_flush_decisions(world))
    world.kube.set_mode("down")
    try:
        answer = _answer(world, click(world, ALICE, "rec_ack", value))
    finally:
        world.kube.set_mode("ok")
    assert "can't reach the Kubernetes API" in answer["text"]
    wait_for_audit(world, "access_denied", reason="authorization_unavailable")
    assert _state(world, rec_id).status == "open"


async def _flush_decisions(world: World) -> None:
    """Forget cached authorization decisions (the click must ask Kubernetes again)."""
    runtime = world.bot.runtime
    assert runtime is not None
    authorizer = runtime.deps.access._authz  # the in-process layer in front of Redis
    assert isinstance(authorizer, SarAuthorizer)
    authorizer.forget()
    async for key in runtime.redis.scan_iter(match=f"{runtime.settings.redis_prefix}authz:*"):
        await runtime.redis.delete(key)


# --- details ---------------------------------------------------------------------------------
def test_details_opens_a_modal_with_the_evidence_and_the_kubectl_patch(world: World) -> None:
    rec_id, value, _ = find_rec(world.ask("recs", ALICE), FRAUD)
    before = len(world.slack.calls_to("views.open"))
    click(world, ALICE, "rec_details", value, wait=False)
    view = world.slack.wait_for("views.open", before + 1, 10)[-1].params["view"]
    text = "\n".join(texts(view))
    assert "kubectl -n payments patch deployment fraud-scorer --type=strategic" in text
    assert '"name":"scorer"' in text
    for fact in ("*History:* 14 days", "*Percentile:* p95", "*Buffer:* 15%", "*Unit prices:*"):
        assert fact in text, fact
    assert f"id `{rec_id}`" in text
    assert _state(world, rec_id).status == "open"  # looking changes nothing


def test_with_several_clusters_the_details_kubectl_line_names_its_cluster(
    tmp_path: Path,
) -> None:
    with shared_world(tmp_path, clusters=("east", "west.prod")) as (world, _cluster):
        listing = world.ask("recs", ALICE)
        lines = []
        for _id, value, text in rec_items(listing):
            if FRAUD not in text:
                continue
            before = len(world.slack.calls_to("views.open"))
            click(world, ALICE, "rec_details", value, wait=False)
            view = world.slack.wait_for("views.open", before + 1, 10)[-1].params["view"]
            lines += [t for t in texts(view) if "kubectl --" in t or "kubectl -n" in t]
    assert len(lines) == 2, lines  # the same workload in each cluster, one line each
    joined = "\n".join(lines)
    for cluster in ("east", "west.prod"):
        assert f"kubectl --context {cluster} -n payments patch deployment fraud-scorer" in joined


# --- the list a button was pressed in is the list that comes back ------------------------------
def _namespaces_listed(reply: dict[str, Any]) -> set[str]:
    return {text.split("`")[1].split("/")[0] for _i, _v, text in rec_items(reply) if "`" in text}


def test_a_click_on_a_filtered_ephemeral_list_keeps_its_namespace_filter(world: World) -> None:
    listing = world.ask("recs ns payments", ADMIN)
    assert _namespaces_listed(listing) == {"payments"}
    _, value, _ = find_rec(listing, FRAUD)
    answer = _answer(world, click(world, ADMIN, "rec_ack", value))  # ephemeral: re-rendered
    assert answer["blocks"][0]["text"]["text"] == "Savings you can act on · payments"
    assert _namespaces_listed(answer) == {"payments"}
    assert "acknowledged" in answer["text"]  # the text says what happened, and the headline
    assert "Savings you can act on · payments" in answer["text"]


def test_a_forged_namespace_in_a_button_shows_nothing_outside_the_clickers_scope(
    world: World,
) -> None:
    rec_id, value, _ = find_rec(world.ask("recs", ALICE), FRAUD)
    forged = f"{value}::search"  # Alice may not see `search`
    answer = _answer(world, click(world, ALICE, "rec_snooze_7", forged))
    assert _state(world, rec_id).status == "snoozed"
    assert [item[0] for item in rec_items(answer)] == [rec_id]  # only the change, on top
    assert "Nothing to recommend in what you can see" in all_text(answer)


def test_recs_with_a_profile_sizes_with_it_and_its_buttons_act_on_that_sizing(
    world: World,
) -> None:
    default = find_rec(world.ask("recs ns payments", ALICE), FRAUD)
    listing = world.ask("recs ns payments profile high-availability", ALICE)
    rec_id, value, text = find_rec(listing, FRAUD)
    assert rec_id == default[0]  # the same recommendation…
    assert text != default[2]  # …sized otherwise
    assert "sizing profile: high-availability, target utilization 50%" in all_text(listing)
    before = len(world.slack.calls_to("views.open"))
    click(world, ALICE, "rec_details", value, wait=False)
    view = world.slack.wait_for("views.open", before + 1, 10)[-1].params["view"]
    details = "\n".join(texts(view))
    assert "*Sizing profile:* high-availability, target utilization 50%" in details
    assert "*Confidence:* high: 14 day(s) of history" in details
    answer = _answer(world, click(world, ALICE, "rec_ack", value))  # not stale: same profile
    assert "Acknowledged by <@U0ALICE>" in json.dumps(answer["blocks"])
    assert _state(world, rec_id).status == "acknowledged"
    assert answer["blocks"][0]["text"]["text"] == "Savings you can act on · payments"


def test_an_unknown_profile_gets_one_line_with_the_choices(world: World) -> None:
    reply = world.ask("recs profile yolo", ALICE)
    assert "development, production, high-availability" in all_text(reply)


def test_details_of_the_default_rule_name_the_profile_and_the_confidence(world: World) -> None:
    _, value, _ = find_rec(world.ask("recs", ALICE), FRAUD)
    before = len(world.slack.calls_to("views.open"))
    click(world, ALICE, "rec_details", value, wait=False)
    view = world.slack.wait_for("views.open", before + 1, 10)[-1].params["view"]
    details = "\n".join(texts(view))
    assert "*Sizing profile:* default (CPU p95, memory peak + 15 %)" in details
    assert "*Confidence:* high" in details


# --- realized savings --------------------------------------------------------------------------
class RequestsDrop:
    """OpenCost answers in which one container's requests fall to given values from a date on
    (as if someone applied the recommendation), wrapping the demo cluster."""

    def __init__(self, cluster: DemoCluster) -> None:
        self.cluster = cluster
        self.after: datetime | None = None
        self.cpu = 0.0
        self.memory = 0.0

    def respond(self, path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        status, kind, body = self.cluster.respond(path, params)
        if self.after is None or status != 200 or not path.endswith("/allocation"):
            return status, kind, body
        payload = json.loads(body)
        for step in payload["data"]:
            for row in step.values():
                self._lower(row)
        return status, kind, json.dumps(payload).encode()

    def _lower(self, row: dict[str, Any]) -> None:
        props = row.get("properties") or {}
        started = datetime.fromisoformat(row["window"]["start"].replace("Z", "+00:00"))
        target = (props.get("namespace"), props.get("controller"), props.get("container"))
        if (
            target == ("payments", "fraud-scorer", "scorer")
            and self.after
            and started >= self.after
        ):
            row["cpuCoreRequestAverage"] = self.cpu
            row["ramByteRequestAverage"] = self.memory


@pytest.fixture
def drop_world(tmp_path: Path) -> Iterator[tuple[World, RequestsDrop]]:
    drops: list[RequestsDrop] = []

    def wrap(cluster: DemoCluster) -> Responder:
        drops.append(RequestsDrop(cluster))
        return drops[0].respond

    # Per-window answers: `_refreshes` counts the measurement's own 3-day OpenCost questions
    # (with blocks those days would be shared with every other answer).
    with shared_world(tmp_path, responder=wrap, cost_blocks=False) as (world, _cluster):
        assert _board(world).realized is not None  # the runtime's board measures savings
        yield world, drops[0]


def test_the_runtime_board_measures_realized_savings(world: World) -> None:
    realized = _board(world).realized
    assert realized is not None, "bot/runtime.py: pass realized=RealizedSavings(...) to the board"


def _refreshes(world: World) -> int:
    """OpenCost questions the realized-savings measurement asked (3 whole days, daily)."""
    count = 0
    for request in world.opencost.requests:
        start, _, end = request.params.get("window", "").partition(",")
        if start and end and request.params.get("step") == "1d":
            days = datetime.fromisoformat(end.replace("Z", "+00:00")) - datetime.fromisoformat(
                start.replace("Z", "+00:00")
            )
            count += days == timedelta(days=3)
    return count


def test_realized_savings_are_measured_after_the_requests_really_drop(
    drop_world: tuple[World, RequestsDrop],
) -> None:
    world, drop = drop_world
    rec_id, value, _ = find_rec(world.ask("recs", ALICE), FRAUD)
    click(world, ALICE, "rec_ack", value)
    snapshot = _drop_to_recommended(world, drop, rec_id, _version(value))
    world.clock.advance(timedelta(days=2))
    listing = world.ask("recs", ALICE)
    expected = _realized(snapshot, drop.cpu, drop.memory)
    shown = next(line for line in all_text(listing).split("\n") if "Realized so far" in line)
    assert abs(float(first_amount(shown)) - expected) <= 0.006, (shown, expected)
    assert expected > 50  # most of the ~$74/month the recommendation promised
    assert "Realized so far" not in all_text(world.ask("recs", BOB))  # not Bob's namespace
    home = _home(world, ALICE)
    assert f"realized ${expected:,.2f}/month" in all_text(home)


def _realized(snapshot: RecSnapshot, cpu: float, memory: float) -> float:
    """docs/recommendations.md, "Realized savings": (then − now) × unit price × 730 h × average
    pods, CPU plus memory."""
    pods = snapshot.avg_pods or 0.0
    cpu_part = ((snapshot.current_cpu or 0) - cpu) * (snapshot.cpu_price or 0) * 730 * pods
    ram_part = ((snapshot.current_memory or 0) - memory) * (snapshot.ram_price or 0) * 730 * pods
    return cpu_part + ram_part


def _home(world: World, user: str) -> dict[str, Any]:
    before = len(world.slack.calls_to("views.publish"))
    world.client.event(
        {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home"}
    )
    world.slack.wait_for("views.publish", before + 1, 20)
    view = world.slack.home_view(user)
    assert view is not None
    return view


def test_realized_savings_are_measured_at_most_once_an_hour(
    drop_world: tuple[World, RequestsDrop],
) -> None:
    world, drop = drop_world
    rec_id, value, _ = find_rec(world.ask("recs", ALICE), FRAUD)
    click(world, ALICE, "rec_ack", value)
    _drop_to_recommended(world, drop, rec_id, _version(value))
    world.clock.advance(timedelta(days=1))
    world.ask("recs", ALICE)
    assert _refreshes(world) == 0  # no whole day of data after the acknowledgement yet
    assert _measured_at(world, value) is None
    world.clock.advance(timedelta(days=1))
    world.ask("recs", ALICE)
    first = _measured_at(world, value)
    assert first is not None
    for _ in range(2):
        world.ask("recs", ALICE)
    _home(world, ALICE)
    assert _measured_at(world, value) == first
    assert _refreshes(world) == 1
    world.clock.advance(timedelta(minutes=61))
    world.ask("recs", ALICE)
    later = _measured_at(world, value)
    assert later is not None
    assert later > first + timedelta(minutes=60)


def _drop_to_recommended(
    world: World, drop: RequestsDrop, rec_id: str, version: str
) -> RecSnapshot:
    """From tomorrow on, the workload requests what was recommended."""
    snapshot: RecSnapshot = world.bot.call(_board(world).store.snapshot(rec_id, version))
    assert snapshot.recommended_cpu is not None
    assert snapshot.recommended_memory is not None
    today = world.clock.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    drop.after = today + timedelta(days=1)
    drop.cpu, drop.memory = snapshot.recommended_cpu, snapshot.recommended_memory
    return snapshot


def _measured_at(world: World, value: str) -> datetime | None:
    rec_id, _, version = value.partition(":")
    entry = world.bot.call(_board(world).store.realized_entry(rec_id, version))
    return None if entry is None else entry.measured_at


def test_realized_savings_are_not_claimed_when_requests_stay_the_same(
    drop_world: tuple[World, RequestsDrop],
) -> None:
    world, _drop = drop_world
    _rec_id, value, _ = find_rec(world.ask("recs", ALICE), FRAUD)
    click(world, ALICE, "rec_ack", value)
    world.clock.advance(timedelta(days=2))
    assert "Realized so far" not in all_text(world.ask("recs", ALICE))


# --- the hourly slot across replicas (service level, real redis-server) ------------------------
class _CountingSource:
    """A CostSource fake that answers nothing and counts the questions."""

    def __init__(self) -> None:
        self.asked = 0

    async def allocations(self, query: AllocationQuery) -> AllocationData:
        self.asked += 1
        return AllocationData(steps=[], fetched_at=0.0)

    async def assets(self, start: datetime, end: datetime) -> AssetData:
        raise AssertionError("realized savings never read assets")


async def test_two_replicas_measure_realized_savings_once_per_hour_between_them(
    redis_url: str,
) -> None:
    clock = FakeClock(datetime(2025, 3, 10, 9, 30, tzinfo=UTC))
    redis = Redis.from_url(redis_url)
    try:
        store = RecommendationStore(redis, clock, prefix="t:")
        await store.act("r1", "acknowledge", ALICE, "v1")
        source = _CountingSource()
        replicas = [RealizedSavings(store, clock, source=source) for _ in "ab"]
        for replica in replicas:
            assert await replica.refresh_if_due() is None  # acknowledged today: nothing yet
        assert source.asked == 0
        clock.current += timedelta(days=2)
        ran = [await replica.refresh_if_due() for replica in replicas * 2]
        assert [result is not None for result in ran] == [True, False, False, False]
        clock.current += timedelta(hours=1)
        assert await replicas[1].refresh_if_due() is not None
        assert await replicas[0].refresh_if_due() is None
        assert source.asked == 2
    finally:
        await redis.aclose()
