"""The API's token cache: accepted reviews for at most 60 s or until the token expires, refusals
for at most 10 s, keyed by the token's SHA-256 (the token itself is kept nowhere). The reviewer
is an in-memory fake of the TokenReviewer port; the real one is exercised in test_api_e2e."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import NamedTuple

import pytest

from api.auth import TokenAuthenticator, jwt_expiry
from services.errors import AuthorizationUnavailable


class Review(NamedTuple):
    authenticated: bool
    user: str = ""
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()
    audiences: tuple[str, ...] = ()


class FakeReviewer:
    def __init__(self) -> None:
        self.answers: dict[str, Review] = {}
        self.asked: list[tuple[str, tuple[str, ...]]] = []

    async def token_review(self, token: str, audiences: Sequence[str]) -> Review:
        self.asked.append((token, tuple(audiences)))
        return self.answers.get(token, Review(False))


class Clocks:
    def __init__(self) -> None:
        self.wall, self.mono = 1_700_000_000.0, 100.0

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


def jwt(exp: float | None) -> str:
    claims = {"sub": "x"} | ({"exp": int(exp)} if exp is not None else {})
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJSUzI1NiJ9.{body}.c2lnbmF0dXJl"


@pytest.fixture
def setup() -> tuple[TokenAuthenticator, FakeReviewer, Clocks]:
    reviewer, clocks = FakeReviewer(), Clocks()
    auth = TokenAuthenticator(
        reviewer, ["costbot"], wall=lambda: clocks.wall, monotonic=lambda: clocks.mono
    )
    return auth, reviewer, clocks


ALICE = Review(True, "alice", "u-1", ("devs",), (("scopes", ("read",)),), ("costbot",))


async def test_an_accepted_review_is_reused_for_sixty_seconds(
    setup: tuple[TokenAuthenticator, FakeReviewer, Clocks],
) -> None:
    auth, reviewer, clocks = setup
    reviewer.answers["opaque-token"] = ALICE
    first = await auth.identify("opaque-token")
    assert first is not None
    assert (first.k8s_user, first.uid, first.groups) == ("alice", "u-1", ("devs",))
    assert first.extra == (("scopes", ("read",)),)
    assert reviewer.asked == [("opaque-token", ("costbot",))]
    clocks.advance(59)
    assert await auth.identify("opaque-token") == first
    assert len(reviewer.asked) == 1
    clocks.advance(2)
    await auth.identify("opaque-token")
    assert len(reviewer.asked) == 2
    assert auth.hits == 1
    assert auth.misses == 2


async def test_a_token_expiring_sooner_is_reviewed_again_when_it_expires(
    setup: tuple[TokenAuthenticator, FakeReviewer, Clocks],
) -> None:
    auth, reviewer, clocks = setup
    token = jwt(clocks.wall + 5)
    reviewer.answers[token] = ALICE
    await auth.identify(token)
    clocks.advance(4)
    await auth.identify(token)
    assert len(reviewer.asked) == 1
    clocks.advance(2)
    reviewer.answers.pop(token)  # the API server now says: expired
    assert await auth.identify(token) is None
    assert len(reviewer.asked) == 2


async def test_a_refusal_is_remembered_for_at_most_ten_seconds(
    setup: tuple[TokenAuthenticator, FakeReviewer, Clocks],
) -> None:
    auth, reviewer, clocks = setup
    assert await auth.identify("fresh-token") is None
    clocks.advance(9)
    assert await auth.identify("fresh-token") is None
    assert len(reviewer.asked) == 1
    reviewer.answers["fresh-token"] = ALICE  # e.g. minted a moment after the first try
    clocks.advance(2)
    assert await auth.identify("fresh-token") is not None


async def test_authenticated_for_another_audience_is_refused(
    setup: tuple[TokenAuthenticator, FakeReviewer, Clocks],
) -> None:
    auth, reviewer, _ = setup
    reviewer.answers["vault-token"] = ALICE._replace(audiences=("vault",))
    assert await auth.identify("vault-token") is None
    reviewer.answers["no-user"] = ALICE._replace(user="")
    assert await auth.identify("no-user") is None


async def test_the_token_is_kept_nowhere(
    setup: tuple[TokenAuthenticator, FakeReviewer, Clocks],
) -> None:
    auth, reviewer, _ = setup
    secret = "tok-" + "s3cr3t" * 8
    reviewer.answers[secret] = ALICE
    await auth.identify(secret)
    assert secret not in repr(vars(auth))
    assert "s3cr3t" not in repr(vars(auth))


async def test_no_kubernetes_api_means_unavailable_not_anonymous() -> None:
    auth = TokenAuthenticator(None, ["costbot"])
    with pytest.raises(AuthorizationUnavailable):
        await auth.identify("any-token")


def test_jwt_expiry_reads_only_well_formed_claims() -> None:
    assert jwt_expiry(jwt(1234)) == 1234.0
    assert jwt_expiry(jwt(None)) is None
    assert jwt_expiry("opaque") is None
    assert jwt_expiry("a.!!!.c") is None
