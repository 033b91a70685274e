"""How long a thread may keep the interpreter while another thread waits for it (`sys.setswitchinterval`).

Each service's event loop shares the interpreter with worker threads: accountability stores every batch in one
(`asyncio.to_thread`) and runs its theme job in another; classify classifies in one. Every socket call the loop
makes gives the interpreter up, and getting it back from a thread that is computing takes up to the switch
interval: Python's 5 ms. Under load that wait is paid again and again (the "convoy effect"), so the loop fetches,
commits offsets and answers late while the machine has CPU to spare for it. Measured (docs/performance.md, "The
theme job's lock and the switch interval"): in `journeyline bench e2e` at 2,000 events/s, accountability's largest lag and the p99 from
ingest to stored both fell several-fold with 0.5 ms."""

from __future__ import annotations

import sys

DEFAULT_MS = 0.5


def share(switch_ms: float = DEFAULT_MS) -> None:
    """Let a waiting thread take the interpreter after `switch_ms` milliseconds instead of 5."""
    sys.setswitchinterval(switch_ms / 1000)
