"""Wiring of the classify service: settings, model, producer, the two consumer loops, routes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.classify import language, metrics
from services.classify.api import router
from services.classify.consumer import ClassifyHandler, CorrectionsHandler
from services.classify.service import Classifier
from services.classify.settings import ClassifySettings
from services.classify.training import CorrectionStore, load_or_train
from shared.http import BodyLimit, install_problem_handlers, ops_router
from shared.journey import load_journey_map
from shared.kafka import ConsumerLoop, broker_reachable, ensure_topics, make_consumer, make_producer
from shared.logging import configure_logging

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = ClassifySettings()
    configure_logging("classify", settings.log_level)
    journey = load_journey_map(settings.journey_map)
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
    kafka, topics = settings.kafka, settings.topics
    group, corrections_group = topics.group("classify"), topics.group("classify-corrections")
    if settings.exactly_once and kafka.engine != "kafka":
        raise RuntimeError("CLASSIFY_EXACTLY_ONCE needs Apache Kafka (KAFKA_ENGINE=kafka)")
    await ensure_topics(kafka, [topics.received, topics.classified, topics.dlq, topics.corrections])
    producer = make_producer(kafka, client_id="classify")
    await producer.start()
    # With exactly-once, classified records (and the DLQ copies) go through a transactional producer of their own,
    # whose id stays the same across restarts of this instance: a restart aborts what the dead one left open.
    transactional = (
        make_producer(kafka, client_id="classify-tx", transactional_id=f"{group}-{settings.instance_id}")
        if settings.exactly_once
        else None
    )
    if transactional is not None:
        await transactional.start()
    feedback_consumer = make_consumer(kafka, group=group, topics=[topics.received], client_id="classify")
    corrections_consumer = make_consumer(
        kafka, group=corrections_group, topics=[topics.corrections], client_id="classify-corrections"
    )
    await feedback_consumer.start()
    await corrections_consumer.start()
    loops = [
        ConsumerLoop(
            feedback_consumer,
            ClassifyHandler(classifier=classifier, producer=transactional or producer, topics=topics, group=group),
            group=group,
            max_records=settings.max_batch,
            min_poll_interval_ms=kafka.poll_interval_ms,
            transactional=transactional,
        ),
        ConsumerLoop(
            corrections_consumer,
            CorrectionsHandler(
                store=CorrectionStore(settings.model_dir),
                producer=producer,
                topics=topics,
                group=corrections_group,
                stages={s.id for s in journey.stages},
            ),
            group=corrections_group,
        ),
    ]
    for loop in loops:
        loop.start()
    app.state.classifier, app.state.producer, app.state.loops = classifier, producer, loops
    log.info("classify ready", extra={"backend": classifier.backend_name, "model_version": model.version})
    try:
        yield
    finally:
        for loop in loops:
            await loop.stop()
        await producer.stop()
        if transactional is not None:
            await transactional.stop()


_static = ClassifySettings()  # what the app's shape needs before start-up
app = FastAPI(title="Journeyline classify", version="0.1.0", lifespan=lifespan, **_static.docs_urls())
install_problem_handlers(app)
app.add_middleware(BodyLimit, default=_static.max_body_bytes)


async def _broker_ready() -> bool:
    producer = getattr(app.state, "producer", None)
    return producer is not None and await broker_reachable(producer)


async def _consumers_alive() -> bool:
    """Every loop runs and its last poll succeeded: a loop that keeps backing off makes classify not ready."""
    loops = getattr(app.state, "loops", [])
    return bool(loops) and all(loop.alive and loop.healthy for loop in loops)


app.include_router(
    ops_router({"broker": _broker_ready, "consumer": _consumers_alive}, metrics_token=_static.metrics_token)
)
app.include_router(router)
