"""OpenCost's wire format for the demo: Allocation rows in field order, Go-style JSON numbers,
and the error bodies OpenCost really sends (including the 400 with JSON glued on)."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from demo.cluster.accumulate import Acc
from demo.cluster.catalog import (
    CPU_PRICE,
    DISK_PRICE,
    GIB,
    GPU_PRICE,
    HOUR,
    NET_PRICE,
    RAM_PRICE,
)

JSON_TYPE, TEXT_TYPE = "application/json", "text/plain; charset=utf-8"
Response = tuple[int, str, bytes]  # (status, content type, body)


def render(name: str, acc: Acc, window: dict[str, str], cluster: str) -> dict[str, Any]:
    """One Allocation, fields in OpenCost's order (pkg/opencost AllocationJSON)."""
    hours = (acc.end - acc.start) / HOUR
    row: dict[str, Any] = {
        "name": name,
        "properties": acc.props,
        "window": window,
        "start": rfc(acc.start),
        "end": rfc(acc.end),
        "minutes": hours * 60,
    }
    for block in (_cpu_fields, _gpu_fields, _network_fields, _pv_fields, _ram_fields):
        row.update(block(acc, hours, cluster))
    compute = row["cpuCost"] + row["ramCost"]
    weighted = row["cpuEfficiency"] * row["cpuCost"] + row["ramEfficiency"] * row["ramCost"]
    row.update(
        externalCost=0,
        sharedCost=0,
        totalCost=sum(row[f] for f in ("cpuCost", "gpuCost", "networkCost", "pvCost", "ramCost"))
        + row["loadBalancerCost"],
        totalEfficiency=weighted / compute if compute else 0,
    )
    if acc.raw and acc.members == 1:  # OpenCost nulls (and omits) it once two are summed
        row["rawAllocationOnly"] = {"cpuCoreUsageMax": acc.cpu_max, "ramByteUsageMax": acc.ram_max}
    row.update(proportionalAssetResourceCosts={}, lbAllocations=None, sharedCostBreakdown={})
    return row


def _per(value: float, hours: float) -> float:
    return value / hours if hours > 0 else 0.0


def _efficiency(used: float, requested: float, cost: float) -> float:
    if requested > 0:
        return used / requested
    return 1.0 if used > 0 and cost > 0 else 0.0


def _cpu_fields(acc: Acc, hours: float, _cluster: str) -> dict[str, Any]:
    cost = acc.cpu_alloc * CPU_PRICE
    return {
        "cpuCores": _per(acc.cpu_alloc, hours),
        "cpuCoreRequestAverage": _per(acc.cpu_req, hours),
        "cpuCoreUsageAverage": _per(acc.cpu_use, hours),
        "cpuCoreHours": acc.cpu_alloc,
        "cpuCost": cost,
        "cpuCostAdjustment": 0,
        "cpuEfficiency": _efficiency(acc.cpu_use, acc.cpu_req, cost),
    }


def _gpu_fields(acc: Acc, hours: float, _cluster: str) -> dict[str, Any]:
    return {
        "gpuCount": _per(acc.gpu, hours),
        "gpuHours": acc.gpu,
        "gpuCost": acc.gpu * GPU_PRICE,
        "gpuCostAdjustment": 0,
    }


def _network_fields(acc: Acc, _hours: float, _cluster: str) -> dict[str, Any]:
    cost = acc.sent / 1e9 * NET_PRICE
    return {
        "networkTransferBytes": acc.sent,
        "networkReceiveBytes": acc.received,
        "networkCost": cost,
        "networkCrossZoneCost": cost * 0.75,
        "networkCrossRegionCost": 0,
        "networkInternetCost": cost * 0.25,
        "networkCostAdjustment": 0,
        "loadBalancerCost": acc.lb,
        "loadBalancerCostAdjustment": 0,
    }


