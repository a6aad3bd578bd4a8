"""Slack-facing code: the /cost grammar, listeners and Block Kit rendering. No I/O clients."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from handlers.deps import Deps


def register_all(app: AsyncApp, deps: Deps) -> None:
    """Attach every listener (the /cost routes are the table in handlers/routes/table.py)."""
    from handlers.listeners import commands, home, recs
    from handlers.routes import digests

    commands.register(app, deps)
    digests.register(app, deps)
    recs.register(app, deps)
    home.register(app, deps)
