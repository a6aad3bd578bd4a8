"""Revocation within the documented bound: a Slack user-group removal, an identity-map change
and the lifetimes that bound them, across two replicas sharing one Redis, with a FakeClock
(time is moved, never waited for).

The Slack side is the real `SlackWebDirectory` against the Slack stand-in; decisions go
through the real `SarAuthorizer` and its Redis cache, over an in-process RBAC evaluator.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.slack_adapters import SlackWebDirectory, slack_client
from demo.rbac import DEMO_RBAC, StaticRbac
from services.access.identity import FixedMap, IdentityMap, IdentityMapFile, MapProvider
from services.access.lifetimes import CacheLifetimes, LifetimeError
from services.access.models import AccessCheck
from services.access.policy import AccessPolicy
from services.access.resolver import IdentityResolver
from services.access.sar import SarAuthorizer
from tests.conftest import FakeClock
from tests.standins.slack import SlackStandIn

CAROL = "U0CAROL"
MAP = """
users:
  U0CAROL: {user: carol@example.com}
  U0OTHER: {user: other@example.com}
usergroups:
  S0SRE: [sre]
"""


class RbacReviews:
    """`SarClient` answering from the demo RBAC (sre may list pods in monitoring), counting
    how often the "API server" was asked."""

    def __init__(self) -> None:
        self.rbac, self.calls = StaticRbac(DEMO_RBAC), 0

    async def subject_access_review(
        self,
        user: str,
        groups: Iterable[str],
        check: AccessCheck,
        *,
        uid: str = "",
        extra: Mapping[str, Sequence[str]] | None = None,
    ) -> bool:
        self.calls += 1
        return self.rbac.allowed(user, groups, check)[0]


class Replica:
    """What one costbot replica holds: its own directory snapshot and caches, shared Redis."""

    def __init__(
        self,
        maps: MapProvider,
        *,
        slack: SlackStandIn,
        redis: Redis,
        clock: FakeClock,
        lifetimes: CacheLifetimes,
        reviews: RbacReviews,
    ) -> None:
        client = slack_client("xoxb-test", slack.url)
        directory = SlackWebDirectory(client, lifetimes.usergroups_list, clock=clock)
        self.resolver = IdentityResolver(maps, directory, redis, clock, lifetimes=lifetimes)
        authz = SarAuthorizer(reviews, redis, lifetimes.authz_decision)
        self.policy = AccessPolicy(authz, "list", "pods", "")

    async def sees_monitoring(self, user: str = CAROL) -> bool:
        identity = await self.resolver.resolve(user)
        return (await self.policy.scope(identity, ["monitoring"])).sees("monitoring")


@pytest.fixture
def lifetimes() -> CacheLifetimes:
    return CacheLifetimes.derive(300, 60)


async def test_a_usergroup_removal_takes_effect_on_every_replica_within_the_bound(
    redis: Redis, slack_api: SlackStandIn, lifetimes: CacheLifetimes
) -> None:
    """The worst case the caches allow: replica A's usergroups.list snapshot was taken just
    before the removal, A copies it to Redis as late as it can, and B copies Redis's entry as
    late as it can. Both must deny no later than the bound after the removal."""
    clock = FakeClock()
    slack_api.set_user(CAROL, email="carol@example.com")
    slack_api.set_user("U0OTHER", email="other@example.com")
    slack_api.set_usergroup("S0SRE", [CAROL])
    maps, reviews = FixedMap(IdentityMap.from_yaml(MAP)), RbacReviews()
    a = Replica(
        maps, slack=slack_api, redis=redis, clock=clock, lifetimes=lifetimes, reviews=reviews
    )
    b = Replica(
        maps, slack=slack_api, redis=redis, clock=clock, lifetimes=lifetimes, reviews=reviews
    )
    await a.resolver.resolve("U0OTHER")  # A's usergroups.list snapshot, Carol still in S0SRE
    removed_at = clock.now()
    slack_api.set_usergroup("S0SRE", [])

    clock.advance(seconds=lifetimes.usergroups_list - 1)
    assert await a.sees_monitoring()  # A's stale snapshot, now also in Redis
    clock.advance(seconds=lifetimes.memberships - 2)
    assert await b.sees_monitoring()  # B copied Redis's entry a second before it expires

    latest = {"a": removed_at, "b": removed_at}
    while clock.now() < removed_at + timedelta(seconds=lifetimes.bound):
        clock.advance(seconds=5)
        for name, replica in (("a", a), ("b", b)):
            if await replica.sees_monitoring():
                latest[name] = clock.now()
    bound = timedelta(seconds=lifetimes.bound)
    assert all(when - removed_at <= bound for when in latest.values()), latest
    assert not await a.sees_monitoring()
    assert not await b.sees_monitoring()


async def test_an_identity_map_change_is_not_answered_from_decisions_cached_for_the_old_one(
    redis: Redis, slack_api: SlackStandIn, lifetimes: CacheLifetimes, tmp_path: Path
) -> None:
    """Decision keys hash the mapped user and groups, so a reloaded map is new keys at once;
    the reload itself happens within the map's check interval."""
    clock, ticks = FakeClock(), [0.0]
    slack_api.set_user(CAROL, email="carol@example.com")
    path = tmp_path / "identity.yaml"
    path.write_text("users:\n  U0CAROL: {user: carol@example.com, groups: [sre]}\n")
    maps = IdentityMapFile(
        path, check_interval=lifetimes.identity_map_check, monotonic=lambda: ticks[0]
    )
    reviews = RbacReviews()
    replica = Replica(
        maps, slack=slack_api, redis=redis, clock=clock, lifetimes=lifetimes, reviews=reviews
    )
    assert await replica.sees_monitoring()
    asked = reviews.calls
    assert await replica.sees_monitoring()
    assert reviews.calls == asked  # the decision is cached

    path.write_text("users:\n  U0CAROL: {user: carol@example.com, groups: []}\n")
    ticks[0] += lifetimes.identity_map_check
    clock.advance(seconds=lifetimes.identity_map_check)
    assert not await replica.sees_monitoring()
    assert reviews.calls > asked  # asked afresh for the new groups


