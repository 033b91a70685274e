"""Pure accountability logic, no network: durations, health colours, trend, NPS, signing, back-off, tokens."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError
from sqlalchemy.dialects import sqlite

from services.accountability.column_types import UTCDateTime
from services.accountability.delivery import backoff_delay
from services.accountability.messages import sign, slack_message
from services.accountability.schemas import SilenceCreate, TeamUpdate
from services.accountability.scorecard import StageNumbers, health_colour, parse_duration, trend
from services.accountability.settings import AccountabilitySettings
from shared.journey import HealthThresholds


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("1h", 3600), ("30d", 2592000), (45, 45)])
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["", "1w", "h", "-1h"])
def test_bad_durations_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_health_colour_follows_the_stage_thresholds() -> None:
    t = HealthThresholds(
        yellow_negative_share=0.25, red_negative_share=0.40, yellow_csat_below=3.8, red_csat_below=3.2, min_volume=5
    )
    assert health_colour(StageNumbers(volume=4, negative=4), t)[0] == "green"  # too little to judge
    assert health_colour(StageNumbers(volume=10, negative=1, csat_mean=4.5), t)[0] == "green"
    assert health_colour(StageNumbers(volume=10, negative=3), t)[0] == "yellow"
    assert health_colour(StageNumbers(volume=10, negative=4), t)[0] == "red"
    assert health_colour(StageNumbers(volume=10, negative=0, csat_mean=3.5), t)[0] == "yellow"
    colour, reason = health_colour(StageNumbers(volume=10, negative=0, csat_mean=3.0), t)
    assert colour == "red" and "CSAT" in reason


def test_nps_and_trend() -> None:
    now = StageNumbers(volume=20, negative=10, sentiment_mean=-0.3, nps_answers=10, promoters=2, detractors=6)
    before = StageNumbers(volume=10, negative=1, sentiment_mean=0.2)
    assert now.nps == -40.0 and now.negative_share == 0.5 and StageNumbers().nps is None
    change = trend(now, before)
    assert change.volume_change == 1.0 and change.negative_share_change == 0.4 and change.direction == "worsening"
    assert trend(StageNumbers(), StageNumbers()).direction == "unknown"


def test_webhook_signature_is_hmac_sha256_of_the_body() -> None:
    body = b'{"id":"a"}'
    assert sign("s3cret", body) == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()


def test_slack_message_has_text() -> None:
    msg = slack_message(
        {
            "transition": "opened",
            "title": "Negative share 80% on pay",
            "stage": "pay",
            "rule_id": "negative_share",
            "count": 3,
            "owners": {"accountable": "billing"},
        }
    )
    assert msg["text"].startswith("[OPENED] Negative share 80% on pay") and "billing" in msg["text"]


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff_delay(n, 2.0, 30.0).total_seconds() for n in (1, 2, 3, 4, 5, 6)] == [2, 4, 8, 16, 30, 30]


def test_production_refuses_placeholder_tokens() -> None:
    AccountabilitySettings(environment="development").check()
    with pytest.raises(ValueError, match="ACCOUNTABILITY_READ_TOKEN"):
        AccountabilitySettings(environment="production", operator_token="x" * 32, admin_token="y" * 32).check()
    with pytest.raises(ValueError, match="ACCOUNTABILITY_SESSION_SECRET"):
        AccountabilitySettings(
            environment="production", read_token="r" * 32, operator_token="x" * 32, admin_token="y" * 32
        ).check()
    AccountabilitySettings(
        environment="production",
        read_token="r" * 32,
        operator_token="x" * 32,
        admin_token="y" * 32,
        session_secret="s" * 32,
    ).check()


def test_request_shapes_are_validated() -> None:
    with pytest.raises(ValidationError, match="needs an http"):
        TeamUpdate.model_validate({"receivers": [{"type": "webhook"}]})
    with pytest.raises(ValidationError, match="exactly one"):
        SilenceCreate.model_validate({"stage": "pay"})
    assert SilenceCreate.model_validate({"rule_id": "negative_share", "duration_s": 60}).duration_s == 60


def test_bench_prints_its_figures_line() -> None:
    from bench.accountability import run_bench

    line = run_bench(items=200, batch=100, database_url=None)
    assert line.startswith("database=sqlite items=200 batch=100 new_items_per_s=") and "replayed_items_per_s=" in line


def test_window_cache_adds_stored_items_between_refreshes_and_rereads_after_its_ttl(sqlite_url: str) -> None:
    """The alert rules' window figures stay exact for this process's items without re-aggregating per batch."""
    from datetime import timedelta

    from sqlmodel import Session

    from services.accountability.conditions import WindowCache
    from services.accountability.migrate import upgrade
    from services.accountability.store import store_batch
    from shared.db import make_engine
    from tests.accountability.factories import T0, classified

    engine = make_engine(sqlite_url)
    upgrade(engine)
    hour, zero = timedelta(hours=1), timedelta(0)
    cache = WindowCache(timedelta(seconds=5))
    with Session(engine) as session:
        first = store_batch(session=session, items=[classified(stage="pay", at=T0, item_id="a")], stored_at=T0)
        cache.add(first, T0)
        assert cache.numbers(session, T0, hour, zero)["pay"].volume == 1  # read from the database

        later = T0 + timedelta(seconds=2)
        batch = [
            classified(stage="pay", label="negative", at=later, item_id="b"),
            classified(stage="use", label="positive", at=later, item_id="c"),
            classified(stage="pay", kind="journey_event", at=later, item_id="d"),
        ]
        stored = store_batch(session=session, items=batch, stored_at=later)
        session.commit()
        cache.add(stored, later)
        within_ttl = cache.numbers(session, later, hour, zero)
        assert (within_ttl["pay"].volume, within_ttl["pay"].negative, within_ttl["use"].volume) == (2, 2, 1)

        # Rows another writer adds show up once the ttl has passed, when the figures are read again.
        other = store_batch(session=session, items=[classified(stage="use", at=later, item_id="e")], stored_at=later)
        session.commit()
        assert other and cache.numbers(session, later, hour, zero)["use"].volume == 1
        reread = cache.numbers(session, T0 + timedelta(seconds=8), hour, zero)
        assert (reread["pay"].volume, reread["use"].volume) == (2, 2)

        cache.clear()
        assert cache.numbers(session, later, hour, zero)["use"].volume == 2


@pytest.mark.parametrize(
    "value",
    [
        None,
        datetime(2026, 3, 1, 9, 30, 5, 120, tzinfo=UTC),
        datetime(2026, 3, 1, 9, 30, 5, tzinfo=UTC),  # no microseconds: still written with six digits
        datetime(2026, 3, 1, 0, 15, tzinfo=timezone(timedelta(hours=2))),  # the day before, in UTC
        datetime(2026, 3, 1, 9, 30, 5, 999_999),  # naive: taken as UTC
        datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC),
    ],
)
def test_sqlite_binds_a_time_as_the_text_sqlalchemys_datetime_stores(value: datetime | None) -> None:
    """The one-step SQLite binder writes exactly what the two steps wrote (UTC, naive, then DATETIME's format),
    so rows stored before and after compare and sort the same."""
    dialect = sqlite.dialect()
    column = UTCDateTime()
    fast = column.bind_processor(dialect)
    assert fast is not None
    two_steps = sqlite.DATETIME().bind_processor(dialect)
    assert two_steps is not None
    assert fast(value) == two_steps(column.process_bind_param(value, dialect))
