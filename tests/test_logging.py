"""Logs: JSON off a TTY, and tokens / response_urls never reach them."""

from __future__ import annotations

import io
import json
import logging

import structlog

from bot.logging import configure_logging, redact_text


def test_tokens_and_response_urls_are_redacted_in_structlog_and_stdlib_logs() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream, secrets=["signing-secret-value"])
    structlog.get_logger("t").info(
        "slack.called",
        token="xoxb-1234-5678-abcdef",
        response_url="https://hooks.slack.com/commands/T1/2/3",
        note="app token xapp-1-A1-2-abc and secret signing-secret-value",
    )
    logging.getLogger("slack_bolt").warning(
        "Invalid signature: body=token=x&response_url="
        "https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT%2F1"
    )
    out = stream.getvalue()
    assert "xoxb-1234" not in out
    assert "xapp-1-A1" not in out
    assert "hooks.slack.com" not in out
    assert "signing-secret-value" not in out
    first = json.loads(out.splitlines()[0])
    assert first["event"] == "slack.called"
    assert first["response_url"] == "[redacted]"


def test_redact_text_keeps_ordinary_words() -> None:
    assert redact_text("summary 7d for payments") == "summary 7d for payments"
