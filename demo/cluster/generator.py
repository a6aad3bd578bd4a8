"""The demo's numbers: every container's usage in one clock hour, a pure function of the hour.

Never random per call: the same hour asked twice, from any window, gives the same numbers. The
story the data tells (all relative to the anchor, "today" when the cluster was made):
- data-pipeline's data volume grows 4 % a week: usage continuously, requests at each Monday's
  deploy, so its cost climbs week over week;
- weekday batch (warehouse-load) and notebooks run on an autoscaled node that is gone at weekends;
- GPU training bursts (train-ranker) bring up two GPU nodes two or three days a week;
- web's personalizer started five days ago, search's query-suggest two days ago.
"""

from __future__ import annotations

import math
import random

from demo.cluster.catalog import HOUR, NODES
from demo.cluster.layout import Instance

# cpu use, cpu max, ram use, ram max, bytes sent, request scale
Sample = tuple[float, float, float, float, float, float]
Uptime = tuple[float, int, int]  # (hours up, first moment up, last moment up)

FIRST_HOUR = {"nightly": 2, "weekdays": 6, "burst": 6}  # when each day's run of a job starts


def weekday(hour: int) -> int:
    """0 = Monday … 6 = Sunday for an epoch hour (1970-01-01 was a Thursday)."""
    return (hour // 24 + 3) % 7


def week(hour: int) -> int:
    """Weeks since the Monday before the epoch: changes at Monday 00:00 UTC."""
    return (hour // 24 + 3) // 7


def training_day(hour: int) -> bool:
    """GPU bursts: Tuesdays and Thursdays, and Wednesdays of even weeks."""
    day = weekday(hour)
    return day in (1, 3) or (day == 2 and week(hour) % 2 == 0)


def runs(schedule: str, hour: int, replica: int) -> bool:
    """Whether pod number `replica` of a workload with this schedule runs during `hour`."""
    of_day, workday = hour % 24, weekday(hour) < 5
    if schedule == "nightly":  # cronjobs at 02:00 for an hour
        return of_day == 2
    if schedule == "weekdays":
        return workday and 6 <= of_day < 18
    if schedule == "notebooks":  # culled at night, none at weekends; one starts early
        return workday and (7 if replica == 0 else 8) <= of_day < 20
    if schedule == "burst":
        return training_day(hour) and 6 <= of_day < 22
    return True


def _load(profile: str, hour: int, noise: float, spike: float) -> float:
    """A load factor around 1: a daily wave, quieter weekends, noise and rare spikes."""
    weekend = weekday(hour) >= 5
    wave = math.sin(2 * math.pi * (hour % 24 - 8) / 24)  # peaks at 14:00 UTC
    if profile in ("web", "spiky"):
        factor = (1 + 0.45 * wave) * (0.6 if weekend else 1.0) * (0.85 + 0.3 * noise)
        return factor * 2.8 if profile == "spiky" and spike < 0.03 else factor
    if profile == "idle":
        return 0.8 + 0.4 * noise
    return (1 + 0.08 * wave) * (0.93 if weekend else 1.0) * (0.93 + 0.14 * noise)


class Generator:
    """Hourly samples for one cluster's containers; `anchor_hour` is where growth equals 1."""

    def __init__(self, seed: int, instances: list[Instance], anchor_hour: int) -> None:
        self._seed, self._instances, self._anchor = seed, instances, anchor_hour
        self._hosted = {
            node.name: [i for i in instances if i.node == node and i.kind != "daemonset"]
            for node in NODES
            if node.autoscaled
        }

    def nodes_down(self, hour: int) -> frozenset[str]:
        """Autoscaled nodes with nothing to run during `hour` (so they are not there)."""
        return frozenset(
            name
            for name, hosted in self._hosted.items()
            if not any(hour >= i.born and runs(i.schedule, hour, i.replica) for i in hosted)
        )

    def alive(self, inst: Instance, hour: int, down: frozenset[str]) -> bool:
        """Whether the container runs during `hour`."""
        if hour < inst.born or (inst.node is not None and inst.node.name in down):
            return False
        return runs(inst.schedule, hour, inst.replica)

    def growth(self, rate: float, hour: int) -> tuple[float, float]:
        """(usage, request) scale: usage grows by the hour, requests at each Monday's deploy."""
        if not rate:
            return 1.0, 1.0
        usage = (1 + rate) ** ((hour - self._anchor) / 168)
        return usage, (1 + rate) ** (week(hour) - week(self._anchor))

    def samples(self, hour: int) -> list[Sample | None]:
        """Every container's usage in one hour (None: not running then)."""
        rng = random.Random(self._seed * 1_000_003 + hour)
        down = self.nodes_down(hour)
        out: list[Sample | None] = []
        for inst in self._instances:
            a, b, c, d = rng.random(), rng.random(), rng.random(), rng.random()  # always drawn
            if not self.alive(inst, hour, down):
                out.append(None)
                continue
            used, requested = self.growth(inst.growth, hour)
            factor = _load(inst.profile, hour, a, b) * used
            cpu = inst.cpu_mean * factor
            ram = inst.ram_mean * used * (0.91 + 0.06 * min(factor, 2.0) + 0.06 * c)
            cpu_max, ram_max = cpu * (1.15 + 0.5 * c), ram * (1.03 + 0.07 * d)
            out.append((cpu, cpu_max, ram, ram_max, inst.net * factor, requested))
        return out

    def uptime(self, lo: int, hi: int) -> dict[str, Uptime]:
        """Each node's time up within [lo, hi) (epoch seconds); nodes never up are left out."""
        found: dict[str, Uptime] = {}
        for hour in range(lo // HOUR, (hi - 1) // HOUR + 1):
            start, end = max(lo, hour * HOUR), min(hi, hour * HOUR + HOUR)
            down = self.nodes_down(hour)
            for node in NODES:
                if node.name in down:
                    continue
                hours, first, _ = found.get(node.name, (0.0, start, end))
                found[node.name] = (hours + (end - start) / HOUR, first, end)
        return found
