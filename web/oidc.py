"""Sign in with Slack: OpenID Connect code flow, with the id_token verified here.

The id_token's signature is checked against Slack's published keys (JWKS), and its issuer,
audience (our client id), expiry and nonce (the one this login started with, taken once from
Redis) must all hold; only then is its `https://slack.com/user_id` claim trusted, and it goes
through the same identity resolver as a Slack request.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

USER_CLAIM = "https://slack.com/user_id"
TEAM_CLAIM = "https://slack.com/team_id"
JWKS_TTL = 3600.0
LEEWAY = 30  # seconds of clock skew tolerated on exp/iat


class OidcRefused(Exception):
    """The sign-in was not accepted; the message is safe to show."""


@dataclass(frozen=True)
class SlackClaims:
    user_id: str
    team_id: str
    name: str
    email: str


@dataclass(frozen=True)
class OidcConfig:
    client_id: str
    client_secret: str
    redirect_uri: str
    api_url: str  # Slack's Web API base, e.g. https://slack.com/api/
    issuer: str = "https://slack.com"

    @property
    def site(self) -> str:
        """https://slack.com for the real Slack; the local Slack's own address otherwise."""
        return self.api_url.rstrip("/").removesuffix("/api")

    def authorize_url(self, state: str, nonce: str) -> str:
        query = {
            "response_type": "code",
            "scope": "openid email profile",
            "client_id": self.client_id,
            "state": state,
            "nonce": nonce,
            "redirect_uri": self.redirect_uri,
        }
        return f"{self.site}/openid/connect/authorize?{urlencode(query)}"


class SlackOidc:
    def __init__(self, config: OidcConfig, http: httpx.AsyncClient | None = None) -> None:
        """`http`: a client to share; without one each call opens and closes its own (sign-ins
        are rare, and nothing is left open at shutdown)."""
        self.config, self._http = config, http
        self._keys: tuple[float, jwt.PyJWKSet] | None = None

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[httpx.AsyncClient]:
        if self._http is not None:
            yield self._http
            return
        async with httpx.AsyncClient(timeout=10.0) as http:
            yield http

    async def exchange(self, code: str) -> str:
        """The id_token for an authorization code (openid.connect.token)."""
        try:
            async with self._client() as http:
                response = await http.post(
                    self.config.api_url + "openid.connect.token",
                    data={
                        "client_id": self.config.client_id,
                        "client_secret": self.config.client_secret,
                        "code": code,
                        "redirect_uri": self.config.redirect_uri,
                    },
                )
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcRefused("Slack did not answer the sign-in; try again.") from exc
        if not isinstance(body, dict) or not body.get("ok") or not body.get("id_token"):
            raise OidcRefused("Slack did not accept this sign-in; try again.")
        return str(body["id_token"])

    async def verify(self, id_token: str, nonce: str) -> SlackClaims:
        keys = await self._jwks()
        try:
            kid = jwt.get_unverified_header(id_token).get("kid")
            key = next((k for k in keys.keys if k.key_id == kid), None)
            if key is None:  # a rotated key: fetch once more
                keys = await self._jwks(refresh=True)
                key = next((k for k in keys.keys if k.key_id == kid), None)
            if key is None:
                raise OidcRefused("The sign-in was signed with a key Slack does not publish.")
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key=key.key,
                algorithms=["RS256"],
                audience=self.config.client_id,
                issuer=self.config.issuer,
                leeway=LEEWAY,
                options={"require": ["exp", "iat", "iss", "aud", "nonce"]},
            )
        except jwt.PyJWTError as exc:
            raise OidcRefused(f"The sign-in could not be verified ({type(exc).__name__}).") from exc
        if not nonce or claims.get("nonce") != nonce:
            raise OidcRefused("The sign-in does not belong to this browser's login.")
        user = claims.get(USER_CLAIM) or ""
        if not isinstance(user, str) or not user:
            raise OidcRefused("Slack did not say who signed in.")
        return SlackClaims(
            user_id=user,
            team_id=str(claims.get(TEAM_CLAIM) or ""),
            name=str(claims.get("name") or ""),
            email=str(claims.get("email") or ""),
        )

    async def _jwks(self, refresh: bool = False) -> jwt.PyJWKSet:
        now = time.monotonic()
        if self._keys is not None and not refresh and self._keys[0] > now:
            return self._keys[1]
        try:
            async with self._client() as http:
                response = await http.get(self.config.site + "/openid/connect/keys")
            keys = jwt.PyJWKSet.from_dict(response.json())
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
            raise OidcRefused("Slack's signing keys could not be read; try again.") from exc
        self._keys = (now + JWKS_TTL, keys)
        return keys
