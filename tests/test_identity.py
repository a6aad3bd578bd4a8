"""Slack user → Kubernetes identity: the map file, its reloads, and every resolution path."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
import structlog
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from structlog.testing import LogCapture

from demo.identity import demo_directory, demo_identity_map
from services.access.identity import (
    FixedMap,
    IdentityMap,
    IdentityMapError,
    IdentityMapFile,
    SlackUser,
    StaticSlackDirectory,
)
from services.access.lifetimes import CacheLifetimes
from services.access.resolver import IdentityResolver
from tests.conftest import FakeClock
from tests.redis_server import free_port

MAP = """
users:
  U0ALICE:
    user: alice@example.com
    groups: [payments-devs, sre]
  U0GONE: {user: gone@example.com}
  U0ROBOT: {user: robot@example.com}
usergroups:
  S0SRE: [sre, oncall]
  S0EMPTY: []
email:
  enabled: true
  domains: [Example.com, "@corp.example"]
  username_prefix: "oidc:"
default_groups: [costbot-users]
"""

USERS = [
    SlackUser(id="U0ALICE", email="alice@example.com", name="alice"),
    SlackUser(id="U0CAROL", email="Carol@Example.COM", name="carol"),
    SlackUser(id="U0DAN", email="dan@corp.example"),
    SlackUser(id="U0EVE", email="eve@evil-example.com"),
    SlackUser(id="U0SUB", email="sub@eu.example.com"),
    SlackUser(id="U0NOMAIL"),
    SlackUser(id="U0GONE", email="gone@example.com", deleted=True),
    SlackUser(id="U0ROBOT", email="robot@example.com", is_bot=True),
]
MEMBERS = {"S0SRE": ["U0ALICE", "U0CAROL"], "S0OTHER": ["U0CAROL"]}


def resolver(
    text: str = MAP, redis: Redis | None = None, clock: FakeClock | None = None
) -> tuple[IdentityResolver, StaticSlackDirectory]:
    directory = StaticSlackDirectory(USERS, MEMBERS)
    maps = FixedMap(IdentityMap.from_yaml(text))
    return IdentityResolver(maps, directory, redis, clock or FakeClock()), directory


# --- resolution ----------------------------------------------------------------------------------
async def test_explicit_user_gets_own_usergroup_and_default_groups_sorted_once() -> None:
    identity = await resolver()[0].resolve("U0ALICE")
    assert identity.k8s_user == "alice@example.com"
    assert identity.source == "explicit"
    assert identity.groups == ("costbot-users", "oncall", "payments-devs", "sre")
    assert identity.email == "alice@example.com"


async def test_email_in_listed_domain_maps_with_prefix_lowercased() -> None:
    identity = await resolver()[0].resolve("U0CAROL")
    assert identity.k8s_user == "oidc:carol@example.com"
    assert identity.source == "email"
    # S0OTHER is not in the map, so it adds nothing.
    assert identity.groups == ("costbot-users", "oncall", "sre")


async def test_second_listed_domain_written_with_at_sign_is_trusted() -> None:
    identity = await resolver()[0].resolve("U0DAN")
    assert identity.k8s_user == "oidc:dan@corp.example"
    assert identity.groups == ("costbot-users",)


@pytest.mark.parametrize("slack_id", ["U0EVE", "U0SUB", "U0NOMAIL"])
async def test_email_outside_listed_domains_is_unmapped(slack_id: str) -> None:
    """Lookalike domains and subdomains are not trusted; no email means no mapping."""
    identity = await resolver()[0].resolve(slack_id)
    assert not identity.mapped
    assert identity.source == "unmapped"
    assert identity.groups == ()


async def test_email_mapping_disabled_leaves_listed_domain_unmapped() -> None:
    text = MAP.replace("enabled: true", "enabled: false")
    assert not (await resolver(text)[0].resolve("U0CAROL")).mapped
    assert (await resolver(text)[0].resolve("U0ALICE")).source == "explicit"


@pytest.mark.parametrize("slack_id", ["U0GONE", "U0ROBOT", "U0NOBODY"])
async def test_deleted_bot_and_unknown_slack_users_are_unmapped_even_if_listed(
    slack_id: str,
) -> None:
    identity = await resolver()[0].resolve(slack_id)
    assert identity.k8s_user is None
    assert identity.slack_user_id == slack_id


async def test_empty_map_leaves_everyone_unmapped_without_asking_for_usergroups() -> None:
    directory = StaticSlackDirectory(USERS, MEMBERS)
    resolve = IdentityResolver(FixedMap(IdentityMap.empty()), directory, None, FakeClock())
    assert not (await resolve.resolve("U0ALICE")).mapped
    assert directory.calls == 1  # the profile only


async def test_map_without_usergroups_never_asks_slack_for_memberships() -> None:
    text = "users:\n  U0ALICE: {user: alice}\n"
    resolve, directory = resolver(text)
    assert (await resolve.resolve("U0ALICE")).groups == ()
    assert directory.calls == 1


async def test_profiles_and_memberships_are_cached_for_the_lifetimes_given() -> None:
    clock = FakeClock()
    lifetimes = CacheLifetimes.derive(300, 60)
    assert lifetimes.memberships < lifetimes.profiles
    resolve, directory = resolver(clock=clock)
    await resolve.resolve("U0ALICE")
    await resolve.resolve("U0ALICE")
    assert directory.calls == 2  # one profile + one membership lookup
    clock.advance(timedelta(seconds=lifetimes.memberships - 1))
    await resolve.resolve("U0ALICE")
    assert directory.calls == 2
    clock.advance(timedelta(seconds=2))  # memberships expired, the profile not yet
    await resolve.resolve("U0ALICE")
    assert directory.calls == 3
    clock.advance(timedelta(seconds=lifetimes.profiles - lifetimes.memberships))
    await resolve.resolve("U0ALICE")
    assert directory.calls == 4


async def test_memberships_are_shared_between_replicas_through_redis(redis: Redis) -> None:
    first, _ = resolver(redis=redis)
    await first.resolve("U0ALICE")
    second, directory = resolver(redis=redis)
    identity = await second.resolve("U0ALICE")
    assert directory.calls == 1  # profile only; memberships came from Redis
    assert "oncall" in identity.groups
    assert await redis.ttl("costbot:identity:usergroups:U0ALICE") > 0


async def test_redis_down_still_resolves_from_slack() -> None:
    broken = Redis(port=free_port(), socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    try:
        identity = await resolver(redis=broken)[0].resolve("U0ALICE")
    finally:
        await broken.aclose()
    assert identity.groups == ("costbot-users", "oncall", "payments-devs", "sre")


async def test_demo_map_matches_the_documented_demo_users() -> None:
    resolve = IdentityResolver(FixedMap(demo_identity_map()), demo_directory(), None, FakeClock())
    admin, alice, carol, mallory = [
        await resolve.resolve(uid) for uid in ("U0DEMOADMIN", "U0ALICE", "U0CAROL", "U0MALLORY")
    ]
    assert admin.groups == ("platform-admins",)
    assert alice.groups == ("payments-devs",)
    assert (carol.source, carol.groups) == ("email", ("sre",))
    assert not mallory.mapped


# --- validation ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("users:\n  alice: {user: a}\n", "'alice' is not a Slack user ID"),
        ("users:\n  U0ALICE: {groups: [x]}\n", "`user` is missing in users.U0ALICE (add it)"),
        (
            "users:\n  U0ALICE: {user: a, group: [x]}\n",
            "unknown key `group` in users.U0ALICE (did you mean `groups`?)",
        ),
        ("users:\n  U0ALICE: {user: a, groups: [7]}\n", "users.U0ALICE.groups.0"),
        ("usergroups:\n  sre: [sre]\n", "not a Slack user group ID"),
        ("email: {enabled: true}\n", "email.domains is empty"),
        ("email: {enabled: true, domains: ['not a domain']}\n", "email.domains"),
        ("default_groups: [\n", "not valid YAML"),
        ("- U0ALICE\n", "top level must be a mapping"),
        ("userz: {}\n", "unknown key `userz` at the top level (did you mean `users`?)"),
    ],
)
def test_invalid_maps_name_the_path_and_problem(text: str, expected: str) -> None:
    with pytest.raises(IdentityMapError) as caught:
        IdentityMap.from_yaml(text, source="/etc/costbot/identity.yaml")
    assert expected in str(caught.value)
    assert str(caught.value).startswith("/etc/costbot/identity.yaml")


def test_empty_file_and_null_sections_mean_nothing_configured() -> None:
    assert IdentityMap.from_yaml("") == IdentityMap.empty()
    assert IdentityMap.from_yaml("users:\nusergroups:\n") == IdentityMap.empty()


# --- the file and its reloads --------------------------------------------------------------------
class Ticker:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def write(path: Path, text: str, bump: int) -> None:
    path.write_text(text, encoding="utf-8")
    stamp = 1_700_000_000_000_000_000 + bump * 1_000_000_000
    os.utime(path, ns=(stamp, stamp))


def watch(path: Path) -> tuple[IdentityMapFile, LogCapture, Ticker]:
    capture, ticker = LogCapture(), Ticker()
    logger = structlog.wrap_logger(None, processors=[capture])
    return IdentityMapFile(path, logger, check_interval=5.0, monotonic=ticker), capture, ticker


def test_changed_file_is_reloaded_after_the_check_interval(tmp_path: Path) -> None:
    path = tmp_path / "identity.yaml"
    write(path, "users:\n  U0ALICE: {user: alice}\n", bump=0)
    source, capture, ticker = watch(path)
    write(path, "users:\n  U0ALICE: {user: alice2}\n", bump=1)
    ticker.now = 4.0
    assert source.current().users["U0ALICE"].user == "alice"  # not checked yet
    ticker.now = 5.0
    assert source.current().users["U0ALICE"].user == "alice2"
    assert capture.entries[-1]["event"] == "identity_map.reloaded"


def test_same_size_rewrite_is_noticed_by_mtime(tmp_path: Path) -> None:
    path = tmp_path / "identity.yaml"
    write(path, "users:\n  U0ALICE: {user: aaaa}\n", bump=0)
    source, _, ticker = watch(path)
    write(path, "users:\n  U0ALICE: {user: bbbb}\n", bump=1)
    ticker.now = 10.0
    assert source.current().users["U0ALICE"].user == "bbbb"


def test_broken_new_file_keeps_the_last_good_map_and_logs_an_error(tmp_path: Path) -> None:
    path = tmp_path / "identity.yaml"
    write(path, "users:\n  U0ALICE: {user: alice}\n", bump=0)
    source, capture, ticker = watch(path)
    write(path, "users:\n  alice: {user: alice}\n", bump=1)
    ticker.now = 5.0
    assert source.current().users["U0ALICE"].user == "alice"
    errors = [entry for entry in capture.entries if entry["log_level"] == "error"]
    assert errors[0]["event"] == "identity_map.reload_failed"
    assert "not a Slack user ID" in errors[0]["error"]
    ticker.now = 10.0
    source.current()
    assert len([e for e in capture.entries if e["log_level"] == "error"]) == 1  # logged once
    write(path, "users:\n  U0ALICE: {user: fixed}\n", bump=2)
    ticker.now = 15.0
    assert source.current().users["U0ALICE"].user == "fixed"


def test_deleted_file_keeps_the_last_good_map(tmp_path: Path) -> None:
    path = tmp_path / "identity.yaml"
    write(path, "users:\n  U0ALICE: {user: alice}\n", bump=0)
    source, capture, ticker = watch(path)
    path.unlink()
    ticker.now = 5.0
    assert source.current().users["U0ALICE"].user == "alice"
    assert capture.entries[-1]["event"] == "identity_map.reload_failed"


def test_broken_file_at_start_up_stops_start_up(tmp_path: Path) -> None:
    path = tmp_path / "identity.yaml"
    write(path, "email: {enabled: true}\n", bump=0)
    with pytest.raises(IdentityMapError, match=r"email\.domains is empty"):
        IdentityMapFile(path)
    with pytest.raises(IdentityMapError, match="no such file"):
        IdentityMapFile(tmp_path / "missing.yaml")


async def test_resolver_follows_a_reloaded_file(tmp_path: Path) -> None:
    path = tmp_path / "identity.yaml"
    write(path, "users:\n  U0ALICE: {user: alice, groups: [a]}\n", bump=0)
    source, _, ticker = watch(path)
    resolve = IdentityResolver(source, StaticSlackDirectory(USERS), None, FakeClock())
    assert (await resolve.resolve("U0ALICE")).groups == ("a",)
    write(path, "users:\n  U0ALICE: {user: alice, groups: [b]}\n", bump=1)
    ticker.now = 5.0
    assert (await resolve.resolve("U0ALICE")).groups == ("b",)
