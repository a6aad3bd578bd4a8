"""Audit: every denial and state change as a structured log line and a capped Redis stream.

`log` holds `AuditLog` (what services call) and the `AuditStream` Protocol; `redis_stream` is the
Redis implementation, which only the composition root builds.
"""
