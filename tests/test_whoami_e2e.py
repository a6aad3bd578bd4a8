"""Who am I, and what happens when Kubernetes cannot be asked: `whoami` for every way a Slack
user can be mapped (or not), fail-closed answers, the decision cache, and audited denials.
"""

from __future__ import annotations

from tests.bot_harness import World
from tests.rbac_world import (
    ADMIN,
    ALICE,
    BOB,
    CAROL,
    DAVE,
    MALLORY,
    NAMESPACES,
    SEES,
    STRANGER,
    all_text,
    amounts,
    wait_for_audit,
)

LOCKED = "can't reach the Kubernetes API to check your access"


def _whoami(world: World, user: str) -> str:
    return all_text(world.ask("whoami", user))


def _listed(text: str) -> frozenset[str]:
    return frozenset(ns for ns in NAMESPACES if f"`{ns}`" in text)


def test_explicit_mapping_shows_user_groups_and_exactly_the_granted_namespaces(
    world: World,
) -> None:
    text = _whoami(world, ALICE)
    assert "*Kubernetes user:* `alice@demo.example` (mapped by an explicit entry" in text
    assert "*Groups:* `payments-devs`" in text
    assert "*Cluster-wide figures:* no" in text
    assert _listed(text) == SEES[ALICE]


def test_email_mapping_with_groups_from_a_slack_user_group(world: World) -> None:
    """Carol has no entry: her trusted-domain email maps her, S0DEMOSRE adds `sre`."""
    text = _whoami(world, CAROL)
    assert "`carol@demo.example` (mapped by your Slack profile email" in text
    assert "*Groups:* `sre`" in text
    assert _listed(text) == SEES[CAROL] == frozenset({"monitoring", "kube-system"})


def test_cluster_wide_viewer_sees_every_namespace(world: World) -> None:
    text = _whoami(world, ADMIN)
    assert "*Groups:* `platform-admins`" in text
    assert "*Cluster-wide figures:* yes" in text
    assert _listed(text) == set(NAMESPACES)


def test_mapped_user_without_any_binding_is_told_why_everything_is_empty(world: World) -> None:
    text = _whoami(world, DAVE)
    assert "`dave@demo.example`" in text
    assert "*Groups:* `contractors`" in text
    assert not _listed(text)
    assert "`list pods` in none of these namespaces" in text
    assert "RoleBinding" in text


def test_untrusted_email_domain_is_unmapped_and_says_so(world: World) -> None:
    text = _whoami(world, MALLORY)
    assert "`U0MALLORY`" in text
    assert "identity map" in text
    assert "`elsewhere.example`, which is not a domain costbot maps automatically" in text
    assert not _listed(text)


def test_unknown_slack_user_is_unmapped_with_their_id(world: World) -> None:
    text = _whoami(world, STRANGER)
    assert f"`{STRANGER}`" in text
    assert "identity map" in text
    assert "Your Slack profile email" not in text  # Slack knows no email: nothing to say of one


def test_when_slack_cannot_tell_who_you_are_whoami_says_so(world: World) -> None:
    world.slack.fail("users.info", times=3, error="fatal_error")
    text = _whoami(world, BOB)
    assert "couldn't look up your Slack profile" in text
    assert "`U0BOB`" in text


# --- fail closed -----------------------------------------------------------------------------
def test_every_answer_fails_closed_when_kubernetes_is_down(world: World) -> None:
    world.kube.set_mode("down")
    try:
        for command in ("whoami", "summary 7d", "ns payments", "top by pod", "recs"):
            text = all_text(world.ask(command, ALICE))
            assert LOCKED in text, (command, text)
            assert not amounts(text), (command, text)
            assert "payments" not in text.replace("ns payments", ""), (command, text)
    finally:
        world.kube.set_mode("ok")
    assert "*$" in all_text(world.ask("summary 7d", ALICE))  # back as soon as it answers


def test_kubernetes_errors_fail_closed_too(world: World) -> None:
    world.kube.set_mode("status_500")
    try:
        text = all_text(world.ask("summary", CAROL))
    finally:
        world.kube.set_mode("ok")
    assert LOCKED in text
    assert not amounts(text)


def test_a_cached_decision_avoids_a_second_subject_access_review(world: World) -> None:
    world.ask("summary 7d", ALICE)
    first = world.kube.requests["sar"]
    assert first >= 1
    world.ask("summary 7d", ALICE)
    world.ask("whoami", ALICE)
    assert world.kube.requests["sar"] == first
    world.ask("summary 7d", BOB)  # someone else: their own decisions
    assert world.kube.requests["sar"] > first


def test_cached_decisions_keep_answering_while_kubernetes_is_briefly_down(world: World) -> None:
    """Within AUTHZ_CACHE_TTL a decision already made is reused, even with the API gone."""
    world.ask("summary 7d", ALICE)
    world.kube.set_mode("down")
    try:
        text = all_text(world.ask("summary 7d", ALICE))
    finally:
        world.kube.set_mode("ok")
    assert LOCKED not in text
    assert "payments" in text


# --- denials are audited -----------------------------------------------------------------------
def test_denials_are_audited_and_admins_can_read_them(world: World) -> None:
    world.ask("summary", MALLORY)
    wait_for_audit(world, "access_denied", reason="Unmapped")
    denied = all_text(world.ask("audit", ALICE))
    assert "Only members of the configured admin groups" in denied
    wait_for_audit(world, "access_denied", command="audit")
    log = all_text(world.ask("audit 10", ADMIN))
    assert "*access_denied* by `U0MALLORY`" in log
    assert "*access_denied* by `U0ALICE`" in log
