"""The web view's defences over plain HTTP against the real bot: hostile names from OpenCost
escaped by the templates, CSRF on every POST, a strict CSP and no caching or CORS, the same
404 for hidden and absent namespaces, a replayed Slack callback refused, and an error page
(never an unfiltered one) when Kubernetes cannot say who may see what."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.bot_harness import World
from tests.rbac_world import ALICE
from tests.redis_server import free_port
from tests.test_faults import running_world
from tests.test_security import EVIL_NS, PAYLOADS, evil

ALICE_USER = ("alice@demo.example", ["payments-devs"])
ADMIN_USER = ("admin@demo.example", ["platform-admins"])


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from tests.redis_server import RedisServer

    tmp = tmp_path_factory.mktemp("web-security")
    redis = RedisServer(tmp / "redis")
    redis.start()
    port = free_port()
    try:
        with running_world(
            redis.url,
            tmp,
            evil,
            port=port,
            web_enabled=True,
            web_base_url=f"http://127.0.0.1:{port}",
            slack_client_id="1234567890.0987654321",
            slack_client_secret="local-oidc-secret",
            authz_cache_ttl=0,
        ) as world:
            yield world
    finally:
        redis.stop()


@contextmanager
def signed_in(world: World, user: tuple[str, list[str]]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=world.bot.url, timeout=30) as http:
        yield _login(world, http, user)


def _login(world: World, http: httpx.Client, user: tuple[str, list[str]]) -> httpx.Client:
    page = http.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    token = world.kube.mint_token(*user)
    done = http.post("/login/token", data={"token": token, "csrf": csrf.group(1)})
    assert done.status_code == 303
    assert done.headers["location"] == "/"
    return http


def test_hostile_names_are_escaped(hostile: World) -> None:
    with signed_in(hostile, ADMIN_USER) as http:
        page = http.get("/", params={"window": "7d"})
        assert page.status_code == 200
        assert "web&lt;!channel&gt;&amp;&lt;@U123&gt;" in page.text
        for payload in PAYLOADS:
            assert payload not in page.text
        ns = http.get("/namespaces/" + EVIL_NS.replace("<", "%3C").replace(">", "%3E"))
        assert ns.status_code == 404  # not a Kubernetes name: the same 404 as any hidden one
        recs = http.get("/recommendations")
        assert recs.status_code == 200
        for payload in PAYLOADS:
            assert payload not in recs.text


def test_headers_csp_no_store_and_no_cors(hostile: World) -> None:
    with signed_in(hostile, ALICE_USER) as http:
        page = http.get("/", headers={"Origin": "https://evil.example"})
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "script-src" not in csp
        assert "frame-ancestors 'none'" in csp
        assert page.headers["cache-control"] == "private, no-store"
        assert "access-control-allow-origin" not in page.headers
        assert "<script" not in page.text
        cookie = next(c for c in http.cookies.jar if c.name == "costbot_session")
        assert cookie.has_nonstandard_attr("HttpOnly")
        assert cookie.expires is not None


def test_every_post_needs_the_csrf_token(hostile: World) -> None:
    with signed_in(hostile, ALICE_USER) as http:
        refused = http.post("/recommendations/any-id/acknowledge", data={"version": "v"})
        assert refused.status_code == 403
        wrong = http.post(
            "/recommendations/any-id/acknowledge", data={"version": "v", "csrf": "guess"}
        )
        assert wrong.status_code == 403
        anonymous = httpx.post(hostile.bot.url + "/login/token", data={"token": "x", "csrf": "y"})
        assert anonymous.status_code == 403  # no double-submit cookie


def test_hidden_and_absent_namespaces_read_the_same(hostile: World) -> None:
    with signed_in(hostile, ALICE_USER) as http:
        hidden, absent = http.get("/namespaces/search"), http.get("/namespaces/zz-absent")
        assert hidden.status_code == absent.status_code == 404
        assert hidden.text == absent.text
        assert "search" not in hidden.text.replace("/namespaces/search", "")


def test_a_replayed_slack_callback_is_refused(hostile: World) -> None:
    with httpx.Client(base_url=hostile.bot.url, timeout=30) as http:
        callback = _signed_in_with_slack(hostile, http)
    replay = httpx.get(callback)  # the same code and state again, from another browser
    assert replay.status_code == 400
    assert "costbot_session" not in replay.cookies


def _signed_in_with_slack(hostile: World, http: httpx.Client) -> str:
    start = http.get("/login/slack")
    authorize = start.headers["location"]
    query = {k: v[0] for k, v in parse_qs(urlparse(authorize).query).items()}
    consent = httpx.get(authorize.split("?")[0], params={**query, "user": ALICE})
    callback = consent.headers["location"]
    assert callback.startswith(hostile.bot.url + "/login/slack/callback")
    first = http.get(callback)
    assert first.status_code == 303
    assert first.headers["location"] == "/"
    assert http.get("/").status_code == 200
    return callback


def test_kubernetes_down_shows_an_error_page_not_data(hostile: World) -> None:
    with signed_in(hostile, ADMIN_USER) as http:
        assert http.get("/").status_code == 200
        hostile.kube.set_mode("status_500")
        try:
            page = http.get("/")
            assert page.status_code == 503
            assert "payments" not in page.text
            assert "$" not in page.text
        finally:
            hostile.kube.set_mode("ok")


def test_signing_out_ends_the_session_everywhere(hostile: World) -> None:
    with signed_in(hostile, ALICE_USER) as http:
        cookie = http.cookies["costbot_session"]
        assert http.get("/logout").status_code == 303
        again = httpx.get(hostile.bot.url + "/", cookies={"costbot_session": cookie})
        assert again.status_code == 303
        assert again.headers["location"] == "/login"
