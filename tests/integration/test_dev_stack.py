"""`journeyline dev`: one command brings up broker, SQLite and the three services, and takes them all down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from services.cli.embedded import free_port, port_open
from tests.support import BROKER_KIND, ROOT

pytestmark = pytest.mark.integration


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float = 120.0) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    raise AssertionError(f"no {marker!r} from journeyline dev; it printed:\n" + "\n".join(lines))


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param(kind, marks=pytest.mark.skipif(kind != BROKER_KIND, reason=f"runs in the {kind} test pass"))
        for kind in ("tansu", "kafka")
    ],
)
def test_dev_runs_everything_and_stops_everything_on_sigterm(kind: str, tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("broker", "ingest", "classify", "accountability")}
    env = {k: v for k, v in os.environ.items() if k not in {"KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "KAFKA_ENGINE"}}
    cmd = [sys.executable, "-m", "services.cli.main", "dev", "--var-dir", str(tmp_path / "var")]
    cmd += [f"--{name}-port={port}" for name, port in ports.items()]
    if kind == "kafka":
        cmd += ["--broker", "kafka"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = _read_until(proc, "running; Ctrl-C stops everything", timeout=240)
        assert any(("Apache Kafka" if kind == "kafka" else "embedded Tansu") in line for line in lines), lines
        key_line = lines.index(next(line for line in lines if "demo source" in line)) + 1
        key = lines[key_line].strip()
        assert len(key) >= 20 and " " not in key
        assert (tmp_path / "var" / "journeyline.db").exists()

        reply = httpx.post(
            f"http://127.0.0.1:{ports['ingest']}/v1/events",
            headers={"X-API-Key": key},
            json={"external_id": "dev-1", "customer_id": "C1", "text": "refund still not in my account after 3 weeks"},
        )
        assert reply.status_code == 202, reply.text
        event_id = reply.json()["id"]
        deadline = time.monotonic() + 60
        stored = None
        while time.monotonic() < deadline:
            got = httpx.get(
                f"http://127.0.0.1:{ports['accountability']}/v1/feedback/{event_id}",
                headers={"Authorization": "Bearer change-me-read"},
            )
            if got.status_code == 200:
                stored = got.json()
                break
            time.sleep(0.3)
        assert stored is not None, "the event never reached accountability"
        assert stored["classification"]["stage"] == "pay"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "stopped" in out
    for name, port in ports.items():
        assert not port_open("127.0.0.1", port), f"{name} still listening on {port} after dev stopped"
    pattern = f"tcp://127.0.0.1:{ports['broker']}" if kind == "tansu" else str(tmp_path / "var" / "kafka")
    leftovers = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    assert leftovers.stdout.strip() == "", "the broker outlived journeyline dev"
    if kind == "kafka":
        assert (tmp_path / "var" / "kafka" / "logs" / "meta.properties").exists()  # storage on disk, kept
