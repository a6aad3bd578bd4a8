"""The benchmarks still run: `python -m bench` at smoke sizes (BENCH_QUICK=1) completes and every
benchmark prints its ratio line. Nothing here looks at a timing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ("parse_aggregate", "http_latency", "socket_mode", "cache", "deadlines", "api")


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_every_benchmark_runs_at_smoke_size_and_prints_its_ratios() -> None:
    env = {**os.environ, "BENCH_QUICK": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "bench"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    for name in BENCHMARKS:
        section = output.split(f"=== {name}:", 1)
        assert len(section) == 2, f"{name} printed no banner:\n{output[-4000:]}"
        body = section[1].split("\n=== ", 1)[0]
        assert re.search(r"^ratio: .+ = \d+\.\d+×", body, re.MULTILINE), body
        assert f"--- {name}: " in output
    assert "failed: none" in output
