"""`journeyline bench evidence`: how fast a filtered page of feedback is found among many stored items.

Fills an empty database with `--items` generated items (90 days, every stage, channel and severity, a long tail
of words), then asks the same questions an ops team asks - one stage this week, a channel's critical items, a
customer, full-text words alone and with a stage, the triage queue, a second page - and prints p50/p95 per
question and over all of them. The time is server time: the query and the public shape of the page.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.accountability import search
from services.accountability.api import feedback_public
from services.accountability.migrate import upgrade
from services.accountability.models import FeedbackItem
from shared.db import make_engine
from shared.models import utcnow

STAGES = ["discover", "buy", "onboard", "use", "pay", "get_help", "leave", "unassigned"]
CHANNELS = ["call", "chat", "email", "social", "review", "survey", "app"]
COMMON = (
    "refund invoice charged twice late delivery app crash login password agent rude slow cancel contract "
    "price discount order tracking parcel damaged support waiting hold transfer manager promised callback"
).split()
DAYS = 90
_TABLE = FeedbackItem.__table__  # type: ignore[attr-defined]


def _vocabulary() -> list[str]:
    return COMMON + [f"w{i}" for i in range(5000)]


def _fill_postgres(engine: Engine, have: int, items: int, chunk: int) -> None:
    words = _vocabulary()
    for start in range(have, items, chunk):
        with engine.begin() as conn:
            conn.execute(
                text(
                    """
                    INSERT INTO acct_feedback (id, source, channel, kind, customer_id, stage, confidence, method,
                        sentiment_score, sentiment_label, severity, csat, occurred_at, received_at, stored_at, text, data)
                    SELECT md5(g::text || :salt), 'source-' || (g % 20), (CAST(:channels AS text[]))[1 + g % 7], 'feedback',
                        'c' || (1 + (g::bigint * 7919) % 200000), (CAST(:stages AS text[]))[1 + (g * 31) % 8], random(), 'rule',
                        s.score, CASE WHEN s.score < -0.2 THEN 'negative' WHEN s.score > 0.2 THEN 'positive'
                                      ELSE 'neutral' END,
                        CASE WHEN g % 97 = 0 THEN 'critical' WHEN g % 13 = 0 THEN 'high' ELSE 'normal' END,
                        1 + g % 5, s.at, s.at, s.at,
                        -- `k > g * 0` ties the words to the row, so each row draws its own
                        array_to_string(ARRAY(
                            SELECT (CAST(:words AS text[]))[1 + floor(power(random(), 2) * :nwords)::int]
                            FROM generate_series(1, 7) k WHERE k > g * 0), ' '),
                        '{}'::json
                    FROM generate_series(:lo, :hi) g,
                         LATERAL (SELECT random() * 2 - 1 + g * 0 AS score,
                                  now() - (random() * :days + g * 0) * interval '1 day' AS at) s
                    """
                ),
                {
                    "salt": uuid.uuid4().hex,
                    "channels": CHANNELS,
                    "stages": STAGES,
                    "words": words,
                    "nwords": len(words),
                    "days": DAYS,
                    "lo": start,
                    "hi": min(start + chunk, items) - 1,
                },
            )
        print(f"  stored {min(start + chunk, items):,} items", flush=True)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE acct_feedback"))


def _fill_sqlite(engine: Engine, have: int, items: int, chunk: int) -> None:
    rng = random.Random(7)
    words = _vocabulary()
    now = utcnow()
    for start in range(have, items, chunk):
        rows: list[dict[str, Any]] = []
        for g in range(start, min(start + chunk, items)):
            score = rng.uniform(-1, 1)
            at = now - timedelta(days=rng.random() * DAYS)
            rows.append(
                {
                    "id": uuid.uuid4().hex, "source": f"source-{g % 20}", "channel": CHANNELS[g % 7],
                    "kind": "feedback", "external_id": None, "customer_id": f"c{1 + (g * 7919) % 200000}",
                    "stage": STAGES[(g * 31) % 8], "original_stage": None, "corrected_by": None,
                    "corrected_at": None, "confidence": rng.random(), "method": "rule", "sentiment_score": score,
                    "sentiment_label": "negative" if score < -0.2 else "positive" if score > 0.2 else "neutral",
                    "severity": "critical" if g % 97 == 0 else "high" if g % 13 == 0 else "normal",
                    "csat": 1 + g % 5, "nps": None, "ces": None, "occurred_at": at, "received_at": at,
                    "stored_at": at, "data": {},
                    "text": " ".join(words[int(rng.random() ** 2 * len(words))] for _ in range(7)),
                }
            )  # fmt: skip
        with engine.begin() as conn:
            conn.execute(_TABLE.insert(), rows)
        print(f"  stored {min(start + chunk, items):,} items", flush=True)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def _questions(rng: random.Random) -> dict[str, Callable[[], tuple[search.FeedbackQuery, search.Order, str | None]]]:
    now = utcnow()
    week = now - timedelta(days=7)

    def q(**kw: Any) -> search.FeedbackQuery:
        return search.FeedbackQuery(**kw)

    return {
        "newest, no filter": lambda: (q(), "newest", None),
        "stage, last 7 days": lambda: (q(stage=rng.choice(STAGES), since=week), "newest", None),
        "channel + critical": lambda: (q(channel=rng.choice(CHANNELS), severity="critical"), "newest", None),
        "one customer": lambda: (q(customer=f"c{rng.randint(1, 200000)}"), "newest", None),
        "negative, one source": lambda: (q(sentiment="negative", source=f"source-{rng.randrange(20)}"), "newest", None),
        "q: a common word": lambda: (q(q=rng.choice(COMMON)), "newest", None),
        "q: two words + stage": lambda: (q(q=" ".join(rng.sample(COMMON, 2)), stage=rng.choice(STAGES)), "newest", None),
        "q: a rare word": lambda: (q(q=f"w{rng.randrange(3000, 5000)}"), "newest", None),
        "confidence range, oldest": lambda: (q(min_confidence=0.2, max_confidence=0.3), "oldest", None),
        "triage queue": lambda: (q(), "least_confident", "triage"),
    }  # fmt: skip


def _measure(engine: Engine, rounds: int, limit: int) -> list[str]:
    rng = random.Random(11)
    lines = []
    every: list[float] = []
    for name, make in _questions(rng).items():
        times = []
        for i in range(rounds):
            query, order, kind = make()
            extra: list[search.Clause] | None = [search.triage_clause(0.6)] if kind == "triage" else None
            with Session(engine) as session:
                started = time.perf_counter()
                rows, nxt = search.page(session=session, query=query, limit=limit, order=order, extra=extra)
                if nxt and i % 2:  # every other round reads the second page too, as a person paging would
                    rows, nxt = search.page(
                        session=session, query=query, limit=limit, order=order, extra=extra, cursor=nxt
                    )
                for row in rows:
                    feedback_public(row).model_dump_json()
                times.append((time.perf_counter() - started) * 1000)
        every += times
        lines.append(f"  {name:28} p50 {statistics.median(times):7.1f} ms   p95 {_p95(times):7.1f} ms")
    lines.append(f"  {'all questions':28} p50 {statistics.median(every):7.1f} ms   p95 {_p95(every):7.1f} ms")
    return lines


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


def ensure_filled(engine: Engine, items: int) -> int:
    """Top the database up to `items` generated items (a database filled before is never refilled)."""
    upgrade(engine)
    with Session(engine) as session:
        have = int(session.execute(text("SELECT count(*) FROM acct_feedback")).scalar_one())
    if have < items:
        started = time.perf_counter()
        fill = _fill_postgres if engine.dialect.name == "postgresql" else _fill_sqlite
        fill(engine, have, items, 100_000 if engine.dialect.name == "postgresql" else 20_000)
        print(f"  filled in {time.perf_counter() - started:.0f} s", flush=True)
    return max(have, items)


def run(*, items: int, database_url: str | None, rounds: int, limit: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'evidence.db'}"
        engine = make_engine(url)
        have = ensure_filled(engine, items)
        print(f"database={engine.dialect.name} items={max(have, items):,} page={limit} rounds={rounds}")
        for line in _measure(engine, rounds, limit):
            print(line)
        engine.dispose()
    return 0


def register_bench(sub: Any) -> None:
    parser = sub.add_parser("evidence", help="feedback search: p50/p95 of a filtered page among many items")
    parser.add_argument("--items", type=int, default=200_000, help="items to generate into an empty database")
    parser.add_argument("--database-url", help="the database (default: a temporary SQLite file); reused if filled")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--limit", type=int, default=50, help="items per page")
    parser.set_defaults(func=_from_args)


def _from_args(args: Any) -> int:
    return run(items=args.items, database_url=args.database_url, rounds=args.rounds, limit=args.limit)
