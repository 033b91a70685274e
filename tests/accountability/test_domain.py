"""The accountability domain on a real database (SQLite and PostgreSQL): store, moments, alerts, outbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from services.accountability import alerts, silences
from services.accountability.migrate import upgrade
from services.accountability.models import VERSION_TABLE, Alert, FeedbackItem, MomentOccurrence, OutboxEntry
from services.accountability.ownership import audit_log, seed, set_owners, upsert_team
from services.accountability.service import change_alert, process_batch, relabel
from services.accountability.theme_hours import read_progress, recount_corrected
from services.accountability.transitions import ResolutionError
from shared.db import make_engine
from shared.journey import JourneyMap
from tests.accountability.factories import T0, MovableClock, classified, journey_event, tidy

TOPIC = "t.cx.alerts"


def _process(engine: Engine, journey: JourneyMap, items: list, now=T0):  # type: ignore[no-untyped-def]
    with Session(engine, expire_on_commit=False) as session:
        outcome = process_batch(session=session, journey=journey, items=items, now=now, alerts_topic=TOPIC)
        session.commit()
        return outcome


def _count(engine: Engine, model: type[SQLModel]) -> int:
    with Session(engine) as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def _modelled(obj: object, name: str | None, kind: str, reflected: bool, compare_to: object) -> bool:
    """Full-text search lives beside the models: SQLite's FTS5 tables, PostgreSQL's generated column and index."""
    return not (name or "").startswith(("acct_feedback_fts", "search_doc", "ix_acct_feedback_search"))


def test_migrations_create_prefixed_tables_matching_the_models(engine: Engine) -> None:
    upgrade(engine)  # a second run at start-up changes nothing
    names = set(inspect(engine).get_table_names())
    assert VERSION_TABLE in names
    assert all(n.startswith("acct_") for n in names), names
    with engine.connect() as conn:
        opts = {"version_table": VERSION_TABLE, "include_object": _modelled}
        ctx = MigrationContext.configure(conn, opts=opts)
        diff = [d for d in compare_metadata(ctx, SQLModel.metadata) if "acct_" in repr(d)]
    assert diff == []


def test_only_corrected_items_are_indexed_by_correction_and_the_theme_job_reads_them_by_it(
    engine: Engine, journey: JourneyMap
) -> None:
    """Migration 0013: a stored item is not written into the corrections index until a person corrects it, and the
    theme job's read of what was corrected still finds them through that index, on both databases."""
    items = [classified(stage="pay") for _ in range(30)]
    _process(engine, journey, items)
    with Session(engine) as session:
        for item, hours in ((items[7], 2), (items[3], 1)):
            relabel(session=session, feedback_id=item.id, stage="use", by="ops", now=T0 + timedelta(hours=hours),
                    corrections_topic="t.corr")  # fmt: skip
        session.commit()
        assert recount_corrected(session, journey, T0 + timedelta(days=1), until=T0 + timedelta(days=1)) == 2
        assert read_progress(session)["corrected_id"] == items[7].id  # the later correction is read last
        sql = "SELECT id FROM acct_feedback WHERE corrected_at IS NOT NULL AND corrected_at <= :until ORDER BY corrected_at, id"
        if engine.dialect.name == "sqlite":
            definition = session.execute(
                text("SELECT sql FROM sqlite_master WHERE name = 'ix_acct_feedback_corrected_id'")
            ).scalar_one()
            plan = " ".join(str(r[-1]) for r in session.execute(text("EXPLAIN QUERY PLAN " + sql), {"until": T0}))
        else:
            definition = session.execute(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_acct_feedback_corrected_id'")
            ).scalar_one()
            session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(r[0] for r in session.execute(text("EXPLAIN " + sql), {"until": T0}))
    assert "WHERE" in definition and "corrected_at IS NOT NULL" in definition, definition
    assert "ix_acct_feedback_corrected_id" in plan, plan


