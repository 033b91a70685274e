"""A hot path's metric updates kept in plain numbers and added to the Prometheus metrics in one go.

Measured in-process (docs/performance.md): the four metric updates of a single event (request duration, batch
size, produce duration, the event counted) cost ~11 µs of its ~60 µs in ingest's own code when several workers share
the metrics (prometheus_client's multiprocess mode: a lock, and a write into a memory-mapped file, per value per
update), and ~7 µs in one process. Adding to a dictionary costs a fraction of that; `flush` then makes one update
per metric value touched since the last flush, whatever the rate.

What a scrape sees: every exposition in this process flushes first (`shared.http.exposition`), so a process alone
exports exactly what it counted. With several workers, another worker's counts reach the shared files at its next
flush: within `INTERVAL` seconds (a scrape every few seconds at best does not see the difference). A worker killed
with SIGKILL loses at most that interval's counts (the events themselves are unaffected).

Only the event loop's thread may use a tally (`add`, `observe` and `flush` share plain dictionaries without a
lock); the periodic flush runs as a task of that loop (`run`)."""

from __future__ import annotations

import asyncio
import weakref
from bisect import bisect_left
from typing import Any

INTERVAL = 0.25  # seconds between flushes

_TALLIES: weakref.WeakSet[Tally] = weakref.WeakSet()  # a tally no one holds any more is gone


class Tally:
    def __init__(self) -> None:
        self._counts: dict[tuple[Any, tuple[str, ...]], float] = {}
        self._histograms: dict[tuple[Any, tuple[str, ...]], _Observed] = {}
        _TALLIES.add(self)

    def add(self, counter: Any, labels: tuple[str, ...] = (), amount: float = 1.0) -> None:
        """`counter.labels(*labels).inc(amount)` (without labels: `counter.inc(amount)`), at the next flush."""
        counts, key = self._counts, (counter, labels)
        counts[key] = counts.get(key, 0.0) + amount

    def observe(self, histogram: Any, value: float, labels: tuple[str, ...] = ()) -> None:
        """`histogram.labels(*labels).observe(value)` (or without labels), at the next flush."""
        key = (histogram, labels)
        observed = self._histograms.get(key)
        if observed is None:
            observed = self._histograms[key] = _Observed(histogram.labels(*labels) if labels else histogram)
        observed.add(value)

    def flush(self) -> None:
        """Hand everything counted since the last flush to the metrics."""
        counts, histograms = self._counts, self._histograms
        if not counts and not histograms:
            return
        self._counts, self._histograms = {}, {}
        for (counter, labels), amount in counts.items():
            (counter.labels(*labels) if labels else counter).inc(amount)
        for observed in histograms.values():
            observed.flush()

    async def run(self, interval: float = INTERVAL) -> None:
        """Flush every `interval` seconds until cancelled, and once more then."""
        try:
            while True:
                await asyncio.sleep(interval)
                self.flush()
        finally:
            self.flush()


def flush_all() -> None:
    """Flush every tally of this process (before an exposition)."""
    for tally in _TALLIES:
        tally.flush()


class _Observed:
    """A histogram's observations since the last flush, already sorted into its buckets."""

    __slots__ = ("histogram", "bounds", "buckets", "total", "values")

    def __init__(self, histogram: Any) -> None:
        self.histogram = histogram
        # prometheus_client keeps a histogram's upper bounds, one value per bucket and the sum as `_upper_bounds`,
        # `_buckets` and `_sum` (since 0.4). Without them, each observation is replayed through `observe`.
        self.bounds: list[float] | None = getattr(histogram, "_upper_bounds", None)
        usable = self.bounds is not None and hasattr(histogram, "_buckets") and hasattr(histogram, "_sum")
        if not usable:
            self.bounds = None
        self.buckets = [0] * len(self.bounds) if self.bounds is not None else []
        self.total = 0.0
        self.values: list[float] = []

    def add(self, value: float) -> None:
        if self.bounds is None:
            self.values.append(value)
            return
        # The bucket `observe` picks: the first whose upper bound is >= the value (the last is +Inf).
        self.buckets[bisect_left(self.bounds, value)] += 1
        self.total += value

    def flush(self) -> None:
        histogram = self.histogram
        if self.bounds is None:
            for value in self.values:
                histogram.observe(value)
            return
        for i, n in enumerate(self.buckets):
            if n:
                histogram._buckets[i].inc(n)
        histogram._sum.inc(self.total)
