"""`journeyline bench broker` runs a real hop per configuration and prints broker CPU and p99 per slice."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.integration


def test_bench_broker_prints_a_line_per_configuration() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "bench", "broker", "--seconds", "3", "--rate", "200",
         "--configs", "2:0,10:50"],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=True,
    ).stdout  # fmt: skip
    lines = [line for line in out.splitlines() if line.startswith("broker linger=")]
    assert [line.split(":")[0] for line in lines] == ["broker linger=2ms poll-interval=0ms"] * 1 + [
        "broker linger=10ms poll-interval=50ms"
    ]
    for line in lines:
        cpu = re.search(r"broker CPU (\d+)% of a core", line)
        p99 = re.search(r"p99 by 30s 0s:(\d+)ms", line)
        assert cpu is not None and p99 is not None, line
        assert 0 < int(p99.group(1)) < 10_000
        received, sent = map(int, re.search(r"received (\d+)/(\d+)", line).groups())  # type: ignore[union-attr]
        assert received == sent and 580 <= sent <= 620  # 200/s for 3 s; every record came back
