"""Sign in with Slack (OpenID Connect) as Slack serves it: the authorize page, the
`openid.connect.token` and `openid.connect.userInfo` Web API methods, and the JWKS.

The key is an RS256 key made when the fake starts; id_tokens carry Slack's claims
(`https://slack.com/user_id`, `https://slack.com/team_id`, email, name, nonce). The authorize
page lists the workspace's people to pick from (a person can also be named with `?user=` or
a form post, as the tests do), then redirects to `redirect_uri` with `code` and `state`.
"""

from __future__ import annotations

import html
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from demo.slack.workspace import Params, Reply, SlackMethodError

ISSUER = "https://slack.com"
CODE_TTL = 600.0  # Slack's codes expire after ten minutes
TOKEN_TTL = 3600


@dataclass
class _Grant:
    user_id: str
    client_id: str
    redirect_uri: str
    nonce: str
    expires: float


@dataclass
class OidcProvider:
    """The OpenID Connect side of one fake workspace (called under the workspace lock)."""

    client_id: str = "1234567890.0987654321"
    client_secret: str = "local-oidc-secret"  # noqa: S105 - the fake's own fake secret
    issuer: str = ISSUER
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    kid: str = field(default_factory=lambda: "kid-" + secrets.token_hex(4))
    codes: dict[str, _Grant] = field(default_factory=dict)
    access: dict[str, str] = field(default_factory=dict)  # xoxp token → user id

    def jwks(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def grant(self, user_id: str, query: Mapping[str, str]) -> str:
        """A one-time code for `user_id`, bound to the client, redirect URI and nonce."""
        code = secrets.token_urlsafe(24)
        self.codes[code] = _Grant(
            user_id,
            query.get("client_id", ""),
            query.get("redirect_uri", ""),
            query.get("nonce", ""),
            time.time() + CODE_TTL,
        )
        return code

    def token(self, params: Params, users: Mapping[str, Mapping[str, Any]], team: str) -> Reply:
        if params.get("client_id") != self.client_id:
            raise SlackMethodError("invalid_client_id")
        if params.get("client_secret") != self.client_secret:
            raise SlackMethodError("bad_client_secret")
        grant = self.codes.pop(str(params.get("code") or ""), None)  # a code works once
        if grant is None or grant.expires < time.time():
            raise SlackMethodError("invalid_code")
        if grant.client_id != self.client_id or grant.redirect_uri != params.get("redirect_uri"):
            raise SlackMethodError("bad_redirect_uri")
        access = "xoxp-" + secrets.token_hex(12)
        self.access[access] = grant.user_id
        claims = self.claims(grant.user_id, users.get(grant.user_id, {}), team)
        now = int(time.time())
        id_token = jwt.encode(
            {
                **claims,
                "iss": self.issuer,
                "aud": self.client_id,
                "iat": now,
                "exp": now + TOKEN_TTL,
                "auth_time": now,
                "nonce": grant.nonce,
            },
            self.key,
            algorithm="RS256",
            headers={"kid": self.kid},
        )
        return {
            "ok": True,
            "access_token": access,
            "token_type": "Bearer",
            "id_token": id_token,
        }

    def userinfo(
        self, token: str | None, users: Mapping[str, Mapping[str, Any]], team: str
    ) -> Reply:
        user_id = self.access.get(token or "")
        if user_id is None:
            raise SlackMethodError("invalid_auth")
        return {"ok": True, **self.claims(user_id, users.get(user_id, {}), team)}

    @staticmethod
    def claims(user_id: str, spec: Mapping[str, Any], team: str) -> dict[str, Any]:
        name = str(spec.get("real_name") or user_id)
        found: dict[str, Any] = {
            "sub": user_id,
            "https://slack.com/user_id": user_id,
            "https://slack.com/team_id": team,
            "name": name,
            "given_name": name.split(" ", 1)[0],
        }
        if spec.get("email"):
            found |= {"email": spec["email"], "email_verified": True}
        return found


def authorize_page(users: Mapping[str, Mapping[str, Any]], query: Mapping[str, str]) -> str:
    """The consent page: one button per person in the workspace, carrying the request on."""
    keep = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in query.items()
        if k != "user"
    )
    people = "".join(
        f'<li><button name="user" value="{html.escape(uid)}">'
        f"{html.escape(str(spec.get('real_name') or uid))}</button></li>"
        for uid, spec in sorted(users.items())
        if not spec.get("is_bot") and not spec.get("deleted")
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<title>Sign in to the local Slack</title></head><body>"
        "<h1>Sign in to the local Slack</h1><p>Local demo workspace: pick who you are.</p>"
        f'<form method="post">{keep}<ul>{people}</ul></form></body></html>'
    )


def authorize_problem(provider: OidcProvider, query: Mapping[str, str]) -> str | None:
    """What Slack would refuse about an authorize request, or None."""
    if query.get("response_type") != "code":
        return "response_type must be code"
    if query.get("client_id") != provider.client_id:
        return "unknown client_id"
    if "openid" not in query.get("scope", "").split():
        return "scope must include openid"
    if not query.get("redirect_uri", "").startswith(("http://", "https://")):
        return "redirect_uri missing"
    return None


def redirect_with_code(query: Mapping[str, str], code: str) -> web.Response:
    target = query["redirect_uri"]
    sep = "&" if "?" in target else "?"
    raise web.HTTPFound(target + sep + urlencode({"code": code, "state": query.get("state", "")}))
