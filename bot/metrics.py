"""Prometheus metrics, one registry per running app (tests build many apps in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "costbot_request_seconds",
            "Time to handle a Slack request, by kind (command, action, view, event).",
            ["kind"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.api = Histogram(
            "costbot_api_request_seconds",
            "Time to answer an HTTP API request, by route template, method and status.",
            ["route", "method", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.opencost = Histogram(
            "costbot_opencost_seconds",
            "OpenCost request latency.",
            ["outcome"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.cache = Counter(
            "costbot_cache_total", "Cost cache lookups.", ["result"], registry=self.registry
        )
        self.authz = Counter(
            "costbot_authz_decisions_total",
            "Authorization decisions.",
            ["decision"],
            registry=self.registry,
        )
        self.digests = Counter(
            "costbot_digests_total",
            "Digest and alert deliveries by outcome (sent, late, skipped, failed).",
            ["outcome"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