def test_store_is_batched_and_idempotent(engine: Engine, journey: JourneyMap) -> None:
    items = [classified(label="positive") for _ in range(50)]
    first = _process(engine, journey, [*items, items[0]])  # a duplicate inside the batch too
    assert len(first.stored) == 50
    replay = _process(engine, journey, items[10:] + [classified(label="positive")])
    assert len(replay.stored) == 1
    assert _count(engine, FeedbackItem) == 51
    with Session(engine) as session:
        row = session.get(FeedbackItem, items[3].id)
        assert row is not None and row.stage == "pay" and row.occurred_at == T0
        assert row.data["classification"]["sentiment"]["label"] == "positive"


def test_nul_characters_are_stored_without_them(engine: Engine, journey: JourneyMap) -> None:
    item = classified(text="refund\x00 please", metadata={"note": "a\x00b"})
    _process(engine, journey, [item])
    with Session(engine) as session:
        row = session.get(FeedbackItem, item.id)
        assert row is not None and row.text == "refund please"
        assert row.data["metadata"]["note"] in ("a\x00b", "ab")


def test_negative_burst_opens_one_alert_and_repeats_update_it(engine: Engine, journey: JourneyMap) -> None:
    _process(engine, journey, [classified(stage="pay") for _ in range(25)])
    second = _process(engine, journey, [classified(stage="pay") for _ in range(5)])
    assert ("pay", "negative_share", "updated") in second.transitions
    with Session(engine) as session:
        found = alerts.list_alerts(session=session, status="active", stage="pay", rule_id=None, since=None, limit=10)
        assert len(found) == 1
        assert found[0].rule_id == "negative_share" and found[0].count == 30
        # teams without receivers get only the topic event; `updated` is published when the count doubles
        kinds = [(o.transition, o.receiver) for o in session.execute(select(OutboxEntry)).scalars()]
        assert kinds == [("opened", "kafka")]
    _process(engine, journey, [classified(stage="pay") for _ in range(10)])  # 30 -> 40 (past 32)
    with Session(engine) as session:
        kinds = [(o.transition, o.receiver) for o in session.execute(select(OutboxEntry)).scalars()]
        assert kinds == [("opened", "kafka"), ("updated", "kafka")]


def test_opened_alert_goes_to_every_receiver_of_every_owning_team(engine: Engine, journey: JourneyMap) -> None:
    with Session(engine) as session:
        for team in ("billing", "customer-care", "product", "sales"):
            hook = {"type": "webhook", "url": f"http://127.0.0.1:9/{team}", "secret": "s3"}
            slack = {"type": "slack", "url": f"http://127.0.0.1:9/slack/{team}"}
            upsert_team(
                session=session, team_id=team, name=None, escalation=None, receivers=[hook, slack], by="t", at=T0
            )
        session.commit()
    _process(engine, journey, [classified(stage="pay", severity="critical")])
    with Session(engine) as session:
        rows = [
            (o.team, o.receiver) for o in session.execute(select(OutboxEntry)).scalars() if o.transition == "opened"
        ]
    teams = {"billing", "customer-care", "product"}  # pay: accountable billing, contributing care + product
    assert sorted(rows) == sorted([("*", "kafka")] + [(t, r) for t in teams for r in ("webhook", "slack")])


def test_silence_mutes_team_deliveries_but_not_the_topic(engine: Engine, journey: JourneyMap) -> None:
    with Session(engine) as session:
        upsert_team(
            session=session,
            team_id="billing",
            name=None,
            escalation=None,
            receivers=[{"type": "webhook", "url": "http://x/"}],
            by="t",
            at=T0,
        )
        silences.create_silence(
            session=session, stage="pay", rule_id=None, ends_at=T0 + timedelta(hours=1), reason="", by="t", now=T0
        )
        session.commit()
    _process(engine, journey, [classified(stage="pay", severity="critical")])
    with Session(engine) as session:
        assert [o.receiver for o in session.execute(select(OutboxEntry)).scalars()] == ["kafka"]
        assert session.execute(select(Alert)).scalars().one().silenced


