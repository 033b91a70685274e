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


_ARENAS = """
import ctypes, sys, tempfile, threading
from shared import heap

if sys.argv[1] == "service":  # a service started with its settings (JOURNEYLINE_MALLOC_ARENAS, default 2)
    from fastapi.testclient import TestClient
    from shared.settings import CommonSettings
    from shared.wiring import service_app

    class Idle:
        async def start(self): pass
        async def stop(self): pass
        def checks(self): return {}

    app = service_app(name="t", settings=CommonSettings(), runtime=Idle, checks=(), routers=[], body_limit=1000,
                      title="t", version="0", description="t")
    client = TestClient(app).__enter__()
    print("service", end=" ")
else:
    print(heap.limit_arenas(int(sys.argv[1])) if sys.argv[1] != "-" else "-", end=" ")
held, ready, done = [], threading.Barrier(9), threading.Event()

def allocate():
    held.append(bytearray(200_000))  # from the C heap, in this thread's arena
    ready.wait()
    done.wait()

threads = [threading.Thread(target=allocate) for _ in range(8)]
for t in threads:
    t.start()
ready.wait()  # all eight threads hold their memory at once
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
with tempfile.NamedTemporaryFile("r") as out:
    stream = libc.fopen(out.name.encode(), b"w")
    libc.malloc_info(0, ctypes.c_void_p(stream))
    libc.fclose(ctypes.c_void_p(stream))
    print(out.read().count("<heap nr="))
done.set()
"""


def _arenas(limit: str, setting: str | None = None) -> tuple[str, int]:
    """(what limit_arenas answered, C heap arenas in use) after eight threads allocated at once."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("JOURNEYLINE_MALLOC_ARENAS", None)
    if setting is not None:
        env["JOURNEYLINE_MALLOC_ARENAS"] = setting
    done = subprocess.run([sys.executable, "-c", _ARENAS, limit], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    answer, arenas = done.stdout.split()
    return answer, int(arenas)


def test_threads_share_the_c_heap_arenas_they_are_limited_to() -> None:
    assert _arenas("2") == ("True", 2)
    answer, arenas = _arenas("-")  # glibc's default: an arena for each thread that allocates, up to 8 per core
    assert answer == "-" and arenas > 2


def test_a_service_limits_its_threads_to_two_arenas_unless_told_otherwise() -> None:
    assert _arenas("service") == ("service", 2)
    assert _arenas("service", setting="0")[1] > 2  # glibc's default kept
