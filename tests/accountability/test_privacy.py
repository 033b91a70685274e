"""Erasing a customer everywhere keeps every other figure right; free text expires while counts stay."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session

from services.accountability.migrate import upgrade
from services.accountability.models import CustomerMomentState, FeedbackItem, MomentOccurrence, OutboxEntry
from services.accountability.privacy import erase_customer, expire_text
from services.accountability.scorecard import stage_numbers
from services.accountability.store import get_feedback, store_batch
from services.classify.models import Correction
from services.classify.training import CorrectionStore
from shared.db import make_engine
from shared.settings import KafkaSettings
from tests.accountability.factories import T0, MovableClock, classified
from tests.accountability.harness import ADMIN, OPERATOR, running, settings_for

END = T0 + timedelta(hours=1)


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
