"""The web view as `costbot web` serves it: demo data and no Kubernetes API. Token sign-in
needs TokenReview, so the sign-in page says so instead of offering a form that cannot work,
and a token posted anyway gets that plain sentence, not a 503."""

from __future__ import annotations

from pathlib import Path

import httpx

from bot.runtime import Runtime
from bot.settings import Settings
from bot.wiring import web_app
from demo.parts import demo_parts


async def test_without_a_kubernetes_api_the_login_page_says_token_sign_in_needs_one(
    redis_url: str, tmp_path: Path
) -> None:
    config = Settings(slack_bot_token="xoxb-test", redis_url=redis_url, data_dir=tmp_path)
    runtime = await Runtime.start(config, demo=demo_parts())
    try:
        assert runtime.kube is None
        app = web_app(runtime, demo=True)
        assert app is not None
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://web") as http:
            login = await http.get("/login")
            assert login.status_code == 200
            assert 'action="/login/token"' not in login.text
            assert 'name="token"' not in login.text
            assert "needs a Kubernetes API" in login.text
            posted = await http.post("/login/token", data={"token": "x", "csrf": "y"})
            assert posted.status_code == 404
            assert "needs a Kubernetes API" in posted.text
    finally:
        await runtime.aclose()
