"""A synthetic cluster with many days of history for the OpenCost stand-in: answers any window,
step and aggregation the way OpenCost does, so block-by-block fetching can be tested and
benchmarked (`OpenCostStandIn(responder=SyntheticCluster(...).respond)`).

Every container costs a fixed amount per hour (its index decides how much), so the expected
total of any window is known exactly: `expected_total`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

_FIELDS = {
    "namespace": "namespace",
    "controllerKind": "controllerKind",
    "controller": "controller",
    "pod": "pod",
    "container": "container",
    "node": "node",
    "cluster": "cluster",
}
_SUMS = (
    "minutes",
    "cpuCoreRequestAverage",
    "cpuCoreUsageAverage",
    "cpuCoreHours",
    "cpuCost",
    "ramByteRequestAverage",
    "ramByteUsageAverage",
    "ramByteHours",
    "ramCost",
    "totalCost",
)
IDLE_PER_HOUR = 0.5


@dataclass(frozen=True)
class Container:
    namespace: str
    controller: str
    pod: str
    container: str
    node: str
    hourly: float  # cost per hour


class SyntheticCluster:
    """`containers` containers in `namespaces` namespaces, running for `days` days up to `end`."""

    def __init__(
        self, containers: int, namespaces: int, *, end: datetime, days: int = 30, name: str = ""
    ) -> None:
        self.end = end
        self.begin = end - timedelta(days=days)
        self.name = name or "cluster-one"
        self.items = [
            Container(
                namespace=f"ns-{(i // 4) % namespaces:04d}",
                controller=f"app-{i // 4:05d}",
                pod=f"app-{i // 4:05d}-{i % 4}",
                container="main",
                node=f"node-{i % 50:02d}",
                hourly=0.01 * (i % 7 + 1),
            )
            for i in range(containers)
        ]

    def expected_total(self, start: datetime, end: datetime, namespaces: set[str] | None) -> float:
        hours = self._hours(start, end)
        return sum(
            c.hourly * hours for c in self.items if namespaces is None or c.namespace in namespaces
        )

    def _hours(self, start: datetime, end: datetime) -> float:
        lo, hi = max(start, self.begin), min(end, self.end)
        return max(0.0, (hi - lo).total_seconds() / 3600)

    def respond(self, path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        if path == "/healthz":
            return 200, "text/plain", b""
        if path != "/allocation":
            return 200, "application/json", b'{"code":200,"data":{}}'
        first, last = (_parse(t) for t in params["window"].split(","))
        sets = [dict(self._set(s, e, params)) for s, e in _steps(first, last, params.get("step"))]
        body = {"code": 200, "data": sets}
        return 200, "application/json", json.dumps(body, separators=(",", ":")).encode()

    def _set(
        self, start: datetime, end: datetime, params: dict[str, str]
    ) -> Iterator[tuple[str, Any]]:
        hours = self._hours(start, end)
        if hours <= 0:
            return
        fields = [f for f in params.get("aggregate", "").split(",") if f]
        window = {"start": _fmt(start), "end": _fmt(end)}
        groups: dict[tuple[str, ...], dict[str, Any]] = {}
        for c in self.items:
            row = self._row(c, hours, window, raw=not fields)
            key = (
                tuple(row["properties"].get(_FIELDS[f], "") for f in fields)
                if fields
                else (c.namespace, c.pod, c.container)
            )
            if key in groups:
                for name in _SUMS:
                    groups[key][name] += row[name]
                continue
            if fields:
                row["properties"] = {f: row["properties"][_FIELDS[f]] for f in fields} | {
                    "cluster": self.name
                }
                row["minutes"] = row["minutes"]
            groups[key] = row
        for key, row in groups.items():
            row["name"] = "/".join(key)
            yield row["name"], row
        if params.get("includeIdle") == "true":
            idle = {
                "name": "__idle__",
                "properties": {"cluster": self.name},
                "window": window,
                "start": window["start"],
                "end": window["end"],
                "minutes": hours * 60,
                "totalCost": IDLE_PER_HOUR * hours,
            }
            yield "__idle__", idle

    def _row(
        self, c: Container, hours: float, window: dict[str, str], *, raw: bool
    ) -> dict[str, Any]:
        cost = c.hourly * hours
        row: dict[str, Any] = {
            "properties": {
                "cluster": self.name,
                "namespace": c.namespace,
                "controllerKind": "deployment",
                "controller": c.controller,
                "pod": c.pod,
                "container": c.container,
                "node": c.node,
            },
            "window": window,
            "start": window["start"],
            "end": window["end"],
            "minutes": hours * 60,
            "cpuCoreRequestAverage": 0.5,
            "cpuCoreUsageAverage": 0.2,
            "cpuCoreHours": 0.5 * hours,
            "cpuCost": cost * 0.6,
            "ramByteRequestAverage": 5.0e8,
            "ramByteUsageAverage": 2.0e8,
            "ramByteHours": 5.0e8 * hours,
            "ramCost": cost * 0.4,
            "totalCost": cost,
        }
        if raw:
            row["rawAllocationOnly"] = {"cpuCoreUsageMax": 0.3, "ramByteUsageMax": 3.0e8}
        return row


def _steps(first: datetime, last: datetime, step: str | None) -> list[tuple[datetime, datetime]]:
    if step != "1d":
        return [(first, last)]
    out, cursor = [], first
    while cursor < last:
        out.append((cursor, min(last, cursor + timedelta(days=1))))
        cursor += timedelta(days=1)
    return out


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
