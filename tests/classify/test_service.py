"""The classify service as a real process on the real broker: records in, classified records out; poison to
the DLQ with its reason while the good records after it still come through; corrections become training rows."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.cli.brokers import Broker
from shared.cloudevents import CloudEvent, decode, encode
from shared.kafka import header
from shared.models import EventType, utcnow
from shared.settings import KafkaSettings
from tests.support import ServiceProcess

pytestmark = pytest.mark.integration

GOOD = {
    "Still waiting for my refund, it's been a month": "pay",
    "Courier left the parcel in the rain, box soaked": "onboard",
    "On hold for 50 minutes and then the line went dead": "get_help",
}


def _event(text: str, **overrides: object) -> CloudEvent:
    event_id = str(uuid.uuid4())
    now = utcnow().isoformat()
    data = {"id": event_id, "source": "it", "channel": "social", "occurred_at": now, "received_at": now, "text": text}
    data.update(overrides)
    return CloudEvent(id=event_id, source="it", type=EventType.feedback_received.value, data=data)


@pytest.fixture(scope="module")
def map_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default map's model, trained once and kept as the service keeps it: each service below loads it
    (under a second) instead of training nine per-language models at start-up."""
    from services.classify.model_store import map_model
    from tests.classify.factories import journey

    path = tmp_path_factory.mktemp("classify-map-model")
    map_model(journey(), "tfidf", path)
    return path


@pytest.fixture
def classify(
    kafka: KafkaSettings, broker: Broker, topic_prefix: str, tmp_path: Path, map_model_dir: Path
) -> Iterator[ServiceProcess]:
    shutil.copytree(map_model_dir, tmp_path / "models")
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "JOURNEYLINE_TOPIC_PREFIX": topic_prefix,
        "CLASSIFY_MODEL_DIR": str(tmp_path / "models"),
        "JOURNEYLINE_ENV": "development",
    }
    service = ServiceProcess("classify", env, tmp_path)
    try:
        yield service.start(timeout=60)
    finally:
        service.stop()  # also when it never became ready: no process left behind


async def _read(kafka: KafkaSettings, topic: str, count: int, timeout: float = 45.0) -> list:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=f"it-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=1500,
    )
    await consumer.start()
    records: list = []
    try:
        async with asyncio.timeout(timeout):
            while len(records) < count:
                batches = await consumer.getmany(timeout_ms=500)
                for batch in batches.values():
                    records += batch
    except TimeoutError:
        pass
    finally:
        await consumer.stop()
    return records


async def test_records_in_classified_out_and_poison_to_the_dlq(classify: ServiceProcess, kafka: KafkaSettings) -> None:
    topics = kafka.topics
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")
    await producer.start()
    key = b"customer-42"  # one key: one partition, so the good records come strictly after the poison
    good_events = [_event(text) for text in GOOD]
    hinted = _event("whatever the text says", stage_hint="leave")
    try:
        ce_headers, _ = encode(_event("x"))
        await producer.send_and_wait(topics.received, value=b"{not json", key=key, headers=ce_headers)
        await producer.send_and_wait(topics.received, value=b'{"text": "no headers"}', key=key, headers=[])
        bad_headers, bad_value = encode(_event("bad channel", channel="pigeon"))
        await producer.send_and_wait(topics.received, value=bad_value, key=key, headers=bad_headers)
        for event in [*good_events, hinted]:
            headers, value = encode(event)
            await producer.send_and_wait(topics.received, value=value, key=key, headers=headers)
    finally:
        await producer.stop()

    classified = await _read(kafka, topics.classified, len(good_events) + 1)
    assert len(classified) == len(good_events) + 1
    by_id = {}
    for record in classified:
        event = decode(record.headers, record.value)
        assert event.type == EventType.feedback_classified.value
        assert record.key == key
        by_id[event.id] = event.data
    for event, expected in zip(good_events, GOOD.values(), strict=True):
        data = by_id[event.id]
        assert data["id"] == event.id and data["text"] == event.data["text"]
        assert data["classification"]["stage"] == expected
        assert data["classification"]["method"] == "model"
        assert data["classification"]["explanation"]
        assert data["classification"]["sentiment"]["label"] in {"negative", "neutral", "positive"}
    assert by_id[hinted.id]["classification"]["method"] == "hint"
    assert by_id[hinted.id]["classification"]["stage"] == "leave"

    dead = await _read(kafka, topics.dlq, 3)
    reasons = sorted(header(r, "dlq_reason") or "" for r in dead)
    assert reasons == ["invalid_feedback", "undecodable", "undecodable"]
    assert all(header(r, "dlq_error") and header(r, "dlq_group") == topics.group("classify") for r in dead)
    assert {r.value for r in dead} >= {b"{not json", b'{"text": "no headers"}'}

    with httpx.Client(base_url=classify.url, timeout=5) as client:
        assert client.get("/readyz").status_code == 200
        metrics = client.get("/metrics").text
    assert 'journeyline_classify_items_total{backend="tfidf",method="model",stage="pay"} 1.0' in metrics
    assert 'journeyline_classify_items_total{backend="tfidf",method="rule",stage="discover"} 0.0' in metrics
    assert 'reason="undecodable"' in metrics


