"""Erasing a customer everywhere keeps every other figure right; free text expires while counts stay."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session

from services.accountability.migrate import upgrade
from services.accountability.models import CustomerMomentState, FeedbackItem, MomentOccurrence, OutboxEntry
from services.accountability.privacy import erase_customer, expire_text
from services.accountability.rollup import rebuild, window_sums
from services.accountability.scorecard import stage_numbers
from services.accountability.store import get_feedback, store_batch
from services.classify.models import Correction
from services.classify.training import CorrectionStore
from shared.db import make_engine
from shared.models import ClassifiedFeedback
from shared.settings import KafkaSettings
from tests.accountability.factories import T0, MovableClock, classified
from tests.accountability.harness import ADMIN, OPERATOR, running, settings_for

END = T0 + timedelta(hours=1)
OPERATIONS = ["contacts", "wait_sum", "wait_n", "handle_sum", "handle_n", "hold_sum", "hold_n"]
OPERATIONS += ["transfers_sum", "transfers_n"]


def test_erasing_a_customer_removes_their_items_moments_and_state_and_keeps_the_rest_right(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    gone = [classified(customer="CUS-GONE", stage="pay", label="negative", scores={"nps": 2}) for _ in range(3)]
    kept = [classified(customer="CUS-KEPT", stage="pay", label="positive", scores={"nps": 10}) for _ in range(2)]
    with Session(engine) as session:
        store_batch(session=session, items=gone + kept, stored_at=T0)
        session.add(CustomerMomentState(customer_id="CUS-GONE", moment_id="third_contact_30d", count=3, updated_at=T0))
        session.add(
            MomentOccurrence(
                moment_id="third_contact_30d", stage="get_help", customer_id="CUS-GONE", feedback_id=gone[0].id,
                count=3, occurred_at=T0,
            )
        )  # fmt: skip
        session.commit()
        receipt = erase_customer(session=session, customer_id="CUS-GONE", now=END, corrections_topic="x.corrections")
        session.commit()
        assert (receipt.feedback_items, receipt.moments, receipt.moment_states) == (3, 1, 1)
        assert all(get_feedback(session=session, feedback_id=i.id) is None for i in gone)
        assert all(get_feedback(session=session, feedback_id=i.id) is not None for i in kept)
        pay = stage_numbers(session=session, start=T0 - timedelta(minutes=1), end=END)["pay"]
        assert (pay.volume, pay.negative, pay.promoters, pay.detractors) == (2, 0, 2, 0)  # only the kept customer
        (erasure,) = [o for o in session.execute(select(OutboxEntry)).scalars() if o.transition == "erased"]
        assert erasure.event_type == "io.journeyline.customer.erased" and erasure.target == "x.corrections"
        assert sorted(erasure.payload["feedback_ids"]) == sorted(i.id for i in gone)
        assert "CUS-GONE" not in {r.customer_id for r in session.execute(select(FeedbackItem)).scalars()}
    engine.dispose()


def test_erasing_a_customer_takes_their_contact_timings_out_of_the_rollups(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)

    def contact(customer: str, **metadata: str) -> ClassifiedFeedback:
        return classified(customer=customer, stage="get_help", kind="contact", metadata=metadata)

    gone = [
        contact("CUS-GONE", wait_seconds="900", handle_seconds="1200", hold_seconds="300", transfers="3"),
        contact("CUS-GONE", wait_seconds="bad", handle_seconds="600"),
    ]
    kept = [
        contact("CUS-KEPT", wait_seconds="60", handle_seconds="240", transfers="0"),
        contact("CUS-KEPT", wait_seconds="30", hold_seconds="15"),
    ]
    with Session(engine) as session:
        store_batch(session=session, items=gone + kept, stored_at=T0)
        session.commit()
        erase_customer(session=session, customer_id="CUS-GONE", now=END, corrections_topic="x.corrections")
        session.commit()
        window = {"start": T0 - timedelta(minutes=1), "end": END}
        after = window_sums(session=session, **window)
        ops = {k: v for k, v in after["get_help"].items() if k in OPERATIONS}
        assert ops == {
            "contacts": 2, "wait_sum": 90, "wait_n": 2, "handle_sum": 240, "handle_n": 1, "hold_sum": 15,
            "hold_n": 1, "transfers_sum": 0, "transfers_n": 1,
        }  # fmt: skip
        numbers = stage_numbers(session=session, **window)["get_help"]
        assert (numbers.contacts, numbers.wait_mean, numbers.handle_mean) == (2, 45.0, 240.0)
        rebuild(session=session)  # a recount from the remaining rows agrees
        assert window_sums(session=session, **window) == after
    engine.dispose()


def test_free_text_expires_after_the_retention_period_and_the_counts_stay(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    old = [classified(at=T0, text="my card number was charged twice") for _ in range(3)]
    new = [classified(at=T0 + timedelta(days=40), text="still charged twice") for _ in range(2)]
    with Session(engine) as session:
        store_batch(session=session, items=old + new, stored_at=T0)
        session.commit()
        expired = expire_text(session=session, older_than=timedelta(days=30), now=T0 + timedelta(days=41))
        session.commit()
        assert expired == 3
        assert all(get_feedback(session=session, feedback_id=i.id).text is None for i in old)  # type: ignore[union-attr]
        assert all(get_feedback(session=session, feedback_id=i.id).data["text"] is None for i in old)  # type: ignore[union-attr]
        assert all(get_feedback(session=session, feedback_id=i.id).text for i in new)  # type: ignore[union-attr]
        assert (
            stage_numbers(session=session, start=T0 - timedelta(minutes=1), end=T0 + timedelta(days=41))["pay"].volume
            == 5
        )
    engine.dispose()


def test_classify_drops_an_erased_customers_training_rows(tmp_path: Path) -> None:
    store = CorrectionStore(tmp_path)
    rows = [Correction(id=f"f{i}", stage="pay", text=f"text {i}", by="ops", at=T0) for i in range(5)]
    store.append(rows)
    assert store.erase(["f1", "f3", "unknown"]) == 2
    assert sorted(c.id for c in store.read()) == ["f0", "f2", "f4"]


async def test_only_an_admin_may_erase_and_the_answer_is_the_receipt(kafka: KafkaSettings, sqlite_url: str) -> None:
    async with running(settings_for(kafka, sqlite_url), MovableClock()) as (_, client):
        assert (await client.delete("/v1/customers/CUS-1", headers=OPERATOR)).status_code == 403
        receipt = await client.delete("/v1/customers/CUS-1", headers=ADMIN)
        assert receipt.status_code == 200 and receipt.json()["customer_id"] == "CUS-1"
        assert receipt.json()["feedback_items"] == 0
        audit = (await client.get("/v1/audit", headers=ADMIN)).json()
        assert audit[0]["action"] == "customer.erase"


def test_erasure_and_text_expiry_reach_the_examples_alerts_recorded(database_url: str) -> None:
    from services.accountability.service import process_batch
    from shared.journey import load_journey_map
    from shared.settings import DEFAULT_JOURNEY_MAP

    engine = make_engine(database_url)
    upgrade(engine)
    journey = load_journey_map(DEFAULT_JOURNEY_MAP)
    secret = classified(customer="CUS-GONE", stage="pay", severity="critical", text="my card 4111 was charged twice")
    old = classified(customer="CUS-OLD", stage="use", severity="critical", text="the app ate my savings")
    with Session(engine, expire_on_commit=False) as session:
        process_batch(session=session, journey=journey, items=[secret, old], now=T0, alerts_topic="x.alerts")
        session.commit()

        def examples() -> dict[str, list[dict[str, object]]]:
            from services.accountability.models import Alert

            return {a.stage: a.details["evidence"]["examples"] for a in session.execute(select(Alert)).scalars()}

        assert [e["id"] for e in examples()["pay"]] == [secret.id]
        erase_customer(session=session, customer_id="CUS-GONE", now=END, corrections_topic="x.corrections")
        expire_text(session=session, older_than=timedelta(minutes=30), now=END)
        session.commit()
        session.expire_all()
        found = examples()
        assert found["pay"] == []  # the erased customer's complaint is no longer quoted by its alert
        assert [(e["id"], e["text"]) for e in found["use"]] == [(old.id, None)]  # expired text: the item stays
    engine.dispose()
