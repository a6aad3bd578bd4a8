"""Business logic for costbot: cost answers, recommendations, identity, digests.

Nothing in this package imports Slack, Bolt or the composition root; it reaches the outside
world only through the small ports in `services.ports`.
"""