def _pv_fields(acc: Acc, hours: float, cluster: str) -> dict[str, Any]:
    byte_hours = sum(acc.pvs.values())
    pvs = {
        f"cluster={cluster}:name={volume}": {"byteHours": bh, "cost": bh / GIB * DISK_PRICE}
        for volume, bh in sorted(acc.pvs.items())
    }
    return {
        "pvBytes": _per(byte_hours, hours),
        "pvByteHours": byte_hours,
        "pvCost": byte_hours / GIB * DISK_PRICE,
        "pvs": pvs or None,
        "pvCostAdjustment": 0,
    }


def _ram_fields(acc: Acc, hours: float, _cluster: str) -> dict[str, Any]:
    cost = acc.ram_alloc / GIB * RAM_PRICE
    return {
        "ramBytes": _per(acc.ram_alloc, hours),
        "ramByteRequestAverage": _per(acc.ram_req, hours),
        "ramByteUsageAverage": _per(acc.ram_use, hours),
        "ramByteHours": acc.ram_alloc,
        "ramCost": cost,
        "ramCostAdjustment": 0,
        "ramEfficiency": _efficiency(acc.ram_use, acc.ram_req, cost),
    }


def rfc(epoch: float) -> str:
    """RFC 3339 in UTC with whole seconds, as OpenCost prints window bounds."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- Go's JSON encoder ---------------------------------------------------------------------------
def go_float5(value: float) -> str:
    """Go's formatFloat64ForResponse: round half away from zero to 5 decimals, NaN → null."""
    if math.isnan(value) or math.isinf(value):
        return "null"
    rounded = math.copysign(math.floor(abs(value) * 100000 + 0.5) / 100000, value)
    if rounded == 0:
        return "0"
    if rounded.is_integer() and abs(rounded) < 1e21:
        return str(int(rounded))
    text = repr(rounded)  # shortest round-trip form, like Go's 'g'-style float encoding
    return f"{rounded:.5f}".rstrip("0").rstrip(".") if "e" in text else text


def go_float6(value: float) -> str:
    """Assets print floats with Go's %f."""
    return "null" if math.isnan(value) or math.isinf(value) else f"{value:.6f}"


@functools.lru_cache(maxsize=16384)  # field names and pod names repeat in every row
def _go_str(text: str) -> str:
    # Go's encoder escapes <, > and & for HTML safety.
    encoded = json.dumps(text, ensure_ascii=False)
    return encoded.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def dump(value: object, number: Callable[[float], str]) -> str:
    """JSON as OpenCost's Go encoder prints it (struct order kept; callers sort map keys)."""
    if isinstance(value, dict):
        items = (f"{_go_str(k)}:{dump(v, number)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump(item, number) for item in value) + "]"
    if isinstance(value, float):
        return number(value)
    if isinstance(value, str):
        return _go_str(value)
    if value is None or isinstance(value, int):  # also bool
        return json.dumps(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


# --- envelopes and errors ------------------------------------------------------------------------
def allocation_ok(sets: list[dict[str, Any]]) -> Response:
    payload = {"code": 200, "status": "success", "data": sets}
    return 200, JSON_TYPE, dump(payload, go_float5).encode()


def assets_ok(assets: dict[str, Any]) -> Response:
    return 200, JSON_TYPE, dump({"code": 200, "data": assets}, go_float6).encode()


def allocation_bad_window(text: str) -> Response:
    """OpenCost writes the text/plain error, forgets to return, and appends a JSON error."""
    body = f"Invalid 'window' parameter: illegal window: {text}\n" + (
        '{"code":500,"status":"","data":null,"message":"Error: illegal window: [nil, nil)"}'
    )
    return 400, TEXT_TYPE, body.encode()


def assets_bad_window(text: str) -> Response:
    return 400, TEXT_TYPE, f"Invalid 'window' parameter: illegal window: {text}\n".encode()


def bad_step(message: str) -> Response:
    return 400, TEXT_TYPE, f"Invalid 'step' parameter: {message}\n".encode()


NOT_FOUND: Response = (404, TEXT_TYPE, b"404 page not found\n")
HEALTHY: Response = (200, TEXT_TYPE, b"")