def test_third_contact_in_window_is_a_moment_of_truth_that_survives_restarts(
    database_url: str, journey: JourneyMap
) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    with Session(engine) as session:
        seed(session=session, journey=journey, now=T0)
        session.commit()
    _process(engine, journey, [classified(stage="get_help", customer="c-1", kind="contact", at=T0)])
    _process(engine, journey, [classified(stage="pay", customer="c-1", kind="contact", at=T0 + timedelta(days=3))])
    # a contact 40 days earlier does not count; other customers do not count
    _process(
        engine,
        journey,
        [classified(customer="c-2", kind="contact", at=T0), classified(customer="c-1", kind="journey_event")],
    )
    engine.dispose()
    engine = make_engine(database_url)  # "restart": the state is in the database
    outcome = _process(
        engine, journey, [classified(stage="use", customer="c-1", kind="contact", at=T0 + timedelta(days=10))]
    )
    assert [(m.moment_id, m.customer_id, m.count) for m in outcome.moments] == [("third_contact_30d", "c-1", 3)]
    assert ("get_help", "moment_of_truth", "opened") in outcome.transitions
    again = _process(engine, journey, [classified(customer="c-1", kind="contact", at=T0 + timedelta(days=11))])
    assert again.moments == []  # the window starts over after it fires
    engine.dispose()


def test_first_and_nth_journey_events(engine: Engine, journey: JourneyMap) -> None:
    first = _process(engine, journey, [journey_event(customer="c-9")])
    assert [m.moment_id for m in first.moments] == ["first_order"]
    assert first.transitions == []  # first_order does not alert
    _process(engine, journey, [journey_event(customer="c-9") for _ in range(98)])
    hundredth = _process(engine, journey, [journey_event(customer="c-9"), journey_event(customer="c-9")])
    assert [(m.moment_id, m.count) for m in hundredth.moments] == [("hundredth_order", 100)]
    assert _count(engine, MomentOccurrence) == 2


def test_lifecycle_ack_escalation_and_a_critical_item_never_resolves_on_silence(
    engine: Engine, journey: JourneyMap
) -> None:
    clock = MovableClock()
    _process(engine, journey, [classified(stage="pay", severity="critical")], now=clock())
    _process(engine, journey, [classified(stage="use", severity="critical")], now=clock())

    def tidy_now() -> list[tuple[str, str]]:
        out = tidy(
            engine, journey, clock(), auto_resolve_after=timedelta(minutes=30), escalate_after=timedelta(minutes=10)
        )
        return [(s, t) for s, _, t in out]

    def act(alert_id: str, action: str, **kw: str) -> tuple[Alert, str | None]:
        with Session(engine, expire_on_commit=False) as session:
            done = change_alert(
                session=session, journey=journey, alert_id=alert_id, action=action, by="ann", now=clock(),
                alerts_topic=TOPIC, **kw,
            )  # fmt: skip
            session.commit()
            return done

    with Session(engine) as session:
        pay = session.execute(select(Alert).where(Alert.stage == "pay")).scalars().one()  # type: ignore[arg-type]
        use = session.execute(select(Alert).where(Alert.stage == "use")).scalars().one()  # type: ignore[arg-type]
    clock.advance(minutes=5)
    alert, transition = act(pay.id, "ack")
    assert transition == "acknowledged" and alert.acknowledged_by == "ann"
    assert act(pay.id, "ack")[1] is None
    assert tidy_now() == []
    clock.advance(minutes=6)
    assert tidy_now() == [("use", "escalated")]  # unacknowledged for 11 minutes; pay was acknowledged
    with Session(engine) as session:
        assert session.get(Alert, use.id).escalated_to == "cto-office"  # type: ignore[union-attr]
    clock.advance(hours=5)
    assert tidy_now() == []  # hours of silence after a critical complaint prove nothing: still open
    with pytest.raises(ResolutionError, match="code"):
        act(pay.id, "resolve")
    with pytest.raises(ResolutionError, match="code"):
        act(pay.id, "resolve", code="made-up")
    alert, transition = act(pay.id, "resolve", code="fixed", note="refunded the double charge")
    assert (alert.status, transition) == ("resolved", "resolved")
    assert alert.details["resolution"]["code"] == "fixed"
    # once resolved, the next critical item opens a new alert for the stage
    again = _process(engine, journey, [classified(stage="pay", severity="critical")], now=clock())
    assert ("pay", "critical_item", "opened") in again.transitions


