"""Each service settles its heap once it has started: the start-up heap frozen, a young generation one batch's
objects fit in (shared/heap.py). Run in a fresh interpreter: freezing is per process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support import ROOT

_SERVICE = """
import gc
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
print(gc.get_freeze_count(), gc.get_threshold()[0], end=" ")
with TestClient(app):
    print(gc.get_freeze_count(), gc.get_threshold()[0])
"""


def _run(young: str | None) -> list[int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("JOURNEYLINE_GC_YOUNG_OBJECTS", None)
    if young is not None:
        env["JOURNEYLINE_GC_YOUNG_OBJECTS"] = young
    done = subprocess.run([sys.executable, "-c", _SERVICE], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [int(n) for n in done.stdout.split()]


def test_a_started_service_freezes_its_start_up_heap_and_widens_the_young_generation() -> None:
    before_frozen, before_young, frozen, young = _run(None)
    assert (before_frozen, before_young) == (0, 700)  # Python's defaults until the service has started
    assert frozen > 50_000  # what start-up built is out of the collector's sight
    assert young == 20_000


@pytest.mark.parametrize(("setting", "expected"), [("0", (0, 700)), ("5000", None)])
def test_the_setting_sizes_the_young_generation_or_leaves_the_collector_alone(
    setting: str, expected: tuple[int, int] | None
) -> None:
    _, _, frozen, young = _run(setting)
    if expected is not None:
        assert (frozen, young) == expected
    else:
        assert frozen > 50_000 and young == 5000
