"""prometheus_client's multiprocess mode without a system call on every metric update.

With PROMETHEUS_MULTIPROC_DIR set (ingest's workers: `shared.http.MULTIPROC_ENV`), every `inc`/`observe` of a
metric first asks the kernel for the process id (`os.getpid`, a real system call: glibc does not cache it) to
notice a fork. A single event updates ~8 metric values; an update costs 0.67 µs with the check and 0.46 µs
without it on the development machine, so this saves ~1.7 µs of a single event's ~120 µs (py-spy had put 7.5%
of a worker's samples on that line: under CPU contention its samples pile up on system calls; see
docs/performance.md). `install` gives the library the same answer from a variable the process keeps current
across forks (`os.register_at_fork`), so a forked child still writes its own file. It must run before
the first metric value is built: the package `shared` runs it on import, and `services` imports `shared` first."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import values

_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


def process_id() -> int:
    """This process's id, as `os.getpid()` answers it, without asking the kernel."""
    return _pid


def install() -> bool:
    """Make multiprocess metrics built from now on use `process_id`. Does nothing outside multiprocess mode, when
    already done, or when a metric value was built before (two value classes would map the same file twice);
    answers whether the cached id is in use."""
    current: Any = values.ValueClass
    if getattr(current, "cached_pid", False):
        return True
    if current is values.MutexValue or _values_built(current):
        return False
    cached: Any = values.MultiProcessValue(process_identifier=process_id)  # type: ignore[no-untyped-call]
    cached.cached_pid = True
    values.ValueClass = cached
    return True


def _values_built(value_class: Any) -> bool:
    """Whether the library's own multiprocess value class has built a value yet (read from its closure; unknown
    counts as built, so nothing is swapped under a version that keeps them elsewhere)."""
    init = getattr(value_class, "__init__", None)
    code, closure = getattr(init, "__code__", None), getattr(init, "__closure__", None)
    if code is None or closure is None:
        return True
    cells = dict(zip(code.co_freevars, closure, strict=True))
    built = cells.get("values")
    return built is None or bool(built.cell_contents)
