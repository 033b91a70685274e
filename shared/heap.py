"""The collector's settings for a long-running service: what was built at start-up is left alone, and the
young generation is large enough for one batch's short-lived objects to die in it.

Measured (docs/performance.md, "The garbage collector"): at 2,000 events/s the cyclic garbage collector took 25% of
accountability's CPU and 20% of classify's, nearly all of it in full collections. Each full collection walks
every object the process holds, and most of them were built at start-up and never die: modules, the app and its
routes, pydantic and SQLAlchemy schemas, classify's models. A 2,000-record batch creates objects faster than the
default young generation (700 allocations) turns over, so they were promoted while still in use and, by
promoting, set off those full collections. `settle` moves the start-up heap out of the collector's sight
(`gc.freeze`: still freed by reference counting, never walked again) and makes the young generation
`young` objects large.

`limit_arenas` is for the C heap beneath: glibc gives every thread that allocates while another holds the heap an
arena of its own (up to 8 per core), and memory freed in one arena serves only that arena. Accountability stores in
one worker thread, runs its jobs in others and parses in the event loop's, so each arena grew to its own peak: at
2,000 events/s its resident memory rose 63-135 MiB during a 300 s load in four runs (to 258-322 MiB) and was
still rising at the end; with two arenas, 71 MiB, all of it in the first 90 s (docs/performance.md)."""

from __future__ import annotations

import ctypes
import gc

DEFAULT_YOUNG = 20_000
DEFAULT_ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt parameter
_frozen = False


def limit_arenas(arenas: int = DEFAULT_ARENAS) -> bool:
    """Let this process's threads share at most `arenas` C heap arenas from now on (glibc's M_ARENA_MAX, as the
    MALLOC_ARENA_MAX environment variable would at start). Call it before the threads start: an arena, once made,
    stays. False where the C library has no such setting (e.g. musl)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_ARENA_MAX, arenas))


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