async def test_corrections_are_stored_as_training_rows_and_the_try_it_api_answers(
    classify: ServiceProcess, kafka: KafkaSettings, tmp_path: Path
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")
    await producer.start()
    correction = {
        "id": str(uuid.uuid4()),
        "stage": "pay",
        "previous_stage": "use",
        "text": "the meter reading on my statement is wrong",
        "by": "agent-7",
        "at": utcnow().isoformat(),
    }
    try:
        headers, value = encode(
            CloudEvent(id=correction["id"], source="it", type=EventType.feedback_corrected.value, data=correction)
        )
        await producer.send_and_wait(kafka.topics.corrections, value=value, headers=headers)
        headers, value = encode(
            CloudEvent(
                id="bad", source="it", type=EventType.feedback_corrected.value, data={**correction, "stage": "moon"}
            )
        )
        await producer.send_and_wait(kafka.topics.corrections, value=value, headers=headers)
    finally:
        await producer.stop()
    store = tmp_path / "models" / "corrections.jsonl"
    for _ in range(150):
        if store.exists() and store.read_text().strip():
            break
        await asyncio.sleep(0.2)
    rows = [json.loads(line) for line in store.read_text().splitlines()]
    assert [(r["id"], r["stage"], r["text"]) for r in rows] == [(correction["id"], "pay", correction["text"])]
    dead = await _read(kafka, kafka.topics.dlq, 1)
    assert [header(r, "dlq_reason") for r in dead] == ["invalid_correction"]

    # A customer's erasure (from accountability) removes their items from the training rows.
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")
    await producer.start()
    try:
        erasure = {"customer_id": "CUS-1", "feedback_ids": [correction["id"]], "at": utcnow().isoformat()}
        headers, value = encode(
            CloudEvent(id="erase-1", source="it", type=EventType.customer_erased.value, data=erasure)
        )
        await producer.send_and_wait(kafka.topics.corrections, value=value, headers=headers)
    finally:
        await producer.stop()
    for _ in range(150):
        if correction["id"] not in store.read_text():
            break
        await asyncio.sleep(0.2)
    assert correction["id"] not in store.read_text()

    _try_it(classify)


def _try_it(classify: ServiceProcess) -> None:
    """`POST /v1/classify` classifies a text as the pipeline would, without Kafka."""
    with httpx.Client(base_url=classify.url, timeout=5) as client:
        reply = client.post("/v1/classify", json={"text": "Your helpline kept me on hold for an hour, useless"})
        assert reply.status_code == 200
        body = reply.json()
        assert body["stage"] == "get_help" and body["method"] == "model" and body["explanation"]
        ruled = client.post("/v1/classify", json={"text": "x", "metadata": {"disposition": "CANCEL_REQUEST"}})
        assert ruled.json()["stage"] == "leave" and ruled.json()["method"] == "rule"
        bad = client.post("/v1/classify", json={"text": ""})
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
        model = client.get("/v1/model").json()
        assert model["source"] == "journey-map" and model["version"].startswith("map-tfidf-")
        assert [v["version"] for v in model["versions"]] == [model["version"]]
    started = classify.log_path.read_text(errors="replace")
    assert "loaded the journey map's model" in started and "training from the journey map" not in started
    assert body["sentiment"]["label"] == "negative" and "'useless'" in body["sentiment"]["explanation"]
