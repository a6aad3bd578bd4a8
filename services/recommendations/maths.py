"""Pure recommendation maths: percentiles, rounding, ids and bands, right-sizing, reopen, realized.

No I/O, no clock, no logging, no display rounding (rounding up to 1m / 1Mi is part of the rule).
The waste finders (idle workloads, unclaimed volumes, idle capacity) are in `waste.py`.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_right
from collections.abc import Sequence
from typing import Any, NamedTuple

from services.recommendations import patches
from services.recommendations.models import (
    HOURS_PER_MONTH,
    MIB,
    PROFILES,
    Category,
    ContainerSamples,
    Evidence,
    HpaTarget,
    Recommendation,
    RecSettings,
    RecSnapshot,
    Rule,
    Skipped,
    WorkloadKey,
)
from services.recommendations.patches import (  # re-exported: part of this module's API
    cpu_quantity,
    kubectl_patch,
    memory_quantity,
    yaml_snippet,
)

__all__ = [
    "DEFAULTS",
    "band_label",
    "ceil_mebibytes",
    "ceil_millicores",
    "confidence_factor",
    "confidence_label",
    "kubectl_patch",
    "material_change",
    "percentile",
    "realized_monthly",
    "rec_id",
    "rec_version",
    "rightsize",
    "savings_band",
    "yaml_snippet",
]

DEFAULTS = RecSettings()
_CPU_EPSILON = 0.0005  # half a millicore: below this two CPU values are the same request
_MEMORY_EPSILON = MIB / 2


# --- numbers ----------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation, like numpy's default method."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile {q} is outside 0..100")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def ceil_millicores(cores: float) -> float:
    """Round cores up to a whole millicore (the inner round drops float noise like 250.0000001)."""
    return math.ceil(round(cores * 1000.0, 6)) / 1000.0


def ceil_mebibytes(size: float) -> float:
    """Round bytes up to a whole MiB; dividing by a power of two is exact, so never below."""
    return float(math.ceil(size / MIB) * MIB)


def savings_band(amount: float, bands: Sequence[float] = DEFAULTS.savings_bands) -> int:
    """0 for below the first edge, len(bands) for at or above the last one."""
    return bisect_right(list(bands), amount)


def band_label(band: int, bands: Sequence[float] = DEFAULTS.savings_bands) -> str:
    if band <= 0:
        return f"<{bands[0]:g}"
    if band >= len(bands):
        return f"≥{bands[-1]:g}"
    return f"{bands[band - 1]:g}–{bands[band]:g}"


# --- identity ---------------------------------------------------------------------------------
def rec_id(key: WorkloadKey, rule: Rule) -> str:
    """Stable across runs: the same workload and rule always give the same 12 hex characters."""
    parts = (key.cluster, key.namespace, key.kind, key.controller, key.container, rule)
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:12]


def for_workload(key: WorkloadKey, rule: Rule, **fields: Any) -> Recommendation:
    """A recommendation about `key`: its stable id and identifying fields come from the key."""
    return Recommendation(
        id=rec_id(key, rule),
        rule=rule,
        cluster=key.cluster,
        namespace=key.namespace,
        kind=key.kind,
        controller=key.controller,
        container=key.container,
        **fields,
    )


def rec_version(
    rule: Rule,
    *,
    cpu: float | None,
    memory: float | None,
    savings: float,
    risk: bool,
    bands: Sequence[float],
) -> str:
    """Changes when the recommended values, the savings band or the risk flag change."""
    cpu_text = "-" if cpu is None else str(round(cpu * 1000))
    memory_text = "-" if memory is None else str(round(memory / MIB))
    payload = f"{rule}|{cpu_text}|{memory_text}|{savings_band(savings, bands)}|{int(risk)}"
    return hashlib.sha256(payload.encode()).hexdigest()[:8]


# --- right-sizing -----------------------------------------------------------------------------
def confidence_factor(days: int, settings: RecSettings = DEFAULTS) -> float:
    """How much a short history widens requests, VPA-style: 1 at the full window, more below it.

    `((1 + 1/days) / (1 + 1/history_days)) ** confidence_exponent`, never below 1.
    """
    if days <= 0:
        return 1.0
    full = max(days, settings.history_days)
    ratio = (1.0 + 1.0 / days) / (1.0 + 1.0 / full)
    return max(1.0, float(ratio**settings.confidence_exponent))


def confidence_label(days: int, settings: RecSettings = DEFAULTS) -> str:
    """high: the full window; medium: at least half of it; low: less."""
    if days >= settings.history_days:
        return "high"
    return "medium" if days * 2 >= settings.history_days else "low"


def _denoise(current: float, recommended: float, settings: RecSettings) -> float:
    """The current request when the change is within the noise band (not worth a rollout)."""
    if current > 0 and abs(recommended - current) < settings.noise_band * current:
        return current
    return recommended


class _Sizing(NamedTuple):
    cpu_raw: float
    cpu_base: float  # before floors, after profile, HPA and confidence
    memory_base: float
    cpu: float
    memory: float


def _size(samples: ContainerSamples, settings: RecSettings, hpa: HpaTarget | None) -> _Sizing:
    widen = confidence_factor(samples.days, settings)
    target = PROFILES[settings.profile] if settings.profile else None
    cpu_raw = percentile(samples.cpu_peaks, settings.cpu_percentile)
    if hpa:  # the HPA's own target keeps its scaling point; it wins over a profile for CPU
        cpu_base = cpu_raw / (hpa.target_cpu_utilization / 100.0)
    else:
        cpu_base = cpu_raw / target if target else cpu_raw
    memory_base = (
        samples.memory_peak / target
        if target
        else (samples.memory_peak * (1.0 + settings.memory_buffer))
    )
    cpu = _widened(samples.current_cpu, cpu_base, widen, settings.cpu_floor_cores)
    memory = _widened(samples.current_memory, memory_base, widen, settings.memory_floor_bytes)
    return _Sizing(
        cpu_raw,
        cpu_base * widen,
        memory_base * widen,
        _denoise(samples.current_cpu, cpu, settings),
        _denoise(samples.current_memory, memory, settings),
    )


def _widened(current: float, base: float, widen: float, floor: float) -> float:
    """The request with a short history's margin, rounded up (1m or 1Mi by the floor's unit).

    Uncertainty makes a cut more cautious but never asks for a raise on its own: when only
    the widening lifts the value above a request that covers the unwidened need, the current
    request stays."""
    ceil = ceil_millicores if floor < 1.0 else ceil_mebibytes
    need = ceil(max(base, floor))
    wide = ceil(max(base * widen, floor))
    return current if need <= current < wide else wide


def rightsize(
    samples: ContainerSamples, settings: RecSettings = DEFAULTS, hpa: HpaTarget | None = None
) -> Recommendation | Skipped:
    """Requests for one container spec from its pooled history, or why there are none."""
    if samples.days < settings.min_days or not samples.cpu_peaks:
        reason = f"not enough data: {samples.days} day(s) of history, {settings.min_days} needed"
        return Skipped(samples.key, reason, samples.days)
    if hpa is not None and hpa.target_cpu_utilization <= 0:
        hpa = None  # a broken HPA spec must not divide by zero; size as if it were absent
    sized = _size(samples, settings, hpa)
    cpu, memory = sized.cpu, sized.memory
    monthly_pods = HOURS_PER_MONTH * samples.avg_pods
    cpu_delta = (samples.current_cpu - cpu) * samples.cpu_price * monthly_pods
    memory_delta = (samples.current_memory - memory) * samples.ram_price * monthly_pods
    risk_note = _risk_note(samples, sized)
    minimum_note = "" if risk_note else _minimum_note(samples, sized, settings)
    category: Category = "risk" if risk_note else ("minimum" if minimum_note else "savings")
    # Only a change that lowers requests claims savings; a raise is a risk or a minimum.
    savings = max(0.0, cpu_delta + memory_delta) if category == "savings" else 0.0
    evidence = Evidence(
        history_days=samples.days,
        data_points=len(samples.cpu_peaks),
        percentile=settings.cpu_percentile,
        cpu_percentile_cores=sized.cpu_raw,
        cpu_peak_cores=max(samples.cpu_peaks),
        cpu_source=_source(samples.cpu_from_max, len(samples.cpu_peaks)),
        memory_peak_bytes=samples.memory_peak,
        memory_source="max" if samples.memory_from_max else "average",
        buffer=None if settings.profile else settings.memory_buffer,
        cpu_floor_applied=sized.cpu_base < settings.cpu_floor_cores,
        memory_floor_applied=sized.memory_base < settings.memory_floor_bytes,
        hpa=hpa is not None,
        hpa_target_utilization=hpa.target_cpu_utilization if hpa else None,
        cpu_unit_price=samples.cpu_price,
        ram_unit_price=samples.ram_price,
        avg_pods=samples.avg_pods,
        cpu_monthly_delta=cpu_delta,
        memory_monthly_delta=memory_delta,
        profile=settings.profile or "",
        target_utilization=PROFILES[settings.profile] if settings.profile else None,
        confidence=confidence_label(samples.days, settings),
        confidence_factor=confidence_factor(samples.days, settings),
        notes=_price_notes(samples),
    )
    key = samples.key
    body = patches.resources_body(key.container, cpu, memory)
    verb = {"savings": "Right-size", "risk": "Raise", "minimum": "Raise to the minimum"}[category]
    title = f"{verb} {key.container} in {key.kind} {key.namespace}/{key.controller}"
    return for_workload(
        key,
        "rightsize",
        title=title + (" (HPA-aware)" if hpa else ""),
        current_cpu=samples.current_cpu,
        recommended_cpu=cpu,
        current_memory=samples.current_memory,
        recommended_memory=memory,
        monthly_savings=savings,
        risk=bool(risk_note),
        risk_note=risk_note,
        category=category,
        minimum_note=minimum_note,
        evidence=evidence,
        kubectl_patch=kubectl_patch(key, body, context=settings.kube_context),
        yaml=yaml_snippet(body),
        version=rec_version(
            "rightsize",
            cpu=cpu,
            memory=memory,
            savings=savings,
            risk=bool(risk_note),
            bands=settings.savings_bands,
        ),
    )


def _raised(current: float, recommended: float, epsilon: float) -> bool:
    return recommended > current + epsilon


def _risk_note(samples: ContainerSamples, sized: _Sizing) -> str:
    """Requests below what the workload uses: a raise driven by usage, a risk, not a saving.

    A raise that only the floors cause is not a risk (`_minimum_note` names it)."""
    notes: list[str] = []
    if _raised(samples.current_cpu, sized.cpu, _CPU_EPSILON) and (
        samples.current_cpu <= 0 or sized.cpu_base > samples.current_cpu + _CPU_EPSILON
    ):
        if samples.current_cpu <= 0:
            notes.append("no CPU request set: the pod is scheduled as if it used nothing")
        else:
            notes.append(
                f"CPU request {cpu_quantity(samples.current_cpu)} is below typical peaks;"
                f" raise it to {cpu_quantity(sized.cpu)} to avoid starvation on busy nodes"
            )
    if _raised(samples.current_memory, sized.memory, _MEMORY_EPSILON) and (
        samples.current_memory <= 0 or sized.memory_base > samples.current_memory + _MEMORY_EPSILON
    ):
        if samples.current_memory <= 0:
            notes.append("no memory request set: first to be evicted under memory pressure")
        else:
            notes.append(
                f"memory request {memory_quantity(samples.current_memory)} is below peak + "
                f"buffer; raise it to {memory_quantity(sized.memory)} to avoid OOM kills"
            )
    return "; ".join(notes)


def _minimum_note(samples: ContainerSamples, sized: _Sizing, settings: RecSettings) -> str:
    """Raises that come only from the floors: below the minimum we recommend, not a risk."""
    notes: list[str] = []
    if _raised(samples.current_cpu, sized.cpu, _CPU_EPSILON):
        notes.append(
            f"CPU request {cpu_quantity(samples.current_cpu)} is below the minimum we"
            f" recommend ({cpu_quantity(settings.cpu_floor_cores)}); usage peaks at"
            f" {cpu_quantity(max(samples.cpu_peaks))}"
        )
    if _raised(samples.current_memory, sized.memory, _MEMORY_EPSILON):
        notes.append(
            f"memory request {memory_quantity(samples.current_memory)} is below the minimum we"
            f" recommend ({memory_quantity(settings.memory_floor_bytes)}); usage peaks at"
            f" {memory_quantity(samples.memory_peak)}"
        )
    return "; ".join(notes)


def _source(from_max: int, total: int) -> str:
    if from_max == total:
        return "max"
    return "average" if from_max == 0 else "mixed"


def _price_notes(samples: ContainerSamples) -> tuple[str, ...]:
    notes = []
    if samples.cpu_price <= 0:
        notes.append("no CPU unit price in the data (cpuCoreHours was 0): CPU savings count as 0")
    if samples.ram_price <= 0:
        notes.append(
            "no RAM unit price in the data (ramByteHours was 0): memory savings count as 0"
        )
    return tuple(notes)


# --- change and realization -------------------------------------------------------------------
def material_change(
    before: RecSnapshot, after: Recommendation, settings: RecSettings = DEFAULTS
) -> str:
    """Why `after` differs enough from `before` to re-open a decision, or "" when it does not."""
    pairs = (
        ("CPU", before.recommended_cpu, after.recommended_cpu, cpu_quantity),
        ("memory", before.recommended_memory, after.recommended_memory, memory_quantity),
    )
    for name, old, new, show in pairs:
        if old is None or new is None or old <= 0:
            continue
        change = (new - old) / old
        if abs(change) > settings.reopen_change:
            return f"recommended {name} moved {change:+.0%} ({show(old)} → {show(new)})"
    band = savings_band(after.monthly_savings, settings.savings_bands)
    if band != before.band:
        old_label = band_label(before.band, settings.savings_bands)
        return f"savings band changed ({old_label} → {band_label(band, settings.savings_bands)})"
    return ""


def realized_monthly(snapshot: RecSnapshot, cpu_now: float, memory_now: float) -> float:
    """Monthly savings from requests lowered since `snapshot`, at its prices and pod count.

    Zero unless at least one request actually went down; never negative.
    """
    cpu_then, memory_then = snapshot.current_cpu or 0.0, snapshot.current_memory or 0.0
    cpu_dropped = cpu_now < cpu_then - _CPU_EPSILON
    memory_dropped = memory_now < memory_then - _MEMORY_EPSILON
    if not (cpu_dropped or memory_dropped):
        return 0.0
    monthly_pods = HOURS_PER_MONTH * (snapshot.avg_pods or 0.0)
    cpu = (cpu_then - cpu_now) * (snapshot.cpu_price or 0.0) * monthly_pods
    memory = (memory_then - memory_now) * (snapshot.ram_price or 0.0) * monthly_pods
    return max(0.0, cpu + memory)
