"""Per-minute roll-ups: windows read from them give the figures of the raw rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from alembic import command
from prometheus_client import REGISTRY
from sqlalchemy import inspect, select
from sqlmodel import Session

from services.accountability.bulk import bulk_insert
from services.accountability.metrics import export_view
from services.accountability.migrate import alembic_config, upgrade
from services.accountability.models import FeedbackItem, StageHour
from services.accountability.rollup import contribution, operations, rebuild, window_sums
from services.accountability.scorecard import StageNumbers, journey_view, stage_numbers
from services.accountability.store import correct_stage, feedback_row, get_feedback, store_batch
from shared.db import make_engine
from shared.journey import load_journey_map
from shared.models import ClassifiedFeedback
from shared.settings import DEFAULT_JOURNEY_MAP
from tests.accountability.factories import T0, classified

STAGES = ["buy", "pay", "use"]
# Metadata values a contact record may carry, and what each counts as (absent: ignored). Seconds are capped at a
# day; transfers must be whole and at most 100.
SECONDS = {"74": 74.0, "12.5": 12.5, "0": 0.0, "86400": 86400.0, " 30 ": 30.0, "90000": None, "-3": None,
           "abc": None, "nan": None, "inf": None, "": None}  # fmt: skip
TRANSFERS = {"0": 0.0, "1": 1.0, "3": 3.0, "2.0": 2.0, "1.5": None, "-1": None, "101": None, "two": None}
TIMINGS = {"wait_seconds": SECONDS, "handle_seconds": SECONDS, "hold_seconds": SECONDS, "transfers": TRANSFERS}


def _timings(rng: random.Random) -> dict[str, str]:
    """Some of the four figures, good or bad, as a call-centre adapter would write them."""
    return {key: rng.choice(list(values)) for key, values in TIMINGS.items() if rng.random() < 0.6}


def _operational(group: list[ClassifiedFeedback]) -> dict[str, Any]:
    """The oracle for the operational figures of a stage's items: contacts and a mean per figure."""
    per_key: dict[str, list[float]] = {key: [] for key in TIMINGS}
    contacts = 0
    for item in group:
        if item.kind.value != "contact":
            continue
        found = False
        for key, values in TIMINGS.items():
            value = values.get(item.metadata[key]) if key in item.metadata else None
            if value is not None:
                per_key[key].append(value)
                found = True
        contacts += found

    def mean(values: list[float]) -> float | None:
        return round(sum(values) / len(values), 4) if values else None

    return {
        "contacts": contacts,
        "wait_mean": mean(per_key["wait_seconds"]),
        "handle_mean": mean(per_key["handle_seconds"]),
        "hold_mean": mean(per_key["hold_seconds"]),
        "transfers_per_contact": mean(per_key["transfers"]),
    }


