"""The benchmarks' load generator measures without its own garbage collector's pauses, and leaves nothing behind."""

from __future__ import annotations

import asyncio
import gc
import weakref

from bench.load import measured, without_gc_pauses


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_the_collector_is_off_while_measuring_and_cycles_are_freed_after() -> None:
    assert gc.isenabled()
    with without_gc_pauses():
        assert not gc.isenabled()
        cycle = Node()
        alive = weakref.ref(cycle)
        del cycle
        assert alive() is not None  # nothing collects it meanwhile
    assert gc.isenabled()
    assert alive() is None  # collected when the measurement ended


def test_a_measured_coroutine_runs_and_the_collector_comes_back_even_after_an_error() -> None:
    async def state() -> bool:
        await asyncio.sleep(0)
        return gc.isenabled()

    assert measured(state()) is False

    async def broken() -> None:
        raise RuntimeError("load generator failed")

    try:
        measured(broken())
    except RuntimeError:
        pass
    assert gc.isenabled()
