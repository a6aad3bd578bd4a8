"""`python -m bench authz`: scope resolution for a namespace-scoped user on 2 000 namespaces.

The Kubernetes stand-in (tests/standins/kube.py) runs in a child process, so `process_time()`
here is the bot's CPU only. Reports cold (every namespace reviewed), warm (the in-process
cache), and another replica's first call (one MGET from Redis): bot CPU, wall time, reviews
sent. Targets (issue: ≤ 0.5 s CPU cold, ≤ 20 ms warm) are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from redis.asyncio import Redis

from bench.common import banner, pick, print_check, print_table
from services.access.kube import KubeApi
from services.access.models import Identity
from services.access.namespaces import KubeNamespaces
from services.access.policy import AccessPolicy
from services.access.sar import SarAuthorizer
from tests.redis_server import RedisServer

CONCURRENCY = 8


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


WHO = Identity("U1", k8s_user="dana", groups=("team-x",), source="explicit")


def serve(count: int, kubeconfig: Path) -> None:
    """Child process: the stand-in with `team-x` bound to every 10th namespace."""
    from demo.rbac import DEMO_RBAC
    from tests.standins.kube import KubeApiStandIn, write_kubeconfig
    from tests.test_authz_scale import bindings

    visible = {f"ns-{i:04d}" for i in range(0, count, 10)}
    server = KubeApiStandIn([*DEMO_RBAC, *bindings("team-x", visible)])
    server.extra_namespaces = {f"ns-{i:04d}" for i in range(count)}  # the API lists them all
    server.start()
    write_kubeconfig(kubeconfig, server.url, server.token)
    print("ready", flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    print(json.dumps({"sar": server.requests["sar"]}), flush=True)
    server.stop()


async def measure(kubeconfig: Path, redis_url: str, names: list[str]) -> list[list[object]]:
    kube = KubeApi.from_config(str(kubeconfig), timeout=10.0)
    redis = Redis.from_url(redis_url)
    rows: list[list[object]] = []
    try:
        first = AccessPolicy(SarAuthorizer(kube, redis, 60), "list", "pods", "", CONCURRENCY)
        other = AccessPolicy(SarAuthorizer(kube, redis, 60), "list", "pods", "", CONCURRENCY)
        for label, access in (("cold", first), ("warm", first), ("other replica", other)):
            cpu, wall = time.process_time(), time.perf_counter()
            scope = await access.scope(WHO, names)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            seen = len(scope.namespaces or ())
            rows.append([label, f"{cpu * 1000:.1f}", f"{wall * 1000:.1f}", seen])
        # Before any answer: may this identity see anything at all? (the namespace list, then
        # the same cached decisions; warm, the namespace seen last time is asked first)
        lister = KubeNamespaces({"": kube}, _Clock())
        gate = AccessPolicy(
            SarAuthorizer(kube, redis, 60), "list", "pods", "", CONCURRENCY, namespaces=lister
        )
        for label in ("sees anything? first", "sees anything? warm"):
            cpu, wall = time.process_time(), time.perf_counter()
            nothing = await gate.sees_nothing(WHO)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            rows.append(
                [label, f"{cpu * 1000:.1f}", f"{wall * 1000:.1f}", "none" if nothing else "some"]
            )
    finally:
        await redis.aclose()
        await kube.aclose()
    return rows


def main() -> None:
    count = pick(2000, 100)
    banner("authz", f"scope of a namespace-scoped user over {count} namespaces")
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        child = subprocess.Popen(
            [sys.executable, "-m", "bench.authz", "--serve", str(count), str(kubeconfig)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdin is not None
        child.stdout.readline()  # "ready"
        server = RedisServer(Path(tmp) / "redis", persist=False)
        server.start()
        try:
            names = [f"ns-{i:04d}" for i in range(count)]
            rows = asyncio.run(measure(kubeconfig, server.url, names))
        finally:
            server.stop()
            child.stdin.close()
            reviews = json.loads(child.stdout.readline() or "{}").get("sar", "?")
            child.wait(timeout=30)
    print_table(
        f"scope over {count} namespaces (concurrency {CONCURRENCY}; {reviews} reviews in all)",
        ["call", "bot CPU ms", "wall ms", "namespaces seen"],
        rows,
    )
    print_check("cold bot CPU", float(str(rows[0][1])), 500, "ms")
    print_check("warm bot CPU", float(str(rows[1][1])), 20, "ms")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(int(sys.argv[2]), Path(sys.argv[3]))
    else:
        main()
