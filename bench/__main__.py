"""`python -m bench [NAME …]`: run every benchmark (or the named ones), each in a fresh process.

A fresh interpreter per benchmark keeps one's garbage, threads and caches out of the next one's
numbers. Exit status is non-zero when a benchmark crashed; slow numbers never fail the run.
"""

from __future__ import annotations

import subprocess
import sys
import time

BENCHMARKS = (
    "parse_aggregate",
    "http_latency",
    "socket_mode",
    "cache",
    "deadlines",
    "scale",
    "api",
    "authz",
)


def main(argv: list[str]) -> int:
    chosen = argv or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}")
        return 2
    failed = []
    started = time.monotonic()
    for name in chosen:
        sys.stdout.flush()
        began = time.monotonic()
        done = subprocess.run([sys.executable, "-m", f"bench.{name}"], check=False)
        print(f"--- {name}: {time.monotonic() - began:.0f} s (exit {done.returncode})", flush=True)
        if done.returncode != 0:
            failed.append(name)
    took = time.monotonic() - started
    print(f"\nall benchmarks: {took:.0f} s; failed: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
