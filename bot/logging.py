"""structlog set-up: JSON off a TTY, console on one, secrets and response_urls redacted.

Bolt logs raw request bodies when a signature check fails, and a `response_url` is a bearer
capability, so redaction runs over every event, stdlib records included.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

_SECRETS = re.compile(
    r"(xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+"
    r"|https?(?::|%3A)(?://|%2F%2F)hooks\.slack\.com[^\s\"'&]*)",
    re.IGNORECASE,
)
# A `response_url` (whatever host it points at) and Slack's legacy verification `token`, as
# they appear in a raw form body (`token=…&`), in JSON (`"token": "…"`), URL-encoded JSON inside
# `payload=` (`%22token%22%3A%22…%22`) and a Python dict's repr (`'token': '…'`).
_KEYS = "(response_url|token)"
_FIELDS = (
    (re.compile(r"(?<![A-Za-z0-9_%])" + _KEYS + r"=[^&\s'\"]*"), r"\1=[redacted]"),
    (re.compile(r'"' + _KEYS + r'"(\s*:\s*)"(?:[^"\\]|\\.)*"'), r'"\1"\2"[redacted]"'),
    (re.compile(r"'" + _KEYS + r"'(\s*:\s*)'[^']*'"), r"'\1'\2'[redacted]'"),
    (
        re.compile(r"%22" + _KEYS + r"%22((?:%3A|:)(?:\+|%20)*)%22.*?%22", re.IGNORECASE),
        r"%22\1%22\2%22[redacted]%22",
    ),
)
_EXTRA_SECRETS: list[str] = []


def redact_text(text: str) -> str:
    text = _SECRETS.sub("[redacted]", text)
    for pattern, replacement in _FIELDS:
        text = pattern.sub(replacement, text)
    for secret in _EXTRA_SECRETS:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: _redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact(item) for item in value)
    return value


def redact_processor(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    for key, value in list(event_dict.items()):
        if key.endswith("response_url"):
            event_dict[key] = "[redacted]"
        else:
            event_dict[key] = _redact(value)
    return event_dict


class _BoltNoise(logging.Filter):
    """Bolt warns that SLACK_BOT_TOKEN from the environment is unused because costbot hands it
    a configured client; that is by design, so the warning only confuses operators."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def configure_logging(
    level: str = "info",
    fmt: str | None = None,
    stream: TextIO | None = None,
    secrets: list[str] | None = None,
) -> None:
    """Configure structlog and route stdlib logging (Bolt, slack_sdk, uvicorn) through it."""
    _EXTRA_SECRETS[:] = [s for s in (secrets or []) if len(s) >= 8]
    out = stream or sys.stderr
    use_json = fmt == "json" or (fmt is None and not out.isatty())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_processor,
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared,
        )
    )
    handler.addFilter(_BoltNoise())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("urllib3", "httpx", "httpcore", "apscheduler", "kubernetes"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str = "costbot") -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
