"""The Kafka side: read classified feedback, store it (one transaction per batch), then let the loop commit."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from aiokafka import ConsumerRecord
from pydantic import ValidationError
from sqlalchemy.exc import DataError, DBAPIError, DisconnectionError, IntegrityError, InterfaceError, OperationalError
from sqlmodel import Session

from services.accountability import metrics
from services.accountability.conditions import WindowCache
from services.accountability.service import BatchOutcome, process_batch
from shared.cloudevents import CloudEventError, decode
from shared.kafka import RetryableError, record_ref, send_to_dlq
from shared.models import ClassifiedFeedback, EventType

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer
    from sqlalchemy.engine import Engine

    from services.accountability.service import Clock
    from shared.journey import JourneyMap
    from shared.settings import Topics

log = logging.getLogger(__name__)


class FeedbackConsumer:
    """`handle(records)` for `ConsumerLoop`: poison records go to the DLQ, the rest are stored exactly once."""

    def __init__(
        self,
        *,
        engine: Engine,
        producer: AIOKafkaProducer,
        journey: JourneyMap,
        topics: Topics,
        group: str,
        clock: Clock,
        on_stored: Callable[[], None] = lambda: None,
        window_refresh: timedelta = timedelta(seconds=5),
    ) -> None:
        self.engine, self.producer, self.journey, self.topics = engine, producer, journey, topics
        self.group, self.clock, self.on_stored = group, clock, on_stored
        self.windows = WindowCache(window_refresh)

    async def handle(self, records: list[ConsumerRecord]) -> None:
        items: list[ClassifiedFeedback] = []
        for record in records:
            item = await self._parse(record)
            if item is not None:
                items.append(item)
        if not items:
            return
        started = time.perf_counter()
        try:
            outcome = await asyncio.to_thread(self._store, items)
        except (OperationalError, InterfaceError, DisconnectionError) as exc:
            raise RetryableError(f"database unavailable: {type(exc).__name__}") from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise RetryableError("database connection lost") from exc
            if not isinstance(exc, DataError | IntegrityError):
                # Our own SQL or schema is wrong (ProgrammingError …): that is no reason to dead-letter the data.
                # Back off without committing; /readyz reports the consumer unhealthy until it is fixed.
                raise RetryableError(f"database refused the batch: {type(exc).__name__}") from exc
            # Something in this batch the database refuses: store item by item, the bad one goes to the DLQ.
            log.warning("batch refused by the database; storing one by one", extra={"error": type(exc).__name__})
            outcome = await self._one_by_one(records, items)
        metrics.STORE_BATCH_DURATION.observe(time.perf_counter() - started)
        self._count(outcome)
        log.debug(
            "batch stored",
            extra={"ref": record_ref(records[0]), "records": len(records), "new": len(outcome.stored)},
        )
        if outcome.outbox_rows:
            self.on_stored()

    async def _parse(self, record: ConsumerRecord) -> ClassifiedFeedback | None:
        try:
            event = decode(record.headers, record.value)
            if event.type != EventType.feedback_classified.value:
                raise CloudEventError(f"unexpected event type {event.type!r}")
            return ClassifiedFeedback.model_validate(event.data)
        except CloudEventError as exc:
            await self._dlq(record, "invalid_cloudevent", str(exc))
        except ValidationError as exc:
            await self._dlq(record, "invalid_feedback", str(exc))
        return None

    async def _dlq(self, record: ConsumerRecord, reason: str, error: str) -> None:
        await send_to_dlq(
            self.producer, dlq_topic=self.topics.dlq, record=record, group=self.group, reason=reason, error=error
        )

    def _store(self, items: list[ClassifiedFeedback]) -> BatchOutcome:
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                outcome = process_batch(
                    session=session,
                    journey=self.journey,
                    items=items,
                    now=self.clock(),
                    alerts_topic=self.topics.alerts,
                    windows=self.windows,
                )
                session.commit()
                return outcome
        except Exception:
            self.windows.clear()  # the rolled-back items were counted in; start again from the database
            raise

    async def _one_by_one(self, records: list[ConsumerRecord], items: list[ClassifiedFeedback]) -> BatchOutcome:
        total = BatchOutcome()
        by_id: dict[str, ConsumerRecord] = {}
        for record in records:
            try:
                by_id.setdefault(decode(record.headers, record.value).data.get("id"), record)
            except (CloudEventError, AttributeError):
                continue
        for item in items:
            try:
                outcome = await asyncio.to_thread(self._store, [item])
            except (OperationalError, InterfaceError, DisconnectionError) as exc:
                raise RetryableError(f"database unavailable: {type(exc).__name__}") from exc
            except DBAPIError as exc:
                record = by_id.get(item.id)
                if record is None or not isinstance(exc, DataError | IntegrityError):
                    raise RetryableError(f"database refused an item: {type(exc).__name__}") from exc
                await self._dlq(record, "store_refused", type(exc).__name__)
                log.warning("item refused by the database", extra={"ref": record_ref(record), "event_id": item.id})
                continue
            total.stored += outcome.stored
            total.moments += outcome.moments
            total.transitions += outcome.transitions
            total.outbox_rows += outcome.outbox_rows
        return total

    def _count(self, outcome: BatchOutcome) -> None:
        for item in outcome.stored:
            metrics.FEEDBACK_STORED.labels(metrics.stage_label(item.stage, self.journey), item.channel).inc()
        for hit in outcome.moments:
            metrics.MOMENTS.labels(hit.moment_id, hit.stage).inc()
        for stage, rule, transition in outcome.transitions:
            metrics.ALERTS.labels(stage, rule, transition).inc()
            if transition != "updated":
                log.info("alert %s", transition, extra={"stage": stage, "rule": rule})
        for hit in outcome.moments:
            log.info(
                "moment of truth", extra={"moment": hit.moment_id, "stage": hit.stage, "event_id": hit.feedback_id}
            )
