"""Which database errors dead-letter a record and which only pause the consumer (no network needed)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy.exc import IntegrityError, ProgrammingError

from services.accountability.consumer import FeedbackConsumer
from services.accountability.service import BatchOutcome
from shared.journey import load_journey_map
from shared.kafka import RetryableError
from shared.settings import DEFAULT_JOURNEY_MAP, Topics
from tests.accountability.factories import classified, record_parts


class _Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    async def send_and_wait(self, topic: str, **kwargs: Any) -> None:
        self.sent.append((topic, kwargs))


def _record(offset: int) -> ConsumerRecord:
    headers, value, key = record_parts(classified(item_id=f"item-{offset}"))
    return ConsumerRecord("t", 0, offset, 0, 0, key, value, None, len(key), len(value), headers)


def _consumer(producer: _Producer, error: Exception) -> FeedbackConsumer:
    consumer = FeedbackConsumer(
        engine=SimpleNamespace(),  # type: ignore[arg-type]
        producer=producer,  # type: ignore[arg-type]
        journey=load_journey_map(DEFAULT_JOURNEY_MAP),
        topics=Topics(prefix="x."),
        group="accountability",
        clock=lambda: classified().received_at,
    )

    def refuse(items: list) -> BatchOutcome:
        raise error

    consumer._store = refuse  # type: ignore[method-assign]
    return consumer


async def test_a_bug_in_our_own_sql_pauses_the_consumer_and_dead_letters_nothing() -> None:
    producer = _Producer()
    consumer = _consumer(producer, ProgrammingError("INSERT …", {}, Exception("column does not exist")))
    with pytest.raises(RetryableError, match="ProgrammingError"):
        await consumer.handle([_record(1), _record(2)])
    assert producer.sent == []


async def test_a_row_the_database_refuses_goes_to_the_dlq_alone() -> None:
    producer = _Producer()
    consumer = _consumer(producer, IntegrityError("INSERT …", {}, Exception("value too long")))
    await consumer.handle([_record(1), _record(2)])
    assert [topic for topic, _ in producer.sent] == ["x.cx.feedback.dlq", "x.cx.feedback.dlq"]
    reasons = {dict(kwargs["headers"])["dlq_reason"] for _, kwargs in producer.sent}
    assert reasons == {b"store_refused"}
