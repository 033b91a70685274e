"""Per-minute roll-ups: windows read from them give the figures of the raw rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import asdict
from datetime import datetime, timedelta

from sqlmodel import Session

from services.accountability.bulk import bulk_insert
from services.accountability.migrate import upgrade
from services.accountability.models import FeedbackItem
from services.accountability.scorecard import StageNumbers, journey_view, stage_numbers
from services.accountability.store import correct_stage, feedback_row, get_feedback, store_batch
from shared.db import make_engine
from shared.journey import load_journey_map
from shared.models import ClassifiedFeedback
from shared.settings import DEFAULT_JOURNEY_MAP
from tests.accountability.factories import T0, classified

STAGES = ["buy", "pay", "use"]


def _items(n: int, seed: int = 3) -> list[ClassifiedFeedback]:
    """Items over ten minutes, some exactly on a minute, some journey events, with and without scores."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        at = T0 + timedelta(seconds=rng.randrange(600), microseconds=rng.choice([0, 0, 1, 250_000, 999_999]))
        scores = {}
        if rng.random() < 0.5:
            scores["csat"] = rng.randint(1, 5)
        if rng.random() < 0.3:
            scores["ces"] = rng.randint(1, 7)
        if rng.random() < 0.4:
            scores["nps"] = rng.randint(0, 10)
        out.append(
            classified(
                item_id=f"i{i}",
                stage=rng.choice(STAGES),
                label=rng.choice(["negative", "neutral", "positive"]),
                score=round(rng.uniform(-1, 1), 3),
                kind="journey_event" if rng.random() < 0.1 else "feedback",
                at=at,
                scores=scores,
            )
        )
    return out


def _expected(items: list[ClassifiedFeedback], stage_of: dict[str, str], start: datetime, end: datetime) -> dict:
    """The window's figures computed straight from the items: the oracle the roll-ups must agree with."""
    by_stage: dict[str, list[ClassifiedFeedback]] = defaultdict(list)
    for item in items:
        if item.kind.value != "journey_event" and start < item.occurred_at <= end:
            by_stage[stage_of[item.id]].append(item)

    def mean(values: list[float]) -> float | None:
        return round(sum(values) / len(values), 4) if values else None

    out = {}
    for stage, group in by_stage.items():
        nps = [i.scores.nps for i in group if i.scores.nps is not None]
        out[stage] = StageNumbers(
            volume=len(group),
            negative=sum(i.classification.sentiment.label.value == "negative" for i in group),
            sentiment_mean=mean([i.classification.sentiment.score for i in group]),
            csat_mean=mean([i.scores.csat for i in group if i.scores.csat is not None]),
            ces_mean=mean([i.scores.ces for i in group if i.scores.ces is not None]),
            nps_answers=len(nps),
            promoters=sum(n >= 9 for n in nps),
            detractors=sum(n <= 6 for n in nps),
        )
    return out


def _same(got: dict[str, StageNumbers], want: dict[str, StageNumbers]) -> bool:
    """Equal counts; means equal to their 4 rounded digits (summing in another order may move the last one)."""
    if got.keys() != want.keys():
        return False
    for stage, numbers in got.items():
        for name, value in asdict(numbers).items():
            other = getattr(want[stage], name)
            if isinstance(value, float) and isinstance(other, float):
                if abs(value - other) > 1.01e-4:
                    return False
            elif value != other:
                return False
    return True


def _windows() -> list[tuple[datetime, datetime]]:
    m = timedelta(minutes=1)
    return [
        (T0 - m, T0 + 11 * m),  # everything
        (T0 + 2 * m, T0 + 5 * m),  # whole minutes
        (T0 + 3 * m, T0 + 3 * m + timedelta(seconds=29, microseconds=500)),  # ends inside a minute
        (T0, T0 + 7 * m + timedelta(seconds=1)),
        (T0 + 9 * m, T0 + 9 * m),  # empty
    ]


def test_window_figures_from_rollups_equal_the_raw_rows_after_replays_and_corrections(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    items = _items(400)
    stage_of = {i.id: i.classification.stage for i in items}
    with Session(engine) as session:
        store_batch(session=session, items=items[:250], stored_at=T0)
        session.commit()
        # A replay of half the first batch with the rest: replayed items must not count twice.
        stored = store_batch(session=session, items=items[125:], stored_at=T0)
        assert len(stored) == 150
        for item_id, stage in [("i3", "use"), ("i4", "buy"), ("i5", "use"), ("i3", "pay")]:
            row = get_feedback(session=session, feedback_id=item_id)
            assert row is not None
            correct_stage(session=session, item=row, stage=stage, by="cx-lead", at=T0)
            stage_of[item_id] = stage
        session.commit()
        for start, end in _windows():
            got = stage_numbers(session=session, start=start, end=end)
            assert _same(got, _expected(items, stage_of, start, end)), (start, end, got)
        assert stage_numbers(session=session, start=T0, end=T0 + timedelta(hours=1), stage="pay").keys() == {"pay"}
    engine.dispose()


def test_a_window_counts_from_the_start_of_the_minute_its_start_falls_in(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    early, late = T0 + timedelta(seconds=10), T0 + timedelta(seconds=50)
    with Session(engine) as session:
        store_batch(
            session=session,
            items=[classified(item_id="a", at=early), classified(item_id="b", at=late)],
            stored_at=T0,
        )
        session.commit()
        # (12:00:30, 12:05]: the roll-ups count the whole minute 12:00-12:01, so 12:00:10 is in as well.
        assert (
            stage_numbers(session=session, start=T0 + timedelta(seconds=30), end=T0 + timedelta(minutes=5))[
                "pay"
            ].volume
            == 2
        )
        # The end is exact: (12:00, 12:00:30] holds only the earlier item.
        assert stage_numbers(session=session, start=T0, end=T0 + timedelta(seconds=30))["pay"].volume == 1
        view = journey_view(
            session=session,
            journey=load_journey_map(DEFAULT_JOURNEY_MAP),
            window="1h",
            now=T0 + timedelta(hours=1, seconds=30),
        )
        assert view.start == T0  # reported as the minute the window really starts at
        assert next(card for card in view.stages if card.stage == "pay").volume == 2
    engine.dispose()


def test_the_migration_fills_the_rollups_from_feedback_already_stored(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine, "0002")
    items = _items(120, seed=11)
    with Session(engine) as session:
        rows = [feedback_row(item, stored_at=T0) for item in items]
        bulk_insert(session=session, table=FeedbackItem.__table__, rows=rows, conflict=["id"])  # type: ignore[attr-defined]
        session.commit()
    upgrade(engine)
    stage_of = {i.id: i.classification.stage for i in items}
    with Session(engine) as session:
        for start, end in _windows():
            got = stage_numbers(session=session, start=start, end=end)
            assert _same(got, _expected(items, stage_of, start, end)), (start, end, got)
    engine.dispose()
