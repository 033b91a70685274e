"""Fair admission to the producer: one source's flood cannot make the broker's acknowledgements late for the others.

Every record ingest hands to the producer queues behind the records already there (aiokafka fills one batch per
partition at a time and sends them in order), so how long an event waits for its acknowledgement is, roughly, the
number of records ahead of it divided by what the broker acknowledges per second. INGEST_MAX_INFLIGHT_PER_SOURCE
bounds one source's share of that queue, but not in *time*: on a slow or busy broker, 10 000 records may take longer
than INGEST_PRODUCE_TIMEOUT_SECONDS to drain, and then a quiet source's single event times out (503) behind them.

So the records all sources have waiting are also held to a budget that follows the broker: it halves when
acknowledgements come later than a quarter of the produce timeout (at most once per such interval, so one slow
moment is one cut) and grows back by a tenth of what is acknowledged in time, up to the per-source cap. A source over
its fair share of a spent budget waits for room (at most `max_wait`, then 429 `source_busy`; at most `max_waiters`
of its requests wait, the others are refused at once): the budget slows a bulk import that posts a few batches at
once rather than failing it, and a flood of many connections gets 429s. A source over its own cap is refused at
once. A source with nothing waiting is always admitted, so a quiet source is never refused, nor kept waiting,
because another one floods."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Admission:
    """Events waiting for the broker, per source and in all, and the budget they share."""

    ceiling: int  # INGEST_MAX_INFLIGHT_PER_SOURCE: one source's cap, and the budget's largest value
    floor: int  # the budget's smallest value (a source with nothing waiting is admitted whatever the budget)
    target: float  # seconds: acknowledgements later than this shrink the budget
    start: int = 0  # the budget's first value (at least the floor)
    max_wait: float = 0.0  # seconds a request over its share may wait for room before it is refused
    max_waiters: int = 4  # requests of one source that may wait at once (each holds its parsed body); more: 429
    clock: Callable[[], float] = time.monotonic
    in_flight: dict[str, int] = field(default_factory=dict)
    waiters: dict[str, int] = field(default_factory=dict)
    total: int = 0
    budget: int = 0
    _next_cut: float = 0.0
    _changed: asyncio.Future[None] | None = None

    def __post_init__(self) -> None:
        self.floor = min(self.floor, self.ceiling)
        # It starts low and grows as acknowledgements come in time: starting at the ceiling, a flood fills the
        # producer before the first late acknowledgement can say the broker is slower than that.
        self.budget = self.budget or min(self.ceiling, max(self.floor, self.start))

    def over_cap(self, source: str, events: int) -> bool:
        """`events` more would put `source` over its own cap (a source with nothing waiting never is)."""
        waiting = self.in_flight.get(source, 0)
        return bool(waiting) and waiting + events > self.ceiling

    def over_share(self, source: str, events: int) -> bool:
        """The budget is spent and `events` more would put `source` over its fair share of it. A source with
        nothing waiting never is: a request is always let through to the broker."""
        waiting = self.in_flight.get(source, 0)
        if not waiting or self.total + events <= self.budget:
            return False
        active = sum(1 for n in self.in_flight.values() if n) or 1
        return waiting + events > self.budget / active

    def busy(self, source: str, events: int) -> bool:
        return self.over_cap(source, events) or self.over_share(source, events)

    async def room(self, source: str, events: int, *, deadline: float | None = None) -> bool:
        """Whether `events` more of `source` may go to the broker: at once if over neither its cap nor its share;
        if over its share only, once earlier records are acknowledged or the budget grows, waiting at most until
        `deadline` (loop time; by default `max_wait` from now). False: refuse the request."""
        if self.over_cap(source, events):
            return False
        if not self.over_share(source, events):
            return True
        if self.waiters.get(source, 0) >= self.max_waiters:
            return False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait if deadline is None else deadline
        self.waiters[source] = self.waiters.get(source, 0) + 1
        try:
            while self.over_share(source, events):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                if self._changed is None or self._changed.done() or self._changed.get_loop() is not loop:
                    self._changed = loop.create_future()
                try:
                    await asyncio.wait_for(asyncio.shield(self._changed), remaining)
                except TimeoutError:
                    return not self.busy(source, events)
                if self.over_cap(source, events):
                    return False
            return True
        finally:
            self.waiters[source] -= 1

    def take(self, source: str, events: int) -> None:
        self.in_flight[source] = self.in_flight.get(source, 0) + events
        self.total += events

    def release(self, source: str, events: int) -> None:
        self.in_flight[source] -= events
        self.total -= events
        self._wake()

    def observe(self, seconds: float, events: int) -> None:
        """A publish of `events` took `seconds` (acknowledged or not): adjust the budget."""
        if seconds > self.target:
            now = self.clock()
            if now >= self._next_cut:
                self.budget = max(self.floor, self.budget // 2)
                self._next_cut = now + self.target
        else:  # grows by a tenth of what came back in time: ten prompt requests win back one request's worth
            self.budget = min(self.ceiling, self.budget + max(1, events // 10))
            self._wake()

    def _wake(self) -> None:
        """Let every request waiting for room look again."""
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)
