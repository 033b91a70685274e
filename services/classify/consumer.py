"""The Kafka side of classify: received -> classified (poison -> DLQ), and corrections -> training rows."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from pydantic import ValidationError

from services.classify import metrics
from services.classify.models import Correction
from shared.cloudevents import CloudEvent, CloudEventError, decode, encode
from shared.kafka import record_ref, send_to_dlq
from shared.models import EventType, Feedback, utcnow

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer, ConsumerRecord

    from services.classify.service import Classifier
    from services.classify.training import CorrectionStore
    from shared.settings import Topics

log = logging.getLogger(__name__)

CLASSIFY_SOURCE = "/journeyline/classify"


class Rejected(Exception):
    """A record that can never be processed: it goes to the DLQ with `reason`."""

    def __init__(self, reason: str, error: str) -> None:
        super().__init__(error)
        self.reason, self.error = reason, error


def read_feedback(record: ConsumerRecord) -> tuple[CloudEvent, Feedback]:
    """Decode a received-feedback CloudEvent; raise Rejected with the reason when it is poison."""
    try:
        event = decode(record.headers, record.value)
    except CloudEventError as exc:
        raise Rejected("undecodable", str(exc)) from exc
    if event.type != EventType.feedback_received:
        raise Rejected("unexpected_type", f"ce_type {event.type!r} is not {EventType.feedback_received.value!r}")
    try:
        feedback = Feedback.model_validate(event.data)
    except ValidationError as exc:
        raise Rejected("invalid_feedback", _short(exc)) from exc
    if feedback.id != event.id:
        raise Rejected("invalid_feedback", f"data id {feedback.id!r} differs from ce_id {event.id!r}")
    return event, feedback


def _short(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])


class ClassifyHandler:
    """Handles one consumer batch: classify every good record, produce them all, wait for every ack."""

    def __init__(self, *, classifier: Classifier, producer: AIOKafkaProducer, topics: Topics, group: str) -> None:
        self.classifier, self.producer, self.topics, self.group = classifier, producer, topics, group

    async def __call__(self, records: list[ConsumerRecord]) -> None:
        good: list[tuple[ConsumerRecord, CloudEvent, Feedback]] = []
        for record in records:
            try:
                event, feedback = read_feedback(record)
            except Rejected as exc:
                await self._dead_letter(record, exc)
                continue
            good.append((record, event, feedback))
        if not good:
            return
        started = time.perf_counter()
        try:
            items = [f for _, _, f in good]
            if self.classifier.backend_name == "tfidf":  # ~25 ms for 500 items: fine on the loop
                results = self.classifier.classify_many(items)
            else:  # an encoder takes seconds per batch: off the loop, so heartbeats and HTTP carry on
                results = await asyncio.to_thread(self.classifier.classify_many, items)
        except Exception:  # one bad item must not stop the batch: find it by classifying one at a time
            log.exception("batch classification failed; retrying item by item", extra={"group": self.group})
            results = []
            kept = []
            for item in good:
                try:
                    results.append(self.classifier.classify(item[2]))
                    kept.append(item)
                except Exception as exc:  # this item is poison for the classifier
                    await self._dead_letter(item[0], Rejected("unclassifiable", f"{type(exc).__name__}: {exc}"))
            good = kept
        per_item = (time.perf_counter() - started) / max(1, len(good))
        backend = self.classifier.backend_name
        sends = []
        for (record, event, feedback), classification in zip(good, results, strict=True):
            data = feedback.model_dump(mode="json")
            data["classification"] = classification.model_dump(mode="json")
            headers, value = encode(
                CloudEvent(
                    id=event.id,
                    source=CLASSIFY_SOURCE,
                    type=EventType.feedback_classified.value,
                    data=data,
                    time=utcnow(),
                    subject=event.subject,
                )
            )
            sends.append(await self.producer.send(self.topics.classified, value=value, key=record.key, headers=headers))
            metrics.ITEMS.labels(classification.stage, classification.method.value, backend).inc()
            metrics.DURATION.labels(backend).observe(per_item)
            metrics.CONFIDENCE.labels(backend).observe(classification.confidence)
            metrics.SEVERITY.labels(classification.severity.value).inc()
        await asyncio.gather(*sends)  # every produce acknowledged before the loop commits

    async def _dead_letter(self, record: ConsumerRecord, exc: Rejected) -> None:
        await dead_letter(self.producer, topics=self.topics, group=self.group, record=record, exc=exc)


async def dead_letter(
    producer: AIOKafkaProducer, *, topics: Topics, group: str, record: ConsumerRecord, exc: Rejected
) -> None:
    """A record this service cannot use goes to the DLQ with the rejection's reason and error."""
    await send_to_dlq(producer, dlq_topic=topics.dlq, record=record, group=group, reason=exc.reason, error=exc.error)


class CorrectionsHandler:
    """Stores stage corrections as labelled training rows; poison goes to the DLQ."""

    def __init__(
        self,
        *,
        store: CorrectionStore,
        producer: AIOKafkaProducer,
        topics: Topics,
        group: str,
        stages: set[str],
        on_stored: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self.store, self.producer, self.topics, self.group, self.stages = store, producer, topics, group, stages
        self.on_stored = on_stored  # e.g. ModelKeeper.corrections_stored: retrain after N new corrections

    async def __call__(self, records: list[ConsumerRecord]) -> None:
        kept: list[Correction] = []
        total = 0
        for record in records:
            try:
                item = self._read(record)
            except Rejected as exc:
                await dead_letter(self.producer, topics=self.topics, group=self.group, record=record, exc=exc)
                continue
            if isinstance(item, Correction):
                kept.append(item)
                continue
            if kept:  # keep the order: corrections read before the erasure are stored, then erased with it
                await asyncio.to_thread(self.store.append, kept)
                metrics.CORRECTIONS.inc(len(kept))
                total += len(kept)
                kept = []
            removed = await asyncio.to_thread(self.store.erase, item)
            log.info("erased a customer's training rows", extra={"removed": removed, "ref": record_ref(record)})
        if kept:
            await asyncio.to_thread(self.store.append, kept)
            metrics.CORRECTIONS.inc(len(kept))
            log.info("stored corrections", extra={"count": len(kept), "ref": record_ref(records[-1])})
            total += len(kept)
        if self.on_stored is not None and total:
            await self.on_stored(total)

    def _read(self, record: ConsumerRecord) -> Correction | list[str]:
        """A correction, or the feedback ids of an erased customer."""
        try:
            event = decode(record.headers, record.value)
        except CloudEventError as exc:
            raise Rejected("undecodable", str(exc)) from exc
        if event.type == EventType.customer_erased:
            ids = event.data.get("feedback_ids") if isinstance(event.data, dict) else None
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise Rejected("invalid_erasure", "feedback_ids: must be a list of ids")
            return ids
        if event.type != EventType.feedback_corrected:
            raise Rejected("unexpected_type", f"ce_type {event.type!r} is not {EventType.feedback_corrected.value!r}")
        try:
            correction = Correction.model_validate(event.data)
        except ValidationError as exc:
            raise Rejected("invalid_correction", _short(exc)) from exc
        if correction.stage not in self.stages:
            raise Rejected("invalid_correction", f"unknown stage {correction.stage!r}")
        return correction
