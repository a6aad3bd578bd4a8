"""Slack-facing code: the /cost grammar, listeners and Block Kit rendering. No I/O clients."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from handlers.deps import Deps


def register_all(app: AsyncApp, deps: Deps) -> None:
    """Attach every listener; importing the route modules registers their /cost routes."""
    from handlers import commands, cost_routes, digest_routes, home, info_routes, recs

    _ = (cost_routes, info_routes)
    commands.register(app, deps)
    digest_routes.register(app, deps)
    recs.register(app, deps)
    home.register(app, deps)
