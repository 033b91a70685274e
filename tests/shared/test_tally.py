"""A tally hands the metrics exactly what direct updates would have made, only later: at its flush, which runs
periodically and before every exposition in the process."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from shared.tally import Tally

BUCKETS = (0.001, 0.01, 0.1, 1.0)
VALUES = [0.0, 0.0005, 0.001, 0.0010001, 0.01, 0.05, 0.1, 1.0, 1.5, 1e9, 0.001, 0.2]


def _metrics() -> tuple[CollectorRegistry, Counter, Histogram, Histogram]:
    registry = CollectorRegistry()
    events = Counter("events", "events", ["source", "outcome"], registry=registry)
    duration = Histogram("duration_seconds", "duration", ["route"], buckets=BUCKETS, registry=registry)
    size = Histogram("size", "size", buckets=(1, 5, 10), registry=registry)
    return registry, events, duration, size


def _exported(registry: CollectorRegistry) -> list[str]:
    return [
        line
        for line in generate_latest(registry).decode().splitlines()
        if not line.startswith(("#", "size_created", "duration_seconds_created", "events_created"))
    ]


def test_a_flushed_tally_exports_what_direct_updates_export() -> None:
    direct, d_events, d_duration, d_size = _metrics()
    tallied, t_events, t_duration, t_size = _metrics()
    counts = Tally()
    for i, value in enumerate(VALUES):
        source = "a" if i % 3 else "b"
        d_events.labels(source, "accepted").inc(i)
        counts.add(t_events, (source, "accepted"), i)
        d_duration.labels("/v1/events").observe(value)
        counts.observe(t_duration, value, ("/v1/events",))
        d_size.observe(i)  # without labels
        counts.observe(t_size, i)
    assert _exported(tallied) != _exported(direct)  # nothing reached the metrics yet
    counts.flush()
    assert _exported(tallied) == _exported(direct)
    counts.flush()  # a second flush adds nothing
    assert _exported(tallied) == _exported(direct)


def test_a_value_on_a_bucket_bound_counts_in_that_bucket() -> None:
    registry, _, duration, _ = _metrics()
    counts = Tally()
    for value in (0.001, 0.01, 0.1, 1.0):
        counts.observe(duration, value, ("r",))
    counts.flush()
    text = generate_latest(registry).decode()
    for bound, expected in (("0.001", 1), ("0.01", 2), ("0.1", 3), ("1.0", 4), ("+Inf", 4)):
        assert f'duration_seconds_bucket{{le="{bound}",route="r"}} {expected}.0' in text


def test_a_histogram_without_the_known_internals_gets_each_observation_replayed() -> None:
    class Plain:
        def __init__(self) -> None:
            self.seen: list[float] = []

        def observe(self, value: float) -> None:
            self.seen.append(value)

    plain: Any = Plain()
    counts = Tally()
    for value in (3.0, 1.0, 2.0):
        counts.observe(plain, value)
    assert plain.seen == []
    counts.flush()
    assert plain.seen == [3.0, 1.0, 2.0]


async def test_it_flushes_every_interval_and_once_more_when_stopped() -> None:
    registry, events, _, _ = _metrics()
    counts = Tally()
    flusher = asyncio.create_task(counts.run(interval=0.05))
    counts.add(events, ("a", "accepted"), 2)
    await asyncio.sleep(0.2)
    assert registry.get_sample_value("events_total", {"source": "a", "outcome": "accepted"}) == 2.0
    counts.add(events, ("a", "accepted"), 3)
    flusher.cancel()
    await asyncio.gather(flusher, return_exceptions=True)
    assert registry.get_sample_value("events_total", {"source": "a", "outcome": "accepted"}) == 5.0


def test_an_exposition_flushes_every_tally_of_the_process() -> None:
    from prometheus_client import REGISTRY

    from shared.http import exposition

    events = Counter("tally_exposed_things", "things", ["kind"])
    try:
        counts = Tally()
        counts.add(events, ("x",), 4)
        assert REGISTRY.get_sample_value("tally_exposed_things_total", {"kind": "x"}) is None  # not yet a series
        assert 'tally_exposed_things_total{kind="x"} 4.0' in exposition().decode()
    finally:
        REGISTRY.unregister(events)
