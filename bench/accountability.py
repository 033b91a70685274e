"""`journeyline bench accountability`: how fast a batch is stored (with moments and alert rules), new and replayed."""

from __future__ import annotations

import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlmodel import Session

from services.accountability.migrate import upgrade
from services.accountability.ownership import seed
from services.accountability.service import process_batch
from shared.db import make_engine
from shared.journey import load_journey_map
from shared.models import ClassifiedFeedback, utcnow
from shared.settings import DEFAULT_JOURNEY_MAP


def _items(n: int, stages: list[str], rng: random.Random) -> list[ClassifiedFeedback]:
    now = utcnow().isoformat()
    out = []
    for _ in range(n):
        label = rng.choice(["negative", "neutral", "positive"])
        out.append(
            ClassifiedFeedback.model_validate(
                {
                    "id": str(uuid.uuid4()),
                    "source": "bench",
                    "channel": rng.choice(["call", "chat", "email", "social"]),
                    "kind": rng.choice(["contact", "feedback"]),
                    "occurred_at": now,
                    "received_at": now,
                    "customer": {"id": f"c{rng.randint(1, 20000)}"},
                    "text": "the refund still has not arrived after three weeks " * 3,
                    "scores": {"csat": rng.randint(1, 5)},
                    "classification": {
                        "stage": rng.choice(stages),
                        "confidence": 0.9,
                        "method": "rule",
                        "explanation": "bench",
                        "sentiment": {
                            "score": {"negative": -0.6, "neutral": 0.0, "positive": 0.6}[label],
                            "label": label,
                        },
                    },
                }
            )
        )
    return out


def run_bench(*, items: int, batch: int, database_url: str | None) -> str:
    """Store `items` in batches of `batch` twice (new, then replayed); return the figures line."""
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = make_engine(url)
        upgrade(engine)
        journey = load_journey_map(DEFAULT_JOURNEY_MAP)
        with Session(engine) as session:
            seed(session=session, journey=journey, now=utcnow())
            session.commit()
        data = _items(items, [s.id for s in journey.stages], random.Random(7))
        batches = [data[i : i + batch] for i in range(0, len(data), batch)]
        rates = []
        for _ in ("new", "replay"):
            started = time.perf_counter()
            for chunk in batches:
                with Session(engine, expire_on_commit=False) as session:
                    process_batch(
                        session=session, journey=journey, items=chunk, now=utcnow(), alerts_topic="bench.alerts"
                    )
                    session.commit()
            rates.append(items / (time.perf_counter() - started))
        engine.dispose()
    dialect = url.split(":", 1)[0]
    return f"database={dialect} items={items} batch={batch} new_items_per_s={rates[0]:.0f} replayed_items_per_s={rates[1]:.0f}"


def register_bench(sub: Any) -> None:
    """`journeyline bench accountability`: batch storage rate, new and replayed items."""
    parser = sub.add_parser("accountability", help="batch storage rate, new and replayed items (items/s)")
    parser.add_argument("--items", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--database-url", help="an EMPTY database to use (default: a temporary SQLite file)")
    parser.set_defaults(func=_run_from_args)


def _run_from_args(args: Any) -> int:
    print(run_bench(items=args.items, batch=args.batch, database_url=args.database_url))
    return 0
