"""The demo workspace's people: the identity map, Slack users and user groups that the built-in
demo (and the tests that play it) resolve against. Never loaded by production wiring.
"""

from __future__ import annotations

from services.access.identity import IdentityMap, SlackUser, StaticSlackDirectory

DEMO_IDENTITY_MAP = """\
users:
  U0DEMOADMIN: {user: admin@demo.example, groups: [platform-admins]}
  U0ALICE: {user: alice@demo.example, groups: [payments-devs]}
  U0BOB: {user: bob@demo.example, groups: [search-team]}
  U0DAVE: {user: dave@demo.example, groups: [contractors]}
usergroups:
  S0DEMOSRE: [sre]
email:
  enabled: true
  domains: [demo.example]
  username_prefix: ""
default_groups: []
"""
"""Demo users; RBAC for them is `demo.rbac.DEMO_RBAC`. U0CAROL is mapped by email
and gets `sre` from the S0DEMOSRE user group; U0DAVE is mapped, but no binding names him or
`contractors` (he sees nothing); U0MALLORY's domain is not trusted (unmapped)."""

DEMO_SLACK_USERS = (
    SlackUser(id="U0DEMOADMIN", email="admin@demo.example", name="demo-admin", tz="UTC"),
    SlackUser(id="U0ALICE", email="alice@demo.example", name="alice", tz="Europe/Berlin"),
    SlackUser(id="U0BOB", email="bob@demo.example", name="bob", tz="America/New_York"),
    SlackUser(id="U0CAROL", email="carol@demo.example", name="carol", tz="Asia/Tokyo"),
    SlackUser(id="U0DAVE", email="dave@demo.example", name="dave", tz="Australia/Sydney"),
    SlackUser(id="U0MALLORY", email="mallory@elsewhere.example", name="mallory", tz="UTC"),
)
DEMO_USERGROUPS = {"S0DEMOSRE": ("U0CAROL",)}


def demo_identity_map() -> IdentityMap:
    return IdentityMap.from_yaml(DEMO_IDENTITY_MAP, source="demo identity map")


def demo_directory() -> StaticSlackDirectory:
    return StaticSlackDirectory(DEMO_SLACK_USERS, DEMO_USERGROUPS)
