"""Poison records of several kinds, produced straight onto every topic a consumer reads: each one goes to the
DLQ with its reason and source, and the consumers carry on with the good records around them."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from shared.cloudevents import CloudEvent, encode
from shared.kafka import make_producer
from shared.models import EventType, utcnow
from shared.settings import KafkaSettings
from tests.faults.stack import Stack, assert_stored_exactly_once, wait_until

pytestmark = pytest.mark.integration

Headers = list[tuple[str, bytes]]


def _feedback(external: str, **changes: Any) -> dict[str, Any]:
    now = utcnow().isoformat()
    data = {
        "id": str(uuid.uuid4()), "source": "faults", "channel": "chat", "kind": "feedback", "external_id": external,
        "occurred_at": now, "received_at": now, "customer": {"id": "CUS-1"},
        "text": "Charged twice for my bill this month", "scores": {}, "metadata": {},
    }  # fmt: skip
    data.update(changes)
    return data


def _classified(external: str, **changes: Any) -> dict[str, Any]:
    classification = {
        "stage": "pay", "confidence": 0.9, "method": "rule", "explanation": "test",
        "sentiment": {"score": -0.5, "label": "negative"}, "severity": "normal",
    }  # fmt: skip
    return _feedback(external, **{"classification": classification, **changes})


def _event(data: Any, kind: EventType, **attrs: Any) -> tuple[Headers, bytes]:
    event_id = data.get("id") if isinstance(data, dict) else str(uuid.uuid4())
    return encode(CloudEvent(id=attrs.get("id", event_id), source="/tests/faults", type=attrs.get("type", kind.value),
                             data=data, time=utcnow()))  # fmt: skip


def _with(headers: Headers, name: str, value: bytes) -> Headers:
    return [(k, v) for k, v in headers if k != name] + [(name, value)]


def poison_for_classify() -> list[tuple[str, Headers, bytes | None]]:
    good_headers, good_value = _event(_feedback("p"), EventType.feedback_received)
    return [
        ("garbage without headers", [], b"\x00\xff not a cloud event"),
        ("JSON without headers", [], b'{"text": "hello"}'),
        ("wrong ce_type", *_event(_feedback("t"), EventType.feedback_received, type="com.example.other")),
        ("classified type on the received topic", *_event(_classified("c"), EventType.feedback_classified)),
        ("unknown channel", *_event(_feedback("u", channel="pigeon"), EventType.feedback_received)),
        ("text over the limit", *_event(_feedback("l", text="x" * 20_000), EventType.feedback_received)),
        ("data is a list", *_event([1, 2, 3], EventType.feedback_received)),
        ("ce_id differs from data id", *_event(_feedback("d"), EventType.feedback_received, id="another-id")),
        ("value not JSON", good_headers, b'{"text": "trunc'),
        ("invalid UTF-8 value", good_headers, b'{"text": "\xff\xfe"}'),
        ("no value (tombstone)", good_headers, None),
        ("header not UTF-8", _with(good_headers, "ce_source", b"\xff\xfe"), good_value),
        ("bad specversion", _with(good_headers, "ce_specversion", b"0.3"), good_value),
        ("bad ce_time", _with(good_headers, "ce_time", b"yesterday"), good_value),
    ]


def poison_for_accountability() -> list[tuple[str, Headers, bytes | None]]:
    good_headers, good_value = _event(_classified("p"), EventType.feedback_classified)
    no_class = _feedback("n")
    return [
        ("garbage without headers", [], b"\x00\xff"),
        ("received type on the classified topic", *_event(_feedback("r"), EventType.feedback_received)),
        ("no classification", *_event(no_class, EventType.feedback_classified)),
        (
            "confidence 7",
            *_event(
                _classified("c", classification={**_classified("x")["classification"], "confidence": 7}),
                EventType.feedback_classified,
            ),
        ),  # fmt: skip
        ("data is null", *_event(None, EventType.feedback_classified)),
        ("value not JSON", good_headers, b"[[[["),
        ("invalid UTF-8 value", good_headers, b'{"id": "\xc0\xaf"}'),
        ("no value (tombstone)", good_headers, None),
        ("deep nesting", good_headers, b"[" * 5000 + b"]" * 5000),
        ("content type not JSON", _with(good_headers, "content-type", b"application/avro"), good_value),
    ]


def poison_for_corrections() -> list[tuple[str, Headers, bytes | None]]:
    correction = {"id": "x", "stage": "pay", "by": "tests", "at": utcnow().isoformat()}
    return [
        ("garbage without headers", [], b"\xff"),
        ("wrong type", *_event(correction, EventType.feedback_received)),
        ("unknown stage", *_event({**correction, "stage": "nowhere"}, EventType.feedback_corrected)),
        ("missing fields", *_event({"id": "x"}, EventType.feedback_corrected)),
        ("no value (tombstone)", _event(correction, EventType.feedback_corrected)[0], None),
    ]


async def _dlq(kafka: KafkaSettings, refs: dict[str, str]) -> list[dict[str, str]]:
    """The DLQ's records' headers, once every poison record in `refs` is there (and a second more)."""
    consumer = AIOKafkaConsumer(
        kafka.topics.dlq, bootstrap_servers=kafka.bootstrap_servers, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    found: list[dict[str, str]] = []
    try:
        async with asyncio.timeout(90):
            while not set(refs) <= {d.get("dlq_source") for d in found}:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        found.append({k: (v or b"").decode("utf-8", "replace") for k, v in record.headers or ()})
        await asyncio.sleep(1.0)  # nothing more arrives (a record sent to the DLQ twice would show here)
        for records in (await consumer.getmany(timeout_ms=500)).values():
            found += [{k: (v or b"").decode("utf-8", "replace") for k, v in r.headers or ()} for r in records]
    finally:
        await consumer.stop()
    return found


async def test_poison_on_every_consumed_topic_goes_to_the_dlq_and_the_consumers_carry_on(stack: Stack) -> None:
    kafka = stack.kafka
    topics = kafka.topics
    run = uuid.uuid4().hex[:6]
    sets = {
        topics.received: poison_for_classify(),
        topics.classified: poison_for_accountability(),
        topics.corrections: poison_for_corrections(),
    }
    good_ids: list[str] = []
    refs: dict[str, str] = {}
    producer = make_producer(kafka, client_id="poisoner")
    await producer.start()
    try:
        for round_ in range(2):  # good records before and after the poison, on the same partitions
            for i in range(10):
                data = _feedback(f"good-{run}-{round_}-{i}", customer={"id": f"CUS-{i}"})
                headers, value = _event(data, EventType.feedback_received)
                await producer.send_and_wait(topics.received, value=value, key=f"CUS-{i}".encode(), headers=headers)
                good_ids.append(data["id"])
                data = _classified(
                    f"direct-{run}-{round_}-{i}", text=f"NUL \x00 inside {i}", customer={"id": f"CUS-{i}"}
                )
                headers, value = _event(data, EventType.feedback_classified)
                await producer.send_and_wait(topics.classified, value=value, key=f"CUS-{i}".encode(), headers=headers)
                good_ids.append(data["id"])
            if round_ == 0:
                for topic, poison in sets.items():
                    for j, (name, headers, value) in enumerate(poison):
                        meta = await producer.send_and_wait(
                            topic, value=value, key=f"CUS-{j}".encode(), headers=headers
                        )
                        refs[f"{topic}[{meta.partition}]@{meta.offset}"] = name
    finally:
        await producer.stop()

    dead = [d for d in await _dlq(kafka, refs) if d.get("dlq_source") in refs]
    by_source = {d["dlq_source"]: d for d in dead}
    missing = {refs[r] for r in set(refs) - set(by_source)}
    assert not missing, f"not sent to the DLQ: {sorted(missing)}"
    assert len(dead) == len(refs), f"{len(dead)} DLQ records for {len(refs)} poison records"
    assert all(d["dlq_reason"] and d["dlq_group"] for d in dead)
    groups = {d["dlq_group"] for d in dead}
    assert groups == {topics.group("classify"), topics.group("accountability"), topics.group("classify-corrections")}

    stack.expected.update(good_ids)
    await asyncio.to_thread(assert_stored_exactly_once, stack.database_url, good_ids, expected=stack.expected)
    for service in stack.services.values():
        await asyncio.to_thread(
            wait_until,
            lambda s=service: httpx.get(s.url + "/readyz", timeout=5).status_code == 200,  # type: ignore[misc]
            timeout=10,
            what=f"{service.name} to stay ready",
        )
