"""Nobody sees or changes what RBAC doesn't allow, and no payload decides what the server
knows: digest previews cut to the previewer's access, the Dismiss modal's answer address kept
server-side, alert acknowledgements re-rendered from stored state. Driven through signed HTTP
against the real bot (tests/bot_harness.py), as a workspace member would.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bot_harness import World
from tests.rbac_world import ADMIN, ALICE, BOB, DAVE, all_text, leaks
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
    replies = world.slack.wait_for_response(url, 1, 20)
    while replies[-1].get("text", "").startswith(":hourglass"):
        replies = world.slack.wait_for_response(url, len(replies) + 1, 20)
    return replies[-1]


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
    assert "search" in all_text(shown) and "payments" in all_text(shown)
    assert "idle capacity" in all_text(shown)
    assert "cut to what you may see" not in all_text(shown)


def test_a_narrow_admin_previewing_another_channels_digest_sees_only_her_namespaces(
    world: World,
) -> None:
    sub = _whole_cluster_digest(world)
    shown = ask_in(world, f"digest preview {sub}", BOB, OTHER_CHANNEL)
    words = all_text(shown)
    assert "cut to what you may see" in words, words
    assert "search" in words
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
