"""Multiprocess metrics (ingest's workers) without a system call per update, and still right across a fork.

Each case runs in a fresh interpreter with PROMETHEUS_MULTIPROC_DIR set, as a worker starts: prometheus_client
chooses its value class when it is first imported."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support import ROOT


def _run(code: str, tmp_path: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_worker_updates_its_metrics_without_asking_the_kernel_for_its_id(tmp_path: Path) -> None:
    out = _run(
        """
        import os
        import services.ingest.main  # the worker's imports, in the order uvicorn makes them
        from services.ingest import metrics
        from shared.http import exposition

        import sys
        calls = 0
        def profile(frame, event, arg):  # counts calls of the C function itself, however it was bound
            global calls
            if event == "c_call" and arg is os.getpid:
                calls += 1
        sys.setprofile(profile)
        for _ in range(1000):
            metrics.EVENTS.labels("s", "chat", "accepted", "").inc()
            metrics.REQUEST_DURATION.labels("/v1/events").observe(0.003)
        sys.setprofile(None)
        line = next(l for l in exposition().decode().splitlines() if l.startswith("journeyline_ingest_events_total{"))
        print(calls, line.rsplit(" ", 1)[1])
        """,
        tmp_path,
    )
    assert out == "0 1000.0"  # the library's own class asks once per value it updates: ~3,000 calls


def test_a_forked_child_counts_in_its_own_file(tmp_path: Path) -> None:
    out = _run(
        """
        import os
        import shared
        from prometheus_client import Counter
        from shared.http import exposition

        c = Counter("forked_things", "things")
        c.inc()
        child = os.fork()
        if child == 0:
            c.inc(5)
            os._exit(0)
        os.waitpid(child, 0)
        c.inc()
        print(next(l for l in exposition().decode().splitlines() if l.startswith("forked_things_total")))
        """,
        tmp_path,
    )
    # Parent 2 + child 5. Had the child written under the parent's id, it would share the parent's file and the
    # parent's next update would overwrite its count: 2.
    assert out == "forked_things_total 7.0"
    assert len(list(tmp_path.glob("counter_*.db"))) == 2


def test_nothing_is_swapped_once_a_metric_exists(tmp_path: Path) -> None:
    out = _run(
        """
        from prometheus_client import Counter, values
        Counter("early", "built before shared is imported").inc()
        import shared.multiproc
        print(shared.multiproc.install(), getattr(values.ValueClass, "cached_pid", False))
        """,
        tmp_path,
    )
    assert out == "False False"  # two value classes would map the same file twice and overwrite each other
