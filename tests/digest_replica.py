"""One digest "replica" as its own process, for tests/test_digest_multiprocess.py.

Real Redis, the real SlackChatPoster over the Slack stand-in (with slack_sdk's 429 retry
handler), the real DeliveryGuard and DigestRunner; only the cost data is in memory. It can be
told to die (exit 17) just before or just after posting the summary, before anything else.

    python -m tests.digest_replica '{"redis_url": …, "slack_url": …, "sub_id": …,
                                     "fire": "2026-10-26T09:01:00+00:00", "claim_ttl": 30,
                                     "die": "" | "before_post" | "after_post"}'

Prints the delivery Result as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from bot.slack_adapters import SlackChatPoster, slack_client
from tests.conftest import FakeClock
from tests.digest_support import build_env

DIED = 17


class DyingChat:
    """Wraps the real poster; the process exits around the first summary post."""

    def __init__(self, inner: SlackChatPoster, when: str) -> None:
        self._inner, self._when = inner, when

    async def post(self, channel: str, text: str, blocks: Any, **kw: Any) -> str:
        if kw.get("thread_ts") is None and self._when == "before_post":
            os._exit(DIED)
        ts = await self._inner.post(channel, text, blocks, **kw)
        if kw.get("thread_ts") is None and self._when == "after_post":
            os._exit(DIED)
        return ts

    async def find_by_metadata(self, channel: str, event_type: str, key: str, value: str) -> Any:
        return await self._inner.find_by_metadata(channel, event_type, key, value)

    async def upload_png(
        self,
        channel: str,
        filename: str,
        content: bytes,
        title: str,
        thread_ts: str | None = None,
    ) -> str:
        return await self._inner.upload_png(channel, filename, content, title, thread_ts)


async def main(config: dict[str, Any]) -> dict[str, str]:
    redis = Redis.from_url(config["redis_url"])
    poster = SlackChatPoster(slack_client("xoxb-test", config["slack_url"]))
    chat = DyingChat(poster, config["die"]) if config.get("die") else poster
    fire = datetime.fromisoformat(config["fire"])
    env = build_env(redis, FakeClock(fire), chat=chat, claim_ttl=int(config["claim_ttl"]))
    try:
        sub = await env.store.subscription(config["sub_id"])
        assert sub is not None, "the test stores the subscription first"
        result = await env.runner.run(sub, fire)
    finally:
        await redis.aclose()
    return {"outcome": result.outcome, "ts": result.ts, "detail": result.detail}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
