"""The theme job in a process of its own, a new one for each run.

Counting and ranking themes is Python work (~580 µs of CPU per item, docs/performance.md), and a thread of the
service shares the interpreter's lock with the thread that stores the stream: while the job ran (a minute at
1,000 events/s) every store batch waited for the lock again and again, and a batch of 50 items took 0.36 s instead
of 20 ms. In a process of its own the job competes for a core, not for the lock. A new process for each run (every
`ACCOUNTABILITY_THEMES_INTERVAL_S`, 300 s by default) costs about a second of start-up, and gives back everything
the run allocated when it exits, so the service's own memory does not keep the job's peak.

`run` starts `python -m services.accountability.theme_process` with its request in the environment (not on the
command line: it holds the database URL), and reads the outcome the child prints as its last line of output. The
child writes what the job writes (counts, snapshots, alerts and their outbox rows) and commits; the service then
counts the alert transitions in its metrics and wakes its dispatcher. Cancelling `run` kills the child: its
transaction is rolled back, and the next run counts from the last committed batch.

The job's reading and ranking (nearly all of its CPU) run in a thread of its own at a lower priority, `nice`
(ACCOUNTABILITY_THEMES_NICE) steps below the service's: on a busy machine the kernel gives the cores to storing
the stream, and the themes wait. Its writes run in the main thread at the service's priority: a write holds
SQLite's lock on the whole database, and a lowered thread holding it would keep the store waiting instead. Linux
sets a priority per thread; elsewhere the job runs at the service's priority.

On SQLite a write locks the whole database, so the job also pauses after each batch it writes: its writes hold the
lock at most `ACCOUNTABILITY_THEMES_WRITE_SHARE` (0.2) of the time. Without it, a run that found a backlog held
the lock 38% of the time for half a minute (125 batches, 0.10 s each, at 2,000 events/s) and the store, which
needs the same lock for every batch it stores, fell behind. On PostgreSQL the job's writes lock only its own rows.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

REQUEST_ENV = "JOURNEYLINE_THEME_JOB"
_T = TypeVar("_T")


@dataclass(frozen=True)
class ThemeRun:
    """What one run did, as the child reported it."""

    counted: int = 0
    recounted: int = 0
    snapshots: int = 0
    transitions: list[tuple[str, str, str]] = field(default_factory=list)  # (stage, rule id, transition)
    outbox_rows: int = 0
    peak_rss_mib: float = 0.0  # the child's largest resident memory


class ThemeJobFailed(Exception):
    """The child exited without an outcome."""


async def run(
    *,
    database_url: str,
    journey_map: Path,
    alerts_topic: str,
    now: datetime,
    settle: timedelta,
    nice: int = 0,
    write_share: float = 1.0,
) -> ThemeRun:
    """Run the theme job once in a new process and wait for it; its reading and ranking `nice` steps lower, its
    writes holding the database's lock at most `write_share` of the time (SQLite; PostgreSQL: always 1)."""
    request = {
        "database_url": database_url,
        "journey_map": str(journey_map),
        "alerts_topic": alerts_topic,
        "now": now.isoformat(),
        "settle_s": settle.total_seconds(),
        "nice": nice,
        "write_share": write_share,
    }
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.accountability.theme_process",
        env={**os.environ, REQUEST_ENV: json.dumps(request)},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,  # its logs go to the service's stderr
    )
    try:
        out, _ = await child.communicate()
    except BaseException:  # cancelled (the service stops): the job must not outlive it
        if child.returncode is None:
            child.kill()
            await child.wait()
        raise
    lines = out.decode(errors="replace").strip().splitlines()
    if child.returncode != 0 or not lines:
        raise ThemeJobFailed(f"the theme job exited with {child.returncode} (its error is in the service's log)")
    found: dict[str, Any] = json.loads(lines[-1])
    return ThemeRun(**{**found, "transitions": [(stage, rule, name) for stage, rule, name in found["transitions"]]})


class _InThread:
    def __init__(self, pool: ThreadPoolExecutor, write_share: float) -> None:
        self.pool, self.write_share = pool, write_share

    def __call__(self, work: Callable[[], _T]) -> _T:
        return self.pool.submit(work).result()

    def wrote(self, held: float) -> None:
        """Wait so that the job's writes hold the lock at most `write_share` of the time."""
        if self.write_share < 1:
            time.sleep(held * (1 - self.write_share) / self.write_share)


@contextmanager
def lowered(nice: int, write_share: float = 1.0) -> Iterator[_InThread]:
    """A runner whose work runs in one thread `nice` steps below this one's priority (Linux: a thread's own), and
    which pauses after each write so that writes take at most `write_share` (0 < share <= 1) of the time."""
    if not 0 < write_share <= 1:
        raise ValueError(f"write_share must be in (0, 1], not {write_share}")

    def lower() -> None:
        if nice and sys.platform == "linux":
            me = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, me, min(19, os.getpriority(os.PRIO_PROCESS, me) + nice))

    with ThreadPoolExecutor(1, thread_name_prefix="themes-compute", initializer=lower) as pool:
        yield _InThread(pool, write_share)


def main() -> int:
    """The child: one run of the job, its outcome printed as one line of JSON."""
    from sqlmodel import Session  # late: the parent imports this module without the job's dependencies

    from services.accountability.themes import run_job
    from shared.db import make_engine
    from shared.journey import load_journey_map
    from shared.logging import configure_logging

    configure_logging("accountability-themes", os.environ.get("JOURNEYLINE_LOG_LEVEL", "INFO"))
    request = json.loads(os.environ[REQUEST_ENV])
    engine = make_engine(request["database_url"])
    try:
        with (
            Session(engine, expire_on_commit=False) as session,
            # only SQLite's write lock is the whole database's: elsewhere the job's writes never pause
            lowered(
                request.get("nice", 0), request.get("write_share", 1.0) if engine.dialect.name == "sqlite" else 1.0
            ) as compute,
        ):
            outcome = run_job(
                session=session,
                journey=load_journey_map(Path(request["journey_map"])),
                now=datetime.fromisoformat(request["now"]),
                alerts_topic=request["alerts_topic"],
                settle=timedelta(seconds=request["settle_s"]),
                compute=compute,
            )
            session.commit()
            transitions = [(t.alert.stage, t.alert.rule_id, t.name) for t in outcome.transitions]
    finally:
        engine.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    result = ThemeRun(
        counted=outcome.counted,
        recounted=outcome.recounted,
        snapshots=outcome.snapshots,
        transitions=transitions,
        outbox_rows=outcome.outbox_rows,
        peak_rss_mib=round(peak, 1),
    )
    print(json.dumps(asdict(result)), flush=True)  # noqa: T201 - the parent reads it
    return 0


if __name__ == "__main__":
    sys.exit(main())
