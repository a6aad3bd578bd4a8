"""The demo's numbers: every container's usage in one clock hour, a pure function of (seed, hour).

Never random per call: the same hour asked twice, from any window, gives the same numbers.
"""

from __future__ import annotations

import math
import random

from services.opencost.demo.layout import Instance

Sample = tuple[float, float, float, float, float]  # cpu use, cpu max, ram use, ram max, bytes sent


def weekday(hour: int) -> int:
    """0 = Monday … 6 = Sunday for an epoch hour (1970-01-01 was a Thursday)."""
    return (hour // 24 + 3) % 7


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


def alive(inst: Instance, hour: int) -> bool:
    """Whether the container runs during `hour`."""
    if hour < inst.born:
        return False
    return inst.profile != "batch" or hour % 24 == 2  # cronjobs run at 02:00 for an hour


def samples(seed: int, instances: list[Instance], hour: int) -> list[Sample | None]:
    """Every container's usage in one hour (None: not running then)."""
    rng = random.Random(seed * 1_000_003 + hour)
    out: list[Sample | None] = []
    for inst in instances:
        a, b, c, d = rng.random(), rng.random(), rng.random(), rng.random()  # always drawn
        if not alive(inst, hour):
            out.append(None)
            continue
        factor = _load(inst.profile, hour, a, b)
        cpu = inst.cpu_mean * factor
        ram = inst.ram_mean * (0.91 + 0.06 * min(factor, 2.0) + 0.06 * c)
        out.append((cpu, cpu * (1.15 + 0.5 * c), ram, ram * (1.03 + 0.07 * d), inst.net * factor))
    return out
