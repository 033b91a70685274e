"""`journeyline bench board`: the journey board's server time with many stored items.

Uses a database filled by `journeyline bench evidence` (or fills one the same way), makes sure the per-minute
roll-ups and the theme snapshots exist (as the running service keeps them), then renders the board page and its
live-update fragment for every window through the board's own routes, in process, signed in as a reader: the time
from request to the last byte of HTML, per window, p50/p95. No broker is needed: the board only reads.
"""

from __future__ import annotations

import statistics
import time
from types import SimpleNamespace
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlmodel import Session

from bench.evidence import ensure_filled
from services.accountability import rollup, themes
from services.accountability.board import auth
from services.accountability.board.routes import router
from services.accountability.deps import Role
from services.accountability.models import StageMinute
from services.accountability.settings import AccountabilitySettings
from shared.db import make_engine
from shared.journey import load_journey_map
from shared.models import utcnow


def _prepare(url: str, items: int) -> None:
    engine = make_engine(url)
    ensure_filled(engine, items)  # the same generated items as bench evidence
    with Session(engine) as session:
        if not session.execute(select(func.count()).select_from(StageMinute)).scalar_one():
            started = time.perf_counter()
            rollup.rebuild(session=session)
            session.commit()
            print(f"  roll-ups rebuilt in {time.perf_counter() - started:.0f} s", flush=True)
    engine.dispose()


def run(*, items: int, database_url: str, rounds: int) -> int:
    _prepare(database_url, items)
    settings = AccountabilitySettings(database_url=database_url)
    engine = make_engine(database_url)
    journey = load_journey_map(settings.journey_map)
    started = time.perf_counter()
    with Session(engine) as session:  # as the service's periodic job does: count what is new, rank every window
        outcome = themes.run_job(session=session, journey=journey, now=utcnow(), alerts_topic="bench.alerts")
        session.commit()
    print(f"  theme job: {outcome} in {time.perf_counter() - started:.0f} s", flush=True)
    runtime = SimpleNamespace(settings=settings, journey=journey, engine=engine, clock=utcnow)
    app = FastAPI()
    app.include_router(router)
    app.state.runtime = runtime
    cookie, _ = auth.issue(settings, Role.read, "bench")
    with Session(engine) as session:
        stored = session.execute(text("SELECT count(*) FROM acct_feedback")).scalar_one()
    print(f"database={engine.dialect.name} items={stored:,} rounds={rounds}")
    every: list[float] = []
    # Imported here, not at the top: every `journeyline` command imports the benches to list them, and the test
    # client's import warns (Starlette's deprecation of httpx) on each of them.
    from fastapi.testclient import TestClient

    with TestClient(app, cookies={auth.COOKIE: cookie}) as client:
        for path in ("/board", "/board/fragment"):
            for window in ("1h", "24h", "7d", "30d"):
                times = []
                for _ in range(rounds):
                    t0 = time.perf_counter()
                    answer = client.get(path, params={"window": window})
                    times.append((time.perf_counter() - t0) * 1000)
                    assert answer.status_code == 200, answer.text[:300]
                every += times
                print(
                    f"  {path:16} window={window:4} p50 {statistics.median(times):7.1f} ms   p95 {_p95(times):7.1f} ms"
                )
    print(f"  {'all':28} p50 {statistics.median(every):7.1f} ms   p95 {_p95(every):7.1f} ms")
    engine.dispose()
    return 0


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


def register_bench(sub: Any) -> None:
    parser = sub.add_parser("board", help="the journey board's server time per window among many items")
    parser.add_argument("--items", type=int, default=200_000, help="items to generate into the database")
    parser.add_argument("--database-url", required=False, help="a database (filled if it holds fewer items)")
    parser.add_argument("--rounds", type=int, default=20)
    parser.set_defaults(func=_from_args)


def _from_args(args: Any) -> int:
    if not args.database_url:
        print("bench board needs --database-url (PostgreSQL, or a SQLite file to keep)")
        return 2
    return run(items=args.items, database_url=args.database_url, rounds=args.rounds)
