"""Sign in with Slack's id_token checks, against the local Slack's real JWKS endpoint: a good
token passes; a bad signature, another audience or issuer, an expired token or a nonce that is
not this login's is refused; a pending login is taken once, so a replayed callback finds none."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from redis.asyncio import Redis

from tests.standins.slack import SlackStandIn
from web.oidc import OidcConfig, OidcRefused, SlackOidc
from web.sessions import SessionStore

USER = "U0ALICE"


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as fake:
        fake.set_user(USER, email="alice@demo.example", real_name="Alice")
        yield fake


def config(slack: SlackStandIn) -> OidcConfig:
    return OidcConfig(
        client_id=slack.oidc.client_id,
        client_secret=slack.oidc.client_secret,
        redirect_uri="http://127.0.0.1:1/login/slack/callback",
        api_url=slack.url,
    )


def token(slack: SlackStandIn, *, key: Any = None, **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": "https://slack.com",
        "aud": slack.oidc.client_id,
        "sub": USER,
        "https://slack.com/user_id": USER,
        "https://slack.com/team_id": "T0TEST",
        "iat": now,
        "exp": now + 600,
        "nonce": "n-1",
        **claims,
    }
    signer = key if key is not None else slack.oidc.key
    return jwt.encode(body, signer, algorithm="RS256", headers={"kid": slack.oidc.kid})


async def verify(slack: SlackStandIn, id_token: str, nonce: str = "n-1") -> str:
    async with httpx.AsyncClient() as http:
        claims = await SlackOidc(config(slack), http).verify(id_token, nonce)
    return claims.user_id


async def test_a_good_id_token_names_the_slack_user(slack: SlackStandIn) -> None:
    assert await verify(slack, token(slack)) == USER


async def test_the_whole_code_exchange_with_the_local_slack(slack: SlackStandIn) -> None:
    cfg = config(slack)
    with slack._lock:
        code = slack.oidc.grant(
            USER, {"client_id": cfg.client_id, "redirect_uri": cfg.redirect_uri, "nonce": "n-9"}
        )
    async with httpx.AsyncClient() as http:
        oidc = SlackOidc(cfg, http)
        id_token = await oidc.exchange(code)
        assert (await oidc.verify(id_token, "n-9")).email == "alice@demo.example"
        with pytest.raises(OidcRefused):  # a code works once
            await oidc.exchange(code)


@pytest.mark.parametrize(
    ("why", "changes"),
    [
        ("bad signature", {"key": "other"}),
        ("wrong audience", {"aud": "someone-else"}),
        ("wrong issuer", {"iss": "https://evil.example"}),
        ("expired", {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}),
        ("no nonce", {"nonce": None}),
    ],
)
async def test_a_bad_id_token_is_refused(
    slack: SlackStandIn, why: str, changes: dict[str, Any]
) -> None:
    if changes.get("key") == "other":
        changes = {"key": rsa.generate_private_key(public_exponent=65537, key_size=2048)}
    if changes.get("nonce", "") is None:
        id_token = token(slack)
        nonce = "another-login"
    else:
        id_token, nonce = token(slack, **changes), "n-1"
    with pytest.raises(OidcRefused):
        await verify(slack, id_token, nonce)


async def test_a_pending_login_is_taken_once(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        store = SessionStore(client, prefix="test-oidc:")
        state = await store.begin_login("nonce-1")
        first = await store.take_login(state)
        assert first is not None
        assert first.nonce == "nonce-1"
        assert await store.take_login(state) is None  # a replayed callback finds nothing
        assert await store.take_login("made-up") is None
    finally:
        await client.aclose()


async def test_a_forged_or_ended_session_cookie_opens_nothing(redis_url: str) -> None:
    from services.access.models import Identity

    client = Redis.from_url(redis_url)
    try:
        store = SessionStore(client, prefix="test-session:")
        session = await store.create(Identity(slack_user_id="U1", k8s_user="u1"), "token")
        cookie = await store.cookie_for(session)
        assert (await store.get(cookie)) == session
        assert await store.get(session.id + ".00") is None  # bad signature
        assert await store.get(cookie[:-1] + ("0" if cookie[-1] != "0" else "1")) is None
        await store.end(session.id)
        assert await store.get(cookie) is None
    finally:
        await client.aclose()