def test_owner_changes_and_relabels_are_audited(engine: Engine, journey: JourneyMap) -> None:
    item = classified(stage="pay")
    _process(engine, journey, [item])
    with Session(engine) as session:
        set_owners(
            session=session,
            journey=journey,
            stage="pay",
            accountable="customer-care",
            contributing=["billing"],
            by="ops",
            at=T0,
        )
        correction = relabel(
            session=session, feedback_id=item.id, stage="use", by="ops", now=T0, corrections_topic="t.corr"
        )
        session.commit()
        assert correction is not None and correction.previous_stage == "pay"
        entries = audit_log(session=session)
        assert entries[0].action == "ownership.update" and entries[0].actor == "ops"
        assert entries[0].before["accountable"] == "billing" and entries[0].after["accountable"] == "customer-care"
        row = session.get(FeedbackItem, item.id)
        assert row is not None and (row.stage, row.original_stage, row.corrected_by) == ("use", "pay", "ops")
        event = session.execute(select(OutboxEntry).where(OutboxEntry.target == "t.corr")).scalars().one()  # type: ignore[arg-type]
        assert event.event_type == "io.journeyline.feedback.corrected"
        assert set(event.payload) == {"id", "stage", "previous_stage", "text", "by", "at"}


def test_volume_spike_against_the_trailing_baseline(engine: Engine, journey: JourneyMap) -> None:
    baseline = [classified(stage="use", label="positive", at=T0 - timedelta(hours=h)) for h in range(2, 26)]  # 1/h
    assert _process(engine, journey, baseline).transitions == []
    burst = _process(engine, journey, [classified(stage="use", label="positive") for _ in range(30)])
    assert burst.transitions == [("use", "volume_spike", "opened")]


def test_escalation_reaches_the_escalation_team(engine: Engine, journey: JourneyMap) -> None:
    with Session(engine) as session:
        upsert_team(
            session=session,
            team_id="cto-office",
            name=None,
            escalation=None,
            receivers=[{"type": "webhook", "url": "http://x/cto"}],
            by="t",
            at=T0,
        )
        session.commit()
    _process(engine, journey, [classified(stage="use", severity="critical")])
    assert [t for _, _, t in tidy(engine, journey, T0 + timedelta(hours=1))] == ["escalated"]
    with Session(engine, expire_on_commit=False) as session:
        rows = [
            (o.team, o.payload["role"])
            for o in session.execute(select(OutboxEntry)).scalars()
            if o.transition == "escalated" and o.receiver == "webhook"
        ]
    assert rows == [("cto-office", "escalation")]


def test_a_receiver_gets_an_alerts_transitions_in_order(engine: Engine, journey: JourneyMap) -> None:
    from services.accountability.delivery import Dispatcher

    with Session(engine) as session:
        upsert_team(
            session=session,
            team_id="billing",
            name=None,
            escalation=None,
            receivers=[{"type": "webhook", "url": "http://x/b"}],
            by="t",
            at=T0,
        )
        session.commit()
    _process(engine, journey, [classified(stage="pay", severity="critical")])
    with Session(engine, expire_on_commit=False) as session:
        alert = session.execute(select(Alert)).scalars().one()
        change_alert(
            session=session, journey=journey, alert_id=alert.id, action="ack", by="ann", now=T0, alerts_topic=TOPIC
        )
        session.commit()
        pending = [o.id for o in session.execute(select(OutboxEntry).order_by(OutboxEntry.id)).scalars()]  # type: ignore[arg-type]
        ready = Dispatcher._first_in_line(session, [i for i in pending if i is not None])
        transitions = {o.id: o.transition for o in session.execute(select(OutboxEntry)).scalars()}
    assert len(pending) == 4 and {transitions[i] for i in ready} == {"opened"}  # acknowledged waits for opened
