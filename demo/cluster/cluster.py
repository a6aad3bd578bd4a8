"""`DemoCluster`: answers `/allocation` and `/assets` GETs like OpenCost, from the generator.

Sets sum whole cached days and pro-rata clock hours, so any window equals the sum of its parts.
"""

from __future__ import annotations

import random
import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from demo.cluster import wire
from demo.cluster.accumulate import DEFAULT_AGGREGATE, Acc, aggregate
from demo.cluster.assets import asset_map
from demo.cluster.catalog import (
    CLUSTER,
    DAY,
    GIB,
    HISTORY_DAYS,
    HOUR,
    IDLE,
    NODES,
    TEAMS,
    UNMOUNTED,
)
from demo.cluster.generator import FIRST_HOUR, Generator
from demo.cluster.layout import Instance, build, suffix
from demo.cluster.windows import parse_bool, parse_step, parse_window
from services.ports import Clock

_Key = tuple[int, str]  # (instance index, pod name)


class _SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class DemoCluster:
    """The synthetic cluster. `anchor` (default: the clock at construction) is "today" for the
    workloads that started recently and for the cluster's 90-day history."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        anchor: datetime | None = None,
        seed: int = 7,
        name: str = CLUSTER,
    ) -> None:
        self._clock: Clock = clock or _SystemClock()
        anchor_hour = int((anchor or self._clock.now()).timestamp()) // HOUR
        self.name = name
        self.born = (anchor_hour * HOUR // DAY - HISTORY_DAYS) * DAY
        self._seed = seed
        self._instances, self._disks = build(seed, self.born // HOUR, anchor_hour)
        self._generator = Generator(seed, self._instances, anchor_hour)
        self._days: OrderedDict[int, dict[_Key, Acc]] = OrderedDict()
        self._lock = threading.Lock()

    # --- HTTP -----------------------------------------------------------------------------------
    def respond(self, path: str, params: Mapping[str, str]) -> wire.Response:
        """Answer one GET like OpenCost would: (status, content type, body)."""
        route = path.rstrip("/")
        if route.endswith("/healthz"):
            return wire.HEALTHY
        if route.endswith(("/allocation", "/allocation/compute")):
            return self._allocation_response(params)
        if route.endswith("/assets"):
            return self._assets_response(params)
        return wire.NOT_FOUND

    def _allocation_response(self, params: Mapping[str, str]) -> wire.Response:
        text = params.get("window", "")
        try:
            start, end = parse_window(text, self._clock.now())
        except ValueError:
            return wire.allocation_bad_window(text)
        try:
            step = parse_step(params.get("step", ""), end - start)
        except ValueError as exc:
            return wire.bad_step(str(exc))
        aggregate_by = params.get("aggregate", "")
        tokens = tuple(t.strip() for t in aggregate_by.split(",")) if aggregate_by else None
        sets = self.allocation_sets(
            start,
            end,
            step,
            tokens or DEFAULT_AGGREGATE,
            parse_bool(params.get("includeIdle", "")),
            accumulate=parse_bool(params.get("accumulate", "")),
        )
        return wire.allocation_ok(sets)

    def _assets_response(self, params: Mapping[str, str]) -> wire.Response:
        text = params.get("window", "")
        try:
            start, end = parse_window(text, self._clock.now())
        except ValueError:
            return wire.assets_bad_window(text)
        return wire.assets_ok(self.assets(start, end))

    # --- allocations ----------------------------------------------------------------------------
    def allocation_sets(
        self,
        start: int,
        end: int,
        step: int,
        tokens: tuple[str, ...] = DEFAULT_AGGREGATE,
        include_idle: bool = False,
        *,
        accumulate: bool = False,
    ) -> list[dict[str, Any]]:
        """One map name → Allocation (wire dicts) per step, steps clamped to the window end."""
        bounds = [(s, min(s + step, end)) for s in range(start, end, step)]
        if accumulate and len(bounds) > 1:
            return [self._set(start, end, tokens, include_idle, accumulated=True)]
        return [self._set(lo, hi, tokens, include_idle) for lo, hi in bounds]

    def _set(
        self,
        start: int,
        end: int,
        tokens: tuple[str, ...],
        include_idle: bool,
        accumulated: bool = False,
    ) -> dict[str, Any]:
        lo, hi = self._clip(start, end)
        accs = self._sums(lo, hi) if lo < hi else {}
        if accumulated:  # adding sets together nulls rawAllocationOnly, as in OpenCost
            for acc in accs.values():
                acc.raw = False
        idle = self._idle(list(accs.values()), lo, hi) if include_idle and lo < hi else None
        rows = aggregate(accs.values(), tokens)  # merges into the first member of each key
        if idle is not None:
            rows[IDLE] = idle
        window = {"start": wire.rfc(start), "end": wire.rfc(end)}
        return {name: wire.render(name, rows[name], window, self.name) for name in sorted(rows)}

    def _clip(self, start: int, end: int) -> tuple[int, int]:
        """Data exists from the cluster's birth up to the last complete hour."""
        now = int(self._clock.now().timestamp())
        return max(start, self.born), min(end, now - now % HOUR)

    def _sums(self, lo: int, hi: int) -> dict[_Key, Acc]:
        accs: dict[_Key, Acc] = {}
        moment = lo
        while moment < hi:
            if moment % DAY == 0 and moment + DAY <= hi:
                for key, acc in self._day(moment // DAY).items():
                    if key in accs:
                        accs[key].absorb(acc, combine=False)
                    else:
                        accs[key] = acc.copy()
                moment += DAY
            else:
                until = min(moment - moment % HOUR + HOUR, hi)
                self._add_hour(accs, moment // HOUR, moment, until)
                moment = until
        return accs

    def _day(self, day: int) -> dict[_Key, Acc]:
        """A whole day's sums; cached because every window reuses them (never mutated)."""
        with self._lock:
            if day in self._days:
                self._days.move_to_end(day)
                return self._days[day]
        accs: dict[_Key, Acc] = {}
        for hour in range(day * 24, day * 24 + 24):
            self._add_hour(accs, hour, hour * HOUR, hour * HOUR + HOUR)
        with self._lock:
            self._days[day] = accs
            while len(self._days) > HISTORY_DAYS + 2:
                self._days.popitem(last=False)
        return accs

    def _add_hour(self, accs: dict[_Key, Acc], hour: int, lo: int, hi: int) -> None:
        for index, sample in enumerate(self._generator.samples(hour)):
            if sample is None:
                continue
            inst = self._instances[index]
            controller, pod = self._names(inst, hour)
            acc = accs.get((index, pod))
            if acc is None:
                props = self._props(inst, controller, pod)
                acc = accs[(index, pod)] = Acc(props, lo, hi, raw=inst.namespace != UNMOUNTED)
            acc.add_hour(inst, sample, lo, hi)

    def _names(self, inst: Instance, hour: int) -> tuple[str, str]:
        """(controller, pod). Each day's run of a cronjob is a new Job with new pods; the demo
        reports them under the CronJob's name (kind "job") so per-controller views stay readable."""
        if inst.kind != "job":
            return inst.controller, inst.pod
        started = hour - hour % 24 + FIRST_HOUR.get(inst.schedule, 0)
        job = f"{inst.controller}-{started * 60}"  # CronJob names Jobs by minute
        seed = f"{self._seed}:{job}" + (f":{inst.replica}" if inst.replica else "")
        return inst.controller, f"{job}-{suffix(random.Random(seed), 5)}"

    def _props(self, inst: Instance, controller: str, pod: str) -> dict[str, Any]:
        props: dict[str, Any] = {"cluster": self.name}
        if inst.node:
            props["node"] = inst.node.name
        props["container"] = inst.container
        if controller:
            props.update(controller=controller, controllerKind=inst.kind)
        props.update(namespace=inst.namespace, pod=pod)
        if inst.node:
            props["providerID"] = inst.node.provider_id
        if inst.labels:
            props["labels"] = inst.labels
        if inst.namespace in TEAMS:
            team = TEAMS[inst.namespace]
            props["namespaceLabels"] = {"kubernetes_io_metadata_name": inst.namespace, "team": team}
        return props

    def _idle(self, accs: list[Acc], lo: int, hi: int) -> Acc:
        """Node capacity nobody was allocated, as one `__idle__` row (includeIdle=true)."""
        up = {name: hours for name, (hours, _, _) in self._generator.uptime(lo, hi).items()}
        idle = Acc({"cluster": self.name}, lo, hi, raw=False)
        idle.cpu_alloc = sum(n.cpu * up.get(n.name, 0.0) for n in NODES)
        idle.ram_alloc = sum(n.ram_gib * GIB * up.get(n.name, 0.0) for n in NODES)
        idle.gpu = sum(n.gpu * up.get(n.name, 0.0) for n in NODES)
        for acc in accs:
            idle.cpu_alloc -= acc.cpu_alloc
            idle.ram_alloc -= acc.ram_alloc
            idle.gpu -= acc.gpu
        return idle

    # --- assets ---------------------------------------------------------------------------------
    def assets(self, start: int, end: int) -> dict[str, Any]:
        """The `/assets` map (key → asset wire dict) for [start, end)."""
        lo, hi = self._clip(start, end)
        if lo >= hi:
            return {}
        window = {"start": wire.rfc(start), "end": wire.rfc(end)}
        nodes = self._generator.uptime(lo, hi)
        used = self._cpu_used_by_node(lo, hi)
        return asset_map(
            self.name, self._disks, window=window, data=(lo, hi), nodes=nodes, cpu_used=used
        )

    def _cpu_used_by_node(self, lo: int, hi: int) -> dict[str, float]:
        used: dict[str, float] = {}
        for acc in self._sums(lo, hi).values():
            node = acc.props.get("node")
            if node:
                used[node] = used.get(node, 0.0) + acc.cpu_use
        return used
