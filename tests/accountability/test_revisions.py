"""A later version of an item (a survey response updated with its comment, an edited review) is a revision: the
stored row takes the new content, its figures move between roll-up buckets and it is counted once; a replay of
the same content and an older version arriving late change nothing; a stage a person corrected stays."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from services.accountability.migrate import upgrade
from services.accountability.scorecard import stage_numbers
from services.accountability.store import correct_stage, get_feedback, store_batch
from shared.db import make_engine
from shared.models import ClassifiedFeedback
from tests.accountability.factories import T0, classified

END = T0 + timedelta(hours=1)


def _later(item: ClassifiedFeedback, seconds: float, **changes: object) -> ClassifiedFeedback:
    """The same item (same id) received again `seconds` later, with `changes` to its fields."""
    data = item.model_dump(mode="json")
    data["received_at"] = (item.received_at + timedelta(seconds=seconds)).isoformat()
    for key, value in changes.items():
        if key in ("stage", "label", "score"):
            sentiment = data["classification"]["sentiment"]
            if key == "stage":
                data["classification"]["stage"] = value
            elif key == "label":
                sentiment["label"] = value
            else:
                sentiment["score"] = value
        else:
            data[key] = value
    return ClassifiedFeedback.model_validate(data)


def test_an_updated_survey_response_replaces_the_stored_one_and_moves_its_figures(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    first = classified(item_id="resp-1", stage="use", label="neutral", text=None, scores={"nps": 9})  # type: ignore[arg-type]
    with Session(engine) as session:
        store_batch(session=session, items=[first], stored_at=T0)
        session.commit()
        updated = _later(
            first, 60, text="App logs me out every day", scores={"nps": 3}, label="negative", score=-0.6, stage="pay"
        )
        assert store_batch(session=session, items=[updated], stored_at=T0) == []  # not new: no second moment
        session.commit()
        row = get_feedback(session=session, feedback_id="resp-1")
        assert row is not None and row.text == "App logs me out every day" and row.nps == 3 and row.stage == "pay"
        assert row.data["revision"] == 1
        figures = stage_numbers(session=session, start=T0 - timedelta(minutes=1), end=END)
        assert "use" not in figures or figures["use"].volume == 0  # moved out of its old stage's bucket
        assert figures["pay"].volume == 1 and figures["pay"].negative == 1 and figures["pay"].detractors == 1
        assert figures["pay"].promoters == 0

        # a replay of the update, and the first version arriving late: nothing changes
        store_batch(session=session, items=[_later(updated, 30), first], stored_at=T0)
        session.commit()
        again = get_feedback(session=session, feedback_id="resp-1")
        assert again is not None and again.data["revision"] == 1 and again.text == "App logs me out every day"
        assert stage_numbers(session=session, start=T0 - timedelta(minutes=1), end=END)["pay"].volume == 1
    engine.dispose()


def test_a_revision_keeps_the_stage_a_person_corrected(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    first = classified(item_id="rev-2", stage="use")
    with Session(engine) as session:
        store_batch(session=session, items=[first], stored_at=T0)
        row = get_feedback(session=session, feedback_id="rev-2")
        assert row is not None
        correct_stage(session=session, item=row, stage="get_help", by="ops", at=T0)
        session.commit()
        store_batch(session=session, items=[_later(first, 60, text="edited: agent never called back")], stored_at=T0)
        session.commit()
        row = get_feedback(session=session, feedback_id="rev-2")
        assert row is not None and row.stage == "get_help" and row.text == "edited: agent never called back"
        figures = stage_numbers(session=session, start=T0 - timedelta(minutes=1), end=END)
        assert figures["get_help"].volume == 1
        assert "use" not in figures or figures["use"].volume == 0
    engine.dispose()
