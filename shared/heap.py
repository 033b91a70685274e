"""The collector's settings for a long-running service: what was built at start-up is left alone, and the
young generation is large enough for one batch's short-lived objects to die in it.

Measured (docs/performance.md, "The garbage collector"): at 2,000 events/s the cyclic garbage collector took 25% of
accountability's CPU and 20% of classify's, nearly all of it in full collections. Each full collection walks
every object the process holds, and most of them were built at start-up and never die: modules, the app and its
routes, pydantic and SQLAlchemy schemas, classify's models. A 2,000-record batch creates objects faster than the
default young generation (700 allocations) turns over, so they were promoted while still in use and, by
promoting, set off those full collections. `settle` moves the start-up heap out of the collector's sight
(`gc.freeze`: still freed by reference counting, never walked again) and makes the young generation
`young` objects large."""

from __future__ import annotations

import gc

DEFAULT_YOUNG = 20_000
_frozen = False


def settle(young: int = DEFAULT_YOUNG) -> None:
    """Collect once, freeze what is left (the start-up heap), and collect the young generation every `young`
    allocations (net of deallocations) instead of every 700. The heap is frozen once per process: a process
    that starts several apps (tests) does not freeze what the later ones leave behind."""
    global _frozen
    if not _frozen:
        gc.collect()
        gc.freeze()
        _frozen = True
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, old)
