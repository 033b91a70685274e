"""Noise control on a real database (SQLite and PostgreSQL), with a clock the tests move: silences that start
later and recur (RFC 5545), reminders of silences left in force, inhibition of symptom alerts by an open cause
alert, and incidents grouping alerts that open together on several stages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.accountability import silences
from services.accountability.models import Alert, AuditEntry, OutboxEntry, Silence
from services.accountability.ownership import upsert_team
from services.accountability.service import change_alert, housekeeping, process_batch
from services.accountability.silences import RecurrenceError, silence_covers
from shared.journey import JourneyMap
from shared.settings import KafkaSettings
from tests.accountability.factories import T0, MovableClock, classified, migrated, tidy
from tests.accountability.harness import ADMIN, OPERATOR, READ, running, settings_for

TOPIC = "t.cx.alerts"
# The weekly billing run: Mondays 02:00-04:00 in Berlin (01:00-03:00 UTC in winter), four times.
BILLING_RUN = "DTSTART;TZID=Europe/Berlin:20261109T020000\nRRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=4"


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.fixture
def engine(database_url: str, journey: JourneyMap) -> Iterator[Engine]:
    with migrated(
        database_url,
        journey,
        hooks={team: f"http://127.0.0.1:9/{team}" for team in ("billing", "customer-care", "product")},
    ) as engine:
        yield engine


def _process(engine: Engine, journey: JourneyMap, items: list, now: datetime) -> list[tuple[str, str, str]]:  # type: ignore[type-arg]
    with Session(engine, expire_on_commit=False) as session:
        outcome = process_batch(session=session, journey=journey, items=items, now=now, alerts_topic=TOPIC)
        session.commit()
        return outcome.transitions


def _rows(engine: Engine, alert_id: str) -> list[tuple[str, str]]:
    with Session(engine) as session:
        query = select(OutboxEntry).where(OutboxEntry.alert_id == alert_id).order_by(OutboxEntry.id)  # type: ignore[arg-type]
        return [(o.transition, o.team) for o in session.execute(query).scalars()]


def _alert(engine: Engine, stage: str, rule: str) -> Alert:
    with Session(engine) as session:
        c = Alert.__table__.c  # type: ignore[attr-defined]
        return session.execute(select(Alert).where(c.stage == stage, c.rule_id == rule)).scalars().one()


def test_a_recurring_silence_mutes_only_inside_its_occurrences(engine: Engine, journey: JourneyMap) -> None:
    with Session(engine, expire_on_commit=False) as session:
        silence = silences.create_silence(
            session=session,
            stage="pay",
            rule_id=None,
            ends_at=None,
            reason="weekly billing run",
            by="ops",
            now=T0,
            rrule=BILLING_RUN,
            duration=timedelta(hours=2),
        )
        session.commit()
    assert silence.starts_at == _utc(2026, 11, 9, 1, 0)  # starts in the future: the first run
    assert silence.ends_at == _utc(2026, 11, 30, 3, 0)  # COUNT=4: the fourth run's end
    expected = {
        T0: False,
        _utc(2026, 11, 9, 0, 59): False,
        _utc(2026, 11, 9, 1, 0): True,
        _utc(2026, 11, 9, 2, 59): True,
        _utc(2026, 11, 9, 3, 0): False,
        _utc(2026, 11, 10, 1, 30): False,  # Tuesday
        _utc(2026, 11, 16, 1, 30): True,
        _utc(2026, 11, 30, 2, 30): True,
        _utc(2026, 12, 7, 1, 30): False,  # after the fourth
    }
    assert {at: silence_covers(silence, at) for at in expected} == expected

    inside, outside = _utc(2026, 11, 9, 1, 30), _utc(2026, 11, 10, 1, 30)
    _process(engine, journey, [classified(stage="pay", severity="critical", at=inside)], inside)
    pay = _alert(engine, "pay", "critical_item")
    assert pay.silenced
    assert _rows(engine, pay.id) == [("opened", "*")]  # the topic only: no team is paged during the run
    with Session(engine) as session:
        change_alert(
            session=session, journey=journey, alert_id=pay.id, action="ack", by="ann", now=outside, alerts_topic=TOPIC
        )
        session.commit()
    assert ("acknowledged", "billing") in _rows(engine, pay.id)  # the next day, deliveries flow again


@pytest.mark.parametrize(
    ("rule", "ends_at", "error"),
    [
        ("FREQ=SOMETIMES", None, "not an RFC 5545"),
        ("RRULE:FREQ=WEEKLY;BYDAY=XX", None, "not an RFC 5545"),
        ("FREQ=WEEKLY;BYDAY=MO", None, "ends_at, or COUNT or UNTIL"),
        ("FREQ=MINUTELY", T0 + timedelta(days=30), "more than 2000 occurrences"),
        ("DTSTART:20261109T020000\nRRULE:FREQ=DAILY;COUNT=3", None, "time zone"),
        ("", None, "empty"),
    ],
)
def test_bad_recurrences_are_refused(rule: str, ends_at: datetime | None, error: str) -> None:
    with pytest.raises(RecurrenceError, match=error):
        silences.plan_recurring(rule, starts_at=T0, duration=timedelta(hours=1), ends_at=ends_at)


def test_an_open_ended_weekly_silence_ends_when_told(engine: Engine) -> None:
    with Session(engine) as session:
        silence = silences.create_silence(
            session=session,
            stage=None,
            rule_id="volume_spike",
            ends_at=T0 + timedelta(days=60),
            reason="",
            by="ops",
            now=T0,
            rrule="FREQ=WEEKLY;BYDAY=MO;BYHOUR=2;BYMINUTE=0;BYSECOND=0",
            duration=timedelta(hours=1),
        )
        assert silence_covers(silence, _utc(2026, 11, 9, 2, 30))
        assert not silence_covers(silence, _utc(2026, 11, 9, 3, 30))
        assert not silence_covers(silence, T0 + timedelta(days=61))


def test_a_silence_still_in_force_is_reported_to_its_creator_once(engine: Engine, journey: JourneyMap) -> None:
    with Session(engine) as session:
        upsert_team(
            session=session,
            team_id="billing",
            name=None,
            escalation=None,
            receivers=None,
            members=[{"name": "ann", "contact": "ann@example.com"}],
            by="t",
            at=T0,
        )
        for by in ("ann", "service-account"):
            silences.create_silence(
                session=session, stage="pay", rule_id=None, ends_at=T0 + timedelta(days=3), reason="", by=by, now=T0
            )
        silences.create_silence(  # ends before the reminder is due: nothing to say
            session=session, stage="use", rule_id=None, ends_at=T0 + timedelta(hours=2), reason="", by="ann", now=T0
        )
        session.commit()
    clock = MovableClock()

    def reminders() -> list[tuple[str, str, str]]:
        tidy(engine, journey, clock(), silence_remind_after=timedelta(days=1))
        with Session(engine) as session:
            query = select(OutboxEntry).where(OutboxEntry.transition == "silence_reminder")  # type: ignore[arg-type]
            return sorted((o.payload["created_by"], o.receiver, o.target) for o in session.execute(query).scalars())

    clock.advance(hours=23)
    assert reminders() == []
    clock.advance(hours=2)
    expected = [
        ("ann", "email", "ann@example.com"),
        ("ann", "kafka", TOPIC),
        ("service-account", "kafka", TOPIC),  # no contact known: the topic event and the audit log say it
    ]
    assert reminders() == expected
    clock.advance(hours=1)
    assert reminders() == expected  # once
    with Session(engine) as session:
        audited = session.execute(select(AuditEntry).where(AuditEntry.action == "silence.reminder")).scalars()  # type: ignore[arg-type]
        assert sorted(a.after["created_by"] for a in audited) == ["ann", "service-account"]
        assert all(s.reminded_at is None for s in session.execute(select(Silence)).scalars() if s.stage == "use")


def test_a_cause_that_opens_after_its_symptom_mutes_it_from_then_on(engine: Engine, journey: JourneyMap) -> None:
    baseline = [classified(stage="get_help", label="positive", at=T0 - timedelta(hours=h)) for h in range(2, 26)]
    _process(engine, journey, baseline, T0)
    calls = [classified(stage="get_help", label="positive", text="is it down?", at=T0) for _ in range(30)]
    assert _process(engine, journey, calls, T0) == [("get_help", "volume_spike", "opened")]
    symptom = _alert(engine, "get_help", "volume_spike")
    assert symptom.inhibited_by is None and ("opened", "*") in _rows(engine, symptom.id)
    later = T0 + timedelta(minutes=3)
    outage = [classified(stage="use", text="app down", at=later) for _ in range(25)]
    assert _process(engine, journey, outage, later) == [("use", "negative_share", "opened")]
    cause = _alert(engine, "use", "negative_share")
    muted = _alert(engine, "get_help", "volume_spike")
    assert muted.inhibited_by == cause.id and muted.details["inhibition"]["by"] == cause.id
    out = tidy(engine, journey, T0 + timedelta(minutes=40))
    assert ("get_help", "escalated") not in [(s, t) for s, _, t in out]  # nobody paged for the symptom


def test_an_outage_on_use_inhibits_the_volume_spike_on_get_help(engine: Engine, journey: JourneyMap) -> None:
    baseline = [classified(stage="get_help", label="positive", at=T0 - timedelta(hours=h)) for h in range(2, 26)]
    assert _process(engine, journey, baseline, T0) == []
    outage = [classified(stage="use", text="app down", at=T0) for _ in range(25)]
    assert _process(engine, journey, outage, T0) == [("use", "negative_share", "opened")]
    cause = _alert(engine, "use", "negative_share")
    later = T0 + timedelta(minutes=5)
    calls = [classified(stage="get_help", label="positive", text="is it down?", at=later) for _ in range(30)]
    assert _process(engine, journey, calls, later) == [("get_help", "volume_spike", "opened")]
    symptom = _alert(engine, "get_help", "volume_spike")
    assert symptom.inhibited_by == cause.id
    assert symptom.status == "open"  # stored and kept, not dropped
    assert _rows(engine, symptom.id) == [("opened", "*")]  # published on the topic, delivered to no team
    with Session(engine) as session:
        event = session.execute(select(OutboxEntry).where(OutboxEntry.alert_id == symptom.id)).scalars().one()  # type: ignore[arg-type]
        assert event.payload["inhibited_by"] == cause.id
    assert ("opened", "product") in _rows(engine, cause.id)
    # alerts opening within 15 minutes on two stages: one incident
    assert symptom.incident_id is not None
    assert _alert(engine, "use", "negative_share").incident_id == symptom.incident_id

    assert [(s, t) for s, _, t in tidy(engine, journey, T0 + timedelta(minutes=40))] == [
        ("use", "escalated")
    ]  # never the muted symptom
    assert [t for t, team in _rows(engine, symptom.id) if team != "*"] == []

    # the cause is resolved: the symptom, still open, is no longer muted and escalates like any alert
    with Session(engine) as session:
        change_alert(
            session=session, journey=journey, alert_id=cause.id, action="resolve", by="ann",
            now=T0 + timedelta(minutes=41), alerts_topic=TOPIC, code="fixed", note="rolled back the release",
        )  # fmt: skip
        out = housekeeping(
            session=session,
            journey=journey,
            now=T0 + timedelta(minutes=42),
            auto_resolve_after=timedelta(days=1),
            escalate_after=timedelta(minutes=30),
            alerts_topic=TOPIC,
        )
        session.commit()
    assert [(s, t) for s, _, t in out.transitions] == [("get_help", "escalated")]
    lifted = _alert(engine, "get_help", "volume_spike")
    assert lifted.inhibited_by is None and lifted.details["inhibition"]["by"] == cause.id
    assert ("escalated", "customer-care") in _rows(engine, symptom.id)


def test_a_symptom_without_an_open_cause_is_delivered_and_an_alert_alone_has_no_incident(
    engine: Engine, journey: JourneyMap
) -> None:
    baseline = [classified(stage="get_help", label="positive", at=T0 - timedelta(hours=h)) for h in range(2, 26)]
    _process(engine, journey, baseline, T0)
    calls = [classified(stage="get_help", label="positive", at=T0) for _ in range(30)]
    assert _process(engine, journey, calls, T0) == [("get_help", "volume_spike", "opened")]
    symptom = _alert(engine, "get_help", "volume_spike")
    assert symptom.inhibited_by is None and symptom.incident_id is None
    assert ("opened", "customer-care") in _rows(engine, symptom.id)
    an_hour_later = T0 + timedelta(hours=1)
    _process(engine, journey, [classified(stage="pay", severity="critical", at=an_hour_later)], an_hour_later)
    assert _alert(engine, "pay", "critical_item").incident_id is None  # outside the 15-minute window


@pytest.mark.integration
async def test_the_api_takes_recurring_silences_and_chains(kafka: KafkaSettings, sqlite_url: str) -> None:
    clock = MovableClock()
    async with running(settings_for(kafka, sqlite_url), clock) as (_runtime, client):
        made = await client.post(
            "/v1/silences",
            json={"stage": "pay", "rrule": BILLING_RUN, "occurrence_s": 7200, "reason": "billing run"},
            headers=OPERATOR,
        )
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["active"] is False and body["rrule"] == BILLING_RUN and body["occurrence_s"] == 7200
        assert body["starts_at"].startswith("2026-11-09T01:00") and body["ends_at"].startswith("2026-11-30T03:00")
        bad = await client.post(
            "/v1/silences", json={"stage": "pay", "rrule": "FREQ=NEVER", "occurrence_s": 60}, headers=OPERATOR
        )
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
        later = await client.post(
            "/v1/silences",
            json={"stage": "use", "starts_at": "2026-11-03T00:00:00Z", "duration_s": 3600},
            headers=OPERATOR,
        )
        assert later.status_code == 201 and later.json()["active"] is False
        team = {
            "members": [{"name": "alice", "contact": "alice@example.com"}],
            "chain": [
                {"after": "0s", "notify": {"member": "alice"}, "only_within": {"from": "09:00", "to": "18:00"}},
                {"after": "30m", "notify": {"team": "cto-office"}, "repeat": "1h"},
            ],
        }
        put = await client.put("/v1/teams/product", json=team, headers=ADMIN)
        assert put.status_code == 200, put.text
        shown = put.json()
        assert shown["members"] == team["members"]
        assert shown["chain"][0]["only_within"] == {"days": "mon-fri", "from": "09:00", "to": "18:00", "tz": "UTC"}
        alerts_page = await client.get("/v1/alerts", headers=READ)
        assert alerts_page.status_code == 200


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"inhibit": [{"cause": {"stage": "nowhere"}, "mute": {"stage": "get_help"}}]}, "unknown stage 'nowhere'"),
        ({"inhibit": [{"cause": {"stage": "use", "rule": "made_up"}, "mute": {}}]}, "unknown alert rule 'made_up'"),
        ({"incidents": {"window": "a while"}}, "duration"),
    ],
)
def test_noise_rules_are_checked_when_the_map_loads(journey: JourneyMap, extra: dict[str, object], error: str) -> None:
    raw = journey.model_dump(mode="json", exclude={"inhibit", "incidents"})
    with pytest.raises(ValueError, match=error):
        JourneyMap.model_validate({**raw, **extra})
    assert JourneyMap.model_validate(raw).inhibit == []  # a map without noise rules still loads
