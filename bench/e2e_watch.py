"""What `journeyline bench e2e` watches while the load runs: the services it started, when each event's row became
visible in the store, and each consumer's lag."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.load import SLICE_S, rss_mib


@dataclass
class Service:
    name: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Results:
    sent_at: dict[str, float] = field(default_factory=dict)  # event id -> wall time its request was due
    seen_at: dict[str, float] = field(default_factory=dict)  # event id -> wall time its row was first visible
    stored_at: dict[str, float] = field(default_factory=dict)  # event id -> the row's own stored_at
    received_at: dict[str, float] = field(default_factory=dict)  # event id -> when ingest received it
    post_seconds: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    sent: int = 0


def _stamp(value: Any) -> float:
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class StoreWatcher(threading.Thread):
    """Polls the SQLite file for rows it has not seen (by rowid) and notes when each first became visible."""

    def __init__(self, path: Path, results: Results, every: float = 0.01) -> None:
        super().__init__(daemon=True, name="store-watcher")
        self.path, self.results, self.every = path, results, every
        self.halt = threading.Event()

    def run(self) -> None:
        last = 0
        conn: sqlite3.Connection | None = None
        while not self.halt.is_set():
            try:
                if conn is None:
                    conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=1)
                rows = conn.execute(
                    "SELECT rowid, id, stored_at, received_at FROM acct_feedback WHERE rowid > ? ORDER BY rowid",
                    (last,),
                ).fetchall()
            except sqlite3.Error:  # the table may not exist yet, or a checkpoint is running
                rows = []
            now = time.time()
            for rowid, event_id, stored_at, received_at in rows:
                self.results.seen_at.setdefault(event_id, now)
                self.results.stored_at.setdefault(event_id, _stamp(stored_at))
                self.results.received_at.setdefault(event_id, _stamp(received_at))
                last = max(last, rowid)
            self.halt.wait(self.every)
        if conn is not None:
            conn.close()


class LagSampler(threading.Thread):
    """Reads each consumer's lag every second or so during the load, to show which hop falls behind and when,
    and the memory of every service watched."""

    def __init__(self, services: list[Service], watched: list[Service], every: float = 1.0) -> None:
        super().__init__(daemon=True, name="lag-sampler")
        self.services, self.watched, self.every = services, watched, every
        self.samples: list[tuple[float, dict[str, int]]] = []
        self.rss: dict[int, dict[str, float]] = {}  # slice -> service -> VmRSS (MiB) at the slice's last sample
        self.halt = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        while not self.halt.wait(self.every):
            at = time.monotonic() - started
            self.samples.append((at, {s.name: consumer_lag(s) for s in self.services}))
            self.rss[int(at // SLICE_S)] = {s.name: rss_mib(s.process.pid) for s in self.watched}

    def rss_summary(self) -> str:
        """Each service's memory at the end of each slice: flat, or still growing when the load stops?"""
        return _by_slice(self.rss, [s.name for s in self.watched], unit=" MiB")

    def summary(self) -> str:
        slices: dict[int, dict[str, float]] = {}
        for at, lag in self.samples:
            worst = slices.setdefault(int(at // SLICE_S), {})
            for name, value in lag.items():
                worst[name] = max(worst.get(name, 0), value)
        return _by_slice(slices, [s.name for s in self.services])


def _by_slice(slices: dict[int, dict[str, float]], names: list[str], unit: str = "") -> str:
    """`0s:a/b/c 30s:a/b/c ...{unit} (names)`: one figure per name for each SLICE_S of the load."""
    cells = " ".join(
        f"{k * SLICE_S:.0f}s:" + "/".join(f"{row[n]:.0f}" for n in names) for k, row in sorted(slices.items())
    )
    return f"{cells}{unit} ({'/'.join(names)})"


def consumer_lag(service: Service) -> int:
    """The sum of `journeyline_consumer_lag` over the service's partitions (its main consumer group)."""
    total = 0.0
    with contextlib.suppress(httpx.HTTPError):
        for line in httpx.get(service.url + "/metrics", timeout=5).text.splitlines():
            if line.startswith("journeyline_consumer_lag{") and "corrections" not in line:
                total += float(line.rsplit(" ", 1)[1])
    return int(total)
