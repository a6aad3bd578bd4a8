"""The built-in demo cluster: deterministic OpenCost answers for `costbot demo` and tests.

It speaks OpenCost's wire format (as an httpx transport, or via `DemoCluster.respond` behind a real
HTTP server) so the real client and decoder run against it. It must never be random per call.

How the numbers are made, and why windows add up:
- Every quantity is derived per clock hour from a seed and the hour number alone, so the same hour
  asked twice gives the same numbers. A set sums the hours it covers (a partially covered hour
  counts pro rata), so any window equals the sum of its sub-windows *before* printing.
- Printing rounds each number to 5 decimals as OpenCost does (`math.Round(f*1e5)/1e5`), so the sum
  of N daily rows differs from the whole-window row by at most N × 0.000005 per field — far below
  a cent for any number of days costbot asks for.
- Only complete hours before "now" (the clock) have data; the cluster is 90 days old.
- The data tells a story relative to the anchor (growth, weekends, a new workload, GPU bursts,
  autoscaled nodes): see `generator`.

Modules: `catalog` (what runs where), `layout` (pods on nodes, disks), `generator` (hourly numbers),
`accumulate` (sums and aggregation), `wire` (OpenCost JSON), `windows`, `assets`, `cluster`,
`transport`.
"""

from __future__ import annotations

from demo.cluster.catalog import (
    CLUSTER,
    DEMO_BASE_URL,
    DEMO_HPAS,
    NODES,
    TEAMS,
    WORKLOADS,
)
from demo.cluster.cluster import DemoCluster
from demo.cluster.transport import DemoOpenCostTransport
from demo.cluster.windows import parse_step, parse_window

__all__ = [
    "CLUSTER",
    "DEMO_BASE_URL",
    "DEMO_HPAS",
    "NODES",
    "TEAMS",
    "WORKLOADS",
    "DemoCluster",
    "DemoOpenCostTransport",
    "parse_step",
    "parse_window",
]
