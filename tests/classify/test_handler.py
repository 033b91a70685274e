"""The batch handler's poison path without a broker: one item the classifier chokes on goes to the DLQ
as `unclassifiable`, the rest of the batch is still produced (a recording stand-in for the producer)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiokafka import ConsumerRecord

from services.classify.consumer import ClassifyHandler
from services.classify.service import Classifier
from shared.cloudevents import CloudEvent, decode, encode
from shared.models import Classification, EventType, Feedback
from shared.settings import Topics
from tests.classify.factories import classifier, feedback


class ChokesOnBoom(Classifier):
    def classify_many(self, items: Any) -> list[Classification]:
        if any(i.text == "boom" for i in items):
            raise RuntimeError("model exploded")
        return super().classify_many(items)


@dataclass
class RecordingProducer:
    sent: list[tuple[str, bytes | None, Any]] = field(default_factory=list)

    async def send(self, topic: str, *, value: bytes, key: bytes | None, headers: Any) -> asyncio.Future[None]:
        self.sent.append((topic, value, headers))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def send_and_wait(self, topic: str, *, value: bytes | None, key: bytes | None, headers: Any) -> None:
        self.sent.append((topic, value, headers))


def _record(offset: int, item: Feedback) -> ConsumerRecord:
    headers, value = encode(
        CloudEvent(id=item.id, source="t", type=EventType.feedback_received.value, data=item.model_dump(mode="json"))
    )
    return ConsumerRecord("t.received", 0, offset, 0, 0, b"k", value, None, len(value), 0, headers)


async def test_an_unclassifiable_item_goes_to_the_dlq_and_the_rest_are_produced() -> None:
    base = classifier()
    chokes = ChokesOnBoom(base.journey, base.model, base.threshold)
    items = [feedback("Still waiting for my refund"), feedback("boom"), feedback("On hold for an hour")]
    producer = RecordingProducer()
    topics = Topics(prefix="t.")
    handler = ClassifyHandler(classifier=chokes, producer=producer, topics=topics, group="t.classify")  # type: ignore[arg-type]
    await handler([_record(i, item) for i, item in enumerate(items)])
    dlq = [(v, dict(h)) for t, v, h in producer.sent if t == topics.dlq]
    out = [decode(h, v) for t, v, h in producer.sent if t == topics.classified]
    assert len(dlq) == 1 and dlq[0][1]["dlq_reason"] == b"unclassifiable"
    assert b"model exploded" in dlq[0][1]["dlq_error"]
    assert [e.id for e in out] == [items[0].id, items[2].id]
    assert [e.data["classification"]["stage"] for e in out] == ["pay", "get_help"]
