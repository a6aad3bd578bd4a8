"""Nobody sees or changes what RBAC doesn't allow, and no payload decides what the server
knows: digest previews cut to the previewer's access, the Dismiss modal's answer address kept
server-side, alert acknowledgements re-rendered from stored state. Driven through signed HTTP
against the real bot (tests/bot_harness.py), as a workspace member would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bot_harness import World
from tests.rbac_world import ADMIN, ALICE, BOB, DAVE, all_text, click, find_rec, leaks
from tests.standins.signing import view_submission_payload
from tests.test_faults import running_world

OTHER_CHANNEL = "C0ELSEWHERE"


@pytest.fixture
def world(redis_url: str, tmp_path: Path) -> Iterator[World]:
    """The demo bot where `search-team` (Bob: sees `search` only) is an admin group too: an
    admin with narrow RBAC."""
    with running_world(redis_url, tmp_path, admin_groups="platform-admins,search-team") as w:
        yield w


def ask_in(world: World, text: str, user: str, channel: str) -> dict[str, Any]:
    url = world.slack.new_response_url()
    response = world.client.slash(text, user_id=user, response_url=url, channel_id=channel)
    assert response.status_code == 200, response.text
    return world.slack.wait_for_answer(url, 20)


def _whole_cluster_digest(world: World) -> str:
    reply = all_text(world.ask("digest subscribe weekly mon at 09:00", ADMIN))
    assert "the whole cluster" in reply, reply
    found = re.search(r"digest preview (d[0-9a-f]{6})", reply)
    assert found, reply
    return found.group(1)


# --- 1. a preview shows what the previewer may see ---------------------------------------------
def test_the_admin_sees_the_whole_cluster_digest_in_the_preview(world: World) -> None:
    sub = _whole_cluster_digest(world)
    shown = world.ask(f"digest preview {sub}", ADMIN)
    assert "search" in all_text(shown)
    assert "payments" in all_text(shown)
    assert "idle capacity" in all_text(shown)
    assert "cut to what you may see" not in all_text(shown)


def test_a_narrow_admin_previewing_another_channels_digest_sees_only_her_namespaces(
    world: World,
) -> None:
    sub = _whole_cluster_digest(world)
    shown = ask_in(world, f"digest preview {sub}", BOB, OTHER_CHANNEL)
    words = all_text(shown)
    assert "cut to what you may see" in words, words
    assert "search" in words, words
    assert leaks(shown, BOB) == [], leaks(shown, BOB)
    assert "idle capacity" not in words


def test_a_member_previews_a_channel_digest_cut_to_her_own_namespaces(world: World) -> None:
    sub = _whole_cluster_digest(world)
    shown = world.ask(f"digest preview {sub}", ALICE)
    assert "payments" in all_text(shown)
    assert leaks(shown, ALICE) == [], leaks(shown, ALICE)
    default = world.ask("digest preview", ALICE)  # the channel's first digest: the same one
    assert leaks(default, ALICE) == [], leaks(default, ALICE)


def test_someone_who_may_see_nothing_of_a_digest_gets_no_preview(world: World) -> None:
    sub = _whole_cluster_digest(world)
    refused = world.ask(f"digest preview {sub}", DAVE)
    assert "may not see anything this digest covers" in all_text(refused), refused
    assert leaks(refused, DAVE) == []
    assert "$" not in all_text(refused)


def test_a_non_admin_previews_only_digests_of_the_channel_she_is_in(world: World) -> None:
    sub = _whole_cluster_digest(world)
    refused = ask_in(world, f"digest preview {sub}", ALICE, OTHER_CHANNEL)
    assert f"No digest {sub} in this channel" in all_text(refused), refused
    assert "$" not in all_text(refused)


# --- 2. the Dismiss modal: where to answer is the server's, not the payload's -------------------
FRAUD = "payments/fraud-scorer"
REASON = {"reason": {"reason": {"type": "plain_text_input", "value": "owned by a vendor"}}}


def _dismiss_modal(world: World, user: str, value: str) -> tuple[dict[str, Any], str]:
    before = len(world.slack.calls_to("views.open"))
    url = click(world, user, "rec_dismiss", value, wait=False)
    view: dict[str, Any] = world.slack.wait_for("views.open", before + 1, 10)[-1].params["view"]
    return view, url


def _submit(world: World, user: str, private_metadata: str) -> Any:
    payload = view_submission_payload(
        "rec_dismiss_modal", REASON, user_id=user, private_metadata=private_metadata
    )
    return world.client.view_submission(payload)


def _status(world: World, user: str) -> str:
    shown = find_rec(world.ask("recs all", user), FRAUD)[2]
    return "dismissed" if "Dismissed" in shown else "open"


def test_the_dismiss_modal_carries_no_response_url_and_no_recommendation(world: World) -> None:
    rec_id, value, _ = find_rec(world.ask("recs", ALICE), FRAUD)
    view, url = _dismiss_modal(world, ALICE, value)
    meta = view["private_metadata"]
    assert url not in meta
    assert "response_url" not in meta
    assert rec_id not in meta
    assert _submit(world, ALICE, meta).status_code == 200
    answer = world.slack.wait_for_answer(url, timeout=20)
    assert ":wastebasket: Dismissed by <@U0ALICE>" in all_text(answer)


def test_a_modal_pointing_at_another_address_posts_nothing_there_and_changes_nothing(
    world: World,
) -> None:
    """private_metadata as the old bot wrote it (JSON with a response_url), forged to point
    at an address of the sender's choosing: nothing is posted there, nothing is dismissed."""
    _, value, _ = find_rec(world.ask("recs", ALICE), FRAUD)
    elsewhere = world.slack.new_response_url()
    forged = json.dumps({"value": value, "response_url": elsewhere, "home": False})
    response = _submit(world, ALICE, forged)
    assert response.status_code == 200
    assert response.json()["response_action"] == "errors"
    assert "expired" in response.json()["errors"]["reason"]
    assert world.slack.responses(elsewhere) == []
    assert _status(world, ALICE) == "open"


def test_a_modal_token_works_once_and_only_for_whom_it_was_issued(world: World) -> None:
    _, value, _ = find_rec(world.ask("recs", ALICE), FRAUD)
    view, url = _dismiss_modal(world, ALICE, value)
    token = view["private_metadata"]
    stolen = _submit(world, ADMIN, token)  # another user replaying Alice's token
    assert stolen.json()["response_action"] == "errors"
    assert _status(world, ALICE) == "open"
    assert world.slack.responses(url) == []
    view, url = _dismiss_modal(world, ALICE, value)
    assert _submit(world, ALICE, view["private_metadata"]).text == ""
    world.slack.wait_for_response(url, 1, 20)
    again = _submit(world, ALICE, view["private_metadata"])
    assert again.json()["response_action"] == "errors"
