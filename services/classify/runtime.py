"""The running classify service: language detector, model, producers and the two consumer loops, started and
stopped together."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from aiokafka import AIOKafkaProducer

from services.classify import language, metrics
from services.classify.consumer import ClassifyHandler, CorrectionsHandler
from services.classify.model_store import load_or_train
from services.classify.retrain import ModelKeeper
from services.classify.service import Classifier
from services.classify.settings import ClassifySettings
from services.classify.training import CorrectionStore
from shared.http import ReadinessCheck
from shared.journey import load_journey_map
from shared.kafka import ConsumerLoop, broker_reachable, ensure_topics, make_consumer, make_producer
from shared.wiring import all_ready

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: ClassifySettings) -> None:
        if settings.exactly_once and settings.kafka.engine != "kafka":
            raise RuntimeError("CLASSIFY_EXACTLY_ONCE needs Apache Kafka (KAFKA_ENGINE=kafka)")
        self.settings = settings
        self.journey = load_journey_map(settings.journey_map)
        self.classifier: Classifier | None = None  # loaded in start(): training can take seconds
        self.producer: AIOKafkaProducer | None = None
        self.transactional: AIOKafkaProducer | None = None
        self.loops: list[ConsumerLoop] = []
        self.keeper: ModelKeeper | None = None  # retrains after N corrections, follows a rollback
        self.keeper_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        settings, journey = self.settings, self.journey
        await asyncio.to_thread(language.load)  # the language detector, loaded before the first text needs it
        model = await asyncio.to_thread(
            load_or_train,
            journey=journey,
            backend_name=settings.backend,
            model_dir=settings.model_dir,
            pinned=settings.model_version,
        )
        threshold = (
            settings.confidence_threshold
            if settings.confidence_threshold is not None
            else journey.triage.confidence_threshold
        )
        classifier = Classifier(journey, model, threshold, trust_stage_hints=settings.trust_stage_hints)
        metrics.init_metrics(stages=journey.stage_ids, backend=classifier.backend_name)
        self.keeper = keeper = ModelKeeper.from_settings(classifier, settings)
        kafka, topics = settings.kafka, settings.topics
        group, corrections_group = topics.group("classify"), topics.group("classify-corrections")
        await ensure_topics(kafka, [topics.received, topics.classified, topics.dlq, topics.corrections])
        self.producer = producer = make_producer(kafka, client_id="classify")
        await producer.start()
        # With exactly-once, classified records (and the DLQ copies) go through a transactional producer of their
        # own, whose id stays the same across restarts of this instance: a restart aborts what the dead one left open.
        if settings.exactly_once:
            self.transactional = make_producer(
                kafka, client_id="classify-tx", transactional_id=f"{group}-{settings.instance_id}"
            )
            await self.transactional.start()
        feedback_consumer = make_consumer(kafka, group=group, topics=[topics.received], client_id="classify")
        corrections_consumer = make_consumer(
            kafka, group=corrections_group, topics=[topics.corrections], client_id="classify-corrections"
        )
        await feedback_consumer.start()
        await corrections_consumer.start()
        self.loops = [
            ConsumerLoop(
                feedback_consumer,
                ClassifyHandler(
                    classifier=classifier, producer=self.transactional or producer, topics=topics, group=group
                ),
                group=group,
                max_records=settings.max_batch,
                min_poll_interval_ms=kafka.poll_interval_ms,
                transactional=self.transactional,
            ),
            ConsumerLoop(
                corrections_consumer,
                CorrectionsHandler(
                    store=CorrectionStore(settings.model_dir),
                    producer=producer,
                    topics=topics,
                    group=corrections_group,
                    stages={s.id for s in journey.stages},
                    on_stored=keeper.corrections_stored,
                ),
                group=corrections_group,
            ),
        ]
        for loop in self.loops:
            loop.start()
        self.keeper_task = asyncio.create_task(keeper.watch(), name="model-keeper")
        self.classifier = classifier
        log.info("classify ready", extra={"backend": classifier.backend_name, "model_version": model.version})

    async def stop(self) -> None:
        if self.keeper_task is not None:
            self.keeper_task.cancel()
        if self.keeper is not None:
            await self.keeper.stop()
        for loop in self.loops:
            await loop.stop()
        for producer in (self.producer, self.transactional):
            if producer is not None:
                await producer.stop()

    def checks(self) -> Mapping[str, ReadinessCheck]:
        return {"broker": self.broker_ready, "consumer": self.consumers_alive}

    async def ready(self) -> bool:
        return await all_ready(self.checks())

    async def broker_ready(self) -> bool:
        return self.producer is not None and await broker_reachable(self.producer)

    async def consumers_alive(self) -> bool:
        """Every loop runs and its last poll succeeded: a loop that keeps backing off makes classify not ready."""
        return bool(self.loops) and all(loop.alive and loop.healthy for loop in self.loops)