@pytest.mark.parametrize(
    ("bound", "authz"), [(300, 60), (300, 0), (300, 265), (60, 25), (900, 600)]
)
def test_every_stacked_path_fits_the_bound(bound: int, authz: int) -> None:
    lifetimes = CacheLifetimes.derive(bound, authz)
    assert lifetimes.authz_decision == authz
    worst = lifetimes.worst_cases()
    assert set(worst) == {
        "slack_usergroup_removal",
        "slack_user_deactivated",
        "identity_map_change",
        "rolebinding_change",
    }
    assert all(
        0 < seconds <= bound for name, seconds in worst.items() if name != "rolebinding_change"
    )
    assert worst["rolebinding_change"] <= bound


@pytest.mark.parametrize(("bound", "authz"), [(300, 266), (300, 3600), (60, 30)])
def test_a_decision_cache_that_would_break_the_bound_is_refused(bound: int, authz: int) -> None:
    with pytest.raises(LifetimeError, match="AUTHZ_CACHE_TTL"):
        CacheLifetimes.derive(bound, authz)


def test_settings_refuse_an_authz_cache_ttl_longer_than_the_bound() -> None:
    from pydantic import ValidationError

    from bot.settings import Settings, describe_errors

    assert Settings(authz_cache_ttl=60).lifetimes().bound == 300
    with pytest.raises(ValidationError) as raised:
        Settings(authz_cache_ttl=600)
    (line,) = describe_errors(raised.value)
    assert "AUTHZ_CACHE_TTL (600 s) must be at most REVOCATION_BOUND (300 s)" in line
    assert Settings(authz_cache_ttl=600, revocation_bound=900).lifetimes().authz_decision == 600
