"""Escalation chains on a real database (SQLite and PostgreSQL), with a clock the tests move: each step in order,
steps outside their working hours waiting (or passed by), repeats, and acknowledge stopping the chain."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.accountability.models import Alert, OutboxEntry
from services.accountability.ownership import upsert_team
from services.accountability.service import change_alert, process_batch
from shared.journey import JourneyMap
from shared.teams import Team, WorkingHours
from tests.accountability.factories import T0, MovableClock, classified, migrated, tidy

TOPIC = "t.cx.alerts"
BERLIN_HOURS = {"days": "mon-fri", "from": "09:00", "to": "18:00", "tz": "Europe/Berlin"}
MEMBERS = [
    {"name": "alice", "contact": "alice@example.com"},
    {"name": "bob", "contact": "http://127.0.0.1:9/bob"},
]


@pytest.fixture
def engine(database_url: str, journey: JourneyMap) -> Iterator[Engine]:
    with migrated(database_url, journey, hooks={"cto-office": "http://127.0.0.1:9/cto"}) as engine:
        yield engine


def _chain(engine: Engine, chain: list[dict[str, Any]], team: str = "product") -> None:
    """`product` is accountable for `use`: give it members and an escalation chain."""
    with Session(engine) as session:
        upsert_team(
            session=session,
            team_id=team,
            name=None,
            escalation=None,
            receivers=None,
            members=MEMBERS,
            chain=chain,
            by="t",
            at=T0,
        )
        session.commit()


def _open(engine: Engine, journey: JourneyMap, now: datetime) -> str:
    with Session(engine, expire_on_commit=False) as session:
        process_batch(
            session=session,
            journey=journey,
            items=[classified(stage="use", severity="critical", at=now)],
            now=now,
            alerts_topic=TOPIC,
        )
        session.commit()
        return session.execute(select(Alert)).scalars().one().id


def _tidy(engine: Engine, journey: JourneyMap, now: datetime) -> list[str]:
    return [t for _, _, t in tidy(engine, journey, now, escalate_after=timedelta(minutes=10))]


def _pages(engine: Engine) -> list[tuple[str, str, str, int | None]]:
    """The escalated deliveries to people and teams (not the topic): (receiver, target, to, step)."""
    with Session(engine) as session:
        rows = session.execute(select(OutboxEntry).order_by(OutboxEntry.id)).scalars()  # type: ignore[arg-type]
        return [
            (o.receiver, o.target, o.payload["escalation"]["to"], o.payload["escalation"]["step"])
            for o in rows
            if o.transition == "escalated" and o.receiver != "kafka"
        ]


def test_each_step_in_order_with_a_repeat_until_acknowledged(engine: Engine, journey: JourneyMap) -> None:
    _chain(
        engine,
        [
            {"after": "0s", "notify": {"member": "alice"}},
            {"after": "15m", "notify": {"member": "bob"}, "repeat": "10m"},
            {"after": "45m", "notify": {"team": "cto-office"}},
        ],
    )
    clock = MovableClock()
    alert_id = _open(engine, journey, clock())
    assert _tidy(engine, journey, clock()) == ["escalated"]
    assert _pages(engine) == [("email", "alice@example.com", "alice", 1)]
    clock.advance(minutes=14)
    assert _tidy(engine, journey, clock()) == []  # bob's step is not due; alice has no repeat
    clock.advance(minutes=1)
    assert _tidy(engine, journey, clock()) == ["escalated"]
    clock.advance(minutes=9)
    assert _tidy(engine, journey, clock()) == []
    clock.advance(minutes=1)  # 25 minutes: bob again
    assert _tidy(engine, journey, clock()) == ["escalated"]
    clock.advance(minutes=20)  # 45 minutes: the CTO office's receivers
    assert _tidy(engine, journey, clock()) == ["escalated"]
    bob = ("webhook", "http://127.0.0.1:9/bob", "bob", 2)
    assert _pages(engine) == [
        ("email", "alice@example.com", "alice", 1),
        bob,
        bob,
        ("webhook", "http://127.0.0.1:9/cto", "cto-office", 3),
    ]
    with Session(engine, expire_on_commit=False) as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None and alert.escalated_to == "cto-office"
        history = alert.details["escalation"]["history"]
        assert [(h["step"], h["to"], h["repeat"]) for h in history] == [
            (1, "alice", 0),
            (2, "bob", 0),
            (2, "bob", 1),
            (3, "cto-office", 0),
        ]
        change_alert(
            session=session, journey=journey, alert_id=alert_id, action="ack", by="bob", now=clock(), alerts_topic=TOPIC
        )
        session.commit()
    for _ in range(3):
        clock.advance(hours=1)
        assert _tidy(engine, journey, clock()) == []  # acknowledged: nobody else is paged
    assert len(_pages(engine)) == 4


def test_acknowledge_stops_the_chain_before_the_next_step(engine: Engine, journey: JourneyMap) -> None:
    _chain(engine, [{"after": "5m", "notify": {"member": "alice"}}, {"after": "30m", "notify": {"member": "bob"}}])
    clock = MovableClock()
    alert_id = _open(engine, journey, clock())
    assert _tidy(engine, journey, clock()) == []  # the first step waits five minutes
    clock.advance(minutes=5)
    assert _tidy(engine, journey, clock()) == ["escalated"]
    with Session(engine) as session:
        change_alert(
            session=session, journey=journey, alert_id=alert_id, action="ack", by="al", now=clock(), alerts_topic=TOPIC
        )
        session.commit()
    clock.advance(hours=2)
    assert _tidy(engine, journey, clock()) == []
    assert [p[2] for p in _pages(engine)] == ["alice"]


def test_an_alert_at_three_in_the_morning_waits_for_working_hours(engine: Engine, journey: JourneyMap) -> None:
    _chain(
        engine,
        [
            {"after": "0s", "notify": {"member": "alice"}, "only_within": BERLIN_HOURS},
            {"after": "10m", "notify": {"member": "bob"}},
        ],
    )
    clock = MovableClock(datetime(2026, 11, 3, 2, 0, tzinfo=UTC))  # Tuesday 03:00 in Berlin
    alert_id = _open(engine, journey, clock())
    assert _tidy(engine, journey, clock()) == []
    with Session(engine) as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None
        assert alert.details["escalation"]["waiting"] == {"step": 1, "until": "2026-11-03T08:00:00+00:00"}
    clock.advance(hours=5, minutes=59)  # 08:59 in Berlin: bob's step is due too, but the chain waits in order
    assert _tidy(engine, journey, clock()) == []
    assert _pages(engine) == []
    clock.advance(minutes=1)  # 09:00 in Berlin
    assert _tidy(engine, journey, clock()) == ["escalated"]
    assert _tidy(engine, journey, clock()) == ["escalated"]  # then bob's, already due
    assert [p[2] for p in _pages(engine)] == ["alice", "bob"]


def test_a_step_outside_its_hours_can_be_passed_by(engine: Engine, journey: JourneyMap) -> None:
    _chain(
        engine,
        [
            {"after": "0s", "notify": {"member": "alice"}, "only_within": BERLIN_HOURS, "outside": "skip"},
            {"after": "0s", "notify": {"team": "cto-office"}},
        ],
    )
    saturday_noon = datetime(2026, 11, 7, 11, 0, tzinfo=UTC)
    alert_id = _open(engine, journey, saturday_noon)
    assert _tidy(engine, journey, saturday_noon) == ["escalated"]
    assert [p[2] for p in _pages(engine)] == ["cto-office"]
    with Session(engine) as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None
        assert alert.details["escalation"]["history"][0]["skipped"] == "outside working hours"


def test_a_team_without_a_chain_keeps_its_single_escalation(engine: Engine, journey: JourneyMap) -> None:
    clock = MovableClock()
    _open(engine, journey, clock())
    clock.advance(minutes=11)
    assert _tidy(engine, journey, clock()) == ["escalated"]
    assert _tidy(engine, journey, clock()) == []
    with Session(engine) as session:
        assert session.execute(select(Alert)).scalars().one().escalated_to == "cto-office"


def test_working_hours_follow_the_time_zone_and_the_days() -> None:
    hours = WorkingHours.model_validate(BERLIN_HOURS)
    assert not hours.contains(datetime(2026, 11, 3, 2, 0, tzinfo=UTC))
    assert hours.contains(datetime(2026, 11, 3, 8, 0, tzinfo=UTC))  # 09:00 CET
    assert not hours.contains(datetime(2026, 11, 3, 17, 0, tzinfo=UTC))  # 18:00 CET: closed
    assert hours.contains(datetime(2026, 7, 7, 7, 0, tzinfo=UTC))  # 09:00 CEST
    friday_evening = datetime(2026, 11, 6, 18, 0, tzinfo=UTC)
    assert hours.next_start(friday_evening) == datetime(2026, 11, 9, 8, 0, tzinfo=UTC)  # Monday 09:00


@pytest.mark.parametrize(
    ("team", "error"),
    [
        ({"chain": [{"notify": {"member": "nobody"}}]}, "no member 'nobody'"),
        ({"chain": [{"notify": {"member": "a", "team": "b"}}], "members": [{"name": "a", "contact": "a@x.io"}]}, "one"),
        ({"members": [{"name": "a", "contact": "ftp://x"}]}, "e-mail address or an http"),
        ({"chain": [{"notify": {"team": "x"}, "only_within": {**BERLIN_HOURS, "tz": "Mars/Olympus"}}]}, "time zone"),
        ({"chain": [{"notify": {"team": "x"}, "only_within": {**BERLIN_HOURS, "days": "someday"}}]}, "days"),
        ({"chain": [{"notify": {"team": "x"}, "after": "soon"}]}, "duration"),
    ],
)
def test_chains_are_checked_when_the_map_loads(team: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Team.model_validate({"id": "t", "name": "T", **team})


def test_a_reopened_alert_starts_its_chain_over_and_keeps_who_was_paged() -> None:
    from services.accountability.models import Alert as AlertRow
    from services.accountability.rules import Verification
    from services.accountability.verification import reopen

    paged = [{"step": 1, "to": "olga", "repeat": 0, "at": T0.isoformat()}]
    alert = AlertRow(
        id="a", stage="use", rule_id="negative_share", rule_kind="negative_share", status="resolved_pending_verification",
        open_key="use:negative_share", title="t", opened_at=T0, last_seen_at=T0, last_active_at=T0,
        details={"escalation": {"since": T0.isoformat(), "next": 2, "history": paged}},
    )  # fmt: skip

    class Sink:
        def add(self, _: object) -> None:
            pass

    later = T0 + timedelta(hours=5)
    change = reopen(Sink(), alert, Verification("not_recovered", "still bad", {}), later)  # type: ignore[arg-type]
    assert change.name == "reopened" and alert.status == "open" and alert.escalated_at is None
    assert alert.details["escalation"] == {"since": later.isoformat(), "next": 0, "history": paged}
