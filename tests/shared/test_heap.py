"""Each service settles its heap once it has started: the start-up heap frozen, a young generation one batch's
objects fit in (shared/heap.py); and its threads hand the interpreter over sooner (shared/gil.py). Run in a fresh
interpreter: both are per process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support import ROOT

_SERVICE = """
import gc, sys
from fastapi.testclient import TestClient
from shared.settings import CommonSettings
from shared.wiring import service_app

class Idle:
    async def start(self): self.big = [{"n": i} for i in range(50_000)]  # what start-up builds and keeps
    async def stop(self): pass
    def checks(self): return {}
    async def ready(self): return True

app = service_app(name="t", settings=CommonSettings(), runtime=Idle, checks=(), routers=[], body_limit=1000,
                  title="t", version="0", description="t")
print(gc.get_freeze_count(), gc.get_threshold()[0], sys.getswitchinterval(), end=" ")
with TestClient(app):
    print(gc.get_freeze_count(), gc.get_threshold()[0], sys.getswitchinterval())
"""


def _run(young: str | None, switch: str | None = None) -> list[float]:
    """Before and after start-up: frozen objects, young generation, switch interval (seconds)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name, value in (("JOURNEYLINE_GC_YOUNG_OBJECTS", young), ("JOURNEYLINE_SWITCH_INTERVAL_MS", switch)):
        env.pop(name, None)
        if value is not None:
            env[name] = value
    done = subprocess.run([sys.executable, "-c", _SERVICE], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [float(n) for n in done.stdout.split()]


def test_a_started_service_freezes_its_start_up_heap_and_widens_the_young_generation() -> None:
    before_frozen, before_young, _, frozen, young, _ = _run(None)
    assert (before_frozen, before_young) == (0, 700)  # Python's defaults until the service has started
    assert frozen > 50_000  # what start-up built is out of the collector's sight
    assert young == 20_000


@pytest.mark.parametrize(("setting", "expected"), [("0", (0, 700)), ("5000", None)])
def test_the_setting_sizes_the_young_generation_or_leaves_the_collector_alone(
    setting: str, expected: tuple[int, int] | None
) -> None:
    _, _, _, frozen, young, _ = _run(setting)
    if expected is not None:
        assert (frozen, young) == expected
    else:
        assert frozen > 50_000 and young == 5000


@pytest.mark.parametrize(("setting", "expected"), [(None, 0.0005), ("2", 0.002), ("0", 0.005)])
def test_a_started_service_hands_the_interpreter_to_a_waiting_thread_sooner(
    setting: str | None, expected: float
) -> None:
    """0.5 ms by default instead of Python's 5 ms; `JOURNEYLINE_SWITCH_INTERVAL_MS=0` keeps Python's."""
    *_, before, _, _, after = _run(None, setting)
    assert before == pytest.approx(0.005)
    assert after == pytest.approx(expected)