def _items(n: int, seed: int = 3, span_s: int = 600) -> list[ClassifiedFeedback]:
    """Items over ten minutes (or `span_s`), some exactly on a minute, some journey events, some contact records with timings
    (good and bad), with and without scores."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        at = T0 + timedelta(seconds=rng.randrange(span_s), microseconds=rng.choice([0, 0, 1, 250_000, 999_999]))
        scores = {}
        if rng.random() < 0.5:
            scores["csat"] = rng.randint(1, 5)
        if rng.random() < 0.3:
            scores["ces"] = rng.randint(1, 7)
        if rng.random() < 0.4:
            scores["nps"] = rng.randint(0, 10)
        kind = rng.choices(["feedback", "contact", "journey_event"], weights=[6, 3, 1])[0]
        # A feedback item or journey event with timings in its metadata: not a contact record, so not counted.
        metadata = _timings(rng) if kind == "contact" or rng.random() < 0.2 else {}
        out.append(
            classified(
                item_id=f"i{i}",
                stage=rng.choice(STAGES),
                label=rng.choice(["negative", "neutral", "positive"]),
                score=round(rng.uniform(-1, 1), 3),
                kind=kind,
                at=at,
                scores=scores,
                metadata=metadata,
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
            **_operational(group),
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


def test_long_windows_read_hours_and_agree_with_the_raw_rows(database_url: str) -> None:
    """Items over three days; windows of hours and days with edges inside hours, after corrections and erasure-like
    removals: the hour buckets and the minute buckets at the edges add up to exactly what the raw rows say."""
    engine = make_engine(database_url)
    upgrade(engine)
    items = _items(600, seed=5, span_s=3 * 86400)
    stage_of = {i.id: i.classification.stage for i in items}
    h, m = timedelta(hours=1), timedelta(minutes=1)
    windows = [
        (T0 - m, T0 + timedelta(days=3, minutes=1)),  # everything
        (T0 + 5 * h + 17 * m, T0 + 30 * h + 44 * m + timedelta(seconds=3)),  # edges inside hours and minutes
        (T0 + 2 * h, T0 + 26 * h),  # whole hours
        (T0 + 23 * h + 59 * m, T0 + 25 * h + m),  # one whole hour and two edge minutes
        (T0 + 40 * h + 10 * m, T0 + 41 * h + 5 * m),  # under two hours: minutes only
    ]
    with Session(engine) as session:
        store_batch(session=session, items=items, stored_at=T0)
        for item_id, stage in [("i7", "use"), ("i8", "buy"), ("i9", "pay")]:
            row = get_feedback(session=session, feedback_id=item_id)
            assert row is not None
            correct_stage(session=session, item=row, stage=stage, by="cx-lead", at=T0)
            stage_of[item_id] = stage
        session.commit()
        for start, end in windows:
            got = stage_numbers(session=session, start=start, end=end)
            assert _same(got, _expected(items, stage_of, start, end)), (start, end, got)
        hours = {(r.stage, r.hour): r.volume for r in session.execute(select(StageHour)).scalars()}
        assert sum(hours.values()) == sum(1 for i in items if i.kind.value != "journey_event")
        rebuild(session=session)  # a recount gives the same hours
        session.commit()
        assert {(r.stage, r.hour): r.volume for r in session.execute(select(StageHour)).scalars()} == hours
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


def _contact(
    item_id: str, stage: str, at: datetime = T0 + timedelta(seconds=10), **metadata: str
) -> ClassifiedFeedback:
    return classified(item_id=item_id, stage=stage, kind="contact", at=at, metadata=metadata)


def _ops(sums: dict[str, float]) -> tuple[float, ...]:
    return tuple(sums[name] for name in OPERATIONAL)


OPERATIONAL = ["contacts", "wait_sum", "wait_n", "handle_sum", "handle_n", "hold_sum", "hold_n"]
OPERATIONAL += ["transfers_sum", "transfers_n"]
# A few contact records worked out by hand; the bad figures are left out of both the sum and the count.
BY_HAND = [
    _contact("c1", "get_help", wait_seconds="74", handle_seconds="486", hold_seconds="30", transfers="1"),
    _contact("c2", "get_help", wait_seconds="12.5", handle_seconds="n/a", hold_seconds="-5", transfers="0"),
    _contact("c3", "get_help", wait_seconds="90000", handle_seconds="300", hold_seconds="nan", transfers="1.5"),
    _contact("c4", "get_help", queue="Billing"),  # no timing at all: in the volume, not a timed contact
    classified(
        item_id="f1", stage="get_help", at=T0 + timedelta(seconds=10), metadata={"wait_seconds": "100"}
    ),  # not a contact record
    classified(item_id="j1", stage="get_help", kind="journey_event", metadata={"wait_seconds": "100"}),
    _contact("c5", "pay", wait_seconds="inf", handle_seconds="", hold_seconds="1e3", transfers="3"),
]
# (contacts, wait_sum, wait_n, handle_sum, handle_n, hold_sum, hold_n, transfers_sum, transfers_n)
GET_HELP_BY_HAND = (3, 74 + 12.5, 2, 486 + 300, 2, 30, 1, 1 + 0, 2)
PAY_BY_HAND = (1, 0, 0, 0, 0, 1000, 1, 3, 1)


def test_contact_timings_add_up_per_stage_as_worked_out_by_hand(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    with Session(engine) as session:
        store_batch(session=session, items=BY_HAND, stored_at=T0)
        store_batch(session=session, items=BY_HAND[:3], stored_at=T0)  # a replay adds nothing
        session.commit()
        sums = window_sums(session=session, start=T0, end=T0 + timedelta(minutes=5))
        assert _ops(sums["get_help"]) == GET_HELP_BY_HAND
        assert _ops(sums["pay"]) == PAY_BY_HAND
        assert sums["get_help"]["volume"] == 5
        # A window ending inside a minute leaves out the timings after its end: c1-c5 at :10, c6 at :40.
        late = _contact("c6", "get_help", at=T0 + timedelta(seconds=40), wait_seconds="600", transfers="4")
        store_batch(session=session, items=[late], stored_at=T0)
        session.commit()
        inside = window_sums(session=session, start=T0, end=T0 + timedelta(seconds=20))
        assert _ops(inside["get_help"]) == GET_HELP_BY_HAND
        help_numbers = stage_numbers(session=session, start=T0, end=T0 + timedelta(minutes=1))["get_help"]
        assert help_numbers.contacts == 4
        assert help_numbers.wait_mean == round((74 + 12.5 + 600) / 3, 4)
        assert help_numbers.handle_mean == 393.0
        assert help_numbers.hold_mean == 30.0
        assert help_numbers.transfers_per_contact == round(5 / 3, 4)
        # The per-minute buckets equal a recount from the stored rows.
        before = window_sums(session=session, start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=1))
        rebuild(session=session)
        session.commit()
        assert window_sums(session=session, start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=1)) == before
    engine.dispose()


def test_odd_metadata_never_fails_and_counts_nothing() -> None:
    base = {"kind": "contact", "stage": "pay", "csat": None, "ces": None, "nps": None}
    base |= {"sentiment_label": "neutral", "sentiment_score": 0.0}
    nothing = (0,) * len(OPERATIONAL)
    for data in (None, {}, {"metadata": None}, {"metadata": "wait_seconds=5"}, {"metadata": ["74"]}, "x"):
        assert operations({**base, "data": data}) == nothing, data
    for value in (None, True, [5], {"s": 5}, "5 minutes", "1e400", -0.1, float("nan")):
        assert operations({**base, "data": {"metadata": {"wait_seconds": value}}}) == nothing, value
    assert operations({**base, "data": {"metadata": {"wait_seconds": 5, "transfers": 2.0}}}) == (
        1,
        5,
        1,
        0,
        0,
        0,
        0,
        2,
        1,
    )
    assert operations({**base, "kind": "feedback", "data": {"metadata": {"wait_seconds": "5"}}}) == nothing
    figures = contribution({**base, "data": {"metadata": {"hold_seconds": "86400", "handle_seconds": "86400.5"}}})
    assert figures is not None and figures[-len(OPERATIONAL) :] == (1, 0, 0, 0, 0, 86400, 1, 0, 0)
    assert contribution({**base, "kind": "journey_event", "data": {"metadata": {"wait_seconds": "5"}}}) is None


def test_a_correction_or_a_revision_moves_the_timings(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    window = {"start": T0, "end": T0 + timedelta(minutes=5)}
    with Session(engine) as session:
        store_batch(session=session, items=BY_HAND, stored_at=T0)
        session.commit()
        row = get_feedback(session=session, feedback_id="c1")
        assert row is not None
        correct_stage(session=session, item=row, stage="pay", by="cx-lead", at=T0)
        session.commit()
        sums = window_sums(session=session, **window)
        # c1 (wait 74, handle 486, hold 30, 1 transfer) left get_help for pay.
        assert _ops(sums["get_help"]) == (2, 12.5, 1, 300, 1, 0, 0, 0, 1)
        assert _ops(sums["pay"]) == (2, 74, 1, 486, 1, 1030, 2, 4, 2)
        # The source sends c2 again later with its real figures: the old ones leave, the new ones count (once).
        revised = _contact("c2", "get_help", wait_seconds="20", handle_seconds="200", transfers="2")
        revised = revised.model_copy(update={"received_at": T0 + timedelta(minutes=3)})
        store_batch(session=session, items=[revised], stored_at=T0 + timedelta(minutes=3))
        session.commit()
        sums = window_sums(session=session, **window)
        assert _ops(sums["get_help"]) == (2, 20, 1, 500, 2, 0, 0, 2, 1)
        assert _ops(sums["pay"]) == (2, 74, 1, 486, 1, 1030, 2, 4, 2)
    engine.dispose()


def test_the_scorecard_shows_the_operational_figures_of_its_window(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    now = T0 + timedelta(hours=2)
    inside = [
        _contact("in1", "get_help", at=now - timedelta(minutes=50), wait_seconds="60", handle_seconds="300"),
        _contact("in2", "get_help", at=now - timedelta(minutes=5), wait_seconds="120", hold_seconds="45"),
        _contact("in3", "get_help", at=now - timedelta(minutes=1), transfers="2", wait_seconds="oops"),
    ]
    # Before the 1h window (in the previous one) and after `now`: neither counts.
    outside = [
        _contact("out1", "get_help", at=now - timedelta(minutes=70), wait_seconds="9000", transfers="9"),
        _contact("out2", "get_help", at=now + timedelta(seconds=20), wait_seconds="9000", handle_seconds="9000"),
    ]
    journey = load_journey_map(DEFAULT_JOURNEY_MAP)
    with Session(engine) as session:
        store_batch(session=session, items=inside + outside, stored_at=now)
        session.commit()
        view = journey_view(session=session, journey=journey, window="1h", now=now)
    cards = {card.stage: card for card in view.stages}
    ops = cards["get_help"].operations
    assert ops.contacts == 3
    assert (ops.wait_mean_s, ops.handle_mean_s, ops.hold_mean_s, ops.transfers_per_contact) == (90.0, 300.0, 45.0, 2.0)
    assert cards["pay"].operations.model_dump() == {
        "contacts": 0,
        "wait_mean_s": None,
        "handle_mean_s": None,
        "hold_mean_s": None,
        "transfers_per_contact": None,
    }
    export_view(view)
    gauge = {"stage": "get_help", "window": "1h"}
    assert REGISTRY.get_sample_value("journeyline_stage_contacts", gauge) == 3
    assert REGISTRY.get_sample_value("journeyline_stage_wait_mean_seconds", gauge) == 90.0
    assert REGISTRY.get_sample_value("journeyline_stage_handle_mean_seconds", gauge) == 300.0
    assert REGISTRY.get_sample_value("journeyline_stage_hold_mean_seconds", gauge) == 45.0
    assert REGISTRY.get_sample_value("journeyline_stage_transfers_per_contact", gauge) == 2.0
    no_data = REGISTRY.get_sample_value("journeyline_stage_wait_mean_seconds", {"stage": "pay", "window": "1h"})
    assert no_data is not None and math.isnan(no_data)  # "no data" on a dashboard, not a wait of 0 s
    engine.dispose()


def test_migration_0005_counts_the_contacts_stored_before_it(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine, "0004")
    rows = [feedback_row(item, stored_at=T0) for item in BY_HAND]
    with Session(engine) as session:
        bulk_insert(session=session, table=FeedbackItem.__table__, rows=rows, conflict=["id"])  # type: ignore[attr-defined]
        session.commit()
    upgrade(engine)
    with Session(engine) as session:
        sums = window_sums(session=session, start=T0, end=T0 + timedelta(minutes=5))
        assert _ops(sums["get_help"]) == GET_HELP_BY_HAND and _ops(sums["pay"]) == PAY_BY_HAND
        assert sums["get_help"]["volume"] == 5
    # Down to 0004 and up again: the columns go and come back, filled again.
    with engine.connect() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
        conn.commit()
        assert "contacts" not in {c["name"] for c in inspect(conn).get_columns("acct_stage_minutes")}
    upgrade(engine)
    with Session(engine) as session:
        sums = window_sums(session=session, start=T0, end=T0 + timedelta(minutes=5))
        assert _ops(sums["get_help"]) == GET_HELP_BY_HAND and _ops(sums["pay"]) == PAY_BY_HAND
    engine.dispose()
