"""What every load generator and benchmark here shares: a keep-alive HTTP/1.1 client cheaper than the services it
loads, a process's CPU and memory (with uvicorn's workers), percentiles and latency by slice of the run."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import Collection, Coroutine, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")


@contextlib.contextmanager
def without_gc_pauses() -> Iterator[None]:
    """No full collections in the measuring process while it measures. A full collection walks every object the
    process holds (tasks, connections, every latency so far) and stopped it for 70-200 ms at a time: an open loop
    then sends late and counts the wait as the server's latency. Against the trivial app at 12,000 req/s an open
    loop's p99 was 225 ms with them and 2.5-3.0 ms without (docs/performance.md). Young collections still
    free the short-lived cycles of each request; what outlives them is collected when the measurement ends."""
    young, middle, old = gc.get_threshold()
    gc.collect()
    gc.set_threshold(young, middle, 2**31 - 1)  # the oldest generation's collection never comes due
    try:
        yield
    finally:
        gc.set_threshold(young, middle, old)
        gc.collect()


def measured(coro: Coroutine[Any, Any, T]) -> T:
    """Run a load generator's coroutine on uvloop, its process's full collections held back (`without_gc_pauses`)."""
    with without_gc_pauses():
        return uvloop.run(coro)


def process_family(pid: int) -> list[int]:
    """The process and its live children (uvicorn's worker processes, when it runs several)."""
    with contextlib.suppress(OSError):
        return [pid, *(int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
    return [pid]


def rss_mib(pid: int, only: Collection[int] | None = None) -> float:
    """VmRSS of a process and its children, in MiB (from /proc/<pid>/status); with `only`, of those among them."""
    total = 0
    for each in process_family(pid):
        if only is not None and each not in only:
            continue
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def cpu_seconds(pid: int, *, children: bool = True) -> float:
    """User + system CPU time a process and its live children have used so far (from /proc/<pid>/stat); with
    `children=False` the process's own (all its threads), for a process whose children are measured apart."""
    total = 0
    for each in process_family(pid) if children else [pid]:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def broker_cpu_seconds(broker: object) -> float:
    """CPU seconds of a broker a bench started as a process; NaN (not measured) for any other."""
    process = getattr(broker, "process", None)
    return cpu_seconds(process.pid) if process is not None else float("nan")


SLICE_S = 30.0


def p99_by_slice(samples: Iterable[tuple[float, float]], start: float) -> str:
    """p99 latency of the (sent at, latency) samples sent in each SLICE_S from `start`: does it creep up?"""
    return by_slice(samples, start, (99,))


def by_slice(samples: Iterable[tuple[float, float]], start: float, quantiles: tuple[int, ...] = (50, 99)) -> str:
    """Per SLICE_S from `start`, the latency quantiles of the samples sent in it: `0s:p50/p99ms 30s:...`."""
    slices: dict[int, list[float]] = {}
    for sent, latency in samples:
        if sent >= start:
            slices.setdefault(int((sent - start) // SLICE_S), []).append(latency)
    return (
        " ".join(
            f"{k * SLICE_S:.0f}s:" + "/".join(f"{percentile(v, q) * 1000:.0f}" for q in quantiles) + "ms"
            for k, v in sorted(slices.items())
        )
        or "-"
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


class HttpConnection:
    """A minimal keep-alive HTTP/1.1 client: the load generator must cost far less CPU than the services."""

    def __init__(self, port: int, key: str) -> None:
        self.port, self.key = port, key
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes, content_type: str = "application/json") -> int:
        reused = self.writer is not None
        try:
            return await self._post(body, content_type)
        except (asyncio.IncompleteReadError, ConnectionError):
            if not reused:
                raise
            self.close()  # the server closed an idle keep-alive connection: open a new one, once
            return await self._post(body, content_type)

    async def _post(self, body: bytes, content_type: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = (
            f"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"X-API-Key: {self.key}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in raw.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return int(raw[9:12])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None
