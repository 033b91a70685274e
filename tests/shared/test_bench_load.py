"""The benchmarks' load generator measures without full collections of its heap, still frees short-lived cycles,
and leaves nothing behind."""

from __future__ import annotations

import asyncio
import gc
import weakref

from bench.load import measured, without_gc_pauses


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def _churn(n: int = 50_000) -> None:
    """Leave enough cycles behind for young collections to come due many times over."""
    for _ in range(n):
        Node()


def test_no_full_collection_while_measuring_young_cycles_still_freed_the_rest_after() -> None:
    before = gc.get_threshold()
    with without_gc_pauses():
        full = gc.get_stats()[2]["collections"]
        short = Node()
        short_lived = weakref.ref(short)
        del short
        kept = Node()  # survives until the end: promoted to the oldest generation, which is never collected now
        old = weakref.ref(kept)
        _churn()
        assert short_lived() is None  # a young collection freed it
        _churn()
        del kept
        _churn()
        assert old() is not None  # only a full collection would free it
        assert gc.get_stats()[2]["collections"] == full
    assert gc.get_threshold() == before
    assert old() is None  # collected when the measurement ended


def test_a_measured_coroutine_runs_and_the_thresholds_come_back_even_after_an_error() -> None:
    before = gc.get_threshold()

    async def third_threshold() -> int:
        await asyncio.sleep(0)
        return gc.get_threshold()[2]

    assert measured(third_threshold()) == 2**31 - 1

    async def broken() -> None:
        raise RuntimeError("load generator failed")

    try:
        measured(broken())
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
