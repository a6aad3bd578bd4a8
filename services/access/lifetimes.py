"""The one place that decides how long anything about a person's access may be reused.

Several caches stand between a change and costbot noticing it, and they stack: a Slack
user-group removal has to get past the `usergroups.list` snapshot, then the shared (Redis) and
per-replica copies of the user's memberships, then any decision cached for the old groups. The
documented promise is one number, `REVOCATION_BOUND` (default 300 s): removal from a Slack user
group, an identity-map change or a RoleBinding change is in effect on every replica no later
than that. `CacheLifetimes.derive` splits the bound between the caches so that every stacked
path sums to at most the bound, and refuses a configuration where it cannot (for example an
`AUTHZ_CACHE_TTL` that alone eats the bound).

Membership entries are dated by when Slack was asked, not by when a cache copied them, so a
replica that reads a 4-minute-old entry from Redis keeps it for the remaining minute only:
copies never restart the clock.
"""

from __future__ import annotations

import msgspec

DEFAULT_BOUND = 300
IDENTITY_MAP_CHECK = 5.0  # the map file is stat'ed at most this often (a cheap local call)
USERGROUPS_LIST_MAX = 60.0  # one usergroups.list call per minute per replica is plenty
SLACK_MIN = 30.0  # the least the Slack lookups may be given; less would call Slack per request


class LifetimeError(ValueError):
    """The configured cache lifetimes cannot keep the revocation bound."""


class CacheLifetimes(msgspec.Struct, frozen=True, kw_only=True):
    """Seconds each cache may reuse what it holds (see the module docstring)."""

    bound: float  # REVOCATION_BOUND: the promise
    authz_decision: int  # AUTHZ_CACHE_TTL: SubjectAccessReview decisions (Redis)
    identity_map_check: float  # how stale the identity map in memory may be
    usergroups_list: float  # the usergroups.list snapshot (per replica)
    memberships: float  # a user's Slack user groups (Redis and per replica), from asking Slack
    profiles: float  # a Slack profile: deleted, bot, email (per replica)

    @classmethod
    def derive(cls, bound: float = DEFAULT_BOUND, authz_decision: int = 60) -> CacheLifetimes:
        """Split `bound`: decisions keep `authz_decision`, the identity map is re-read every
        few seconds, and the Slack lookups share what is left."""
        if authz_decision < 0:
            raise LifetimeError("AUTHZ_CACHE_TTL cannot be negative")
        slack = bound - authz_decision - IDENTITY_MAP_CHECK
        if slack < SLACK_MIN:
            raise LifetimeError(
                f"AUTHZ_CACHE_TTL ({authz_decision} s) must be at most REVOCATION_BOUND "
                f"({bound:g} s) minus {IDENTITY_MAP_CHECK + SLACK_MIN:g} s, so that a revoked "
                "user loses access within the bound; lower AUTHZ_CACHE_TTL or raise "
                "REVOCATION_BOUND"
            )
        listing = min(USERGROUPS_LIST_MAX, slack / 4)
        return cls(
            bound=bound,
            authz_decision=authz_decision,
            identity_map_check=IDENTITY_MAP_CHECK,
            usergroups_list=listing,
            memberships=slack - listing,
            profiles=slack,
        )

    def worst_cases(self) -> dict[str, float]:
        """The longest each kind of change can take to reach every replica, counted as if
        every cache on its path had been filled just before the change."""
        return {
            "slack_usergroup_removal": self.usergroups_list
            + self.memberships
            + self.authz_decision,
            "slack_user_deactivated": self.profiles + self.authz_decision,
            "identity_map_change": self.identity_map_check + self.authz_decision,
            "rolebinding_change": float(self.authz_decision),
        }
